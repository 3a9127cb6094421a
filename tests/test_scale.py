"""Scale without timing: hot commands start a fixed number of git processes whatever the size
of the repository, the git version check is cached per git executable, and the stores read in
batches (no per-item git call, no quadratic path). Counts come from GIT_TRACE, never the clock."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, flower, flower_json, git, slow_after, write_exe

sys.path.insert(0, str(ROOT / "bench"))
import build  # noqa: E402


def git_calls(repo: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """The git commands ``git flower ARGS`` starts (GIT_TRACE), in order."""
    trace = repo.parent / f"trace-{os.getpid()}.txt"
    trace.unlink(missing_ok=True)
    r = flower(repo, *args, env={"GIT_TRACE": str(trace), **(env or {})})
    assert r.returncode == 0, r.stderr
    lines = trace.read_text(errors="replace").splitlines() if trace.exists() else []
    trace.unlink(missing_ok=True)
    return [ln.split("trace: built-in: git ", 1)[1] for ln in lines if "trace: built-in: git " in ln]


def grow(repo: Path, briefs: int, dispatches: int, signals: int) -> None:
    lines = "".join(json.dumps({"title": f"brief {i}", "body": "x\n"}) + "\n" for i in range(briefs))
    r = flower(repo, "brief", "import", "-", input=lines)
    assert r.returncode == 0, r.stderr
    if dispatches:
        build.dispatches(repo, dispatches, briefs=briefs)
    if signals:
        build.signals(repo, signals)


HOT = [("brief", "list", "--json"), ("brief", "show", "3", "--json"), ("brief", "new", "t", "--json"),
       ("status", "--json"), ("signal", "claim", "--next", "--json")]


@pytest.mark.slow  # scale
def test_hot_commands_start_as_many_git_processes_at_300_items_as_at_10(tmp_path: Path) -> None:
    small = build.init_repo(tmp_path / "small")
    big = build.init_repo(tmp_path / "big")
    grow(small, 10, 10, 10)
    grow(big, 300, 300, 300)
    for argv in HOT:
        # first runs fill the caches (brief list, git version); then count
        git_calls(small, *argv)
        git_calls(big, *argv)
        a = git_calls(small, *argv)
        b = git_calls(big, *argv)
        assert len(a) == len(b), (argv, a, b)
        assert len(b) <= 9, (argv, b)


def test_brief_list_after_one_change_reads_only_the_changed_brief(repo: Path) -> None:
    grow(repo, 200, 0, 0)
    flower_json(repo, "brief", "list")
    flower_json(repo, "brief", "set", "150", "status=planned")
    calls = git_calls(repo, "brief", "list", "--json")
    assert any(c.startswith("diff-tree") for c in calls), calls
    assert not any(c.startswith("ls-tree") for c in calls), calls  # no full re-read
    items = flower_json(repo, "brief", "list")
    assert [b["id"] for b in items] == list(range(1, 201))  # type: ignore[index]
    assert items[149]["status"] == "planned"  # type: ignore[index]


def test_git_version_is_checked_once_per_git_executable(repo: Path, tmp_path: Path) -> None:
    real = shutil.which("git")
    assert real
    shim = write_exe(tmp_path / "bin" / "git", f'#!/bin/sh\nexec "{real}" "$@"\n')
    env = {"PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}
    flower_json(repo, "brief", "list")  # the list cache filled, the real git's version cached
    first = git_calls(repo, "brief", "list", "--json", env=env)
    assert "version" in first
    again = git_calls(repo, "brief", "list", "--json", env=env)
    assert "version" not in again and len(again) == len(first) - 1
    # an upgraded git (the executable changed) is checked afresh
    shim.write_text(f'#!/bin/sh\n# upgraded\nexec "{real}" "$@"\n')
    assert "version" in git_calls(repo, "brief", "list", "--json", env=env)


OLD_GIT = ('#!/bin/sh\nfor a in "$@"; do [ "$a" = version ] && {{ echo "git version {ver}"; exit 0; }}; done\n'
           'exec "{real}" "$@"\n')


def test_a_too_old_git_is_refused_even_with_a_cached_good_version(repo: Path, tmp_path: Path) -> None:
    real = shutil.which("git")
    flower_json(repo, "brief", "list")  # caches the real git's version
    old = write_exe(tmp_path / "old" / "git", OLD_GIT.format(ver="2.30.1", real=real))
    r = flower(repo, "brief", "list", env={"PATH": f"{old.parent}{os.pathsep}{os.environ['PATH']}"})
    assert r.returncode == 6, r.stderr
    assert "git >= 2.38 required, found 2.30.1" in r.stderr


def test_outside_a_repository_a_too_old_git_is_reported_as_such(tmp_path: Path) -> None:
    real = shutil.which("git")
    old = write_exe(tmp_path / "old" / "git", OLD_GIT.format(ver="2.20.0", real=real))
    (tmp_path / "nowhere").mkdir()
    r = flower(tmp_path / "nowhere", "brief", "list",
               env={"PATH": f"{old.parent}{os.pathsep}{os.environ['PATH']}"})
    assert r.returncode == 6 and "found 2.20.0" in r.stderr, r.stderr


@pytest.mark.parametrize("n", slow_after([50, 400]))
def test_status_reads_every_dispatch_record_in_one_batch(repo: Path, n: int) -> None:
    grow(repo, 20, n, 0)
    calls = git_calls(repo, "status", "--json")
    assert sum(c.startswith("cat-file") for c in calls) <= 2, calls
    data = flower_json(repo, "status")
    assert sum(data["dispatches"].values()) == n  # type: ignore[index]


NOTES_CODE = """
import json, os, sys
from flowergit.gitio.repo import discover
from flowergit.state import notes
r = discover()
op, oids = sys.argv[1], sys.argv[2:]
if op == "append":
    for o in oids:  # one notes commit per object, as merges and suites write them
        notes.append(r, {o: [{"v": 1, "kind": "suite", "passed": True}]}, "scale note")
print(json.dumps(notes.read_many(r, oids)))
"""


def notes_op(repo: Path, op: str, oids: list[str]) -> tuple[dict[str, list[dict[str, object]]], list[str]]:
    """Run a notes append/read in a fresh process: (what read_many returned, git commands run)."""
    trace = repo.parent / "notes-trace.txt"
    trace.unlink(missing_ok=True)
    out = subprocess.run([sys.executable, "-c", NOTES_CODE, op, *oids], cwd=repo, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "GIT_TRACE": str(trace)}, check=False)
    assert out.returncode == 0, out.stderr
    calls = [ln.split("trace: built-in: git ", 1)[1] for ln in trace.read_text(errors="replace").splitlines()
             if "trace: built-in: git " in ln]
    return json.loads(out.stdout), calls


def tree_entries_rewritten(repo: Path, old: str, new: str) -> int:
    """Entries in the trees a notes commit wrote that its parent did not have (root included)."""
    changed = [ln.split("\t", 1)[1] for ln in git(repo, "diff-tree", "-r", "-t", old, new).stdout.splitlines()
               if ln.split()[1] == "040000"]
    return sum(len(git(repo, "ls-tree", f"{new}:{p}" if p else new).stdout.splitlines()) for p in ["", *changed])


@pytest.mark.slow
@pytest.mark.parametrize("n", slow_after([300, 3000]))
def test_notes_are_appended_and_read_at_a_cost_set_by_the_fanout_not_the_count(tmp_path: Path, n: int) -> None:
    """100,000 commits with notes is the benchmark's size; 300 and 3,000 keep the test lean.
    Appends land under git's fan-out (the root stays at 256 subtrees, one subtree is rewritten),
    the git processes per append and per read do not grow with the notes, and nothing lists
    the notes tree."""
    repo = build.init_repo(tmp_path / "hist")
    build.history(repo, n)
    head = git(repo, "rev-parse", "HEAD").stdout.strip()
    assert json.loads(git(repo, "notes", "--ref=flower", "show", head).stdout)["kind"] == "merge"
    trees = git(repo, "log", "--format=%T", "-20").stdout.split()  # no notes on trees yet
    tips = [git(repo, "rev-parse", "refs/notes/flower").stdout.strip()]
    got, calls = notes_op(repo, "append", [head])
    assert [rec["kind"] for rec in got[head]] == ["merge", "suite"]
    per_append = calls
    for t in trees:
        tips.append(git(repo, "rev-parse", "refs/notes/flower").stdout.strip())
        _, calls = notes_op(repo, "append", [t])
        assert len(calls) == len(per_append), (calls, per_append)
    tips.append(git(repo, "rev-parse", "refs/notes/flower").stdout.strip())
    root = git(repo, "ls-tree", "refs/notes/flower").stdout.splitlines()
    assert len(root) <= 256 and all(ln.split()[1] == "tree" for ln in root)  # nothing flat piles up
    for old, new in itertools.pairwise(tips):
        # root (<= 256) + one subtree (about n/256 notes): the rewrite does not hold every note
        assert tree_entries_rewritten(repo, old, new) <= 256 + n // 256 + 24
    got, calls = notes_op(repo, "read", [head, *trees[:2], "0" * 40])
    assert set(got) == {head, *trees[:2]}
    assert not any(c.startswith("ls-tree") for c in calls), calls  # looked up by path
    assert sum(c.startswith("cat-file") for c in calls) == 1 and len(calls) <= 3, calls


@pytest.mark.slow  # scale
def test_a_flat_legacy_notes_tree_moves_under_the_fanout_once(tmp_path: Path) -> None:
    """3,000 notes written flat (as older git flower wrote them): the first append moves them
    all under the fan-out, each object keeping its one blob; later appends rewrite small trees."""
    repo = build.init_repo(tmp_path / "flat")
    build.history(repo, 3000, notes=False)
    objs = git(repo, "rev-list", "HEAD").stdout.split()
    blob = git(repo, "hash-object", "-w", "--stdin", input=b'{"kind":"merge","v":1}\n').stdout.strip()
    tree = git(repo, "mktree", input="".join(f"100644 blob {blob}\t{o}\n" for o in objs).encode()).stdout.strip()
    git(repo, "update-ref", "refs/notes/flower", git(repo, "commit-tree", tree, "-m", "flat").stdout.strip())
    trees = git(repo, "log", "--format=%T", "-3").stdout.split()
    tips = [git(repo, "rev-parse", "refs/notes/flower").stdout.strip()]
    for t in [objs[0], *trees]:
        notes_op(repo, "append", [t])
        tips.append(git(repo, "rev-parse", "refs/notes/flower").stdout.strip())
    paths = git(repo, "ls-tree", "-r", "--name-only", "refs/notes/flower").stdout.split()
    assert sorted(paths) == sorted(f"{o[:2]}/{o[2:]}" for o in [*objs, *trees])  # one blob each
    assert len(git(repo, "ls-tree", "refs/notes/flower").stdout.splitlines()) <= 256
    for old, new in itertools.pairwise(tips[1:]):  # after the move: root + one subtree
        assert tree_entries_rewritten(repo, old, new) <= 256 + 3000 // 256 + 24
    got, _ = notes_op(repo, "read", [objs[0], objs[-1]])
    assert got == {objs[0]: [{"kind": "merge", "v": 1}, {"kind": "suite", "passed": True, "v": 1}],
                   objs[-1]: [{"kind": "merge", "v": 1}]}


@pytest.mark.slow  # benchmark
def test_the_notes_benchmark_runs_and_prints_at_small_scale() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_notes.py"), "--sizes", "300", "--reps", "1"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    rows = [ln.split() for ln in out.stdout.splitlines() if ln.startswith("300 ")]
    assert {" ".join(r[1:3]) for r in rows} >= {"after (fan-out)", "after, on"}, out.stdout


def test_a_warm_brief_list_is_one_git_process(repo: Path) -> None:
    grow(repo, 30, 0, 0)
    flower_json(repo, "brief", "list")
    calls = git_calls(repo, "brief", "list", "--json")
    assert len(calls) == 1 and calls[0].startswith("rev-parse --path-format=absolute"), calls
    assert "refs/heads/flower/briefs^{tree}" in calls[0]


def test_the_tree_resolved_at_discovery_is_never_stale_in_one_process(repo: Path) -> None:
    """A long-lived process (the MCP server, a daemon) writes and then lists: the write drops
    the value discovery resolved, so the list shows the new brief."""
    code = ("import json\nfrom flowergit.ops.context import Ctx\nfrom flowergit.ops import briefs\n"
            "ctx = Ctx().load()\n"
            "briefs.new(ctx, title='written in-process')\n"
            "print(json.dumps([b['title'] for b in briefs.list_(ctx).value()]))\n"
            "print(json.dumps(len(briefs.list_(ctx).value())))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    titles, again = out.stdout.splitlines()
    assert json.loads(titles) == ["written in-process"] and json.loads(again) == 1


def test_discovery_without_a_briefs_branch_still_says_what_to_do(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    git(plain, "init", "-q", "-b", "main")
    r = flower(plain, "brief", "list", "--json")
    assert r.returncode == 3 and "git flower init" in r.stderr, r.stderr
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(plain), str(bare))
    r = flower(bare, "brief", "list", "--json")
    assert r.returncode == 3 and "git flower init" in r.stderr, r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("damage", [b"", b"garbage", b'{"v":2,"tree":"x"}\n[]\n', b'{"v":2,"tree":"x"}\n[',
                                    b"\xff\xfe\n\n\n"])
def test_a_damaged_list_cache_is_rebuilt_and_text_survives_byte_for_byte(repo: Path, damage: bytes) -> None:
    flower_json(repo, "brief", "new", "Straße ✓ – naïve 雪")
    flower_json(repo, "brief", "new", "second")
    want = flower_json(repo, "brief", "list")
    cache = repo / ".git" / "flower" / "cache" / "briefs.json"
    cache.write_bytes(damage)
    assert flower_json(repo, "brief", "list") == want
    assert flower_json(repo, "brief", "list") == want  # and from the rebuilt cache
    r = flower(repo, "brief", "list", "--json")
    assert "Straße ✓ – naïve 雪" in r.stdout


def test_brief_counts_by_status_come_from_the_cache_header(repo: Path) -> None:
    grow(repo, 12, 0, 0)
    flower_json(repo, "brief", "set", "3", "status=planned")
    flower_json(repo, "brief", "set", "4", "status=planned")
    flower_json(repo, "brief", "set", "5", "status=blocked")
    code = ("import json\nfrom flowergit.ops.context import Ctx\n"
            "store = Ctx().load().briefs()\nprint(json.dumps(store.counts()))\n"
            "print(json.dumps(Ctx().load().briefs().counts()))\n")
    for _ in range(2):  # the first run rebuilds the cache, the second reads its header
        out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        for line in out.stdout.splitlines():
            assert json.loads(line) == {"draft": 9, "planned": 2, "blocked": 1}
    cache = repo / ".git" / "flower" / "cache" / "briefs.json"
    assert json.loads(cache.read_bytes().split(b"\n", 1)[0])["counts"] == {"draft": 9, "planned": 2,
                                                                           "blocked": 1}


def test_brief_new_is_five_git_processes_and_still_refuses_a_checked_out_briefs_branch(repo: Path) -> None:
    calls = git_calls(repo, "brief", "new", "counted", "--json")
    assert len(calls) == 5, calls  # discovery, var -l, cat-file, unpack-objects, update-ref
    assert not any(c.startswith("worktree list") for c in calls)  # HEAD files said "not held"
    # held by the main checkout itself: the HEAD file says so, and git names the worktree
    git(repo, "stash", "-u", "-q", check=False)
    git(repo, "switch", "-q", "flower/briefs")
    r = flower(repo, "brief", "new", "refused")
    assert r.returncode == 4 and f"checked out in the worktree {repo}" in r.stderr, r.stderr
    git(repo, "switch", "-q", "main")
    # a linked worktree in the middle of being added (no HEAD yet) holds nothing
    (repo / ".git" / "worktrees" / "half-made").mkdir(parents=True)
    flower_json(repo, "brief", "new", "allowed")


def test_status_reads_the_briefs_tree_once(repo: Path) -> None:
    """Counts and the briefs with sync conflicts come from one look at the list cache: the
    briefs tree discovery resolved, no second rev-parse of it."""
    flower_json(repo, "brief", "new", "one")
    flower_json(repo, "status")
    calls = git_calls(repo, "status", "--json")
    assert not any("flower/briefs^{tree}" in c for c in calls[1:]), calls


def commit_to_briefs(repo: Path, edits: dict[str, str | None], message: str) -> None:
    """A plain-git commit on flower/briefs (as a person or another tool makes): path -> text,
    None deletes the file."""
    env = {**os.environ, "GIT_INDEX_FILE": str(repo / ".git" / "scratch-index")}
    run = lambda *a, **kw: subprocess.run(["git", *a], cwd=repo, env=env, check=True,  # noqa: E731
                                          capture_output=True, **kw)
    run("read-tree", "flower/briefs")
    for path, text in edits.items():
        if text is None:
            run("rm", "--cached", "-q", path)
        else:
            blob = run("hash-object", "-w", "--stdin", input=text.encode()).stdout.decode().strip()
            run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    tree = run("write-tree").stdout.decode().strip()
    tip = run("rev-parse", "flower/briefs").stdout.decode().strip()
    new = run("commit-tree", tree, "-p", tip, "-m", message).stdout.decode().strip()
    run("update-ref", "refs/heads/flower/briefs", new, tip)


@pytest.mark.slow  # a few dozen commands
def test_a_spliced_list_cache_equals_one_built_from_scratch(repo: Path) -> None:
    """Changes small enough to be spliced into the list cache (edits, new briefs, files removed
    or broken by hand, several at once) give exactly the list a cache built from nothing gives,
    with the same counts; the cache's header finds every line by the lengths it records."""
    cache = repo / ".git" / "flower" / "cache" / "briefs.json"
    grow(repo, 30, 0, 0)

    def check() -> None:
        got = flower(repo, "brief", "list", "--json").stdout
        counts = flower_json(repo, "status")["briefs"]  # type: ignore[index]
        cache.unlink()
        assert flower(repo, "brief", "list", "--json").stdout == got
        assert flower_json(repo, "status")["briefs"] == counts  # type: ignore[index]
        lines = cache.read_bytes().split(b"\n")
        assert json.loads(lines[0])["lens"] == [len(x) for x in lines[1:3]] and lines[3:] == [b""]

    check()
    flower_json(repo, "brief", "set", "1", "status=planned")  # the first record
    check()
    flower_json(repo, "brief", "set", "30", "title=the last one ✓")  # the last
    check()
    flower_json(repo, "brief", "new", "thirty-one")  # appended
    check()
    commit_to_briefs(repo, {"briefs/0000/7.md": None, "briefs/0000/8.md": None,
                            "briefs/0000/9.md": "+++\nid = 9\ntitle = [broken\n+++\n",
                            "briefs/0000/50.md": "+++\nid = 50\ntitle = \"by hand\"\n+++\n"},
                     "several at once, by hand")
    check()
    rows = {b["id"]: b["status"] for b in flower_json(repo, "brief", "list")}  # type: ignore[union-attr]
    assert 7 not in rows and 8 not in rows and rows[9] == "broken" and rows[50] == "draft"
    commit_to_briefs(repo, {f"briefs/0000/{n}.md": None for n in range(1, 32) if n not in (7, 8)},
                     "all but one gone")
    check()
    assert [b["id"] for b in flower_json(repo, "brief", "list")] == [50]  # type: ignore[union-attr]


def test_a_few_changes_go_to_the_patch_file_and_many_rewrite_the_cache(repo: Path) -> None:
    """Up to PATCH_MAX briefs changed since the cache file was written are kept in a small
    patch file beside it: the big file is not written again, and the list and counts are those
    of a cache built from nothing; more changes than that rewrite the cache file."""
    from flowergit.state.listcache import PATCH_MAX

    cache = repo / ".git" / "flower" / "cache" / "briefs.json"
    patch = cache.parent / "briefs.json.patch"
    grow(repo, 30, 0, 0)
    flower(repo, "brief", "list", "--json")
    before = cache.stat()
    flower_json(repo, "brief", "set", "3", "status=planned")
    flower_json(repo, "brief", "new", "thirty-one")
    commit_to_briefs(repo, {"briefs/0000/9.md": None}, "one gone, by hand")
    got = flower(repo, "brief", "list", "--json").stdout
    counts = flower_json(repo, "status")["briefs"]  # type: ignore[index]
    after = cache.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(json.loads(patch.read_bytes())["edits"]) == ["3", "31", "9"]
    cache.unlink()
    assert flower(repo, "brief", "list", "--json").stdout == got
    assert flower_json(repo, "status")["briefs"] == counts  # type: ignore[index]
    # more than PATCH_MAX briefs at once: the cache file itself is written again
    many = {f"briefs/{n // 100 * 100:04d}/{n}.md": f'+++\nid = {n}\ntitle = "by hand {n}"\n+++\n'
            for n in range(100, 101 + PATCH_MAX)}
    commit_to_briefs(repo, many, "many by hand")
    got = flower(repo, "brief", "list", "--json").stdout
    tree = git(repo, "rev-parse", "flower/briefs^{tree}").stdout.strip()
    assert json.loads(cache.read_bytes().split(b"\n", 1)[0])["tree"] == tree
    cache.unlink()
    assert flower(repo, "brief", "list", "--json").stdout == got

