"""Signals: emit, list, claim exactly once (FAULTS.md 23, 24), complete, expiry, auto_dispatch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import flower, flower_json, git, snapshot_state

TESTING = {"FLOWER_TESTING": "1"}


def emit(repo: Path, kind: str = "probe", *args: str) -> str:
    return str(flower_json(repo, "signal", "emit", kind, *args)["id"])  # type: ignore[index]


def test_emit_list_claim_complete_round_trip(repo: Path) -> None:
    sid = emit(repo, "probe", "--data", "lane=main", "--data", "x=1=2")
    assert sid.endswith("-probe")
    items = flower_json(repo, "signal", "list")
    assert [(s["id"], s["state"], s["data"]) for s in items] == [  # type: ignore[index, union-attr]
        (sid, "pending", {"lane": "main", "x": "1=2"})]
    got = flower_json(repo, "signal", "claim", sid)
    assert got["id"] == sid and got["state"] == "claimed"  # type: ignore[index]
    again = flower(repo, "signal", "claim", sid)
    assert again.returncode == 4 and "already claimed by" in again.stderr
    done = flower_json(repo, "signal", "complete", sid)
    assert done["state"] == "completed" and done["already"] is False  # type: ignore[index]
    twice = flower_json(repo, "signal", "complete", sid)
    assert twice["already"] is True  # type: ignore[index]
    moot = flower(repo, "signal", "complete", sid, "--moot")
    assert moot.returncode == 4 and "already completed" in moot.stderr
    assert flower_json(repo, "signal", "list", "--unclaimed") == []
    log = git(repo, "log", "--format=%s", f"refs/flower/claims/{sid}").stdout.split("\n")
    assert log[0].startswith(f"claim {sid}: completed") and log[1].startswith(f"claim {sid}: claimed")


def test_claim_next_is_oldest_first_and_by_kind(repo: Path) -> None:
    a = emit(repo, "alpha")
    b = emit(repo, "beta")
    c = emit(repo, "alpha")
    assert flower_json(repo, "signal", "claim", "--next", "--kind", "alpha")["id"] == a  # type: ignore[index]
    assert flower_json(repo, "signal", "claim", "--next")["id"] == b  # type: ignore[index]
    assert flower_json(repo, "signal", "claim", "--next", "--kind", "alpha")["id"] == c  # type: ignore[index]
    r = flower(repo, "signal", "claim", "--next")
    assert r.returncode == 3 and "no unclaimed signals left" in r.stderr


def test_bad_input_refused_without_writes(repo: Path) -> None:
    before = snapshot_state(repo)
    for args, code in [(("signal", "claim", "../x"), 2), (("signal", "claim", "--next", "--kind", "A B"), 2),
                       (("signal", "emit", "Bad Kind"), 2), (("signal", "emit", "k", "--data", "novalue"), 2),
                       (("signal", "claim", "20990101T000000.000000-00000000-x"), 3),
                       (("signal", "complete", "nope"), 3), (("signal", "emit", "k", "--brief", "١٢"), 2),
                       (("signal", "emit", "k", "--brief", "99"), 3), (("signal", "claim"), 2)]:
        r = flower(repo, *args)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert r.stderr.startswith("fatal: ")
    assert snapshot_state(repo) == before


def test_json_error_envelope_on_lost_claim(repo: Path) -> None:
    sid = emit(repo)
    flower_json(repo, "signal", "claim", sid, env={"FLOWER_DAEMON": "7"})
    r = flower(repo, "signal", "claim", sid, "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 4 and doc["ok"] is False and doc["error"]["code"] == "conflict"
    assert doc["error"]["data"]["by"] == "daemon 7"


def test_expired_signals_are_not_offered(repo: Path) -> None:
    sid = emit(repo)
    later = {**TESTING, "FLOWER_CLOCK_OFFSET": str(86400 + 60)}
    r = flower(repo, "signal", "claim", "--next", env=later)
    assert r.returncode == 3
    r = flower(repo, "signal", "claim", sid, env=later)
    assert r.returncode == 3 and "expired" in r.stderr
    assert flower_json(repo, "signal", "list", env=later)[0]["state"] == "expired"  # type: ignore[index]
    # the clock is only injectable under FLOWER_TESTING=1
    assert flower_json(repo, "signal", "claim", "--next",
                       env={"FLOWER_CLOCK_OFFSET": str(86400 + 60)})["id"] == sid  # type: ignore[index]


def test_complete_unclaimed_claims_it_once(repo: Path) -> None:
    sid = emit(repo)
    got = flower_json(repo, "signal", "complete", sid, "--moot", "-m", "no longer needed")
    assert got["state"] == "moot" and got["claim"]["note"] == "no longer needed"  # type: ignore[index]
    r = flower(repo, "signal", "claim", sid)
    assert r.returncode == 4 and "claimed and moot" in r.stderr


def _claimers(repo: Path, n: int, script: str) -> list[subprocess.CompletedProcess[str]]:
    procs = [subprocess.Popen(["bash", "-c", script], cwd=repo, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(os.environ))
             for _ in range(n)]
    out = []
    for p in procs:
        o, e = p.communicate(timeout=240)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, o, e))
    return out


@pytest.mark.slow  # stress
def test_eight_processes_claim_every_signal_exactly_once(repo: Path) -> None:
    ids = {emit(repo) for _ in range(24)}
    loop = (f"while :; do out=$({sys.executable} -m flowergit signal claim --next --json); rc=$?; "
            "case $rc in 0) echo \"$out\";; 4) ;; 3) exit 0;; *) exit $rc;; esac; done")
    results = _claimers(repo, 8, loop)
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    claimed = [json.loads(line)["data"]["id"] for r in results for line in r.stdout.splitlines()]
    assert sorted(claimed) == sorted(ids)
    assert snapshot_state(repo).locks == ()


@pytest.mark.slow  # stress
def test_thirty_two_claimers_one_signal_one_winner(repo: Path) -> None:
    """FAULTS.md 23: exactly one rc=0; the others exit 4 naming the winner; no lock left."""
    sid = emit(repo)
    results = _claimers(repo, 32, f"exec {sys.executable} -m flowergit signal claim {sid}")
    codes = sorted(r.returncode for r in results)
    assert codes == [0] + [4] * 31
    winner = json.loads(flower(repo, "signal", "list", "--json").stdout)["data"][0]["claim"]["by"]
    assert all(winner in r.stderr for r in results if r.returncode == 4)
    assert snapshot_state(repo).locks == ()


def test_claims_are_unique_by_content(repo: Path) -> None:
    """FAULTS.md 24: two claims of the same signal by the same claimer are different commits."""
    from flowergit.gitio.repo import discover
    from flowergit.state import signals

    r = discover(str(repo))
    sid = emit(repo)
    rec1 = signals._claim_rec(sid, "probe", "claimed", "daemon 1", "1")
    rec2 = signals._claim_rec(sid, "probe", "claimed", "daemon 1", "1")
    c1 = signals._claim_commit(r, rec1, None, "claim")
    c2 = signals._claim_commit(r, rec2, None, "claim")
    assert c1 != c2 and rec1["nonce"] != rec2["nonce"]


def test_plan_of_auto_dispatch_brief_emits_signal(repo: Path) -> None:
    flower_json(repo, "brief", "new", "auto", "--auto")
    flower_json(repo, "brief", "new", "manual")
    planned = flower_json(repo, "brief", "plan", "1")
    flower_json(repo, "brief", "plan", "2")
    sigs = flower_json(repo, "signal", "list", "--kind", "auto_dispatch")
    assert [(s["brief"], s["state"]) for s in sigs] == [(1, "pending")]  # type: ignore[index, union-attr]
    assert planned["signal"] == sigs[0]["id"]  # type: ignore[index]


def test_signal_claim_fast_path_imports_no_heavy_modules(repo: Path) -> None:
    emit(repo)
    code = ("import sys; from flowergit.main import main; rc = main(['signal','claim','--next']); "
            "bad = [m for m in ('typer','rich','tomlkit','pygit2','git') if m in sys.modules]; "
            "print(bad); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def _git_calls(repo: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``git flower ARGS`` and list the git commands it started (GIT_TRACE, not the clock)."""
    trace = repo.parent / f"claim-trace-{os.getpid()}.txt"
    trace.unlink(missing_ok=True)
    r = flower(repo, *args, env={"GIT_TRACE": str(trace)})
    lines = trace.read_text(errors="replace").splitlines() if trace.exists() else []
    trace.unlink(missing_ok=True)
    return r, [ln.split("trace: built-in: git ", 1)[1].split(" ", 1)[0]
               for ln in lines if "trace: built-in: git " in ln]


def test_one_claim_starts_five_git_processes(repo: Path) -> None:
    """Discovery, the ref-name scan, then the read-back's `cat-file --batch` (started early so
    its start-up overlaps the rest), the object write and the create-only transaction: nothing
    per signal, nothing more; and exit 3 costs only discovery and the scan."""
    for _ in range(3):
        emit(repo)
    flower_json(repo, "signal", "claim", "--next")  # fills the git version cache
    r, calls = _git_calls(repo, "signal", "claim", "--next", "--json")
    assert r.returncode == 0, r.stderr
    assert calls[:2] == ["rev-parse", "for-each-ref"], calls
    assert sorted(calls[2:]) == ["cat-file", "unpack-objects", "update-ref"], calls
    # by id: the cat-file that finds the signal also reads the claim back
    sid = str(flower_json(repo, "signal", "list", "--unclaimed")[0]["id"])  # type: ignore[index]
    r, calls = _git_calls(repo, "signal", "claim", sid, "--json")
    assert r.returncode == 0, r.stderr
    assert calls == ["rev-parse", "cat-file", "unpack-objects", "update-ref"], calls
    while flower(repo, "signal", "claim", "--next").returncode == 0:
        pass
    r, calls = _git_calls(repo, "signal", "claim", "--next")
    assert r.returncode == 3 and calls == ["rev-parse", "for-each-ref"], (r.stderr, calls)


def test_claim_next_moves_on_after_a_lost_race_without_a_read_back(repo: Path) -> None:
    """A claimer that loses the oldest signal (claimed between its scan and its transaction)
    takes another one from the same scan; the loss costs a commit and a transaction only."""
    from flowergit.gitio.repo import discover
    from flowergit.state import signals

    ids = [emit(repo) for _ in range(3)]
    r = discover(str(repo))
    real_scan = signals.scan

    def stale_scan(repo_: object) -> tuple[list[tuple[str, str, str]], set[str]]:
        got = real_scan(r)
        if not (repo / ".git" / "raced").exists():
            (repo / ".git" / "raced").write_text("")
            # another claimer wins the oldest after this scan was taken
            assert flower(repo, "signal", "claim", ids[0]).returncode == 0
        return got

    signals.scan = stale_scan  # type: ignore[assignment]
    try:
        got = signals.claim_next(r, kind=None, by="t", daemon=None, expiry=86400.0)
    finally:
        signals.scan = real_scan  # type: ignore[assignment]
    assert got["id"] in ids[1:] and got["state"] == "claimed"
    # the loss is noted, so claims in the next seconds spread out from their first attempt
    assert os.path.exists(r.state_path("cache", "claim-lost"))
    assert signals._recently_contended(r)
    left = flower_json(repo, "signal", "list", "--unclaimed")
    assert len(left) == 1 and left[0]["id"] in ids[1:]  # type: ignore[index]
    # the last one: exactly once, then exit 3 (none left)
    assert flower_json(repo, "signal", "claim", "--next")["id"] == left[0]["id"]  # type: ignore[index]
    assert flower(repo, "signal", "claim", "--next").returncode == 3


@pytest.mark.slow
def test_completing_prunes_signals_that_are_over_and_older_than_expiry(repo: Path) -> None:
    """The scan of `claim --next` stays proportional to recent signals: a completion removes
    the refs of signals emitted and completed (or moot) more than `[signals] expiry` ago (signal
    and claim together), at most once a minute; pending, claimed and recent ones stay."""
    done, moot, held, queued = emit(repo), emit(repo), emit(repo), emit(repo)
    flower_json(repo, "signal", "claim", done)
    flower_json(repo, "signal", "complete", done)
    flower_json(repo, "signal", "complete", moot, "--moot")
    flower_json(repo, "signal", "claim", held)
    names = git(repo, "for-each-ref", "--format=%(refname)", "refs/flower/").stdout.split()
    assert f"refs/flower/claims/{done}" in names  # recent: kept for `signal list`
    later = {**TESTING, "FLOWER_CLOCK_OFFSET": str(2 * 86400)}
    fresh = str(flower_json(repo, "signal", "emit", "probe", env=later)["id"])  # type: ignore[index]
    flower_json(repo, "signal", "complete", fresh, env=later)
    names = git(repo, "for-each-ref", "--format=%(refname)", "refs/flower/").stdout.split()
    for sid in (done, moot):
        assert f"refs/flower/signals/{sid}" not in names and f"refs/flower/claims/{sid}" not in names
    for sid in (held, queued, fresh):
        assert f"refs/flower/signals/{sid}" in names
    assert f"refs/flower/claims/{held}" in names and f"refs/flower/claims/{fresh}" in names
    assert [s["id"] for s in flower_json(repo, "signal", "list", env=later)] == [  # type: ignore[index, union-attr]
        held, queued, fresh]
    # a pruned signal is gone, not claimable: exactly once still holds
    assert flower(repo, "signal", "claim", done).returncode == 3
    # within the minute, another completion does not prune again
    flower_json(repo, "signal", "complete", held, env=later)
    assert f"refs/flower/claims/{held}" in git(repo, "for-each-ref", "refs/flower/claims/").stdout
    assert snapshot_state(repo).locks == ()
