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


def add(repo: Repo, path: str, commit: str, tidied: str | None = None) -> None:
    """A detached worktree at ``commit`` (no hooks, no submodule recursion). ``tidied``: the
    mark :func:`tidy` leaves for this path, which no longer speaks for the new checkout."""
    if tidied is not None:
        _take(tidied)
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


def move(repo: Repo, path: str, commit: str, tidied: str | None = None) -> bool:
    """Bring the kept scratch worktree at ``path`` to exactly ``commit``. When the file
    ``tidied`` names the commit the worktree stands on (what :func:`tidy` wrote after the last
    run), it is exactly that commit's tree already, and git's two-way ``read-tree -m -u`` from
    it rewrites only the paths that differ. Otherwise every file the last run left that git
    does not track goes first (``clean -ffdx``, ignored ones too: the suite runs on exactly the
    tree), then a forced detached checkout. False when ``path`` is no usable worktree (then
    :func:`remove` it and :func:`add` a fresh one)."""
    if not os.path.isfile(os.path.join(path, ".git")) or not _is_oid(commit):
        return False  # (an object id: `checkout --detach` takes no --end-of-options)
    if tidied is not None:
        at = _take(tidied)  # good for one move: the suite that follows leaves what it leaves
        if at is not None and at == head(path) and repo.git_wt(
                [*SAFE, "read-tree", "-m", "-u", "HEAD", commit], path, check=False).ok \
                and repo.git_wt(["update-ref", "--no-deref", "HEAD", commit], path,
                                check=False).ok:
            return True
    if not repo.git_wt([*SAFE, "clean", "-ffdxq"], path, check=False).ok:
        return False
    return repo.git_wt([*SAFE, "checkout", "-q", "-f", "--detach", commit], path,
                       check=False).ok


def tidy(repo: Repo, path: str, tidied: str) -> bool:
    """After a run, make the kept worktree exactly the commit it stands on again (what the
    next :func:`move` would otherwise do first, on the next merge's critical path) and write
    that commit to the file ``tidied``."""
    _take(tidied)
    if not (repo.git_wt([*SAFE, "clean", "-ffdxq"], path, check=False).ok
            and repo.git_wt([*SAFE, "checkout", "-q", "-f", "--detach", "HEAD"], path,
                            check=False).ok):
        return False
    at = head(path)
    if at is None:
        return False
    tmp = f"{tidied}.{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(at + "\n")
    os.replace(tmp, tidied)
    return True


def head(path: str) -> str | None:
    """The commit a detached worktree stands on, read from its files (no git process)."""
    try:
        with open(os.path.join(path, ".git"), encoding="utf-8", errors="surrogateescape") as f:
            link = f.read().strip()
        if not link.startswith("gitdir: "):
            return None
        with open(os.path.join(path, link[8:], "HEAD"), encoding="ascii",
                  errors="replace") as f:
            at = f.read().strip()
    except OSError:
        return None
    return at if _is_oid(at) else None


def _is_oid(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _take(path: str) -> str | None:
    """The first line of the file ``path``, which is removed; None when there is none."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            got = f.readline().strip()
        os.unlink(path)
    except OSError:
        return None
    return got or None
