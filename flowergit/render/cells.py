"""The cells a dispatch row shows, shared by `ps`, `status` and `watch`: its state or outcome
and their style, its model, tokens and cost, and its last activity."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATE_STYLE = {"running": "yellow", "waiting": "bold magenta", "queued": "cyan", "preparing": "cyan",
               "exited": None, "stopped": "magenta", "lost": "red", "missing": "red", "failed": "red",
               "merged": "green", "released": "dim", "corrupt": "bold red"}


OUTCOME_STYLE = {"done": "green", "no-changes": "yellow", "failed": "red", "timed-out": "red",
                 "stopped": "magenta", "lost": "bold red"}


def state_text(r: dict[str, Any]) -> str:
    """An ended attempt shows its outcome (``done``, ``no-changes``, ``failed (3)``, …): what
    it did, not only that its agent exited; a live one its state."""
    st = str(r.get("state"))
    out = r.get("outcome")
    code = r.get("exit_code")
    if out and st in ("exited", "stopped", "failed", "lost"):
        st = str(out)
    if code is not None and (code != 0 or st in ("exited", "missing")):
        st += f" ({code})"
    if r.get("elsewhere"):  # run by a worker on another machine (`run --worker`)
        st += f"@{r['elsewhere']}"
    return st


def state_style(r: dict[str, Any]) -> str | None:
    out = r.get("outcome")
    if out and r.get("state") in ("exited", "stopped", "failed", "lost"):
        return OUTCOME_STYLE.get(str(out))
    return STATE_STYLE.get(str(r.get("state")))



def prompt_cell(r: dict[str, Any]) -> str:
    """What a waiting agent asks (its prompt line), for the last-line column."""
    w = r.get("waiting")
    return f"waiting: {w.get('prompt', '')}" if isinstance(w, dict) else ""


def tokens(n: Any) -> str:
    """``950``, ``12.3k``, ``4.1M``."""
    n = n if isinstance(n, int) else 0
    if n < 1000:
        return str(n)
    if n < 999_950:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def cost(c: Any, source: Any = "reported") -> str:
    """``$0.04``, ``~$0.04`` (estimated), ``$0.004`` below a dime."""
    if not isinstance(c, (int, float)):
        return ""
    text = f"${c:.3f}" if c < 0.1 else f"${c:.2f}"
    return ("~" if source == "estimated" else "") + text


def usage_cell(r: dict[str, Any]) -> str:
    """The TOKENS/COST cell: tokens read and written, and what they cost (``12.3k  $0.04``)."""
    u = r.get("usage")
    if not isinstance(u, dict):
        return ""
    total = (u.get("input_tokens") or 0) + (u.get("output_tokens") or 0)
    c = cost(u.get("cost_usd"), u.get("cost_source"))
    return f"{tokens(total)}  {c}" if c else tokens(total)


def model_cell(r: dict[str, Any]) -> str:
    u = r.get("usage")
    return str(u.get("model") or "") if isinstance(u, dict) else ""


def last_activity(r: dict[str, Any]) -> str:
    """What the agent did last: its last tool call when its transcript tells, else the last
    line of its log."""
    u = r.get("usage")
    if isinstance(u, dict) and u.get("last_action"):
        return str(u["last_action"])
    return str(r.get("last_log") or "")
