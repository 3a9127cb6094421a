"""Signals: queued events, each a record chain at ``refs/flower/signals/<id>``, consumed exactly
once through a create-only claim at ``refs/flower/claims/<id>``.

A signal id sorts by creation time, is unique and names its kind:
``<yyyymmddThhmmss.ffffff>-<8 hex>-<kind>``. The
signal record (``{"v", "id", "kind", "brief", "data", "at", "by", "state": "pending"}``) never
changes after it is emitted; what happened to it lives in its claim chain::

    {"v": 1, "signal": "<id>", "kind": "auto_dispatch", "state": "claimed",
     "by": "daemon 7", "daemon": "7", "nonce": "<16 hex>", "at": "…Z"}

Claiming creates the claim ref (``create`` in an ``update-ref`` transaction: of N racers exactly
one succeeds) and reads it back to confirm the winner by content: the record names the claimer
and a random nonce, so two claim commits are never identical (DESIGN.md rule 5). Completing
appends ``completed`` or ``moot`` to the claim chain; completing an unclaimed signal claims and
completes it in one step, so a signal is consumed at most once whatever happens.

A signal id carries its time and kind (``20261121T093000.123456-1f2e3d4c-auto_dispatch``), so
``claim --next`` finds the oldest unclaimed, unexpired signal of a kind from a single
``for-each-ref`` of ref names over both prefixes, reading no objects; racing claimers spread
over the oldest few (:func:`claim_next`). Completions prune the refs of signals that have been
over for an expiry period (:func:`prune`), so that listing does not grow without bound.

Over 500 lines because emitting, claiming, completing and pruning share the id grammar and the
claim records, and ``signal claim`` is a hot command that loads this one module (pruning, the
part that could leave, needs the id helpers and would import them back).
"""

from __future__ import annotations

import os
import time

from flowergit.errors import Conflict, NotFound
from flowergit.gitio import objects, refs
from flowergit.gitio.refs import CasLost
from flowergit.gitio.repo import Repo
from flowergit.state import records, tombstones
from flowergit.state.ids import name as check_name
from flowergit.state.ids import token
from flowergit.state.layout import claim_ref, signal_ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

SIGNALS = "refs/flower/signals/"
CLAIMS = "refs/flower/claims/"
FINAL = ("completed", "moot")


def _wall() -> float:
    from flowergit.state.daemons import wall

    return wall()


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_wall()))


def _stamp(t: float) -> str:
    """``yyyymmddThhmmss.ffffff`` in UTC (``time``, not ``datetime``: one import fewer on the
    claim path)."""
    sec = int(t // 1)
    micro = round((t - sec) * 1_000_000)  # rounded as datetime.fromtimestamp rounds
    if micro >= 1_000_000:
        sec, micro = sec + 1, micro - 1_000_000
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(sec)) + f".{micro:06d}"


def new_id(kind: str) -> str:
    """``<utc stamp>-<8 hex>-<kind>``: sorts by emission time, unique, and names its kind, so a
    listing of ref names alone is enough to pick the oldest signal of a kind."""
    return f"{_stamp(_wall())}-{os.urandom(4).hex()}-{kind}"


def parse_id(sid: str) -> tuple[str, str] | None:
    """(stamp, kind) of a signal id, or None for an id of another shape."""
    parts = sid.split("-", 2)
    if len(parts) != 3 or len(parts[0]) != 22 or parts[0][8] != "T":
        return None
    return parts[0], parts[2]


def signal_id(text: str) -> str:
    return token(text, "signal id")


def _host() -> str:
    try:
        return os.uname().nodename  # what socket.gethostname() returns, without importing socket
    except AttributeError:  # no uname on this platform
        import socket

        return socket.gethostname()


def default_by() -> str:
    return f"{_host()}:{os.getppid()}"


def emit(repo: Repo, kind: str, *, brief: int | None = None, data: dict[str, Any] | None = None,
         by: str = "") -> dict[str, Any]:
    """Queue a signal of ``kind``; returns its record (with ``id``)."""
    check_name(kind, "signal kind")
    sid = new_id(kind)
    rec: dict[str, Any] = {"v": 1, "id": sid, "kind": kind, "brief": brief, "data": data or {},
                           "at": now_iso(), "by": by or default_by(), "state": "pending"}
    records.create(repo, signal_ref(sid), rec, f"signal {sid}: {kind}"
                   + (f" for brief {brief}" if brief else ""))
    return rec


# -- the cheap scan -------------------------------------------------------------------------------
def scan(repo: Repo) -> tuple[list[tuple[str, str, str]], set[str]]:
    """One ``for-each-ref`` of ref names over signals and claims, reading no objects:
    ([(id, kind, stamp)] oldest first, {claimed ids})."""
    sigs: list[tuple[str, str, str]] = []
    claimed: set[str] = set()
    for line in refs.read_many(repo, [SIGNALS, CLAIMS], "%(refname:lstrip=2)"):
        where, _, sid = line.partition("/")
        if where == "claims":
            claimed.add(sid)
        elif where == "signals":
            got = parse_id(sid)
            sigs.append((sid, got[1], got[0]) if got else (sid, "", ""))
    sigs.sort()
    return sigs, claimed


def cutoff(expiry: float, now: float | None = None) -> str:
    """Signals whose stamp sorts below this are expired."""
    return _stamp((now if now is not None else _wall()) - expiry)


def expired(sid: str, expiry: float, now: float | None = None) -> bool:
    return stamped_before(sid, cutoff(expiry, now))


def stamped_before(sid: str, oldest: str) -> bool:
    """Was signal ``sid`` emitted before the stamp ``oldest`` (a :func:`cutoff`)?"""
    got = parse_id(sid)
    return got is not None and got[0] < oldest


# -- claiming -------------------------------------------------------------------------------------
def _ident_env() -> tuple[bytes, bytes]:
    name = os.environ.get("GIT_COMMITTER_NAME") or "git flower"
    email = os.environ.get("GIT_COMMITTER_EMAIL") or "flower@localhost"
    clean = {ord(c): None for c in "<>\n\0"}
    return (name.translate(clean).encode("utf-8", "replace"),
            email.translate(clean).encode("utf-8", "replace"))


def _claim_commit(repo: Repo, rec: dict[str, Any], parent: str | None, message: str) -> str:
    """A claim record commit built in memory and written with one ``unpack-objects``."""
    from flowergit.gitio import writes

    w = writes.Writer(repo)
    blob = w.add("blob", records.encode(rec))
    tree = w.add("tree", objects.format_tree([objects.Entry(objects.MODE_BLOB,
                                                            records.RECORD.encode(), blob)]))
    name, email = _ident_env()
    stamp = b"%d +0000" % int(_wall())
    body = b"tree " + tree.encode() + b"\n"
    if parent:
        body += b"parent " + parent.encode() + b"\n"
    who = name + b" <" + email + b"> " + stamp
    body += b"author " + who + b"\ncommitter " + who + b"\n\n" + message.encode() + b"\n"
    commit = w.add("commit", body)
    w.flush()
    return commit


def _claim_rec(sid: str, kind: str, state: str, by: str, daemon: str | None) -> dict[str, Any]:
    return {"v": 1, "signal": sid, "kind": kind, "state": state, "by": by, "daemon": daemon,
            "nonce": os.urandom(8).hex(), "at": now_iso()}


def new_claim(repo: Repo, sid: str, kind: str, *, by: str, daemon: str | None) -> str:
    """A claim commit for signal ``sid`` (unique by content: claimer and nonce), not yet
    pointed at by any ref; for claims made against a remote."""
    rec = _claim_rec(sid, kind, "claimed", by, daemon)
    return _claim_commit(repo, rec, None, f"claim {sid}: claimed by {by}")


def read_pair(repo: Repo, sid: str) -> tuple[records.Head | None, records.Head | None]:
    return _read_pair(repo, sid)


def view(sig: records.Head | None, claim: records.Head | None, sid: str) -> dict[str, Any]:
    return _view(sig, claim, sid)


def _read_pair(repo: Repo, sid: str, batch: objects.Batch | None = None,
               ) -> tuple[records.Head | None, records.Head | None]:
    """(signal head, claim head) in one ``cat-file --batch``: ``batch`` if given (started early
    so its start-up overlaps other work), else a new one."""
    names = [signal_ref(sid), f"{signal_ref(sid)}:{records.RECORD}",
             claim_ref(sid), f"{claim_ref(sid)}:{records.RECORD}"]
    if batch is None:
        with objects.Batch(repo) as own:
            got = [own.get(n) for n in names]  # four short answers: no feeder thread needed
    else:
        got = [batch.get(n) for n in names]
    out: list[records.Head | None] = []
    for i in (0, 2):
        c, b = got[i], got[i + 1]
        if c is None or c[1] != "commit" or b is None or b[1] != "blob":
            out.append(None)
        else:
            out.append(records.Head(names[i], c[0], records.decode(b[2], names[i])))
    return out[0], out[1]


def _try_create(repo: Repo, sid: str, kind: str, state: str, by: str, daemon: str | None,
                fence: Sequence[refs.Op] = (), *, read_lost: bool = True,
                batch: objects.Batch | None = None,
                ) -> tuple[bool, records.Head | None, records.Head | None]:
    """Create the claim (with the caller's baton fence in the same transaction); (won, signal
    head, claim head) read back after the attempt. A winner is confirmed by reading its claim
    ref back and finding its own commit (unique by content) there; ``read_lost=False`` skips the
    read after a lost race, for callers that only move on."""
    rec = _claim_rec(sid, kind, state, by, daemon)
    msg = f"claim {sid}: {state} by {by}"
    commit = _claim_commit(repo, rec, None, msg)
    try:
        refs.transaction(repo, [refs.create(claim_ref(sid), commit), *fence], msg)
    except CasLost:
        for op in fence:
            if refs.read(repo, op.ref) != op.old:
                raise Conflict(f"lost the baton: {op.ref} moved, so the claim of signal {sid} "
                               "was not made", "this daemon was replaced; stop") from None
        if not read_lost:
            return False, None, None
        sig, claim = _read_pair(repo, sid, batch)
        return False, sig, claim
    sig, claim = _read_pair(repo, sid, batch)
    return claim is not None and claim.commit == commit, sig, claim


def _claimer(claim: records.Head | None) -> str:
    if claim is None:
        return "someone else"
    return str(claim.record.get("by") or "someone else")


def _view(sig: records.Head | None, claim: records.Head | None, sid: str) -> dict[str, Any]:
    rec: dict[str, Any] = dict(sig.record) if sig is not None else {"id": sid}
    if claim is not None:
        rec["state"] = claim.record.get("state", "claimed")
        rec["claim"] = {k: claim.record.get(k) for k in ("by", "daemon", "at", "state", "note")
                        if claim.record.get(k) is not None}
    return rec


def claim(repo: Repo, sid: str, *, by: str, daemon: str | None, expiry: float) -> dict[str, Any]:
    """Claim signal ``sid``: exit 3 if there is no such signal (or it expired), exit 4 if
    someone else has it."""
    sid = signal_id(sid)
    with objects.Batch(repo) as batch:  # one cat-file for the first look and the read-back
        sig, existing = _read_pair(repo, sid, batch)
        if sig is None:
            raise NotFound(f"no signal {sid}", "`git flower signal list` shows the signals there are")
        if existing is not None:
            raise _taken(sid, existing)
        if expired(sid, expiry):
            raise NotFound(f"signal {sid} expired (older than {expiry:g}s)",
                           f"retire it with `git flower signal complete {sid} --moot`")
        won, sig, got = _try_create(repo, sid, str(sig.record.get("kind", "")), "claimed", by,
                                    daemon, batch=batch)
    if not won:
        raise _taken(sid, got)
    return _view(sig, got, sid)


def _taken(sid: str, claim: records.Head | None) -> Conflict:
    state = claim.record.get("state", "claimed") if claim is not None else "claimed"
    who = _claimer(claim)
    what = "claimed" if state == "claimed" else f"claimed and {state}"
    return Conflict(f"signal {sid} is already {what} by {who}",
                    "`git flower signal claim --next` takes the oldest unclaimed one",
                    data={"signal": sid, "state": state, "by": who})


WINDOW = 8
"""After a lost race, ``claim --next`` picks at random among this many of the oldest candidates
it has not tried, so racing claimers spread out instead of colliding down the same list."""


CONTENDED = 2.0
"""Seconds for which a lost race (by any claimer in this repository) makes the next claims start
at a random one of the oldest few too, not only their retries."""


def _contention_mark(repo: Repo) -> str:
    return repo.state_path("cache", "claim-lost")


def _recently_contended(repo: Repo) -> bool:
    """Did any claimer here lose a race in the last :data:`CONTENDED` seconds? (one ``stat``)"""
    try:
        return 0 <= time.time() - os.stat(_contention_mark(repo)).st_mtime < CONTENDED
    except OSError:
        return False


def _note_contention(repo: Repo) -> None:
    path = _contention_mark(repo)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="ascii"):
            pass
        os.utime(path)
    except OSError:
        pass


def _pick(n: int) -> int:
    """A random index below ``n`` (no ``random`` import: one byte of ``os.urandom``)."""
    return os.urandom(1)[0] % n if n > 1 else 0


def claim_next(repo: Repo, *, kind: str | None, by: str, daemon: str | None,
               expiry: float, fence: Sequence[refs.Op] = ()) -> dict[str, Any]:
    """Claim the oldest unclaimed, unexpired signal (of ``kind``); exit 3 if none is left.

    The first attempt takes the oldest candidate, so an uncontended queue is consumed strictly
    oldest first. A lost race shows that others are claiming too: the next attempt takes one of
    the :data:`WINDOW` oldest untried candidates at random, so N racers spread over the head of
    the queue rather than all retrying the same ref; and for :data:`CONTENDED` seconds after any
    claimer here lost a race, first attempts are spread the same way. A lost race costs the commit and the
    transaction only (the ref is known to be claimed; nothing is read back). When every
    candidate of a scan was lost, the refs are listed again, and exit 3 comes only from a scan
    that leaves nothing untried."""
    if kind is not None:
        check_name(kind, "signal kind")
    tried: set[str] = set()
    noted = False
    batch: objects.Batch | None = None
    try:
        while True:
            sigs, claimed = scan(repo)
            low = cutoff(expiry)
            cands = [(sid, k) for sid, k, stamp in sigs
                     if sid not in claimed and sid not in tried
                     and (kind is None or k == kind) and not (stamp and stamp < low)]
            if not cands:
                break
            if batch is None:
                # the read-back's `cat-file --batch` starts now, while the claim commit is
                # written and the transaction runs, instead of after them
                batch = objects.Batch(repo)
            lost = bool(tried) or _recently_contended(repo)
            while cands:
                sid, k = cands.pop(_pick(min(WINDOW, len(cands))) if lost else 0)
                tried.add(sid)
                won, sig, got = _try_create(repo, sid, k, "claimed", by, daemon, fence,
                                            read_lost=False, batch=batch)
                if won:
                    return _view(sig, got, sid)
                if not noted:
                    _note_contention(repo)  # once per claim: the racers after us spread at once
                    noted = True
                lost = True
    finally:
        if batch is not None:
            batch.close()
    what = f"{kind} signals" if kind else "signals"
    raise NotFound(f"no unclaimed {what} left to claim",
                   "`git flower signal list --unclaimed` shows what is queued")


def complete(repo: Repo, sid: str, *, moot: bool = False, by: str, daemon: str | None,
             note: str = "") -> dict[str, Any]:
    """Mark a signal completed (or moot). An unclaimed signal is claimed and completed in one
    create-only step; completing it again is harmless."""
    sid = signal_id(sid)
    state = "moot" if moot else "completed"
    for _ in refs.retrying():
        sig, cl = _read_pair(repo, sid)
        if sig is None and cl is None:
            raise NotFound(f"no signal {sid}", "`git flower signal list` shows the signals there are")
        kind = str((sig.record if sig else cl.record).get("kind", ""))  # type: ignore[union-attr]
        if cl is None:
            rec = _claim_rec(sid, kind, state, by, daemon)
            if note:
                rec["note"] = note
            msg = f"claim {sid}: {state} by {by}"
            commit = _claim_commit(repo, rec, None, msg)
            try:
                refs.transaction(repo, [refs.create(claim_ref(sid), commit)], msg)
            except CasLost:
                continue
            _tidy_after_complete(repo)
            return {**_view(sig, records.Head(claim_ref(sid), commit, rec), sid), "already": False}
        cur = cl.record.get("state", "claimed")
        if cur in FINAL:
            if cur != state:
                raise Conflict(f"signal {sid} is already {cur}", data={"signal": sid, "state": cur})
            return {**_view(sig, cl, sid), "already": True}
        owner = cl.record.get("daemon")
        if daemon and owner and str(owner) != daemon:
            _refuse_if_owner_alive(repo, sid, str(owner))
        rec = dict(cl.record)
        rec.update(state=state, completed_by=by, completed_at=now_iso())
        if note:
            rec["note"] = note
        msg = f"claim {sid}: {state} by {by}"
        commit = _claim_commit(repo, rec, cl.commit, msg)
        try:
            refs.transaction(repo, [refs.update(cl.ref, commit, cl.commit)], msg)
        except CasLost:
            continue
        _tidy_after_complete(repo)
        return {**_view(sig, records.Head(cl.ref, commit, rec), sid), "already": False}
    raise Conflict(f"gave up completing signal {sid} after repeated lost races", "retry")


# -- pruning --------------------------------------------------------------------------------------
PRUNE_EVERY = 60.0
"""A completion prunes at most once a minute (wall clock), so a tick that completes many
signals in a row pays for one prune."""
PRUNE_LIMIT = 1000
"""At most this many signals are pruned by one transaction; the rest wait for the next prune."""


def prune(repo: Repo, *, expiry: float, now: float | None = None) -> list[str]:
    """Delete the refs of signals that are over: emitted more than ``expiry`` seconds ago (so
    ``claim`` never offers them anyway) and completed or moot more than ``expiry`` seconds ago
    (so ``signal list`` shows how each ended for that long). The signal ref and its claim ref go in
    one compare-and-swap transaction, so a signal is never left behind without its claim (and
    were one brought back by an old clone, it would be expired, so never claimable). Keeps the
    ``claim --next`` scan proportional to the signals of the last ``expiry`` seconds, not to
    every signal ever emitted. Best effort: a lost race prunes nothing; the ids pruned."""
    sig_oid: dict[str, str] = {}
    claim_oid: dict[str, str] = {}
    for line in refs.read_many(repo, [SIGNALS, CLAIMS], "%(objectname) %(refname:lstrip=2)"):
        oid, _, name = line.partition(" ")
        where, _, sid = name.partition("/")
        if where == "signals":
            sig_oid[sid] = oid
        elif where == "claims":
            claim_oid[sid] = oid
    now = _wall() if now is None else now
    low = cutoff(expiry, now)
    ended_low = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - expiry))
    old = [sid for sid in sorted(claim_oid)
           if (got := parse_id(sid)) is not None and got[0] < low][:PRUNE_LIMIT]
    if not old:
        return []
    with objects.Batch(repo) as batch:
        blobs = batch.get_many([f"{claim_oid[sid]}:{records.RECORD}" for sid in old])
    ops: list[refs.Op] = []
    done: list[str] = []
    for sid, blob in zip(old, blobs):
        if blob is None or blob[1] != "blob":
            continue
        try:
            rec = records.decode(blob[2], claim_ref(sid))
        except Conflict:  # an unreadable claim is left for a person to look at
            continue
        ended = str(rec.get("completed_at") or rec.get("at") or "")
        if rec.get("state") not in FINAL or not ended or ended >= ended_low:
            continue
        ops.append(refs.delete(claim_ref(sid), claim_oid[sid]))
        if sid in sig_oid:
            ops.append(refs.delete(signal_ref(sid), sig_oid[sid]))
        done.append(sid)
    if not ops:
        return []
    ops += tombstones.record(repo, [(o.ref, o.old) for o in ops if o.old is not None],
                             "signals that are over", now)
    try:
        refs.transaction(repo, ops, f"prune {len(done)} signals that are over")
    except CasLost:
        return []
    return done


def _tidy_after_complete(repo: Repo) -> None:
    """After a completion, prune what is over (at most once every :data:`PRUNE_EVERY` seconds).
    Never fails the completion: pruning is housekeeping."""
    from flowergit.errors import FlowerError

    stamp = repo.state_path("cache", "signals-pruned")
    now = _wall()
    try:
        with open(stamp, encoding="ascii") as f:
            last = float(f.read().strip() or "0")
    except (OSError, ValueError):
        last = 0.0
    if 0 <= now - last < PRUNE_EVERY:
        return
    try:
        os.makedirs(os.path.dirname(stamp), exist_ok=True)
        with open(stamp, "w", encoding="ascii") as f:
            f.write(f"{now:.3f}\n")
        from flowergit.state import config as cfgmod

        cfg = cfgmod.load(repo.main_worktree, repo.state_path("cache"))
        prune(repo, expiry=float(cfg.get("signals", "expiry")), now=now)
    except (OSError, FlowerError):
        pass


def _refuse_if_owner_alive(repo: Repo, sid: str, owner: str) -> None:
    """Another daemon's claim may be completed only once that daemon is gone."""
    from flowergit.state import daemons

    head = daemons.DaemonStore(repo).get(owner)
    if head is None:
        return
    judged = daemons.liveness(repo, owner, head.record, float(head.record.get("lease", 60)))
    if not daemons.gone(judged):
        raise Conflict(f"signal {sid} is claimed by daemon {owner}, which is {judged['state']}",
                       "let that daemon complete it, or retire the daemon first")


# -- listing --------------------------------------------------------------------------------------
def list_all(repo: Repo, *, expiry: float) -> list[dict[str, Any]]:
    """Every signal with its consumption state: pending, expired, claimed, completed, moot."""
    sigs = records.read_many(repo, SIGNALS)
    claims = {h.ref[len(CLAIMS):]: h for h in records.read_many(repo, CLAIMS)}
    oldest = cutoff(expiry, _wall())  # what `expired` compares with, made once for them all
    out = []
    for h in sigs:
        sid = h.ref[len(SIGNALS):]
        rec = _view(h, claims.get(sid), sid)
        if sid not in claims:
            rec["state"] = "expired" if stamped_before(sid, oldest) else "pending"
        out.append(rec)
    out.sort(key=lambda r: str(r.get("id", "")))
    return out
