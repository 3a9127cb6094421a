"""What makes the pages live: a watch on the flower refs, and the streams the browser follows.

- :class:`Watcher` reads a digest of every flower ref (``ops.watch.refs_version``) every
  quarter second while a page listens, in a thread, and counts a new version whenever it
  changes (each page is rendered with the version it shows): a brief filed from
  the CLI, a dispatch record its supervisor moved, a signal, a baton's beat, a merge, or refs a
  sync brought in from another clone. Pages listen to ``/events`` and fetch their live part
  again on each version, so they follow any change within a second.
- :func:`log_stream` follows an attempt's log as it grows (``ops.dispatch.workers.log_since``)
  and ends once the attempt has.
- A merge started here reports its progress through :mod:`flowergit.web.jobs`.

Every stream is server-sent events; what it carries is text, which the page's script inserts
as text.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import re
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from flowergit.ops.context import Ctx

POLL = 0.25  # seconds between two readings of the refs
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """Terminal output as plain text: colour and cursor sequences dropped, carriage returns
    and other control characters (but newline and tab) shown as nothing or U+FFFD."""
    text = _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("\ufffd", text)


class Watcher:
    """Counts versions of the flower refs of one repository.

    A reading costs what listing the refs costs: a few milliseconds with packed refs, tens
    with a thousand loose ones (bench/bench_web.py). So the refs are read once at the start,
    then only while a page follows ``/events``, never more often than every ``poll`` seconds
    nor with more than a third of the time spent reading; a page is told of a change within a
    second either way. A page that starts to listen is answered after a reading begun after it
    asked (:meth:`fresh`), with the version then: if that is not the version the page was
    rendered at, something changed in between, and the page fetches itself again."""

    MAX_GAP = 0.75  # seconds: the longest wait between two readings while a page listens

    def __init__(self, cwd: str, *, poll: float = POLL) -> None:
        self.cwd = cwd
        self.poll = poll
        self.version = 0
        self.listeners = 0
        self._digest: str | None = None
        self._started = 0  # readings begun
        self._done = 0  # the last reading finished
        self._changed: asyncio.Event | None = None
        self._read: asyncio.Event | None = None
        self._listening: asyncio.Event | None = None
        self._stop = threading.Event()

    def read(self) -> str:
        from flowergit.ops import watch

        return watch.refs_version(Ctx(self.cwd))

    async def run(self) -> None:
        """Poll until :meth:`stop`; wake every waiter on each change and each reading."""
        import time

        self._changed, self._read, self._listening = asyncio.Event(), asyncio.Event(), asyncio.Event()
        while not self._stop.is_set():
            if self._started and not self.listeners:
                self._listening.clear()
                await self._listening.wait()
                continue
            self._started += 1
            me = self._started
            t = time.monotonic()
            try:
                digest: str | None = await asyncio.to_thread(self.read)
            except Exception:  # a repository mid-repair, a lock: try again next time
                digest = None
            cost = time.monotonic() - t
            if digest is not None and digest != self._digest:
                if self._digest is not None:
                    self.version += 1
                self._digest = digest
                self._changed.set()
                self._changed = asyncio.Event()
            self._done = me
            self._read.set()
            self._read = asyncio.Event()
            await asyncio.sleep(min(max(self.poll, 2 * cost), self.MAX_GAP))

    def stop(self) -> None:
        self._stop.set()
        if self._listening is not None:
            self._listening.set()

    @contextlib.contextmanager
    def listening(self) -> Iterator[None]:
        """While a page follows the changes."""
        self.listeners += 1
        if self._listening is not None:
            self._listening.set()
        try:
            yield
        finally:
            self.listeners -= 1

    async def fresh(self, timeout: float = 5.0) -> int:
        """The version after a reading begun after this call (or as it is after ``timeout``)."""
        import time

        target = self._started + 1
        deadline = time.monotonic() + timeout
        while self._done < target and self._read is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(self._read.wait(), left)
            except TimeoutError:
                break
        return self.version

    async def wait(self, seen: int, timeout: float) -> int:
        """The version once it is past ``seen`` (or as it is after ``timeout`` seconds)."""
        if self.version == seen and self._changed is not None:
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                pass
        return self.version


async def change_stream(watcher: Watcher) -> AsyncIterator[dict[str, Any]]:
    """``hello`` with the version once the refs were read after the page asked, then a
    ``change`` event each time the flower refs have changed."""
    with watcher.listening():
        seen = await watcher.fresh()
        yield {"event": "hello", "data": str(seen)}
        while True:
            now = await watcher.wait(seen, 15.0)
            if now != seen:
                seen = now
                yield {"event": "change", "data": str(now)}


async def log_stream(cwd: str, target: str, pos: int = 0,
                     poll: float = 0.2) -> AsyncIterator[dict[str, Any]]:
    """``log`` events with what the attempt's log gained, then ``end`` once it has ended."""
    from flowergit.ops.dispatch import workers

    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while True:
        data, ended = await asyncio.to_thread(workers.log_since, Ctx(cwd), target, pos)
        pos += len(data)
        text = decoder.decode(data, final=ended)
        if text:
            yield {"event": "log", "data": clean(text), "id": str(pos)}
        if ended:
            yield {"event": "end", "data": "ended"}
            return
        if not data:
            await asyncio.sleep(poll)
