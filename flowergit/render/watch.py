"""Live views: the status dashboard (`status` on a terminal, `watch`), and progress bars.

On a terminal the dashboard is rich: briefs by status, one row per dispatch coloured by state,
elapsed time in human form, commits ahead, files changed and the last activity. Piped, it is
plain text with nothing truncated and control characters escaped. Progress bars go to stderr,
only on a terminal, and vanish when done (``transient``); piped, a long step prints nothing but
its result.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from flowergit.render import output
from flowergit.render.text import escape, human_duration, table
from flowergit.render.cells import last_activity, model_cell, state_style, state_text, usage_cell

STATE_STYLE = {"running": "bold yellow", "waiting": "bold magenta", "queued": "cyan",
               "preparing": "cyan", "exited": "green", "stopped": "magenta", "lost": "bold red",
               "missing": "red", "failed": "bold red",
               "merged": "bold green", "released": "dim"}
BRIEF_STYLE = {"draft": "dim", "planned": "cyan", "dispatched": "yellow", "done": "green",
               "merged": "bold green", "blocked": "red", "abandoned": "dim"}
LIVE = ("preparing", "queued", "running", "waiting")


def _state_text(r: dict[str, Any]) -> str:
    return state_text(r)


def activity(r: dict[str, Any]) -> str:
    w = r.get("waiting")
    if isinstance(w, dict):  # a question waits for an answer: `git flower send` gives it
        return f"waiting: {w.get('prompt', '')}"
    return last_activity(r) or str(r.get("last_commit") or "")


def rows_of(snap: dict[str, Any], recent: int = 10) -> list[dict[str, Any]]:
    """Dispatches to show: every live one, every ended one that waits for its person (finished
    and not merged, failed, empty), then the most recent others, up to ``recent`` ended rows in
    all (the ones that wait are never left out)."""
    return split_rows(snap, recent)[0]


def split_rows(snap: dict[str, Any], recent: int = 10) -> tuple[list[dict[str, Any]], int]:
    """(the rows to show, how many ended rows were left out)."""
    ps = list(snap.get("ps") or [])
    live = [r for r in ps if r.get("state") in LIVE or r.get("state") == "lost"]
    waiting = {str(r.get("id")) for r in (snap.get("status") or {}).get("ended") or []}
    ended = [r for r in ps if r not in live]
    ended.sort(key=lambda r: str(r.get("ended_at") or r.get("started_at") or ""), reverse=True)
    keep = [r for r in ended if str(r.get("id")) in waiting]
    rest = [r for r in ended if str(r.get("id")) not in waiting]
    room = max(0, recent - len(keep))
    shown = {id(r) for r in keep + rest[:room]}
    return live + [r for r in ended if id(r) in shown], max(0, len(rest) - room)


COLUMNS = ["ID", "STATE", "AGENT", "MODEL", "ELAPSED", "AHEAD", "FILES", "TOKENS/COST",
           "LAST ACTIVITY", "TITLE"]


def _cells(r: dict[str, Any]) -> list[str]:
    return [str(r.get("id")), _state_text(r), str(r.get("agent") or ""), model_cell(r),
            human_duration(r.get("elapsed")), str(r.get("ahead", "") if r.get("ahead") is not None else ""),
            str(r.get("files_changed", "") if r.get("files_changed") is not None else ""),
            usage_cell(r), activity(r), str(r.get("title") or "")]


def _brief_line(s: dict[str, Any]) -> str:
    b = s.get("briefs") or {}
    parts = [f"{n} {k}" for k, n in (b.get("by_status") or {}).items() if n]
    return f"briefs: {b.get('total', 0)}" + (f" ({', '.join(parts)})" if parts else "")


def orchestrator_line(o: dict[str, Any]) -> str:
    """``orchestrator: daemon 2 (claude), epoch 2, 7 turn(s), context 41% of 200000, last
    succession 1 → 2 at …`` for a driven orchestrator on this machine."""
    text = f"orchestrator: daemon {o.get('daemon')} ({o.get('agent')}), epoch {o.get('epoch')}"
    if not o.get("running"):
        return text + ", its process is gone (`git flower run --agent NAME` takes over)"
    text += f", {o.get('turns', 0)} turn(s)" + (", in a turn" if o.get("state") == "turn" else "")
    fill = o.get("fill")
    if isinstance(fill, (int, float)):
        text += f", context {fill:.0%} of {o.get('window')} (hand-off at {o.get('reset_at', 0):.0%})"
    else:
        text += ", context unknown"
    last = (o.get("successions") or [None])[-1]
    if isinstance(last, dict):
        text += f", last succession {last.get('from')} → {last.get('to')} at {last.get('at')}"
    return text


def plain(snap: dict[str, Any]) -> str:
    """The dashboard as plain text (a pipe, a log, `watch` without a terminal)."""
    from flowergit.render.attention import lines as attention

    s = snap.get("status") or {}
    lines = attention(s) + [_brief_line(s),
             f"workers: {s.get('running', 0)} running of max_parallel {s.get('max_parallel', '?')}"]
    lines += [orchestrator_line(o) for o in s.get("orchestrators") or []]
    queue = s.get("queue") or []
    lines.append(f"queue: {len(queue)}" + (": " + " ".join(str(q.get('id')) for q in queue)
                                           if queue else ""))
    rows, more = split_rows(snap)
    out = "\n".join(escape(x) for x in lines) + "\n"
    if rows:
        out += table(COLUMNS, [_cells(r) for r in rows])
    if more:
        out += f"{more} more ended (`git flower ps` lists them all)\n"
    return out


def renderable(snap: dict[str, Any], *, title: str | None = None) -> Any:
    """The dashboard as a rich renderable (terminal only)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from flowergit.render.attention import STYLE, items

    s = snap.get("status") or {}
    top: list[Any] = []  # one line each, cut rather than wrapped
    if title:
        top.append(Text(escape(title), style="bold", no_wrap=True, overflow="ellipsis"))
    need = items(s)
    if need:
        top.append(Text("needs you", style="bold"))
        for a in need:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append("  " + escape(a.get("text", "")), style=STYLE.get(str(a.get("kind")), ""))
            line.append("  → " + escape(a.get("command", "")), style="bold")
            top.append(line)
    else:
        top.append(Text("nothing needs you", style="dim"))
    head = Text()
    b = s.get("briefs") or {}
    head.append(f"briefs {b.get('total', 0)}", style="bold")
    for k, n in (b.get("by_status") or {}).items():
        if n:
            head.append("  ")
            head.append(f"{n} {k}", style=BRIEF_STYLE.get(k, ""))
    running, cap = s.get("running", 0), s.get("max_parallel", "?")
    head.append(f"\nworkers {running}/{cap} running", style="bold yellow" if running else "")
    queue = s.get("queue") or []
    head.append(f"   queue {len(queue)}", style="cyan" if queue else "")
    if queue:
        head.append(": " + " ".join(escape(q.get("id")) for q in queue), style="cyan")
    for o in s.get("orchestrators") or []:
        head.append("\n" + escape(orchestrator_line(o)), style="green" if o.get("running") else "red")
    rows, more = split_rows(snap)
    t = Table(show_edge=False, pad_edge=False, header_style="bold", expand=False)
    cells = [_cells(r) for r in rows]
    # a column nobody has a value for takes no room
    keep = [i for i, c in enumerate(COLUMNS)
            if c in ("ID", "STATE", "TITLE") or any(x[i] for x in cells)]
    cells = [[x[i] for i in keep] for x in cells]
    for i, c in enumerate([COLUMNS[k] for k in keep]):
        # ids and states are never cut: their columns are at least as wide as their longest
        # value; the others are cut with … rather than wrapped (a row is one line, at any width)
        whole = c in ("ID", "STATE", "ELAPSED", "TOKENS/COST")
        t.add_column(c, overflow="ellipsis", no_wrap=True,
                     min_width=max([len(c), *(len(x[i]) for x in cells)]) if whole else None,
                     justify="right" if c in ("AHEAD", "FILES", "ELAPSED", "TOKENS/COST")
                     else "left")
    for r, row in zip(rows, cells):
        t.add_row(*(Text(escape(c)) for c in row), style=state_style(r) or STATE_STYLE.get(str(r.get("state"))))
    if not rows:
        return Group(*top, head, Text("no dispatches (start one with `git flower dispatch N`)",
                                      style="dim"))
    if more:
        return Group(*top, head, t, Text(f"{more} more ended (`git flower ps` lists them all)",
                                         style="dim"))
    return Group(*top, head, t)


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    if stderr:
        force = True if output.COLOR == "always" else None
        return Console(stderr=True, force_terminal=force, highlight=False)
    return Console(highlight=False, **output.console_options())


def status(s: dict[str, Any], ps: Sequence[dict[str, Any]] | None = None) -> None:
    """Print the status once: rich on a terminal, plain text when piped."""
    snap = {"status": s, "ps": list(ps) if ps is not None else
            [dict(w) for w in (s.get("workers") or []) + (s.get("queue") or [])
             + (s.get("ended") or [])]}
    if output.styled():
        console().print(renderable(snap))
    else:
        sys.stdout.write(plain(snap))


# -- progress ------------------------------------------------------------------------------------
def interactive_stderr() -> bool:
    if output.COLOR == "never" or os.environ.get("TERM") == "dumb":
        return False
    return sys.stderr.isatty()


class _Progress:
    def __init__(self, bar: Any, task: Any) -> None:
        self._bar = bar
        self._task = task

    def advance(self, n: float = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def update(self, description: str | None = None, completed: float | None = None,
               total: float | None = None) -> None:
        if self._bar is not None:
            kw: dict[str, Any] = {}
            if description is not None:
                kw["description"] = escape(description)
            if completed is not None:
                kw["completed"] = completed
            if total is not None:
                kw["total"] = total
            self._bar.update(self._task, **kw)


@contextmanager
def progress(description: str, total: float | None = None) -> Iterator[_Progress]:
    """A transient progress bar (or spinner, without ``total``) on stderr, only on a terminal.

    ``with progress("running the suite") as p: ...; p.advance()``. Piped or under --json, it
    does nothing at all, so stdout and logs stay clean."""
    if not interactive_stderr():
        yield _Progress(None, None)
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    cols: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        cols += [BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f}")]
    cols.append(TimeElapsedColumn())
    with Progress(*cols, console=console(stderr=True), transient=True) as bar:
        task = bar.add_task(escape(description), total=total)
        yield _Progress(bar, task)


@contextmanager
def suite_progress(what: str) -> Iterator[Any]:
    """A live line on stderr while a suite runs (a terminal only; None otherwise): ``what``,
    the seconds so far, the estimate from the last run of the same command, and the suite's
    last line of output, cut to the terminal's width (never wrapped); gone when it ends."""
    if not interactive_stderr():
        yield None
        return
    from rich.live import Live
    from rich.text import Text

    con = console(stderr=True)
    live = Live(Text(""), console=con, transient=True, auto_refresh=False)
    started: list[bool] = []

    def update(seconds: float, estimate: float | None, last: str) -> None:
        if not started:
            live.start()
            started.append(True)
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(escape(what) + " ", style="bold")
        line.append(human_duration(seconds), style="yellow")
        if estimate:
            line.append(f" of ~{human_duration(estimate)}", style="dim")
            if seconds > estimate * 1.5 + 5:
                line.append(" (longer than last time)", style="magenta")
        if last:
            line.append("  │ " + escape(last), style="dim")
        line.truncate(max(10, con.width - 1), overflow="ellipsis")
        live.update(line, refresh=True)

    try:
        yield update
    finally:
        if started:
            live.stop()


ALERTS = ("bell", "osc9", "none")


def alert_mode(setting: str | None) -> str:
    """``git config flower.watchAlert``: ``bell`` (the default), ``osc9`` (a desktop
    notification where the terminal supports OSC 9: iTerm2, kitty, WezTerm, Windows Terminal)
    or ``none``."""
    got = (setting or "bell").strip().lower()
    return got if got in ALERTS else "bell"


def alert(how: str, text: str) -> None:
    """Ring the terminal (and with ``osc9`` post ``text`` as a notification), straight to the
    terminal so that no live view prints it as text."""
    if how == "none":
        return
    data = b"\a"
    if how == "osc9":
        clean = escape(text).replace("\x1b", "").replace("\x07", "")[:200]
        data = b"\x1b]9;" + clean.encode("utf-8", "replace") + b"\x07"
    try:
        sys.stdout.flush()
        os.write(sys.stdout.fileno(), data)
    except (OSError, ValueError):
        pass
