"""The stash, by commit id only.

``refs/stash`` is shared by every worktree, so git flower never names ``stash@{0}``: a push is
confirmed by comparing the ``refs/stash`` oid before and after (a push with nothing to save
exits 0 and creates nothing), and a drop finds the entry by its oid and re-checks it first.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowergit.gitio import runner
from flowergit.gitio.pins import SAFE, literal
from flowergit.gitio.repo import Repo


def top(repo: Repo) -> str | None:
    res = repo.git(["rev-parse", "-q", "--verify", "refs/stash"], check=False)
    return res.out.strip() if res.ok else None


def entries(repo: Repo) -> list[str]:
    """Stash commit ids, newest first."""
    res = repo.git(["log", "-g", "--format=%H", "refs/stash", "--"], check=False)
    return [o for o in res.out.split() if o] if res.ok else []


def find(repo: Repo, message: str) -> str | None:
    """The stash entry whose message ends with ``message`` (a push whose id was never recorded,
    e.g. after a crash right after ``git stash push``)."""
    res = repo.git(["log", "-g", "--format=%H %gs", "refs/stash", "--"], check=False)
    for ln in res.out.splitlines():
        oid, _, subject = ln.partition(" ")
        if subject.endswith(message):
            return oid
    return None


def push(repo: Repo, worktree: str, paths: Sequence[str], message: str) -> str | None:
    """Stash the changes of ``paths`` (index and worktree); the new stash oid, or None when git
    had nothing to save."""
    before = top(repo)
    runner.run([*SAFE, "stash", "push", "-q", "-m", message, "--", *literal(paths)],
               cwd=worktree)
    after = top(repo)
    return after if after and after != before else None


def apply(worktree: str, oid: str, paths: Sequence[str] = ()) -> tuple[bool, bool]:
    """Apply stash ``oid`` to the files, then re-stage what was staged for ``paths``.

    ``git stash apply --index`` cannot be used: a stash pushed with a pathspec records the
    *whole* index, so it refuses whenever other staged files are still staged. The staged part
    of ``paths`` alone is re-applied to the index instead. Returns (applied, index restored).
    """
    res = runner.run([*SAFE, "stash", "apply", "-q", oid], cwd=worktree, check=False)
    if not res.ok:
        return False, False
    if not paths:
        return True, True
    diff = runner.run([*SAFE, "diff", "--binary", "--no-ext-diff", "--no-renames",
                       f"{oid}^1", f"{oid}^2", "--", *literal(paths)], cwd=worktree)
    if not diff.stdout:
        return True, True
    for extra in ((), ("--3way",)):
        r = runner.run([*SAFE, "apply", "--cached", *extra], cwd=worktree, input=diff.stdout,
                       check=False)
        if r.ok:
            return True, True
    return True, False


def drop(repo: Repo, oid: str) -> bool:
    """Drop the entry whose commit is ``oid`` (never another one). False if it is not there."""
    for _ in range(5):
        ids = entries(repo)
        if oid not in ids:
            return False
        i = ids.index(oid)
        # re-check just before dropping: the entry at i must still be ours
        res = repo.git(["rev-parse", "-q", "--verify", f"refs/stash@{{{i}}}"], check=False)
        if res.out.strip() != oid:
            continue
        res = repo.git(["stash", "drop", "-q", f"stash@{{{i}}}"], check=False)
        if res.ok:
            return True
    return False
