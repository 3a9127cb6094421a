"""Shared by the typer commands and the fast path: output and the brief-new argument handling."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from flowergit.errors import UsageError
from flowergit.render import output


def emit(data: Any, json_mode: bool, human: Callable[[Any], None] | None = None) -> int:
    """Print ``data`` as the JSON envelope or through ``human``; return exit 0."""
    if json_mode:
        output.emit_json(data)
    elif human is not None:
        human(data)
    return 0


def read_body(body_file: str | None, message: str | None, cap: int) -> bytes:
    if body_file is not None and message is not None:
        raise UsageError("give either --body-file or -m, not both")
    if message is not None:
        return message.encode("utf-8", "surrogateescape")
    if body_file is None:
        return b""
    if body_file == "-":
        data = sys.stdin.buffer.read(cap + 1)
    else:
        try:
            with open(body_file, "rb") as f:
                data = f.read(cap + 1)
        except OSError as e:
            raise UsageError(f"cannot read {body_file}: {e.strerror}") from None
    return data


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
