"""Agent profiles: built-ins, the profiles of ``.flower.toml``, argv rendering and environment.

A profile's command is an argv list. The placeholders ``{bootstrap}``, ``{packet}``, ``{brief}``
and ``{worktree}`` fill *whole* argv elements by exact-match replacement: the value is put in as
it is and never parsed again (no ``str.format``, no shell). A placeholder that is only part of
an element is refused up front, so nothing is ever silently left unexpanded.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

from flowergit.errors import UsageError

PLACEHOLDERS = ("{bootstrap}", "{packet}", "{brief}", "{worktree}")
MAX_BOOTSTRAP = 1023  # bytes; the whole argv stays small whatever the brief's size
_PLACEHOLDER_LIKE = r"\{[A-Za-z_][A-Za-z0-9_]*\}"  # (regular expressions: compiled on use)

# Environment variables an agent never inherits: git's per-repository variables (they would
# point the agent's git at the dispatcher's repository), flower's own per-agent variables of
# whoever dispatched (an agent dispatching another brief), and test switches.
_DROP_PREFIX_EXACT = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR", "GIT_LITERAL_PATHSPECS",
    "GIT_GLOB_PATHSPECS", "GIT_NOGLOB_PATHSPECS", "GIT_ICASE_PATHSPECS",
    "FLOWER", "FLOWER_PACKET", "FLOWER_BRIEF", "FLOWER_DISPATCH", "FLOWER_WORKTREE",
    "FLOWER_DAEMON", "FLOWER_FAILPOINTS",
)


def _config_pair(key: str) -> bool:
    """Is ``key`` one of git's ``GIT_CONFIG_KEY_<n>`` / ``GIT_CONFIG_VALUE_<n>``?"""
    for prefix in ("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"):
        if key.startswith(prefix):
            n = key[len(prefix):]
            return bool(n) and n.isascii() and n.isdigit()
    return False


class Profile:
    """An agent profile (a plain class: this module is on the dispatch hot path)."""

    __slots__ = ("builtin", "command", "env", "name", "timeout")

    def __init__(self, name: str, command: tuple[str, ...], env: Mapping[str, str] | None = None,
                 timeout: float | None = None, builtin: bool = True) -> None:
        self.name = name
        self.command = command
        self.env: Mapping[str, str] = env or {}
        self.timeout = timeout
        self.builtin = builtin  # False: from .flower.toml, so it runs only once that file is trusted

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "command": list(self.command), "env": dict(self.env),
                "timeout": self.timeout, "builtin": self.builtin}


def builtins() -> dict[str, Profile]:
    py = sys.executable or "python3"
    return {
        # the embedded default: run the brief's `run` steps in the worktree and commit the result
        "script": Profile("script", (py, "-m", "flowergit.ops.script_agent", "{brief}", "{worktree}")),
        "codex": Profile("codex", ("codex", "exec", "--sandbox", "workspace-write", "{bootstrap}")),
        "claude": Profile("claude", ("claude", "-p", "{bootstrap}")),
    }


def check_command(name: str, command: Sequence[str]) -> None:
    """Refuse a placeholder that is not a whole element, and unknown whole-element ones."""
    for arg in command:
        if arg in PLACEHOLDERS or "{" not in arg:
            continue
        import re

        m = re.search(_PLACEHOLDER_LIKE, arg, re.ASCII)
        if m is None:
            continue
        if arg == m.group():
            raise UsageError(f"[agents.{name}] command: unknown placeholder {arg}",
                             "placeholders are " + ", ".join(PLACEHOLDERS))
        if m.group() in PLACEHOLDERS:
            raise UsageError(f"[agents.{name}] command: {m.group()} must be a whole argv element, "
                             f"not part of {arg!r}",
                             f'write it as its own element, e.g. ["prog", "--prompt", "{m.group()}"]')


def resolve(name: str, configured: Mapping[str, Mapping[str, Any]]) -> Profile:
    """The profile called ``name``: the config's own wins over a built-in of the same name."""
    if name in configured:
        prof = configured[name]
        command = tuple(prof["command"])
        check_command(name, command)
        timeout = prof.get("timeout")
        return Profile(name, command, dict(prof.get("env", {})),
                       float(timeout) if timeout is not None else None, builtin=False)
    got = builtins().get(name)
    if got is None:
        known = sorted({*builtins(), *configured})
        raise UsageError(f"no agent profile named {name!r}",
                         "known profiles: " + ", ".join(known)
                         + '; add one as [agents.NAME] command = [...] in .flower.toml')
    return got


def bootstrap_line(packet: str) -> str:
    """The one line an agent's argv carries; always under 1 KiB."""
    line = f"Read {packet} and follow it."
    if len(line.encode("utf-8", "surrogateescape")) > MAX_BOOTSTRAP:
        line = "Read the file named in the FLOWER_PACKET environment variable and follow it."
    return line


def render_argv(command: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Fill whole-element placeholders; values are data and are never re-parsed."""
    out: list[str] = []
    for arg in command:
        if arg in values:
            val = values[arg]
            if val.startswith("-"):
                raise UsageError(f"placeholder {arg} would become an option ({val[:40]!r})")
            out.append(val)
        else:
            out.append(arg)
    return out


def agent_env(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The agent's environment: ``base`` without git's per-repository variables or another
    agent's FLOWER_* variables, then the profile's env, then ``extra`` (FLOWER_*)."""
    drop = set(_DROP_PREFIX_EXACT)
    env = {k: v for k, v in base.items() if k not in drop and not _config_pair(k)}
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env.update(extra)
    return env

