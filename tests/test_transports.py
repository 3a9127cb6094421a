"""Flower state through every kind of remote a team uses: a bare path, `git daemon`, smart HTTP
(`git http-backend`) and SSH (sshd on 127.0.0.1). Three clones file briefs concurrently, sync,
and see the same briefs under the same ids; a worker clone runs one through the remote."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import flower, flower_json, git, make_repo
from sync_helpers import clone, git_daemon, served_remote, smart_http, ssh_server, sshd_path

# a bare path and git daemon are the remotes of tests/test_sync.py and the other sync tests;
# here every transport runs the same check side by side
TRANSPORTS = ("path", "git-daemon", "smart-http", "ssh")


@contextmanager
def serving(kind: str, tmp_path: Path, hermetic: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[str]:
    seed = make_repo(tmp_path / "seed")
    bare = served_remote(tmp_path, seed)
    if kind == "path":
        yield str(bare)
    elif kind == "git-daemon":
        with git_daemon(bare.parent) as url:
            yield f"{url}/proj.git"
    elif kind == "smart-http":
        with smart_http(bare.parent) as url:
            yield f"{url}/proj.git"
    else:
        if sshd_path() is None:
            import os

            if os.environ.get("CI") == "true":
                pytest.fail("sshd is not installed (CI=true: .ci/run installs openssh-server)")
            pytest.skip("sshd is not installed; .ci/run installs openssh-server")
        with ssh_server(tmp_path, hermetic) as (url, command):
            monkeypatch.setenv("GIT_SSH_COMMAND", command)
            yield f"{url}{bare}"


@pytest.mark.slow  # a server per transport, three clones each
@pytest.mark.parametrize("kind", TRANSPORTS)
def test_three_clones_converge_over(kind: str, tmp_path: Path, hermetic: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(kind, tmp_path, hermetic, monkeypatch) as url:
        clones = [clone(tmp_path, url, c) for c in "abc"]
        script = ("import subprocess, sys\n"
                  "for i in range(3):\n"
                  "    r = subprocess.run([sys.executable, '-m', 'flowergit', 'brief', 'new', "
                  "f'{sys.argv[1]} #{i}'])\n"
                  "    assert r.returncode == 0\n"
                  "r = subprocess.run([sys.executable, '-m', 'flowergit', 'sync'])\n"
                  "sys.exit(r.returncode)\n")
        procs = [subprocess.Popen([sys.executable, "-c", script, c.name], cwd=c,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for c in clones]
        for p in procs:
            _, err = p.communicate(timeout=240)
            assert p.returncode == 0, err.decode()
        for _ in range(2):
            for c in clones:
                r = flower(c, "sync")
                assert r.returncode == 0, r.stderr
        views = [{b["id"]: b["title"] for b in flower_json(c, "brief", "list")}  # type: ignore[union-attr]
                 for c in clones]
        assert views[0] == views[1] == views[2] and len(views[0]) == 9
        assert sorted(views[0].values()) == sorted(f"{c} #{i}" for c in "abc" for i in range(3))
        # a claim through the remote: exactly one clone wins
        assert flower(clones[0], "signal", "emit", "review").returncode == 0
        assert flower(clones[0], "sync").returncode == 0
        sid = flower_json(clones[0], "signal", "list")[0]["id"]  # type: ignore[index]
        got = [flower(c, "signal", "claim", str(sid), "--remote", "origin").returncode
               for c in clones]
        assert sorted(got) == [0, 4, 4], got
        assert git(clones[0], "ls-remote", "origin", f"refs/flower/claims/{sid}").stdout
