"""``json.loads`` and ``json.dumps`` through CPython's own C accelerator, without ``import json``.

``import json`` loads ``json.decoder`` and ``json.encoder``, which import ``re`` for the
pure-Python fallbacks they never use when ``_json`` is there; ``re`` brings ``enum``. On the
machines git flower is measured on that is 8-10 ms, more than a whole git process, paid by every
command that reads a cache or prints ``--json`` before it can start its first long git step.
The C scanner and encoder behind ``json`` are used here directly, exactly as
``json.JSONDecoder.raw_decode`` and ``json.JSONEncoder.encode`` use them, so the results are the
same (a test compares both on generated documents). Anything this module does not cover (an
``indent``, a Python without ``_json``) and every decoding error go to ``json`` itself, so errors
are ``json.JSONDecodeError`` (a ``ValueError``) with json's own messages.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

try:
    import _json

    _scanner_new = _json.make_scanner
    _encoder_new = _json.make_encoder
    _ESCAPE_ASCII = _json.encode_basestring_ascii
    _ESCAPE = _json.encode_basestring
except (ImportError, AttributeError):  # pragma: no cover - every CPython has them
    _json = None  # type: ignore[assignment]

_WS = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """What ``_json.make_scanner`` reads from a ``json.JSONDecoder`` (its defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scan: Callable[[str, int], tuple[Any, int]] | None = None


def loads(s: str | bytes | bytearray) -> Any:
    """``json.loads(s)``."""
    global _scan
    if _json is None:
        return _stdlib().loads(s)
    if not isinstance(s, str):
        head = bytes(s[:4])
        if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or b"\0" in head:
            return _stdlib().loads(s)  # a BOM or UTF-16/32: json's own detection
        s = bytes(s).decode("utf-8", "surrogatepass")
    if _scan is None:
        _scan = _scanner_new(_Context())  # type: ignore[arg-type]
    start = len(s) - len(s.lstrip(_WS))
    try:
        obj, end = _scan(s, start)
    except (StopIteration, SystemError):
        # "Expecting value" at the start; an error further in: the C scanner raises json's own
        # JSONDecodeError only once json.decoder is imported, else a bare SystemError
        return _stdlib().loads(s)
    if end != len(s) and s[end:].strip(_WS):
        return _stdlib().loads(s)  # raises json's "Extra data"
    return obj


def load(f: Any) -> Any:
    """``json.load(f)``."""
    return loads(f.read())


def _unserialisable(o: object) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj: Any, *, ensure_ascii: bool = True, sort_keys: bool = False,
          separators: tuple[str, str] | None = None,
          default: Callable[[Any], Any] | None = None, indent: int | str | None = None) -> str:
    """``json.dumps`` with these keyword arguments (the others at json's defaults)."""
    if _json is None or indent is not None:
        return _stdlib().dumps(obj, ensure_ascii=ensure_ascii, sort_keys=sort_keys,  # type: ignore[no-any-return]
                               separators=separators, default=default, indent=indent)
    escape = _ESCAPE_ASCII if ensure_ascii else _ESCAPE
    if isinstance(obj, str):
        return escape(obj)
    item_sep, key_sep = separators if separators is not None else (", ", ": ")
    encode = _encoder_new({}, default or _unserialisable, escape, None, key_sep, item_sep,
                          sort_keys, False, True)
    return "".join(encode(obj, 0))


def _stdlib() -> Any:
    import json

    return json


def __getattr__(name: str) -> Any:
    if name == "JSONDecodeError":
        return _stdlib().JSONDecodeError
    raise AttributeError(name)
