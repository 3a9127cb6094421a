"""Step 5 of the gate, everything after the target moved: the stashed local edits re-applied
and dropped by id, intent-to-add entries and local-only files put back, every other path checked
byte for byte against the snapshot, then the closing transaction. Safe to run again: ``recover``
rolls forward here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowergit import failpoints
from flowergit.errors import Conflict, FlowerError
from flowergit.gitio import index, trees
from flowergit.gitio import stash as gstash
from flowergit.gitio.index import matches_rev
from flowergit.ops.context import Ctx
from flowergit.ops.merge.anchor import our_stash
from flowergit.ops.merge.checkout import snapshot
from flowergit.ops.merge.local_only import restore_journalled
from flowergit.ops.merge.plan import MergeIo
from flowergit.ops.merge.provenance import close_landed
from flowergit.state import journal

if TYPE_CHECKING:
    from flowergit.state.schema import JournalEntry, NoteLine


def rollback_stash(ctx: Ctx, wt: str | None, stash: str | None,
                   ita: list[str] | None = None, overlap: list[str] | None = None) -> None:
    """The target did not move: re-apply the stash of local edits and drop it by id, and put
    the intent-to-add entries back."""
    if wt and stash:
        ok, _ = gstash.apply(wt, stash, overlap or [])
        if ok:
            gstash.drop(ctx.repo, stash)
    if wt and ita:
        index.restore_intent_to_add(wt, ita)


def finish_landed(ctx: Ctx, j: JournalEntry, io: MergeIo | None = None) -> dict[str, Any]:
    """Everything after the target moved; safe to run again (``recover`` rolls forward here)."""
    repo, op = ctx.repo, j["op"]
    wt = j.get("worktree")
    stash = our_stash(ctx, j)
    warnings: list[str] = []
    if wt and stash and stash in gstash.entries(repo):
        # applied already (a crash between apply and drop)? then the files differ from the merge
        overlap = list(j.get("overlap") or [])
        clean = matches_rev(wt, j["merge"], overlap)
        if clean:
            ok, with_index = gstash.apply(wt, stash, list(j.get("overlap") or []))
            if not ok:
                raise Conflict(f"could not re-apply your local changes (stash {stash})",
                               f"they are safe in stash {stash} and refs/flower/recovery/{op}; "
                               f"apply them with `git stash apply {stash}`")
            if not with_index:
                warnings.append("your staged changes to overlapping files came back unstaged")
        failpoints.hit("after_pop_before_drop")
        gstash.drop(repo, stash)
    if wt and j.get("ita"):
        index.restore_intent_to_add(wt, list(j["ita"]))
    warnings += restore_journalled(j.get("local_root"), j.get("local_only"))
    before_wt, before_index = j.get("worktree_tree"), j.get("index_tree")
    if wt and before_wt and before_index and (stash or j.get("ita")):
        # our own restore ran (stash, intent-to-add): check every other path byte for byte.
        # Without it the checkout only saw git's two-way update, which keeps local changes.
        _verify_kept(ctx, j["op"], wt, before_wt, before_index, set(j.get("incoming") or []),
                     [i["path"] for i in j.get("local_only") or []])
    note = j["note"]
    lines: dict[str, list[NoteLine]] = {j["merge"]: [note]}
    attest = j.get("suite_note")
    if isinstance(attest, dict) and isinstance(attest.get("tree"), str):
        lines[attest["tree"]] = [attest]  # the suite's attestation, in the same notes commit
    released = close_landed(ctx, j, lines, io)
    failpoints.hit("after_notes_write")
    journal.remove(repo, j["op"])
    return {"brief": j["brief"], "dispatch": j["dispatch"], "status": "merged",
            "merge": j["merge"], "into": j["into"], "tree": j["tree"], "suite": note.get("suite"),
            "released": released, "warnings": warnings, "stashed": bool(stash)}


def _verify_kept(ctx: Ctx, op: str, wt: str, before_wt: str, before_index: str,
                 incoming: set[str], local_only: list[str]) -> None:
    """Every path the merge did not bring in must be byte-identical to the snapshot (the trees
    ``before_wt`` and ``before_index`` the journal names)."""
    repo = ctx.repo
    index_tree, wt_tree = snapshot(repo, wt, local_only)  # as the journal's was made
    changed = set(trees.changed_paths(repo, before_wt, wt_tree))
    staged = set(trees.changed_paths(repo, before_index, index_tree))
    lost = sorted((changed | staged) - incoming)
    if lost:
        lost = index.same_bytes(repo, wt, before_wt, lost) + sorted(
            staged - incoming)
        lost = sorted(set(lost))
    if lost:
        raise FlowerError(
            f"after the merge, local path(s) differ from before: {', '.join(lost[:10])}",
            f"your pre-merge state is kept in refs/flower/recovery/{op} "
            f"(tree 'worktree'); compare with `git diff refs/flower/recovery/{op}:worktree`")
