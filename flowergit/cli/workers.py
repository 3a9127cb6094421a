"""Top-level commands on the workers a dispatch starts: status, ps, logs, wait, stop, done,
clean, attach, send.

The ``run_*`` functions serve both the typer commands and the fast path (``cli/fast.py``, from
the table ``cli/fastspec.py`` generated out of the declarations below); this module imports
typer only inside :func:`register`.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import typer


def run_status(*, json: bool) -> int:
    from flowergit.cli.common import emit
    from flowergit.ops import status
    from flowergit.ops.context import Ctx
    from flowergit.render import workers as view

    return emit(status.status(Ctx().load(), work=not json), json, view.status)


PS_FIELDS = ["id", "state", "outcome", "agent", "elapsed", "ahead", "files_changed", "branch",
             "title"]


def run_ps(*, ids: list[str] | None, state: list[str], all_: bool, porcelain: bool,
           fmt: str | None, limit: int | None, json: bool) -> int:
    from flowergit.cli.common import listing
    from flowergit.ops.context import Ctx
    from flowergit.ops.dispatch import workers
    from flowergit.render import workers as view

    ctx = Ctx().load()
    every = all_ or bool(ids)
    if json or porcelain or fmt is not None:
        listed = workers.ps(ctx, all_=every)
    else:  # the table alone: settled attempts' cells kept from an earlier run
        from flowergit.ops.dispatch import psview

        listed = psview.rows(ctx, all_=every)
    rows = workers.select(listed, ids or [], state)
    return listing(ctx, rows, json=json, porcelain=porcelain, fmt=fmt, limit=limit,
                   fields=PS_FIELDS, human=view.ps)


def run_wait(*, ids: list[str], timeout: float | None, json: bool) -> int:
    from flowergit.cli.common import emit
    from flowergit.errors import UsageError
    from flowergit.ops.context import Ctx
    from flowergit.ops.dispatch import workers
    from flowergit.render import workers as view

    if timeout is not None and timeout < 0:
        raise UsageError("--timeout must be zero or more seconds")
    if not json and sys.stderr.isatty():  # say what is waited for, not a silent prompt
        from flowergit.render import output

        output.info(f"waiting for {', '.join(ids)} to end"
                    + (f" (at most {timeout:g}s)" if timeout is not None else "")
                    + "; Ctrl-C stops waiting, not the agents")
    return emit(workers.wait(Ctx().load(), ids, timeout=timeout), json, view.waited)


def register(app: typer.Typer) -> None:
    import typer

    from flowergit.cli.app_common import JSON, LIMIT, PORCELAIN, fast, format_option

    @app.command("status")
    @fast(run_status)
    def status(json: bool = JSON) -> int:
        """Briefs by status, the workers and the queue."""
        return run_status(json=json)

    @app.command("ps")
    @fast(run_ps)
    def ps(ids: list[str] = typer.Argument(None, metavar="[N[.k]]...",
                                           help="Only these briefs (every attempt) or attempts."),
           state: list[str] = typer.Option(
               [], "--state", metavar="STATE",
               help="Only dispatches in this state or with this outcome (running, waiting, "
                    "queued, done, failed, merged, …; repeatable)."),
           all_: bool = typer.Option(False, "--all", "-a", help="Include cleaned dispatches."),
           porcelain: bool = PORCELAIN,
           fmt: str = format_option("%(id)%09%(state)"),
           limit: int = LIMIT,
           json: bool = JSON) -> int:
        """One row per dispatch: state, title, agent, elapsed, commits, files, last commit and
        log line."""
        return run_ps(ids=ids, state=state, all_=all_, porcelain=porcelain, fmt=fmt, limit=limit,
                      json=json)

    @app.command("logs")
    def logs(id: str = typer.Argument(..., metavar="N[.k]"),
             follow: bool = typer.Option(False, "--follow", "-f",
                                         help="Keep printing until the dispatch ends."),
             raw: bool = typer.Option(False, "--raw",
                                      help="Print the bytes as written (no escaping)."),
             json: bool = JSON) -> int:
        """Print a dispatch's log (the agent's output)."""
        from flowergit.cli.common import emit
        from flowergit.errors import UsageError
        from flowergit.ops.context import Ctx
        from flowergit.ops.dispatch import workers
        from flowergit.render import workers as view
        from flowergit.render.text import escape

        ctx = Ctx().load()
        if follow:
            if json:
                raise UsageError("--follow and --json do not go together")

            def write(data: bytes) -> None:
                if raw:
                    sys.stdout.buffer.write(data)
                else:
                    text = data.decode("utf-8", "replace")
                    sys.stdout.write("\n".join(escape(p) for p in text.split("\n")))
                sys.stdout.flush()

            return workers.follow(ctx, id, write)
        res = workers.logs(ctx, id)
        if raw and not json:
            sys.stdout.write(res["text"])
            return 0
        return emit(res, json, view.log_text)

    @app.command("wait")
    @fast(run_wait)
    def wait(ids: list[str] = typer.Argument(..., metavar="N[.k]..."),
             timeout: float = typer.Option(None, "--timeout", metavar="S",
                                           help="Give up after S seconds (exit 75)."),
             json: bool = JSON) -> int:
        """Wait until the dispatches have ended; prints their exit codes."""
        return run_wait(ids=ids, timeout=timeout, json=json)

    @app.command("stop")
    def stop(ids: list[str] = typer.Argument(..., metavar="N[.k]..."), json: bool = JSON) -> int:
        """Stop dispatches: each agent's whole process group, or its place in the queue."""
        from flowergit.cli.common import each, emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.dispatch import workers
        from flowergit.render import workers as view
        for i in ids:  # every id is checked before anything stops
            workers.parse_target(i)
        ctx = Ctx().load()
        if len(ids) == 1:
            return emit(workers.stop(ctx, ids[0]), json, view.stopped)
        return each(ids, lambda i: workers.stop(ctx, i), json=json, human="stopped",
                    what="dispatch")

    @app.command("diff")
    def diff(id: str = typer.Argument(..., metavar="N[.k]"),
             paths: list[str] = typer.Argument(None, metavar="[PATH]...",
                                               help="Only these paths."),
             stat: bool = typer.Option(False, "--stat", help="Only the diffstat."),
             json: bool = JSON) -> int:
        """Show what an attempt changed (its branch against the target, from where they
        forked), through git's pager."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.dispatch import attemptdiff
        from flowergit.render import output

        ctx = Ctx().load()
        got = attemptdiff.change(ctx, id)
        if json:
            return emit(got, True)
        sys.stdout.flush()
        rc = attemptdiff.show_change(ctx, got, stat=stat, paths=list(paths or []),
                                 pager=not output.NO_PAGER,
                                 color=None if output.COLOR == "auto" else output.COLOR)
        return 0 if rc in (0, 141) else rc  # 141: the pager quit early (SIGPIPE)

    @app.command("done")
    def done(id: str = typer.Argument(None, metavar="[N]"),
             failed: bool = typer.Option(False, "--failed", help="Report that the work failed."),
             message: str = typer.Option(None, "-m", "--message", help="A short note."),
             json: bool = JSON) -> int:
        """Report a dispatch finished (run by the agent, from inside its worktree)."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.dispatch import workers
        from flowergit.render import workers as view

        return emit(workers.done(Ctx().load(), id, failed=failed, note=message), json,
                    view.reported)

    @app.command("clean")
    def clean(id: str = typer.Argument(None, metavar="[N]"),
              merged: bool = typer.Option(False, "--merged", help="Only dispatches merged by "
                                          "the merge gate."),
              json: bool = JSON) -> int:
        """Remove finished worktrees and branches; never unmerged work or a live agent's."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.dispatch import clean as ops
        from flowergit.render import workers as view

        return emit(ops.clean(Ctx().load(), id, merged=merged), json, view.cleaned)

    @app.command("attach")
    def attach(id: str = typer.Argument(..., metavar="N[.k]")) -> int:
        """Attach to the tmux session of a dispatch started with --tmux."""
        from flowergit.ops.context import Ctx
        from flowergit.ops.dispatch import workers

        workers.attach(Ctx().load(), id)
        return 0

    @app.command("send")
    def send(id: str = typer.Argument(..., metavar="N[.k]"),
             text: str = typer.Argument("", metavar="[TEXT]", show_default=False),
             enter: bool = typer.Option(False, "--enter", help="Press Enter last."),
             key: list[str] = typer.Option(
                 [], "--key", metavar="NAME",
                 help="Press a key after the text (repeat it for more, in order): Enter, Escape, "
                      "Tab, Up, Down, Left, Right, Backspace, Space, C-c, C-d, PageUp, PageDown, "
                      "Home, End, or one character such as y.", show_default=False),
             json: bool = JSON) -> int:
        """Type TEXT and keys into a tmux dispatch's terminal (an agent waiting at a prompt)."""
        from flowergit.cli.common import emit
        from flowergit.ops.context import Ctx
        from flowergit.ops.dispatch import workers
        from flowergit.render import output

        res: dict[str, Any] = workers.send(Ctx().load(), id, text, enter=enter, keys=key)
        return emit(res, json, lambda r: output.line(f"sent to {r['id']}"))
