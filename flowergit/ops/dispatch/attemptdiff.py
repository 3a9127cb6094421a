"""What an attempt changed: the diff from where its branch forked off its target to its tip,
per file (``git flower diff N``, watch's ``d``) and as a patch (the web view's diff page)."""

from __future__ import annotations

from typing import Any

from flowergit.errors import NotFound
from flowergit.gitio import history, refs
from flowergit.ops.context import Ctx
from flowergit.ops.dispatch.workers import resolve
from flowergit.state.dispatches import DispatchStore


def diff(ctx: Ctx, target: str) -> dict[str, Any]:
    """An attempt's work: the diff from its base to its branch's tip (or, once its branch is
    gone, to the work its merge brought in)."""
    from flowergit.gitio import changes

    repo = ctx.repo
    rec = resolve(DispatchStore(repo), target).record
    base = rec.get("base")
    head = refs.read(repo, f"refs/heads/{rec.get('branch')}") if rec.get("branch") else None
    if head is None and rec.get("merge_commit"):
        head = history.commit_of(repo, f"{rec['merge_commit']}^2")
    out: dict[str, Any] = {"id": rec.get("id"), "brief": rec.get("brief"),
                           "branch": rec.get("branch"), "base": base, "head": head,
                           "patch": "", "truncated": False}
    if not base or not head:
        out["note"] = "no work to show: the attempt has no base or its branch is gone"
        return out
    out["patch"], out["truncated"] = changes.patch(repo, str(base), head)
    return out


def change(ctx: Ctx, target: str) -> dict[str, Any]:
    """What an attempt changed: its branch tip against the target it would merge into, from
    where they forked (``target...tip``), with lines added and deleted per file."""
    from flowergit.gitio import changes

    repo = ctx.repo
    head = resolve(DispatchStore(repo), target)
    rec = head.record
    did = str(rec.get("id"))
    branch = rec.get("branch")
    tip = refs.read(repo, f"refs/heads/{branch}") if branch else None
    if tip is None:
        state = rec.get("state")
        raise NotFound(f"dispatch {did} has no branch any more"
                       + (f" (it was {state})" if state in ("merged", "released") else ""),
                       f"`git flower why` tells where merged work went; `git flower ps {did}`"
                       " shows the attempt")
    into = str(rec.get("target") or ctx.config.get("flower", "target"))
    from flowergit.gitio import branches

    base = branches.merge_base(repo, f"refs/heads/{into}", tip) or rec.get("base")
    if not base:
        raise NotFound(f"dispatch {did}: {into} and {branch} share no history",
                       "`git flower ps` shows the attempt's base")
    files = [{"path": p, "added": a, "deleted": d} for a, d, p in changes.numstat(repo, base, tip)]
    return {"id": did, "brief": rec.get("brief"), "branch": branch, "into": into, "base": base,
            "head": tip, "files": files}


def show_change(ctx: Ctx, got: dict[str, Any], *, stat: bool, paths: list[str], pager: bool,
                color: str | None) -> int:
    """Show :func:`change`'s diff on the terminal through git's pager; git's exit code."""
    from flowergit.gitio import changes

    return changes.show_diff(ctx.repo, got["base"], got["head"],
                             stat=stat, paths=paths, pager=pager, color=color)
