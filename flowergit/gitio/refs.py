"""Refs: reads, compare-and-swap updates, create-only claims and multi-ref transactions.
The commits behind refs (counts, logs) are :mod:`flowergit.gitio.history`'s.

Every write names the value it expects (DESIGN.md "Writing state", rule 1). All writes go
through ``git update-ref --stdin`` transactions, which are all-or-nothing and leave no lock files
behind on an ordinary failure.
"""

from __future__ import annotations

import time

from flowergit.errors import Conflict, FlowerError, Retry
from flowergit.gitio import runner
from flowergit.gitio.repo import Repo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


class CasLost(Conflict):
    """A compare-and-swap or create-only write lost: the ref is not what we expected."""

    def __init__(self, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.ref = ref


class LockBusy(Retry):
    """A ref lock is held by another process beyond git's lock timeout."""


class Op(tuple[str, str, "str | None", "str | None"]):
    """(verb, ref, new, old): one line of an update-ref transaction; verb is update, create,
    delete or verify."""

    __slots__ = ()

    def __new__(cls, verb: str, ref: str, new: str | None = None, old: str | None = None) -> Op:
        return tuple.__new__(cls, (verb, ref, new, old))

    @property
    def verb(self) -> str:
        return self[0]

    @property
    def ref(self) -> str:
        return self[1]

    @property
    def new(self) -> str | None:
        return self[2]

    @property
    def old(self) -> str | None:
        return self[3]

    def line(self, zero: str) -> str:
        if self.verb == "update":
            return f"update {self.ref} {self.new} {self.old if self.old is not None else ''}".rstrip()
        if self.verb == "create":
            return f"create {self.ref} {self.new}"
        if self.verb == "delete":
            return f"delete {self.ref} {self.old if self.old is not None else ''}".rstrip()
        if self.verb == "verify":
            return f"verify {self.ref} {self.old if self.old is not None else zero}"
        raise ValueError(self.verb)


def update(ref: str, new: str, old: str | None) -> Op:
    """CAS: move ``ref`` to ``new`` only if it is at ``old`` (None: it must not exist)."""
    return Op("update", ref, new, old) if old is not None else Op("create", ref, new)


def create(ref: str, new: str) -> Op:
    return Op("create", ref, new)


def delete(ref: str, old: str) -> Op:
    return Op("delete", ref, None, old)


def verify(ref: str, old: str | None) -> Op:
    """Assert ``ref`` is at ``old`` (None: absent) when the transaction commits (fencing)."""
    return Op("verify", ref, None, old)


def transaction(repo: Repo, ops: Sequence[Op], message: str = "git flower") -> None:
    """Apply ``ops`` atomically. Raises :class:`CasLost` when an expectation fails."""
    repo.forget_prefetched()
    zero = repo.zero_oid
    body = "start\n" + "".join(op.line(zero) + "\n" for op in ops) + "prepare\ncommit\n"
    res = repo.git(
        ["-c", "core.filesRefLockTimeout=2000", "-c", "core.packedRefsTimeout=5000",
         "update-ref", "--create-reflog", "-m", message, "--stdin"],
        input=body.encode(), check=False,
    )
    if res.ok:
        return
    err = res.err
    refs = [op.ref for op in ops]
    hit = next((r for r in refs if r in err), None)
    if ("already exists" in err or "but expected" in err or "is at" in err
            or "unable to resolve reference" in err or "reference is missing" in err
            or "does not exist" in err or "reference broken" in err):
        raise CasLost(f"{hit or 'a ref'} changed under us: {err.strip().splitlines()[-1]}", hit)
    if "File exists" in err or "Unable to create" in err or "cannot lock ref" in err:
        # a lock that outlived core.filesRefLockTimeout: someone else is writing, or a stale lock
        raise LockBusy(f"ref lock busy: {err.strip().splitlines()[-1]}",
                       "if no git process is running, `git flower doctor` finds stale locks")
    raise FlowerError(f"update-ref failed: {err.strip()}")


def read(repo: Repo, name: str) -> str | None:
    """The oid a ref or revision names, or None if it does not exist."""
    res = repo.git(["rev-parse", "-q", "--verify", "--end-of-options", name + "^{object}"],
                   check=False)
    return res.out.strip() if res.ok else None


def read_many(repo: Repo, patterns: Iterable[str], fmt: str = "%(refname) %(objectname)", *,
              check: bool = True) -> list[str]:
    """``git for-each-ref`` lines for the given patterns (works with every ref backend).
    ``check=False``: what git printed even if it then failed (a look at a damaged repository)."""
    return read_many_finish(read_many_start(repo, patterns, fmt), check=check)


def read_many_start(repo: Repo, patterns: Iterable[str],
                    fmt: str = "%(refname) %(objectname)") -> runner.Started:
    """:func:`read_many`'s ``for-each-ref``, started (:func:`read_many_finish` takes its lines)."""
    return runner.start(["--git-dir", repo.git_dir, "for-each-ref", f"--format={fmt}", "--",
                         *patterns])


def read_many_finish(started: runner.Started, *, check: bool = True) -> list[str]:
    return [ln for ln in started.result(check=check).out.split("\n") if ln]


def list_refs(repo: Repo, prefix: str) -> dict[str, str]:
    """refname -> oid for every ref under ``prefix``."""
    out: dict[str, str] = {}
    for ln in read_many(repo, [prefix]):
        name, _, oid = ln.partition(" ")
        out[name] = oid
    return out


def retrying(attempts: int = 60, base: float = 0.005, cap: float = 0.25):  # type: ignore[no-untyped-def]
    """Yield attempt numbers; sleep with jitter between them (lost race -> re-read, retry)."""
    for i in range(attempts):
        yield i
        import random  # only a lost race pays for the import

        time.sleep(random.uniform(0, min(cap, base * (2 ** min(i, 8)))))
