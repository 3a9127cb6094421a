"""The continuity room: who is in charge, what is waiting, and how an orchestrator hands over.

- :mod:`.daemon`: daemons check in, beat, retire (``refs/flower/daemons/<id>``);
- :mod:`.baton`: the lane's baton (take, release, fence) by compare-and-swap;
- :mod:`.signals`: signals emitted, listed, claimed exactly once, completed;
- :mod:`.tick`: one orchestrator iteration (``tick``) and the loop that holds the baton (``run``);
- :mod:`.handoff`: the hand-off scratchpad on ``flower/briefs``;
- :mod:`.reset`: the reset hand-off from a predecessor to a fresh successor;
- :mod:`.charter`: role charters, shipped or committed per repository;
- :mod:`.prime`: what an agent needs to know, printed where it stands.

Modules import each other by their own names; this package's module loads nothing.
"""
