"""The truth about what an attempt did: its outcome, and the work an agent left uncommitted.

An agent's exit status proves little: real agents exit 0 when their sandbox or their
permissions stopped them from doing anything. So when an agent ends, its supervisor

1. commits what the agent left in its worktree (:func:`commit_leftovers`) — agents whose
   sandbox makes the repository's git data read-only can edit files but not commit them (a
   worktree's git data lives in the main repository) — on the attempt's own branch, authored
   as the agent, with the agent's last message; and then
2. judges the attempt (:func:`judge`): ``done`` (exit 0 and the branch changes something),
   ``no-changes`` (exit 0, nothing changed), ``failed`` (a non-zero exit, or the agent said
   ``git flower done --failed``), ``stopped``, ``timed-out``; a supervisor that could not
   finish its bookkeeping records ``lost`` with the reason (ops/dispatch/supervise.py).

Only a ``done`` attempt can be merged.
"""

from __future__ import annotations

import os

from flowergit.gitio import branches, commits, history, worktrees

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowergit.gitio.repo import Repo

OUTCOMES = ("done", "no-changes", "failed", "stopped", "timed-out", "lost")
MERGEABLE = ("done",)
AUTHOR_DOMAIN = "git-flower.invalid"  # RFC 2606: an address that can never be anyone's
# what git leaves in a worktree's git dir while an operation is in progress
IN_PROGRESS = (("rebase-merge", "a rebase"), ("rebase-apply", "a rebase or am"),
                ("MERGE_HEAD", "a merge"), ("CHERRY_PICK_HEAD", "a cherry-pick"),
                ("REVERT_HEAD", "a revert"), ("BISECT_LOG", "a bisect"))
MAX_SUBJECT = 72


def _clean_line(text: str) -> str:
    """One printable line of ``text`` (an agent's words: no control characters)."""
    for line in text.splitlines():
        line = "".join(c if c.isprintable() else " " for c in line).strip()
        if line:
            return line if len(line) <= MAX_SUBJECT else line[:MAX_SUBJECT - 1].rstrip() + "…"
    return ""


def message(agent: str, did: str, brief: int, code: int | None, last: str | None,
            files: list[str]) -> str:
    """The message of a commit git flower makes of an agent's left-over work."""
    subject = _clean_line(last or "") or f"Work {agent} left uncommitted in dispatch {did}"
    shown = "\n".join(f"  {f}" for f in files[:20]) + (f"\n  … and {len(files) - 20} more"
                                                        if len(files) > 20 else "")
    body = (f"{agent} exited{'' if code is None else f' with {code}'} leaving these changes "
            f"uncommitted in its worktree;\ngit flower committed them as they were:\n\n{shown}")
    if last and _clean_line(last) != (last or "").strip():
        body += "\n\nThe agent's last message:\n\n" + "\n".join(
            "    " + "".join(c if c.isprintable() else " " for c in ln)
            for ln in last.strip().splitlines()[:40])
    trailers = (f"Flower-Brief: {brief}\nFlower-Dispatch: {did}\nFlower-Agent: {agent}\n"
                "Flower-Autocommit: true")
    return f"{subject}\n\n{body}\n\n{trailers}\n"


def operation_in_progress(repo: Repo, worktree: str) -> str | None:
    """What git is in the middle of in ``worktree`` (a rebase, a merge, …), said as such; None
    when nothing is."""
    gd = worktrees.git_dir(repo, worktree)
    if gd is None:
        return "its git data cannot be read"
    for name, what in IN_PROGRESS:
        if os.path.exists(os.path.join(gd, name)):
            return f"{what} is in progress there"
    if os.path.exists(os.path.join(gd, "index.lock")):
        return "its index is locked (index.lock: a git process of the agent died holding it)"
    return None


def commit_leftovers(repo: Repo, rec: dict[str, Any], code: int | None,
                     last_message: str | None) -> dict[str, Any] | None:
    """Commit what the agent left in its worktree on the attempt's branch; None when it left
    nothing. Returns ``{"commit": oid, "files": n}``, or ``{"skipped": why, "files": n}`` when
    the changes could not be committed safely (they stay in the worktree, and the attempt is
    judged on its commits alone)."""
    wt = rec.get("worktree")
    branch = rec.get("branch")
    if not isinstance(wt, str) or not os.path.isdir(wt) or not isinstance(branch, str):
        return None
    files = worktrees.changed_files(repo, wt)
    if not files:
        return None
    head = worktrees.head_ref(repo, wt)
    why = None
    if head != f"refs/heads/{branch}":
        why = f"its worktree is not on {branch} ({head or 'a detached HEAD'})"
    else:
        why = operation_in_progress(repo, wt)
    if why:
        return {"skipped": why, "files": len(files)}
    agent = str(rec.get("agent") or "agent")
    did = str(rec.get("id"))
    add = commits.add_all(repo, wt, check=False)
    if not add.ok:
        return {"skipped": "git add failed: " + _clean_line(add.err), "files": len(files)}
    env = {"GIT_AUTHOR_NAME": agent, "GIT_AUTHOR_EMAIL": f"{agent}@{AUTHOR_DOMAIN}"}
    if not commits.has_committer(repo, wt):
        env.update(GIT_COMMITTER_NAME="git flower", GIT_COMMITTER_EMAIL=f"flower@{AUTHOR_DOMAIN}")
    text = message(agent, did, int(rec.get("brief", 0)), code, last_message, files)
    # --no-verify: the agent's work is kept whatever the project's hooks think of it; the
    # merge gate, not a commit hook, decides whether it lands
    res = commits.commit(repo, wt, text.encode("utf-8"), allow_empty_message=True, env=env,
                         check=False)
    if not res.ok:
        commits.unstage_all(repo, wt)  # unstage again: the files stay as they were
        return {"skipped": "git commit failed: " + _clean_line(res.err or res.out),
                "files": len(files)}
    oid = worktrees.head_commit(repo, wt, check=False)
    return {"commit": oid, "files": len(files)}


def changes(repo: Repo, base: str | None, branch: str | None) -> tuple[int, bool] | None:
    """(commits on the branch since base, whether its tree differs from base's); None when
    either cannot be read."""
    if not base or not branch or base.startswith("-") or branch.startswith("-"):
        return None
    got = branches.tip_and_trees(repo, branch, base)  # one rev-parse
    if got is None:
        return None
    tip, tip_tree, base_tree = got
    if tip == base:
        return 0, False
    return (history.count_commits(repo, f"{base}..{tip}") or 0), tip_tree != base_tree


def judge(rec: dict[str, Any], code: int | None, *, timed_out: bool,
          work: tuple[int, bool] | None) -> str:
    """The outcome of an attempt whose agent has ended."""
    if rec.get("state") == "stopped":
        return "stopped"
    if timed_out:
        return "timed-out"
    if code != 0 or rec.get("reported") == "failed":
        return "failed"
    if work is None or not work[1]:
        return "no-changes"
    return "done"


def describe(outcome: str) -> str:
    """What an outcome means, for errors and hints."""
    return {
        "done": "its agent finished and its branch changes something",
        "no-changes": "its agent exited 0 but changed nothing",
        "failed": "its agent failed",
        "stopped": "it was stopped",
        "timed-out": "its agent ran out of time",
        "lost": "its supervisor ended before recording how it went",
    }.get(outcome, outcome)
