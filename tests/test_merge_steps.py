"""The gate's own git steps against the plain git commands they stand for: the snapshot against
`add -A` + `write-tree` on a copy of the index, the tree diff against `diff-tree`, the collision
check against `ls-files`, the checkout that holds the target against `worktree list`, the journal
owner against psutil. Each on a checkout with every kind of local state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import flower, git, make_repo, snapshot_state
from merge_helpers import finished, setup_repo


def _repo_and_batch(path: Path):  # type: ignore[no-untyped-def]
    from flowergit.gitio import objects
    from flowergit.gitio.repo import discover

    r = discover(str(path))
    return r, objects.Batch(r)


def _messy(repo: Path) -> None:
    """Every kind of local state a checkout can hold."""
    (repo / "tracked").mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "d.txt", "e.sh", "f.txt", "g.txt"):
        (repo / "tracked" / name).write_text(f"{name}\n")
    os.symlink("a.txt", repo / "tracked" / "link")
    (repo / ".gitignore").write_text("*.log\nbuild/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    (repo / "tracked" / "a.txt").write_text("staged\n")
    git(repo, "add", "tracked/a.txt")
    (repo / "tracked" / "a.txt").write_text("staged, then edited again\n")
    (repo / "tracked" / "b.txt").write_text("unstaged\n")
    os.unlink(repo / "tracked" / "c.txt")  # deleted in the worktree only
    git(repo, "rm", "-q", "--cached", "tracked/d.txt")  # untracked now, file kept
    os.chmod(repo / "tracked" / "e.sh", 0o755)
    git(repo, "rm", "-q", "tracked/f.txt")  # staged deletion
    os.unlink(repo / "tracked" / "g.txt")
    (repo / "tracked" / "g.txt").mkdir()  # a file replaced by a directory
    (repo / "tracked" / "g.txt" / "inside").write_text("inside\n")
    os.unlink(repo / "tracked" / "link")
    os.symlink("b.txt", repo / "tracked" / "link")
    (repo / "new").mkdir()
    (repo / "new" / "deep").mkdir()
    (repo / "new" / "deep" / "file.txt").write_text("untracked\n")
    (repo / "staged-new.txt").write_text("added\n")
    git(repo, "add", "staged-new.txt")
    (repo / "ita.txt").write_text("intent\n")
    git(repo, "add", "-N", "ita.txt")
    (repo / "debug.log").write_text("ignored\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.bin").write_bytes(b"\0ignored")
    (repo / "solo.yml").write_text("local only, ignored\n")
    with open(repo / ".git" / "info" / "exclude", "a") as f:
        f.write("solo.yml\n")


def _file_to_dir_staged(repo: Path) -> None:
    (repo / "thing").write_text("a file\n")
    git(repo, "add", "thing")
    git(repo, "commit", "-qm", "thing")
    git(repo, "rm", "-q", "thing")
    (repo / "thing").mkdir()
    (repo / "thing" / "inside").write_text("now a directory\n")
    git(repo, "add", "thing/inside")


@pytest.mark.parametrize("state", ["messy", "clean", "untracked only", "file to dir, staged"])
def test_snapshot_equals_add_all_and_write_tree(tmp_path: Path, state: str) -> None:
    from flowergit.gitio.index import snapshot_trees
    from flowergit.ops.merge.checkout import snapshot

    repo = make_repo(tmp_path / "repo")
    if state == "messy":
        _messy(repo)
    elif state == "untracked only":
        (repo / "only.txt").write_text("u\n")
    elif state == "file to dir, staged":
        _file_to_dir_staged(repo)
    before = snapshot_state(repo)
    r, batch = _repo_and_batch(repo)
    batch.close()
    local_only = ["solo.yml", "absent.yml"]
    want = snapshot_trees(r, str(repo), local_only)
    got = snapshot(r, str(repo), local_only)
    assert got == want
    assert snapshot_state(repo) == before  # the checkout (index included) is untouched
    # both trees are in the object store
    for tree in got:
        assert git(repo, "cat-file", "-t", tree).stdout.strip() == "tree"
    if state == "clean":
        assert got[0] == got[1] == git(repo, "rev-parse", "HEAD^{tree}").stdout.strip()


def test_tree_diff_lists_what_diff_tree_lists(tmp_path: Path) -> None:
    from flowergit.gitio.trees import gitlinks_in, tree_diff

    repo = make_repo(tmp_path / "repo")
    for p in ("keep/a", "keep/b", "gone/x", "becomes_dir", "dir_becomes_file/y", "mode.sh",
              "deep/er/still/z"):
        (repo / p).parent.mkdir(parents=True, exist_ok=True)
        (repo / p).write_text(p + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    a = git(repo, "rev-parse", "HEAD^{tree}").stdout.strip()
    (repo / "keep" / "b").write_text("changed\n")
    git(repo, "rm", "-rq", "gone", "becomes_dir", "dir_becomes_file")
    (repo / "becomes_dir").mkdir()
    (repo / "becomes_dir" / "f").write_text("f\n")
    (repo / "dir_becomes_file").write_text("file now\n")
    os.chmod(repo / "mode.sh", 0o755)
    (repo / "deep" / "er" / "still" / "z").write_text("z2\n")
    (repo / "added.txt").write_text("new\n")
    git(repo, "add", "-A")
    sub = git(repo, "rev-parse", "HEAD").stdout.strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sub},sub")
    b = git(repo, "write-tree").stdout.strip()
    r, batch = _repo_and_batch(repo)
    with batch:
        diff = tree_diff(batch, a, b)
    want = git(repo, "diff-tree", "-r", "--no-renames", "--name-only", "-z", a, b).stdout
    assert sorted(diff) == sorted(p for p in want.split("\0") if p)
    assert gitlinks_in(diff) == ["sub"]
    assert diff["added.txt"][0] is None and diff["gone/x"][1] is None
    assert diff["mode.sh"][0][0] == b"100644" and diff["mode.sh"][1][0] == b"100755"  # type: ignore[index]
    assert tree_diff(_repo_and_batch(repo)[1], a, a) == {}


def test_collisions_from_the_status_match_the_index(tmp_path: Path) -> None:
    """Which incoming paths exist untracked or ignored, judged from one status and HEAD's tree,
    is what asking the index (`ls-files`) and the disk says."""
    from flowergit.gitio.index import index_entries
    from flowergit.gitio.status import checkout_status
    from flowergit.ops.merge.checkout import collisions_of

    repo = make_repo(tmp_path / "repo")
    for p in ("t/kept.txt", "t/rm-cached.txt", "t/staged-rm.txt", "t/file"):
        (repo / p).parent.mkdir(parents=True, exist_ok=True)
        (repo / p).write_text("x\n")
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "rm", "-q", "--cached", "t/rm-cached.txt")  # on disk, untracked
    git(repo, "rm", "-q", "t/staged-rm.txt")  # gone from disk and index
    (repo / "untracked.txt").write_text("u\n")
    (repo / "ignored.log").write_text("i\n")
    (repo / "staged-add.txt").write_text("s\n")
    git(repo, "add", "staged-add.txt")
    (repo / "ita.txt").write_text("i\n")
    git(repo, "add", "-N", "ita.txt")
    incoming = ["t/kept.txt", "t/rm-cached.txt", "t/staged-rm.txt", "untracked.txt",
                "ignored.log", "staged-add.txt", "ita.txt", "absent.txt", "t/file/under",
                "newdir/x"]
    in_head = {p for p in incoming
               if git(repo, "cat-file", "-e", f"HEAD:{p}", check=False).returncode == 0}
    st = checkout_status(str(repo))
    got = collisions_of(str(repo), incoming, in_head, st)
    tracked = set(index_entries(str(repo), incoming))
    want = []
    for p in incoming:
        if p in tracked:
            continue
        if os.path.lexists(repo / p):
            want.append(p)
            continue
        parts = p.split("/")
        for i in range(1, len(parts)):
            q = "/".join(parts[:i])
            if os.path.lexists(repo / q) and not os.path.isdir(repo / q):
                want.append(q)
                break
    assert got == sorted(set(want)) == ["ignored.log", "t/file", "t/rm-cached.txt",
                                        "untracked.txt"]
    assert st.head == git(repo, "rev-parse", "HEAD").stdout.strip()


def test_the_checkout_that_holds_a_branch_is_read_from_head_files(tmp_path: Path) -> None:
    from flowergit.gitio.status import checkout_of
    from flowergit.gitio.worktrees import list_worktrees

    repo = make_repo(tmp_path / "repo")
    git(repo, "branch", "side")
    git(repo, "branch", "free")
    wt = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", str(wt), "side")
    git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "detached"))
    for where in (repo, wt):
        r, batch = _repo_and_batch(where)
        batch.close()
        listed = {w.branch: w.path for w in list_worktrees(r) if w.branch}
        for ref in ("refs/heads/main", "refs/heads/side", "refs/heads/free", "refs/heads/nope"):
            got = checkout_of(r, ref)
            if ref not in listed:
                assert got is None
                continue
            assert got is not None
            holder, admin = got
            assert os.path.realpath(holder.path) == os.path.realpath(listed[ref])
            assert admin is not None
            want = git(Path(holder.path), "rev-parse", "--path-format=absolute", "--git-dir").stdout
            assert os.path.realpath(admin) == os.path.realpath(want.strip())
    # a worktree whose directory is gone: `git worktree list` decides (it is still listed)
    git(repo, "worktree", "add", "-q", str(tmp_path / "gone"), "free")
    import shutil

    shutil.rmtree(tmp_path / "gone")
    r, batch = _repo_and_batch(repo)
    batch.close()
    got = checkout_of(r, "refs/heads/free")
    assert got is not None and got[1] is None and got[0].path.endswith("gone")


def test_journal_owner_is_the_identity_psutil_gives(tmp_path: Path) -> None:
    import psutil

    from flowergit.procs import identity
    from flowergit.state import journal

    me = journal.owner()
    assert me == identity.of(os.getpid())
    assert me is not None and me["start"] == round(psutil.Process().create_time(), 2)
    assert identity.is_alive(me) is True


def test_a_touched_but_unchanged_incoming_file_does_not_block_the_merge(tmp_path: Path) -> None:
    """Stale stat data on a clean file the merge brings in (the checkout copied or touched):
    the gate's status refreshes the index, so `read-tree` finds it clean."""
    repo = setup_repo(tmp_path)
    (repo / "code.txt").write_text("one\n")
    git(repo, "add", "code.txt")
    git(repo, "commit", "-qm", "code")
    bid = finished(repo, "edit", {"code.txt": "two\n"})
    st = os.stat(repo / "code.txt")
    (repo / "code.txt").write_text("one\n")  # same bytes, new mtime and ctime
    os.utime(repo / "code.txt", (st.st_atime + 5, st.st_mtime + 5))
    r = flower(repo, "merge", str(bid), "--no-test")
    assert r.returncode == 0, r.stderr
    assert (repo / "code.txt").read_text() == "two\n"
    assert git(repo, "status", "--porcelain").stdout == ""


def test_notes_written_by_others_during_the_merge_are_all_kept(tmp_path: Path) -> None:
    """The provenance note rides in the merge's closing transaction, by compare-and-swap from the
    notes tip it read: a writer appending notes meanwhile loses nothing and neither does the
    merge (a lost race is re-read and retried)."""
    import subprocess
    import sys

    from merge_helpers import notes_of

    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"agent.txt": "a\n"})
    blobs = [git(repo, "hash-object", "-w", "--stdin", input=f"object {i}\n".encode()).stdout.strip()
             for i in range(40)]
    writer = ("import sys\nfrom flowergit.gitio.repo import discover\n"
              "from flowergit.state import notes\nr = discover(sys.argv[1])\n"
              "for oid in sys.argv[2:]:\n"
              "    notes.append(r, {oid: [{'kind': 'other', 'v': 1}]}, 'other writer')\n")
    p = subprocess.Popen([sys.executable, "-c", writer, str(repo), *blobs])
    try:
        r = flower(repo, "merge", str(bid), "--no-test")
        assert r.returncode == 0, r.stderr
    finally:
        assert p.wait(timeout=120) == 0
    merged = git(repo, "rev-parse", "main").stdout.strip()
    assert [x["kind"] for x in notes_of(repo, merged)] == ["merge"]
    for oid in blobs:
        assert notes_of(repo, oid) == [{"kind": "other", "v": 1}], oid
    assert json_status(repo, bid) == "merged"


def json_status(repo: Path, bid: int) -> str:
    import json

    out = flower(repo, "brief", "show", str(bid), "--json").stdout
    return str(json.loads(out)["data"]["status"])
