"""Starting detached processes, for the hot dispatch path (os and sys only): a new program in
its own session, a forked copy of this one, and a line of git flower's own in a dispatch log.

Which process was started, and whether it still runs: :mod:`flowergit.procs.identity`; whole
process groups and trees: :mod:`flowergit.procs.groups`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence


def log_line(log: str, text: str) -> None:
    """A line of git flower's own in an agent's log (marked so it is told apart)."""
    with open(log, "ab") as f:
        f.write(("[git flower] " + text + "\n").encode("utf-8", "replace"))


def spawn_detached(argv: Sequence[str], *, cwd: str, env: Mapping[str, str], log: str) -> int:
    """Start ``argv`` in a new session with stdio on ``log``; it outlives the caller."""
    import subprocess  # here: only a start needs it

    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "ab") as logf:
        p = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
                             close_fds=True)
    p.returncode = 0  # never waited for here: it is detached (no ResourceWarning at exit)
    return p.pid


def fork_detached(child: Callable[[], int], *, cwd: str, log: str, keep: Sequence[int] = ()) -> int:
    """:func:`spawn_detached` for Python code of this very program: ``child()`` runs in a forked
    copy of this process (new session, stdin on /dev/null, stdout and stderr on ``log``, no other
    descriptor kept but those in ``keep``, in ``cwd``; the environment is still the caller's, for ``child`` to replace
    when it is ready to) and its return value is the copy's exit code; the copy never returns
    into the caller's code. The caller gets the copy's pid. No interpreter to start and no code
    to load again: the copy has it all already. Only for a process with one thread (forking one
    with more is not safe): :func:`can_fork` says."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # or the copy would hold the same unwritten output
        except (OSError, ValueError):
            pass
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        # the caller's objects stay as they are in the copy: none is collected here, so no
        # finalizer of the caller's (a pipe's, a batch process's) closes a descriptor number
        # that the copy has since given to a file of its own
        import gc

        gc.freeze()
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        low = 3  # the caller's locks and pipes go, but for ``keep`` (a lock handed over)
        for fd in sorted(k for k in keep if k >= 3):
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, max(os.sysconf("SC_OPEN_MAX"), 256))
        os.chdir(cwd)
        code = child()
    except BaseException:  # noqa: BLE001 - the copy must end here, whatever happened
        try:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def can_fork() -> bool:
    """Is :func:`fork_detached` safe here: a POSIX process running a single thread?"""
    if not hasattr(os, "fork"):
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def reap_detached() -> list[int]:
    """Collect the exit status of this process's ended children that ran in a session of their
    own (what :func:`spawn_detached` starts), so that a long-lived dispatcher (`git flower web`)
    keeps no zombies; children in this process's session are left to whoever waits for them (a
    git the runner started, say). The pids reaped."""
    me, my_sid = os.getpid(), os.getsid(0)
    reaped: list[int] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return reaped
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session …: comm may hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) < 4 or fields[0] != b"Z" or int(fields[1]) != me or int(fields[3]) == my_sid:
            continue
        try:
            if os.waitpid(int(name), os.WNOHANG)[0]:
                reaped.append(int(name))
        except ChildProcessError:
            pass
    return reaped
