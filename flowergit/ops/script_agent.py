"""The built-in ``script`` agent: ``python -m flowergit.ops.script_agent BRIEF WORKTREE``.

It needs no AI: it runs the brief's ``run = [["make", "gen"], ["pytest", "-q"]]`` steps one after
another in the worktree (argv lists, no shell, stdin closed), and when every step succeeds it
commits whatever they changed (``git add -A`` + commit, hooks off) on the dispatch branch. A
failing step ends it with that step's exit status and commits nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys

from flowergit.errors import FlowerError, UsageError
from flowergit.gitio import commits, worktrees
from flowergit.gitio.runner import GitError
from flowergit.ops.context import Ctx
from flowergit.state.briefs import commit_subject
from flowergit.state.ids import brief_id

IDENT = {"GIT_AUTHOR_NAME": "git flower", "GIT_AUTHOR_EMAIL": "flower@localhost",
         "GIT_COMMITTER_NAME": "git flower", "GIT_COMMITTER_EMAIL": "flower@localhost"}


def say(text: str) -> None:
    sys.stdout.write(f"[script] {text}\n")
    sys.stdout.flush()


def run_steps(steps: list[list[str]], cwd: str) -> int:
    env = dict(os.environ)
    for i, argv in enumerate(steps, 1):
        say(f"step {i}/{len(steps)}: {subprocess.list2cmdline(argv)}")
        try:
            rc = subprocess.call(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            say(f"step {i}: command not found: {argv[0]}")
            return 127
        except PermissionError:
            say(f"step {i}: permission denied: {argv[0]}")
            return 126
        if rc != 0:
            say(f"step {i} failed with exit status {rc}; nothing committed")
            return rc if rc > 0 else 128 - rc
    return 0


def commit_all(ctx: Ctx, worktree: str, message: str) -> str | None:
    """Stage everything in ``worktree`` and commit it (no hooks); None if nothing changed."""
    repo = ctx.repo
    commits.add_all(repo, worktree, no_hooks=True)
    if commits.nothing_staged(repo, worktree):
        return None
    text = message.encode("utf-8", "surrogateescape")
    try:
        commits.commit(repo, worktree, text, no_hooks=True)
    except GitError as e:
        if "ident" not in e.err and "tell me who you are" not in e.err.lower():
            raise
        commits.commit(repo, worktree, text, no_hooks=True, env=IDENT)
    return worktrees.head_commit(repo, worktree)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m flowergit.ops.script_agent BRIEF WORKTREE\n")
        return 2
    try:
        bid = brief_id(argv[0])
        worktree = os.path.abspath(argv[1])
        ctx = Ctx(cwd=worktree)
        top = ctx.repo.worktree
        if top is None or os.path.realpath(top) != os.path.realpath(worktree):
            raise UsageError(f"{worktree} is not the top of a git worktree; refusing to commit there")
        brief = ctx.briefs().get(bid)
        from flowergit.ops.setup.trust import require_brief

        require_brief(ctx, bid, brief.meta())  # steps from elsewhere run only once trusted here
        if not brief.run:
            raise UsageError(f"brief {bid} has no run steps for the script agent",
                             f"add them: git flower brief set {bid} 'run=[[\"make\", \"gen\"]]'")
        rc = run_steps(brief.run, worktree)
        if rc != 0:
            return rc
        msg = f"brief {bid}: {commit_subject(brief.title)}\n\nRan by the git flower script agent:\n" \
              + "".join(f"  {subprocess.list2cmdline(s)}\n" for s in brief.run)
        oid = commit_all(ctx, worktree, msg)
        say(f"committed {oid[:12]}" if oid else "the steps changed nothing; no commit")
        return 0
    except FlowerError as e:
        sys.stderr.write(f"[script] fatal: {e.message}\n")
        if e.hint:
            sys.stderr.write(f"[script] hint: {e.hint}\n")
        return int(e.exit)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
