"""What a crash leaves for ``git flower recover``: the journal entry of each step, the anchor
``refs/flower/recovery/<op>`` (a commit keeping the snapshot, target, head and stash), and the
stash the merge made, found by id or by its message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import flowergit.ops.merge.suite as suite_ops
from flowergit.gitio import objects, refs, writes
from flowergit.gitio import stash as gstash
from flowergit.gitio.refs import CasLost
from flowergit.ops.context import Ctx
from flowergit.ops.merge.plan import Plan
from flowergit.state import journal
from flowergit.state.dispatches import dispatch_name
from flowergit.state.layout import recovery_ref

if TYPE_CHECKING:
    from flowergit.state.schema import JournalEntry


def journal_entry(ctx: Ctx, plan: Plan, op: str, phase: str, **more: Any) -> JournalEntry:
    """Write the journal of ``op`` at step ``phase`` (the whole plan, so that ``recover``
    needs nothing else, and ``more``); return it."""
    rec: JournalEntry = {
        "v": 1, "op": op, "phase": phase, "brief": plan.brief,
        "dispatch": dispatch_name(plan.brief, plan.attempt), "target_ref": plan.target_ref,
        "into": plan.target, "pre_target": plan.pre, "head": plan.head, "merge": plan.merge,
        "tree": plan.tree, "incoming": plan.incoming, "overlap": plan.overlap, "ita": plan.ita,
        "worktree": plan.checkout.path if plan.checkout else None,
        "pre_head": plan.pre if plan.checkout else None,
        "index_tree": plan.snapshot[0] if plan.snapshot else None,
        "worktree_tree": plan.snapshot[1] if plan.snapshot else None,
        "local_root": plan.local_root, "owner": journal.owner(),
        "started": suite_ops.utc_now(),
    }
    rec.update(more)  # type: ignore[typeddict-item]  # (the later phases' fields, by name)
    journal.write(ctx.repo, rec)
    return rec


def write_anchor(ctx: Ctx, plan: Plan, op: str, stash: str | None, old: str | None) -> str:
    """``refs/flower/recovery/<op>``: a commit keeping the snapshot, target, head and stash.
    Its objects are written with whatever the merge built so far (merge commit, snapshot trees)
    in one ``unpack-objects``."""
    repo = ctx.repo
    w = plan.io.writer if plan.io is not None else writes.Writer(repo)
    entries = []
    if plan.snapshot:
        entries = [objects.Entry(objects.MODE_TREE, b"index", plan.snapshot[0]),
                   objects.Entry(objects.MODE_TREE, b"worktree", plan.snapshot[1])]
    entries.append(objects.Entry(objects.MODE_TREE, b"merged", plan.tree))
    tree = w.add("tree", objects.format_tree(entries))
    parents = [plan.pre, plan.head, plan.merge] + ([stash] if stash else [])
    commit = w.commit(tree, parents,
                      f"flower recovery {op}: merge of brief {plan.brief} into {plan.target}")
    w.flush()
    refs.transaction(repo, [refs.update(recovery_ref(op), commit, old)], f"flower recovery {op}")
    return commit


def drop_anchor(ctx: Ctx, op: str, known: str | None = None) -> None:
    """Delete ``refs/flower/recovery/<op>`` (by CAS from ``known`` when given); gone already
    is fine."""
    for cur in (known, None):
        cur = cur or refs.read(ctx.repo, recovery_ref(op))
        if cur is None:
            return
        try:
            refs.transaction(ctx.repo, [refs.delete(recovery_ref(op), cur)],
                             f"flower recovery {op}: done")
            return
        except CasLost:
            continue


def stash_message(op: str) -> str:
    return f"git flower merge {op}: local changes"


def our_stash(ctx: Ctx, j: JournalEntry) -> str | None:
    """The stash this merge made: from the journal, or found by its message when a crash came
    between ``git stash push`` and the journal write."""
    stash = j.get("stash")
    if isinstance(stash, str) and stash:
        return stash
    if j.get("worktree") and j.get("overlap") and j.get("phase") in ("landing", "stashed",
                                                                     "landed"):
        return gstash.find(ctx.repo, stash_message(str(j["op"])))
    return None
