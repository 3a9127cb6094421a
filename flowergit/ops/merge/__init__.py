"""`git flower merge [N]`: the merge gate.

1. Preflight, before anything changes (:mod:`.preflight`): the dispatch finished, the worker
   tree is clean, the merge is computed off to the side (``merge-tree --write-tree``; a
   conflict is exit 4 with the paths), incoming paths are checked against local-only files,
   untracked and ignored files in the checkout that has the target, and an operation already
   in progress there (:mod:`.checkout`).
2. A byte-for-byte backup of every local-only file (:mod:`.local_only`), a snapshot of the
   user's checkout (index and every file) anchored at ``refs/flower/recovery/<op>``, and a
   journal (:mod:`.anchor`).
3. The suite on exactly the merged tree, in a scratch worktree (or a passing attestation of that
   tree). Red: exit 5, nothing moved (:mod:`.gate`).
4. Landing, with Ctrl-C deferred (:mod:`.gate`): local edits that overlap incoming paths are
   stashed (by commit id), the checkout is moved by a two-way update that keeps local changes
   and the index, the target ref is moved by CAS (fenced by the baton when one is held), the
   stash is re-applied, verified and dropped by id; local-only files are verified byte for byte
   (:mod:`.landed`).
5. Provenance note, brief ``merged``, dispatch ``merged``, worker worktree released, in one ref
   transaction (:mod:`.provenance`).

A SIGKILL at any step leaves a journal; ``git flower recover`` (:mod:`.recover`) finishes or
undoes the merge. ``git flower merge`` without a brief merges the queue (:mod:`.queue`). The
room also holds the suite runner and its attestations (:mod:`.suite`) and ``git flower verify``
(:mod:`.verify`). The gate every mutating command passes first (an interrupted merge refuses
new work) is :mod:`flowergit.ops.pending`, outside the room so that it loads none of it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowergit.ops.merge.gate import deferred_sigint, merge
    from flowergit.ops.merge.landed import finish_landed
    from flowergit.ops.merge.local_only import restore_local_only
    from flowergit.ops.merge.queue import finished_queue, merge_queue

# name -> the module that defines it, imported when the name is first asked for: a command that
# needs one module of the room (`why` reads provenance; `doctor` asks about recovery) does not
# load the gate, which brings `signal`, `typing` and `contextlib`
_LAZY = {"deferred_sigint": "gate", "merge": "gate", "finish_landed": "landed",
         "restore_local_only": "local_only", "finished_queue": "queue", "merge_queue": "queue"}

__all__ = ["deferred_sigint", "finish_landed", "finished_queue", "merge", "merge_queue",
           "restore_local_only"]


def __getattr__(name: str) -> object:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{mod}"), name)
