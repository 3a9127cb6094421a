"""`git flower watch` on a terminal: an interactive view of the fleet, built on Textual.

What needs you leads (the same items as `status`), then one row per dispatch, never wrapped:
each cell is cut to its column, and the columns fit the terminal (80 columns show the id, state,
title, agent, elapsed, commits and files; wider ones add the last activity). The keys act on the
selected attempt: ``enter``/``l`` its log, ``a`` attach to its terminal, ``s`` send it a line,
``x`` stop it, ``d`` its diff, ``m`` merge it (after a confirmation), ``r`` refresh, ``q`` quit.
Each frame is read in a worker thread, so keys are answered while git works; the screen is
Textual's, so what is typed never lands on it. When an attempt ends or starts waiting the
terminal rings (``flower.watchAlert``).

Only `watch` imports this module (and so Textual); piped, `watch` prints as before.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, RichLog, Static

from flowergit.errors import FlowerError
from flowergit.ops.context import Ctx
from flowergit.render.attention import items as attention_items
from flowergit.render.cells import state_style, state_text
from flowergit.render.text import escape, human_duration
from flowergit.render.watch import activity, split_rows

MAX_ATTENTION = 5  # lines of "needs you" before "… N more"
LOG_LINES = 2000  # the end of a log the log view shows


def cut(text: object, width: int) -> str:
    """``text`` on one line, at most ``width`` cells (``…`` marks a cut)."""
    s = escape(text).replace("\t", " ")
    if width <= 0:
        return ""
    return s if len(s) <= width else s[:max(0, width - 1)] + "…"


def columns(width: int) -> list[tuple[str, str, int]]:
    """(label, key, width) of each column for a terminal ``width`` cells wide: fixed columns,
    the title taking what is left; the last activity too from 120 cells on."""
    fixed = [("ID", "id", 7), ("STATE", "state", 13), ("AGENT", "agent", 8),
             ("ELAPSED", "elapsed", 7), ("AHEAD", "ahead", 5), ("FILES", "files", 5)]
    pad = 2  # a DataTable cell's padding
    used = sum(w + pad for _, _, w in fixed) + 2  # and the scrollbar's room
    rest = max(10, width - used - pad)
    if width >= 120:
        title = max(20, rest // 2)
        return [*fixed[:2], ("TITLE", "title", title), *fixed[2:],
                ("LAST ACTIVITY", "activity", max(10, rest - title - pad))]
    return [*fixed[:2], ("TITLE", "title", rest), *fixed[2:]]


def cells(r: dict[str, Any]) -> dict[str, str]:
    return {"id": str(r.get("id")), "state": state_text(r), "title": str(r.get("title") or ""),
            "agent": str(r.get("agent") or ""), "elapsed": human_duration(r.get("elapsed")),
            "ahead": "" if r.get("ahead") is None else str(r.get("ahead")),
            "files": "" if r.get("files_changed") is None else str(r.get("files_changed")),
            "activity": activity(r)}


class Confirm(ModalScreen[bool]):
    """A yes/no question: ``y`` or ``enter`` says yes, ``n`` or ``escape`` no."""

    BINDINGS = [Binding("y,enter", "answer(True)", "yes"), Binding("n,escape", "answer(False)", "no")]
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Static { width: 70; max-width: 95%; border: thick $warning; padding: 1 2;
                       background: $panel; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{self.question}\n\n[y] yes   [n] no"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class Ask(ModalScreen["str | None"]):
    """One line of text (``escape`` gives up)."""

    BINDINGS = [Binding("escape", "give_up", "cancel")]
    DEFAULT_CSS = """
    Ask { align: center middle; }
    Ask > Vertical { width: 70; max-width: 95%; height: auto; border: thick $accent;
                     padding: 1 2; background: $panel; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question))
            yield Input(placeholder="text, then enter")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_give_up(self) -> None:
        self.dismiss(None)


class LogView(Screen[None]):
    """The end of an attempt's log, read again every refresh while it is shown."""

    BINDINGS = [Binding("q,escape", "app.pop_screen", "back"),
                Binding("r", "reload", "refresh")]

    def __init__(self, did: str, interval: float) -> None:
        super().__init__()
        self.did = did
        self.interval = interval
        self.size_seen = -1

    def compose(self) -> ComposeResult:
        yield Static(Text(f"log of {self.did}  (q: back)"), id="logtitle")
        yield RichLog(highlight=False, markup=False, wrap=False, max_lines=LOG_LINES, id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()
        self.set_interval(self.interval, self.action_reload)

    def action_reload(self) -> None:
        from flowergit.ops.dispatch import workers

        app = self.app
        assert isinstance(app, WatchApp)
        try:
            got = workers.logs(app.ctx(), self.did)
        except FlowerError as e:
            self.query_one("#log", RichLog).write(f"fatal: {e.message}")
            return
        text = got["text"]
        if len(text) == self.size_seen:
            return
        self.size_seen = len(text)
        log = self.query_one("#log", RichLog)
        log.clear()
        for line in text.splitlines()[-LOG_LINES:]:
            log.write(Text(escape(line), no_wrap=True, overflow="ellipsis"))


class WatchApp(App[int]):
    """The fleet, live; keys act on the selected attempt."""

    TITLE = "git flower watch"
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("enter,l", "log", "log"),
        Binding("a", "attach", "attach"),
        Binding("s", "send", "send"),
        Binding("x", "stop", "stop"),
        Binding("d", "diff", "diff"),
        Binding("m", "merge", "merge"),
        Binding("r", "refresh", "refresh"),
        Binding("j", "cursor(1)", show=False),
        Binding("k", "cursor(-1)", show=False),
    ]
    DEFAULT_CSS = """
    #attention { height: auto; max-height: 7; }
    #summary { height: 1; }
    #fleet { height: 1fr; }
    #more { height: 1; color: $text-muted; }
    """

    def __init__(self, cwd: str | None, *, interval: float, alert: str) -> None:
        super().__init__()
        self.cwd = cwd
        self.interval = interval
        self.alert = alert
        self.snap: dict[str, Any] | None = None
        self.rows: list[dict[str, Any]] = []
        self.marks: dict[str, tuple[Any, ...]] | None = None
        self.width_seen = 0
        self.more: list[str] = []  # the line under the rows, after the selection
        self.loading = False

    def ctx(self) -> Ctx:
        return Ctx(self.cwd, self.warn).load()

    def warn(self, text: str) -> None:
        """A warning of the layers below, as a notification (stderr would land on the screen)."""
        try:
            self.call_from_thread(self.notify, text, severity="warning")
        except RuntimeError:  # on the app's own thread
            self.notify(text, severity="warning")

    # -- the screen --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("reading …", id="attention")
        yield Static("", id="summary")
        table: DataTable[Text] = DataTable(id="fleet", cursor_type="row", zebra_stripes=False)
        yield table
        yield Static("", id="more")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#fleet", DataTable).focus()
        self.action_refresh()
        self.set_interval(self.interval, self.action_refresh)

    def on_resize(self) -> None:
        if self.snap is not None:
            self.show(self.snap)

    def action_refresh(self) -> None:
        if not self.loading:
            self.loading = True
            self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        from flowergit.ops import watch as ops_watch

        try:
            snap = ops_watch.snapshot(self.ctx())
        except FlowerError as e:
            self.call_from_thread(self.failed, e)
            return
        self.call_from_thread(self.arrived, snap)

    def failed(self, e: FlowerError) -> None:
        self.loading = False
        self.notify(e.message, severity="error")

    def arrived(self, snap: dict[str, Any]) -> None:
        from flowergit.ops.notify import events, message
        from flowergit.render.watch import alert

        self.loading = False
        self.marks, happened = events(self.marks, list(snap.get("ps") or []))
        for event, row in happened:
            if self.alert == "bell":
                self.bell()
            elif self.alert == "osc9":
                alert("osc9", message(event, row))
            self.notify(message(event, row), timeout=6)
        self.snap = snap
        self.show(snap)

    def show(self, snap: dict[str, Any]) -> None:
        width = self.size.width or 80
        s = snap.get("status") or {}
        need = attention_items(s)
        lines = Text(no_wrap=True, overflow="ellipsis")
        if need:
            lines.append("needs you\n", style="bold")
            for a in need[:MAX_ATTENTION]:
                lines.append(cut(f"  {a.get('text', '')}  → {a.get('command', '')}", width - 1)
                             + "\n")
            if len(need) > MAX_ATTENTION:
                lines.append(f"  … {len(need) - MAX_ATTENTION} more (git flower status)\n",
                             style="dim")
        else:
            lines.append("nothing needs you\n", style="dim")
        lines.rstrip()
        self.query_one("#attention", Static).update(lines)
        b = s.get("briefs") or {}
        parts = [f"{n} {k}" for k, n in (b.get("by_status") or {}).items() if n]
        queue = s.get("queue") or []
        summary = (f"briefs {b.get('total', 0)}" + (f" ({', '.join(parts)})" if parts else "")
                   + f"   workers {s.get('running', 0)}/{s.get('max_parallel', '?')}"
                   + f"   queue {len(queue)}")
        self.query_one("#summary", Static).update(Text(cut(summary, width - 1), style="bold"))
        rows, left_out = split_rows(snap, recent=50)
        self.fill(rows, width)
        table = self.query_one("#fleet", DataTable)
        hidden = max(0, len(rows) - max(0, table.size.height - 1))
        more = [] if rows else ["no dispatches (start one with `git flower dispatch N`)"]
        if hidden:
            more.append(f"{hidden} more row(s) below (↓)")
        if left_out:
            more.append(f"{left_out} more ended (git flower ps)")
        self.more = more
        self.show_more()

    def show_more(self) -> None:
        """The line under the rows: the selected attempt first (what a key will act on), then
        how many rows are hidden, or the keys."""
        sel = self.selected()
        parts = ([f"▸ {sel}"] if sel else []) + (
            self.more or ["↑↓ select   enter log   m merge   q quit"])
        self.query_one("#more", Static).update(Text(cut("   ".join(parts), (self.size.width or 80) - 1)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_more()

    def fill(self, rows: list[dict[str, Any]], width: int) -> None:
        table: DataTable[Text] = self.query_one("#fleet", DataTable)
        keep = self.selected()
        cols = columns(width)
        if width != self.width_seen or len(table.columns) != len(cols):
            table.clear(columns=True)
            for label, key, w in cols:
                table.add_column(label, key=key, width=w)
            self.width_seen = width
        else:
            table.clear()
        self.rows = rows
        for r in rows:
            c = cells(r)
            style = state_style(r) or ""
            table.add_row(*(Text(cut(c[key], w), style=style if key == "state" else "",
                                 no_wrap=True, overflow="ellipsis") for _, key, w in cols),
                          key=str(r.get("id")))
        if keep is not None:
            for i, r in enumerate(rows):
                if str(r.get("id")) == keep:
                    table.move_cursor(row=i)
                    break

    # -- acting on the selected attempt -----------------------------------------------------
    def selected(self) -> str | None:
        table = self.query_one("#fleet", DataTable)
        if not self.rows or table.cursor_row is None or table.row_count == 0:
            return None
        i = min(max(0, table.cursor_row), len(self.rows) - 1)
        return str(self.rows[i].get("id"))

    def need(self) -> str | None:
        did = self.selected()
        if did is None:
            self.notify("no attempt selected", severity="warning")
        return did

    def action_cursor(self, step: int) -> None:
        table = self.query_one("#fleet", DataTable)
        if table.row_count:
            table.move_cursor(row=min(max(0, table.cursor_row + step), table.row_count - 1))

    def action_log(self) -> None:
        did = self.need()
        if did is not None:
            self.push_screen(LogView(did, self.interval))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_log()

    def action_attach(self) -> None:
        from flowergit.ops.dispatch import workers

        did = self.need()
        if did is None:
            return
        try:
            argv = workers.attach_argv(self.ctx(), did)
        except FlowerError as e:
            self.notify(e.message + (f" ({e.hint})" if e.hint else ""), severity="warning")
            return
        import subprocess

        with self.suspend():
            subprocess.call(argv)
        self.action_refresh()

    def action_diff(self) -> None:
        from flowergit.ops.dispatch import attemptdiff

        did = self.need()
        if did is None:
            return
        try:
            ctx = self.ctx()
            got = attemptdiff.change(ctx, did)
        except FlowerError as e:
            self.notify(e.message, severity="warning")
            return
        with self.suspend():
            attemptdiff.show_change(ctx, got, stat=False, paths=[], pager=True, color=None)

    def action_send(self) -> None:
        did = self.need()
        if did is None:
            return

        def send(text: str | None) -> None:
            if text is None:
                return
            from flowergit.ops.dispatch import workers

            try:
                workers.send(self.ctx(), did, text, enter=True)
            except FlowerError as e:
                self.notify(e.message + (f" ({e.hint})" if e.hint else ""), severity="warning")
                return
            self.notify(f"sent to {did}")

        self.push_screen(Ask(f"Type a line for {did} (enter sends it with Enter):"), send)

    def action_stop(self) -> None:
        did = self.need()
        if did is None:
            return

        def stop(yes: bool | None) -> None:
            if yes:
                self.act(f"stopping {did}", "stop", did)

        self.push_screen(Confirm(f"Stop {did}? Its agent's whole process group ends."), stop)

    def action_merge(self) -> None:
        did = self.need()
        if did is None:
            return
        brief = did.split(".")[0]
        target = self.snap_target()
        row = next((r for r in self.rows if str(r.get("id")) == did), {})
        if row.get("outcome") == "merged" or row.get("state") == "merged":
            self.notify(f"{did} is merged already", severity="warning")
            return

        def merge(yes: bool | None) -> None:
            if yes:
                self.act(f"merging brief {brief} (the suite runs first)", "merge", brief)

        self.push_screen(Confirm(f"Merge brief {brief} ({did}) into {target}? The suite runs "
                                 "first; nothing lands if it is red."), merge)

    def snap_target(self) -> str:
        for r in self.rows:
            if r.get("target"):
                return str(r["target"])
        return "the target branch"

    @work(thread=True, group="act")
    def act(self, doing: str, what: str, target: str) -> None:
        from flowergit.ops.dispatch import workers
        from flowergit.ops.merge import merge
        from flowergit.ops.merge.suite import failing_text
        from flowergit.state.ids import brief_id

        self.call_from_thread(self.notify, doing + " …")
        try:
            ctx = self.ctx()
            if what == "merge":
                res = merge(ctx, brief_id(target))
                said = (f"merged brief {target} into {res.get('into')}"
                        if res.get("status") == "merged" else f"brief {target}: {res.get('status')}")
            else:
                workers.stop(ctx, target)
                said = f"stopped {target}"
        except FlowerError as e:
            text = e.message
            if what == "merge" and isinstance(e.data, dict):
                failing = failing_text(e.data.get("suite") or {})
                text = f"brief {target} not merged: " + (failing or e.message)
            self.call_from_thread(self.notify, text, severity="error", timeout=15)
        else:
            self.call_from_thread(self.notify, said, timeout=8)
        self.call_from_thread(self.action_refresh)


def run(ctx: Ctx, *, interval: float, alert: str) -> int:
    """Run the interactive watch until ``q``; its exit code."""
    app = WatchApp(ctx.cwd, interval=interval, alert=alert)
    rc = app.run()
    return int(rc or 0)
