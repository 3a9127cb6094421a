"""JSON that is already serialised (e.g. the cached brief list), passed through untouched."""

from __future__ import annotations

import json
from typing import Any


class RawJSON:
    __slots__ = ("text", "_value")

    def __init__(self, text: str) -> None:
        self.text = text
        self._value: Any = None

    def value(self) -> Any:
        if self._value is None:
            self._value = json.loads(self.text)
        return self._value
