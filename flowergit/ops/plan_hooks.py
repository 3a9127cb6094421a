"""What happens when a brief becomes planned: an ``auto_dispatch`` brief queues a signal that the
orchestrator's ``tick`` claims and dispatches (within the concurrency cap)."""

from __future__ import annotations

from typing import Any

from flowergit.state import signals
from flowergit.state.daemons import caller


def on_planned(ctx: Any, brief: int, meta: dict[str, Any]) -> None:
    """Emit ``auto_dispatch`` for ``brief`` (called by ``brief plan`` for auto_dispatch briefs)."""
    who = caller()
    data: dict[str, Any] = {}
    if meta.get("agent"):
        data["agent"] = str(meta["agent"])
    rec = signals.emit(ctx.repo, "auto_dispatch", brief=brief, data=data,
                       by=f"daemon {who}" if who else "")
    meta["signal"] = rec["id"]
