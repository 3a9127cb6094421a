"""Start the server: check the address, bind, print the URL, serve until Ctrl-C.

Loopback (127.0.0.1, ::1, localhost) is the default and needs nothing more: the random token
in the printed URL is the key. Any other address needs a token the user chose and keeps
(``--token-file``): a token printed to one terminal is no way to let someone on another
machine in, and an address others can reach is nothing to open by accident. The socket is
bound before anything is printed, so a port in use is a clear error, not a URL that does not
answer.
"""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Callable

from flowergit.errors import Conflict, UsageError
from flowergit.web.security import Session, is_loopback, read_token_file


def check_address(host: str, port: int, token_file: str | None) -> Session:
    """The session for serving on ``host:port``; refuses what must not be served."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be 0 to 65535, not {port}", "0 takes any free port")
    if not host or any(c.isspace() for c in host):
        raise UsageError(f"invalid --host {host!r}", "e.g. --host 127.0.0.1")
    if not is_loopback(host) and token_file is None:
        raise UsageError(
            f"--host {host} would let other machines reach the fleet; that needs explicit auth",
            "give --token-file FILE with a secret of 32+ characters (e.g. `python3 -c 'import "
            "secrets; print(secrets.token_urlsafe(32))' > FILE`), and put TLS in front of it; "
            "or leave --host out to serve on 127.0.0.1 only")
    return Session(read_token_file(token_file)) if token_file else Session.new()


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise Conflict(f"port {port} on {host} is in use",
                           "give another with --port P, or --port 0 for any free port") from None
        if e.errno == errno.EACCES:
            raise UsageError(f"not allowed to listen on port {port}",
                             "ports below 1024 need privileges; use a higher --port") from None
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror}",
                         "check --host names an address of this machine") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int, session: Session) -> str:
    shown = f"[{host.strip('[]')}]" if ":" in host.strip("[]") else host
    return f"http://{shown}:{port}/?token={session.token}"


def serve(cwd: str, *, host: str = "127.0.0.1", port: int = 0, token_file: str | None = None,
          open_browser: bool = False, say: Callable[[str], None] | None = None) -> int:
    """Serve the repository at ``cwd`` until interrupted."""
    import uvicorn

    from flowergit.web.app import build, warm

    session = check_address(host, port, token_file)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    names = {host.strip("[]")}
    if is_loopback(host):
        names |= {"127.0.0.1", "localhost", "::1"}
    hosts = sorted(names | {f"[{n}]" for n in names if ":" in n})
    app = build(cwd, session, hosts=hosts if is_loopback(host) else ["*"])
    warm(cwd)
    url = url_of(host, port, session)
    (say or _print)(f"git flower web: serving {cwd}\nopen {url}\n(Ctrl-C stops it)")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    app.state.forced = lambda: server.force_exit  # a second Ctrl-C: stop waiting for a merge
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
