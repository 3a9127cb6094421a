"""Running one agent to its end: its own process group, a log, a timeout, no leftovers.

:class:`AgentRun` is the process half of a dispatch's supervisor (the bookkeeping half, which
writes the dispatch record, lives in ``flowergit.ops.dispatch.supervise``). The agent gets a closed stdin,
its own session and process group, and stdout+stderr appended to the log file. The supervisor
makes itself a child subreaper, so descendants that leave the agent's group and lose their
parent are re-parented to it and cleaned up when the agent ends: an agent never leaves
processes behind. With ``tmux`` the agent runs in a detached tmux session on a private socket
instead, behind a pty that copies everything it prints into the same log; its screen is then
read every few tenths of a second (:mod:`flowergit.procs.waiting`) to tell when it waits at a
prompt (``on_waiting``) and to type the profile's ``answers``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from flowergit.procs import identity
from flowergit.procs.spawn import log_line, spawn_detached

# tmux is imported for tmux runs only, and psutil (procs.groups) once the agent runs (see
# `_groups`): a supervisor starting its agent loads neither.

__all__ = ["AgentRun", "become_subreaper", "exit_code", "log_line", "on_signals",
           "reap_orphans", "spawn_detached"]

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Orphaned descendants are re-parented to this process (Linux); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def exit_code(returncode: int) -> tuple[int, str | None]:
    """Shell convention: a death by signal N is 128 + N, with the signal's name."""
    if returncode >= 0:
        return returncode, None
    sig = -returncode
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"SIG{sig}"
    return 128 + sig, name


class AgentRun:
    """One agent to run: its argv, working directory, environment, log and timeout; with
    ``tmux_socket`` set (and ``tmux_session``, ``exit_file``) it runs inside tmux, where
    ``prompts``, ``answers`` and ``silence`` tell when it waits for input (see
    :class:`flowergit.procs.waiting.Watcher`) and ``on_waiting(prompt)`` hears of each change
    (None: no longer waiting)."""

    def __init__(self, argv: Sequence[str], cwd: str, env: Mapping[str, str], log: str,
                 timeout: float | None = None) -> None:
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.log = log
        self.timeout = timeout
        self.tmux_socket: str | None = None  # run inside tmux on this private socket
        self.tmux_session = ""
        self.exit_file = ""
        self.pid: int | None = None
        self.timed_out = False
        self.stopped = False
        self.prompts: Sequence[str] = ()
        self.answers: Sequence[tuple[str, Sequence[str]]] = ()
        self.silence: float | None = None  # None: waiting.SILENCE; 0: no guessing from silence
        self.on_waiting: Callable[[str | None], None] | None = None
        self.screen_poll = 0.4  # seconds between two looks at a tmux pane
        self.waiting: str | None = None  # the prompt it waits at, as last reported
        self._proc: subprocess.Popen[bytes] | None = None

    # -- start -----------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Start the agent; returns {pid, pgid, proc} (proc = identity), or raises OSError."""
        if self.tmux_socket:
            self.pid = self._start_tmux()
        else:
            with open(self.log, "ab") as logf:
                self._proc = subprocess.Popen(
                    list(self.argv), cwd=self.cwd, env=dict(self.env), stdin=subprocess.DEVNULL,
                    stdout=logf, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
            self.pid = self._proc.pid
        return {"pid": self.pid, "pgid": self.pid, "proc": identity.of(self.pid)}

    def _start_tmux(self) -> int:
        from flowergit.procs import tmux

        assert self.tmux_socket
        inner = [sys.executable, "-m", "flowergit.procs.ttyrun", self.log, self.exit_file, "--",
                 *self.argv]
        tmux.new_session(self.tmux_socket, self.tmux_session, self.cwd, inner, self.env)
        return tmux.pane_pid(self.tmux_socket, self.tmux_session)

    # -- wait ------------------------------------------------------------------------------
    def wait(self, poll: float = 0.2) -> tuple[int | None, str | None]:
        """Wait for the agent to end (killing it at the timeout); returns (exit_code, signal)."""
        groups = _groups()
        assert self.pid is not None
        deadline = time.monotonic() + self.timeout if self.timeout else None
        code: int | None
        sig: str | None
        if self._proc is not None:
            while True:
                try:
                    rc = self._proc.wait(timeout=poll if deadline is None else
                                         max(0.0, min(poll * 10, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    if deadline is not None and time.monotonic() >= deadline:
                        self.timed_out = True
                        self._end()
                except InterruptedError:
                    continue
            code, sig = exit_code(rc)
        else:
            ident = identity.of(self.pid)
            watcher = self._watcher()
            next_look = time.monotonic()
            while identity.is_alive(ident):
                if deadline is not None and time.monotonic() >= deadline and not self.timed_out:
                    self.timed_out = True
                    groups.kill_tree(self.pid)
                if time.monotonic() >= next_look:
                    self._look(watcher)
                    next_look = time.monotonic() + self.screen_poll
                time.sleep(poll)
            self._report(None)
            code, sig = self._tmux_exit()
        self.cleanup()
        return code, sig

    # -- waiting at a prompt (tmux) ----------------------------------------------------------
    def _watcher(self) -> Any:
        from flowergit.procs import waiting

        return waiting.Watcher(self.prompts, self.answers,
                               waiting.SILENCE if self.silence is None else self.silence)

    def _look(self, watcher: Any) -> None:
        """One look at the pane: type an answer, or report a change of waiting."""
        from flowergit.errors import FlowerError
        from flowergit.procs import tmux, waiting

        assert self.tmux_socket
        try:
            got = tmux.screen(self.tmux_socket, self.tmux_session)
        except FlowerError:
            got = None
        if got is None:
            return
        lines, top, cursor = got
        answer = watcher.see(waiting.Screen(tuple(lines), top, cursor), time.monotonic())
        if answer is not None:
            prompt, keys = answer
            try:
                tmux.send(self.tmux_socket, self.tmux_session, keys=keys)
            except FlowerError as e:
                log_line(self.log, f"could not answer {prompt!r}: {e.message}")
            else:
                log_line(self.log, f'answered "{prompt}" with {" ".join(keys)}')
        self._report(watcher.waiting)

    def _report(self, prompt: str | None) -> None:
        if prompt == self.waiting:
            return
        self.waiting = prompt
        if self.on_waiting is not None:
            from flowergit.errors import FlowerError

            try:
                self.on_waiting(prompt)
            except (FlowerError, OSError) as e:
                why = e.message if isinstance(e, FlowerError) else str(e)
                log_line(self.log, f"could not record the wait at a prompt: {why}")

    def _tmux_exit(self, settle: float = 3.0) -> tuple[int | None, str | None]:
        """The agent's exit code and signal as ttyrun wrote them. The pane's process can be seen
        gone a moment before ttyrun's file is in place (a loaded machine): it is waited for,
        ``settle`` seconds at most, before the code is called unknown."""
        deadline = time.monotonic() + settle
        while not os.path.exists(self.exit_file) and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            with open(self.exit_file) as f:
                text = f.read().strip()
            os.unlink(self.exit_file)
        except OSError:
            return None, None
        parts = text.split()
        if not parts or not parts[0].lstrip("-").isdigit():
            return None, None
        return int(parts[0]), (parts[1] if len(parts) > 1 else None)

    def cleanup(self, grace: float = 2.0) -> int:
        """End whatever the agent left running: its group, then re-parented orphans."""
        groups = _groups()
        left = 0
        if self.pid is not None and groups.group_alive(self.pid):
            left += 1
            groups.kill_tree(self.pid, grace=grace)
        left += reap_orphans(grace)
        if self.tmux_socket:
            from flowergit.procs import tmux

            tmux.kill_server(self.tmux_socket)
        return left

    def terminate(self) -> None:
        """End the agent now (the supervisor was asked to stop)."""
        self.stopped = True
        if self.pid is not None:
            self._end()

    def _end(self, grace: float = 3.0) -> None:
        """SIGTERM the agent's group, SIGKILL it after ``grace``; the leader is reaped by its
        Popen (so its real exit status is kept), then whatever else is left is killed."""
        groups = _groups()
        assert self.pid is not None
        if self._proc is None:
            groups.kill_tree(self.pid, grace=grace)
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self._proc.wait(timeout=grace if sig == signal.SIGTERM else 5.0)
                break
            except subprocess.TimeoutExpired:
                continue
        if groups.group_alive(self.pid):
            groups.kill_tree(self.pid, grace=1.0)


def _groups() -> Any:
    """:mod:`flowergit.procs.groups` (psutil), imported with the stop signals held back: `stop`
    reaches the supervisor as a signal whose handler needs this module, and must not find it
    half-imported. The signals are delivered (and handled) right after."""
    mod = sys.modules.get("flowergit.procs.groups")
    if mod is not None:
        return mod
    held = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held) if hasattr(signal, "pthread_sigmask") else None
    try:
        from flowergit.procs import groups
    finally:
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return groups


def reap_orphans(grace: float = 2.0) -> int:
    """Terminate the descendants this (subreaper) process still has; returns how many."""
    import psutil  # type: ignore[import-untyped,unused-ignore]

    try:
        kids = psutil.Process().children(recursive=True)
    except psutil.Error:
        return 0
    if not kids:
        return 0
    for p in kids:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(kids, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=2)
    return len(kids)


def on_signals(handler: Callable[[], None]) -> None:
    """Run ``handler`` on SIGTERM, SIGHUP and SIGINT (the agent is then ended, not orphaned)."""
    def _h(signum: int, frame: object) -> None:
        handler()

    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, _h)
