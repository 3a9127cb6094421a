"""Merges started from the browser: ``ops.merge.merge`` in a thread of the server, followed live.

A merge runs the project's suite, which may take minutes, so the request that starts it returns
at once and the merge page follows the job: the gate's progress lines (the ``progress``
callback the CLI prints to stderr), the suite's own log as it grows, and at the end the result
or the error (the same ``code``, ``message`` and ``hint`` the CLI prints). One merge at a time
in this server (the gate tells a live merge from an interrupted one by its process, and every
merge of this server is one process); every other process is kept apart by the gate itself (its
journal, the target's compare-and-swap).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowergit.errors import Conflict, FlowerError
from flowergit.ops.context import Ctx


@dataclass
class MergeJob:
    brief: int
    options: dict[str, Any]
    started: float = field(default_factory=time.time)
    lines: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    done: bool = False

    def say(self, text: str) -> None:
        self.lines.append(text)

    def view(self) -> dict[str, Any]:
        return {"brief": self.brief, "options": self.options, "started": self.started,
                "lines": list(self.lines), "result": self.result, "error": self.error,
                "done": self.done, "running": not self.done}


class Jobs:
    """The merges this server started, by brief (the latest of each)."""

    def __init__(self, cwd: str) -> None:
        self.cwd = cwd
        self._jobs: dict[int, MergeJob] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def get(self, brief: int) -> MergeJob | None:
        return self._jobs.get(brief)

    def start(self, brief: int, *, no_test: bool = False, dry_run: bool = False,
              force: bool = False) -> MergeJob:
        with self._lock:
            # one at a time: the gate tells a live merge from an interrupted one by its
            # process, and every merge of this server is the same process
            cur = next((j for j in self._jobs.values() if not j.done), None)
            if cur is not None:
                raise Conflict(f"a merge of brief {cur.brief} is running here",
                               f"follow it on its page, /merge/{cur.brief}, and merge "
                               f"brief {brief} once it has ended")
            job = MergeJob(brief, {"no_test": no_test, "dry_run": dry_run, "force": force})
            self._jobs[brief] = job
        thread = threading.Thread(target=self._run, args=(job,), name=f"merge-{brief}",
                                  daemon=True)
        self._threads.append(thread)
        thread.start()
        return job

    def join(self, say: Callable[[str], None], forced: Callable[[], bool]) -> None:
        """Wait for the merges still running (the server is stopping), until ``forced()``: a
        merge cut off halfway leaves its journal for `git flower recover`, as a killed `git
        flower merge` does."""
        for job in [j for j in self._jobs.values() if not j.done]:
            say(f"git flower web: waiting for the merge of brief {job.brief} to end "
                "(Ctrl-C again leaves it to `git flower recover`)")
        for t in self._threads:
            while t.is_alive() and not forced():
                t.join(0.2)

    def _run(self, job: MergeJob) -> None:
        from flowergit.ops import merge as ops

        try:
            ctx = Ctx(self.cwd, warn=lambda m: job.say("warning: " + m)).load()
            job.result = ops.merge(ctx, job.brief, progress=job.say, **job.options)
        except FlowerError as e:
            job.error = e.to_json()
        except Exception as e:  # a bug: shown, and the server goes on
            job.error = {"code": "internal", "message": f"{type(e).__name__}: {e}"}
        finally:
            job.done = True
