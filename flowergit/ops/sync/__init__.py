"""The sync room: flower state and git remotes.

- ``setup``: `git flower remote R` / `init --remote R` (fetch refspecs, the default remote),
  which remote is meant, where a remote's refs are mirrored, this clone's id;
- ``claims``: create-only claims and leased moves pushed straight to a remote (`signal claim
  --remote`, `baton take --remote`, daemon ids); ``ids``: brief ids reserved on the remote;
- ``command``: `git flower sync`, one bounded series of rounds (fetch, reconcile, one atomic
  leased push), with ``base`` (the remote state after the last sync, the lock), ``briefs`` and
  ``replay`` (the briefs branch), ``chains`` (record refs) and ``notes``; ``model`` holds the
  grammar of what travels and the :class:`Report`.

Talking to the remote (ls-remote, fetch, push, remote config) is ``gitio/remote.py``; reading
commits and trees is ``gitio/changes.py``.

Every name loads its module on first use (``__getattr__`` below): a claim against a remote
(`brief new --remote`, `signal claim --remote`, `baton take --remote`) loads only ``setup``,
``claims``, ``ids`` and ``model``; asking which remote is configured loads ``setup``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowergit.ops.sync.base import load_base, save_base
    from flowergit.ops.sync.claims import (
        claim_commit, create, create_record, describe, move, remote_value, update_record,
    )
    from flowergit.ops.sync.command import sync
    from flowergit.ops.sync.ids import id_allocator, reserve_ids, spare_ids
    from flowergit.ops.sync.model import Report, syncable
    from flowergit.ops.sync.replay import merge_brief
    from flowergit.ops.sync.setup import (
        clone_id, configure, configured, covered, fetch_briefs, fetch_specs, remote,
        resolve, tracking_ref,
    )

# name -> the module that defines it, imported when the name is first asked for: `doctor`
# asking which remote is configured loads ``setup`` alone, not the push machinery
_LAZY = {
    "claim_commit": "claims",
    "create": "claims",
    "create_record": "claims",
    "describe": "claims",
    "move": "claims",
    "remote_value": "claims",
    "update_record": "claims",
    "id_allocator": "ids",
    "reserve_ids": "ids",
    "spare_ids": "ids",
    "Report": "model",
    "syncable": "model",
    "clone_id": "setup",
    "configure": "setup",
    "configured": "setup",
    "covered": "setup",
    "fetch_briefs": "setup",
    "fetch_specs": "setup",
    "remote": "setup",
    "resolve": "setup",
    "tracking_ref": "setup",
    "sync": "command",
    "merge_brief": "replay",
    "load_base": "base",
    "save_base": "base",
}

__all__ = ["Report", "claim_commit", "clone_id", "configure", "configured", "covered", "create",
           "create_record", "describe", "fetch_briefs", "fetch_specs", "id_allocator",
           "load_base", "merge_brief", "move", "remote", "remote_value", "reserve_ids",
           "resolve", "save_base", "spare_ids", "sync", "syncable", "tracking_ref",
           "update_record"]


def __getattr__(name: str) -> object:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{mod}"), name)
