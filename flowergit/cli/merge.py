"""Top-level commands of the merge gate: merge, test, recover, verify, why."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import typer


def run_merge(*, id: str | None, into: str | None, no_test: bool, dry_run: bool, force: bool,
              yes: bool, json: bool) -> int:
    """Serves both the typer command and the fast path (``cli/fastspec.py``)."""
    from flowergit.cli.common import emit
    from flowergit.errors import Conflict, TestsFailed
    from flowergit.ops import merge as ops
    from flowergit.ops.context import Ctx
    from flowergit.render import merge as view
    from flowergit.render import output
    from flowergit.state.ids import brief_id

    def suite_progress(what: str) -> Any:  # rich only on a terminal, only when it runs
        from flowergit.render.watch import suite_progress as live

        return live(what)

    ctx = Ctx().load()
    if id is not None:
        bid = brief_id(id)
        try:
            with suite_progress(f"brief {bid}: running the suite") as live:
                res = ops.merge(ctx, bid, into=into, no_test=no_test, dry_run=dry_run,
                                force=force, progress=output.info, on_suite=live)
        except TestsFailed as e:
            if not json:
                view.red_details(e.data)
            raise
        return emit(res, json, view.merge_result)
    if not (yes or dry_run or json) and not confirm_queue(ctx, ops.finished_queue(ctx), into):
        return 0
    with suite_progress("running the suite") as live:
        items = ops.merge_queue(ctx, into=into, no_test=no_test, dry_run=dry_run,
                                progress=output.info, on_suite=live)
    red = [i for i in items if i["status"] == "red"]
    refused = [i for i in items if i["status"] == "refused"]
    if not red and not refused:
        return emit(items, json, view.merge_result)
    if not json:
        view.merge_result(items)
    err_cls = TestsFailed if red else Conflict
    raise err_cls(f"{len(red) + len(refused)} of {len(items)} brief(s) were not merged: "
                  + ", ".join(str(i["brief"]) for i in red + refused),
                  "see each brief's reason above", data=items)


def confirm_queue(ctx: Any, queue: list[int], into: str | None) -> bool:
    """Before a bare ``merge`` lands more than one brief from a terminal: ask (``--yes`` and a
    non-terminal stdin do not); whether to go on."""
    import sys

    if len(queue) < 2 or not (sys.stdin.isatty() and sys.stderr.isatty()):
        return True
    from flowergit.render import output

    target = into or ctx.config.get("flower", "target")
    output.info(f"{len(queue)} finished briefs would be merged into {target}, in this order: "
                + " ".join(map(str, queue)))
    sys.stderr.write("Merge them all? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer in ("y", "yes"):
        return True
    output.info(f"nothing was merged; `git flower merge {queue[0]}` merges one, "
                "`git flower merge --yes` all without asking")
    return False


def run_why(*, what: str, json: bool) -> int:
    from flowergit.cli.common import emit
    from flowergit.ops.context import Ctx
    from flowergit.ops.merge import verify as ops
    from flowergit.render import merge as view

    return emit(ops.why(Ctx().load(), what), json, view.why_result)


def register(app: typer.Typer) -> None:
    import typer

    from flowergit.cli.app_common import JSON, fast

    @app.command("merge")
    @fast(run_merge)
    def merge(
        id: str = typer.Argument(None, metavar="[N]", help="Brief to merge; none: every finished brief in the order they finished."),
        into: str = typer.Option(None, "--into", metavar="BRANCH", help="Target branch (default: [flower] target)."),
        no_test: bool = typer.Option(False, "--no-test", help="Do not run the suite (a passing attestation is still recorded in provenance)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Check and compute the merge; change nothing."),
        force: bool = typer.Option(False, "--force", help="Merge even though the agent did not exit 0."),
        yes: bool = typer.Option(False, "--yes", "-y",
                                 help="Without N: merge every finished brief without asking "
                                      "(a terminal is asked first when there are several)."),
        json: bool = JSON,
    ) -> int:
        """Merge a finished brief through the test gate, keeping local work intact."""
        return run_merge(id=id, into=into, no_test=no_test, dry_run=dry_run, force=force,
                         yes=yes, json=json)

    @app.command("test")
    def test(
        rev: str = typer.Argument(None, metavar="[REV]", help="Commit to test (default HEAD)."),
        force: bool = typer.Option(False, "--force", help="Run even if this tree already passed."),
        json: bool = JSON,
    ) -> int:
        """Run the suite on REV's tree in a scratch worktree and record an attestation."""
        from flowergit.cli.common import emit
        from flowergit.errors import TestsFailed
        from flowergit.ops.context import Ctx
        from flowergit.ops.merge import suite as ops
        from flowergit.render import merge as view

        try:
            return emit(ops.test(Ctx().load(), rev, force=force), json, view.test_result)
        except TestsFailed as e:
            if not json:
                view.red_details(e.data)
            raise

    @app.command("recover")
    def recover(json: bool = JSON) -> int:
        """Finish or undo a merge that was interrupted (safe to run any time, and twice)."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.merge import recover as ops
        from flowergit.render import merge as view

        return emit(ops.recover(Ctx().load()), json, view.recover_result)

    @app.command("verify")
    def verify(
        rng: str = typer.Argument(None, metavar="[RANGE]", help="Revision range (default: the target branch)."),
        limit: int = typer.Option(0, "--limit", min=0, help="Check at most this many commits."),
        json: bool = JSON,
    ) -> int:
        """Check that every first-parent commit in RANGE passed the suite (exit 5 if not)."""
        from flowergit.cli.common import emit
        from flowergit.errors import TestsFailed
        from flowergit.ops.context import Ctx
        from flowergit.ops.merge import verify as ops
        from flowergit.render import merge as view

        try:
            res = ops.verify(Ctx().load(), rng, limit=limit)
        except TestsFailed as e:
            if not json and isinstance(e.data, dict):
                view.verify_result(e.data)
            raise
        return emit(res, json, view.verify_result)

    @app.command("why")
    @fast(run_why)
    def why(
        what: str = typer.Argument(..., metavar="REV|PATH[:LINE]"),
        json: bool = JSON,
    ) -> int:
        """The brief, dispatch, agent and suite behind a commit or a line."""
        return run_why(what=what, json=json)
