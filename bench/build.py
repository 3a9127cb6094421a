#!/usr/bin/env python3
"""Scale builders: repositories with many briefs, dispatch records, signals and noted commits.

Briefs go in through `git flower brief import` (one commit, the real code path). Dispatch
records, signals and history are written in the exact formats git flower reads (DESIGN.md,
`state/dispatches.py`, `state/signals.py`, `state/notes.py`) with one `git fast-import` stream
each, so 100,000 commits with notes take seconds rather than the hours that 100,000 separate
`git commit` calls would.

    python bench/build.py DIR --briefs 10000 --dispatches 1000 --signals 1000 --commits 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import env, import_briefs, init_repo, run  # noqa: E402

IDENT = b"bench <bench@flower.invalid>"
STATES = ("exited", "merged", "released", "stopped", "exited", "merged", "released", "lost")


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def fast_import(repo: Path, stream: Iterator[bytes]) -> None:
    """Feed ``stream`` to `git fast-import` (refs created or moved as the stream says)."""
    p = subprocess.Popen(["git", "fast-import", "--quiet", "--force"], cwd=repo, env=env(),
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert p.stdin is not None
    buf: list[bytes] = []
    size = 0
    for chunk in stream:
        buf.append(chunk)
        size += len(chunk)
        if size > 1 << 20:
            p.stdin.write(b"".join(buf))
            buf, size = [], 0
    p.stdin.write(b"".join(buf))
    p.stdin.close()
    err = p.stderr.read() if p.stderr else b""
    if p.wait() != 0:
        raise RuntimeError(f"git fast-import failed: {err.decode(errors='replace')}")


def _record_chain(ref: str, rec: dict[str, object], message: str, when: int) -> bytes:
    body = (json.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    return (b"commit %s\ncommitter %s %d +0000\n" % (ref.encode(), IDENT, when)
            + _data(message.encode()) + b"M 100644 inline record.json\n" + _data(body) + b"\n")


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dispatches(repo: Path, n: int, *, briefs: int | None = None) -> None:
    """``n`` ended dispatch records (`refs/flower/dispatch/<brief>/1`), spread over the briefs."""
    now = int(time.time())
    wt_root = f"{repo}.flower"
    nb = max(1, briefs or n)

    def gen() -> Iterator[bytes]:
        for i in range(n):
            brief = i % nb + 1
            attempt = i // nb + 1
            state = STATES[i % len(STATES)]
            t = now - (n - i) * 60
            rec = {"v": 1, "id": f"{brief}.{attempt}", "brief": brief, "attempt": attempt,
                   "state": state, "agent": "script", "branch": f"flower/{brief}-bench",
                   "worktree": f"{wt_root}/{brief}-bench", "base": "0" * 40, "target": "main",
                   "title": f"brief number {brief}", "rework": False, "pid": None, "pgid": None,
                   "proc": None, "supervisor": None, "tmux": False, "signal": None, "daemon": None,
                   "queued_at": _iso(t), "queued_ns": t * 10**9, "started_at": _iso(t),
                   "ended_at": _iso(t + 30), "exit_code": 0 if state != "lost" else None,
                   "log": f"{repo}/.git/flower/logs/{brief}.{attempt}.log",
                   "packet": f"{repo}/.git/flower/packets/{brief}.{attempt}.md", "by": "bench"}
            yield _record_chain(f"refs/flower/dispatch/{brief}/{attempt}", rec,
                                f"dispatch {brief}.{attempt}: {state}", t)
    fast_import(repo, gen())


def signals(repo: Path, n: int, kind: str = "bench") -> list[str]:
    """``n`` pending signals of ``kind`` (`refs/flower/signals/<id>`), oldest first; their ids."""
    start = time.time() - n * 0.001 - 5
    ids: list[str] = []

    def gen() -> Iterator[bytes]:
        for i in range(n):
            t = start + i * 0.001
            stamp = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y%m%dT%H%M%S.%f")
            sid = f"{stamp}-{os.urandom(4).hex()}-{kind}"
            ids.append(sid)
            rec = {"v": 1, "id": sid, "kind": kind, "brief": None, "data": {"n": str(i)},
                   "at": _iso(t), "by": "bench", "state": "pending"}
            yield _record_chain(f"refs/flower/signals/{sid}", rec, f"signal {sid}: {kind}", int(t))
    fast_import(repo, gen())
    return ids


def history(repo: Path, n: int, *, notes: bool = True, branch: str = "main") -> None:
    """``n`` commits on ``branch`` (each touching one of 100 small files), and with ``notes`` a
    provenance line in `refs/notes/flower` on every one of them."""
    tip = subprocess.run(["git", "rev-parse", "-q", "--verify", f"refs/heads/{branch}"], cwd=repo,
                         env=env(), capture_output=True, text=True).stdout.strip()
    t0 = int(time.time()) - n

    def gen() -> Iterator[bytes]:
        for i in range(n):
            head = b"commit refs/heads/%s\nmark :%d\ncommitter %s %d +0000\n" % (
                branch.encode(), i + 1, IDENT, t0 + i)
            parent = b""
            if i == 0 and tip:
                parent = b"from %s\n" % tip.encode()
            yield (head + _data(b"change %d" % i) + parent
                   + b"M 100644 inline src/f%02d.txt\n" % (i % 100) + _data(b"line %d\n" % i) + b"\n")
        if notes:
            yield (b"commit refs/notes/flower\ncommitter %s %d +0000\n" % (IDENT, t0 + n)
                   + _data(b"notes: provenance for %d commits" % n))
            for i in range(n):
                line = json.dumps({"v": 1, "kind": "merge", "brief": i % 10_000 + 1,
                                   "dispatch": f"{i % 10_000 + 1}.1"}, sort_keys=True,
                                  separators=(",", ":")).encode() + b"\n"
                yield b"N inline :%d\n" % (i + 1) + _data(line)
            yield b"\n"
    fast_import(repo, gen())
    # the checkout follows the branch it stands on
    subprocess.run(["git", "reset", "-q", "--hard", branch], cwd=repo, env=env(), check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--briefs", type=int, default=0)
    ap.add_argument("--dispatches", type=int, default=0)
    ap.add_argument("--signals", type=int, default=0)
    ap.add_argument("--commits", type=int, default=0)
    a = ap.parse_args()
    repo = init_repo(a.dir)
    if a.commits:
        history(repo, a.commits)
    if a.briefs:
        import_briefs(repo, a.briefs)
    if a.dispatches:
        dispatches(repo, a.dispatches, briefs=a.briefs or None)
    if a.signals:
        signals(repo, a.signals)
    run(["git", "gc", "-q", "--auto"], repo)
    print(repo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
