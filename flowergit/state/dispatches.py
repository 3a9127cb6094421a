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

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from flowergit.errors import Conflict
from flowergit.gitio import objects, refs
from flowergit.gitio.refs import Op
from flowergit.gitio.repo import Repo
from flowergit.state import records
from flowergit.state.layout import dispatch_ref

PREFIX = "refs/flower/dispatch/"
CACHE_VERSION = 1
LIVE = ("preparing", "queued", "running")
ENDED = ("exited", "stopped", "lost", "merged", "released", "failed")


def dispatch_name(brief: int, attempt: int) -> str:
    return f"{brief}.{attempt}"


class DispatchStore:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    def get(self, brief: int, attempt: int) -> records.Head | None:
        return records.read(self.repo, dispatch_ref(brief, attempt))

    def attempts(self, brief: int) -> list[records.Head]:
        """Every attempt of one brief, oldest first."""
        heads = records.read_many(self.repo, f"{PREFIX}{brief}/")
        return sorted(heads, key=lambda h: int(h.record.get("attempt", 0)))

    def attempts_and_refs(self, brief: int,
                          patterns: Sequence[str]) -> tuple[list[records.Head], dict[str, str]]:
        """:meth:`attempts`, and ``refname -> oid`` of the refs matching ``patterns`` (for-each-ref
        patterns), from one for-each-ref: one snapshot of both, one process fewer."""
        prefix = f"{PREFIX}{brief}/"
        lines = refs.read_many(self.repo, [prefix, *patterns], "%(refname) %(objectname) %(objecttype)")
        tips: list[list[str]] = []
        others: dict[str, str] = {}
        for ln in lines:
            t = ln.split(" ")
            if len(t) != 3:
                continue
            if t[0].startswith(prefix):
                if t[2] == "commit":
                    tips.append(t)
            else:
                others[t[0]] = t[1]
        heads: list[records.Head] = []
        if tips:
            with objects.Batch(self.repo) as batch:
                blobs = batch.get_many([f"{oid}:{records.RECORD}" for _, oid, _ in tips])
            for (name, oid, _), got in zip(tips, blobs):
                if got is None or got[1] != "blob":
                    continue
                try:
                    heads.append(records.Head(name, oid, records.decode(got[2], name)))
                except Conflict:
                    continue
        return sorted(heads, key=lambda h: int(h.record.get("attempt", 0))), others

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
        lines = refs.read_many(self.repo, [PREFIX], "%(refname) %(objectname) %(objecttype)")
        tips = [ln.split(" ") for ln in lines]
        tips = [t for t in tips if len(t) == 3 and t[2] == "commit"]
        known: dict[str, Any] = {}
        try:
            with open(cache, encoding="utf-8") as f:
                doc = json.load(f)
            if isinstance(doc, dict) and doc.get("v") == CACHE_VERSION:
                known = doc.get("records", {})
        except (OSError, ValueError):
            pass
        if not isinstance(known, dict):
            known = {}
        learnt = False
        for h in own:
            if h.commit not in known:
                # the same value a read would give: the record as its blob encodes it
                known[h.commit] = records.decode(records.encode(h.record), h.commit)
                learnt = True
        missing = [oid for _, oid, _ in tips if oid not in known]
        if missing:
            with objects.Batch(self.repo) as batch:
                blobs = batch.get_many([f"{oid}:{records.RECORD}" for oid in missing])
            for oid, got in zip(missing, blobs):
                if got is None or got[1] != "blob":
                    continue
                try:
                    known[oid] = records.decode(got[2], oid)
                except Conflict:
                    continue
        heads = [records.Head(name, oid, known[oid]) for name, oid, _ in tips if oid in known]
        if missing or learnt or len(known) != len(heads):
            keep = {h.commit: h.record for h in heads}
            tmp = f"{cache}.{os.getpid()}.tmp"
            try:
                os.makedirs(os.path.dirname(cache), exist_ok=True)
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump({"v": CACHE_VERSION, "records": keep}, f, ensure_ascii=False,
                              separators=(",", ":"))
                os.replace(tmp, cache)
            except OSError:
                pass
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
