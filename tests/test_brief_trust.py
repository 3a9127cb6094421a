"""Commands a brief carries (``run`` steps, an ``agent`` override) run only where they were
written or approved (FAULTS 70): a brief synced from another clone waits for `git flower trust`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import flower, flower_json, make_repo
from tests.sync_helpers import clone, served_remote

STEPS = json.dumps([["sh", "-c", "echo ran > ran.txt"]])


@pytest.mark.slow
def test_run_steps_synced_from_another_clone_wait_for_trust(tmp_path: Path) -> None:
    seed = make_repo(tmp_path / "seed")
    bare = served_remote(tmp_path, seed)
    a, b = clone(tmp_path, str(bare), "a"), clone(tmp_path, str(bare), "b")
    bid = int(flower_json(a, "brief", "new", "generate")["id"])  # type: ignore[index]
    assert flower(a, "brief", "set", str(bid), f"run={STEPS}").returncode == 0
    assert flower(a, "sync").returncode == 0
    assert flower(b, "sync").returncode == 0
    assert flower_json(b, "brief", "show", str(bid))["run"] == json.loads(STEPS)  # type: ignore[index]
    r = flower(b, "dispatch", str(bid))
    assert r.returncode == 2, r.stderr
    assert f"brief {bid} carries commands (run)" in r.stderr
    assert f"hint: review them (`git flower brief show {bid}`), then run `git flower trust brief {bid}`" in r.stderr
    assert not list((tmp_path).glob("**/ran.txt"))  # nothing was executed
    assert flower(b, "trust", "brief", str(bid)).returncode == 0
    d = flower(b, "dispatch", str(bid), "--json")
    assert d.returncode == 0, d.stderr
    assert flower(b, "wait", str(bid), "--timeout", "60").returncode == 0
    wt = Path(json.loads(d.stdout)["data"]["worktree"])
    assert (wt / "ran.txt").read_text() == "ran\n"
    # the author's own clone ran its steps without a trust step; a changed step is new code
    assert flower(a, "dispatch", str(bid), "--json").returncode == 0
    assert flower(a, "brief", "set", str(bid), 'run=[["sh", "-c", "echo other"]]').returncode == 0
    assert flower(a, "sync").returncode == 0 and flower(b, "sync").returncode == 0
    r = flower(b, "dispatch", str(bid), "--rework")
    assert r.returncode == 2 and "trust brief" in r.stderr, r.stderr


@pytest.mark.slow
def test_trust_without_ids_approves_every_untrusted_brief(tmp_path: Path) -> None:
    seed = make_repo(tmp_path / "seed")
    bare = served_remote(tmp_path, seed)
    a, b = clone(tmp_path, str(bare), "a"), clone(tmp_path, str(bare), "b")
    for t in ("x", "y"):
        bid = flower_json(a, "brief", "new", t)["id"]  # type: ignore[index]
        steps = json.dumps([["sh", "-c", f"echo {t} > ran.txt"]])
        assert flower(a, "brief", "set", str(bid), "agent=script", f"run={steps}").returncode == 0
    assert flower(a, "sync").returncode == 0 and flower(b, "sync").returncode == 0
    got = flower_json(b, "trust", "brief")
    assert [x["id"] for x in got["briefs"]] == [1, 2] and got["approved"] == 2  # type: ignore[index]
    assert flower_json(b, "trust", "brief")["briefs"] == []  # type: ignore[index]
