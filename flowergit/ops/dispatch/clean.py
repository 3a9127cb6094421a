"""`git flower clean [N] [--merged]`: remove ended attempts' worktrees and branches.

An attempt is removed only when nothing of it would be lost: its agent has ended, its branch
holds no commit the target lacks, its worktree has no uncommitted change and no operation
(rebase, bisect, …) in progress. Each refusal names the reason and the fix.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from flowergit.errors import Conflict, FlowerError, NotFound
from flowergit.gitio import refs
from flowergit.gitio.repo import Repo
from flowergit.gitio.runner import GitError
from flowergit.ops.context import Ctx
from flowergit.ops.dispatch.liveness import alive, view_state
from flowergit.ops.dispatch.paths import now_iso, our_branch, ready_path, spec_path
from flowergit.ops.dispatch.scheduler import all_dispatches
from flowergit.ops.dispatch.workers import LIVE_VIEW, parse_target
from flowergit.ops.dispatch.worktree import forget_worktree, worktrees
from flowergit.procs.locks import exclusive
from flowergit.state import records
from flowergit.state.dispatches import DispatchStore
from flowergit.state.ids import brief_id, is_brief_id


def _dirty(repo: Repo, path: str) -> list[str]:
    from flowergit.gitio import status as gstatus

    try:
        got = gstatus.status_records(repo, path, lock_free=True, every_submodule=True)
    except GitError as e:
        return ["(git status failed: " + e.err.strip() + ")"]
    return [e[3:].decode("utf-8", "replace") for e in got if len(e) > 3]


def _in_progress(repo: Repo, path: str) -> list[tuple[str, str, str]]:
    """The operations (rebase, bisect, …) in progress in a worker worktree: its branch is
    theirs until they end, so clean leaves both alone."""
    from flowergit.gitio import status as gstatus

    if not path or not os.path.isdir(path):
        return []
    try:
        git_dir = gstatus.worktree_git_dir(path, repo)
        return gstatus.operations(git_dir, git_dir)
    except GitError:
        return []


def _clean_one(ctx: Ctx, heads: list[records.Head], wts: dict[str, Any], target_oid: str | None,
               *, merged_only: bool) -> dict[str, Any]:
    from flowergit.gitio import worktrees as gitwt

    repo = ctx.repo
    latest = heads[-1].record
    b = int(latest["brief"])
    did = str(latest["id"])
    branch = our_branch(b, latest.get("branch")) or ""
    res: dict[str, Any] = {"id": did, "brief": b, "branch": branch,
                           "worktree": latest.get("worktree"), "removed": False}
    for h in heads:
        st = view_state(h.record)
        if st in LIVE_VIEW or alive(h.record.get("proc")):
            res["reason"] = f"dispatch {h.record['id']} is {st}: its agent is alive"
            res["hint"] = f"`git flower stop {b}` first, or wait for it"
            return res
    if merged_only and latest.get("state") != "merged":
        res["reason"] = "not merged"
        return res
    ref = f"refs/heads/{branch}"
    tip = refs.read(repo, ref) if branch else None
    if tip is not None:
        if target_oid is None:
            res["reason"] = f"the target branch {latest.get('target')} does not exist"
            return res
        from flowergit.gitio import history

        if not history.is_ancestor(repo, tip, target_oid):
            n = history.count_commits(repo, f"{target_oid}..{tip}")
            res["reason"] = (f"{branch} holds {'' if n is None else n} commit(s) not on "
                             f"{latest.get('target')}")
            res["hint"] = f"merge it first (`git flower merge {b}`), or remove it by hand"
            return res
    wt = wts.get(ref)
    path = wt.path if wt is not None else str(latest.get("worktree") or "")
    busy = _in_progress(repo, path)
    if busy:
        res["reason"] = f"{busy[0][1]} is in progress in {path}"
        res["hint"] = f"{busy[0][2]} in {path} first"
        return res
    if wt is not None and os.path.isdir(wt.path):
        dirty = _dirty(repo, wt.path)
        if dirty:
            res["reason"] = f"{wt.path} has uncommitted changes ({', '.join(dirty[:3])}" \
                + (", …" if len(dirty) > 3 else "") + ")"
            res["hint"] = "commit or discard them in that worktree first"
            return res
        holder_ours = (wt.locked or "").startswith("git flower dispatch") or \
            os.path.realpath(wt.path) == os.path.realpath(path)
        if not holder_ours:
            res["reason"] = f"{branch} is checked out at {wt.path}, which git flower did not make"
            return res
        if wt.locked is not None:
            gitwt.unlock(repo, wt.path)
        try:
            gitwt.remove(repo, wt.path, force=0, check=True)
        except GitError as e:
            gitwt.lock(repo, wt.path, f"git flower dispatch {did}", check=False)
            res["reason"] = f"git refused to remove {wt.path}: {e.err.strip().splitlines()[-1]}"
            return res
    elif wt is not None:
        forget_worktree(repo, wt.path, wt.locked is not None)
    gitwt.prune(repo)
    if os.path.isdir(path) and wt is not None:
        res["reason"] = f"{path} is still there after removal"
        return res
    if tip is not None:
        try:
            refs.transaction(repo, [refs.delete(ref, tip)], f"git flower clean {b}")
        except refs.CasLost:
            res["reason"] = f"{branch} moved while cleaning; kept"
            return res
        except FlowerError as e:
            res["reason"] = f"could not delete {branch}: {e.message}"
            return res
    stamp = now_iso()
    store = DispatchStore(repo)
    for h in heads:
        if h.record.get("state") != "released":
            store.update(int(h.record["brief"]), int(h.record["attempt"]),
                         lambda r: {**r, "state": "released", "released_at": stamp,
                                    "released_from": r.get("state")}, "released")
        for leftover in (spec_path(repo, str(h.record["id"])), ready_path(repo, str(h.record["id"]))):
            with contextlib.suppress(OSError):
                os.unlink(leftover)
    res["removed"] = True
    return res


def clean(ctx: Ctx, target: str | None = None, *, merged: bool = False) -> list[dict[str, Any]]:
    """Remove finished dispatches' worktrees and branches, never unmerged work or a live agent.

    With a target, a refusal is an error (exit 4); without one, every brief with a finished
    dispatch is tried and refusals are reported as skipped."""
    repo = ctx.repo
    store = DispatchStore(repo)
    groups_: dict[int, list[records.Head]] = {}
    if target is not None:
        if not is_brief_id(target.lstrip("#")):
            b, _ = parse_target(target)
        else:
            b = brief_id(target)
        heads = store.attempts(b)
        if not heads:
            raise NotFound(f"brief {b} has no dispatch to clean")
        groups_[b] = heads
    else:
        for h in all_dispatches(repo):
            groups_.setdefault(int(h.record.get("brief", 0)), []).append(h)
        groups_ = {b: hs for b, hs in groups_.items()
                   if any(h.record.get("state") != "released" for h in hs)}
    if not groups_:
        return []
    with releasing(repo):  # a landed merge's background release finishes first
        return _clean_groups(ctx, groups_, target, merged)


def releasing(repo: Repo, wait: float = 120.0) -> exclusive:
    """The lock a merge's background release of a worker worktree holds while it works
    (``ops/merge/provenance.py``); ``clean`` takes it too, so the two never remove one
    checkout at once."""
    from flowergit.errors import Retry

    return exclusive(repo.state_path("release.mutex"), wait=wait, poll=0.05,
                     busy=lambda: Retry("a merge is still releasing a worker worktree",
                                        "retry in a moment"))


def _clean_groups(ctx: Ctx, groups_: dict[int, list[records.Head]], target: str | None,
                  merged: bool) -> list[dict[str, Any]]:
    repo = ctx.repo
    wts = {wt.branch: wt for wt in worktrees(repo) if wt.branch}
    tcache: dict[str, str | None] = {}
    out = []
    for b, heads in sorted(groups_.items()):
        heads.sort(key=lambda h: int(h.record.get("attempt", 0)))
        tname = str(heads[-1].record.get("target") or ctx.config.target)
        if tname not in tcache:
            tcache[tname] = refs.read(repo, f"refs/heads/{tname}")
        out.append(_clean_one(ctx, heads, wts, tcache[tname], merged_only=merged))
    if target is not None and not out[0]["removed"]:
        raise Conflict(f"not cleaning brief {out[0]['brief']}: {out[0]['reason']}",
                       out[0].get("hint") or "`git flower ps` shows its state", data=out)
    return out
