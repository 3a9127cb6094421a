"""Top-level `git flower prime`: what an agent here needs to know, printed."""

from __future__ import annotations

import sys
from typing import Any

import typer

from flowergit.cli.app_common import JSON


def register(app: typer.Typer) -> None:
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
        from flowergit.ops.context import Ctx
        from flowergit.ops.continuity import prime as ops_prime
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
