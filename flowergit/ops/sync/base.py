"""What a clone keeps of a remote between syncs: the base (the remote's flower refs as they
were after the last successful sync, ``$GIT_COMMON_DIR/flower/sync/<remote>.json``, against
which a remote that lost history is noticed), and the lock that lets one sync
per clone and remote run at a time."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from flowergit import fastjson
from flowergit.errors import Retry
from flowergit.gitio.repo import Repo


def _base_path(repo: Repo, remote: str) -> str:
    return repo.state_path("sync", f"{remote}.json")


def load_base(repo: Repo, remote: str) -> dict[str, str]:
    try:
        with open(_base_path(repo, remote), "rb") as f:
            doc = fastjson.loads(f.read())
        got = doc.get("refs") if isinstance(doc, dict) else None
        if isinstance(got, dict):
            return {k: v for k, v in got.items() if isinstance(k, str) and isinstance(v, str)}
    except (OSError, ValueError):
        pass
    return {}


def save_base(repo: Repo, remote: str, state: dict[str, str]) -> None:
    path = _base_path(repo, remote)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".base.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(fastjson.dumps({"v": 1, "refs": state}, sort_keys=True))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextmanager
def locked(repo: Repo, remote: str, wait: float = 30.0) -> Iterator[None]:
    """One sync per clone and remote at a time (flock: released by the kernel if we die)."""
    from flowergit.procs.locks import exclusive

    with exclusive(repo.state_path("sync", f"{remote}.mutex"), wait=wait, poll=0.05,
                   busy=lambda: Retry(f"another `git flower sync {remote}` is running in this clone",
                                      "wait for it to finish, then retry")):
        yield
