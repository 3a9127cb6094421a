"""Typed ids, validated once at the edge with strict ASCII grammars (DESIGN.md rule 6).

Never ``int()`` raw input: Python's ``int`` accepts ``١٢`` and ``1_2``. Each grammar (a first
character from one ASCII set, then up to a length from another) is checked first; only then is
the text converted. The grammars, as regular expressions:

* brief ``[1-9][0-9]{0,8}``; dispatch ``<brief>.[1-9][0-9]{0,3}``;
* name ``[a-z][a-z0-9_-]{0,39}``; token ``[A-Za-z0-9][A-Za-z0-9._-]{0,79}``.

They are checked with string operations instead (``re`` costs a command ~8 ms to load, before
its first git process could start); a property test holds them to those expressions.
"""

from __future__ import annotations

from flowergit.errors import UsageError

_DIGITS = "0123456789"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ALNUM = _LOWER + _LOWER.upper() + _DIGITS


def _fits(s: str, first: str, rest: str, most: int) -> bool:
    """Does ``s`` match ``[first][rest]{0,most-1}`` (``first`` and ``rest`` sets of ASCII
    characters)?"""
    return 0 < len(s) <= most and s[0] in first and not s[1:].strip(rest)


# the numeric grammars as (first characters, later characters, most characters): checked here,
# and written into the git hook stubs at install (ops/setup/hooks.py), whose shell fast path uses them
BRIEF_GRAMMAR = ("123456789", _DIGITS, 9)
ATTEMPT_GRAMMAR = ("123456789", _DIGITS, 4)  # the attempt number after a dispatch id's dot


def _is_brief(s: str) -> bool:
    return _fits(s, *BRIEF_GRAMMAR)


def _is_name(s: str) -> bool:
    return _fits(s, _LOWER, _LOWER + _DIGITS + "_-", 40)


def _is_token_text(s: str) -> bool:
    return _fits(s, _ALNUM, _ALNUM + "._-", 80)

BriefId = int


def _show(s: str) -> str:
    return repr(s) if s else "''"


def brief_id(text: str) -> BriefId:
    """Parse a brief id such as ``246`` (``#246`` is accepted too)."""
    s = text[1:] if text.startswith("#") else text
    if not _is_brief(s):
        raise UsageError(f"invalid brief id {_show(text)}",
                         "brief ids are whole numbers from 1 to 999999999, such as 246")
    return int(s)


def dispatch_id(text: str) -> tuple[BriefId, int]:
    """Parse ``246.2`` into (246, 2)."""
    brief, dot, attempt = text.partition(".")
    if not (dot and _is_brief(brief) and _fits(attempt, *ATTEMPT_GRAMMAR)):
        raise UsageError(f"invalid dispatch id {_show(text)}", "dispatch ids look like 246.1")
    return int(brief), int(attempt)


def is_brief_id(text: str) -> bool:
    return _is_brief(text)


def name(text: str, what: str = "name") -> str:
    """A profile, role or lane name: lower-case ASCII, digits, ``-`` and ``_``."""
    if not _is_name(text):
        raise UsageError(f"invalid {what} {_show(text)}",
                         f"a {what} is lower-case letters, digits, '-' and '_', starting with a letter")
    return text


def token(text: str, what: str = "id") -> str:
    """An opaque id such as a signal or daemon id, safe in a ref name and on a command line."""
    if not _is_token_text(text) or ".." in text or text.endswith(".lock"):
        raise UsageError(f"invalid {what} {_show(text)}",
                         f"a {what} is ASCII letters, digits, '.', '_' and '-'")
    return text


def is_token(text: str) -> bool:
    return _is_token_text(text) and ".." not in text and not text.endswith(".lock")
