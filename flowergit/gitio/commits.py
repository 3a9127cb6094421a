"""Committing what a worktree holds: stage everything, commit it, or take the staging back."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from flowergit.gitio.repo import Repo
    from flowergit.gitio.runner import Result

NO_SIGNING = ("-c", "commit.gpgSign=false")
NO_HOOKS = ("-c", "core.hooksPath=/dev/null", *NO_SIGNING)


def add_all(repo: Repo, worktree: str, *, no_hooks: bool = False, check: bool = True) -> Result:
    """Stage every change in ``worktree`` (``git add -A``; with ``no_hooks`` git runs none)."""
    if no_hooks:
        return repo.git_wt([*NO_HOOKS, "add", "-A"], worktree, check=check)
    return repo.git_wt(["add", "-A", "--", "."], worktree, check=check)


def nothing_staged(repo: Repo, worktree: str) -> bool:
    """Is the index of ``worktree`` the same as its HEAD?"""
    return repo.git_wt(["diff", "--cached", "--quiet"], worktree, check=False).ok


def commit(repo: Repo, worktree: str, message: bytes, *, no_hooks: bool = False,
           allow_empty_message: bool = False, env: Mapping[str, str] | None = None,
           check: bool = True) -> Result:
    """Commit what is staged in ``worktree`` with ``message`` (never signed, no commit hooks:
    ``--no-verify``; with ``no_hooks`` no hook at all)."""
    args = [*(NO_HOOKS if no_hooks else NO_SIGNING), "commit", "-q", "--no-verify"]
    if allow_empty_message:
        args.append("--allow-empty-message")
    return repo.git_wt([*args, "-F", "-"], worktree, input=message, env=env, check=check)


def unstage_all(repo: Repo, worktree: str) -> None:
    """Take the staging back (``git reset -q``): the files stay as they are."""
    repo.git_wt(["reset", "-q"], worktree, check=False)


def has_committer(repo: Repo, worktree: str) -> bool:
    """Does git know who commits in ``worktree`` (``user.name`` and ``user.email``, or the
    environment)?"""
    return repo.git_wt(["var", "GIT_COMMITTER_IDENT"], worktree, check=False).ok
