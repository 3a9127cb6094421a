"""Provenance notes: written by CAS (concurrent writers keep every note), in git's fan-out
layout (``ab/cdef…``), reading legacy flat and deeper layouts and folding them into one blob."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import flower, git, make_repo
from sync_helpers import clone, git_daemon, served_remote

WRITER = r'''
import sys
from flowergit.gitio.repo import discover
from flowergit.state import notes
repo = discover(sys.argv[1])
notes.append(repo, {sys.argv[2]: [{"v": 1, "kind": "merge", "n": int(sys.argv[3])}]}, "test")
'''


def commits(repo: Path, n: int) -> list[str]:
    out = []
    for i in range(n):
        git(repo, "commit", "-q", "--allow-empty", "-m", f"c{i}")
        out.append(git(repo, "rev-parse", "HEAD").stdout.strip())
    return out


def note_paths(repo: Path) -> list[str]:
    """The paths of every blob in the notes tree."""
    return git(repo, "ls-tree", "-r", "--name-only", "refs/notes/flower").stdout.split()


def notes_tree_with(repo: Path, entries: dict[str, bytes]) -> None:
    """Point refs/notes/flower at a tree holding ``path -> content`` (any layout), as another
    tool (``git notes``, an older git flower) may have written it."""
    tree: dict[str, object] = {}
    for path, data in entries.items():
        node = tree
        *dirs, name = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})  # type: ignore[assignment]
        node[name] = git(repo, "hash-object", "-w", "--stdin", input=data).stdout.strip()

    def mk(node: dict[str, object]) -> str:
        lines = []
        for name, val in node.items():
            if isinstance(val, dict):
                lines.append(f"040000 tree {mk(val)}\t{name}\n")
            else:
                lines.append(f"100644 blob {val}\t{name}\n")
        return git(repo, "mktree", input="".join(lines).encode()).stdout.strip()

    c = git(repo, "commit-tree", mk(tree), "-m", "notes").stdout.strip()
    git(repo, "update-ref", "refs/notes/flower", c)


@pytest.mark.slow
def test_twenty_concurrent_writers_keep_twenty_notes(repo: Path) -> None:
    cs = commits(repo, 20)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(repo), c, str(i)])
             for i, c in enumerate(cs)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    listed = git(repo, "notes", "--ref=flower", "list").stdout.split("\n")
    assert len([ln for ln in listed if ln]) == 20
    for i, c in enumerate(cs):
        rec = json.loads(git(repo, "notes", "--ref=flower", "show", c).stdout)
        assert rec == {"v": 1, "kind": "merge", "n": i}
    assert sorted(note_paths(repo)) == sorted(f"{c[:2]}/{c[2:]}" for c in cs)


def test_notes_are_written_fanned_out_and_git_shows_them(any_repo: Path) -> None:
    from flowergit.gitio.repo import discover
    from flowergit.state import notes

    r = discover(str(any_repo))
    cs = commits(any_repo, 3)
    notes.append(r, {c: [{"v": 1, "kind": "merge", "brief": i}] for i, c in enumerate(cs)}, "three")
    notes.append(r, {cs[0]: [{"v": 1, "kind": "suite", "passed": True}]}, "one more")
    # the root holds only two-digit subtrees; each note sits at ab/cdef…
    root = git(any_repo, "ls-tree", "refs/notes/flower").stdout.splitlines()
    assert root and all(ln.split()[1] == "tree" and len(ln.split("\t")[1]) == 2 for ln in root)
    assert sorted(note_paths(any_repo)) == sorted(f"{c[:2]}/{c[2:]}" for c in cs)
    # plain git reads the layout: show, list, log --notes
    assert git(any_repo, "notes", "--ref=flower", "show", cs[0]).stdout.splitlines() == [
        '{"brief":0,"kind":"merge","v":1}', '{"kind":"suite","passed":true,"v":1}']
    listed = dict(ln.split()[::-1] for ln in git(any_repo, "notes", "--ref=flower", "list").stdout.splitlines())
    assert set(listed) == set(cs)
    log = git(any_repo, "log", "--notes=flower", "--format=%H%n%N", "-3").stdout
    for i, c in enumerate(cs):
        assert f'{c}\n{{"brief":{i},"kind":"merge","v":1}}' in log
    assert notes.read_many(r, [*cs, "0" * r.hexlen]) == {
        c: [{"brief": i, "kind": "merge", "v": 1}] + ([{"kind": "suite", "passed": True, "v": 1}] if i == 0 else [])
        for i, c in enumerate(cs)}


def test_legacy_flat_and_deep_notes_are_read_and_folded_into_one_fanout_blob(repo: Path) -> None:
    from flowergit.gitio.repo import discover
    from flowergit.state import notes

    r = discover(str(repo))
    flat, deep, both, other, dup = commits(repo, 5)
    notes_tree_with(repo, {
        flat: b'{"v":1,"kind":"x"}\n',                                   # git notes, small tree
        f"{deep[:2]}/{deep[2:4]}/{deep[4:]}": b'{"v":1,"kind":"y"}\n',   # two-level fan-out
        both: b'{"v":1,"kind":"a"}\n',                                   # one object, two blobs
        f"{both[:2]}/{both[2:]}": b'{"v":1,"kind":"a"}\n{"v":1,"kind":"b"}\n',
        other: b'{"v":1,"kind":"untouched"}',
        dup: b'{"v":1,"kind":"c"}\n',                                    # not written to: three
        f"{dup[:2]}/{dup[2:]}": b'{"v":1,"kind":"d"}\n',                 # blobs, folded when the
        f"{dup[:2]}/{dup[2:4]}/{dup[4:]}": b'{"v":1,"kind":"c"}\n',      # flat notes move
    })
    dup_note = [{"v": 1, "kind": "d"}, {"v": 1, "kind": "c"}]
    assert notes.read(r, dup) == dup_note
    assert notes.read(r, flat) == [{"v": 1, "kind": "x"}]
    assert notes.read(r, deep) == [{"v": 1, "kind": "y"}]
    assert notes.read(r, both) == [{"v": 1, "kind": "a"}, {"v": 1, "kind": "b"}]
    line = {"v": 1, "kind": "merge", "brief": 3}
    before = git(repo, "rev-parse", "refs/notes/flower").stdout
    notes.append(r, {flat: [{"v": 1, "kind": "x"}]}, "nothing new")  # present already: no write
    assert git(repo, "rev-parse", "refs/notes/flower").stdout == before
    for _ in range(2):  # re-applying is harmless
        notes.append(r, {flat: [line], deep: [line], both: [line], other: [{"v": 1, "kind": "untouched"}]}, "t")
    # every note sits at its fan-out path, one blob per object; the flat note of an object not
    # written to moved with the first write (the root holds subtrees only), its blob unchanged
    assert sorted(note_paths(repo)) == sorted(f"{c[:2]}/{c[2:]}" for c in (flat, deep, both, other, dup))
    assert notes.read(r, dup) == dup_note
    assert all(ln.split()[1] == "tree" for ln in git(repo, "ls-tree", "refs/notes/flower").stdout.splitlines())
    assert git(repo, "cat-file", "-p", f"refs/notes/flower:{other[:2]}/{other[2:]}").stdout == \
        '{"v":1,"kind":"untouched"}'
    assert notes.read(r, flat) == [{"v": 1, "kind": "x"}, line]
    assert notes.read(r, deep) == [{"v": 1, "kind": "y"}, line]
    assert notes.read(r, both) == [{"v": 1, "kind": "a"}, {"v": 1, "kind": "b"}, line]
    assert notes.read(r, other) == [{"v": 1, "kind": "untouched"}]
    shown = git(repo, "notes", "--ref=flower", "show", flat).stdout.splitlines()
    assert shown == ['{"v":1,"kind":"x"}', '{"brief":3,"kind":"merge","v":1}']
    log = git(repo, "log", "--notes=flower", "--format=%H %N", "-4").stdout
    assert f'{other} {{"v":1,"kind":"untouched"}}' in log


def test_a_short_object_name_is_refused_without_a_write(repo: Path) -> None:
    import pytest

    from flowergit.errors import UsageError
    from flowergit.gitio.repo import discover
    from flowergit.state import notes

    r = discover(str(repo))
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    with pytest.raises(UsageError):
        notes.append(r, {head[:12]: [{"v": 1}]}, "short")
    assert git(repo, "rev-parse", "-q", "--verify", "refs/notes/flower", check=False).returncode != 0
    assert notes.read(r, head[:12]) == [] and notes.read_many(r, ["../x"]) == {}


@pytest.mark.slow
def test_sync_unions_fanned_out_and_flat_notes(tmp_path: Path) -> None:
    """One clone writes fan-out notes (git flower), the other flat ones (git notes add): after
    sync both hold every line once, in one blob per object, in the fan-out layout."""
    bare = served_remote(tmp_path, make_repo(tmp_path / "seed"))
    with git_daemon(bare.parent) as url:
        a, b = clone(tmp_path, f"{url}/proj.git", "a"), clone(tmp_path, f"{url}/proj.git", "b")
        head = git(a, "rev-parse", "HEAD").stdout.strip()
        code = ("import sys\nfrom flowergit.gitio.repo import discover\nfrom flowergit.state import notes\n"
                "notes.append(discover(sys.argv[1]), {sys.argv[2]: [{'v': 1, 'kind': 'merge', 'from': 'a'}]}, 't')\n")
        subprocess.run([sys.executable, "-c", code, str(a), head], check=True, timeout=60)
        git(b, "notes", "--ref=flower", "add", "-m", '{"from":"b","kind":"suite","v":1}', head)
        for c in (a, b, a):
            res = flower(c, "sync")
            assert res.returncode == 0, res.stderr
    for c in (a, b):
        assert note_paths(c) == [f"{head[:2]}/{head[2:]}"]
        got = git(c, "notes", "--ref=flower", "show", head).stdout.splitlines()
        assert sorted(got) == ['{"from":"a","kind":"merge","v":1}', '{"from":"b","kind":"suite","v":1}']
    assert git(a, "rev-parse", "refs/notes/flower").stdout == git(b, "rev-parse", "refs/notes/flower").stdout
