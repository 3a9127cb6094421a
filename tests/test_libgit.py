"""gitio.libgit: a long-lived reader's records read with libgit2 are what spawned git gives,
including what other processes write after the reader opened the repository."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import flower, git


@pytest.fixture
def lib() -> Iterator[object]:
    from flowergit.gitio import libgit

    libgit.enable()
    try:
        yield libgit
    finally:
        libgit.disable()


def _both(path: Path, prefix: str) -> tuple[list[tuple[str, str, dict[str, object]]], ...]:
    from flowergit.gitio import libgit
    from flowergit.gitio.repo import discover
    from flowergit.state import records

    repo = discover(str(path))
    libgit.disable()
    spawned = [(h.ref, h.commit, h.record) for h in records.read_many(repo, prefix)]
    libgit.enable()
    assert libgit.commits_with_file(repo, prefix, records.RECORD) is not None  # libgit2 answers
    read = [(h.ref, h.commit, h.record) for h in records.read_many(repo, prefix)]
    return spawned, read


def test_records_read_with_libgit2_are_the_ones_git_gives(repo: Path, lib: object) -> None:
    from flowergit.gitio.repo import discover
    from flowergit.state import records

    r = discover(str(repo))
    for i in (3, 1, 12, 2):
        records.create(r, f"refs/flower/dispatch/{i}/1", {"v": 1, "id": f"{i}.1", "n": i}, "new")
    head = records.create(r, "refs/flower/dispatch/1/2", {"v": 1, "id": "1.2"}, "new")
    records.append(r, head, {"v": 1, "id": "1.2", "state": "done"}, "done")
    # what read_many skips: a ref at a blob, a commit without a record, a record that does not read
    blob = git(repo, "hash-object", "-w", "--stdin", input=b"x").stdout.strip()
    git(repo, "update-ref", "refs/flower/dispatch/7/1", blob)
    git(repo, "update-ref", "refs/flower/dispatch/8/1", "HEAD")
    git(repo, "update-ref", "refs/flower/dispatch-other/1/1", head.commit)  # not under the prefix
    spawned, read = _both(repo, "refs/flower/dispatch/")
    assert read == spawned
    assert [x[0] for x in read] == ["refs/flower/dispatch/1/1", "refs/flower/dispatch/1/2",
                                    "refs/flower/dispatch/12/1", "refs/flower/dispatch/2/1",
                                    "refs/flower/dispatch/3/1"]
    assert read[1][2]["state"] == "done"

    # written by another process after libgit2 opened the repository, then packed: still seen
    flower(repo, "brief", "new", "a brief", "--json")
    records.create(r, "refs/flower/dispatch/40/1", {"v": 1, "id": "40.1"}, "new")
    git(repo, "pack-refs", "--all")
    git(repo, "repack", "-adq")
    spawned, read = _both(repo, "refs/flower/")
    assert read == spawned and "refs/flower/dispatch/40/1" in [x[0] for x in read]


def test_watch_reads_with_libgit2_and_hot_commands_never_load_it(repo: Path) -> None:
    flower(repo, "brief", "new", "a brief", "--json")
    code = ("import sys\nfrom flowergit.main import main\n"
            "rc = main(sys.argv[1:])\n"
            "sys.stderr.write('LOADED=%s\\n' % ('flowergit.gitio.libgit' in sys.modules))\n"
            "sys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-c", code, "watch", "--count", "2", "--interval", "0.1",
                        "--json"], cwd=repo, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "LOADED=True" in r.stderr
    assert json.loads(r.stdout.splitlines()[0])["ok"] is True
    for argv in (["status", "--json"], ["ps", "--json"], ["brief", "list", "--json"]):
        r = subprocess.run([sys.executable, "-c", code, *argv], cwd=repo, capture_output=True,
                           text=True, check=False)
        assert r.returncode == 0, r.stderr
        assert "LOADED=False" in r.stderr, argv


def test_a_repository_libgit2_cannot_open_is_read_with_git(tmp_path: Path, lib: object) -> None:
    from flowergit.gitio import libgit
    from flowergit.gitio.repo import discover
    from flowergit.state import records
    from tests.conftest import make_repo

    path = make_repo(tmp_path / "sha256", object_format="sha256")
    r = discover(str(path))
    records.create(r, "refs/flower/dispatch/1/1", {"v": 1, "id": "1.1"}, "new")
    got = libgit.commits_with_file(r, "refs/flower/dispatch/", records.RECORD)
    assert got is None or [x[0] for x in got] == ["refs/flower/dispatch/1/1"]  # a sha256 libgit2
    assert [h.record["id"] for h in records.read_many(r, "refs/flower/dispatch/")] == ["1.1"]


def test_ref_lines_list_what_for_each_ref_lists_and_see_new_refs(repo: Path, lib: object) -> None:
    """What bench/bench_web.py compares: the flower refs through libgit2 and through git."""
    from flowergit.gitio import libgit, refs
    from flowergit.gitio.repo import discover
    from flowergit.ops.watch import WATCHED

    flower(repo, "brief", "new", "one")
    flower(repo, "signal", "emit", "hello")
    r = discover(str(repo))
    assert libgit.ref_lines(r, WATCHED) == refs.read_many(r, WATCHED)
    flower(repo, "brief", "new", "two")  # written by another process after the first read
    git(repo, "pack-refs", "--all")
    flower(repo, "signal", "emit", "again")
    assert libgit.ref_lines(r, WATCHED) == refs.read_many(r, WATCHED)
    libgit.disable()
    assert libgit.ref_lines(r, WATCHED) is None  # not enabled: the caller spawns git
