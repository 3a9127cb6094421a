"""Daemons: long-lived orchestrating processes, each a record chain at ``refs/flower/daemons/<id>``.

The record (JSON, format ``v = 1``)::

    {"v": 1, "id": "7", "role": "orchestrator", "state": "active", "beat": 12,
     "host": "…", "boot_id": "…", "pid": 4242, "start": 1763700000.12, "ticks": 8581234,
     "started_at": "…Z", "beat_at": "…Z", "successor_of": null, "event": "beat",
     "anchor": "<oid>"}

Ids are small numbers allocated create-only (``daemon 45`` reads well in logs). States:
``active`` → ``retired``. A beat adds one to ``beat``; beats do not pile up in the chain: a beat
commit's parent is the last non-beat commit (``anchor``), so ``git log`` of a daemon shows its
life (check-in, state changes, retirement) and only its latest beat.

Liveness is judged by the *observer's own clock* watching the beat counter change
(FAULTS.md 29): the last counter seen and the observer's monotonic time are remembered under
``$common/flower/observe/``. A remote wall-clock time is never compared with local time. A
daemon whose process is on this host and boot and provably gone (pid + start, in clock ticks
since the boot where known: see :mod:`flowergit.procs.identity`) is dead at once.
"""

from __future__ import annotations

import os
import time

from flowergit import fastjson
from flowergit.errors import Conflict, NotFound, UsageError
from flowergit.gitio import refs
from flowergit.gitio.refs import CasLost
from flowergit.gitio.repo import Repo
from flowergit.state import records
from flowergit.state.ids import name as check_name
from flowergit.state.ids import token
from flowergit.state.layout import daemon_ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from flowergit.state.schema import Identity

PREFIX = "refs/flower/daemons/"
ROLES_HINT = "roles are lower-case names such as orchestrator, worker, ops, refine"


# -- the clock ------------------------------------------------------------------------------------
def _offset() -> float:
    """Seconds added to this process's clocks; honoured only under FLOWER_TESTING=1."""
    if os.environ.get("FLOWER_TESTING") != "1":
        return 0.0
    raw = os.environ.get("FLOWER_CLOCK_OFFSET", "")
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        return 0.0


def wall() -> float:
    """Wall-clock seconds (only for timestamps written into records, never for liveness)."""
    return time.time() + _offset()


def mono() -> float:
    """This machine's monotonic clock (system-wide on Linux, so comparable across processes of
    one boot); the only clock liveness is judged by."""
    return time.monotonic() + _offset()


def iso(t: float | None = None) -> str:
    import datetime as _dt  # only for daemon records; `signal claim` skips the import

    t = wall() if t is None else t
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- ids ------------------------------------------------------------------------------------------
def daemon_id(text: str) -> str:
    return token(text, "daemon id")


def caller(explicit: str | None = None) -> str | None:
    """The daemon this command speaks for: ``--daemon ID`` or ``FLOWER_DAEMON``."""
    raw = explicit if explicit else os.environ.get("FLOWER_DAEMON", "")
    return daemon_id(raw) if raw else None


# -- process identity -----------------------------------------------------------------------------
def _ident(pid: int) -> Identity | None:
    from flowergit.procs import identity

    return identity.of(pid)


def default_process() -> int:
    """The process a daemon that gave no ``--pid`` stands for: the leader of the caller's session
    (a terminal's shell, or the agent that flower started in its own session), so that the
    short-lived ``git flower`` processes themselves are never mistaken for the daemon."""
    try:
        sid = os.getsid(0)
    except OSError:
        sid = 0
    if sid > 1 and _ident(sid) is not None:
        return sid
    # No usable session leader (a container whose init leads every session, or a leader that has
    # exited, or one outside this pid namespace): the oldest ancestor still in the caller's session that is not git or git flower
    # itself. The nearest one would be a `$(…)` subshell or an agent's one-shot `bash -c`, gone
    # the moment this command returns, and its daemon would read as dead at once.
    import psutil

    best = os.getppid()
    try:
        p = psutil.Process(os.getppid())
        while p is not None and p.pid > 1 and (sid <= 0 or _session(p.pid) == sid):
            name = p.name()
            cmd = " ".join(p.cmdline()[:3])
            if name != "git" and "flowergit" not in cmd and "git-flower" not in cmd:
                best = int(p.pid)
            p = p.parent()
    except (psutil.Error, OSError):
        pass
    return best


def _session(pid: int) -> int:
    try:
        return os.getsid(pid)
    except OSError:
        return -1


# -- the store ------------------------------------------------------------------------------------
class DaemonStore:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    def get(self, did: str) -> records.Head | None:
        return records.read(self.repo, daemon_ref(daemon_id(did)))

    def require(self, did: str) -> records.Head:
        head = self.get(did)
        if head is None:
            raise NotFound(f"no daemon {did}", "`git flower daemon list` shows the daemons there are")
        return head

    def all(self) -> list[records.Head]:
        heads = records.read_many(self.repo, PREFIX)
        return sorted(heads, key=lambda h: _num(h.record.get("id", "")))

    def _next_id(self, floor: int = 0) -> str:
        names = refs.read_many(self.repo, [PREFIX], "%(refname:lstrip=3)")
        nums = [int(n) for n in names if n.isascii() and n.isdigit() and len(n) < 10]
        return str(max([*nums, floor], default=0) + 1)

    def checkin(self, *, role: str, pid: int | None = None, successor_of: str | None = None,
                extra: dict[str, Any] | None = None, starting: bool = False,
                create: Callable[[str, dict[str, Any], str], records.Head] | None = None,
                floor: int = 0) -> records.Head:
        """Allocate the next id (create-only, retried on a lost race) and record the daemon.
        ``starting``: its process does not exist yet (``spawn`` names it right after).
        ``create(ref, record, message)`` makes the claim somewhere else (a remote, so that ids
        are unique across clones), raising Conflict when the id is taken; ids start above
        ``floor``."""
        check_name(role, "role")
        if pid is not None and pid <= 0:
            raise UsageError(f"invalid pid {pid}")
        proc = None if starting else (pid if pid is not None else default_process())
        ident = _ident(proc) if proc else None
        if pid is not None and ident is None:
            raise UsageError(f"no process {pid} on this host", "give the pid of a running process")
        now = iso()
        tried = floor
        for _ in refs.retrying():
            did = self._next_id(tried)
            tried = int(did)
            rec: dict[str, Any] = {
                "v": 1, "id": did, "role": role, "state": "starting" if starting else "active",
                "beat": 0,
                "host": ident["host"] if ident else None,
                "boot_id": ident["boot_id"] if ident else None,
                "pid": ident["pid"] if ident else None,
                "start": ident["start"] if ident else None,
                "ticks": ident.get("ticks") if ident else None,
                "started_at": now, "beat_at": now, "successor_of": successor_of,
                "event": "checkin",
            }
            rec.update(extra or {})
            what = f"daemon {did}: check in as {role}"
            if successor_of:
                what += f", successor of daemon {successor_of}"
            try:
                if create is not None:
                    return create(daemon_ref(did), rec, what)
                return records.create(self.repo, daemon_ref(did), rec, what)
            except Conflict:  # CasLost locally, or the id taken on the remote
                continue
        raise Conflict("gave up allocating a daemon id after repeated lost races", "retry")

    def beat(self, did: str) -> records.Head:
        """One heartbeat: the counter goes up by one (CAS, retried)."""
        ref = daemon_ref(daemon_id(did))
        for _ in refs.retrying():
            head = records.read(self.repo, ref)
            if head is None:
                raise NotFound(f"no daemon {did}", "check in first: `git flower daemon checkin`")
            if head.record.get("state") == "retired":
                raise Conflict(f"daemon {did} is retired; a retired daemon cannot beat",
                               "check in again: `git flower daemon checkin --role ROLE`")
            rec = dict(head.record)
            parent = rec.get("anchor") if rec.get("event") == "beat" else head.commit
            rec.update(beat=int(rec.get("beat", 0)) + 1, beat_at=iso(), event="beat",
                       anchor=parent)
            commit = records.build(self.repo, rec, parent, f"daemon {did}: beat {rec['beat']}")
            try:
                refs.transaction(self.repo, [refs.update(ref, commit, head.commit)],
                                 f"daemon {did}: beat")
                return records.Head(ref, commit, rec)
            except CasLost:
                continue
        raise Conflict(f"gave up beating daemon {did} after repeated lost races")

    def change(self, did: str, event: str, message: str, **fields: Any) -> records.Head:
        """Set fields (state changes, pid updates) with a non-beat commit."""
        def apply(rec: dict[str, Any]) -> dict[str, Any] | None:
            if all(rec.get(k) == v for k, v in fields.items()):
                return None
            rec.update(fields, event=event)
            rec.pop("anchor", None)
            return rec

        self.require(did)
        return records.update(self.repo, daemon_ref(daemon_id(did)), apply,
                              f"daemon {did}: {message}")

    def retire(self, did: str, by: str = "", why: str = "") -> records.Head:
        msg = "retired" + (f" by {by}" if by else "") + (f" ({why})" if why else "")
        return self.change(did, "retire", msg, state="retired", retired_at=iso())


def _num(s: str) -> tuple[int, str]:
    return (int(s), s) if s.isascii() and s.isdigit() and len(s) < 10 else (10**10, s)


# -- liveness -------------------------------------------------------------------------------------
ALIVE, STALE, DEAD, RETIRED, UNKNOWN = "alive", "stale", "dead", "retired", "unknown"


def _observe_path(repo: Repo, did: str) -> str:
    return repo.state_path("observe", f"daemon-{did}.json")


def _boot() -> str:
    from flowergit.procs import identity

    return identity.boot_id()


def observe(repo: Repo, did: str, beat: int | str | None, lease: float) -> tuple[bool, float]:
    """Remember ``beat`` as seen now (on this machine's clock) if it changed; return
    (stale, seconds since the counter last changed as this machine saw it)."""
    path = _observe_path(repo, did)
    now = mono()
    boot = _boot()
    seen: dict[str, Any] | None = None
    try:
        with open(path, encoding="utf-8") as f:
            seen = fastjson.load(f)
    except (OSError, ValueError):
        seen = None
    if not isinstance(seen, dict) or seen.get("boot") != boot or seen.get("beat") != beat \
            or not isinstance(seen.get("seen"), (int, float)) or seen["seen"] > now + 1:
        _write_json(path, {"beat": beat, "seen": now, "boot": boot})
        return False, 0.0
    quiet = now - float(seen["seen"])
    return quiet > lease, quiet


def _write_json(path: str, doc: dict[str, Any]) -> None:
    import tempfile  # only observers write; `signal claim` and the clock helpers skip it (~3 ms)

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".obs.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(fastjson.dumps(doc))
        os.replace(tmp, path)
    except OSError:
        pass


def process_alive(rec: dict[str, Any]) -> bool | None:
    """True/False when the daemon's process is on this host and boot; None when only the
    lease can tell (another machine, or no process recorded)."""
    if not rec.get("pid"):
        return None
    from flowergit.procs import identity

    ident = {k: rec.get(k) for k in ("host", "boot_id", "pid", "start", "ticks")}
    return identity.is_alive(ident)


def liveness(repo: Repo, did: str, rec: dict[str, Any] | None, lease: float,
             mark: str | None = None) -> dict[str, Any]:
    """How this observer judges daemon ``did``: {state, quiet, why}. ``mark``: an event that
    restarts the quiet time besides a heartbeat (a baton's take or hand-off: a fresh holder is
    never judged stale within the lease that starts when this observer sees it take), kept
    apart from the plain observation of the daemon."""
    if rec is None:
        stale, quiet = observe(repo, did, None, lease)
        return {"state": STALE if stale else UNKNOWN, "quiet": round(quiet, 1),
                "why": "no daemon record" + (f"; nothing seen for {quiet:.0f}s" if stale else "")}
    if rec.get("state") == "retired":
        return {"state": RETIRED, "quiet": None, "why": "retired"}
    alive = process_alive(rec)
    if alive is False:
        return {"state": DEAD, "quiet": None,
                "why": f"process {rec.get('pid')} on {rec.get('host')} is gone"}
    beat = int(rec.get("beat", 0))
    if mark is None:
        stale, quiet = observe(repo, did, beat, lease)
    else:
        stale, quiet = observe(repo, f"{did}-baton", f"{beat}|{mark}", lease)
    if stale:
        return {"state": STALE, "quiet": round(quiet, 1),
                "why": f"no heartbeat for {quiet:.0f}s (lease {lease:g}s)"}
    return {"state": ALIVE, "quiet": round(quiet, 1), "why": "heartbeat within the lease"}


def gone(judgement: dict[str, Any]) -> bool:
    return judgement["state"] in (STALE, DEAD, RETIRED)
