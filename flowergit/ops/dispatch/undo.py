"""How a failing dispatch takes back what it made: one stack of undo steps.

Each step of a dispatch that makes something (a git process started, a worktree and branch on
their way, a supervisor spawned, an attempt claimed) pushes how to take it back. Should a later
step fail, the stack runs newest first, each undo on its own (one that fails does not stop the
others), and the error goes on. What passes to someone else (a supervisor once a record names
it, a new worktree once the attempt is claimed) is dropped from the stack there.

A class of its own rather than ``contextlib.ExitStack``: nothing on dispatch's path loads
``contextlib`` before the worktree add has started (tests/test_dispatch.py).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Step = Callable[[BaseException], object]


class Undo:
    """``with Undo() as undo:`` … ``undo.push(step)``: on an error leaving the block, every
    step still pushed is called with that error, newest first."""

    __slots__ = ("_steps",)

    def __init__(self) -> None:
        self._steps: list[Step] = []

    def push(self, step: Step) -> Step:
        self._steps.append(step)
        return step

    def drop(self, step: Step) -> None:
        """Forget ``step``: what it would take back is someone else's now."""
        self._steps = [s for s in self._steps if s is not step]

    def run(self, error: BaseException) -> None:
        while self._steps:
            step = self._steps.pop()
            try:
                step(error)
            except Exception:  # noqa: BLE001, S110 - the other undos still run; the error goes on
                pass

    def __enter__(self) -> Undo:
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if error is not None:
            self.run(error)
