"""The state of a checkout: ``git status``, the operations in progress in it (rebase, merge,
bisect, …), its git dir, and which checkout has a given branch.

Nothing here moves a ref; only :func:`checkout_status` may write the index (refreshed stat
data, as `git status` does for its user).
"""

from __future__ import annotations

import os

from flowergit.errors import FlowerError
from flowergit.gitio import runner
from flowergit.gitio.pins import SAFE
from flowergit.gitio.repo import Repo
from flowergit.gitio.worktrees import Worktree, list_worktrees, operation_branch


class Status:
    """``git status --porcelain=v2`` of a checkout: HEAD's commit (with ``--branch``), the
    tracked paths whose index or files differ from HEAD (``path -> (XY, index mode, index
    oid)``), the untracked and the unmerged paths."""

    __slots__ = ("head", "entries", "untracked", "unmerged")

    def __init__(self) -> None:
        self.head: str | None = None
        self.entries: dict[str, tuple[str, str, str]] = {}
        self.untracked: list[str] = []
        self.unmerged: list[str] = []

    @property
    def modified(self) -> list[str]:
        return list(self.entries)

    @property
    def staged(self) -> list[str]:
        """Paths whose index differs from HEAD."""
        return [p for p, e in self.entries.items() if e[0][0] != "."]

    @property
    def ita(self) -> list[str]:
        """Intent-to-add entries (`git add -N`)."""
        return [p for p, e in self.entries.items() if e[0] == ".A"]

    def in_index(self, path: str, in_head: bool) -> bool:
        """Has the index an entry for ``path`` (``in_head``: HEAD's tree has it)?"""
        e = self.entries.get(path)
        if e is None:
            return in_head
        x = e[0][0]
        return x in "AMT" or e[0] == ".A" or (x == "." and in_head)

    def __repr__(self) -> str:
        return (f"Status(head={self.head!r}, modified={self.modified!r}, "
                f"untracked={self.untracked!r}, unmerged={self.unmerged!r})")


def parse_status(out: bytes, worktree: str) -> Status:
    """Read ``git status --porcelain=v2 -z --no-renames`` output (``--branch`` optional)."""
    st = Status()
    for item in out.split(b"\0"):
        if not item:
            continue
        kind = item[:1]
        text = item.decode("utf-8", "surrogateescape")
        if kind == b"#":
            if text.startswith("# branch.oid "):
                oid = text[len("# branch.oid "):].strip()
                st.head = oid if oid != "(initial)" else None
        elif kind == b"1":
            f = text.split(" ", 8)
            st.entries[f[8]] = (f[1], f[4], f[7])
        elif kind == b"u":
            st.unmerged.append(text.split(" ", 10)[10])
        elif kind == b"?":
            st.untracked.append(text[2:])
        elif kind == b"2":  # not with --no-renames; never taken for a plain change
            raise FlowerError(f"unexpected rename entry in git status of {worktree}")
    return st


def status(worktree: str) -> Status:
    """``git status --porcelain=v2`` of a checkout (no optional locks, every untracked file)."""
    res = runner.run(["--no-optional-locks", *SAFE, "status", "--porcelain=v2", "-z",
                      "--untracked-files=all", "--ignored=no", "--no-renames"], cwd=worktree)
    return parse_status(res.stdout, worktree)


def checkout_status(worktree: str) -> Status:
    """One ``git status`` of a checkout (every untracked file, no ignored ones, no renames),
    with HEAD's commit. Unlike :func:`status` it may take the index lock for a moment, as
    `git status` does for its user, to write back refreshed stat data: a two-way update that
    follows then finds clean files clean without an ``update-index --refresh`` of its own."""
    res = runner.run([*SAFE, "status", "--porcelain=v2", "-z", "--branch",
                      "--no-ahead-behind", "--untracked-files=all", "--ignored=no",
                      "--no-renames"], cwd=worktree)
    return parse_status(res.stdout, worktree)


def status_records(repo: Repo, worktree: str, *, lock_free: bool = False,
                   every_submodule: bool = False) -> list[bytes]:
    """The records of ``git status --porcelain -z --untracked-files=all`` in ``worktree``: each
    ``XY path`` (a rename's original path follows as a record of its own). ``lock_free``: leave
    the index alone (``--no-optional-locks``), for a look at a checkout someone else works in;
    ``every_submodule``: report changes in every submodule, whatever the config ignores.
    Raises :class:`~flowergit.gitio.runner.GitError` when git cannot tell."""
    args = [*(["--no-optional-locks"] if lock_free else []), "status", "--porcelain", "-z", "--untracked-files=all",
            *(["--ignore-submodules=none"] if every_submodule else [])]
    res = repo.git_wt(args, worktree)
    return [r for r in res.stdout.split(b"\0") if r]


def worktree_clean(worktree: str) -> bool:
    st = status(worktree)
    return not (st.modified or st.untracked or st.unmerged)


# marker in a checkout's git dir -> (the operation in progress, how to finish or abort it)
_OPERATIONS = (
    ("rebase-merge", "a rebase", "`git rebase --continue` or `git rebase --abort`"),
    ("rebase-apply", "a rebase", "`git rebase --continue` or `git rebase --abort`"),
    ("MERGE_HEAD", "a merge", "`git merge --continue` or `git merge --abort`"),
    ("CHERRY_PICK_HEAD", "a cherry-pick", "`git cherry-pick --continue` or `git cherry-pick --abort`"),
    ("REVERT_HEAD", "a revert", "`git revert --continue` or `git revert --abort`"),
    ("sequencer", "a cherry-pick", "`git cherry-pick --continue` or `git cherry-pick --abort`"),
    ("BISECT_START", "a bisect", "`git bisect reset`"),
    ("BISECT_LOG", "a bisect", "`git bisect reset`"),
)
# shared by every checkout: the notes merge (the merge gate writes notes)
_SHARED = (
    ("NOTES_MERGE_PARTIAL", "a notes merge", "`git notes merge --commit` or `git notes merge --abort`"),
    ("NOTES_MERGE_REF", "a notes merge", "`git notes merge --commit` or `git notes merge --abort`"),
    ("NOTES_MERGE_WORKTREE", "a notes merge",
     "`git notes merge --commit` or `git notes merge --abort`"),
)


def _read_small(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read(4096).strip()
    except OSError:
        return None


def operations(git_dir: str, common_dir: str) -> list[tuple[str, str, str]]:
    """The operations in progress in a checkout (its ``git_dir``), plus a notes merge in any
    checkout: ``(marker, what, how to finish or abort it)``, one per operation."""
    found: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for d, table in ((git_dir, _OPERATIONS), (git_dir, _SHARED), (common_dir, _SHARED)):
        for marker, what, how in table:
            if what in seen or not os.path.lexists(os.path.join(d, marker)):
                continue
            if marker == "rebase-apply" and os.path.lexists(os.path.join(d, marker, "applying")):
                what, how = "a `git am`", "`git am --continue` or `git am --abort`"
            elif marker == "sequencer":
                todo = _read_small(os.path.join(d, marker, "todo")) or ""
                if todo.split(" ", 1)[0] in ("revert", "r"):
                    what, how = "a revert", "`git revert --continue` or `git revert --abort`"
            if what in seen:
                continue
            seen.add(what)
            found.append((marker, what, how))
    return found


_GIT_DIRS: dict[str, str] = {}


def worktree_git_dir(worktree: str, repo: Repo | None = None) -> str:
    """The git dir of a checkout; the discovered one when it is ``repo``'s own (no process)."""
    if repo is not None and repo.worktree and worktree not in _GIT_DIRS \
            and os.path.realpath(worktree) == os.path.realpath(repo.worktree):
        _GIT_DIRS[worktree] = repo.git_dir
    if worktree not in _GIT_DIRS:
        res = runner.run(["rev-parse", "--path-format=absolute", "--git-dir"], cwd=worktree)
        _GIT_DIRS[worktree] = res.out.strip()
    return _GIT_DIRS[worktree]


def checkout_of(repo: Repo, branch_ref: str) -> tuple[Worktree, str | None] | None:
    """The checkout that has ``branch_ref`` and its git dir, read from the worktrees' HEAD
    files as git itself reads them (no process). Anything unexpected (a reftable HEAD stub, an
    unreadable or missing file, a worktree whose directory is gone) lets `git worktree list`
    decide instead."""
    common = repo.common_dir
    try:
        names = sorted(os.listdir(os.path.join(common, "worktrees")))
    except FileNotFoundError:
        names = []
    except OSError:
        return _listed_checkout(repo, branch_ref)
    found = []
    for admin in [common] + [os.path.join(common, "worktrees", n) for n in names]:
        try:
            with open(os.path.join(admin, "HEAD"), "rb") as f:
                head = f.read(4096).strip()
        except OSError:
            return _listed_checkout(repo, branch_ref)
        if head.startswith(b"ref: "):
            ref = head[5:].decode("utf-8", "surrogateescape")
            if ref == "refs/heads/.invalid":
                return _listed_checkout(repo, branch_ref)
            if ref == branch_ref:
                found.append(admin)
        elif not (len(head) in (40, 64) and all(c in b"0123456789abcdef" for c in head)):
            return _listed_checkout(repo, branch_ref)
        elif operation_branch(admin) == branch_ref:  # detached by a rebase or bisect of it
            found.append(admin)
    if not found:
        return None
    if len(found) > 1:
        return _listed_checkout(repo, branch_ref)
    admin = found[0]
    if admin == common:
        if os.path.basename(common) != ".git" or not os.path.isfile(os.path.join(common, "index")):
            return _listed_checkout(repo, branch_ref)  # bare, or a layout git must name
        path = os.path.dirname(common)
    else:
        try:
            with open(os.path.join(admin, "gitdir"), encoding="utf-8",
                      errors="surrogateescape") as f:
                dotgit = f.read().strip()
        except OSError:
            return _listed_checkout(repo, branch_ref)
        if not os.path.isabs(dotgit):
            dotgit = os.path.normpath(os.path.join(admin, dotgit))
        path = os.path.dirname(dotgit)
        if not os.path.isdir(path):
            return _listed_checkout(repo, branch_ref)
    return Worktree(path=path, head=None, branch=branch_ref), admin


def _listed_checkout(repo: Repo, branch_ref: str) -> tuple[Worktree, str | None] | None:
    listed = list_worktrees(repo)
    holder = next((w for w in listed if w.branch == branch_ref), None)
    if holder is None:  # a rebase or bisect of it detached the HEAD of the checkout it is in
        for w in listed:
            if w.detached and not w.bare and os.path.isdir(w.path):
                git_dir = worktree_git_dir(w.path, repo)
                if operation_branch(git_dir) == branch_ref:
                    return Worktree(path=w.path, head=w.head, branch=branch_ref), git_dir
    return (holder, None) if holder is not None else None
