"""`git flower baton …`: which daemon is in charge of a lane."""

from __future__ import annotations

import typer

from flowergit.cli.app_common import CONTEXT, JSON

app = typer.Typer(help="The baton: the lease that says which daemon is in charge of a lane.",
                  context_settings=CONTEXT, invoke_without_command=True, rich_markup_mode=None)

LANE = typer.Option(None, "--lane", "-l", help="The lane (default: main).")
DAEMON = typer.Option(None, "--daemon", metavar="ID",
                      help="The daemon this command speaks for (default: $FLOWER_DAEMON).")


@app.callback()
def root(ctx: typer.Context, lane: str = LANE, json: bool = JSON) -> int | None:
    """Show the baton of a lane (`baton show`), or take / release it."""
    if ctx.invoked_subcommand is None:
        return _show(lane, False, json)
    return None


def _show(lane: str | None, history: bool, json: bool) -> int:
    from flowergit.cli.common import emit
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import baton as ops
    from flowergit.render import continuity as view

    return emit(ops.show(Ctx().load(), lane=lane, history=history), json, view.baton_show)


@app.command("show")
def show(lane: str = LANE, history: bool = typer.Option(False, "--history", help="The succession "
                                                          "(git log of the baton ref)."),
         json: bool = JSON) -> int:
    """Who holds the baton, at which epoch, and how alive they look from here."""
    return _show(lane, history, json)


@app.command("take")
def take(lane: str = LANE, daemon: str = DAEMON,
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
        return emit(ops.take_remote(ctx, remote, lane=lane, daemon=daemon), json, view.baton_step)
    return emit(ops.take(ctx, lane=lane, daemon=daemon), json, view.baton_step)


@app.command("release")
def release(lane: str = LANE, daemon: str = DAEMON, json: bool = JSON) -> int:
    """Give the baton up (only its holder can)."""
    from flowergit.cli.common import emit
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import baton as ops
    from flowergit.render import continuity as view

    return emit(ops.release(Ctx().load(), lane=lane, daemon=daemon), json, view.baton_step)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="baton")
