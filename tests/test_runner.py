"""The git runner starts git with posix_spawn and reads its pipes itself: no deadlock with big
input and output at once, timeouts kill, signals and stdin are what git expects, and
`cat-file --batch` answers many big objects without stalling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git
from flowergit.gitio import objects, runner, writes
from flowergit.gitio.repo import discover
from flowergit.gitio.runner import GitError


@pytest.mark.slow
def test_big_input_and_big_output_at_once(repo: Path) -> None:
    # 40,000 names in (about 200 KB), an answer line per name out (about 2 MB): both pipes
    # overflow many times over, so this stalls unless both are served together
    names = b"HEAD\n" * 40_000
    res = runner.run(["-C", str(repo), "cat-file", "--batch-check"], input=names)
    lines = res.stdout.splitlines()
    assert len(lines) == 40_000 and len(set(lines)) == 1
    assert lines[0].split()[1] == b"commit"


def test_timeout_kills_and_reports(repo: Path) -> None:
    with pytest.raises(GitError) as e:
        runner.run(["-C", str(repo), "-c", "alias.nap=!exec sleep 30", "nap"], timeout=0.5)
    assert "timed out" in str(e.value)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
def test_child_has_default_sigpipe_and_devnull_stdin(repo: Path) -> None:
    # Python ignores SIGPIPE; git (and what it runs) must get it back at its default
    res = runner.run(["-C", str(repo), "-c",
                      "alias.traps=!cat; awk '/^SigIgn/ { print $2 }' /proc/self/status", "traps"])
    ignored = int(res.out.strip(), 16)  # and cat returned at once: stdin was /dev/null
    assert not ignored & (1 << (13 - 1))  # SIGPIPE is signal 13


def test_input_fed_and_exit_code_kept(repo: Path) -> None:
    res = runner.run(["-C", str(repo), "hash-object", "--stdin"], input=b"hello\n")
    assert res.out.strip() == git(repo, "hash-object", "--stdin", input=b"hello\n").stdout.strip()
    bad = runner.run(["-C", str(repo), "rev-parse", "--verify", "nope"], check=False)
    assert bad.returncode == 128 and not bad.ok and "fatal" in bad.err


def test_cwd_is_honoured(repo: Path) -> None:
    sub = repo / "deep" / "er"
    sub.mkdir(parents=True)
    res = runner.run(["rev-parse", "--show-prefix"], cwd=str(sub))
    assert res.out.strip() == "deep/er/"


@pytest.mark.slow
def test_killed_by_signal_is_negative(repo: Path) -> None:
    res = runner.run(["-C", str(repo), "-c", "alias.die=!kill -9 $PPID; sleep 5", "die"],
                     check=False, timeout=20)
    assert res.returncode == -9


def test_batch_reads_many_big_objects(repo: Path) -> None:
    r = discover(str(repo))
    w = writes.Writer(r)
    oids = [w.add("blob", os.urandom(48 * 1024) + b"%d" % i) for i in range(60)]
    w.flush()
    with objects.Batch(r) as batch:
        got = batch.get_many(oids * 3 + ["missing-object"])
    assert [g[0] for g in got[:-1] if g] == oids * 3 and got[-1] is None
    assert all(g is not None and len(g[2]) >= 48 * 1024 for g in got[:-1])


def test_closed_standard_descriptors_still_work(repo: Path) -> None:
    # with stdin and stdout closed, new pipes land on 0 and 1: the runner must still work
    code = ("import os, sys; os.close(0); os.close(1); from flowergit.gitio import runner; "
            f"r = runner.run(['-C', {str(repo)!r}, 'rev-parse', 'HEAD']); "
            "sys.stderr.write(r.out)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip() == git(repo, "rev-parse", "HEAD").stdout.strip()
