"""Daemon operations: check in, beat, list, whoami, retire."""

from __future__ import annotations

import shlex
from typing import Any

from flowergit.errors import UsageError
from flowergit.ops.context import Ctx
from flowergit.state import daemons as store
from flowergit.state.daemons import DaemonStore, caller


def lease(ctx: Ctx) -> float:
    return float(ctx.config.get("baton", "lease"))


def _view(ctx: Ctx, rec: dict[str, Any], judge: bool = True) -> dict[str, Any]:
    out = dict(rec)
    out.pop("anchor", None)
    if judge:
        out["liveness"] = store.liveness(ctx.repo, str(rec.get("id")), rec, lease(ctx))
    return out


def checkin(ctx: Ctx, *, role: str, pid: int | None = None, successor_of: str | None = None,
            shell: bool = False) -> dict[str, Any]:
    ds = DaemonStore(ctx.repo)
    if successor_of is not None:
        pred = ds.require(store.daemon_id(successor_of))
        if pred.record.get("state") == "retired":
            raise UsageError(f"daemon {successor_of} is already retired",
                             "check in without --successor-of, or name the daemon in charge")
    head = ds.checkin(role=role, pid=pid, successor_of=successor_of,
                      extra={"lease": lease(ctx)})
    out = _view(ctx, head.record, judge=False)
    if shell:
        out["shell"] = f"export FLOWER_DAEMON={shlex.quote(str(head.record['id']))}"
    return out


def beat(ctx: Ctx, did: str | None = None) -> dict[str, Any]:
    d = _require_caller(did)
    head = DaemonStore(ctx.repo).beat(d)
    return _view(ctx, head.record, judge=False)


def list_(ctx: Ctx, *, all_: bool = False) -> list[dict[str, Any]]:
    heads = DaemonStore(ctx.repo).all()
    out = [_view(ctx, h.record) for h in heads]
    if not all_:
        out = [d for d in out if d.get("state") != "retired"]
    return out


def whoami(ctx: Ctx, daemon: str | None = None) -> dict[str, Any]:
    d = _require_caller(daemon)
    head = DaemonStore(ctx.repo).require(d)
    return _view(ctx, head.record)


def retire(ctx: Ctx, did: str, *, daemon: str | None = None, why: str = "") -> dict[str, Any]:
    target = store.daemon_id(did)
    me = caller(daemon)
    ds = DaemonStore(ctx.repo)
    ds.require(target)
    head = ds.retire(target, by=f"daemon {me}" if me else "", why=why)
    return _view(ctx, head.record)


def _require_caller(did: str | None) -> str:
    d = caller(did)
    if d is None:
        raise UsageError("which daemon? give its id, --daemon ID, or set FLOWER_DAEMON",
                         "`eval \"$(git flower daemon checkin --role ROLE --shell)\"` sets it")
    return d
