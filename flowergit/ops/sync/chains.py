"""Reconciling the record refs (ids, claims, signals, dispatches, daemons, baton) with a remote.

A ref on one side only is copied, or deleted when a tombstone (``state/tombstones.py``) of
either side names exactly the value it has: a ref that is merely missing is never read as a
deletion (a remote recreated or rewound would otherwise delete local state); a chain that extends the other side's is pushed or fast-forwarded; two
different chains: the remote wins, and the local one is kept under ``refs/flower/lost/…`` and
reported — except a daemon's record, whose heartbeats are sibling commits: the newer record
(retired, else more beats) wins there (:func:`newer_daemon`).
"""

from __future__ import annotations

from flowergit.gitio import refs
from flowergit.gitio import remote as net
from flowergit.gitio.history import is_ancestor
from flowergit.gitio.refs import Op
from flowergit.gitio.repo import Repo
from flowergit.ops.context import Ctx
from flowergit.ops.sync.claims import describe
from flowergit.ops.sync.model import Report, lost_ref, read_head, syncable
from flowergit.ops.sync.setup import tracking_ref
from flowergit.state import tombstones
from flowergit.state.layout import FLOWER_REFS, id_ref
from flowergit.state.tombstones import TOMBS_REF


def reconcile_records(ctx: Ctx, remote: str, state: dict[str, str],
                      report: Report) -> tuple[list[Op], list[net.Update]]:
    """The local ref writes and the pushes that make both sides agree on the record refs and
    their tombstones."""
    repo = ctx.repo
    listed = refs.list_refs(repo, FLOWER_REFS)
    local = {n: o for n, o in listed.items() if syncable(n)}
    rem = {n: o for n, o in state.items() if n.startswith(FLOWER_REFS) and n != TOMBS_REF}
    ops: list[Op] = []
    pushes: list[net.Update] = []
    lt, rt = listed.get(TOMBS_REF), state.get(TOMBS_REF)
    joined = tombstones.union(repo, lt, rt)
    if joined is not None and joined != lt:
        ops.append(refs.update(TOMBS_REF, joined, lt))
    if joined is not None and joined != rt:
        pushes.append(net.Update(TOMBS_REF, joined, rt))
    dead = tombstones.read(repo, joined)
    ours_kept = {id_ref(int(r["was"])) for r in report.renumbered if r.get("which") == "theirs"}
    for name in sorted(set(local) | set(rem)):
        lo, ro = local.get(name), rem.get(name)
        if lo == ro:
            continue
        if lo is None:
            assert ro is not None
            if (name, ro) in dead:
                pushes.append(net.Update(name, None, ro))  # deleted here on purpose
                report.deleted_remote.append(name)
            else:
                ops.append(refs.create(name, ro))
                report.fetched.append(name)
            continue
        if ro is None:
            if (name, lo) in dead:
                ops.append(refs.delete(name, lo))  # deleted there on purpose
                report.deleted_local.append(name)
            else:
                pushes.append(net.Update(name, lo, None))
            continue
        if is_ancestor(repo, ro, lo):
            pushes.append(net.Update(name, lo, ro))
        elif is_ancestor(repo, lo, ro):
            ops.append(refs.update(name, ro, lo))
            report.fetched.append(name)
        elif name in ours_kept:  # a published id of ours that keeps its number (replay moved theirs)
            pushes.append(net.Update(name, lo, ro))
        elif name.startswith(DAEMONS) and (newer := newer_daemon(repo, remote, name)) is not None:
            # beats are siblings on their anchor, not a chain: the newer record wins
            if newer == "ours":
                pushes.append(net.Update(name, lo, ro))
            else:
                ops.append(refs.update(name, ro, lo))
                report.fetched.append(name)
        else:
            # two different histories: the remote is the arbiter; keep ours, say so
            kept = lost_ref(name, lo)
            ops.append(Op("update", kept, lo, None))
            ops.append(refs.update(name, ro, lo))
            mine, theirs = read_head(repo, name), read_head(repo, tracking_ref(remote, name))
            entry = {"ref": name, "kept": kept, "ours": lo, "theirs": ro,
                     "holder": describe(theirs.record if theirs else None),
                     "our_record": mine.record if mine else None}
            report.lost.append(entry)
    return ops, pushes


DAEMONS = FLOWER_REFS + "daemons/"


def newer_daemon(repo: Repo, remote: str, name: str) -> str | None:
    """Which of two daemon records is newer, "ours" or "theirs" (None: cannot tell). A daemon
    writes its heartbeat as a commit beside the last one, on the same anchor, so two clones'
    views of one daemon are siblings rather than a chain: a retired record wins over a live one,
    else the one with more beats; a tie leaves it to the usual rule (the remote wins)."""
    mine, theirs = read_head(repo, name), read_head(repo, tracking_ref(remote, name))
    if mine is None or theirs is None:
        return None
    a, b = mine.record, theirs.record
    ra, rb = a.get("state") == "retired", b.get("state") == "retired"
    if ra != rb:
        return "ours" if ra else "theirs"
    try:
        ba, bb = int(a.get("beat") or 0), int(b.get("beat") or 0)
    except (TypeError, ValueError):
        return None
    if ba == bb:
        return None
    return "ours" if ba > bb else "theirs"
