"""Reading history: which commit a name resolves to, ancestry, commit counts, first-parent
walks, logs, subjects, and the commit behind a line (blame) or a file (the last commit
touching it).

Nothing here writes.
"""

from __future__ import annotations

from flowergit.gitio import runner
from flowergit.gitio.repo import Repo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def commit_of(repo: Repo, rev: str) -> str | None:
    """The commit ``rev`` names, or None."""
    res = repo.git(["rev-parse", "-q", "--verify", "--end-of-options", rev + "^{commit}"],
                   check=False)
    return res.out.strip() if res.ok else None


def is_ancestor(repo: Repo, a: str, b: str) -> bool:
    res = repo.git(["merge-base", "--is-ancestor", "--end-of-options", a, b], check=False)
    return res.returncode == 0


def first_parents(repo: Repo, rng: str) -> list[str]:
    res = repo.git(["rev-list", "--first-parent", "--end-of-options", rng])
    return [o for o in res.out.split() if o]


def descendants_with_parents(repo: Repo, commit: str, tip: str) -> dict[str, list[str]]:
    """Each commit of ``commit..tip`` that descends from ``commit`` (``--ancestry-path``), with
    its parents in order: enough to follow ``tip``'s first-parent chain as far as it descends
    from ``commit``, in one walk."""
    res = repo.git(["rev-list", "--ancestry-path", "--parents", "--end-of-options",
                    f"{commit}..{tip}"], check=False)
    out: dict[str, list[str]] = {}
    for line in res.out.splitlines():
        parts = line.split()
        if parts:
            out[parts[0]] = parts[1:]
    return out


def subject(repo: Repo, commit: str) -> str:
    return repo.git(["log", "-1", "--format=%s", "--end-of-options", commit]).out.strip()


def parents_and_subject(data: bytes) -> tuple[list[str], str | None]:
    """The parents of a raw commit object (as a batch read returns it) and its subject as
    :func:`subject` returns it (``%s``: the first paragraph of the message, each line's
    trailing blanks dropped, the lines joined by a space; then stripped). The subject is None
    when the commit names an encoding other than UTF-8 (git would re-encode it: ask
    :func:`subject`)."""
    head, _, msg = data.partition(b"\n\n")
    parents: list[str] = []
    utf8 = True
    for ln in head.split(b"\n"):
        if ln.startswith(b"parent "):
            parents.append(ln[7:].decode("ascii", "replace"))
        elif ln.startswith(b"encoding "):
            utf8 = ln[9:].strip().lower() in (b"utf-8", b"utf8")
    if not utf8:
        return parents, None
    lines: list[bytes] = []
    for ln in msg.split(b"\n"):
        ln = ln.rstrip(b" \t\r")  # git's isspace() (not \v or \f)
        if ln:
            lines.append(ln)
        elif lines:  # the blank line that ends the first paragraph (leading ones are skipped)
            break
    return parents, b" ".join(lines).decode("utf-8", "surrogateescape").strip()


def blame_line(worktree: str, rev: str, path: str, line: int) -> str | None:
    """The commit that last changed line ``line`` of ``path`` as of ``rev``."""
    # blame has no --end-of-options (git 2.39): refuse option-like revisions instead
    if rev.startswith("-"):
        return None
    res = runner.run(["blame", "--porcelain", "-L", f"{line},{line}", rev, "--", path],
                     cwd=worktree, check=False)
    if not res.ok or not res.out:
        return None
    return res.out.split(" ", 1)[0]


def blame_landing(worktree: str, rev: str, path: str, line: int,
                  parents: Callable[[str], list[str] | None]) -> tuple[str, str] | None:
    """(the commit that last changed line ``line`` of ``path`` as of ``rev``, the commit of
    ``rev``'s first-parent chain that brought that change in), or None.

    One ``blame --first-parent`` finds the second, walking only as far back as the line's
    history goes; when it is a merge, a blame of the merge's own range (``M^1..M``, the commits
    it brought) finds the first. The landing of an old line costs one blame, not a walk of
    every commit since. ``parents`` gives a commit's parents (from a batch reader the caller
    holds), or None when it cannot; then git is asked whether the landing is a merge."""
    if rev.startswith("-"):
        return None
    got = _blame_porcelain(worktree, ["--first-parent", rev], path, line)
    if got is None:
        return None
    landing, orig_line, orig_path, _ = got
    known = parents(landing)
    merge = len(known) > 1 if known is not None else runner.run(
        ["rev-parse", "--verify", "-q", f"{landing}^2"], cwd=worktree, check=False).ok
    if not merge:  # one parent: the line was written on the chain itself
        return landing, landing
    inner = _blame_porcelain(worktree, [f"{landing}^1..{landing}"], orig_path, orig_line)
    if inner is None or inner[3]:  # a boundary answer: the merge itself made the line
        return landing, landing
    return inner[0], landing


def _blame_porcelain(worktree: str, revs: list[str], path: str,
                     line: int) -> tuple[str, int, str, bool] | None:
    """(commit, its line number, its path, whether it is a boundary) of one line."""
    res = runner.run(["blame", "--porcelain", "-L", f"{line},{line}", *revs, "--", path],
                     cwd=worktree, check=False)
    if not res.ok or not res.out:
        return None
    lines = res.out.split("\n")
    head = lines[0].split(" ")
    name = next((ln[9:] for ln in lines[1:] if ln.startswith("filename ")), path)
    if name.startswith('"'):  # a name git quoted (a quote, backslash or control in it)
        name = path
    if len(head) < 2 or not head[1].isdigit():
        return None
    return head[0], int(head[1]), name, "boundary" in lines[1:]


def last_commit_for(worktree: str, rev: str, path: str) -> str | None:
    """The last commit of ``rev`` that touched ``path``."""
    res = runner.run(["log", "-1", "--format=%H", "--end-of-options", rev, "--", path],
                     cwd=worktree, check=False)
    return res.out.strip() or None


# -- counts and logs (``rev-list``, ``log``) -------------------------------------------------
def count_commits(repo: Repo, rng: str) -> int | None:
    """How many commits the range ``rng`` (``base..tip``) holds; None when git cannot tell (a
    name in it resolves to nothing)."""
    res = repo.git(["rev-list", "--count", "--end-of-options", rng], check=False)
    n = res.out.strip()
    return int(n) if res.ok and n.isdigit() else None


def count_unshared(repo: Repo, tip: str, branch_ref: str | None = None) -> int | None:
    """How many commits ``tip`` (a full ref name or an object id) holds that no branch but
    ``branch_ref``, no tag and no remote-tracking branch holds; None when git cannot tell."""
    # --exclude matches what --branches lists: names without refs/heads/
    excl = ["--exclude=" + branch_ref.removeprefix("refs/heads/")] if branch_ref else []
    res = repo.git(["rev-list", "--count", tip, "--not", *excl, "--branches", "--tags",
                    "--remotes"], check=False)
    n = res.out.strip()
    return int(n) if res.ok and n.isdigit() else None


def newest_commits(repo: Repo, rev: str, limit: int) -> list[str]:
    """The ids of the newest ``limit`` commits reachable from ``rev``, newest first (none when
    ``rev`` resolves to nothing)."""
    res = repo.git(["rev-list", f"--max-count={limit}", "--end-of-options", rev], check=False)
    return [o for o in res.out.split() if o]


def oneline_log(repo: Repo, rev: str) -> list[str]:
    """``<abbreviated id> <subject>`` of every commit reachable from ``rev``, newest first."""
    res = repo.git(["log", "--format=%h %s", "--end-of-options", rev], check=False)
    return [ln for ln in res.out.split("\n") if ln]


def path_log(repo: Repo, rev: str, path: str) -> list[tuple[str, str, str, str]]:
    """(commit, author name, author date ISO 8601, subject) of each commit reachable from
    ``rev`` that changed ``path``, newest first."""
    res = repo.git(["log", "-z", "--format=%H%x00%an%x00%aI%x00%s%x00", rev, "--", path])
    out = []
    for rec in res.stdout.split(b"\0\0"):
        parts = rec.strip(b"\0\n").split(b"\0")
        if len(parts) >= 4:
            h, a, d, s = (p.decode("utf-8", "replace") for p in parts[:4])
            out.append((h, a, d, s))
    return out
