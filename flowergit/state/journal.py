"""The merge journal: ``$common/flower/journal/<op>.json``, one file per merge in flight.

Written with temp file + fsync + rename, so a reader sees the old or the new version, never a
torn one. The journal names the phase, the target's pre-merge tip, the user's pre-merge HEAD,
the stash oid (if one was made), the snapshot commit and the owner process, so that
``git flower recover`` can undo or finish the merge after a crash at any step.
"""

from __future__ import annotations

import os

from flowergit import fastjson
from flowergit.gitio.repo import Repo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowergit.state.schema import Identity, JournalEntry

_HEX = frozenset("0123456789abcdef")


def is_op(op: str) -> bool:
    """An op id: ``[0-9]{1,9}-[0-9a-f]{8,32}`` (checked by hand: `tick` and `status` list the
    journal, and `re` is a few milliseconds to import)."""
    n, sep, h = op.partition("-")
    return (bool(sep) and 1 <= len(n) <= 9 and n.isascii() and n.isdigit()
            and 8 <= len(h) <= 32 and _HEX.issuperset(h))


def directory(repo: Repo) -> str:
    return repo.state_path("journal")


def path(repo: Repo, op: str) -> str:
    if not is_op(op):
        raise ValueError(f"bad op id {op!r}")
    return os.path.join(directory(repo), op + ".json")


def backup_dir(repo: Repo, op: str) -> str:
    """Where the byte-for-byte copies of local-only files for ``op`` are kept."""
    return os.path.join(directory(repo), op + ".local")


def owner() -> Identity | None:
    """This process's identity (:func:`flowergit.procs.identity.of`: host, boot id, pid, start
    time, read from ``/proc`` without loading psutil where there is one)."""
    from flowergit.procs import identity

    return identity.of(os.getpid())


def write(repo: Repo, rec: JournalEntry) -> None:
    d = directory(repo)
    os.makedirs(d, exist_ok=True)
    # one line, through the C encoder: an indent would load json's Python encoder (and re)
    # between the suite's start and the journal that names it, where a killed merge would
    # leave a suite recover cannot find
    data = fastjson.dumps(rec, sort_keys=True).encode() + b"\n"
    tmp = os.path.join(d, f".tmp-{os.getpid()}-{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path(repo, rec["op"]))
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read(repo: Repo, op: str) -> JournalEntry | None:
    try:
        with open(path(repo, op), "rb") as f:
            rec = fastjson.loads(f.read())
    except FileNotFoundError:
        return None
    except ValueError:
        return None
    ok = isinstance(rec, dict)  # (a JSON object: the entry as written)
    return rec if ok else None


def pending(repo: Repo) -> list[JournalEntry]:
    """Every journal on this machine, oldest first."""
    try:
        names = sorted(os.listdir(directory(repo)))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        if n.endswith(".json") and is_op(n[:-5]):
            rec = read(repo, n[:-5])
            if rec is not None:
                out.append(rec)
    return sorted(out, key=lambda r: (str(r.get("started", "")), str(r.get("op", ""))))


def remove(repo: Repo, op: str) -> None:
    import shutil

    try:
        os.unlink(path(repo, op))
    except FileNotFoundError:
        pass
    shutil.rmtree(backup_dir(repo, op), ignore_errors=True)


def leftovers(repo: Repo, older_than: float = 60.0) -> list[str]:
    """Backup directories whose journal is gone and half-written journal files, left by a merge
    killed (or stopped by a full disk) before its journal was written: older than
    ``older_than`` seconds, so a merge that is between its backup and its journal keeps both."""
    import time

    d = directory(repo)
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return []
    now = time.time()
    out = []
    for n in names:
        full = os.path.join(d, n)
        stray = n.startswith(".tmp-") or (
            n.endswith(".local") and not os.path.exists(path(repo, n[:-len(".local")])))
        try:
            if stray and now - os.lstat(full).st_mtime >= older_than:
                out.append(full)
        except FileNotFoundError:
            continue
    return sorted(out)


def sweep(repo: Repo, older_than: float = 60.0) -> list[str]:
    """Remove :func:`leftovers`; return what was removed."""
    import shutil

    gone = leftovers(repo, older_than)
    for p in gone:
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
    return gone
