"""What a merge writes about itself: the provenance note and the suite's attestation
(``refs/notes/flower``), the dispatch record and the brief turned ``merged``, and the worker
worktree released; once landed, all of it (with the anchor's deletion) in one ref transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import flowergit.ops.merge.suite as suite_ops
from flowergit.errors import NotFound
from flowergit.gitio import objects, refs, worktrees, writes
from flowergit.gitio.refs import CasLost
from flowergit.ops.context import Ctx
from flowergit.ops.merge.anchor import drop_anchor
from flowergit.ops.merge.plan import MergeIo, Plan
from flowergit.state import notes, records
from flowergit.state.dispatches import DispatchStore, dispatch_name
from flowergit.state.layout import NOTES_REF, dispatch_ref, recovery_ref

if TYPE_CHECKING:
    from flowergit.state.schema import Attestation, JournalEntry, NoteLine, Provenance


def record_attestation(ctx: Ctx, attest: Attestation | None) -> None:
    """Write a suite attestation that no provenance note will carry (the merge did not land)."""
    if attest:
        notes.append(ctx.repo, {attest["tree"]: [attest]},
                     f"flower: suite on tree {str(attest['tree'])[:12]}")


def provenance(ctx: Ctx, plan: Plan, suite: Attestation | None) -> Provenance:
    """The provenance note of the merge commit (who, what, which suite, the baton's epoch).
    A daemon that lost the baton stops here, before anything moves."""
    from flowergit.state.baton import fence_ops
    from flowergit.state.baton import read as baton_read

    epoch = None
    fence = fence_ops(ctx)
    if fence:
        head = baton_read(ctx.repo, fence[0].ref.rsplit("/", 1)[-1])
        epoch = head.record.get("epoch") if head else None
    d = plan.dispatch
    note: Provenance = {
        "v": 1, "kind": "merge", "brief": plan.brief,
        "dispatch": dispatch_name(plan.brief, plan.attempt), "agent": d.get("agent"),
        "branch": plan.branch, "head": plan.head,
        "base": d.get("base") if isinstance(d.get("base"), str) else plan.pre,
        "into": plan.target, "epoch": epoch,
        "suite": suite_ops.suite_summary(suite) if suite else None,
        "by": suite_ops.who(), "at": suite_ops.utc_now(),
    }
    usage = d.get("usage")
    if isinstance(usage, dict):  # what the agent's transcript said it used (docs/merge.md)
        note["agent_usage"] = {
            "model": usage.get("model"), "turns": usage.get("turns"),
            "input_tokens": usage.get("input_tokens"), "output_tokens": usage.get("output_tokens"),
            "cached_input_tokens": usage.get("cached_input_tokens"),
            "cost_usd": usage.get("cost_usd"), "cost_source": usage.get("cost_source")}
    return note


def close_landed(ctx: Ctx, j: JournalEntry, lines: Mapping[str, Sequence[NoteLine]],
                 io: MergeIo | None = None) -> bool | str:
    """The last step of a landed merge, as one ref transaction: the brief turns ``merged``
    (the briefs commit is its log entry), the dispatch record says ``merged``, the provenance
    note (and the suite's attestation) is appended to ``refs/notes/flower`` and
    ``refs/flower/recovery/<op>`` goes. A crash leaves all of it (``recover`` rolls forward) or
    none. Everything is read through one batch and written in one ``unpack-objects``; a lost
    race is retried by the briefs store with fresh reads. When the brief is merged already
    there is no briefs commit to carry the rest, and it is written on its own."""
    brief, attempt = (int(x) for x in str(j["dispatch"]).split("."))
    op = str(j["op"])
    why = f"merged into {j['into']} as {j['merge'][:12]}"
    message = f"brief {brief}: merged ({why})"
    state: dict[str, Any] = {"released": False, "calls": 0}

    def more(batch: objects.Batch, w: writes.Writer) -> list[refs.Op]:
        # the dispatch record, the notes tip and the anchor, read afresh on every attempt
        state["calls"] += 1
        return _closing_ops(ctx, j, lines, batch, w, state)

    # first attempt: the briefs tip, the brief and everything else from the merge's batch
    from flowergit.state import brief as codec
    from flowergit.state.layout import BRIEFS_REF

    store = ctx.briefs()
    own = objects.Batch(ctx.repo) if io is None else None
    batch = own if own is not None else io.batch  # type: ignore[union-attr]
    try:
        got = batch.get(BRIEFS_REF)
        tip = got[0] if got is not None and got[1] == "commit" else None
        pre = store.preread(brief, tip, batch) if tip else None
        if pre is not None and codec.parse(pre.raw, f"brief {brief}").status != "merged":
            w = writes.Writer(ctx.repo)
            planned = store.plan_update(pre, lambda raw: codec.with_status(raw, "merged"),
                                        message, w)
            if planned is not None:
                ops = [planned[0], *more(batch, w)]
                w.flush()
                try:
                    refs.transaction(ctx.repo, ops, message)
                    return _released(ctx, j, state)
                except CasLost:
                    pass  # someone wrote meanwhile: the store's own loop re-reads and retries
    finally:
        if own is not None:
            own.close()

    def more_fresh() -> list[refs.Op]:
        w = writes.Writer(ctx.repo)
        with objects.Batch(ctx.repo) as fresh:
            ops = more(fresh, w)
        w.flush()
        return ops

    wrote = _mark_merged(ctx, brief, why, more_fresh)
    if not wrote:
        notes.append(ctx.repo, lines, f"flower: provenance of brief {j['brief']}")
        released = _finish_dispatch(ctx, j["dispatch"], j["merge"], j["into"])
        drop_anchor(ctx, op, j.get("anchor"))
        return released
    return _released(ctx, j, state)


def _released(ctx: Ctx, j: JournalEntry, state: dict[str, Any]) -> bool | str:
    """Once the closing transaction is in: start releasing the worker worktree, if any."""
    path = state.get("release")
    if isinstance(path, str):
        return release_later(ctx, str(j["dispatch"]), path)
    return bool(state["released"])


def _closing_ops(ctx: Ctx, j: JournalEntry, lines: Mapping[str, Sequence[NoteLine]],
                 batch: objects.Batch, w: writes.Writer, state: dict[str, Any]) -> list[refs.Op]:
    """The dispatch record ``merged`` (the worker worktree released first), the notes commit
    and the anchor's deletion, as ops for the closing transaction (objects added to ``w``)."""
    brief, attempt = (int(x) for x in str(j["dispatch"]).split("."))
    ref = dispatch_ref(brief, attempt)
    ops: list[refs.Op] = []
    head = _read_record(batch, ref)
    if head is not None:
        new = _merged_record(ctx, j["merge"], j["into"], head.record, state)
        if new is not None:
            commit = records.add_commit(w, new, head.commit,
                                    f"dispatch {brief}.{attempt}: merged into {j['into']}")
            ops.append(refs.update(ref, commit, head.commit))
    got = batch.get(NOTES_REF)
    tip = got[0] if got is not None and got[1] == "commit" else None
    noted = notes.prepare(ctx.repo, lines, f"flower: provenance of brief {j['brief']}", batch, w,
                          tip)
    if noted is not None:
        ops.append(refs.update(NOTES_REF, noted, tip))
    got = batch.get(recovery_ref(str(j["op"])))
    if got is not None:
        ops.append(refs.delete(recovery_ref(str(j["op"])), got[0]))
    return ops


def _read_record(batch: objects.Batch, ref: str) -> records.Head | None:
    """The newest record of chain ``ref``, through ``batch`` (as :func:`records.read`)."""
    got = batch.get(ref)
    if got is None or got[1] != "commit":
        return None
    blob = batch.get(f"{got[0]}:{records.RECORD}")
    if blob is None or blob[1] != "blob":
        return None
    return records.Head(ref, got[0], records.decode(blob[2], ref))


def _merged_record(ctx: Ctx, merge: str, into: str, rec: dict[str, Any],
                   state: dict[str, Any]) -> dict[str, Any] | None:
    """The dispatch record once merged (None: it says so already); releases the worker
    worktree first (safe to repeat: a removed worktree counts as released)."""
    from flowergit.procs.spawn import can_fork

    wt = rec.get("worktree")
    if (isinstance(wt, str) and wt and os.path.isdir(wt) and can_fork()
            and ctx.config.get("merge", "release") == "background"):
        state["release"] = wt  # after the landing, off the merge's path (:func:`release_later`)
    elif isinstance(wt, str) and wt:  # now, and the record says how it went
        state["released"] = worktrees.release(ctx.repo, wt)
    if rec.get("state") == "merged" and rec.get("merge_commit") == merge:
        return None
    return {**rec, "state": "merged", "merge_commit": merge, "into": into,
            "merged_at": suite_ops.utc_now(), "worktree_released": state["released"]}


def release_later(ctx: Ctx, dispatch: str, path: str) -> bool | str:
    """Release the worker worktree of a landed merge without holding the merge up: removing a
    checkout of 20,000 files takes longer than the whole merge. A forked copy of this process
    removes it (clean trees only, as :func:`worktrees.release`) and then records
    ``worktree_released`` on the dispatch; its output goes to ``flower/logs/release.log``.
    "background" when that copy was started; where forking is not safe (threads running) it
    is done here and the result returned. (With ``[merge] release = "inline"`` the worktree is
    released before the dispatch record is written, and this is not called.) The copy holds
    ``release.mutex`` from before this returns (the lock is taken here and handed over), so
    ``clean``, or a script, that takes it waits for the release to finish."""
    from flowergit.procs import spawn

    brief, attempt = (int(x) for x in dispatch.split("."))
    repo = ctx.repo

    def release() -> int:
        from flowergit.ops.dispatch.clean import releasing

        with releasing(repo):
            return release_now()

    def release_now() -> int:
        from flowergit import failpoints

        failpoints.hit("release_before_remove")
        if not worktrees.release(repo, path):
            print(f"dispatch {dispatch}: {path} has changes; kept (locked)")
            return 1

        def mark(rec: dict[str, Any]) -> dict[str, Any] | None:
            return None if rec.get("worktree_released") else {**rec, "worktree_released": True}

        try:
            DispatchStore(repo).update(brief, attempt, mark, "worker worktree released")
        except NotFound:
            pass
        return 0

    if not spawn.can_fork():
        return release() == 0
    from flowergit.errors import Retry
    from flowergit.ops.dispatch.clean import releasing
    from flowergit.procs import locks

    log = repo.state_path("logs", "release.log")
    try:  # taken here and handed to the copy: from our return on, the lock says it is at work
        fd = releasing(repo, wait=0).detach()
    except Retry:  # an earlier release is still at work: the copy waits its turn
        spawn.fork_detached(release, cwd=repo.common_dir, log=log)
        return "background"

    def release_held() -> int:
        try:
            return release_now()
        finally:
            locks.let_go(fd)

    try:
        spawn.fork_detached(release_held, cwd=repo.common_dir, log=log, keep=(fd,))
    finally:
        os.close(fd)  # ours only: the copy holds the lock until it is done
    return "background"


def _finish_dispatch(ctx: Ctx, dispatch: str, merge: str, into: str) -> bool | str:
    brief, attempt = (int(x) for x in dispatch.split("."))
    store = DispatchStore(ctx.repo)
    state: dict[str, Any] = {"released": False}
    try:  # the record is read once, by the update itself
        store.update(brief, attempt, lambda rec: _merged_record(ctx, merge, into, rec, state),
                     f"merged into {into}")
    except NotFound:  # no record (removed by hand): nothing to mark
        pass
    path = state.get("release")
    if isinstance(path, str):
        return release_later(ctx, dispatch, path)
    return bool(state["released"])


def finish_records(ctx: Ctx, plan: Plan, commit: str, released: bool) -> None:
    _finish_dispatch(ctx, dispatch_name(plan.brief, plan.attempt), commit, plan.target)
    _mark_merged(ctx, plan.brief, f"already in {plan.target}")


def _mark_merged(ctx: Ctx, brief: int, why: str,
                 more: Callable[[], list[refs.Op]] | None = None) -> bool:
    """Brief status -> merged (forward only; the briefs commit is the log entry), with the ref
    updates ``more()`` returns in the same transaction. False: the brief said ``merged``
    already, nothing was written (and ``more`` was not called)."""
    from flowergit.state import brief as codec
    from flowergit.state.briefs import Change
    from flowergit.state.layout import brief_path

    message = f"brief {brief}: merged ({why})"

    def plan(tip: str | None, batch: objects.Batch) -> tuple[list[Change], str]:
        got = batch.get(f"{tip}:{brief_path(brief)}")
        if got is None:
            raise NotFound(f"no brief {brief}")
        if codec.parse(got[2], f"brief {brief}").status == "merged":
            return [], message
        new = codec.with_status(got[2], "merged")
        codec.parse(new, f"brief {brief}")  # never write what we could not read back
        return [Change(brief_path(brief), new)], message

    new, old = ctx.briefs().apply(plan, extra_ops=more)
    return new != (old or "")
