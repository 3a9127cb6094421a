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
