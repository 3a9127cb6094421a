"""What one merge carries from step to step: the :class:`Plan` the preflight makes, the
reads and writes every step shares (:class:`MergeIo`), the merge commit's message.
"""

from __future__ import annotations

from typing import Any

from flowergit.gitio import objects, writes
from flowergit.gitio.repo import Repo
from flowergit.gitio.worktrees import Worktree
from flowergit.state.dispatches import dispatch_name

FINISHED = "exited"  # the dispatch state of an agent that ran to its end


class MergeIo:
    """Per merge: one ``cat-file --batch`` for every read, one writer for the objects the merge
    makes before its first ref write (merge commit, snapshot trees, anchor: one
    ``unpack-objects``)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._batch: objects.Batch | None = None
        self.writer = writes.Writer(repo)
        self.notes_tip: str | None = None

    @property
    def batch(self) -> objects.Batch:
        if self._batch is None:
            self._batch = objects.Batch(self.repo)
        return self._batch

    def close(self) -> None:
        if self._batch is not None:
            self._batch.close()
            self._batch = None


class Plan:
    """What the preflight found and decided (a plain class: `dataclasses` costs an import)."""

    def __init__(self, brief: int, attempt: int, dispatch: dict[str, Any], target: str,
                 target_ref: str, pre: str, head: str, branch: str, tree: str, merge: str,
                 incoming: list[str], drift: int, checkout: Worktree | None,
                 overlap: list[str] | None = None, ita: list[str] | None = None,
                 snapshot: tuple[str, str] | None = None, local_root: str | None = None,
                 suite_argv: list[str] | None = None, already: bool = False,
                 in_target: list[str] | None = None, io: MergeIo | None = None) -> None:
        self.brief = brief
        self.attempt = attempt
        self.dispatch = dispatch
        self.target = target
        self.target_ref = target_ref
        self.pre = pre
        self.head = head
        self.branch = branch
        self.tree = tree
        self.merge = merge
        self.incoming = incoming
        self.drift = drift
        self.checkout = checkout
        self.overlap = overlap or []
        self.ita = ita or []
        self.snapshot = snapshot  # (index tree, worktree tree) of the checkout
        self.local_root = local_root
        self.suite_argv = suite_argv
        self.already = already
        self.in_target = in_target or []  # incoming paths the target has
        self.io = io  # the merge's batch and writer (not journalled)

    def summary(self) -> dict[str, Any]:
        return {
            "brief": self.brief, "dispatch": dispatch_name(self.brief, self.attempt),
            "branch": self.branch, "head": self.head, "into": self.target, "target": self.pre,
            "tree": self.tree, "merge": self.merge, "incoming": self.incoming,
            "base_drift": self.drift, "checkout": self.checkout.path if self.checkout else None,
            "stash_paths": self.overlap, "suite": self.suite_argv,
        }


class AlreadyMerged(Exception):
    """The preflight found the brief merged already (``rec``: its dispatch record)."""

    def __init__(self, rec: dict[str, Any]) -> None:
        super().__init__("already merged")
        self.rec = rec


def merge_message(brief: int, name: str, branch: str, d: dict[str, Any]) -> str:
    title = d.get("title")
    head = f"Merge brief {brief} (dispatch {name}) from {branch}"
    body = f"\n\nBrief: {brief}\nDispatch: {name}\nAgent: {d.get('agent') or '-'}\n"
    return head + (f"\n\n{title}" if isinstance(title, str) and title else "") + body
