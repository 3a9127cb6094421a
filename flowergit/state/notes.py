"""Provenance and attestations in ``refs/notes/flower``: one JSON object per line.

``git notes add`` moves the notes ref without naming the old value (20 concurrent adds keep
3–5 notes), so git flower builds the notes commit itself and moves the ref by compare-and-swap:
a lost race re-reads the tip and re-applies the append. Notes are written fan-out free (the path
is the annotated object's full id); a note git placed under a fan-out path is found and moved.

Lines (sorted keys, no pretty-printing):

* on a merge commit: ``{"v":1,"kind":"merge","brief":…,"dispatch":…,"suite":{…},…}``
* on a tree: ``{"v":1,"kind":"suite","tree":…,"command":[…],"tests":…,"passed":…,…}``
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from flowergit.errors import Conflict
from flowergit.gitio import objects, refs
from flowergit.gitio.refs import CasLost
from flowergit.gitio.repo import Repo
from flowergit.state.layout import NOTES_REF

MAX_NOTE = 4 * 1024 * 1024


def encode(rec: Mapping[str, Any]) -> str:
    return json.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def parse(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a note; other lines (hand-written notes) are skipped."""
    out = []
    for ln in data[:MAX_NOTE].decode("utf-8", "replace").splitlines():
        ln = ln.strip()
        if not ln.startswith("{"):
            continue
        try:
            rec = json.loads(ln)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _paths(oid: str) -> list[str]:
    return [oid, f"{oid[:2]}/{oid[2:]}", f"{oid[:2]}/{oid[2:4]}/{oid[4:]}"]


def _find(batch: objects.Batch, tip: str, oid: str) -> tuple[str | None, bytes]:
    for p in _paths(oid):
        got = batch.get(f"{tip}:{p}")
        if got is not None and got[1] == "blob":
            return p, got[2]
    return None, b""


def read(repo: Repo, oid: str, ref: str = NOTES_REF) -> list[dict[str, Any]]:
    """The records in the note on object ``oid``."""
    tip = refs.read(repo, ref)
    if tip is None:
        return []
    with objects.Batch(repo) as batch:
        _, data = _find(batch, tip, oid)
    return parse(data)


def read_many(repo: Repo, oids: Sequence[str], ref: str = NOTES_REF) -> dict[str, list[dict[str, Any]]]:
    """oid -> records, for many objects at once (one ls-tree, one cat-file batch)."""
    tip = refs.read(repo, ref)
    if tip is None or not oids:
        return {}
    res = repo.git(["ls-tree", "-r", "-z", "--end-of-options", tip])
    where: dict[str, str] = {}
    for item in res.stdout.split(b"\0"):
        if not item:
            continue
        meta, _, path = item.decode("utf-8", "surrogateescape").partition("\t")
        key = path.replace("/", "")
        where[key] = meta.split(" ")[2]
    want = [o for o in oids if o in where]
    if not want:
        return {}
    with objects.Batch(repo) as batch:
        blobs = batch.get_many([where[o] for o in want])
    return {o: parse(b[2]) for o, b in zip(want, blobs) if b is not None}


def append(repo: Repo, lines: Mapping[str, Sequence[Mapping[str, Any]]], message: str,
           ref: str = NOTES_REF) -> str:
    """Append records to the notes of several objects in one notes commit, by CAS (retried).

    A line already present is not added again, so re-applying is harmless. Returns the new tip.
    """
    for _ in refs.retrying():
        tip = refs.read(repo, ref)
        w = objects.Writer(repo)
        changes: dict[str, tuple[bytes, str] | None] = {}
        with objects.Batch(repo) as batch:
            base_tree = None
            if tip is not None:
                got = batch.get(f"{tip}^{{tree}}")
                base_tree = got[0] if got else None
            for oid, recs in lines.items():
                path, data = _find(batch, tip, oid) if tip else (None, b"")
                have = set(data.decode("utf-8", "replace").splitlines())
                new = [encode(r) for r in recs]
                add = [ln for ln in dict.fromkeys(new) if ln not in have]
                if not add:
                    continue
                if data and not data.endswith(b"\n"):
                    data += b"\n"
                blob = w.add("blob", data + "".join(ln + "\n" for ln in add).encode())
                if path is not None and path != oid:
                    changes[path] = None
                changes[oid] = (objects.MODE_BLOB, blob)
            if not changes:
                return tip or ""
            tree = objects.edit_tree(batch, w, base_tree, changes)
        w.flush()
        commit = objects.commit(repo, tree, [tip] if tip else [], message)
        try:
            refs.transaction(repo, [refs.update(ref, commit, tip)], message)
            return commit
        except CasLost:
            continue
    raise Conflict(f"gave up writing {ref} after repeated lost races", "try again")
