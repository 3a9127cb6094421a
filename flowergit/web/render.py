"""Pages from templates, with everything that came from data rendered as text.

The templates are Jinja2 with autoescaping on for every template, whatever its name: a title,
a spec, a log line or a diff reaches the page as text, never as markup. Two things are turned
into HTML here, both by libraries that escape what they are given: a brief's spec, as
CommonMark with raw HTML off (``<script>`` in a spec shows as text; links to ``javascript:``
are refused), and an attempt's diff, highlighted by Pygments, one file at a time with the
lexer its name suggests.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup

MAX_HIGHLIGHT_LINES = 20_000  # past this, a diff is shown plain (still escaped)


@lru_cache(maxsize=1)
def env() -> jinja2.Environment:
    e = jinja2.Environment(loader=jinja2.PackageLoader("flowergit.web", "templates"),
                           autoescape=True, trim_blocks=True, lstrip_blocks=True,
                           undefined=jinja2.ChainableUndefined)
    e.filters["markdown"] = markdown
    e.filters["money"] = money
    e.filters["seconds"] = seconds
    e.filters["short"] = lambda oid: (oid or "")[:10]
    return e


def page(name: str, **data: Any) -> str:
    return env().get_template(name).render(**data)


@lru_cache(maxsize=1)
def _md() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False})


def markdown(text: str) -> Markup:
    """A spec as HTML: CommonMark, raw HTML shown as text (markdown-it-py escapes it)."""
    return Markup(_md().render(text or ""))


def money(value: Any) -> str:
    try:
        return f"${float(value):.4f}"
    except (TypeError, ValueError):
        return ""


def seconds(value: Any) -> str:
    try:
        s = int(float(value))
    except (TypeError, ValueError):
        return ""
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


_FILE = re.compile(r"^diff --git a/(.*) b/(.*)$")


def _lexer(path: str) -> Any:
    from pygments.lexers import get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        return get_lexer_for_filename(path, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def _code(lexer: Any, text: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    if lexer is None:
        return html.escape(text)
    out = highlight(text, lexer, HtmlFormatter(nowrap=True))
    return str(out).rstrip("\n")


def diff_html(patch: str) -> Markup:
    """A unified diff as HTML lines: each line's kind (file, hunk, added, removed, context) as
    its class, and the code in it highlighted for the file's language. Every character of the
    patch is escaped by Pygments or :func:`html.escape`."""
    lines = patch.split("\n")
    if len(lines) > MAX_HIGHLIGHT_LINES:
        return Markup("".join(f'<span class="dm">{html.escape(ln)}</span>' for ln in lines))
    out: list[str] = []
    lexer: Any = None
    in_hunk = False
    for ln in lines:
        m = _FILE.match(ln)
        if m:
            lexer, in_hunk = _lexer(m[2]), False
            out.append(f'<span class="df">{html.escape(ln)}</span>')
        elif ln.startswith("@@"):
            in_hunk = True
            out.append(f'<span class="dh">{html.escape(ln)}</span>')
        elif in_hunk and ln[:1] in ("+", "-", " "):
            kind = {"+": "da", "-": "dd", " ": "dc"}[ln[0]]
            out.append(f'<span class="{kind}">{html.escape(ln[0])}{_code(lexer, ln[1:])}</span>')
        else:
            out.append(f'<span class="dm">{html.escape(ln)}</span>')
    return Markup("".join(out))  # one block per line (the stylesheet): no newline between


@lru_cache(maxsize=1)
def highlight_css() -> str:
    from pygments.formatters import HtmlFormatter

    return str(HtmlFormatter(style="default").get_style_defs(".diff"))
