"""Baton operations: show, take (CAS: free, released or stale holder), release.

Every step is a compare-and-swap on the lane's baton commit; a change of holder adds one to the
epoch. A take that loses to a live holder exits 4 naming it.
"""

from __future__ import annotations


from flowergit.errors import Conflict, NotFound, UsageError
from flowergit.gitio import refs
from flowergit.gitio.refs import CasLost
from flowergit.ops.context import Ctx
from flowergit.state import baton as bstate
from flowergit.state import daemons as dstate
from flowergit.state import records
from flowergit.state.baton import HANDOFF, HELD, RELEASED
from flowergit.state.daemons import DaemonStore, caller
from flowergit.state.layout import baton_ref, daemon_ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def lease(ctx: Ctx) -> float:
    return float(ctx.config.get("baton", "lease"))


def me(daemon: str | None) -> str:
    d = caller(daemon)
    if d is None:
        raise UsageError("which daemon? give --daemon ID or set FLOWER_DAEMON",
                         "`eval \"$(git flower daemon checkin --role orchestrator --shell)\"`")
    return d


def active_daemon(ctx: Ctx, did: str) -> records.Head:
    head = DaemonStore(ctx.repo).require(did)
    if head.record.get("state") == "retired":
        raise Conflict(f"daemon {did} is retired", "check in again: `git flower daemon checkin`")
    return head


def record_for(ctx: Ctx, daemon: records.Head, *, prev: dict[str, Any] | None, lane: str,
               epoch: int, state: str, event: str, **more: Any) -> dict[str, Any]:
    d = daemon.record
    rec: dict[str, Any] = {
        "v": 1, "lane": lane, "holder": str(d["id"]), "role": d.get("role"),
        "host": d.get("host"), "pid": d.get("pid"), "epoch": epoch, "state": state,
        "successor": None, "lease": lease(ctx),
        "scratchpad": (prev or {}).get("scratchpad"), "event": event, "from": None,
        "at": dstate.iso(), "by_daemon": str(d["id"]),
    }
    rec.update(more)
    return rec


def judge_holder(ctx: Ctx, rec: dict[str, Any],
                 daemon_rec: dict[str, Any] | None = None) -> dict[str, Any]:
    """How this machine judges the holder named by a baton record: its quiet time runs from
    its last heartbeat or from its take of this baton (epoch and time), whichever this
    observer saw change last — never from when this clone first heard of the daemon.
    ``daemon_rec``: the holder's record as just read from a remote (else the local one)."""
    holder = str(rec.get("holder") or "")
    if daemon_rec is None:
        head = DaemonStore(ctx.repo).get(holder) if holder else None
        daemon_rec = head.record if head else None
    return dstate.liveness(ctx.repo, holder, daemon_rec,
                           float(rec.get("lease") or lease(ctx)),
                           mark=f"{rec.get('lane')}:{rec.get('epoch')}:{rec.get('at')}")


def held_by_other(lane: str, head: records.Head, judged: dict[str, Any]) -> Conflict:
    rec = head.record
    return Conflict(
        f"baton {lane} is held by {bstate.describe(rec)} at epoch {rec.get('epoch')}",
        f"it is free once the holder releases it or misses heartbeats for its lease "
        f"({rec.get('lease')}s); `git flower baton show --lane {lane}` shows it",
        data={"lane": lane, "holder": rec.get("holder"), "epoch": rec.get("epoch"),
              "state": rec.get("state"), "liveness": judged.get("state")})


def view(ctx: Ctx, lane: str, head: records.Head | None, *, history: bool = False,
         message: str = "") -> dict[str, Any]:
    if head is None:
        return {"lane": lane, "exists": False, "holder": None, "epoch": 0, "state": RELEASED,
                "message": message}
    out: dict[str, Any] = {"exists": True, **head.record, "commit": head.commit,
                           "ref": baton_ref(lane), "message": message}
    if bstate.holder_of(head):
        out["liveness"] = judge_holder(ctx, head.record)
    if history:
        from flowergit.gitio import history as ghistory

        out["history"] = ghistory.oneline_log(ctx.repo, head.ref)
    return out


def show(ctx: Ctx, *, lane: str | None = None, history: bool = False) -> dict[str, Any]:
    ln = bstate.lane_name(lane)
    return view(ctx, ln, bstate.read(ctx.repo, ln), history=history)


def show_all(ctx: Ctx, *, history: bool = False) -> list[dict[str, Any]]:
    """:func:`show` of the default lane (held or not) and of every other lane with a baton."""
    first = bstate.lane_name(None)
    return [show(ctx, lane=ln, history=history)
            for ln in [first, *(x for x in bstate.lanes(ctx.repo) if x != first)]]


def subject(lane: str, rec: dict[str, Any], what: str) -> str:
    return f"baton {lane}: epoch {rec['epoch']} {what}"


def take(ctx: Ctx, *, lane: str | None = None, daemon: str | None = None) -> dict[str, Any]:
    ln = bstate.lane_name(lane)
    did = me(daemon)
    mine = active_daemon(ctx, did)
    repo = ctx.repo
    for _ in refs.retrying():
        head = bstate.read(repo, ln)
        if head is None:
            rec = record_for(ctx, mine, prev=None, lane=ln, epoch=1, state=HELD, event="take")
            try:
                new = records.create(repo, baton_ref(ln), rec, subject(ln, rec, f"held by daemon {did} (take)"))
            except CasLost:
                continue
            return view(ctx, ln, new, message=f"daemon {did} holds baton {ln} (epoch 1)")
        prev = head.record
        holder = bstate.holder_of(head)
        epoch = int(prev.get("epoch", 0))
        if holder == did:
            if prev.get("state") == HANDOFF:
                rec = {**prev, "state": HELD, "successor": None, "event": "cancel",
                       "at": dstate.iso(), "by_daemon": did}
                try:
                    new = records.append(repo, head, rec, subject(ln, rec, f"held by daemon {did} (hand-off cancelled)"))
                except CasLost:
                    continue
                return view(ctx, ln, new, message=f"daemon {did} keeps baton {ln}; hand-off cancelled")
            return view(ctx, ln, head, message=f"daemon {did} already holds baton {ln} (epoch {epoch})")
        if holder is None:
            rec = record_for(ctx, mine, prev=prev, lane=ln, epoch=epoch + 1, state=HELD, event="take")
            what = f"held by daemon {did} (take)"
        else:
            judged = judge_holder(ctx, prev)
            if not dstate.gone(judged):
                raise held_by_other(ln, head, judged)
            rec = record_for(ctx, mine, prev=prev, lane=ln, epoch=epoch + 1, state=HELD,
                             event="takeover", **{"from": holder, "why": judged["why"]})
            what = f"held by daemon {did} (takeover from daemon {holder}: {judged['why']})"
        try:
            new = records.append(repo, head, rec, subject(ln, rec, what))
        except CasLost:
            continue
        msg = f"daemon {did} holds baton {ln} (epoch {rec['epoch']})"
        if rec["event"] == "takeover":
            msg += f", taken over from daemon {holder} ({rec['why']})"
        return view(ctx, ln, new, message=msg)
    raise Conflict(f"gave up taking baton {ln} after repeated lost races", "retry")


def release(ctx: Ctx, *, lane: str | None = None, daemon: str | None = None) -> dict[str, Any]:
    ln = bstate.lane_name(lane)
    did = me(daemon)
    for _ in refs.retrying():
        head = bstate.read(ctx.repo, ln)
        if head is None:
            raise NotFound(f"nobody has taken baton {ln}")
        holder = bstate.holder_of(head)
        if holder is None:
            return view(ctx, ln, head, message=f"baton {ln} is already free")
        if holder != did:
            bstate.fence_ops(Caller(ctx, did), ln)  # "lost the baton" if it was ours
            raise Conflict(f"daemon {did} does not hold baton {ln}; {bstate.describe(head.record)} does",
                           "only the holder can release it")
        rec = {**head.record, "state": RELEASED, "successor": None, "event": "release",
               "at": dstate.iso(), "by_daemon": did}
        try:
            new = records.append(ctx.repo, head, rec, subject(ln, rec, f"released by daemon {did}"))
        except CasLost:
            continue
        return view(ctx, ln, new, message=f"daemon {did} released baton {ln}")
    raise Conflict(f"gave up releasing baton {ln} after repeated lost races", "retry")


class Caller:
    """A context that speaks for a given daemon (for :func:`fence_ops`)."""

    def __init__(self, ctx: Ctx, daemon: str) -> None:
        self.repo = ctx.repo
        self.daemon = daemon


def take_remote(ctx: Ctx, remote: str | None, *, lane: str | None = None,
                daemon: str | None = None) -> dict[str, Any]:
    """Take the baton against ``remote`` (or the configured one): a push with a lease on the
    exact commit read there, so across machines too exactly one taker wins; the loser gets exit 4
    naming the holder. A holder on another machine is judged by its lease only."""
    from flowergit.ops import sync as rops

    ln = bstate.lane_name(lane)
    did = me(daemon)
    mine = active_daemon(ctx, did)
    name = rops.resolve(ctx, remote)
    if name is None:
        raise UsageError("no remote to take the baton against",
                         "give --remote R, or configure one with `git flower remote R`")
    ref = baton_ref(ln)
    outcome: dict[str, str] = {}

    def change(prev: dict[str, Any] | None) -> dict[str, Any] | None:
        if prev is None:
            outcome["msg"] = f"daemon {did} holds baton {ln} on {name} (epoch 1)"
            return record_for(ctx, mine, prev=None, lane=ln, epoch=1, state=HELD, event="take")
        holder = prev.get("holder") if prev.get("state") != RELEASED else None
        epoch = int(prev.get("epoch", 0))
        if holder == did:
            outcome["msg"] = f"daemon {did} already holds baton {ln} on {name} (epoch {epoch})"
            return None
        if holder:
            # the holder's heartbeats as the remote has them now: an observer whose own syncs
            # lagged must not take silence for death
            _, fresh = rops.remote_value(ctx, name, daemon_ref(str(holder)))
            judged = judge_holder(ctx, prev, fresh)
            if not dstate.gone(judged):
                raise held_by_other(ln, records.Head(ref, "", prev), judged)
            outcome["msg"] = (f"daemon {did} holds baton {ln} on {name} (epoch {epoch + 1}), "
                              f"taken over from daemon {holder} ({judged['why']})")
            return record_for(ctx, mine, prev=prev, lane=ln, epoch=epoch + 1, state=HELD,
                              event="takeover", **{"from": holder, "why": judged["why"]})
        outcome["msg"] = f"daemon {did} holds baton {ln} on {name} (epoch {epoch + 1})"
        return record_for(ctx, mine, prev=prev, lane=ln, epoch=epoch + 1, state=HELD, event="take")

    head = rops.update_record(ctx, name, ref, change, f"baton {ln}: held by daemon {did} (take on {name})",
                              what=f"baton {ln} take")
    return view(ctx, ln, head if head is not None else bstate.read(ctx.repo, ln),
                message=outcome.get("msg", ""))
