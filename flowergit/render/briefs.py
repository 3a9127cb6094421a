"""Human renderings of briefs."""

from __future__ import annotations


from flowergit.render import output

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

STATUS_STYLE = {"draft": "dim", "planned": "cyan", "dispatched": "yellow", "done": "green",
                "merged": "bold green", "blocked": "red", "abandoned": "dim strike",
                "broken": "bold red"}


def brief_list(items: Sequence[dict[str, Any]] | Any) -> None:
    from flowergit.state.rawjson import RawJSON

    if isinstance(items, RawJSON):
        items = items.value()
    if not items:
        output.info("no briefs (create one with `git flower brief new TITLE`)")
        return
    rows = [(b["id"], b["status"], b["kind"], ("auto" if b.get("auto_dispatch") else ""),
             b["title"] if b["status"] != "broken" else f"{b.get('file')}: {b.get('error')}")
            for b in items]
    output.print_table(["ID", "STATUS", "KIND", "FLAGS", "TITLE"], rows,
                       styles=[STATUS_STYLE.get(b["status"]) for b in items])
    bad = [b for b in items if b["status"] == "broken"]
    if bad:
        output.info(f"{len(bad)} brief file(s) do not parse; "
                    + (bad[0].get("hint") or "see `git flower doctor`")
                    + ("" if len(bad) == 1 else "; `git flower doctor` lists them all"))


def brief_show(b: dict[str, Any]) -> None:
    output.line(f"brief {b['id']}: {b['title']}")
    for key in ("kind", "status", "auto_dispatch", "agent", "depends_on", "created"):
        val = b.get(key)
        if val in (None, [], False) and key != "status":
            continue
        output.line(f"{key + ':':<15}{', '.join(map(str, val)) if isinstance(val, list) else val}")
    extra = {k: v for k, v in b.items() if k not in
             ("id", "title", "kind", "status", "auto_dispatch", "agent", "depends_on", "created",
              "body", "conflicts")}
    for k, v in extra.items():
        output.line(f"{k + ':':<15}{v}")
    conflicts = b.get("conflicts")
    if isinstance(conflicts, dict):
        for k, v in conflicts.items():
            v = v if isinstance(v, dict) else {}
            output.line(f"{'conflict:':<15}{k} was changed on two clones: "
                        f"{v.get('ours')!r} (kept) and {v.get('theirs')!r}; "
                        f"`git flower brief set {b['id']} {k}=…` resolves it")
    if b.get("body"):
        output.line("")
        import sys

        from flowergit.render.text import escape

        body = b["body"]
        sys.stdout.write("\n".join(escape(ln) for ln in body.split("\n")) + ("" if body.endswith("\n") else "\n"))


def brief_log(entries: Sequence[dict[str, str]]) -> None:
    output.print_table(["COMMIT", "DATE", "AUTHOR", "SUBJECT"],
                       [(e["commit"][:12], e["date"], e["author"], e["subject"]) for e in entries])
