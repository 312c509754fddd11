"""AXI4-Stream tops: beat layouts derived from the config, manifest entries, the README table, the host packer
(fast, unmarked; the simulations are in tests/test_sim_axi.py)."""

from __future__ import annotations

import gc
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hwq.rtl.axi_layout import axi_port_info, axi_streams, beat_table, markdown_table
from hwq.rtl.build import port_info
from hwq.rtl.vectors import top_beats
from hwq.sim.axi_frames import AxiFrames
from hwq.stimulus import gemv_case

from hwq.config import HwqConfig
from hwq.errors import HwqError

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("cfg",
                         [HwqConfig(), HwqConfig(lattice="E8", q=7, decoder="arith", lanes=3, hadamard=32),
                                 HwqConfig(lattice="Z", q=8, lanes=4, hadamard=16)], ids=lambda c: c.slug)
@pytest.mark.parametrize("kind", ["wo", "lut"])
def test_layout_follows_config(cfg, kind):
    """Widths come from the config; tdata is whole bytes; fields tile the payload without gaps or overlap."""
    st = axi_streams(cfg, kind)
    assert set(st) == {"s_axis_x", "s_axis_w", "m_axis_o"}
    w = {f[0]: f for f in st["s_axis_w"].fields()}
    assert w["codes"][2:4] == [cfg.code_bits, cfg.lanes]
    assert w["ladder"][2:4] == [max(1, cfg.ladder_bits), cfg.lanes]
    x = {f[0]: f for f in st["s_axis_x"].fields()}
    assert x["x"][2:5] == [cfg.act_bits, cfg.hadamard, True]
    assert ("em" in x) == (kind == "lut")
    acc = st["m_axis_o"].fields()[0]
    assert acc[2:5] == [cfg.acc_bits if kind == "wo" else cfg.lut_acc_bits, cfg.lanes, True]
    for s in st.values():
        assert s.tdata_bits % 8 == 0 and 0 <= s.tdata_bits - s.payload_bits < 8
        pos = 0
        for _, off, width, count, _ in s.fields():
            assert off == pos
            pos += width * count
        assert pos == s.payload_bits


def test_manifest_ports_are_the_layout():
    from hwq.rtl.axi import LutAxi

    cfg = HwqConfig(hadamard=8, lanes=2, max_k=48)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unit is never elaborated here (Amaranth's UnusedElaboratable)
        unit = LutAxi(cfg)
        ports = port_info(unit)
        members = set(unit.signature.members)
        del unit
        gc.collect()
    assert ports == axi_port_info(axi_streams(cfg, "lut"))
    assert ports["m_axis_o"]["direction"] == "out" and ports["s_axis_w"]["tdata_bits"] == 24
    assert ports["s_axis_x"]["verilog"] == ["s_axis_x_tdata", "s_axis_x_tvalid", "s_axis_x_tready",
                                            "s_axis_x_tlast"]
    assert {"aclk", "aresetn"} <= members and all(f"{p}_{s}" in members for p in ports
                                                  for s in ("tdata", "tvalid", "tready", "tlast"))


def test_readme_table_is_generated_from_the_default_config():
    """The README's layout tables are exactly what markdown_table prints for HwqConfig() (one source)."""
    text = README.read_text()
    for kind in ("wo", "lut"):
        table = markdown_table(HwqConfig(), kind)
        assert table in text, f"README lacks the current {kind} layout table; regenerate it:\n{table}"


def test_beat_table_rows():
    rows = beat_table(HwqConfig(), "wo")
    pad = [r for r in rows if r["field"] == "(pad)"]
    assert all(r["offset"] + r["width"] == axi_streams(HwqConfig(), "wo")[r["stream"]].tdata_bits
               for r in pad)
    assert [r["stream"] for r in rows if r["field"] == "tlast"] == ["s_axis_x", "s_axis_w", "m_axis_o"]
    with pytest.raises(HwqError, match="unknown AXI top kind"):
        axi_streams(HwqConfig(), "int4")


@pytest.mark.parametrize("kind", ["wo", "lut"])
def test_frames_match_the_native_beats(kind):
    """The host packer produces the same fields as the native tops' beats of hwq.rtl.vectors.top_beats (which
    the amaranth.sim tests of tests/test_rtl_top.py check bit for bit), with row_end = last."""
    cfg = HwqConfig(lattice="D3", q=6, hadamard=16, lanes=2)
    fr = AxiFrames(axi_port_info(axi_streams(cfg, kind)), cfg.lanes, cfg.dim, cfg.hadamard)
    case = gemv_case(cfg, 5, 48, nvec=2, seed=7, kind=kind)
    xb, wb = top_beats(cfg, case)
    got_x = fr.unpack_beats("s_axis_x", fr.x_frame(case.x_int[:, 1], None if case.em is None else case.em[1]))
    assert [b["x"] for b in got_x] == [b["x"] for b in xb[3:6]]
    if kind == "lut":
        assert {b["em"] for b in got_x} == {xb[5]["em"]}
    got_w = fr.unpack_beats("s_axis_w", fr.w_frame(case.rows, case.ladder))
    nat = wb[:len(got_w)]
    assert [(b["codes"], b["ladder"], b["row_end"]) for b in got_w] == [(b["codes"], b["ladder"], b["last"])
                                                                          for b in nat]
    assert len(fr.w_frame(case.rows, case.ladder)) == 3 * 16 * fr.beat_bytes["s_axis_w"]
    assert np.array_equal(fr.o_values(fr.o_frame(case.ref[0]), 5), case.ref[0])


def test_frames_refuse_bad_input():
    cfg = HwqConfig(lattice="D3", q=6, hadamard=16, lanes=2)
    fr = AxiFrames(axi_port_info(axi_streams(cfg, "wo")), cfg.lanes, cfg.dim, cfg.hadamard)
    with pytest.raises(HwqError, match="multiple of hadamard"):
        fr.x_frame(np.zeros(20, dtype=np.int64))
    with pytest.raises(HwqError, match="takes the vector's em"):
        fr.x_frame(np.zeros(16, dtype=np.int64), em=3)
    with pytest.raises(HwqError, match="does not fit field 'x'"):
        fr.x_frame(np.full(16, 1000))
    with pytest.raises(HwqError, match="whole number of"):
        fr.unpack_beats("m_axis_o", b"\0" * 3)
    with pytest.raises(HwqError, match="not an AXI4-Stream top"):
        AxiFrames({"x": {"fields": [["x", 0, 8, 1, True]]}}, 2, 3, 16)


def test_readme_documents_the_choice():
    text = README.read_text()
    sec = text[text.index("### AXI4-Stream tops"):]
    assert re.search(r"AXI4-Lite", sec) and "--simulator icarus" in sec


def test_cli_rtl_writes_the_axi_layout(tmp_path, capsys):
    from hwq.cli import main

    cfg = HwqConfig(lattice="Z", q=8, hadamard=4, lanes=4)
    p = tmp_path / "c.json"
    cfg.save(p)
    assert main(["rtl", "--config", str(p), "--out", str(tmp_path / "o"), "--only", "top_axi"]) == 0
    doc = (tmp_path / "o" / "axi_layout.md").read_text()
    assert markdown_table(cfg, "wo") in doc and "luttop_axi" not in doc
    assert "axi_layout.md" in capsys.readouterr().out
    v = (tmp_path / "o" / f"{cfg.slug}_top_axi.v").read_text()
    assert all(f" {s};" in v for s in ("aclk", "aresetn", "s_axis_w_tlast", "m_axis_o_tready"))
