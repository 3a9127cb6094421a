"""Branches: deleting them, and how far one has gone from another."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowergit.gitio.repo import Repo


def delete(repo: Repo, branch: str) -> bool:
    """``git branch -D`` (merged or not); False when git could not."""
    return repo.git(["branch", "-D", "--end-of-options", branch], check=False).ok


def delete_loose(repo: Repo, branch: str) -> bool:
    """Delete ``refs/heads/<branch>`` without checking its old value. On a full disk ``branch
    -D`` fails (checking the old value makes git rewrite packed-refs); this removes the loose
    file only. The caller makes sure the branch is its own to drop."""
    return repo.git(["update-ref", "--no-deref", "-d", "--end-of-options",
                     f"refs/heads/{branch}"], check=False).ok


def merge_base(repo: Repo, a: str, b: str) -> str | None:
    """The best common ancestor of two commits; None when they have none (or git fails)."""
    res = repo.git(["merge-base", "--end-of-options", a, b], check=False)
    return res.out.strip() if res.ok and res.out.strip() else None


def left_right(repo: Repo, left: str, right: str) -> tuple[int, int] | None:
    """(commits only ``left`` has, commits only ``right`` has); None when git cannot say."""
    counts = repo.git(["rev-list", "--left-right", "--count", "--end-of-options",
                       f"{left}...{right}"], check=False).out.split()
    if len(counts) != 2 or not all(c.isdigit() for c in counts):
        return None
    return int(counts[0]), int(counts[1])


def tip_and_trees(repo: Repo, branch: str, base: str) -> tuple[str, str, str] | None:
    """(the tip of ``branch``, its tree, ``base``'s tree) in one ``rev-parse``; None when any
    cannot be read. Names go unguarded (it echoes ``--end-of-options`` as an argument in git <
    2.43): the caller passes a branch name and an object id, which cannot be taken for options."""
    ref = f"refs/heads/{branch}"
    got = repo.git(["rev-parse", f"{ref}^{{commit}}", f"{ref}^{{tree}}", f"{base}^{{tree}}"],
                   check=False).out.split()
    if len(got) != 3:
        return None
    return got[0], got[1], got[2]
