"""`git flower sync [REMOTE]`: exchange flower state with any git remote.

One round: list the remote's flower refs (names checked against our grammars, counts capped),
fetch what changed into a separate namespace, reconcile, and push everything in one ``--atomic``
push in which every ref carries an explicit lease (``--force-with-lease=<ref>:<oid we read>``,
empty for "must not exist"). A rejected push starts a new round (re-fetch, re-reconcile),
bounded. Reconciling never merges state as text:

* briefs (``briefs.py``, ``replay.py``): local commits the remote lacks are re-applied as
  per-file operations on the remote tip (a brief's front matter is merged key by key; status
  never moves backwards); a brief number taken on the remote by another clone is renumbered,
  loudly, before it is published;
* record refs (``chains.py``: ids, claims, signals, dispatches, daemons, baton): a ref on one
  side only is copied; a chain that extends the other side's is pushed or fast-forwarded; two
  different chains: the remote wins, and the local one is kept under ``refs/flower/lost/…``
  and reported;
* notes (``notes.py``): the union of both sides' JSON lines, in a notes commit whose parents
  are both tips.

Deletions travel only as tombstones (``state/tombstones.py``), never by absence. The remote
state recorded after the last successful sync (``base.py``) serves to notice a remote whose
briefs branch does not descend from the one recorded there (recreated, rewound, force-pushed):
that stops the sync before anything is written (:func:`lost_history`); ``--republish``
restores it from local state.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from flowergit import failpoints
from flowergit.errors import Conflict, FlowerError, UsageError
from flowergit.gitio import changes, objects, refs
from flowergit.gitio import remote as net
from flowergit.gitio.refs import Op
from flowergit.gitio.repo import Repo
from flowergit.ops.context import Ctx
from flowergit.ops.sync.base import load_base, locked, save_base
from flowergit.ops.sync.branches import fetch_attempt_branches
from flowergit.ops.sync.briefs import reconcile_briefs
from flowergit.ops.sync.chains import reconcile_records
from flowergit.ops.sync.claims import baton_fence
from flowergit.ops.sync.ids import reserve_ids
from flowergit.ops.sync.model import MAX_REFS, Report, show, syncable
from flowergit.ops.sync.notes import reconcile_notes
from flowergit.ops.sync.setup import clone_id, resolve, tracking_ref
from flowergit.state.layout import BRIEFS_REF, FLOWER_REFS, NOTES_REF
from flowergit.state.tombstones import TOMBS_REF

ROUNDS = 12
# the pause after a lost round doubles from 50 ms up to this, with jitter: clones that keep
# colliding spread out instead of giving up together
MAX_PAUSE = 2.0
# rejections that are the server's policy (hooks, deny settings), not a lost race
_POLICY = re.compile(r"hook declined|denied|deny|refusing|not allowed|protected", re.IGNORECASE)


def _advertised(repo: Repo, remote: str, report: Report) -> dict[str, str]:
    adv = net.ls_remote(repo, remote, [BRIEFS_REF, FLOWER_REFS + "*", NOTES_REF])
    out: dict[str, str] = {}
    hexlen = repo.hexlen
    for name, oid in adv.items():
        if len(oid) != hexlen or not all(c in "0123456789abcdef" for c in oid):
            continue
        if name in (BRIEFS_REF, NOTES_REF, TOMBS_REF) or syncable(name):
            out[name] = oid
        elif name.startswith(FLOWER_REFS):
            report.warn(f"skipped remote ref {show(name)}: not a name git flower writes")
    if len(out) > MAX_REFS:
        report.warn(f"{remote} publishes {len(out)} flower refs; only the first {MAX_REFS} are used")
        out = dict(sorted(out.items())[:MAX_REFS])
    return out


def _fetch(repo: Repo, remote: str, adv: dict[str, str], report: Report) -> dict[str, str]:
    """Mirror what changed; return the remote state limited to objects of the right type."""
    have = {}
    for ln in refs.read_many(repo, ["refs/remotes/" + remote + "/flower/briefs",
                                    f"refs/flower-remote/{remote}/", f"refs/notes/flower-remote/{remote}"]):
        n, _, o = ln.partition(" ")
        have[n] = o
    specs = [f"+{name}:{tracking_ref(remote, name)}" for name, oid in sorted(adv.items())
             if have.get(tracking_ref(remote, name)) != oid]
    net.fetch(repo, remote, specs)
    types = changes.object_types(repo, sorted(set(adv.values())))
    out = {}
    for name, oid in adv.items():
        if types.get(oid) != "commit":
            report.warn(f"skipped remote ref {show(name)}: it does not point at a commit")
            continue
        out[name] = oid
    return out


def lost_history(repo: Repo, remote: str, base: dict[str, str], adv: dict[str, str]) -> str | None:
    """What the remote lost since the last sync, or None. The remote's briefs branch must
    descend from the one this clone saw last: a remote that has none (recreated empty), an
    older one (restored from a backup) or a different one (force-pushed by someone else) has
    lost history, and reading its missing refs as deletions would destroy local state."""
    from flowergit.gitio.history import is_ancestor

    seen = base.get(BRIEFS_REF)
    if seen is None:
        return None
    now = adv.get(BRIEFS_REF)
    gone = [n for n in base if n.startswith(FLOWER_REFS) and n not in adv]
    if now is None:
        return (f"{remote} has no flower/briefs branch any more, and {len(gone)} of the flower "
                f"refs this clone saw there at the last sync are gone: it was recreated or emptied")
    if now == seen:
        return None
    if is_ancestor(repo, seen, now):  # (the round's fetch brought ``now``)
        return None
    diff = objects.diff_trees(repo, seen, now, "briefs")
    if diff is not None and all(status == "A" for status, _, _ in diff):
        return None  # rewritten, yet it holds every brief file this clone saw: nothing lost
    if is_ancestor(repo, now, seen):
        return (f"{remote}'s flower/briefs branch went back to {now[:12]}, older than the "
                f"{seen[:12]} this clone saw at the last sync: it was rewound (restored from a "
                f"backup?)")
    return (f"{remote}'s flower/briefs branch ({now[:12]}) does not descend from the {seen[:12]} "
            "this clone saw at the last sync: it was force-pushed or replaced")


def sync(ctx: Ctx, remote: str | None = None, *, reserve: int = 0,
         rounds: int = ROUNDS, republish: bool = False) -> dict[str, Any]:
    """Sync with ``remote`` (else the configured one), in at most ``rounds`` rounds; then
    reserve ``reserve`` brief ids for offline use. Returns the report (``Report.to_json``).
    A remote that lost history since the last sync stops it (exit 4) before anything is
    written; ``republish`` then restores the remote from this clone's state: nothing is
    deleted on either side, and what the remote lacks is pushed again."""
    from flowergit.ops.pending import refuse_if_pending

    repo = ctx.repo
    refuse_if_pending(ctx, beside_merge=True)
    name = resolve(ctx, remote)
    if name is None:
        raise UsageError("no remote to sync with",
                         "name one (`git flower sync origin`) or configure it: `git flower remote origin`")
    report = Report(name)
    with locked(repo, name):
        base = {} if republish else load_base(repo, name)
        for attempt in range(rounds):
            report.rounds = attempt + 1
            adv = _advertised(repo, name, report)
            state = _fetch(repo, name, adv, report)  # into the mirror namespace only
            lost = lost_history(repo, name, base, adv) if attempt == 0 else None
            if lost is not None:
                raise Conflict(f"sync stopped: {lost}; nothing was changed here or there",
                               f"`git flower sync {name} --republish` restores it from this "
                               "clone's state (nothing is deleted); other clones then sync as "
                               "usual", data={"remote": name, "lost": lost})
            if republish and attempt == 0:
                report.warn(f"republishing to {name}: nothing is deleted on either side")
            failpoints.hit("sync_after_fetch_before_push")
            try:
                if _round(ctx, name, state, base, report):
                    break
            except refs.CasLost:
                pass  # a local writer moved something under us: re-read and redo
            time.sleep(min(MAX_PAUSE, 0.05 * (2 ** attempt)) * (0.5 + os.urandom(1)[0] / 255))
        else:
            raise Conflict(f"sync with {name} gave up after {rounds} rounds: the remote kept changing",
                           "other clones are pushing right now; run `git flower sync` again",
                           data=report.to_json())
        try:
            fetch_attempt_branches(ctx, name, report)
        except FlowerError as e:
            report.warn(f"the branches of attempts that ran elsewhere were not fetched: "
                        f"{e.message}")
        if reserve > 0:
            with objects.Batch(repo) as batch:
                floor = ctx.briefs().max_id(ctx.briefs().tip(), batch) + 1
            first = reserve_ids(ctx, name, floor, reserve)
            report.reserved = list(range(first, first + reserve))
    return report.to_json()


def _round(ctx: Ctx, remote: str, state: dict[str, str], base: dict[str, str],
           report: Report) -> bool:
    """Reconcile and push once. True when done (pushed, or nothing to push)."""
    repo = ctx.repo
    updates: list[net.Update] = []
    after: list[Op] = []  # local ref writes that wait for the push to succeed
    me = clone_id(repo)
    # a baton holder's sync publishes its decisions: fenced by its baton on the remote, so a
    # holder deposed there publishes nothing ("lost the baton", exit 4) — a person's sync does
    fence = baton_fence(ctx, remote, state)

    upd, ids_after = reconcile_briefs(ctx, remote, state, me, report, updates)
    if upd is not None:
        updates.append(upd)
    after += ids_after
    local_ops, rec_updates = reconcile_records(ctx, remote, state, report)
    updates += rec_updates
    if local_ops:
        refs.transaction(repo, local_ops, f"git flower sync {remote}")
    nupd = reconcile_notes(ctx, remote, state.get(NOTES_REF), report)
    if nupd is not None:
        updates.append(nupd)

    moving = {u.ref for u in updates}
    if updates:
        updates += [u for u in fence if u.ref not in moving]
    final = dict(state)
    if updates:
        res = net.push(repo, remote, updates)
        if not res.ok:
            why = "; ".join(f"{show(s.ref)} {s.summary}" for s in res.rejected()[:3])
            refused = [s for s in res.rejected() if _POLICY.search(s.summary)]
            if refused:  # the server's policy, not a race: retrying cannot help
                raise Conflict(f"{remote} refused the push, so nothing was published: "
                               f"{show(refused[0].ref)} {refused[0].summary}",
                               "the remote's hooks or settings reject this ref; local state is "
                               "kept; ask the remote's admin, then run `git flower sync` again",
                               data=report.to_json())
            report.warn(f"push rejected ({why}); fetched again and retried")
            return False
        for u in updates:
            if u.new is None:
                final.pop(u.ref, None)
            else:
                final[u.ref] = u.new
            if u.new != u.expect:  # (a baton fence that held moved nothing)
                report.pushed.append(u.ref)
        if after:
            refs.transaction(repo, after, f"git flower sync {remote}: ids")
    _mirror(repo, remote, final)
    base.clear()
    base.update(final)
    save_base(repo, remote, final)
    return True


def _mirror(repo: Repo, remote: str, final: dict[str, str]) -> None:
    """Make the local mirror equal the remote state we now know (ours to overwrite)."""
    want = {tracking_ref(remote, n): o for n, o in final.items()}
    have = {}
    for ln in refs.read_many(repo, [f"refs/flower-remote/{remote}/", f"refs/notes/flower-remote/{remote}",
                                    f"refs/remotes/{remote}/flower/briefs"]):
        n, _, o = ln.partition(" ")
        have[n] = o
    ops = [Op("update", r, o, None) for r, o in want.items() if have.get(r) != o]
    ops += [Op("delete", r, None, None) for r in have if r not in want]
    if ops:
        refs.transaction(repo, ops, f"git flower sync {remote}: mirror")
