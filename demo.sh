#!/usr/bin/env bash
# The git flower tour, end to end on the built-in `script` agent (no AI needed):
# a scratch repository, briefs, and their history in plain git.
# Usage: ./demo.sh [--keep]     (--keep leaves the scratch repository for you to explore)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${FLOWER_VENV:-$here/.venv}
if [ ! -x "$venv/bin/git-flower" ]; then
  echo "== installing git flower into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q "$here"
fi
export PATH="$venv/bin:$PATH"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/flower-demo.XXXXXX")
[ "${1:-}" = "--keep" ] || trap 'rm -rf "$scratch"' EXIT
export GIT_CONFIG_GLOBAL="$scratch/gitconfig" GIT_CONFIG_NOSYSTEM=1
git config --global user.name "Demo User"; git config --global user.email demo@flower.invalid
git config --global init.defaultBranch main
if [ -t 1 ]; then b=$'\033[1m' n=$'\033[0m'; else b= n=; fi
step() { printf '\n%s== %s%s\n' "$b" "$*" "$n"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "a scratch repository with a tiny project"
cd "$scratch" && git init -q project && cd project
printf 'def add(a, b):\n    return a + b\n' >calc.py
git add calc.py && git commit -qm "calc"
run git flower init

step "file briefs (numbered work items, kept on the flower/briefs branch)"
run git flower brief new "Add a subtract function" -m "calc.py gets subtract(a, b)."
run git flower brief new "Document calc.py" --kind idea
run git flower brief new "Fix rounding in add" --kind bug
run git flower brief list
run git flower brief show 1
run git flower brief list --json

step "everything is plain git"
run git log --oneline flower/briefs
run git show flower/briefs:briefs/0000/1.md

printf '\ndemo finished%s\n' "$([ "${1:-}" = "--keep" ] && echo ": the repository is at $scratch/project")"
