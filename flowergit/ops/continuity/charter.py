"""Role charters: ``templates/charters/<role>.md`` shipped with git flower, overridable per
repository by a committed ``.flower/charters/<role>.md`` in the main checkout.

A charter starts with TOML front matter (``role``, ``version``) between ``+++`` lines; its body
may use ``{{daemon}}``, ``{{role}}``, ``{{lane}}``, ``{{lease}}``, ``{{beat}}``,
``{{successor_of}}`` and ``{{repo}}``, filled in one pass when a daemon is spawned.
"""

from __future__ import annotations

import os
import re
from typing import Any

from flowergit.errors import FlowerError, NotFound, UsageError
from flowergit.ops.context import Ctx
from flowergit.state import tomlcodec
from flowergit.state.ids import name as check_name

OVERRIDE_DIR = os.path.join(".flower", "charters")
BUILTIN_ROLES = ("orchestrator", "worker", "ops", "refine", "reset-successor")
_TOKEN = re.compile(r"\{\{([a-z_]+)\}\}")


def _builtin(role: str) -> str | None:
    from flowergit.ops.dispatch import template_text

    try:
        return template_text(f"charters/{role}.md")
    except FlowerError:
        return None


def parse(text: str, where: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("+++\n"):
        return {}, text
    end = text.find("\n+++\n", 3)
    if end < 0:
        raise UsageError(f"{where}: front matter has no closing '+++' line")
    try:
        meta = tomlcodec.loads(text[4 : end + 1])
    except ValueError as e:  # tomllib.TOMLDecodeError
        raise UsageError(f"{where}: {e}") from None
    return meta, text[end + 5 :]


def load(ctx: Ctx, role: str) -> dict[str, Any]:
    check_name(role, "role")
    main = ctx.repo.main_worktree
    if main is not None:
        path = os.path.join(main, OVERRIDE_DIR, f"{role}.md")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"cannot read {path}: {e}") from None
        if text is not None:
            meta, body = parse(text, path)
            return {"role": role, "version": meta.get("version"), "source": path, "text": body}
    text = _builtin(role)
    if text is None:
        known = sorted(set(BUILTIN_ROLES) | set(_overrides(ctx)))
        raise NotFound(f"no charter for role {role!r}",
                       f"roles with a charter: {', '.join(known)}; add one as "
                       f"{OVERRIDE_DIR}/{role}.md in this repository")
    meta, body = parse(text, f"charters/{role}.md")
    return {"role": role, "version": meta.get("version"), "source": "built-in", "text": body}


def _overrides(ctx: Ctx) -> list[str]:
    main = ctx.repo.main_worktree
    if main is None:
        return []
    try:
        return [f[:-3] for f in os.listdir(os.path.join(main, OVERRIDE_DIR)) if f.endswith(".md")]
    except OSError:
        return []


def fill(text: str, values: dict[str, str]) -> str:
    """One pass of ``{{name}}`` replacement; inserted text is never scanned again."""
    return _TOKEN.sub(lambda m: values.get(m[1], m[0]), text)


def render(ctx: Ctx, role: str, values: dict[str, str]) -> dict[str, Any]:
    got = load(ctx, role)
    lease = float(ctx.config.get("baton", "lease"))
    base = {"role": role, "lane": "main", "daemon": "$FLOWER_DAEMON", "successor_of": "(none)",
            "lease": f"{lease:g}", "beat": f"{max(1.0, lease / 3):g}",
            "repo": ctx.repo.main_worktree or ctx.repo.common_dir}
    base.update(values)
    return {**got, "text": fill(got["text"], base)}


def show(ctx: Ctx, role: str, *, daemon: str | None = None, lane: str | None = None) -> dict[str, Any]:
    values: dict[str, str] = {}
    if daemon:
        values["daemon"] = daemon
    if lane:
        values["lane"] = lane
    return render(ctx, role, values)
