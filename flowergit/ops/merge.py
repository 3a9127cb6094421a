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

import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flowergit import failpoints
from flowergit.errors import Conflict, FlowerError, Interrupted, NotFound, TestsFailed, UsageError
from flowergit.gitio import merge as gm
from flowergit.gitio import objects, refs
from flowergit.gitio import stash as gstash
from flowergit.gitio import runner
from flowergit.gitio.refs import CasLost
from flowergit.gitio.repo import Repo
from flowergit.gitio.runner import GitError
from flowergit.gitio.worktrees import Worktree, list_worktrees
from flowergit.ops import recover as rec_ops
from flowergit.ops import suite as suite_ops
from flowergit.ops.context import Ctx
from flowergit.ops.dispatch.outcome import MERGEABLE, describe
from flowergit.state import journal, notes, records
from flowergit.state.dispatches import PREFIX as DISPATCH_PREFIX
from flowergit.state.dispatches import DispatchStore, dispatch_name, read_records, record_reads
from flowergit.state.layout import NOTES_REF, dispatch_ref, recovery_ref

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
    """sha256 hex of ``data``; CPython's own sha256 loads much faster than `hashlib` (OpenSSL)."""
    try:
        try:
            h = __import__("_sha2").sha256(data)  # Python >= 3.12
        except ImportError:
            h = __import__("_sha256").sha256(data)
    except ImportError:  # a build without them
        import hashlib

        h = hashlib.sha256(data)
    return str(h.hexdigest())


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


# -- git steps of the gate ------------------------------------------------------------------------
# These read and write through gitio (runner, objects, refs) but are specific to the gate: one
# `cat-file --batch` serves every read of a merge, the checkout's HEAD files name the checkout
# that has the target, one `git status` answers the preflight, the collision check and the
# snapshot's index side. They belong with flowergit/gitio/merge.py.
class _Io:
    """Per merge: one ``cat-file --batch`` for every read, one writer for the objects the merge
    makes before its first ref write (merge commit, snapshot trees, anchor: one
    ``unpack-objects``)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._batch: objects.Batch | None = None
        self.writer = objects.Writer(repo)
        self.notes_tip: str | None = None

    @property
    def batch(self) -> objects.Batch:
        if self._batch is None:
            self._batch = objects.Batch(self.repo)
        return self._batch

    def close(self) -> None:
        if self._batch is not None:
            self._batch.close()
            self._batch = None


def _dispatch_and_tips(repo: Repo, io: _Io, brief: int, patterns: list[str]
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


def _tree_of_commit(data: bytes) -> str:
    first = data.split(b"\n", 1)[0]
    if not first.startswith(b"tree "):
        raise FlowerError("cannot read a commit object: no tree line")
    return first[5:].decode()


Side = tuple[bytes, str] | None  # (mode, oid) of a path on one side of a diff; None: absent


def tree_diff(batch: objects.Batch, a: str | None, b: str | None) -> dict[str, tuple[Side, Side]]:
    """path -> (old, new) for every path whose blob, link or gitlink differs between trees
    ``a`` and ``b``: what ``git diff-tree -r --no-renames`` lists, read through ``batch`` (only
    the subtrees that differ are read)."""
    out: dict[str, tuple[Side, Side]] = {}

    def walk(x: str | None, y: str | None, prefix: bytes) -> None:
        ea = {e.name: e for e in batch.tree(x) or []} if x else {}
        eb = {e.name: e for e in batch.tree(y) or []} if y else {}
        for name in ea.keys() | eb.keys():
            o, n = ea.get(name), eb.get(name)
            if o is not None and n is not None and o.mode == n.mode and o.oid == n.oid:
                continue
            path = prefix + name
            ot = o is not None and o.is_tree
            nt = n is not None and n.is_tree
            if ot or nt:
                walk(o.oid if ot and o is not None else None,
                     n.oid if nt and n is not None else None, path + b"/")
            old = (o.mode, o.oid) if o is not None and not ot else None
            new = (n.mode, n.oid) if n is not None and not nt else None
            if old is not None or new is not None:
                out[path.decode("utf-8", "surrogateescape")] = (old, new)

    walk(a, b, b"")
    return out


def gitlinks_in(diff: dict[str, tuple[Side, Side]]) -> list[str]:
    """The submodule (gitlink) paths of a :func:`tree_diff`."""
    return sorted(p for p, sides in diff.items()
                  if any(s is not None and s[0] == objects.MODE_GITLINK for s in sides))


def checkout_of(repo: Repo, branch_ref: str) -> tuple[Worktree, str | None] | None:
    """The checkout that has ``branch_ref`` and its git dir, read from the worktrees' HEAD
    files as git itself reads them (no process). Anything unexpected (a reftable HEAD stub, an
    unreadable or missing file, a worktree whose directory is gone) lets `git worktree list`
    decide instead."""
    common = repo.common_dir
    try:
        names = sorted(os.listdir(os.path.join(common, "worktrees")))
    except FileNotFoundError:
        names = []
    except OSError:
        return _listed_checkout(repo, branch_ref)
    found = []
    for admin in [common] + [os.path.join(common, "worktrees", n) for n in names]:
        try:
            with open(os.path.join(admin, "HEAD"), "rb") as f:
                head = f.read(4096).strip()
        except OSError:
            return _listed_checkout(repo, branch_ref)
        if head.startswith(b"ref: "):
            ref = head[5:].decode("utf-8", "surrogateescape")
            if ref == "refs/heads/.invalid":
                return _listed_checkout(repo, branch_ref)
            if ref == branch_ref:
                found.append(admin)
        elif not (len(head) in (40, 64) and all(c in b"0123456789abcdef" for c in head)):
            return _listed_checkout(repo, branch_ref)
        elif gm.operation_branch(admin) == branch_ref:  # detached by a rebase or bisect of it
            found.append(admin)
    if not found:
        return None
    if len(found) > 1:
        return _listed_checkout(repo, branch_ref)
    admin = found[0]
    if admin == common:
        if os.path.basename(common) != ".git" or not os.path.isfile(os.path.join(common, "index")):
            return _listed_checkout(repo, branch_ref)  # bare, or a layout git must name
        path = os.path.dirname(common)
    else:
        try:
            with open(os.path.join(admin, "gitdir"), encoding="utf-8",
                      errors="surrogateescape") as f:
                dotgit = f.read().strip()
        except OSError:
            return _listed_checkout(repo, branch_ref)
        if not os.path.isabs(dotgit):
            dotgit = os.path.normpath(os.path.join(admin, dotgit))
        path = os.path.dirname(dotgit)
        if not os.path.isdir(path):
            return _listed_checkout(repo, branch_ref)
    return Worktree(path=path, head=None, branch=branch_ref), admin


def _listed_checkout(repo: Repo, branch_ref: str) -> tuple[Worktree, str | None] | None:
    listed = list_worktrees(repo)
    holder = next((w for w in listed if w.branch == branch_ref), None)
    if holder is None:  # a rebase or bisect of it detached the HEAD of the checkout it is in
        for w in listed:
            if w.detached and not w.bare and os.path.isdir(w.path):
                git_dir = gm.worktree_git_dir(w.path, repo)
                if gm.operation_branch(git_dir) == branch_ref:
                    return Worktree(path=w.path, head=w.head, branch=branch_ref), git_dir
    return (holder, None) if holder is not None else None


def refuse_in_progress(repo: Repo, path: str, git_dir: str | None, doing: str) -> None:
    """Conflict (exit 4) while a rebase, merge, cherry-pick, revert, am, bisect or notes merge
    is in progress in the checkout at ``path``: moving its branch under it would be undone, or
    lost, when the user finishes or aborts it."""
    busy = gm.operations(git_dir or gm.worktree_git_dir(path, repo), repo.common_dir)
    if busy:
        what = " and ".join(w for _m, w, _h in busy)
        markers = ", ".join(m for m, _w, _h in busy)
        raise Conflict(f"{what} is in progress in {path} ({markers}); refusing to {doing}",
                       "; ".join(f"{h} in {path}" for _m, _w, h in busy) + " first",
                       data={"in_progress": [m for m, _w, _h in busy], "checkout": path})


def checkout_status(worktree: str) -> gm.Status:
    """One ``git status`` of a checkout (every untracked file, no ignored ones, no renames).
    Unlike :func:`gm.status` it may take the index lock for a moment, as `git status` does for
    its user, to write back refreshed stat data: the two-way update that follows then finds
    clean files clean without an ``update-index --refresh`` of its own."""
    res = runner.run([*gm.SAFE, "status", "--porcelain=v2", "-z", "--branch",
                      "--no-ahead-behind", "--untracked-files=all", "--ignored=no",
                      "--no-renames"], cwd=worktree)
    return gm.parse_status(res.stdout, worktree)


def collisions_of(root: str, incoming: list[str], in_head: set[str],
                  st: gm.Status) -> list[str]:
    """Incoming paths (or a leading directory of one) that exist in ``root`` untracked or
    ignored, which the merge would overwrite. Whether the index has a path comes from HEAD's
    tree (``in_head``: the incoming paths the target's tree has; HEAD is the target) and the
    status' staged changes."""
    out = []
    for p in incoming:
        if st.in_index(p, p in in_head):
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


def snapshot(repo: Repo, worktree: str, force_paths: list[str], *,
             st: gm.Status | None = None, io: _Io | None = None,
             head_tree: str | None = None, git_dir: str | None = None) -> tuple[str, str]:
    """(index tree, worktree tree) of a checkout, without touching it: the trees
    :func:`gm.snapshot_trees` makes, from fewer processes.

    The index tree is HEAD's tree with the staged changes ``git status`` reports (built in
    memory; its objects go with ``io``'s writer, or are written here). The worktree tree is a
    copy of the index with every path status names as changed or untracked, and the
    ``force_paths`` (local-only, possibly ignored) on disk, brought in by one
    ``update-index --add --remove``, then ``write-tree``; with nothing to bring in, it is the
    index tree. Where that cannot be done, :func:`gm.snapshot_trees` does it."""
    own = io is None
    io = io or _Io(repo)
    try:
        st = st or checkout_status(worktree)
        if st.unmerged or st.head is None:
            return gm.snapshot_trees(repo, worktree, force_paths)
        if head_tree is None:
            got = io.batch.get(st.head)
            if got is None or got[1] != "commit":
                return gm.snapshot_trees(repo, worktree, force_paths)
            head_tree = _tree_of_commit(got[2])
        staged: dict[str, tuple[bytes, str] | None] = {}
        for p, (xy, mode, oid) in st.entries.items():
            if xy[0] == "D":
                staged[p] = None
            elif xy[0] in "AMT":
                staged[p] = (mode.encode(), oid)
        if any(p[:i] in staged for p in staged for i in range(len(p)) if p[i] == "/"):
            # a staged path under another staged path (a file replaced by a directory)
            return gm.snapshot_trees(repo, worktree, force_paths)
        try:
            index_tree = (objects.edit_tree(io.batch, io.writer, head_tree, staged) if staged
                          else head_tree)
        except FlowerError:
            return gm.snapshot_trees(repo, worktree, force_paths)
        paths = [p for p, (xy, _m, _o) in st.entries.items() if xy[1] != "."]
        paths += [p.rstrip("/") for p in st.untracked]
        paths += [p for p in force_paths if os.path.isfile(os.path.join(worktree, p))
                  or os.path.islink(os.path.join(worktree, p))]
        wt_tree = _worktree_tree(repo, worktree, git_dir, paths) if paths else index_tree
        if wt_tree is None:
            return gm.snapshot_trees(repo, worktree, force_paths)
        if own:
            io.writer.flush()
        return index_tree, wt_tree
    finally:
        if own:
            io.close()


def _worktree_tree(repo: Repo, worktree: str, git_dir: str | None, paths: list[str]) -> str | None:
    import shutil

    git_dir = git_dir or gm.worktree_git_dir(worktree, repo)
    os.makedirs(repo.state_dir, exist_ok=True)
    tmp = os.path.join(repo.state_dir, f"snap-{os.getpid()}-{os.urandom(4).hex()}.index")
    src = os.path.join(git_dir, "index")
    try:
        if os.path.exists(src):
            shutil.copy2(src, tmp)  # keep its mtime: racy-clean entries stay detectable
        env = {"GIT_INDEX_FILE": tmp}
        data = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in dict.fromkeys(paths))
        res = runner.run([*gm.SAFE, "update-index", "--add", "--remove", "--replace", "-z",
                          "--stdin"], cwd=worktree, env=env, input=data, check=False)
        if not res.ok:
            return None
        return runner.run([*gm.SAFE, "write-tree"], cwd=worktree, env=env).out.strip()
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def bring_along(worktree: str, old: str, new: str) -> None:
    """:func:`gm.two_way_update` without its up-front ``update-index --refresh``: the gate's
    own `git status` just refreshed the index. Should stale stat data still make `read-tree`
    refuse, the refresh runs and `read-tree` is tried once more (a refusal changes nothing)."""
    try:
        runner.run([*gm.SAFE, "read-tree", "-m", "-u", "--end-of-options", old, new],
                   cwd=worktree)
    except GitError:
        gm.two_way_update(worktree, old, new)


# -- preflight -----------------------------------------------------------------------------------
class Plan:
    """What the preflight found and decided (a plain class: `dataclasses` costs an import)."""

    def __init__(self, brief: int, attempt: int, dispatch: dict[str, Any], target: str,
                 target_ref: str, pre: str, head: str, branch: str, tree: str, merge: str,
                 incoming: list[str], drift: int, checkout: Worktree | None,
                 overlap: list[str] | None = None, ita: list[str] | None = None,
                 snapshot: tuple[str, str] | None = None, local_root: str | None = None,
                 suite_argv: list[str] | None = None, already: bool = False,
                 in_target: list[str] | None = None, io: _Io | None = None) -> None:
        self.brief = brief
        self.attempt = attempt
        self.dispatch = dispatch
        self.target = target
        self.target_ref = target_ref
        self.pre = pre
        self.head = head
        self.branch = branch
        self.tree = tree
        self.merge = merge
        self.incoming = incoming
        self.drift = drift
        self.checkout = checkout
        self.overlap = overlap or []
        self.ita = ita or []
        self.snapshot = snapshot  # (index tree, worktree tree) of the checkout
        self.local_root = local_root
        self.suite_argv = suite_argv
        self.already = already
        self.in_target = in_target or []  # incoming paths the target has
        self.io = io  # the merge's batch and writer (not journalled)

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


def preflight(ctx: Ctx, brief: int, *, into: str | None, no_test: bool, force: bool,
              io: _Io | None = None) -> Plan:
    repo = ctx.repo
    io = io or _Io(repo)
    rec_ops.refuse_if_pending(ctx)
    target = check_branch_name(ctx, into or ctx.config.target)
    target_ref = "refs/heads/" + target
    # the dispatch records, the target and the notes tip: one for-each-ref, one batch
    head_rec, tips = _dispatch_and_tips(repo, io, brief, [target_ref, NOTES_REF])
    if head_rec is None:
        if ctx.briefs().get(brief).status == "merged":  # NotFound for a brief that does not exist
            raise _AlreadyMerged({})
        raise NotFound(f"brief {brief} has no dispatch to merge",
                       f"dispatch it first: `git flower dispatch {brief}`")
    d = head_rec.record
    name = d.get("id") or dispatch_name(brief, int(d.get("attempt", 0)))
    state = d.get("state")
    if state == "merged" or d.get("released_from") == "merged":  # merged, maybe cleaned since
        raise _AlreadyMerged(d)
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
        pre = gm.commit_of(repo, target_ref)
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
    pre_tree = _tree_of_commit(pre_commit[2])
    wt = d.get("worktree")
    if isinstance(wt, str) and wt and os.path.isdir(wt):
        wst = gm.status(wt)
        dirty = wst.modified + wst.untracked + wst.unmerged
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
    diff = tree_diff(io.batch, pre_tree, res.tree)
    incoming = sorted(diff)
    in_target = {p for p, (old, _new) in diff.items() if old is not None}
    if not incoming and gm.is_ancestor(repo, head, pre):
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
                if os.path.isdir(full) and os.listdir(full) and not gm.worktree_clean(full):
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
        check = gm.merge_tree(repo, local, merge)
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


class _AlreadyMerged(Exception):
    def __init__(self, rec: dict[str, Any]) -> None:
        super().__init__("already merged")
        self.rec = rec


def merge_message(brief: int, name: str, branch: str, d: dict[str, Any]) -> str:
    title = d.get("title")
    head = f"Merge brief {brief} (dispatch {name}) from {branch}"
    body = f"\n\nBrief: {brief}\nDispatch: {name}\nAgent: {d.get('agent') or '-'}\n"
    return head + (f"\n\n{title}" if isinstance(title, str) and title else "") + body


# -- the gate ------------------------------------------------------------------------------------
def merge(ctx: Ctx, brief: int, *, into: str | None = None, no_test: bool = False,
          dry_run: bool = False, force: bool = False,
          progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    io = _Io(ctx.repo)
    try:
        return _merge(ctx, brief, io, into=into, no_test=no_test, dry_run=dry_run, force=force,
                      progress=progress)
    finally:
        io.close()


def _merge(ctx: Ctx, brief: int, io: _Io, *, into: str | None, no_test: bool, dry_run: bool,
           force: bool, progress: Callable[[str], None] | None) -> dict[str, Any]:
    say = progress or (lambda s: None)
    try:
        plan = preflight(ctx, brief, into=into, no_test=no_test, force=force, io=io)
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
    op = f"{brief}-{os.urandom(6).hex()}"
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
        "local_root": plan.local_root, "owner": journal.owner(),
        "started": suite_ops.utc_now(),
    }
    rec.update(more)
    journal.write(ctx.repo, rec)
    return rec


def _anchor(ctx: Ctx, plan: Plan, op: str, stash: str | None, old: str | None) -> str:
    """``refs/flower/recovery/<op>``: a commit keeping the snapshot, target, head and stash.
    Its objects are written with whatever the merge built so far (merge commit, snapshot trees)
    in one ``unpack-objects``."""
    repo = ctx.repo
    w = plan.io.writer if plan.io is not None else objects.Writer(repo)
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


def _run(ctx: Ctx, plan: Plan, op: str, no_test: bool, say: Callable[[str], None]) -> dict[str, Any]:
    repo = ctx.repo
    local_only = list(ctx.config.get("merge", "local_only"))
    try:
        manifest = backup_local_only(repo, op, plan.local_root, local_only) if plan.local_root \
            else []
        anchor = _anchor(ctx, plan, op, None, None)
    except BaseException:  # a full disk, say: nothing journalled yet, no half backup left
        journal.remove(repo, op)
        raise
    suite: dict[str, Any] | None = None
    if no_test:
        # nothing to wait for: the journal goes straight to "landing" (one durable write, not
        # two); while the target has not moved, recover rolls it back as it would "built"
        try:
            suite = _attested(ctx, plan, list(ctx.config.get("suite", "command")))
        except BaseException:
            _abandon(ctx, plan, op, manifest)
            raise
        with deferred_sigint():
            return _land(ctx, plan, op, {"anchor": anchor}, manifest, suite,
                         points=("after_snapshot", "after_merge_commit"))
    # the merge commit was built with the snapshot and written with the anchor: one journal
    # entry covers both points (recover rolls back from either)
    try:
        j = _journal(ctx, plan, op, "built", local_only=manifest, anchor=anchor)
    except BaseException:
        _abandon(ctx, plan, op, manifest)
        raise
    failpoints.hit("after_snapshot")
    failpoints.hit("after_merge_commit")
    try:
        say(f"testing the merge of brief {plan.brief} into {plan.target} "
            f"(tree {plan.tree[:12]}) …")

        def started(pid: int, scratch: str) -> None:
            nonlocal j
            # the identity from /proc (procs.spawn; psutil's import would widen the window in
            # which a killed merge leaves a suite its journal does not name)
            from flowergit.procs import spawn

            j = _journal(ctx, plan, op, "testing", local_only=manifest, anchor=anchor,
                         suite_pid=spawn.identity(pid), scratch=scratch)

        cached = _attested(ctx, plan, list(plan.suite_argv or []))
        # the attestation is written with the provenance note (one notes commit) when the
        # merge lands, and on its own on every other way out
        suite = cached or suite_ops.run_on(ctx, plan.merge, plan.tree, label=op,
                                           on_start=started, record=False, reuse=False,
                                           argv=plan.suite_argv)
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


def _attested(ctx: Ctx, plan: Plan, argv: list[str]) -> dict[str, Any] | None:
    """A passing attestation of the merged tree by ``argv``, read through the merge's batch
    from the notes tip the preflight saw (marked ``cached``), or None."""
    io = plan.io
    if io is None:
        recs = None
    elif io.notes_tip is None:
        recs = []
    else:
        recs = notes.read_many(ctx.repo, [plan.tree], batch=io.batch,
                               tip=io.notes_tip).get(plan.tree, [])
    cached = suite_ops.attestation(ctx, plan.tree, argv, recs)
    return {**cached, "cached": True} if cached else None


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
    note = {
        "v": 1, "kind": "merge", "brief": plan.brief,
        "dispatch": dispatch_name(plan.brief, plan.attempt), "agent": d.get("agent"),
        "branch": plan.branch, "head": plan.head,
        "base": d.get("base") if isinstance(d.get("base"), str) else plan.pre,
        "into": plan.target, "epoch": epoch,
        "suite": suite_ops.suite_summary(suite) if suite else None,
        "by": suite_ops.who(), "at": suite_ops.utc_now(),
    }
    usage = d.get("usage")
    if isinstance(usage, dict):  # what the agent's transcript said it used (docs/merge.md)
        note["agent_usage"] = {k: usage.get(k) for k in (
            "model", "turns", "input_tokens", "output_tokens", "cached_input_tokens", "cost_usd",
            "cost_source")}
    return note


def _land(ctx: Ctx, plan: Plan, op: str, j: dict[str, Any], manifest: list[dict[str, Any]],
          suite: dict[str, Any] | None, attest: dict[str, Any] | None = None,
          points: tuple[str, ...] = ()) -> dict[str, Any]:
    repo = ctx.repo
    from flowergit.state.baton import fence_ops

    wt = plan.checkout.path if plan.checkout else None
    more: dict[str, Any] = {"suite_note": attest} if attest else {}
    try:
        note = provenance(ctx, plan, suite)  # a daemon that lost the baton stops here
        j = _journal(ctx, plan, op, "landing", local_only=manifest, anchor=j["anchor"],
                     note=note, **more)
    except BaseException:
        _abandon(ctx, plan, op, manifest, attest)  # nothing moved yet
        raise
    for point in points:
        failpoints.hit(point)
    stash: str | None = None
    ran = suite is not None and not suite.get("cached")
    try:
        if wt and ran:
            # the user may have worked while the suite ran: look again before touching anything
            # (the status names HEAD, which is the target: no separate read of it)
            st = checkout_status(wt)
            if st.head != plan.pre:
                raise CasLost(f"{plan.target} moved while the suite ran", plan.target_ref)
            changed = sorted((set(st.modified) & set(plan.incoming)) - set(plan.overlap))
            changed += collisions_of(wt, plan.incoming, set(plan.in_target), st) + st.unmerged
            if changed:
                raise Conflict(f"{', '.join(sorted(set(changed)))} changed in {wt} while brief "
                               f"{plan.brief} was being tested; nothing was merged",
                               f"merge again: `git flower merge {plan.brief}`",
                               data={"changed": sorted(set(changed))})
        if wt and plan.ita:
            gm.drop_intent_to_add(wt, plan.ita)
        failpoints.hit("before_stash")  # landing, nothing stashed or moved yet
        if wt and plan.overlap:
            stash = gstash.push(repo, wt, plan.overlap, stash_message(op))
            failpoints.hit("after_stash_push")  # pushed, not yet in the journal
            if stash:
                anchor = _anchor(ctx, plan, op, stash, j["anchor"])
                j = _journal(ctx, plan, op, "stashed", local_only=manifest, anchor=anchor,
                             note=note, stash=stash, **more)
            failpoints.hit("after_stash")
        # Without a suite run nothing has waited since the preflight looked (milliseconds ago):
        # `read-tree -m -u` itself refuses to overwrite a local change or an untracked file,
        # and the target's CAS below refuses a moved target (the checkout is moved back).
        if wt:
            try:
                bring_along(wt, plan.pre, plan.merge)
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
    # the target moved: from here on `recover` rolls forward (it reads the target, and the
    # journal already names the stash), so the journal is not written again
    j = {**j, "phase": "landed", "stash": stash}
    failpoints.hit("after_target_cas")
    return finish_landed(ctx, j, plan.io)


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


def finish_landed(ctx: Ctx, j: dict[str, Any], io: _Io | None = None) -> dict[str, Any]:
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
    released = _close(ctx, j, lines, io)
    failpoints.hit("after_notes_write")
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
    index_tree, wt_tree = snapshot(repo, j["worktree"], local_only)  # as the journal's was made
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


def _close(ctx: Ctx, j: dict[str, Any], lines: dict[str, list[dict[str, Any]]],
           io: _Io | None = None) -> bool:
    """The last step of a landed merge, as one ref transaction: the brief turns ``merged``
    (the briefs commit is its log entry), the dispatch record says ``merged``, the provenance
    note (and the suite's attestation) is appended to ``refs/notes/flower`` and
    ``refs/flower/recovery/<op>`` goes. A crash leaves all of it (``recover`` rolls forward) or
    none. Everything is read through one batch and written in one ``unpack-objects``; a lost
    race is retried by the briefs store with fresh reads. When the brief is merged already
    there is no briefs commit to carry the rest, and it is written on its own."""
    brief, attempt = (int(x) for x in str(j["dispatch"]).split("."))
    op = str(j["op"])
    why = f"merged into {j['into']} as {j['merge'][:12]}"
    message = f"brief {brief}: merged ({why})"
    state: dict[str, Any] = {"released": False, "calls": 0}

    def more(batch: objects.Batch, w: objects.Writer) -> list[refs.Op]:
        # the dispatch record, the notes tip and the anchor, read afresh on every attempt
        state["calls"] += 1
        return _closing_ops(ctx, j, lines, batch, w, state)

    # first attempt: the briefs tip, the brief and everything else from the merge's batch
    from flowergit.state import brief as codec
    from flowergit.state.layout import BRIEFS_REF

    store = ctx.briefs()
    own = objects.Batch(ctx.repo) if io is None else None
    batch = own if own is not None else io.batch  # type: ignore[union-attr]
    try:
        got = batch.get(BRIEFS_REF)
        tip = got[0] if got is not None and got[1] == "commit" else None
        pre = store.preread(brief, tip, batch) if tip else None
        if pre is not None and codec.parse(pre.raw, f"brief {brief}").status != "merged":
            w = objects.Writer(ctx.repo)
            planned = store.plan_update(pre, lambda raw: codec.with_status(raw, "merged"),
                                        message, w)
            if planned is not None:
                ops = [planned[0], *more(batch, w)]
                w.flush()
                try:
                    refs.transaction(ctx.repo, ops, message)
                    return bool(state["released"])
                except CasLost:
                    pass  # someone wrote meanwhile: the store's own loop re-reads and retries
    finally:
        if own is not None:
            own.close()

    def more_fresh() -> list[refs.Op]:
        w = objects.Writer(ctx.repo)
        with objects.Batch(ctx.repo) as fresh:
            ops = more(fresh, w)
        w.flush()
        return ops

    wrote = _mark_merged(ctx, brief, why, more_fresh)
    if not wrote:
        notes.append(ctx.repo, lines, f"flower: provenance of brief {j['brief']}")
        released = _finish_dispatch(ctx, j)
        _drop_anchor(ctx, op, j.get("anchor"))
        return released
    return bool(state["released"])


def _closing_ops(ctx: Ctx, j: dict[str, Any], lines: dict[str, list[dict[str, Any]]],
                 batch: objects.Batch, w: objects.Writer, state: dict[str, Any]) -> list[refs.Op]:
    """The dispatch record ``merged`` (the worker worktree released first), the notes commit
    and the anchor's deletion, as ops for the closing transaction (objects added to ``w``)."""
    brief, attempt = (int(x) for x in str(j["dispatch"]).split("."))
    ref = dispatch_ref(brief, attempt)
    ops: list[refs.Op] = []
    head = _read_record(batch, ref)
    if head is not None:
        new = _merged_record(ctx, j, head.record, state)
        if new is not None:
            commit = records.add_commit(w, new, head.commit,
                                    f"dispatch {brief}.{attempt}: merged into {j['into']}")
            ops.append(refs.update(ref, commit, head.commit))
    got = batch.get(NOTES_REF)
    tip = got[0] if got is not None and got[1] == "commit" else None
    noted = notes.prepare(ctx.repo, lines, f"flower: provenance of brief {j['brief']}", batch, w,
                          tip)
    if noted is not None:
        ops.append(refs.update(NOTES_REF, noted, tip))
    got = batch.get(recovery_ref(str(j["op"])))
    if got is not None:
        ops.append(refs.delete(recovery_ref(str(j["op"])), got[0]))
    return ops


def _read_record(batch: objects.Batch, ref: str) -> records.Head | None:
    """The newest record of chain ``ref``, through ``batch`` (as :func:`records.read`)."""
    got = batch.get(ref)
    if got is None or got[1] != "commit":
        return None
    blob = batch.get(f"{got[0]}:{records.RECORD}")
    if blob is None or blob[1] != "blob":
        return None
    return records.Head(ref, got[0], records.decode(blob[2], ref))


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
        new = codec.with_status(got[2], "merged")
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
    done = [r for r in latest.values() if r.get("state") == FINISHED and r.get("exit_code") == 0
            and r.get("outcome") in (None, *MERGEABLE)]
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
