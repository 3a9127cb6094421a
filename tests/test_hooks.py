"""git hooks: install/uninstall/status, chaining, the trailer, progress, worktrees, skip switches,
strictness and sync on push (FAULTS 58-60, ANCHORS rows 9-14)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from conftest import flower, flower_json, git

HOOKS = ("commit-msg", "post-commit", "pre-push")


def hooks_dir(repo: Path) -> Path:
    return repo / ".git" / "hooks"


def message(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "log", "-1", "--format=%B", rev).stdout


def progress(repo: Path) -> list[dict[str, object]]:
    d = repo / ".git" / "flower" / "progress"
    out = []
    for f in sorted(d.glob("*.log")) if d.exists() else []:
        out += [json.loads(ln) for ln in f.read_text().splitlines()]
    return out


def test_trailer_on_brief_branches_only(repo: Path) -> None:
    data = flower_json(repo, "hooks", "install")
    assert [h["action"] for h in data["hooks"]] == ["installed"] * 3  # type: ignore[index]
    git(repo, "commit", "--allow-empty", "-qm", "on main")
    assert "Flower-Brief" not in message(repo)
    assert progress(repo) == []
    git(repo, "switch", "-qc", "flower/12-active-refs")
    git(repo, "commit", "--allow-empty", "-qm", "work\n\nbody")
    assert message(repo).rstrip().endswith("Flower-Brief: 12")
    git(repo, "commit", "--amend", "--allow-empty", "-qm", message(repo))
    assert message(repo).count("Flower-Brief") == 1
    recs = progress(repo)
    assert recs[-1]["brief"] == 12 and recs[-1]["commit"] == git(repo, "rev-parse", "HEAD").stdout.strip()
    git(repo, "switch", "-qc", "flower/briefs-notes")  # not a brief number
    git(repo, "commit", "--allow-empty", "-qm", "x")
    assert "Flower-Brief" not in message(repo)


def test_existing_hook_is_chained_and_restored_byte_for_byte(repo: Path) -> None:
    """FAULTS 59."""
    pc = hooks_dir(repo) / "post-commit"
    original = b"#!/bin/sh\n# the user's own hook \xe2\x9c\x93\nexec >>\"$(git rev-parse --git-dir)/ran\"\necho ran\n"
    pc.write_bytes(original)
    pc.chmod(0o750)
    data = flower_json(repo, "hooks", "install")
    assert data["hooks"][1]["chained"] is True  # type: ignore[index]
    assert (hooks_dir(repo) / "post-commit.flower-prev").read_bytes() == original
    git(repo, "commit", "--allow-empty", "-qm", "x")
    assert (repo / ".git" / "ran").read_text() == "ran\n"  # the user's hook still runs
    again = flower_json(repo, "hooks", "install")  # idempotent
    assert [h["action"] for h in again["hooks"]] == ["up to date"] * 3  # type: ignore[index]
    assert (hooks_dir(repo) / "post-commit.flower-prev").read_bytes() == original
    st = flower_json(repo, "hooks", "status")
    assert [h["state"] for h in st["hooks"]] == ["installed"] * 3  # type: ignore[index]
    assert st["hooks"][1]["bin_ok"] is True  # type: ignore[index]
    flower_json(repo, "hooks", "uninstall")
    assert pc.read_bytes() == original
    assert stat.S_IMODE(pc.stat().st_mode) == 0o750
    assert not (hooks_dir(repo) / "commit-msg").exists()
    assert not (hooks_dir(repo) / "post-commit.flower-prev").exists()


def test_foreign_hooks_are_never_overwritten_or_removed(repo: Path) -> None:
    cm = hooks_dir(repo) / "commit-msg"
    cm.write_text("#!/bin/sh\nexit 0\n")
    cm.chmod(0o755)
    (hooks_dir(repo) / "commit-msg.flower-prev").write_text("older\n")
    r = flower(repo, "hooks", "install")
    assert r.returncode == 4 and "already exists" in r.stderr
    assert cm.read_text() == "#!/bin/sh\nexit 0\n"
    data = flower_json(repo, "hooks", "uninstall")
    assert "left alone" in data["hooks"][0]["action"]  # type: ignore[index]
    assert cm.read_text() == "#!/bin/sh\nexit 0\n"


def test_core_hookspath_is_refused_unless_forced(repo: Path) -> None:
    git(repo, "config", "core.hooksPath", ".husky")
    r = flower(repo, "hooks", "install")
    assert r.returncode == 4 and "core.hooksPath" in r.stderr and "--force" in r.stderr
    assert not (hooks_dir(repo) / "commit-msg").exists()
    assert not (repo / ".husky").exists()
    data = flower_json(repo, "hooks", "install", "--force")
    assert data["dir"] == str(repo / ".husky")  # type: ignore[index]
    git(repo, "switch", "-qc", "flower/3-x")
    git(repo, "commit", "--allow-empty", "-qm", "x")
    assert "Flower-Brief: 3" in message(repo)
    assert git(repo, "config", "core.hooksPath").stdout.strip() == ".husky"  # never unset


def test_worktrees_share_the_hooks(repo: Path, tmp_path: Path) -> None:
    """FAULTS 58/60: a commit in an agent worktree (GIT_DIR / GIT_INDEX_FILE of that worktree)."""
    flower_json(repo, "hooks", "install")
    wt = tmp_path / "agent-wt"
    git(repo, "worktree", "add", "-q", "-b", "flower/7-agent", str(wt))
    (wt / "f.txt").write_text("agent work\n")
    git(wt, "add", "f.txt")
    git(wt, "commit", "-qm", "agent commit", env={"FLOWER_DISPATCH": "7.1"})
    assert "Flower-Brief: 7" in message(wt)
    log = repo / ".git" / "flower" / "progress" / "7.1.log"
    rec = json.loads(log.read_text().splitlines()[-1])
    assert rec["dispatch"] == "7.1" and rec["branch"] == "flower/7-agent"
    assert rec["commit"] == git(wt, "rev-parse", "HEAD").stdout.strip()
    assert git(repo, "status", "--porcelain").stdout == ""  # the main checkout is untouched


def test_skip_switches_and_recursion_guard(repo: Path) -> None:
    flower_json(repo, "hooks", "install")
    git(repo, "switch", "-qc", "flower/5-x")
    for env in ({"GIT_FLOWER_SKIP_HOOKS": "1"}, {"GIT_FLOWER": "0"}, {"GIT_FLOWER_HOOK_NESTED": "1"}):
        git(repo, "commit", "--allow-empty", "-qm", "skip", env=env)
        assert "Flower-Brief" not in message(repo)
    assert progress(repo) == []


def test_flower_failure_never_fails_the_commit_unless_strict(repo: Path) -> None:
    """FAULTS 60: a broken flower is a warning; `[hooks] strict = true` makes it fatal."""
    flower_json(repo, "hooks", "install")
    git(repo, "switch", "-qc", "flower/9-x")
    boom = {"GIT_FLOWER_HOOK_IMPL": "1", "FLOWER_TESTING": "1",
            "FLOWER_FAILPOINTS": "hook_commit_msg=error;hook_post_commit=error"}
    r = git(repo, "commit", "--allow-empty", "-qm", "still lands", env=boom)
    assert r.returncode == 0 and "warning: git flower commit-msg hook" in r.stderr
    assert message(repo).startswith("still lands")
    with open(repo / ".flower.toml", "a") as f:
        f.write("\n[hooks]\nstrict = true\n")
    head = git(repo, "rev-parse", "HEAD").stdout
    r = git(repo, "commit", "--allow-empty", "-qm", "refused", env=boom, check=False)
    assert r.returncode != 0 and "strict = true" in r.stderr
    assert git(repo, "rev-parse", "HEAD").stdout == head
    # the python path does the same work as the shell fast path
    git(repo, "commit", "--allow-empty", "-qm", "python path", env={"GIT_FLOWER_HOOK_IMPL": "1"})
    assert "Flower-Brief: 9" in message(repo)
    assert progress(repo)[-1]["commit"] == git(repo, "rev-parse", "HEAD").stdout.strip()


def test_missing_binary_is_a_warning(repo: Path, tmp_path: Path) -> None:
    flower_json(repo, "hooks", "install")
    git(repo, "config", "flower.syncOnPush", "true")
    bare = tmp_path / "r.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    env = {"GIT_FLOWER_BIN": "/nonexistent/git-flower", "PATH": "/usr/bin:/bin"}
    r = git(repo, "push", "-q", "origin", "main", env=env)
    assert r.returncode == 0 and "git-flower not found" in r.stderr


def test_pre_push_carries_flower_state_when_configured(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "r.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    flower_json(repo, "remote", "origin")
    flower(repo, "brief", "new", "travels on push")
    flower_json(repo, "hooks", "install")
    git(repo, "push", "-q", "origin", "main")
    assert git(bare, "rev-parse", "-q", "--verify", "refs/heads/flower/briefs", check=False).returncode != 0
    git(repo, "config", "flower.syncOnPush", "true")
    r = git(repo, "push", "-q", "origin", "main")
    assert "synced with origin" in r.stderr
    assert git(bare, "rev-parse", "refs/heads/flower/briefs").stdout == \
        git(repo, "rev-parse", "refs/heads/flower/briefs").stdout


def test_stub_records_the_installed_binary(repo: Path) -> None:
    flower_json(repo, "hooks", "install")
    text = (hooks_dir(repo) / "commit-msg").read_text()
    assert text.startswith("#!/bin/sh\n# git-flower-hook v2")
    line = next(ln for ln in text.splitlines() if ln.startswith("flower_bin="))
    path = line.split("'")[1]
    assert os.path.isabs(path) and os.access(path, os.X_OK)
    for h in HOOKS:
        assert os.access(hooks_dir(repo) / h, os.X_OK)


def test_pre_commit_manifest_is_valid() -> None:
    import tomllib  # noqa: F401  (stdlib only here; the manifest is checked structurally)

    root = Path(__file__).resolve().parent.parent
    text = (root / ".pre-commit-hooks.yaml").read_text()
    ids = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("- id:")]
    assert ids == ["flower-brief-trailer", "flower-progress", "flower-sync-on-push"]
    for event in HOOKS:
        assert f"entry: git-flower hook-impl {event}" in text
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return
    doc = yaml.safe_load(text)
    assert [h["stages"] for h in doc] == [["commit-msg"], ["post-commit"], ["pre-push"]]


def test_status_reports_outdated_and_foreign_stubs(repo: Path) -> None:
    flower_json(repo, "hooks", "install")
    cm = hooks_dir(repo) / "commit-msg"
    cm.write_text(cm.read_text() + "# an older version\n")
    (hooks_dir(repo) / "pre-push").write_text("#!/bin/sh\nexit 0\n")
    st = flower_json(repo, "hooks", "status")
    assert [h["state"] for h in st["hooks"]] == ["outdated", "installed", "foreign"]  # type: ignore[index]
    data = flower_json(repo, "hooks", "install")
    assert [h["action"] for h in data["hooks"]] == [  # type: ignore[index]
        "updated", "up to date", "installed; chained the existing hook"]
    r = flower(repo, "hooks", "status")
    assert r.returncode == 0 and "commit-msg: installed" in r.stdout


def _installed_v1_stubs(repo: Path) -> None:
    """The stubs the previous git flower installed (one file per event, grammar spelled in shell)."""
    from flowergit.ops.setup.hooks import flower_bin

    old = Path(__file__).parent / "fixtures" / "hooks-v1"
    for h in HOOKS:
        p = hooks_dir(repo) / h
        p.write_bytes((old / h).read_bytes().replace(b"@FLOWER_BIN@", flower_bin().encode()))
        p.chmod(0o755)


def test_stubs_of_the_previous_version_are_ours_and_upgraded(repo: Path) -> None:
    _installed_v1_stubs(repo)
    st = flower_json(repo, "hooks", "status")
    assert [h["state"] for h in st["hooks"]] == ["outdated"] * 3  # type: ignore[index]
    assert all(h["bin"] for h in st["hooks"])  # type: ignore[index]
    git(repo, "switch", "-qc", "flower/12-old-stubs")
    git(repo, "commit", "--allow-empty", "-qm", "under v1")
    old_msg, old_rec = message(repo), progress(repo)[-1]
    data = flower_json(repo, "hooks", "install")
    assert [h["action"] for h in data["hooks"]] == ["updated"] * 3  # type: ignore[index]
    assert not any((hooks_dir(repo) / (h + ".flower-prev")).exists() for h in HOOKS)
    st = flower_json(repo, "hooks", "status")
    assert [h["state"] for h in st["hooks"]] == ["installed"] * 3  # type: ignore[index]
    git(repo, "commit", "--allow-empty", "-qm", "under v2")
    new_rec = progress(repo)[-1]
    assert message(repo).replace("v2", "v1") == old_msg  # the same trailer
    assert {k for k in new_rec} == {k for k in old_rec}
    assert {k: v for k, v in new_rec.items() if k not in ("at", "commit", "pid")} == \
        {k: v for k, v in old_rec.items() if k not in ("at", "commit", "pid")}


def test_the_stubs_share_one_template() -> None:
    from flowergit.ops.setup import hooks

    texts = {h: hooks.stub(h, "/x/git-flower") for h in HOOKS}
    for h, text in texts.items():
        assert f"\nhook={h}\n".encode() in text and b"@" not in text.replace(b"$@", b"")
        assert text.replace(f"hook={h}\n".encode(), b"") == \
            texts["commit-msg"].replace(b"hook=commit-msg\n", b"")


def test_the_stub_checks_ids_with_the_grammars_of_state_ids(tmp_path: Path) -> None:
    """The shell fast path decides brief and dispatch ids as flowergit/state/ids.py does."""
    import random
    import subprocess

    from flowergit.errors import UsageError
    from flowergit.ops.setup import hooks
    from flowergit.state.ids import dispatch_id

    text = hooks.stub("post-commit", "").decode()
    fits = text[text.index("fits() {"):text.index("\n}\n") + 3]
    start = text.index("    brief=\n")
    block = text[start:text.index('    if [ -z "$brief" ]', start)]
    script = (fits + 'while IFS= read -r branch && IFS= read -r FLOWER_DISPATCH; do\n' + block
              + '  printf "%s|%s\\n" "$brief" "$dispatch"\ndone\n')
    rnd = random.Random(15)
    alphabet = "0123456789.-/abflower \u0661*?[]!"
    cases = ["flower/12", "flower/12-x", "flower/0", "flower/012", "flower/123456789",
             "flower/1234567890", "flower/١٢", "flower/", "flower/-1", "main", "flower/7-x-y",
             "xflower/1", "flower/1*", "flower/[1]"]
    disp = ["1.1", "1.0", "0.1", "12.1234", "12.12345", "123456789.1", "1234567890.1", "1.1.1",
            "1", ".1", "1.", "1.x", "١.1", "1.1 ", "1.*"]
    for _ in range(400):
        cases.append("flower/" + "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12))))
        disp.append("".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12))))
    pairs = list(zip(cases, disp * (len(cases) // len(disp) + 1), strict=False))
    stdin = "".join(f"{b}\n{d}\n" for b, d in pairs)
    r = subprocess.run(["sh", "-c", script], input=stdin, capture_output=True, text=True,
                       check=True)
    got = r.stdout.splitlines()
    assert len(got) == len(pairs), r.stderr
    for (branch, d), line in zip(pairs, got, strict=True):
        n = hooks.brief_of(branch)
        try:
            dispatch_id(d)
            want_d = d
        except UsageError:
            want_d = ""
        assert line == f"{'' if n is None else n}|{want_d}", (branch, d)
