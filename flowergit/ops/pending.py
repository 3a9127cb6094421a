"""Merges in flight or interrupted: what holds new work back until ``git flower recover``.

Each merge journals itself (``$common/flower/journal/<op>.json``) while it runs. A journal whose
owner is gone is an interrupted merge: every mutating command refuses to start until it is
recovered. The merge gate, dispatch, tick and sync ask here; ``recover`` finds its work here.
"""

from __future__ import annotations

import os

from flowergit.errors import Conflict
from flowergit.ops.context import Ctx
from flowergit.state import journal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowergit.state.schema import JournalEntry


def _owner_alive(j: JournalEntry) -> bool:
    owner = j.get("owner")
    if not isinstance(owner, dict) or owner.get("pid") == os.getpid():
        return False
    from flowergit.procs import identity  # psutil: only when a journal is there to judge

    return identity.is_alive(owner) is True


def interrupted(ctx: Ctx) -> list[JournalEntry]:
    """Journals whose merge is not running any more (pending recovery)."""
    return [j for j in journal.pending(ctx.repo) if not _owner_alive(j)]


def refuse_if_pending(ctx: Ctx, *, beside_merge: bool = False) -> None:
    """Every mutating command calls this first: new work waits until recovery is done.

    A merge still running (its owner alive) blocks other merges; commands that may run beside
    one (dispatch, tick, sync) pass ``beside_merge=True`` and refuse only an interrupted one."""
    repo = ctx.repo
    if not os.path.isdir(journal.directory(repo)):
        return
    pend = interrupted(ctx)
    if pend:
        j = pend[0]
        raise Conflict(f"a merge of brief {j.get('brief')} into {j.get('into')} was interrupted "
                       f"(op {j.get('op')}); nothing new starts until it is recovered",
                       "run `git flower recover`", data={"pending": [p.get("op") for p in pend]})
    live: list[JournalEntry] = [] if beside_merge else [j for j in journal.pending(repo) if _owner_alive(j)]
    if live:
        j = live[0]
        owner = j.get("owner")
        raise Conflict(f"a merge of brief {j.get('brief')} into {j.get('into')} is in progress "
                       f"(pid {owner['pid'] if owner else '?'})",
                       "wait for it to finish, then try again")


__all__ = ["interrupted", "refuse_if_pending"]
