"""`signal claim --remote` and `baton take --remote` through a real `git daemon` remote."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import flower, flower_json
from sync_helpers import clone, remote_refs

EMIT = r"""
import sys
from flowergit.gitio.repo import discover
from flowergit.state import signals
repo = discover()
for i in range(int(sys.argv[1])):
    signals.emit(repo, "probe", data={"n": i})
"""

CLAIM_LOOP = r"""
import json, subprocess, sys
won = []
while True:
    r = subprocess.run([sys.executable, "-m", "flowergit", "signal", "claim", "--next", "--kind",
                        "probe", "--remote", "origin", "--json"], capture_output=True, text=True)
    if r.returncode == 0:
        won.append(json.loads(r.stdout)["data"]["id"])
    elif r.returncode == 3:
        break
    elif r.returncode != 4:
        sys.exit("claim exited %d: %s" % (r.returncode, r.stderr))
print(json.dumps(won))
"""


# Each claim is a fetch and an atomic push through git daemon, about 0.25 s of CPU on the quiet
# 2-core machine; 60 signals (the full size, `slow`) are ~80 claim attempts with the races, a
# few dozen seconds alone and several times that at load 8, hence the timeout (200 took 105 s
# quiet and showed nothing 60 does not); 6 keep a three-way race (each clone claims while the
# others push) in the quick suite at a few seconds.
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("n", [6, pytest.param(60, marks=pytest.mark.slow)])
def test_three_clones_claim_n_signals_through_the_remote_exactly_once(tmp_path: Path, served,  # type: ignore[no-untyped-def]
                                                                      n: int) -> None:
    bare, url = served
    a, b, c = (clone(tmp_path, url, name) for name in "abc")
    subprocess.run([sys.executable, "-c", EMIT, str(n)], cwd=a, check=True)
    assert flower(a, "sync").returncode == 0
    assert len(remote_refs(bare, "refs/flower/signals/")) == n
    procs = [subprocess.Popen([sys.executable, "-c", CLAIM_LOOP], cwd=x, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for x in (a, b, c)]
    wins: Counter[str] = Counter()
    for p in procs:
        out, err = p.communicate(timeout=1200)
        assert p.returncode == 0, err.decode()
        wins.update(json.loads(out))
    claims = remote_refs(bare, "refs/flower/claims/")
    assert len(claims) == n and len(wins) == n and set(wins.values()) == {1}
    # the remote's claim names exactly the clone that was told it won
    for x in (a, b, c):
        mine = remote_refs(x, "refs/flower/claims/")
        assert all(claims.get(r) == o for r, o in mine.items())
    # nothing left: exit 3, not a hang or a false win
    assert flower(b, "signal", "claim", "--next", "--remote", "origin").returncode == 3


@pytest.mark.slow
def test_claim_by_id_through_the_remote_loser_told_who(tmp_path: Path, served) -> None:  # type: ignore[no-untyped-def]
    bare, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    sig = flower_json(a, "signal", "emit", "probe")["id"]
    assert flower(a, "sync").returncode == 0
    first = flower(b, "signal", "claim", sig, "--remote", "origin", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["data"]["id"] == sig  # the signal came along from the remote
    second = flower(a, "signal", "claim", sig, "--remote", "origin")
    assert second.returncode == 4 and "already claimed on origin by" in second.stderr
    bad = flower(a, "signal", "claim", "--next", "--remote", "nope")
    assert bad.returncode == 2


@pytest.mark.slow
def test_baton_race_through_the_remote_one_wins_loser_named(tmp_path: Path, served) -> None:  # type: ignore[no-untyped-def]
    bare, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    ids = {x: flower_json(x, "daemon", "checkin", "--role", "orchestrator")["id"] for x in (a, b)}
    procs = {x: subprocess.Popen([sys.executable, "-m", "flowergit", "baton", "take", "--remote",
                                  "origin", "--daemon", ids[x]], cwd=x, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for x in (a, b)}
    results = {x: (p.wait(timeout=120), p.stderr.read()) for x, p in procs.items()}
    codes = sorted(rc for rc, _ in results.values())
    assert codes == [0, 4], results
    winner = next(x for x, (rc, _) in results.items() if rc == 0)
    loser = next(x for x in (a, b) if x != winner)
    assert f"held by daemon {ids[winner]}" in results[loser][1] or ids[winner] in results[loser][1]
    held = remote_refs(bare, "refs/flower/baton/")
    assert list(held) == ["refs/flower/baton/main"]
    assert remote_refs(winner, "refs/flower/baton/") == held
