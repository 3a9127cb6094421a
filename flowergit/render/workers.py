"""Human renderings of dispatches and workers (plain when piped, rich tables on a TTY)."""

from __future__ import annotations

from flowergit.render import output
from flowergit.render.text import human_duration as duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

STATE_STYLE = {"running": "yellow", "waiting": "bold magenta", "queued": "cyan", "preparing": "cyan",
               "exited": None, "stopped": "magenta", "lost": "red", "missing": "red", "failed": "red",
               "merged": "green", "released": "dim", "corrupt": "bold red"}


OUTCOME_STYLE = {"done": "green", "no-changes": "yellow", "failed": "red", "timed-out": "red",
                 "stopped": "magenta", "lost": "bold red"}


def state_text(r: dict[str, Any]) -> str:
    """An ended attempt shows its outcome (``done``, ``no-changes``, ``failed (3)``, …): what
    it did, not only that its agent exited; a live one its state."""
    st = str(r.get("state"))
    out = r.get("outcome")
    code = r.get("exit_code")
    if out and st in ("exited", "stopped", "failed", "lost"):
        st = str(out)
    if code is not None and (code != 0 or st in ("exited", "missing")):
        st += f" ({code})"
    return st


def state_style(r: dict[str, Any]) -> str | None:
    out = r.get("outcome")
    if out and r.get("state") in ("exited", "stopped", "failed", "lost"):
        return OUTCOME_STYLE.get(str(out))
    return STATE_STYLE.get(str(r.get("state")))


_state = state_text


def _prompt(r: dict[str, Any]) -> str:
    """What a waiting agent asks (its prompt line), for the last-line column."""
    w = r.get("waiting")
    return f"waiting: {w.get('prompt', '')}" if isinstance(w, dict) else ""


def tokens(n: Any) -> str:
    """``950``, ``12.3k``, ``4.1M``."""
    n = n if isinstance(n, int) else 0
    if n < 1000:
        return str(n)
    if n < 999_950:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def cost(c: Any, source: Any = "reported") -> str:
    """``$0.04``, ``~$0.04`` (estimated), ``$0.004`` below a dime."""
    if not isinstance(c, (int, float)):
        return ""
    text = f"${c:.3f}" if c < 0.1 else f"${c:.2f}"
    return ("~" if source == "estimated" else "") + text


def usage_cell(r: dict[str, Any]) -> str:
    """The TOKENS/COST cell: tokens read and written, and what they cost (``12.3k  $0.04``)."""
    u = r.get("usage")
    if not isinstance(u, dict):
        return ""
    total = (u.get("input_tokens") or 0) + (u.get("output_tokens") or 0)
    c = cost(u.get("cost_usd"), u.get("cost_source"))
    return f"{tokens(total)}  {c}" if c else tokens(total)


def model_cell(r: dict[str, Any]) -> str:
    u = r.get("usage")
    return str(u.get("model") or "") if isinstance(u, dict) else ""


def last_activity(r: dict[str, Any]) -> str:
    """What the agent did last: its last tool call when its transcript tells, else the last
    line of its log."""
    u = r.get("usage")
    if isinstance(u, dict) and u.get("last_action"):
        return str(u["last_action"])
    return str(r.get("last_log") or "")


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


def ps(rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        output.info("no dispatches (start one with `git flower dispatch N`)")
        return
    table = [(r["id"], _state(r), r.get("agent") or "", model_cell(r), duration(r.get("elapsed")),
              r.get("ahead", 0), r.get("files_changed", 0), usage_cell(r),
              r.get("last_commit") or "", _prompt(r) or last_activity(r)) for r in rows]
    output.print_table(["ID", "STATE", "AGENT", "MODEL", "ELAPSED", "AHEAD", "FILES",
                        "TOKENS/COST", "LAST COMMIT", "LAST ACTIVITY"], table,
                       styles=[state_style(r) for r in rows])
    bad = [r for r in rows if r.get("state") == "corrupt"]
    if bad:
        output.info(f"hint: {len(bad)} dispatch ref(s) corrupt ({', '.join(str(r['ref']) for r in bad)}): "
                    "`git flower doctor --fix` moves them aside under refs/flower/lost/")


def status(s: dict[str, Any]) -> None:
    if output.styled():  # on a terminal: the same dashboard `git flower watch` keeps live
        from flowergit.render.watch import status as dashboard

        dashboard(s)
        _trust_wait(s)
        return
    by = s["briefs"]["by_status"]
    parts = [f"{n} {k}" for k, n in by.items() if n]
    output.line(f"briefs: {s['briefs']['total']}" + (f" ({', '.join(parts)})" if parts else ""))
    output.line(f"workers: {s['running']} running of max_parallel {s['max_parallel']}")
    if s["workers"]:
        output.print_table(["ID", "STATE", "AGENT", "ELAPSED", "TOKENS/COST", "TITLE"],
                           [(w["id"], w["state"], w["agent"] or "", duration(w["elapsed"]),
                             usage_cell(w), w.get("title") or "") for w in s["workers"]],
                           styles=[STATE_STYLE.get(str(w["state"])) for w in s["workers"]])
    output.line(f"queue: {len(s['queue'])}" + (": " + " ".join(q["id"] for q in s["queue"])
                                               if s["queue"] else ""))
    _trust_wait(s)


def _trust_wait(s: dict[str, Any]) -> None:
    waiting = s.get("trust_wait") or []
    if waiting:
        ids = " ".join(str(n) for n in waiting)
        output.line(f"{len(waiting)} brief(s) wait for trust: `git flower trust brief {ids}`")


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
