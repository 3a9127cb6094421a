"""The typer application, assembled from :data:`MODULES`: one CLI module per noun or command family.

Commands parse, call one ops function, render. No logic and no git here. These declarations are
the single source of the CLI: help, completion, the manual (``scripts/gen_docs.py``) and the fast
path's table (``cli/fastspec.py``, generated from them) all come from here.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer._click.exceptions import NoArgsIsHelpError
from typer._click.exceptions import UsageError as ClickUsageError

from flowergit import __version__
from flowergit.errors import Exit

from flowergit.cli.app_common import CONTEXT

app = typer.Typer(
    name="git flower",
    help="Run a fleet of coding agents on one repository, with all coordination state in git.",
    context_settings=CONTEXT, rich_markup_mode=None, pretty_exceptions_enable=False,
    no_args_is_help=True, add_completion=False,
)

# Each module's `register(app)` adds its noun (a sub-app) or its top-level commands. The order is
# the order of `git flower -h` and of the manual: nouns in the order listed, then the commands.
MODULES: list[str] = [
    "flowergit.cli.brief",
    "flowergit.cli.hooks",
    "flowergit.cli.signal",
    "flowergit.cli.daemon",
    "flowergit.cli.baton",
    "flowergit.cli.reset",
    "flowergit.cli.handoff",
    "flowergit.cli.charter",
    "flowergit.cli.orchestrate",
    "flowergit.cli.init",
    "flowergit.cli.trust",
    "flowergit.cli.dispatch",
    "flowergit.cli.workers",
    "flowergit.cli.sync",
    "flowergit.cli.merge",
    "flowergit.cli.help",
    "flowergit.cli.completion",
    "flowergit.cli.doctor",
    "flowergit.cli.prime",
    "flowergit.cli.watch",
    "flowergit.cli.mcp_cmd",
    "flowergit.cli.web",
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
                              help="auto, always or never (NO_COLOR is honoured); it may also "
                                   "follow the command."),
    no_pager: bool = typer.Option(False, "--no-pager",
                                  help="Do not page long lists (it may also follow the command)."),
) -> None:
    """git flower: briefs, dispatch, a merge gate and a baton, all kept in git."""
    from flowergit.errors import UsageError
    from flowergit.render import output as out

    if no_pager:
        out.NO_PAGER = True
    from flowergit.render import output

    # the entry point takes --color and --no-pager from anywhere on the line
    # (flowergit.main.global_options), so only a direct call of the app lands here with them
    if color not in ("auto", "always", "never"):
        raise UsageError(f"--color must be auto, always or never, not {color!r}",
                         "e.g. `git flower --color never brief list`")
    if color != "auto":
        output.COLOR = color


for _mod in MODULES:
    importlib.import_module(_mod).register(app)


def run(argv: list[str]) -> int:
    from flowergit.errors import UsageError

    try:
        rv: Any = app(args=argv, prog_name="git flower", standalone_mode=False)
    except NoArgsIsHelpError as e:  # `git flower brief` alone: its help
        typer.echo(e.ctx.get_help() if e.ctx is not None else "")
        return 0
    except typer.TyperException as e:
        ctx = getattr(e, "ctx", None)
        if ctx is not None or isinstance(e, ClickUsageError):  # bad options or arguments
            cmd = ctx.command_path if ctx is not None else "git flower"
            raise UsageError(e.format_message(), f"see `{cmd} -h`") from None
        raise UsageError(e.format_message()) from None
    except typer.Exit as e:
        return int(e.exit_code)
    except typer.Abort:
        return int(Exit.INTERRUPTED)
    return rv if isinstance(rv, int) else 0
