"""The reset hand-off: an orchestrator whose context is full hands its lane to a fresh successor.

    predecessor A                          successor S
    reset request   (held → handoff,
                     emits `reset`)
                                           daemon checkin --successor-of A
                                           handoff show        (reads the scratchpad)
                                           reset ready         (successor = S,
                                                                emits `successor_ready`)
    reset handoff   ─ or, if A has gone quiet, S runs it ─      (held by S, epoch + 1,
                                                                 atomically with the scratchpad)
    reset retire    ─ or S runs it ─                            (A retired, signals completed)

Each step is a compare-and-swap on the baton commit. Until ``reset handoff`` lands, A is the
holder (its fenced writes still land); after it, A's fenced writes fail with "lost the baton".
A hand-off that stalls never leaves the lane without a holder: A stays the holder, and once A
stops beating anyone can take the baton over as from any stale holder. A holder that wants to
keep going cancels with ``baton take``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowergit import failpoints
from flowergit.errors import Conflict, NotFound, UsageError
from flowergit.gitio import objects, refs
from flowergit.gitio.refs import CasLost
from flowergit.ops.context import Ctx
from flowergit.ops.continuity import baton as bops
from flowergit.ops.continuity.handoff import read_input
from flowergit.state import baton as bstate
from flowergit.state import daemons as dstate
from flowergit.state import records
from flowergit.state import signals as sigstate
from flowergit.state.baton import HANDOFF, HELD
from flowergit.state.daemons import DaemonStore
from flowergit.state.layout import BRIEFS_REF, handoff_path


def _read(ctx: Ctx, lane: str) -> records.Head:
    head = bstate.read(ctx.repo, lane)
    if head is None:
        raise NotFound(f"nobody has taken baton {lane}", "`git flower baton take` first")
    return head


def _signalled(ctx: Ctx, head: records.Head, lane: str, did: str, kind: str, data: dict[str, str],
               record: Callable[[str], dict[str, Any]], subject: str,
               moved: str) -> tuple[records.Head, str] | None:
    """Queue a `kind` signal, then write `record(signal id)` on the baton as a compare-and-swap
    on `head`: the new baton head and the signal's id, or None when the baton moved meanwhile
    (the signal is then completed as moot, with `moved` as its note, and the caller retries)."""
    sid = str(sigstate.emit(ctx.repo, kind, data=data, by=f"daemon {did}")["id"])
    failpoints.hit("reset_before_record")  # the signal is queued, the baton not yet written
    new = record(sid)
    try:
        return records.append(ctx.repo, head, new, bops.subject(lane, new, subject)), sid
    except CasLost:
        sigstate.complete(ctx.repo, sid, moot=True, by=f"daemon {did}", daemon=did, note=moved)
        return None


def request(ctx: Ctx, *, lane: str | None = None, daemon: str | None = None,
            note: str = "") -> dict[str, Any]:
    """The holder asks for a successor: baton → handoff, and a `reset` signal is queued."""
    ln = bstate.lane_name(lane)
    did = bops.me(daemon)
    for _ in refs.retrying():
        head = _read(ctx, ln)
        rec = head.record
        if bstate.holder_of(head) != did:
            bstate.fence_ops(bops.Caller(ctx, did), ln)
            raise Conflict(f"daemon {did} does not hold baton {ln}; {bstate.describe(rec)} does",
                           "only the holder can ask for a successor")
        if rec.get("state") == HANDOFF:
            return bops.view(ctx, ln, head, message=f"a hand-off of baton {ln} is already pending"
                             + (f" (successor daemon {rec['successor']})" if rec.get("successor") else ""))
        def requested(sid: str) -> dict[str, Any]:
            new = {**rec, "state": HANDOFF, "successor": None, "event": "request",
                   "reset_signal": sid, "at": dstate.iso(), "by_daemon": did}
            return {**new, "note": note} if note else new

        landed = _signalled(ctx, head, ln, did, "reset",
                            {"lane": ln, "from": did, "epoch": str(rec.get("epoch"))}, requested,
                            f"hand-off requested by daemon {did}",
                            "the baton moved while the reset was being requested")
        if landed is None:
            continue
        got, sid = landed
        return bops.view(ctx, ln, got, message=f"daemon {did} asked for a successor on baton {ln} "
                         f"(signal {sid})")
    raise Conflict(f"gave up requesting a reset of baton {ln} after repeated lost races", "retry")


def ready(ctx: Ctx, *, lane: str | None = None, daemon: str | None = None) -> dict[str, Any]:
    """The successor has read the scratchpad and is ready: it is named on the baton and a
    `successor_ready` signal is queued."""
    ln = bstate.lane_name(lane)
    did = bops.me(daemon)
    mine = bops.active_daemon(ctx, did)
    for _ in refs.retrying():
        head = _read(ctx, ln)
        rec = head.record
        holder = bstate.holder_of(head)
        if holder == did:
            return bops.view(ctx, ln, head, message=f"daemon {did} already holds baton {ln}")
        if rec.get("state") != HANDOFF:
            raise Conflict(f"baton {ln} has no hand-off pending ({rec.get('state')} by daemon {holder})",
                           "the holder asks for one with `git flower reset request`")
        pred = mine.record.get("successor_of")
        if pred and str(pred) != holder:
            raise Conflict(f"daemon {did} checked in as successor of daemon {pred}, but daemon "
                           f"{holder} holds baton {ln}")
        other = rec.get("successor")
        if other and str(other) != did:
            od = DaemonStore(ctx.repo).get(str(other))
            judged = dstate.liveness(ctx.repo, str(other), od.record if od else None,
                                     float(rec.get("lease") or bops.lease(ctx)))
            if not dstate.gone(judged):
                raise Conflict(f"daemon {other} is already the successor on baton {ln}",
                               data={"lane": ln, "successor": other})
        if other and str(other) == did:
            return bops.view(ctx, ln, head, message=f"daemon {did} is already the ready successor")
        def named(sid: str) -> dict[str, Any]:
            return {**rec, "successor": did, "event": "ready", "ready_signal": sid,
                    "at": dstate.iso(), "by_daemon": did}

        landed = _signalled(ctx, head, ln, did, "successor_ready",
                            {"lane": ln, "from": holder or "", "to": did}, named,
                            f"daemon {did} ready to succeed daemon {holder}",
                            "the baton moved while reporting ready")
        if landed is None:
            continue
        got, sid = landed
        return bops.view(ctx, ln, got, message=f"daemon {did} is ready to take baton {ln} "
                         f"from daemon {holder} (signal {sid})")
    raise Conflict(f"gave up reporting ready on baton {ln} after repeated lost races", "retry")


def handoff(ctx: Ctx, *, lane: str | None = None, daemon: str | None = None,
            path: str | None = None, text: str | None = None) -> dict[str, Any]:
    """Move the baton to the ready successor (epoch + 1) in one transaction with the scratchpad:
    a new scratchpad given here is committed to flower/briefs in the same transaction; otherwise
    the baton records the scratchpad version it handed over. Run by the holder, or by the
    successor when the holder has gone quiet."""
    ln = bstate.lane_name(lane)
    did = bops.me(daemon)
    data = read_input(path, text) if (path is not None or text is not None) else None
    repo = ctx.repo
    result: list[records.Head] = []

    def baton_ops(blob: str | None) -> list[refs.Op]:
        head = _read(ctx, ln)
        rec = head.record
        holder = bstate.holder_of(head)
        succ = str(rec.get("successor") or "")
        if rec.get("state") != HANDOFF or not succ:
            if rec.get("event") == "handoff" and holder == did:
                raise _Done(head)
            raise Conflict(f"baton {ln} has no ready successor (state {rec.get('state')})",
                           "the successor reports with `git flower reset ready` first")
        if did not in (holder, succ):
            raise Conflict(f"only daemon {holder} (the holder) or daemon {succ} (its successor) "
                           f"can hand baton {ln} over")
        sd = DaemonStore(repo).get(succ)
        judged = dstate.liveness(repo, succ, sd.record if sd else None,
                                 float(rec.get("lease") or bops.lease(ctx)))
        if dstate.gone(judged):
            raise Conflict(f"the successor daemon {succ} is {judged['state']} ({judged['why']})",
                           "the holder keeps the baton with `git flower baton take`; "
                           "a new successor can report ready")
        assert sd is not None
        new = bops.record_for(ctx, sd, prev=rec, lane=ln, epoch=int(rec.get("epoch", 0)) + 1,
                              state=HELD, event="handoff", **{"from": holder, "by_daemon": did})
        new["scratchpad"] = blob
        new["path"] = handoff_path(ln)
        for key in ("reset_signal", "ready_signal"):
            if rec.get(key):
                new[key] = rec[key]
        commit = records.build(repo, new, head.commit, bops.subject(
            ln, new, f"held by daemon {succ} (hand-off from daemon {holder}, by daemon {did})"))
        result.clear()
        result.append(records.Head(head.ref, commit, new))
        return [refs.update(head.ref, commit, head.commit)]

    try:
        if data is not None:
            blob = objects.object_id(repo, "blob", data)
            store = ctx.briefs()
            from flowergit.state.briefs import Change

            store.apply(lambda tip, batch: ([Change(handoff_path(ln), data)],
                                            f"handoff {ln}: scratchpad handed over by daemon {did}"),
                        extra_ops=lambda: baton_ops(blob))
            if not result:  # the scratchpad was unchanged: nothing was committed yet
                _baton_only(ctx, ln, lambda: baton_ops(blob))
        else:
            _baton_only(ctx, ln, lambda: baton_ops(_current_blob(ctx, ln)))
    except _Done as d:
        return bops.view(ctx, ln, d.head, message=f"baton {ln} was already handed to daemon {did}")
    got = result[0]
    return bops.view(ctx, ln, got, message=f"daemon {got.record['holder']} holds baton {ln} "
                     f"(epoch {got.record['epoch']}), handed over from daemon {got.record['from']}")


class _Done(Exception):
    def __init__(self, head: records.Head) -> None:
        super().__init__("done")
        self.head = head


def _baton_only(ctx: Ctx, lane: str, make: Any) -> None:
    for _ in refs.retrying():
        ops = make()
        try:
            refs.transaction(ctx.repo, ops, f"baton {lane}: hand-off")
            return
        except CasLost:
            continue
    raise Conflict(f"gave up handing baton {lane} over after repeated lost races", "retry")


def _current_blob(ctx: Ctx, lane: str) -> str | None:
    return refs.read(ctx.repo, f"{BRIEFS_REF}:{handoff_path(lane)}")


def retire(ctx: Ctx, *, lane: str | None = None, daemon: str | None = None,
           predecessor: str | None = None) -> dict[str, Any]:
    """Retire the predecessor of the last hand-off and complete the hand-off's signals."""
    ln = bstate.lane_name(lane)
    did = bops.me(daemon)
    head = _read(ctx, ln)
    rec = head.record
    pred = predecessor
    if pred is None:
        if rec.get("event") != "handoff" or not rec.get("from"):
            raise Conflict(f"the last step on baton {ln} was not a hand-off ({rec.get('event')})",
                           "name the daemon to retire: `git flower reset retire --predecessor ID`"
                           " or `git flower daemon retire ID`")
        pred = str(rec["from"])
    pred = dstate.daemon_id(pred)
    if bstate.holder_of(head) == pred:
        raise Conflict(f"daemon {pred} still holds baton {ln}; hand it over first",
                       "`git flower reset handoff`")
    if did not in (pred, str(rec.get("holder") or "")):
        raise UsageError(f"only daemon {pred} itself or the holder of baton {ln} can retire it")
    ds = DaemonStore(ctx.repo)
    ds.require(pred)
    ds.retire(pred, by=f"daemon {did}", why=f"handed baton {ln} to daemon {rec.get('holder')}")
    done = []
    for key in ("reset_signal", "ready_signal"):
        sid = rec.get(key)
        if not sid:
            continue
        try:
            got = sigstate.complete(ctx.repo, str(sid), moot=False, by=f"daemon {did}", daemon=did,
                                    note=f"hand-off of baton {ln} finished")
            done.append(got["id"])
        except (NotFound, Conflict):
            continue
    return {"lane": ln, "retired": pred, "holder": rec.get("holder"), "epoch": rec.get("epoch"),
            "signals": done,
            "message": f"daemon {pred} retired; daemon {rec.get('holder')} holds baton {ln} "
                       f"(epoch {rec.get('epoch')})"}
