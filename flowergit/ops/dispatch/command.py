"""`git flower dispatch N`: claim attempt N.k, make the worktree, write the packet, start the agent.

The steps, in order (each a separate failure point with nothing half-done left behind):

1. read what the dispatch needs, at once, each a git process started without waiting for the
   other: the brief (with the trees on its path, so that marking it dispatched reads nothing
   again), and every dispatch ref with the target and the brief's branches (one
   ``for-each-ref``); resolve the agent profile (a profile from `.flower.toml` needs `git
   flower trust`). From the listing to step 5 the per-machine scheduler lock
   (``flock($common/flower/sched.lock)``) is held, so the census of running agents taken here is
   the one the start decision in step 5 acts on. Nothing up to step 2 loads more than deciding
   it needs (no ``re``, ``json``'s Python modules, ``contextlib``, ``datetime.py``):
   everything before the worktree add is time the checkout has not started;
2. ``git worktree add --lock`` on a new branch ``flower/<N>-<slug>`` starts (and then ``git
   var``, for the records' identity): the checkout is the long step, and everything up to step 5
   happens while it runs. It is waited for, and its failure reported, before dispatch returns;
   should the claim fail, the new worktree and branch are removed again. (An existing branch is
   reused: rework, with the drift of its base from the target reported; that worktree is found
   or made after the claim.)
3. claim ``refs/flower/dispatch/<N>/<k>`` create-only (state ``preparing``): a brief has at most
   one live dispatch, and two dispatchers racing for the same attempt cannot both win (exit 4);
4. render the packet file and the local start spec (the argv that will run; kept under the
   machine-local state dir, never in a ref, so a record fetched from a remote can't run anything);
5. the scheduler step: queued dispatches start oldest-first while fewer than ``max_parallel``
   agents run; then this one starts (its supervisor is spawned and named in the record) or
   joins the queue, to be started by the supervisor of whichever agent ends next. Its record
   (``running`` or ``queued``) and the brief's status (→ ``dispatched``, forward only) are
   written together: one ``unpack-objects``, one ``update-ref`` transaction;
6. once the worktree is there, the ready mark: the supervisor, which has been waiting for it
   (a fork of this process when it is the command line, see :func:`_spawn_supervisor`), then
   starts the agent.
"""

from __future__ import annotations

import os
import sys
import time

from flowergit import failpoints, fastjson
from flowergit.errors import Conflict, FlowerError, NotFound, ResourceExhausted, Retry, UsageError
from flowergit.gitio import objects, refs, runner
from flowergit.gitio.runner import GitError
from flowergit.ops.liveness import view_state
from flowergit.procs.locks import exclusive
from flowergit.state import records
from flowergit.state.dispatches import PREFIX, DispatchStore, dispatch_name, learn
from flowergit.state.ids import is_brief_id
from flowergit.state.ids import name as check_name
from flowergit.state.layout import BRIEFS_BRANCH, brief_path, dispatch_ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from flowergit.gitio.repo import Repo
    from flowergit.gitio.worktrees import Worktree
    from flowergit.ops.context import Ctx

MAX_SLUG = 40
_SLUG_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
# (no `re` before the worktree add has started: loading it costs as much as a git process)
LOCK_WAIT = 60.0


# -- small helpers ----------------------------------------------------------------------------
def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def slug(title: str) -> str:
    """An ASCII slug of the title for branch and directory names (``brief`` if nothing is left)."""
    if title.isascii():
        text = title.lower()
    else:
        import unicodedata

        text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    words = "".join(c if c in _SLUG_CHARS else " " for c in text).split()  # the [a-z0-9]+ runs
    out = ""
    for w in words:
        nxt = f"{out}-{w}" if out else w
        if len(nxt) > MAX_SLUG:
            if not out:
                out = w[:MAX_SLUG]
            break
        out = nxt
    return out or "brief"


def branch_name(brief: int, title: str) -> str:
    return f"flower/{brief}-{slug(title)}"


def repo_name(repo: Repo) -> str:
    main = repo.main_worktree
    if main:
        return os.path.basename(main.rstrip("/")) or "repo"
    base = os.path.basename(repo.common_dir.rstrip("/"))
    if base == ".git":
        base = os.path.basename(os.path.dirname(repo.common_dir.rstrip("/")))
    return base.removesuffix(".git") or "repo"


def worktree_root(ctx: Ctx) -> str:
    """``[flower] worktrees`` with ``{repo}`` filled, relative to the main checkout."""
    repo = ctx.repo
    pattern = str(ctx.config.get("flower", "worktrees"))
    text = pattern.replace("{repo}", repo_name(repo))
    anchor = repo.main_worktree or os.path.dirname(repo.common_dir.rstrip("/"))
    return os.path.normpath(os.path.join(anchor, os.path.expanduser(text)))


def state_file(repo: Repo, kind: str, did: str, ext: str) -> str:
    d = repo.state_path(kind)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, f"{did}.{ext}")


def spec_path(repo: Repo, did: str) -> str:
    return state_file(repo, "run", did, "json")


def ready_path(repo: Repo, did: str) -> str:
    return repo.state_path("run", f"{did}.ready")


def mark_ready(repo: Repo, did: str, error: str | None = None) -> None:
    """Say whether dispatch ``did``'s worktree is ready (its supervisor waits for this)."""
    write_file(ready_path(repo, did), "ok\n" if error is None else f"failed\n{error}\n")


def read_ready(repo: Repo, did: str) -> tuple[bool, str] | None:
    """(ready, error) once the dispatcher has said, else None."""
    try:
        with open(ready_path(repo, did), encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    if text.startswith("ok"):
        return True, ""
    if text.startswith("failed"):
        return False, text.partition("\n")[2].strip()
    return None


def log_file(repo: Repo, did: str) -> str:
    """Where this machine keeps dispatch ``did``'s log. Paths are always computed here, never
    taken from a record (records can arrive from a remote)."""
    return repo.state_path("logs", f"{did}.log")


def packet_file(repo: Repo, did: str) -> str:
    return repo.state_path("packets", f"{did}.md")


def our_branch(brief: int, branch: object) -> str | None:
    """``branch`` if it is a dispatch branch of ``brief`` (``flower/<brief>-<slug>``, that is
    ``flower/([1-9][0-9]{0,8})-[a-z0-9]+(-[a-z0-9]+)*``, at most 60 characters), else None: a
    record naming any other branch (``main``, ``../x``, ``--opt``) is never acted on."""
    if not isinstance(branch, str) or len(branch) > 60 or not branch.startswith("flower/"):
        return None
    num, dash, rest = branch[7:].partition("-")
    if not dash or not is_brief_id(num) or int(num) != brief:
        return None
    return branch if all(w and not w.strip(_SLUG_CHARS) for w in rest.split("-")) else None


# -- the scheduler -------------------------------------------------------------------------
def sched_lock(repo: Repo, wait: float = LOCK_WAIT) -> exclusive:
    """The per-machine scheduler lock, held (``with sched_lock(repo):``, or until its
    ``release()``): check-then-start is atomic on this machine."""
    return exclusive(repo.state_path("sched.lock"), wait=wait,
                     busy=lambda: Retry("the dispatch scheduler lock is busy",
                                        "another git flower is starting agents; retry"))


def supervisor_args(did: str, ready: str | None = None,
                    dispatcher: dict[str, Any] | None = None) -> list[str]:
    """The supervisor's arguments (``python -m flowergit.ops.supervise ARGS``, or
    ``supervise.main(ARGS)`` in a fork). With ``ready`` and the ``dispatcher``'s identity it
    waits for that file (or that process's end) before it loads anything: its dispatcher is
    still checking the worktree out."""
    args = [did]
    if ready and dispatcher:
        args += [ready, f"{dispatcher.get('pid')}:{dispatcher.get('start')}"]
    return args


def _base_env() -> dict[str, str]:
    """The supervisor's environment: the agent's base (no git per-repository variables, no
    other agent's FLOWER_*), keeping the test switches that reach flower's own processes."""
    from flowergit.procs import agents

    keep = {k: os.environ[k] for k in ("FLOWER_FAILPOINTS",) if k in os.environ}
    return agents.agent_env(os.environ, keep)


def _spawn_supervisor(repo: Repo, did: str, dispatcher: dict[str, Any] | None = None,
                      fork: bool = False) -> tuple[int, dict[str, Any]]:
    """Start dispatch ``did``'s supervisor, detached; (pid, identity). It does nothing until a
    record names it as the supervisor and the worktree is ready; with the ``dispatcher`` (still
    making that worktree) named, it waits for the ready mark before it even loads its code.
    ``fork``: the dispatcher is a command that ends once it has dispatched, so the supervisor
    can be a copy of it (where it has one thread only)."""
    from flowergit.procs import spawn

    args = supervisor_args(did, ready_path(repo, did), dispatcher)
    if dispatcher is not None and fork and spawn.can_fork():
        # a copy of this process, which has loaded what the supervisor needs: no interpreter
        # to start, no code to load, while the worktree is being checked out next to it
        env = _base_env()

        def child() -> int:
            from flowergit.ops import supervise

            return supervise.main(args, env=env)

        pid = spawn.fork_detached(child, cwd=repo.common_dir, log=log_file(repo, did))
    else:
        pid = spawn.spawn_detached([sys.executable, "-m", "flowergit.ops.supervise", *args],
                                   cwd=repo.common_dir, env=_base_env(),
                                   log=log_file(repo, did))
    ident = spawn.identity(pid) or {"host": spawn.host(), "boot_id": spawn.boot_id(),
                                    "pid": pid, "start": 0}
    return pid, ident


def _kill(pid: int) -> None:
    import signal as _signal

    try:
        os.kill(pid, _signal.SIGKILL)
    except ProcessLookupError:
        pass


def _running(rec: dict[str, Any], ident: dict[str, Any]) -> dict[str, Any]:
    new = dict(rec)
    new.update(state="running", started_at=now_iso(), supervisor=ident, pid=None, pgid=None,
               proc=None)
    return new


def _start(ctx: Ctx, head: records.Head) -> dict[str, Any] | None:
    """Start one queued dispatch: spawn its supervisor, then CAS the record to ``running``
    naming that supervisor (it waits for that before it starts the agent)."""
    repo = ctx.repo
    rec = head.record
    did = str(rec["id"])
    if not os.path.exists(spec_path(repo, did)):
        return None  # claimed on another machine: only that machine can start it
    pid, ident = _spawn_supervisor(repo, did)
    new = _running(rec, ident)
    try:
        records.append(repo, head, new, f"dispatch {did}: running")
        return new
    except refs.CasLost:
        _kill(pid)
        return None


def _census(heads: list[records.Head], now: float) -> tuple[int, list[records.Head]]:
    """(agents running on this machine, queued dispatches oldest first). The cap is per
    machine: agents elsewhere do not count."""
    from flowergit.procs import spawn

    host = spawn.host()
    running = 0
    waiting: list[records.Head] = []
    for h in heads:
        st = view_state(h.record, now)
        if st in ("running", "waiting") and (h.record.get("supervisor") or {}).get("host", host) == host:
            running += 1
        elif st == "queued":
            waiting.append(h)
    waiting.sort(key=_queue_order)
    return running, waiting


def _queue_order(h: records.Head) -> tuple[int, str]:
    return int(h.record.get("queued_ns") or 0), str(h.record.get("id"))


def dispatch_cache(repo: Repo) -> str:
    """The local cache of dispatch records (content-addressed: never stale)."""
    return repo.state_path("cache", "dispatches.json")


def all_dispatches(repo: Repo, known: tuple[records.Head, ...] = ()) -> list[records.Head]:
    """Every dispatch record, read through the local content-addressed cache; ``known`` are
    records this process wrote itself (their commits need no read)."""
    return DispatchStore(repo).all_cached(dispatch_cache(repo), known)


def schedule(ctx: Ctx, mine: tuple[int, int] | None = None,
             known: tuple[records.Head, ...] = ()) -> dict[str, Any]:
    """One scheduler step. ``mine`` is a dispatch this process just prepared (``preparing``, as
    :func:`resume_dispatch` leaves it): it joins the queue (and starts now if a slot is free and
    nothing older waits). ``known``: records this process just wrote (the cache learns them
    without reading them back)."""
    repo = ctx.repo
    cap = int(ctx.config.get("flower", "max_parallel"))
    started: list[str] = []
    started_recs: dict[str, dict[str, Any]] = {}
    with sched_lock(repo):
        heads = all_dispatches(repo, known)
        running, waiting = _census(heads, time.time())
        mine_head = next((h for h in heads if mine and h.record.get("state") == "preparing"
                          and (h.record.get("brief"), h.record.get("attempt")) == mine), None)
        if mine_head is not None:
            waiting.append(mine_head)
            waiting.sort(key=_queue_order)
        for h in waiting:
            if running >= cap:
                break
            got = _start(ctx, h)
            if got is not None:
                running += 1
                started.append(str(h.record["id"]))
                started_recs[str(h.record["id"])] = got
        mine_rec: dict[str, Any] | None = None
        if mine_head is not None and str(mine_head.record["id"]) not in started:
            mine_rec = dict(mine_head.record)
            mine_rec["state"] = "queued"
            records.append(repo, mine_head, mine_rec, f"dispatch {mine_rec['id']}: queued")
        elif mine_head is not None:
            mine_rec = started_recs.get(str(mine_head.record["id"]))
        queue = [str(h.record["id"]) for h in waiting if str(h.record["id"]) not in started]
    return {"started": started, "running": running, "cap": cap, "queue": queue, "mine": mine_rec}


# -- packets -------------------------------------------------------------------------------
def template_text(name: str) -> str:
    """A packet template: shipped in the wheel as ``flowergit/templates``, or the repository's
    ``templates/`` for an editable install; ``importlib.resources`` for anything else (a zip)."""
    import flowergit

    pkg = os.path.dirname(os.path.abspath(flowergit.__file__))
    for path in (os.path.join(pkg, "templates", name),
                 os.path.join(os.path.dirname(pkg), "templates", name)):
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except OSError:
            continue
    from importlib import resources

    try:
        return resources.files("flowergit").joinpath("templates", name).read_text(encoding="utf-8")
    except (OSError, ModuleNotFoundError):
        raise FlowerError(f"packet template {name} is missing from this installation",
                          "reinstall git flower") from None


_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz_"


def fill(template: str, values: dict[str, str]) -> str:
    """One pass of ``{{name}}`` replacement (``name`` of ``[a-z_]+``): inserted text is never
    scanned again, and a name without a value is left as it is."""
    out: list[str] = []
    i = 0
    while True:
        j = template.find("{{", i)
        k = template.find("}}", j + 2) if j >= 0 else -1
        if k < 0:
            out.append(template[i:])
            return "".join(out)
        name = template[j + 2:k]
        if name and not name.strip(_TOKEN_CHARS):
            out += [template[i:j], values.get(name, template[j:k + 2])]
            i = k + 2
        else:  # not a token here: what follows this "{" may start one
            out.append(template[i:j + 1])
            i = j + 1


def _fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text``."""
    n = 4
    while "`" * n in text:
        n += 1
    return "`" * n


def render_packet(*, brief: Any, did: str, branch: str, worktree: str, target: str, base: str,
                  agent: str, rework: dict[str, Any] | None, resumed: bool = False) -> str:
    body = brief.body
    fence = _fence(body + brief.title)
    if rework:
        drift = (f"This is attempt {did}: rework of brief {brief.id} on its existing branch "
                 f"`{branch}`, which already holds {rework['ahead']} commit(s) of earlier work. "
                 f"Since that work's base, `{target}` has moved {rework['behind']} commit(s) "
                 f"ahead (base {rework['base'][:12]}, `{target}` now at {rework['target'][:12]}).")
        if rework["behind"]:
            drift += (f" Bring the branch up to date with `{target}` (merge or rebase it in this "
                      "worktree) before you continue, and resolve any conflicts.")
        rework_text = "## Rework\n\n" + drift + "\n"
    else:
        rework_text = ""
    resume_text = ("## Resumed\n\nThis dispatch was interrupted and is now continued in the same "
                   "worktree: the work already there is yours; carry on from it.\n") if resumed else ""
    values = {
        "id": did, "brief": str(brief.id), "kind": brief.kind, "branch": branch,
        "worktree": worktree, "target": target, "base": base, "agent": agent,
        "title": brief.title, "body": body, "fence": fence,
        "rework": rework_text, "resumed": resume_text, "flower": _shell_word(flower_bin()),
    }
    return fill(template_text("packet.md"), values)


def flower_bin() -> str:
    """The absolute path of git-flower (``FLOWER_BIN`` in the agent's environment)."""
    from flowergit.procs.agents import flower_executable

    return flower_executable()


def _shell_word(text: str) -> str:
    """``text`` as one word of a POSIX shell command (quoted only where it needs it): what
    ``shlex.quote`` does, without loading ``re`` on dispatch's path (tests/test_layers.py)."""
    safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_"
    if text and all(c in safe for c in text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def write_file(path: str, text: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)
    os.replace(tmp, path)


# -- worktrees -----------------------------------------------------------------------------
class _Adding:
    """A ``git worktree add`` running while the caller does other work; :meth:`result` waits
    for it (a worktree deleted by hand is forgotten and the add tried again, and the errors
    a user can act on are said as such)."""

    def __init__(self, repo: Repo, args: list[str]) -> None:
        self.repo = repo
        self.args = args
        self.started = self._start()

    def _start(self) -> runner.Started:
        return runner.start(["--git-dir", self.repo.git_dir, "worktree", "add", "--quiet",
                             *self.args])

    def done(self) -> bool:
        return self.started.done()

    def result(self) -> None:
        for attempt in (0, 1):
            try:
                self.started.result()
                return
            except GitError as e:
                err = e.err
                if attempt == 0 and ("missing but" in err or "already registered" in err):
                    # a worktree deleted by hand: forget it, then retry
                    forget_worktree(self.repo, self.args[self.args.index("--end-of-options") + 1],
                                    True)
                    self.started = self._start()
                    continue
                if "already checked out" in err or "is already used by worktree" in err:
                    where = err.strip().splitlines()[-1].split(" at ")[-1].strip("'")
                    raise Conflict(f"the branch is already checked out at {where}",
                                   f"switch that worktree to another branch (`git -C {where} "
                                   "switch --detach`), then dispatch again") from None
                if "already exists" in err:
                    raise Conflict(f"cannot create the worktree: {err.strip().splitlines()[-1]}",
                                   "move that directory away, or set [flower] worktrees in "
                                   ".flower.toml") from None
                raise


def _worktree_add(ctx: Ctx, args: list[str]) -> None:
    _Adding(ctx.repo, args).result()


def _worktree_parent(path: str) -> None:
    """Make the directory a dispatch's worktree goes in; a file where ``[flower] worktrees``
    wants a directory is the user's to move, named as such."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"cannot make worker worktrees under {os.path.dirname(path)}: a file "
                         "is in the way", "move that file, or set `[flower] worktrees` in "
                         ".flower.toml to a directory") from None


def start_new_worktree(ctx: Ctx, did: str, branch: str, path: str, base: str) -> _Adding:
    """Start making dispatch ``did``'s locked worktree on a new ``branch`` at ``base``."""
    _worktree_parent(path)
    return _Adding(ctx.repo, ["--lock", "--reason", f"git flower dispatch {did}", "-b", branch,
                              "--end-of-options", path, base])


def worktrees(repo: Repo) -> list[Worktree]:
    """``git worktree list`` (gitio retries it while another process is half-way through
    ``git worktree add``)."""
    from flowergit.gitio.worktrees import list_worktrees

    return list_worktrees(repo)


def forget_worktree(repo: Repo, path: str, locked: bool) -> None:
    """Drop the registration of a worktree whose directory was deleted by hand."""
    if os.path.exists(path):
        return
    if locked:
        repo.git(["worktree", "unlock", "--end-of-options", path], check=False)
    repo.git(["worktree", "prune"], check=False)


def ensure_worktree(ctx: Ctx, did: str, branch: str, path: str, base: str | None) -> str:
    """Create (or, for an existing branch, find or re-create) the dispatch's locked worktree."""
    repo = ctx.repo
    reason = f"git flower dispatch {did}"
    if base is not None:  # a new branch
        start_new_worktree(ctx, did, branch, path, base).result()
        return path
    _worktree_parent(path)
    for wt in worktrees(repo):
        if wt.branch != f"refs/heads/{branch}":
            continue
        if wt.prunable is not None or not os.path.isdir(wt.path):
            forget_worktree(repo, wt.path, bool(wt.locked is not None))
            break
        ours = (wt.locked or "").startswith("git flower dispatch")
        if not ours and os.path.realpath(wt.path) != os.path.realpath(path):
            raise Conflict(f"branch {branch} is already checked out at {wt.path}",
                           f"switch that worktree to another branch (`git -C {wt.path} switch "
                           "--detach`), then dispatch again")
        if wt.locked is not None:
            repo.git(["worktree", "unlock", "--end-of-options", wt.path], check=False)
        repo.git(["worktree", "lock", "--reason", reason, "--end-of-options", wt.path])
        return wt.path
    _worktree_add(ctx, ["--lock", "--reason", reason, "--end-of-options", path, branch])
    return path


def _remove_worktree(repo: Repo, path: str, branch: str) -> None:
    """Undo what :func:`ensure_worktree` made for a new branch: the worktree and the branch (no
    one else has seen either)."""
    repo.git(["worktree", "remove", "--force", "--force", "--end-of-options", path], check=False)
    repo.git(["branch", "-D", "--end-of-options", branch], check=False)


def _drop_new_branch(repo: Repo, branch: str, base: str) -> None:
    """On a full disk `branch -D` fails: checking the old value makes git rewrite packed-refs.
    A branch this dispatch just made, still at ``base`` and checked out nowhere, goes with a
    plain delete (only its loose file), so a failed dispatch leaves no branch behind."""
    ref = f"refs/heads/{branch}"
    if refs.read(repo, ref) != base:
        return
    if any(w.branch == ref for w in worktrees(repo)):
        return
    repo.git(["update-ref", "--no-deref", "-d", "--end-of-options", ref], check=False)


def drift(repo: Repo, branch_oid: str, target_oid: str | None) -> dict[str, Any]:
    """How far the branch and the target have gone apart since the branch's base."""
    if target_oid is None:
        return {"base": branch_oid, "target": "", "ahead": 0, "behind": 0}
    res = repo.git(["merge-base", "--end-of-options", branch_oid, target_oid], check=False)
    base = res.out.strip() if res.ok and res.out.strip() else target_oid
    counts = repo.git(["rev-list", "--left-right", "--count", "--end-of-options",
                       f"{target_oid}...{branch_oid}"], check=False).out.split()
    behind, ahead = (int(c) for c in counts) if len(counts) == 2 and all(
        c.isdigit() for c in counts) else (0, 0)
    return {"base": base, "target": target_oid, "ahead": ahead, "behind": behind}


def resolve_commit(repo: Repo, rev: str) -> str:
    if not rev or rev.startswith("-") or "\n" in rev or "\0" in rev:
        raise UsageError(f"invalid revision {rev!r}")
    oid = refs.read(repo, rev + "^{commit}")
    if oid is None:
        raise NotFound(f"no commit named {rev!r}", "give --base a branch, tag or commit id")
    return oid


# -- dispatch ------------------------------------------------------------------------------
def _me() -> dict[str, Any] | None:
    from flowergit.procs import spawn

    return spawn.identity(os.getpid())


def _supersede(r: dict[str, Any]) -> dict[str, Any] | None:
    if r.get("state") != "preparing":
        return None
    return {**r, "state": "failed", "outcome": "lost", "ended_at": now_iso(),
            "error": "the dispatcher was interrupted while preparing"}


def _to_dispatched(raw: bytes) -> bytes | None:
    """The brief's status → ``dispatched``, forward only (None: nothing to change)."""
    from flowergit.state import brief as codec

    cur = codec.parse(raw).status
    if cur == "dispatched" or codec.ORDER.get(cur, -1) > codec.ORDER["dispatched"]:
        return None
    return codec.with_status(raw, "dispatched")


def _mark_dispatched(ctx: Ctx, brief: int, why: str) -> None:
    """The brief's status → ``dispatched`` through the store's own re-read-and-retry path (what
    ``brief set`` does, without reading the brief back afterwards)."""
    ctx.briefs().update(brief, _to_dispatched, f"brief {brief}: dispatched ({why})")


def dispatch(ctx: Ctx, brief: int, *, agent: str | None = None, base: str | None = None,
             rework: bool = False, resume: bool = False, use_tmux: bool = False,
             meanwhile: Callable[[], object] | None = None,
             fork_supervisor: bool = False) -> dict[str, Any]:
    """Dispatch ``brief`` (see the module's docstring). ``meanwhile``: called once everything
    else is done and only the checkout is left to wait for (the CLI loads its renderer there).
    ``fork_supervisor``: this process ends after dispatching (the command line), so the
    supervisor may start as a copy of it (see :func:`_spawn_supervisor`)."""
    repo = ctx.repo
    # state.journal.directory(repo), without importing the journal module: it exists only
    # while a merge is in flight (or needs recovering), and then the full check runs
    if os.path.isdir(repo.state_path("journal")):
        from flowergit.ops.recover import refuse_if_pending

        refuse_if_pending(ctx, beside_merge=True)
    if resume:
        if agent or base or rework:
            raise UsageError("--resume continues an attempt as it was; it takes no --agent, "
                             "--base or --rework")
        return resume_dispatch(ctx, brief, use_tmux=use_tmux)
    store = DispatchStore(repo)
    bstore = ctx.briefs()
    target = ctx.config.target
    cap = int(ctx.config.get("flower", "max_parallel"))
    tip = bstore.tip()  # resolved at discovery
    if tip is None:
        bstore.require_tip()
    assert tip is not None
    cache = dispatch_cache(repo)
    held: exclusive | None = None
    listing: runner.Started | None = None
    reading: runner.Started | None = None
    identity: runner.Started | None = None
    adder: _Adding | None = None
    supervisor: int | None = None
    try:
        # two reads at once, each a git process of its own: the brief with the trees on its
        # path (cat-file --batch) and, once the scheduler lock is held, every dispatch ref
        # with the target and the brief's branches (for-each-ref). The lock is held from that
        # census of running agents to the record that starts this one (or queues it): every
        # start on this machine happens under it, so the census stays true
        reading = bstore.preread_start(brief, tip)
        held = sched_lock(repo)
        listing = store.list_tips_start([f"refs/heads/{target}", f"refs/heads/flower/{brief}-*"])
        # meanwhile, here: the code that judges what they return loads, and the config's trust
        # is looked up (a profile of its own is what a config with [agents] is for)
        from flowergit.procs import agents
        from flowergit.state import brief as codec
        from flowergit.state import quicktoml  # noqa: F401 - loaded now, used by the codec

        trusted = _trusted(ctx) if ctx.config.agents else None
        pre = bstore.preread_finish(brief, tip, reading)
        b = codec.parse(pre.raw, f"{BRIEFS_BRANCH}:{brief_path(brief)}")
        if b.status in ("merged", "abandoned"):
            raise Conflict(f"brief {brief} is {b.status}; there is nothing to dispatch",
                           f"file a new brief, or `git flower brief set {brief} status=planned`")
        if b.run or (b.agent and not agent):
            from flowergit.ops import trust as brief_trust

            # the commands a brief carries run only once this machine wrote or approved them
            brief_trust.require_brief(ctx, brief, {"run": b.run, "agent": b.agent})
        name = check_name(agent or b.agent or str(ctx.config.get("flower", "default_agent")),
                          "agent")
        profile = agents.resolve(name, ctx.config.agents)
        if not profile.builtin and not (trusted if trusted is not None else _trusted(ctx)):
            from flowergit.ops import trust

            trust.require(ctx, f"agent command [agents.{name}]")  # says why, with the hint
        use_tmux = use_tmux or profile.tmux  # a profile may ask for a terminal (tick, run)
        if use_tmux:
            from flowergit.procs import tmux

            tmux.available()
        tips, heads_of = store.list_tips_finish(listing)
        heads = store.cached(tips, cache)
        prefix = f"{PREFIX}{brief}/"
        attempts = sorted((h for h in heads if h.ref.startswith(prefix)),
                          key=lambda h: int(h.record.get("attempt", 0)))
        now = time.time()
        for h in reversed(attempts):
            st = view_state(h.record, now)
            if st == "lost" and h.record.get("state") == "preparing":
                # its dispatcher died before the agent was ever started: supersede it
                store.update(brief, int(h.record["attempt"]), _supersede, "failed (interrupted)")
                continue
            if st == "lost":
                raise Conflict(f"dispatch {h.record['id']} was interrupted (its processes are gone)",
                               f"`git flower dispatch {brief} --resume` continues it; "
                               f"`git flower stop {brief}` gives it up")
            if st in ("preparing", "queued", "running", "waiting"):
                raise Conflict(f"brief {brief} already has a live dispatch {h.record['id']} ({st})",
                               f"`git flower wait {brief}` waits for it; `git flower stop {brief}` "
                               "ends it")
        attempt = (int(attempts[-1].record.get("attempt", 0)) if attempts else 0) + 1
        did = dispatch_name(brief, attempt)
        ref = dispatch_ref(brief, attempt)
        branch = (our_branch(brief, attempts[-1].record.get("branch")) if attempts else None) \
            or branch_name(brief, b.title)
        target_oid = heads_of.get(f"refs/heads/{target}")
        branch_oid = heads_of.get(f"refs/heads/{branch}")
        rework_info: dict[str, Any] | None = None
        if branch_oid is not None:
            if base:
                raise UsageError(f"--base applies to a new branch; {branch} already exists",
                                 f"rework continues it; `git flower clean {brief}` drops a merged one")
            rework_info = drift(repo, branch_oid, target_oid)
            base_oid = str(rework_info["base"])
        else:
            if rework:
                raise NotFound(f"brief {brief} has no branch to rework ({branch} does not exist)",
                               f"dispatch it without --rework: `git flower dispatch {brief}`")
            if base is None and target_oid is None:
                raise NotFound(f"the target branch {target} has no commits",
                               "commit something first, or give --base REV")
            base_oid = resolve_commit(repo, base) if base else str(target_oid)
        root = worktree_root(ctx)
        path = os.path.join(root, branch.split("/", 1)[1])
        if rework_info is None:
            # `git worktree add` (checkout-bound) starts now and runs while the claim, the
            # packet, the start spec and the records are written: they need the path, not the
            # files. A new branch and worktree are this dispatch's own until it has claimed the
            # attempt: should the claim fail, both are removed again (the branch did not exist)
            adder = start_new_worktree(ctx, did, branch, path, base_oid)
        identity = repo.var_list_start()  # who the records are written by (git var)
        log = state_file(repo, "logs", did, "log")
        packet = state_file(repo, "packets", did, "md")
        from flowergit.procs import spawn

        rec: dict[str, Any] = {
            "v": 1, "id": did, "brief": brief, "attempt": attempt,
            "state": "preparing", "agent": name, "branch": branch, "worktree": path,
            "base": base_oid, "target": target, "rework": rework_info is not None,
            "drift": rework_info, "tmux": bool(use_tmux), "title": b.title,
            "queued_at": now_iso(), "queued_ns": time.time_ns(), "started_at": None,
            "ended_at": None, "exit_code": None, "signal": None, "pid": None, "pgid": None,
            "proc": None, "supervisor": None, "log": log, "packet": packet,
            "by": os.environ.get("FLOWER_DAEMON") and f"daemon {os.environ['FLOWER_DAEMON']}"
            or f"{spawn.host()}:{os.getpid()}",
            "by_proc": _me(), "daemon": os.environ.get("FLOWER_DAEMON"),
        }
        running, waiting = _census(heads, now)
        try:
            os.unlink(ready_path(repo, did))  # left by an attempt of that name whose ref is gone
        except OSError:
            pass
        # the scheduler step: older queued dispatches first, then this one if a slot is left
        started: list[str] = []
        for h in waiting:
            if running >= cap:
                break
            if _start(ctx, h) is not None:
                running += 1
                started.append(str(h.record["id"]))
        new = dict(rec)
        if running < cap:
            # named in the record below; until it is (and the worktree is ready) it only waits
            supervisor, ident = _spawn_supervisor(repo, did, rec["by_proc"], fork_supervisor)
            new = _running(new, ident)
            running += 1
        else:
            new["state"] = "queued"
        # every object of the two writes at once: the claim (``preparing``), the record that
        # follows it (``running`` or ``queued``) and the brief's status change
        message = f"dispatch {did}: {new['state']}"
        writer = objects.Writer(repo)
        claimed = records.add_commit(writer, rec, None, f"dispatch {did}: preparing")
        moved = records.add_commit(writer, new, claimed, message)
        status_op = bstore.plan_update(pre, _to_dispatched,
                                       f"brief {brief}: dispatched (dispatch {did})", writer)
        writer.flush()
        failpoints.hit("dispatch_before_claim")
        try:
            refs.transaction(repo, [refs.create(ref, claimed)], f"dispatch {did}: preparing")
        except refs.CasLost:
            records.raise_if_corrupt(repo, ref)  # a ref that is no record chain: no race
            raise Conflict(f"dispatch {did} was just claimed by another process",
                           f"`git flower ps` shows it; `git flower wait {brief}` waits for it") from None
    except BaseException:
        import contextlib

        if held is not None:
            held.release()
        if supervisor is not None:
            _kill(supervisor)  # never named in a record: nothing else would stop it
        for read in (listing, reading, identity):
            if read is not None:
                with contextlib.suppress(BaseException):
                    read.result(check=False)
        if adder is not None:
            try:
                adder.result()
            except Conflict:  # the branch or the directory is someone else's
                pass
            except GitError:  # `-b` may have made the branch before the checkout failed
                _remove_worktree(repo, path, branch)
            except BaseException:  # noqa: BLE001 - it made nothing
                pass
            else:
                _remove_worktree(repo, path, branch)
            if isinstance(sys.exc_info()[1], ResourceExhausted):
                _drop_new_branch(repo, branch, base_oid)
        raise
    head = records.Head(ref, claimed, rec)
    failpoints.hit("dispatch_after_claim")
    prev_status = b.status
    status_set = scheduled = False
    try:
        if adder is None:
            path = ensure_worktree(ctx, did, branch, path, None)
            if path != new["worktree"]:  # the branch's worktree is elsewhere: that one it is
                new["worktree"] = path
                writer = objects.Writer(repo)
                moved = records.add_commit(writer, new, claimed, message)
                writer.flush()
        write_file(packet, render_packet(brief=b, did=did, branch=branch, worktree=path,
                                         target=target, base=base_oid, agent=name,
                                         rework=rework_info))
        bootstrap = agents.bootstrap_line(packet)
        argv = agents.render_argv(profile.command, {
            "{bootstrap}": bootstrap, "{packet}": packet, "{brief}": str(brief),
            "{worktree}": path})
        spec = {"v": 1, "id": did, "argv": argv, "env": dict(profile.env),
                "timeout": profile.timeout, "worktree": path, "log": log, "packet": packet,
                "tmux": bool(use_tmux), "daemon": os.environ.get("FLOWER_DAEMON"),
                **profile.spec()}
        write_file(spec_path(repo, did), fastjson.dumps(spec, ensure_ascii=False))
        failpoints.hit("dispatch_before_start")
        if adder is not None and adder.done():
            adder.result()  # the checkout failed already: nothing to start
        ops = [refs.update(ref, moved, claimed)]
        if status_op is not None:
            ops.append(status_op[0])
        try:
            refs.transaction(repo, ops, message)
        except refs.CasLost:
            # the briefs branch moved since it was read (or this record did): the record alone,
            # then the status through the store's re-read-and-retry path
            try:
                refs.transaction(repo, [refs.update(ref, moved, claimed)], message)
            except refs.CasLost:
                raise Conflict(f"dispatch {did} changed while it was being started",
                               "`git flower ps` shows it now") from None
            if status_op is not None:
                _mark_dispatched(ctx, brief, f"dispatch {did}")
        status_set = status_op is not None
        head = records.Head(ref, moved, new)
        scheduled = True
        supervisor = None  # named in the record: from here it is the record's to stop
        held.release()
        learn(cache, [head])  # the next census need not read what was just written
        if meanwhile is not None:
            meanwhile()
        if adder is not None:
            adder.result()
            adder = None
        mark_ready(repo, did)
    except BaseException as e:
        import contextlib

        held.release()
        if supervisor is not None:
            _kill(supervisor)  # spawned, never named in a record: nothing else will stop it
        if adder is not None:
            with contextlib.suppress(BaseException):
                adder.result()
        msg = e.message if isinstance(e, FlowerError) else f"{type(e).__name__}: {e}"
        with contextlib.suppress(OSError):
            mark_ready(repo, did, msg)  # a supervisor already started gives up
        with contextlib.suppress(Exception):
            store.update(brief, attempt, lambda r: {**r, "state": "failed", "error": msg,
                                                    "ended_at": now_iso()}, "failed")
        if status_set and prev_status != "dispatched":
            from flowergit.ops import briefs as ops_briefs

            with contextlib.suppress(Exception):
                ops_briefs.set_status(ctx, brief, prev_status, forward_only=False,
                                      why=f"dispatch {did} failed")
        with contextlib.suppress(OSError):
            os.unlink(spec_path(repo, did))
        if scheduled:
            with contextlib.suppress(Exception):
                schedule(ctx)  # the slot it took is free again
        raise
    out = dict(head.record)
    out["argv"] = argv
    out["queue"] = [str(h.record["id"]) for h in waiting if str(h.record["id"]) not in started]
    if new["state"] == "queued":
        out["queue"].append(did)
    out["cap"] = cap
    return out


def _trusted(ctx: Ctx) -> bool:
    """Is the config trusted on this machine? (``ops.trust.require`` says why not, but brings
    difflib for the diff it shows.)"""
    from flowergit.state import trust as trusted

    cfg = ctx.config
    return cfg.path is None or trusted.is_trusted(cfg.path, cfg.raw)


def resume_dispatch(ctx: Ctx, brief: int, *, use_tmux: bool = False) -> dict[str, Any]:
    """Continue an interrupted (lost) or stopped attempt in its own worktree."""
    repo = ctx.repo
    store = DispatchStore(repo)
    head = store.latest(brief)
    if head is None:
        raise NotFound(f"brief {brief} has never been dispatched", f"`git flower dispatch {brief}`")
    rec = head.record
    did = str(rec["id"])
    st = view_state(rec)
    if st not in ("lost", "stopped"):
        raise Conflict(f"dispatch {did} is {st}; only a lost or stopped dispatch can be resumed",
                       f"`git flower dispatch {brief}` starts a new attempt" if st not in
                       ("queued", "running", "waiting", "preparing") else f"`git flower wait {brief}`")
    wt = str(rec.get("worktree") or "")
    if not wt or not os.path.isdir(wt):
        raise NotFound(f"the worktree of dispatch {did} is missing ({wt})",
                       f"`git flower dispatch {brief}` re-creates it on the same branch")
    spec_file = spec_path(repo, did)
    try:
        with open(spec_file, encoding="utf-8") as f:
            spec = fastjson.load(f)
    except (OSError, ValueError):
        raise NotFound(f"dispatch {did} was not started on this machine; nothing to resume here",
                       f"`git flower dispatch {brief}` starts a new attempt") from None
    if use_tmux != bool(spec.get("tmux")):
        spec["tmux"] = bool(use_tmux)
        write_file(spec_file, fastjson.dumps(spec, ensure_ascii=False))
    packet = str(spec.get("packet") or packet_file(repo, did))
    if os.path.exists(packet):
        with open(packet, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        if "## Resumed" not in text:
            write_file(packet, text.rstrip("\n") + "\n\n## Resumed\n\nThis dispatch was "
                       "interrupted and is now continued in the same worktree: the work already "
                       "there is yours; carry on from it.\n")
    from flowergit.procs.spawn import log_line

    log_line(str(spec.get("log") or log_file(repo, did)), f"resuming dispatch {did}")

    def change(r: dict[str, Any]) -> dict[str, Any] | None:
        if view_state(r) not in ("lost", "stopped"):
            raise Conflict(f"dispatch {did} changed while resuming it ({r.get('state')})")
        kept = {k: v for k, v in r.items() if k not in ("outcome", "error", "waiting")}
        return {**kept, "state": "preparing", "resumed": int(r.get("resumed") or 0) + 1,
                "queued_at": now_iso(), "queued_ns": time.time_ns(), "ended_at": None,
                "exit_code": None, "signal": None, "tmux": bool(use_tmux),
                "by_proc": _me()}

    mark_ready(repo, did)
    store.update(brief, int(rec["attempt"]), change, "resume")
    sched = schedule(ctx, mine=(brief, int(rec["attempt"])))
    out = dict(store.get(brief, int(rec["attempt"])).record)  # type: ignore[union-attr]
    out["queue"] = sched["queue"]
    out["cap"] = sched["cap"]
    return out
