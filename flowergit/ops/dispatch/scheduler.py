"""The per-machine scheduler: at most ``max_parallel`` agents run on this machine, queued
dispatches start oldest-first as slots free up, each with a supervisor of its own.

Every start on this machine happens under the scheduler lock (``flock($common/flower/
sched.lock)``), from the census of running agents to the record that names the new supervisor,
so the census stays true. A supervisor is spawned first and named in the record after (it does
nothing until it is named); one whose record could not be written is killed again.
"""

from __future__ import annotations

import os
import sys
import time

from flowergit.errors import Retry
from flowergit.gitio import refs
from flowergit.ops.dispatch.liveness import view_state
from flowergit.ops.dispatch.paths import dispatch_cache, log_file, now_iso, ready_path, spec_path
from flowergit.procs.locks import exclusive
from flowergit.state import records
from flowergit.state.dispatches import DispatchStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from flowergit.gitio.repo import Repo
    from flowergit.ops.context import Ctx
    from flowergit.state.schema import Identity

LOCK_WAIT = 60.0


def sched_lock(repo: Repo, wait: float = LOCK_WAIT) -> exclusive:
    """The per-machine scheduler lock, held (``with sched_lock(repo):``, or until its
    ``release()``): check-then-start is atomic on this machine."""
    return exclusive(repo.state_path("sched.lock"), wait=wait,
                     busy=lambda: Retry("the dispatch scheduler lock is busy",
                                        "another git flower is starting agents; retry"))


def supervisor_args(did: str, ready: str | None = None,
                    dispatcher: Identity | None = None) -> list[str]:
    """The supervisor's arguments (``python -m flowergit.ops.dispatch.supervise ARGS``, or
    ``supervise.main(ARGS)`` in a fork). With ``ready`` and the ``dispatcher``'s identity it
    waits for that file (or that process's end) before it loads anything: its dispatcher is
    still checking the worktree out."""
    args = [did]
    if ready and dispatcher:
        args += [ready, f"{dispatcher.get('pid')}:{dispatcher.get('start')}"
                 + (f":{dispatcher['ticks']}" if "ticks" in dispatcher else "")]
    return args


def supervisor_env() -> dict[str, str]:
    """The supervisor's environment: the agent's base (no git per-repository variables, no
    other agent's FLOWER_*), keeping the test switches that reach flower's own processes."""
    from flowergit.procs import agents

    keep = {k: os.environ[k] for k in ("FLOWER_FAILPOINTS",) if k in os.environ}
    return agents.agent_env(os.environ, keep)


def spawn_supervisor(repo: Repo, did: str, dispatcher: Identity | None = None,
                     fork: Callable[[list[str], dict[str, str]], int] | None = None,
                     ) -> tuple[int, Identity]:
    """Start dispatch ``did``'s supervisor, detached; (pid, identity). It does nothing until a
    record names it as the supervisor and the worktree is ready; with the ``dispatcher`` (still
    making that worktree) named, it waits for the ready mark before it even loads its code.
    ``fork``: the dispatcher is a command that ends once it has dispatched, so the supervisor
    can be a copy of it (where it has one thread only) running ``fork(args, env)``: the
    supervisor's ``main``, which the dispatcher hands in (this module does not import the
    supervisor, which imports it)."""
    from flowergit.procs import identity, spawn

    args = supervisor_args(did, ready_path(repo, did), dispatcher)
    if dispatcher is not None and fork is not None and spawn.can_fork():
        # a copy of this process, which has loaded what the supervisor needs: no interpreter
        # to start, no code to load, while the worktree is being checked out next to it
        env = supervisor_env()
        main = fork

        def child() -> int:
            return main(args, env)

        pid = spawn.fork_detached(child, cwd=repo.common_dir, log=log_file(repo, did))
    else:
        pid = spawn.spawn_detached([sys.executable, "-m", "flowergit.ops.dispatch.supervise",
                                    *args], cwd=repo.common_dir, env=supervisor_env(),
                                   log=log_file(repo, did))
    ident = identity.of(pid) or {"host": identity.host(), "boot_id": identity.boot_id(),
                                 "pid": pid, "start": 0}
    return pid, ident


def dispatcher_identity() -> Identity | None:
    """This process's identity (a record's ``by_proc``: the dispatcher its supervisor watches)."""
    from flowergit.procs import identity

    return identity.of(os.getpid())


def kill(pid: int) -> None:
    """Kill a supervisor no record names (nothing else would stop it)."""
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def running(rec: Mapping[str, Any], ident: Identity) -> dict[str, Any]:
    """``rec`` as ``running``, under the supervisor ``ident``."""
    new = dict(rec)
    new.update(state="running", started_at=now_iso(), supervisor=ident, pid=None, pgid=None,
               proc=None)
    return new


def start_queued(ctx: Ctx, head: records.Head) -> dict[str, Any] | None:
    """Start one queued dispatch: spawn its supervisor, then CAS the record to ``running``
    naming that supervisor (it waits for that before it starts the agent)."""
    repo = ctx.repo
    rec = head.record
    did = str(rec["id"])
    if not os.path.exists(spec_path(repo, did)):
        return None  # claimed on another machine: only that machine can start it
    pid, ident = spawn_supervisor(repo, did)
    new = running(rec, ident)
    try:
        records.append(repo, head, new, f"dispatch {did}: running")
        return new
    except refs.CasLost:
        kill(pid)
        return None


def census(heads: list[records.Head], now: float) -> tuple[int, list[records.Head]]:
    """(agents running on this machine, queued dispatches oldest first). The cap is per
    machine: agents elsewhere do not count."""
    from flowergit.procs import identity

    host = identity.host()
    count = 0
    waiting: list[records.Head] = []
    for h in heads:
        st = view_state(h.record, now)
        if st in ("running", "waiting") and (h.record.get("supervisor") or {}).get("host", host) == host:
            count += 1
        elif st == "queued":
            waiting.append(h)
    waiting.sort(key=queue_order)
    return count, waiting


def queue_order(h: records.Head) -> tuple[int, str]:
    return int(h.record.get("queued_ns") or 0), str(h.record.get("id"))


def all_dispatches(repo: Repo, known: tuple[records.Head, ...] = ()) -> list[records.Head]:
    """Every dispatch record, read through the local content-addressed cache; ``known`` are
    records this process wrote itself (their commits need no read)."""
    return DispatchStore(repo).all_cached(dispatch_cache(repo), known)


def schedule(ctx: Ctx, mine: tuple[int, int] | None = None,
             known: tuple[records.Head, ...] = ()) -> dict[str, Any]:
    """One scheduler step. ``mine`` is a dispatch this process just prepared (``preparing``, as
    :func:`~flowergit.ops.dispatch.resume.resume_dispatch` leaves it): it joins the queue (and
    starts now if a slot is free and nothing older waits). ``known``: records this process just
    wrote (the cache learns them without reading them back)."""
    repo = ctx.repo
    cap = int(ctx.config.get("flower", "max_parallel"))
    started: list[str] = []
    started_recs: dict[str, dict[str, Any]] = {}
    with sched_lock(repo):
        heads = all_dispatches(repo, known)
        count, waiting = census(heads, time.time())
        mine_head = next((h for h in heads if mine and h.record.get("state") == "preparing"
                          and (h.record.get("brief"), h.record.get("attempt")) == mine), None)
        if mine_head is not None:
            waiting.append(mine_head)
            waiting.sort(key=queue_order)
        for h in waiting:
            if count >= cap:
                break
            got = start_queued(ctx, h)
            if got is not None:
                count += 1
                started.append(str(h.record["id"]))
                started_recs[str(h.record["id"])] = got
        mine_rec: dict[str, Any] | None = None
        if mine_head is not None and str(mine_head.record["id"]) not in started:
            mine_rec = dict(mine_head.record)
            mine_rec["state"] = "queued"
            records.append(repo, mine_head, mine_rec, f"dispatch {mine_rec['id']}: queued")
        elif mine_head is not None:
            mine_rec = started_recs.get(str(mine_head.record["id"]))
        queue = [str(h.record["id"]) for h in waiting if str(h.record["id"]) not in started]
    return {"started": started, "running": count, "cap": cap, "queue": queue, "mine": mine_rec}
