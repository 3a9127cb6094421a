"""The real agent CLIs (Codex, Claude Code, Gemini CLI), pinned in tests/agents/package-lock.json,
driven through git flower's built-in profiles by a scripted model server (tests/modelserver/).

Each end-to-end test files a brief, dispatches it to the real CLI, waits, merges, and finds the
agent's file on main. The CLIs talk only to the server on 127.0.0.1: their own documented
settings point them there, and a proxy environment sends anything meant for another host to the
server too, where it is recorded and refused (the tests assert there was none).

`.ci/run` installs the CLIs (npm ci into tests/agents/node_modules). Without them a test skips,
naming the command that installs them; with CI=true a missing CLI fails the test instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, flower, git, sigkill_tree, until
from modelserver import ModelServer, Turn, edit, read, say, shell, write

AGENTS = ROOT / "tests" / "agents"
BIN = AGENTS / "node_modules" / ".bin"
pytestmark = pytest.mark.slow  # real agent CLIs under node, a model server, whole dispatches

PINNED = {"codex": "0.171.0", "claude": "2.1.332", "gemini": "0.61.0"}
NOBODY = 65534


def need_cli(name: str) -> Path:
    """The installed CLI, or a skip (a failure under CI=true) that says how to install it."""
    exe = BIN / name
    problem = None
    if not exe.exists():
        problem = f"{name} is not installed in {BIN}"
    elif shutil.which("node") is None and name != "claude":
        problem = f"{name} needs node on PATH"
    if problem is None:
        return exe
    how = "run .ci/run, or: cd tests/agents && npm ci --ignore-scripts && " \
          "node node_modules/@anthropic-ai/claude-code/install.cjs"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{problem} (CI=true: the real-agent tests must run); {how}")
    pytest.skip(f"{problem}; {how}")


def test_a_missing_cli_skips_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed.*ci/run"):
        need_cli("no-such-agent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        need_cli("no-such-agent")


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """A scripted model server on 127.0.0.1 (an ephemeral port, a thread of this process)."""
    with ModelServer() as srv:
        yield srv


def agent_env(agent: str, srv: ModelServer, home: Path) -> dict[str, str]:
    """What a user sets to point each CLI at another endpoint (docs/agents.md), aimed at the
    scripted server, plus a proxy that catches traffic for any other host."""
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **srv.proxy_env()}
    if agent == "codex":
        codex_home = home / "codex-home"
        codex_home.mkdir(parents=True, exist_ok=True)
        (codex_home / "config.toml").write_text(
            'model = "gpt-5.5"\n'
            'model_provider = "scripted"\n'
            "check_for_update_on_startup = false\n"
            "[features]\nplugins = false\n"
            "[analytics]\nenabled = false\n"
            "[model_providers.scripted]\n"
            'name = "scripted model server"\n'
            f'base_url = "{srv.url}/v1"\n'
            'wire_api = "responses"\n'
            'env_key = "FLOWER_TEST_OPENAI_KEY"\n')
        env |= {"CODEX_HOME": str(codex_home), "FLOWER_TEST_OPENAI_KEY": "sk-test-codex"}
    elif agent == "claude":
        env |= {"ANTHROPIC_BASE_URL": srv.url, "ANTHROPIC_API_KEY": "sk-ant-test",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
                "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1"}
    elif agent == "gemini":
        settings = home / ".gemini" / "settings.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps({
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": False},
            "general": {"disableAutoUpdate": True}}))
        env |= {"GEMINI_API_KEY": "test-gemini-key", "GOOGLE_GEMINI_BASE_URL": srv.url,
                # no second node process with a bigger heap: halves its start (~2 s of CPU)
                "GEMINI_CLI_NO_RELAUNCH": "true"}
    return env


def read_packet(agent: str) -> Turn:
    """The model's first step: read the packet its bootstrap line names. Gemini's read_file
    refuses paths outside its workspace (the packet is in the git dir), so it uses the shell."""
    return shell("cat {packet}") if agent == "gemini" else read("{packet}")


def committing_script(agent: str) -> list[Turn]:
    return [read_packet(agent),
            write("hello.txt", f"hello from {agent}\n"),
            shell("git add -A && git commit -qm 'Add hello.txt' && git log --oneline -1"),
            say("Done: hello.txt is committed.")]


def editing_script(agent: str) -> list[Turn]:
    return [read_packet(agent),
            write("hello.txt", f"hello from {agent}\n"),
            read("README.md"),
            edit("README.md", "hello", f"hello, edited by {agent}"),
            say("Done: hello.txt written and README.md edited; nothing committed.")]


def prepare(repo: Path) -> None:
    """A quick suite, committed and trusted; one brief."""
    cfg = (repo / ".flower.toml").read_text()
    cfg = re.sub(r"(?ms)^\[suite\].*?(?=^\[|\Z)", "", cfg)
    cfg += '\n[suite]\ncommand = ["true"]\ntimeout = 60\n'
    (repo / ".flower.toml").write_text(cfg)
    git(repo, "add", ".flower.toml")
    git(repo, "commit", "-qm", "quick suite")
    assert flower(repo, "trust").returncode == 0
    r = flower(repo, "brief", "new", "Add hello.txt", "-m", "Create hello.txt saying hello.")
    assert r.returncode == 0, r.stderr


def run_brief(repo: Path, agent: str, env: dict[str, str]) -> str:
    """Dispatch brief 1 to ``agent``, wait for it, and return its log."""
    r = flower(repo, "dispatch", "1", "--agent", agent, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    w = flower(repo, "wait", "1", "--timeout", "60", env=env, timeout=90)
    log = flower(repo, "logs", "1", env=env).stdout
    assert w.returncode == 0, f"wait: {w.stdout}{w.stderr}\nlog:\n{log}"
    return log


def transcript_mark(agent: str) -> str:
    """A line every run of the built-in profile writes to its log (its JSON event stream)."""
    return {"codex": '"type":"turn.completed"', "claude": '"type":"result"',
            "gemini": '"type":"result"'}[agent]


def land(repo: Path, agent: str, srv: ModelServer, log: str) -> None:
    assert srv.done, f"the agent stopped before the script's end ({srv.next_turn}/{len(srv.script)})\n{log}"
    assert transcript_mark(agent) in log, log
    check_transcript(repo, agent, srv)
    m = flower(repo, "merge", "1")
    assert m.returncode == 0, m.stdout + m.stderr
    assert git(repo, "show", "main:hello.txt").stdout == f"hello from {agent}\n"
    assert srv.escapes() == [], [(r.method, r.path) for r in srv.escapes()]


def check_transcript(repo: Path, agent: str, srv: ModelServer) -> None:
    """The dispatch log's transcript, as git flower reads it, tells the tokens the server
    reported (the whole run: side requests too) and the last message of the script."""
    from flowergit.procs import transcript

    common = git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip()
    got = transcript.summarize(str(Path(common) / "flower" / "logs" / "1.1.log"), agent)
    assert got is not None, f"no {agent} transcript in the log"
    sent = srv.usage_total()
    assert (got["input_tokens"], got["output_tokens"], got["cached_input_tokens"]) == \
        (sent["input"], sent["output"], sent["cached"]), (got, sent)
    assert got["last_message"] == srv.script[-1].text, got
    if agent == "claude":  # codex exec --json names no model; gemini's init event says "auto"
        assert got["model"] == srv.main_requests()[0].body["model"], got


def tool_results(srv: ModelServer) -> str:
    """What the agent's tools returned over the whole run (its last request carries them all)."""
    reqs = srv.main_requests()
    return "\n".join(reqs[-1].tool_outputs()) if reqs else ""


AGENT_NAMES = ("codex", "claude", "gemini")
# Agents whose own `git commit` fails under the built-in profile, and what their tool says:
# Codex's sandbox mounts git's data read-only (a worktree's gitdir lies in the main repository);
# Gemini CLI runs shell commands with GIT_CONFIG_GLOBAL=/dev/null (and the system config off),
# so git finds no user.name. git flower commits what they leave (Profile.commit).
CANNOT_COMMIT = {"codex": "Read-only file system", "gemini": "Author identity unknown"}


@pytest.mark.parametrize("agent", AGENT_NAMES)
def test_agent_that_commits_lands_on_main(agent: str, repo: Path, model_server: ModelServer,
                                          hermetic: Path) -> None:
    need_cli(agent)
    prepare(repo)
    model_server.script = committing_script(agent)
    env = agent_env(agent, model_server, hermetic)
    log = run_brief(repo, agent, env)
    land(repo, agent, model_server, log)
    subjects = git(repo, "log", "--format=%s", "main").stdout
    sent = tool_results(model_server)
    if agent in CANNOT_COMMIT:
        # the agent's own commit fails (see CANNOT_COMMIT); git flower commits what it left
        assert CANNOT_COMMIT[agent] in sent, sent[-3000:]
        assert "Add hello.txt" not in subjects, subjects
    else:
        assert "Add hello.txt" in subjects, subjects + sent[-3000:]
    assert "hello from" not in (repo / "README.md").read_text()


@pytest.mark.parametrize("agent", AGENT_NAMES)
def test_agent_that_only_edits_lands_on_main(agent: str, repo: Path, model_server: ModelServer,
                                             hermetic: Path) -> None:
    need_cli(agent)
    prepare(repo)
    model_server.script = editing_script(agent)
    env = agent_env(agent, model_server, hermetic)
    log = run_brief(repo, agent, env)
    land(repo, agent, model_server, log)
    assert git(repo, "show", "main:README.md").stdout == f"hello, edited by {agent}\n"


@pytest.mark.parametrize("agent", AGENT_NAMES)
def test_the_pinned_version_is_installed(agent: str) -> None:
    exe = need_cli(agent)
    r = subprocess.run([str(exe), "--version"], check=False, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, env={**os.environ, "GEMINI_CLI_NO_RELAUNCH": "true"})
    assert PINNED[agent] in r.stdout, r.stdout + r.stderr
    lock = json.loads((AGENTS / "package-lock.json").read_text())
    pkgs = {"codex": "@openai/codex", "claude": "@anthropic-ai/claude-code",
            "gemini": "@google/gemini-cli"}
    assert lock["packages"][f"node_modules/{pkgs[agent]}"]["version"] == PINNED[agent]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="runs the profiles as uid 65534; as a normal user the end-to-end "
                           "tests above already do")
@pytest.mark.parametrize("agent", AGENT_NAMES)
def test_profile_works_as_a_normal_user(agent: str, model_server: ModelServer) -> None:
    """The built-in command, as git flower renders it, run as uid 65534 in a worktree that user
    owns: the same settings that work as root (the end-to-end tests) work without root."""
    need_cli(agent)
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv on this machine")
    # pytest's own temporary directories are private to root: a directory of its own in /tmp
    with tempfile.TemporaryDirectory(prefix="flower-nobody-") as tmp:
        run_as_nobody(agent, Path(tmp), model_server)


def run_as_nobody(agent: str, tmp: Path, srv: ModelServer) -> None:
    from flowergit.procs import agents

    home, main, wt = tmp / "home", tmp / "main", tmp / "wt"
    home.mkdir()
    ident = {"GIT_AUTHOR_NAME": "Agent", "GIT_AUTHOR_EMAIL": "agent@flower.invalid",
             "GIT_COMMITTER_NAME": "Agent", "GIT_COMMITTER_EMAIL": "agent@flower.invalid"}
    git(tmp, "init", "-q", "-b", "main", str(main))
    git(main, "config", "user.name", "Flower Test")  # Gemini's shell ignores the global config
    git(main, "config", "user.email", "test@flower.invalid")
    (main / "README.md").write_text("hello\n")
    git(main, "add", "README.md")
    git(main, "commit", "-qm", "init", env=ident)
    git(main, "worktree", "add", "-q", "-b", "work", str(wt))
    packet = main / ".git" / "flower" / "packets" / "1.1.md"
    packet.parent.mkdir(parents=True)
    packet.write_text("Create hello.txt saying hello.\n")
    srv.script = committing_script(agent)
    env = agent_env(agent, srv, home)
    subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(tmp)], check=True)
    tmp.chmod(0o755)
    prof = agents.builtins()[agent]
    argv = agents.render_argv(prof.command, {"{bootstrap}": agents.bootstrap_line(str(packet)),
                                             "{worktree}": str(wt), "{packet}": str(packet),
                                             "{brief}": "1"})
    full_env = {**os.environ, **env, **prof.env, "HOME": str(home)}
    r = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                        *argv], check=False, cwd=wt, env=full_env, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    try:
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert srv.done, r.stdout[-3000:] + r.stderr[-3000:]
        assert (wt / "hello.txt").read_text() == f"hello from {agent}\n"
        assert (wt / "hello.txt").stat().st_uid == NOBODY
        log = git(wt, "-c", "safe.directory=*", "log", "--format=%s", "work").stdout
        if agent == "codex":  # the sandbox works for a normal user too: git's data stays read-only
            assert CANNOT_COMMIT[agent] in tool_results(srv)
            assert "Add hello.txt" not in log
        else:
            assert "Add hello.txt" in log, log + tool_results(srv)[-2000:]
        assert transcript_mark(agent) in r.stdout
        assert srv.escapes() == []
    finally:
        subprocess.run(["chown", "-R", "0:0", str(tmp)], check=False)


def test_model_server_scripts_each_api(model_server: ModelServer) -> None:
    """The server alone: the next turn per request, usage counted, side requests answered."""
    import urllib.request

    model_server.script = [shell("ls"), say("bye")]

    def post(path: str, body: dict[str, object]) -> bytes:
        req = urllib.request.Request(model_server.url + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return bytes(resp.read())

    out = post("/v1/messages", {"model": "m", "stream": True, "tools": [{"name": "Bash"}],
                                "messages": [{"role": "user", "content": "hi"}]}).decode()
    assert "event: message_start" in out and '"name":"Bash"' in out and '"stop_reason":"tool_use"' in out
    out = post("/v1/responses", {"model": "m", "stream": True,
                                 "tools": [{"type": "function", "name": "exec_command"}],
                                 "input": []}).decode()
    assert "event: response.completed" in out and '"output_text"' in out and "bye" in out
    out = post("/v1beta/models/g:generateContent", {"contents": [], "generationConfig": {
        "responseMimeType": "application/json", "responseJsonSchema": {
            "type": "OBJECT", "properties": {"next_speaker": {"type": "STRING", "enum": ["user", "model"]}}}}}).decode()
    assert json.loads(json.loads(out)["candidates"][0]["content"]["parts"][0]["text"]) == {"next_speaker": "user"}
    assert model_server.done and [r.turn for r in model_server.requests] == [0, 1, None]
    tot = model_server.usage_total()
    assert tot["input"] > 0 and tot["output"] > 0
    assert model_server.escapes() == []


def test_docs_agents_examples_run(tmp_path: Path) -> None:
    """Every ```sh block of docs/agents.md runs, in order, in one scratch directory, with the
    agent CLIs replaced by stubs that print their argv and write a file (blocks of other kinds
    are not commands)."""
    text = (ROOT / "docs" / "agents.md").read_text()
    blocks = re.findall(r"(?ms)^```sh\n(.*?)^```", text)
    assert blocks, "docs/agents.md has no ```sh examples"
    stubs = tmp_path / "stubs"
    for name in ("codex", "claude", "gemini"):
        exe = stubs / name
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\necho \"$(basename \"$0\") $*\"\necho hello > hello.txt\n")
        exe.chmod(0o755)
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{Path(sys.executable).parent}"
                                 f"{os.pathsep}{os.environ['PATH']}"}
    out: list[str] = []
    for block in blocks:
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", block], check=False, cwd=repo, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"docs/agents.md example failed:\n{block}\n{r.stdout}{r.stderr}"
        out.append(r.stdout)
    # the first run's log shows the built-in command as it was started
    assert "claude -p Read " in out[0] and "--permission-mode acceptEdits" in out[0], out[0]


# -- the orchestrating agent, driven (`git flower run --agent claude`) ----------------------------
ORCH_WORKER = ("#!/bin/sh\nset -e\necho w >\"w-$FLOWER_BRIEF.txt\"\ngit add -A\n"
               "git commit -qm \"work $FLOWER_BRIEF\"\n")


def orchestrated(repo: Path, tmp: Path) -> None:
    """A quick suite, a worker profile (a script that commits), a context window of a million
    tokens with the hand-off at half of it; committed and trusted."""
    worker = tmp / "bin" / "worker"
    worker.parent.mkdir(parents=True, exist_ok=True)
    worker.write_text(ORCH_WORKER)
    worker.chmod(0o755)
    cfg = re.sub(r"(?ms)^\[suite\].*?(?=^\[|\Z)", "", (repo / ".flower.toml").read_text())
    cfg += ('\n[suite]\ncommand = ["true"]\ntimeout = 60\n'
            f'\n[agents.worker]\ncommand = ["{worker}", "{{bootstrap}}"]\n'
            "\n[orchestrator]\nwindow = 1000000\nreset_at = 0.5\n")
    (repo / ".flower.toml").write_text(cfg)
    git(repo, "add", ".flower.toml")
    git(repo, "commit", "-qm", "orchestrator config")
    assert flower(repo, "trust").returncode == 0


def orchestrator_route(merged: list[str], sleep_on_work: bool = False,
                       flower: str = "git flower") -> Any:
    """What the scripted orchestrator does with each packet git flower hands it (``flower``:
    how it calls git flower; Codex's login shell resets PATH, so there the packet's
    ``$FLOWER_BIN``)."""
    succeeded: list[bool] = []  # the successor's session is a fresh one: its context is small

    def route(text: str) -> list[Turn]:
        if text.startswith("# git flower: hand-off notes"):
            return [read("{packet}"),
                    shell("git flower handoff write --lane main -m 'notes of the first "
                          "orchestrator: briefs " + " ".join(merged) + " merged'"),
                    say("Notes written.", tokens=610_000)]  # a context only grows
        if text.startswith("# git flower: you succeed"):
            succeeded.append(True)
            return [read("{packet}"), shell("git flower handoff show --lane main"),
                    shell("git flower reset ready --lane main"), say("Ready.")]
        out = [read("{packet}")]
        if sleep_on_work and "## What needs you" in text:
            # a long command (Claude Code refuses a bare long `sleep` in the foreground)
            out.append(shell("python3 -c 'import time; time.sleep(120)'"))
        for n in sorted(set(re.findall(r"`git flower merge (\d+)`", text)), key=int):
            out.append(shell(f"{flower} merge {n}"))
            merged.append(n)
        full = len(set(merged)) >= 3 and not sleep_on_work and not succeeded
        return [*out, say("Done.", tokens=600_000 if full else 0)]
    return route


def start_run(repo: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "flowergit", "run", "--agent", "claude", *args],
                            cwd=repo, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def wait_for(what: Any, timeout: float = 120.0) -> Any:
    return until(what, timeout, poll=0.2)


def new_auto(repo: Path, title: str) -> str:
    r = flower(repo, "brief", "new", title, "--auto", "--agent", "worker", "--json")
    assert r.returncode == 0, r.stderr
    n = str(json.loads(r.stdout)["data"]["id"])
    assert flower(repo, "brief", "plan", n).returncode == 0
    return n


def on_main(repo: Path, n: str) -> bool:
    return git(repo, "cat-file", "-e", f"main:w-{n}.txt", check=False).returncode == 0


def test_claude_orchestrates_three_briefs_and_hands_over_before_its_context_fills(
        repo: Path, tmp_path: Path, hermetic: Path) -> None:
    need_cli("claude")
    import psutil

    orchestrated(repo, tmp_path)
    merged: list[str] = []
    with ModelServer(route=orchestrator_route(merged)) as srv:
        env = agent_env("claude", srv, hermetic)
        p = start_run(repo, env, "--interval", "0.2")
        try:
            wait_for(lambda: srv.routed)  # the first turn: the charter
            wait_for(lambda: flower(repo, "daemon", "list", "--json").stdout.count('"turn"') > 0)
            ids = [new_auto(repo, f"brief for the orchestrator {k}") for k in (1, 2, 3)]
            wait_for(lambda: all(on_main(repo, n) for n in ids), timeout=240)
            wait_for(lambda: json.loads(flower(repo, "baton", "show", "--json").stdout)
                     ["data"]["holder"] == "2", timeout=180)
            # the successor drives on: a fourth brief is merged under epoch 2
            n4 = new_auto(repo, "after the hand-off")
            wait_for(lambda: on_main(repo, n4), timeout=180)
            left = [c for c in psutil.Process(p.pid).children(recursive=True)
                    if c.is_running() and _env_of(c).get("FLOWER_DAEMON") == "1"]
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=60)
        log = "\n".join(r.text()[-300:] for r in srv.main_requests()[-3:])
        assert p.returncode == 0, err + log
        assert left == []  # the predecessor's agent process is gone
        assert srv.escapes() == []
    # the scripted orchestrator merged every brief (the tick dispatched them; no model call)
    assert sorted(set(merged), key=int) == sorted([*ids, n4], key=int)
    heads = [Path(pk).read_text().splitlines()[0] for pk in srv.routed]
    notes = [h for h in heads if h.startswith("# git flower: hand-off notes")]
    succ = [h for h in heads if h.startswith("# git flower: you succeed orchestrator daemon 1")]
    assert len(notes) == 1 and len(succ) == 1, heads
    baton = git(repo, "log", "--format=%s", "refs/flower/baton/main").stdout
    assert "epoch 1 held by daemon 1 (take)" in baton
    assert "epoch 2 held by daemon 2 (hand-off from daemon 1" in baton, baton
    pad = git(repo, "show", "flower/briefs:handoff/main.md").stdout
    assert "notes of the first orchestrator" in pad
    daemons = {d["id"]: d for d in json.loads(flower(repo, "daemon", "list", "--all",
                                                     "--json").stdout)["data"]}
    assert daemons["1"]["state"] == "retired" and daemons["2"]["successor_of"] == "1"
    assert daemons["1"]["context"]["fill"] >= 0.5
    assert all(d["turn"]["argv_bytes"] < 1024 for d in daemons.values() if d.get("turn"))
    # nothing lost, nothing twice: one attempt per brief, every signal consumed once
    ps = json.loads(flower(repo, "ps", "--all", "--json").stdout)["data"]
    assert sorted(d["id"] for d in ps) == sorted(f"{n}.1" for n in [*ids, n4])
    sigs = json.loads(flower(repo, "signal", "list", "--json").stdout)["data"]
    assert all(s["state"] in ("completed", "moot") for s in sigs), sigs
    assert len([s for s in sigs if s["kind"] == "auto_dispatch"]) == 4
    # the resumed session: every turn after a daemon's first resumed it (claude --resume)
    assert "1 succession(s)" in out


def _env_of(proc: Any) -> dict[str, str]:
    try:
        return dict(proc.environ())
    except Exception:  # noqa: BLE001 - gone or not ours
        return {}


def test_claude_orchestrator_idle_ticks_make_no_model_call(repo: Path, tmp_path: Path,
                                                           hermetic: Path) -> None:
    need_cli("claude")
    orchestrated(repo, tmp_path)
    with ModelServer(route=orchestrator_route([])) as srv:
        env = agent_env("claude", srv, hermetic)
        r = flower(repo, "run", "--agent", "claude", "--interval", "0.02", "--ticks", "101",
                   "--json", env=env, timeout=180)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["data"]["turns"] == 1
        assert len(srv.routed) == 1  # the first turn's packet, and no other
        assert len(srv.main_requests()) == 2  # its two model calls: read the packet, answer


def test_claude_orchestrator_killed_mid_turn_is_taken_over_with_what_was_in_flight(
        repo: Path, tmp_path: Path, hermetic: Path) -> None:
    need_cli("claude")
    import time

    orchestrated(repo, tmp_path)
    with ModelServer(route=orchestrator_route([], sleep_on_work=True)) as srv:
        env = agent_env("claude", srv, hermetic)
        p = start_run(repo, env, "--interval", "0.2")
        try:
            wait_for(lambda: srv.routed)
            n = new_auto(repo, "work while the orchestrator dies")
            wait_for(lambda: len(srv.routed) == 2)  # the turn that sleeps
            # its long command handed out (the merge that follows waits): mid-turn
            wait_for(lambda: srv.queue and srv.queue[0].command == f"git flower merge {n}")
            time.sleep(1.0)
            sigkill_tree(p.pid)  # the driver, mid-turn, its agent and the agent's command
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=30)
        q = start_run(repo, env, "--interval", "0.2")
        try:
            wait_for(lambda: len(srv.routed) >= 3)
        finally:
            q.send_signal(signal.SIGTERM)
            out, err = q.communicate(timeout=60)
        assert q.returncode == 0, err
    first = Path(srv.routed[2]).read_text()
    assert "you took lane main over from orchestrator daemon 1, which is gone" in first
    assert "daemon 1 died during its turn 2" in first
    assert f"(in flight) worker {n}.1 finished: done" in first
    baton = git(repo, "log", "--format=%s", "refs/flower/baton/main").stdout
    assert "epoch 2 held by daemon 2 (takeover from daemon 1" in baton


def test_codex_orchestrates_with_the_built_in_profile(repo: Path, tmp_path: Path,
                                                      hermetic: Path) -> None:
    """The built-in `codex` profile as a driven orchestrator: its sandbox gets the git
    directory as a writable root, its later turns resume the thread (`exec resume`)."""
    need_cli("codex")
    orchestrated(repo, tmp_path)
    merged: list[str] = []
    with ModelServer(route=orchestrator_route(merged, flower="$FLOWER_BIN")) as srv:
        env = agent_env("codex", srv, hermetic)
        p = subprocess.Popen([sys.executable, "-m", "flowergit", "run", "--agent", "codex",
                              "--interval", "0.2"], cwd=repo, env={**os.environ, **env},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL)
        try:
            wait_for(lambda: srv.routed)
            n = new_auto(repo, "a brief for codex to land")
            wait_for(lambda: on_main(repo, n), timeout=90)
        finally:
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert srv.escapes() == []
    assert merged == [n]
    daemons = json.loads(flower(repo, "daemon", "list", "--all", "--json").stdout)["data"]
    assert daemons[0]["session"]  # codex's thread id, resumed on the second turn
    log = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip(),
               "flower", "logs", "daemon-1.log").read_text()
    assert "turn 2 (resumed session)" in log, log[-2000:]
