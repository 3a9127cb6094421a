"""Briefs on flower/briefs: round trips, concurrency, hand edits, bad input, locations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import flower, flower_json, git, make_repo, write_exe

HOSTILE = [
    "$(touch PWNED)", "`touch PWNED`", "a; rm -rf ~", "--dangerously-skip-permissions", "{title}",
    "${IFS}", "line one\nline two", "rtl \u202e mark", "Ünïcode ✓", "'\"\\", "{0.__class__}", "%s",
]


def briefs_ref(repo: Path) -> str:
    return git(repo, "rev-parse", "refs/heads/flower/briefs").stdout.strip()


def test_init_creates_branch_config_and_is_idempotent(tmp_path: Path) -> None:
    r = make_repo(tmp_path / "r", init_flower=False)
    out = flower(r, "init")
    assert out.returncode == 0, out.stderr
    assert "created branch flower/briefs" in out.stdout
    assert (r / ".flower.toml").read_text().startswith("# git flower team policy")
    assert git(r, "config", "notes.rewriteRef").stdout.strip() == "refs/notes/flower"
    tip = briefs_ref(r)
    assert git(r, "show", "flower/briefs:README.md").stdout.startswith("# flower/briefs")
    again = flower(r, "init", "--json")
    assert again.returncode == 0
    assert json.loads(again.stdout)["data"]["actions"] == []
    assert briefs_ref(r) == tip
    # init never touched the user's checkout beyond writing the new config file
    assert git(r, "status", "--porcelain").stdout == "?? .flower.toml\n"


def test_new_list_show_round_trip(repo: Path) -> None:
    made = flower_json(repo, "brief", "new", "Active refs rail", "-m", "Spec *here*.",
                       "--kind", "bug", "--auto", "--agent", "codex", "--depends", "7")
    assert made["id"] == 1 and made["kind"] == "bug" and made["auto_dispatch"] is True
    assert made["depends_on"] == [7] and made["agent"] == "codex" and made["status"] == "draft"
    assert made["created"].endswith("Z")
    listed = flower_json(repo, "brief", "list")
    assert listed == [made]
    shown = flower_json(repo, "brief", "show", "1")
    assert shown["body"] == "Spec *here*.\n"
    assert {k: v for k, v in shown.items() if k != "body"} == made
    text = git(repo, "show", "flower/briefs:briefs/0000/1.md").stdout
    assert text.startswith("+++\nv = 1\nid = 1\ntitle = \"Active refs rail\"\n")
    assert "created = 20" in text and "Z\n" in text
    # brief show accepts "#1" too, and human output names the brief
    out = flower(repo, "brief", "show", "#1")
    assert out.returncode == 0 and out.stdout.startswith("brief 1: Active refs rail\n")


@pytest.mark.slow
@pytest.mark.parametrize("title", HOSTILE)
def test_hostile_titles_round_trip_as_data(repo: Path, title: str) -> None:
    r = flower(repo, "brief", "new", "--json", "--", title)  # `--`: a title may look like an option
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)["data"]
    assert flower_json(repo, "brief", "show", str(made["id"]))["title"] == title
    assert not list(repo.rglob("PWNED")) and not (Path.home() / "PWNED").exists()
    human = flower(repo, "brief", "list").stdout
    assert "\u202e" not in human and "\x1b" not in human  # escaped for the terminal


def test_body_from_file_stdin_and_caps(repo: Path, tmp_path: Path) -> None:
    body = tmp_path / "body.md"
    body.write_bytes("# Spec\n\nÜnïcode body\n".encode())
    a = flower_json(repo, "brief", "new", "from file", "--body-file", str(body))
    assert flower_json(repo, "brief", "show", str(a["id"]))["body"] == "# Spec\n\nÜnïcode body\n"
    b = flower_json(repo, "brief", "new", "from stdin", "--body-file", "-", input="piped\n")
    assert flower_json(repo, "brief", "show", str(b["id"]))["body"] == "piped\n"
    before = briefs_ref(repo)
    body.write_bytes(b"caf\xe9 latin-1\n")
    bad = flower(repo, "brief", "new", "latin1", "--body-file", str(body))
    assert bad.returncode == 2 and "not valid UTF-8" in bad.stderr
    (repo / ".flower.toml").write_text('[flower]\nmax_brief_bytes = 100\n')
    body.write_bytes(b"x" * 101)
    big = flower(repo, "brief", "new", "too big", "--body-file", str(body))
    assert big.returncode == 2 and "over the cap of 100 bytes" in big.stderr
    assert briefs_ref(repo) == before


def test_two_mib_body_is_kept_whole(repo: Path, tmp_path: Path) -> None:
    body = tmp_path / "big.md"
    body.write_bytes(b"B" * (2 * 1024 * 1024))
    made = flower_json(repo, "brief", "new", "big", "--body-file", str(body))
    assert flower_json(repo, "brief", "show", str(made["id"]))["body"].rstrip("\n") == "B" * (2 * 1024 * 1024)


BAD_IDS = ["../../etc", "..", "12/../13", "-rf", "0", "012", "1e3", "١٢", "12\n", "12 ", "",
           "99999999999999999999", "12;id", "1 2", "\x00", "1_2", "+1"]


@pytest.mark.slow
@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_ids_exit_2_without_running_git(repo: Path, tmp_path: Path, bad: str) -> None:
    if "\x00" in bad:
        pytest.skip("a NUL cannot be passed in argv at all")
    log = tmp_path / "git-calls.log"
    shim = tmp_path / "shim"
    real_git = subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip()
    write_exe(shim / "git", f"#!/bin/sh\necho \"$@\" >> {log}\nexec {real_git} \"$@\"\n")
    before = briefs_ref(repo)
    import os

    env = {"PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"}
    for cmd in (("brief", "show", bad), ("brief", "set", bad, "status=planned"), ("brief", "log", bad)):
        r = flower(repo, *cmd, env=env)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert r.stderr.startswith("fatal: ")
        assert "Traceback" not in r.stderr
    assert not log.exists() or log.read_text() == "", "git ran for an invalid id"
    assert briefs_ref(repo) == before


def test_missing_brief_is_exit_3_with_envelope(repo: Path) -> None:
    r = flower(repo, "brief", "show", "424242", "--json")
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    assert doc == {"version": 1, "ok": False, "error": {
        "code": "not_found", "message": "no brief 424242",
        "hint": "`git flower brief list` shows the briefs there are"}}
    assert r.stderr == "fatal: no brief 424242\nhint: `git flower brief list` shows the briefs there are\n"


def test_eight_concurrent_creators_get_eight_ids_linear_history(repo: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "flowergit", "brief", "new", f"Brief {i}", "--json"],
                              cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(8)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    ids = sorted(json.loads(o[0])["data"]["id"] for o in outs)
    assert ids == list(range(1, 9))
    titles = {b["title"] for b in flower_json(repo, "brief", "list")}
    assert titles == {f"Brief {i}" for i in range(8)}
    merges = git(repo, "rev-list", "--merges", "flower/briefs").stdout
    assert merges == ""
    assert git(repo, "rev-list", "--count", "flower/briefs").stdout.strip() == "9"
    assert not list((repo / ".git").rglob("*.lock"))


def test_hand_edit_on_another_clone_is_read_and_preserved(repo: Path, tmp_path: Path) -> None:
    flower_json(repo, "brief", "new", "Editable", "-m", "Original body.")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "--branch", "flower/briefs", str(repo), str(other))
    f = other / "briefs" / "0000" / "1.md"
    text = f.read_text()
    text = text.replace('title = "Editable"', '# a comment a person wrote\ntitle = "Edited by hand"  # trailing\nowner = "sam"')
    f.write_text(text + "More spec from the forge editor.\n")
    git(other, "commit", "-qam", "hand edit")
    git(other, "push", "-q", "origin", "flower/briefs")
    shown = flower_json(repo, "brief", "show", "1")
    assert shown["title"] == "Edited by hand" and shown["owner"] == "sam"
    assert shown["body"].endswith("More spec from the forge editor.\n")
    flower_json(repo, "brief", "set", "1", "status=planned", "priority=2")
    after = git(repo, "show", "flower/briefs:briefs/0000/1.md").stdout
    assert "# a comment a person wrote\n" in after and "# trailing" in after
    assert 'owner = "sam"' in after and "priority = 2" in after and 'status = "planned"' in after
    assert after.endswith("More spec from the forge editor.\n")
    listed = flower_json(repo, "brief", "list")
    assert listed[0]["status"] == "planned" and listed[0]["owner"] == "sam"


@pytest.mark.slow
def test_set_plan_log_and_filters(repo: Path) -> None:
    flower_json(repo, "brief", "new", "one")
    flower_json(repo, "brief", "new", "two", "--kind", "idea")
    planned = flower_json(repo, "brief", "plan", "1")
    assert planned["status"] == "planned"
    assert [b["id"] for b in flower_json(repo, "brief", "list", "--status", "planned")] == [1]
    assert [b["id"] for b in flower_json(repo, "brief", "list", "--kind", "idea")] == [2]
    log = flower_json(repo, "brief", "log", "1")
    assert [e["subject"] for e in log] == ["brief 1: planned (planned)", "brief 1: new brief: one"]
    for bad in (["status=shipped"], ["kind=epic"], ["id=5"], ["nokey"], ["auto_dispatch=maybe"],
                ["agent=Bad Name"], ["depends_on=x"]):
        r = flower(repo, "brief", "set", "1", *bad)
        assert r.returncode == 2, (bad, r.stderr)
    assert flower(repo, "brief", "list", "--status", "nope").returncode == 2


def test_edit_validates_before_writing(repo: Path, tmp_path: Path) -> None:
    flower_json(repo, "brief", "new", "to edit", "-m", "old")
    good = write_exe(tmp_path / "ed-good", "#!/bin/sh\nsed -i 's/^old$/new body/' \"$1\"\n")
    r = flower(repo, "brief", "edit", "1", "--json", env={"GIT_EDITOR": str(good)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["body"] == "new body\n"
    before = briefs_ref(repo)
    broken = write_exe(tmp_path / "ed-bad", "#!/bin/sh\nsed -i 's/^title = .*/title = [unclosed/' \"$1\"\n")
    r = flower(repo, "brief", "edit", "1", env={"GIT_EDITOR": str(broken)})
    assert r.returncode == 2 and "fatal:" in r.stderr
    kept = repo / ".git" / "flower" / "edits" / "1.md"  # the edit is kept, reopened next time
    assert b"title = [unclosed" in kept.read_bytes() and str(kept) in r.stderr
    kept.unlink()
    renumber = write_exe(tmp_path / "ed-id", "#!/bin/sh\nsed -i 's/^id = 1$/id = 9/' \"$1\"\n")
    r = flower(repo, "brief", "edit", "1", env={"GIT_EDITOR": str(renumber)})
    assert r.returncode == 2 and "ids cannot change" in r.stderr
    assert briefs_ref(repo) == before


def test_import_json_lines_in_one_commit(repo: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"title": f"t{i}", "body": "b\n", "kind": "bug",
                                         "status": "planned"}) for i in range(250)) + "\n")
    before = int(git(repo, "rev-list", "--count", "flower/briefs").stdout)
    made = flower_json(repo, "brief", "import", str(src))
    assert [m["id"] for m in made] == list(range(1, 251))
    assert int(git(repo, "rev-list", "--count", "flower/briefs").stdout) == before + 1
    listed = flower_json(repo, "brief", "list")
    assert len(listed) == 250 and {b["kind"] for b in listed} == {"bug"}
    assert git(repo, "ls-tree", "--name-only", "flower/briefs:briefs").stdout.split() == ["0000", "0100", "0200"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "ok"}\n{"title": "x", "colour": "red"}\n')
    r = flower(repo, "brief", "import", str(bad))
    assert r.returncode == 2 and "bad.jsonl:2: unknown field(s) colour" in r.stderr
    assert len(flower_json(repo, "brief", "list")) == 250


@pytest.mark.slow  # an import of 150 and one of 301 briefs, and the reads after
def test_import_fills_a_started_shard_and_a_bad_line_writes_nothing(repo: Path) -> None:
    """An import is written one brief at a time (FAULTS: bad input writes nothing): it
    continues a shard that already holds briefs, its `--json` is every brief as written, the
    commands it carries are trusted here, and a bad line near the end leaves no ref and no
    object behind."""
    from flowergit.gitio.repo import discover
    from flowergit.state import brieftrust

    for i in range(3):
        flower_json(repo, "brief", "new", f"before {i}")
    lines = [json.dumps({"title": f"t{i}", "body": f"spec {i}\n"}) for i in range(150)]
    lines[7] = json.dumps({"title": "with a step", "run": [["make", "check"]], "status": "planned"})
    made = flower_json(repo, "brief", "import", "-", input="\n\n".join(lines) + "\n")
    assert [m["id"] for m in made] == list(range(4, 154))
    assert len({m["created"] for m in made}) == 1 and made[7]["run"] == [["make", "check"]]
    shard = git(repo, "ls-tree", "--name-only", "flower/briefs:briefs/0000").stdout.split()
    assert sorted(shard, key=lambda n: int(n[:-3])) == [f"{i}.md" for i in range(1, 100)]
    assert flower_json(repo, "brief", "show", "2")["title"] == "before 1"
    assert flower_json(repo, "brief", "show", "153")["body"] == "spec 149\n"
    assert git(repo, "fsck", "--strict", "--no-dangling").returncode == 0
    listed = {b["id"]: b for b in flower_json(repo, "brief", "list")}
    assert [listed[m["id"]]["title"] for m in made] == [m["title"] for m in made]
    assert brieftrust.is_trusted(discover(str(repo)).common_dir, made[7])

    before = briefs_ref(repo)
    packs = sorted((repo / ".git" / "objects" / "pack").iterdir())
    loose = git(repo, "count-objects").stdout
    bad = [json.dumps({"title": f"u{i}"}) for i in range(300)] + ['{"title": ""}']
    r = flower(repo, "brief", "import", "-", input="\n".join(bad))
    assert r.returncode == 2 and "<stdin>:301: a brief needs a non-empty title" in r.stderr
    assert briefs_ref(repo) == before
    assert sorted((repo / ".git" / "objects" / "pack").iterdir()) == packs
    assert git(repo, "count-objects").stdout == loose


def test_list_cache_follows_every_change(repo: Path) -> None:
    for i in range(3):
        flower_json(repo, "brief", "new", f"b{i}")
    assert len(flower_json(repo, "brief", "list")) == 3
    # a commit made with plain git (not through git flower) deletes brief 2 and edits brief 3
    wt = repo.parent / "inspect"
    git(repo, "worktree", "add", "-q", "--detach", str(wt), "flower/briefs")
    git(wt, "rm", "-q", "briefs/0000/2.md")
    p = wt / "briefs" / "0000" / "3.md"
    p.write_text(p.read_text().replace('title = "b2"', 'title = "renamed"'))
    git(wt, "commit", "-qam", "by hand")
    git(repo, "update-ref", "refs/heads/flower/briefs", git(wt, "rev-parse", "HEAD").stdout.strip())
    assert [(b["id"], b["title"]) for b in flower_json(repo, "brief", "list")] == [(1, "b0"), (3, "renamed")]


@pytest.mark.slow
def test_list_cache_spliced_after_changes_equals_a_full_rebuild(repo: Path) -> None:
    """The cache is brought up to date by re-splicing only the changed records; after any mix
    of new, changed, deleted, unreadable and non-ASCII briefs the list and the status counts
    are exactly what a rebuild from scratch gives."""
    import random

    from flowergit.gitio.repo import discover
    from flowergit.state.briefs import BriefStore

    rng = random.Random(7)
    cache = repo / ".git" / "flower" / "cache" / "briefs.json"
    lines = "".join(json.dumps({"title": f"brief {i} \u00e9\u2028\"q\"", "body": "x\n"}) + "\n"
                    for i in range(40))
    assert flower(repo, "brief", "import", "-", input=lines).returncode == 0
    flower_json(repo, "brief", "list")
    alive = list(range(1, 41))
    broken: list[int] = []
    ops = ["new", "set", "delete", "break"] * 3
    rng.shuffle(ops)
    for step, op in enumerate(ops):
        if op == "new":
            alive.append(int(flower_json(repo, "brief", "new", f"new {step} \u00fc")["id"]))  # type: ignore[index]
        elif op == "set":
            for b in rng.sample(alive, 3):
                status = rng.choice(["planned", "blocked", "draft"])
                flower_json(repo, "brief", "set", str(b), f"status={status}", f"title=t{step}-{b}")
        else:
            b = rng.choice(alive)
            alive.remove(b)
            if op == "break":
                broken.append(b)  # listed, flagged as broken
            store = BriefStore(discover(str(repo)))
            data = None if op == "delete" else b"+++\nid = [\n+++\n"
            store.put_file(f"briefs/{b // 100 * 100:04d}/{b}.md", data, f"{op} {b}")
        spliced = flower(repo, "brief", "list", "--json")
        counted = flower_json(repo, "status")["briefs"]  # type: ignore[index]
        cache.unlink()
        rebuilt = flower(repo, "brief", "list", "--json")
        assert spliced.stdout == rebuilt.stdout, (step, op)
        assert counted == flower_json(repo, "status")["briefs"], (step, op)  # type: ignore[index]
        rows = json.loads(rebuilt.stdout)["data"]
        assert [b["id"] for b in rows] == sorted(alive + broken), (step, op)
        assert sorted(b["id"] for b in rows if b["status"] == "broken") == sorted(broken)


def test_writes_refuse_while_briefs_branch_is_checked_out(repo: Path) -> None:
    flower_json(repo, "brief", "new", "x")
    wt = repo.parent / "briefs-wt"
    git(repo, "worktree", "add", "-q", str(wt), "flower/briefs")
    before = briefs_ref(repo)
    r = flower(repo, "brief", "new", "y")
    assert r.returncode == 4
    assert f"flower/briefs is checked out in the worktree {wt}" in r.stderr
    assert "hint:" in r.stderr
    assert briefs_ref(repo) == before
    assert flower(repo, "brief", "list").returncode == 0  # reads still work


def test_same_from_subdirectory_linked_worktree_and_hook_env(repo: Path) -> None:
    flower_json(repo, "brief", "new", "shared")
    sub = repo / "deep" / "er"
    sub.mkdir(parents=True)
    wt = repo.parent / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(wt))
    for where in (repo, sub, wt):
        assert [b["title"] for b in flower_json(where, "brief", "list")] == ["shared"]
    made = flower_json(wt, "brief", "new", "from the linked worktree")
    assert made["id"] == 2
    # state lives in the common dir, never in the worktree's own git dir
    assert (repo / ".git" / "flower" / "cache" / "briefs.json").exists()
    # a hook-like environment (GIT_INDEX_FILE of another worktree) does not derail child gits
    env = {"GIT_INDEX_FILE": str(wt / "nonexistent-index"), "GIT_LITERAL_PATHSPECS": "1"}
    assert flower(repo, "brief", "show", "2", env=env).returncode == 0


def test_sha256_repository(tmp_path: Path) -> None:
    r = make_repo(tmp_path / "s", object_format="sha256")
    made = flower_json(r, "brief", "new", "in sha256")
    assert flower_json(r, "brief", "show", str(made["id"]))["title"] == "in sha256"
    assert len(git(r, "rev-parse", "flower/briefs").stdout.strip()) == 64
    assert git(r, "fsck", "--strict", "--no-dangling").returncode == 0


def test_bare_repository_reads_and_writes_state(tmp_path: Path, repo: Path) -> None:
    flower_json(repo, "brief", "new", "before clone")
    bare = tmp_path / "b.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    assert [b["title"] for b in flower_json(bare, "brief", "list")] == ["before clone"]
    assert flower_json(bare, "brief", "new", "in bare")["id"] == 2


def test_no_repository_and_no_briefs_branch(tmp_path: Path) -> None:
    r = flower(tmp_path, "brief", "list")
    assert r.returncode == 2 and r.stderr.startswith("fatal: not a git repository")
    plain = make_repo(tmp_path / "plain", init_flower=False)
    r = flower(plain, "brief", "list")
    assert r.returncode == 3 and "run `git flower init` first" in r.stderr


def test_corrupt_brief_file_is_reported_not_fatal_for_list(repo: Path) -> None:
    flower_json(repo, "brief", "new", "good")
    flower_json(repo, "brief", "new", "to break")
    wt = repo.parent / "inspect"
    git(repo, "worktree", "add", "-q", "--detach", str(wt), "flower/briefs")
    (wt / "briefs" / "0000" / "2.md").write_text("+++\nid = [\n+++\n")
    git(wt, "commit", "-qam", "break")
    git(repo, "update-ref", "refs/heads/flower/briefs", git(wt, "rev-parse", "HEAD").stdout.strip())
    r = flower(repo, "brief", "list", "--json")
    rows = json.loads(r.stdout)["data"]
    assert r.returncode == 0 and [(b["id"], b["status"]) for b in rows] == [(1, "draft"), (2, "broken")]
    assert rows[1]["file"] == "flower/briefs:briefs/0000/2.md" and "line 3" in rows[1]["error"]
    assert "brief edit 2" in rows[1]["hint"]
    human = flower(repo, "brief", "list")
    assert "broken" in human.stdout and "brief edit 2" in human.stderr
    shown = flower(repo, "brief", "show", "2")
    assert shown.returncode == 2 and "briefs/0000/2.md" in shown.stderr


def test_repository_git_cannot_read_is_unsupported(tmp_path: Path) -> None:
    r = make_repo(tmp_path / "r", init_flower=False)
    git(r, "config", "core.repositoryformatversion", "1")
    git(r, "config", "extensions.refStorage", "reftable")
    out = flower(r, "brief", "list")
    assert out.returncode == 6 and "cannot read the repository" in out.stderr and "hint:" in out.stderr


def test_init_in_a_repository_with_no_commits(tmp_path: Path) -> None:
    r = tmp_path / "empty"
    git(tmp_path, "init", "-q", "-b", "trunk", str(r))
    out = flower(r, "init")
    assert out.returncode == 0, out.stderr
    assert 'target = "trunk"' in (r / ".flower.toml").read_text()
    assert flower_json(r, "brief", "new", "first")["id"] == 1
    assert git(r, "rev-parse", "-q", "--verify", "HEAD", check=False).returncode != 0


def test_list_porcelain_and_format(repo: Path) -> None:
    flower_json(repo, "brief", "new", "tab\there", "--kind", "bug")
    flower_json(repo, "brief", "new", "second")
    por = flower(repo, "brief", "list", "--porcelain")
    assert por.returncode == 0
    assert por.stdout.splitlines()[1].split("\t")[:3] == ["2", "draft", "brief"]
    assert "\x1b" not in por.stdout and len(por.stdout.splitlines()) == 2
    fmt = flower(repo, "brief", "list", "--format", "%(id)%09%(kind)")
    assert fmt.stdout == "1\tbug\n2\tbrief\n"
    both = flower(repo, "brief", "list", "--json", "--porcelain")
    assert both.returncode == 2


def test_init_agents_md_never_overwrites(tmp_path: Path) -> None:
    r = make_repo(tmp_path / "r", init_flower=False)
    (r / "AGENTS.md").write_text("# Our rules\n\nBe kind.\n")
    out = flower(r, "init")
    assert "git flower init --agents-md" in out.stderr
    assert (r / "AGENTS.md").read_text() == "# Our rules\n\nBe kind.\n"
    assert flower(r, "init", "--agents-md").returncode == 0
    text = (r / "AGENTS.md").read_text()
    assert text.startswith("# Our rules\n\nBe kind.\n") and "git flower" in text
    assert flower(r, "init", "--agents-md").returncode == 0
    assert (r / "AGENTS.md").read_text() == text


def test_latin1_title_bytes_are_refused_cleanly(repo: Path) -> None:
    import os

    before = briefs_ref(repo)
    r = subprocess.run([sys.executable.encode(), b"-m", b"flowergit", b"brief", b"new", b"caf\xe9"],
                       cwd=repo, capture_output=True, env=os.environ)
    assert r.returncode == 2 and b"not valid UTF-8" in r.stderr and b"Traceback" not in r.stderr
    assert briefs_ref(repo) == before


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="needs root to chown the repository")
def test_dubious_ownership_is_explained_not_overridden(repo: Path) -> None:
    import os

    os.chown(repo, 65534, 65534)
    os.chown(repo / ".git", 65534, 65534)
    try:
        r = flower(repo, "brief", "list")
        assert r.returncode == 6 and "dubious ownership" in r.stderr and "safe.directory" in r.stderr
        assert git(repo, "config", "--global", "--get-all", "safe.directory", check=False).stdout == ""
    finally:
        os.chown(repo, 0, 0)
        os.chown(repo / ".git", 0, 0)


def test_write_failure_changes_nothing(repo: Path, tmp_path: Path) -> None:
    """A failing object write (here: a file-size limit) fails before any ref moves (FAULTS 65)."""
    import resource

    flower_json(repo, "brief", "new", "before")
    before = briefs_ref(repo)
    body = tmp_path / "body.md"
    import base64
    import os

    body.write_bytes(base64.b64encode(os.urandom(200_000)))  # does not compress below the limit

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    r = subprocess.run([sys.executable, "-m", "flowergit", "brief", "new", "too big to write",
                        "--body-file", str(body)], cwd=repo, capture_output=True, text=True,
                       preexec_fn=limit)
    assert r.returncode == 75 and "Traceback" not in r.stderr
    assert r.stderr.startswith("fatal: git flower brief new: a file size limit was reached")
    assert "(git unpack-objects)" in r.stderr and "\nhint: raise the file size limit" in r.stderr
    assert briefs_ref(repo) == before
    assert [b["title"] for b in flower_json(repo, "brief", "list")] == ["before"]
