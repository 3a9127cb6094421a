"""Worktrees: the listing (``git worktree list --porcelain -z``), making, locking and removing
them, and what one checkout holds (its HEAD, its git dir, its uncommitted files)."""

from __future__ import annotations

import os

from flowergit.gitio import runner
from flowergit.gitio.repo import Repo
from flowergit.gitio.runner import Result


class Worktree:
    """One entry of `git worktree list`; ``branch`` is a full ref name (refs/heads/main)."""

    __slots__ = ("path", "head", "branch", "bare", "detached", "locked", "prunable")

    def __init__(self, path: str, head: str | None, branch: str | None, bare: bool = False,
                 detached: bool = False, locked: str | None = None,
                 prunable: str | None = None) -> None:
        self.path = path
        self.head = head
        self.branch = branch
        self.bare = bare
        self.detached = detached
        self.locked = locked
        self.prunable = prunable

    def __repr__(self) -> str:
        return (f"Worktree(path={self.path!r}, head={self.head!r}, branch={self.branch!r}, "
                f"locked={self.locked!r}, prunable={self.prunable!r})")


def list_worktrees(repo: Repo) -> list[Worktree]:
    res = _list(repo)
    out: list[Worktree] = []
    for block in res.stdout.split(b"\0\0"):
        if not block.strip(b"\0"):
            continue
        f: dict[str, str | None] = {}
        for item in block.split(b"\0"):
            if not item:
                continue
            k, _, v = item.decode("utf-8", "surrogateescape").partition(" ")
            f[k] = v
        if "worktree" not in f:
            continue
        out.append(Worktree(
            path=f["worktree"] or "", head=f.get("HEAD"), branch=f.get("branch"),
            bare="bare" in f, detached="detached" in f,
            locked=f.get("locked") if "locked" in f else None,
            prunable=f.get("prunable") if "prunable" in f else None,
        ))
    return out


def _maybe_checked_out(repo: Repo, branch_ref: str) -> bool:
    """Could ``branch_ref`` be checked out anywhere? Read from the worktrees' HEAD files (the
    main one in the common dir, linked ones under ``worktrees/``), which is what git reads: a
    "no" needs no git process. Anything unexpected (a reftable HEAD stub, an unreadable file)
    answers "maybe", and `git worktree list` decides."""
    common = repo.common_dir
    heads = [os.path.join(common, "HEAD")]
    try:
        heads += [os.path.join(common, "worktrees", n, "HEAD")
                  for n in os.listdir(os.path.join(common, "worktrees"))]
    except FileNotFoundError:
        pass
    except OSError:
        return True
    for path in heads:
        try:
            with open(path, "rb") as f:
                head = f.read(4096).strip()
        except FileNotFoundError:
            continue  # a worktree being added or pruned right now has no HEAD to hold
        except OSError:
            return True
        if not head:
            continue  # nor one whose HEAD `git worktree add` is writing at this moment
        if head.startswith(b"ref: "):
            ref = head[5:].decode("utf-8", "surrogateescape")
            if ref == branch_ref or ref == "refs/heads/.invalid":
                return True
        elif not (len(head) in (40, 64) and all(c in b"0123456789abcdef" for c in head)):
            return True
        elif operation_branch(os.path.dirname(path)) == branch_ref:
            return True  # detached by a rebase or bisect of it
    return False


def operation_branch(git_dir: str) -> str | None:
    """The branch (a full ref name) a checkout is in the middle of rebasing or bisecting while
    its HEAD is detached: git counts it as checked out there, and so does git flower."""
    for name in ("rebase-merge/head-name", "rebase-apply/head-name", "BISECT_START"):
        try:
            with open(os.path.join(git_dir, name), encoding="utf-8",
                      errors="surrogateescape") as f:
                text = f.read(4096).strip()
        except OSError:
            continue
        first = text.splitlines()[0].strip() if text else ""
        if name != "BISECT_START":
            if first.startswith("refs/"):
                return first
        elif first and not (len(first) in (40, 64)
                            and all(c in "0123456789abcdef" for c in first)):
            return first if first.startswith("refs/") else "refs/heads/" + first
    return None


def holding(repo: Repo, branch_ref: str) -> Worktree | None:
    """The worktree that has ``branch_ref`` checked out, if any (or is rebasing or bisecting
    it, its HEAD detached meanwhile)."""
    if not _maybe_checked_out(repo, branch_ref):
        return None
    for wt in list_worktrees(repo):
        if wt.branch == branch_ref:
            return wt
        if wt.detached and not wt.bare and os.path.isdir(wt.path):
            admin = _admin_dir(repo, wt.path)
            if admin is not None and operation_branch(admin) == branch_ref:
                return Worktree(path=wt.path, head=wt.head, branch=branch_ref, detached=True)
    return None


def _admin_dir(repo: Repo, path: str) -> str | None:
    """A checkout's git dir, from its ``.git`` (a directory, or a ``gitdir:`` file)."""
    dotgit = os.path.join(path, ".git")
    if os.path.isdir(dotgit):
        return dotgit
    try:
        with open(dotgit, encoding="utf-8", errors="surrogateescape") as f:
            line = f.read(4096).strip()
    except OSError:
        return None
    if not line.startswith("gitdir: "):
        return None
    admin = line[len("gitdir: "):]
    return admin if os.path.isabs(admin) else os.path.normpath(os.path.join(path, admin))


def _list(repo: Repo) -> Result:
    """``git worktree list`` fails ("failed to read …/commondir") while another process is
    half-way through ``git worktree add``; that state lasts milliseconds, so look again."""
    import time

    for attempt in range(20):
        res = repo.git(["worktree", "list", "--porcelain", "-z"], check=False)
        if res.ok:
            return res
        if "commondir" not in res.err and "gitdir" not in res.err:
            break
        time.sleep(0.01 * (attempt + 1))
    return repo.git(["worktree", "list", "--porcelain", "-z"])


# -- making, locking and removing ------------------------------------------------------------
def start_add(repo: Repo, path: str, commit: str, *, reason: str,
              new_branch: str | None = None) -> runner.Started:
    """Start ``git worktree add --lock`` of ``commit`` (a branch to check out, or the base of
    ``new_branch``, made by the add) at ``path``, without waiting: the checkout is the long
    step, and the caller has other work to do meanwhile."""
    args = ["--git-dir", repo.git_dir, "worktree", "add", "--quiet", "--lock", "--reason", reason]
    if new_branch is not None:
        args += ["-b", new_branch]
    return runner.start([*args, "--end-of-options", path, commit])


def lock(repo: Repo, path: str, reason: str, *, check: bool = True) -> bool:
    """Lock the worktree at ``path`` against pruning and removal. ``check``: raise
    :class:`GitError` when git cannot; else False."""
    return repo.git(["worktree", "lock", "--reason", reason, "--end-of-options", path],
                    check=check).ok


def unlock(repo: Repo, path: str) -> bool:
    """Unlock the worktree at ``path``; False when git would not (it was not locked)."""
    return repo.git(["worktree", "unlock", "--end-of-options", path], check=False).ok


def prune(repo: Repo) -> bool:
    """Forget the registrations of worktrees whose directories are gone."""
    return repo.git(["worktree", "prune"], check=False).ok


def remove(repo: Repo, path: str, *, force: int = 2, check: bool = False) -> bool:
    """``git worktree remove``: the checkout at ``path`` and what git keeps about it. ``force``
    once removes one with changes or a missing directory, twice (the default) a locked one too.
    ``check``: raise :class:`GitError` (with git's reason) when git refuses; else False."""
    return repo.git(["worktree", "remove", *(["--force"] * force), "--end-of-options", path],
                    check=check).ok


def release(repo: Repo, path: str) -> bool:
    """Unlock and remove a clean worker worktree; False (nothing removed, lock kept) if not clean.

    ``git worktree remove`` without ``--force`` itself refuses a tree with modified or
    untracked files, so no separate status is needed; a refused tree is locked again with the
    reason it had."""
    if not os.path.isdir(path):
        prune(repo)
        return True
    reason = lock_reason(repo, path)
    if reason is not None:
        unlock(repo, path)
    if remove(repo, path, force=0):
        return True
    if reason is not None and os.path.isdir(path):
        repo.git(["worktree", "lock", *(["--reason", reason] if reason else []),
                  "--end-of-options", path], check=False)
    return False


def lock_reason(repo: Repo, path: str) -> str | None:
    """The lock reason of the checkout at ``path`` ("" when locked without one); None if it is
    not locked (or not a checkout)."""
    admin = _admin_dir(repo, path)
    if admin is None:
        return None
    try:
        with open(os.path.join(admin, "locked"), encoding="utf-8", errors="surrogateescape") as f:
            return f.read().strip()
    except OSError:
        return None


def head_branch(repo: Repo, worktree: str | None) -> str | None:
    """The short name of the branch HEAD names in ``worktree`` (None: the repository's own git
    dir, as in a bare repository); None when HEAD is detached."""
    args = ["symbolic-ref", "-q", "--short", "HEAD"]
    res = repo.git_wt(args, worktree, check=False) if worktree else repo.git(args, check=False)
    return res.out.strip() or None


# -- one checkout ----------------------------------------------------------------------------
def head_ref(repo: Repo, worktree: str) -> str:
    """The branch (a full ref name) checked out in ``worktree``; "" for a detached HEAD."""
    return repo.git_wt(["symbolic-ref", "-q", "HEAD"], worktree, check=False).out.strip()


def head_commit(repo: Repo, worktree: str, *, check: bool = True) -> str:
    """The commit checked out in ``worktree`` ("" when it cannot be read and not ``check``)."""
    return repo.git_wt(["rev-parse", "HEAD"], worktree, check=check).out.strip()


def git_dir(repo: Repo, worktree: str) -> str | None:
    """The absolute git dir of ``worktree`` (its admin dir under ``worktrees/`` for a linked
    one); None when git cannot read it."""
    res = repo.git_wt(["rev-parse", "--absolute-git-dir"], worktree, check=False)
    gd = res.out.strip()
    return gd if res.ok and gd else None


def changed_files(repo: Repo, worktree: str) -> list[str] | None:
    """Paths with uncommitted changes in ``worktree`` (untracked included, ignored excluded);
    None when git cannot read it."""
    res = repo.git_wt(["--no-optional-locks", "status", "--porcelain=v1", "-z",
                       "--untracked-files=all", "--ignore-submodules=dirty"], worktree, check=False)
    if not res.ok:
        return None
    out: list[str] = []
    entries = res.stdout.split(b"\0")
    i = 0
    while i < len(entries):
        e = entries[i]
        i += 1
        if len(e) < 4:
            continue
        out.append(e[3:].decode("utf-8", "surrogateescape"))
        if e[:1] in (b"R", b"C"):
            i += 1  # a rename's source follows
    return out
