"""Who may read and act: the session token, its cookie, and the CSRF token of every action.

`git flower web` makes a random session token (or reads one from ``--token-file``) and prints
the URL that carries it. A request is let in when it carries the token:

- a page (GET) as ``?token=…`` in its URL (the URL printed), which also sets the session cookie
  (HttpOnly, SameSite=Strict, path /), or as that cookie, or as ``Authorization: Bearer …``;
- an action (POST) as the cookie *and* the CSRF token of the session (a form field ``csrf`` or
  the header ``X-Flower-CSRF``, which the pages' script adds to every htmx request), or as
  ``Authorization: Bearer …`` (a header no other site's page can make a browser send). A token
  in a POST's URL counts for nothing: a link someone else made must not act.

Anything else is refused with 403 before a handler runs, so nothing changes. An action whose
``Origin`` header is not the origin of the page it was sent to (the request's own Host) is
refused too. The CSRF token is an HMAC of the session
token, so it is the same on every page of one session and worthless in another.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie

from flowergit.errors import UsageError

COOKIE = "flower_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-flower-csrf"
MIN_TOKEN = 32  # characters of a token given with --token-file


def is_loopback(host: str) -> bool:
    """Is ``host`` a loopback name or address (127.0.0.0/8, ::1, localhost)?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token_file(path: str) -> str:
    """The token in ``path`` (its first line): at least 32 characters of letters, digits, ``-``
    and ``_``, so that it can go in a URL as it is."""
    try:
        with open(path, encoding="utf-8") as f:
            token = f.readline().strip()
    except OSError as e:
        raise UsageError(f"cannot read the token file {path}: {e.strerror}",
                         "e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(32))' "
                         "> token` and `--token-file token`") from None
    if len(token) < MIN_TOKEN or not all(c.isascii() and (c.isalnum() or c in "-_") for c in token):
        raise UsageError(f"the token in {path} must be {MIN_TOKEN} or more letters, digits, "
                         "'-' or '_'",
                         "e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(32))' "
                         f"> {path}`")
    return token


@dataclass(frozen=True)
class Session:
    """The secret of one running server."""

    token: str

    @classmethod
    def new(cls) -> Session:
        return cls(secrets.token_urlsafe(32))

    @property
    def csrf(self) -> str:
        return hmac.new(self.token.encode(), b"git flower web csrf", hashlib.sha256).hexdigest()

    def is_token(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), self.token.encode())

    def is_csrf(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given).encode(), self.csrf.encode())

    def cookie_header(self, secure: bool = False) -> str:
        """The ``Set-Cookie`` value that carries the session in this browser."""
        c: SimpleCookie = SimpleCookie()
        c[COOKIE] = self.token
        c[COOKIE]["httponly"] = True
        c[COOKIE]["samesite"] = "Strict"
        c[COOKIE]["path"] = "/"
        if secure:
            c[COOKIE]["secure"] = True
        return c.output(header="").strip()


def bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def page_allowed(s: Session, *, query_token: str | None, cookie: str | None,
                 authorization: str | None) -> bool:
    return s.is_token(query_token) or s.is_token(cookie) or s.is_token(bearer(authorization))


def action_allowed(s: Session, *, cookie: str | None, csrf: str | None,
                   authorization: str | None, origin: str | None, own_origins: set[str]) -> bool:
    if origin and origin not in own_origins:
        return False
    if s.is_token(bearer(authorization)):
        return True
    return s.is_token(cookie) and s.is_csrf(csrf)
