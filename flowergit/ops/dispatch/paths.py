"""The names of a dispatch's things: its branch (``flower/<N>-<slug>``), its worktree's place,
and the machine-local files kept for it (start spec, ready mark, log, packet).

Paths are always computed here, never taken from a record: records can arrive from a remote.
Nothing here loads more than ``os`` and ``time``: dispatch reads it before its worktree add.
"""

from __future__ import annotations

import os
import time

from flowergit.state import files
from flowergit.state.ids import is_brief_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowergit.gitio.repo import Repo
    from flowergit.ops.context import Ctx

MAX_SLUG = 40
SLUG_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
# (no `re` before the worktree add has started: loading it costs as much as a git process)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def slug(title: str) -> str:
    """An ASCII slug of the title for branch and directory names (``brief`` if nothing is left)."""
    if title.isascii():
        text = title.lower()
    else:
        import unicodedata

        text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    words = "".join(c if c in SLUG_CHARS else " " for c in text).split()  # the [a-z0-9]+ runs
    out = ""
    for w in words:
        nxt = f"{out}-{w}" if out else w
        if len(nxt) > MAX_SLUG:
            if not out:
                out = w[:MAX_SLUG]
            break
        out = nxt
    return out or "brief"


def branch_name(brief: int, title: str) -> str:
    return f"flower/{brief}-{slug(title)}"


def our_branch(brief: int, branch: object) -> str | None:
    """``branch`` if it is a dispatch branch of ``brief`` (``flower/<brief>-<slug>``, that is
    ``flower/([1-9][0-9]{0,8})-[a-z0-9]+(-[a-z0-9]+)*``, at most 60 characters), else None: a
    record naming any other branch (``main``, ``../x``, ``--opt``) is never acted on."""
    if not isinstance(branch, str) or len(branch) > 60 or not branch.startswith("flower/"):
        return None
    num, dash, rest = branch[7:].partition("-")
    if not dash or not is_brief_id(num) or int(num) != brief:
        return None
    return branch if all(w and not w.strip(SLUG_CHARS) for w in rest.split("-")) else None


def repo_name(repo: Repo) -> str:
    main = repo.main_worktree
    if main:
        return os.path.basename(main.rstrip("/")) or "repo"
    base = os.path.basename(repo.common_dir.rstrip("/"))
    if base == ".git":
        base = os.path.basename(os.path.dirname(repo.common_dir.rstrip("/")))
    return base.removesuffix(".git") or "repo"


def worktree_root(ctx: Ctx) -> str:
    """``[flower] worktrees`` with ``{repo}`` filled, relative to the main checkout."""
    repo = ctx.repo
    pattern = str(ctx.config.get("flower", "worktrees"))
    text = pattern.replace("{repo}", repo_name(repo))
    anchor = repo.main_worktree or os.path.dirname(repo.common_dir.rstrip("/"))
    return os.path.normpath(os.path.join(anchor, os.path.expanduser(text)))


def state_file(repo: Repo, kind: str, did: str, ext: str) -> str:
    d = repo.state_path(kind)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, f"{did}.{ext}")


def spec_path(repo: Repo, did: str) -> str:
    return state_file(repo, "run", did, "json")


def ready_path(repo: Repo, did: str) -> str:
    return repo.state_path("run", f"{did}.ready")


def log_file(repo: Repo, did: str) -> str:
    """Where this machine keeps dispatch ``did``'s log."""
    return repo.state_path("logs", f"{did}.log")


def packet_file(repo: Repo, did: str) -> str:
    return repo.state_path("packets", f"{did}.md")


def write_file(path: str, text: str) -> None:
    files.write_atomic(path, text, errors="surrogateescape")


def mark_ready(repo: Repo, did: str, error: str | None = None) -> None:
    """Say whether dispatch ``did``'s worktree is ready (its supervisor waits for this)."""
    write_file(ready_path(repo, did), "ok\n" if error is None else f"failed\n{error}\n")


def read_ready(repo: Repo, did: str) -> tuple[bool, str] | None:
    """(ready, error) once the dispatcher has said, else None."""
    try:
        with open(ready_path(repo, did), encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    if text.startswith("ok"):
        return True, ""
    if text.startswith("failed"):
        return False, text.partition("\n")[2].strip()
    return None


def last_log_line(path: str | None, limit: int = 8192) -> str:
    """The agent's own last words in its log (else git flower's last line there)."""
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return ""
    ours = ""
    for ln in reversed(data.replace(b"\r", b"\n").split(b"\n")):
        if not ln.strip():
            continue
        text = ln.strip().decode("utf-8", "replace")[:400]
        if not text.startswith("[git flower] "):
            return text  # the agent's own last words
        ours = ours or text
    return ours


def dispatch_cache(repo: Repo) -> str:
    """The local cache of dispatch records (content-addressed: never stale)."""
    return repo.state_path("cache", "dispatches.json")


def present_files(repo: Repo) -> tuple[set[str], set[str]]:
    """The names in this machine's ``logs/`` and ``run/`` directories: a listing of a thousand
    attempts opens only the files that are there (one directory read each, not a failed open
    per attempt)."""
    out: list[set[str]] = []
    for d in ("logs", "run"):
        try:
            out.append(set(os.listdir(repo.state_path(d))))
        except OSError:
            out.append(set())
    return out[0], out[1]
