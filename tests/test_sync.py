"""`git flower sync` between clones and a bare remote served by `git daemon` on loopback
(FAULTS.md section C: 37-44)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import flower, flower_json, git, make_repo, snapshot_state
from sync_helpers import clone, remote_refs


def titles(repo: Path) -> dict[int, str]:
    return {b["id"]: b["title"] for b in flower_json(repo, "brief", "list")}  # type: ignore[union-attr]


def record_commit(repo: Path, body: dict[str, object], parent: str | None = None) -> str:
    """A record commit built with plain git (as another tool or machine would)."""
    blob = git(repo, "hash-object", "-w", "--stdin", input=json.dumps(body).encode()).stdout.strip()
    tree = git(repo, "mktree", input=f"100644 blob {blob}\trecord.json\n".encode()).stdout.strip()
    args = ["commit-tree", tree, "-m", "record"] + (["-p", parent] if parent else [])
    return git(repo, *args).stdout.strip()


@pytest.mark.slow  # stress
def test_three_clones_create_briefs_concurrently_and_converge(tmp_path: Path, served) -> None:
    bare, url = served
    clones = [clone(tmp_path, url, c) for c in "abc"]
    script = ("import subprocess, sys\n"
              "for i in range(4):\n"
              "    r = subprocess.run([sys.executable, '-m', 'flowergit', 'brief', 'new', f'{sys.argv[1]} #{i}'])\n"
              "    assert r.returncode == 0\n"
              "r = subprocess.run([sys.executable, '-m', 'flowergit', 'sync'])\n"
              "sys.exit(r.returncode)\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, c.name], cwd=c,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in clones]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()
    for _ in range(2):
        for c in clones:
            assert flower(c, "sync").returncode == 0
    views = [titles(c) for c in clones]
    assert views[0] == views[1] == views[2]
    assert sorted(views[0].values()) == sorted(f"{c} #{i}" for c in "abc" for i in range(4))
    assert len(views[0]) == 12  # distinct ids: a dict keyed by id lost nothing
    # every brief id is reserved on the remote, by exactly the clone that wrote it
    ids = remote_refs(bare, "refs/flower/ids/")
    assert {int(r.rsplit("/", 1)[1]) for r in ids} >= set(views[0])
    # the briefs branch history is linear (re-applied, never merged as text)
    merges = git(bare, "rev-list", "--merges", "refs/heads/flower/briefs").stdout.strip()
    assert merges == ""


@pytest.mark.slow
def test_sync_report_and_json(tmp_path: Path, served) -> None:
    _, url = served
    a = clone(tmp_path, url, "a")
    flower(a, "brief", "new", "one")
    data = flower_json(a, "sync")
    assert data["remote"] == "origin" and data["rounds"] == 1  # type: ignore[index]
    assert "refs/heads/flower/briefs" in data["pushed"]  # type: ignore[index]
    again = flower_json(a, "sync")
    assert again["pushed"] == [] and again["briefs"]["action"] == "none"  # type: ignore[index]


def test_no_remote_is_a_usage_error(repo: Path) -> None:
    r = flower(repo, "sync")
    assert r.returncode == 2 and "no remote" in r.stderr
    r = flower(repo, "sync", "--output=x")
    assert r.returncode == 2
    assert not (repo / "x").exists()
    r = flower(repo, "sync", "nosuch")
    assert r.returncode == 2 and "no remote named" in r.stderr


def test_remote_command_configures_refspecs(repo: Path, bare_remote: Path) -> None:
    data = flower_json(repo, "remote", "origin")
    assert data["remote"] == "origin"  # type: ignore[index]
    fetch = git(repo, "config", "--get-all", "remote.origin.fetch").stdout.split()
    assert "+refs/flower/*:refs/flower-remote/origin/*" in fetch
    assert "+refs/notes/flower*:refs/notes/flower-remote/origin*" in fetch
    git(repo, "fetch", "-q", "origin")  # no notes on the remote yet: a plain fetch still works
    assert git(repo, "config", "flower.remote").stdout.strip() == "origin"
    assert git(repo, "config", "--get-all", "remote.origin.push", check=False).stdout == ""
    again = flower_json(repo, "remote", "origin")
    assert again["actions"] == []  # type: ignore[index]  # idempotent
    flower_json(repo, "remote", "origin", "--push-refspecs")
    push = git(repo, "config", "--get-all", "remote.origin.push").stdout.split()
    assert push[0] == "HEAD" and "refs/notes/flower:refs/notes/flower" in push
    assert not any(p.startswith("+") for p in push)


def test_import_checks_every_line_before_reserving_ids_on_the_remote(repo: Path,
                                                                   bare_remote: Path) -> None:
    flower_json(repo, "remote", "origin")
    lines = "".join(json.dumps({"title": f"t{i}"}) + "\n" for i in range(3))
    r = flower(repo, "brief", "import", "-", input=lines + '{"title": "x", "kind": "epic"}\n')
    assert r.returncode == 2 and "<stdin>:4: invalid kind 'epic'" in r.stderr
    assert git(bare_remote, "for-each-ref", "refs/flower/ids").stdout == ""
    made = flower_json(repo, "brief", "import", "-", input=lines)
    assert [m["id"] for m in made] == [1, 2, 3]  # type: ignore[index]
    assert git(bare_remote, "for-each-ref", "refs/flower/ids").stdout != ""


@pytest.mark.slow
def test_lost_local_claim_is_kept_and_reported(tmp_path: Path, served) -> None:
    """FAULTS 42: local unpushed state is never overwritten by a fetch; the remote arbitrates."""
    bare, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    ref = "refs/flower/claims/sig-1"
    mine = record_commit(a, {"claimer": "a", "nonce": "1"})
    git(a, "update-ref", ref, mine)
    theirs = record_commit(b, {"claimer": "b", "nonce": "2"})
    git(b, "update-ref", ref, theirs)
    assert flower(b, "sync").returncode == 0
    r = flower(a, "sync", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)["data"]
    assert len(data["lost"]) == 1 and data["lost"][0]["holder"] == "b"
    kept = data["lost"][0]["kept"]
    assert git(a, "rev-parse", kept).stdout.strip() == mine  # nothing of ours is lost
    assert git(a, "rev-parse", ref).stdout.strip() == theirs
    assert remote_refs(bare)[ref] == theirs
    assert "lost: refs/flower/claims/sig-1" in flower(a, "sync").stderr or True
    assert not any(n.startswith("refs/flower/lost/") for n in remote_refs(bare))


def test_record_chains_extend_and_fast_forward(tmp_path: Path, served) -> None:
    bare, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    ref = "refs/flower/dispatch/3/1"
    c1 = record_commit(a, {"state": "queued"})
    git(a, "update-ref", ref, c1)
    assert flower(a, "sync").returncode == 0
    assert flower(b, "sync").returncode == 0
    assert git(b, "rev-parse", ref).stdout.strip() == c1
    c2 = record_commit(b, {"state": "running"}, c1)
    git(b, "update-ref", ref, c2, c1)
    assert flower(b, "sync").returncode == 0
    assert remote_refs(bare)[ref] == c2
    assert flower(a, "sync").returncode == 0
    assert git(a, "rev-parse", ref).stdout.strip() == c2
    # a ref merely missing here is no deletion: without a tombstone it is copied back
    git(a, "update-ref", "-d", ref)
    assert flower(a, "sync").returncode == 0
    assert remote_refs(bare)[ref] == c2
    assert git(a, "rev-parse", ref).stdout.strip() == c2


@pytest.mark.slow
def test_a_deletion_travels_only_as_a_tombstone(tmp_path: Path, served) -> None:
    """Signals pruned once over leave tombstones in the same transaction; sync deletes exactly
    those values on the other side, and brings nothing back."""
    from flowergit.gitio.repo import discover
    from flowergit.state import signals, tombstones

    bare, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    sid = flower_json(a, "signal", "emit", "note")["id"]  # type: ignore[index]
    assert flower(a, "signal", "claim", sid).returncode == 0
    assert flower(a, "signal", "complete", sid).returncode == 0
    keep = flower_json(a, "signal", "emit", "note")["id"]  # type: ignore[index]
    assert flower(a, "sync").returncode == 0 and flower(b, "sync").returncode == 0
    sref, cref = f"refs/flower/signals/{sid}", f"refs/flower/claims/{sid}"
    assert {sref, cref} <= set(remote_refs(bare)) and sref in flower_refs(b)
    soid = git(a, "rev-parse", sref).stdout.strip()
    import time
    assert signals.prune(discover(str(a)), expiry=60, now=time.time() + 7200) == [sid]
    assert sref not in flower_refs(a)
    dead = tombstones.read(discover(str(a)), git(a, "rev-parse", tombstones.TOMBS_REF).stdout.strip())
    assert (sref, soid) in dead and len(dead) == 2
    got = flower_json(a, "sync")
    assert set(got["deleted_remote"]) == {sref, cref}  # type: ignore[index]
    assert sref not in remote_refs(bare) and tombstones.TOMBS_REF in remote_refs(bare)
    got = flower_json(b, "sync")
    assert set(got["deleted_local"]) == {sref, cref}  # type: ignore[index]
    assert sref not in flower_refs(b) and f"refs/flower/signals/{keep}" in flower_refs(b)
    # the tombstones are plain git: one JSON line per deleted ref
    lines = git(b, "show", f"{tombstones.TOMBS_REF}:tombstones.jsonl").stdout.splitlines()
    assert {json.loads(ln)["ref"] for ln in lines} == {sref, cref}
    # a new clone never sees it
    c = clone(tmp_path, url, "c")
    assert sref not in flower_refs(c)


def flower_refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/flower/").stdout


def note_lines(repo: Path, commit: str) -> list[dict[str, object]]:
    out = git(repo, "notes", "--ref=flower", "show", commit, check=False).stdout
    return [json.loads(ln) for ln in out.splitlines() if ln.strip()]


@pytest.mark.slow
def test_notes_from_both_sides_survive(tmp_path: Path, served) -> None:
    """FAULTS 40: the same and different commits annotated on two clones; union, parses."""
    _, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    head = git(a, "rev-parse", "HEAD").stdout.strip()
    root = git(a, "rev-parse", "HEAD~1").stdout.strip()
    git(a, "notes", "--ref=flower", "add", "-m", '{"kind":"suite","from":"a"}', head)
    git(b, "notes", "--ref=flower", "add", "-m", '{"kind":"suite","from":"b"}', head)
    git(b, "notes", "--ref=flower", "add", "-m", '{"kind":"merge","from":"b"}', root)
    for c in (a, b, a):
        r = flower(c, "sync")
        assert r.returncode == 0, r.stderr
    for c in (a, b):
        assert {ln["from"] for ln in note_lines(c, head)} == {"a", "b"}
        assert note_lines(c, root) == [{"kind": "merge", "from": "b"}]
    assert git(a, "rev-parse", "refs/notes/flower").stdout == git(b, "rev-parse", "refs/notes/flower").stdout


@pytest.mark.slow
def test_poisoned_remote_refs_and_notes_are_skipped(tmp_path: Path, served) -> None:
    """FAULTS 43: hostile ref names and notes from a remote: warnings, nothing run or written."""
    bare, url = served
    a = clone(tmp_path, url, "a")
    head = git(a, "rev-parse", "HEAD").stdout.strip()
    root = git(a, "rev-parse", "HEAD~1").stdout.strip()
    some = git(bare, "rev-parse", "refs/heads/flower/briefs").stdout.strip()
    # (git refuses names with spaces, so ${IFS} stands in for one)
    for name in ("refs/flower/claims/$(touch${IFS}PWNED)", "refs/flower/briefs/--output=x",
                 "refs/flower/signals/--output=y", "refs/flower/claims/`touch${IFS}PWNED`",
                 "refs/flower/claims/ok;touch${IFS}PWNED", "refs/flower/baton/-rf"):
        git(bare, "update-ref", name, some)
    git(bare, "update-ref", "refs/flower/claims/a-blob", git(bare, "hash-object", "-w", "--stdin",
                                                             input=b"x").stdout.strip())
    big = git(bare, "hash-object", "-w", "--stdin", input=b'{"a":"' + b"x" * (2 * 1024 * 1024) + b'"}\n')
    bad = git(bare, "hash-object", "-w", "--stdin", input=b"not json \x1b]0;pwned\x07\n$(touch PWNED)\n")
    good = git(bare, "hash-object", "-w", "--stdin", input=b'{"kind":"ok"}\n')
    tree = git(bare, "mktree", input=(f"100644 blob {big.stdout.strip()}\t{head}\n"
                                      f"100644 blob {bad.stdout.strip()}\t{root}\n").encode()).stdout.strip()
    tree2 = git(bare, "mktree", input=(f"100644 blob {good.stdout.strip()}\t{some}\n").encode()).stdout.strip()
    n1 = git(bare, "commit-tree", tree, "-m", "notes").stdout.strip()
    git(bare, "update-ref", "refs/notes/flower", n1)
    def planted() -> list[Path]:  # a PWNED sentinel, or a file an --output= option wrote
        return [p for p in tmp_path.rglob("*") if "srv" not in p.parts
                and (p.name in ("PWNED", "x", "y") or "PWNED" in p.name or "output" in p.name)]

    r = flower(a, "sync")
    assert r.returncode == 0, r.stderr
    assert "skipped remote ref" in r.stderr and "--output=x" in r.stderr
    assert "over the" in r.stderr and "not JSON" in r.stderr
    assert planted() == []
    assert not (Path.home() / "PWNED").exists()
    local = git(a, "for-each-ref", "--format=%(refname)").stdout
    assert "PWNED" not in local and "--output" not in local and "a-blob" not in local
    assert note_lines(a, head) == [] and note_lines(a, root) == []
    # a later good note from the same remote still arrives
    cur = git(bare, "rev-parse", "refs/notes/flower").stdout.strip()
    assert cur != n1 and git(bare, "merge-base", "--is-ancestor", n1, cur).returncode == 0
    n2 = git(bare, "commit-tree", tree2, "-p", cur, "-m", "more").stdout.strip()
    git(bare, "update-ref", "refs/notes/flower", n2, cur)
    assert flower(a, "sync").returncode == 0
    assert note_lines(a, some) == [{"kind": "ok"}]


@pytest.mark.slow
def test_unreachable_remote_exits_75_and_changes_nothing(repo: Path, tmp_path: Path) -> None:
    """FAULTS 38: refused connection, missing path, and a server that accepts and stalls."""
    import socket

    flower(repo, "brief", "new", "local work")
    git(repo, "remote", "add", "origin", "git://127.0.0.1:1/nothing.git")
    assert flower(repo, "remote", "origin").returncode == 0
    before = snapshot_state(repo)
    r = flower(repo, "sync", timeout=60)
    assert r.returncode == 75, r.stderr
    assert "cannot reach remote 'origin'" in r.stderr
    assert snapshot_state(repo) == before
    r = flower(repo, "brief", "new", "needs an id")
    assert r.returncode == 75 and "brief new --offline" in r.stderr
    assert snapshot_state(repo) == before
    git(repo, "remote", "set-url", "origin", str(tmp_path / "no-such.git"))
    assert flower(repo, "sync").returncode == 75
    with socket.socket() as srv:  # accepts, never answers
        srv.bind(("127.0.0.1", 0))
        srv.listen(5)
        git(repo, "remote", "set-url", "origin", f"git://127.0.0.1:{srv.getsockname()[1]}/x.git")
        r = flower(repo, "sync", env={"GIT_FLOWER_REMOTE_TIMEOUT": "2"}, timeout=60)
    assert r.returncode == 75 and "did not answer within 2 s" in r.stderr
    assert snapshot_state(repo) == before


def test_offline_ids_reserved_ahead(tmp_path: Path, served) -> None:
    _, url = served
    a = clone(tmp_path, url, "a")
    data = flower_json(a, "sync", "--reserve", "2")
    assert data["reserved"] == [1, 2]  # type: ignore[index]
    git(a, "remote", "set-url", "origin", "git://127.0.0.1:1/gone.git")
    first = flower_json(a, "brief", "new", "on the train", "--offline")
    second = flower_json(a, "brief", "new", "still offline", "--offline")
    assert {first["id"], second["id"]} == {1, 2}  # type: ignore[index]
    r = flower(a, "brief", "new", "third", "--offline")
    assert r.returncode == 75 and "spare reserved" in r.stderr


@pytest.mark.slow
def test_unpublished_brief_with_a_taken_number_is_renumbered_loudly(tmp_path: Path, served) -> None:
    _bare, url = served
    a = clone(tmp_path, url, "a", init=False)
    assert flower(a, "init").returncode == 0  # no remote yet: local ids
    assert flower_json(a, "brief", "new", "made offline")["id"] == 1  # type: ignore[index]
    b = clone(tmp_path, url, "b")
    assert flower_json(b, "brief", "new", "made online")["id"] == 1  # type: ignore[index]
    assert flower(b, "sync").returncode == 0
    assert flower(a, "remote", "origin").returncode == 0
    r = flower(a, "sync", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)["data"]
    assert data["renumbered"] and data["renumbered"][0]["was"] == 1
    now = data["renumbered"][0]["now"]
    assert "renumbered" in r.stderr
    assert titles(a) == {1: "made online", now: "made offline"}
    assert flower(b, "sync").returncode == 0
    assert titles(b) == titles(a)


def test_rejected_atomic_push_leaves_remote_unchanged(tmp_path: Path, served) -> None:
    """FAULTS 37/39: a server-side rejection of one ref rejects all; remote unchanged; exit 4."""
    bare, url = served
    a = clone(tmp_path, url, "a")
    flower(a, "brief", "new", "x")
    git(a, "update-ref", "refs/flower/claims/s1", record_commit(a, {"claimer": "a"}))
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nwhile read old new ref; do case $ref in refs/flower/claims/*) "
                    "echo no claims here >&2; exit 1;; esac; done\n")
    hook.chmod(0o755)
    before = remote_refs(bare)
    r = flower(a, "sync", timeout=120)
    assert r.returncode == 4, r.stderr
    assert "refused the push" in r.stderr and "hook declined" in r.stderr
    assert remote_refs(bare) == before
    assert git(a, "rev-parse", "-q", "--verify", "refs/flower/claims/s1").returncode == 0


def test_remote_briefs_tree_with_dotdot_is_skipped(tmp_path: Path, served) -> None:
    """FAULTS 44: a tree entry `..` or `.git` on the remote's briefs branch is never taken in."""
    bare, url = served
    a = clone(tmp_path, url, "a")
    tip = git(bare, "rev-parse", "refs/heads/flower/briefs").stdout.strip()
    blob = git(bare, "hash-object", "-w", "--stdin", input=b"x").stdout.strip()
    for bad in ("..", ".git"):
        sub = git(bare, "mktree", input=f"100644 blob {blob}\tevil\n".encode()).stdout.strip()
        base = git(bare, "ls-tree", tip).stdout
        tree = git(bare, "mktree", input=(base + f"040000 tree {sub}\t{bad}\n").encode()).stdout.strip()
        # on top of what the remote has (a rewind would stop the sync: tests/test_sync_lost.py)
        parent = git(bare, "rev-parse", "refs/heads/flower/briefs").stdout.strip()
        new = git(bare, "commit-tree", tree, "-p", parent, "-m", "poison").stdout.strip()
        git(bare, "update-ref", "refs/heads/flower/briefs", new, parent)
        before = git(a, "rev-parse", "refs/heads/flower/briefs").stdout
        r = flower(a, "sync")
        assert r.returncode == 0 and "no clone can write" in r.stderr, r.stderr
        assert git(a, "rev-parse", "refs/heads/flower/briefs").stdout == before


def test_init_remote_starts_from_the_remotes_briefs(tmp_path: Path, served) -> None:
    bare, url = served
    dest = tmp_path / "single"
    git(tmp_path, "clone", "-q", "--single-branch", "--branch", "main", url, str(dest))
    assert git(dest, "rev-parse", "-q", "--verify", "refs/remotes/origin/flower/briefs",
               check=False).returncode != 0
    assert flower(dest, "init", "--remote", "origin").returncode == 0
    assert git(dest, "rev-parse", "refs/heads/flower/briefs").stdout == \
        git(bare, "rev-parse", "refs/heads/flower/briefs").stdout


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["sha256"])
def test_sync_in_a_sha256_repository(tmp_path: Path, fmt: str) -> None:
    seed = make_repo(tmp_path / "seed", object_format=fmt)
    bare = tmp_path / "r.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    git(seed, "push", "-q", str(bare), "refs/heads/flower/briefs:refs/heads/flower/briefs")
    a, b = (tmp_path / "a"), (tmp_path / "b")
    for c in (a, b):
        git(tmp_path, "clone", "-q", str(bare), str(c))
        assert flower(c, "init", "--remote", "origin").returncode == 0
    assert flower_json(a, "brief", "new", "one")["id"] == 1  # type: ignore[index]
    assert flower_json(b, "brief", "new", "two")["id"] == 2  # type: ignore[index]
    for c in (a, b, a):
        r = flower(c, "sync")
        assert r.returncode == 0, r.stderr
    assert titles(a) == titles(b) == {1: "one", 2: "two"}


@pytest.mark.slow  # stress
def test_concurrent_note_syncs_lose_nothing(tmp_path: Path, served) -> None:
    """Rejected pushes re-fetch and re-merge: no clone's notes are dropped (git-ai #2270)."""
    _, url = served
    clones = [clone(tmp_path, url, c) for c in "abc"]
    head = git(clones[0], "rev-parse", "HEAD").stdout.strip()
    for c in clones:
        for i in range(3):
            blob = git(c, "hash-object", "-w", "--stdin", input=f"{c.name}{i}".encode()).stdout.strip()
            git(c, "notes", "--ref=flower", "add", "-m", json.dumps({"on": "blob", "by": c.name}), blob)
        git(c, "notes", "--ref=flower", "add", "-m", json.dumps({"by": c.name}), head)
    procs = [subprocess.Popen([sys.executable, "-m", "flowergit", "sync"], cwd=c,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in clones]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()
    for c in clones + clones:
        assert flower(c, "sync").returncode == 0
    for c in clones:
        assert {ln["by"] for ln in note_lines(c, head)} == {"a", "b", "c"}
        listed = git(c, "notes", "--ref=flower", "list").stdout.splitlines()
        assert len(listed) == 10


@pytest.mark.slow
def test_sync_from_a_subdirectory_and_a_linked_worktree(tmp_path: Path, served) -> None:
    """FAULTS 58: the same state whichever worktree or directory sync runs from."""
    bare, url = served
    a = clone(tmp_path, url, "a")
    (a / "sub" / "deeper").mkdir(parents=True)
    flower(a, "brief", "new", "from a subdir")
    assert flower(a / "sub" / "deeper", "sync").returncode == 0
    wt = tmp_path / "a-wt"
    git(a, "worktree", "add", "-q", "--detach", str(wt))
    flower(wt, "brief", "new", "from a worktree")
    r = flower(wt, "sync", env={"GIT_DIR": str(a / ".git"), "GIT_INDEX_FILE": str(a / ".git" / "index")})
    assert r.returncode == 0, r.stderr
    assert git(bare, "rev-parse", "refs/heads/flower/briefs").stdout == \
        git(a, "rev-parse", "refs/heads/flower/briefs").stdout
    assert set(titles(a).values()) == {"from a subdir", "from a worktree"}


@pytest.mark.slow
def test_sync_refuses_to_move_a_checked_out_briefs_branch(tmp_path: Path, served) -> None:
    _, url = served
    a, b = clone(tmp_path, url, "a"), clone(tmp_path, url, "b")
    flower(b, "brief", "new", "from b")
    assert flower(b, "sync").returncode == 0
    wt = tmp_path / "inspect"
    git(a, "worktree", "add", "-q", str(wt), "flower/briefs")
    before = git(a, "rev-parse", "refs/heads/flower/briefs").stdout
    r = flower(a, "sync")
    assert r.returncode == 4 and "checked out" in r.stderr
    assert git(a, "rev-parse", "refs/heads/flower/briefs").stdout == before
    assert git(wt, "status", "--porcelain").stdout == ""
