"""`git flower signal …`: queued events, each claimed exactly once.

:func:`run_claim` serves both the typer command and the fast path; this module imports typer
only inside :func:`register`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import typer


def run_claim(*, id: str | None, next_: bool, kind: str | None, remote: str | None,
              daemon: str | None, json: bool) -> int:
    from flowergit.cli.common import emit
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import signals
    from flowergit.render import continuity as view

    if remote is not None:
        got = signals.claim_remote(Ctx().load(), remote, id, next_=next_, kind=kind, daemon=daemon)
        return emit(got, json, view.signal_claimed)
    got = signals.claim(Ctx(), id, next_=next_, kind=kind, daemon=daemon)
    return emit(got, json, view.signal_claimed)


def run_list(*, kind: str | None, unclaimed: bool, porcelain: bool, fmt: str | None,
             limit: int | None, json: bool) -> int:
    from flowergit.cli.common import listing
    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity import signals
    from flowergit.render import continuity as view

    ctx = Ctx().load()
    return listing(ctx, signals.list_(ctx, kind=kind, unclaimed=unclaimed), json=json,
                   porcelain=porcelain, fmt=fmt, limit=limit,
                   fields=["id", "kind", "brief", "state", "at", "by"], human=view.signal_list)


def register(parent: typer.Typer) -> None:
    import typer

    from flowergit.cli.app_common import CONTEXT, JSON, LIMIT, PORCELAIN, fast, format_option

    app = typer.Typer(help="Signals: queued events (auto_dispatch, reset, …), each consumed exactly once.",
                      context_settings=CONTEXT, no_args_is_help=True, rich_markup_mode=None)
    parent.add_typer(app, name="signal")

    DAEMON = typer.Option(None, "--daemon", metavar="ID",
                          help="The daemon this command speaks for (default: $FLOWER_DAEMON).")

    @app.command("emit")
    def emit(
        kind: str = typer.Argument(..., metavar="KIND"),
        brief: str = typer.Option(None, "--brief", metavar="N", help="The brief the signal is about."),
        data: list[str] = typer.Option([], "--data", metavar="K=V", help="A data item (repeatable)."),
        daemon: str = DAEMON,
        json: bool = JSON,
    ) -> int:
        """Queue a signal; prints its id."""
        from flowergit.cli.common import emit as out
        from flowergit.ops.context import Ctx
        from flowergit.ops.continuity import signals
        from flowergit.render import continuity as view
        from flowergit.state.ids import brief_id

        bid = brief_id(brief) if brief is not None else None
        rec = signals.emit(Ctx().load(), kind, brief=bid, data=data, daemon=daemon)
        return out(rec, json, view.signal_emitted)

    @app.command("list")
    @fast(run_list)
    def list_(
        kind: str = typer.Option(None, "--kind", help="Only signals of this kind."),
        unclaimed: bool = typer.Option(False, "--unclaimed", help="Only signals nobody has claimed."),
        porcelain: bool = PORCELAIN,
        fmt: str = format_option("%(id)%09%(state)"),
        limit: int = LIMIT,
        json: bool = JSON,
    ) -> int:
        """List signals with their state (pending, expired, claimed, completed, moot)."""
        return run_list(kind=kind, unclaimed=unclaimed, porcelain=porcelain, fmt=fmt,
                        limit=limit, json=json)

    @app.command("claim")
    @fast(run_claim)
    def claim(
        id: str = typer.Argument(None, metavar="[ID]"),
        next_: bool = typer.Option(False, "--next", help="Claim the oldest unclaimed signal."),
        kind: str = typer.Option(None, "--kind", help="With --next: only signals of this kind."),
        remote: str = typer.Option(None, "--remote", metavar="R",
                                   help="Claim against remote R directly (exactly once across machines)."),
        daemon: str = DAEMON,
        json: bool = JSON,
    ) -> int:
        """Claim a signal exactly once (exit 4: someone else has it; exit 3: nothing left)."""
        return run_claim(id=id, next_=next_, kind=kind, remote=remote, daemon=daemon, json=json)

    @app.command("complete")
    def complete(
        id: str = typer.Argument(..., metavar="ID"),
        moot: bool = typer.Option(False, "--moot", help="It no longer needs doing."),
        note: str = typer.Option("", "--note", "-m", help="Why, for the record."),
        daemon: str = DAEMON,
        json: bool = JSON,
    ) -> int:
        """Mark a claimed signal completed (or moot); an unclaimed one is claimed and completed."""
        from flowergit.cli.common import emit as out
        from flowergit.ops.context import Ctx
        from flowergit.ops.continuity import signals
        from flowergit.render import continuity as view

        got = signals.complete(Ctx().load(), id, moot=moot, note=note, daemon=daemon)
        return out(got, json, view.signal_completed)
