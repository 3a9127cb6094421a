"""Provenance and attestations in ``refs/notes/flower``: one JSON object per line.

``git notes add`` moves the notes ref without naming the old value (20 concurrent adds keep
3–5 notes), so git flower builds the notes commit itself and moves the ref by compare-and-swap:
a lost race re-reads the tip and re-applies the append.

Layout: a note is written at git's fan-out path ``ab/cdef…`` (the first two hex digits name a
subtree), so an append rewrites the root (at most 256 subtrees) and one subtree (about 1/256 of
the notes) whatever the number of notes. Notes found at the flat path (``abcdef…``, as
``git notes`` writes small notes trees) or at a deeper fan-out (``ab/cd/ef…``) are read, and
when their object gets a new line they are moved into the one fan-out blob: an object never has
two note blobs after git flower wrote to it. Flat notes in the root are all moved under the
fan-out with the first write that finds them (once), so the root stays small. Lookups are by path in one ``cat-file --batch``;
the notes tree is never listed.

Lines (sorted keys, no pretty-printing):

* on a merge commit: ``{"v":1,"kind":"merge","brief":…,"dispatch":…,"suite":{…},…}``
* on a tree: ``{"v":1,"kind":"suite","tree":…,"command":[…],"tests":…,"passed":…,…}``
"""

from __future__ import annotations


from flowergit import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from flowergit.gitio import writes
    from flowergit.state.schema import NoteLine

from flowergit.errors import Conflict, UsageError
from flowergit.gitio import objects, refs
from flowergit.gitio.refs import CasLost
from flowergit.gitio.repo import Repo
from flowergit.state.layout import NOTES_REF

MAX_NOTE = 4 * 1024 * 1024


def encode(rec: Mapping[str, Any]) -> str:
    return fastjson.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def parse(data: bytes) -> list[NoteLine]:
    """The JSON objects of a note; other lines (hand-written notes) are skipped."""
    out: list[NoteLine] = []
    for ln in data[:MAX_NOTE].decode("utf-8", "replace").splitlines():
        ln = ln.strip()
        if not ln.startswith("{"):
            continue
        try:
            rec: NoteLine = fastjson.loads(ln)  # a merge or suite line, or one of another kind
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _canonical(line: str) -> str:
    """A JSON-object line with sorted keys and no spaces, so equal records compare equal."""
    try:
        rec = fastjson.loads(line)
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


class Found(tuple[list[str], bytes]):
    """(paths, data): where the object's note blobs sit, and the note (several blobs
    combined)."""

    __slots__ = ()

    def __new__(cls, paths: list[str], data: bytes) -> Found:
        return tuple.__new__(cls, (paths, data))

    @property
    def paths(self) -> list[str]:
        return self[0]

    @property
    def data(self) -> bytes:
        return self[1]


def _lookup(batch: objects.Batch, tip: str, oids: Sequence[str]) -> dict[str, Found]:
    """oid -> its note, for the oids that have one.

    Every candidate path of every oid is asked in one pipelined batch: no listing of the tree."""
    if not oids:
        return {}
    names = [f"{tip}:{p}" for o in oids for p in _paths(o)]
    got = batch.get_many(names)
    out: dict[str, Found] = {}
    width = len(names) // len(oids)
    for i, oid in enumerate(oids):
        paths, blobs = [], []
        for j, p in enumerate(_paths(oid)):
            g = got[i * width + j]
            if g is not None and g[1] == "blob":
                paths.append(p)
                blobs.append(g[2])
        if paths:
            out[oid] = Found(paths, _combine(blobs))
    return out


def _flat_notes(root: list[objects.Entry], hexlen: int) -> dict[str, str]:
    """oid -> note blob, for the notes that sit flat in the root tree ``root``."""
    return {e.name.decode(): e.oid for e in root
            if not e.is_tree and len(e.name) == hexlen and all(c in b"0123456789abcdef" for c in e.name)}


def _move_flat(batch: objects.Batch, w: writes.Writer, root: list[objects.Entry], flat: Mapping[str, str],
               changes: dict[str, tuple[bytes, str] | None]) -> None:
    """Plan moving the flat notes ``flat`` under the fan-out, from the tree entries themselves
    (asking git for thousands of paths in a wide flat root would scan it once per path). A
    second blob of the same object at a fan-out path is folded in, so one blob remains."""
    subs = {e.name.decode(): e.oid for e in root if e.is_tree}
    listed: dict[str, dict[bytes, objects.Entry]] = {}

    def entries(path: str, oid: str) -> dict[bytes, objects.Entry]:
        if path not in listed:
            listed[path] = {e.name: e for e in batch.tree(oid) or []}
        return listed[path]

    for oid, blob in flat.items():
        blobs, gone = [blob], [oid]
        if oid[:2] in subs:
            top = entries(oid[:2], subs[oid[:2]])
            one = top.get(oid[2:].encode())
            if one is not None and not one.is_tree:
                blobs.insert(0, one.oid)
            two = top.get(oid[2:4].encode())
            if two is not None and two.is_tree:
                deep = entries(f"{oid[:2]}/{oid[2:4]}", two.oid).get(oid[4:].encode())
                if deep is not None and not deep.is_tree:
                    blobs.append(deep.oid)
                    gone.append(f"{oid[:2]}/{oid[2:4]}/{oid[4:]}")
        for p in gone:
            changes[p] = None
        if len(blobs) > 1:
            data = _combine([g[2] for g in batch.get_many(blobs) if g is not None])
            changes[note_path(oid)] = (objects.MODE_BLOB, w.add("blob", data))
        else:
            changes[note_path(oid)] = (objects.MODE_BLOB, blob)


def _valid_oids(oids: Sequence[str], hexlen: int) -> list[str]:
    return [o for o in dict.fromkeys(oids)
            if len(o) == hexlen and all(c in "0123456789abcdef" for c in o)]


def read(repo: Repo, oid: str, ref: str = NOTES_REF) -> list[NoteLine]:
    """The records in the note on object ``oid``."""
    return read_many(repo, [oid], ref).get(oid, [])


def read_many(repo: Repo, oids: Sequence[str], ref: str = NOTES_REF, *,
              batch: objects.Batch | None = None, tip: str | None = None
              ) -> dict[str, list[NoteLine]]:
    """oid -> records, for many objects at once (one ``cat-file --batch`` reads the tip and
    looks the notes up by path). A caller that holds a batch passes it (no process started),
    and the tip too if it knows it."""
    want = _valid_oids(oids, repo.hexlen)
    if not want:
        return {}
    if batch is None:
        with objects.Batch(repo) as own:
            return read_many(repo, want, ref, batch=own, tip=tip)
    if tip is None:
        got = batch.get(ref)
        tip = got[0] if got is not None and got[1] == "commit" else None
    if tip is None:
        return {}
    return {o: parse(f.data) for o, f in _lookup(batch, tip, want).items()}


def prepare(repo: Repo, lines: Mapping[str, Sequence[Mapping[str, Any]]], message: str,
            batch: objects.Batch, writer: writes.Writer, tip: str | None
            ) -> str | None:
    """The notes commit that appends ``lines`` on top of ``tip`` (objects added to ``writer``,
    nothing written, no ref moved), or None when every line is there already. The caller
    writes the objects and moves ``ref`` from ``tip`` by compare-and-swap, in its own
    transaction; :func:`append` is that, retried."""
    from flowergit.gitio import writes  # (`why` and the hooks read notes; they never load it)

    oids = list(lines)
    bad = [o for o in oids if o not in _valid_oids([o], repo.hexlen)]
    if bad:
        raise UsageError(f"cannot write a note on {bad[0]!r}: not a full object id")
    changes: dict[str, tuple[bytes, str] | None] = {}
    base_tree = None
    found: dict[str, Found] = {}
    root: list[objects.Entry] = []
    if tip is not None:
        got = batch.get(f"{tip}^{{tree}}")
        base_tree = got[0] if got else None
        root = (batch.tree(base_tree) or []) if base_tree else []
        found = _lookup(batch, tip, oids)
    for oid, recs in lines.items():
        paths, data = found.get(oid, Found([], b""))
        have = {_canonical(ln) for ln in data.decode("utf-8", "replace").splitlines()}
        add = [ln for ln in dict.fromkeys(encode(r) for r in recs) if ln not in have]
        if not add:
            continue
        if data and not data.endswith(b"\n"):
            data += b"\n"
        blob = writer.add("blob", data + "".join(ln + "\n" for ln in add).encode())
        for p in paths:
            if p != note_path(oid):
                changes[p] = None
        changes[note_path(oid)] = (objects.MODE_BLOB, blob)
    if not changes:
        return None
    # flat notes in the root (``git notes`` writes small trees flat, older git flower always
    # did) move under the fan-out once, with this write: later writes no longer rewrite a root
    # that holds every note
    flat = {o: b for o, b in _flat_notes(root, repo.hexlen).items() if note_path(o) not in changes}
    _move_flat(batch, writer, root, flat, changes)
    tree = writes.edit_tree(batch, writer, base_tree, changes)
    return writer.commit(tree, [tip] if tip else [], message)


def append(repo: Repo, lines: Mapping[str, Sequence[Mapping[str, Any]]], message: str,
           ref: str = NOTES_REF) -> str:
    """Append records to the notes of several objects in one notes commit, by CAS (retried).

    A line already present is not added again, so re-applying is harmless. The note is written
    at its fan-out path; a copy at a flat or deeper path is folded into it and removed. Returns
    the new tip.
    """
    from flowergit.gitio import writes

    for _ in refs.retrying():
        w = writes.Writer(repo)
        with objects.Batch(repo) as batch:
            got = batch.get(ref)
            tip = got[0] if got is not None and got[1] == "commit" else None
            commit = prepare(repo, lines, message, batch, w, tip)
        if commit is None:
            return tip or ""
        w.flush()
        try:
            refs.transaction(repo, [refs.update(ref, commit, tip)], message)
            return commit
        except CasLost:
            continue
    raise Conflict(f"gave up writing {ref} after repeated lost races", "try again")
