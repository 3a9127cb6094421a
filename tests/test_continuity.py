"""The reset hand-off end to end, interrupted hand-offs (FAULTS.md 30), and the hypothesis state
machine over take/release/handoff/crash/clock and claim/complete (FAULTS.md d.6)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.conftest import flower, flower_json, git, make_repo, until


def later(seconds: float) -> dict[str, str]:
    return {"FLOWER_TESTING": "1", "FLOWER_CLOCK_OFFSET": str(seconds)}


def checkin(repo: Path, pid: int, *extra: str) -> str:
    got = flower_json(repo, "daemon", "checkin", "--role", "orchestrator", "--pid", str(pid), *extra)
    return str(got["id"])  # type: ignore[index]


def test_full_reset_handoff_driven_by_the_successor(repo: Path, sleepers: Any) -> None:
    pa, pb = sleepers(), sleepers()
    a = checkin(repo, pa.pid)
    A, B = {"FLOWER_DAEMON": a}, {}
    assert flower(repo, "baton", "take", env=A).returncode == 0
    (repo / "notes.md").write_text("roster: 2 workers\ndecisions: cap stays 4\n")
    assert flower(repo, "handoff", "write", "-F", "notes.md", env=A).returncode == 0
    req = flower_json(repo, "reset", "request", env=A)
    assert req["state"] == "handoff" and req["holder"] == a  # type: ignore[index]
    b = checkin(repo, pb.pid, "--successor-of", a)
    B = {"FLOWER_DAEMON": b}
    # the predecessor is still in charge until the hand-off: a stranger cannot take over
    r = flower(repo, "baton", "take", env=B)
    assert r.returncode == 4 and f"held by daemon {a}" in r.stderr
    shown = flower(repo, "handoff", "show", env=B)
    assert shown.stdout == "roster: 2 workers\ndecisions: cap stays 4\n"
    ready = flower_json(repo, "reset", "ready", env=B)
    assert ready["successor"] == b  # type: ignore[index]
    # the predecessor has gone quiet: the successor drives the last steps itself
    (repo / "final.md").write_text("final notes from the successor's view\n")
    done = flower_json(repo, "reset", "handoff", "-F", "final.md", env=B)
    assert done["holder"] == b and done["epoch"] == 2 and done["from"] == a  # type: ignore[index]
    # atomically with the scratchpad: the baton names the blob that the briefs branch holds
    blob = git(repo, "rev-parse", "flower/briefs:handoff/main.md").stdout.strip()
    assert done["scratchpad"] == blob  # type: ignore[index]
    retired = flower_json(repo, "reset", "retire", env=B)
    assert retired["retired"] == a  # type: ignore[index]
    states = {s["kind"]: s["state"] for s in flower_json(repo, "signal", "list")}  # type: ignore[union-attr]
    assert states == {"reset": "completed", "successor_ready": "completed"}
    log = git(repo, "log", "--format=%s", "refs/flower/baton/main").stdout.splitlines()
    assert log == [f"baton main: epoch 2 held by daemon {b} (hand-off from daemon {a}, by daemon {b})",
                   f"baton main: epoch 1 daemon {b} ready to succeed daemon {a}",
                   f"baton main: epoch 1 hand-off requested by daemon {a}",
                   f"baton main: epoch 1 held by daemon {a} (take)"]
    hist = flower_json(repo, "handoff", "show", "--history")["history"]  # type: ignore[index]
    assert len(hist) == 2
    # the predecessor cannot act for the lane any more
    r = flower(repo, "tick", env=A)
    assert r.returncode == 4 and "lost the baton" in r.stderr
    assert flower_json(repo, "daemon", "whoami", env=A)["state"] == "retired"  # type: ignore[index]


@pytest.mark.slow
def test_interrupted_handoff_falls_back_to_stale_takeover(repo: Path, sleepers: Any) -> None:
    """FAULTS.md 30: the predecessor asks for a successor and dies: never zero holders for ever."""
    pa = sleepers()
    a = checkin(repo, pa.pid)
    assert flower(repo, "baton", "take", env={"FLOWER_DAEMON": a}).returncode == 0
    assert flower(repo, "reset", "request", env={"FLOWER_DAEMON": a}).returncode == 0
    pa.kill()
    pa.wait()
    c = checkin(repo, sleepers().pid)
    got = flower_json(repo, "baton", "take", env={"FLOWER_DAEMON": c})
    assert got["holder"] == c and got["event"] == "takeover" and got["state"] == "held"  # type: ignore[index]
    # the stale reset signal is tidied by the next tick
    t = flower_json(repo, "tick", env={"FLOWER_DAEMON": c})
    assert any("reset" in m for m in t["mooted"])  # type: ignore[index]


@pytest.mark.slow
def test_successor_dies_before_handoff_holder_keeps_baton(repo: Path, sleepers: Any) -> None:
    pa, pb = sleepers(), sleepers()
    a = checkin(repo, pa.pid)
    A = {"FLOWER_DAEMON": a}
    assert flower(repo, "baton", "take", env=A).returncode == 0
    assert flower(repo, "reset", "request", env=A).returncode == 0
    b = checkin(repo, pb.pid, "--successor-of", a)
    assert flower(repo, "reset", "ready", env={"FLOWER_DAEMON": b}).returncode == 0
    pb.kill()
    pb.wait()
    r = flower(repo, "reset", "handoff", env=A)
    assert r.returncode == 4 and "successor daemon" in r.stderr
    kept = flower_json(repo, "baton", "take", env=A)  # cancel the hand-off
    assert kept["holder"] == a and kept["state"] == "held" and kept["epoch"] == 1  # type: ignore[index]
    r = flower(repo, "reset", "ready", env={"FLOWER_DAEMON": b})
    assert r.returncode == 4


@pytest.mark.slow
def test_a_race_lost_while_signalling_leaves_the_signal_moot(repo: Path, sleepers: Any) -> None:
    """`reset ready` queues its signal, then the holder cancels the hand-off before the
    successor's baton record lands: the compare-and-swap loses, the signal is completed as moot
    (no orchestrator is left to act on it), and the retry finds nothing pending (exit 4)."""
    a = checkin(repo, sleepers().pid)
    A = {"FLOWER_DAEMON": a}
    assert flower(repo, "baton", "take", env=A).returncode == 0
    assert flower(repo, "reset", "request", env=A).returncode == 0
    b = checkin(repo, sleepers().pid, "--successor-of", a)
    env = {**os.environ, "FLOWER_DAEMON": b, "FLOWER_TESTING": "1",
           "FLOWER_FAILPOINTS": "reset_before_record=sleep(3)"}
    p = subprocess.Popen([sys.executable, "-m", "flowergit", "reset", "ready"], cwd=repo, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        until(lambda: any(s["kind"] == "successor_ready" for s in  # type: ignore[index]
                          flower_json(repo, "signal", "list")),  # type: ignore[union-attr]
              what="the successor_ready signal")
        kept = flower_json(repo, "baton", "take", env=A)  # the holder cancels the hand-off
        assert kept["event"] == "cancel"  # type: ignore[index]
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 4 and "no hand-off pending" in err, err
    sigs = {s["kind"]: s for s in flower_json(repo, "signal", "list")}  # type: ignore[union-attr]
    assert sigs["successor_ready"]["state"] == "moot"  # type: ignore[index]
    assert flower_json(repo, "baton", "show")["successor"] is None  # type: ignore[index]


@pytest.mark.slow
def test_handoff_refusals(repo: Path, sleepers: Any) -> None:
    a = checkin(repo, sleepers().pid)
    s = checkin(repo, sleepers().pid)
    A, S = {"FLOWER_DAEMON": a}, {"FLOWER_DAEMON": s}
    assert flower(repo, "reset", "request", env=A).returncode == 3  # nobody has the baton
    assert flower(repo, "baton", "take", env=A).returncode == 0
    assert flower(repo, "reset", "request", env=S).returncode == 4  # not the holder
    assert flower(repo, "reset", "ready", env=S).returncode == 4  # nothing pending
    assert flower(repo, "reset", "handoff", env=A).returncode == 4  # no successor
    assert flower(repo, "reset", "retire", env=A).returncode == 4  # no hand-off happened
    assert flower(repo, "handoff", "show").returncode == 0


# -- the state machine ------------------------------------------------------------------------------
LEASE = 60.0


class ContinuityMachine(RuleBasedStateMachine):
    """Model: baton holder/state/epoch/successor, daemon liveness and last beat on a model clock,
    the claims of a fixed set of signals, and the briefs created. System: a real repository
    driven through the ops layer, real processes for daemons, the injected clock."""

    def __init__(self) -> None:
        super().__init__()
        from flowergit.ops.context import Ctx

        self.dir = Path(tempfile.mkdtemp(prefix="flower-sm-"))
        self.repo = make_repo(self.dir / "repo")
        self.t = 0.0
        os.environ["FLOWER_TESTING"] = "1"
        self._clock()
        self.ctx = Ctx(cwd=str(self.repo)).load()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.crashed: set[str] = set()
        self.last_beat: dict[str, float] = {}
        from flowergit.state.daemons import DaemonStore

        for _ in range(3):
            p = subprocess.Popen(["sleep", "600"])
            d = str(DaemonStore(self.ctx.repo).checkin(role="orchestrator", pid=p.pid).record["id"])
            self.procs[d] = p
            self.last_beat[d] = self.t
        self.ids = sorted(self.procs)
        self.holder: str | None = None
        self.state = "released"
        self.successor: str | None = None
        self.epoch = 0
        self.former: set[str] = set()  # lost the baton other than by their own release
        from flowergit.state import signals

        self.signals = [signals.emit(self.ctx.repo, "work")["id"] for _ in range(4)]
        self.claims: dict[str, str] = {}
        self.completed: set[str] = set()
        self.briefs: set[int] = set()
        self.writes: list[tuple[str, int]] = []

    def _clock(self) -> None:
        os.environ["FLOWER_CLOCK_OFFSET"] = str(self.t)

    def teardown(self) -> None:
        for p in self.procs.values():
            p.kill()
            p.wait(timeout=10)
        os.environ.pop("FLOWER_CLOCK_OFFSET", None)
        os.environ.pop("FLOWER_TESTING", None)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _gone(self, d: str) -> bool:
        return d in self.crashed

    def _may_be_stale(self, d: str) -> bool:
        return d in self.crashed or self.t - self.last_beat[d] > LEASE

    # -- baton ----------------------------------------------------------------------------------
    @rule(i=st.integers(0, 2))
    def take(self, i: int) -> None:
        from flowergit.errors import Conflict
        from flowergit.ops.continuity import baton

        d = self.ids[i]
        try:
            got = baton.take(self.ctx, daemon=d)
        except Conflict:
            assert self.holder is not None and self.holder != d
            assert not self._gone(self.holder), "a dead holder must be replaceable at once"
            return
        prev = self.holder
        if prev is not None and prev != d:
            assert self._may_be_stale(prev), "took over from a holder that beat within its lease"
            self.former.add(prev)
        if prev != d:
            self.epoch += 1
        self.holder, self.state, self.successor = d, "held", None
        assert got["holder"] == d and got["epoch"] == self.epoch

    @rule(i=st.integers(0, 2))
    def release(self, i: int) -> None:
        from flowergit.errors import Conflict, NotFound
        from flowergit.ops.continuity import baton

        d = self.ids[i]
        try:
            baton.release(self.ctx, daemon=d)
        except NotFound:
            assert self.epoch == 0
            return
        except Conflict:
            assert self.holder is not None and self.holder != d
            return
        if self.holder == d:
            self.holder, self.state, self.successor = None, "released", None
            self.former.discard(d)
        else:
            assert self.holder is None

    @rule(i=st.integers(0, 2))
    def request_reset(self, i: int) -> None:
        from flowergit.errors import Conflict, NotFound
        from flowergit.ops.continuity import reset

        d = self.ids[i]
        try:
            reset.request(self.ctx, daemon=d)
        except (Conflict, NotFound):
            assert self.holder != d
            return
        assert self.holder == d
        if self.state != "handoff":
            self.state, self.successor = "handoff", None

    @rule(i=st.integers(0, 2))
    def ready(self, i: int) -> None:
        from flowergit.errors import Conflict, NotFound
        from flowergit.ops.continuity import reset

        d = self.ids[i]
        try:
            reset.ready(self.ctx, daemon=d)
        except (Conflict, NotFound):
            return
        if self.holder != d:
            assert self.state == "handoff"
            self.successor = d

    @rule(i=st.integers(0, 2))
    def handoff(self, i: int) -> None:
        from flowergit.errors import Conflict, NotFound
        from flowergit.ops.continuity import reset

        d = self.ids[i]
        try:
            got = reset.handoff(self.ctx, daemon=d)
        except (Conflict, NotFound):
            return
        if got["holder"] == self.holder:  # already handed over
            return
        assert self.state == "handoff" and self.successor is not None
        assert d in (self.holder, self.successor)
        assert not self._gone(self.successor)
        self.former.add(self.holder)  # type: ignore[arg-type]
        self.holder, self.state, self.successor = self.successor, "held", None
        self.former.discard(self.holder)
        self.epoch += 1
        assert got["holder"] == self.holder and got["epoch"] == self.epoch

    @rule(i=st.integers(0, 2))
    def fenced_write(self, i: int) -> None:
        """A state write carrying the caller's fence lands only for the current holder."""
        from flowergit.errors import Conflict
        from flowergit.gitio import refs
        from flowergit.state import baton

        d = self.ids[i]

        class Caller:
            repo = self.ctx.repo
            daemon = d

        try:
            fence = baton.fence_ops(Caller())
        except Conflict:
            assert d in self.former and self.holder != d
            return
        if not fence:
            assert self.holder != d
            return
        assert self.holder == d
        n = len(self.writes)
        head = git(self.repo, "rev-parse", "HEAD").stdout.strip()
        refs.transaction(self.ctx.repo, [refs.create(f"refs/flower/test/w{n}", head), *fence])
        self.writes.append((d, self.epoch))

    # -- daemons and the clock ------------------------------------------------------------------
    @rule(i=st.integers(0, 2))
    def beat(self, i: int) -> None:
        from flowergit.state.daemons import DaemonStore

        d = self.ids[i]
        if d in self.crashed:
            return
        DaemonStore(self.ctx.repo).beat(d)
        self.last_beat[d] = self.t

    @rule(i=st.integers(0, 2))
    def crash(self, i: int) -> None:
        d = self.ids[i]
        if d in self.crashed:
            return
        p = self.procs[d]
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        self.crashed.add(d)

    @rule(dt=st.sampled_from([1.0, 30.0, 61.0, 200.0]))
    def advance_clock(self, dt: float) -> None:
        self.t += dt
        self._clock()

    # -- signals and briefs ---------------------------------------------------------------------
    @rule(i=st.integers(0, 2), k=st.integers(0, 3))
    def claim(self, i: int, k: int) -> None:
        from flowergit.errors import Conflict
        from flowergit.state import signals

        d, sid = self.ids[i], self.signals[k]
        try:
            signals.claim(self.ctx.repo, sid, by=f"daemon {d}", daemon=d, expiry=10**9)
        except Conflict:
            assert sid in self.claims
            return
        assert sid not in self.claims, "a signal was claimed twice"
        self.claims[sid] = d

    @rule(i=st.integers(0, 2), k=st.integers(0, 3))
    def complete(self, i: int, k: int) -> None:
        from flowergit.errors import Conflict
        from flowergit.state import signals

        d, sid = self.ids[i], self.signals[k]
        try:
            got = signals.complete(self.ctx.repo, sid, by=f"daemon {d}", daemon=d)
        except Conflict:
            owner = self.claims.get(sid)
            assert owner is not None and owner != d and not self._may_be_stale(owner) \
                or sid in self.completed
            return
        self.claims.setdefault(sid, d)
        self.completed.add(sid)
        assert got["state"] == "completed"

    @rule()
    def new_brief(self) -> None:
        from flowergit.ops import briefs

        got = briefs.new(self.ctx, title=f"brief {len(self.briefs) + 1}", auto=True)
        self.briefs.add(int(got["id"]))
        briefs.plan(self.ctx, int(got["id"]))

    # -- invariants -----------------------------------------------------------------------------
    @invariant()
    def at_most_one_holder_and_it_matches(self) -> None:
        from flowergit.state import baton

        head = baton.read(self.ctx.repo, "main")
        assert baton.holder_of(head) == self.holder
        if head is not None:
            assert head.record["epoch"] == self.epoch
            assert head.record["state"] == self.state

    @invariant()
    def every_signal_claimed_at_most_once(self) -> None:
        from flowergit.gitio import refs

        claimed = refs.list_refs(self.ctx.repo, "refs/flower/claims/")
        mine = {k.rsplit("/", 1)[1] for k in claimed} & set(self.signals)
        assert mine == set(self.claims)

    @invariant()
    def no_brief_lost(self) -> None:
        if not self.briefs:
            return
        names = git(self.repo, "ls-tree", "-r", "--name-only", "flower/briefs", "--", "briefs")
        listed = {int(n.rsplit("/", 1)[1][:-3]) for n in names.stdout.split()}
        assert listed == self.briefs

    @invariant()
    def fenced_writes_only_by_holders(self) -> None:
        epochs: dict[int, str] = {}
        for d, e in self.writes:
            assert epochs.setdefault(e, d) == d, "two daemons wrote under one epoch"


@pytest.mark.slow  # state machine
def test_continuity_state_machine(hermetic: Path) -> None:
    run_state_machine_as_test(
        ContinuityMachine,
        settings=settings(max_examples=int(os.environ.get("FLOWER_SM_EXAMPLES", "5")),
                          stateful_step_count=12, deadline=None, derandomize=True,
                          suppress_health_check=list(HealthCheck)))
