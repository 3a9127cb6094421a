"""Objects built in memory: read with ``cat-file --batch``, written in one ``unpack-objects``;
and the reads of stored objects state and ops make: a blob, a few objects, a tree's listing, the
difference of two trees.

Nothing here touches an index or a worktree. Object ids are computed locally (sha1 or sha256,
as the repository says), so a whole tree edit is planned before anything is written, and then
written in a single git process.
"""

from __future__ import annotations

import os
import time

from flowergit.errors import FlowerError
from flowergit.gitio import runner
from flowergit.gitio.repo import Repo
from flowergit.gitio.runner import GitError

MODE_BLOB = b"100644"
MODE_EXEC = b"100755"
MODE_TREE = b"40000"
MODE_LINK = b"120000"
MODE_GITLINK = b"160000"

_TYPE_CODES = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}
_DEVNULL: list[int] = []

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any


def _devnull() -> int:
    """A descriptor on /dev/null for children's stderr, opened once per process (a forked copy
    opens its own: the copy may have closed the inherited one, and its number reused)."""
    if not _DEVNULL:
        _DEVNULL.append(os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC))
    return _DEVNULL[0]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_DEVNULL.clear)


def new_hash(object_format: str, data: bytes = b"") -> Any:
    """A sha1 or sha256 hash object. CPython's own C implementations (``_sha1``, ``_sha2``)
    load in a fraction of the time `hashlib` takes to load OpenSSL, which a hot command that
    writes an object would otherwise pay on every run; `hashlib` where they are missing."""
    try:
        if object_format == "sha256":
            try:
                return __import__("_sha2").sha256(data)  # Python >= 3.12
            except ImportError:
                return __import__("_sha256").sha256(data)
        return __import__("_sha1").sha1(data)
    except ImportError:  # pragma: no cover - a build without them
        import hashlib

        return hashlib.new(object_format, data)


def object_id(repo: Repo, typ: str, data: bytes) -> str:
    h = new_hash(repo.object_format, b"%s %d\0" % (typ.encode(), len(data)))
    h.update(data)
    return h.hexdigest()  # type: ignore[no-any-return]


class Entry(tuple[bytes, bytes, str]):
    """(mode, name, oid): one tree entry."""

    __slots__ = ()

    def __new__(cls, mode: bytes, name: bytes, oid: str) -> Entry:
        return tuple.__new__(cls, (mode, name, oid))

    @property
    def mode(self) -> bytes:
        return self[0]

    @property
    def name(self) -> bytes:
        return self[1]

    @property
    def oid(self) -> str:
        return self[2]

    @property
    def is_tree(self) -> bool:
        return self.mode == MODE_TREE


def parse_tree(data: bytes, hexlen: int) -> list[Entry]:
    raw = hexlen // 2
    out: list[Entry] = []
    i, n = 0, len(data)
    while i < n:
        sp = data.index(b" ", i)
        nul = data.index(b"\0", sp)
        mode, name = data[i:sp], data[sp + 1 : nul]
        oid = data[nul + 1 : nul + 1 + raw].hex()
        out.append(Entry(mode, name, oid))
        i = nul + 1 + raw
    return out


def _sort_key(e: Entry) -> bytes:
    return e.name + b"/" if e.is_tree else e.name


def format_tree(entries: Iterable[Entry]) -> bytes:
    return b"".join(
        e.mode + b" " + e.name + b"\0" + bytes.fromhex(e.oid) for e in sorted(entries, key=_sort_key)
    )


def check_name(name: bytes) -> None:
    """Refuse tree entry names git would accept but a strict remote rejects for good."""
    if (not name or name in (b".", b"..") or name.lower() == b".git" or b"/" in name
            or b"\0" in name or b"\n" in name):
        raise FlowerError(f"refusing to write a tree entry named {name!r}")


def _request(name: str) -> bytes:
    """One ``cat-file --batch`` request line."""
    if "\n" in name:
        raise FlowerError("object names cannot contain newlines")
    return name.encode("utf-8", "surrogateescape") + b"\n"


def _answer(out: Any) -> tuple[str, str, bytes] | None:
    """One ``cat-file --batch`` answer read from the binary stream ``out``: (oid, type,
    content), or None for a missing object."""
    header = out.readline()
    if not header:
        raise FlowerError("git cat-file --batch ended early")
    parts = header.split()
    if len(parts) != 3 or parts[1] == b"missing" or parts[-1] == b"missing":
        return None
    size = int(parts[2])
    data = out.read(size + 1)[:size]
    return parts[0].decode(), parts[1].decode(), data


def read_start(repo: Repo, names: Sequence[str]) -> runner.Started:
    """Start one ``git cat-file --batch`` that answers ``names`` and ends: for a few objects
    whose names are known up front (their answers: :func:`read_finish`)."""
    return runner.start(["--git-dir", repo.git_dir, "cat-file", "--batch"],
                        input=b"".join(_request(n) for n in names))


def read_finish(started: runner.Started, count: int) -> list[tuple[str, str, bytes] | None]:
    """The ``count`` answers of :func:`read_start`, in order: (oid, type, content), or None for
    a missing object."""
    import io

    out = io.BytesIO(started.result().stdout)
    return [_answer(out) for _ in range(count)]


class Batch:
    """A running ``git cat-file --batch`` for reading many objects from one process."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            self.pid: int | None = runner.spawn(
                ["git", *runner.PINNED, "--git-dir", repo.git_dir, "cat-file", "--batch"],
                runner.scrubbed_env(), stdin=in_r, stdout=out_w, stderr=_devnull())
        except BaseException:
            for fd in (in_r, in_w, out_r, out_w):
                os.close(fd)
            raise
        os.close(in_r)
        os.close(out_w)
        self._in = in_w
        self._out = os.fdopen(out_r, "rb")

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._in != -1:
            os.close(self._in)
            self._in = -1
        self._out.close()
        if self.pid is not None:
            runner.wait_code(self.pid)
            self.pid = None

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._in, view):]

    def get(self, name: str) -> tuple[str, str, bytes] | None:
        """(oid, type, content) of the object ``name`` names, or None if missing."""
        self._send(_request(name))
        return _answer(self._out)

    def get_many(self, names: Sequence[str]) -> list[tuple[str, str, bytes] | None]:
        """Read many objects. The names go in at most 32 KiB at a time (half a pipe), and each
        such batch's answers are read before the next is sent: git can always take what is
        written while its own output waits to be read, so neither side stalls the other."""
        out: list[tuple[str, str, bytes] | None] = []
        pending: list[bytes] = []
        size = 0
        for n in names:
            line = _request(n)
            if pending and size + len(line) > 32768:
                self._send(b"".join(pending))
                out += [_answer(self._out) for _ in pending]
                pending, size = [], 0
            pending.append(line)
            size += len(line)
        if pending:
            self._send(b"".join(pending))
            out += [_answer(self._out) for _ in pending]
        return out

    def tree(self, name: str) -> list[Entry] | None:
        got = self.get(name)
        if got is None or got[1] != "tree":
            return None
        return parse_tree(got[2], self.repo.hexlen)


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
        import zlib  # only writers need it; read-only hot commands skip the import

        buf = self._pack
        size = len(data)
        c = (_TYPE_CODES[typ] << 4) | (size & 0x0F)
        size >>= 4
        while size:
            buf.append(c | 0x80)
            c = size & 0x7F
            size >>= 7
        buf.append(c)
        buf += zlib.compress(data, 1)
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


# -- reading a few objects, a tree, two trees' difference ----------------------------------------
def read_blob(repo: Repo, name: str) -> bytes | None:
    """The content of the blob ``name`` names (``rev:path``, an object id); None if there is
    none."""
    res = repo.git(["cat-file", "blob", name], check=False)
    return res.stdout if res.ok else None


def check_few(repo: Repo, names: Sequence[str]) -> list[tuple[str, str] | None] | None:
    """(oid, type) of each of ``names`` from one ``git cat-file --batch-check`` (no content
    read), None where there is no such object; None for the whole when git stopped early (a
    corrupt object), so that a caller reads them one by one."""
    res = repo.git(["cat-file", "--batch-check"], input=b"".join(_request(n) for n in names),
                   check=False)
    lines = res.stdout.split(b"\n")
    if len(lines) < len(names) + 1:
        return None
    got: list[tuple[str, str] | None] = []
    for ln in lines[:len(names)]:
        parts = ln.split()
        got.append(None if len(parts) != 3 or parts[-1] == b"missing"
                   else (parts[0].decode(), parts[1].decode()))
    return got


def read_few(repo: Repo, names: Sequence[str]) -> list[tuple[str, str, bytes] | None]:
    """(oid, type, content) of each of a few ``names`` from one ``git cat-file --batch``, None
    where there is no such object. Never raises for what git cannot read: where git stopped
    early (a corrupt object), the answers left are None, so a caller can say what is wrong."""
    import io

    res = repo.git(["cat-file", "--batch"], input=b"".join(_request(n) for n in names),
                   check=False)
    out = io.BytesIO(res.stdout)
    got: list[tuple[str, str, bytes] | None] = []
    for _ in names:
        try:
            got.append(_answer(out))
        except FlowerError:  # ended early
            got.append(None)
    return got


def ls_tree_blobs(repo: Repo, tree: str, under: str) -> tuple[list[str], bytes]:
    """The paths of the blobs below ``under`` in ``tree`` and their ids, hex, one after the
    other (the i-th id at ``[i * hexlen:(i + 1) * hexlen]``): 100,000 files as one list of
    paths and 4 MB, not 100,000 tuples of four strings (which held 35 MB)."""
    res = repo.git(["ls-tree", "-r", "-z", tree, "--", under])
    out, hexlen = res.stdout, repo.hexlen
    paths: list[str] = []
    oids = bytearray()
    pos, n = 0, len(out)
    while pos < n:
        end = out.find(b"\0", pos)
        if end < 0:
            end = n
        tab = out.find(b"\t", pos, end)
        if tab > pos and out[pos:tab].split(b" ")[1] == b"blob":
            paths.append(out[tab + 1:end].decode("utf-8", "surrogateescape"))
            oids += out[tab - hexlen:tab]
        pos = end + 1
    return paths, bytes(oids)


def ls_tree_names(repo: Repo, tree: str, under: str) -> list[str]:
    """The path of every file below ``under`` in ``tree`` (``git ls-tree -r --name-only``):
    what a check of 10,000 paths needs, without a tuple of four strings for each."""
    res = repo.git(["ls-tree", "-r", "-z", "--name-only", tree, "--", under])
    names = res.stdout.decode("utf-8", "surrogateescape").split("\0")
    if names and not names[-1]:
        names.pop()
    return names


def diff_trees(repo: Repo, old: str, new: str, under: str) -> list[tuple[str, str, str]] | None:
    """(status letter, new oid, path) of every file below ``under`` that differs between the
    trees ``old`` and ``new`` (``git diff-tree -r``, no rename detection); None when git cannot
    compare them (one is gone)."""
    res = repo.git(["diff-tree", "-r", "-z", "--no-renames", old, new, "--", under], check=False)
    if not res.ok:
        return None
    items = res.stdout.split(b"\0")
    out = []
    for i in range(0, len(items) - 1, 2):
        parts = items[i].decode().split()
        out.append((parts[-1], parts[3], items[i + 1].decode("utf-8", "surrogateescape")))
    return out


def changed_names(repo: Repo, base: str, tip: str) -> list[bytes] | None:
    """The paths that differ between the commits ``base`` and ``tip`` (``git diff --name-only``,
    no rename detection); None when git cannot compare them."""
    res = repo.git(["diff", "--name-only", "-z", "--no-renames", "--end-of-options", base, tip],
                   check=False)
    return [f for f in res.stdout.split(b"\0") if f] if res.ok else None
