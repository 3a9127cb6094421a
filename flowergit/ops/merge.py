"""`git flower merge [N]`: the merge gate.

1. Preflight, before anything changes: the dispatch finished, the worker tree is clean, the
   merge is computed off to the side (``merge-tree --write-tree``; a conflict is exit 4 with the
   paths), incoming paths are checked against local-only files, untracked and ignored files in
   the checkout that has the target, and an operation already in progress there.
2. A byte-for-byte backup of every local-only file, a snapshot of the user's checkout (index and
   every file) anchored at ``refs/flower/recovery/<op>``, and a journal.
3. The suite on exactly the merged tree, in a scratch worktree (or a passing attestation of that
   tree). Red: exit 5, nothing moved.
4. Landing, with Ctrl-C deferred: local edits that overlap incoming paths are stashed (by commit
   id), the checkout is moved by a two-way update that keeps local changes and the index, the
   target ref is moved by CAS (fenced by the baton when one is held), the stash is re-applied,
   verified and dropped by id; local-only files are verified byte for byte.
5. Provenance note, brief ``merged``, dispatch ``merged``, worker worktree released.

A SIGKILL at any step leaves a journal; ``git flower recover`` finishes or undoes the merge.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flowergit import failpoints
from flowergit.errors import Conflict, FlowerError, Interrupted, NotFound, TestsFailed, UsageError
from flowergit.gitio import merge as gm
from flowergit.gitio import objects, refs
from flowergit.gitio import stash as gstash
from flowergit.gitio.refs import CasLost
from flowergit.gitio.runner import GitError
from flowergit.gitio.worktrees import Worktree, list_worktrees
from flowergit.ops import recover as rec_ops
from flowergit.ops import suite as suite_ops
from flowergit.ops.context import Ctx
from flowergit.procs import groups
from flowergit.state import journal, notes, records
from flowergit.state.dispatches import DispatchStore, dispatch_name
from flowergit.state.layout import dispatch_ref, recovery_ref

FINISHED = "exited"


# -- Ctrl-C deferral -----------------------------------------------------------------------------
@contextmanager
def deferred_sigint() -> Iterator[list[bool]]:
    """Block SIGINT (git children inherit the mask) until the block ends; then, if one came,
    raise :class:`Interrupted` (exit 130). The yielded flag list lets callers finish first."""
    got: list[bool] = []
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    except (ValueError, OSError):  # not the main thread: nothing to defer
        yield got
        return
    try:
        yield got
    finally:
        if signal.SIGINT in signal.sigpending():
            got.append(True)
            while signal.sigtimedwait({signal.SIGINT}, 0) is not None:
                pass
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if got:
        raise Interrupted("interrupted; the merge was finished first so nothing is half done",
                          "check the result with `git flower why HEAD` and `git status`")


# -- local-only files ----------------------------------------------------------------------------
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def local_only_hits(paths: list[str], local_only: list[str]) -> list[str]:
    out = []
    for p in paths:
        for lo in local_only:
            lo = lo.rstrip("/")
            if p == lo or p.startswith(lo + "/") or lo.startswith(p + "/"):
                out.append(p)
                break
    return sorted(set(out))


def backup_local_only(repo_state: Any, op: str, root: str, local_only: list[str]) -> list[dict[str, Any]]:
    """Copy every local-only file (tracked, untracked, ignored) by content; return the manifest."""
    d = journal.backup_dir(repo_state, op)
    os.makedirs(d, exist_ok=True)
    out = []
    for i, p in enumerate(local_only):
        full = os.path.join(root, p)
        item: dict[str, Any] = {"path": p, "present": False}
        if os.path.islink(full):
            target = os.readlink(full)
            item.update(present=True, link=target, sha256=_sha(target.encode("utf-8", "surrogateescape")))
        elif os.path.isfile(full):
            with open(full, "rb") as f:
                data = f.read()
            copy = os.path.join(d, str(i))
            with open(copy, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            item.update(present=True, sha256=_sha(data), mode=os.stat(full).st_mode & 0o7777,
                        copy=copy)
        out.append(item)
    return out


def restore_local_only(root: str, manifest: list[dict[str, Any]]) -> list[str]:
    """Put back every local-only file whose bytes changed; return the paths restored."""
    fixed = []
    for item in manifest:
        full = os.path.join(root, item["path"])
        if not item.get("present"):
            continue
        if "link" in item:
            if os.path.islink(full) and os.readlink(full) == item["link"]:
                continue
            if os.path.lexists(full) and not os.path.isdir(full):
                os.unlink(full)
            os.symlink(item["link"], full)
            fixed.append(item["path"])
            continue
        cur = None
        if os.path.isfile(full) and not os.path.islink(full):
            with open(full, "rb") as f:
                cur = f.read()
        if cur is not None and _sha(cur) == item["sha256"] \
                and (os.stat(full).st_mode & 0o7777) == item.get("mode", 0o644):
            continue
        with open(item["copy"], "rb") as f:
            data = f.read()
        if _sha(data) != item["sha256"]:
            raise FlowerError(f"the backup of local-only file {item['path']} is damaged",
                              f"it was kept in {item['copy']}")
        os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
        tmp = full + ".flower-restore"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, item.get("mode", 0o644))
        if os.path.islink(full):
            os.unlink(full)
        os.replace(tmp, full)
        fixed.append(item["path"])
    return fixed


# -- preflight -----------------------------------------------------------------------------------
@dataclass
class Plan:
    brief: int
    attempt: int
    dispatch: dict[str, Any]
    target: str
    target_ref: str
    pre: str
    head: str
    branch: str
    tree: str
    merge: str
    incoming: list[str]
    drift: int
    checkout: Worktree | None
    overlap: list[str] = field(default_factory=list)
    ita: list[str] = field(default_factory=list)
    snapshot: tuple[str, str] | None = None  # (index tree, worktree tree) of the checkout
    local_root: str | None = None
    suite_argv: list[str] | None = None
    already: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "brief": self.brief, "dispatch": dispatch_name(self.brief, self.attempt),
            "branch": self.branch, "head": self.head, "into": self.target, "target": self.pre,
            "tree": self.tree, "merge": self.merge, "incoming": self.incoming,
            "base_drift": self.drift, "checkout": self.checkout.path if self.checkout else None,
            "stash_paths": self.overlap, "suite": self.suite_argv,
        }


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


def preflight(ctx: Ctx, brief: int, *, into: str | None, no_test: bool, force: bool) -> Plan:
    repo = ctx.repo
    rec_ops.refuse_if_pending(ctx)
    target = check_branch_name(ctx, into or ctx.config.target)
    store = DispatchStore(repo)
    head_rec = store.latest(brief)
    if head_rec is None:
        ctx.briefs().get(brief)  # NotFound for a brief that does not exist
        raise NotFound(f"brief {brief} has no dispatch to merge",
                       f"dispatch it first: `git flower dispatch {brief}`")
    d = head_rec.record
    name = d.get("id") or dispatch_name(brief, int(d.get("attempt", 0)))
    state = d.get("state")
    if state == "merged":
        raise _AlreadyMerged(d)
    if state in ("preparing", "queued", "running") or state is None:
        raise Conflict(f"dispatch {name} is still {state}",
                       f"wait for it: `git flower wait {brief}`")
    if state != FINISHED or d.get("exit_code") != 0:
        what = (f"its agent exited with {d.get('exit_code')}" if state == FINISHED
                else f"it is {state}")
        if not force:
            raise Conflict(f"dispatch {name} did not finish cleanly: {what}",
                           f"read its log ({d.get('log') or 'git flower logs ' + name}); "
                           f"`git flower merge {brief} --force` merges its branch anyway")
    target_ref = "refs/heads/" + target
    branch = d.get("branch")
    # the target and the branch tip in one process
    if isinstance(branch, str) and branch:
        pre, head = gm.commits_of(repo, [target_ref, "refs/heads/" + branch])
    else:
        pre, head = gm.commit_of(repo, target_ref), None
    if pre is None:
        raise NotFound(f"target branch {target!r} does not exist",
                       "name an existing branch with --into, or set [flower] target")
    if not isinstance(branch, str) or not branch:
        raise Conflict(f"dispatch {name} names no branch")
    if head is None:
        raise NotFound(f"the branch of dispatch {name} ({branch}) no longer exists")
    wt = d.get("worktree")
    if isinstance(wt, str) and wt and os.path.isdir(wt):
        st = gm.status(wt)
        dirty = st.modified + st.untracked + st.unmerged
        if dirty:
            shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
            raise Conflict(f"the worker tree of dispatch {name} has uncommitted changes: {shown}",
                           f"commit or discard them in {wt}, then merge again")
    base = d.get("base") if isinstance(d.get("base"), str) else None
    drift = gm.count_commits(repo, f"{base}..{pre}") if base and base != pre else 0
    suite_argv = None if no_test else suite_ops.command(ctx)
    from flowergit.state.baton import fence_ops

    fence_ops(ctx)  # a daemon that lost the baton stops here, before anything is written
    res = gm.merge_tree(repo, pre, head)
    if res.tree is None:
        raise Conflict(
            f"brief {brief} conflicts with {target} in {len(res.conflicts)} path(s): "
            + ", ".join(res.conflicts),
            f"rework it on top of {target} (`git flower dispatch {brief} --rework`), "
            "or merge it by hand", data={"conflicts": res.conflicts})
    incoming = gm.changed_paths(repo, pre, res.tree)
    if not incoming and gm.is_ancestor(repo, head, pre):
        return Plan(brief, int(d.get("attempt", 0)), d, target, target_ref, pre, head, branch,
                    res.tree, pre, [], drift, None, suite_argv=suite_argv, already=True)
    local_only = list(ctx.config.get("merge", "local_only"))
    hits = local_only_hits(incoming, local_only)
    if hits:
        raise Conflict(f"brief {brief} modifies local-only file(s) {', '.join(hits)}; refusing",
                       "local-only files ([merge] local_only) are never overwritten; drop that "
                       "change from the branch, or take the file off the list",
                       data={"local_only": hits})
    # the checkout that has the target, if any
    holder = next((w for w in list_worktrees(repo) if w.branch == target_ref), None)
    overlap: list[str] = []
    ita: list[str] = []
    snap = None
    if holder is not None:
        main_wt = repo.main_worktree
        if (not main_wt or os.path.realpath(holder.path) != os.path.realpath(main_wt)) \
                and os.path.realpath(holder.path) in _worker_paths(ctx):
            raise Conflict(f"{target} is checked out in a worker worktree ({holder.path})",
                           "check out another branch there first")
        busy = gm.special_state(gm.worktree_git_dir(holder.path, repo), repo.common_dir)
        if busy:
            raise Conflict(f"an operation is in progress in {holder.path} ({', '.join(busy)})",
                           "finish or abort it (`git merge --abort`, `git notes merge --abort`, "
                           "…) first")
        collisions = _collisions(holder.path, incoming)
        if collisions:
            raise Conflict(
                f"brief {brief} adds {', '.join(collisions)}, which exist(s) untracked or "
                f"ignored in {holder.path}; refusing so they are not overwritten",
                "move those files aside (or commit them), then merge again",
                data={"collisions": collisions})
        if os.path.isfile(os.path.join(holder.path, ".gitmodules")):
            for sub in gm.changed_gitlinks(repo, pre, res.tree):
                full = os.path.join(holder.path, sub)
                if os.path.isdir(full) and os.listdir(full) and not gm.worktree_clean(full):
                    raise Conflict(f"brief {brief} moves submodule {sub}, which has local "
                                   "changes; refusing so they are not lost",
                                   f"commit or set aside the changes in {sub} first")
        st = gm.status(holder.path)
        if st.unmerged:
            raise Conflict(f"{holder.path} has unmerged paths: {', '.join(st.unmerged)}",
                           "resolve them first")
        overlap = sorted(set(st.modified) & set(incoming))
        ita = sorted(st.ita)
        snap = gm.snapshot_trees(repo, holder.path, local_only)
    merge = objects.commit(repo, res.tree, [pre, head], merge_message(brief, name, branch, d))
    if overlap and snap is not None:
        # will the local edits re-apply cleanly on top of the merge? decide before stashing
        local = objects.commit(repo, snap[1], [pre], "local changes")
        check = gm.merge_tree(repo, local, merge)
        if check.tree is None:
            clash = sorted(set(check.conflicts) & set(overlap)) or check.conflicts
            raise Conflict(
                f"your local changes to {', '.join(clash)} conflict with brief {brief}",
                "commit or set those changes aside, then merge again",
                data={"overlap": clash})
    return Plan(brief, int(d.get("attempt", 0)), d, target, target_ref, pre, head, branch,
                res.tree, merge, incoming, drift, holder, overlap, ita, snap,
                holder.path if holder else repo.main_worktree, suite_argv)


class _AlreadyMerged(Exception):
    def __init__(self, rec: dict[str, Any]) -> None:
        super().__init__("already merged")
        self.rec = rec


def _collisions(root: str, incoming: list[str]) -> list[str]:
    tracked = set(gm.index_entries(root, incoming))
    out = []
    for p in incoming:
        if p in tracked:
            continue
        full = os.path.join(root, p)
        if os.path.lexists(full):
            out.append(p)
            continue
        parts = p.split("/")
        for i in range(1, len(parts)):
            q = "/".join(parts[:i])
            fq = os.path.join(root, q)
            if os.path.lexists(fq) and not os.path.isdir(fq):
                out.append(q)
                break
    return sorted(set(out))


def merge_message(brief: int, name: str, branch: str, d: dict[str, Any]) -> str:
    title = d.get("title")
    head = f"Merge brief {brief} (dispatch {name}) from {branch}"
    body = f"\n\nBrief: {brief}\nDispatch: {name}\nAgent: {d.get('agent') or '-'}\n"
    return head + (f"\n\n{title}" if isinstance(title, str) and title else "") + body


# -- the gate ------------------------------------------------------------------------------------
def merge(ctx: Ctx, brief: int, *, into: str | None = None, no_test: bool = False,
          dry_run: bool = False, force: bool = False,
          progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = progress or (lambda s: None)
    try:
        plan = preflight(ctx, brief, into=into, no_test=no_test, force=force)
    except _AlreadyMerged as e:
        return {"brief": brief, "status": "already-merged", "dispatch": e.rec.get("id"),
                "merge": e.rec.get("merge_commit")}
    if plan.drift:
        say(f"note: {plan.target} moved {plan.drift} commit(s) since dispatch "
            f"{plan.brief}.{plan.attempt} started; merging on top of it")
    if dry_run:
        return {**plan.summary(), "status": "dry-run"}
    if plan.already:
        _finish_records(ctx, plan, plan.pre, released=True)
        return {**plan.summary(), "status": "up-to-date"}
    op = f"{brief}-{secrets.token_hex(6)}"
    return _run(ctx, plan, op, no_test, say)


def _journal(ctx: Ctx, plan: Plan, op: str, phase: str, **more: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "v": 1, "op": op, "phase": phase, "brief": plan.brief,
        "dispatch": dispatch_name(plan.brief, plan.attempt), "target_ref": plan.target_ref,
        "into": plan.target, "pre_target": plan.pre, "head": plan.head, "merge": plan.merge,
        "tree": plan.tree, "incoming": plan.incoming, "overlap": plan.overlap, "ita": plan.ita,
        "worktree": plan.checkout.path if plan.checkout else None,
        "pre_head": plan.pre if plan.checkout else None,
        "index_tree": plan.snapshot[0] if plan.snapshot else None,
        "worktree_tree": plan.snapshot[1] if plan.snapshot else None,
        "local_root": plan.local_root, "owner": groups.identity(os.getpid()),
        "started": suite_ops.utc_now(),
    }
    rec.update(more)
    journal.write(ctx.repo, rec)
    return rec


def _anchor(ctx: Ctx, plan: Plan, op: str, stash: str | None, old: str | None) -> str:
    """``refs/flower/recovery/<op>``: a commit keeping the snapshot, target, head and stash."""
    repo = ctx.repo
    w = objects.Writer(repo)
    entries = []
    if plan.snapshot:
        entries = [objects.Entry(objects.MODE_TREE, b"index", plan.snapshot[0]),
                   objects.Entry(objects.MODE_TREE, b"worktree", plan.snapshot[1])]
    entries.append(objects.Entry(objects.MODE_TREE, b"merged", plan.tree))
    tree = w.add("tree", objects.format_tree(entries))
    w.flush()
    parents = [plan.pre, plan.head, plan.merge] + ([stash] if stash else [])
    commit = objects.commit(repo, tree, parents,
                            f"flower recovery {op}: merge of brief {plan.brief} into {plan.target}")
    refs.transaction(repo, [refs.update(recovery_ref(op), commit, old)], f"flower recovery {op}")
    return commit


def _run(ctx: Ctx, plan: Plan, op: str, no_test: bool, say: Callable[[str], None]) -> dict[str, Any]:
    repo = ctx.repo
    local_only = list(ctx.config.get("merge", "local_only"))
    manifest = backup_local_only(repo, op, plan.local_root, local_only) if plan.local_root else []
    anchor = _anchor(ctx, plan, op, None, None)
    j = _journal(ctx, plan, op, "snapshot", local_only=manifest, anchor=anchor)
    failpoints.hit("after_snapshot")
    j = _journal(ctx, plan, op, "built", local_only=manifest, anchor=anchor)
    failpoints.hit("after_merge_commit")
    suite: dict[str, Any] | None = None
    try:
        if not no_test:
            say(f"testing the merge of brief {plan.brief} into {plan.target} "
                f"(tree {plan.tree[:12]}) …")

            def started(pid: int, scratch: str) -> None:
                nonlocal j
                j = _journal(ctx, plan, op, "testing", local_only=manifest, anchor=anchor,
                             suite_pid=groups.identity(pid), scratch=scratch)

            # the attestation is written with the provenance note (one notes commit) when the
            # merge lands, and on its own on every other way out
            suite = suite_ops.run_on(ctx, plan.merge, plan.tree, label=op, on_start=started,
                                     record=False)
        else:
            argv = list(ctx.config.get("suite", "command"))
            cached = suite_ops.attestation(ctx, plan.tree, argv)
            suite = {**cached, "cached": True} if cached else None
    except BaseException:
        _abandon(ctx, plan, op, manifest)
        raise
    attest = suite if suite is not None and not suite.get("cached") else None
    if suite is not None and not suite["ok"]:
        _abandon(ctx, plan, op, manifest, attest)
        raise TestsFailed(
            suite_ops.failure_message(suite, f"brief {plan.brief} refused: the suite is red on "
                                             f"the merge into {plan.target}"),
            f"{plan.target} was not moved and the dispatch is kept; fix the branch (or "
            f"`git flower dispatch {plan.brief} --rework`) and merge again",
            data={**plan.summary(), "status": "red", "suite": suite})
    with deferred_sigint():
        result = _land(ctx, plan, op, j, manifest, suite, attest)
    return result


def record_attestation(ctx: Ctx, attest: dict[str, Any] | None) -> None:
    """Write a suite attestation that no provenance note will carry (the merge did not land)."""
    if attest:
        notes.append(ctx.repo, {attest["tree"]: [attest]},
                     f"flower: suite on tree {str(attest['tree'])[:12]}")


def _abandon(ctx: Ctx, plan: Plan, op: str, manifest: list[dict[str, Any]],
             attest: dict[str, Any] | None = None) -> None:
    """Nothing landed: put local-only bytes back if needed, keep the suite's attestation, and
    drop the journal and anchor."""
    if plan.local_root:
        restore_local_only(plan.local_root, manifest)
    record_attestation(ctx, attest)
    _drop_anchor(ctx, op)
    journal.remove(ctx.repo, op)


def _drop_anchor(ctx: Ctx, op: str, known: str | None = None) -> None:
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


def provenance(ctx: Ctx, plan: Plan, suite: dict[str, Any] | None) -> dict[str, Any]:
    from flowergit.state.baton import fence_ops
    from flowergit.state.baton import read as baton_read

    epoch = None
    fence = fence_ops(ctx)
    if fence:
        head = baton_read(ctx.repo, fence[0].ref.rsplit("/", 1)[-1])
        epoch = head.record.get("epoch") if head else None
    d = plan.dispatch
    return {
        "v": 1, "kind": "merge", "brief": plan.brief,
        "dispatch": dispatch_name(plan.brief, plan.attempt), "agent": d.get("agent"),
        "branch": plan.branch, "head": plan.head,
        "base": d.get("base") if isinstance(d.get("base"), str) else plan.pre,
        "into": plan.target, "epoch": epoch,
        "suite": suite_ops.suite_summary(suite) if suite else None,
        "by": suite_ops.who(), "at": suite_ops.utc_now(),
    }


def _land(ctx: Ctx, plan: Plan, op: str, j: dict[str, Any], manifest: list[dict[str, Any]],
          suite: dict[str, Any] | None, attest: dict[str, Any] | None = None) -> dict[str, Any]:
    repo = ctx.repo
    from flowergit.state.baton import fence_ops

    note = provenance(ctx, plan, suite)
    wt = plan.checkout.path if plan.checkout else None
    more: dict[str, Any] = {"suite_note": attest} if attest else {}
    j = _journal(ctx, plan, op, "landing", local_only=manifest, anchor=j["anchor"], note=note,
                 **more)
    stash: str | None = None
    try:
        if refs.read(repo, plan.target_ref) != plan.pre:
            raise CasLost(f"{plan.target} moved while the suite ran", plan.target_ref)
        if wt:
            # the user may have worked while the suite ran: look again before touching anything
            st = gm.status(wt)
            changed = sorted((set(st.modified) & set(plan.incoming)) - set(plan.overlap))
            changed += _collisions(wt, plan.incoming) + st.unmerged
            if changed:
                raise Conflict(f"{', '.join(sorted(set(changed)))} changed in {wt} while brief "
                               f"{plan.brief} was being tested; nothing was merged",
                               f"merge again: `git flower merge {plan.brief}`",
                               data={"changed": sorted(set(changed))})
        if wt and plan.ita:
            gm.drop_intent_to_add(wt, plan.ita)
        if wt and plan.overlap:
            stash = gstash.push(repo, wt, plan.overlap, stash_message(op))
            failpoints.hit("after_stash_push")  # pushed, not yet in the journal
            if stash:
                anchor = _anchor(ctx, plan, op, stash, j["anchor"])
                j = _journal(ctx, plan, op, "stashed", local_only=manifest, anchor=anchor,
                             note=note, stash=stash, **more)
            failpoints.hit("after_stash")
        if wt:
            try:
                gm.two_way_update(wt, plan.pre, plan.merge)
            except GitError as e:
                raise Conflict(f"could not bring {wt} along: {e.err.strip().splitlines()[0]}",
                               "nothing was merged; clear the way and merge again") from None
            failpoints.hit("after_checkout_update")  # checkout moved, target not yet
        try:
            refs.transaction(repo, [refs.update(plan.target_ref, plan.merge, plan.pre),
                                    *fence_ops(ctx)],
                             f"flower: merge brief {plan.brief} into {plan.target}")
        except BaseException:
            # lost race, lost baton, a refusing reference-transaction hook: the target did not
            # move, so neither does the checkout
            if wt and refs.read(repo, plan.target_ref) != plan.merge:
                gm.two_way_update(wt, plan.merge, plan.pre)
            raise
    except CasLost:
        _rollback_stash(ctx, wt, stash, plan.ita, plan.overlap)
        _abandon(ctx, plan, op, manifest, attest)
        raise Conflict(f"{plan.target} moved while brief {plan.brief} was being tested; "
                       "nothing of the merge landed and their commit is intact",
                       f"merge again: `git flower merge {plan.brief}`") from None
    except BaseException:
        _rollback_stash(ctx, wt, stash, plan.ita, plan.overlap)
        _abandon(ctx, plan, op, manifest, attest)
        raise
    j = _journal(ctx, plan, op, "landed", local_only=manifest, anchor=j["anchor"], note=note,
                 stash=stash, **more)
    failpoints.hit("after_target_cas")
    return finish_landed(ctx, j)


def stash_message(op: str) -> str:
    return f"git flower merge {op}: local changes"


def our_stash(ctx: Ctx, j: dict[str, Any]) -> str | None:
    """The stash this merge made: from the journal, or found by its message when a crash came
    between ``git stash push`` and the journal write."""
    stash = j.get("stash")
    if isinstance(stash, str) and stash:
        return stash
    if j.get("worktree") and j.get("overlap") and j.get("phase") in ("landing", "stashed",
                                                                     "landed"):
        return gstash.find(ctx.repo, stash_message(str(j["op"])))
    return None


def _rollback_stash(ctx: Ctx, wt: str | None, stash: str | None,
                    ita: list[str] | None = None, overlap: list[str] | None = None) -> None:
    if wt and stash:
        ok, _ = gstash.apply(wt, stash, overlap or [])
        if ok:
            gstash.drop(ctx.repo, stash)
    if wt and ita:
        gm.restore_intent_to_add(wt, ita)


def finish_landed(ctx: Ctx, j: dict[str, Any]) -> dict[str, Any]:
    """Everything after the target moved; safe to run again (``recover`` rolls forward here)."""
    repo = ctx.repo
    wt = j.get("worktree")
    stash = our_stash(ctx, j)
    warnings: list[str] = []
    if wt and stash and stash in gstash.entries(repo):
        # applied already (a crash between apply and drop)? then the files differ from the merge
        overlap = list(j.get("overlap") or [])
        clean = _matches_tree(wt, j["merge"], overlap)
        if clean:
            ok, with_index = gstash.apply(wt, stash, list(j.get("overlap") or []))
            if not ok:
                raise Conflict(f"could not re-apply your local changes (stash {stash})",
                               f"they are safe in stash {stash} and refs/flower/recovery/{j['op']}; "
                               f"apply them with `git stash apply {stash}`")
            if not with_index:
                warnings.append("your staged changes to overlapping files came back unstaged")
        failpoints.hit("after_pop_before_drop")
        gstash.drop(repo, stash)
    if wt and j.get("ita"):
        gm.restore_intent_to_add(wt, list(j["ita"]))
    if j.get("local_root"):
        fixed = restore_local_only(j["local_root"], list(j.get("local_only") or []))
        if fixed:
            warnings.append("restored local-only file(s) " + ", ".join(fixed))
    if wt and j.get("worktree_tree") and (stash or j.get("ita")):
        # our own restore ran (stash, intent-to-add): check every other path byte for byte.
        # Without it the checkout only saw git's two-way update, which keeps local changes.
        _verify_kept(ctx, j)
    note = j["note"]
    lines: dict[str, list[dict[str, Any]]] = {j["merge"]: [note]}
    attest = j.get("suite_note")
    if isinstance(attest, dict) and isinstance(attest.get("tree"), str):
        lines[attest["tree"]] = [attest]  # the suite's attestation, in the same notes commit
    notes.append(repo, lines, f"flower: provenance of brief {j['brief']}")
    failpoints.hit("after_notes_write")
    released = _close(ctx, j)
    journal.remove(repo, j["op"])
    return {"brief": j["brief"], "dispatch": j["dispatch"], "status": "merged",
            "merge": j["merge"], "into": j["into"], "tree": j["tree"], "suite": note.get("suite"),
            "released": released, "warnings": warnings, "stashed": bool(stash)}


def _matches_tree(wt: str, rev: str, paths: list[str]) -> bool:
    """Do the checkout's files for ``paths`` equal ``rev``'s (i.e. no local edit re-applied)?"""
    return gm.matches_rev(wt, rev, paths)


def _verify_kept(ctx: Ctx, j: dict[str, Any]) -> None:
    """Every path the merge did not bring in must be byte-identical to the snapshot."""
    repo = ctx.repo
    local_only = [i["path"] for i in j.get("local_only") or []]
    index_tree, wt_tree = gm.snapshot_trees(repo, j["worktree"], local_only)
    incoming = set(j.get("incoming") or [])
    changed = set(gm.changed_paths(repo, j["worktree_tree"], wt_tree))
    staged = set(gm.changed_paths(repo, j["index_tree"], index_tree))
    lost = sorted((changed | staged) - incoming)
    if lost:
        lost = gm.same_bytes(repo, j["worktree"], j["worktree_tree"], lost) + sorted(
            staged - incoming)
        lost = sorted(set(lost))
    if lost:
        raise FlowerError(
            f"after the merge, local path(s) differ from before: {', '.join(lost[:10])}",
            f"your pre-merge state is kept in refs/flower/recovery/{j['op']} "
            f"(tree 'worktree'); compare with `git diff refs/flower/recovery/{j['op']}:worktree`")


def _close(ctx: Ctx, j: dict[str, Any]) -> bool:
    """The last step of a landed merge, as one ref transaction: the brief turns ``merged``,
    the dispatch record says ``merged`` and ``refs/flower/recovery/<op>`` goes. A crash leaves
    all three (``recover`` rolls forward) or none. When the brief is merged already there is
    no briefs commit to carry them, and the two are written on their own."""
    brief, attempt = (int(x) for x in str(j["dispatch"]).split("."))
    ref = dispatch_ref(brief, attempt)
    op = str(j["op"])
    state: dict[str, Any] = {"released": False, "calls": 0}

    def more() -> list[refs.Op]:
        # called once per attempt of the briefs write: a retry after a lost race re-reads
        # the dispatch record and the anchor rather than trusting what was read before
        state["calls"] += 1
        ops: list[refs.Op] = []
        head = records.read(ctx.repo, ref)
        if head is not None:
            new = _merged_record(ctx, j, head.record, state)
            if new is not None:
                commit = records.build(ctx.repo, new, head.commit,
                                       f"dispatch {brief}.{attempt}: merged into {j['into']}")
                ops.append(refs.update(ref, commit, head.commit))
        known = j.get("anchor") if state["calls"] == 1 else None
        cur = known or refs.read(ctx.repo, recovery_ref(op))
        if cur:
            ops.append(refs.delete(recovery_ref(op), cur))
        return ops

    wrote = _mark_merged(ctx, brief, f"merged into {j['into']} as {j['merge'][:12]}", more)
    if not wrote:
        released = _finish_dispatch(ctx, j)
        _drop_anchor(ctx, op, j.get("anchor"))
        return released
    return bool(state["released"])


def _merged_record(ctx: Ctx, j: dict[str, Any], rec: dict[str, Any],
                   state: dict[str, Any]) -> dict[str, Any] | None:
    """The dispatch record once merged (None: it says so already); releases the worker
    worktree first (safe to repeat: a removed worktree counts as released)."""
    wt = rec.get("worktree")
    if isinstance(wt, str) and wt:
        state["released"] = gm.remove_worktree(ctx.repo, wt)
    if rec.get("state") == "merged" and rec.get("merge_commit") == j["merge"]:
        return None
    return {**rec, "state": "merged", "merge_commit": j["merge"], "into": j["into"],
            "merged_at": suite_ops.utc_now(), "worktree_released": state["released"]}


def _finish_dispatch(ctx: Ctx, j: dict[str, Any]) -> bool:
    brief, attempt = (int(x) for x in str(j["dispatch"]).split("."))
    store = DispatchStore(ctx.repo)
    state: dict[str, Any] = {"released": False}
    try:  # the record is read once, by the update itself
        store.update(brief, attempt, lambda rec: _merged_record(ctx, j, rec, state),
                     f"merged into {j['into']}")
    except NotFound:  # no record (removed by hand): nothing to mark
        pass
    return bool(state["released"])


def _finish_records(ctx: Ctx, plan: Plan, commit: str, released: bool) -> None:
    j = {"dispatch": dispatch_name(plan.brief, plan.attempt), "merge": commit,
         "into": plan.target}
    _finish_dispatch(ctx, j)
    _mark_merged(ctx, plan.brief, f"already in {plan.target}")


def _mark_merged(ctx: Ctx, brief: int, why: str,
                 more: Callable[[], list[refs.Op]] | None = None) -> bool:
    """Brief status -> merged (forward only; the briefs commit is the log entry), with the ref
    updates ``more()`` returns in the same transaction. False: the brief said ``merged``
    already, nothing was written (and ``more`` was not called)."""
    from flowergit.state import brief as codec
    from flowergit.state.briefs import Change
    from flowergit.state.layout import brief_path

    message = f"brief {brief}: merged ({why})"

    def plan(tip: str | None, batch: objects.Batch) -> tuple[list[Change], str]:
        got = batch.get(f"{tip}:{brief_path(brief)}")
        if got is None:
            raise NotFound(f"no brief {brief}")
        if codec.parse(got[2], f"brief {brief}").status == "merged":
            return [], message
        new = codec.rewrite(got[2], {"status": "merged"})
        codec.parse(new, f"brief {brief}")  # never write what we could not read back
        return [Change(brief_path(brief), new)], message

    new, old = ctx.briefs().apply(plan, extra_ops=more)
    return new != (old or "")


# -- the queue -----------------------------------------------------------------------------------
def finished_queue(ctx: Ctx) -> list[int]:
    """Briefs whose latest dispatch exited 0 and is not merged, in the order they finished."""
    latest: dict[int, dict[str, Any]] = {}
    for h in DispatchStore(ctx.repo).all():
        r = h.record
        b = int(r.get("brief", 0))
        if b not in latest or int(r.get("attempt", 0)) > int(latest[b].get("attempt", 0)):
            latest[b] = r
    done = [r for r in latest.values() if r.get("state") == FINISHED and r.get("exit_code") == 0]
    done.sort(key=lambda r: (str(r.get("ended_at") or ""), int(r.get("brief", 0))))
    return [int(r["brief"]) for r in done]


def merge_queue(ctx: Ctx, *, into: str | None = None, no_test: bool = False,
                dry_run: bool = False, progress: Callable[[str], None] | None = None
                ) -> list[dict[str, Any]]:
    rec_ops.refuse_if_pending(ctx)
    out = []
    for b in finished_queue(ctx):
        try:
            r = merge(ctx, b, into=into, no_test=no_test, dry_run=dry_run, progress=progress)
        except (Conflict, TestsFailed, NotFound) as e:
            r = {"brief": b, "status": "red" if isinstance(e, TestsFailed) else "refused",
                 "code": e.code, "message": e.message, "hint": e.hint}
        out.append(r)
        if progress:
            progress(f"brief {b}: {r['status']}" + (f" — {r['message']}" if "message" in r else ""))
    return out


__all__ = ["deferred_sigint", "finish_landed", "merge", "merge_queue", "restore_local_only"]
