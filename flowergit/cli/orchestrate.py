"""Top-level `git flower tick` and `git flower run`: the orchestrator's loop. ``run_tick``
serves the typer command and the fast path; typer is imported only inside :func:`register`."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import typer


def run_tick(*, lane: str | None, daemon: str | None, json: bool) -> int:
    from flowergit.cli.common import emit
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import tick as ops
    from flowergit.render import continuity as view

    return emit(ops.tick(Ctx().load(), lane=lane, daemon=daemon), json, view.tick)


def register(app: typer.Typer) -> None:
    import typer

    from flowergit.cli.app_common import JSON, fast

    @app.command("tick")
    @fast(run_tick)
    def tick(
        lane: str = typer.Option(None, "--lane", "-l", help="The lane (default: main)."),
        daemon: str = typer.Option(None, "--daemon", metavar="ID",
                                   help="The daemon this tick speaks for (default: $FLOWER_DAEMON)."),
        json: bool = JSON,
    ) -> int:
        """One orchestrator iteration: dispatch auto_dispatch signals within the cap, reap,
        retire stale signals, merge finished briefs if [merge] auto; prints what it did."""
        return run_tick(lane=lane, daemon=daemon, json=json)

    @app.command("run")
    def run(
        interval: float = typer.Option(10.0, "--interval", metavar="S", help="Seconds between ticks."),
        lane: str = typer.Option(None, "--lane", "-l", help="The lane (default: main)."),
        daemon: str = typer.Option(None, "--daemon", metavar="ID",
                                   help="Run as this daemon (default: $FLOWER_DAEMON, else check "
                                        "in a new orchestrator)."),
        ticks: int = typer.Option(None, "--ticks", metavar="N", help="Stop after N ticks."),
        worker: bool = typer.Option(False, "--worker",
                                    help="Run agents for the fleet on this clone: claim "
                                         "auto-dispatch work through the remote (exactly once "
                                         "across machines), dispatch it here, publish results."),
        remote: str = typer.Option(None, "--remote", metavar="R",
                                   help="With --worker: the remote (default: the configured one)."),
        agent: str = typer.Option(None, "--agent", metavar="NAME",
                                  help="Drive this agent profile as the orchestrator: it gets a "
                                       "turn whenever something needs judgement, and a fresh "
                                       "successor before its context fills."),
        json: bool = JSON,
    ) -> int:
        """Take the baton and tick in a loop, beating as it goes; Ctrl-C or SIGTERM stop it
        cleanly and release the baton. With --agent, also drive an orchestrating agent; with
        --worker, run agents for the fleet through a remote instead (no baton)."""
        from flowergit.cli.common import emit
        from flowergit.errors import Exit, UsageError
        from flowergit.ops.context import Ctx
        from flowergit.render import continuity as view

        if worker:
            from flowergit.ops.continuity import worker as wops

            if agent is not None or daemon is not None:
                raise UsageError("--worker runs agents for the fleet; it takes neither --agent "
                                 "nor --daemon", "leave them out")
            got = wops.run(Ctx().load(), remote=remote, interval=interval, ticks=ticks)
            emit(got, json, view.message)
            return int(Exit.INTERRUPTED) if got.get("interrupted") else 0
        if remote is not None:
            raise UsageError("--remote goes with --worker")
        if agent is not None:
            from flowergit.ops.continuity import driver

            if daemon is not None:
                raise UsageError("--agent checks in its own daemon; --daemon cannot be given "
                                 "with it", "leave --daemon out")
            got = driver.run(Ctx().load(), agent=agent, lane=lane, interval=interval,
                             ticks=ticks)
            emit(got, json, view.message)
            return int(Exit.INTERRUPTED) if got.get("interrupted") else 0
        from flowergit.ops.continuity import tick as ops

        got = ops.run(Ctx().load(), lane=lane, daemon=daemon, interval=interval, ticks=ticks)
        emit(got, json, view.message)
        return int(Exit.INTERRUPTED) if got.get("interrupted") else 0
