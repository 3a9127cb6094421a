"""The command tree as data: the click command of the whole app, a context for any command in
it, and :func:`docs_model`, the plain model :mod:`flowergit.ops.setup.docs` renders as the man page
and ``docs/cli.md``. `help`, completion, the manual and the fast-path table all read the tree
through here, so the typer declarations stay the single source.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer

from flowergit.cli.app_common import CONTEXT


def root() -> Any:
    """The click command of ``git flower`` (built from the typer app)."""
    from flowergit.cli.app import app

    return typer.main.get_command(app)


def context(cmd: Any, name: str, parent: Any = None) -> Any:
    """A click context for ``cmd`` named ``name`` under ``parent``, with the app's settings."""
    from typer import _click as click

    settings = dict(getattr(cmd, "context_settings", None) or {})
    settings.setdefault("help_option_names", CONTEXT["help_option_names"])
    settings.setdefault("max_content_width", CONTEXT["max_content_width"])
    return click.Context(cmd, info_name=name, parent=parent, **settings)


def _clean(text: str | None) -> str:
    return inspect.cleandoc(text or "").replace("\b\n", "").strip()


def docs_model() -> Any:
    """The visible command tree as :class:`flowergit.ops.setup.docs.Cmd`."""
    from flowergit.ops.setup.docs import Cmd, Param

    def build(cmd: Any, ctx: Any, path: list[str]) -> Cmd:
        params = []
        for p in cmd.get_params(ctx):
            if getattr(p, "hidden", False):
                continue
            rec = p.get_help_record(ctx)
            if rec is None:
                decl = (p.metavar or p.name or "").upper() if p.param_type_name == "argument" else p.name
                rec = (decl, "")
            params.append(Param(kind=p.param_type_name, decl=rec[0], help=rec[1],
                                required=bool(getattr(p, "required", False))))
        usage = " ".join([ctx.command_path, *cmd.collect_usage_pieces(ctx)])
        node = Cmd(path=path, usage=usage, help=_clean(cmd.help),
                   short=cmd.get_short_help_str(limit=200) if path else _clean(cmd.help).split("\n")[0],
                   params=params)
        subs = getattr(cmd, "commands", None) or {}
        for name in cmd.list_commands(ctx) if subs else []:
            sub = subs[name]
            if getattr(sub, "hidden", False):
                continue
            node.commands.append(build(sub, context(sub, name, ctx), [*path, name]))
        return node

    top = root()
    return build(top, context(top, "git flower"), [])


def walk(top: Any = None) -> list[tuple[tuple[str, ...], Any]]:
    """Every leaf command (hidden ones too) as (its words after ``git flower``, click command)."""
    out: list[tuple[tuple[str, ...], Any]] = []

    def visit(cmd: Any, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            out.append((path, cmd))
            return
        for name, sub in subs.items():
            visit(sub, (*path, name))

    visit(root() if top is None else top, ())
    return out


def resolve(words: list[str]) -> Any:
    """The click context of ``git flower WORDS`` (a command path), or a usage error."""
    from flowergit.errors import UsageError

    cmd = root()
    ctx = context(cmd, "git flower")
    for i, w in enumerate(words):
        subs = getattr(cmd, "commands", None)
        if not subs or w not in subs or getattr(subs[w], "hidden", False):
            known = " ".join(["git flower help", *words[:i]])
            raise UsageError(f"no command {' '.join(['git flower', *words[:i + 1]])!r}",
                             f"`{known}` lists the commands of {ctx.command_path}")
        cmd = subs[w]
        ctx = context(cmd, w, ctx)
    return ctx
