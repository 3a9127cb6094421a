"""Record chains: one ref -> a chain of commits, each holding ``record.json``.

Dispatches (``refs/flower/dispatch/<brief>/<n>``), daemons (``refs/flower/daemons/<id>``), the
baton (``refs/flower/baton/<lane>``), signals and claims are all record chains. The newest commit
is the current state; ``git log <ref>`` is its history, readable with plain git. Creating a chain
is create-only (at most one claimant per ref); appending is a compare-and-swap on the previous
commit, optionally fenced by more ``verify`` lines in the same transaction.
"""

from __future__ import annotations

import os
import sys

from flowergit import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from flowergit.gitio import writes

from flowergit.errors import Conflict, NotFound, UsageError
from flowergit.gitio import objects, refs
from flowergit.gitio.refs import CasLost, Op
from flowergit.gitio.repo import Repo

RECORD = "record.json"
MAX_RECORD = 1024 * 1024


# record chains live under these (refs/flower/recovery/ holds merge journals, lost/ what doctor
# moved aside: neither is a record chain)
CHAINS = ("refs/flower/dispatch/", "refs/flower/signals/", "refs/flower/claims/",
          "refs/flower/daemons/", "refs/flower/baton/", "refs/flower/ids/")
LOST = "refs/flower/lost/"


class CorruptRef(UsageError):
    """A state ref that is not a record chain (a blob or tree where a commit belongs, a commit
    without ``record.json``, a record that is not JSON, an object that is missing)."""

    def __init__(self, ref: str, what: str) -> None:
        super().__init__(f"{ref} is corrupt: {what}",
                         f"run `git flower doctor --fix`: it moves the ref aside under "
                         f"{lost_ref(ref)} (nothing is deleted), then retry")
        self.ref = ref
        self.what = what


def lost_ref(ref: str) -> str:
    """Where ``doctor --fix`` moves a corrupt state ref: ``refs/flower/lost/<original path>``."""
    return LOST + ref.removeprefix("refs/")


def diagnose(repo: Repo, ref: str) -> str | None:
    """What is wrong with the state ref ``ref``; None when it is a sound record chain or absent."""
    lines = refs.read_many(repo, [ref], "%(objectname)", check=False)
    oid = next((ln for ln in lines if ln.strip()), "").strip()
    if not oid:
        return None
    return _judge(repo, oid)


def _judge(repo: Repo, oid: str) -> str | None:
    top, record = objects.read_few(repo, [oid, f"{oid}:{RECORD}"])
    return _verdict(oid, top, record)


def _verdict(oid: str, top: tuple[str, str, bytes] | None,
             record: tuple[str, str, bytes] | None) -> str | None:
    if top is None:
        return f"it names object {oid[:12]}, which is missing from this repository"
    if top[1] != "commit":
        return f"it names a {top[1]} ({oid[:12]}) where a record commit belongs"
    if record is None or record[1] != "blob":
        return f"its commit {oid[:12]} holds no {RECORD}"
    try:
        decode(record[2])
    except Conflict as e:
        return f"its {RECORD} does not read: {e.message.removeprefix('record: ')}"
    return None


def corrupt(repo: Repo) -> list[tuple[str, str, str]]:
    """(ref, object id, what is wrong) of every corrupt record-chain ref (for ``doctor``).

    One ``cat-file --batch-check`` names each tip's type and its record's blob; only a record
    blob this machine has not read before is read and decoded (a blob id names its content, so a
    blob that decoded once always does: the ids are kept in ``cache/records-verified``). Where
    git stopped early (a corrupt object), the refs are judged one by one."""
    pairs = []
    for ln in refs.read_many(repo, CHAINS, check=False):
        name, _, oid = ln.strip().partition(" ")
        if oid:
            pairs.append((name, oid))
    checked = objects.check_few(repo, [n for _, oid in pairs for n in (oid, f"{oid}:{RECORD}")])
    if checked is None:
        return [(name, oid, what) for name, oid in pairs
                if (what := _judge(repo, oid)) is not None]
    verified_path = repo.state_path("cache", "records-verified")
    verified = _read_verified(verified_path)
    out: list[tuple[str, str, str]] = []
    unread: list[tuple[str, str, str]] = []  # (ref, commit, record blob) not yet verified
    sound: list[str] = []  # the record blobs of the tips that were verified before
    for i, (name, oid) in enumerate(pairs):
        top, record = checked[2 * i], checked[2 * i + 1]
        if top is None or top[1] != "commit" or record is None or record[1] != "blob":
            what = _verdict(oid, top and (top[0], top[1], b""),
                            record and (record[0], record[1], b""))
            if what is not None:
                out.append((name, oid, what))
        elif record[0] in verified:
            sound.append(record[0])
        else:
            unread.append((name, oid, record[0]))
    learnt = []
    if unread:
        got = objects.read_few(repo, [blob for _, _, blob in unread])
        for (name, oid, blob), data in zip(unread, got):
            what = _judge(repo, oid) if data is None else _verdict(oid, (oid, "commit", b""), data)
            if what is None:
                learnt.append(blob)
            else:
                out.append((name, oid, what))
    if len(verified) > 4 * len(pairs) + 1024:  # mostly records since superseded: start afresh
        _write_verified(verified_path, sound + learnt, mode="wb")
    else:
        _write_verified(verified_path, learnt, mode="ab")
    return sorted(out)


def _read_verified(path: str) -> set[str]:
    try:
        with open(path, "rb") as f:
            return set(f.read().decode("ascii", "replace").split())
    except OSError:
        return set()


def _write_verified(path: str, oids: Sequence[str], *, mode: str) -> None:
    """Append (``ab``) or write afresh (``wb``) record blob ids that decoded (a cache: losing
    it only costs a re-read)."""
    if not oids and mode == "ab":
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, mode) as f:
            f.write("".join(o + "\n" for o in oids).encode("ascii"))
    except OSError:
        pass


def raise_if_corrupt(repo: Repo, ref: str) -> None:
    """Raise :class:`CorruptRef` if ``ref`` exists and is not a record chain (a lost create
    that is no race, for example)."""
    what = diagnose(repo, ref)
    if what is not None:
        raise CorruptRef(ref, what)


def encode(rec: Mapping[str, Any]) -> bytes:
    return (fastjson.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def decode(data: bytes, where: str = "record") -> dict[str, Any]:
    if len(data) > MAX_RECORD:
        raise Conflict(f"{where}: record too large ({len(data)} bytes)")
    try:
        rec = fastjson.loads(data)
    except ValueError as e:
        raise Conflict(f"{where}: not a JSON record: {e}") from None
    if not isinstance(rec, dict):
        raise Conflict(f"{where}: not a JSON object")
    return rec


class Head(tuple[str, str, "dict[str, Any]"]):
    """(ref, commit, record): the newest record of a chain."""

    __slots__ = ()

    def __new__(cls, ref: str, commit: str, record: dict[str, Any]) -> Head:
        return tuple.__new__(cls, (ref, commit, record))

    @property
    def ref(self) -> str:
        return self[0]

    @property
    def commit(self) -> str:
        return self[1]

    @property
    def record(self) -> dict[str, Any]:
        return self[2]


def add_commit(writer: writes.Writer, rec: Mapping[str, Any], parent: str | None,
               message: str) -> str:
    """Add a record commit (blob, tree, commit) to ``writer``, to be written with whatever else
    it holds in one ``unpack-objects``; returns the commit id."""
    blob = writer.add("blob", encode(rec))
    tree = writer.add("tree", objects.format_tree(
        [objects.Entry(objects.MODE_BLOB, RECORD.encode(), blob)]))
    return writer.commit(tree, [parent] if parent else [], message)


def build(repo: Repo, rec: dict[str, Any], parent: str | None, message: str) -> str:
    """Write a record commit (one ``unpack-objects``); nothing points at it yet."""
    from flowergit.gitio import writes  # (a reader of records never loads the writer)

    w = writes.Writer(repo)
    commit = add_commit(w, rec, parent, message)
    w.flush()
    return commit


def read(repo: Repo, ref: str) -> Head | None:
    """The newest record of ``ref`` (one git call), or None if the ref does not exist."""
    top, record = objects.read_few(repo, [ref, f"{ref}:{RECORD}"])
    if top is None:
        return None  # absent (a ref naming a missing object is found when a create loses)
    if top[1] != "commit":
        raise CorruptRef(ref, f"it names a {top[1]} ({top[0][:12]}) where a record commit belongs")
    if record is None or record[1] != "blob":
        raise CorruptRef(ref, f"its commit {top[0][:12]} holds no {RECORD}")
    try:
        return Head(ref, top[0], decode(record[2], ref))
    except Conflict as e:
        raise CorruptRef(ref, f"its {RECORD} does not read: {e.message}") from None


def read_many(repo: Repo, prefix: str) -> list[Head]:
    """Every chain under ``prefix`` (one for-each-ref, one cat-file batch; libgit2's reads in
    a long-lived reader that loaded and enabled :mod:`flowergit.gitio.libgit`, such as `watch`)."""
    lib = sys.modules.get("flowergit.gitio.libgit")  # never imported here: pygit2 is heavy
    found = lib.commits_with_file(repo, prefix, RECORD) if lib is not None else None
    if found is None:
        lines = refs.read_many(repo, [prefix], "%(refname) %(objectname) %(objecttype)")
        heads = [ln.split(" ") for ln in lines]
        heads = [h for h in heads if len(h) == 3 and h[2] == "commit"]
        if not heads:
            return []
        with objects.Batch(repo) as batch:
            blobs = batch.get_many([f"{oid}:{RECORD}" for _, oid, _ in heads])
        found = [(name, oid, got[2] if got is not None and got[1] == "blob" else None)
                 for (name, oid, _), got in zip(heads, blobs)]
    return [Head(name, oid, rec) for (name, oid, _), rec in zip(found, decode_many(
        [data for _, _, data in found])) if rec is not None]


def decode_many(blobs: Sequence[bytes | None]) -> list[dict[str, Any] | None]:
    """:func:`decode` of each blob (None where it is none or does not decode), in one pass of
    JSON's scanner over them all when each is one object (a thousand records: 2 ms against 5 for
    one call each); one by one when any is not."""
    if blobs and all(b is not None and b[:1] == b"{" and b.rstrip()[-1:] == b"}"
                     and len(b) <= MAX_RECORD for b in blobs):
        try:
            got = fastjson.loads(b"[" + b",".join(blobs) + b"]")  # type: ignore[arg-type]
        except ValueError:
            got = None
        if isinstance(got, list) and len(got) == len(blobs) and all(isinstance(r, dict) for r in got):
            return got
    out: list[dict[str, Any] | None] = []
    for data in blobs:
        try:
            out.append(None if data is None else decode(data))
        except Conflict:
            out.append(None)
    return out


def create(repo: Repo, ref: str, rec: dict[str, Any], message: str,
           extra: Sequence[Op] = ()) -> Head:
    """Start a chain; raises :class:`CasLost` if the ref already exists (someone else won)."""
    commit = build(repo, rec, None, message)
    try:
        refs.transaction(repo, [refs.create(ref, commit), *extra], message)
    except CasLost:
        raise_if_corrupt(repo, ref)  # no race: what is there is no record chain
        raise
    return Head(ref, commit, rec)


def append(repo: Repo, head: Head, rec: dict[str, Any], message: str,
           extra: Sequence[Op] = ()) -> Head:
    """Add a record on top of ``head``; raises :class:`CasLost` if the chain moved."""
    commit = build(repo, rec, head.commit, message)
    refs.transaction(repo, [refs.update(head.ref, commit, head.commit), *extra], message)
    return Head(head.ref, commit, rec)


def update(repo: Repo, ref: str, change: Callable[[dict[str, Any]], dict[str, Any] | None],
           message: str, extra: Callable[[], Sequence[Op]] | None = None) -> Head:
    """Re-read, apply ``change`` (None: nothing to do), CAS; retried on a lost race."""
    for _ in refs.retrying():
        head = read(repo, ref)
        if head is None:
            raise NotFound(f"no record at {ref}")
        new = change(dict(head.record))
        if new is None:
            return head
        try:
            return append(repo, head, new, message, extra() if extra else ())
        except CasLost:
            continue
    raise Conflict(f"gave up updating {ref} after repeated lost races")


def history(repo: Repo, ref: str, limit: int = 100) -> list[Head]:
    """The chain, newest first."""
    from flowergit.gitio import history as ghistory

    oids = ghistory.newest_commits(repo, ref, limit)
    if not oids:
        return []
    with objects.Batch(repo) as batch:
        blobs = batch.get_many([f"{o}:{RECORD}" for o in oids])
    return [Head(ref, o, decode(b[2], ref)) for o, b in zip(oids, blobs) if b is not None]
