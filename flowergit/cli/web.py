"""Top-level `git flower web`: the fleet in a browser (needs `git-flower[web]`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("web")
    def web(
        port: int = typer.Option(0, "--port", metavar="P",
                                 help="Port to listen on (default: any free port)."),
        open_: bool = typer.Option(False, "--open", help="Open the URL in a browser too."),
        host: str = typer.Option("127.0.0.1", "--host", metavar="ADDR",
                                 help="Address to listen on; other than loopback it needs "
                                      "--token-file."),
        token_file: str = typer.Option(None, "--token-file", metavar="FILE",
                                       help="Read the session token from FILE (32+ characters) "
                                            "instead of making a random one."),
    ) -> int:
        """Serve a local web app over the fleet: the board, briefs, live workers and their logs,
        diffs, merges, daemons, the baton and signals, with the same actions as the CLI. Prints
        the URL to open, which carries the session token; every request needs that token."""
        import os

        from flowergit.errors import Unsupported
        from flowergit.ops.context import Ctx

        ctx = Ctx().load()  # not a repository, a broken config: refuse before serving anything
        try:
            import jinja2  # noqa: F401
            import starlette  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError:
            raise Unsupported("the web app needs the optional `web` packages",
                              "pip install 'git-flower[web]' (or `pipx inject git-flower "
                              "starlette uvicorn sse-starlette jinja2 markdown-it-py pygments`)"
                              ) from None
        from flowergit.web import server

        cwd = ctx.repo.worktree or ctx.repo.main_worktree or os.getcwd()
        try:
            return server.serve(cwd, host=host, port=port, token_file=token_file,
                                open_browser=open_)
        except KeyboardInterrupt:
            return 0
