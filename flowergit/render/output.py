"""Where output goes: the ``--json`` envelope on stdout, ``fatal:``/``hint:`` on stderr, and the
choice between rich tables (a TTY) and plain text (a pipe)."""

from __future__ import annotations

import os
import sys

from flowergit import fastjson
from flowergit.errors import FlowerError
from flowergit.render.text import escape, table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

# --color (auto|always|never) and --no-pager, given anywhere on the command line; set once by
# the entry point (flowergit.main)
COLOR = "auto"
NO_PAGER = False
# the terminal's width while a pager reads stdout (then stdout is a pipe, but what is written
# is shown on the terminal, so it is rendered for it); None when no pager runs
PAGER_WIDTH: int | None = None


def dumps(doc: Any) -> str:
    return fastjson.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)


def emit_json(data: Any) -> None:
    from flowergit.state.rawjson import RawJSON

    if isinstance(data, RawJSON):  # already serialised: splice it in untouched
        out = getattr(sys.stdout, "buffer", None)
        if out is None:  # a text-only stdout (captured in-process)
            sys.stdout.write('{"version":1,"ok":true,"data":' + data.text + "}\n")
            return
        sys.stdout.flush()
        out.write(b'{"version":1,"ok":true,"data":')
        for chunk in data.chunks():
            out.write(chunk)
        out.write(b"}\n")
        out.flush()
        return
    sys.stdout.write(dumps({"version": 1, "ok": True, "data": data}) + "\n")


def emit_json_items(items: Iterable[Any]) -> None:
    """The envelope of a JSON array written one item at a time (what :func:`emit_json` writes
    for the list of them, without the list: an import's 100,000 briefs)."""
    write = sys.stdout.write
    write('{"version":1,"ok":true,"data":[')
    sep = ""
    for item in items:
        write(sep + dumps(item))
        sep = ","
    write("]}\n")


def emit_error(err: FlowerError, json_mode: bool) -> None:
    if json_mode:
        sys.stdout.write(dumps({"version": 1, "ok": False, "error": err.to_json()}) + "\n")
    sys.stderr.write("fatal: " + escape(err.message) + "\n")
    if err.hint:
        sys.stderr.write("hint: " + escape(err.hint) + "\n")


def styled() -> bool:
    """Rich rendering only on a terminal, unless told otherwise (--color > NO_COLOR)."""
    if COLOR == "always":
        return True
    if COLOR == "never" or os.environ.get("NO_COLOR"):
        return False
    return (PAGER_WIDTH is not None or sys.stdout.isatty()) and os.environ.get("TERM") != "dumb"


def console_options() -> dict[str, Any]:
    """What a rich Console for stdout needs to know that it cannot see: forced colour, and the
    terminal's width while a pager reads the output."""
    if PAGER_WIDTH is not None:
        return {"force_terminal": True, "width": PAGER_WIDTH}
    return {"force_terminal": True if COLOR == "always" else None}


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str | None = None,
                styles: Sequence[str | None] | None = None) -> None:
    if not styled():
        if title:
            sys.stdout.write(escape(title) + "\n")
        sys.stdout.write(table(headers, rows))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, header_style="bold", show_edge=False, pad_edge=False)
    for h in headers:
        t.add_column(h, overflow="fold")
    for i, r in enumerate(rows):
        style = styles[i] if styles else None
        t.add_row(*(Text(escape(c)) for c in r), style=style)
    Console(highlight=False, **console_options()).print(t)


def line(text: str = "") -> None:
    sys.stdout.write(escape(text) + "\n")


def info(text: str) -> None:
    """A progress or log line (stderr, never mixed with data)."""
    sys.stderr.write(escape(text) + "\n")
