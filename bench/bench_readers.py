#!/usr/bin/env python3
"""State reads in one long-lived process: spawned git (the project's runner, and its
``cat-file --batch`` reader) against pygit2, side by side; GitPython's cost in one row.

    python bench/bench_readers.py [--briefs 1000,10000] [--refs 1000] [--reads 50]

For a repository of each brief count (with ``--refs`` dispatch records under refs/flower/),
one process reads ``--reads`` times, taking turns between the readers:

* refs: every ref under ``refs/flower/`` and ``refs/heads/flower/briefs`` with its oid
  (``for-each-ref``, as `status`, `ps` and `watch` read records);
* blob: one brief's file by path from flower/briefs (``cat-file blob REV:PATH`` spawned, the same
  name through a running ``cat-file --batch``, and pygit2's lookup);
* records: every dispatch record through ``state/records.read_many``, as `status`, `ps` and each
  `watch` frame read them: one ``for-each-ref`` and one ``cat-file --batch`` fed all the names
  at once, against the same call with :mod:`flowergit.gitio.libgit` enabled;
* tree: every brief's path and blob id under ``briefs/`` (``ls-tree -r`` spawned, as
  `brief list` does when its cache is cold; the trees walked through a running
  ``cat-file --batch``; the trees walked in pygit2).

Plus the import of each library (a fresh interpreter, minus `python -c pass`) and the opening of
a repository. Every reader's answers are checked equal before timing. Medians in milliseconds
per read; the ratio is spawned-or-batch / pygit2 (above 1: pygit2 is faster). Figures are
printed; nothing asserts on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import env, import_briefs, init_repo, precompile, scratch, side_by_side, table  # noqa: E402

from flowergit.gitio import objects, refs, writes# noqa: E402
from flowergit.gitio.repo import Repo, discover  # noqa: E402

PATTERNS = ["refs/flower/", "refs/heads/flower/briefs"]


def add_records(path: Path, n: int) -> None:
    """``n`` dispatch records under refs/flower/dispatch/: commits of one ``record.json``, as
    state/records.py writes them."""

    from flowergit.state import records

    repo = discover(str(path))
    w = writes.Writer(repo)
    lines = []
    for i in range(1, n + 1):
        rec = {"v": 1, "id": f"{i}.1", "brief": i, "attempt": 1, "state": "done",
               "agent": "script", "branch": f"flower/{i}-brief", "log": "x" * 80}
        commit = records.add_commit(w, rec, None, "new")
        lines.append(f"create refs/flower/dispatch/{i}/1 {commit}\n")
    w.flush()
    subprocess.run(["git", "update-ref", "--stdin"], cwd=path, env=env(), check=True,
                   input="".join(lines).encode())


def import_cost(stmt: str, reps: int) -> float:
    """Median seconds a fresh interpreter spends on ``stmt`` beyond `python -c pass`."""
    def once(code: str) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t
    base = statistics.median(once("pass") for _ in range(reps))
    return max(0.0, statistics.median(once(stmt) for _ in range(reps)) - base)


# -- spawned git, the project's own way ------------------------------------------------------------
def git_refs(repo: Repo) -> dict[str, str]:
    out = {}
    for ln in refs.read_many(repo, PATTERNS):
        name, _, oid = ln.partition(" ")
        out[name] = oid
    return out


def git_blob(repo: Repo, path: str) -> bytes:
    return repo.git(["cat-file", "blob", f"refs/heads/flower/briefs:{path}"]).stdout


def git_tree(repo: Repo) -> dict[str, str]:
    res = repo.git(["ls-tree", "-r", "-z", "refs/heads/flower/briefs", "--", "briefs"])
    out = {}
    for rec in res.stdout.split(b"\0"):
        if rec:
            meta, _, name = rec.partition(b"\t")
            out[name.decode()] = meta.split()[2].decode()
    return out


def batch_blob(batch: objects.Batch, path: str) -> bytes:
    got = batch.get(f"refs/heads/flower/briefs:{path}")
    assert got is not None
    return got[2]


def batch_tree(batch: objects.Batch) -> dict[str, str]:
    out: dict[str, str] = {}

    def walk(tree: str, prefix: str) -> None:
        entries = batch.tree(tree) or []
        subs = [e for e in entries if e.is_tree]
        for e in entries:
            if not e.is_tree:
                out[prefix + e.name.decode()] = e.oid
        # one round trip for all the subtrees of this level
        for e, got in zip(subs, batch.get_many([s.oid for s in subs])):
            assert got is not None
            walk_entries(objects.parse_tree(got[2], batch.repo.hexlen), prefix + e.name.decode() + "/")

    def walk_entries(entries: list[objects.Entry], prefix: str) -> None:
        subs = [e for e in entries if e.is_tree]
        for e in entries:
            if not e.is_tree:
                out[prefix + e.name.decode()] = e.oid
        for e in subs:
            walk(e.oid, prefix + e.name.decode() + "/")

    walk("refs/heads/flower/briefs:briefs", "briefs/")
    return out


# -- pygit2 ----------------------------------------------------------------------------------------
def pg_refs(r: object) -> dict[str, str]:
    out = {}
    for ref in r.references.iterator():  # type: ignore[attr-defined]
        name = ref.name
        if name.startswith("refs/flower/") or name == "refs/heads/flower/briefs":
            out[name] = str(ref.target)
    return out


def pg_blob(r: object, path: str) -> bytes:
    tree = r.references["refs/heads/flower/briefs"].peel().tree  # type: ignore[attr-defined]
    return bytes(tree[path].data)


def pg_tree(r: object) -> dict[str, str]:
    import pygit2

    out: dict[str, str] = {}
    tree = r.references["refs/heads/flower/briefs"].peel().tree  # type: ignore[attr-defined]

    def walk(t: pygit2.Tree, prefix: str) -> None:
        for e in t:
            if e.type_str == "tree":
                walk(e, prefix + e.name + "/")  # type: ignore[arg-type]
            else:
                out[prefix + e.name] = str(e.id)

    walk(tree["briefs"], "briefs/")  # type: ignore[arg-type]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--briefs", default="1000,10000")
    ap.add_argument("--refs", type=int, default=1000)
    ap.add_argument("--reads", type=int, default=50)
    a = ap.parse_args()
    import pygit2

    try:
        import git as gitpython
    except ImportError:
        gitpython = None
    precompile()
    rows: list[list[str]] = []

    def row(name: str, theirs: list[float] | None, ours: list[float], what: str) -> None:
        mo = statistics.median(ours) * 1000
        mt = statistics.median(theirs) * 1000 if theirs else None
        rows.append([name, what, f"{mt:.3f}" if mt is not None else "-", f"{mo:.3f}",
                     f"{mt / mo:.1f}" if mt is not None and mo else "-"])

    reps = 7
    imp_pg = import_cost("import pygit2", reps)
    imp_gp = import_cost("import git", reps) if gitpython else None
    imp_rn = import_cost("import flowergit.gitio.objects", reps)
    rows.append(["import", "flowergit.gitio vs pygit2", f"{imp_rn * 1000:.1f}", f"{imp_pg * 1000:.1f}",
                 f"{imp_rn / imp_pg:.2f}" if imp_pg else "-"])
    if imp_gp is not None:
        rows.append(["import", "GitPython", f"{imp_gp * 1000:.1f}", f"{imp_pg * 1000:.1f}",
                     f"{imp_gp / imp_pg:.2f}" if imp_pg else "-"])
    root = scratch("readers")
    for n in (int(x) for x in a.briefs.split(",")):
        path = init_repo(root / f"r{n}")
        import_briefs(path, n)
        add_records(path, a.refs)
        repo = discover(str(path))
        t = time.perf_counter()
        pg = pygit2.Repository(str(path))
        open_pg = time.perf_counter() - t
        batch = objects.Batch(repo)
        mid = f"briefs/{(n // 2) // 100 * 100:04d}/{n // 2}.md"
        # the same answers from every reader before anything is timed
        assert git_refs(repo) == pg_refs(pg), "refs differ"
        assert git_blob(repo, mid) == batch_blob(batch, mid) == pg_blob(pg, mid), "blob differs"
        listing = git_tree(repo)
        assert listing == batch_tree(batch) == pg_tree(pg) and len(listing) >= n, "tree differs"
        scale = f"{n} briefs, {a.refs} refs"
        rows.append([f"open repository ({n})", "Batch start vs pygit2.Repository", "-",
                     f"{open_pg * 1000:.3f}", "-"])

        got = side_by_side({"git": lambda: git_refs(repo), "pygit2": lambda: pg_refs(pg)}, a.reads)
        row(f"refs ({scale})", got["git"], got["pygit2"], "for-each-ref spawned / pygit2")
        if gitpython is not None:
            gp = gitpython.Repo(str(path))

            def gp_refs() -> dict[str, str]:
                return {r.path: r.object.hexsha for r in gp.refs
                        if r.path.startswith("refs/flower/") or r.path == "refs/heads/flower/briefs"}

            assert gp_refs() == git_refs(repo), "GitPython refs differ"
            got_gp = side_by_side({"gp": gp_refs, "pygit2": lambda: pg_refs(pg)}, max(3, a.reads // 10))
            row(f"refs ({scale})", got_gp["gp"], got_gp["pygit2"], "GitPython / pygit2")
            gp.close()

        got = side_by_side({"git": lambda: git_blob(repo, mid), "batch": lambda: batch_blob(batch, mid),
                            "pygit2": lambda: pg_blob(pg, mid)}, a.reads)
        row(f"blob by path ({n})", got["git"], got["pygit2"], "cat-file spawned / pygit2")
        row(f"blob by path ({n})", got["batch"], got["pygit2"], "cat-file --batch / pygit2")

        # what a `watch` frame, `status` and `ps` read: every dispatch record, through the seam
        # itself (state/records.read_many: one for-each-ref and one batch, or gitio.libgit)
        from flowergit.gitio import libgit
        from flowergit.state import records

        def git_records() -> list[object]:
            libgit.disable()
            return [h.record for h in records.read_many(repo, "refs/flower/dispatch/")]

        def pg_records() -> list[object]:
            libgit.enable()
            return [h.record for h in records.read_many(repo, "refs/flower/dispatch/")]

        assert git_records() == pg_records() and len(git_records()) == a.refs, "records differ"
        got = side_by_side({"git": git_records, "pygit2": pg_records}, max(5, a.reads // 5))
        libgit.disable()
        row(f"records ({a.refs} refs)", got["git"], got["pygit2"],
            "records.read_many: git / gitio.libgit")

        tree_reads = max(5, a.reads // 5)
        got = side_by_side({"git": lambda: git_tree(repo), "batch": lambda: batch_tree(batch),
                            "pygit2": lambda: pg_tree(pg)}, tree_reads)
        row(f"tree listing ({n})", got["git"], got["pygit2"], "ls-tree -r spawned / pygit2")
        row(f"tree listing ({n})", got["batch"], got["pygit2"], "cat-file --batch walk / pygit2")
        batch.close()
    m = os.getloadavg()
    print(f"pygit2 {pygit2.__version__} (libgit2 {pygit2.LIBGIT2_VERSION}), "
          f"GitPython {getattr(gitpython, '__version__', 'absent')}, python {sys.version.split()[0]}, "
          f"git {subprocess.run(['git', 'version'], capture_output=True, text=True).stdout.split()[-1]}, "
          f"load {m[0]:.2f} {m[1]:.2f} {m[2]:.2f}, {a.reads} reads each (tree: {max(5, a.reads // 5)})")
    print(table(rows, ["read", "readers", "git/other ms", "pygit2 ms", "ratio"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
