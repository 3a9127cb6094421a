"""Text a user hands a command: an argument, a file, or standard input (``-``), read capped."""

from __future__ import annotations

import sys

from flowergit.errors import UsageError


def read_source(path: str | None, text: str | None, cap: int,
                flags: tuple[str, str] = ("-F FILE", "-m TEXT")) -> bytes:
    """The bytes of ``text``, of file ``path``, or of stdin when ``path`` is ``-`` — at most
    ``cap + 1`` of them, so the caller can tell an oversized input without reading it all."""
    if path is not None and text is not None:
        raise UsageError(f"give either {flags[0]} or {flags[1]}, not both")
    if text is not None:
        return text.encode("utf-8", "surrogateescape")
    if path is None or path == "-":
        return sys.stdin.buffer.read(cap + 1)
    try:
        with open(path, "rb") as f:
            return f.read(cap + 1)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
