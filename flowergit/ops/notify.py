"""Telling the user when something needs them: a command of their own for every event.

``git config flower.notify '["notify-send", "git flower", "{message}"]'`` (a JSON list, as
``flower.agent.NAME.command``; personal, so no trust is needed) is run for every event:

==============  ====================================================================
``done``        an attempt finished with work to merge
``no-changes``  an attempt ended without changing anything
``failed``      an attempt failed (also ``timed-out``, ``stopped``, ``lost``)
``waiting``     an agent waits at a prompt for an answer (``git flower send``)
``merged``      the merge gate landed a brief
``red``         the suite refused a merge
==============  ====================================================================

Placeholders fill whole elements and are never re-parsed (no shell): ``{event}``, ``{id}``
(the dispatch, ``246.1``), ``{brief}``, ``{title}``, ``{message}`` (one line saying it all).
The command also gets ``FLOWER_EVENT``, ``FLOWER_DISPATCH``, ``FLOWER_BRIEF``, ``FLOWER_TITLE``
and ``FLOWER_MESSAGE`` in its environment, runs detached with no input, and is given a few
seconds; what it prints is dropped, and a command that fails never changes what happened.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from typing import Any

KEY = "flower.notify"
EVENTS = ("done", "no-changes", "failed", "timed-out", "stopped", "lost", "waiting", "merged",
          "red")
GRACE = 5.0  # seconds a notify command may take before it is left to finish on its own


def command(repo: Any) -> list[str] | None:
    """The user's notify command (``git config flower.notify``), or None (unset or not a JSON
    list of strings: a setting that does not parse notifies nobody, and breaks nothing)."""
    raw = repo.config_last(KEY.lower())
    if not raw:
        return None
    from flowergit import fastjson

    try:
        argv = fastjson.loads(raw)
    except ValueError:
        return None
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        return None
    return argv


def message(event: str, rec: Mapping[str, Any], detail: str = "") -> str:
    """``git flower: 246.1 done: Active refs rail`` and the like."""
    did = rec.get("brief") if event in ("merged", "red") else \
        rec.get("id") or rec.get("dispatch") or rec.get("brief")
    what = {"done": "finished, ready to merge", "no-changes": "ended with no changes",
            "failed": "failed", "timed-out": "timed out", "stopped": "was stopped",
            "lost": "was lost", "waiting": "waits for input", "merged": "merged",
            "red": "refused: the suite is red"}.get(event, event)
    head = f"git flower: {'brief ' if event in ('merged', 'red') else ''}{did} {what}"
    title = rec.get("title")
    text = head + (f": {title}" if title else "")
    return text + (f" ({detail})" if detail else "")


def notify(repo: Any, event: str, rec: Mapping[str, Any], detail: str = "") -> bool:
    """Run the user's notify command for ``event`` about ``rec`` (a dispatch record or a merge
    result); whether one ran. Never raises."""
    try:
        argv = command(repo)
        if argv is None:
            return False
        msg = message(event, rec, detail)
        did = str(rec.get("id") or rec.get("dispatch") or "")
        fill = {"{event}": event, "{id}": did, "{brief}": str(rec.get("brief") or ""),
                "{title}": str(rec.get("title") or ""), "{message}": msg}
        full = [fill.get(a, a) for a in argv]
        env = dict(os.environ)
        env.update(FLOWER_EVENT=event, FLOWER_DISPATCH=did, FLOWER_BRIEF=fill["{brief}"],
                   FLOWER_TITLE=fill["{title}"], FLOWER_MESSAGE=msg)
        p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            p.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            pass
        return True
    except Exception:  # noqa: BLE001 - a notification never changes what happened
        return False


def events(before: Mapping[str, tuple[Any, ...]] | None,
           rows: list[Mapping[str, Any]]) -> tuple[dict[str, tuple[Any, ...]],
                                                    list[tuple[str, Mapping[str, Any]]]]:
    """What happened between two looks at the dispatches (``git flower watch``): (the marks to
    compare the next look with, [(event, row)]) for each attempt that ended (its outcome) or
    began to wait at a prompt since ``before`` (None: the first look, which reports nothing)."""
    marks: dict[str, tuple[Any, ...]] = {}
    out: list[tuple[str, Mapping[str, Any]]] = []
    for r in rows:
        did = str(r.get("id"))
        waiting = r.get("waiting")
        prompt = waiting.get("prompt") if isinstance(waiting, dict) else None
        mark = (r.get("state"), r.get("outcome"), prompt)
        marks[did] = mark
        if before is None:
            continue
        old = before.get(did)
        if old == mark:
            continue
        if prompt and (old is None or old[2] != prompt):
            out.append(("waiting", r))
        elif r.get("outcome") and (old is None or old[1] != r.get("outcome")) and \
                r.get("state") not in ("running", "waiting", "queued", "preparing"):
            if old is not None or r.get("state") != "merged":
                out.append((str(r.get("outcome")), r))
    return marks, out
