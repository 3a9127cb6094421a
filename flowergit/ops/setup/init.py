"""`git flower init`: the briefs branch, a commented `.flower.toml`, notes config."""

from __future__ import annotations

import os
from typing import Any

from flowergit.gitio import config, objects, refs, worktrees, writes
from flowergit.ops.context import Ctx
from flowergit.state import config as cfgmod
from flowergit.state.briefs import README
from flowergit.state.layout import BRIEFS_REF, NOTES_REF


def init(ctx: Ctx, *, remote: str | None = None, agents_md: bool = False) -> dict[str, Any]:
    repo = ctx.repo
    done: list[str] = []
    hints: list[str] = []
    # 1. the briefs branch (a root commit holding a README), create-only
    if refs.read(repo, BRIEFS_REF) is None:
        upstream = None
        if remote:
            upstream = refs.read(repo, f"refs/remotes/{remote}/flower/briefs")
            if upstream is None:  # not fetched yet: start from the remote's, if it has one
                from flowergit.ops.sync import setup as remote_setup

                upstream = remote_setup.fetch_briefs(ctx, remote)
        if upstream is not None:
            new = upstream
        else:
            w = writes.Writer(repo)
            with objects.Batch(repo) as batch:
                blob = w.add("blob", README)
                tree = writes.edit_tree(batch, w, None, {"README.md": (objects.MODE_BLOB, blob)})
            new = w.commit(tree, [], "flower/briefs: start the briefs branch")
            w.flush()
        try:
            refs.transaction(repo, [refs.create(BRIEFS_REF, new)], "git flower init")
            done.append("created branch flower/briefs")
        except refs.CasLost:
            pass  # someone else just made it: fine
    # 2. a commented .flower.toml in the main checkout, if there is none
    main = repo.main_worktree
    if main is not None:
        path = os.path.join(main, cfgmod.FILENAME)
        if not os.path.exists(path):
            target = _current_branch(ctx) or "main"
            text = cfgmod.TEMPLATE.replace('target = "main"', f'target = "{target}"')
            with open(path, "x", encoding="utf-8") as f:
                f.write(text)
            done.append(f"wrote {cfgmod.FILENAME} (commit it to share the policy)")
        else:
            ctx.load()  # validate what is there
    # 3. notes travel with rebases and show in `git log`
    for key, val in (("notes.rewriteRef", NOTES_REF), ("notes.rewrite.rebase", "true"),
                     ("notes.rewrite.amend", "true")):
        if val not in config.get_all(repo, key):
            config.add(repo, key, val)
            done.append(f"set {key}={val}")
    if remote:
        from flowergit.ops.sync import setup as remote_setup

        done += remote_setup.configure(ctx, remote)
    # 4. agents working in this repository learn how to use git flower from AGENTS.md
    if main is not None:
        agents_path = os.path.join(main, "AGENTS.md")
        if agents_md:
            from flowergit.ops.continuity import prime

            added = prime.add_agents_md(agents_path)
            if added["changed"]:
                done.append(f"AGENTS.md: {added['action']}")
        elif not _has_flower_section(agents_path):
            hints.append("add a git flower section for agents to AGENTS.md with "
                         "`git flower init --agents-md`")
    return {"briefs_ref": BRIEFS_REF, "config": cfgmod.FILENAME, "actions": done, "hints": hints}


def _has_flower_section(path: str) -> bool:
    from flowergit.ops.continuity.prime import BEGIN

    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return BEGIN in f.read()
    except OSError:
        return False


def _current_branch(ctx: Ctx) -> str | None:
    return worktrees.head_branch(ctx.repo, ctx.repo.worktree)
