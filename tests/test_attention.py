"""Attention first: `status` leads with what needs the user, every list takes --limit, --format
and --porcelain (through the pager on a terminal), a red suite names its failing tests, and the
messages say what is wrong in words that teach."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import flower, flower_json, git, write_exe
from merge_helpers import finished, setup_repo

PY = sys.executable


def human_status(repo: Path) -> str:
    r = flower(repo, "status")
    assert r.returncode == 0, r.stderr
    return r.stdout


# -- status ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_status_leads_with_finished_work_and_the_command_that_merges_it(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    b = finished(repo, "Add subtract", {"calc.py": "def sub(a, b):\n    return a - b\n"})
    out = human_status(repo)
    lines = out.splitlines()
    assert lines[0] == "needs you:"
    assert lines[1].split() == ["1", "ready", "to", "merge:", str(b), "→", "git", "flower",
                                "merge", str(b)]
    # the finished attempt stays in the table although its agent has ended
    assert any(ln.startswith(f"{b}.1 ") and "done" in ln and "Add subtract" in ln for ln in lines)
    data = flower_json(repo, "status")
    assert data["attention"] == [{"kind": "ready", "ids": [b], "text": f"1 ready to merge: {b}",  # type: ignore[index]
                                  "command": f"git flower merge {b}"}]
    # two of them: the bare merge takes them all
    b2 = finished(repo, "Add multiply", {"mul.py": "x = 1\n"}, ended_at="2026-11-20T11:00:00Z")
    data = flower_json(repo, "status")
    assert data["attention"][0]["command"] == "git flower merge"  # type: ignore[index]
    assert data["attention"][0]["text"] == f"2 ready to merge: {b} {b2}"  # type: ignore[index]
    r = flower(repo, "merge", str(b))
    assert r.returncode == 0, r.stderr
    data = flower_json(repo, "status")
    assert data["attention"][0]["ids"] == [b2]  # type: ignore[index]
    assert [e["id"] for e in data["ended"]] == [f"{b2}.1"]  # type: ignore[index]


def test_status_names_a_failed_attempt_with_its_log_and_a_new_attempt(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    b = finished(repo, "Breaks", {"x.py": "x = 1\n"}, exit_code=3)
    data = flower_json(repo, "status")
    item = data["attention"][0]  # type: ignore[index]
    assert item["kind"] == "failed" and item["ids"] == [f"{b}.1"]
    assert item["text"] == f"{b}.1 failed (exit 3)"
    assert item["command"] == f"git flower logs {b}.1; git flower dispatch {b}"


def test_status_names_briefs_with_conflicting_edits_from_sync(repo: Path) -> None:
    """A brief whose file records a conflict sync could not settle (``[conflicts.KEY]``) is
    named in status from the list cache's header, through a change laid over from the patch
    file and a cache rebuilt from nothing alike; `brief set` of the field resolves it."""
    from test_scale import commit_to_briefs

    for t in ("one", "two", "three"):
        flower_json(repo, "brief", "new", t)
    assert flower_json(repo, "status")["sync_conflicts"] == []  # type: ignore[index]
    raw = git(repo, "show", "flower/briefs:briefs/0000/2.md").stdout
    front, _, body = raw.partition("+++\n")[2].partition("+++\n")
    conflicted = ("+++\n" + front + '\n[conflicts.title]\nours = "two"\ntheirs = "zwei"\n+++\n'
                  + body)
    commit_to_briefs(repo, {"briefs/0000/2.md": conflicted}, "sync: a conflict recorded")
    st = flower_json(repo, "status")
    assert st["sync_conflicts"] == [2]  # type: ignore[index]
    assert any(x["kind"] == "sync-conflict" and x["ids"] == [2]  # type: ignore[index]
               for x in st["attention"])  # type: ignore[index,union-attr]
    shown = flower(repo, "status").stdout
    assert "1 brief(s) with conflicting edits from sync: 2" in shown, shown
    (repo / ".git" / "flower" / "cache" / "briefs.json").unlink()  # rebuilt from nothing
    assert flower_json(repo, "status")["sync_conflicts"] == [2]  # type: ignore[index]
    assert flower(repo, "brief", "set", "2", "title=zwei").returncode == 0
    assert flower_json(repo, "status")["sync_conflicts"] == []  # type: ignore[index]


def test_status_says_when_nothing_needs_the_user(repo: Path) -> None:
    assert human_status(repo).splitlines()[0] == "nothing needs you"


def test_git_flower_alone_shows_the_status_in_a_repository_and_help_outside(repo: Path,
                                                                          tmp_path: Path) -> None:
    r = flower(repo)
    assert r.returncode == 0, r.stderr
    assert r.stdout == human_status(repo)
    outside = tmp_path / "nowhere"
    outside.mkdir()
    r = flower(outside)
    assert r.returncode == 0 and r.stdout.startswith("Usage: git flower")


# -- lists -----------------------------------------------------------------------------------
def briefs(repo: Path, n: int) -> None:
    lines = "".join(json.dumps({"title": f"brief {k}"}) + "\n" for k in range(1, n + 1))
    r = flower(repo, "brief", "import", "-", input=lines)
    assert r.returncode == 0, r.stderr


def test_brief_list_limit_on_every_form(repo: Path) -> None:
    briefs(repo, 7)
    r = flower(repo, "brief", "list", "--limit", "5", "--porcelain")
    assert r.returncode == 0, r.stderr
    assert [ln.split("\t")[0] for ln in r.stdout.splitlines()] == ["1", "2", "3", "4", "5"]
    r = flower(repo, "brief", "list", "-n", "2")
    assert r.stdout.splitlines()[1:] == ["1   draft   brief         brief 1",
                                         "2   draft   brief         brief 2"]
    assert r.stderr == "… 5 more (--limit 2; raise it or leave it out to see them)\n"
    assert len(flower_json(repo, "brief", "list", "--limit", "3")) == 3  # type: ignore[arg-type]
    r = flower(repo, "brief", "list", "--format", "%(id):%(title)", "--limit", "1")
    assert r.stdout == "1:brief 1\n"
    r = flower(repo, "brief", "list", "--limit", "-1")
    assert r.returncode == 2 and "fatal: --limit must be zero or more" in r.stderr
    r = flower(repo, "brief", "list", "--limit", "x")
    assert r.returncode == 2


@pytest.mark.slow
def test_ps_shows_titles_filters_and_takes_format_and_porcelain(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    a = finished(repo, "First thing", {"a.py": "a = 1\n"})
    b = finished(repo, "Second thing", {"b.py": "b = 1\n"}, exit_code=2)
    r = flower(repo, "ps")
    head, *rows = r.stdout.splitlines()
    assert head.split()[:3] == ["ID", "STATE", "TITLE"]
    assert "First thing" in rows[0] and "Second thing" in rows[1]
    r = flower(repo, "ps", "--format", "%(id) %(state)")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{a}.1 exited\n{b}.1 exited\n"
    r = flower(repo, "ps", "--porcelain")
    assert r.stdout.splitlines()[0].split("\t") == [f"{a}.1", "exited", "", "script", "", "1", "1",
                                                    f"flower/{a}-work", "First thing"]
    assert flower(repo, "ps", str(b), "--format", "%(id)").stdout == f"{b}.1\n"
    assert flower(repo, "ps", f"{a}.1", "--format", "%(id)").stdout == f"{a}.1\n"
    assert flower(repo, "ps", "--state", "exited", "--limit", "1", "--format",
                  "%(id)").stdout == f"{a}.1\n"
    assert flower(repo, "ps", "--state", "running", "--format", "%(id)").stdout == ""
    r = flower(repo, "ps", "--format", "%(nope)")
    assert r.returncode == 2 and "unknown field %(nope)" in r.stderr
    r = flower(repo, "ps", "--porcelain", "--json")
    assert r.returncode == 2


@pytest.mark.slow
def test_signal_and_daemon_lists_take_porcelain_format_and_limit(repo: Path) -> None:
    for k in ("alpha", "beta", "gamma"):
        assert flower(repo, "signal", "emit", k).returncode == 0
    r = flower(repo, "signal", "list", "--porcelain")
    assert r.returncode == 0, r.stderr
    rows = [ln.split("\t") for ln in r.stdout.splitlines()]
    assert [(x[1], x[3]) for x in rows] == [("alpha", "pending"), ("beta", "pending"),
                                             ("gamma", "pending")]
    r = flower(repo, "signal", "list", "--format", "%(kind)", "--limit", "2")
    assert r.stdout == "alpha\nbeta\n"
    r = flower(repo, "daemon", "checkin", "--role", "ops", "--json")
    assert r.returncode == 0, r.stderr
    did = json.loads(r.stdout)["data"]["id"]
    r = flower(repo, "daemon", "list", "--porcelain")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\t")[:2] == [str(did), "ops"]
    assert flower(repo, "daemon", "list", "--format", "%(role)").stdout == "ops\n"


def test_brief_log_takes_format(repo: Path) -> None:
    briefs(repo, 1)
    r = flower(repo, "brief", "log", "1", "--format", "%(subject)")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1 and "1" in r.stdout


def run_in_pty(repo: Path, args: list[str], env: dict[str, str | None],
               answer: bytes | None = None) -> str:
    """Run git flower with a terminal as its stdin, stdout and stderr; what it wrote there
    (``env``: variables to set, or with None to unset; ``answer`` is typed once it asks
    ``[y/N]``)."""
    main, child = pty.openpty()
    e = dict(os.environ)
    for k, v in env.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    p = subprocess.Popen([PY, "-m", "flowergit", *args], cwd=repo, stdin=child, stdout=child,
                         stderr=child, env=e, close_fds=True)
    os.close(child)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if answer is not None and b"[y/N]" in out:
                os.write(main, answer)
                answer = None
        elif p.poll() is not None:
            break
    p.wait(timeout=30)
    os.close(main)
    return out.decode("utf-8", "replace").replace("\r\n", "\n")


def test_lists_go_through_gits_pager_on_a_terminal(repo: Path, tmp_path: Path) -> None:
    briefs(repo, 3)
    seen = tmp_path / "paged.txt"
    pager = write_exe(tmp_path / "bin" / "mypager", f"#!/bin/sh\ncat > {seen}\necho PAGED\n")
    out = run_in_pty(repo, ["brief", "list", "--color", "never"], {"GIT_PAGER": str(pager)})
    assert "PAGED" in out
    assert seen.read_text().splitlines()[1:] == ["1   draft   brief         brief 1",
                                                  "2   draft   brief         brief 2",
                                                  "3   draft   brief         brief 3"]
    # core.pager when GIT_PAGER is unset; --no-pager anywhere, and git's own --no-pager
    # (it sets GIT_PAGER=cat), turn it off
    seen.unlink()
    git(repo, "config", "core.pager", str(pager))
    out = run_in_pty(repo, ["brief", "list", "--color", "never"],
                     {"GIT_PAGER": None, "PAGER": None})
    assert "PAGED" in out and "brief 3" in seen.read_text()
    out = run_in_pty(repo, ["brief", "list", "--no-pager", "--color", "never"],
                     {"GIT_PAGER": str(pager)})
    assert "PAGED" not in out and "brief 3" in out
    out = run_in_pty(repo, ["brief", "list", "--color", "never"], {"GIT_PAGER": "cat"})
    assert "PAGED" not in out and "brief 3" in out
    # piped: never a pager
    r = flower(repo, "brief", "list", env={"GIT_PAGER": str(pager)})
    assert "PAGED" not in r.stdout


# -- a red suite -----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_red_merge_names_its_failing_tests_and_the_logs_last_lines(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    b = finished(repo, "Breaks it", {"BREAK": "x\n"})
    r = flower(repo, "merge", str(b))
    assert r.returncode == 5, r.stderr
    err = r.stderr
    assert "failing tests:\n  t.case2\n" in err
    assert "1 failed, 2 skipped in 0.01s" in err.split("last lines of", 1)[1]
    fatal = [ln for ln in err.splitlines() if ln.startswith("fatal: ")][0]
    assert "(10 tests, 7 passed, 1 failed, 2 skipped, 0 errors); failing: t.case2; log: " in fatal
    r = flower(repo, "merge", str(b), "--json")
    doc = json.loads(r.stdout)
    assert doc["error"]["data"]["suite"]["failing"] == ["t.case2"]


def test_counts_a_suite_never_reported_are_unknown_not_zero(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, suite="#!/bin/sh\nexit 0\n")
    cfg = (repo / ".flower.toml").read_text().replace(', "{junit}"', "")
    (repo / ".flower.toml").write_text(cfg)
    git(repo, "commit", "-qam", "suite without junit")
    assert flower(repo, "trust").returncode == 0
    b = finished(repo, "Quiet suite", {"q.py": "q = 1\n"})
    r = flower(repo, "merge", str(b))
    assert r.returncode == 0, r.stderr
    assert "test counts unknown (no JUnit file and no summary line)" in r.stdout
    assert "0 tests" not in r.stdout


# -- words -----------------------------------------------------------------------------------
def test_a_missing_dispatch_or_brief_is_named_as_such(repo: Path) -> None:
    r = flower(repo, "logs", "99")
    assert r.returncode == 3
    assert r.stderr == ("fatal: there is no brief 99\n"
                        "hint: `git flower brief list` shows the briefs there are\n")
    briefs(repo, 1)
    r = flower(repo, "logs", "1")
    assert r.returncode == 3
    assert r.stderr == "fatal: brief 1 has no dispatch\nhint: `git flower dispatch 1` starts one\n"
    r = flower(repo, "stop", "1.2")
    assert r.stderr.startswith("fatal: there is no dispatch 1.2\n")


def test_version_is_a_command(repo: Path) -> None:
    from flowergit import __version__

    r = flower(repo, "version")
    assert (r.returncode, r.stdout) == (0, f"git flower {__version__}\n")


def test_color_and_no_pager_go_anywhere(repo: Path) -> None:
    briefs(repo, 1)
    r = flower(repo, "brief", "list", "--color", "always")
    assert r.returncode == 0 and "\x1b[" in r.stdout
    r = flower(repo, "brief", "--color=always", "list")
    assert r.returncode == 0 and "\x1b[" in r.stdout
    assert "\x1b[" not in flower(repo, "--color", "never", "brief", "list").stdout
    r = flower(repo, "ps", "--color", "sometimes")
    assert r.returncode == 2
    assert r.stderr.startswith("fatal: --color must be auto, always or never, not 'sometimes'")
    assert flower(repo, "brief", "list", "--no-pager").returncode == 0
    # after --, it is an argument like any other
    r = flower(repo, "brief", "new", "--", "--color")
    assert r.returncode == 0 and r.stdout == "brief 2: --color\n"


def test_toml_errors_name_the_table_or_key_in_tomls_words(repo: Path) -> None:
    cfg = repo / ".flower.toml"
    cfg.write_text('[flower]\ntarget = "main"\n[flower]\nmax_parallel = 2\n')
    r = flower(repo, "status")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == f"fatal: {cfg}:3:8: table [flower] is defined twice"
    cfg.write_text('[flower]\ntarget = "main"\nmax_parallel = 2\ntarget = "dev"\n')
    r = flower(repo, "status")
    assert r.stderr.splitlines()[0] == f"fatal: {cfg}:4:1: key flower.target is defined twice"
    assert "('" not in r.stderr


@pytest.mark.slow
def test_dispatch_and_stop_take_several_ids(repo: Path) -> None:
    briefs(repo, 2)
    for b in ("1", "2"):
        r = flower(repo, "brief", "set", b, 'run=[["sh","-c","echo x > x.txt"]]')
        assert r.returncode == 0, r.stderr
    r = flower(repo, "dispatch", "1", "2")
    assert r.returncode == 0, r.stderr
    assert [ln.split(":")[0] for ln in r.stdout.splitlines()] == ["dispatch 1.1", "dispatch 2.1"]
    r = flower(repo, "wait", "1", "2", "--timeout", "60")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["1.1: exited, exit 0", "2.1: exited, exit 0"]
    # both ended: stop refuses each, names both, exits with the conflict code
    r = flower(repo, "stop", "1", "2")
    assert r.returncode == 4
    assert r.stderr.splitlines()[-2] == "fatal: 2 of 2 failed: dispatch 1, dispatch 2"
    # a bad id stops nothing and dispatches nothing
    r = flower(repo, "dispatch", "1", "x")
    assert r.returncode == 2
    assert len(flower_json(repo, "ps")) == 2  # type: ignore[arg-type]


# -- merge on a terminal, dry runs, diffs -------------------------------------------------------
def test_merge_dry_run_lists_the_files_with_a_diffstat(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    b = finished(repo, "Two files", {"calc.py": "a = 1\nb = 2\nc = 3\n", "docs/x.md": "x\n"})
    r = flower(repo, "merge", str(b), "--dry-run")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    i = lines.index("  2 path(s) incoming; tree " + lines[1].split()[-1])
    assert lines[i + 1:i + 4] == ["  calc.py   |    3 +++",
                                  "  docs/x.md |    1 +",
                                  "  2 file(s) changed, 4 insertion(s)(+), 0 deletion(s)(-)"]
    data = flower_json(repo, "merge", str(b), "--dry-run")
    assert data["diffstat"] == [{"path": "calc.py", "added": 3, "deleted": 0},  # type: ignore[index]
                                {"path": "docs/x.md", "added": 1, "deleted": 0}]


def test_diff_shows_an_attempts_change_through_gits_pager(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    b = finished(repo, "Change", {"calc.py": "a = 1\n"})
    r = flower(repo, "diff", str(b))
    assert r.returncode == 0, r.stderr
    assert " calc.py | 1 +\n" in r.stdout and "+a = 1\n" in r.stdout
    assert flower(repo, "diff", f"{b}.1", "--stat").stdout == (
        " calc.py | 1 +\n 1 file changed, 1 insertion(+)\n")
    data = flower_json(repo, "diff", str(b))
    assert data["files"] == [{"path": "calc.py", "added": 1, "deleted": 0}]  # type: ignore[index]
    # on a terminal, git's pager shows it
    seen = tmp_path / "paged.diff"
    pager = write_exe(tmp_path / "bin" / "dpager", f"#!/bin/sh\ncat > {seen}\n")
    run_in_pty(repo, ["diff", str(b)], {"GIT_PAGER": str(pager)})
    assert "+a = 1" in re.sub(r"\x1b\[[0-9;]*m", "", seen.read_text())
    r = flower(repo, "diff", "77")
    assert r.returncode == 3 and r.stderr.startswith("fatal: there is no brief 77")


SLOW_SUITE = """#!/bin/sh
for i in 1 2 3 4 5 6; do echo "suite step $i"; sleep 0.3; done
echo '<testsuite name="s"><testcase classname="t" name="a"/></testsuite>' > "$1"
"""


@pytest.mark.slow
def test_merge_on_a_terminal_shows_the_suite_live_with_an_estimate(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, suite=SLOW_SUITE)
    first = finished(repo, "One", {"one.py": "x = 1\n"})
    out = run_in_pty(repo, ["merge", str(first)], {})
    assert f"merged brief {first}" in out
    assert f"brief {first}: running the suite" in out
    assert "│ suite step " in out
    assert " of ~" not in out  # no run of this command before: no estimate
    second = finished(repo, "Two", {"two.py": "x = 2\n"})
    out = run_in_pty(repo, ["merge", str(second)], {})
    assert " of ~1s" in out or " of ~2s" in out
    assert f"merged brief {second}" in out
    # piped, nothing but the lines it always printed
    third = finished(repo, "Three", {"three.py": "x = 3\n"})
    r = flower(repo, "merge", str(third))
    assert "running the suite" not in r.stderr + r.stdout and r.returncode == 0


def pty_answer(repo: Path, args: list[str], answer: bytes) -> str:
    """Run git flower on a terminal, type ``answer`` once it asks; all it wrote."""
    return run_in_pty(repo, args, {}, answer)


@pytest.mark.slow
def test_a_bare_merge_asks_on_a_terminal_before_landing_several(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    a = finished(repo, "A", {"a.py": "a = 1\n"})
    b = finished(repo, "B", {"b.py": "b = 1\n"}, ended_at="2026-11-20T11:00:00Z")
    out = pty_answer(repo, ["merge"], b"n\n")
    assert f"2 finished briefs would be merged into main, in this order: {a} {b}" in out
    assert "nothing was merged" in out
    assert [e["kind"] for e in flower_json(repo, "status")["attention"]] == ["ready"]  # type: ignore[index]
    out = pty_answer(repo, ["merge"], b"y\n")
    assert f"merged brief {a}" in out and f"merged brief {b}" in out
    c = finished(repo, "C", {"c.py": "c = 1\n"})
    d = finished(repo, "D", {"d.py": "d = 1\n"})
    out = pty_answer(repo, ["merge", "--yes"], b"n\n")
    assert "[y/N]" not in out and f"merged brief {c}" in out and f"merged brief {d}" in out


# -- notifications ---------------------------------------------------------------------------
def notify_to(repo: Path, tmp_path: Path) -> Path:
    """A notify command that appends its arguments, one event a line, to a file."""
    got = tmp_path / "notified.txt"
    exe = write_exe(tmp_path / "bin" / "note", f"#!/bin/sh\necho \"$*|$FLOWER_EVENT\" >> {got}\n")
    git(repo, "config", "flower.notify", json.dumps([str(exe), "{event}", "{id}", "{message}"]))
    return got


@pytest.mark.slow
def test_the_notify_command_hears_of_finished_failed_merged_and_red(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    got = notify_to(repo, tmp_path)
    briefs(repo, 2)
    assert flower(repo, "brief", "set", "1", 'run=[["sh","-c","echo x > x.txt"]]').returncode == 0
    assert flower(repo, "brief", "set", "2", 'run=[["sh","-c","exit 4"]]').returncode == 0
    assert flower(repo, "dispatch", "1", "2").returncode == 0
    assert flower(repo, "wait", "1", "2", "--timeout", "60").returncode == 0
    lines = sorted(got.read_text().splitlines())
    assert lines == ["done 1.1 git flower: 1.1 finished, ready to merge: brief 1|done",
                     "failed 2.1 git flower: 2.1 failed: brief 2|failed"]
    got.unlink()
    r = flower(repo, "merge", "1")
    assert r.returncode == 0, r.stderr
    assert got.read_text() == "merged 1.1 git flower: brief 1 merged|merged\n"
    got.unlink()
    b = finished(repo, "Red one", {"BREAK": "x\n"})
    assert flower(repo, "merge", str(b)).returncode == 5
    assert got.read_text() == (f"red {b}.1 git flower: brief {b} refused: the suite is red "
                               f"(failing: t.case2)|red\n")


def test_a_notify_setting_that_does_not_parse_breaks_nothing(repo: Path) -> None:
    git(repo, "config", "flower.notify", "notify-send hello")  # not a JSON list
    briefs(repo, 1)
    assert flower(repo, "brief", "set", "1", 'run=[["sh","-c","echo x > x.txt"]]').returncode == 0
    assert flower(repo, "dispatch", "1").returncode == 0
    r = flower(repo, "wait", "1", "--timeout", "60")
    assert r.stdout == "1.1: exited, exit 0\n"


def test_watch_events_are_the_attempts_that_ended_or_began_to_wait() -> None:
    from flowergit.ops.notify import events

    rows = [{"id": "1.1", "state": "running", "outcome": None},
            {"id": "2.1", "state": "running", "outcome": None}]
    marks, got = events(None, rows)
    assert got == []  # the first look reports nothing
    later = [{"id": "1.1", "state": "exited", "outcome": "done"},
             {"id": "2.1", "state": "waiting", "outcome": None, "waiting": {"prompt": "Go on?"}},
             {"id": "3.1", "state": "exited", "outcome": "failed"}]
    marks, got = events(marks, later)
    assert [(e, r["id"]) for e, r in got] == [("done", "1.1"), ("waiting", "2.1"),
                                              ("failed", "3.1")]
    marks, got = events(marks, later)
    assert got == []


@pytest.mark.slow
def test_watch_rings_the_terminal_when_an_attempt_ends(repo: Path, tmp_path: Path) -> None:
    briefs(repo, 1)
    go = tmp_path / "go"
    r = flower(repo, "brief", "set", "1",
               f'run=[["sh","-c","while [ ! -e {go} ]; do sleep 0.1; done; echo x > x.txt"]]')
    assert r.returncode == 0
    assert flower(repo, "dispatch", "1").returncode == 0
    main, child = pty.openpty()
    p = subprocess.Popen([PY, "-m", "flowergit", "watch", "--interval", "0.3", "--count", "40"],
                         cwd=repo, stdin=child, stdout=child, stderr=child, close_fds=True)
    os.close(child)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                out += os.read(main, 65536)
            except OSError:
                break
        if b"running" in out and not go.exists():
            go.touch()
    p.wait(timeout=60)
    os.close(main)
    assert go.exists()
    assert b"\x07" in out


def test_watch_alerts_are_a_bell_an_osc_9_notification_or_nothing(
        capfd: pytest.CaptureFixture[str]) -> None:
    from flowergit.render.watch import alert, alert_mode

    assert [alert_mode(x) for x in (None, "OSC9", "none", "loud")] == ["bell", "osc9", "none",
                                                                       "bell"]
    alert("bell", "1.1 done")
    alert("osc9", "git flower: 1.1 finished\x1b[31m")
    alert("none", "nothing")
    assert capfd.readouterr().out == "\x07\x1b]9;git flower: 1.1 finished\\x1b[31m\x07"


def test_status_names_a_finished_attempt_that_no_longer_merges(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    b = finished(repo, "Edit the readme", {"README.md": "agent version\n"})
    ok = finished(repo, "Elsewhere", {"other.py": "x = 1\n"}, ended_at="2026-11-20T11:00:00Z")
    (repo / "README.md").write_text("main version\n")
    git(repo, "commit", "-qam", "main edits README")
    data = flower_json(repo, "status")
    assert data["conflicts"] == {f"{b}.1": ["README.md"]}  # type: ignore[index]
    kinds = {a["kind"]: a for a in data["attention"]}  # type: ignore[index]
    assert kinds["ready"]["ids"] == [ok]
    assert kinds["conflict"] == {"kind": "conflict", "ids": [f"{b}.1"],
                                 "text": f"{b}.1 conflicts with main: README.md",
                                 "command": f"git flower dispatch {b} --rework"}
    # asked again, the answer comes from the cache: the same, with no merge-tree run
    env = {"GIT_TRACE": str(tmp_path / "trace")}
    r = flower(repo, "status", "--json", env=env)
    assert json.loads(r.stdout)["data"]["conflicts"] == {f"{b}.1": ["README.md"]}
    assert "merge-tree" not in (tmp_path / "trace").read_text()


def test_status_names_a_daemon_whose_process_is_gone(repo: Path) -> None:
    p = subprocess.Popen(["sleep", "60"])
    try:
        r = flower(repo, "daemon", "checkin", "--role", "ops", "--pid", str(p.pid), "--json")
        assert r.returncode == 0, r.stderr
        did = json.loads(r.stdout)["data"]["id"]
        assert flower_json(repo, "status")["stale_daemons"] == []  # type: ignore[index]
    finally:
        p.kill()
        p.wait()
    data = flower_json(repo, "status")
    item = [a for a in data["attention"] if a["kind"] == "daemon"]  # type: ignore[index]
    assert item == [{"kind": "daemon", "ids": [did],
                     "text": f"daemon {did} (ops) is dead: process {p.pid} on "
                             f"{os.uname().nodename} is gone",
                     "command": f"git flower daemon retire {did}"}]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None and not os.environ.get("CI"), reason="no tmux")
def test_the_notify_command_hears_when_an_agent_waits_at_a_prompt(repo: Path, tmp_path: Path,
                                                                   rec_dir: Path) -> None:
    from conftest import until
    from test_dispatch import add_agent, new_brief, wait_all
    from test_interactive import ASKER, PROMPT

    got = notify_to(repo, tmp_path)
    exe = write_exe(tmp_path / "bin" / "asker", ASKER)
    add_agent(repo, "asker", [str(exe)], extra="tmux = true\n")
    bid = new_brief(repo, "asks")
    assert flower(repo, "dispatch", str(bid), "--agent", "asker").returncode == 0
    until(lambda: got.exists() and "waiting" in got.read_text(), what="the waiting event")
    assert got.read_text() == (f"waiting {bid}.1 git flower: {bid}.1 waits for input: asks "
                               f"({PROMPT})|waiting\n")
    data = flower_json(repo, "status")
    assert data["attention"][0] == {  # type: ignore[index]
        "kind": "waiting", "ids": [f"{bid}.1"], "text": f"{bid}.1 waits for input: {PROMPT}",
        "command": f"git flower send {bid}.1 TEXT --enter"}
    assert flower(repo, "send", str(bid), "--key", "y", "--key", "Enter").returncode == 0
    wait_all(repo, bid)
    until(lambda: got.read_text().count("\n") == 2, what="the done event")
    assert got.read_text().splitlines()[1].startswith(f"no-changes {bid}.1 ")  # it wrote nothing


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None and not os.environ.get("CI"), reason="no tmux")
def test_status_names_finished_work_a_waiting_worker_and_a_queued_auto_brief_together(
        tmp_path: Path) -> None:
    """The three things a person must act on at once, each with its command: a finished
    attempt (merge), an agent waiting at a prompt (send), and work queued behind the cap
    (a dispatch waiting for a slot, an auto brief no orchestrator has taken)."""
    from conftest import until
    from test_dispatch import add_agent, new_brief
    from test_interactive import ASKER, PROMPT

    repo = setup_repo(tmp_path)
    cfg = repo / ".flower.toml"
    cfg.write_text(cfg.read_text().replace("max_parallel = 4", "max_parallel = 1"))
    git(repo, "commit", "-qam", "one slot")
    done = finished(repo, "Finished work", {"f.py": "x = 1\n"})
    rec = tmp_path / "rec"
    rec.mkdir()
    exe = write_exe(tmp_path / "bin" / "asker", ASKER)
    add_agent(repo, "asker", [str(exe)], env={"REC_DIR": str(rec)}, extra="tmux = true\n")
    ask = new_brief(repo, "asks")
    try:
        assert flower(repo, "dispatch", str(ask), "--agent", "asker").returncode == 0
        until(lambda: any(a["kind"] == "waiting" for a in
                          flower_json(repo, "status")["attention"]),  # type: ignore[index]
              what="the waiting worker")
        queued = new_brief(repo, "behind the cap")
        assert flower(repo, "dispatch", str(queued), "--agent", "asker").returncode == 0
        auto = flower_json(repo, "brief", "new", "automatic", "--auto")["id"]  # type: ignore[index]
        assert flower(repo, "brief", "plan", str(auto)).returncode == 0
        items = {a["kind"]: a for a in flower_json(repo, "status")["attention"]}  # type: ignore[index]
        assert items["ready"]["command"] == f"git flower merge {done}"
        assert items["waiting"]["text"] == f"{ask}.1 waits for input: {PROMPT}"
        assert items["waiting"]["command"] == f"git flower send {ask}.1 TEXT --enter"
        assert items["queue"]["ids"] == [f"{queued}.1"]
        assert items["queue"]["command"] == "git flower ps --state queued"
        assert items["auto"]["command"] == "git flower tick"
        shown = human_status(repo)
        for cmd in (f"git flower merge {done}", f"git flower send {ask}.1 TEXT --enter",
                    "git flower ps --state queued", "git flower tick"):
            assert cmd in shown, shown
        assert shown.splitlines()[0] == "needs you:"
    finally:
        flower(repo, "stop", str(ask), str(queued))
