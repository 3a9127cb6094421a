"""Signal operations: emit, list, claim (exactly once), complete.

``claim`` is a hot command: it is served from the fast path with a light context that discovers
the repository and reads the config, and imports nothing else (no briefs store, no typer/rich).
"""

from __future__ import annotations

from flowergit.errors import Conflict, UsageError
from flowergit.state import signals as store
from flowergit.state.daemons import caller

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


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


def claim_remote(ctx: Any, remote: str | None, sid: str | None = None, *, next_: bool = False,
                 kind: str | None = None, daemon: str | None = None) -> dict[str, Any]:
    """Claim a signal against ``remote`` (or the configured one) directly: the remote is the
    arbiter, so two clones can never both win. The claim is a create-only push of a commit that
    is unique by content, read back to confirm; the winner's ref is then set here too."""
    from flowergit.errors import NotFound
    from flowergit.gitio import remote as net
    from flowergit.ops import sync as rops
    from flowergit.state.ids import is_token
    from flowergit.state.layout import claim_ref, signal_ref

    if (sid is None) == (not next_):
        raise UsageError("give a signal id or --next", "e.g. `git flower signal claim --next --remote origin`")
    if kind is not None and not next_:
        raise UsageError("--kind goes with --next")
    if kind is not None:
        from flowergit.state.ids import name as check_name

        check_name(kind, "signal kind")
    if sid is not None:
        sid = store.signal_id(sid)
    name = rops.resolve(ctx, remote)
    if name is None:
        raise UsageError("no remote to claim against",
                         "give --remote R, or configure one with `git flower remote R`")
    by, d = _who(daemon)
    expiry = _expiry(ctx)
    seen = net.ls_remote(ctx.repo, name, [store.SIGNALS + "*", store.CLAIMS + "*"])
    remote_sigs: set[str] = set()
    remote_claimed: set[str] = set()
    for ref in seen:
        leaf = ref.rsplit("/", 1)[-1]
        if not is_token(leaf):
            continue  # a name that fails our grammar is never used (FAULTS 43)
        if ref.startswith(store.SIGNALS):
            remote_sigs.add(leaf)
        elif ref.startswith(store.CLAIMS):
            remote_claimed.add(leaf)
    local_sigs, _ = store.scan(ctx.repo)
    known = remote_sigs | {s for s, _, _ in local_sigs}
    if sid is not None and sid not in known:
        # never claim what nobody emitted: a claim of it would hold a name forever
        raise NotFound(f"no signal {sid} on {name} or here",
                       "`git flower signal list` shows the signals there are; "
                       "`git flower sync` brings the remote's here")
    candidates = [sid] if sid is not None else sorted(known)
    low = store.cutoff(expiry)
    for cand in candidates:
        parsed = store.parse_id(cand)
        k = parsed[1] if parsed else ""
        if sid is None and (kind is not None and k != kind or (parsed and parsed[0] < low)):
            continue
        if cand in remote_claimed:
            if sid is not None:
                _, holder = rops.remote_value(ctx, name, claim_ref(cand))
                raise Conflict(f"signal {cand} is already claimed on {name} by {rops.describe(holder)}",
                               "`git flower signal claim --next --remote` takes the oldest unclaimed one",
                               data={"signal": cand, "by": rops.describe(holder)})
            continue
        commit = store.new_claim(ctx.repo, cand, k, by=by, daemon=d)
        try:
            rops.create(ctx, name, claim_ref(cand), commit, what=f"claim of signal {cand}")
        except Conflict:
            if sid is not None:
                raise
            continue
        if cand in remote_sigs and store.read_pair(ctx.repo, cand)[0] is None:
            # bring the signal itself here (create-only: an absent local ref, never forced)
            net.fetch(ctx.repo, name, [f"{signal_ref(cand)}:{signal_ref(cand)}"])
        sig, claim_head = store.read_pair(ctx.repo, cand)
        return store.view(sig, claim_head, cand)
    if sid is not None:
        raise NotFound(f"no signal {sid} on {name}")
    what = f"{kind} signals" if kind else "signals"
    raise NotFound(f"no unclaimed {what} left to claim on {name}",
                   "`git flower sync` brings the remote's signals here")
