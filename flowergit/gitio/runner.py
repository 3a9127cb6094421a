"""The one runner for the git CLI.

Every git process git flower starts goes through :func:`run`: an argv list (never a shell), a
scrubbed environment (the variables of ``git rev-parse --local-env-vars`` removed, prompts off,
flower's own calls marked with ``FLOWER=1``), and one error type that carries argv, exit code,
stdout and stderr.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence

from flowergit.errors import FlowerError, Unsupported

MIN_GIT = (2, 38)

# `git rev-parse --local-env-vars` (stable since git 2.x; checked by a test against the real git).
LOCAL_ENV_VARS = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
)
# Variables that would change what plumbing does or prints.
_ALSO_DROP = ("GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS", "GIT_NOGLOB_PATHSPECS",
              "GIT_ICASE_PATHSPECS", "GIT_EXTERNAL_DIFF", "GIT_DIFF_OPTS", "GIT_PAGER",
              "GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "GIT_TRACE2_EVENT")
# Config pinned on every call so user settings cannot change machine-read output.
PINNED = ("-c", "color.ui=false", "-c", "core.quotePath=false", "-c", "advice.detachedHead=false")

_env_cache: dict[str, str] | None = None


def scrubbed_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child git: local repo variables removed, prompts off, marked."""
    global _env_cache
    if _env_cache is None:
        drop = set(LOCAL_ENV_VARS) | set(_ALSO_DROP)
        env = {k: v for k, v in os.environ.items() if k not in drop}
        # ssh options for network calls are set by gitio/remote.py, which keeps the user's
        # own core.sshCommand / GIT_SSH_COMMAND and only adds BatchMode and a timeout
        env.update(GIT_TERMINAL_PROMPT="0", FLOWER="1", LC_ALL="C", LANGUAGE="C")
        _env_cache = env
    env = dict(_env_cache)
    if extra:
        env.update(extra)
    return env


def _subcommand(argv: Sequence[str]) -> str:
    """The git subcommand in ``argv`` (after ``-c k=v`` and ``--git-dir X`` options)."""
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("-c", "--git-dir", "-C", "--work-tree"):
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        return a
    return "?"


class GitError(FlowerError):
    """git exited non-zero where the caller did not expect it."""

    code = "internal"

    def __init__(self, argv: Sequence[str], returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        err = stderr.decode("utf-8", "replace").strip()
        how = f"exited {returncode}"
        if returncode < 0:
            import signal

            try:
                how = f"was killed by {signal.Signals(-returncode).name}"
            except ValueError:
                how = f"was killed by signal {-returncode}"
            if -returncode == getattr(signal, "SIGXFSZ", -1):
                how += " (a file size limit: is the disk or a quota full?)"
        super().__init__(f"git {_subcommand(self.argv)} {how}" + (f": {err}" if err else ""))

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")


class Result(tuple[list[str], int, bytes, bytes]):
    """(argv, returncode, stdout, stderr) of one git process. A plain tuple subclass rather than
    a ``typing.NamedTuple`` (all of these records are): importing typing and building named
    tuples costs a hot command several milliseconds."""

    __slots__ = ()

    def __new__(cls, argv: list[str], returncode: int, stdout: bytes, stderr: bytes) -> Result:
        return tuple.__new__(cls, (argv, returncode, stdout, stderr))

    @property
    def argv(self) -> list[str]:
        return self[0]

    @property
    def returncode(self) -> int:
        return self[1]

    @property
    def stdout(self) -> bytes:
        return self[2]

    @property
    def stderr(self) -> bytes:
        return self[3]

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "surrogateescape")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(
    args: Sequence[str],
    *,
    cwd: str | None = None,
    input: bytes | None = None,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    inherit_env: bool = False,
    timeout: float | None = None,
) -> Result:
    """Run ``git <args>``. ``inherit_env`` keeps the caller's environment (discovery only)."""
    argv = ["git", *PINNED, *args]
    full_env = dict(os.environ) if inherit_env else scrubbed_env(env)
    if inherit_env and env:
        full_env.update(env)
    try:
        p = subprocess.run(argv, cwd=cwd, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=full_env, timeout=timeout,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise Unsupported("git is not installed or not on PATH",
                          "install git >= 2.38 and make sure `git` is on PATH") from None
    except subprocess.TimeoutExpired as e:
        raise GitError(argv, -1, e.stdout or b"", b"timed out after %ds" % int(timeout or 0)) from None
    res = Result(argv, p.returncode, p.stdout, p.stderr)
    if check and p.returncode != 0:
        raise GitError(argv, p.returncode, p.stdout, p.stderr)
    return res


_VERSION_RE = re.compile(r"git version (\d+)\.(\d+)(?:\.(\d+))?", re.ASCII)


def parse_version(text: str) -> tuple[int, int, int] | None:
    """Parse ``git version`` output, vendor suffixes included (``2.39.3 (Apple Git-146)``)."""
    m = _VERSION_RE.match(text.strip())
    if not m:
        return None
    return int(m[1]), int(m[2]), int(m[3] or 0)


def git_on_path() -> str | None:
    """The `git` executable a child process will run (the first one on PATH)."""
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        p = os.path.join(d or ".", "git")
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def check_version_cached(cache_dir: str) -> tuple[int, int, int]:
    """:func:`check_version`, remembered in ``cache_dir`` for the git executable on PATH (keyed
    by its path, inode, size and mtime), so a hot command does not start `git version` each
    time: a different or upgraded git is a different key and is checked afresh."""
    exe = git_on_path()
    key = ""
    if exe is not None:
        try:
            st = os.stat(exe)
            key = f"{os.path.realpath(exe)}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0"
        except OSError:
            key = ""
    path = os.path.join(cache_dir, "git-version")
    if key:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
            if text.startswith(key):
                a, b, c = (int(x) for x in text[len(key):].split("."))
                if (a, b) >= MIN_GIT:
                    return a, b, c
        except (OSError, ValueError):
            pass
    ver = check_version()
    if key:
        try:
            os.makedirs(cache_dir, exist_ok=True)
            tmp = f"{path}.{os.getpid()}"
            with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(key + ".".join(map(str, ver)))
            os.replace(tmp, path)
        except OSError:
            pass  # a cache is an optimisation only
    return ver


def check_version() -> tuple[int, int, int]:
    res = run(["version"], check=False)
    ver = parse_version(res.out)
    if ver is None:
        raise Unsupported(f"cannot understand the output of `git version`: {res.out.strip()[:80]!r}",
                          "install git >= 2.38")
    if ver[:2] < MIN_GIT:
        found = ".".join(map(str, ver))
        raise Unsupported(f"git >= {MIN_GIT[0]}.{MIN_GIT[1]} required, found {found}",
                          "upgrade git; git flower needs `git merge-tree --write-tree` (2.38)")
    return ver
