"""Human renderings for signals, daemons, the baton, hand-offs, charters and ticks.

Plain text when piped (no rich import on the hot paths); tables through :mod:`output`.
"""

from __future__ import annotations

import sys

from flowergit.render import output
from flowergit.render.text import escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


def _data(d: dict[str, Any]) -> str:
    items = d.get("data") or {}
    return " ".join(f"{k}={v}" for k, v in items.items()) if isinstance(items, dict) else str(items)


def signal_one(s: dict[str, Any], verb: str = "") -> None:
    what = s.get("kind") or "signal"
    if s.get("brief"):
        what += f" for brief {s['brief']}"
    extra = _data(s)
    if verb:
        output.line(f"{verb} signal {s.get('id')} ({what})" + (f" {extra}" if extra else ""))
    else:
        output.line(f"signal {s.get('id')}: {what} [{s.get('state', 'pending')}]"
                    + (f" {extra}" if extra else ""))


def signal_claimed(s: dict[str, Any]) -> None:
    signal_one(s, "claimed")


def signal_emitted(s: dict[str, Any]) -> None:
    output.line(str(s.get("id")))


def signal_completed(s: dict[str, Any]) -> None:
    state = s.get("state", "completed")
    if s.get("already"):
        output.line(f"signal {s.get('id')} was already {state}")
    else:
        signal_one(s, state)


def signal_list(items: Sequence[dict[str, Any]]) -> None:
    if not items:
        output.info("no signals")
        return
    rows = [(s.get("id"), s.get("kind"), s.get("state"), s.get("brief") or "",
             (s.get("claim") or {}).get("by", ""), _data(s)) for s in items]
    output.print_table(["ID", "KIND", "STATE", "BRIEF", "CLAIMED BY", "DATA"], rows)


def daemon_one(d: dict[str, Any]) -> None:
    live = d.get("liveness") or {}
    output.line(f"daemon {d.get('id')}: {d.get('role')} [{d.get('state')}]"
                + (f" {live.get('state')}" if live else ""))
    for key in ("host", "pid", "started_at", "beat", "beat_at", "successor_of", "agent", "packet",
                "log"):
        if d.get(key) not in (None, ""):
            output.line(f"{key + ':':<14}{d[key]}")
    if live.get("why"):
        output.line(f"{'judged:':<14}{live['why']}")


def daemon_checkin(d: dict[str, Any]) -> None:
    if d.get("shell"):
        sys.stdout.write(d["shell"] + "\n")
    else:
        output.line(f"daemon {d.get('id')}: checked in as {d.get('role')}")


def daemon_list(items: Sequence[dict[str, Any]]) -> None:
    if not items:
        output.info("no daemons (check one in with `git flower daemon checkin --role ROLE`)")
        return
    rows = [(d.get("id"), d.get("role"), d.get("state"), (d.get("liveness") or {}).get("state", ""),
             d.get("host") or "", d.get("pid") or "", d.get("beat", 0)) for d in items]
    output.print_table(["ID", "ROLE", "STATE", "LIVENESS", "HOST", "PID", "BEATS"], rows)


def baton_show(b: dict[str, Any]) -> None:
    if not b.get("exists"):
        output.line(f"baton {b.get('lane')}: free (nobody has taken it)")
        return
    holder = b.get("holder")
    live = (b.get("liveness") or {}).get("state")
    line = f"baton {b['lane']}: epoch {b.get('epoch')} {b.get('state')}"
    if b.get("state") != "released" and holder:
        line += f" by daemon {holder}" + (f" ({live})" if live else "")
    if b.get("successor"):
        line += f", successor daemon {b['successor']}"
    output.line(line)
    for h in b.get("history") or []:
        output.line(f"  {h}")


def baton_step(b: dict[str, Any]) -> None:
    msg = b.get("message")
    if msg:
        output.line(msg)
    else:
        baton_show(b)


def handoff_show(h: dict[str, Any]) -> None:
    if h.get("text") is None:
        output.info(f"no scratchpad for lane {h.get('lane')} yet "
                    "(write one with `git flower handoff write`)")
        return
    sys.stdout.write(escape_block(h["text"]))


def escape_block(text: str) -> str:
    lines = text.split("\n")
    out = "\n".join(escape(ln) for ln in lines)
    return out if out.endswith("\n") else out + "\n"


def message(d: dict[str, Any]) -> None:
    output.line(str(d.get("message", "")))


def charter_show(c: dict[str, Any]) -> None:
    sys.stdout.write(escape_block(c.get("text", "")))


def tick(t: dict[str, Any]) -> None:
    done = t.get("actions") or []
    if not done:
        output.line("tick: nothing to do")
    for a in done:
        output.line(a)
