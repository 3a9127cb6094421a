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
    ["status"], ["status", "--json"],
    ["dispatch", "12"], ["dispatch", "12", "--json"], ["dispatch", "--json", "#7"],
    ["dispatch", "3", "--agent", "codex", "--base", "main", "--tmux", "--json"],
    ["dispatch", "3", "--rework", "--agent", "script"], ["dispatch", "3", "--resume"],
]


def words(argv: list[str]) -> int:
    """How many leading words name the command (as `fast.run` decides)."""
    return 2 if tuple(argv[:2]) in fast.SIMPLE else 1


@pytest.mark.parametrize("argv", AGREE, ids=lambda a: " ".join(a))
def test_simple_reading_matches_argparse(argv: list[str]) -> None:
    n = words(argv)
    spec = fast.SIMPLE[tuple(argv[:n])]
    got = fast._simple(spec, argv[n:])
    assert got is not None
    parser, _ = fast.TABLE[tuple(argv[:n])]()
    want = parser.parse_args(argv[n:])
    assert vars(got) == {k: (v if v is not None or k != "depends" else []) for k, v in vars(want).items()}


@pytest.mark.parametrize("argv", [["hook-impl", "post-commit"],
                                  ["hook-impl", "commit-msg", ".git/COMMIT_EDITMSG"],
                                  ["hook-impl", "pre-push", "origin", "-weird", "--json"]])
def test_hook_events_are_read_as_argparse_reads_them(argv: list[str]) -> None:
    parser, _ = fast.TABLE[("hook-impl",)]()
    want = parser.parse_args(argv[1:])
    assert (want.event, list(want.args)) == (argv[1], argv[2:])


DECLINE = [
    ["brief", "list", "--status=planned"], ["brief", "list", "--bogus"], ["brief", "show"],
    ["brief", "show", "1", "2"], ["brief", "show", "-rf"], ["brief", "new", "--", "--title"],
    ["brief", "new", "t", "-m", "-x"], ["brief", "new", "t", "-m"], ["brief", "list", "--jso"],
    ["signal", "claim", "a", "b"], ["status", "--bogus"], ["status", "now"],
    ["dispatch"], ["dispatch", "1", "2"], ["dispatch", "1", "--agent"], ["dispatch", "1", "--agent=x"],
    ["dispatch", "1", "--base", "-x"], ["dispatch", "1", "--", "--json"], ["dispatch", "-1"],
]


@pytest.mark.parametrize("argv", DECLINE, ids=lambda a: " ".join(a))
def test_unusual_forms_are_left_to_the_full_parsers(argv: list[str]) -> None:
    n = words(argv)
    assert fast._simple(fast.SIMPLE[tuple(argv[:n])], argv[n:]) is None
