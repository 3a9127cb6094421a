"""What an agent did and what it cost, read from the structured output in its dispatch log.

Agents with a structured output mode write it to the dispatch log (their stdout and stderr;
git flower's own lines there start with ``[git flower] ``). :func:`summarize` streams the log
once, skips every line that is not a JSON object (git flower's lines, the agent's warnings, a
truncated last line) and returns::

    {"model": str | None, "turns": int, "input_tokens": int, "output_tokens": int,
     "cached_input_tokens": int, "cost_usd": float | None,
     "cost_source": "reported" | "estimated" | None,
     "last_action": str | None, "last_message": str | None,
     "session": str | None, "context_tokens": int | None}

or None when the log holds no transcript. ``input_tokens`` counts every prompt token the model
read, ``cached_input_tokens`` the part of them served from the provider's prompt cache.
``turns`` is the agent's own count where it reports one (Claude Code's ``num_turns``), else the
number of tool calls and messages it made. ``cost_source`` is ``reported`` when the agent
printed its cost (Claude Code, opencode), ``estimated`` when it was computed from the profile's
``price`` or from :data:`PRICES`. ``session`` is the id the agent gives its session (what its
resume mode takes: Claude Code's ``session_id``, Codex's ``thread_id``); ``context_tokens`` how
full the model's context was at its last call (Claude Code: the prompt of the last message, cache
included; Codex: the input of its last turn, an upper bound), or None where the format does not
tell.

The formats, as the CLIs print them (recorded from real runs in tests/fixtures/transcripts/):

- ``claude`` (``claude -p … --output-format stream-json --verbose``): a ``system``/``init``
  event names the model; ``assistant`` events carry ``message.usage`` and ``tool_use`` blocks
  (one event per content block, so the usage of one message id is counted once); the final
  ``result`` event has ``num_turns``, ``total_cost_usd``, ``usage`` and ``result`` (the last
  message). Claude's ``input_tokens`` leaves out cache reads and writes; they are added here.
- ``codex`` (``codex exec --json``): ``thread.started``, ``turn.started``,
  ``item.started``/``item.completed`` (``agent_message``, ``command_execution``,
  ``file_change``, ``mcp_tool_call``, ``web_search``, ``reasoning``, ``error``, …),
  ``turn.completed`` with ``usage`` {input_tokens, cached_input_tokens, output_tokens} (the
  thread's running total: the last one counts), ``turn.failed``, ``error``. No cost, and no
  model: it comes from a ``model: NAME`` line of the session header when one is printed, from
  a ``model rerouted: A -> B`` notice, or from the profile's ``-m``/``--model`` argument
  (:func:`model_from_argv`).
- ``gemini`` (``gemini -p … --output-format stream-json``): ``init`` (model), ``message``
  (assistant text, possibly in ``delta`` pieces), ``tool_use``, ``tool_result``, ``result``
  with ``stats`` {input_tokens, output_tokens, cached, models}.
- ``opencode`` (``opencode run --format json``): ``step_start``, ``tool_use``, ``text``,
  ``step_finish`` whose ``part`` has ``cost`` and ``tokens`` {input, output, reasoning,
  cache: {read, write}}; the model comes from its ``-m provider/model`` argument.

Never raises: a missing, unreadable or garbage log gives None. A log read before may be read
on from where the last read stopped (``cache``: a small JSON file; see :func:`summarize`).

Over 500 lines because the four formats' readers share one accumulator, the cache of a partly
read log and the pricing; each reader is a short section below.
"""

from __future__ import annotations

import os

from flowergit import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

KINDS = ("claude", "codex", "gemini", "opencode")
FIELDS = ("model", "turns", "input_tokens", "output_tokens", "cached_input_tokens", "cost_usd",
          "cost_source", "last_action", "last_message", "session", "context_tokens")

# Built-in list prices, US$ per million tokens (input, cached input, output), standard tier,
# prompts up to 200k tokens, as the vendors published them on 2025-11-20. Names match exactly
# (after dropping a ``provider/`` prefix and a ``-YYYYMMDD`` date suffix); an unknown model has
# no estimate. A profile's `price = {input=…, output=…, cached_input=…}` overrides this table.
PRICES_DATE = "2025-11-20"
PRICES: dict[str, tuple[float, float, float]] = {
    "gpt-5": (1.25, 0.125, 10.0),
    "gpt-5-codex": (1.25, 0.125, 10.0),
    "gpt-5.1": (1.25, 0.125, 10.0),
    "gpt-5.1-codex": (1.25, 0.125, 10.0),
    "gpt-5.1-codex-mini": (0.25, 0.025, 2.0),
    "gpt-5-mini": (0.25, 0.025, 2.0),
    "gpt-5-nano": (0.05, 0.005, 0.4),
    "gpt-4.1": (2.0, 0.5, 8.0),
    "o3": (2.0, 0.5, 8.0),
    "o4-mini": (1.1, 0.275, 4.4),
    "codex-mini-latest": (1.5, 0.375, 6.0),
    "claude-opus-4-5": (5.0, 0.5, 25.0),
    "claude-opus-4-1": (15.0, 1.5, 75.0),
    "claude-sonnet-4-5": (3.0, 0.3, 15.0),
    "claude-sonnet-4": (3.0, 0.3, 15.0),
    "claude-haiku-4-5": (1.0, 0.1, 5.0),
    "gemini-2.5-pro": (1.25, 0.125, 10.0),
    "gemini-2.5-flash": (0.3, 0.03, 2.5),
    "gemini-2.5-flash-lite": (0.1, 0.01, 0.4),
}

ACTION_MAX = 160  # characters of a last action or message kept (a message: 2000)
MESSAGE_MAX = 2000
CACHE_MIN = 256 * 1024  # logs smaller than this are read whole every time: cheaper than a cache
_CACHE_V = 2


class _Acc:
    """What has been read so far (a plain object: it round-trips through the cache as a dict)."""

    __slots__ = ("cached", "context", "cost", "input", "last_action", "last_message", "model",
                 "msg_id", "msg_usage", "output", "seen", "session", "shell", "streaming", "turns")

    def __init__(self, d: Mapping[str, Any] | None = None) -> None:
        d = d or {}
        self.model: str | None = d.get("model")
        self.turns: int = int(d.get("turns", 0))
        self.input: int = int(d.get("input", 0))
        self.output: int = int(d.get("output", 0))
        self.cached: int = int(d.get("cached", 0))
        self.cost: float | None = d.get("cost")
        self.last_action: str | None = d.get("last_action")
        self.last_message: str | None = d.get("last_message")
        self.seen: bool = bool(d.get("seen", False))
        self.msg_id: str | None = d.get("msg_id")  # claude: the message whose usage counts last
        mu = d.get("msg_usage")
        self.msg_usage: list[int] = [_int(x) for x in mu] if isinstance(mu, list) and len(mu) == 3 \
            else [0, 0, 0]
        self.streaming: bool = bool(d.get("streaming", False))  # gemini: a message in pieces
        self.shell: bool = bool(d.get("shell", False))  # last_action is a raw shell command
        self.session: str | None = d.get("session")
        self.context: int = int(d.get("context", 0))

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


# -- small helpers -------------------------------------------------------------------------
def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0


def _num(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
        return float(v)
    return None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _one_line(text: str, limit: int = ACTION_MAX) -> str:
    """The first non-blank line of ``text``, ``…`` where anything was left out."""
    lines = [ln.strip() for ln in text[:4 * limit].strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    first = lines[0]
    if len(lines) > 1:
        first += " …"
    return _clip(first, limit)


def _message(text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    return _clip(text.strip(), MESSAGE_MAX)


def _unwrap_shell(cmd: str) -> str:
    """``/bin/bash -lc "git commit …"`` (how Codex reports a command) -> ``git commit …``.
    (By hand rather than with shlex: this runs for every command of a long log.)"""
    for pre in ("/bin/bash -lc ", "bash -lc ", "/bin/sh -c ", "sh -c ", "/bin/zsh -lc ",
                "zsh -lc "):
        if cmd.startswith(pre):
            rest = cmd[len(pre):].strip()
            if len(rest) >= 2 and rest[0] == rest[-1] == "'" and "'" not in rest[1:-1]:
                return rest[1:-1]
            if len(rest) >= 2 and rest[0] == rest[-1] == '"':
                out = []
                i, body = 0, rest[1:-1]
                while i < len(body):
                    c = body[i]
                    if c == "\\" and i + 1 < len(body) and body[i + 1] in '"\\$`':
                        c = body[i + 1]
                        i += 1
                    out.append(c)
                    i += 1
                return "".join(out)
            return rest
    return cmd


def _tool_action(name: str, args: Any) -> str:
    """``Bash: git commit -m …``, ``Write: calc.py``: a tool call in one short line."""
    detail = ""
    if isinstance(args, dict):
        for key in ("command", "file_path", "path", "absolute_path", "filePath", "notebook_path",
                    "pattern", "url", "query", "description", "prompt"):
            v = args.get(key)
            if isinstance(v, str) and v.strip():
                detail = v
                break
        else:
            for v in args.values():
                if isinstance(v, str) and v.strip():
                    detail = v
                    break
    elif isinstance(args, str):
        detail = args
    name = name.strip() or "tool"
    return _one_line(f"{name}: {detail}" if detail else name)


def model_from_argv(argv: Sequence[str]) -> str | None:
    """The model a profile's command asks for (``-m M``, ``--model M``, ``--model=M``)."""
    for i, arg in enumerate(argv):
        if arg in ("-m", "--model") and i + 1 < len(argv):
            return argv[i + 1] or None
        if arg.startswith("--model="):
            return arg.partition("=")[2] or None
    return None


def price_of(model: str | None,
             price: Mapping[str, float] | None = None) -> tuple[float, float, float] | None:
    """(input, cached input, output) US$ per million tokens: the profile's ``price`` if it
    names one, else the built-in table's entry for ``model``, else None."""
    if price and hasattr(price, "get"):
        inp = _num(price.get("input"))
        out = _num(price.get("output"))
        if inp is not None and out is not None:
            cached = _num(price.get("cached_input"))
            return inp, inp if cached is None else cached, out
    if not model:
        return None
    name = model.rsplit("/", 1)[-1].strip().lower()
    if name in PRICES:
        return PRICES[name]
    head, _, tail = name.rpartition("-")
    if head and len(tail) == 8 and tail.isdigit() and head in PRICES:  # a dated snapshot
        return PRICES[head]
    return None


# -- one event of each format --------------------------------------------------------------
def _claude(acc: _Acc, ev: dict[str, Any]) -> None:
    t = ev.get("type")
    if t == "system":
        if ev.get("subtype") == "init":
            acc.seen = True
            if isinstance(ev.get("model"), str):
                acc.model = ev["model"]
            if isinstance(ev.get("session_id"), str) and ev["session_id"]:
                acc.session = ev["session_id"]
        return
    if t == "assistant":
        msg = ev.get("message")
        if not isinstance(msg, dict):
            return
        acc.seen = True
        if isinstance(msg.get("model"), str) and msg["model"] and msg["model"] != "<synthetic>":
            acc.model = msg["model"]
        mid = msg.get("id") if isinstance(msg.get("id"), str) else None
        u = msg.get("usage")
        if isinstance(u, dict):
            now = [_int(u.get("input_tokens")) + _int(u.get("cache_creation_input_tokens"))
                   + _int(u.get("cache_read_input_tokens")),
                   _int(u.get("output_tokens")), _int(u.get("cache_read_input_tokens"))]
            if mid is not None and mid == acc.msg_id:  # another block of the same message
                acc.input -= acc.msg_usage[0]
                acc.output -= acc.msg_usage[1]
                acc.cached -= acc.msg_usage[2]
            elif ev.get("parent_tool_use_id") is None:
                acc.turns += 1
            acc.input += now[0]
            acc.output += now[1]
            acc.cached += now[2]
            acc.msg_id, acc.msg_usage = mid, now
            if ev.get("parent_tool_use_id") is None:
                acc.context = now[0] + now[1]
        for block in msg.get("content") or ():
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                acc.last_action = _tool_action(str(block.get("name") or ""), block.get("input"))
            elif block.get("type") == "text" and ev.get("parent_tool_use_id") is None:
                acc.last_message = _message(block.get("text")) or acc.last_message
        return
    if t == "result":
        acc.seen = True
        if isinstance(ev.get("session_id"), str) and ev["session_id"]:
            acc.session = ev["session_id"]
        if _int(ev.get("num_turns")):
            acc.turns = _int(ev.get("num_turns"))
        cost = _num(ev.get("total_cost_usd"))
        if cost is not None:
            acc.cost = cost
        u = ev.get("usage")
        if isinstance(u, dict):
            acc.input = (_int(u.get("input_tokens")) + _int(u.get("cache_creation_input_tokens"))
                         + _int(u.get("cache_read_input_tokens")))
            acc.output = _int(u.get("output_tokens"))
            acc.cached = _int(u.get("cache_read_input_tokens"))
        mu = ev.get("modelUsage")
        if acc.model is None and isinstance(mu, dict) and mu:
            acc.model = str(max(mu, key=lambda k: _num((mu[k] or {}).get("costUSD")) or 0.0))
        acc.last_message = _message(ev.get("result")) or acc.last_message


def _codex(acc: _Acc, ev: dict[str, Any]) -> None:
    t = ev.get("type")
    if t == "thread.started":
        acc.seen = True
        if isinstance(ev.get("thread_id"), str) and ev["thread_id"]:
            acc.session = ev["thread_id"]
    elif t == "turn.completed":
        acc.seen = True
        u = ev.get("usage")
        if isinstance(u, dict):  # the thread's running total
            acc.input = _int(u.get("input_tokens"))
            acc.cached = _int(u.get("cached_input_tokens"))
            acc.output = _int(u.get("output_tokens"))
            acc.context = acc.input + acc.output
    elif t in ("item.started", "item.updated", "item.completed"):
        item = ev.get("item")
        if not isinstance(item, dict):
            return
        acc.seen = True
        kind = item.get("type")
        done = t == "item.completed"
        action = None
        shell = False
        if kind == "command_execution" and isinstance(item.get("command"), str):
            action, shell = item["command"][:4 * ACTION_MAX], True  # put in words at the end
        elif kind == "file_change" and isinstance(item.get("changes"), list):
            verbs = {"add": "Write", "delete": "Delete", "update": "Edit"}
            changes = [c for c in item["changes"] if isinstance(c, dict)]
            if changes:
                verb = verbs.get(str(changes[0].get("kind")), "Edit")
                action = _one_line(f"{verb}: " + ", ".join(str(c.get("path")) for c in changes))
        elif kind == "mcp_tool_call":
            action = _tool_action(f"{item.get('server')}.{item.get('tool')}", item.get("arguments"))
        elif kind == "web_search":
            action = _one_line(f"WebSearch: {item.get('query') or ''}")
        elif kind == "agent_message":
            if done:
                acc.turns += 1
                acc.last_message = _message(item.get("text")) or acc.last_message
            return
        elif kind == "error" and isinstance(item.get("message"), str):
            msg = item["message"]
            if msg.startswith("model rerouted: ") and " -> " in msg:
                acc.model = msg.partition(" -> ")[2].split()[0] or acc.model
            return
        if action is not None:
            acc.last_action, acc.shell = action, shell
            if done:
                acc.turns += 1


def _gemini(acc: _Acc, ev: dict[str, Any]) -> None:
    t = ev.get("type")
    if t == "init":
        acc.seen = True
        if isinstance(ev.get("model"), str):
            acc.model = ev["model"]
        return
    streaming = False
    if t == "message" and ev.get("role") == "assistant" and isinstance(ev.get("content"), str):
        acc.seen = True
        if ev.get("delta") and acc.streaming and acc.last_message is not None:
            acc.last_message = _clip(acc.last_message + ev["content"], MESSAGE_MAX)
        else:
            acc.turns += 1
            acc.last_message = ev["content"]
        streaming = bool(ev.get("delta"))
    elif t == "tool_use":
        acc.seen = True
        acc.turns += 1
        acc.last_action = _tool_action(str(ev.get("tool_name") or ""), ev.get("parameters"))
    elif t == "result":
        acc.seen = True
        st = ev.get("stats")
        if isinstance(st, dict):
            acc.input = _int(st.get("input_tokens"))
            acc.output = _int(st.get("output_tokens"))
            acc.cached = _int(st.get("cached"))
            models = st.get("models")
            if acc.model in (None, "auto") and isinstance(models, dict) and models:
                # `init` says "auto" when Gemini CLI routes each turn itself: the model that
                # did the work is the one that used the most tokens (a router's question to a
                # small model costs little)
                acc.model = str(max(models, key=lambda m: _int((models[m] or {}).get("total_tokens")
                                                            if isinstance(models[m], dict) else 0)))
    if t != "tool_result":  # a tool's result between pieces of one message does not split it
        acc.streaming = streaming


def _opencode(acc: _Acc, ev: dict[str, Any]) -> None:
    t = ev.get("type")
    part = ev.get("part")
    if not isinstance(part, dict):
        return
    if t == "step_start":
        acc.seen = True
    elif t == "tool_use":
        acc.seen = True
        acc.turns += 1
        state = part.get("state")
        state = state if isinstance(state, dict) else {}
        acc.last_action = _tool_action(str(part.get("tool") or ""), state.get("input"))
    elif t == "text":
        acc.seen = True
        acc.turns += 1
        acc.last_message = _message(part.get("text")) or acc.last_message
    elif t == "step_finish":
        acc.seen = True
        tok = part.get("tokens")
        if isinstance(tok, dict):
            cache = tok.get("cache")
            cache = cache if isinstance(cache, dict) else {}
            acc.input += (_int(tok.get("input")) + _int(cache.get("read"))
                          + _int(cache.get("write")))
            acc.cached += _int(cache.get("read"))
            acc.output += _int(tok.get("output")) + _int(tok.get("reasoning"))
        cost = _num(part.get("cost"))
        if cost:
            acc.cost = (acc.cost or 0.0) + cost


_HANDLERS = {"claude": _claude, "codex": _codex, "gemini": _gemini, "opencode": _opencode}


# -- reading the log -----------------------------------------------------------------------
def _feed(acc: _Acc, kind: str, f: Any) -> tuple[int, _Acc]:
    """Read the lines of ``f`` (binary, positioned at a line start) into ``acc``. Returns the
    bytes of *complete* lines read and what they alone said: a last line without its newline
    (an agent still writing it) is read into ``acc`` but not into that."""
    handle = _HANDLERS[kind]
    done = 0
    settled = acc
    codex = kind == "codex"
    claude = kind == "claude"
    for line in f:
        if line.endswith(b"\n"):
            done += len(line)
        else:
            settled = _Acc(acc.to_dict())
        s = line.strip()
        if not s.startswith(b"{"):
            if codex and acc.model is None and s.startswith(b"model: "):
                name = s[7:].strip().decode("utf-8", "replace").split()
                acc.model = name[0] if name else None
            continue
        if claude and s.startswith(b'{"type":"user"'):
            continue  # tool results: the bulk of a log, and nothing summarized here
        try:
            ev = fastjson.loads(s)
        except ValueError:
            continue  # a truncated or garbled line
        if isinstance(ev, dict):
            handle(acc, ev)
    return done, settled


def _load_cache(path: str, kind: str, st: os.stat_result) -> tuple[int, _Acc] | None:
    try:
        with open(path, "rb") as f:
            d = fastjson.loads(f.read())
        if (d.get("v") == _CACHE_V and d.get("kind") == kind and d.get("ino") == st.st_ino
                and d.get("dev") == st.st_dev and isinstance(d.get("offset"), int)
                and 0 < d["offset"] <= st.st_size and isinstance(d.get("acc"), dict)):
            return d["offset"], _Acc(d["acc"])
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    return None


def _save_cache(path: str, kind: str, st: os.stat_result, offset: int, acc: _Acc) -> None:
    doc = {"v": _CACHE_V, "kind": kind, "ino": st.st_ino, "dev": st.st_dev, "offset": offset,
           "acc": acc.to_dict()}
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(fastjson.dumps(doc, ensure_ascii=False))
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _read(log_path: str, kind: str, cache: str | None) -> _Acc | None:
    with open(log_path, "rb") as f:
        st = os.fstat(f.fileno())
        use_cache = bool(cache) and st.st_size >= CACHE_MIN
        start = _load_cache(str(cache), kind, st) if use_cache else None
        offset, acc = start if start is not None else (0, _Acc())
        if offset:
            f.seek(offset)
        done, settled = _feed(acc, kind, f)
    if use_cache and done:
        _save_cache(str(cache), kind, st, offset + done, settled)
    return acc


def summarize(log_path: str, kind: str | None, price: Mapping[str, float] | None = None,
              model: str | None = None, *, cache: str | None = None) -> dict[str, Any] | None:
    """The summary of the transcript of ``kind`` in the log at ``log_path`` (see the module's
    docstring), or None when there is none (no kind, an unknown kind, no such log, nothing of
    that format in it). ``price``: the profile's US$ per million tokens; ``model``: the model
    the profile asks for, used when the transcript does not name one (:func:`model_from_argv`).
    ``cache``: a file where a big log's reading is kept (keyed by the log's inode and the
    offset read), so the next call reads only what was appended since. Never raises."""
    try:
        if not isinstance(kind, str) or kind not in _HANDLERS or not isinstance(log_path, str):
            return None
        acc = _read(log_path, kind, cache)
        if acc is None or not acc.seen:
            return None
        return _result(acc, price, model)
    except Exception:  # noqa: BLE001 - a transcript never breaks its caller
        return None


def _result(acc: _Acc, price: Mapping[str, float] | None, model: str | None) -> dict[str, Any]:
    name = acc.model or (model if isinstance(model, str) and model else None)
    cost: float | None = None
    source: str | None = None
    if acc.cost is not None:
        cost, source = round(acc.cost, 6), "reported"
    else:
        p = price_of(name, price)
        if p is not None and (acc.input or acc.output):
            fresh = max(0, acc.input - acc.cached)
            cost = round((fresh * p[0] + acc.cached * p[1] + acc.output * p[2]) / 1e6, 6)
            source = "estimated"
    return {"model": name, "turns": acc.turns, "input_tokens": acc.input,
            "output_tokens": acc.output, "cached_input_tokens": acc.cached, "cost_usd": cost,
            "cost_source": source,
            "last_action": (_one_line("Shell: " + _unwrap_shell(acc.last_action))
                            if acc.shell and acc.last_action else acc.last_action),
            "last_message": acc.last_message, "session": acc.session,
            "context_tokens": acc.context or None}
