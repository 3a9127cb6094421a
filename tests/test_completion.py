"""Shell completion: `git flower <TAB>` through git's own bash completion, brief ids, install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import flower

GIT_COMP = Path("/usr/share/bash-completion/completions/git")
BASH_COMP = Path("/usr/share/bash-completion/bash_completion")
needs_bash_completion = pytest.mark.skipif(
    not (GIT_COMP.is_file() and BASH_COMP.is_file() and shutil.which("bash")),
    reason="git's bash completion and bash-completion are not installed")


def complete_line(repo: Path, line: str, *, script: Path | None, lazy: bool = False) -> list[str]:
    """What bash offers for LINE<TAB>, through git's completion (__git_wrap__git_main)."""
    src = "" if script is None else f"source {script}\n"
    prog = f"""
source {BASH_COMP} 2>/dev/null
source {GIT_COMP}
{src}
COMP_LINE={json.dumps(line)}
read -ra COMP_WORDS <<<"$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMP_POINT=${{#COMP_LINE}}
__git_wrap__git_main 2>/dev/null
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog], cwd=repo, capture_output=True,
                       text=True, timeout=60, env=dict(os.environ))
    return [w.strip() for w in r.stdout.splitlines() if w.strip()]


@pytest.fixture
def script(repo: Path, tmp_path: Path) -> Path:
    r = flower(repo, "completion", "bash")
    assert r.returncode == 0 and "_git_flower ()" in r.stdout
    p = tmp_path / "git-flower.bash"
    p.write_text(r.stdout)
    return p


@pytest.mark.slow
@needs_bash_completion
def test_subcommands_complete_through_gits_completion(repo: Path, script: Path) -> None:
    assert complete_line(repo, "git flower dis", script=script) == ["dispatch"]
    assert complete_line(repo, "git flower brief sh", script=script) == ["show"]
    assert "--json" in complete_line(repo, "git flower status --", script=script)
    words = complete_line(repo, "git flower ", script=script)
    assert {"dispatch", "merge", "doctor", "brief", "completion"} <= set(words)
    assert "__complete" not in words  # hidden


@needs_bash_completion
def test_brief_ids_complete(repo: Path, script: Path) -> None:
    ids = [str(json.loads(flower(repo, "brief", "new", f"b{i}", "--json").stdout)["data"]["id"])
           for i in range(3)]
    assert sorted(complete_line(repo, "git flower brief show ", script=script)) == sorted(ids)
    assert complete_line(repo, f"git flower dispatch {ids[0]}", script=script) == [ids[0]]
    assert sorted(complete_line(repo, "git flower signal emit x --brief ", script=script)) == sorted(ids)
    # git -C from elsewhere completes the other repository's ids
    assert sorted(complete_line(repo.parent, f"git -C {repo} flower brief show ", script=script)) \
        == sorted(ids)


@needs_bash_completion
def test_installed_file_is_lazy_loaded_by_gits_completion(repo: Path) -> None:
    r = flower(repo, "completion", "install", "--shell", "bash", "--json")
    assert r.returncode == 0, r.stderr
    path = Path(json.loads(r.stdout)["data"]["path"])
    data_home = Path(os.environ["XDG_DATA_HOME"])
    assert path == data_home / "bash-completion" / "completions" / "git-flower" and path.is_file()
    # no script sourced: git's completion finds _git_flower through _completion_loader
    assert complete_line(repo, "git flower dis", script=None) == ["dispatch"]
    again = json.loads(flower(repo, "completion", "install", "--shell", "bash", "--json").stdout)
    assert again["data"]["changed"] is False


def test_zsh_and_fish_scripts_and_candidates(repo: Path) -> None:
    flower(repo, "brief", "new", "a title: with colon")
    zsh = flower(repo, "completion", "zsh")
    fish = flower(repo, "completion", "fish")
    assert zsh.returncode == 0 and "#compdef git-flower" in zsh.stdout
    assert fish.returncode == 0 and "complete -c git-flower" in fish.stdout
    z = flower(repo, "__complete", "--shell", "zsh", "--", "brief", "show", "")
    assert z.stdout == "1:a title: with colon [draft]\n"
    f = flower(repo, "__complete", "--shell", "fish", "--", "brief", "show", "")
    assert f.stdout == "1\ta title: with colon [draft]\n"


def test_completion_never_fails_loudly(tmp_path: Path) -> None:
    # outside a repository, on nonsense, on an unknown shell word: empty, exit 0
    for words in (["brief", "show", ""], ["nosuch", ""], ["--color", ""]):
        r = flower(tmp_path, "__complete", "--", *words)
        assert r.returncode == 0 and r.stderr == ""
    r = flower(tmp_path, "completion", "tcsh")
    assert r.returncode == 2


def test_install_refuses_an_unknown_shell(repo: Path) -> None:
    r = flower(repo, "completion", "install", "--shell", "tcsh")
    assert r.returncode == 2 and "unsupported shell" in r.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="no fish")
def test_fish_completes_git_flower_and_the_executable(repo: Path, tmp_path: Path) -> None:
    flower(repo, "brief", "new", "fishy")
    script = tmp_path / "git-flower.fish"
    script.write_text(flower(repo, "completion", "fish").stdout)
    prog = (f"source {script}; complete -C 'git-flower dis'; echo ---; "
            "complete -C 'git flower brief show '")
    r = subprocess.run(["fish", "--no-config", "-c", prog], cwd=repo, capture_output=True,
                       text=True, timeout=60)
    direct, via_git = r.stdout.split("---\n")
    assert direct.startswith("dispatch\t")
    assert via_git == "1\tfishy [draft]\n"


@pytest.mark.skipif(shutil.which("zsh") is None, reason="no zsh")
def test_zsh_function_offers_described_candidates(repo: Path, tmp_path: Path) -> None:
    flower(repo, "brief", "new", "zed")
    script = tmp_path / "_git-flower"
    script.write_text(flower(repo, "completion", "zsh").stdout)
    prog = (f"autoload -Uz compinit; compinit -u -D; source {script}; "
            "_describe() { print -l -- \"${(@P)${@[-1]}}\"; }; _files() { print FILES; }; "
            "words=(git flower brief show ''); CURRENT=5; _git-flower; "
            "words=(git-flower brief import ''); CURRENT=4; _git-flower")
    r = subprocess.run(["zsh", "-f", "-c", prog], cwd=repo, capture_output=True, text=True,
                       timeout=60)
    assert r.stdout.splitlines() == ["1:zed [draft]", "FILES"], r.stderr
