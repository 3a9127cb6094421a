#!/usr/bin/env python3
"""Brief commands at scale: cold-process medians next to their floor, as ratios.

    python bench/bench_briefs.py [--briefs 10000] [--reps 15]

The floor of a command is `python -c pass` plus the bare git calls it wraps, run one after the
other. Budgets (DESIGN.md): list --json <= 60 ms, show <= 50 ms, new <= 70 ms at 10,000 briefs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (chain, cold, flower_exe, import_briefs, init_repo, ms, precompile,  # noqa: E402
                    scratch, spread, table)

BUDGET = {"brief list --json": 60, "brief show N --json": 50, "brief new --json": 70}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--briefs", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--keep", action="store_true", help="keep the scratch repository")
    a = ap.parse_args()
    precompile()
    root = scratch("briefs")
    repo = init_repo(root / "repo")
    import_briefs(repo, a.briefs)
    fl = flower_exe()
    mid = str(max(1, a.briefs // 2))
    py = [sys.executable, "-c", "pass"]
    disc = ["git", "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
            "--show-object-format", "--is-bare-repository", "--show-prefix", "--show-toplevel"]
    floor_list = [py, ["git", "version"], disc, ["git", "rev-parse", "-q", "--verify", "flower/briefs^{tree}"]]
    floor_show = [py, ["git", "version"], disc, ["git", "cat-file", "blob", f"flower/briefs:briefs/{int(mid)//100*100:04d}/{mid}.md"]]
    floor_new = [py, ["git", "version"], disc, ["git", "worktree", "list", "--porcelain", "-z"],
                 ["git", "rev-parse", "-q", "--verify", "flower/briefs"],
                 ["git", "cat-file", "-p", "flower/briefs^{tree}"],
                 ["git", "hash-object", "-w", "--stdin"],
                 ["git", "commit-tree", "-m", "x", "flower/briefs^{tree}"],
                 ["git", "update-ref", "refs/bench/x", "HEAD"]]
    cases = [
        ("brief list --json", [*fl, "brief", "list", "--json"], floor_list),
        ("brief show N --json", [*fl, "brief", "show", mid, "--json"], floor_show),
        ("brief new --json", [*fl, "brief", "new", "bench brief", "--json"], floor_new),
    ]
    rows = []
    py_t = cold(py, repo, a.reps)
    for name, cmd, floor in cases:
        t = cold(cmd, repo, a.reps)
        f = chain(floor, repo, a.reps)
        med = statistics.median(t) * 1000
        rows.append([name, ms(t), spread(t), ms(f), f"{statistics.median(t) / statistics.median(f):.2f}",
                     f"{statistics.median(t) / statistics.median(py_t):.1f}",
                     f"{BUDGET[name]}", "met" if med <= BUDGET[name] else "MISSED"])
    print(f"git flower brief commands, {a.briefs} briefs, {a.reps} cold runs each "
          f"(python -c pass: {ms(py_t).strip()} ms)")
    print(table(rows, ["command", "median ms", "spread", "floor ms", "x floor", "x python",
                       "budget ms", "budget"]))
    if a.keep:
        print(f"repository kept at {repo}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
