"""Other hook managers and git flower's hooks: a real `pre-commit install -f` or `lefthook install`
drops them, `doctor` says so (exit 4, the manager named, the command that restores them), and
after the documented integration a real `git commit` writes the Flower-Brief trailer again.

pre-commit and lefthook come from the `test` extra (pyproject.toml); without them a test is
skipped, except under CI=true, where a missing one is a failure."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, ROOT, flower, flower_json, git

REAL_HOME = os.path.expanduser("~")  # read at import, before the hermetic fixture moves HOME


def tool(name: str) -> str:
    found = shutil.which(name, path=BIN + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed: it is pinned in the `test` extra of pyproject.toml")
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' brings it)")
    return found


def run(repo: Path, *argv: str, env: dict[str, str] | None = None,
        timeout: float = 240) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(list(argv), cwd=repo, capture_output=True, text=True, timeout=timeout, check=False,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def hook_findings(repo: Path) -> tuple[int, list[dict[str, object]]]:
    r = flower(repo, "doctor", "--json")
    data = json.loads(r.stdout)["data"]
    return r.returncode, [f for f in data["findings"] if f["check"] == "hooks"]


def errors(found: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(f["data"]["event"]): f for f in found  # type: ignore[index]
            if f["status"] == "error"}


def commit_on_brief(repo: Path, n: int = 7) -> str:
    git(repo, "switch", "-qc", f"flower/{n}-work")
    git(repo, "commit", "--allow-empty", "-qm", "work")
    return git(repo, "log", "-1", "--format=%B").stdout


def progress_lines(repo: Path) -> int:
    d = repo / ".git" / "flower" / "progress"
    return sum(len(f.read_text().splitlines()) for f in d.glob("*.log")) if d.exists() else 0


@pytest.mark.slow
def test_pre_commit_install_f_is_reported_and_the_integration_restores_the_trailer(repo: Path) -> None:
    pc = tool("pre-commit")
    flower_json(repo, "hooks", "install")
    code, found = hook_findings(repo)
    assert code == 0 and all(f["status"] == "ok" for f in found), found
    (repo / ".pre-commit-config.yaml").write_text("repos: []\n")
    run(repo, pc, "install", "-f", "--hook-type", "commit-msg", "--hook-type", "post-commit")
    assert "Flower-Brief" not in commit_on_brief(repo)  # what the user would not notice
    code, found = hook_findings(repo)
    assert code == 4
    lost = errors(found)
    assert sorted(lost) == ["commit-msg", "post-commit"]
    f = lost["commit-msg"]
    assert f["data"]["manager"] == "pre-commit" and f["data"]["how"] == "replaced"  # type: ignore[index]
    assert f["message"] == (
        f"git flower's commit-msg hook was replaced by pre-commit: {repo}/.git/hooks/commit-msg is now "
        "pre-commit's hook; git no longer runs it")
    assert f["fix"] == ("add git flower's hooks to pre-commit's config (`git flower hooks install "
                        "--print pre-commit`), or chain them: `git flower hooks install`")
    human = flower(repo, "doctor")
    assert human.returncode == 4
    assert "error   hooks      git flower's commit-msg hook was replaced by pre-commit" in human.stdout
    # the documented integration: the snippet, then pre-commit's own install
    snippet = flower(repo, "hooks", "install", "--print", "pre-commit")
    assert snippet.returncode == 0 and snippet.stdout in (ROOT / "docs" / "hooks.md").read_text()
    (repo / ".pre-commit-config.yaml").write_text(snippet.stdout)
    run(repo, pc, "install", "--hook-type", "commit-msg", "--hook-type", "post-commit")
    before = progress_lines(repo)
    git(repo, "switch", "-q", "main")
    assert commit_on_brief(repo, 8).rstrip().endswith("Flower-Brief: 8")
    assert progress_lines(repo) == before + 1
    code, found = hook_findings(repo)
    assert not errors(found), found
    assert any("pre-commit runs git flower's commit-msg hook" in str(f["message"]) for f in found)
    # installing again leaves those events to pre-commit instead of running git flower twice
    again = flower_json(repo, "hooks", "install")
    assert [h["action"] for h in again["hooks"]][:2] == [  # type: ignore[index]
        "left to pre-commit (its config runs git flower's commit-msg)",
        "left to pre-commit (its config runs git flower's post-commit)"]


def test_chaining_under_pre_commit_keeps_both(repo: Path) -> None:
    """The other fix: `hooks install` again chains pre-commit's hook and runs it first."""
    pc = tool("pre-commit")
    flower_json(repo, "hooks", "install")
    (repo / ".pre-commit-config.yaml").write_text("repos: []\n")
    run(repo, pc, "install", "-f", "--hook-type", "commit-msg")
    r = flower(repo, "hooks", "install")
    assert r.returncode == 0
    assert "commit-msg: installed; chained the existing hook (pre-commit's)" in r.stdout
    assert "hooks install --print pre-commit" in r.stderr
    assert commit_on_brief(repo).rstrip().endswith("Flower-Brief: 7")
    code, found = hook_findings(repo)
    assert code == 0 and not errors(found), found


@pytest.mark.slow
def test_lefthook_install_is_reported_and_the_integration_restores_the_trailer(repo: Path) -> None:
    lh = tool("lefthook")
    flower_json(repo, "hooks", "install")
    (repo / "lefthook.yml").write_text("commit-msg:\n  commands:\n    lint:\n      run: 'true'\n")
    run(repo, lh, "install")
    assert "Flower-Brief" not in commit_on_brief(repo)
    code, found = hook_findings(repo)
    assert code == 4
    lost = errors(found)
    assert sorted(lost) == ["commit-msg"]
    data = lost["commit-msg"]["data"]
    assert data["manager"] == "lefthook" and data["how"] == "replaced"  # type: ignore[index]
    assert data["moved_to"] == f"{repo}/.git/hooks/commit-msg.old"  # type: ignore[index]
    assert "`git flower hooks install --print lefthook`" in str(lost["commit-msg"]["fix"])
    snippet = flower(repo, "hooks", "install", "--print", "lefthook")
    assert snippet.returncode == 0 and snippet.stdout in (ROOT / "docs" / "hooks.md").read_text()
    (repo / "lefthook.yml").write_text(snippet.stdout)
    run(repo, lh, "install")
    git(repo, "switch", "-q", "main")
    assert commit_on_brief(repo, 9).rstrip().endswith("Flower-Brief: 9")
    code, found = hook_findings(repo)
    assert not errors(found), found


@pytest.mark.slow
def test_not_executable_renamed_and_disabled_hooks(repo: Path) -> None:
    flower_json(repo, "hooks", "install")
    hooks = repo / ".git" / "hooks"
    (hooks / "commit-msg").chmod(0o644)
    (hooks / "post-commit").rename(hooks / "post-commit.bak")
    code, found = hook_findings(repo)
    lost = errors(found)
    assert code == 4 and sorted(lost) == ["commit-msg", "post-commit"]
    assert lost["commit-msg"]["data"]["how"] == "not executable"  # type: ignore[index]
    assert lost["commit-msg"]["fix"] == "git flower hooks install"
    assert lost["post-commit"]["data"]["how"] == "renamed"  # type: ignore[index]
    assert lost["post-commit"]["data"]["moved_to"] == str(hooks / "post-commit.bak")  # type: ignore[index]
    data = flower_json(repo, "hooks", "install")
    assert [h["action"] for h in data["hooks"]][:2] == ["updated", "installed"]  # type: ignore[index]
    code, found = hook_findings(repo)
    assert code == 0 and not errors(found)
    # a manager that points core.hooksPath elsewhere (husky's layout) disables every one of ours
    husky = repo / ".husky" / "_"
    husky.mkdir(parents=True)
    (husky / "commit-msg").write_text('#!/usr/bin/env sh\n. "$(dirname "$0")/h"\n')
    git(repo, "config", "core.hooksPath", ".husky/_")
    code, found = hook_findings(repo)
    lost = errors(found)
    assert code == 4 and sorted(lost) == ["commit-msg", "post-commit", "pre-push"]
    assert lost["commit-msg"]["data"]["how"] == "disabled"  # type: ignore[index]
    assert lost["commit-msg"]["data"]["manager"] == "husky"  # type: ignore[index]
    assert "core.hooksPath=.husky/_" in str(lost["commit-msg"]["message"])
    assert lost["commit-msg"]["fix"] == "git flower hooks install --force"
    # uninstall forgets them: nothing is reported lost any more
    git(repo, "config", "--unset", "core.hooksPath")
    flower_json(repo, "hooks", "uninstall")
    code, found = hook_findings(repo)
    assert code == 0 and [f["message"] for f in found] == ["git flower hooks not installed (optional)"]


def test_print_names_the_managers_it_knows(repo: Path) -> None:
    r = flower(repo, "hooks", "install", "--print", "husky")
    assert r.returncode == 2
    assert r.stderr == ("fatal: no integration for 'husky'\n"
                        "hint: use `--print pre-commit` or `--print lefthook`\n")
    assert not (repo / ".git" / "hooks" / "commit-msg").exists()  # nothing installed
    got = flower_json(repo, "hooks", "install", "--print", "lefthook")
    assert got["manager"] == "lefthook" and "hook-impl commit-msg {1}" in got["snippet"]  # type: ignore[index]


@pytest.mark.slow  # pre-commit try-repo
@pytest.mark.timeout(660)  # pre-commit installs git flower and its dependencies in a venv of its own
def test_published_pre_commit_hooks_run_under_real_pre_commit(repo: Path, tmp_path: Path) -> None:
    """.pre-commit-hooks.yaml, as pre-commit reads it from git flower's repository (try-repo:
    pre-commit builds its own environment with git flower installed from this checkout)."""
    pc = tool("pre-commit")
    cache = os.path.join(REAL_HOME, ".cache")
    env = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit"),
           "PIP_CACHE_DIR": os.path.join(cache, "pip")}
    git(repo, "switch", "-qc", "flower/5-published")
    msg = tmp_path / "msg"
    msg.write_text("work\n")
    run(repo, pc, "try-repo", str(ROOT), "flower-brief-trailer", "--hook-stage", "commit-msg",
        "--commit-msg-filename", str(msg), env=env, timeout=600)
    assert msg.read_text() == "work\n\nFlower-Brief: 5\n"


@pytest.mark.slow
def test_pre_commit_migration_mode_with_the_integration_runs_ours_twice(repo: Path) -> None:
    """Without -f pre-commit keeps our stub as <hook>.legacy and runs it; with the integration in
    its config as well, git flower's hook would run twice: a warning with pre-commit's fix."""
    pc = tool("pre-commit")
    flower_json(repo, "hooks", "install")
    (repo / ".pre-commit-config.yaml").write_text(
        flower(repo, "hooks", "install", "--print", "pre-commit").stdout)
    run(repo, pc, "install", "--hook-type", "pre-push")
    code, found = hook_findings(repo)
    warn = [f for f in found if f["status"] == "warn"]
    assert code == 0 and len(warn) == 1, found
    assert warn[0]["message"] == (
        "pre-push runs git flower's hook twice: pre-commit's config calls it, and pre-commit also "
        f"runs git flower's stub kept as {repo}/.git/hooks/pre-push.legacy")
    assert warn[0]["fix"] == "pre-commit install -f --hook-type pre-push (drops pre-push.legacy)"
    run(repo, pc, "install", "-f", "--hook-type", "pre-push")
    code, found = hook_findings(repo)
    assert code == 0 and all(f["status"] == "ok" for f in found), found
