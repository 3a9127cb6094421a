#!/usr/bin/env python3
"""A first `git flower sync` of a clone with many briefs, dispatch records and signals into an
empty remote, side by side with the bare git floor: one atomic `git push` of the same refs with
glob refspecs. Wall time and CPU (this process's children) per run, medians and ratios.

    python bench/bench_sync.py [--briefs 10000] [--dispatches 1000] [--signals 1000] [--reps 3]

Each run pushes into a fresh empty bare repository (made outside the timing), so every run is a
first sync.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build  # noqa: E402
from common import env, flower_exe, import_briefs, init_repo, scratch  # noqa: E402


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def fresh_remote(root: Path, n: int) -> Path:
    bare = root / f"remote-{n}.git"
    if bare.exists():
        shutil.rmtree(bare)
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True, env=env())
    return bare


def measure(fn: Callable[[], None]) -> tuple[float, float]:
    cpu, t = children_cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - t, children_cpu() - cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--briefs", type=int, default=10000)
    ap.add_argument("--dispatches", type=int, default=1000)
    ap.add_argument("--signals", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    root = scratch("sync")
    repo = init_repo(root / "repo")
    import_briefs(repo, args.briefs)
    build.dispatches(repo, args.dispatches, briefs=args.briefs)
    build.signals(repo, args.signals)
    refs = subprocess.run(["git", "for-each-ref", "--format=x", "refs/flower/"], cwd=repo,
                          capture_output=True, text=True, env=env()).stdout.count("x")
    print(f"clone: {args.briefs} briefs, {args.dispatches} dispatch records, {args.signals} "
          f"signals ({refs} refs under refs/flower/ besides the briefs branch)")
    rows: dict[str, list[tuple[float, float]]] = {"git flower sync": [], "git push (globs)": []}
    n = 0
    for _ in range(args.reps):
        for name in rows:
            n += 1
            bare = fresh_remote(root, n)
            subprocess.run(["git", "remote", "remove", "origin"], cwd=repo, env=env(),
                           stderr=subprocess.DEVNULL)
            subprocess.run(["git", "remote", "add", "origin", str(bare)], cwd=repo, env=env(),
                           check=True)
            if name == "git flower sync":
                subprocess.run([*flower_exe(), "remote", "origin"], cwd=repo, env=env(),
                               check=True, stdout=subprocess.DEVNULL)
                # the sync state of the previous remote is not this one's
                shutil.rmtree(repo / ".git" / "flower" / "sync", ignore_errors=True)

                def go() -> None:
                    subprocess.run([*flower_exe(), "sync"], cwd=repo, env=env(), check=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            else:
                def go() -> None:
                    subprocess.run(["git", "push", "-q", "--atomic", "origin",
                                    "refs/flower/*:refs/flower/*",
                                    "refs/heads/flower/briefs:refs/heads/flower/briefs"],
                                   cwd=repo, env=env(), check=True)
            rows[name].append(measure(go))
    base_wall = sorted(w for w, _ in rows["git push (globs)"])[args.reps // 2]
    base_cpu = sorted(c for _, c in rows["git push (globs)"])[args.reps // 2]
    print(f"{'case':<20} {'wall ms (median, min-max)':>28} {'CPU ms (median)':>16} "
          f"{'wall ratio':>11} {'CPU ratio':>10}")
    for name, xs in rows.items():
        walls = sorted(w for w, _ in xs)
        cpus = sorted(c for _, c in xs)
        w, c = walls[len(walls) // 2], cpus[len(cpus) // 2]
        print(f"{name:<20} {w * 1000:>10.0f} ({walls[0] * 1000:.0f}-{walls[-1] * 1000:.0f})"
              f"{'':>8} {c * 1000:>16.0f} {w / base_wall:>10.2f}x {c / base_cpu:>9.2f}x")
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
