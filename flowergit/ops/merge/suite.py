"""`git flower test [REV]`: the configured suite on exactly one tree, in a scratch worktree.

The suite runs detached at the commit under the state directory (never in the user's checkout,
in a checkout kept between runs and moved commit to commit, cleaned of every untracked file),
with a scrubbed environment, in its own process group, output to a log file. The result is an
attestation keyed by tree id in ``refs/notes/flower``: a tree that already passed the same
command is not tested again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from flowergit import failpoints
from flowergit.errors import NotFound, TestsFailed, UsageError
from flowergit.gitio import history, scratch, trees
from flowergit.ops.context import Ctx
from flowergit.state import notes
from flowergit.state.brief import now_utc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowergit.gitio.repo import Repo
    from flowergit.procs.locks import exclusive
    from flowergit.state.schema import Attestation, NoteLine, SuiteSummary


class _KeptScratch:
    """The checkout a suite runs in. One is kept between runs (``flower/scratch/kept``) and
    moved to the next commit with git's two-way checkout, so a merge pays for the files its
    change touches, not for a fresh checkout of the whole tree; a lock gives it to one run at
    a time, and a run that finds it taken (another merge or `test` running here) gets a fresh
    one of its own, removed afterwards."""

    def __init__(self, repo: Repo, run_id: str) -> None:
        self.repo = repo
        self.run_id = run_id
        self.lock: exclusive | None = None
        self.path = ""

    def checkout(self, commit: str) -> str:
        from flowergit.errors import Retry
        from flowergit.procs.locks import exclusive  # noqa: F811 (the class, at run time)

        repo = self.repo
        finish_tidying()  # this process's own tidy holds the lock: a bare `merge` lands several
        os.makedirs(repo.state_path("scratch"), exist_ok=True)
        try:
            self.lock = exclusive(repo.state_path("scratch-kept.mutex"), wait=0,
                                  busy=lambda: Retry("the kept scratch checkout is in use"))
        except Retry:
            self.path = repo.state_path("scratch", self.run_id)
            scratch.add(repo, self.path, commit)
            return self.path
        self.path = repo.state_path("scratch", "kept")
        if not os.path.lexists(self.path):
            scratch.add(repo, self.path, commit, tidied=self.tidied)
        elif not scratch.move(repo, self.path, commit, tidied=self.tidied):
            scratch.remove(repo, self.path)
            scratch.add(repo, self.path, commit)
        return self.path

    @property
    def tidied(self) -> str:
        return self.repo.state_path("scratch", "kept.tidied")

    def done(self, tidy: bool = False) -> None:
        """Give the checkout back. With ``tidy`` (a merge, which has its landing still to do),
        a forked copy of this process cleans it while the merge lands, so the next merge's
        checkout only rewrites what differs; this process holds the lock until the copy is
        done: :func:`finish_tidying` waits for it (the merge does once it landed, a long-lived
        process such as `git flower web` before its next suite, every process at exit)."""
        if self.lock is None:
            scratch.remove(self.repo, self.path)
            return
        from flowergit.procs import spawn

        if not tidy or not spawn.can_fork():
            self.lock.release()
            return
        repo, path, tidied = self.repo, self.path, self.tidied
        pid = spawn.fork_detached(lambda: 0 if scratch.tidy(repo, path, tidied) else 1,
                                  cwd=repo.common_dir, log=repo.state_path("logs", "scratch.log"),
                                  keep=(self.lock.fileno(),))  # held even if this process dies
        if not _TIDYING:
            import atexit

            atexit.register(finish_tidying)
        _TIDYING.append((pid, self.lock))


_TIDYING: list[tuple[int, Any]] = []  # (pid of a tidy at work, the kept lock held for it)


def finish_tidying() -> None:
    """Wait for this process's tidy of the kept checkout, then let its lock go."""
    while _TIDYING:
        pid, lock = _TIDYING.pop()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        lock.release()


def utc_now() -> str:
    return now_utc().strftime("%Y-%m-%dT%H:%M:%SZ")


def who() -> str:
    from flowergit.errors import UsageError as _Bad
    from flowergit.state.daemons import caller

    try:
        daemon = caller(None)
    except _Bad:
        daemon = None
    if daemon:
        return f"daemon {daemon}"
    # what getpass.getuser() and socket.gethostname() answer, without importing either
    user = next((os.environ[k] for k in ("LOGNAME", "USER", "LNAME", "USERNAME")
                 if os.environ.get(k)), None)
    if user is None:
        try:
            import pwd

            user = pwd.getpwuid(os.getuid()).pw_name
        except (ImportError, KeyError):  # no passwd entry in a container
            user = "user"
    return f"{user}@{os.uname().nodename}"


def command(ctx: Ctx) -> list[str]:
    """The suite argv; a command from `.flower.toml` needs that file trusted on this machine."""
    argv = list(ctx.config.get("suite", "command"))
    if "command" in ctx.config.data.get("suite", {}):
        from flowergit.ops.setup import trust

        trust.require(ctx, "suite command")
    return argv


def attestation(ctx: Ctx, tree: str, argv: list[str],
                recs: list[NoteLine] | None = None) -> Attestation | None:
    """The newest passing attestation of ``tree`` by the same command, if any (among ``recs``,
    the note on ``tree`` when the caller has read it already)."""
    for rec in reversed(notes.read(ctx.repo, tree) if recs is None else recs):
        if rec.get("kind") == "suite" and rec.get("ok") is True and rec.get("command") == argv:
            return cast("Attestation", dict(rec))
    return None


def suite_summary(rec: Attestation) -> SuiteSummary:
    """The ``suite`` object of a provenance line."""
    if rec.get("counts_from") == "none":  # no JUnit file, no summary line: unknown, not zero
        return {"tests": None, "passed": None, "failed": None, "skipped": None, "errors": None,
                "seconds": rec.get("seconds"), "tree": rec.get("tree")}
    return {"tests": rec.get("tests"), "passed": rec.get("passed"), "failed": rec.get("failed"),
            "skipped": rec.get("skipped"), "errors": rec.get("errors"),
            "seconds": rec.get("seconds"), "tree": rec.get("tree")}


Progress = Callable[[float, "float | None", str], None]


def _seconds_file(ctx: Ctx) -> str:
    return ctx.repo.state_path("cache", "suite-seconds.json")


def last_seconds(ctx: Ctx, argv: list[str]) -> float | None:
    """How long ``argv`` took the last time it ran to its end here (machine-local)."""
    from flowergit import fastjson

    try:
        with open(_seconds_file(ctx), "rb") as f:
            got = fastjson.loads(f.read()).get(fastjson.dumps(argv))
    except (OSError, ValueError, AttributeError):
        return None
    return float(got) if isinstance(got, (int, float)) else None


def remember_seconds(ctx: Ctx, argv: list[str], seconds: float) -> None:
    """Keep how long ``argv`` took, for the next run's estimate (best effort)."""
    from flowergit import fastjson

    path = _seconds_file(ctx)
    try:
        with open(path, "rb") as f:
            doc = fastjson.loads(f.read())
        if not isinstance(doc, dict):
            doc = {}
    except (OSError, ValueError):
        doc = {}
    doc[fastjson.dumps(argv)] = round(seconds, 2)
    if len(doc) > 50:  # a few commands a repository uses; never a growing file
        doc = dict(list(doc.items())[-50:])
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(fastjson.dumps(doc))
        os.replace(tmp, path)
    except OSError:
        pass


def run_on(ctx: Ctx, commit: str, tree: str, *, label: str,
           on_start: Callable[[int, str], None] | None = None, record: bool = True,
           reuse: bool = True, argv: list[str] | None = None,
           on_progress: Progress | None = None, tidy: bool = False) -> Attestation:
    """Run the suite on ``commit`` (whose tree is ``tree``); return the attestation record.

    ``on_start(pid, scratch)`` is called once the suite runs (the merge journals it).
    ``argv``: the suite command as :func:`command` returned it to the caller (its trust
    checked already); read and checked here otherwise. ``on_progress(seconds, estimate, last
    line of its output)`` is called a few times a second while the suite runs; the estimate is
    how long the same command took last time on this machine (None the first time).
    ``tidy``: clean the kept checkout in the background once the suite is done (a merge, whose
    landing runs meanwhile; see :meth:`_KeptScratch.done`).
    """
    repo = ctx.repo
    argv = list(argv) if argv is not None else command(ctx)
    if reuse:
        cached = attestation(ctx, tree, argv)
        if cached is not None:
            return {**cached, "cached": True}
    import shutil

    from flowergit.procs import suite as suite_proc

    timeout = float(ctx.config.get("suite", "timeout"))
    extra_env = dict(ctx.config.get("suite", "env"))
    run_id = f"{label}-{os.urandom(4).hex()}"
    outdir = repo.state_path("suite", run_id)
    os.makedirs(outdir, exist_ok=True)
    junit = os.path.join(outdir, "junit.xml")
    log = repo.state_path("logs", f"suite-{run_id}.log")
    full = [junit if a == "{junit}" else a.replace("{junit}", junit) for a in argv]
    kept = _KeptScratch(repo, run_id)
    scratch_dir = kept.checkout(commit)
    try:
        env = suite_proc.suite_env({**extra_env, "FLOWER_SUITE_TREE": tree})

        def started(pid: int) -> None:
            if on_start is not None:
                on_start(pid, scratch_dir)
            failpoints.hit("during_tests")

        # the suite's end is noticed within 10 ms (the default 50 ms would count as the
        # gate's own overhead on every short suite; the check itself costs microseconds)
        tick = None
        if on_progress is not None:
            estimate = last_seconds(ctx, argv)
            report = on_progress

            def tick(seconds: float) -> None:
                got = suite_proc.tail_lines(log, 1, 4096)
                report(seconds, estimate, got[0] if got else "")

        res = suite_proc.run(full, cwd=scratch_dir, log=log, timeout=timeout, env=env,
                             on_start=started, poll=0.01, on_tick=tick)
    finally:
        kept.done(tidy=tidy)
    counts = (suite_proc.from_junit(junit) or suite_proc.from_summary(suite_proc.tail(log))
              or suite_proc.Counts())
    why = ""
    if res.timed_out:
        why = f"timed out after {timeout:g}s"
    elif res.returncode == 127 and counts.source == "none":
        why = f"could not run {argv[0]}"
    elif res.returncode != 0:
        sig = suite_proc.term_signal_name(res.returncode)
        why = f"killed by {sig}" if sig else f"exited {res.returncode}"
    elif counts.failed or counts.errors:
        why = f"{counts.failed} failed, {counts.errors} errors"
    elif counts.source == "none" and any("{junit}" in a for a in argv):
        why = "partial run: no JUnit file and no summary line"
    ok = not why
    rec: Attestation = {
        "v": 1, "kind": "suite", "tree": tree, "commit": commit, "command": argv,
        "tests": counts.tests, "passed": counts.passed, "failed": counts.failed,
        "skipped": counts.skipped, "errors": counts.errors, "seconds": round(res.seconds, 2), "ok": ok,
        "exit_code": res.returncode, "timed_out": res.timed_out, "counts_from": counts.source,
        "log": log, "by": who(), "at": utc_now(),
    }
    if why:
        rec["why"] = why
    if not res.timed_out:
        remember_seconds(ctx, argv, res.seconds)
    failing = counts.extra.get("failing")
    if failing:
        rec["failing"] = list(failing[:MAX_FAILING])
        if len(failing) > MAX_FAILING:
            rec["failing_more"] = len(failing) - MAX_FAILING
    if record:
        notes.append(repo, {tree: [rec]}, f"flower: suite on tree {tree[:12]}")
    shutil.rmtree(outdir, ignore_errors=True)  # the counts are in the attestation now
    return rec


def logs_of_merges(ctx: Ctx, brief: int) -> list[str]:
    """The logs of the suites that merges of ``brief`` ran on this machine, newest first (a
    merge runs its suite with the label ``<brief>-<op>``: see :func:`run_on`)."""
    import glob

    found = glob.glob(ctx.repo.state_path("logs", f"suite-{brief}-*.log"))
    return sorted(found, key=lambda p: (os.path.getmtime(p) if os.path.exists(p) else 0),
                  reverse=True)


def test(ctx: Ctx, rev: str | None = None, *, force: bool = False) -> Attestation:
    """`git flower test [REV]`: suite on REV (default HEAD); raises TestsFailed when red."""
    repo = ctx.repo
    name = rev or "HEAD"
    if name.startswith("-"):
        raise UsageError(f"invalid revision {name!r}")
    commit = history.commit_of(repo, name)
    if commit is None:
        raise NotFound(f"no commit {name!r}", "name a branch, tag or commit id")
    tree = trees.tree_of(repo, commit)
    rec = run_on(ctx, commit, tree, label=f"test-{int(time.time())}", reuse=not force)
    if not rec["ok"]:
        raise TestsFailed(failure_message(rec, f"the suite failed on {name}"),
                          f"the log is {rec['log']}", data=dict(rec))
    return rec


MAX_FAILING = 20  # failing test names an attestation keeps (the log has them all)


def counts_text(rec: Mapping[str, Any]) -> str:
    """``3 tests, 2 passed, 1 failed, 0 skipped, 0 errors``; ``test counts unknown (…)`` when
    the suite left neither a JUnit file nor a summary line flower can read."""
    if rec.get("counts_from") == "none":
        return "test counts unknown: no JUnit file and no summary line"
    return (f"{rec.get('tests')} tests, {rec.get('passed')} passed, {rec.get('failed')} failed, "
            f"{rec.get('skipped')} skipped, {rec.get('errors')} errors")


def failing_text(rec: Mapping[str, Any]) -> str:
    """``failing: test_calc.test_divides``, ``… and 3 more``; empty when no name is known."""
    names = rec.get("failing") or []
    if not names:
        return ""
    more = rec.get("failing_more") or 0
    return "failing: " + ", ".join(map(str, names)) + (f" and {more} more" if more else "")


def failure_message(rec: Attestation, head: str) -> str:
    failing = failing_text(rec)
    return (f"{head}: {rec.get('why', 'failed')} ({counts_text(rec)})"
            + (f"; {failing}" if failing else "") + f"; log: {rec['log']}")
