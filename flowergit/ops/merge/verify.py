"""`git flower verify [RANGE]` and `git flower why REV|PATH[:LINE]`: reading provenance back.

verify: every first-parent commit in the range must have a passing suite attestation for its
tree; the others are listed. why: the brief, dispatch, agent and suite behind a commit, or
behind the line of a file (blame finds the commit, the first-parent history finds the merge
that landed it, and its note tells the rest).
"""

from __future__ import annotations

import os

from flowergit.errors import NotFound, TestsFailed, UsageError
from flowergit.gitio import history, objects
from flowergit.gitio.runner import GitError
from flowergit.gitio.trees import trees_of
from flowergit.ops.context import Ctx
from flowergit.state import notes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _check_rev(text: str) -> str:
    if not text or text.startswith("-") or "\n" in text or "\0" in text:
        raise UsageError(f"invalid revision or range {text!r}")
    return text


def verify(ctx: Ctx, rng: str | None = None, *, limit: int = 0) -> dict[str, Any]:
    repo = ctx.repo
    spec = _check_rev(rng or ctx.config.target)
    try:
        commits = history.first_parents(repo, spec)
    except GitError:
        raise NotFound(f"no such revision or range {spec!r}",
                       "give a branch, or a range such as main~10..main") from None
    if limit:
        commits = commits[:limit]
    trees = trees_of(repo, commits)
    recs = notes.read_many(repo, sorted(set(trees.values())))
    rows = []
    missing = []
    for c in commits:
        t = trees[c]
        att = [r for r in recs.get(t, []) if r.get("kind") == "suite"]
        passing = [r for r in att if r.get("ok") is True]
        if passing:
            r = passing[-1]
            rows.append({"commit": c, "tree": t, "ok": True, "tests": r.get("tests"),
                         "passed": r.get("passed"), "at": r.get("at")})
        else:
            why = att[-1].get("why", "failed") if att else "no attestation"
            row = {"commit": c, "tree": t, "ok": False, "why": why,
                   "subject": history.subject(repo, c)}
            rows.append(row)
            missing.append(row)
    out = {"range": spec, "commits": len(commits), "attested": len(commits) - len(missing),
           "unattested": missing, "rows": rows}
    if missing:
        raise TestsFailed(f"{len(missing)} of {len(commits)} commit(s) in {spec} have no passing "
                          "suite attestation", "`git flower test <commit>` attests one",
                          data=out)
    return out


def path_line(what: str) -> tuple[str, int] | None:
    """``PATH:LINE`` split (``(.+):([1-9][0-9]{0,8})``, checked by hand: `why` runs in hooks
    and loops, and `re` is a few milliseconds to import), else None."""
    path, sep, num = what.rpartition(":")
    if not sep or not path or not 1 <= len(num) <= 9 or not (num.isascii() and num.isdigit()) \
            or num[0] == "0":
        return None
    return path, int(num)


def why(ctx: Ctx, what: str) -> dict[str, Any]:
    if not what or what.startswith("-"):
        raise UsageError(f"invalid argument {what!r}", "give a commit, a path or PATH:LINE")
    _ = ctx.config  # a broken config refuses before any reading
    with objects.Batch(ctx.repo) as batch:  # the tips, commit objects and notes: one process
        return _why(ctx, what, batch)


def _why(ctx: Ctx, what: str, batch: objects.Batch) -> dict[str, Any]:
    repo = ctx.repo
    wt = repo.worktree or repo.main_worktree
    seen: dict[str, tuple[list[str], str | None]] = {}

    def commit_info(name: str) -> tuple[list[str], str | None] | None:
        if name not in seen:
            got = batch.get(name)
            if got is None or got[1] != "commit":
                return None
            seen[name] = history.parents_and_subject(got[2])
        return seen[name]

    def parents_of(name: str) -> list[str] | None:
        info = commit_info(name)
        return info[0] if info is not None else None

    tips = [g if g is not None and g[1] == "commit" else None
            for g in batch.get_many(["refs/heads/" + ctx.config.target, "HEAD"])]
    for g in tips:
        if g is not None:  # read already: the blame's landing is often one of them
            seen[g[0]] = history.parents_and_subject(g[2])
    target_tip, head = (g[0] if g is not None else None for g in tips)
    tip = target_tip or head
    commit: str | None = None
    landed: str | None = None  # the landing, when the blame found it
    line: int | None = None
    path: str | None = None
    m = path_line(what)
    base = os.path.join(repo.worktree, repo.prefix) if repo.worktree else None
    if m and base and _is_path(base, m[0]):
        path, line = m
    elif base and _is_path(base, what) and history.commit_of(repo, what) is None:
        path = what
    if path is not None:
        if wt is None:
            raise UsageError("a path needs a work tree")
        rel = os.path.relpath(os.path.join(base or wt, path), wt)
        if line and tip and head == tip:
            # the line as the target has it: its landing is a first-parent blame away
            got = history.blame_landing(wt, "HEAD", rel, line, parents_of)
            if got is not None:
                commit, landed = got
        if commit is None:
            commit = (history.blame_line(wt, "HEAD", rel, line) if line
                      else history.last_commit_for(wt, "HEAD", rel))
        if commit is None:
            raise NotFound(f"no history for {what!r}")
    else:
        commit = history.commit_of(repo, _check_rev(what))
        if commit is None:
            raise NotFound(f"no commit or path {what!r}")
    found = None
    landing: str | None
    recs = notes.read_many(repo, [commit] if landed in (None, commit) else [commit, landed],
                           batch=batch)
    own = [r for r in recs.get(commit, []) if r.get("kind") == "merge"]
    if own:  # it carries its own provenance: no need to look for the merge that landed it
        found, landing = (commit, own[-1]), commit
    else:
        landing = landed or (_landing_merge(ctx, commit, tip) if tip else None)
        if landing is not None and landing != commit:
            if landing != landed:
                recs = notes.read_many(repo, [landing], batch=batch)
            merges = [r for r in recs.get(landing, []) if r.get("kind") == "merge"]
            if merges:
                found = (landing, merges[-1])
    info = commit_info(commit)
    subject = info[1] if info is not None else None
    out: dict[str, Any] = {"query": what, "commit": commit, "path": path, "line": line,
                           "merge": found[0] if found else landing,
                           "provenance": found[1] if found else None,
                           "subject": history.subject(repo, commit) if subject is None
                           else subject}
    if found is None:
        out["note"] = "no provenance: this change did not come through git flower merge"
    usage = found[1].get("agent_usage") if found else None
    # the model that wrote it, when the agent's transcript named one
    out["model"] = usage.get("model") if isinstance(usage, dict) else None
    return out


def _is_path(base: str, p: str) -> bool:
    return os.path.lexists(os.path.join(base, p))


def _landing_merge(ctx: Ctx, commit: str, tip: str) -> str | None:
    """The first-parent commit of ``tip`` that brought ``commit`` in: ``commit`` itself when it
    is on that chain, else the merge whose later parent led to it. One walk of the commits
    that descend from ``commit`` (with their parents), so the cost follows the line's age, not
    the length of the history."""
    if commit == tip:
        return commit
    parents = history.descendants_with_parents(ctx.repo, commit, tip)
    c = tip
    while c in parents:
        first = parents[c][0] if parents[c] else None
        if first == commit:
            return commit
        if first not in parents:
            return c
        c = first
    return None


def provenance_of(ctx: Ctx, brief: int) -> dict[str, Any] | None:
    """``why`` of the merge that landed ``brief`` (its latest merged attempt), or None."""
    from flowergit.state.dispatches import DispatchStore

    for head in reversed(DispatchStore(ctx.repo).attempts(brief)):
        commit = head.record.get("merge_commit")
        if isinstance(commit, str) and commit:
            return why(ctx, commit)
    return None
