"""The setup room: making a repository and a machine ready for git flower, and checking them.

- :mod:`.init`: the briefs branch, a commented ``.flower.toml``, notes config;
- :mod:`.trust`: approving ``.flower.toml`` on this machine, and the guard every command uses;
- :mod:`.hooks`: the installed git hook stubs and what they run;
- :mod:`.completion`: shell completion scripts and their dynamic candidates;
- :mod:`.docs`: the manual (man page and ``docs/cli.md``) from the command tree;
- :mod:`.doctor`: what is wrong with the setup, and the fix for each finding.

Modules import each other by their own names; this package's module loads nothing.
"""
