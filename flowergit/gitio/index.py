"""A checkout's index and files: index entries, snapshots of the index and of every file as
trees (without touching the checkout), the two-way update that moves a checkout between trees
the way a branch switch does, intent-to-add entries, byte-for-byte comparisons.

Nothing here moves a ref. Every call pins what user config could change (:data:`pins.SAFE`)
and puts paths after ``--`` as literal pathspecs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from flowergit.gitio import runner
from flowergit.gitio.pins import SAFE, literal, split_z
from flowergit.gitio.repo import Repo
from flowergit.gitio.runner import GitError
from flowergit.gitio.status import worktree_git_dir
from flowergit.gitio.trees import tree_entries


def index_entries(worktree: str, paths: Sequence[str]) -> dict[str, str]:
    """path -> "mode oid" of the index entries for ``paths`` in a checkout."""
    if not paths:
        return {}
    res = runner.run([*SAFE, "ls-files", "-s", "-z", "--", *literal(paths)], cwd=worktree)
    out: dict[str, str] = {}
    for item in split_z(res.stdout):
        meta, _, path = item.partition("\t")
        mode, oid, _stage = meta.split(" ")
        out[path] = f"{mode} {oid}"
    return out


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


def worktree_tree(repo: Repo, worktree: str, git_dir: str | None,
                  paths: Sequence[str]) -> str | None:
    """The tree of a copy of the checkout's index with ``paths`` taken from disk (added,
    replaced, or removed where the file is gone): one ``update-index --add --remove`` and one
    ``write-tree`` under ``GIT_INDEX_FILE``. None when ``update-index`` refused (the caller
    falls back to :func:`snapshot_trees`)."""
    import shutil

    git_dir = git_dir or worktree_git_dir(worktree, repo)
    os.makedirs(repo.state_dir, exist_ok=True)
    tmp = os.path.join(repo.state_dir, f"snap-{os.getpid()}-{os.urandom(4).hex()}.index")
    src = os.path.join(git_dir, "index")
    try:
        if os.path.exists(src):
            shutil.copy2(src, tmp)  # keep its mtime: racy-clean entries stay detectable
        env = {"GIT_INDEX_FILE": tmp}
        data = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in dict.fromkeys(paths))
        res = runner.run([*SAFE, "update-index", "--add", "--remove", "--replace", "-z",
                          "--stdin"], cwd=worktree, env=env, input=data, check=False)
        if not res.ok:
            return None
        return runner.run([*SAFE, "write-tree"], cwd=worktree, env=env).out.strip()
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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


def two_way_update(worktree: str, old: str, new: str, *, refreshed: bool = False) -> None:
    """Move a checkout's index and files from tree ``old`` to ``new`` the way a branch switch
    does: local changes and staged entries on other paths are kept; a path git would have to
    overwrite makes it refuse (GitError) with nothing changed.

    Stale stat data (a copied or touched tree) would make `read-tree` call clean files dirty,
    so the index is refreshed first; ``refreshed``: a `git status` just refreshed it, so
    `read-tree` is tried at once, and only should it still refuse does the refresh run and
    `read-tree` get one more try (a refusal changes nothing)."""
    if refreshed:
        try:
            runner.run([*SAFE, "read-tree", "-m", "-u", "--end-of-options", old, new],
                       cwd=worktree)
            return
        except GitError:
            pass
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
    """Write ``paths`` from the index to the files (``checkout-index -f``)."""
    if paths:
        runner.run([*SAFE, "checkout-index", "-f", "-q", "--", *paths], cwd=worktree)
