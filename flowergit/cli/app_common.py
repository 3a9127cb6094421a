"""Options shared by every typer sub-app."""

from __future__ import annotations

import typer

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
JSON = typer.Option(False, "--json", help="Print one JSON document: {version, ok, data|error}.")
