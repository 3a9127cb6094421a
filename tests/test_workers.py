"""Workers: stop (whole group, FAULTS 56), wait, lost + resume, done from inside a worktree,
clean (57, 56, 54), ps/status shapes and rendering, logs, and tmux attach/send."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import psutil
import pytest
from conftest import flower, flower_json, git, until, write_exe
from test_dispatch import RECORDER, add_agent, dispatch, new_brief, read_rec, record, set_cap, wait_all

# An agent that forks a child which ignores SIGTERM, and a grandchild that leaves the process
# group with setsid; it writes all three pids to $REC_DIR/<brief>.pids, then sleeps.
STUBBORN = f"""#!{sys.executable}
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pids = [os.getpid()]
c = os.fork()
if c == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    g = os.fork()
    if g == 0:
        os.setsid()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(300)
        os._exit(0)
    time.sleep(300)
    os._exit(0)
pids.append(c)
time.sleep(0.3)
kids = [p for p in os.listdir("/proc") if p.isdigit()]
out = os.path.join(os.environ["REC_DIR"], os.environ["FLOWER_BRIEF"] + ".pids")
open(out + ".tmp", "w").write(" ".join(map(str, pids)))
os.replace(out + ".tmp", out)
time.sleep(300)
"""




def descendants_of_group(pgid: int) -> list[int]:
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except (psutil.Error, ProcessLookupError):
            continue
    return out


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# -- stop ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_stop_leaves_no_process_of_the_group_alive(repo: Path, tmp_path: Path,
                                                   rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "stubborn", STUBBORN)
    add_agent(repo, "stubborn", [str(exe)])
    bid = new_brief(repo, "stubborn")
    dispatch(repo, bid, "--agent", "stubborn")
    pids_file = rec_dir / f"{bid}.pids"
    until(pids_file.exists, what="the agent to fork")
    leader, child = map(int, pids_file.read_text().split())
    grandchildren = until(lambda: psutil.Process(child).children(), what="the grandchild")
    gpid = grandchildren[0].pid
    assert os.getsid(gpid) == gpid  # it left the group
    r = flower(repo, "stop", str(bid), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)["data"]
    assert data["state"] == "stopped" and data["ended_at"]
    for pid in (leader, child, gpid):
        assert not alive(pid), pid
    assert descendants_of_group(leader) == []
    rec = record(repo, f"{bid}.1")
    assert rec["state"] == "stopped" and rec["exit_code"] is not None
    # stopping again is a clear refusal, not a crash
    assert flower(repo, "stop", str(bid)).returncode == 4


@pytest.mark.slow
def test_stop_a_queued_dispatch_takes_it_out_of_the_queue(repo: Path, tmp_path: Path,
                                                          rec_dir: Path) -> None:
    set_cap(repo, 1)
    exe = write_exe(tmp_path / "bin" / "recorder", RECORDER)
    add_agent(repo, "rec", [str(exe)])
    a, b = new_brief(repo, "first"), new_brief(repo, "second")
    dispatch(repo, a, "--agent", "rec", env={"FAKE_SLEEP": "4"})
    assert dispatch(repo, b, "--agent", "rec")["state"] == "queued"
    assert flower_json(repo, "status")["queue"][0]["id"] == f"{b}.1"  # type: ignore[index]
    assert flower_json(repo, "stop", str(b))["state"] == "stopped"  # type: ignore[index]
    wait_all(repo, a)
    assert wait_all(repo, b)[0]["state"] == "stopped"
    assert not (rec_dir / f"{b}.json").exists()


# -- wait ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_wait_times_out_with_75(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "recorder", RECORDER)
    add_agent(repo, "rec", [str(exe)])
    bid = new_brief(repo, "slow")
    dispatch(repo, bid, "--agent", "rec", env={"FAKE_SLEEP": "30"})
    r = flower(repo, "wait", str(bid), "--timeout", "0.5", "--json")
    assert r.returncode == 75
    assert json.loads(r.stdout)["error"]["code"] == "retry"
    assert flower(repo, "wait").returncode == 2
    assert flower(repo, "wait", "4242").returncode == 3
    flower(repo, "stop", str(bid))


# -- lost and resume ----------------------------------------------------------------------
def test_killed_supervisor_shows_lost_and_resume_continues(repo: Path, tmp_path: Path,
                                                          rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "recorder", RECORDER)
    add_agent(repo, "rec", [str(exe)])
    bid = new_brief(repo, "crashy")
    d = dispatch(repo, bid, "--agent", "rec", env={"FAKE_SLEEP": "60"})
    rec = until(lambda: (r := record(repo, d["id"])).get("pid") and r, what="the agent's pid")
    os.kill(rec["supervisor"]["pid"], signal.SIGKILL)  # like a reboot: both die, nothing recorded
    os.killpg(rec["pgid"], signal.SIGKILL)
    until(lambda: not alive(rec["pid"]) and not alive(rec["supervisor"]["pid"]), what="death")
    row = flower_json(repo, "ps")[0]  # type: ignore[index]
    assert row["state"] == "lost" and row["record_state"] == "running"
    assert flower_json(repo, "status")["workers"][0]["state"] == "lost"  # type: ignore[index]
    r = flower(repo, "dispatch", str(bid), "--agent", "rec")
    assert r.returncode == 4 and "--resume" in r.stderr
    (Path(d["worktree"]) / "kept.txt").write_text("earlier work\n")
    d2 = dispatch(repo, bid, "--resume", env={"FAKE_SLEEP": "0"})
    assert d2["id"] == d["id"] and d2["worktree"] == d["worktree"] and d2["resumed"] == 1
    got = wait_all(repo, bid)
    assert got[0]["state"] == "exited" and got[0]["exit_code"] == 0
    assert (Path(d["worktree"]) / "kept.txt").exists()
    assert "## Resumed" in Path(d["packet"]).read_text()
    assert read_rec(rec_dir, bid)["env"]["FLOWER_DISPATCH"] == d["id"]
    assert flower(repo, "dispatch", str(bid), "--resume").returncode == 4  # exited: not resumable


# -- done ---------------------------------------------------------------------------------
DONE_AGENT = f"""#!{sys.executable}
import os, subprocess, sys
open("work.txt", "w").write("done\\n")
subprocess.run(["git", "add", "-A"], check=True)
subprocess.run(["git", "commit", "-qm", "work"], check=True)
args = [sys.executable, "-m", "flowergit", "done", "--json"]
if os.environ.get("FAIL"):
    args.append("--failed")
r = subprocess.run(args, capture_output=True, text=True)
open(os.path.join(os.environ["REC_DIR"], os.environ["FLOWER_BRIEF"] + ".done"), "w").write(
    str(r.returncode) + "\\n" + r.stdout + r.stderr)
"""


@pytest.mark.slow
def test_done_from_inside_the_worktree(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "doer", DONE_AGENT)
    add_agent(repo, "doer", [str(exe)])
    ok, bad = new_brief(repo, "ok"), new_brief(repo, "bad")
    dispatch(repo, ok, "--agent", "doer")
    dispatch(repo, bad, "--agent", "doer", env={"FAIL": "1"})
    wait_all(repo, ok, bad)
    assert (rec_dir / f"{ok}.done").read_text().startswith("0\n")
    assert record(repo, f"{ok}.1")["reported"] == "done"
    assert record(repo, f"{bad}.1")["reported"] == "failed"
    assert flower_json(repo, "brief", "show", str(ok))["status"] == "done"  # type: ignore[index]
    assert flower_json(repo, "brief", "show", str(bad))["status"] == "dispatched"  # type: ignore[index]
    # without FLOWER_DISPATCH, the worktree's branch names the dispatch
    wt = record(repo, f"{bad}.1")["worktree"]
    r = flower(wt, "done", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["id"] == f"{bad}.1"
    assert flower(repo, "done").returncode == 2  # the main checkout names no dispatch


# -- clean --------------------------------------------------------------------------------
@pytest.mark.slow
def test_clean_refuses_unmerged_work_and_live_agents(repo: Path, tmp_path: Path,
                                                     rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "recorder", RECORDER)
    add_agent(repo, "rec", [str(exe)])
    live = new_brief(repo, "live")
    d_live = dispatch(repo, live, "--agent", "rec", env={"FAKE_SLEEP": "60"})
    r = flower(repo, "clean", str(live))
    assert r.returncode == 4 and "alive" in r.stderr
    assert Path(d_live["worktree"]).is_dir()
    flower(repo, "stop", str(live))

    work = new_brief(repo, "work")
    d = dispatch(repo, work, "--agent", "rec", env={"FAKE_COMMIT": "1"})
    wait_all(repo, work)
    tip = git(repo, "rev-parse", d["branch"]).stdout.strip()
    r = flower(repo, "clean", str(work))
    assert r.returncode == 4 and "not on main" in r.stderr
    assert Path(d["worktree"]).is_dir() and git(repo, "rev-parse", d["branch"]).stdout.strip() == tip
    # the bulk form skips it too and says why
    rows = flower_json(repo, "clean")
    assert {r["id"]: r["removed"] for r in rows}[f"{work}.1"] is False  # type: ignore[index]
    assert Path(d["worktree"]).is_dir()
    # uncommitted changes in a merged worktree are kept as well
    git(repo, "merge", "-q", "--no-edit", d["branch"])
    (Path(d["worktree"]) / "scratch.txt").write_text("unsaved\n")
    r = flower(repo, "clean", str(work))
    assert r.returncode == 4 and "uncommitted" in r.stderr
    os.unlink(Path(d["worktree"]) / "scratch.txt")
    assert flower(repo, "clean", "--merged").returncode == 0
    assert Path(d["worktree"]).is_dir()  # --merged: only what the merge gate recorded as merged
    rows = flower_json(repo, "clean", str(work))
    assert rows[0]["removed"] is True  # type: ignore[index]
    assert not Path(d["worktree"]).exists()
    assert git(repo, "rev-parse", "-q", "--verify", d["branch"], check=False).returncode != 0
    assert record(repo, f"{work}.1")["state"] == "released"
    assert all(r["id"] != f"{work}.1" for r in flower_json(repo, "ps"))  # type: ignore[union-attr]
    assert any(r["id"] == f"{work}.1" for r in flower_json(repo, "ps", "--all"))  # type: ignore[union-attr]


@pytest.mark.slow
def test_worktree_deleted_by_hand_shows_missing_and_can_be_redispatched(repo: Path) -> None:
    bid = new_brief(repo, "deleted", run=[["sh", "-c", "echo a >> a.txt"]])
    d = dispatch(repo, bid)
    wait_all(repo, bid)
    shutil.rmtree(d["worktree"])
    row = flower_json(repo, "ps")[0]  # type: ignore[index]
    assert row["state"] == "missing" and row["worktree_present"] is False
    assert "missing" in flower(repo, "ps").stdout
    d2 = dispatch(repo, bid)
    assert d2["worktree"] == d["worktree"] and d2["branch"] == d["branch"]
    wait_all(repo, bid)
    assert (Path(d["worktree"]) / "a.txt").read_text() == "a\na\n"  # the branch's work is back


# -- ps, status, logs ---------------------------------------------------------------------
def test_ps_and_status_json_are_complete(repo: Path) -> None:
    set_cap(repo, 1)
    a = new_brief(repo, "one", run=[["sh", "-c", "echo 1 > one.txt; echo step-output"]])
    b = new_brief(repo, "two", run=[["sleep", "1"]])
    dispatch(repo, a)
    dispatch(repo, b)
    st = flower_json(repo, "status")
    assert set(st) >= {"briefs", "workers", "queue", "max_parallel", "running", "dispatches"}  # type: ignore[arg-type]
    assert st["briefs"]["total"] == 2 and st["max_parallel"] == 1  # type: ignore[index]
    wait_all(repo, a, b)
    rows = flower_json(repo, "ps")
    assert [r["id"] for r in rows] == [f"{a}.1", f"{b}.1"]  # type: ignore[union-attr]
    r1 = rows[0]  # type: ignore[index]
    for key in ("id", "state", "agent", "elapsed", "ahead", "files_changed", "last_commit",
                "last_log", "exit_code", "branch", "worktree", "started_at", "ended_at"):
        assert key in r1
    assert r1["state"] == "exited" and r1["ahead"] == 1 and r1["files_changed"] == 1
    assert r1["last_commit"] == f"brief {a}: one"
    assert r1["last_log"].startswith("[script] committed ")  # the agent's words, not ours
    st = flower_json(repo, "status")
    # `two` only slept: exit 0 with nothing changed is `no-changes`, and its brief is not done
    assert [r["outcome"] for r in rows] == ["done", "no-changes"]  # type: ignore[index,union-attr]
    assert st["briefs"]["by_status"]["done"] == 1 and st["workers"] == [] and st["queue"] == []  # type: ignore[index]


@pytest.mark.slow
def test_human_output_plain_when_piped_rich_on_a_tty_and_escaped(repo: Path) -> None:
    bid = new_brief(repo, "esc", run=[["printf", "\\033]0;pwned\\007 bell\\n"]])
    dispatch(repo, bid)
    wait_all(repo, bid)
    plain = flower(repo, "ps")
    assert plain.returncode == 0 and plain.stdout.startswith("ID")
    assert "\x1b" not in plain.stdout and "\x07" not in plain.stdout
    logs = flower(repo, "logs", str(bid))
    assert "\\x1b]0;pwned\\x07 bell" in logs.stdout and "\x1b" not in logs.stdout
    assert "\x1b]0;pwned" in flower(repo, "logs", str(bid), "--raw").stdout
    rich = flower(repo, "--color", "always", "ps")
    assert rich.returncode == 0 and "━" in rich.stdout
    assert "\x1b]0;pwned" not in rich.stdout
    st = flower(repo, "status")
    assert st.returncode == 0 and "briefs: 1" in st.stdout


@pytest.mark.slow
def test_logs_follow_stops_when_the_dispatch_ends(repo: Path) -> None:
    bid = new_brief(repo, "follow", run=[["sh", "-c", "echo first; sleep 1; echo second"]])
    dispatch(repo, bid)
    r = flower(repo, "logs", str(bid), "-f", timeout=60)
    assert r.returncode == 0
    assert "first" in r.stdout and "second" in r.stdout and "exited with 0" in r.stdout


# -- tmux ---------------------------------------------------------------------------------
ASKER = f"""#!{sys.executable}
import os, sys
print("Proceed? [y/N]", flush=True)
answer = sys.stdin.readline().strip()
open(os.path.join(os.environ["REC_DIR"], os.environ["FLOWER_BRIEF"] + ".answer"), "w").write(answer)
print("got", answer, flush=True)
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tmux_dispatch_send_and_attach_refusals(repo: Path, tmp_path: Path, rec_dir: Path) -> None:
    exe = write_exe(tmp_path / "bin" / "asker", ASKER)
    add_agent(repo, "asker", [str(exe)])
    bid = new_brief(repo, "asks")
    d = dispatch(repo, bid, "--agent", "asker", "--tmux")
    until(lambda: "Proceed?" in flower(repo, "logs", str(bid)).stdout, what="the prompt")
    r = flower(repo, "send", str(bid), "yes; $(touch PWNED)", "--enter", "--json")
    assert r.returncode == 0, r.stderr
    got = wait_all(repo, bid)
    assert got[0]["exit_code"] == 0, (got, record(repo, f"{bid}.1"),
                                      flower(repo, "logs", str(bid)).stdout)
    assert (rec_dir / f"{bid}.answer").read_text() == "yes; $(touch PWNED)"
    assert "got yes" in flower(repo, "logs", str(bid)).stdout
    assert not list(Path(d["worktree"]).glob("PWNED*")) and not list(tmp_path.glob("PWNED*"))
    assert flower(repo, "send", str(bid), "x").returncode == 4  # ended
    plain = new_brief(repo, "plain", run=[["true"]])
    dispatch(repo, plain)
    r = flower(repo, "attach", str(plain))
    assert r.returncode == 2 and "tmux" in r.stderr
    wait_all(repo, plain)


# -- crashes of the dispatcher, the shell, the terminal -----------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("point", ["dispatch_after_claim", "dispatch_before_start"])
def test_dispatcher_killed_midway_is_superseded_by_the_next_dispatch(repo: Path, point: str) -> None:
    bid = new_brief(repo, "interrupted", run=[["sh", "-c", "echo ok > ok.txt"]])
    r = flower(repo, "dispatch", str(bid),
               env={"FLOWER_TESTING": "1", "FLOWER_FAILPOINTS": f"{point}=kill"})
    assert r.returncode == -signal.SIGKILL
    row = flower_json(repo, "ps")[0]  # type: ignore[index]
    assert row["state"] == "lost" and row["record_state"] == "preparing"
    d = dispatch(repo, bid)
    assert d["id"] == f"{bid}.2"
    assert record(repo, f"{bid}.1")["state"] == "failed"
    got = wait_all(repo, bid)
    assert got[0]["exit_code"] == 0
    assert (Path(d["worktree"]) / "ok.txt").exists()


@pytest.mark.slow
def test_agents_survive_the_dispatching_terminal_being_killed(repo: Path, tmp_path: Path,
                                                             rec_dir: Path) -> None:
    import subprocess

    exe = write_exe(tmp_path / "bin" / "recorder", RECORDER)
    add_agent(repo, "rec", [str(exe)])
    bid = new_brief(repo, "orphaned")
    flag = tmp_path / "dispatched"
    # a "terminal": its own session; it dispatches, then lingers until we kill its whole session
    term = subprocess.Popen(
        ["bash", "-c", (f'{sys.executable} -m flowergit dispatch {bid} --agent rec && touch "$1"; '
                        "sleep 60"), "term", str(flag)],
        cwd=repo, env={**os.environ, "FAKE_SLEEP": "1.5"}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    until(flag.exists, what="the dispatch to return")
    os.killpg(term.pid, signal.SIGKILL)
    term.wait(timeout=10)
    got = wait_all(repo, bid)
    assert got[0]["state"] == "exited" and got[0]["exit_code"] == 0
    assert read_rec(rec_dir, bid)["t1"] - read_rec(rec_dir, bid)["t0"] >= 1.4


def test_ps_renders_a_table_on_a_real_tty(repo: Path) -> None:
    import pty
    import subprocess

    bid = new_brief(repo, "tty", run=[["true"]])
    dispatch(repo, bid)
    wait_all(repo, bid)
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "flowergit", "ps"], cwd=repo, stdout=slave,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env={**os.environ, "TERM": "xterm", "COLUMNS": "160"})
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert p.wait(timeout=30) == 0
    os.close(master)
    text = out.decode("utf-8", "replace")
    assert "━" in text and f"{bid}.1" in text and ("done" in text or "no-changes" in text)


@pytest.mark.slow
def test_sha256_repository(any_repo: Path) -> None:
    bid = new_brief(any_repo, "sha", run=[["sh", "-c", "echo s > s.txt"]])
    d = dispatch(any_repo, bid)
    assert wait_all(any_repo, bid)[0]["exit_code"] == 0
    git(any_repo, "merge", "-q", "--ff-only", d["branch"])
    rows = flower_json(any_repo, "clean", str(bid))
    assert rows[0]["removed"] is True  # type: ignore[index]


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["status", "--json"], ["ps", "--json"], ["status"], ["ps"]],
                         ids=" ".join)
def test_watch_commands_import_nothing_heavy(repo: Path, argv: list[str]) -> None:
    import subprocess

    bid = new_brief(repo, "light", run=[["true"]])
    dispatch(repo, bid)
    wait_all(repo, bid)
    code = ("import sys\nfrom flowergit.main import main\nrc = main(sys.argv[1:])\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'pygit2', 'git', 'rich', 'tomlkit', 'pydantic', 'typer'})\n"
            "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\nsys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-c", code, *argv], cwd=repo, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert "HEAVY=\n" in r.stderr, r.stderr


def test_dispatch_record_cache_is_content_addressed(repo: Path) -> None:
    bid = new_brief(repo, "cached", run=[["true"]])
    dispatch(repo, bid)
    wait_all(repo, bid)
    cache = repo / ".git" / "flower" / "cache" / "dispatches.json"
    assert cache.exists()
    # a record changed behind the cache's back (another clone, plain git) is seen at once
    b, a = str(bid), "1"
    ref = f"refs/flower/dispatch/{b}/{a}"
    rec = json.loads(git(repo, "cat-file", "blob", f"{ref}:record.json").stdout)
    rec["state"] = "merged"
    blob = git(repo, "hash-object", "-w", "--stdin", input=json.dumps(rec).encode()).stdout.strip()
    tree = git(repo, "mktree", input=f"100644 blob {blob}\trecord.json\n".encode()).stdout.strip()
    old = git(repo, "rev-parse", ref).stdout.strip()
    new = git(repo, "commit-tree", tree, "-p", old, "-m", "merged").stdout.strip()
    git(repo, "update-ref", ref, new, old)
    assert flower_json(repo, "ps")[0]["state"] == "merged"  # type: ignore[index]


@pytest.mark.slow
def test_queue_moves_on_when_a_supervisor_dies_after_recording(repo: Path) -> None:
    set_cap(repo, 1)
    a = new_brief(repo, "first", run=[["sleep", "3"]])
    b = new_brief(repo, "second", run=[["true"]])
    env = {"FLOWER_TESTING": "1", "FLOWER_FAILPOINTS": "supervisor_after_exit_record=kill"}
    dispatch(repo, a, env=env)
    assert dispatch(repo, b, env=env)["state"] == "queued"
    # the first supervisor dies before its scheduler step; `wait` notices and starts the queue
    got = wait_all(repo, a, b, timeout=60)
    assert [g["state"] for g in got] == ["exited", "exited"]
    assert [g["exit_code"] for g in got] == [0, 0]
    # the failpoint did fire: the first supervisor never emitted its dispatch_done signal (the
    # second was started by `wait`, whose environment has no failpoints)
    sigs = git(repo, "for-each-ref", "--format=%(refname)", "refs/flower/signals/").stdout.split()
    done = [json.loads(git(repo, "cat-file", "blob", f"{s}:record.json").stdout)["data"]["dispatch"]
            for s in sigs]
    assert done == [f"{b}.1"]


def test_a_forged_record_from_a_remote_cannot_kill_delete_or_read(repo: Path, tmp_path: Path) -> None:
    import subprocess

    victim = subprocess.Popen(["sleep", "60"], start_new_session=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET\n")
    bid = new_brief(repo, "forged")
    rec = {"v": 1, "id": f"{bid}.1", "brief": bid, "attempt": 1, "state": "running",
           "agent": "x", "branch": "main", "worktree": str(repo), "base": "", "target": "main",
           "pid": victim.pid, "pgid": victim.pid, "log": str(secret), "packet": str(secret),
           "proc": {"host": "elsewhere", "boot_id": "b", "pid": victim.pid, "start": 1.0},
           "supervisor": {"host": "elsewhere", "boot_id": "b", "pid": victim.pid, "start": 1.0},
           "tmux": True, "tmux_socket": "/tmp/somebody-elses.sock", "tmux_session": "x"}
    blob = git(repo, "hash-object", "-w", "--stdin", input=json.dumps(rec).encode()).stdout.strip()
    tree = git(repo, "mktree", input=f"100644 blob {blob}\trecord.json\n".encode()).stdout.strip()
    commit = git(repo, "commit-tree", tree, "-m", "forged").stdout.strip()
    git(repo, "update-ref", f"refs/flower/dispatch/{bid}/1", commit, "")
    main_before = git(repo, "rev-parse", "main").stdout
    try:
        assert "TOP SECRET" not in flower(repo, "logs", str(bid)).stdout
        assert "TOP SECRET" not in flower(repo, "ps").stdout
        assert flower(repo, "send", str(bid), "x").returncode == 75
        flower(repo, "stop", str(bid))
        assert victim.poll() is None  # not killed
        flower(repo, "clean", str(bid))
        flower(repo, "clean")
        assert git(repo, "rev-parse", "main").stdout == main_before
        assert repo.is_dir() and (repo / "README.md").exists()
    finally:
        victim.kill()
        victim.wait()


def test_a_dispatch_ref_that_names_no_commit_is_no_record(repo: Path) -> None:
    """A ref under refs/flower/dispatch/ that points at a tree holding a record.json, a blob or
    an annotated tag (garbage from a remote) is no record: `ps` flags it corrupt, and once it is
    gone the brief dispatches as attempt 1."""
    bid = new_brief(repo, "garbage refs", run=[["true"]])
    rec = {"v": 1, "id": f"{bid}.1", "brief": bid, "attempt": 1, "state": "running", "agent": "x",
           "branch": f"flower/{bid}-garbage-refs", "worktree": str(repo), "base": "",
           "target": "main"}
    blob = git(repo, "hash-object", "-w", "--stdin", input=json.dumps(rec).encode()).stdout.strip()
    tree = git(repo, "mktree", input=f"100644 blob {blob}\trecord.json\n".encode()).stdout.strip()
    commit = git(repo, "commit-tree", tree, "-m", "a record").stdout.strip()
    tag = git(repo, "mktag", input=(f"object {commit}\ntype commit\ntag t\ntagger T <t@example.com> "
                                    "0 +0000\n\nt\n").encode()).stdout.strip()
    for n, oid in ((1, tree), (2, blob), (3, tag)):
        git(repo, "update-ref", f"refs/flower/dispatch/{bid}/{n}", oid, "")
    rows = [r for r in flower_json(repo, "ps", "--all") if r["brief"] == bid]  # type: ignore[union-attr]
    assert [(r["id"], r["state"]) for r in rows] == [(f"{bid}.{n}", "corrupt") for n in (1, 2, 3)]
    for n in (1, 2, 3):
        git(repo, "update-ref", "-d", f"refs/flower/dispatch/{bid}/{n}")
    d = dispatch(repo, bid)
    assert d["id"] == f"{bid}.1"
    assert wait_all(repo, bid)[0]["exit_code"] == 0


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_a_supervisor_shows_as_such_not_as_the_dispatch_it_was_forked_from(repo: Path) -> None:
    """`git flower dispatch` forks its supervisor: once the worktree is ready the copy names
    itself, so `ps` does not show a dispatch that seems never to end."""
    add_agent(repo, "idle", ["sleep", "30"])
    bid = new_brief(repo, "titled")
    d = dispatch(repo, bid, "--agent", "idle")
    pid = d["supervisor"]["pid"]
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        until(lambda: "git-flower supervise" in cmdline.read_bytes().decode(errors="replace"),
              what="the supervisor's title")
        assert f"supervise {d['id']}" in cmdline.read_bytes().decode(errors="replace")
    finally:
        assert flower(repo, "stop", str(bid)).returncode == 0
