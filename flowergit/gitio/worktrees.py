"""Worktree listing (``git worktree list --porcelain -z``)."""

from __future__ import annotations

from typing import NamedTuple

from flowergit.gitio.repo import Repo


class Worktree(NamedTuple):
    path: str
    head: str | None
    branch: str | None  # full ref name, e.g. refs/heads/main
    bare: bool = False
    detached: bool = False
    locked: str | None = None
    prunable: str | None = None


def list_worktrees(repo: Repo) -> list[Worktree]:
    res = repo.git(["worktree", "list", "--porcelain", "-z"])
    out: list[Worktree] = []
    for block in res.stdout.split(b"\0\0"):
        if not block.strip(b"\0"):
            continue
        f: dict[str, str | None] = {}
        for item in block.split(b"\0"):
            if not item:
                continue
            k, _, v = item.decode("utf-8", "surrogateescape").partition(" ")
            f[k] = v
        if "worktree" not in f:
            continue
        out.append(Worktree(
            path=f["worktree"] or "", head=f.get("HEAD"), branch=f.get("branch"),
            bare="bare" in f, detached="detached" in f,
            locked=f.get("locked") if "locked" in f else None,
            prunable=f.get("prunable") if "prunable" in f else None,
        ))
    return out


def holding(repo: Repo, branch_ref: str) -> Worktree | None:
    """The worktree that has ``branch_ref`` checked out, if any."""
    for wt in list_worktrees(repo):
        if wt.branch == branch_ref:
            return wt
    return None
