"""Plain text for pipes and logs: control characters escaped, nothing truncated."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# C0/C1 controls (tab kept), DEL, and bidi overrides that can disguise text on a terminal:
# [\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069], each with its escape
# (a translation table: no `re` for every command that prints)
_UNSAFE = (*range(0x00, 0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0), 0x200E, 0x200F,
           *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ESCAPES = {c: "\\n" if c == 0x0A else f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
            for c in _UNSAFE}


def escape(text: object) -> str:
    """Make data safe to print on a terminal: escape control and bidi characters."""
    s = "" if text is None else text if type(text) is str else str(text)
    if s.isprintable():  # no control, format (bidi), separator or surrogate character: as is
        return s
    s = s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return s.translate(_ESCAPES)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns aligned with two spaces; the last column is never padded or cut."""
    lines = [list(headers), *([escape(c) for c in r] for r in rows)]
    widths = [max(map(len, col)) for col in zip(*lines)]
    # one format per line, not a pad per cell: `ps --all` prints a thousand rows
    pattern = "".join(f"{{:<{w}}}  " for w in widths[:-1]) + "{}"
    return "\n".join(pattern.format(*r).rstrip() for r in lines) + "\n"


def human_duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h07m``, ``3d04h``."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
