"""A remote that lost history (recreated empty, restored from an older backup, force-pushed by
someone else): sync deletes nothing, stops with exit 4 and says what it saw; `--republish`
restores the remote from local state and every clone converges (issue: many machines)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import flower, flower_json, git
from sync_helpers import clone


def flower_refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/flower/",
               "refs/heads/flower/briefs").stdout


def seeded(tmp_path: Path, url: str) -> tuple[Path, Path]:
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    for k in (1, 2):
        assert flower(a, "brief", "new", f"brief {k}").returncode == 0
    assert flower(a, "signal", "emit", "note", "--data", "text=keep me").returncode == 0
    assert flower(a, "sync").returncode == 0
    assert flower(b, "sync").returncode == 0
    return a, b


@pytest.mark.slow  # seconds of real processes
def test_a_remote_recreated_empty_deletes_nothing_and_republish_restores_it(
        tmp_path: Path, served) -> None:
    bare, url = served
    a, b = seeded(tmp_path, url)
    before = flower_refs(a)
    shutil.rmtree(bare)
    git(tmp_path, "init", "-q", "--bare", str(bare))
    r = flower(a, "sync")
    assert r.returncode == 4, r.stderr
    assert "has no flower/briefs branch any more" in r.stderr and "recreated" in r.stderr
    assert "--republish" in r.stderr and "internal error" not in r.stderr
    assert flower_refs(a) == before  # nothing deleted, nothing moved
    doc = json.loads(flower(a, "sync", "--json").stdout)
    assert doc["ok"] is False and doc["error"]["code"] == "conflict"
    # republish: the remote gets this clone's state back; the other clone syncs as usual
    got = flower_json(a, "sync", "--republish")
    assert "refs/heads/flower/briefs" in got["pushed"]  # type: ignore[index]
    assert any("republishing" in w for w in got["warnings"])  # type: ignore[index]
    assert git(bare, "rev-parse", "refs/heads/flower/briefs").stdout.strip() == \
        git(a, "rev-parse", "refs/heads/flower/briefs").stdout.strip()
    assert flower(a, "sync").returncode == 0
    rb = flower(b, "sync")
    assert rb.returncode == 0, rb.stderr
    assert [x["title"] for x in flower_json(b, "brief", "list")] == ["brief 1", "brief 2"]  # type: ignore[union-attr,index]
    sigs = flower_json(b, "signal", "list")
    assert [s["kind"] for s in sigs] == ["note"]  # type: ignore[union-attr,index]


@pytest.mark.slow
def test_a_rewound_remote_is_told_and_nothing_is_renumbered(tmp_path: Path, served) -> None:
    bare, url = served
    a, b = seeded(tmp_path, url)
    backup = tmp_path / "backup.git"
    shutil.copytree(bare, backup)
    assert flower(a, "brief", "new", "brief 3").returncode == 0
    assert flower(a, "sync").returncode == 0
    assert flower(b, "sync").returncode == 0  # b has seen brief 3 published
    shutil.rmtree(bare)
    shutil.copytree(backup, bare)  # the server restored from the older backup
    before = flower_refs(b)
    r = flower(b, "sync")
    assert r.returncode == 4 and "went back to" in r.stderr and "rewound" in r.stderr, r.stderr
    assert flower_refs(b) == before
    assert flower(b, "sync", "--republish").returncode == 0
    r = flower(a, "sync")
    assert r.returncode == 0, r.stderr
    assert "renumbered" not in r.stderr
    for c in (a, b):
        got = {x["id"]: x["title"] for x in flower_json(c, "brief", "list")}  # type: ignore[union-attr]
        assert got == {1: "brief 1", 2: "brief 2", 3: "brief 3"}


@pytest.mark.slow
def test_a_remote_force_pushed_by_someone_else_is_told(tmp_path: Path, served) -> None:
    bare, url = served
    a, _ = seeded(tmp_path, url)
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", str(other))
    git(other, "commit", "-q", "--allow-empty", "-m", "unrelated")
    git(other, "push", "-q", "--force", str(bare), "HEAD:refs/heads/flower/briefs")
    r = flower(a, "sync")
    assert r.returncode == 4 and "does not descend from" in r.stderr, r.stderr


@pytest.mark.slow  # seconds of real processes
def test_claiming_an_unknown_signal_on_the_remote_is_not_found(tmp_path: Path, served) -> None:
    bare, url = served
    a, _ = seeded(tmp_path, url)
    before = git(bare, "for-each-ref", "refs/flower/claims/").stdout
    r = flower(a, "signal", "claim", "20990101T000000.000000-deadbeef-nope", "--remote", "origin")
    assert r.returncode == 3, r.stderr
    assert "no signal" in r.stderr and "internal error" not in r.stderr
    assert git(bare, "for-each-ref", "refs/flower/claims/").stdout == before


@pytest.mark.slow
def test_a_deposed_holder_cannot_claim_through_the_remote(tmp_path: Path, served) -> None:
    """A holder that was taken over on the remote, and comes back without syncing: its
    `signal claim --remote` verifies the remote baton in the same push and is refused."""
    import subprocess

    bare, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    holder = subprocess.Popen(["sleep", "300"])
    try:
        d = str(flower_json(a, "daemon", "checkin", "--role", "orchestrator", "--pid",
                            str(holder.pid))["id"])  # type: ignore[index]
        D = {"FLOWER_DAEMON": d}
        r = flower(a, "baton", "take", "--remote", "origin", env=D)
        assert r.returncode == 0, r.stderr
        for kind in ("first", "second"):
            assert flower(a, "signal", "emit", kind).returncode == 0
        assert flower(a, "sync").returncode == 0
        sigs = {s["kind"]: s["id"] for s in flower_json(a, "signal", "list")}  # type: ignore[union-attr,index]
        # while it holds the lane, the holder's remote claim goes through, fenced
        r = flower(a, "signal", "claim", sigs["first"], "--remote", "origin", env=D)
        assert r.returncode == 0, r.stderr
    finally:
        holder.kill()
        holder.wait()
    # on b, the holder is gone: another orchestrator takes the lane over on the remote
    assert flower(b, "sync").returncode == 0
    e = str(flower_json(b, "daemon", "checkin", "--role", "orchestrator")["id"])  # type: ignore[index]
    r = flower(b, "baton", "take", "--remote", "origin", env={"FLOWER_DAEMON": e})
    assert r.returncode == 0 and "taken over" in r.stdout + r.stderr, r.stdout + r.stderr
    before = git(bare, "for-each-ref", "refs/flower/").stdout
    # the deposed holder, back without a sync, tries to claim: refused, nothing written there
    r = flower(a, "signal", "claim", sigs["second"], "--remote", "origin", env=D)
    assert r.returncode == 4, r.stderr
    assert "lost the baton" in r.stderr and f"daemon {e}" in r.stderr, r.stderr
    assert git(bare, "for-each-ref", "refs/flower/").stdout == before
    # its other decisions (a dispatch record, a brief) travel by its sync: refused
    # too, nothing published; a person's sync later publishes them, and the remote's holder stays
    assert flower(a, "brief", "new", "decided while deposed", env=D).returncode == 0
    rec = git(a, "rev-parse", f"refs/flower/claims/{sigs['first']}").stdout.strip()
    git(a, "update-ref", "refs/flower/dispatch/1/1", rec)
    briefs_before = git(bare, "rev-parse", "refs/heads/flower/briefs").stdout
    before = git(bare, "for-each-ref", "refs/flower/").stdout  # (with the brief's id reserved)
    r = flower(a, "sync", env=D)
    assert r.returncode == 4 and "lost the baton" in r.stderr, r.stderr
    assert git(bare, "for-each-ref", "refs/flower/").stdout == before
    assert git(bare, "rev-parse", "refs/heads/flower/briefs").stdout == briefs_before
    r = flower(a, "sync")
    assert r.returncode == 0, r.stderr
    assert "refs/flower/dispatch/1/1" in git(bare, "for-each-ref", "refs/flower/dispatch/").stdout
    assert f'"{e}"' in git(bare, "show", "refs/flower/baton/main:record.json").stdout


@pytest.mark.slow
def test_the_same_field_edited_on_two_clones_is_a_recorded_conflict(tmp_path: Path, served) -> None:
    _, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    for k in (1, 2):
        assert flower(a, "brief", "new", f"brief {k}").returncode == 0
    assert flower(a, "sync").returncode == 0 and flower(b, "sync").returncode == 0
    assert flower(a, "brief", "set", "1", "title=from a").returncode == 0
    assert flower(b, "brief", "set", "1", "title=from b").returncode == 0
    # status: merged on one side is never undone by a stale blocked on the other
    assert flower(a, "brief", "set", "2", "status=merged").returncode == 0
    assert flower(b, "brief", "set", "2", "status=blocked").returncode == 0
    assert flower(a, "sync").returncode == 0
    r = flower(b, "sync")
    assert r.returncode == 0, r.stderr  # a conflict is recorded, not a failure
    assert "conflict: brief 1: title is 'from b' here and 'from a' on origin" in r.stderr
    assert "kept merged (a status never moves backwards)" in r.stderr
    doc = json.loads(flower(b, "sync", "--json").stdout)
    assert doc["ok"] is True
    for c in (a, b):
        assert flower(c, "sync").returncode == 0
    for c in (a, b):
        one = flower_json(c, "brief", "show", "1")
        assert one["title"] == "from b"  # type: ignore[index]
        assert one["conflicts"] == {"title": {"ours": "from b", "theirs": "from a"}}  # type: ignore[index]
        assert flower_json(c, "brief", "show", "2")["status"] == "merged"  # type: ignore[index]
    shown = flower(a, "brief", "show", "1").stdout
    assert "title was changed on two clones: 'from b' (kept) and 'from a'" in shown
    # status leads with it, with the command that acts on it
    st = flower_json(a, "status")
    assert st["sync_conflicts"] == [1]  # type: ignore[index]
    [item] = [x for x in st["attention"] if x["kind"] == "sync-conflict"]  # type: ignore[index,union-attr]
    assert item["ids"] == [1] and item["command"].startswith("git flower brief show 1")
    # `brief set` resolves it, and the resolution travels
    assert flower(a, "brief", "set", "1", "title=agreed").returncode == 0
    assert "conflicts" not in flower_json(a, "brief", "show", "1")  # type: ignore[operator]
    assert flower_json(a, "status")["sync_conflicts"] == []  # type: ignore[index]
    assert flower(a, "sync").returncode == 0 and flower(b, "sync").returncode == 0
    got = flower_json(b, "brief", "show", "1")
    assert got["title"] == "agreed" and "conflicts" not in got  # type: ignore[index,operator]


def test_a_big_push_goes_through_one_glob_and_still_refuses_to_overwrite(
        tmp_path: Path, served, monkeypatch: pytest.MonkeyPatch) -> None:
    """More than GLOB_OVER refs: staged under refs/flower-push/ and pushed with one glob
    refspec; a ref someone else created meanwhile is never overwritten (non-fast-forward), and
    the atomic push then moves nothing; the staging refs are gone afterwards."""
    from flowergit.gitio import remote as net
    from flowergit.gitio.repo import discover

    bare, url = served
    a = clone(tmp_path, url, "a")
    repo = discover(str(a))
    tip = git(a, "rev-parse", "HEAD").stdout.strip()
    other = git(a, "commit-tree", f"{tip}^{{tree}}", "-m", "someone else's").stdout.strip()
    monkeypatch.setattr(net, "GLOB_OVER", 3)
    ups = [net.Update(f"refs/flower/signals/s{i}", tip, None) for i in range(5)]
    git(a, "push", "-q", "origin", f"{other}:refs/flower/signals/s2")  # taken meanwhile
    res = net.push(repo, "origin", ups)
    assert not res.ok and "s2" in res.rejected()[0].ref
    assert git(bare, "rev-parse", "refs/flower/signals/s2").stdout.strip() == other
    assert git(bare, "for-each-ref", "refs/flower/signals/").stdout.count("\n") == 1
    assert git(a, "for-each-ref", "refs/flower-push/").stdout == ""
    git(bare, "update-ref", "-d", "refs/flower/signals/s2")
    res = net.push(repo, "origin", ups)
    assert res.ok and sorted(res.statuses) == sorted(u.ref for u in ups)
    assert git(bare, "for-each-ref", "refs/flower/signals/").stdout.count("\n") == 5
    assert git(a, "for-each-ref", "refs/flower-push/").stdout == ""


@pytest.mark.slow  # four clones racing for 60 s
def test_four_clones_racing_the_baton_never_take_over_a_live_holder(tmp_path: Path) -> None:
    """Four clones race for the baton through git daemon for 60 s with a 3 s lease; holders
    hold for a while, then release or die silently. No live holder is taken over, nor one within
    its lease of its last heartbeat that reached the remote; a deposed holder's `signal claim
    --remote` is refused with "lost the baton"."""
    import subprocess
    import sys

    from conftest import ROOT, make_repo
    from sync_helpers import git_daemon, served_remote

    seed = make_repo(tmp_path / "seed")
    with open(seed / ".flower.toml", "a") as f:
        f.write("\n[baton]\nlease = 3\n")
    git(seed, "commit", "-qam", "a 3 s lease")
    bare = served_remote(tmp_path, seed)
    lease, duration = 3.0, 60.0
    with git_daemon(bare.parent) as url:
        clones = [clone(tmp_path, f"{url}/proj.git", n) for n in "abcd"]
        racer = str(ROOT / "tests" / "fixtures" / "baton_racer.py")
        procs = [subprocess.Popen([sys.executable, racer, str(c), c.name, str(duration),
                                   str(lease)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for c in clones]
        outs = [p.communicate(timeout=duration + 120) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    events = sorted((json.loads(line) for out, _ in outs for line in out.splitlines()),
                    key=lambda e: e["t"])
    takes = [e for e in events if e["event"] == "take"]
    stops = {e["daemon"]: e["published"] for e in events if e["event"] == "stop"}
    assert len(takes) >= 4, events
    taken_over = {}
    for e in takes:
        if e.get("was"):
            prev = str(e["was"])
            # only a holder that died, and not within a lease of its last heartbeat that
            # reached the remote (a beat that cannot be published is no beat to others)
            assert prev in stops, (e, events)
            assert e["t"] >= stops[prev] + lease - 0.3, (e, stops[prev])
            taken_over[prev] = e["t"]
    assert taken_over, "no holder died silently and was taken over: the race did not race"
    refused = 0
    for e in events:
        if e["event"] != "deposed_claim":
            continue
        if e["daemon"] in taken_over and taken_over[e["daemon"]] < e["t"]:
            assert e["ok"] is False and "lost the baton" in e["message"], e
            refused += 1
    assert refused >= 1, events  # a deposed holder did come back, and was fenced


@pytest.mark.slow  # seconds of real processes
def test_a_published_brief_keeps_its_id_when_a_rewound_remote_took_another(
        tmp_path: Path, served) -> None:
    """Brief 3 published from a and seen by b; the remote goes back to a backup; c, cloned from
    the backup, publishes its own brief under 3. a's republish keeps 3 for the brief everyone saw
    and moves c's, saying so truthfully; b and c then converge without renumbering anything."""
    bare, url = served
    a, b = seeded(tmp_path, url)
    backup = tmp_path / "backup.git"
    shutil.copytree(bare, backup)
    assert flower(a, "brief", "new", "seen by everyone").returncode == 0
    assert flower(a, "sync").returncode == 0 and flower(b, "sync").returncode == 0
    shutil.rmtree(bare)
    shutil.copytree(backup, bare)
    c = clone(tmp_path, url, "c")
    assert flower_json(c, "brief", "new", "made on the backup")["id"] == 3  # type: ignore[index]
    assert flower(c, "sync").returncode == 0
    r = flower(a, "sync")
    assert r.returncode == 4 and "does not descend" in r.stderr, r.stderr
    got = flower_json(a, "sync", "--republish")
    ren = got["renumbered"]  # type: ignore[index]
    assert [(x["was"], x["now"], x["which"]) for x in ren] == [(3, 4, "theirs")]
    warn = " ".join(got["warnings"])  # type: ignore[index]
    assert "'made on the backup'" in warn and "published from this clone first" in warn
    assert "never published" not in warn
    for clone_ in (b, c, a):
        r = flower(clone_, "sync")
        assert r.returncode == 0 and "renumbered" not in r.stderr, r.stderr
    want = {1: "brief 1", 2: "brief 2", 3: "seen by everyone", 4: "made on the backup"}
    for clone_ in (a, b, c):
        assert {x["id"]: x["title"] for x in flower_json(clone_, "brief", "list")} == want  # type: ignore[union-attr]
    # the id claim of 3 on the remote is a's again
    assert git(bare, "rev-parse", "refs/flower/ids/3").stdout == git(a, "rev-parse", "refs/flower/ids/3").stdout
