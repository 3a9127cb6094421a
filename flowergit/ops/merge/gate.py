"""The gate itself: preflight, then a backup of the local-only files, the anchor and the
journal; the suite on exactly the merged tree (or a passing attestation of it); then, with
Ctrl-C deferred, the landing: overlapping local edits stashed by id, the checkout brought along
by a two-way update, the target moved by CAS (fenced by the baton when one is held). Every way
out before the target moves puts things back (:func:`_abandon`).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import flowergit.ops.merge.suite as suite_ops
from flowergit import failpoints
from flowergit.errors import Conflict, Interrupted, TestsFailed
from flowergit.gitio import index, refs
from flowergit.gitio import stash as gstash
from flowergit.gitio.refs import CasLost
from flowergit.gitio.runner import GitError
from flowergit.gitio.status import checkout_status
from flowergit.ops.context import Ctx
from flowergit.ops.merge.anchor import drop_anchor, journal_entry, stash_message, write_anchor
from flowergit.ops.merge.checkout import collisions_of
from flowergit.ops.merge.landed import finish_landed, rollback_stash
from flowergit.ops.merge.local_only import backup_local_only, restore_local_only
from flowergit.ops.merge.plan import AlreadyMerged, MergeIo, Plan
from flowergit.ops.merge.preflight import preflight
from flowergit.ops.merge.provenance import finish_records, provenance, record_attestation
from flowergit.state import journal, notes

if TYPE_CHECKING:
    from flowergit.state.schema import Attestation, JournalEntry


# -- Ctrl-C deferral -----------------------------------------------------------------------------
@contextmanager
def deferred_sigint() -> Iterator[list[bool]]:
    """Block SIGINT (git children inherit the mask) until the block ends; then, if one came,
    raise :class:`Interrupted` (exit 130). The yielded flag list lets callers finish first."""
    got: list[bool] = []
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    except (ValueError, OSError):  # not the main thread: nothing to defer
        yield got
        return
    try:
        yield got
    finally:
        if signal.SIGINT in signal.sigpending():
            got.append(True)
            while signal.sigtimedwait({signal.SIGINT}, 0) is not None:
                pass
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if got:
        raise Interrupted("interrupted; the merge was finished first so nothing is half done",
                          "check the result with `git flower why HEAD` and `git status`")


def merge(ctx: Ctx, brief: int, *, into: str | None = None, no_test: bool = False,
          dry_run: bool = False, force: bool = False,
          progress: Callable[[str], None] | None = None,
          on_suite: suite_ops.Progress | None = None) -> dict[str, Any]:
    """``on_suite(seconds, estimate, last output line)``: called while the suite runs."""
    from flowergit.ops.notify import notify

    io = MergeIo(ctx.repo)
    try:
        res = _merge(ctx, brief, io, into=into, no_test=no_test, dry_run=dry_run, force=force,
                     progress=progress, on_suite=on_suite)
    except TestsFailed as e:
        if isinstance(e.data, dict):
            notify(ctx.repo, "red", {**e.data, "brief": brief},
                   suite_ops.failing_text(e.data.get("suite") or {}))
        raise
    finally:
        io.close()
        suite_ops.finish_tidying()  # the scratch checkout's tidy ran while this merge landed
    if res.get("status") == "merged":
        notify(ctx.repo, "merged", {**res, "brief": brief})
    return res


def _merge(ctx: Ctx, brief: int, io: MergeIo, *, into: str | None, no_test: bool, dry_run: bool,
           force: bool, progress: Callable[[str], None] | None,
           on_suite: suite_ops.Progress | None = None) -> dict[str, Any]:
    say = progress or (lambda s: None)
    try:
        plan = preflight(ctx, brief, into=into, no_test=no_test, force=force, io=io)
    except AlreadyMerged as e:
        return {"brief": brief, "status": "already-merged", "dispatch": e.rec.get("id"),
                "merge": e.rec.get("merge_commit")}
    if plan.drift:
        say(f"note: {plan.target} moved {plan.drift} commit(s) since dispatch "
            f"{plan.brief}.{plan.attempt} started; merging on top of it")
    if dry_run:
        from flowergit.gitio import changes

        stat = [{"path": p, "added": a, "deleted": d}
                for a, d, p in changes.numstat(ctx.repo, plan.pre, plan.tree)]
        return {**plan.summary(), "status": "dry-run", "diffstat": stat}
    if plan.already:
        finish_records(ctx, plan, plan.pre, released=True)
        return {**plan.summary(), "status": "up-to-date"}
    op = f"{brief}-{os.urandom(6).hex()}"
    return _run(ctx, plan, op, no_test, say, on_suite)


def _run(ctx: Ctx, plan: Plan, op: str, no_test: bool, say: Callable[[str], None],
         on_suite: suite_ops.Progress | None = None) -> dict[str, Any]:
    repo = ctx.repo
    local_only = list(ctx.config.get("merge", "local_only"))
    try:
        manifest = backup_local_only(repo, op, plan.local_root, local_only) if plan.local_root \
            else []
        anchor = write_anchor(ctx, plan, op, None, None)
    except BaseException:  # a full disk, say: nothing journalled yet, no half backup left
        journal.remove(repo, op)
        raise
    suite: Attestation | None = None
    if no_test:
        # nothing to wait for: the journal goes straight to "landing" (one durable write, not
        # two); while the target has not moved, recover rolls it back as it would "built"
        try:
            suite = _attested(ctx, plan, list(ctx.config.get("suite", "command")))
        except BaseException:
            _abandon(ctx, plan, op, manifest)
            raise
        with deferred_sigint():
            return _land(ctx, plan, op, {"anchor": anchor}, manifest, suite,
                         points=("after_snapshot", "after_merge_commit"))
    # the merge commit was built with the snapshot and written with the anchor: one journal
    # entry covers both points (recover rolls back from either)
    try:
        j = journal_entry(ctx, plan, op, "built", local_only=manifest, anchor=anchor)
    except BaseException:
        _abandon(ctx, plan, op, manifest)
        raise
    failpoints.hit("after_snapshot")
    failpoints.hit("after_merge_commit")
    try:
        say(f"testing the merge of brief {plan.brief} into {plan.target} "
            f"(tree {plan.tree[:12]}) …")

        def started(pid: int, scratch: str) -> None:
            nonlocal j
            # the identity from /proc (procs.identity; psutil's import would widen the window in
            # which a killed merge leaves a suite its journal does not name)
            from flowergit.procs import identity

            j = journal_entry(ctx, plan, op, "testing", local_only=manifest, anchor=anchor,
                              suite_pid=identity.of(pid), scratch=scratch)

        cached = _attested(ctx, plan, list(plan.suite_argv or []))
        # the attestation is written with the provenance note (one notes commit) when the
        # merge lands, and on its own on every other way out
        suite = cached or suite_ops.run_on(ctx, plan.merge, plan.tree, label=op,
                                           on_start=started, record=False, reuse=False,
                                           argv=plan.suite_argv, on_progress=on_suite,
                                           tidy=True)
    except BaseException:
        _abandon(ctx, plan, op, manifest)
        raise
    attest = suite if suite is not None and not suite.get("cached") else None
    if suite is not None and not suite["ok"]:
        _abandon(ctx, plan, op, manifest, attest)
        raise TestsFailed(
            suite_ops.failure_message(suite, f"brief {plan.brief} refused: the suite is red on "
                                             f"the merge into {plan.target}"),
            f"{plan.target} was not moved and the dispatch is kept; fix the branch (or "
            f"`git flower dispatch {plan.brief} --rework`) and merge again",
            data={**plan.summary(), "status": "red", "suite": suite})
    with deferred_sigint():
        result = _land(ctx, plan, op, j, manifest, suite, attest)
    return result


def _attested(ctx: Ctx, plan: Plan, argv: list[str]) -> Attestation | None:
    """A passing attestation of the merged tree by ``argv``, read through the merge's batch
    from the notes tip the preflight saw (marked ``cached``), or None."""
    io = plan.io
    if io is None:
        recs = None
    elif io.notes_tip is None:
        recs = []
    else:
        recs = notes.read_many(ctx.repo, [plan.tree], batch=io.batch,
                               tip=io.notes_tip).get(plan.tree, [])
    cached = suite_ops.attestation(ctx, plan.tree, argv, recs)
    return {**cached, "cached": True} if cached else None


def _abandon(ctx: Ctx, plan: Plan, op: str, manifest: list[dict[str, Any]],
             attest: Attestation | None = None) -> None:
    """Nothing landed: put local-only bytes back if needed, keep the suite's attestation, and
    drop the journal and anchor."""
    if plan.local_root:
        restore_local_only(plan.local_root, manifest)
    record_attestation(ctx, attest)
    drop_anchor(ctx, op)
    journal.remove(ctx.repo, op)


def _land(ctx: Ctx, plan: Plan, op: str, j: JournalEntry, manifest: list[dict[str, Any]],
          suite: Attestation | None, attest: Attestation | None = None,
          points: tuple[str, ...] = ()) -> dict[str, Any]:
    repo = ctx.repo
    from flowergit.state.baton import fence_ops

    wt = plan.checkout.path if plan.checkout else None
    more: dict[str, Any] = {"suite_note": attest} if attest else {}
    try:
        note = provenance(ctx, plan, suite)  # a daemon that lost the baton stops here
        j = journal_entry(ctx, plan, op, "landing", local_only=manifest, anchor=j["anchor"],
                          note=note, **more)
    except BaseException:
        _abandon(ctx, plan, op, manifest, attest)  # nothing moved yet
        raise
    for point in points:
        failpoints.hit(point)
    stash: str | None = None
    ran = suite is not None and not suite.get("cached")
    try:
        if wt and ran:
            # the user may have worked while the suite ran: look again before touching anything
            # (the status names HEAD, which is the target: no separate read of it)
            st = checkout_status(wt)
            if st.head != plan.pre:
                raise CasLost(f"{plan.target} moved while the suite ran", plan.target_ref)
            changed = sorted((set(st.modified) & set(plan.incoming)) - set(plan.overlap))
            changed += collisions_of(wt, plan.incoming, set(plan.in_target), st) + st.unmerged
            if changed:
                raise Conflict(f"{', '.join(sorted(set(changed)))} changed in {wt} while brief "
                               f"{plan.brief} was being tested; nothing was merged",
                               f"merge again: `git flower merge {plan.brief}`",
                               data={"changed": sorted(set(changed))})
        if wt and plan.ita:
            index.drop_intent_to_add(wt, plan.ita)
        failpoints.hit("before_stash")  # landing, nothing stashed or moved yet
        if wt and plan.overlap:
            stash = gstash.push(repo, wt, plan.overlap, stash_message(op))
            failpoints.hit("after_stash_push")  # pushed, not yet in the journal
            if stash:
                anchor = write_anchor(ctx, plan, op, stash, j["anchor"])
                j = journal_entry(ctx, plan, op, "stashed", local_only=manifest, anchor=anchor,
                                  note=note, stash=stash, **more)
            failpoints.hit("after_stash")
        # Without a suite run nothing has waited since the preflight looked (milliseconds ago):
        # `read-tree -m -u` itself refuses to overwrite a local change or an untracked file,
        # and the target's CAS below refuses a moved target (the checkout is moved back).
        if wt:
            try:
                index.two_way_update(wt, plan.pre, plan.merge, refreshed=True)
            except GitError as e:
                raise Conflict(f"could not bring {wt} along: {e.err.strip().splitlines()[0]}",
                               "nothing was merged; clear the way and merge again") from None
            failpoints.hit("after_checkout_update")  # checkout moved, target not yet
        try:
            refs.transaction(repo, [refs.update(plan.target_ref, plan.merge, plan.pre),
                                    *fence_ops(ctx)],
                             f"flower: merge brief {plan.brief} into {plan.target}")
        except BaseException:
            # lost race, lost baton, a refusing reference-transaction hook: the target did not
            # move, so neither does the checkout
            if wt and refs.read(repo, plan.target_ref) != plan.merge:
                index.two_way_update(wt, plan.merge, plan.pre)
            raise
    except CasLost:
        rollback_stash(ctx, wt, stash, plan.ita, plan.overlap)
        _abandon(ctx, plan, op, manifest, attest)
        raise Conflict(f"{plan.target} moved while brief {plan.brief} was being tested; "
                       "nothing of the merge landed and their commit is intact",
                       f"merge again: `git flower merge {plan.brief}`") from None
    except BaseException:
        rollback_stash(ctx, wt, stash, plan.ita, plan.overlap)
        _abandon(ctx, plan, op, manifest, attest)
        raise
    # the target moved: from here on `recover` rolls forward (it reads the target, and the
    # journal already names the stash), so the journal is not written again
    j = {**j, "phase": "landed", "stash": stash}
    failpoints.hit("after_target_cas")
    return finish_landed(ctx, j, plan.io)
