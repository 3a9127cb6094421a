"""Faults inside git itself (FAULTS d.3): a refusing reference-transaction hook, failing git
commands from a shim first on PATH. Every one ends with the "nothing lost" oracle."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import flower, git, snapshot_state, write_exe
from merge_helpers import dirty_local_state, finished, setup_repo

REFS = ("refs/heads", "refs/flower")


def _overlapping(repo: Path) -> int:
    (repo / "code.txt").write_text("".join(f"line {i}\n" for i in range(1, 21)))
    git(repo, "add", "code.txt")
    git(repo, "commit", "-qm", "code")
    text = (repo / "code.txt").read_text()
    bid = finished(repo, "work", {"code.txt": text.replace("line 20\n", "agent\n"),
                                  "agent.txt": "a\n"})
    dirty_local_state(repo)
    (repo / "code.txt").write_text(text.replace("line 1\n", "mine\n"))
    return bid


def test_reference_transaction_hook_refusing_the_target_update(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = _overlapping(repo)
    write_exe(repo / ".git" / "hooks" / "reference-transaction",
              "#!/bin/sh\n[ \"$1\" = prepared ] || exit 0\n"
              "grep -q ' refs/heads/main$' && exit 1\nexit 0\n")
    before = snapshot_state(repo, include_refs=REFS)
    r = flower(repo, "merge", str(bid))
    assert r.returncode != 0 and r.returncode != -9
    assert snapshot_state(repo, include_refs=REFS) == before
    assert flower(repo, "recover").stdout.strip() == "nothing to recover"


@pytest.mark.slow
@pytest.mark.parametrize("cmd", ["read-tree", "stash", "unpack-objects", "worktree"])
def test_a_failing_git_command_leaves_nothing_behind(tmp_path: Path, cmd: str) -> None:
    repo = setup_repo(tmp_path)
    bid = _overlapping(repo)
    real = shutil.which("git")
    shim = tmp_path / "shim"
    # fails the chosen subcommand only when git flower runs it (FLOWER=1 marks its calls)
    write_exe(shim / "git", f"""#!/bin/sh
if [ "$FLOWER" = 1 ]; then
  for a in "$@"; do
    if [ "$a" = "{cmd}" ]; then
      [ "{cmd}" = stash ] && [ "$*" = "${{*#*stash push}}" ] && break
      echo "shim: {cmd} failed" >&2; exit 128
    fi
  done
fi
exec {real} "$@"
""")
    before = snapshot_state(repo, include_refs=REFS)
    r = flower(repo, "merge", str(bid), env={"PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"})
    assert r.returncode not in (0, -9), r.stdout
    assert snapshot_state(repo, include_refs=REFS) == before
    assert flower(repo, "recover").stdout.strip() == "nothing to recover"
    assert flower(repo, "merge", str(bid)).returncode == 0


@pytest.mark.slow
def test_stale_lock_on_the_target_is_reported_and_nothing_moves(tmp_path: Path) -> None:
    """FAULTS d.5 / finding 11: a lock a crashed git left behind on the target branch."""
    repo = setup_repo(tmp_path)
    bid = _overlapping(repo)
    lock = repo / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("")
    before = snapshot_state(repo, include_refs=REFS)
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 75, r.stderr
    assert "lock" in r.stderr
    assert snapshot_state(repo, include_refs=REFS) == before
    assert lock.exists()
    lock.unlink()
    assert flower(repo, "merge", str(bid)).returncode == 0
