"""`git flower run --agent`: the orchestrating agent, driven (turns on news only, context watch,
succession, takeover after a crash), with a scripted agent that runs real `git flower` commands
and prints Claude Code's stream-json (tests/fixtures/agents/orchestrator.py). The real Claude
Code CLI against the scripted model server is in test_real_agents.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, flower, flower_json, git, sigkill_tree, until, write_exe

AGENT = ROOT / "tests" / "fixtures" / "agents" / "orchestrator.py"
WORKER = "#!/bin/sh\nset -e\necho w >\"w-$FLOWER_BRIEF.txt\"\ngit add -A\ngit commit -qm \"work $FLOWER_BRIEF\"\n"


def configure(repo: Path, tmp: Path, extra: str = "") -> None:
    worker = write_exe(tmp / "bin" / "worker", WORKER)
    py = sys.executable
    cfg = (repo / ".flower.toml").read_text()
    import re

    cfg = re.sub(r"(?ms)^\[suite\].*?(?=^\[|\Z)", "", cfg)
    cfg += ('\n[suite]\ncommand = ["true"]\n'
            f'\n[agents.fake]\ncommand = ["{py}", "{AGENT}", "{{bootstrap}}"]\n'
            f'resume = ["{py}", "{AGENT}", "--resume", "{{session}}", "{{bootstrap}}"]\n'
            'transcript = "claude"\n'
            f'\n[agents.worker]\ncommand = ["{worker}", "{{bootstrap}}"]\n'
            "\n[baton]\nlease = 5\n" + extra)
    (repo / ".flower.toml").write_text(cfg)
    git(repo, "add", ".flower.toml")
    git(repo, "commit", "-qm", "flower config")
    assert flower(repo, "trust").returncode == 0


def turns(rec: Path) -> list[dict[str, Any]]:
    path = rec / "turns.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def start(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "flowergit", "run", "--agent", "fake", *args],
                            cwd=repo, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)


def new_auto(repo: Path, title: str) -> int:
    got = flower_json(repo, "brief", "new", title, "--auto", "--agent", "worker")
    n = int(got["id"])  # type: ignore[index]
    assert flower(repo, "brief", "plan", str(n)).returncode == 0
    return n


def stop(p: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[str, str]:
    if p.poll() is None:
        p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    return out, err


@pytest.mark.slow  # several seconds of real turns and ticks
def test_idle_ticks_start_no_turn_and_work_arriving_starts_one(repo: Path, tmp_path: Path,
                                                               rec_dir: Path) -> None:
    configure(repo, tmp_path)
    r = flower(repo, "run", "--agent", "fake", "--interval", "0.01", "--ticks", "100", "--json",
               timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)["data"]
    assert got["ticks"] == 100 and got["turns"] == 1 and got["released"] is True
    seen = turns(rec_dir)
    assert len(seen) == 1  # the first turn, with the charter; a hundred idle ticks: none
    assert "Charter: orchestrator of lane main" in seen[0]["text"]
    assert seen[0]["argv_bytes"] < 1024 and seen[0]["session"] is None
    # the run retired the daemon it checked in and released the baton
    ds = flower_json(repo, "daemon", "list", "--all")
    assert [d["state"] for d in ds] == ["retired"]  # type: ignore[union-attr,index]

    p = start(repo, "--interval", "0.1")
    try:
        until(lambda: len(turns(rec_dir)) == 2)
        ids = [new_auto(repo, f"work {k}") for k in (1, 2, 3)]
        # each finished worker is news; the agent merges what it is told about
        until(lambda: all(git(repo, "cat-file", "-e", f"main:w-{n}.txt", check=False).returncode == 0
                          for n in ids), timeout=60)
    finally:
        out, err = stop(p)
    assert p.returncode == 0, err
    later = turns(rec_dir)[1:]
    assert later[0]["session"] is None  # a new run: a new session
    resumed = later[1:]
    assert resumed and all(t["argv"][1] == "--resume" for t in resumed)
    assert len({t["session"] for t in resumed}) == 1  # the same session, turn after turn
    told = "\n".join(t["text"] for t in later)
    for n in ids:
        assert f"worker {n}.1 finished: done" in told
        assert told.count(f"worker {n}.1 finished") == 1  # told once
    # resumed turns carry the news only, not the charter again
    assert all("Charter:" not in t["text"] for t in resumed)
    # every auto_dispatch signal was consumed exactly once
    sigs = flower_json(repo, "signal", "list")
    auto = [s for s in sigs if s["kind"] == "auto_dispatch"]  # type: ignore[union-attr,index]
    assert len(auto) == 3 and all(s["state"] == "completed" for s in auto)
    ps = flower_json(repo, "ps", "--all")
    assert sorted(d["id"] for d in ps) == [f"{n}.1" for n in ids]  # type: ignore[union-attr,index]


@pytest.mark.slow  # several seconds of real turns and ticks
def test_a_full_context_hands_the_lane_to_a_successor(repo: Path, tmp_path: Path,
                                                      rec_dir: Path) -> None:
    # 1,000 tokens a turn in a window of 10,000: the fourth turn crosses 35 %
    configure(repo, tmp_path, "\n[orchestrator]\nwindow = 10000\nreset_at = 0.35\n")
    p = start(repo, "--interval", "0.1")
    try:
        until(lambda: turns(rec_dir))
        for k in (1, 2, 3):
            new_auto(repo, f"work {k}")
            until(lambda: git(repo, "cat-file", "-e", f"main:w-{k}.txt", check=False).returncode == 0,
                  timeout=60)
        until(lambda: any(t["head"].startswith("# git flower: you succeed") for t in turns(rec_dir)),
              timeout=60)
        until(lambda: flower_json(repo, "baton", "show")["holder"] == "2")  # type: ignore[index]
        n4 = new_auto(repo, "after the succession")
        until(lambda: git(repo, "cat-file", "-e", f"main:w-{n4}.txt", check=False).returncode == 0,
              timeout=60)
    finally:
        out, err = stop(p)
    assert p.returncode == 0, err
    seen = turns(rec_dir)
    heads = [t["head"] for t in seen]
    notes = [i for i, h in enumerate(heads) if h.startswith("# git flower: hand-off notes")]
    succ = [i for i, h in enumerate(heads) if h.startswith("# git flower: you succeed")]
    assert len(notes) == 1 and len(succ) == 1 and notes[0] + 1 == succ[0], heads
    assert all(seen[i]["daemon"] == "1" for i in range(succ[0]))
    assert all(t["daemon"] == "2" for t in seen[succ[0]:])
    # the successor: a fresh session, its charter, the predecessor's notes; then resumed
    s = seen[succ[0]]
    assert s["session"] is None and "Charter: successor of daemon 1" in s["text"]
    assert "notes of daemon 1: all merged" in s["text"]
    assert all(t["session"] for t in seen[succ[0] + 1:])
    assert all(t["argv_bytes"] < 1024 for t in seen)
    # the baton's log is the succession: epoch 1 -> 2, handed over with the notes
    log = git(repo, "log", "--format=%s", "refs/flower/baton/main").stdout
    assert "epoch 2 held by daemon 2 (hand-off from daemon 1" in log
    assert "hand-off requested by daemon 1" in log and "daemon 2 ready to succeed daemon 1" in log
    shown = flower_json(repo, "handoff", "show")
    assert "notes of daemon 1: all merged" in shown["text"]  # type: ignore[index]
    ds = {d["id"]: d for d in flower_json(repo, "daemon", "list", "--all")}  # type: ignore[union-attr]
    assert ds["1"]["state"] == "retired" and ds["2"]["successor_of"] == "1"
    assert ds["1"]["context"]["fill"] >= 0.35
    # nothing lost, nothing done twice
    sigs = flower_json(repo, "signal", "list")
    assert all(s["state"] in ("completed", "moot") for s in sigs)  # type: ignore[union-attr,index]
    assert len([s for s in sigs if s["kind"] == "auto_dispatch"]) == 4  # type: ignore[union-attr,index]
    ps = flower_json(repo, "ps", "--all")
    assert len(ps) == 4  # type: ignore[arg-type]
    assert "1 succession(s)" in out


@pytest.mark.slow  # several seconds of real turns and ticks
def test_the_agent_asks_for_the_reset_itself_and_a_silent_successor_is_reported_for(
        repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    configure(repo, tmp_path)
    p = start(repo, "--interval", "0.1", env={"ORCH_RESET_ON": "1", "ORCH_NO_READY": "1"})
    try:
        until(lambda: flower_json(repo, "baton", "show")["holder"] == "2")  # type: ignore[index]
    finally:
        out, err = stop(p)
    assert p.returncode == 0, err
    heads = [t["head"] for t in turns(rec_dir)]
    assert not any(h.startswith("# git flower: hand-off notes") for h in heads)  # it wrote its own
    assert "its agent did not report ready; git flower did" in err
    assert "asked for a reset myself" in git(repo, "show", "flower/briefs:handoff/main.md").stdout


@pytest.mark.slow  # seconds of real processes
def test_a_message_signal_gets_one_turn(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    configure(repo, tmp_path)
    p = start(repo, "--interval", "0.05", env={"ORCH_MESSAGE": "1"})
    try:
        until(lambda: len(turns(rec_dir)) == 1)
        r = flower(repo, "signal", "emit", "message", "--data", "text=please look at brief 9")
        assert r.returncode == 0, r.stderr
        until(lambda: len(turns(rec_dir)) == 2)
        time.sleep(1.0)  # twenty more ticks: the message is not told twice
    finally:
        out, err = stop(p)
    seen = turns(rec_dir)
    assert len(seen) == 2, [t["head"] for t in seen]
    assert "(message): please look at brief 9" in seen[1]["text"]
    sigs = [s for s in flower_json(repo, "signal", "list")  # type: ignore[union-attr]
            if s["kind"] == "message"]
    assert sigs[0]["state"] == "completed"


@pytest.mark.slow  # several seconds of real turns and ticks
def test_a_killed_orchestrator_is_taken_over_with_what_was_in_flight(
        repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    configure(repo, tmp_path)
    (repo / "pad.md").write_text("scratchpad: brief 1 is the risky one\n")
    assert flower(repo, "handoff", "write", "-F", "pad.md").returncode == 0
    p = start(repo, "--interval", "0.1", env={"ORCH_SLEEP": "60"})
    try:
        until(lambda: len(turns(rec_dir)) == 1)
        n = new_auto(repo, "work while it dies")
        until(lambda: len(turns(rec_dir)) == 2, timeout=60)  # the turn that will hang
        agent = int(flower_json(repo, "daemon", "list")[0]["pid"])  # type: ignore[index]
        assert agent == p.pid
        sigkill_tree(p.pid)  # the driver, mid-turn, and its agent
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    q = start(repo, "--interval", "0.1")
    try:
        until(lambda: len(turns(rec_dir)) >= 3, timeout=60)
        until(lambda: git(repo, "cat-file", "-e", f"main:w-{n}.txt", check=False).returncode == 0,
              timeout=60)
    finally:
        out, err = stop(q)
    assert q.returncode == 0, err
    first = turns(rec_dir)[2]
    assert first["daemon"] == "2"
    assert "you took lane main over from orchestrator daemon 1, which is gone" in first["text"]
    assert "daemon 1 died during its turn 2" in first["text"]
    assert f"(in flight) worker {n}.1 finished: done" in first["text"]
    assert "scratchpad: brief 1 is the risky one" in first["text"]
    log = git(repo, "log", "--format=%s", "refs/flower/baton/main").stdout
    assert "epoch 2 held by daemon 2 (takeover from daemon 1" in log
    ds = {d["id"]: d for d in flower_json(repo, "daemon", "list", "--all")}  # type: ignore[union-attr]
    assert ds["1"]["state"] == "retired"


@pytest.mark.parametrize("args,code,words", [
    (["--agent", "nosuch"], 2, "no agent profile named 'nosuch'"),
    (["--agent", "script"], 2, "cannot orchestrate"),
    (["--agent", "fake", "--daemon", "1"], 2, "--daemon cannot be given"),
    (["--agent", "gone"], 2, "not found on PATH"),
    (["--agent", "fake", "--interval", "0"], 2, "--interval must be a positive"),
])
def test_bad_input_is_refused_before_any_write(repo: Path, tmp_path: Path, args: list[str],
                                                code: int, words: str) -> None:
    configure(repo, tmp_path, '\n[agents.gone]\ncommand = ["/no/such/agent", "{bootstrap}"]\n')
    before = git(repo, "for-each-ref", "refs/flower").stdout
    r = flower(repo, "run", *args, "--ticks", "1")
    assert r.returncode == code, r.stderr
    assert r.stderr.startswith("fatal: ") and words in r.stderr and "internal error" not in r.stderr
    assert git(repo, "for-each-ref", "refs/flower").stdout == before


@pytest.mark.slow  # seconds of real processes
def test_a_lane_held_by_a_live_orchestrator_is_refused(repo: Path, tmp_path: Path) -> None:
    configure(repo, tmp_path)
    holder = subprocess.Popen(["sleep", "300"])
    try:
        did = flower_json(repo, "daemon", "checkin", "--role", "orchestrator", "--pid",
                          str(holder.pid))["id"]  # type: ignore[index]
        assert flower(repo, "baton", "take", env={"FLOWER_DAEMON": str(did)}).returncode == 0
        r = flower(repo, "run", "--agent", "fake", "--ticks", "1")
        assert r.returncode == 4 and f"held by daemon {did}" in r.stderr, r.stderr
        assert r.stderr.startswith("fatal: ") and "release:" not in r.stderr, r.stderr
        ds = flower_json(repo, "daemon", "list")
        assert [d["id"] for d in ds] == [did]  # type: ignore[union-attr,index]
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("section,words", [
    ("[orchestrator]\nreset_at = 1.5\n", "reset_at"),
    ("[orchestrator]\nwindow = 10\n", "window"),
    ("[orchestrator]\nwindw = 10\n", "windw"),
    ('[agents.x]\ncommand = ["x", "{bootstrap}"]\nresume = ["x", "{bootstrap}"]\n', "{session}"),
])
def test_orchestrator_config_errors_name_the_key(repo: Path, section: str, words: str) -> None:
    with open(repo / ".flower.toml", "a") as f:
        f.write("\n" + section)
    r = flower(repo, "run", "--agent", "x", "--ticks", "1")
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert ".flower.toml" in r.stderr or "[agents.x]" in r.stderr


@pytest.mark.slow  # seconds of real processes
def test_status_shows_the_driven_orchestrator(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    configure(repo, tmp_path)
    p = start(repo, "--interval", "0.1")
    try:
        until(lambda: len(turns(rec_dir)) == 1)
        until(lambda: (flower_json(repo, "status").get("orchestrators") or [{}])[0]  # type: ignore[union-attr]
              .get("turns") == 1)
        got = flower_json(repo, "status")["orchestrators"][0]  # type: ignore[index]
        assert got["daemon"] == "1" and got["agent"] == "fake" and got["epoch"] == 1
        assert got["context_tokens"] == 1000 + 10 and got["running"] is True
        plain = flower(repo, "status").stdout
        assert "orchestrator: daemon 1 (fake), epoch 1" in plain and "context 1% of 200000 (hand-off at 60%)" in plain
    finally:
        stop(p)
    assert flower_json(repo, "status").get("orchestrators") == []  # type: ignore[union-attr]


@pytest.mark.slow  # several seconds of real turns and ticks
def test_docs_orchestrator_example_runs(tmp_path: Path) -> None:
    """docs/orchestrator.md, "Try it": its ```sh block as written, in a scratch directory."""
    import re

    text = (ROOT / "docs" / "orchestrator.md").read_text()
    blocks = re.findall(r"(?ms)^```sh\n(.*?)^```", text)
    assert len(blocks) == 1
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", blocks[0]], cwd=tmp_path,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr + (tmp_path / "run.log").read_text()
    turns_seen = (tmp_path / "turns.log").read_text().splitlines()
    repo = tmp_path / "demo-orchestrator"
    for n in (1, 2):
        assert git(repo, "cat-file", "-e", f"main:w-{n}.txt", check=False).returncode == 0, r.stdout
    # the first turn, and one per finished worker at most; on a busy machine both workers can
    # have finished before the first turn starts: its packet shows both, and it lands both
    assert 1 <= len(turns_seen) <= 3, (turns_seen, (tmp_path / "run.log").read_text())


@pytest.mark.slow  # four drivers at once, and a paused one (FAULTS.md 25, 28)
def test_four_drivers_at_once_one_holds_the_lane(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    configure(repo, tmp_path)
    procs = [start(repo, "--interval", "0.1", "--ticks", "30") for _ in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    for p in procs:
        p.communicate()
    codes = sorted(code for code, _ in results)
    assert codes.count(0) >= 1 and set(codes) <= {0, 4}, results
    losers = [err for code, err in results if code == 4]
    assert all("is held by daemon" in err and "internal error" not in err for err in losers)
    # the baton was held by one daemon at a time: its log has one take per winner, in order
    log = git(repo, "log", "--reverse", "--format=%s", "refs/flower/baton/main").stdout.splitlines()
    takes = [s for s in log if "(take)" in s]
    assert len(takes) == codes.count(0), log
    # every losing driver retired the daemon it checked in: none is left active
    ds = flower_json(repo, "daemon", "list")
    assert ds == []


@pytest.mark.slow
def test_a_paused_driver_that_was_replaced_stops_with_lost_the_baton(
        repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    configure(repo, tmp_path)
    old = start(repo, "--interval", "0.1")
    new: subprocess.Popen[str] | None = None
    try:
        until(lambda: len(turns(rec_dir)) == 1)
        os.kill(old.pid, signal.SIGSTOP)  # stops beating; its lease (5 s) runs out

        def take_over() -> bool:
            nonlocal new
            p = start(repo, "--interval", "0.1")
            try:
                p.wait(timeout=1.5)
            except subprocess.TimeoutExpired:
                new = p  # still running: it holds the lane
                return True
            p.communicate()
            return False

        until(take_over, timeout=60, poll=0.5)
        until(lambda: flower_json(repo, "baton", "show")["holder"] != "1")  # type: ignore[index]
        before = git(repo, "for-each-ref", "--format=%(objectname)", "refs/flower/baton/main").stdout
        os.kill(old.pid, signal.SIGCONT)
        out, err = old.communicate(timeout=60)
        assert old.returncode == 4, err
        assert "lost the baton" in err and "internal error" not in err
        # nothing of the old holder landed on the baton after the takeover
        after = git(repo, "log", "--format=%s", "refs/flower/baton/main").stdout
        assert git(repo, "for-each-ref", "--format=%(objectname)",
                   "refs/flower/baton/main").stdout == before
        assert "released by daemon 1" not in after
    finally:
        for p in (old, new):
            if p is not None and p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.terminate()
                p.communicate(timeout=60)


@pytest.mark.slow
def test_an_agent_that_fails_every_turn_is_not_called_in_a_loop(repo: Path, tmp_path: Path,
                                                                 rec_dir: Path) -> None:
    failing = write_exe(tmp_path / "bin" / "failing",
                        '#!/bin/sh\necho "turn" >> "$REC_DIR/failing"\necho "no credentials" >&2\n'
                        "exit 1\n")
    configure(repo, tmp_path, f'\n[agents.failing]\ncommand = ["{failing}", "{{bootstrap}}"]\n')
    r = flower(repo, "run", "--agent", "failing", "--interval", "0.01", "--ticks", "50",
               timeout=120)
    assert r.returncode == 0, r.stderr
    assert (rec_dir / "failing").read_text().count("turn") == 1, r.stderr
    assert "turn 1 exit 1" in r.stderr


@pytest.mark.slow  # a real dispatch
def test_a_first_turn_is_told_the_fleet_from_one_reading(tmp_path: Path) -> None:
    """The first turn's "now" lines: a running attempt as running, a finished one as ready to
    merge, each once. Both lists come from one reading of the dispatch records (an attempt that
    ended between two readings was told as running and as finished in the same packet)."""
    from merge_helpers import finished, setup_repo
    from test_dispatch import dispatch, new_brief

    from flowergit.ops.context import Ctx
    from flowergit.ops.continuity.news import situation

    repo = setup_repo(tmp_path)
    done = finished(repo, "finished work", {"f.txt": "x\n"})
    busy = new_brief(repo, "busy", run=[["sleep", "30"]])
    d = dispatch(repo, busy)
    try:
        lines = situation(Ctx(cwd=str(repo)))
        assert lines == [f"dispatch {d['id']} (brief {busy}, script): running",
                         f"brief {done}: its attempt finished (done) and is not merged yet: "
                         f"`git flower merge {done}`"], lines
    finally:
        assert flower(repo, "stop", str(busy)).returncode == 0
