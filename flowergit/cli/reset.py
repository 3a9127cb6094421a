"""`git flower reset …`: hand an orchestrator's lane to a fresh successor."""

from __future__ import annotations

import typer

from flowergit.cli.app_common import CONTEXT, JSON

app = typer.Typer(help="The reset hand-off: request, ready, handoff, retire.",
                  context_settings=CONTEXT, no_args_is_help=True, rich_markup_mode=None)

LANE = typer.Option(None, "--lane", "-l", help="The lane (default: main).")
DAEMON = typer.Option(None, "--daemon", metavar="ID",
                      help="The daemon this command speaks for (default: $FLOWER_DAEMON).")


def _emit(got: dict, json: bool) -> int:  # type: ignore[type-arg]
    from flowergit.cli.common import emit
    from flowergit.render import continuity as view

    return emit(got, json, view.baton_step)


@app.command("request")
def request(lane: str = LANE, daemon: str = DAEMON,
            note: str = typer.Option("", "-m", "--note", help="Why, for the record."),
            json: bool = JSON) -> int:
    """The holder asks for a successor (emits `reset`; the baton goes to hand-off pending)."""
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import reset as ops

    return _emit(ops.request(Ctx().load(), lane=lane, daemon=daemon, note=note), json)


@app.command("ready")
def ready(lane: str = LANE, daemon: str = DAEMON, json: bool = JSON) -> int:
    """The successor has read the scratchpad and is ready (emits `successor_ready`)."""
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import reset as ops

    return _emit(ops.ready(Ctx().load(), lane=lane, daemon=daemon), json)


@app.command("handoff")
def handoff(lane: str = LANE, daemon: str = DAEMON,
            file: str = typer.Option(None, "-F", "--file",
                                     help="Commit this scratchpad atomically with the hand-off."),
            message: str = typer.Option(None, "-m", "--message", help="The scratchpad as text."),
            json: bool = JSON) -> int:
    """Move the baton to the ready successor (holder, or the successor if the holder is quiet)."""
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import reset as ops

    return _emit(ops.handoff(Ctx().load(), lane=lane, daemon=daemon, path=file, text=message), json)


@app.command("retire")
def retire(lane: str = LANE, daemon: str = DAEMON,
           predecessor: str = typer.Option(None, "--predecessor", metavar="ID",
                                           help="The daemon to retire (default: the one the last "
                                                "hand-off came from)."),
           json: bool = JSON) -> int:
    """Retire the predecessor and complete the hand-off's signals."""
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import reset as ops

    return _emit(ops.retire(Ctx().load(), lane=lane, daemon=daemon, predecessor=predecessor), json)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="reset")
