#!/usr/bin/env python3
"""tmux driven two ways: git flower's own module (flowergit/procs/tmux.py, argv lists on a
private socket) against libtmux doing the same operations, side by side, in one process.

    python bench/bench_tmux.py [--reps 30]

Rows: the import of each (a fresh interpreter, median of cold runs, minus `python -c pass`),
starting a session and reading its pane's pid (what `dispatch --tmux` waits for), the screen
read the supervisor repeats every few tenths of a second while an agent runs (pane text plus
history size and cursor row, for waiting detection), `send` (text then Enter), `has_session`,
and killing the server. Each row also counts the tmux processes an operation starts. Figures
are printed; nothing asserts on time. libtmux is imported only when it is installed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import side_by_side, table  # noqa: E402

from flowergit.procs import tmux  # noqa: E402

AGENT = [sys.executable, "-c", "import time\nprint('Proceed? [y/n]', end=' ', flush=True)\n"
         "time.sleep(600)\n"]


def import_cost(stmt: str, reps: int) -> list[float]:
    """Seconds a fresh interpreter takes to run ``stmt`` (median over ``reps`` cold runs)."""
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", stmt], check=True)
        out.append(time.perf_counter() - t)
    return out


class Counter:
    """Counts the tmux processes started, by wrapping subprocess.Popen's constructor."""

    def __init__(self) -> None:
        self.n = 0
        self._orig = subprocess.Popen.__init__

    def __enter__(self) -> Counter:
        orig = self._orig
        me = self

        def init(self_: subprocess.Popen[bytes], args: object, *a: object, **kw: object) -> None:
            if isinstance(args, (list, tuple)) and args and str(args[0]).endswith("tmux"):
                me.n += 1
            orig(self_, args, *a, **kw)  # type: ignore[arg-type]

        subprocess.Popen.__init__ = init  # type: ignore[assignment,method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.Popen.__init__ = self._orig  # type: ignore[method-assign]


def count(fn: Callable[[], object]) -> int:
    with Counter() as c:
        fn()
    return c.n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=30)
    a = ap.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed")
        return 1
    try:
        import libtmux
    except ImportError:
        print("libtmux is not installed: only git flower's own module can be measured")
        libtmux = None
    root = Path(tempfile.mkdtemp(prefix="flower-bench-tmux-"))
    env = dict(os.environ)
    rows: list[list[str]] = []

    def row(name: str, ours: list[float], theirs: list[float] | None, n_ours: int,
            n_theirs: int | None) -> None:
        mo = statistics.median(ours) * 1000
        mt = statistics.median(theirs) * 1000 if theirs else None
        rows.append([name, f"{mo:.2f}", f"{mt:.2f}" if mt is not None else "-",
                     f"{mt / mo:.2f}" if mt is not None else "-", str(n_ours),
                     str(n_theirs) if n_theirs is not None else "-"])

    try:
        base = import_cost("pass", max(5, a.reps // 3))
        ours_imp = import_cost("import flowergit.procs.tmux", max(5, a.reps // 3))
        theirs_imp = import_cost("import libtmux", max(5, a.reps // 3)) if libtmux else None
        b = statistics.median(base)
        row("import (ms over python -c pass)", [max(0.0, t - b) for t in ours_imp],
            [max(0.0, t - b) for t in theirs_imp] if theirs_imp else None, 0, 0 if libtmux else None)

        n = [0]

        def ours_start() -> None:
            n[0] += 1
            sock = tmux.socket_path(str(root / "state"), f"o{n[0]}")
            tmux.new_session(sock, "flower-1-1", str(root), AGENT, env)
            tmux.pane_pid(sock, "flower-1-1")
            tmux.kill_server(sock)

        def theirs_start() -> None:
            assert libtmux is not None
            n[0] += 1
            sock = tmux.socket_path(str(root / "state"), f"t{n[0]}")
            srv = libtmux.Server(socket_path=sock, config_file=os.devnull)
            s = srv.new_session(session_name="flower-1-1", start_directory=str(root), x=200, y=50,
                                window_command=shlex.join(AGENT))
            _ = s.active_pane.pane_pid if s.active_pane else None
            srv.kill()

        cases: dict[str, Callable[[], object]] = {"ours": ours_start}
        if libtmux:
            cases["theirs"] = theirs_start
        got = side_by_side(cases, max(5, a.reps // 3))
        row("new session + pane pid + kill server", got["ours"], got.get("theirs"),
            count(ours_start), count(theirs_start) if libtmux else None)

        # one long-lived session each, as the supervisor keeps
        so = tmux.socket_path(str(root / "state"), "ours")
        tmux.new_session(so, "flower-1-1", str(root), AGENT, env)
        st = tmux.socket_path(str(root / "state"), "theirs")
        pane = srv = None
        if libtmux:
            srv = libtmux.Server(socket_path=st, config_file=os.devnull)
            sess = srv.new_session(session_name="flower-1-1", start_directory=str(root), x=200,
                                   y=50, window_command=shlex.join(AGENT))
            pane = sess.active_pane
        time.sleep(0.5)

        def ours_screen() -> None:
            assert tmux.screen(so, "flower-1-1") is not None

        def theirs_screen() -> None:
            assert pane is not None
            pane.refresh()  # history_size and cursor_y
            lines = pane.capture_pane()
            assert lines is not None and pane.history_size is not None and pane.cursor_y is not None

        def ours_send() -> None:
            tmux.send(so, "flower-1-1", "n", enter=True)

        def theirs_send() -> None:
            assert srv is not None and pane is not None
            if not srv.has_session("flower-1-1"):
                raise SystemExit("gone")
            pane.send_keys("n", enter=True, literal=True)

        def ours_has() -> None:
            assert tmux.has_session(so, "flower-1-1")

        def theirs_has() -> None:
            assert srv is not None and srv.has_session("flower-1-1")

        for name, fo, ft in (("screen (supervisor poll)", ours_screen, theirs_screen),
                             ("send text + Enter", ours_send, theirs_send),
                             ("has_session", ours_has, theirs_has)):
            cases = {"ours": fo}
            if libtmux:
                cases["theirs"] = ft
            got = side_by_side(cases, a.reps)
            row(name, got["ours"], got.get("theirs"), count(fo), count(ft) if libtmux else None)
        tmux.kill_server(so)
        if srv is not None:
            srv.kill()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"tmux {subprocess.run(['tmux', '-V'], capture_output=True, text=True).stdout.strip()}, "
          f"libtmux {getattr(libtmux, '__version__', 'absent')}, python {sys.version.split()[0]}, "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(table(rows, ["operation", "flower ms", "libtmux ms", "ratio", "tmux procs", "libtmux procs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
