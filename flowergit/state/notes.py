"""Provenance and attestations in ``refs/notes/flower``: one JSON object per line.

``git notes add`` moves the notes ref without naming the old value (20 concurrent adds keep
3–5 notes), so git flower builds the notes commit itself and moves the ref by compare-and-swap:
a lost race re-reads the tip and re-applies the append.

Layout: a note is written at git's fan-out path ``ab/cdef…`` (the first two hex digits name a
subtree), so an append rewrites the root (at most 256 subtrees) and one subtree (about 1/256 of
the notes) whatever the number of notes. Notes found at the flat path (``abcdef…``, as
``git notes`` writes small notes trees) or at a deeper fan-out (``ab/cd/ef…``) are read, and
when their object gets a new line they are moved into the one fan-out blob: an object never has
two note blobs after git flower wrote to it. Lookups are by path in one ``cat-file --batch``;
the notes tree is never listed.

Lines (sorted keys, no pretty-printing):

* on a merge commit: ``{"v":1,"kind":"merge","brief":…,"dispatch":…,"suite":{…},…}``
* on a tree: ``{"v":1,"kind":"suite","tree":…,"command":[…],"tests":…,"passed":…,…}``
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from flowergit.errors import Conflict, UsageError
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


def _canonical(line: str) -> str:
    """A JSON-object line with sorted keys and no spaces, so equal records compare equal."""
    try:
        rec = json.loads(line)
    except ValueError:
        return line
    return encode(rec) if isinstance(rec, dict) else line


def note_path(oid: str) -> str:
    """Where git flower writes the note on ``oid``: git's one-level fan-out, ``ab/cdef…``."""
    return f"{oid[:2]}/{oid[2:]}"


def _paths(oid: str) -> list[str]:
    """Every path a note on ``oid`` may sit at: fan-out (written here), flat, two-level."""
    return [note_path(oid), oid, f"{oid[:2]}/{oid[2:4]}/{oid[4:]}"]


def _combine(parts: Sequence[bytes]) -> bytes:
    """One note from the blobs found for one object (as git concatenates duplicate notes);
    a line already seen is not repeated."""
    if len(parts) == 1:
        return parts[0]
    seen: dict[str, None] = {}
    for data in parts:
        for ln in data.decode("utf-8", "surrogateescape").splitlines():
            if ln.strip():
                seen.setdefault(ln, None)
    return "".join(ln + "\n" for ln in seen).encode("utf-8", "surrogateescape")


def _lookup(batch: objects.Batch, tip: str, oids: Sequence[str]) -> dict[str, tuple[list[str], bytes]]:
    """oid -> (the paths its note blobs sit at, the combined note), for the oids with a note.

    Every candidate path of every oid is asked in one pipelined batch: no listing of the tree."""
    if not oids:
        return {}
    names = [f"{tip}:{p}" for o in oids for p in _paths(o)]
    got = batch.get_many(names)
    out: dict[str, tuple[list[str], bytes]] = {}
    width = len(names) // len(oids)
    for i, oid in enumerate(oids):
        paths, blobs = [], []
        for j, p in enumerate(_paths(oid)):
            g = got[i * width + j]
            if g is not None and g[1] == "blob":
                paths.append(p)
                blobs.append(g[2])
        if paths:
            out[oid] = (paths, _combine(blobs))
    return out


def _valid_oids(oids: Sequence[str], hexlen: int) -> list[str]:
    return [o for o in dict.fromkeys(oids)
            if len(o) == hexlen and all(c in "0123456789abcdef" for c in o)]


def read(repo: Repo, oid: str, ref: str = NOTES_REF) -> list[dict[str, Any]]:
    """The records in the note on object ``oid``."""
    return read_many(repo, [oid], ref).get(oid, [])


def read_many(repo: Repo, oids: Sequence[str], ref: str = NOTES_REF) -> dict[str, list[dict[str, Any]]]:
    """oid -> records, for many objects at once (one ``cat-file --batch``, looked up by path)."""
    want = _valid_oids(oids, repo.hexlen)
    if not want:
        return {}
    tip = refs.read(repo, ref)
    if tip is None:
        return {}
    with objects.Batch(repo) as batch:
        found = _lookup(batch, tip, want)
    return {o: parse(data) for o, (_, data) in found.items()}


def append(repo: Repo, lines: Mapping[str, Sequence[Mapping[str, Any]]], message: str,
           ref: str = NOTES_REF) -> str:
    """Append records to the notes of several objects in one notes commit, by CAS (retried).

    A line already present is not added again, so re-applying is harmless. The note is written
    at its fan-out path; a copy at a flat or deeper path is folded into it and removed. Returns
    the new tip.
    """
    oids = list(lines)
    bad = [o for o in oids if o not in _valid_oids([o], repo.hexlen)]
    if bad:
        raise UsageError(f"cannot write a note on {bad[0]!r}: not a full object id")
    for _ in refs.retrying():
        tip = refs.read(repo, ref)
        w = objects.Writer(repo)
        changes: dict[str, tuple[bytes, str] | None] = {}
        with objects.Batch(repo) as batch:
            base_tree = None
            found: dict[str, tuple[list[str], bytes]] = {}
            if tip is not None:
                got = batch.get(f"{tip}^{{tree}}")
                base_tree = got[0] if got else None
                found = _lookup(batch, tip, oids)
            for oid, recs in lines.items():
                paths, data = found.get(oid, ([], b""))
                have = {_canonical(ln) for ln in data.decode("utf-8", "replace").splitlines()}
                add = [ln for ln in dict.fromkeys(encode(r) for r in recs) if ln not in have]
                if not add:
                    continue
                if data and not data.endswith(b"\n"):
                    data += b"\n"
                blob = w.add("blob", data + "".join(ln + "\n" for ln in add).encode())
                for p in paths:
                    if p != note_path(oid):
                        changes[p] = None
                changes[note_path(oid)] = (objects.MODE_BLOB, blob)
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
