"""`git flower doctor [--fix]`: find what is wrong with this repository's setup, and say the fix.

Each check returns findings ``{check, status: ok|warn|error, message, fix}``; ``fix`` is the
command or step that repairs it. ``--fix`` applies only the repairs that cannot lose anything:
notes config, refspecs for the configured remote, a stale lock that is provably stale (older
than a threshold and no git process works in this repository), a deleted worktree whose branch
holds no unmerged work, an interrupted merge (``recover`` is safe to run any time), the man page
link. Trust is never granted by ``--fix``: a person reviews the config and runs ``git flower
trust``.

Over 500 lines because it is one catalogue of independent checks, each a few dozen lines, run in
order by :func:`run`; a reader looking for what ``doctor`` checks finds them all side by side.
"""

from __future__ import annotations

import os
import sys
import time

from flowergit.errors import FlowerError
from flowergit.gitio import config, history, refs, runner, worktrees
from flowergit.gitio.repo import git_version
from flowergit.gitio.runner import GitError
from flowergit.ops.context import Ctx
from flowergit.render.text import human_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Finding = dict[str, Any]

LOCK_AGE = 600.0  # seconds: a git lock older than this, with no git process around, is stale
OK, WARN, ERROR = "ok", "warn", "error"


def finding(check: str, status: str, message: str, fix: str | None = None, **data: Any) -> Finding:
    out: Finding = {"check": check, "status": status, "message": message, "fix": fix}
    if data:
        out["data"] = data
    return out


# -- git and the repository -----------------------------------------------------------------
def check_git() -> list[Finding]:
    line, ver = git_version()
    if ver is None:
        return [finding("git", ERROR, f"cannot understand `git version`: {line[:80]!r}",
                        "install git >= 2.38")]
    text = ".".join(map(str, ver))
    if ver[:2] < runner.MIN_GIT:
        return [finding("git", ERROR, f"git {text} is too old; git flower needs >= 2.38 "
                        "(`git merge-tree --write-tree`)", "upgrade git to 2.38 or later",
                        version=text)]
    return [finding("git", OK, f"git {text}", version=text)]


def check_shape(ctx: Ctx) -> list[Finding]:
    repo = ctx.repo
    out: list[Finding] = []
    if repo.bare:
        out.append(finding("repo", WARN, "bare repository: briefs and signals work, dispatch and "
                           "merge need a worktree", "run git flower from a worktree (`git worktree add`)"))
    fmt = config.get(repo, "extensions.refStorage")
    shallow = repo.is_shallow()
    bits = [f"objects {repo.object_format}", f"refs {fmt or 'files'}"]
    if fmt == "reftable":
        out.append(finding("repo", OK, "reftable ref storage: git flower uses the git CLI for "
                           "every ref (libgit2 cannot read reftable)"))
    if shallow:
        out.append(finding("repo", WARN, "shallow clone: merge bases and commit counts may be wrong",
                           "git fetch --unshallow"))
    if not out or all(f["status"] == OK for f in out):
        out.append(finding("repo", OK, ", ".join(bits) + (", bare" if repo.bare else "")))
    return out


def check_init(ctx: Ctx, fix: bool) -> list[Finding]:
    from flowergit.state.layout import BRIEFS_REF

    if refs.read(ctx.repo, BRIEFS_REF) is not None:
        return [finding("init", OK, "flower/briefs branch present")]
    f = finding("init", WARN, "git flower is not set up here (no flower/briefs branch)",
                "git flower init")
    if fix:
        from flowergit.ops.setup import init as ops_init

        ops_init.init(ctx)
        f.update(status=OK, fixed=True, message="ran `git flower init`")
    return [f]


def check_config(ctx: Ctx) -> list[Finding]:
    """.flower.toml parses, and its commands are trusted on this machine."""
    try:
        cfg = ctx.config
    except FlowerError as e:
        return [finding("config", ERROR, e.message, e.hint or "fix .flower.toml")]
    if cfg.path is None:
        return [finding("config", OK, "no .flower.toml: built-in defaults apply")]
    from flowergit.state import trust as store

    if store.is_trusted(cfg.path, cfg.raw):
        return [finding("trust", OK, f"{cfg.path} is trusted on this machine")]
    changed = store.load(cfg.path) is not None
    runs = bool(cfg.agents) or "command" in cfg.data.get("suite", {})
    why = "changed since you trusted it" if changed else "not trusted on this machine"
    status = WARN if runs else OK
    msg = (f"untrusted config: {cfg.path} is {why}"
           + ("; its agent and suite commands will not run" if runs else
              " (it names no commands, so nothing is blocked)"))
    return [finding("trust", status, msg, "review it with `git flower trust --show`, then run "
                                          "`git flower trust`")]


def check_notes(ctx: Ctx, fix: bool) -> list[Finding]:
    from flowergit.state.layout import NOTES_REF

    repo = ctx.repo
    want = [("notes.rewriteRef", NOTES_REF), ("notes.rewrite.rebase", "true"),
            ("notes.rewrite.amend", "true")]
    missing = [(k, v) for k, v in want if v not in config.get_all(repo, k)]
    if not missing:
        return [finding("notes", OK, "provenance notes follow rebases and amends")]
    text = ", ".join(f"{k}={v}" for k, v in missing)
    f = finding("notes", WARN, f"notes config missing ({text}): provenance is lost when a merged "
                "commit is rebased or amended", "; ".join(f"git config --add {k} {v}" for k, v in missing))
    if fix:
        for k, v in missing:
            config.add(repo, k, v)
        f.update(status=OK, fixed=True, message=f"set {text}")
    return [f]


def check_refspecs(ctx: Ctx, fix: bool) -> list[Finding]:
    from flowergit.ops import sync as ops_remote
    from flowergit.ops.sync import setup as remote_setup

    repo = ctx.repo
    remotes = config.remotes(repo)
    name = ops_remote.configured(ctx)
    if name is None:
        if not remotes:
            return [finding("refspecs", OK, "no remote: flower state stays on this machine")]
        cand = "origin" if "origin" in remotes else remotes[0]
        return [finding("refspecs", WARN, f"missing refspecs: remote {cand} does not carry flower "
                        "state (briefs, claims, dispatches, baton, notes)",
                        f"git flower remote {cand}", remote=cand)]
    if name not in remotes:
        return [finding("refspecs", ERROR, f"flower.remote names {name!r}, which is not a remote",
                        f"git remote add {name} URL, or git config --unset flower.remote")]
    have = config.get_all(repo, f"remote.{name}.fetch")
    missing = [s for s in remote_setup.fetch_specs(name) if not remote_setup.covered(have, s, name)]
    if not missing:
        return [finding("refspecs", OK, f"remote {name} carries flower state")]
    f = finding("refspecs", WARN, f"missing refspecs on remote {name}: {' '.join(missing)}",
                f"git flower remote {name}", remote=name, missing=missing)
    if fix:
        remote_setup.configure(ctx, name)
        f.update(status=OK, fixed=True, message=f"added fetch refspecs for remote {name}")
    return [f]


def check_hooks(ctx: Ctx, fix: bool) -> list[Finding]:
    """Hooks are optional; installed ones must be current and find git-flower."""
    from flowergit.ops.setup import hooks as ops_hooks

    st = ops_hooks.status(ctx)
    where = f" (core.hooksPath={st['hooks_path']})" if st["hooks_path"] else ""
    ours = [h for h in st["hooks"] if h["state"] in ("installed", "outdated")]
    if not ours:
        if ops_hooks.remembered(ctx):
            return []  # installed once and gone since: check_lost_hooks says how
        return [finding("hooks", OK, f"git flower hooks not installed (optional){where}",
                        "git flower hooks install")]
    stale = [h["event"] for h in ours if h["state"] == "outdated"]
    broken = [h["event"] for h in ours if not h["bin_ok"]]
    if not stale and not broken:
        names = ", ".join(h["event"] for h in ours)
        skip = "; skipped now: GIT_FLOWER_SKIP_HOOKS=1" if st["skip"] else ""
        return [finding("hooks", OK, f"git flower hooks installed: {names}{where}{skip}")]
    what = []
    if stale:
        what.append(f"outdated: {', '.join(stale)}")
    if broken:
        what.append(f"recorded git-flower path missing: {', '.join(broken)}")
    f = finding("hooks", WARN, f"git flower hooks need a refresh ({'; '.join(what)}){where}",
                "git flower hooks install" + (" --force" if st["hooks_path"] else ""))
    if fix:
        ops_hooks.install(ctx, force=bool(st["hooks_path"]),
                          events=tuple(h["event"] for h in ours))
        f.update(status=OK, fixed=True, message="refreshed git flower hooks: "
                 + ", ".join(h["event"] for h in ours))
    return [f]


def check_lost_hooks(ctx: Ctx) -> list[Finding]:
    """Hooks `hooks install` installed (it remembers them) that another hook manager replaced,
    renamed, made non-executable or disabled (``core.hooksPath``): each an error naming the
    manager when its files tell, with the command that restores git flower's part. One whose
    manager runs git flower's hook anyway (its config has the integration, or pre-commit runs
    ours as ``<hook>.legacy``) is fine."""
    from flowergit.ops.setup import hooks as ops_hooks

    out: list[Finding] = []
    for h in ops_hooks.lost(ctx):
        by = f" by {h['manager']}" if h["manager"] else ""
        data = {k: h[k] for k in ("event", "path", "how", "manager", "moved_to")}
        if h.get("twice"):
            out.append(finding("hooks", WARN, f"{h['event']} runs git flower's hook twice: "
                               f"{h['manager']}'s config calls it, and {h['manager']} also runs "
                               f"git flower's stub kept as {h['moved_to']}",
                               f"{h['manager']} install -f --hook-type {h['event']} (drops "
                               f"{os.path.basename(str(h['moved_to']))})", **data))
            continue
        if h["runs"]:
            via = h["manager"] or "another manager"
            out.append(finding("hooks", OK, f"{h['event']} hook {h['how']}{by}; {via} runs git "
                               f"flower's {h['event']} hook", **data))
            continue
        out.append(finding("hooks", ERROR, f"git flower's {h['event']} hook was {h['how']}{by}: "
                           f"{h['why']}; git no longer runs it", h["fix"], **data))
    return out


# -- locks ------------------------------------------------------------------------------------
def _git_processes_here(ctx: Ctx) -> tuple[list[int], bool]:
    """PIDs of git processes working in this repository; and whether every git process could be
    inspected (if not, nothing is *provably* stale)."""
    import psutil

    repo = ctx.repo
    roots = {os.path.realpath(repo.common_dir)}
    try:
        from flowergit.gitio.worktrees import list_worktrees

        roots |= {os.path.realpath(w.path) for w in list_worktrees(repo) if w.path}
    except FlowerError:
        pass
    mine: list[int] = []
    complete = True
    for p in psutil.process_iter(["name", "pid"]):
        try:
            name = p.info["name"] or ""
            if not (name == "git" or name.startswith("git-")) or name == "git-flower":
                continue
            cwd = os.path.realpath(p.cwd())
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            complete = False
            continue
        if any(cwd == r or cwd.startswith(r + os.sep) for r in roots):
            mine.append(p.pid)
    return mine, complete


def _locks(common: str) -> list[str]:
    """Every ``*.lock`` file git may have left in the common directory: all of it but ``flower/``
    (git flower's own flock files) and, under ``objects/``, only ``info``, ``pack`` and
    ``commit-graphs`` (not the 256 loose-object directories). A directory stack over
    ``os.scandir``: a repository with thousands of loose refs has a thousand directories, where
    ``os.walk`` cost more than the rest of doctor's own work."""
    out = []
    stack = [(common, "")]
    while stack:
        path, rel = stack.pop()
        try:
            it = os.scandir(path)
        except OSError:
            continue
        with it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    if rel == "" and e.name == "flower":
                        continue
                    if rel == "objects" and e.name not in ("info", "pack", "commit-graphs"):
                        continue
                    stack.append((e.path, e.name if rel == "" else f"{rel}/{e.name}"))
                elif e.name.endswith(".lock"):
                    out.append(e.path)
    return sorted(out)


def check_locks(ctx: Ctx, fix: bool, lock_age: float = LOCK_AGE,
                now: Callable[[], float] = time.time) -> list[Finding]:
    common = ctx.repo.common_dir
    locks = _locks(common)
    if not locks:
        return [finding("locks", OK, "no lock files")]
    procs, complete = _git_processes_here(ctx)
    out = []
    t = now()
    for path in locks:
        try:
            age = max(0.0, t - os.lstat(path).st_mtime)
        except FileNotFoundError:
            continue  # released while we looked
        rel = os.path.relpath(path, common)
        stale = age >= lock_age and not procs and complete
        why = []
        if age < lock_age:
            why.append(f"younger than {human_duration(lock_age)}")
        if procs:
            why.append("git is running here (pid " + ", ".join(map(str, procs[:5])) + ")")
        if not complete:
            why.append("some git processes could not be inspected")
        f = finding("locks", ERROR if stale else WARN,
                    f"lock file {rel} (age {human_duration(age)}): "
                    + ("stale: git commands that need it will fail"
                       if stale else "held, or not provably stale: " + "; ".join(why)),
                    ("git flower doctor --fix removes it" if stale else
                     f"if no git command is running in this repository, remove {path}"),
                    path=path, age=round(age, 1), stale=stale)
        if fix and stale:
            try:
                os.unlink(path)
                f.update(status=OK, fixed=True, message=f"removed stale lock {rel} (age {human_duration(age)})")
            except FileNotFoundError:
                f.update(status=OK, fixed=True, message=f"lock {rel} is gone")
        out.append(f)
    return out


# -- worktrees, dispatches, recovery ------------------------------------------------------------
def _unmerged(ctx: Ctx, branch_ref: str | None, head: str | None) -> int | None:
    """Commits on the worktree's branch (or detached HEAD) that no other ref holds; None if the
    answer is unknown."""
    tip = branch_ref or head
    if not tip:
        return None
    # tip comes from git's own worktree listing (a full ref name or an object id)
    return history.count_unshared(ctx.repo, tip, branch_ref)


def check_worktrees(ctx: Ctx, fix: bool) -> list[Finding]:
    from flowergit.gitio.worktrees import list_worktrees

    repo = ctx.repo
    out: list[Finding] = []
    for wt in list_worktrees(repo)[1:]:
        gone = not os.path.isdir(wt.path)
        if not (wt.prunable or gone):
            continue
        name = wt.branch.removeprefix("refs/heads/") if wt.branch else f"detached {str(wt.head)[:12]}"
        n = _unmerged(ctx, wt.branch, wt.head)
        held = f"branch {name} holds {n} commit(s) no other branch has" if n else ""
        msg = f"prunable worktree {wt.path} ({name}): its directory is gone"
        if wt.locked is not None:
            msg += f"; locked ({wt.locked or 'no reason'})"
        if held:
            msg += f"; {held}"
        force = "--force --force" if wt.locked is not None else "--force"
        if n == 0:
            fix_text = "git flower doctor --fix prunes it"
        elif wt.branch:
            fix_text = (f"merge or keep the work on {name} (`git flower merge` or push it), then "
                        f"git worktree remove {force} {wt.path}")
        else:
            fix_text = (f"keep the commits first: git branch rescued {wt.head}; then "
                        f"git worktree remove {force} {wt.path}")
        f = finding("worktrees", WARN, msg, fix_text, path=wt.path, branch=wt.branch,
                    unmerged=n, locked=wt.locked is not None)
        if fix and n == 0:
            try:
                worktrees.remove(repo, wt.path, force=2 if wt.locked is not None else 1, check=True)
                f.update(status=OK, fixed=True, message=f"pruned worktree {wt.path} ({name})")
            except GitError as e:
                f["message"] += f"; prune failed: {e.err.strip()}"
        elif fix and n:
            f["message"] += " (kept: unmerged work)"
        out.append(f)
    return out or [finding("worktrees", OK, "no prunable worktrees")]


def check_dispatches(ctx: Ctx) -> list[Finding]:
    from flowergit.ops.dispatch.liveness import view_state
    from flowergit.state.dispatches import DispatchStore

    from flowergit.ops.dispatch.paths import dispatch_cache

    out = []
    now = time.time()
    for h in DispatchStore(ctx.repo).all_cached(dispatch_cache(ctx.repo)):
        rec = h.record
        did = rec.get("id")
        if rec.get("outcome") == "lost" and rec.get("state") != "released":
            out.append(finding("dispatches", WARN,
                               f"lost dispatch {did}: its supervisor failed before recording how "
                               f"the attempt went: {str(rec.get('error') or 'no reason recorded')[:200]}",
                               f"git flower logs {did}; then git flower dispatch {rec.get('brief')} "
                               f"--rework to try again, or git flower clean {did}",
                               id=did, brief=rec.get("brief")))
            continue
        if view_state(rec, now) != "lost":
            continue
        out.append(finding("dispatches", WARN,
                           f"lost dispatch {did}: recorded {rec.get('state')}, but its agent and "
                           "supervisor are gone (crash or reboot)",
                           f"git flower logs {did}; then git flower dispatch {rec.get('brief')} "
                           f"to rework, or git flower clean {did}", id=did, brief=rec.get("brief")))
    return out or [finding("dispatches", OK, "no lost dispatches")]


def check_recovery(ctx: Ctx, fix: bool) -> list[Finding]:
    from flowergit.ops.pending import interrupted

    pend = interrupted(ctx)
    if not pend:
        return [finding("recovery", OK, "no interrupted merge")]
    out = []
    for j in pend:
        f = finding("recovery", ERROR, f"interrupted merge of brief {j.get('brief')} into "
                    f"{j.get('into')} (op {j.get('op')}): nothing new starts until it is recovered",
                    "git flower recover", op=j.get("op"), brief=j.get("brief"))
        out.append(f)
    if fix:
        from flowergit.ops.merge import recover as ops_recover

        done = ops_recover.recover(ctx)
        for f, r in zip(out, done):
            f.update(status=OK, fixed=True, message=f"recovered op {f['data']['op']}: "
                     f"{r.get('outcome') or r.get('action') or 'done'}")
    return out


# -- broken state: brief files and state refs ---------------------------------------------------
def check_brief_files(ctx: Ctx) -> list[Finding]:
    """Brief files on flower/briefs that do not parse or whose front matter is not valid (broken
    TOML, bytes that are not UTF-8, no or unclosed front matter, an id that is not the path's, an
    unknown status, a field of the wrong type): each named with what is wrong and the repair."""
    from flowergit.state.layout import BRIEFS_BRANCH, BRIEFS_REF

    if refs.read(ctx.repo, BRIEFS_REF) is None:
        return []  # `init` says so
    store = ctx.briefs()
    # the list cache's header counts them: the records are decoded only when one is broken
    bad = [b for b in store.all() if b.get("status") == "broken"] if store.counts().get("broken") else []
    strays = [finding("briefs", WARN, f"{BRIEFS_BRANCH}:{p} is at no brief's path "
                      "(briefs/SHARD/ID.md): it is not listed and no command reads it",
                      "move it to its brief's path, or remove it, on the flower/briefs branch",
                      file=f"{BRIEFS_BRANCH}:{p}") for p in store.strays()]
    if not bad and not strays:
        return [finding("briefs", OK, "every brief file parses")]
    return [finding("briefs", ERROR, f"brief file {b['file']} does not parse: {b['error']}",
                    b.get("hint"), id=b["id"], file=b["file"]) for b in bad] + strays


def check_state_refs(ctx: Ctx, fix: bool) -> list[Finding]:
    """State refs that are no record chain (a blob or tree where a commit belongs, a commit without
    record.json, a record that is not JSON, a missing object). ``--fix`` moves each aside under
    ``refs/flower/lost/<original path>`` in one compare-and-swap transaction (never a delete of
    anything that exists), after which the commands that were blocked work again."""
    from flowergit.state import records

    out: list[Finding] = []
    for ref, oid, what in records.corrupt(ctx.repo):
        lost = records.lost_ref(ref)
        f = finding("state refs", ERROR, f"corrupt state ref {ref}: {what}",
                    f"git flower doctor --fix (moves it to {lost})", ref=ref, oid=oid)
        if fix:
            missing = "missing from this repository" in what
            ops = [refs.delete(ref, oid)] if missing else [refs.create(lost, oid),
                                                           refs.delete(ref, oid)]
            try:
                refs.transaction(ctx.repo, ops, f"flower doctor: move corrupt {ref} aside")
            except refs.CasLost:
                f["message"] += f"; not moved: {ref} changed meanwhile, or {lost} exists"
            else:
                moved = (f"dropped {ref} (it named {oid}, which is missing: nothing to keep)"
                         if missing else f"moved corrupt {ref} to {lost}")
                f.update(status=OK, fixed=True, message=moved)
        out.append(f)
    return out or [finding("state refs", OK, "every state ref is a record chain")]


# -- the manual ---------------------------------------------------------------------------------
def packaged_man() -> str | None:
    """The man page this installation shipped (``<prefix>/share/man/man1/git-flower.1``)."""
    for prefix in (sys.prefix, sys.base_prefix):
        p = os.path.join(prefix, "share", "man", "man1", "git-flower.1")
        if os.path.isfile(p):
            return p
    # an editable install from a checkout: the generated page beside the package
    import flowergit

    here = os.path.dirname(os.path.dirname(os.path.abspath(flowergit.__file__)))
    p = os.path.join(here, "man", "git-flower.1")
    return p if os.path.isfile(p) else None


def man_found(cache: str | None = None) -> bool | None:
    """Does ``man git-flower`` find a page? None when there is no ``man`` at all.

    With ``cache`` (a file), man's answer is kept beside what it depends on (``man`` itself,
    ``PATH``, ``MANPATH``, the page this installation ships, the user's link and man's
    configuration, each with its time of change) and asked again only when one of them changed:
    ``man -w`` costs more than the rest of doctor's checks of a small repository together."""
    import shutil

    man = shutil.which("man")
    if man is None:
        return None
    user = os.path.join(os.path.expanduser("~"), ".local", "share", "man", "man1", "git-flower.1")
    key: list[str | int | None] = [man, os.environ.get("PATH", ""), os.environ.get("MANPATH", ""),
                                   packaged_man()]
    for path in (man, user, os.path.dirname(user), "/etc/manpath.config", packaged_man()):
        try:
            key.append(os.stat(path).st_mtime_ns if path else None)
        except OSError:
            key.append(None)
    if cache is not None:
        from flowergit import fastjson

        try:
            with open(cache, "rb") as f:
                got = fastjson.loads(f.read())
            if isinstance(got, dict) and got.get("key") == key and isinstance(got.get("found"), bool):
                return bool(got["found"])
        except (OSError, ValueError):
            pass
    import subprocess

    try:
        asked = subprocess.run(["man", "-w", "git-flower"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = asked.returncode == 0
    if cache is not None:
        from flowergit import fastjson

        try:
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            with open(f"{cache}.{os.getpid()}", "w") as f:
                f.write(fastjson.dumps({"key": key, "found": found}))
            os.replace(f"{cache}.{os.getpid()}", cache)
        except OSError:
            pass
    return found


def check_man(fix: bool, cache: str | None = None) -> list[Finding]:
    found = man_found(cache)
    if found is None:
        return [finding("manual", OK, "no `man` on this machine: use `git flower help CMD`")]
    if found:
        return [finding("manual", OK, "man git-flower works, so does `git flower --help`")]
    src = packaged_man()
    user = os.path.join(os.path.expanduser("~"), ".local", "share", "man", "man1", "git-flower.1")
    if src is None:
        return [finding("manual", WARN, "`git flower --help` finds no man page (this install did "
                        "not ship one)", "reinstall with pip or pipx; `git flower help` works meanwhile")]
    f = finding("manual", WARN, f"`git flower --help` finds no man page: {src} is not on man's path",
                f"ln -s {src} {user} (and have ~/.local/bin on PATH), or set MANPATH",
                source=src, link=user)
    if fix:
        os.makedirs(os.path.dirname(user), exist_ok=True)
        if not os.path.lexists(user):
            os.symlink(src, user)
        if man_found():
            f.update(status=OK, fixed=True, message=f"linked {user} -> {src}")
        else:
            f.update(message=f"linked {user} -> {src}, but man does not look in "
                     f"{os.path.dirname(os.path.dirname(user))}",
                     fix="put ~/.local/bin on PATH (man then searches ~/.local/share/man), or "
                         "export MANPATH=\"$HOME/.local/share/man:\"")
    return [f]


# -- all together -------------------------------------------------------------------------------
def run(ctx: Ctx, *, fix: bool = False, lock_age: float = LOCK_AGE) -> dict[str, Any]:
    findings = check_git()
    if findings[0]["status"] == ERROR:
        return summary(findings)
    _ = ctx.repo  # not a repository: the usual fatal, exit 2
    steps: list[Callable[[], list[Finding]]] = [
        lambda: check_shape(ctx),
        lambda: check_init(ctx, fix),
        lambda: check_config(ctx),
        lambda: check_notes(ctx, fix),
        lambda: check_refspecs(ctx, fix),
        lambda: check_hooks(ctx, fix),
        lambda: check_lost_hooks(ctx),
        lambda: check_locks(ctx, fix, lock_age),
        lambda: check_worktrees(ctx, fix),
        lambda: check_dispatches(ctx),
        lambda: check_brief_files(ctx),
        lambda: check_state_refs(ctx, fix),
        lambda: check_recovery(ctx, fix),
        lambda: check_man(fix, ctx.repo.state_path("cache", "man.json")),
    ]
    for step in steps:
        try:
            findings += step()
        except FlowerError as e:
            findings.append(finding("doctor", ERROR, f"a check failed: {e.message}", e.hint))
    return summary(findings)


def summary(findings: list[Finding]) -> dict[str, Any]:
    return {"findings": findings,
            "errors": sum(1 for f in findings if f["status"] == ERROR),
            "warnings": sum(1 for f in findings if f["status"] == WARN),
            "fixed": sum(1 for f in findings if f.get("fixed"))}
