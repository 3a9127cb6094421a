"""The branches of attempts that ran on other machines: fetched so they can be merged here.

A worker clone (``run --worker``) pushes an ended attempt's branch before its record. When a
sync brings a record of an attempt that finished ``done`` whose branch this clone does not
have, the branch is fetched under its own name — create-only, never over a local branch — so
``git flower merge N`` works wherever the baton is held.
"""

from __future__ import annotations

from flowergit.gitio import refs
from flowergit.gitio import remote as net
from flowergit.ops.context import Ctx
from flowergit.ops.sync.model import Report


def fetch_attempt_branches(ctx: Ctx, remote: str, report: Report) -> list[str]:
    from flowergit.ops.dispatch.paths import our_branch
    from flowergit.state.dispatches import DispatchStore

    repo = ctx.repo
    missing: list[str] = []
    have = refs.list_refs(repo, "refs/heads/flower/")  # one git call for every branch
    for h in DispatchStore(repo).all():
        rec = h.record
        if rec.get("state") != "exited" or rec.get("outcome") not in (None, "done"):
            continue
        try:
            brief = int(rec.get("brief", 0))
        except (TypeError, ValueError):
            continue
        branch = our_branch(brief, rec.get("branch"))
        if branch is None:
            continue
        ref = f"refs/heads/{branch}"
        if ref not in missing and ref not in have:
            missing.append(ref)
    if not missing:
        return []
    there = net.ls_remote(repo, remote, missing)
    got = [ref for ref in missing if ref in there]
    net.fetch(repo, remote, [f"{ref}:{ref}" for ref in got])
    report.fetched += got
    return got
