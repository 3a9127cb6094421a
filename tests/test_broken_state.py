"""Broken state is named, never fatal in silence (FAULTS 67, 68): hand-edited brief files that
do not parse or are not valid, and state refs that are no record chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import flower, flower_json, git, write_exe


def hand_edit(repo: Path, bid: int, data: bytes) -> None:
    """Commit ``data`` as brief ``bid``'s file on flower/briefs with plain git (as a person or a
    forge editor would), never through git flower."""
    _commit_file(repo, f"briefs/{bid // 100 * 100:04d}/{bid}.md", data)


# (name, file bytes for brief 2, what the message says, the repair: ("edit",) or ("set", K=V))
KINDS = [
    ("broken TOML", b'+++\nid = 2\ntitle = "unterminated\nstatus = "planned"\n+++\nbody\n',
     ":3:22: the front matter is not valid TOML", ("edit",)),
    ("not UTF-8", b'+++\nid = 2\ntitle = "caf\xe9"\n+++\nbody\n', ":3:", ("edit",)),
    ("no front matter", b"just a body, no front matter\n", "does not start with a '+++' line",
     ("edit",)),
    ("front matter not closed", b'+++\nid = 2\ntitle = "open"\nbody\n', "is not closed",
     ("edit",)),
    ("id not the path's", b'+++\nid = 77\ntitle = "moved"\n+++\n', "says id = 77, but the file "
     "is brief 2's", ("edit",)),
    ("unknown status", b'+++\nid = 2\ntitle = "odd"\nstatus = "weird"\n+++\n',
     "unknown status 'weird'", ("set", "status=planned")),
    ("wrong type", b'+++\nid = 2\ntitle = 5\nstatus = "draft"\n+++\n', "'title' has the wrong "
     "type (int)", ("set", "title=fixed")),
    ("duplicate id", b'+++\nid = 1\ntitle = "twin"\n+++\n', "says id = 1, but the file is "
     "brief 2's", ("edit",)),
]
FILE = "flower/briefs:briefs/0000/2.md"


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS, ids=[k[0] for k in KINDS])
def test_broken_brief_file_named_listed_found_and_repaired(
        repo: Path, tmp_path: Path, kind: tuple[str, bytes, str, tuple[str, ...]]) -> None:
    name, data, what, repair = kind
    flower_json(repo, "brief", "new", "one")
    flower_json(repo, "brief", "new", "two")
    hand_edit(repo, 2, data)
    before = git(repo, "rev-parse", "flower/briefs").stdout
    for args in (["brief", "show", "2"], ["brief", "set", "2", "kind=bug"],
                 ["brief", "plan", "2"], ["dispatch", "2"], ["brief", "list", "--status", "nope"]):
        r = flower(repo, *args)
        assert r.returncode in (2, 3), (name, args, r.returncode, r.stderr)
        assert "internal error" not in r.stderr and "\nhint:" in "\n" + r.stderr, (args, r.stderr)
        if args[-1] != "nope":
            assert f"fatal: {FILE}" in r.stderr and what in r.stderr, (name, args, r.stderr)
    assert git(repo, "rev-parse", "flower/briefs").stdout == before  # nothing written
    rows = flower_json(repo, "brief", "list")
    assert [(b["id"], b["status"]) for b in rows] == [(1, "draft"), (2, "broken")]  # type: ignore[index, union-attr]
    assert rows[1]["file"] == FILE and rows[1]["hint"]  # type: ignore[index]
    assert "1 broken" in flower(repo, "status").stdout
    doc = flower(repo, "doctor", "--json")
    assert doc.returncode != 0
    found = [f for f in json.loads(doc.stdout)["data"]["findings"] if f["check"] == "briefs"]
    assert len(found) == 1 and FILE in found[0]["message"] and found[0]["status"] == "error"
    # repaired with git flower's own commands
    if repair[0] == "edit":
        fix = write_exe(tmp_path / "fix", "#!/bin/sh\nprintf '+++\\nid = 2\\ntitle = \"fixed\"\\n"
                        "status = \"planned\"\\n+++\\nbody\\n' >\"$1\"\n")
        r = flower(repo, "brief", "edit", "2", env={"GIT_EDITOR": str(fix)})
    else:
        r = flower(repo, "brief", "set", "2", repair[1])
    assert r.returncode == 0, (name, r.stderr)
    assert flower_json(repo, "brief", "show", "2")["status"] in ("planned", "draft")  # type: ignore[index]
    assert [b["status"] for b in flower_json(repo, "brief", "list")] == ["draft",  # type: ignore[union-attr]
                                                                          flower_json(repo, "brief", "show", "2")["status"]]  # type: ignore[index]
    assert flower(repo, "brief", "set", "2", "kind=bug").returncode == 0


def test_brief_edit_opens_the_raw_file_and_keeps_an_edit_that_does_not_parse(
        repo: Path, tmp_path: Path) -> None:
    flower_json(repo, "brief", "new", "one")
    raw = b'+++\nid = 1\ntitle = "half\n+++\nraw \xff bytes\n'
    hand_edit(repo, 1, raw)
    seen = tmp_path / "seen"
    copy = write_exe(tmp_path / "copy", f"#!/bin/sh\ncp \"$1\" {seen}\n"
                     "sed -i 's/\"half$/\"half\"\\nstatus = \"weird\"/' \"$1\"\n")
    r = flower(repo, "brief", "edit", "1", env={"GIT_EDITOR": str(copy)})
    assert seen.read_bytes() == raw  # the editor got the raw bytes
    assert r.returncode == 2 and "not saved" in r.stderr and "unknown status 'weird'" in r.stderr
    kept = repo / ".git" / "flower" / "edits" / "1.md"
    assert b'status = "weird"' in kept.read_bytes() and str(kept) in r.stderr
    # the next edit reopens the kept text; once it parses it is written and the copy goes
    fix = write_exe(tmp_path / "fix", "#!/bin/sh\nsed -i 's/weird/planned/' \"$1\"\n")
    r = flower(repo, "brief", "edit", "1", env={"GIT_EDITOR": str(fix)})
    assert r.returncode == 0, r.stderr
    assert not kept.exists()
    shown = flower_json(repo, "brief", "show", "1")
    assert shown["status"] == "planned" and shown["title"] == "half"  # type: ignore[index]


def _record_commit_without_record(repo: Path) -> str:
    tree = git(repo, "mktree", input=b"").stdout.strip()
    return git(repo, "commit-tree", tree, "-m", "no record").stdout.strip()


@pytest.mark.slow
def test_corrupt_state_refs_named_found_and_moved_aside(repo: Path) -> None:
    flower_json(repo, "brief", "new", "work", )
    assert flower(repo, "brief", "set", "1", 'run=[["true"]]').returncode == 0
    blob = git(repo, "hash-object", "-w", "--stdin", input=b"junk\n").stdout.strip()
    tree = git(repo, "mktree", input=b"").stdout.strip()
    git(repo, "update-ref", "refs/flower/dispatch/1/1", blob)          # a blob
    git(repo, "update-ref", "refs/flower/baton/main", tree)            # a tree
    bare = _record_commit_without_record(repo)
    git(repo, "update-ref", "refs/flower/signals/s-1", bare)           # a commit, no record
    gone = "1" * 40                                                    # a missing object
    (repo / ".git" / "refs" / "flower" / "daemons").mkdir(parents=True)
    (repo / ".git" / "refs" / "flower" / "daemons" / "d1").write_text(gone + "\n")
    r = flower(repo, "dispatch", "1")
    assert r.returncode == 2 and "refs/flower/dispatch/1/1 is corrupt: it names a blob" in r.stderr
    assert "hint: run `git flower doctor --fix`" in r.stderr and "claimed" not in r.stderr
    r = flower(repo, "baton", "show")
    assert r.returncode == 2 and "refs/flower/baton/main is corrupt: it names a tree" in r.stderr
    doc = flower(repo, "doctor", "--json")
    found = {f["data"]["ref"]: f["message"] for f in json.loads(doc.stdout)["data"]["findings"]
             if f["check"] == "state refs"}
    assert doc.returncode != 0 and set(found) == {
        "refs/flower/dispatch/1/1", "refs/flower/baton/main", "refs/flower/signals/s-1",
        "refs/flower/daemons/d1"}
    assert "holds no record.json" in found["refs/flower/signals/s-1"]
    assert "missing" in found["refs/flower/daemons/d1"]
    fixed = flower(repo, "doctor", "--fix", "--json")
    assert json.loads(fixed.stdout)["data"]["fixed"] >= 4
    lost = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/flower/lost/").stdout
    assert lost.split("\n")[:3] == [f"refs/flower/lost/flower/baton/main {tree}",
                                    f"refs/flower/lost/flower/dispatch/1/1 {blob}",
                                    f"refs/flower/lost/flower/signals/s-1 {bare}"]
    assert not git(repo, "for-each-ref", "refs/flower/daemons/", "refs/flower/baton/").stdout
    assert flower(repo, "doctor").returncode == 0 or "state refs" not in flower(repo, "doctor").stdout
    assert flower(repo, "baton", "show").returncode == 0
    r = flower(repo, "dispatch", "1", "--json")
    assert r.returncode == 0, r.stderr


def test_doctor_reads_a_record_once_and_still_finds_one_that_does_not_read(repo: Path) -> None:
    """doctor keeps the ids of record blobs that decoded (their content never changes): a
    second run reads none of them, and a record that does not read is found all the same."""
    flower_json(repo, "signal", "emit", "one")
    first = flower(repo, "doctor", "--json")
    assert not [f for f in json.loads(first.stdout)["data"]["findings"]
                if f["check"] == "state refs" and f["status"] != "ok"]
    verified = (repo / ".git" / "flower" / "cache" / "records-verified").read_text().split()
    assert verified  # the signal's record, at least
    junk = git(repo, "hash-object", "-w", "--stdin", input=b"{not json\n").stdout.strip()
    tree = git(repo, "mktree", input=f"100644 blob {junk}\trecord.json\n".encode()).stdout.strip()
    bad = git(repo, "commit-tree", tree, "-m", "a record that does not read").stdout.strip()
    git(repo, "update-ref", "refs/flower/signals/s-junk", bad)
    doc = flower(repo, "doctor", "--json")
    found = {f["data"]["ref"]: f["message"] for f in json.loads(doc.stdout)["data"]["findings"]
             if f["check"] == "state refs" and f["status"] != "ok"}
    assert list(found) == ["refs/flower/signals/s-junk"] and "does not read" in found[
        "refs/flower/signals/s-junk"], found
    assert junk not in (repo / ".git" / "flower" / "cache" / "records-verified").read_text()


def _commit_file(repo: Path, path: str, data: bytes) -> None:
    """Commit ``data`` at ``path`` on flower/briefs with plain git, never through git flower."""
    blob = git(repo, "hash-object", "-w", "--stdin", input=data).stdout.strip()
    tip = git(repo, "rev-parse", "refs/heads/flower/briefs").stdout.strip()
    index = repo / ".git" / "stray.index"
    env = {"GIT_INDEX_FILE": str(index)}
    git(repo, "read-tree", tip, env=env)
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
    tree = git(repo, "write-tree", env=env).stdout.strip()
    index.unlink()
    commit = git(repo, "commit-tree", tree, "-p", tip, "-m", f"hand edit {path}").stdout.strip()
    git(repo, "update-ref", "refs/heads/flower/briefs", commit, tip)


def test_a_copy_of_a_brief_at_no_briefs_path_is_named_not_listed_twice(repo: Path) -> None:
    # a brief file copied by hand to another name, or into the wrong shard: one id, one row
    flower_json(repo, "brief", "new", "one")
    raw = git(repo, "show", "flower/briefs:briefs/0000/1.md").stdout.encode()
    _commit_file(repo, "briefs/0000/copy-of-1.md", raw)
    _commit_file(repo, "briefs/0100/1.md", raw)
    rows = flower_json(repo, "brief", "list")
    assert [r["id"] for r in rows] == [1]  # type: ignore[union-attr,index]
    doc = flower(repo, "doctor", "--json")
    found = [f for f in json.loads(doc.stdout)["data"]["findings"] if f["check"] == "briefs"]
    assert sorted(f["data"]["file"] for f in found) == ["flower/briefs:briefs/0000/copy-of-1.md",
                                                         "flower/briefs:briefs/0100/1.md"]
    assert all(f["status"] == "warn" and "no brief's path" in f["message"] for f in found)
