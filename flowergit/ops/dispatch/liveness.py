"""Whether a dispatch's processes still live, and the state to show for it.

Kept apart from :mod:`flowergit.ops.dispatch` so that `status`, `ps` and the supervisor judge
liveness without importing what starting a dispatch needs.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLAIM_GRACE = 120.0  # seconds a `preparing` claim may take before its dispatcher is presumed dead


_FROMISO: list[Any] = []  # datetime.fromisoformat, found once (a listing parses 2,000 times)


def parse_iso(text: str | None) -> float | None:
    """Seconds since the epoch of an ISO 8601 time as records hold them, or None."""
    if not text:
        return None
    if not _FROMISO:
        from flowergit.state.tomlcodec import datetime_module

        _FROMISO.append(datetime_module().datetime.fromisoformat)
    try:
        return float(_FROMISO[0](text).timestamp())
    except (ValueError, TypeError):
        return None


def is_local(ident: dict[str, Any] | None) -> bool:
    """An identity of this machine, this boot."""
    from flowergit.procs import identity

    if not ident:
        return False
    return bool(ident.get("host") == identity.host() and ident.get("boot_id") == identity.boot_id())


def machine_of(rec: dict[str, Any]) -> str | None:
    """The host an attempt runs (or ran) on: its supervisor's, else its dispatcher's."""
    for key in ("supervisor", "by_proc"):
        ident = rec.get(key)
        if isinstance(ident, dict) and isinstance(ident.get("host"), str) and ident["host"]:
            return str(ident["host"])
    return None


def elsewhere(rec: dict[str, Any]) -> str | None:
    """The other host an attempt runs on, or None when it is this machine's (or unknown)."""
    from flowergit.procs import identity

    host = machine_of(rec)
    return host if host and host != identity.host() else None


def alive(ident: dict[str, Any] | None) -> bool | None:
    """True/False for a process of this machine (a reboot ends them all); None for another host."""
    if not ident:
        return False
    from flowergit.procs import identity

    got = identity.is_alive(ident)
    if got is None and ident.get("host") == identity.host():
        return False  # same host, another boot: the machine rebooted since
    return got


# the states `view_state` shows for a dispatch whose agent is yet to end: `waiting` is a running
# agent that waits at a prompt in its terminal (the record says `running`, with `waiting`)
LIVE_STATES = ("preparing", "queued", "running", "waiting")


def view_state(rec: dict[str, Any], now: float | None = None) -> str:
    """The state to show: the record's, except that a live state whose processes are provably
    gone shows as ``lost``, and a running agent that waits at a prompt as ``waiting``."""
    state = str(rec.get("state", ""))
    if state == "running":
        sup = alive(rec.get("supervisor"))
        if sup is False and alive(rec.get("proc")) is not True:
            return "lost"
        if rec.get("waiting"):
            return "waiting"
    elif state == "preparing":
        by = rec.get("by_proc")
        if by and alive(by) is False:
            return "lost"
        started = rec.get("queued_ns")
        if not by and started and (now or time.time()) - int(started) / 1e9 > CLAIM_GRACE:
            return "lost"
    return state
