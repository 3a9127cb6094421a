"""What each attempt did, truthfully: outcomes, work left uncommitted, supervisors that fail,
credentials that reach the agent whoever dispatched it, and many supervisors ending at once.

FAULTS.md 72 (a sandbox forbids writes to .git), 73 (exit 0 having done nothing), 74 (several
supervisors finish in the same second)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import flower, flower_json, git, write_exe
from test_dispatch import add_agent, dispatch, new_brief, record, set_cap, wait_all

EDITOR = """#!/bin/sh
# an agent whose sandbox forbids writing git's data: it edits files and exits 0
echo "edited by $FLOWER_BRIEF" > "edit-$FLOWER_BRIEF.txt"
mkdir -p sub && echo nested > sub/new.txt
echo "Added edit-$FLOWER_BRIEF.txt as the brief asked"
"""
IDLE = """#!/bin/sh
echo "nothing to do"
"""
WORKER = """#!/bin/sh
set -e
echo w > "w-$FLOWER_BRIEF.txt"
git add -A
git commit -qm "work $FLOWER_BRIEF"
"""


def _signals(repo: Path) -> list[dict[str, Any]]:
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/flower/signals/").stdout.split()
    return [json.loads(git(repo, "cat-file", "blob", f"{r}:record.json").stdout) for r in refs]


def test_work_left_uncommitted_is_committed_as_the_agent_and_lands(repo: Path, tmp_path: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "editor", EDITOR)
    add_agent(repo, "editor", [str(exe)])
    (repo / ".flower.toml").write_text((repo / ".flower.toml").read_text().replace(
        'command = ["pytest", "-q", "--junitxml={junit}"]', 'command = ["true"]'))
    git(repo, "commit", "-qam", "suite: true")
    assert flower(repo, "trust").returncode == 0
    bid = new_brief(repo, "edit only")
    d = dispatch(repo, bid, "--agent", "editor")
    wait_all(repo, bid)
    rec = record(repo, f"{bid}.1")
    assert rec["outcome"] == "done" and rec["exit_code"] == 0
    assert rec["autocommit"]["files"] == 2 and len(rec["autocommit"]["commit"]) == 40
    wt = Path(d["worktree"])
    assert git(wt, "status", "--porcelain").stdout == ""
    log = git(repo, "log", "-1", "--format=%an <%ae>%n%B", d["branch"]).stdout
    assert log.startswith("editor <editor@git-flower.invalid>\n")
    assert f"Added edit-{bid}.txt as the brief asked" in log  # the agent's last words
    assert f"Flower-Brief: {bid}" in log and f"Flower-Dispatch: {bid}.1" in log
    assert flower_json(repo, "brief", "show", str(bid))["status"] == "done"  # type: ignore[index]
    row = flower_json(repo, "ps")[0]  # type: ignore[index]
    assert row["outcome"] == "done"
    m = flower(repo, "merge", str(bid))
    assert m.returncode == 0, m.stderr
    assert git(repo, "show", f"main:edit-{bid}.txt").stdout == f"edited by {bid}\n"
    assert git(repo, "show", "main:sub/new.txt").stdout == "nested\n"


def test_an_attempt_that_did_nothing_is_no_changes_and_never_merged(repo: Path, tmp_path: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "idle", IDLE)
    add_agent(repo, "idle", [str(exe)])
    bid = new_brief(repo, "idle")
    dispatch(repo, bid, "--agent", "idle")
    got = wait_all(repo, bid)
    assert got[0]["exit_code"] == 0
    assert record(repo, f"{bid}.1")["outcome"] == "no-changes"
    assert flower_json(repo, "brief", "show", str(bid))["status"] == "dispatched"  # type: ignore[index]
    before = git(repo, "rev-parse", "main").stdout
    m = flower(repo, "merge", str(bid))
    assert m.returncode == 4, m.stderr
    assert "made no changes" in m.stderr and "hint:" in m.stderr and "--rework" in m.stderr
    assert "internal error" not in m.stderr
    assert git(repo, "rev-parse", "main").stdout == before
    assert flower_json(repo, "brief", "show", str(bid))["status"] != "merged"  # type: ignore[index]
    # --force merges a failed attempt's branch anyway, but there is nothing here to merge
    assert flower(repo, "merge", str(bid), "--force").returncode == 4
    # the bare `merge` (every finished brief) does not take it either
    q = flower(repo, "merge", "--json")
    assert q.returncode == 0, q.stderr
    assert json.loads(q.stdout)["data"] in ([], {"merged": []}) or bid not in json.dumps(
        json.loads(q.stdout)["data"])
    sig = [s for s in _signals(repo) if s["kind"] == "dispatch_done"]
    assert sig and sig[-1]["data"]["outcome"] == "no-changes"


def test_an_agent_that_says_done_but_changed_nothing_is_not_done(repo: Path, tmp_path: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "liar", '#!/bin/sh\n"$FLOWER_BIN" done\n')
    add_agent(repo, "liar", [str(exe)])
    bid = new_brief(repo, "says done")
    dispatch(repo, bid, "--agent", "liar")
    wait_all(repo, bid)
    rec = record(repo, f"{bid}.1")
    assert rec["reported"] == "done" and rec["outcome"] == "no-changes"
    assert flower_json(repo, "brief", "show", str(bid))["status"] == "dispatched"  # type: ignore[index]


def test_a_failed_agent_keeps_its_worktree_as_it_left_it(repo: Path, tmp_path: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "fails", "#!/bin/sh\necho half > half.txt\nexit 3\n")
    add_agent(repo, "fails", [str(exe)])
    bid = new_brief(repo, "fails")
    d = dispatch(repo, bid, "--agent", "fails")
    wait_all(repo, bid)
    rec = record(repo, f"{bid}.1")
    assert rec["outcome"] == "failed" and "autocommit" not in rec
    assert "half.txt" in git(Path(d["worktree"]), "status", "--porcelain").stdout
    assert flower(repo, "merge", str(bid)).returncode == 4


def test_git_flower_done_works_from_a_shell_that_reset_path(repo: Path, tmp_path: Path) -> None:
    # Codex runs commands in a login shell that resets PATH: the packet and FLOWER_BIN name
    # the executable by absolute path
    exe = write_exe(tmp_path / "bin" / "codexish", """#!/bin/sh
echo ok > ok.txt
packet_cmd=$(grep -m1 ' done$' "$FLOWER_PACKET" | sed 's/^ *//')
env -i HOME="$HOME" PATH=/usr/bin:/bin FLOWER_DISPATCH="$FLOWER_DISPATCH" sh -c "$packet_cmd"
""")
    add_agent(repo, "codexish", [str(exe)])
    bid = new_brief(repo, "done from a bare shell")
    dispatch(repo, bid, "--agent", "codexish")
    wait_all(repo, bid)
    rec = record(repo, f"{bid}.1")
    assert rec["reported"] == "done", rec
    assert rec["outcome"] == "done"
    packet = Path(rec["packet"]).read_text()
    assert f"{os.path.dirname(sys.executable)}/git-flower done" in packet


def test_a_failing_supervisor_records_the_attempt_lost(repo: Path, tmp_path: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "worker", WORKER)
    add_agent(repo, "worker", [str(exe)])
    bid = new_brief(repo, "the supervisor fails")
    env = {"FLOWER_TESTING": "1", "FLOWER_FAILPOINTS": "supervisor_after_exit_record=error"}
    dispatch(repo, bid, "--agent", "worker", env=env)
    got = wait_all(repo, bid)
    assert got[0]["state"] != "running"
    rec = record(repo, f"{bid}.1")
    assert rec["outcome"] in ("lost", "done")  # recorded before the failpoint: done stays
    # a failure before the exit is recorded: lost, with the reason, and its signal
    b2 = new_brief(repo, "the supervisor fails early")
    env = {"FLOWER_TESTING": "1", "FLOWER_FAILPOINTS": "supervisor_after_start=error"}
    dispatch(repo, b2, "--agent", "worker", env=env)
    wait_all(repo, b2)
    rec = record(repo, f"{b2}.1")
    assert rec["outcome"] == "lost" and rec["state"] == "exited"
    assert "failpoint" in rec["error"] or rec["error"]
    assert any(s["kind"] == "dispatch_done" and s["data"]["dispatch"] == f"{b2}.1"
               and s["data"]["outcome"] == "lost" for s in _signals(repo))
    row = [r for r in flower_json(repo, "ps") if r["id"] == f"{b2}.1"][0]  # type: ignore[union-attr,index]
    assert row["outcome"] == "lost" and row["error"]
    doc = flower(repo, "doctor", "--json")
    findings = json.loads(doc.stdout)["data"]["findings"]
    lost = [f for f in findings if f["check"] == "dispatches" and f["status"] != "ok"]
    assert lost and f"{b2}.1" in lost[0]["message"], findings


def test_pass_env_gives_the_agent_only_what_it_names(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "envdump", f"""#!{sys.executable}
import json, os
json.dump(dict(os.environ), open(os.path.join(os.environ["REC_DIR"], "env.json"), "w"))
""")
    add_agent(repo, "envy", [str(exe)], extra='pass_env = ["MY_TOKEN", "MYCO_*", "REC_DIR"]\n')
    bid = new_brief(repo, "env")
    dispatch(repo, bid, "--agent", "envy",
             env={"MY_TOKEN": "t1", "MYCO_REGION": "eu", "OTHER_SECRET": "s"})
    wait_all(repo, bid)
    env = json.loads((rec_dir / "env.json").read_text())
    assert env["MY_TOKEN"] == "t1" and env["MYCO_REGION"] == "eu"
    assert "OTHER_SECRET" not in env
    assert env["PATH"] and env["FLOWER_DISPATCH"] == f"{bid}.1" and env["HOME"]
    assert os.path.isabs(env["FLOWER_BIN"]) and os.access(env["FLOWER_BIN"], os.X_OK)


def test_this_machines_settings_reach_an_agent_dispatched_from_a_bare_environment(
        repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    # an MCP client starts its server with a stripped environment: credentials live in this
    # machine's git config (never committed), and reach every agent of the profile
    exe = write_exe(tmp_path / "bin" / "envdump", f"""#!{sys.executable}
import json, os
json.dump(dict(os.environ), open(os.environ["OUT"], "w"))
""")
    add_agent(repo, "cred", [str(exe)])
    envfile = tmp_path / "cred.env"
    envfile.write_text("# personal\nexport API_KEY='from-file'\nOUT=%s\n" % (rec_dir / "e.json"))
    git(repo, "config", "--add", "flower.agent.cred.env", "API_BASE=http://127.0.0.1:9")
    git(repo, "config", "flower.agent.cred.envFile", str(envfile))
    bid = new_brief(repo, "creds")
    bare = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"],
            "GIT_CONFIG_GLOBAL": os.environ["GIT_CONFIG_GLOBAL"], "GIT_CONFIG_NOSYSTEM": "1"}
    r = subprocess.run([sys.executable, "-m", "flowergit", "dispatch", str(bid), "--agent", "cred"],
                       cwd=repo, env=bare, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    wait_all(repo, bid)
    env = json.loads((rec_dir / "e.json").read_text())
    assert env["API_KEY"] == "from-file" and env["API_BASE"] == "http://127.0.0.1:9"
    # nothing of it is in what is committed or in the dispatch record
    assert "from-file" not in git(repo, "log", "-p", "--all").stdout
    # a broken local setting is named, not a crash
    git(repo, "config", "flower.agent.cred.timeout", "soon")
    b2 = new_brief(repo, "bad setting")
    dispatch(repo, b2, "--agent", "cred")
    wait_all(repo, b2)
    rec = record(repo, f"{b2}.1")
    assert rec["outcome"] == "lost" and "flower.agent.cred.timeout" in rec["error"]


def test_a_fork_does_not_reuse_the_parents_descriptors(repo: Path, tmp_path: Path) -> None:
    # the crash of several supervisors finishing at once: a descriptor cached before the fork
    # and closed in the copy (EBADF in posix_spawn)
    out = tmp_path / "child.out"
    code = f"""
import os, sys
from flowergit.gitio import objects
from flowergit.gitio.repo import discover
from flowergit.procs import spawn
objects._devnull()
def child():
    with objects.Batch(discover({str(repo)!r})) as b:
        got = b.get("HEAD")
    open({str(out)!r}, "w").write(got[1])
    return 0
pid = spawn.fork_detached(child, cwd={str(repo)!r}, log={str(tmp_path / "fork.log")!r})
os.waitpid(pid, 0)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == "commit", (tmp_path / "fork.log").read_text()


ROUNDS = int(os.environ.get("FLOWER_STRESS_ROUNDS", "2"))


@pytest.mark.slow
@pytest.mark.parametrize("n", [4, 8])
def test_many_supervisors_ending_in_the_same_second_all_record(repo: Path, tmp_path: Path,
                                                               n: int) -> None:
    # FAULTS 74: 300 briefs, n dispatches back to back, agents ending within the same second
    lines = "\n".join(json.dumps({"title": f"filed {k}", "body": "b"}) for k in range(300))
    assert flower(repo, "brief", "import", "-", input=lines + "\n").returncode == 0
    gate = tmp_path / "gate"
    exe = write_exe(tmp_path / "bin" / "sync", f"""#!/bin/sh
set -e
while [ ! -e {gate} ]; do sleep 0.05; done
echo w > "w-$FLOWER_BRIEF.txt"
git add -A && git commit -qm "work $FLOWER_BRIEF"
""")
    add_agent(repo, "sync", [str(exe)])
    set_cap(repo, 8)
    for _ in range(ROUNDS):
        gate.unlink(missing_ok=True)
        ids = [new_brief(repo, f"parallel {k}") for k in range(n)]
        for bid in ids:
            dispatch(repo, bid, "--agent", "sync")
        gate.write_text("go")  # every agent ends now
        wait_all(repo, *ids, timeout=120)
        for bid in ids:
            rec = record(repo, f"{bid}.1")
            assert rec["outcome"] == "done", rec
            status = flower_json(repo, "brief", "show", str(bid))["status"]  # type: ignore[index]
            assert status == "done", Path(rec["log"]).read_text()
    state = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip())
    for p in (state / "flower").rglob("*"):
        if p.is_file() and p.suffix == ".log":
            assert "Traceback" not in p.read_text(errors="replace"), p


def test_the_config_knows_the_built_in_profiles_by_name() -> None:
    from flowergit.procs.agents import builtins
    from flowergit.state.config import BUILTIN_AGENTS

    assert set(BUILTIN_AGENTS) == set(builtins())


@pytest.mark.slow
def test_tick_reports_an_attempt_whose_processes_vanished(repo: Path, tmp_path: Path) -> None:
    # a supervisor killed with SIGKILL (the OOM killer, a reboot) writes nothing: the next tick
    # gives the attempt the outcome `lost` and its signal, once, and it can still be resumed
    import signal
    import time

    exe = write_exe(tmp_path / "bin" / "sleeper", "#!/bin/sh\nsleep 60\n")
    add_agent(repo, "sleeper", [str(exe)])
    bid = new_brief(repo, "vanishes")
    dispatch(repo, bid, "--agent", "sleeper")
    deadline = time.monotonic() + 30
    while (rec := record(repo, f"{bid}.1")).get("pid") is None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.kill(rec["supervisor"]["pid"], signal.SIGKILL)
    os.killpg(rec["pgid"], signal.SIGKILL)
    time.sleep(0.5)
    t = flower(repo, "tick", "--json")
    assert t.returncode == 0, t.stderr
    rec = record(repo, f"{bid}.1")
    assert rec["outcome"] == "lost" and "--resume" in rec["error"]
    sigs = [s for s in _signals(repo) if s["kind"] == "dispatch_done"]
    assert len(sigs) == 1 and sigs[0]["data"]["outcome"] == "lost"
    assert flower(repo, "tick").returncode == 0
    assert len([s for s in _signals(repo) if s["kind"] == "dispatch_done"]) == 1  # once
    r = flower(repo, "dispatch", str(bid), "--resume", "--json")
    assert r.returncode == 0, r.stderr
    assert "outcome" not in record(repo, f"{bid}.1")
    flower(repo, "stop", str(bid))
