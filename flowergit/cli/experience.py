"""Top-level commands for people and agents finding their way: `help`, `completion`, `doctor`,
`prime`, `watch`, and the hidden `__complete` every completion script calls.

The command tree itself is the single source of the manual: :func:`docs_model` turns it into the
plain model :mod:`flowergit.ops.docs` renders as the man page and ``docs/cli.md``.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from flowergit.cli.app_common import CONTEXT, JSON

PORCELAIN = typer.Option(False, "--porcelain",
                         help="Stable tab-separated fields, one record per line (for scripts).")
FORMAT = typer.Option(None, "--format", metavar="FMT",
                      help="Print each record through FMT: %(field), %% and %xx as in "
                           "git for-each-ref, e.g. '%(id)%09%(state)'.")


# -- the command tree as data ---------------------------------------------------------------------
def _root() -> Any:
    from flowergit.cli.app import app

    return typer.main.get_command(app)


def _ctx(cmd: Any, name: str, parent: Any = None) -> Any:
    from typer import _click as click

    settings = dict(getattr(cmd, "context_settings", None) or {})
    settings.setdefault("help_option_names", CONTEXT["help_option_names"])
    settings.setdefault("max_content_width", CONTEXT["max_content_width"])
    return click.Context(cmd, info_name=name, parent=parent, **settings)


def _clean(text: str | None) -> str:
    import inspect

    return inspect.cleandoc(text or "").replace("\b\n", "").strip()


def docs_model() -> Any:
    """The visible command tree as :class:`flowergit.ops.docs.Cmd`."""
    from flowergit.ops.docs import Cmd, Param

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
            node.commands.append(build(sub, _ctx(sub, name, ctx), [*path, name]))
        return node

    root = _root()
    return build(root, _ctx(root, "git flower"), [])


def _resolve(words: list[str]) -> Any:
    """The click context of ``git flower WORDS`` (a command path), or a usage error."""
    from flowergit.errors import UsageError

    cmd = _root()
    ctx = _ctx(cmd, "git flower")
    for i, w in enumerate(words):
        subs = getattr(cmd, "commands", None)
        if not subs or w not in subs or getattr(subs[w], "hidden", False):
            known = " ".join(["git flower help", *words[:i]])
            raise UsageError(f"no command {' '.join(['git flower', *words[:i + 1]])!r}",
                             f"`{known}` lists the commands of {ctx.command_path}")
        cmd = subs[w]
        ctx = _ctx(cmd, w, ctx)
    return ctx


# -- completion -------------------------------------------------------------------------------
def complete(words: list[str], shell: str) -> str:
    """Candidates for the last of ``words`` (the word being typed) after the ones before it."""
    from typer._click.core import Parameter
    from typer._click.shell_completion import _resolve_context, _resolve_incomplete

    from flowergit.errors import FlowerError
    from flowergit.ops import completion as comp

    args, incomplete = (words[:-1], words[-1]) if words else ([], "")
    try:
        ctx = _resolve_context(_root(), {}, "git flower", list(args))
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
    @app.command("help")
    def help_(command: list[str] = typer.Argument(None, metavar="[COMMAND]...",
                                                  help="A command, e.g. `brief new`.")) -> int:
        """Show the help of a command (works without man; `git flower --help` opens the manual)."""
        ctx = _resolve(list(command or []))
        sys.stdout.write(ctx.get_help() + "\n")
        return 0

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
            from flowergit.ops import completion as comp

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
        from flowergit.ops import completion as comp
        from flowergit.render import output

        res = comp.install(shell)

        def human(r: dict[str, Any]) -> None:
            output.line(("installed " if r["changed"] else "already installed: ") + r["path"])
            output.info(r["next"])

        return emit(res, json, human)

    app.add_typer(completion_app, name="completion")

    @app.command("doctor")
    def doctor(
        fix: bool = typer.Option(False, "--fix", help="Apply the fixes that cannot lose anything."),
        lock_age: float = typer.Option(600.0, "--lock-age", metavar="SECONDS",
                                       help="A lock older than this, with no git running here, "
                                            "is stale."),
        porcelain: bool = PORCELAIN,
        fmt: str = FORMAT,
        json: bool = JSON,
    ) -> int:
        """Check git, the repository, config, trust, refspecs, notes, hooks, locks, worktrees,
        dispatches and merge recovery; each finding names its fix. Exit 4 if any is an error."""
        from flowergit.ops import doctor as ops_doctor
        from flowergit.ops.context import Ctx
        from flowergit.render import output
        from flowergit.render.porcelain import emit_list

        res = ops_doctor.run(Ctx(), fix=fix, lock_age=lock_age)

        def human(findings: list[dict[str, Any]]) -> None:
            _doctor_human(findings, res)

        if json:
            output.emit_json(res)
        else:
            emit_list(res["findings"], json=False, porcelain_=porcelain, fmt=fmt,
                      fields=["check", "status", "message", "fix"], human=human)
        return 4 if res["errors"] else 0

    @app.command("prime")
    def prime(
        agents_md: bool = typer.Option(False, "--agents-md",
                                       help="Add a short git flower section to AGENTS.md in the "
                                            "main checkout (once; never overwrites)."),
        json: bool = JSON,
    ) -> int:
        """Print what an agent here needs: in a dispatch worktree its brief, rules and how to
        finish; in the main checkout an orchestrator primer."""
        import os

        from flowergit.cli.common import emit
        from flowergit.ops import prime as ops_prime
        from flowergit.ops.context import Ctx
        from flowergit.render import output
        from flowergit.render.continuity import escape_block

        ctx = Ctx()
        if agents_md:
            main = ctx.repo.main_worktree or ctx.repo.require_worktree()
            res = ops_prime.add_agents_md(os.path.join(main, "AGENTS.md"))
            return emit(res, json, lambda r: output.line(f"{r['path']}: {r['action']}"))
        got = ops_prime.prime(ctx)

        def human(r: dict[str, Any]) -> None:
            sys.stdout.write(escape_block(r["text"]))

        return emit(got, json, human)

    @app.command("watch")
    def watch(
        interval: float = typer.Option(1.0, "--interval", "-n", metavar="SECONDS",
                                       help="Seconds between refreshes."),
        count: int = typer.Option(None, "--count", metavar="N",
                                  help="Stop after N refreshes (default: until Ctrl-C)."),
        json: bool = typer.Option(False, "--json",
                                  help="One JSON document per change, one per line (JSON lines)."),
    ) -> int:
        """A live view of `status` and `ps` that refreshes until Ctrl-C; piped, a plain snapshot
        is printed each time something changes."""
        from flowergit.errors import UsageError
        from flowergit.ops import watch as ops_watch
        from flowergit.ops.context import Ctx
        from flowergit.render import output
        from flowergit.render import watch as view

        if not interval > 0:  # also refuses NaN
            raise UsageError("--interval must be a positive number of seconds")
        if count is not None and count < 1:
            raise UsageError("--count must be at least 1")
        ctx = Ctx().load()
        try:
            if json:
                for snap in ops_watch.changes(ctx, interval=interval, count=count):
                    sys.stdout.write(output.dumps({"version": 1, "ok": True, "data": snap}) + "\n")
                    sys.stdout.flush()
            elif output.styled():
                from rich.live import Live

                con = view.console()
                frames = ops_watch.frames(ctx, interval=interval, count=count)
                first = next(frames)
                title = "git flower watch  (Ctrl-C to quit)"
                with Live(view.renderable(first, title=title), console=con,
                          auto_refresh=False, transient=False) as live:
                    for snap in frames:
                        live.update(view.renderable(snap, title=title), refresh=True)
            else:
                for i, snap in enumerate(ops_watch.changes(ctx, interval=interval, count=count)):
                    sys.stdout.write(("\n" if i else "") + f"-- {snap['at']}\n" + view.plain(snap))
                    sys.stdout.flush()
        except KeyboardInterrupt:
            return 0
        return 0


def _doctor_human(findings: list[dict[str, Any]], res: dict[str, Any]) -> None:
    from flowergit.render import output
    from flowergit.render.text import escape

    mark = {"ok": "ok", "warn": "warning", "error": "error"}
    style = {"ok": "green", "warn": "yellow", "error": "bold red"}
    if output.styled():
        from rich.text import Text

        from flowergit.render.watch import console

        con = console()
        for f in findings:
            t = Text()
            t.append(f"{mark[f['status']]:<8}", style=style[f["status"]])
            t.append(f"{f['check']:<11}", style="bold")
            t.append(escape(f["message"]) + (" (fixed)" if f.get("fixed") else ""))
            con.print(t)
            if f.get("fix") and f["status"] != "ok":
                con.print(Text("                   fix: " + escape(f["fix"]), style="dim"))
    else:
        for f in findings:
            output.line(f"{mark[f['status']]:<8}{f['check']:<11}{f['message']}"
                        + (" (fixed)" if f.get("fixed") else ""))
            if f.get("fix") and f["status"] != "ok":
                output.line(f"{'':19}fix: {f['fix']}")
    summary = f"{res['errors']} error(s), {res['warnings']} warning(s)"
    if res["fixed"]:
        summary += f", {res['fixed']} fixed"
    output.info(summary)
