"""git flower: run a fleet of coding agents on one repository, with all coordination state in git."""

from __future__ import annotations

__version__ = "0.1.0"
