"""The supervisor of one dispatch: ``python -m flowergit.ops.supervise N.k``.

Started detached (its own session, stdio on the dispatch log) by a scheduler step, so the agent
outlives the shell that dispatched it. It waits until the dispatch record names it as the
supervisor, starts the agent (:class:`flowergit.procs.supervisor.AgentRun`), records the agent's
pid, group and identity; when the agent ends it records ``exit_code``, ``ended_at`` and state
``exited`` (``stopped`` stays ``stopped``), marks the brief ``done`` on exit 0 (forward only; a
failure leaves it ``dispatched`` for rework), emits a ``dispatch_done`` signal, and runs a
scheduler step so that queued dispatches start by themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Any

from flowergit import failpoints
from flowergit.errors import FlowerError
from flowergit.ops.context import Ctx
from flowergit.ops.dispatch import now_iso, read_ready, schedule, spec_path
from flowergit.ops.liveness import alive
from flowergit.procs import agents
from flowergit.procs.supervisor import AgentRun, become_subreaper, log_line, on_signals
from flowergit.state.dispatches import DispatchStore
from flowergit.state.ids import dispatch_id

CLAIM_WAIT = 60.0


def _wait_until_named(store: DispatchStore, brief: int, attempt: int) -> dict[str, Any] | None:
    """The record once it says ``running`` with this process as supervisor; None if it never
    does (the scheduler lost its compare-and-swap and this supervisor is not wanted)."""
    me = os.getpid()
    deadline = time.monotonic() + CLAIM_WAIT
    delay = 0.01
    while time.monotonic() < deadline:
        head = store.get(brief, attempt)
        if head is not None:
            rec = head.record
            sup = rec.get("supervisor") or {}
            if rec.get("state") == "running" and sup.get("pid") == me:
                return dict(rec)
            if rec.get("state") not in ("preparing", "queued") and sup.get("pid") != me:
                return None
        time.sleep(delay)
        delay = min(0.2, delay * 2)
    return None


def _wait_until_ready(repo: Any, rec: dict[str, Any], did: str) -> tuple[bool, str]:
    """Wait for the dispatcher to say the worktree is ready (it may still be checking it out
    when this supervisor starts). (False, why) if it failed or its dispatcher died first."""
    delay = 0.005
    while True:
        got = read_ready(repo, did)
        if got is not None:
            return got
        if alive(rec.get("by_proc")) is False:
            got = read_ready(repo, did)  # it may have written just before it exited
            return got if got is not None else (
                False, "the dispatcher was interrupted before the worktree was ready")
        time.sleep(delay)
        delay = min(0.1, delay * 1.5)


def supervise(did: str) -> int:
    brief, attempt = dispatch_id(did)
    ctx = Ctx()
    repo = ctx.repo
    store = DispatchStore(repo)
    rec = _wait_until_named(store, brief, attempt)
    if rec is None:
        return 0
    ready, why = _wait_until_ready(repo, rec, did)
    if not ready:
        if why.startswith("the dispatcher was interrupted"):
            # nobody else will record it: close the attempt and free its slot
            stamp = now_iso()
            store.update(brief, attempt, lambda r: {**r, "state": "failed", "error": why,
                                                    "ended_at": stamp}
                         if r.get("state") == "running" else None, "failed (interrupted)")
            schedule(ctx)
        return 0  # a failed dispatch is recorded by its dispatcher
    with open(spec_path(repo, did), encoding="utf-8") as f:
        spec = json.load(f)
    log = str(spec["log"])
    worktree = str(spec["worktree"])
    extra = {"FLOWER_PACKET": str(spec["packet"]), "FLOWER_BRIEF": str(brief),
             "FLOWER_DISPATCH": did, "FLOWER_WORKTREE": worktree}
    if spec.get("daemon"):
        extra["FLOWER_DAEMON"] = str(spec["daemon"])
    env = agents.agent_env(os.environ, {**spec.get("env", {}), **extra})
    run = AgentRun(argv=list(spec["argv"]), cwd=worktree, env=env, log=log,
                   timeout=spec.get("timeout"))
    if spec.get("tmux"):
        from flowergit.procs import tmux

        run.tmux_socket = tmux.socket_path(repo.state_dir, did)
        run.tmux_session = f"flower-{brief}-{attempt}"
        run.exit_file = os.path.join(repo.state_path("run"), f"{did}.exit")
        with contextlib.suppress(OSError):
            os.unlink(run.exit_file)
    become_subreaper()
    on_signals(run.terminate)
    failpoints.hit("supervisor_before_agent")
    code: int | None
    sig: str | None = None
    error: str | None = None
    now = store.get(brief, attempt)
    if now is None or now.record.get("state") != "running":
        code, error = None, "stopped before the agent started"
        log_line(log, f"dispatch {did}: {error}")
    elif not os.path.isdir(worktree):
        code, error = 127, f"the worktree {worktree} is missing"
        log_line(log, error)
    else:
        log_line(log, f"dispatch {did}: starting {spec['argv'][0]} in {worktree}")
        try:
            info = run.start()
        except (OSError, FlowerError) as e:
            msg = e.message if isinstance(e, FlowerError) else (e.strerror or str(e))
            code, error = (127 if isinstance(e, FileNotFoundError) else 126), \
                f"cannot start the agent {spec['argv'][0]!r}: {msg}"
            log_line(log, error)
        else:
            extra_rec = {"pid": info["pid"], "pgid": info["pgid"], "proc": info["proc"],
                         "agent_started_at": now_iso()}
            if run.tmux_socket:
                extra_rec.update(tmux_socket=run.tmux_socket, tmux_session=run.tmux_session)

            def started(r: dict[str, Any]) -> dict[str, Any]:
                return {**r, **extra_rec}

            store.update(brief, attempt, started, "agent started")
            failpoints.hit("supervisor_after_start")
            code, sig = run.wait()
            if run.timed_out:
                error = f"timed out after {spec.get('timeout')}s; the agent was killed"
            log_line(log, f"dispatch {did}: agent exited with {code}"
                     + (f" ({sig})" if sig else "") + (f"; {error}" if error else ""))
    finish(ctx, brief, attempt, code, sig, error, timed_out=run.timed_out)
    return 0


def finish(ctx: Ctx, brief: int, attempt: int, code: int | None, sig: str | None,
           error: str | None, *, timed_out: bool = False) -> dict[str, Any]:
    """Record the end of the agent, mark the brief, emit the signal, start what is queued."""
    store = DispatchStore(ctx.repo)
    did = f"{brief}.{attempt}"
    ended = now_iso()

    def change(r: dict[str, Any]) -> dict[str, Any]:
        new = {**r, "exit_code": code, "signal": sig, "ended_at": ended, "timed_out": timed_out}
        if error:
            new["error"] = error
        if r.get("state") == "running":
            new["state"] = "exited"
        return new

    head = store.update(brief, attempt, change, f"exited {code}")
    rec = head.record
    failpoints.hit("supervisor_after_exit_record")
    if rec.get("state") == "exited" and code == 0 and rec.get("reported") != "failed":
        from flowergit.ops import briefs as ops_briefs

        with contextlib.suppress(FlowerError):
            ops_briefs.set_status(ctx, brief, "done", why=f"dispatch {did} exited 0")
    from flowergit.state import signals

    with contextlib.suppress(FlowerError):
        signals.emit(ctx.repo, "dispatch_done", brief=brief,
                     data={"dispatch": did, "state": rec.get("state"), "exit_code": code,
                           "branch": rec.get("branch"), "worktree": rec.get("worktree")},
                     by=f"supervisor {did}")
    with contextlib.suppress(FlowerError):
        schedule(ctx)
    return rec


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m flowergit.ops.supervise N.k\n")
        return 2
    try:
        return supervise(argv[0])
    except FlowerError as e:
        sys.stderr.write(f"[git flower] supervisor {argv[0]}: {e.message}\n")
        return int(e.exit)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
