"""Shared by the typer commands and the fast path: output and reading a text argument."""

from __future__ import annotations

from flowergit.render import output

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any


def emit(data: Any, json_mode: bool, human: Callable[[Any], None] | None = None) -> int:
    """Print ``data`` as the JSON envelope or through ``human``; return exit 0."""
    if json_mode:
        output.emit_json(data)
    elif human is not None:
        human(data)
    return 0


def read_body(body_file: str | None, message: str | None, cap: int) -> bytes:
    """A brief's body from -m, --body-file (``-``: stdin), or nothing."""
    if body_file is None and message is None:
        return b""
    from flowergit.ops.userinput import read_source

    return read_source(body_file, message, cap, ("--body-file", "-m"))



def listing(ctx: Any, items: Any, *, json: bool, porcelain: bool, fmt: str | None,
            limit: int | None, fields: Sequence[str], human: Callable[[Any], None],
            known: Sequence[str] | None = None) -> int:
    """Print a list the way every list command does: ``--limit`` first N (the rest counted on
    stderr), then JSON, porcelain, a ``--format`` template or the human view, through the
    user's pager on a terminal."""
    from flowergit.errors import UsageError
    from flowergit.render.pager import paged

    if limit is not None:
        if limit < 0:
            raise UsageError(f"--limit must be zero or more, not {limit}")
        if hasattr(items, "value") and not isinstance(items, (list, tuple)):
            items = items.value()  # a cached JSON list: its records, to cut
        more = len(items) - limit
        items = items[:limit]
        if more > 0 and not (json or porcelain or fmt is not None):
            inner = human

            def human(rows: Any) -> None:
                inner(rows)
                output.info(f"… {more} more (--limit {limit}; raise it or leave it out to see them)")
    with paged(lambda: _pager(ctx)):
        if not porcelain and fmt is None:
            return emit(items, json, human)
        from flowergit.render.porcelain import emit_list

        return emit_list(items, json=json, porcelain_=porcelain, fmt=fmt, fields=fields,
                         human=human, known=known)
    return 0  # the pager quit before the end: nothing more to show


def _pager(ctx: Any) -> str | None:
    from flowergit.gitio import config

    return config.pager(ctx.repo)


def each(ids: Sequence[Any], act: Callable[[Any], Any], *, json: bool, human: str,
         what: str) -> int:
    """Run ``act`` on every id in turn (``dispatch 3 4 5``, ``stop 3 4``): one failing does not
    keep the others from their turn. Each result is printed by ``render.workers.<human>`` (or
    the JSON list of results and errors); when any failed, the first failure's exit code and a
    summary follow."""
    from flowergit.errors import FlowerError
    from flowergit.render import workers as view

    show = getattr(view, human)
    done: list[Any] = []
    failed: list[tuple[Any, FlowerError]] = []
    for i in ids:
        try:
            res = act(i)
        except FlowerError as e:
            failed.append((i, e))
            done.append({"id": str(i), "ok": False, "error": e.to_json()})
            if not json:
                output.info(f"{what} {i}: {e.message}" + (f" ({e.hint})" if e.hint else ""))
            continue
        done.append(res)
        if not json:
            show(res)
    if json and not failed:
        output.emit_json(done)
    if failed:
        first = failed[0][1]
        err = FlowerError.__new__(type(first))  # the first failure's kind, and so its exit code
        FlowerError.__init__(err, f"{len(failed)} of {len(ids)} failed: "
                             + ", ".join(f"{what} {i}" for i, _ in failed),
                             first.hint if len(failed) == 1 else "see each one's reason above",
                             data=done)
        raise err
    return 0
