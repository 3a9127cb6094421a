"""Shared by the sync, remote and hook tests: a bare remote served by `git daemon` on loopback."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import flower, git


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """Serve every repository under ``base`` read-write on 127.0.0.1; yields the URL prefix."""
    port = free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
         f"--base-path={base}", "--export-all", "--enable=receive-pack", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"git://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            probe = subprocess.run(["git", "ls-remote", f"{url}/none.git"], capture_output=True,
                                   timeout=5)
            if b"not exported" in probe.stderr or b"does not appear" in probe.stderr \
                    or probe.returncode == 0 or b"remote error" in probe.stderr:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("git daemon did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def served_remote(tmp_path: Path, seed: Path) -> Path:
    """A bare copy of ``seed`` (with flower/briefs) under tmp_path/srv/proj.git."""
    srv = tmp_path / "srv"
    srv.mkdir()
    bare = srv / "proj.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    git(seed, "push", "-q", str(bare), "refs/heads/flower/briefs:refs/heads/flower/briefs")
    return bare


def clone(tmp_path: Path, url: str, name: str, *, init: bool = True) -> Path:
    dest = tmp_path / name
    git(tmp_path, "clone", "-q", url, str(dest))
    if init:
        r = flower(dest, "init", "--remote", "origin")
        assert r.returncode == 0, r.stderr
    return dest


def remote_refs(bare: Path, prefix: str = "refs/") -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(refname) %(objectname)", prefix).stdout
    pairs = [line.split(" ", 1) for line in out.splitlines() if line]
    return {name: oid for name, oid in pairs}

