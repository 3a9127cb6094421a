"""`git flower doctor [--fix]`: each problem found, explained with its fix; --fix only the safe ones."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import flower, git
from merge_helpers import env_fp, finished, setup_repo


def doctor(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    r = flower(repo, "doctor", *args, "--json", env=env)
    assert r.returncode in (0, 4), r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is True
    return r.returncode, doc["data"]


def by_check(data: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in data["findings"] if f["check"] == check]


def common_dir(repo: Path) -> Path:
    return Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip())


def test_findings_have_the_documented_shape_and_a_healthy_repo_exits_0(repo: Path) -> None:
    flower(repo, "trust")
    rc, data = doctor(repo)
    assert rc == 0 and data["errors"] == 0
    for f in data["findings"]:
        assert set(f) >= {"check", "status", "message", "fix"}
        assert f["status"] in ("ok", "warn", "error")
    checks = {f["check"] for f in data["findings"]}
    assert {"git", "repo", "trust", "notes", "refspecs", "hooks", "locks", "worktrees",
            "dispatches", "recovery"} <= checks


def test_stale_lock_reported_with_age_and_removed_by_fix_only_when_old(repo: Path) -> None:
    lock = common_dir(repo) / "refs" / "flower" / "stale-test.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    # a fresh lock: reported, not provably stale, --fix leaves it
    rc, data = doctor(repo, "--fix")
    [f] = by_check(data, "locks")
    assert f["status"] == "warn" and "stale-test.lock" in f["message"] and lock.exists()
    # an old one with no git process in this repository: an error, removed by --fix
    old = time.time() - 3600
    os.utime(lock, (old, old))
    rc, data = doctor(repo)
    [f] = by_check(data, "locks")
    assert rc == 4 and f["status"] == "error" and f["data"]["stale"] is True
    assert "age 1h" in f["message"] and "--fix" in f["fix"]
    assert lock.exists()  # reporting never removes
    rc, data = doctor(repo, "--fix")
    [f] = by_check(data, "locks")
    assert rc == 0 and f.get("fixed") and not lock.exists()
    # the human output names the lock too
    lock.write_text("")
    r = flower(repo, "doctor")
    assert "stale-test.lock" in r.stdout and "fix:" in r.stdout


def test_threshold_is_an_option(repo: Path) -> None:
    lock = common_dir(repo) / "index.lock"
    lock.write_text("")
    old = time.time() - 120
    os.utime(lock, (old, old))
    _, data = doctor(repo, "--lock-age", "60", "--fix")
    assert not lock.exists() and by_check(data, "locks")[0]["fixed"]


def test_deleted_worktree_pruned_only_without_unmerged_work(repo: Path, tmp_path: Path) -> None:
    import shutil

    git(repo, "worktree", "add", "-q", str(tmp_path / "gone"), "-b", "gone")
    git(repo, "worktree", "add", "-q", str(tmp_path / "work"), "-b", "work")
    (tmp_path / "work" / "w.txt").write_text("unmerged\n")
    git(tmp_path / "work", "add", "w.txt")
    git(tmp_path / "work", "commit", "-qm", "unmerged work")
    shutil.rmtree(tmp_path / "gone")
    shutil.rmtree(tmp_path / "work")
    _, data = doctor(repo)
    found = {f["data"]["branch"]: f for f in by_check(data, "worktrees")}
    assert set(found) == {"refs/heads/gone", "refs/heads/work"}
    assert "prunable" in found["refs/heads/gone"]["message"]
    assert found["refs/heads/work"]["data"]["unmerged"] == 1
    _, data = doctor(repo, "--fix")
    found = {f["data"]["branch"]: f for f in by_check(data, "worktrees")}
    assert found["refs/heads/gone"].get("fixed") is True
    assert not found["refs/heads/work"].get("fixed") and "kept" in found["refs/heads/work"]["message"]
    listing = git(repo, "worktree", "list", "--porcelain").stdout
    assert "gone" not in listing and str(tmp_path / "work") in listing
    # branches are never deleted; the unmerged commit is still there
    assert git(repo, "rev-parse", "--verify", "-q", "refs/heads/work").returncode == 0
    assert git(repo, "rev-parse", "--verify", "-q", "refs/heads/gone").returncode == 0


def test_lost_dispatch_reported(repo: Path) -> None:
    from flowergit.gitio.repo import discover
    from flowergit.procs import identity
    from flowergit.state.dispatches import DispatchStore

    bid = json.loads(flower(repo, "brief", "new", "crashed", "--json").stdout)["data"]["id"]
    p = subprocess.Popen(["true"])
    p.wait()
    dead = {"host": socket.gethostname(), "boot_id": identity.boot_id(), "pid": p.pid, "start": 1}
    DispatchStore(discover(str(repo))).claim(bid, 1, {
        "state": "running", "agent": "script", "branch": f"flower/{bid}-crashed",
        "worktree": str(repo.parent / "nowhere"), "supervisor": dead, "proc": dead,
        "started_at": "2026-11-20T10:00:00Z"})
    _, data = doctor(repo)
    [f] = by_check(data, "dispatches")
    assert f["status"] == "warn" and f"lost dispatch {bid}.1" in f["message"]
    assert f"git flower dispatch {bid}" in f["fix"]


def test_missing_refspecs_found_and_fixed(repo: Path, bare_remote: Path) -> None:
    _, data = doctor(repo)
    [f] = by_check(data, "refspecs")
    assert f["status"] == "warn" and "missing refspecs" in f["message"]
    assert f["fix"] == "git flower remote origin"
    assert flower(repo, "remote", "origin").returncode == 0
    _, data = doctor(repo)
    assert by_check(data, "refspecs")[0]["status"] == "ok"
    # one refspec removed by hand: --fix puts it back
    git(repo, "config", "--unset", "remote.origin.fetch", "notes")
    _, data = doctor(repo)
    assert by_check(data, "refspecs")[0]["status"] == "warn"
    _, data = doctor(repo, "--fix")
    assert by_check(data, "refspecs")[0].get("fixed")
    assert "refs/notes/flower" in git(repo, "config", "--get-all", "remote.origin.fetch").stdout


def test_untrusted_config_explained_and_never_trusted_by_fix(repo: Path) -> None:
    _, data = doctor(repo, "--fix")
    [f] = by_check(data, "trust")
    assert f["status"] == "warn" and "untrusted config" in f["message"]
    assert "git flower trust" in f["fix"] and not f.get("fixed")
    assert flower(repo, "trust", "--show", "--json").returncode == 0
    _, data = doctor(repo)
    assert by_check(data, "trust")[0]["status"] == "warn"  # --show records nothing
    flower(repo, "trust")
    _, data = doctor(repo)
    assert by_check(data, "trust")[0]["status"] == "ok"


def test_notes_config_fixed(repo: Path) -> None:
    git(repo, "config", "--unset-all", "notes.rewriteRef")
    _, data = doctor(repo)
    assert by_check(data, "notes")[0]["status"] == "warn"
    _, data = doctor(repo, "--fix")
    assert by_check(data, "notes")[0].get("fixed")
    assert git(repo, "config", "--get", "notes.rewriteRef").stdout.strip() == "refs/notes/flower"


def test_bad_config_is_an_error_finding_not_a_crash(repo: Path) -> None:
    (repo / ".flower.toml").write_text("[flower]\nbogus = 1\n")
    rc, data = doctor(repo)
    [f] = by_check(data, "config")
    assert rc == 4 and f["status"] == "error" and "bogus" in f["message"]


def test_interrupted_merge_reported_and_recovered_by_fix(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "edits", {"agent.txt": "new\n"})
    before = git(repo, "rev-parse", "main").stdout
    r = flower(repo, "merge", str(bid), env=env_fp("after_merge_commit=kill"))
    assert r.returncode != 0
    rc, data = doctor(repo)
    [f] = by_check(data, "recovery")
    assert rc == 4 and f["status"] == "error" and f["fix"] == "git flower recover"
    rc, data = doctor(repo, "--fix")
    assert rc == 0 and by_check(data, "recovery")[0].get("fixed")
    assert git(repo, "rev-parse", "main").stdout == before
    _, data = doctor(repo)
    assert by_check(data, "recovery")[0]["status"] == "ok"


def test_porcelain_and_format(repo: Path) -> None:
    r = flower(repo, "doctor", "--porcelain")
    rows = [ln.split("\t") for ln in r.stdout.splitlines()]
    assert rows and all(len(x) == 4 for x in rows)
    assert ["git", "ok"] == rows[0][:2]
    r = flower(repo, "doctor", "--format", "%(check)%09%(status)")
    assert "trust\twarn" in r.stdout.splitlines()
    r = flower(repo, "doctor", "--format", "%(nope)")
    assert r.returncode == 2 and "unknown field" in r.stderr


def test_not_a_repository(tmp_path: Path) -> None:
    r = flower(tmp_path, "doctor")
    assert r.returncode == 2 and "not a git repository" in r.stderr


@pytest.mark.slow
def test_hooks_reported_and_refreshed(repo: Path) -> None:
    _, data = doctor(repo)
    [f] = by_check(data, "hooks")
    assert f["status"] == "ok" and "not installed" in f["message"]
    assert flower(repo, "hooks", "install").returncode == 0
    _, data = doctor(repo)
    [f] = by_check(data, "hooks")
    assert f["status"] == "ok" and "installed:" in f["message"]
    hook = common_dir(repo) / "hooks" / "commit-msg"
    hook.write_bytes(hook.read_bytes() + b"\n# edited\n")
    _, data = doctor(repo)
    assert by_check(data, "hooks")[0]["status"] == "warn"
    _, data = doctor(repo, "--fix")
    assert by_check(data, "hooks")[0].get("fixed") and b"# edited" not in hook.read_bytes()


@pytest.mark.slow
def test_dispatch_worktree_deleted_by_hand_is_pruned_and_can_be_dispatched_again(repo: Path) -> None:
    """FAULTS 54: the (locked) worker worktree removed with rm -rf; no unmerged commits."""
    import shutil

    bid = json.loads(flower(repo, "brief", "new", "nothing to do", "--json").stdout)["data"]["id"]
    assert flower(repo, "brief", "set", str(bid), 'run=[["true"]]').returncode == 0
    started = json.loads(flower(repo, "dispatch", str(bid), "--json").stdout)["data"]
    assert flower(repo, "wait", str(bid), "--timeout", "60").returncode == 0
    shutil.rmtree(started["worktree"])
    _, data = doctor(repo)
    [f] = [x for x in by_check(data, "worktrees") if x["status"] != "ok"]
    assert f["data"]["locked"] is True and f["data"]["unmerged"] == 0
    _, data = doctor(repo, "--fix")
    assert [x for x in by_check(data, "worktrees") if x.get("fixed")]
    assert started["worktree"] not in git(repo, "worktree", "list").stdout
    again = flower(repo, "dispatch", str(bid), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["data"]["id"] == f"{bid}.2"
    flower(repo, "wait", str(bid), "--timeout", "60")


def test_man_page_linked_by_fix_where_man_looks(repo: Path) -> None:
    import shutil

    if shutil.which("man") is None:
        import pytest

        pytest.skip("no man on this machine")
    home = Path(os.environ["HOME"])
    (home / ".local" / "bin").mkdir(parents=True, exist_ok=True)
    env = {"PATH": f"{home / '.local' / 'bin'}:{os.environ['PATH']}", "MANPATH": ""}
    _, data = doctor(repo, env=env)
    [f] = by_check(data, "manual")
    if f["status"] == "ok":
        import pytest

        pytest.skip("this installation's man page is already on man's path")
    _, data = doctor(repo, "--fix", env=env)
    [f] = by_check(data, "manual")
    assert f["status"] == "ok" and f.get("fixed")
    assert (home / ".local" / "share" / "man" / "man1" / "git-flower.1").is_symlink()
    r = subprocess.run(["man", "-w", "git-flower"], env={**os.environ, **env}, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and "git-flower.1" in r.stdout
