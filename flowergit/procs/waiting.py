"""Is an agent in a terminal waiting for an answer? Judged from what its screen shows.

:class:`Watcher` is pure: the supervisor feeds it a :class:`Screen` (from ``tmux capture-pane``)
every few tenths of a second, and it says whether the agent waits at a prompt, and which keys
to type when a profile's ``answers`` entry matches that prompt.

A screen's *prompt line* is its last non-empty line. The agent waits when that line matches one
of the profile's ``prompts``, one of :data:`DEFAULT_PROMPTS`, or — a guess — when it ends with
``?`` or ``:``, the cursor sits on it, and nothing on the screen has changed for ``silence``
seconds. One *appearance* of a prompt is its line at one place in the terminal's history with
the same lines above it; it ends when the cursor leaves that line's row (the answer was
entered), when another line becomes the last, or when the lines above change. An answer is
typed once per appearance, and an answered appearance is never reported as waiting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

# what interactive programs commonly print when they wait for a person (case-insensitive)
DEFAULT_PROMPTS = (
    r"\[y/n\]", r"\(y/n\)", r"\[yes/no\]", r"\(yes/no\)", r"Allow this command\?",
    r"Do you want to proceed\?", r"Press Enter", r"Press any key",
)
SILENCE = 5.0  # seconds of an unchanged screen before a line ending in ? or : counts as a question
SETTLE = 0.25  # seconds a prompt's screen must stay unchanged before an answer is typed


class Screen(NamedTuple):
    """What a pane shows: its lines, the absolute (history) row of the first one, and the
    absolute row of the cursor."""

    lines: tuple[str, ...]
    top: int
    cursor: int


class _Appearance:
    __slots__ = ("above", "answered", "cursor", "prompt", "row")

    def __init__(self, row: int, above: tuple[str, ...], cursor: int) -> None:
        self.row = row
        self.above = above
        self.cursor = cursor
        self.answered = False
        self.prompt: str | None = None  # the line as first seen waiting


class Watcher:
    """Feed it screens with :meth:`see`; read :attr:`waiting` (the prompt line, or None)."""

    def __init__(self, prompts: Sequence[str] = (),
                 answers: Sequence[tuple[str, Sequence[str]]] = (),
                 silence: float = SILENCE, settle: float = SETTLE) -> None:
        self.prompts = [re.compile(p) for p in prompts] + \
            [re.compile(p, re.IGNORECASE) for p in DEFAULT_PROMPTS]
        self.answers = [(re.compile(m), tuple(keys)) for m, keys in answers]
        self.silence = silence
        self.settle = settle
        self.waiting: str | None = None
        self._lines: tuple[str, ...] | None = None
        self._changed_at = 0.0
        self._app: _Appearance | None = None

    def see(self, screen: Screen, now: float) -> tuple[str, tuple[str, ...]] | None:
        """Take in one screen; returns (prompt line, keys) when an answer is to be typed now."""
        lines = tuple(ln.rstrip() for ln in screen.lines)
        if lines != self._lines:
            self._lines = lines
            self._changed_at = now
        idx = next((i for i in range(len(lines) - 1, -1, -1) if lines[i]), None)
        if idx is None:
            self._app = None
            self.waiting = None
            return None
        line = lines[idx]
        row = screen.top + idx
        above = lines[:idx]
        app = self._app
        if app is None or app.row != row or app.above != above:
            app = self._app = _Appearance(row, above, screen.cursor)
        elif screen.cursor != app.cursor:  # the answer was entered: the cursor left the row
            self.waiting = None
            return None
        if app.answered:
            self.waiting = None
            return None
        quiet = now - self._changed_at
        for pat, keys in self.answers:
            if pat.search(line):
                if quiet < self.settle:
                    self.waiting = None  # let the screen settle before typing
                    return None
                app.answered = True
                self.waiting = None
                return line, keys
        if app.prompt is None and self._is_prompt(line, row == screen.cursor, quiet):
            app.prompt = line
        self.waiting = app.prompt
        return None

    def _is_prompt(self, line: str, cursor_on_it: bool, quiet: float) -> bool:
        if any(p.search(line) for p in self.prompts):
            return True
        return (self.silence > 0 and quiet >= self.silence and cursor_on_it
                and line.endswith(("?", ":")))
