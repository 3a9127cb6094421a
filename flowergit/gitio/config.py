"""Settings of one repository as git reads them: ``git config`` of the repository's own files,
the remotes it names, and the variables ``git var`` answers.

Each call runs one git process with the scrubbed environment: the settings in the repository's,
the user's and the system's files, not the caller's ``-c`` (:meth:`Repo.config_last` and
:meth:`Repo.config_get_all` are the readers that honour it).
"""

from __future__ import annotations

from flowergit.gitio.repo import Repo


def get(repo: Repo, key: str) -> str | None:
    """The value of the single-valued setting ``key`` (``git config --get``); None when unset."""
    return repo.git(["config", "--get", key], check=False).out.strip() or None


def get_all(repo: Repo, key: str) -> list[str]:
    """Every value of the multi-valued setting ``key`` (``git config --get-all``), in order."""
    out = repo.git(["config", "--get-all", key], check=False).out
    return [v for v in out.split("\n") if v]


def add(repo: Repo, key: str, value: str) -> None:
    """Add one more value to ``key`` in the repository's config (``git config --add``)."""
    repo.git(["config", "--add", key, value])


def remotes(repo: Repo) -> list[str]:
    """The names of the configured remotes (``git remote``)."""
    return [r for r in repo.git(["remote"], check=False).out.split("\n") if r]


def editor(repo: Repo) -> str | None:
    """The editor git would start (``git var GIT_EDITOR``); None when git names none."""
    return repo.git(["var", "GIT_EDITOR"], check=False).out.strip() or None


def pager(repo: Repo) -> str | None:
    """The pager git would start (``git var GIT_PAGER``: ``GIT_PAGER``, ``core.pager``,
    ``PAGER``, else ``less``); None when git names none."""
    import os

    env = {"GIT_PAGER": os.environ["GIT_PAGER"]} if "GIT_PAGER" in os.environ else None
    return repo.git(["var", "GIT_PAGER"], check=False, env=env).out.strip() or None
