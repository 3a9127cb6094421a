"""The merge gate under repository shapes and settings that break naive tools (FAULTS 18-20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import flower, git, snapshot_state
from merge_helpers import finished, setup_repo


def with_submodule(tmp_path: Path) -> tuple[Path, Path]:
    """A project whose `vendor/sub` is a submodule of its own repository `sub` (returned too)."""
    sub = tmp_path / "sub"
    git(tmp_path, "init", "-q", "-b", "main", str(sub))
    (sub / "lib.txt").write_text("lib\n")
    git(sub, "add", "lib.txt")
    git(sub, "commit", "-qm", "lib")
    repo = setup_repo(tmp_path)
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "vendor/sub")
    git(repo, "commit", "-qm", "submodule")
    return repo, sub


def test_dirty_submodule_is_never_touched(tmp_path: Path) -> None:
    """Scenario 18: submodule.recurse=true and a dirty submodule."""
    repo, _ = with_submodule(tmp_path)
    git(repo, "config", "submodule.recurse", "true")
    bid = finished(repo, "work", {"a.txt": "a\n"})
    (repo / "vendor/sub/lib.txt").write_text("local change inside the submodule\n")
    (repo / "vendor/sub/new.txt").write_text("untracked inside\n")
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0, r.stderr
    assert (repo / "vendor/sub/lib.txt").read_text() == "local change inside the submodule\n"
    assert (repo / "vendor/sub/new.txt").exists() and (repo / "a.txt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("autocrlf", ["true", "false", "input"])
def test_crlf_settings_do_not_turn_into_user_changes(tmp_path: Path, autocrlf: str) -> None:
    """Scenario 19: line-ending settings and an incoming .gitattributes change."""
    repo = setup_repo(tmp_path)
    git(repo, "config", "core.autocrlf", autocrlf)
    (repo / "win.txt").write_bytes(b"one\r\ntwo\r\n")
    git(repo, "-c", "core.autocrlf=true", "add", "win.txt")  # normalised in the repository
    git(repo, "commit", "-qm", "crlf file")
    bid = finished(repo, "attrs", {".gitattributes": "*.txt text eol=crlf\n", "b.txt": "b\n"})
    (repo / "solo.yml").write_text("local\n")
    win = (repo / "win.txt").read_bytes()
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0, r.stderr
    assert (repo / "win.txt").read_bytes() == win  # no renormalisation of the user's bytes
    assert "b.txt" not in git(repo, "status", "--porcelain").stdout
    assert (repo / "solo.yml").read_text() == "local\n"


def test_fsmonitor_setting_is_ignored_for_internal_reads(tmp_path: Path) -> None:
    """Scenario 20: core.fsmonitor set (no daemon on this platform): results stay exact."""
    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"a.txt": "a\n"})
    git(repo, "config", "core.fsmonitor", "true")
    git(repo, "config", "core.untrackedCache", "true")
    (repo / "solo.yml").write_text("local\n")
    (repo / "mine.txt").write_text("untracked\n")
    before = snapshot_state(repo)
    r = flower(repo, "merge", str(bid), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert snapshot_state(repo) == before
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0, r.stderr
    assert (repo / "mine.txt").exists() and (repo / "solo.yml").read_text() == "local\n"


def test_detached_checkout_is_left_alone(tmp_path: Path) -> None:
    """Scenario 51: the user's checkout is detached: only the branch moves, by CAS."""
    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"a.txt": "a\n"})
    git(repo, "checkout", "-q", "--detach", "main")
    (repo / "solo.yml").write_text("local\n")
    before = snapshot_state(repo, include_refs=())
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0, r.stderr
    after = snapshot_state(repo, include_refs=())
    assert (after.head, after.files, after.index_tree) == (before.head, before.files,
                                                          before.index_tree)
    assert git(repo, "show", "main:a.txt").stdout == "a\n"


def test_target_checked_out_in_a_linked_worktree_from_a_subdirectory(tmp_path: Path) -> None:
    """The checkout that has the target is brought along, wherever it is and wherever we run."""
    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"a.txt": "a\n"})
    git(repo, "checkout", "-q", "-b", "elsewhere")
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", str(linked), "main")
    (linked / "README.md").write_text("edited in the linked worktree\n")
    (repo / "sub").mkdir()
    r = flower(repo / "sub", "merge", str(bid))
    assert r.returncode == 0, r.stderr
    assert (linked / "a.txt").read_text() == "a\n"
    assert (linked / "README.md").read_text() == "edited in the linked worktree\n"
    assert not (repo / "a.txt").exists()
    assert git(linked, "status", "--porcelain").stdout.splitlines() == [" M README.md"]


def test_incoming_submodule_move_over_a_dirty_submodule_is_refused(tmp_path: Path) -> None:
    """Scenario 18: the agent moves a submodule pointer while the submodule is dirty."""
    repo, sub = with_submodule(tmp_path)
    (sub / "lib.txt").write_text("lib v2\n")
    git(sub, "commit", "-qam", "v2")
    v2 = git(sub, "rev-parse", "HEAD").stdout.strip()
    bid = finished(repo, "bump", {"a.txt": "a\n"})
    wt = repo.parent / "workers" / str(bid)
    git(wt, "update-index", "--cacheinfo", f"160000,{v2},vendor/sub")
    git(wt, "commit", "-qm", "bump submodule")
    (repo / "vendor/sub/lib.txt").write_text("local change inside the submodule\n")
    before = snapshot_state(repo)
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 4 and "vendor/sub" in r.stderr
    assert snapshot_state(repo) == before
    assert (repo / "vendor/sub/lib.txt").read_text() == "local change inside the submodule\n"
