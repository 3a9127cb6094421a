"""`git flower trust`: approve the current `.flower.toml`; `require` guards every command from it."""

from __future__ import annotations

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
    import difflib

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


# -- briefs' commands (docs/config.md, "Briefs' commands") ----------------------------------
def require_brief(ctx: Ctx, brief: int, meta: dict[str, Any]) -> None:
    """Refuse (exit 2) to run the commands brief ``brief`` carries (``run`` steps, an ``agent``
    override) unless this machine wrote them or the user approved them here."""
    from flowergit.state import brieftrust

    if brieftrust.is_trusted(ctx.repo.common_dir, meta):
        return
    what = " and ".join(k for k in ("run", "agent") if meta.get(k))
    raise UsageError(
        f"brief {brief} carries commands ({what}) that were not written on this machine and are "
        "not trusted here",
        f"review them (`git flower brief show {brief}`), then run `git flower trust brief {brief}`")


def trust_briefs(ctx: Ctx, ids: list[int]) -> dict[str, Any]:
    """Approve the commands briefs ``ids`` carry now (all untrusted ones when ``ids`` is empty)."""
    from flowergit.state import brieftrust

    store = ctx.briefs()
    if ids:
        metas = [store.get(i).meta() for i in ids]
    else:
        metas = [b for b in store.all() if b.get("status") != "broken"
                 and not brieftrust.is_trusted(ctx.repo.common_dir, b)]
    new = brieftrust.approve(ctx.repo.common_dir, metas)
    return {"briefs": [{"id": m["id"], "run": m.get("run"), "agent": m.get("agent")}
                       for m in metas if brieftrust.fields(m)], "approved": len(new)}


def untrusted_briefs(ctx: Ctx) -> list[int]:
    """Briefs whose commands this machine has not approved (what `tick` and `status` report)."""
    from flowergit.state import brieftrust

    have = brieftrust.approved(ctx.repo.common_dir)
    out = []
    for b in ctx.briefs().all():
        found = brieftrust.fields(b) if b.get("status") != "broken" else None
        if found is not None and brieftrust.digest(found) not in have:
            out.append(int(b["id"]))
    return out
