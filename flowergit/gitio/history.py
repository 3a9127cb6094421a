"""Reading history: which commit a name resolves to, ancestry, first-parent walks, subjects,
and the commit behind a line (blame) or a file (the last commit touching it).

Nothing here writes.
"""

from __future__ import annotations

from flowergit.gitio import runner
from flowergit.gitio.repo import Repo


def commit_of(repo: Repo, rev: str) -> str | None:
    """The commit ``rev`` names, or None."""
    res = repo.git(["rev-parse", "-q", "--verify", "--end-of-options", rev + "^{commit}"],
                   check=False)
    return res.out.strip() if res.ok else None


def is_ancestor(repo: Repo, a: str, b: str) -> bool:
    res = repo.git(["merge-base", "--is-ancestor", "--end-of-options", a, b], check=False)
    return res.returncode == 0


def count_commits(repo: Repo, rng: str) -> int:
    res = repo.git(["rev-list", "--count", "--end-of-options", rng], check=False)
    return int(res.out.strip() or 0) if res.ok else 0


def first_parents(repo: Repo, rng: str) -> list[str]:
    res = repo.git(["rev-list", "--first-parent", "--end-of-options", rng])
    return [o for o in res.out.split() if o]


def ancestry_path(repo: Repo, commit: str, tip: str) -> list[str]:
    res = repo.git(["rev-list", "--ancestry-path", "--end-of-options", f"{commit}..{tip}"],
                   check=False)
    return [o for o in res.out.split() if o]


def subject(repo: Repo, commit: str) -> str:
    return repo.git(["log", "-1", "--format=%s", "--end-of-options", commit]).out.strip()


def blame_line(worktree: str, rev: str, path: str, line: int) -> str | None:
    """The commit that last changed line ``line`` of ``path`` as of ``rev``."""
    # blame has no --end-of-options (git 2.39): refuse option-like revisions instead
    if rev.startswith("-"):
        return None
    res = runner.run(["blame", "--porcelain", "-L", f"{line},{line}", rev, "--", path],
                     cwd=worktree, check=False)
    if not res.ok or not res.out:
        return None
    return res.out.split(" ", 1)[0]


def last_commit_for(worktree: str, rev: str, path: str) -> str | None:
    """The last commit of ``rev`` that touched ``path``."""
    res = runner.run(["log", "-1", "--format=%H", "--end-of-options", rev, "--", path],
                     cwd=worktree, check=False)
    return res.out.strip() or None
