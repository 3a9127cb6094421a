"""The hand-off scratchpad: ``handoff/<lane>.md`` on ``flower/briefs``, with its history.

The holder writes what a successor must know first (roster, decisions, open signals, degraded
modes); the successor reads it before it reports ready. ``reset handoff`` records the exact
version it handed over (the blob id) in the baton commit.
"""

from __future__ import annotations

from typing import Any

from flowergit.errors import UsageError
from flowergit.gitio import history as ghistory
from flowergit.gitio import objects
from flowergit.ops.context import Ctx
from flowergit.state import baton as bstate
from flowergit.state.daemons import caller
from flowergit.state.layout import BRIEFS_REF, handoff_path

MAX_SCRATCHPAD = 1024 * 1024


def read_input(path: str | None, text: str | None) -> bytes:
    from flowergit.ops.userinput import read_source

    data = read_source(path, text, MAX_SCRATCHPAD)
    if len(data) > MAX_SCRATCHPAD:
        raise UsageError(f"the scratchpad is larger than {MAX_SCRATCHPAD} bytes",
                         "keep it to what a successor must read first")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the scratchpad is not UTF-8 text") from None
    if data and not data.endswith(b"\n"):
        data += b"\n"
    return data


def write(ctx: Ctx, *, lane: str | None = None, path: str | None = None, text: str | None = None,
          daemon: str | None = None) -> dict[str, Any]:
    ln = bstate.lane_name(lane)
    data = read_input(path, text)
    who = caller(daemon)
    msg = f"handoff {ln}: scratchpad" + (f" by daemon {who}" if who else "")
    store = ctx.briefs()
    commit = store.put_file(handoff_path(ln), data, msg)
    return {"lane": ln, "path": handoff_path(ln), "commit": commit, "bytes": len(data),
            "blob": objects.object_id(ctx.repo, "blob", data)}


def show(ctx: Ctx, *, lane: str | None = None, history: bool = False) -> dict[str, Any]:
    ln = bstate.lane_name(lane)
    store = ctx.briefs()
    store.require_tip()
    data = store.read_file(handoff_path(ln))
    out: dict[str, Any] = {"lane": ln, "path": handoff_path(ln),
                           "text": data.decode("utf-8", "replace") if data is not None else None}
    hist = [{"commit": h, "date": d, "subject": s}
            for h, _, d, s in ghistory.path_log(ctx.repo, BRIEFS_REF, handoff_path(ln))]
    out["history"] = hist if history else hist[:1]
    return out
