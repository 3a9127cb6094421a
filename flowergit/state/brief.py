"""The brief record and its file codec (pure: no git here).

A brief file is TOML front matter between ``+++`` lines followed by a markdown body::

    +++
    v = 1
    id = 246
    title = "Active refs rail"
    kind = "brief"
    status = "planned"
    +++
    The spec, in markdown.

The TOML is :mod:`flowergit.state.tomlcodec`'s: new files are written with its canonical writer;
edits go through its comment-keeping editor, so comments, key order and keys git flower does
not know survive every later write.
"""

from __future__ import annotations


from flowergit.errors import UsageError
from flowergit.state import tomlcodec
from flowergit.state.tomlcodec import datetime_module

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:  # datetime is imported where used: a cached brief list never needs it
    import datetime as _dt

FORMAT = 1
STATUSES = ("draft", "planned", "dispatched", "done", "merged", "blocked", "abandoned")
# the forward order used by operations that must stay idempotent (a re-applied step never
# moves a brief backwards); blocked/abandoned sit outside the order.
ORDER = {"draft": 0, "planned": 1, "dispatched": 2, "done": 3, "merged": 4}
KINDS = ("brief", "bug", "idea")
FENCE = b"+++"
MAX_TITLE = 4096
DELETE = tomlcodec.DELETE  # a :func:`rewrite` change that removes the key


class BriefFormatError(UsageError):
    """A brief file that does not parse or whose front matter is not valid: the message names
    the file (``flower/briefs:briefs/0000/7.md``), the line and column where they apply and what
    is wrong; the hint says how to repair it with git flower's own commands."""

    def __init__(self, message: str, hint: str | None = None, *, data: object = None,
                 file: str = "", reason: str = "", brief: int | None = None) -> None:
        super().__init__(message, hint, data=data)
        self.file = file
        self.reason = reason or message
        self.brief = brief


def path_id(where: str) -> int | None:
    """The brief id a file's path gives (``…briefs/0000/7.md`` -> 7), or None."""
    name = where.rsplit("/", 1)[-1]
    if "briefs/" not in where or not name.endswith(".md") or not name[:-3].isdigit():
        return None
    bid = int(name[:-3])
    return bid if 0 < bid < 10**9 else None


def _repair_hint(bid: int | None, field: str | None = None) -> str:
    if bid is None:
        return "fix the file on flower/briefs by hand (see docs/state.md, \"Broken state\")"
    edit = f"repair it with `git flower brief edit {bid}` (it opens the raw file)"
    if field == "status":
        return f"set a known status with `git flower brief set {bid} status=planned`, or {edit}"
    if field in ("kind", "title", "auto_dispatch", "agent", "depends_on", "run"):
        return f"set that field with `git flower brief set {bid} {field}=…`, or {edit}"
    return edit


def broken(where: str, reason: str, line: int | None = None, col: int | None = None,
           field: str | None = None) -> BriefFormatError:
    """The error for a brief file that does not parse: ``file:line:col: reason`` and a hint."""
    bid = path_id(where)
    pos = f":{line}" + (f":{col}" if col else "") if line else ""
    return BriefFormatError(f"{where}{pos}: {reason}", _repair_hint(bid, field), file=where,
                            reason=(f"line {line}: " if line else "") + reason, brief=bid)


def _line_col(text: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a byte offset."""
    line = text.count(b"\n", 0, offset) + 1
    return line, offset - (text.rfind(b"\n", 0, offset) + 1) + 1


def _key_line(front: bytes, key: str) -> int | None:
    """The file line (the ``+++`` line is 1) where the top-level ``key`` is set, if plain."""
    for n, ln in enumerate(front.split(b"\n"), 2):
        s = ln.lstrip()
        if s.startswith(key.encode()) and s[len(key):].lstrip().startswith(b"="):
            return n
    return None


class Brief:
    """One brief: its front matter fields, keys git flower does not know (``extra``), the body."""

    __slots__ = ("id", "title", "kind", "status", "auto_dispatch", "agent", "depends_on",
                 "created", "run", "extra", "body")  # an import holds 100,000 of them

    def __init__(self, id: int, title: str, kind: str = "brief", status: str = "draft",
                 auto_dispatch: bool = False, agent: str | None = None,
                 depends_on: list[int] | None = None, created: str | None = None,
                 run: list[list[str]] | None = None, extra: dict[str, Any] | None = None,
                 body: str = "") -> None:
        self.id = id
        self.title = title
        self.kind = kind
        self.status = status
        self.auto_dispatch = auto_dispatch
        self.agent = agent
        self.depends_on = list(depends_on or [])
        self.created = created
        self.run = run
        self.extra = dict(extra or {})
        self.body = body

    def __repr__(self) -> str:
        return f"Brief(id={self.id}, title={self.title!r}, status={self.status!r})"

    def meta(self) -> dict[str, Any]:
        """The front matter as plain JSON-able data (no body)."""
        d: dict[str, Any] = {
            "id": self.id, "title": self.title, "kind": self.kind, "status": self.status,
            "auto_dispatch": self.auto_dispatch, "agent": self.agent,
            "depends_on": list(self.depends_on), "created": self.created,
        }
        if self.run is not None:
            d["run"] = self.run
        for k, v in self.extra.items():
            d.setdefault(k, _jsonable(v))
        return d


def _jsonable(v: Any) -> Any:
    _dt = datetime_module()
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time)):
        return iso(v)
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def iso(v: Any) -> str:
    _dt = datetime_module()
    if isinstance(v, _dt.datetime) and v.tzinfo is not None:
        v = v.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return str(v.isoformat(timespec="seconds")) + "Z"
    return str(v.isoformat())


def now_utc() -> _dt.datetime:
    dt = datetime_module()
    now: _dt.datetime = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return now


def split(data: bytes) -> tuple[bytes, bytes]:
    """(front matter, body) of a brief file."""
    return _split(data, "brief file")


def _split(data: bytes, where: str) -> tuple[bytes, bytes]:
    data = data.replace(b"\r\n", b"\n") if b"\r\n" in data[:64] else data
    if not data.startswith(FENCE + b"\n"):
        raise broken(where, "no front matter: the file does not start with a '+++' line", 1, 1)
    end = data.find(b"\n" + FENCE + b"\n", 3)
    if end < 0:
        if data.endswith(b"\n" + FENCE):
            return data[4 : len(data) - 3], b""
        raise broken(where, "the front matter is not closed: no second '+++' line", 1, 1)
    return data[4 : end + 1], data[end + 5 :]


def load_front(front: bytes) -> dict[str, Any]:
    """The front matter as tomllib parses it (:func:`flowergit.state.tomlcodec.loads`). Raises
    ``UnicodeDecodeError`` or ``tomllib.TOMLDecodeError`` (a ``ValueError``)."""
    return tomlcodec.loads(front.decode("utf-8"))


def parse(data: bytes, where: str = "brief") -> Brief:
    """The brief in ``data``; a file that does not parse or whose front matter is not valid
    raises :class:`BriefFormatError` naming ``where`` (and line:column). When ``where`` is a
    brief's path (``…briefs/0000/7.md``) its id must be the path's."""
    front, body = _split(data, where)
    try:
        meta = load_front(front)
    except UnicodeDecodeError as e:
        at_line, at_col = _line_col(front, e.start)
        raise broken(where, f"the front matter is not UTF-8 (byte 0x{front[e.start]:02x})",
                     at_line + 1, at_col) from None
    except ValueError as e:  # tomllib.TOMLDecodeError: "… (at line N, column M)"
        msg = str(e)
        line: int | None = None
        col: int | None = None
        at = msg.rfind(" (at line ")
        if at >= 0 and msg.endswith(")"):
            nums = msg[at + 10:-1].split(", column ")
            if len(nums) == 2 and nums[0].isdigit() and nums[1].isdigit():
                line, col = int(nums[0]) + 1, int(nums[1])  # + 1: the opening '+++' line
            msg = msg[:at]
        elif at < 0 and msg.endswith(" (at end of document)"):
            msg = msg[:-21]
            line = front.count(b"\n") + 2
        raise broken(where, f"the front matter is not valid TOML: {msg}", line, col) from None
    b = from_meta(meta, body.decode("utf-8", "replace"), where, front)
    want = path_id(where)
    if want is not None and b.id != want:
        raise broken(where, f"its front matter says id = {b.id}, but the file is brief {want}'s "
                     "(ids cannot change)",
                     _key_line(front, "id"), field="id")
    return b


def _want(meta: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str,
          front: bytes = b"") -> Any:
    v = meta.get(key)
    if v is not None and (not isinstance(v, typ) or (typ is int and isinstance(v, bool))):
        raise broken(where, f"'{key}' has the wrong type ({type(v).__name__})",
                     _key_line(front, key), field=key)
    return v


def from_meta(meta: dict[str, Any], body: str, where: str = "brief", front: bytes = b"") -> Brief:
    meta = dict(meta)
    bid = _want(meta, "id", int, where, front)
    if bid is None or not (0 < bid < 10**9):
        raise broken(where, "missing or invalid 'id'", _key_line(front, "id"), field="id")
    title = _want(meta, "title", str, where, front) or ""
    kind = _want(meta, "kind", str, where, front) or "brief"
    status = _want(meta, "status", str, where, front) or "draft"
    if status not in STATUSES:
        raise broken(where, f"unknown status {status!r} (statuses are: {', '.join(STATUSES)})",
                     _key_line(front, "status"), field="status")
    auto = _want(meta, "auto_dispatch", bool, where, front) or False
    agent = _want(meta, "agent", str, where, front)
    deps = _want(meta, "depends_on", list, where, front) or []
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in deps):
        raise broken(where, "'depends_on' must be a list of brief ids",
                     _key_line(front, "depends_on"), field="depends_on")
    created = meta.get("created")
    run = _want(meta, "run", list, where, front)
    if run is not None and not all(isinstance(s, list) and s and all(isinstance(a, str) for a in s)
                                   for s in run):
        raise broken(where, "'run' must be a list of argv lists such as [[\"make\"]]",
                     _key_line(front, "run"), field="run")
    known = {"v", "id", "title", "kind", "status", "auto_dispatch", "agent", "depends_on",
             "created", "run"}
    extra = {k: v for k, v in meta.items() if k not in known}
    return Brief(id=bid, title=title, kind=kind, status=status, auto_dispatch=auto, agent=agent,
                 depends_on=list(deps), created=iso(created) if created is not None else None,
                 run=run, extra=extra, body=body)


def check_title(title: str) -> str:
    if not title.strip():
        raise UsageError("a brief needs a non-empty title")
    if "\0" in title or len(title.encode("utf-8", "surrogateescape")) > MAX_TITLE:
        raise UsageError(f"title too long or contains NUL (at most {MAX_TITLE} bytes)")
    try:
        title.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError("the title is not valid UTF-8",
                         "re-encode it as UTF-8 (iconv -t UTF-8)") from None
    return title


def check_body(raw: bytes, cap: int) -> str:
    if len(raw) > cap:
        raise UsageError(f"brief body is {len(raw)} bytes, over the cap of {cap} bytes",
                         "shorten it, or raise [flower] max_brief_bytes in .flower.toml")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"brief body is not valid UTF-8 (bad byte at offset {e.start})",
                         "re-encode it as UTF-8 (iconv -t UTF-8)") from None


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError(f"invalid kind {kind!r}", "kinds are: " + ", ".join(KINDS))
    return kind


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise UsageError(f"invalid status {status!r}", "statuses are: " + ", ".join(STATUSES))
    return status


def render_new(b: Brief) -> bytes:
    """Serialise a brand-new brief (the codec's canonical writer: fast, deterministic)."""
    meta: dict[str, Any] = {"v": FORMAT, "id": b.id, "title": b.title, "kind": b.kind,
                            "status": b.status}
    if b.auto_dispatch:
        meta["auto_dispatch"] = True
    if b.agent:
        meta["agent"] = b.agent
    if b.depends_on:
        meta["depends_on"] = list(b.depends_on)
    _dt = datetime_module()
    meta["created"] = _dt.datetime.fromisoformat(b.created) if b.created else now_utc()
    if b.run:
        meta["run"] = b.run
    meta.update(b.extra)
    front = tomlcodec.dumps(meta)  # created: `2026-11-20T09:14:03Z`, as DESIGN.md shows
    body = b.body
    if body and not body.endswith("\n"):
        body += "\n"
    return b"+++\n" + front.encode("utf-8") + b"+++\n" + body.encode("utf-8")


def conflicts_of(data: bytes) -> dict[str, Any]:
    """The ``[conflicts]`` table sync recorded in a brief (key -> {ours, theirs}), or {}."""
    try:
        front, _ = split(data)
        got = tomlcodec.loads(front.decode("utf-8")).get("conflicts")
    except (ValueError, UnicodeDecodeError, BriefFormatError):
        return {}
    return dict(got) if isinstance(got, dict) else {}


def rewrite(data: bytes, changes: dict[str, Any], body: str | None = None,
            where: str = "brief file") -> bytes:
    """Change front-matter keys (``DELETE`` removes one) keeping comments and unknown keys."""
    front, old_body = _split(data, where)
    try:
        text = tomlcodec.edit(front.decode("utf-8"), changes)
    except ValueError:  # tomlkit.exceptions.ParseError, UnicodeDecodeError
        parse(data, where)  # names the file, the line and what is wrong
        raise broken(where, "the front matter cannot be edited (TOML the editor cannot read)",
                     1) from None
    new_body = old_body if body is None else body.encode("utf-8")
    if new_body and not new_body.endswith(b"\n"):
        new_body += b"\n"
    return b"+++\n" + text.encode("utf-8") + b"+++\n" + new_body


def coerce(key: str, text: str) -> Any:
    """Turn ``KEY=VALUE`` text from the command line into a typed front-matter value."""
    if key == "status":
        return check_status(text)
    if key == "kind":
        return check_kind(text)
    if key == "title":
        return check_title(text)
    if key == "auto_dispatch":
        if text.lower() in ("true", "yes", "1", "on"):
            return True
        if text.lower() in ("false", "no", "0", "off"):
            return False
        raise UsageError(f"auto_dispatch must be true or false, not {text!r}")
    if key == "depends_on":
        from flowergit.state.ids import brief_id

        return [brief_id(p.strip()) for p in text.split(",") if p.strip()]
    if key == "agent":
        from flowergit.state.ids import name

        return name(text, "agent")
    if key in ("id", "v", "created"):
        raise UsageError(f"'{key}' cannot be changed")
    if key == "run":
        try:
            val = tomlcodec.loads_value(text)
        except ValueError as e:  # tomllib.TOMLDecodeError
            raise UsageError(f"run: {e}") from None
        from_meta({"id": 1, "run": val}, "")
        return val
    if not key.replace("_", "").isalnum() or not key.isascii() or not key[:1].isalpha():
        raise UsageError(f"invalid key {key!r}")
    try:
        return tomlcodec.loads_value(text)
    except ValueError:  # tomllib.TOMLDecodeError
        return text


def _status_lines(front: bytes) -> list[tuple[int, bytes]]:
    """(offset, line) of every plain ``status = "<a-z>+"`` line (its newline included) among
    the keys before the first ``[table]`` of ``front``: what ``^status = "[a-z]+"\n`` finds
    there, with string operations (no ``re`` to load on the dispatch path)."""
    found: list[tuple[int, bytes]] = []
    pos = 0
    while True:
        end = front.find(b"\n", pos)
        line = front[pos:] if end < 0 else front[pos:end]
        if line.lstrip(b" \t").startswith(b"["):
            return found  # the first table: the top-level keys end here
        if end < 0:
            return found
        inner = line[10:-1]
        if line.startswith(b'status = "') and line.endswith(b'"') and inner \
                and not inner.strip(b"abcdefghijklmnopqrstuvwxyz"):
            found.append((pos, line + b"\n"))
        pos = end + 1


def with_status(raw: bytes, status: str) -> bytes:
    """``raw`` with its front-matter status set to ``status``: the byte-for-byte result of
    ``brief.rewrite(raw, {"status": status})``. A brief whose top-level ``status = "…"`` line
    is plain (no comment, no other spelling) has that one line replaced, without loading the
    comment-keeping TOML editor, and the result is checked to parse as the same document with
    the new status; any other brief goes through the editor."""
    front, _body = split(raw)
    found = _status_lines(front)
    end = raw.find(b"\n+++\n", 3)
    tail = raw[end + 5:] if end >= 0 else b""
    if len(found) != 1 or not raw.startswith(b"+++\n") or end < 0 \
            or (tail and not tail.endswith(b"\n")):
        return rewrite(raw, {"status": status})
    at = 4 + found[0][0]  # offsets in `front` are offsets in `raw` after "+++\n"
    line = found[0][1]
    if raw[at:at + len(line)] != line:
        return rewrite(raw, {"status": status})
    out = raw[:at] + f'status = "{status}"\n'.encode() + raw[at + len(line):]
    try:  # the line must be the key itself (not text inside a multi-line string)
        want = load_front(front)
        want["status"] = status
        same = load_front(split(out)[0]) == want
    except (ValueError, UnicodeDecodeError):
        same = False
    return out if same else rewrite(raw, {"status": status})
