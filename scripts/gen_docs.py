#!/usr/bin/env python3
"""Generate from the command tree: man/git-flower.1, docs/cli.md and flowergit/cli/fastspec.py.

    python scripts/gen_docs.py          # rewrite what is stale
    python scripts/gen_docs.py --check  # exit 1 and name the stale files (CI)

Run it after changing any command, option or help text; a test fails while they are stale.
flowergit/cli/fastspec.py is the fast path's table (the commands marked ``@fast(handler)``),
written from the same typer declarations as the manual.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from flowergit.cli import fastgen
from flowergit.cli.tree import docs_model
from flowergit.ops.setup import docs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only report stale files")
    a = ap.parse_args(argv)
    model = docs_model()
    if a.check:
        bad = docs.stale(model, ROOT) + fastgen.stale(ROOT)
        for rel in bad:
            print(f"stale: {rel} (run python scripts/gen_docs.py)")
        return 1 if bad else 0
    for rel in docs.write(model, ROOT) + fastgen.write(ROOT):
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
