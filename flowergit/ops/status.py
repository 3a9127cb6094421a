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
from flowergit.state.dispatches import DispatchStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
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


def shown_state(rec: dict[str, Any], now: float,
                dirs: set[str] | None = None) -> tuple[str, bool]:
    """(state as `ps` shows it, whether the worktree is there): a finished dispatch whose
    worktree was deleted by hand is ``missing``. ``dirs``: :func:`present_dirs` of the
    worktrees, when many rows are made at once."""
    state = view_state(rec, now)
    wt = rec.get("worktree")
    present = bool(wt) and (os.path.isdir(str(wt)) if dirs is None else str(wt) in dirs)
    if not present and state in ("exited", "stopped"):
        state = "missing"
    return state, present


def present_dirs(paths: Iterable[object]) -> set[str]:
    """Which of ``paths`` are directories, as :func:`shown_state` judges them: a parent that
    holds many of them is listed once (a thousand attempts' worktrees share one), the others
    are looked up one by one."""
    under: dict[str, list[str]] = {}
    for p in paths:
        if isinstance(p, str) and p:
            under.setdefault("" if p.endswith("/") else os.path.dirname(p), []).append(p)
    out: set[str] = set()
    for parent, group in under.items():
        if len(group) < 8 or not parent:
            out.update(p for p in group if os.path.isdir(p))
            continue
        try:
            with os.scandir(parent) as it:
                names = {e.name for e in it if e.is_dir()}  # follows symlinks, as isdir does
        except OSError:
            continue
        out.update(p for p in group if os.path.basename(p) in names)
    return out


USAGE_KEYS = ("model", "turns", "input_tokens", "output_tokens", "cached_input_tokens",
              "cost_usd", "cost_source", "last_action")


def usage(repo: Repo, rec: dict[str, Any], spec_here: bool | None = None) -> dict[str, Any] | None:
    """What the attempt's agent did and cost (docs/dispatch.md, "usage"): the record's
    ``usage`` once its supervisor stored it at the agent's exit; before that, the transcript in
    its log on this machine, read live (a big log only from where the last read stopped)."""
    got = rec.get("usage")
    if isinstance(got, dict):
        return {k: got.get(k) for k in USAGE_KEYS}
    if spec_here is False:  # the caller listed the directory: no start spec on this machine
        return None
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


WORK_ROWS = 8  # live workers whose commits and files the human status reads (git calls each)


def status(ctx: Ctx, *, work: bool = False) -> dict[str, Any]:
    """Briefs by status, workers (live or interrupted dispatches), the ended attempts that wait
    for their person, the queue, and what needs the user (``attention``). ``work``: also the
    commits ahead, files changed and last log line of the first few running workers (two git
    calls each: the human view only; ``--json`` and `watch`, which has `ps`, do without)."""
    store = ctx.briefs()
    counts = store.counts(warn=ctx.warn)
    synced = store.conflicted(warn=ctx.warn)  # from the header counts() just read
    from flowergit.state.brief import STATUSES

    by_status = {s: 0 for s in STATUSES}
    for s, n in counts.items():
        by_status[s] = by_status.get(s, 0) + n
    repo = ctx.repo
    now = time.time()
    heads = DispatchStore(repo).all_cached(repo.state_path("cache", "dispatches.json"))
    workers: list[dict[str, Any]] = []
    queue: list[dict[str, Any]] = []
    dispatch_counts: dict[str, int] = {}
    shown: dict[int, str] = {}  # id(record) -> its state, judged once
    dirs = present_dirs(h.record.get("worktree") for h in heads)
    for h in heads:
        rec = h.record
        state, _ = shown_state(rec, now, dirs)
        shown[id(rec)] = state
        dispatch_counts[state] = dispatch_counts.get(state, 0) + 1
        if state in WORKER_STATES or state == "queued":
            row = {k: rec.get(k) for k in KEEP}
            row.update(state=state, title=rec.get("title", ""), elapsed=elapsed(rec, state, now),
                       host=machine_of(rec), elsewhere=elsewhere(rec),
                       usage=usage(repo, rec) if state != "queued" else None,
                       waiting=rec.get("waiting") if state == "waiting" else None)
            (queue if state == "queued" else workers).append(row)
    if work and workers:
        live = [w for w in workers if w["state"] in ("running", "waiting")][:WORK_ROWS]
        work_of(repo, live, {str(h.record.get("id")): h.record for h in heads})
    queue.sort(key=lambda r: (r["queued_at"] or "", r["id"]))
    for pos, q in enumerate(queue, 1):
        q["position"] = pos
    ended = ended_unmerged([h.record for h in heads], now, shown)
    clash = conflicts(repo, [r for r in ended if r["outcome"] == "done"])
    waiting_auto = auto_waiting(repo)
    daemons = stale_daemons(ctx)
    tw = trust_wait(repo)
    return {
        "briefs": {"total": sum(counts.values()), "by_status": by_status},
        "workers": workers,
        "queue": queue,
        "max_parallel": int(ctx.config.get("flower", "max_parallel")),
        "running": sum(1 for r in workers if r["state"] in ("running", "waiting")),
        "dispatches": dispatch_counts,
        "trust_wait": tw,
        "orchestrators": orchestrators(repo),
        "ended": ended,
        "auto_waiting": waiting_auto,
        "stale_daemons": daemons,
        "conflicts": clash,
        "sync_conflicts": synced,
        "attention": attention(workers, queue, ended, tw, waiting_auto, daemons, clash, synced),
    }


def work_of(repo: Repo, rows: list[dict[str, Any]], recs: dict[str, dict[str, Any]]) -> None:
    """Commits ahead, files changed and the last line of the log of each live worker (a few
    rows: the cap bounds them), as `ps` shows them."""
    from flowergit.gitio import history, objects, refs
    from flowergit.ops.dispatch.paths import last_log_line, log_file

    tips = {}
    for ln in refs.read_many(repo, ["refs/heads/flower/"], "%(refname) %(objectname)"):
        name, _, oid = ln.partition(" ")
        tips[name] = oid
    for row in rows:
        rec = recs.get(str(row.get("id"))) or {}
        base, branch = rec.get("base"), rec.get("branch")
        tip = tips.get(f"refs/heads/{branch}") if branch else None
        ahead = files = 0
        if base and tip and base != tip:
            ahead = history.count_commits(repo, f"{base}..{tip}") or 0
            files = len(objects.changed_names(repo, base, tip) or ())
        row.update(ahead=ahead, files_changed=files,
                   last_log=last_log_line(log_file(repo, str(row.get("id")))))


# the outcomes of an ended attempt that a person has to look at before anything else happens
NEEDS_LOOK = ("no-changes", "failed", "stopped", "timed-out", "lost")


def ended_unmerged(recs: list[dict[str, Any]], now: float,
                   shown: dict[int, str] | None = None) -> list[dict[str, Any]]:
    """Each brief's latest attempt that ended and is neither merged nor cleaned away: the work
    (or the failure) that waits for its person, in the order it ended. ``shown``: the states
    the caller judged already (by ``id`` of the record)."""
    latest: dict[int, dict[str, Any]] = {}
    for rec in recs:
        b = rec.get("brief")
        if not isinstance(b, int):
            continue
        if b not in latest or int(rec.get("attempt") or 0) > int(latest[b].get("attempt") or 0):
            latest[b] = rec
    out: list[dict[str, Any]] = []
    for rec in latest.values():
        if rec.get("state") in ("merged", "released"):
            continue
        state = shown.get(id(rec)) if shown is not None else None
        if state is None:
            state, _ = shown_state(rec, now)
        if state in LIVE:
            continue
        outcome = rec.get("outcome") or ("lost" if state == "lost" else None)
        if outcome is None:  # a record from before outcomes were judged: its exit tells
            if rec.get("state") == "exited":
                outcome = "done" if rec.get("exit_code") == 0 else "failed"
            elif rec.get("state") in ("failed", "stopped"):
                outcome = str(rec.get("state"))
        if outcome != "done" and outcome not in NEEDS_LOOK:
            continue
        row = {k: rec.get(k) for k in KEEP}
        row.update(state=state, outcome=outcome, title=rec.get("title", ""),
                   branch=rec.get("branch"), target=rec.get("target"),
                   elapsed=elapsed(rec, state, now), ended_at=rec.get("ended_at"),
                   exit_code=rec.get("exit_code"), host=machine_of(rec),
                   elsewhere=elsewhere(rec))
        out.append(row)
    out.sort(key=lambda r: (str(r.get("ended_at") or ""), int(r.get("brief") or 0)))
    return out


LIVE = ("preparing", "queued", "running", "waiting")
CONFLICT_CHECKS = 5  # finished attempts a status tries against their target (cached by tips)


def conflicts(repo: Repo, ready: list[dict[str, Any]]) -> dict[str, list[str]]:
    """{dispatch id: conflicted paths} of the finished attempts (the first few) whose branch no
    longer merges cleanly into its target: ``git merge-tree`` once per pair of tips, the answer
    kept in a machine-local cache so that a status asked again runs nothing."""
    if not ready:
        return {}
    from flowergit.gitio import refs, trees
    from flowergit.gitio.runner import GitError

    tips = {}
    for ln in refs.read_many(repo, ["refs/heads/"], "%(refname) %(objectname)"):
        name, _, oid = ln.partition(" ")
        tips[name] = oid
    path = repo.state_path("cache", "conflicts.json")
    try:
        with open(path, "rb") as f:
            cache = fastjson.loads(f.read())
        cache = cache if isinstance(cache, dict) else {}
    except (OSError, ValueError):
        cache = {}
    out: dict[str, list[str]] = {}
    changed = False
    for r in ready[:CONFLICT_CHECKS]:
        tip = tips.get(f"refs/heads/{r.get('branch')}")
        into = tips.get(f"refs/heads/{r.get('target')}")
        if not tip or not into:
            continue
        key = f"{into}:{tip}"
        got = cache.get(key)
        if not isinstance(got, list):
            try:
                got = trees.merge_tree(repo, into, tip).conflicts
            except GitError:
                continue
            cache[key] = got
            changed = True
        if got:
            out[str(r["id"])] = [str(p) for p in got]
    if changed:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(fastjson.dumps(dict(list(cache.items())[-200:])))
            os.replace(tmp, path)
        except OSError:
            pass
    return out


def auto_waiting(repo: Repo) -> int:
    """Unclaimed ``auto_dispatch`` signals: briefs planned for an automatic dispatch that no
    orchestrator has taken yet (ref names only; no object is read)."""
    from flowergit.state import signals

    sigs, claimed = signals.scan(repo)
    return sum(1 for sid, kind, _ in sigs if kind == "auto_dispatch" and sid not in claimed)


def stale_daemons(ctx: Ctx) -> list[dict[str, Any]]:
    """Checked-in daemons that stopped beating or whose process is gone (none read unless a
    daemon ref exists)."""
    from flowergit.gitio import refs
    from flowergit.state.layout import daemon_ref

    if not refs.read_many(ctx.repo, [daemon_ref("")], "%(refname)"):
        return []
    from flowergit.ops.continuity import daemon

    out = []
    for d in daemon.list_(ctx):
        live = (d.get("liveness") or {}).get("state")
        if live in ("stale", "dead"):
            out.append({"id": d.get("id"), "role": d.get("role"), "liveness": live,
                        "why": (d.get("liveness") or {}).get("why", "")})
    return out


def _ids(rows: list[dict[str, Any]]) -> str:
    return " ".join(str(r.get("brief") if r.get("brief") is not None else r.get("id"))
                    for r in rows)


def attention(workers: list[dict[str, Any]], queue: list[dict[str, Any]],
              ended: list[dict[str, Any]], trust: list[int], auto: int,
              daemons: list[dict[str, Any]],
              clash: dict[str, list[str]] | None = None,
              synced: list[int] | None = None) -> list[dict[str, Any]]:
    """What needs the user, most pressing first, each with the command that acts on it:
    ``{"kind", "ids", "text", "command"}``."""
    out: list[dict[str, Any]] = []

    def add(kind: str, ids: list[Any], text: str, command: str) -> None:
        out.append({"kind": kind, "ids": ids, "text": text, "command": command})

    clash = clash or {}
    ready = [r for r in ended if r["outcome"] == "done" and str(r["id"]) not in clash]
    if ready:
        one = ready[0]["brief"] if len(ready) == 1 else None
        add("ready", [r["brief"] for r in ready],
            f"{len(ready)} ready to merge: " + _ids(ready),
            f"git flower merge {one}" if one is not None else "git flower merge")
    for r in ended:
        paths = clash.get(str(r["id"]))
        if paths:
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            add("conflict", [r["id"]], f"{r['id']} conflicts with {r.get('target')}: {shown}",
                f"git flower dispatch {r['brief']} --rework")
    for w in workers:
        if w["state"] == "waiting":
            prompt = (w.get("waiting") or {}).get("prompt") if isinstance(w.get("waiting"), dict) \
                else None
            add("waiting", [w["id"]], f"{w['id']} waits for input"
                + (f": {prompt}" if prompt else ""),
                f"git flower send {w['id']} TEXT --enter")
    for w in workers:
        if w["state"] == "lost":
            add("lost", [w["id"]], f"{w['id']} lost its agent",
                f"git flower dispatch {w['brief']} --resume")
    for r in ended:
        if r["outcome"] == "done":
            continue
        what = {"no-changes": "ended with no changes", "failed": "failed",
                "stopped": "was stopped", "timed-out": "timed out", "lost": "was lost"}
        code = r.get("exit_code")
        add(str(r["outcome"]), [r["id"]],
            f"{r['id']} {what.get(str(r['outcome']), str(r['outcome']))}"
            + (f" (exit {code})" if code not in (None, 0) else ""),
            f"git flower logs {r['id']}; git flower dispatch {r['brief']}")
    if synced:
        add("sync-conflict", list(synced), f"{len(synced)} brief(s) with conflicting edits from "
            "sync: " + " ".join(map(str, synced)),
            f"git flower brief show {synced[0]}; then git flower brief set {synced[0]} KEY=VALUE")
    if trust:
        add("trust", list(trust), f"{len(trust)} brief(s) wait for trust: "
            + " ".join(map(str, trust)), "git flower trust brief " + " ".join(map(str, trust)))
    if queue:
        add("queue", [q["id"] for q in queue], f"{len(queue)} queued for a slot: " + ", ".join(
            f"{q['id']} (#{q['position']})" for q in queue), "git flower ps --state queued")
    if auto:
        add("auto", [], f"{auto} auto brief(s) wait for an orchestrator to dispatch them",
            "git flower tick")
    for d in daemons:
        add("daemon", [d["id"]], f"daemon {d['id']} ({d.get('role')}) is {d['liveness']}"
            + (f": {d['why']}" if d.get("why") else ""), f"git flower daemon retire {d['id']}")
    return out


def orchestrators(repo: Repo) -> list[dict[str, Any]]:
    """Driven orchestrators (`run --agent`) on this machine: a small local file each."""
    from flowergit.ops.continuity.orchstatus import read_all

    return read_all(repo)
