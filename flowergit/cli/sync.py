"""Top-level commands `git flower sync` and `git flower remote`: flower state through a git remote."""

from __future__ import annotations

from typing import Any

import typer

from flowergit.cli.app_common import JSON


def render_sync(r: dict[str, Any]) -> None:
    from flowergit.render import output

    for w in r["warnings"]:
        output.info("warning: " + w)
    for lost in r["lost"]:
        output.info(f"lost: {lost['ref']} is held on {r['remote']} by {lost['holder']}; "
                    f"ours is kept at {lost['kept']}")
    for c in r.get("conflicts") or []:
        output.info(f"conflict: brief {c['brief']}: {c['key']} is {c['ours']!r} here and "
                    f"{c['theirs']!r} on {r['remote']}; kept {c['ours']!r} (`git flower brief "
                    f"show {c['brief']}`, `git flower brief set {c['brief']} {c['key']}=…`)")
    for ren in r["renumbered"]:
        whose = f"{r['remote']}'s brief" if ren.get("which") == "theirs" else "brief"
        output.info(f"renumbered: {whose} {ren['was']} is now brief {ren['now']} ({ren['why']})")
    b = r["briefs"]
    parts = [f"briefs {b['action']}" + (f" ({b['replayed']} commits re-applied)" if b["replayed"] else "")]
    n_in = len([x for x in r["fetched"]])
    n_out = len([x for x in r["pushed"]])
    parts.append(f"{n_in} refs in, {n_out} refs out")
    parts.append(f"notes {r['notes']['action']}")
    output.line(f"synced with {r['remote']}: " + ", ".join(parts))
    if r["reserved"]:
        ids = r["reserved"]
        output.line(f"reserved ids {ids[0]}-{ids[-1]} for offline use (`brief new --offline`)")


def register(app: typer.Typer) -> None:
    @app.command("sync")
    def sync(
        remote: str = typer.Argument(None, metavar="[REMOTE]",
                                     help="Remote to sync with (default: the configured one)."),
        reserve: int = typer.Option(0, "--reserve", metavar="N", min=0, max=10000,
                                    help="Also reserve N brief ids for `brief new --offline`."),
        republish: bool = typer.Option(False, "--republish",
                                       help="Restore a remote that lost history (recreated, "
                                            "rewound) from this clone's state; deletes nothing."),
        json: bool = JSON,
    ) -> int:
        """Exchange briefs, claims, dispatches, baton and notes with a git remote."""
        from flowergit.cli.common import emit
        from flowergit.ops import sync as ops_sync
        from flowergit.ops.context import Ctx

        res = ops_sync.sync(Ctx().load(), remote, reserve=reserve, republish=republish)
        if json:
            from flowergit.render import output

            for w in res["warnings"]:
                output.info("warning: " + w)
        return emit(res, json, render_sync)

    @app.command("remote")
    def remote(
        name: str = typer.Argument(..., metavar="REMOTE", help="A configured git remote."),
        push_refspecs: bool = typer.Option(
            False, "--push-refspecs",
            help="Also add push refspecs to remote.R.push (then plain `git push` sends flower "
                 "state too, fast-forward only, after HEAD)."),
        json: bool = JSON,
    ) -> int:
        """Make flower state travel through REMOTE: fetch refspecs, and the default remote."""
        from flowergit.cli.common import emit
        from flowergit.ops import sync as ops_sync
        from flowergit.ops.context import Ctx
        from flowergit.render import output

        res = ops_sync.remote(Ctx(), name, push_refspecs=push_refspecs)

        def human(r: dict[str, Any]) -> None:
            for a in r["actions"] or [f"{r['remote']} already configured; nothing to do"]:
                output.line(a)
            output.line(f"now run `git flower sync {r['remote']}` to exchange flower state")

        return emit(res, json, human)
