"""A dispatch's worktree and branch: made (a new branch at its base, checked out while the rest
of the dispatch goes on), found again for rework, locked as the dispatch's, and taken back when a
dispatch fails before it has claimed its attempt. The git command lines are gitio's
(:mod:`flowergit.gitio.worktrees`, :mod:`flowergit.gitio.branches`)."""

from __future__ import annotations

import os

from flowergit.errors import Conflict, NotFound, ResourceExhausted, UsageError
from flowergit.gitio import branches, refs
from flowergit.gitio import worktrees as gitwt
from flowergit.gitio.runner import GitError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowergit.gitio.repo import Repo
    from flowergit.gitio.runner import Started
    from flowergit.gitio.worktrees import Worktree
    from flowergit.ops.context import Ctx
    from flowergit.state.schema import Drift


def lock_reason(did: str) -> str:
    return f"git flower dispatch {did}"


class Adding:
    """A ``git worktree add`` running while the caller does other work; :meth:`result` waits
    for it (a worktree deleted by hand is forgotten and the add tried again, and the errors
    a user can act on are said as such)."""

    def __init__(self, repo: Repo, path: str, commit: str, reason: str,
                 new_branch: str | None = None) -> None:
        self.repo = repo
        self.path = path
        self.commit = commit
        self.reason = reason
        self.new_branch = new_branch
        self.started = self._start()

    def _start(self) -> Started:
        return gitwt.start_add(self.repo, self.path, self.commit, reason=self.reason,
                               new_branch=self.new_branch)

    def done(self) -> bool:
        return self.started.done()

    def result(self) -> None:
        for attempt in (0, 1):
            try:
                self.started.result()
                return
            except GitError as e:
                err = e.err
                if attempt == 0 and ("missing but" in err or "already registered" in err):
                    # a worktree deleted by hand: forget it, then retry
                    forget_worktree(self.repo, self.path, True)
                    self.started = self._start()
                    continue
                if "already checked out" in err or "is already used by worktree" in err:
                    where = err.strip().splitlines()[-1].split(" at ")[-1].strip("'")
                    raise Conflict(f"the branch is already checked out at {where}",
                                   f"switch that worktree to another branch (`git -C {where} "
                                   "switch --detach`), then dispatch again") from None
                if "already exists" in err:
                    raise Conflict(f"cannot create the worktree: {err.strip().splitlines()[-1]}",
                                   "move that directory away, or set [flower] worktrees in "
                                   ".flower.toml") from None
                raise


def make_parent(path: str) -> None:
    """Make the directory a dispatch's worktree goes in; a file where ``[flower] worktrees``
    wants a directory is the user's to move, named as such."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"cannot make worker worktrees under {os.path.dirname(path)}: a file "
                         "is in the way", "move that file, or set `[flower] worktrees` in "
                         ".flower.toml to a directory") from None


def start_new_worktree(ctx: Ctx, did: str, branch: str, path: str, base: str) -> Adding:
    """Start making dispatch ``did``'s locked worktree on a new ``branch`` at ``base``."""
    make_parent(path)
    return Adding(ctx.repo, path, base, lock_reason(did), new_branch=branch)


def worktrees(repo: Repo) -> list[Worktree]:
    """``git worktree list`` (gitio retries it while another process is half-way through
    ``git worktree add``)."""
    return gitwt.list_worktrees(repo)


def forget_worktree(repo: Repo, path: str, locked: bool) -> None:
    """Drop the registration of a worktree whose directory was deleted by hand."""
    if os.path.exists(path):
        return
    if locked:
        gitwt.unlock(repo, path)
    gitwt.prune(repo)


def ensure_worktree(ctx: Ctx, did: str, branch: str, path: str, base: str | None) -> str:
    """Create (or, for an existing branch, find or re-create) the dispatch's locked worktree."""
    repo = ctx.repo
    reason = lock_reason(did)
    if base is not None:  # a new branch
        start_new_worktree(ctx, did, branch, path, base).result()
        return path
    make_parent(path)
    for wt in worktrees(repo):
        if wt.branch != f"refs/heads/{branch}":
            continue
        if wt.prunable is not None or not os.path.isdir(wt.path):
            forget_worktree(repo, wt.path, bool(wt.locked is not None))
            break
        ours = (wt.locked or "").startswith("git flower dispatch")
        if not ours and os.path.realpath(wt.path) != os.path.realpath(path):
            raise Conflict(f"branch {branch} is already checked out at {wt.path}",
                           f"switch that worktree to another branch (`git -C {wt.path} switch "
                           "--detach`), then dispatch again")
        if wt.locked is not None:
            gitwt.unlock(repo, wt.path)
        gitwt.lock(repo, wt.path, reason)
        return wt.path
    Adding(repo, path, branch, reason).result()
    return path


def remove_new_worktree(repo: Repo, path: str, branch: str) -> None:
    """Undo what :func:`start_new_worktree` made: the worktree and the branch (no one else has
    seen either)."""
    gitwt.remove(repo, path)
    branches.delete(repo, branch)


def drop_new_branch(repo: Repo, branch: str, base: str) -> None:
    """On a full disk `branch -D` fails: checking the old value makes git rewrite packed-refs.
    A branch this dispatch just made, still at ``base`` and checked out nowhere, goes with a
    plain delete (only its loose file), so a failed dispatch leaves no branch behind."""
    ref = f"refs/heads/{branch}"
    if refs.read(repo, ref) != base:
        return
    if any(w.branch == ref for w in worktrees(repo)):
        return
    branches.delete_loose(repo, branch)


def take_back(adder: Adding, error: BaseException) -> None:
    """A dispatch failed before it claimed its attempt: wait for its worktree add, and remove
    what that made (unless the branch or the directory was someone else's)."""
    repo, path, branch = adder.repo, adder.path, str(adder.new_branch)
    try:
        adder.result()
    except Conflict:  # the branch or the directory is someone else's
        pass
    except GitError:  # `-b` may have made the branch before the checkout failed
        remove_new_worktree(repo, path, branch)
    except BaseException:  # noqa: BLE001 - it made nothing
        pass
    else:
        remove_new_worktree(repo, path, branch)
    if isinstance(error, ResourceExhausted):
        drop_new_branch(repo, branch, adder.commit)


def drift(repo: Repo, branch_oid: str, target_oid: str | None) -> Drift:
    """How far the branch and the target have gone apart since the branch's base."""
    if target_oid is None:
        return {"base": branch_oid, "target": "", "ahead": 0, "behind": 0}
    base = branches.merge_base(repo, branch_oid, target_oid) or target_oid
    behind, ahead = branches.left_right(repo, target_oid, branch_oid) or (0, 0)
    return {"base": base, "target": target_oid, "ahead": ahead, "behind": behind}


def resolve_commit(repo: Repo, rev: str) -> str:
    if not rev or rev.startswith("-") or "\n" in rev or "\0" in rev:
        raise UsageError(f"invalid revision {rev!r}")
    oid = refs.read(repo, rev + "^{commit}")
    if oid is None:
        raise NotFound(f"no commit named {rev!r}", "give --base a branch, tag or commit id")
    return oid
