"""The HTTP side: one threaded server on 127.0.0.1, three wire formats, every request recorded."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

from modelserver.script import Turn, say

OPENAI_MODEL = "gpt-5.5"
ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"
GEMINI_MODEL = "gemini-2.5-pro"


@dataclass
class Request:
    """One request as the server saw it. ``api``: ``openai``, ``anthropic``, ``gemini`` or
    None (a probe); ``turn``: the index of the script turn that answered it (None for a request
    outside the agent's main loop: a title, a token count, a probe); ``usage``: the token counts
    reported for it (``input``, ``output``, ``cached``)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    api: str | None = None
    turn: int | None = None
    usage: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        return json.dumps(self.body) if self.body is not None else ""

    def tool_outputs(self) -> list[str]:
        """What the agent's tools returned, as this request carries it back to the model (the
        outputs of the previous turn's call; earlier ones are repeated in the history)."""
        body = self.body if isinstance(self.body, dict) else {}
        out: list[str] = []
        if self.api == "openai":
            for item in body.get("input") or []:
                if isinstance(item, dict) and item.get("type", "").endswith("_call_output"):
                    out.append(item["output"] if isinstance(item["output"], str)
                               else json.dumps(item["output"]))
        elif self.api == "anthropic":
            for msg in body.get("messages") or []:
                for block in msg.get("content") if isinstance(msg.get("content"), list) else []:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        c = block.get("content")
                        out.append(c if isinstance(c, str) else json.dumps(c))
        elif self.api == "gemini":
            for content in body.get("contents") or []:
                for part in content.get("parts") or []:
                    if isinstance(part, dict) and "functionResponse" in part:
                        out.append(json.dumps(part["functionResponse"].get("response")))
        return out


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _sse(event: str | None, data: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    return (head + "data: " + json.dumps(data, separators=(",", ":")) + "\n\n").encode()


class ModelServer:
    """``with ModelServer(script) as srv:`` serves on ``srv.url`` until the block ends."""

    def __init__(self, script: Sequence[Turn] = (), *, openai_model: str = OPENAI_MODEL,
                 anthropic_model: str = ANTHROPIC_MODEL, gemini_model: str = GEMINI_MODEL,
                 route: Callable[[str], Sequence[Turn]] | None = None) -> None:
        """``route``: instead of one script for the whole run, a script per packet: when a
        request names a packet file the server has not seen ("Read PATH and follow it.", the
        newest one in the conversation), ``route(text of that file)`` gives the turns that
        answer it (an orchestrator's turns, each with its own packet, in one resumed session)."""
        self.script = list(script)
        self.route = route
        self.routed: list[str] = []  # the packets routed so far, in order
        self.queue: list[Turn] = []
        self.next_turn = 0
        self.requests: list[Request] = []
        self.models = {"openai": openai_model, "anthropic": anthropic_model, "gemini": gemini_model}
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.cached: dict[str, int] = {}  # api -> input tokens of its previous main-loop request
        self.httpd: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        server = self

        class Handler(_Handler):
            pass

        Handler.srv = server

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="modelserver",
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self.httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    # -- what tests read -------------------------------------------------------------------
    def main_requests(self, api: str | None = None) -> list[Request]:
        return [r for r in self.requests if r.turn is not None and (api is None or r.api == api)]

    def usage_total(self, api: str | None = None) -> dict[str, int]:
        tot = {"input": 0, "output": 0, "cached": 0}
        for r in self.requests:
            if r.usage and (api is None or r.api == api):
                for k in tot:
                    tot[k] += r.usage.get(k, 0)
        return tot

    def escapes(self) -> list[Request]:
        """Requests for any other host, sent through the proxy (``proxy_env``)."""
        return [r for r in self.requests if r.method == "CONNECT" or r.method.startswith("PROXY ")]

    def proxy_env(self) -> dict[str, str]:
        """Environment that sends every client's traffic for other hosts here (and refuses it)."""
        return {k: self.url for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
                                      "https_proxy", "all_proxy")} | {
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

    @property
    def done(self) -> bool:
        return self.next_turn >= len(self.script)

    # -- the script ------------------------------------------------------------------------
    def take_turn(self, req: Request) -> tuple[int, Turn]:
        """The next turn, with ``{packet}`` in it replaced by the file the agent was told to
        read (git flower's bootstrap line: "Read PATH and follow it.")."""
        found = re.findall(r"Read (/[^\s\"\\]+) and follow it", req.text())
        packet = found[-1] if found else None
        with self.lock:
            i = self.next_turn
            self.next_turn += 1
            if self.route is not None:
                if packet is not None and (not self.routed or self.routed[-1] != packet):
                    self.routed.append(packet)
                    try:
                        with open(packet, encoding="utf-8") as f:
                            text = f.read()
                    except OSError:
                        text = ""
                    self.queue = list(self.route(text))
                turn = self.queue.pop(0) if self.queue else say("Done.")
            else:
                turn = self.script[i] if i < len(self.script) else say("Done.")
        if packet and "{packet}" in turn.command + turn.path:
            turn = replace(turn, command=turn.command.replace("{packet}", packet),
                           path=turn.path.replace("{packet}", packet))
        return i, turn

    def usage_for(self, api: str, prompt: str, answer: str, main: bool,
                  tokens: int = 0) -> dict[str, int]:
        inp = tokens or _tokens(prompt)
        with self.lock:
            cached = min(self.cached.get(api, 0), inp) if main else 0
            if main:
                self.cached[api] = inp
        return {"input": inp, "output": _tokens(answer) + 3, "cached": cached}

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self.ids):06d}{int(time.time() * 1000) % 100000:05d}"


class _Handler(BaseHTTPRequestHandler):
    srv: ModelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # every method: record, then route
    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_CONNECT(self) -> None:
        """A request meant for another host, through the proxy the tests point every client at:
        recorded (``escapes`` lists them) and refused."""
        with self.srv.lock:
            self.srv.requests.append(Request("CONNECT", self.path, dict(self.headers.items()), None))
        self.send_response(403)
        self.send_header("content-length", "0")
        self.end_headers()

    def _handle(self) -> None:
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with self.srv.lock:
            self.srv.requests.append(req)
        if "://" in self.path:  # an absolute URI: a plain-http request through the proxy
            req.method = "PROXY " + self.command
            self._json({"error": "no requests leave 127.0.0.1"}, 403)
            return
        path = urlsplit(self.path).path
        try:
            if self.command == "POST" and path.endswith("/responses"):
                req.api = "openai"
                self._openai(req)
            elif self.command == "POST" and path.endswith("/messages/count_tokens"):
                req.api = "anthropic"
                self._json({"input_tokens": _tokens(req.text())})
            elif self.command == "POST" and path.endswith("/messages"):
                req.api = "anthropic"
                self._anthropic(req)
            elif self.command == "POST" and ":" in path.rsplit("/", 1)[-1]:
                req.api = "gemini"
                self._gemini(req, path.rsplit(":", 1)[1])
            elif path.endswith(("/models", "/models/")):
                self._json({"object": "list", "data": [], "models": []})
            else:
                self._json({}, 200 if self.command in ("GET", "HEAD") else 404)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- plumbing --------------------------------------------------------------------------
    def _json(self, doc: Any, status: int = 200) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _stream(self, chunks: Iterator[bytes], extra: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # -- OpenAI Responses (Codex) ----------------------------------------------------------
    def _openai(self, req: Request) -> None:
        body = req.body if isinstance(req.body, dict) else {}
        tools: dict[str, Any] = {str(t.get("name") or t.get("type")): t for t in body.get("tools") or []
                                 if isinstance(t, dict)}
        main = bool(tools)
        turn_no, turn = self.srv.take_turn(req) if main else (None, say("OK"))
        req.turn = turn_no
        item = _openai_item(self.srv, turn, tools, _cwd(req.text()))
        answer = json.dumps(item)
        req.usage = self.srv.usage_for("openai", req.text(), answer, main, turn.tokens)
        model = body.get("model") or self.srv.models["openai"]
        rid = self.srv.new_id("resp")
        u = req.usage
        usage = {"input_tokens": u["input"], "input_tokens_details": {"cached_tokens": u["cached"]},
                 "output_tokens": u["output"], "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": u["input"] + u["output"]}
        base = {"id": rid, "object": "response", "created_at": int(time.time()), "model": model}

        def events() -> Iterator[bytes]:
            seq = itertools.count()
            yield _sse("response.created", {"type": "response.created", "sequence_number": next(seq),
                                             "response": {**base, "status": "in_progress", "output": []}})
            yield _sse("response.in_progress", {"type": "response.in_progress", "sequence_number": next(seq),
                                                 "response": {**base, "status": "in_progress", "output": []}})
            yield _sse("response.output_item.added", {"type": "response.output_item.added",
                                                       "sequence_number": next(seq), "output_index": 0,
                                                       "item": {**item, "status": "in_progress",
                                                                **({"content": []} if item["type"] == "message" else {})}})
            if item["type"] == "message":
                text = item["content"][0]["text"]
                yield _sse("response.content_part.added", {"type": "response.content_part.added",
                                                            "sequence_number": next(seq), "item_id": item["id"],
                                                            "output_index": 0, "content_index": 0,
                                                            "part": {"type": "output_text", "text": "", "annotations": []}})
                for piece in _pieces(text):
                    yield _sse("response.output_text.delta", {"type": "response.output_text.delta",
                                                               "sequence_number": next(seq), "item_id": item["id"],
                                                               "output_index": 0, "content_index": 0, "delta": piece})
                yield _sse("response.output_text.done", {"type": "response.output_text.done",
                                                          "sequence_number": next(seq), "item_id": item["id"],
                                                          "output_index": 0, "content_index": 0, "text": text})
            yield _sse("response.output_item.done", {"type": "response.output_item.done",
                                                      "sequence_number": next(seq), "output_index": 0, "item": item})
            yield _sse("response.completed", {"type": "response.completed", "sequence_number": next(seq),
                                               "response": {**base, "status": "completed", "output": [item],
                                                            "usage": usage}})

        if body.get("stream") is False:
            self._json({**base, "status": "completed", "output": [item], "usage": usage})
        else:
            self._stream(events(), {"x-request-id": rid, "openai-model": model})

    # -- Anthropic Messages (Claude Code) --------------------------------------------------
    def _anthropic(self, req: Request) -> None:
        body = req.body if isinstance(req.body, dict) else {}
        tools: dict[str, Any] = {str(t.get("name")): t for t in body.get("tools") or [] if isinstance(t, dict)}
        main = "Bash" in tools or "Write" in tools
        turn_no, turn = self.srv.take_turn(req) if main else (None, say("OK"))
        req.turn = turn_no
        block = _anthropic_block(self.srv, turn, tools, _cwd(req.text()))
        answer = json.dumps(block)
        req.usage = self.srv.usage_for("anthropic", req.text(), answer, main, turn.tokens)
        u = req.usage
        model = body.get("model") or self.srv.models["anthropic"]
        mid = self.srv.new_id("msg")
        stop = "tool_use" if block["type"] == "tool_use" else "end_turn"
        usage = {"input_tokens": u["input"] - u["cached"], "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": u["cached"], "output_tokens": u["output"]}
        message = {"id": mid, "type": "message", "role": "assistant", "model": model,
                   "content": [block], "stop_reason": stop, "stop_sequence": None, "usage": usage}
        if not body.get("stream"):
            self._json(message)
            return

        def events() -> Iterator[bytes]:
            yield _sse("message_start", {"type": "message_start", "message": {
                **message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}})
            if block["type"] == "text":
                yield _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                                    "content_block": {"type": "text", "text": ""}})
                yield _sse("ping", {"type": "ping"})
                for piece in _pieces(block["text"]):
                    yield _sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                        "delta": {"type": "text_delta", "text": piece}})
            else:
                yield _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                                    "content_block": {**block, "input": {}}})
                for piece in _pieces(json.dumps(block["input"])):
                    yield _sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                        "delta": {"type": "input_json_delta", "partial_json": piece}})
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            yield _sse("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": stop, "stop_sequence": None},
                                         "usage": {"output_tokens": u["output"]}})
            yield _sse("message_stop", {"type": "message_stop"})

        self._stream(events(), {"request-id": "req_" + mid})

    # -- Gemini (Gemini CLI) ---------------------------------------------------------------
    def _gemini(self, req: Request, method: str) -> None:
        body = req.body if isinstance(req.body, dict) else {}
        if method == "countTokens":
            self._json({"totalTokens": _tokens(req.text())})
            return
        tools: dict[str, Any] = {}
        for t in body.get("tools") or []:
            for f in (t or {}).get("functionDeclarations") or []:
                tools[f.get("name")] = f
        main = method == "streamGenerateContent" and bool(tools)
        if main:
            turn_no, turn = self.srv.take_turn(req)
            req.turn = turn_no
            part = _gemini_part(turn, tools, _cwd(req.text()))
        else:
            part = {"text": _gemini_side_answer(body)}
        req.usage = self.srv.usage_for("gemini", req.text(), json.dumps(part), main)
        u = req.usage
        model = urlsplit(req.path).path.rsplit("/", 1)[-1].split(":")[0] or self.srv.models["gemini"]
        usage = {"promptTokenCount": u["input"], "candidatesTokenCount": u["output"],
                 "totalTokenCount": u["input"] + u["output"], "cachedContentTokenCount": u["cached"]}
        doc: dict[str, Any] = {"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP",
                               "index": 0}],
               "usageMetadata": usage, "modelVersion": model,
               "responseId": self.srv.new_id("gem")}
        if method != "streamGenerateContent":
            self._json(doc)
            return

        def events() -> Iterator[bytes]:
            if "text" in part and len(part["text"]) > 8:
                first = {"candidates": [{"content": {"role": "model", "parts": [{"text": part["text"][:8]}]},
                                         "index": 0}], "modelVersion": model}
                yield _sse(None, first)
                rest = {**doc, "candidates": [{**doc["candidates"][0], "content": {
                    "role": "model", "parts": [{"text": part["text"][8:]}]}}]}
                yield _sse(None, rest)
            else:
                yield _sse(None, doc)

        self._stream(events())


# -- rendering a turn in each API's terms ------------------------------------------------------
_CWD_PATTERNS = (
    r"<cwd>([^<]+)</cwd>",                                   # Codex environment_context
    r"Primary working directory: ([^\s\\\"]+)",              # Claude Code system prompt
    r"working in the directory: ([^\s\\\"]+)",               # Gemini CLI
    r"working directory: ([^\s\\\"]+)",
)


def _cwd(text: str) -> str:
    for pat in _CWD_PATTERNS:
        m = re.search(pat, text, re.IGNORECASE)
        if m:
            return m.group(1).rstrip(".")
    return ""


def _abs(cwd: str, path: str) -> str:
    if path.startswith("/") or not cwd:
        return path
    return cwd.rstrip("/") + "/" + path


def _pieces(text: str, size: int = 24) -> Iterator[str]:
    for i in range(0, max(len(text), 1), size):
        yield text[i:i + size]


def _patch(turn: Turn) -> str:
    if turn.kind == "write":
        lines = "".join("+" + line + "\n" for line in turn.content.splitlines())
        return f"*** Begin Patch\n*** Add File: {turn.path}\n{lines}*** End Patch\n"
    old = "".join("-" + line + "\n" for line in turn.old.splitlines())
    new = "".join("+" + line + "\n" for line in turn.new.splitlines())
    return f"*** Begin Patch\n*** Update File: {turn.path}\n@@\n{old}{new}*** End Patch\n"


def _heredoc(turn: Turn) -> str:
    if turn.kind == "write":
        return f"cat > '{turn.path}' <<'FLOWER_EOF'\n{turn.content}FLOWER_EOF"
    if turn.kind == "read":
        return f"cat '{turn.path}'"
    return (f"python3 -c 'import sys; p=sys.argv[1]; s=open(p).read(); "
            f"open(p,\"w\").write(s.replace(sys.argv[2], sys.argv[3], 1))' "
            f"'{turn.path}' {json.dumps(turn.old)} {json.dumps(turn.new)}")


def _openai_item(srv: ModelServer, turn: Turn, tools: dict[str, Any], cwd: str) -> dict[str, Any]:
    if turn.kind == "say":
        return {"type": "message", "id": srv.new_id("msg"), "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": turn.text, "annotations": []}]}
    call = {"id": srv.new_id("fc"), "call_id": srv.new_id("call"), "status": "completed"}
    if turn.kind in ("write", "edit") and "apply_patch" in tools:
        patch = _patch(turn)
        if tools["apply_patch"].get("type") == "custom":
            return {"type": "custom_tool_call", **call, "name": "apply_patch", "input": patch}
        return {"type": "function_call", **call, "name": "apply_patch",
                "arguments": json.dumps({"input": patch})}
    command = turn.command if turn.kind == "shell" else _heredoc(turn)
    args: dict[str, Any]
    if "shell_command" in tools:
        name, args = "shell_command", {"command": command, "workdir": cwd or None}
    elif "exec_command" in tools:
        name, args = "exec_command", {"cmd": command, "workdir": cwd or None}
    else:
        name, args = "shell", {"command": ["bash", "-lc", command], "workdir": cwd or None}
    args = {k: v for k, v in args.items() if v is not None}
    return {"type": "function_call", **call, "name": name, "arguments": json.dumps(args)}


def _anthropic_block(srv: ModelServer, turn: Turn, tools: dict[str, Any], cwd: str) -> dict[str, Any]:
    if turn.kind == "say":
        return {"type": "text", "text": turn.text}
    if turn.kind == "shell" or turn.kind not in ("write", "edit", "read"):
        name, inp = "Bash", {"command": turn.command, "description": "Run a command"}
    elif turn.kind == "write":
        name, inp = "Write", {"file_path": _abs(cwd, turn.path), "content": turn.content}
    elif turn.kind == "edit":
        name, inp = "Edit", {"file_path": _abs(cwd, turn.path), "old_string": turn.old,
                             "new_string": turn.new}
    else:
        name, inp = "Read", {"file_path": _abs(cwd, turn.path)}
    if name not in tools:
        name, inp = "Bash", {"command": _heredoc(turn), "description": "Change a file"}
    return {"type": "tool_use", "id": "toolu_" + srv.new_id("01")[3:], "name": name, "input": inp}


def _gemini_part(turn: Turn, tools: dict[str, Any], cwd: str) -> dict[str, Any]:
    if turn.kind == "say":
        return {"text": turn.text}
    if turn.kind == "write" and "write_file" in tools:
        name, args = "write_file", {"file_path": _abs(cwd, turn.path), "content": turn.content}
    elif turn.kind == "edit" and "replace" in tools:
        name, args = "replace", {"file_path": _abs(cwd, turn.path), "old_string": turn.old,
                                 "new_string": turn.new, "instruction": "Apply the scripted edit"}
    elif turn.kind == "read" and "read_file" in tools:
        key = "absolute_path" if "absolute_path" in json.dumps(tools["read_file"]) else "file_path"
        name, args = "read_file", {key: _abs(cwd, turn.path)}
    else:
        command = turn.command if turn.kind == "shell" else _heredoc(turn)
        name, args = "run_shell_command", {"command": command, "description": "Run a command"}
    return {"functionCall": {"name": name, "args": args}}


def _gemini_side_answer(body: dict[str, Any]) -> str:
    """A side question (model routing, next-speaker check, a summary): JSON shaped by the
    schema it asks for (the conversation is over: ``next_speaker`` is the user), else text."""
    cfg = body.get("generationConfig") or {}
    if cfg.get("responseMimeType") == "application/json":
        schema = cfg.get("responseJsonSchema") or cfg.get("responseSchema") or {}
        return json.dumps(_from_schema(schema))
    return "OK"


def _from_schema(schema: dict[str, Any]) -> Any:
    kind = str(schema.get("type", "object")).lower()
    if schema.get("enum"):
        values = schema["enum"]
        return "user" if "user" in values else values[0]
    if kind == "object":
        return {k: _from_schema(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return []
    if kind in ("number", "integer"):
        return 10
    if kind == "boolean":
        return False
    return "Scripted answer."
