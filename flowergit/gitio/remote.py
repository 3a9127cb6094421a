"""Talking to a git remote: ls-remote, fetch and push, bounded in time and never interactive.

Every call gets the scrubbed environment with prompts off (``GIT_TERMINAL_PROMPT=0``, empty
askpass, ssh in BatchMode with a connect timeout), git's low-speed limits for http, and a
subprocess timeout, so an unreachable or stalling remote turns into :class:`RemoteUnreachable`
(exit 75) within seconds instead of a hang or a password prompt. Pushes always name their
expectation explicitly (``--force-with-lease=<ref>:<oid>``, empty for "must not exist"), are
``--atomic`` and are read back from ``--porcelain`` output rather than from the exit code (git
before 2.49 could lose the error status of ``--atomic --porcelain``).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from flowergit.errors import FlowerError, Retry, UsageError, resource_kind
from flowergit.gitio.repo import Repo
from flowergit.gitio.runner import GitError, Result

DEFAULT_TIMEOUT = 20.0
# listing refs is tiny: a remote that cannot answer that within a few seconds is unreachable
PROBE_TIMEOUT = 8.0
# http: give up when slower than 1 KB/s for 10 s; ssh: BatchMode and ConnectTimeout via env.
NET_CONFIG = ("-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=10",
              "-c", "credential.interactive=never", "-c", "core.askPass=")
_REMOTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", re.ASCII)


class RemoteUnreachable(Retry):
    """The remote could not be reached (network down, refused, timed out, auth needed)."""


def timeout_seconds(repo: Repo) -> float:
    """``GIT_FLOWER_REMOTE_TIMEOUT`` or ``git config flower.remoteTimeout``, else 20 s."""
    raw = os.environ.get("GIT_FLOWER_REMOTE_TIMEOUT")
    if raw is None:
        vals = repo.config_get_all(r"^flower\.remotetimeout$")
        raw = vals[-1][1] if vals else None
    if raw:
        try:
            val = float(raw)
            if 0 < val <= 3600:
                return val
        except ValueError:
            pass
    return DEFAULT_TIMEOUT


_BATCH = " -o BatchMode=yes -o ConnectTimeout=5"


def env(repo: Repo | None = None) -> dict[str, str]:
    """Prompts off everywhere; ssh in BatchMode with a connect timeout, keeping the user's own
    ssh command (``GIT_SSH_COMMAND`` or ``core.sshCommand``); a ``GIT_SSH`` wrapper is run as
    it is (options cannot be added to it)."""
    out = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "",
           "GCM_INTERACTIVE": "never"}
    ssh = os.environ.get("GIT_SSH_COMMAND")
    if not ssh and os.environ.get("GIT_SSH"):
        out["GIT_SSH_COMMAND"] = shlex.quote(os.environ["GIT_SSH"])  # the same program, as is
        return out
    if not ssh and repo is not None:
        got = repo.config_get_all(r"^core\.sshcommand$")
        ssh = got[-1][1] if got else None
    ssh = ssh or "ssh"
    out["GIT_SSH_COMMAND"] = ssh if "BatchMode" in ssh else ssh + _BATCH
    return out


def check_name(repo: Repo, remote: str) -> str:
    """A configured remote name (never a URL or an option): exit 2 otherwise."""
    if not _REMOTE_NAME.fullmatch(remote) or ".." in remote:
        raise UsageError(f"invalid remote name {remote!r}",
                         "give the name of a configured remote, such as origin (`git remote -v`)")
    url = repo.git(["config", "--get", f"remote.{remote}.url"], check=False)
    if not url.ok or not url.out.strip():
        raise UsageError(f"no remote named {remote!r}",
                         f"add it first: `git remote add {remote} <url>`")
    return remote


# -- this clone's remote settings (git config) ------------------------------------------------
def refspecs(repo: Repo, remote: str, direction: str) -> list[str]:
    """The lines of ``remote.<remote>.fetch`` (``direction`` "fetch") or ``.push``, in order
    (an empty string where git printed none)."""
    return repo.git(["config", "--get-all", f"remote.{remote}.{direction}"], check=False).out.split("\n")


def add_refspec(repo: Repo, remote: str, direction: str, spec: str) -> None:
    """Append ``spec`` to ``remote.<remote>.fetch`` or ``.push``."""
    repo.git(["config", "--add", f"remote.{remote}.{direction}", spec])


def get_default_remote(repo: Repo) -> str:
    """``git config flower.remote`` ("" when unset)."""
    return repo.git(["config", "--get", "flower.remote"], check=False).out.strip()


def set_default_remote(repo: Repo, remote: str) -> None:
    repo.git(["config", "flower.remote", remote])


def get_clone_id(repo: Repo) -> str | None:
    """``git config flower.cloneId``, None when unset or empty."""
    res = repo.git(["config", "--get", "flower.cloneId"], check=False)
    return (res.out.strip() or None) if res.ok else None


def set_clone_id(repo: Repo, cid: str) -> None:
    repo.git(["config", "flower.cloneId", cid])


def _net(repo: Repo, args: Sequence[str], *, input: bytes | None = None,
         timeout: float | None = None) -> Result:
    t = timeout if timeout is not None else timeout_seconds(repo)
    try:
        return repo.git([*NET_CONFIG, *args], input=input, env=env(repo), timeout=t, check=False)
    except GitError as e:  # the subprocess timeout
        raise RemoteUnreachable(f"the remote did not answer within {t:g} s",
                                "check the network, or raise GIT_FLOWER_REMOTE_TIMEOUT") from e


def _unreachable(remote: str, res: Result) -> FlowerError:
    lines = [ln.strip() for ln in res.err.strip().splitlines() if ln.strip()]
    if any(resource_kind(ln) and not ln.startswith("remote:") for ln in lines):
        return GitError(res.argv, res.returncode, res.stdout, res.stderr)  # our disk, not theirs
    useful = [ln for ln in lines if ln.startswith(("ssh:", "fatal:", "error:", "remote:"))
              and "Could not read from remote repository" not in ln]
    why = (useful or lines or [f"git exited {res.returncode}"])[0]
    if why.endswith(":") and why in lines and lines.index(why) + 1 < len(lines):
        why += " " + lines[lines.index(why) + 1]  # "unable to connect to host:" + the reason
    return RemoteUnreachable(f"cannot reach remote {remote!r}: {why.removeprefix('fatal: ')}",
                             "nothing was changed locally; retry when the remote is reachable")


def ls_remote(repo: Repo, remote: str, patterns: Sequence[str],
              timeout: float | None = None) -> dict[str, str]:
    """refname -> oid for the remote's refs matching ``patterns`` (raw, unvalidated names)."""
    t = timeout if timeout is not None else min(PROBE_TIMEOUT, timeout_seconds(repo))
    res = _net(repo, ["ls-remote", "--refs", "--end-of-options", remote, *patterns], timeout=t)
    if res.returncode != 0:
        raise _unreachable(remote, res)
    out: dict[str, str] = {}
    for line in res.stdout.split(b"\n"):
        oid, sep, name = line.partition(b"\t")
        if sep:
            out[name.decode("utf-8", "surrogateescape")] = oid.decode("ascii", "replace")
    return out


def fetch(repo: Repo, remote: str, refspecs: Sequence[str], timeout: float | None = None) -> None:
    """Fetch exactly ``refspecs`` (given on stdin, so names never become options)."""
    if not refspecs:
        return
    repo.forget_prefetched()  # a fetch may move local refs: nothing resolved earlier stays valid
    res = _net(repo, ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                      "--no-recurse-submodules", "--no-auto-maintenance", "--no-auto-gc",
                      "--stdin", "--end-of-options", remote],
               input="".join(s + "\n" for s in refspecs).encode("utf-8", "surrogateescape"),
               timeout=timeout)
    if res.returncode != 0:
        raise _unreachable(remote, res)


@dataclass(frozen=True)
class Update:
    """One ref to push: ``new`` None deletes; ``expect`` None means "must not exist"."""

    ref: str
    new: str | None
    expect: str | None


@dataclass(frozen=True)
class RefStatus:
    ref: str
    flag: str  # ' ' fast-forward, '+' forced, '-' deleted, '*' new, '!' rejected, '=' up to date
    summary: str

    @property
    def ok(self) -> bool:
        return self.flag != "!"


@dataclass(frozen=True)
class PushResult:
    statuses: dict[str, RefStatus]
    stderr: str

    @property
    def ok(self) -> bool:
        return bool(self.statuses) and all(s.ok for s in self.statuses.values())

    def rejected(self) -> list[RefStatus]:
        return [s for s in self.statuses.values() if not s.ok]


# Above this many creates and fast-forwards under refs/flower/, a push goes through one glob
# refspec from a staging namespace: git matches explicit refspecs against each other, so 2,000
# of them cost it ~10 s of CPU where one glob of the same refs costs ~1 s (bench/bench_sync.py).
GLOB_OVER = 64
_STAGE = "refs/flower-push/"


def push(repo: Repo, remote: str, updates: Sequence[Update], *, atomic: bool = True,
         timeout: float | None = None) -> PushResult:
    """Push ``updates``; all or nothing when ``atomic``.

    Each ref carries an explicit lease (``--force-with-lease=<ref>:<expect>``), except in a
    big push (more than :data:`GLOB_OVER` refs to create or move under ``refs/flower/``): those
    are staged under ``refs/flower-push/<n>/`` and pushed with one glob refspec, without ``+``,
    so git's own rule stands in for the lease — a ref is created or fast-forwarded, never moved
    off a value someone else wrote (a create over an existing ref, or a move over one that went
    elsewhere, is rejected as non-fast-forward, and the atomic push with it). Deletions and
    every other ref keep their explicit lease.

    Returns the per-ref statuses (a lost lease shows as ``!``); raises
    :class:`RemoteUnreachable` when the remote could not be talked to at all."""
    if not updates:
        return PushResult({}, "")
    args = ["-c", "push.gpgSign=false", "push", "--porcelain", "--no-verify",
            "--no-recurse-submodules"]
    if atomic:
        args.append("--atomic")
    bulk = [u for u in updates if u.new is not None and u.ref.startswith("refs/flower/")]
    if len(bulk) <= GLOB_OVER:
        bulk = []
    staged = {u.ref for u in bulk}
    specs = []
    for u in updates:
        if u.ref in staged:
            continue
        args.append(f"--force-with-lease={u.ref}:{u.expect or ''}")
        specs.append(f"{u.new or ''}:{u.ref}")
    stage = ""
    if bulk:
        stage = f"{_STAGE}{os.getpid()}-{os.urandom(3).hex()}/"
        _stage(repo, [(stage + u.ref[len("refs/flower/"):], u.new or "") for u in bulk])
        specs.append(f"{stage}*:refs/flower/*")
    args += ["--end-of-options", remote, *specs]
    try:
        res = _net(repo, args, timeout=timeout)
    finally:
        if bulk:
            _stage(repo, [(stage + u.ref[len("refs/flower/"):], "") for u in bulk])
    statuses: dict[str, RefStatus] = {}
    for line in res.stdout.decode("utf-8", "surrogateescape").split("\n"):
        parts = line.split("\t")
        if len(parts) >= 3 and len(parts[0]) == 1:
            _, _, dst = parts[1].rpartition(":")
            statuses[dst] = RefStatus(dst, parts[0], parts[2])
    if not statuses:  # no report at all: the exchange itself failed
        raise _unreachable(remote, res)
    for u in updates:  # a ref git did not report on did not move
        statuses.setdefault(u.ref, RefStatus(u.ref, "!", "[rejected] (not reported)"))
    return PushResult(statuses, res.err)


def _stage(repo: Repo, pairs: Sequence[tuple[str, str]]) -> None:
    """Create (``oid``) or delete (``""``) the staging refs of a big push, in one transaction."""
    lines = "".join(f"create {ref} {oid}\n" if oid else f"delete {ref}\n" for ref, oid in pairs)
    repo.git(["update-ref", "--no-deref", "--stdin"], input=lines.encode())
