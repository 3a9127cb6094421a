"""Dispatch: argv safety and size (FAULTS 47, 48, S1), environment (S8), trust, the claim, the
cap and its FIFO queue, agents outliving the dispatcher, the script agent, rework, worktrees
(54, 55) and config read from the main checkout only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import flower, flower_json, git, write_exe

# A recorder agent: dumps argv, FLOWER_* and a few other variables, cwd and whether stdin was
# closed; optionally sleeps and commits. Records go to $REC_DIR/<brief>.json.
RECORDER = f"""#!{sys.executable}
import json, os, subprocess, sys, time
t0 = time.time()
try:
    stdin_eof = sys.stdin is None or sys.stdin.read(1) == ""
except Exception:
    stdin_eof = True
time.sleep(float(os.environ.get("FAKE_SLEEP") or 0))
if os.environ.get("FAKE_COMMIT"):
    open("agent-%s.txt" % os.environ["FLOWER_BRIEF"], "w").write("work\\n")
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "commit", "-qm", "agent work"], check=True)
rec = {{"argv": sys.argv[1:], "cwd": os.getcwd(), "stdin_eof": stdin_eof, "t0": t0,
       "t1": time.time(), "pid": os.getpid(), "pgid": os.getpgid(0),
       "env": {{k: v for k, v in os.environ.items()
               if k.startswith(("FLOWER", "GIT_")) or k in ("PROFILE_VAR", "HOME")}}}}
out = os.path.join(os.environ["REC_DIR"], os.environ.get("FLOWER_BRIEF", "none") + ".json")
with open(out + ".tmp", "w") as f:
    json.dump(rec, f)
os.replace(out + ".tmp", out)
sys.exit(int(os.environ.get("FAKE_EXIT") or 0))
"""


def add_agent(repo: Path, name: str, command: list[str], *, env: dict[str, str] | None = None,
              trust: bool = True, extra: str = "") -> None:
    cfg = repo / ".flower.toml"
    text = cfg.read_text() + f"\n[agents.{name}]\ncommand = {json.dumps(command)}\n"
    if env:
        text += "env = {" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in env.items()) + "}\n"
    cfg.write_text(text + extra)
    git(repo, "add", ".flower.toml")
    git(repo, "commit", "-qm", f"agent {name}")
    if trust:
        r = flower(repo, "trust")
        assert r.returncode == 0, r.stderr


def set_cap(repo: Path, cap: int) -> None:
    cfg = repo / ".flower.toml"
    text = cfg.read_text()
    import re

    text = re.sub(r"(?m)^max_parallel = \d+.*$", f"max_parallel = {cap}", text)
    cfg.write_text(text)
    git(repo, "commit", "-qam", f"cap {cap}")
    assert flower(repo, "trust").returncode == 0


@pytest.fixture
def recorder(tmp_path: Path, repo: Path, rec_dir: Path) -> Path:
    exe = write_exe(tmp_path / "bin" / "recorder", RECORDER)
    add_agent(repo, "rec", [str(exe), "{bootstrap}"])
    return exe


def new_brief(repo: Path, title: str, *, body: bytes | None = None, run: Any = None) -> int:
    args = ["brief", "new", "--json"]
    kw: dict[str, Any] = {}
    if body is not None:
        args += ["--body-file", "-"]
        kw["input"] = body
    r = flower(repo, *args, "--", title, **kw)
    assert r.returncode == 0, r.stderr
    bid = int(json.loads(r.stdout)["data"]["id"])
    if run is not None:
        r = flower(repo, "brief", "set", str(bid), "run=" + json.dumps(run))
        assert r.returncode == 0, r.stderr
    return bid


def dispatch(repo: Path, bid: int, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    r = flower(repo, "dispatch", str(bid), *args, "--json", env=env)
    assert r.returncode == 0, f"dispatch {bid} exited {r.returncode}: {r.stderr}"
    return json.loads(r.stdout)["data"]  # type: ignore[no-any-return]


def wait_all(repo: Path, *ids: int | str, timeout: float = 60) -> list[dict[str, Any]]:
    r = flower(repo, "wait", *map(str, ids), "--timeout", str(timeout), "--json",
               timeout=timeout + 30)
    assert r.returncode == 0, f"wait exited {r.returncode}: {r.stderr}"
    return json.loads(r.stdout)["data"]  # type: ignore[no-any-return]


def record(repo: Path, did: str) -> dict[str, Any]:
    b, a = did.split(".")
    out = git(repo, "cat-file", "blob", f"refs/flower/dispatch/{b}/{a}:record.json").stdout
    return json.loads(out)  # type: ignore[no-any-return]


def read_rec(rec_dir: Path, bid: int) -> dict[str, Any]:
    return json.loads((rec_dir / f"{bid}.json").read_text())  # type: ignore[no-any-return]


HOSTILE = [
    "$(touch PWNED)", "`touch PWNED`", "a; touch PWNED", "a && touch PWNED", '"; touch PWNED; "',
    "'", "\\", "line one\nline two", "--dangerously-skip-permissions", "-c evil=1",
    "{title}{body}", "{0.__class__}", "%s", "${IFS}", "{bootstrap}", "emoji 🌸 and RTL \u202egnp.exe",
]


# -- argv and packet ----------------------------------------------------------------------
@pytest.mark.slow
def test_hostile_titles_reach_the_agent_as_data(repo: Path, recorder: Path, rec_dir: Path,
                                                tmp_path: Path) -> None:
    ids = [new_brief(repo, t) for t in HOSTILE]
    set_cap(repo, 20)
    for bid in ids:
        dispatch(repo, bid, "--agent", "rec")
    wait_all(repo, *ids)
    for bid, title in zip(ids, HOSTILE):
        got = read_rec(rec_dir, bid)
        assert len(got["argv"]) == 1 and got["argv"][0].startswith("Read ")
        assert title not in got["argv"][0]
        packet = Path(got["env"]["FLOWER_PACKET"]).read_text(encoding="utf-8")
        assert f"\n{title}\n" in packet  # byte-exact, on its own lines inside the fence
        assert got["stdin_eof"] is True
    home = Path(os.environ["HOME"])
    for where in (tmp_path, home, repo):
        assert not list(where.rglob("PWNED*"))


def test_two_mib_body_goes_in_the_packet_not_argv(repo: Path, recorder: Path, rec_dir: Path) -> None:
    body = b"B" * (2 * 1024 * 1024)
    bid = new_brief(repo, "big one", body=body)
    dispatch(repo, bid, "--agent", "rec")
    wait_all(repo, bid)
    got = read_rec(rec_dir, bid)
    assert sum(len(a.encode()) + 1 for a in got["argv"]) < 1024
    assert body.decode() in Path(got["env"]["FLOWER_PACKET"]).read_text()


@pytest.mark.slow
def test_placeholders_fill_whole_elements_only(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "recorder", RECORDER)
    add_agent(repo, "all", [str(exe), "--packet", "{packet}", "{brief}", "{worktree}", "{bootstrap}"])
    bid = new_brief(repo, "{packet} {brief}")
    d = dispatch(repo, bid, "--agent", "all")
    wait_all(repo, bid)
    got = read_rec(rec_dir, bid)
    assert got["argv"] == ["--packet", d["packet"], str(bid), d["worktree"],
                           f"Read {d['packet']} and follow it."]
    # a placeholder inside an element, or an unknown one, is refused before anything happens
    for bad in (["x", "--prompt={bootstrap}"], ["x", "{title}"]):
        add_agent(repo, "bad", bad)
        b2 = new_brief(repo, "bad")
        r = flower(repo, "dispatch", str(b2), "--agent", "bad")
        assert r.returncode == 2, r.stderr
        assert git(repo, "for-each-ref", f"refs/flower/dispatch/{b2}/").stdout == ""
        cfg = (repo / ".flower.toml").read_text()
        (repo / ".flower.toml").write_text(cfg[:cfg.index("[agents.bad]")])
        git(repo, "commit", "-qam", "drop bad")


def test_agent_environment_is_scrubbed(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "recorder", RECORDER)
    add_agent(repo, "rec", [str(exe), "{bootstrap}"], env={"PROFILE_VAR": "from profile"})
    bid = new_brief(repo, "env")
    env = {"GIT_LITERAL_PATHSPECS": "1", "GIT_CONFIG_PARAMETERS": "'core.editor'='evil'",
           "FLOWER_DISPATCH": "999.9", "FLOWER_PACKET": "/etc/passwd", "FLOWER_DAEMON": "d7"}
    d = dispatch(repo, bid, "--agent", "rec", env=env)
    wait_all(repo, bid)
    got = read_rec(rec_dir, bid)["env"]
    assert got["FLOWER_DISPATCH"] == d["id"] == f"{bid}.1"
    assert got["FLOWER_BRIEF"] == str(bid)
    assert got["FLOWER_PACKET"] == d["packet"] and got["FLOWER_WORKTREE"] == d["worktree"]
    assert got["FLOWER_DAEMON"] == "d7"
    assert got["PROFILE_VAR"] == "from profile"
    for leaked in ("GIT_LITERAL_PATHSPECS", "GIT_CONFIG_PARAMETERS", "GIT_DIR", "GIT_INDEX_FILE",
                   "FLOWER", "FLOWER_FAILPOINTS"):
        assert leaked not in got


# -- trust and config ---------------------------------------------------------------------
def test_untrusted_agent_command_is_refused(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "recorder", RECORDER)
    add_agent(repo, "rec", [str(exe), "{bootstrap}"], trust=False)
    bid = new_brief(repo, "trust me")
    r = flower(repo, "dispatch", str(bid), "--agent", "rec")
    assert r.returncode == 2 and "untrusted config" in r.stderr and "git flower trust" in r.stderr
    assert git(repo, "for-each-ref", "refs/flower/dispatch/").stdout == ""
    assert git(repo, "worktree", "list").stdout.count("\n") == 1
    assert flower(repo, "trust").returncode == 0
    dispatch(repo, bid, "--agent", "rec")
    wait_all(repo, bid)
    # one changed byte needs trusting again
    with open(repo / ".flower.toml", "a") as f:
        f.write("# changed\n")
    b2 = new_brief(repo, "again")
    r = flower(repo, "dispatch", str(b2), "--agent", "rec")
    assert r.returncode == 2 and "changed since you trusted it" in r.stderr


def test_config_comes_from_the_main_checkout_not_the_worker(repo: Path, tmp_path: Path,
                                                            rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "recorder", RECORDER)
    add_agent(repo, "rec", [str(exe), "{bootstrap}"])
    bid = new_brief(repo, "first")
    d = dispatch(repo, bid, "--agent", "rec")
    wait_all(repo, bid)
    wt = Path(d["worktree"])
    # the worker rewrites its own copy of the config to run something else
    cfg = (wt / ".flower.toml").read_text().replace(str(exe), "/bin/touch")
    (wt / ".flower.toml").write_text(cfg.replace("{bootstrap}", str(tmp_path / "PWNED")))
    git(wt, "commit", "-qam", "sneaky")
    b2 = new_brief(repo, "second")
    r = flower(wt, "dispatch", str(b2), "--agent", "rec", "--json")  # run from inside the worker
    assert r.returncode == 0, r.stderr
    wait_all(repo, b2)
    assert (rec_dir / f"{b2}.json").exists()
    assert not (tmp_path / "PWNED").exists()


# -- claim, cap, queue --------------------------------------------------------------------
def test_second_live_dispatch_of_a_brief_is_refused(repo: Path, recorder: Path,
                                                    rec_dir: Path) -> None:
    bid = new_brief(repo, "once")
    dispatch(repo, bid, "--agent", "rec", env={"FAKE_SLEEP": "30"})
    r = flower(repo, "dispatch", str(bid), "--agent", "rec")
    assert r.returncode == 4 and "live dispatch" in r.stderr
    assert flower(repo, "stop", str(bid)).returncode == 0
    assert git(repo, "for-each-ref", f"refs/flower/dispatch/{bid}/").stdout.count("\n") == 1


@pytest.mark.slow
def test_cap_two_five_dispatches_run_fifo_and_never_more_than_two(repo: Path, recorder: Path,
                                                                 rec_dir: Path) -> None:
    set_cap(repo, 2)
    ids = [new_brief(repo, f"cap {i}") for i in range(5)]
    outs = [dispatch(repo, bid, "--agent", "rec", env={"FAKE_SLEEP": "3"}) for bid in ids]
    assert [o["state"] for o in outs[:2]] == ["running", "running"]
    assert all(o["state"] == "queued" for o in outs[2:])
    done = wait_all(repo, *ids, timeout=90)
    assert all(d["state"] == "exited" and d["exit_code"] == 0 for d in done)
    spans = [(read_rec(rec_dir, b)["t0"], read_rec(rec_dir, b)["t1"]) for b in ids]
    peak = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert peak <= 2
    starts = [s for s, _ in spans]
    # the queue starts in order; each t0 is taken after the agent's own start-up, so two queued
    # agents started in the same instant (both slots freed together) may swap by a few ms at load
    assert all(b >= a - 0.5 for a, b in zip(starts[2:], starts[3:])), starts
    assert min(starts[2:]) >= min(e for _, e in spans[:2]) - 0.05


def test_dispatcher_exits_agents_run_on_and_are_recorded(repo: Path, recorder: Path,
                                                        rec_dir: Path) -> None:
    bid = new_brief(repo, "outlive")
    t = time.time()
    dispatch(repo, bid, "--agent", "rec", env={"FAKE_SLEEP": "2", "FAKE_EXIT": "3",
                                               "FAKE_COMMIT": "1"})
    assert not (rec_dir / f"{bid}.json").exists()  # the dispatcher returned before the agent
    got = wait_all(repo, bid)
    assert got == [{"id": f"{bid}.1", "state": "exited", "outcome": "failed", "exit_code": 3,
                    "signal": None}]
    rec = record(repo, f"{bid}.1")
    assert rec["exit_code"] == 3 and rec["ended_at"] and rec["started_at"]
    assert rec["proc"]["pid"] == rec["pid"] and rec["proc"]["boot_id"]
    assert read_rec(rec_dir, bid)["t0"] >= t
    # a failure leaves the brief dispatched for rework
    assert flower_json(repo, "brief", "show", str(bid))["status"] == "dispatched"  # type: ignore[index]
    # a dispatch_done signal was emitted
    sigs = git(repo, "for-each-ref", "--format=%(refname)", "refs/flower/signals/").stdout.split()
    kinds = [json.loads(git(repo, "cat-file", "blob", f"{s}:record.json").stdout) for s in sigs]
    assert any(k["kind"] == "dispatch_done" and k["data"]["dispatch"] == f"{bid}.1"
               and k["data"]["exit_code"] == 3 for k in kinds)


# -- the script agent ---------------------------------------------------------------------
def test_script_agent_runs_steps_and_commits(repo: Path) -> None:
    (repo / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\ntouch \"$HOME/PWNED-hook\"\n")
    (repo / ".git" / "hooks" / "pre-commit").chmod(0o755)
    bid = new_brief(repo, "generate", run=[["sh", "-c", "echo generated > gen.txt"],
                                           ["python3", "-c", "open('b.txt','w').write('b')"]])
    d = dispatch(repo, bid)
    assert d["agent"] == "script"
    got = wait_all(repo, bid)
    assert got[0]["exit_code"] == 0
    wt = Path(d["worktree"])
    assert (wt / "gen.txt").read_text() == "generated\n"
    log = git(repo, "log", "--format=%s", "-1", d["branch"]).stdout.strip()
    assert log == f"brief {bid}: generate"
    assert git(wt, "status", "--porcelain").stdout == ""
    assert flower_json(repo, "brief", "show", str(bid))["status"] == "done"  # type: ignore[index]
    assert not list(Path(os.environ["HOME"]).glob("PWNED*"))  # hooks did not run (S5)


def test_script_agent_failing_step_commits_nothing(repo: Path) -> None:
    bid = new_brief(repo, "fails", run=[["sh", "-c", "echo x > half.txt"], ["false"]])
    d = dispatch(repo, bid)
    got = wait_all(repo, bid)
    assert got[0]["exit_code"] == 1
    assert git(repo, "rev-parse", d["branch"]).stdout == git(repo, "rev-parse", "main").stdout
    assert flower_json(repo, "brief", "show", str(bid))["status"] == "dispatched"  # type: ignore[index]
    log = flower(repo, "logs", str(bid)).stdout
    assert "step 2 failed" in log and "exited with 1" in log


# -- branches and worktrees ---------------------------------------------------------------
@pytest.mark.slow
def test_rework_reuses_the_branch_and_reports_drift(repo: Path) -> None:
    bid = new_brief(repo, "rework me", run=[["sh", "-c", "date +%N >> work.txt"]])
    d1 = dispatch(repo, bid)
    wait_all(repo, bid)
    (repo / "other.txt").write_text("moved on\n")
    git(repo, "add", "other.txt")
    git(repo, "commit", "-qm", "target moves")
    r = flower(repo, "dispatch", str(bid), "--base", "main")
    assert r.returncode == 2 and "--base" in r.stderr
    d2 = dispatch(repo, bid, "--rework")
    assert d2["id"] == f"{bid}.2" and d2["branch"] == d1["branch"]
    assert d2["worktree"] == d1["worktree"] and d2["rework"] is True
    assert d2["drift"]["ahead"] == 1 and d2["drift"]["behind"] == 1
    packet = Path(d2["packet"]).read_text()
    assert "## Rework" in packet and "moved 1 commit(s)" in packet
    wait_all(repo, bid)
    assert git(repo, "rev-list", "--count", f"main..{d1['branch']}").stdout.strip() == "2"
    b2 = new_brief(repo, "fresh")
    r = flower(repo, "dispatch", str(b2), "--rework")
    assert r.returncode == 3 and "no branch to rework" in r.stderr


def test_branch_checked_out_elsewhere_is_named(repo: Path, tmp_path: Path) -> None:
    bid = new_brief(repo, "busy branch", run=[["true"]])
    d = dispatch(repo, bid)
    wait_all(repo, bid)
    git(Path(d["worktree"]), "switch", "-q", "--detach")
    mine = tmp_path / "mine"
    git(repo, "worktree", "add", "-q", str(mine), d["branch"])
    r = flower(repo, "dispatch", str(bid))
    assert r.returncode == 4 and str(mine) in r.stderr
    assert git(repo, "worktree", "list").stdout.count(str(mine)) == 1


def test_worktree_root_is_configurable_and_base_is_honoured(repo: Path, tmp_path: Path) -> None:
    cfg = (repo / ".flower.toml").read_text().replace('worktrees = "../{repo}.flower"',
                                                        f'worktrees = "{tmp_path}/trees/{{repo}}"')
    (repo / ".flower.toml").write_text(cfg)
    git(repo, "commit", "-qam", "root")
    first = git(repo, "rev-parse", "HEAD").stdout.strip()
    (repo / "x.txt").write_text("x")
    git(repo, "add", "x.txt")
    git(repo, "commit", "-qm", "x")
    bid = new_brief(repo, "Ünïcode: Title / with *stuff*", run=[["true"]])
    d = dispatch(repo, bid, "--base", first)
    assert d["worktree"] == str(tmp_path / "trees" / "repo" / f"{bid}-unicode-title-with-stuff")
    assert d["branch"] == f"flower/{bid}-unicode-title-with-stuff" and d["base"] == first
    assert "locked" in git(repo, "worktree", "list", "--porcelain").stdout
    wait_all(repo, bid)
    r = flower(repo, "dispatch", str(new_brief(repo, "bad base")), "--base", "--output=/tmp/x")
    assert r.returncode in (2, 3)


def test_bad_ids_and_unknown_agents_are_refused_before_any_write(repo: Path) -> None:
    before = git(repo, "for-each-ref").stdout
    for bad in ("0", "١٢", "-1", "1e3", "12;id"):
        r = flower(repo, "dispatch", bad)
        assert r.returncode == 2, (bad, r.stderr)
    assert flower(repo, "dispatch", "999").returncode == 3
    bid = new_brief(repo, "x")
    mid = git(repo, "for-each-ref").stdout
    r = flower(repo, "dispatch", str(bid), "--agent", "nope")
    assert r.returncode == 2 and "no agent profile" in r.stderr
    assert git(repo, "for-each-ref").stdout == mid != before


def test_dispatch_from_a_subdirectory_and_json_shape(repo: Path) -> None:
    (repo / "sub").mkdir()
    bid = new_brief(repo, "from sub", run=[["true"]])
    r = subprocess.run([sys.executable, "-m", "flowergit", "dispatch", str(bid), "--json"],
                       cwd=repo / "sub", capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)["data"]
    for key in ("id", "brief", "attempt", "state", "agent", "branch", "worktree", "base",
                "target", "log", "packet", "queued_at", "argv", "queue", "cap"):
        assert key in d
    wait_all(repo, bid)


@pytest.mark.slow
def test_profile_timeout_kills_the_agent_and_is_recorded(repo: Path, tmp_path: Path,
                                                         rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "recorder", RECORDER)
    add_agent(repo, "slow", [str(exe)], extra="timeout = 1\n")
    bid = new_brief(repo, "too slow")
    dispatch(repo, bid, "--agent", "slow", env={"FAKE_SLEEP": "60"})
    got = wait_all(repo, bid, timeout=60)
    assert got[0]["state"] == "exited" and got[0]["exit_code"] == 128 + 15
    rec = record(repo, f"{bid}.1")
    assert rec["timed_out"] is True and "timed out" in rec["error"]
    assert not (rec_dir / f"{bid}.json").exists()


def test_script_agent_refuses_to_commit_outside_a_worktree_top(repo: Path) -> None:
    bid = new_brief(repo, "wrong dir", run=[["true"]])
    (repo / "sub").mkdir()
    before = git(repo, "rev-parse", "HEAD").stdout
    r = subprocess.run([sys.executable, "-m", "flowergit.ops.script_agent", str(bid),
                        str(repo / "sub")], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and "not the top of a git worktree" in r.stderr
    assert git(repo, "rev-parse", "HEAD").stdout == before


def test_packet_and_argv_rendering_round_trip() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from flowergit.ops.dispatch import fill, render_packet
    from flowergit.procs.agents import PLACEHOLDERS, render_argv
    from flowergit.state.brief import Brief

    @settings(max_examples=150, deadline=None)
    @given(st.text(min_size=1), st.text())
    def check(title: str, body: str) -> None:
        b = Brief(id=7, title=title, body=body)
        text = render_packet(brief=b, did="7.1", branch="flower/7-x", worktree="/w",
                             target="main", base="0" * 40, agent="a", rework=None)
        assert f"\n{title}\n" in text and f"\n{body}\n" in text
        argv = render_argv(["prog", *PLACEHOLDERS, title],
                           {"{bootstrap}": "Read /p and follow it.", "{packet}": "/p",
                            "{brief}": "7", "{worktree}": "/w"})
        # an element of the command that *is* a placeholder is one, whatever else it could be
        want = {"{bootstrap}": "Read /p and follow it.", "{packet}": "/p", "{brief}": "7",
                "{worktree}": "/w"}.get(title, title)
        assert argv == ["prog", "Read /p and follow it.", "/p", "7", "/w", want]
        assert fill("{{title}}|{{body}}", {"title": title, "body": body}) == f"{title}|{body}"

    check()


def test_a_failed_checkout_frees_its_slot_and_starts_nothing(repo: Path, recorder: Path,
                                                             rec_dir: Path) -> None:
    set_cap(repo, 1)
    bid = new_brief(repo, "blocked path")
    root = repo.parent / f"{repo.name}.flower"
    root.mkdir(exist_ok=True)
    (root / f"{bid}-blocked-path").write_text("a file where the worktree should go\n")
    r = flower(repo, "dispatch", str(bid), "--agent", "rec")
    assert r.returncode == 4 and "cannot create the worktree" in r.stderr
    rec = record(repo, f"{bid}.1")
    assert rec["state"] == "failed" and "already exists" in rec["error"]
    assert flower_json(repo, "brief", "show", str(bid))["status"] == "draft"  # type: ignore[index]
    other = new_brief(repo, "next in line")
    assert dispatch(repo, other, "--agent", "rec")["state"] == "running"  # the slot is free
    wait_all(repo, other)
    assert not (rec_dir / f"{bid}.json").exists()
    assert record(repo, f"{bid}.1")["state"] == "failed"


def _branches(repo: Path, bid: int) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname)", f"refs/heads/flower/{bid}-*").stdout
    return out.split()


@pytest.mark.slow
def test_a_claim_lost_while_the_worktree_is_made_leaves_neither_behind(repo: Path) -> None:
    """The checkout starts before the claim; if another machine's claim of the same attempt
    arrives first (here: made by hand while the dispatcher waits), exit 4, and the new worktree
    and branch are removed again: nothing half-done, the brief untouched."""
    from flowergit.gitio.repo import discover
    from flowergit.state.dispatches import DispatchStore

    bid = new_brief(repo, "raced", run=[["true"]])
    env = {**os.environ, "FLOWER_TESTING": "1", "FLOWER_FAILPOINTS": "dispatch_before_claim=sleep(3)"}
    p = subprocess.Popen([sys.executable, "-m", "flowergit", "dispatch", str(bid), "--json"],
                         cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not _branches(repo, bid):  # the checkout has begun
            assert p.poll() is None and time.monotonic() < deadline, "no worktree add seen"
            time.sleep(0.02)
        DispatchStore(discover(str(repo))).claim(bid, 1, {
            "state": "running", "agent": "script", "branch": f"flower/{bid}-elsewhere",
            "worktree": "/elsewhere", "supervisor": {"host": "another-machine", "pid": 1}})
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 4, err
    assert json.loads(out)["error"]["code"] == "conflict"
    assert "just claimed by another process" in err.decode()
    assert _branches(repo, bid) == []
    assert not (repo.parent / f"{repo.name}.flower" / f"{bid}-raced").exists()
    assert str(bid) + "-raced" not in git(repo, "worktree", "list").stdout
    assert flower_json(repo, "brief", "show", str(bid))["status"] == "draft"  # type: ignore[index]


def test_a_failure_before_the_claim_removes_the_new_worktree(repo: Path) -> None:
    bid = new_brief(repo, "refused late", run=[["true"]])
    r = flower(repo, "dispatch", str(bid),
               env={"FLOWER_TESTING": "1", "FLOWER_FAILPOINTS": "dispatch_before_claim=error"})
    assert r.returncode == 1 and "failpoint dispatch_before_claim" in r.stderr
    assert git(repo, "for-each-ref", "refs/flower/dispatch/").stdout == ""
    assert _branches(repo, bid) == []
    assert not (repo.parent / f"{repo.name}.flower" / f"{bid}-refused-late").exists()
    d = dispatch(repo, bid)  # and nothing stands in the way of the next attempt
    assert d["id"] == f"{bid}.1" and d["rework"] is False
    assert wait_all(repo, bid)[0]["exit_code"] == 0


def test_script_agent_without_steps_fails_clearly(repo: Path) -> None:
    bid = new_brief(repo, "no steps")
    dispatch(repo, bid)
    assert wait_all(repo, bid)[0]["exit_code"] == 2
    log = flower(repo, "logs", str(bid)).stdout
    assert "has no run steps" in log and "brief set" in log


# -- cost: counted, never timed ------------------------------------------------------------
def test_one_dispatch_starts_eight_git_processes(repo: Path, tmp_path: Path) -> None:
    """Read at once: the brief with the trees on its path (marking it dispatched reads nothing
    again), every dispatch ref with the target and the branches (one for-each-ref, which the cap
    check reuses), the identity; every object of both writes in one unpack-objects; the claim,
    then the "running" record together with the brief's status (one update-ref each); no
    `worktree list`, no second listing, no read-back. Counted with a `git` shim on PATH that logs its parent pid: only the
    dispatcher's own processes count (its supervisor runs git too)."""
    import shutil

    real = shutil.which("git")
    log = tmp_path / "git-calls.txt"
    shim = write_exe(tmp_path / "shim" / "git", f'#!/bin/sh\necho "$PPID $*" >> "{log}"\n'
                                                 f'exec "{real}" "$@"\n')
    env = {"PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}
    bid = new_brief(repo, "counted")
    assert flower(repo, "brief", "list", env=env).returncode == 0  # the shim's version cached
    log.unlink()
    r = flower(repo, "dispatch", str(bid), "--agent", "script", "--json", env=env)
    assert r.returncode == 0, r.stderr
    me = str(json.loads(r.stdout)["data"]["by_proc"]["pid"])
    calls = [re.sub(r"^((-c|--git-dir) \S+ )+", "", ln.split(" ", 1)[1])
             for ln in log.read_text().splitlines() if ln.split(" ", 1)[0] == me]
    verbs = sorted(c.split(" ", 1)[0] for c in calls)
    # 16 before: the brief read twice, the refs listed twice, the briefs tip resolved again,
    # three separate writes
    assert verbs == ["cat-file", "for-each-ref", "rev-parse", "unpack-objects", "update-ref",
                     "update-ref", "var", "worktree"], calls
    assert calls[0].startswith("rev-parse"), calls  # discovery, and only discovery
    assert any(c.startswith("worktree add") for c in calls), calls
    assert any(c.startswith("cat-file --batch") for c in calls), calls
    got = flower_json(repo, "brief", "show", str(bid))
    assert got["status"] == "dispatched"  # type: ignore[index]
    wait_all(repo, bid)
    # what is loaded when the worktree add starts: only what decides it (not re, json's Python
    # modules, enum, contextlib, collections or datetime.py: each costs a git process or more)
    code = ("import sys\nfrom flowergit.main import main\nat_add = []\n"
            "def hook(event, args):\n"
            "    if event == 'os.posix_spawn' and 'worktree' in list(args[1]) and not at_add:\n"
            "        at_add.append(sorted(m for m in ('re', 'json', 'enum', 'contextlib', "
            "'collections', 'datetime', 'subprocess', 'threading') if m in sys.modules))\n"
            "sys.addaudithook(hook)\n"
            f"rc = main(['dispatch', '{new_brief(repo, 'imports')}', '--agent', 'script', '--json'])\n"
            "print('LOADED', sorted(m for m in ('psutil', 'tomlkit', 'flowergit.ops.merge.recover', "
            "'flowergit.procs.supervisor', 'flowergit.ops.dispatch.supervise', 'argparse', 'typer', 'rich', "
            "'socket', 'flowergit.state.journal', 'difflib', 'subprocess', 're') "
            "if m in sys.modules))\nprint('AT ADD', at_add)\nsys.exit(rc)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert "LOADED []" in out.stdout  # the dispatching process loads none of them
    assert "AT ADD [[]]" in out.stdout, out.stdout


BRIEFS = [
    (b'+++\nv = 1\nid = 3\ntitle = "x"\nkind = "brief"\nstatus = "planned"\n'
     b'created = 2026-01-01T00:00:00Z\n+++\nbody\n'),
    b'+++\nv = 1\nstatus = "draft" # kept\n+++\nno newline',
    b'+++\nv = 1\nstatus="draft"\n[run]\nstatus = "x"\n+++\nb\n',
    b'+++\r\nv = 1\r\nstatus = "draft"\r\n+++\r\nb\r\n',
    b'+++\nv = 1\nstatus = "draft"\n+++',
    b'+++\nv = 1\nnote = """\nstatus = "q"\n"""\n+++\nx\n',
    b'+++\nv = 1\nstatus = "draft"\nnote = """\nstatus = "q"\n"""\n+++\nx\n',
    b'+++\nv = 1\nstatus = "planned"\n[run]\nx = 1\n+++\n\n\xe9\xa3\xa8 body\n',
]


@pytest.mark.parametrize("raw", BRIEFS)
def test_the_status_line_rewrite_is_byte_for_byte_the_toml_editors(raw: bytes) -> None:
    from flowergit.state.brief import with_status
    from flowergit.state import brief as codec

    assert with_status(raw, "dispatched") == codec.rewrite(raw, {"status": "dispatched"})
