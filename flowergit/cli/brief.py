"""`git flower brief …`: numbered work items on the `flower/briefs` branch.

The ``run_*`` functions serve both the typer commands and the fast path (``cli/fast.py``, from
the table ``cli/fastspec.py`` generated out of the declarations below); this module imports
typer only inside :func:`register`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    import typer


def run_new(*, title: str, body_file: str | None, message: str | None, kind: str, auto: bool,
            agent: str | None, depends: Sequence[str], remote: str | None, offline: bool,
            json: bool) -> int:
    from flowergit.cli.common import emit, read_body
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx
    from flowergit.render import output
    from flowergit.state.ids import brief_id

    ctx = Ctx().load()
    deps = [brief_id(d) for dep in depends for d in dep.split(",") if d]
    body = read_body(body_file, message, ctx.config.max_brief_bytes)
    made = briefs.new(ctx, title=title, body=body, kind=kind, auto=auto, agent=agent, depends=deps,
                      remote=remote, offline=offline)
    return emit(made, json, lambda b: output.line(f"brief {b['id']}: {b['title']}"))


BRIEF_FIELDS = ["id", "status", "kind", "auto_dispatch", "agent", "title"]


def run_list(*, status: str | None, kind: str | None, porcelain: bool, fmt: str | None,
             limit: int | None, json: bool) -> int:
    from flowergit.cli.common import emit, listing
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx
    from flowergit.render import briefs as view
    from flowergit.render.pager import wanted

    ctx = Ctx().load()
    items = briefs.list_(ctx, status=status, kind=kind)
    if not porcelain and fmt is None and limit is None and (json or not wanted()):
        # the plain forms, piped: no porcelain module (and its re), no pager
        return emit(items, json, view.brief_list)
    return listing(ctx, items, json=json, porcelain=porcelain, fmt=fmt, limit=limit,
                   fields=BRIEF_FIELDS, human=view.brief_list)


def run_show(*, id: str, json: bool) -> int:
    from flowergit.cli.common import emit
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx
    from flowergit.render import briefs as view
    from flowergit.state.ids import brief_id

    bid = brief_id(id)
    return emit(briefs.show(Ctx().load(), bid), json, view.brief_show)


def _one(id: str, json: bool, what: str, *args: object) -> int:
    """Run ``ops.briefs.<what>(ctx, id, *args)`` and print the brief it returns."""
    from flowergit.cli.common import emit
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx
    from flowergit.render import briefs as view
    from flowergit.state.ids import brief_id

    bid = brief_id(id)
    got = getattr(briefs, what)(Ctx().load(), bid, *args)
    return emit(got, json, view.brief_show)


def run_edit(*, id: str, json: bool) -> int:
    return _one(id, json, "edit")


def run_set(*, id: str, pairs: Sequence[str], json: bool) -> int:
    return _one(id, json, "set_", list(pairs))


def run_plan(*, id: str, json: bool) -> int:
    return _one(id, json, "plan")


def run_log(*, id: str, porcelain: bool, fmt: str | None, limit: int | None, json: bool) -> int:
    from flowergit.cli.common import listing
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx
    from flowergit.render import briefs as view
    from flowergit.state.ids import brief_id

    bid = brief_id(id)
    ctx = Ctx().load()
    return listing(ctx, briefs.log(ctx, bid), json=json, porcelain=porcelain, fmt=fmt,
                   limit=limit, fields=["commit", "date", "author", "subject"],
                   human=view.brief_log)


def run_import(*, source: str, json: bool) -> int:
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx
    from flowergit.render import output

    made = briefs.import_(Ctx().load(), source)
    if json:
        output.emit_json_items(made.metas())
    else:
        output.line(f"imported {made.count} briefs: {made.first}-{made.last}")
    return 0


def register(parent: typer.Typer) -> None:
    import typer

    from flowergit.cli.app_common import CONTEXT, FORMAT, JSON, LIMIT, PORCELAIN, format_option, fast

    app = typer.Typer(help="Briefs: numbered work items kept as files on the flower/briefs branch.",
                      context_settings=CONTEXT, no_args_is_help=True, rich_markup_mode=None)
    parent.add_typer(app, name="brief")

    @app.command("new")
    @fast(run_new)
    def new(
        title: str = typer.Argument(..., help="One-line title."),
        body_file: str = typer.Option(None, "--body-file", "-F", help="Read the spec from a file (- for stdin)."),
        message: str = typer.Option(None, "-m", "--message", help="The spec as text."),
        kind: str = typer.Option("brief", "--kind", help="brief, bug or idea."),
        auto: bool = typer.Option(False, "--auto", help="Dispatch automatically once planned."),
        agent: str = typer.Option(None, "--agent", help="Agent profile for this brief."),
        depends: list[str] = typer.Option([], "--depends", help="A brief this one depends on (repeatable)."),
        remote: str = typer.Option(None, "--remote", metavar="R",
                                   help="Reserve the id on remote R (default: the configured remote)."),
        offline: bool = typer.Option(False, "--offline",
                                     help="If the remote is unreachable, use an id reserved earlier "
                                          "with `git flower sync --reserve N`."),
        json: bool = JSON,
    ) -> int:
        """File a new brief; prints its id."""
        return run_new(title=title, body_file=body_file, message=message, kind=kind, auto=auto,
                       agent=agent, depends=depends, remote=remote, offline=offline, json=json)

    @fast(run_list)
    def list_(
        status: str = typer.Option(None, "--status", help="Only briefs with this status."),
        kind: str = typer.Option(None, "--kind", help="Only briefs of this kind."),
        porcelain: bool = PORCELAIN,
        fmt: str = FORMAT,
        limit: int = LIMIT,
        json: bool = JSON,
    ) -> int:
        """List briefs."""
        return run_list(status=status, kind=kind, porcelain=porcelain, fmt=fmt, limit=limit,
                        json=json)

    app.command("list")(list_)
    app.command("ls", hidden=True)(list_)

    @app.command("show")
    @fast(run_show)
    def show(id: str = typer.Argument(..., metavar="N"), json: bool = JSON) -> int:
        """Show one brief with its spec."""
        return run_show(id=id, json=json)

    @app.command("edit")
    @fast(run_edit)
    def edit(id: str = typer.Argument(..., metavar="N"), json: bool = JSON) -> int:
        """Edit a brief in $EDITOR; it is validated before anything is written."""
        return run_edit(id=id, json=json)

    @app.command("set")
    @fast(run_set)
    def set_(
        id: str = typer.Argument(..., metavar="N"),
        pairs: list[str] = typer.Argument(..., metavar="KEY=VALUE..."),
        json: bool = JSON,
    ) -> int:
        """Set front-matter keys (status, title, kind, auto_dispatch, agent, depends_on, …)."""
        return run_set(id=id, pairs=pairs, json=json)

    @app.command("plan")
    @fast(run_plan)
    def plan(id: str = typer.Argument(..., metavar="N"), json: bool = JSON) -> int:
        """Mark a brief planned (an auto_dispatch brief then emits an auto_dispatch signal)."""
        return run_plan(id=id, json=json)

    @app.command("log")
    @fast(run_log)
    def log(id: str = typer.Argument(..., metavar="N"), porcelain: bool = PORCELAIN,
            fmt: str = format_option("%(commit)%09%(subject)"), limit: int = LIMIT,
            json: bool = JSON) -> int:
        """A brief's history, from the commits of the briefs branch."""
        return run_log(id=id, porcelain=porcelain, fmt=fmt, limit=limit, json=json)

    @app.command("import")
    @fast(run_import)
    def import_(
        source: str = typer.Argument("-", metavar="[FILE|-]"),
        json: bool = JSON,
    ) -> int:
        """Create briefs from JSON lines ({"title", "body", "kind", "status", …}) in one commit."""
        return run_import(source=source, json=json)
