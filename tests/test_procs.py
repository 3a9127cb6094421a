"""Process identity (procs.identity): the /proc read agrees with psutil, a reused pid or another
boot is never taken for the process that was started; and tmux driven on a private socket."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowergit.procs import identity


def test_identity_from_proc_is_the_one_psutil_gives() -> None:
    import psutil

    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        me = identity.of(p.pid)
        assert me is not None
        assert me == {"host": identity.host(), "boot_id": identity.boot_id(), "pid": p.pid,
                      "start": round(psutil.Process(p.pid).create_time(), 2)}
        assert identity.host() == __import__("socket").gethostname()
        assert identity.is_alive(me) is True
    finally:
        p.kill()
        p.wait()
    assert identity.of(p.pid) is None
    assert identity.is_alive(me) is False


def test_a_zombie_has_ended() -> None:
    p = subprocess.Popen(["true"])
    me = identity.of(p.pid)
    deadline = time.monotonic() + 10
    while identity.is_alive(me) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert identity.is_alive(me) is False  # a zombie until waited for: ended all the same
    p.wait()


def test_a_reused_pid_another_host_or_boot() -> None:
    me = identity.of(os.getpid())
    assert me is not None
    assert identity.is_alive({**me, "start": me["start"] - 100}) is False  # the pid was reused
    assert identity.is_alive({**me, "host": "elsewhere.invalid"}) is None  # only a lease can tell
    assert identity.is_alive({**me, "boot_id": "an-earlier-boot"}) is None
    assert identity.is_alive(None) is False
    assert identity.is_alive({}) is False


def test_without_proc_psutil_answers_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = identity.of(os.getpid())
    monkeypatch.setattr(identity, "_linux", lambda: False)
    slow = identity.of(os.getpid())
    assert slow == fast
    assert identity.is_alive(slow) is True
    assert identity.is_alive({**slow, "start": slow["start"] - 100}) is False  # type: ignore[index]


def test_the_light_modules_do_not_load_psutil() -> None:
    code = ("import os, sys\nfrom flowergit.procs import identity, spawn\n"
            "identity.is_alive(identity.of(os.getpid()))\n"
            "print('psutil' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


# -- tmux ------------------------------------------------------------------------------------------
needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@needs_tmux
def test_tmux_session_screen_send_and_kill(tmp_path: Path) -> None:
    from flowergit.procs import tmux

    sock = tmux.socket_path(str(tmp_path / "state"), "d1")
    env = {**os.environ, "FLOWER_MARK": "from-the-agent-env"}
    script = ("import os, sys\nprint(os.environ['FLOWER_MARK'])\nprint('Proceed? [y/n]', end=' ', "
              "flush=True)\nline = sys.stdin.readline()\nprint('got', repr(line.strip()), flush=True)\n"
              "import time; time.sleep(30)\n")
    tmux.new_session(sock, "flower-1-1", str(tmp_path), [sys.executable, "-c", script], env)
    try:
        assert tmux.has_session(sock, "flower-1-1")
        assert not tmux.has_session(sock, "flower-2-1")
        assert tmux.pane_pid(sock, "flower-1-1") > 1
        deadline = time.monotonic() + 20
        got = tmux.screen(sock, "flower-1-1")
        while (got is None or not any("[y/n]" in ln for ln in got[0])) and time.monotonic() < deadline:
            time.sleep(0.05)
            got = tmux.screen(sock, "flower-1-1")
        assert got is not None
        lines, top, cursor = got
        assert "from-the-agent-env" in lines  # the server runs with the agent's environment
        assert top == 0 and cursor == lines.index(next(ln for ln in lines if "[y/n]" in ln))
        tmux.send(sock, "flower-1-1", "yes;", enter=True)
        while not any("got" in ln for ln in got[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
            got = tmux.screen(sock, "flower-1-1") or got
        assert "got 'yes;'" in got[0]
        assert tmux.attach_argv(sock, "flower-1-1")[1:] == ["-S", sock, "attach-session", "-t",
                                                            "=flower-1-1"]
    finally:
        tmux.kill_server(sock)
    assert not os.path.exists(sock)
    assert not tmux.has_session(sock, "flower-1-1")
    assert tmux.screen(sock, "flower-1-1") is None
