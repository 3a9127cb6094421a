"""The baton: which daemon is in charge of a lane, as a commit chain at ``refs/flower/baton/<lane>``.

Each commit holds one record (JSON, format ``v = 1``)::

    {"v": 1, "lane": "main", "holder": "7", "role": "orchestrator", "epoch": 3,
     "state": "held", "successor": null, "lease": 60, "scratchpad": null,
     "event": "take", "from": "5", "at": "…Z", "by": "daemon 7"}

States: ``held`` (the holder is in charge), ``handoff`` (the holder asked for a successor and is
still in charge until the hand-off; ``successor`` names it once it is ready), ``released``
(nobody). Every step is a compare-and-swap on the previous commit; each change of holder adds
one to ``epoch``, the fencing token. There is one canonical ref per lane and no fallback key.

``git log refs/flower/baton/main`` reads as the succession.
"""

from __future__ import annotations

import os

from flowergit.errors import Conflict
from flowergit.gitio import refs
from flowergit.gitio.repo import Repo
from flowergit.state import records
from flowergit.state.ids import name as check_name
from flowergit.state.layout import baton_ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_LANE = "main"
HELD, HANDOFF, RELEASED = "held", "handoff", "released"


def lane_name(text: str | None) -> str:
    return check_name(text, "lane") if text else DEFAULT_LANE


def lanes(repo: Repo) -> list[str]:
    """The lanes that have a baton chain (``refs/flower/baton/<lane>``), sorted."""
    prefix = baton_ref("")
    return sorted(name[len(prefix):] for name in refs.list_refs(repo, prefix))


def read(repo: Repo, lane: str) -> records.Head | None:
    return records.read(repo, baton_ref(lane))


def holder_of(head: records.Head | None) -> str | None:
    """The daemon in charge according to this commit (None when released or absent)."""
    if head is None or head.record.get("state") == RELEASED:
        return None
    h = head.record.get("holder")
    return str(h) if h else None


def describe(rec: dict[str, Any]) -> str:
    h = rec.get("holder")
    who = f"daemon {h}" if h else "nobody"
    if rec.get("role"):
        who += f" ({rec['role']}"
        if rec.get("host"):
            who += f" on {rec['host']} pid {rec.get('pid')}"
        who += ")"
    return who


def lost_to(repo: Repo, lane: str, daemon: str, head: records.Head,
            limit: int = 200) -> dict[str, Any] | None:
    """If ``daemon`` held this lane and gave it up other than by its own release, the record of
    the commit that took it away; else None. Walks the chain newest first."""
    newer: dict[str, Any] | None = None
    for h in records.history(repo, head.ref, limit):
        rec = h.record
        if str(rec.get("holder") or "") == daemon and rec.get("state") != RELEASED:
            if newer is None:
                return None  # still the holder
            if newer.get("event") == "release" and str(newer.get("by_daemon") or "") == daemon:
                return None
            return newer
        newer = rec
    return None


def fence_ops(ctx: Any, lane: str | None = None) -> list[refs.Op]:
    """The ``verify`` lines a state write by the caller must carry (DESIGN.md rule 1).

    When the caller (``--daemon`` / ``FLOWER_DAEMON``) holds the lane's baton: a verify of the
    baton commit it holds, so the write lands only if it still holds it when git commits the
    transaction. When the caller held it and lost it (taken over, or handed off): ``Conflict``
    "lost the baton" (exit 4). Otherwise (no daemon, or one that never held it): nothing.
    """
    from flowergit.state.daemons import caller

    explicit = getattr(ctx, "daemon", None)
    daemon = caller(explicit if isinstance(explicit, str) else None)
    if daemon is None:
        return []
    lane = lane_name(lane or getattr(ctx, "lane", None) or os.environ.get("FLOWER_LANE") or None)
    repo: Repo = ctx.repo
    head = read(repo, lane)
    if head is None:
        return []
    if holder_of(head) == daemon:
        return [refs.verify(head.ref, head.commit)]
    took = lost_to(repo, lane, daemon, head)
    if took is None:
        return []
    raise Conflict(
        f"lost the baton: daemon {daemon} no longer holds lane {lane} "
        f"({describe(head.record)} holds it at epoch {head.record.get('epoch')})",
        "this daemon was replaced; stop, or take the baton again with `git flower baton take` "
        "once the holder is gone",
        data={"lane": lane, "holder": head.record.get("holder"),
              "epoch": head.record.get("epoch")})
