"""The supervisor of one dispatch: ``python -m flowergit.ops.dispatch.supervise N.k``.

Started detached (its own session, stdio on the dispatch log) by a scheduler step, so the agent
outlives the shell that dispatched it. It waits until the dispatch record names it as the
supervisor, starts the agent (:class:`flowergit.procs.supervisor.AgentRun`), records the agent's
pid, group and identity; when the agent ends it records ``exit_code``, ``ended_at`` and state
``exited`` (``stopped`` stays ``stopped``), marks the brief ``done`` on exit 0 (forward only; a
failure leaves it ``dispatched`` for rework), emits a ``dispatch_done`` signal, and runs a
scheduler step so that queued dispatches start by themselves.
"""

from __future__ import annotations

import os
import sys
import time

# Everything else is imported where it is used: the supervisor starts while its dispatcher is
# still checking the worktree out, and waits for that (see `_await_ready`) before it loads more
# than this, so that it takes no CPU time from the checkout.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from flowergit.ops.context import Ctx
    from flowergit.state.dispatches import DispatchStore

CLAIM_WAIT = 60.0


def _await_ready(ready: str, dispatcher: str) -> None:
    """Wait, before importing or reading anything, until the dispatcher has said whether the
    worktree is ready (the file ``ready`` exists) or has died (``dispatcher`` is its
    ``pid:start[:ticks]``). Whatever it said is then read again by :func:`supervise`."""
    from flowergit.procs import identity  # os and sys only

    pid, _, rest = dispatcher.partition(":")
    start, _, ticks = rest.partition(":")
    try:
        ident: dict[str, Any] = {"host": identity.host(), "boot_id": identity.boot_id(),
                                 "pid": int(pid), "start": float(start)}
        if ticks:
            ident["ticks"] = int(ticks)
    except ValueError:
        return
    delay = 0.005
    while not os.path.exists(ready):
        if identity.is_alive(ident) is False:
            return
        time.sleep(delay)
        delay = min(0.05, delay * 1.5)


def _wait_until_named(store: DispatchStore, brief: int, attempt: int) -> dict[str, Any] | None:
    """The record once it says ``running`` with this process as supervisor; None if it never
    does (the scheduler lost its compare-and-swap, or its dispatcher died before naming it:
    this supervisor is not wanted)."""
    from flowergit.ops.dispatch.liveness import alive

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
            if rec.get("state") == "preparing" and alive(rec.get("by_proc")) is False:
                return None
        time.sleep(delay)
        delay = min(0.2, delay * 2)
    return None


def _wait_until_ready(repo: Any, rec: dict[str, Any], did: str) -> tuple[bool, str]:
    """Wait for the dispatcher to say the worktree is ready (it may still be checking it out
    when this supervisor starts). (False, why) if it failed or its dispatcher died first."""
    from flowergit.ops.dispatch.liveness import alive
    from flowergit.ops.dispatch.paths import read_ready

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
    import contextlib

    from flowergit import failpoints, fastjson
    from flowergit.errors import FlowerError
    from flowergit.gitio import refs
    from flowergit.ops.context import Ctx
    from flowergit.ops.dispatch.paths import dispatch_cache, now_iso, spec_path
    from flowergit.ops.dispatch.scheduler import schedule
    from flowergit.procs.supervisor import AgentRun, become_subreaper, log_line, on_signals
    from flowergit.state import records
    from flowergit.state.dispatches import DispatchStore, learn
    from flowergit.state.ids import dispatch_id

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
            store.update(brief, attempt, lambda r: {**r, "state": "failed", "outcome": "lost",
                                                    "error": why, "ended_at": stamp}
                         if r.get("state") == "running" else None, "failed (interrupted)")
            schedule(ctx)
        return 0  # a failed dispatch is recorded by its dispatcher
    with open(spec_path(repo, did), encoding="utf-8") as f:
        spec = fastjson.load(f)
    log = str(spec["log"])
    worktree = str(spec["worktree"])
    argv, env, timeout = agent_start(repo, spec, brief, did)
    run = AgentRun(argv=argv, cwd=worktree, env=env, log=log, timeout=timeout)
    if spec.get("tmux"):
        from flowergit.procs import tmux

        run.tmux_socket = tmux.socket_path(repo.state_dir, did)
        run.tmux_session = f"flower-{brief}-{attempt}"
        run.exit_file = os.path.join(repo.state_path("run"), f"{did}.exit")
        with contextlib.suppress(OSError):
            os.unlink(run.exit_file)
        # waiting at a prompt: the profile's patterns and answers; the silence before a line
        # ending in ? or : counts as a question is a personal setting (flower.waitingSilence)
        run.prompts = [str(p) for p in spec.get("prompts") or []]
        run.answers = [(str(m), [str(k) for k in keys]) for m, keys in spec.get("answers") or []]
        silence = repo.config_last("flower.waitingsilence")
        with contextlib.suppress(ValueError):
            run.silence = max(0.0, float(silence)) if silence else None

        def waiting(prompt: str | None) -> None:
            """Record the prompt the agent waits at (``ps`` shows it), or that it no longer does."""
            stamp = now_iso()
            line = prompt[:400] if prompt is not None else None

            def change(r: dict[str, Any]) -> dict[str, Any] | None:
                if r.get("state") != "running" or (r.get("waiting") or {}).get("prompt") == line:
                    return None
                new = {k: v for k, v in r.items() if k != "waiting"}
                if line is not None:
                    new["waiting"] = {"prompt": line, "since": stamp}
                return new

            head = store.update(brief, attempt, change,
                                "waiting at a prompt" if prompt else "answered")
            if line is not None and (head.record.get("waiting") or {}).get("since") == stamp:
                from flowergit.ops.notify import notify

                notify(repo, "waiting", head.record, line)

        run.on_waiting = waiting
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

            try:  # on the record just read; re-read only if it moved since
                head = records.append(repo, now, started(dict(now.record)),
                                      f"dispatch {did}: agent started")
            except refs.CasLost:
                head = store.update(brief, attempt, started, "agent started")
            learn(dispatch_cache(repo), [head])  # the next dispatch's census need not read it
            failpoints.hit("supervisor_after_start")
            code, sig = run.wait()
            if run.timed_out:
                error = f"timed out after {spec.get('timeout')}s; the agent was killed"
            log_line(log, f"dispatch {did}: agent exited with {code}"
                     + (f" ({sig})" if sig else "") + (f"; {error}" if error else ""))
    finish(ctx, brief, attempt, code, sig, error, timed_out=run.timed_out, spec=spec)
    return 0


def agent_start(repo: Any, spec: dict[str, Any], brief: int,
                did: str) -> tuple[list[str], dict[str, str], float | None]:
    """The agent's argv, environment and timeout: the start spec the dispatcher wrote, with
    this machine's own settings for the profile (``git config flower.agent.NAME.*``: the
    credentials of whoever runs it here, whatever process dispatched it) laid over it."""
    from flowergit.procs import agents

    argv = list(spec["argv"])
    timeout = spec.get("timeout")
    profile_env = dict(spec.get("env", {}))
    pass_env = spec.get("pass_env")
    name = spec.get("agent")
    if isinstance(name, str) and name:
        local = agents.local_tables(repo.config_get_all(r"^flower\.agent\."))
        mine = local.get(name, {})
        profile_env.update(mine.get("env", {}))
        if "pass_env" in mine:
            pass_env = [*(pass_env or []), *mine["pass_env"]]
        if "timeout" in mine:
            timeout = mine["timeout"]
        if "command" in mine:
            agents.check_command(name, mine["command"])
            argv = agents.render_argv(mine["command"], {
                "{bootstrap}": agents.bootstrap_line(str(spec["packet"])),
                "{packet}": str(spec["packet"]), "{brief}": str(brief),
                "{worktree}": str(spec["worktree"])})
    exe = agents.flower_executable()
    extra = {"FLOWER_PACKET": str(spec["packet"]), "FLOWER_BRIEF": str(brief),
             "FLOWER_DISPATCH": did, "FLOWER_WORKTREE": str(spec["worktree"]),
             "FLOWER_BIN": exe}
    if spec.get("daemon"):
        extra["FLOWER_DAEMON"] = str(spec["daemon"])
    env = agents.agent_env(os.environ, {**profile_env, **extra}, pass_env)
    bindir = os.path.dirname(exe)
    path = env.get("PATH", "")
    if bindir and bindir not in path.split(os.pathsep):  # `git flower` works in the agent's shell
        env["PATH"] = bindir + (os.pathsep + path if path else "")
    return argv, env, timeout


def finish(ctx: Ctx, brief: int, attempt: int, code: int | None, sig: str | None,
           error: str | None, *, timed_out: bool = False,
           spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Record the end of the agent: commit what it left uncommitted, judge the attempt's
    outcome (ops/dispatch/outcome.py), mark the brief ``done`` only for a ``done`` attempt, emit the
    ``dispatch_done`` signal, start what is queued."""
    import contextlib

    import flowergit.ops.dispatch.outcome as oc
    from flowergit import failpoints
    from flowergit.errors import FlowerError
    from flowergit.ops.dispatch.paths import last_log_line, now_iso
    from flowergit.ops.dispatch.scheduler import schedule
    from flowergit.state.dispatches import DispatchStore

    repo = ctx.repo
    store = DispatchStore(repo)
    did = f"{brief}.{attempt}"
    spec = spec or {}
    cur = store.get(brief, attempt)
    rec0 = dict(cur.record) if cur is not None else {}
    usage = _usage(spec)
    left = None
    # only the work of an agent that says it succeeded: a failed, stopped or timed-out
    # attempt keeps its worktree exactly as the agent left it (for a look, or `--resume`)
    if spec.get("commit", True) and code == 0 and not timed_out \
            and rec0.get("state") == "running" and rec0.get("reported") != "failed":
        last = (usage or {}).get("last_message") or last_log_line(spec.get("log"))
        if last.startswith("[git flower] "):
            last = ""  # the agent said nothing: the commit says what git flower saw
        left = oc.commit_leftovers(repo, rec0, code, last)
        if left is not None and spec.get("log"):
            from flowergit.procs.spawn import log_line

            log_line(str(spec["log"]), f"dispatch {did}: " + (
                f"committed {left['files']} file(s) the agent left uncommitted ({left['commit'][:12]})"
                if "commit" in left else f"left {left['files']} uncommitted file(s): {left['skipped']}"))
    work = oc.changes(repo, rec0.get("base"), rec0.get("branch"))
    ended = now_iso()

    def change(r: dict[str, Any]) -> dict[str, Any]:
        new = {**r, "exit_code": code, "signal": sig, "ended_at": ended, "timed_out": timed_out}
        if error:
            new["error"] = error
        if r.get("state") == "running":
            new["state"] = "exited"
        new["outcome"] = oc.judge(r, code, timed_out=timed_out, work=work)
        if work is not None:
            new["commits"] = work[0]
        if left is not None:
            new["autocommit"] = left
        if usage is not None:
            new["usage"] = {k: v for k, v in usage.items() if k != "last_message"}
        new.pop("waiting", None)
        return new

    head = store.update(brief, attempt, change, f"exited {code}")
    rec = head.record
    failpoints.hit("supervisor_after_exit_record")
    if rec.get("outcome") == "done":
        _mark_brief_done(ctx, brief, did, spec.get("log"))
    emit_done(ctx, brief, rec)
    from flowergit.ops.notify import notify

    notify(ctx.repo, str(rec.get("outcome") or "failed"), rec)
    with contextlib.suppress(FlowerError):
        schedule(ctx)
    return rec


def _mark_brief_done(ctx: Ctx, brief: int, did: str, log: object) -> None:
    """Mark the brief ``done`` (the store re-reads and retries a lost race); a failure is said
    in the log instead of passing in silence."""
    from flowergit.errors import FlowerError
    from flowergit.ops import briefs as ops_briefs
    from flowergit.procs.spawn import log_line

    try:
        ops_briefs.set_status(ctx, brief, "done", why=f"dispatch {did} is done")
    except FlowerError as e:
        if isinstance(log, str):
            log_line(log, f"dispatch {did}: could not mark brief {brief} done: {e.message}")


def _usage(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The transcript's summary (model, turns, tokens, cost, last message), if the profile
    names a structured output and the log holds one."""
    kind = spec.get("transcript")
    if not kind or not spec.get("log"):
        return None
    try:
        from flowergit.procs import transcript
    except ImportError:  # pragma: no cover - every install has it
        return None
    try:
        got = transcript.summarize(str(spec["log"]), str(kind), spec.get("price") or None,
                                   model=transcript.model_from_argv(list(spec.get("argv") or [])))
    except Exception:  # noqa: BLE001 - a transcript never decides an attempt's outcome
        return None
    return got if isinstance(got, dict) else None


def emit_done(ctx: Ctx, brief: int, rec: Mapping[str, Any]) -> None:
    import contextlib

    from flowergit.errors import FlowerError
    from flowergit.state import signals

    did = str(rec.get("id") or f"{brief}.{rec.get('attempt')}")
    with contextlib.suppress(FlowerError):
        signals.emit(ctx.repo, "dispatch_done", brief=brief,
                     data={"dispatch": did, "state": rec.get("state"),
                           "outcome": rec.get("outcome"), "exit_code": rec.get("exit_code"),
                           "branch": rec.get("branch"), "worktree": rec.get("worktree")},
                     by=f"supervisor {did}")


def record_lost(did: str, reason: str) -> None:
    """The supervisor of ``did`` is failing: record the attempt as ``lost`` with the reason (a
    live agent is left to end by itself: the record says so), emit its signal and free its
    slot, so that no attempt stays ``dispatched`` in silence. Best effort: it runs when
    something already went wrong."""
    from flowergit.ops.context import Ctx
    from flowergit.ops.dispatch.paths import now_iso
    from flowergit.ops.dispatch.scheduler import schedule
    from flowergit.state.dispatches import DispatchStore
    from flowergit.state.ids import dispatch_id

    brief, attempt = dispatch_id(did)
    ctx = Ctx()
    store = DispatchStore(ctx.repo)
    stamp = now_iso()

    def change(r: dict[str, Any]) -> dict[str, Any] | None:
        if (r.get("supervisor") or {}).get("pid") != os.getpid():
            return None  # not this process's attempt (it was never named its supervisor)
        if r.get("outcome") and r.get("state") not in ("running", "preparing", "queued"):
            return None  # recorded already: the failure came after the bookkeeping
        state = r.get("state")
        return {**r, "state": "stopped" if state == "stopped" else "exited", "outcome": "lost",
                "error": reason[:2000], "ended_at": r.get("ended_at") or stamp}

    head = store.update(brief, attempt, change, "lost: the supervisor failed")
    if head.record.get("outcome") == "lost":
        emit_done(ctx, brief, head.record)
    schedule(ctx)


def _name_process(did: str) -> None:
    """What ``ps`` shows for this process: ``git-flower supervise N.k``. A supervisor forked
    from ``git flower dispatch`` would otherwise go on showing the dispatch's command line for
    as long as its agent runs (and look like a dispatch that never ended)."""
    try:
        from setproctitle import setproctitle
    except ImportError:  # pragma: no cover - a dependency; the title is a courtesy
        return
    setproctitle(f"git-flower supervise {did}")


def main(argv: list[str], env: Mapping[str, str] | None = None) -> int:
    """``N.k`` (a queued dispatch started later, or a resumed one), or
    ``N.k READY PID:START[:TICKS]`` from the dispatcher that is still making the worktree: wait
    for it first. ``env``: this process is a copy of its dispatcher (ops.dispatch.scheduler),
    still in the dispatcher's environment; it takes this one, the agent's base, once it has
    named itself."""
    if len(argv) not in (1, 3):
        sys.stderr.write("usage: python -m flowergit.ops.dispatch.supervise N.k "
                         "[READY-FILE PID:START[:TICKS]]\n")
        return 2
    if len(argv) == 3:
        _await_ready(argv[1], argv[2])
    _name_process(argv[0])  # (setproctitle reads the environment block as the kernel laid it)
    if env is not None:
        from flowergit.gitio import runner

        os.environ.clear()
        os.environ.update(env)
        runner.environment_changed()
    from flowergit.errors import FlowerError

    try:
        return supervise(argv[0])
    except BaseException as e:  # noqa: BLE001 - never a silent `dispatched` forever
        if isinstance(e, FlowerError):
            reason = e.message
            sys.stderr.write(f"[git flower] supervisor {argv[0]}: {reason}\n")
        else:
            import traceback

            traceback.print_exc()
            reason = f"the supervisor failed: {type(e).__name__}: {e}"
            sys.stderr.write(f"[git flower] supervisor {argv[0]}: {reason}\n")
        try:
            record_lost(argv[0], reason)
        except BaseException as again:  # noqa: BLE001 - nothing more can be done here
            sys.stderr.write(f"[git flower] supervisor {argv[0]}: could not record the loss: "
                             f"{type(again).__name__}: {again}\n")
        sys.stderr.flush()
        return int(e.exit) if isinstance(e, FlowerError) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
