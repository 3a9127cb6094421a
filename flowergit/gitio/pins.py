"""What every git call that reads or writes a checkout pins, and how it names paths.

User config could change the behaviour of those calls (``core.fsmonitor``,
``submodule.recurse``, hooks, signing): :data:`SAFE` pins it. Paths go after ``--`` as literal
pathspecs (:func:`literal`), and ``-z`` output is split with :func:`split_z`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


# pinned for every call that reads or writes a checkout
SAFE = ("-c", "core.fsmonitor=false", "-c", "submodule.recurse=false",
        "-c", "core.hooksPath=/dev/null", "-c", "status.showUntrackedFiles=all",
        "-c", "commit.gpgSign=false")


def split_z(data: bytes) -> list[str]:
    """The NUL-separated paths of ``-z`` output."""
    return [p.decode("utf-8", "surrogateescape") for p in data.split(b"\0") if p]


def literal(paths: Iterable[str]) -> list[str]:
    return [":(literal)" + p for p in paths]
