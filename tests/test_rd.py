"""Tests of the rate-distortion sweep (hwq.eval.rd) and its CLI."""

from __future__ import annotations


import pytest

from hwq.cli import main
from hwq.errors import HwqError
from hwq.eval.rd import plan, run_rd, write_rd
from hwq.records import EvalRd, load


def test_plan_covers_every_family_where_defined() -> None:
    pts = plan([0.25, 1.0, 3.0, 8.0])
    fams = {p[0] for p in pts}
    assert {"z", "d3", "d4", "e8", "nestquant", "timeshare", "absmax", "absmax_g64", "dithered",
            "hadamard_int",
            "watersic", "kashin", "d3_nodither"} <= fams
    assert all(r >= 2 for f, r, _ in pts if f in ("z", "d3", "e8"))
    assert all(r < 1.85 for f, r, _ in pts if f == "timeshare")
    with pytest.raises(HwqError, match="unknown method"):
        plan([1.0], ["e9"])
    with pytest.raises(HwqError, match="rates"):
        plan([0.0])


def test_small_sweep_and_report(tmp_path) -> None:
    rows, skipped = run_rd(n=96, cols=8, rates=[0.5, 2.0, 3.0], methods=["absmax", "dithered", "timeshare"])
    assert not skipped
    assert {r["method"] for r in rows} == {"absmax", "dithered", "timeshare"}
    for r in rows:
        assert r["distortion"] > 0 and r["ratio"] > 0.8  # nothing beats Gamma(R) by more than noise
    paths = write_rd(rows, tmp_path, {"n": 96, "cols": 8, "seed": 0, "seconds": 1.0, "skipped": skipped})
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    rec = load(tmp_path / "rd.json", EvalRd)
    assert rec.rows[0]["method"] == rows[0]["method"] and (rec.n, rec.cols, rec.seed) == (96, 8, 0)
    assert (tmp_path / "rd.svg").read_text().lstrip().startswith("<?xml")


def test_cli_bad_input(capsys) -> None:
    assert main(["eval", "rd", "--n", "100"]) == 2
    assert "multiple of 24" in capsys.readouterr().err
    assert main(["eval", "rd", "--rates", "1,x"]) == 2


def test_fixed_rate_formats_are_one_point_each_and_refusals_are_skipped() -> None:
    pts = plan([2.0, 3.0, 4.0], ["int4_g128", "int2_g128", "mxfp4", "nvfp4"])
    assert pts == [("int4_g128", 4.0, {}), ("int2_g128", 2.0, {}), ("mxfp4", 4.0, {}), ("nvfp4", 4.0, {})]
    rows, skipped = run_rd(n=96, cols=8, rates=[4.0], methods=["int4_g128", "nvfp4"])
    assert [r["method"] for r in rows] == ["nvfp4"] and rows[0]["rate_packed"] == rows[0]["rate"]
    assert skipped[0]["method"] == "int4_g128" and "multiple of 128" in skipped[0]["reason"]
