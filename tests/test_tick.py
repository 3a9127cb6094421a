"""`git flower tick` and `git flower run`: dispatch within the cap, tidy stale signals, re-queue
work whose claimer died, one orchestrator per lane, clean stop on signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import flower, flower_json, git


def later(seconds: float) -> dict[str, str]:
    return {"FLOWER_TESTING": "1", "FLOWER_CLOCK_OFFSET": str(seconds)}


def auto_briefs(repo: Path, *steps: list[str]) -> list[int]:
    lines = "\n".join(json.dumps({"title": f"job {i}", "auto_dispatch": True, "run": [s]})
                      for i, s in enumerate(steps))
    made = flower_json(repo, "brief", "import", "-", input=lines)
    ids = [int(b["id"]) for b in made]  # type: ignore[union-attr, index]
    for b in ids:
        flower_json(repo, "brief", "plan", str(b))
    return ids


def set_cap(repo: Path, cap: int) -> None:
    text = (repo / ".flower.toml").read_text().replace("max_parallel = 4", f"max_parallel = {cap}")
    (repo / ".flower.toml").write_text(text)


def wait_for(cond: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_tick_dispatches_within_the_cap(repo: Path) -> None:
    set_cap(repo, 1)
    a, b = auto_briefs(repo, ["sleep", "30"], ["sleep", "30"])
    try:
        t = flower_json(repo, "tick")
        assert [d["brief"] for d in t["dispatched"]] == [a] and t["cap"] == 1  # type: ignore[index]
        sigs = {s["brief"]: s["state"] for s in flower_json(repo, "signal", "list")}  # type: ignore[union-attr]
        assert sigs == {a: "completed", b: "pending"}
        again = flower_json(repo, "tick")
        assert again["dispatched"] == [] and again["running"] == 1  # type: ignore[index]
        assert flower_json(repo, "brief", "show", str(b))["status"] == "planned"  # type: ignore[index]
    finally:
        flower(repo, "stop", str(a))


def test_tick_runs_a_script_brief_and_reaps_it(repo: Path) -> None:
    (b,) = auto_briefs(repo, ["sh", "-c", "echo hi > hi.txt"])
    t = flower(repo, "tick")
    assert t.returncode == 0 and f"brief {b}: dispatched {b}.1" in t.stdout
    wait_for(lambda: any(s["kind"] == "dispatch_done" for s in flower_json(repo, "signal", "list")))  # type: ignore[union-attr, index]
    t2 = flower_json(repo, "tick")
    assert [r["dispatch"] for r in t2["reaped"]] == [f"{b}.1"]  # type: ignore[index]
    assert flower(repo, "tick").stdout == "tick: nothing to do\n"


def test_tick_tidies_stale_signals(repo: Path) -> None:
    flower_json(repo, "brief", "new", "draft only")
    stale = flower_json(repo, "signal", "emit", "auto_dispatch", "--brief", "1")["id"]  # type: ignore[index]
    old = flower_json(repo, "signal", "emit", "probe")["id"]  # type: ignore[index]
    t = flower_json(repo, "tick", env=later(86400 + 5))
    assert sorted(t["mooted"]) == sorted([stale, old])  # type: ignore[index]
    notes = {s["id"]: s["claim"]["note"] for s in flower_json(repo, "signal", "list")}  # type: ignore[union-attr, index]
    assert notes[stale].startswith("expired") or notes[stale] == "brief 1 is draft"
    assert notes[old].startswith("expired")


def test_tick_requeues_work_claimed_by_a_dead_daemon(repo: Path) -> None:
    set_cap(repo, 1)
    (b,) = auto_briefs(repo, ["true"])
    p = subprocess.Popen(["sleep", "300"])
    dead = str(flower_json(repo, "daemon", "checkin", "--role", "orchestrator", "--pid", str(p.pid))["id"])  # type: ignore[index]
    first = flower_json(repo, "signal", "claim", "--next", "--kind", "auto_dispatch", env={"FLOWER_DAEMON": dead})
    p.kill()
    p.wait()
    t = flower_json(repo, "tick")
    assert first["id"] in t["mooted"] and len(t["requeued"]) == 1  # type: ignore[index]
    assert [d["brief"] for d in t["dispatched"]] == [b]  # type: ignore[index]
    flower(repo, "wait", str(b), timeout=60)


@pytest.mark.slow
def test_only_the_holder_ticks(repo: Path) -> None:
    p = subprocess.Popen(["sleep", "300"])
    try:
        h = str(flower_json(repo, "daemon", "checkin", "--role", "orchestrator", "--pid", str(p.pid))["id"])  # type: ignore[index]
        assert flower(repo, "baton", "take", env={"FLOWER_DAEMON": h}).returncode == 0
        r = flower(repo, "tick")
        assert r.returncode == 4 and f"held by daemon {h}" in r.stderr
        ok = flower_json(repo, "tick", env={"FLOWER_DAEMON": h})
        assert ok["fenced"] is True and ok["epoch"] == 1  # type: ignore[index]
        r = flower(repo, "run", "--ticks", "1")
        assert r.returncode == 4
        assert flower_json(repo, "daemon", "list") and all(  # the would-be runner retired itself
            d["id"] == h for d in flower_json(repo, "daemon", "list"))  # type: ignore[union-attr, index]
    finally:
        p.kill()
        p.wait()


def _run(repo: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "flowergit", "run", "--interval", "0.2", "--json"],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))


@pytest.mark.slow
def test_run_holds_the_baton_and_stops_cleanly(repo: Path) -> None:
    for sig, code in ((signal.SIGTERM, 0), (signal.SIGINT, 130)):
        p = _run(repo)
        try:
            wait_for(lambda: flower_json(repo, "baton", "show").get("state") == "held")  # type: ignore[union-attr]
            holder = flower_json(repo, "baton", "show")["holder"]  # type: ignore[index]
            p.send_signal(sig)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
        assert p.returncode == code, err
        doc = json.loads(out)["data"]
        assert doc["released"] is True and doc["daemon"] == holder
        shown = flower_json(repo, "baton", "show")
        assert shown["state"] == "released"  # type: ignore[index]
        me = flower_json(repo, "daemon", "whoami", "--daemon", holder)
        assert me["state"] == "retired"  # type: ignore[index]
    log = git(repo, "log", "--format=%s", "refs/flower/baton/main").stdout.splitlines()
    assert len(log) == 4 and log[0].startswith("baton main: epoch 2 released")
