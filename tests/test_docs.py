"""The manual: generated from the command tree, checked in, current; `--help` through git and man;
`git flower help CMD` without man."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, flower


def test_generated_docs_are_current() -> None:
    """Fails when a command, option or help text changed and the manual was not regenerated."""
    pytest.importorskip("docutils")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr + "\nrun: python scripts/gen_docs.py"


def test_stale_check_notices_a_change(tmp_path: Path) -> None:
    pytest.importorskip("docutils")
    from flowergit.cli.tree import docs_model
    from flowergit.ops.setup import docs

    model = docs_model()
    assert docs.write(model, str(tmp_path)) == [docs.MAN_PATH, docs.MD_PATH]
    assert docs.stale(model, str(tmp_path)) == []
    model.commands[0].help += " Changed."
    assert docs.stale(model, str(tmp_path)) == [docs.MAN_PATH, docs.MD_PATH]


def visible_commands() -> list[str]:
    from flowergit.cli.tree import docs_model

    return [c.name for c in docs_model().walk()[1:]]


def test_reference_names_every_command() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    man = (ROOT / "man" / "git-flower.1").read_text()
    for name in visible_commands():
        assert f"`{name}`" in text, name
        assert name.replace("-", "\\-") in man, name
    assert "__complete" not in text and "__complete" not in man


@pytest.mark.skipif(shutil.which("man") is None, reason="no man on this machine")
def test_git_flower_help_opens_the_man_page_through_git(repo: Path, tmp_path: Path) -> None:
    man1 = tmp_path / "share" / "man" / "man1"
    man1.mkdir(parents=True)
    shutil.copy(ROOT / "man" / "git-flower.1", man1 / "git-flower.1")
    env = {"MANPATH": str(tmp_path / "share" / "man"), "MANPAGER": "cat", "PAGER": "cat",
           "MANWIDTH": "80", "GIT_PAGER": "cat"}
    r = subprocess.run(["git", "flower", "--help"], cwd=repo, capture_output=True, text=True,
                       env={**os.environ, **env}, timeout=60)
    assert r.returncode == 0, r.stderr
    out = re.sub(".\b", "", r.stdout)  # overstrike bold
    assert "git-flower" in out and "git flower dispatch" in out and "EXIT STATUS" in out


def test_man_page_is_found_from_a_venv_bin_on_path(repo: Path, tmp_path: Path) -> None:
    """What a pip install into a venv gives: <venv>/bin on PATH, <venv>/share/man/man1/."""
    if shutil.which("man") is None:
        pytest.skip("no man on this machine")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "share" / "man" / "man1").mkdir(parents=True)
    shutil.copy(ROOT / "man" / "git-flower.1", venv / "share" / "man" / "man1" / "git-flower.1")
    exe = venv / "bin" / "git-flower"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} -m flowergit \"$@\"\n")
    exe.chmod(0o755)
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "MANPAGER": "cat",
           "PAGER": "cat", "MANWIDTH": "80"}
    env.pop("MANPATH", None)
    r = subprocess.run(["git", "flower", "--help"], cwd=repo, capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "git flower dispatch" in re.sub(".\b", "", r.stdout)


def test_help_command_works_without_man(repo: Path) -> None:
    r = flower(repo, "help", "brief", "new", env={"PATH": os.path.dirname(sys.executable)})
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: git flower brief new")
    assert "--body-file" in r.stdout
    top = flower(repo, "help")
    assert top.returncode == 0 and "dispatch" in top.stdout and "doctor" in top.stdout
    bad = flower(repo, "help", "brief", "nosuch")
    assert bad.returncode == 2 and "no command 'git flower brief nosuch'" in bad.stderr
    assert "git flower help brief" in bad.stderr
