"""The records git flower writes, as types: what each holds, field by field, for mypy.

Imported only under ``TYPE_CHECKING`` (``typing`` costs a hot command milliseconds): at run
time every record is the plain ``dict`` JSON gives. A TypedDict and ``dict[str, Any]`` do not
convert into each other for mypy, so a signature here can take these types only together with
its callers: the state functions that read and write these records (``state.journal``,
``state.notes``, ``state.dispatches``/``state.records``) switch with the ``ops`` code that builds
and reads them. ``total=False`` where a field may be absent;
a field that is always written but may be null is typed ``X | None``. DESIGN.md and
docs/dispatch.md, docs/merge.md describe the formats; the writers are named on each class.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class Identity(TypedDict):
    """A process as ``procs.identity.of`` (and ``journal.owner``) give it."""

    host: str
    boot_id: str
    pid: int
    start: float
    ticks: NotRequired[int]  # Linux: the start in clock ticks since the boot (what is compared)


class JournalEntry(TypedDict, total=False):
    """A merge in flight: ``$common/flower/journal/<op>.json`` (written by ``ops.merge.anchor.journal_entry``
    at each phase; read by ``git flower recover``)."""

    v: int
    op: str
    phase: str  # built | testing | landing | stashed
    brief: int
    dispatch: str
    target_ref: str
    into: str
    pre_target: str
    head: str
    merge: str
    tree: str
    incoming: list[str]
    overlap: list[str]
    ita: list[str]
    worktree: str | None
    pre_head: str | None
    index_tree: str | None
    worktree_tree: str | None
    local_root: str | None
    owner: Identity | None
    started: str
    # written by later phases
    local_only: list[dict[str, Any]]
    anchor: str | None
    suite_pid: Identity | None
    scratch: str | None
    note: Provenance
    suite_note: Attestation
    stash: str | None


class SuiteSummary(TypedDict):
    """The ``suite`` object of a provenance line (``ops.merge.suite.suite_summary``)."""

    tests: int | None
    passed: int | None
    failed: int | None
    skipped: int | None
    errors: int | None
    seconds: float | None
    tree: str | None


class AgentUsage(TypedDict, total=False):
    model: str | None
    turns: int | None
    input_tokens: int | None
    output_tokens: int | None
    cached_input_tokens: int | None
    cost_usd: float | None
    cost_source: str | None


class Provenance(TypedDict, total=False):
    """The note line on a merge commit in ``refs/notes/flower`` (``ops.merge.provenance``)."""

    v: int
    kind: Literal["merge"]
    brief: int
    dispatch: str
    agent: str | None
    branch: str
    head: str
    base: str | None
    into: str
    epoch: int | None
    suite: SuiteSummary | None
    by: str
    at: str
    agent_usage: AgentUsage


class Attestation(TypedDict, total=False):
    """A suite result on a tree in ``refs/notes/flower`` (``ops.merge.suite.run_on``)."""

    v: int
    kind: Literal["suite"]
    tree: str
    commit: str
    command: list[str]
    tests: int
    passed: int
    failed: int
    skipped: int
    errors: int
    seconds: float
    ok: bool
    exit_code: int | None
    timed_out: bool
    counts_from: str
    log: str
    by: str
    at: str
    why: str
    failing: list[str]  # the failing tests by name (from JUnit), at most 20
    failing_more: int  # how many more failed than ``failing`` names
    cached: bool  # (not written: run_on's answer when it reused an attestation)


NoteLine = Provenance | Attestation  # (lines of other kinds, or hand-written ones, may be read too)


class Drift(TypedDict):
    """How far a rework's branch had drifted from its target when it was dispatched again."""

    base: str
    target: str
    ahead: int
    behind: int


class DispatchRecord(TypedDict, total=False):
    """One attempt's record: ``record.json`` of ``refs/flower/dispatch/<brief>/<n>``
    (``state.dispatches``; written by ``ops.dispatch.command`` (the claim), the scheduler and
    the supervisor, ``stop``/``done``/``clean`` and the merge gate). docs/dispatch.md, "The
    dispatch record", describes each field."""

    v: int
    id: str
    brief: int
    attempt: int
    state: str  # preparing | queued | running | exited | stopped | failed | merged | released
    agent: str
    title: str
    branch: str
    worktree: str
    base: str
    target: str
    rework: bool
    drift: Drift | None
    tmux: bool
    queued_at: str
    queued_ns: int
    started_at: str | None
    agent_started_at: str | None
    ended_at: str | None
    exit_code: int | None
    signal: str | None
    timed_out: bool
    pid: int | None
    pgid: int | None
    proc: Identity | None
    supervisor: Identity | None
    log: str
    packet: str
    by: str
    by_proc: Identity | None
    daemon: str | None
    reported: str  # done | failed (the agent's own word)
    reported_at: str
    stopped_at: str
    resumed: int
    error: str
    released_at: str
    released_from: str
    tmux_socket: str
    tmux_session: str
    waiting: dict[str, str] | None  # {"prompt", "since"} while a tmux agent waits at a prompt
    # the judgement of the attempt once it ended (ops.dispatch.outcome)
    outcome: str  # done | no-changes | failed | stopped | timed-out | lost
    note: str
    commits: int
    autocommit: dict[str, Any]
    usage: dict[str, Any] | None  # procs.transcript's summary
    # written by the merge gate
    merge_commit: str
    into: str
    merged_at: str
    worktree_released: bool
