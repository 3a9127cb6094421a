"""`ps`'s table, kept between runs for the attempts that can no longer change.

An attempt that ended (its record says so and when) is shown the same way every time, as long
as what its row reads besides its record stays the same: its branch's tip, whether its worktree
is there, its log and start spec on this machine. ``$GIT_COMMON_DIR/flower/cache/ps-view.json``
keeps, per record commit (content-addressed, so a record never changes under its key), the
cells `ps` printed for it and those inputs as they were; a run finds each attempt's cells there
while the inputs still match, and makes the others' rows from their records as `ps` does. A
thousand settled attempts: no record decoded, no row built.

Only the human table reads it (``--json``, ``--porcelain`` and ``--format`` print whole rows):
``{"v": 1, "host": H, "rows": {commit: {did, branch, worktree, inputs, brief, attempt,
record_state, state, outcome, cells, style}}}``. A cache made on another host (a copied
repository) is not used: a row names the host an attempt ran on when it is not this one.
"""

from __future__ import annotations

import os

from flowergit import fastjson
from flowergit.ops.context import Ctx
from flowergit.ops.dispatch import workers
from flowergit.ops.dispatch.liveness import LIVE_STATES
from flowergit.ops.dispatch.paths import present_files
from flowergit.ops.status import present_dirs
from flowergit.state import files
from flowergit.state.dispatches import DispatchStore
from flowergit.state.layout import dispatch_ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

VERSION = 1


def rows(ctx: Ctx, *, all_: bool = False) -> list[dict[str, Any]]:
    """`ps` rows for the human table: a settled attempt's as ``{id, brief, attempt, state,
    outcome, view: cells, style}`` from the cache when its inputs still match, every other
    one as :func:`workers.ps` makes it; in the same order, with the same ones left out."""
    from flowergit.procs import identity

    repo = ctx.repo
    path = repo.state_path("cache", "ps-view.json")
    listed, _ = DispatchStore(repo).list_tips()
    host = identity.host()
    kept = _load(path, host)
    tips = workers.branch_tips(repo) if listed else {}
    files = present_files(repo)
    dirs = present_dirs(e.get("worktree") for e in kept.values())
    got: dict[str, dict[str, Any]] = {}
    missing: list[tuple[str, str]] = []
    for name, oid in listed:
        e = kept.get(oid)
        if e is not None and e.get("inputs") == inputs(repo, e, tips, files,
                                                       e.get("worktree") in dirs):
            got[name] = e
        else:
            missing.append((name, oid))
    made: dict[str, dict[str, Any]] = {}
    if missing:
        from flowergit.render.cells import state_style
        from flowergit.render.workers import ps_cells

        oid_of = dict(missing)
        for r in workers.ps(ctx, all_=True, listed=missing, tips=tips, files=files):
            ref = str(r["ref"]) if r.get("state") == "corrupt" else \
                dispatch_ref(int(r["brief"]), int(r["attempt"]))
            made[ref] = r
            if not settled(r):
                continue
            e = {"did": r["id"], "branch": r.get("branch"), "worktree": r.get("worktree"),
                 "brief": r.get("brief"), "attempt": r.get("attempt"),
                 "record_state": r.get("record_state"), "state": r.get("state"),
                 "outcome": r.get("outcome"), "cells": ps_cells(r), "style": state_style(r)}
            e["inputs"] = inputs(repo, e, tips, files, bool(r.get("worktree_present")))
            kept[oid_of[ref]] = e
        current = {oid for _, oid in listed}
        _save(path, host, {k: v for k, v in kept.items() if k in current})
    out: list[dict[str, Any]] = []
    for name, _ in listed:
        if name in got:
            e = got[name]
            if all_ or e.get("record_state") != "released":
                out.append({"id": e["did"], "brief": e["brief"], "attempt": e["attempt"],
                            "state": e["state"], "outcome": e["outcome"], "view": e["cells"],
                            "style": e["style"]})
        elif name in made:
            r = made[name]
            if all_ or r.get("record_state") != "released" or r.get("state") == "corrupt":
                out.append(r)
    return sorted(out, key=lambda r: (int(r.get("brief") or 0), int(r.get("attempt") or 0)))


def settled(r: dict[str, Any]) -> bool:
    """Will this row read the same for as long as its inputs do? An attempt whose record says
    it ended, and when; never one the record calls live (whose shown state follows its
    processes: running, waiting, lost), nor a corrupt ref."""
    return (r.get("record_state") not in LIVE_STATES and r.get("state") not in LIVE_STATES
            and r.get("state") != "corrupt" and bool(r.get("ended_at"))
            and not r.get("waiting"))


def inputs(repo: Any, e: dict[str, Any], tips: dict[str, tuple[str, str]],
           files: tuple[set[str], set[str]], present: bool) -> str:
    """What a settled row reads besides its record, as one string: its branch's tip, whether
    its worktree is there (``present``), and the size and time of its log and start spec."""
    did = str(e.get("did"))
    tip = tips.get(f"refs/heads/{e.get('branch')}")
    return "|".join((tip[0] if tip else "-", "1" if present else "0",
                     _stat(repo, "logs", f"{did}.log", files[0]),
                     _stat(repo, "run", f"{did}.json", files[1])))


def _stat(repo: Any, where: str, name: str, present: set[str]) -> str:
    if name not in present:
        return "-"
    try:
        st = os.stat(repo.state_path(where, name))
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _load(path: str, host: str) -> dict[str, dict[str, Any]]:
    try:
        with open(path, "rb") as f:
            doc = fastjson.loads(f.read())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("v") != VERSION or doc.get("host") != host:
        return {}
    got = doc.get("rows")
    return {k: v for k, v in got.items() if isinstance(v, dict)} if isinstance(got, dict) else {}


def _save(path: str, host: str, kept: dict[str, dict[str, Any]]) -> None:
    """Written whole and renamed into place: a reader sees the old file or the new one."""
    try:
        text = fastjson.dumps({"v": VERSION, "host": host, "rows": kept}, ensure_ascii=False,
                              separators=(",", ":"))
        files.write_atomic(path, text, errors="surrogatepass")  # as loads reads it
    except (OSError, ValueError):  # a cache only: the next run makes the rows again
        pass
