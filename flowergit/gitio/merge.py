"""Git steps of the merge gate: a merge computed off to the side, path sets, snapshots, the
two-way update of a checkout, scratch worktrees, blame.

Nothing here moves a ref. Every call pins the behaviour user config could change
(``core.fsmonitor``, ``submodule.recurse``, hooks) and puts paths after ``--`` with literal
pathspecs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from flowergit.errors import FlowerError
from flowergit.gitio import runner
from flowergit.gitio.repo import Repo
from flowergit.gitio.runner import GitError
from flowergit.gitio.worktrees import operation_branch

__all__ = ["operation_branch"]  # read with the operations in progress, kept in worktrees

# pinned for every call that reads or writes a checkout
SAFE = ("-c", "core.fsmonitor=false", "-c", "submodule.recurse=false",
        "-c", "core.hooksPath=/dev/null", "-c", "status.showUntrackedFiles=all",
        "-c", "commit.gpgSign=false")


def _z(data: bytes) -> list[str]:
    return [p.decode("utf-8", "surrogateescape") for p in data.split(b"\0") if p]


def literal(paths: Iterable[str]) -> list[str]:
    return [":(literal)" + p for p in paths]


class MergeResult:
    """What ``git merge-tree --write-tree`` found: the merged tree, or None and the conflicts.
    (Plain classes here: `dataclasses` loads `inspect`, ~10 ms on every merge.)"""

    __slots__ = ("tree", "conflicts")

    def __init__(self, tree: str | None, conflicts: list[str]) -> None:
        self.tree = tree
        self.conflicts = conflicts

    def __repr__(self) -> str:
        return f"MergeResult(tree={self.tree!r}, conflicts={self.conflicts!r})"


def merge_tree(repo: Repo, ours: str, theirs: str) -> MergeResult:
    """``git merge-tree --write-tree``: the merged tree, or the conflicted paths. No checkout."""
    res = repo.git([*SAFE, "merge-tree", "--write-tree", "--name-only", "-z", "--no-messages",
                    "--end-of-options", ours, theirs], check=False)
    if res.returncode not in (0, 1):
        raise GitError(res.argv, res.returncode, res.stdout, res.stderr)
    parts = res.stdout.split(b"\0")
    tree = parts[0].decode().strip()
    if res.returncode == 0:
        return MergeResult(tree, [])
    conflicts = sorted({p.decode("utf-8", "surrogateescape") for p in parts[1:] if p})
    return MergeResult(None, conflicts)


def changed_paths(repo: Repo, a: str, b: str) -> list[str]:
    """Paths that differ between two trees or commits (no rename detection)."""
    res = repo.git(["diff-tree", "-r", "--no-renames", "--name-only", "-z", "--no-ext-diff",
                    "--end-of-options", a, b])
    return _z(res.stdout)


def changed_gitlinks(repo: Repo, a: str, b: str) -> list[str]:
    """Submodule (gitlink) paths whose commit differs between two trees."""
    res = repo.git(["diff-tree", "-r", "--no-renames", "--raw", "-z", "--no-ext-diff",
                    "--end-of-options", a, b])
    parts = res.stdout.split(b"\0")
    out = []
    for i in range(0, len(parts) - 1, 2):
        meta, path = parts[i], parts[i + 1]
        f = meta.split(b" ")
        if len(f) >= 2 and (f[0].endswith(b"160000") or f[1] == b"160000"):
            out.append(path.decode("utf-8", "surrogateescape"))
    return out


def is_ancestor(repo: Repo, a: str, b: str) -> bool:
    res = repo.git(["merge-base", "--is-ancestor", "--end-of-options", a, b], check=False)
    return res.returncode == 0


def count_commits(repo: Repo, rng: str) -> int:
    res = repo.git(["rev-list", "--count", "--end-of-options", rng], check=False)
    return int(res.out.strip() or 0) if res.ok else 0


def tree_of(repo: Repo, rev: str) -> str:
    return repo.git(["rev-parse", "--verify", "--end-of-options", rev + "^{tree}"]).out.strip()


def commits_of(repo: Repo, revs: Sequence[str]) -> list[str | None]:
    """The commit each of ``revs`` names (None where there is none), in one process."""
    if any("\n" in r or not r for r in revs):
        return [commit_of(repo, r) for r in revs]
    res = repo.git(["cat-file", "--batch-check=%(objectname) %(objecttype)"],
                   input="".join(r + "^{commit}\n" for r in revs).encode())
    out: list[str | None] = []
    for ln in res.out.splitlines()[:len(revs)]:
        oid, _, typ = ln.partition(" ")
        out.append(oid if typ == "commit" else None)
    return out + [None] * (len(revs) - len(out))


def commit_of(repo: Repo, rev: str) -> str | None:
    res = repo.git(["rev-parse", "-q", "--verify", "--end-of-options", rev + "^{commit}"],
                   check=False)
    return res.out.strip() if res.ok else None


# -- a checkout ---------------------------------------------------------------------------------
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


def special_state(git_dir: str, common_dir: str) -> list[str]:
    """Markers of an operation in progress that a merge must not run into."""
    return sorted({m for m, _what, _how in operations(git_dir, common_dir)})


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


def snapshot_trees(repo: Repo, worktree: str, force_paths: Sequence[str]) -> tuple[str, str]:
    """(index tree, worktree tree) of a checkout, without touching it.

    The worktree tree holds every tracked, untracked and ``force_paths`` (ignored local-only)
    file as it is on disk: a copy of the index under ``GIT_INDEX_FILE`` takes ``add -A``.
    """
    git_dir = worktree_git_dir(worktree, repo)
    index_tree = runner.run([*SAFE, "write-tree"], cwd=worktree).out.strip()
    import shutil
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix="flower-snap-", suffix=".index", dir=repo.state_dir)
    os.close(fd)
    try:
        src = os.path.join(git_dir, "index")
        if os.path.exists(src):
            shutil.copy2(src, tmp)  # keep its mtime: racy-clean entries stay detectable
        else:
            os.unlink(tmp)
        env = {"GIT_INDEX_FILE": tmp}
        runner.run([*SAFE, "add", "-A", "--", "."], cwd=worktree, env=env)
        present = [p for p in force_paths if os.path.isfile(os.path.join(worktree, p))
                   or os.path.islink(os.path.join(worktree, p))]
        if present:
            runner.run([*SAFE, "add", "-f", "--", *literal(present)], cwd=worktree, env=env)
        wt_tree = runner.run([*SAFE, "write-tree"], cwd=worktree, env=env).out.strip()
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return index_tree, wt_tree


def same_bytes(repo: Repo, worktree: str, tree: str, paths: Sequence[str]) -> list[str]:
    """The ``paths`` whose file on disk matches neither the blob in ``tree`` nor its filtered
    form (so a change of line-ending attributes alone does not count as a change)."""
    if not paths:
        return []
    want = tree_entries(repo, tree, paths)
    out = []
    for p in paths:
        full = os.path.join(worktree, p)
        old = want.get(p, "").split(" ")[-1] if p in want else None
        if old is None or not os.path.lexists(full):
            if old is not None or os.path.lexists(full):
                out.append(p)
            continue
        hashes = set()
        for extra in (("--no-filters",), ()):
            r = runner.run([*SAFE, "hash-object", *extra, "--", p], cwd=worktree, check=False)
            hashes.add(r.out.strip())
        if old not in hashes:
            out.append(p)
    return out


def index_entries(worktree: str, paths: Sequence[str]) -> dict[str, str]:
    """path -> "mode oid" of the index entries for ``paths`` in a checkout."""
    if not paths:
        return {}
    res = runner.run([*SAFE, "ls-files", "-s", "-z", "--", *literal(paths)], cwd=worktree)
    out: dict[str, str] = {}
    for item in _z(res.stdout):
        meta, _, path = item.partition("\t")
        mode, oid, _stage = meta.split(" ")
        out[path] = f"{mode} {oid}"
    return out


def tree_entries(repo: Repo, rev: str, paths: Sequence[str]) -> dict[str, str]:
    if not paths:
        return {}
    res = repo.git(["ls-tree", "-r", "-z", "--full-tree", "--end-of-options", rev, "--",
                    *literal(paths)])
    out: dict[str, str] = {}
    for item in _z(res.stdout):
        meta, _, path = item.partition("\t")
        mode, _typ, oid = meta.split(" ")
        out[path] = f"{mode} {oid}"
    return out


def two_way_update(worktree: str, old: str, new: str) -> None:
    """Move a checkout's index and files from tree ``old`` to ``new`` the way a branch switch
    does: local changes and staged entries on other paths are kept; a path git would have to
    overwrite makes it refuse (GitError) with nothing changed."""
    # stale stat data (a copied or touched tree) would make read-tree call clean files dirty
    runner.run([*SAFE, "update-index", "-q", "--ignore-submodules", "--refresh"], cwd=worktree,
               check=False)
    runner.run([*SAFE, "read-tree", "-m", "-u", "--end-of-options", old, new], cwd=worktree)


def matches_rev(worktree: str, rev: str, paths: Sequence[str]) -> bool:
    """Do the checkout's files for ``paths`` equal ``rev``'s?"""
    if not paths:
        return True
    res = runner.run([*SAFE, "diff", "--no-ext-diff", "--quiet", rev, "--", *literal(paths)],
                     cwd=worktree, check=False)
    return res.returncode == 0


def drop_intent_to_add(worktree: str, paths: Sequence[str]) -> None:
    """Take ``git add -N`` entries out of the index (the files stay); read-tree and stash
    refuse to work around them. :func:`restore_intent_to_add` puts them back."""
    if paths:
        runner.run([*SAFE, "update-index", "--force-remove", "--", *paths], cwd=worktree)


def restore_intent_to_add(worktree: str, paths: Sequence[str]) -> None:
    present = [p for p in paths if os.path.lexists(os.path.join(worktree, p))]
    if not present:
        return
    tracked = set(index_entries(worktree, present))
    todo = [p for p in present if p not in tracked]
    if todo:
        runner.run([*SAFE, "add", "-N", "--", *literal(todo)], cwd=worktree)


def checkout_index(worktree: str, paths: Sequence[str]) -> None:
    if paths:
        runner.run([*SAFE, "checkout-index", "-f", "-q", "--", *paths], cwd=worktree)


def add_scratch(repo: Repo, path: str, commit: str) -> None:
    """A detached worktree at ``commit`` (no hooks, no submodule recursion)."""
    repo.git([*SAFE, "worktree", "add", "-q", "--detach", "--end-of-options", path, commit])


def remove_scratch(repo: Repo, path: str) -> None:
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


def worktree_clean(worktree: str) -> bool:
    st = status(worktree)
    return not (st.modified or st.untracked or st.unmerged)


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


def remove_worktree(repo: Repo, path: str) -> bool:
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


def blame_line(worktree: str, rev: str, path: str, line: int) -> str | None:
    # blame has no --end-of-options (git 2.39): refuse option-like revisions instead
    if rev.startswith("-"):
        return None
    res = runner.run(["blame", "--porcelain", "-L", f"{line},{line}", rev, "--", path],
                     cwd=worktree, check=False)
    if not res.ok or not res.out:
        return None
    return res.out.split(" ", 1)[0]


def last_commit_for(worktree: str, rev: str, path: str) -> str | None:
    res = runner.run(["log", "-1", "--format=%H", "--end-of-options", rev, "--", path],
                     cwd=worktree, check=False)
    return res.out.strip() or None


def first_parents(repo: Repo, rng: str) -> list[str]:
    res = repo.git(["rev-list", "--first-parent", "--end-of-options", rng])
    return [o for o in res.out.split() if o]


def ancestry_path(repo: Repo, commit: str, tip: str) -> list[str]:
    res = repo.git(["rev-list", "--ancestry-path", "--end-of-options", f"{commit}..{tip}"],
                   check=False)
    return [o for o in res.out.split() if o]


def trees_of(repo: Repo, commits: Sequence[str]) -> dict[str, str]:
    if not commits:
        return {}
    res = repo.git(["cat-file", "--batch-check=%(objectname)"],
                   input="".join(c + "^{tree}\n" for c in commits).encode())
    trees = res.out.split()
    return dict(zip(commits, trees))


def subject(repo: Repo, commit: str) -> str:
    return repo.git(["log", "-1", "--format=%s", "--end-of-options", commit]).out.strip()
