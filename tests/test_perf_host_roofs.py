"""hwq.perf.host_roofs: the host model's arithmetic on synthetic roofs, and the calibration on this machine."""

from __future__ import annotations

import pytest

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.perf.host_roofs import HostRoofs, KernelRoof, calibrate, fit, predict_time, predict_with, solve_overlap


def test_fit_recovers_fixed_per_row_and_per_byte_costs() -> None:
    def t(k: int, w: int) -> float:
        return 5e-6 + 2e-8 * k + w / 1.5e10

    pts = [(4096, 28_000, t(4096, 28_000)), (4096, 450_000, t(4096, 450_000)),
           (14336, 98_000, t(14336, 98_000))]
    r = fit(pts)
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


def test_overlap_solved_from_a_cold_call_reproduces_it_and_scales_with_bytes() -> None:
    """A synthetic calibration: roofs t0 = 20 us, c = 8 ns per row, R = 12 GB/s, BW = 30 GB/s; a cold call at
    4096 x 8192 reading 14.4 MB took 1.9 ms. The model then predicts a 3.5x larger read at K = 14336 by hand:
    fixed + max + (1 - overlap) min."""
    r0 = KernelRoof(t0=20e-6, per_k=8e-9, rate=12e9)
    w_cold, bw = 14.4e6, 30e9
    t_stream = 1.9e-3 - r0.fixed(4096)
    ov = solve_overlap(t_stream, w_cold / bw, w_cold / r0.rate)
    assert ov == pytest.approx(1 - (t_stream - w_cold / 12e9) / (w_cold / 30e9))
    r = KernelRoof(t0=r0.t0, per_k=r0.per_k, rate=r0.rate, overlap=ov, bandwidth=bw)
    assert predict_with(r, bw, 4096, w_cold)[0] == pytest.approx(1.9e-3)
    w = 3.5 * w_cold
    want = 20e-6 + 8e-9 * 14336 + w / 12e9 + (1 - ov) * w / 30e9
    t, bound = predict_with(r, bw, 14336, w)
    assert t == pytest.approx(want) and bound == "compute"
    # a cold call faster than both roofs allow reads as full overlap, never more
    assert solve_overlap(1e-6, 1e-3, 2e-3) == 1.0
    # the record form round-trips
    assert KernelRoof.from_dict(r.to_dict()) == r


@pytest.fixture(scope="module")
def host_build(tmp_path_factory):
    return tmp_path_factory.mktemp("host_build")


def test_calibration_measures_the_kernel_itself(host_build) -> None:
    roofs = calibrate(HwqConfig(), host_build, batches=(1,), threads=(1,), kernels=("hwq_exact",), rounds=1)
    assert roofs.bandwidth[1] > 1e9
    r = roofs.kernels[("hwq_exact", 1, 1)]
    assert r.rate > 1e8 and r.t0 >= 0 and r.per_k >= 0 and r.overlap <= 1 and r.bandwidth == roofs.bandwidth[1]
    # the kernel layout of D3 q=6: 80 bytes per 64 columns and block of 3 rows, plus a 4-byte norm per column
    assert r.bytes_per_weight == pytest.approx((4224 // 3 * 80 / 64 + 4) / 4096, rel=1e-3)
