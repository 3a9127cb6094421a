"""Daemon operations: check in, beat, list, whoami, retire."""

from __future__ import annotations


from flowergit.errors import UsageError
from flowergit.ops.context import Ctx
from flowergit.state import daemons as store
from flowergit.state import records
from flowergit.state.daemons import DaemonStore, caller

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def lease(ctx: Ctx) -> float:
    return float(ctx.config.get("baton", "lease"))


def _view(ctx: Ctx, rec: dict[str, Any], judge: bool = True) -> dict[str, Any]:
    out = dict(rec)
    out.pop("anchor", None)
    if judge:
        out["liveness"] = store.liveness(ctx.repo, str(rec.get("id")), rec, lease(ctx))
    return out


def checkin(ctx: Ctx, *, role: str, pid: int | None = None, successor_of: str | None = None,
            shell: bool = False, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    ds = DaemonStore(ctx.repo)
    if successor_of is not None:
        pred = ds.require(store.daemon_id(successor_of))
        if pred.record.get("state") == "retired":
            raise UsageError(f"daemon {successor_of} is already retired",
                             "check in without --successor-of, or name the daemon in charge")
    create, floor = _remote_allocation(ctx)
    head = ds.checkin(role=role, pid=pid, successor_of=successor_of,
                      extra={"lease": lease(ctx), **(extra or {})}, create=create, floor=floor)
    out = _view(ctx, head.record, judge=False)
    if shell:
        import shlex

        out["shell"] = f"export FLOWER_DAEMON={shlex.quote(str(head.record['id']))}"
    return out


def _remote_allocation(ctx: Ctx) -> tuple[Any, int]:
    """With a remote configured, daemon ids are claimed there (create-only), as brief ids are:
    daemons on two clones can never share an id, so a baton or a claim naming one is never
    mistaken for the other. Without a remote, ids are allocated locally."""
    from flowergit.gitio import remote as net
    from flowergit.ops import sync as rops

    name = rops.configured(ctx)
    if name is None:
        return None, 0
    taken = net.ls_remote(ctx.repo, name, [store.PREFIX + "*"])
    nums = [int(r.rsplit("/", 1)[-1]) for r in taken
            if r.rsplit("/", 1)[-1].isascii() and r.rsplit("/", 1)[-1].isdigit()
            and len(r.rsplit("/", 1)[-1]) < 10]

    def create(ref: str, rec: dict[str, Any], message: str) -> records.Head:
        return rops.create_record(ctx, name, ref, rec, message, what="daemon id")

    return create, max(nums, default=0)


def beat(ctx: Ctx, did: str | None = None) -> dict[str, Any]:
    d = _require_caller(did)
    head = DaemonStore(ctx.repo).beat(d)
    return _view(ctx, head.record, judge=False)


def list_(ctx: Ctx, *, all_: bool = False) -> list[dict[str, Any]]:
    heads = DaemonStore(ctx.repo).all()
    out = [_view(ctx, h.record) for h in heads]
    if not all_:
        out = [d for d in out if d.get("state") != "retired"]
    return out


def whoami(ctx: Ctx, daemon: str | None = None) -> dict[str, Any]:
    d = _require_caller(daemon)
    head = DaemonStore(ctx.repo).require(d)
    return _view(ctx, head.record)


def retire(ctx: Ctx, did: str, *, daemon: str | None = None, why: str = "") -> dict[str, Any]:
    target = store.daemon_id(did)
    me = caller(daemon)
    ds = DaemonStore(ctx.repo)
    ds.require(target)
    head = ds.retire(target, by=f"daemon {me}" if me else "", why=why)
    return _view(ctx, head.record)


def _require_caller(did: str | None) -> str:
    d = caller(did)
    if d is None:
        raise UsageError("which daemon? give its id, --daemon ID, or set FLOWER_DAEMON",
                         "`eval \"$(git flower daemon checkin --role ROLE --shell)\"` sets it")
    return d


def _worker_worktree(ctx: Ctx, did: str) -> str:
    """A worker daemon's own locked worktree, on its own branch from the target, made as a
    dispatch makes one: it commits there, never in the user's checkout (whose local edits it
    could otherwise commit to the target without the gate)."""
    import os

    from flowergit.gitio.history import commit_of
    from flowergit.ops.dispatch import ensure_worktree, worktree_root

    branch = f"flower/daemon-{did}"
    path = os.path.join(worktree_root(ctx), f"daemon-{did}")
    exists = commit_of(ctx.repo, f"refs/heads/{branch}") is not None
    base = None if exists else commit_of(ctx.repo, f"refs/heads/{ctx.config.target}")
    if not exists and base is None:
        raise UsageError(f"the target branch {ctx.config.target!r} does not exist",
                         "set [flower] target in .flower.toml to an existing branch")
    return ensure_worktree(ctx, f"daemon-{did}", branch, path, base)


def spawn(ctx: Ctx, *, role: str, agent: str, lane: str | None = None,
          successor_of: str | None = None) -> dict[str, Any]:
    """Start ``agent`` as a daemon of ``role``: its charter rendered into a packet file, the
    agent's argv carrying only the bootstrap line, in its own session with a log file."""
    import os

    from flowergit.ops.continuity import charter
    from flowergit.ops.dispatch import write_file
    from flowergit.procs import agents, identity, supervisor
    from flowergit.state import baton as bstate
    from flowergit.state.ids import name as check_name

    check_name(role, "role")
    ln = bstate.lane_name(lane)
    charter.load(ctx, role)  # exit 3 now if the role has no charter
    profile = agents.resolve(check_name(agent, "agent"), ctx.config.agents)
    if not profile.builtin:
        from flowergit.ops.setup import trust

        trust.require(ctx, f"agent command [agents.{agent}]")
    if profile.name == "script" and profile.builtin:
        raise UsageError("the built-in script agent runs a brief's steps and cannot be a daemon",
                         "name an agent profile ([agents.NAME] in .flower.toml), e.g. codex or claude")
    if successor_of is not None:
        DaemonStore(ctx.repo).require(store.daemon_id(successor_of))
    ds = DaemonStore(ctx.repo)
    head = ds.checkin(role=role, successor_of=successor_of, starting=True,
                      extra={"lease": lease(ctx), "agent": profile.name, "lane": ln,
                             "spawned": True})
    did = str(head.record["id"])
    try:
        packet = ctx.repo.state_path("packets", f"daemon-{did}.md")
        log = ctx.repo.state_path("logs", f"daemon-{did}.log")
        os.makedirs(os.path.dirname(packet), exist_ok=True)
        got = charter.render(ctx, role, {"daemon": did, "lane": ln,
                                         "successor_of": successor_of or "(none)"})
        write_file(packet, got["text"])
        cwd = (_worker_worktree(ctx, did) if role == "worker"
               else ctx.repo.main_worktree or ctx.repo.worktree or ctx.repo.common_dir)
        argv = agents.render_argv(profile.command, {
            "{bootstrap}": agents.bootstrap_line(packet), "{packet}": packet,
            "{brief}": "0", "{worktree}": cwd})
        env = agents.agent_env(os.environ, {**dict(profile.env), "FLOWER_DAEMON": did,
                                            "FLOWER_PACKET": packet, "FLOWER_ROLE": role,
                                            "FLOWER_LANE": ln})
        pid = supervisor.spawn_detached(argv, cwd=cwd, env=env, log=log)
    except BaseException:
        ds.retire(did, why="spawn failed")
        raise
    ident = identity.of(pid) or {"host": None, "boot_id": None, "pid": pid, "start": None}
    new = ds.change(did, "spawn", f"spawned {profile.name} as pid {pid}", state="active",
                    pid=pid, host=ident.get("host"), boot_id=ident.get("boot_id"),
                    start=ident.get("start"), ticks=ident.get("ticks"), packet=packet, log=log,
                    charter_version=got.get("version"))
    out = _view(ctx, new.record)
    out["argv"] = argv
    return out
