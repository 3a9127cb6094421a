"""The light half of process handling, for the hot dispatch path: starting a detached process,
a line in a dispatch log, and process identity read straight from ``/proc`` on Linux.

The identity has exactly the shape and values of :func:`flowergit.procs.groups.identity`
(host, boot id, pid, start time as psutil computes it: start ticks / CLK_TCK + btime), so either
can check the other's; elsewhere, and for anything heavier, :mod:`flowergit.procs.groups`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

_HOST: str | None = None
_BOOT: str | None = None
_BTIME: float | None = None


def host() -> str:
    global _HOST
    if _HOST is None:
        _HOST = os.uname().nodename  # what socket.gethostname() returns, without loading socket
    return _HOST


def boot_id() -> str:
    global _BOOT
    if _BOOT is None:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _BOOT = f.read().strip()
        except OSError:
            from flowergit.procs import groups

            _BOOT = groups.boot_id()
    return _BOOT


def _btime() -> float:
    global _BTIME
    if _BTIME is None:
        with open("/proc/stat", "rb") as f:
            for ln in f:
                if ln.startswith(b"btime"):
                    _BTIME = float(ln.split()[1])
                    break
            else:
                raise OSError("no btime in /proc/stat")
    return _BTIME


def _stat(pid: int) -> tuple[str, float] | None:
    """(state letter, start time) of a process from /proc, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(b")") + 2:].split()
    return rest[0].decode(), int(rest[19]) / os.sysconf("SC_CLK_TCK") + _btime()


def _linux() -> bool:
    return sys.platform.startswith("linux") and os.path.exists("/proc/self/stat")


def identity(pid: int) -> dict[str, Any] | None:
    """{"host", "boot_id", "pid", "start"} of a live process, or None if it is gone."""
    if not _linux():
        from flowergit.procs import groups

        return groups.identity(pid)
    try:
        got = _stat(pid)
    except (OSError, ValueError, IndexError):
        from flowergit.procs import groups

        return groups.identity(pid)
    if got is None:
        return None
    return {"host": host(), "boot_id": boot_id(), "pid": pid, "start": round(got[1], 2)}


def is_alive(ident: dict[str, Any] | None) -> bool | None:
    """As :func:`flowergit.procs.groups.is_alive`: None when only a lease can tell."""
    if not ident:
        return False
    if not _linux():
        from flowergit.procs import groups

        return groups.is_alive(ident)
    if ident.get("host") != host() or ident.get("boot_id") != boot_id():
        return None
    try:
        got = _stat(int(ident["pid"]))
    except (OSError, ValueError, IndexError, KeyError, TypeError):
        from flowergit.procs import groups

        return groups.is_alive(ident)
    if got is None:
        return False
    state, start = got
    if abs(start - float(ident.get("start") or 0)) > 0.05:
        return False  # the PID was reused by another process
    return state != "Z"


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


def fork_detached(child: Callable[[], int], *, cwd: str, log: str) -> int:
    """:func:`spawn_detached` for Python code of this very program: ``child()`` runs in a forked
    copy of this process (new session, stdin on /dev/null, stdout and stderr on ``log``, no other
    descriptor kept, in ``cwd``; the environment is still the caller's, for ``child`` to replace
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
        os.closerange(3, max(os.sysconf("SC_OPEN_MAX"), 256))  # locks and pipes of the caller
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
