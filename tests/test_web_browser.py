"""`git flower web` in a real headless Chromium (Debian's `chromium`, which `.ci/run` installs;
Playwright drives it, no browser download): file a brief in the page, dispatch a fake agent,
watch its log stream in, read the diff, merge through the suite, see the provenance; a second
tab follows every change live, the CLI's too; hostile text stays text and no dialog ever opens.
A screenshot of each page is saved (FLOWER_WEB_SHOTS=DIR; FLOWER_DOCS_SHOTS=1 writes them into
docs/web/ for docs/web.md)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, flower
from web_helpers import HOSTILE, Site, serve_site


def chromium() -> str:
    """The system Chromium, or a skip (a failure under CI=true) that says how to install it."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if exe is None:
        problem = "no chromium on PATH"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed"
    if problem is None:
        assert exe is not None
        return exe
    how = "`apt-get install chromium` and `pip install -e '.[test]'` (.ci/run does both)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{problem} (CI=true: the browser tests must run); {how}")
    pytest.skip(f"{problem}; {how}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from serve_site(tmp_path_factory)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Any]:
    exe = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


# read at import: the hermetic fixture takes FLOWER* variables out of each test's environment
SHOTS = os.environ.get("FLOWER_WEB_SHOTS")
DOCS_SHOTS = os.environ.get("FLOWER_DOCS_SHOTS") == "1"


def shots_dir(tmp: Path) -> list[Path]:
    out = [Path(SHOTS or tmp / "shots")]
    if DOCS_SHOTS:
        out.append(ROOT / "docs" / "web")
    for d in out:
        d.mkdir(parents=True, exist_ok=True)
    return out


@pytest.mark.slow  # a browser, an agent and a merge: several seconds
def test_the_fleet_in_a_browser(site: Site, browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    dirs = shots_dir(tmp_path)
    dialogs: list[str] = []
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    a = context.new_page()
    b = context.new_page()  # the second tab: the same session, another page
    for p in (a, b):
        p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        p.on("pageerror", lambda e: errors.append(str(e)))

    def shot(page: Any, name: str) -> None:
        for d in dirs:
            page.screenshot(path=str(d / f"{name}.png"), full_page=False)

    def column(page: Any, status: str) -> Any:
        return page.locator(f'section.column[data-status="{status}"]')

    # the URL printed opens the board; the token leaves the address bar for the cookie
    a.goto(f"{site.base}/?token={site.token}")
    expect(a.locator("#live-state")).to_have_class("live-state on")
    assert "token=" not in a.url
    b.goto(f"{site.base}/")
    expect(b.locator("#live-state")).to_have_class("live-state on")
    expect(column(b, "draft")).to_contain_text("Active refs rail")

    # file a brief in tab A, with a hostile title; tab B sees it appear
    a.goto(f"{site.base}/new")
    a.fill('input[name="title"]', f"Greet the world {HOSTILE}")
    a.fill('textarea[name="spec"]', "Write `hello.py`, which prints a greeting.\n\n"
           f"- say hello\n- never run {HOSTILE}\n")
    shot(a, "new")
    a.click("form.stack button[type=submit]")
    a.wait_for_url("**/briefs/*")
    n = a.url.rsplit("/", 1)[1]
    expect(a.locator("h1 .title")).to_have_text(f"Greet the world {HOSTILE}")
    expect(column(b, "draft")).to_contain_text(f"Greet the world {HOSTILE}")

    # the fake agent: the script agent's steps, set from the CLI (tab A follows that too)
    steps = [["sh", "-c", "echo 'agent: starting'; sleep 0.6; "
              f"echo 'agent: {HOSTILE}'; sleep 0.6; "
              "printf 'def main():\\n    print(\"hello, world\")\\n\\n\\nmain()\\n' > hello.py; "
              "echo 'agent: wrote hello.py'"]]
    assert site.cli("brief", "set", n, f"run={json.dumps(steps)}").returncode == 0
    expect(a.locator("#run")).to_contain_text("run steps")
    shot(a, "brief")

    # dispatch from the page: the worker page streams the log in, as text
    a.click("form[action$='/dispatch'] button")
    a.wait_for_url(f"**/attempts/{n}.1")
    expect(a.locator("#log")).to_contain_text("agent: starting")
    expect(b.locator('section.column:is([data-status="dispatched"], [data-status="done"]) .card',
                     has_text="Greet the world")).to_have_count(1)
    expect(a.locator("#log")).to_contain_text(f"agent: {HOSTILE}")
    expect(a.locator("#log")).to_contain_text("agent: wrote hello.py")
    expect(a.locator("#worker-state")).to_have_text("exited")
    shot(a, "worker")

    # the diff, highlighted for the file's language
    a.click("a.button:has-text('diff')")
    a.wait_for_url(f"**/attempts/{n}.1/diff")
    expect(a.locator("#diff")).to_contain_text('print("hello, world")')
    assert a.locator("#diff .da .nf").count() >= 1  # a Python function name, highlighted
    shot(a, "diff")

    # merge through the test gate; the result, the counts and the provenance appear
    a.goto(f"{site.base}/merge/{n}")
    a.click("form[action$='/merge'] button[type=submit]")
    expect(a.locator("#result")).to_contain_text("merged", timeout=60_000)
    expect(a.locator("#counts")).to_contain_text("10 tests: 8 passed, 0 failed, 2 skipped")
    expect(a.locator("#suite-log")).to_contain_text("8 passed, 0 failed, 2 skipped")
    expect(a.locator("#provenance")).to_contain_text(f"{n}.1")
    expect(a.locator("#provenance")).to_contain_text("script")
    expect(column(b, "merged")).to_contain_text("Greet the world")
    shot(a, "merge")
    why = site.cli_json("why", "main")
    assert why["provenance"]["dispatch"] == f"{n}.1"  # type: ignore[index]

    # a change made from the CLI reaches the open board (bench/bench_web.py: within a second)
    assert site.cli("brief", "new", "Filed at the terminal").returncode == 0
    expect(column(b, "draft")).to_contain_text("Filed at the terminal")
    b.bring_to_front()
    shot(b, "board")

    # the fleet (daemons, baton, workers) and the signals
    assert site.cli("signal", "emit", "review", "--brief", n, "--data", "by=web").returncode == 0
    a.goto(f"{site.base}/fleet")
    expect(a.locator("#baton")).to_contain_text("nobody")
    did = site.cli_json("daemon", "checkin", "--role", "orchestrator")["id"]  # type: ignore[index]
    r = flower(site.repo, "baton", "take", env={**site.env, "FLOWER_DAEMON": str(did)})
    assert r.returncode == 0, r.stderr
    expect(a.locator("#baton")).to_contain_text("held")  # live, from the CLI
    expect(a.locator("#daemons")).to_contain_text("orchestrator")
    shot(a, "fleet")
    a.goto(f"{site.base}/signals")
    expect(a.locator("#signals")).to_contain_text("review")
    shot(a, "signals")

    # a refusal in the page is the CLI's: planning a merged brief
    a.goto(f"{site.base}/briefs/{n}")
    a.click("form[action$='/plan'] button")
    expect(a.locator("#flash .error")).to_contain_text("only draft or blocked briefs can be planned")

    assert dialogs == [], dialogs
    assert errors == [], errors
    for d in dirs:
        assert {p.name for p in d.glob("*.png")} >= {
            "board.png", "new.png", "brief.png", "worker.png", "diff.png", "merge.png",
            "fleet.png", "signals.png"}
    context.close()
