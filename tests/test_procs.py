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
        ticks = int(Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        assert me == {"host": identity.host(), "boot_id": identity.boot_id(), "pid": p.pid,
                      "start": round(psutil.Process(p.pid).create_time(), 2), "ticks": ticks}
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
    assert identity.is_alive({**me, "ticks": me["ticks"] - 1}) is False  # the pid was reused
    old = {k: v for k, v in me.items() if k != "ticks"}  # named before ticks were recorded
    assert identity.is_alive(old) is True
    assert identity.is_alive({**old, "start": me["start"] - 100}) is False
    assert identity.is_alive({**me, "host": "elsewhere.invalid"}) is None  # only a lease can tell
    assert identity.is_alive({**me, "boot_id": "an-earlier-boot"}) is None
    assert identity.is_alive(None) is False
    assert identity.is_alive({}) is False


def test_without_proc_psutil_answers_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = identity.of(os.getpid())
    monkeypatch.setattr(identity, "_linux", lambda: False)
    slow = identity.of(os.getpid())
    assert slow == {k: v for k, v in fast.items() if k != "ticks"}  # type: ignore[union-attr]
    assert identity.is_alive(slow) is True
    assert identity.is_alive({**slow, "start": slow["start"] - 100}) is False  # type: ignore[index]


JUDGE = """import json, sys
from flowergit.procs import identity
print(json.dumps(identity.is_alive(json.loads(sys.argv[1]))))
"""


def test_a_process_named_before_the_wall_clock_stepped_is_alive_after_it() -> None:
    """The kernel's boot time (``btime``) is the wall clock less the uptime: a step of the wall
    clock (NTP, a virtual machine's time sync) moves it by a second or more. A long-lived process
    (`git flower web`, a supervisor, a daemon) read it before the step and names a process it
    starts after it; a process started after the step judges that name with the new boot time.
    The process is alive for it all the same, and a reused pid is still told apart."""
    import json

    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        identity._btime()
        stale = identity._BTIME
        assert stale is not None
        try:
            identity._BTIME = stale - 1  # the boot time as it was before a 1 s step forward
            named = identity.of(p.pid)
        finally:
            identity._BTIME = stale
        assert named is not None and named["start"] == round(identity.of(p.pid)["start"] - 1, 2)  # type: ignore[index]

        def judged(ident: object) -> object:
            r = subprocess.run([sys.executable, "-c", JUDGE, json.dumps(ident)],
                               capture_output=True, text=True, check=True)
            return json.loads(r.stdout)

        assert judged(named) is True  # another process, with the boot time as it is now
        assert judged({**named, "ticks": named["ticks"] + 1}) is False  # type: ignore[typeddict-item]
    finally:
        p.kill()
        p.wait()
    assert judged(named) is False


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
