"""The detached scratch worktree a merge's suite runs in: made at the merged commit, removed
whatever state it is left in — or kept between runs and moved to the next commit
(:func:`move`), which rewrites only the files that differ. (A worker's worktree, released once
its branch merged, is :func:`flowergit.gitio.worktrees.release`.)
"""

from __future__ import annotations

import os

from flowergit.gitio import worktrees
from flowergit.gitio.pins import SAFE
from flowergit.gitio.repo import Repo


def add(repo: Repo, path: str, commit: str) -> None:
    """A detached worktree at ``commit`` (no hooks, no submodule recursion)."""
    repo.git([*SAFE, "worktree", "add", "-q", "--detach", "--end-of-options", path, commit])


def remove(repo: Repo, path: str) -> None:
    """Remove a scratch worktree and its administrative entry. ``worktree remove`` drops both;
    ``worktree prune`` runs only when it could not (a missing or half-removed directory)."""
    if os.path.isdir(path):
        if worktrees.remove(repo, path):
            return
        if os.path.isdir(path):
            import shutil

            shutil.rmtree(path, ignore_errors=True)
    worktrees.prune(repo)


def move(repo: Repo, path: str, commit: str) -> bool:
    """Bring the kept scratch worktree at ``path`` to exactly ``commit``: every file the last
    run left that git does not track goes (``clean -ffdx``, ignored ones too: the suite runs
    on exactly the tree), then a forced detached checkout, git's two-way ``read-tree -m -u``
    from the commit it stands on, which rewrites only the paths that differ. False when
    ``path`` is no usable worktree (then :func:`remove` it and :func:`add` a fresh one)."""
    if not os.path.isfile(os.path.join(path, ".git")) or not all(c in "0123456789abcdef"
                                                               for c in commit):
        return False  # (an object id: `checkout --detach` takes no --end-of-options)
    if not repo.git_wt([*SAFE, "clean", "-ffdxq"], path, check=False).ok:
        return False
    return repo.git_wt([*SAFE, "checkout", "-q", "-f", "--detach", commit], path,
                       check=False).ok
