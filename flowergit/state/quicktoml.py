"""The fast engine of :mod:`flowergit.state.tomlcodec`: a reader for the plain TOML git flower
itself writes in brief front matter, so that reading
one brief does not load :mod:`tomllib` (with `typing`, `string`, `datetime` and a dozen
regular expressions compiled at import: ~8 ms, a quarter of `brief show` and a tenth of a
dispatch).

It takes only ``key = value`` lines with bare keys, values that are basic strings, decimal
integers, booleans, UTC datetimes written ``YYYY-MM-DDTHH:MM:SSZ``, and arrays of those (over
several lines too, as tomli-w writes them); blank lines and comments. Anything else — a table,
a dotted or quoted key, a literal or multi-line string, a float, an inline table, an odd
escape, a carriage return, a duplicate key — makes :func:`loads` return None, and the codec
parses with :mod:`tomllib`. Where it
answers, the answer is the one tomllib gives (tests/test_core_units.py checks this on generated
documents and on arbitrary text).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ESC = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
_DIGITS = frozenset("0123456789")


class _Decline(Exception):
    """Not in the subset: let tomllib decide."""


def loads(text: str, datetimes: Callable[[], Any]) -> dict[str, Any] | None:
    """The document as tomllib would parse it, or None when it is not in the subset;
    ``datetimes()`` gives the module whose ``datetime`` and ``timezone`` build datetimes."""
    if "\r" in text:
        return None
    out: dict[str, Any] = {}
    n = len(text)
    i = 0
    try:
        while i < n:
            i = _ws(text, i)
            if i < n and text[i] == "#":
                i = _comment(text, i)
            if i < n and text[i] == "\n":
                i += 1
                continue
            if i >= n:
                break
            j = i
            while j < n and text[j] in _BARE:
                j += 1
            key = text[i:j]
            if not key:
                return None
            j = _ws(text, j)
            if j >= n or text[j] != "=":
                return None
            value, j = _value(text, _ws(text, j + 1), 0, datetimes)
            j = _ws(text, j)
            if j < n and text[j] == "#":
                j = _comment(text, j)
            if j < n and text[j] != "\n":
                return None
            if key in out:
                return None  # tomllib refuses a duplicate key
            out[key] = value
            i = j
    except _Decline:
        return None
    return out


def _ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in " \t":
        i += 1
    return i


def _comment(s: str, i: int) -> int:
    """Skip the comment at ``i`` (without control characters) up to its newline."""
    j = i + 1
    while j < len(s) and s[j] != "\n":
        ch = s[j]
        if (ch < " " and ch != "\t") or ch == "\x7f":
            raise _Decline
        j += 1
    return j


def _array_ws(s: str, i: int) -> int:
    """Inside an array: whitespace, newlines and comments."""
    while i < len(s):
        ch = s[i]
        if ch in " \t\n":
            i += 1
        elif ch == "#":
            i = _comment(s, i)
        else:
            break
    return i


def _value(s: str, i: int, depth: int, datetimes: Callable[[], Any]) -> tuple[Any, int]:
    if i >= len(s):
        raise _Decline
    ch = s[i]
    if ch == '"':
        return _string(s, i)
    if ch == "[":
        return _array(s, i, depth, datetimes)
    if s.startswith("true", i) and not _word_goes_on(s, i + 4):
        return True, i + 4
    if s.startswith("false", i) and not _word_goes_on(s, i + 5):
        return False, i + 5
    j = i + 1 if ch in "+-" else i
    k = j
    while k < len(s) and s[k] in _DIGITS:
        k += 1
    if k == j:
        raise _Decline
    if k - j == 4 and ch not in "+-" and k < len(s) and s[k] == "-":
        return _datetime(s, i, datetimes)
    if _word_goes_on(s, k) or (s[j] == "0" and k - j > 1):
        raise _Decline  # 1_000, 0x1f, 1.5, 1e3, 012 ...: tomllib's to judge
    return int(s[i:k]), k


def _word_goes_on(s: str, i: int) -> bool:
    return i < len(s) and s[i] not in " \t\n,]#"


def _string(s: str, i: int) -> tuple[str, int]:
    if s.startswith('"""', i):
        raise _Decline
    parts: list[str] = []
    j = i + 1
    while True:
        if j >= len(s):
            raise _Decline
        ch = s[j]
        if ch == '"':
            return "".join(parts), j + 1
        if ch == "\\":
            nxt = s[j + 1:j + 2]
            if nxt in _ESC:
                parts.append(_ESC[nxt])
                j += 2
                continue
            if nxt in ("u", "U"):
                n = 4 if nxt == "u" else 8
                hexa = s[j + 2:j + 2 + n]
                if len(hexa) != n or not all(c in "0123456789abcdefABCDEF" for c in hexa):
                    raise _Decline
                code = int(hexa, 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise _Decline
                parts.append(chr(code))
                j += 2 + n
                continue
            raise _Decline
        if (ch < " " and ch != "\t") or ch == "\x7f":
            raise _Decline
        parts.append(ch)
        j += 1


def _array(s: str, i: int, depth: int, datetimes: Callable[[], Any]) -> tuple[list[Any], int]:
    if depth > 8:
        raise _Decline
    out: list[Any] = []
    j = _array_ws(s, i + 1)
    while True:
        if j >= len(s):
            raise _Decline
        if s[j] == "]":
            return out, j + 1
        value, j = _value(s, j, depth + 1, datetimes)
        out.append(value)
        j = _array_ws(s, j)
        if j < len(s) and s[j] == ",":
            j = _array_ws(s, j + 1)
        elif j >= len(s) or s[j] != "]":
            raise _Decline


def _datetime(s: str, i: int, datetimes: Callable[[], Any]) -> tuple[Any, int]:
    """``YYYY-MM-DDTHH:MM:SSZ`` only (what git flower writes), as tomllib returns it."""
    text = s[i:i + 20]
    if (len(text) != 20 or text[4] != "-" or text[7] != "-" or text[10] != "T"
            or text[13] != ":" or text[16] != ":" or text[19] != "Z"
            or not all(text[k] in _DIGITS for k in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18))
            or _word_goes_on(s, i + 20)):
        raise _Decline
    _dt = datetimes()
    try:
        value = _dt.datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                             int(text[14:16]), int(text[17:19]), tzinfo=_dt.timezone.utc)
    except ValueError:
        raise _Decline from None  # 2026-02-30 and the like: tomllib's error to give
    return value, i + 20
