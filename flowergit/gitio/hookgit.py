"""The git operations of git flower's hooks: where git runs hooks from (for `hooks install`,
`status` and `doctor`), and what ``git flower hook-impl`` asks git from inside a running hook.

The in-hook operations keep the hook's environment on purpose (git set ``GIT_DIR`` and
``GIT_INDEX_FILE`` for exactly the worktree the hook runs in) and never raise for a failed git:
the hook fast path decides what a failure means. This module loads nothing but the runner.
"""

from __future__ import annotations

from flowergit.gitio import runner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowergit.gitio.repo import Repo


# -- inside a running hook ---------------------------------------------------------------------
def _in_hook(args: list[str]) -> runner.Result:
    return runner.run(args, inherit_env=True, check=False, timeout=10)


def hook_branch() -> str:
    """The short name of the branch the hook's worktree has checked out ('' when detached)."""
    return _in_hook(["symbolic-ref", "-q", "--short", "HEAD"]).out.strip()


def add_trailer(message_file: str, trailer: str) -> None:
    """Add ``trailer`` (``Key: value``) to the commit message in ``message_file`` unless a
    trailer with that key is there already; raises RuntimeError when git fails."""
    res = _in_hook(["interpret-trailers", "--in-place", "--if-exists", "doNothing",
                    "--trailer", trailer, "--", message_file])
    if not res.ok:
        raise RuntimeError(f"git interpret-trailers failed: {res.err.strip()}")


def common_dir_and_head() -> tuple[str, str]:
    """(absolute common git dir, HEAD's commit) of the hook's repository; raises RuntimeError."""
    res = _in_hook(["rev-parse", "--path-format=absolute", "--git-common-dir", "HEAD"])
    lines = res.out.split("\n")
    if not res.ok or len(lines) < 2:
        raise RuntimeError(f"cannot read HEAD: {res.err.strip()}")
    return lines[0], lines[1]


def hook_common_dir() -> str | None:
    """The absolute common git dir of the hook's repository, or None."""
    res = _in_hook(["rev-parse", "--path-format=absolute", "--git-common-dir"])
    return res.out.strip() if res.ok else None


def hook_config(key: str) -> str:
    """The value of ``key`` in the hook repository's config ('' when unset)."""
    return _in_hook(["config", "--get", key]).out.strip()


def hook_config_true(key: str) -> bool:
    """Is the boolean ``key`` set to true in the hook repository's config?"""
    return _in_hook(["config", "--bool", key]).out.strip() == "true"


# -- a repository's hooks directory --------------------------------------------------------------
def hooks_path(repo: Repo) -> str:
    """``core.hooksPath`` as configured ('' when unset)."""
    return repo.git(["config", "--get", "core.hooksPath"], check=False).out.strip()


def common_dir(repo: Repo) -> str:
    """The absolute common git dir, where git runs hooks from when core.hooksPath is unset."""
    return repo.git(["rev-parse", "--path-format=absolute", "--git-common-dir"]).out.strip()


def toplevel(repo: Repo, cwd: str) -> str:
    """The top of the worktree holding ``cwd`` ('' when it is not in one)."""
    res = repo.git(["rev-parse", "--show-toplevel"], check=False, cwd=cwd)
    return res.out.strip() if res.ok else ""
