"""One error tree for the whole tool.

Every expected failure is a :class:`FlowerError` carrying a stable ``code`` (the JSON
``error.code``), a one-line ``message`` and an optional ``hint``. The entry point is the only
place that turns them into exit codes and ``fatal:``/``hint:`` lines.
"""

from __future__ import annotations


class Exit:
    """The exit codes of DESIGN.md (plain ints: an ``IntEnum`` would load ``enum`` before the
    first git process of a command can start)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    TESTS_FAILED = 5
    UNSUPPORTED = 6
    RETRY = 75
    INTERRUPTED = 130


class FlowerError(Exception):
    code = "internal"
    exit = Exit.INTERNAL

    def __init__(self, message: str, hint: str | None = None, *, data: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.data = data

    def to_json(self) -> dict[str, object]:
        err: dict[str, object] = {"code": self.code, "message": self.message}
        if self.hint:
            err["hint"] = self.hint
        if self.data is not None:
            err["data"] = self.data
        return err


class UsageError(FlowerError):
    code = "usage"
    exit = Exit.USAGE


class NotFound(FlowerError):
    code = "not_found"
    exit = Exit.NOT_FOUND


class Conflict(FlowerError):
    code = "conflict"
    exit = Exit.CONFLICT


class TestsFailed(FlowerError):
    code = "tests_failed"
    exit = Exit.TESTS_FAILED


class Unsupported(FlowerError):
    code = "unsupported"
    exit = Exit.UNSUPPORTED


class Retry(FlowerError):
    code = "retry"
    exit = Exit.RETRY


class Interrupted(FlowerError):
    code = "interrupted"
    exit = Exit.INTERRUPTED
