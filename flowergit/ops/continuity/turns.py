"""One turn of a driven orchestrator: its packet on disk, the agent's headless run, what it cost.

A turn runs the profile's ``command`` (a fresh session) or, when the profile has a ``resume``
mode and the agent reported a session id, its ``resume`` command (the same session, with only
the turn's news as the new prompt). Either way the argv carries only the bootstrap line; the
packet is a file under ``$GIT_COMMON_DIR/flower/packets/``. The agent runs in its own process
group with a closed stdin; its output goes to ``logs/daemon-<id>.turn.log`` (read for the
turn's transcript: session id, tokens, context fill) and is appended to ``logs/daemon-<id>.log``.

While the agent runs, ``idle`` is called about every 0.1 s: the driver beats and ticks there,
so a long turn never lets the lease lapse or the mechanical work wait.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from flowergit.errors import UsageError
from flowergit.ops.context import Ctx
from flowergit.procs import agents
from flowergit.procs.agents import Profile


def profile_for(ctx: Ctx, agent: str) -> Any:
    from flowergit.procs import agents
    from flowergit.state.ids import name as check_name

    profile = agents.resolve(check_name(agent, "agent"), ctx.config.agents)
    if profile.name == "script" and profile.builtin:
        raise UsageError("the built-in script agent runs a brief's steps and cannot orchestrate",
                         "name an agent profile: claude, codex, or one of [agents.NAME] in "
                         ".flower.toml")
    if not profile.builtin:
        from flowergit.ops.setup import trust

        trust.require(ctx, f"agent command [agents.{agent}]")
    import shutil

    prog = profile.command[0]
    if shutil.which(prog) is None:
        raise UsageError(f"agent {profile.name!r}: {prog} not found on PATH"
                         + (" or not executable" if os.sep in prog else ""),
                         f"install it, or fix [agents.{profile.name}] command in .flower.toml")
    return profile


def packet_path(ctx: Ctx, did: str, n: int) -> str:
    return ctx.repo.state_path("packets", f"daemon-{did}-turn-{n}.md")


def log_paths(ctx: Ctx, did: str) -> tuple[str, str]:
    """(this turn's log, the daemon's whole log)."""
    return (ctx.repo.state_path("logs", f"daemon-{did}.turn.log"),
            ctx.repo.state_path("logs", f"daemon-{did}.log"))


def argv_for(profile: Profile, packet: str, cwd: str, session: str | None,
             gitdir: str | None = None) -> list[str]:
    values = {"{bootstrap}": agents.bootstrap_line(packet), "{packet}": packet, "{brief}": "0",
              "{worktree}": cwd}
    if session and profile.resume:
        argv = agents.render_argv(profile.resume, {**values, "{session}": session})
    else:
        argv = agents.render_argv(profile.command, values)
    return with_git_dir(profile, argv, gitdir)


def with_git_dir(profile: Profile, argv: list[str], gitdir: str | None) -> list[str]:
    """An orchestrator writes refs with every `git flower` command it runs. Codex's
    ``workspace-write`` sandbox keeps git's data read-only (what a worker needs: git flower
    commits for it), so an orchestrating Codex gets the repository's git directory as one
    more writable root (``--add-dir``), and nothing else."""
    if gitdir is None or profile.transcript != "codex" or "workspace-write" not in argv \
            or "exec" not in argv or "--add-dir" in argv:
        return argv
    at = argv.index("exec") + 1
    return [*argv[:at], "--add-dir", gitdir, *argv[at:]]


def run(ctx: Ctx, *, profile: Profile, did: str, lane: str, role: str, n: int, text: str,
        session: str | None, cwd: str, timeout: float, idle: Callable[[], None],
        stopping: Callable[[], bool], on_start: Callable[[int], None] | None = None
        ) -> dict[str, Any]:
    """Run one turn to its end (or to ``timeout`` seconds, or until ``stopping()``)."""
    from flowergit.ops.dispatch.paths import write_file
    from flowergit.procs import transcript
    from flowergit.procs.groups import kill_tree

    exe = agents.flower_executable()
    packet = packet_path(ctx, did, n)
    os.makedirs(os.path.dirname(packet), exist_ok=True)
    write_file(packet, text.rstrip() + "\n\n---\n`git flower` is " + exe + " (also in "
               "`$FLOWER_BIN`: use that where a login shell resets PATH and `git flower` is not "
               "found).\n")
    argv = argv_for(profile, packet, cwd, session, ctx.repo.common_dir)
    turn_log, whole_log = log_paths(ctx, did)
    os.makedirs(os.path.dirname(turn_log), exist_ok=True)
    env = agents.agent_env(os.environ, {**dict(profile.env), "FLOWER_DAEMON": did,
                                        "FLOWER_PACKET": packet, "FLOWER_ROLE": role,
                                        "FLOWER_LANE": lane, "FLOWER_BIN": exe},
                           profile.pass_env)
    bindir = os.path.dirname(exe)
    if bindir and bindir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = bindir + (os.pathsep + env["PATH"] if env.get("PATH") else "")
    started = time.monotonic()
    with open(turn_log, "wb") as out:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            raise UsageError(f"cannot start agent {profile.name!r} ({argv[0]}): {e.strerror or e}",
                             f"check [agents.{profile.name}] command, and that {argv[0]} is on "
                             "PATH") from None
        if on_start is not None:
            on_start(proc.pid)
        timed_out = stopped = False
        while proc.poll() is None:
            if stopping():
                stopped = True
            elif time.monotonic() - started > timeout:
                timed_out = True
            if stopped or timed_out:
                kill_tree(proc.pid, grace=3.0)
                proc.wait()
                break
            idle()
            try:
                proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
    code = proc.returncode
    _append(turn_log, whole_log, f"[git flower] daemon {did}: turn {n} "
                                 f"({'resumed' if session and profile.resume else 'new'} session)")
    summary = transcript.summarize(turn_log, profile.transcript, profile.price,
                                   transcript.model_from_argv(argv)) if profile.transcript else None
    return {"n": n, "packet": packet, "argv_bytes": len(" ".join(argv).encode()),
            "exit_code": code if code is not None and code >= 0 else None,
            "signal": -code if code is not None and code < 0 else None,
            "timed_out": timed_out, "stopped": stopped,
            "seconds": round(time.monotonic() - started, 3),
            "session": (summary or {}).get("session") or (session if profile.resume else None),
            "context_tokens": (summary or {}).get("context_tokens"),
            "usage": summary, "last_message": (summary or {}).get("last_message")}


def _append(turn_log: str, whole_log: str, header: str) -> None:
    """The turn's output, after a header line, at the end of the daemon's log."""
    try:
        with open(whole_log, "ab") as dst, open(turn_log, "rb") as src:
            dst.write(header.encode() + b"\n")
            while chunk := src.read(1 << 16):
                dst.write(chunk)
    except OSError:
        pass


def ended(turn: dict[str, Any]) -> str:
    """How a turn ended, in words."""
    if turn.get("stopped"):
        return "stopped"
    if turn.get("timed_out"):
        return f"timed out after {turn.get('seconds')}s and was ended"
    if turn.get("signal"):
        return f"killed by signal {turn['signal']}"
    if turn.get("exit_code") not in (0, None):
        return f"exit {turn['exit_code']}"
    return "ended"
