"""`git flower mcp`: the core verbs as typed MCP tools over stdio (the optional `mcp` extra).

Each tool runs the matching ``git flower … --json`` command as a child process in the server's
repository and returns that command's ``data``, so a tool and the CLI can never disagree, and a
failure arrives as a tool error carrying the same ``code``, ``message`` and ``hint`` (and the
error's ``data`` when it has some). The server keeps no state of its own: everything lives in
git, so a restart loses nothing and several servers (or a server and a person at the terminal)
can work on one repository at once.

Every parameter is typed and described in the JSON schema a tool publishes: brief statuses and
kinds are enums, ids have their grammar as a pattern and may be given as numbers or strings
(``12``, ``"12"``, ``"12.2"``), and ``brief_set`` takes typed values that it encodes the way
``git flower brief set KEY=VALUE`` expects. Arguments that do not fit the schema are refused
before any command runs, as a ``usage`` tool error.

Over 500 lines because :func:`build` declares every tool (its typed parameters, description and
the command it runs) in one place, the way the MCP SDK registers them; each tool is a few lines
and they share the argument types above.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from flowergit import __version__

INSTRUCTIONS = """\
git flower runs a fleet of coding agents on one git repository. Briefs are numbered work items;
dispatch starts an agent on a brief in its own worktree; status and ps show the fleet; merge
lands a finished brief through the test gate (a failing suite refuses it). Signals are queued
events each consumed once; the baton says which orchestrator is in charge of a lane; the
hand-off scratchpad is what an orchestrator leaves for its successor. An orchestrator checks in
(daemon_checkin), takes the baton, calls tick in a loop and beats (daemon_beat) within its
lease; to hand over it writes the scratchpad and calls reset_request, its successor checks in
with successor_of, reads handoff_show and calls reset_ready, then reset_handoff and
reset_retire finish the hand-off. Every tool returns the same data as the matching
`git flower ... --json` command."""

# -- argument types: each carries its JSON-schema constraints; tools add the description ------
# (module level: the server resolves the string annotations in this module's namespace)
BRIEF_PATTERN = r"^[1-9][0-9]{0,8}$"
DISPATCH_PATTERN = r"^[1-9][0-9]{0,8}(\.[1-9][0-9]{0,3})?$"
NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
TOKEN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"

Status = Literal["draft", "planned", "dispatched", "done", "merged", "blocked", "abandoned"]
Kind = Literal["brief", "bug", "idea"]
# `git flower send --key NAME` (state/config.py KEY_NAMES; a test keeps the two the same)
KeyName = Literal["Enter", "Escape", "Tab", "Up", "Down", "Left", "Right", "Backspace", "Space",
                  "C-c", "C-d", "PageUp", "PageDown", "Home", "End"]
KEY_NAMES: tuple[str, ...] = get_args(KeyName)
KNOWN_SIGNALS = ("auto_dispatch", "dispatch_done", "reset", "successor_ready")

BriefRef = (Annotated[int, Field(ge=1, le=999_999_999)]
            | Annotated[str, Field(pattern=BRIEF_PATTERN)])
DispatchRef = (Annotated[int, Field(ge=1, le=999_999_999)]
               | Annotated[str, Field(pattern=DISPATCH_PATTERN)])
DaemonRef = (Annotated[int, Field(ge=0)]
             | Annotated[str, Field(pattern=TOKEN_PATTERN)])
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
SignalId = Annotated[str, Field(pattern=TOKEN_PATTERN)]
Key = KeyName | Annotated[str, Field(min_length=1, max_length=1, pattern=r"^[^\x00-\x1f\x7f-\x9f]$")]
Scalar = bool | int | float | str
Value = Scalar | list[Scalar | list[Scalar]]

BRIEF_NUM = 'a number or a string: 12 or "12"'
BRIEF_DESC = f"A brief number, as {BRIEF_NUM}."
TARGET_DESC = ('A brief number (its latest dispatch) or a dispatch id N.k, as a number or a '
               'string: 12, "12" or "12.2".')
LANE_DESC = "The baton lane (default: main)."
DAEMON_DESC = ("The daemon this call speaks for, as a number or a string (default: the "
               "server's $FLOWER_DAEMON).")
KIND_DESC = "brief (a unit of work), bug or idea."
STATUS_DESC = "draft < planned < dispatched < done < merged; also blocked and abandoned."
SIGNAL_KIND_DESC = ("The signal kind: lower-case letters, digits, '-' and '_'. Known kinds: "
                    + ", ".join(KNOWN_SIGNALS) + ".")
KEY_DESC = ("A key to press: " + ", ".join(KEY_NAMES)
            + " (C-c is Ctrl-C, C-d Ctrl-D), or any single printable character such as y or n.")


class BriefFields(BaseModel):
    """Front-matter keys to set on a brief, with typed values. Any other key is kept in the
    brief's front matter as given (a string, number, boolean or list)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Value] = Field(init=False)

    title: str | None = Field(None, min_length=1, description="One-line title.")
    kind: Kind | None = Field(None, description=KIND_DESC)
    status: Status | None = Field(None, description=STATUS_DESC + " brief_plan is the usual "
                                  "way to plan one (it also emits auto_dispatch).")
    auto_dispatch: bool | None = Field(None, description="Dispatch automatically once planned.")
    agent: Name | None = Field(None, description="The agent profile for this brief.")
    depends_on: list[Annotated[BriefRef, Field(description=BRIEF_DESC)]] | None = Field(
        None, description="The briefs this one depends on (replaces the list; [] clears it).")
    run: list[Annotated[list[str], Field(min_length=1)]] | str | None = Field(
        None, description='The steps of the built-in script agent: a list of argv lists such as '
        '[["make"], ["pytest", "-q"]] (or the same as TOML text).')


class CommandFailed(Exception):
    def __init__(self, code: str, message: str, hint: str | None, exit_code: int,
                 data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.exit_code = exit_code
        self.data = data

    def __str__(self) -> str:
        text = f"{self.code} (exit {self.exit_code}): {self.message}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        if self.data is not None:
            text += "\ndata: " + json.dumps(self.data, sort_keys=True, ensure_ascii=False)
        return text


def _command_words(args: Sequence[str]) -> int:
    """How many leading words of ``args`` name the command (``brief set``, ``tick``)."""
    n = 0
    while n < len(args) and args[n][:1].isascii() and args[n][:1].isalpha() \
            and args[n].replace("-", "").replace("_", "").isalnum():
        n += 1
    return max(n, 1)


def call(cwd: str, argv: Sequence[str], *, input: bytes | None = None,
         timeout: float | None = None) -> Any:
    """Run ``git flower ARGV --json`` in ``cwd``; return its data or raise :class:`CommandFailed`."""
    env = dict(os.environ)
    args = list(argv)
    # --json right after the command's words: before any value or `--` a caller passes
    args.insert(_command_words(args), "--json")
    try:
        p = subprocess.run([sys.executable, "-m", "flowergit", *args], check=False, cwd=cwd,
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
                            e.get("hint"), p.returncode, e.get("data"))
    return doc.get("data")


def toml_value(value: Any) -> str:
    """``value`` as a TOML value (what `brief set KEY=VALUE` parses for run and other keys)."""
    from flowergit.state import tomlcodec

    return tomlcodec.dumps_value(value)


def brief_set_pairs(fields: BriefFields) -> list[str]:
    """The ``KEY=VALUE`` arguments of `git flower brief set` for typed ``fields``."""
    given = fields.model_dump(exclude_unset=True, exclude_none=True)
    given.update({k: v for k, v in (fields.model_extra or {}).items() if v is not None})
    pairs = []
    for key, value in given.items():
        if key in ("title", "kind", "status", "agent"):
            text = str(value)
        elif key == "auto_dispatch":
            text = "true" if value else "false"
        elif key == "depends_on":
            text = ",".join(str(d) for d in value)
        elif key == "run" and isinstance(value, str):
            text = value
        else:
            text = toml_value(value)
        pairs.append(f"{key}={text}")
    return pairs


def build(cwd: str) -> Any:
    """The MCP server for the repository at ``cwd``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import ToolAnnotations
    from pydantic import ValidationError

    class Server(MCPServer):
        async def call_tool(self, name: str, arguments: dict[str, Any],
                            context: Any = None) -> Any:
            """Arguments that do not fit a tool's schema: a `usage` error like the CLI's."""
            try:
                return await super().call_tool(name, arguments, context)
            except ToolError as e:
                cause = e.__cause__
                if not isinstance(cause, ValidationError):
                    raise
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in err['loc'])}: "
                    f"{err['msg']}" for err in cause.errors(include_url=False))
                raise ToolError(
                    f"Error executing tool {name}: usage (exit 2): invalid arguments: {problems}"
                    f"\nhint: the tool's input schema gives each parameter's type and allowed "
                    f"values") from cause

    server = Server("git-flower", instructions=INSTRUCTIONS, version=__version__)
    read = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
    write = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                            open_world_hint=False)
    same = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                           open_world_hint=False)
    destroy = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False,
                              open_world_hint=False)

    def run(argv: list[str], **kw: Any) -> Any:
        try:
            return call(cwd, argv, **kw)
        except CommandFailed as e:
            raise ToolError(str(e)) from None

    def opt(flag: str, value: Any) -> list[str]:
        return [] if value is None or value == "" else [flag, str(value)]

    def flag(name: str, on: bool) -> list[str]:
        return [name] if on else []

    # -- briefs ---------------------------------------------------------------------------------
    @server.tool(annotations=read)
    def brief_list(
        status: Annotated[Status | None, Field(description="Only briefs with this status. "
                                               + STATUS_DESC)] = None,
        kind: Annotated[Kind | None, Field(description="Only briefs of this kind.")] = None,
    ) -> list[dict[str, Any]]:
        """List briefs (id, title, kind, status, flags), optionally only one status or kind."""
        return run(["brief", "list", *opt("--status", status), *opt("--kind", kind)])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def brief_show(id: Annotated[BriefRef, Field(description=BRIEF_DESC)]) -> dict[str, Any]:
        """One brief with its front matter and its markdown spec (body)."""
        return run(["brief", "show", "--", str(id)])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def brief_new(
        title: Annotated[str, Field(min_length=1, description="One-line title.")],
        body: Annotated[str, Field(description="The spec, in markdown.")] = "",
        kind: Annotated[Kind, Field(description=KIND_DESC)] = "brief",
        auto_dispatch: Annotated[bool, Field(description="Dispatch automatically once "
                                             "planned (brief_plan emits auto_dispatch).")] = False,
        agent: Annotated[Name | None, Field(description="The agent profile for this brief "
                                            "(default: the config's default_agent).")] = None,
        depends_on: Annotated[list[Annotated[BriefRef, Field(description=BRIEF_DESC)]] | None,
                              Field(description="Briefs this one depends on.")] = None,
    ) -> dict[str, Any]:
        """File a new brief (status draft); returns it with its new id."""
        argv = ["brief", "new", "-F", "-", "--kind", kind, *opt("--agent", agent)]
        argv += flag("--auto", auto_dispatch)
        for d in depends_on or []:
            argv += ["--depends", str(d)]
        return run([*argv, "--", title], input=body.encode("utf-8"))  # type: ignore[no-any-return]

    @server.tool(annotations=same)
    def brief_set(
        id: Annotated[BriefRef, Field(description=BRIEF_DESC)],
        fields: Annotated[BriefFields, Field(description="The front-matter keys to set, with "
                                             "typed values; other keys are kept as given.")],
    ) -> dict[str, Any]:
        """Set front-matter keys of a brief (title, kind, status, auto_dispatch, agent,
        depends_on, run, or your own); returns the brief as it now is."""
        return run(["brief", "set", "--", str(id), *brief_set_pairs(fields)])  # type: ignore[no-any-return]

    @server.tool(annotations=same)
    def brief_plan(id: Annotated[BriefRef, Field(description=BRIEF_DESC)]) -> dict[str, Any]:
        """Mark a draft or blocked brief planned (an auto_dispatch brief then emits an
        auto_dispatch signal, which tick dispatches)."""
        return run(["brief", "plan", "--", str(id)])  # type: ignore[no-any-return]

    # -- dispatch and workers -------------------------------------------------------------------
    @server.tool(annotations=write)
    def dispatch(
        brief: Annotated[BriefRef, Field(description="The brief to dispatch ("
                                                    + BRIEF_NUM + ").")],
        agent: Annotated[Name | None, Field(description="The agent profile (default: the "
                                            "brief's agent, else the config's default).")] = None,
        base: Annotated[str, Field(description="The revision the worktree starts from "
                                   "(default, or empty: the target branch).")] = "",
        rework: Annotated[bool, Field(description="Start a new attempt N.k+1 on a brief "
                                      "already dispatched.")] = False,
        resume: Annotated[bool, Field(description="Resume the latest attempt in its existing "
                                      "worktree.")] = False,
        tmux: Annotated[bool, Field(description="Run the agent in a tmux session (then `send` "
                                    "can type into it).")] = False,
    ) -> dict[str, Any]:
        """Start an agent on a brief in its own worktree (queued beyond the concurrency cap)."""
        argv = ["dispatch", *opt("--agent", agent), *opt("--base", base)]
        argv += flag("--rework", rework) + flag("--resume", resume) + flag("--tmux", tmux)
        return run([*argv, "--", str(brief)])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def status() -> dict[str, Any]:
        """Briefs by status, the live workers, the queue and the concurrency cap."""
        return run(["status"])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def ps(all: Annotated[bool, Field(description="Include cleaned dispatches.")] = False
           ) -> list[dict[str, Any]]:
        """One row per dispatch: state, agent, elapsed, commits ahead, files changed, last log line."""
        return run(["ps", *flag("--all", all)])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def wait(
        targets: Annotated[list[Annotated[DispatchRef, Field(description=TARGET_DESC)]],
                           Field(min_length=1, description="The dispatches to wait for.")],
        timeout: Annotated[float | None, Field(gt=0, description="Give up after this many "
                                               "seconds (error retry, exit 75).")] = None,
    ) -> list[dict[str, Any]]:
        """Wait until the dispatches have ended; returns their outcomes and exit codes. While
        it waits it runs the scheduler, so queued dispatches may start."""
        return run(["wait", *opt("--timeout", timeout), "--",  # type: ignore[no-any-return]
                    *(str(t) for t in targets)])

    @server.tool(annotations=read)
    def logs(target: Annotated[DispatchRef, Field(description=TARGET_DESC)]) -> dict[str, Any]:
        """A dispatch's log: what its agent printed."""
        return run(["logs", "--", str(target)])  # type: ignore[no-any-return]

    @server.tool(annotations=destroy)
    def stop(target: Annotated[DispatchRef, Field(description=TARGET_DESC)]) -> dict[str, Any]:
        """Stop a dispatch: its agent's whole process group is terminated (a queued one leaves
        the queue). Error conflict if it is not running."""
        return run(["stop", "--", str(target)])  # type: ignore[no-any-return]

    @server.tool(annotations=destroy)
    def send(
        target: Annotated[DispatchRef, Field(description=TARGET_DESC + " It must run in tmux "
                                             "(dispatch with tmux=true).")],
        text: Annotated[str, Field(description="Text to type, literally (no key names are "
                                   "interpreted); empty: none, only the keys.")] = "",
        keys: Annotated[list[Annotated[Key, Field(description=KEY_DESC)]] | None, Field(
            description="Keys to press after the text, in order, e.g. [\"Enter\"] or "
            "[\"y\", \"Enter\"].")] = None,
    ) -> dict[str, Any]:
        """Type text and then press keys, in order, into the terminal of an agent dispatched
        with tmux=true (for an agent that waits for a keystroke). C-c interrupts the agent."""
        argv = ["send"]
        for k in keys or []:
            argv += ["--key", k]
        return run([*argv, "--", str(target), *([text] if text else [])])  # type: ignore[no-any-return]

    # -- the merge gate -------------------------------------------------------------------------
    @server.tool(annotations=write)
    def merge(
        brief: Annotated[BriefRef, Field(description="The brief to merge ("
                                                 + BRIEF_NUM + ").")],
        into: Annotated[str, Field(description="The target branch (default, or empty: the "
                                   "config's target).")] = "",
        no_test: Annotated[bool, Field(description="Do not run the suite (a passing "
                                       "attestation of the tree is still recorded).")] = False,
        dry_run: Annotated[bool, Field(description="Check and compute the merge; change "
                                       "nothing.")] = False,
        force: Annotated[bool, Field(description="Merge even though the agent did not exit "
                                     "0.")] = False,
    ) -> dict[str, Any]:
        """Merge a finished brief through the test gate: the suite runs on the merged tree and
        only if it passes does the target branch move (a new merge commit with provenance);
        a failing suite refuses it (error tests_failed) and nothing moves. Local work in the
        checkout is never lost."""
        argv = ["merge", *opt("--into", into), *flag("--no-test", no_test)]
        argv += flag("--dry-run", dry_run) + flag("--force", force)
        return run([*argv, "--", str(brief)])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def verify(
        range: Annotated[str, Field(description="A revision range such as main~10..main "
                                    "(default, or empty: the target branch).")] = "",
        limit: Annotated[int, Field(ge=0, description="Check at most this many commits "
                                    "(0: all).")] = 0,
    ) -> dict[str, Any]:
        """Check that every first-parent commit in the range passed the suite (an attestation
        of its tree). Any commit without one: error tests_failed, with the report as data."""
        argv = ["verify", *(["--limit", str(limit)] if limit else [])]
        return run([*argv, "--", *([range] if range else [])])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def why(what: Annotated[str, Field(min_length=1, description="A commit, a path, or "
                                       "PATH:LINE (relative to the repository's top).")]
            ) -> dict[str, Any]:
        """The brief, dispatch, agent, baton epoch and suite result behind a commit or a line
        (the provenance of the merge that landed it)."""
        return run(["why", "--", what])  # type: ignore[no-any-return]

    # -- signals --------------------------------------------------------------------------------
    @server.tool(annotations=write)
    def signal_emit(
        kind: Annotated[Name, Field(description=SIGNAL_KIND_DESC,
                                    json_schema_extra={"examples": list(KNOWN_SIGNALS)})],
        brief: Annotated[BriefRef | None, Field(description="The brief the signal is about ("
                                                + BRIEF_NUM + ").")] = None,
        data: Annotated[dict[Annotated[str, Field(pattern=r"^[^=]+$")], str] | None,
                        Field(description="Data items carried by the signal (strings, as "
                              "`--data K=V` gives them).")] = None,
        daemon: Annotated[DaemonRef | None, Field(description=DAEMON_DESC)] = None,
    ) -> dict[str, Any]:
        """Queue a signal, consumed exactly once; returns it with its id."""
        argv = ["signal", "emit", *opt("--brief", brief), *opt("--daemon", daemon)]
        for k, v in (data or {}).items():
            argv += ["--data", f"{k}={v}"]
        return run([*argv, "--", kind])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def signal_list(
        kind: Annotated[Name | None, Field(description="Only signals of this kind ("
                                           + ", ".join(KNOWN_SIGNALS) + ", …).")] = None,
        unclaimed: Annotated[bool, Field(description="Only signals nobody has claimed.")] = False,
    ) -> list[dict[str, Any]]:
        """Signals with their state (pending, expired, claimed, completed, moot) and claim."""
        return run(["signal", "list", *opt("--kind", kind),  # type: ignore[no-any-return]
                    *flag("--unclaimed", unclaimed)])

    @server.tool(annotations=write)
    def signal_claim(
        id: Annotated[SignalId | None, Field(description="The signal to claim (or next=true).")
                      ] = None,
        next: Annotated[bool, Field(description="Claim the oldest unclaimed signal.")] = False,
        kind: Annotated[Name | None, Field(description="With next: only signals of this kind ("
                                           + ", ".join(KNOWN_SIGNALS) + ", …).")] = None,
        daemon: Annotated[DaemonRef | None, Field(description=DAEMON_DESC)] = None,
    ) -> dict[str, Any]:
        """Claim a signal exactly once, by id or the oldest unclaimed one (error conflict:
        someone else has it; not_found: nothing left)."""
        argv = ["signal", "claim", *opt("--kind", kind), *opt("--daemon", daemon)]
        argv += flag("--next", next)
        return run([*argv, "--", *([id] if id else [])])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def signal_complete(
        id: Annotated[SignalId, Field(description="The signal to complete.")],
        moot: Annotated[bool, Field(description="It no longer needs doing.")] = False,
        note: Annotated[str, Field(description="Why, for the record.")] = "",
        daemon: Annotated[DaemonRef | None, Field(description=DAEMON_DESC)] = None,
    ) -> dict[str, Any]:
        """Mark a claimed signal completed (or moot); an unclaimed one is claimed and completed."""
        argv = ["signal", "complete", *opt("--note", note), *opt("--daemon", daemon)]
        argv += flag("--moot", moot)
        return run([*argv, "--", id])  # type: ignore[no-any-return]

    # -- daemons --------------------------------------------------------------------------------
    @server.tool(annotations=write)
    def daemon_checkin(
        role: Annotated[Name, Field(description="The daemon's role: orchestrator, worker, ops, "
                                    "refine, or your own.")],
        pid: Annotated[int | None, Field(ge=1, description="The process this daemon stands for "
                                         "(default: the leader of the server's session).")
                       ] = None,
        successor_of: Annotated[DaemonRef | None, Field(description="Check in as the successor "
                                                        "of this daemon (a reset hand-off).")
                                ] = None,
    ) -> dict[str, Any]:
        """Check a daemon in; returns its record with its new id. Later calls name it as
        `daemon`; it must beat (daemon_beat) within its lease to stay alive."""
        argv = ["daemon", "checkin", "--role", role, *opt("--pid", pid)]
        return run([*argv, *opt("--successor-of", successor_of)])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def daemon_beat(id: Annotated[DaemonRef | None, Field(description="The daemon that beats "
                                                          "(default: the server's "
                                                          "$FLOWER_DAEMON).")] = None
                    ) -> dict[str, Any]:
        """Send one heartbeat; do it well within the lease (default 60 s)."""
        return run(["daemon", "beat", "--", *([] if id is None else [str(id)])])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def daemon_whoami(daemon: Annotated[DaemonRef | None, Field(description=DAEMON_DESC)] = None
                      ) -> dict[str, Any]:
        """The daemon this caller speaks for, with its liveness as this machine judges it."""
        return run(["daemon", "whoami", *opt("--daemon", daemon)])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def daemon_list(all: Annotated[bool, Field(description="Include retired daemons.")] = False
                    ) -> list[dict[str, Any]]:
        """Daemons with their role, state and liveness."""
        return run(["daemon", "list", *flag("--all", all)])  # type: ignore[no-any-return]

    # -- the baton, the hand-off scratchpad and the reset hand-off ------------------------------
    @server.tool(annotations=read)
    def baton_show(
        lane: Annotated[Name | None, Field(description=LANE_DESC)] = None,
        history: Annotated[bool, Field(description="Include the succession.")] = False,
    ) -> dict[str, Any]:
        """Who holds the baton of a lane, its epoch and state."""
        argv = ["baton", "show", *opt("--lane", lane), *flag("--history", history)]
        return run(argv)  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def baton_take(
        daemon: Annotated[DaemonRef | None, Field(description=DAEMON_DESC)] = None,
        lane: Annotated[Name | None, Field(description=LANE_DESC)] = None,
    ) -> dict[str, Any]:
        """Take the baton of a lane for a daemon (error conflict if another live daemon holds
        it); a holder whose successor never came takes it back this way."""
        return run(["baton", "take", *opt("--lane", lane), *opt("--daemon", daemon)])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def baton_release(
        daemon: Annotated[DaemonRef | None, Field(description=DAEMON_DESC)] = None,
        lane: Annotated[Name | None, Field(description=LANE_DESC)] = None,
    ) -> dict[str, Any]:
        """Release the baton of a lane."""
        return run(["baton", "release", *opt("--lane", lane), *opt("--daemon", daemon)])  # type: ignore[no-any-return]

    @server.tool(annotations=read)
    def handoff_show(lane: Annotated[Name | None, Field(description=LANE_DESC)] = None
                     ) -> dict[str, Any]:
        """The hand-off scratchpad a predecessor left for its successor."""
        return run(["handoff", "show", *opt("--lane", lane)])  # type: ignore[no-any-return]

    @server.tool(annotations=same)
    def handoff_write(
        text: Annotated[str, Field(description="The scratchpad: roster, decisions, open "
                                   "signals, what to do next.")],
        lane: Annotated[Name | None, Field(description=LANE_DESC)] = None,
        daemon: Annotated[DaemonRef | None, Field(description=DAEMON_DESC)] = None,
    ) -> dict[str, Any]:
        """Replace the hand-off scratchpad of a lane (its history is kept on flower/briefs)."""
        return run(["handoff", "write", *opt("--lane", lane), "-F", "-",  # type: ignore[no-any-return]
                    *opt("--daemon", daemon)], input=text.encode("utf-8"))

    @server.tool(annotations=write)
    def reset_request(
        note: Annotated[str, Field(description="Why, for the record.")] = "",
        lane: Annotated[Name | None, Field(description=LANE_DESC)] = None,
        daemon: Annotated[DaemonRef | None, Field(description=DAEMON_DESC)] = None,
    ) -> dict[str, Any]:
        """Step 1 of the hand-off, by the baton holder: ask for a successor (the baton goes to
        hand-off pending, a `reset` signal is emitted). Write the scratchpad first."""
        argv = ["reset", "request", *opt("--lane", lane), *opt("--daemon", daemon)]
        return run([*argv, *opt("--note", note)])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def reset_ready(
        lane: Annotated[Name | None, Field(description=LANE_DESC)] = None,
        daemon: Annotated[DaemonRef | None, Field(description="The successor, checked in with "
                                                  "successor_of (default: the server's "
                                                  "$FLOWER_DAEMON).")] = None,
    ) -> dict[str, Any]:
        """Step 2, by the successor once it has read handoff_show: it is ready (named on the
        baton; a `successor_ready` signal is emitted)."""
        return run(["reset", "ready", *opt("--lane", lane), *opt("--daemon", daemon)])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def reset_handoff(
        text: Annotated[str, Field(description="A final scratchpad, committed atomically with "
                                   "the hand-off (default, or empty: keep the current one).")
                        ] = "",
        lane: Annotated[Name | None, Field(description=LANE_DESC)] = None,
        daemon: Annotated[DaemonRef | None, Field(description="The holder, or the successor "
                                                  "when the holder has gone quiet (default: "
                                                  "the server's $FLOWER_DAEMON).")] = None,
    ) -> dict[str, Any]:
        """Step 3: move the baton to the ready successor (epoch + 1). From then on the
        predecessor's fenced writes fail."""
        argv = ["reset", "handoff", *opt("--lane", lane), *opt("--daemon", daemon)]
        if not text:
            return run(argv)  # type: ignore[no-any-return]
        return run([*argv, "-F", "-"], input=text.encode("utf-8"))  # type: ignore[no-any-return]

    @server.tool(annotations=destroy)
    def reset_retire(
        lane: Annotated[Name | None, Field(description=LANE_DESC)] = None,
        daemon: Annotated[DaemonRef | None, Field(description=DAEMON_DESC)] = None,
        predecessor: Annotated[DaemonRef | None, Field(description="The daemon to retire "
                                                       "(default: the one the last hand-off "
                                                       "came from).")] = None,
    ) -> dict[str, Any]:
        """Step 4: retire the predecessor for good (it may no longer beat, hold the baton or
        claim work) and complete the hand-off's signals."""
        argv = ["reset", "retire", *opt("--lane", lane), *opt("--daemon", daemon)]
        return run([*argv, *opt("--predecessor", predecessor)])  # type: ignore[no-any-return]

    @server.tool(annotations=write)
    def tick(
        lane: Annotated[Name | None, Field(description=LANE_DESC)] = None,
        daemon: Annotated[DaemonRef | None, Field(description="The daemon this tick speaks for "
                                                  "(default: the server's $FLOWER_DAEMON).")
                          ] = None,
    ) -> dict[str, Any]:
        """One orchestrator iteration: moot stale signals, reap finished workers, start queued
        dispatches and dispatch auto_dispatch signals within the cap, merge finished briefs
        when [merge] auto is on; returns what it did (error conflict when another live daemon
        holds the lane, or this one lost the baton)."""
        return run(["tick", *opt("--lane", lane), *opt("--daemon", daemon)])  # type: ignore[no-any-return]

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
