"""Pure units and properties: id grammar, brief codec, escaping, trees, refs (no CLI)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import git
from hypothesis import given, settings
from hypothesis import strategies as st

from flowergit.errors import UsageError
from flowergit.gitio import objects, refs, runner
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
    w = objects.Writer(repo)
    with objects.Batch(repo) as b:
        blob = w.add("blob", b"x\n")
        tree = objects.edit_tree(b, w, None, {"a/b/c.txt": (objects.MODE_BLOB, blob),
                                              "a/z.txt": (objects.MODE_BLOB, blob),
                                              "a-b": (objects.MODE_BLOB, blob)})
        w.flush()
        # git computes the same tree from an index holding the same files
        assert git(any_repo, "ls-tree", "-r", "--name-only", tree).stdout.split() == ["a-b", "a/b/c.txt", "a/z.txt"]
        t2 = objects.edit_tree(b, w, tree, {"a/b/c.txt": None})
        w.flush()
    assert git(any_repo, "ls-tree", "-r", "--name-only", t2).stdout.split() == ["a-b", "a/z.txt"]
    assert git(any_repo, "fsck", "--strict", "--no-dangling").returncode == 0
    c1 = objects.commit(repo, tree, [], "one")
    c2 = objects.commit(repo, t2, [c1], "two")
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


# -- quicktoml: the subset reader answers as tomllib does, or not at all ------------------------
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

    from flowergit.state import quicktoml

    got = quicktoml.loads(doc)
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


def test_quicktoml_serves_the_briefs_git_flower_writes() -> None:
    from flowergit.state import quicktoml

    b = codec.Brief(id=12, title='Fix "the" thing \u2028 \\ \t', status="planned", agent="codex",
                    depends_on=[3, 4], created="2026-11-20T09:14:03Z",
                    run=[["sh", "-c", "echo 'hi' > out.txt"]], extra={"priority": 2})
    front, _ = codec.split(codec.render_new(b))
    got = quicktoml.loads(front.decode())
    assert got is not None  # not left to tomllib
    assert codec.parse(codec.render_new(b)).meta() == b.meta() | {"created": "2026-11-20T09:14:03Z"}
