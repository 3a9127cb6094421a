"""SIGKILL at every failpoint of the merge gate, then `git flower recover`: nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import flower, git, slow_after, snapshot_state
from merge_helpers import SUITE, env_fp, finished, notes_of, setup_repo

BEFORE_CAS = ["after_snapshot", "after_merge_commit", "during_tests", "before_stash",
              "after_stash_push", "after_stash", "after_checkout_update"]
AFTER_CAS = ["after_target_cas", "after_pop_before_drop", "after_notes_write"]


def _prepare(tmp_path: Path, suite: str = SUITE) -> tuple[Path, int, int]:
    repo = setup_repo(tmp_path, suite=suite)
    (repo / "code.txt").write_text("".join(f"line {i}\n" for i in range(1, 21)))
    git(repo, "add", "code.txt")
    git(repo, "commit", "-qm", "code")
    text = (repo / "code.txt").read_text()
    bid = finished(repo, "edits bottom", {"code.txt": text.replace("line 20\n", "agent 20\n"),
                                          "agent.txt": "new\n"})
    other = finished(repo, "another", {"other.txt": "o\n"})
    # a foreign stash, then local state of every kind, overlapping the incoming change
    (repo / "foreign.txt").write_text("f\n")
    git(repo, "add", "foreign.txt")
    git(repo, "stash", "push", "-q", "-m", "foreign", "--", "foreign.txt")
    (repo / "code.txt").write_text(text.replace("line 1\n", "staged 1\n"))
    git(repo, "add", "code.txt")
    (repo / "code.txt").write_text(text.replace("line 1\n", "staged 1\n").replace(
        "line 2\n", "unstaged 2\n"))
    (repo / "solo.yml").write_text("local solo\n")
    (repo / "untracked.txt").write_text("u\n")
    (repo / "staged.txt").write_text("s\n")
    git(repo, "add", "staged.txt")
    git(repo, "add", "-N", "ita.txt") if (repo / "ita.txt").write_text("i\n") else None
    return repo, bid, other


def _merge_lines(repo: Path) -> list[dict]:
    out = []
    for ln in git(repo, "notes", "--ref=flower", "list").stdout.splitlines():
        obj = ln.split()[1]
        out += [r for r in notes_of(repo, obj) if r.get("kind") == "merge"]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("point", slow_after(BEFORE_CAS, 1) + slow_after(AFTER_CAS, 1))
def test_sigkill_at_each_failpoint_then_recover(tmp_path: Path, point: str) -> None:
    _kill_then_recover(tmp_path, point)


@pytest.mark.slow
@pytest.mark.parametrize("point", slow_after(["after_merge_commit", "before_stash", "after_stash",
                                              "after_checkout_update", "after_target_cas",
                                              "after_notes_write"]))
def test_sigkill_in_a_merge_without_suite_then_recover(tmp_path: Path, point: str) -> None:
    """--no-test journals the merge once, straight as "landing": every point still recovers."""
    _kill_then_recover(tmp_path, point, "--no-test")


def _kill_then_recover(tmp_path: Path, point: str, *extra: str) -> None:
    repo, bid, other = _prepare(tmp_path)
    refs = ("refs/heads", "refs/flower")
    before = snapshot_state(repo, include_refs=refs)
    main = git(repo, "rev-parse", "main").stdout.strip()
    r = flower(repo, "merge", str(bid), *extra, env=env_fp(f"{point}=kill"))
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    # new work refuses until recovered
    r2 = flower(repo, "merge", str(other))
    assert r2.returncode == 4 and "git flower recover" in r2.stderr and "interrupted" in r2.stderr
    r3 = flower(repo, "recover", "--json")
    assert r3.returncode == 0, r3.stderr
    actions = [x["action"] for x in json.loads(r3.stdout)["data"]]
    after = snapshot_state(repo, include_refs=refs)
    if point in BEFORE_CAS:
        assert actions == ["rolled back"]
        assert after == before
        assert git(repo, "rev-parse", "main").stdout.strip() == main
        assert _merge_lines(repo) == []
    else:
        assert actions == ["finished"]
        merged = git(repo, "rev-parse", "main").stdout.strip()
        assert git(repo, "rev-parse", "main^1").stdout.strip() == main
        code = (repo / "code.txt").read_text()
        assert "staged 1\n" in code and "unstaged 2\n" in code and "agent 20\n" in code
        assert (repo / "solo.yml").read_text() == "local solo\n"
        assert (repo / "untracked.txt").exists() and (repo / "agent.txt").exists()
        assert after.stash == before.stash  # only the foreign entry, once
        lines = _merge_lines(repo)
        assert len(lines) == 1 and lines[0]["brief"] == bid
        assert notes_of(repo, merged)[0]["kind"] == "merge"
        assert "ita.txt" in git(repo, "diff", "--name-only").stdout.split()
    assert not git(repo, "for-each-ref", "refs/flower/recovery").stdout
    # recover twice is harmless
    again = snapshot_state(repo, include_refs=refs)
    r4 = flower(repo, "recover")
    assert r4.returncode == 0 and "nothing to recover" in r4.stdout
    assert snapshot_state(repo, include_refs=refs) == again
    # and new work goes on
    assert flower(repo, "merge", str(other)).returncode == 0


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_recover_stops_an_orphaned_suite(tmp_path: Path) -> None:
    pidfile = tmp_path / "suite.pid"
    suite = ("#!/usr/bin/env python3\nimport os, time\n"
             f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
             "time.sleep(120)\n")
    repo, bid, _ = _prepare(tmp_path, suite=suite)
    before = snapshot_state(repo, include_refs=("refs/heads", "refs/flower"))
    p = subprocess.Popen([sys.executable, "-m", "flowergit", "merge", str(bid)], cwd=repo,
                         env={**os.environ, **env_fp("during_tests=sleep(1)")},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    journal = repo / ".git" / "flower" / "journal"

    def suite_journaled() -> bool:  # the merge has said which suite runs (its "testing" phase)
        return any("suite_pid" in f.read_text() for f in journal.glob("*.json"))

    while not pidfile.exists() or not pidfile.read_text() or not suite_journaled():
        assert time.monotonic() < deadline, "the suite never started"
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    p.kill()
    p.wait(timeout=10)
    os.kill(pid, 0)  # the suite outlived the killed merge
    r = flower(repo, "recover")
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 10
    while _running(pid):
        # a killed orphan stays a zombie until whoever adopted it reaps it (in a container
        # that can take seconds): a zombie runs nothing, so it counts as stopped
        assert time.monotonic() < deadline, "the orphaned suite is still alive"
        time.sleep(0.05)
    assert snapshot_state(repo, include_refs=("refs/heads", "refs/flower")) == before
    assert not list((repo / ".git" / "flower" / "scratch").glob("*"))


@pytest.mark.slow
def test_sigint_spam_during_restore_is_deferred(tmp_path: Path) -> None:
    """Scenario 4: Ctrl-C during the restore waits until the tree is whole, then exit 130."""
    repo, bid, _ = _prepare(tmp_path)
    foreign = git(repo, "stash", "list", "--format=%H").stdout
    journal = repo / ".git" / "flower" / "journal"
    p = subprocess.Popen([sys.executable, "-m", "flowergit", "merge", str(bid)], cwd=repo,
                         env={**os.environ, **env_fp("after_pop_before_drop=sleep(1.5)")},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        phases = [json.loads(f.read_text()).get("phase") for f in journal.glob("*.json")] \
            if journal.is_dir() else []
        if "stashed" in phases:  # the merge is landing, Ctrl-C deferred from here
            break
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.01)
    for _ in range(20):
        if p.poll() is not None:
            break
        os.kill(p.pid, signal.SIGINT)
        time.sleep(0.01)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    code = (repo / "code.txt").read_text()
    assert "staged 1\n" in code and "unstaged 2\n" in code and "agent 20\n" in code
    assert git(repo, "stash", "list", "--format=%H").stdout == foreign
    assert not list(journal.glob("*.json"))
    assert len(_merge_lines(repo)) == 1
    assert flower(repo, "recover").stdout.strip() == "nothing to recover"


def test_failpoints_are_inert_without_testing_flag(tmp_path: Path) -> None:
    repo, bid, _ = _prepare(tmp_path)
    r = flower(repo, "merge", str(bid), env={"FLOWER_FAILPOINTS": "after_snapshot=kill"})
    assert r.returncode == 0, r.stderr


def test_agent_stash_in_its_worktree_is_never_popped(tmp_path: Path) -> None:
    """Finding 4: refs/stash is shared; an agent's entry pushed mid-merge stays untouched."""
    repo, bid, other = _prepare(tmp_path)
    wt = repo.parent / "workers" / str(other)
    (wt / "other.txt").write_text("agent's uncommitted\n")
    git(wt, "stash", "push", "-q", "-m", "agent stash")
    agent_stash = git(repo, "rev-parse", "refs/stash").stdout.strip()
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0, r.stderr
    assert agent_stash in git(repo, "stash", "list", "--format=%H").stdout.split()
    assert (wt / "other.txt").read_text() == "o\n"
    assert "agent 20" in (repo / "code.txt").read_text()


@pytest.mark.slow
def test_agent_stashes_while_our_stash_is_out(tmp_path: Path) -> None:
    """Scenario 12: an agent pushes onto the shared refs/stash between our push and our pop."""
    repo, bid, other = _prepare(tmp_path)
    foreign = git(repo, "stash", "list", "--format=%H").stdout.split()
    journal = repo / ".git" / "flower" / "journal"
    p = subprocess.Popen([sys.executable, "-m", "flowergit", "merge", str(bid)], cwd=repo,
                         env={**os.environ, **env_fp("after_stash=sleep(2)")},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        phases = [json.loads(f.read_text()).get("phase") for f in journal.glob("*.json")] \
            if journal.is_dir() else []
        if "stashed" in phases:
            break
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.01)
    wt = repo.parent / "workers" / str(other)
    (wt / "other.txt").write_text("agent's work in progress\n")
    git(wt, "stash", "push", "-q", "-m", "agent")
    agent = git(repo, "rev-parse", "refs/stash").stdout.strip()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert git(repo, "stash", "list", "--format=%H").stdout.split() == [agent, *foreign]
    code = (repo / "code.txt").read_text()
    assert "staged 1\n" in code and "unstaged 2\n" in code and "agent 20\n" in code
    assert (wt / "other.txt").read_text() == "o\n"


@pytest.mark.slow
def test_a_second_merge_waits_for_one_in_progress(tmp_path: Path) -> None:
    repo, bid, other = _prepare(tmp_path)
    journal = repo / ".git" / "flower" / "journal"
    p = subprocess.Popen([sys.executable, "-m", "flowergit", "merge", str(bid)], cwd=repo,
                         env={**os.environ, **env_fp("after_merge_commit=sleep(3)")},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (journal.is_dir() and list(journal.glob("*.json"))):
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.01)
    r = flower(repo, "merge", str(other))
    assert r.returncode == 4 and "in progress" in r.stderr
    assert flower(repo, "recover").stdout.strip() == "nothing to recover"  # it is not ours
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert flower(repo, "merge", str(other)).returncode == 0
