"""The live view (`watch`, the status dashboard), prime, AGENTS.md, porcelain and --format output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import flower, flower_json

PY = sys.executable


def brief_with_steps(repo: Path, title: str, steps: list[list[str]]) -> int:
    bid = int(flower_json(repo, "brief", "new", title)["id"])  # type: ignore[index]
    r = flower(repo, "brief", "set", str(bid), "run=" + json.dumps(steps))
    assert r.returncode == 0, r.stderr
    return bid


def slow_agent_steps(go: Path) -> list[list[str]]:
    """A script-agent brief that commits once, then waits (bounded) for ``go`` to exist."""
    return [["sh", "-c", "echo one > one.txt && git add one.txt && git commit -qm 'step one' "
             f"&& i=0; while [ ! -e {go} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done"]]


def wait_for(pred, what: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# -- watch ---------------------------------------------------------------------------------------
def test_watch_piped_prints_plain_frames_only_on_change(repo: Path) -> None:
    flower(repo, "brief", "new", "evil\x1b[31m title")
    r = flower(repo, "watch", "--count", "3", "--interval", "0.05")
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout
    assert r.stdout.count("-- ") == 1  # nothing changed between the frames
    assert "briefs: 1 (1 draft)" in r.stdout


def test_watch_json_lines(repo: Path) -> None:
    r = flower(repo, "watch", "--json", "--count", "2", "--interval", "0.05")
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["ok"] and {"status", "ps", "at"} <= set(doc["data"])
    bad = flower(repo, "watch", "--interval", "0")
    assert bad.returncode == 2


def test_watch_frames_follow_a_dispatch_and_ids_are_whole(repo: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    bid = brief_with_steps(repo, "slow one", slow_agent_steps(go))
    flower_json(repo, "dispatch", str(bid))
    from flowergit.ops import watch
    from flowergit.ops.context import Ctx
    from flowergit.render import watch as view

    ctx = Ctx(str(repo))
    snap = wait_for(lambda: (s := watch.snapshot(ctx)) and any(
        r["ahead"] == 1 and r["state"] == "running" for r in s["ps"]) and s, "the first commit")
    text = view.plain(snap)
    assert f"{bid}.1" in text and "running" in text and "step one" in text
    go.write_text("")
    flower(repo, "wait", str(bid), "--timeout", "60")
    later = watch.snapshot(ctx)
    assert watch.signature(later) != watch.signature(snap)
    assert f"{bid}.1" in view.plain(later) and " done " in view.plain(later)  # its outcome


@pytest.mark.skipif(shutil.which("tmux") is None, reason="no tmux")
def test_watch_under_tmux_updates_as_the_agent_progresses(repo: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    bid = brief_with_steps(repo, "watched", slow_agent_steps(go))
    sock = str(tmp_path / "tmux.sock")
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("TMUX", None)
    cmd = f"cd {repo} && {PY} -m flowergit watch --interval 0.2"
    subprocess.run(["tmux", "-S", sock, "new-session", "-d", "-s", "w", "-x", "160", "-y", "40",
                    cmd], env=env, check=True, timeout=30)

    def pane() -> str:
        r = subprocess.run(["tmux", "-S", sock, "capture-pane", "-p", "-t", "w"], env=env,
                           capture_output=True, text=True, timeout=30)
        return r.stdout

    try:
        wait_for(lambda: "no dispatches" in pane(), "the empty dashboard")
        flower_json(repo, "dispatch", str(bid))
        wait_for(lambda: f"{bid}.1" in pane() and "running" in pane(), "the running dispatch")
        go.write_text("")
        wait_for(lambda: " done " in pane() or "no-changes" in pane(), "the finished dispatch")
        assert "briefs 1" in pane()
    finally:
        go.write_text("")
        subprocess.run(["tmux", "-S", sock, "kill-server"], env=env, timeout=30)


@pytest.mark.skipif(shutil.which("script") is None, reason="no script(1)")
def test_dashboard_is_styled_on_a_tty_and_plain_when_piped(repo: Path) -> None:
    flower(repo, "brief", "new", "one")
    code = ("from flowergit.ops.context import Ctx; from flowergit.ops import status; "
            "from flowergit.render import watch; watch.status(status.status(Ctx().load()))")
    tty = subprocess.run(["script", "-qec", f"{PY} -c '{code}'", "/dev/null"], cwd=repo,
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "TERM": "xterm-256color"}, stdin=subprocess.DEVNULL)
    assert "\x1b[" in tty.stdout and "briefs 1" in tty.stdout
    piped = subprocess.run([PY, "-c", code], cwd=repo, capture_output=True, text=True, timeout=60)
    assert "\x1b" not in piped.stdout and "briefs: 1 (1 draft)" in piped.stdout
    nocolor = subprocess.run(["script", "-qec", f"{PY} -c '{code}'", "/dev/null"], cwd=repo,
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                             env={**os.environ, "TERM": "xterm-256color", "NO_COLOR": "1"})
    assert "\x1b[" not in nocolor.stdout


def test_human_durations() -> None:
    from flowergit.render.text import human_duration

    assert [human_duration(s) for s in (None, 5, 65, 3725, 90061)] == \
        ["-", "5s", "1m05s", "1h02m", "1d01h"]


def test_progress_is_silent_when_not_a_terminal() -> None:
    code = ("from flowergit.render.watch import progress\n"
            "with progress('working', total=3) as p:\n"
            "    p.advance(); p.update(description='more'); p.advance(2)\n"
            "print('done')\n")
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "done\n" and r.stderr == ""


# -- prime and AGENTS.md ---------------------------------------------------------------------
def test_prime_in_main_checkout_is_the_orchestrator_primer(repo: Path) -> None:
    flower(repo, "brief", "new", "something")
    r = flower(repo, "prime")
    assert r.returncode == 0, r.stderr
    assert "orchestrator primer" in r.stdout and "git flower dispatch N" in r.stdout
    assert "briefs: 1 (1 draft)" in r.stdout
    data = flower_json(repo, "prime")
    assert data["role"] == "orchestrator" and data["status"]["briefs"]["total"] == 1  # type: ignore[index]


@pytest.mark.slow
def test_prime_in_a_dispatch_worktree_prints_its_packet_and_progress(repo: Path) -> None:
    bid = brief_with_steps(repo, "make a file", [["sh", "-c", "echo x > made.txt"]])
    started = flower_json(repo, "dispatch", str(bid))
    flower(repo, "wait", str(bid), "--timeout", "60")
    wt = Path(started["worktree"])  # type: ignore[index]
    (wt / "scratch.txt").write_text("uncommitted\n")
    r = flower(wt, "prime")
    assert r.returncode == 0, r.stderr
    assert f"git flower dispatch {bid}.1" in r.stdout and "git flower done" in r.stdout
    assert "make a file" in r.stdout
    data = flower_json(wt, "prime")
    assert data["role"] == "worker" and data["dispatch"] == f"{bid}.1"  # type: ignore[index]
    assert data["progress"] == {"commits": 1, "uncommitted": 1}  # type: ignore[index]
    # FLOWER_DISPATCH names the dispatch even from elsewhere
    env = flower_json(repo, "prime", env={"FLOWER_DISPATCH": f"{bid}.1"})
    assert env["role"] == "worker"  # type: ignore[index]
    # the packet file gone (another machine): rendered again from the record and the brief
    os.unlink(data["packet"])  # type: ignore[index]
    again = flower(wt, "prime")
    assert again.returncode == 0 and "make a file" in again.stdout


def test_prime_with_an_unknown_dispatch(repo: Path) -> None:
    r = flower(repo, "prime", env={"FLOWER_DISPATCH": "77.1"})
    assert r.returncode == 3 and "no dispatch of brief 77" in r.stderr
    r = flower(repo, "prime", env={"FLOWER_DISPATCH": "nonsense"})
    assert r.returncode == 2


def test_agents_md_section_added_once_never_overwriting(repo: Path) -> None:
    r = flower(repo, "prime", "--agents-md")
    assert r.returncode == 0 and "created" in r.stdout
    text = (repo / "AGENTS.md").read_text()
    assert "git flower prime" in text and text.count("git-flower:begin") == 1
    (repo / "AGENTS.md").write_text("# Ours\n\nKeep this line.")
    r = flower(repo, "prime", "--agents-md")
    assert "appended" in r.stdout
    text = (repo / "AGENTS.md").read_text()
    assert text.startswith("# Ours\n\nKeep this line.\n") and text.count("git-flower:begin") == 1
    again = flower_json(repo, "prime", "--agents-md")
    assert again["changed"] is False  # type: ignore[index]
    assert (repo / "AGENTS.md").read_text() == text
    # from a subdirectory: the main checkout's AGENTS.md
    (repo / "sub").mkdir()
    assert flower_json(repo / "sub", "prime", "--agents-md")["path"] == str(repo / "AGENTS.md")  # type: ignore[index]


# -- porcelain and --format ------------------------------------------------------------------
def test_porcelain_values_are_one_line_and_escaped() -> None:
    from flowergit.render.porcelain import porcelain, value_text

    assert value_text(None) == "" and value_text(True) == "true" and value_text(3.0) == "3"
    assert value_text(["a", 2]) == "a,2"
    assert value_text("a\tb\nc\\d\x1b") == "a\\tb\\nc\\\\d\\x1b"
    rows = [{"id": 1, "title": "x\ty", "nested": {"k": "v"}}, {"id": 22}]
    assert porcelain(rows, ["id", "title", "nested.k"]) == "1\tx\\ty\tv\n22\t\t\n"


def test_format_atoms_like_for_each_ref() -> None:
    from flowergit.errors import UsageError
    from flowergit.render.porcelain import format_items

    items = [{"id": 7, "state": "running", "d": {"e": 1}}]
    assert format_items("%(id)%09%(state) 100%% %(d.e)%0a", items) == "7\trunning 100% 1\n\n"
    with pytest.raises(UsageError, match="unknown field"):
        format_items("%(nope)", items, ["id", "state"])
    with pytest.raises(UsageError, match="lone"):
        format_items("50% done", items)


def test_emit_list_refuses_two_output_modes(repo: Path) -> None:
    r = flower(repo, "doctor", "--porcelain", "--format", "%(check)")
    assert r.returncode == 2 and "do not go together" in r.stderr


@pytest.mark.skipif(shutil.which("script") is None, reason="no script(1)")
def test_progress_draws_on_a_terminal_and_leaves_only_the_result(tmp_path: Path) -> None:
    prog = tmp_path / "p.py"
    prog.write_text("import sys\nfrom flowergit.render.watch import progress\n"
                    "with progress('crunching', total=2) as p:\n"
                    "    p.advance(); sys.stderr.flush(); p.advance()\n"
                    "print('result')\n")
    r = subprocess.run(["script", "-qec", f"{PY} {prog}", "/dev/null"], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL,
                       env={**os.environ, "TERM": "xterm-256color"})
    assert r.returncode == 0
    assert "crunching" in r.stdout and "\x1b[" in r.stdout  # drawn, then erased (transient)
    assert r.stdout.rstrip().endswith("result")
