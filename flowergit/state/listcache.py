"""The brief list cache: ``$GIT_COMMON_DIR/flower/cache/briefs.json``, keyed by the tree id of
``flower/briefs`` (so it is never stale), brought up to date from ``git diff-tree``.

It is three lines: a header (format version, tree id, counts by status, the byte length of
the other two lines), the records as the JSON array ``brief list --json`` prints, sorted by id,
and an index of each record's id and length in bytes within the array (base64 of unsigned
32-bit integers). The file is mapped, never read whole: a hit hands the array's bytes to the
output as they lie in the file; a change of up to :data:`SPLICE_MAX` files is spliced in at
offsets summed from the index, without decoding the other records; a bigger one rebuilds.
Deleting the file is always safe.
"""

from __future__ import annotations

import os

from flowergit import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

from flowergit.errors import UsageError
from flowergit.gitio import objects, refs
from flowergit.gitio.repo import Repo
from flowergit.state import brief as codec
from flowergit.state import files
from flowergit.state.layout import BRIEFS_BRANCH, BRIEFS_TREE, brief_at, brief_path
from flowergit.state.rawjson import RawJSON

# 4: a file that does not parse is a row of status "broken"; 5: only files at a brief's path;
# 6: three lines (no paths: each is its id's), the header records their lengths, a binary index
# 7: the header (and the patch file) name the briefs with sync conflicts (``conflicted``)
CACHE_VERSION = 7
def _index(ids: Any, sizes: Any) -> bytes:
    """The index line: base64 of the ids then the record lengths, as unsigned 32-bit
    integers (decoded in a millisecond at 100,000 briefs, where a JSON list took 130 ms)."""
    from array import array
    from binascii import b2a_base64

    both = array("I", ids)
    both.extend(sizes)
    return b2a_base64(both.tobytes(), newline=False)


def _read_index(line: Any) -> tuple[Any, Any] | None:
    """(ids, sizes) as arrays from the index line, or None if it is not one."""
    from array import array
    from binascii import Error, a2b_base64

    try:
        both = array("I", a2b_base64(line))
    except (Error, ValueError):
        return None
    n = len(both) // 2
    if len(both) != 2 * n:
        return None
    return both[:n], both[n:]


def _unsplice(arr: bytes, index: bytes) -> dict[str, tuple[int, bytes]] | None:
    """path -> (id, record JSON) from the cache's records and index lines, cutting the array at
    the recorded lengths (no record is decoded); None if they do not agree."""
    got = _read_index(index)
    if got is None or arr[:1] != b"[" or arr[-1:] != b"]":
        return None
    out: dict[str, tuple[int, bytes]] = {}
    pos = 1
    for bid, size in zip(*got):
        out[brief_path(bid)] = (bid, arr[pos:pos + size])
        pos += size + 1  # the record, then a comma (or the closing bracket)
    return out if pos == len(arr) or (not out and arr == b"[]") else None


def _pieces(mm: Any, ends: list[int], edits: dict[int, bytes | None],
            counts: dict[str, int] | None) -> tuple[list[Any], Any, Any] | None:
    """The records of the mapped cache with ``edits`` (id -> record JSON, None: gone) in their
    places, as pieces (views of the map between the edited records, and the edited ones), with
    the new index's ids and lengths. ``counts`` (by status), when given, lose what each
    replaced record counted for and gain the new ones. None when the index and the array
    disagree."""
    from array import array
    from bisect import bisect_left

    got = _read_index(mm[ends[1] + 1:ends[2]])
    if got is None:
        return None
    ids, sizes = got
    arr_end = ends[1] - 1  # the closing bracket
    if ids and ends[0] + 2 + sum(sizes) + len(sizes) - 1 != arr_end:
        return None
    pieces: list[Any] = []
    new_ids, new_sizes = array("I"), array("I")
    view = memoryview(mm)
    pos, off = 0, ends[0] + 2  # records of the old array taken up to here; where it starts
    for bid in sorted(edits):
        i = bisect_left(ids, bid)
        if i > pos:
            end = off + sum(sizes[pos:i]) + (i - pos)
            pieces.append(view[off:end - 1])
            new_ids.extend(ids[pos:i])
            new_sizes.extend(sizes[pos:i])
            pos, off = i, end
        if i < len(ids) and ids[i] == bid:  # the old record goes
            if counts is not None:
                old = fastjson.loads(view[off:off + sizes[i]].tobytes())
                counts[old["status"]] = counts.get(old["status"], 0) - 1
            pos, off = i + 1, off + sizes[i] + 1
        rec_bytes = edits[bid]
        if rec_bytes is not None:
            if counts is not None:
                st = fastjson.loads(rec_bytes)["status"]
                counts[st] = counts.get(st, 0) + 1
            pieces.append(rec_bytes)
            new_ids.append(bid)
            new_sizes.append(len(rec_bytes))
    if pos < len(ids):
        pieces.append(view[off:arr_end])
        new_ids.extend(ids[pos:])
        new_sizes.extend(sizes[pos:])
    if counts is not None:
        for gone in [st for st, n in counts.items() if n <= 0]:
            del counts[gone]
    records: list[Any] = [b"["]
    for k, piece in enumerate(pieces):
        if k:
            records.append(b",")
        records.append(piece)
    records.append(b"]")
    return records, new_ids, new_sizes


PATCH_MAX = 64
"""Up to this many briefs changed since the cache file was written are kept in the patch file
beside it (``briefs.json.patch``) instead of writing the whole cache again: at 100,000 briefs a
list right after one `brief set` wrote 15 MB."""


def _read_patch(cache_path: str, base: str) -> dict[str, Any] | None:
    """The patch file, if it was made against the cache file's tree ``base``."""
    try:
        with open(cache_path + ".patch", "rb") as f:
            got = fastjson.loads(f.read())
    except (OSError, ValueError):
        return None
    return got if isinstance(got, dict) and got.get("v") == CACHE_VERSION \
        and got.get("base") == base else None


def _save_patch(cache_path: str, base: str, tree: str, counts: dict[str, int],
                edits: dict[int, bytes | None], conflicted: list[int]) -> None:
    """Write the patch file whole or not at all: the records of the briefs that differ between
    the cache file's tree ``base`` and ``tree`` (None: deleted), and the counts for ``tree``."""
    doc = {"v": CACHE_VERSION, "base": base, "tree": tree, "counts": counts,
           "conflicted": conflicted,
           "edits": {str(k): None if v is None else v.decode("utf-8", "surrogatepass")
                     for k, v in edits.items()}}
    tmp = files.tmp_beside(cache_path + ".patch")
    try:
        with open(tmp, "wb") as f:
            f.write(fastjson.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        os.replace(tmp, cache_path + ".patch")
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


SPLICE_MAX = 256
"""A change of up to this many brief files is spliced into the list cache; more rebuild it."""


def _encode(rec: dict[str, Any]) -> bytes:
    return fastjson.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def broken_row(path: str, err: UsageError) -> dict[str, Any] | None:
    """The list row of a brief file that does not parse: the id its path gives, status
    ``broken``, what is wrong and how to repair it (None for a file whose path is no brief's)."""
    where = f"{BRIEFS_BRANCH}:{path}"
    bid = codec.path_id(where)
    if bid is None:
        return None
    reason = err.reason if isinstance(err, codec.BriefFormatError) else err.message
    return {"id": bid, "title": "", "kind": "", "status": "broken", "auto_dispatch": False,
            "agent": None, "depends_on": [], "created": None, "file": where, "error": reason,
            "hint": err.hint}



class ListCache:
    """The list cache of one repository. ``all_blobs(tree)`` gives the brief files a full
    rebuild reads, in id order: their ids (an ``array('I')``) and their blob ids (hex, one
    after the other)."""

    def __init__(self, repo: Repo, all_blobs: Callable[[str], tuple[Any, bytes]]) -> None:
        self.repo = repo
        self.all_blobs = all_blobs
        self._counts: dict[str, int] | None = None  # by status, from the last list_raw()
        self._conflicted: list[int] | None = None  # briefs with sync conflicts, the same
        self.tree: str | None = None  # the briefs tree the last list_raw() described

    def require_tip(self) -> None:
        from flowergit.errors import NotFound

        raise NotFound(f"no {BRIEFS_BRANCH} branch in this repository",
                       "run `git flower init` first")

    def list_raw(self, warn: Callable[[str], None] | None = None) -> RawJSON:
        """The same as serialised JSON, straight from the cache when the briefs tree is unchanged.

        The cache (``$common/flower/cache/briefs.json``) is three lines: a header naming the tree
        it describes (with the counts by status and the length of the other two lines), the
        records as a JSON array sorted by id, and an index: each record's id and length in
        bytes within the array (base64 of unsigned 32-bit integers). It is keyed by tree id, so it is
        never stale. It is mapped, not read: a hit hands the array's bytes to the output as they
        lie in the file. A changed tree is brought up to date from ``git diff-tree``: only the
        changed blobs are read and parsed; a small change is spliced into the array at offsets
        summed from the recorded lengths (:meth:`_splice`), so the other records are neither
        decoded nor copied into Python objects — the cost and memory of the change and one
        write of the file, not of the list."""
        tree = self.repo.take_prefetched(BRIEFS_TREE)  # resolved at discovery (ops/context.py)
        if tree is None:
            tree = refs.read(self.repo, BRIEFS_TREE)
            if tree is None:
                self.require_tip()
                tree = ""
        self.tree = tree
        cache_path = self.repo.state_path("cache", "briefs.json")
        header: dict[str, Any] | None = None
        mm: Any = None
        ends: list[int] = []
        try:
            import mmap

            with open(cache_path, "rb") as f:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            first = mm.find(b"\n", 0, 4096)
            header = fastjson.loads(mm[:first]) if first > 0 else None
            lens = header.get("lens") if isinstance(header, dict) else None
            if (not isinstance(header, dict) or header.get("v") != CACHE_VERSION
                    or not isinstance(lens, list) or len(lens) != 2):
                header = None
            else:
                ends = [first]  # where each line ends, from the lengths the header records
                for n in lens:
                    ends.append(ends[-1] + 1 + int(n))
                if ends[-1] + 1 != len(mm) or any(mm[e:e + 1] != b"\n" for e in ends):
                    header = None
                elif header.get("tree") == tree:
                    # a hit: the records go out as the bytes in the file (no decode, no copy)
                    cached = header.get("counts")
                    self._counts = dict(cached) if isinstance(cached, dict) else None
                    self._conflicted = [int(b) for b in header.get("conflicted") or []]
                    return RawJSON(memoryview(mm)[first + 1:ends[1]])
        except (OSError, ValueError):
            header = None
        changed = None
        if header is not None:
            patch = _read_patch(cache_path, str(header["tree"]))
            if patch is not None and patch.get("tree") == tree:
                got = self._patched(mm, ends, patch)
                if got is not None:
                    return got
            changed = objects.diff_trees(self.repo, str(header["tree"]), tree, "briefs")
            if changed is not None and len(changed) <= SPLICE_MAX:
                got = self._splice(mm, ends, header, changed, tree, cache_path, warn)
                if got is not None:
                    return got
        entries: dict[str, tuple[int, bytes]] | None = None  # path -> (id, record JSON)
        counts: dict[str, int] = {}
        conflicted: set[int] = set()
        wanted: list[tuple[str, str]] = []
        if header is not None and changed is not None:
            entries = _unsplice(mm[ends[0] + 1:ends[1]], mm[ends[1] + 1:ends[2]])
            counts = dict(header.get("counts") or {})
            conflicted = {int(b) for b in header.get("conflicted") or []}
            if entries is not None:
                for status, new_oid, path in changed:
                    old = entries.pop(path, None)
                    if old is not None:  # what it counted for goes; a new version counts anew
                        st = fastjson.loads(old[1])["status"]
                        counts[st] = counts.get(st, 0) - 1
                        conflicted.discard(old[0])
                    if status != "D":
                        wanted.append((path, new_oid))
        if entries is None:
            return self._rebuild(tree, cache_path, warn)
        for path, rec in self._parse_many(wanted, warn):
            counts[rec["status"]] = counts.get(rec["status"], 0) + 1
            entries[path] = (int(rec["id"]), _encode(rec))
            if rec.get("conflicts"):
                conflicted.add(int(rec["id"]))
        counts = {k: n for k, n in counts.items() if n > 0}
        self._counts = counts
        self._conflicted = sorted(conflicted)
        paths = sorted(entries, key=lambda p: entries[p][0])
        records = b"[" + b",".join(entries[p][1] for p in paths) + b"]"
        index = _index([entries[p][0] for p in paths], [len(entries[p][1]) for p in paths])
        self._save_cache(cache_path, tree, counts, [records, index], self._conflicted)
        return RawJSON(records)

    def _rebuild(self, tree: str, cache_path: str,
                 warn: Callable[[str], None] | None) -> RawJSON:
        """The cache from nothing, streamed: the brief files in id order, parsed a batch at a
        time, each record written to a scratch file as it is made, so that only the ids and
        lengths stay in memory (a cold list of 100,000 briefs held every record twice); then
        the cache is written from that file, and the records handed out as a map of it."""
        import mmap
        from array import array

        all_ids, oids = self.all_blobs(tree)
        h = len(oids) // len(all_ids) if all_ids else 0
        ids, sizes = array("I"), array("I")
        counts: dict[str, int] = {}
        conflicted: list[int] = []
        os.makedirs(os.path.dirname(cache_path), exist_ok=True)
        scratch = f"{cache_path}.{os.getpid()}.records"  # unlinked at once: gone with the process
        fd = os.open(scratch, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.unlink(scratch)
        with os.fdopen(fd, "w+b") as tmp:
            tmp.write(b"[")
            for start in range(0, len(all_ids), 4096):  # (path, blob) made a batch at a time
                chunk = [(brief_path(all_ids[i]), oids[i * h:(i + 1) * h].decode("ascii"))
                         for i in range(start, min(start + 4096, len(all_ids)))]
                for _path, rec in self._parse_many(chunk, warn):
                    data = _encode(rec)
                    if ids:
                        tmp.write(b",")
                    tmp.write(data)
                    ids.append(int(rec["id"]))
                    sizes.append(len(data))
                    counts[rec["status"]] = counts.get(rec["status"], 0) + 1
                    if rec.get("conflicts"):
                        conflicted.append(int(rec["id"]))
            tmp.write(b"]")
            tmp.flush()
            del all_ids, oids
            records = mmap.mmap(tmp.fileno(), 0, access=mmap.ACCESS_READ)
        self._counts = counts
        self._conflicted = conflicted
        self._save_cache(cache_path, tree, counts, [records, _index(ids, sizes)], conflicted)
        return RawJSON(memoryview(records))

    def _parse_many(self, wanted: list[tuple[str, str]],
                    warn: Callable[[str], None] | None) -> Iterator[tuple[str, dict[str, Any]]]:
        """(path, list record) of each wanted (path, blob), a broken row for one that does not
        parse; read in batches so that a cold list of 100,000 never holds them all."""
        for start in range(0, len(wanted), 4096):
            chunk = wanted[start:start + 4096]
            with objects.Batch(self.repo) as batch:
                blobs = batch.get_many([oid for _, oid in chunk])
            for (path, _), got in zip(chunk, blobs):
                if got is None:
                    continue
                try:
                    rec = codec.parse(got[2], f"{BRIEFS_BRANCH}:{path}").meta()
                except UsageError as e:
                    row = broken_row(path, e)
                    if row is None:
                        if warn:
                            warn(e.message)
                        continue
                    rec = row
                yield path, rec

    def _splice(self, mm: Any, ends: list[int], header: dict[str, Any],
                changed: list[tuple[str, str, str]], tree: str, cache_path: str,
                warn: Callable[[str], None] | None) -> RawJSON | None:
        """Bring the mapped cache up to date with a few changed files (``changed``: the
        difference from the tree the cache file describes) without decoding the other records.
        Up to :data:`PATCH_MAX` of them are kept in the patch file beside the cache (the big file
        is not written again); more rewrite the cache. None when the change is not one it can
        splice (a path at no brief's own path)."""
        edits: dict[int, bytes | None] = {}
        wanted = []
        for status, oid, path in changed:
            bid = brief_at(path)
            if bid is None:
                return None
            edits[bid] = None
            if status != "D":
                wanted.append((path, oid))
        conflicted = {int(b) for b in header.get("conflicted") or []} - set(edits)
        for path, rec in self._parse_many(wanted, warn):
            edits[int(rec["id"])] = _encode(rec)
            if rec.get("conflicts"):
                conflicted.add(int(rec["id"]))
        counts = dict(header.get("counts") or {})
        got = _pieces(mm, ends, edits, counts)
        if got is None:
            return None
        records, new_ids, new_sizes = got
        self._counts = counts
        self._conflicted = sorted(conflicted)
        if len(edits) <= PATCH_MAX:
            _save_patch(cache_path, str(header["tree"]), tree, counts, edits, self._conflicted)
        else:
            self._save_cache(cache_path, tree, counts, [records, _index(new_ids, new_sizes)],
                             self._conflicted)
        return RawJSON(records)

    def _patched(self, mm: Any, ends: list[int], patch: dict[str, Any]) -> RawJSON | None:
        """The list the patch file describes: the cache file's records with the patch's own
        in their places, and its counts (no git, no decoding)."""
        try:
            edits = {int(k): None if v is None else str(v).encode("utf-8", "surrogatepass")
                     for k, v in dict(patch["edits"]).items()}
            counts = {str(k): int(n) for k, n in dict(patch["counts"]).items()}
            conflicted = [int(b) for b in patch.get("conflicted") or []]
        except (KeyError, TypeError, ValueError):
            return None
        got = _pieces(mm, ends, edits, None)
        if got is None:
            return None
        self._counts = counts
        self._conflicted = conflicted
        return RawJSON(got[0])

    def counts(self, warn: Callable[[str], None] | None = None) -> dict[str, int]:
        """How many briefs there are of each status, without parsing the records when the list
        cache is current (its header carries the counts): what a summary such as `status`
        needs, at a fraction of the cost of :meth:`list` on 10,000 briefs."""
        raw = self.list_raw(warn)
        if self._counts is None:
            counts: dict[str, int] = {}
            for rec in raw.value():
                counts[rec["status"]] = counts.get(rec["status"], 0) + 1
            self._counts = counts
        return dict(self._counts)

    def conflicted(self, warn: Callable[[str], None] | None = None) -> list[int]:
        """The briefs whose files record conflicting edits from sync (``[conflicts.KEY]``), in
        id order, from the list cache's header when it is current (no record is decoded)."""
        if self._conflicted is not None and self.tree is not None:
            return list(self._conflicted)  # this cache was brought up to date a moment ago
        raw = self.list_raw(warn)
        if self._conflicted is None:
            self._conflicted = [int(r["id"]) for r in raw.value() if r.get("conflicts")]
        return list(self._conflicted)

    @staticmethod
    def _save_cache(path: str, tree: str, counts: dict[str, int], lines: list[Any],
                    conflicted: list[int]) -> None:
        """Write the cache whole or not at all (a temporary file of this process, renamed): the
        header, then ``lines`` (records, index), each a bytes-like object or a list of
        them (written piece by piece, never joined). The header records each line's length, so
        a reader finds them without scanning megabytes for newlines."""
        parts = [line if isinstance(line, list) else [line] for line in lines]
        lens = [sum(len(p) for p in line) for line in parts]
        head = fastjson.dumps({"v": CACHE_VERSION, "tree": tree, "counts": counts,
                               "conflicted": conflicted, "lens": lens}).encode()
        tmp = files.tmp_beside(path)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                for line in [[head], *parts]:
                    for piece in line:
                        f.write(piece)
                    f.write(b"\n")
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)  # a cache is an optimisation only
            except OSError:
                pass
