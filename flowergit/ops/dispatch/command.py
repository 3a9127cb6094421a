"""`git flower dispatch N`: claim attempt N.k, make the worktree, write the packet, start the agent.

The steps, in order (each a separate failure point with nothing half-done left behind):

1. read what the dispatch needs, at once, each a git process started without waiting for the
   other: the brief (with the trees on its path, so that marking it dispatched reads nothing
   again), and every dispatch ref with the target and the brief's branches (one
   ``for-each-ref``); resolve the agent profile (a profile from `.flower.toml` needs `git
   flower trust`). From the listing to step 5 the per-machine scheduler lock
   (``flock($common/flower/sched.lock)``) is held, so the census of running agents taken here is
   the one the start decision in step 5 acts on. Nothing up to step 2 loads more than deciding
   it needs (no ``re``, ``json``'s Python modules, ``contextlib``, ``datetime.py``):
   everything before the worktree add is time the checkout has not started;
2. ``git worktree add --lock`` on a new branch ``flower/<N>-<slug>`` starts (and then ``git
   var``, for the records' identity): the checkout is the long step, and everything up to step 5
   happens while it runs. It is waited for, and its failure reported, before dispatch returns;
   should the claim fail, the new worktree and branch are removed again. (An existing branch is
   reused: rework, with the drift of its base from the target reported; that worktree is found
   or made after the claim.)
3. claim ``refs/flower/dispatch/<N>/<k>`` create-only (state ``preparing``): a brief has at most
   one live dispatch, and two dispatchers racing for the same attempt cannot both win (exit 4);
4. render the packet file and the local start spec (the argv that will run; kept under the
   machine-local state dir, never in a ref, so a record fetched from a remote can't run anything);
5. the scheduler step: queued dispatches start oldest-first while fewer than ``max_parallel``
   agents run; then this one starts (its supervisor is spawned and named in the record) or
   joins the queue, to be started by the supervisor of whichever agent ends next. Its record
   (``running`` or ``queued``) and the brief's status (→ ``dispatched``, forward only) are
   written together: one ``unpack-objects``, one ``update-ref`` transaction;
6. once the worktree is there, the ready mark: the supervisor, which has been waiting for it
   (a fork of this process when it is the command line, see
   :func:`~flowergit.ops.dispatch.scheduler.spawn_supervisor`), then starts the agent.

What a failure takes back is one :class:`~flowergit.ops.dispatch.undo.Undo` stack: before the
claim, what was made is removed (the reads waited for, the supervisor killed, the new worktree
and branch removed); once the attempt is claimed, it is recorded as ``failed`` instead
(:func:`give_up`).
"""

from __future__ import annotations

import os
import time

from flowergit import failpoints, fastjson
from flowergit.errors import Conflict, FlowerError
from flowergit.gitio import refs, writes
from flowergit.ops.dispatch.checks import (
    choose_agent,
    choose_branch,
    next_attempt,
    refuse_brief,
    refuse_resume_options,
    refuse_while_merging,
    trusted,
)
from flowergit.ops.dispatch.paths import (
    dispatch_cache,
    mark_ready,
    now_iso,
    ready_path,
    spec_path,
    state_file,
    worktree_root,
    write_file,
)
from flowergit.ops.dispatch.scheduler import (
    census,
    dispatcher_identity,
    kill,
    running,
    sched_lock,
    schedule,
    spawn_supervisor,
    start_queued,
)
from flowergit.ops.dispatch.undo import Undo
from flowergit.ops.dispatch.worktree import ensure_worktree, start_new_worktree, take_back
from flowergit.state import records
from flowergit.state.dispatches import DispatchStore, dispatch_name, learn
from flowergit.state.layout import BRIEFS_BRANCH, brief_path, dispatch_ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from flowergit.gitio.runner import Started
    from flowergit.ops.context import Ctx
    from flowergit.ops.dispatch.undo import Step
    from flowergit.ops.dispatch.worktree import Adding
    from flowergit.procs.agents import Profile
    from flowergit.state.brief import Brief
    from flowergit.state.briefs import PreRead
    from flowergit.state.schema import DispatchRecord, Drift


class Job:
    """One dispatch on its way: what its steps read, decided and made so far."""

    def __init__(self, ctx: Ctx, brief: int) -> None:
        self.ctx = ctx
        self.repo = ctx.repo
        self.brief = brief
        self.store = DispatchStore(ctx.repo)
        self.bstore = ctx.briefs()
        self.target = ctx.config.target
        self.cap = int(ctx.config.get("flower", "max_parallel"))
        self.cache = dispatch_cache(ctx.repo)
        self.pre_tip = ""  # the briefs branch the brief is read from
        self.reading: Started | None = None  # the brief, with the trees on its path
        self.listing: Started | None = None  # the dispatch refs and the branches
        self.pre: PreRead
        self.b: Brief
        self.name = ""
        self.profile: Profile
        self.use_tmux = False
        self.heads: list[records.Head] = []
        self.now = 0.0  # when the census was taken
        self.attempt = 0
        self.did = ""
        self.ref = ""
        self.branch = ""
        self.path = ""
        self.base = ""
        self.rework: Drift | None = None
        self.adder: Adding | None = None  # the worktree add, while it runs
        self.take_back: Step | None = None  # its undo, until the attempt is claimed
        self.rec: DispatchRecord = {}  # the claim (``preparing``)
        self.new: dict[str, Any] = {}  # what follows it (``running`` or ``queued``)
        self.waiting: list[records.Head] = []
        self.started: list[str] = []
        self.kill_supervisor: Step | None = None  # a supervisor spawned, until a record names it
        self.claimed = ""
        self.moved = ""
        self.message = ""
        self.status_op: tuple[refs.Op, bytes] | None = None
        self.status_set = False
        self.scheduled = False
        self.argv: list[str] = []


def dispatch(ctx: Ctx, brief: int, *, agent: str | None = None, base: str | None = None,
             rework: bool = False, resume: bool = False, use_tmux: bool = False,
             meanwhile: Callable[[], object] | None = None,
             fork_supervisor: bool = False) -> dict[str, Any]:
    """Dispatch ``brief`` (see the module's docstring). ``meanwhile``: called once everything
    else is done and only the checkout is left to wait for (the CLI loads its renderer there).
    ``fork_supervisor``: this process ends after dispatching (the command line), so the
    supervisor may start as a copy of it (see
    :func:`~flowergit.ops.dispatch.scheduler.spawn_supervisor`)."""
    refuse_while_merging(ctx)
    if resume:
        refuse_resume_options(agent, base, rework)
        from flowergit.ops.dispatch.resume import resume_dispatch  # only here: not on the hot path

        return resume_dispatch(ctx, brief, use_tmux=use_tmux)
    job = Job(ctx, brief)
    with Undo() as undo:
        read_brief(job, undo)
        with sched_lock(job.repo):
            list_dispatches(job, undo)
            decide(job, agent, base, rework, use_tmux)
            start_worktree(job, undo)
            schedule_and_claim(job, undo, fork_supervisor)
            prepare_start(job)
            record_start(job, undo)
        learn(job.cache, [records.Head(job.ref, job.moved, job.new)])  # for the next census
        if meanwhile is not None:
            meanwhile()
        await_worktree(job)
    return summary(job)


# -- 1: the reads and the checks ------------------------------------------------------------
def read_brief(job: Job, undo: Undo) -> None:
    """Start reading the brief, with the trees on its path (``cat-file --batch``)."""
    tip = job.bstore.tip()  # resolved at discovery
    if tip is None:
        tip = job.bstore.require_tip()
    job.pre_tip = tip
    job.reading = job.bstore.preread_start(job.brief, tip)
    undo.push(lambda e: drain(job.reading))


def list_dispatches(job: Job, undo: Undo) -> None:
    """Start listing every dispatch ref with the target and the brief's branches
    (``for-each-ref``), under the scheduler lock: the census it gives stays true."""
    job.listing = job.store.list_tips_start([f"refs/heads/{job.target}",
                                             f"refs/heads/flower/{job.brief}-*"])
    undo.push(lambda e: drain(job.listing))


def drain(started: Started | None) -> None:
    """Wait for a git process this dispatch started, whatever it answers."""
    if started is not None:
        try:
            started.result(check=False)
        except BaseException:  # noqa: BLE001 - the dispatch's own error is the one that counts
            pass


def decide(job: Job, agent: str | None, base: str | None, rework: bool, use_tmux: bool) -> None:
    """Everything that may refuse the dispatch, while the two reads run: the brief, the agent,
    the attempt's number, its branch and base."""
    ctx, brief = job.ctx, job.brief
    # meanwhile, here: the code that judges what they return loads, and the config's trust
    # is looked up (a profile of its own is what a config with [agents] is for)
    from flowergit.state import brief as codec
    from flowergit.state import quicktoml  # noqa: F401 - loaded now, used by the codec

    config_trusted = trusted(ctx) if ctx.config.agents else None
    assert job.reading is not None and job.listing is not None
    job.pre = job.bstore.preread_finish(brief, job.pre_tip, job.reading)
    job.b = codec.parse(job.pre.raw, f"{BRIEFS_BRANCH}:{brief_path(brief)}")
    refuse_brief(ctx, brief, job.b, agent)
    job.name, job.profile, job.use_tmux = choose_agent(ctx, job.b, agent, config_trusted,
                                                              use_tmux)
    tips, heads_of = job.store.list_tips_finish(job.listing)
    job.heads = job.store.cached(tips, job.cache)
    job.now = time.time()
    job.attempt, last = next_attempt(job.store, brief, job.heads, job.now)
    job.did = dispatch_name(brief, job.attempt)
    job.ref = dispatch_ref(brief, job.attempt)
    job.branch, job.base, job.rework = choose_branch(ctx, brief, job.b, last, heads_of,
                                                            base, rework)
    job.path = os.path.join(worktree_root(ctx), job.branch.split("/", 1)[1])


# -- 2: the worktree ---------------------------------------------------------------------------
def start_worktree(job: Job, undo: Undo) -> None:
    """For a new branch, start ``git worktree add`` (checkout-bound): it runs while the claim,
    the packet, the start spec and the records are written (they need the path, not the files).
    A new branch and worktree are this dispatch's own until it has claimed the attempt: should
    the claim fail, both are removed again (the branch did not exist). Then ``git var`` starts:
    who the records are written by."""
    if job.rework is None:
        adder = job.adder = start_new_worktree(job.ctx, job.did, job.branch, job.path, job.base)
        job.take_back = undo.push(lambda e: take_back(adder, e))
    identity = job.repo.var_list_start()
    undo.push(lambda e: drain(identity))


# -- 3 and 5: the scheduler step and the claim -------------------------------------------------
def new_record(job: Job) -> DispatchRecord:
    """The claim: the attempt's record as ``preparing``."""
    from flowergit.procs.identity import host

    repo, did = job.repo, job.did
    daemon = os.environ.get("FLOWER_DAEMON")
    return {
        "v": 1, "id": did, "brief": job.brief, "attempt": job.attempt,
        "state": "preparing", "agent": job.name, "branch": job.branch, "worktree": job.path,
        "base": job.base, "target": job.target, "rework": job.rework is not None,
        "drift": job.rework, "tmux": bool(job.use_tmux), "title": job.b.title,
        "queued_at": now_iso(), "queued_ns": time.time_ns(), "started_at": None,
        "ended_at": None, "exit_code": None, "signal": None, "pid": None, "pgid": None,
        "proc": None, "supervisor": None, "log": state_file(repo, "logs", did, "log"),
        "packet": state_file(repo, "packets", did, "md"),
        "by": daemon and f"daemon {daemon}" or f"{host()}:{os.getpid()}",
        "by_proc": dispatcher_identity(), "daemon": daemon,
    }


def schedule_and_claim(job: Job, undo: Undo, fork_supervisor: bool) -> None:
    """Start what is queued while slots are free, then this attempt's supervisor (or queue it);
    write every object of the claim, the record that follows it and the brief's status change
    at once; claim the attempt's ref, create-only. From the claim on, a failure is recorded,
    not taken back (:func:`give_up`)."""
    repo, did = job.repo, job.did
    job.rec = rec = new_record(job)
    count, job.waiting = census(job.heads, job.now)
    try:
        os.unlink(ready_path(repo, did))  # left by an attempt of that name whose ref is gone
    except OSError:
        pass
    # the scheduler step: older queued dispatches first, then this one if a slot is left
    for h in job.waiting:
        if count >= job.cap:
            break
        if start_queued(job.ctx, h) is not None:
            count += 1
            job.started.append(str(h.record["id"]))
    if count < job.cap:
        # named in the record below; until it is (and the worktree is ready) it only waits
        pid, ident = spawn_supervisor(repo, did, rec["by_proc"],
                                      run_supervisor if fork_supervisor else None)
        job.kill_supervisor = undo.push(lambda e: kill(pid))
        job.new = running(rec, ident)
    else:
        job.new = {**rec, "state": "queued"}
    job.message = f"dispatch {did}: {job.new['state']}"
    writer = writes.Writer(repo)
    job.claimed = records.add_commit(writer, rec, None, f"dispatch {did}: preparing")
    job.moved = records.add_commit(writer, job.new, job.claimed, job.message)
    job.status_op = job.bstore.plan_update(job.pre, to_dispatched,
                                           f"brief {job.brief}: dispatched (dispatch {did})",
                                           writer)
    writer.flush()
    failpoints.hit("dispatch_before_claim")
    try:
        refs.transaction(repo, [refs.create(job.ref, job.claimed)], f"dispatch {did}: preparing")
    except refs.CasLost:
        records.raise_if_corrupt(repo, job.ref)  # a ref that is no record chain: no race
        raise Conflict(f"dispatch {did} was just claimed by another process",
                       f"`git flower ps` shows it; `git flower wait {job.brief}` waits for it"
                       ) from None
    if job.take_back is not None:
        undo.drop(job.take_back)  # the claimed attempt's worktree stays, for a look
    undo.push(lambda e: give_up(job, e))
    failpoints.hit("dispatch_after_claim")


def run_supervisor(args: list[str], env: dict[str, str]) -> int:
    """The supervisor, in a fork of this dispatcher (loaded there, never here)."""
    import flowergit.ops.dispatch.supervise as supervise

    return supervise.main(args, env=env)


def to_dispatched(raw: bytes) -> bytes | None:
    """The brief's status → ``dispatched``, forward only (None: nothing to change)."""
    from flowergit.state import brief as codec

    cur = codec.parse(raw).status
    if cur == "dispatched" or codec.ORDER.get(cur, -1) > codec.ORDER["dispatched"]:
        return None
    return codec.with_status(raw, "dispatched")


# -- 4: the packet and the start spec ----------------------------------------------------------
def prepare_start(job: Job) -> None:
    """The rework's worktree (found or made now), the packet and the start spec."""
    from flowergit.ops.dispatch.packet import render_packet
    from flowergit.procs import agents

    repo, did, rec = job.repo, job.did, job.rec
    path = job.path
    if job.adder is None:
        path = ensure_worktree(job.ctx, did, job.branch, path, None)
        if path != job.new["worktree"]:  # the branch's worktree is elsewhere: that one it is
            job.new["worktree"] = path
            writer = writes.Writer(repo)
            job.moved = records.add_commit(writer, job.new, job.claimed, job.message)
            writer.flush()
    job.path = path
    packet, log, profile = str(rec["packet"]), str(rec["log"]), job.profile
    write_file(packet, render_packet(brief=job.b, did=did, branch=job.branch, worktree=path,
                                     target=job.target, base=job.base, agent=job.name,
                                     rework=job.rework))
    job.argv = agents.render_argv(profile.command, {
        "{bootstrap}": agents.bootstrap_line(packet), "{packet}": packet,
        "{brief}": str(job.brief), "{worktree}": path})
    spec = {"v": 1, "id": did, "argv": job.argv, "env": dict(profile.env),
            "timeout": profile.timeout, "worktree": path, "log": log, "packet": packet,
            "tmux": bool(job.use_tmux), "daemon": os.environ.get("FLOWER_DAEMON"),
            **profile.spec()}
    write_file(spec_path(repo, did), fastjson.dumps(spec, ensure_ascii=False))


def record_start(job: Job, undo: Undo) -> None:
    """The record (``running`` or ``queued``) and the brief's status, in one transaction; the
    supervisor it names is the record's to stop from here."""
    failpoints.hit("dispatch_before_start")
    if job.adder is not None and job.adder.done():
        job.adder.result()  # the checkout failed already: nothing to start
    repo, did, message = job.repo, job.did, job.message
    ops = [refs.update(job.ref, job.moved, job.claimed)]
    if job.status_op is not None:
        ops.append(job.status_op[0])
    try:
        refs.transaction(repo, ops, message)
    except refs.CasLost:
        # the briefs branch moved since it was read (or this record did): the record alone,
        # then the status through the store's re-read-and-retry path
        try:
            refs.transaction(repo, [refs.update(job.ref, job.moved, job.claimed)], message)
        except refs.CasLost:
            raise Conflict(f"dispatch {did} changed while it was being started",
                           "`git flower ps` shows it now") from None
        if job.status_op is not None:
            job.bstore.update(job.brief, to_dispatched,
                              f"brief {job.brief}: dispatched (dispatch {did})")
    job.status_set = job.status_op is not None
    job.scheduled = True
    if job.kill_supervisor is not None:
        undo.drop(job.kill_supervisor)  # named in the record: from here it is the record's


# -- 6: the ready mark -------------------------------------------------------------------------
def await_worktree(job: Job) -> None:
    """Wait for the checkout, then tell the supervisor the worktree is ready."""
    if job.adder is not None:
        job.adder.result()
        job.adder = None
    mark_ready(job.repo, job.did)


def give_up(job: Job, error: BaseException) -> None:
    """The undo of a claimed attempt: the supervisor (if any) is told the worktree will not be
    ready, the record says ``failed`` with why, the brief's status goes back, the start spec
    goes, and a slot the attempt took is freed."""
    repo, did, brief = job.repo, job.did, job.brief
    if job.adder is not None:
        try:
            job.adder.result()
        except BaseException:  # noqa: BLE001, S110 - the dispatch's own error is the one to say
            pass
    msg = error.message if isinstance(error, FlowerError) else f"{type(error).__name__}: {error}"
    try:
        mark_ready(repo, did, msg)  # a supervisor already started gives up
    except OSError:
        pass
    try:
        job.store.update(brief, job.attempt, lambda r: {**r, "state": "failed", "error": msg,
                                                        "ended_at": now_iso()}, "failed")
    except Exception:  # noqa: BLE001, S110 - the dispatch's own error is the one to say
        pass
    if job.status_set and job.b.status != "dispatched":
        from flowergit.ops import briefs as ops_briefs

        try:
            ops_briefs.set_status(job.ctx, brief, job.b.status, forward_only=False,
                                  why=f"dispatch {did} failed")
        except Exception:  # noqa: BLE001, S110
            pass
    try:
        os.unlink(spec_path(repo, did))
    except OSError:
        pass
    if job.scheduled:
        try:
            schedule(job.ctx)  # the slot it took is free again
        except Exception:  # noqa: BLE001, S110
            pass


def summary(job: Job) -> dict[str, Any]:
    """What dispatch answers: the record, the argv, the queue and the cap."""
    out = dict(job.new)
    out["argv"] = job.argv
    out["queue"] = [str(h.record["id"]) for h in job.waiting
                    if str(h.record["id"]) not in job.started]
    if job.new["state"] == "queued":
        out["queue"].append(job.did)
    out["cap"] = job.cap
    return out
