"""Shared by the typer commands and the fast path: output and the brief-new argument handling."""

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


def brief_new(*, title: str, body_file: str | None, message: str | None, kind: str, auto: bool,
              agent: str | None, depends: Sequence[str], json: bool, remote: str | None = None,
              offline: bool = False) -> int:
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx
    from flowergit.state.ids import brief_id

    ctx = Ctx().load()
    deps = [brief_id(d) for dep in depends for d in dep.split(",") if d]
    body = read_body(body_file, message, ctx.config.max_brief_bytes)
    made = briefs.new(ctx, title=title, body=body, kind=kind, auto=auto, agent=agent, depends=deps,
                      remote=remote, offline=offline)
    return emit(made, json, lambda b: output.line(f"brief {b['id']}: {b['title']}"))
