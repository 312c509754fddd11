"""``hwq report``: one self-contained HTML page and a Markdown index of everything under ``reports/``.

Each area has a folder written by its own command; this module only reads them:

=========  =====================================  =========================================
folder     written by                             shown as
=========  =====================================  =========================================
paper      ``hwq eval paper``                     its Markdown (table + checks)
rd         ``hwq eval rd``                        Markdown/JSON table and the plot
synth      ``hwq synth``                          synthesis tables (LUT/FF/DSP/BRAM, Fmax)
sim        ``hwq sim``                            simulation summaries
bench      ``hwq bench c`` / the CUDA script      benchmark results
roofline   ``hwq roofline``                       tables, roofline and speedup charts
flow       ``hwq flow``                           the last end-to-end run
=========  =====================================  =========================================

Other folders under ``reports/`` are shown too, after these. Every JSON report is read as a typed record
(:mod:`hwq.records`); the page shows its stamp (config slug, hwq version, date, machine) and, for a file
that is not a current record, the reason in one line instead of a guessed stamp. A folder that does not
exist yet gets a "not run yet" section with the command that produces it. Images are inlined (PNG as
base64), so ``index.html`` reads offline as a single file.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwq.errors import HwqError
from hwq.records import NOT_RECORDED, Record, Stamp, load_any

__all__ = ["SECTIONS", "Section", "build_report", "collect", "markdown_to_html", "stamp_of"]

#: (folder, title, command that produces it)
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("paper", "Paper table", "hwq eval paper"),
    ("rd", "Rate-distortion", "hwq eval rd"),
    ("synth", "Synthesis", "hwq synth --config FILE --target ecp5   (or: hwq synth --sweep)"),
    ("sim", "Simulation", "hwq sim --config FILE --bulk 10000"),
    ("bench", "Benchmarks", "hwq bench c   (CUDA: the GPU benchmark script on an H100/H200-class machine)"),
    ("roofline", "Roofline", "hwq roofline --device h100 --model llama3-8b --config FILE"),
    ("flow", "End-to-end flow", "hwq flow --config FILE   (its reports go to build/flow/SLUG/reports/)"),
)
_SKIP_DIRS = {"cache", "build"}
_IMG = (".png", ".svg")


@dataclass
class Item:
    """One report inside a section: the files sharing a stem (``x.md``, ``x.json``, ``x*.png``)."""

    stem: str
    md: Path | None = None
    json: Path | None = None
    images: list[Path] = field(default_factory=list)
    record: Record | None = None
    problem: str = ""  # why the JSON is not a current record

    @property
    def stamp(self) -> dict[str, str]:
        return stamp_of(self.record) if self.record is not None else {}


@dataclass
class Section:
    folder: str
    title: str
    command: str
    items: list[Item] = field(default_factory=list)

    @property
    def ran(self) -> bool:
        return bool(self.items)


# ------------------------------------------------------------------------------------------------------
def stamp_of(rec: Record) -> dict[str, str]:
    """Config slug(s), hwq version, date and machine of a record (for the page and the index)."""
    slugs = rec.slugs()
    more = f" (+{len(slugs) - 6} more)" if len(slugs) > 6 else ""
    st = rec.stamp
    return {"slug": ", ".join(slugs[:6]) + more if slugs else NOT_RECORDED,
            "hwq_version": st.hwq_version, "date": st.date, "machine": st.machine}


def collect(reports_dir: str | Path = "reports") -> list[Section]:
    """Scan ``reports_dir``: the known sections in order, then any other folder with reports in it."""
    root = Path(reports_dir)
    known = [Section(f, t, c) for f, t, c in SECTIONS]
    names = {s.folder for s in known}
    extra = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in names | _SKIP_DIRS) \
        if root.is_dir() else []
    sections = known + [Section(n, n.replace("_", " ").capitalize(), "(written by another hwq command)")
                        for n in extra]
    for sec in sections:
        folder = root / sec.folder
        if not folder.is_dir():
            continue
        items: dict[str, Item] = {}
        files = sorted(p for p in folder.iterdir() if p.is_file())
        stems = {p.stem for p in files if p.suffix in (".md", ".json")}
        for p in files:
            if p.suffix in (".md", ".json"):
                it = items.setdefault(p.stem, Item(p.stem))
                setattr(it, p.suffix[1:], p)
            elif p.suffix in _IMG:
                owner = max((s for s in stems if p.stem.startswith(s)), key=len, default=p.stem)
                it = items.setdefault(owner, Item(owner))
                if p.suffix == ".png" or not any(i.stem == p.stem for i in it.images):
                    it.images = [i for i in it.images if i.stem != p.stem] + [p]
        for it in items.values():
            if it.json is not None:
                try:
                    it.record = load_any(it.json)
                except HwqError as e:
                    it.problem = str(e).removeprefix(f"{it.json}: ")
        sec.items = [items[k] for k in sorted(items)]
    return [s for s in sections if s.ran or s.folder in names]


# ------------------------------------------------------------------------------------------------------
# a small Markdown subset -> HTML (headings, tables, lists, code fences, inline code/bold/links/images)
def _inline(text: str, base: Path | None) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)

    def img(m: re.Match) -> str:
        src = base / m.group(2) if base is not None else None
        if src is not None and src.is_file() and src.suffix in _IMG:
            return _img_tag(src, m.group(1))
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


def _img_tag(path: Path, alt: str = "") -> str:
    if path.suffix == ".svg":
        data = base64.b64encode(path.read_bytes()).decode()
        return f'<img alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _json_html(it: Item) -> str:
    """A record's scalar fields and its table, when it has no Markdown companion."""
    if it.record is None:
        return f"<p>{html.escape(it.json.name)}: {html.escape(it.problem)}</p>"
    data = it.record.to_dict()
    rows = it.record.table()
    parts = []
    scal = [(k, v) for k, v in data.items() if isinstance(v, (str, int, float, bool)) and v is not None]
    if scal:
        parts.append(_table([["field", "value"], ["---", "---"]] + [[k, _fmt(v)] for k, v in scal[:40]], None))
    if rows:
        cols = [c for c in dict.fromkeys(k for r in rows for k in r)
                if all(not isinstance(r.get(c), (dict, list)) for r in rows)][:12]
        parts.append(_table([cols, ["---"] * len(cols)] + [[_fmt(r.get(c, "")) for c in cols] for r in rows[:200]],
                            None))
    return "\n".join(parts) or f"<p>{html.escape(it.json.name)}: no table to show</p>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)


# ------------------------------------------------------------------------------------------------------
_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.4}h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;
margin-top:2em}table{border-collapse:collapse;margin:.6em 0;font-size:.88em}td,th{border:1px solid #ccc;
padding:2px 7px}th{background:#eee}code{background:#f2f2f2;padding:0 3px}pre{background:#f6f6f6;padding:.6em;
white-space:pre-wrap;font-size:.85em}img{max-width:100%;border:1px solid #ddd;margin:.4em 0}.stamp{color:#555;
font-size:.85em}.missing{background:#fff4e0;border-left:4px solid #e0a030;padding:.5em 1em}
nav a{margin-right:1em}"""


def _stamp_text(it: Item) -> str:
    st = it.stamp
    if st:
        return f"config `{st['slug']}`, hwq {st['hwq_version']}, {st['date']}, {st['machine']}"
    return f"stamp: not recorded ({it.problem or 'no JSON with this report'})"


def _stamp_line(it: Item) -> str:
    st = it.stamp
    if not st:
        return f'<p class="stamp">{html.escape(_stamp_text(it))}</p>'
    return (f'<p class="stamp">config: <code>{html.escape(st["slug"])}</code> &middot; hwq '
            f'{html.escape(st["hwq_version"])} &middot; {html.escape(st["date"])} &middot; '
            f'{html.escape(st["machine"])}</p>')


def build_report(reports_dir: str | Path = "reports", *, html_path: str | Path | None = None,
                 md_path: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``index.html`` (self-contained) and ``README.md`` for ``reports_dir``; returns their paths.

    Raises
    ------
    HwqError
        ``reports_dir`` exists but is not a folder.
    """
    root = Path(reports_dir)
    if root.exists() and not root.is_dir():
        raise HwqError(f"reports path {root} is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    html_path = Path(html_path) if html_path else root / "index.html"
    md_path = Path(md_path) if md_path else root / "README.md"
    sections = collect(root)
    st = Stamp.now()
    gen = f"built by hwq {st.hwq_version} on {st.date}, machine: {st.machine}"
    body = [f"<h1>hwq reports</h1><p class='stamp'>{html.escape(gen)}</p><nav>"
            + "".join(f'<a href="#{s.folder}">{html.escape(s.title)}</a>' for s in sections) + "</nav>"]
    md = ["# hwq reports", "", gen, "", "| section | status | command |", "| --- | --- | --- |"]
    md += [f"| [{s.title}](#{s.folder}) | {len(s.items)} report(s) | `{s.command}` |" if s.ran else
           f"| {s.title} | not run yet | `{s.command}` |" for s in sections]
    for s in sections:
        body.append(f'<h2 id="{s.folder}">{html.escape(s.title)}</h2>')
        md += ["", f'<a id="{s.folder}"></a>', "", f"## {s.title}", ""]
        if not s.ran:
            body.append(f'<div class="missing">not run yet: produce it with <code>{html.escape(s.command)}</code>'
                        f" (writes {html.escape(str(root / s.folder))}/)</div>")
            md.append(f"Not run yet: produce it with `{s.command}` (writes `{s.folder}/`).")
            continue
        for it in s.items:
            body.append(f"<h3>{html.escape(it.stem)}</h3>{_stamp_line(it)}")
            md.append(f"### {it.stem}")
            md.append("")
            md.append(_stamp_text(it))
            md.append("")
            if it.md is not None:
                text = it.md.read_text()
                body.append(markdown_to_html(text, it.md.parent))
                md.append(re.sub(r"^(#{1,4}) ", r"\1## ", text, flags=re.MULTILINE).rstrip())
            elif it.json is not None:
                body.append(_json_html(it))
                md.append(f"(JSON only: `{s.folder}/{it.json.name}`)")
            for img in it.images:
                body.append(_img_tag(img, img.stem))
                md.append(f"![{img.stem}]({img.relative_to(root).as_posix()})")
            md.append("")
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>hwq reports</title>"
            f"<style>{_CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")
    html_path.write_text(page)
    md_path.write_text("\n".join(md).rstrip() + "\n")
    return html_path, md_path
