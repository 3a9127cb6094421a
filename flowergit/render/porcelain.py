"""Machine-readable lists for scripts: ``--porcelain`` (stable TSV) and ``--format`` (git-style atoms).

``--porcelain`` (version 1): one record per line, the command's documented fields in a fixed
order, separated by tabs; no header, no colour, nothing truncated. Empty or missing values are
empty strings, booleans ``true``/``false``, lists comma-joined. Backslash, tab, newline, carriage
return and other control characters in a value are written as ``\\\\``, ``\\t``, ``\\n``, ``\\r``,
``\\xNN``, so a record is always exactly one line. New fields are only ever appended.

``--format FMT``: ``%(field)`` is replaced by a field (``%(a.b)`` reaches into an object),
``%%`` is a percent sign and ``%xx`` (two hex digits) is that byte, as in ``git for-each-ref``:
``--format='%(id)%09%(status)'``. Values are escaped like porcelain values.
"""

from __future__ import annotations

import sys

from flowergit.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

PORCELAIN_VERSION = 1

_SIMPLE = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_PATTERNS = {"ctrl": "[\x00-\x1f\x7f\\\\]", "atom": r"%\(([A-Za-z0-9_.-]+)\)|%%|%([0-9a-fA-F]{2})|%"}
_compiled: dict[str, Any] = {}


def _pattern(name: str) -> Any:
    """A pattern compiled on first use: `re` loads only for --porcelain and --format, not for
    every command that imports this module for its JSON."""
    got = _compiled.get(name)
    if got is None:
        import re

        got = _compiled[name] = re.compile(_PATTERNS[name])
    return got


def value_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, float):
        v = round(v, 3)
    if isinstance(v, (list, tuple)):
        return ",".join(value_text(x) for x in v)
    if isinstance(v, dict):
        from flowergit import fastjson

        return fastjson.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    s = str(v)
    return str(_pattern("ctrl").sub(lambda m: _SIMPLE.get(m.group(), f"\\x{ord(m.group()):02x}"), s))


def lookup(item: dict[str, Any], path: str) -> Any:
    cur: Any = item
    for part in path.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.isdigit():
            i = int(part)
            cur = cur[i] if i < len(cur) else None
        else:
            return None
    return cur


def porcelain(items: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    return "".join("\t".join(value_text(lookup(it, f)) for f in fields) + "\n" for it in items)


def check_format(fmt: str, known: Sequence[str] | None) -> None:
    for m in _pattern("atom").finditer(fmt):
        if m.group() == "%":
            raise UsageError(f"--format: a lone '%' in {fmt!r}",
                             "write %% for a percent sign, %(field) for a field, %09 for a tab")
        name = m.group(1)
        if name and known is not None and name.split(".")[0] not in known:
            raise UsageError(f"--format: unknown field %({name})", "fields: " + ", ".join(known))


def format_items(fmt: str, items: Sequence[dict[str, Any]], known: Sequence[str] | None = None) -> str:
    check_format(fmt, known)

    def one(item: dict[str, Any]) -> str:
        def sub(m: Any) -> str:
            if m.group(1):
                return value_text(lookup(item, m.group(1)))
            if m.group(2):
                return chr(int(m.group(2), 16))
            return "%"
        return str(_pattern("atom").sub(sub, fmt))

    return "".join(one(it) + "\n" for it in items)


def emit_list(items: Any, *, json: bool, porcelain_: bool, fmt: str | None, fields: Sequence[str],
              human: Callable[[Any], None], known: Sequence[str] | None = None) -> int:
    """Print a list as JSON, porcelain, a --format template or the human view; exit 0.

    ``fields`` is the porcelain column order; ``known`` the fields --format may name (default:
    the union of the items' keys and ``fields``)."""
    from flowergit.render import output

    if sum(map(bool, (json, porcelain_, fmt is not None))) > 1:
        raise UsageError("--json, --porcelain and --format do not go together", "choose one")
    if hasattr(items, "value") and not isinstance(items, (list, tuple)):
        if json:
            output.emit_json(items)
            return 0
        items = items.value()
    if json:
        output.emit_json(items)
    elif porcelain_:
        sys.stdout.write(porcelain(items, fields))
    elif fmt is not None:
        names = list(known) if known is not None else sorted(
            {k for it in items for k in it} | set(fields))
        sys.stdout.write(format_items(fmt, items, names))
    else:
        human(items)
    return 0
