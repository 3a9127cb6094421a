"""Transcripts: what each agent did and cost, read from its dispatch log.

The fixtures in tests/fixtures/transcripts/ are the real outputs of Claude Code 2.1.332
(`-p --output-format stream-json --verbose`), Codex 0.171.0 (`exec --json`) and Gemini CLI
0.61.0 (`-p --output-format stream-json`) run against tests/modelserver/ with a three-turn
script (write calc.py, commit it, say so); opencode's is written to its documented shape.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from conftest import flower, flower_json, git, write_exe
from merge_helpers import SUITE

from flowergit.procs import transcript
from flowergit.procs.transcript import model_from_argv, price_of, summarize

FIX = Path(__file__).parent / "fixtures" / "transcripts"
MESSAGE = "Added subtract(a, b) to calc.py and committed it."
COMMIT = "git add calc.py && git commit -q -m 'Add subtract'"


# -- the recorded transcripts, exact figures ----------------------------------------------------
def test_claude_stream_json() -> None:
    assert summarize(str(FIX / "claude-stream.jsonl"), "claude") == {
        "model": "claude-opus-5-5", "turns": 3,
        "input_tokens": 12876 + 25464, "output_tokens": 117, "cached_input_tokens": 25464,
        "cost_usd": 0.058937, "cost_source": "reported",
        "last_action": f"Bash: {COMMIT}", "last_message": MESSAGE,
        # the id `claude --resume` takes; the last message's prompt (cache read included) + answer
        "session": "35ae966e-15d4-454c-b18a-cf1be408d550", "context_tokens": 92 + 12784 + 1}


def test_codex_exec_json_takes_its_model_from_the_profile_and_estimates_the_cost() -> None:
    got = summarize(str(FIX / "codex-exec.jsonl"), "codex", None, "gpt-5.1-codex")
    # 29320 in, 19424 of them cached, 191 out, at gpt-5.1-codex's built-in prices
    cost = round(((29320 - 19424) * 1.25 + 19424 * 0.125 + 191 * 10.0) / 1e6, 6)
    assert got == {
        "model": "gpt-5.1-codex", "turns": 3, "input_tokens": 29320, "output_tokens": 191,
        "cached_input_tokens": 19424, "cost_usd": cost, "cost_source": "estimated",
        "last_action": f"Shell: {COMMIT}", "last_message": MESSAGE,
        "session": "01a23806-dc5f-7f12-b01f-cf6d2b55318a", "context_tokens": 29320 + 191}
    # the profile's price wins over the table; without model or price there is no cost
    mine = summarize(str(FIX / "codex-exec.jsonl"), "codex",
                     {"input": 2.0, "output": 20.0, "cached_input": 0.5}, "gpt-5.1-codex")
    assert mine is not None and mine["cost_usd"] == round(
        ((29320 - 19424) * 2.0 + 19424 * 0.5 + 191 * 20.0) / 1e6, 6)
    bare = summarize(str(FIX / "codex-exec.jsonl"), "codex")
    assert bare is not None and bare["model"] is None
    assert bare["cost_usd"] is None and bare["cost_source"] is None


def test_codex_names_the_model_it_was_rerouted_to() -> None:
    got = summarize(str(FIX / "codex-exec-rerouted.jsonl"), "codex", None, "gpt-5.1-codex")
    assert got is not None
    assert (got["model"], got["turns"], got["input_tokens"], got["cached_input_tokens"],
            got["output_tokens"]) == ("gpt-5.5", 3, 31422, 20821, 201)
    assert got["cost_usd"] is None  # no built-in price for it, and none in the profile
    assert got["last_message"] == MESSAGE


def test_codex_model_from_its_session_header_line(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("model: gpt-5-codex\nprovider: openai\n"
                   + (FIX / "codex-exec.jsonl").read_text())
    got = summarize(str(log), "codex", None, "o3")
    assert got is not None and got["model"] == "gpt-5-codex"


def test_gemini_stream_json() -> None:
    got = summarize(str(FIX / "gemini-stream.jsonl"), "gemini")
    cost = round(((37395 - 24793) * 1.25 + 24793 * 0.125 + 103 * 10.0) / 1e6, 6)
    assert got == {
        "model": "gemini-2.5-pro", "turns": 3, "input_tokens": 37395, "output_tokens": 103,
        "cached_input_tokens": 24793, "cost_usd": cost, "cost_source": "estimated",
        "last_action": f"run_shell_command: {COMMIT}",
        "last_message": MESSAGE,  # two streamed pieces, one message
        "session": None, "context_tokens": None}


def test_opencode_json() -> None:
    got = summarize(str(FIX / "opencode-run.jsonl"), "opencode", None, "anthropic/claude-sonnet-4-5")
    assert got == {
        "model": "anthropic/claude-sonnet-4-5", "turns": 3,
        "input_tokens": 12480 + (210 + 12480) + (95 + 12690), "output_tokens": 96 + 41 + 14,
        "cached_input_tokens": 12480 + 12690, "cost_usd": 0.0484, "cost_source": "reported",
        "last_action": f"bash: {COMMIT}", "last_message": MESSAGE,
        "session": None, "context_tokens": None}


# -- what a real log holds beside the transcript ------------------------------------------------
def test_flower_lines_stderr_garbage_and_a_truncated_last_line_are_skipped(tmp_path: Path) -> None:
    lines = (FIX / "claude-stream.jsonl").read_text().splitlines()
    log = tmp_path / "1.1.log"
    log.write_text("[git flower] dispatch 1.1: starting claude in /w\n"
                   "Warning: something on stderr\n\x00\x01{not json\n{\"type\": 3}\n[]\n"
                   + "\n".join(lines[:-1]) + "\n" + lines[-1][:200])
    got = summarize(str(log), "claude")
    # the result event was cut off: the figures are those of the assistant messages so far
    assert got is not None
    assert (got["model"], got["turns"], got["input_tokens"], got["cached_input_tokens"]) == \
        ("claude-opus-5-5", 3, 38340, 25464)
    assert got["last_message"] == MESSAGE and got["last_action"] == f"Bash: {COMMIT}"
    # no cost reported yet: estimated, if the model had a price
    assert got["cost_source"] is None
    priced = summarize(str(log), "claude", {"input": 3, "output": 15, "cached_input": 0.3})
    assert priced is not None and priced["cost_source"] == "estimated"


@pytest.mark.parametrize("content", [b"", b"\n\n", b"garbage\x00\xff\n" * 50,
                                     b'{"type":"result"', b"[git flower] only ours\n"])
def test_no_transcript_is_none(tmp_path: Path, content: bytes) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(content)
    for kind in transcript.KINDS:
        assert summarize(str(log), kind) is None


def test_never_raises_on_bad_input(tmp_path: Path) -> None:
    assert summarize(str(tmp_path / "missing.log"), "claude") is None
    assert summarize(str(tmp_path), "claude") is None  # a directory
    assert summarize(str(FIX / "claude-stream.jsonl"), None) is None
    assert summarize(str(FIX / "claude-stream.jsonl"), "cursor") is None
    assert summarize(None, "claude") is None  # type: ignore[arg-type]
    # odd shapes where objects are expected: read what can be read, never fail
    log = tmp_path / "odd.log"
    log.write_text('{"type":"assistant","message":[1]}\n{"type":"assistant","message":'
                   '{"usage":{"input_tokens":-5,"output_tokens":"7"},"content":[null,{"type":'
                   '"tool_use","name":7,"input":[1]}]}}\n{"type":"result","num_turns":true,'
                   '"total_cost_usd":"x","usage":null,"result":{}}\n')
    got = summarize(str(log), "claude", price=[1, 2])  # type: ignore[arg-type]
    assert got is not None and got["input_tokens"] == 0 and got["cost_usd"] is None
    for kind in ("codex", "gemini", "opencode"):
        weird = tmp_path / f"{kind}.log"
        weird.write_text('{"type":"item.completed","item":null}\n{"type":"turn.completed","usage":[]}'
                         '\n{"type":"tool_use","part":7}\n{"type":"result","stats":"x"}\n'
                         '{"type":"step_finish","part":{"tokens":{"cache":5}}}\n')
        summarize(str(weird), kind)  # whatever it makes of it, it returns


def test_long_actions_and_messages_are_cut(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    events = [{"type": "item.completed", "item": {"id": "1", "type": "command_execution",
                                                   "command": "bash -lc 'echo " + "a" * 500 + "'"}},
              {"type": "item.completed", "item": {"id": "2", "type": "agent_message",
                                                   "text": "line one\nline two\n" + "b" * 5000}}]
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    got = summarize(str(log), "codex")
    assert got is not None
    assert len(got["last_action"]) == transcript.ACTION_MAX and got["last_action"].endswith("…")
    assert got["last_action"].startswith("Shell: echo aaa")
    assert len(got["last_message"]) == transcript.MESSAGE_MAX


def test_model_and_price_helpers() -> None:
    assert model_from_argv(["codex", "exec", "-m", "gpt-5", "x"]) == "gpt-5"
    assert model_from_argv(["opencode", "run", "--model=anthropic/claude-sonnet-4-5"]) == \
        "anthropic/claude-sonnet-4-5"
    assert model_from_argv(["codex", "exec", "{bootstrap}"]) is None
    assert price_of("claude-sonnet-4-5-20250929") == transcript.PRICES["claude-sonnet-4-5"]
    assert price_of("openai/gpt-5-mini") == transcript.PRICES["gpt-5-mini"]
    assert price_of("gpt-5-turbo-ultra") is None  # never a guess from a prefix
    assert price_of("x", {"input": 1, "output": 2}) == (1.0, 1.0, 2.0)


# -- the cache: a big log is read on from where the last read stopped ---------------------------
def test_cache_reads_on_from_the_last_complete_line(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transcript, "CACHE_MIN", 0)
    lines = (FIX / "codex-exec.jsonl").read_bytes().splitlines(keepends=True)
    log, cache = tmp_path / "1.1.log", tmp_path / "cache" / "1.1.json"
    log.write_bytes(b"".join(lines[:5]) + lines[5][:30])  # the agent is writing line 6
    first = summarize(str(log), "codex", cache=str(cache))
    assert first is not None and first["turns"] == 1 and cache.exists()
    saved = json.loads(cache.read_text())
    assert saved["offset"] == len(b"".join(lines[:5]))
    with open(log, "ab") as f:
        f.write(lines[5][30:] + b"".join(lines[6:]))
    whole = summarize(str(log), "codex", cache=None)
    assert summarize(str(log), "codex", cache=str(cache)) == whole
    assert json.loads(cache.read_text())["offset"] == log.stat().st_size
    # a log replaced by another (a new inode) is read from its start again
    other = tmp_path / "other.log"
    other.write_bytes(b"".join(lines[:3]))
    os.replace(other, log)
    again = summarize(str(log), "codex", cache=str(cache))
    assert again is not None and again["turns"] == 0 and again["input_tokens"] == 0
    assert again["last_action"] is not None and again["last_action"].startswith("Write: ")
    # a damaged cache is ignored
    cache.write_text("{nope")
    assert summarize(str(log), "codex", cache=str(cache)) == again


# -- end to end: a dispatched agent's transcript in ps, status, the merge note and why ------------
AGENT = """#!/usr/bin/env python3
import os, subprocess, sys
open("calc.py", "w").write("def subtract(a, b):\\n    return a - b\\n")
if os.environ.get("AGENT_COMMITS") != "0":
    subprocess.run(["git", "add", "calc.py"], check=True)
    subprocess.run(["git", "commit", "-qm", "Add subtract"], check=True)
sys.stderr.write("Reading additional input from stdin...\\n")
sys.stdout.write(open(os.environ["TRANSCRIPT"]).read())
"""


def _setup(repo: Path, tmp_path: Path, kind: str, extra: str = "") -> None:
    exe = write_exe(tmp_path / "bin" / f"fake-{kind}", AGENT.replace("/usr/bin/env python3",
                                                                      sys.executable))
    suite = write_exe(tmp_path / "bin" / "suite", SUITE.replace("/usr/bin/env python3",
                                                               sys.executable))
    cfg = (repo / ".flower.toml").read_text()
    import re

    cfg = re.sub(r"(?ms)^\[suite\].*?(?=^\[|\Z)", "", cfg)
    cfg += f'\n[suite]\ncommand = ["{suite}", "{{junit}}"]\n'
    cfg += (f'\n[agents.fake]\ncommand = ["{exe}", "{{bootstrap}}"]\ntranscript = "{kind}"\n'
            + extra)
    (repo / ".flower.toml").write_text(cfg)
    git(repo, "add", ".flower.toml")
    git(repo, "commit", "-qm", "fake agent")
    r = flower(repo, "trust")
    assert r.returncode == 0, r.stderr


def _run(repo: Path, fixture: str, env: dict[str, str] | None = None) -> dict:
    e = {"TRANSCRIPT": str(FIX / fixture), **(env or {})}
    bid = flower_json(repo, "brief", "new", "Add subtract")["id"]  # type: ignore[index]
    r = flower(repo, "dispatch", str(bid), "--agent", "fake", env=e)
    assert r.returncode == 0, r.stderr
    r = flower(repo, "wait", str(bid), "--timeout", "60")
    assert r.returncode == 0, r.stderr
    rows = flower_json(repo, "ps")
    row = next(x for x in rows if x["brief"] == bid)  # type: ignore[union-attr]
    return {"bid": bid, "row": row}


def _note(repo: Path) -> dict:
    out = git(repo, "notes", "--ref=flower", "show", "main").stdout
    merges = [json.loads(ln) for ln in out.splitlines() if '"kind":"merge"' in ln]
    assert merges, out
    return merges[-1]


def test_claude_dispatch_shows_usage_and_the_merge_note_keeps_it(repo: Path,
                                                                   tmp_path: Path) -> None:
    _setup(repo, tmp_path, "claude")
    got = _run(repo, "claude-stream.jsonl")
    u = got["row"]["usage"]
    assert u == {"model": "claude-opus-5-5", "turns": 3, "input_tokens": 38340,
                 "output_tokens": 117, "cached_input_tokens": 25464, "cost_usd": 0.058937,
                 "cost_source": "reported", "last_action": f"Bash: {COMMIT}"}
    human = flower(repo, "ps")
    assert "38.5k  $0.059" in human.stdout and "claude-opus-5-5" in human.stdout, human.stdout
    r = flower(repo, "merge", str(got["bid"]))
    assert r.returncode == 0, r.stderr
    note = _note(repo)
    assert note["agent_usage"] == {"model": "claude-opus-5-5", "turns": 3,
                                   "input_tokens": 38340, "output_tokens": 117,
                                   "cached_input_tokens": 25464, "cost_usd": 0.058937,
                                   "cost_source": "reported"}
    raw = git(repo, "notes", "--ref=flower", "show", "main").stdout
    line = next(ln for ln in raw.splitlines() if '"agent_usage"' in ln)
    assert line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False)  # one sorted object per line, as before
    why = flower_json(repo, "why", "calc.py:1")
    assert why["model"] == "claude-opus-5-5"  # type: ignore[index]
    text = flower(repo, "why", "calc.py:1").stdout
    assert "(model claude-opus-5-5)" in text and "3 turn(s), 38.3k tokens in, 117 out, $0.059" \
        in text, text


def test_codex_dispatch_estimates_from_the_profile_model_and_price(repo: Path,
                                                                     tmp_path: Path) -> None:
    _setup(repo, tmp_path, "codex", 'price = {input = 2.0, output = 20.0, cached_input = 0.5}\n')
    got = _run(repo, "codex-exec.jsonl")
    u = got["row"]["usage"]
    cost = round(((29320 - 19424) * 2.0 + 19424 * 0.5 + 191 * 20.0) / 1e6, 6)
    assert u == {"model": None, "turns": 3, "input_tokens": 29320, "output_tokens": 191,
                 "cached_input_tokens": 19424, "cost_usd": cost, "cost_source": "estimated",
                 "last_action": f"Shell: {COMMIT}"}
    assert "29.5k  ~$0.033" in flower(repo, "ps").stdout
    r = flower(repo, "merge", str(got["bid"]))
    assert r.returncode == 0, r.stderr
    assert _note(repo)["agent_usage"] == {
        "model": None, "turns": 3, "input_tokens": 29320, "output_tokens": 191,
        "cached_input_tokens": 19424, "cost_usd": cost, "cost_source": "estimated"}


def test_a_running_agent_is_read_live(repo: Path, tmp_path: Path) -> None:
    """While the agent runs, ps and status read its log; the figures grow with it."""
    lines = (FIX / "claude-stream.jsonl").read_text().splitlines(keepends=True)
    part = tmp_path / "part.jsonl"
    part.write_text("".join(lines[:2]))  # init and the first assistant message
    gate = tmp_path / "go"
    _setup(repo, tmp_path, "claude")
    exe = tmp_path / "bin" / "fake-claude"
    exe.write_text(exe.read_text().replace(
        'sys.stdout.write(open(os.environ["TRANSCRIPT"]).read())',
        'sys.stdout.write(open(os.environ["TRANSCRIPT"]).read()); sys.stdout.flush()\n'
        'import time\nwhile not os.path.exists(os.environ["GATE"]): time.sleep(0.05)'))
    bid = flower_json(repo, "brief", "new", "Add subtract")["id"]  # type: ignore[index]
    r = flower(repo, "dispatch", str(bid), "--agent", "fake",
               env={"TRANSCRIPT": str(part), "GATE": str(gate)})
    assert r.returncode == 0, r.stderr
    try:
        deadline = time.monotonic() + 30
        row: dict = {}
        while time.monotonic() < deadline:
            row = next(x for x in flower_json(repo, "ps") if x["brief"] == bid)  # type: ignore[union-attr]
            if row.get("usage"):
                break
            time.sleep(0.1)
        assert row["state"] == "running"
        assert row["usage"]["model"] == "claude-opus-5-5" and row["usage"]["turns"] == 1
        assert row["usage"]["input_tokens"] == 12680
        assert row["usage"]["last_action"] == "Write: calc.py"
        st = flower_json(repo, "status")
        w = next(x for x in st["workers"] if x["brief"] == bid)  # type: ignore[index]
        assert w["usage"]["input_tokens"] == 12680
    finally:
        gate.write_text("")
    assert flower(repo, "wait", str(bid), "--timeout", "60").returncode == 0
