"""The detached scratch worktree a merge's suite runs in: made at the merged commit, removed
whatever state it is left in. (A worker's worktree, released once its branch merged, is
:func:`flowergit.gitio.worktrees.release`.)
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
