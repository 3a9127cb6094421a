"""The actions (POST): each is the ops call its CLI command makes, with the same refusals.

| page action | CLI | ops |
|---|---|---|
| new brief | ``brief new TITLE -m SPEC --kind K`` | ``ops.briefs.new`` |
| edit | ``brief edit N`` | ``ops.briefs.replace`` (what ``brief edit`` writes once the editor closes) |
| plan | ``brief plan N`` | ``ops.briefs.plan`` |
| dispatch | ``dispatch N [--agent A]`` | ``ops.dispatch.dispatch`` |
| rework | ``dispatch N --rework`` | ``ops.dispatch.dispatch(rework=True)`` |
| stop | ``stop N.k`` | ``ops.dispatch.workers.stop`` |
| send | ``send N.k TEXT [--key K] [--enter]`` | ``ops.dispatch.workers.send`` |
| merge | ``merge N [--no-test] [--dry-run] [--force]`` | ``ops.merge.merge`` (in a job: :mod:`.jobs`) |

The session gate (:mod:`.security`) has let the request in. A form posted by htmx gets, on
success, ``HX-Redirect`` to the page to look at next, and on a refusal the error as a fragment
with the HTTP status of its code; a plain form post gets a 303 redirect or the error page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from flowergit.errors import FlowerError, UsageError
from flowergit.ops.context import Ctx
from flowergit.web import render
from flowergit.web.state import STATUS, web_state


async def act(request: Request, op: Callable[[Ctx, dict[str, str]], str]) -> Response:
    """Read the form, run ``op`` (one ops call; it returns the URL to show next) in a worker
    thread, one action of this server at a time, and answer."""
    st = web_state(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    warnings: list[str] = []

    def run() -> str:
        with st.acting:
            return op(Ctx(st.cwd, warn=warnings.append).load(), form)

    htmx = request.headers.get("hx-request") == "true"
    try:
        url = await run_in_threadpool(run)
    except FlowerError as e:
        status = STATUS.get(e.code, 500)
        if htmx:
            return HTMLResponse(render.page("error_box.html", error=e.to_json()),
                                status_code=status)
        return HTMLResponse(render.page("error.html", error=e.to_json(), title="refused",
                                        csrf=st.session.csrf, live_url="", path="", version="",
                                        warnings=warnings), status_code=status)
    if htmx:
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def brief_of(request: Request) -> int:
    from flowergit.state.ids import brief_id

    return brief_id(request.path_params["n"])


def target_of(request: Request) -> str:
    from flowergit.ops.dispatch.workers import parse_target

    text = request.path_params["did"]
    parse_target(text)  # the id grammar: refused before any use
    return str(text)


def flag(form: dict[str, str], name: str) -> bool:
    return form.get(name, "") in ("1", "on", "true", "yes")


# -- the actions --------------------------------------------------------------------------
async def new_brief(request: Request) -> Response:
    def op(ctx: Ctx, form: dict[str, str]) -> str:
        from flowergit.ops import briefs

        made = briefs.new(ctx, title=form.get("title", ""),
                          body=form.get("spec", "").replace("\r\n", "\n").encode("utf-8"),
                          kind=form.get("kind") or "brief", auto=flag(form, "auto"))
        return f"/briefs/{made['id']}"

    return await act(request, op)


async def edit_brief(request: Request) -> Response:
    def op(ctx: Ctx, form: dict[str, str]) -> str:
        import hashlib

        from flowergit.errors import Conflict
        from flowergit.ops import briefs

        n = brief_of(request)
        raw = briefs.raw(ctx, n)
        if not form.get("was") or hashlib.sha256(raw).hexdigest() != form["was"]:
            raise Conflict(f"brief {n} changed since this page was opened; nothing written",
                           "open its edit page again")
        briefs.replace(ctx, n, form.get("text", "").replace("\r\n", "\n").encode("utf-8"),
                       was=raw)
        return f"/briefs/{n}"

    return await act(request, op)


async def plan(request: Request) -> Response:
    def op(ctx: Ctx, form: dict[str, str]) -> str:
        from flowergit.ops import briefs

        n = brief_of(request)
        briefs.plan(ctx, n)
        return f"/briefs/{n}"

    return await act(request, op)


def _dispatch(request: Request, *, rework: bool) -> Callable[[Ctx, dict[str, str]], str]:
    def op(ctx: Ctx, form: dict[str, str]) -> str:
        from flowergit.ops import dispatch as ops

        n = brief_of(request)
        res: dict[str, Any] = ops.dispatch(ctx, n, agent=form.get("agent") or None,
                                           rework=rework)
        return f"/attempts/{res.get('id') or n}"

    return op


async def dispatch(request: Request) -> Response:
    return await act(request, _dispatch(request, rework=False))


async def rework(request: Request) -> Response:
    return await act(request, _dispatch(request, rework=True))


async def stop(request: Request) -> Response:
    def op(ctx: Ctx, form: dict[str, str]) -> str:
        from flowergit.ops.dispatch import workers

        did = target_of(request)
        workers.stop(ctx, did)
        return f"/attempts/{did}"

    return await act(request, op)


async def send(request: Request) -> Response:
    def op(ctx: Ctx, form: dict[str, str]) -> str:
        from flowergit.ops.dispatch import workers

        did = target_of(request)
        keys = [k for k in form.get("keys", "").split() if k]
        workers.send(ctx, did, form.get("text", ""), enter=flag(form, "enter"), keys=keys)
        return f"/attempts/{did}"

    return await act(request, op)


async def merge(request: Request) -> Response:
    st = web_state(request)

    def op(ctx: Ctx, form: dict[str, str]) -> str:
        from flowergit.ops import pending

        n = brief_of(request)
        if flag(form, "dry_run") and flag(form, "no_test"):
            raise UsageError("a dry run runs no suite: leave one of the two unchecked")
        pending.refuse_if_pending(ctx)  # what the merge itself checks first, before a job
        st.jobs.start(n, no_test=flag(form, "no_test"), dry_run=flag(form, "dry_run"),
                      force=flag(form, "force"))
        return f"/merge/{n}"

    return await act(request, op)
