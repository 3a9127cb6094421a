"""`git flower init --remote R` / `git flower remote R`: make flower state travel through R;
and which remote flower uses, where its state is mirrored, and this clone's id.

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


from flowergit.gitio import refs
from flowergit.gitio.repo import Repo
from flowergit.ops.context import Ctx
from flowergit.state.layout import BRIEFS_REF, FLOWER_REFS, NOTES_REF

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PUSH_SPECS = ("HEAD", f"{BRIEFS_REF}:{BRIEFS_REF}", "refs/flower/ids/*:refs/flower/ids/*",
              "refs/flower/signals/*:refs/flower/signals/*",
              "refs/flower/claims/*:refs/flower/claims/*",
              "refs/flower/dispatch/*:refs/flower/dispatch/*",
              "refs/flower/baton/*:refs/flower/baton/*", f"{NOTES_REF}:{NOTES_REF}")


def tracking_ref(remote: str, ref: str) -> str:
    """Where a remote's ref is mirrored locally (never into refs/flower/* itself)."""
    if ref == BRIEFS_REF:
        return f"refs/remotes/{remote}/flower/briefs"
    if ref.startswith(FLOWER_REFS):
        return f"refs/flower-remote/{remote}/{ref[len(FLOWER_REFS):]}"
    if ref == NOTES_REF:
        return f"refs/notes/flower-remote/{remote}"
    raise ValueError(ref)


def configured(ctx: Ctx) -> str | None:
    """The remote flower uses when none is named: `git config flower.remote`, else
    `[flower] remote` in .flower.toml."""
    vals = ctx.repo.config_get_all(r"^flower\.remote$")
    name = vals[-1][1].strip() if vals else ""
    if not name:
        name = str(ctx.config.get("flower", "remote") or "").strip()
    return name or None


def resolve(ctx: Ctx, remote: str | None) -> str | None:
    """The remote to claim against: the one named, else the configured one, else None."""
    from flowergit.gitio import remote as net

    name = remote if remote else configured(ctx)
    if not name:
        return None
    return net.check_name(ctx.repo, name)


def clone_id(repo: Repo) -> str:
    """A random id for this clone (`git config flower.cloneId`), made on first use."""
    from flowergit.gitio import remote as net

    cid = net.get_clone_id(repo)
    if cid:
        return cid
    import uuid

    cid = uuid.uuid4().hex[:16]
    net.set_clone_id(repo, cid)
    return net.get_clone_id(repo) or cid


def fetch_specs(remote: str) -> list[str]:
    # patterns, not exact names: a plain `git fetch` must not fail while the remote has no
    # briefs branch or no notes yet (an exact refspec that matches nothing is fatal)
    return ["+refs/heads/flower/*:refs/remotes/" + remote + "/flower/*",
            f"+refs/flower/*:refs/flower-remote/{remote}/*",
            f"+{NOTES_REF}*:refs/notes/flower-remote/{remote}*"]


def _add(ctx: Ctx, remote: str, direction: str, value: str, done: list[str]) -> None:
    from flowergit.gitio import remote as net

    if value not in net.refspecs(ctx.repo, remote, direction):
        net.add_refspec(ctx.repo, remote, direction, value)
        done.append(f"set remote.{remote}.{direction} += {value}")


def covered(existing: list[str], spec: str, remote: str) -> bool:
    """Is the fetch refspec ``spec`` among ``existing`` (or implied by the default one)?"""
    return spec in existing or (spec.startswith("+refs/heads/flower/*:")
                                and f"+refs/heads/*:refs/remotes/{remote}/*" in existing)


def configure(ctx: Ctx, remote: str, *, push_refspecs: bool = False) -> list[str]:
    """Configure ``remote`` for flower state; returns what was changed (idempotent)."""
    from flowergit.gitio import remote as net

    repo = ctx.repo
    net.check_name(repo, remote)
    done: list[str] = []
    existing = net.refspecs(repo, remote, "fetch")
    for spec in fetch_specs(remote):
        if not covered(existing, spec, remote):
            _add(ctx, remote, "fetch", spec, done)
    if net.get_default_remote(repo) != remote:
        net.set_default_remote(repo, remote)
        done.append(f"set flower.remote={remote}")
    if push_refspecs:
        for spec in PUSH_SPECS:
            _add(ctx, remote, "push", spec, done)
    clone_id(repo)
    return done


def fetch_briefs(ctx: Ctx, remote: str) -> str | None:
    """The remote's briefs branch, fetched into its remote-tracking ref; None when the remote
    has none or cannot be reached (then `init` starts a branch of its own, and sync re-applies
    it onto the remote's later)."""
    from flowergit.gitio import remote as net

    net.check_name(ctx.repo, remote)
    try:
        oid = net.ls_remote(ctx.repo, remote, [BRIEFS_REF]).get(BRIEFS_REF)
        if oid is None:
            return None
        net.fetch(ctx.repo, remote, [f"+{BRIEFS_REF}:{tracking_ref(remote, BRIEFS_REF)}"])
    except net.RemoteUnreachable as e:
        ctx.warn(f"{e.message}; starting a local briefs branch (sync joins them later)")
        return None
    got = refs.read(ctx.repo, tracking_ref(remote, BRIEFS_REF))
    return got if got == oid else None


def remote(ctx: Ctx, name: str, *, push_refspecs: bool = False) -> dict[str, Any]:
    """`git flower remote R`: configure and report."""
    actions = configure(ctx, name, push_refspecs=push_refspecs)
    return {"remote": name, "fetch": fetch_specs(name), "push_refspecs": push_refspecs,
            "actions": actions}
