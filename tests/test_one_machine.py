"""Nothing lost on one machine (FAULTS 66, 69 and the untried list of issue 14): operations in
progress in the checkout a merge would touch, resource exhaustion, odd repository shapes, and
SIGKILLs of state writers. Every scenario ends with the "nothing lost" oracle."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import flower, flower_json, git, make_repo, slow_after, snapshot_state, write_exe
from merge_helpers import finished, setup_repo, wait_released

DATES = {"GIT_AUTHOR_DATE": "2026-11-20T10:00:00Z", "GIT_COMMITTER_DATE": "2026-11-20T10:00:00Z"}


def rev(repo: Path, name: str) -> str:
    return git(repo, "rev-parse", name).stdout.strip()


def commit(repo: Path, path: str, text: str, msg: str) -> str:
    (repo / path).write_text(text)
    git(repo, "add", path)
    git(repo, "commit", "-qm", msg, env=DATES)
    return rev(repo, "HEAD")


def state(repo: Path) -> object:
    """The "nothing lost" oracle, also for an index with unmerged entries (mid-operation):
    `snapshot_state` with the index's stages in place of its tree, plus the operation's files."""
    if git(repo, "ls-files", "-u").stdout == "":
        return snapshot_state(repo), _op_files(repo)
    import hashlib

    files = []
    for dirpath, dirnames, filenames in os.walk(repo):
        if ".git" in dirnames:
            dirnames.remove(".git")
        for fn in filenames:
            p = Path(dirpath) / fn
            files.append((str(p.relative_to(repo)), hashlib.sha256(p.read_bytes()).hexdigest()))
    return (git(repo, "ls-files", "-s").stdout, git(repo, "rev-parse", "HEAD").stdout,
            git(repo, "for-each-ref").stdout, git(repo, "worktree", "list").stdout,
            sorted(files), _op_files(repo))


def _op_files(repo: Path) -> list[str]:
    gd = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-dir").stdout.strip())
    return sorted(str(p.relative_to(gd)) for p in gd.rglob("*")
                  if (p.name.isupper() or "rebase" in p.name or "sequencer" in str(p))
                  and "flower" not in p.parts)


def refused(repo: Path, bid: int, *, finish: str) -> None:
    """`merge` exits 4, names the operation and how to finish it, and changes nothing."""
    before = state(repo)
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 4, r.stderr
    assert "in progress" in r.stderr and finish in r.stderr, r.stderr
    assert "\nhint: " in r.stderr and "internal error" not in r.stderr
    assert state(repo) == before


# -- FAULTS 66: an operation in progress -------------------------------------------------------
def _rebase_conflict(tmp_path: Path) -> tuple[Path, int, str]:
    """The user is on main in a conflicted `git rebase side` (HEAD detached)."""
    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"agent.txt": "agent\n"})
    commit(repo, "x.txt", "base\n", "x base")
    git(repo, "branch", "side")
    git(repo, "switch", "-q", "side")
    commit(repo, "x.txt", "side\n", "x on side")
    git(repo, "switch", "-q", "main")
    mine = commit(repo, "x.txt", "main\n", "x on main")
    r = git(repo, "rebase", "side", check=False, env=DATES)
    assert r.returncode != 0 and (repo / ".git" / "rebase-merge").is_dir()
    assert git(repo, "symbolic-ref", "-q", "HEAD", check=False).returncode != 0  # detached
    return repo, bid, mine


@pytest.mark.slow
@pytest.mark.parametrize("then", ["abort", "continue"])
def test_merge_refused_mid_rebase_and_the_rebase_ends_as_git_alone_would(
        tmp_path: Path, then: str) -> None:
    repo, bid, mine = _rebase_conflict(tmp_path)
    alone = tmp_path / "alone"
    shutil.copytree(repo, alone, symlinks=True)  # the same repository, without git flower
    refused(repo, bid, finish="`git rebase --continue` or `git rebase --abort`")
    assert rev(repo, "main") == mine
    for r in (repo, alone):
        if then == "abort":
            git(r, "rebase", "--abort")
        else:
            (r / "x.txt").write_text("resolved\n")
            git(r, "add", "x.txt")
            git(r, "rebase", "--continue", env={**DATES, "GIT_EDITOR": "true"})
    assert rev(repo, "main") == rev(alone, "main")
    assert git(repo, "log", "--format=%H %T %s", "main").stdout == \
        git(alone, "log", "--format=%H %T %s", "main").stdout
    assert git(repo, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/main"
    if then == "abort":
        assert rev(repo, "main") == mine
    # once it is over, the merge lands on top of what the user finished with
    before = rev(repo, "main")
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0, r.stderr
    assert git(repo, "rev-parse", "main^1").stdout.strip() == before


def _edit_stop(repo: Path) -> None:
    git(repo, "rebase", "-q", "-i", "HEAD~2",
        env={"GIT_SEQUENCE_EDITOR": "sed -i '1s/^pick/edit/'"})
    assert Path(git(repo, "rev-parse", "--path-format=absolute", "--git-path",
                    "rebase-merge").stdout.strip()).is_dir()


def _bisect(repo: Path) -> None:
    git(repo, "bisect", "start")
    git(repo, "bisect", "bad", "HEAD")
    git(repo, "bisect", "good", "HEAD~2")


def _am(repo: Path) -> None:
    patch = git(repo, "format-patch", "-1", "--stdout", "HEAD").stdout
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    (repo / "n3.txt").write_text("in the way\n")
    git(repo, "add", "n3.txt")
    git(repo, "commit", "-qm", "in the way")
    r = git(repo, "am", check=False, input=patch.encode())
    assert r.returncode != 0 and (repo / ".git" / "rebase-apply" / "applying").exists()


def _cherry_pick(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "other", "HEAD~2")
    commit(repo, "n2.txt", "other\n", "n2 other")
    git(repo, "switch", "-q", "main")
    r = git(repo, "cherry-pick", "other", check=False)
    assert r.returncode != 0


def _cherry_pick_sequence(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "other", "HEAD~2")
    commit(repo, "o1.txt", "1\n", "o1")
    commit(repo, "n2.txt", "other\n", "n2 other")
    commit(repo, "o3.txt", "3\n", "o3")
    git(repo, "switch", "-q", "main")
    r = git(repo, "cherry-pick", "main..other", check=False)
    assert r.returncode != 0 and (repo / ".git" / "sequencer").is_dir()


def _revert(repo: Path) -> None:
    commit(repo, "n3.txt", "changed again\n", "n3 again")
    r = git(repo, "revert", "--no-edit", "HEAD~1", check=False)
    assert r.returncode != 0


def _merge(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "other", "HEAD~1")
    commit(repo, "n3.txt", "other\n", "n3 other")
    git(repo, "switch", "-q", "main")
    r = git(repo, "merge", "--no-edit", "other", check=False)
    assert r.returncode != 0


@pytest.mark.slow
@pytest.mark.parametrize("start,finish", [
    (_edit_stop, "`git rebase --continue` or `git rebase --abort`"),
    (_bisect, "`git bisect reset`"),
    (_am, "`git am --continue` or `git am --abort`"),
    (_cherry_pick, "`git cherry-pick --continue` or `git cherry-pick --abort`"),
    (_cherry_pick_sequence, "`git cherry-pick --continue` or `git cherry-pick --abort`"),
    (_revert, "`git revert --continue` or `git revert --abort`"),
    (_merge, "`git merge --continue` or `git merge --abort`"),
], ids=["rebase-edit", "bisect", "am", "cherry-pick", "sequencer", "revert", "merge"])
def test_every_operation_in_progress_is_refused(tmp_path: Path, start, finish: str) -> None:  # type: ignore[no-untyped-def]
    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"agent.txt": "agent\n"})
    for k in (1, 2, 3):
        commit(repo, f"n{k}.txt", f"{k}\n", f"n{k}")
    start(repo)
    refused(repo, bid, finish=finish)


def test_a_rebase_of_main_in_a_linked_worktree_holds_main(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"agent.txt": "agent\n"})
    for k in (1, 2, 3):
        commit(repo, f"n{k}.txt", f"{k}\n", f"n{k}")
    git(repo, "switch", "-q", "-c", "elsewhere")
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", str(linked), "main")
    _edit_stop(linked)
    refused(repo, bid, finish=f"`git rebase --abort` in {linked}")
    git(linked, "rebase", "--abort")
    assert flower(repo, "merge", str(bid)).returncode == 0


def test_clean_leaves_a_worker_branch_that_is_being_rebased(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"agent.txt": "agent\n"})
    assert flower(repo, "merge", str(bid)).returncode == 0
    wait_released(repo, bid)
    wt = tmp_path / "workers" / str(bid)
    if not wt.is_dir():  # released by the merge: the user checks the branch out there again
        git(repo, "worktree", "add", "-q", str(wt), f"flower/{bid}-work")
    _edit_stop(wt)  # an interactive rebase of the worker branch, stopped at `edit`
    before = snapshot_state(repo)
    r = flower(repo, "clean")
    assert "rebase" in r.stdout + r.stderr and "internal error" not in r.stderr
    assert snapshot_state(repo).refs == before.refs and wt.is_dir()


# -- issue 14: smaller shapes --------------------------------------------------------------------
def test_merge_of_a_merged_and_cleaned_brief_says_so_exit_0(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"agent.txt": "agent\n"})
    assert flower(repo, "merge", str(bid)).returncode == 0
    assert flower(repo, "clean").returncode == 0
    before = snapshot_state(repo)
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0, r.stderr
    assert "already merged" in r.stdout
    assert snapshot_state(repo) == before


def test_a_worktrees_root_that_is_a_file_is_a_usage_error(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "in-the-way").write_text("a file\n")
    with open(repo / ".flower.toml", "a") as f:
        f.write("")
    cfg = (repo / ".flower.toml").read_text()
    cfg = cfg.replace('worktrees = "../{repo}.flower"', 'worktrees = "../in-the-way"') \
        if 'worktrees = "' in cfg else cfg.replace("[flower]\n", '[flower]\nworktrees = "../in-the-way"\n')
    (repo / ".flower.toml").write_text(cfg)
    assert 'worktrees = "../in-the-way"' in cfg
    git(repo, "commit", "-qam", "worktrees root")
    bid = flower_json(repo, "brief", "new", "w")["id"]  # type: ignore[index]
    before = snapshot_state(repo, include_refs=("refs/heads",))
    r = flower(repo, "dispatch", str(bid), "--agent", "script")
    assert r.returncode == 2, r.stderr
    assert "in-the-way" in r.stderr and "hint:" in r.stderr and "internal error" not in r.stderr
    after = snapshot_state(repo, include_refs=("refs/heads",))
    assert after.refs == before.refs and after.files == before.files  # no branch, no worktree
    assert after.worktrees == before.worktrees


def test_a_worker_daemon_runs_in_its_own_worktree(repo: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    agent = write_exe(tmp_path / "bin" / "fake-agent",
                      f"#!/bin/sh\npwd > {seen}.tmp\ngit symbolic-ref HEAD >> {seen}.tmp\n"
                      f"mv {seen}.tmp {seen}\n")
    with open(repo / ".flower.toml", "a") as f:
        f.write(f'\n[agents.fake]\ncommand = ["{agent}", "{{bootstrap}}"]\n')
    (repo / "solo.yml").write_text("the user's local edit\n")
    assert flower(repo, "trust").returncode == 0
    d = flower_json(repo, "daemon", "spawn", "--role", "worker", "--agent", "fake")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not seen.exists():
        time.sleep(0.05)
    cwd, head = seen.read_text().splitlines()
    assert os.path.realpath(cwd) != os.path.realpath(repo)
    assert head == f"refs/heads/flower/daemon-{d['id']}"  # type: ignore[index]
    assert git(repo, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/main"
    assert (repo / "solo.yml").read_text() == "the user's local edit\n"


# -- FAULTS 69: the disk fills, descriptors and file sizes run out -----------------------------
WORKER = """#!/bin/sh
set -e
echo "w" >"w-$FLOWER_BRIEF.txt"
git add -A
git commit -qm "work $FLOWER_BRIEF"
"""


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs of its own (root only; skipped where mounting is not permitted)."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)],
                       capture_output=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def fill(fs: Path, free_kib: int) -> Path:
    """Leave about ``free_kib`` KiB free on ``fs`` (the filler file is the caller's to delete)."""
    filler = fs / "filler"
    filler.unlink(missing_ok=True)
    st = os.statvfs(fs)
    size = st.f_bavail * st.f_frsize - free_kib * 1024
    with open(filler, "wb") as f:
        try:
            f.write(b"\0" * max(0, size))
        except OSError:
            pass
    return filler


def _full_disk_repo(tmp_path: Path, fs: Path) -> tuple[Path, int, int]:
    """On ``fs``: a repository with a suite, a worker agent, a finished dispatch to merge, a
    brief to dispatch; its remote (outside ``fs``) holds a brief made by another clone."""
    repo = setup_repo(fs)
    exe = write_exe(tmp_path / "bin" / "worker", WORKER)
    with open(repo / ".flower.toml", "a") as f:
        f.write(f'\n[agents.worker]\ncommand = ["{exe}"]\n')
    git(repo, "commit", "-qam", "agent")
    assert flower(repo, "trust").returncode == 0
    to_merge = finished(repo, "to merge", {"agent.txt": "agent\n"})
    to_dispatch = int(flower_json(repo, "brief", "new", "to dispatch")["id"])  # type: ignore[index]
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    git(repo, "push", "-q", str(bare), "refs/heads/flower/briefs:refs/heads/flower/briefs")
    git(repo, "remote", "add", "origin", str(bare))
    assert flower(repo, "remote", "origin").returncode == 0
    assert flower(repo, "sync").returncode == 0, flower(repo, "sync").stderr
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare), str(other))
    assert flower(other, "init", "--remote", "origin").returncode == 0
    assert flower(other, "brief", "new", "from the other clone").returncode == 0
    assert flower(other, "sync").returncode == 0
    return repo, to_merge, to_dispatch


def _no_ids(snap: object) -> object:
    import dataclasses

    refs = "".join(ln + "\n" for ln in snap.refs.splitlines()  # type: ignore[attr-defined]
                   if not ln.startswith("refs/flower/ids/"))
    # the scheduler's flock file is a lock only while held; it stays, empty, by design
    locks = tuple(p for p in snap.locks  # type: ignore[attr-defined]
                  if not p.endswith("/flower/sched.lock"))
    return dataclasses.replace(snap, refs=refs, locks=locks)  # type: ignore[type-var]


COMMANDS = {
    "brief new": lambda m, d: ["brief", "new", "a new brief on a full disk"],
    "brief set": lambda m, d: ["brief", "set", str(d), "kind=bug"],
    "dispatch": lambda m, d: ["dispatch", str(d), "--agent", "worker"],
    "merge": lambda m, d: ["merge", str(m)],
    "sync": lambda m, d: ["sync"],
}


@pytest.mark.slow
@pytest.mark.parametrize("free_kib", slow_after([0, 8, 40]))
def test_a_full_disk_is_one_clean_error_and_nothing_changes(tmp_path: Path, small_fs: Path,
                                                            free_kib: int) -> None:
    repo, to_merge, to_dispatch = _full_disk_repo(tmp_path, small_fs)
    failed = []
    for name, argv in COMMANDS.items():
        filler = fill(small_fs, free_kib)
        before = snapshot_state(repo)
        r = flower(repo, *argv(to_merge, to_dispatch))
        after = snapshot_state(repo)
        filler.unlink()
        if r.returncode == 0 and free_kib:  # it fitted in what was left: done, not half done
            continue
        failed.append(name)
        assert r.returncode == 75, f"{name}: exit {r.returncode}: {r.stderr}"
        assert f"fatal: git flower {name}" in r.stderr, r.stderr
        assert "hint: free some space on " in r.stderr, r.stderr
        assert "internal error" not in r.stderr
        # an id reserved on the remote (which has space) before the local write may stay
        # reserved, as after any crash there: the id is skipped, never given twice
        assert _no_ids(after) == _no_ids(before), (name, r.stderr)
    assert free_kib or len(failed) == len(COMMANDS)
    for name in failed:  # with space again, each works
        r = flower(repo, *COMMANDS[name](to_merge, to_dispatch))
        assert r.returncode == 0, f"{name}: {r.stderr}"
    assert flower(repo, "recover").returncode == 0
    journal = repo / ".git" / "flower" / "journal"
    assert not journal.exists() or list(journal.iterdir()) == []


def _limited(repo: Path, limit: tuple[int, int], *args: str) -> subprocess.CompletedProcess[str]:
    """git flower under a resource limit (set in the child only, like `ulimit`)."""
    def pre() -> None:
        resource.setrlimit(limit[0], (limit[1], limit[1]))

    r = subprocess.run([sys.executable, "-m", "flowergit", *args], cwd=repo, capture_output=True,
                       text=True, preexec_fn=pre, timeout=120, stdin=subprocess.DEVNULL,
                       check=False)
    return r


@pytest.mark.slow
@pytest.mark.parametrize("command", ["brief new", "brief set", "merge"])
def test_a_file_size_limit_is_one_clean_error_and_nothing_changes(tmp_path: Path,
                                                                  command: str) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "to merge", {"agent.txt": "agent\n" * 100})
    argv = {"brief new": ["brief", "new", "under a limit"],
            "brief set": ["brief", "set", str(bid), "kind=bug"],
            "merge": ["merge", str(bid)]}[command]
    before = snapshot_state(repo)
    r = _limited(repo, (resource.RLIMIT_FSIZE, 0), *argv)
    assert r.returncode == 75, r.stderr
    assert r.stderr.startswith(f"fatal: git flower {command}"), r.stderr
    assert ": a file size limit was reached" in r.stderr.splitlines()[0]
    assert "hint: raise the file size limit (`ulimit -f`)" in r.stderr
    assert _no_ids(snapshot_state(repo)) == _no_ids(before)
    journal = repo / ".git" / "flower" / "journal"
    assert not journal.exists() or list(journal.iterdir()) == []
    assert flower(repo, *argv).returncode == 0  # without the limit it works


def test_running_out_of_file_descriptors_is_one_clean_error(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    before = snapshot_state(repo)
    r = _limited(repo, (resource.RLIMIT_NOFILE, 8), "brief", "new", "few descriptors")
    assert r.returncode == 75, r.stderr
    assert r.stderr.startswith("fatal: git flower brief new: too many open files"), r.stderr
    assert "hint: raise the open-file limit (`ulimit -n`)" in r.stderr
    assert snapshot_state(repo) == before
    r = _limited(repo, (resource.RLIMIT_NOFILE, 8), "brief", "new", "few descriptors", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 75 and doc["ok"] is False
    assert doc["error"]["code"] == "resource_exhausted"
    assert doc["error"]["data"]["resource"] == "EMFILE"


def test_recover_leaves_no_backup_that_no_journal_names(repo: Path) -> None:
    journal = repo / ".git" / "flower" / "journal"
    (journal / "7-0123456789ab.local").mkdir(parents=True)
    (journal / "7-0123456789ab.local" / "0").write_text("a copy of solo.yml\n")
    (journal / ".tmp-123-abcd").write_text("half a journal")
    (journal / "8-0123456789ab.local").mkdir()  # a merge between its backup and its journal
    old = time.time() - 3600
    for p in (journal / "7-0123456789ab.local", journal / ".tmp-123-abcd"):
        os.utime(p, (old, old))
    r = flower(repo, "recover")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in journal.iterdir()) == ["8-0123456789ab.local"]


def test_a_read_only_file_system_is_one_clean_error(tmp_path: Path, small_fs: Path) -> None:
    repo = setup_repo(small_fs)
    bid = finished(repo, "to merge", {"agent.txt": "agent\n"})
    before = snapshot_state(repo)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    try:
        for argv in (["brief", "new", "read-only"], ["brief", "set", str(bid), "kind=bug"],
                     ["merge", str(bid)]):
            r = flower(repo, *argv)
            assert r.returncode == 75, (argv, r.stderr)
            assert "the file system is read-only" in r.stderr and "\nhint: make " in r.stderr
            assert "internal error" not in r.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)
    assert snapshot_state(repo) == before
    assert flower(repo, "merge", str(bid)).returncode == 0


# -- the untried list of issue 14 ---------------------------------------------------------------
def released(repo: Path) -> None:
    """Wait for a merge's background release of a worker worktree: the copy that does it holds
    ``release.mutex`` from before `merge` returns (a check of the whole repository beside it
    would see its writes half made: a reflog entry whose object fsck listed before it was)."""
    import fcntl

    common = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip())
    mutex = common / "flower" / "release.mutex"
    if mutex.exists():
        with open(mutex) as f:
            fcntl.flock(f, fcntl.LOCK_EX)


def whole(repo: Path) -> None:
    """Every git flower ref names a commit, the object store is connected, no lock is left
    (the scheduler's flock file aside) and the briefs still list."""
    released(repo)
    out = git(repo, "for-each-ref", "--format=%(objecttype) %(refname)", "refs/flower",
              "refs/heads", "refs/notes").stdout
    assert all(ln.startswith("commit ") for ln in out.splitlines()), out
    assert git(repo, "fsck", "--connectivity-only", "--no-progress").returncode == 0
    common = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip())
    locks = [p for p in common.rglob("*.lock") if p.name != "sched.lock"]
    assert locks == []
    assert flower(repo, "brief", "list").returncode == 0


DELAYS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.45)


def killed(repo: Path, argv: list[str], delay: float,
           env: dict[str, str] | None = None) -> None:
    p = subprocess.Popen([sys.executable, "-m", "flowergit", *argv], cwd=repo,
                         env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)


@pytest.mark.slow  # a kill at each delay
def test_sigkill_of_brief_set_loses_nothing(repo: Path) -> None:
    bid = str(flower_json(repo, "brief", "new", "to be set")["id"])  # type: ignore[index]
    for i, delay in enumerate(DELAYS):
        killed(repo, ["brief", "set", bid, f"title=set {i}", "kind=bug"], delay)
        whole(repo)
        shown = flower_json(repo, "brief", "show", bid)
        assert shown["title"] in ("to be set", *(f"set {k}" for k in range(i + 1)))  # type: ignore[index]
        r = flower(repo, "brief", "set", bid, f"title=set {i}")
        assert r.returncode == 0, r.stderr
        assert flower_json(repo, "brief", "show", bid)["title"] == f"set {i}"  # type: ignore[index]


@pytest.mark.slow  # a kill at each delay
def test_sigkill_of_signal_claim_loses_nothing(repo: Path) -> None:
    for delay in DELAYS:
        sid = str(flower_json(repo, "signal", "emit", "work")["id"])  # type: ignore[index]
        killed(repo, ["signal", "claim", sid], delay)
        whole(repo)
        row = next(s for s in flower_json(repo, "signal", "list")  # type: ignore[union-attr]
                   if str(s["id"]) == sid)
        if row["state"] == "claimed":  # it landed before the kill: a second claim is refused
            assert flower(repo, "signal", "claim", sid).returncode == 4
        else:
            assert flower(repo, "signal", "claim", sid).returncode == 0
        assert flower(repo, "signal", "complete", sid).returncode == 0


@pytest.mark.slow  # a kill at each delay, each a dozen processes
def test_sigkill_of_reset_handoff_loses_nothing(repo: Path) -> None:
    delays = DELAYS[::2]
    sleepers = [subprocess.Popen(["sleep", "300"]) for _ in range(2 * len(delays))]
    try:
        for i, delay in enumerate(delays):
            a = str(flower_json(repo, "daemon", "checkin", "--role", "orchestrator", "--pid",
                                str(sleepers[2 * i].pid))["id"])  # type: ignore[index]
            A = {"FLOWER_DAEMON": a}
            assert flower(repo, "baton", "take", env=A).returncode == 0
            assert flower(repo, "reset", "request", env=A).returncode == 0
            b = str(flower_json(repo, "daemon", "checkin", "--role", "orchestrator", "--pid",
                                str(sleepers[2 * i + 1].pid), "--successor-of", a)["id"])  # type: ignore[index]
            B = {"FLOWER_DAEMON": b}
            assert flower(repo, "reset", "ready", env=B).returncode == 0
            killed(repo, ["reset", "handoff"], delay, env=A)
            whole(repo)
            baton = flower_json(repo, "baton", "show")
            if baton["holder"] == a:  # type: ignore[index]
                r = flower(repo, "reset", "handoff", env=A)
                assert r.returncode == 0, r.stderr
            baton = flower_json(repo, "baton", "show")
            assert baton["holder"] == b, baton  # type: ignore[index]
            assert flower(repo, "baton", "release", env=B).returncode == 0
            for d in (a, b):
                flower(repo, "daemon", "retire", d)
    finally:
        for p in sleepers:
            p.kill()
            p.wait(timeout=10)


def test_merge_with_the_users_checkout_on_a_detached_head(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"agent.txt": "agent\n"})
    git(repo, "switch", "-q", "--detach", "HEAD")
    (repo / "README.md").write_text("a local edit\n")
    before = snapshot_state(repo)
    pre = rev(repo, "main")
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0, r.stderr
    assert rev(repo, "main^1") == pre and rev(repo, "HEAD") == pre  # main moved; HEAD did not
    after = snapshot_state(repo)
    assert after.files == before.files and after.index_tree == before.index_tree


def test_merge_into_a_sparse_checkout(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    (repo / "inside").mkdir()
    (repo / "outside").mkdir()
    commit(repo, "inside/a.txt", "a\n", "inside")
    commit(repo, "outside/b.txt", "b\n", "outside")
    bid = finished(repo, "work", {"inside/new.txt": "new\n", "outside/new.txt": "new\n"})
    git(repo, "sparse-checkout", "set", "inside")
    assert not (repo / "outside").exists()
    (repo / "inside" / "a.txt").write_text("a local edit\n")
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0, r.stderr
    assert (repo / "inside" / "new.txt").read_text() == "new\n"
    assert not (repo / "outside" / "new.txt").exists()  # the sparse cone is kept
    assert (repo / "inside" / "a.txt").read_text() == "a local edit\n"
    assert git(repo, "show", "main:outside/new.txt").stdout == "new\n"
    status = git(repo, "status", "--porcelain").stdout
    assert status == " M inside/a.txt\n", status


def test_a_shallow_clone_dispatches_and_merges(tmp_path: Path) -> None:
    seed = setup_repo(tmp_path)
    for k in range(3):
        commit(seed, f"h{k}.txt", f"{k}\n", f"history {k}")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{seed}", str(shallow))
    assert git(shallow, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    assert flower(shallow, "init").returncode == 0
    exe = write_exe(tmp_path / "bin" / "worker", WORKER)
    with open(shallow / ".flower.toml", "a") as f:
        f.write(f'\n[agents.worker]\ncommand = ["{exe}"]\n')
    git(shallow, "commit", "-qam", "agent")
    assert flower(shallow, "trust").returncode == 0
    bid = str(flower_json(shallow, "brief", "new", "in a shallow clone")["id"])  # type: ignore[index]
    r = flower(shallow, "dispatch", bid, "--agent", "worker")
    assert r.returncode == 0, r.stderr
    assert flower(shallow, "wait", bid, "--timeout", "60").returncode == 0
    pre = rev(shallow, "main")
    r = flower(shallow, "merge", bid)
    assert r.returncode == 0, r.stderr
    assert rev(shallow, "main^1") == pre and (shallow / f"w-{bid}.txt").exists()
    whole(shallow)


def test_merge_beside_a_submodule_leaves_it_alone(tmp_path: Path) -> None:
    sub = make_repo(tmp_path / "sub", init_flower=False)
    repo = setup_repo(tmp_path)
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "sub")
    git(repo, "commit", "-qm", "a submodule")
    (repo / "sub" / "README.md").write_text("a local edit inside the submodule\n")
    bid = finished(repo, "work", {"agent.txt": "agent\n"})
    sub_head = rev(repo / "sub", "HEAD")
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0, r.stderr
    assert rev(repo / "sub", "HEAD") == sub_head
    assert (repo / "sub" / "README.md").read_text() == "a local edit inside the submodule\n"
    assert (repo / "agent.txt").read_text() == "agent\n"


def test_merge_with_core_hooks_path_set(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    hooks = tmp_path / "their-hooks"
    ran = tmp_path / "ran.txt"
    for name in ("pre-commit", "pre-merge-commit", "post-checkout", "post-merge"):
        write_exe(hooks / name, f"#!/bin/sh\necho {name} >> {ran}\nexit 1\n")
    write_exe(hooks / "reference-transaction", f"#!/bin/sh\necho ref-tx >> {ran}\n")
    bid = finished(repo, "work", {"agent.txt": "agent\n"})
    git(repo, "config", "core.hooksPath", str(hooks))
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0, r.stderr
    assert (repo / "agent.txt").read_text() == "agent\n"
    assert git(repo, "config", "core.hooksPath").stdout.strip() == str(hooks)  # untouched
    assert sorted(p.name for p in hooks.iterdir()) == sorted(
        ("pre-commit", "pre-merge-commit", "post-checkout", "post-merge", "reference-transaction"))
    # the checkout is moved without the user's checkout hooks (they would refuse it)
    assert "post-checkout" not in (ran.read_text() if ran.exists() else "")


def test_two_merges_at_once_land_both_exactly_once(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    one = finished(repo, "one", {"one.txt": "1\n"})
    two = finished(repo, "two", {"two.txt": "2\n"})
    procs = [subprocess.Popen([sys.executable, "-m", "flowergit", "merge", str(b)], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for b in (one, two)]
    codes = []
    for p in procs:
        _out, err = p.communicate(timeout=120)
        codes.append(p.returncode)
        assert p.returncode in (0, 4), err.decode()
        assert b"internal error" not in err
    for b, code in zip((one, two), codes):
        if code != 0:  # refused while the other ran: it lands when run again
            r = flower(repo, "merge", str(b))
            assert r.returncode == 0, r.stderr
    merges = git(repo, "rev-list", "--merges", "--first-parent", "main").stdout.split()
    assert len(merges) == 2
    assert (repo / "one.txt").exists() and (repo / "two.txt").exists()
    assert flower(repo, "recover").stdout.strip() == "nothing to recover"
    whole(repo)


@pytest.mark.slow
def test_merge_while_sync_runs(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    git(repo, "push", "-q", str(bare), "refs/heads/flower/briefs:refs/heads/flower/briefs")
    git(repo, "remote", "add", "origin", str(bare))
    assert flower(repo, "remote", "origin").returncode == 0
    bids = [finished(repo, f"work {k}", {f"w{k}.txt": f"{k}\n"}) for k in range(3)]
    for b in bids:
        s = subprocess.Popen([sys.executable, "-m", "flowergit", "sync"], cwd=repo,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        m = flower(repo, "merge", str(b))
        _out, err = s.communicate(timeout=120)
        assert s.returncode in (0, 4, 75), err.decode()
        assert b"internal error" not in err and "internal error" not in m.stderr
        if m.returncode != 0:
            assert m.returncode in (4, 75), m.stderr
            m = flower(repo, "merge", str(b))
        assert m.returncode == 0, m.stderr
    assert flower(repo, "sync").returncode == 0
    for b in bids:
        assert flower_json(repo, "brief", "show", str(b))["status"] == "merged"  # type: ignore[index]
    merges = git(repo, "rev-list", "--merges", "--first-parent", "main").stdout.split()
    assert len(merges) == 3
    whole(repo)


def test_brief_writes_refuse_while_the_briefs_branch_is_being_rebased(repo: Path,
                                                                     tmp_path: Path) -> None:
    for k in range(3):
        assert flower(repo, "brief", "new", f"brief {k}").returncode == 0
    wt = tmp_path / "briefs-wt"
    git(repo, "worktree", "add", "-q", str(wt), "flower/briefs")
    _edit_stop(wt)  # HEAD detached there; rebase-merge/head-name says flower/briefs
    before = rev(repo, "flower/briefs")
    r = flower(repo, "brief", "new", "during the rebase")
    assert r.returncode == 4 and str(wt) in r.stderr, r.stderr
    assert "being rebased" in r.stderr and "--abort" in r.stderr and "switch" not in r.stderr
    assert rev(repo, "flower/briefs") == before
    git(wt, "rebase", "--abort")
    git(wt, "switch", "-q", "--detach")
    assert flower(repo, "brief", "new", "after the rebase").returncode == 0


@pytest.mark.slow
def test_a_repository_with_100000_refs_loses_nothing(tmp_path: Path) -> None:
    """Issue 14's untried list: 100,000 refs beside flower's own (tags and branches of a big
    project, packed as git keeps them): every command still finds exactly its own state."""
    repo = setup_repo(tmp_path)
    head = rev(repo, "HEAD")
    # written as `git pack-refs --all` leaves them (100,000 loose refs would take a minute of
    # file system time to make, and a big project's refs are packed anyway)
    names = sorted([f"refs/tags/v{k // 1000}.{k % 1000}" for k in range(60_000)]
                   + [f"refs/heads/topic/{k}" for k in range(40_000)])
    git(repo, "pack-refs", "--all")
    packed = repo / ".git" / "packed-refs"
    old = [ln for ln in packed.read_text().splitlines()[1:] if ln]
    rows = sorted([*(f"{head} {n}" for n in names), *old], key=lambda ln: ln.split(" ", 1)[1])
    packed.write_text("# pack-refs with: peeled fully-peeled sorted \n" + "\n".join(rows) + "\n")
    n = len(git(repo, "for-each-ref", "--format=%(refname)").stdout.splitlines())
    assert n >= 100_000
    bid = int(flower_json(repo, "brief", "new", "among many refs")["id"])  # type: ignore[index]
    flower(repo, "brief", "set", str(bid), 'run=[["sh","-c","echo x > many.txt"]]')
    d = flower_json(repo, "dispatch", str(bid))
    got = flower_json(repo, "wait", str(bid), "--timeout", "120")
    assert got[0]["outcome"] == "done", got  # type: ignore[index]
    st = flower_json(repo, "status")
    assert st["briefs"]["total"] == 1 and st["workers"] == []  # type: ignore[index]
    assert [r["id"] for r in flower_json(repo, "ps")] == [d["id"]]  # type: ignore[index,union-attr]
    before = state(repo)
    m = flower(repo, "merge", str(bid), "--json")
    assert m.returncode == 0, m.stderr
    assert git(repo, "show", "main:many.txt").stdout == "x\n"
    assert state(repo) != before  # main moved, as it should; the other refs did not:
    assert len(git(repo, "for-each-ref", "--format=%(refname)", "refs/tags", "refs/heads/topic")
               .stdout.splitlines()) == 100_000
    assert git(repo, "rev-parse", "refs/tags/v59.999", "refs/heads/topic/39999").stdout.split() \
        == [head, head]
