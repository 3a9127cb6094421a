"""Machine-local state files (under ``$GIT_COMMON_DIR/flower/``): written whole or not at all.

A reader never sees half a file: the text goes to a temporary file beside it, which then
replaces the old one in one rename. The temporary file is named by process *and* thread
(:func:`tmp_beside`): `git flower web` writes the same caches from several threads at once (its
pages run in worker threads), and two writers sharing one temporary file could rename each
other's half.
"""

from __future__ import annotations

import os
from _thread import get_ident  # the builtin: `threading` costs an import

from flowergit import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def tmp_beside(path: str) -> str:
    """A temporary file beside ``path`` that only this thread of this process writes."""
    return f"{path}.{os.getpid()}-{get_ident()}.tmp"


def write_atomic(path: str, text: str, errors: str = "strict") -> None:
    """Replace ``path`` with ``text`` in one rename (its folder is made if need be); a write
    that fails leaves ``path`` as it was and no temporary file behind."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = tmp_beside(path)
    try:
        with open(tmp, "w", encoding="utf-8", errors=errors) as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_json(path: str, doc: Any, *, indent: int | None = None) -> None:
    """``doc`` as one JSON document (sorted keys) at ``path``; ``None`` removes the file."""
    if doc is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    write_atomic(path, fastjson.dumps(doc, sort_keys=True, indent=indent) + "\n")
