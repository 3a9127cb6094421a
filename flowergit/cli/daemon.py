"""`git flower daemon …`: long-lived orchestrating processes and their heartbeats.

``run_list`` serves the typer command and the fast path; typer is imported only inside
:func:`register`."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import typer


def run_list(*, all_: bool, porcelain: bool, fmt: str | None, limit: int | None,
             json: bool) -> int:
    from flowergit.cli.common import listing
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import daemon as ops
    from flowergit.render import continuity as view

    ctx = Ctx().load()
    return listing(ctx, ops.list_(ctx, all_=all_), json=json, porcelain=porcelain, fmt=fmt,
                   limit=limit, fields=["id", "role", "state", "liveness.state", "host", "pid",
                                        "beat"], human=view.daemon_list)


def register(parent: typer.Typer) -> None:
    import typer

    from flowergit.cli.app_common import CONTEXT, JSON, LIMIT, PORCELAIN, fast, format_option

    app = typer.Typer(help="Daemons: orchestrators and other long-lived agents, with heartbeats.",
                      context_settings=CONTEXT, no_args_is_help=True, rich_markup_mode=None)

    DAEMON = typer.Option(None, "--daemon", metavar="ID",
                          help="The daemon this command speaks for (default: $FLOWER_DAEMON).")


    @app.command("checkin")
    def checkin(
        role: str = typer.Option(..., "--role", help="orchestrator, worker, ops, refine, …"),
        pid: int = typer.Option(None, "--pid", help="The process this daemon is (default: the "
                                "leader of the caller's session)."),
        successor_of: str = typer.Option(None, "--successor-of", metavar="ID",
                                         help="Check in as the successor of this daemon."),
        shell: bool = typer.Option(False, "--shell", help="Print `export FLOWER_DAEMON=…` for eval."),
        json: bool = JSON,
    ) -> int:
        """Check a daemon in; prints its id (or, with --shell, the export line)."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.continuity import daemon as ops
        from flowergit.render import continuity as view

        got = ops.checkin(Ctx().load(), role=role, pid=pid, successor_of=successor_of, shell=shell)
        return emit(got, json, view.daemon_checkin)


    @app.command("beat")
    def beat(id: str = typer.Argument(None, metavar="[ID]"), json: bool = JSON) -> int:
        """Send one heartbeat (for ID, or $FLOWER_DAEMON)."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.continuity import daemon as ops
        from flowergit.render import output

        got = ops.beat(Ctx().load(), id)
        return emit(got, json, lambda d: output.line(f"daemon {d['id']}: beat {d['beat']}"))


    @app.command("list")
    @fast(run_list)
    def list_(
        all_: bool = typer.Option(False, "--all", "-a", help="Include retired daemons."),
        porcelain: bool = PORCELAIN,
        fmt: str = format_option("%(id)%09%(role)%09%(liveness.state)"),
        limit: int = LIMIT,
        json: bool = JSON,
    ) -> int:
        """List daemons, with liveness as this machine judges it."""
        return run_list(all_=all_, porcelain=porcelain, fmt=fmt, limit=limit, json=json)


    @app.command("whoami")
    def whoami(daemon: str = DAEMON, json: bool = JSON) -> int:
        """The daemon this shell speaks for (--daemon or $FLOWER_DAEMON)."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.continuity import daemon as ops
        from flowergit.render import continuity as view

        return emit(ops.whoami(Ctx().load(), daemon), json, view.daemon_one)


    @app.command("retire")
    def retire(
        id: str = typer.Argument(..., metavar="ID"),
        why: str = typer.Option("", "--why", "-m", help="Why, for the record."),
        daemon: str = DAEMON,
        json: bool = JSON,
    ) -> int:
        """Retire a daemon: it may no longer beat, hold the baton or claim work."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.continuity import daemon as ops
        from flowergit.render import output

        got = ops.retire(Ctx().load(), id, daemon=daemon, why=why)
        return emit(got, json, lambda d: output.line(f"daemon {d['id']}: retired"))


    @app.command("spawn")
    def spawn(
        role: str = typer.Option(..., "--role", help="The role whose charter the agent receives."),
        agent: str = typer.Option(..., "--agent", help="The agent profile to run."),
        lane: str = typer.Option(None, "--lane", help="The baton lane (default: main)."),
        successor_of: str = typer.Option(None, "--successor-of", metavar="ID",
                                         help="Spawn the successor of this daemon."),
        json: bool = JSON,
    ) -> int:
        """Start an agent as a daemon, with its role's charter as its packet file."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.continuity import daemon as ops
        from flowergit.render import continuity as view

        got = ops.spawn(Ctx().load(), role=role, agent=agent, lane=lane, successor_of=successor_of)
        return emit(got, json, view.daemon_one)

    parent.add_typer(app, name="daemon")
