"""Interactive agents in tmux: a prompt on the agent's screen shows as `waiting` in ps/status,
`send` answers it with key names, a profile's `answers` type them by themselves, a question
found by silence, `tick` honours a profile's `tmux = true`, and the MCP `send` tool answers a
waiting agent. The watcher that reads the screen is unit-tested first (no tmux needed)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, flower, flower_json, git, until, write_exe
from test_dispatch import add_agent, dispatch, new_brief, record, wait_all

from flowergit.procs import tmux
from flowergit.procs.waiting import Screen, Watcher

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

PROMPT = "Allow this command? [y/N]"
AUTO_YES = 'answers = [{match = "Allow this command", keys = ["y", "Enter"]}]\n'

# Asks PROMPT (the cursor stays on its line), notes when it asked, and records the answer.
ASKER = f"""#!{sys.executable}
import os, sys, time
rec = os.path.join(os.environ["REC_DIR"], os.environ["FLOWER_BRIEF"])
print("checking the tree", flush=True)
sys.stdout.write({PROMPT!r} + " ")
sys.stdout.flush()
open(rec + ".asked", "w").write(repr(time.time()))
answer = sys.stdin.readline().rstrip("\\n")
open(rec + ".answer", "w").write(answer)
print("got", answer, flush=True)
"""

# First a line ending in ":" followed by silence, with the cursor on the next line (not a
# question), then a question no built-in pattern knows, found by silence alone.
QUIET = f"""#!{sys.executable}
import os, sys, time
rec = os.path.join(os.environ["REC_DIR"], os.environ["FLOWER_BRIEF"])
print("step one:", flush=True)
open(rec + ".working", "w").write("")
time.sleep(2.5)
sys.stdout.write("Name of the new branch: ")
sys.stdout.flush()
open(rec + ".asked", "w").write(repr(time.time()))
answer = sys.stdin.readline().rstrip("\\n")
open(rec + ".answer", "w").write(answer)
"""


# The agent of the example in docs/dispatch.md: a question its profile answers, then one for you.
DOC_AGENT = f"""#!{sys.executable}
import os, sys
rec = os.path.join(os.environ["REC_DIR"], os.environ["FLOWER_BRIEF"])
sys.stdout.write("Do you trust the files in this folder? (Enter to confirm) ")
sys.stdout.flush()
sys.stdin.readline()
sys.stdout.write({PROMPT!r} + " ")
sys.stdout.flush()
open(rec + ".answer", "w").write(sys.stdin.readline().rstrip("\\n"))
"""
DOC_MARK = "<!-- the profile and the commands below run in tests/test_interactive.py -->"




def text_of(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def ps_row(repo: Path, bid: int) -> dict[str, Any]:
    rows = flower_json(repo, "ps")
    return next(r for r in rows if r["brief"] == bid)  # type: ignore[union-attr]


def waiting_row(repo: Path, bid: int) -> dict[str, Any] | None:
    row = ps_row(repo, bid)
    return row if row["state"] == "waiting" else None


def subjects(repo: Path, did: str) -> list[str]:
    b, a = did.split(".")
    return git(repo, "log", "--format=%s", f"refs/flower/dispatch/{b}/{a}").stdout.splitlines()


# -- the watcher, on screens made by hand -----------------------------------------------------
def screen(*lines: str, top: int = 0, cursor: int | None = None) -> Screen:
    """A 6-row screen; the cursor on the last non-empty line unless told."""
    rows = (list(lines) + [""] * 6)[:6]
    last = max((i for i, ln in enumerate(rows) if ln), default=0)
    return Screen(tuple(rows), top, top + (last if cursor is None else cursor))


def test_watcher_reports_a_prompt_until_its_answer_is_entered() -> None:
    w = Watcher()
    assert w.see(screen("working"), 0.0) is None and w.waiting is None
    w.see(screen("working", "Proceed? [y/N] "), 1.0)
    assert w.waiting == "Proceed? [y/N]"
    w.see(screen("working", "Proceed? [y/N] y"), 1.5)  # echo of a key: still the same question
    assert w.waiting == "Proceed? [y/N]"
    w.see(screen("working", "Proceed? [y/N] y", cursor=2), 2.0)  # Enter: the cursor moved on
    assert w.waiting is None
    w.see(screen("working", "Proceed? [y/N] y", "Proceed? [y/N] "), 3.0)  # asked again below
    assert w.waiting == "Proceed? [y/N]"
    w.see(screen("done."), 4.0)
    assert w.waiting is None


def test_watcher_answers_once_per_appearance_after_the_screen_settles() -> None:
    w = Watcher(answers=[("Allow this command", ["y", "Enter"])])
    s = screen("$ rm -rf build", PROMPT + " ")
    assert w.see(s, 0.0) is None and w.waiting is None  # just drawn: let it settle
    assert w.see(s, 0.5) == (PROMPT, ("y", "Enter"))
    assert w.waiting is None  # answered: never reported as waiting
    assert w.see(s, 1.0) is None  # the same appearance is answered once
    assert w.see(screen("$ rm -rf build", PROMPT + " y"), 1.5) is None  # its echo
    # the same question again, lower down the history (the screen scrolled by one line)
    again = screen(PROMPT + " y", "removed", PROMPT + " ", top=1)
    assert w.see(again, 2.0) is None
    assert w.see(again, 2.5) == (PROMPT, ("y", "Enter"))


def test_watcher_profile_prompts_and_the_silence_guess() -> None:
    w = Watcher(prompts=[r"^> $|^>$"], silence=1.0)
    w.see(screen("ready", ">"), 0.0)
    assert w.waiting == ">"
    quiet = Watcher(silence=1.0)
    quiet.see(screen("step one:", cursor=1), 0.0)  # the cursor is below it: output, not a question
    quiet.see(screen("step one:", cursor=1), 5.0)
    assert quiet.waiting is None
    quiet.see(screen("step one:", "Branch name:"), 6.0)
    assert quiet.waiting is None  # not silent long enough yet
    quiet.see(screen("step one:", "Branch name:"), 7.1)
    assert quiet.waiting == "Branch name:"
    off = Watcher(silence=0)
    off.see(screen("Branch name:"), 0.0)
    off.see(screen("Branch name:"), 100.0)
    assert off.waiting is None
    changing = Watcher(silence=1.0)
    for i in range(5):  # a spinner above keeps the screen busy: no silence, no question
        changing.see(screen(f"spin {i}", "Name?"), i * 0.5)
    assert changing.waiting is None


def test_a_last_semicolon_is_escaped_for_tmux() -> None:
    assert tmux._literal("a;b") == "a;b"
    assert tmux._literal("done;") == "done\\;"
    assert tmux._literal(";") == "\\;"


# -- real agents in tmux ----------------------------------------------------------------------
@pytest.mark.slow
@needs_tmux
def test_a_prompt_shows_as_waiting_and_send_answers_it_with_keys(repo: Path, tmp_path: Path,
                                                                rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "asker", ASKER)
    add_agent(repo, "asker", [str(exe)], extra="tmux = true\n")
    bid = new_brief(repo, "asks")
    d = dispatch(repo, bid, "--agent", "asker")  # no --tmux: the profile asks for it
    assert d["tmux"] is True
    asked = float(until(lambda: text_of(rec_dir / f"{bid}.asked"), what="the question"))
    row = until(lambda: waiting_row(repo, bid), timeout=10, what="ps to say waiting", poll=0.01)
    assert time.time() - asked < 2.0, "ps said waiting more than 2 s after the prompt"
    assert row["record_state"] == "running"
    assert row["waiting"]["prompt"] == PROMPT and row["waiting"]["since"].endswith("Z")
    st = flower_json(repo, "status")
    assert [(w["id"], w["state"], w["waiting"]["prompt"]) for w in st["workers"]] == \
        [(f"{bid}.1", "waiting", PROMPT)]  # type: ignore[index]
    assert st["running"] == 1  # type: ignore[index]
    plain = flower(repo, "ps")
    assert f"{bid}.1" in plain.stdout and "waiting" in plain.stdout
    assert f"waiting: {PROMPT}" in plain.stdout
    # bad key names and an empty send: exit 2, nothing typed
    bad = flower(repo, "send", str(bid), "--key", "Return")
    assert bad.returncode == 2 and "fatal: unknown key 'Return'" in bad.stderr
    assert "hint: keys are one character (such as y or n) or one of Enter, Escape, Tab" in bad.stderr
    doc = json.loads(flower(repo, "send", str(bid), "--key", "yes", "--json").stdout)
    assert doc["ok"] is False and doc["error"]["code"] == "usage"
    empty = flower(repo, "send", str(bid))
    assert empty.returncode == 2 and "nothing to send" in empty.stderr
    assert text_of(rec_dir / f"{bid}.answer") is None and waiting_row(repo, bid)
    sent = flower_json(repo, "send", str(bid), "--key", "y", "--key", "Enter")
    assert sent == {"id": f"{bid}.1", "sent": "", "keys": ["y", "Enter"], "enter": False}
    got = wait_all(repo, bid)
    assert got[0]["state"] == "exited" and got[0]["exit_code"] == 0
    assert text_of(rec_dir / f"{bid}.answer") == "y"
    rec = record(repo, f"{bid}.1")
    assert rec["state"] == "exited" and "waiting" not in rec and rec["tmux"] is True
    assert "waiting" not in flower_json(repo, "ps")[0] or \
        flower_json(repo, "ps")[0]["waiting"] is None  # type: ignore[index]
    assert f"dispatch {bid}.1: waiting at a prompt" in subjects(repo, f"{bid}.1")


@pytest.mark.slow
@needs_tmux
def test_answers_are_typed_by_themselves_and_logged(repo: Path, tmp_path: Path,
                                                    rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "asker", ASKER)
    add_agent(repo, "yes", [str(exe)], extra="tmux = true\n" + AUTO_YES)
    bid = new_brief(repo, "asks and is answered")
    dispatch(repo, bid, "--agent", "yes")
    got = wait_all(repo, bid)
    assert got[0]["state"] == "exited" and got[0]["exit_code"] == 0
    assert text_of(rec_dir / f"{bid}.answer") == "y"
    log = flower(repo, "logs", str(bid)).stdout
    assert f'[git flower] answered "{PROMPT}" with y Enter' in log
    assert log.count("[git flower] answered") == 1
    assert not [s for s in subjects(repo, f"{bid}.1") if "waiting" in s]


@pytest.mark.slow
@needs_tmux
def test_a_question_is_found_by_silence(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "quiet", QUIET)
    add_agent(repo, "quiet", [str(exe)], extra="tmux = true\n")
    git(repo, "config", "flower.waitingSilence", "1")
    bid = new_brief(repo, "asks quietly")
    dispatch(repo, bid, "--agent", "quiet")
    until(lambda: text_of(rec_dir / f"{bid}.working") is not None, what="the first step")
    end = time.monotonic() + 1.8  # silent for longer than 1 s, but its cursor is not on the line
    while time.monotonic() < end and text_of(rec_dir / f"{bid}.asked") is None:
        assert ps_row(repo, bid)["state"] == "running"
        time.sleep(0.1)
    asked = float(until(lambda: text_of(rec_dir / f"{bid}.asked"), what="the question"))
    row = until(lambda: waiting_row(repo, bid), timeout=10, what="ps to say waiting", poll=0.02)
    assert time.time() - asked < 1.0 + 3.0  # the silence, then as quick as a prompt
    assert row["waiting"]["prompt"] == "Name of the new branch:"
    r = flower(repo, "send", str(bid), "topic/x;", "--enter", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"] == {"id": f"{bid}.1", "sent": "topic/x;", "keys": [],
                                            "enter": True}
    got = wait_all(repo, bid)
    assert got[0]["exit_code"] == 0
    assert text_of(rec_dir / f"{bid}.answer") == "topic/x;"  # a last ; reaches the agent too


@pytest.mark.slow
@needs_tmux
def test_tick_runs_a_tmux_profile_in_tmux(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "asker", ASKER)
    add_agent(repo, "yes", [str(exe)], extra="tmux = true\n" + AUTO_YES)
    bid = flower_json(repo, "brief", "new", "queued for tick", "--auto",
                      "--agent", "yes")["id"]  # type: ignore[index]
    flower_json(repo, "brief", "plan", str(bid))
    t = flower_json(repo, "tick")
    assert [d["brief"] for d in t["dispatched"]] == [bid]  # type: ignore[index]
    got = wait_all(repo, bid)
    assert got[0]["exit_code"] == 0
    rec = record(repo, f"{bid}.1")
    assert rec["tmux"] is True and rec["tmux_session"] == f"flower-{bid}-1"
    assert text_of(rec_dir / f"{bid}.answer") == "y"


@pytest.mark.slow
@needs_tmux
def test_the_mcp_send_tool_answers_a_waiting_agent(repo: Path, tmp_path: Path,
                                                   rec_dir: Path) -> None:
    pytest.importorskip("mcp")
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    exe = write_exe(tmp_path / "bin" / "asker", ASKER)
    add_agent(repo, "asker", [str(exe)], extra="tmux = true\n")
    bid = new_brief(repo, "asks over mcp")

    def data(res: Any) -> Any:
        assert not res.is_error, res.content
        doc = res.structured_content
        return doc["result"] if isinstance(doc, dict) and set(doc) == {"result"} else doc

    async def steps(s: ClientSession) -> Any:
        data(await s.call_tool("dispatch", {"brief": bid, "agent": "asker"}))
        deadline = time.monotonic() + 30
        while True:
            rows = data(await s.call_tool("ps", {}))
            row = next(r for r in rows if r["brief"] == bid)
            if row["state"] == "waiting":
                break
            assert time.monotonic() < deadline, "the agent never showed as waiting"
            await anyio.sleep(0.1)
        sent = data(await s.call_tool("send", {"target": bid, "keys": ["y", "Enter"]}))
        waited = data(await s.call_tool("wait", {"targets": [bid], "timeout": 30}))
        return row, sent, waited

    async def session() -> Any:
        params = StdioServerParameters(command=sys.executable, args=["-m", "flowergit", "mcp"],
                                       cwd=str(repo), env=dict(os.environ))
        with anyio.fail_after(120):
            async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
                await s.initialize()
                return await steps(s)

    row, sent, waited = anyio.run(session)
    assert row["waiting"]["prompt"] == PROMPT
    assert sent["id"] == f"{bid}.1" and sent["keys"] == ["y", "Enter"]
    assert waited[0]["exit_code"] == 0
    assert text_of(rec_dir / f"{bid}.answer") == "y"


@pytest.mark.slow
@needs_tmux
def test_the_example_in_the_docs_runs(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    """docs/dispatch.md, "Agents in a terminal": its profile and its commands, as written."""
    text = (ROOT / "docs" / "dispatch.md").read_text().split(DOC_MARK, 1)[1]
    profile = re.search(r"```toml\n(.*?)```", text, re.S)
    console = re.search(r"```console\n(.*?)```", text, re.S)
    assert profile and console
    exe = write_exe(tmp_path / "bin" / "my-agent", DOC_AGENT)
    cfg = repo / ".flower.toml"
    assert '"my-agent"' in profile[1]
    cfg.write_text(cfg.read_text() + "\n" + profile[1].replace('"my-agent"', json.dumps(str(exe))))
    git(repo, "commit", "-qam", "agent asker")
    assert flower(repo, "trust").returncode == 0
    bid = new_brief(repo, "the documented example")
    commands = [shlex.split(re.sub(r"\s+#.*$", "", line[2:]))
                for line in console[1].splitlines() if line.startswith("$ ")]
    assert [c[:3] for c in commands] == [["git", "flower", "dispatch"], ["git", "flower", "ps"],
                                         ["git", "flower", "ps"], ["git", "flower", "send"],
                                         ["git", "flower", "wait"]]
    for cmd in commands:
        args = [str(bid) if a == "12" else a for a in cmd[2:]]
        if args[0] == "ps":
            until(lambda: waiting_row(repo, bid), timeout=15, what="the agent to wait")
        r = flower(repo, *args)
        assert r.returncode == 0, (args, r.stderr)
        if args == ["ps"]:
            assert f"waiting: {PROMPT}" in r.stdout
        if args == ["ps", "--json"]:
            row = json.loads(r.stdout)["data"][0]
            assert row["state"] == "waiting" and row["waiting"]["prompt"] == PROMPT
    assert text_of(rec_dir / f"{bid}.answer") == "y"
    log = flower(repo, "logs", str(bid)).stdout
    assert '[git flower] answered "Do you trust the files in this folder? (Enter to confirm)" ' \
        'with Enter' in log
    assert record(repo, f"{bid}.1")["tmux"] is True
