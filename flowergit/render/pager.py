"""Long output through the user's pager, as git does: on a terminal only, the pager git would
start (``GIT_PAGER``, ``core.pager``, ``PAGER``, else ``less``; ``git var GIT_PAGER`` answers),
with ``LESS=FRX`` unless set (so one screenful exits at once and colour passes), never with
``--no-pager`` or ``git --no-pager flower …`` (git then sets ``GIT_PAGER=cat``).
"""

from __future__ import annotations

import os
import sys

from flowergit.render import output

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def wanted() -> bool:
    """Whether output would go through a pager (before asking which)."""
    if output.NO_PAGER or output.PAGER_WIDTH is not None:
        return False
    try:
        return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"
    except ValueError:  # stdout closed
        return False


class paged:  # noqa: N801 - used as `with paged(...)`, like a function
    """Send what is written to stdout in the block through the pager ``command()`` names.

    A class rather than a ``contextlib.contextmanager``: every list command enters it, and
    ``contextlib`` (with ``collections`` and ``functools``) is a few milliseconds to import."""

    def __init__(self, command: Callable[[], str | None]) -> None:
        self.command = command
        self.proc: Any = None
        self.saved = -1

    def __enter__(self) -> None:
        cmd = self.command() if wanted() else None
        if not cmd or cmd.strip() in ("", "cat"):
            return
        import shutil
        import subprocess

        env = dict(os.environ)
        env.setdefault("LESS", "FRX")
        env.setdefault("LV", "-c")
        width = shutil.get_terminal_size().columns
        sys.stdout.flush()
        try:
            p = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE, env=env)
        except OSError:
            return
        assert p.stdin is not None
        self.saved = os.dup(1)
        os.dup2(p.stdin.fileno(), 1)
        p.stdin.close()
        output.PAGER_WIDTH = width
        self.proc = p

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if self.proc is None:
            return False
        quit_early = kind is not None and issubclass(kind, BrokenPipeError)
        try:  # the pager quit before the end: nothing more to show
            sys.stdout.flush()
        except BrokenPipeError:
            pass
        output.PAGER_WIDTH = None
        os.dup2(self.saved, 1)
        os.close(self.saved)
        try:
            self.proc.wait()
        except KeyboardInterrupt:
            self.proc.wait()
        return quit_early
