"""The state of a checkout: the branch its HEAD names, what ``git status`` sees in it, and what
git keeps about it in the repository (its lock, its removal, the pruning of a deleted one).

Listing the worktrees and finding which holds a branch is :mod:`flowergit.gitio.worktrees`.
"""

from __future__ import annotations

from flowergit.gitio.repo import Repo

STATUS = ["status", "--porcelain", "-z", "--untracked-files=all"]


def head_branch(repo: Repo, worktree: str | None) -> str | None:
    """The short name of the branch HEAD names in ``worktree`` (None: the repository's own git
    dir, as in a bare repository); None when HEAD is detached."""
    args = ["symbolic-ref", "-q", "--short", "HEAD"]
    res = repo.git_wt(args, worktree, check=False) if worktree else repo.git(args, check=False)
    return res.out.strip() or None


def status_records(repo: Repo, worktree: str, *, lock_free: bool = False,
                   every_submodule: bool = False) -> list[bytes]:
    """The records of ``git status --porcelain -z --untracked-files=all`` in ``worktree``: each
    ``XY path`` (a rename's original path follows as a record of its own). ``lock_free``: leave
    the index alone (``--no-optional-locks``), for a look at a checkout someone else works in;
    ``every_submodule``: report changes in every submodule, whatever the config ignores.
    Raises :class:`~flowergit.gitio.runner.GitError` when git cannot tell."""
    args = [*(["--no-optional-locks"] if lock_free else []), *STATUS,
            *(["--ignore-submodules=none"] if every_submodule else [])]
    res = repo.git_wt(args, worktree)
    return [r for r in res.stdout.split(b"\0") if r]


def lock(repo: Repo, path: str, reason: str) -> bool:
    """Lock the worktree at ``path`` against pruning and removal; False if git refused."""
    return repo.git(["worktree", "lock", "--reason", reason, "--end-of-options", path],
                    check=False).ok


def unlock(repo: Repo, path: str) -> bool:
    """Unlock the worktree at ``path``; False if git refused (it was not locked, say)."""
    return repo.git(["worktree", "unlock", "--end-of-options", path], check=False).ok


def remove(repo: Repo, path: str, *, force: int = 0) -> None:
    """``git worktree remove``: the checkout at ``path`` and what git keeps about it. ``force``
    once removes one with changes or a missing directory, twice a locked one too. Raises
    :class:`~flowergit.gitio.runner.GitError` (with git's reason) when git refuses."""
    repo.git(["worktree", "remove", *(["--force"] * force), "--end-of-options", path])


def prune(repo: Repo) -> bool:
    """Forget the worktrees whose directories are gone (``git worktree prune``)."""
    return repo.git(["worktree", "prune"], check=False).ok
