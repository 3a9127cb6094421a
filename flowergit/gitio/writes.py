"""Objects written: a :class:`Writer` packs new blobs, trees and commits in memory and hands
them to git in one ``unpack-objects`` (or ``index-pack``); :func:`edit_tree` plans a tree edit
from the trees on the changed paths alone; commits carry the identity ``git commit-tree``
would give them (:func:`idents`). Reading stored objects is :mod:`flowergit.gitio.objects`.
"""

from __future__ import annotations

import os
import time

from flowergit.errors import FlowerError
from flowergit.gitio.objects import (
    MODE_TREE,
    Batch,
    Entry,
    check_name,
    format_tree,
    new_hash,
    object_id,
)
from flowergit.gitio.repo import Repo
from flowergit.gitio.runner import GitError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

TYPE_CODES = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}  # a pack entry's type, by name


UNPACK_LIMIT = 100
"""Above this many objects a flush keeps its pack (``git index-pack``) instead of writing one
loose object each (``git unpack-objects``): git's own ``transfer.unpackLimit`` rule. 10,000
briefs imported: 20,000 loose files cost 2.1 s of ``unpack-objects``; one pack 0.2 s."""


class Writer:
    """Collects new objects; :meth:`flush` writes them all with one ``git unpack-objects``
    (or, for more than :data:`UNPACK_LIMIT`, one ``git index-pack``). Each object is packed
    as it is added, so the writer holds the pack and the ids, never the objects: an import of
    100,000 briefs holds a 12 MB pack, not 100,000 rendered files beside it."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.seen: set[str] = set()
        self._pack = bytearray(12)  # the header, filled in by flush once the count is known

    def add(self, typ: str, data: bytes) -> str:
        oid = object_id(self.repo, typ, data)
        if oid in self.seen:
            return oid  # a pack must not hold an object twice (index-pack refuses it)
        self.seen.add(oid)
        buf = self._pack
        size = len(data)
        c = (TYPE_CODES[typ] << 4) | (size & 0x0F)
        size >>= 4
        while size:
            buf.append(c | 0x80)
            c = size & 0x7F
            size >>= 7
        buf.append(c)
        buf += _deflate(data)
        return oid

    def commit(self, tree: str, parents: Sequence[str], message: str) -> str:
        """Add the commit ``git commit-tree`` would make (see :func:`commit_body`)."""
        return self.add("commit", commit_body(self.repo, tree, parents, message))

    def flush(self) -> None:
        count = len(self.seen)
        if not count:
            return
        buf = self._pack
        buf[:12] = b"PACK\0\0\0\x02" + count.to_bytes(4, "big")
        trailer = new_hash(self.repo.object_format)
        trailer.update(buf)  # the buffer itself, never a copy: 100,000 briefs are a 12 MB pack
        buf += trailer.digest()
        if count > UNPACK_LIMIT:  # kept as one pack: no file (and no fsync) per object
            self.repo.git(["index-pack", "--stdin"], input=buf)
        else:
            self.repo.git(["unpack-objects", "-q"], input=buf)
        self.seen.clear()
        self._pack = bytearray(12)


def _deflate(data: bytes) -> bytes:
    """zlib at level 1, its window and hash table sized to a small object: ``zlib.compress``
    sets up 256 KiB of state for every call, paid in page faults (85 µs a 150-byte brief, 6
    with state to its size: an import of 10,000 spent 0.8 s there)."""
    import zlib  # only writers need it; read-only hot commands skip the import

    n = len(data)
    if n > 1 << 14:
        return zlib.compress(data, 1)
    c = zlib.compressobj(1, zlib.DEFLATED, max(9, n.bit_length() + 1), 1)
    return c.compress(data) + c.flush()


def edit_tree(
    batch: Batch,
    writer: Writer,
    base: str | None,
    changes: Mapping[str, tuple[bytes, str] | None],
) -> str:
    """Apply ``path -> (mode, oid) | None`` changes to tree ``base``; return the new root oid.

    Only the trees on the changed paths are read and rebuilt. Empty trees are dropped.
    """
    nested: dict[bytes, object] = {}
    for path, val in changes.items():
        parts = path.encode("utf-8", "surrogateescape").split(b"/")
        for p in parts:
            check_name(p)
        node = nested
        for p in parts[:-1]:
            node = node.setdefault(p, {})  # type: ignore[assignment]
            if not isinstance(node, dict):
                raise FlowerError(f"path conflict at {path!r}")
        node[parts[-1]] = val

    def build(tree_oid: str | None, edits: dict[bytes, object]) -> str | None:
        entries = {e.name: e for e in (batch.tree(tree_oid) or [])} if tree_oid else {}
        for name, val in edits.items():
            if isinstance(val, dict):
                old = entries.get(name)
                sub = build(old.oid if old and old.is_tree else None, val)
                if sub is None:
                    entries.pop(name, None)
                else:
                    entries[name] = Entry(MODE_TREE, name, sub)
            elif val is None:
                entries.pop(name, None)
            else:
                assert isinstance(val, tuple)
                entries[name] = Entry(val[0], name, val[1])
        if not entries:
            return None
        return writer.add("tree", format_tree(entries.values()))

    root = build(base, nested)
    return root if root is not None else writer.add("tree", b"")


_FALLBACK_IDENT = {"GIT_AUTHOR_NAME": "git flower", "GIT_AUTHOR_EMAIL": "flower@localhost",
                   "GIT_COMMITTER_NAME": "git flower", "GIT_COMMITTER_EMAIL": "flower@localhost"}
_FALLBACK_WHO = b"git flower <flower@localhost>"


def idents(repo: Repo) -> tuple[bytes, bytes, bytes, bytes]:
    """(author, author date, committer, committer date) as ``git commit-tree`` would write
    them, from one ``git var -l`` per process (user.name/user.email, ``GIT_AUTHOR_*`` /
    ``GIT_COMMITTER_*``, includes and ``-c``). A date is empty unless ``GIT_*_DATE`` pins it:
    :func:`commit_body` stamps the time of writing. Where git would refuse to make up an identity
    (none configured, ``user.useConfigOnly``), the flower identity is used, as :func:`commit`
    does."""
    got = repo._cache.get("idents")
    if got is None:
        lines = repo.var_list()
        found: dict[bytes, tuple[bytes, bytes]] = {}
        for line in lines:
            key, eq, val = line.partition(b"=")
            if eq and key in (b"GIT_AUTHOR_IDENT", b"GIT_COMMITTER_IDENT"):
                who, gt, when = val.rpartition(b">")
                found[key] = (who + gt, when.strip())
        out = []
        for key, var in ((b"GIT_AUTHOR_IDENT", "GIT_AUTHOR_DATE"),
                         (b"GIT_COMMITTER_IDENT", "GIT_COMMITTER_DATE")):
            who, when = found.get(key, (b"", b""))
            name, _, email = who.partition(b" <")
            if not name.strip() or not email.rstrip(b">") or email.endswith(b".(none)>"):
                who = _FALLBACK_WHO
            out += [who, when if os.environ.get(var) else b""]
        got = repo._cache["idents"] = (out[0], out[1], out[2], out[3])
    return got


def commit_body(repo: Repo, tree: str, parents: Sequence[str], message: str) -> bytes:
    """The raw commit object ``git commit-tree`` would write (unsigned; no hooks run)."""
    author, adate, committer, cdate = idents(repo)
    if not adate or not cdate:
        now = time.time()
        off = time.localtime(now).tm_gmtoff // 60
        stamp = b"%d %c%02d%02d" % (int(now), 45 if off < 0 else 43, abs(off) // 60, abs(off) % 60)
        adate, cdate = adate or stamp, cdate or stamp
    body = b"tree " + tree.encode() + b"\n"
    for p in parents:
        body += b"parent " + p.encode() + b"\n"
    msg = message.encode("utf-8", "surrogateescape")
    if msg and not msg.endswith(b"\n"):
        msg += b"\n"
    return (body + b"author " + author + b" " + adate + b"\ncommitter " + committer + b" " + cdate
            + b"\n\n" + msg)


def commit(repo: Repo, tree: str, parents: Sequence[str], message: str,
           env: Mapping[str, str] | None = None) -> str:
    """``git commit-tree`` (no hooks run); falls back to a flower identity if the user has none.
    Writers that build the tree in memory add the commit to their :class:`Writer` instead
    (:meth:`Writer.commit`): the same object, one git process fewer."""
    args = ["-c", "commit.gpgSign=false", "commit-tree", tree]
    for p in parents:
        args += ["-p", p]
    msg = message.encode("utf-8", "surrogateescape")
    try:
        return repo.git(args, input=msg, env=env).out.strip()
    except GitError as e:
        if "identity" not in e.err and "ident" not in e.err and "empty" not in e.err:
            raise
        return repo.git(args, input=msg, env={**_FALLBACK_IDENT, **(env or {})}).out.strip()
