"""`git flower verify` and `git flower why`: provenance read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import flower, git
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
