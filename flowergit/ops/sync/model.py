"""What travels and what a sync reports: the grammar of the flower refs that are exchanged,
the caps on what a remote may send, where a losing local chain is kept, and :class:`Report`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flowergit.errors import Conflict
from flowergit.gitio.repo import Repo
from flowergit.state import records
from flowergit.state.layout import FLOWER_REFS

_TOKEN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}"
_BRIEF = r"[1-9][0-9]{0,8}"
# the kinds of refs/flower/* that travel, each with the grammar of the rest of its name
KINDS: dict[str, re.Pattern[str]] = {
    "ids": re.compile(_BRIEF, re.ASCII),
    "dispatch": re.compile(rf"{_BRIEF}/[1-9][0-9]{{0,3}}", re.ASCII),
    "signals": re.compile(_TOKEN, re.ASCII),
    "claims": re.compile(_TOKEN, re.ASCII),
    "daemons": re.compile(_TOKEN, re.ASCII),
    "baton": re.compile(r"[a-z][a-z0-9_-]{0,39}", re.ASCII),
}
MAX_REFS = 200_000
MAX_NOTE = 1024 * 1024
MAX_NOTES = 1_000_000
# a brief's file in the briefs branch; group 1 is its id
BRIEF_PATH = re.compile(r"briefs/[0-9]{4}/([1-9][0-9]{0,8})\.md", re.ASCII)


def syncable(name: str) -> bool:
    """A ref under refs/flower/ whose name passes the grammar of its kind."""
    if not name.startswith(FLOWER_REFS):
        return False
    kind, _, rest = name[len(FLOWER_REFS):].partition("/")
    pat = KINDS.get(kind)
    return (pat is not None and bool(pat.fullmatch(rest)) and ".." not in rest
            and not rest.endswith(".lock"))


def show(name: str) -> str:
    """A ref name from a remote, safe to print (escapes, never raw control characters)."""
    return name.encode("unicode_escape", "backslashreplace").decode("ascii")


def lost_ref(name: str, oid: str) -> str:
    """Where a local chain the remote did not keep is saved (``refs/flower/lost/…``)."""
    return f"refs/flower/lost/{name[len(FLOWER_REFS):]}-{oid[:12]}"


def read_head(repo: Repo, ref: str) -> records.Head | None:
    """The record at ``ref``, or None when it is no readable record (too large, not JSON):
    such a ref is only reported, never trusted."""
    try:
        return records.read(repo, ref)
    except Conflict:
        return None


@dataclass
class Report:
    remote: str
    rounds: int = 0
    briefs: dict[str, Any] = field(default_factory=lambda: {"action": "none", "replayed": 0})
    renumbered: list[dict[str, Any]] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    deleted_remote: list[str] = field(default_factory=list)
    deleted_local: list[str] = field(default_factory=list)
    lost: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=lambda: {"action": "none"})
    warnings: list[str] = field(default_factory=list)
    reserved: list[int] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    def warn(self, msg: str) -> None:
        if msg not in self.warnings:
            self.warnings.append(msg)

    def to_json(self) -> dict[str, Any]:
        return {"remote": self.remote, "rounds": self.rounds, "briefs": self.briefs,
                "renumbered": self.renumbered, "fetched": sorted(set(self.fetched)),
                "pushed": sorted(set(self.pushed)), "deleted_remote": self.deleted_remote,
                "deleted_local": self.deleted_local, "lost": self.lost, "notes": self.notes,
                "warnings": self.warnings, "reserved": self.reserved,
                "conflicts": self.conflicts}
