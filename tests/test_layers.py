"""House rules as tests: one door to git, layers point down, hot commands stay light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, flower_json

PKG = ROOT / "flowergit"
HEAVY = ("pygit2", "git", "rich", "tomlkit", "pydantic", "typer")
LAYER_RANK = {"gitio": 0, "state": 1, "procs": 1, "render": 1, "ops": 2, "cli": 3}


def modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py"))


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def runs_git(path: Path) -> bool:
    """Does this module start a process whose argv begins with "git"?"""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and first.value == "git":
                return True
    return False


def test_only_gitio_runs_git_or_imports_git_libraries() -> None:
    offenders = []
    for p in modules():
        rel = p.relative_to(PKG)
        if rel.parts[0] == "gitio":
            continue
        if runs_git(p):
            offenders.append(f"{rel}: runs git")
        for imp in imports_of(p):
            if imp.split(".")[0] in ("pygit2", "git"):
                offenders.append(f"{rel}: imports {imp}")
    assert offenders == []


def test_imports_point_down_only() -> None:
    offenders = []
    for p in modules():
        rel = p.relative_to(PKG)
        layer = rel.parts[0] if len(rel.parts) > 1 else None
        if layer not in LAYER_RANK:
            continue
        for imp in imports_of(p):
            parts = imp.split(".")
            if parts[0] != "flowergit" or len(parts) < 2 or parts[1] not in LAYER_RANK:
                continue
            if LAYER_RANK[parts[1]] > LAYER_RANK[layer] or (
                    parts[1] != layer and LAYER_RANK[parts[1]] == LAYER_RANK[layer]
                    and {layer, parts[1]} != {"state", "procs"} and "render" not in (layer,)):
                offenders.append(f"{rel} imports {imp}")
    assert offenders == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('import subprocess\nsubprocess.run(["git", "status"])\nimport pygit2\n')
    assert runs_git(bad) and "pygit2" in imports_of(bad)


HOT = [["brief", "list", "--json"], ["brief", "show", "1", "--json"], ["brief", "new", "hot", "--json"],
       ["signal", "claim", "--next", "--json"], ["status", "--json"], ["hook-impl", "post-commit"]]


@pytest.mark.parametrize("argv", HOT, ids=lambda a: " ".join(a[:2]))
def test_hot_commands_import_nothing_heavy(repo: Path, argv: list[str]) -> None:
    flower_json(repo, "brief", "new", "seed")
    flower_json(repo, "signal", "emit", "hot")
    code = ("import sys\nfrom flowergit.main import main\nrc = main(sys.argv[1:])\n"
            f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
            "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\nsys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-c", code, *argv], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "HEAVY=\n" in r.stderr, r.stderr


# what costs a hot command milliseconds without being heavy: the git runner spawns git itself
# (no subprocess), type-only imports sit under TYPE_CHECKING, object ids use CPython's own sha1
# (and the front matter git flower writes is read without tomllib: state/quicktoml.py); JSON
# goes through flowergit/fastjson.py, without json's Python modules and the re and enum they load
COSTLY = {"subprocess", "typing", "hashlib", "random", "tempfile", "socket", "argparse", "threading",
          "tomllib", "json", "re", "enum"}
# `brief new` writes front matter with tomli-w, which loads re (and enum with it)
COSTLY_ALLOWED: dict[str, set[str]] = {"new": {"re", "enum"}}


@pytest.mark.parametrize("argv", HOT, ids=lambda a: " ".join(a[:2]))
def test_hot_commands_skip_costly_imports(repo: Path, argv: list[str]) -> None:
    flower_json(repo, "brief", "new", "seed")
    flower_json(repo, "signal", "emit", "hot")
    flower_json(repo, "brief", "list")  # the list cache filled: the warm path is what runs hot
    code = ("import sys\nfrom flowergit.main import main\nrc = main(sys.argv[1:])\n"
            f"costly = sorted(set(sys.modules) & set({sorted(COSTLY)!r}))\n"
            "sys.stderr.write('COSTLY=' + ','.join(costly) + '\\n')\nsys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-c", code, *argv], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = set(r.stderr.rsplit("COSTLY=", 1)[1].split("\n", 1)[0].split(",")) - {""}
    assert got <= COSTLY_ALLOWED.get(argv[1] if len(argv) > 1 else "", set()), (argv, got)


def test_import_hygiene_check_fails_when_a_hot_command_imports_pygit2(repo: Path) -> None:
    code = ("import sys\nimport pygit2\nfrom flowergit.main import main\nmain(['brief','list','--json'])\n"
            f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
            "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert "HEAVY=pygit2" in r.stderr
