"""Roofline model: bytes from the container, roofline arithmetic, catalogs, validation, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwq.cli import main
from hwq.config import HwqConfig
from hwq.devices import Device, get_device, load_devices, load_measurements, synth_reports
from hwq.errors import HwqError
from hwq.matmul import encode_matrix
from hwq.models import Workload, get_model, load_models
from hwq.roofline import (dense_cost, hwq_cost, hwq_weight_bytes, layer_rows, model_summary, padded_k, predict,
                          rtl_cycles, rtl_unit, run_roofline, speedup_vs_batch, validate)

CONFIGS = [HwqConfig(), HwqConfig(lattice="Z", q=8), HwqConfig(lattice="D4", q=4), HwqConfig(lattice="E8", q=7)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.slug)
def test_weight_bytes_equal_the_container(cfg: HwqConfig) -> None:
    k = padded_k(cfg, 130)
    a = np.random.default_rng(0).standard_normal((k, 5))
    enc = encode_matrix(a, cfg)
    assert hwq_weight_bytes(cfg, k, 5) == enc.nbytes()
    # a ragged K is padded to what the encoder needs, never less
    assert hwq_weight_bytes(cfg, 130, 5) == enc.nbytes()
    assert padded_k(cfg, k) == k and k % cfg.dim == 0 and k % cfg.hadamard == 0


def test_bits_per_weight_of_default_config() -> None:
    cfg = HwqConfig()  # D3 q=6: 8-bit code + 2-bit ladder per 3 weights, K padded 4096 -> 4224, 32-bit norm
    c = hwq_cost(cfg, 4096, 4096, 1)
    assert c.bits_per_weight == pytest.approx((4224 // 3 * 10 / 8 + 4) * 8 / 4096)
    fp = dense_cost(4096, 4096, 1)
    assert fp.weight_bytes == 2 * 4096 * 4096 and fp.bits_per_weight == 16


def _dev(bw: float = 1e12, peak: float = 1e14) -> Device:
    return Device(key="t", name="test", kind="gpu", bandwidth=bw, peak={"fp16": peak})


def test_roofline_is_max_of_memory_and_compute() -> None:
    dev = _dev()
    c = dense_cost(1000, 1000, 1)
    p = predict(c, dev)
    assert p.time == pytest.approx(c.bytes / 1e12) and p.bound == "memory"
    big = dense_cost(1000, 1000, 4096)
    p2 = predict(big, dev)
    assert p2.bound == "compute" and p2.time == pytest.approx(big.ops / 1e14)
    assert dev.ridge("fp16") == 100.0
    # attained ops/s never exceed either roof
    for b in (1, 16, 256, 4096):
        p = predict(hwq_cost(HwqConfig(), 4096, 4096, b), dev)
        assert p.attained <= min(1e14, 1e12 * p.cost.intensity) * (1 + 1e-12)


def test_decode_speedup_approaches_ideal_and_falls_with_batch() -> None:
    cfg, dev = HwqConfig(), get_device("h100")
    mdl = get_model("llama3-8b")
    wl = Workload("decode", "decode", 1)
    s = model_summary(layer_rows(cfg, mdl, dev, wl), wl, dev, "fp16")
    assert 0.97 * s["ideal_speedup"] < s["speedup"] <= s["ideal_speedup"] * 1.0001
    assert s["bandwidth"] == 2.94e12 and s["bandwidth_source"] == "measured"
    curve = speedup_vs_batch(cfg, mdl, dev, [1, 16, 256, 4096])
    sp = [r["speedup"] for r in curve]
    assert sp == sorted(sp, reverse=True) and sp[-1] < 1.5


def test_catalogs_complete_and_consistent() -> None:
    devs = load_devices()
    for key in ("h100-sxm", "h100-pcie", "h200", "a100-40gb", "a100-80gb", "l40s", "rtx-4090", "m2-ultra",
                "ddr5-desktop", "alveo-u280", "ecp5-85f", "host"):
        assert key in devs
    assert devs["h100-sxm"].bandwidth_measured == 2.94e12 and devs["h200"].bandwidth == 4.8e12
    assert devs["alveo-u280"].bandwidth == 460e9 and devs["ecp5-85f"].resources["dsps"] == 156
    assert all(d.bandwidth_measured is None for k, d in devs.items() if k != "h100-sxm")
    # the measured cuBLAS GEMVs of SPEC section 7 are validation points with their source
    pts = devs["h100-sxm"].measured
    assert [(p.k, p.m, p.time_s) for p in pts] == [(4096, 4096, 23e-6), (8192, 28672, 179e-6)]
    rows, _ = validate(list(pts), HwqConfig(), devs)
    big = rows[1]
    assert big["bound"] == "memory" and abs(big["error"]) < 0.15  # the aim on memory-bound shapes
    models = load_models()
    assert models["llama3-8b"].params == pytest.approx(7.50e9, rel=0.01)
    assert models["llama3-70b"].params == pytest.approx(69.5e9, rel=0.01)
    assert {"mistral-7b", "qwen2.5-7b", "minilm-l6"} <= set(models)


def test_host_is_measured() -> None:
    host = get_device("host")
    assert host.bandwidth_measured and host.bandwidth_measured > 1e8 and host.peak["fp32"] > 1e8


def test_bad_input_names_the_problem(tmp_path) -> None:
    with pytest.raises(HwqError, match="unknown device 'nope'.*h100-sxm"):
        get_device("nope")
    with pytest.raises(HwqError, match="unknown model"):
        get_model("gpt-9")
    bad = tmp_path / "dev.toml"
    bad.write_text('[x]\nkind = "gpu"\nbandwidth_gbs = -3\n')
    with pytest.raises(HwqError, match="bandwidth_gbs.*positive"):
        load_devices(bad)
    with pytest.raises(HwqError, match="does not exist"):
        load_devices(tmp_path / "missing.toml")
    with pytest.raises(HwqError, match="no peak compute for dtype 'int4'"):
        get_device("h100").peak_for("int4")
    with pytest.raises(HwqError, match="K must be a positive integer"):
        hwq_cost(HwqConfig(), 0, 10, 1)


def test_device_file_extends_catalog(tmp_path) -> None:
    f = tmp_path / "dev.toml"
    f.write_text('[mybox]\nkind = "gpu"\nbandwidth_gbs = 500\npeak_tops = { fp16 = 50 }\n')
    d = get_device("mybox", f)
    assert d.bandwidth == 5e11 and d.peak["fp16"] == 5e13


def test_rtl_unit_uses_synthesis_report_or_says_assumed(tmp_path) -> None:
    cfg = HwqConfig()
    dev = get_device("ecp5")
    r = rtl_unit(cfg, dev, tmp_path)
    assert r["fmax_hz"] == 150e6 and "ASSUMED" in r["fmax_source"]
    from hwq.records import Stamp, Synth, SynthRun

    run = SynthRun(slug=cfg.slug, module=f"{cfg.slug}_mac", unit="mac", lanes=cfg.lanes, target="ecp5",
                   device="LFE5U-85F", luts=5000, ffs=1, brams=0, dsps=0, fmax_mhz=171.5, target_mhz=150.0,
                   latency=11, seed=1)
    Synth(stamp=Stamp.now(cfg), target="ecp5", runs=(run,)).save(tmp_path / "synth" / "x.json")
    assert synth_reports(tmp_path)[0]["fmax_mhz"] == 171.5
    r = rtl_unit(cfg, dev, tmp_path)
    assert r["fmax_hz"] == 171.5e6 and "x.json" in r["fmax_source"]
    assert r["blocks_per_s"] == cfg.lanes * 171.5e6
    assert r["weight_bytes_per_s"] == pytest.approx(cfg.lanes * 171.5e6 * cfg.block_bits / 8)
    with pytest.raises(HwqError, match="not an FPGA"):
        rtl_unit(cfg, get_device("h100"), tmp_path)


def test_validation_reports_error_per_point_and_skips_unknown(tmp_path) -> None:
    cfg = HwqConfig()
    (tmp_path / "bench").mkdir()
    (tmp_path / "sim").mkdir()
    (tmp_path / "bench" / "cuda_x.json").write_text(json.dumps({
        "device": "NVIDIA H100 80GB HBM3", "slug": cfg.slug, "config": cfg.to_dict(),
        "results": [{"k": 4096, "m": 4096, "batch": 1, "kernel": "cublas_fp16", "time_us": 23.0},
                    {"k": 8192, "m": 28672, "batch": 1, "kernel": "hwq", "time_us": 50.0},
                    {"k": 64, "m": 64, "batch": 1, "kernel": "mystery", "time_us": 1.0}]}))
    (tmp_path / "bench" / "c_y.json").write_text(json.dumps({"device": "Some Other GPU", "results": [
        {"k": 64, "m": 64, "batch": 1, "kernel": "fp16", "time_us": 1.0}]}))
    (tmp_path / "sim" / "s.json").write_text(json.dumps({"slug": cfg.slug, "k": 192, "m": 16, "cycles": 130}))
    points, unread = load_measurements(tmp_path)
    assert {p.family for p in points} == {"fp16", "hwq", "rtl"} and not unread
    rows, skipped = validate(points, cfg, load_devices())
    assert len(rows) == 3 and len(skipped) == 1 and "Some Other GPU" in skipped[0]
    fp = next(r for r in rows if r["kernel"] == "cublas_fp16")
    want = (2 * 4096 * 4096 + 4 * 4096) / 2.94e12
    assert fp["predicted"] == pytest.approx(want) and fp["error"] == pytest.approx(want / 23e-6 - 1)
    sim = next(r for r in rows if r["unit"] == "cycles")
    # the RTL cycle model: 2 row groups x 64 beats, plus a pipeline latency of a few tens of cycles at most
    assert sim["predicted"] == rtl_cycles(cfg, 192, 16)
    assert 16 * 64 // cfg.lanes <= sim["predicted"] <= 16 * 64 // cfg.lanes + 64
    assert sim["error"] == pytest.approx(sim["predicted"] / 130 - 1)


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
