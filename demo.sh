#!/usr/bin/env bash
# The git flower tour, end to end on the built-in `script` agent (no AI needed): a scratch
# repository, briefs, dispatch with a cap of 2, a gated merge that refuses a red brief, provenance
# in `git log`, and a baton hand-off from one orchestrator to its successor.
# Usage: ./demo.sh [--keep]     (--keep leaves the scratch repository for you to explore)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${FLOWER_VENV:-$here/.venv}
if [ ! -x "$venv/bin/git-flower" ]; then
  echo "== installing git flower into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q "$here"
fi
export PATH="$venv/bin:$PATH"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/flower-demo.XXXXXX")
keep=${1:-}
cleanup() { [ "$keep" = "--keep" ] || { cd /; rm -rf "$scratch"; }; }
trap cleanup EXIT
export GIT_CONFIG_GLOBAL="$scratch/gitconfig" GIT_CONFIG_NOSYSTEM=1 XDG_DATA_HOME="$scratch/data"
unset FLOWER_DAEMON
git config --global user.name "Demo User"; git config --global user.email demo@flower.invalid
git config --global init.defaultBranch main
if [ -t 1 ]; then b=$'\033[1m' n=$'\033[0m'; else b= n=; fi
step() { printf '\n%s== %s%s\n' "$b" "$*" "$n"; }
run() { printf '$ %s\n' "$*"; "$@"; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }

step "a scratch repository: a tiny project with a test suite"
cd "$scratch" && git init -q project && cd project
printf 'def add(a, b):\n    return a + b\n' >calc.py
mkdir tests
cat >tests/check.py <<'PY'
"""The project's suite: a few checks, counts in a JUnit XML file."""
import sys
sys.path.insert(0, ".")
import calc
cases = {"add": lambda: calc.add(2, 3) == 5}
if hasattr(calc, "sub"):
    cases["sub"] = lambda: calc.sub(5, 3) == 2
try:
    import stats
    cases["mean"] = lambda: stats.mean([1, 2, 3]) == 2
except ImportError:
    pass
failed = [n for n, f in cases.items() if not f()]
xml = "".join(f'<testcase name="{n}">' + ('<failure message="wrong"/>' if n in failed else "")
              + "</testcase>" for n in cases)
open(sys.argv[1], "w").write(f'<testsuite name="calc" tests="{len(cases)}" '
                             f'failures="{len(failed)}">{xml}</testsuite>')
print(f"{len(cases) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
PY
echo "watch: npm run dev" >solo.yml
git add -A && git commit -qm "calc with a suite"
run git flower init
python3 - <<'PY'
import re
s = open(".flower.toml").read()
s = re.sub(r"(?m)^max_parallel = \d+", "max_parallel = 2", s)
s = re.sub(r'(?m)^command = \["pytest".*$', 'command = ["python3", "tests/check.py", "{junit}"]', s)
s = re.sub(r"(?m)^local_only = \[\]", 'local_only = ["solo.yml"]', s)
open(".flower.toml", "w").write(s)
PY
git add .flower.toml && git commit -qm "flower policy: cap 2, our suite, solo.yml is local-only"
run git flower trust
echo "watch: npm run dev -- --port 5174   # my local tweak" >solo.yml   # local-only: must survive

step "file three briefs; each carries steps for the built-in script agent"
git flower brief import - <<'JSONL'
{"title": "Add subtract", "body": "calc.py gets sub(a, b).", "status": "planned", "run": [["sh", "-c", "printf 'def sub(a, b):\\n    return a - b\\n' >> calc.py"]]}
{"title": "Add stats.mean", "body": "A new module stats.py with mean(xs).", "status": "planned", "run": [["sh", "-c", "printf 'def mean(xs):\\n    return sum(xs) / len(xs)\\n' > stats.py"]]}
{"title": "Speed up add (breaks it)", "kind": "bug", "status": "planned", "run": [["sh", "-c", "sed -i 's/return a + b/return a - b/' calc.py"]]}
JSONL
run git flower brief list

step "dispatch all three with a cap of 2: the third waits in the queue and starts by itself"
for i in 1 2 3; do run git flower dispatch "$i"; done
run git flower ps
run git flower wait 1 2 3 --timeout 120
run git flower status

step "merge through the gate: the suite runs on each merged tree; the red brief is refused"
set +e
git flower merge 3; rc=$?
set -e
echo "(merge 3 exited $rc: refused, main unmoved)"
run git flower merge 1
run git flower merge 2
run git log --oneline -3
cat solo.yml | sed 's/^/solo.yml (untouched): /'

step "provenance, readable with plain git"
run git log --notes=flower -1 --format='%h %s%n%N'
run git flower why calc.py:4
run git flower verify main~2..main

step "an orchestrator hands the baton to its successor"
A=$(git flower daemon checkin --role orchestrator --json | json id)
run git flower baton take --daemon "$A"
run git flower handoff write --daemon "$A" -m "Brief 3 is red: re-dispatch it with --rework."
run git flower reset request --daemon "$A"
B=$(git flower daemon checkin --role orchestrator --successor-of "$A" --json | json id)
run git flower handoff show
run git flower reset ready --daemon "$B"
run git flower reset handoff --daemon "$B"
run git flower reset retire --daemon "$B"
run git log --format='%h %s' refs/flower/baton/main

printf '\ndemo finished%s\n' "$([ "$keep" = "--keep" ] && echo ": the repository is at $scratch/project")"
