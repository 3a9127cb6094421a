"""The brief store: files on ``flower/briefs``, written without any checkout.

Every write reads the tip, builds blobs and trees in memory, commits, and moves the branch by
compare-and-swap. A lost race re-reads the new tip and re-applies the *operation* (not a text
merge), so eight concurrent ``brief new`` calls give eight briefs with eight ids and a linear
history. Reads of the whole list go through a cache keyed by the briefs tree id, updated
incrementally from ``git diff-tree``.
"""

from __future__ import annotations

import os

from flowergit import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any

    from flowergit.gitio.runner import Started

from flowergit.errors import Conflict, NotFound, UsageError
from flowergit.gitio import objects, refs
from flowergit.gitio.refs import CasLost
from flowergit.gitio.repo import Repo
from flowergit.gitio.worktrees import holding
from flowergit.state import brief as codec
from flowergit.state.layout import BRIEFS_BRANCH, BRIEFS_REF, BRIEFS_TREE, brief_path
from flowergit.state.rawjson import RawJSON

# 4: a file that does not parse is a row of status "broken"; 5: only files at a brief's path;
# 6: three lines (no paths: each is its id's), the header records their lengths, a binary index
CACHE_VERSION = 6
README = b"""\
# flower/briefs

This branch holds git flower's briefs: one file per brief under `briefs/<shard>/<id>.md`
(TOML front matter between `+++` lines, then the markdown spec), and the orchestrator
hand-off scratchpads under `handoff/<lane>.md`.

It is written by `git flower` with compare-and-swap and never checked out. You may edit a brief
by hand (a plain commit to this branch, from any clone or a forge editor); comments and keys
git flower does not know survive its later writes. See docs/state.md in git flower.
"""


def commit_subject(text: str) -> str:
    """A one-line, control-free rendition of user text for a commit message."""
    line = " ".join(text.split())
    return line if len(line) <= 72 else line[:71] + "…"


class Change(tuple[str, "bytes | None"]):
    """(path, data): one file write on the briefs branch: new bytes, or None to delete."""

    __slots__ = ()

    def __new__(cls, path: str, data: bytes | None) -> Change:
        return tuple.__new__(cls, (path, data))

    @property
    def path(self) -> str:
        return self[0]

    @property
    def data(self) -> bytes | None:
        return self[1]


class PreRead:
    """One brief as read at ``tip``, with the trees on its path (oid -> raw tree)."""

    __slots__ = ("brief", "tip", "raw", "root", "trees")

    def __init__(self, brief: int, tip: str, raw: bytes, root: str | None,
                 trees: dict[str, bytes]) -> None:
        self.brief = brief
        self.tip = tip
        self.raw = raw
        self.root = root
        self.trees = trees


def _preread_names(brief: int, tip: str) -> list[str]:
    path = brief_path(brief)
    shard = path.rsplit("/", 1)[0]
    return [f"{tip}:{path}", f"{tip}^{{tree}}", f"{tip}:briefs", f"{tip}:{shard}"]


class _PreTrees:
    """The trees of a :class:`PreRead`, served to :func:`objects.edit_tree` as a batch would;
    any other tree (none, for a one-file edit) is read from git."""

    def __init__(self, repo: Repo, trees: dict[str, bytes]) -> None:
        self.repo = repo
        self.trees = trees

    def tree(self, name: str) -> list[objects.Entry] | None:
        data = self.trees.get(name)
        if data is not None:
            return objects.parse_tree(data, self.repo.hexlen)
        with objects.Batch(self.repo) as batch:
            return batch.tree(name)


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


def where(brief: int) -> str:
    """How errors name brief ``brief``'s file: ``flower/briefs:briefs/0000/7.md``."""
    return f"{BRIEFS_BRANCH}:{brief_path(brief)}"


class BriefStore:
    def __init__(self, repo: Repo, max_body: int = 4 * 1024 * 1024) -> None:
        self.repo = repo
        self.max_body = max_body
        self._counts: dict[str, int] | None = None  # by status, from the last list_raw()

    # -- reading -----------------------------------------------------------------------------
    def tip(self) -> str | None:
        got = self.repo.take_prefetched(BRIEFS_REF)  # resolved at discovery, handed out once
        return got if got is not None else refs.read(self.repo, BRIEFS_REF)

    def require_tip(self) -> str:
        tip = self.tip()
        if tip is None:
            raise NotFound(f"no {BRIEFS_BRANCH} branch in this repository",
                           "run `git flower init` first")
        return tip

    def read_raw(self, brief: int, rev: str | None = None) -> bytes:
        got = objects.read_blob(self.repo, f"{rev or BRIEFS_REF}:{brief_path(brief)}")
        if got is not None:
            return got
        self.require_tip()
        raise NotFound(f"no brief {brief}", "`git flower brief list` shows the briefs there are")

    def get(self, brief: int, rev: str | None = None) -> codec.Brief:
        return codec.parse(self.read_raw(brief, rev), where(brief))

    def read_file(self, path: str) -> bytes | None:
        return objects.read_blob(self.repo, f"{BRIEFS_REF}:{path}")

    def all(self, warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
        """Every brief's front matter, sorted by id."""
        return self.list_raw(warn).value()  # type: ignore[no-any-return]

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
                    return RawJSON(memoryview(mm)[first + 1:ends[1]])
        except (OSError, ValueError):
            header = None
        changed = None
        if header is not None:
            changed = objects.diff_trees(self.repo, str(header["tree"]), tree, "briefs")
            if changed is not None and len(changed) <= SPLICE_MAX:
                got = self._splice(mm, ends, header, changed, tree, cache_path, warn)
                if got is not None:
                    return got
        entries: dict[str, tuple[int, bytes]] | None = None  # path -> (id, record JSON)
        counts: dict[str, int] = {}
        wanted: list[tuple[str, str]] = []
        if header is not None and changed is not None:
            entries = _unsplice(mm[ends[0] + 1:ends[1]], mm[ends[1] + 1:ends[2]])
            counts = dict(header.get("counts") or {})
            if entries is not None:
                for status, new_oid, path in changed:
                    old = entries.pop(path, None)
                    if old is not None:  # what it counted for goes; a new version counts anew
                        st = fastjson.loads(old[1])["status"]
                        counts[st] = counts.get(st, 0) - 1
                    if status != "D":
                        wanted.append((path, new_oid))
        if entries is None:
            entries, counts, wanted = {}, {}, self._all_blobs(tree)
        for path, rec in self._parse_many(wanted, warn):
            counts[rec["status"]] = counts.get(rec["status"], 0) + 1
            entries[path] = (int(rec["id"]), _encode(rec))
        counts = {k: n for k, n in counts.items() if n > 0}
        self._counts = counts
        paths = sorted(entries, key=lambda p: entries[p][0])
        records = b"[" + b",".join(entries[p][1] for p in paths) + b"]"
        index = _index([entries[p][0] for p in paths], [len(entries[p][1]) for p in paths])
        self._save_cache(cache_path, tree, counts, [records, index])
        return RawJSON(records)

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
        """Bring the mapped cache up to date with a few changed files without decoding the
        other records: offsets come from the recorded lengths; the new array is the old one's
        bytes between the changed records and the changed records. None when the change is
        not one it can splice (a path at no brief's own path)."""
        from bisect import bisect_left

        got = _read_index(mm[ends[1] + 1:ends[2]])
        if got is None:
            return None
        ids, sizes = got
        arr_end = ends[1] - 1  # the closing bracket
        if ids and ends[0] + 2 + sum(sizes) + len(sizes) - 1 != arr_end:
            return None
        edits: dict[int, bytes | None] = {}
        wanted = []
        for status, oid, path in changed:
            bid = codec.path_id(path)
            if bid is None or brief_path(bid) != path:
                return None
            edits[bid] = None
            if status != "D":
                wanted.append((path, oid))
        counts = dict(header.get("counts") or {})
        for path, rec in self._parse_many(wanted, warn):
            edits[int(rec["id"])] = _encode(rec)
            counts[rec["status"]] = counts.get(rec["status"], 0) + 1
        from array import array

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
                old = fastjson.loads(view[off:off + sizes[i]].tobytes())
                counts[old["status"]] = counts.get(old["status"], 0) - 1
                pos, off = i + 1, off + sizes[i] + 1
            rec_bytes = edits[bid]
            if rec_bytes is not None:
                pieces.append(rec_bytes)
                new_ids.append(bid)
                new_sizes.append(len(rec_bytes))
        if pos < len(ids):
            pieces.append(view[off:arr_end])
            new_ids.extend(ids[pos:])
            new_sizes.extend(sizes[pos:])
        counts = {k: n for k, n in counts.items() if n > 0}
        self._counts = counts
        records: list[Any] = [b"["]
        for k, piece in enumerate(pieces):
            if k:
                records.append(b",")
            records.append(piece)
        records.append(b"]")
        self._save_cache(cache_path, tree, counts, [records, _index(new_ids, new_sizes)])
        return RawJSON(records)

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

    def _all_blobs(self, tree: str) -> list[tuple[str, str]]:
        """The brief files under ``briefs/``: only those at a brief's own path
        (``briefs/0200/246.md``), so a copy elsewhere (``briefs/0000/x.md``, a file in the wrong
        shard) never lists a second row with one id; :meth:`strays` names those."""
        return [(p, oid) for p, oid, ok in self._ls_briefs(tree) if ok]

    def _ls_briefs(self, tree: str) -> list[tuple[str, str, bool]]:
        out = []
        for _mode, typ, oid, p in objects.ls_tree(self.repo, tree, "briefs"):
            if typ == "blob":
                bid = codec.path_id(p)
                out.append((p, oid, bid is not None and brief_path(bid) == p))
        return out

    def strays(self) -> list[str]:
        """Files under ``briefs/`` that are at no brief's path: not briefs, and not listed."""
        tip = self.tip()
        if tip is None:
            return []
        return [p for p, _oid, ok in self._ls_briefs(tip + "^{tree}") if not ok
                and not p.endswith("/README.md")]

    @staticmethod
    def _save_cache(path: str, tree: str, counts: dict[str, int], lines: list[Any]) -> None:
        """Write the cache whole or not at all (a temporary file of this process, renamed): the
        header, then ``lines`` (records, index), each a bytes-like object or a list of
        them (written piece by piece, never joined). The header records each line's length, so
        a reader finds them without scanning megabytes for newlines."""
        parts = [line if isinstance(line, list) else [line] for line in lines]
        lens = [sum(len(p) for p in line) for line in parts]
        head = fastjson.dumps({"v": CACHE_VERSION, "tree": tree, "counts": counts,
                               "lens": lens}).encode()
        tmp = f"{path}.{os.getpid()}.tmp"
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

    def log(self, brief: int) -> list[dict[str, str]]:
        from flowergit.gitio import history  # only here: the hot reads never walk history

        self.require_tip()
        out = [{"commit": h, "author": a, "date": d, "subject": s}
               for h, a, d, s in history.path_log(self.repo, BRIEFS_REF, brief_path(brief))]
        if not out:
            raise NotFound(f"no brief {brief}")
        return out

    # -- writing -----------------------------------------------------------------------------
    def refuse_if_checked_out(self) -> None:
        wt = holding(self.repo, BRIEFS_REF)
        if wt is not None and wt.detached:  # held by a rebase or a bisect of the branch
            raise Conflict(f"{BRIEFS_BRANCH} is being rebased or bisected in {wt.path}",
                           f"finish or abort that first (`git -C {wt.path} rebase --continue` or "
                           f"`--abort`; `git -C {wt.path} bisect reset`), then retry")
        if wt is not None:
            raise Conflict(f"{BRIEFS_BRANCH} is checked out in the worktree {wt.path}",
                           f"git flower writes that branch itself; run `git -C {wt.path} switch "
                           f"--detach` or remove that worktree, then retry")

    def apply(
        self,
        plan: Callable[[str | None, objects.Batch], tuple[list[Change], str]],
        *,
        allow_root: bool = False,
        extra_ops: Callable[[], Sequence[refs.Op]] | None = None,
    ) -> tuple[str, str | None]:
        """Run ``plan(tip, batch) -> (changes, message)`` and CAS the result, retrying on a lost
        race with a fresh read. Returns (new commit, old tip)."""
        self.refuse_if_checked_out()
        last: CasLost | None = None
        for _ in refs.retrying():
            tip = self.tip()
            if tip is None and not allow_root:
                self.require_tip()
            writer = objects.Writer(self.repo)
            with objects.Batch(self.repo) as batch:
                changes, message = plan(tip, batch)
                if not changes:
                    return tip or "", tip
                base_tree = batch.get(tip + "^{tree}")[0] if tip else None  # type: ignore[index]
                edits: dict[str, tuple[bytes, str] | None] = {}
                for ch in changes:
                    edits[ch.path] = None if ch.data is None else (
                        objects.MODE_BLOB, writer.add("blob", ch.data))
                tree = objects.edit_tree(batch, writer, base_tree, edits)
            new = writer.commit(tree, [tip] if tip else [], message)
            writer.flush()
            ops = [refs.update(BRIEFS_REF, new, tip)]
            if extra_ops:
                ops += list(extra_ops())
            try:
                refs.transaction(self.repo, ops, message.split("\n", 1)[0])
                return new, tip
            except CasLost as e:
                last = e
                continue
        raise Conflict(f"gave up writing {BRIEFS_BRANCH} after repeated lost races: {last}",
                       "many writers at once; retry")

    def max_id(self, tip: str | None, batch: objects.Batch) -> int:
        if tip is None:
            return 0
        shards = batch.tree(tip + ":briefs") or []
        nums = [int(e.name) for e in shards if e.is_tree and e.name.isdigit()]
        for shard in sorted(nums, reverse=True):
            entries = batch.tree(f"{tip}:briefs/{shard:04d}") or []
            ids = [int(e.name[:-3]) for e in entries
                   if e.name.endswith(b".md") and e.name[:-3].isdigit()]
            if ids:
                return max(ids)
        return 0

    def create(self, drafts: Sequence[codec.Brief],
               reserve: Callable[[int], int] | None = None) -> list[codec.Brief]:
        """Give each draft the next free id (set on the drafts themselves, which are returned)
        and write them all in one commit."""
        made: list[codec.Brief] = []

        def plan(tip: str | None, batch: objects.Batch) -> tuple[list[Change], str]:
            made.clear()
            nxt = self.max_id(tip, batch) + 1
            if reserve is not None:
                nxt = reserve(nxt)
            changes = []
            created = codec.iso(codec.now_utc())
            for i, b in enumerate(drafts):  # numbered in place: an import holds 100,000
                b.id = nxt + i
                b.created = b.created or created
                changes.append(Change(brief_path(b.id), codec.render_new(b)))
                made.append(b)
            if len(made) == 1:
                msg = f"brief {made[0].id}: new {made[0].kind}: {commit_subject(made[0].title)}"
            else:
                msg = f"briefs {made[0].id}-{made[-1].id}: import {len(made)} briefs"
            return changes, msg

        self.apply(plan)
        return list(made)

    def update(self, brief: int, mutate: Callable[[bytes], bytes | None], message: str,
               *, broken_ok: bool = False) -> bytes:
        """Re-read brief ``brief`` at the tip, apply ``mutate`` and CAS; returns the new bytes.
        ``mutate`` returning None means nothing to change. A current file that does not parse
        is refused (:class:`codec.BriefFormatError`, naming it) unless ``broken_ok`` (a repair:
        ``brief edit``, ``brief set``); the new bytes must parse either way."""
        result: list[bytes] = []

        def plan(tip: str | None, batch: objects.Batch) -> tuple[list[Change], str]:
            result.clear()
            got = batch.get(f"{tip}:{brief_path(brief)}")
            if got is None:
                raise NotFound(f"no brief {brief}")
            if not broken_ok:
                codec.parse(got[2], where(brief))
            new = mutate(got[2])
            if new is None or new == got[2]:
                result.append(got[2])
                return [], message
            codec.parse(new, where(brief))  # never write what we could not read back
            result.append(new)
            return [Change(brief_path(brief), new)], message

        self.apply(plan)
        return result[0]

    def preread(self, brief: int, tip: str, batch: objects.Batch) -> PreRead:
        """Brief ``brief`` at ``tip`` and the trees on its path, in one batch round: all that
        :meth:`plan_update` needs to write a change to it without reading anything again."""
        return self._preread(brief, tip, batch.get_many(_preread_names(brief, tip)))

    def preread_start(self, brief: int, tip: str) -> Started:
        """:meth:`preread`'s reads, started in a git process of their own (:meth:`preread_finish`
        takes the answer)."""
        return objects.read_start(self.repo, _preread_names(brief, tip))

    def preread_finish(self, brief: int, tip: str, started: Started) -> PreRead:
        return self._preread(brief, tip, objects.read_finish(started, 4))

    def _preread(self, brief: int, tip: str, got: list[tuple[str, str, bytes] | None]) -> PreRead:
        if got[0] is None or got[0][1] != "blob":
            raise NotFound(f"no brief {brief}", "`git flower brief list` shows the briefs there are")
        trees = {g[0]: g[2] for g in got[1:] if g is not None and g[1] == "tree"}
        root = got[1][0] if got[1] is not None else None
        return PreRead(brief, tip, got[0][2], root, trees)

    def plan_update(self, pre: PreRead, mutate: Callable[[bytes], bytes | None], message: str,
                    writer: objects.Writer) -> tuple[refs.Op, bytes] | None:
        """:meth:`update` against a :meth:`preread` tip, for the caller's own transaction: the
        objects go into ``writer``; returns the ref op (a CAS from that tip) and the new bytes, or
        None if ``mutate`` changes nothing. A lost CAS is the caller's to handle (:meth:`update`
        re-reads and retries)."""
        self.refuse_if_checked_out()
        new = mutate(pre.raw)
        if new is None or new == pre.raw:
            return None
        codec.parse(new, where(pre.brief))  # never write what we could not read back
        edits: dict[str, tuple[bytes, str] | None] = {
            brief_path(pre.brief): (objects.MODE_BLOB, writer.add("blob", new))}
        tree = objects.edit_tree(_PreTrees(self.repo, pre.trees), writer, pre.root, edits)  # type: ignore[arg-type]
        commit = writer.commit(tree, [pre.tip], message)
        return refs.update(BRIEFS_REF, commit, pre.tip), new

    def put_file(self, path: str, data: bytes | None, message: str) -> str:
        new, _ = self.apply(lambda tip, batch: ([Change(path, data)], message))
        return new
