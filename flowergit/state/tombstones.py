"""Tombstones: the explicit record that a flower ref was deleted on purpose.

``refs/flower/tombstones`` is a chain of commits whose tree holds one file,
``tombstones.jsonl``: one JSON object a line, ``{"ref": …, "oid": …, "at": …, "why": …}`` —
the ref deleted, the value it had, when and why. A deletion of a ref that travels between clones
(a signal and its claim pruned once they are over) writes its tombstone in the same ref
transaction as the deletion. ``sync`` deletes a ref on the other side only when a tombstone
names exactly the value it has there; a ref that is merely missing is copied back, never read as
a deletion. Two clones' chains are joined by their union (:func:`union`).

Tombstones older than :data:`KEEP` seconds are dropped when the file is next rewritten: a ref
deleted that long ago and brought back by a clone that slept through it is over anyway (an
expired signal is never offered to ``claim``), and the next prune removes it again.
"""

from __future__ import annotations

import time

from flowergit import fastjson
from flowergit.gitio import objects, refs
from flowergit.gitio.history import is_ancestor
from flowergit.gitio.repo import Repo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

TOMBS_REF = "refs/flower/tombstones"
FILE = "tombstones.jsonl"
KEEP = 30 * 86400
MAX_BYTES = 16 * 1024 * 1024
"""A tombstone file from a remote larger than this is not read (and deletes nothing)."""


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _lines(repo: Repo, commit: str | None) -> dict[tuple[str, str], str]:
    """(ref, oid) -> the canonical line, of the tombstones at ``commit``."""
    if commit is None:
        return {}
    got = objects.read_few(repo, [f"{commit}:{FILE}"])[0]
    if got is None or got[1] != "blob" or len(got[2]) > MAX_BYTES:
        return {}
    out: dict[tuple[str, str], str] = {}
    for raw in got[2].decode("utf-8", "replace").split("\n"):
        try:
            rec = fastjson.loads(raw) if raw.strip() else None
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("ref"), str) and isinstance(rec.get("oid"), str):
            line = fastjson.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            out[(rec["ref"], rec["oid"])] = line
    return out


def read(repo: Repo, commit: str | None) -> set[tuple[str, str]]:
    """The (ref, oid) pairs the tombstones at ``commit`` say were deleted on purpose."""
    return set(_lines(repo, commit))


def _fresh(lines: Iterable[str], now: float) -> list[str]:
    low = _iso(now - KEEP)
    keep = []
    for ln in lines:
        try:
            at = str(fastjson.loads(ln).get("at") or "")
        except (ValueError, AttributeError):
            continue
        if at >= low:
            keep.append(ln)
    return sorted(set(keep))


def _write(repo: Repo, lines: list[str], parents: list[str], message: str) -> str:
    from flowergit.gitio import writes

    w = writes.Writer(repo)
    blob = w.add("blob", ("\n".join(lines) + "\n").encode("utf-8") if lines else b"")
    tree = w.add("tree", objects.format_tree([objects.Entry(objects.MODE_BLOB, FILE.encode(), blob)]))
    new = w.commit(tree, parents, message)
    w.flush()
    return new


def record(repo: Repo, deleted: Iterable[tuple[str, str]], why: str,
           now: float | None = None) -> list[refs.Op]:
    """The ref op that records ``deleted`` (ref, oid) pairs as tombstones: put it in the same
    transaction as the deletions (a compare-and-swap on the tombstones ref, so a concurrent
    writer makes the whole transaction fail rather than lose a tombstone)."""
    now = time.time() if now is None else now
    tip = refs.read(repo, TOMBS_REF)
    have = _lines(repo, tip)
    at = _iso(now)
    for ref, oid in deleted:
        rec = {"ref": ref, "oid": oid, "at": at, "why": why}
        have[(ref, oid)] = fastjson.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    lines = _fresh(have.values(), now)
    new = _write(repo, lines, [tip] if tip else [], f"tombstones: {why}\n")
    return [refs.update(TOMBS_REF, new, tip)]


def union(repo: Repo, lo: str | None, ro: str | None, now: float | None = None) -> str | None:
    """The tombstones commit that holds both ``lo``'s and ``ro``'s (parents: both tips), or the
    one that already does; None when both are None."""
    if lo is None or lo == ro:
        return ro
    if ro is None or is_ancestor(repo, ro, lo):
        return lo
    if is_ancestor(repo, lo, ro):
        return ro
    both = _lines(repo, lo)
    both.update(_lines(repo, ro))
    lines = _fresh(both.values(), time.time() if now is None else now)
    return _write(repo, lines, [lo, ro], "tombstones: union of two clones\n")
