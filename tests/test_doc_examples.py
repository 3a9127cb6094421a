"""Every runnable example of the README and docs/*.md runs, as written, one test per page.

A runnable example is a ```sh, ```bash or ```console code block (in a console block, the lines
after ``$ ``; the other lines are the output it shows). ```text blocks and plain ``` blocks are
output samples and synopses, and docs/cli.md is generated from the help, whose examples
tests/test_tour.py runs. Each page's blocks run in order in one bash (``-e``), each block in a
subshell of its own that starts in the page's scratch directory: a repository prepared with what
the page's examples refer to (``PREPARE``). Where an example needs what a test cannot have (a
real Claude login, a browser, a server that runs until Ctrl-C), ``STANDIN`` replaces that one
line by a local stand-in and says why; every stand-in must still match a line of its page, so
the two cannot drift apart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "cli.md")]
RUNNABLE = ("```sh", "```bash", "```console")


def blocks(path: Path) -> list[tuple[int, list[str], list[str]]]:
    """(line of the fence, the commands, the output lines shown) of each runnable block."""
    out: list[tuple[int, list[str], list[str]]] = []
    cur: tuple[int, list[str], list[str]] | None = None
    console = False
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            if cur is not None:
                out.append(cur)
                cur = None
            elif line.strip() in RUNNABLE:
                cur, console = (n, [], []), line.strip() == "```console"
            continue
        if cur is None:
            continue
        if not console:
            cur[1].append(line)
        elif line.startswith("$ "):
            cur[1].append(line[2:])
        else:
            cur[2].append(line)
    return out


# A repository initialised for git flower, its suite `true`, its config committed and trusted.
REPO = """
git init -q repo && cd repo && git commit -q --allow-empty -m start
git flower init >/dev/null
sed -i 's/^command = \\["pytest".*/command = ["true"]/' .flower.toml
git add .flower.toml && git commit -qm "flower config" && git flower trust >/dev/null
"""

# The stand-in for Claude Code: does what the brief of docs/agents.md asks and prints the
# stream-json transcript a real session prints.
CLAUDE = f"""#!/bin/sh
echo hello > hello.txt
cat {ROOT / "tests/fixtures/transcripts/claude-stream.jsonl"}
"""

# The stand-in for docs/dispatch.md's interactive agent: asks, waits for the answer.
ASKER = f"""#!{sys.executable}
import sys
print("checking the tree", flush=True)
sys.stdout.write("Allow this command? [y/N] ")
sys.stdout.flush()
answer = sys.stdin.readline().strip()
open("ANSWER", "w").write(answer + "\\n")
print("got", answer, flush=True)
"""

PREPARE: dict[str, str] = {
    # the README's tour makes its own repository (and runs in test_tour.py as well); its first
    # block runs in a copy of this checkout
    "README.md": "",
    "agents.md": "",
    "orchestrator.md": "",
    "config.md": REPO,
    "experience.md": REPO,
    "hooks.md": REPO,
    "web.md": REPO,
    # brief 12 is the one the page talks about; `make client` and `pytest -q` are its steps
    "dispatch.md": REPO + """
for i in $(seq 11); do git flower brief new "brief $i" >/dev/null; done
printf 'client:\\n\\techo "def get(): return 1" > client.py\\n' > Makefile
printf 'from client import get\\n\\ndef test_get():\\n    assert get() == 1\\n' > test_client.py
printf '*.pyc\\n__pycache__/\\n.pytest_cache/\\n' > .gitignore
git add -A && git commit -qm "a Makefile and a test"
cat >> .flower.toml <<'EOF'

[agents.asker]
command = ["my-agent", "{bootstrap}"]
tmux = true
EOF
git add -A && git commit -qm asker && git flower trust >/dev/null
""",
    # brief 12, a merge with its notes, and a signal pruned once it was over (a tombstone)
    "state.md": REPO + """
for i in $(seq 12); do git flower brief new "brief $i" >/dev/null; done
git flower brief set 12 'run=[["sh","-c","echo 12 > twelve.txt"]]' >/dev/null
git flower dispatch 12 >/dev/null && git flower wait 12 >/dev/null && git flower merge 12 >/dev/null
sid=$(git flower signal emit hello --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')
git flower signal claim "$sid" >/dev/null && git flower signal complete "$sid" >/dev/null
python3 -c 'import time; from flowergit.gitio.repo import discover; from flowergit.state import signals
assert signals.prune(discover("."), expiry=0, now=time.time() + 7200)'
""",
    # a repository not yet initialised, its origin a local bare repository
    "sync.md": """
git init -q --bare origin.git
git init -q repo && cd repo && git commit -q --allow-empty -m start
git remote add origin ../origin.git && git push -q origin main
""",
}

STANDIN: dict[str, dict[str, tuple[str, str]]] = {
    "README.md": {
        # the whole suite inside the suite would never end; the same script on one module
        "./test.sh          # the whole test suite": (
            "./test.sh tests/test_layers.py -q -p no:cacheprovider", "the suite runs itself"),
    },
    "web.md": {
        "git flower web                      # prints http://127.0.0.1:<port>/?token=… ; Ctrl-C stops it": (
            "timeout -s INT 5 git flower web >web.out 2>&1 || [ $? = 124 ]; grep -q 'http://127.0.0.1:[0-9]*/?token=' web.out",
            "it serves until Ctrl-C: the test presses it after 5 s"),
        "git flower web --port 8765 --open   # a fixed port, and open it in your browser": (
            "BROWSER=true timeout -s INT 5 git flower web --port 8765 --open >web.out 2>&1 || [ $? = 124 ]; grep -q 'http://127.0.0.1:8765/' web.out",
            "no browser in a test: `true` stands in for it; Ctrl-C after 5 s"),
        "git flower web --host 0.0.0.0 --port 8766 --token-file .git/flower-web-token": (
            "timeout -s INT 5 git flower web --host 0.0.0.0 --port 8766 --token-file .git/flower-web-token >web.out 2>&1 || [ $? = 124 ]; grep -q \"token=$(cat .git/flower-web-token)\" web.out",
            "Ctrl-C after 5 s"),
    },
}

# Set-up run before the block whose first command this is, and why.
BEFORE: dict[str, tuple[str, str]] = {
    "git flower dispatch 12 --agent asker": (
        "git flower brief set 12 status=planned >/dev/null",
        "a scenario of its own: brief 12 again, after the first block merged it"),
}

# What each page's examples must have left behind, checked after they ran (in the scratch dir).
CHECK: dict[str, str] = {
    "README.md": "",
    "agents.md": """
cd demo && test "$(git config --get-all flower.agent.claude.env | wc -l)" = 3
git cat-file -e flower/1-add-hello-txt:hello.txt
test "$(git config flower.agent.codex.timeout)" = 3600
""",
    "config.md": "cd repo && git config --get-all flower.agent.codex.env | grep -q OPENAI_BASE_URL",
    "dispatch.md": """
cd repo && git cat-file -e main:client.py && test "$(cat ../../answer.txt)" = y
""",
    "experience.md": """
test -s "$HOME/.local/share/bash-completion/completions/git-flower"
test -s "$HOME/.zfunc/_git-flower" && test -s "$HOME/.config/fish/completions/git-flower.fish"
""",
    "hooks.md": "cd repo && ! test -e .git/hooks/commit-msg",
    "orchestrator.md": "cd demo-orchestrator && git cat-file -e main:w-1.txt && git cat-file -e main:w-2.txt",
    "state.md": "",
    "sync.md": "git --git-dir=origin.git rev-parse -q --verify refs/heads/flower/briefs >/dev/null",
    "web.md": "",
}


def script(page: Path) -> tuple[str, list[str]]:
    """The page's bash script and the output lines its console blocks show."""
    found = blocks(page)
    standins = STANDIN.get(page.name, {})
    unused = set(standins)
    parts = ["set -e", "(", ":", PREPARE[page.name], ")"]
    start = {"README.md": str(ROOT), "agents.md": ".", "orchestrator.md": "."}.get(page.name, "repo")
    shown: list[str] = []
    for n, cmds, out in found:
        shown += out
        body = "\n".join(standins[c][0] if c in standins else c for c in cmds)
        unused -= set(cmds)
        if page.name == "README.md" and "git init -q calc" in body:
            continue  # the tour: test_tour.py runs it as written
        before = BEFORE.get(cmds[0], ("", ""))[0] if cmds else ""
        parts += [f"echo '== {page.name}:{n}' >&2", "(", f"cd {start}", before, body, ")"]
    assert not unused, f"stand-ins for lines no longer on {page.name}: {unused}"
    parts += ["(", ":", CHECK.get(page.name, ""), ")"]
    return "\n".join(parts), shown


def test_every_runnable_block_is_covered() -> None:
    """A page with runnable examples gets prepared for them: a new page cannot slip by."""
    with_blocks = {p.name for p in PAGES if blocks(p)}
    assert with_blocks == set(PREPARE), with_blocks ^ set(PREPARE)


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: p.name)
def test_the_examples_of_the_page_run_as_written(page: Path, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, text in (("claude", CLAUDE), ("my-agent", ASKER)):
        (bindir / name).write_text(text.replace("ANSWER", str(tmp_path / "answer.txt")))
        (bindir / name).chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(bindir), os.path.dirname(sys.executable), env["PATH"]])
    env.pop("FLOWER_DAEMON", None)
    text, shown = script(page)
    work = tmp_path / "work"
    work.mkdir()
    r = subprocess.run(["bash", "-c", text],
                       cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{page.name}:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    for line in shown:  # what a console block shows is what it prints
        if line.strip():
            assert line.strip() in r.stdout + r.stderr, f"{page.name} shows {line!r}:\n{r.stdout}"
