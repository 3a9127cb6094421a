"""`git flower watch`: the data of `status` and `ps`, read again every interval.

Stateless: each frame is read from git and the machine-local runtime afresh, so a watch can be
started, stopped and restarted at any time; it never writes anything.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Iterator
from typing import Any

from flowergit.ops.context import Ctx

# what changes every second by itself, and so does not count as "something happened"
_CLOCK_FIELDS = ("elapsed", "at")


def snapshot(ctx: Ctx) -> dict[str, Any]:
    from flowergit.ops import status
    from flowergit.ops.dispatch import workers

    return {"at": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": status.status(ctx), "ps": workers.ps(ctx)}


def signature(snap: dict[str, Any]) -> str:
    """The frame without its clock-driven fields: equal signatures = nothing happened."""
    from flowergit import fastjson

    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in _CLOCK_FIELDS}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    return fastjson.dumps(strip(snap), sort_keys=True, default=str)


def frames(ctx: Ctx, *, interval: float = 1.0, count: int | None = None,
           sleep: Callable[[float], None] = time.sleep) -> Iterator[dict[str, Any]]:
    """Yield a fresh snapshot every ``interval`` seconds (``count`` frames, or until stopped)."""
    if count is None or count > 1:
        # the records read again every frame: libgit2's reads pay back pygit2's import here
        from flowergit.gitio import libgit

        libgit.enable()
    n = 0
    while count is None or n < count:
        if n:
            sleep(interval)
        yield snapshot(Ctx(ctx.cwd, ctx.warn))
        n += 1


def changes(ctx: Ctx, *, interval: float = 1.0, count: int | None = None,
            sleep: Callable[[float], None] = time.sleep) -> Iterator[dict[str, Any]]:
    """Only the frames in which something happened (for pipes and logs); ``count`` bounds the
    frames looked at, not the ones yielded."""
    last = None
    for snap in frames(ctx, interval=interval, count=count, sleep=sleep):
        sig = signature(snap)
        if sig != last:
            last = sig
            yield snap


WATCHED = ("refs/heads/", "refs/flower/", "refs/notes/flower")


def refs_version(ctx: Ctx) -> str:
    """A digest of every ref git flower keeps its state in (briefs, attempt branches and the
    target, dispatch records, signals, claims, daemons, batons, notes): it changes whenever
    any of that changes, here or in a clone that synced. One ``for-each-ref`` (libgit2 reads
    these no faster in a long-lived process: bench/bench_web.py)."""
    import hashlib

    from flowergit.gitio import refs

    lines = refs.read_many(ctx.repo, WATCHED)
    return hashlib.sha1("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()
