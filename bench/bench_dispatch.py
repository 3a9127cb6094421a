#!/usr/bin/env python3
"""Benchmark: `git flower dispatch` ×20 at max_parallel = 20 against the bare `git worktree add`
calls it wraps.

Each round copies a template repository (``--files`` tracked files, so a checkout costs what it
costs in a real project), then times, one process at a time:

* ``git worktree add --lock --reason R -b flower/<n>-bench-<n> <path> main`` ×20 (bare git);
* ``git flower dispatch <n> --agent idle`` ×20 (claim, worktree, packet, status, supervisor start),

alternating call by call (two copies of the template) so that machine noise hits both alike.

The agents (``sleep``) are stopped after each round, outside the timing. Prints the median time
per call of both, and their ratio (the budget in DESIGN.md is ≤ 1.3×).

    python bench/bench_dispatch.py [--files 3000] [--rounds 3] [--count 20] [--json]
    python bench/bench_dispatch.py --concurrent      # all 20 at once on both sides, wall time
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import flower_argv, precompile, project, sh  # noqa: E402


def make_template(root: Path, files: int, count: int, env: dict[str, str]) -> Path:
    repo = project(root / "template" / "repo", files, env)
    cfg = (repo / ".flower.toml").read_text().replace("max_parallel = 4", f"max_parallel = {count}")
    cfg += '\n[agents.idle]\ncommand = ["sleep", "120"]\n'
    (repo / ".flower.toml").write_text(cfg)
    sh(["git", "add", ".flower.toml"], repo, env)
    sh(["git", "commit", "-qm", "flower config"], repo, env)
    lines = "".join(json.dumps({"title": f"bench {i}", "status": "planned"}) + "\n"
                    for i in range(1, count + 1))
    sh([*flower_argv(), "brief", "import", "-"], repo, env, input=lines.encode())
    return repo


def scratch_env() -> tuple[Path, dict[str, str]]:
    """A scratch directory and the environment both sides run in: a home of their own, no
    GIT_/FLOWER settings of the caller, bytecode compiled once as an install leaves it (a stale
    .pyc with writing turned off would be compiled again by every process, and measured as
    dispatch's cost)."""
    root = Path(tempfile.mkdtemp(prefix="flower-bench-"))
    home = root / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "FLOWER"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    precompile()
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.invalid",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.invalid")
    return root, env


def copy_round(template: Path, root: Path, name: str) -> Path:
    dst = root / name / "repo"
    shutil.copytree(template, dst, symlinks=True)
    return dst


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:5])} failed ({r.returncode}): {r.stderr.decode()}")
    return dt


def measure(files: int = 3000, rounds: int = 3, count: int = 20) -> dict[str, object]:
    """Run the benchmark; the summary, with every sample (seconds) under ``bare_samples`` and
    ``flower_samples`` (paired: call i of both sides ran one right after the other). Also what
    `bench/run.py` reports for the dispatch budget row."""
    root, env = scratch_env()
    try:
        template = make_template(root, files, count, env)
        bare: list[float] = []
        flower: list[float] = []
        for rnd in range(rounds):
            # the two sides alternate call by call, so machine noise hits both alike
            bare_repo = copy_round(template, root, f"bare{rnd}")
            wroot = bare_repo.parent / "repo.flower"
            repo = copy_round(template, root, f"flower{rnd}")
            sh([*flower_argv(), "trust"], repo, env)
            for n in range(1, count + 1):
                # bare git: the worktree add dispatch wraps, same arguments
                bare.append(timed(["git", "worktree", "add", "--quiet", "--lock", "--reason",
                                   f"git flower dispatch {n}.1", "-b", f"flower/{n}-bench-{n}",
                                   "--end-of-options", str(wroot / f"{n}-bench-{n}"), "main"],
                                  bare_repo, env))
                # git flower dispatch, agent started (cap = count, so none queue)
                flower.append(timed([*flower_argv(), "dispatch", str(n), "--agent", "idle"],
                                    repo, env))
            for n in range(1, count + 1):
                subprocess.run([*flower_argv(), "stop", str(n)], cwd=repo, env=env,
                               capture_output=True, check=False)
        mb, mf = statistics.median(bare), statistics.median(flower)
        return {"files": files, "rounds": rounds, "count": count,
                "worktree_add_median_ms": round(mb * 1000, 1),
                "dispatch_median_ms": round(mf * 1000, 1),
                "worktree_add_total_s": round(sum(bare) / rounds, 3),
                "dispatch_total_s": round(sum(flower) / rounds, 3),
                "overhead_median_ms": round((mf - mb) * 1000, 1),
                "ratio": round(mf / mb, 2), "budget": 1.3,
                "bare_samples": bare, "flower_samples": flower}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def all_at_once(argvs: list[list[str]], cwd: Path, env: dict[str, str],
                retry: bytes = b"") -> tuple[float, int]:
    """Wall time from starting every argv at once until the last has exited, and how many were
    run again: one that failed with ``retry`` in its error (git's own race between concurrent
    `worktree add`: "failed to read .git/worktrees/…/commondir") is run again at once, inside
    the timing; any other failure stops the benchmark."""
    t = time.perf_counter()
    procs = [subprocess.Popen(a, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for a in argvs]
    again = 0
    for a, p in zip(argvs, procs):
        rc, err = p.wait(), p.stderr.read() if p.stderr else b""
        while rc != 0 and retry and retry in err and again < 10 * len(argvs):
            again += 1  # the failed add left its branch: take it over (-B), at a fresh path
            a = [("-B" if w == "-b" else w) for w in a[:-2]] + [f"{a[-2]}-{again}", a[-1]]
            r = subprocess.run(a, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            rc, err = r.returncode, r.stderr
        if rc != 0:
            raise SystemExit(f"{' '.join(a[:5])} failed ({rc}): {err.decode()}")
    return time.perf_counter() - t, again


def measure_concurrent(files: int = 3000, rounds: int = 3, count: int = 20) -> dict[str, object]:
    """``count`` dispatches started at once against ``count`` `git worktree add` started at
    once (the two sides take turns round by round): the wall time until the last is done."""
    root, env = scratch_env()
    try:
        template = make_template(root, files, count, env)
        bare: list[float] = []
        flower: list[float] = []
        retried = {"bare": 0, "flower": 0}
        for rnd in range(rounds):
            bare_repo = copy_round(template, root, f"bare{rnd}")
            wroot = bare_repo.parent / "repo.flower"
            repo = copy_round(template, root, f"flower{rnd}")
            sh([*flower_argv(), "trust"], repo, env)
            sides = [("bare", lambda: all_at_once(
                        [["git", "worktree", "add", "--quiet", "--lock", "--reason",
                          f"git flower dispatch {n}.1", "-b", f"flower/{n}-bench-{n}",
                          "--end-of-options", str(wroot / f"{n}-bench-{n}"), "main"]
                         for n in range(1, count + 1)], bare_repo, env, RACE)),
                     ("flower", lambda: all_at_once(
                        [[*flower_argv(), "dispatch", str(n), "--agent", "idle"]
                         for n in range(1, count + 1)], repo, env))]
            for name, fn in (sides if rnd % 2 == 0 else sides[::-1]):
                dt, again = fn()
                (bare if name == "bare" else flower).append(dt)
                retried[name] += again
            subprocess.run([*flower_argv(), "stop", *map(str, range(1, count + 1))], cwd=repo,
                           env=env, capture_output=True, check=False)
        mb, mf = statistics.median(bare), statistics.median(flower)
        return {"files": files, "rounds": rounds, "count": count,
                "worktree_add_wall_s": round(mb, 3), "dispatch_wall_s": round(mf, 3),
                "ratio": round(mf / mb, 2), "budget": 1.3, "bare_retried": retried["bare"],
                "bare_samples": bare, "flower_samples": flower}
    finally:
        shutil.rmtree(root, ignore_errors=True)


RACE = b"failed to read"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=3000, help="tracked files in the repository")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=20, help="dispatches per round (= max_parallel)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--concurrent", action="store_true",
                    help="start all dispatches at once, against all worktree adds at once")
    args = ap.parse_args()
    result = (measure_concurrent if args.concurrent else measure)(args.files, args.rounds,
                                                                    args.count)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if not k.endswith("_samples")}))
    elif args.concurrent:
        print(f"repository: {args.files} files; {args.count} started at once, "
              f"{args.rounds} rounds, max_parallel = {args.count}")
        print(f"git worktree add ×{args.count}     wall {result['worktree_add_wall_s']:.3f} s (median)")
        print(f"git flower dispatch ×{args.count}  wall {result['dispatch_wall_s']:.3f} s (median)")
        print(f"ratio {result['ratio']:.2f} (budget ≤ 1.3); bare `worktree add` run again "
              f"after git's own race: {result['bare_retried']} time(s)")
    else:
        print(f"repository: {args.files} files; {args.count} dispatches per round, "
              f"{args.rounds} rounds, max_parallel = {args.count}")
        print(f"git worktree add     median {result['worktree_add_median_ms']:8.1f} ms/call")
        print(f"git flower dispatch  median {result['dispatch_median_ms']:8.1f} ms/call")
        print(f"overhead             median {result['overhead_median_ms']:8.1f} ms/call "
              "(claim, packet, status, scheduler step, supervisor start)")
        print(f"ratio {result['ratio']:.2f} (budget ≤ 1.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
