"""Trees: a merge computed off to the side, what differs between two trees, the entries of a
tree for some paths.

Nothing here touches a checkout or moves a ref.
"""

from __future__ import annotations


from flowergit.errors import FlowerError
from flowergit.gitio import objects
from flowergit.gitio.pins import SAFE, literal, split_z
from flowergit.gitio.repo import Repo
from flowergit.gitio.runner import GitError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


class MergeResult:
    """What ``git merge-tree --write-tree`` found: the merged tree, or None and the conflicts.
    (Plain classes here: `dataclasses` loads `inspect`, ~10 ms on every merge.)"""

    __slots__ = ("tree", "conflicts")

    def __init__(self, tree: str | None, conflicts: list[str]) -> None:
        self.tree = tree
        self.conflicts = conflicts

    def __repr__(self) -> str:
        return f"MergeResult(tree={self.tree!r}, conflicts={self.conflicts!r})"


def merge_tree(repo: Repo, ours: str, theirs: str) -> MergeResult:
    """``git merge-tree --write-tree``: the merged tree, or the conflicted paths. No checkout."""
    res = repo.git([*SAFE, "merge-tree", "--write-tree", "--name-only", "-z", "--no-messages",
                    "--end-of-options", ours, theirs], check=False)
    if res.returncode not in (0, 1):
        raise GitError(res.argv, res.returncode, res.stdout, res.stderr)
    parts = res.stdout.split(b"\0")
    tree = parts[0].decode().strip()
    if res.returncode == 0:
        return MergeResult(tree, [])
    conflicts = sorted({p.decode("utf-8", "surrogateescape") for p in parts[1:] if p})
    return MergeResult(None, conflicts)


def changed_paths(repo: Repo, a: str, b: str) -> list[str]:
    """Paths that differ between two trees or commits (no rename detection)."""
    res = repo.git(["diff-tree", "-r", "--no-renames", "--name-only", "-z", "--no-ext-diff",
                    "--end-of-options", a, b])
    return split_z(res.stdout)


def tree_of(repo: Repo, rev: str) -> str:
    return repo.git(["rev-parse", "--verify", "--end-of-options", rev + "^{tree}"]).out.strip()


def trees_of(repo: Repo, commits: Sequence[str]) -> dict[str, str]:
    """commit -> its tree, in one process."""
    if not commits:
        return {}
    res = repo.git(["cat-file", "--batch-check=%(objectname)"],
                   input="".join(c + "^{tree}\n" for c in commits).encode())
    trees = res.out.split()
    return dict(zip(commits, trees))


def tree_of_commit(data: bytes) -> str:
    """The tree of a commit object, from its raw bytes (as a batch read returns them)."""
    first = data.split(b"\n", 1)[0]
    if not first.startswith(b"tree "):
        raise FlowerError("cannot read a commit object: no tree line")
    return first[5:].decode()


def tree_entries(repo: Repo, rev: str, paths: Sequence[str]) -> dict[str, str]:
    """path -> "mode oid" of ``paths`` in ``rev``'s tree (absent paths are left out)."""
    if not paths:
        return {}
    res = repo.git(["ls-tree", "-r", "-z", "--full-tree", "--end-of-options", rev, "--",
                    *literal(paths)])
    out: dict[str, str] = {}
    for item in split_z(res.stdout):
        meta, _, path = item.partition("\t")
        mode, _typ, oid = meta.split(" ")
        out[path] = f"{mode} {oid}"
    return out


Side = tuple[bytes, str] | None  # (mode, oid) of a path on one side of a diff; None: absent


def tree_diff(batch: objects.Batch, a: str | None, b: str | None) -> dict[str, tuple[Side, Side]]:
    """path -> (old, new) for every path whose blob, link or gitlink differs between trees
    ``a`` and ``b``: what ``git diff-tree -r --no-renames`` lists, read through ``batch`` (only
    the subtrees that differ are read)."""
    out: dict[str, tuple[Side, Side]] = {}

    def walk(x: str | None, y: str | None, prefix: bytes) -> None:
        ea = {e.name: e for e in batch.tree(x) or []} if x else {}
        eb = {e.name: e for e in batch.tree(y) or []} if y else {}
        for name in ea.keys() | eb.keys():
            o, n = ea.get(name), eb.get(name)
            if o is not None and n is not None and o.mode == n.mode and o.oid == n.oid:
                continue
            path = prefix + name
            ot = o is not None and o.is_tree
            nt = n is not None and n.is_tree
            if ot or nt:
                walk(o.oid if ot and o is not None else None,
                     n.oid if nt and n is not None else None, path + b"/")
            old = (o.mode, o.oid) if o is not None and not ot else None
            new = (n.mode, n.oid) if n is not None and not nt else None
            if old is not None or new is not None:
                out[path.decode("utf-8", "surrogateescape")] = (old, new)

    walk(a, b, b"")
    return out


def gitlinks_in(diff: dict[str, tuple[Side, Side]]) -> list[str]:
    """The submodule (gitlink) paths of a :func:`tree_diff`."""
    return sorted(p for p, sides in diff.items()
                  if any(s is not None and s[0] == objects.MODE_GITLINK for s in sides))
