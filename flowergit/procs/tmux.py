"""tmux on a private socket, driven with argv lists (never a shell string).

Each ``--tmux`` dispatch gets its own tmux server on its own socket, started with the agent's
environment, so nothing leaks between agents or into the user's tmux.

Not libtmux: it starts every tmux process with the caller's own environment (``-e`` can add a
variable, never drop one), so the agent would see what ``agent_env`` keeps back (another
agent's FLOWER_* variables, git's per-repository ones, whatever ``passEnv`` leaves out); it hands
a session's command to a shell as one string; and it costs more where it counts
(bench/bench_tmux.py: the supervisor's screen read is two tmux processes instead of one, about
2.5x the time; a session start 7 processes instead of 3, 1.6x the time; its import 2.5x).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from flowergit.errors import FlowerError, NotFound, Unsupported

MAX_SOCKET = 100  # bytes: sun_path is 108 on Linux, 104 on macOS


def available() -> str:
    path = shutil.which("tmux")
    if path is None:
        raise Unsupported("tmux is not installed", "install tmux, or dispatch without --tmux")
    return path


def socket_path(state_dir: str, name: str) -> str:
    """``<state>/tmux/<name>.sock``, or a short private path when that is too long for a socket."""
    path = os.path.join(state_dir, "tmux", f"{name}.sock")
    if len(path.encode()) <= MAX_SOCKET:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        return path
    short = os.path.join("/tmp", f"flower-tmux-{os.getuid()}")
    os.makedirs(short, mode=0o700, exist_ok=True)
    if os.stat(short).st_uid != os.getuid():
        raise Unsupported(f"{short} belongs to another user", "remove it, or use a shorter path")
    os.chmod(short, 0o700)
    digest = hashlib.sha256(path.encode()).hexdigest()[:16]
    return os.path.join(short, f"{digest}.sock")


def _tmux(socket: str, args: Sequence[str], *, env: Mapping[str, str] | None = None,
          check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    argv = [available(), "-S", socket, "-f", os.devnull, *args]
    p = subprocess.run(argv, env=dict(env) if env is not None else None, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout, check=False)
    if check and p.returncode != 0:
        raise FlowerError(f"tmux {args[0]} failed: {p.stderr.decode('utf-8', 'replace').strip()}")
    return p


def new_session(socket: str, session: str, cwd: str, argv: Sequence[str],
                env: Mapping[str, str]) -> None:
    """Start a detached session running ``argv`` directly (tmux execs several args, no shell)."""
    if len(argv) < 2:
        argv = ["/usr/bin/env", *argv]  # one argument would be handed to a shell by tmux
    _tmux(socket, ["new-session", "-d", "-s", session, "-x", "200", "-y", "50", "-c", cwd,
                   "--", *argv], env=env)


def pane_pid(socket: str, session: str) -> int:
    p = _tmux(socket, ["list-panes", "-t", f"={session}:", "-F", "#{pane_pid}"])
    text = p.stdout.decode().strip().split("\n")[0]
    if not text.isdigit():
        raise FlowerError(f"tmux did not report a pane pid for {session}")
    return int(text)


def has_session(socket: str, session: str) -> bool:
    if not os.path.exists(socket):
        return False
    return _tmux(socket, ["has-session", "-t", f"={session}"], check=False).returncode == 0


# the key names git flower accepts (flowergit.state.config.KEY_NAMES) that tmux spells otherwise
_TMUX_NAMES = {"Backspace": "BSpace"}


def _literal(text: str) -> str:
    """tmux takes an argument that ends in ``;`` for the end of a command (and drops the
    ``;``): such a last ``;`` is written ``\\;``."""
    return text[:-1] + "\\;" if text.endswith(";") else text


def send(socket: str, session: str, text: str = "", enter: bool = False,
         keys: Sequence[str] = ()) -> None:
    """Type ``text`` (literally), then ``keys`` in order (key names such as ``Enter``, ``C-c``,
    or single characters, taken literally), then Enter if ``enter``: one tmux call."""
    if not has_session(socket, session):
        raise NotFound(f"no tmux session {session} (the agent has ended)")
    target = f"={session}:"
    cmds: list[list[str]] = []
    if text:
        cmds.append(["send-keys", "-t", target, "-l", "--", _literal(text)])
    for key in keys:
        if len(key) == 1:
            cmds.append(["send-keys", "-t", target, "-l", "--", _literal(key)])
        else:
            cmds.append(["send-keys", "-t", target, "--", _TMUX_NAMES.get(key, key)])
    if enter:
        cmds.append(["send-keys", "-t", target, "Enter"])
    if not cmds:
        return
    args: list[str] = []
    for c in cmds:
        args += [";", *c] if args else c
    _tmux(socket, args)


def screen(socket: str, session: str) -> tuple[list[str], int, int] | None:
    """What the session's pane shows: (its lines, the history row of the first, the history
    row of the cursor); None when tmux cannot tell (the session has ended)."""
    target = f"={session}:"
    try:
        p = _tmux(socket, ["display-message", "-p", "-t", target, "#{history_size} #{cursor_y}",
                           ";", "capture-pane", "-p", "-t", target], check=False, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if p.returncode != 0:
        return None
    head, _, body = p.stdout.decode("utf-8", "replace").partition("\n")
    parts = head.split()
    if len(parts) != 2 or not all(x.isdigit() for x in parts):
        return None
    top = int(parts[0])
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # capture-pane ends its last line with a newline
    return lines, top, top + int(parts[1])


def attach_argv(socket: str, session: str) -> list[str]:
    return [available(), "-S", socket, "attach-session", "-t", f"={session}"]


def kill_server(socket: str) -> None:
    if os.path.exists(socket):
        _tmux(socket, ["kill-server"], check=False)
        try:
            os.unlink(socket)
        except OSError:
            pass
