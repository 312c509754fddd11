"""The stages of hwq explore against their real tools, on small settings: quality equals the reference
distortion, the simulation catches a wrong accumulator, synthesis / throughput / kernel give figures or say
n/a with the reason (hwq.explore.stages)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwq.config import HwqConfig
from hwq.explore.space import Point, build_points
from hwq.explore.stages import DEFAULT_SETTINGS, run_stage

S = {**DEFAULT_SETTINGS, "quality_n": 384, "quality_cols": 16, "sim_rows": 5, "kernel_k": 512,
     "kernel_m": 256, "kernel_rounds": 1}


def _point(**fields) -> Point:
    pts, bad = build_points([fields])
    assert not bad
    return pts[0]


def test_quality_is_the_reference_distortion(tmp_path):
    from hwq.matmul import encode_matrix, estimate_product, product_distortion

    p = _point(lattice="D4", q=4, hadamard=16)
    rec = run_stage("quality", p, tmp_path, {}, S, "k", {})
    assert rec.status == "ok", rec.reason
    cfg = p.cfg()
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((384, 16)), rng.standard_normal((384, 16))
    d = product_distortion(estimate_product(encode_matrix(a, cfg, 0), encode_matrix(b, cfg, 1)), a.T @ b, 384)
    assert rec.values["D"] == d and rec.values["ratio_to_gamma"] > 1.0
    # bits actually stored: codes (8 bits, 256 codewords) + 2-bit ladder per 4-dim block + 32-bit norm per
    # column
    assert rec.values["bits"] == pytest.approx((8 + 2) / 4 + 32 / 384)


def test_baseline_quality_and_na(tmp_path):
    rec = run_stage("quality", Point("int3_g128", "baseline", {}), tmp_path, {}, S, "k", {})
    assert rec.status == "ok" and rec.values["bits"] == pytest.approx(3 + 16 / 128)  # an fp16 scale per 128
    syn = run_stage("synth", Point("int3_g128", "baseline", {}), tmp_path, {}, S, "k", {})
    assert syn.status == "n/a" and "no RTL unit" in syn.reason


def test_sim_bit_exact_and_catches_a_wrong_accumulator(tmp_path, monkeypatch):
    p = _point(lattice="D3", q=6, hadamard=16, lanes=2)
    rec = run_stage("sim", p, tmp_path, {}, S, "k", {})
    assert rec.status == "ok", rec.reason
    assert rec.values["bit_exact"] and rec.values["cycles"] == rec.values["cycles_model"]
    import hwq.rtl.vectors as vec

    real = vec.gemv_case

    def corrupted(cfg, m, k=None, seed=0):
        case = real(cfg, m, k, seed=seed)
        ref = case.ref.copy()
        ref[0, 1] += 1
        return dataclasses.replace(case, ref=ref)

    monkeypatch.setattr(vec, "gemv_case", corrupted)
    bad = run_stage("sim", p, tmp_path, {}, S, "k", {})
    assert bad.status == "failed" and "not bit-exact: 1 of 5" in bad.reason


def test_sim_na_for_dither_and_unbuildable(tmp_path):
    assert run_stage("sim", _point(dither=True, hadamard=16), tmp_path, {}, S, "k", {}).status == "n/a"
    r = run_stage("sim", _point(lattice="Z", q=300, hadamard=16), tmp_path, {}, S, "k", {})
    assert r.status == "n/a" and "q <= 64" in r.reason


def test_synth_and_throughput(tmp_path):
    p = _point(lattice="Z", q=4, hadamard=8, lanes=4)
    syn = run_stage("synth", p, tmp_path, {}, S, "k", {})
    assert syn.status == "ok", syn.reason
    v = syn.values
    assert v["lanes_synth"] == 1 and v["luts"] > 0 and v["luts_per_lane"] == v["luts"] and v["fmax_mhz"] > 50
    thr = run_stage("throughput", p, tmp_path, {"synth": v}, S, "k", {})
    assert thr.status == "ok"
    f = v["fmax_mhz"] * 1e6
    assert thr.values["blocks_per_s"] == pytest.approx(4 * f)
    assert thr.values["weights_per_s"] == pytest.approx(4 * f)
    from hwq.rtl.cycles import gemv_cycles

    lay = thr.values["layer"]
    assert lay["cycles"] == gemv_cycles(p.cfg(), lay["m"], lay["k"])
    assert lay["us"] == pytest.approx(lay["cycles"] / f * 1e6)
    assert run_stage("throughput", p, tmp_path, {}, S, "k", {}).status == "n/a"


def test_kernel_against_ort_in_the_same_run(tmp_path):
    pytest.importorskip("onnxruntime")
    rec = run_stage("kernel", _point(), tmp_path, {}, S, "k", {})
    assert rec.status == "ok", rec.reason
    v = rec.values
    assert v["ms"] > 0 and v["ort_q4_ms"] > 0
    assert v["speedup_vs_ort_q4"] == pytest.approx(v["ort_q4_ms"] / v["ms"])
    na = run_stage("kernel", Point("int3_g128", "baseline", {}), tmp_path, {}, S, "k", {})
    assert na.status == "n/a" and "bits 2, 4 and 8" in na.reason


def test_gpu_is_a_labelled_prediction(tmp_path):
    from hwq.perf.cost import hwq_weight_bytes

    rec = run_stage("gpu", _point(), tmp_path, {}, S, "k", {})
    assert rec.status == "ok" and rec.values["prediction"] is True
    # memory-bound decode: the speed-up tracks the weight bytes (fp16 over the packed format)
    ratio = 4096 * 14336 * 2 / hwq_weight_bytes(HwqConfig(), 4096, 14336)
    assert 0.8 * ratio < rec.values["speedup_vs_fp16"] <= ratio * 1.01


def test_minilm_weight_only_distortion(tmp_path):
    from hwq.errors import HwqError
    from hwq.eval.minilm import MiniLM

    try:
        MiniLM.load(None)
    except HwqError as e:
        pytest.skip(f"MiniLM weights not installed: {e}")
    st = {**S, "minilm_sentences": 2}
    r4 = run_stage("minilm", Point("int4_g128", "baseline", {}), tmp_path, {}, st, "k", {})
    r2 = run_stage("minilm", Point("int2_g128", "baseline", {}), tmp_path, {}, st, "k", {})
    assert r4.status == r2.status == "ok", (r4.reason, r2.reason)
    assert r4.values["layers"] == 36 and 0 < r4.values["layer_dist_mean"] < r2.values["layer_dist_mean"] < 1
    assert r4.values["layer_dist_mean"] <= r4.values["layer_dist_max"]


def test_asic_is_the_standard_cell_flow(tmp_path):
    """The asic stage reports what hwq.rtl.asic maps and times for the same unit, per lane; INT4 uses its RTL
    unit, a format without one is n/a."""
    from hwq.rtl.asic import synthesize_asic

    p = _point(lattice="Z", q=4, hadamard=8, lanes=4)
    rec = run_stage("asic", p, tmp_path, {}, S, "k", {})
    assert rec.status == "ok", rec.reason
    v = rec.values
    direct = synthesize_asic(p.cfg().replace(lanes=S["synth_lanes"]), "mac", out_dir=tmp_path / "direct")
    assert v["area_um2"] == direct.area_um2 > 0 and v["fmax_mhz"] == direct.fmax_mhz > 0
    assert v["area_per_lane_um2"] == pytest.approx(v["area_um2"] / S["synth_lanes"])
    int4 = run_stage("asic", Point("int4_g128", "baseline", {}), tmp_path, {}, S, "k", {})
    assert int4.values["unit"] == "int4"
    na = run_stage("asic", Point("mxfp4", "baseline", {}), tmp_path, {}, S, "k", {})
    assert na.status == "n/a" and "no RTL unit" in na.reason
