"""`git flower verify` and `git flower why`: provenance read back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import flower, flower_json, git
from hypothesis import given, settings
from hypothesis import strategies as st
from merge_helpers import finished, setup_repo


@pytest.mark.slow
def test_verify_lists_unattested_commits_and_why_finds_the_brief(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    a = finished(repo, "first", {"a.txt": "alpha\nbeta\n"})
    assert flower(repo, "merge", str(a)).returncode == 0
    b = finished(repo, "second", {"b.txt": "bee\n"})
    assert flower(repo, "merge", str(b)).returncode == 0
    merged_a = git(repo, "rev-parse", "main~1").stdout.strip()
    r = flower(repo, "verify", "main~2..main", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)["data"]
    assert data["commits"] == 2 and data["attested"] == 2
    # the whole branch: the commits before git flower have no attestation and are listed
    r = flower(repo, "verify")
    assert r.returncode == 5
    assert "flower config" in r.stdout and "no attestation" in r.stdout
    # once tested, a commit counts
    assert flower(repo, "test", "main~2").returncode == 0
    r = flower(repo, "verify", "main~3..main")
    assert r.returncode == 0, r.stdout
    # why: a commit, a path, a line
    r = flower(repo, "why", "main~1", "--json")
    w = json.loads(r.stdout)["data"]
    assert w["provenance"]["brief"] == a and w["merge"] == merged_a
    r = flower(repo, "why", "a.txt:2", "--json")
    w = json.loads(r.stdout)["data"]
    assert w["provenance"]["brief"] == a and w["line"] == 2
    assert w["commit"] == git(repo, "rev-parse", f"flower/{a}-work").stdout.strip()
    r = flower(repo, "why", "b.txt")
    assert r.returncode == 0 and f"brief {b}, dispatch {b}.1" in r.stdout
    assert "8 passed" in r.stdout
    r = flower(repo, "why", "README.md")
    assert r.returncode == 0 and "no provenance" in r.stdout
    assert flower(repo, "why", "nope").returncode == 3
    assert flower(repo, "verify", "nope..main").returncode == 3


def test_why_finds_each_lines_commit_and_landing_whatever_the_history(repo: Path) -> None:
    """`why FILE:LINE` names the commit that wrote the line and the first-parent commit that
    brought it in: a line written on the target itself, one brought by a merge, one the merge
    made itself (an evil merge), and the same answers from a checkout of another branch."""
    def commit(msg: str, text: str) -> str:
        (repo / "f.txt").write_text(text)
        git(repo, "commit", "-qam", msg)
        return git(repo, "rev-parse", "HEAD").stdout.strip()

    lines = [f"line {i}" for i in range(1, 8)]

    def text(**changed: str) -> str:
        return "".join(changed.get(f"l{i}", ln) + "\n" for i, ln in enumerate(lines, 1))

    (repo / "f.txt").write_text(text())
    git(repo, "add", "f.txt")
    git(repo, "commit", "-qm", "f")
    a = git(repo, "rev-parse", "HEAD").stdout.strip()
    git(repo, "switch", "-qc", "side")
    b = commit("side: two", text(l2="TWO"))
    git(repo, "switch", "-q", "main")
    c = commit("main: six", text(l6="SIX"))
    git(repo, "merge", "-q", "--no-ff", "--no-commit", "side")
    (repo / "f.txt").write_text(text(l2="TWO", l4="FOUR", l6="SIX"))  # the merge writes line 4
    git(repo, "commit", "-qam", "merge side")
    m = git(repo, "rev-parse", "HEAD").stdout.strip()
    want = {1: (a, a), 2: (b, m), 4: (m, m), 6: (c, c)}
    for line, (wrote, landed) in want.items():
        w = flower_json(repo, "why", f"f.txt:{line}")
        assert (w["commit"], w["merge"]) == (wrote, landed), line  # type: ignore[index]
    # from a checkout that is not the target's tip, the same questions walk the history
    git(repo, "switch", "-qc", "later")
    commit("later", text(l2="TWO", l4="FOUR", l6="SIX") + "eight\n")
    for line, (wrote, landed) in want.items():
        w = flower_json(repo, "why", f"f.txt:{line}")
        assert (w["commit"], w["merge"]) == (wrote, landed), line  # type: ignore[index]


def test_why_of_a_line_starts_three_git_processes_however_long_the_history(repo: Path) -> None:
    """On the target's tip, `why FILE:LINE` of the newest line asks discovery, one batch reader
    (both tips, the commit, the notes) and one first-parent blame: the same three processes
    in a history of 2 commits and of 400."""
    import os
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "bench"))
    import build

    def calls() -> list[str]:
        trace = repo.parent / f"trace-{os.getpid()}.txt"
        trace.unlink(missing_ok=True)
        w = flower_json(repo, "why", "src/f00.txt:1", env={"GIT_TRACE": str(trace)})
        assert w["subject"].startswith("change ")  # type: ignore[index]
        lines = trace.read_text(errors="replace").splitlines()
        return [ln.split("trace: built-in: git ", 1)[1].split(" ")[0]
                for ln in lines if "trace: built-in: git " in ln]

    build.history(repo, 1, notes=True)
    short = calls()
    build.history(repo, 400, notes=True)
    assert calls() == short == ["rev-parse", "cat-file", "blame"]


@given(st.lists(st.sampled_from(["a", "b c", " ", "\t", "\r", "\n", "\n\n", "\v", "\f", "é",
                                 "\xff"]), max_size=12))
@settings(max_examples=40, deadline=None)
def test_a_subject_read_from_the_commit_object_is_what_git_log_prints(
        tmp_path_factory: pytest.TempPathFactory, parts: list[str]) -> None:
    """`why` reads a commit's subject from the object its batch reader already has; for any
    message (blank lines before, a first paragraph over several lines, trailing blanks, CR,
    \\v, bytes that are not UTF-8) it is what `git log --format=%s` prints, stripped."""
    from flowergit.gitio.history import parents_and_subject

    repo = _bare(tmp_path_factory)
    msg = "".join(parts).encode("utf-8").replace("\xff".encode(), b"\xff")
    body = (b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
            b"author a <a@b> 1 +0000\ncommitter a <a@b> 1 +0000\n\n" + msg)
    oid = git(repo, "hash-object", "-t", "commit", "-w", "--stdin", input=body).stdout.strip()
    raw = subprocess.run(["git", "log", "-1", "--format=%s", oid], cwd=repo, capture_output=True,
                         check=True).stdout.decode("utf-8", "surrogateescape").strip()
    assert parents_and_subject(body) == ([], raw)


def test_a_subject_in_another_encoding_is_asked_of_git(repo: Path) -> None:
    """A commit that names its encoding (ISO-8859-1) is re-encoded by git: the object alone
    does not give its subject, so `why` asks `git log` for it."""
    from flowergit.gitio.history import parents_and_subject

    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").stdout.strip()
    body = (f"tree {tree}\nparent {head}\nauthor a <a@b> 1 +0000\ncommitter a <a@b> 1 +0000\n"
            "encoding ISO-8859-1\n\n").encode() + "café au lait\n".encode("latin-1")
    oid = git(repo, "hash-object", "-t", "commit", "-w", "--stdin", input=body).stdout.strip()
    assert parents_and_subject(body) == ([head], None)
    w = flower_json(repo, "why", oid)
    assert w["subject"] == "café au lait" and w["commit"] == oid  # type: ignore[index]


_BARE: dict[str, Path] = {}


def _bare(factory: pytest.TempPathFactory) -> Path:
    """One scratch repository for all the examples of a property test."""
    if "repo" not in _BARE:
        _BARE["repo"] = factory.mktemp("subjects")
        git(_BARE["repo"], "init", "-q", "--bare")
    return _BARE["repo"]
