"""Step 1 of the gate, before anything changes: the dispatch finished, the worker tree is clean,
the merge is computed off to the side (``merge-tree --write-tree``; a conflict is exit 4 with the
paths), incoming paths are checked against local-only files, untracked and ignored files in the
checkout that has the target, and an operation already in progress there. The checkout is
snapshotted, and local edits to incoming paths must re-apply cleanly on top of the merge.
"""

from __future__ import annotations

import os
import re

import flowergit.ops.merge.suite as suite_ops
from flowergit.errors import Conflict, NotFound, UsageError
from flowergit.gitio import history, trees
from flowergit.gitio.repo import Repo
from flowergit.gitio.status import checkout_of, checkout_status, status, worktree_clean
from flowergit.gitio.trees import gitlinks_in, tree_diff, tree_of_commit
from flowergit.ops.context import Ctx
from flowergit.ops.dispatch.outcome import MERGEABLE, describe
from flowergit.ops.merge.checkout import collisions_of, refuse_in_progress, snapshot
from flowergit.ops.merge.local_only import local_only_hits
from flowergit.ops.merge.plan import FINISHED, AlreadyMerged, MergeIo, Plan, merge_message
from flowergit.ops.pending import refuse_if_pending
from flowergit.state import records
from flowergit.state.dispatches import PREFIX as DISPATCH_PREFIX
from flowergit.state.dispatches import DispatchStore, dispatch_name, read_records, record_reads
from flowergit.state.layout import NOTES_REF


def _dispatch_and_tips(repo: Repo, io: MergeIo, brief: int, patterns: list[str]
                       ) -> tuple[records.Head | None, dict[str, str]]:
    """The latest dispatch record of ``brief`` (as :meth:`DispatchStore.latest`) and
    ``refname -> oid`` of the refs ``patterns`` name exactly, from one for-each-ref and the
    merge's batch."""
    tips, found = DispatchStore(repo).list_tips(patterns, prefix=f"{DISPATCH_PREFIX}{brief}/")
    others = {ref: oid for ref, oid in found.items() if ref in patterns}  # exact names only
    heads: list[records.Head] = []
    if tips:
        oids = [oid for _, oid in tips]
        got = io.batch.get_many(record_reads(oids))
        heads = [records.Head(ref, oid, rec)
                 for (ref, oid), rec in zip(tips, read_records(oids, got)) if rec is not None]
    heads.sort(key=lambda h: int(h.record.get("attempt", 0)))
    return (heads[-1] if heads else None), others


_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(/|$)|^[-./]|[/.]$|^@$")


def check_branch_name(ctx: Ctx, name: str) -> str:
    """git's ref-name rules (check-ref-format), checked here without a process."""
    if not name or _BAD_REF.search(name):
        raise UsageError(f"invalid branch name {name!r}",
                         "name a branch such as main or release/2.0")
    return name


def _worker_paths(ctx: Ctx) -> set[str]:
    out = set()
    for h in DispatchStore(ctx.repo).all():
        wt = h.record.get("worktree")
        if isinstance(wt, str) and wt:
            out.add(os.path.realpath(wt))
    return out


def preflight(ctx: Ctx, brief: int, *, into: str | None, no_test: bool, force: bool,
              io: MergeIo | None = None) -> Plan:
    repo = ctx.repo
    io = io or MergeIo(repo)
    refuse_if_pending(ctx)
    target = check_branch_name(ctx, into or ctx.config.target)
    target_ref = "refs/heads/" + target
    # the dispatch records, the target and the notes tip: one for-each-ref, one batch
    head_rec, tips = _dispatch_and_tips(repo, io, brief, [target_ref, NOTES_REF])
    if head_rec is None:
        if ctx.briefs().get(brief).status == "merged":  # NotFound for a brief that does not exist
            raise AlreadyMerged({})
        raise NotFound(f"brief {brief} has no dispatch to merge",
                       f"dispatch it first: `git flower dispatch {brief}`")
    d = head_rec.record
    name = d.get("id") or dispatch_name(brief, int(d.get("attempt", 0)))
    state = d.get("state")
    if state == "merged" or d.get("released_from") == "merged":  # merged, maybe cleaned since
        raise AlreadyMerged(d)
    if state in ("preparing", "queued", "running") or state is None:
        raise Conflict(f"dispatch {name} is still {state}",
                       f"wait for it: `git flower wait {brief}`")
    outcome = d.get("outcome")
    if outcome == "no-changes":
        raise Conflict(f"dispatch {name} made no changes: its agent exited "
                       f"{d.get('exit_code')} without changing anything; there is nothing to merge",
                       f"`git flower logs {brief}` shows what it did; "
                       f"`git flower dispatch {brief} --rework` tries again")
    if state != FINISHED or d.get("exit_code") != 0 or outcome not in (None, *MERGEABLE):
        what = (f"it ended {outcome}: {describe(outcome)}" if outcome not in (None, *MERGEABLE)
                else f"its agent exited with {d.get('exit_code')}" if state == FINISHED
                else f"it is {state}")
        if not force:
            raise Conflict(f"dispatch {name} did not finish cleanly: {what}",
                           f"read its log ({d.get('log') or 'git flower logs ' + name}); "
                           f"`git flower merge {brief} --force` merges its branch anyway")
    branch = d.get("branch")
    io.notes_tip = tips.get(NOTES_REF)
    pre = tips.get(target_ref)
    pre_commit = io.batch.get(pre) if pre else None
    if pre_commit is None or pre_commit[1] != "commit":  # not there, or a ref to a non-commit
        pre = history.commit_of(repo, target_ref)
        pre_commit = io.batch.get(pre) if pre else None
    if pre is None or pre_commit is None:
        raise NotFound(f"target branch {target!r} does not exist",
                       "name an existing branch with --into, or set [flower] target")
    if not isinstance(branch, str) or not branch:
        raise Conflict(f"dispatch {name} names no branch")
    got = io.batch.get(f"refs/heads/{branch}^{{commit}}") if "\n" not in branch else None
    head = got[0] if got is not None and got[1] == "commit" else None
    if head is None:
        raise NotFound(f"the branch of dispatch {name} ({branch}) no longer exists")
    if head == d.get("base"):  # not one commit: never "already contained", never merged
        raise Conflict(f"dispatch {name} made no changes: {branch} has no commit of its own",
                       f"`git flower logs {brief}` shows what its agent did; "
                       f"`git flower dispatch {brief} --rework` tries again")
    pre_tree = tree_of_commit(pre_commit[2])
    wt = d.get("worktree")
    if isinstance(wt, str) and wt and os.path.isdir(wt):
        wst = status(wt)
        dirty = wst.modified + wst.untracked + wst.unmerged
        if dirty:
            shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
            raise Conflict(f"the worker tree of dispatch {name} has uncommitted changes: {shown}",
                           f"commit or discard them in {wt}, then merge again")
    base = d.get("base") if isinstance(d.get("base"), str) else None
    drift = (history.count_commits(repo, f"{base}..{pre}") or 0) if base and base != pre else 0
    suite_argv = None if no_test else suite_ops.command(ctx)
    from flowergit.state.baton import fence_ops

    fence_ops(ctx)  # a daemon that lost the baton stops here, before anything is written
    res = trees.merge_tree(repo, pre, head)
    if res.tree is None:
        raise Conflict(
            f"brief {brief} conflicts with {target} in {len(res.conflicts)} path(s): "
            + ", ".join(res.conflicts),
            f"rework it on top of {target} (`git flower dispatch {brief} --rework`), "
            "or merge it by hand", data={"conflicts": res.conflicts})
    diff = tree_diff(io.batch, pre_tree, res.tree)
    incoming = sorted(diff)
    in_target = {p for p, (old, _new) in diff.items() if old is not None}
    if not incoming and history.is_ancestor(repo, head, pre):
        return Plan(brief, int(d.get("attempt", 0)), d, target, target_ref, pre, head, branch,
                    res.tree, pre, [], drift, None, suite_argv=suite_argv, already=True, io=io)
    local_only = list(ctx.config.get("merge", "local_only"))
    hits = local_only_hits(incoming, local_only)
    if hits:
        raise Conflict(f"brief {brief} modifies local-only file(s) {', '.join(hits)}; refusing",
                       "local-only files ([merge] local_only) are never overwritten; drop that "
                       "change from the branch, or take the file off the list",
                       data={"local_only": hits})
    # the checkout that has the target, if any (its HEAD file says so; no process)
    found = checkout_of(repo, target_ref)
    holder, admin = found if found is not None else (None, None)
    overlap: list[str] = []
    ita: list[str] = []
    snap = None
    if holder is not None:
        main_wt = repo.main_worktree
        if (not main_wt or os.path.realpath(holder.path) != os.path.realpath(main_wt)) \
                and os.path.realpath(holder.path) in _worker_paths(ctx):
            raise Conflict(f"{target} is checked out in a worker worktree ({holder.path})",
                           "check out another branch there first")
        refuse_in_progress(repo, holder.path, admin, f"merge into {target}")
        st = checkout_status(holder.path)
        if st.head != pre:
            raise Conflict(f"{target} moved while brief {brief} was being checked; nothing "
                           "was merged", f"merge again: `git flower merge {brief}`")
        if st.unmerged:
            raise Conflict(f"{holder.path} has unmerged paths: {', '.join(st.unmerged)}",
                           "resolve them first")
        collisions = collisions_of(holder.path, incoming, in_target, st)
        if collisions:
            raise Conflict(
                f"brief {brief} adds {', '.join(collisions)}, which exist(s) untracked or "
                f"ignored in {holder.path}; refusing so they are not overwritten",
                "move those files aside (or commit them), then merge again",
                data={"collisions": collisions})
        if os.path.isfile(os.path.join(holder.path, ".gitmodules")):
            for sub in gitlinks_in(diff):
                full = os.path.join(holder.path, sub)
                if os.path.isdir(full) and os.listdir(full) and not worktree_clean(full):
                    raise Conflict(f"brief {brief} moves submodule {sub}, which has local "
                                   "changes; refusing so they are not lost",
                                   f"commit or set aside the changes in {sub} first")
        overlap = sorted(set(st.modified) & set(incoming))
        ita = sorted(st.ita)
        snap = snapshot(repo, holder.path, local_only, st=st, io=io, head_tree=pre_tree,
                        git_dir=admin)
    merge = io.writer.commit(res.tree, [pre, head], merge_message(brief, name, branch, d))
    if overlap and snap is not None:
        # will the local edits re-apply cleanly on top of the merge? decide before stashing
        local = io.writer.commit(snap[1], [pre], "local changes")
        io.writer.flush()
        check = trees.merge_tree(repo, local, merge)
        if check.tree is None:
            clash = sorted(set(check.conflicts) & set(overlap)) or check.conflicts
            raise Conflict(
                f"your local changes to {', '.join(clash)} conflict with brief {brief}",
                "commit or set those changes aside, then merge again",
                data={"overlap": clash})
    return Plan(brief, int(d.get("attempt", 0)), d, target, target_ref, pre, head, branch,
                res.tree, merge, incoming, drift, holder, overlap, ita, snap,
                holder.path if holder else repo.main_worktree, suite_argv,
                in_target=sorted(in_target), io=io)
