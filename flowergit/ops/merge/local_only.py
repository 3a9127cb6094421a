"""Local-only files (``[merge] local_only``): a merge never brings one in, and each is backed up
byte for byte before anything moves, and put back if its bytes changed.
"""

from __future__ import annotations

import os
from typing import Any

from flowergit.errors import FlowerError
from flowergit.state import journal


def _sha(data: bytes) -> str:
    """sha256 hex of ``data``; CPython's own sha256 loads much faster than `hashlib` (OpenSSL)."""
    try:
        try:
            h = __import__("_sha2").sha256(data)  # Python >= 3.12
        except ImportError:
            h = __import__("_sha256").sha256(data)
    except ImportError:  # a build without them
        import hashlib

        h = hashlib.sha256(data)
    return str(h.hexdigest())


def local_only_hits(paths: list[str], local_only: list[str]) -> list[str]:
    out = []
    for p in paths:
        for lo in local_only:
            lo = lo.rstrip("/")
            if p == lo or p.startswith(lo + "/") or lo.startswith(p + "/"):
                out.append(p)
                break
    return sorted(set(out))


def backup_local_only(repo_state: Any, op: str, root: str, local_only: list[str]) -> list[dict[str, Any]]:
    """Copy every local-only file (tracked, untracked, ignored) by content; return the manifest."""
    d = journal.backup_dir(repo_state, op)
    os.makedirs(d, exist_ok=True)
    out = []
    for i, p in enumerate(local_only):
        full = os.path.join(root, p)
        item: dict[str, Any] = {"path": p, "present": False}
        if os.path.islink(full):
            target = os.readlink(full)
            item.update(present=True, link=target, sha256=_sha(target.encode("utf-8", "surrogateescape")))
        elif os.path.isfile(full):
            with open(full, "rb") as f:
                data = f.read()
            copy = os.path.join(d, str(i))
            with open(copy, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            item.update(present=True, sha256=_sha(data), mode=os.stat(full).st_mode & 0o7777,
                        copy=copy)
        out.append(item)
    return out


def restore_local_only(root: str, manifest: list[dict[str, Any]]) -> list[str]:
    """Put back every local-only file whose bytes changed; return the paths restored."""
    fixed = []
    for item in manifest:
        full = os.path.join(root, item["path"])
        if not item.get("present"):
            continue
        if "link" in item:
            if os.path.islink(full) and os.readlink(full) == item["link"]:
                continue
            if os.path.lexists(full) and not os.path.isdir(full):
                os.unlink(full)
            os.symlink(item["link"], full)
            fixed.append(item["path"])
            continue
        cur = None
        if os.path.isfile(full) and not os.path.islink(full):
            with open(full, "rb") as f:
                cur = f.read()
        if cur is not None and _sha(cur) == item["sha256"] \
                and (os.stat(full).st_mode & 0o7777) == item.get("mode", 0o644):
            continue
        with open(item["copy"], "rb") as f:
            data = f.read()
        if _sha(data) != item["sha256"]:
            raise FlowerError(f"the backup of local-only file {item['path']} is damaged",
                              f"it was kept in {item['copy']}")
        os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
        tmp = full + ".flower-restore"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, item.get("mode", 0o644))
        if os.path.islink(full):
            os.unlink(full)
        os.replace(tmp, full)
        fixed.append(item["path"])
    return fixed


def restore_journalled(root: str | None, manifest: list[dict[str, Any]] | None) -> list[str]:
    """Put back the local-only files a merge's journal backed up (``root`` None: the merge had
    no checkout); the warning to show when any was restored, as a list of zero or one."""
    fixed = restore_local_only(root, list(manifest or [])) if root else []
    return ["restored local-only file(s) " + ", ".join(fixed)] if fixed else []
