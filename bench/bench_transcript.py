"""Reading a big agent transcript: `transcript.summarize` on multi-MB dispatch logs.

A log is built from the recorded transcripts in tests/fixtures/transcripts/ by repeating their
middle (the tool calls and their results, with a large tool output) until it reaches the size
asked for, then summarized in-process: once without a cache (a whole read, what the supervisor
does when the agent exits), once filling the cache, then again with the cache warm (what `ps`
and `watch` pay for a running agent each time they look) and after 64 KiB more were appended.
Median of N with the spread beside it.

    python bench/bench_transcript.py [--sizes 1,8,32] [--reps 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from flowergit.procs import transcript

FIXTURES = HERE.parent / "tests" / "fixtures" / "transcripts"
KINDS = {"claude": "claude-stream.jsonl", "codex": "codex-exec.jsonl"}


def build(kind: str, mb: int, path: Path) -> None:
    lines = (FIXTURES / KINDS[kind]).read_bytes().splitlines(keepends=True)
    head, middle, tail = lines[:1], lines[1:-2], lines[-2:]
    big = b"x" * 2000
    with open(path, "wb") as f:
        f.write(b"[git flower] dispatch 1.1: starting agent\n")
        f.writelines(head)
        while f.tell() < mb * 1024 * 1024:
            # a bulky tool output, as real sessions have them (a test run, a file read)
            f.writelines(ln.replace(b'"aggregated_output":""', b'"aggregated_output":"' + big + b'"')
                         .replace(b'"content":"(Bash completed with no output)"',
                                  b'"content":"' + big + b'"') for ln in middle)
        f.writelines(tail)


def timed(log: Path, kind: str, cache: Path | None, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        transcript.summarize(str(log), kind, cache=str(cache) if cache else None)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):8.1f} ms ({min(xs):.1f}-{max(xs):.1f})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,8,32", help="log sizes in MiB")
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="flower-bench-transcript-"))
    print(f"{'kind':7} {'size':>7}  {'whole read':>26}  {'cached, unchanged':>26}  "
          f"{'cached, +64 KiB':>26}")
    for kind in KINDS:
        for mb in (int(x) for x in a.sizes.split(",")):
            log = tmp / f"{kind}-{mb}.log"
            cache = tmp / f"{kind}-{mb}.cache.json"
            build(kind, mb, log)
            whole = timed(log, kind, None, a.reps)
            transcript.summarize(str(log), kind, cache=str(cache))
            warm = timed(log, kind, cache, a.reps)
            grown = []
            for _ in range(a.reps):
                with open(log, "ab") as f:
                    f.write(b"[git flower] more\n" * (64 * 1024 // 18))
                t0 = time.perf_counter()
                transcript.summarize(str(log), kind, cache=str(cache))
                grown.append((time.perf_counter() - t0) * 1000)
            got = transcript.summarize(str(log), kind)
            assert got is not None and got["turns"] > 0, got
            size = os.path.getsize(log) / 1024 / 1024
            print(f"{kind:7} {size:5.1f}MB  {fmt(whole):>26}  {fmt(warm):>26}  {fmt(grown):>26}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
