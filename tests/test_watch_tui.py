"""The interactive `watch`, driven for real in tmux at 80×24: rows never wrap, what is typed never
lands on the screen, and keys select an attempt, open its log, merge it after a confirmation and
quit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import flower_json, git
from merge_helpers import finished, setup_repo

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None and not os.environ.get("CI"),
                                 reason="needs tmux (CI installs it)")]

LONG = "A title far longer than any terminal is wide, " * 5


class Pane:
    """One tmux session of its own (a private server socket), 80×24."""

    def __init__(self, sock: Path) -> None:
        self.sock = str(sock)

    def tmux(self, *args: str) -> str:
        r = subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, f"tmux {' '.join(args)}: {r.stderr}"
        return r.stdout

    def screen(self) -> list[str]:
        return self.tmux("capture-pane", "-p", "-t", "w").split("\n")[:24]

    def keys(self, *keys: str) -> None:
        for k in keys:
            self.tmux("send-keys", "-t", "w", k)
            time.sleep(0.15)

    def until(self, pred: Callable[[list[str]], bool], what: str, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        lines = self.screen()
        while time.monotonic() < deadline:
            lines = self.screen()
            if pred(lines):
                return lines
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the screen:\n" + "\n".join(lines))


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    p = Pane(tmp_path / "tmux.sock")
    yield p
    subprocess.run(["tmux", "-S", p.sock, "kill-server"], capture_output=True)


def has(text: str) -> Callable[[list[str]], bool]:
    return lambda lines: any(text in ln for ln in lines)


def test_watch_in_tmux_at_80x24_selects_logs_merges_and_quits(tmp_path: Path, pane: Pane) -> None:
    repo = setup_repo(tmp_path)
    first = finished(repo, LONG, {"a.py": "a = 1\n"})
    second = finished(repo, "Add multiply", {"m.py": "m = 2\n"}, ended_at="2026-11-20T09:00:00Z")
    exe = f"{sys.executable} -m flowergit"
    env = " ".join(f"{k}={v!r}" for k, v in os.environ.items()
                   if k.startswith(("GIT_", "HOME", "PATH", "XDG_")))
    pane.tmux("new-session", "-d", "-s", "w", "-x", "80", "-y", "24",
              f"cd {repo} && env {env} TERM=xterm-256color {exe} watch --interval 0.5; "
              "echo WATCH-EXITED $?; sleep 60")
    lines = pane.until(has("ready to merge"), "the watch to show what needs the user")
    assert lines[0] == "needs you"
    assert f"  2 ready to merge: {second} {first}  → git flower merge" in lines[1]
    # every row on one line, cut to the width: the long title ends in … and the next row
    # follows at once
    rows = [i for i, ln in enumerate(lines) if ln.startswith((f" {first}.1 ", f" {second}.1 "))]
    assert len(rows) == 2 and rows[1] == rows[0] + 1, "\n".join(lines)
    assert "…" in lines[rows[0] if lines[rows[0]].startswith(f" {first}.1") else rows[1]]
    assert all(len(ln) <= 80 for ln in lines)
    # typing that means nothing here changes nothing on the screen
    before = pane.screen()
    pane.keys("z", "z", "Space", "%", "$")
    time.sleep(1.0)
    after = pane.screen()
    assert not any("zz" in ln or "%$" in ln for ln in after)
    assert [ln for ln in after if "needs you" in ln] == ["needs you"]
    assert after[:8] == before[:8]
    # select the second row and open its log; q comes back
    top = [ln for ln in after if ln.startswith((f" {first}.1 ", f" {second}.1 "))][0].split()[0]
    other = f"{first}.1" if top == f"{second}.1" else f"{second}.1"
    pane.keys("Down", "Enter")
    pane.until(has(f"log of {other}"), "the log view of the selected attempt")
    pane.keys("q")
    pane.until(has("ready to merge"), "the fleet again")
    # merge it, after saying yes to the question
    pane.keys("m")
    brief = other.split(".")[0]
    pane.until(has(f"Merge brief {brief} ({other}) into main?"), "the merge confirmation")
    pane.keys("n")
    time.sleep(1.0)
    assert "  2 ready to merge" in "\n".join(pane.screen())  # no: nothing merged
    pane.keys("m")
    pane.until(has(f"Merge brief {brief} ({other}) into main?"), "the merge confirmation")
    pane.keys("y")
    pane.until(has("1 ready to merge"), "the merge to land and the view to follow", timeout=90)
    assert git(repo, "log", "-1", "--format=%s", "main").stdout.startswith(f"Merge brief {brief} ")
    data = flower_json(repo, "status")
    assert [e["id"] for e in data["ended"]] == [f"{first if brief == str(second) else second}.1"]  # type: ignore[index]
    # q quits, with exit 0, and gives the terminal back
    pane.keys("q")
    lines = pane.until(has("WATCH-EXITED"), "the watch to quit")
    assert any(ln.startswith("WATCH-EXITED 0") for ln in lines)
