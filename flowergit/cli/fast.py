"""The fast path: hot commands parsed with argparse, no typer, rich, tomlkit or pygit2.

Only the plain forms of the hot commands are handled here; anything else (``-h``, an unknown
option, a parse problem) returns None and the typer app takes the command, so help and usage
errors stay in one place. Both paths call the same ops function and the same renderer.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]


class _Fallback(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Fallback(message)


def _formatter(prog: str) -> argparse.HelpFormatter:
    # a fixed width: argparse's default asks shutil for the terminal size, and importing shutil
    # (with bz2, lzma, fnmatch) costs a hot command ~2 ms; help never comes from here anyway
    return argparse.HelpFormatter(prog, width=100)


def _parser(prog: str) -> _Parser:
    return _Parser(prog=prog, add_help=False, allow_abbrev=False, exit_on_error=False,
                   formatter_class=_formatter)


def _brief_list(a: argparse.Namespace) -> int:
    from flowergit.cli import common
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx

    from flowergit.render import briefs as view

    items = briefs.list_(Ctx().load(), status=a.status, kind=a.kind)
    return common.emit(items, a.json, view.brief_list)


def _brief_show(a: argparse.Namespace) -> int:
    from flowergit.cli import common
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx
    from flowergit.state.ids import brief_id

    from flowergit.render import briefs as view

    bid = brief_id(a.id)
    return common.emit(briefs.show(Ctx().load(), bid), a.json, view.brief_show)


def _brief_new(a: argparse.Namespace) -> int:
    from flowergit.cli import common

    return common.brief_new(title=a.title, body_file=a.body_file, message=a.message, kind=a.kind,
                            auto=a.auto, agent=a.agent, depends=a.depends or [], json=a.json,
                            remote=a.remote, offline=a.offline)


def _list_parser() -> tuple[_Parser, Handler]:
    p = _parser("git flower brief list")
    p.add_argument("--status")
    p.add_argument("--kind")
    p.add_argument("--json", action="store_true")
    return p, _brief_list


def _show_parser() -> tuple[_Parser, Handler]:
    p = _parser("git flower brief show")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    return p, _brief_show


def _new_parser() -> tuple[_Parser, Handler]:
    p = _parser("git flower brief new")
    p.add_argument("title")
    p.add_argument("--body-file", "-F", dest="body_file")
    p.add_argument("-m", "--message", dest="message")
    p.add_argument("--kind", default="brief")
    p.add_argument("--auto", action="store_true")
    p.add_argument("--agent")
    p.add_argument("--depends", action="append")
    p.add_argument("--remote")
    p.add_argument("--offline", action="store_true")
    p.add_argument("--json", action="store_true")
    return p, _brief_new


def _workers(name: str) -> Callable[[], tuple[_Parser, Handler]]:
    def make() -> tuple[_Parser, Handler]:
        from flowergit.cli import dispatch

        return dispatch.fast_parser(name, _parser)
    return make


def _signal_claim(a: argparse.Namespace) -> int:
    from flowergit.cli import common
    from flowergit.ops import signals
    from flowergit.render import continuity as view

    got = signals.claim(signals.Light(), a.id, next_=a.next, kind=a.kind, daemon=a.daemon)
    return common.emit(got, a.json, view.signal_claimed)


def _signal_claim_parser() -> tuple[_Parser, Handler]:
    p = _parser("git flower signal claim")
    p.add_argument("id", nargs="?")
    p.add_argument("--next", action="store_true")
    p.add_argument("--kind")
    p.add_argument("--daemon")
    p.add_argument("--json", action="store_true")
    return p, _signal_claim


def _hook_impl(a: argparse.Namespace) -> int:
    from flowergit.ops import hooks

    return hooks.run(a.event, list(a.args))


def _hook_impl_parser() -> tuple[_Parser, Handler]:
    p = _parser("git flower hook-impl")
    p.add_argument("event")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return p, _hook_impl


def _gate(name: str) -> Callable[[], tuple[_Parser, Handler]]:
    def make() -> tuple[_Parser, Handler]:
        from flowergit.cli import merge

        return merge.fast_parser(name, _parser)
    return make


# leading command words -> factory of (parser for the rest, handler). Other nouns add theirs.
TABLE: dict[tuple[str, ...], Callable[[], tuple[_Parser, Handler]]] = {
    ("brief", "list"): _list_parser,
    ("brief", "ls"): _list_parser,
    ("brief", "show"): _show_parser,
    ("brief", "new"): _new_parser,
    ("hook-impl",): _hook_impl_parser,
    ("signal", "claim"): _signal_claim_parser,
    ("dispatch",): _workers("dispatch"),
    ("status",): _workers("status"),
    ("ps",): _workers("ps"),
    ("wait",): _workers("wait"),
    ("merge",): _gate("merge"),
}


def run(argv: list[str]) -> int | None:
    """Serve a hot command, or return None to hand it to the typer app."""
    if not argv or any(a in ("-h", "--help") for a in argv):
        return None
    for n in (2, 1):
        factory = TABLE.get(tuple(argv[:n]))
        if factory is not None:
            break
    else:
        return None
    parser, handler = factory()
    try:
        ns = parser.parse_args(argv[n:])
    except (_Fallback, argparse.ArgumentError):
        return None
    return handler(ns)
