"""Named failpoints for crash and fault tests (the fail-rs / gofail idea).

``FLOWER_FAILPOINTS="after_stash=kill;during_tests=sleep(5);x=error;y=exit(3)"`` acts at the
named points — but only when ``FLOWER_TESTING=1`` is set too; otherwise every point is inert.
"""

from __future__ import annotations

import os
import sys
import time

from flowergit.errors import FlowerError

_ACTION = r"(kill|error|sleep|exit)(?:\(([0-9.]+)\))?"  # compiled only when a point acts
_table: dict[str, str] | None = None


def _load() -> dict[str, str]:
    global _table
    if _table is None:
        _table = {}
        if os.environ.get("FLOWER_TESTING") == "1":
            for item in os.environ.get("FLOWER_FAILPOINTS", "").split(";"):
                name, sep, action = item.partition("=")
                if sep and name.strip():
                    _table[name.strip()] = action.strip()
    return _table


def hit(name: str) -> None:
    """Act at failpoint ``name`` if the test environment asks for it."""
    action = _load().get(name)
    if not action:
        return
    import re

    m = re.fullmatch(_ACTION, action, re.ASCII)
    if not m:
        return
    verb, arg = m[1], m[2]
    if verb == "kill":
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), 9)  # SIGKILL: the crash the point stands for
    elif verb == "sleep":
        time.sleep(float(arg or 1))
    elif verb == "exit":
        os._exit(int(float(arg or 1)))
    elif verb == "error":
        raise FlowerError(f"failpoint {name} triggered")
