"""The HTML page of ``hwq report``: a small Markdown subset rendered to HTML, records without a Markdown
companion shown as tables, images inlined (PNG/SVG as base64) so the page reads offline as one file."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

from hwq.report.collect import IMAGE_SUFFIXES, Item

__all__ = ["img_tag", "json_html", "markdown_to_html", "page", "stamp_line"]


# a small Markdown subset -> HTML (headings, tables, lists, code fences, inline code/bold/links/images)
def _inline(text: str, base: Path | None) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)

    def img(m: re.Match) -> str:
        src = base / m.group(2) if base is not None else None
        if src is not None and src.is_file() and src.suffix in IMAGE_SUFFIXES:
            return img_tag(src, m.group(1))
        return html.escape(m.group(1))

    out = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", img, out)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"\1", out)


def markdown_to_html(text: str, base: Path | None = None, shift: int = 2) -> str:
    """Render the Markdown subset the hwq reports use; headings shift down by ``shift`` levels."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre>" + html.escape("\n".join(lines[i + 1:j])) + "</pre>")
            i = j + 1
        elif m := re.match(r"(#{1,6})\s+(.*)", line):
            lvl = min(6, len(m.group(1)) + shift)
            out.append(f"<h{lvl}>{_inline(m.group(2), base)}</h{lvl}>")
            i += 1
        elif line.lstrip().startswith("|"):
            block = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                block.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            out.append(_table(block, base))
        elif re.match(r"\s*[-*]\s+", line):
            items = []
            while i < len(lines) and re.match(r"\s*[-*]\s+", lines[i]):
                items.append("<li>" + _inline(re.sub(r"^\s*[-*]\s+", "", lines[i]), base) + "</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
        elif not line.strip():
            i += 1
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"(#|```|\s*\||\s*[-*]\s)", lines[i]):
                para.append(_inline(lines[i], base))
                i += 1
            out.append("<p>" + "<br>".join(para) + "</p>")
    return "\n".join(out)


def _table(rows: list[list[str]], base: Path | None) -> str:
    align: list[str] = []
    if len(rows) > 1 and all(re.fullmatch(r":?-{2,}:?", c) for c in rows[1] if c):
        align = ["right" if c.endswith(":") else "left" for c in rows[1]]
        head, body = rows[0], rows[2:]
    else:
        head, body = None, rows
    h = "<table>"
    if head:
        h += "<tr>" + "".join(f"<th>{_inline(c, base)}</th>" for c in head) + "</tr>"
    for r in body:
        h += "<tr>" + "".join(
            f'<td style="text-align:{align[k] if k < len(align) else "left"}">{_inline(c, base)}</td>'
            for k, c in enumerate(r)) + "</tr>"
    return h + "</table>"


def img_tag(path: Path, alt: str = "") -> str:
    if path.suffix == ".svg":
        data = base64.b64encode(path.read_bytes()).decode()
        return f'<img alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def json_html(it: Item) -> str:
    """A record's scalar fields and its table, when it has no Markdown companion."""
    if it.record is None:
        return f"<p>{html.escape(it.json.name)}: {html.escape(it.problem)}</p>"
    data = it.record.to_dict()
    rows = it.record.table()
    parts = []
    scal = [(k, v) for k, v in data.items() if isinstance(v, (str, int, float, bool)) and v is not None]
    if scal:
        parts.append(_table([["field", "value"], ["---", "---"]] + [[k, _fmt(v)] for k, v in scal[:40]],
                            None))
    if rows:
        cols = [c for c in dict.fromkeys(k for r in rows for k in r)
                if all(not isinstance(r.get(c), (dict, list)) for r in rows)][:12]
        body = [[_fmt(r.get(c, "")) for c in cols] for r in rows[:200]]
        parts.append(_table([cols, ["---"] * len(cols)] + body, None))
    return "\n".join(parts) or f"<p>{html.escape(it.json.name)}: no table to show</p>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)




_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.4}h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;
margin-top:2em}table{border-collapse:collapse;margin:.6em 0;font-size:.88em}td,th{border:1px solid #ccc;
padding:2px 7px}th{background:#eee}code{background:#f2f2f2;padding:0 3px}pre{background:#f6f6f6;padding:.6em;
white-space:pre-wrap;font-size:.85em}img{max-width:100%;border:1px solid #ddd;margin:.4em 0}.stamp{color:#555;
font-size:.85em}.missing{background:#fff4e0;border-left:4px solid #e0a030;padding:.5em 1em}
nav a{margin-right:1em}"""


def stamp_line(it: Item, text: str) -> str:
    """The stamp line under a report's heading (``text``: the plain form when there is no stamp)."""
    st = it.stamp
    if not st:
        return f'<p class="stamp">{html.escape(text)}</p>'
    return (f'<p class="stamp">config: <code>{html.escape(st["slug"])}</code> &middot; hwq '
            f'{html.escape(st["hwq_version"])} &middot; {html.escape(st["date"])} &middot; '
            f'{html.escape(st["machine"])}</p>')


def page(body: list[str]) -> str:
    """The whole self-contained page around the section bodies."""
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>hwq reports</title>"
            f"<style>{_CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")
