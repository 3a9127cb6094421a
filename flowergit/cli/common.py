"""Shared by the typer commands and the fast path: output and reading a text argument."""

from __future__ import annotations

from flowergit.render import output

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
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

