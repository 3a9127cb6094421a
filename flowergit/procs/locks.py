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
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flowergit.errors import FlowerError


@contextmanager
def exclusive(path: str, *, wait: float, busy: Callable[[], FlowerError],
              poll: float = 0.01) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the block; after ``wait``
    seconds of someone else holding it, raise ``busy()``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise busy() from None
                time.sleep(poll)
        yield
    finally:
        os.close(fd)  # closing releases the lock
