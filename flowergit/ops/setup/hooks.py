"""git hooks: the installed stubs (`git flower hooks install|uninstall|status`) and what they run
(`git flower hook-impl <event>`).

The stubs are made from one template (``hooks/flower-hook.in`` in the source, shipped as
``flowergit/hooks``): :func:`stub` writes in the event, the ``git-flower`` path and the id
grammars of :mod:`flowergit.state.ids` (the stub's shell fast path checks branch and dispatch
ids with them, so that a commit does not start Python). They follow pre-commit's design:
a fingerprint line marks them as ours; an existing hook is moved aside to ``<name>.flower-prev``
and run first (never overwritten), and uninstall moves it back, byte for byte; they go to the
common git dir so every worktree shares them; ``core.hooksPath`` is refused unless ``--force``;
the absolute path of ``git-flower`` is recorded at install (``GIT_FLOWER_BIN`` overrides it,
``PATH`` is the fallback).

:func:`run` is the hook fast path: standard library and the git runner only, one or two git
calls, and a flower failure is a warning, never a failed commit, unless ``[hooks] strict = true``
(or ``git config flower.hooksStrict true``).

Over 500 lines because install, status and the watch on other hook managers share the stub's
fingerprint, its directory and the install record; apart, they would import each other.
"""

from __future__ import annotations

import os
import sys
import time

from flowergit import fastjson
from flowergit.errors import UsageError
from flowergit.gitio import hookgit
from flowergit.state import ids

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EVENTS = ("commit-msg", "post-commit", "pre-push")
FINGERPRINT = "# git-flower-hook v"  # any version: a stub of an older git flower is ours too
TEMPLATE = "flower-hook.in"
PREV = ".flower-prev"
NESTED = "GIT_FLOWER_HOOK_NESTED"


# -- the hook fast path -----------------------------------------------------------------------------
def _branch() -> str:
    b = os.environ.get("GIT_FLOWER_HOOK_BRANCH")
    if b is None:
        b = hookgit.hook_branch()
    return b


def brief_of(branch: str) -> int | None:
    """N for a dispatch branch ``flower/N`` or ``flower/N-<anything>``, else None."""
    if not branch.startswith("flower/"):
        return None
    num = branch[7:].partition("-")[0]
    return int(num) if ids.is_brief_id(num) else None


def _commit_msg(args: list[str]) -> None:
    if not args:
        raise ValueError("commit-msg: no message file given")
    n = brief_of(_branch())
    if n is None:
        return
    hookgit.add_trailer(args[0], f"Flower-Brief: {n}")


def _post_commit() -> None:
    branch = _branch()
    n = brief_of(branch)
    dispatch = os.environ.get("FLOWER_DISPATCH", "")
    try:
        ids.dispatch_id(dispatch)
    except UsageError:
        dispatch = ""
    if n is None and not dispatch:
        return
    common, head = hookgit.common_dir_and_head()
    name = dispatch or f"brief-{n}"
    rec = {"v": 1, "event": "commit", "commit": head, "branch": branch, "brief": n,
           "dispatch": dispatch or None, "pid": os.getppid(),
           "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    d = os.path.join(common, "flower", "progress")
    os.makedirs(d, exist_ok=True)
    fd = os.open(os.path.join(d, name + ".log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (fastjson.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n").encode())
    finally:
        os.close(fd)


def _pre_push(args: list[str]) -> None:
    remote = args[0] if args else os.environ.get("PRE_COMMIT_REMOTE_NAME", "")
    if not hookgit.hook_config_true("flower.syncOnPush") or not remote:
        return
    if remote != hookgit.hook_config("flower.remote"):
        return  # a push elsewhere (or to a URL): flower state travels only to its own remote
    from flowergit.ops import sync
    from flowergit.ops.context import Ctx

    ctx = Ctx()
    rep = sync.sync(ctx.load(), remote)
    for w in rep["warnings"]:
        sys.stderr.write("warning: " + w + "\n")
    sys.stderr.write(f"git flower: flower state synced with {remote}\n")


def _strict() -> bool:
    if hookgit.hook_config_true("flower.hooksStrict"):
        return True
    common = hookgit.hook_common_dir()
    if common is None or os.path.basename(common) != ".git":
        return False
    try:
        from flowergit.state import tomlcodec

        with open(os.path.join(os.path.dirname(common), ".flower.toml"), "rb") as f:
            data = tomlcodec.loads(f.read().decode("utf-8"))
        return data.get("hooks", {}).get("strict") is True
    except (OSError, ValueError):
        return False


def run(event: str, args: list[str]) -> int:
    """`git flower hook-impl EVENT ARGS…`: git flower's part of one git hook."""
    if os.environ.get(NESTED):
        return 0
    os.environ[NESTED] = "1"  # anything this hook runs must not re-enter our hooks
    if os.environ.get("GIT_FLOWER_SKIP_HOOKS") == "1" or os.environ.get("GIT_FLOWER") == "0":
        return 0
    try:
        from flowergit import failpoints

        failpoints.hit(f"hook_{event.replace('-', '_')}")
        if event == "commit-msg":
            _commit_msg(args)
        elif event == "post-commit":
            _post_commit()
        elif event == "pre-push":
            _pre_push(args)
        else:
            sys.stderr.write(f"warning: git flower has no {event} hook; nothing done\n")
        return 0
    except Exception as e:  # noqa: BLE001 - a hook must not break the user's git command
        msg = getattr(e, "message", None) or str(e)
        if _strict():
            sys.stderr.write(f"fatal: git flower {event} hook: {msg}\n"
                             "hint: [hooks] strict = true makes this fatal; "
                             "GIT_FLOWER_SKIP_HOOKS=1 skips git flower's hooks once\n")
            return 1
        sys.stderr.write(f"warning: git flower {event} hook: {msg} (the git command goes on)\n")
        return 0


# -- install / uninstall / status -------------------------------------------------------------------
def _templates_dir() -> str:
    import flowergit

    here = os.path.dirname(os.path.abspath(flowergit.__file__))  # the package's own directory
    for cand in (os.path.join(here, "hooks"), os.path.join(os.path.dirname(here), "hooks")):
        if os.path.isfile(os.path.join(cand, TEMPLATE)):
            return cand
    from flowergit.errors import FlowerError

    raise FlowerError("git flower's hook stubs are missing from this installation",
                      "reinstall git flower")


def flower_bin() -> str:
    """The absolute path recorded in the stubs: GIT_FLOWER_BIN, else git-flower beside this
    Python, else on PATH; empty when none is found (the stub then looks on PATH)."""
    import shutil

    env = os.environ.get("GIT_FLOWER_BIN")
    if env and os.access(env, os.X_OK):
        return os.path.abspath(env)
    sibling = os.path.join(os.path.dirname(sys.executable), "git-flower")
    if os.access(sibling, os.X_OK):
        return sibling
    found = shutil.which("git-flower")
    return os.path.abspath(found) if found else ""


def _grammar(g: tuple[str, str, int]) -> bytes:
    """An id grammar of :mod:`flowergit.state.ids` as the stub's ``fits`` takes it: the first
    characters, the later ones and the most characters, as three shell words."""
    first, rest, most = g
    if not (first + rest).isalnum() or not (first + rest).isascii():
        raise ValueError(f"the grammar {g!r} cannot be written into a shell pattern")
    return f"{first} {rest} {most}".encode()


def stub(event: str, bin_path: str) -> bytes:
    """The hook file for ``event``: the one template with the event, the ``git-flower`` path
    and the id grammars written in."""
    if event not in EVENTS:
        raise UsageError(f"git flower has no {event} hook", "events are: " + ", ".join(EVENTS))
    with open(os.path.join(_templates_dir(), TEMPLATE), "rb") as f:
        text = f.read()
    if b"'" in bin_path.encode() or "\n" in bin_path:
        bin_path = ""  # never splice an awkward path into shell text; PATH fallback instead
    for mark, value in ((b"@HOOK@", event.encode()),
                        (b"@BRIEF_ID@", _grammar(ids.BRIEF_GRAMMAR)),
                        (b"@ATTEMPT@", _grammar(ids.ATTEMPT_GRAMMAR)),
                        (b"@FLOWER_BIN@", bin_path.encode("utf-8", "surrogateescape"))):
        text = text.replace(mark, value)
    return text


def is_ours(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return FINGERPRINT.encode() in head


def hooks_dir(ctx: Any, force: bool) -> tuple[str, str | None]:
    """(directory git runs hooks from, core.hooksPath if set)."""
    from flowergit.errors import Conflict

    repo = ctx.repo
    hp = hookgit.hooks_path(repo)
    if hp:
        if not force:
            raise Conflict(f"core.hooksPath is set to {hp!r}: git runs the hooks from there, "
                           "so git flower will not install into .git/hooks",
                           "add `git-flower hook-impl <event> \"$@\"` to the hook manager that owns "
                           f"{hp}, or install there anyway with `git flower hooks install --force`")
        base = repo.main_worktree or repo.common_dir
        path = os.path.expanduser(hp)
        return (path if os.path.isabs(path) else os.path.join(base, path)), hp
    return os.path.join(hookgit.common_dir(repo), "hooks"), None


def _write_exe(path: str, data: bytes) -> None:
    tmp = f"{path}.flower-tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def install(ctx: Any, *, force: bool = False, events: tuple[str, ...] = EVENTS) -> dict[str, Any]:
    from flowergit.errors import Conflict

    d, hp = hooks_dir(ctx, force)
    os.makedirs(d, exist_ok=True)
    bin_path = flower_bin()
    out = []
    for ev in events:
        path = os.path.join(d, ev)
        prev = path + PREV
        data = stub(ev, bin_path)
        action = "installed"
        manager = identify(path) if os.path.lexists(path) and not is_ours(path) else None
        if manager and integrated(ctx, manager, ev):
            # the manager's config already calls git flower: chaining would run it twice
            out.append({"event": ev, "path": path, "chained": False, "manager": manager,
                        "left_to": manager, "action": f"left to {manager} (its config runs git flower's {ev})"})
            continue
        if os.path.lexists(path) and not is_ours(path):
            if os.path.lexists(prev):
                raise Conflict(f"{path} is not git flower's and {prev} already exists",
                               "move one of them away, then run `git flower hooks install` again")
            os.rename(path, prev)
            action = "installed; chained the existing hook"
            if manager:
                action += f" ({manager}'s)"
        elif os.path.lexists(path):
            with open(path, "rb") as f:
                same = f.read() == data
            action = "up to date" if same and os.access(path, os.X_OK) else "updated"
        if action != "up to date":
            _write_exe(path, data)
        out.append({"event": ev, "path": path, "action": action,
                    "chained": os.path.lexists(prev), "manager": manager})
    _remember(ctx, d, out)
    return {"dir": d, "hooks_path": hp, "bin": bin_path, "hooks": out}


def uninstall(ctx: Any, *, force: bool = False, events: tuple[str, ...] = EVENTS) -> dict[str, Any]:
    d, hp = hooks_dir(ctx, True)
    out = []
    for ev in events:
        path = os.path.join(d, ev)
        prev = path + PREV
        if os.path.lexists(path) and not is_ours(path):
            out.append({"event": ev, "path": path, "action": "left alone (not git flower's)"})
            continue
        action = "not installed"
        if os.path.lexists(path):
            os.unlink(path)
            action = "removed"
        if os.path.lexists(prev):
            os.rename(prev, path)
            action = "removed; restored the previous hook" if action == "removed" \
                else "restored the previous hook"
        out.append({"event": ev, "path": path, "action": action})
    _forget(ctx, events)
    return {"dir": d, "hooks_path": hp, "hooks": out}


def status(ctx: Any) -> dict[str, Any]:
    d, hp = hooks_dir(ctx, True)
    bin_path = flower_bin()
    out = []
    for ev in EVENTS:
        path = os.path.join(d, ev)
        prev = path + PREV
        if not os.path.lexists(path):
            state = "missing"
        elif is_ours(path):
            with open(path, "rb") as f:
                state = "installed" if f.read() == stub(ev, bin_path) else "outdated"
        else:
            state = "foreign"
        manager = identify(path) if state == "foreign" else None
        recorded = None
        if state in ("installed", "outdated"):
            import re

            with open(path, "rb") as f:
                m = re.search(rb"^flower_bin='([^'\n]*)'", f.read(), re.MULTILINE)
            recorded = m[1].decode("utf-8", "surrogateescape") if m else None
        out.append({"event": ev, "path": path, "state": state, "chained": os.path.lexists(prev),
                    "manager": manager, "bin": recorded, "bin_ok": bool(recorded) and os.access(recorded or "", os.X_OK)})
    return {"dir": d, "hooks_path": hp, "skip": os.environ.get("GIT_FLOWER_SKIP_HOOKS") == "1",
            "hooks": out}


# -- other hook managers ----------------------------------------------------------------------------
# `hooks install` remembers what it installed (machine-local: $GIT_COMMON_DIR/flower/hooks.json), so
# `doctor` can tell a hook another manager replaced, renamed or disabled from one never installed.
RECORD = "hooks.json"
# how each manager's own hook files read (their generated scripts say who made them)
MANAGERS: tuple[tuple[str, tuple[bytes, ...]], ...] = (
    ("pre-commit", (b"File generated by pre-commit", b"138fd403232d2ddd5efb44317e38bf03")),
    ("lefthook", (b"call_lefthook", b"LEFTHOOK")),
    ("husky", (b"husky",)),
)
CONFIGS = {
    "pre-commit": (".pre-commit-config.yaml", ".pre-commit-config.yml"),
    "lefthook": ("lefthook.yml", ".lefthook.yml", "lefthook.yaml", ".lefthook.yaml",
                 ".config/lefthook.yml", ".config/lefthook.yaml", "lefthook-local.yml",
                 ".lefthook-local.yml", "lefthook.toml", ".lefthook.toml", "lefthook.json"),
}
# what each manager does with the hook it found in its place
ASIDE = {"pre-commit": ".legacy", "lefthook": ".old"}
PRE_COMMIT_IDS = {"commit-msg": "flower-brief-trailer", "post-commit": "flower-progress",
                  "pre-push": "flower-sync-on-push"}

SNIPPETS = {
    "pre-commit": """\
# .pre-commit-config.yaml: git flower's hooks, run by pre-commit (the git-flower on PATH)
repos:
  - repo: local
    hooks:
      - id: flower-brief-trailer
        name: git flower Flower-Brief trailer
        entry: git-flower hook-impl commit-msg
        language: system
        stages: [commit-msg]
        always_run: true
      - id: flower-progress
        name: git flower worker progress
        entry: git-flower hook-impl post-commit
        language: system
        stages: [post-commit]
        always_run: true
        pass_filenames: false
      - id: flower-sync-on-push
        name: git flower sync on push
        entry: git-flower hook-impl pre-push
        language: system
        stages: [pre-push]
        always_run: true
        pass_filenames: false
# then: pre-commit install --hook-type commit-msg --hook-type post-commit --hook-type pre-push
""",
    "lefthook": """\
# lefthook.yml: git flower's hooks, run by lefthook (the git-flower on PATH)
commit-msg:
  commands:
    flower-brief-trailer:
      run: git-flower hook-impl commit-msg {1}
post-commit:
  commands:
    flower-progress:
      run: git-flower hook-impl post-commit
pre-push:
  commands:
    flower-sync-on-push:
      run: git-flower hook-impl pre-push {1} {2}
# then: lefthook install
""",
}


def snippet(manager: str) -> str:
    """The config that makes ``manager`` run git flower's hooks (`hooks install --print`)."""
    if manager not in SNIPPETS:
        raise UsageError(f"no integration for {manager!r}",
                         "use `--print pre-commit` or `--print lefthook`")
    return SNIPPETS[manager]


def identify(path: str) -> str | None:
    """Which hook manager wrote the hook file ``path`` (None: unknown or not a manager's)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError:
        return None
    for name, marks in MANAGERS:
        if any(m in head for m in marks):
            return name
    return "husky" if "husky" in path.split(os.sep)[-3:-1] or ".husky" in path else None


def _worktree_root(ctx: Any) -> str | None:
    return hookgit.toplevel(ctx.repo, os.getcwd()) or ctx.repo.main_worktree


def integrated(ctx: Any, manager: str, event: str) -> bool:
    """Does ``manager``'s config (in this worktree) run git flower's ``event`` hook?"""
    root = _worktree_root(ctx)
    if not root:
        return False
    for name in CONFIGS.get(manager, ()):
        try:
            with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        if f"hook-impl {event}" in text:
            return True
        if manager == "pre-commit" and PRE_COMMIT_IDS.get(event, "\0") in text:
            return True  # the published hooks (.pre-commit-hooks.yaml) by id
    return False


def _sha256(path: str) -> str | None:
    from flowergit.gitio.objects import new_hash

    try:
        with open(path, "rb") as f:
            return str(new_hash("sha256", f.read()).hexdigest())
    except OSError:
        return None


def record_path(ctx: Any) -> str:
    return str(ctx.repo.state_path(RECORD))


def remembered(ctx: Any) -> dict[str, Any] | None:
    """What `hooks install` recorded: {v, dir, hooks: {event: {path, sha256}}}, or None."""
    try:
        with open(record_path(ctx), "rb") as f:
            got = fastjson.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(got, dict) or not isinstance(got.get("hooks"), dict):
        return None
    return got


def _save(ctx: Any, rec: dict[str, Any] | None) -> None:
    from flowergit.state.files import save_json

    save_json(record_path(ctx), rec if rec is not None and rec["hooks"] else None, indent=1)


def _remember(ctx: Any, d: str, rows: list[dict[str, Any]]) -> None:
    old = remembered(ctx) or {}
    hooks = dict(old.get("hooks") or {}) if old.get("dir") == d else {}
    for h in rows:
        if h.get("left_to"):
            hooks.pop(h["event"], None)  # left to that manager: nothing of ours to watch there
            continue
        hooks[h["event"]] = {"path": h["path"], "sha256": _sha256(h["path"])}
    _save(ctx, {"v": 1, "dir": d, "hooks": hooks,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def _forget(ctx: Any, events: tuple[str, ...]) -> None:
    old = remembered(ctx)
    if old is None:
        return
    old["hooks"] = {k: v for k, v in old["hooks"].items() if k not in events}
    _save(ctx, old)


def _renamed(path: str, sha: str | None) -> str | None:
    """Where our stub for ``path`` went, if another manager moved it aside in the same dir."""
    d, name = os.path.split(path)
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return None
    for n in names:
        if n == name or not n.startswith(name + ".") or n.endswith(PREV):
            continue
        p = os.path.join(d, n)
        if is_ours(p) or (sha is not None and _sha256(p) == sha):
            return p
    return None


def lost(ctx: Any) -> list[dict[str, Any]]:
    """The hooks `hooks install` installed that git no longer runs as installed: for each,
    {event, path, how: replaced|renamed|removed|not executable|disabled, manager, moved_to,
    runs (does git flower's part still run?), message, fix}."""
    rec = remembered(ctx)
    if rec is None or not rec["hooks"]:
        return []
    d, hp = hooks_dir(ctx, True)
    out: list[dict[str, Any]] = []
    for ev, h in sorted(rec["hooks"].items()):
        path = str(h.get("path") or os.path.join(str(rec.get("dir")), ev))
        sha = h.get("sha256")
        item: dict[str, Any] = {"event": ev, "path": path, "manager": None, "moved_to": None,
                                "runs": False}
        live = os.path.join(d, ev)
        if os.path.realpath(os.path.dirname(path)) != os.path.realpath(d):
            if is_ours(live):
                continue  # reinstalled where git now looks
            item["manager"] = identify(live) if os.path.lexists(live) else None
            if item["manager"] is None and ".husky" in d:
                item["manager"] = "husky"
            item.update(how="disabled", hooks_path=hp,
                        why=f"core.hooksPath={hp} makes git run hooks from {d}, not {path}")
        elif os.path.lexists(path) and is_ours(path):
            if os.access(path, os.X_OK):
                continue  # there and ours (an outdated stub is check_hooks' business)
            item.update(how="not executable", why=f"{path} lost its execute bit, so git skips it")
        elif os.path.lexists(path):
            item["manager"] = identify(path)
            moved = _renamed(path, sha)
            item.update(how="replaced", moved_to=moved,
                        why=f"{path} is now {item['manager'] or 'another program'}'s hook"
                        + (f"; git flower's was moved to {moved}" if moved else ""))
            if item["manager"] == "pre-commit" and moved and moved.endswith(ASIDE["pre-commit"]):
                item["runs"] = True  # pre-commit's migration mode runs <hook>.legacy first
        else:
            moved = _renamed(path, sha)
            item.update(how="renamed" if moved else "removed", moved_to=moved,
                        why=(f"{path} was renamed to {moved}" if moved else f"{path} was deleted"))
        if item["manager"] and integrated(ctx, item["manager"], ev):
            if item["runs"]:  # pre-commit runs ours as <hook>.legacy and its config runs it too
                item["twice"] = True
            item["runs"] = True  # the manager's config runs git flower's hook itself
        mgr = item["manager"]
        if mgr in SNIPPETS:
            item["fix"] = (f"add git flower's hooks to {mgr}'s config "
                           f"(`git flower hooks install --print {mgr}`), or chain them: "
                           "`git flower hooks install" + (" --force`" if hp else "`"))
        else:
            item["fix"] = "git flower hooks install" + (" --force" if hp else "")
        out.append(item)
    return out
