"""The typer application: one sub-app per noun, registered from :data:`NOUNS`.

Commands parse, call one ops function, render. No logic and no git here.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer

from flowergit import __version__
from flowergit.errors import Exit

from flowergit.cli.app_common import CONTEXT

app = typer.Typer(
    name="git flower",
    help="Run a fleet of coding agents on one repository, with all coordination state in git.",
    context_settings=CONTEXT, rich_markup_mode=None, pretty_exceptions_enable=False,
    no_args_is_help=True, add_completion=False,
)

# (noun, module): each module defines `app`, a typer.Typer for that noun, or `register(app)`.
NOUNS: list[tuple[str, str]] = [
    ("brief", "flowergit.cli.brief"),
    ("hooks", "flowergit.cli.hooks"),
    ("signal", "flowergit.cli.signal"),
    ("daemon", "flowergit.cli.daemon"),
    ("baton", "flowergit.cli.baton"),
    ("reset", "flowergit.cli.reset"),
    ("handoff", "flowergit.cli.handoff"),
    ("charter", "flowergit.cli.charter"),
]
# modules that add top-level commands with `register(app)`
COMMANDS: list[str] = [
    "flowergit.cli.orchestrate",
    "flowergit.cli.setup",
    "flowergit.cli.dispatch",
    "flowergit.cli.sync",
    "flowergit.cli.merge",
    "flowergit.cli.experience",
    "flowergit.cli.mcp_cmd",
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"git flower {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    color: str = typer.Option("auto", "--color", metavar="WHEN",
                              help="auto, always or never (NO_COLOR is honoured)."),
) -> None:
    """git flower: briefs, dispatch, a merge gate and a baton, all kept in git."""
    from flowergit.errors import UsageError
    from flowergit.render import output

    if color not in ("auto", "always", "never"):
        raise UsageError(f"--color must be auto, always or never, not {color!r}",
                         "e.g. `git flower --color never brief list`")
    output.COLOR = color


for _noun, _mod in NOUNS:
    _m = importlib.import_module(_mod)
    app.add_typer(_m.app, name=_noun)
for _mod in COMMANDS:
    importlib.import_module(_mod).register(app)


def run(argv: list[str]) -> int:
    from flowergit.errors import UsageError

    try:
        rv: Any = app(args=argv, prog_name="git flower", standalone_mode=False)
    except typer.TyperException as e:
        ctx = getattr(e, "ctx", None)
        if type(e).__name__.startswith("NoArgsIsHelp"):  # `git flower brief` alone: its help
            typer.echo(ctx.get_help() if ctx else "")
            return 0
        if ctx is not None or type(e).__name__.endswith(("UsageError", "Parameter", "Option")):
            cmd = ctx.command_path if ctx is not None else "git flower"
            raise UsageError(e.format_message(), f"see `{cmd} -h`") from None
        raise UsageError(e.format_message()) from None
    except typer.Exit as e:
        return int(e.exit_code)
    except typer.Abort:
        return int(Exit.INTERRUPTED)
    return rv if isinstance(rv, int) else 0
