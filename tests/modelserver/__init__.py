"""A scripted model server for end-to-end tests of real agent CLIs.

It speaks, streamed over server-sent events as the real services do, the OpenAI Responses API
(``POST /v1/responses``: the Codex CLI), the Anthropic Messages API (``POST /v1/messages``:
Claude Code) and the Gemini API (``POST /v1beta/models/M:streamGenerateContent``: Gemini CLI).
A test hands it a *script*, a list of turns (:func:`shell`, :func:`write`, :func:`edit`,
:func:`say`); each request of the agent's main loop is answered with the next turn, rendered
as that API's own tool call, and every request is recorded for the test to inspect.
"""

from __future__ import annotations

from modelserver.script import Turn, edit, read, say, shell, write
from modelserver.server import ModelServer, Request

__all__ = ["ModelServer", "Request", "Turn", "edit", "read", "say", "shell", "write"]
