"""The checkout that has the target: what must refuse a merge there (an operation in
progress, untracked or ignored files in the way), and the snapshot of its index and every file
taken before anything moves.
"""

from __future__ import annotations

import os

from flowergit.errors import Conflict, FlowerError
from flowergit.gitio import writes
from flowergit.gitio.index import snapshot_trees, worktree_tree
from flowergit.gitio.repo import Repo
from flowergit.gitio.status import Status, checkout_status, operations, worktree_git_dir
from flowergit.gitio.trees import tree_of_commit
from flowergit.ops.merge.plan import MergeIo


def refuse_in_progress(repo: Repo, path: str, git_dir: str | None, doing: str) -> None:
    """Conflict (exit 4) while a rebase, merge, cherry-pick, revert, am, bisect or notes merge
    is in progress in the checkout at ``path``: moving its branch under it would be undone, or
    lost, when the user finishes or aborts it."""
    busy = operations(git_dir or worktree_git_dir(path, repo), repo.common_dir)
    if busy:
        what = " and ".join(w for _m, w, _h in busy)
        markers = ", ".join(m for m, _w, _h in busy)
        raise Conflict(f"{what} is in progress in {path} ({markers}); refusing to {doing}",
                       "; ".join(f"{h} in {path}" for _m, _w, h in busy) + " first",
                       data={"in_progress": [m for m, _w, _h in busy], "checkout": path})


def collisions_of(root: str, incoming: list[str], in_head: set[str],
                  st: Status) -> list[str]:
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
             st: Status | None = None, io: MergeIo | None = None,
             head_tree: str | None = None, git_dir: str | None = None) -> tuple[str, str]:
    """(index tree, worktree tree) of a checkout, without touching it: the trees
    :func:`~flowergit.gitio.index.snapshot_trees` makes, from fewer processes.

    The index tree is HEAD's tree with the staged changes ``git status`` reports (built in
    memory; its objects go with ``io``'s writer, or are written here). The worktree tree is a
    copy of the index with every path status names as changed or untracked, and the
    ``force_paths`` (local-only, possibly ignored) on disk, brought in by one
    ``update-index --add --remove``, then ``write-tree``; with nothing to bring in, it is the
    index tree. Where that cannot be done,
    :func:`~flowergit.gitio.index.snapshot_trees` does it."""
    own = io is None
    io = io or MergeIo(repo)
    try:
        st = st or checkout_status(worktree)
        if st.unmerged or st.head is None:
            return snapshot_trees(repo, worktree, force_paths)
        if head_tree is None:
            got = io.batch.get(st.head)
            if got is None or got[1] != "commit":
                return snapshot_trees(repo, worktree, force_paths)
            head_tree = tree_of_commit(got[2])
        staged: dict[str, tuple[bytes, str] | None] = {}
        for p, (xy, mode, oid) in st.entries.items():
            if xy[0] == "D":
                staged[p] = None
            elif xy[0] in "AMT":
                staged[p] = (mode.encode(), oid)
        if any(p[:i] in staged for p in staged for i in range(len(p)) if p[i] == "/"):
            # a staged path under another staged path (a file replaced by a directory)
            return snapshot_trees(repo, worktree, force_paths)
        try:
            index_tree = (writes.edit_tree(io.batch, io.writer, head_tree, staged) if staged
                          else head_tree)
        except FlowerError:
            return snapshot_trees(repo, worktree, force_paths)
        paths = [p for p, (xy, _m, _o) in st.entries.items() if xy[1] != "."]
        paths += [p.rstrip("/") for p in st.untracked]
        paths += [p for p in force_paths if os.path.isfile(os.path.join(worktree, p))
                  or os.path.islink(os.path.join(worktree, p))]
        wt_tree = worktree_tree(repo, worktree, git_dir, paths) if paths else index_tree
        if wt_tree is None:
            return snapshot_trees(repo, worktree, force_paths)
        if own:
            io.writer.flush()
        return index_tree, wt_tree
    finally:
        if own:
            io.close()
