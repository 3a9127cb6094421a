"""`git flower prime`: what an agent needs to know, printed where it stands.

In a dispatch worktree (found from ``FLOWER_DISPATCH``, else from the worktree's
``flower/<N>-…`` branch) it is the dispatch's packet: its brief, its rules and how to finish,
plus where the work stands now (commits on the branch, uncommitted files). In the main checkout
it is an orchestrator primer: the state of the fleet and the commands that move it.

`agents_md_section` is the short block `git flower init --agents-md` (or `prime --agents-md`)
adds to a repository's ``AGENTS.md``; a user's file is never overwritten: the block goes in only
once, between markers, appended at the end.
"""

from __future__ import annotations

import os
import re
from typing import Any

from flowergit.errors import NotFound
from flowergit.ops.context import Ctx

BEGIN = "<!-- git-flower:begin -->"
END = "<!-- git-flower:end -->"
_BRANCH = re.compile(r"flower/([1-9][0-9]{0,8})-", re.ASCII)

AGENTS_MD = f"""{BEGIN}
## git flower

This repository runs coding agents with git flower; its coordination state lives in git.

- If you were dispatched to a brief (your worktree is on a `flower/<N>-…` branch), run
  `git flower prime` first: it prints your brief, your rules and how to finish
  (`git flower done`, or `git flower done --failed`). Work and commit only in your worktree;
  never push, never `git stash`.
- If you orchestrate, run `git flower prime` in the main checkout, then `git flower status`,
  `git flower brief list`, `git flower dispatch N`, `git flower wait N` and
  `git flower merge N` (the test gate). Every command takes `--json`.
- `git flower help CMD` explains any command.
{END}
"""


def agents_md_section() -> str:
    return AGENTS_MD


def add_agents_md(path: str) -> dict[str, Any]:
    """Append the section to ``path`` (created if absent) unless it is already there."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            have = f.read()
    except FileNotFoundError:
        have = None
    if have is not None and BEGIN in have:
        return {"path": path, "changed": False, "action": "already has the git flower section"}
    if have is None:
        with open(path, "x", encoding="utf-8") as f:
            f.write("# AGENTS.md\n\n" + AGENTS_MD)
        return {"path": path, "changed": True, "action": "created with the git flower section"}
    with open(path, "a", encoding="utf-8", errors="surrogateescape") as f:
        f.write(("" if have.endswith("\n") else "\n") + "\n" + AGENTS_MD)
    return {"path": path, "changed": True, "action": "appended the git flower section"}


def _which_dispatch(ctx: Ctx) -> tuple[int, int | None] | None:
    from flowergit.state.ids import dispatch_id, is_brief_id

    env = os.environ.get("FLOWER_DISPATCH", "")
    if env:
        b, a = dispatch_id(env)
        return b, a
    env_b = os.environ.get("FLOWER_BRIEF", "")
    if env_b and is_brief_id(env_b):
        return int(env_b), None
    wt = ctx.repo.worktree
    if wt is None:
        return None
    from flowergit.gitio import worktrees

    m = _BRANCH.match(worktrees.head_branch(ctx.repo, wt) or "")
    return (int(m[1]), None) if m else None


def _progress(ctx: Ctx, rec: dict[str, Any]) -> dict[str, Any]:
    """Commits on the branch since its base, and uncommitted paths in the worktree."""
    from flowergit.gitio import history
    from flowergit.gitio import status as gstatus
    from flowergit.gitio.runner import GitError

    repo = ctx.repo
    out: dict[str, Any] = {"commits": None, "uncommitted": None}
    base, branch, wt = rec.get("base"), rec.get("branch"), rec.get("worktree")
    if base and branch:
        out["commits"] = history.count_commits(repo, f"{base}..refs/heads/{branch}")
    if wt and os.path.isdir(str(wt)):
        try:
            got = gstatus.status_records(repo, str(wt))
        except GitError:
            pass
        else:
            out["uncommitted"] = len([x for x in got if x[:3].strip()])
    return out


def worker(ctx: Ctx, brief: int, attempt: int | None) -> dict[str, Any]:
    from flowergit.ops import dispatch as ops_dispatch
    from flowergit.ops.dispatch.liveness import view_state
    from flowergit.state.dispatches import DispatchStore

    store = DispatchStore(ctx.repo)
    head = store.get(brief, attempt) if attempt is not None else store.latest(brief)
    if head is None:
        raise NotFound(f"there is no dispatch of brief {brief} here",
                       f"`git flower dispatch {brief}` starts one; `git flower prime` in the main "
                       "checkout prints the orchestrator primer")
    rec = head.record
    text = None
    packet = rec.get("packet")
    if packet:
        try:
            with open(str(packet), encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except OSError:
            text = None
    if text is None:  # another machine's dispatch, or the packet was cleaned: render it again
        b = ctx.briefs().get(brief)
        text = ops_dispatch.render_packet(
            brief=b, did=str(rec.get("id")), branch=str(rec.get("branch")),
            worktree=str(rec.get("worktree")), target=str(rec.get("target") or ctx.config.target),
            base=str(rec.get("base") or ""), agent=str(rec.get("agent") or ""), rework=None)
    return {"role": "worker", "dispatch": rec.get("id"), "brief": brief,
            "state": view_state(rec), "branch": rec.get("branch"),
            "worktree": rec.get("worktree"), "packet": packet, "text": text,
            "progress": _progress(ctx, rec)}


ORCHESTRATOR = """\
# git flower: orchestrator primer

You are in the main checkout of {repo}. git flower keeps briefs (work items) on the
`flower/briefs` branch and runs each dispatched brief in its own worktree with its own agent.
Merges land on `{target}` only through the test gate.

## Now

{state}

## The loop

1. `git flower status` (or `git flower watch`): briefs by status, workers, the queue.
2. `git flower brief list --status planned`: what is ready; `git flower brief show N` for a spec.
3. `git flower dispatch N`: start an agent on brief N (queued beyond max_parallel = {cap}).
4. `git flower wait N` / `git flower ps`: follow the workers; `git flower logs N` for output.
5. `git flower merge N`: run the suite on the merged tree and land it only if it passes
   (exit 5 when it fails: send it back with `git flower dispatch N` for rework).
6. Handing over to a successor: `git flower handoff write`, then the baton
   (`git flower baton show`).

Every command takes `--json`; `git flower help CMD` explains one; `git flower doctor` checks the
setup.
"""


def orchestrator(ctx: Ctx) -> dict[str, Any]:
    from flowergit.ops import status

    s = status.status(ctx)
    by = s["briefs"]["by_status"]
    parts = [f"{n} {k}" for k, n in by.items() if n]
    lines = [f"- briefs: {s['briefs']['total']}" + (f" ({', '.join(parts)})" if parts else ""),
             f"- workers: {s['running']} running of {s['max_parallel']}"
             + "".join(f"\n  - {w['id']} {w['state']} {w.get('agent') or ''}: {w.get('title') or ''}"
                       for w in s["workers"]),
             f"- queue: {len(s['queue'])}" + (": " + " ".join(q["id"] for q in s["queue"])
                                               if s["queue"] else "")]
    baton = None
    try:
        from flowergit.ops.continuity import baton as ops_baton

        baton = ops_baton.show(ctx)
        if baton.get("exists"):
            lines.append(f"- baton {baton.get('lane')}: epoch {baton.get('epoch')} "
                         f"{baton.get('state')} by daemon {baton.get('holder')}")
        else:
            lines.append(f"- baton {baton.get('lane')}: free")
    except ImportError:
        pass
    repo = ctx.repo
    name = os.path.basename((repo.main_worktree or repo.common_dir).rstrip("/"))
    text = ORCHESTRATOR.format(repo=name, target=ctx.config.target, state="\n".join(lines),
                               cap=s["max_parallel"])
    return {"role": "orchestrator", "status": s, "baton": baton, "text": text}


def prime(ctx: Ctx) -> dict[str, Any]:
    which = _which_dispatch(ctx.load())
    if which is not None:
        return worker(ctx, *which)
    return orchestrator(ctx)
