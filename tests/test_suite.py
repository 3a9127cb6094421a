"""`git flower test` and the suite runner: counts, timeouts, whole-tree kills, attestations."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from conftest import flower, git
from merge_helpers import finished, setup_repo
from flowergit.procs.suite import from_junit, from_summary


def test_counts_from_junit_and_attestation_reused_for_the_same_tree(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    suite = f'''#!/usr/bin/env python3
import sys
open({str(counter)!r}, "a").write("run\\n")
cases = "".join(f'<testcase name="c{{i}}">' + ("<skipped/>" if i < 2 else "") + "</testcase>"
                for i in range(1276))
open(sys.argv[1], "w").write('<testsuites><testsuite name="s">' + cases + '</testsuite></testsuites>')
'''
    repo = setup_repo(tmp_path, suite=suite)
    r = flower(repo, "test", "--json")
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)["data"]
    assert (rec["tests"], rec["passed"], rec["skipped"], rec["failed"]) == (1276, 1274, 2, 0)
    assert rec["counts_from"] == "junit" and rec["ok"] is True
    assert rec["tree"] == git(repo, "rev-parse", "HEAD^{tree}").stdout.strip()
    assert Path(rec["log"]).is_file()
    # the attestation sits on the tree in refs/notes/flower
    note = git(repo, "notes", "--ref=flower", "show", rec["tree"]).stdout
    line = json.loads(note.splitlines()[0])
    assert line["kind"] == "suite" and line["tests"] == 1276 and line["v"] == 1
    # a new commit with the same tree is not tested again
    git(repo, "commit", "-q", "--allow-empty", "-m", "same tree")
    r = flower(repo, "test")
    assert r.returncode == 0 and "not run again" in r.stdout
    assert counter.read_text().count("run") == 1
    assert flower(repo, "test", "--force").returncode == 0
    assert counter.read_text().count("run") == 2


def test_red_suite_exit_5_with_counts_and_log(tmp_path: Path) -> None:
    suite = "#!/bin/sh\necho '===== 3 failed, 5 passed, 1 skipped in 0.20s ====='\nexit 1\n"
    repo = setup_repo(tmp_path, suite=suite)
    r = flower(repo, "test")
    assert r.returncode == 5
    assert "3 failed" in r.stderr and "5 passed" in r.stderr and "log:" in r.stderr


@pytest.mark.slow
def test_hanging_forking_flooding_suite_is_killed_at_its_timeout(tmp_path: Path) -> None:
    """Scenario 6: sleeps, forks a child that ignores SIGTERM, floods 200 MB; no process left."""
    pids = tmp_path / "pids"
    suite = f'''#!/usr/bin/env python3
import os, signal, sys, time
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.setsid()  # even one that leaves the process group
    open({str(pids)!r}, "a").write(f"{{os.getpid()}}\\n")
    time.sleep(600)
    os._exit(0)
open({str(pids)!r}, "a").write(f"{{os.getpid()}}\\n")
chunk = b"x" * (1 << 20)
for _ in range(200):
    sys.stdout.buffer.write(chunk)
sys.stdout.flush()
time.sleep(600)
'''
    repo = setup_repo(tmp_path, suite=suite, timeout=4)
    bid = finished(repo, "work", {"a.txt": "a\n"})
    main = git(repo, "rev-parse", "main").stdout.strip()
    r = flower(repo, "merge", str(bid), timeout=90)
    assert r.returncode == 5, r.stderr
    assert "timed out after 4s" in r.stderr
    assert git(repo, "rev-parse", "main").stdout.strip() == main
    deadline = time.monotonic() + 10
    left = [int(p) for p in pids.read_text().split()]
    assert len(left) == 2
    while True:
        alive = []
        for pid in left:
            try:
                os.kill(pid, 0)
                st = Path(f"/proc/{pid}/stat").read_text().split()[2]
                if st != "Z":
                    alive.append(pid)
            except (ProcessLookupError, FileNotFoundError):
                pass
        if not alive:
            break
        assert time.monotonic() < deadline, f"still alive: {alive}"
        time.sleep(0.05)
    log = r.stderr.split("log: ")[1].split()[0].rstrip(";")
    assert os.path.getsize(log) >= 200 * (1 << 20)
    os.unlink(log)


def test_untrusted_suite_command_is_refused(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    with open(repo / ".flower.toml", "a") as f:
        f.write("# changed\n")
    r = flower(repo, "test")
    assert r.returncode == 2 and "untrusted" in r.stderr


def test_partial_run_is_a_failure(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, suite="#!/bin/sh\necho started\nexit 0\n")
    r = flower(repo, "test")
    assert r.returncode == 5 and "partial run" in r.stderr


def test_bad_revision(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    assert flower(repo, "test", "nope").returncode == 3
    assert flower(repo, "test", "--", "-x").returncode in (2, 3)


@pytest.mark.parametrize("text,want", [
    ("=== 1 failed, 1272 passed, 2 skipped, 1 error in 31.2s ===", (1276, 1272, 1, 2, 1)),
    ("1274 passed, 2 skipped in 3.01s", (1276, 1274, 0, 2, 0)),
    ("OK (12 tests, 40 assertions)", (12, 12, 0, 0, 0)),
    ("FAILURES!\nTests: 10, Assertions: 20, Failures: 2, Skipped: 1.", (10, 7, 2, 1, 0)),
    ("test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured\n"
     "test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured", (9, 7, 1, 1, 0)),
    ("=== RUN   TestA\n--- PASS: TestA (0.00s)\n--- FAIL: TestB (0.01s)\n"
     "--- SKIP: TestC (0.00s)\nFAIL\tpkg\t0.02s", (3, 1, 1, 1, 0)),
])
def test_summary_lines(text: str, want: tuple[int, ...]) -> None:
    c = from_summary(text)
    assert c is not None
    assert (c.tests, c.passed, c.failed, c.skipped, c.errors) == want


def test_junit_missing_or_broken(tmp_path: Path) -> None:
    assert from_junit(str(tmp_path / "none.xml")) is None
    bad = tmp_path / "bad.xml"
    bad.write_text("<testsuites><testsuite")
    assert from_junit(str(bad)) is None
    assert from_summary("no summary here") is None


@pytest.mark.slow  # three suite runs
def test_the_kept_scratch_checkout_is_moved_and_holds_exactly_the_tree(tmp_path: Path) -> None:
    """The suite's checkout is kept between runs and moved commit to commit (no second
    `worktree add`), and every file a run left behind, ignored ones too, is gone before the
    next: the suite always sees exactly the tree it tests. A run that finds it in use gets a
    fresh checkout of its own, removed afterwards."""
    seen = tmp_path / "seen"
    suite = f'''#!/usr/bin/env python3
import os, sys
open({str(seen)!r}, "a").write(os.getcwd() + " " + ",".join(sorted(os.listdir("."))) + "\\n")
open("junk.pyc", "w").write("left behind")
os.makedirs("build", exist_ok=True)
open("build/out", "w").write("x")
open(sys.argv[1], "w").write('<testsuite name="s"><testcase name="a"/></testsuite>')
'''
    repo = setup_repo(tmp_path, suite=suite)
    (repo / ".gitignore").write_text("*.pyc\nbuild/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore")
    assert flower(repo, "test").returncode == 0
    (repo / "new.txt").write_text("second\n")
    git(repo, "add", "new.txt")
    git(repo, "commit", "-qm", "second")
    trace = tmp_path / "trace"
    assert flower(repo, "test", env={"GIT_TRACE": str(trace)}).returncode == 0
    calls = [ln for ln in trace.read_text().splitlines() if "built-in: git" in ln]
    assert not [c for c in calls if "worktree add" in c], [c for c in calls if "worktree" in c]
    assert any("checkout -q -f --detach" in c for c in calls), calls
    runs = seen.read_text().splitlines()
    first, second = runs[0].split(" ", 1), runs[1].split(" ", 1)
    assert first[0] == second[0] and first[0].endswith("/flower/scratch/kept")
    assert "junk.pyc" not in second[1] and "build" not in second[1] and "new.txt" in second[1]
    # while another run holds it, a run gets a fresh checkout of its own
    from flowergit.errors import Retry
    from flowergit.gitio.repo import discover
    from flowergit.procs.locks import exclusive

    r = discover(str(repo))
    git(repo, "commit", "-q", "--allow-empty", "-m", "third")
    (repo / "third.txt").write_text("3\n")
    git(repo, "add", "third.txt")
    git(repo, "commit", "-qm", "third tree")
    with exclusive(r.state_path("scratch-kept.mutex"), wait=0, busy=lambda: Retry("busy")):
        assert flower(repo, "test").returncode == 0
    third = seen.read_text().splitlines()[2].split(" ", 1)[0]
    assert "/flower/scratch/test-" in third and not Path(third).exists()
    assert Path(first[0]).is_dir()  # the kept one is still there for the next run


@pytest.mark.slow  # three merges with a suite each
def test_a_merge_tidies_the_kept_checkout_while_it_lands_and_the_next_moves_by_read_tree(
        tmp_path: Path) -> None:
    """A merge cleans the kept checkout in a forked copy while it lands (and waits for it
    before it exits), so the next merge moves it with a two-way `read-tree -m -u` alone, and
    its suite still sees exactly the merged tree. A checkout touched after the tidy (its
    marker gone or naming another commit) is cleaned on the spot, as before."""
    seen = tmp_path / "seen"
    suite = f'''#!/usr/bin/env python3
import os, sys
open({str(seen)!r}, "a").write(",".join(sorted(os.listdir(".")))
                               + " " + open("README.md").read().replace("\\n", "/") + "\\n")
open("junk.pyc", "w").write("left behind")
open("README.md", "a").write("changed by the suite\\n")
open(sys.argv[1], "w").write('<testsuite name="s"><testcase name="a"/></testsuite>')
'''
    repo = setup_repo(tmp_path, suite=suite)
    kept = repo / ".git" / "flower" / "scratch" / "kept"
    tidied = repo / ".git" / "flower" / "scratch" / "kept.tidied"
    first = finished(repo, "first", {"a.txt": "a\n"})
    assert flower(repo, "merge", str(first)).returncode == 0
    # the merge waited for its tidy: the marker names the commit the clean checkout stands on
    assert tidied.read_text().strip() == git(kept, "rev-parse", "HEAD").stdout.strip()
    assert git(kept, "status", "--porcelain", "--ignored").stdout == ""
    second = finished(repo, "second", {"b.txt": "b\n"})
    trace = tmp_path / "trace"
    assert flower(repo, "merge", str(second), env={"GIT_TRACE": str(trace)}).returncode == 0
    calls = [ln.split("built-in: ", 1)[1] for ln in trace.read_text().splitlines()
             if "built-in: git" in ln]
    moved = next(i for i, c in enumerate(calls) if c.startswith("git read-tree -m -u HEAD"))
    assert not [c for c in calls[:moved] if "clean" in c or "checkout" in c], calls[:moved]
    assert any("clean -ffdxq" in c for c in calls[moved:])  # the tidy, after the suite
    runs = seen.read_text().splitlines()
    assert "junk.pyc" not in runs[1] and "b.txt" in runs[1] and "a.txt" in runs[1]
    assert "changed by the suite" not in runs[1]  # a tracked file the last suite changed
    # someone wrote into the kept checkout after its tidy: the marker no longer holds
    (kept / "stray.txt").write_text("x")
    tidied.write_text("0" * 40 + "\n")
    third = finished(repo, "third", {"c.txt": "c\n"})
    assert flower(repo, "merge", str(third)).returncode == 0
    assert "stray.txt" not in seen.read_text().splitlines()[2]
    assert "changed by the suite" not in seen.read_text().splitlines()[2]
    # a checkout made afresh (`recover` removes a killed merge's) drops the tidy's mark, so
    # what a `test` run leaves in it is cleaned before the next merge's suite
    assert tidied.exists()
    import shutil

    shutil.rmtree(kept)
    git(repo, "worktree", "prune")
    assert flower(repo, "test", "--force").returncode == 0
    assert not tidied.exists()
    fourth = finished(repo, "fourth", {"d.txt": "d\n"})
    assert flower(repo, "merge", str(fourth)).returncode == 0
    last = seen.read_text().splitlines()[-1]
    assert "junk.pyc" not in last and "changed by the suite" not in last and "d.txt" in last
    assert (repo / "README.md").read_text() == git(repo, "show", "main:README.md").stdout
