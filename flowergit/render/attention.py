"""What needs the user, first: the lines `status`, `watch` and `git flower` alone lead with.

Each item of ``status["attention"]`` (:func:`flowergit.ops.status.attention`) is one line: what
waits, and the command that acts on it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# the style of an item's line on a terminal, by kind
STYLE = {"ready": "bold green", "conflict": "bold red", "waiting": "bold magenta", "lost": "bold red", "failed": "red",
         "timed-out": "red", "no-changes": "yellow", "stopped": "magenta", "trust": "yellow",
         "queue": "cyan", "auto": "cyan", "daemon": "red"}


def items(s: dict[str, Any]) -> list[dict[str, Any]]:
    got = s.get("attention")
    return [a for a in got if isinstance(a, dict)] if isinstance(got, list) else []


def lines(s: dict[str, Any]) -> list[str]:
    """``needs you:`` and one line per item (``1 ready to merge: 1  → git flower merge 1``), or
    ``nothing needs you`` when all is quiet."""
    got = items(s)
    if not got:
        return ["nothing needs you"]
    width = max(len(str(a.get("text", ""))) for a in got)
    width = min(width, 48)
    return ["needs you:"] + [f"  {str(a.get('text', '')):<{width}}  → {a.get('command', '')}"
                             for a in got]
