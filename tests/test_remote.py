"""Claims made directly against a remote (ops/sync/claims.py), the primitives behind
`brief new --remote`, `signal claim --remote` and `baton take --remote` (FAULTS 24, 37, 41)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import git
from sync_helpers import clone, remote_refs

CLAIMER = r"""
import json, sys
from flowergit.errors import Conflict
from flowergit.ops import sync as remote
from flowergit.ops.context import Ctx
ctx = Ctx()
won = []
for sig in sys.argv[1].split(","):
    ref = "refs/flower/claims/" + sig
    # every clone claims with the *same* payload: uniqueness comes from clone id + nonce
    commit = remote.claim_commit(ctx.repo, {"v": 1, "signal": sig, "by": "worker"}, "claim " + sig)
    try:
        remote.create(ctx, "origin", ref, commit)
        won.append(sig)
    except Conflict:
        pass
print(json.dumps(won))
"""


@pytest.fixture(autouse=True)
def fresh_env():  # type: ignore[no-untyped-def]
    """In-process calls: the runner caches the scrubbed environment; each test has its own HOME."""
    from flowergit.gitio import runner

    runner._env_cache = None
    yield
    runner._env_cache = None


def ctx_for(path: Path):  # type: ignore[no-untyped-def]
    from flowergit.ops.context import Ctx

    return Ctx(cwd=str(path))


@pytest.mark.slow  # stress
def test_three_clones_claim_the_same_signals_exactly_once(tmp_path: Path, served) -> None:
    bare, url = served
    clones = [clone(tmp_path, url, c) for c in "abc"]
    sigs = [f"20261121T000000-{i:08x}" for i in range(30)]
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, ",".join(sigs)], cwd=c,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in clones]
    wins: Counter[str] = Counter()
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()
        wins.update(json.loads(out))
    assert sorted(wins) == sorted(sigs) and set(wins.values()) == {1}
    claims = remote_refs(bare, "refs/flower/claims/")
    assert len(claims) == 30
    # each winner holds, locally, exactly the commit the remote holds
    for c in clones:
        mine = remote_refs(c, "refs/flower/claims/")
        assert all(claims[r] == o for r, o in mine.items())


@pytest.mark.slow
def test_identical_claim_commits_cannot_both_win(tmp_path: Path, served) -> None:
    """FAULTS finding 8: the same commit pushed twice with an expect-absent lease "succeeds"
    twice; a claim must treat "already there" as a loss."""
    from flowergit.errors import Conflict
    from flowergit.ops import sync as remote

    bare, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    env = {"GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
    tree = git(a, "mktree", input=b"").stdout.strip()
    ca = git(a, "commit-tree", tree, "-m", "same claim", env=env).stdout.strip()
    cb = git(b, "commit-tree", tree, "-m", "same claim", env=env).stdout.strip()
    assert ca == cb
    remote.create(ctx_for(a), "origin", "refs/flower/claims/x", ca)
    with pytest.raises(Conflict):
        remote.create(ctx_for(b), "origin", "refs/flower/claims/x", cb)
    # with claim_commit the payload may be identical and the commits still differ
    rec = {"v": 1, "signal": "y", "by": "same"}
    c1 = remote.claim_commit(ctx_for(a).repo, rec, "claim y")
    c2 = remote.claim_commit(ctx_for(b).repo, rec, "claim y")
    assert c1 != c2
    remote.create(ctx_for(a), "origin", "refs/flower/claims/y", c1)
    with pytest.raises(Conflict) as lost:
        remote.create(ctx_for(b), "origin", "refs/flower/claims/y", c2)
    assert lost.value.exit == 4 and "held by same" in lost.value.message
    assert remote_refs(bare)["refs/flower/claims/y"] == c1


@pytest.mark.slow
def test_baton_race_through_the_remote(tmp_path: Path, served) -> None:
    """Two clones move the baton from the same commit: one wins, the loser learns the holder."""
    from flowergit.errors import Conflict
    from flowergit.ops import sync as remote

    bare, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    ref = "refs/flower/baton/main"
    ca, cb = ctx_for(a), ctx_for(b)
    first = remote.claim_commit(ca.repo, {"v": 1, "holder": "nobody", "epoch": 1}, "baton")
    remote.create(ca, "origin", ref, first)
    git(b, "fetch", "-q", "origin", f"{ref}:{ref}")
    old, rec = remote.remote_value(cb, "origin", ref)
    assert old == first and rec is not None and rec["epoch"] == 1
    na = remote.claim_commit(ca.repo, {"v": 1, "holder": "daemon-a", "epoch": 2}, "a takes", first)
    nb = remote.claim_commit(cb.repo, {"v": 1, "holder": "daemon-b", "epoch": 2}, "b takes", first)
    remote.move(ca, "origin", ref, na, first, what="baton take")
    with pytest.raises(Conflict) as lost:
        remote.move(cb, "origin", ref, nb, first, what="baton take")
    assert "held by daemon-a" in lost.value.message
    assert remote_refs(bare)[ref] == na


@pytest.mark.slow
def test_lease_is_explicit_even_after_a_background_fetch(tmp_path: Path, served) -> None:
    """FAULTS 41: a fetch between our read and our push must not make a stale push succeed."""
    from flowergit.errors import Conflict
    from flowergit.ops import sync as remote

    bare, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    ref = "refs/flower/baton/main"
    ca, cb = ctx_for(a), ctx_for(b)
    base = remote.claim_commit(ca.repo, {"holder": "x"}, "baton")
    remote.create(ca, "origin", ref, base)
    old, _ = remote.remote_value(cb, "origin", ref)  # b reads
    moved = remote.claim_commit(ca.repo, {"holder": "a"}, "a", base)
    remote.move(ca, "origin", ref, moved, base)  # a moves it
    git(b, "fetch", "-q", "origin")  # a background fetch updates b's remote-tracking refs
    stale = remote.claim_commit(cb.repo, {"holder": "b"}, "b", base)
    with pytest.raises(Conflict):
        remote.move(cb, "origin", ref, stale, old)
    assert remote_refs(bare)[ref] == moved


def test_atomic_push_is_all_or_nothing(tmp_path: Path, served) -> None:
    """FAULTS 37: one stale lease rejects the whole push; the remote is unchanged."""
    from flowergit.gitio import remote as net

    bare, url = served
    a = clone(tmp_path, url, "a")
    ca = ctx_for(a)
    tip = git(a, "rev-parse", "HEAD").stdout.strip()
    before = remote_refs(bare)
    res = net.push(ca.repo, "origin", [
        net.Update("refs/flower/claims/fresh", tip, None),
        net.Update("refs/heads/flower/briefs", tip, "0" * 40 if len(tip) == 40 else "0" * 64),
    ])
    assert not res.ok and len(res.rejected()) == 2
    assert remote_refs(bare) == before


def test_unreachable_remote_is_retry(tmp_path: Path, repo: Path) -> None:
    from flowergit.gitio import remote as net
    from flowergit.ops import sync as remote

    git(repo, "remote", "add", "origin", "git://127.0.0.1:1/x.git")
    c = ctx_for(repo)
    with pytest.raises(net.RemoteUnreachable) as e:
        remote.create(c, "origin", "refs/flower/claims/z",
                      remote.claim_commit(c.repo, {"v": 1}, "claim"))
    assert e.value.exit == 75
    assert git(repo, "rev-parse", "-q", "--verify", "refs/flower/claims/z", check=False).returncode != 0


@pytest.mark.parametrize("name", ["--upload-pack=touch PWNED", "-x", "a b", "../x", "", "x/../y"])
def test_remote_names_are_validated(repo: Path, name: str) -> None:
    from flowergit.errors import UsageError
    from flowergit.gitio import remote as net

    with pytest.raises(UsageError):
        net.check_name(ctx_for(repo).repo, name)
    assert not (repo / "PWNED").exists()


def test_a_won_remote_claim_keeps_a_divergent_local_value(tmp_path: Path, served) -> None:
    from flowergit.ops import sync as remote

    _, url = served
    a = clone(tmp_path, url, "a")
    ca = ctx_for(a)
    ref = "refs/flower/baton/main"
    local_only = remote.claim_commit(ca.repo, {"holder": "offline move"}, "local")
    git(a, "update-ref", ref, local_only)
    won = remote.claim_commit(ca.repo, {"holder": "a"}, "take")
    remote.create(ca, "origin", ref, won)
    assert git(a, "rev-parse", ref).stdout.strip() == won
    kept = git(a, "for-each-ref", "--format=%(objectname)", "refs/flower/lost/baton/").stdout.split()
    assert kept == [local_only]


@pytest.mark.slow
def test_record_helpers_for_signal_claims_and_the_baton(tmp_path: Path, served) -> None:
    from flowergit.errors import Conflict
    from flowergit.ops import sync as remote

    bare, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    ca, cb = ctx_for(a), ctx_for(b)
    ref = "refs/flower/claims/20261121T000000-00000001"
    head = remote.create_record(ca, "origin", ref, {"v": 1, "claimer": "daemon a"}, "claim")
    assert head.record["clone"] and head.record["nonce"]
    with pytest.raises(Conflict) as lost:
        remote.create_record(cb, "origin", ref, {"v": 1, "claimer": "daemon a"}, "claim")
    assert "held by daemon a" in lost.value.message

    baton = "refs/flower/baton/main"

    def take(who: str):  # type: ignore[no-untyped-def]
        def change(cur):  # type: ignore[no-untyped-def]
            if cur and cur.get("holder") not in (None, who):
                raise Conflict(f"baton held by {cur['holder']}")
            return {"v": 1, "holder": who, "epoch": (cur or {}).get("epoch", 0) + 1}
        return change

    first = remote.update_record(ca, "origin", baton, take("daemon a"), "take")
    assert first is not None and first.record["epoch"] == 1
    with pytest.raises(Conflict) as held:
        remote.update_record(cb, "origin", baton, take("daemon b"), "take")
    assert "held by daemon a" in held.value.message
    again = remote.update_record(ca, "origin", baton, take("daemon a"), "heartbeat")
    assert again is not None and again.record["epoch"] == 2
    assert remote_refs(bare)[baton] == again.commit
    parents = git(bare, "rev-list", "--parents", "-1", baton).stdout.split()
    assert parents[1] == first.commit  # a chain: each move names the exact old commit
