"""The manual: one source (the command tree) rendered as a man page and as ``docs/cli.md``.

The CLI layer turns the typer command tree into a plain model (:class:`Cmd`, :class:`Param`);
this module renders it. ``git-flower.1`` is produced by docutils' man page writer from
reStructuredText (no hand-written roff), is checked in under ``man/`` and shipped in the wheel
as ``share/man/man1/git-flower.1``, where ``man git-flower`` (and so ``git flower --help``)
finds it. ``docs/cli.md`` is the same text as Markdown. :func:`stale` tells which checked-in
file no longer matches the tree, so CI fails when someone changes a command and forgets them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from flowergit import __version__
from flowergit.errors import Unsupported
from flowergit.state import files

MAN_PATH = os.path.join("man", "git-flower.1")
MD_PATH = os.path.join("docs", "cli.md")


@dataclass
class Param:
    kind: str  # "argument" | "option"
    decl: str  # "-F, --body-file TEXT" or "TITLE"
    help: str = ""
    required: bool = False


@dataclass
class Cmd:
    path: list[str]  # ["brief", "new"]; [] for the root
    usage: str  # "git flower brief new [OPTIONS] TITLE"
    help: str = ""
    short: str = ""
    params: list[Param] = field(default_factory=list)
    commands: list[Cmd] = field(default_factory=list)

    @property
    def name(self) -> str:
        return " ".join(["git flower", *self.path])

    def walk(self) -> list[Cmd]:
        out = [self]
        for c in self.commands:
            out += c.walk()
        return out


# -- fixed prose: what the command tree cannot say ------------------------------------------
DESCRIPTION = """\
git flower lets one person, or an orchestrating agent, run a fleet of coding agents on one
repository. File *briefs* (numbered work items kept as files on the ``flower/briefs`` branch),
*dispatch* each to an agent in its own worktree, watch them, *merge* their work through a test
gate that never loses local work, and hand the orchestrator's *baton* from one process to the
next. Every piece of coordination state lives in git: files on a branch, refs under
``refs/flower/``, and notes in ``refs/notes/flower``, so it is versioned, inspectable with plain
git, and travels between machines through any git remote.

Every command that prints data takes ``--json`` and prints one document
``{"version":1,"ok":true,"data":...}`` (or ``"ok":false`` with an ``error`` object) on standard
output; progress and warnings go to standard error. On a terminal, lists are tables; piped, they
are plain, untruncated text with control characters escaped. List-like commands also take
``--porcelain`` (tab-separated, stable) and ``--format`` (``%(field)`` atoms, as in
``git for-each-ref``)."""

EXIT_STATUS = [
    ("0", "done"),
    ("1", "internal error: a bug (rerun with GIT_FLOWER_TRACE=1 for the traceback)"),
    ("2", "usage: bad arguments, a bad id, a bad or untrusted .flower.toml"),
    ("3", "not found: no such brief, dispatch, signal or daemon"),
    ("4", "conflict: lost a race or something is held (a claim, the baton, a checked-out "
          "branch, a merge conflict, a local-only file in the way)"),
    ("5", "tests failed: the suite refused the merge"),
    ("6", "unsupported: git too old (< 2.38), a bare repository where a worktree is needed, "
          "an unsupported repository shape"),
    ("75", "temporary: a remote unreachable, a lock busy, a wait timed out, a full disk or another "
           "resource used up (code resource_exhausted); retry once it is back"),
    ("130", "interrupted, after restoring everything"),
]

ENVIRONMENT = [
    ("GIT_FLOWER_TRACE", "Set to 1 to print a traceback for internal errors."),
    ("GIT_FLOWER_SKIP_HOOKS", "Set to 1 to make the installed git hooks do nothing."),
    ("NO_COLOR", "Never style output (``--color`` and ``color.ui`` are honoured too)."),
    ("FLOWER_DISPATCH, FLOWER_BRIEF, FLOWER_PACKET, FLOWER_WORKTREE",
     "Given to every agent: its dispatch id, brief, packet file and worktree. "
     "``git flower prime`` reads them."),
    ("FLOWER_DAEMON", "The daemon id a command speaks for (signals, baton, hand-off)."),
    ("XDG_DATA_HOME", "Where ``git flower trust`` keeps the hashes of trusted configs "
                      "(default ``~/.local/share/git-flower/trust``)."),
]

FILES = [
    (".flower.toml", "Team policy, committed: target branch, worktree location, concurrency cap, "
                     "suite command, local-only files, agent profiles. Read from the main checkout."),
    ("$GIT_COMMON_DIR/flower/", "Machine-local runtime state: logs, packets, pids, the merge "
                                "journal, caches. Never shared, never committed."),
    ("refs/heads/flower/briefs", "The briefs branch: one file per brief, hand-off scratchpads."),
    ("refs/flower/", "Dispatch records, signals and claims, daemons, the baton, merge recovery."),
    ("refs/notes/flower", "Provenance of merges and suite attestations, one JSON object per line."),
]

EXAMPLES = [
    ("git flower init && git flower trust", "Set up a repository: the briefs branch, a commented "
     ".flower.toml, notes config; then approve the config's commands on this machine."),
    ("git flower brief new 'Fix the login timeout' -m 'Details...'", "File a brief; prints its id."),
    ("git flower dispatch 12 --agent codex", "Start an agent on brief 12 in its own worktree."),
    ("git flower watch", "Follow the fleet live until Ctrl-C."),
    ("git flower merge 12", "Land brief 12 if the suite passes on the merged tree (exit 5 if not)."),
    ("git flower status --json", "The same, as one JSON document for scripts and agents."),
    ("git flower doctor --fix", "Find what is wrong with the setup and fix what is safe to fix."),
]

SEE_ALSO = "git(1), git-worktree(1), git-notes(1), git-update-ref(1)"


# -- reStructuredText → man -------------------------------------------------------------------
def _rst_escape(text: str) -> str:
    """Literal text inside reStructuredText (``*``, backquotes and the like lose their meaning)."""
    return re.sub(r"([\\`*_|\[\]])", r"\\\1", text)


def _para(text: str) -> str:
    """Help text → reStructuredText paragraphs (click's ``\\b`` blocks kept as line blocks)."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.split("\n")
        if lines and lines[0].strip() == "\b":
            out.append("\n".join("| " + _rst_escape(ln.strip()) for ln in lines[1:] if ln.strip()))
        else:
            out.append(_rst_escape(" ".join(ln.strip() for ln in lines)))
    return "\n\n".join(out)


def _prose(text: str) -> str:
    """Reflow hard-wrapped paragraphs (blank-line separated) into one line each."""
    return "\n\n".join(" ".join(p.split("\n")) for p in text.split("\n\n"))


def rst(root: Cmd) -> str:
    title = "git-flower"
    sub = root.short or "run a fleet of coding agents on one repository"
    parts = [
        "=" * len(title), title, "=" * len(title), "",
        "-" * len(sub), sub, "-" * len(sub), "",
        ":Manual section: 1",
        ":Manual group: Git Flower Manual",
        f":Version: git flower {__version__}",
        "",
        "SYNOPSIS", "========", "",
        "| git flower [--color WHEN] <command> [<args>]",
        "| git flower help [<command>...]",
        "| git flower <command> -h",
        "",
        "DESCRIPTION", "===========", "", _prose(DESCRIPTION), "",
        "COMMANDS", "========", "",
    ]
    for cmd in root.walk()[1:]:
        if cmd.commands and not cmd.params:
            # a noun: its commands follow; say what it is about
            parts += [f"**{cmd.name}**", "", "  " + _para(cmd.help or cmd.short), ""]
            continue
        parts += [f"**{_rst_escape(cmd.usage)}**", ""]
        if cmd.help:
            parts += ["  " + _para(cmd.help).replace("\n", "\n  "), ""]
        for p in cmd.params:
            if p.decl in ("-h, --help",):
                continue
            parts += [f"  ``{p.decl}``", f"    {_rst_escape(p.help) or '(no description)'}", ""]
    parts += ["GLOBAL OPTIONS", "==============", ""]
    for p in root.params:
        parts += [f"``{p.decl}``", f"  {_rst_escape(p.help)}", ""]
    parts += ["EXAMPLES", "========", ""]
    for example, text in EXAMPLES:
        parts += [f"``{example}``", f"  {_rst_escape(text)}", ""]
    parts += ["EXIT STATUS", "===========", ""]
    for code, text in EXIT_STATUS:
        parts += [f"**{code}**", f"  {_rst_escape(text)}", ""]
    parts += ["ENVIRONMENT", "===========", ""]
    for name, text in ENVIRONMENT:
        parts += [f"**{name}**", f"  {text}", ""]
    parts += ["FILES", "=====", ""]
    for name, text in FILES:
        parts += [f"``{name}``", f"  {text}", ""]
    parts += ["SEE ALSO", "========", "", SEE_ALSO, ""]
    return "\n".join(parts)


def man(root: Cmd) -> str:
    """The roff man page, rendered by docutils (a build-time dependency: the `docs` extra)."""
    try:
        from docutils.core import publish_string
    except ImportError:  # pragma: no cover - depends on the environment
        raise Unsupported("rendering the man page needs docutils",
                          "pip install 'git-flower[docs]' (or docutils) and retry") from None
    out = publish_string(rst(root), writer="manpage",
                         settings_overrides={"report_level": 2, "halt_level": 2,
                                             "output_encoding": "utf-8"})
    text = out.decode("utf-8") if isinstance(out, bytes) else str(out)
    return text


# -- Markdown ---------------------------------------------------------------------------------
def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(root: Cmd) -> str:
    parts = [
        "# git flower command reference",
        "",
        "<!-- Generated from the command tree by `python scripts/gen_docs.py`; do not edit. "
        "A test fails when this file is stale. -->",
        "",
        DESCRIPTION,
        "",
        "```",
        root.usage,
        "```",
        "",
        "| option | meaning |",
        "|---|---|",
        *(f"| `{_md_escape(p.decl)}` | {_md_escape(p.help)} |" for p in root.params),
        "",
        "Commands:",
        "",
    ]
    for cmd in root.walk()[1:]:
        anchor = "-".join(cmd.path)
        parts.append(f"- [`{cmd.name}`](#{anchor}){' — ' + cmd.short if cmd.short else ''}")
    parts.append("")
    for cmd in root.walk()[1:]:
        parts += [f"## <a id=\"{'-'.join(cmd.path)}\"></a>`{cmd.name}`", ""]
        if cmd.help:
            parts += [cmd.help.replace("\b\n", "").strip(), ""]
        parts += ["```", cmd.usage, "```", ""]
        if cmd.commands:
            parts += ["| command | what it does |", "|---|---|"]
            parts += [f"| `{c.name}` | {_md_escape(c.short)} |" for c in cmd.commands]
            parts.append("")
        shown = [p for p in cmd.params if p.decl != "-h, --help"]
        if shown:
            parts += ["| argument or option | meaning |", "|---|---|"]
            parts += [f"| `{_md_escape(p.decl)}` | {_md_escape(p.help)}"
                      f"{' (required)' if p.required and p.kind == 'option' else ''} |" for p in shown]
            parts.append("")
    parts += ["## Examples", ""]
    for example, text in EXAMPLES:
        parts += [f"- `{example}`: {text}"]
    parts += ["", "## Exit status", "", "| exit | meaning |", "|---|---|"]
    parts += [f"| {c} | {_md_escape(t)} |" for c, t in EXIT_STATUS]
    parts += ["", "## Environment", "", "| variable | meaning |", "|---|---|"]
    parts += [f"| `{n}` | {_md_escape(t)} |" for n, t in ENVIRONMENT]
    parts.append("")
    return "\n".join(parts)


# -- files --------------------------------------------------------------------------------------
def rendered(root: Cmd) -> dict[str, str]:
    return {MAN_PATH: man(root), MD_PATH: markdown(root)}


def stale(root: Cmd, project: str) -> list[str]:
    """The generated files under ``project`` that differ from what the tree renders now."""
    out = []
    for rel, text in rendered(root).items():
        try:
            with open(os.path.join(project, rel), encoding="utf-8") as f:
                have = f.read()
        except OSError:
            have = None
        if have != text:
            out.append(rel)
    return out


def write(root: Cmd, project: str) -> list[str]:
    """Write the generated files that changed; return their paths (relative to ``project``)."""
    changed = []
    texts = rendered(root)
    for rel in stale(root, project):
        files.write_atomic(os.path.join(project, rel), texts[rel])
        changed.append(rel)
    return changed
