"""The fast path: hot commands without typer, click, argparse, rich, tomlkit or pygit2.

The commands it serves, their options and their handlers come from ``cli/fastspec.py``, a table
GENERATED from the typer declarations (``scripts/gen_docs.py``), so there is one declaration per
command. :func:`parse` reads the forms it can read exactly as click would and returns the same
keywords typer would pass the command; anything else (``-h``, an unknown option, a missing
value, a bad number, a short option with its value attached, ``-abc``) returns None and the
typer app takes the command, so help and usage errors stay in one place.
``tests/test_fast_path.py`` proves the two readings agree, command by command.
"""

from __future__ import annotations

from flowergit.cli.fastspec import ROWS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HELP = ("-h", "--help")
_CONV: dict[str, Any] = {"": str, "int": int, "float": float}


def parse(row: tuple[Any, ...], args: list[str]) -> dict[str, Any] | None:
    """The keywords for the row's handler from ``args`` (after the command words), or None."""
    _, arguments, options, defaults, loose = row
    kw = dict(defaults)
    multi: dict[str, list[Any]] = {}
    pos: list[str] = []
    i, n, only_args = 0, len(args), False
    while i < n:
        a = args[i]
        i += 1
        if only_args or a[:1] != "-" or a == "-":
            pos.append(a)
            continue
        if a == "--":
            only_args = True
            continue
        name, eq, value = a.partition("=") if a[:2] == "--" else (a, "", "")
        opt = options.get(name)
        if opt is None:
            if not loose or name in HELP or (a[:2] != "--" and any(
                    "-" + c in options or "-" + c in HELP for c in a[1:])):
                return None
            pos.append(a)  # ignore_unknown_options: an unknown option is an argument
            continue
        dest, kind, conv = opt
        if kind == "on" or kind == "off":
            if eq:
                return None
            kw[dest] = kind == "on"
            continue
        if not eq:
            if i >= n:
                return None
            value = args[i]
            i += 1
        try:
            got = _CONV[conv](value)
        except ValueError:
            return None
        if kind == "multi":
            multi.setdefault(dest, []).append(got)
        else:
            kw[dest] = got
    kw.update(multi)
    for dest, nargs, required, conv in arguments:
        if not pos:
            if required:
                return None
            continue
        try:
            if nargs == 1:
                kw[dest] = _CONV[conv](pos.pop(0))
            else:
                kw[dest] = [_CONV[conv](p) for p in pos]
                pos = []
        except ValueError:
            return None
    return None if pos else kw


def run(argv: list[str]) -> int | None:
    """Serve a hot command, or return None to hand it to the typer app."""
    words = tuple(argv[:2])
    row = ROWS.get(words)
    if row is None:
        words = words[:1]
        row = ROWS.get(words)
        if row is None:
            return None
    kw = parse(row, argv[len(words):])
    if kw is None:
        return None
    module, _, func = row[0].partition(":")
    handler = getattr(__import__(module, fromlist=[func]), func)
    rc: int = handler(**kw)
    return rc
