#!/usr/bin/env python3
"""The peer: `microbeads` (PyPI), installed into a throwaway venv under a cache directory.

    python bench/peers.py [--items 1000]     # install (once) and build the peer's repository

The venv and the peer's repository (``mb init`` then ``mb create TITLE`` per item) are cached
under ``$XDG_CACHE_HOME/flower-bench`` (``~/.cache/flower-bench``), keyed by the item count, so
the minute it takes to create 1,000 items is paid once. Nothing is installed into the project's
own environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import env  # noqa: E402

PEER = "microbeads"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "flower-bench"


class Peer:
    """A built peer: its executable and a repository holding ``items`` items."""

    def __init__(self, mb: Path, repo: Path, items: int, version: str) -> None:
        self.mb = mb
        self.repo = repo
        self.items = items
        self.version = version
        self.scratch: Path | None = None  # where scratch_repo() copies the repository
        self._copy: Path | None = None

    def cmd(self, *args: str) -> list[str]:
        return [str(self.mb), *args]

    def scratch_repo(self) -> Path:
        """A throwaway copy of the peer's repository, for commands that write (``mb create``),
        so the cached one keeps exactly ``items`` items. microbeads keeps its data in a linked
        worktree inside ``.git``: the copy's two link files are pointed at the copy (never
        `git worktree repair`, which would also rewrite the original's links)."""
        if self._copy is None:
            if self.scratch is None:
                import tempfile

                self.scratch = Path(tempfile.mkdtemp(prefix="flower-bench-peer-"))
            dst = self.scratch / self.repo.name
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(self.repo, dst, symlinks=True)
            admin = dst / ".git" / "worktrees"
            for meta in admin.iterdir() if admin.is_dir() else []:
                gitdir = meta / "gitdir"
                if not gitdir.exists():
                    continue
                old = Path(gitdir.read_text().strip())  # <orig worktree>/.git
                try:
                    rel = old.parent.relative_to(self.repo)
                except ValueError:
                    continue
                wt = dst / rel
                gitdir.write_text(f"{wt / '.git'}\n")
                (wt / ".git").write_text(f"gitdir: {meta}\n")
            self._copy = dst
        return self._copy

    def first_id(self) -> str:
        """The id of an item in the middle of the list (for `mb show`)."""
        out = subprocess.run(self.cmd("--json", "list"), cwd=self.repo, env=env(),
                             capture_output=True, text=True, check=True).stdout
        import json

        items = json.loads(out)
        if isinstance(items, dict):
            items = items.get("issues") or items.get("items") or next(iter(items.values()))
        return str(items[len(items) // 2]["id"])


def install(root: Path | None = None) -> Path:
    """The peer's `mb` executable, installing it into ``<cache>/mb-venv`` if needed."""
    root = root or cache_dir()
    venv = root / "mb-venv"
    mb = venv / "bin" / "mb"
    if mb.exists():
        return mb
    root.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env(),
                   stdout=subprocess.DEVNULL)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", PEER], env=env(),
                       capture_output=True, text=True)
    if r.returncode != 0 or not mb.exists():
        shutil.rmtree(venv, ignore_errors=True)
        raise RuntimeError(f"could not install {PEER}: {(r.stderr or r.stdout).strip()[-300:]}")
    # the peer's bytecode, compiled as a wheel install would leave it
    subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", str(venv / "lib")],
                   env=env(), stdout=subprocess.DEVNULL)
    return mb


def version(mb: Path) -> str:
    r = subprocess.run([str(mb.parent / "pip"), "show", PEER], capture_output=True, text=True, env=env())
    for line in r.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "?"


def build(items: int = 1000, root: Path | None = None, progress: bool = True) -> Peer:
    """The peer installed and a repository with ``items`` items (cached)."""
    root = root or cache_dir()
    mb = install(root)
    repo = root / f"mb-repo-{items}"
    done = repo / ".complete"
    if not done.exists():
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir(parents=True)
        e = env()
        for cmd in (["git", "init", "-q", "-b", "main"], ["git", "commit", "-q", "--allow-empty", "-m", "init"],
                    [str(mb), "init"]):
            subprocess.run(cmd, cwd=repo, env=e, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        for i in range(items):
            if progress and i % 100 == 0:
                sys.stderr.write(f"\rbuilding the peer's repository: {i}/{items} items")
                sys.stderr.flush()
            subprocess.run([str(mb), "create", f"peer issue {i}"], cwd=repo, env=e, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if progress:
            sys.stderr.write(f"\rbuilding the peer's repository: {items}/{items} items\n")
        done.write_text(f"{items}\n")
    return Peer(mb, repo, items, version(mb))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1000)
    a = ap.parse_args()
    p = build(a.items)
    print(f"{PEER} {p.version}: {p.mb}; repository with {p.items} items at {p.repo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
