"""What commits and objects hold, read without a checkout: the commits of a range with their
authors and messages, one commit's file changes, the paths added or touched between two commits,
the blobs of a tree, and the type and size of objects (checked before anything a remote sent is
read).

Nothing here writes. Revisions and names go after ``--end-of-options``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from flowergit.gitio.repo import Repo


def _batch_check(repo: Repo, fmt: str, oids: Sequence[str]) -> list[list[str]]:
    res = repo.git(["cat-file", f"--batch-check={fmt}"],
                   input="".join(o + "\n" for o in oids).encode(), check=False)
    return [ln.split(" ") for ln in res.out.split("\n")]


def object_types(repo: Repo, oids: Sequence[str]) -> dict[str, str]:
    """oid -> ``commit``/``tree``/``blob``/``tag`` for the objects that exist."""
    if not oids:
        return {}
    return {p[0]: p[1] for p in _batch_check(repo, "%(objectname) %(objecttype) %(objectsize)", oids)
            if len(p) == 3}


def object_sizes(repo: Repo, oids: Sequence[str]) -> dict[str, int]:
    """oid -> size in bytes for the objects that exist."""
    if not oids:
        return {}
    return {p[0]: int(p[1]) for p in _batch_check(repo, "%(objectname) %(objectsize)", oids)
            if len(p) == 2 and p[1].isdigit()}


@dataclass(frozen=True)
class Commit:
    oid: str
    parent: str | None  # the first parent
    author: tuple[str, str, str]  # name, email, date (strict ISO 8601)
    message: str  # ends with one newline


def commits_between(repo: Repo, tip: str, exclude: str) -> list[Commit]:
    """The commits reachable from ``tip`` and not from ``exclude``, oldest first (topological)."""
    res = repo.git(["log", "--reverse", "--topo-order", "-z",
                    "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%B", "--end-of-options", tip,
                    "^" + exclude])
    out = []
    for rec in res.stdout.split(b"\0"):
        if not rec.strip():
            continue
        parts = rec.decode("utf-8", "surrogateescape").split("\x1f", 5)
        if len(parts) < 6:
            continue
        parents = parts[1].split()
        out.append(Commit(parts[0].strip(), parents[0] if parents else None,
                          (parts[2], parts[3], parts[4]), parts[5].rstrip("\n") + "\n"))
    return out


def file_changes(repo: Repo, parent: str | None, commit: str) -> list[tuple[str, str | None]]:
    """(path, new blob or None for a delete) of ``commit`` against ``parent`` (None: a root
    commit), renames seen as a delete and an add."""
    args = ["diff-tree", "-r", "-z", "--no-renames", "--no-commit-id"]
    args += ([parent, commit] if parent else ["--root", commit])
    res = repo.git(args)
    items = res.stdout.split(b"\0")
    out = []
    i = 0
    while i + 1 < len(items):
        meta = items[i].decode()
        if not meta.startswith(":"):
            i += 1
            continue
        parts = meta[1:].split()
        path = items[i + 1].decode("utf-8", "surrogateescape")
        out.append((path, None if parts[4] == "D" else parts[3]))
        i += 2
    return out


def added_paths(repo: Repo, old: str, new: str, under: str) -> list[str]:
    """The paths below ``under`` that ``new`` has and ``old`` has not (empty if unreadable)."""
    res = repo.git(["diff-tree", "-r", "-z", "--no-renames", "--diff-filter=A", "--name-only",
                    "--end-of-options", old, new, "--", under], check=False)
    return [p.decode("utf-8", "surrogateescape") for p in res.stdout.split(b"\0") if p]


def touched_paths(repo: Repo, old: str | None, new: str) -> list[bytes]:
    """The raw paths that differ between ``old`` and ``new`` (every path of ``new`` when ``old``
    is None; empty if unreadable)."""
    args = ["diff-tree", "-r", "-z", "--no-renames", "--name-only", "--no-commit-id",
            "--end-of-options"]
    args += [old, new] if old else ["--root", new]
    res = repo.git(args, check=False)
    return [p for p in res.stdout.split(b"\0") if p]


def tree_blobs(repo: Repo, commit: str) -> Iterator[tuple[str, str]]:
    """(path, blob oid) of every blob in ``commit``'s tree, recursively (none if unreadable)."""
    res = repo.git(["ls-tree", "-r", "-z", "--end-of-options", commit + "^{tree}"], check=False)
    for item in res.stdout.split(b"\0"):
        if not item:
            continue
        meta, _, path = item.decode("utf-8", "surrogateescape").partition("\t")
        parts = meta.split(" ")
        if len(parts) == 3 and parts[1] == "blob":
            yield path, parts[2]


def patch(repo: Repo, old: str, new: str, *, limit: int = 2 << 20) -> tuple[str, bool]:
    """The unified diff from commit ``old`` to commit ``new`` (binary files named, not shown;
    no colour, no external diff, no textconv), as text, cut at ``limit`` bytes; and whether it
    was cut."""
    res = repo.git(["-c", "diff.noprefix=false", "-c", "core.quotePath=false", "diff",
                    "--no-color", "--no-ext-diff", "--no-textconv", "--find-renames", "--stat",
                    "--patch", "--end-of-options", old, new])
    data = res.stdout
    cut = len(data) > limit
    return data[:limit].decode("utf-8", "replace"), cut


def numstat(repo: Repo, old: str, new: str) -> list[tuple[int | None, int | None, str]]:
    """Lines added and deleted per path between two commits or trees, as ``git diff --numstat``
    counts them (None, None for a binary file); renames are not followed."""
    res = repo.git(["diff-tree", "-r", "-z", "--no-renames", "--numstat", "--no-commit-id",
                    "--end-of-options", old, new], check=False)
    out: list[tuple[int | None, int | None, str]] = []
    for rec in res.stdout.split(b"\0"):
        parts = rec.split(b"\t", 2)
        if len(parts) != 3:
            continue
        a, d, path = parts
        out.append((int(a) if a.isdigit() else None, int(d) if d.isdigit() else None,
                    path.decode("utf-8", "surrogateescape")))
    return out


def show_diff(repo: Repo, old: str, new: str, *, stat: bool = False, paths: Sequence[str] = (),
              pager: bool = True, color: str | None = None) -> int:
    """``git diff old...new`` on the user's own terminal, paged by git as ``git diff`` is (the
    user's environment and settings, not the scrubbed one: this is output for a person);
    returns git's exit code."""
    import os

    from flowergit.gitio import runner

    env = {k: v for k, v in os.environ.items() if k not in runner.LOCAL_ENV_VARS}
    argv = ["git", "--git-dir", repo.git_dir]
    if not pager:
        argv.append("--no-pager")
    argv += ["diff", "--stat" if stat else "--patch-with-stat"]
    if color is not None:
        argv.append(f"--color={color}")
    argv += ["--end-of-options", f"{old}...{new}", "--", *paths]
    pid = runner.spawn(argv, env, stdin=0, stdout=1, stderr=2)
    return runner.wait_code(pid)
