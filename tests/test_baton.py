"""The baton: one holder among racers, stale and dead holders, PID reuse, a paused holder that
resumes after being replaced, clock skew, fencing, stale locks (FAULTS.md 25-31, 36)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import flower, flower_json, git, snapshot_state


def later(seconds: float) -> dict[str, str]:
    return {"FLOWER_TESTING": "1", "FLOWER_CLOCK_OFFSET": str(seconds)}


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Stand-in daemon processes (real, killable); cleaned up after the test."""
    made: list[subprocess.Popen[bytes]] = []
    yield made
    for p in made:
        try:
            os.kill(p.pid, signal.SIGCONT)
            p.kill()
        except ProcessLookupError:
            pass
        p.wait(timeout=10)


def daemon(repo: Path, procs: list[subprocess.Popen[bytes]], role: str = "orchestrator") -> tuple[str, subprocess.Popen[bytes]]:
    p = subprocess.Popen(["sleep", "300"])
    procs.append(p)
    got = flower_json(repo, "daemon", "checkin", "--role", role, "--pid", str(p.pid))
    return str(got["id"]), p  # type: ignore[index]


def take(repo: Path, did: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return flower(repo, "baton", "take", env={"FLOWER_DAEMON": did, **(env or {})})


def test_racing_orchestrators_one_holder(repo: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """FAULTS.md 25: exactly one takes the baton, the others exit 4 naming the holder."""
    ids = [daemon(repo, procs)[0] for _ in range(6)]
    runs = [subprocess.Popen([sys.executable, "-m", "flowergit", "baton", "take"], cwd=repo,
                             env={**os.environ, "FLOWER_DAEMON": d}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for d in ids]
    res = [(p.wait(timeout=120), p.stderr.read()) for p in runs]  # type: ignore[union-attr]
    winners = [ids[i] for i, (rc, _) in enumerate(res) if rc == 0]
    assert len(winners) == 1
    assert sorted(rc for rc, _ in res) == [0, 4, 4, 4, 4, 4]
    assert all(f"held by daemon {winners[0]}" in err for rc, err in res if rc == 4)
    shown = flower_json(repo, "baton", "show")
    assert shown["holder"] == winners[0] and shown["epoch"] == 1  # type: ignore[index]
    assert snapshot_state(repo).locks == ()


@pytest.mark.slow
def test_release_then_take_bumps_epoch_and_log_reads_as_succession(
        repo: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    a, _ = daemon(repo, procs)
    b, _ = daemon(repo, procs)
    assert take(repo, a).returncode == 0
    assert take(repo, a).returncode == 0  # idempotent for the holder
    r = flower(repo, "baton", "release", env={"FLOWER_DAEMON": b})
    assert r.returncode == 4 and "does not hold" in r.stderr
    assert flower(repo, "baton", "release", env={"FLOWER_DAEMON": a}).returncode == 0
    assert take(repo, b).returncode == 0
    assert flower_json(repo, "baton", "show")["epoch"] == 2  # type: ignore[index]
    log = git(repo, "log", "--format=%s", "refs/flower/baton/main").stdout.splitlines()
    assert log == [f"baton main: epoch 2 held by daemon {b} (take)",
                   f"baton main: epoch 1 released by daemon {a}",
                   f"baton main: epoch 1 held by daemon {a} (take)"]


@pytest.mark.slow
def test_dead_holder_replaced_at_once_by_exactly_one(repo: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """FAULTS.md 26: a holder whose process is provably gone is stale at once; the takeover is a
    CAS from the stale commit, so of several successors exactly one wins."""
    a, pa = daemon(repo, procs)
    assert take(repo, a).returncode == 0
    pa.kill()
    pa.wait(timeout=10)
    ids = [daemon(repo, procs)[0] for _ in range(4)]
    runs = [subprocess.Popen([sys.executable, "-m", "flowergit", "baton", "take"], cwd=repo,
                             env={**os.environ, "FLOWER_DAEMON": d}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for d in ids]
    codes = sorted(p.wait(timeout=120) for p in runs)
    assert codes == [0, 4, 4, 4]
    shown = flower_json(repo, "baton", "show")
    assert shown["epoch"] == 2 and shown["event"] == "takeover" and shown["from"] == a  # type: ignore[index]
    assert "is gone" in shown["why"]  # type: ignore[index]


def test_pid_reuse_is_not_taken_for_the_holder(repo: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """FAULTS.md 27: our own live PID but a wrong start time is a different process: stale."""
    from flowergit.gitio.repo import discover
    from flowergit.state.daemons import DaemonStore

    a, pa = daemon(repo, procs)
    assert take(repo, a).returncode == 0
    ds = DaemonStore(discover(str(repo)))
    rec = ds.get(a).record  # type: ignore[union-attr]
    assert isinstance(rec["ticks"], int)  # the start as the kernel counts it: what is compared
    ds.change(a, "test", "pretend the pid was reused", start=rec["start"] - 1000,
              ticks=rec["ticks"] - 100_000)
    b, _ = daemon(repo, procs)
    assert take(repo, b).returncode == 0


def test_other_host_is_judged_by_lease_only(repo: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """FAULTS.md 27: a PID on another host is never judged dead locally."""
    from flowergit.gitio.repo import discover
    from flowergit.state.daemons import DaemonStore

    a, pa = daemon(repo, procs)
    assert take(repo, a).returncode == 0
    DaemonStore(discover(str(repo))).change(a, "test", "elsewhere", host="elsewhere.invalid")
    pa.kill()
    b, _ = daemon(repo, procs)
    r = take(repo, b)
    assert r.returncode == 4 and f"held by daemon {a}" in r.stderr
    assert take(repo, b, env=later(30)).returncode == 4
    assert take(repo, b, env=later(61)).returncode == 0


@pytest.mark.slow  # seconds of real processes
def test_a_fresh_holder_is_never_taken_over_within_its_lease(
        repo: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """Issue "many machines": a holder's quiet time runs from its take as this observer saw it,
    never from when this clone first heard of its daemon (which may be long ago)."""
    from flowergit.gitio.repo import discover
    from flowergit.state.daemons import DaemonStore

    a, pa = daemon(repo, procs)
    c, _ = daemon(repo, procs)
    b, _ = daemon(repo, procs)
    DaemonStore(discover(str(repo))).change(c, "test", "elsewhere", host="elsewhere.invalid")
    assert take(repo, a).returncode == 0
    assert flower(repo, "daemon", "list").returncode == 0  # this clone sees c (beat 0) now
    pa.kill()
    pa.wait()
    # a minute later c (another machine, no beat since) takes the lane over from dead a ...
    r = take(repo, c, env=later(61))
    assert r.returncode == 0 and "taken over from daemon" in r.stdout, r.stderr
    # ... and is fresh: b cannot take it over at once, only once c's own lease has run out
    r = take(repo, b, env=later(62))
    assert r.returncode == 4 and f"held by daemon {c}" in r.stderr, r.stdout + r.stderr
    assert take(repo, b, env=later(62 + 30)).returncode == 4
    assert take(repo, b, env=later(62 + 61)).returncode == 0


@pytest.mark.slow
def test_paused_holder_cannot_write_after_takeover(repo: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """FAULTS.md 28: SIGSTOP the holder, a successor takes over after the lease, SIGCONT:
    nothing the old holder tries afterwards lands."""
    from flowergit.gitio import refs
    from flowergit.gitio.repo import discover
    from flowergit.state import baton

    a, pa = daemon(repo, procs)
    assert take(repo, a).returncode == 0
    r = discover(str(repo))

    class Caller:
        repo = r
        daemon = a

    prepared = baton.fence_ops(Caller())  # the holder's fence, computed before it is paused
    assert len(prepared) == 1 and prepared[0].verb == "verify"
    os.kill(pa.pid, signal.SIGSTOP)
    b, _ = daemon(repo, procs)
    first = take(repo, b)
    assert first.returncode == 4  # alive as far as we know: the lease has not run out here
    assert take(repo, b, env=later(61)).returncode == 0
    os.kill(pa.pid, signal.SIGCONT)
    before = snapshot_state(repo)
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    with pytest.raises(refs.CasLost):
        refs.transaction(r, [refs.update("refs/heads/stolen", head, None), *prepared])
    with pytest.raises(Exception) as lost:
        baton.fence_ops(Caller())
    assert "lost the baton" in str(lost.value)
    for args in (("tick",), ("baton", "release"), ("reset", "request")):
        res = flower(repo, *args, env={"FLOWER_DAEMON": a})
        assert res.returncode == 4 and "lost the baton" in res.stderr, (args, res.stderr)
    assert snapshot_state(repo) == before


@pytest.mark.slow
def test_clock_skew_causes_no_early_takeover(repo: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """FAULTS.md 29: the holder's clock runs 10 minutes behind (its heartbeat times look old)
    and the observer's runs 10 minutes ahead; neither causes a takeover, because staleness is
    the observer's own clock watching the heartbeat counter, never a remote timestamp."""
    a, _ = daemon(repo, procs)
    behind, ahead = later(-600), later(600)
    assert take(repo, a, env=behind).returncode == 0
    flower_json(repo, "daemon", "beat", a, env=behind)
    b, _ = daemon(repo, procs)
    for _ in range(3):
        r = take(repo, b, env=ahead)
        assert r.returncode == 4, r.stderr
    # the holder keeps beating: the observer's time passing is no reason to take over
    flower_json(repo, "daemon", "beat", a, env=behind)
    assert take(repo, b, env=later(600 + 59)).returncode == 4
    assert take(repo, b, env=later(600 + 59 + 30)).returncode == 4
    # silence for longer than the lease, on the observer's clock: now it may
    assert take(repo, b, env=later(600 + 59 + 61)).returncode == 0


@pytest.mark.slow
def test_stale_lock_is_reported_and_left_alone(repo: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """FAULTS.md 31: a lock left by a crash makes take fail with exit 75; it is not removed."""
    a, _ = daemon(repo, procs)
    lock = repo / ".git" / "refs" / "flower" / "baton" / "main.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    t0 = time.monotonic()
    r = take(repo, a)
    assert r.returncode == 75 and "lock" in r.stderr
    assert lock.exists() and time.monotonic() - t0 < 60


@pytest.mark.slow
def test_lane_names_are_strict(repo: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    a, _ = daemon(repo, procs)
    before = snapshot_state(repo)
    for lane in ("Main", "a/b", "..", "-x", "main.lock"):
        r = flower(repo, "baton", "take", "--lane", lane, env={"FLOWER_DAEMON": a})
        assert r.returncode == 2, (lane, r.stderr)
    r = flower(repo, "baton", "take", env={"FLOWER_DAEMON": "../1"})
    assert r.returncode == 2
    r = flower(repo, "baton", "take")
    assert r.returncode == 2 and "which daemon" in r.stderr
    r = flower(repo, "baton", "take", env={"FLOWER_DAEMON": "99"})
    assert r.returncode == 3
    assert snapshot_state(repo) == before
    assert take(repo, a, env=None).returncode == 0
    assert flower(repo, "baton", "take", "--lane", "docs", env={"FLOWER_DAEMON": a}).returncode == 0
    assert flower_json(repo, "baton", "show", "--lane", "docs")["lane"] == "docs"  # type: ignore[index]


def test_fence_ops_for_holder_stranger_and_nobody(repo: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    from flowergit.gitio.repo import discover
    from flowergit.state import baton

    r = discover(str(repo))
    a, _ = daemon(repo, procs)
    b, _ = daemon(repo, procs)

    class Ctx:
        repo = r
        daemon: str | None = None

    assert baton.fence_ops(Ctx()) == []  # no baton yet
    Ctx.daemon = a
    assert baton.fence_ops(Ctx()) == []
    assert take(repo, a).returncode == 0
    ops = baton.fence_ops(Ctx())
    assert [(o.verb, o.ref) for o in ops] == [("verify", "refs/flower/baton/main")]
    Ctx.daemon = b
    assert baton.fence_ops(Ctx()) == []  # never held it: not fenced
    Ctx.daemon = None
    assert baton.fence_ops(Ctx()) == []
    # a holder that released of its own accord is not "lost"
    assert flower(repo, "baton", "release", env={"FLOWER_DAEMON": a}).returncode == 0
    Ctx.daemon = a
    assert baton.fence_ops(Ctx()) == []
