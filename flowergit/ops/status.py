"""`git flower status`: briefs by status, the workers and the queue, in one glance.

A hot command: the brief counts come from the header of the brief list cache (no parse of
10,000 records), the dispatch records from their content-addressed cache, and only the rows
shown (workers, queue) are built in full.
"""

from __future__ import annotations

import os
import time

from flowergit import fastjson
from flowergit.ops.context import Ctx
from flowergit.ops.dispatch.liveness import elsewhere, machine_of, parse_iso, view_state
from flowergit.state.brief import STATUSES
from flowergit.state.dispatches import DispatchStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowergit.gitio.repo import Repo

WORKER_STATES = ("running", "waiting", "lost", "preparing")
KEEP = ("id", "brief", "attempt", "state", "agent", "title", "elapsed", "worktree", "pid",
        "started_at", "queued_at", "outcome", "error")


def elapsed(rec: dict[str, Any], state: str, now: float) -> float | None:
    """Seconds waited (queued, preparing) or run so far (or in all, once ended)."""
    if state in ("queued", "preparing"):
        start = parse_iso(rec.get("queued_at"))
        return None if start is None else max(0.0, now - start)
    start = parse_iso(rec.get("started_at"))
    if start is None:
        return None
    end = parse_iso(rec.get("ended_at")) or now
    return max(0.0, end - start)


def shown_state(rec: dict[str, Any], now: float) -> tuple[str, bool]:
    """(state as `ps` shows it, whether the worktree is there): a finished dispatch whose
    worktree was deleted by hand is ``missing``."""
    state = view_state(rec, now)
    wt = rec.get("worktree")
    present = bool(wt) and os.path.isdir(str(wt))
    if not present and state in ("exited", "stopped"):
        state = "missing"
    return state, present


USAGE_KEYS = ("model", "turns", "input_tokens", "output_tokens", "cached_input_tokens",
              "cost_usd", "cost_source", "last_action")


def usage(repo: Repo, rec: dict[str, Any]) -> dict[str, Any] | None:
    """What the attempt's agent did and cost (docs/dispatch.md, "usage"): the record's
    ``usage`` once its supervisor stored it at the agent's exit; before that, the transcript in
    its log on this machine, read live (a big log only from where the last read stopped)."""
    got = rec.get("usage")
    if isinstance(got, dict):
        return {k: got.get(k) for k in USAGE_KEYS}
    did = str(rec.get("id"))
    try:  # the start spec: this machine's, while the attempt's files are here
        with open(repo.state_path("run", f"{did}.json"), "rb") as f:
            spec = fastjson.loads(f.read())
    except (OSError, ValueError):
        return None
    kind = spec.get("transcript") if isinstance(spec, dict) else None
    if not isinstance(kind, str) or not kind:
        return None
    from flowergit.procs import transcript

    argv = spec.get("argv")
    got = transcript.summarize(repo.state_path("logs", f"{did}.log"), kind,
                               spec.get("price") if isinstance(spec.get("price"), dict) else None,
                               transcript.model_from_argv(argv) if isinstance(argv, list) else None,
                               cache=repo.state_path("cache", "transcripts", f"{did}.json"))
    return {k: got.get(k) for k in USAGE_KEYS} if got is not None else None


def trust_wait(repo: Repo) -> list[int]:
    """Briefs `tick` held back because their commands are not trusted here, still unapproved:
    what tick recorded (one small file, usually absent), never a scan of the briefs."""
    path = repo.state_path("trust-wait.json")
    if not os.path.exists(path):
        return []
    from flowergit.state import brieftrust

    return brieftrust.still_waiting(repo.common_dir, path)


def status(ctx: Ctx) -> dict[str, Any]:
    """Briefs by status, workers (live or interrupted dispatches) and the queue."""
    counts = ctx.briefs().counts(warn=ctx.warn)
    by_status = {s: 0 for s in STATUSES}
    for s, n in counts.items():
        by_status[s] = by_status.get(s, 0) + n
    repo = ctx.repo
    now = time.time()
    heads = DispatchStore(repo).all_cached(repo.state_path("cache", "dispatches.json"))
    workers: list[dict[str, Any]] = []
    queue: list[dict[str, Any]] = []
    dispatch_counts: dict[str, int] = {}
    for h in heads:
        rec = h.record
        state, _ = shown_state(rec, now)
        dispatch_counts[state] = dispatch_counts.get(state, 0) + 1
        if state in WORKER_STATES or state == "queued":
            row = {k: rec.get(k) for k in KEEP}
            row.update(state=state, title=rec.get("title", ""), elapsed=elapsed(rec, state, now),
                       host=machine_of(rec), elsewhere=elsewhere(rec),
                       usage=usage(repo, rec) if state != "queued" else None,
                       waiting=rec.get("waiting") if state == "waiting" else None)
            (queue if state == "queued" else workers).append(row)
    queue.sort(key=lambda r: (r["queued_at"] or "", r["id"]))
    return {
        "briefs": {"total": sum(counts.values()), "by_status": by_status},
        "workers": workers,
        "queue": queue,
        "max_parallel": int(ctx.config.get("flower", "max_parallel")),
        "running": sum(1 for r in workers if r["state"] in ("running", "waiting")),
        "dispatches": dispatch_counts,
        "trust_wait": trust_wait(repo),
        "orchestrators": orchestrators(repo),
    }


def orchestrators(repo: Repo) -> list[dict[str, Any]]:
    """Driven orchestrators (`run --agent`) on this machine: a small local file each."""
    from flowergit.ops.continuity.orchstatus import read_all

    return read_all(repo)
