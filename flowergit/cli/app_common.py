"""What every typer declaration shares: context settings, the common options, and :func:`fast`.

Imported only where commands are declared (inside ``register``), never on the fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
JSON = typer.Option(False, "--json", help="Print one JSON document: {version, ok, data|error}.")
PORCELAIN = typer.Option(False, "--porcelain",
                         help="Stable tab-separated fields, one record per line (for scripts).")
LIMIT = typer.Option(None, "--limit", "-n", metavar="N",
                     help="Show at most N records (the number left out goes to stderr).")


def format_option(example: str) -> Any:
    """``--format FMT`` with an example that runs on this command (its own fields)."""
    return typer.Option(None, "--format", metavar="FMT",
                        help="Print each record through FMT: %(field), %% and %xx as in "
                             f"git for-each-ref, e.g. '{example}'.")


FORMAT = format_option("%(id)%09%(status)")

F = TypeVar("F", bound=Callable[..., Any])

FAST_ATTR = "__flower_fast__"


def fast(handler: Callable[..., int]) -> Callable[[F], F]:
    """Mark a typer command as served by the fast path, with ``handler``.

    ``handler`` is the typer-free function the command's body calls, taking the command's
    parameters as keywords; ``scripts/gen_docs.py`` writes the command's declaration into
    ``cli/fastspec.py`` with the handler's dotted name, and ``tests/test_fast_path.py`` proves
    both paths hand it the same keywords.
    """
    def mark(command: F) -> F:
        setattr(command, FAST_ATTR, f"{handler.__module__}:{handler.__name__}")
        return command
    return mark
