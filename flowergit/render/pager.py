"""Long output through the user's pager, as git does: on a terminal only, the pager git would
start (``GIT_PAGER``, ``core.pager``, ``PAGER``, else ``less``; ``git var GIT_PAGER`` answers),
with ``LESS=FRX`` unless set (so one screenful exits at once and colour passes), never with
``--no-pager`` or ``git --no-pager flower …`` (git then sets ``GIT_PAGER=cat``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flowergit.render import output


def wanted() -> bool:
    """Whether output would go through a pager (before asking which)."""
    if output.NO_PAGER or output.PAGER_WIDTH is not None:
        return False
    try:
        return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"
    except ValueError:  # stdout closed
        return False


@contextmanager
def paged(command: Callable[[], str | None]) -> Iterator[None]:
    """Send what is written to stdout in the block through the pager ``command()`` names."""
    cmd = command() if wanted() else None
    if not cmd or cmd.strip() in ("", "cat"):
        yield
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
        yield
        return
    assert p.stdin is not None
    saved = os.dup(1)
    os.dup2(p.stdin.fileno(), 1)
    p.stdin.close()
    output.PAGER_WIDTH = width
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:  # the pager quit before the end: nothing more to show
        pass
    finally:
        output.PAGER_WIDTH = None
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            pass
        os.dup2(saved, 1)
        os.close(saved)
        try:
            p.wait()
        except KeyboardInterrupt:
            p.wait()
