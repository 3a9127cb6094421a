"""JSON that is already serialised (e.g. the cached brief list), passed through untouched."""

from __future__ import annotations

from flowergit import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class RawJSON:
    """Serialised JSON, kept as the bytes or text it came in (the brief list cache hands over
    UTF-8 bytes, which go to stdout without a decode and re-encode of megabytes)."""

    __slots__ = ("raw", "_value")

    def __init__(self, raw: str | bytes) -> None:
        self.raw = raw
        self._value: Any = None

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8") if isinstance(self.raw, bytes) else self.raw

    def utf8(self) -> bytes:
        return self.raw if isinstance(self.raw, bytes) else self.raw.encode("utf-8")

    def value(self) -> Any:
        if self._value is None:
            self._value = fastjson.loads(self.raw)
        return self._value
