"""`git flower init --remote R` / `git flower remote R`: make flower state travel through R.

Fetch refspecs mirror the remote's flower state into separate namespaces, never over local
state (a forced fetch into ``refs/flower/*`` would overwrite unpublished claims):

    +refs/heads/flower/*:refs/remotes/R/flower/*     (unless +refs/heads/*:refs/remotes/R/* is there)
    +refs/flower/*:refs/flower-remote/R/*
    +refs/notes/flower*:refs/notes/flower-remote/R*  (a pattern, so a missing ref is no error)

Publishing is `git flower sync`'s job (it reconciles and pushes with explicit leases). Push
refspecs in ``remote.R.push`` would change what a plain `git push` does (it would stop pushing
the current branch), so they are written only with ``--push-refspecs``, and then after ``HEAD``
and without ``+``: git's own fast-forward rule then refuses to overwrite remote state.
"""

from __future__ import annotations

from typing import Any

from flowergit.gitio import remote as net
from flowergit.ops.context import Ctx
from flowergit.state.layout import BRIEFS_REF, NOTES_REF

PUSH_SPECS = ("HEAD", f"{BRIEFS_REF}:{BRIEFS_REF}", "refs/flower/ids/*:refs/flower/ids/*",
              "refs/flower/signals/*:refs/flower/signals/*",
              "refs/flower/claims/*:refs/flower/claims/*",
              "refs/flower/dispatch/*:refs/flower/dispatch/*",
              "refs/flower/baton/*:refs/flower/baton/*", f"{NOTES_REF}:{NOTES_REF}")


def fetch_specs(remote: str) -> list[str]:
    # patterns, not exact names: a plain `git fetch` must not fail while the remote has no
    # briefs branch or no notes yet (an exact refspec that matches nothing is fatal)
    return ["+refs/heads/flower/*:refs/remotes/" + remote + "/flower/*",
            f"+refs/flower/*:refs/flower-remote/{remote}/*",
            f"+{NOTES_REF}*:refs/notes/flower-remote/{remote}*"]


def _add(ctx: Ctx, key: str, value: str, done: list[str]) -> None:
    res = ctx.repo.git(["config", "--get-all", key], check=False)
    if value not in res.out.split("\n"):
        ctx.repo.git(["config", "--add", key, value])
        done.append(f"set {key} += {value}")


def _covered(existing: list[str], spec: str, remote: str) -> bool:
    return spec in existing or (spec.startswith("+refs/heads/flower/*:")
                                and f"+refs/heads/*:refs/remotes/{remote}/*" in existing)


def configure(ctx: Ctx, remote: str, *, push_refspecs: bool = False) -> list[str]:
    """Configure ``remote`` for flower state; returns what was changed (idempotent)."""
    repo = ctx.repo
    net.check_name(repo, remote)
    done: list[str] = []
    existing = repo.git(["config", "--get-all", f"remote.{remote}.fetch"], check=False).out.split("\n")
    for spec in fetch_specs(remote):
        if not _covered(existing, spec, remote):
            _add(ctx, f"remote.{remote}.fetch", spec, done)
    cur = repo.git(["config", "--get", "flower.remote"], check=False).out.strip()
    if cur != remote:
        repo.git(["config", "flower.remote", remote])
        done.append(f"set flower.remote={remote}")
    if push_refspecs:
        for spec in PUSH_SPECS:
            _add(ctx, f"remote.{remote}.push", spec, done)
    from flowergit.ops.remote import clone_id

    clone_id(repo)
    return done


def fetch_briefs(ctx: Ctx, remote: str) -> str | None:
    """The remote's briefs branch, fetched into its remote-tracking ref; None when the remote
    has none or cannot be reached (then `init` starts a branch of its own, and sync re-applies
    it onto the remote's later)."""
    from flowergit.ops.remote import tracking_ref

    net.check_name(ctx.repo, remote)
    try:
        oid = net.ls_remote(ctx.repo, remote, [BRIEFS_REF]).get(BRIEFS_REF)
        if oid is None:
            return None
        net.fetch(ctx.repo, remote, [f"+{BRIEFS_REF}:{tracking_ref(remote, BRIEFS_REF)}"])
    except net.RemoteUnreachable as e:
        ctx.warn(f"{e.message}; starting a local briefs branch (sync joins them later)")
        return None
    from flowergit.gitio import refs

    got = refs.read(ctx.repo, tracking_ref(remote, BRIEFS_REF))
    return got if got == oid else None


def remote(ctx: Ctx, name: str, *, push_refspecs: bool = False) -> dict[str, Any]:
    """`git flower remote R`: configure and report."""
    actions = configure(ctx, name, push_refspecs=push_refspecs)
    return {"remote": name, "fetch": fetch_specs(name), "push_refspecs": push_refspecs,
            "actions": actions}
