"""Objects read: many from one ``cat-file --batch`` (:class:`Batch`), and the reads of stored
objects state and ops make: a blob, a few objects, a tree's listing, the difference of two
trees; tree entries and object ids, computed locally (sha1 or sha256, as the repository says).
Writing new objects is :mod:`flowergit.gitio.writes`.

Nothing here touches an index or a worktree.
"""

from __future__ import annotations

import os

from flowergit.errors import FlowerError
from flowergit.gitio import runner
from flowergit.gitio.repo import Repo

MODE_BLOB = b"100644"
MODE_EXEC = b"100755"
MODE_TREE = b"40000"
MODE_LINK = b"120000"
MODE_GITLINK = b"160000"

_TYPE_CODES = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}
_DEVNULL: list[int] = []

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
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
