"""`git flower tick` (one orchestrator iteration) and `git flower run` (tick in a loop while
holding the baton, beating as it goes).

A tick, in order:

1. **fence**: a daemon that lost the baton stops here (exit 4); one that does not hold it while
   another live daemon does is refused (exit 4) — one orchestrator per lane;
2. **tidy signals**: expired signals, ``auto_dispatch`` for briefs no longer planned, and
   ``reset``/``successor_ready`` of hand-offs that are over are completed as moot; a claim whose
   claimer is gone is completed as moot, and an ``auto_dispatch`` one re-queued as a fresh
   signal, so no brief is lost;
3. **reap and schedule**: ``dispatch_done`` signals of finished workers are consumed and
   reported; queued dispatches start while fewer than ``max_parallel`` agents run;
4. **dispatch**: ``auto_dispatch`` signals are claimed (the claim carries the baton fence) and
   their briefs dispatched while there is room under the cap;
5. **merge** (only with ``[merge] auto = true``): finished briefs go through the merge gate,
   whose target update is fenced by the baton.
"""

from __future__ import annotations

import os
import sys
import time

from flowergit.errors import Conflict, FlowerError, NotFound, UsageError
from flowergit.ops.context import Ctx
from flowergit.ops.continuity.trustwait import (
    brief_status,
    hold_for_trust,
    release_trusted,
    untrusted,
)
from flowergit.state import baton as bstate
from flowergit.state import daemons as dstate
from flowergit.state import signals as sigstate
from flowergit.state.daemons import DaemonStore, caller

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

LIVE = ("preparing", "queued", "running", "waiting")
TICK_KINDS = ("auto_dispatch", "dispatch_done")  # the signal kinds a tick claims itself


def _by(me: str | None) -> str:
    return f"daemon {me}" if me else sigstate.default_by()


def _guard(ctx: Ctx, lane: str, me: str | None) -> dict[str, Any]:
    """Who may tick: the holder, or anyone when no live daemon holds the lane."""
    head = bstate.read(ctx.repo, lane)
    holder = bstate.holder_of(head)
    fence = bstate.fence_ops(ctx, lane) if me else []  # raises "lost the baton"
    if holder is not None and holder != me:
        from flowergit.ops.continuity.baton import held_by_other, judge_holder

        judged = judge_holder(ctx, head.record)  # type: ignore[union-attr]
        if not dstate.gone(judged):
            err = held_by_other(lane, head, judged)  # type: ignore[arg-type]
            raise Conflict(err.message + "; only the holder ticks this lane",
                           "run the tick as the holder (--daemon ID), or wait for it", data=err.data)
    return {"fence": fence, "epoch": head.record.get("epoch") if head else 0, "holder": holder}


def _live_dispatches(ctx: Ctx) -> tuple[int, set[int]]:
    from flowergit.ops.dispatch.liveness import view_state
    from flowergit.state.dispatches import DispatchStore

    live: set[int] = set()
    for h in DispatchStore(ctx.repo).all():
        if view_state(h.record) in LIVE:
            live.add(int(h.record.get("brief", 0)))
    return len(live), live


def _brief_statuses(ctx: Ctx, briefs: Any) -> dict[int, str | None]:
    """The status of each brief in ``briefs`` (None: no such brief), from the list cache's
    records: one read of the cache when it is current, the cost of the change otherwise —
    whatever the number of signals, no git process and no TOML parse per brief. A brief whose
    file does not parse is left out, to be read on its own and fail as a single read would."""
    ids: list[int] = []
    for b in briefs:
        try:
            n = int(b)
        except (ValueError, TypeError):
            continue
        if n > 0:
            ids.append(n)
    out: dict[int, str | None] = {}
    if not ids:
        return out
    have = {int(r["id"]): str(r["status"]) for r in ctx.briefs().all(ctx.warn)}
    for n in ids:
        st = have.get(n)
        if st != "broken":
            out[n] = st
    return out


class _TidyReads:
    """What tidying reads, once per tick: brief statuses for every signal from the list cache, each
    lane's baton and each claimer's liveness once, not once per signal."""

    def __init__(self, ctx: Ctx, sigs: list[dict[str, Any]]) -> None:
        self.ctx = ctx
        self.status = _brief_statuses(ctx, [s.get("brief") for s in sigs
                                            if s.get("kind") == "auto_dispatch"])
        self.batons: dict[str, Any] = {}

    def brief_status(self, brief: Any) -> str | None:
        try:
            n = int(brief)
        except (ValueError, TypeError):
            return None
        if n not in self.status:
            self.status[n] = brief_status(self.ctx, n)
        return self.status[n]

    def baton(self, lane: str) -> Any:
        if lane not in self.batons:
            self.batons[lane] = bstate.read(self.ctx.repo, lane)
        return self.batons[lane]


def _moot_reason(ctx: Ctx, s: dict[str, Any], expiry_now: float, expiry: float,
                 reads: _TidyReads | None = None) -> str | None:
    sid = str(s.get("id"))
    if reads is None:
        reads = _TidyReads(ctx, [s])
    if sigstate.expired(sid, expiry, expiry_now):
        return f"expired (older than {expiry:g}s)"
    kind = s.get("kind")
    data = s.get("data") or {}
    if kind == "auto_dispatch":
        st = reads.brief_status(s.get("brief"))
        if st is None:
            return f"brief {s.get('brief')} does not exist"
        if st != "planned":
            return f"brief {s.get('brief')} is {st}"
    elif kind in ("reset", "successor_ready"):
        lane = str(data.get("lane") or bstate.DEFAULT_LANE)
        try:
            head = reads.baton(bstate.lane_name(lane))
        except UsageError:
            return f"no such lane {lane!r}"
        if head is None:
            return f"baton {lane} does not exist"
        rec = head.record
        frm = str(data.get("from") or "")
        if rec.get("state") != bstate.HANDOFF or str(rec.get("holder") or "") != frm:
            return f"the hand-off of baton {lane} from daemon {frm} is over"
    return None


def tidy(ctx: Ctx, me: str | None, actions: list[str]) -> dict[str, list[str]]:
    expiry = float(ctx.config.get("signals", "expiry"))
    lease = float(ctx.config.get("baton", "lease"))
    now = dstate.wall()
    mooted: list[str] = []
    requeued: list[str] = []
    by = _by(me)
    ds = DaemonStore(ctx.repo)
    sigs = sigstate.list_all(ctx.repo, expiry=expiry)  # one for-each-ref, one cat-file
    reads = _TidyReads(ctx, sigs)  # every brief status they name, one cat-file
    judged_by: dict[str, dict[str, Any]] = {}
    for s in sigs:
        sid = str(s.get("id"))
        state = s.get("state")
        if state in ("pending", "expired"):
            why = _moot_reason(ctx, s, now, expiry, reads)
            if why is None:
                continue
            try:
                sigstate.complete(ctx.repo, sid, moot=True, by=by, daemon=me, note=why)
            except (Conflict, NotFound):
                continue
            mooted.append(sid)
            actions.append(f"signal {sid}: moot ({why})")
        elif state == "claimed":
            owner = str((s.get("claim") or {}).get("daemon") or "")
            if not owner:
                continue  # claimed by a person or script: theirs to complete
            if owner == me:
                if s.get("kind") not in TICK_KINDS:
                    continue  # claimed by the agent this daemon drives: its to complete
                # left over from an earlier tick of this daemon that stopped half-way
                note = f"left claimed by an interrupted tick of daemon {owner}"
            else:
                if owner not in judged_by:
                    head = ds.get(owner)
                    judged_by[owner] = dstate.liveness(ctx.repo, owner,
                                                       head.record if head else None, lease)
                judged = judged_by[owner]
                if not dstate.gone(judged):
                    continue
                note = f"claimer daemon {owner} is {judged['state']}"
            again = None
            if s.get("kind") == "auto_dispatch" and reads.brief_status(s.get("brief")) == "planned":
                again = sigstate.emit(ctx.repo, "auto_dispatch", brief=s.get("brief"),
                                      data=dict(s.get("data") or {}), by=by)
                note += f"; re-queued as {again['id']}"
            try:
                sigstate.complete(ctx.repo, sid, moot=True, by=by, daemon=me, note=note)
            except (Conflict, NotFound):
                continue
            mooted.append(sid)
            if again:
                requeued.append(again["id"])
            actions.append(f"signal {sid}: moot ({note})")
    return {"mooted": mooted, "requeued": requeued}


def dispatch_signals(ctx: Ctx, me: str | None, fence: list[Any], actions: list[str],
                     dispatch_fn: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    from flowergit.ops import briefs as bops

    if dispatch_fn is None:
        from flowergit.ops import dispatch as dops

        dispatch_fn = dops.dispatch
    cap = int(ctx.config.get("flower", "max_parallel"))
    running, live = _live_dispatches(ctx)
    expiry = float(ctx.config.get("signals", "expiry"))
    by = _by(me)
    dispatched: list[dict[str, Any]] = []
    blocked: list[int] = []
    waiting: list[int] = []
    wait_agents: dict[int, str | None] = {}
    requeued = release_trusted(ctx, by, actions)
    while running < cap:
        try:
            sig = sigstate.claim_next(ctx.repo, kind="auto_dispatch", by=by, daemon=me,
                                      expiry=expiry, fence=fence)
        except NotFound:
            break
        sid = str(sig["id"])
        brief = sig.get("brief")
        st = brief_status(ctx, brief)
        if brief is None or st != "planned" or brief in live:
            why = f"brief {brief} is {st or 'missing'}"
            sigstate.complete(ctx.repo, sid, moot=True, by=by, daemon=me, note=why)
            actions.append(f"signal {sid}: moot ({why})")
            continue
        agent = (sig.get("data") or {}).get("agent")
        why_not = untrusted(ctx, int(brief), agent)
        if why_not is not None:
            # commands from elsewhere: the brief stays planned and waits for `trust brief N`;
            # the next tick after that dispatches it (see release_trusted)
            note = f"brief {brief} waits for trust: {why_not}"
            sigstate.complete(ctx.repo, sid, moot=True, by=by, daemon=me, note=note)
            waiting.append(int(brief))
            wait_agents[int(brief)] = str(agent) if agent else None
            actions.append(f"brief {brief}: waits for trust ({why_not}; "
                           f"`git flower trust brief {brief}`)")
            continue
        try:
            got = dispatch_fn(ctx, int(brief), agent=str(agent) if agent else None)
        except (UsageError, NotFound) as e:
            # needs a person (untrusted config, no such agent, …): the brief is blocked, visibly
            bops.set_status(ctx, int(brief), "blocked", forward_only=False,
                            why=f"auto-dispatch failed: {e.message}"[:160])
            sigstate.complete(ctx.repo, sid, by=by, daemon=me, note=f"failed: {e.message}")
            blocked.append(int(brief))
            actions.append(f"brief {brief}: blocked ({e.message})")
            continue
        except Conflict as e:
            sigstate.complete(ctx.repo, sid, moot=True, by=by, daemon=me, note=e.message)
            actions.append(f"signal {sid}: moot ({e.message})")
            continue
        except FlowerError as e:
            # temporary: give the work back as a fresh signal, the brief stays planned
            again = sigstate.emit(ctx.repo, "auto_dispatch", brief=int(brief),
                                  data=dict(sig.get("data") or {}), by=by)
            sigstate.complete(ctx.repo, sid, moot=True, by=by, daemon=me,
                              note=f"{e.message}; re-queued as {again['id']}")
            actions.append(f"brief {brief}: dispatch failed ({e.message}); re-queued")
            break
        sigstate.complete(ctx.repo, sid, by=by, daemon=me, note=f"dispatched {got.get('id')}")
        live.add(int(brief))
        running += 1
        dispatched.append({"brief": int(brief), "dispatch": got.get("id"), "signal": sid,
                           "state": got.get("state")})
        actions.append(f"brief {brief}: dispatched {got.get('id')} ({got.get('state')})")
    if waiting:
        hold_for_trust(ctx, wait_agents)
    return {"dispatched": dispatched, "blocked": blocked, "running": running, "cap": cap,
            "trust_wait": waiting, "trusted_requeued": requeued}


def report_vanished(ctx: Ctx, actions: list[str]) -> list[str]:
    """Attempts of this machine whose supervisor and agent are gone without a word (a
    ``kill -9``, the OOM killer, a reboot) get the outcome ``lost`` with the reason, and their
    ``dispatch_done`` signal, once: an orchestrator learns of them like of any other end.
    The record stays as it was otherwise, so ``dispatch N --resume`` can still continue it."""
    from flowergit.ops.dispatch import all_dispatches
    from flowergit.ops.dispatch.liveness import is_local, view_state
    from flowergit.ops.dispatch.supervise import emit_done
    from flowergit.state.dispatches import DispatchStore

    store = DispatchStore(ctx.repo)
    why = ("its supervisor and agent ended without recording how it went (killed, or the "
           "machine restarted); `git flower dispatch N --resume` continues it")
    found = []
    for h in all_dispatches(ctx.repo):
        rec = h.record
        if rec.get("outcome") or rec.get("state") != "running" or not is_local(rec.get("supervisor")) \
                or view_state(rec) != "lost":
            continue

        def mark(r: dict[str, Any]) -> dict[str, Any] | None:
            if r.get("outcome") or view_state(r) != "lost":
                return None
            return {**r, "outcome": "lost", "error": why.replace("N", str(r.get("brief")))}

        head = store.update(int(rec["brief"]), int(rec["attempt"]), mark, "lost: processes gone")
        if head.record.get("outcome") == "lost" and head.commit != h.commit:
            emit_done(ctx, int(rec["brief"]), head.record)
            found.append(str(rec.get("id")))
            actions.append(f"dispatch {rec.get('id')}: lost (its processes are gone)")
    return found


def reap(ctx: Ctx, me: str | None, fence: list[Any], actions: list[str]) -> list[dict[str, Any]]:
    """Consume ``dispatch_done`` signals (emitted when a worker ends): one line per finished
    worker, each signal completed exactly once."""
    report_vanished(ctx, actions)
    expiry = float(ctx.config.get("signals", "expiry"))
    by = _by(me)
    done: list[dict[str, Any]] = []
    for _ in range(1000):
        try:
            sig = sigstate.claim_next(ctx.repo, kind="dispatch_done", by=by, daemon=me,
                                      expiry=expiry, fence=fence)
        except NotFound:
            break
        data = sig.get("data") or {}
        item = {"brief": sig.get("brief"), "dispatch": data.get("dispatch"),
                "state": data.get("state"), "outcome": data.get("outcome"),
                "exit_code": data.get("exit_code")}
        sigstate.complete(ctx.repo, str(sig["id"]), by=by, daemon=me, note="reaped by tick")
        done.append(item)
        actions.append(f"dispatch {item['dispatch']}: {item['outcome'] or item['state']}"
                       + (f" (exit {item['exit_code']})" if item["exit_code"] not in (None, "") else ""))
    return done


def tick(ctx: Ctx, *, lane: str | None = None, daemon: str | None = None,
         dispatch_fn: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    from flowergit.ops.pending import refuse_if_pending

    ln = bstate.lane_name(lane)
    refuse_if_pending(ctx, beside_merge=True)
    me = caller(daemon)
    if me:
        ctx.daemon = me  # seen by fence_ops in dispatch and merge
        os.environ["FLOWER_DAEMON"] = me
        DaemonStore(ctx.repo).require(me)
    guard = _guard(ctx, ln, me)
    if me and guard["holder"] == me:
        DaemonStore(ctx.repo).beat(me)
    actions: list[str] = []
    out: dict[str, Any] = {"lane": ln, "daemon": me, "epoch": guard["epoch"],
                           "fenced": bool(guard["fence"])}
    out.update(tidy(ctx, me, actions))
    out["reaped"] = reap(ctx, me, guard["fence"], actions)
    sched: dict[str, Any] = {}
    try:
        from flowergit.ops import dispatch as dops

        sched = dops.schedule(ctx)
        for d in sched.get("started", []):
            actions.append(f"dispatch {d}: started")
    except (ImportError, AttributeError):
        sched = {}
    out["started"] = list(sched.get("started", []))
    out.update(dispatch_signals(ctx, me, guard["fence"], actions, dispatch_fn))
    out["merged"] = []
    if ctx.config.get("merge", "auto"):
        from flowergit.ops import merge as mops

        for r in mops.merge_queue(ctx):
            out["merged"].append(r)
            actions.append(f"brief {r.get('brief')}: merge {r.get('status')}"
                           + (f" ({r['message']})" if r.get("message") else ""))
    out["actions"] = actions
    return out


# -- run ------------------------------------------------------------------------------------------
def run(ctx: Ctx, *, lane: str | None = None, daemon: str | None = None, interval: float = 10.0,
        ticks: int | None = None, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Take the baton and tick every ``interval`` seconds, beating in between; SIGINT/SIGTERM
    stop it cleanly after the current step and release the baton."""
    from flowergit.ops.continuity import baton as bops

    if interval <= 0:
        raise UsageError("--interval must be a positive number of seconds")
    ln = bstate.lane_name(lane)
    me = caller(daemon)
    checked_in = False
    if me is None:
        head = DaemonStore(ctx.repo).checkin(role="orchestrator", pid=os.getpid(),
                                             extra={"lease": float(ctx.config.get("baton", "lease"))})
        me = str(head.record["id"])
        checked_in = True
    os.environ["FLOWER_DAEMON"] = me
    ctx.daemon = me
    log = say or (lambda text: sys.stderr.write(text + "\n"))
    import signal as _signal  # only the long-running loop needs it (a tick is one pass)

    try:
        got = bops.take(ctx, lane=ln, daemon=me)
    except FlowerError:
        if checked_in:
            DaemonStore(ctx.repo).retire(me, why="could not take the baton")
        raise
    log(got.get("message") or f"daemon {me} holds baton {ln}")
    stop: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        stop.append(signum)

    old = {s: _signal.signal(s, handler) for s in (_signal.SIGINT, _signal.SIGTERM)}
    n = 0
    lost = False
    beat_every = max(0.5, float(ctx.config.get("baton", "lease")) / 4)
    try:
        while not stop and (ticks is None or n < ticks):
            try:
                t = tick(ctx, lane=ln, daemon=me)
            except Conflict as e:
                if "lost the baton" in e.message or "only the holder" in e.message:
                    log(f"fatal: {e.message}")
                    lost = True
                    break
                log(f"tick: {e.message}")
            except FlowerError as e:
                log(f"tick: {e.message}")
            else:
                for a in t["actions"]:
                    log(a)
            n += 1
            if ticks is not None and n >= ticks:
                break
            deadline = dstate.mono() + interval
            next_beat = dstate.mono() + beat_every
            while not stop and dstate.mono() < deadline:
                time.sleep(min(0.1, max(0.0, deadline - dstate.mono())))
                if dstate.mono() >= next_beat and not stop:
                    DaemonStore(ctx.repo).beat(me)
                    next_beat = dstate.mono() + beat_every
    finally:
        for s, h in old.items():
            _signal.signal(s, h)
    released = False
    if not lost:
        try:
            bops.release(ctx, lane=ln, daemon=me)
            released = True
        except FlowerError as e:
            log(f"release: {e.message}")
        if checked_in:
            DaemonStore(ctx.repo).retire(me, why="run ended")
    if lost:
        raise Conflict(f"lost the baton: daemon {me} was replaced on lane {ln}; stopped",
                       "another orchestrator holds the lane now")
    out = {"lane": ln, "daemon": me, "ticks": n, "released": released,
           "stopped_by": _signal.Signals(stop[0]).name if stop else None,
           "message": f"daemon {me}: {n} tick(s), baton {ln} released"}
    if stop and stop[0] == _signal.SIGINT:
        out["interrupted"] = True
    return out
