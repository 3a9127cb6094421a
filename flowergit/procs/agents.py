"""Agent profiles: built-ins, the profiles of ``.flower.toml``, argv rendering and environment.

A profile's command is an argv list. The placeholders ``{bootstrap}``, ``{packet}``, ``{brief}``
and ``{worktree}`` fill *whole* argv elements by exact-match replacement: the value is put in as
it is and never parsed again (no ``str.format``, no shell). A placeholder that is only part of
an element is refused up front, so nothing is ever silently left unexpanded.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

from flowergit.errors import UsageError

PLACEHOLDERS = ("{bootstrap}", "{packet}", "{brief}", "{worktree}")
# a profile's `resume` command (the next turn of a session it started) takes one more
RESUME_PLACEHOLDERS = (*PLACEHOLDERS, "{session}")
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
    """An agent profile (a plain class: this module is on the dispatch hot path).

    ``pass_env``: when set, the agent's environment is a small base (PATH, HOME, locale, …)
    plus only the variables matching these names or ``NAME*`` prefixes, instead of everything
    the dispatcher has. ``transcript``: the structured output the agent writes to its log
    (``"claude"`` stream-json, ``"codex"`` exec --json, …), read for its model, tokens and
    cost. ``tmux``: run it in a terminal by default. ``prompts``: regular expressions that mark
    a line on its screen as a question waiting for an answer; ``answers``: (pattern, keys)
    pairs typed in when such a question appears. ``commit``: commit what the agent left in its
    worktree when it exits (agents whose sandbox forbids writing the repository's git data).
    ``price``: US dollars per million tokens (``input``, ``output``, ``cached_input``).
    ``resume``: the argv that gives a session the agent started a new turn (``{session}``: the
    session id its transcript reported); None when the agent has no such mode (a driven
    orchestrator then gets a fresh session per turn, with the scratchpad as its memory)."""

    __slots__ = ("answers", "builtin", "command", "commit", "env", "name", "pass_env", "price",
                 "prompts", "resume", "timeout", "tmux", "transcript")

    def __init__(self, name: str, command: tuple[str, ...], env: Mapping[str, str] | None = None,
                 timeout: float | None = None, builtin: bool = True, *,
                 pass_env: tuple[str, ...] | None = None, transcript: str | None = None,
                 tmux: bool = False, prompts: tuple[str, ...] = (),
                 answers: tuple[tuple[str, tuple[str, ...]], ...] = (), commit: bool = True,
                 price: Mapping[str, float] | None = None,
                 resume: tuple[str, ...] | None = None) -> None:
        self.name = name
        self.resume = resume
        self.command = command
        self.env: Mapping[str, str] = env or {}
        self.timeout = timeout
        self.builtin = builtin  # False: from .flower.toml, so it runs only once that file is trusted
        self.pass_env = pass_env
        self.transcript = transcript
        self.tmux = tmux
        self.prompts = prompts
        self.answers = answers
        self.commit = commit
        self.price: Mapping[str, float] = price or {}

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "command": list(self.command), "env": dict(self.env),
                "timeout": self.timeout, "builtin": self.builtin,
                "pass_env": list(self.pass_env) if self.pass_env is not None else None,
                "transcript": self.transcript, "tmux": self.tmux, "prompts": list(self.prompts),
                "answers": [{"match": m, "keys": list(k)} for m, k in self.answers],
                "commit": self.commit, "price": dict(self.price),
                "resume": list(self.resume) if self.resume is not None else None}

    def spec(self) -> dict[str, Any]:
        """What the supervisor needs of the profile besides the argv (the dispatch's start
        spec carries it, so a later change of the config does not change a running attempt)."""
        return {"agent": self.name, "transcript": self.transcript, "prompts": list(self.prompts),
                "answers": [[m, list(k)] for m, k in self.answers], "commit": self.commit,
                "price": dict(self.price),
                "pass_env": list(self.pass_env) if self.pass_env is not None else None}


def builtins() -> dict[str, Profile]:
    py = sys.executable or "python3"
    return {
        # the embedded default: run the brief's `run` steps in the worktree and commit the result
        "script": Profile("script", (py, "-m", "flowergit.ops.script_agent", "{brief}", "{worktree}")),
        # docs/agents.md tells what each may do and why. Codex: its sandbox lets it write the
        # worktree but never git's data (.git, the gitdir a worktree points at), so git flower
        # commits what it leaves; JSON events on stdout.
        "codex": Profile("codex", ("codex", "exec", "--json", "--sandbox", "workspace-write",
                                   "{bootstrap}"), transcript="codex",
                         resume=("codex", "exec", "--json", "--sandbox", "workspace-write",
                                 "resume", "{session}", "{bootstrap}")),
        # Claude Code: edits in its working directory, every shell command and reads anywhere
        # (the packet lives in the git dir) allowed up front, as root too (bypassPermissions is
        # refused as root); stream-json needs --verbose in print mode.
        "claude": Profile("claude", ("claude", "-p", "{bootstrap}", "--output-format", "stream-json",
                                     "--verbose", "--permission-mode", "acceptEdits",
                                     "--allowedTools", "Bash,Read"), transcript="claude",
                          resume=("claude", "-p", "{bootstrap}", "--resume", "{session}",
                                  "--output-format", "stream-json", "--verbose",
                                  "--permission-mode", "acceptEdits", "--allowedTools",
                                  "Bash,Read")),
        # Gemini CLI: yolo approves every tool; a fresh worktree is an untrusted folder, where
        # gemini would fall back to asking, so the worktree is trusted for the session.
        "gemini": Profile("gemini", ("gemini", "--prompt", "{bootstrap}", "--output-format",
                                     "stream-json", "--approval-mode", "yolo"),
                          {"GEMINI_CLI_TRUST_WORKSPACE": "true"}, transcript="gemini"),
    }


def check_command(name: str, command: Sequence[str],
                  known: Sequence[str] = PLACEHOLDERS) -> None:
    """Refuse a placeholder that is not a whole element, and unknown whole-element ones."""
    for arg in command:
        if arg in known or "{" not in arg:
            continue
        import re

        m = re.search(_PLACEHOLDER_LIKE, arg, re.ASCII)
        if m is None:
            continue
        if arg == m.group():
            raise UsageError(f"[agents.{name}] command: unknown placeholder {arg}",
                             "placeholders are " + ", ".join(known))
        if m.group() in known:
            raise UsageError(f"[agents.{name}] command: {m.group()} must be a whole argv element, "
                             f"not part of {arg!r}",
                             f'write it as its own element, e.g. ["prog", "--prompt", "{m.group()}"]')


# the keys a profile may set, beside `command`, and how each becomes a Profile attribute
OPTIONAL_KEYS = ("env", "timeout", "pass_env", "transcript", "tmux", "prompts", "answers",
                 "commit", "price", "resume")


def _from_table(name: str, prof: Mapping[str, Any], base: Profile | None,
                builtin: bool) -> Profile:
    """A profile from a config table; keys it leaves out come from ``base`` (a built-in of the
    same name), so ``[agents.claude] timeout = 3600`` changes only the timeout."""
    if "command" in prof:
        command = tuple(prof["command"])
    elif base is not None:
        command = base.command
    else:
        raise UsageError(f"[agents.{name}] has no 'command'",
                         'add command = ["program", "{bootstrap}"]')
    check_command(name, command)
    timeout = prof.get("timeout", base.timeout if base else None)
    env = dict(base.env) if base else {}
    env.update(prof.get("env", {}))
    answers = base.answers if base else ()
    if "answers" in prof:
        answers = tuple((str(a["match"]), tuple(str(k) for k in a["keys"]))
                        for a in prof["answers"])
    pass_env = base.pass_env if base else None
    if "pass_env" in prof:
        pass_env = tuple(prof["pass_env"])
    price = dict(base.price) if base else {}
    price.update({k: float(v) for k, v in prof.get("price", {}).items()})
    resume = base.resume if base and "command" not in prof else None
    if "resume" in prof:
        resume = tuple(prof["resume"])
        check_command(name, resume, RESUME_PLACEHOLDERS)
        if "{session}" not in resume:
            raise UsageError(f"[agents.{name}] resume has no {{session}} element",
                             "resume is the command that continues a session, e.g. "
                             '["claude", "-p", "{bootstrap}", "--resume", "{session}"]')
    return Profile(name, command, env, float(timeout) if timeout is not None else None,
                   builtin=builtin, pass_env=pass_env,
                   transcript=prof.get("transcript", base.transcript if base else None),
                   tmux=bool(prof.get("tmux", base.tmux if base else False)),
                   prompts=tuple(prof.get("prompts", base.prompts if base else ())),
                   answers=answers, commit=bool(prof.get("commit", base.commit if base else True)),
                   price=price, resume=resume)


def resolve(name: str, configured: Mapping[str, Mapping[str, Any]],
            local: Mapping[str, Mapping[str, Any]] | None = None) -> Profile:
    """The profile called ``name``: the config's own is laid over a built-in of the same name,
    and this machine's own settings (``local``: from ``git config flower.agent.NAME.*``, never
    committed) over both. A profile that takes anything from the committed config runs only
    once that file is trusted (``builtin`` is then False)."""
    base = builtins().get(name)
    prof: Profile | None = base
    if name in configured:
        prof = _from_table(name, configured[name], base, builtin=False)
    if local and name in local:
        prof = _from_table(name, local[name], prof, builtin=prof.builtin if prof else True)
    if prof is None:
        known = sorted({*builtins(), *configured, *(local or {})})
        raise UsageError(f"no agent profile named {name!r}",
                         "known profiles: " + ", ".join(known)
                         + '; add one as [agents.NAME] command = [...] in .flower.toml')
    return prof


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


# what every agent keeps when its profile names the variables it is given (`pass_env`)
BASE_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_*", "TERM",
            "TMPDIR", "TZ", "XDG_*", "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS",
            "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
            "GIT_TERMINAL_PROMPT", "GIT_FLOWER_TRACE", "FLOWER_FAILPOINTS")


def env_matches(key: str, patterns: Sequence[str]) -> bool:
    """``NAME`` matches itself; ``NAME*`` every variable that starts with ``NAME``."""
    for p in patterns:
        if p.endswith("*") and key.startswith(p[:-1]) or key == p:
            return True
    return False


def agent_env(base: Mapping[str, str], extra: Mapping[str, str],
              pass_env: Sequence[str] | None = None) -> dict[str, str]:
    """The agent's environment: ``base`` without git's per-repository variables or another
    agent's FLOWER_* variables (and, with ``pass_env``, only the variables it names beside
    :data:`BASE_ENV`), then ``extra`` (the profile's env, FLOWER_*)."""
    drop = set(_DROP_PREFIX_EXACT)
    env = {k: v for k, v in base.items() if k not in drop and not _config_pair(k)}
    if pass_env is not None:
        keep = (*BASE_ENV, *pass_env)
        env = {k: v for k, v in env.items() if env_matches(k, keep)}
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env.update(extra)
    return env


def local_tables(pairs: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """This machine's own agent settings from ``git config --get-regexp '^flower\\.agent\\.'``
    pairs, as profile tables (:func:`resolve` lays them over the committed ones). Never
    committed, so they hold what is personal: credentials (``env``, ``envFile``), a local
    command or timeout::

        git config flower.agent.claude.env ANTHROPIC_API_KEY=sk-…      (multi-valued)
        git config flower.agent.claude.envFile ~/.config/flower/claude.env
        git config flower.agent.claude.passEnv 'AWS_*'                  (multi-valued)
        git config flower.agent.codex.command '["codex", "exec", "--json", "{bootstrap}"]'
        git config flower.agent.codex.timeout 3600
    """
    out: dict[str, dict[str, Any]] = {}
    for key, value in pairs:
        if not key.startswith("flower.agent.") or key.count(".") < 3:
            continue
        name, _, var = key[len("flower.agent."):].rpartition(".")
        prof = out.setdefault(name, {})
        where = f"git config {key}"
        if var == "env":
            k, eq, v = value.partition("=")
            if not eq or not k:
                raise UsageError(f"{where}: expected NAME=VALUE, got {value[:40]!r}")
            prof.setdefault("env", {})[k] = v
        elif var == "envfile":
            prof.setdefault("env", {}).update(read_env_file(os.path.expanduser(value), where))
        elif var == "passenv":
            prof.setdefault("pass_env", []).append(value)
        elif var == "command":
            import json

            try:
                argv = json.loads(value)
            except ValueError:
                argv = None
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
                raise UsageError(f"{where}: expected a JSON list of strings, got {value[:60]!r}",
                                 """e.g. git config flower.agent.NAME.command '["prog", "{bootstrap}"]'""")
            prof["command"] = argv
        elif var == "timeout":
            try:
                prof["timeout"] = float(value)
            except ValueError:
                raise UsageError(f"{where}: expected seconds, got {value[:40]!r}") from None
        elif var == "tmux":
            prof["tmux"] = value.lower() in ("true", "yes", "on", "1")
        else:
            raise UsageError(f"{where}: unknown setting '{var}'",
                             "agent settings are env, envFile, passEnv, command, timeout, tmux")
    return out


def read_env_file(path: str, where: str) -> dict[str, str]:
    """``NAME=VALUE`` lines (``#`` comments, blank lines, an optional ``export``; a value in
    matching quotes loses them); nothing is expanded or executed."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"{where}: cannot read {path}: {e.strerror}",
                         "fix the path, or remove the setting") from None
    env: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        k, eq, v = line.partition("=")
        k = k.strip()
        if not eq or not k or not all(c.isascii() and (c.isalnum() or c == "_") for c in k):
            raise UsageError(f"{path}:{n}: expected NAME=VALUE")
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        env[k] = v
    return env


def flower_executable() -> str:
    """The absolute path of the git-flower program that is running, so that an agent whose
    shell resets PATH (Codex's login shell does) can still run ``git flower done``."""
    here = os.path.dirname(sys.executable or "")
    exe = os.path.join(here, "git-flower")
    if here and os.access(exe, os.X_OK):
        return exe
    import shutil

    return shutil.which("git-flower") or exe
