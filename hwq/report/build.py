"""``build_report``: the HTML page and the Markdown index of a reports folder, from :func:`collect`."""

from __future__ import annotations

import html
import re
from pathlib import Path

from hwq.errors import HwqError
from hwq.records import Stamp
from hwq.report.collect import Item, collect
from hwq.report.html import img_tag, json_html, markdown_to_html, page, stamp_line
from hwq.report.markdown import md_table

__all__ = ["build_report"]


def _stamp_text(it: Item) -> str:
    st = it.stamp
    if st:
        return f"config `{st['slug']}`, hwq {st['hwq_version']}, {st['date']}, {st['machine']}"
    return f"stamp: not recorded ({it.problem or 'no JSON with this report'})"


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
    md = ["# hwq reports", "", gen, ""] + md_table(
        ("section", "status", "command"),
        [(f"[{s.title}](#{s.folder})", f"{len(s.items)} report(s)", f"`{s.command}`") if s.ran else
         (s.title, "not run yet", f"`{s.command}`") for s in sections], spaced=True)
    for s in sections:
        body.append(f'<h2 id="{s.folder}">{html.escape(s.title)}</h2>')
        md += ["", f'<a id="{s.folder}"></a>', "", f"## {s.title}", ""]
        if not s.ran:
            body.append('<div class="missing">not run yet: produce it with '
                        f"<code>{html.escape(s.command)}</code> (writes "
                        f"{html.escape(str(root / s.folder))}/)</div>")
            md.append(f"Not run yet: produce it with `{s.command}` (writes `{s.folder}/`).")
            continue
        for it in s.items:
            body.append(f"<h3>{html.escape(it.stem)}</h3>{stamp_line(it, _stamp_text(it))}")
            md.append(f"### {it.stem}")
            md.append("")
            md.append(_stamp_text(it))
            md.append("")
            if it.md is not None:
                text = it.md.read_text()
                body.append(markdown_to_html(text, it.md.parent))
                md.append(re.sub(r"^(#{1,4}) ", r"\1## ", text, flags=re.MULTILINE).rstrip())
            elif it.json is not None:
                body.append(json_html(it))
                md.append(f"(JSON only: `{s.folder}/{it.json.name}`)")
            for img in it.images:
                body.append(img_tag(img, img.stem))
                md.append(f"![{img.stem}]({img.relative_to(root).as_posix()})")
            md.append("")
    html_path.write_text(page(body))
    md_path.write_text("\n".join(md).rstrip() + "\n")
    return html_path, md_path

