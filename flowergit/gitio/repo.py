"""Repository discovery and the :class:`Repo` handle every other gitio function takes.

Discovery runs once, with the caller's own environment (so ``git --git-dir=…``, ``GIT_DIR`` and
``-c`` given to ``git flower`` are honoured like git honours them); every later call passes the
resolved paths explicitly and runs with a scrubbed environment.
"""

from __future__ import annotations

import os

from flowergit.errors import Unsupported, UsageError
from flowergit.gitio import runner
from flowergit.gitio.runner import GitError, Result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


class Repo:
    """Paths of one repository as discovery found them (kept as distinct values)."""

    __slots__ = ("git_dir", "common_dir", "worktree", "prefix", "object_format", "_cache")

    def __init__(self, git_dir: str, common_dir: str, worktree: str | None, prefix: str,
                 object_format: str) -> None:
        self.git_dir = git_dir  # this worktree's git dir (absolute)
        self.common_dir = common_dir  # shared by all worktrees (absolute)
        self.worktree = worktree  # top of the current worktree; None in a bare repo
        self.prefix = prefix  # the current directory relative to the worktree top
        self.object_format = object_format  # "sha1" | "sha256"
        self._cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (f"Repo(git_dir={self.git_dir!r}, common_dir={self.common_dir!r}, "
                f"worktree={self.worktree!r}, object_format={self.object_format!r})")

    @property
    def bare(self) -> bool:
        return self.worktree is None

    @property
    def hexlen(self) -> int:
        return 64 if self.object_format == "sha256" else 40

    @property
    def zero_oid(self) -> str:
        return "0" * self.hexlen

    @property
    def state_dir(self) -> str:
        """Machine-local runtime state: logs, packets, pids, journal, caches."""
        got: str | None = self._cache.get("state_dir")
        if got is None:
            got = self._cache["state_dir"] = os.path.join(self.common_dir, "flower")
        return got

    def state_path(self, *parts: str) -> str:
        """A path under ``$GIT_COMMON_DIR/flower`` (``parts`` are relative: names, never
        absolute paths; joined with ``/``, as a listing of a thousand records calls it for each)."""
        return "/".join((self.state_dir, *parts))

    def git(self, args: Sequence[str], *, cwd: str | None = None, **kw: Any) -> Result:
        """Run git against this repository (state commands: no worktree needed)."""
        if cwd is not None:
            return runner.run(args, cwd=cwd, **kw)
        return runner.run(["--git-dir", self.git_dir, *args], **kw)

    def git_wt(self, args: Sequence[str], worktree: str | None = None, **kw: Any) -> Result:
        """Run git in a worktree (the current one unless named)."""
        wt = worktree or self.require_worktree()
        return runner.run(args, cwd=wt, **kw)

    def is_shallow(self) -> bool:
        """Is this a shallow clone (history cut off, so merge bases and counts may be wrong)?"""
        return self.git(["rev-parse", "--is-shallow-repository"], check=False).out.strip() == "true"

    def require_worktree(self) -> str:
        if self.worktree is None:
            raise Unsupported("this command needs a work tree, and this is a bare repository",
                              "run it from a worktree of this repository")
        return self.worktree

    @property
    def main_worktree(self) -> str | None:
        """The main checkout (where `.flower.toml` is read from), or None for a bare repo."""
        if "main_worktree" not in self._cache:
            self._cache["main_worktree"] = self._find_main_worktree()
        return self._cache["main_worktree"]  # type: ignore[no-any-return]

    def _find_main_worktree(self) -> str | None:
        if os.path.basename(self.common_dir) == ".git" and os.path.isfile(
            os.path.join(self.common_dir, "index")
        ):
            return os.path.dirname(self.common_dir)
        res = self.git(["worktree", "list", "--porcelain", "-z"], check=False)
        if not res.ok:
            return self.worktree
        first = res.stdout.split(b"\0\0", 1)[0].split(b"\0")
        path = None
        for item in first:
            if item.startswith(b"worktree "):
                path = item[9:].decode("utf-8", "surrogateescape")
            if item == b"bare":
                return None
        return path

    def take_prefetched(self, rev: str) -> str | None:
        """The oid ``rev`` had at discovery (see :func:`discover`'s ``revs``), once: the value
        is handed out a single time and dropped by any ref transaction, so it is never stale."""
        return self._cache.pop("rev:" + rev, None)  # type: ignore[no-any-return]

    def forget_prefetched(self) -> None:
        for k in [k for k in self._cache if k.startswith("rev:")]:
            del self._cache[k]

    def var_list(self) -> list[bytes]:
        """The lines of ``git var -l`` (the identities git would commit with, then every config
        setting as ``key=value``), from one git process per command: what
        :func:`flowergit.gitio.writes.idents` and :meth:`config_last` read. Honours includes
        and the caller's ``-c``."""
        got = self._cache.get("var-l")
        if got is None:
            started = self._cache.pop("var-l-started", None) or self.var_list_start()
            res = started.result(check=False)
            got = self._cache["var-l"] = (res.ok, res.stdout.split(b"\n"))
        return got[1] if got[0] else []

    def var_list_start(self) -> runner.Started:
        """Start the ``git var -l`` :meth:`var_list` reads (without waiting for it)."""
        started: runner.Started | None = self._cache.get("var-l-started")
        if started is None:
            started = self._cache["var-l-started"] = runner.start(
                ["--git-dir", self.git_dir, "var", "-l"], inherit_env=True)
        return started

    def config_last(self, key: str) -> str | None:
        """The last value of a single-line setting ``key`` (lower-case section and name), from
        :meth:`var_list`; None when unset."""
        want = key.encode() + b"="
        found = None
        for line in self.var_list():
            if line.startswith(want):
                found = line[len(want):]
        return None if found is None else found.decode("utf-8", "surrogateescape")

    def config_get_all(self, regexp: str) -> list[tuple[str, str]]:
        """``git config --get-regexp`` (with -z); honours includes and the caller's ``-c``."""
        res = runner.run(["--git-dir", self.git_dir, "config", "-z", "--get-regexp", regexp],
                         check=False, inherit_env=True)
        out: list[tuple[str, str]] = []
        for item in res.stdout.split(b"\0"):
            if not item:
                continue
            k, _, v = item.decode("utf-8", "surrogateescape").partition("\n")
            out.append((k, v))
        return out


def git_version() -> tuple[str, tuple[int, int, int] | None]:
    """The installed git's ``git version`` line, and the version it names (None when it names
    none git flower can read)."""
    res = runner.run(["version"], check=False)
    return res.out.strip(), runner.parse_version(res.out)


def _discovery_args(revs: Sequence[str]) -> list[str]:
    return ["rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
            "--show-object-format", "--is-bare-repository", *revs, "--show-prefix",
            "--show-toplevel"]


def discover_start(cwd: str | None = None, revs: Sequence[str] = ()) -> runner.Started:
    """Start :func:`discover`'s `git rev-parse` (hand it to :func:`discover` as ``started``): a
    command can load its code while git looks for the repository."""
    return runner.start(_discovery_args(revs), cwd=cwd, inherit_env=True)


def discover(cwd: str | None = None, revs: Sequence[str] = (),
             started: runner.Started | None = None) -> Repo:
    """Find the repository the user stands in, from any subdirectory or linked worktree.

    The git version is checked after discovery, from a cache in the repository's state dir
    (one git process fewer per command); when discovery fails, before the failure is judged,
    so a too-old git is reported as that.

    ``revs`` (fixed revision expressions such as ``refs/heads/flower/briefs^{tree}``) are
    resolved by the same `git rev-parse`, saving a process for the command that needs them
    (:meth:`Repo.take_prefetched`); if one does not resolve, discovery runs again without them.
    ``started``: what :func:`discover_start` started with the same ``cwd`` and ``revs``."""
    res = (started or discover_start(cwd, revs)).result(check=False)
    lines = res.out.split("\n")
    resolved: dict[str, str] = {}
    if revs:
        vals = lines[4:4 + len(revs)]
        if len(vals) != len(revs) or not all(len(v) in (40, 64) and v.isalnum() for v in vals):
            return discover(cwd)
        resolved = {"rev:" + r: v for r, v in zip(revs, vals)}
        lines = lines[:4] + lines[4 + len(revs):]
    if res.returncode != 0 and len(lines) < 5:
        runner.check_version()
        err = res.err.strip()
        if "repository extension" in err or "repository format" in err:
            raise Unsupported("this git cannot read the repository: "
                              + " ".join(err.replace("fatal: ", "").split()),
                              "use a newer git (reftable repositories need git >= 2.45), or "
                              "run git flower where the repository was made")
        if "dubious ownership" in err:
            raise Unsupported("git refuses this repository: " + err.splitlines()[0].removeprefix("fatal: "),
                              "if you trust it, add it with `git config --global --add safe.directory <path>`")
        raise UsageError("not a git repository (or any of the parent directories)",
                         "run git flower inside a git repository, or `git init` one first")
    git_dir, common_dir, fmt, is_bare = lines[0], lines[1], lines[2], lines[3] == "true"
    runner.check_version_cached(os.path.join(common_dir, "flower", "cache"))
    if fmt not in ("sha1", "sha256"):
        raise Unsupported(f"unsupported object format {fmt!r}")
    if is_bare or res.returncode != 0:
        repo = Repo(git_dir, common_dir, None, "", fmt)
    else:
        repo = Repo(git_dir, common_dir, lines[5], lines[4], fmt)
    repo._cache.update(resolved)
    return repo


__all__ = ["Repo", "discover", "GitError"]
