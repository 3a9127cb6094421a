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


# errno -> (what ran out, how to make room); ENOSPC 28, EDQUOT 122, EROFS 30, EMFILE 24,
# ENFILE 23, EFBIG 27 on Linux, read from `errno` when it is first needed
_RESOURCES = {
    "ENOSPC": ("no space left on the device", "free some space on {fs} (`df -h {fs}`)"),
    "EDQUOT": ("the disk quota is used up", "free some space in your quota on {fs}"),
    "EROFS": ("the file system is read-only",
              "make {fs} writable again (or work in a writable clone)"),
    "EMFILE": ("too many open files",
               "raise the open-file limit (`ulimit -n`) or close some programs"),
    "ENFILE": ("too many open files on this system", "close some programs"),
    "EFBIG": ("a file size limit was reached",
              "raise the file size limit (`ulimit -f`) or free some space on {fs}"),
}
# the same, as git's stderr says it (strerror text)
_STRERROR = (("No space left on device", "ENOSPC"), ("Out of diskspace", "ENOSPC"),
             ("Disk quota exceeded", "EDQUOT"),
             ("Read-only file system", "EROFS"), ("Too many open files in system", "ENFILE"),
             ("Too many open files", "EMFILE"), ("File too large", "EFBIG"))


class ResourceExhausted(Retry):
    """The disk, a quota, a writable file system, file descriptors or a file size limit ran
    out (ENOSPC, EDQUOT, EROFS, EMFILE/ENFILE, EFBIG): temporary, exit 75. The entry point names
    the command with :meth:`during`."""

    code = "resource_exhausted"
    kind = ""
    path: str | None = None
    step: str | None = None

    def describe(self, kind: str, path: str | None, step: str | None) -> None:
        self.kind, self.path, self.step = kind, path, step
        what, how = _RESOURCES[kind]
        fs = mount_of(path) if path else "the disk"
        where = "" if not path else f" (working in {path})" if kind in ("EMFILE", "ENFILE") \
            else f" writing {path}"
        by = f" ({step})" if step else ""
        self.message = f"{what}{where}{by}"
        self.hint = how.format(fs=fs) + " and run it again"
        self.args = (self.message,)

    def during(self, op: str) -> None:
        """Name the command that stopped (once)."""
        if op and not self.message.startswith(op + ": "):
            self.message = f"{op}: {self.message}"
            self.args = (self.message,)

    def to_json(self) -> dict[str, object]:
        err = super().to_json()
        err.setdefault("data", {"resource": self.kind, "path": self.path})
        return err


def resource_kind(err: BaseException | str) -> str | None:
    """The resource an OSError (by errno) or a git stderr text (by its strerror) says ran out."""
    if isinstance(err, str):
        return next((k for text, k in _STRERROR if text in err), None)
    if isinstance(err, OSError) and err.errno is not None:
        import errno

        return next((k for k in _RESOURCES if getattr(errno, k, None) == err.errno), None)
    return None


def exhausted(kind: str, path: str | None, step: str | None = None) -> ResourceExhausted:
    e = ResourceExhausted("")
    e.describe(kind, path, step)
    return e


def mount_of(path: str) -> str:
    """The mount point of the file system that holds ``path`` (or would hold it)."""
    import os

    p = os.path.abspath(path)
    while p != os.path.dirname(p) and not os.path.exists(p):
        p = os.path.dirname(p)
    while p != os.path.dirname(p) and not os.path.ismount(p):
        p = os.path.dirname(p)
    return p
