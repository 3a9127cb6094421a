"""`git flower handoff …`: the scratchpad a successor reads first."""

from __future__ import annotations

import typer

from flowergit.cli.app_common import CONTEXT, JSON

app = typer.Typer(help="The hand-off scratchpad (handoff/<lane>.md on flower/briefs).",
                  context_settings=CONTEXT, no_args_is_help=True, rich_markup_mode=None)

LANE = typer.Option(None, "--lane", "-l", help="The lane (default: main).")


@app.command("write")
def write(
    file: str = typer.Option(None, "-F", "--file", help="Read the scratchpad from FILE (- or none: stdin)."),
    message: str = typer.Option(None, "-m", "--message", help="The scratchpad as text."),
    lane: str = LANE,
    daemon: str = typer.Option(None, "--daemon", metavar="ID", help="Who writes (default: $FLOWER_DAEMON)."),
    json: bool = JSON,
) -> int:
    """Write the scratchpad of a lane (a commit on flower/briefs; its history is kept)."""
    from flowergit.cli.common import emit
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import handoff as ops
    from flowergit.render import output

    got = ops.write(Ctx().load(), lane=lane, path=file, text=message, daemon=daemon)
    return emit(got, json, lambda h: output.line(f"wrote {h['path']} ({h['bytes']} bytes) "
                                                 f"at {h['commit'][:12]}"))


@app.command("show")
def show(lane: str = LANE,
         history: bool = typer.Option(False, "--history", help="Include every version's commit."),
         json: bool = JSON) -> int:
    """Print the scratchpad of a lane."""
    from flowergit.cli.common import emit
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import handoff as ops
    from flowergit.render import continuity as view

    return emit(ops.show(Ctx().load(), lane=lane, history=history), json, view.handoff_show)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="handoff")
