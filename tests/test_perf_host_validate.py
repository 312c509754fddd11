"""hwq.perf.host_validate: bench points against the host model, with the bench's own roofs or now's."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hwq import records as R
from hwq.config import HwqConfig
from hwq.perf.host_roofs import HostRoofs, KernelRoof
from hwq.perf.host_validate import bench_roofs, load_kernel_bench, summary_line, validate


def _roofs() -> HostRoofs:
    return HostRoofs(bandwidth={1: 40e9, 2: 60e9},
                     kernels={("k", 1, 1): KernelRoof(t0=1e-5, per_k=0.0, rate=10e9),
                              ("k", 1, 2): KernelRoof(t0=0.0, per_k=0.0, rate=10e9)})


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
    rows, skipped = validate(_roofs(), recs)
    assert len(rows) == 1 and "batch 8" in skipped[0] and "no weight bytes" in skipped[1]
    assert rows[0]["file"] == "bench/c_x.json" and rows[0]["roofs"] == "now"
    assert rows[0]["predicted"] == pytest.approx(1e-5 + 4e-3)
    # one thread: measured is the calling thread's CPU time (as the roofs are), the wall time beside it
    assert rows[0]["measured"] == 5e-3 and rows[0]["error"] == pytest.approx((1e-5 + 4e-3) / 5e-3 - 1)
    assert rows[0]["error_wall"] == pytest.approx((1e-5 + 4e-3) / 4e-3 - 1)
    # a run on another machine, kept in a subfolder (hwq bench c --out reports/bench/<machine>), is read
    # too and named by its folder
    R.KernelBench(stamp=st, backend="c", device="cpu", ok=True, points=(pt,), rows=()).save(
        tmp_path / "bench" / "zen3-avx2" / "c_x.json")
    recs = load_kernel_bench(tmp_path)
    assert [f.parent.name for f, _ in recs] == ["bench", "zen3-avx2"]
    rows, _ = validate(_roofs(), recs)
    assert [r["file"] for r in rows] == ["bench/c_x.json", "bench/zen3-avx2/c_x.json"]


def test_a_bench_with_its_own_calibration_is_predicted_from_it_and_a_miss_is_flagged(tmp_path) -> None:
    """Each point is predicted from the roofs recorded for its own case (K, N, batch, threads, kernel), not
    from now's; a point 30 % off the model counts as a miss in the summary."""
    roof = KernelRoof(t0=2e-5, per_k=1e-8, rate=12e9, overlap=0.5, bytes_per_weight=0.43, bandwidth=30e9)
    w = 7_000_000
    want = 2e-5 + 1e-8 * 4096 + w / 12e9 + 0.5 * w / 30e9
    pts = (R.RooflinePoint("cpu", "hwq_exact", "hwq", 4096, 4096, 1, time_s=want, threads=1, nbytes=w),
           R.RooflinePoint("cpu", "hwq_exact", "hwq", 4096, 4096, 1, time_s=want / 1.3, threads=2, nbytes=w))
    cal = tuple({"k": 4096, "m": 4096, "batch": 1, "threads": t, "kernel": "hwq_exact", **roof.to_dict()}
                for t in (1, 2))
    rec = R.KernelBench(stamp=R.Stamp.now(HwqConfig()), backend="c", device="cpu", ok=True, points=pts,
                        rows=(), calibration=cal)
    rec.save(tmp_path / "bench" / "c_y.json")
    recs = load_kernel_bench(tmp_path)
    assert bench_roofs(recs[0][1])[(4096, 4096, 1, 1, "hwq_exact")] == roof
    rows, skipped = validate(_roofs(), recs)  # now's roofs have no hwq_exact: the bench's own are used
    assert not skipped and [r["roofs"] for r in rows] == ["bench", "bench"]
    assert rows[0]["predicted"] == pytest.approx(want) and rows[0]["error"] == pytest.approx(0, abs=1e-12)
    assert rows[1]["error"] == pytest.approx(0.3)
    line = summary_line(rows)
    assert "1/2 within 15%" in line and "2 threads: median |error| 30.0%" in line
    assert "calibrated inside the bench run" in line


def test_a_case_whose_own_calibration_disagrees_with_the_runs_others_is_predicted_by_their_median(
        tmp_path) -> None:
    """Three cases calibrate the same kernel at the same batch and threads; one case's roofs (every hot
    sample stalled: 6 ms fixed cost, 0.03 GB/s) would predict 100x its point. It is rejected and the point
    is predicted from the run's median calibration; the others keep their own roofs."""
    good = KernelRoof(t0=2e-5, per_k=1e-8, rate=12e9, overlap=0.5, bytes_per_weight=0.43, bandwidth=30e9)
    near = replace(good, rate=11e9)
    bad = replace(good, t0=6e-3, per_k=0.0, rate=0.03e9, overlap=1.0)
    shapes = ((4096, 4096), (4096, 14336), (14336, 4096))
    pts, cal = [], []
    for (k, m), roof in zip(shapes, (good, bad, near)):
        w = int(0.43 * k * m)
        t = 2e-5 + 1e-8 * k + w / 12e9 + 0.5 * w / 30e9
        pts.append(R.RooflinePoint("cpu", "hwq_exact", "hwq", k, m, 8, time_s=t, threads=2, nbytes=w))
        cal.append({"k": k, "m": m, "batch": 8, "threads": 2, "kernel": "hwq_exact", **roof.to_dict()})
    rec = R.KernelBench(stamp=R.Stamp.now(HwqConfig()), backend="c", device="cpu", ok=True,
                        points=tuple(pts), rows=(), calibration=tuple(cal))
    rec.save(tmp_path / "bench" / "c_z.json")
    rows, _ = validate(None, load_kernel_bench(tmp_path))
    assert [r["roofs"] for r in rows] == ["bench", "bench-median", "bench"]
    assert all(abs(r["error"]) < 0.1 for r in rows), [r["error"] for r in rows]
    assert "the median of the run's calibrations" in summary_line(rows)
