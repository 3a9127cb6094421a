"""Human renderings of dispatches and workers (plain when piped, rich tables on a TTY)."""

from __future__ import annotations

from flowergit.render import output
from flowergit.render.cells import (
    last_activity,
    model_cell,
    prompt_cell,
    state_style,
    usage_cell,
)
from flowergit.render.cells import state_text as _state
from flowergit.render.text import human_duration as duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

def dispatched(r: dict[str, Any]) -> None:
    did = r["id"]
    if r["state"] == "running":
        what = "agent started"
    elif r["state"] == "queued":
        pos = r.get("queue", []).index(did) + 1 if did in r.get("queue", []) else 0
        what = f"queued ({pos} in line; max_parallel = {r.get('cap')})"
    else:
        what = str(r["state"])
    output.line(f"dispatch {did}: {r['agent']} on {r['branch']}: {what}")
    output.info(f"worktree: {r['worktree']}")
    drift = r.get("drift")
    if drift:
        output.info(f"rework: the branch has {drift['ahead']} commit(s); {r.get('target')} has "
                    f"moved {drift['behind']} commit(s) since its base")
    output.info(f"follow it with `git flower logs {did} -f`; `git flower wait {r['brief']}`")


def ps_cells(r: dict[str, Any]) -> list[str]:
    """The cells of one `ps` row (what ``ops/dispatch/psview.py`` keeps for a settled one)."""
    return [str(c) for c in (
        r["id"], _state(r), r.get("title") or "", r.get("agent") or "", model_cell(r),
        duration(r.get("elapsed")), r.get("ahead", 0), r.get("files_changed", 0),
        usage_cell(r), r.get("last_commit") or "", prompt_cell(r) or last_activity(r))]


def ps(rows: Sequence[dict[str, Any]]) -> None:
    """The `ps` table: a row's cells are made here, or were kept from an earlier run (a row
    with ``view``: its cells and ``style``)."""
    if not rows:
        output.info("no dispatches (start one with `git flower dispatch N`)")
        return
    table = [r["view"] if "view" in r else ps_cells(r) for r in rows]
    output.print_table(["ID", "STATE", "TITLE", "AGENT", "MODEL", "ELAPSED", "AHEAD", "FILES",
                        "TOKENS/COST", "LAST COMMIT", "LAST ACTIVITY"], table,
                       styles=[r["style"] if "view" in r else state_style(r) for r in rows])
    bad = [r for r in rows if r.get("state") == "corrupt"]
    if bad:
        output.info(f"hint: {len(bad)} dispatch ref(s) corrupt ({', '.join(str(r['ref']) for r in bad)}): "
                    "`git flower doctor --fix` moves them aside under refs/flower/lost/")


def status(s: dict[str, Any]) -> None:
    if output.styled():  # on a terminal: the same dashboard `git flower watch` keeps live
        from flowergit.render.watch import status as dashboard

        dashboard(s)
        return
    from flowergit.render.attention import lines

    for ln in lines(s):
        output.line(ln)
    by = s["briefs"]["by_status"]
    parts = [f"{n} {k}" for k, n in by.items() if n]
    output.line(f"briefs: {s['briefs']['total']}" + (f" ({', '.join(parts)})" if parts else ""))
    output.line(f"workers: {s['running']} running of max_parallel {s['max_parallel']}")
    if s.get("orchestrators"):
        from flowergit.render.watch import orchestrator_line

        for o in s["orchestrators"]:
            output.line(orchestrator_line(o))
    rows = list(s["workers"]) + list(s.get("ended") or [])
    if rows:
        output.print_table(["ID", "STATE", "AGENT", "ELAPSED", "TOKENS/COST", "TITLE"],
                           [(w["id"], _state(w), w["agent"] or "", duration(w["elapsed"]),
                             usage_cell(w), w.get("title") or "") for w in rows],
                           styles=[state_style(w) for w in rows])
    output.line(f"queue: {len(s['queue'])}" + (": " + " ".join(
        f"{q['id']} (#{q.get('position', i + 1)})" for i, q in enumerate(s["queue"]))
        if s["queue"] else ""))


def waited(rows: Sequence[dict[str, Any]]) -> None:
    for r in rows:
        code = r.get("exit_code")
        output.line(f"{r['id']}: {r['state']}" + (f", exit {code}" if code is not None else "")
                    + (f" ({r['signal']})" if r.get("signal") else ""))


def stopped(r: dict[str, Any]) -> None:
    output.line(f"dispatch {r['id']}: stopped" + (f" (exit {r['exit_code']})"
                                                   if r.get("exit_code") is not None else ""))


def reported(r: dict[str, Any]) -> None:
    output.line(f"dispatch {r['id']}: reported {r.get('reported')}")


def cleaned(rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        output.info("nothing to clean")
        return
    for r in rows:
        if r["removed"]:
            output.line(f"cleaned {r['id']}: removed {r.get('worktree') or '-'} and {r['branch']}")
        else:
            output.line(f"kept {r['id']}: {r.get('reason')}")


def log_text(d: dict[str, Any]) -> None:
    import sys

    from flowergit.render.text import escape

    text = d["text"]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    sys.stdout.write("".join(escape(ln) + "\n" for ln in lines))
