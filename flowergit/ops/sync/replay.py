"""Re-applying local briefs commits onto the remote's tip, and merging one brief file.

Sync never merges state as text: each local commit the remote lacks is re-applied as per-file
operations on the remote tip (same author, same message). A brief's front matter is merged key
by key and its status never moves backwards. A brief id is never reassigned once published: a
brief created here under a number the remote already uses is renumbered only if it was never
published; if it was published here first (a remote that lost history took in another under its
number), the remote's brief moves instead (``Flower-Renumbered: <old> -> <new>`` in the
message either way).
"""

from __future__ import annotations

from typing import Any

from flowergit.gitio import objects, writes
from flowergit.gitio.changes import commits_between, file_changes
from flowergit.gitio.repo import Repo
from flowergit.ops.context import Ctx
from flowergit.ops.sync.ids import owner, reserve_ids
from flowergit.ops.sync.model import BRIEF_PATH, Report, read_head
from flowergit.state import brief as codec
from flowergit.state import tomlcodec
from flowergit.state.layout import brief_path, id_ref


def _front(data: bytes) -> dict[str, Any]:
    front, _ = codec.split(data)
    return tomlcodec.loads(front.decode("utf-8"))


CONFLICTS = "conflicts"  # the front-matter table where a same-field conflict is kept


def _shown(v: Any) -> Any:
    return "(unset)" if v is None else v


def merge_brief(base: bytes | None, ours: bytes, theirs: bytes,
                where: str) -> tuple[bytes, str | None, list[dict[str, Any]]]:
    """Re-apply our edit (base -> ours) to their version, key by key. Returns (bytes, warning,
    conflicts). A key both sides changed to different values is a conflict: ours is applied
    (the later writer), and both values are kept under ``[conflicts.KEY]`` in the front matter
    until `brief set` resolves it. The status keeps its order: a brief merged on one side is
    never moved off ``merged``, and a higher step of the order wins over a lower one."""
    if base is None:
        return ours, f"{where}: written on both sides; kept ours (theirs stays in history)", []
    try:
        b, o, t = _front(base), _front(ours), _front(theirs)
        bb, ob, tb = (codec.split(x)[1] for x in (base, ours, theirs))
    except (ValueError, UnicodeDecodeError, codec.BriefFormatError):
        return ours, f"{where}: could not merge key by key; kept ours (theirs stays in history)", []
    changes: dict[str, Any] = {}
    for k in set(b) | set(o):
        if k in ("v", "id", CONFLICTS):
            continue
        if b.get(k) != o.get(k):
            changes[k] = o.get(k, codec.DELETE)
    warnings: list[str] = []
    conflicts: list[dict[str, Any]] = []
    if "status" in changes and t.get("status") != b.get("status"):
        ours_s, theirs_s = o.get("status"), t.get("status")
        if ours_s == theirs_s:
            pass
        elif theirs_s == "merged" or (ours_s in codec.ORDER and theirs_s in codec.ORDER
                                      and codec.ORDER[theirs_s] > codec.ORDER[ours_s]):
            del changes["status"]  # status never moves backwards; merged is final
            warnings.append(f"{where}: status {ours_s} here, {theirs_s} on the other side: "
                            f"kept {theirs_s} (a status never moves backwards)")
        elif not (ours_s in codec.ORDER and theirs_s in codec.ORDER):
            conflicts.append({"key": "status", "ours": ours_s, "theirs": theirs_s})
    for k, v in list(changes.items()):
        if k == "status":
            continue
        if t.get(k) != b.get(k) and t.get(k) != o.get(k):
            conflicts.append({"key": k, "ours": o.get(k), "theirs": t.get(k)})
    if conflicts:
        table = dict(t.get(CONFLICTS) or {}) if isinstance(t.get(CONFLICTS), dict) else {}
        for c in conflicts:
            table[c["key"]] = {"ours": _shown(c["ours"]), "theirs": _shown(c["theirs"])}
        changes[CONFLICTS] = table
        keys = ", ".join(c["key"] for c in conflicts)
        warnings.append(f"{where}: {keys} changed on both sides; kept ours, both values are "
                        "in the brief's conflicts (`git flower brief show`; `brief set` "
                        "resolves)")
    body = None
    if ob != bb:
        if tb != bb and tb != ob:
            warnings.append(f"{where}: spec edited on both sides; kept ours (theirs stays in "
                            "history)")
        body = ob.decode("utf-8", "replace")
    warning = "; ".join(warnings) or None
    if not changes and body is None:
        return theirs, warning, conflicts
    return codec.rewrite(theirs, changes, body), warning, conflicts


def published_here(repo: Repo, n: int, me: str) -> bool:
    """Whether brief id ``n`` was published from this clone: a remote accepted this clone's id
    claim for it (the local ``refs/flower/ids/<n>`` is only written once one did)."""
    head = read_head(repo, id_ref(n))
    return head is not None and head.record.get("clone") == me


def _title(data: bytes | None) -> str:
    try:
        return str(_front(data or b"").get("title") or "")
    except (ValueError, UnicodeDecodeError, codec.BriefFormatError):
        return ""


def replay(ctx: Ctx, remote: str, lo: str, ro: str, state: dict[str, str], me: str,
           report: Report) -> tuple[str, int]:
    """Re-apply each local commit the remote lacks, as per-file operations, on top of ``ro``.
    A brief created here under a number the remote uses for another is renumbered if it was
    never published; one that was published here first keeps its number, and the remote's
    brief moves instead (both reported in ``report.renumbered`` with ``which``)."""
    repo = ctx.repo
    store = ctx.briefs()
    tip = ro
    replayed = 0
    renum: dict[int, int] = {}
    for c in commits_between(repo, lo, ro):
        touched = file_changes(repo, c.parent, c.oid)
        writer = writes.Writer(repo)
        edits: dict[str, tuple[bytes, str] | None] = {}
        notes: list[str] = []
        with objects.Batch(repo) as batch:
            for path, new in touched:
                m = BRIEF_PATH.fullmatch(path)
                old_id = int(m[1]) if m else None
                base_got = batch.get(f"{c.parent}:{path}") if c.parent else None
                base = base_got[2] if base_got and base_got[1] == "blob" else None
                ours_got = batch.get(new) if new else None
                ours = ours_got[2] if ours_got else None
                target = path
                if old_id is not None and old_id in renum:
                    target = brief_path(renum[old_id])
                    if ours is not None:
                        ours = codec.rewrite(ours, {"id": renum[old_id]})
                theirs_got = batch.get(f"{tip}:{target}")
                theirs = theirs_got[2] if theirs_got and theirs_got[1] == "blob" else None
                if ours is None:  # a delete
                    if theirs is not None and theirs == base:
                        edits[target] = None
                    elif theirs is not None:
                        report.warn(f"{path}: deleted here but changed on {remote}; kept theirs")
                    continue
                if theirs == ours:
                    continue
                if base is None and old_id is not None and old_id not in renum:
                    holder = owner(repo, remote, state, old_id)
                    if theirs is not None and published_here(repo, old_id, me):
                        # ours was published first (a remote accepted its id claim): the id
                        # stays; the brief the remote took in while it lacked history moves
                        with objects.Batch(repo) as b2:
                            floor = max(store.max_id(tip, b2), max(renum.values(), default=0)) + 1
                        n = reserve_ids(ctx, remote, floor)
                        edits[brief_path(n)] = (objects.MODE_BLOB,
                                                writer.add("blob", codec.rewrite(theirs, {"id": n})))
                        why = (f"brief {old_id} was published from this clone first; {remote} "
                               "took in another under its id while it lacked that history")
                        report.renumbered.append({"was": old_id, "now": n, "which": "theirs",
                                                  "title": _title(theirs), "why": why})
                        report.warn(f"{remote}'s brief {old_id} ({_title(theirs)!r}) was renumbered "
                                    f"to {n}: {why}")
                        notes.append(f"Flower-Renumbered: {old_id} -> {n} ({remote}'s)")
                        theirs = None
                    elif theirs is not None or (holder is not None and holder != me):
                        with objects.Batch(repo) as b2:
                            floor = max(store.max_id(tip, b2), max(renum.values(), default=0)) + 1
                        n = reserve_ids(ctx, remote, floor)
                        renum[old_id] = n
                        target = brief_path(n)
                        ours = codec.rewrite(ours, {"id": n})
                        entry = {"was": old_id, "now": n, "which": "ours", "title": _title(ours),
                                 "why": f"{remote} already has a brief {old_id}"}
                        report.renumbered.append(entry)
                        report.warn(f"brief {old_id} (created here, never published) was renumbered "
                                    f"to {n}: {remote} already has a brief {old_id}")
                        notes.append(f"Flower-Renumbered: {old_id} -> {n}")
                        theirs = None
                if theirs is None or theirs == base:
                    data = ours
                elif m:
                    data, w, found = merge_brief(base, ours, theirs, path)
                    if w:
                        report.warn(w)
                    for f in found:
                        report.conflicts.append({"brief": int(m[1]), **f})
                else:
                    data = ours
                    report.warn(f"{path}: changed on both sides; kept ours (theirs stays in history)")
                if data == theirs:
                    continue
                edits[target] = (objects.MODE_BLOB, writer.add("blob", data))
            if not edits:
                continue
            base_tree = batch.get(f"{tip}^{{tree}}")
            tree = writes.edit_tree(batch, writer, base_tree[0] if base_tree else None, edits)
        writer.flush()
        msg = c.message + ("\n" + "\n".join(notes) + "\n" if notes else "")
        name, email, date = c.author
        tip = writes.commit(repo, tree, [tip], msg,
                             env={"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                                  "GIT_AUTHOR_DATE": date})
        replayed += 1
    return tip, replayed
