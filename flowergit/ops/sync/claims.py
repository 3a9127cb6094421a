"""Claims made against a remote directly: the primitives behind `brief new --remote`,
`signal claim --remote` and `baton take --remote` (and the id claims sync publishes).

The remote is the arbiter. A create-only claim is a push of a commit whose content is unique (this
clone's id + a random nonce: identical commits on two machines would both "win" a push), with the
explicit lease ``--force-with-lease=<ref>:`` ("must not exist"), read back afterwards to confirm
the remote holds *our* commit. A move (the baton) is a push with a lease on the exact old commit.
Losers get :class:`~flowergit.errors.Conflict` (exit 4) naming the winner; an unreachable remote
is :class:`~flowergit.gitio.remote.RemoteUnreachable` (exit 75) with nothing changed locally.
"""

from __future__ import annotations

import os

from flowergit.errors import Conflict, Retry
from flowergit.gitio import refs
from flowergit.gitio import remote as net
from flowergit.gitio.repo import Repo
from flowergit.ops.context import Ctx
from flowergit.ops.sync.model import lost_ref
from flowergit.ops.sync.setup import clone_id, tracking_ref
from flowergit.state import records
from flowergit.state.layout import FLOWER_REFS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def who() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


def now_iso() -> str:
    import datetime as _dt

    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unique_record(repo: Repo, rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` plus the clone id and a fresh nonce, so its commit can exist only once."""
    return {**rec, "clone": clone_id(repo), "nonce": os.urandom(12).hex(),
            "by": rec.get("by") or who(), "at": rec.get("at") or now_iso()}


def claim_commit(repo: Repo, rec: dict[str, Any], message: str, parent: str | None = None) -> str:
    """A record commit that is unique by content (see :func:`unique_record`)."""
    return records.build(repo, unique_record(repo, rec), parent, message)


def _holder(ctx: Ctx, remote: str, ref: str) -> tuple[str | None, dict[str, Any] | None]:
    """The remote's current value of ``ref`` and its record (fetched into the mirror)."""
    now = net.ls_remote(ctx.repo, remote, [ref]).get(ref)
    if now is None:
        return None, None
    mirror = tracking_ref(remote, ref)
    try:
        net.fetch(ctx.repo, remote, [f"+{ref}:{mirror}"])
        head = records.read(ctx.repo, mirror)
    except (Retry, Conflict, records.CorruptRef):  # held, by something that is no record
        head = None
    return now, head.record if head and head.commit == now else None


def describe(rec: dict[str, Any] | None) -> str:
    if not rec:
        return "someone else"
    for key in ("holder", "claimer", "by"):
        val = rec.get(key)
        if isinstance(val, dict):
            val = val.get("id") or val.get("host")
        if val:
            return str(val)
    return str(rec.get("clone") or "someone else")


def caller_id(ctx: Ctx) -> str | None:
    from flowergit.state.daemons import caller

    return caller(getattr(ctx, "daemon", None))


def baton_fence(ctx: Ctx, remote: str, there: dict[str, str] | None = None) -> list[net.Update]:
    """For a daemon that holds a baton here: a lease on the remote's baton, pushed in the same
    atomic push as its write. The remote's baton is read first (``there``: the remote's refs
    as a sync just fetched them, else listed now): the same commit as ours, or an older one of
    our chain (then ours goes along), passes; one that names another holder means this daemon
    was deposed on the remote (another machine took the lane over): "lost the baton" (exit 4)
    and nothing is written there."""
    from flowergit.gitio.history import is_ancestor
    from flowergit.state import baton as bstate
    from flowergit.state.layout import baton_ref

    did = caller_id(ctx)
    if not did:
        return []
    mine: dict[str, str] = {}
    for name, oid in refs.list_refs(ctx.repo, "refs/flower/baton/").items():
        lane = name[len("refs/flower/baton/"):]
        try:
            head = bstate.read(ctx.repo, lane)
        except Conflict:
            continue
        if head is not None and bstate.holder_of(head) == did:
            mine[baton_ref(lane)] = oid
    if not mine:
        return []
    fetched = there is not None
    if there is None:
        there = net.ls_remote(ctx.repo, remote, sorted(mine))
    out = []
    for ref, oid in sorted(mine.items()):
        theirs = there.get(ref)
        if theirs is None or theirs == oid:
            out.append(net.Update(ref, oid, theirs))
            continue
        if not fetched:
            net.fetch(ctx.repo, remote, [f"+{ref}:{tracking_ref(remote, ref)}"])
        if is_ancestor(ctx.repo, theirs, oid):
            out.append(net.Update(ref, oid, theirs))  # ours extends it: it goes along
            continue
        head = records.read(ctx.repo, tracking_ref(remote, ref))
        raise lost_baton(remote, ref.rsplit("/", 1)[-1], did,
                         bstate.describe(head.record) if head else "another daemon")
    return out


def lost_baton(remote: str, lane: str, did: str | None, holder: str) -> Conflict:
    """The error of a holder deposed on ``remote``: exit 4, nothing written there."""
    return Conflict(f"lost the baton: on {remote}, baton {lane} is held by {holder}, not "
                    f"daemon {did}; nothing was written there",
                    f"another orchestrator holds lane {lane} now; stop, and "
                    f"`git flower sync {remote}`", data={"lane": lane, "remote": remote})


def fenced_push(ctx: Ctx, remote: str, updates: list[net.Update]) -> net.PushResult:
    """``updates`` in one atomic push with the caller's baton fence; "lost the baton" (exit 4)
    when the fence is what failed."""
    fence = baton_fence(ctx, remote)
    res = net.push(ctx.repo, remote, [*updates, *fence])
    lost = [u.ref for u in fence if not res.statuses[u.ref].ok
            and "stale" in res.statuses[u.ref].summary]
    if lost and not res.ok:  # it moved between our read and the push
        raise lost_baton(remote, lost[0].rsplit("/", 1)[-1], caller_id(ctx), "another daemon")
    return res


def create(ctx: Ctx, remote: str, ref: str, commit: str, *, what: str = "claim") -> None:
    """Create ``ref`` on ``remote`` pointing at ``commit``, only if it does not exist there,
    fenced by the caller's baton when it holds one (:func:`baton_fence`).

    ``commit`` must be unique by content (:func:`claim_commit`). On success the ref is also set
    locally (create, or a move to the winner's value). Raises Conflict (exit 4) when the ref
    already exists on the remote, naming who holds it."""
    res = fenced_push(ctx, remote, [net.Update(ref, commit, None)])
    # "=" (already up to date) means the ref already held this very commit: someone else made
    # an identical claim first, and an expect-absent lease does not refuse that (FAULTS 8)
    if res.ok and res.statuses[ref].flag != "=":
        back = net.ls_remote(ctx.repo, remote, [ref]).get(ref)
        if back == commit:
            set_local(ctx.repo, ref, commit)
            return
    now, rec = _holder(ctx, remote, ref)
    raise Conflict(f"{what} lost: {ref} on {remote} is already held by {describe(rec)}",
                   f"`git flower sync {remote}` brings the winner's record here",
                   data={"ref": ref, "remote_oid": now, "holder": rec})


def move(ctx: Ctx, remote: str, ref: str, new: str, expect: str | None, *,
         what: str = "update") -> None:
    """Move ``ref`` on ``remote`` from exactly ``expect`` (None: absent) to ``new``.

    Raises Conflict (exit 4) naming the current holder when the remote is not at ``expect``."""
    res = net.push(ctx.repo, remote, [net.Update(ref, new, expect)])
    if res.ok:
        set_local(ctx.repo, ref, new)
        return
    now, rec = _holder(ctx, remote, ref)
    raise Conflict(f"{what} lost: {ref} on {remote} moved; it is held by {describe(rec)}",
                   f"`git flower sync {remote}`, then retry",
                   data={"ref": ref, "remote_oid": now, "holder": rec})


def create_record(ctx: Ctx, remote: str, ref: str, rec: dict[str, Any], message: str,
                  *, what: str = "claim") -> records.Head:
    """Start the record chain ``ref`` on ``remote`` (create-only, unique by content), then
    locally. Conflict (exit 4) naming the holder if it already exists there."""
    full = unique_record(ctx.repo, rec)
    commit = records.build(ctx.repo, full, None, message)
    create(ctx, remote, ref, commit, what=what)
    return records.Head(ref, commit, full)


def update_record(ctx: Ctx, remote: str, ref: str,
                  change: Callable[[dict[str, Any] | None], dict[str, Any] | None], message: str,
                  *, what: str = "update", attempts: int = 5) -> records.Head | None:
    """Append to the record chain ``ref`` on ``remote`` with a lease on the exact commit read.

    ``change(current record or None)`` returns the new record, None for "nothing to do", or
    raises (e.g. Conflict: the baton is held). A lost lease re-reads and asks ``change`` again,
    ``attempts`` times; then Conflict naming the holder."""
    last: Conflict | None = None
    for _ in range(attempts):
        old, rec = remote_value(ctx, remote, ref)
        new_rec = change(dict(rec) if rec is not None else None)
        if new_rec is None:
            return None
        full = unique_record(ctx.repo, new_rec)
        commit = records.build(ctx.repo, full, old, message)
        try:
            if old is None:
                create(ctx, remote, ref, commit, what=what)
            else:
                move(ctx, remote, ref, commit, old, what=what)
            return records.Head(ref, commit, full)
        except Conflict as e:
            last = e
    assert last is not None
    raise last


def remote_value(ctx: Ctx, remote: str, ref: str) -> tuple[str | None, dict[str, Any] | None]:
    """The remote's current value of ``ref`` and its record (for a lease on the exact commit)."""
    return _holder(ctx, remote, ref)


def set_local(repo: Repo, ref: str, new: str) -> None:
    """Point the local ``ref`` at what the remote now holds; a local value that ``new`` does not
    descend from is kept at ``refs/flower/lost/…`` rather than dropped."""
    for _ in refs.retrying(20):
        old = refs.read(repo, ref)
        if old == new:
            return
        ops = [refs.update(ref, new, old)]
        if old is not None and ref.startswith(FLOWER_REFS):
            from flowergit.gitio.history import is_ancestor  # here: claims stay light to import

            if not is_ancestor(repo, old, new):
                ops.append(refs.Op("update", lost_ref(ref, old), old, None))
        try:
            refs.transaction(repo, ops, "git flower: from remote")
            return
        except refs.CasLost:
            continue


