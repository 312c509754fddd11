"""hwq.perf.study (and its formats, plots): one roofline study written as record, Markdown and charts; the
host study calibrated now and validated against an ``hwq bench c`` record that carries its own roofs."""

from __future__ import annotations

import json

import pytest

from hwq.cli import main
from hwq.config import HwqConfig
from hwq.perf.study import run_roofline


def test_run_roofline_writes_reports_and_cli(tmp_path, capsys) -> None:
    doc = run_roofline(HwqConfig(), "a100", "minilm-l6", out_dir=tmp_path / "rl", reports_dir=tmp_path,
                       plots=False)
    assert doc["device"]["key"] == "a100-80gb" and len(doc["layers"]) == 6
    assert json.loads((tmp_path / "rl" / f"a100-80gb_minilm-l6_decode_{HwqConfig().slug}.json").read_text())
    rc = main(["roofline", "--device", "h200", "--model", "llama3-8b", "--out", str(tmp_path / "o"),
               "--reports", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "gate_proj" in out and "speedup" in out
    pngs = sorted(p.name for p in (tmp_path / "o").glob("*.png"))
    assert len(pngs) == 2 and (tmp_path / "o" / pngs[0]).read_bytes()[:4] == b"\x89PNG"
    assert len(list((tmp_path / "o").glob("*.svg"))) == 2
    assert main(["roofline", "--device", "nope", "--out", str(tmp_path / "o")]) == 2



@pytest.fixture(scope="module")
def host_build(tmp_path_factory):
    return tmp_path_factory.mktemp("host_build")


def test_ecp5_study_predicts_the_simulated_cycles(tmp_path) -> None:
    """The FPGA study validates the committed simulation with the RTL cycle model (1825 cycles, no error)."""
    doc = run_roofline(HwqConfig(), "ecp5", "minilm-l6", out_dir=tmp_path / "rl", reports_dir="reports",
                       plots=False)
    sim = [r for r in doc["validation"]["rows"] if r["unit"] == "cycles"]
    assert [(r["measured"], r["predicted"]) for r in sim] == [(1825, 1825.0)]
    # the layer times are the top unit's cycles at the board clock (activation load included)
    from hwq.rtl.cycles import gemv_cycles

    q = doc["layers"][0]
    cfg = HwqConfig()
    t_unit = gemv_cycles(cfg, q["m"], cfg.padded_k(q["k"]), "top") / doc["rtl"]["fmax_hz"]
    assert q["t_hwq_s"] == pytest.approx(max(t_unit, q["bytes_hwq"] / doc["device"]["bandwidth"]))
    assert t_unit > 2 * q["k"] * q["m"] / doc["device"]["peak"]["rtl"]  # more than the MAC stream alone


def test_host_study_validates_bench_points_with_the_bench_roofs(tmp_path, host_build) -> None:
    from hwq.codegen.bench import run_bench
    from hwq.codegen.bench_format import write_report

    rep = run_bench(HwqConfig(), host_build, shapes=((1024, 256),), batches=(1,), threads=(1,), rounds=2,
                    kernels=("read_floor", "hwq_exact"), log=lambda s: None)
    assert [(c["k"], c["m"], c["kernel"]) for c in rep.calibration] == [(1024, 256, "hwq_exact")]
    write_report(rep, tmp_path / "bench")
    doc = run_roofline(HwqConfig(), "host", "minilm-l6", out_dir=tmp_path / "rl", reports_dir=tmp_path,
                       build_dir=host_build, host_kernels=("hwq_exact", "numpy_fp32"), host_threads=(1,),
                       plots=False)
    v = [r for r in doc["validation"]["rows"] if r["device"] == "host"]
    assert [(r["kernel"], r["k"], r["m"], r["roofs"]) for r in v] == [("hwq_exact", 1024, 256, "bench")]
    assert v[0]["error"] == pytest.approx(v[0]["predicted"] / v[0]["measured"] - 1)
    kern = {(r["kernel"], r["threads"]): r for r in doc["host"]["kernels"]}
    assert kern[("hwq_exact", 1)]["validated"] and not kern[("numpy_fp32", 1)]["validated"]
    md = (tmp_path / "rl" / f"host_minilm-l6_decode_{HwqConfig().slug}.md").read_text()
    assert "Host roofs, calibrated now" in md and "not validated" in md
    assert "| hwq_exact | 1024x256 | 1 | 1 |" in md and "| bench |" in md
