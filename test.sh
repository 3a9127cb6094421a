#!/usr/bin/env bash
# The whole test suite: a private virtual environment with git flower and its test extras, then pytest.
# Arguments go to pytest: `./test.sh -m "not slow"` is the quick suite (about a fifth of the CPU
# time of the whole: everything but the stress and scale tests, the crash matrices, the
# end-to-end variants that take a second or more, the real agent CLIs, the benchmark and mypy),
# `./test.sh tests/test_merge.py -q` one file. FLOWER_TEST_JOBS sets the number of pytest-xdist
# workers: 3 by default, one more than the 2 cores the suite is sized for, since a seventh of
# its time is spent waiting on leases, silences and child processes rather than computing.
# pytest exiting 5 ("no tests ran") counts as a failure.
set -uo pipefail
cd "$(dirname "$0")"
venv=${FLOWER_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || exit 1
fi
# the install is editable, so it is redone only when pyproject.toml changes (pip takes seconds)
stamp="$venv/.flower-test-extras"
want=$(cksum < pyproject.toml)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  "$venv/bin/python" -m pip install -q -e ".[test]" || exit 1
  echo "$want" > "$stamp"
fi
"$venv/bin/python" -m pytest -n "${FLOWER_TEST_JOBS:-3}" "$@"
rc=$?
if [ "$rc" = 5 ]; then echo "no tests ran: that is a failure" >&2; exit 1; fi
exit $rc
