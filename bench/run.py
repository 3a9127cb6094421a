#!/usr/bin/env python3
"""git flower's benchmark: every row of DESIGN.md's budget table, in one run.

    python bench/run.py [--scale small|full] [--reps N] [--no-peer] [--sweep] [--markdown FILE]

It builds one repository at scale (full: 10,000 briefs, 1,000 dispatch records, 1,000 signals,
100,000 commits with notes; small: a hundredth of that), then, for each budget row, times cold
processes (each run a fresh `git flower` process, bytecode compiled as a wheel install leaves it)
and prints the median and spread next to

* its floor: `python -c pass` plus the bare git calls the command wraps, run one after the other
  (for hooks, merge and dispatch: the bare git steps alone, which is what their budgets name);
* the peer, where one does the same job (`microbeads`, installed into a throwaway venv, its
  repository holding 1,000 items), measured in the same run, taking turns with git flower;

as ratios, with the budget met or missed. `--sweep` adds how the hot commands' cost grows with
the number of briefs (100 → 10,000) and of dispatches and signals (10 → 1,000). Then every
other command against its bare-git floor and `why` against `git blame -L` in the same repository
(bench/bench_scale.py); `--big` adds 100,000 briefs. Figures are printed; nothing here asserts
on time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build  # noqa: E402
from common import (chainer, env, flower_exe, git_calls, import_briefs, init_repo, machine,  # noqa: E402
                    med, precompile, runner, scratch, side_by_side, table)

SCALES: dict[str, dict[str, int]] = {
    "small": {"briefs": 100, "dispatches": 10, "signals": 100, "commits": 1_000,
              "claimers": 8, "claims_each": 2, "dispatch_n": 4, "reps": 3, "merge_reps": 2,
              "merge_files": 200, "dispatch_files": 200},
    "full": {"briefs": 10_000, "dispatches": 1_000, "signals": 1_000, "commits": 100_000,
             "claimers": 8, "claims_each": 10, "dispatch_n": 20, "reps": 15, "merge_reps": 5,
             "merge_files": 2_000, "dispatch_files": 3_000},
}
PY = [sys.executable, "-c", "pass"]
DISCOVER = ["git", "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
            "--show-object-format", "--is-bare-repository", "--show-prefix", "--show-toplevel"]
START = [PY, ["git", "version"], DISCOVER]  # what every git flower command pays first


@dataclass
class Row:
    command: str
    scale: str
    budget: str
    times: list[float] | None = None  # seconds, one per cold run
    floor: list[float] | None = None
    peer: list[float] | None = None
    peer_what: str = ""
    check: Callable[[Row], bool | None] = lambda r: None
    calls: int | None = None  # git processes one run starts
    note: str = ""
    verdict: bool | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def ms(self) -> float | None:
        return med(self.times) if self.times else None

    def ratio(self, other: list[float] | None) -> float | None:
        """The median of the per-round ratios when both were timed in the same rounds (paired:
        a load spike hits both sides of one round), else the ratio of the medians."""
        if not self.times or not other:
            return None
        if len(self.times) == len(other):
            return statistics.median(a / b for a, b in zip(self.times, other))
        return med(self.times) / med(other)

    def cells(self) -> list[str]:
        def f(x: float | None, fmt: str = "{:.1f}") -> str:
            return "-" if x is None else fmt.format(x)
        spread = (f"{min(self.times) * 1000:.0f}-{max(self.times) * 1000:.0f}" if self.times else "-")
        verdict = {True: "met", False: "MISSED", None: "n/a"}[self.verdict]
        return [self.command, self.scale, f(self.ms), spread, f(med(self.floor) if self.floor else None),
                f(self.ratio(self.floor), "{:.2f}x"),
                f(med(self.peer) if self.peer else None), f(self.ratio(self.peer), "{:.2f}x"),
                "-" if self.calls is None else str(self.calls), self.budget, verdict,
                str(self.extra.get("load", "-"))]


HEADERS = ["command", "scale", "median ms", "spread ms", "floor ms", "x floor", "peer ms", "x peer",
           "git calls", "budget", "verdict", "load"]
SETTLE: tuple[float, float] = (0.0, 0.0)  # (1-minute load to wait for, at most this many seconds)


def settle() -> str:
    """Wait (bounded) for the machine to quieten; the 1-minute load average when measuring."""
    limit, most = SETTLE
    end = time.monotonic() + most
    while limit and os.getloadavg()[0] > limit and time.monotonic() < end:
        time.sleep(2)
    return f"{os.getloadavg()[0]:.1f}"


def fl(*args: str) -> list[str]:
    return [*flower_exe(), *args]


def flower_json(repo: Path, *args: str) -> object:
    r = subprocess.run(fl(*args, "--json"), cwd=repo, env=env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"git flower {' '.join(args)}: {r.stderr.strip()[-300:]}")
    return json.loads(r.stdout)["data"]


def git(repo: Path, *args: str, input: str | None = None) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=env(), capture_output=True, text=True,
                          check=True, input=input).stdout.strip()


def guarded(row: Row, fn: Callable[[Row], None]) -> Row:
    """Measure ``row`` with ``fn``; a command that is missing or fails still prints its row."""
    row.extra["load"] = settle()
    try:
        fn(row)
        row.verdict = row.check(row) if row.times else None
    except Exception as e:  # noqa: BLE001 - a benchmark reports, it does not stop
        row.times = row.times or None
        row.verdict = None
        row.note = f"not measured: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
    return row


# -- the rows ---------------------------------------------------------------------------------------
def brief_rows(repo: Path, sc: dict[str, int], reps: int, peer: object | None) -> list[Row]:
    n = sc["briefs"]
    mid = str(max(1, n // 2))
    label = f"{n:,} briefs"
    peer_label = f"microbeads, {getattr(peer, 'items', 0):,} items"

    def p(*args: str) -> Callable[[], None] | None:
        return runner(peer.cmd(*args), peer.repo) if peer is not None else None  # type: ignore[attr-defined]

    def lst(r: Row) -> None:
        cmd = fl("brief", "list", "--json")
        cases = {"flower": runner(cmd, repo),
                 "floor": chainer([*START, ["git", "rev-parse", "-q", "--verify", "flower/briefs^{tree}"]], repo)}
        if (pl := p("--json", "list")) is not None:
            cases["peer"] = pl
        got = side_by_side(cases, reps)
        r.times, r.floor, r.peer = got["flower"], got["floor"], got.get("peer")
        r.calls = git_calls(cmd, repo)

    def show(r: Row) -> None:
        cmd = fl("brief", "show", mid, "--json")
        shard = int(mid) // 100 * 100
        cases = {"flower": runner(cmd, repo),
                 "floor": chainer([*START, ["git", "cat-file", "blob",
                                            f"flower/briefs:briefs/{shard:04d}/{mid}.md"]], repo)}
        if peer is not None:
            cases["peer"] = runner(peer.cmd("--json", "show", peer.first_id()), peer.repo)  # type: ignore[attr-defined]
        got = side_by_side(cases, reps)
        r.times, r.floor, r.peer = got["flower"], got["floor"], got.get("peer")
        r.calls = git_calls(cmd, repo)

    def new(r: Row) -> None:
        cmd = fl("brief", "new", "bench brief", "--json")
        floor = [*START, ["git", "config", "-z", "--get-regexp", "^flower\\.remote$"],
                 ["git", "worktree", "list", "--porcelain", "-z"],
                 ["git", "rev-parse", "-q", "--verify", "flower/briefs"],
                 ["git", "cat-file", "-p", "flower/briefs^{tree}"],
                 ["git", "hash-object", "-w", "--stdin"],
                 ["git", "commit-tree", "-m", "x", "flower/briefs^{tree}"],
                 ["git", "update-ref", "refs/bench/x", "HEAD"]]
        cases = {"flower": runner(cmd, repo), "floor": chainer(floor, repo)}
        if peer is not None:
            # the peer's create goes into a copy of its repository, so its 1,000 stay 1,000
            cases["peer"] = runner(peer.cmd("--json", "create", "bench issue"), peer.scratch_repo())  # type: ignore[attr-defined]
        got = side_by_side(cases, reps)
        r.times, r.floor, r.peer = got["flower"], got["floor"], got.get("peer")
        r.calls = git_calls(cmd, repo)

    return [
        guarded(Row("brief list --json", label, "<= 60 ms; <= 0.7x peer listing 1,000",
                    peer_what=peer_label,
                    check=lambda r: r.ms <= 60 and (r.peer is None or r.ratio(r.peer) <= 0.7)), lst),  # type: ignore[operator]
        guarded(Row("brief show N --json", label, "<= 50 ms", peer_what=peer_label,
                    check=lambda r: r.ms <= 50), show),  # type: ignore[operator]
        guarded(Row("brief new --json", label, "<= 70 ms", peer_what=peer_label,
                    check=lambda r: r.ms <= 70), new),  # type: ignore[operator]
    ]


def status_row(repo: Path, sc: dict[str, int], reps: int) -> Row:
    def go(r: Row) -> None:
        cmd = fl("status", "--json")
        floor = [*START, ["git", "rev-parse", "-q", "--verify", "flower/briefs^{tree}"],
                 ["git", "for-each-ref", "--format=%(refname) %(objectname) %(objecttype)",
                  "refs/flower/dispatch/"],
                 ["git", "cat-file", "--batch"]]
        got = side_by_side({"flower": runner(cmd, repo), "floor": chainer(floor, repo)}, reps)
        r.times, r.floor = got["flower"], got["floor"]
        r.calls = git_calls(cmd, repo)
    return guarded(Row("status --json", f"{sc['briefs']:,} briefs, {sc['dispatches']:,} dispatches",
                       "<= 120 ms", check=lambda r: r.ms <= 120), go)  # type: ignore[operator]


def claim_row(repo: Path, sc: dict[str, int], reps: int) -> Row:
    def go(r: Row) -> None:
        cmd = fl("signal", "claim", "--next", "--kind", "bench", "--json")
        floor = [*START, ["git", "for-each-ref", "--format=%(refname:lstrip=2)", "--",
                          "refs/flower/signals/", "refs/flower/claims/"],
                 ["git", "unpack-objects", "-q"], ["git", "update-ref", "--stdin"],
                 ["git", "cat-file", "--batch"]]
        r.calls = git_calls(cmd, repo)
        got = side_by_side({"flower": runner(cmd, repo), "floor": chainer(floor, repo)}, reps)
        r.times, r.floor = got["flower"], got["floor"]
        # contention: N processes, each claiming --next in a loop; every signal at most once
        n, each = sc["claimers"], sc["claims_each"]
        script = ("import json,subprocess,sys,time\n"
                  "out=[]\n"
                  f"for _ in range({each}):\n"
                  "    t=time.perf_counter()\n"
                  f"    p=subprocess.run({cmd!r},capture_output=True,text=True)\n"
                  "    dt=time.perf_counter()-t\n"
                  "    d=json.loads(p.stdout) if p.stdout.strip() else {}\n"
                  "    out.append([dt,p.returncode,(d.get('data') or {}).get('id') if p.returncode==0 else None])\n"
                  "print(json.dumps(out))\n")
        t0 = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", script], cwd=repo, env=env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                 for _ in range(n)]
        results = [json.loads(p.communicate(timeout=600)[0] or "[]") for p in procs]
        wall = time.perf_counter() - t0
        calls = [c for res in results for c in res]
        ids = [c[2] for c in calls if c[1] == 0]
        claims = git(repo, "for-each-ref", "--format=%(refname)", "refs/flower/claims/").split()
        once = len(ids) == len(set(ids)) and all(c[1] in (0, 4) for c in calls)
        r.extra.update({"contended_ms": med([c[0] for c in calls]), "claimers": n, "calls": len(calls),
                   "won": len(ids), "unique": len(set(ids)), "claim_refs": len(claims),
                   "per_second": len(ids) / wall, "exactly_once": once})
        r.note = (f"{n} processes x {each} claims at once: median {r.extra['contended_ms']:.0f} ms a call "
                  f"({n} processes on {os.cpu_count()} cores), {len(ids)} won, "
                  f"{len(set(ids))} distinct, {len(ids) / wall:.0f} claims/s "
                  f"({wall * 1000 / max(1, len(ids)):.0f} ms of wall time a claim); "
                  + ("exactly once" if once else "DOUBLE CLAIM OR ERROR"))
    return guarded(Row("signal claim --next", f"{sc['signals']:,} signals, {sc['claimers']} processes",
                       "<= 50 ms each; exactly once",
                       check=lambda r: r.ms <= 50 and bool(r.extra.get("exactly_once"))), go)  # type: ignore[operator]


def installed_hooks(repo: Path) -> list[str]:
    """git flower's hook stubs installed in ``repo`` (those that call `git flower hook-impl`)."""
    path = git(repo, "config", "--default", "", "core.hooksPath") or git(repo, "rev-parse", "--git-path", "hooks")
    d = Path(path) if os.path.isabs(path) else repo / path
    if not d.is_dir():
        return []
    out = []
    for f in sorted(d.iterdir()):
        try:
            if f.is_file() and os.access(f, os.X_OK) and "flower" in f.read_text(errors="replace"):
                out.append(f.name)
        except OSError:
            continue
    return out


def hooks_row(repo: Path, sc: dict[str, int], reps: int) -> Row:
    """`git commit` with git flower's hooks against the same commit without any hooks
    (`core.hooksPath=/dev/null`): on a brief branch in a worker's worktree (where the hooks do
    their work: a Flower-Brief trailer, a progress line), and on main (where they step aside)."""
    def go(r: Row) -> None:
        if not installed_hooks(repo):
            runner(fl("hooks", "install"), repo)()
        hooks = installed_hooks(repo)
        if not hooks:
            raise RuntimeError("`git flower hooks install` installed no hooks")
        wt = repo.parent / "hook-bench-wt"
        git(repo, "worktree", "add", "-q", "-b", "flower/1-hook-bench", str(wt), "main")
        commit = ["git", "commit", "-q", "--allow-empty", "-m", "bench"]
        bare = ["git", "-c", "core.hooksPath=/dev/null", "commit", "-q", "--allow-empty", "-m", "bench"]
        worker = {**env(), "FLOWER_DISPATCH": "1.1"}

        def in_wt(cmd: list[str]) -> Callable[[], None]:
            def go_() -> None:
                p = subprocess.run(cmd, cwd=wt, env=worker, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                if p.returncode != 0:
                    raise RuntimeError(p.stderr.decode(errors="replace")[-300:])
            return go_
        got = side_by_side({"flower": in_wt(commit), "floor": in_wt(bare),
                            "main": runner(commit, repo), "main_floor": runner(bare, repo)}, reps)
        r.times, r.floor = got["flower"], got["floor"]
        r.calls = git_calls(commit, repo)
        r.extra["added_ms"] = med(r.times) - med(r.floor)
        r.extra["added_main_ms"] = med(got["main"]) - med(got["main_floor"])
        # each round's hooked commit is followed by its bare twin: look at the last two
        trailer = git(wt, "log", "-2", "--format=%(trailers:key=Flower-Brief,valueonly)")
        r.note = (f"hooks {', '.join(hooks)}; on a brief branch (worker commits, trailer "
                  f"{'added' if '1' in trailer.split() else 'MISSING'}): "
                  f"{r.extra['added_ms']:.1f} ms added per commit; on main: "
                  f"{r.extra['added_main_ms']:.1f} ms added")
        git(repo, "worktree", "remove", "--force", str(wt))

    return guarded(Row("installed commit hooks", f"per git commit, {sc['commits']:,} commits with notes",
                       "<= 30 ms added",
                       check=lambda r: max(float(r.extra["added_ms"]),  # type: ignore[arg-type]
                                           float(r.extra["added_main_ms"])) <= 30), go)  # type: ignore[arg-type]


def merge_row(sc: dict[str, int], reps: int) -> Row:
    """The gate in a project of ``merge_files`` files, suite ``true`` (its run excluded, the
    scratch worktree it needs counted on both sides), against the bare git steps it wraps:
    `bench/bench_merge.py`'s measurement, merges of both sides interleaved. The same without a
    suite (`--no-test`, where the bare steps are a handful of small git commands) goes in the
    note."""
    import bench_merge

    def go(r: Row) -> None:
        got = bench_merge.measure(files=sc["merge_files"], rounds=1, count=reps, test=True,
                                  trace=True)
        r.times = list(got["flower_samples"])  # type: ignore[call-overload]
        r.floor = list(got["bare_samples"])  # type: ignore[call-overload]
        r.calls = round(float(got["flower_git_processes"]))  # type: ignore[arg-type]
        quick = bench_merge.measure(files=sc["merge_files"], rounds=1, count=reps, test=False)
        r.note = (f"{reps} merges, each of a branch changing 2 files, in a {sc['merge_files']:,}-file "
                  f"project with suite `true`; floor: merge-tree, commit-tree, worktree add/remove "
                  f"of the merge, read-tree -m -u, update-ref, notes add "
                  f"({got['bare_git_processes']:.0f} git processes); without a suite "
                  f"(`--no-test`) {float(quick['flower_s']) * 1000:.0f} ms against "  # type: ignore[arg-type]
                  f"{float(quick['bare_git_s']) * 1000:.0f} ms of bare steps, "  # type: ignore[arg-type]
                  f"{quick['ratio']}x")
    return guarded(Row("merge N", f"small branch, {sc['merge_files']:,}-file project, suite excluded",
                       "<= 1.5x bare git steps",
                       check=lambda r: r.ratio(r.floor) <= 1.5), go)  # type: ignore[operator]


def dispatch_row(sc: dict[str, int], reps: int) -> Row:
    """`git flower dispatch` ×N (cap N) in a project of ``dispatch_files`` files against the
    same N `git worktree add` calls, alternating call by call: `bench/bench_dispatch.py`'s
    measurement. Each round's N calls are timed together, as the budget names them."""
    import bench_dispatch

    n = sc["dispatch_n"]

    def go(r: Row) -> None:
        got = bench_dispatch.measure(files=sc["dispatch_files"], rounds=reps, count=n)
        bare, flower = list(got["bare_samples"]), list(got["flower_samples"])  # type: ignore[call-overload]
        r.times = [sum(flower[i:i + n]) for i in range(0, len(flower), n)]
        r.floor = [sum(bare[i:i + n]) for i in range(0, len(bare), n)]
        r.note = (f"{n} dispatches in a row in a {sc['dispatch_files']:,}-file project, timed "
                  f"together, against {n} x git worktree add of the same branches; per call "
                  f"median {got['dispatch_median_ms']} ms against {got['worktree_add_median_ms']} ms "
                  f"(overhead {got['overhead_median_ms']} ms)")
    return guarded(Row(f"dispatch x{n}", f"cap {n}, {sc['dispatch_files']:,}-file project",
                       "<= 1.3x git worktree add calls",
                       check=lambda r: r.ratio(r.floor) <= 1.3), go)  # type: ignore[operator]


def python_row(repo: Path, reps: int) -> Row:
    r = Row("python -c pass", "-", "(the floor's start)")
    r.times = side_by_side({"py": runner(PY, repo)}, reps)["py"]
    return r


# -- the sweep: cost against size ------------------------------------------------------------------
def sweep(reps: int, sizes: Sequence[int], dsizes: Sequence[int]) -> tuple[str, str]:
    rows = []
    for n in sizes:
        root = scratch(f"sweep{n}")
        repo = init_repo(root / "repo")
        import_briefs(repo, n)
        build.dispatches(repo, 10, briefs=n)
        build.signals(repo, 100)
        mid = str(max(1, n // 2))
        cache = repo / ".git" / "flower" / "cache" / "briefs.json"

        def cold_list(cache: Path = cache, repo: Path = repo) -> None:
            cache.unlink(missing_ok=True)
            runner(fl("brief", "list", "--json"), repo)()
        got = side_by_side({
            "list": runner(fl("brief", "list", "--json"), repo),
            "list, no cache": cold_list,
            "show": runner(fl("brief", "show", mid, "--json"), repo),
            "new": runner(fl("brief", "new", "sweep", "--json"), repo),
            "status": runner(fl("status", "--json"), repo),
        }, reps)
        rows.append([f"{n:,}", *(f"{med(v):.1f}" for v in got.values())])
        shutil.rmtree(root, ignore_errors=True)
    t1 = table(rows, ["briefs", "list --json", "list, cache dropped", "show N", "new", "status --json"])
    rows = []
    for n in dsizes:
        root = scratch(f"sweepd{n}")
        repo = init_repo(root / "repo")
        import_briefs(repo, 100)
        build.dispatches(repo, n, briefs=100)
        build.signals(repo, n + reps + 2)
        got = side_by_side({
            "status": runner(fl("status", "--json"), repo),
            "ps": runner(fl("ps", "--all", "--json"), repo),
            "claim": runner(fl("signal", "claim", "--next", "--json"), repo),
        }, reps)
        rows.append([f"{n:,}", *(f"{med(v):.1f}" for v in got.values())])
        shutil.rmtree(root, ignore_errors=True)
    t2 = table(rows, ["dispatches (and signals)", "status --json", "ps --all --json", "signal claim --next"])
    return t1, t2


# -- output -----------------------------------------------------------------------------------------
def markdown(rows: list[Row], mach: dict[str, str], meta: str) -> str:
    out = [(f"Machine: {mach['nproc']} CPUs ({mach['cpu']}), Python {mach['python']}, git {mach['git']}, "
            f"load average at the start {mach['load']}. {meta}"), "",
           "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r.cells()) + " |" for r in rows]
    notes = [f"- {r.command}: {r.note}" for r in rows if r.note]
    return "\n".join(out + ([""] + notes if notes else [])) + "\n"


def splice(page: str, name: str, text: str) -> str:
    """``page`` with the text between ``<!-- name:begin -->`` and ``<!-- name:end -->`` replaced."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in page or end not in page:
        raise SystemExit(f"no {begin} … {end} markers in the page")
    head, rest = page.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{text.rstrip()}\n{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=sorted(SCALES), default="full")
    ap.add_argument("--reps", type=int, help="cold runs per command (default: 15 full, 3 small)")
    ap.add_argument("--no-peer", dest="peer", action="store_false",
                    help="skip the peer (no network needed)")
    ap.add_argument("--sweep", action="store_true", help="also measure cost against size")
    ap.add_argument("--big", action="store_true",
                    help="also 100,000 briefs: import, list warm and after a change, status, "
                         "with peak memory (bench/bench_scale.py; a few minutes)")
    ap.add_argument("--markdown", type=Path, help="also write the results table to this file")
    ap.add_argument("--json", type=Path, help="also write the raw samples to this file")
    ap.add_argument("--doc", type=Path, metavar="MD",
                    help="replace the numbers between the bench:/sweep: markers of this page "
                         "(docs/performance.md)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch repository")
    ap.add_argument("--settle", type=float, default=0.0, metavar="LOAD",
                    help="before each row, wait (at most --settle-max s) for the 1-minute load "
                         "average to drop below LOAD")
    ap.add_argument("--settle-max", type=float, default=120.0, metavar="SECONDS")
    a = ap.parse_args(argv)
    global SETTLE
    SETTLE = (a.settle, a.settle_max)
    sc = SCALES[a.scale]
    reps = a.reps or sc["reps"]
    mach = machine()
    precompile()
    peer = None
    if a.peer:
        import peers

        try:
            peer = peers.build(1000)
        except Exception as e:  # noqa: BLE001
            sys.stderr.write(f"warning: peer not available, measuring without it: {e}\n")
    root = scratch(a.scale)
    t0 = time.perf_counter()
    repo = init_repo(root / "repo")
    build.history(repo, sc["commits"])
    import_briefs(repo, sc["briefs"])
    build.dispatches(repo, sc["dispatches"], briefs=sc["briefs"])
    build.signals(repo, sc["signals"])
    git(repo, "add", ".flower.toml")
    git(repo, "commit", "-qm", "flower config")
    # packed like a lived-in repository, and no `gc --auto` starting in the background mid-run
    git(repo, "repack", "-dq")
    git(repo, "config", "gc.auto", "0")
    subprocess.run(fl("init"), cwd=repo, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sys.stderr.write(f"built the {a.scale} repository in {time.perf_counter() - t0:.1f} s: {repo}\n")
    if peer is not None:
        peer.scratch = root / "peer"  # type: ignore[attr-defined]
    rows = [python_row(repo, reps)]
    rows += brief_rows(repo, sc, reps, peer)
    rows.append(claim_row(repo, sc, reps))
    rows.append(status_row(repo, sc, reps))
    rows.append(hooks_row(repo, sc, reps))
    rows.append(merge_row(sc, sc["merge_reps"] if a.reps is None else max(1, min(reps, 5))))
    rows.append(dispatch_row(sc, max(1, min(reps, 3))))
    meta = (f"Scale {a.scale}: {sc['briefs']:,} briefs, {sc['dispatches']:,} dispatch records, "
            f"{sc['signals']:,} signals, {sc['commits']:,} commits with notes; {reps} cold runs per "
            f"command (merge {sc['merge_reps']}, dispatch {max(1, min(reps, 3))}), median and spread."
            + (f" Peer: microbeads {peer.version}, {peer.items:,} items." if peer is not None else " No peer."))
    print(f"git flower benchmark, {mach['nproc']} CPUs ({mach['cpu']}), Python {mach['python']}, "
          f"git {mach['git']}")
    print(meta)
    print(table([r.cells() for r in rows], HEADERS))
    for r in rows:
        if r.note:
            print(f"  {r.command}: {r.note}")
    missed = [r.command for r in rows if r.verdict is False]
    unmeasured = [r.command for r in rows if r.verdict is None and r.budget.startswith("<")]
    print(f"budgets: {sum(r.verdict is True for r in rows)} met, {len(missed)} missed"
          + (f" ({', '.join(missed)})" if missed else "")
          + (f", {len(unmeasured)} not measured ({', '.join(unmeasured)})" if unmeasured else ""))
    import bench_scale

    what = (f"{sc['briefs']:,} briefs, {sc['dispatches']:,} dispatch records, "
            f"{sc['signals']:,} signals")
    print("\n" + bench_scale.floors(repo, reps, what))
    print("\n" + bench_scale.why_rows(repo, reps, sc["commits"]))
    if a.big:
        print("\n" + bench_scale.big(reps))
    text_sweep = None
    if a.sweep:
        sizes = (100, 1_000, 10_000) if a.scale == "full" else (10, 100)
        dsizes = (10, 100, 1_000) if a.scale == "full" else (10, 30)
        t1, t2 = sweep(reps, sizes, dsizes)
        text_sweep = f"{t1}\n\n{t2}"
        print("\ncost against the number of briefs (median ms, 10 dispatches, 100 signals):")
        print(t1)
        print("\ncost against the number of dispatch records and signals (median ms, 100 briefs):")
        print(t2)
    if a.markdown:
        doc = markdown(rows, mach, meta)
        if text_sweep:
            doc += "\n```\n" + text_sweep + "\n```\n"
        a.markdown.write_text(doc)
    if a.doc:
        page = a.doc.read_text()
        page = splice(page, "bench", markdown(rows, mach, meta))
        if text_sweep:
            page = splice(page, "sweep", "```\n" + text_sweep + "\n```\n")
        a.doc.write_text(page)
    if a.json:
        a.json.write_text(json.dumps({"machine": mach, "scale": a.scale, "rows": [
            {"command": r.command, "scale": r.scale, "budget": r.budget, "verdict": r.verdict,
             "times": r.times, "floor": r.floor, "peer": r.peer, "git_calls": r.calls, "note": r.note,
             "extra": r.extra} for r in rows]}, indent=1))
    if a.keep:
        print(f"repository kept at {repo}")
    else:
        subprocess.run(["git", "worktree", "prune"], cwd=repo, env=env())
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(f"{repo}.flower", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
