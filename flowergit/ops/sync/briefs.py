"""Reconciling the briefs branch with a remote.

A side that has nothing, or is behind, takes the other's tip. When both moved, the local
commits the remote lacks are re-applied onto the remote's tip (``ops/sync/replay.py``); a brief
number another clone took on the remote is renumbered first. Every brief new to the remote gets
an id claim ``refs/flower/ids/<n>``, published in the same push. A remote tree with names no
clone can write is skipped, with a warning.
"""

from __future__ import annotations

from flowergit.errors import FlowerError
from flowergit.gitio import changes, objects, refs
from flowergit.gitio import remote as net
from flowergit.gitio.history import is_ancestor
from flowergit.gitio.refs import Op
from flowergit.gitio.repo import Repo
from flowergit.ops.context import Ctx
from flowergit.ops.sync.claims import claim_commit
from flowergit.ops.sync.ids import owner
from flowergit.ops.sync.model import BRIEF_PATH, Report, show
from flowergit.ops.sync.replay import replay
from flowergit.state.layout import BRIEFS_REF, id_ref


def added_ids(repo: Repo, old: str, new: str) -> list[int]:
    """The ids of the briefs ``new`` adds over ``old``."""
    out = []
    for p in changes.added_paths(repo, old, new, "briefs"):
        m = BRIEF_PATH.fullmatch(p)
        if m:
            out.append(int(m[1]))
    return out


def bad_path(repo: Repo, lo: str | None, ro: str) -> str | None:
    """A path the remote's briefs commit adds that has a component a strict remote would
    reject for good (``..``, ``.git``, …: FAULTS 44), or None."""
    for p in changes.touched_paths(repo, lo, ro):
        for part in p.split(b"/"):
            try:
                objects.check_name(part)
            except FlowerError:
                return p.decode("utf-8", "surrogateescape")
    return None


def reconcile_briefs(ctx: Ctx, remote: str, state: dict[str, str], me: str, report: Report,
                     updates: list[net.Update]) -> tuple[net.Update | None, list[Op]]:
    """Bring the local briefs branch and the remote's together: the push of the briefs branch
    (None: nothing to push), and the local id claims to write once the push went through.
    The id claims to publish are appended to ``updates``."""
    repo = ctx.repo
    store = ctx.briefs()
    lo, ro = store.tip(), state.get(BRIEFS_REF)
    if lo == ro or lo is None and ro is None:
        return None, []
    if ro is None:
        assert lo is not None
        report.briefs = {"action": "published", "replayed": 0}
        return net.Update(BRIEFS_REF, lo, None), []
    bad = bad_path(repo, lo, ro)
    if bad:
        report.warn(f"skipped {remote}'s {BRIEFS_REF}: its tree has entries no clone can write "
                    f"or push ({show(bad)}); ask whoever wrote them to remove them")
        return None, []
    if lo is None:
        store.refuse_if_checked_out()
        refs.transaction(repo, [refs.create(BRIEFS_REF, ro)], f"git flower sync {remote}")
        report.briefs = {"action": "fetched", "replayed": 0}
        return None, []
    if is_ancestor(repo, lo, ro):
        store.refuse_if_checked_out()
        refs.transaction(repo, [refs.update(BRIEFS_REF, ro, lo)], f"git flower sync {remote}")
        report.briefs = {"action": "fast-forward", "replayed": 0}
        return None, []
    fast = is_ancestor(repo, ro, lo)
    added = added_ids(repo, ro, lo)
    taken = [n for n in added if (owner(repo, remote, state, n) or me) != me]
    new_tip = lo
    if not fast or taken:
        store.refuse_if_checked_out()
        new_tip, replayed = replay(ctx, remote, lo, ro, state, me, report)
        refs.transaction(repo, [refs.update(BRIEFS_REF, new_tip, lo)], f"git flower sync {remote}")
        report.briefs = {"action": "replayed", "replayed": replayed}
        added = added_ids(repo, ro, new_tip)
    else:
        report.briefs = {"action": "published", "replayed": 0}
    after: list[Op] = []
    for n in added:  # publish an id claim for every new brief that has none on the remote yet
        if state.get(id_ref(n)) is None and refs.read(repo, id_ref(n)) is None:
            c = claim_commit(repo, {"v": 1, "kind": "id", "id": n}, f"id {n}: claimed by sync")
            updates.append(net.Update(id_ref(n), c, None))
            old = refs.read(repo, id_ref(n))
            after.append(Op("update", id_ref(n), c, old) if old else refs.create(id_ref(n), c))
    if new_tip == ro:
        return None, after
    return net.Update(BRIEFS_REF, new_tip, ro), after
