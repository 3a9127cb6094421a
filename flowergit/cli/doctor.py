"""Top-level `git flower doctor`: check the setup; each finding names its fix."""

from __future__ import annotations


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    import typer


def run_doctor(*, fix: bool, lock_age: float, porcelain: bool, fmt: str | None, json: bool) -> int:
    from flowergit.ops.context import Ctx
    from flowergit.ops.setup import doctor as ops_doctor
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


def register(app: typer.Typer) -> None:
    import typer

    from flowergit.cli.app_common import JSON, PORCELAIN, fast, format_option

    @app.command("doctor")
    @fast(run_doctor)
    def doctor(
        fix: bool = typer.Option(False, "--fix", help="Apply the fixes that cannot lose anything."),
        lock_age: float = typer.Option(600.0, "--lock-age", metavar="SECONDS",
                                       help="A lock older than this, with no git running here, "
                                            "is stale."),
        porcelain: bool = PORCELAIN,
        fmt: str = format_option("%(check)%09%(status)"),
        json: bool = JSON,
    ) -> int:
        """Check git, the repository, config, trust, refspecs, notes, hooks, locks, worktrees,
        dispatches and merge recovery; each finding names its fix. Exit 4 if any is an error."""
        return run_doctor(fix=fix, lock_age=lock_age, porcelain=porcelain, fmt=fmt, json=json)


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
