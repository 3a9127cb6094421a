"""The README's tour and the examples of the help texts run exactly as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, flower
from merge_helpers import finished


def tour_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## A short tour", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [ln for ln in block.splitlines() if ln.strip()]


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    lines = tour_lines()
    assert lines[0].startswith("git init -q calc") and "git flower merge 1" in "\n".join(lines)
    script = []
    for ln in lines:
        if ln.startswith("git flower watch "):  # "until Ctrl-C": the test presses it after 3 s
            script.append("timeout -s INT 3 git flower watch >watch.out || [ $? -eq 124 ]")
            script.append("grep -q '^1.1 *merged' watch.out")
        elif ln.startswith("git flower web "):  # serves until Ctrl-C: pressed after 5 s
            script.append("timeout -s INT 5 git flower web >web.out 2>&1 || [ $? -eq 124 ]")
            script.append("grep -q 'http://127.0.0.1:[0-9]*/?token=' web.out")
        else:
            script.append(ln)
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    r = subprocess.run(["bash", "-e", "-x", "-c", "\n".join(script)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert "merged brief 1 (dispatch 1.1) into main" in out
    assert "needs you:\n  1 ready to merge: 1" in out
    assert "+done\n" in out  # the diff
    assert "0 error(s), 0 warning(s)" in out + r.stderr


def help_examples() -> list[tuple[tuple[str, ...], str]]:
    """(command words, the ``--format`` example its help gives) for every command."""
    from flowergit.cli.tree import walk

    got = []
    for words, cmd in walk():
        for p in cmd.params:
            if "--format" in getattr(p, "opts", ()):
                m = re.search(r"e\.g\. '([^']+)'", p.help or "")
                assert m, f"git flower {' '.join(words)} --format has no example"
                got.append((words, m[1]))
    return got


def test_every_format_example_in_the_help_runs(repo: Path) -> None:
    examples = help_examples()
    assert {w for w, _ in examples} >= {("brief", "list"), ("brief", "log"), ("ps",),
                                        ("signal", "list"), ("daemon", "list"), ("doctor",)}
    finished(repo, "one", {"a.txt": "a\n"})  # brief 1 and its attempt 1.1
    assert flower(repo, "signal", "emit", "hello").returncode == 0
    assert flower(repo, "daemon", "checkin", "--role", "ops").returncode == 0
    for words, example in examples:
        args = [*words, *(["1"] if words == ("brief", "log") else []), "--format", example]
        r = flower(repo, *args)
        assert r.returncode in (0, 1) if words == ("doctor",) else r.returncode == 0, (
            f"git flower {' '.join(args)}: {r.stderr}")
        assert "fatal" not in r.stderr, f"git flower {' '.join(args)}: {r.stderr}"
        if words != ("doctor",):
            assert r.stdout.strip(), f"git flower {' '.join(args)} printed nothing"


DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "cli.md")]
# a synopsis, not a command: optional parts, alternatives, placeholders written in capitals
SYNOPSIS = re.compile(r"\[|\||…|\b(N|ID|KIND|REV|RANGE|BRANCH|TEXT|TITLE|NAME|FILE|R|S|L|A|K|V)\b")


def doc_commands() -> list[tuple[str, str]]:
    """(where, the ``git flower …`` command) of every concrete command in a code block of the
    README and docs/*.md (the generated reference aside)."""
    import shlex

    out = []
    for path in DOCS:
        inside = False
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.startswith("```"):
                inside = not inside
                continue
            if not inside or "git flower" not in line:
                continue
            text = line.strip().removeprefix("$ ")
            for part in re.split(r"&&|;|\$\(|\)\"", text):
                part = part.strip()
                if not part.startswith("git flower "):
                    continue
                try:
                    words = shlex.split(part, comments=True)
                except ValueError:
                    continue
                shell = [i for i, w in enumerate(words) if re.match(r"[0-9]?[<>|&]", w)]
                words = words[:shell[0]] if shell else words  # the shell's part: redirections
                cmd = " ".join(shlex.quote(w) for w in words)
                if SYNOPSIS.search(" ".join(words)):
                    continue
                out.append((f"{path.name}:{n}", cmd))
    return out


def test_every_concrete_command_in_the_docs_parses_as_written() -> None:
    """Each one names a command that exists, with options it has and arguments it takes."""
    import shlex

    from flowergit.cli.tree import root
    from flowergit.main import global_options

    found = doc_commands()
    assert len(found) > 40
    bad = []
    for where, cmd in found:
        words = global_options(shlex.split(cmd)[2:])
        group = root()
        ctx = group.make_context("git flower", [], resilient_parsing=True)
        path: list[str] = []
        while words and hasattr(group, "get_command") and group.get_command(ctx, words[0]):
            group = group.get_command(ctx, words[0])
            path.append(words.pop(0))
        if not path:
            bad.append(f"{where}: {cmd}: no such command")
            continue
        try:
            group.make_context(" ".join(["git flower", *path]), list(words))
        except Exception as e:  # noqa: BLE001 - click's usage errors, named in the report
            bad.append(f"{where}: {cmd}: {e}")
    assert not bad, "\n".join(bad)


def test_every_format_example_in_the_docs_runs(repo: Path) -> None:
    """The ``git flower … --format …`` commands the README and docs/*.md quote inline run as
    written and print a line per record."""
    import shlex

    finished(repo, "one", {"a.txt": "a\n"})
    quoted = sorted({m for path in DOCS for m in
                     re.findall(r"`(git flower [^`]*--format[^`]*)`", path.read_text())})
    assert len(quoted) >= 2, quoted
    for cmd in quoted:
        r = flower(repo, *shlex.split(cmd)[2:])
        assert r.returncode == 0 and r.stdout.strip(), f"{cmd}: {r.stderr}"
