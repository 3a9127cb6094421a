#!/usr/bin/env python3
"""`git flower web` at scale: the board's first paint, and how the server reads the refs.

    python bench/bench_web.py [--briefs 10000] [--refs 1000] [--reps 15]

Builds a repository with ``--briefs`` briefs (one `brief import`) and ``--refs`` dispatch
records under refs/flower/, starts `git flower web` on it and measures

* board (server): the time from the request to the last byte of the board page, over HTTP on
  127.0.0.1, the first request of the server (its start filled the briefs list cache) and
  then the median of ``--reps``;
* board (browser): with Debian's Chromium on PATH (driven by Playwright, no browser download),
  the board's first contentful paint and the load event, as the browser's own performance
  timeline reports them, from a fresh page each time;
* live: from the end of a `brief new` at the terminal to the ``change`` event that tells an
  open page (its ``/events`` stream) to fetch itself again;
* fleet read: what the fleet page reads (``ops.status.status``: every dispatch record), in
  one long-lived process, spawning git against libgit2;
* refs listing: what the server reads up to four times a second to notice a change
  (``ops.watch.refs_version`` lists the flower refs), in one long-lived process, spawning
  ``git for-each-ref`` against reading the refs through libgit2 (``gitio.libgit``), taking
  turns; the ratio is spawned / libgit2 (above 1: libgit2 is faster).

Figures are printed; nothing asserts on time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import (env, flower_exe, import_briefs, init_repo, precompile, scratch,  # noqa: E402
                    side_by_side, table)


def add_records(path: Path, n: int) -> None:
    """``n`` dispatch records under refs/flower/dispatch/, as state/records.py writes them."""
    from flowergit.gitio import refs, writes
    from flowergit.gitio.repo import discover
    from flowergit.state import records

    repo = discover(str(path))
    w = writes.Writer(repo)
    ops = []
    for i in range(1, n + 1):
        rec = {"v": 1, "id": f"{i}.1", "brief": i, "attempt": 1, "state": "released",
               "agent": "script", "branch": f"flower/{i}-brief"}
        ops.append(refs.create(f"refs/flower/dispatch/{i}/1", records.add_commit(w, rec, None, "new")))
    w.flush()
    refs.transaction(repo, ops)


def start_server(repo: Path) -> tuple[subprocess.Popen[bytes], str]:
    p = subprocess.Popen([*flower_exe(), "web", "--port", "0"], cwd=repo, env=env(),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert p.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = p.stdout.readline().decode()
        m = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
        if m:
            return p, m[1]
        if not line and p.poll() is not None:
            break
    p.kill()
    raise SystemExit("git flower web printed no URL")


def fetch(url: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        r.read()
    return time.perf_counter() - t


def live_latency(base: str, token: str, repo: Path, reps: int) -> list[float]:
    """Seconds from the end of a `brief new` at the terminal to the ``change`` event an open
    page's stream gets."""
    req = urllib.request.Request(base + "/events", headers={"Cookie": f"flower_session={token}"})
    out = []
    with urllib.request.urlopen(req, timeout=60) as stream:
        assert stream.readline().startswith(b"event: hello")
        time.sleep(1.0)  # the watcher has read the refs once since the stream opened
        for i in range(reps):
            subprocess.run([*flower_exe(), "brief", "new", f"live {i}"], cwd=repo, env=env(),
                           check=True, stdout=subprocess.DEVNULL)
            t = time.perf_counter()
            while not stream.readline().startswith(b"event: change"):
                pass
            out.append(time.perf_counter() - t)
    return out


def browser_paint(url: str, reps: int) -> tuple[list[float], list[float]] | None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if exe is None:
        return None
    paints: list[float] = []
    loads: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            ctx = browser.new_context()
            for i in range(reps + 1):
                page = ctx.new_page()
                page.goto(url, wait_until="load")
                fcp = page.evaluate(
                    "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
                load = page.evaluate(
                    "() => performance.getEntriesByType('navigation')[0].loadEventEnd")
                page.close()
                if i:  # the first one warms the browser
                    if fcp is not None:
                        paints.append(fcp / 1000)
                    loads.append(load / 1000)
        finally:
            browser.close()
    return paints, loads


def fleet_read(repo: Path, reps: int) -> dict[str, list[float]]:
    """The fleet page's read (``ops.status.status``: every dispatch record), spawning git
    against reading through libgit2, taking turns."""
    from flowergit.gitio import libgit
    from flowergit.ops import status
    from flowergit.ops.context import Ctx

    def spawned() -> object:
        libgit.disable()
        return status.status(Ctx(str(repo)).load())

    def in_process() -> object:
        libgit.enable()
        return status.status(Ctx(str(repo)).load())

    try:
        return side_by_side({"spawned": spawned, "libgit2": in_process}, reps)
    finally:
        libgit.disable()


def refs_digest(repo: Path, reps: int) -> dict[str, list[float]]:
    """The server's change check: the flower refs listed by a spawned ``for-each-ref`` (what
    ``ops.watch.refs_version`` runs) against libgit2 reading them in this process."""
    from flowergit.gitio import libgit, refs
    from flowergit.gitio.repo import discover
    from flowergit.ops import watch

    r = discover(str(repo))
    libgit.enable()
    try:
        assert refs.read_many(r, watch.WATCHED) == libgit.ref_lines(r, watch.WATCHED), \
            "libgit2 and git list different refs"
        return side_by_side({"spawned": lambda: refs.read_many(r, watch.WATCHED),
                             "libgit2": lambda: libgit.ref_lines(r, watch.WATCHED)}, reps)
    finally:
        libgit.disable()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--briefs", type=int, default=10_000)
    ap.add_argument("--refs", type=int, default=1_000)
    ap.add_argument("--reps", type=int, default=15)
    a = ap.parse_args()
    precompile()
    root = scratch("web")
    try:
        repo = init_repo(root / "repo")
        t = time.perf_counter()
        import_briefs(repo, a.briefs)
        add_records(repo, a.refs)
        print(f"built {a.briefs} briefs and {a.refs} dispatch records in "
              f"{time.perf_counter() - t:.1f}s", file=sys.stderr)
        os.environ.update(env())
        server, url = start_server(repo)
        try:
            first = fetch(url)
            warm = [fetch(url) for _ in range(a.reps)]
            paint = browser_paint(url, a.reps)
            base, token = url.split("/?token=")
            live = live_latency(base, token, repo, a.reps)
        finally:
            server.terminate()
            server.wait(10)
        digest = refs_digest(repo, a.reps * 4)
        fleet = fleet_read(repo, a.reps)
        rows = [["board, server: first request", f"{first * 1000:.1f}", ""],
                ["board, server: warm (median)", f"{statistics.median(warm) * 1000:.1f}",
                 f"{min(warm) * 1000:.1f}-{max(warm) * 1000:.1f}"]]
        if paint is not None and paint[0]:
            rows.append(["board, browser: first contentful paint",
                         f"{statistics.median(paint[0]) * 1000:.1f}",
                         f"{min(paint[0]) * 1000:.1f}-{max(paint[0]) * 1000:.1f}"])
            rows.append(["board, browser: load event", f"{statistics.median(paint[1]) * 1000:.1f}",
                         f"{min(paint[1]) * 1000:.1f}-{max(paint[1]) * 1000:.1f}"])
        else:
            rows.append(["board, browser", "not measured: no chromium or playwright", ""])
        rows.append(["a change at the terminal to a page's event", f"{statistics.median(live) * 1000:.1f}",
                     f"{min(live) * 1000:.1f}-{max(live) * 1000:.1f}"])
        for k, xs in digest.items():
            rows.append([f"refs listing, {k}", f"{statistics.median(xs) * 1000:.2f}",
                         f"{min(xs) * 1000:.2f}-{max(xs) * 1000:.2f}"])
        for k, xs in fleet.items():
            rows.append([f"fleet read (status), {k}", f"{statistics.median(xs) * 1000:.2f}",
                         f"{min(xs) * 1000:.2f}-{max(xs) * 1000:.2f}"])
        print(f"git flower web: {a.briefs} briefs, {a.refs} dispatch records, medians of {a.reps}")
        print(table(rows, ["what", "ms", "spread"]))
        ratio = statistics.median(digest["spawned"]) / statistics.median(digest["libgit2"])
        print(f"refs listing: spawned git / libgit2 = {ratio:.2f}x "
              f"({'libgit2' if ratio > 1 else 'spawned git'} is faster)")
        ratio = statistics.median(fleet["spawned"]) / statistics.median(fleet["libgit2"])
        print(f"fleet read: spawned git / libgit2 = {ratio:.2f}x "
              f"({'libgit2' if ratio > 1 else 'spawned git'} is faster)")
        budget = (statistics.median(paint[0]) if paint and paint[0] else statistics.median(warm))
        print(f"board first paint: {budget * 1000:.0f} ms against a budget of 1000 ms "
              f"({'met' if budget <= 1.0 else 'missed'})")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
