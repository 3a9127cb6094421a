"""What every operation needs, built once per command: the repository and its validated config."""

from __future__ import annotations

import sys

from flowergit.gitio.repo import Repo, discover, discover_start
from flowergit.state.layout import BRIEFS_REF, BRIEFS_TREE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from flowergit.gitio.runner import Started
    from flowergit.state import config as cfgmod
    from flowergit.state.briefs import BriefStore

_REVS = (BRIEFS_TREE, BRIEFS_REF)


def warn_stderr(msg: str) -> None:
    from flowergit.render.text import escape

    sys.stderr.write("warning: " + escape(msg) + "\n")


class Ctx:
    """Built once per command; light enough for the hot paths (stores are imported on use)."""

    daemon: str | None = None  # the daemon this command acts for, once known (fencing)

    def __init__(self, cwd: str | None = None, warn: Callable[[str], None] = warn_stderr) -> None:
        self.cwd = cwd
        self.warn = warn
        self._repo: Repo | None = None
        self._config: cfgmod.Config | None = None
        self._finding: Started | None = None

    def start(self) -> Ctx:
        """Start looking for the repository now (its `git rev-parse` runs while the caller loads
        the code it needs); :attr:`repo` takes the answer."""
        if self._repo is None and self._finding is None:
            self._finding = discover_start(self.cwd, _REVS)
        return self

    @property
    def repo(self) -> Repo:
        if self._repo is None:
            # the briefs tip and tree come with discovery: `brief list` and `status` need no
            # other call, and `brief new` starts its compare-and-swap from that tip
            finding, self._finding = self._finding, None
            self._repo = discover(self.cwd, revs=_REVS, started=finding)
        return self._repo

    @property
    def config(self) -> cfgmod.Config:
        if self._config is None:
            from flowergit.state import config as cfgmod

            self._config = cfgmod.load(self.repo.main_worktree, self.repo.state_path("cache"))
        return self._config

    def briefs(self) -> BriefStore:
        from flowergit.state.briefs import BriefStore

        return BriefStore(self.repo, self.config.max_brief_bytes)

    def load(self) -> Ctx:
        """Discover and validate up front, so a broken config refuses before anything else."""
        _ = self.config
        return self
