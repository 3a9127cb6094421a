"""What the routes share: the server's state, and how an error's code becomes an HTTP status."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from starlette.requests import Request

from flowergit.web.jobs import Jobs
from flowergit.web.live import Watcher
from flowergit.web.security import Session


@dataclass
class WebState:
    cwd: str
    session: Session
    watcher: Watcher
    jobs: Jobs
    acting: threading.Lock = field(default_factory=threading.Lock)


def web_state(request: Request) -> WebState:
    st: WebState = request.app.state.web
    return st


# an error's code (errors.py) as the HTTP status of the page that shows it
STATUS = {"usage": 400, "not_found": 404, "conflict": 409, "tests_failed": 422,
          "unsupported": 501, "retry": 503, "interrupted": 500, "internal": 500}
