"""Process identity: which process this is, and whether it is still the one that was started.

An identity is ``{"host", "boot_id", "pid", "start", "ticks"}``: the host name, the kernel's boot
id, the pid, the process's start time as psutil computes it (start ticks / CLK_TCK + btime, in
seconds since the epoch, rounded to 1/100 s) and, on Linux, that start in clock ticks since the
boot. A reused pid is never taken for the process that was started (its start differs), and a
record from another host or an earlier boot is never judged here at all (:func:`is_alive`
answers None: only a lease can tell).

``ticks`` is what :func:`is_alive` compares where it is known. ``start`` rests on the boot time
the kernel reports (``btime``), which is the wall clock less the time since boot: it moves
whenever the wall clock is stepped (NTP, a hypervisor's time sync), by a second or more, and a
process reads it once. A long-lived process (`git flower web`, a supervisor, a daemon) would
then name the processes it starts with a ``start`` that a process started after the step
computes differently, and take them for ended while they run. The ticks never move.

On Linux everything is read straight from ``/proc``, and psutil is not imported: its import
costs ~25 ms, paid by every hot caller (a dispatch names its supervisor, `status` and `ps`
judge every record's processes, the supervisor polls its agent, a merge names its test suite
in its journal before a kill could leave the suite unnamed). psutil answers where ``/proc``
does not (another system, or a ``/proc`` that hides other users' processes).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from flowergit.state.schema import Identity

_HOST: str | None = None
_BOOT: str | None = None
_BTIME: float | None = None


def host() -> str:
    """This machine's name: what ``socket.gethostname()`` returns, without loading socket."""
    global _HOST
    if _HOST is None:
        _HOST = os.uname().nodename
    return _HOST


def boot_id() -> str:
    """The kernel's boot id (a new one at every boot); psutil's boot time where there is none."""
    global _BOOT
    if _BOOT is None:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _BOOT = f.read().strip()
        except OSError:
            import psutil

            _BOOT = f"boot-{int(psutil.boot_time())}"
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


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start in clock ticks since the boot) of a process from /proc, or None if
    it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(b")") + 2:].split()
    return rest[0].decode(), int(rest[19])


def _seconds(ticks: int) -> float:
    """A start in ticks since the boot as seconds since the epoch (what psutil answers)."""
    return ticks / os.sysconf("SC_CLK_TCK") + _btime()


def _linux() -> bool:
    return sys.platform.startswith("linux") and os.path.exists("/proc/self/stat")


def _start_psutil(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


def of(pid: int) -> Identity | None:
    """{"host", "boot_id", "pid", "start", "ticks"} of a live process (no ``ticks`` where
    /proc cannot tell them), or None if it is gone."""
    start: float | None
    ticks: int | None = None
    if not _linux():
        start = _start_psutil(pid)
    else:
        try:
            got = _stat(pid)
            if got is not None:
                ticks = got[1]
            start = _seconds(ticks) if ticks is not None else None
        except (OSError, ValueError, IndexError):
            start = _start_psutil(pid)
    if start is None:
        return None
    ident: Identity = {"host": host(), "boot_id": boot_id(), "pid": pid, "start": round(start, 2)}
    if ticks is not None:
        ident["ticks"] = ticks
    return ident


def _alive_psutil(ident: Mapping[str, Any]) -> bool:
    import psutil

    try:
        p = psutil.Process(int(ident["pid"]))
        if abs(p.create_time() - float(ident.get("start") or 0)) > 0.05:
            return False  # the PID was reused by another process
        return bool(p.status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, ProcessLookupError):
        return False
    except psutil.AccessDenied:
        return True


def is_alive(ident: Mapping[str, Any] | None) -> bool | None:
    """True/False for a process of this host and boot (a zombie has ended); None when only a
    lease can tell (another host, or this host before its last boot)."""
    if not ident:
        return False
    if ident.get("host") != host() or ident.get("boot_id") != boot_id():
        return None
    if not _linux():
        return _alive_psutil(ident)
    try:
        got = _stat(int(ident["pid"]))
    except (OSError, ValueError, IndexError, KeyError, TypeError):
        return _alive_psutil(ident)
    if got is None:
        return False
    state, ticks = got
    known = ident.get("ticks")
    if isinstance(known, int) and not isinstance(known, bool):
        if ticks != known:
            return False  # the PID was reused by another process
    else:  # named before ticks were recorded, or by psutil: the start, as it was computed
        try:
            if abs(_seconds(ticks) - float(ident.get("start") or 0)) > 0.05:
                return False
        except (OSError, ValueError, TypeError):
            return _alive_psutil(ident)
    return state != "Z"
