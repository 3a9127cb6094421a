"""Hermetic fixtures on real git repositories; git flower always runs as a real subprocess.

Set FLOWER_KEEP_TMP=1 to keep a failing test's repositories for inspection.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BIN = os.path.dirname(sys.executable)
OUTER_PATH = os.environ.get("PATH", "")
ROOT = Path(__file__).resolve().parent.parent


def isolate(mp: pytest.MonkeyPatch, home: Path, path: str) -> None:
    """Point git and git flower at a private HOME and git config: no system config, a fixed
    identity, `main` as default branch, no GIT_*/FLOWER* variables from outside."""
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Flower Test\n\temail = test@flower.invalid\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
        "[protocol \"file\"]\n\tallow = always\n"
    )
    for var in list(os.environ):
        if var.startswith(("GIT_", "FLOWER")) and var not in ("GIT_FLOWER_TRACE", "FLOWER_KEEP_TMP"):
            mp.delenv(var, raising=False)
    mp.setenv("HOME", str(home))
    mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    mp.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    mp.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    mp.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    mp.setenv("GIT_EDITOR", "false")
    mp.setenv("GIT_TERMINAL_PROMPT", "0")
    mp.setenv("PATH", BIN + os.pathsep + path)
    mp.delenv("NO_COLOR", raising=False)


@pytest.fixture(autouse=True)
def hermetic(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private HOME and git config for each test (see :func:`isolate`)."""
    home = tmp_path_factory.mktemp("home")
    isolate(monkeypatch, home, os.environ.get("PATH", ""))
    yield home


@pytest.fixture(autouse=True)
def reap_leftovers(request: pytest.FixtureRequest, hermetic: Path) -> Iterator[None]:
    """After each test, end every process still working inside its temporary directories (a
    supervisor, an agent, a tmux server a failing test left behind), so no test outlives itself."""
    yield
    import psutil

    from flowergit.procs.groups import kill_tree

    roots = [str(hermetic)]
    tmp = request.node.funcargs.get("tmp_path") if hasattr(request.node, "funcargs") else None
    if tmp is not None:
        roots.append(str(tmp))
    me = os.getpid()
    for p in psutil.process_iter(["pid", "cwd"]):
        try:
            cwd = p.info.get("cwd") or ""
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if p.pid != me and any(cwd == r or cwd.startswith(r + os.sep) for r in roots):
            try:
                kill_tree(p.pid, grace=1.0)
            except (psutil.NoSuchProcess, ProcessLookupError, PermissionError):
                pass


def git(cwd: str | Path, *args: str, check: bool = True, input: bytes | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input, env=e)
    out = subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode("utf-8", "replace"),
                                      r.stderr.decode("utf-8", "replace"))
    if check and r.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({r.returncode}): {out.stderr}")
    return out


def flower(cwd: str | Path, *args: str, input: bytes | str | None = None,
           env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m flowergit ARGS` in ``cwd``: real process, real exit code and stderr."""
    e = dict(os.environ)
    e.update(env or {})
    data = input.encode() if isinstance(input, str) else input
    r = subprocess.run([sys.executable, "-m", "flowergit", *args], cwd=cwd, capture_output=True,
                       input=data, env=e, timeout=timeout,
                       stdin=None if data is not None else subprocess.DEVNULL)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode("utf-8", "replace"),
                                       r.stderr.decode("utf-8", "replace"))


def flower_json(cwd: str | Path, *args: str, **kw: object) -> object:
    import json

    r = flower(cwd, *args, "--json", **kw)  # type: ignore[arg-type]
    assert r.returncode == 0, f"git flower {' '.join(args)} exited {r.returncode}: {r.stderr}"
    doc = json.loads(r.stdout)
    assert doc["version"] == 1 and doc["ok"] is True
    return doc["data"]


_TEMPLATES: dict[tuple[str, bool], Path] = {}
_TEMPLATE_ROOT: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def template_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where :func:`make_repo` keeps the repositories it copies (one set per test process)."""
    root = tmp_path_factory.mktemp("templates")
    _TEMPLATE_ROOT[:] = [root]
    return root


def make_repo(path: Path, *, object_format: str = "sha1", init_flower: bool = True) -> Path:
    """A repository at ``path`` with one commit (and `git flower init` done and committed).

    The first call per kind builds it for real into a template; later calls copy the template
    and refresh the index's stat data, which is a tenth of the cost of a `git flower init`
    subprocess and two commits. Every copy is byte-identical, commit ids included."""
    key = (object_format, init_flower)
    tpl = _TEMPLATES.get(key)
    if tpl is None and _TEMPLATE_ROOT:
        tpl = _TEMPLATE_ROOT[0] / f"{object_format}-{'flower' if init_flower else 'plain'}"
        with pytest.MonkeyPatch.context() as mp:  # built as a fresh test would, whatever this one changed
            isolate(mp, _TEMPLATE_ROOT[0] / "home", OUTER_PATH)
            _build_repo(tpl, object_format=object_format, init_flower=init_flower)
        _TEMPLATES[key] = tpl
    if tpl is None:
        return _build_repo(path, object_format=object_format, init_flower=init_flower)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and any(path.iterdir()):
        raise AssertionError(f"make_repo: {path} is not empty")
    shutil.copytree(tpl, path, symlinks=True, dirs_exist_ok=True)
    git(path, "update-index", "-q", "--refresh")
    return path


def _build_repo(path: Path, *, object_format: str, init_flower: bool) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main", f"--object-format={object_format}")
    (path / "README.md").write_text("hello\n")
    git(path, "add", "README.md")
    git(path, "commit", "-qm", "init")
    if init_flower:
        r = flower(path, "init")
        assert r.returncode == 0, r.stderr
        git(path, "add", ".flower.toml")
        git(path, "commit", "-qm", "flower config")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit, `git flower init` done and its config committed."""
    return make_repo(tmp_path / "repo")


@pytest.fixture(params=["sha1", "sha256"])
def any_repo(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The same, once per object format."""
    return make_repo(tmp_path / f"repo-{request.param}", object_format=request.param)


@pytest.fixture
def bare_remote(tmp_path: Path, repo: Path) -> Path:
    """A bare clone of ``repo`` (with flower/briefs), configured as ``origin``."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "fetch", "-q", "origin")
    return remote


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    """(bare remote, its git:// url): a repository served by `git daemon` on 127.0.0.1 for the
    test's duration (see tests/sync_helpers.py)."""
    from sync_helpers import git_daemon, served_remote

    seed = make_repo(tmp_path / "seed")
    bare = served_remote(tmp_path, seed)
    with git_daemon(bare.parent) as url:
        yield bare, f"{url}/proj.git"


@pytest.fixture
def rec_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory for fake agents to record what they saw in (``REC_DIR``)."""
    d = tmp_path / "rec"
    d.mkdir()
    monkeypatch.setenv("REC_DIR", str(d))
    return d


def until(pred: Any, timeout: float = 30.0, what: str = "condition", poll: float = 0.05) -> Any:
    """Poll ``pred`` until it returns something true (returned), or fail after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


def sigkill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant at once, as a crash or the OOM killer would: no
    process of it gets to clean up."""
    import psutil

    try:
        tree = [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def sleepers() -> Iterator[Any]:
    """Make long `sleep` processes to stand for live daemons and agents; killed at teardown."""
    made: list[subprocess.Popen[bytes]] = []

    def make() -> subprocess.Popen[bytes]:
        p = subprocess.Popen(["sleep", "300"])
        made.append(p)
        return p

    yield make
    for p in made:
        p.kill()
        p.wait(timeout=10)


def write_exe(path: Path, text: str) -> Path:
    """Write an executable script (a fake agent, suite or git shim)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


# -- the "nothing lost" oracle (FAULTS.md d.4) --------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    head: str
    index_tree: str
    files: tuple[tuple[str, int, str], ...]
    stash: str
    refs: str
    worktrees: str
    locks: tuple[str, ...]


def snapshot_state(repo: str | Path, *, include_refs: Sequence[str] = ("refs/heads", "refs/flower",
                                                                        "refs/notes")) -> Snapshot:
    """HEAD, index tree, every worktree byte (ignored files too), stash list, refs, worktrees
    and lock files. Equal snapshots before and after a failure mean nothing was lost."""
    repo = Path(repo)
    head = git(repo, "symbolic-ref", "-q", "HEAD", check=False).stdout.strip() + " " + \
        git(repo, "rev-parse", "-q", "--verify", "HEAD", check=False).stdout.strip()
    index_tree = git(repo, "write-tree").stdout.strip()
    files = []
    for dirpath, dirnames, filenames in os.walk(repo):
        if ".git" in dirnames:
            dirnames.remove(".git")
        for fn in filenames:
            p = Path(dirpath) / fn
            rel = str(p.relative_to(repo))
            st = p.lstat()
            data = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
            files.append((rel, st.st_mode, hashlib.sha256(data).hexdigest()))
    stash = git(repo, "stash", "list", "--format=%H", check=False).stdout
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", *include_refs).stdout
    wts = git(repo, "worktree", "list", "--porcelain").stdout
    # the merge gate's kept scratch checkout is a cache of git flower's (like the list cache):
    # where it stands says nothing about the user's work
    wts = "\n\n".join(w for w in wts.split("\n\n") if "/flower/scratch/kept\n" not in w)
    common = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip())
    locks = tuple(sorted(str(p) for p in common.rglob("*.lock")))
    return Snapshot(head, index_tree, tuple(sorted(files)), stash, refs, wts, locks)


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    if call.when == "call" and call.excinfo is not None and os.environ.get("FLOWER_KEEP_TMP"):
        tmp = item.funcargs.get("tmp_path") if hasattr(item, "funcargs") else None
        if tmp:
            keep = Path("/tmp/flower-kept") / item.name
            shutil.copytree(tmp, keep, dirs_exist_ok=True, symlinks=True)
            sys.stderr.write(f"\nkept {keep}\n")


def slow_after(values: Sequence[object], keep: int = 1) -> list[object]:
    """Parameters for a matrix test: the first ``keep`` run in the quick suite, the rest are
    marked ``slow`` (the full suite runs them all)."""
    return [pytest.param(v, marks=() if i < keep else pytest.mark.slow) for i, v in enumerate(values)]
