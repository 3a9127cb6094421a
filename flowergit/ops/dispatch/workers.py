"""Live workers: `status`, `ps`, `logs`, `wait`, `stop`, `done`, `attach`, `send`, `diff`.

Each command is a short section reading the same dispatch records; `clean` is
:mod:`flowergit.ops.dispatch.clean`.
"""

from __future__ import annotations

import os
import time

from flowergit.errors import Conflict, FlowerError, NotFound, Retry, UsageError
from flowergit.gitio import history, objects, refs
from flowergit.gitio.repo import Repo
from flowergit.ops.context import Ctx
from flowergit.ops.dispatch.liveness import (
    LIVE_STATES,
    alive,
    elsewhere,
    is_local,
    machine_of,
    parse_iso,
    view_state,
)
from flowergit.ops.dispatch.paths import (
    dispatch_cache,
    last_log_line as _last_line,
    log_file,
    now_iso,
    packet_file,
    present_files,
)
from flowergit.ops.status import elapsed, present_dirs, shown_state, usage
from flowergit.state import records
from flowergit.state.dispatches import DispatchStore
from flowergit.state.ids import brief_id, dispatch_id

TYPE_CHECKING = False
if TYPE_CHECKING:  # `ps` and `status` run at every prompt: no typing, re or contextlib at import
    from collections.abc import Callable
    from typing import Any

LIVE_VIEW = LIVE_STATES  # preparing, queued, running, waiting: yet to end
_BRANCH = r"flower/([1-9][0-9]{0,8})-"


# -- finding a dispatch -------------------------------------------------------------------
def parse_target(text: str) -> tuple[int, int | None]:
    """``246`` (its latest attempt) or ``246.2``."""
    if "." in text:
        b, a = dispatch_id(text)
        return b, a
    return brief_id(text), None


def resolve(store: DispatchStore, text: str) -> records.Head:
    b, a = parse_target(text)
    head = store.get(b, a) if a is not None else store.latest(b)
    if head is None:
        what = f"there is no dispatch {b}.{a}" if a is not None else f"brief {b} has no dispatch"
        from flowergit.state.briefs import BriefStore

        try:
            BriefStore(store.repo).read_raw(b)
        except NotFound:
            raise NotFound(f"there is no brief {b}",
                           "`git flower brief list` shows the briefs there are") from None
        if a is not None:
            hint = f"`git flower ps {b}` lists its attempts; `git flower dispatch {b}` starts one"
        else:
            hint = f"`git flower dispatch {b}` starts one"
        raise NotFound(what, hint)
    return head


def _from_cwd(ctx: Ctx) -> str | None:
    """The brief whose dispatch worktree the user stands in (from its branch name)."""
    wt = ctx.repo.worktree
    if wt is None:
        return None
    from flowergit.gitio import worktrees as gitwt

    import re

    m = re.match(_BRANCH, gitwt.head_branch(ctx.repo, wt) or "", re.ASCII)
    return m[1] if m else None


# -- views --------------------------------------------------------------------------------
def branch_tips(repo: Repo) -> dict[str, tuple[str, str]]:
    """refs/heads/flower/* -> (oid, subject of the tip commit), in one git call."""
    out: dict[str, tuple[str, str]] = {}
    for ln in refs.read_many(repo, ["refs/heads/flower/"],
                             "%(refname)%00%(objectname)%00%(contents:subject)"):
        parts = ln.split("\0")
        if len(parts) == 3:
            out[parts[0]] = (parts[1], parts[2])
    return out


def _work_stats(repo: Repo, base: str | None, tip: str | None) -> tuple[int, int]:
    """(commits ahead of base, files changed since base)."""
    if not base or not tip or base == tip:
        return 0, 0
    ahead = history.count_commits(repo, f"{base}..{tip}")
    files = objects.changed_names(repo, base, tip)
    return ahead or 0, len(files or ())


def row(repo: Repo, rec: dict[str, Any], tips: dict[str, tuple[str, str]] | None,
        now: float, files: tuple[set[str], set[str]] | None = None,
        dirs: set[str] | None = None) -> dict[str, Any]:
    """One dispatch as `ps` shows it (and documents in docs/dispatch.md); ``files`` from
    :func:`present_files` and ``dirs`` from :func:`present_dirs` when many rows are made at
    once."""
    state, present = shown_state(rec, now, dirs)
    wt = rec.get("worktree")
    out: dict[str, Any] = {
        "id": rec.get("id"), "brief": rec.get("brief"), "attempt": rec.get("attempt"),
        "state": state, "record_state": rec.get("state"), "agent": rec.get("agent"),
        "title": rec.get("title", ""), "branch": rec.get("branch"), "worktree": wt,
        "worktree_present": present, "base": rec.get("base"), "target": rec.get("target"),
        "rework": bool(rec.get("rework")), "tmux": bool(rec.get("tmux")),
        "queued_at": rec.get("queued_at"), "started_at": rec.get("started_at"),
        "ended_at": rec.get("ended_at"), "elapsed": elapsed(rec, state, now),
        "exit_code": rec.get("exit_code"), "signal": rec.get("signal"),
        "reported": rec.get("reported"), "pid": rec.get("pid"), "error": rec.get("error"),
        "outcome": rec.get("outcome") or ("lost" if state == "lost" else None),
        "host": machine_of(rec), "elsewhere": elsewhere(rec), "daemon": rec.get("daemon"),
    }
    if tips is not None:  # the full `ps` row (status needs none of this)
        did = str(rec.get("id"))
        log = log_file(repo, did)
        out.update(log=log, packet=packet_file(repo, did))
        tip = tips.get(f"refs/heads/{rec.get('branch')}")
        ahead, changed = _work_stats(repo, rec.get("base"), tip[0] if tip else None)
        out.update(head=tip[0] if tip else None, ahead=ahead, files_changed=changed,
                   last_commit=(tip[1] if tip and ahead else ""),
                   last_log=_last_line(log) if files is None or f"{did}.log" in files[0] else "",
                   usage=usage(repo, rec, None if files is None else f"{did}.json" in files[1]))
    return out


def ps(ctx: Ctx, *, all_: bool = False, listed: list[tuple[str, str]] | None = None,
       tips: dict[str, tuple[str, str]] | None = None,
       files: tuple[set[str], set[str]] | None = None) -> list[dict[str, Any]]:
    """`ps` rows of every dispatch (``listed``: of these (ref, commit) only; ``tips`` and
    ``files`` when the caller read them already), by brief and attempt."""
    repo = ctx.repo
    store = DispatchStore(repo)
    every = listed is None
    if listed is None:
        listed, _ = store.list_tips()
    heads = store.cached(listed, dispatch_cache(repo), every=every)
    # a dispatch ref whose record cannot be read (a blob, a tree, no record.json, not JSON) is
    # no dispatch, but not nothing either: a row flagged `corrupt` names it and the repair
    read = {h.ref for h in heads}
    bad = [(name, oid) for name, oid in listed if name not in read]
    if not all_:
        heads = [h for h in heads if h.record.get("state") != "released"]
    if tips is None:
        tips = branch_tips(repo) if heads else {}
    now = time.time()
    files = present_files(repo) if files is None else files
    dirs = present_dirs(h.record.get("worktree") for h in heads)
    rows = [_waiting(row(repo, h.record, tips, now, files, dirs), h.record) for h in heads]
    if bad:
        rows = sorted(rows + [_corrupt_row(repo, name, oid) for name, oid in bad],
                      key=lambda r: (int(r.get("brief") or 0), int(r.get("attempt") or 0)))
    return rows


def attempts(ctx: Ctx, brief: int) -> list[dict[str, Any]]:
    """`ps` rows of one brief's attempts, oldest first (cleaned ones too)."""
    repo = ctx.repo
    heads = DispatchStore(repo).attempts(brief)
    tips = branch_tips(repo) if heads else {}
    now = time.time()
    return [_waiting(row(repo, h.record, tips, now), h.record) for h in heads]


def attempt(ctx: Ctx, target: str) -> dict[str, Any]:
    """The `ps` row of one attempt (``246``: its latest; ``246.2``)."""
    head = resolve(DispatchStore(ctx.repo), target)
    return _waiting(row(ctx.repo, head.record, branch_tips(ctx.repo), time.time()), head.record)


def select(rows: list[dict[str, Any]], ids: list[str], states: list[str]) -> list[dict[str, Any]]:
    """The rows of ``ids`` (``N``: every attempt of brief N; ``N.k``: that attempt), in a state
    or with an outcome of ``states``; all of them when both are empty."""
    want = [parse_target(t) for t in ids]
    if want:
        rows = [r for r in rows if any(r.get("brief") == b and (a is None or r.get("attempt") == a)
                                       for b, a in want)]
    if states:
        rows = [r for r in rows if r.get("state") in states or r.get("outcome") in states]
    return rows


def _corrupt_row(repo: Repo, ref: str, oid: str) -> dict[str, Any]:
    """`ps`'s row for a dispatch ref that is no record chain (``doctor --fix`` moves it aside)."""
    parts = ref.rsplit("/", 2)
    b, a = (parts[-2], parts[-1]) if len(parts) == 3 else ("", "")
    brief = int(b) if b.isdigit() else None
    attempt = int(a) if a.isdigit() else None
    what = records.diagnose(repo, ref) or "its record cannot be read"
    return {"id": f"{b}.{a}" if brief and attempt else ref, "brief": brief, "attempt": attempt,
            "state": "corrupt", "record_state": None, "ref": ref, "oid": oid, "error": what,
            "hint": f"git flower doctor --fix (moves it to {records.lost_ref(ref)})",
            "agent": None, "title": "", "elapsed": None, "ahead": 0, "files_changed": 0,
            "last_commit": "", "last_log": f"{ref}: {what}", "usage": None, "waiting": None, "outcome": None,
            "exit_code": None}


def _waiting(out: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    """A `ps` row gains ``waiting``: {prompt, since} while its agent waits at a prompt."""
    out["waiting"] = rec.get("waiting") if out.get("state") == "waiting" else None
    return out


# -- logs ---------------------------------------------------------------------------------
def log_path(ctx: Ctx, target: str) -> tuple[records.Head, str]:
    head = resolve(DispatchStore(ctx.repo), target)
    path = log_file(ctx.repo, str(head.record.get("id")))
    return head, path


def logs(ctx: Ctx, target: str) -> dict[str, Any]:
    head, path = log_path(ctx, target)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        data = b""
    return {"id": head.record.get("id"), "path": path,
            "text": data.decode("utf-8", "replace")}


def log_since(ctx: Ctx, target: str, pos: int, *, limit: int = 1 << 20) -> tuple[bytes, bool]:
    """What an attempt's log gained after byte ``pos`` (at most ``limit`` bytes), and whether
    the attempt had ended before it was read (then the log holds all it ever will)."""
    head, path = log_path(ctx, target)
    ended = view_state(head.record) not in LIVE_VIEW
    try:
        with open(path, "rb") as f:
            f.seek(pos)
            data = f.read(limit)
    except OSError:
        data = b""
    return data, ended and len(data) < limit


def follow(ctx: Ctx, target: str, write: Callable[[bytes], None], poll: float = 0.2) -> int:
    """Copy the log to ``write`` as it grows, until the dispatch has ended."""
    store = DispatchStore(ctx.repo)
    head, path = log_path(ctx, target)
    b, a = int(head.record["brief"]), int(head.record["attempt"])
    pos = 0
    while True:
        cur = store.get(b, a)
        ended = cur is None or view_state(cur.record) not in LIVE_VIEW
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read()
        except OSError:
            data = b""
        if data:
            write(data)
            pos += len(data)
        if ended:
            return 0
        time.sleep(poll)


# -- wait ---------------------------------------------------------------------------------
def wait(ctx: Ctx, targets: list[str], *, timeout: float | None = None,
         poll: float = 0.1) -> list[dict[str, Any]]:
    """Block until every named dispatch has ended; their states and exit codes."""
    from flowergit.ops.dispatch.scheduler import all_dispatches, schedule

    if not targets:
        raise UsageError("name at least one brief or dispatch to wait for",
                         "e.g. `git flower wait 12 13`")
    store = DispatchStore(ctx.repo)
    wanted = []
    for t in targets:
        h = resolve(store, t)
        wanted.append((int(h.record["brief"]), int(h.record["attempt"])))
    deadline = None if timeout is None else time.monotonic() + timeout
    last_sched = time.monotonic()
    while True:
        now = time.time()
        by_key = {(int(h.record.get("brief", 0)), int(h.record.get("attempt", 0))): h.record
                  for h in all_dispatches(ctx.repo)}
        out = []
        pending = []
        for key in wanted:
            rec = by_key.get(key, {})
            st = view_state(rec, now) if rec else "released"
            out.append({"id": f"{key[0]}.{key[1]}", "state": st, "outcome": rec.get("outcome"),
                        "exit_code": rec.get("exit_code"), "signal": rec.get("signal")})
            if st in LIVE_VIEW or _settling(rec, now):
                pending.append(f"{key[0]}.{key[1]}")
        if not pending:
            return out
        if deadline is not None and time.monotonic() >= deadline:
            raise Retry(f"timed out waiting for {', '.join(pending)}",
                        "`git flower ps` shows what they are doing", data=out)
        if time.monotonic() - last_sched > 2.0:  # heal a queue whose supervisors died
            last_sched = time.monotonic()
            try:
                schedule(ctx)
            except FlowerError:
                pass
        time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))
        poll = min(0.5, poll * 1.2)


SETTLE_S = 30.0  # how long an ended attempt's supervisor may take over its last bookkeeping


def _settling(rec: dict[str, Any], now: float) -> bool:
    """An attempt whose exit is recorded while its supervisor, on this machine, is still
    marking the brief and emitting the signal: `wait` returns once that is done too, so that
    `git flower wait N && git flower brief show N` sees the brief as the attempt left it."""
    if rec.get("state") not in ("exited", "stopped") or not is_local(rec.get("supervisor")):
        return False
    ended = parse_iso(rec.get("ended_at"))
    if ended is not None and now - ended > SETTLE_S:
        return False
    return alive(rec.get("supervisor")) is True


# -- stop ---------------------------------------------------------------------------------
def stop(ctx: Ctx, target: str, *, wait_s: float = 15.0) -> dict[str, Any]:
    """End a dispatch: a queued one leaves the queue; a running agent's whole process group
    (and every descendant) is terminated, then killed after a grace period."""
    from flowergit.ops.dispatch.scheduler import sched_lock, schedule

    repo = ctx.repo
    store = DispatchStore(repo)
    head = resolve(store, target)
    b, a = int(head.record["brief"]), int(head.record["attempt"])
    did = f"{b}.{a}"
    st = view_state(head.record)
    if st not in LIVE_VIEW and st != "lost":
        raise Conflict(f"dispatch {did} is not running ({st})", "`git flower ps` shows every dispatch")
    stamp = now_iso()

    def mark(r: dict[str, Any]) -> dict[str, Any] | None:
        cur = view_state(r)
        if cur not in LIVE_VIEW and cur != "lost":
            return None
        new = {**r, "state": "stopped", "stopped_at": stamp}
        if cur in ("queued", "preparing", "lost"):  # no supervisor will record its end
            new["ended_at"] = r.get("ended_at") or stamp
            new["outcome"] = "stopped"
        return new

    with sched_lock(repo):
        head = store.update(b, a, mark, "stopped")
    rec = head.record
    from flowergit.procs import groups

    proc, sup = rec.get("proc"), rec.get("supervisor")
    # only a process this machine started in this boot, named by a full identity, is signalled:
    # a record fetched from a remote can never make `stop` kill anything here
    pgid = rec.get("pgid") if isinstance(rec.get("pgid"), int) else None
    if pgid and pgid > 1 and is_local(proc) and (alive(proc) or groups.group_alive(pgid)):
        groups.kill_tree(pgid)
    if rec.get("tmux") and is_local(sup):
        from flowergit.procs import tmux

        tmux.kill_server(tmux.socket_path(repo.state_dir, did))
    # the supervisor sees the agent end, cleans up leftovers and records the exit
    deadline = time.monotonic() + wait_s
    while alive(sup) and time.monotonic() < deadline:
        time.sleep(0.05)
    if sup and is_local(sup) and alive(sup):
        groups.kill_tree(int(sup["pid"]), grace=1.0)
    cur = store.get(b, a)
    if cur is not None and not cur.record.get("ended_at"):
        cur = store.update(b, a, lambda r: {**r, "ended_at": r.get("ended_at") or now_iso()},
                           "stopped")
        try:
            schedule(ctx)
        except FlowerError:
            pass
    rec = dict(cur.record if cur is not None else rec)
    rec["state"] = view_state(rec)
    return rec


# -- done ---------------------------------------------------------------------------------
def done(ctx: Ctx, target: str | None = None, *, failed: bool = False,
         note: str | None = None) -> dict[str, Any]:
    """An agent (or a person) reports the dispatch finished, or failed (``--failed``)."""
    store = DispatchStore(ctx.repo)
    if target is None:
        env = os.environ.get("FLOWER_DISPATCH", "")
        import re

        target = env if env and re.fullmatch(r"[1-9][0-9]{0,8}\.[1-9][0-9]{0,3}", env, re.ASCII) \
            else _from_cwd(ctx)
        if target is None:
            raise UsageError("which dispatch? run this inside a dispatch worktree, or name it",
                             "e.g. `git flower done 12`")
    head = resolve(store, target)
    b, a = int(head.record["brief"]), int(head.record["attempt"])
    stamp = now_iso()
    report = "failed" if failed else "done"

    def change(r: dict[str, Any]) -> dict[str, Any]:
        new = {**r, "reported": report, "reported_at": stamp}
        if note:
            new["note"] = note[:2000]
        if view_state(r) == "lost":  # nobody will record an exit: close it here
            new.update(state="exited", ended_at=r.get("ended_at") or stamp)
        return new

    head = store.update(b, a, change, f"reported {report}")
    rec = head.record
    if not failed and view_state(rec) not in LIVE_VIEW and rec.get("outcome") is None:
        # nobody else will judge this attempt (its supervisor is gone): judge it here; a live
        # attempt is judged by its supervisor when the agent exits, on what the branch holds
        import flowergit.ops.dispatch.outcome as oc

        left = oc.commit_leftovers(ctx.repo, rec, 0, note)
        work = oc.changes(ctx.repo, rec.get("base"), rec.get("branch"))
        verdict = oc.judge(rec, 0, timed_out=False, work=work)
        head = store.update(b, a, lambda r: {**r, "outcome": verdict,
                                             **({"autocommit": left} if left else {})},
                            f"reported done: {verdict}")
        if verdict == "done":
            from flowergit.ops import briefs as ops_briefs

            ops_briefs.set_status(ctx, b, "done", why=f"dispatch {b}.{a} reported done")
    out = dict(head.record)
    out["state"] = view_state(out)
    return out


# -- tmux ---------------------------------------------------------------------------------
def _tmux_of(ctx: Ctx, target: str) -> tuple[str, str, str]:
    head = resolve(DispatchStore(ctx.repo), target)
    rec = head.record
    did = str(rec["id"])
    if not rec.get("tmux"):
        raise UsageError(f"dispatch {did} does not run in tmux",
                         f"dispatch with --tmux to watch it live; `git flower logs {did} -f` "
                         "follows its output")
    if view_state(rec) not in LIVE_VIEW:
        raise Conflict(f"dispatch {did} has ended", f"`git flower logs {did}` shows its output")
    if not rec.get("tmux_socket") or not is_local(rec.get("supervisor")):
        raise Retry(f"dispatch {did} has not started its tmux session on this machine yet",
                    "retry in a moment")
    from flowergit.procs import tmux

    b, a = int(rec["brief"]), int(rec["attempt"])
    return did, tmux.socket_path(ctx.repo.state_dir, did), f"flower-{b}-{a}"


def attach_argv(ctx: Ctx, target: str) -> list[str]:
    """The ``tmux attach`` command line for the dispatch's session."""
    from flowergit.procs import tmux

    _, sock, session = _tmux_of(ctx, target)
    return tmux.attach_argv(sock, session)


def attach(ctx: Ctx, target: str) -> None:
    """Replace this process with ``tmux attach`` to the dispatch's session."""
    argv = attach_argv(ctx, target)
    os.execv(argv[0], argv)


def send(ctx: Ctx, target: str, text: str = "", *, enter: bool = False,
         keys: list[str] | None = None) -> dict[str, Any]:
    """Type ``text`` into a tmux dispatch's terminal, then ``keys`` (key names or single
    characters) in order, then Enter with ``enter``."""
    from flowergit.state.config import KEY_NAMES, is_key

    keys = list(keys or [])
    bad = [k for k in keys if not is_key(k)]
    if bad:
        raise UsageError(f"unknown key {bad[0]!r}",
                         "keys are one character (such as y or n) or one of "
                         + ", ".join(KEY_NAMES))
    if not text and not keys and not enter:
        raise UsageError("nothing to send",
                         "give TEXT, --key NAME (e.g. --key y --key Enter) or --enter")
    from flowergit.procs import tmux

    did, sock, session = _tmux_of(ctx, target)
    tmux.send(sock, session, text, enter, keys)
    return {"id": did, "sent": text, "keys": keys, "enter": enter}
