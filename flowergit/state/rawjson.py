"""JSON that is already serialised (e.g. the cached brief list), passed through untouched."""

from __future__ import annotations

from flowergit import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class RawJSON:
    """Serialised JSON, kept as the bytes or text it came in (the brief list cache hands over
    UTF-8 bytes — a view of the mapped cache file, or the pieces of a spliced array — which go
    to stdout without a decode and re-encode of megabytes)."""

    __slots__ = ("raw", "_value")

    def __init__(self, raw: str | bytes | memoryview | list[Any]) -> None:
        self.raw = raw
        self._value: Any = None

    def chunks(self) -> list[Any]:
        """The UTF-8 bytes as a list of bytes-like pieces, in order (nothing joined)."""
        if isinstance(self.raw, str):
            return [self.raw.encode("utf-8")]
        return self.raw if isinstance(self.raw, list) else [self.raw]

    def utf8(self) -> bytes:
        return b"".join(bytes(c) if isinstance(c, memoryview) else c for c in self.chunks())

    @property
    def text(self) -> str:
        return self.raw if isinstance(self.raw, str) else self.utf8().decode("utf-8")

    def value(self) -> Any:
        if self._value is None:
            self._value = fastjson.loads(self.utf8())
        return self._value
