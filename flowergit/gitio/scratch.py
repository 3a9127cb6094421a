"""Worktrees git flower removes itself: the detached scratch worktree a suite runs in, and a
worker's worktree released once its branch merged.
"""

from __future__ import annotations

import os

from flowergit.gitio.pins import SAFE
from flowergit.gitio.repo import Repo


def add(repo: Repo, path: str, commit: str) -> None:
    """A detached worktree at ``commit`` (no hooks, no submodule recursion)."""
    repo.git([*SAFE, "worktree", "add", "-q", "--detach", "--end-of-options", path, commit])


def remove(repo: Repo, path: str) -> None:
    """Remove a scratch worktree and its administrative entry. ``worktree remove`` drops both;
    ``worktree prune`` runs only when it could not (a missing or half-removed directory)."""
    if os.path.isdir(path):
        res = repo.git(["worktree", "remove", "--force", "--force", "--end-of-options", path],
                       check=False)
        if res.ok:
            return
        if os.path.isdir(path):
            import shutil

            shutil.rmtree(path, ignore_errors=True)
    repo.git(["worktree", "prune"], check=False)


def _lock_reason(path: str) -> str | None:
    """The lock reason of a linked worktree ("" when locked without one); None if unlocked."""
    try:
        with open(os.path.join(path, ".git"), encoding="utf-8", errors="surrogateescape") as f:
            line = f.read().strip()
    except OSError:
        return None
    if not line.startswith("gitdir: "):
        return None
    admin = line[len("gitdir: "):]
    try:
        with open(os.path.join(admin, "locked"), encoding="utf-8", errors="surrogateescape") as f:
            return f.read().strip()
    except OSError:
        return None


def release_worker(repo: Repo, path: str) -> bool:
    """Unlock and remove a clean worker worktree; False (nothing removed, lock kept) if not clean.

    ``git worktree remove`` without ``--force`` itself refuses a tree with modified or
    untracked files, so no separate status is needed; a refused tree is locked again with the
    reason it had."""
    if not os.path.isdir(path):
        repo.git(["worktree", "prune"], check=False)
        return True
    reason = _lock_reason(path)
    if reason is not None:
        repo.git(["worktree", "unlock", "--end-of-options", path], check=False)
    res = repo.git(["worktree", "remove", "--end-of-options", path], check=False)
    if res.ok:
        return True
    if reason is not None and os.path.isdir(path):
        repo.git(["worktree", "lock", *(["--reason", reason] if reason else []),
                  "--end-of-options", path], check=False)
    return False
