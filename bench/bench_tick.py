#!/usr/bin/env python3
"""`git flower tick` with a queue of pending auto_dispatch signals, against the bare git reads it
needs and against an idle tick.

    python bench/bench_tick.py [--signals 1000] [--reps 7]

One repository: `max_parallel = 1`, one running dispatch (so every queued signal stays pending and
a tick writes nothing), and N planned briefs each named by one auto_dispatch signal. Prints the
CPU time (user + system, of the process and its children) of cold `git flower tick` processes,
median and spread, the git processes one tick starts, and the floor: `python -c pass` plus the bare
reads a tick needs (discovery, the listing of signal and claim refs, one `cat-file --batch` of
their records and one of the briefs they name). Figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import env, flower_exe, git_calls, init_repo, precompile, run, scratch

EMIT = ("import sys\nfrom flowergit.gitio.repo import discover\n"
        "from flowergit.state import signals\n"
        "r = discover('.')\nr = r[0] if isinstance(r, tuple) else r\n"
        "for b in sys.argv[1:]:\n"
        "    signals.emit(r, 'auto_dispatch', brief=int(b), by='bench')\n")


def cpu(fn: Callable[[], object]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    fn()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def sh(cmd: Sequence[str], cwd: Path, input: bytes | None = None) -> bytes:
    return subprocess.run(list(cmd), cwd=cwd, env=env(), input=input, check=True,
                          capture_output=True).stdout


def cpu_runs(cases: dict[str, Callable[[], object]], reps: int) -> dict[str, list[float]]:
    """CPU seconds per run, the cases taking turns (one warm-up round first)."""
    for fn in cases.values():
        fn()
    out: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(reps):
        for k, fn in cases.items():
            out[k].append(cpu(fn))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--signals", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    precompile()
    root = scratch("tick")
    repo = init_repo(root / "repo")
    fl = flower_exe()
    try:
        toml = repo / ".flower.toml"
        toml.write_text(toml.read_text().replace("max_parallel = 4", "max_parallel = 1"))
        lines = [json.dumps({"title": "busy", "run": [["sleep", "3600"]]})]
        lines += [json.dumps({"title": f"waiting {i}", "status": "planned"})
                  for i in range(a.signals)]
        run([*fl, "brief", "import", "-"], repo, input=("\n".join(lines) + "\n").encode())
        run([*fl, "brief", "plan", "1"], repo)
        run([*fl, "dispatch", "1", "--agent", "script"], repo)
        tick = [*fl, "tick"]

        def go(cmd: Sequence[str]) -> Callable[[], None]:
            return lambda: subprocess.run(list(cmd), cwd=repo, env=env(), check=True,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        idle = cpu_runs({"idle": go(tick)}, a.reps)["idle"]
        idle_calls = git_calls(tick, repo)
        run([sys.executable, "-c", EMIT, *map(str, range(2, a.signals + 2))], repo)
        sig_refs = sh(["git", "for-each-ref", "--format=%(objectname):record.json",
                       "refs/flower/signals/"], repo)
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from flowergit.state.layout import BRIEFS_REF, brief_path

        brief_names = "".join(f"{BRIEFS_REF}:{brief_path(n)}\n"
                              for n in range(2, a.signals + 2)).encode()

        def floor() -> None:
            subprocess.run([sys.executable, "-c", "pass"], check=False, env=env())
            for cmd, inp in (
                    (["git", "version"], None),
                    (["git", "rev-parse", "--git-dir", "--git-common-dir", "--show-toplevel"], None),
                    (["git", "for-each-ref", "refs/flower/signals/", "refs/flower/claims/"], None),
                    (["git", "cat-file", "--batch"], sig_refs),
                    (["git", "cat-file", "--batch"], brief_names)):
                subprocess.run(cmd, check=False, cwd=repo, env=env(), input=inp, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)

        got = cpu_runs({"tick": go(tick), "floor": floor}, a.reps)
        calls = git_calls(tick, repo)
        med = {k: statistics.median(v) * 1000 for k, v in got.items()}
        idle_ms = statistics.median(idle) * 1000
        print(f"tick with {a.signals} pending auto_dispatch signals ({a.reps} runs, CPU ms, "
              f"median [min-max])")
        for name, xs in (("tick, idle (no signals)", idle), (f"tick, {a.signals} signals", got["tick"]),
                         ("floor: python + bare git reads", got["floor"])):
            print(f"  {name:34s} {statistics.median(xs) * 1000:8.1f}  "
                  f"[{min(xs) * 1000:.1f}-{max(xs) * 1000:.1f}]")
        print(f"  ratio to floor: {med['tick'] / med['floor']:.2f}x   "
              f"ratio to idle tick: {med['tick'] / idle_ms:.2f}x")
        print(f"  git processes per tick: idle {idle_calls}, with {a.signals} signals {calls}")
    finally:
        subprocess.run([*fl, "stop", "1"], check=False, cwd=repo, env=env(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
