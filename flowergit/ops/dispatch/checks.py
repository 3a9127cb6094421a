"""What is decided, and refused, before a dispatch makes anything: a merge in flight, a brief
that is merged or abandoned, commands nobody on this machine approved, a live attempt already
running; then the agent, the attempt's number, its branch and its base.

Nothing here loads more than deciding needs: it all runs before the worktree add starts.
"""

from __future__ import annotations

import os

from flowergit.errors import Conflict, NotFound, UsageError
from flowergit.ops.dispatch.liveness import view_state
from flowergit.ops.dispatch.paths import branch_name, now_iso, our_branch
from flowergit.ops.dispatch.worktree import drift, resolve_commit
from flowergit.state.dispatches import PREFIX
from flowergit.state.ids import name as check_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowergit.ops.context import Ctx
    from flowergit.procs.agents import Profile
    from flowergit.state import records
    from flowergit.state.brief import Brief
    from flowergit.state.dispatches import DispatchStore
    from flowergit.state.schema import Drift


def refuse_while_merging(ctx: Ctx) -> None:
    """No dispatch while a merge is in flight or needs recovering."""
    # state.journal.directory(repo), without importing the journal module: it exists only
    # while a merge is in flight (or needs recovering), and then the full check runs
    if os.path.isdir(ctx.repo.state_path("journal")):
        from flowergit.ops.pending import refuse_if_pending

        refuse_if_pending(ctx, beside_merge=True)


def refuse_resume_options(agent: str | None, base: str | None, rework: bool) -> None:
    if agent or base or rework:
        raise UsageError("--resume continues an attempt as it was; it takes no --agent, "
                         "--base or --rework")


def trusted(ctx: Ctx) -> bool:
    """Is the config trusted on this machine? (``ops.setup.trust.require`` says why not, but brings
    difflib for the diff it shows.)"""
    from flowergit.state import trust as trust_store

    cfg = ctx.config
    return cfg.path is None or trust_store.is_trusted(cfg.path, cfg.raw)


def refuse_brief(ctx: Ctx, brief: int, b: Brief, agent: str | None) -> None:
    """A merged or abandoned brief has nothing to dispatch; the commands a brief carries run
    only once this machine wrote or approved them."""
    if b.status in ("merged", "abandoned"):
        raise Conflict(f"brief {brief} is {b.status}; there is nothing to dispatch",
                       f"file a new brief, or `git flower brief set {brief} status=planned`")
    if b.run or (b.agent and not agent):
        from flowergit.ops.setup import trust as brief_trust

        brief_trust.require_brief(ctx, brief, {"run": b.run, "agent": b.agent})


def choose_agent(ctx: Ctx, b: Brief, agent: str | None, config_trusted: bool | None,
                 use_tmux: bool) -> tuple[str, Profile, bool]:
    """(the agent's name, its profile, whether it runs in tmux). A profile of the config's own
    needs the config trusted here (``git flower trust``); tmux must be there if asked for."""
    from flowergit.procs import agents

    name = check_name(agent or b.agent or str(ctx.config.get("flower", "default_agent")), "agent")
    profile = agents.resolve(name, ctx.config.agents)
    if not profile.builtin and not (config_trusted if config_trusted is not None
                                    else trusted(ctx)):
        from flowergit.ops.setup import trust

        trust.require(ctx, f"agent command [agents.{name}]")  # says why, with the hint
    use_tmux = use_tmux or profile.tmux  # a profile may ask for a terminal (tick, run)
    if use_tmux:
        from flowergit.procs import tmux

        tmux.available()
    return name, profile, use_tmux


def supersede(r: dict[str, Any]) -> dict[str, Any] | None:
    """A ``preparing`` record whose dispatcher died → ``failed`` (lost)."""
    if r.get("state") != "preparing":
        return None
    return {**r, "state": "failed", "outcome": "lost", "ended_at": now_iso(),
            "error": "the dispatcher was interrupted while preparing"}


def next_attempt(store: DispatchStore, brief: int, heads: list[records.Head],
                 now: float) -> tuple[int, dict[str, Any] | None]:
    """(the number of the new attempt, the record of the last one): refused while the brief
    has a live dispatch, or one that was interrupted (``--resume`` or ``stop`` decides); one
    whose dispatcher died before its agent started is superseded."""
    prefix = f"{PREFIX}{brief}/"
    attempts = sorted((h for h in heads if h.ref.startswith(prefix)),
                      key=lambda h: int(h.record.get("attempt", 0)))
    for h in reversed(attempts):
        st = view_state(h.record, now)
        if st == "lost" and h.record.get("state") == "preparing":
            # its dispatcher died before the agent was ever started: supersede it
            store.update(brief, int(h.record["attempt"]), supersede, "failed (interrupted)")
            continue
        if st == "lost":
            raise Conflict(f"dispatch {h.record['id']} was interrupted (its processes are gone)",
                           f"`git flower dispatch {brief} --resume` continues it; "
                           f"`git flower stop {brief}` gives it up")
        if st in ("preparing", "queued", "running", "waiting"):
            raise Conflict(f"brief {brief} already has a live dispatch {h.record['id']} ({st})",
                           f"`git flower wait {brief}` waits for it; `git flower stop {brief}` "
                           "ends it")
    if not attempts:
        return 1, None
    last = attempts[-1].record
    return int(last.get("attempt", 0)) + 1, last


def choose_branch(ctx: Ctx, brief: int, b: Brief, last: dict[str, Any] | None, heads_of: dict[str, str],
                  base: str | None, rework: bool) -> tuple[str, str, Drift | None]:
    """(branch, base commit, rework drift or None). The last attempt's branch is reused when
    it still exists (rework: ``--base`` refused, the drift from the target reported); a new one
    starts at ``--base`` or the target's tip."""
    target = ctx.config.target
    branch = (our_branch(brief, last.get("branch")) if last else None) or branch_name(brief, b.title)
    target_oid = heads_of.get(f"refs/heads/{target}")
    branch_oid = heads_of.get(f"refs/heads/{branch}")
    if branch_oid is not None:
        if base:
            raise UsageError(f"--base applies to a new branch; {branch} already exists",
                             f"rework continues it; `git flower clean {brief}` drops a merged one")
        rework_info = drift(ctx.repo, branch_oid, target_oid)
        return branch, str(rework_info["base"]), rework_info
    if rework:
        raise NotFound(f"brief {brief} has no branch to rework ({branch} does not exist)",
                       f"dispatch it without --rework: `git flower dispatch {brief}`")
    if base is None and target_oid is None:
        raise NotFound(f"the target branch {target} has no commits",
                       "commit something first, or give --base REV")
    return branch, (resolve_commit(ctx.repo, base) if base else str(target_oid)), None
