"""House rules as tests: one door to git, layers point down, hot commands stay light."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, flower_json

PKG = ROOT / "flowergit"
HEAVY = ("pygit2", "git", "rich", "tomlkit", "pydantic", "typer", "textual")
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


# commands off the hot list that still skip the typer app (the fast path): they pay for what
# they do, not for the CLI layer
LIGHT = [["brief", "set", "1", "kind=bug", "--json"], ["brief", "plan", "1", "--json"],
         ["brief", "log", "1", "--json"], ["tick", "--json"], ["baton", "show", "--json"],
         ["doctor", "--json"], ["signal", "list", "--json"], ["daemon", "list", "--json"],
         ["why", "HEAD", "--json"]]


@pytest.mark.parametrize("argv", HOT + LIGHT, ids=lambda a: " ".join(a[:2]))
def test_hot_commands_import_nothing_heavy(repo: Path, argv: list[str]) -> None:
    flower_json(repo, "brief", "new", "seed")
    flower_json(repo, "signal", "emit", "hot")
    code = ("import sys\nfrom flowergit.main import main\nrc = main(sys.argv[1:])\n"
            f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
            f"slow = sorted(set(sys.modules) & set({SLOW_STDLIB!r}))\n"
            "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\nSLOW=' + ','.join(slow) + '\\n')\n"
            "sys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-c", code, *argv], cwd=repo, capture_output=True, text=True)
    assert r.returncode in ((0, 4) if argv[0] == "doctor" else (0,)), r.stderr
    assert "HEAVY=\n" in r.stderr, r.stderr
    if argv[0] != "doctor":  # doctor runs `man` and looks for programs on PATH: subprocess, shutil
        assert "SLOW=\n" in r.stderr, r.stderr


# standard modules that cost a hot command as much as its own work, each (with what they bring)
# a few milliseconds against a 15 ms interpreter start: type-only names sit under TYPE_CHECKING,
# a pattern is checked by hand where it is one, a context manager is a class (`datetime` is not
# here: tomli_w, which writes front matter, imports it)
SLOW_STDLIB = ("typing", "re", "contextlib", "dataclasses", "enum", "inspect", "socket", "uuid",
               "json", "shlex", "tempfile", "shutil")


# what costs a hot command milliseconds without being heavy: the git runner spawns git itself
# (no subprocess), type-only imports sit under TYPE_CHECKING, object ids use CPython's own sha1
# (and the front matter git flower writes is read without tomllib: state/quicktoml.py); JSON
# goes through flowergit/fastjson.py, without json's Python modules and the re and enum they load
COSTLY = {"subprocess", "typing", "hashlib", "random", "tempfile", "socket", "argparse", "threading",
          "tomllib", "json", "re", "enum"}
# a hot command that must pay for one of them names it here (none does)
COSTLY_ALLOWED: dict[str, set[str]] = {}


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


READS = [["brief", "list", "--json"], ["brief", "show", "1", "--json"], ["status", "--json"],
         ["ps", "--all"], ["signal", "list", "--json"], ["baton", "show", "--json"],
         ["daemon", "list", "--json"], ["why", "HEAD", "--json"]]


@pytest.mark.parametrize("argv", READS, ids=lambda a: " ".join(a[:2]))
def test_commands_that_only_read_never_load_the_object_writer(repo: Path, argv: list[str]) -> None:
    flower_json(repo, "brief", "new", "seed")
    flower_json(repo, "brief", "list")  # caches filled: what runs is the read
    code = ("import sys\nfrom flowergit.main import main\nrc = main(sys.argv[1:])\n"
            "sys.stderr.write('WRITES=%s\\n' % ('flowergit.gitio.writes' in sys.modules))\n"
            "sys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-c", code, *argv], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 0 and "WRITES=False" in r.stderr, (argv, r.stderr)


def test_import_hygiene_check_fails_when_a_hot_command_imports_pygit2(repo: Path) -> None:
    code = ("import sys\nimport pygit2\nfrom flowergit.main import main\nmain(['brief','list','--json'])\n"
            f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
            "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert "HEAVY=pygit2" in r.stderr


# -- the house rules the whole package keeps (issue: "the house") --------------------------------
RUNNER_CALLS = {"run", "start", "spawn"}  # what starts git in flowergit/gitio/runner.py
REASON = re.compile(r"over 500 lines because", re.IGNORECASE)
MAX_LINES = 500


def module_name(path: Path, root: Path) -> str:
    """``flowergit.ops.setup.doctor`` for ``<root>/flowergit/ops/setup/doctor.py`` (a package: its name)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(root: Path, pkg: str = "flowergit") -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / pkg).rglob("*.py"))}


def _type_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (names for the type checker only)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
                (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
                or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def _absolute(node: ast.ImportFrom, name: str, is_pkg: bool) -> str:
    """The absolute module a ``from`` import names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def internal_imports(path: Path, root: Path, known: dict[str, Path],
                     pkg: str = "flowergit") -> list[tuple[str, str, ast.AST]]:
    """(module imported, name taken from it or "", node) for each import of a ``pkg`` module
    in ``path``, lazy ones in functions included, type-only ones (TYPE_CHECKING) left out."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_only(tree)
    me = module_name(path, root)
    out: list[tuple[str, str, ast.AST]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, "", node) for a in node.names if a.name.split(".")[0] == pkg]
        elif isinstance(node, ast.ImportFrom):
            mod = _absolute(node, me, path.name == "__init__.py")
            if mod.split(".")[0] != pkg:
                continue
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.append((sub, "", node) if sub in known else (mod, a.name, node))
    return out


def git_calls(path: Path) -> list[str]:
    """Where ``path`` runs git itself: any call of ``.git(`` or ``.git_wt(`` (whatever builds
    the argv), of the runner's ``run``/``start``/``spawn`` (as ``runner.run`` or imported by
    name), or of anything with an argv list that starts with "git"."""
    tree = ast.parse(path.read_text(), str(path))
    by_name: set[str] = set()
    runner_aliases = {"runner"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "flowergit.gitio.runner":
            by_name |= {a.asname or a.name for a in node.names if a.name in RUNNER_CALLS}
        elif isinstance(node, ast.ImportFrom) and node.module == "flowergit.gitio":
            runner_aliases |= {a.asname or a.name for a in node.names if a.name == "runner"}
        elif isinstance(node, ast.Import):
            runner_aliases |= {a.asname for a in node.names
                               if a.name == "flowergit.gitio.runner" and a.asname}
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in ("git", "git_wt"):
            out.append((node.lineno, f".{f.attr}("))
        elif (isinstance(f, ast.Attribute) and f.attr in RUNNER_CALLS
              and isinstance(f.value, ast.Name) and f.value.id in runner_aliases):
            out.append((node.lineno, f"{f.value.id}.{f.attr}("))
        elif isinstance(f, ast.Name) and f.id in by_name:
            out.append((node.lineno, f"{f.id}( from the runner"))
        elif any(isinstance(a, (ast.List, ast.Tuple)) and a.elts
                 and isinstance(a.elts[0], ast.Constant) and a.elts[0].value == "git"
                 for a in node.args):
            out.append((node.lineno, "an argv starting with git"))
    return [f"line {n}: {what}" for n, what in sorted(out)]


def private_imports(root: Path, pkg: str = "flowergit") -> list[str]:
    """Each ``_private`` name one ``pkg`` module takes from another: imported by name, or read
    as an attribute of a module it imported."""
    known = package_modules(root, pkg)
    out = []
    for me, path in known.items():
        aliases: dict[str, str] = {}
        for mod, name, node in internal_imports(path, root, known, pkg):
            if name.startswith("_") and not name.startswith("__") and mod != me:
                out.append(f"{me} imports {mod}.{name}")
            if isinstance(node, ast.Import):
                aliases.update({a.asname: a.name for a in node.names if a.asname})
            elif isinstance(node, ast.ImportFrom) and not name:
                aliases.update({a.asname or a.name: mod for a in node.names
                                if mod.endswith("." + a.name)})
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__") and aliases[node.value.id] != me):
                out.append(f"{me} reads {aliases[node.value.id]}.{node.attr}")
    return sorted(set(out))


def import_graph(root: Path, pkg: str = "flowergit") -> dict[str, set[str]]:
    """module -> the ``pkg`` modules it names in an import, lazy and type-only ones included.
    ``from P import m`` names the package ``P`` as well as its module ``m``: importing it runs
    ``P/__init__.py`` first, so a room's module that takes a sibling through the room's package
    depends on that package (and whatever its ``__init__`` imports)."""
    known = package_modules(root, pkg)
    graph: dict[str, set[str]] = {}
    for me, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        named: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                named |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                mod = _absolute(node, me, path.name == "__init__.py")
                named.add(mod)
                named |= {f"{mod}.{a.name}" for a in node.names}
        graph[me] = {m for m in named if m in known and m != me}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return sorted(found)


def oversized(root: Path, pkg: str = "flowergit") -> list[str]:
    """Modules over MAX_LINES lines whose docstring does not say why (``Over 500 lines
    because …``)."""
    out = []
    for name, path in package_modules(root, pkg).items():
        text = path.read_text()
        n = text.count("\n")
        if n > MAX_LINES and not REASON.search(ast.get_docstring(ast.parse(text)) or ""):
            out.append(f"{name}: {n} lines")
    return out


def test_git_command_lines_live_in_gitio() -> None:
    offenders = [f"{p.relative_to(PKG)}: {hit}" for p in modules()
                 if p.relative_to(PKG).parts[0] != "gitio" for hit in git_calls(p)]
    assert offenders == []


def test_no_module_takes_a_private_name_from_another() -> None:
    assert private_imports(ROOT) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph(ROOT)) == []


def test_long_modules_say_why() -> None:
    assert oversized(ROOT) == []


def _plant(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_the_git_call_checker_sees_each_way_of_running_git(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from flowergit.gitio import runner\n"
        "from flowergit.gitio.runner import start as go\n"
        "argv = ['rev-parse', 'HEAD']\n"
        "repo.git(argv)\n"
        "ctx.repo.git_wt(['status'], wt)\n"
        "runner.run(['version'])\n"
        "go(argv)\n"
        "import subprocess\nsubprocess.run(['git', 'status'])\n"
        "ok = runner.MIN_GIT\n")
    got = git_calls(bad)
    assert [g.split(": ", 1)[1] for g in got] == [
        ".git(", ".git_wt(", "runner.run(", "go( from the runner", "an argv starting with git"]
    fine = tmp_path / "fine.py"
    fine.write_text("from flowergit.gitio import config\nconfig.get_all(repo, 'k')\n")
    assert git_calls(fine) == []


def test_the_private_name_checker_sees_both_ways_of_taking_one(tmp_path: Path) -> None:
    root = _plant(tmp_path, {
        "pkgx/__init__.py": "",
        "pkgx/a.py": "def _hidden(): pass\ndef _own(): pass\n_own()\n",
        "pkgx/b.py": "from pkgx.a import _hidden\n",
        "pkgx/c.py": "from pkgx import a\ndef f():\n    return a._hidden()\n",
        "pkgx/d.py": "from . import a\nfrom .a import __doc__\nimport pkgx.a as aa\naa._x\n",
    })
    assert private_imports(root, "pkgx") == [
        "pkgx.b imports pkgx.a._hidden", "pkgx.c reads pkgx.a._hidden", "pkgx.d reads pkgx.a._x"]


def test_the_cycle_checker_sees_a_cycle_through_a_lazy_import(tmp_path: Path) -> None:
    root = _plant(tmp_path, {
        "pkgx/__init__.py": "",
        "pkgx/a.py": "from pkgx import b\n",
        "pkgx/b.py": "def f():\n    from pkgx.c import g\n",
        "pkgx/c.py": "import pkgx.a\ndef g(): pass\n",
    })
    graph = import_graph(root, "pkgx")
    assert graph["pkgx.b"] == {"pkgx.c"} and graph["pkgx.a"] == {"pkgx", "pkgx.b"}
    assert cycles(graph) == [["pkgx.a", "pkgx.b", "pkgx.c"]]
    assert cycles({"x": {"y"}, "y": set(), "z": {"z"}}) == []


def test_the_cycle_checker_sees_a_room_taking_a_sibling_through_its_package(tmp_path: Path) -> None:
    # a type-only import counts too; and `from pkgx.room import m` runs pkgx/room/__init__.py,
    # which imports the module doing it
    root = _plant(tmp_path, {
        "pkgx/__init__.py": "",
        "pkgx/d.py": "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from pkgx import e\n",
        "pkgx/e.py": "from pkgx import d\n",
        "pkgx/room/__init__.py": "from pkgx.room.gate import run\n",
        "pkgx/room/gate.py": "from pkgx.room import suite\ndef run(): pass\n",
        "pkgx/room/suite.py": "x = 1\n",
        "pkgx/room/fine.py": "import pkgx.room.suite as s\nfrom pkgx.room.suite import x\n",
    })
    graph = import_graph(root, "pkgx")
    assert graph["pkgx.room.fine"] == {"pkgx.room.suite"}
    assert cycles(graph) == [["pkgx.d", "pkgx.e"], ["pkgx.room", "pkgx.room.gate"]]


def test_the_size_checker_wants_a_reason_for_a_long_module(tmp_path: Path) -> None:
    body = "x = 1\n" * (MAX_LINES + 1)
    root = _plant(tmp_path, {
        "pkgx/__init__.py": "",
        "pkgx/long.py": '"""A long module."""\n' + body,
        "pkgx/said.py": '"""A long module.\n\nOver 500 lines because it is a table.\n"""\n' + body,
        "pkgx/short.py": "x = 1\n",
    })
    assert oversized(root, "pkgx") == [f"pkgx.long: {MAX_LINES + 2} lines"]
