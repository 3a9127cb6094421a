"""The merge gate's own cost, counted in git processes (GIT_TRACE), never in time: one batch serves
every read, one status of the checkout feeds the collision check and the snapshot, the objects
made before the first ref write go in one `unpack-objects`, and the brief, the dispatch record,
the provenance note (with the suite's attestation) and the recovery anchor are closed in one ref
transaction — with every guarantee of the gate still checked."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from conftest import flower, git, snapshot_state
from merge_helpers import (dirty_local_state, env_fp, finished, notes_of, setup_repo,
                           suite_moving_main)

# one green merge with a suite, a locked worker worktree, a dirty local-only file and local work
# that does not overlap the incoming paths; GIT_TRACE also shows the commands `worktree add` and
# `worktree remove` start themselves (58, then 45, before the merge's own cost was cut; 23 while
# the suite's scratch checkout was removed after each run, where it is now kept); 2 of them are
# the kept checkout's tidy (`clean`, `checkout -f`), run by a forked copy while the merge lands
GREEN_MERGE_GIT_PROCESSES = 24


def traced_merge(repo: Path, bid: int) -> list[str]:
    trace = repo.parent / "merge-trace.txt"
    trace.unlink(missing_ok=True)
    r = flower(repo, "merge", str(bid), "--json", env={"GIT_TRACE": str(trace)})
    assert r.returncode == 0, r.stderr
    lines = trace.read_text(errors="replace").splitlines()
    return [ln.split("trace: built-in: git ", 1)[1] for ln in lines if "trace: built-in: git " in ln]


def count(calls: list[str], prefix: str) -> int:
    return sum(c.startswith(prefix) for c in calls)


def _lock(repo: Path, bid: int) -> Path:
    wt = repo.parent / "workers" / str(bid)
    git(repo, "worktree", "lock", "--reason", f"git flower dispatch {bid}.1", str(wt))
    return wt


def test_one_green_merge_starts_a_fixed_lower_number_of_git_processes(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, release="inline")  # every step in this process, to be counted
    bid = finished(repo, "green work", {"agent.txt": "work\n", "src/new.py": "x = 1\n"})
    wt = _lock(repo, bid)
    dirty_local_state(repo)
    solo = (repo / "solo.yml").read_bytes()
    pre = git(repo, "rev-parse", "main").stdout.strip()
    calls = traced_merge(repo, bid)
    assert len(calls) == GREEN_MERGE_GIT_PROCESSES, calls
    # worker tree (refuse early), the checkout (plan), the checkout again (re-check before landing)
    assert count(calls, "status --porcelain=v2") == 3, calls
    # one snapshot: the index side from the status, the files by one update-index on a copy
    assert count(calls, "write-tree") == 1 and count(calls, "add -A") == 0, calls
    assert count(calls, "update-index --add") == 1, calls
    assert count(calls, "update-index -q --ignore-submodules --refresh") == 0, calls
    assert count(calls, "cat-file --batch") == 1, calls  # the merge's own serves every read
    assert count(calls, "worktree list") == 0, calls  # the checkout's HEAD file says it
    assert count(calls, "rev-parse --path-format=absolute") == 1, calls  # discovery only
    assert count(calls, "commit-tree") == 0 and count(calls, "diff-tree") == 0, calls
    assert count(calls, "ls-files") == 0, calls
    assert count(calls, "worktree prune") == 0, calls
    assert count(calls, "clean -ffdxq") == 1, calls  # the tidy, after the suite
    # anchor, target CAS, and the closing transaction (brief, dispatch, notes, anchor)
    assert count(calls, "update-ref --create-reflog") == 3, calls
    assert count(calls, "unpack-objects") == 2, calls  # before the anchor; before the closing
    # the outcome is the gate's, unchanged
    merged = git(repo, "rev-parse", "main").stdout.strip()
    assert git(repo, "rev-parse", "main^1").stdout.strip() == pre
    assert (repo / "solo.yml").read_bytes() == solo
    assert "local edit" in (repo / "README.md").read_text()
    assert not wt.exists()
    record = json.loads(git(repo, "cat-file", "blob", f"refs/flower/dispatch/{bid}/1:record.json").stdout)
    assert record["state"] == "merged" and record["merge_commit"] == merged
    assert record["worktree_released"] is True
    assert git(repo, "for-each-ref", "refs/flower/recovery/").stdout == ""
    assert not list((repo / ".git" / "flower" / "journal").glob("*.json"))
    # brief, dispatch and anchor in one transaction: one reflog message on both refs
    brief_msg = git(repo, "reflog", "-1", "--format=%gs", "refs/heads/flower/briefs").stdout.strip()
    disp_msg = git(repo, "reflog", "-1", "--format=%gs", f"refs/flower/dispatch/{bid}/1").stdout.strip()
    assert brief_msg == disp_msg == f"brief {bid}: merged (merged into main as {merged[:12]})"
    assert json.loads(flower(repo, "brief", "show", str(bid), "--json").stdout)["data"]["status"] == "merged"
    # the attestation (on the tree) and the provenance (on the merge) share one notes commit
    tree = git(repo, "rev-parse", "main^{tree}").stdout.strip()
    assert [r["kind"] for r in notes_of(repo, merged)] == ["merge"]
    assert [r["kind"] for r in notes_of(repo, tree)] == ["suite"] and notes_of(repo, tree)[0]["ok"]
    assert git(repo, "rev-list", "--count", "refs/notes/flower").stdout.strip() == "1"
    held = git(repo, "ls-tree", "-r", "--name-only", "refs/notes/flower").stdout
    assert {p.replace("/", "") for p in held.split()} == {merged, tree}


def test_a_passing_suite_is_attested_even_when_the_merge_does_not_land(tmp_path: Path) -> None:
    suite = suite_moving_main(tmp_path / "repo")
    repo = setup_repo(tmp_path, suite=suite)
    bid = finished(repo, "green", {"agent.txt": "ok\n"})
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 4 and "moved" in r.stderr, r.stderr
    attested = []
    for ln in git(repo, "notes", "--ref=flower", "list").stdout.splitlines():
        attested += [x for x in notes_of(repo, ln.split()[1]) if x.get("kind") == "suite"]
    assert len(attested) == 1 and attested[0]["ok"] is True, attested
    assert not any(x.get("kind") == "merge" for ln in git(repo, "notes", "--ref=flower", "list")
                   .stdout.splitlines() for x in notes_of(repo, ln.split()[1]))


def test_a_crash_after_a_green_suite_keeps_the_attestation_through_recover(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "green", {"agent.txt": "ok\n"})
    dirty_local_state(repo)
    before = snapshot_state(repo, include_refs=("refs/heads", "refs/flower"))
    r = flower(repo, "merge", str(bid), env=env_fp("after_checkout_update=kill"))
    assert r.returncode == -signal.SIGKILL, r.stderr
    r = flower(repo, "recover", "--json")
    assert r.returncode == 0, r.stderr
    assert [x["action"] for x in json.loads(r.stdout)["data"]] == ["rolled back"]
    assert snapshot_state(repo, include_refs=("refs/heads", "refs/flower")) == before
    kinds_seen = [x.get("kind") for ln in git(repo, "notes", "--ref=flower", "list").stdout.splitlines()
                  for x in notes_of(repo, ln.split()[1])]
    assert kinds_seen == ["suite"]
    # the tree passed: merging again reuses the attestation instead of running the suite again
    r = flower(repo, "merge", str(bid), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["suite"]["tests"] == 10
    kinds_seen = [x.get("kind") for ln in git(repo, "notes", "--ref=flower", "list").stdout.splitlines()
                  for x in notes_of(repo, ln.split()[1])]
    assert sorted(kinds_seen) == ["merge", "suite"]


def test_a_worker_tree_that_is_not_clean_is_kept_and_stays_locked(tmp_path: Path) -> None:
    from flowergit.gitio import worktrees
    from flowergit.gitio.repo import discover

    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"agent.txt": "ok\n"})
    wt = _lock(repo, bid)
    (wt / "left-behind.txt").write_text("not committed\n")
    r = discover(str(repo))
    assert worktrees.release(r, str(wt)) is False
    assert (wt / "left-behind.txt").exists()
    listed = git(repo, "worktree", "list", "--porcelain").stdout
    assert f"locked git flower dispatch {bid}.1" in listed
    os.unlink(wt / "left-behind.txt")
    assert worktrees.release(r, str(wt)) is True
    assert not wt.exists() and str(wt) not in git(repo, "worktree", "list").stdout
