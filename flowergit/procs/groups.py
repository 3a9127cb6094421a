"""Process groups and whole-tree termination (psutil).

``group_alive`` tells whether a process group still has a live member; ``kill_tree`` ends a
process group and every descendant that left it. Which process is which (host + boot id + pid +
start time): :mod:`flowergit.procs.identity`.
"""

from __future__ import annotations

import os
import signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    import psutil


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a group made only of zombies is over for our purposes
    import psutil  # loaded by the calls that need it: ~25 ms a process otherwise

    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                return True
        except (psutil.NoSuchProcess, ProcessLookupError, PermissionError):
            continue
    return False


def _descendants(pid: int) -> list[psutil.Process]:
    import psutil  # loaded by the calls that need it: ~25 ms a process otherwise

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except (psutil.NoSuchProcess, ProcessLookupError):
        return []


def _group_members(pgid: int) -> list[psutil.Process]:
    import psutil  # loaded by the calls that need it: ~25 ms a process otherwise

    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid:
                out.append(p)
        except (psutil.NoSuchProcess, ProcessLookupError, PermissionError):
            continue
    return out


def kill_tree(pid: int, *, grace: float = 3.0) -> None:
    """SIGTERM the process group ``pid`` leads (and every descendant, even ones that called
    setsid), wait ``grace`` seconds, then SIGKILL whatever is left."""
    import psutil  # loaded by the calls that need it: ~25 ms a process otherwise

    procs: dict[int, psutil.Process] = {}
    for p in [*_group_members(pid), *_descendants(pid)]:
        procs[p.pid] = p
    for p in list(procs.values()):
        for c in _descendants(p.pid):
            procs.setdefault(c.pid, c)
    try:
        procs.setdefault(pid, psutil.Process(pid))
    except (psutil.NoSuchProcess, ProcessLookupError):
        pass
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    for p in procs.values():
        try:
            p.send_signal(signal.SIGTERM)
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
    alive = _wait_gone(list(procs.values()), grace)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in alive:
        try:
            p.kill()
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
    _wait_gone(alive, 2)


def _running(p: psutil.Process) -> bool:
    import psutil  # loaded by the calls that need it: ~25 ms a process otherwise

    try:
        return bool(p.is_running() and p.status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, ProcessLookupError):
        return False


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has ended (a zombie counts as ended). Unlike
    ``psutil.wait_procs`` this never reaps: the caller's own children keep their exit status
    for the caller's ``Popen.wait``."""

    import time

    deadline = time.monotonic() + timeout
    alive = [p for p in procs if _running(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if _running(p)]
    return alive
