"""Top-level `git flower dispatch N`: start an agent on a brief in its own worktree.

:func:`run_dispatch` serves both the typer command and the fast path (``cli/fast.py``, from the
table ``cli/fastspec.py`` generated out of the declaration below); this module imports typer
only inside :func:`register`. The commands on the attempts it starts are ``cli/workers.py``'s.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import typer


def run_dispatch(*, ids: list[str], agent: str | None, base: str | None, rework: bool,
                 resume: bool, tmux: bool, json: bool) -> int:
    from flowergit.ops.context import Ctx

    ctx = Ctx().start()  # git looks for the repository while the dispatch code loads
    from flowergit.ops import dispatch as ops
    from flowergit.state.ids import brief_id

    bids = [brief_id(i) for i in ids]  # every id is checked before anything starts

    def load_renderer() -> None:  # while the worktree is checked out
        from flowergit.cli import common  # noqa: F401
        from flowergit.render import workers  # noqa: F401

    if len(bids) == 1:
        res = ops.dispatch(ctx.load(), bids[0], agent=agent, base=base, rework=rework,
                           resume=resume, use_tmux=tmux, meanwhile=load_renderer,
                           fork_supervisor=True)
        from flowergit.cli.common import emit
        from flowergit.render import workers as view

        return emit(res, json, view.dispatched)
    from flowergit.cli.common import each

    return each(bids, lambda b: ops.dispatch(ctx.load(), b, agent=agent, base=base,
                                              rework=rework, resume=resume, use_tmux=tmux,
                                              fork_supervisor=True),
                json=json, human="dispatched", what="brief")


def register(app: typer.Typer) -> None:
    import typer

    from flowergit.cli.app_common import JSON, fast

    @app.command("dispatch")
    @fast(run_dispatch)
    def dispatch(
        ids: list[str] = typer.Argument(..., metavar="N...", help="The briefs to dispatch."),
        agent: str = typer.Option(None, "--agent", metavar="NAME",
                                  help="Agent profile (built-in: script, codex, claude)."),
        base: str = typer.Option(None, "--base", metavar="REV",
                                 help="Start the new branch here instead of the target."),
        rework: bool = typer.Option(False, "--rework",
                                    help="Continue on the brief's existing branch."),
        resume: bool = typer.Option(False, "--resume",
                                    help="Continue an interrupted (lost) or stopped attempt."),
        tmux: bool = typer.Option(False, "--tmux", help="Run the agent in a tmux session."),
        json: bool = JSON,
    ) -> int:
        """Start an agent on each brief N in its own worktree (queued beyond max_parallel)."""
        return run_dispatch(ids=ids, agent=agent, base=base, rework=rework, resume=resume,
                            tmux=tmux, json=json)
