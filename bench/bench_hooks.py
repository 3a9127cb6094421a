#!/usr/bin/env python3
"""How much git flower's installed hooks add to one `git commit` (median, milliseconds).

Makes a scratch repository, times N `git commit --allow-empty` with no hooks, then the same with
`git flower hooks install` done, on a brief branch (`flower/1-bench`: the trailer and progress
hooks do their work) and on `main` (they only look at the branch). Prints one JSON document.
Budget (DESIGN.md): at most 30 ms added per commit. `--check` exits 1 when over budget.

    python bench/bench_hooks.py [-n 40] [--check]
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

BUDGET_MS = 30.0


def git(cwd: str, *args: str, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def time_commits(repo: str, n: int, env: dict[str, str]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        git(repo, "commit", "--allow-empty", "-qm", f"bench {i}", env=env)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=40, help="commits per measurement")
    ap.add_argument("--check", action="store_true", help="exit 1 when over the 30 ms budget")
    a = ap.parse_args()
    flower = shutil.which("git-flower") or os.path.join(os.path.dirname(sys.executable), "git-flower")
    tmp = tempfile.mkdtemp(prefix="flower-bench-hooks-")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(HOME=tmp, GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
                   GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b",
                   PATH=os.path.dirname(flower) + os.pathsep + env.get("PATH", ""))
        repo = os.path.join(tmp, "repo")
        git(tmp, "init", "-q", "-b", "main", repo, env=env)
        git(repo, "commit", "--allow-empty", "-qm", "init", env=env)
        git(repo, "switch", "-qc", "flower/1-bench", env=env)
        time_commits(repo, 3, env)  # warm caches
        result: dict[str, object] = {"commits": a.n, "budget_ms": BUDGET_MS}
        base_brief = statistics.median(time_commits(repo, a.n, env))
        git(repo, "switch", "-q", "main", env=env)
        base_main = statistics.median(time_commits(repo, a.n, env))
        subprocess.run([flower, "hooks", "install"], cwd=repo, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        hooked_main = statistics.median(time_commits(repo, a.n, env))
        git(repo, "switch", "-q", "flower/1-bench", env=env)
        time_commits(repo, 2, env)
        hooked_brief = statistics.median(time_commits(repo, a.n, env))
        result.update({
            "main": {"no_hooks_ms": round(base_main, 2), "hooks_ms": round(hooked_main, 2),
                     "added_ms": round(hooked_main - base_main, 2)},
            "brief_branch": {"no_hooks_ms": round(base_brief, 2), "hooks_ms": round(hooked_brief, 2),
                             "added_ms": round(hooked_brief - base_brief, 2)},
        })
        worst = max(hooked_main - base_main, hooked_brief - base_brief)
        result["worst_added_ms"] = round(worst, 2)
        result["within_budget"] = worst <= BUDGET_MS
        print(json.dumps(result, indent=2))
        return 1 if a.check and worst > BUDGET_MS else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
