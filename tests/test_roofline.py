"""Roofline model: bytes from the container, roofline arithmetic, catalogs, validation, CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from hwq import records as R
from hwq.cli import main
from hwq.config import HwqConfig
from hwq.perf.devices import Device, get_device, load_devices, load_measurements, synth_reports
from hwq.errors import HwqError
from hwq.matmul import encode_matrix
from hwq.perf.models import Workload, get_model, load_models
from hwq.perf.roofline import (dense_cost, hwq_cost, hwq_weight_bytes, layer_rows, model_summary, predict,
                          rtl_cycles, rtl_unit, run_roofline, speedup_vs_batch, validate)

CONFIGS = [HwqConfig(), HwqConfig(lattice="Z", q=8), HwqConfig(lattice="D4", q=4), HwqConfig(lattice="E8", q=7)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.slug)
def test_weight_bytes_equal_the_container(cfg: HwqConfig) -> None:
    k = cfg.padded_k(130)
    a = np.random.default_rng(0).standard_normal((k, 5))
    enc = encode_matrix(a, cfg)
    assert hwq_weight_bytes(cfg, k, 5) == enc.nbytes()
    # a ragged K is padded to what the encoder needs, never less
    assert hwq_weight_bytes(cfg, 130, 5) == enc.nbytes()
    assert cfg.padded_k(k) == k and k % cfg.dim == 0 and k % cfg.hadamard == 0


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


def _bench(device: str, pts: list[tuple], backend: str = "cuda", quick: bool = False) -> R.KernelBench:
    cfg = HwqConfig()
    return R.KernelBench(
        stamp=R.Stamp.now(cfg), backend=backend, device=device, ok=True, quick=quick, rows=(),
        points=tuple(R.RooflinePoint(device=device, kernel=kern, family=fam, k=k, m=m, batch=1, time_s=t,
                                     slug=cfg.slug if fam == "hwq" else "", threads=1, nbytes=nb)
                     for kern, fam, k, m, t, nb in pts))


def test_validation_reports_error_per_point_and_skips_unknown(tmp_path) -> None:
    cfg = HwqConfig()
    (tmp_path / "sim").mkdir()
    _bench("NVIDIA H100 80GB HBM3", [("cublas_fp16", "fp16", 4096, 4096, 23e-6, None),
                                     ("hwq", "hwq", 8192, 28672, 50e-6, None),
                                     ("ort_q4", "int4", 64, 64, 1e-6, None)]).save(tmp_path / "bench" / "cuda_x.json")
    _bench("Some Other GPU", [("fp16", "fp16", 64, 64, 1e-6, None)]).save(tmp_path / "bench" / "c_y.json")
    R.Sim(stamp=R.Stamp.now(cfg), seed=1, passed=True, strict_cycles=True, seconds=1.0, summary={}, cocotb={},
          bulk=None, points=(R.RooflinePoint("rtl", "top", "rtl", 192, 16, 1, cycles=130, slug=cfg.slug),)
          ).save(tmp_path / "sim" / "s.json")
    points, unread = load_measurements(tmp_path)
    assert {p.family for p in points} == {"fp16", "hwq", "int4", "rtl"} and not unread
    assert {p.file for p in points} == {"bench/cuda_x.json", "bench/c_y.json", "sim/s.json"}
    rows, skipped = validate(points, cfg, load_devices())
    assert len(rows) == 3 and len(skipped) == 2 and "Some Other GPU" in skipped[0]
    assert "ort_q4 (int4) has no model" in skipped[1]
    fp = next(r for r in rows if r["kernel"] == "cublas_fp16")
    want = (2 * 4096 * 4096 + 4 * 4096) / 2.94e12
    assert fp["predicted"] == pytest.approx(want) and fp["error"] == pytest.approx(want / 23e-6 - 1)
    sim = next(r for r in rows if r["unit"] == "cycles")
    # the RTL cycle model: 2 row groups x 64 beats, plus a pipeline latency of a few tens of cycles at most
    assert sim["predicted"] == rtl_cycles(cfg, 192, 16)
    assert 16 * 64 // cfg.lanes <= sim["predicted"] <= 16 * 64 // cfg.lanes + 64
    assert sim["error"] == pytest.approx(sim["predicted"] / 130 - 1)


def test_measurements_refuse_another_schema_in_one_line(tmp_path) -> None:
    rec = _bench("cpu", [("fp16", "fp16", 64, 64, 1e-6, None)]).to_dict()
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "c_z.json").write_text(json.dumps({**rec, "schema": 99}))
    with pytest.raises(HwqError, match="schema 99, this hwq reads schema 1; regenerate it with `hwq bench c") as e:
        load_measurements(tmp_path)
    assert "\n" not in str(e.value) and "c_z.json" in str(e.value)
    with pytest.raises(HwqError, match="c_z.json: kernel-bench record schema 99"):
        load_kernel_bench(tmp_path)
    (tmp_path / "bench" / "c_z.json").write_text(json.dumps({"rows": [{"k": 64, "m": 64, "hwq_ms": 1.0}]}))
    with pytest.raises(HwqError, match="not an hwq record"):  # no key guessing in a pre-record file
        load_measurements(tmp_path)


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


# ------------------------------------------------------------------------------------------------------
# the host: roofs calibrated on the spot, one model per backend, validated against hwq bench c records
from hwq.perf.host_roofs import (  # noqa: E402
    HostRoofs, KernelRoof, _fit, calibrate, load_kernel_bench, predict_time)
from hwq.perf.host_roofs import validate as host_validate  # noqa: E402


def test_fit_recovers_fixed_per_row_and_per_byte_costs() -> None:
    def t(k: int, w: int) -> float:
        return 5e-6 + 2e-8 * k + w / 1.5e10

    pts = [(4096, 28_000, t(4096, 28_000)), (4096, 450_000, t(4096, 450_000)),
           (14336, 98_000, t(14336, 98_000))]
    r = _fit(pts)
    assert r.rate == pytest.approx(1.5e10, rel=1e-9) and r.per_k == pytest.approx(2e-8, rel=1e-6)
    assert r.t0 == pytest.approx(5e-6, rel=1e-6) and r.fixed(1000) == pytest.approx(5e-6 + 2e-5)


def _roofs(overlap: float) -> HostRoofs:
    return HostRoofs(bandwidth={1: 40e9, 2: 60e9},
                     kernels={("k", 1, 1): KernelRoof(t0=1e-5, per_k=0.0, rate=10e9, overlap=overlap),
                              ("k", 1, 2): KernelRoof(t0=0.0, per_k=1e-9, rate=100e9, overlap=overlap)})


def test_host_model_combines_the_roofs_by_their_overlap() -> None:
    w = 40e6
    full, _ = predict_time(_roofs(1.0), "k", 4096, w, 1, 1)
    none, bound = predict_time(_roofs(0.0), "k", 4096, w, 1, 1)
    assert full == pytest.approx(1e-5 + w / 10e9) and bound == "compute"  # the decode roof binds
    assert none == pytest.approx(1e-5 + w / 10e9 + w / 40e9)
    t2, b2 = predict_time(_roofs(1.0), "k", 4096, w, 1, 2)
    assert t2 == pytest.approx(4096e-9 + w / 60e9) and b2 == "memory"  # 2 threads: bandwidth binds
    with pytest.raises(HwqError, match="no calibration for k at batch 4"):
        predict_time(_roofs(1.0), "k", 4096, w, 4, 1)


def test_host_validation_reads_the_typed_points(tmp_path) -> None:
    pt = R.RooflinePoint("cpu", "k", "int8", 4096, 4096, 1, time_s=4e-3, threads=1, nbytes=40_000_000,
                         cpu_time_s=5e-3)
    full = (pt, replace(pt, kernel="read_floor", family="read"), replace(pt, batch=8),
            replace(pt, threads=2, nbytes=None))
    st = R.Stamp.now(HwqConfig())
    R.KernelBench(stamp=st, backend="c", device="cpu", ok=True, points=full, rows=()).save(
        tmp_path / "bench" / "c_x.json")
    R.KernelBench(stamp=st, backend="c", device="cpu", ok=True, points=(pt,), rows=(), quick=True).save(
        tmp_path / "bench" / "c_x_quick.json")
    R.KernelBench(stamp=st, backend="cuda", device="gpu", ok=True, points=(pt,), rows=()).save(
        tmp_path / "bench" / "c_gpu.json")
    recs = load_kernel_bench(tmp_path)
    assert [f.name for f, _ in recs] == ["c_x.json"]  # the full C run, not the quick one or the CUDA one
    roofs = HostRoofs(bandwidth={1: 40e9, 2: 60e9}, kernels={**_roofs(1.0).kernels, ("k", 1, 2): KernelRoof(
        t0=0.0, per_k=0.0, rate=10e9)})
    rows, skipped = host_validate(roofs, recs)
    assert len(rows) == 1 and "batch 8" in skipped[0] and "no weight bytes" in skipped[1]
    assert rows[0]["file"] == "bench/c_x.json"
    assert rows[0]["predicted"] == pytest.approx(1e-5 + 4e-3)
    assert rows[0]["error"] == pytest.approx((1e-5 + 4e-3) / 4e-3 - 1)
    assert rows[0]["error_cpu"] == pytest.approx((1e-5 + 4e-3) / 5e-3 - 1)


@pytest.fixture(scope="module")
def host_build(tmp_path_factory):
    return tmp_path_factory.mktemp("host_build")


def test_calibration_measures_the_kernel_itself(host_build) -> None:
    roofs = calibrate(HwqConfig(), host_build, batches=(1,), threads=(1,), kernels=("hwq_exact",), rounds=1)
    assert roofs.bandwidth[1] > 1e9
    r = roofs.kernels[("hwq_exact", 1, 1)]
    assert r.rate > 1e8 and r.t0 >= 0 and r.per_k >= 0 and r.overlap <= 1
    # the kernel layout of D3 q=6: 80 bytes per 64 columns and block of 3 rows, plus a 4-byte norm per column
    assert r.bytes_per_weight == pytest.approx((4224 // 3 * 80 / 64 + 4) / 4096, rel=1e-3)


def test_host_study_validates_bench_points_and_labels_the_rest(tmp_path, host_build) -> None:
    from hwq.codegen.bench import run_bench, write_report

    rep = run_bench(HwqConfig(), host_build, shapes=((1024, 256),), batches=(1,), threads=(1,), rounds=2,
                    kernels=("read_floor", "hwq_exact"), log=lambda s: None)
    write_report(rep, tmp_path / "bench")
    doc = run_roofline(HwqConfig(), "host", "minilm-l6", out_dir=tmp_path / "rl", reports_dir=tmp_path,
                       build_dir=host_build, host_kernels=("hwq_exact", "numpy_fp32"), host_threads=(1,),
                       plots=False)
    v = [r for r in doc["validation"]["rows"] if r["device"] == "host"]
    assert [(r["kernel"], r["k"], r["m"]) for r in v] == [("hwq_exact", 1024, 256)]
    assert v[0]["error"] == pytest.approx(v[0]["predicted"] / v[0]["measured"] - 1)
    kern = {(r["kernel"], r["threads"]): r for r in doc["host"]["kernels"]}
    assert kern[("hwq_exact", 1)]["validated"] and not kern[("numpy_fp32", 1)]["validated"]
    md = (tmp_path / "rl" / f"host_minilm-l6_decode_{HwqConfig().slug}.md").read_text()
    assert "Host roofs, calibrated now" in md and "not validated" in md
    assert "| hwq_exact | 1024x256 | 1 | 1 |" in md
