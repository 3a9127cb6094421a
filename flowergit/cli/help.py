"""Top-level `git flower help [COMMAND]...`: a command's help without man; and `version`."""

from __future__ import annotations

import sys

import typer


def register(app: typer.Typer) -> None:
    @app.command("help")
    def help_(command: list[str] = typer.Argument(None, metavar="[COMMAND]...",
                                                  help="A command, e.g. `brief new`.")) -> int:
        """Show the help of a command (works without man; `git flower --help` opens the manual)."""
        from flowergit.cli.tree import resolve

        ctx = resolve(list(command or []))
        sys.stdout.write(ctx.get_help() + "\n")
        return 0

    @app.command("version")
    def version() -> int:
        """Print the version (as `git flower --version` does)."""
        from flowergit import __version__

        typer.echo(f"git flower {__version__}")
        return 0
