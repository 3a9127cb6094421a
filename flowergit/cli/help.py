"""Top-level `git flower help [COMMAND]...`: a command's help without man."""

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
