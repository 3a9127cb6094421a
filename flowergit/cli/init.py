"""Top-level `git flower init`: set a repository up for git flower."""

from __future__ import annotations

import typer

from flowergit.cli.app_common import JSON


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        remote: str = typer.Option(None, "--remote", metavar="R",
                                   help="Also configure fetch/push refspecs for remote R."),
        agents_md: bool = typer.Option(False, "--agents-md",
                                       help="Add a git flower section to AGENTS.md (never overwrites)."),
        json: bool = JSON,
    ) -> int:
        """Create the flower/briefs branch, a commented .flower.toml, and notes config."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.setup import init as ops_init
        from flowergit.render import output

        res = ops_init.init(Ctx(), remote=remote, agents_md=agents_md)

        def human(r: dict) -> None:  # type: ignore[type-arg]
            for a in r["actions"] or ["already initialised; nothing to do"]:
                output.line(a)
            for h in r.get("hints", []):
                output.info("hint: " + h)

        return emit(res, json, human)
