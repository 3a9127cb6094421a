"""`.flower.toml` validation, git version refusal, and the CLI contract (exit codes, envelope)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import flower, flower_json, git, write_exe

CORRUPT = [
    # (bytes, where, reason regex)
    (b"x = [1\n", "1:7", r"Unclosed array|Invalid|Expected"),
    (b"[flower]\nmax_parallel = 2\nmax_parallel = 3\n", "3:1", r"key flower\.max_parallel is defined twice"),
    (b"\xef\xbb\xbf[flower]\n", "1:1", r"byte order mark"),
    (b"[flower]\ntarget = \"ma\xffin\"\n", "2:13", r"not valid UTF-8"),
    (b"[flower]\nmax_parallel = \"four\"\n", "2:1", r"max_parallel: expected a whole number"),
    (b"[flower]\nmax_parallel = 0\n", "2:1", r"from 1 to 256"),
    (b"[suite]\ncommand = \"pytest -q\"\n", "2:1", r"expected a non-empty list of strings"),
    (b"[flower]\nmax_paralel = 4\n", "2:1", r"unknown key 'max_paralel' in \[flower\]"),
    (b"[flowr]\n", "1:1", r"unknown section \[flowr\]"),
    (b"[agents.fake]\nenv = {}\n", "", r"has no 'command'"),
    (b"[agents.Fake]\ncommand = [\"x\"]\n", "", r"invalid agent name"),
    (b"[merge]\nlocal_only = [\"../etc/passwd\"]\n", "2:1", r"not a path inside the repository"),
]


@pytest.mark.slow
@pytest.mark.parametrize("raw,where,reason", CORRUPT)
def test_corrupt_config_exit_2_names_file_line_col(repo: Path, raw: bytes, where: str, reason: str) -> None:
    flower_json(repo, "brief", "new", "x")
    before = git(repo, "rev-parse", "flower/briefs").stdout
    (repo / ".flower.toml").write_bytes(raw)
    for cmd in (("brief", "list"), ("brief", "show", "1"), ("brief", "new", "y"), ("trust",)):
        r = flower(repo, *cmd)
        assert r.returncode == 2, (cmd, r.stderr)
        first = r.stderr.splitlines()[0]
        assert first.startswith(f"fatal: {repo / '.flower.toml'}:{where}"), first
        assert re.search(reason, first), first
    assert git(repo, "rev-parse", "flower/briefs").stdout == before


def test_config_unreadable_or_a_directory(repo: Path) -> None:
    cfg = repo / ".flower.toml"
    cfg.unlink()
    cfg.mkdir()
    r = flower(repo, "brief", "list")
    assert r.returncode == 2 and "is a directory" in r.stderr
    cfg.rmdir()
    cfg.write_text("")  # empty: all defaults
    assert flower(repo, "brief", "list").returncode == 0
    cfg.unlink()  # missing: all defaults
    assert flower(repo, "brief", "list").returncode == 0


def test_config_is_read_from_the_main_checkout_not_a_worktree(repo: Path) -> None:
    wt = repo.parent / "wt"
    git(repo, "worktree", "add", "-q", "-b", "w", str(wt))
    (wt / ".flower.toml").write_text("this is not toml = = =\n")
    assert flower(wt, "brief", "list").returncode == 0
    (repo / ".flower.toml").write_text("[nope]\n")
    assert flower(wt, "brief", "list").returncode == 2


@pytest.mark.parametrize("version,rc", [
    ("git version 2.25.1", 6), ("git version 2.37.9", 6), ("garbage", 6),
    ("git version 2.39.3 (Apple Git-146)", 0), ("git version 2.45.1.windows.1", 0),
    ("git version 2.50.0.rc1", 0),
])
def test_git_version_gate(repo: Path, tmp_path: Path, version: str, rc: int) -> None:
    real = os.popen("command -v git").read().strip()
    shim = tmp_path / "shim"
    write_exe(shim / "git", f'#!/bin/sh\nfor a in "$@"; do [ "$a" = version ] && {{ echo "{version}"; exit 0; }}; done\n'
                            f'exec {real} "$@"\n')
    r = flower(repo, "brief", "list", env={"PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"})
    assert r.returncode == rc, r.stderr
    if rc == 6:
        assert r.stderr.startswith("fatal: ") and ("2.38" in r.stderr)
        if "2.25" in version:
            assert "found 2.25.1" in r.stderr


def test_no_git_at_all(repo: Path, tmp_path: Path) -> None:
    import sys

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"PATH": str(empty)}
    import subprocess

    r = subprocess.run([sys.executable, "-m", "flowergit", "brief", "list"], cwd=repo,
                       capture_output=True, text=True, env={**os.environ, **env})
    assert r.returncode == 6 and "git is not installed" in r.stderr


def test_help_version_and_usage_errors(repo: Path) -> None:
    r = flower(repo, "-h")
    assert r.returncode == 0 and "Usage: git flower" in r.stdout and "brief" in r.stdout
    assert flower(repo, "brief", "new", "-h").stdout.startswith("Usage: git flower brief new")
    v = flower(repo, "--version")
    assert v.returncode == 0 and re.fullmatch(r"git flower \d+\.\d+\.\d+\n", v.stdout)
    for args in (("nope",), ("brief", "show"), ("brief", "list", "--bogus"), ("--color", "pink", "brief", "list")):
        r = flower(repo, *args)
        assert r.returncode == 2, args
        assert r.stderr.startswith("fatal: ") and "\nhint: " in r.stderr and "Traceback" not in r.stderr


def test_json_errors_keep_stdout_a_single_document(repo: Path) -> None:
    r = flower(repo, "brief", "show", "abc", "--json")
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["error"]["code"] == "usage" and doc["version"] == 1


def test_piped_output_is_plain_and_untruncated(repo: Path) -> None:
    long_title = "word " * 60 + "\x1b]0;pwned\x07 end"
    flower(repo, "brief", "new", long_title)
    out = flower(repo, "brief", "list").stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;pwned\\x07 end" in out  # escaped, not cut
    assert out.splitlines()[0].split() == ["ID", "STATUS", "KIND", "FLAGS", "TITLE"]


def test_internal_errors_are_exit_1_with_a_hint(repo: Path) -> None:
    cache = repo / ".git" / "flower" / "cache"
    flower_json(repo, "brief", "list")
    # an unreadable brief blob id in a corrupt cache is tolerated (cache is only an optimisation)
    (cache / "briefs.json").write_text("{not json")
    assert flower(repo, "brief", "list").returncode == 0


def test_inherited_git_dir_is_honoured_like_git(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    flower_json(repo, "brief", "new", "via GIT_DIR")
    r = flower(other, "brief", "list", "--json", env={"GIT_DIR": str(repo / ".git")})
    assert r.returncode == 0 and json.loads(r.stdout)["data"][0]["title"] == "via GIT_DIR"
