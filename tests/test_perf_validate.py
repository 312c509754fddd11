"""hwq.perf.validate: every measured point against the cost model, the catalog's own measured points, the
simulated RTL cycles against the cycle model of the simulated unit."""

from __future__ import annotations

import json

import pytest

from hwq import records as R
from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.perf.devices import load_devices, load_measurements
from hwq.perf.fpga import rtl_cycles
from hwq.perf.host_validate import load_kernel_bench
from hwq.perf.models import load_models
from hwq.perf.validate import validate


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
                                     ("ort_q4", "int4", 64, 64, 1e-6, None)]
           ).save(tmp_path / "bench" / "cuda_x.json")
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
    # the simulated unit's cycle model (top: the activation load of K buffer writes and the rotation, then
    # 2 row groups x 64 beats, then the pipeline), never the MAC count alone
    from hwq.rtl.cycles import gemv_cycles

    assert sim["predicted"] == rtl_cycles(cfg, 192, 16, unit="top") == gemv_cycles(cfg, 16, 192, "top")
    assert sim["predicted"] >= 16 * 64 // cfg.lanes + 192 and sim["kernel"] == "rtl top"
    assert sim["error"] == pytest.approx(sim["predicted"] / 130 - 1)


def test_measurements_refuse_another_schema_in_one_line(tmp_path) -> None:
    rec = _bench("cpu", [("fp16", "fp16", 64, 64, 1e-6, None)]).to_dict()
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "c_z.json").write_text(json.dumps({**rec, "schema": 99}))
    with pytest.raises(HwqError,
                       match="schema 99, this hwq reads schema 1; regenerate it with `hwq bench c") as e:
        load_measurements(tmp_path)
    assert "\n" not in str(e.value) and "c_z.json" in str(e.value)
    with pytest.raises(HwqError, match="c_z.json: kernel-bench record schema 99"):
        load_kernel_bench(tmp_path)
    (tmp_path / "bench" / "c_z.json").write_text(json.dumps({"rows": [{"k": 64, "m": 64, "hwq_ms": 1.0}]}))
    with pytest.raises(HwqError, match="not an hwq record"):  # no key guessing in a pre-record file
        load_measurements(tmp_path)




def test_committed_simulation_is_predicted_cycle_for_cycle() -> None:
    """The committed Verilator run of the default config (top unit, K=768, M=32: 1825 cycles) is the cycle
    model's count, not the 1035 cycles of the MAC stream alone."""
    points, _ = load_measurements("reports")
    sim = [p for p in points if p.family == "rtl" and p.slug == HwqConfig().slug]
    assert sim, "reports/sim holds the default config's simulation"
    rows, _ = validate(sim, HwqConfig(), load_devices())
    assert [(r["k"], r["m"], r["measured"], r["predicted"], r["error"]) for r in rows] == [
        (768, 32, 1825, 1825.0, 0.0)]
    assert rtl_cycles(HwqConfig(), 768, 32, unit="mac") < 1100  # what the MAC-only count missed
