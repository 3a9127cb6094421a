"""`git flower sync [REMOTE]`: exchange flower state with any git remote.

One round: list the remote's flower refs (names checked against our grammars, counts capped),
fetch what changed into a separate namespace, reconcile, and push everything in one ``--atomic``
push in which every ref carries an explicit lease (``--force-with-lease=<ref>:<oid we read>``,
empty for "must not exist"). A rejected push starts a new round (re-fetch, re-reconcile),
bounded. Reconciling never merges state as text:

* briefs: local commits the remote lacks are re-applied as per-file operations on the remote
  tip (a brief's front matter is merged key by key; status never moves backwards); a brief
  number taken on the remote by another clone is renumbered, loudly, before it is published;
* record refs (ids, claims, signals, dispatches, daemons, baton): a ref on one side only is
  copied; a chain that extends the other side's is pushed or fast-forwarded; two different
  chains: the remote wins, and the local one is kept under ``refs/flower/lost/…`` and reported;
* notes: the union of both sides' JSON lines, in a notes commit whose parents are both tips.

Deletions are inferred only against the remote state recorded after the last successful sync
(``$GIT_COMMON_DIR/flower/sync/<remote>.json``); without it, nothing is deleted.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flowergit import failpoints, fastjson
from flowergit.errors import Conflict, FlowerError, Retry, UsageError
from flowergit.gitio import objects, refs
from flowergit.gitio import remote as net
from flowergit.gitio.refs import Op
from flowergit.gitio.repo import Repo
from flowergit.ops import remote as rops
from flowergit.ops.context import Ctx
from flowergit.state import brief as codec
from flowergit.state import records
from flowergit.state.layout import BRIEFS_REF, FLOWER_REFS, NOTES_REF, brief_path, id_ref

_TOKEN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}"
_BRIEF = r"[1-9][0-9]{0,8}"
# the kinds of refs/flower/* that travel, each with the grammar of the rest of its name
KINDS: dict[str, re.Pattern[str]] = {
    "ids": re.compile(_BRIEF, re.ASCII),
    "dispatch": re.compile(rf"{_BRIEF}/[1-9][0-9]{{0,3}}", re.ASCII),
    "signals": re.compile(_TOKEN, re.ASCII),
    "claims": re.compile(_TOKEN, re.ASCII),
    "daemons": re.compile(_TOKEN, re.ASCII),
    "baton": re.compile(r"[a-z][a-z0-9_-]{0,39}", re.ASCII),
}
MAX_REFS = 200_000
MAX_NOTE = 1024 * 1024
MAX_NOTES = 1_000_000
ROUNDS = 8
# rejections that are the server's policy (hooks, deny settings), not a lost race
_POLICY = re.compile(r"hook declined|denied|deny|refusing|not allowed|protected", re.IGNORECASE)
_BRIEF_PATH = re.compile(r"briefs/[0-9]{4}/([1-9][0-9]{0,8})\.md", re.ASCII)


def syncable(name: str) -> bool:
    """A ref under refs/flower/ whose name passes the grammar of its kind."""
    if not name.startswith(FLOWER_REFS):
        return False
    kind, _, rest = name[len(FLOWER_REFS):].partition("/")
    pat = KINDS.get(kind)
    return (pat is not None and bool(pat.fullmatch(rest)) and ".." not in rest
            and not rest.endswith(".lock"))


def _show(name: str) -> str:
    return name.encode("unicode_escape", "backslashreplace").decode("ascii")


@dataclass
class Report:
    remote: str
    rounds: int = 0
    briefs: dict[str, Any] = field(default_factory=lambda: {"action": "none", "replayed": 0})
    renumbered: list[dict[str, Any]] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    deleted_remote: list[str] = field(default_factory=list)
    deleted_local: list[str] = field(default_factory=list)
    lost: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=lambda: {"action": "none"})
    warnings: list[str] = field(default_factory=list)
    reserved: list[int] = field(default_factory=list)

    def warn(self, msg: str) -> None:
        if msg not in self.warnings:
            self.warnings.append(msg)

    def to_json(self) -> dict[str, Any]:
        return {"remote": self.remote, "rounds": self.rounds, "briefs": self.briefs,
                "renumbered": self.renumbered, "fetched": sorted(set(self.fetched)),
                "pushed": sorted(set(self.pushed)), "deleted_remote": self.deleted_remote,
                "deleted_local": self.deleted_local, "lost": self.lost, "notes": self.notes,
                "warnings": self.warnings, "reserved": self.reserved}


# -- small git helpers (all through gitio) ------------------------------------------------------
def is_ancestor(repo: Repo, a: str, b: str) -> bool:
    res = repo.git(["merge-base", "--is-ancestor", "--end-of-options", a, b], check=False)
    return res.returncode == 0


def _types(repo: Repo, oids: list[str]) -> dict[str, str]:
    if not oids:
        return {}
    res = repo.git(["cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)"],
                   input="".join(o + "\n" for o in oids).encode(), check=False)
    out = {}
    for ln in res.out.split("\n"):
        parts = ln.split(" ")
        if len(parts) == 3:
            out[parts[0]] = parts[1]
    return out


def _sizes(repo: Repo, oids: list[str]) -> dict[str, int]:
    if not oids:
        return {}
    res = repo.git(["cat-file", "--batch-check=%(objectname) %(objectsize)"],
                   input="".join(o + "\n" for o in oids).encode(), check=False)
    out = {}
    for ln in res.out.split("\n"):
        parts = ln.split(" ")
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


# -- the base: remote state after the last successful sync --------------------------------------
def _base_path(repo: Repo, remote: str) -> str:
    return repo.state_path("sync", f"{remote}.json")


def load_base(repo: Repo, remote: str) -> dict[str, str]:
    try:
        with open(_base_path(repo, remote), "rb") as f:
            doc = fastjson.loads(f.read())
        got = doc.get("refs") if isinstance(doc, dict) else None
        if isinstance(got, dict):
            return {k: v for k, v in got.items() if isinstance(k, str) and isinstance(v, str)}
    except (OSError, ValueError):
        pass
    return {}


def save_base(repo: Repo, remote: str, state: dict[str, str]) -> None:
    path = _base_path(repo, remote)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".base.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(fastjson.dumps({"v": 1, "refs": state}, sort_keys=True))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextmanager
def _lock(repo: Repo, remote: str, wait: float = 30.0) -> Iterator[None]:
    """One sync per clone and remote at a time (flock: released by the kernel if we die)."""
    from flowergit.procs.locks import exclusive

    with exclusive(repo.state_path("sync", f"{remote}.mutex"), wait=wait, poll=0.05,
                   busy=lambda: Retry(f"another `git flower sync {remote}` is running in this clone",
                                      "wait for it to finish, then retry")):
        yield


# -- one round ------------------------------------------------------------------------------------
def _advertised(repo: Repo, remote: str, report: Report) -> dict[str, str]:
    adv = net.ls_remote(repo, remote, [BRIEFS_REF, FLOWER_REFS + "*", NOTES_REF])
    out: dict[str, str] = {}
    hexlen = repo.hexlen
    for name, oid in adv.items():
        if len(oid) != hexlen or not all(c in "0123456789abcdef" for c in oid):
            continue
        if name in (BRIEFS_REF, NOTES_REF) or syncable(name):
            out[name] = oid
        elif name.startswith(FLOWER_REFS):
            report.warn(f"skipped remote ref {_show(name)}: not a name git flower writes")
    if len(out) > MAX_REFS:
        report.warn(f"{remote} publishes {len(out)} flower refs; only the first {MAX_REFS} are used")
        out = dict(sorted(out.items())[:MAX_REFS])
    return out


def _fetch(repo: Repo, remote: str, adv: dict[str, str], report: Report) -> dict[str, str]:
    """Mirror what changed; return the remote state limited to objects of the right type."""
    have = {}
    for ln in refs.read_many(repo, ["refs/remotes/" + remote + "/flower/briefs",
                                    f"refs/flower-remote/{remote}/", f"refs/notes/flower-remote/{remote}"]):
        n, _, o = ln.partition(" ")
        have[n] = o
    specs = [f"+{name}:{rops.tracking_ref(remote, name)}" for name, oid in sorted(adv.items())
             if have.get(rops.tracking_ref(remote, name)) != oid]
    net.fetch(repo, remote, specs)
    types = _types(repo, sorted(set(adv.values())))
    out = {}
    for name, oid in adv.items():
        if types.get(oid) != "commit":
            report.warn(f"skipped remote ref {_show(name)}: it does not point at a commit")
            continue
        out[name] = oid
    return out


def sync(ctx: Ctx, remote: str | None = None, *, reserve: int = 0,
         rounds: int = ROUNDS) -> dict[str, Any]:
    from flowergit.ops.recover import refuse_if_pending

    repo = ctx.repo
    refuse_if_pending(ctx, beside_merge=True)
    name = rops.resolve(ctx, remote)
    if name is None:
        raise UsageError("no remote to sync with",
                         "name one (`git flower sync origin`) or configure it: `git flower remote origin`")
    report = Report(name)
    with _lock(repo, name):
        base = load_base(repo, name)
        for attempt in range(rounds):
            report.rounds = attempt + 1
            adv = _advertised(repo, name, report)
            state = _fetch(repo, name, adv, report)
            failpoints.hit("sync_after_fetch_before_push")
            try:
                if _round(ctx, name, state, base, report):
                    break
            except refs.CasLost:
                pass  # a local writer moved something under us: re-read and redo
            time.sleep(min(1.0, 0.05 * (2 ** attempt)) * (0.5 + os.urandom(1)[0] / 255))
        else:
            raise Conflict(f"sync with {name} gave up after {rounds} rounds: the remote kept changing",
                           "other clones are pushing right now; run `git flower sync` again",
                           data=report.to_json())
        if reserve > 0:
            with objects.Batch(repo) as batch:
                floor = ctx.briefs().max_id(ctx.briefs().tip(), batch) + 1
            first = rops.reserve_ids(ctx, name, floor, reserve)
            report.reserved = list(range(first, first + reserve))
    return report.to_json()


def _round(ctx: Ctx, remote: str, state: dict[str, str], base: dict[str, str],
           report: Report) -> bool:
    """Reconcile and push once. True when done (pushed, or nothing to push)."""
    repo = ctx.repo
    updates: list[net.Update] = []
    after: list[Op] = []  # local ref writes that wait for the push to succeed
    me = rops.clone_id(repo)

    upd, ids_after = _briefs(ctx, remote, state, me, report, updates)
    if upd is not None:
        updates.append(upd)
    after += ids_after
    local_ops, rec_updates = _records(ctx, remote, state, base, report)
    updates += rec_updates
    if local_ops:
        refs.transaction(repo, local_ops, f"git flower sync {remote}")
    nupd = _notes(ctx, remote, state.get(NOTES_REF), report)
    if nupd is not None:
        updates.append(nupd)

    final = dict(state)
    if updates:
        res = net.push(repo, remote, updates)
        if not res.ok:
            why = "; ".join(f"{_show(s.ref)} {s.summary}" for s in res.rejected()[:3])
            refused = [s for s in res.rejected() if _POLICY.search(s.summary)]
            if refused:  # the server's policy, not a race: retrying cannot help
                raise Conflict(f"{remote} refused the push, so nothing was published: "
                               f"{_show(refused[0].ref)} {refused[0].summary}",
                               "the remote's hooks or settings reject this ref; local state is "
                               "kept; ask the remote's admin, then run `git flower sync` again",
                               data=report.to_json())
            report.warn(f"push rejected ({why}); fetched again and retried")
            return False
        for u in updates:
            if u.new is None:
                final.pop(u.ref, None)
            else:
                final[u.ref] = u.new
            report.pushed.append(u.ref)
        if after:
            refs.transaction(repo, after, f"git flower sync {remote}: ids")
    _mirror(repo, remote, final)
    base.clear()
    base.update(final)
    save_base(repo, remote, final)
    return True


def _mirror(repo: Repo, remote: str, final: dict[str, str]) -> None:
    """Make the local mirror equal the remote state we now know (ours to overwrite)."""
    want = {rops.tracking_ref(remote, n): o for n, o in final.items()}
    have = {}
    for ln in refs.read_many(repo, [f"refs/flower-remote/{remote}/", f"refs/notes/flower-remote/{remote}",
                                    f"refs/remotes/{remote}/flower/briefs"]):
        n, _, o = ln.partition(" ")
        have[n] = o
    ops = [Op("update", r, o, None) for r, o in want.items() if have.get(r) != o]
    ops += [Op("delete", r, None, None) for r in have if r not in want]
    if ops:
        refs.transaction(repo, ops, f"git flower sync {remote}: mirror")


# -- record refs ----------------------------------------------------------------------------------
def _record(repo: Repo, ref: str) -> records.Head | None:
    try:
        return records.read(repo, ref)
    except Conflict:  # not a readable record (too large, not JSON): it is only reported
        return None


def _lost_ref(name: str, oid: str) -> str:
    return f"refs/flower/lost/{name[len(FLOWER_REFS):]}-{oid[:12]}"


def _records(ctx: Ctx, remote: str, state: dict[str, str], base: dict[str, str],
             report: Report) -> tuple[list[Op], list[net.Update]]:
    repo = ctx.repo
    local = {n: o for n, o in refs.list_refs(repo, FLOWER_REFS).items() if syncable(n)}
    rem = {n: o for n, o in state.items() if n.startswith(FLOWER_REFS)}
    ops: list[Op] = []
    pushes: list[net.Update] = []
    for name in sorted(set(local) | set(rem)):
        lo, ro, bo = local.get(name), rem.get(name), base.get(name)
        if lo == ro:
            continue
        if lo is None:
            assert ro is not None
            if bo is not None and bo == ro:
                pushes.append(net.Update(name, None, ro))  # deleted here since the last sync
                report.deleted_remote.append(name)
            else:
                ops.append(refs.create(name, ro))
                report.fetched.append(name)
            continue
        if ro is None:
            if bo is not None and bo == lo:
                ops.append(refs.delete(name, lo))  # deleted there since the last sync
                report.deleted_local.append(name)
            else:
                pushes.append(net.Update(name, lo, None))
            continue
        if is_ancestor(repo, ro, lo):
            pushes.append(net.Update(name, lo, ro))
        elif is_ancestor(repo, lo, ro):
            ops.append(refs.update(name, ro, lo))
            report.fetched.append(name)
        else:
            # two different histories: the remote is the arbiter; keep ours, say so
            kept = _lost_ref(name, lo)
            ops.append(Op("update", kept, lo, None))
            ops.append(refs.update(name, ro, lo))
            mine, theirs = _record(repo, name), _record(repo, rops.tracking_ref(remote, name))
            entry = {"ref": name, "kept": kept, "ours": lo, "theirs": ro,
                     "holder": rops.describe(theirs.record if theirs else None),
                     "our_record": mine.record if mine else None}
            report.lost.append(entry)
    return ops, pushes


# -- briefs ---------------------------------------------------------------------------------------
def _owner(repo: Repo, remote: str, state: dict[str, str], n: int) -> str | None:
    """The clone id that holds brief id ``n`` on the remote (None: nobody)."""
    oid = state.get(id_ref(n))
    if oid is None:
        return None
    head = _record(repo, rops.tracking_ref(remote, id_ref(n)))
    if head is None or head.commit != oid:
        return "?"
    return str(head.record.get("clone") or "?")


def _added_ids(repo: Repo, old: str, new: str) -> list[int]:
    res = repo.git(["diff-tree", "-r", "-z", "--no-renames", "--diff-filter=A", "--name-only",
                    "--end-of-options", old, new, "--", "briefs"], check=False)
    out = []
    for p in res.stdout.split(b"\0"):
        m = _BRIEF_PATH.fullmatch(p.decode("utf-8", "surrogateescape"))
        if m:
            out.append(int(m[1]))
    return out


def _bad_paths(repo: Repo, lo: str | None, ro: str) -> str | None:
    """A path the remote's briefs commit adds that has a component a strict remote would
    reject for good (``..``, ``.git``, …: FAULTS 44), or None."""
    args = ["diff-tree", "-r", "-z", "--no-renames", "--name-only", "--no-commit-id",
            "--end-of-options"]
    args += [lo, ro] if lo else ["--root", ro]
    res = repo.git(args, check=False)
    for p in res.stdout.split(b"\0"):
        if not p:
            continue
        for part in p.split(b"/"):
            try:
                objects.check_name(part)
            except FlowerError:
                return p.decode("utf-8", "surrogateescape")
    return None


def _briefs(ctx: Ctx, remote: str, state: dict[str, str], me: str, report: Report,
            updates: list[net.Update]) -> tuple[net.Update | None, list[Op]]:
    repo = ctx.repo
    store = ctx.briefs()
    lo, ro = store.tip(), state.get(BRIEFS_REF)
    if lo == ro or lo is None and ro is None:
        return None, []
    if ro is None:
        assert lo is not None
        report.briefs = {"action": "published", "replayed": 0}
        return net.Update(BRIEFS_REF, lo, None), []
    bad = _bad_paths(repo, lo, ro)
    if bad:
        report.warn(f"skipped {remote}'s {BRIEFS_REF}: its tree has entries no clone can write "
                    f"or push ({_show(bad)}); ask whoever wrote them to remove them")
        return None, []
    if lo is None:
        store.refuse_if_checked_out()
        refs.transaction(repo, [refs.create(BRIEFS_REF, ro)], f"git flower sync {remote}")
        report.briefs = {"action": "fetched", "replayed": 0}
        return None, []
    if is_ancestor(repo, lo, ro):
        store.refuse_if_checked_out()
        refs.transaction(repo, [refs.update(BRIEFS_REF, ro, lo)], f"git flower sync {remote}")
        report.briefs = {"action": "fast-forward", "replayed": 0}
        return None, []
    fast = is_ancestor(repo, ro, lo)
    added = _added_ids(repo, ro, lo)
    taken = [n for n in added if (_owner(repo, remote, state, n) or me) != me]
    new_tip = lo
    if not fast or taken:
        store.refuse_if_checked_out()
        new_tip, replayed = _replay(ctx, remote, lo, ro, state, me, report)
        refs.transaction(repo, [refs.update(BRIEFS_REF, new_tip, lo)], f"git flower sync {remote}")
        report.briefs = {"action": "replayed", "replayed": replayed}
        added = _added_ids(repo, ro, new_tip)
    else:
        report.briefs = {"action": "published", "replayed": 0}
    after: list[Op] = []
    for n in added:  # publish an id claim for every new brief that has none on the remote yet
        if state.get(id_ref(n)) is None and refs.read(repo, id_ref(n)) is None:
            c = rops.claim_commit(repo, {"v": 1, "kind": "id", "id": n}, f"id {n}: claimed by sync")
            updates.append(net.Update(id_ref(n), c, None))
            old = refs.read(repo, id_ref(n))
            after.append(Op("update", id_ref(n), c, old) if old else refs.create(id_ref(n), c))
    if new_tip == ro:
        return None, after
    return net.Update(BRIEFS_REF, new_tip, ro), after


@dataclass
class _Commit:
    oid: str
    parent: str | None
    author: tuple[str, str, str]
    message: str


def _local_commits(repo: Repo, lo: str, ro: str) -> list[_Commit]:
    res = repo.git(["log", "--reverse", "--topo-order", "-z",
                    "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%B", "--end-of-options", lo,
                    "^" + ro])
    out = []
    for rec in res.stdout.split(b"\0"):
        if not rec.strip():
            continue
        parts = rec.decode("utf-8", "surrogateescape").split("\x1f", 5)
        if len(parts) < 6:
            continue
        parents = parts[1].split()
        out.append(_Commit(parts[0].strip(), parents[0] if parents else None,
                           (parts[2], parts[3], parts[4]), parts[5].rstrip("\n") + "\n"))
    return out


def _changes(repo: Repo, c: _Commit) -> list[tuple[str, str | None]]:
    """(path, new blob or None for a delete) of one commit against its first parent."""
    args = ["diff-tree", "-r", "-z", "--no-renames", "--no-commit-id"]
    args += ([c.parent, c.oid] if c.parent else ["--root", c.oid])
    res = repo.git(args)
    items = res.stdout.split(b"\0")
    out = []
    i = 0
    while i + 1 < len(items):
        meta = items[i].decode()
        if not meta.startswith(":"):
            i += 1
            continue
        parts = meta[1:].split()
        path = items[i + 1].decode("utf-8", "surrogateescape")
        out.append((path, None if parts[4] == "D" else parts[3]))
        i += 2
    return out


def _front(data: bytes) -> dict[str, Any]:
    front, _ = codec.split(data)
    return tomllib.loads(front.decode("utf-8"))


def merge_brief(base: bytes | None, ours: bytes, theirs: bytes,
                where: str) -> tuple[bytes, str | None]:
    """Re-apply our edit (base -> ours) to their version, key by key. Returns (bytes, warning)."""
    if base is None:
        return ours, f"{where}: written on both sides; kept ours (theirs stays in history)"
    try:
        b, o, t = _front(base), _front(ours), _front(theirs)
        bb, ob, tb = (codec.split(x)[1] for x in (base, ours, theirs))
    except (ValueError, UnicodeDecodeError, codec.BriefFormatError):
        return ours, f"{where}: could not merge key by key; kept ours (theirs stays in history)"
    changes: dict[str, Any] = {}
    for k in set(b) | set(o):
        if k in ("v", "id"):
            continue
        if b.get(k) != o.get(k):
            changes[k] = o.get(k, codec.DELETE)
    warning = None
    if "status" in changes and t.get("status") != b.get("status"):
        ours_s, theirs_s = o.get("status"), t.get("status")
        if ours_s in codec.ORDER and theirs_s in codec.ORDER \
                and codec.ORDER[theirs_s] > codec.ORDER[ours_s]:
            del changes["status"]  # status never moves backwards
    body = None
    if ob != bb:
        if tb != bb and tb != ob:
            warning = f"{where}: spec edited on both sides; kept ours (theirs stays in history)"
        body = ob.decode("utf-8", "replace")
    if not changes and body is None:
        return theirs, warning
    return codec.rewrite(theirs, changes, body), warning


def _replay(ctx: Ctx, remote: str, lo: str, ro: str, state: dict[str, str], me: str,
            report: Report) -> tuple[str, int]:
    """Re-apply each local commit the remote lacks, as per-file operations, on top of ``ro``."""
    repo = ctx.repo
    store = ctx.briefs()
    tip = ro
    replayed = 0
    renum: dict[int, int] = {}
    for c in _local_commits(repo, lo, ro):
        changes = _changes(repo, c)
        writer = objects.Writer(repo)
        edits: dict[str, tuple[bytes, str] | None] = {}
        notes: list[str] = []
        with objects.Batch(repo) as batch:
            for path, new in changes:
                m = _BRIEF_PATH.fullmatch(path)
                old_id = int(m[1]) if m else None
                base_got = batch.get(f"{c.parent}:{path}") if c.parent else None
                base = base_got[2] if base_got and base_got[1] == "blob" else None
                ours_got = batch.get(new) if new else None
                ours = ours_got[2] if ours_got else None
                target = path
                if old_id is not None and old_id in renum:
                    target = brief_path(renum[old_id])
                    if ours is not None:
                        ours = codec.rewrite(ours, {"id": renum[old_id]})
                theirs_got = batch.get(f"{tip}:{target}")
                theirs = theirs_got[2] if theirs_got and theirs_got[1] == "blob" else None
                if ours is None:  # a delete
                    if theirs is not None and theirs == base:
                        edits[target] = None
                    elif theirs is not None:
                        report.warn(f"{path}: deleted here but changed on {remote}; kept theirs")
                    continue
                if theirs == ours:
                    continue
                if base is None and old_id is not None and old_id not in renum:
                    owner = _owner(repo, remote, state, old_id)
                    if theirs is not None or (owner is not None and owner != me):
                        with objects.Batch(repo) as b2:
                            floor = max(store.max_id(tip, b2), max(renum.values(), default=0)) + 1
                        n = rops.reserve_ids(ctx, remote, floor)
                        renum[old_id] = n
                        target = brief_path(n)
                        ours = codec.rewrite(ours, {"id": n})
                        entry = {"was": old_id, "now": n,
                                 "why": f"{remote} already has a brief {old_id}"}
                        report.renumbered.append(entry)
                        report.warn(f"brief {old_id} (created here, never published) was renumbered "
                                    f"to {n}: {remote} already has a brief {old_id}")
                        notes.append(f"Flower-Renumbered: {old_id} -> {n}")
                        theirs = None
                if theirs is None or theirs == base:
                    data = ours
                elif m:
                    data, w = merge_brief(base, ours, theirs, path)
                    if w:
                        report.warn(w)
                else:
                    data = ours
                    report.warn(f"{path}: changed on both sides; kept ours (theirs stays in history)")
                if data == theirs:
                    continue
                edits[target] = (objects.MODE_BLOB, writer.add("blob", data))
            if not edits:
                continue
            base_tree = batch.get(f"{tip}^{{tree}}")
            tree = objects.edit_tree(batch, writer, base_tree[0] if base_tree else None, edits)
        writer.flush()
        msg = c.message + ("\n" + "\n".join(notes) + "\n" if notes else "")
        name, email, date = c.author
        tip = objects.commit(repo, tree, [tip], msg,
                             env={"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                                  "GIT_AUTHOR_DATE": date})
        replayed += 1
    return tip, replayed


# -- notes ----------------------------------------------------------------------------------------
def _note_entries(repo: Repo, commit: str | None) -> dict[str, str]:
    """annotated object id -> note blob id (fan-out paths flattened)."""
    if commit is None:
        return {}
    res = repo.git(["ls-tree", "-r", "-z", "--end-of-options", commit + "^{tree}"], check=False)
    out = {}
    for item in res.stdout.split(b"\0"):
        if not item:
            continue
        meta, _, path = item.decode("utf-8", "surrogateescape").partition("\t")
        parts = meta.split(" ")
        key = path.replace("/", "")
        if len(parts) == 3 and parts[1] == "blob" and len(key) == repo.hexlen \
                and all(ch in "0123456789abcdef" for ch in key):
            out[key] = parts[2]
        if len(out) > MAX_NOTES:
            break
    return out


def _fanout_tree(w: objects.Writer, notes: dict[str, str]) -> str:
    """The notes tree of ``oid -> blob`` in git's one-level fan-out (``ab/cdef…``), the layout
    ``state/notes`` writes, so later appends rewrite one small subtree."""
    subs: dict[str, list[objects.Entry]] = {}
    for k, v in notes.items():
        subs.setdefault(k[:2], []).append(objects.Entry(objects.MODE_BLOB, k[2:].encode(), v))
    root = [objects.Entry(objects.MODE_TREE, d.encode(), w.add("tree", objects.format_tree(es)))
            for d, es in subs.items()]
    return w.add("tree", objects.format_tree(root))


def _canonical(line: str) -> str:
    """One JSON object per line, keys sorted, no spaces: equal records compare equal."""
    try:
        rec = fastjson.loads(line)
    except ValueError:
        return line.rstrip("\r")
    if not isinstance(rec, dict):
        return line.rstrip("\r")
    return fastjson.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _valid_lines(data: bytes) -> tuple[list[str], int]:
    """The JSON-object lines of a note, and how many lines were not."""
    good, bad = [], 0
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], 1
    for ln in text.split("\n"):
        s = ln.strip()
        if not s:
            continue
        try:
            rec = fastjson.loads(s)
        except ValueError:
            bad += 1
            continue
        if isinstance(rec, dict):
            good.append(fastjson.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
        else:
            bad += 1
    return good, bad


def _notes(ctx: Ctx, remote: str, ro: str | None, report: Report) -> net.Update | None:
    repo = ctx.repo
    lo = refs.read(repo, NOTES_REF)
    if lo == ro or (lo is None and ro is None):
        return None
    if ro is None:
        report.notes = {"action": "published"}
        return net.Update(NOTES_REF, lo, None)
    if lo is not None and is_ancestor(repo, ro, lo):
        report.notes = {"action": "published"}
        return net.Update(NOTES_REF, lo, ro)
    ours, theirs = _note_entries(repo, lo), _note_entries(repo, ro)
    todo = [k for k, blob in theirs.items() if ours.get(k) != blob]
    sizes = _sizes(repo, sorted({theirs[k] for k in todo}))
    merged = dict(ours)
    readable = [k for k in todo if sizes.get(theirs[k], MAX_NOTE + 1) <= MAX_NOTE]
    for k in todo:
        if k not in readable:
            report.warn(f"skipped the note on {k[:12]} from {remote}: "
                        f"{sizes.get(theirs[k], 0)} bytes is over the {MAX_NOTE}-byte cap")
    w = objects.Writer(repo)
    with objects.Batch(repo) as batch:
        blobs = batch.get_many([theirs[k] for k in readable]
                               + [ours[k] for k in readable if k in ours])
    theirs_data = {k: blobs[i] for i, k in enumerate(readable)}
    ours_keys = [k for k in readable if k in ours]
    ours_data = {k: blobs[len(readable) + i] for i, k in enumerate(ours_keys)}
    for k in readable:
        got = theirs_data[k]
        good, bad = _valid_lines(got[2] if got else b"")
        if bad:
            report.warn(f"skipped {bad} line(s) of the note on {k[:12]} from {remote}: not JSON objects")
        if k in ours:
            got_ours = ours_data.get(k)
            mine = got_ours[2] if got_ours else b""
            lines = [_canonical(ln) for ln in mine.decode("utf-8", "replace").split("\n") if ln.strip()]
            union = sorted(set(lines) | set(good))
            if set(union) == set(lines):
                continue  # ours already holds every record
            if not bad and set(union) == set(good):
                merged[k] = theirs[k]  # theirs holds every record: take their blob as it is
                continue
        else:
            if not good:
                continue
            if not bad:
                merged[k] = theirs[k]
                continue
            union = sorted(set(good))
        merged[k] = w.add("blob", ("\n".join(union) + "\n").encode("utf-8"))
    if merged == theirs and (lo is None or is_ancestor(repo, lo, ro)):
        refs.transaction(repo, [refs.update(NOTES_REF, ro, lo)], f"git flower sync {remote}: notes")
        report.notes = {"action": "fast-forward"}
        return None
    tree = _fanout_tree(w, merged)
    parents = [ro] if lo is None or is_ancestor(repo, lo, ro) else [lo, ro]
    new = w.commit(tree, parents, f"notes: union with {remote}\n")
    w.flush()
    refs.transaction(repo, [refs.update(NOTES_REF, new, lo)], f"git flower sync {remote}: notes")
    report.notes = {"action": "merged", "objects": len(merged)}
    return net.Update(NOTES_REF, new, ro)
