"""Briefs whose commands wait for trust: ``tick`` does not dispatch a brief whose ``run`` or
``agent`` were not written on this machine; it holds it in a machine-local file and queues it
again once ``git flower trust brief N`` approves it (the same test ``dispatch`` makes, made
before anything is claimed, so the brief is not marked blocked).
"""

from __future__ import annotations

import time

from flowergit.errors import NotFound, UsageError
from flowergit.ops.context import Ctx
from flowergit.state import signals as sigstate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def brief_status(ctx: Ctx, brief: Any) -> str | None:
    """Brief ``brief``'s status (None: no such brief, or not a number)."""
    try:
        return ctx.briefs().get(int(brief)).status
    except (NotFound, ValueError, TypeError):
        return None


def wait_path(ctx: Ctx) -> str:
    from flowergit.state.brieftrust import WAIT_FILE

    return str(ctx.repo.state_path(WAIT_FILE))


def untrusted(ctx: Ctx, brief: int, agent: Any) -> str | None:
    """Why `dispatch` would refuse brief ``brief``'s commands here (None: it would not): the
    same test as dispatch, made before claiming anything, so the brief is not marked blocked."""
    from flowergit.state import brieftrust

    try:
        b = ctx.briefs().get(brief)
    except (NotFound, UsageError):
        return None  # dispatch says what is wrong
    if not (b.run or (b.agent and not agent)):
        return None
    meta = {"run": b.run, "agent": b.agent}
    if brieftrust.is_trusted(ctx.repo.common_dir, meta):
        return None
    return "its " + " and ".join(k for k in ("run", "agent") if meta.get(k)) + \
        " were not written on this machine"


def hold_for_trust(ctx: Ctx, briefs: dict[int, str | None]) -> None:
    from flowergit.state import brieftrust

    path = wait_path(ctx)
    have = brieftrust.read_waiting(path)
    for n, agent in briefs.items():
        b = ctx.briefs().get(n)
        found = brieftrust.fields({"run": b.run, "agent": b.agent}) or {}
        old = have.get(str(n)) or {}
        have[str(n)] = {"digest": brieftrust.digest(found), "fields": sorted(found), "agent": agent,
                        "since": old.get("since") or time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                   time.gmtime())}
    brieftrust.write_waiting(path, have)


def release_trusted(ctx: Ctx, by: str, actions: list[str]) -> list[int]:
    """Briefs held back for trust: once approved here (`git flower trust brief N`) and still
    planned, they are queued for auto-dispatch again; dropped when no longer planned."""
    from flowergit.state import brieftrust

    path = wait_path(ctx)
    have = brieftrust.read_waiting(path)
    if not have:
        return []
    keep: dict[str, dict[str, Any]] = {}
    requeued: list[int] = []
    for key, ent in sorted(have.items()):
        n = int(key) if key.isdigit() else 0
        if brief_status(ctx, n) != "planned":
            continue
        agent = ent.get("agent") or None
        if untrusted(ctx, n, agent) is not None:
            keep[key] = ent
            continue
        again = sigstate.emit(ctx.repo, "auto_dispatch", brief=n,
                              data={"agent": agent} if agent else {}, by=by)
        requeued.append(n)
        actions.append(f"brief {n}: its commands are trusted now; queued for dispatch "
                       f"({again['id']})")
    brieftrust.write_waiting(path, keep)
    return requeued
