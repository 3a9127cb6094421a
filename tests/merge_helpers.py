"""Shared setup for the merge gate tests: a repo with a suite, local-only files and finished
dispatches created the way `git flower dispatch` leaves them (record `exited`, exit 0, a real
worktree with the agent's commits)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from conftest import flower, git, make_repo, write_exe

SUITE = r'''#!/usr/bin/env python3
import os, sys
junit = sys.argv[1] if len(sys.argv) > 1 else None
broken = os.path.exists("BREAK")
n = int(os.environ.get("SUITE_N", "10"))
cases = []
for i in range(n):
    inner = ""
    if i < 2: inner = "<skipped/>"
    elif broken and i == 2: inner = '<failure message="boom">boom</failure>'
    cases.append(f'<testcase classname="t" name="case{i}">{inner}</testcase>')
if junit:
    open(junit, "w").write('<?xml version="1.0"?><testsuites><testsuite name="s">'
                           + "".join(cases) + "</testsuite></testsuites>")
print(f"{n - 2 - int(broken)} passed, {int(broken)} failed, 2 skipped in 0.01s")
sys.exit(1 if broken else 0)
'''


def suite_moving_main(repo: Path) -> str:
    """The test suite, which also commits to ``repo``'s checked-out branch while it runs
    (someone else landing work during the gate)."""
    return SUITE.replace(
        'sys.exit(1 if broken else 0)',
        'import subprocess\n'
        f'subprocess.run(["git", "-C", {str(repo)!r}, "commit", "-q", "--allow-empty",'
        ' "-m", "their commit"], check=True)\n'
        'sys.exit(1 if broken else 0)')


def setup_repo(tmp: Path, *, suite: str = SUITE, timeout: int = 60,
               local_only: tuple[str, ...] = ("solo.yml",), track_solo: bool = True,
               object_format: str = "sha1", release: str | None = None) -> Path:
    repo = make_repo(tmp / "repo", object_format=object_format)
    exe = write_exe(tmp / "bin" / "fake-suite", suite.replace("/usr/bin/env python3", sys.executable))
    if track_solo:
        (repo / "solo.yml").write_text("watch: npm run dev\n")
        git(repo, "add", "solo.yml")
        git(repo, "commit", "-qm", "solo.yml")
    cfg = (repo / ".flower.toml").read_text()
    import re

    cfg = re.sub(r"(?ms)^\[suite\].*?(?=^\[|\Z)", "", cfg)
    cfg = re.sub(r"(?ms)^\[merge\].*?(?=^\[|\Z)", "", cfg)
    cfg += f'\n[suite]\ncommand = ["{exe}", "{{junit}}"]\ntimeout = {timeout}\n'
    cfg += "\n[merge]\nlocal_only = [" + ", ".join(f'"{p}"' for p in local_only) + "]\n"
    if release is not None:  # when the worker worktree goes: "background" (default), "inline"
        cfg += f'release = "{release}"\n'
    (repo / ".flower.toml").write_text(cfg)
    git(repo, "add", ".flower.toml")
    git(repo, "commit", "-qm", "flower config")
    r = flower(repo, "trust")
    assert r.returncode == 0, r.stderr
    return repo


def finished(repo: Path, title: str, files: dict[str, str | None], *, exit_code: int = 0,
             state: str = "exited", base: str = "main", ended_at: str = "2026-11-20T10:00:00Z",
             agent: str = "script") -> int:
    """A brief with a finished dispatch: a worker worktree on its own branch with one commit."""
    from flowergit.gitio.repo import discover
    from flowergit.state.dispatches import DispatchStore

    r = flower(repo, "brief", "new", title, "--json")
    assert r.returncode == 0, r.stderr
    import json

    bid = int(json.loads(r.stdout)["data"]["id"])
    branch = f"flower/{bid}-work"
    wt = repo.parent / "workers" / str(bid)
    git(repo, "worktree", "add", "-q", "-b", branch, str(wt), base)
    for path, text in files.items():
        p = wt / path
        if text is None:
            git(wt, "rm", "-q", path)
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        git(wt, "add", "-f", path)
    git(wt, "commit", "-qm", f"agent work for {bid}")
    base_oid = git(repo, "rev-parse", base).stdout.strip()
    store = DispatchStore(discover(str(repo)))
    store.claim(bid, 1, {"state": state, "agent": agent, "title": title, "branch": branch,
                         "worktree": str(wt),
                         "base": base_oid, "target": "main", "exit_code": exit_code,
                         "ended_at": ended_at, "log": str(repo / ".git" / "x.log")})
    return bid


def dirty_local_state(repo: Path) -> None:
    """Dirty tracked solo.yml, a local README edit, an untracked file, a staged file."""
    (repo / "solo.yml").write_text("watch: npm run watch   # local only\n")
    with open(repo / "README.md", "a") as f:
        f.write("local edit\n")
    (repo / "notes-local.txt").write_text("untracked\n")
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")


def notes_of(repo: Path, rev: str) -> list[dict]:
    import json

    r = git(repo, "notes", "--ref=flower", "show", rev, check=False)
    if r.returncode != 0:
        return []
    return [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]


def env_fp(points: str) -> dict[str, str]:
    return {"FLOWER_TESTING": "1", "FLOWER_FAILPOINTS": points}


__all__ = ["setup_repo", "finished", "dirty_local_state", "notes_of", "env_fp", "os"]


def wait_released(repo: Path, bid: int, attempt: int = 1, timeout: float = 20.0) -> dict:
    """The dispatch record once the merge's background release of the worker worktree has
    recorded ``worktree_released`` (or the timeout passed): what a test waits for before it
    touches the place the worktree was."""
    import json
    import time

    deadline = time.monotonic() + timeout
    while True:
        rec = json.loads(git(repo, "cat-file", "blob",
                             f"refs/flower/dispatch/{bid}/{attempt}:record.json").stdout)
        if rec.get("worktree_released") or time.monotonic() > deadline:
            return rec
        time.sleep(0.05)
