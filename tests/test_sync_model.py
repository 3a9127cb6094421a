"""Sync as a state machine (FAULTS d.6): two clones and a bare remote; random interleavings of
local writes and syncs. Invariants after every step: the remote never regresses, no brief id is
used twice, and after both sync, both clones and the remote agree and nothing written is lost."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import flower, git, make_repo
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule


class TwoClones(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="flower-sync-model-"))
        seed = make_repo(self.tmp / "seed")
        self.bare = self.tmp / "r.git"
        git(self.tmp, "clone", "-q", "--bare", str(seed), str(self.bare))
        git(seed, "push", "-q", str(self.bare), "refs/heads/flower/briefs:refs/heads/flower/briefs")
        self.clones = {}
        for name in "ab":
            c = self.tmp / name
            git(self.tmp, "clone", "-q", str(self.bare), str(c))
            assert flower(c, "init", "--remote", "origin").returncode == 0
            self.clones[name] = c
        self.titles: set[str] = set()
        self.claims: dict[str, dict[str, str]] = {}  # claim ref -> {clone: the commit it wrote}
        self.remote_history: list[str] = []
        self.n = 0

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    @rule(who=st.sampled_from("ab"), online=st.booleans())
    def new_brief(self, who: str, online: bool) -> None:
        self.n += 1
        title = f"{who}-{self.n}"
        c = self.clones[who]
        if not online:  # a brief made with no remote in reach: a local number, published later
            url = git(c, "remote", "get-url", "origin").stdout.strip()
            git(c, "config", "--unset", "flower.remote")
            r = flower(c, "brief", "new", title)
            git(c, "config", "flower.remote", "origin")
            assert url
        else:
            r = flower(c, "brief", "new", title)
        assert r.returncode == 0, r.stderr
        self.titles.add(title)

    @rule(who=st.sampled_from("ab"), sig=st.integers(1, 3))
    def claim_locally(self, who: str, sig: int) -> None:
        ref = f"refs/flower/claims/s{sig}"
        c = self.clones[who]
        if git(c, "rev-parse", "-q", "--verify", ref, check=False).returncode == 0:
            return
        body = json.dumps({"claimer": who, "n": self.n}).encode()
        blob = git(c, "hash-object", "-w", "--stdin", input=body).stdout.strip()
        tree = git(c, "mktree", input=f"100644 blob {blob}\trecord.json\n".encode()).stdout.strip()
        commit = git(c, "commit-tree", tree, "-m", f"claim by {who} {self.n}").stdout.strip()
        git(c, "update-ref", ref, commit, "")
        self.claims.setdefault(ref, {})[who] = commit

    @rule(who=st.sampled_from("ab"))
    def sync(self, who: str) -> None:
        r = flower(self.clones[who], "sync")
        assert r.returncode == 0, r.stderr

    @invariant()
    def remote_never_regresses(self) -> None:
        if not hasattr(self, "bare"):
            return
        tip = git(self.bare, "rev-parse", "refs/heads/flower/briefs").stdout.strip()
        if self.remote_history:
            prev = self.remote_history[-1]
            assert git(self.bare, "merge-base", "--is-ancestor", prev, tip, check=False).returncode == 0
        self.remote_history.append(tip)

    @precondition(lambda self: bool(self.titles))
    @rule()
    def converge(self) -> None:
        for who in "abab":
            r = flower(self.clones[who], "sync")
            assert r.returncode == 0, r.stderr
        views = []
        for c in self.clones.values():
            doc = json.loads(flower(c, "brief", "list", "--json").stdout)["data"]
            views.append({b["id"]: b["title"] for b in doc})
        assert views[0] == views[1]
        assert set(views[0].values()) == self.titles  # nothing lost, ids distinct (dict keys)
        for ref, written in self.claims.items():
            vals = {git(c, "rev-parse", ref).stdout.strip() for c in self.clones.values()}
            assert len(vals) == 1  # one winner, the same everywhere
            winner = vals.pop()
            assert winner in written.values()
            for who, commit in written.items():  # every loser kept its own claim, aside
                if commit != winner:
                    kept = git(self.clones[who], "for-each-ref", "--format=%(objectname)",
                               "refs/flower/lost/claims/").stdout.split()
                    assert commit in kept

TwoClones.TestCase.settings = settings(max_examples=6, stateful_step_count=8, deadline=None,
                                       suppress_health_check=list(HealthCheck))
test_two_clones_model = pytest.mark.slow(TwoClones.TestCase)  # a state machine of syncs
