"""The benchmark's smoke run (what CI runs): at small scale it runs to the end and prints every
row of DESIGN.md's budget table. No timing is asserted; the figures are the benchmark's job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

# the budget rows of DESIGN.md ("Budgets"), as bench/run.py names them
ROWS = ["brief list --json", "brief show N --json", "brief new --json", "signal claim --next",
        "status --json", "installed commit hooks", "merge N", "dispatch x"]


@pytest.mark.slow  # benchmark
def test_small_benchmark_runs_and_prints_every_budget_row(tmp_path: Path) -> None:
    md = tmp_path / "perf.md"
    raw = tmp_path / "perf.json"
    page = tmp_path / "performance.md"
    page.write_text((ROOT / "docs" / "performance.md").read_text())
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), TMPDIR=str(tmp_path))
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--scale", "small", "--reps", "1",
                        "--no-peer", "--markdown", str(md), "--json", str(raw), "--doc", str(page)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("command "))
    body = lines[header + 2:]
    for name in ROWS:
        assert any(ln.startswith(name) for ln in body), (name, r.stdout)
    assert any(ln.startswith("budgets: ") for ln in lines), r.stdout
    # and every other command against its floor, and why against git blame -L (bench_scale.py)
    assert "Every command against its floor" in r.stdout and "\ndoctor " in r.stdout
    assert "`why` in a" in r.stdout and "(oldest line)" in r.stdout
    doc = json.loads(raw.read_text())
    assert doc["machine"]["nproc"] and doc["machine"]["git"]
    got = {row["command"] for row in doc["rows"]}
    assert all(any(c.startswith(n) for c in got) for n in ROWS), got
    # every row was either measured or says why not
    for row in doc["rows"]:
        assert row["times"] or row["note"].startswith("not measured"), row
    table = md.read_text()
    assert table.count("\n| ") >= len(ROWS) + 1 and "Machine:" in table
    # the page's numbers were replaced, the rest of it kept
    text = page.read_text()
    numbers = text.split("<!-- bench:begin -->")[1].split("<!-- bench:end -->")[0]
    assert "| brief list --json |" in numbers and "## How cost grows" in text
    # nothing left behind in the scratch area
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("flower-bench-")]


def test_builders_write_what_git_flower_reads(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import build

    repo = build.init_repo(tmp_path / "r")
    build.history(repo, 50)
    build.dispatches(repo, 12, briefs=4)
    ids = build.signals(repo, 5)
    run = [sys.executable, "-m", "flowergit"]
    out = subprocess.run([*run, "ps", "--all", "--json"], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["data"]
    assert sorted(r["id"] for r in rows) == sorted(f"{b}.{a}" for b in range(1, 5) for a in range(1, 4))
    out = subprocess.run([*run, "signal", "claim", "--next", "--json"], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["data"]["id"] == ids[0]  # the oldest first
    log = subprocess.run(["git", "rev-list", "--count", "main"], cwd=repo, capture_output=True, text=True)
    assert int(log.stdout) == 51
