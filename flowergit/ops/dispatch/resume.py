"""``git flower dispatch N --resume``: continue an interrupted (lost) or stopped attempt in its
own worktree, with the start spec this machine wrote for it."""

from __future__ import annotations

import os
import time

from flowergit import fastjson
from flowergit.errors import Conflict, NotFound
from flowergit.ops.dispatch.liveness import view_state
from flowergit.ops.dispatch.packet import RESUMED
from flowergit.ops.dispatch.paths import (
    log_file,
    mark_ready,
    now_iso,
    packet_file,
    spec_path,
    write_file,
)
from flowergit.ops.dispatch.scheduler import dispatcher_identity, schedule
from flowergit.state.dispatches import DispatchStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowergit.ops.context import Ctx


def resume_dispatch(ctx: Ctx, brief: int, *, use_tmux: bool = False) -> dict[str, Any]:
    """Continue an interrupted (lost) or stopped attempt in its own worktree."""
    repo = ctx.repo
    store = DispatchStore(repo)
    head = store.latest(brief)
    if head is None:
        raise NotFound(f"brief {brief} has never been dispatched", f"`git flower dispatch {brief}`")
    rec = head.record
    did = str(rec["id"])
    st = view_state(rec)
    if st not in ("lost", "stopped"):
        raise Conflict(f"dispatch {did} is {st}; only a lost or stopped dispatch can be resumed",
                       f"`git flower dispatch {brief}` starts a new attempt" if st not in
                       ("queued", "running", "waiting", "preparing") else f"`git flower wait {brief}`")
    wt = str(rec.get("worktree") or "")
    if not wt or not os.path.isdir(wt):
        raise NotFound(f"the worktree of dispatch {did} is missing ({wt})",
                       f"`git flower dispatch {brief}` re-creates it on the same branch")
    spec_file = spec_path(repo, did)
    try:
        with open(spec_file, encoding="utf-8") as f:
            spec = fastjson.load(f)
    except (OSError, ValueError):
        raise NotFound(f"dispatch {did} was not started on this machine; nothing to resume here",
                       f"`git flower dispatch {brief}` starts a new attempt") from None
    if use_tmux != bool(spec.get("tmux")):
        spec["tmux"] = bool(use_tmux)
        write_file(spec_file, fastjson.dumps(spec, ensure_ascii=False))
    packet = str(spec.get("packet") or packet_file(repo, did))
    if os.path.exists(packet):
        with open(packet, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        if "## Resumed" not in text:
            write_file(packet, text.rstrip("\n") + "\n\n" + RESUMED)
    from flowergit.procs.spawn import log_line

    log_line(str(spec.get("log") or log_file(repo, did)), f"resuming dispatch {did}")

    def change(r: dict[str, Any]) -> dict[str, Any] | None:
        if view_state(r) not in ("lost", "stopped"):
            raise Conflict(f"dispatch {did} changed while resuming it ({r.get('state')})")
        kept = {k: v for k, v in r.items() if k not in ("outcome", "error", "waiting")}
        return {**kept, "state": "preparing", "resumed": int(r.get("resumed") or 0) + 1,
                "queued_at": now_iso(), "queued_ns": time.time_ns(), "ended_at": None,
                "exit_code": None, "signal": None, "tmux": bool(use_tmux),
                "by_proc": dispatcher_identity()}

    mark_ready(repo, did)
    store.update(brief, int(rec["attempt"]), change, "resume")
    sched = schedule(ctx, mine=(brief, int(rec["attempt"])))
    out = dict(store.get(brief, int(rec["attempt"])).record)  # type: ignore[union-attr]
    out["queue"] = sched["queue"]
    out["cap"] = sched["cap"]
    return out

