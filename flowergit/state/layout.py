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
