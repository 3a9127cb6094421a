"""``git flower merge`` without a brief: every finished dispatch, one merge at a time, in the
order they finished; a refused or red one is reported and the queue goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flowergit.errors import Conflict, NotFound, TestsFailed
from flowergit.ops.context import Ctx
from flowergit.ops.dispatch.outcome import MERGEABLE
from flowergit.ops.merge.gate import merge
from flowergit.ops.merge.plan import FINISHED
from flowergit.ops.pending import refuse_if_pending
from flowergit.state.dispatches import DispatchStore


def finished_queue(ctx: Ctx) -> list[int]:
    """Briefs whose latest dispatch exited 0 and is not merged, in the order they finished."""
    return finished_of([h.record for h in DispatchStore(ctx.repo).all()])


def finished_of(records: Iterable[Mapping[str, Any]]) -> list[int]:
    """:func:`finished_queue` of records already read (one snapshot of the fleet)."""
    latest: dict[int, Mapping[str, Any]] = {}
    for r in records:
        b = int(r.get("brief", 0))
        if b not in latest or int(r.get("attempt", 0)) > int(latest[b].get("attempt", 0)):
            latest[b] = r
    done = [r for r in latest.values() if r.get("state") == FINISHED and r.get("exit_code") == 0
            and r.get("outcome") in (None, *MERGEABLE)]
    done.sort(key=lambda r: (str(r.get("ended_at") or ""), int(r.get("brief", 0))))
    return [int(r["brief"]) for r in done]


def merge_queue(ctx: Ctx, *, into: str | None = None, no_test: bool = False,
                dry_run: bool = False, progress: Callable[[str], None] | None = None,
                on_suite: Callable[[float, float | None, str], None] | None = None
                ) -> list[dict[str, Any]]:
    refuse_if_pending(ctx)
    out = []
    for b in finished_queue(ctx):
        try:
            r = merge(ctx, b, into=into, no_test=no_test, dry_run=dry_run, progress=progress,
                      on_suite=on_suite)
        except (Conflict, TestsFailed, NotFound) as e:
            r = {"brief": b, "status": "red" if isinstance(e, TestsFailed) else "refused",
                 "code": e.code, "message": e.message, "hint": e.hint}
        out.append(r)
        if progress:
            progress(f"brief {b}: {r['status']}" + (f" — {r['message']}" if "message" in r else ""))
    return out
