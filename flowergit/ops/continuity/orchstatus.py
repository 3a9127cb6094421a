"""What a driven orchestrator on this machine is doing, for ``status`` and ``watch`` to show
without a git call: ``$GIT_COMMON_DIR/flower/orchestrator/<lane>.json``, rewritten by
``run --agent`` at every turn and succession, removed when it ends.

A file whose process is gone (a driver that was killed; judged by host, boot, pid and start
time, so a reused pid is not mistaken for it) is reported as not running: the daemon
record and the baton, in git, stay the truth; this file only saves ``status`` reading them.
"""

from __future__ import annotations

import os

from flowergit import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowergit.gitio.repo import Repo


def _path(repo: Repo, lane: str) -> str:
    return repo.state_path("orchestrator", f"{lane}.json")


def write(repo: Repo, lane: str, doc: dict[str, Any]) -> None:
    path = _path(repo, lane)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(fastjson.dumps(doc).encode())
    os.replace(tmp, path)


def clear(repo: Repo, lane: str, pid: int) -> None:
    """Remove the file if it is still this process's."""
    got = read_one(repo, _path(repo, lane))
    if got is not None and got.get("pid") == pid:
        try:
            os.unlink(_path(repo, lane))
        except OSError:
            pass


def read_one(repo: Repo, path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            doc = fastjson.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    from flowergit.procs import identity

    ident = doc.get("ident")
    doc["running"] = identity.is_alive(ident if isinstance(ident, dict) else None) is True
    return doc


def read_all(repo: Repo) -> list[dict[str, Any]]:
    """Every lane's driven orchestrator on this machine (usually none, or one)."""
    folder = repo.state_path("orchestrator")
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except OSError:
        return []
    out = []
    for n in names:
        got = read_one(repo, os.path.join(folder, n))
        if got is not None:
            out.append(got)
    return out
