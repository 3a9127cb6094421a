"""`git flower completion …` (print or install a shell's script) and the hidden `__complete`
every completion script calls."""

from __future__ import annotations

import sys
from typing import Any

import typer

from flowergit.cli.app_common import CONTEXT, JSON


def complete(words: list[str], shell: str) -> str:
    """Candidates for the last of ``words`` (the word being typed) after the ones before it."""
    from typer._click.core import Parameter
    from typer._click.shell_completion import _resolve_context, _resolve_incomplete

    from flowergit.cli.tree import root
    from flowergit.errors import FlowerError
    from flowergit.ops.setup import completion as comp

    args, incomplete = (words[:-1], words[-1]) if words else ([], "")
    try:
        ctx = _resolve_context(root(), {}, "git flower", list(args))
        obj, incomplete = _resolve_incomplete(ctx, list(args), incomplete)
    except Exception:  # noqa: BLE001 - a half-typed line must never print a traceback
        return ""
    kind = None
    if isinstance(obj, Parameter):
        kind = comp.kind_of(obj.metavar)
    if kind is not None:
        try:
            return comp.format_candidates(shell, comp.candidates(kind, incomplete))
        except FlowerError:
            return ""  # not in a repository: nothing to offer
    items = []
    for it in obj.shell_complete(ctx, incomplete):
        if it.type != "plain":
            return ""  # files or directories: the shell's own completion does better
        items.append((str(it.value), str(it.help or "")))
    return comp.format_candidates(shell, items)


def register(app: typer.Typer) -> None:
    @app.command("__complete", hidden=True)
    def complete_(
        shell: str = typer.Option("bash", "--shell"),
        words: list[str] = typer.Argument(None),
    ) -> int:
        """Print completion candidates for the words after `git flower` (the last is the one typed)."""
        sys.stdout.write(complete(list(words or []), shell))
        return 0

    completion_app = typer.Typer(
        help="Shell completion: print the script for bash, zsh or fish, or install it.",
        context_settings=CONTEXT, no_args_is_help=True, rich_markup_mode=None)

    def _printer(shell: str) -> None:
        def show() -> int:
            from flowergit.ops.setup import completion as comp

            sys.stdout.write(comp.script(shell))
            return 0

        show.__doc__ = (f"Print the {shell} completion script"
                        + (" (defines _git_flower for git's own completion)." if shell == "bash"
                           else "."))
        completion_app.command(shell)(show)

    for sh in ("bash", "zsh", "fish"):
        _printer(sh)

    @completion_app.command("install")
    def install(
        shell: str = typer.Option(None, "--shell", metavar="SHELL",
                                  help="bash, zsh or fish (default: from $SHELL)."),
        json: bool = JSON,
    ) -> int:
        """Write the completion script where your shell loads it (never edits rc files)."""
        from flowergit.cli.common import emit
        from flowergit.ops.setup import completion as comp
        from flowergit.render import output

        res = comp.install(shell)

        def human(r: dict[str, Any]) -> None:
            output.line(("installed " if r["changed"] else "already installed: ") + r["path"])
            output.info(r["next"])

        return emit(res, json, human)

    app.add_typer(completion_app, name="completion")
