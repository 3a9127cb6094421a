#!/usr/bin/env python3
"""Benchmark: the merge gate's own overhead (suite excluded) against the bare git steps it wraps.

Each round copies a template repository (``--files`` tracked files) holding ``--count`` finished
dispatches (one small branch each, a dirty local-only file and a local edit in the checkout), then
times, one merge at a time, on identical copies and interleaved (merge i of one side right after
merge i of the other, alternating which goes first):

* bare git: ``merge-tree --write-tree`` → ``commit-tree`` → (``worktree add --detach`` of the merge,
  the no-op suite ``true``, ``worktree remove``) → ``update-index --refresh`` + ``read-tree -m -u``
  (bring the checkout along) → ``update-ref`` (CAS) → ``notes add`` (provenance), per branch;
* ``git flower merge N`` with ``[suite] command = ["true"]`` (preflight, backup and snapshot,
  journal, the same git steps, verification, provenance by CAS, brief and dispatch records,
  worktree release).

The suite itself is excluded by making it a no-op; the scratch worktree it needs is counted on
both sides. ``--no-test`` compares ``git flower merge N --no-test`` with the same bare steps
minus the scratch worktree. Prints the median seconds per merge of both and their ratio
(DESIGN.md budget: ≤ 1.5×).

Both sides run from compiled bytecode (as an installed wheel does): the package is compiled
first and ``PYTHONDONTWRITEBYTECODE`` is dropped. ``--trace`` adds one untimed round per side
under ``GIT_TRACE`` and reports the git processes per merge. Beside the wall-clock medians it
prints the median CPU time (user + system, every child process included) of each side, which a
busy shared machine disturbs far less than wall time.

    python bench/bench_merge.py [--files 2000] [--rounds 3] [--count 5] [--no-test] [--trace] [--json]
    python bench/bench_merge.py --no-test --git-merge --files 20000   # against `git merge --no-ff`
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import flower_argv, project, sh  # noqa: E402


def make_template(root: Path, files: int, count: int, env: dict[str, str]) -> Path:
    repo = project(root / "template" / "repo", files, env, {"solo.yml": "watch: dev\n"})
    cfg = (repo / ".flower.toml").read_text().replace("local_only = []", 'local_only = ["solo.yml"]')
    cfg = cfg.replace('command = ["pytest", "-q", "--junitxml={junit}"]', 'command = ["true"]')
    (repo / ".flower.toml").write_text(cfg)
    sh(["git", "add", ".flower.toml"], repo, env)
    sh(["git", "commit", "-qm", "flower config"], repo, env)
    lines = "".join(json.dumps({"title": f"bench {i}", "status": "planned"}) + "\n"
                    for i in range(1, count + 1))
    sh([*flower_argv(), "brief", "import", "-"], repo, env, input=lines.encode())
    base = sh(["git", "rev-parse", "main"], repo, env).strip()
    claim = (
        "import sys\n"
        "from flowergit.gitio.repo import discover\n"
        "from flowergit.state.dispatches import DispatchStore\n"
        "s = DispatchStore(discover(sys.argv[1]))\n"
        "for i in range(1, int(sys.argv[2]) + 1):\n"
        "    s.claim(i, 1, {'state': 'exited', 'exit_code': 0, 'agent': 'script',\n"
        "                   'branch': f'flower/{i}-bench', 'worktree': '', 'base': sys.argv[3],\n"
        "                   'target': 'main', 'ended_at': f'2026-01-01T00:00:{i:02d}Z'})\n")
    for i in range(1, count + 1):
        wt = root / "template" / f"wt{i}"
        sh(["git", "worktree", "add", "-q", "-b", f"flower/{i}-bench", str(wt), "main"], repo, env)
        (wt / f"src/pkg{i % 50:02d}/mod{i}.py").write_text(f"# changed by brief {i}\n")
        (wt / f"new{i}.txt").write_text(f"new {i}\n")
        sh(["git", "add", "-A"], wt, env)
        sh(["git", "commit", "-qm", f"brief {i}"], wt, env)
        sh(["git", "worktree", "remove", str(wt)], repo, env)
    sh([sys.executable, "-c", claim, str(repo), str(count), base], repo, env)
    sh(["git", "worktree", "prune"], repo, env)
    # local state the gate must keep: a dirty local-only file and a local edit
    (repo / "solo.yml").write_text("watch: local\n")
    with open(repo / "src/pkg00/mod0.py", "a") as f:
        f.write("# local edit\n")
    return repo


def copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template.parent, dest, symlinks=True)
    return dest / "repo"


def _cpu() -> float:
    """CPU seconds (user + system) of every child process waited for so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


CPU: dict[str, list[float]] = {"bare": [], "flower": []}


GIT_MERGE = False  # --git-merge: the bare side is one `git merge --no-ff` in the checkout


def bare_merge(repo: Path, i: int, env: dict[str, str], test: bool) -> float:
    scratch = repo.parent / "scratch"
    c0 = _cpu()
    t0 = time.perf_counter()
    if GIT_MERGE:
        sh(["git", "merge", "-q", "--no-ff", "--no-edit", "-m", f"Merge brief {i}",
            f"flower/{i}-bench"], repo, env)
        wall = time.perf_counter() - t0
        CPU["bare"].append(_cpu() - c0)
        return wall
    pre = sh(["git", "rev-parse", "main"], repo, env).strip()
    tree = sh(["git", "merge-tree", "--write-tree", "main", f"flower/{i}-bench"], repo,
              env).split()[0]
    commit = sh(["git", "commit-tree", tree, "-p", pre, "-p", f"flower/{i}-bench", "-m",
                 f"Merge brief {i}"], repo, env).strip()
    if test:
        sh(["git", "worktree", "add", "-q", "--detach", str(scratch), commit], repo, env)
        sh(["true"], scratch, env)
        sh(["git", "worktree", "remove", "--force", str(scratch)], repo, env)
    subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=repo, env=env,
                   capture_output=True)
    sh(["git", "read-tree", "-m", "-u", pre, commit], repo, env)
    sh(["git", "update-ref", "refs/heads/main", commit, pre], repo, env)
    sh(["git", "notes", "--ref=flower", "add", "-m", json.dumps({"brief": i}), commit],
       repo, env)
    wall = time.perf_counter() - t0
    CPU["bare"].append(_cpu() - c0)
    return wall


def flower_merge(repo: Path, i: int, env: dict[str, str], test: bool) -> float:
    c0 = _cpu()
    t0 = time.perf_counter()
    sh([*flower_argv(), "merge", str(i), *([] if test else ["--no-test"])], repo, env)
    wall = time.perf_counter() - t0
    CPU["flower"].append(_cpu() - c0)
    return wall


def trust(repo: Path, env: dict[str, str]) -> None:
    sh([*flower_argv(), "trust"], repo, {k: v for k, v in env.items() if k != "GIT_TRACE"})


def paired_round(bare: Path, flower: Path, count: int, env: dict[str, str],
                 test: bool) -> tuple[list[float], list[float]]:
    """Merge i on both sides one right after the other (alternating which goes first), so a
    burst of load on this shared machine hits both sides alike."""
    trust(flower, env)
    tb, tf = [], []
    for i in range(1, count + 1):
        if i % 2:
            tb.append(bare_merge(bare, i, env, test))
            tf.append(flower_merge(flower, i, env, test))
        else:
            tf.append(flower_merge(flower, i, env, test))
            tb.append(bare_merge(bare, i, env, test))
    return tb, tf


def bare_round(repo: Path, count: int, env: dict[str, str], test: bool) -> list[float]:
    return [bare_merge(repo, i, env, test) for i in range(1, count + 1)]


def flower_round(repo: Path, count: int, env: dict[str, str], test: bool) -> list[float]:
    trust(repo, env)
    return [flower_merge(repo, i, env, test) for i in range(1, count + 1)]


def precompile_package() -> None:
    """Compile the flowergit that ``python -m flowergit`` will import (PYTHONPATH honoured)."""
    code = "import flowergit, os; print(os.path.dirname(flowergit.__file__))"
    pkg = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", pkg], stdout=subprocess.DEVNULL,
                   check=False)


def traced(fn: object, repo: Path, count: int, env: dict[str, str], test: bool) -> float:
    """Git processes per merge of one untimed round, from GIT_TRACE (children included)."""
    trace = repo.parent / "trace.txt"
    fn(repo, count, {**env, "GIT_TRACE": str(trace)}, test)  # type: ignore[operator]
    lines = trace.read_text(errors="replace").splitlines()
    return sum("trace: built-in: git " in ln for ln in lines) / count


def measure(files: int = 2000, rounds: int = 3, count: int = 5, test: bool = True,
            trace: bool = False) -> dict[str, object]:
    """Run the benchmark; the summary, with every sample (seconds) under ``bare_samples`` and
    ``flower_samples`` (paired: sample i of both sides ran one right after the other). Also
    what `bench/run.py` reports for the merge budget row."""
    precompile_package()
    CPU["bare"].clear()
    CPU["flower"].clear()
    root = Path(tempfile.mkdtemp(prefix="flower-bench-merge-"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GIT_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(root / "gitconfig"),
               HOME=str(root), XDG_DATA_HOME=str(root / "data"))
    (root / "gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@flower.invalid\n")
    try:
        template = make_template(root, files, count, env)
        bare: list[float] = []
        flower: list[float] = []
        for r in range(rounds):
            tb, tf = paired_round(copy(template, root / f"bare{r}"),
                                  copy(template, root / f"flower{r}"), count, env, test)
            bare += tb
            flower += tf
        mb, mf = statistics.median(bare), statistics.median(flower)
        out: dict[str, object] = {
            "files": files, "merges": count * rounds,
            "mode": "no-op suite" if test else "no-test", "bare_git_s": round(mb, 4),
            "flower_s": round(mf, 4), "ratio": round(mf / mb, 2), "budget": 1.5,
            "bare_samples": bare, "flower_samples": flower}
        cb, cf = statistics.median(CPU["bare"]), statistics.median(CPU["flower"])
        out.update(bare_cpu_s=round(cb, 4), flower_cpu_s=round(cf, 4), cpu_ratio=round(cf / cb, 2))
        if trace:
            out["bare_git_processes"] = traced(bare_round, copy(template, root / "bare-t"),
                                               count, env, test)
            out["flower_git_processes"] = traced(flower_round, copy(template, root / "flower-t"),
                                                 count, env, test)
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--no-test", action="store_true", help="compare `merge --no-test`")
    ap.add_argument("--trace", action="store_true", help="also count git processes per merge")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--git-merge", action="store_true",
                    help="the bare side is `git merge --no-ff` in the checkout (with --no-test)")
    a = ap.parse_args()
    global GIT_MERGE
    GIT_MERGE = a.git_merge
    out = measure(a.files, a.rounds, a.count, not a.no_test, a.trace)
    if a.json:
        print(json.dumps({k: v for k, v in out.items() if not k.endswith("_samples")}))
        return 0
    mb, mf = float(out["bare_git_s"]), float(out["flower_s"])  # type: ignore[arg-type]
    cb, cf = float(out["bare_cpu_s"]), float(out["flower_cpu_s"])  # type: ignore[arg-type]
    procs = (f"; git processes per merge: bare {out['bare_git_processes']:.1f}, "
             f"git flower {out['flower_git_processes']:.1f}" if a.trace else "")
    print(f"merge, suite excluded [{out['mode']}] ({a.files} files, {out['merges']} merges): "
          f"bare git {mb * 1000:.1f} ms, git flower {mf * 1000:.1f} ms, "
          f"ratio {out['ratio']}x (budget 1.5x); CPU (processes included) bare "
          f"{cb * 1000:.1f} ms, git flower {cf * 1000:.1f} ms, ratio {out['cpu_ratio']}x"
          f"{procs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
