from __future__ import annotations

from flowergit.main import entry

entry()
