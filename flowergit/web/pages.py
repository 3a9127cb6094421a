"""The pages (GET): each reads through the ops function its CLI command calls, and renders.

Board (``brief list``), a brief (``brief show`` and ``brief log``, and its attempts as ``ps``
rows), a worker (its ``ps`` row and its log, streamed), an attempt's diff, the merge (the job
this server runs, the suite's log, the provenance note as ``why`` reads it), the fleet
(``status``, ``daemon list``, ``baton show``) and signals (``signal list``). A page that cannot
be shown says why with the error the CLI would print, and the matching HTTP status.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from flowergit.errors import FlowerError
from flowergit.ops.context import Ctx
from flowergit.web import render
from flowergit.web.live import change_stream, clean, log_stream
from flowergit.web.state import STATUS, web_state

COLUMNS = ("draft", "planned", "dispatched", "done", "merged", "blocked", "abandoned")
PER_COLUMN = 50  # cards per column on the board; a column's own page shows PER_PAGE at a time
PER_PAGE = 200
MAX_QUERY = 200


def show(request: Request, template: str, *, status: int = 200, **data: Any) -> HTMLResponse:
    """``template`` with what every page has: the CSRF token, the live URL, the warnings."""
    st = web_state(request)
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    live = request.url.path + ("?" + urlencode(query) if query else "")
    data.setdefault("warnings", [])
    text = render.page(template, csrf=st.session.csrf, live_url=live, path=request.url.path,
                       version=st.watcher.version, **data)
    return HTMLResponse(text, status_code=status)


def failed(request: Request, e: FlowerError, title: str = "refused") -> HTMLResponse:
    return show(request, "error.html", status=STATUS.get(e.code, 500), title=title,
                error=e.to_json())


def ctx_for(request: Request, warnings: list[str]) -> Ctx:
    return Ctx(web_state(request).cwd, warn=warnings.append).load()


def number(text: str) -> int:
    """A brief's number from the URL, by the id grammar (``١٢`` is no number: usage, 400)."""
    from flowergit.state.ids import brief_id

    return brief_id(text)


def not_found(request: Request, exc: Exception) -> Response:
    detail = exc.detail if isinstance(exc, HTTPException) else "not found"
    return show(request, "error.html", status=404, title="not found",
                error={"code": "not_found", "message": f"no page {request.url.path}: {detail}"})


# -- the board ----------------------------------------------------------------------------
def board(request: Request) -> Response:
    from flowergit.ops import briefs
    from flowergit.state.rawjson import RawJSON

    p = request.query_params
    q = p.get("q", "").strip()[:MAX_QUERY]
    only = p.get("status", "")
    kind = p.get("kind", "")
    page = int(p["page"]) if p.get("page", "").isdigit() and 0 < int(p["page"]) < 10**6 else 1
    warnings: list[str] = []
    try:
        got = briefs.list_(ctx_for(request, warnings), status=only or None, kind=kind or None)
    except FlowerError as e:
        return failed(request, e)
    items: list[dict[str, Any]] = got.value() if isinstance(got, RawJSON) else got
    if q:
        needle = q.casefold().lstrip("#")
        items = [b for b in items if needle in str(b.get("title", "")).casefold()
                 or needle == str(b.get("id"))]
    by: dict[str, list[dict[str, Any]]] = {}
    for b in items:
        by.setdefault(str(b.get("status")), []).append(b)
    columns = []
    for name in ([only] if only else [c for c in COLUMNS if c in COLUMNS[:5] or by.get(c)]):
        cards = sorted(by.get(name, []), key=lambda b: -int(b.get("id", 0)))
        if only:
            shown = cards[(page - 1) * PER_PAGE: page * PER_PAGE]
        else:
            shown = cards[:PER_COLUMN]
        columns.append({"name": name, "total": len(cards), "cards": shown})
    pages = max(1, -(-len(items) // PER_PAGE)) if only else 1
    return show(request, "board.html", columns=columns, q=q, only=only, kind=kind, page=page,
                pages=pages, total=len(items), warnings=warnings,
                more_url=lambda st: "/?" + urlencode({k: v for k, v in
                                                      (("status", st), ("q", q), ("kind", kind))
                                                      if v}),
                page_url=lambda n: "/?" + urlencode({k: v for k, v in
                                                     (("status", only), ("q", q), ("kind", kind),
                                                      ("page", str(n))) if v}))


def new_brief(request: Request) -> Response:
    return show(request, "new.html", title="", spec="", kind="brief")


# -- a brief ------------------------------------------------------------------------------
def brief(request: Request) -> Response:
    from flowergit.ops import briefs
    from flowergit.ops.dispatch import workers

    warnings: list[str] = []
    try:
        n = number(request.path_params["n"])
        ctx = ctx_for(request, warnings)
        b = briefs.show(ctx, n)
        history = briefs.log(ctx, n)
        attempts = workers.attempts(ctx, n)
    except FlowerError as e:
        return failed(request, e)
    return show(request, "brief.html", b=b, history=history, attempts=attempts,
                warnings=warnings)


def edit_brief(request: Request) -> Response:
    import hashlib

    from flowergit.ops import briefs

    try:
        n = number(request.path_params["n"])
        raw = briefs.raw(ctx_for(request, []), n)
    except FlowerError as e:
        return failed(request, e)
    return show(request, "edit.html", n=n, text=raw.decode("utf-8", "replace"),
                was=hashlib.sha256(raw).hexdigest())


# -- a worker -----------------------------------------------------------------------------
def worker(request: Request) -> Response:
    from flowergit.ops.dispatch import workers

    warnings: list[str] = []
    try:
        row = workers.attempt(ctx_for(request, warnings), request.path_params["did"])
    except FlowerError as e:
        return failed(request, e)
    return show(request, "worker.html", w=row, warnings=warnings)


def log_events(request: Request) -> Response:
    from flowergit.ops.dispatch import workers

    did = request.path_params["did"]
    try:
        workers.attempt(ctx_for(request, []), did)  # no such attempt: 404 before streaming
    except FlowerError as e:
        return failed(request, e)
    start = request.headers.get("last-event-id", "")
    pos = int(start) if start.isdigit() else 0

    async def events() -> Any:
        async for ev in log_stream(web_state(request).cwd, did, pos):
            if ev["event"] == "log":
                ev["data"] = json.dumps(ev["data"])
            yield ev

    return EventSourceResponse(events(), ping=15)


def diff(request: Request) -> Response:
    from flowergit.ops.dispatch import attemptdiff

    try:
        d = attemptdiff.diff(ctx_for(request, []), request.path_params["did"])
    except FlowerError as e:
        return failed(request, e)
    return show(request, "diff.html", d=d, patch=render.diff_html(d["patch"]))


def highlight_css(request: Request) -> Response:
    return Response(render.highlight_css(), media_type="text/css")


# -- the merge ----------------------------------------------------------------------------
def merge_view(request: Request, n: int, warnings: list[str]) -> dict[str, Any]:
    """The brief, its latest attempt, this server's job, the suite's log and the provenance."""
    from flowergit.ops import briefs
    from flowergit.ops.dispatch import workers
    from flowergit.ops.merge import suite, verify

    ctx = ctx_for(request, warnings)
    b = briefs.show(ctx, n)
    attempts = workers.attempts(ctx, n)
    latest = attempts[-1] if attempts else None
    job = web_state(request).jobs.get(n)
    view = job.view() if job else None
    log_text = ""
    failing: list[str] = []
    logs = suite.logs_of_merges(ctx, n)
    if logs:  # the newest merge's suite, whichever process ran it
        try:
            with open(logs[0], "rb") as f:
                data = f.read()
            log_text = clean(data[-(256 << 10):].decode("utf-8", "replace"))
        except OSError:
            pass
        failing = [ln for ln in log_text.split("\n") if ln.startswith(("FAILED ", "ERROR "))]
    provenance = None
    try:
        provenance = verify.provenance_of(ctx, n)
    except FlowerError as e:
        warnings.append(e.message)
    counts = None
    if view is not None:
        # a merge's result, or a red suite's refusal, carries the suite's attestation
        got = (view["result"] or (view["error"] or {}).get("data") or {})
        got = got.get("suite") if isinstance(got, dict) else None
        counts = got if isinstance(got, dict) and "tests" in got else None
    return {"b": b, "latest": latest, "job": view, "counts": counts, "log_text": log_text,
            "failing": failing, "provenance": provenance}


def merge(request: Request) -> Response:
    warnings: list[str] = []
    try:
        n = number(request.path_params["n"])
        data = merge_view(request, n, warnings)
    except FlowerError as e:
        return failed(request, e)
    return show(request, "merge.html", n=n, warnings=warnings, **data)


def merge_events(request: Request) -> Response:
    """While this server's merge of the brief runs: ``progress`` events with the gate's lines
    and ``suite`` events with what the suite's log gained; then ``end``."""
    import asyncio

    from flowergit.ops.merge import suite

    try:
        n = number(request.path_params["n"])
    except FlowerError as e:
        return failed(request, e)
    st = web_state(request)

    def suite_log(since: float) -> str | None:
        logs = suite.logs_of_merges(Ctx(st.cwd).load(), n)
        import os

        return logs[0] if logs and os.path.getmtime(logs[0]) >= since - 1 else None

    async def events() -> Any:
        sent = 0
        log: str | None = None
        pos = 0
        while True:
            job = st.jobs.get(n)
            if job is None:
                yield {"event": "end", "data": "none"}
                return
            done = job.done  # read before the last lines, so none is missed
            for line in job.lines[sent:]:
                yield {"event": "progress", "data": json.dumps(line)}
            sent = len(job.lines)
            if log is None:
                log = await asyncio.to_thread(suite_log, job.started)
            if log is not None:
                data = await asyncio.to_thread(read_from, log, pos)
                if data:
                    pos += len(data)
                    yield {"event": "suite", "data": json.dumps(clean(data.decode("utf-8", "replace")))}
            if done:
                yield {"event": "end", "data": "done"}
                return
            await asyncio.sleep(0.2)

    return EventSourceResponse(events(), ping=15)


def read_from(path: str, pos: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(pos)
            return f.read(1 << 20)
    except OSError:
        return b""


# -- the fleet and the signals ------------------------------------------------------------
def fleet(request: Request) -> Response:
    from flowergit.ops import status
    from flowergit.ops.continuity import baton, daemon

    warnings: list[str] = []
    try:
        ctx = ctx_for(request, warnings)
        st = status.status(ctx)
        daemons = daemon.list_(ctx, all_=True)
        batons = baton.show_all(ctx, history=True)
    except FlowerError as e:
        return failed(request, e)
    return show(request, "fleet.html", st=st, daemons=daemons, batons=batons, warnings=warnings)


def signals(request: Request) -> Response:
    from flowergit.ops.continuity import signals as ops

    warnings: list[str] = []
    try:
        items = ops.list_(ctx_for(request, warnings))
    except FlowerError as e:
        return failed(request, e)
    return show(request, "signals.html", items=items[-500:][::-1], total=len(items),
                warnings=warnings)


def events(request: Request) -> Response:
    return EventSourceResponse(change_stream(web_state(request).watcher), ping=15)

