"""`ps`'s table from its cache (ops/dispatch/psview.py) is the table `ps` makes from the records,
whatever changed between two runs: the cache is only ever a shortcut."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import flower, git
from merge_helpers import finished, setup_repo

from flowergit.gitio.repo import discover
from flowergit.state.dispatches import DispatchStore

FORMS = (["ps", "--all"], ["ps"], ["ps", "2", "4"], ["ps", "--all", "--state", "missing"],
         ["ps", "--all", "--limit", "3"])


def tables(repo: Path) -> list[str]:
    return [flower(repo, *argv).stdout + flower(repo, *argv).stderr for argv in FORMS]


def fresh(repo: Path) -> list[str]:
    """Each form with no cache at all: every row made from its record."""
    out = []
    for argv in FORMS:
        (repo / ".git" / "flower" / "cache" / "ps-view.json").unlink(missing_ok=True)
        r = flower(repo, *argv)
        out.append(r.stdout + r.stderr)
    return out


@pytest.mark.slow  # five forms of ps, each run three times, after each change
def test_the_cached_table_is_the_table_made_from_the_records(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    ids = [finished(repo, f"work {i}", {f"f{i}.txt": f"{i}\n"}, exit_code=i % 2,
                    ended_at=f"2026-11-20T10:0{i}:00Z") for i in range(1, 6)]
    store = DispatchStore(discover(str(repo)))
    # one attempt still running (never kept: its state follows its processes), one released
    store.claim(ids[-1], 2, {"state": "running", "agent": "script", "title": "live",
                             "started_at": "2026-11-20T10:09:00Z"})
    store.update(ids[0], 1, lambda r: {**r, "state": "released"}, "released")
    logs = repo / ".git" / "flower" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{ids[1]}.1.log").write_text("first words\nlast words\n")
    cache = repo / ".git" / "flower" / "cache" / "ps-view.json"

    want = fresh(repo)
    assert "last words" in want[0] and "live" in want[0]
    assert tables(repo) == want and cache.exists()
    kept = json.loads(cache.read_text())["rows"]
    assert len(kept) == 5 and all(e["state"] != "running" for e in kept.values())
    # every settled row is read from the cache on the run after the one that made it (its
    # inputs as recorded match)
    cache.unlink()
    flower(repo, "ps", "--all")
    doc0 = json.loads(cache.read_text())
    for e in doc0["rows"].values():
        e["cells"] = ["forged"] * len(e["cells"])
    cache.write_text(json.dumps(doc0))
    assert flower(repo, "ps", "--all").stdout.count("forged") == 5 * 11

    # everything a settled row reads besides its record changes: the cache must not show
    # the old row for any of them
    shutil.rmtree(repo.parent / "workers" / str(ids[2]))  # worktree gone: `missing`
    (logs / f"{ids[1]}.1.log").write_text("first words\nnew last words, longer\n")
    os.utime(logs / f"{ids[1]}.1.log", ns=(1, 1))
    wt = repo.parent / "workers" / str(ids[3])
    (wt / "more.txt").write_text("more\n")
    git(wt, "add", "more.txt")
    git(wt, "commit", "-qm", "one more commit on the branch")  # the branch tip moved
    store.update(ids[4], 1, lambda r: {**r, "outcome": "no-changes"}, "judged")  # a new record
    want = fresh(repo)
    assert "missing" in want[0] and "new last words, longer" in want[0]
    (repo / ".git" / "flower" / "cache" / "ps-view.json").unlink()
    flower(repo, "ps", "--all")  # the cache as it was before the changes below
    kept_before = cache.read_text()
    assert tables(repo) == want
    # a cache made elsewhere (a copied repository) is not used
    doc = json.loads(kept_before)
    for e in doc["rows"].values():
        e["cells"] = ["forged"] * len(e["cells"])
    cache.write_text(json.dumps({**doc, "host": "another-machine"}))
    assert tables(repo) == want
    # nor a corrupt one
    cache.write_text("{not json")
    assert tables(repo) == want
    # (and the cache is what the table is read from while its inputs hold: here, cells written
    # into it by hand show)
    cache.write_text(json.dumps(doc))
    assert "forged" in flower(repo, "ps", "--all").stdout


def test_rows_made_for_a_few_attempts_do_not_shrink_the_record_cache(tmp_path: Path) -> None:
    """`ps` makes rows only for the attempts its cache misses; the dispatch record cache it
    reads them through must keep every other record (it let go of all but the few, and the
    next `status` read hundreds of records again)."""
    from flowergit.state import dispatches

    repo = setup_repo(tmp_path)
    bid = finished(repo, "one", {"a.txt": "a\n"})
    store = DispatchStore(discover(str(repo)))
    listed, _ = store.list_tips()
    path = str(repo / ".git" / "flower" / "cache" / "dispatches.json")
    store.cached(listed, path)
    others = {f"{i:040x}": {"id": f"{i}.1"} for i in range(dispatches.STALE_KEPT + 5)}
    doc = json.loads(Path(path).read_text())
    doc["records"].update(others)
    Path(path).write_text(json.dumps(doc))
    assert [h.record["brief"] for h in store.cached(listed, path, every=False)] == [bid]
    assert set(others) <= set(json.loads(Path(path).read_text())["records"])
    store.cached(listed, path)  # all the tips there are: what no tip names goes
    assert not set(others) & set(json.loads(Path(path).read_text())["records"])


def test_the_caches_keep_a_record_whose_strings_are_not_utf8(tmp_path: Path) -> None:
    """A record written by hand or synced from elsewhere can carry a lone surrogate (JSON's
    "\\udcff": a path that is no UTF-8); the caches keep it as the decoder reads it back, where
    they failed to write (an internal error from `ps`)."""
    from flowergit.ops.dispatch import psview
    from flowergit.state import dispatches

    odd = {"did": "1.1", "worktree": "/work/x\udcff", "cells": ["1.1", "exited"]}
    path = str(tmp_path / "ps-view.json")
    psview._save(path, "host", {"a" * 40: odd})
    assert psview._load(path, "host") == {"a" * 40: odd}
    cache = str(tmp_path / "dispatches.json")
    dispatches._save(cache, {"b" * 40: {"id": "1.1", "worktree": "/work/x\udcff"}})
    assert dispatches._load_cache(cache)["b" * 40]["worktree"] == "/work/x\udcff"
