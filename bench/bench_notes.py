"""Provenance notes at scale: one append and one 3-note read, before and after the fan-out.

For each size, a notes tree is built in the layout each version leaves behind (the flat root
the earlier writer produced, the ``ab/cdef…`` fan-out the current one writes), then appends to
fresh objects and reads of three notes are timed in-process (median of N, spread beside it),
with the tree entries each append rewrote (tests/test_scale.py counts its git processes).

    python bench/bench_notes.py [--sizes 10000,50000] [--reps 15]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import env, machine, ms, spread, table

from flowergit.gitio import objects, writes
from flowergit.gitio.repo import discover
from flowergit.state import notes as new_notes

BEFORE = "1c8cc30"  # the last commit with the flat-path writer and the listing reader


def old_notes():  # type: ignore[no-untyped-def]
    """The earlier notes module, from history (None outside a clone that has it)."""
    got = subprocess.run(["git", "show", f"{BEFORE}:flowergit/state/notes.py"], cwd=HERE.parent,
                         capture_output=True, check=False)
    if got.returncode != 0:
        return None
    # object writing has since moved from gitio/objects.py to gitio/writes.py
    src = re.sub(rb"\bobjects\.(Writer|edit_tree|commit_body|commit|idents)\b", rb"writes.\1",
                 got.stdout)
    src = src.replace(b"from __future__ import annotations\n",
                      b"from __future__ import annotations\n\nfrom flowergit.gitio import writes\n", 1)
    with tempfile.TemporaryDirectory(prefix="flower-bench-notes-") as tmp:
        path = Path(tmp) / "old_notes.py"
        path.write_bytes(src)
        spec = importlib.util.spec_from_file_location("old_notes", path)
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    return mod


def fake_oid(i: int) -> str:
    return hashlib.sha1(b"note %d" % i).hexdigest()


def build(path: Path, n: int, fanout: bool) -> str:
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True, env=env())
    repo = discover(str(path))
    w = writes.Writer(repo)
    blob = w.add("blob", b'{"kind":"merge","v":1}\n')
    oids = [fake_oid(i) for i in range(n)]
    if fanout:
        subs: dict[str, list[objects.Entry]] = {}
        for o in oids:
            subs.setdefault(o[:2], []).append(objects.Entry(objects.MODE_BLOB, o[2:].encode(), blob))
        root = [objects.Entry(objects.MODE_TREE, d.encode(), w.add("tree", objects.format_tree(es)))
                for d, es in subs.items()]
    else:
        root = [objects.Entry(objects.MODE_BLOB, o.encode(), blob) for o in oids]
    tree = w.add("tree", objects.format_tree(root))
    w.flush()
    c = writes.commit(repo, tree, [], "notes", env=env())
    subprocess.run(["git", "--git-dir", str(path), "update-ref", "refs/notes/flower", c], check=True)
    return str(path)


def rewritten(git_dir: str, old: str, new: str) -> int:
    def run(*a: str) -> str:
        return subprocess.run(["git", "--git-dir", git_dir, *a], capture_output=True, text=True,
                              check=True).stdout
    changed = [ln.split("\t", 1)[1] for ln in run("diff-tree", "-r", "-t", old, new).splitlines()
               if ln.split()[1] == "040000"]
    return sum(len(run("ls-tree", f"{new}:{p}" if p else new).splitlines()) for p in ["", *changed])


def measure(mod, git_dir: str, n: int, reps: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    repo = discover(git_dir)
    tip = lambda: subprocess.run(["git", "--git-dir", git_dir, "rev-parse", "refs/notes/flower"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    appends, entries = [], []
    for i in range(reps + 2):
        before = tip()
        t = time.perf_counter()
        mod.append(repo, {fake_oid(n + i): [{"v": 1, "kind": "suite", "passed": True}]}, "bench")
        if i >= 2:  # the first two warm up (and, for a flat tree, move it under the fan-out)
            appends.append(time.perf_counter() - t)
            entries.append(rewritten(git_dir, before, tip()))
    want = [fake_oid(1), fake_oid(n // 2), fake_oid(n - 1)]
    reads = []
    for i in range(reps + 1):
        t = time.perf_counter()
        got = mod.read_many(repo, want)
        if i:
            reads.append(time.perf_counter() - t)
    assert len(got) == 3
    return {"append": f"{ms(appends)} ({spread(appends)})", "entries": str(sorted(entries)[len(entries) // 2]),
            "read3": f"{ms(reads)} ({spread(reads)})"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--reps", type=int, default=15)
    a = ap.parse_args()
    old = old_notes()
    rows = []
    for n in (int(x) for x in a.sizes.split(",")):
        base = Path(tempfile.mkdtemp(prefix="flower-bench-notes-"))
        for label, mod, fan in (("before (flat)", old, False), ("after (fan-out)", new_notes, True),
                                ("after, on a flat tree", new_notes, False)):
            if mod is None:
                continue
            d = build(base / f"{n}-{label[:5]}-{fan}.git", n, fan)
            m = measure(mod, d, n, a.reps)
            rows.append([f"{n:,}", label, m["append"], m["entries"], m["read3"]])
        shutil.rmtree(base, ignore_errors=True)
    print(" ".join(f"{k}={v}" for k, v in machine().items()))
    print(table(rows, ["notes", "writer", "append ms", "tree entries rewritten", "read_many(3) ms"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
