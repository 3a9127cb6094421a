"""The Starlette application: its state, the gate every request passes, the routes.

Every route reads or acts through ``flowergit.ops``, in-process, exactly as the CLI does: a
page calls the function the matching ``--json`` command calls, an action the function the
matching command runs (``brief new`` is ``ops.briefs.new``, ``dispatch`` is
``ops.dispatch.dispatch``, …), so the rules live in one place and a refusal carries the same
``code``, ``message`` and ``hint`` in the page as on the terminal. Blocking calls run in worker
threads; actions of this server run one at a time (``WebState.acting``); every other process
is kept apart as always, by compare-and-swap on the refs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from flowergit.web import actions, pages
from flowergit.web.jobs import Jobs
from flowergit.web.live import Watcher
from flowergit.web.security import COOKIE, CSRF_HEADER, Session, action_allowed, page_allowed
from flowergit.web.state import WebState

STATIC_DIR = __file__.rsplit("/", 1)[0] + "/static"
# what a page may load and do: only this server's own scripts, styles and streams
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class Gate:
    """ASGI middleware: the session check (security.py) before any route, and the headers that
    keep pages to themselves. Static files are public (nothing in them is the repository's)."""

    def __init__(self, app: ASGIApp, state: WebState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        req = Request(scope)
        set_cookie = False
        if not scope["path"].startswith("/static/"):
            s = self.state.session
            auth = req.headers.get("authorization")
            cookie = req.cookies.get(COOKIE)
            if req.method in ("GET", "HEAD"):
                query = req.query_params.get("token")
                ok = page_allowed(s, query_token=query, cookie=cookie, authorization=auth)
                set_cookie = ok and s.is_token(query) and not s.is_token(cookie)
            else:
                csrf = req.headers.get(CSRF_HEADER)
                if csrf is None:
                    body = await _read_body(receive)
                    if len(body) > MAX_BODY:
                        await PlainTextResponse("413 the form is too large",
                                                status_code=413)(scope, receive, send)
                        return
                    receive = _replay(body)
                    csrf = _form_field(req.headers.get("content-type", ""), body, "csrf")
                ok = action_allowed(s, cookie=cookie, csrf=csrf, authorization=auth,
                                    origin=req.headers.get("origin"),
                                    own_origins=same_origin(req.headers.get("host", "")))
            if not ok:
                resp = PlainTextResponse(
                    "403 forbidden: this needs the session token of `git flower web` "
                    "(open the URL it printed)", status_code=403)
                await resp(scope, receive, send)
                return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()),
                            (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
                            (b"x-content-type-options", b"nosniff"),
                            (b"cache-control", b"no-store")]
                if set_cookie:
                    headers.append((b"set-cookie", self.state.session.cookie_header().encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


MAX_BODY = 16 << 20  # a form: a brief's spec (4 MiB by default) and a few fields


async def _read_body(receive: Receive) -> bytes:
    body = b""
    more = True
    while more and len(body) <= MAX_BODY:
        msg = await receive()
        body += msg.get("body", b"")
        more = bool(msg.get("more_body", False))
    return body


def _form_field(content_type: str, body: bytes, name: str) -> str | None:
    """One field of a url-encoded form body, read ahead of the route (which reads it again)."""
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return None
    from urllib.parse import parse_qs

    got = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(name)
    return got[0] if got else None


def _replay(body: bytes) -> Receive:
    """A ``receive`` that hands the route the body the gate read."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _say(text: str) -> None:
    import sys

    sys.stderr.write(text + "\n")


async def reap_supervisors(every: float = 2.0) -> None:
    """The supervisors a dispatch from this server started run detached, but this server is
    still their parent: collect each one's exit status once it has ended (no zombies)."""
    import asyncio

    from flowergit.procs import spawn

    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(spawn.reap_detached)


def same_origin(host: str) -> set[str]:
    """The origins of a page served to a request for ``host`` (its Host header, which the
    trusted-host check has vetted on loopback): plain, or through a TLS proxy in front."""
    return {f"http://{host}", f"https://{host}"} if host else set()


def build(cwd: str, session: Session, *, hosts: list[str],
          poll: float = 0.25) -> Starlette:
    """The application for the repository at ``cwd``."""
    state = WebState(cwd, session, Watcher(cwd, poll=poll), Jobs(cwd))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        import asyncio

        task = asyncio.create_task(state.watcher.run())
        reaper = asyncio.create_task(reap_supervisors())
        try:
            yield
        finally:
            state.watcher.stop()
            task.cancel()
            reaper.cancel()
            # a second Ctrl-C (uvicorn's forced exit, server.py) stops the wait
            forced = getattr(app.state, "forced", lambda: False)
            await asyncio.to_thread(state.jobs.join, _say, forced)

    routes = [
        Route("/", pages.board),
        Route("/new", pages.new_brief),
        Route("/briefs/{n}", pages.brief),
        Route("/briefs/{n}/edit", pages.edit_brief),
        Route("/attempts/{did}", pages.worker),
        Route("/attempts/{did}/diff", pages.diff),
        Route("/attempts/{did}/log", pages.log_events),
        Route("/merge/{n}", pages.merge),
        Route("/merge/{n}/events", pages.merge_events),
        Route("/fleet", pages.fleet),
        Route("/signals", pages.signals),
        Route("/events", pages.events),
        Route("/static/highlight.css", pages.highlight_css),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        Route("/briefs", actions.new_brief, methods=["POST"]),
        Route("/briefs/{n}/edit", actions.edit_brief, methods=["POST"]),
        Route("/briefs/{n}/plan", actions.plan, methods=["POST"]),
        Route("/briefs/{n}/dispatch", actions.dispatch, methods=["POST"]),
        Route("/briefs/{n}/rework", actions.rework, methods=["POST"]),
        Route("/briefs/{n}/merge", actions.merge, methods=["POST"]),
        Route("/attempts/{did}/stop", actions.stop, methods=["POST"]),
        Route("/attempts/{did}/send", actions.send, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
                                Middleware(Gate, state=state)],
                    exception_handlers={404: pages.not_found})
    app.state.web = state
    return app


def warm(cwd: str) -> None:
    """Before the URL is printed: the briefs list cache filled (a cold one costs seconds at
    10,000 briefs, once) and the templates compiled, so the first page opens as fast as the
    next."""
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx
    from flowergit.web import render

    briefs.list_(Ctx(cwd, warn=lambda m: None).load())
    for name in render.env().list_templates():
        render.env().get_template(name)
