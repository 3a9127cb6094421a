#!/usr/bin/env python3
"""Scale: every command against its bare-git floor at 10,000 briefs, the list cache and import
at 100,000, and `why` in a long history against `git blame -L`.

    python bench/bench_scale.py [--reps 7] [--big [--plot SVG]] [--commits 30000]

* **floors** (10,000 briefs, 1,000 dispatch records, 1,000 signals): each command's CPU time
  (user + system of the process and its children, median of cold runs taken in turns with its
  floor) against its floor: `python -c pass` plus the very git commands it started (read from
  GIT_TRACE and run bare, one after the other). The peak RSS of one run's own process is
  printed beside (`bench/peak.py`).
* **100k** (with `--big`): `brief import`, `brief list --json` warm and `status` at 1,000,
  10,000 and 100,000 briefs, and the list at 100,000 right after one `brief set` and with no
  cache. Wall time, and the peak RSS of each command's own process (`bench/peak.py`);
  `--plot FILE` draws the curves as an SVG chart.
* **why** (`--commits N`, default 30,000): `git flower why FILE:LINE` for the newest and the
  oldest line of a file in an N-commit first-parent history, against `git blame -L` of that line.

Figures and ratios only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build  # noqa: E402
from common import (env, flower_exe, import_briefs, init_repo, precompile, scratch,  # noqa: E402
                    recorded, table)

PY = [sys.executable, "-c", "pass"]


def measure(cmd: Sequence[str], cwd: Path, *, stdout: int = subprocess.DEVNULL) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS KiB) of one process and the children it waited for."""
    t = time.perf_counter()
    p = subprocess.Popen(list(cmd), cwd=cwd, env=env(), stdout=stdout, stderr=subprocess.DEVNULL)
    if stdout == subprocess.PIPE:
        assert p.stdout is not None
        for _ in iter(lambda: p.stdout.read(1 << 16), b""):  # type: ignore[union-attr]
            pass
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def peak_mib(argv: Sequence[str], cwd: Path, *, stdout: int = subprocess.DEVNULL) -> float:
    """The peak RSS of one git flower command's own process, MiB (``bench/peak.py``: not the
    ``wait4`` figure, which counts this benchmark's memory too)."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="flower-bench-peak-")
    os.close(fd)
    try:
        e = {**env(), "FLOWER_BENCH_PEAK": path}
        p = subprocess.Popen([sys.executable, str(Path(__file__).parent / "peak.py"), *argv],
                             cwd=cwd, env=e, stdout=stdout, stderr=subprocess.DEVNULL)
        if stdout == subprocess.PIPE:
            assert p.stdout is not None
            for _ in iter(lambda: p.stdout.read(1 << 16), b""):  # type: ignore[union-attr]
                pass
        p.wait()
        return int(Path(path).read_text() or 0) / 1024
    finally:
        os.unlink(path)


def cpu_of(fn: Callable[[], None]) -> float:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    fn()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(cmd: Sequence[str], cwd: Path) -> Callable[[], None]:
    def go() -> None:
        subprocess.run(list(cmd), cwd=cwd, env=env(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return go


def chain(calls: Sequence[tuple[Sequence[str], bytes]], cwd: Path) -> Callable[[], None]:
    """Run ``(argv, stdin bytes)`` calls one after the other (a floor made of the bare calls)."""
    def go() -> None:
        for argv, data in calls:
            subprocess.run(list(argv), cwd=cwd, env=env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, input=data)
    return go


def turns(cases: dict[str, Callable[[], None]], reps: int) -> dict[str, list[float]]:
    """CPU seconds of each case, taking turns (a, b, a, b, …) after one warm-up each."""
    for fn in cases.values():
        fn()
    out: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(reps):
        for k, fn in cases.items():
            out[k].append(cpu_of(fn))
    return out


def ms(x: float) -> str:
    return f"{x * 1000:.1f}"


FLOOR_COMMANDS: list[tuple[str, ...]] = [
    ("brief", "set", "7", "kind=bug"), ("brief", "show", "7"), ("doctor",), ("ps", "--all"),
    ("tick",), ("status",), ("signal", "list"), ("daemon", "list"), ("baton", "show"),
]


def scale_repo(briefs: int) -> Path:
    """A repository with ``briefs`` briefs, a tenth as many dispatch records and signals."""
    repo = init_repo(scratch("flower-scale-") / "repo")
    import_briefs(repo, briefs)
    build.dispatches(repo, briefs // 10, briefs=briefs)
    build.signals(repo, briefs // 10)
    return repo


def floors(repo: Path, reps: int, what: str) -> str:
    fl = flower_exe()
    rows = []
    for argv in FLOOR_COMMANDS:
        cmd = [*fl, *argv]
        run(cmd, repo)()  # the cache and anything lazily made are in place
        calls = recorded(cmd, repo)  # each git call with its input, replayed as the floor
        got = turns({"cmd": run(cmd, repo), "floor": chain([(PY, b""), *calls], repo)}, reps)
        c, f = statistics.median(got["cmd"]), statistics.median(got["floor"])
        rss = peak_mib(argv, repo)
        rows.append([" ".join(argv), ms(c), ms(f), f"{c / f:.2f}x", str(len(calls)),
                     f"{rss:.1f}"])
        if argv[:2] == ("brief", "set"):
            run([*fl, "brief", "set", "7", "kind=brief"], repo)()
    return (f"Every command against its floor ({what}): CPU ms (median of "
            f"{reps} cold runs, in turns with the floor)\n"
            + table(rows, ["command", "CPU ms", "floor ms", "ratio", "git procs", "peak MiB"]))


SIZES = (1_000, 10_000, 100_000)


def big(reps: int, plot: str | None = None) -> str:
    """Import, warm list and status at 1,000, 10,000 and 100,000 briefs (wall time and peak
    RSS of each process), a list right after one change at 100,000; with ``plot``, the curves
    as an SVG chart at that path."""
    fl = flower_exe()
    lines = {}
    rows = []
    curves: dict[str, list[tuple[float, float]]] = {
        "brief import": [], "brief list --json (warm)": [], "status": []}
    for n in SIZES:
        repo = init_repo(scratch("flower-scale-") / f"repo{n}")
        src = repo.parent / "briefs.jsonl"
        src.write_text("".join(f'{{"title": "brief {i}", "body": "spec {i}\\n"}}\n' for i in range(n)))
        t = time.perf_counter()
        rss = peak_mib(["brief", "import", str(src)], repo)  # timed as it runs, once
        wall = time.perf_counter() - t
        lines[n] = (repo, wall)
        curves["brief import"].append((n, wall * 1000))
        rows.append([f"brief import of {n:,}", ms(wall), "", f"{rss:.1f}"])
        run([*fl, "brief", "list", "--json"], repo)()
    ratio = lines[100_000][1] / lines[10_000][1]
    rows.append(["import 100k / import 10k", "", f"{ratio:.1f}x", ""])
    warm: dict[int, list[float]] = {}
    for n, (repo, _) in lines.items():
        samples = [measure([*fl, "brief", "list", "--json"], repo, stdout=subprocess.PIPE)
                   for _ in range(reps)]
        warm[n] = [s[0] for s in samples]
        curves["brief list --json (warm)"].append((n, statistics.median(warm[n]) * 1000))
        rows.append([f"brief list --json, warm, {n:,}", ms(statistics.median(warm[n])), "",
                     f"{peak_mib(['brief', 'list', '--json'], repo, stdout=subprocess.PIPE):.1f}"])
        st = [measure([*fl, "status"], repo) for _ in range(reps)]
        curves["status"].append((n, statistics.median(s[0] for s in st) * 1000))
        rows.append([f"status, {n:,}", ms(statistics.median(s[0] for s in st)), "",
                     f"{peak_mib(['status'], repo):.1f}"])
    rows.append(["list 100k / list 10k", "",
                 f"{statistics.median(warm[100_000]) / statistics.median(warm[10_000]):.2f}x", ""])
    repo = lines[100_000][0]
    after = []
    for i in range(reps):
        run([*fl, "brief", "set", str(100 + i), "kind=bug"], repo)()
        after.append(measure([*fl, "brief", "list", "--json"], repo, stdout=subprocess.PIPE)[0])
    run([*fl, "brief", "set", "99", "kind=bug"], repo)()
    after_rss = peak_mib(["brief", "list", "--json"], repo, stdout=subprocess.PIPE)
    rows.append(["brief list --json after one set, 100k", ms(statistics.median(after)),
                 f"{statistics.median(after) / statistics.median(warm[100_000]):.2f}x warm",
                 f"{after_rss:.1f}"])
    cache = repo / ".git" / "flower" / "cache" / "briefs.json"
    cache.unlink()
    t = time.perf_counter()
    cold_rss = peak_mib(["brief", "list", "--json"], repo, stdout=subprocess.PIPE)
    rows.append(["brief list --json, no cache (rebuilt), 100k", ms(time.perf_counter() - t), "",
                 f"{cold_rss:.1f}"])
    if plot:
        from plot import loglog

        Path(plot).write_text(loglog("git flower at scale (wall ms, median; one process each)",
                                     "briefs", "wall ms", list(curves.items())))
    return ("Wall ms (median of " + str(reps) + " runs) and peak RSS of each process\n"
            + table(rows, ["case", "wall ms", "ratio", "peak MiB"]))


def why_rows(repo: Path, reps: int, commits: int) -> str:
    """``repo`` has a first-parent history of ``commits`` commits on top of its first one
    (``build.history`` after ``init_repo``): the newest line is the one the last commit wrote,
    the oldest is README.md's, untouched since the first commit. A commit-graph is written
    first. Beside `git blame -L`, two floors: the git calls `why` makes, replayed bare (what
    any program that reads the answer from git pays, whatever it is written in), and those
    calls after a Python start (the floor the other commands are held to)."""
    newest = f"src/f{(commits - 1) % 100:02d}.txt"
    # as `git gc` leaves a repository: blame and the walks read the commit-graph
    subprocess.run(["git", "commit-graph", "write", "--reachable"], cwd=repo, env=env(),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fl = flower_exe()
    rows = []
    for label, path in (("newest", newest), ("oldest", "README.md")):
        cmd = [*fl, "why", f"{path}:1"]
        calls = recorded(cmd, repo)
        cases = {"why": run(cmd, repo),
                 "blame": run(["git", "blame", "--porcelain", "-L", "1,1", "HEAD", "--", path],
                              repo),
                 "git": chain(calls, repo), "floor": chain([(PY, b""), *calls], repo)}
        got = turns(cases, reps)
        w, b, g, f = (statistics.median(got[k]) for k in ("why", "blame", "git", "floor"))
        rows.append([f"why {path}:1 ({label} line)", ms(w), ms(b), f"{w / b:.2f}x",
                     f"{ms(g)} ({g / b:.2f}x)", str(len(calls)), ms(f), f"{w / f:.2f}x"])
    return (f"`why` in a {commits:,}-commit history with a commit-graph: CPU ms, median of "
            f"{reps}, in turns\n"
            + table(rows, ["case", "why ms", "git blame -L ms", "ratio",
                           "its git calls bare ms (vs blame)", "git procs",
                           "floor ms (python + calls)", "vs floor"]))


def scratch_rows(reps: int, files: int) -> str:
    """The merge gate's checkout, through the gate's own `flowergit.gitio.scratch`: moving the
    kept scratch worktree to the next merge after the last run's tidy (a two-way `read-tree -m
    -u` and the HEAD update), the tidy itself (off the critical path), a move with no tidy
    (`clean -ffdx`, then a forced checkout) and a fresh `worktree add` + `remove` (what every
    merge paid before), against the bare `git read-tree -m -u` of the same change, in a
    project of ``files`` files."""
    from common import project

    e = env()
    repo = project(scratch("flower-scale-") / "proj", files, e)

    def git_(*a: str, cwd: Path = repo) -> str:
        return subprocess.run(["git", *a], cwd=cwd, env=e, capture_output=True, text=True,
                              check=True).stdout.strip()

    a = git_("rev-parse", "HEAD")
    for i in range(5):  # a merge's worth of change: five files
        (repo / f"src/pkg{i:02d}/mod{i}.py").write_text(f"# changed {i}\n")
    git_("commit", "-qam", "change")
    b = git_("rev-parse", "HEAD")
    kept, plain, bare, fresh = (repo.parent / n for n in ("kept", "plain", "bare", "fresh"))
    for wt in (kept, plain, bare):
        git_("worktree", "add", "-q", "--detach", str(wt), a)
    at = {"kept": a, "plain": a, "bare": a}
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from flowergit.gitio import scratch as gate  # what the merge gate runs, as it runs it
    from flowergit.gitio.repo import discover

    r = discover(str(repo))
    tidied = str(repo.parent / "kept.tidied")

    def nxt(name: str) -> str:
        at[name] = b if at[name] == a else a
        return at[name]

    def move() -> None:  # the merge's critical path: the last run's tidy made it exact
        assert gate.move(r, str(kept), nxt("kept"), tidied=tidied)

    def tidy() -> None:  # after the suite, in a forked copy, while the merge lands
        assert gate.tidy(r, str(kept), tidied)

    def move_untidied() -> None:  # no tidy since the last run: clean -ffdx, checkout -f
        assert gate.move(r, str(plain), nxt("plain"))

    def read_tree() -> None:
        git_("read-tree", "-m", "-u", at["bare"], nxt("bare"), cwd=bare)

    def add_remove() -> None:
        git_("worktree", "add", "-q", "--detach", str(fresh), b)
        git_("worktree", "remove", "--force", str(fresh))

    tidy()
    cases = {"move (after the last run's tidy)": move, "read-tree -m -u": read_tree,
             "tidy (background, while the merge lands)": tidy,
             "move with no tidy (clean -ffdx, checkout -f)": move_untidied,
             "add+remove (a fresh checkout)": add_remove}
    walls: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(reps):
        for name, fn in cases.items():
            t = time.perf_counter()
            fn()
            walls[name].append(time.perf_counter() - t)
    rt = statistics.median(walls["read-tree -m -u"])
    rows = [[name, ms(statistics.median(w)), f"{statistics.median(w) / rt:.2f}x"]
            for name, w in walls.items()]
    return (f"The merge gate's checkout, {files:,} files, a 5-file change: wall ms, median of "
            f"{reps}\n" + table(rows, ["checkout", "wall ms", "vs read-tree -m -u"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--briefs", type=int, default=10_000)
    ap.add_argument("--big", action="store_true", help="also 100,000 briefs (a few minutes)")
    ap.add_argument("--commits", type=int, default=30_000)
    ap.add_argument("--only", choices=["floors", "big", "why", "scratch"])
    ap.add_argument("--files", type=int, default=20_000, help="files in the scratch row's project")
    ap.add_argument("--plot", metavar="SVG", help="with --big: write the scale curves there "
                    "(docs/img/scale.svg is the one docs/performance.md shows)")
    a = ap.parse_args(argv)
    precompile()
    if a.only in (None, "floors"):
        what = f"{a.briefs:,} briefs, {a.briefs // 10:,} dispatch records and signals"
        print(floors(scale_repo(a.briefs), a.reps, what), flush=True)
    if a.big or a.only == "big":
        print(big(a.reps, a.plot), flush=True)
    if a.only in (None, "scratch"):
        print(scratch_rows(a.reps, a.files), flush=True)
    if a.only in (None, "why"):
        repo = init_repo(scratch("flower-scale-") / "why")
        build.history(repo, a.commits, notes=True)
        print(why_rows(repo, a.reps, a.commits), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
