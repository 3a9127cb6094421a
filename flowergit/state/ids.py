"""Typed ids, validated once at the edge with strict ASCII grammars (DESIGN.md rule 6).

Never ``int()`` raw input: Python's ``int`` accepts ``١٢`` and ``1_2``. Each grammar is checked
with ``re.fullmatch(..., re.ASCII)`` first; only then is the text converted.
"""

from __future__ import annotations

import re

from flowergit.errors import UsageError

_BRIEF = re.compile(r"[1-9][0-9]{0,8}", re.ASCII)
_DISPATCH = re.compile(r"([1-9][0-9]{0,8})\.([1-9][0-9]{0,3})", re.ASCII)
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}", re.ASCII)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}", re.ASCII)

BriefId = int


def _show(s: str) -> str:
    return repr(s) if s else "''"


def brief_id(text: str) -> BriefId:
    """Parse a brief id such as ``246`` (``#246`` is accepted too)."""
    s = text[1:] if text.startswith("#") else text
    if not _BRIEF.fullmatch(s):
        raise UsageError(f"invalid brief id {_show(text)}",
                         "brief ids are whole numbers from 1 to 999999999, such as 246")
    return int(s)


def dispatch_id(text: str) -> tuple[BriefId, int]:
    """Parse ``246.2`` into (246, 2)."""
    m = _DISPATCH.fullmatch(text)
    if not m:
        raise UsageError(f"invalid dispatch id {_show(text)}", "dispatch ids look like 246.1")
    return int(m[1]), int(m[2])


def is_brief_id(text: str) -> bool:
    return bool(_BRIEF.fullmatch(text))


def name(text: str, what: str = "name") -> str:
    """A profile, role or lane name: lower-case ASCII, digits, ``-`` and ``_``."""
    if not _NAME.fullmatch(text):
        raise UsageError(f"invalid {what} {_show(text)}",
                         f"a {what} is lower-case letters, digits, '-' and '_', starting with a letter")
    return text


def token(text: str, what: str = "id") -> str:
    """An opaque id such as a signal or daemon id, safe in a ref name and on a command line."""
    if not _TOKEN.fullmatch(text) or ".." in text or text.endswith(".lock"):
        raise UsageError(f"invalid {what} {_show(text)}",
                         f"a {what} is ASCII letters, digits, '.', '_' and '-'")
    return text


def is_token(text: str) -> bool:
    return bool(_TOKEN.fullmatch(text)) and ".." not in text and not text.endswith(".lock")
