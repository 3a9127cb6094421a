"""The one runner for the git CLI.

Every git process git flower starts goes through :func:`run`: an argv list (never a shell), a
scrubbed environment (the variables of ``git rev-parse --local-env-vars`` removed, prompts off,
flower's own calls marked with ``FLOWER=1``), and one error type that carries argv, exit code,
stdout and stderr.

Over 500 lines because it is the whole door: the environment, the spawn (``posix_spawn``
without :mod:`subprocess`), the version check and the error mapping (disk full, lock held,
missing object) must agree with each other, and splitting them would put git's process on
two sides of one import.
"""

from __future__ import annotations

import os

from flowergit.errors import FlowerError, ResourceExhausted, Unsupported, resource_kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

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


def environment_changed() -> None:
    """Forget the environment :func:`scrubbed_env` was built from (``os.environ`` was
    replaced, as in a forked supervisor)."""
    global _env_cache
    _env_cache = None


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

    def __new__(cls, argv: Sequence[str], returncode: int, stdout: bytes,
                stderr: bytes) -> GitError:
        # git that stopped because the disk, a quota, descriptors or a size limit ran out is
        # the one clean resource error (exit 75), still a GitError to every caller
        kind = GitExhausted if cls is GitError and _exhausted(returncode, stderr) else cls
        return super().__new__(kind, argv, returncode, stdout, stderr)

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


def _exhausted(returncode: int, stderr: bytes) -> str | None:
    if returncode < 0:
        import signal

        return "EFBIG" if -returncode == getattr(signal, "SIGXFSZ", -1) else None
    return resource_kind(stderr.decode("utf-8", "replace")) if stderr else None


class GitExhausted(GitError, ResourceExhausted):
    """A :class:`GitError` whose git ran out of a resource: exit 75 with the path and a hint,
    rather than git's raw stderr."""

    code = ResourceExhausted.code
    exit = ResourceExhausted.exit

    def __init__(self, argv: Sequence[str], returncode: int, stdout: bytes, stderr: bytes) -> None:
        super().__init__(argv, returncode, stdout, stderr)
        err = stderr.decode("utf-8", "replace")
        self.describe(_exhausted(returncode, stderr) or "ENOSPC", _path_in(err, self.argv),
                      "git " + _subcommand(self.argv))


def _path_in(err: str, argv: Sequence[str]) -> str | None:
    """The path git's message names ('…' quoted, before the strerror), else its repository."""
    for line in err.splitlines():
        if resource_kind(line) and line.count("'") >= 2:
            return line.split("'")[1]
    for i, a in enumerate(argv[:-1]):
        if a in ("--git-dir", "-C"):
            return argv[i + 1]
    return os.getcwd()


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
    input: bytes | bytearray | None = None,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    inherit_env: bool = False,
    timeout: float | None = None,
) -> Result:
    """Run ``git <args>``. ``inherit_env`` keeps the caller's environment (discovery only)."""
    return start(args, cwd=cwd, input=input, env=env, inherit_env=inherit_env).result(
        check=check, timeout=timeout)


def start(
    args: Sequence[str],
    *,
    cwd: str | None = None,
    input: bytes | bytearray | None = None,
    env: Mapping[str, str] | None = None,
    inherit_env: bool = False,
) -> Started:
    """Start ``git <args>`` as :func:`run` would, without waiting: :meth:`Started.result` is
    :func:`run`'s answer. Lets a command start several git processes (or one long one) and do
    its own work while they run."""
    # `-C DIR` rather than a working directory for the child: git changes there itself, exactly
    # as it would have started there, and the child needs no chdir of its own (see `spawn`)
    argv = ["git", *(("-C", cwd) if cwd is not None else ()), *PINNED, *args]
    full_env = dict(os.environ) if inherit_env else scrubbed_env(env)
    if inherit_env and env:
        full_env.update(env)
    try:
        return Started(argv, full_env, input)
    except FileNotFoundError:
        raise Unsupported("git is not installed or not on PATH",
                          "install git >= 2.38 and make sure `git` is on PATH") from None


# -- starting git -------------------------------------------------------------------------------
# `git flower` starts a handful of short git processes per command; importing `subprocess` alone
# (threading, selectors, locale, signal) costs a hot command about as much as one of them. So the
# git runner starts them with `os.posix_spawnp` and reads their pipes with `select.poll`, the same
# system calls subprocess makes for a `run(..., capture_output=True)`.


def _sigdefaults() -> tuple[int, ...]:
    """Signals a child gets back at their defaults (Python ignores SIGPIPE; git must not).
    SIGXFSZ stays ignored, as Python has it: at a file size limit git then sees EFBIG, says
    "File too large" and removes its lock files, rather than dying with ``index.lock`` held."""
    try:
        sig = __import__("_signal")  # the C module: no enum building, unlike `signal`
    except ImportError:  # pragma: no cover - every CPython has it
        import signal as sig
    return tuple(getattr(sig, n) for n in ("SIGPIPE",) if hasattr(sig, n))


def spawn(argv: Sequence[str], env: Mapping[str, str], *, stdin: int | None,
          stdout: int, stderr: int) -> int:
    """Start ``argv`` (looked up on PATH) with the given descriptors as its 0, 1, 2 (``stdin``
    None: /dev/null) and signal dispositions at their defaults; returns the pid."""
    actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = []
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        if fd is None:
            actions.append((os.POSIX_SPAWN_OPEN, target, os.devnull, os.O_RDONLY, 0))
        else:
            actions.append((os.POSIX_SPAWN_DUP2, fd, target))
    return os.posix_spawnp(argv[0], list(argv), env, file_actions=actions,
                           setsigdef=_sigdefaults())


def wait_code(pid: int) -> int:
    """Reap ``pid``: its exit code, or minus the signal that killed it (as subprocess says)."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


class _Child:
    """A process started with pipes on its stdout and stderr (and stdin, given ``input``);
    :meth:`finish` feeds the rest of the input, collects both outputs and reaps it."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], input: bytes | bytearray | None) -> None:
        self.argv, self.env, self.input = argv, env, input
        self.pid = -1
        self.code: int | None = None  # once reaped
        self.done: tuple[int, bytes, bytes] | None = None
        self.fds: list[int] = []
        self.out_r = self.err_r = self.in_w = -1
        self.view = memoryview(input or b"")
        try:
            self.out_r, out_w = os.pipe()
            self.fds += [self.out_r, out_w]
            self.err_r, err_w = os.pipe()
            self.fds += [self.err_r, err_w]
            in_r = -1
            if input is not None:
                in_r, self.in_w = os.pipe()
                self.fds += [in_r, self.in_w]
            if min(self.fds) <= 2:
                # a standard descriptor of ours is closed: keep the plumbing simple (finish
                # runs it through subprocess)
                self._close_all()
                return
            self.pid = spawn(argv, env, stdin=in_r if input is not None else None,
                             stdout=out_w, stderr=err_w)
            for fd in (out_w, err_w, in_r):
                if fd != -1:
                    os.close(fd)
                    self.fds.remove(fd)
            if input is not None:
                os.set_blocking(self.in_w, False)
                self._feed()  # what the pipe takes now: a short request is all in at once
        except BaseException:
            self._close_all()
            if self.pid > 0 and self.code is None:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            raise

    def _close_all(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []

    def _feed(self) -> None:
        try:
            while self.view:
                self.view = self.view[os.write(self.in_w, self.view[:65536]):]
        except BlockingIOError:
            return
        except BrokenPipeError:
            self.view = self.view[:0]  # it stopped reading: what it said is what counts
        os.close(self.in_w)
        self.fds.remove(self.in_w)
        self.in_w = -1

    def poll(self) -> bool:
        """Has it ended? (Reaps it if so; its output is still there for :meth:`finish`.)"""
        if self.pid < 0 or self.code is not None:
            return True
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return False
        self.code = os.waitstatus_to_exitcode(status)
        return True

    def finish(self, timeout: float | None) -> tuple[int, bytes, bytes]:
        if self.done is not None:
            return self.done
        if self.pid < 0:
            self.done = _communicate_subprocess(self.argv, self.env, self.input, timeout)
            return self.done
        import select
        import time

        chunks: dict[int, list[bytes]] = {self.out_r: [], self.err_r: []}
        poller = select.poll()
        poller.register(self.out_r, select.POLLIN)
        poller.register(self.err_r, select.POLLIN)
        if self.in_w != -1:
            poller.register(self.in_w, select.POLLOUT)
        open_fds = len(chunks) + (1 if self.in_w != -1 else 0)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while open_fds:
                wait = None
                if deadline is not None:
                    wait = max(0, int((deadline - time.monotonic()) * 1000))
                    if wait == 0:
                        raise TimeoutError(b"".join(chunks[self.out_r]))
                for fd, _ev in poller.poll(wait):
                    if fd == self.in_w:
                        poller.unregister(fd)
                        self._feed()
                        if self.in_w == -1:
                            open_fds -= 1
                        else:
                            poller.register(self.in_w, select.POLLOUT)
                        continue
                    data = os.read(fd, 65536)
                    if data:
                        chunks[fd].append(data)
                    else:
                        poller.unregister(fd)
                        open_fds -= 1
            if self.code is None:
                self.code = wait_code(self.pid)
        except BaseException:
            if self.code is None:
                os.kill(self.pid, 9)  # SIGKILL; a timeout, or an exception (Ctrl-C) while it runs
                os.waitpid(self.pid, 0)
                self.code = -9
            raise
        finally:
            self._close_all()
        self.done = (self.code, b"".join(chunks[self.out_r]), b"".join(chunks[self.err_r]))
        return self.done


class Started:
    """A git process started by :func:`start`."""

    __slots__ = ("argv", "_child", "_result")

    def __init__(self, argv: list[str], env: Mapping[str, str], input: bytes | bytearray | None) -> None:
        self.argv = argv
        self._child = _Child(argv, env, input)
        self._result: Result | None = None

    def done(self) -> bool:
        """Has the process ended? (Never blocks.)"""
        return self._result is not None or self._child.poll()

    def result(self, *, check: bool = True, timeout: float | None = None) -> Result:
        """Wait for it: :func:`run`'s result (raises :class:`GitError` as it does)."""
        res = self._result
        if res is None:
            try:
                rc, out, err = self._child.finish(timeout)
            except TimeoutError as e:
                raise GitError(self.argv, -1, e.args[0],
                               b"timed out after %ds" % int(timeout or 0)) from None
            res = self._result = Result(self.argv, rc, out, err)
        if check and res.returncode != 0:
            raise GitError(self.argv, res.returncode, res.stdout, res.stderr)
        return res


def _communicate_subprocess(argv: Sequence[str], env: Mapping[str, str], input: bytes | bytearray | None,
                            timeout: float | None) -> tuple[int, bytes, bytes]:
    import subprocess

    try:
        p = subprocess.run(list(argv), input=input, capture_output=True, env=dict(env),
                           timeout=timeout,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise TimeoutError(e.stdout or b"") from None
    return p.returncode, p.stdout, p.stderr


def parse_version(text: str) -> tuple[int, int, int] | None:
    """Parse ``git version`` output, vendor suffixes included (``2.39.3 (Apple Git-146)``)."""
    import re

    m = re.match(r"git version (\d+)\.(\d+)(?:\.(\d+))?", text.strip(), re.ASCII)
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
