"""The fast path reads every command it serves exactly as the typer app does.

The fast path's table (``flowergit/cli/fastspec.py``) is generated from the typer declarations.
For every command in it, argv samples are built from the command's own declaration — each option
alone, all together, ``--opt=value``, repeated options, values that look like options, ``--``,
missing and extra arguments, unknown options, help — and each is parsed twice: by the fast
parser and by click (through the same context chain as ``git flower``) with typer's conversions.
The fast parser must either decline (None: the typer app takes the command) or produce exactly
the keywords typer passes the command function; the plain forms must not be declined.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import typer
from conftest import ROOT

from flowergit.cli import fast, fastgen, tree
from flowergit.cli.fastspec import ROWS

_TOP = tree.root()
_COMMANDS = dict(tree.walk(_TOP))


def _sample_value(conv: str, n: int) -> str:
    return {"int": str(n + 2), "float": f"{n}.5"}.get(conv, f"v{n}")


def samples(words: tuple[str, ...]) -> list[tuple[list[str], bool]]:
    """(argv after the command words, whether the fast path must serve it)."""
    _, arguments, options, _, loose = ROWS[words]
    pos: list[str] = []
    for i, (_, nargs, required, conv) in enumerate(arguments):
        if required:
            pos += [_sample_value(conv, i)] * (1 if nargs == 1 else 2)
    full_pos = [_sample_value(c, i) for i, (_, nargs, _, c) in enumerate(arguments)]
    out: list[tuple[list[str], bool]] = [(pos, True), (full_pos, True), (pos + ["extra"], False),
                                         (pos[:-1], False), (pos + ["--", "-x"], False),
                                         (["--", *pos], False), (pos + ["--bogus"], False),
                                         (pos + ["-z"], False), (pos + ["-h"], False),
                                         (["--help", *pos], False), (pos + [""], False),
                                         (pos + ["-"], False), (pos + ["--bogus=1"], False)]
    every: list[str] = []
    shorts = []
    for n, (token, (_, kind, conv)) in enumerate(options.items()):
        value = _sample_value(conv, n)
        if kind in ("on", "off"):
            out += [(pos + [token], True), ([token, *pos], True), (pos + [token, token], True),
                    (pos + [token + "=1"], False)]
            every.append(token)
            if len(token) == 2:
                shorts.append(token[1])
            continue
        out += [(pos + [token, value], True), ([token, value, *pos], True),
                (pos + [token, _sample_value(conv, 7), token, _sample_value(conv, 8)], True), (pos + [token], False),
                (pos + [token, "-x"], False), (pos + [token, "--json"], False), (pos + [token, "-h"], False),
                (pos + [token, "--"], False), (pos + [token, ""], False),
                (pos + [token, "bad"], False)]
        if token.startswith("--"):
            out += [(pos + [f"{token}={value}"], True), (pos + [f"{token}="], False),
                    (pos + [f"{token}=a=b"], False)]
        else:
            out += [(pos + [token + value], False), (pos + [f"{token}={value}"], False)]
        every += [token, value]
    out += [(pos + every, True), (every + pos, True)]
    if len(shorts) > 1:
        out.append((pos + ["-" + "".join(shorts)], False))
    if loose:
        out += [(pos + ["--json", "-weird", "--x=y"], True), (pos + ["-wh"], False)]
    return out


def typer_kwargs(words: tuple[str, ...], argv: list[str]) -> dict[str, Any] | None:
    """The keywords typer would pass the command function for ``argv``, or None if it refuses."""
    cmd = _COMMANDS[words]
    ctx = tree.context(_TOP, "git flower")
    node = _TOP
    for w in words[:-1]:
        node = node.commands[w]
        ctx = tree.context(node, w, ctx)
    try:
        got = cmd.make_context(words[-1], list(argv), parent=ctx)
    except (typer.TyperException, typer.Exit):
        return None
    if got.args:  # extra arguments the command allowed but would not see
        return None
    _, convertors, _ = typer.main.get_params_convertors_ctx_param_name_from_function(
        cmd.callback.__wrapped__)
    return {k: convertors[k](v) if k in convertors else v for k, v in got.params.items()}


@pytest.mark.parametrize("words", list(ROWS), ids=" ".join)
def test_both_paths_parse_the_command_identically(words: tuple[str, ...],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    row = ROWS[words]
    for argv, plain in samples(words):
        got = fast.parse(row, argv)
        want = typer_kwargs(words, argv)
        capsys.readouterr()  # help printed by click's -h
        if plain:
            assert want is not None, (argv, "a plain form typer refuses: fix the sample")
            assert got is not None, (argv, "the fast path declines a plain form")
        if got is None:
            continue
        assert want is not None, (argv, "the fast path accepts what typer refuses", got)
        assert got == want, argv
        assert [type(v) for v in got.values()] == [type(want[k]) for k in got], argv


@pytest.mark.parametrize("words", list(ROWS), ids=" ".join)
def test_the_handler_takes_the_commands_parameters(words: tuple[str, ...]) -> None:
    """The typer command and the fast path call the same function with the same keywords."""
    module, _, func = ROWS[words][0].partition(":")
    handler = getattr(__import__(module, fromlist=[func]), func)
    params = [p.name for p in _COMMANDS[words].params if p.expose_value]
    assert sorted(inspect.signature(handler).parameters) == sorted(params)
    assert "typer" not in (inspect.getmodule(handler).__dict__)  # type: ignore[union-attr]


def test_the_table_is_generated_from_the_current_declarations() -> None:
    assert fastgen.stale(str(ROOT)) == [], "run: python scripts/gen_docs.py"


def test_the_hot_commands_have_rows() -> None:
    hot = {("brief", "list"), ("brief", "show"), ("brief", "new"), ("signal", "claim"),
           ("status",), ("dispatch",), ("ps",), ("wait",), ("merge",), ("hook-impl",)}
    assert hot <= set(ROWS)


def test_a_declaration_the_fast_path_cannot_read_is_refused() -> None:
    app = typer.Typer()

    from flowergit.cli.app_common import fast as mark

    def handler(*, n: int) -> int:
        return n

    @app.command()
    @mark(handler)
    def cmd(n: int = typer.Option(0, "--n", min=0)) -> int:
        return handler(n=n)

    with pytest.raises(ValueError, match="no fast-path reading"):
        fastgen.row(("cmd",), typer.main.get_command(app))
