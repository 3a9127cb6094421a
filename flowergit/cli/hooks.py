"""`git flower hooks install|uninstall|status`: git flower's git hooks, and the hidden
`hook-impl` the installed stubs call.

:func:`run_hook_impl` serves both the typer command and the fast path; this module imports typer
only inside :func:`register`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import typer


def run_hook_impl(*, event: str, args: list[str] | None) -> int:
    from flowergit.ops.setup import hooks

    return hooks.run(event, list(args or []))


def _human(r: dict[str, Any]) -> None:
    from flowergit.render import output

    for h in r["hooks"]:
        output.line(f"{h['event']}: {h.get('action') or h.get('state')}"
                    + (f" ({h['manager']}'s)" if h.get("state") == "foreign" and h.get("manager")
                       else "")
                    + (" (chained with the previous hook)" if h.get("chained") else ""))
    output.line(f"hooks directory: {r['dir']}")


def register(parent: typer.Typer) -> None:
    import typer

    from flowergit.cli.app_common import CONTEXT, JSON, fast

    app = typer.Typer(help="git hooks: a Flower-Brief trailer on brief branches, worker progress on "
                           "commit, flower state carried along on push.",
                      context_settings=CONTEXT, no_args_is_help=True, rich_markup_mode=None)
    parent.add_typer(app, name="hooks")

    @parent.command("hook-impl", hidden=True, context_settings={"ignore_unknown_options": True,
                                                                 "allow_extra_args": True})
    @fast(run_hook_impl)
    def hook_impl(
        event: str = typer.Argument(..., metavar="EVENT"),
        args: list[str] = typer.Argument(None, metavar="ARGS..."),
    ) -> int:
        """Run git flower's part of a git hook (called by the installed hook stubs)."""
        return run_hook_impl(event=event, args=args)

    @app.command("install")
    def install(
        force: bool = typer.Option(False, "--force",
                                   help="Install even though core.hooksPath is set (into that directory)."),
        print_: str = typer.Option("", "--print", metavar="MANAGER",
                                   help="Install nothing; print the config that makes another hook "
                                        "manager (pre-commit, lefthook) run git flower's hooks."),
        json: bool = JSON,
    ) -> int:
        """Install the hook stubs into the common git dir (shared by every worktree)."""
        from flowergit.cli.common import emit
        from flowergit.ops.setup import hooks
        from flowergit.ops.context import Ctx

        if print_:
            text = hooks.snippet(print_)

            def show(r: dict[str, Any]) -> None:
                import sys

                sys.stdout.write(r["snippet"])

            return emit({"manager": print_, "snippet": text}, json, show)

        def human(r: dict[str, Any]) -> None:
            from flowergit.render import output

            _human(r)
            for h in r["hooks"]:
                if h.get("manager") in hooks.SNIPPETS and "chained" in str(h.get("action")):
                    output.info(f"hint: {h['event']} belonged to {h['manager']}; git flower's stub "
                                f"runs it first. To let {h['manager']} run git flower's hooks "
                                f"instead: `git flower hooks install --print {h['manager']}`")
                    break

        return emit(hooks.install(Ctx(), force=force), json, human)

    @app.command("uninstall")
    def uninstall(json: bool = JSON) -> int:
        """Remove git flower's stubs and put back the hooks they chained, byte for byte."""
        from flowergit.cli.common import emit
        from flowergit.ops.setup import hooks
        from flowergit.ops.context import Ctx

        return emit(hooks.uninstall(Ctx()), json, _human)

    @app.command("status")
    def status(json: bool = JSON) -> int:
        """Which hooks are installed, chained, outdated or foreign."""
        from flowergit.cli.common import emit
        from flowergit.ops.setup import hooks
        from flowergit.ops.context import Ctx

        def human(r: dict[str, Any]) -> None:
            from flowergit.render import output

            _human(r)
            if r["hooks_path"]:
                output.line(f"core.hooksPath = {r['hooks_path']}")
            if r["skip"]:
                output.line("GIT_FLOWER_SKIP_HOOKS=1 is set: the hooks do nothing in this shell")

        return emit(hooks.status(Ctx()), json, human)
