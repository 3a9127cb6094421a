"""House rules for the code itself: pyflakes-clean (ruff) and `mypy --strict` clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


def _tool(name: str) -> list[str]:
    exe = shutil.which(name, path=os.pathsep.join([os.path.dirname(sys.executable),
                                                     os.environ.get("PATH", "")]))
    if exe is None:
        pytest.skip(f"{name} is not installed (it comes with the test extras)")
    return [exe]


def test_ruff_finds_no_errors() -> None:
    r = subprocess.run([*_tool("ruff"), "check", "--select", "E9,F", "flowergit", "tests", "bench"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow  # the CI lint step runs mypy too
def test_mypy_strict_is_clean() -> None:
    r = subprocess.run([*_tool("mypy"), "flowergit"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
