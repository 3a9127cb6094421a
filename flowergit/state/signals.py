"""Signals: queued events, each a record chain at ``refs/flower/signals/<id>``.

A signal id sorts by creation time and is unique: ``<yyyymmddThhmmss>-<8 hex>``.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
from typing import Any

from flowergit.gitio.repo import Repo
from flowergit.state import records
from flowergit.state.ids import name as check_name
from flowergit.state.layout import signal_ref


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{os.urandom(4).hex()}"


def emit(repo: Repo, kind: str, *, brief: int | None = None, data: dict[str, Any] | None = None,
         by: str = "") -> dict[str, Any]:
    """Queue a signal of ``kind``; returns its record (with ``id``)."""
    check_name(kind, "signal kind")
    sid = new_id()
    rec: dict[str, Any] = {"v": 1, "id": sid, "kind": kind, "brief": brief, "data": data or {},
                           "at": now_iso(), "by": by or f"{socket.gethostname()}:{os.getpid()}",
                           "state": "pending"}
    records.create(repo, signal_ref(sid), rec, f"signal {sid}: {kind}"
                   + (f" for brief {brief}" if brief else ""))
    return rec
