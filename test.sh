#!/usr/bin/env bash
# The whole test suite: a private virtual environment with git flower and its test extras, then pytest.
# pytest exiting 5 ("no tests ran") counts as a failure.
set -uo pipefail
cd "$(dirname "$0")"
venv=${FLOWER_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || exit 1
fi
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$venv/bin/python" -m pip install -q -e ".[test]" || exit 1
"$venv/bin/python" -m pytest -n "${FLOWER_TEST_JOBS:-2}" "$@"
rc=$?
if [ "$rc" = 5 ]; then echo "no tests ran: that is a failure" >&2; exit 1; fi
exit $rc
