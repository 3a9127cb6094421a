"""`git flower web` over plain HTTP: the session token and CSRF on every action (403 and nothing
changes without them), hostile text rendered as text on every page, the CLI's refusals shown as
they are, the command's own refusals (a non-loopback host without auth, a port in use), the
house rules of the web package, and the examples of docs/web.md as written."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, flower, until
from web_helpers import HOSTILE, Site, serve_site, start_web, zombies

from flowergit.web.state import STATUS

@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from serve_site(tmp_path_factory)


# every action route, with a form that would change something if it were let in
ACTIONS = [
    ("/briefs", {"title": "should not exist", "spec": "x"}),
    ("/briefs/1/edit", {"text": "+++\nid = 1\n+++\n", "was": "0"}),
    ("/briefs/1/plan", {}),
    ("/briefs/1/dispatch", {}),
    ("/briefs/1/rework", {}),
    ("/briefs/1/merge", {"no_test": "1"}),
    ("/attempts/1.1/stop", {}),
    ("/attempts/1.1/send", {"text": "y", "enter": "1"}),
]


@pytest.mark.parametrize("path,form", ACTIONS, ids=[a[0] for a in ACTIONS])
def test_an_action_without_the_token_or_csrf_is_refused_and_changes_nothing(
        site: Site, path: str, form: dict[str, str]) -> None:
    before = site.refs()
    refused = [
        site.post(path, form, cookie=False, csrf=False),  # nothing at all
        site.post(path, form, cookie=False),  # the CSRF token alone
        site.post(path, form, csrf=False),  # the cookie alone
        site.post(path + f"?token={site.token}", form, cookie=False),  # a token in the URL
        site.post(path, form, headers={"Origin": "http://evil.example"}),  # another site's form
        site.post(path, form, headers={"Cookie": "flower_session=wrong"}, cookie=False),
        site.post(path, form, csrf=False, headers={"X-Flower-CSRF": "0" * 64}),
        site.post(path, form, cookie=False, csrf=False,
                  headers={"Authorization": "Bearer wrong"}),
    ]
    assert [r.status for r in refused] == [403] * len(refused)
    assert all("session token" in r.body for r in refused)
    assert site.refs() == before
    assert "should not exist" not in site.cli("brief", "list").stdout


def test_pages_need_the_token_and_the_token_url_sets_the_cookie(site: Site) -> None:
    assert site.get("/", auth=False).status == 403
    assert site.request("GET", "/?token=wrong").status == 403
    assert site.request("GET", "/events").status == 403
    r = site.request("GET", f"/?token={site.token}")
    assert r.status == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"flower_session={site.token}")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"
    # a request naming another host (DNS rebinding) is refused
    other = site.request("GET", "/", headers={"Host": "evil.example",
                                              "Cookie": f"flower_session={site.token}"})
    assert other.status == 400
    # the page's own script and htmx are served without the token (and carry nothing secret)
    assert site.get("/static/htmx.min.js", auth=False).status == 200
    assert site.get("/static/flower.js", auth=False).status == 200


def test_a_bearer_token_acts_without_cookie_or_csrf(site: Site) -> None:
    r = site.post("/briefs", {"title": "filed by a script"}, cookie=False, csrf=False,
                  headers={"Authorization": f"Bearer {site.token}"})
    assert r.status == 303, r.body
    n = int(r.headers["location"].rsplit("/", 1)[1])
    assert site.cli_json("brief", "show", str(n))["title"] == "filed by a script"  # type: ignore[index]


@pytest.mark.slow  # an agent, then every page
def test_hostile_text_is_text_on_every_page(site: Site) -> None:
    spec = f"# {HOSTILE}\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3))\n"
    r = site.post("/briefs", {"title": f"{HOSTILE} & \"quotes\"", "spec": spec})
    assert r.status == 303, r.body
    n = r.headers["location"].rsplit("/", 1)[1]
    steps = json.dumps([["sh", "-c", f"echo '{HOSTILE}'; echo '{HOSTILE}' > hostile.txt"]])
    assert site.cli("brief", "set", n, f"run={steps}").returncode == 0
    assert site.cli("signal", "emit", "note", "--brief", n, "--data", f"why={HOSTILE}").returncode == 0
    assert site.post(f"/briefs/{n}/dispatch").status == 303  # its supervisor: the server's child
    assert site.cli("wait", n, "--timeout", "60").returncode == 0
    until(lambda: not zombies(site.proc.pid), what="the server to reap the supervisor")
    pages = ["/", f"/briefs/{n}", f"/briefs/{n}/edit", f"/attempts/{n}.1",
             f"/attempts/{n}.1/diff", f"/merge/{n}", "/fleet", "/signals", f"/?q={HOSTILE}"]
    for path in pages:
        body = site.get(path).body
        assert HOSTILE not in body, path
        assert "<img src=x" not in body and 'href="javascript:' not in body, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;" in site.get("/").body
    assert "&lt;img src=x onerror=alert(2)&gt;" in site.get(f"/briefs/{n}").body
    diff = site.get(f"/attempts/{n}.1/diff").body
    assert "hostile.txt" in diff and "&lt;script&gt;alert(1)&lt;/script&gt;" in diff
    # the log streams as JSON text in server-sent events; the page inserts it as text
    r = subprocess.run(["curl", "-sN", "--max-time", "10", "-H",
                        f"Cookie: flower_session={site.token}",
                        f"{site.base}/attempts/{n}.1/log"], capture_output=True, text=True)
    events = [json.loads(ln[6:]) for ln in r.stdout.splitlines() if ln.startswith("data: \"")]
    assert any(HOSTILE in e for e in events), r.stdout
    assert HOSTILE not in r.stdout.replace(json.dumps(HOSTILE)[1:-1], "")


def test_a_refusal_is_the_clis_own(site: Site) -> None:
    """Planning a merged brief: the page shows the code, message and hint `brief plan` prints."""
    merged = next(b for b in site.cli_json("brief", "list")  # type: ignore[union-attr]
                  if b["status"] == "merged")
    cli = site.cli("brief", "plan", str(merged["id"]), "--json")
    err = json.loads(cli.stdout)["error"]
    page = site.post(f"/briefs/{merged['id']}/plan", htmx=True)
    assert page.status == STATUS[err["code"]]
    assert f"<strong>{err['code']}</strong>: {err['message']}" in page.body
    missing = site.get("/briefs/99999")
    assert missing.status == 404 and "not_found" in missing.body
    bad = site.get("/briefs/%D9%A1%D9%A2")  # Arabic-Indic digits: no brief id
    assert bad.status == 400 and "usage" in bad.body


def test_actions_are_the_clis(site: Site) -> None:
    """New, edit, plan through the page; the CLI sees each, and the brief's history says so."""
    r = site.post("/briefs", {"title": "from the page", "spec": "first spec", "kind": "bug"},
                  htmx=True, headers={"Origin": site.base})  # a browser's same-origin post
    assert r.status == 200 and r.headers["hx-redirect"].startswith("/briefs/"), r.body
    n = r.headers["hx-redirect"].rsplit("/", 1)[1]
    edit = site.get(f"/briefs/{n}/edit").body
    was = re.search(r'name="was" value="([0-9a-f]+)"', edit)[1]  # type: ignore[index]
    text = site.cli_json("brief", "show", n)
    raw = re.search(r'<textarea name="text"[^>]*>(.*?)</textarea>', edit, re.S)[1]  # type: ignore[index]
    import html

    new_text = html.unescape(raw).replace("first spec", "second spec")
    assert site.post(f"/briefs/{n}/edit", {"text": new_text, "was": was}).status == 303
    # the same edit again: the page's text is stale now, so nothing is written
    stale = site.post(f"/briefs/{n}/edit", {"text": new_text + "more", "was": was})
    assert stale.status == 409 and "changed since" in stale.body
    edit = site.get(f"/briefs/{n}/edit").body
    was = re.search(r'name="was" value="([0-9a-f]+)"', edit)[1]  # type: ignore[index]
    broken = site.post(f"/briefs/{n}/edit", {"text": "+++\nnot toml [\n+++\n", "was": was})
    assert broken.status == 400 and "usage" in broken.body
    assert site.post(f"/briefs/{n}/plan").status == 303
    shown = site.cli_json("brief", "show", n)
    assert shown["body"].strip() == "second spec" and shown["status"] == "planned"  # type: ignore[index]
    assert shown["kind"] == "bug" and text["kind"] == "bug"  # type: ignore[index]
    subjects = [e["subject"] for e in site.cli_json("brief", "log", n)]  # type: ignore[union-attr]
    assert any("edit" in s for s in subjects) and any("planned" in s for s in subjects)


def test_the_board_filters_and_searches(site: Site) -> None:
    body = site.get("/?q=refs+rail").body
    assert "Active refs rail" in body and "Retry a lost push" not in body
    body = site.get("/?status=planned").body
    assert "Retry a lost push" in body and "Active refs rail" not in body
    body = site.get("/?kind=idea").body
    assert "Group briefs by milestone" in body and "Active refs rail" not in body


@contextmanager
def events(site: Site) -> Iterator[Any]:
    """The page's event stream, read with curl as a browser holds it open; the first event
    (``hello``) already read."""
    proc = subprocess.Popen(["curl", "-sN", "--max-time", "20", "-H",
                             f"Cookie: flower_session={site.token}", f"{site.base}/events"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("event: hello")
        yield proc.stdout
    finally:
        proc.kill()
        proc.wait()


def test_the_events_stream_tells_of_a_change_made_from_the_cli(site: Site) -> None:
    with events(site) as stream:
        time.sleep(0.6)  # the watcher has read the refs once since the page started listening
        assert site.cli("brief", "new", "a change from the CLI").returncode == 0
        while True:
            line = stream.readline()
            assert line, "the stream ended without a change"
            if line.startswith("event: change"):
                break


def test_a_page_that_starts_listening_late_learns_of_a_change_made_before(site: Site) -> None:
    """The gap between a page's render and its stream: a change made in it is not lost."""
    shown = re.search(r'data-version="(\d+)"', site.get("/").body)[1]  # type: ignore[index]
    assert site.cli("brief", "new", "made before the page listened").returncode == 0
    with events(site) as stream:
        data = stream.readline()
    assert data.startswith("data: ")
    assert data.removeprefix("data: ").strip() != shown, data


# -- the command's own refusals ---------------------------------------------------------------
def test_a_host_other_than_loopback_needs_explicit_auth(repo: Path) -> None:
    r = flower(repo, "web", "--host", "0.0.0.0")
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith("fatal: --host 0.0.0.0 would let other machines reach the fleet")
    assert "hint: give --token-file FILE" in r.stderr


def test_without_the_web_extra_the_command_says_how_to_install_it(repo: Path, tmp_path: Path) -> None:
    fake = tmp_path / "shadow" / "starlette"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('not installed')\n")
    r = flower(repo, "web", env={"PYTHONPATH": str(tmp_path / "shadow")})
    assert r.returncode == 6, r.stderr
    assert "fatal: the web app needs the optional `web` packages" in r.stderr
    assert "hint: pip install 'git-flower[web]'" in r.stderr and r.stdout == ""


def test_a_short_token_file_is_refused(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("short\n")
    r = flower(repo, "web", "--token-file", str(tmp_path / "token"))
    assert r.returncode == 2 and "must be 32 or more" in r.stderr and "hint:" in r.stderr


def test_a_port_in_use_is_a_clear_refusal(repo: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = flower(repo, "web", "--port", str(port))
    assert r.returncode == 4, r.stderr
    assert f"fatal: port {port} on 127.0.0.1 is in use" in r.stderr
    assert "hint: give another with --port P" in r.stderr


def test_a_token_file_gives_the_session_its_token(repo: Path, tmp_path: Path) -> None:
    token = "t" * 20 + "-_" + "0123456789AB"
    (tmp_path / "token").write_text(token + "\n")
    proc, url = start_web(repo, dict(os.environ), "--token-file", str(tmp_path / "token"),
                          log=tmp_path / "web.log")
    try:
        assert url.endswith(f"/?token={token}")
        import urllib.request

        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(10)


# -- the house rules --------------------------------------------------------------------------
def test_only_the_web_command_imports_the_web_package_and_the_package_reads_through_ops() -> None:
    from test_layers import imports_of

    pkg = ROOT / "flowergit"
    importers = sorted(str(p.relative_to(pkg)) for p in pkg.rglob("*.py")
                       if "web" not in p.relative_to(pkg).parts[:1]
                       and "flowergit.web" in p.read_text()
                       and any(i.startswith("flowergit.web") for i in imports_of(p)))
    assert importers == ["cli/web.py"]
    for p in (pkg / "web").glob("*.py"):
        for imp in imports_of(p):
            assert not imp.startswith(("flowergit.gitio", "flowergit.cli", "pygit2")), (p, imp)
            assert not imp.startswith("flowergit.procs") or imp == "flowergit.procs", (p, imp)
            if imp.startswith("flowergit.state"):  # types and id grammars, no store
                assert imp in ("flowergit.state.ids", "flowergit.state.rawjson"), (p, imp)


def test_the_wheel_ships_the_templates_and_htmx_with_its_license() -> None:
    web = ROOT / "flowergit" / "web"
    assert (web / "static" / "htmx.min.js").read_text().startswith("var htmx=")
    assert "Zero-Clause BSD" in (web / "static" / "htmx.LICENSE").read_text()
    names = {p.name for p in (web / "templates").iterdir()}
    assert {"base.html", "board.html", "brief.html", "worker.html", "diff.html", "merge.html",
            "fleet.html", "signals.html"} <= names
    text = (ROOT / "pyproject.toml").read_text()
    assert 'packages = ["flowergit"]' in text  # hatch ships every file of the package
    for f in (web / "templates").iterdir():  # nothing loaded from elsewhere
        assert "http://" not in f.read_text() and "https://" not in f.read_text(), f


@pytest.mark.slow  # starts a server per example
def test_the_docs_examples_run_as_written(tmp_path: Path, repo: Path) -> None:
    text = (ROOT / "docs" / "web.md").read_text()
    block = text.split("<!-- web:examples -->", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    env = dict(os.environ, BROWSER="true")  # --open: the "browser" is `true URL`
    ran = 0
    for line in block.splitlines():
        cmd = line.split("  #", 1)[0].strip()
        if not cmd:
            continue
        if cmd.startswith("git flower web"):
            log = tmp_path / f"web{ran}.log"
            proc = subprocess.Popen(["bash", "-c", "exec " + cmd], cwd=repo, env=env,
                                    stdout=open(log, "wb"), stderr=subprocess.STDOUT)
            try:
                url = until(lambda: re.search(r"http://\S+/\?token=\S+", log.read_text()),
                            what=f"the URL of {cmd}")[0]
                url = re.sub(r"http://[^/]+", "http://127.0.0.1:" + url.split(":")[2].split("/")[0],
                             url)
                import urllib.request

                with urllib.request.urlopen(url, timeout=30) as r:
                    assert r.status == 200 and "git flower" in r.read().decode()
            finally:
                proc.terminate()
                proc.wait(10)
        else:
            r = subprocess.run(["bash", "-c", cmd], cwd=repo, env=env, capture_output=True,
                               text=True)
            assert r.returncode == 0, (cmd, r.stderr)
        ran += 1
    assert ran >= 3


# an agent in a terminal that asks, and writes what it was told into its worktree
ASKER = f"""#!{sys.executable}
import os, sys
sys.stdout.write("Allow this command? [y/N] ")
sys.stdout.flush()
answer = sys.stdin.readline().rstrip("\\n")
open(os.path.join(os.environ["FLOWER_WORKTREE"], "answer.txt"), "w").write(answer + "\\n")
print("got", answer, flush=True)
"""


@pytest.mark.slow  # two agents in tmux
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_send_answers_a_waiting_agent_and_stop_stops_one(site: Site, tmp_path: Path) -> None:
    from conftest import git, write_exe

    exe = write_exe(tmp_path / "asker", ASKER)
    cfg = site.repo / ".flower.toml"
    cfg.write_text(cfg.read_text() + f'\n[agents.asker]\ncommand = ["{exe}"]\ntmux = true\n')
    git(site.repo, "commit", "-qam", "agent asker")
    assert site.cli("trust").returncode == 0
    ids = []
    for title in ("asks a question", "asks and is stopped"):
        r = site.post("/briefs", {"title": title})
        n = r.headers["location"].rsplit("/", 1)[1]
        r = site.post(f"/briefs/{n}/dispatch", {"agent": "asker"})
        assert r.status == 303 and r.headers["location"] == f"/attempts/{n}.1", r.body
        ids.append(f"{n}.1")
    for did in ids:
        until(lambda: "waiting at a prompt" in site.get(f"/attempts/{did}").body, timeout=30,
              what=f"{did} to wait at its prompt")
    page = site.get(f"/attempts/{ids[0]}").body
    assert "Allow this command? [y/N]" in page and 'name="keys"' in page
    bad = site.post(f"/attempts/{ids[0]}/send", {"keys": "Return"}, htmx=True)
    assert bad.status == 400 and "unknown key &#39;Return&#39;" in bad.body
    assert site.post(f"/attempts/{ids[0]}/send", {"keys": "y Enter"}).status == 303
    assert site.cli("wait", ids[0], "--timeout", "30").returncode == 0
    diff = site.get(f"/attempts/{ids[0]}/diff").body
    assert "answer.txt" in diff and '<span class="da">+y</span>' in diff
    assert site.post(f"/attempts/{ids[1]}/stop").status == 303
    row = site.cli_json("ps")
    states = {r["id"]: r["state"] for r in row}  # type: ignore[union-attr]
    assert states[ids[1]] == "stopped", states


@pytest.mark.slow  # benchmark
def test_the_web_benchmark_runs_at_small_scale(tmp_path: Path) -> None:
    env = dict(os.environ)  # the default TMPDIR: Chromium's socket path must stay short
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_web.py"), "--briefs", "30",
                        "--refs", "5", "--reps", "1"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    for row in ("board, server: first request", "board, browser", "a change at the terminal",
                "refs listing, spawned", "refs listing, libgit2", "board first paint:"):
        assert row in r.stdout, (row, r.stdout)


@pytest.mark.slow  # an agent and a suite
def test_a_red_suite_refuses_the_merge_in_the_page(site: Site) -> None:
    r = site.post("/briefs", {"title": "breaks the suite"})
    n = r.headers["location"].rsplit("/", 1)[1]
    steps = json.dumps([["sh", "-c", "echo broken > BREAK"]])
    assert site.cli("brief", "set", n, f"run={steps}").returncode == 0
    assert site.post(f"/briefs/{n}/dispatch").status == 303
    assert site.cli("wait", n, "--timeout", "60").returncode == 0
    before = site.cli_json("why", "main")
    r = site.post(f"/briefs/{n}/merge", htmx=True)
    assert r.status == 200 and r.headers["hx-redirect"] == f"/merge/{n}", r.body
    page = until(lambda: (lambda b: b if "Refused" in b else None)(site.get(f"/merge/{n}").body),
                 timeout=60, what="the merge to end")
    assert "<strong>tests_failed</strong>" in page
    assert '<p class="counts" id="counts">10 tests: 7 passed, 1 failed, 2 skipped' in page
    assert "7 passed, 1 failed, 2 skipped" in page  # the suite's own log
    assert site.cli_json("why", "main") == before  # nothing landed
    assert site.cli_json("brief", "show", n)["status"] == "done"  # type: ignore[index]


@pytest.mark.slow  # a suite that takes a few seconds
def test_stopping_the_server_lets_a_running_merge_end(tmp_path: Path) -> None:
    import signal

    from conftest import OUTER_PATH, isolate
    from merge_helpers import SUITE, setup_repo

    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, tmp_path / "home", OUTER_PATH)
        env = dict(os.environ)
        repo = setup_repo(tmp_path, suite=SUITE.replace("import os, sys", "import os, sys, time\n"
                                                        "time.sleep(3)"))
    made = flower(repo, "brief", "new", "slow to test", "--json", env=env)
    n = str(json.loads(made.stdout)["data"]["id"])
    steps = json.dumps([["sh", "-c", "echo x > x.txt"]])
    assert flower(repo, "brief", "set", n, f"run={steps}", env=env).returncode == 0
    assert flower(repo, "dispatch", n, env=env).returncode == 0
    assert flower(repo, "wait", n, "--timeout", "60", env=env).returncode == 0
    proc, url = start_web(repo, env, log=tmp_path / "web.log")
    base, token = url.split("/?token=")
    s = Site(repo, base, token, env, proc, tmp_path / "web.log")
    r = s.post(f"/briefs/{n}/merge", cookie=False, csrf=False,
               headers={"Authorization": f"Bearer {token}"})
    assert r.status == 303, r.body
    until(lambda: "Merging" in s.get(f"/merge/{n}").body, what="the merge to start")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    assert "waiting for the merge of brief" in (tmp_path / "web.log").read_text()
    shown = json.loads(flower(repo, "brief", "show", n, "--json", env=env).stdout)["data"]
    assert shown["status"] == "merged"
    rec = json.loads(flower(repo, "recover", "--json", env=env).stdout)
    assert rec == {"version": 1, "ok": True, "data": []}  # no journal left: nothing to recover


def test_a_big_column_shows_its_newest_and_pages_through_the_rest(site: Site) -> None:
    lines = "".join(json.dumps({"title": f"bulk {i}", "status": "abandoned"}) + "\n"
                    for i in range(260))
    assert site.cli("brief", "import", "-", input=lines).returncode == 0
    board = site.get("/").body
    col = board.split('data-status="abandoned"', 1)[1].split("</section>", 1)[0]
    assert col.count('class="card') == 50 and "bulk 259" in col and "bulk 209" not in col
    assert 'href="/?status=abandoned">all 260 abandoned' in col
    first = site.get("/?status=abandoned").body
    assert first.count('class="card') == 200 and "page 1 of 2" in first and "bulk 60<" in first
    second = site.get("/?status=abandoned&page=2").body
    assert second.count('class="card') == 60 and "bulk 0<" in second and "page 2 of 2" in second
    assert "bulk 7<" in site.get("/?q=bulk+7&status=abandoned").body


@pytest.mark.slow  # an agent and a merge
def test_the_merge_page_shows_the_provenance_of_a_merge_made_at_the_terminal(site: Site) -> None:
    r = site.post("/briefs", {"title": "merged at the terminal"})
    n = r.headers["location"].rsplit("/", 1)[1]
    steps = json.dumps([["sh", "-c", "echo t > terminal.txt"]])
    assert site.cli("brief", "set", n, f"run={steps}").returncode == 0
    assert site.cli("dispatch", n).returncode == 0
    assert site.cli("wait", n, "--timeout", "60").returncode == 0
    assert site.cli("merge", n).returncode == 0
    why = site.cli_json("why", "main")
    note = why["provenance"]  # type: ignore[index]
    page = site.get(f"/merge/{n}").body
    prov = page.split('id="provenance"', 1)[1].split("</dl>", 1)[0]
    assert f'<a href="/attempts/{n}.1">{n}.1</a>' in prov
    assert f"<code>{note['head'][:10]}</code>" in prov and f"<code>{note['base'][:10]}</code>" in prov
    assert "10 tests, 8 passed, 0 failed, 2 skipped, 0 errors" in prov
    assert "8 passed, 0 failed, 2 skipped" in page.split('id="suite-log"', 1)[1]  # its suite's log
    assert f"refs/notes/flower on {why['merge'][:10]}" in page  # type: ignore[index]


@pytest.mark.slow  # two attempts of an agent
def test_rework_continues_on_the_briefs_branch(site: Site) -> None:
    r = site.post("/briefs", {"title": "needs a second pass"})
    n = r.headers["location"].rsplit("/", 1)[1]
    steps = json.dumps([["sh", "-c", "echo pass >> passes.txt"]])
    assert site.cli("brief", "set", n, f"run={steps}").returncode == 0
    assert site.post(f"/briefs/{n}/dispatch").headers["location"] == f"/attempts/{n}.1"
    assert site.cli("wait", n, "--timeout", "60").returncode == 0
    r = site.post(f"/briefs/{n}/rework")
    assert r.status == 303 and r.headers["location"] == f"/attempts/{n}.2", r.body
    assert site.cli("wait", f"{n}.2", "--timeout", "60").returncode == 0
    page = site.get(f"/briefs/{n}").body
    assert f'href="/attempts/{n}.1"' in page and f'href="/attempts/{n}.2"' in page
    diff = site.get(f"/attempts/{n}.2/diff").body  # the branch carries both passes
    assert diff.count('<span class="da">+pass</span>') == 2, diff


def test_the_fleet_page_shows_every_lane_with_a_baton(site: Site) -> None:
    """The default lane always (held or not), and every other lane whose baton someone took."""
    did = json.loads(site.cli("daemon", "checkin", "--role", "ops", "--json").stdout)["data"]["id"]
    assert site.cli("baton", "take", "--lane", "ops", "--daemon", str(did)).returncode == 0
    try:
        body = site.get("/fleet").body
        assert 'id="baton"' in body and "lane main" in body
        assert 'id="baton-ops"' in body and "lane ops" in body
        ops = body[body.index('id="baton-ops"'):]
        assert f"<dd>{did}</dd>" in ops[:ops.index("</dl>")]
    finally:
        site.cli("baton", "release", "--lane", "ops", "--daemon", str(did))
        site.cli("daemon", "retire", str(did))
