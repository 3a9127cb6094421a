"""Shell completion: the scripts `git flower completion SHELL` prints, where `install` puts them,
and the dynamic candidates (brief and dispatch ids) the command tree cannot know.

Every shell asks the same question, ``git flower __complete --shell S -- WORD... CURRENT``, and
gets one candidate per line (bash: the value; zsh: ``value:description``; fish:
``value<TAB>description``). For bash the script defines ``_git_flower``, which git's own
completion calls for ``git flower <TAB>`` (and lazy-loads from
``~/.local/share/bash-completion/completions/git-flower``), plus a completion for the
``git-flower`` executable itself. Going through ``git flower`` keeps ``git -C DIR`` working.
"""

from __future__ import annotations

import os
from typing import Any

from flowergit.errors import UsageError
from flowergit.state import files

SHELLS = ("bash", "zsh", "fish")

BASH = r"""# git flower completion for bash. Load it with
#   source <(git flower completion bash)
# or install it where bash-completion finds it: git flower completion install
# _git_flower is called by git's own completion for `git flower <TAB>`.
_git_flower ()
{
	local i start=0 out
	for ((i = 1; i < cword; i++)); do
		if [[ ${words[i]} == flower ]]; then start=$i; break; fi
	done
	((start)) || return 0
	out=$(git ${__git_C_args[@]+"${__git_C_args[@]}"} flower __complete --shell bash -- \
		"${words[@]:start+1:cword-start-1}" "$cur" 2>/dev/null) || return 0
	[[ -n $out ]] || return 0
	__gitcomp_nl "$out" "" "$cur"
}

_git_flower_direct ()
{
	local cur=${COMP_WORDS[COMP_CWORD]} out IFS=$'\n'
	out=$(git-flower __complete --shell bash -- "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null) || return 0
	COMPREPLY=($out)
}
complete -o default -o nosort -F _git_flower_direct git-flower 2>/dev/null \
	|| complete -o default -F _git_flower_direct git-flower
"""

ZSH = r"""#compdef git-flower
# git flower completion for zsh. Put this file on $fpath as _git-flower (for example with
# `git flower completion install --shell zsh`), then run compinit. For `git flower <TAB>` git's
# zsh completion also needs the command listed:
#   zstyle ':completion:*:*:git:*' user-commands flower:'run a fleet of coding agents'
_git-flower () {
	local -a cands
	local cur=${words[CURRENT]}
	local -a before
	local i start=1
	for ((i = 1; i < CURRENT; i++)); do
		if [[ ${words[i]} == flower || ${words[i]} == git-flower ]]; then start=$i; break; fi
	done
	before=(${words[start+1,CURRENT-1]})
	cands=("${(@f)$(git flower __complete --shell zsh -- "${before[@]}" "$cur" 2>/dev/null)}")
	if (( ${#cands} == 0 )) || [[ -z ${cands[1]} ]]; then
		_files
		return
	fi
	_describe -t flower 'git flower' cands
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
	_git-flower "$@"
else
	compdef _git-flower git-flower
fi
"""

FISH = r"""# git flower completion for fish. Install with `git flower completion install --shell fish`
# (fish then completes `git-flower`, and `git flower` through its git completion).
function __git_flower_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l start 1
    for i in (seq (count $tokens))
        if test "$tokens[$i]" = flower -o "$tokens[$i]" = git-flower
            set start $i
            break
        end
    end
    git flower __complete --shell fish -- $tokens[(math $start + 1)..-1] "$cur" 2>/dev/null
end
complete -c git-flower -f -a '(__git_flower_complete)'
complete -c git -f -n '__fish_seen_subcommand_from flower' -a '(__git_flower_complete)'
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}


def script(shell: str) -> str:
    if shell not in SCRIPTS:
        raise UsageError(f"unsupported shell {shell!r}", "supported: " + ", ".join(SHELLS))
    return SCRIPTS[shell]


def detect_shell() -> str:
    name = os.path.basename(os.environ.get("SHELL", "")) or "bash"
    if name not in SHELLS:
        raise UsageError(f"cannot install completion for shell {name!r}",
                         "name one: git flower completion install --shell bash|zsh|fish")
    return name


def install_path(shell: str) -> str:
    home = os.path.expanduser("~")
    if shell == "bash":
        data = os.environ.get("BASH_COMPLETION_USER_DIR") or os.path.join(
            os.environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share"), "bash-completion")
        return os.path.join(data, "completions", "git-flower")
    if shell == "zsh":
        return os.path.join(home, ".zfunc", "_git-flower")
    if shell == "fish":
        conf = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        return os.path.join(conf, "fish", "completions", "git-flower.fish")
    raise UsageError(f"unsupported shell {shell!r}", "supported: " + ", ".join(SHELLS))


NEXT_STEPS = {
    "bash": "git's bash completion loads it on the next `git flower <TAB>` in a new shell "
            "(needs the bash-completion package)",
    "zsh": "add `fpath+=~/.zfunc; autoload -Uz compinit; compinit` to ~/.zshrc and, for "
           "`git flower`, zstyle ':completion:*:*:git:*' user-commands flower:'git flower'",
    "fish": "fish loads it in new shells",
}


def install(shell: str | None = None) -> dict[str, Any]:
    """Write the script where the shell looks for it. Never edits a shell rc file."""
    sh = shell or detect_shell()
    path = install_path(sh)
    text = script(sh)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(path, encoding="utf-8") as f:
            same = f.read() == text
    except OSError:
        same = False
    if not same:
        files.write_atomic(path, text)
    return {"shell": sh, "path": path, "changed": not same, "next": NEXT_STEPS[sh]}


# -- dynamic candidates ------------------------------------------------------------------------
BRIEF_METAVARS = ("N", "N...", "[N]", "[N]...", "BRIEF", "BRIEF...", "[BRIEF]")
DISPATCH_METAVARS = ("N[.K]", "[N[.K]]", "N[.K]...", "[N[.K]]...", "DISPATCH", "DISPATCH...",
                     "N.K")
REMOTE_METAVARS = ("R", "REMOTE", "[REMOTE]")


def kind_of(metavar: str | None) -> str | None:
    """Which dynamic candidates a parameter with this metavar takes (brief, dispatch, remote)."""
    m = (metavar or "").upper()
    if m in BRIEF_METAVARS:
        return "brief"
    if m in DISPATCH_METAVARS:
        return "dispatch"
    if m in REMOTE_METAVARS:
        return "remote"
    return None


def remote_candidates(incomplete: str, cwd: str | None = None) -> list[tuple[str, str]]:
    from flowergit.gitio import config
    from flowergit.ops.context import Ctx

    return [(r, "remote") for r in config.remotes(Ctx(cwd).repo) if r.startswith(incomplete)]


def candidates(kind: str, incomplete: str) -> list[tuple[str, str]]:
    fn = {"brief": brief_candidates, "dispatch": dispatch_candidates,
          "remote": remote_candidates}[kind]
    return fn(incomplete)


def brief_candidates(incomplete: str, cwd: str | None = None) -> list[tuple[str, str]]:
    """(id, title) of briefs whose id starts with ``incomplete``; live ones first."""
    from flowergit.ops import briefs
    from flowergit.ops.context import Ctx

    got = briefs.list_(Ctx(cwd).load())
    items = got.value() if hasattr(got, "value") else got
    order = {"dispatched": 0, "done": 1, "planned": 2, "draft": 3}
    pref = incomplete.lstrip("#")
    rows = [(str(b["id"]), f"{b['title']} [{b['status']}]", order.get(b["status"], 9))
            for b in items if str(b["id"]).startswith(pref)]
    rows.sort(key=lambda r: (r[2], -int(r[0])))
    return [(i, t) for i, t, _ in rows]


def dispatch_candidates(incomplete: str, cwd: str | None = None) -> list[tuple[str, str]]:
    from flowergit.ops.context import Ctx
    from flowergit.state.dispatches import DispatchStore

    ctx = Ctx(cwd)
    out = []
    seen: set[str] = set()
    for h in reversed(DispatchStore(ctx.repo).all()):
        rec = h.record
        did, brief = str(rec.get("id")), str(rec.get("brief"))
        desc = f"{rec.get('state')} {rec.get('agent') or ''}".strip()
        if brief not in seen and brief.startswith(incomplete):
            seen.add(brief)
            out.append((brief, f"latest attempt: {did} {desc}"))
        if did.startswith(incomplete):
            out.append((did, desc))
    return out


def format_candidates(shell: str, items: list[tuple[str, str]]) -> str:
    lines = []
    for value, desc in items:
        value = value.replace("\n", " ")
        desc = " ".join(desc.split())
        if shell == "zsh":
            lines.append(value.replace(":", r"\:") + (f":{desc}" if desc else ""))
        elif shell == "fish":
            lines.append(value + (f"\t{desc}" if desc else ""))
        else:
            lines.append(value)
    return "\n".join(lines) + ("\n" if lines else "")
