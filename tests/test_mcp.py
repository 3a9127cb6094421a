"""`git flower mcp`: a real MCP client (the mcp package's stdio client) against the server as a
subprocess: list the tools, then brief new → dispatch → status → merge, errors as tool errors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import flower, git

pytest.importorskip("mcp")
import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from merge_helpers import setup_repo

CORE = {"brief_list", "brief_show", "brief_new", "brief_set", "dispatch", "status", "ps", "wait",
        "logs", "stop", "merge", "signal_emit", "signal_list", "signal_claim", "signal_complete",
        "baton_show", "baton_take", "baton_release", "handoff_show", "handoff_write", "doctor"}


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


def test_tools_are_listed_with_typed_schemas(repo: Path) -> None:
    async def steps(s: ClientSession) -> Any:
        return (await s.list_tools()).tools

    tools = {t.name: t for t in run(repo, steps)}
    assert CORE <= set(tools)
    new = tools["brief_new"].input_schema
    assert new["required"] == ["title"]
    assert new["properties"]["auto_dispatch"]["type"] == "boolean"
    assert tools["merge"].input_schema["properties"]["brief"]["type"] == "integer"
    assert tools["status"].annotations.read_only_hint is True
    assert tools["dispatch"].annotations.read_only_hint is False


def test_brief_dispatch_status_merge_through_mcp(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)

    async def steps(s: ClientSession) -> Any:
        made = data_of(await s.call_tool("brief_new", {"title": "say hi", "body": "Write hi.txt.\n"}))
        bid = made["id"]
        data_of(await s.call_tool("brief_set", {"id": bid, "fields": {
            "run": json.dumps([["sh", "-c", "echo hi > hi.txt"]])}}))
        shown = data_of(await s.call_tool("brief_show", {"id": bid}))
        started = data_of(await s.call_tool("dispatch", {"brief": bid}))
        waited = data_of(await s.call_tool("wait", {"targets": [str(bid)], "timeout": 60}))
        status = data_of(await s.call_tool("status", {}))
        merged = data_of(await s.call_tool("merge", {"brief": bid}))
        listed = data_of(await s.call_tool("brief_list", {}))
        missing = await s.call_tool("brief_show", {"id": 999})
        return bid, shown, started, waited, status, merged, listed, missing

    bid, shown, started, waited, status, merged, listed, missing = run(repo, steps)
    assert shown["title"] == "say hi" and "Write hi.txt." in shown["body"]
    assert started["id"] == f"{bid}.1" and started["agent"] == "script"
    assert waited[0]["exit_code"] == 0
    assert status["briefs"]["total"] == 1 and "workers" in status
    assert merged["brief"] == bid
    assert git(repo, "show", "main:hi.txt").stdout == "hi\n"
    assert [b["status"] for b in listed if b["id"] == bid] == ["merged"]
    # the same data as --json
    assert [b["id"] for b in listed] == [b["id"] for b in json.loads(
        flower(repo, "brief", "list", "--json").stdout)["data"]]
    # a failure is a tool error with the CLI's code, message and hint
    assert missing.is_error
    text = missing.content[0].text
    assert "not_found" in text and "999" in text


def test_stateless_a_new_server_sees_everything(repo: Path) -> None:
    async def first(s: ClientSession) -> Any:
        return data_of(await s.call_tool("brief_new", {"title": "kept", "kind": "bug"}))

    async def second(s: ClientSession) -> Any:
        return data_of(await s.call_tool("brief_list", {"kind": "bug"}))

    made = run(repo, first)
    again = run(repo, second, cwd=repo.parent)  # another server, started elsewhere with --repo
    assert [b["id"] for b in again] == [made["id"]]


def test_red_suite_refuses_the_merge_as_a_tool_error(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)

    async def steps(s: ClientSession) -> Any:
        bid = data_of(await s.call_tool("brief_new", {"title": "break it"}))["id"]
        data_of(await s.call_tool("brief_set", {"id": bid, "fields": {
            "run": json.dumps([["sh", "-c", "echo x > BREAK"]])}}))
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
