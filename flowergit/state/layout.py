"""Where state lives: every ref name git flower reads or writes (DESIGN.md, "Where state lives")."""

from __future__ import annotations

BRIEFS_BRANCH = "flower/briefs"
BRIEFS_REF = "refs/heads/" + BRIEFS_BRANCH
BRIEFS_TREE = BRIEFS_REF + "^{tree}"
NOTES_REF = "refs/notes/flower"
FLOWER_REFS = "refs/flower/"


def brief_path(brief: int) -> str:
    """``briefs/0200/246.md``: 100 briefs to a shard keeps every tree small."""
    return f"briefs/{brief // 100 * 100:04d}/{brief}.md"


def brief_at(path: str) -> int | None:
    """The id whose :func:`brief_path` ``path`` is, or None (a file at no brief's own path:
    another name, the wrong shard, a leading zero). String operations only: `doctor` and a
    list cache rebuild ask it of every file on the branch."""
    name = path[path.rfind("/") + 1:-3]
    if path[-3:] != ".md" or not (name.isascii() and name.isdigit()) or len(name) > 9:
        return None
    bid = int(name)
    return bid if bid > 0 and brief_path(bid) == path else None


def handoff_path(lane: str) -> str:
    return f"handoff/{lane}.md"


def dispatch_ref(brief: int, attempt: int) -> str:
    return f"refs/flower/dispatch/{brief}/{attempt}"


def signal_ref(sig: str) -> str:
    return f"refs/flower/signals/{sig}"


def claim_ref(sig: str) -> str:
    return f"refs/flower/claims/{sig}"


def daemon_ref(daemon: str) -> str:
    return f"refs/flower/daemons/{daemon}"


def baton_ref(lane: str) -> str:
    return f"refs/flower/baton/{lane}"


def recovery_ref(op: str) -> str:
    return f"refs/flower/recovery/{op}"


def id_ref(brief: int) -> str:
    return f"refs/flower/ids/{brief}"
