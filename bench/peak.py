"""Run one git flower command in this process and write its own peak RSS (``VmHWM``, KiB) to
the file ``FLOWER_BENCH_PEAK`` names when it exits.

A child's ``ru_maxrss`` (from ``wait4``) counts the memory of the process it was forked from: a
command started by a benchmark that holds 30 MiB reports at least 30 MiB. ``VmHWM`` is the high
water mark of the command's own address space, which ``exec`` starts afresh.

    FLOWER_BENCH_PEAK=/tmp/peak python bench/peak.py brief list --json
"""

from __future__ import annotations

import atexit
import os
import sys


def _report() -> None:
    with open("/proc/self/status") as f:
        kib = next((line.split()[1] for line in f if line.startswith("VmHWM:")), "0")
    with open(os.environ["FLOWER_BENCH_PEAK"], "w") as out:
        out.write(kib)


atexit.register(_report)

from flowergit.main import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
