"""The merge gate: green, red, conflicting and refused merges, with the "nothing lost" oracle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import flower, git, snapshot_state, write_exe
from merge_helpers import (SUITE, dirty_local_state, env_fp, finished, notes_of, setup_repo,
                           suite_moving_main, wait_released)

HEADS = ("refs/heads",)


def rev(repo: Path, name: str) -> str:
    return git(repo, "rev-parse", name).stdout.strip()


def dispatch_state(repo: Path, bid: int) -> dict:
    out = git(repo, "cat-file", "blob", f"refs/flower/dispatch/{bid}/1:record.json").stdout
    return json.loads(out)


def brief_status(repo: Path, bid: int) -> str:
    r = flower(repo, "brief", "show", str(bid), "--json")
    return json.loads(r.stdout)["data"]["status"]


def test_green_merge_lands_and_keeps_every_kind_of_local_work(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "green work", {"agent.txt": "work\n", "src/new.py": "x = 1\n"})
    git(repo, "stash", "push", "-q", "--include-untracked", "-m", "users own stash",
        check=False)  # nothing to stash: no entry
    dirty_local_state(repo)
    (repo / "foreign.txt").write_text("theirs\n")
    git(repo, "add", "foreign.txt")
    git(repo, "stash", "push", "-q", "-m", "a foreign stash", "--", "foreign.txt")
    stash_before = git(repo, "stash", "list", "--format=%H").stdout
    solo = (repo / "solo.yml").read_bytes()
    main_before = rev(repo, "main")
    # the background release takes a second: whoever waits for release.mutex waits for it
    r = flower(repo, "merge", str(bid), env=env_fp("release_before_remove=sleep(1)"))
    assert r.returncode == 0, r.stderr
    assert "merged brief" in r.stdout and "8 passed" in r.stdout
    merged = rev(repo, "main")
    assert merged != main_before
    assert git(repo, "rev-parse", "main^1").stdout.strip() == main_before
    assert (repo / "solo.yml").read_bytes() == solo
    assert "local edit" in (repo / "README.md").read_text()
    assert (repo / "notes-local.txt").read_text() == "untracked\n"
    assert git(repo, "diff", "--cached", "--name-only").stdout.split() == ["staged.txt"]
    assert (repo / "agent.txt").read_text() == "work\n" and (repo / "src/new.py").exists()
    # finding 7: the checkout was brought along, so status shows only the pre-existing changes
    status = git(repo, "status", "--porcelain", "-uall").stdout.splitlines()
    assert sorted(status) == sorted([" M README.md", " M solo.yml", "A  staged.txt",
                                     "?? notes-local.txt"])
    assert git(repo, "stash", "list", "--format=%H").stdout == stash_before
    # provenance: one JSON line, sorted keys, counts; visible in git log --notes=flower
    recs = notes_of(repo, "main")
    m = [x for x in recs if x["kind"] == "merge"]
    assert len(m) == 1 and m[0]["brief"] == bid and m[0]["dispatch"] == f"{bid}.1"
    assert m[0]["suite"]["tests"] == 10 and m[0]["suite"]["passed"] == 8
    assert m[0]["suite"]["skipped"] == 2 and m[0]["suite"]["tree"] == rev(repo, "main^{tree}")
    assert m[0]["into"] == "main" and m[0]["head"] == rev(repo, f"flower/{bid}-work")
    raw = git(repo, "notes", "--ref=flower", "show", "main").stdout.splitlines()[0]
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"),
                             ensure_ascii=False)
    assert '"kind":"merge"' in git(repo, "log", "--notes=flower", "-1", "main").stdout
    assert brief_status(repo, bid) == "merged"
    d = dispatch_state(repo, bid)
    assert d["state"] == "merged" and d["merge_commit"] == merged
    assert "worker worktree being released in the background" in r.stdout
    # the worker worktree goes once the merge is in, in a copy of the merge process that holds
    # release.mutex from before `merge` returned: whoever takes the lock finds it done
    import fcntl

    with open(repo / ".git" / "flower" / "release.mutex") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        d = dispatch_state(repo, bid)
    assert d["worktree_released"] is True and d["state"] == "merged"
    assert not (repo.parent / "workers" / str(bid)).exists()
    assert not git(repo, "for-each-ref", "refs/flower/recovery").stdout
    # merging again is harmless
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0 and "already merged" in r.stdout


def test_red_suite_exit_5_nothing_moves(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "red work", {"BREAK": "x\n"})
    dirty_local_state(repo)
    before = snapshot_state(repo, include_refs=("refs/heads", "refs/flower"))
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 5, r.stderr
    assert "1 failed" in r.stderr and "7 passed" in r.stderr and "10 tests" in r.stderr
    log = r.stderr.split("log: ")[1].split()[0].rstrip(";")
    assert Path(log).is_file()
    assert snapshot_state(repo, include_refs=("refs/heads", "refs/flower")) == before
    assert dispatch_state(repo, bid)["state"] == "exited"
    assert brief_status(repo, bid) != "merged"
    assert (repo.parent / "workers" / str(bid)).is_dir()
    # the red result is an attestation of that tree, not a pass
    r = flower(repo, "merge", str(bid), "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 5 and doc["ok"] is False and doc["error"]["code"] == "tests_failed"
    assert doc["error"]["data"]["suite"]["failed"] == 1


def test_conflict_exit_4_lists_paths_nothing_changed(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "conflicting", {"README.md": "agent version\n"})
    (repo / "README.md").write_text("main version\n")
    git(repo, "commit", "-qam", "main edits README")
    dirty_local_state(repo)
    before = snapshot_state(repo)
    r = flower(repo, "merge", str(bid), "--json")
    assert r.returncode == 4
    doc = json.loads(r.stdout)
    assert doc["error"]["data"]["conflicts"] == ["README.md"]
    assert "README.md" in r.stderr
    assert snapshot_state(repo) == before


@pytest.mark.parametrize("how", ["dirty", "untracked", "ignored", "staged"])
def test_solo_yml_byte_identical_after_red_conflict_and_green(tmp_path: Path, how: str) -> None:
    repo = setup_repo(tmp_path, track_solo=how in ("dirty", "staged"))
    if how == "ignored":
        with open(repo / ".git" / "info" / "exclude", "a") as f:
            f.write("solo.yml\n")
    red = finished(repo, "red", {"BREAK": "x\n"})
    clash = finished(repo, "clash", {"README.md": "agent\n"})
    green = finished(repo, "green", {"agent.txt": "ok\n"})
    (repo / "README.md").write_text("main\n")
    git(repo, "commit", "-qam", "main moves README")
    data = b"watch: local \x00\xff bytes\n"
    (repo / "solo.yml").write_bytes(data)
    (repo / "solo.yml").chmod(0o600)
    if how == "staged":
        git(repo, "add", "solo.yml")
    before = snapshot_state(repo)
    assert flower(repo, "merge", str(red)).returncode == 5
    assert snapshot_state(repo, include_refs=HEADS) == snapshot_state(repo, include_refs=HEADS)
    assert flower(repo, "merge", str(clash)).returncode == 4
    now = snapshot_state(repo, include_refs=("refs/heads", "refs/flower"))
    assert now.files == before.files and now.index_tree == before.index_tree
    r = flower(repo, "merge", str(green))
    assert r.returncode == 0, r.stderr
    assert (repo / "solo.yml").read_bytes() == data
    assert (repo / "solo.yml").stat().st_mode & 0o777 == 0o600
    if how == "staged":
        assert "solo.yml" in git(repo, "diff", "--cached", "--name-only").stdout.split()


def test_incoming_change_to_dirty_local_only_file_is_refused(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "touches solo", {"solo.yml": "agent: version\n"})
    (repo / "solo.yml").write_text("mine\n")
    before = snapshot_state(repo)
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 4
    assert "local-only" in r.stderr and "solo.yml" in r.stderr
    assert snapshot_state(repo) == before


def test_ignored_local_only_file_is_not_overwritten_by_an_added_file(tmp_path: Path) -> None:
    """Finding 2: git itself overwrites an ignored file on merge; the gate refuses first."""
    repo = setup_repo(tmp_path, track_solo=False)
    with open(repo / ".git" / "info" / "exclude", "a") as f:
        f.write("solo.yml\n")
    (repo / "solo.yml").write_text("only on this machine\n")
    bid = finished(repo, "adds solo", {"solo.yml": "from the agent\n"})
    before = snapshot_state(repo)
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 4 and "solo.yml" in r.stderr
    assert snapshot_state(repo) == before


@pytest.mark.parametrize("ignored", [False, True])
def test_untracked_or_ignored_collision_is_refused_up_front(tmp_path: Path, ignored: bool) -> None:
    """Scenario 13 / finding 5: an incoming file that exists untracked or ignored."""
    repo = setup_repo(tmp_path)
    if ignored:
        with open(repo / ".git" / "info" / "exclude", "a") as f:
            f.write("notes.txt\n")
    bid = finished(repo, "adds notes", {"notes.txt": "agent\n"})
    (repo / "notes.txt").write_text("user's own\n")
    before = snapshot_state(repo)
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 4 and "notes.txt" in r.stderr
    assert snapshot_state(repo) == before


def _multi_line(repo: Path) -> None:
    (repo / "code.txt").write_text("".join(f"line {i}\n" for i in range(1, 21)))
    git(repo, "add", "code.txt")
    git(repo, "commit", "-qm", "code")


def test_overlapping_local_edits_use_a_stash_by_id_and_come_back(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    _multi_line(repo)
    text = (repo / "code.txt").read_text()
    bid = finished(repo, "edits bottom", {"code.txt": text.replace("line 20\n", "line 20 agent\n")})
    # scenario 14: staged and unstaged changes to the same file, plus a foreign stash
    (repo / "other.txt").write_text("foreign\n")
    git(repo, "add", "other.txt")
    git(repo, "stash", "push", "-q", "-m", "foreign", "--", "other.txt")
    foreign = git(repo, "stash", "list", "--format=%H").stdout
    (repo / "code.txt").write_text(text.replace("line 1\n", "line 1 staged\n"))
    git(repo, "add", "code.txt")
    (repo / "code.txt").write_text(text.replace("line 1\n", "line 1 staged\n").replace(
        "line 2\n", "line 2 unstaged\n"))
    (repo / "solo.yml").write_text("local\n")
    r = flower(repo, "merge", str(bid), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)["data"]
    assert data["stashed"] is True
    got = (repo / "code.txt").read_text()
    assert "line 1 staged\n" in got and "line 2 unstaged\n" in got and "line 20 agent\n" in got
    assert git(repo, "stash", "list", "--format=%H").stdout == foreign
    assert (repo / "solo.yml").read_text() == "local\n"
    cached = git(repo, "show", ":code.txt").stdout
    assert "line 1 staged\n" in cached and "line 2 unstaged" not in cached


def test_overlapping_local_edits_that_would_conflict_are_refused(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    _multi_line(repo)
    text = (repo / "code.txt").read_text()
    bid = finished(repo, "edits line 5", {"code.txt": text.replace("line 5\n", "agent 5\n")})
    (repo / "code.txt").write_text(text.replace("line 5\n", "user 5\n"))
    before = snapshot_state(repo)
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 4 and "code.txt" in r.stderr and "local changes" in r.stderr
    assert snapshot_state(repo) == before


def test_target_moved_during_the_suite_cas_fails(tmp_path: Path) -> None:
    """Scenario 16: someone commits to main while the suite runs: exit 4, their commit intact."""
    theirs = tmp_path / "theirs"
    git(tmp_path, "init", "-q", str(theirs))
    suite = suite_moving_main(tmp_path / "repo")
    repo = setup_repo(tmp_path, suite=suite)
    bid = finished(repo, "green", {"agent.txt": "ok\n"})
    dirty_local_state(repo)
    before = snapshot_state(repo, include_refs=())
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 4, r.stderr
    assert "moved" in r.stderr
    assert git(repo, "log", "-1", "--format=%s", "main").stdout.strip() == "their commit"
    assert git(repo, "rev-list", "--count", "main^2", check=False).returncode != 0  # no merge
    after = snapshot_state(repo, include_refs=())
    assert after.files == before.files and after.index_tree == before.index_tree
    assert after.stash == before.stash
    assert not (repo / "agent.txt").exists()
    assert dispatch_state(repo, bid)["state"] == "exited"


def test_unfinished_or_failed_dispatch_is_refused(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    running = finished(repo, "still running", {"a.txt": "a\n"}, state="running", exit_code=None)  # type: ignore[arg-type]
    failed = finished(repo, "agent failed", {"b.txt": "b\n"}, exit_code=3)
    before = snapshot_state(repo)
    r = flower(repo, "merge", str(running))
    assert r.returncode == 4 and "still running" in r.stderr
    r = flower(repo, "merge", str(failed))
    assert r.returncode == 4 and "exited with 3" in r.stderr and "--force" in r.stderr
    assert snapshot_state(repo) == before
    assert flower(repo, "merge", str(failed), "--force").returncode == 0
    assert (repo / "b.txt").exists()
    r = flower(repo, "merge", "999")
    assert r.returncode == 3
    r = flower(repo, "merge", "x1")
    assert r.returncode == 2


def test_dirty_worker_tree_is_refused(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "left junk", {"a.txt": "a\n"})
    (repo.parent / "workers" / str(bid) / "forgot.txt").write_text("uncommitted\n")
    before = snapshot_state(repo)
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 4 and "uncommitted" in r.stderr and "forgot.txt" in r.stderr
    assert snapshot_state(repo) == before


def test_operation_in_progress_is_refused(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"a.txt": "a\n"})
    (repo / ".git" / "MERGE_HEAD").write_text(rev(repo, "main") + "\n")
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 4 and "MERGE_HEAD" in r.stderr
    (repo / ".git" / "MERGE_HEAD").unlink()
    (repo / ".git" / "NOTES_MERGE_REF").write_text("refs/notes/flower\n")
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 4 and "NOTES_MERGE_REF" in r.stderr


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "work", {"a.txt": "a\n"})
    dirty_local_state(repo)
    before = snapshot_state(repo)
    r = flower(repo, "merge", str(bid), "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)["data"]
    assert data["status"] == "dry-run" and data["incoming"] == ["a.txt"]
    assert snapshot_state(repo) == before


def test_into_a_branch_not_checked_out_moves_only_that_branch(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    git(repo, "branch", "release")
    bid = finished(repo, "work", {"a.txt": "a\n"}, base="release")
    dirty_local_state(repo)
    before = snapshot_state(repo, include_refs=())
    main = rev(repo, "main")
    r = flower(repo, "merge", str(bid), "--into", "release", "--no-test")
    assert r.returncode == 0, r.stderr
    assert rev(repo, "main") == main
    assert git(repo, "show", "release:a.txt").stdout == "a\n"
    wait_released(repo, bid)  # the worker worktree goes in the background: not the user's work
    after = snapshot_state(repo, include_refs=())
    assert (after.head, after.index_tree, after.files, after.stash) == (
        before.head, before.index_tree, before.files, before.stash)
    assert notes_of(repo, "release")[0]["suite"] is None
    assert flower(repo, "merge", "1", "--into", "-x").returncode == 2


def test_queue_merges_finished_briefs_in_order_and_skips_red(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    second = finished(repo, "second", {"b.txt": "b\n"}, ended_at="2026-11-20T10:00:02Z")
    red = finished(repo, "red", {"BREAK": "x\n"}, ended_at="2026-11-20T10:00:01Z")
    first = finished(repo, "first", {"a.txt": "a\n"}, ended_at="2026-11-20T10:00:00Z")
    r = flower(repo, "merge", "--json")
    assert r.returncode == 5, r.stderr
    items = json.loads(r.stdout)["error"]["data"]
    assert [(i["brief"], i["status"]) for i in items] == [(first, "merged"), (red, "red"),
                                                          (second, "merged")]
    subjects = git(repo, "log", "--first-parent", "--format=%s", "-2", "main").stdout.splitlines()
    assert subjects[0].startswith(f"Merge brief {second} ") and subjects[1].startswith(
        f"Merge brief {first} ")
    assert rev(repo, "main^1^2") == rev(repo, f"flower/{first}-work")
    # nothing left but the red one, which stays refused
    r = flower(repo, "merge")
    assert r.returncode == 5


def test_sha256_repository(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path, object_format="sha256")
    bid = finished(repo, "work", {"a.txt": "a\n"})
    dirty_local_state(repo)
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 0, r.stderr
    assert len(rev(repo, "main")) == 64
    assert notes_of(repo, "main")[0]["brief"] == bid


def test_hostile_user_config_and_environment(tmp_path: Path) -> None:
    """Scenario 22: pathspec, untracked-file, hook and signing settings cannot subvert it."""
    repo = setup_repo(tmp_path)
    _multi_line(repo)
    text = (repo / "code.txt").read_text()
    bid = finished(repo, "work", {"code.txt": text.replace("line 20\n", "agent\n"),
                                  "n\u00e9w.txt": "x\n"})
    hooks = tmp_path / "hooks"
    for h in ("pre-merge-commit", "post-checkout", "post-merge", "pre-commit"):
        write_exe(hooks / h, "#!/bin/sh\nexit 1\n")
    for k, v in (("status.showUntrackedFiles", "no"), ("core.hooksPath", str(hooks)),
                 ("commit.gpgSign", "true"), ("gpg.program", "false"), ("merge.ff", "only"),
                 ("core.quotePath", "true"), ("color.ui", "always"),
                 ("diff.external", "false")):
        git(repo, "config", k, v)
    (repo / "code.txt").write_text(text.replace("line 1\n", "mine\n"))
    (repo / "solo.yml").write_text("local\n")
    (repo / "untracked.txt").write_text("u\n")
    r = flower(repo, "merge", str(bid), env={"GIT_LITERAL_PATHSPECS": "1"})
    assert r.returncode == 0, r.stderr
    assert (repo / "code.txt").read_text().startswith("mine\n")
    assert (repo / "solo.yml").read_text() == "local\n" and (repo / "untracked.txt").exists()
    assert (repo / "n\u00e9w.txt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("what", ["edit", "create"])
def test_user_works_during_the_suite_nothing_is_overwritten(tmp_path: Path, what: str) -> None:
    """Scenario 15: the user edits an incoming file (or creates one) while the suite runs."""
    target = tmp_path / "repo" / ("code.txt" if what == "edit" else "agent.txt")
    suite = SUITE.replace(
        'sys.exit(1 if broken else 0)',
        f'open({str(target)!r}, "a").write("typed during the suite\\n")\n'
        'sys.exit(1 if broken else 0)')
    repo = setup_repo(tmp_path, suite=suite)
    _multi_line(repo)
    text = (repo / "code.txt").read_text()
    bid = finished(repo, "work", {"code.txt": text.replace("line 20\n", "agent\n"),
                                  "agent.txt": "agent\n"})
    main = rev(repo, "main")
    r = flower(repo, "merge", str(bid))
    assert r.returncode == 4, r.stderr
    assert "while brief" in r.stderr and target.name in r.stderr
    assert rev(repo, "main") == main
    assert target.read_text().endswith("typed during the suite\n")
    assert not git(repo, "for-each-ref", "refs/flower/recovery").stdout
    assert flower(repo, "recover").stdout.strip() == "nothing to recover"


@pytest.mark.slow
def test_merge_by_the_baton_holder_is_fenced_and_records_the_epoch(tmp_path: Path) -> None:
    import subprocess

    repo = setup_repo(tmp_path)
    a_bid = finished(repo, "first", {"a.txt": "a\n"})
    b_bid = finished(repo, "second", {"b.txt": "b\n"})
    sleepers = [subprocess.Popen(["sleep", "300"]) for _ in range(2)]
    try:
        ids = []
        for p in sleepers:
            r = flower(repo, "daemon", "checkin", "--role", "orchestrator", "--pid", str(p.pid),
                       "--json")
            assert r.returncode == 0, r.stderr
            ids.append(str(json.loads(r.stdout)["data"]["id"]))
        a, b = ids
        assert flower(repo, "baton", "take", env={"FLOWER_DAEMON": a}).returncode == 0
        r = flower(repo, "merge", str(a_bid), env={"FLOWER_DAEMON": a})
        assert r.returncode == 0, r.stderr
        note = notes_of(repo, "main")[0]
        epoch = json.loads(git(repo, "cat-file", "blob",
                               "refs/flower/baton/main:record.json").stdout)["epoch"]
        assert note["epoch"] == epoch and note["by"] == f"daemon {a}"
        # a successor takes over; the old holder's merge is refused before anything changes
        later = {"FLOWER_TESTING": "1", "FLOWER_CLOCK_OFFSET": "61"}
        assert flower(repo, "baton", "take", env={"FLOWER_DAEMON": b, **later}).returncode == 0
        before = snapshot_state(repo)
        r = flower(repo, "merge", str(b_bid), env={"FLOWER_DAEMON": a})
        assert r.returncode == 4 and "lost the baton" in r.stderr
        assert snapshot_state(repo) == before
    finally:
        for p in sleepers:
            p.kill()
            p.wait()


def test_branch_already_in_the_target_is_marked_merged(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path)
    bid = finished(repo, "landed by hand", {"a.txt": "a\n"})
    git(repo, "merge", "-q", "--ff-only", f"flower/{bid}-work")
    main = rev(repo, "main")
    r = flower(repo, "merge", str(bid), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["status"] == "up-to-date"
    assert rev(repo, "main") == main
    assert brief_status(repo, bid) == "merged"
    assert dispatch_state(repo, bid)["state"] == "merged"
