"""`git flower charter …`: the standing instructions each daemon role receives."""

from __future__ import annotations

import typer

from flowergit.cli.app_common import CONTEXT, JSON

app = typer.Typer(help="Role charters (templates/charters/<role>.md, overridable per repository).",
                  context_settings=CONTEXT, no_args_is_help=True, rich_markup_mode=None)


@app.command("show")
def show(
    role: str = typer.Argument(..., metavar="ROLE"),
    daemon: str = typer.Option(None, "--daemon", metavar="ID", help="Fill in this daemon id."),
    lane: str = typer.Option(None, "--lane", "-l", help="Fill in this lane."),
    json: bool = JSON,
) -> int:
    """Print a role's charter (orchestrator, worker, ops, refine, or a repository's own)."""
    from flowergit.cli.common import emit
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import charter as ops
    from flowergit.render import continuity as view

    return emit(ops.show(Ctx().load(), role, daemon=daemon, lane=lane), json, view.charter_show)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="charter")
