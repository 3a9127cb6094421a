"""Running a test suite: its own session and process group, output to a file, a timeout that
ends the whole tree, and the counts read back from JUnit XML or the runner's summary line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from flowergit.procs import groups

# never handed to a suite: git's own variables, flower's, and well-known credentials
_DROP_PREFIX = ("GIT_", "FLOWER_", "AWS_", "AZURE_", "GOOGLE_", "GCP_")
_DROP_SUFFIX = ("_TOKEN", "_API_KEY", "_SECRET", "_SECRET_KEY", "_PASSWORD")
_DROP = {"SSH_AUTH_SOCK", "GH_TOKEN", "GITHUB_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"}


def suite_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_DROP_PREFIX) and not k.endswith(_DROP_SUFFIX) and k not in _DROP}
    env.update(extra or {})
    return env


class Run:
    """How a suite run ended. (Plain classes here: `dataclasses` loads `inspect`, which a merge
    would pay for on every run.)"""

    __slots__ = ("returncode", "timed_out", "seconds", "pid", "interrupted")

    def __init__(self, returncode: int | None, timed_out: bool, seconds: float, pid: int,
                 interrupted: bool = False) -> None:
        self.returncode = returncode
        self.timed_out = timed_out
        self.seconds = seconds
        self.pid = pid
        self.interrupted = interrupted

    def __repr__(self) -> str:
        return (f"Run(returncode={self.returncode!r}, timed_out={self.timed_out!r}, "
                f"seconds={self.seconds!r}, pid={self.pid!r}, interrupted={self.interrupted!r})")


def run(argv: Sequence[str], *, cwd: str, log: str, timeout: float,
        env: Mapping[str, str] | None = None,
        on_start: Callable[[int], None] | None = None, poll: float = 0.05,
        on_tick: Callable[[float], None] | None = None, tick: float = 0.25) -> Run:
    """Run ``argv`` in its own session with stdout+stderr appended to ``log``; kill the whole
    process tree when ``timeout`` passes (or on Ctrl-C, which is then re-raised).
    ``on_tick(seconds so far)`` is called every ``tick`` seconds while it runs."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    start = time.monotonic()
    with open(log, "ab") as out:
        try:
            p = subprocess.Popen(list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, env=dict(env or suite_env()),
                                 start_new_session=True)
        except OSError as e:
            out.write(f"git flower: cannot run {argv[0]}: {e.strerror}\n".encode())
            return Run(127, False, 0.0, 0)
    if on_start is not None:
        on_start(p.pid)
    deadline = start + timeout
    next_tick = start + tick
    try:
        while True:
            if on_tick is not None and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + tick
                on_tick(next_tick - tick - start)
            rc = p.poll()
            if rc is not None:
                # the leader is done; anything it left in its group goes too
                if groups.group_alive(p.pid):
                    groups.kill_tree(p.pid, grace=1.0)
                return Run(rc, False, time.monotonic() - start, p.pid)
            if time.monotonic() >= deadline:
                groups.kill_tree(p.pid, grace=2.0)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                return Run(None, True, time.monotonic() - start, p.pid)
            time.sleep(poll)
    except KeyboardInterrupt:
        groups.kill_tree(p.pid, grace=1.0)
        p.wait()
        raise


# -- counts ----------------------------------------------------------------------------------
class Counts:
    """Test counts of a suite run; ``source`` says where they came from (``junit``,
    ``summary:<runner>`` or ``none``)."""

    __slots__ = ("tests", "passed", "failed", "skipped", "errors", "source", "extra")

    def __init__(self, tests: int = 0, passed: int = 0, failed: int = 0, skipped: int = 0,
                 errors: int = 0, source: str = "none", extra: dict[str, Any] | None = None) -> None:
        self.tests = tests
        self.passed = passed
        self.failed = failed
        self.skipped = skipped
        self.errors = errors
        self.source = source
        self.extra: dict[str, Any] = extra if extra is not None else {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Counts) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return "Counts(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"

    def as_dict(self) -> dict[str, int]:
        return {"tests": self.tests, "passed": self.passed, "failed": self.failed,
                "skipped": self.skipped, "errors": self.errors}


def from_junit(path: str) -> Counts | None:
    """Counts from a JUnit XML file (junitparser); None if it is missing or unreadable."""
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return None
    try:
        from junitparser import Error, Failure, JUnitXml, Skipped, TestCase

        xml = JUnitXml.fromfile(path)
        failing: list[str] = []
        c = Counts(source="junit", extra={"failing": failing})
        suites = [xml] if xml._tag == "testsuite" else list(xml)
        for suite in suites:
            for case in suite:
                if not isinstance(case, TestCase):
                    continue
                c.tests += 1
                res = case.result
                kinds = {type(r) for r in res}
                if any(issubclass(k, Error) for k in kinds):
                    c.errors += 1
                    failing.append(case_name(case))
                elif any(issubclass(k, Failure) for k in kinds):
                    c.failed += 1
                    failing.append(case_name(case))
                elif any(issubclass(k, Skipped) for k in kinds):
                    c.skipped += 1
                else:
                    c.passed += 1
        return c
    except Exception:  # noqa: BLE001 - a truncated or foreign file: fall back to the summary
        return None


def case_name(case: Any) -> str:
    """``tests/test_calc.py::test_adds``-like name of a JUnit test case: its class and name."""
    cls = case.classname or ""
    return f"{cls}.{case.name}" if cls else str(case.name)


def tail_lines(path: str, n: int = 10, limit: int = 16 * 1024) -> list[str]:
    """The last ``n`` non-empty lines of a log."""
    lines = [ln.rstrip() for ln in tail(path, limit).splitlines() if ln.strip()]
    return lines[-n:]


_PYTEST = re.compile(r"=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s", re.ASCII)
_PYTEST_PART = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)",
                          re.ASCII)
_PHPUNIT_OK = re.compile(r"^OK \((\d+) tests?, \d+ assertions?\)", re.ASCII | re.MULTILINE)
_PHPUNIT = re.compile(r"^Tests: (\d+), Assertions: \d+(.*)$", re.ASCII | re.MULTILINE)
_CARGO = re.compile(r"^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored",
                    re.ASCII | re.MULTILINE)
_GO_CASE = re.compile(r"^\s*--- (PASS|FAIL|SKIP): ", re.ASCII | re.MULTILINE)
_GO_PKG = re.compile(r"^(ok|FAIL|\?)\s+\S+", re.ASCII | re.MULTILINE)


def from_summary(text: str) -> Counts | None:
    """Counts from the last summary line of pytest, phpunit, cargo test or go test -v."""
    found = _PYTEST.findall(text)
    if found:
        c = Counts(source="summary:pytest")
        for n, what in _PYTEST_PART.findall(found[-1]):
            k = int(n)
            if what == "passed" or what == "xpassed":
                c.passed += k
            elif what == "failed":
                c.failed += k
            elif what in ("skipped", "xfailed"):
                c.skipped += k
            elif what.startswith("error"):
                c.errors += k
        c.tests = c.passed + c.failed + c.skipped + c.errors
        return c
    m = list(_CARGO.finditer(text))
    if m:
        c = Counts(source="summary:cargo")
        for x in m:
            c.passed += int(x[2])
            c.failed += int(x[3])
            c.skipped += int(x[4])
        c.tests = c.passed + c.failed + c.skipped
        return c
    m2 = list(_PHPUNIT_OK.finditer(text))
    if m2:
        n = int(m2[-1][1])
        return Counts(tests=n, passed=n, source="summary:phpunit")
    m3 = list(_PHPUNIT.finditer(text))
    if m3:
        c = Counts(tests=int(m3[-1][1]), source="summary:phpunit")
        rest = m3[-1][2]
        for key, attr in (("Failures", "failed"), ("Errors", "errors"), ("Skipped", "skipped"),
                          ("Incomplete", "skipped")):
            mm = re.search(key + r": (\d+)", rest)
            if mm:
                setattr(c, attr, getattr(c, attr) + int(mm[1]))
        c.passed = max(0, c.tests - c.failed - c.errors - c.skipped)
        return c
    cases = _GO_CASE.findall(text)
    if cases or _GO_PKG.search(text):
        c = Counts(source="summary:go")
        for v in cases:
            if v == "PASS":
                c.passed += 1
            elif v == "FAIL":
                c.failed += 1
            else:
                c.skipped += 1
        c.tests = c.passed + c.failed + c.skipped
        if c.tests == 0:
            return None
        return c
    return None


def tail(path: str, limit: int = 64 * 1024) -> str:
    """The end of a log file (summaries are at the end; the file may be huge)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def term_signal_name(rc: int | None) -> str:
    if rc is not None and rc < 0:
        try:
            return signal.Signals(-rc).name
        except ValueError:
            return f"signal {-rc}"
    return ""
