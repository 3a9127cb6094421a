"""`git flower recover`: finish or undo a merge that a crash (SIGKILL, power loss) interrupted.

Each interrupted merge left a journal (``$common/flower/journal/<op>.json``) and an anchor at
``refs/flower/recovery/<op>``. If the target ref already points at the merge commit, the merge
landed: recovery rolls forward (re-applies the stash by id, writes the provenance note, marks the
brief). Otherwise it rolls back: the checkout returns to the pre-merge tip by a two-way update,
the stash is re-applied by id (never ``stash@{0}``, never a foreign one), local-only files are
restored byte for byte, and the result is checked against the snapshot. Running it twice is
harmless: a finished recovery leaves no journal.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from flowergit.errors import Conflict, FlowerError
from flowergit.gitio import index, refs, scratch, trees
from flowergit.gitio import stash as gstash
from flowergit.ops.context import Ctx
from flowergit.ops.merge.anchor import drop_anchor, our_stash
from flowergit.ops.merge.checkout import snapshot
from flowergit.ops.merge.gate import deferred_sigint
from flowergit.ops.merge.landed import finish_landed
from flowergit.ops.merge.local_only import restore_journalled
from flowergit.ops.merge.provenance import record_attestation
from flowergit.ops.pending import interrupted
from flowergit.state import journal
from flowergit.state.layout import recovery_ref

if TYPE_CHECKING:
    from flowergit.state.schema import JournalEntry


def recover(ctx: Ctx) -> list[dict[str, Any]]:
    out = []
    for j in interrupted(ctx):
        with deferred_sigint():
            out.append(recover_one(ctx, j))
    journal.sweep(ctx.repo)  # backups no journal names any more: nothing is left behind
    return out


def _stop_suite(j: JournalEntry) -> None:
    from flowergit.procs import groups, identity

    ident = j.get("suite_pid")
    if isinstance(ident, dict) and identity.is_alive(ident):
        groups.kill_tree(int(ident["pid"]), grace=2.0)
    elif isinstance(ident, dict):
        pid = int(ident.get("pid", 0))
        if pid and groups.group_alive(pid):
            groups.kill_tree(pid, grace=2.0)


def recover_one(ctx: Ctx, j: JournalEntry) -> dict[str, Any]:
    repo = ctx.repo
    op = str(j["op"])
    _stop_suite(j)
    scratch_dir = j.get("scratch")
    if isinstance(scratch_dir, str) and scratch_dir.startswith(repo.state_dir):
        scratch.remove(repo, scratch_dir)
    now = refs.read(repo, j["target_ref"])
    if now == j["merge"] and j.get("phase") in ("landing", "stashed", "landed") and j.get("note"):
        res = finish_landed(ctx, j)
        return {"op": op, "brief": j["brief"], "action": "finished", "merge": j["merge"],
                "warnings": res.get("warnings", [])}
    wt = j.get("worktree")
    warnings: list[str] = []
    if wt and j.get("phase") in ("landing", "stashed", "landed") and os.path.isdir(wt):
        stash = our_stash(ctx, j)
        stashed = bool(stash and stash in gstash.entries(repo))
        _undo_checkout(ctx, j, wt, stashed)
        if stash and stashed:
            overlap = list(j.get("overlap") or [])
            if _overlap_restored(ctx, j, wt, overlap):
                gstash.drop(repo, stash)
            else:
                ok, with_index = gstash.apply(wt, stash, list(j.get("overlap") or []))
                if not ok:
                    raise Conflict(f"could not re-apply stash {stash} in {wt}",
                                   f"it is kept; apply it by hand with `git stash apply {stash}`")
                if not with_index:
                    warnings.append("staged changes to overlapping files came back unstaged")
                gstash.drop(repo, stash)
    if wt and j.get("ita") and os.path.isdir(wt):
        index.restore_intent_to_add(wt, list(j["ita"]))
    warnings += restore_journalled(j.get("local_root"), j.get("local_only"))
    before_wt, before_index = j.get("worktree_tree"), j.get("index_tree")
    if wt and before_wt and before_index and os.path.isdir(wt):
        local_only = [i["path"] for i in j.get("local_only") or []]
        index_tree, wt_tree = snapshot(repo, wt, local_only)  # as the journal's was made
        diff = set(trees.changed_paths(repo, before_wt, wt_tree))
        diff |= set(trees.changed_paths(repo, before_index, index_tree))
        if diff:
            raise FlowerError(
                f"recovered, but {len(diff)} path(s) differ from before the merge: "
                + ", ".join(sorted(diff)[:10]),
                f"the pre-merge state is kept at {recovery_ref(op)} (trees 'index' and "
                f"'worktree'); `git diff {recovery_ref(op)}:worktree` shows the difference")
    attest = j.get("suite_note")
    if isinstance(attest, dict) and isinstance(attest.get("tree"), str):
        record_attestation(ctx, attest)  # the suite did pass on that tree
    drop_anchor(ctx, op)
    journal.remove(repo, op)
    return {"op": op, "brief": j["brief"], "action": "rolled back", "warnings": warnings}


def _undo_checkout(ctx: Ctx, j: JournalEntry, wt: str, stashed: bool) -> None:
    """The checkout was possibly moved to the merge but the target was not: move it back.

    The local edits to overlapping paths are stashed before the checkout moves; while no stash
    of this merge exists (``stashed`` False) those paths may still hold them, so they are
    neither compared with the pre-merge tip nor written from the index here."""
    overlap = set(j.get("overlap") or [])
    incoming = list(j.get("incoming") or [])
    pre, merge = j["pre_target"], j["merge"]
    in_index = index.index_entries(wt, incoming)
    at_merge = trees.tree_entries(ctx.repo, merge, incoming)
    at_pre = trees.tree_entries(ctx.repo, pre, incoming)
    if in_index == at_merge and in_index != at_pre:
        index.two_way_update(wt, merge, pre)  # moved (git keeps any local edit or refuses)
        return
    if overlap and not stashed:
        incoming = [p for p in incoming if p not in overlap]
        in_index = {p: v for p, v in in_index.items() if p not in overlap}
        at_pre = {p: v for p, v in at_pre.items() if p not in overlap}
    if in_index == at_pre and index.matches_rev(wt, pre, incoming):
        return  # never moved
    if in_index == at_merge:
        index.two_way_update(wt, merge, pre)
        return
    # the index is still at the pre-merge tip but files were half written: those paths were
    # clean before (the two-way update refuses otherwise), so write them from the index again
    present = [p for p in incoming if p in in_index]
    index.checkout_index(wt, present)
    for p in incoming:
        if p not in in_index:
            full = os.path.join(wt, p)
            if os.path.lexists(full) and not os.path.isdir(full):
                os.unlink(full)


def _overlap_restored(ctx: Ctx, j: JournalEntry, wt: str, overlap: list[str]) -> bool:
    """Are the stashed paths already back (a crash between apply and drop)?"""
    before = j.get("worktree_tree")
    if not overlap or not before:
        return True
    local_only = [i["path"] for i in j.get("local_only") or []]
    _, wt_tree = snapshot(ctx.repo, wt, local_only)
    return not (set(trees.changed_paths(ctx.repo, before, wt_tree)) & set(overlap))


__all__ = ["recover", "recover_one"]
