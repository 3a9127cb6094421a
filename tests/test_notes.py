"""Provenance notes written by CAS: concurrent writers keep every note (finding 1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import git

WRITER = r'''
import sys
from flowergit.gitio.repo import discover
from flowergit.state import notes
repo = discover(sys.argv[1])
notes.append(repo, {sys.argv[2]: [{"v": 1, "kind": "merge", "n": int(sys.argv[3])}]}, "test")
'''


def test_twenty_concurrent_writers_keep_twenty_notes(repo: Path) -> None:
    commits = []
    for i in range(20):
        git(repo, "commit", "-q", "--allow-empty", "-m", f"c{i}")
        commits.append(git(repo, "rev-parse", "HEAD").stdout.strip())
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(repo), c, str(i)])
             for i, c in enumerate(commits)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    listed = git(repo, "notes", "--ref=flower", "list").stdout.split("\n")
    assert len([ln for ln in listed if ln]) == 20
    for i, c in enumerate(commits):
        rec = json.loads(git(repo, "notes", "--ref=flower", "show", c).stdout)
        assert rec == {"v": 1, "kind": "merge", "n": i}


def test_append_adds_lines_once_and_moves_fanout_notes(repo: Path) -> None:
    from flowergit.gitio.repo import discover
    from flowergit.state import notes

    r = discover(str(repo))
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    # a note git wrote at a fan-out path (as `git notes` does in big notes trees)
    blob = git(repo, "hash-object", "-w", "--stdin", input=b'{"v":1,"kind":"x"}\n').stdout.strip()
    tree = git(repo, "mktree", input=f"100644 blob {blob}\t{head[2:]}\n".encode()).stdout.strip()
    top = git(repo, "mktree", input=f"040000 tree {tree}\t{head[:2]}\n".encode()).stdout.strip()
    c = git(repo, "commit-tree", top, "-m", "fanout").stdout.strip()
    git(repo, "update-ref", "refs/notes/flower", c)
    assert notes.read(r, head) == [{"v": 1, "kind": "x"}]
    line = {"v": 1, "kind": "merge", "brief": 3}
    notes.append(r, {head: [line]}, "t")
    notes.append(r, {head: [line]}, "t")  # re-applying is harmless
    assert notes.read(r, head) == [{"v": 1, "kind": "x"}, line]
    assert git(repo, "ls-tree", "--name-only", "refs/notes/flower").stdout.split() == [head]
    shown = git(repo, "notes", "--ref=flower", "show", head).stdout.splitlines()
    assert shown[1] == '{"brief":3,"kind":"merge","v":1}'
    assert notes.read_many(r, [head, "0" * 40]) == {head: [{"v": 1, "kind": "x"}, line]}
