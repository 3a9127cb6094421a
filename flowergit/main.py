"""Entry point and the one error boundary.

Hot commands (``brief list/show/new``, …) are served by :mod:`flowergit.cli.fast` with the
standard library only, from a table generated out of the typer declarations; everything else,
and every ``-h``, goes to the typer app. Either way an
expected failure becomes ``fatal: …`` / ``hint: …`` on stderr (and the ``--json`` error envelope
on stdout) with the exit code from DESIGN.md; an unexpected one is exit 1.
"""

from __future__ import annotations

import os
import sys

from flowergit.errors import Exit, FlowerError, ResourceExhausted, exhausted, resource_kind


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    json_mode = "--json" in args
    try:
        args = global_options(args)
        from flowergit.cli import fast

        if not args and _in_repository():  # `git flower` alone, in a repository: its status
            args = ["status"]
        rc = fast.run(args)
        if rc is None:
            from flowergit.cli.app import run

            rc = run(args)
        _flush()
        return rc
    except FlowerError as e:
        from flowergit.render.output import emit_error

        if isinstance(e, ResourceExhausted):
            e.during(_operation(args))
        emit_error(e, json_mode)
        _flush()
        return int(e.exit)
    except KeyboardInterrupt:
        sys.stderr.write("fatal: interrupted\n")
        return int(Exit.INTERRUPTED)
    except BrokenPipeError:
        # the reader went away (`git flower brief list | head`): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as e:  # noqa: BLE001 - the boundary
        kind = resource_kind(e)
        if kind is not None:  # the disk, a quota, descriptors or a size limit ran out: exit 75
            from flowergit.render.output import emit_error

            err = exhausted(kind, getattr(e, "filename", None) or os.getcwd())
            err.during(_operation(args))
            try:
                emit_error(err, json_mode)
                _flush()
            except OSError:
                pass
            return int(err.exit)
        if os.environ.get("GIT_FLOWER_TRACE"):
            import traceback

            traceback.print_exc()
        from flowergit.render.output import emit_error

        emit_error(FlowerError(f"internal error: {type(e).__name__}: {e}",
                               "this is a bug in git flower; rerun with GIT_FLOWER_TRACE=1 "
                               "for the traceback and report it"), json_mode)
        return int(Exit.INTERNAL)


def global_options(args: list[str]) -> list[str]:
    """Take ``--color WHEN`` and ``--no-pager`` from anywhere before ``--`` (they are options
    of every command, as in git); return the rest."""
    if "--no-pager" not in args and not any(a.startswith("--color") for a in args):
        return args
    from flowergit.errors import UsageError
    from flowergit.render import output

    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            rest += args[i - 1:]
            break
        if a == "--no-pager":
            output.NO_PAGER = True
            continue
        if a == "--color" or a.startswith("--color="):
            if a == "--color":
                if i >= len(args):
                    raise UsageError("--color needs a value: auto, always or never",
                                     "e.g. `git flower brief list --color never`")
                value = args[i]
                i += 1
            else:
                value = a.partition("=")[2]
            if value not in ("auto", "always", "never"):
                raise UsageError(f"--color must be auto, always or never, not {value!r}",
                                 "e.g. `git flower brief list --color never`")
            output.COLOR = value
            continue
        rest.append(a)
    return rest


def _in_repository() -> bool:
    from flowergit.errors import UsageError
    from flowergit.gitio.repo import discover

    try:
        discover(os.getcwd())
    except UsageError:
        return False
    return True


def _operation(args: list[str]) -> str:
    """``git flower brief new``: the command words of ``args`` (its first two non-options)."""
    words = [a for a in args if not a.startswith("-")][:2]
    return " ".join(["git flower", *words])


def _flush() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def entry() -> None:
    rc = main()
    if "typer" in sys.modules:  # the full app ran: a normal exit, whatever it left to finish
        sys.exit(rc)
    # A command served by the fast path leaves its files closed and its output written (main
    # flushed it), and registers nothing to run at exit: skip tearing the interpreter down
    # module by module, a few ms that every hot command and every dispatch would wait for.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(rc)
