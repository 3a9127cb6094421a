"""`git flower baton …`: which daemon is in charge of a lane.

``run_show`` serves both the typer command and the fast path; this module imports typer only
inside :func:`register`, whose annotations are evaluated where typer is in scope."""

TYPE_CHECKING = False
if TYPE_CHECKING:
    import typer


def run_show(*, lane: str | None, history: bool, json: bool) -> int:
    from flowergit.cli.common import emit
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import baton as ops
    from flowergit.render import continuity as view

    return emit(ops.show(Ctx().load(), lane=lane, history=history), json, view.baton_show)


def register(parent: "typer.Typer") -> None:
    # (annotations here are evaluated, not postponed: typer reads `typer.Context` off them)
    import typer

    from flowergit.cli.app_common import CONTEXT, JSON, fast

    app = typer.Typer(help="The baton: the lease that says which daemon is in charge of a lane.",
                      context_settings=CONTEXT, invoke_without_command=True,
                      rich_markup_mode=None)
    parent.add_typer(app, name="baton")
    lane_opt = typer.Option(None, "--lane", "-l", help="The lane (default: main).")
    daemon_opt = typer.Option(None, "--daemon", metavar="ID",
                              help="The daemon this command speaks for (default: $FLOWER_DAEMON).")

    @app.callback()
    def root(ctx: typer.Context, lane: str = lane_opt, json: bool = JSON) -> int | None:
        """Show the baton of a lane (`baton show`), or take / release it."""
        if ctx.invoked_subcommand is None:
            return run_show(lane=lane, history=False, json=json)
        return None

    @app.command("show")
    @fast(run_show)
    def show(lane: str = lane_opt,
             history: bool = typer.Option(False, "--history",
                                          help="The succession (git log of the baton ref)."),
             json: bool = JSON) -> int:
        """Who holds the baton, at which epoch, and how alive they look from here."""
        return run_show(lane=lane, history=history, json=json)

    @app.command("take")
    def take(lane: str = lane_opt, daemon: str = daemon_opt,
             remote: str = typer.Option(None, "--remote", metavar="R",
                                        help="Take it against remote R directly (across machines)."),
             json: bool = JSON) -> int:
        """Take the baton: free, released, or held by a stale holder (exit 4 naming a live one)."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.continuity import baton as ops
        from flowergit.render import continuity as view

        ctx = Ctx().load()
        if remote is not None:
            return emit(ops.take_remote(ctx, remote, lane=lane, daemon=daemon), json,
                        view.baton_step)
        return emit(ops.take(ctx, lane=lane, daemon=daemon), json, view.baton_step)

    @app.command("release")
    def release(lane: str = lane_opt, daemon: str = daemon_opt, json: bool = JSON) -> int:
        """Give the baton up (only its holder can)."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.continuity import baton as ops
        from flowergit.render import continuity as view

        return emit(ops.release(Ctx().load(), lane=lane, daemon=daemon), json, view.baton_step)
