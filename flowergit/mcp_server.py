"""`git flower mcp`: the core verbs as typed MCP tools over stdio (the optional `mcp` extra).

Each tool runs the matching ``git flower … --json`` command as a child process in the server's
repository and returns that command's ``data``, so a tool and the CLI can never disagree, and a
failure arrives as a tool error carrying the same ``code``, ``message`` and ``hint``. The server
keeps no state of its own: everything lives in git, so a restart loses nothing and several
servers (or a server and a person at the terminal) can work on one repository at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from flowergit import __version__

INSTRUCTIONS = """\
git flower runs a fleet of coding agents on one git repository. Briefs are numbered work items;
dispatch starts an agent on a brief in its own worktree; status and ps show the fleet; merge
lands a finished brief through the test gate (a failing suite refuses it). Signals are queued
events each consumed once; the baton says which orchestrator is in charge of a lane; the
hand-off scratchpad is what an orchestrator leaves for its successor. Every tool returns the
same data as the matching `git flower ... --json` command."""


class CommandFailed(Exception):
    def __init__(self, code: str, message: str, hint: str | None, exit_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        text = f"{self.code} (exit {self.exit_code}): {self.message}"
        return text + (f"\nhint: {self.hint}" if self.hint else "")


def call(cwd: str, argv: Sequence[str], *, input: bytes | None = None,
         timeout: float | None = None) -> Any:
    """Run ``git flower ARGV --json`` in ``cwd``; return its data or raise :class:`CommandFailed`."""
    env = dict(os.environ)
    args = list(argv)
    # --json goes before a `--` (after it, everything is an argument)
    args.insert(args.index("--") if "--" in args else len(args), "--json")
    try:
        p = subprocess.run([sys.executable, "-m", "flowergit", *args], cwd=cwd,
                           input=input, capture_output=True, env=env, timeout=timeout,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CommandFailed("retry", f"git flower {' '.join(argv)} timed out after {timeout}s",
                            None, 75) from None
    doc: dict[str, Any] | None = None
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
    if doc is None:
        err = p.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CommandFailed("internal", err[0] if err else f"exit {p.returncode}, no output",
                            "\n".join(err[1:]) or None, p.returncode)
    if not doc.get("ok"):
        e = doc.get("error") or {}
        raise CommandFailed(str(e.get("code", "internal")), str(e.get("message", "")),
                            e.get("hint"), p.returncode)
    return doc.get("data")


def build(cwd: str) -> Any:
    """The MCP server for the repository at ``cwd``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import ToolAnnotations

    server = MCPServer("git-flower", instructions=INSTRUCTIONS, version=__version__)
    read = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    write = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

    def run(argv: list[str], **kw: Any) -> Any:
        try:
            return call(cwd, argv, **kw)
        except CommandFailed as e:
            raise ToolError(str(e)) from None

    def opt(flag: str, value: Any) -> list[str]:
        return [] if value is None or value == "" else [flag, str(value)]

    # -- briefs ---------------------------------------------------------------------------------
    @server.tool(annotations=read)
    def brief_list(status: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """List briefs (id, title, kind, status, flags), optionally only one status or kind."""
        return run(["brief", "list", *opt("--status", status), *opt("--kind", kind)])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def brief_show(id: int) -> dict[str, Any]:
        """One brief with its front matter and its markdown spec (body)."""
        return run(["brief", "show", str(id)])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def brief_new(title: str, body: str = "", kind: str = "brief", auto_dispatch: bool = False,
                  agent: str | None = None, depends_on: list[int] | None = None) -> dict[str, Any]:
        """File a new brief; returns it with its new id. kind: brief, bug or idea."""
        argv = ["brief", "new", "-F", "-", "--kind", kind, *opt("--agent", agent)]
        if auto_dispatch:
            argv.append("--auto")
        for d in depends_on or []:
            argv += ["--depends", str(d)]
        return run([*argv, "--", title], input=body.encode("utf-8"))  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def brief_set(id: int, fields: dict[str, str]) -> dict[str, Any]:
        """Set front-matter keys of a brief (status, title, kind, auto_dispatch, agent, depends_on)."""
        return run(["brief", "set", str(id), *(f"{k}={v}" for k, v in fields.items())])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def brief_plan(id: int) -> dict[str, Any]:
        """Mark a brief planned (an auto_dispatch brief then emits an auto_dispatch signal)."""
        return run(["brief", "plan", str(id)])  # type: ignore[no-any-return]

    # -- dispatch and workers -------------------------------------------------------------------
    @server.tool(annotations=write)
    def dispatch(brief: int, agent: str | None = None, rework: bool = False,
                 resume: bool = False) -> dict[str, Any]:
        """Start an agent on a brief in its own worktree (queued beyond the concurrency cap)."""
        argv = ["dispatch", str(brief), *opt("--agent", agent)]
        argv += ["--rework"] if rework else []
        argv += ["--resume"] if resume else []
        return run(argv)  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def status() -> dict[str, Any]:
        """Briefs by status, the live workers, the queue and the concurrency cap."""
        return run(["status"])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def ps(all: bool = False) -> list[dict[str, Any]]:
        """One row per dispatch: state, agent, elapsed, commits ahead, files changed, last log line."""
        return run(["ps", *(["--all"] if all else [])])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def wait(targets: list[str], timeout: float | None = None) -> list[dict[str, Any]]:
        """Wait until the dispatches (brief ids such as "12", or "12.2") have ended."""
        return run(["wait", *opt("--timeout", timeout), "--", *targets])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def logs(target: str) -> dict[str, Any]:
        """A dispatch's log: what its agent printed."""
        return run(["logs", "--", target])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def stop(target: str) -> dict[str, Any]:
        """Stop a dispatch: its agent's whole process group."""
        return run(["stop", "--", target])  # type: ignore[no-any-return]

    # -- the merge gate -------------------------------------------------------------------------
    @server.tool(annotations=write)
    def merge(brief: int, into: str | None = None, no_test: bool = False,
              dry_run: bool = False) -> dict[str, Any]:
        """Merge a finished brief through the test gate; a failing suite refuses it (error
        tests_failed) and nothing moves. Local work in the checkout is never lost."""
        argv = ["merge", str(brief), *opt("--into", into)]
        argv += ["--no-test"] if no_test else []
        argv += ["--dry-run"] if dry_run else []
        return run(argv)  # type: ignore[no-any-return]

    # -- signals, daemons, baton, hand-off ------------------------------------------------------
    @server.tool(annotations=write)
    def signal_emit(kind: str, brief: int | None = None, data: dict[str, str] | None = None,
                    daemon: str | None = None) -> dict[str, Any]:
        """Queue a signal (auto_dispatch, reset, …), consumed exactly once."""
        argv = ["signal", "emit", *opt("--brief", brief), *opt("--daemon", daemon)]
        for k, v in (data or {}).items():
            argv += ["--data", f"{k}={v}"]
        return run([*argv, "--", kind])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def signal_list(kind: str | None = None, unclaimed: bool = False) -> list[dict[str, Any]]:
        """Signals with their state and claim."""
        return run(["signal", "list", *opt("--kind", kind),  # type: ignore[no-any-return]
                    *(["--unclaimed"] if unclaimed else [])])

    @server.tool(annotations=write)
    def signal_claim(id: str | None = None, next: bool = False, kind: str | None = None,
                     daemon: str | None = None) -> dict[str, Any]:
        """Claim a signal by id, or the oldest unclaimed one (next=true, optionally of a kind)."""
        argv = ["signal", "claim", *opt("--kind", kind), *opt("--daemon", daemon)]
        argv += ["--next"] if next else []
        argv += ["--", id] if id else []
        return run(argv)  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def signal_complete(id: str, moot: bool = False, note: str = "",
                        daemon: str | None = None) -> dict[str, Any]:
        """Complete a claimed signal (moot: it no longer needs doing)."""
        argv = ["signal", "complete", *opt("--note", note), *opt("--daemon", daemon)]
        argv += ["--moot"] if moot else []
        return run([*argv, "--", id])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def daemon_checkin(role: str) -> dict[str, Any]:
        """Check in a daemon (orchestrator, ops, refine, worker); returns its id."""
        return run(["daemon", "checkin", "--role", role])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def daemon_list() -> list[dict[str, Any]]:
        """Daemons with their role, state and liveness."""
        return run(["daemon", "list"])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def baton_show(lane: str = "main") -> dict[str, Any]:
        """Who holds the baton of a lane, its epoch and state."""
        return run(["baton", "show", "--lane", lane])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def baton_take(daemon: str, lane: str = "main") -> dict[str, Any]:
        """Take the baton of a lane for a daemon (error conflict if another live daemon holds it)."""
        return run(["baton", "take", "--lane", lane, "--daemon", daemon])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def baton_release(daemon: str, lane: str = "main") -> dict[str, Any]:
        """Release the baton of a lane."""
        return run(["baton", "release", "--lane", lane, "--daemon", daemon])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def handoff_show(lane: str = "main") -> dict[str, Any]:
        """The hand-off scratchpad a predecessor left for its successor."""
        return run(["handoff", "show", "--lane", lane])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def handoff_write(text: str, lane: str = "main", daemon: str | None = None) -> dict[str, Any]:
        """Replace the hand-off scratchpad of a lane."""
        return run(["handoff", "write", "--lane", lane, "-F", "-",  # type: ignore[no-any-return]
                    *opt("--daemon", daemon)], input=text.encode("utf-8"))

    @server.tool(annotations=read)
    def doctor() -> dict[str, Any]:
        """Check the setup: each finding with its status (ok, warn, error) and its fix."""
        try:
            return call(cwd, ["doctor"])  # type: ignore[no-any-return]
        except CommandFailed as e:
            raise ToolError(str(e)) from None

    return server


def serve(cwd: str) -> None:
    build(cwd).run("stdio")
