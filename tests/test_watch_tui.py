"""The interactive `watch`, driven for real in tmux: rows never wrap, what is typed never lands on
the screen, and keys select an attempt, open its log, stop it or merge it after a confirmation and
quit, giving the terminal back. First at 80×24 with finished attempts; then with twelve live
workers (the `script` agent sleeping) and finished ones, at 80×24 and 160×45, with Enter and the
window resized under it.

The watch runs without COLUMNS and LINES (pytest exports 80 and 24): with them in its
environment, Textual would take them for the terminal's size and never see the pane's."""

from __future__ import annotations

import json
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
    """One tmux session of its own (a private server socket), 80×24 unless told."""

    def __init__(self, sock: Path, height: int = 24) -> None:
        self.sock = str(sock)
        self.height = height

    def tmux(self, *args: str) -> str:
        r = subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, f"tmux {' '.join(args)}: {r.stderr}"
        return r.stdout

    def screen(self) -> list[str]:
        return self.tmux("capture-pane", "-p", "-t", "w").split("\n")[:self.height]

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
              f"cd {repo} && env -u COLUMNS -u LINES {env} TERM=xterm-256color {exe} watch --interval 0.5; "
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


# -- twelve live workers, at 80×24 and at 160×45 ------------------------------------------------

LIVE_N = 12
DONE_N = 8  # with the twelve live ones, more rows than 24 lines hold


class Fleet:
    """One repository for the module: twelve live workers (the `script` agent sleeping) and
    finished attempts, in the environment it was made in."""

    def __init__(self, repo: Path, env: dict[str, str], live: list[str], done: list[str]) -> None:
        self.repo, self.env, self.live, self.done = repo, env, live, done

    def flower(self, *args: str) -> subprocess.CompletedProcess[str]:
        from conftest import flower

        return flower(self.repo, *args, env=self.env)

    def ps(self) -> dict[str, dict[str, object]]:
        r = self.flower("ps", "--json")
        assert r.returncode == 0, r.stderr
        return {str(x["id"]): x for x in json.loads(r.stdout)["data"]}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    import re

    from conftest import OUTER_PATH, isolate

    tmp = tmp_path_factory.mktemp("fleet")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, tmp / "home", OUTER_PATH)
        env = dict(os.environ)
        repo = setup_repo(tmp)
        cfg = (repo / ".flower.toml").read_text()
        cfg = re.sub(r"(?m)^max_parallel = .*\n", "", cfg)
        cfg = cfg.replace("[flower]\n", f"[flower]\nmax_parallel = {LIVE_N + 4}\n", 1)
        (repo / ".flower.toml").write_text(cfg)
        git(repo, "commit", "-qam", "room for every worker")
        fleet = Fleet(repo, env, [], [])
        assert fleet.flower("trust").returncode == 0
        for i in range(DONE_N):
            bid = finished(repo, f"Finished {i}: {LONG}", {f"f{i}.py": "x = 1\n"},
                           ended_at=f"2026-11-20T09:0{i}:00Z")
            fleet.done.append(f"{bid}.1")
        ids = []
        for i in range(LIVE_N):
            r = fleet.flower("brief", "new", f"Worker {i}: {LONG}", "--json")
            assert r.returncode == 0, r.stderr
            bid = str(json.loads(r.stdout)["data"]["id"])
            assert fleet.flower("brief", "set", bid, 'run=[["sleep","600"]]').returncode == 0
            ids.append(bid)
        try:
            r = fleet.flower("dispatch", *ids)
            assert r.returncode == 0, r.stderr
            fleet.live = [f"{b}.1" for b in ids]
            ps = fleet.ps()
            assert all(ps[d]["state"] == "running" for d in fleet.live), ps
            yield fleet
        finally:
            left = [d for d, x in fleet.ps().items() if x["state"] in ("running", "starting", "queued")]
            if left:
                fleet.flower("stop", *left)
            assert not [d for d, x in fleet.ps().items() if x["state"] == "running"]


def well_formed(lines: list[str], width: int) -> None:
    """One copy of each part of the screen, nothing wider than the pane, nothing typed on it."""
    text = "\n".join(lines)
    assert sum(ln.startswith("needs you") for ln in lines) == 1, text
    assert sum(ln.startswith("briefs ") for ln in lines) == 1, text
    assert sum(ln.startswith(" ID ") for ln in lines) == 1, text
    assert all(len(ln) <= width for ln in lines), text
    assert not any(s in text for s in ("zz", "%$", "^[", "[A", "[B")), text


def rows_of(lines: list[str], ids: list[str]) -> dict[str, int]:
    """The screen line of each attempt's row."""
    return {ln.split()[0]: i for i, ln in enumerate(lines)
            if ln[:1] == " " and ln[1:2] != " " and ln.split() and ln.split()[0] in ids}


def selected(lines: list[str]) -> str | None:
    """The attempt the line under the rows says is selected (``▸ 7.1``)."""
    for ln in lines:
        if ln.strip().startswith("▸ "):
            return ln.split()[1]
    return None


def select(pane: Pane, target: str, everyone: list[str]) -> None:
    """Move the cursor a row at a time until the screen says ``target`` is selected (rows may
    reorder between a look at the screen and a key: the cursor follows its row, not its place)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = pane.screen()
        now = selected(lines)
        order = [d for d, _ in sorted(rows_of(lines, everyone).items(), key=lambda x: x[1])]
        if now == target:
            return
        if now in order and target in order:
            pane.keys("Down" if order.index(target) > order.index(now) else "Up")
        time.sleep(0.3)
    raise AssertionError(f"could not select {target}; the screen:\n" + "\n".join(pane.screen()))


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_watch_with_twelve_live_workers(size: tuple[int, int], fleet: Fleet, tmp_path: Path) -> None:
    width, height = size
    pane = Pane(tmp_path / "tmux.sock", height)
    try:
        run_watch(pane, fleet, width, height)
    finally:
        subprocess.run(["tmux", "-S", pane.sock, "kill-server"], capture_output=True)


def run_watch(pane: Pane, fleet: Fleet, width: int, height: int) -> None:
    exe = f"{sys.executable} -m flowergit"
    env = " ".join(f"{k}={v!r}" for k, v in fleet.env.items()
                   if k.startswith(("GIT_", "HOME", "PATH", "XDG_")))
    pane.tmux("new-session", "-d", "-s", "w", "-x", str(width), "-y", str(height),
              f"cd {fleet.repo} && env -u COLUMNS -u LINES {env} TERM=xterm-256color {exe} watch --interval 0.5; "
              "echo WATCH-EXIT=$?; sleep 60")
    ps = fleet.ps()
    live = [d for d in fleet.live if ps[d]["state"] == "running"]
    done = [d for d in fleet.done if ps[d]["state"] == "exited" and ps[d].get("outcome") != "merged"]
    assert len(live) >= LIVE_N - 1 and done
    lines = pane.until(lambda ls: len(rows_of(ls, live)) >= min(len(live), 5), "the live workers")
    time.sleep(1.0)
    lines = pane.screen()
    well_formed(lines, width)
    everyone = fleet.live + fleet.done  # the stopped and merged ones of an earlier size too
    shown = rows_of(lines, everyone)
    # every row on one line: the rows follow each other, one a line, each cut to the width
    at = sorted(shown.values())
    assert at == list(range(at[0], at[0] + len(at))), "\n".join(lines)
    assert all("…" in lines[i] for i in at), "\n".join(lines)  # the long titles are cut
    assert all(r in shown for r in live), "\n".join(lines)  # the live ones lead
    hidden = len(everyone) - len(shown)
    if hidden:
        assert any(f"{hidden} more row(s) below" in ln for ln in lines), "\n".join(lines)
    if height == 24:
        assert hidden > 0, "\n".join(lines)
    else:
        assert hidden == 0 and not any("more row(s)" in ln for ln in lines), "\n".join(lines)
    order = [ln.split()[0] for ln in (lines[i] for i in at)]
    # typing that means nothing here changes nothing on the screen
    pane.keys("z", "z", "%", "$")
    time.sleep(1.0)
    well_formed(pane.screen(), width)
    # select the third row and open its log (Enter); q comes back
    pick = order[2]
    assert pick in live, order
    pane.keys("Down", "Down", "Enter")
    pane.until(has(f"log of {pick}"), "the log of the selected worker")
    lines = pane.until(has("[script] step 1/1: sleep 600"), "its log")
    assert all(len(ln) <= width for ln in lines)
    pane.keys("q")
    lines = pane.until(has("needs you"), "the fleet again")
    well_formed(lines, width)
    # stop it, after saying yes (the cursor stayed on it)
    pane.keys("x")
    pane.until(has(f"Stop {pick}?"), "the stop confirmation")
    pane.keys("n")
    time.sleep(1.0)
    assert fleet.ps()[pick]["state"] == "running"
    pane.keys("x")
    pane.until(has(f"Stop {pick}?"), "the stop confirmation")
    pane.keys("y")
    pane.until(lambda ls: any(ln.startswith(f" {pick} ") and " stopped " in ln for ln in ls),
               "the worker to stop and its row to say so")
    assert fleet.ps()[pick]["state"] == "stopped"
    pane.until(lambda ls: selected(ls) == pick, "the cursor to stay on the stopped row")
    # merge a finished one: the cursor goes down to its row
    lines = pane.until(lambda ls: bool(rows_of(ls, done)), "a finished row on screen")
    order = [d for d, _ in sorted(rows_of(lines, everyone).items(), key=lambda x: x[1])]
    target = [d for d in order if d in done][0]
    select(pane, target, everyone)
    pane.keys("m")
    brief = target.split(".")[0]
    pane.until(has(f"Merge brief {brief} ({target}) into main?"), "the merge confirmation")
    pane.keys("y")
    pane.until(lambda ls: any(ln.startswith(f" {target} ") and " merged " in ln for ln in ls),
               "the merge to land and its row to say so", timeout=90)
    assert git(fleet.repo, "log", "-1", "--format=%s", "main").stdout.startswith(f"Merge brief {brief} ")
    # a merged attempt is not offered for merging again
    select(pane, target, everyone)
    pane.keys("m")
    pane.until(has(f"{target} is merged already"), "the refusal to merge it again")
    # Enter, and the window made smaller and larger: the screen stays whole
    pane.keys("Enter")
    pane.until(has("log of"), "the log view")
    pane.keys("q")
    pane.until(has("needs you"), "the fleet again")
    for w, h in ((60, 20), (width, height), (200, 50), (width, height)):
        pane.tmux("resize-window", "-t", "w", "-x", str(w), "-y", str(h))
        time.sleep(1.5)
        pane.height = h
        lines = pane.screen()
        well_formed(lines, w)
        at = sorted(rows_of(lines, everyone).values())
        assert at and at == list(range(at[0], at[0] + len(at))), "\n".join(lines)
    # q quits with 0, and the terminal is the shell's again: no alternate screen, no view
    pane.keys("q")
    lines = pane.until(has("WATCH-EXIT="), "the watch to quit")
    assert any(ln.startswith("WATCH-EXIT=0") for ln in lines), "\n".join(lines)
    assert pane.tmux("display-message", "-p", "-t", "w", "#{alternate_on}").strip() == "0"
    assert not any(ln.startswith(("needs you", "briefs ", " ID ")) for ln in lines), "\n".join(lines)
