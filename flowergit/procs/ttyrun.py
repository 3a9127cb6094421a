"""Run a command behind a pty inside a tmux pane, copying its output into the dispatch log.

``python -m flowergit.procs.ttyrun LOG EXITFILE -- ARGV...``: the person attached to the pane
sees and types into the agent's terminal; everything the agent prints is appended to LOG too;
the exit status is written to EXITFILE (``<code> [SIGNAME]``) for the supervisor.
"""

from __future__ import annotations

import os
import pty
import signal
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: python -m flowergit.procs.ttyrun LOG EXITFILE -- ARGV...\n")
        return 2
    log, exit_file, cmd = argv[0], argv[1], argv[3:]
    logfd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def read(fd: int) -> bytes:
        data = os.read(fd, 65536)
        if data:
            os.write(logfd, data)
        return data

    status = pty.spawn(cmd, read)
    code = os.waitstatus_to_exitcode(status)
    sig = ""
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = f"SIG{-code}"
        code = 128 - code
    tmp = exit_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{code} {sig}".strip() + "\n")
    os.replace(tmp, exit_file)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
