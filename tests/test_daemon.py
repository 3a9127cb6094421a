"""Daemons: check-in, heartbeats, whoami, list, retire, spawn with a charter packet."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import flower, flower_json, git, write_exe


def test_checkin_beat_whoami_retire(repo: Path) -> None:
    d = flower_json(repo, "daemon", "checkin", "--role", "orchestrator")
    did = str(d["id"])  # type: ignore[index]
    assert d["state"] == "active" and d["pid"] and d["host"]  # type: ignore[index]
    shell = flower(repo, "daemon", "checkin", "--role", "ops", "--shell")
    assert shell.returncode == 0 and shell.stdout.startswith("export FLOWER_DAEMON=")
    other = shlex.split(shell.stdout.strip().split("=", 1)[1])[0]
    me = flower_json(repo, "daemon", "whoami", env={"FLOWER_DAEMON": did})
    assert me["id"] == did and me["liveness"]["state"] == "alive"  # type: ignore[index]
    assert flower_json(repo, "daemon", "whoami", "--daemon", other)["role"] == "ops"  # type: ignore[index]
    for n in (1, 2, 3):
        assert flower_json(repo, "daemon", "beat", did)["beat"] == n  # type: ignore[index]
    assert flower_json(repo, "daemon", "beat", env={"FLOWER_DAEMON": did})["beat"] == 4  # type: ignore[index]
    # beats do not pile up in the chain: check-in, then the latest beat
    log = git(repo, "log", "--format=%s", f"refs/flower/daemons/{did}").stdout.splitlines()
    assert log == [f"daemon {did}: beat 4", f"daemon {did}: check in as orchestrator"]
    assert [x["id"] for x in flower_json(repo, "daemon", "list")] == [did, other]  # type: ignore[index]
    flower_json(repo, "daemon", "retire", other, "--why", "done")
    assert [x["id"] for x in flower_json(repo, "daemon", "list")] == [did]  # type: ignore[index]
    assert len(flower_json(repo, "daemon", "list", "--all")) == 2  # type: ignore[arg-type]
    r = flower(repo, "daemon", "beat", other)
    assert r.returncode == 4 and "retired" in r.stderr


def test_daemon_errors(repo: Path) -> None:
    for args, code in [(("daemon", "whoami"), 2), (("daemon", "beat", "12"), 3),
                       (("daemon", "checkin", "--role", "Bad Role"), 2),
                       (("daemon", "checkin", "--role", "x", "--pid", "999999999"), 2),
                       (("daemon", "retire", "../x"), 2),
                       (("daemon", "checkin", "--role", "x", "--successor-of", "42"), 3)]:
        r = flower(repo, *args)
        assert r.returncode == code, (args, r.stderr)


@pytest.mark.slow
def test_concurrent_checkins_get_distinct_ids(repo: Path) -> None:
    import sys

    ps = [subprocess.Popen([sys.executable, "-m", "flowergit", "daemon", "checkin", "--role", "w",
                            "--json"], cwd=repo, stdout=subprocess.PIPE, text=True) for _ in range(6)]
    assert all(p.wait(timeout=120) == 0 for p in ps)
    ids = sorted(int(flower_json(repo, "daemon", "list")[i]["id"]) for i in range(6))  # type: ignore[index]
    assert ids == [1, 2, 3, 4, 5, 6]


def test_dead_process_is_judged_dead(repo: Path) -> None:
    p = subprocess.Popen(["sleep", "300"])
    d = flower_json(repo, "daemon", "checkin", "--role", "w", "--pid", str(p.pid))
    p.kill()
    p.wait()
    me = flower_json(repo, "daemon", "whoami", "--daemon", str(d["id"]))  # type: ignore[index]
    assert me["liveness"]["state"] == "dead"  # type: ignore[index]


def test_spawn_runs_agent_with_charter_packet(repo: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    agent = write_exe(tmp_path / "bin" / "fake-agent", f"""#!/bin/sh
{{ echo "argv:$1"; echo "daemon:$FLOWER_DAEMON role:$FLOWER_ROLE"; head -n 1 "$FLOWER_PACKET"; }} > {seen}
""")
    with open(repo / ".flower.toml", "a") as f:
        f.write(f'\n[agents.fake]\ncommand = ["{agent}", "{{bootstrap}}"]\n')
    r = flower(repo, "daemon", "spawn", "--role", "worker", "--agent", "fake")
    assert r.returncode == 2 and "untrusted" in r.stderr  # config commands need trust first
    assert flower(repo, "trust").returncode == 0
    d = flower_json(repo, "daemon", "spawn", "--role", "worker", "--agent", "fake")
    did = str(d["id"])  # type: ignore[index]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (seen.exists() and seen.read_text().count("\n") >= 3):
        time.sleep(0.05)
    lines = seen.read_text().splitlines()
    packet = str(d["packet"])  # type: ignore[index]
    assert lines[0] == f"argv:Read {packet} and follow it."
    assert lines[1] == f"daemon:{did} role:worker"
    assert lines[2] == f"# Charter: worker (daemon {did})"
    assert d["agent"] == "fake" and d["charter_version"] == 1  # type: ignore[index]
    r = flower(repo, "daemon", "spawn", "--role", "nope", "--agent", "fake")
    assert r.returncode == 3


@pytest.mark.slow
def test_charter_show_and_repository_override(repo: Path) -> None:
    versions = {"orchestrator": 2, "worker": 1, "ops": 1, "refine": 1, "reset-successor": 1}
    for role, version in versions.items():
        c = flower_json(repo, "charter", "show", role)
        assert c["version"] == version and c["source"] == "built-in"  # type: ignore[index]
        assert c["text"].startswith("# Charter")  # type: ignore[index]
    os.makedirs(repo / ".flower" / "charters")
    (repo / ".flower" / "charters" / "worker.md").write_text(
        '+++\nrole = "worker"\nversion = 7\n+++\nOur own worker rules for {{daemon}}.\n')
    c = flower_json(repo, "charter", "show", "worker", "--daemon", "9")
    assert c["version"] == 7 and c["text"] == "Our own worker rules for 9.\n"  # type: ignore[index]
    assert flower(repo, "charter", "show", "worker").stdout == "Our own worker rules for $FLOWER_DAEMON.\n"
    assert flower(repo, "charter", "show", "Bad").returncode == 2


def test_a_daemon_checked_in_from_a_leaderless_session_stays_alive(repo: Path, tmp_path: Path) -> None:
    """A container whose init leads every session, or a session whose leader has exited: the
    daemon stands for the oldest process of the caller's session, not the `$(…)` subshell that
    ran `checkin` and is gone a moment later."""
    out = tmp_path / "whoami.json"
    script = ("( sleep 0.3; A=$(git flower daemon checkin --role o --json | python3 -c "
              "'import json,sys; print(json.load(sys.stdin)[\"data\"][\"id\"])'); sleep 0.5; "
              f"git flower daemon whoami --daemon \"$A\" --json >{out}.tmp; mv {out}.tmp {out} ) "
              "</dev/null >/dev/null 2>&1 & exit 0")
    leader = subprocess.Popen(["sh", "-c", script], cwd=repo, start_new_session=True)
    assert leader.wait(timeout=10) == 0  # the session's leader is gone from here on
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    import json

    me = json.loads(out.read_text())["data"]
    assert me["pid"] != leader.pid and me["liveness"]["state"] == "alive", me
