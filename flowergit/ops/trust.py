"""`git flower trust`: approve the current `.flower.toml`; `require` guards every command from it."""

from __future__ import annotations

import difflib
from typing import Any

from flowergit.errors import UsageError
from flowergit.ops.context import Ctx
from flowergit.state import trust as store


def require(ctx: Ctx, what: str) -> None:
    """Refuse (exit 2) to run ``what`` from a config this user has not trusted on this machine."""
    cfg = ctx.config
    if cfg.path is None or store.is_trusted(cfg.path, cfg.raw):
        return
    changed = store.load(cfg.path) is not None
    raise UsageError(
        f"untrusted config: the {what} comes from {cfg.path}, which "
        + ("changed since you trusted it" if changed else "you have not trusted on this machine"),
        "review it (`git flower trust --show` shows what changed), then run `git flower trust`",
    )


def diff(ctx: Ctx) -> str:
    cfg = ctx.config
    if cfg.path is None:
        return ""
    rec = store.load(cfg.path)
    old = (rec or {}).get("content", "")
    new = cfg.raw.decode("utf-8", "replace")
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        "trusted", "current"))


def trust(ctx: Ctx, *, record: bool = True) -> dict[str, Any]:
    cfg = ctx.config  # validated: a broken file is refused before it can be trusted
    if cfg.path is None:
        raise UsageError("there is no .flower.toml to trust", "run `git flower init` first")
    already = store.is_trusted(cfg.path, cfg.raw)
    change = "" if already else diff(ctx)
    if record and not already:
        store.record(cfg.path, cfg.raw)
    return {"path": cfg.path, "sha256": store.digest(cfg.raw),
            "trusted": already or record, "changed": not already, "diff": change}
