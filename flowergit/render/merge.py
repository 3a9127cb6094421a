"""Human output of the merge gate: merge, test, recover, verify, why."""

from __future__ import annotations


from flowergit.render import output

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def counts(s: dict[str, Any] | None) -> str:
    if not s:
        return "suite not run"
    if s.get("counts_from") == "none" or s.get("tests") is None:
        text = "test counts unknown (no JUnit file and no summary line)"
    else:
        text = (f"{s.get('tests')} tests, {s.get('passed')} passed, {s.get('failed')} failed, "
                f"{s.get('skipped')} skipped, {s.get('errors')} errors")
    if s.get("seconds") is not None:
        text += f" in {s['seconds']}s"
    return text


def diffstat(files: list[dict[str, Any]], width: int = 40) -> list[str]:
    """``git diff --stat``'s lines: ``calc.py | 3 ++-`` per file, then the totals."""
    if not files:
        return []
    name_w = min(max(len(str(f["path"])) for f in files), 50)
    counts = [(f.get("added"), f.get("deleted")) for f in files]
    most = max([(a or 0) + (d or 0) for a, d in counts] + [1])
    scale = min(1.0, width / most)
    out = []
    for f, (a, d) in zip(files, counts):
        path = str(f["path"])
        if len(path) > name_w:
            path = "…" + path[-(name_w - 1):]
        if a is None or d is None:
            out.append(f"{path:<{name_w}} | Bin")
            continue
        plus = "+" * (max(1, round(a * scale)) if a else 0)
        minus = "-" * (max(1, round(d * scale)) if d else 0)
        out.append(f"{path:<{name_w}} | {a + d:>4} {plus}{minus}")
    ins = sum(a or 0 for a, _ in counts)
    dels = sum(d or 0 for _, d in counts)
    out.append(f"{len(files)} file(s) changed, {ins} insertion(s)(+), {dels} deletion(s)(-)")
    return out


def merge_one(r: dict[str, Any]) -> None:
    st = r.get("status")
    b = r.get("brief")
    if st == "merged":
        cached = " (attested earlier)" if (r.get("suite") or {}).get("cached") else ""
        output.line(f"merged brief {b} (dispatch {r['dispatch']}) into {r['into']} as "
                    f"{r['merge'][:12]}: {counts(r.get('suite'))}{cached}")
        if r.get("stashed"):
            output.line("  your overlapping local edits were set aside and re-applied")
        if r.get("released") == "background":
            output.line("  worker worktree being released in the background")
        elif r.get("released"):
            output.line("  worker worktree released")
        for w in r.get("warnings") or []:
            output.line(f"  warning: {w}")
    elif st == "dry-run":
        output.line(f"brief {b} (dispatch {r['dispatch']}) would merge cleanly into {r['into']}")
        output.line(f"  {len(r['incoming'])} path(s) incoming; tree {r['tree'][:12]}")
        for ln in diffstat(r.get("diffstat") or []):
            output.line("  " + ln)
        if r.get("base_drift"):
            output.line(f"  {r['into']} moved {r['base_drift']} commit(s) since the dispatch started")
        if r.get("stash_paths"):
            output.line("  local edits to set aside and re-apply: " + ", ".join(r["stash_paths"]))
        output.line("  suite: " + (" ".join(r["suite"]) if r.get("suite") else "skipped (--no-test)"))
    elif st == "up-to-date":
        output.line(f"brief {b} is already contained in {r['into']}; marked merged")
    elif st == "already-merged":
        output.line(f"brief {b} was already merged ({(r.get('merge') or '')[:12]})")
    else:
        output.line(f"brief {b}: {st}: {r.get('message', '')}")


def merge_result(r: Any) -> None:
    if isinstance(r, list):
        if not r:
            output.line("no finished briefs to merge")
        for item in r:
            merge_one(item)
    else:
        merge_one(r)


def test_result(r: dict[str, Any]) -> None:
    cached = " (attested earlier; not run again)" if r.get("cached") else ""
    output.line(f"suite passed on tree {r['tree'][:12]}: {counts(r)}{cached}")
    output.line(f"log: {r['log']}")


def recover_result(r: list[dict[str, Any]]) -> None:
    if not r:
        output.line("nothing to recover")
    for item in r:
        output.line(f"op {item['op']} (brief {item['brief']}): {item['action']}")
        for w in item.get("warnings") or []:
            output.line(f"  warning: {w}")


def verify_result(r: dict[str, Any]) -> None:
    output.line(f"{r['attested']} of {r['commits']} first-parent commit(s) in {r['range']} "
                "have a passing suite attestation")
    for row in r.get("unattested") or []:
        output.line(f"  {row['commit'][:12]}  {row['why']}  {row.get('subject', '')}")


def why_result(r: dict[str, Any]) -> None:
    p = r.get("provenance")
    where = r["commit"][:12] + (f" ({r['path']}" + (f":{r['line']}" if r.get("line") else "") + ")"
                                if r.get("path") else "")
    output.line(f"{where}: {r.get('subject', '')}")
    if not p:
        output.line("  " + r.get("note", "no provenance"))
        return
    output.line(f"  merged as {str(r['merge'])[:12]} into {p.get('into')} at {p.get('at')} by {p.get('by')}")
    model = f" (model {r['model']})" if r.get("model") else ""
    output.line(f"  brief {p.get('brief')}, dispatch {p.get('dispatch')}, agent {p.get('agent')}"
                f"{model}, branch {p.get('branch')}")
    u = p.get("agent_usage")
    if isinstance(u, dict):
        from flowergit.render.cells import cost, tokens

        spent = cost(u.get("cost_usd"), u.get("cost_source"))
        output.line(f"  agent used {u.get('turns') or 0} turn(s), {tokens(u.get('input_tokens'))} "
                    f"tokens in, {tokens(u.get('output_tokens'))} out"
                    + (f", {spent}" if spent else ""))
    if p.get("epoch") is not None:
        output.line(f"  baton epoch {p['epoch']}")
    output.line(f"  suite: {counts(p.get('suite'))}")


def red_details(data: Any) -> None:
    """After a red suite (on stderr, before the ``fatal:`` line): the failing tests by name and
    the last lines of the suite's log."""
    suite = data.get("suite") if isinstance(data, dict) and "suite" in data else data
    if not isinstance(suite, dict):
        return
    names = suite.get("failing") or []
    if names:
        output.info("failing tests:")
        for n in names:
            output.info(f"  {n}")
        if suite.get("failing_more"):
            output.info(f"  … and {suite['failing_more']} more (see the log)")
    log = suite.get("log")
    if isinstance(log, str):
        from flowergit.procs.suite import tail_lines

        last = tail_lines(log)
        if last:
            output.info(f"last lines of {log}:")
            for ln in last:
                output.info(f"  {ln}")
