"""The brief store: files on ``flower/briefs``, written without any checkout.

Every write reads the tip, builds blobs and trees in memory, commits, and moves the branch by
compare-and-swap. A lost race re-reads the new tip and re-applies the *operation* (not a text
merge), so eight concurrent ``brief new`` calls give eight briefs with eight ids and a linear
history. Reads of the whole list go through a cache keyed by the briefs tree id, updated
incrementally from ``git diff-tree`` (``state/listcache.py``).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

    from flowergit.gitio import writes
    from flowergit.gitio.runner import Started

from flowergit import fastjson
from flowergit.errors import Conflict, NotFound
from flowergit.gitio import objects, refs
from flowergit.gitio.refs import CasLost
from flowergit.gitio.repo import Repo
from flowergit.gitio.worktrees import holding
from flowergit.state import brief as codec
from flowergit.state.layout import BRIEFS_BRANCH, BRIEFS_REF, brief_at, brief_path
from flowergit.state.listcache import ListCache
from flowergit.state.rawjson import RawJSON

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
    """The trees of a :class:`PreRead`, served to :func:`writes.edit_tree` as a batch would;
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


def where(brief: int) -> str:
    """How errors name brief ``brief``'s file: ``flower/briefs:briefs/0000/7.md``."""
    return f"{BRIEFS_BRANCH}:{brief_path(brief)}"


class BriefStore:
    def __init__(self, repo: Repo, max_body: int = 4 * 1024 * 1024) -> None:
        self.repo = repo
        self.max_body = max_body
        self.cache = ListCache(repo, self._all_blobs)

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
        """The same as serialised JSON, from the list cache (``state/listcache.py``)."""
        return self.cache.list_raw(warn)

    def conflicted(self, warn: Callable[[str], None] | None = None) -> list[int]:
        """The briefs that record conflicting edits from sync (the list cache's header)."""
        return self.cache.conflicted(warn)

    def counts(self, warn: Callable[[str], None] | None = None) -> dict[str, int]:
        """How many briefs there are of each status (the list cache's header, when current)."""
        return self.cache.counts(warn)

    def _all_blobs(self, tree: str) -> tuple[Any, bytes]:
        """The brief files under ``briefs/`` in id order, as their ids (an ``array('I')``) and
        their blob ids (hex, one after the other): only those at a brief's own path
        (``briefs/0200/246.md``), so a copy elsewhere (``briefs/0000/x.md``, a file in the wrong
        shard) never lists a second row with one id; :meth:`strays` names those."""
        from array import array

        paths, oids = objects.ls_tree_blobs(self.repo, tree, "briefs")
        h = self.repo.hexlen
        ids, at = array("I"), array("I")
        for i, p in enumerate(paths):
            bid = brief_at(p)
            if bid is not None:
                ids.append(bid)
                at.append(i)
        del paths
        order = sorted(range(len(ids)), key=ids.__getitem__)
        return (array("I", [ids[k] for k in order]),
                b"".join(oids[at[k] * h:(at[k] + 1) * h] for k in order))

    def strays(self) -> list[str]:
        """Files under ``briefs/`` that are at no brief's path: not briefs, and not listed."""
        tip = self.tip()
        if tip is None:
            return []
        tree = self.cache.tree or refs.read(self.repo, tip + "^{tree}") or tip + "^{tree}"
        cache = self.repo.state_path("cache", "strays.json")  # keyed by tree id: never stale
        try:
            with open(cache, "rb") as f:
                got = fastjson.loads(f.read())
            if isinstance(got, dict) and got.get("tree") == tree and isinstance(got.get("strays"), list):
                return [str(p) for p in got["strays"]]
        except (OSError, ValueError):
            pass
        out = [p for p in objects.ls_tree_names(self.repo, tree, "briefs")
               if brief_at(p) is None and not p.endswith("/README.md")]
        try:
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            with open(f"{cache}.{os.getpid()}", "wb") as f:
                f.write(fastjson.dumps({"tree": tree, "strays": out}).encode())
            os.replace(f"{cache}.{os.getpid()}", cache)
        except OSError:
            pass
        return out

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

        def build(tip: str | None, batch: objects.Batch,
                  writer: writes.Writer) -> tuple[dict[str, tuple[bytes, str] | None], str]:
            changes, message = plan(tip, batch)
            return {ch.path: None if ch.data is None else (
                objects.MODE_BLOB, writer.add("blob", ch.data)) for ch in changes}, message

        return self.write(build, allow_root=allow_root, extra_ops=extra_ops)

    def write(
        self,
        build: Callable[[str | None, objects.Batch, writes.Writer],
                        tuple[dict[str, tuple[bytes, str] | None], str]],
        *,
        allow_root: bool = False,
        extra_ops: Callable[[], Sequence[refs.Op]] | None = None,
    ) -> tuple[str, str | None]:
        """Run ``build(tip, batch, writer) -> (edits, message)`` (``edits``: path -> (mode,
        object id) or None to delete, the objects added to ``writer``) and CAS the result,
        retrying on a lost race with a fresh read. Returns (new commit, old tip)."""
        from flowergit.gitio import writes  # (readers of briefs never load the writer)

        self.refuse_if_checked_out()
        last: CasLost | None = None
        for _ in refs.retrying():
            tip = self.tip()
            if tip is None and not allow_root:
                self.require_tip()
            writer = writes.Writer(self.repo)
            with objects.Batch(self.repo) as batch:
                edits, message = build(tip, batch, writer)
                if not edits:
                    return tip or "", tip
                base_tree = batch.get(tip + "^{tree}")[0] if tip else None  # type: ignore[index]
                tree = writes.edit_tree(batch, writer, base_tree, edits)
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

    def max_id(self, tip: str | None, batch: objects.Batch,
               shards: list[objects.Entry] | None = None) -> int:
        """The highest brief id at ``tip`` (``shards``: its ``briefs`` tree, if read already)."""
        if tip is None:
            return 0
        if shards is None:
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
        self.create_many(lambda: drafts, reserve)
        return list(drafts)

    def create_many(self, drafts: Callable[[], Iterable[codec.Brief]],
                    reserve: Callable[[int], int] | None = None) -> tuple[int, str]:
        """Write the briefs ``drafts()`` yields in one commit, numbered from the next free id
        in the order given (each draft gets its id and creation time as it is written); returns
        (first id, creation time). ``drafts()`` is called again when a lost race makes the
        commit start over.

        One brief at a time: each is rendered, added to the pack and forgotten, and each shard's
        tree is written as soon as its last brief is in, so an import of 100,000 briefs holds
        the pack and one shard, never the briefs."""
        first = [0]

        def build(tip: str | None, batch: objects.Batch,
                  writer: writes.Writer) -> tuple[dict[str, tuple[bytes, str] | None], str]:
            listing = (batch.tree(tip + ":briefs") or []) if tip else []
            shards = {e.name: e for e in listing if e.is_tree}  # the shards there are
            nxt = self.max_id(tip, batch, listing) + 1
            if reserve is not None:
                nxt = reserve(nxt)
            first[0] = nxt
            edits: dict[str, tuple[bytes, str] | None] = {}
            shard = ""  # the shard being filled, and its new entries by name
            names: dict[bytes, objects.Entry] = {}
            count, one = 0, None
            for b in drafts():
                b.id = nxt + count
                b.created = b.created or created
                where, _, name = brief_path(b.id).rpartition("/")
                if where != shard:
                    if names:
                        edits[shard] = self._shard(batch, writer, shards, shard, names)
                    shard, names = where, {}
                raw = name.encode()
                names[raw] = objects.Entry(objects.MODE_BLOB, raw,
                                           writer.add("blob", codec.render_new(b)))
                count += 1
                one = b if count == 1 else None
            if names:
                edits[shard] = self._shard(batch, writer, shards, shard, names)
            if one is not None:
                return edits, f"brief {one.id}: new {one.kind}: {commit_subject(one.title)}"
            return edits, f"briefs {nxt}-{nxt + count - 1}: import {count} briefs"

        created = codec.iso(codec.now_utc())
        self.write(build)
        return first[0], created

    def _shard(self, batch: objects.Batch, writer: writes.Writer,
               shards: dict[bytes, objects.Entry], where: str,
               names: dict[bytes, objects.Entry]) -> tuple[bytes, str]:
        """The tree of shard ``where`` (``briefs/0200``; ``shards``: those there are, by name)
        with ``names`` laid over it, added to ``writer``, as an edit. Only a shard that exists
        is read: an import that fills a thousand new ones asks git nothing for them."""
        old = shards.get(where.rpartition("/")[2].encode())
        have = (batch.tree(old.oid) if old is not None else None) or []
        entries = {e.name: e for e in have}
        entries.update(names)
        return objects.MODE_TREE, writer.add("tree", objects.format_tree(entries.values()))

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
                    writer: writes.Writer) -> tuple[refs.Op, bytes] | None:
        """:meth:`update` against a :meth:`preread` tip, for the caller's own transaction: the
        objects go into ``writer``; returns the ref op (a CAS from that tip) and the new bytes, or
        None if ``mutate`` changes nothing. A lost CAS is the caller's to handle (:meth:`update`
        re-reads and retries)."""
        self.refuse_if_checked_out()
        new = mutate(pre.raw)
        if new is None or new == pre.raw:
            return None
        from flowergit.gitio import writes

        codec.parse(new, where(pre.brief))  # never write what we could not read back
        edits: dict[str, tuple[bytes, str] | None] = {
            brief_path(pre.brief): (objects.MODE_BLOB, writer.add("blob", new))}
        tree = writes.edit_tree(_PreTrees(self.repo, pre.trees), writer, pre.root, edits)  # type: ignore[arg-type]
        commit = writer.commit(tree, [pre.tip], message)
        return refs.update(BRIEFS_REF, commit, pre.tip), new

    def put_file(self, path: str, data: bytes | None, message: str) -> str:
        new, _ = self.apply(lambda tip, batch: ([Change(path, data)], message))
        return new
