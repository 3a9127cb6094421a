"""Pure units and properties: id grammar, brief codec, escaping, trees, refs (no CLI)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import git
from hypothesis import given, settings
from hypothesis import strategies as st

from flowergit.errors import UsageError
from flowergit.gitio import objects, refs, runner, writes
from flowergit.gitio.repo import discover
from flowergit.render.text import escape
from flowergit.state import brief as codec
from flowergit.state.ids import brief_id

GRAMMAR = re.compile(r"#?[1-9][0-9]{0,8}", re.ASCII)


@given(st.text(max_size=14))
def test_brief_id_accepts_exactly_the_grammar(s: str) -> None:
    if GRAMMAR.fullmatch(s):
        assert brief_id(s) == int(s.lstrip("#"))
    else:
        with pytest.raises(UsageError):
            brief_id(s)


@given(st.text(min_size=1, max_size=200).filter(lambda t: t.strip() and "\0" not in t),
       st.text(max_size=2000), st.sampled_from(codec.KINDS), st.booleans(),
       st.lists(st.integers(1, 10**9 - 1), max_size=4))
@settings(max_examples=150, deadline=None)
def test_brief_codec_round_trips(title: str, body: str, kind: str, auto: bool, deps: list[int]) -> None:
    title = title.encode("utf-8", "replace").decode("utf-8", "replace")
    body = body.encode("utf-8", "replace").decode("utf-8", "replace").replace("\r", "")
    b = codec.Brief(id=246, title=title, kind=kind, auto_dispatch=auto, depends_on=deps, body=body,
                    created="2026-11-20T09:14:03Z")
    back = codec.parse(codec.render_new(b))
    assert back.meta() == b.meta()
    want = body if not body or body.endswith("\n") else body + "\n"
    assert back.body == want
    # a rewrite keeps everything it was not asked to change
    again = codec.parse(codec.rewrite(codec.render_new(b), {"status": "planned"}))
    assert again.meta() == {**b.meta(), "status": "planned"} and again.body == want


def test_rewrite_keeps_comments_and_unknown_keys() -> None:
    raw = b'+++\n# note\nid = 3\ntitle = "t"  # why\nzeta = [1, 2]\n+++\nbody\n'
    out = codec.rewrite(raw, {"status": "done", "zeta": codec.DELETE})
    assert out == b'+++\n# note\nid = 3\ntitle = "t"  # why\nstatus = "done"\n+++\nbody\n'


@pytest.mark.parametrize("changes", [{"status": "done"}, {"title": "new \"t\"", "agent": "x"},
                                     {"conflicts": {"title": {"ours": "a", "theirs": "b"}}},
                                     {"depends_on": codec.DELETE, "zeta": [1, 2]}])
def test_a_plain_front_matter_is_edited_as_data_with_the_meaning_tomlkit_gives(changes) -> None:
    """A front matter in the form git flower writes is edited without tomlkit; the result
    means exactly what tomlkit's edit of the same text means."""
    import subprocess
    import sys
    import tomllib

    from flowergit.state import tomlcodec

    b = codec.Brief(id=7, title="t", kind="brief", auto_dispatch=True, depends_on=[3],
                    body="b\n", created="2026-11-20T09:14:03Z")
    front = codec.render_new(b).split(b"+++\n")[1].decode()
    fast = tomlcodec.edit(front, changes)
    slow = tomlcodec.edit(front + "# a comment makes it hand-written\n", changes)
    assert tomllib.loads(fast) == tomllib.loads(slow)
    code = ("import sys; from flowergit.state import tomlcodec as t; "
            f"t.edit({front!r}, {{'status': 'done'}}); print('tomlkit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("raw", [b"no fence", b"+++\nid = 1\n", b"+++\nid = 0\n+++\n",
                                 b"+++\nid = true\n+++\n", b"+++\nid = 1\nrun = [\"x\"]\n+++\n",
                                 b"+++\nid = 1\ndepends_on = [\"a\"]\n+++\n"])
def test_bad_brief_files_are_usage_errors(raw: bytes) -> None:
    with pytest.raises(UsageError):
        codec.parse(raw)


@given(st.text())
def test_escape_leaves_no_control_bytes(s: str) -> None:
    out = escape(s)
    assert not re.search("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)


@pytest.mark.parametrize("text,want", [("git version 2.39.5", (2, 39, 5)),
                                       ("git version 2.39.3 (Apple Git-146)", (2, 39, 3)),
                                       ("git version 2.45.1.windows.1", (2, 45, 1)),
                                       ("git version 2.50.0.rc1", (2, 50, 0)), ("nope", None)])
def test_parse_git_version(text: str, want: tuple[int, int, int] | None) -> None:
    assert runner.parse_version(text) == want


def test_local_env_vars_match_this_git() -> None:
    got = set(git(".", "rev-parse", "--local-env-vars").stdout.split())
    assert got <= set(runner.LOCAL_ENV_VARS)


@pytest.mark.parametrize("name", [b"..", b".", b".git", b".GIT", b"a/b", b"a\nb", b""])
def test_tree_entry_names_git_would_regret_are_refused(name: bytes) -> None:
    from flowergit.errors import FlowerError

    with pytest.raises(FlowerError):
        objects.check_name(name)


def test_edit_tree_matches_git_and_cas_transactions(any_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(any_repo)
    repo = discover()
    w = writes.Writer(repo)
    with objects.Batch(repo) as b:
        blob = w.add("blob", b"x\n")
        tree = writes.edit_tree(b, w, None, {"a/b/c.txt": (objects.MODE_BLOB, blob),
                                              "a/z.txt": (objects.MODE_BLOB, blob),
                                              "a-b": (objects.MODE_BLOB, blob)})
        w.flush()
        # git computes the same tree from an index holding the same files
        assert git(any_repo, "ls-tree", "-r", "--name-only", tree).stdout.split() == ["a-b", "a/b/c.txt", "a/z.txt"]
        t2 = writes.edit_tree(b, w, tree, {"a/b/c.txt": None})
        w.flush()
    assert git(any_repo, "ls-tree", "-r", "--name-only", t2).stdout.split() == ["a-b", "a/z.txt"]
    assert git(any_repo, "fsck", "--strict", "--no-dangling").returncode == 0
    c1 = writes.commit(repo, tree, [], "one")
    c2 = writes.commit(repo, t2, [c1], "two")
    refs.transaction(repo, [refs.create("refs/flower/test/x", c1)])
    with pytest.raises(refs.CasLost):
        refs.transaction(repo, [refs.create("refs/flower/test/x", c2)])
    with pytest.raises(refs.CasLost):
        refs.transaction(repo, [refs.update("refs/flower/test/x", c2, c2)])
    # all or nothing: a failing verify leaves the other ref alone
    with pytest.raises(refs.CasLost):
        refs.transaction(repo, [refs.update("refs/flower/test/x", c2, c1),
                                refs.verify("refs/flower/test/y", c1)])
    assert refs.read(repo, "refs/flower/test/x") == c1
    refs.transaction(repo, [refs.update("refs/flower/test/x", c2, c1), refs.verify("refs/flower/test/y", None)])
    assert refs.read(repo, "refs/flower/test/x") == c2
    assert not list(Path(repo.common_dir).rglob("*.lock"))


@pytest.mark.slow
def test_stale_lock_is_reported_not_removed(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    r = discover()
    head = refs.read(r, "HEAD")
    assert head
    lock = Path(r.common_dir) / "refs" / "flower" / "stuck.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    with pytest.raises(refs.LockBusy) as e:
        refs.transaction(r, [refs.create("refs/flower/stuck", head)])
    assert "doctor" in (e.value.hint or "")
    assert lock.exists()


# -- tomlcodec: the fast subset reader answers as tomllib does, or not at all ------------------------
_KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=8)
_SCALARS = st.one_of(
    st.text(max_size=40), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.booleans(),
    st.datetimes(min_value=__import__("datetime").datetime(1900, 1, 1),
                 max_value=__import__("datetime").datetime(2200, 1, 1)).map(
        lambda d: d.replace(microsecond=0, tzinfo=__import__("datetime").timezone.utc)))
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=5),
                    st.lists(st.lists(st.text(max_size=10), min_size=1, max_size=3), max_size=3))


def _agrees(doc: str) -> object:
    import tomllib

    from flowergit.state import tomlcodec

    got = tomlcodec.fast_loads(doc)
    try:
        want = tomllib.loads(doc)
    except tomllib.TOMLDecodeError:
        assert got is None, doc  # what tomllib refuses is never read as something
        return None
    assert got is None or got == want, doc
    return got


@given(st.dictionaries(_KEYS, _VALUES, max_size=8))
@settings(max_examples=300, deadline=None)
def test_quicktoml_reads_what_tomli_w_writes_as_tomllib_does(meta: dict[str, object]) -> None:
    import tomli_w

    doc = tomli_w.dumps(meta)
    got = _agrees(doc)
    # the `created = …Z` spelling git flower writes is read too
    _agrees(re.sub(r"(?m)^(\w+) = (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\+00:00$", r"\1 = \2T\3Z", doc))
    if not any(isinstance(v, __import__("datetime").datetime) for v in meta.values()):
        # strings, integers, booleans and arrays of them, as tomli-w writes them (multi-line
        # arrays included): always in the subset, never left to tomllib
        assert got is not None or any(
            isinstance(v, list) and any(isinstance(x, __import__("datetime").datetime) for x in v)
            for v in meta.values()), doc


@given(st.lists(st.text(alphabet='ab_-= \t#"\\[],.:+-01T9Zuxe\x00\x01\x7f\u00e9\r', max_size=30),
                max_size=6))
@settings(max_examples=500, deadline=None)
def test_quicktoml_never_disagrees_with_tomllib_on_any_text(lines: list[str]) -> None:
    _agrees("\n".join(lines))


@given(st.dictionaries(_KEYS, _VALUES, max_size=8))
@settings(max_examples=200, deadline=None)
def test_tomlcodec_writes_what_tomli_w_wrote_with_utc_datetimes_as_rfc3339(
        meta: dict[str, object]) -> None:
    import tomli_w

    from flowergit.state import tomlcodec

    # the bytes git flower wrote before the codec: tomli-w, then `… 09:14:03+00:00` -> `…T09:14:03Z`
    want = re.sub(r"(?m)^([\w-]+) = (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\+00:00$", r"\1 = \2T\3Z",
                  tomli_w.dumps(meta))
    assert tomlcodec.dumps(meta) == want
    assert tomlcodec.loads(want) == meta


def test_a_new_brief_is_written_byte_for_byte_as_before() -> None:
    b = codec.Brief(id=12, title='Fix "the" thing', status="planned", agent="codex",
                    depends_on=[3, 4], created="2026-11-20T09:14:03Z", auto_dispatch=True,
                    run=[["sh", "-c", "echo 'hi' > out.txt"]], body="text")
    assert codec.render_new(b) == (
        b'+++\nv = 1\nid = 12\ntitle = "Fix \\"the\\" thing"\nkind = "brief"\nstatus = "planned"\n'
        b'auto_dispatch = true\nagent = "codex"\ndepends_on = [\n    3,\n    4,\n]\n'
        b'created = 2026-11-20T09:14:03Z\nrun = [\n    [\n        "sh",\n        "-c",\n'
        b'        "echo \'hi\' > out.txt",\n    ],\n]\n+++\ntext\n')


def test_quicktoml_serves_the_briefs_git_flower_writes() -> None:
    from flowergit.state import tomlcodec

    b = codec.Brief(id=12, title='Fix "the" thing \u2028 \\ \t', status="planned", agent="codex",
                    depends_on=[3, 4], created="2026-11-20T09:14:03Z",
                    run=[["sh", "-c", "echo 'hi' > out.txt"]], extra={"priority": 2})
    front, _ = codec.split(codec.render_new(b))
    got = tomlcodec.fast_loads(front.decode())
    assert got is not None  # not left to tomllib
    assert codec.parse(codec.render_new(b)).meta() == b.meta() | {"created": "2026-11-20T09:14:03Z"}


# -- ids: the string-operation grammars are the regular expressions they document ------------
_ID_GRAMMARS = {
    "brief": r"[1-9][0-9]{0,8}",
    "dispatch": r"([1-9][0-9]{0,8})\.([1-9][0-9]{0,3})",
    "name": r"[a-z][a-z0-9_-]{0,39}",
    "token": r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}",
}
_ID_TEXT = st.one_of(
    st.text(alphabet="0123456789.", max_size=16),
    st.text(alphabet="abcAZ09_-.٢²ａ \n", max_size=90),
    st.text(max_size=12),
    st.from_regex(r"[a-z][a-z0-9_-]{0,41}", fullmatch=True),
    st.from_regex(r"[1-9][0-9]{0,10}(\.[0-9]{0,5})?", fullmatch=True),
)


@settings(max_examples=600, deadline=None)
@given(_ID_TEXT)
def test_id_grammars_agree_with_their_regular_expressions(text: str) -> None:
    from flowergit.state import ids

    def accepts(fn: object) -> bool:
        try:
            fn(text)  # type: ignore[operator]
        except UsageError:
            return False
        return True

    assert ids.is_brief_id(text) == bool(re.fullmatch(_ID_GRAMMARS["brief"], text, re.ASCII))
    m = re.fullmatch(_ID_GRAMMARS["dispatch"], text, re.ASCII)
    assert accepts(ids.dispatch_id) == bool(m)
    if m:
        assert ids.dispatch_id(text) == (int(m[1]), int(m[2]))
    assert accepts(ids.name) == bool(re.fullmatch(_ID_GRAMMARS["name"], text, re.ASCII))
    tok = bool(re.fullmatch(_ID_GRAMMARS["token"], text, re.ASCII)) and ".." not in text \
        and not text.endswith(".lock")
    assert ids.is_token(text) == tok == accepts(ids.token)


# -- fastjson: json's answers, without loading json ------------------------------------------
_JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(),
                          st.floats(allow_nan=False))
_JSON_DOCS = st.recursive(_JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=30)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(_JSON_DOCS, st.booleans(), st.booleans(), st.sampled_from([None, (",", ":"), (", ", ": ")]))
def test_fastjson_writes_and_reads_what_json_does(doc: object, ascii_: bool, sort: bool,
                                                  seps: tuple[str, str] | None) -> None:
    import json

    from flowergit import fastjson

    text = fastjson.dumps(doc, ensure_ascii=ascii_, sort_keys=sort, separators=seps)
    assert text == json.dumps(doc, ensure_ascii=ascii_, sort_keys=sort, separators=seps)
    assert fastjson.loads(text) == json.loads(text)
    assert fastjson.loads(f" \n{text}\t".encode()) == json.loads(text)


@pytest.mark.parametrize("bad", ["", " ", "[1,]", '{"a":1} x', "[1] [2]", '"\x01"', "\ufeff[1]",
                                 "{'a': 1}", "[1"])
def test_fastjson_refuses_what_json_refuses_with_its_message(bad: str) -> None:
    import json

    from flowergit import fastjson

    with pytest.raises(json.JSONDecodeError) as ours:
        fastjson.loads(bad)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(bad)
    assert str(ours.value) == str(theirs.value)


def test_fastjson_refuses_bad_json_in_a_process_that_never_loaded_json() -> None:
    """The C scanner raises json's JSONDecodeError only once json.decoder is imported; before
    that, an error past the first character came out as a bare SystemError (an "internal
    error" for a record that does not read)."""
    import subprocess
    import sys

    code = ("import sys; from flowergit import fastjson\n"
            "for bad in (b'{not json', b'[1,', b'{\"a\": }'):\n"
            "    try:\n        fastjson.loads(bad)\n"
            "    except ValueError as e:\n        print(type(e).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.split() == ["JSONDecodeError"] * 3, out.stderr


def test_fastjson_loads_neither_json_nor_re() -> None:
    import subprocess
    import sys

    code = ("import sys; from flowergit import fastjson; "
            "fastjson.loads(fastjson.dumps({'a': [1, 2.5, 'é']}, sort_keys=True)); "
            "print(sorted(m for m in ('json', 're', 'enum') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(st.one_of(st.from_regex(r"flower/[0-9]{1,10}-[a-z0-9-]{0,55}", fullmatch=True),
                 st.text(alphabet="flower/0123456789-abcZ.é", max_size=64)),
       st.integers(min_value=1, max_value=999))
def test_dispatch_branch_check_is_its_regular_expression(branch: str, brief: int) -> None:
    from flowergit.ops.dispatch import our_branch

    m = re.fullmatch(r"flower/([1-9][0-9]{0,8})-[a-z0-9]+(?:-[a-z0-9]+)*", branch, re.ASCII)
    want = branch if m and int(m[1]) == brief and len(branch) <= 60 else None
    assert our_branch(brief, branch) == want
    if m:
        assert our_branch(int(m[1]), branch) == (branch if len(branch) <= 60 else None)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.from_regex(r"[A-Za-z0-9 ]{30,90}", fullmatch=True)))
def test_slug_keeps_the_ascii_letter_and_digit_runs(title: str) -> None:
    from flowergit.ops.dispatch import MAX_SLUG, slug

    got = slug(title)
    assert got == "brief" or re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", got, re.ASCII)
    assert len(got) <= MAX_SLUG
    if title.isascii():
        words = re.findall(r"[a-z0-9]+", title.lower())
        parts = got.split("-")
        if not words:
            assert got == "brief"
        else:  # the first words whole; a first word longer than MAX_SLUG cut to it
            assert parts[:-1] == words[:len(parts) - 1]
            assert words[len(parts) - 1].startswith(parts[-1])


# -- the dispatch path's string scans are the regular expressions they replace ---------------
@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="{}ab_ Z\n`", max_size=60),
       st.dictionaries(st.sampled_from(["a", "b", "ab", "a_b", "_"]), st.text(alphabet="{}ab", max_size=6)))
def test_packet_fill_is_one_pass_of_its_regular_expression(template: str, values: dict[str, str]) -> None:
    from flowergit.ops.dispatch import fill

    want = re.sub(r"\{\{([a-z_]+)\}\}", lambda m: values.get(m[1], m[0]), template)
    assert fill(template, values) == want


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="`a\n", max_size=40))
def test_packet_fence_outruns_every_backtick_run(text: str) -> None:
    from flowergit.ops.dispatch import fence

    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    assert fence(text) == "`" * max(4, longest + 1)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b'status = "planned"', b'status = "x"', b'status = ""',
                                 b' status = "done"', b'status = "Done"', b"[t]", b"  [t.u]",
                                 b'title = "a"', b'status = "done" # c', b"", b'x = """',
                                 b'status = "a"b"']), max_size=8),
       st.booleans())
def test_status_lines_are_what_their_regular_expression_finds(lines: list[bytes], nl: bool) -> None:
    from flowergit.state.brief import _status_lines

    front = b"\n".join(lines) + (b"\n" if nl else b"")
    top = re.split(rb"(?m)^[ \t]*\[", front, maxsplit=1)[0]
    want = [(m.start(), m[0]) for m in re.finditer(rb'^status = "[a-z]+"\n', top, re.M)]
    assert _status_lines(front) == want


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
       | st.text(alphabet="\x00\x07\t\n\x1b\x7f\x85\x9f\xa0\u200d\u200e\u200f\u202a\u202e\u202f"
                 "\u2066\u2069\u206aé", max_size=20))
def test_escape_is_its_regular_expression(text: str) -> None:
    unsafe = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

    def esc(m: re.Match[str]) -> str:
        c = ord(m.group())
        return "\\n" if c == 0x0A else f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"

    want = unsafe.sub(esc, text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    assert escape(text) == want


def test_a_released_lock_is_free_even_while_a_fork_still_holds_its_descriptor(tmp_path: Path) -> None:
    """dispatch forks its supervisor while it holds the scheduler lock: the copy's descriptor
    must not keep the lock once the dispatcher lets go."""
    import os
    import time

    from flowergit.errors import Retry
    from flowergit.procs.locks import exclusive

    path = str(tmp_path / "sched.lock")
    held = exclusive(path, wait=1, busy=lambda: Retry("busy"))
    pid = os.fork()
    if pid == 0:  # the copy: keeps every descriptor open for a while, then leaves
        time.sleep(2)
        os._exit(0)
    try:
        held.release()
        with exclusive(path, wait=0.5, busy=lambda: Retry("busy")):
            pass  # taken at once, though the copy's descriptor is still open
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def test_a_worktree_whose_head_is_being_written_holds_no_branch(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # `git worktree add` truncates the new worktree's HEAD before writing it: a reader that
    # sees it empty must not take it for a checkout of flower/briefs (nor start `git worktree
    # list` to ask), as a dispatch's brief update once did while its own worktree was added
    from flowergit.gitio import worktrees

    repo_dir = tmp_path / "r"
    git(tmp_path, "init", "-q", "-b", "main", str(repo_dir))
    git(repo_dir, "commit", "-q", "--allow-empty", "-m", "root")
    git(repo_dir, "branch", "flower/briefs")
    git(repo_dir, "worktree", "add", "-q", "--detach", str(tmp_path / "wt"))
    repo = discover(str(repo_dir))
    admin = Path(repo.common_dir) / "worktrees" / "wt"
    (admin / "HEAD").write_bytes(b"")
    trace = tmp_path / "git-calls.txt"
    shim = tmp_path / "shim" / "git"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\necho "$*" >> "{trace}"\nexec "{shutil.which("git")}" "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    assert worktrees.holding(repo, "refs/heads/flower/briefs") is None
    assert not trace.exists() or "worktree" not in trace.read_text()
    (admin / "HEAD").write_bytes(b"ref: refs/heads/flower/briefs\n")
    held = worktrees.holding(repo, "refs/heads/flower/briefs")
    assert held is not None and held.path == str(tmp_path / "wt")
    assert "worktree list" in trace.read_text()  # (the shim does see git's calls)



@pytest.mark.parametrize("blobs", [
    [b'{"a": 1}\n', b'{"b": [1, 2]}'],
    [b'{"a": 1}', None, b'{"c": "x"}'],
    [b'{"a": 1}', b'{not json'],
    [b'{"a": "', b'{"b": 1}'],
    [b'{"a": 1},{"b": 2}', b'{"c": 3}'],
    [b'[1]', b'{"a": 1}'],
    [],
])
def test_records_decode_many_agrees_with_decoding_each(blobs: list[bytes | None]) -> None:
    from flowergit.errors import Conflict
    from flowergit.state import records

    def one(b: bytes | None) -> object:
        try:
            return None if b is None else records.decode(b)
        except Conflict:
            return None

    assert records.decode_many(blobs) == [one(b) for b in blobs]


OP_CASES = ["1-abcdef12", "123456789-" + "a" * 32, "1234567890-abcdef12", "1-abcdef1",
            "1-ABCDEF12", "-abcdef12", "1-abcdef12-x", "\u0661-abcdef12", "1-" + "a" * 33,
            "12-0123456789abcdef", "", "1-", "x-abcdef12"]
LINE_CASES = ["a:1", "a:b:12", "a:0", "a:01", ":5", "a:", "a:1234567890", "a:123456789",
              "x\n:3", "a:\u0661", "a: 1", "dir/file.py:42", "C:\\x:7"]


@pytest.mark.parametrize("text", OP_CASES)
def test_an_op_id_is_checked_as_its_pattern_would(text: str) -> None:
    import re

    from flowergit.state.journal import is_op

    assert is_op(text) == bool(re.fullmatch(r"[0-9]{1,9}-[0-9a-f]{8,32}", text, re.ASCII))


@pytest.mark.parametrize("text", LINE_CASES)
def test_path_line_is_split_as_its_pattern_would(text: str) -> None:
    import re

    from flowergit.ops.merge.verify import path_line

    m = re.fullmatch(r"(.+):([1-9][0-9]{0,8})", text, re.ASCII | re.DOTALL)
    assert path_line(text) == ((m[1], int(m[2])) if m else None)


@pytest.mark.parametrize("path", [
    "briefs/0000/7.md", "briefs/0200/246.md", "briefs/0000/x.md", "briefs/0100/7.md",
    "briefs/0000/07.md", "briefs/0000/0.md", "briefs/README.md", "briefs/0000/7.txt",
    "briefs/999900/999999.md", "briefs/1234500/1234567.md", "briefs/0000/7.md/x.md",
    "x/briefs/0000/7.md", "briefs/0000/.md", "briefs/0000/\u0661.md"])
def test_brief_at_is_the_inverse_of_brief_path(path: str) -> None:
    from flowergit.state.brief import path_id
    from flowergit.state.layout import brief_at, brief_path

    bid = path_id(path)
    assert brief_at(path) == (bid if bid is not None and brief_path(bid) == path else None)


def test_present_dirs_agrees_with_isdir_one_by_one(tmp_path: Path) -> None:
    """`ps` judges a thousand worktrees by listing the directory they share: the answer is
    exactly `os.path.isdir` of each (a symlink to a directory counts, a file or a dangling link
    does not, a missing parent holds nothing, a trailing slash is looked up as given)."""
    from flowergit.ops.status import present_dirs

    shared = tmp_path / "repo.flower"
    shared.mkdir()
    paths: list[object] = []
    for i in range(12):
        p = shared / f"{i}-work"
        if i % 3 == 0:
            p.mkdir()
        elif i % 3 == 1:
            p.write_text("a file")
        paths.append(str(p))
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", shared / "linked")
    os.symlink(tmp_path / "gone", shared / "dangling")
    paths += [str(shared / "linked"), str(shared / "dangling"), str(shared / "0-work") + "/",
              str(tmp_path / "nowhere" / "x"), str(tmp_path / "elsewhere"), None, "", 7]
    assert present_dirs(paths) == {p for p in paths if isinstance(p, str) and p and os.path.isdir(p)}


def test_signal_expiry_against_one_cutoff_matches_expired() -> None:
    from flowergit.state import signals

    now = 1_800_000_000.5
    for age in (0, 59.9, 60, 60.1, 3600):
        sid = f"{signals._stamp(now - age)}-0badcafe-auto_dispatch"
        assert signals.stamped_before(sid, signals.cutoff(60, now)) == signals.expired(sid, 60, now)
    assert not signals.stamped_before("not-a-signal", signals.cutoff(60, now))


def test_threads_writing_one_state_file_never_share_a_temporary_file(tmp_path: Path) -> None:
    """`git flower web` writes the same caches from several worker threads: each
    write goes through a temporary file of its own thread, so no write renames another's half
    (or finds its temporary file renamed away), and a reader sees one whole document."""
    import json
    import threading

    from flowergit.state import files

    path = str(tmp_path / "cache" / "records.json")
    docs = [json.dumps({"writer": n, "pad": "x" * (n * 1000)}) for n in range(6)]
    errors: list[BaseException] = []
    seen: set[str] = set()
    go = threading.Barrier(len(docs) + 1)

    def write(text: str) -> None:
        go.wait()
        try:
            for _ in range(40):
                files.write_atomic(path, text)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    written = threading.Event()

    def read() -> None:  # until the writers are done, and once after: never before a first write
        go.wait()
        while True:
            last = written.is_set()
            try:
                with open(path) as f:
                    seen.add(f.read())
            except FileNotFoundError:
                pass
            if last:
                return

    writers = [threading.Thread(target=write, args=(d,)) for d in docs]
    reader = threading.Thread(target=read)
    for t in (*writers, reader):
        t.start()
    for t in writers:
        t.join()
    written.set()
    reader.join()
    assert errors == []
    assert seen and seen <= set(docs)
    assert sorted(os.listdir(tmp_path / "cache")) == ["records.json"]  # no temporary file left


def test_a_state_file_write_that_fails_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    from flowergit.state import files

    path = str(tmp_path / "cache.json")
    files.write_atomic(path, "old\n")
    with pytest.raises(UnicodeEncodeError):
        files.write_atomic(path, "half \udcff")  # a lone surrogate: strict UTF-8 refuses it
    assert Path(path).read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["cache.json"]
