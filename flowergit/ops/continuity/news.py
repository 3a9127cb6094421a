"""What a driven orchestrator is told: the events since its last turn that need judgement.

``git flower run --agent`` ticks mechanically (claims, dispatches, reaping: no model call) and
feeds each tick's result to a :class:`News`. Events that need the agent's judgement (a worker
finished, failed, was lost or waits for input; an auto-dispatch that blocked a brief; a merge
the gate refused; a signal of a kind no tick consumes, such as a person's ``message``) are
*items*: they start a turn. Everything else the agent may like to know (a brief dispatched, a
merge that landed) is *info*: it rides along with the next turn and never starts one.

Each event is announced once: a signal, a waiting worker, a finished attempt is remembered by
its id, so a hundred ticks with nothing new start no turn.
"""

from __future__ import annotations

from typing import Any

from flowergit.ops.context import Ctx

# signal kinds `tick` and the hand-off consume themselves: never the agent's to decide
MECHANICAL = ("auto_dispatch", "dispatch_done", "reset", "successor_ready")
MAX_LINES = 200  # a turn packet lists at most this many events; the rest are counted


def _finished_line(item: dict[str, Any]) -> str:
    brief = item.get("brief")
    did = item.get("dispatch") or f"{brief}.?"
    outcome = item.get("outcome") or item.get("state") or "ended"
    code = item.get("exit_code")
    tail = f" (exit {code})" if code not in (None, "") else ""
    if outcome == "done":
        return (f"worker {did} finished: done{tail}. Review and land it: "
                f"`git flower merge {brief}`")
    if outcome == "no-changes":
        return (f"worker {did} ended without changing anything{tail}. Read `git flower logs "
                f"{did}`; dispatch brief {brief} again or block it")
    return (f"worker {did} ended: {outcome}{tail}. Read `git flower logs {did}`; rework "
            f"(`git flower dispatch {brief} --rework`), dispatch again, or block brief {brief}")


class News:
    """Events gathered between two turns."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.info: list[str] = []
        self.seen: set[str] = set()  # ids already announced (signals, waits, reaped attempts)

    def __bool__(self) -> bool:
        return bool(self.items)

    def _once(self, key: str) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def item(self, text: str) -> None:
        self.items.append(text)

    def note(self, text: str) -> None:
        self.info.append(text)

    def take(self) -> tuple[list[str], list[str]]:
        """The events so far, emptied for the next turn."""
        items, info = self.items, self.info
        self.items, self.info = [], []
        return items, info

    # -- from a tick -------------------------------------------------------------------------
    def from_tick(self, t: dict[str, Any]) -> None:
        for r in t.get("reaped") or []:
            key = f"done:{r.get('dispatch')}"
            if self._once(key):
                self.item(_finished_line(r))
        for n in t.get("blocked") or []:
            self.item(f"brief {n}: its auto-dispatch failed and it is now blocked; "
                      f"`git flower brief show {n}` says why")
        for d in t.get("dispatched") or []:
            self.note(f"brief {d.get('brief')}: dispatched {d.get('dispatch')} "
                      f"({d.get('state')}) by the tick")
        for d in t.get("started") or []:
            self.note(f"dispatch {d}: started from the queue")
        for n in t.get("trust_wait") or []:
            self.note(f"brief {n}: waits for a person to trust its commands "
                      f"(`git flower trust brief {n}`); nothing for you to do")
        for m in t.get("merged") or []:
            if m.get("status") == "merged":
                self.note(f"brief {m.get('brief')}: merged by the tick ([merge] auto)")
            else:
                self.item(f"brief {m.get('brief')}: the merge gate refused it ({m.get('status')}"
                          + (f": {m['message']}" if m.get("message") else "")
                          + "); rework it or block it")
        for sid in t.get("requeued") or []:
            self.note(f"signal {sid}: re-queued (its claimer was gone)")

    # -- from the state ----------------------------------------------------------------------
    def scan(self, ctx: Ctx) -> None:
        """Signals that wait for a decision, and workers that wait for input, not yet told."""
        from flowergit.state import signals as sigstate

        for s in sigstate.list_all(ctx.repo, expiry=float(ctx.config.get("signals", "expiry"))):
            if s.get("state") != "pending" or s.get("kind") in MECHANICAL:
                continue
            if not self._once(f"signal:{s.get('id')}"):
                continue
            self.item(signal_line(s))
        for w in waiting_workers(ctx):
            if self._once(f"wait:{w['id']}:{w.get('since') or ''}"):
                self.item(f"worker {w['id']} waits for input"
                          + (f" ({w['prompt']})" if w.get("prompt") else "")
                          + f": `git flower logs {w['id']}`, then `git flower send {w['id']} "
                          f"\"answer\"`")


def signal_line(s: dict[str, Any]) -> str:
    data = s.get("data") or {}
    what = f"signal {s.get('id')} ({s.get('kind')}"
    if s.get("brief"):
        what += f", brief {s.get('brief')}"
    what += ")"
    text = data.get("text") or data.get("message")
    if text:
        what += f": {str(text)[:500]}"
    elif data:
        what += ": " + ", ".join(f"{k}={str(v)[:80]}" for k, v in list(data.items())[:8])
    return (what + f". Claim it (`git flower signal claim {s.get('id')}`), act, then complete it "
            f"(`git flower signal complete {s.get('id')}`)")


def waiting_workers(ctx: Ctx) -> list[dict[str, Any]]:
    from flowergit.ops.dispatch.liveness import view_state
    from flowergit.state.dispatches import DispatchStore

    out = []
    for h in DispatchStore(ctx.repo).all():
        rec = h.record
        if view_state(rec) != "waiting":
            continue
        got = rec.get("waiting")
        w: dict[str, Any] = got if isinstance(got, dict) else {}
        out.append({"id": str(rec.get("id")), "since": w.get("since") or w.get("at"),
                    "prompt": str(w.get("prompt") or w.get("line") or "")[:200]})
    return out


def situation(ctx: Ctx) -> list[str]:
    """What needs the orchestrator right now, whatever was announced before: the first turn of
    a daemon (a fresh start, a successor, a takeover) is told all of it."""
    from flowergit.ops.dispatch.liveness import view_state
    from flowergit.ops.merge.queue import finished_of
    from flowergit.state.dispatches import DispatchStore

    lines: list[str] = []
    records = [h.record for h in DispatchStore(ctx.repo).all()]  # one snapshot for both lists
    for rec in records:
        state = view_state(rec)
        if state in ("running", "preparing", "queued", "waiting"):
            lines.append(f"dispatch {rec.get('id')} (brief {rec.get('brief')}, "
                         f"{rec.get('agent')}): {state}")
    for b in finished_of(records):
        lines.append(f"brief {b}: its attempt finished (done) and is not merged yet: "
                     f"`git flower merge {b}`")
    return lines


def render(head: str, items: list[str], info: list[str], more: list[str] | None = None) -> str:
    """A turn packet: the heading, what needs judgement, what is only for information."""
    out = [head.rstrip(), ""]
    if items:
        out += ["## What needs you", ""]
        out += [f"- {x}" for x in items[:MAX_LINES]]
        if len(items) > MAX_LINES:
            out.append(f"- … and {len(items) - MAX_LINES} more: `git flower status`, "
                       "`git flower signal list --unclaimed`")
        out.append("")
    if info:
        out += ["## For your information", ""]
        out += [f"- {x}" for x in info[:MAX_LINES]]
        if len(info) > MAX_LINES:
            out.append(f"- … and {len(info) - MAX_LINES} more")
        out.append("")
    for block in more or []:
        out += [block.rstrip(), ""]
    return "\n".join(out)


def fenced(text: str) -> str:
    """``text`` as a fenced markdown block (a longer fence when it holds one itself)."""
    fence = "````" if "```" in text else "```"
    return f"{fence}markdown\n{text.rstrip()}\n{fence}"


def roster(ctx: Ctx, lane: str, pred: str, why: str, pending: list[str]) -> str:
    """Hand-off notes from the state alone, for an agent that wrote none."""
    lines = [f"# Hand-off of lane {lane} from daemon {pred}", "",
             f"Written by git flower: the agent left no notes ({why}).", "",
             "## The fleet now", ""]
    lines += [f"- {x}" for x in situation(ctx)] or ["- nothing in flight"]
    if pending:
        lines += ["", "## Not yet told to any orchestrator", ""] + [f"- {x}" for x in pending]
    return "\n".join(lines) + "\n"
