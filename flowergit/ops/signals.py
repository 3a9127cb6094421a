"""Signal operations: emit, list, claim (exactly once), complete.

``claim`` is a hot command: it is served from the fast path with a light context that discovers
the repository and reads the config, and imports nothing else (no briefs store, no typer/rich).
"""

from __future__ import annotations

from typing import Any

from flowergit.errors import UsageError
from flowergit.gitio.repo import Repo, discover
from flowergit.state import config as cfgmod
from flowergit.state import signals as store
from flowergit.state.daemons import caller


class Light:
    """What a hot command needs of :class:`flowergit.ops.context.Ctx`: the repo and config."""

    daemon: str | None = None

    def __init__(self, cwd: str | None = None) -> None:
        self.cwd = cwd
        self._repo: Repo | None = None
        self._config: cfgmod.Config | None = None

    @property
    def repo(self) -> Repo:
        if self._repo is None:
            self._repo = discover(self.cwd)
        return self._repo

    @property
    def config(self) -> cfgmod.Config:
        if self._config is None:
            self._config = cfgmod.load(self.repo.main_worktree, self.repo.state_path("cache"))
        return self._config


def _who(daemon: str | None) -> tuple[str, str | None]:
    d = caller(daemon)
    return (f"daemon {d}" if d else store.default_by()), d


def _expiry(ctx: Any) -> float:
    return float(ctx.config.get("signals", "expiry"))


def parse_data(pairs: list[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for p in pairs:
        key, sep, val = p.partition("=")
        if not sep or not key:
            raise UsageError(f"expected KEY=VALUE, got {p!r}", "e.g. --data lane=main")
        data[key] = val
    return data


def emit(ctx: Any, kind: str, *, brief: int | None = None, data: list[str] | None = None,
         daemon: str | None = None) -> dict[str, Any]:
    by, _ = _who(daemon)
    payload = parse_data(data or [])
    if brief is not None:
        ctx.briefs().get(brief)  # exit 3 if there is no such brief
    _ = ctx.config
    return store.emit(ctx.repo, kind, brief=brief, data=payload, by=by)


def list_(ctx: Any, *, kind: str | None = None, unclaimed: bool = False) -> list[dict[str, Any]]:
    items = store.list_all(ctx.repo, expiry=_expiry(ctx))
    if kind is not None:
        items = [s for s in items if s.get("kind") == kind]
    if unclaimed:
        items = [s for s in items if s.get("state") == "pending"]
    return items


def claim(ctx: Any, sid: str | None = None, *, next_: bool = False, kind: str | None = None,
          daemon: str | None = None) -> dict[str, Any]:
    if (sid is None) == (not next_):
        raise UsageError("give a signal id or --next", "e.g. `git flower signal claim --next --kind auto_dispatch`")
    if kind is not None and not next_:
        raise UsageError("--kind goes with --next")
    by, d = _who(daemon)
    if next_:
        return store.claim_next(ctx.repo, kind=kind, by=by, daemon=d, expiry=_expiry(ctx))
    assert sid is not None
    return store.claim(ctx.repo, sid, by=by, daemon=d, expiry=_expiry(ctx))


def complete(ctx: Any, sid: str, *, moot: bool = False, note: str = "",
             daemon: str | None = None) -> dict[str, Any]:
    by, d = _who(daemon)
    return store.complete(ctx.repo, sid, moot=moot, by=by, daemon=d, note=note)
