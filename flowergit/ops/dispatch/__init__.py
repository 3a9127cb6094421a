"""The dispatch room: ``git flower dispatch N`` and everything an attempt goes through on this
machine until its agent has ended.

- :mod:`.command`: :func:`dispatch` itself, a short sequence of named steps (the reads, the
  checks, the worktree add, the scheduler step and the claim, the packet and start spec, the
  record, the ready mark);
- :mod:`.checks`: what is refused before anything is made, and the choice of agent, attempt,
  branch and base;
- :mod:`.worktree`: the attempt's worktree and branch (the git command lines are
  :mod:`flowergit.gitio.worktrees`' and :mod:`flowergit.gitio.branches`');
- :mod:`.packet`: the packet an agent is started with;
- :mod:`.undo`: how a failing dispatch takes back what it made (one stack);
- :mod:`.scheduler`: the per-machine cap, the queue, spawning supervisors;
- :mod:`.resume`: ``--resume`` of a lost or stopped attempt;
- :mod:`.supervise`: the supervisor of one dispatch (``python -m flowergit.ops.dispatch.supervise``);
- :mod:`.outcome`: what an attempt did (its outcome; the work its agent left uncommitted);
- :mod:`.paths`: the names of a dispatch's branch, worktree and machine-local files;
- :mod:`.liveness`: whether an attempt's processes are alive, and the state it is shown in;
- :mod:`.workers`: the attempts of this machine as ``ps``, ``stop``, ``logs`` and ``clean`` see
  them.

This package's own module loads nothing: the names below are taken from their modules on first
use, so that a supervisor started as ``python -m flowergit.ops.dispatch.supervise`` (which
waits for its dispatcher's checkout before it loads anything) and the commands that need one
name only pay for what they use. Modules of the package import each other by their own names,
never through this one.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowergit.ops.dispatch.command import dispatch
    from flowergit.ops.dispatch.packet import fence, fill, render_packet, template_text
    from flowergit.ops.dispatch.paths import (
        MAX_SLUG,
        log_file,
        now_iso,
        our_branch,
        packet_file,
        ready_path,
        slug,
        spec_path,
        worktree_root,
        write_file,
    )
    from flowergit.ops.dispatch.resume import resume_dispatch
    from flowergit.ops.dispatch.paths import dispatch_cache
    from flowergit.ops.dispatch.scheduler import all_dispatches, sched_lock, schedule
    from flowergit.ops.dispatch.worktree import ensure_worktree, forget_worktree, worktrees

__all__ = [
    "MAX_SLUG", "all_dispatches", "dispatch", "dispatch_cache", "ensure_worktree", "fence",
    "fill", "forget_worktree", "log_file", "now_iso", "our_branch", "packet_file", "ready_path",
    "render_packet", "resume_dispatch", "sched_lock", "schedule", "slug", "spec_path",
    "template_text", "worktree_root", "worktrees", "write_file",
]

HOMES = {
    "dispatch": "command", "resume_dispatch": "resume",
    "fence": "packet", "fill": "packet", "render_packet": "packet", "template_text": "packet",
    "MAX_SLUG": "paths", "log_file": "paths", "now_iso": "paths", "our_branch": "paths",
    "packet_file": "paths", "ready_path": "paths", "slug": "paths", "spec_path": "paths",
    "worktree_root": "paths", "write_file": "paths",
    "all_dispatches": "scheduler", "dispatch_cache": "scheduler", "sched_lock": "scheduler",
    "schedule": "scheduler",
    "ensure_worktree": "worktree", "forget_worktree": "worktree", "worktrees": "worktree",
}


def __getattr__(name: str) -> object:
    home = HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(f"{__name__}.{home}", fromlist=[name]), name)
    globals()[name] = value
    return value
