"""hwq report: sections from whatever is under reports/, stamps, inlined images, "not run yet"."""

from __future__ import annotations

import base64
import json

from hwq import records as R
from hwq.cli import main
from hwq.report import build_report, collect, markdown_to_html, stamp_of

STAMP = R.Stamp(hwq_version="0.1.0", slug="", config_hash="", tools={}, date="2026-01-01T00:00:00Z",
                machine="box")

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def _tree(root):
    paper = R.EvalPaper(stamp=STAMP, n=8, cols=8, seed=0, target_rate=3.0, checks=(),
                        rows=({"scheme": "nested D3", "slug": "d3q6_x", "distortion": 0.0591},))
    paper.save(root / "paper/paper.json")
    (root / "paper" / "paper.md").write_text("# Paper\n\n| scheme | D |\n| --- | ---: |\n"
                                             "| nested D3 | 0.0591 |\n")
    run = R.SynthRun("d3q6_x", "d3q6_x_mac", "ecp5", "LFE5U-85F", 1234, 900, 0, 0, 170.1, 150.0, 11, 1)
    R.Synth(stamp=STAMP, target="ecp5", runs=(run,)).save(root / "synth" / "s.json")
    (root / "roofline").mkdir()
    doc = {"kind": "hwq-roofline", "schema": 1, "stamp": {"slug": "d3q6_x", "hwq_version": "0.1.0"}}
    (root / "roofline" / "r.json").write_text(json.dumps(doc))
    (root / "roofline" / "r.md").write_text("# R\n\n![chart](r_roofline.png)\n")
    (root / "roofline" / "r_roofline.png").write_bytes(PNG_1PX)
    (root / "roofline" / "r_roofline.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / "extra_area").mkdir()
    (root / "extra_area" / "e.json").write_text(json.dumps([{"a": 1, "b": 2.5}]))


def test_sections_stamps_and_missing(tmp_path) -> None:
    _tree(tmp_path)
    secs = {s.folder: s for s in collect(tmp_path)}
    assert secs["paper"].ran and secs["synth"].ran and not secs["sim"].ran and not secs["bench"].ran
    assert "extra_area" in secs
    assert secs["paper"].items[0].stamp == {"slug": "d3q6_x", "hwq_version": "0.1.0",
                                            "date": "2026-01-01T00:00:00Z", "machine": "box"}
    rl = secs["roofline"].items[0]
    assert [p.name for p in rl.images] == ["r_roofline.png"]  # PNG preferred over its SVG twin
    # a JSON that is not a current record: no guessed stamp, the reason instead
    assert rl.record is None and rl.stamp == {} and "unknown record kind 'hwq-roofline'" in rl.problem
    assert secs["extra_area"].items[0].problem.startswith("not an hwq record")
    assert stamp_of(R.load_any(tmp_path / "synth" / "s.json"))["slug"] == "d3q6_x"


def test_html_self_contained_and_readme(tmp_path) -> None:
    _tree(tmp_path)
    html_path, md_path = build_report(tmp_path)
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") == 2  # the md's image reference and the item's image
    assert "src=\"http" not in page and "<link" not in page  # nothing to fetch: readable offline
    assert "not run yet" in page and "hwq sim --config FILE" in page
    assert "d3q6_x" in page and "1234" in page and "170.1" in page
    md = md_path.read_text()
    assert "| Simulation | not run yet |" in md and "roofline/r_roofline.png" in md
    assert "config `d3q6_x`, hwq 0.1.0, 2026-01-01T00:00:00Z, box" in md
    assert "stamp: not recorded (unknown record kind 'hwq-roofline'" in md


def test_markdown_subset() -> None:
    h = markdown_to_html("# T\n\ntext `c` **b**\n\n| a | b |\n| --- | ---: |\n| 1 | <2> |\n\n"
                         "- x\n- y\n\n```\nq<\n```")
    assert "<h3>T</h3>" in h and "<code>c</code>" in h and "<b>b</b>" in h
    assert '<td style="text-align:right">&lt;2&gt;</td>' in h
    assert "<li>x</li>" in h and "<pre>q&lt;</pre>" in h


def test_cli(tmp_path, capsys) -> None:
    assert main(["report", "--reports", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "not run yet" in out and (tmp_path / "r" / "index.html").is_file()
    (tmp_path / "f").write_text("x")
    assert main(["report", "--reports", str(tmp_path / "f")]) == 2


def test_md_table_both_separator_styles() -> None:
    from hwq.report.markdown import md_table

    assert md_table(("a", "b"), [(1, "x")]) == ["| a | b |", "|---|---|", "| 1 | x |"]
    assert md_table(("a", "b"), [], spaced=True) == ["| a | b |", "| --- | --- |"]
