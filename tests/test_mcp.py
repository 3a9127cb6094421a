"""`git flower mcp`: a real MCP client (the mcp package's stdio client) against the server as a
subprocess: the tools and their schemas, brief new → dispatch → status → merge → why → verify,
the orchestrator's daemon, tick and reset hand-off, typed brief_set, send into a tmux agent, ids
as numbers and strings, and errors (the CLI's and bad arguments) as clean tool errors."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import flower, flower_json, git, write_exe

pytest.importorskip("mcp")
import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from merge_helpers import setup_repo

CORE = {"brief_list", "brief_show", "brief_new", "brief_set", "dispatch", "status", "ps", "wait",
        "logs", "stop", "merge", "signal_emit", "signal_list", "signal_claim", "signal_complete",
        "baton_show", "baton_take", "baton_release", "handoff_show", "handoff_write", "doctor"}
NEW = {"tick", "send", "reset_request", "reset_ready", "reset_handoff", "reset_retire",
       "daemon_checkin", "daemon_beat", "daemon_whoami", "why", "verify"}
READ_ONLY = {"brief_list", "brief_show", "status", "ps", "logs", "signal_list", "daemon_whoami",
             "daemon_list", "baton_show", "handoff_show", "doctor", "why", "verify"}
KEYS = ["Enter", "Escape", "Tab", "Up", "Down", "Left", "Right", "Backspace", "Space", "C-c", "C-d",
        "PageUp", "PageDown", "Home", "End"]


def data_of(res: Any) -> Any:
    assert not res.is_error, res.content
    doc = res.structured_content
    if isinstance(doc, dict) and set(doc) == {"result"}:
        return doc["result"]
    return doc


async def session_run(repo: Path, steps: Any, cwd: Path | None = None) -> Any:
    args = ["-m", "flowergit", "mcp"] + ([] if cwd is None else ["--repo", str(repo)])
    params = StdioServerParameters(command=sys.executable, args=args,
                                   cwd=str(cwd or repo), env=dict(os.environ))
    async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
        await s.initialize()
        return await steps(s)


def run(repo: Path, steps: Any, cwd: Path | None = None) -> Any:
    async def bounded() -> Any:
        with anyio.fail_after(120):
            return await session_run(repo, steps, cwd)
    return anyio.run(bounded)


def tool_error(res: Any) -> str:
    assert res.is_error, res.structured_content
    return str(res.content[0].text)


def props(tool: Any) -> dict[str, Any]:
    return tool.input_schema.get("properties", {})  # type: ignore[no-any-return]


def branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a schema (`anyOf`), without the null of an optional parameter."""
    return [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]


@pytest.mark.slow
def test_tools_are_listed_with_typed_schemas(repo: Path) -> None:
    from flowergit.state.brief import KINDS, STATUSES

    async def steps(s: ClientSession) -> Any:
        return (await s.list_tools()).tools

    tools = {t.name: t for t in run(repo, steps)}
    assert CORE | NEW <= set(tools)
    # every tool and every parameter is described
    for t in tools.values():
        assert t.description and len(t.description) > 20, t.name
        for name, p in props(t).items():
            assert p.get("description"), (t.name, name)
    new = tools["brief_new"].input_schema
    assert new["required"] == ["title"]
    assert new["properties"]["auto_dispatch"]["type"] == "boolean"
    assert new["properties"]["kind"]["enum"] == list(KINDS)
    # statuses and kinds are the true sets, as enums
    listing = props(tools["brief_list"])
    assert branches(listing["status"]) == [{"enum": list(STATUSES), "type": "string"}]
    assert branches(listing["kind"]) == [{"enum": list(KINDS), "type": "string"}]
    fields = tools["brief_set"].input_schema["$defs"]["BriefFields"]
    assert branches(fields["properties"]["status"])[0]["enum"] == list(STATUSES)
    assert branches(fields["properties"]["kind"])[0]["enum"] == list(KINDS)
    run_ = branches(fields["properties"]["run"])
    assert run_[0] == {"type": "array", "items": {"type": "array", "items": {"type": "string"},
                                                   "minItems": 1}}
    deps = branches(fields["properties"]["depends_on"])[0]["items"]
    assert [b["type"] for b in deps["anyOf"]] == ["integer", "string"]
    assert fields["additionalProperties"]  # your own keys, typed values
    # ids: numbers or strings, with their grammar
    for name, param in [("brief_show", "id"), ("merge", "brief"), ("dispatch", "brief"),
                        ("logs", "target"), ("stop", "target"), ("send", "target")]:
        alts = branches(props(tools[name])[param])
        assert [a["type"] for a in alts] == ["integer", "string"], name
        assert alts[1]["pattern"].startswith("^[1-9]"), name
    assert "." in branches(props(tools["logs"])["target"])[1]["pattern"]
    wait_items = props(tools["wait"])["targets"]["items"]
    assert [a["type"] for a in wait_items["anyOf"]] == ["integer", "string"]
    # send: text, then keys from the contract's names or any single character
    send = props(tools["send"])
    assert tools["send"].input_schema["required"] == ["target"]
    key = branches(send["keys"])[0]["items"]
    assert key["anyOf"] == [{"enum": KEYS, "type": "string"},
                            {"type": "string", "minLength": 1, "maxLength": 1,
                             "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]$"}]
    assert "single printable character" in key["description"]
    from flowergit.state import config

    assert tuple(KEYS) == getattr(config, "KEY_NAMES", tuple(KEYS))  # what `send --key` takes
    # the new tools take what their commands take
    assert set(props(tools["daemon_checkin"])) == {"role", "pid", "successor_of"}
    assert tools["daemon_checkin"].input_schema["required"] == ["role"]
    assert set(props(tools["tick"])) == {"lane", "daemon"}
    assert set(props(tools["reset_request"])) == {"note", "lane", "daemon"}
    assert set(props(tools["reset_handoff"])) == {"text", "lane", "daemon"}
    assert set(props(tools["reset_retire"])) == {"lane", "daemon", "predecessor"}
    assert tools["why"].input_schema["required"] == ["what"]
    assert props(tools["verify"])["limit"]["minimum"] == 0
    assert "examples" in props(tools["signal_emit"])["kind"]
    # annotations
    for name, t in tools.items():
        a = t.annotations
        assert a.read_only_hint is (name in READ_ONLY), name
        assert a.open_world_hint is False, name
        if name in READ_ONLY:
            assert a.idempotent_hint is True, name
    assert tools["wait"].annotations.read_only_hint is False  # it runs a scheduler step
    assert tools["stop"].annotations.destructive_hint is True
    assert tools["send"].annotations.destructive_hint is True  # C-c, y: it answers for the agent
    assert tools["reset_retire"].annotations.destructive_hint is True
    assert tools["merge"].annotations.read_only_hint is False
    assert tools["merge"].annotations.idempotent_hint is False
    assert tools["brief_set"].annotations.idempotent_hint is True
    assert tools["daemon_beat"].annotations.idempotent_hint is False
    # the manual lists every tool
    from conftest import ROOT

    manual = (ROOT / "docs" / "experience.md").read_text().split("## MCP", 1)[1]
    assert [n for n in tools if f"`{n}`" not in manual] == []


def test_brief_dispatch_status_merge_why_verify_through_mcp(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)

    async def steps(s: ClientSession) -> Any:
        made = data_of(await s.call_tool("brief_new", {"title": "say hi", "body": "Write hi.txt.\n"}))
        bid = made["id"]
        data_of(await s.call_tool("brief_set", {"id": str(bid), "fields": {
            "run": [["sh", "-c", "echo hi > hi.txt"]]}}))
        shown = data_of(await s.call_tool("brief_show", {"id": str(bid)}))
        started = data_of(await s.call_tool("dispatch", {"brief": bid}))
        waited = data_of(await s.call_tool("wait", {"targets": [f"{bid}.1"], "timeout": 60}))
        status = data_of(await s.call_tool("status", {}))
        logs = data_of(await s.call_tool("logs", {"target": bid}))
        merged = data_of(await s.call_tool("merge", {"brief": str(bid)}))
        listed = data_of(await s.call_tool("brief_list", {"status": "merged"}))
        why = data_of(await s.call_tool("why", {"what": "hi.txt:1"}))
        verified = data_of(await s.call_tool("verify", {"range": "main~1..main"}))
        limited = data_of(await s.call_tool("verify", {"limit": 1}))
        unattested = await s.call_tool("verify", {})
        missing = await s.call_tool("brief_show", {"id": 999})
        return (bid, shown, started, waited, status, logs, merged, listed, why, verified, limited,
                unattested, missing)

    (bid, shown, started, waited, status, logs, merged, listed, why, verified, limited, unattested,
     missing) = run(repo, steps)
    assert shown["title"] == "say hi" and "Write hi.txt." in shown["body"]
    assert shown["run"] == [["sh", "-c", "echo hi > hi.txt"]]
    assert started["id"] == f"{bid}.1" and started["agent"] == "script"
    assert waited[0]["exit_code"] == 0
    assert status["briefs"]["total"] == 1 and "workers" in status
    assert logs == flower_json(repo, "logs", str(bid))
    assert merged["brief"] == bid
    assert git(repo, "show", "main:hi.txt").stdout == "hi\n"
    assert [b["id"] for b in listed] == [bid]
    # the same data as --json
    assert listed == flower_json(repo, "brief", "list", "--status", "merged")
    # why: the merged line's brief, dispatch and agent
    prov = why["provenance"]
    assert why["path"] == "hi.txt" and why["line"] == 1
    assert prov["brief"] == bid and prov["dispatch"] == f"{bid}.1" and prov["agent"] == "script"
    assert why == flower_json(repo, "why", "hi.txt:1")
    # verify: the merge is attested; the commits before git flower are not (an error with data)
    assert verified["commits"] == 1 and verified["attested"] == 1 and verified["unattested"] == []
    assert limited["commits"] == 1
    text = tool_error(unattested)
    assert "tests_failed (exit 5)" in text and "hint: `git flower test <commit>`" in text
    report = json.loads(text.split("\ndata: ", 1)[1])
    assert report["attested"] == 1 and report["unattested"]
    # a failure is a tool error with the CLI's code, message and hint
    text = tool_error(missing)
    assert "not_found (exit 3)" in text and "999" in text


@pytest.mark.slow
def test_typed_brief_set_encodes_values_the_way_brief_set_expects(repo: Path) -> None:
    steps_run = [["python3", "-c", 'print("tab\\there", "quote\\"", "é ✓ 😀")'],
                 ["sh", "-c", "echo 'single' \\\\ back; printf '\\x7f'\\n"], ["true"]]

    async def steps(s: ClientSession) -> Any:
        one = data_of(await s.call_tool("brief_new", {"title": "first"}))["id"]
        two = data_of(await s.call_tool("brief_new", {"title": "second", "kind": "bug",
                                                      "depends_on": [one, str(one)]}))
        got = data_of(await s.call_tool("brief_set", {"id": two["id"], "fields": {
            "title": "second, renamed = yes", "kind": "idea", "status": "planned",
            "auto_dispatch": True, "agent": "script", "depends_on": [one, str(one)],
            "run": steps_run, "priority": 3, "weight": 0.5, "urgent": False,
            "owner": "true", "labels": ["a", "b"], "note": "line one\nline \"two\"\x7f"}}))
        again = data_of(await s.call_tool("brief_set", {"id": two["id"], "fields": {
            "run": '[["make", "all"]]', "depends_on": [], "auto_dispatch": False}}))
        return one, two, got, again

    one, two, got, again = run(repo, steps)
    assert two["kind"] == "bug" and two["depends_on"] == [one, one]
    assert got["title"] == "second, renamed = yes" and got["kind"] == "idea"
    assert got["status"] == "planned" and got["auto_dispatch"] is True and got["agent"] == "script"
    assert got["depends_on"] == [one, one] and got["run"] == steps_run
    assert got["priority"] == 3 and got["weight"] == 0.5 and got["urgent"] is False
    assert got["owner"] == "true"  # a string stays a string
    assert got["labels"] == ["a", "b"] and got["note"] == "line one\nline \"two\"\x7f"
    # run as the CLI's TOML text still works; [] clears depends_on
    assert again["run"] == [["make", "all"]] and again["depends_on"] == []
    assert again["auto_dispatch"] is False
    # the brief file is what the CLI reads back
    assert flower_json(repo, "brief", "show", str(two["id"])) == again


@pytest.mark.slow
def test_the_brief_set_example_of_the_docs_works(repo: Path) -> None:
    from conftest import ROOT

    text = (ROOT / "docs" / "experience.md").read_text().split("## MCP", 1)[1]
    example = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    for n in range(example["id"]):
        flower_json(repo, "brief", "new", f"brief {n + 1}")

    async def steps(s: ClientSession) -> Any:
        return data_of(await s.call_tool("brief_set", example))

    got = run(repo, steps)
    assert {k: got[k] for k in example["fields"]} == example["fields"] | {"depends_on": [7, 9]}


@pytest.mark.slow
def test_daemon_tick_and_reset_handoff_in_the_documented_order(repo: Path, sleepers: Any) -> None:
    """docs/continuity.md: A checks in, takes the baton, ticks, writes the scratchpad and asks
    for a successor; S checks in as its successor, reads the scratchpad, is ready; the hand-off
    moves the baton; S retires A. Daemon ids go in as numbers and as strings."""
    pa, pb = sleepers(), sleepers()

    async def steps(s: ClientSession) -> Any:
        out: dict[str, Any] = {}
        a = data_of(await s.call_tool("daemon_checkin", {"role": "orchestrator", "pid": pa.pid}))
        out["a"] = a
        out["beat"] = data_of(await s.call_tool("daemon_beat", {"id": int(a["id"])}))
        out["whoami"] = data_of(await s.call_tool("daemon_whoami", {"daemon": a["id"]}))
        data_of(await s.call_tool("baton_take", {"daemon": a["id"]}))
        out["tick"] = data_of(await s.call_tool("tick", {"daemon": int(a["id"])}))
        data_of(await s.call_tool("handoff_write", {"text": "roster: none\n", "daemon": a["id"]}))
        out["request"] = data_of(await s.call_tool("reset_request", {
            "daemon": a["id"], "note": "context is full"}))
        b = data_of(await s.call_tool("daemon_checkin", {
            "role": "orchestrator", "pid": pb.pid, "successor_of": int(a["id"])}))
        out["b"] = b
        out["shown"] = data_of(await s.call_tool("handoff_show", {}))
        out["ready"] = data_of(await s.call_tool("reset_ready", {"daemon": int(b["id"])}))
        out["handoff"] = data_of(await s.call_tool("reset_handoff", {
            "daemon": a["id"], "text": '{"final": "all yours"}\n'}))  # JSON-like: kept text
        out["retire"] = data_of(await s.call_tool("reset_retire", {"daemon": b["id"]}))
        out["tick_b"] = data_of(await s.call_tool("tick", {"daemon": b["id"], "lane": "main"}))
        out["tick_a"] = await s.call_tool("tick", {"daemon": a["id"]})
        out["whoami_a"] = data_of(await s.call_tool("daemon_whoami", {"daemon": int(a["id"])}))
        out["nobody"] = await s.call_tool("daemon_beat", {})
        return out

    got = run(repo, steps)
    a, b = got["a"]["id"], got["b"]["id"]
    assert got["a"]["role"] == "orchestrator" and got["a"]["pid"] == pa.pid
    assert got["beat"]["id"] == a and got["beat"]["beat"] == 1
    assert got["whoami"]["liveness"]["state"] == "alive"
    tick = got["tick"]
    assert tick["daemon"] == a and tick["epoch"] == 1 and tick["actions"] == []
    assert tick["dispatched"] == [] and tick["running"] == 0
    assert got["request"]["state"] == "handoff" and got["request"]["holder"] == a
    assert got["b"]["successor_of"] == a
    assert "roster: none" in json.dumps(got["shown"])
    assert got["ready"]["successor"] == b
    done = got["handoff"]
    assert done["holder"] == b and done["epoch"] == 2 and done["from"] == a
    assert git(repo, "show", "flower/briefs:handoff/main.md").stdout == '{"final": "all yours"}\n'
    assert got["retire"]["retired"] == a
    assert got["tick_b"]["daemon"] == b and got["tick_b"]["epoch"] == 2
    text = tool_error(got["tick_a"])
    assert "conflict (exit 4)" in text and "lost the baton" in text
    assert got["whoami_a"]["state"] == "retired"
    text = tool_error(got["nobody"])  # no daemon named and no $FLOWER_DAEMON in the server
    assert "usage (exit 2)" in text and "hint:" in text
    states = {s["kind"]: s["state"] for s in flower_json(repo, "signal", "list")}  # type: ignore[union-attr]
    assert states == {"reset": "completed", "successor_ready": "completed"}


@pytest.mark.slow
def test_bad_arguments_are_clean_tool_errors_and_write_nothing(repo: Path) -> None:
    before = git(repo, "for-each-ref").stdout

    async def steps(s: ClientSession) -> Any:
        return [await s.call_tool(name, args) for name, args in [
            ("brief_list", {"status": "bogus"}),
            ("brief_new", {"title": "x", "kind": "feature"}),
            ("brief_set", {"id": 1, "fields": {"status": "finished"}}),
            ("brief_set", {"id": 1, "fields": {"run": [[]]}}),
            ("brief_set", {"id": "1; rm -rf /", "fields": {"title": "x"}}),
            ("brief_show", {"id": 0}),
            ("brief_show", {"id": "١٢"}),
            ("logs", {"target": "12.x"}),
            ("send", {"target": 1, "keys": ["Ent"]}),
            ("send", {"target": 1, "keys": ["yes"]}),
            ("send", {"target": 1, "keys": ["\x1b"]}),
            ("daemon_checkin", {"role": "Orchestrator!"}),
            ("verify", {"limit": -1}),
            ("wait", {"targets": []}),
            ("signal_emit", {"kind": "x", "data": {"a=b": "c"}}),
            ("brief_show", {}),
        ]]

    results = run(repo, steps)
    for res in results:
        text = tool_error(res)
        assert "usage (exit 2): invalid arguments: " in text, text
        assert "\nhint: " in text and "Traceback" not in text and "internal" not in text, text
    assert "status" in results[0].content[0].text and "'draft'" in results[0].content[0].text
    assert "fields.status" in results[2].content[0].text
    assert "keys.0" in results[8].content[0].text
    assert git(repo, "for-each-ref").stdout == before
    # the CLI's own refusals arrive the same way (usage, with its hint), and write nothing
    async def cli_refusals(s: ClientSession) -> Any:
        return [await s.call_tool(name, args) for name, args in [
            ("brief_set", {"id": 999, "fields": {"title": "x"}}),
            ("brief_set", {"id": "1", "fields": {"Bad-Key": 1}}),
            ("why", {"what": "-x"}),
            ("signal_claim", {"id": "nope"}),
        ]]

    made = flower_json(repo, "brief", "new", "one")
    before = git(repo, "for-each-ref").stdout
    codes = [tool_error(r).split("Error executing tool ", 1)[1].split(": ", 1)[1].split(" (")[0]
             for r in run(repo, cli_refusals)]
    assert made["id"] == 1  # type: ignore[index]
    assert codes == ["not_found", "usage", "usage", "not_found"]
    assert git(repo, "for-each-ref").stdout == before


ASKER = f"""#!{sys.executable}
import os, sys
print("Proceed? [y/N]", flush=True)
answer = sys.stdin.readline().rstrip("\\n")
open(os.environ["ANSWER_FILE"], "w").write(answer)
"""


def send_has_keys(repo: Path) -> bool:
    return "--key" in flower(repo, "send", "-h").stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_send_types_text_then_presses_keys_in_a_tmux_agent(repo: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if not send_has_keys(repo):
        pytest.skip("`git flower send --key` is not in this CLI yet")
    answer = tmp_path / "answer"
    monkeypatch.setenv("ANSWER_FILE", str(answer))
    exe = write_exe(tmp_path / "bin" / "asker", ASKER)
    cfg = repo / ".flower.toml"
    cfg.write_text(cfg.read_text() + f"\n[agents.asker]\ncommand = {json.dumps([str(exe)])}\n")
    git(repo, "commit", "-qam", "agent asker")
    assert flower(repo, "trust").returncode == 0
    bid = flower_json(repo, "brief", "new", "asks")["id"]  # type: ignore[index]

    async def steps(s: ClientSession) -> Any:
        data_of(await s.call_tool("dispatch", {"brief": bid, "agent": "asker", "tmux": True}))
        deadline = time.monotonic() + 30
        while "Proceed?" not in data_of(await s.call_tool("logs", {"target": bid}))["text"]:
            assert time.monotonic() < deadline, "the agent never asked"
            await anyio.sleep(0.1)
        sent = data_of(await s.call_tool("send", {"target": f"{bid}.1", "text": "yes; $(x)",
                                                  "keys": ["Space", "y", "Enter"]}))
        waited = data_of(await s.call_tool("wait", {"targets": [bid], "timeout": 30}))
        ended = await s.call_tool("send", {"target": str(bid), "keys": ["Enter"]})
        return sent, waited, ended

    sent, waited, ended = run(repo, steps)
    assert sent["id"] == f"{bid}.1"
    assert waited[0]["exit_code"] == 0
    assert answer.read_text() == "yes; $(x) y"
    assert "conflict (exit 4)" in tool_error(ended)  # it has ended


@pytest.mark.slow
def test_send_to_an_agent_without_tmux_is_a_clean_tool_error(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = flower_json(repo, "brief", "new", "plain")["id"]  # type: ignore[index]
    assert flower(repo, "brief", "set", str(bid), 'run=[["sleep", "30"]]').returncode == 0

    async def steps(s: ClientSession) -> Any:
        data_of(await s.call_tool("dispatch", {"brief": str(bid)}))
        sent = await s.call_tool("send", {"target": bid, "text": "y"})
        stopped = data_of(await s.call_tool("stop", {"target": f"{bid}.1"}))
        return sent, stopped

    sent, stopped = run(repo, steps)
    text = tool_error(sent)
    assert "(exit 2)" in text and "tmux" in text
    assert stopped["id"] == f"{bid}.1"


@pytest.mark.slow
def test_stateless_a_new_server_sees_everything(repo: Path) -> None:
    async def first(s: ClientSession) -> Any:
        return data_of(await s.call_tool("brief_new", {"title": "kept", "kind": "bug"}))

    async def second(s: ClientSession) -> Any:
        return data_of(await s.call_tool("brief_list", {"kind": "bug"}))

    made = run(repo, first)
    again = run(repo, second, cwd=repo.parent)  # another server, started elsewhere with --repo
    assert [b["id"] for b in again] == [made["id"]]


@pytest.mark.slow
def test_red_suite_refuses_the_merge_as_a_tool_error(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)

    async def steps(s: ClientSession) -> Any:
        bid = data_of(await s.call_tool("brief_new", {"title": "break it"}))["id"]
        data_of(await s.call_tool("brief_set", {"id": bid, "fields": {
            "run": [["sh", "-c", "echo x > BREAK"]]}}))
        data_of(await s.call_tool("dispatch", {"brief": bid}))
        data_of(await s.call_tool("wait", {"targets": [str(bid)], "timeout": 60}))
        return await s.call_tool("merge", {"brief": bid})

    before = git(repo, "rev-parse", "main").stdout
    res = run(repo, steps)
    assert res.is_error and "tests_failed" in res.content[0].text
    assert git(repo, "rev-parse", "main").stdout == before


def test_mcp_outside_a_repository_refuses(tmp_path: Path) -> None:
    r = flower(tmp_path, "mcp")
    assert r.returncode == 2 and "not a git repository" in r.stderr
