"""Which `.flower.toml` contents this user has approved on this machine (the direnv model).

Commands from a committed config are code: an agent or a teammate could change them. They run
only after the user trusted that exact content. The record lives in the user's data directory
(``$XDG_DATA_HOME/git-flower/trust/``), outside the repository, where no agent working in a
worktree of it can forge it; it keeps the trusted text so a later change can be shown.
"""

from __future__ import annotations

import os
import time

from flowergit import fastjson
from flowergit.gitio.objects import new_hash

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def trust_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "git-flower", "trust")


def _record_path(config_path: str) -> str:
    key = new_hash("sha256", os.path.realpath(config_path).encode("utf-8", "surrogateescape")).hexdigest()
    return os.path.join(trust_dir(), key[:32] + ".json")


def digest(raw: bytes) -> str:
    """sha256 of ``raw`` (CPython's own implementation: a dispatch checks trust on every run,
    and loading hashlib's OpenSSL costs it more than the hash)."""
    return new_hash("sha256", raw).hexdigest()  # type: ignore[no-any-return]


def load(config_path: str) -> dict[str, Any] | None:
    try:
        with open(_record_path(config_path), encoding="utf-8") as f:
            rec = fastjson.load(f)
        return rec if isinstance(rec, dict) else None
    except (OSError, ValueError):
        return None


def is_trusted(config_path: str, raw: bytes) -> bool:
    rec = load(config_path)
    return rec is not None and rec.get("sha256") == digest(raw)


def record(config_path: str, raw: bytes) -> dict[str, Any]:
    rec = {"v": 1, "path": os.path.realpath(config_path), "sha256": digest(raw),
           "content": raw.decode("utf-8", "replace"),
           "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    import tempfile  # only a new trust record is written through it

    d = trust_dir()
    os.makedirs(d, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".trust.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(fastjson.dumps(rec))
    os.replace(tmp, _record_path(config_path))
    return rec
