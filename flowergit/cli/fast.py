"""The fast path: hot commands without typer, rich, tomlkit or pygit2 (and, for the hottest, argparse).

Only the plain forms of the hot commands are handled here; anything else (``-h``, an unknown
option, a parse problem) returns None and the typer app takes the command, so help and usage
errors stay in one place. Both paths call the same ops function and the same renderer.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Handler = Callable[[Any], int]


class _Fallback(Exception):
    pass


class Args:
    """Parsed options as attributes (``types.SimpleNamespace`` without loading ``types``)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


_PARSER_CLASS: Any = None


def _parser(prog: str) -> Any:
    """An argparse parser that raises instead of exiting (argparse is imported only here)."""
    global _PARSER_CLASS
    import argparse

    if _PARSER_CLASS is None:
        class _Parser(argparse.ArgumentParser):
            def error(self, message: str) -> None:  # type: ignore[override]
                raise _Fallback(message)

        _PARSER_CLASS = _Parser

    def formatter(prog: str) -> argparse.HelpFormatter:
        # a fixed width: argparse's default asks shutil for the terminal size, and importing
        # shutil (with bz2, lzma, fnmatch) costs ~2 ms; help never comes from here anyway
        return argparse.HelpFormatter(prog, width=100)

    return _PARSER_CLASS(prog=prog, add_help=False, allow_abbrev=False, exit_on_error=False,
                         formatter_class=formatter)


def _brief_list(a: Any) -> int:
    from flowergit.cli import common
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx
    from flowergit.render import briefs as view

    items = briefs.list_(Ctx().load(), status=a.status, kind=a.kind)
    return common.emit(items, a.json, view.brief_list)


def _brief_show(a: Any) -> int:
    from flowergit.cli import common
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx
    from flowergit.render import briefs as view
    from flowergit.state.ids import brief_id

    bid = brief_id(a.id)
    return common.emit(briefs.show(Ctx().load(), bid), a.json, view.brief_show)


def _brief_new(a: Any) -> int:
    from flowergit.cli import common

    return common.brief_new(title=a.title, body_file=a.body_file, message=a.message, kind=a.kind,
                            auto=a.auto, agent=a.agent, depends=a.depends or [], json=a.json,
                            remote=a.remote, offline=a.offline)


def _list_parser() -> tuple[Any, Handler]:
    p = _parser("git flower brief list")
    p.add_argument("--status")
    p.add_argument("--kind")
    p.add_argument("--json", action="store_true")
    return p, _brief_list


def _show_parser() -> tuple[Any, Handler]:
    p = _parser("git flower brief show")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    return p, _brief_show


def _new_parser() -> tuple[Any, Handler]:
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


def _workers(name: str) -> Callable[[], tuple[Any, Handler]]:
    def make() -> tuple[Any, Handler]:
        from flowergit.cli import dispatch

        return dispatch.fast_parser(name, _parser)
    return make


def _signal_claim(a: Any) -> int:
    from flowergit.cli import common
    from flowergit.ops import signals
    from flowergit.ops.context import Ctx
    from flowergit.render import continuity as view

    got = signals.claim(Ctx(), a.id, next_=a.next, kind=a.kind, daemon=a.daemon)
    return common.emit(got, a.json, view.signal_claimed)


def _signal_claim_parser() -> tuple[Any, Handler]:
    p = _parser("git flower signal claim")
    p.add_argument("id", nargs="?")
    p.add_argument("--next", action="store_true")
    p.add_argument("--kind")
    p.add_argument("--daemon")
    p.add_argument("--json", action="store_true")
    return p, _signal_claim


def _status(a: Any) -> int:
    from flowergit.cli import dispatch

    return dispatch.run_status(json=a.json)


def _dispatch(a: Any) -> int:
    from flowergit.cli import dispatch

    return dispatch.run_dispatch(id=a.id, agent=a.agent, base=a.base, rework=a.rework,
                                 resume=a.resume, tmux=a.tmux, json=a.json)


def _hook_impl(a: Any) -> int:
    from flowergit.ops import hooks

    return hooks.run(a.event, list(a.args))


def _hook_impl_parser() -> tuple[Any, Handler]:
    p = _parser("git flower hook-impl")
    p.add_argument("event")
    p.add_argument("args", nargs="...")
    return p, _hook_impl


def _gate(name: str) -> Callable[[], tuple[Any, Handler]]:
    def make() -> tuple[Any, Handler]:
        from flowergit.cli import merge

        return merge.fast_parser(name, _parser)
    return make


# leading command words -> factory of (parser for the rest, handler). Other nouns add theirs.
TABLE: dict[tuple[str, ...], Callable[[], tuple[Any, Handler]]] = {
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


# The plain forms of the hottest commands, read without argparse (which, with the gettext and
# locale modules it loads, costs ~4.5 ms a call). Only exact option names followed by a value
# that does not start with "-" are taken; anything else — `--opt=value`, `--`, a value that looks
# like an option, an unknown option — goes to the argparse parsers below, unchanged.
# spec: (positional names, optional positional, {option: (kind, dest)}, defaults, handler)
_V, _F, _M = "value", "flag", "multi"
_LIST: tuple[Any, ...] = ((), None, {"--status": (_V, "status"), "--kind": (_V, "kind"), "--json": (_F, "json")},
         {}, _brief_list)
SIMPLE: dict[tuple[str, ...], tuple[Any, ...]] = {
    ("brief", "list"): _LIST,
    ("brief", "ls"): _LIST,
    ("brief", "show"): (("id",), None, {"--json": (_F, "json")}, {}, _brief_show),
    ("brief", "new"): (("title",), None, {
        "--body-file": (_V, "body_file"), "-F": (_V, "body_file"), "-m": (_V, "message"),
        "--message": (_V, "message"), "--kind": (_V, "kind"), "--auto": (_F, "auto"),
        "--agent": (_V, "agent"), "--depends": (_M, "depends"), "--remote": (_V, "remote"),
        "--offline": (_F, "offline"), "--json": (_F, "json")}, {"kind": "brief"}, _brief_new),
    ("signal", "claim"): ((), "id", {"--next": (_F, "next"), "--kind": (_V, "kind"),
                                     "--daemon": (_V, "daemon"), "--json": (_F, "json")},
                          {}, _signal_claim),
    ("status",): ((), None, {"--json": (_F, "json")}, {}, _status),
    ("dispatch",): (("id",), None, {"--agent": (_V, "agent"), "--base": (_V, "base"),
                                    "--rework": (_F, "rework"), "--resume": (_F, "resume"),
                                    "--tmux": (_F, "tmux"), "--json": (_F, "json")}, {}, _dispatch),
}


def _simple(spec: tuple[Any, ...], args: list[str]) -> Args | None:
    names, optional, options, defaults, _ = spec
    ns: dict[str, Any] = {dest: ([] if kind == _M else False if kind == _F else None)
                          for kind, dest in options.values()}
    ns.update(defaults)
    pos: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and a != "-":
            opt = options.get(a)
            if opt is None:
                return None
            kind, dest = opt
            if kind == _F:
                ns[dest] = True
            else:
                if i + 1 >= len(args) or (args[i + 1].startswith("-") and args[i + 1] != "-"):
                    return None
                i += 1
                if kind == _M:
                    ns[dest].append(args[i])
                else:
                    ns[dest] = args[i]
        else:
            pos.append(a)
        i += 1
    if not len(names) <= len(pos) <= len(names) + (1 if optional else 0):
        return None
    ns.update(zip(names, pos))
    if optional:
        ns[optional] = pos[len(names)] if len(pos) > len(names) else None
    return Args(**ns)


def run(argv: list[str]) -> int | None:
    """Serve a hot command, or return None to hand it to the typer app."""
    if not argv or any(a in ("-h", "--help") for a in argv):
        return None
    if argv[0] == "hook-impl" and len(argv) > 1 and not argv[1].startswith("-"):
        # what git passes a hook, as argparse reads it (an event, then everything as given)
        return _hook_impl(Args(event=argv[1], args=argv[2:]))
    words = 2 if tuple(argv[:2]) in SIMPLE else 1
    spec = SIMPLE.get(tuple(argv[:words]))
    if spec is not None:
        ns = _simple(spec, argv[words:])
        if ns is not None:
            handler: Handler = spec[4]
            return handler(ns)
    for n in (2, 1):
        factory = TABLE.get(tuple(argv[:n]))
        if factory is not None:
            break
    else:
        return None
    parser, handler = factory()
    import argparse

    try:
        parsed = parser.parse_args(argv[n:])
    except (_Fallback, argparse.ArgumentError):
        return None
    return handler(parsed)
