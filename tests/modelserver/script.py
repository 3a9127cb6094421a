"""The turns of a model script: what the scripted model does on each request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    """One answer of the model. ``kind``: ``shell`` (``command``), ``write`` (``path``,
    ``content``), ``edit`` (``path``, ``old``, ``new``), ``read`` (``path``) or ``say``
    (``text``, the final message). Paths are relative to the agent's working directory (the
    server makes them absolute with the directory the agent reports, where a tool wants that).
    ``tokens``: the prompt size the server reports for this answer instead of its estimate (a
    context that fills up)."""

    kind: str
    command: str = ""
    path: str = ""
    content: str = ""
    old: str = ""
    new: str = ""
    text: str = ""
    tokens: int = 0


def shell(command: str) -> Turn:
    return Turn("shell", command=command)


def write(path: str, content: str) -> Turn:
    return Turn("write", path=path, content=content)


def edit(path: str, old: str, new: str) -> Turn:
    return Turn("edit", path=path, old=old, new=new)


def read(path: str) -> Turn:
    return Turn("read", path=path)


def say(text: str, tokens: int = 0) -> Turn:
    return Turn("say", text=text, tokens=tokens)
