"""Brief operations: one function per user action."""

from __future__ import annotations

import os
import sys

from flowergit import fastjson
from flowergit.errors import FlowerError, UsageError
from flowergit.ops.context import Ctx
from flowergit.state import brief as codec
from flowergit.state import files
from flowergit.state.ids import name as check_name
from flowergit.state.briefs import where
from flowergit.state.rawjson import RawJSON

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any


def new(ctx: Ctx, *, title: str, body: bytes = b"", kind: str = "brief", auto: bool = False,
        agent: str | None = None, depends: Iterable[int] = (), status: str = "draft",
        run: list[list[str]] | None = None, remote: str | None = None,
        offline: bool = False) -> dict[str, Any]:
    draft = codec.Brief(
        id=0, title=codec.check_title(title), kind=codec.check_kind(kind),
        status=codec.check_status(status), auto_dispatch=auto,
        agent=check_name(agent, "agent") if agent else None, depends_on=list(depends),
        body=codec.check_body(body, ctx.config.max_brief_bytes), run=run,
    )
    made = ctx.briefs().create([draft], reserve=_ids(ctx, remote, 1, offline))[0]
    out = made.meta()
    if run or agent:
        _approve(ctx, [out])
    return out


def _approve(ctx: Ctx, metas: Iterable[dict[str, Any]]) -> None:
    """This machine wrote these briefs' commands: they may run here (docs/config.md)."""
    from flowergit.state import brieftrust

    brieftrust.approve(ctx.repo.common_dir, metas)


def _ids(ctx: Ctx, remote: str | None, count: int,
         offline: bool) -> Callable[[int], int] | None:
    """With a remote (named or configured), ids are reserved there first (docs/sync.md)."""
    if not remote and not _remote_configured(ctx):
        return None  # ids are local; the remote machinery (~10 ms of imports) is not loaded
    from flowergit.ops import sync as remote_ops

    name = remote_ops.resolve(ctx, remote)
    return remote_ops.id_allocator(ctx, name, count, offline) if name else None


def _remote_configured(ctx: Ctx) -> bool:
    """Is a default remote set (`git config flower.remote` or `[flower] remote`)? The same
    lookup as ``ops.sync.configured``, without importing it."""
    val = ctx.repo.config_last("flower.remote")  # from `git var -l`, which the commit reuses
    if val is not None and val.strip():
        return True
    return bool(str(ctx.config.get("flower", "remote") or "").strip())


def list_(ctx: Ctx, *, status: str | None = None,
          kind: str | None = None) -> list[dict[str, Any]] | RawJSON:
    """Every brief (front matter only), or those with ``status`` / ``kind``. Unfiltered, the
    cached JSON text is returned as it is (``RawJSON``)."""
    if status is not None:
        codec.check_status(status)
    if kind is not None:
        codec.check_kind(kind)
    raw = ctx.briefs().list_raw(warn=ctx.warn)
    if status is None and kind is None:
        return raw
    items: list[dict[str, Any]] = raw.value()
    return [b for b in items if (status is None or b["status"] == status)
            and (kind is None or b["kind"] == kind)]


def show(ctx: Ctx, brief: int) -> dict[str, Any]:
    b = ctx.briefs().get(brief)
    d = b.meta()
    d["body"] = b.body
    return d


def set_(ctx: Ctx, brief: int, pairs: list[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for p in pairs:
        key, sep, val = p.partition("=")
        if not sep or not key:
            raise UsageError(f"expected KEY=VALUE, got {p!r}", "e.g. `git flower brief set 12 status=planned`")
        changes[key.strip()] = codec.coerce(key.strip(), val)
    if not changes:
        raise UsageError("nothing to set", "give one or more KEY=VALUE pairs")
    summary = ", ".join(f"{k}={v}" for k, v in changes.items())

    def change(raw: bytes) -> bytes:
        # setting a key that sync recorded as a conflict resolves it
        more = dict(changes)
        conflicts = codec.conflicts_of(raw)
        if conflicts and set(conflicts) & set(changes):
            left = {k: v for k, v in conflicts.items() if k not in changes}
            more["conflicts"] = left if left else codec.DELETE
        return codec.rewrite(raw, more, where=where(brief))

    # a file with a bad field is repaired by setting it (the result must parse); one that is
    # not TOML at all is named with `brief edit` as the repair
    ctx.briefs().update(brief, change, f"brief {brief}: set {summary}"[:200], broken_ok=True)
    out = show(ctx, brief)
    if "run" in changes or "agent" in changes:
        _approve(ctx, [out])
    return out


def set_status(ctx: Ctx, brief: int, status: str, *, forward_only: bool = True,
               why: str = "") -> dict[str, Any]:
    """Move a brief's status; ``forward_only`` makes re-applying an operation harmless."""
    codec.check_status(status)

    def mutate(raw: bytes) -> bytes | None:
        cur = codec.parse(raw).status
        if cur == status:
            return None
        if forward_only and cur in codec.ORDER and status in codec.ORDER \
                and codec.ORDER[cur] > codec.ORDER[status]:
            return None
        return codec.with_status(raw, status)

    ctx.briefs().update(brief, mutate, f"brief {brief}: {status}" + (f" ({why})" if why else ""))
    return show(ctx, brief)


def plan(ctx: Ctx, brief: int) -> dict[str, Any]:
    """draft -> planned. A planned brief with auto_dispatch emits an `auto_dispatch` signal."""
    before = ctx.briefs().get(brief)
    if before.status not in ("draft", "planned", "blocked"):
        raise FlowerError(f"brief {brief} is {before.status}; only draft or blocked briefs can be planned")
    out = set_status(ctx, brief, "planned", forward_only=False, why="planned")
    if before.auto_dispatch and before.status != "planned":
        from flowergit.ops import plan_hooks

        plan_hooks.on_planned(ctx, brief, out)
    return out


def log(ctx: Ctx, brief: int) -> list[dict[str, str]]:
    return ctx.briefs().log(brief)


def edit(ctx: Ctx, brief: int) -> dict[str, Any]:
    """Open the brief file in $EDITOR (its raw bytes, even when it does not parse, so a broken
    file can be repaired here); validate before writing; write with CAS. An edit that does not
    parse is not written: it is kept under the state dir and the next ``brief edit`` of that
    brief opens it again."""
    store = ctx.briefs()
    raw = store.read_raw(brief)
    saved = ctx.repo.state_path("edits", f"{brief}.md")
    start = raw
    try:
        with open(saved, "rb") as f:
            start = f.read()
        ctx.warn(f"opening your unsaved edit of brief {brief} from {saved}")
    except OSError:
        pass
    editor = os.environ.get("GIT_EDITOR") or os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        from flowergit.gitio import config

        editor = config.editor(ctx.repo) or "vi"
    import subprocess  # here, not at the top: the hot brief commands do not pay for them
    import tempfile

    with tempfile.TemporaryDirectory(prefix="flower-edit-") as d:
        path = os.path.join(d, f"{brief}.md")
        with open(path, "wb") as f:
            f.write(start)
        # git runs the editor the same way: through sh, the path as a positional parameter
        rc = subprocess.call(["/bin/sh", "-c", editor + ' "$@"', editor, path])
        if rc != 0:
            raise UsageError(f"the editor exited with {rc}; nothing written")
        with open(path, "rb") as f:
            edited = f.read()
    if edited == raw:
        _drop(saved)
        try:
            return show(ctx, brief)
        except codec.BriefFormatError as e:
            raise UsageError(f"nothing changed, and {e.message}",
                             f"fix what it names in the editor: `git flower brief edit {brief}`"
                             ) from None
    try:
        check_edit(ctx, brief, edited)
    except UsageError as e:
        os.makedirs(os.path.dirname(saved), exist_ok=True)
        tmp = files.tmp_beside(saved)
        with open(tmp, "wb") as f:
            f.write(edited)
        os.replace(tmp, saved)
        raise UsageError(f"not saved: {e.message}",
                         f"your text is kept in {saved}; run `git flower brief edit {brief}` "
                         "again to fix it (it reopens that text), or delete that file to start "
                         "over") from None
    out = replace(ctx, brief, edited, was=raw)
    _drop(saved)
    return out


def check_edit(ctx: Ctx, brief: int, edited: bytes) -> None:
    """Refuse (UsageError) a brief file that does not parse or whose spec is over the cap."""
    b = codec.parse(edited, where(brief))
    codec.check_body(b.body.encode("utf-8"), ctx.config.max_brief_bytes)


def raw(ctx: Ctx, brief: int) -> bytes:
    """A brief's whole file as stored (front matter and spec), even when it does not parse."""
    return ctx.briefs().read_raw(brief)


def replace(ctx: Ctx, brief: int, edited: bytes, *, was: bytes) -> dict[str, Any]:
    """Write ``edited`` as brief ``brief``'s whole file, checked as `brief edit` checks an edit,
    only while the file still holds ``was`` (the text the edit started from; else a conflict
    and nothing written). The commands the file names may then run on this machine."""
    check_edit(ctx, brief, edited)
    if edited != was:
        ctx.briefs().update(brief, lambda cur: edited if cur == was else _conflict(brief),
                            f"brief {brief}: edit", broken_ok=True)
    out = show(ctx, brief)
    _approve(ctx, [out])
    return out


def _drop(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _conflict(brief: int) -> bytes:
    from flowergit.errors import Conflict

    raise Conflict(f"brief {brief} changed while you were editing it; nothing written",
                   "run `git flower brief edit` again")


class Imported:
    """What ``brief import`` wrote: ``count`` briefs numbered from ``first``. :meth:`metas`
    yields each one's front matter as written, parsed again from the source rather than kept
    (100,000 of them would hold ~60 MB)."""

    def __init__(self, first: int, count: int, created: str,
                 drafts: Callable[[], Iterator[codec.Brief]]) -> None:
        self.first, self.count, self.last = first, count, first + count - 1
        self._created, self._drafts = created, drafts

    def metas(self) -> Iterator[dict[str, Any]]:
        for i, b in enumerate(self._drafts()):
            b.id = self.first + i
            b.created = b.created or self._created
            yield b.meta()


def import_(ctx: Ctx, source: str, *, remote: str | None = None,
            offline: bool = False) -> Imported:
    """JSON lines of {"title", "body", "kind", "status", ...}: all created in one commit.
    Every line is checked before anything is written."""
    if source == "-":
        data = sys.stdin.buffer.read()
        where = "<stdin>"
    else:
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as e:
            raise UsageError(f"cannot read {source}: {e.strerror}") from None
        where = source
    cap = ctx.config.max_brief_bytes
    allowed = {"title", "body", "kind", "status", "auto_dispatch", "agent", "depends_on", "run"}

    commands = False  # does any brief carry a command (brieftrust.fields: `run`, `agent`)?

    def drafts() -> Iterator[codec.Brief]:
        """Each line as a new brief, checked (read again on every pass: nothing is kept)."""
        nonlocal commands
        start, n = 0, 0
        while start < len(data):
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end
            line, start, n = data[start:end], end + 1, n + 1
            if not line.strip():
                continue
            try:
                rec = fastjson.loads(line)
            except (ValueError, UnicodeDecodeError) as e:
                raise UsageError(f"{where}:{n}: not a JSON object: {e}") from None
            if not isinstance(rec, dict):
                raise UsageError(f"{where}:{n}: expected a JSON object")
            unknown = set(rec) - allowed
            if unknown:
                raise UsageError(f"{where}:{n}: unknown field(s) {', '.join(sorted(unknown))}",
                                 "fields: " + ", ".join(sorted(allowed)))
            try:
                body = rec.get("body", "")
                if not isinstance(body, str):
                    raise UsageError("body must be a string")
                meta = {"id": 1, **{k: v for k, v in rec.items() if k != "body"}}
                b = codec.from_meta(meta, "")
                codec.check_title(b.title)
                codec.check_kind(b.kind)
                codec.check_status(b.status)
                if b.agent:
                    check_name(b.agent, "agent")
                b.body = codec.check_body(body.encode("utf-8"), cap)
            except UsageError as e:
                raise UsageError(f"{where}:{n}: {e.message}", e.hint) from None
            commands = commands or bool(b.run or b.agent)
            yield b

    count = sum(1 for line in data.split(b"\n") if line.strip())
    if not count:
        raise UsageError(f"{where}: no briefs to import")
    reserve = _ids(ctx, remote, count, offline)
    if reserve is not None:
        for _ in drafts():  # every line checked before an id is reserved on the remote
            pass
    # otherwise each line is checked as it is written: a bad one stops the import before the
    # pack is handed to git, so nothing is written either way
    first, created = ctx.briefs().create_many(drafts, reserve=reserve)
    made = Imported(first, count, created, drafts)
    if commands:
        _approve(ctx, made.metas())
    return made
