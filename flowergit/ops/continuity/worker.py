"""`git flower run --worker`: a clone that runs agents for the fleet, through a remote.

Any clone with a remote can be a worker machine. Every tick:

1. **sync** with the remote (signals, briefs and records in; this clone's out);
2. **publish** the branches of this worker's attempts that have ended (pushed to the remote
   before their records are, so a clone that sees a finished record can fetch its work);
3. **retry** attempts whose worker daemon is gone (a machine that died mid-attempt): exactly
   one live worker wins ``refs/flower/claims/retry-<brief>-<attempt>`` on the remote, ends the
   old attempt as ``lost`` and runs the brief again; a claim whose worker died before it
   dispatched is taken over the same way (``retry-<signal>``);
4. **claim and dispatch**: while fewer than ``max_parallel`` of its own attempts run, it claims a
   pending ``auto_dispatch`` signal *on the remote* (a create-only push: exactly one clone wins,
   whichever machine it runs on), dispatches the brief here, in its own worktree, with the
   agent the brief or the config names, and completes the signal;
5. **beat**: its ``worker`` daemon's beats travel with the next sync.

The merge is not a worker's job: the clone that holds the baton merges what the workers
finished (``git flower merge`` after a sync fetches their branches). SIGTERM or Ctrl-C end the
loop after a last publish and sync; the attempts already started run on.
"""

from __future__ import annotations

import os
import signal as _signal
import sys
import time
from collections.abc import Callable
from typing import Any

from flowergit.errors import Conflict, FlowerError, NotFound, Retry, UsageError
from flowergit.ops.context import Ctx
from flowergit.state import daemons as dstate
from flowergit.state import signals as sigstate
from flowergit.state.daemons import DaemonStore


class Worker:
    def __init__(self, ctx: Ctx, remote: str, say: Callable[[str], None]) -> None:
        self.ctx = ctx
        self.remote = remote
        self.say = say
        self.me = ""
        self.started: list[str] = []  # dispatch ids this worker started
        self.running: list[str] = []  # those of them not yet seen ended
        self.published: set[str] = set()
        self.ran: list[dict[str, Any]] = []

    # -- the steps ------------------------------------------------------------------------
    def sync(self) -> bool:
        from flowergit.ops import sync as rops

        try:
            got = rops.sync(self.ctx, self.remote)
        except Retry as e:
            self.say(f"sync: {e.message} (retried next tick)")
            return False
        for w in got.get("warnings") or []:
            self.say(f"sync: warning: {w}")
        return True

    def mine_live(self) -> int:
        """How many of this worker's attempts still run (one read each; an attempt that has
        ended leaves the count for good)."""
        from flowergit.ops.dispatch.liveness import LIVE_STATES, view_state
        from flowergit.state.dispatches import DispatchStore

        store = DispatchStore(self.ctx.repo)
        still = []
        for did in self.running:
            b, _, a = did.partition(".")
            head = store.get(int(b), int(a))
            if head is not None and view_state(head.record) in LIVE_STATES:
                still.append(did)
        self.running = still
        return len(still)

    def publish(self) -> None:
        """Push the branch of every ended attempt of this worker the remote lacks, in one push
        after one listing of the remote."""
        from flowergit.gitio import refs
        from flowergit.gitio import remote as net
        from flowergit.ops.dispatch.liveness import LIVE_STATES, view_state
        from flowergit.ops.dispatch.paths import our_branch
        from flowergit.state.dispatches import DispatchStore

        store = DispatchStore(self.ctx.repo)
        have = refs.list_refs(self.ctx.repo, "refs/heads/flower/")
        ended: dict[str, tuple[str, str, str]] = {}  # ref -> (tip, dispatch, how)
        for did in self.started:
            if did in self.published:
                continue
            b, _, a = did.partition(".")
            head = store.get(int(b), int(a))
            if head is None or view_state(head.record) in LIVE_STATES:
                continue
            self.published.add(did)
            branch = our_branch(int(b), head.record.get("branch"))
            ref = f"refs/heads/{branch}" if branch else ""
            if ref in have:
                ended[ref] = (have[ref], did,
                              str(head.record.get("outcome") or view_state(head.record)))
        if not ended:
            return
        there = net.ls_remote(self.ctx.repo, self.remote, sorted(ended))
        updates = [net.Update(ref, tip, there.get(ref)) for ref, (tip, _, _) in ended.items()
                   if there.get(ref) != tip]
        for ref, (_, did, how) in ended.items():
            self.say(f"dispatch {did}: {how}; branch {ref[len('refs/heads/'):]} published")
        if updates:
            res = net.push(self.ctx.repo, self.remote, updates, atomic=False)
            for st in res.rejected():
                self.say(f"publish: {st.ref} {st.summary}")

    def gone_worker(self, owner: str) -> dict[str, Any] | None:
        """How this clone judges worker daemon ``owner`` if it is gone (else None)."""
        if not owner or owner == self.me:
            return None
        head = DaemonStore(self.ctx.repo).get(owner)
        if head is None or head.record.get("role") != "worker":
            return None
        judged = dstate.liveness(self.ctx.repo, owner, head.record,
                                 float(self.ctx.config.get("baton", "lease")))
        return judged if dstate.gone(judged) else None

    def run_here(self, brief: int, agent: Any, retry_of: str, words: str) -> None:
        """Dispatch ``brief`` on this clone in place of work a gone worker left."""
        from flowergit.ops import dispatch as dops

        try:
            got = dops.dispatch(self.ctx, brief, agent=str(agent) if agent else None)
        except FlowerError as e:
            self.say(f"brief {brief}: could not run it here: {e.message}")
            return
        did = str(got.get("id"))
        self.started.append(did)
        self.running.append(did)
        self.ran.append({"brief": brief, "dispatch": did, "retry_of": retry_of})
        self.say(f"brief {brief}: dispatched {did} here ({words})")

    def retry_stranded(self) -> None:
        """Attempts whose worker daemon is gone (its machine died mid-attempt) run again here:
        the first live worker to create ``refs/flower/claims/retry-<brief>-<attempt>`` on the
        remote (create-only: exactly one wins) ends the old attempt as ``lost`` and dispatches
        the brief anew."""
        from flowergit.ops import sync as rops
        from flowergit.ops.dispatch.paths import now_iso
        from flowergit.state.dispatches import DispatchStore
        from flowergit.state.layout import claim_ref

        repo = self.ctx.repo
        store = DispatchStore(repo)
        for h in store.all():
            rec = h.record
            did = str(rec.get("id"))
            if did in self.started or rec.get("outcome") \
                    or rec.get("state") not in ("preparing", "running"):
                continue
            owner = str(rec.get("daemon") or "")
            judged = self.gone_worker(owner)
            if judged is None:
                continue
            brief, attempt = int(rec["brief"]), int(rec["attempt"])
            token = f"retry-{brief}-{attempt}"
            commit = sigstate.new_claim(repo, token, "retry", by=f"daemon {self.me}",
                                        daemon=self.me)
            try:
                rops.create(self.ctx, self.remote, claim_ref(token), commit,
                            what=f"retry of dispatch {did}")
            except Conflict:
                continue  # another live worker retries it
            why = (f"its worker daemon {owner} is {judged['state']} ({judged.get('why')}); "
                   f"retried by worker daemon {self.me}")

            def lost(r: dict[str, Any], why: str = why) -> dict[str, Any] | None:
                if r.get("outcome"):
                    return None
                return {**r, "state": "failed", "outcome": "lost", "ended_at": now_iso(),
                        "error": why}

            store.update(brief, attempt, lost, "lost: its worker machine is gone")
            self.say(f"dispatch {did}: lost ({why})")
            self.run_here(brief, rec.get("agent"), did, f"in place of {did}")

    def requeue_stranded_claims(self) -> None:
        """An ``auto_dispatch`` signal a worker claimed on the remote and died before
        dispatching (no attempt of its brief by that worker): the first live worker to create
        ``refs/flower/claims/retry-<signal>`` on the remote completes it as moot and runs the
        brief here."""
        from flowergit.ops import sync as rops
        from flowergit.ops.continuity.trustwait import brief_status
        from flowergit.state.dispatches import DispatchStore
        from flowergit.state.layout import claim_ref

        repo = self.ctx.repo
        expiry = float(self.ctx.config.get("signals", "expiry"))
        store = DispatchStore(repo)
        for sig in sigstate.list_all(repo, expiry=expiry):
            if sig.get("kind") != "auto_dispatch" or sig.get("state") != "claimed":
                continue
            owner = str((sig.get("claim") or {}).get("daemon") or "")
            if self.gone_worker(owner) is None:
                continue
            try:
                brief = int(sig.get("brief") or 0)
            except (TypeError, ValueError):
                continue
            if brief_status(self.ctx, brief) != "planned" or any(
                    str(h.record.get("daemon") or "") == owner for h in store.attempts(brief)):
                continue  # it got as far as an attempt: retry_stranded's case
            sid = str(sig["id"])
            commit = sigstate.new_claim(repo, f"retry-{sid}", "retry", by=f"daemon {self.me}",
                                        daemon=self.me)
            try:
                rops.create(self.ctx, self.remote, claim_ref(f"retry-{sid}"), commit,
                            what=f"retry of signal {sid}")
            except Conflict:
                continue
            by = f"daemon {self.me}"
            sigstate.complete(repo, sid, moot=True, by=by, daemon=self.me,
                              note=f"its claimer, worker daemon {owner}, is gone; brief {brief} "
                                   f"runs on worker daemon {self.me}")
            self.run_here(brief, (sig.get("data") or {}).get("agent"), sid,
                          f"its claimer, worker daemon {owner}, is gone")

    def claim_and_dispatch(self) -> None:
        from flowergit.ops import dispatch as dops
        from flowergit.ops.continuity import signals as sops
        from flowergit.ops.continuity.trustwait import brief_status

        cap = int(self.ctx.config.get("flower", "max_parallel"))
        expiry = float(self.ctx.config.get("signals", "expiry"))
        pending = [s for s in sigstate.list_all(self.ctx.repo, expiry=expiry)
                   if s.get("kind") == "auto_dispatch" and s.get("state") == "pending"]
        by = f"daemon {self.me}"
        live = self.mine_live() if pending else 0
        for s in pending:
            if live >= cap:
                return
            sid = str(s["id"])
            if brief_status(self.ctx, s.get("brief")) != "planned":
                continue  # the orchestrator's tick completes it as moot
            try:
                sops.claim_remote(self.ctx, self.remote, sid, daemon=self.me)
            except (Conflict, NotFound):
                continue  # another machine took it
            brief = int(s["brief"])
            agent = (s.get("data") or {}).get("agent")
            try:
                got = dops.dispatch(self.ctx, brief, agent=str(agent) if agent else None)
            except FlowerError as e:
                again = sigstate.emit(self.ctx.repo, "auto_dispatch", brief=brief,
                                      data=dict(s.get("data") or {}), by=by)
                sigstate.complete(self.ctx.repo, sid, moot=True, by=by, daemon=self.me,
                                  note=f"worker daemon {self.me} could not dispatch it: "
                                       f"{e.message}; re-queued as {again['id']}")
                self.say(f"brief {brief}: dispatch failed here ({e.message}); re-queued")
                continue
            did = str(got.get("id"))
            self.started.append(did)
            self.running.append(did)
            live += 1
            self.ran.append({"brief": brief, "dispatch": did, "signal": sid})
            sigstate.complete(self.ctx.repo, sid, by=by, daemon=self.me,
                              note=f"dispatched {did} by worker daemon {self.me} on "
                                   f"{_host()}")
            self.say(f"brief {brief}: dispatched {did} here ({got.get('state')})")


def run(ctx: Ctx, *, remote: str | None = None, interval: float = 10.0,
        ticks: int | None = None, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The worker loop (see the module's docstring)."""
    from flowergit.ops import sync as rops
    from flowergit.ops.continuity import daemon as dops

    if interval <= 0:
        raise UsageError("--interval must be a positive number of seconds")
    name = rops.resolve(ctx, remote)
    if name is None:
        raise UsageError("a worker needs a remote to take work from",
                         "configure one: `git flower remote origin` (or give --remote R)")

    def to_stderr(text: str) -> None:
        sys.stderr.write(text + "\n")

    w = Worker(ctx, name, say or to_stderr)
    stop: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        stop.append(signum)

    old = {s: _signal.signal(s, handler) for s in (_signal.SIGINT, _signal.SIGTERM)}
    n = 0
    try:
        got = dops.checkin(ctx, role="worker", pid=os.getpid(),
                           extra={"remote": name})
        w.me = str(got["id"])
        os.environ["FLOWER_DAEMON"] = w.me
        ctx.daemon = w.me
        w.say(f"worker daemon {w.me} takes work from {name}")
        ds = DaemonStore(ctx.repo)
        while not stop and (ticks is None or n < ticks):
            n += 1
            try:
                if w.sync():
                    w.publish()
                    before = len(w.ran)
                    w.retry_stranded()
                    w.requeue_stranded_claims()
                    w.claim_and_dispatch()
                    if len(w.ran) > before:
                        w.sync()  # the new attempts' records out at once
            except Retry as e:  # the remote went away mid-tick: the next tick tries again
                w.say(f"tick: {e.message} (retried next tick)")
            ds.beat(w.me)
            deadline = time.monotonic() + interval
            while not stop and time.monotonic() < deadline and (ticks is None or n < ticks):
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    finally:
        for s, h in old.items():
            _signal.signal(s, h)
        if w.me:
            _finish(w, wait=not stop)
    out = {"remote": name, "daemon": w.me, "ticks": n, "dispatched": w.ran,
           "stopped_by": _signal.Signals(stop[0]).name if stop else None,
           "message": f"worker daemon {w.me}: {n} tick(s), {len(w.ran)} attempt(s) started here"}
    if stop and stop[0] == _signal.SIGINT:
        out["interrupted"] = True
    return out


def _host() -> str:
    from flowergit.procs import identity

    return identity.host()


def _finish(w: Worker, wait: bool) -> None:
    """A last publish and sync (what finished is not left unpublished), then retire. At the
    end of its ticks (not on a signal) it first gives running attempts up to 30 s to end."""
    deadline = time.monotonic() + (30.0 if wait else 0.0)
    while w.running and w.mine_live() and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        w.publish()
        DaemonStore(w.ctx.repo).retire(w.me, why="worker loop ended")
        w.sync()
    except FlowerError as e:
        w.say(f"finish: {e.message}")
