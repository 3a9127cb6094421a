"""Reconciling the notes (``refs/notes/flower``) with a remote: the union of both sides' JSON
lines, in a notes commit whose parents are both tips. Notes from a remote are capped in size
and read line by line: lines that are not JSON objects are dropped, with a warning.
"""

from __future__ import annotations

from flowergit import fastjson
from flowergit.gitio import changes, objects, refs, writes
from flowergit.gitio import remote as net
from flowergit.gitio.history import is_ancestor
from flowergit.gitio.repo import Repo
from flowergit.ops.context import Ctx
from flowergit.ops.sync.model import MAX_NOTE, MAX_NOTES, Report
from flowergit.state.layout import NOTES_REF


def _note_entries(repo: Repo, commit: str | None) -> dict[str, str]:
    """annotated object id -> note blob id (fan-out paths flattened)."""
    if commit is None:
        return {}
    out = {}
    for path, blob in changes.tree_blobs(repo, commit):
        key = path.replace("/", "")
        if len(key) == repo.hexlen and all(ch in "0123456789abcdef" for ch in key):
            out[key] = blob
        if len(out) > MAX_NOTES:
            break
    return out


def _fanout_tree(w: writes.Writer, notes: dict[str, str]) -> str:
    """The notes tree of ``oid -> blob`` in git's one-level fan-out (``ab/cdef…``), the layout
    ``state/notes`` writes, so later appends rewrite one small subtree."""
    subs: dict[str, list[objects.Entry]] = {}
    for k, v in notes.items():
        subs.setdefault(k[:2], []).append(objects.Entry(objects.MODE_BLOB, k[2:].encode(), v))
    root = [objects.Entry(objects.MODE_TREE, d.encode(), w.add("tree", objects.format_tree(es)))
            for d, es in subs.items()]
    return w.add("tree", objects.format_tree(root))


def _canonical(line: str) -> str:
    """One JSON object per line, keys sorted, no spaces: equal records compare equal."""
    try:
        rec = fastjson.loads(line)
    except ValueError:
        return line.rstrip("\r")
    if not isinstance(rec, dict):
        return line.rstrip("\r")
    return fastjson.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _valid_lines(data: bytes) -> tuple[list[str], int]:
    """The JSON-object lines of a note, and how many lines were not."""
    good, bad = [], 0
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], 1
    for ln in text.split("\n"):
        s = ln.strip()
        if not s:
            continue
        try:
            rec = fastjson.loads(s)
        except ValueError:
            bad += 1
            continue
        if isinstance(rec, dict):
            good.append(fastjson.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
        else:
            bad += 1
    return good, bad


def reconcile_notes(ctx: Ctx, remote: str, ro: str | None, report: Report) -> net.Update | None:
    """Bring the local notes and the remote's (at ``ro``) together: the push, or None."""
    repo = ctx.repo
    lo = refs.read(repo, NOTES_REF)
    if lo == ro or (lo is None and ro is None):
        return None
    if ro is None:
        report.notes = {"action": "published"}
        return net.Update(NOTES_REF, lo, None)
    if lo is not None and is_ancestor(repo, ro, lo):
        report.notes = {"action": "published"}
        return net.Update(NOTES_REF, lo, ro)
    ours, theirs = _note_entries(repo, lo), _note_entries(repo, ro)
    todo = [k for k, blob in theirs.items() if ours.get(k) != blob]
    sizes = changes.object_sizes(repo, sorted({theirs[k] for k in todo}))
    merged = dict(ours)
    readable = [k for k in todo if sizes.get(theirs[k], MAX_NOTE + 1) <= MAX_NOTE]
    for k in todo:
        if k not in readable:
            report.warn(f"skipped the note on {k[:12]} from {remote}: "
                        f"{sizes.get(theirs[k], 0)} bytes is over the {MAX_NOTE}-byte cap")
    w = writes.Writer(repo)
    with objects.Batch(repo) as batch:
        blobs = batch.get_many([theirs[k] for k in readable]
                               + [ours[k] for k in readable if k in ours])
    theirs_data = {k: blobs[i] for i, k in enumerate(readable)}
    ours_keys = [k for k in readable if k in ours]
    ours_data = {k: blobs[len(readable) + i] for i, k in enumerate(ours_keys)}
    for k in readable:
        got = theirs_data[k]
        good, bad = _valid_lines(got[2] if got else b"")
        if bad:
            report.warn(f"skipped {bad} line(s) of the note on {k[:12]} from {remote}: not JSON objects")
        if k in ours:
            got_ours = ours_data.get(k)
            mine = got_ours[2] if got_ours else b""
            lines = [_canonical(ln) for ln in mine.decode("utf-8", "replace").split("\n") if ln.strip()]
            union = sorted(set(lines) | set(good))
            if set(union) == set(lines):
                continue  # ours already holds every record
            if not bad and set(union) == set(good):
                merged[k] = theirs[k]  # theirs holds every record: take their blob as it is
                continue
        else:
            if not good:
                continue
            if not bad:
                merged[k] = theirs[k]
                continue
            union = sorted(set(good))
        merged[k] = w.add("blob", ("\n".join(union) + "\n").encode("utf-8"))
    if merged == theirs and (lo is None or is_ancestor(repo, lo, ro)):
        refs.transaction(repo, [refs.update(NOTES_REF, ro, lo)], f"git flower sync {remote}: notes")
        report.notes = {"action": "fast-forward"}
        return None
    tree = _fanout_tree(w, merged)
    parents = [ro] if lo is None or is_ancestor(repo, lo, ro) else [lo, ro]
    new = w.commit(tree, parents, f"notes: union with {remote}\n")
    w.flush()
    refs.transaction(repo, [refs.update(NOTES_REF, new, lo)], f"git flower sync {remote}: notes")
    report.notes = {"action": "merged", "objects": len(merged)}
    return net.Update(NOTES_REF, new, ro)
