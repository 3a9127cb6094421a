"""Brief ids across clones: each id a clone uses is a create-only ref ``refs/flower/ids/<n>``
on the remote, pushed before the brief is written (`brief new --remote`), ahead of time for
offline use (`git flower sync --reserve N`), or by sync for briefs made offline; and who holds
an id on the remote."""

from __future__ import annotations

from collections.abc import Callable

from flowergit.errors import Conflict
from flowergit.gitio import objects, refs
from flowergit.gitio import remote as net
from flowergit.gitio.repo import Repo
from flowergit.ops.context import Ctx
from flowergit.ops.sync.claims import claim_commit, set_local
from flowergit.ops.sync.model import read_head
from flowergit.ops.sync.setup import clone_id, tracking_ref
from flowergit.state import records
from flowergit.state.ids import is_brief_id
from flowergit.state.layout import BRIEFS_REF, brief_path, id_ref

IDS_PREFIX = "refs/flower/ids/"


def owner(repo: Repo, remote: str, state: dict[str, str], n: int) -> str | None:
    """The clone id that holds brief id ``n`` on the remote, per the remote ``state`` just
    fetched (None: nobody; "?": held by something that is not a readable id record)."""
    oid = state.get(id_ref(n))
    if oid is None:
        return None
    head = read_head(repo, tracking_ref(remote, id_ref(n)))
    if head is None or head.commit != oid:
        return "?"
    return str(head.record.get("clone") or "?")


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
                    set_local(repo, id_ref(n), c)
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
