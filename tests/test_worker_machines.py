"""`git flower run --worker`: clones that run agents for the fleet through a remote (issue:
many machines). Three clones over `git daemon`: one files and merges, two run worker loops."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import flower, flower_json, git, make_repo, write_exe
from sync_helpers import clone, git_daemon, served_remote

WORKER = ('#!/bin/sh\nset -e\necho "$FLOWER_BRIEF from $(basename "$(git rev-parse '
          '--show-toplevel)")" >"w-$FLOWER_BRIEF.txt"\ngit add -A\ngit commit -qm "work '
          '$FLOWER_BRIEF"\n')


def seed_repo(tmp_path: Path) -> Path:
    seed = make_repo(tmp_path / "seed")
    worker = write_exe(tmp_path / "bin" / "worker", WORKER)
    cfg = (seed / ".flower.toml").read_text()
    cfg = re.sub(r"(?ms)^\[suite\].*?(?=^\[|\Z)", "", cfg)
    cfg = re.sub(r'(?m)^\s*#?\s*default_agent\s*=.*$', 'default_agent = "worker"', cfg, count=1)
    if 'default_agent = "worker"' not in cfg:
        cfg = cfg.replace("[flower]", '[flower]\ndefault_agent = "worker"', 1)
    cfg += f'\n[suite]\ncommand = ["true"]\n\n[agents.worker]\ncommand = ["{worker}", "{{bootstrap}}"]\n'
    (seed / ".flower.toml").write_text(cfg)
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "flower config")
    return seed


@contextmanager
def fleet(tmp_path: Path, seed: Path, names: str) -> Iterator[tuple[Path, list[Path]]]:
    """A bare remote made from ``seed``, served by git daemon; a trusted clone per name."""
    bare = served_remote(tmp_path, seed)
    with git_daemon(bare.parent) as url:
        clones = [clone(tmp_path, f"{url}/proj.git", n) for n in names]
        for x in clones:
            assert flower(x, "trust").returncode == 0
        yield bare, clones


@pytest.mark.slow  # four clones, three worker loops, a git daemon
def test_three_worker_clones_run_each_of_30_briefs_once_and_each_lands_once(
        tmp_path: Path) -> None:
    with fleet(tmp_path, seed_repo(tmp_path), "abcd") as (bare, (a, b, c, d)):
        ids = []
        for k in range(30):
            got = flower_json(a, "brief", "new", f"remote work {k}", "--auto")
            ids.append(int(got["id"]))  # type: ignore[index]
            assert flower(a, "brief", "plan", str(ids[-1])).returncode == 0
        assert flower(a, "sync").returncode == 0
        procs = [subprocess.Popen([sys.executable, "-m", "flowergit", "run", "--worker",
                                   "--interval", "0.1", "--ticks", "25", "--json"], cwd=x,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for x in (b, c, d)]
        results = [p.communicate(timeout=240) for p in procs]
        for p, (out, err) in zip(procs, results):
            assert p.returncode == 0, err
        ran = [d for out, _ in results for d in json.loads(out)["data"]["dispatched"]]
        assert sorted(r["brief"] for r in ran) == ids  # each brief started once, fleet-wide
        assert len({r["dispatch"] for r in ran}) == 30
        assert flower(a, "sync").returncode == 0
        m = flower(a, "merge")  # every finished brief, in the order they finished
        assert m.returncode == 0, m.stdout + m.stderr
        for n in ids:
            assert git(a, "cat-file", "-e", f"main:w-{n}.txt", check=False).returncode == 0
            assert len(git(a, "for-each-ref", f"refs/flower/dispatch/{n}/").stdout.splitlines()) == 1
        log = git(a, "log", "--format=%s", "main").stdout
        assert all(log.count(f"Merge brief {n} ") == 1 for n in ids), log
        # every auto_dispatch signal was claimed once, on the remote, and completed
        sigs = [s for s in flower_json(a, "signal", "list")  # type: ignore[union-attr]
                if s["kind"] == "auto_dispatch"]
        assert len(sigs) == 30 and all(s["state"] == "completed" for s in sigs)
        # the worker daemons checked in through the remote: distinct ids, retired at the end
        ds = flower_json(a, "daemon", "list", "--all")
        workers = [w for w in ds if w["role"] == "worker"]  # type: ignore[union-attr,index]
        assert len(workers) == 3 and all(w["state"] == "retired" for w in workers)


def test_a_worker_needs_a_remote_and_takes_no_agent(repo: Path) -> None:
    r = flower(repo, "run", "--worker", "--ticks", "1")
    assert r.returncode == 2 and "a worker needs a remote" in r.stderr, r.stderr
    assert "hint: configure one" in r.stderr
    r = flower(repo, "run", "--worker", "--agent", "claude", "--ticks", "1")
    assert r.returncode == 2 and "takes neither --agent" in r.stderr
    r = flower(repo, "run", "--remote", "origin", "--ticks", "1")
    assert r.returncode == 2 and "--remote goes with --worker" in r.stderr
    assert git(repo, "for-each-ref", "refs/flower/daemons/").stdout == ""


def kill_clone(root: Path, loop: subprocess.Popen[str]) -> None:
    """SIGKILL a worker loop and every process working in its clone or its worktrees (its
    supervisors and agents run in sessions of their own): the machine dies."""
    import os
    import signal

    import psutil

    loop.kill()
    loop.wait(timeout=30)
    prefixes = (str(root), str(root) + ".flower")
    for p in psutil.process_iter(["pid", "cwd"]):
        cwd = p.info.get("cwd") or ""
        if p.pid != os.getpid() and cwd.startswith(prefixes):
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.slow
def test_a_worker_machine_killed_mid_attempt_is_retried_elsewhere_once(tmp_path: Path) -> None:
    seed = seed_repo(tmp_path)
    # the agent hangs on clone b's machine and works on c's
    write_exe(tmp_path / "bin" / "worker",
              '#!/bin/sh\nset -e\ncase "$PWD" in */b.flower/*) sleep 300;; esac\n'
              + WORKER.split("\n", 2)[2])
    with fleet(tmp_path, seed, "abc") as (bare, (a, b, c)):
        n = int(flower_json(a, "brief", "new", "survives its machine", "--auto")["id"])  # type: ignore[index]
        assert flower(a, "brief", "plan", str(n)).returncode == 0
        assert flower(a, "sync").returncode == 0
        lb = subprocess.Popen([sys.executable, "-m", "flowergit", "run", "--worker",
                               "--interval", "0.3"], cwd=b, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        try:
            # b claimed it, started it and published the running attempt
            for _ in range(300):
                if git(bare, "for-each-ref", f"refs/flower/dispatch/{n}/1").stdout:
                    break
                import time

                time.sleep(0.1)
            else:
                raise AssertionError("worker b never published its attempt")
        finally:
            kill_clone(b, lb)
        lc = subprocess.run([sys.executable, "-m", "flowergit", "run", "--worker",
                             "--interval", "0.3", "--ticks", "4", "--json"], cwd=c,
                            capture_output=True, text=True, timeout=240)
        assert lc.returncode == 0, lc.stderr
        ran = json.loads(lc.stdout)["data"]["dispatched"]
        assert ran == [{"brief": n, "dispatch": f"{n}.2", "retry_of": f"{n}.1"}], lc.stderr
        assert "lost (its worker daemon" in lc.stderr
        assert flower(a, "sync").returncode == 0
        m = flower(a, "merge", str(n))
        assert m.returncode == 0, m.stdout + m.stderr
        assert git(a, "cat-file", "-e", f"main:w-{n}.txt", check=False).returncode == 0
        recs = {d["id"]: d for d in flower_json(a, "ps", "--all")}  # type: ignore[union-attr]
        assert recs[f"{n}.1"]["outcome"] == "lost" and recs[f"{n}.2"]["outcome"] == "done"
        assert "/b.flower/" in recs[f"{n}.1"]["worktree"]
        assert "/c.flower/" in recs[f"{n}.2"]["worktree"]  # run again on c's machine
        # ps says which machine and which worker daemon ran what
        import socket

        assert recs[f"{n}.2"]["host"] == socket.gethostname() and recs[f"{n}.2"]["daemon"]
        assert recs[f"{n}.2"]["daemon"] != recs[f"{n}.1"]["daemon"]
        assert git(a, "log", "--format=%s", "main").stdout.count(f"Merge brief {n} ") == 1
        # the retry was claimed once, on the remote
        assert git(bare, "for-each-ref", f"refs/flower/claims/retry-{n}-1").stdout


def test_a_row_run_on_another_machine_names_it() -> None:
    from flowergit.render.cells import state_text

    assert state_text({"state": "running", "elsewhere": "build-2"}) == "running@build-2"
    assert state_text({"state": "exited", "outcome": "done", "exit_code": 0,
                       "elsewhere": None}) == "done"


@pytest.mark.slow
def test_a_claim_whose_worker_died_before_dispatching_is_run_elsewhere(tmp_path: Path) -> None:
    with fleet(tmp_path, seed_repo(tmp_path), "abc") as (bare, (a, b, c)):
        n = int(flower_json(a, "brief", "new", "claimed, then orphaned", "--auto")["id"])  # type: ignore[index]
        assert flower(a, "brief", "plan", str(n)).returncode == 0
        assert flower(a, "sync").returncode == 0
        assert flower(b, "sync").returncode == 0
        # a worker on b claims the signal on the remote and dies before it dispatches
        sleeper = subprocess.Popen(["sleep", "300"])
        w = str(flower_json(b, "daemon", "checkin", "--role", "worker", "--pid",
                            str(sleeper.pid))["id"])  # type: ignore[index]
        sid = next(s["id"] for s in flower_json(b, "signal", "list")  # type: ignore[union-attr]
                   if s["kind"] == "auto_dispatch")
        r = flower(b, "signal", "claim", str(sid), "--remote", "origin", env={"FLOWER_DAEMON": w})
        assert r.returncode == 0, r.stderr
        assert flower(b, "sync").returncode == 0
        sleeper.kill()
        sleeper.wait()
        lc = subprocess.run([sys.executable, "-m", "flowergit", "run", "--worker",
                             "--interval", "0.3", "--ticks", "3", "--json"], cwd=c,
                            capture_output=True, text=True, timeout=240)
        assert lc.returncode == 0, lc.stderr
        ran = json.loads(lc.stdout)["data"]["dispatched"]
        assert ran == [{"brief": n, "dispatch": f"{n}.1", "retry_of": sid}], lc.stderr
        assert f"its claimer, worker daemon {w}, is gone" in lc.stderr
        assert git(bare, "for-each-ref", f"refs/flower/claims/retry-{sid}").stdout
        assert flower(a, "sync").returncode == 0
        assert flower(a, "merge", str(n)).returncode == 0
        assert git(a, "cat-file", "-e", f"main:w-{n}.txt", check=False).returncode == 0


def test_a_worker_whose_remote_is_down_keeps_trying_and_ends_cleanly(repo: Path) -> None:
    from sync_helpers import free_port

    git(repo, "remote", "add", "origin", f"git://127.0.0.1:{free_port()}/nothing.git")
    r = flower(repo, "run", "--worker", "--remote", "origin", "--ticks", "2", "--interval", "0.1")
    assert r.returncode == 0, r.stderr
    assert "cannot reach remote 'origin'" in r.stderr and "(retried next tick)" in r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    ds = flower_json(repo, "daemon", "list", "--all")
    assert [d["state"] for d in ds] == ["retired"]  # type: ignore[union-attr,index]
