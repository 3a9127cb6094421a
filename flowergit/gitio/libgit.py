"""libgit2 (pygit2) reads, for a process that reads the same repository again and again.

A long-lived reader (`git flower watch`, which reads every record anew each frame) calls
:func:`enable` once; from then on :func:`commits_with_file` answers from libgit2 in this
process instead of a ``for-each-ref`` and a ``cat-file --batch`` started per read. Everything
else, and every other process, keeps spawning git: pygit2's import (100+ ms, 16 MB of libraries)
is paid back only by a process that reads many times (bench/bench_readers.py: a watch frame's
1,000 dispatch records in 2-2.5x less time, a blob by path 4x and a tree walk 5-14x faster than
through a running ``cat-file --batch``), so hot commands never import this module
(tests/test_layers.py, tests/test_libgit.py).

Only what libgit2 reads exactly as git does: a repository libgit2 cannot open (a ref or
object format it does not know) is read with git, as before. libgit2 reads loose refs and
packed-refs from disk at each listing and looks for new packs when an object is missing, so a
long-lived reader sees what other processes write.
"""

from __future__ import annotations

import pygit2

from flowergit.gitio.repo import Repo

_ON = False
_OPEN: dict[str, pygit2.Repository | None] = {}  # git dir -> repository (None: read with git)


def enable() -> None:
    """Read with libgit2 from now on, in this process (a long-lived reader only)."""
    global _ON
    _ON = True


def disable() -> None:
    global _ON
    _ON = False
    _OPEN.clear()


def _open(repo: Repo) -> pygit2.Repository | None:
    if repo.git_dir not in _OPEN:
        try:
            _OPEN[repo.git_dir] = pygit2.Repository(repo.git_dir)
        except (pygit2.GitError, ValueError, KeyError, OSError):
            _OPEN[repo.git_dir] = None
    return _OPEN[repo.git_dir]


def _matches(name: str, prefix: str) -> bool:
    """``for-each-ref PATTERN``'s prefix match: whole path components."""
    return name.startswith(prefix) if prefix.endswith("/") else (
        name == prefix or name.startswith(prefix + "/"))


def commits_with_file(repo: Repo, prefix: str, path: str) -> list[tuple[str, str, bytes | None]] | None:
    """(ref name, commit id, the blob at ``path`` in its tree, or None) for every ref under
    ``prefix`` that points at a commit, in ref name order, as ``for-each-ref`` and one
    ``cat-file --batch`` of ``OID:PATH`` give them; None when this process does not read with
    libgit2 (the caller spawns git)."""
    if not _ON:
        return None
    lg = _open(repo)
    if lg is None:
        return None
    found: list[tuple[str, str, bytes | None]] = []
    for ref in lg.references.iterator():
        name = ref.name
        if not _matches(name, prefix):
            continue
        try:
            obj = lg.get(ref.resolve().target)
        except (pygit2.GitError, KeyError, ValueError):
            continue
        if not isinstance(obj, pygit2.Commit):
            continue
        data: bytes | None = None
        try:
            entry = obj.tree[path]
        except KeyError:
            entry = None
        if isinstance(entry, pygit2.Blob):
            data = bytes(entry.data)
        found.append((name, str(obj.id), data))
    found.sort(key=lambda t: t[0].encode("utf-8", "surrogateescape"))
    return found


def ref_lines(repo: Repo, prefixes: tuple[str, ...]) -> list[str] | None:
    """``NAME OID`` for every ref under one of ``prefixes`` (a symbolic ref: the name it points
    at), in name order; None when this process does not read with libgit2."""
    if not _ON:
        return None
    lg = _open(repo)
    if lg is None:
        return None
    out = [f"{ref.name} {ref.target}" for ref in lg.references.iterator()
           if any(_matches(ref.name, p) for p in prefixes)]
    out.sort(key=lambda t: t.encode("utf-8", "surrogateescape"))
    return out
