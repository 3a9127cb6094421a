"""`git flower tick` reads its queue of signals in a constant number of git processes: one
listing of the refs, one `cat-file --batch` for the records, and the briefs' statuses from
the list cache, however many signals wait. Counted (GIT_TRACE), never timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import flower, flower_json


def emit(repo: Path, briefs: range) -> None:
    """One pending auto_dispatch signal per brief, queued by one Python process (the same
    `signals.emit` that `git flower signal emit` runs)."""
    code = ("import sys\nfrom flowergit.gitio.repo import discover\n"
            "from flowergit.state import signals\n"
            "r = discover('.')\nr = r[0] if isinstance(r, tuple) else r\n"
            "for b in sys.argv[1:]:\n"
            "    signals.emit(r, 'auto_dispatch', brief=int(b), by='test')\n")
    subprocess.run([sys.executable, "-c", code, *map(str, briefs)], cwd=repo, check=True)


def tick_git_calls(repo: Path, tmp_path: Path) -> tuple[dict[str, object], list[str]]:
    trace = tmp_path / f"trace-{len(os.listdir(tmp_path))}.txt"
    r = flower(repo, "tick", "--json", env={"GIT_TRACE": str(trace)})
    assert r.returncode == 0, r.stderr
    calls = [ln.split("built-in: ", 1)[1] for ln in trace.read_text().splitlines()
             if "trace: built-in: git " in ln]
    return json.loads(r.stdout)["data"], calls


@pytest.mark.slow  # scale
def test_tick_git_processes_do_not_grow_with_pending_signals(repo: Path, tmp_path: Path) -> None:
    (repo / ".flower.toml").write_text(
        (repo / ".flower.toml").read_text().replace("max_parallel = 4", "max_parallel = 1"))
    lines = [json.dumps({"title": "busy", "run": [["sleep", "60"]]})]
    lines += [json.dumps({"title": f"waiting {i}", "status": "planned"}) for i in range(300)]
    flower_json(repo, "brief", "import", "-", input="\n".join(lines) + "\n")
    flower_json(repo, "brief", "plan", "1")
    r = flower(repo, "dispatch", "1", "--agent", "script")
    assert r.returncode == 0, r.stderr
    traces = tmp_path / "traces"
    traces.mkdir()
    try:
        emit(repo, range(2, 12))  # 10 signals, each for its own planned brief
        flower_json(repo, "brief", "list")  # the list cache is current, as in a running fleet
        few, few_calls = tick_git_calls(repo, traces)
        emit(repo, range(12, 302))  # 300
        many, many_calls = tick_git_calls(repo, traces)
        for t in (few, many):  # the cap is full: every signal stays pending, nothing is written
            assert t["dispatched"] == [] and t["mooted"] == [] and t["running"] == 1, t
        pending = [s for s in flower_json(repo, "signal", "list")  # type: ignore[union-attr]
                   if s["kind"] == "auto_dispatch" and s["state"] == "pending"]
        assert len(pending) == 300
        assert len(many_calls) == len(few_calls), "\n".join(few_calls + ["--"] + many_calls)
        assert len(many_calls) <= 15, many_calls
        assert not any(c.startswith("git cat-file blob") for c in many_calls), many_calls
    finally:
        flower(repo, "stop", "1")
