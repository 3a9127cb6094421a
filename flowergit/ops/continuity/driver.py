"""`git flower run --agent NAME`: the orchestrator as an agent session git flower drives.

The driver is one long-lived process. It checks in a daemon, takes the baton, and then loops:

1. **tick** (``tick.tick``): the mechanical work, with no model call;
2. **news** (``news.News``): what in that tick, or in the state, needs judgement;
3. **turn** (``turns.run``), only when there is news: the agent gets a packet of what changed
   since its last turn, in the same session where its profile can resume one;
4. **context watch**: the turn's transcript says how full the model's context is; at
   ``[orchestrator] reset_at`` of ``window`` tokens (or when the agent ran ``reset request``
   itself) the driver runs the succession below.

Succession (one process, two daemons; each step a compare-and-swap on the baton)::

    predecessor P (driven)                     successor S (driven by the same process)
    a turn asking for the hand-off notes
    reset request
                                               daemon checkin --successor-of P
                                               a first turn, fresh session, with the
                                               reset-successor charter and the scratchpad;
                                               the agent runs `reset ready`
    reset handoff (the notes as scratchpad,
                   epoch + 1, held by S)
                                               reset retire (P retired)

P's agent session is never resumed again and any process of it is ended. If the successor's
agent did not report ready, the driver reports for it (and says so); if anything in the
succession fails, P cancels the hand-off (``baton take``) and keeps the lane.

A driver that dies (SIGKILL, a reboot) leaves the baton to a holder that is gone: the next
``run --agent`` on any machine takes it over, and its first turn is told which turn of the
dead daemon was in flight (the daemon record keeps each turn's news until the turn ends) along
with the last scratchpad.
"""

from __future__ import annotations

import os
import signal as _signal
import sys
import time
from collections.abc import Callable
from typing import Any

from flowergit.errors import Conflict, FlowerError, UsageError
from flowergit.ops.context import Ctx
from flowergit.ops.continuity import news as newsmod
from flowergit.ops.continuity import orchstatus, turns
from flowergit.procs import identity
from flowergit.state import baton as bstate
from flowergit.state import daemons as dstate
from flowergit.state.daemons import DaemonStore

NOTES_FILE = "handoff-notes.md"  # the name a predecessor's notes file ends with


class Lost(Exception):
    """This daemon no longer holds the baton: stop at once."""


class Driver:
    def __init__(self, ctx: Ctx, profile: Any, lane: str, interval: float,
                 say: Callable[[str], None]) -> None:
        self.ctx = ctx
        self.profile = profile
        self.lane = lane
        self.interval = interval
        self.say = say
        self.ds = DaemonStore(ctx.repo)
        self.me = ""
        self.holder = ""  # the daemon that holds the baton: it ticks (the predecessor, while
        #                   its successor's first turn runs)
        self.mine: list[str] = []  # daemons this process checked in (retired when it ends)
        self.session: str | None = None
        self.context: int | None = None
        self.turn_no = 0
        self.turn_pid: int | None = None
        self.news = newsmod.News()
        self.first: list[str] = []  # what the next turn must be told first (a takeover, …)
        self.stop: list[int] = []
        self.lost = False
        self.ticks = 0
        self.tick_budget: int | None = None
        self.lease = float(ctx.config.get("baton", "lease"))
        self.beat_every = max(0.5, self.lease / 4)
        self.next_beat = 0.0
        self.next_tick = 0.0
        self.in_turn = False
        self.window = int(ctx.config.get("orchestrator", "window"))
        self.reset_at = float(ctx.config.get("orchestrator", "reset_at"))
        self.timeout = float(ctx.config.get("orchestrator", "turn_timeout"))
        self.cwd = ctx.repo.main_worktree or ctx.repo.worktree or ctx.repo.common_dir
        self.successions: list[dict[str, Any]] = []
        self.turns_run = 0

    # -- the daemon ---------------------------------------------------------------------------
    def checkin(self, successor_of: str | None = None) -> str:
        from flowergit.ops.continuity import daemon as dops

        got = dops.checkin(self.ctx, role="orchestrator", pid=os.getpid(),
                           successor_of=successor_of,
                           extra={"agent": self.profile.name, "lane": self.lane, "driven": True})
        did = str(got["id"])
        self.mine.append(did)
        return did

    def become(self, did: str, holder: str | None = None) -> None:
        self.me = did
        self.holder = holder or did
        os.environ["FLOWER_DAEMON"] = did
        self.ctx.daemon = did

    def beat(self) -> None:
        if dstate.mono() < self.next_beat:
            return
        self.next_beat = dstate.mono() + self.beat_every
        for did in dict.fromkeys((self.holder, self.me)):
            try:
                self.ds.beat(did)
            except Conflict as e:  # retired behind our back: treat it as losing the lane
                self.say(f"fatal: {e.message}")
                raise Lost() from None

    # -- ticking ------------------------------------------------------------------------------
    def tick(self) -> None:
        from flowergit.ops.continuity import tick as tops

        self.next_tick = dstate.mono() + self.interval
        self.ticks += 1
        acting = self.me
        try:
            self.become(self.holder, self.holder)
            t = tops.tick(self.ctx, lane=self.lane, daemon=self.holder)
        except Conflict as e:
            if "lost the baton" in e.message or "only the holder" in e.message:
                self.say(f"fatal: {e.message}")
                raise Lost() from None
            self.say(f"tick: {e.message}")
            return
        except FlowerError as e:
            self.say(f"tick: {e.message}")
            return
        finally:
            holder = self.holder
            self.become(acting, holder)
        for a in t["actions"]:
            self.say(a)
        self.news.from_tick(t)
        try:
            self.news.scan(self.ctx)
        except FlowerError as e:
            self.say(f"tick: {e.message}")

    def idle(self) -> None:
        """Between ticks and during a turn: beat; tick when it is time."""
        self.beat()
        if dstate.mono() >= self.next_tick and not self.stop and self.budget_left():
            self.tick()

    def budget_left(self) -> bool:
        return self.tick_budget is None or self.ticks < self.tick_budget

    # -- turns --------------------------------------------------------------------------------
    def charter(self, role: str, successor_of: str | None = None) -> str:
        from flowergit.ops.continuity import charter

        got = charter.render(self.ctx, role, {"daemon": self.me, "lane": self.lane,
                                              "successor_of": successor_of or "(none)"})
        return str(got["text"])

    def scratchpad(self) -> str | None:
        from flowergit.ops.continuity import handoff

        try:
            text = handoff.show(self.ctx, lane=self.lane)["text"]
        except FlowerError:
            return None
        return text if isinstance(text, str) and text.strip() else None

    def memory(self, first: bool) -> list[str]:
        """The blocks a fresh session needs besides the news: the charter, the scratchpad."""
        blocks = []
        pad = self.scratchpad()
        if pad:
            blocks.append(f"## The scratchpad (`git flower handoff show --lane {self.lane}`)\n\n"
                          + newsmod.fenced(pad))
        return ([self.charter("orchestrator")] if first or not self.resumable() else []) + blocks

    def resumable(self) -> bool:
        return bool(self.profile.resume and self.session)

    def turn(self, *, head: str, items: list[str], info: list[str], blocks: list[str],
             role: str = "orchestrator") -> dict[str, Any]:
        self.turn_no += 1
        n = self.turn_no
        text = newsmod.render(head, items, info, blocks)
        self.ds.change(self.me, "turn", f"turn {n} started", turn={
            "n": n, "started_at": dstate.iso(), "news": (items + info)[:50], "ended_at": None})
        self.in_turn = True
        self.write_status("turn")
        self.say(f"daemon {self.me}: turn {n} ({len(items)} item(s) need judgement)")

        def started(pid: int) -> None:
            self.turn_pid = pid

        try:
            got = turns.run(self.ctx, profile=self.profile, did=self.me, lane=self.lane,
                            role=role, n=n, text=text, session=self.session, cwd=self.cwd,
                            timeout=self.timeout, idle=self.idle, stopping=lambda: bool(self.stop),
                            on_start=started)
        finally:
            self.in_turn = False
            self.turn_pid = None
        self.turns_run += 1
        if self.profile.resume and got.get("session"):
            self.session = str(got["session"])
        if got.get("context_tokens"):
            self.context = int(got["context_tokens"])
        how = turns.ended(got)
        fill = self.fill()
        self.ds.change(self.me, "turn", f"turn {n} {how}", turn={
            "n": n, "started_at": None, "ended_at": dstate.iso(), "how": how,
            "seconds": got["seconds"], "argv_bytes": got["argv_bytes"]}, session=self.session,
            context={"tokens": self.context, "window": self.window,
                     "fill": round(fill, 4) if fill is not None else None})
        self.write_status("idle")
        self.say(f"daemon {self.me}: turn {n} {how}"
                 + (f"; context {fill:.0%} of {self.window}" if fill is not None else ""))
        if how != "ended" and not got.get("stopped"):
            # told with the next turn, never a reason for one: an agent that fails every turn
            # (no credentials, a broken install) must not be called in a loop
            self.news.note(f"your previous turn ({n}) {how}; what it was doing may be half "
                           "done: check before going on")
        return got

    def fill(self) -> float | None:
        return None if self.context is None else self.context / self.window

    def news_turn(self, first: bool = False) -> None:
        items, info = self.news.take()
        items = self.first + items
        self.first = []
        if first:
            now = newsmod.situation(self.ctx)
            if now:
                info = [*info, *(f"now: {x}" for x in now)]
        head = (f"# git flower: turn {self.turn_no + 1} of orchestrator daemon {self.me} "
                f"(lane {self.lane})\n\n"
                + ("You are starting as the orchestrator: read the charter below, then act on "
                   "what needs you, and end your turn." if first else
                   "What happened since your last turn. Act on what needs you, then end your "
                   "turn; you get a new one when something else does."))
        self.turn(head=head, items=items, info=info, blocks=self.memory(first))

    # -- status -------------------------------------------------------------------------------
    def write_status(self, state: str) -> None:
        head = bstate.read(self.ctx.repo, self.lane)
        orchstatus.write(self.ctx.repo, self.lane, {
            "daemon": self.me, "agent": self.profile.name, "pid": os.getpid(),
            "ident": identity.of(os.getpid()),
            "lane": self.lane, "state": state, "epoch": head.record.get("epoch") if head else None,
            "turns": self.turns_run, "context_tokens": self.context, "window": self.window,
            "fill": self.fill(), "reset_at": self.reset_at, "session": self.session,
            "successions": self.successions[-5:], "at": dstate.iso()})

    # -- start --------------------------------------------------------------------------------
    def start(self) -> None:
        """Check in, take the baton (taking over from a holder that is gone), first tick,
        first turn with the charter, the scratchpad and whatever was in flight."""
        from flowergit.ops.continuity import baton as bops

        self.become(self.checkin())
        try:
            got = bops.take(self.ctx, lane=self.lane, daemon=self.me)
        except FlowerError:
            self.ds.retire(self.me, why="could not take the baton")
            self.mine.remove(self.me)
            self.me = ""  # nothing to release or retire at the end
            raise
        self.say(got.get("message") or f"daemon {self.me} holds baton {self.lane}")
        if got.get("event") == "takeover" and got.get("from"):
            self.first += self.in_flight(str(got["from"]))
        self.write_status("idle")
        self.tick()
        self.news_turn(first=True)

    def in_flight(self, pred: str) -> list[str]:
        """What a predecessor that is gone was doing: its open turn, told to the first turn."""
        head = self.ds.get(pred)
        if head is None:
            return []
        rec = head.record
        lines = [f"you took lane {self.lane} over from orchestrator daemon {pred}, which is gone "
                 f"({rec.get('agent') or rec.get('role')}); its scratchpad is below"]
        turn = rec.get("turn") if isinstance(rec.get("turn"), dict) else {}
        if turn and not turn.get("ended_at"):
            lines.append(f"daemon {pred} died during its turn {turn.get('n')} (started "
                         f"{turn.get('started_at')}); it was handling:")
            lines += [f"  - (in flight) {x}" for x in turn.get("news") or []] or \
                ["  - (nothing listed)"]
            lines.append("whatever it started there may be half done: check each item "
                         "(`git flower status`, `git flower ps`, `git flower recover` for an "
                         "interrupted merge) before going on")
        if rec.get("state") != "retired":
            try:
                self.ds.retire(pred, by=f"daemon {self.me}",
                               why=f"gone; baton {self.lane} taken over by daemon {self.me}")
            except FlowerError:
                pass
        return lines

    # -- succession ---------------------------------------------------------------------------
    def due(self) -> str | None:
        """Why a succession is due now, or None."""
        head = bstate.read(self.ctx.repo, self.lane)
        if head is not None and head.record.get("state") == bstate.HANDOFF \
                and bstate.holder_of(head) == self.me:
            return "the orchestrator asked for a reset"
        fill = self.fill()
        if fill is not None and fill >= self.reset_at:
            return f"context {fill:.0%} full ({self.context} of {self.window} tokens)"
        return None

    def notes_path(self, did: str) -> str:
        return self.ctx.repo.state_path("packets", f"daemon-{did}-{NOTES_FILE}")

    def succeed(self, why: str) -> None:
        from flowergit.ops.continuity import baton as bops
        from flowergit.ops.continuity import reset

        pred = self.me
        requested = why == "the orchestrator asked for a reset"
        notes = self.notes_path(pred)
        if os.path.exists(notes):
            os.unlink(notes)
        before = self.scratchpad()
        if not requested:
            self.turn(head=f"# git flower: hand-off notes, daemon {pred} (lane {self.lane})\n\n"
                      f"Your context is filling up ({why}): a fresh successor takes over your "
                      "lane now. Write your hand-off notes: what a successor must know first "
                      "(the briefs in flight and what you decided about them, signals you "
                      "claimed and have not completed, anything degraded or odd). Write them "
                      f"to the file {notes} or with `git flower handoff write --lane "
                      f"{self.lane} -F FILE`. Do nothing else, and end your turn.",
                      items=[], info=[], blocks=[])
        if self.lost:
            return
        path = notes if os.path.exists(notes) and os.path.getsize(notes) else None
        wrote = self.scratchpad() != before if not requested else self.scratchpad() is not None
        if path is None and not wrote:
            path = self.fallback_notes(pred, why)
            self.say(f"daemon {pred} left no hand-off notes; git flower wrote the roster as "
                     "its scratchpad")
        head = bstate.read(self.ctx.repo, self.lane)
        if head is None or head.record.get("state") != bstate.HANDOFF:
            reset.request(self.ctx, lane=self.lane, daemon=pred, note=why)
        succ = self.checkin(successor_of=pred)
        self.say(f"succession on lane {self.lane}: daemon {pred} → daemon {succ} ({why})")
        old_session, old_context = self.session, self.context
        self.session, self.context = None, None
        self.become(succ, holder=pred)
        try:
            pad = self.scratchpad_for(path)
            blocks = [self.charter("reset-successor", pred)]
            if pad:
                blocks.append("## The scratchpad your predecessor left\n\n" + newsmod.fenced(pad))
            self.turn(head=f"# git flower: you succeed orchestrator daemon {pred} on lane "
                      f"{self.lane}", items=[], info=[], blocks=blocks, role="orchestrator")
            if self.lost:
                return
            head = bstate.read(self.ctx.repo, self.lane)
            rec = head.record if head else {}
            if bstate.holder_of(head) != succ and str(rec.get("successor") or "") != succ:
                reset.ready(self.ctx, lane=self.lane, daemon=succ)
                self.say(f"daemon {succ}: its agent did not report ready; git flower did")
            head = bstate.read(self.ctx.repo, self.lane)
            if bstate.holder_of(head) != succ:
                self.become(pred)
                reset.handoff(self.ctx, lane=self.lane, daemon=pred, path=path)
            self.become(succ)
            got = reset.retire(self.ctx, lane=self.lane, daemon=succ, predecessor=pred)
        except FlowerError as e:
            self.say(f"succession failed: {e.message}; daemon {pred} keeps lane {self.lane}")
            self.session, self.context = old_session, old_context
            self.become(pred)
            try:
                bops.take(self.ctx, lane=self.lane, daemon=pred)  # cancels the hand-off
            except FlowerError as e2:
                self.say(f"fatal: {e2.message}")
                raise Lost() from None
            try:
                self.ds.retire(succ, why=f"the succession failed: {e.message}")
            except FlowerError:
                pass
            return
        if pred in self.mine:
            self.mine.remove(pred)
        self.successions.append({"from": pred, "to": succ, "epoch": got.get("epoch"),
                                 "why": why, "at": dstate.iso()})
        self.say(got["message"])
        self.write_status("idle")

    def scratchpad_for(self, path: str | None) -> str | None:
        if path is not None:
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    return f.read()
            except OSError:
                return None
        return self.scratchpad()

    def fallback_notes(self, pred: str, why: str) -> str:
        """The hand-off notes git flower writes when the agent wrote none: the roster."""
        from flowergit.ops.dispatch.paths import write_file

        path = self.notes_path(pred)
        write_file(path, newsmod.roster(self.ctx, self.lane, pred, why,
                                        self.news.items + self.news.info))
        return path

    # -- the loop -----------------------------------------------------------------------------
    def loop(self) -> None:
        while not self.stop and self.budget_left():
            self.beat()
            if dstate.mono() >= self.next_tick:
                self.tick()
            if self.stop:
                break
            why = self.due()
            if why is not None:
                self.succeed(why)
            elif self.news or self.first:
                self.news_turn()
                why = self.due()
                if why is not None and not self.stop:
                    self.succeed(why)
            if not self.budget_left():
                break
            time.sleep(min(0.1, max(0.0, self.next_tick - dstate.mono())))

    def finish(self) -> dict[str, Any]:
        from flowergit.ops.continuity import baton as bops

        released = False
        if not self.lost and self.me:
            try:
                bops.release(self.ctx, lane=self.lane, daemon=self.me)
                released = True
            except FlowerError as e:
                self.say(f"release: {e.message}")
        for did in list(self.mine):
            try:
                self.ds.retire(did, why="run ended")
            except FlowerError:
                pass
        orchstatus.clear(self.ctx.repo, self.lane, os.getpid())
        return {"lane": self.lane, "daemon": self.me, "agent": self.profile.name,
                "ticks": self.ticks, "turns": self.turns_run, "released": released,
                "successions": self.successions, "context_tokens": self.context,
                "stopped_by": _signal.Signals(self.stop[0]).name if self.stop else None,
                "message": f"daemon {self.me}: {self.ticks} tick(s), {self.turns_run} turn(s)"
                           + (f", {len(self.successions)} succession(s)" if self.successions
                              else "") + f", baton {self.lane} released"}


def run(ctx: Ctx, *, agent: str, lane: str | None = None, interval: float = 10.0,
        ticks: int | None = None, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Drive the orchestrating agent ``agent`` on ``lane`` until SIGINT/SIGTERM (or ``ticks``
    ticks): see the module's docstring."""
    if interval <= 0:
        raise UsageError("--interval must be a positive number of seconds")
    ln = bstate.lane_name(lane)
    profile = turns.profile_for(ctx, agent)
    def to_stderr(text: str) -> None:
        sys.stderr.write(text + "\n")

    d = Driver(ctx, profile, ln, interval, say or to_stderr)
    d.tick_budget = ticks

    def handler(signum: int, frame: Any) -> None:
        d.stop.append(signum)

    old = {s: _signal.signal(s, handler) for s in (_signal.SIGINT, _signal.SIGTERM)}
    try:
        d.start()
        d.loop()
    except Lost:
        d.lost = True
    finally:
        for s, h in old.items():
            _signal.signal(s, h)
        if d.me:
            out = d.finish()
    if d.lost:
        raise Conflict(f"lost the baton: daemon {d.me} was replaced on lane {ln}; stopped",
                       "another orchestrator holds the lane now")
    if d.stop and d.stop[0] == _signal.SIGINT:
        out["interrupted"] = True
    return out
