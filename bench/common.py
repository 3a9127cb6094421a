"""Shared helpers for the benchmarks: cold-process timing, scratch repositories, tables.

Every figure is the median of repeated cold processes (each run a fresh `git-flower` process),
with the spread (min-max) beside it. Benchmarks print figures and ratios; tests never assert on
wall time.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def flower_exe() -> list[str]:
    exe = shutil.which("git-flower")
    return [exe] if exe else [sys.executable, "-m", "flowergit"]


def env() -> dict[str, str]:
    e = dict(os.environ)
    # a pip-installed wheel has its bytecode compiled at install time: measure that situation
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    e.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    e.setdefault("GIT_AUTHOR_NAME", "bench")
    e.setdefault("GIT_AUTHOR_EMAIL", "bench@flower.invalid")
    e.setdefault("GIT_COMMITTER_NAME", "bench")
    e.setdefault("GIT_COMMITTER_EMAIL", "bench@flower.invalid")
    return e


def precompile() -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "flowergit")],
                   stdout=subprocess.DEVNULL, env=env())


def scratch(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"flower-bench-{prefix}-"))


def run(cmd: Sequence[str], cwd: Path, *, input: bytes | None = None) -> None:
    subprocess.run(list(cmd), cwd=cwd, env=env(), check=True, input=input,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def timed(fn: Callable[[], object], reps: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def cold(cmd: Sequence[str], cwd: Path, reps: int, *, input: bytes | None = None) -> list[float]:
    return timed(lambda: run(cmd, cwd, input=input), reps)


def chain(cmds: Sequence[Sequence[str]], cwd: Path, reps: int) -> list[float]:
    """The time of running ``cmds`` one after the other (a floor made of the bare calls)."""
    def once() -> None:
        for c in cmds:
            subprocess.run(list(c), cwd=cwd, env=env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    return timed(once, reps)


def ms(xs: Sequence[float]) -> str:
    return f"{statistics.median(xs) * 1000:7.1f}"


def spread(xs: Sequence[float]) -> str:
    return f"{min(xs) * 1000:.1f}-{max(xs) * 1000:.1f}"


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(c).rjust(w) if j else str(c).ljust(w) for j, (c, w) in enumerate(zip(r, widths)))
             for r in [headers, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    run(["git", "init", "-q", "-b", "main"], path)
    (path / "README.md").write_text("bench\n")
    run(["git", "add", "README.md"], path)
    run(["git", "commit", "-qm", "init"], path)
    run([*flower_exe(), "init"], path)
    return path


def import_briefs(path: Path, n: int) -> None:
    import json

    lines = "".join(json.dumps({"title": f"brief number {i}", "body": "Do the thing.\n" * 20})
                    + "\n" for i in range(n))
    run([*flower_exe(), "brief", "import", "-"], path, input=lines.encode())


# -- one-run, side-by-side measurement ------------------------------------------------------------
def side_by_side(cases: dict[str, Callable[[], object]], reps: int, warmup: int = 1) -> dict[str, list[float]]:
    """Time every case ``reps`` times, taking turns (a, b, c, a, b, c, …), so a load spike from
    the rest of the machine falls on all of them alike. Returns name -> seconds per run."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    out: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(reps):
        for k, fn in cases.items():
            t = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - t)
    return out


def runner(cmd: Sequence[str], cwd: Path, *, check: bool = True) -> Callable[[], None]:
    def go() -> None:
        r = subprocess.run(list(cmd), cwd=cwd, env=env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): "
                               f"{r.stderr.decode(errors='replace').strip()[-300:]}")
    return go


def chainer(cmds: Sequence[Sequence[str]], cwd: Path) -> Callable[[], None]:
    """The bare calls one after the other, exit status ignored (a floor, not a check)."""
    def go() -> None:
        for c in cmds:
            subprocess.run(list(c), cwd=cwd, env=env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    return go


def traced(cmd: Sequence[str], cwd: Path) -> list[list[str]]:
    """The git commands ``cmd`` itself starts, as argv lists (from GIT_TRACE; the processes it
    leaves running in the background are not counted: only lines written before it exits)."""
    import shlex

    fd, path = tempfile.mkstemp(prefix="flower-bench-trace-", dir=cwd.parent)
    os.close(fd)
    try:
        e = env()
        e["GIT_TRACE"] = path
        subprocess.run(list(cmd), cwd=cwd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(path, encoding="utf-8", errors="replace") as f:
            return [shlex.split(line.split("trace: built-in: ", 1)[1]) for line in f
                    if "trace: built-in: git " in line]
    finally:
        os.unlink(path)


SHIM = """#!/bin/sh
f="$FLOWER_BENCH_SHIM/$(date +%s%N)-$$"
for a in "$@"; do printf '%s\\0' "$a"; done > "$f.argv"
tee "$f.in" | "$FLOWER_BENCH_GIT" "$@"
"""


def recorded(cmd: Sequence[str], cwd: Path) -> list[tuple[list[str], bytes]]:
    """The git commands ``cmd`` itself starts, each with the bytes it was fed on stdin, in the
    order they started: a ``git`` first on PATH records them and runs the real one. A floor
    that replays the commands needs their input: a ``cat-file --batch`` given nothing reads
    nothing, and costs only its start."""
    real = shutil.which("git")
    assert real is not None
    shim = Path(tempfile.mkdtemp(prefix="flower-bench-shim-", dir=cwd.parent))
    try:
        (shim / "git").write_text(SHIM)
        (shim / "git").chmod(0o755)
        e = env()
        e.update(PATH=f"{shim}{os.pathsep}{e.get('PATH', '')}", FLOWER_BENCH_SHIM=str(shim),
                 FLOWER_BENCH_GIT=real)
        subprocess.run(list(cmd), cwd=cwd, env=e, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        calls = sorted((p for p in shim.iterdir() if p.suffix == ".argv"),
                       key=lambda p: int(p.stem.split("-")[0]))
        out = []
        for p in calls:
            argv = p.read_bytes().split(b"\0")[:-1]
            stdin = p.with_suffix(".in")
            out.append((["git", *(a.decode("utf-8", "surrogateescape") for a in argv)],
                        stdin.read_bytes() if stdin.exists() else b""))
    finally:
        shutil.rmtree(shim, ignore_errors=True)
    # The shim is another git to git flower's version cache (keyed by the executable on PATH),
    # so the recorded run asked `git version` once more than a real one does: keep only the
    # calls a plain run makes (GIT_TRACE, after one run that puts the cache back).
    subprocess.run(list(cmd), cwd=cwd, env=env(), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    left: dict[str, int] = {}
    for argv in traced(cmd, cwd):
        left[subcommand(argv)] = left.get(subcommand(argv), 0) + 1
    kept = []
    for argv, data in out:
        name = subcommand(argv)
        if left.get(name, 0) > 0:
            left[name] -= 1
            kept.append((argv, data))
    return kept


def subcommand(argv: Sequence[str]) -> str:
    """The git command ``argv`` runs: the first word after git's own options."""
    i = 1
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in ("-c", "-C", "--git-dir", "--work-tree", "--namespace") else 1
    return argv[i] if i < len(argv) else ""


def git_calls(cmd: Sequence[str], cwd: Path) -> int:
    """How many git processes ``cmd`` itself starts (:func:`traced`)."""
    return len(traced(cmd, cwd))


def med(xs: Sequence[float]) -> float:
    """Median in milliseconds."""
    return statistics.median(xs) * 1000


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    git_v = subprocess.run(["git", "version"], capture_output=True, text=True).stdout.strip()
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {"nproc": str(os.cpu_count() or "?"), "cpu": cpu,
            "python": sys.version.split()[0], "git": git_v.removeprefix("git version "),
            "load": load}


def sh(argv: list[str], cwd: Path, env: dict[str, str], input: bytes | None = None) -> str:
    """Run a setup step; stop the benchmark with its error if it fails."""
    r = subprocess.run(argv, cwd=cwd, env=env, input=input, capture_output=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed ({r.returncode}): {r.stderr.decode()}")
    return r.stdout.decode()


def flower_argv() -> list[str]:
    """How the dispatch and merge benchmarks run git flower: the installed command, as the
    other rows and as `git flower` do (``python -m flowergit`` without one)."""
    return flower_exe()


def project(repo: Path, files: int, env: dict[str, str], extra: dict[str, str] | None = None) -> Path:
    """A repository of ``files`` small Python modules (plus ``extra`` files), committed and with
    `git flower init` done: what a checkout costs in the dispatch and merge benchmarks."""
    repo.mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main"], repo, env)
    for i in range(files):
        d = repo / f"src/pkg{i % 50:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"mod{i}.py").write_text(f"# module {i}\n" + "x = 1\n" * 20)
    for name, text in (extra or {}).items():
        (repo / name).write_text(text)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "project"], repo, env)
    sh([*flower_argv(), "init"], repo, env)
    return repo
