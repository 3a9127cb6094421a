"""Top-level `git flower trust`: approve the commands a config or briefs would run here."""

from __future__ import annotations

import typer

from flowergit.cli.app_common import JSON


def register(app: typer.Typer) -> None:
    @app.command("trust")
    def trust(
        what: list[str] = typer.Argument(None, metavar="[brief [N...]]",
                                         help="Approve the commands briefs carry (all untrusted "
                                              "ones, or briefs N...) instead of the config."),
        show: bool = typer.Option(False, "--show", help="Only show what changed since the last trust."),
        json: bool = JSON,
    ) -> int:
        """Approve the current .flower.toml (its agent and suite commands may run on this
        machine), or with `brief [N...]` the run steps and agent overrides briefs carry."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.setup import trust as ops_trust
        from flowergit.render import output

        if what:
            from flowergit.errors import UsageError
            from flowergit.state.ids import brief_id

            if what[0] != "brief":
                raise UsageError(f"unknown trust target {what[0]!r}",
                                 "`git flower trust` (the config) or `git flower trust brief N`")
            got = ops_trust.trust_briefs(Ctx(), [brief_id(x) for x in what[1:]])
            return emit(got, json, lambda r: output.line(
                f"trusted the commands of {len(r['briefs'])} brief(s) on this machine: "
                + (", ".join(str(b["id"]) for b in r["briefs"]) or "none carry any")))

        res = ops_trust.trust(Ctx(), record=not show)

        def human(r: dict) -> None:  # type: ignore[type-arg]
            import sys

            if r["diff"]:
                sys.stdout.write(r["diff"] if r["diff"].endswith("\n") else r["diff"] + "\n")
            if not r["changed"]:
                output.line(f"{r['path']} is trusted (sha256 {r['sha256'][:12]})")
            elif r["trusted"]:
                output.line(f"trusted {r['path']} (sha256 {r['sha256'][:12]})")
            else:
                output.line(f"{r['path']} is not trusted; run `git flower trust` to approve it")

        return emit(res, json, human)
