"""Claims made against a remote directly: the primitives behind `brief new --remote`,
`signal claim --remote` and `baton take --remote`.

The remote is the arbiter. A create-only claim is a push of a commit whose content is unique (this
clone's id + a random nonce: identical commits on two machines would both "win" a push), with the
explicit lease ``--force-with-lease=<ref>:`` ("must not exist"), read back afterwards to confirm
the remote holds *our* commit. A move (the baton) is a push with a lease on the exact old commit.
Losers get :class:`~flowergit.errors.Conflict` (exit 4) naming the winner; an unreachable remote
is :class:`~flowergit.gitio.remote.RemoteUnreachable` (exit 75) with nothing changed locally.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import os
import socket
import uuid
from collections.abc import Callable
from typing import Any

from flowergit.errors import Conflict, Retry
from flowergit.gitio import objects, refs
from flowergit.gitio import remote as net
from flowergit.gitio.repo import Repo
from flowergit.ops.context import Ctx
from flowergit.state import records
from flowergit.state.ids import is_brief_id
from flowergit.state.layout import BRIEFS_REF, FLOWER_REFS, brief_path, id_ref

IDS_PREFIX = "refs/flower/ids/"


def tracking_ref(remote: str, ref: str) -> str:
    """Where a remote's ref is mirrored locally (never into refs/flower/* itself)."""
    if ref == BRIEFS_REF:
        return f"refs/remotes/{remote}/flower/briefs"
    if ref.startswith(FLOWER_REFS):
        return f"refs/flower-remote/{remote}/{ref[len(FLOWER_REFS):]}"
    if ref == "refs/notes/flower":
        return f"refs/notes/flower-remote/{remote}"
    raise ValueError(ref)


def configured(ctx: Ctx) -> str | None:
    """The remote flower uses when none is named: `git config flower.remote`, else
    `[flower] remote` in .flower.toml."""
    vals = ctx.repo.config_get_all(r"^flower\.remote$")
    name = vals[-1][1].strip() if vals else ""
    if not name:
        name = str(ctx.config.get("flower", "remote") or "").strip()
    return name or None


def resolve(ctx: Ctx, remote: str | None) -> str | None:
    """The remote to claim against: the one named, else the configured one, else None."""
    name = remote if remote else configured(ctx)
    if not name:
        return None
    return net.check_name(ctx.repo, name)


def clone_id(repo: Repo) -> str:
    """A random id for this clone (`git config flower.cloneId`), made on first use."""
    res = repo.git(["config", "--get", "flower.cloneId"], check=False)
    cid = res.out.strip()
    if res.ok and cid:
        return cid
    cid = uuid.uuid4().hex[:16]
    repo.git(["config", "flower.cloneId", cid])
    got = repo.git(["config", "--get", "flower.cloneId"], check=False).out.strip()
    return got or cid


def who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


def now_iso() -> str:
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


def create(ctx: Ctx, remote: str, ref: str, commit: str, *, what: str = "claim") -> None:
    """Create ``ref`` on ``remote`` pointing at ``commit``, only if it does not exist there.

    ``commit`` must be unique by content (:func:`claim_commit`). On success the ref is also set
    locally (create, or a move to the winner's value). Raises Conflict (exit 4) when the ref
    already exists on the remote, naming who holds it."""
    res = net.push(ctx.repo, remote, [net.Update(ref, commit, None)])
    # "=" (already up to date) means the ref already held this very commit: someone else made
    # an identical claim first, and an expect-absent lease does not refuse that (FAULTS 8)
    if res.ok and res.statuses[ref].flag != "=":
        back = net.ls_remote(ctx.repo, remote, [ref]).get(ref)
        if back == commit:
            _set_local(ctx.repo, ref, commit)
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
        _set_local(ctx.repo, ref, new)
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


def _set_local(repo: Repo, ref: str, new: str) -> None:
    """Point the local ``ref`` at what the remote now holds; a local value that ``new`` does not
    descend from is kept at ``refs/flower/lost/…`` rather than dropped."""
    for _ in refs.retrying(20):
        old = refs.read(repo, ref)
        if old == new:
            return
        ops = [refs.update(ref, new, old)]
        if old is not None and ref.startswith(FLOWER_REFS):
            res = repo.git(["merge-base", "--is-ancestor", "--end-of-options", old, new], check=False)
            if res.returncode != 0:
                lost = f"refs/flower/lost/{ref[len(FLOWER_REFS):]}-{old[:12]}"
                ops.append(refs.Op("update", lost, old, None))
        try:
            refs.transaction(repo, ops, "git flower: from remote")
            return
        except refs.CasLost:
            continue


# -- brief ids ---------------------------------------------------------------------------------
def _remote_ids(taken: dict[str, str]) -> set[int]:
    out = set()
    for name in taken:
        rest = name[len(IDS_PREFIX):] if name.startswith(IDS_PREFIX) else ""
        if is_brief_id(rest):
            out.add(int(rest))
    return out


def _tracked_max(ctx: Ctx, remote: str) -> int:
    tip = refs.read(ctx.repo, tracking_ref(remote, BRIEFS_REF))
    if tip is None:
        return 0
    with objects.Batch(ctx.repo) as batch:
        return ctx.briefs().max_id(tip, batch)


def reserve_ids(ctx: Ctx, remote: str, floor: int, count: int = 1, attempts: int = 40) -> int:
    """Reserve ``count`` consecutive brief ids, the first >= ``floor``, on ``remote``.

    Each id is a create-only ref ``refs/flower/ids/<n>`` pushed atomically with a commit unique
    to this clone; the result is read back before it is trusted. Returns the first id."""
    repo = ctx.repo
    taken = _remote_ids(net.ls_remote(repo, remote, [IDS_PREFIX + "*"]))
    floor = max(floor, _tracked_max(ctx, remote) + 1)
    for _ in range(attempts):
        start = max([floor, *(n + 1 for n in taken)])
        while any(n in taken for n in range(start, start + count)):
            start += 1
        commits = {n: claim_commit(repo, {"v": 1, "kind": "id", "id": n},
                                   f"id {n}: reserved") for n in range(start, start + count)}
        res = net.push(repo, remote, [net.Update(id_ref(n), c, None) for n, c in commits.items()])
        if res.ok:
            back = net.ls_remote(repo, remote, [id_ref(n) for n in commits])
            if all(back.get(id_ref(n)) == c for n, c in commits.items()):
                for n, c in commits.items():
                    _set_local(repo, id_ref(n), c)
                return start
        taken |= _remote_ids(net.ls_remote(repo, remote, [IDS_PREFIX + "*"]))
        taken |= set(commits)  # at least one of them went to someone else
    raise Conflict(f"could not reserve a brief id on {remote} after {attempts} tries",
                   "many clones are creating briefs at once; retry")


def spare_ids(ctx: Ctx) -> list[int]:
    """Ids this clone reserved (`git flower sync --reserve N`) that no brief uses yet."""
    me = clone_id(ctx.repo)
    store = ctx.briefs()
    tip = store.tip()
    mine = sorted(int(h.record["id"]) for h in records.read_many(ctx.repo, IDS_PREFIX)
                  if h.record.get("clone") == me and isinstance(h.record.get("id"), int)
                  and h.ref == id_ref(int(h.record["id"])))
    if not mine or tip is None:
        return mine
    with objects.Batch(ctx.repo) as batch:
        used = batch.get_many([f"{tip}:{brief_path(n)}" for n in mine])
    return [n for n, got in zip(mine, used) if got is None]


def id_allocator(ctx: Ctx, remote: str, count: int = 1,
                 offline: bool = False) -> Callable[[int], int]:
    """A ``reserve=`` callback for :meth:`BriefStore.create`: ids reserved on ``remote``.

    When the remote cannot be reached, ``offline=True`` takes ids this clone reserved earlier
    (`git flower sync --reserve N`); otherwise the error (exit 75) stands and nothing is written."""
    got: list[int] = []

    def reserve(floor: int) -> int:
        if got:
            return got[0]
        try:
            got.append(reserve_ids(ctx, remote, floor, count))
        except net.RemoteUnreachable as e:
            if not offline:
                raise net.RemoteUnreachable(
                    e.message + "; brief ids are reserved on the remote so that no two clones "
                    "share one", "retry when it is reachable, or reserve ids ahead with "
                    "`git flower sync --reserve 20` and use `brief new --offline`") from None
            spare = _consecutive(spare_ids(ctx), count)
            if spare is None:
                raise net.RemoteUnreachable(
                    e.message + f"; and this clone has no {count} spare reserved id(s)",
                    "reserve ids while online with `git flower sync --reserve 20`") from None
            ctx.warn(f"{remote} unreachable: using id {spare} reserved earlier by this clone")
            got.append(spare)
        return got[0]

    return reserve


def _consecutive(nums: list[int], count: int) -> int | None:
    s = set(nums)
    for n in nums:
        if all(n + i in s for i in range(count)):
            return n
    return None
