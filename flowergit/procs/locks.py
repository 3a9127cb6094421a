"""A machine-local exclusive lock with a deadline (``flock``: the kernel releases it if the holder
dies, so it can never go stale). For machine-local serialisation only — shared state in git is
protected by compare-and-swap, never by a lock file.

(The ``filelock`` package does the same, but importing it costs ~35 ms, which the commands that
take this lock — ``dispatch``, ``wait``, ``sync`` — cannot afford.)
"""

from __future__ import annotations

import fcntl
import os
import time

from flowergit.errors import FlowerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class exclusive:  # noqa: N801 - used as a function: `with exclusive(...):`
    """Hold an exclusive ``flock`` on ``path`` (created if needed) from construction until
    :meth:`release` (or the end of a ``with`` block); after ``wait`` seconds of someone else
    holding it, raise ``busy()``. (A class rather than a ``contextlib`` generator: ``dispatch``
    takes it before its first git process starts, and releases it half-way through.)"""

    def __init__(self, path: str, *, wait: float, busy: Callable[[], FlowerError],
                 poll: float = 0.01) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise busy() from None
                    time.sleep(poll)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Let go of the lock (again: nothing). Unlocked explicitly, not only closed: a process
        forked meanwhile shares the open file, and closing our descriptor alone would leave the
        lock held until the copy closes its own."""
        if self._fd != -1:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = -1

    def fileno(self) -> int:
        """The lock's descriptor (for a forked copy to keep open beside this process)."""
        return self._fd

    def detach(self) -> int:
        """Hand the held lock over: its descriptor, which this object forgets without unlocking
        (for a forked copy to keep, and :func:`let_go` when it is done; this process then only
        closes its own descriptor)."""
        fd, self._fd = self._fd, -1
        return fd

    def __enter__(self) -> exclusive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def let_go(fd: int) -> None:
    """Unlock and close a lock descriptor that :meth:`exclusive.detach` handed over."""
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
