"""New work waits while a merge is interrupted: dispatch, tick and sync refuse until `recover`."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from conftest import flower, flower_json, git
from merge_helpers import env_fp, finished, setup_repo


@pytest.mark.slow
def test_interrupted_merge_blocks_dispatch_tick_and_sync_until_recovered(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "lands", {"a.txt": "a\n"})
    r = flower(repo, "merge", str(bid), env=env_fp("after_stash=kill;after_snapshot=kill"))
    assert r.returncode == -signal.SIGKILL, r.stderr
    other = flower_json(repo, "brief", "new", "next work")["id"]
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    d = flower_json(repo, "daemon", "checkin", "--role", "orchestrator")["id"]
    for args in (("dispatch", str(other)), ("tick", "--daemon", str(d)), ("sync", "origin")):
        out = flower(repo, *args)
        assert out.returncode == 4, (args, out.stderr)
        assert "was interrupted" in out.stderr and "git flower recover" in out.stderr, args
    assert git(repo, "for-each-ref", f"refs/flower/dispatch/{other}/").stdout == ""
    assert flower(repo, "recover").returncode == 0
    assert flower(repo, "sync", "origin").returncode == 0
