"""The packet: the Markdown file an agent is started with (``templates/packet.md`` filled with
the brief, its branch, worktree, target and base, and the rework or resume notes)."""

from __future__ import annotations

import os

from flowergit.errors import FlowerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowergit.state.schema import Drift

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz_"
RESUMED = ("## Resumed\n\nThis dispatch was interrupted and is now continued in the same "
           "worktree: the work already there is yours; carry on from it.\n")


def template_text(name: str) -> str:
    """A packet template: shipped in the wheel as ``flowergit/templates``, or the repository's
    ``templates/`` for an editable install; ``importlib.resources`` for anything else (a zip)."""
    import flowergit

    pkg = os.path.dirname(os.path.abspath(flowergit.__file__))
    for path in (os.path.join(pkg, "templates", name),
                 os.path.join(os.path.dirname(pkg), "templates", name)):
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except OSError:
            continue
    from importlib import resources

    try:
        return resources.files("flowergit").joinpath("templates", name).read_text(encoding="utf-8")
    except (OSError, ModuleNotFoundError):
        raise FlowerError(f"packet template {name} is missing from this installation",
                          "reinstall git flower") from None


def fill(template: str, values: dict[str, str]) -> str:
    """One pass of ``{{name}}`` replacement (``name`` of ``[a-z_]+``): inserted text is never
    scanned again, and a name without a value is left as it is."""
    out: list[str] = []
    i = 0
    while True:
        j = template.find("{{", i)
        k = template.find("}}", j + 2) if j >= 0 else -1
        if k < 0:
            out.append(template[i:])
            return "".join(out)
        name = template[j + 2:k]
        if name and not name.strip(TOKEN_CHARS):
            out += [template[i:j], values.get(name, template[j:k + 2])]
            i = k + 2
        else:  # not a token here: what follows this "{" may start one
            out.append(template[i:j + 1])
            i = j + 1


def fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text``."""
    n = 4
    while "`" * n in text:
        n += 1
    return "`" * n


def render_packet(*, brief: Any, did: str, branch: str, worktree: str, target: str, base: str,
                  agent: str, rework: Drift | None, resumed: bool = False) -> str:
    body = brief.body
    if rework:
        drift = (f"This is attempt {did}: rework of brief {brief.id} on its existing branch "
                 f"`{branch}`, which already holds {rework['ahead']} commit(s) of earlier work. "
                 f"Since that work's base, `{target}` has moved {rework['behind']} commit(s) "
                 f"ahead (base {rework['base'][:12]}, `{target}` now at {rework['target'][:12]}).")
        if rework["behind"]:
            drift += (f" Bring the branch up to date with `{target}` (merge or rebase it in this "
                      "worktree) before you continue, and resolve any conflicts.")
        rework_text = "## Rework\n\n" + drift + "\n"
    else:
        rework_text = ""
    values = {
        "id": did, "brief": str(brief.id), "kind": brief.kind, "branch": branch,
        "worktree": worktree, "target": target, "base": base, "agent": agent,
        "title": brief.title, "body": body, "fence": fence(body + brief.title),
        "rework": rework_text, "resumed": RESUMED if resumed else "",
        "flower": shell_word(flower_bin()),
    }
    return fill(template_text("packet.md"), values)


def flower_bin() -> str:
    """The absolute path of git-flower (``FLOWER_BIN`` in the agent's environment)."""
    from flowergit.procs.agents import flower_executable

    return flower_executable()


def shell_word(text: str) -> str:
    """``text`` as one word of a POSIX shell command (quoted only where it needs it): what
    ``shlex.quote`` does, without loading ``re`` on dispatch's path (tests/test_layers.py)."""
    safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_"
    if text and all(c in safe for c in text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"
