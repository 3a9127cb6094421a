"""`git flower mcp`: serve the core verbs as MCP tools over stdio (needs `git-flower[mcp]`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("mcp")
    def mcp(
        repo: str = typer.Option(None, "--repo", metavar="PATH",
                                 help="The repository to serve (default: the current directory)."),
    ) -> int:
        """Run an MCP server on stdin/stdout exposing briefs, dispatch, status, signals, baton,
        hand-off and merge as typed tools (same data as --json). Register it with an MCP client,
        e.g. `claude mcp add git-flower -- git flower mcp`."""
        import os

        from flowergit.errors import Unsupported
        from flowergit.ops.context import Ctx

        cwd = os.path.abspath(repo) if repo else os.getcwd()
        Ctx(cwd).load()  # not a repository, a broken config: refuse before serving anything
        try:
            import mcp  # noqa: F401
        except ImportError:
            raise Unsupported("the MCP server needs the optional `mcp` package",
                              "pip install 'git-flower[mcp]' (or `pipx inject git-flower mcp`)") from None
        from flowergit import mcp_server

        try:
            mcp_server.serve(cwd)
        except KeyboardInterrupt:
            return 0
        return 0
