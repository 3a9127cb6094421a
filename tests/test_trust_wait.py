"""`status` names the briefs whose commands wait for trust (what `tick` recorded), and `ps` shows a
corrupt dispatch ref as a row flagged `corrupt` with the repair, instead of skipping it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import flower, flower_json, git, make_repo
from tests.sync_helpers import clone, served_remote

STEPS = json.dumps([["sh", "-c", "echo ran > ran.txt"]])


@pytest.mark.slow
def test_tick_holds_an_untrusted_brief_and_status_says_so(tmp_path: Path) -> None:
    seed = make_repo(tmp_path / "seed")
    bare = served_remote(tmp_path, seed)
    a, b = clone(tmp_path, str(bare), "a"), clone(tmp_path, str(bare), "b")
    bid = int(flower_json(a, "brief", "new", "generate")["id"])  # type: ignore[index]
    assert flower(a, "brief", "set", str(bid), f"run={STEPS}", "auto_dispatch=true").returncode == 0
    assert flower(a, "sync").returncode == 0 and flower(b, "sync").returncode == 0
    assert flower(b, "trust").returncode == 0  # the config: not what this test is about
    assert flower_json(b, "status")["trust_wait"] == []  # type: ignore[index]
    flower_json(b, "brief", "plan", str(bid))  # queues its auto-dispatch here
    t = flower_json(b, "tick")
    assert t["dispatched"] == [] and t["blocked"] == [] and t["trust_wait"] == [bid]  # type: ignore[index]
    assert (f"brief {bid}: waits for trust (its run were not written on this machine; "
            f"`git flower trust brief {bid}`)") in t["actions"]  # type: ignore[index,operator]
    assert flower_json(b, "brief", "show", str(bid))["status"] == "planned"  # type: ignore[index]
    assert not list(tmp_path.glob("**/ran.txt"))  # nothing ran
    st = flower_json(b, "status")
    assert st["trust_wait"] == [bid]  # type: ignore[index]
    human = flower(b, "status")
    assert human.returncode == 0
    assert f"  1 brief(s) wait for trust: {bid}  → git flower trust brief {bid}\n" in human.stdout
    again = flower_json(b, "tick")  # nothing new: the signal was consumed, the brief still waits
    assert again["dispatched"] == [] and flower_json(b, "status")["trust_wait"] == [bid]  # type: ignore[index]
    # approved here: status stops saying so at once, and the next tick dispatches it
    assert flower(b, "trust", "brief", str(bid)).returncode == 0
    assert flower_json(b, "status")["trust_wait"] == []  # type: ignore[index]
    assert "wait for trust" not in flower(b, "status").stdout
    t = flower_json(b, "tick")
    assert [d["brief"] for d in t["dispatched"]] == [bid], t  # type: ignore[index]
    assert t["trusted_requeued"] == [bid]  # type: ignore[index]
    assert flower(b, "wait", str(bid), "--timeout", "60").returncode == 0
    assert len(list(tmp_path.glob("**/ran.txt"))) == 1


def test_ps_shows_a_corrupt_dispatch_ref(repo: Path) -> None:
    blob = git(repo, "hash-object", "-w", "--stdin", input=b"not a record\n").stdout.strip()
    git(repo, "update-ref", "refs/flower/dispatch/3/1", blob)
    rows = flower_json(repo, "ps")
    assert isinstance(rows, list) and len(rows) == 1
    row = rows[0]
    assert {k: row[k] for k in ("id", "brief", "attempt", "state", "ref", "oid", "hint")} == {
        "id": "3.1", "brief": 3, "attempt": 1, "state": "corrupt",
        "ref": "refs/flower/dispatch/3/1", "oid": blob,
        "hint": "git flower doctor --fix (moves it to refs/flower/lost/flower/dispatch/3/1)"}
    assert row["error"].startswith("it names a blob")
    r = flower(repo, "ps")
    assert r.returncode == 0
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("3.1"))
    assert "corrupt" in line and "refs/flower/dispatch/3/1: it names a blob" in line
    assert r.stderr == ("hint: 1 dispatch ref(s) corrupt (refs/flower/dispatch/3/1): "
                        "`git flower doctor --fix` moves them aside under refs/flower/lost/\n")
    assert flower(repo, "doctor", "--fix").returncode == 0
    assert flower_json(repo, "ps") == []
    assert git(repo, "rev-parse", "refs/flower/lost/flower/dispatch/3/1").stdout.strip() == blob
