"""Top-level `git flower watch`: a live view of `status` and `ps`."""

from __future__ import annotations

import sys

import typer


def register(app: typer.Typer) -> None:
    @app.command("watch")
    def watch(
        interval: float = typer.Option(1.0, "--interval", "-n", metavar="SECONDS",
                                       help="Seconds between refreshes."),
        count: int = typer.Option(None, "--count", metavar="N",
                                  help="Stop after N refreshes (default: until Ctrl-C)."),
        json: bool = typer.Option(False, "--json",
                                  help="One JSON document per change, one per line (JSON lines)."),
    ) -> int:
        """The fleet live: what needs you, then every dispatch. On a terminal, keys act on the
        selected one (enter: log, a: attach, s: send, x: stop, d: diff, m: merge, q: quit);
        piped, a plain snapshot is printed each time something changes."""
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
            elif count is None and output.styled() and sys.stdin.isatty() and \
                    sys.stdout.isatty():
                # a person at a terminal: the interactive view (Textual, loaded only here)
                from flowergit.cli import watchtui

                return watchtui.run(ctx, interval=interval,
                                    alert=view.alert_mode(ctx.repo.config_last("flower.watchalert")))
            elif output.styled():
                from rich.live import Live

                from flowergit.ops.notify import events, message

                con = view.console()
                frames = ops_watch.frames(ctx, interval=interval, count=count)
                first = next(frames)
                how = view.alert_mode(ctx.repo.config_last("flower.watchalert"))
                marks, _ = events(None, first["ps"])
                title = "git flower watch  (Ctrl-C to quit)"
                with Live(view.renderable(first, title=title), console=con,
                          auto_refresh=False, transient=False) as live:
                    for snap in frames:
                        marks, happened = events(marks, snap["ps"])
                        for event, row in happened:  # finished, failed, waiting: tell them
                            view.alert(how, message(event, row))
                        live.update(view.renderable(snap, title=title), refresh=True)
            else:
                for i, snap in enumerate(ops_watch.changes(ctx, interval=interval, count=count)):
                    sys.stdout.write(("\n" if i else "") + f"-- {snap['at']}\n" + view.plain(snap))
                    sys.stdout.flush()
        except KeyboardInterrupt:
            return 0
        return 0
