"""Which briefs' commands this user has approved on this machine.

A brief can carry commands: ``run`` steps for the script agent, an ``agent`` override. Briefs
arrive by sync from other clones, so those commands are code from elsewhere, like a committed
``.flower.toml``. They run only when this machine approved their exact content: git flower
records the digest of a brief's executable fields whenever *this machine* writes them (``brief
new``, ``set``, ``edit``, ``import``) and when the user runs ``git flower trust brief N``; any
other content (what a sync brought) is untrusted. The record lives beside the config's trust in
the user's data directory (``$XDG_DATA_HOME/git-flower/trust/``), outside the repository, where
an agent working in a worktree cannot forge it: one digest a line, per repository.
"""

from __future__ import annotations

import os

from flowergit import fastjson
from flowergit.gitio.objects import new_hash
from flowergit.state.trust import trust_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


def fields(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The executable fields of a brief's front matter (``run``, ``agent``), or None if it
    carries no command."""
    got = {k: meta.get(k) for k in ("run", "agent") if meta.get(k)}
    return got or None


def digest(found: dict[str, Any]) -> str:
    text = fastjson.dumps(found, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(new_hash("sha256", text.encode("utf-8")).hexdigest())


def _path(common_dir: str) -> str:
    key = new_hash("sha256", os.path.realpath(common_dir).encode("utf-8", "surrogateescape"))
    return os.path.join(trust_dir(), "briefs-" + key.hexdigest()[:32] + ".txt")


def approved(common_dir: str) -> set[str]:
    try:
        with open(_path(common_dir), encoding="ascii", errors="replace") as f:
            return {ln.strip() for ln in f if ln.strip()}
    except OSError:
        return set()


def is_trusted(common_dir: str, meta: dict[str, Any]) -> bool:
    found = fields(meta)
    return found is None or digest(found) in approved(common_dir)


def approve(common_dir: str, metas: Iterable[dict[str, Any]]) -> list[str]:
    """Record the digests of these briefs' executable fields; returns the new ones."""
    have = approved(common_dir)
    new = []
    for meta in metas:
        found = fields(meta)
        if found is not None and (d := digest(found)) not in have:
            have.add(d)
            new.append(d)
    if new:
        path = _path(common_dir)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write("".join(d + "\n" for d in new))  # one write: lines are never torn
    return new


# -- briefs waiting for trust (written by `tick`, read by `status`) --------------------------------
# ``$GIT_COMMON_DIR/flower/trust-wait.json``: {"v": 1, "briefs": {"N": {digest, fields, agent,
# since}}}: the briefs whose auto-dispatch `tick` held back because their commands are not
# trusted here. `status` reads this one small file (no brief is parsed) and drops the entries
# whose digest has been approved since.
WAIT_FILE = "trust-wait.json"


def read_waiting(path: str) -> dict[str, dict[str, Any]]:
    try:
        with open(path, "rb") as f:
            got = fastjson.loads(f.read())
    except (OSError, ValueError):
        return {}
    briefs = got.get("briefs") if isinstance(got, dict) else None
    return {k: v for k, v in briefs.items() if isinstance(v, dict)} if isinstance(briefs, dict) else {}


def write_waiting(path: str, briefs: dict[str, dict[str, Any]]) -> None:
    from flowergit.state.files import save_json

    save_json(path, {"v": 1, "briefs": briefs} if briefs else None)


def still_waiting(common_dir: str, path: str) -> list[int]:
    """The briefs `tick` holds back for trust whose commands are still not approved here."""
    briefs = read_waiting(path)
    if not briefs:
        return []
    have = approved(common_dir)
    return sorted(int(k) for k, v in briefs.items() if k.isdigit() and v.get("digest") not in have)
