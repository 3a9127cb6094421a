"""Dispatch records: ``refs/flower/dispatch/<brief>/<n>``, one record chain per attempt.

The record (JSON, format ``v = 1``)::

    {"v": 1, "id": "246.1", "brief": 246, "attempt": 1, "state": "running",
     "agent": "codex", "branch": "flower/246-active-refs-rail", "worktree": "/abs/path",
     "base": "<oid>", "target": "main", "rework": false,
     "host": "…", "boot_id": "…", "pid": 4242, "pgid": 4242, "proc_start": 123456,
     "queued_at": "…Z", "started_at": "…Z", "ended_at": null, "exit_code": null,
     "log": "/abs/…/logs/246.1.log", "packet": "/abs/…/packets/246.1.md", "by": "user"}

States: ``preparing`` (claimed; worktree and packet being made) → ``queued`` → ``running`` →
``exited`` (with ``exit_code``); ``stopped`` (by ``stop``); ``failed`` (the dispatch itself
failed: ``error``); ``lost`` (process gone with no exit record — usually a *shown* state, see
``ops.dispatch.view_state``); ``merged`` (landed by the merge gate); ``released`` (worktree
cleaned). docs/dispatch.md lists every field. Creating attempt ``n`` is create-only, so two dispatchers on
one machine (or, through a remote, on many) cannot both claim it.
"""

from __future__ import annotations


from flowergit import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from flowergit.gitio.runner import Started

from flowergit.errors import Conflict
from flowergit.gitio import objects, refs
from flowergit.gitio.refs import Op
from flowergit.gitio.repo import Repo
from flowergit.state import files, records
from flowergit.state.layout import dispatch_ref

PREFIX = "refs/flower/dispatch/"
CACHE_VERSION = 1
STALE_KEPT = 64  # records the cache may hold beyond the current tips before it is pruned
LIVE = ("preparing", "queued", "running")
ENDED = ("exited", "stopped", "lost", "merged", "released", "failed")


def dispatch_name(brief: int, attempt: int) -> str:
    return f"{brief}.{attempt}"


def record_reads(commits: Sequence[str]) -> list[str]:
    """The object names to read (with ``cat-file --batch``) for the records of ``commits``:
    each commit itself (a dispatch ref must point at one) and its record file."""
    return [name for oid in commits for name in (oid, f"{oid}:{records.RECORD}")]


def read_records(commits: Sequence[str], got: Sequence[tuple[str, str, bytes] | None],
                 ) -> list[dict[str, Any] | None]:
    """The records of ``commits`` from the answers to :func:`record_reads`: None where the ref
    points at no commit, or at one without a readable record."""
    out: list[dict[str, Any] | None] = []
    for i, oid in enumerate(commits):
        head, blob = got[2 * i], got[2 * i + 1]
        rec = None
        if head is not None and head[1] == "commit" and blob is not None and blob[1] == "blob":
            try:
                rec = records.decode(blob[2], oid)
            except Conflict:
                rec = None
        out.append(rec)
    return out


class DispatchStore:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    def get(self, brief: int, attempt: int) -> records.Head | None:
        return records.read(self.repo, dispatch_ref(brief, attempt))

    def attempts(self, brief: int) -> list[records.Head]:
        """Every attempt of one brief, oldest first."""
        heads = records.read_many(self.repo, f"{PREFIX}{brief}/")
        return sorted(heads, key=lambda h: int(h.record.get("attempt", 0)))

    def latest(self, brief: int) -> records.Head | None:
        heads = self.attempts(brief)
        return heads[-1] if heads else None

    def all(self) -> list[records.Head]:
        heads = records.read_many(self.repo, PREFIX)
        return sorted(heads, key=lambda h: (int(h.record.get("brief", 0)),
                                            int(h.record.get("attempt", 0))))

    def all_cached(self, cache: str | None, own: Sequence[records.Head] = ()) -> list[records.Head]:
        """Like :meth:`all`, reading only the records whose commit is not in the local cache
        ``cache`` (a JSON file keyed by commit id: content-addressed, so never stale) nor in
        ``own`` (records this process just wrote, with the commits it made for them)."""
        if cache is None:
            return self.all()
        tips, _ = self.list_tips()
        return self.cached(tips, cache, own=own)

    def list_tips(self, patterns: Sequence[str] = (), prefix: str = PREFIX,
                  ) -> tuple[list[tuple[str, str]], dict[str, str]]:
        """Every dispatch ref under ``prefix`` (all of them, or one brief's) as (refname,
        commit), and ``refname -> oid`` of the refs matching ``patterns`` (for-each-ref
        patterns) besides: one for-each-ref, one snapshot of both."""
        return self.list_tips_finish(self.list_tips_start(patterns, prefix), prefix)

    def list_tips_start(self, patterns: Sequence[str] = (), prefix: str = PREFIX) -> Started:
        """:meth:`list_tips`' ``for-each-ref``, started; :meth:`list_tips_finish` reads it."""
        # (no %(objecttype): it costs an object lookup per ref; what a dispatch ref points
        # at is checked to be a commit when its record is first read, see record_reads)
        return refs.read_many_start(self.repo, [prefix, *patterns], "%(refname) %(objectname)")

    def list_tips_finish(self, started: Started, prefix: str = PREFIX,
                         ) -> tuple[list[tuple[str, str]], dict[str, str]]:
        lines = refs.read_many_finish(started)
        tips: list[tuple[str, str]] = []
        others: dict[str, str] = {}
        for ln in lines:
            name, _, oid = ln.partition(" ")
            if not oid:
                continue
            if name.startswith(prefix):
                tips.append((name, oid))
            else:
                others[name] = oid
        return tips, others

    def cached(self, tips: Sequence[tuple[str, str]], cache: str,
               own: Sequence[records.Head] = (), batch: objects.Batch | None = None,
               every: bool = True) -> list[records.Head]:
        """The records of ``tips`` (from :meth:`list_tips`), through the cache: only commits it
        does not know are read, with ``batch`` if given (else a batch of their own). The cache
        learns what was read and ``own``. What it holds beyond the current tips (records since
        superseded, or learnt by another process since the tips were listed) is kept until it
        outnumbers them: rewriting the file for every superseded record would cost more than
        the entries, and a record another process just taught it is then not lost. ``every``:
        ``tips`` are all the tips there are (False for a few of them: nothing is let go)."""
        known = _load_cache(cache)
        learnt = False
        for h in own:
            if h.commit not in known:
                # the same value a read would give: the record as its blob encodes it
                known[h.commit] = records.decode(records.encode(h.record), h.commit)
                learnt = True
        missing = [oid for _, oid in tips if oid not in known]
        if missing:
            if batch is None:
                with objects.Batch(self.repo) as own_batch:
                    got = own_batch.get_many(record_reads(missing))
            else:
                got = batch.get_many(record_reads(missing))
            for oid, rec in zip(missing, read_records(missing, got)):
                if rec is not None:
                    known[oid] = rec
        heads = [records.Head(name, oid, known[oid]) for name, oid in tips if oid in known]
        stale = len(known) - len(heads)
        if every and stale > max(STALE_KEPT, len(heads)):
            save_cache(cache, heads)
        elif missing or learnt:
            _save(cache, known)
        return sorted(heads, key=lambda h: (int(h.record.get("brief", 0)),
                                            int(h.record.get("attempt", 0))))

    def claim(self, brief: int, attempt: int, rec: dict[str, Any],
              extra: Sequence[Op] = ()) -> records.Head:
        """Create attempt ``brief.attempt``; raises CasLost if someone else created it."""
        rec = {"v": 1, "id": dispatch_name(brief, attempt), "brief": brief, "attempt": attempt,
               **rec}
        return records.create(self.repo, dispatch_ref(brief, attempt), rec,
                              f"dispatch {brief}.{attempt}: {rec.get('state', 'queued')}", extra)

    def update(self, brief: int, attempt: int,
               change: Callable[[dict[str, Any]], dict[str, Any] | None], message: str,
               extra: Callable[[], Sequence[Op]] | None = None) -> records.Head:
        return records.update(self.repo, dispatch_ref(brief, attempt), change,
                              f"dispatch {brief}.{attempt}: {message}", extra)


def _load_cache(cache: str) -> dict[str, Any]:
    try:
        with open(cache, "rb") as f:
            doc = fastjson.loads(f.read())  # bytes: the scanner decodes as it goes
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("v") != CACHE_VERSION:
        return {}
    known = doc.get("records", {})
    return known if isinstance(known, dict) else {}


def save_cache(cache: str, heads: Sequence[records.Head]) -> None:
    """Write the record cache: exactly the records of ``heads`` (current tips), keyed by commit.
    Content-addressed, so a concurrent writer can only make it miss, never lie."""
    _save(cache, {h.commit: h.record for h in heads})


def _save(cache: str, keep: dict[str, Any]) -> None:
    try:
        # dumps, then one write: a dump to a file uses the pure-Python encoder (~25x slower)
        text = fastjson.dumps({"v": CACHE_VERSION, "records": keep}, ensure_ascii=False,
                              separators=(",", ":"))
        files.write_atomic(cache, text, errors="surrogatepass")  # as loads reads it
    except (OSError, ValueError):
        pass


def learn(cache: str, heads: Sequence[records.Head]) -> None:
    """Add records this process just wrote to the cache (the next reader need not read them)."""
    known = _load_cache(cache)
    new = [h for h in heads if h.commit not in known]
    if not new:
        return
    known.update({h.commit: records.decode(records.encode(h.record), h.commit) for h in new})
    _save(cache, known)
