"""Team policy (``.flower.toml``, committed) and its validation.

Like git with a broken ``.git/config``, every command refuses a broken file with exit 2 and
``<file>:<line>:<col>: <reason>``. Unknown keys are errors, so typos never silently do nothing.
The file is read from the main checkout, never from a worker's worktree.
"""

from __future__ import annotations

import os

from flowergit import fastjson
from flowergit.errors import UsageError
from flowergit.state import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Check = Callable[[Any], str | None]  # returns an error text or None

FILENAME = ".flower.toml"
# profiles a table may amend without naming a command (flowergit.procs.agents.builtins)
BUILTIN_AGENTS = ("script", "codex", "claude", "gemini")


def _str(v: Any) -> str | None:
    return None if isinstance(v, str) else "expected a string"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "expected true or false"


def _one_of(*choices: str) -> Check:
    def check(v: Any) -> str | None:
        return None if v in choices else "expected " + " or ".join(f'"{c}"' for c in choices)
    return check


def _int(lo: int, hi: int = 2**31) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, int) or isinstance(v, bool):
            return "expected a whole number"
        return None if lo <= v <= hi else f"expected a number from {lo} to {hi}"
    return check


def _num(lo: float) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return "expected a number"
        return None if v >= lo else f"expected a number >= {lo}"
    return check


def _fraction(v: Any) -> str | None:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return "expected a number"
    return None if 0 < v < 1 else "expected a fraction between 0 and 1 (e.g. 0.6)"


def _argv(v: Any) -> str | None:
    if not isinstance(v, list) or not v or not all(isinstance(a, str) for a in v):
        return "expected a non-empty list of strings (an argv, no shell)"
    return None


def _strlist(v: Any) -> str | None:
    if not isinstance(v, list) or not all(isinstance(a, str) for a in v):
        return "expected a list of strings"
    return None


def _strmap(v: Any) -> str | None:
    if not isinstance(v, dict) or not all(isinstance(a, str) for a in v.values()):
        return "expected a table of strings"
    return None


def _local_only(v: Any) -> str | None:
    err = _strlist(v)
    if err:
        return err
    for p in v:
        if not p or p.startswith("/") or ".." in p.split("/") or "\0" in p:
            return f"{p!r} is not a path inside the repository"
    return None


TRANSCRIPTS = ("claude", "codex", "gemini", "opencode")  # structured outputs git flower reads
KEY_NAMES = ("Enter", "Escape", "Tab", "Up", "Down", "Left", "Right", "Backspace", "Space",
             "C-c", "C-d", "PageUp", "PageDown", "Home", "End")


def _envnames(v: Any) -> str | None:
    err = _strlist(v)
    if err:
        return err
    for name in v:
        bare = name.removesuffix("*")
        if not bare or not all(c.isascii() and (c.isalnum() or c == "_") for c in bare):
            return f"{name!r} is not a variable name (letters, digits, _; a trailing * for a prefix)"
    return None


def _transcript(v: Any) -> str | None:
    if v not in TRANSCRIPTS:
        return "expected one of " + ", ".join(repr(t) for t in TRANSCRIPTS)
    return None


def _regexes(v: Any) -> str | None:
    err = _strlist(v)
    if err:
        return err
    import re

    for pat in v:
        try:
            re.compile(pat)
        except re.error as e:
            return f"{pat!r} is not a regular expression: {e}"
    return None


def is_key(name: str) -> bool:
    """A key name ``send`` and ``answers`` accept: a named key or one printable character."""
    return name in KEY_NAMES or (len(name) == 1 and name.isprintable())


def _answers(v: Any) -> str | None:
    if not isinstance(v, list):
        return "expected a list of {match = \"regex\", keys = [\"y\", \"Enter\"]} tables"
    for a in v:
        if not isinstance(a, dict) or set(a) != {"match", "keys"}:
            return "each answer is a table with exactly 'match' and 'keys'"
        err = _regexes([a["match"]]) or _strlist(a["keys"])
        if err:
            return err
        bad = [k for k in a["keys"] if not is_key(k)]
        if bad or not a["keys"]:
            return (f"unknown key {bad[0]!r}; " if bad else "no keys; ") + \
                "keys are one character or one of " + ", ".join(KEY_NAMES)
    return None


def _price(v: Any) -> str | None:
    if not isinstance(v, dict) or not set(v) <= {"input", "output", "cached_input"}:
        return "expected a table with input, output and cached_input (US$ per million tokens)"
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0
               for x in v.values()):
        return "prices are numbers >= 0"
    return None


# section -> key -> check. `agents` holds one table per agent profile.
SCHEMA: dict[str, dict[str, Check]] = {
    "flower": {
        "target": _str,
        "worktrees": _str,
        "max_parallel": _int(1, 256),
        "default_agent": _str,
        "max_brief_bytes": _int(1, 2**31),
        "remote": _str,
    },
    "suite": {"command": _argv, "timeout": _num(1), "env": _strmap},
    "merge": {"local_only": _local_only, "auto": _bool,
              "release": _one_of("background", "inline")},
    "baton": {"lease": _num(1)},
    "signals": {"expiry": _num(1)},
    "hooks": {"strict": _bool},
    "orchestrator": {"window": _int(1000, 10**8), "reset_at": _fraction, "turn_timeout": _num(1)},
}
AGENT_KEYS: dict[str, Check] = {
    "command": _argv, "env": _strmap, "timeout": _num(1), "pass_env": _envnames,
    "transcript": _transcript, "tmux": _bool, "prompts": _regexes, "answers": _answers,
    "commit": _bool, "price": _price, "resume": _argv,
}

DEFAULTS: dict[str, dict[str, Any]] = {
    "flower": {"target": "main", "worktrees": "../{repo}.flower", "max_parallel": 4,
               "default_agent": "script", "max_brief_bytes": 4 * 1024 * 1024, "remote": ""},
    "suite": {"command": ["pytest", "-q", "--junitxml={junit}"], "timeout": 1800, "env": {}},
    # the worker worktree of a landed merge is removed by a forked copy, off the merge's path
    "merge": {"local_only": [], "auto": False, "release": "background"},
    "baton": {"lease": 60},
    "signals": {"expiry": 86400},
    "hooks": {"strict": False},
    # a driven orchestrator (`run --agent`): its model's context window in tokens, the fill at
    # which git flower hands its lane to a fresh successor, and the longest one turn may take
    "orchestrator": {"window": 200_000, "reset_at": 0.6, "turn_timeout": 1800},
}


class Config:
    """The validated team policy; ``path`` is None when there is no .flower.toml."""

    def __init__(self, path: str | None, raw: bytes = b"", data: dict[str, Any] | None = None) -> None:
        self.path = path
        self.raw = raw
        self.data = data or {}

    def get(self, section: str, key: str) -> Any:
        sec = self.data.get(section, {})
        if key in sec:
            return sec[key]
        return DEFAULTS[section][key]

    @property
    def agents(self) -> dict[str, dict[str, Any]]:
        return dict(self.data.get("agents", {}))

    @property
    def max_brief_bytes(self) -> int:
        return int(self.get("flower", "max_brief_bytes"))

    @property
    def target(self) -> str:
        return str(self.get("flower", "target"))


_POS = r"\(at line (\d+), column (\d+)\)"
# (`re` is loaded only when a config is parsed or reported: a cached config needs none)


def _locate(text: str, section: list[str], key: str) -> tuple[int, int]:
    """line, column of ``key`` inside ``[section]`` (best effort, 1-based)."""
    import re

    current: list[str] = []
    key_re = re.compile(r"\s*(?:\"?%s\"?)\s*=" % re.escape(key))
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        m = re.match(r"\[+\s*([^\]]+?)\s*\]+", s)
        if m:
            current = [p.strip().strip('"') for p in m[1].split(".")]
            continue
        if current == section and key_re.match(line):
            return i, line.index(key) + 1 if key in line else 1
    return 1, 1


def parse(raw: bytes, path: str) -> dict[str, Any]:
    """Decode and validate; raise UsageError naming ``path:line:col``."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raise UsageError(f"{path}:1:1: file starts with a UTF-8 byte order mark",
                         "save the file as UTF-8 without a BOM")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise UsageError(f"{path}:{line}:{col}: not valid UTF-8 (byte 0x{raw[e.start]:02x})",
                         "save the file as UTF-8") from None
    import re

    from flowergit.state import tomlcodec

    try:
        data = tomlcodec.loads(text)
    except ValueError as e:  # tomllib.TOMLDecodeError
        msg = str(e)
        m = re.search(_POS, msg)
        if m:
            line, col = int(m[1]), int(m[2])
        else:  # "(at end of document)": point just after the last character
            body = text.rstrip("\n")
            line, col = body.count("\n") + 1, len(body) - (body.rfind("\n") + 1) + 1
        reason = re.sub(_POS, "", msg).replace("(at end of document)", "").strip()
        reason, found = toml_words(reason, text)
        if found is not None:
            line, col = found
        raise UsageError(f"{path}:{line}:{col}: {reason}", "fix the TOML syntax") from None
    for sec, body in data.items():
        if sec == "agents":
            if not isinstance(body, dict):
                raise UsageError(f"{path}:{_locate(text, [], sec)[0]}:1: 'agents' must be a table")
            for name, prof in body.items():
                if not re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", name, re.ASCII):
                    ln, _ = _locate(text, ["agents", name], "command")
                    raise UsageError(f"{path}:{ln}:1: invalid agent name {name!r}",
                                     "agent names are lower-case letters, digits, '-' and '_'")
                if not isinstance(prof, dict):
                    raise UsageError(f"{path}:1:1: [agents.{name}] must be a table")
                _check_table(text, path, ["agents", name], prof, AGENT_KEYS)
                if "command" not in prof and name not in BUILTIN_AGENTS:
                    raise UsageError(f"{path}:1:1: [agents.{name}] has no 'command'",
                                     'add command = ["program", "{bootstrap}"]')
            continue
        if sec not in SCHEMA:
            ln, col = _locate_table(text, sec)
            raise UsageError(f"{path}:{ln}:{col}: unknown section [{sec}]",
                             "known sections: " + ", ".join([*SCHEMA, "agents"]))
        if not isinstance(body, dict):
            raise UsageError(f"{path}:{_locate(text, [], sec)[0]}:1: '{sec}' must be a table")
        _check_table(text, path, [sec], body, SCHEMA[sec])
    return data


def toml_words(reason: str, text: str) -> tuple[str, tuple[int, int] | None]:
    """tomllib's reason in TOML's own words: keys as ``a.b`` and tables as ``[a.b]``, not as
    Python tuples; for a key defined twice (which tomllib reports at the end of the document)
    the key and where its second definition is."""
    import re

    def dotted(m: re.Match[str]) -> str:
        return ".".join(re.findall(r"'([^']*)'", m[1]))

    names = r"\(((?:'[^']*',?\s*)+)\)"
    m = re.fullmatch(r"Cannot declare " + names + r" twice", reason)
    if m:
        return f"table [{dotted(m)}] is defined twice", None
    m = re.fullmatch(r"Cannot mutate immutable namespace " + names, reason)
    if m:
        return (f"{dotted(m)} is an inline table or array and cannot be extended or defined "
                "again", None)
    if reason == "Cannot overwrite a value":
        dup = _duplicate_key(text)
        if dup is not None:
            key, line, col = dup
            return f"key {key} is defined twice", (line, col)
        return "a key is defined twice", None
    return re.sub(names, dotted, reason), None


def _duplicate_key(text: str) -> tuple[str, int, int] | None:
    """The first ``key = …`` line that defines a key its table already has: (dotted key,
    line, column)."""
    import re

    table = ""
    seen: set[str] = set()
    for i, raw in enumerate(text.splitlines(), 1):
        head = re.match(r"\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$", raw)
        if head:
            table = re.sub(r"\s*\.\s*", ".", head[1].replace('"', ""))
            seen.add(table)
            continue
        kv = re.match(r"(\s*)([A-Za-z0-9_.\-\" ]+?)\s*=", raw)
        if kv:
            key = re.sub(r"\s*\.\s*", ".", kv[2].replace('"', "").strip())
            full = f"{table}.{key}" if table else key
            if full in seen:
                return full, i, len(kv[1]) + 1
            seen.add(full)
    return None


def _locate_table(text: str, sec: str) -> tuple[int, int]:
    import re

    for i, line in enumerate(text.splitlines(), 1):
        if re.match(r"\s*\[\s*%s\s*\]" % re.escape(sec), line):
            return i, 1
    return _locate(text, [], sec)


def _check_table(text: str, path: str, where: list[str], body: dict[str, Any],
                 keys: dict[str, Check]) -> None:
    for key, val in body.items():
        ln, col = _locate(text, where, key)
        label = ".".join(where)
        if key not in keys:
            raise UsageError(f"{path}:{ln}:{col}: unknown key '{key}' in [{label}]",
                             "known keys: " + ", ".join(keys))
        err = keys[key](val)
        if err:
            raise UsageError(f"{path}:{ln}:{col}: [{label}] {key}: {err}")


def _schema_key() -> str:
    """Changes whenever the set of known keys changes, so a cached verdict never outlives it."""
    return repr(sorted((s, sorted(k)) for s, k in [*SCHEMA.items(), ("agents.*", AGENT_KEYS)]))


def load(main_worktree: str | None, cache_dir: str | None = None) -> Config:
    """Read and validate ``.flower.toml`` from the main checkout; absent means defaults.

    The validated result is cached (``cache_dir/config.json``) under the file's exact bytes, so
    an unchanged file is not parsed again; any change, however small, is validated afresh."""
    if main_worktree is None:
        return Config(None)
    path = os.path.join(main_worktree, FILENAME)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return Config(None)
    except IsADirectoryError:
        raise UsageError(f"{path}:1:1: is a directory, not a file") from None
    except PermissionError:
        raise UsageError(f"{path}:1:1: permission denied",
                         "make the file readable (chmod u+r)") from None
    cache = os.path.join(cache_dir, "config.json") if cache_dir else None
    text = raw.decode("utf-8", "surrogateescape")
    if cache:
        try:
            with open(cache, encoding="utf-8", errors="surrogateescape") as f:
                doc = fastjson.load(f)
            if (doc.get("v") == 1 and doc.get("path") == path and doc.get("raw") == text
                    and doc.get("schema") == _schema_key()):
                return Config(path, raw, doc["data"])
        except (OSError, ValueError):
            pass
    data = parse(raw, path)
    if cache:
        try:
            files.write_atomic(cache, fastjson.dumps({"v": 1, "path": path, "raw": text,
                                                      "schema": _schema_key(), "data": data}),
                               errors="surrogateescape")
        except (OSError, TypeError, ValueError):
            pass  # the cache is an optimisation only
    return Config(path, raw, data)


TEMPLATE = """\
# git flower team policy. Committed and reviewed like code; read from the main checkout.
# Agent and suite commands run only after `git flower trust` on each machine.
# Reference: docs/config.md

[flower]
target = "main"                  # the branch merges land on
worktrees = "../{repo}.flower"   # where dispatch puts worker worktrees
max_parallel = 4                 # concurrency cap for live agents
default_agent = "script"         # built-in: script, codex, claude, gemini (docs/agents.md)

[suite]
# {junit}: a path git flower reads the counts from (JUnit XML)
command = ["pytest", "-q", "--junitxml={junit}"]
timeout = 1800                   # seconds; then the whole process group is killed

[merge]
local_only = []                  # e.g. ["solo.yml"]: never stashed, reset, moved or overwritten

# [agents.codex]
# command = ["codex", "exec", "--json", "--sandbox", "workspace-write", "{bootstrap}"]
# transcript = "codex"            # tokens and cost read from its --json events
"""
