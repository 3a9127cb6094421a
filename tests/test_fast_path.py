"""The argparse-free reading of the hottest commands agrees with their argparse parsers, and
declines (to argparse, then typer) every form it does not fully understand."""

from __future__ import annotations

import pytest

from flowergit.cli import fast

AGREE = [
    ["brief", "list"], ["brief", "list", "--json"], ["brief", "list", "--status", "planned", "--json"],
    ["brief", "ls", "--kind", "bug"],
    ["brief", "show", "12"], ["brief", "show", "12", "--json"], ["brief", "show", "--json", "#7"],
    ["brief", "new", "Title"], ["brief", "new", "Title", "-m", "body", "--json"],
    ["brief", "new", "T", "--body-file", "-", "--kind", "bug", "--auto", "--agent", "codex",
     "--depends", "3", "--depends", "4", "--remote", "origin", "--offline"],
    ["brief", "new", "T", "-F", "spec.md"],
    ["signal", "claim", "--next", "--kind", "probe", "--json"], ["signal", "claim", "SIG-1"],
    ["signal", "claim", "--next", "--daemon", "7"],
]


@pytest.mark.parametrize("argv", AGREE, ids=lambda a: " ".join(a))
def test_simple_reading_matches_argparse(argv: list[str]) -> None:
    spec = fast.SIMPLE[tuple(argv[:2])]
    got = fast._simple(spec, argv[2:])
    assert got is not None
    parser, _ = fast.TABLE[tuple(argv[:2])]()
    want = parser.parse_args(argv[2:])
    assert vars(got) == {k: (v if v is not None or k != "depends" else []) for k, v in vars(want).items()}


DECLINE = [
    ["brief", "list", "--status=planned"], ["brief", "list", "--bogus"], ["brief", "show"],
    ["brief", "show", "1", "2"], ["brief", "show", "-rf"], ["brief", "new", "--", "--title"],
    ["brief", "new", "t", "-m", "-x"], ["brief", "new", "t", "-m"], ["brief", "list", "--jso"],
    ["signal", "claim", "a", "b"],
]


@pytest.mark.parametrize("argv", DECLINE, ids=lambda a: " ".join(a))
def test_unusual_forms_are_left_to_the_full_parsers(argv: list[str]) -> None:
    assert fast._simple(fast.SIMPLE[tuple(argv[:2])], argv[2:]) is None
