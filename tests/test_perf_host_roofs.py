"""hwq.perf.host_roofs: the host model's arithmetic on synthetic roofs, robustness to stalled samples, and
the calibration on this machine."""

from __future__ import annotations

import dataclasses
import math

import pytest

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.perf.host_roofs import (HostRoofs, KernelRoof, calibrate, fit, predict_time, predict_with,
                                 solve_overlap)


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
    # a cold call faster than both roofs allow (a roof measured low) is not clipped: the prediction stays the
    # cold call's own time
    ov_fast = solve_overlap(1.5e-3, 1e-3, 2e-3)
    assert ov_fast == pytest.approx(1.5) and predict_with(
        KernelRoof(t0=0.0, per_k=0.0, rate=w_cold / 2e-3, overlap=ov_fast), w_cold / 1e-3, 4096, w_cold
    )[0] == pytest.approx(1.5e-3)
    # the record form round-trips
    assert KernelRoof.from_dict(r.to_dict()) == r


@pytest.fixture(scope="module")
def host_build(tmp_path_factory):
    return tmp_path_factory.mktemp("host_build")


def test_calibration_measures_the_kernel_itself(host_build) -> None:
    roofs = calibrate(HwqConfig(), host_build, batches=(1,), threads=(1,), kernels=("hwq_exact",), rounds=1)
    assert roofs.bandwidth[1] > 1e9
    r = roofs.kernels[("hwq_exact", 1, 1)]
    assert r.rate > 1e8 and r.t0 >= 0 and r.per_k >= 0 and r.bandwidth == roofs.bandwidth[1]
    assert r.overlap_long is not None  # measured at both reduction lengths
    w = r.bytes_per_weight * 4096 * 4096
    assert 0 < predict_with(r, r.bandwidth, 4096, w)[0] < 1.0  # a 4096 x 4096 GEMV: well under a second
    # the kernel layout of D3 q=6: 80 bytes per 64 columns and block of 3 rows, plus a 4-byte norm per column
    assert r.bytes_per_weight == pytest.approx((4224 // 3 * 80 / 64 + 4) / 4096, rel=1e-3)


# -- robustness: a calibration shape whose every sample stalled ------------------------------------------
class _FakeCase:
    """A calibration operand of a synthetic kernel: t = 20 us + 8 ns K + W / R hot, W / BW the read floor,
    cold W / 9 GB/s; ``stall`` (seconds) is added to the first ``stall_calls`` calls of this shape."""

    def __init__(self, k: int, m: int, cold: bool, stall: float = 0.0, stall_calls: int = 0):
        self.k, self.m, self.cold = k, m, cold
        self.nbytes = {"read_floor": k * m // 2, "hwq_exact": k * m // 2}
        self.calls = {n: None for n in self.nbytes}
        self.cleanup: list = []
        self.stall, self.stall_calls, self.n = stall, stall_calls, 0

    def timed(self, name: str, b: int, t: int, n: int = 1) -> list[tuple[float, float]]:
        w = self.nbytes[name]
        if name == "read_floor":
            s = w / 40e9
        else:
            s = 20e-6 + 8e-9 * self.k + (w / 9e9 if self.cold else w / 15e9)
        out = []
        for _ in range(n):
            self.n += 1
            v = s + (self.stall if self.n <= self.stall_calls else 0.0)
            out.append((v, v))
        return out


class _FakeBackends:
    kernels = ("read_floor", "hwq_exact")

    def __init__(self, stalls: dict[tuple[int, int], tuple[float, int]]):
        self.stalls, self.cases = stalls, {}

    def case(self, k, m, threads, cold=True, kernels=None):
        c = _FakeCase(k, m, cold, *self.stalls.get((k, m), (0.0, 0)))
        self.cases[(k, m)] = c
        return c


@pytest.mark.parametrize("shape", [(4096, 16), (4096, 256), (14336, 16)])
@pytest.mark.parametrize("calls", [12, 10**6])  # every sample of a round stalls; every sample ever does
def test_a_calibration_shape_whose_every_sample_stalled_is_remeasured_or_clipped(shape, calls) -> None:
    """A thread that waits ~6 ms for a core stalls every sample of one cache-resident shape (the E8 2-thread
    batch-8 calibration of an earlier record predicted 901 ms for an 8.5 ms point). The stalled shape breaks
    the bounds of a linear cost, is measured again, and if it never recovers is clipped to the bound its
    neighbours set: the prediction of a benchmark-sized call stays within 15 % of the unstalled one."""
    from hwq.perf.host_roofs import Calibration

    def predicted(be) -> float:
        cal = Calibration(be, (1,), ("hwq_exact",))
        for _ in range(3):
            cal.round(1, 1)
        bw, roofs = cal.roofs(1, 1)
        r = roofs["hwq_exact"]
        return predict_with(r, bw, 14336, 14336 * 4096 // 2)[0], cal.remeasured

    clean, n_clean = predicted(_FakeBackends({}))
    assert n_clean == 0
    want = 20e-6 + 8e-9 * 14336 + 14336 * 4096 / 2 / 9e9  # the synthetic kernel's own cold time
    assert clean == pytest.approx(want, rel=0.02)
    stalled_pred, n = predicted(_FakeBackends({shape: (6e-3, calls)}))
    assert n >= 1  # the stalled shape was measured again
    assert abs(stalled_pred / clean - 1) <= 0.15, (shape, calls, stalled_pred, clean)
    if calls < 10**6:  # it recovered: the re-measured shape gives the clean roofs back
        assert stalled_pred == pytest.approx(clean, rel=1e-6)


def test_stalled_names_the_point_too_slow_for_its_neighbours() -> None:
    from hwq.perf.host_roofs import clip, stalled

    ok = [(4096, 32_000, 60e-6), (4096, 512_000, 90e-6), (14336, 112_000, 150e-6)]
    assert stalled(ok) == [] and clip(ok) == ok
    assert stalled([(4096, 32_000, 6e-3), *ok[1:]]) == [0]  # slower than a 16x larger shape
    assert stalled([ok[0], (4096, 512_000, 6e-3), ok[2]]) == [1]  # over 16x the 16x smaller one
    assert stalled([*ok[:2], (14336, 112_000, 6e-3)]) == [2]  # over 3.5x the 3.5x shorter one
    assert clip([*ok[:2], (14336, 112_000, 6e-3)])[2][2] == pytest.approx(3.5 * 60e-6)


@pytest.mark.parametrize("shape", [(4096, 8192), (4096, 2048), (14336, 2048), (14336, 1024)])
def test_a_cold_shape_whose_every_sample_stalled_does_not_move_the_streaming_cost(shape) -> None:
    """The cold streaming cost per K is the faster of two cold shapes: one of them stalled throughout (or
    streaming slower for a quirk of its own) leaves the prediction where the other puts it, at both K."""
    from hwq.perf.host_roofs import Calibration

    cal = Calibration(_FakeBackends({shape: (20e-3, 10**6)}), (1,), ("hwq_exact",))
    for _ in range(3):
        cal.round(1, 1)
    bw, roofs = cal.roofs(1, 1)
    for k in (4096, 14336):
        want = 20e-6 + 8e-9 * k + k * 4096 / 2 / 9e9
        assert predict_with(roofs["hwq_exact"], bw, k, k * 4096 // 2)[0] == pytest.approx(want, rel=1e-6)


def test_a_streaming_cost_that_grows_with_k_is_measured_at_both_k() -> None:
    """A kernel whose activations spill L1 at K = 14336 streams 1.5x slower per byte there (cold 6 GB/s
    instead of 9): the calibration at the two reduction lengths predicts both, and K = 8192 in between
    (linear in log K); with one overlap for every K the K = 14336 point would be 1.5x off."""
    from hwq.perf.host_roofs import Calibration

    class _Case(_FakeCase):
        def timed(self, name, b, t, n=1):
            out = super().timed(name, b, t, n)
            if self.cold and name == "hwq_exact" and self.k == 14336:
                w = self.nbytes[name]
                out = [(v + w / 6e9 - w / 9e9, v + w / 6e9 - w / 9e9) for v, _ in out]
            return out

    class _Be(_FakeBackends):
        def case(self, k, m, threads, cold=True, kernels=None):
            return _Case(k, m, cold)

    cal = Calibration(_Be({}), (1,), ("hwq_exact",))
    cal.round(1, 1)
    bw, roofs = cal.roofs(1, 1)
    r = roofs["hwq_exact"]
    w = 4096 * 4096 // 2
    assert predict_with(r, bw, 4096, w)[0] == pytest.approx(20e-6 + 8e-9 * 4096 + w / 9e9, rel=1e-6)
    assert predict_with(r, bw, 14336, w)[0] == pytest.approx(20e-6 + 8e-9 * 14336 + w / 6e9, rel=1e-6)
    mid = predict_with(r, bw, 8192, w)[0] - 20e-6 - 8e-9 * 8192
    f = math.log(2) / math.log(3.5)
    assert mid == pytest.approx(w * ((1 - f) / 9e9 + f / 6e9), rel=1e-6)
    assert KernelRoof.from_dict(r.to_dict()) == r and r.overlap_long is not None


def test_growth_scales_the_streaming_time_beyond_the_narrower_cold_shape() -> None:
    """growth = 0.1: the streaming time (not the fixed cost) grows 10 % per doubling of N beyond N = 2048 at
    K = 4096 and beyond N = 1024 at K = 14336; nothing below them; 0 leaves the model as it was."""
    base = KernelRoof(t0=20e-6, per_k=8e-9, rate=12e9, overlap=0.5, bytes_per_weight=4.0, bandwidth=30e9)
    grown = dataclasses.replace(base, growth=0.1)
    for k, n_ref in ((4096, 2048), (14336, 1024)):
        for n, f in ((n_ref // 2, 1.0), (n_ref, 1.0), (4 * n_ref, 1.2), (8 * n_ref, 1.3)):
            w = 4.0 * k * n
            assert grown.stream_factor(k, w) == pytest.approx(f), (k, n)
            stream = predict_with(base, 30e9, k, w)[0] - base.fixed(k)
            assert predict_with(grown, 30e9, k, w)[0] == pytest.approx(base.fixed(k) + f * stream)
    assert base.stream_factor(4096, 4.0 * 4096 * 14336) == 1.0
    d = grown.to_dict()
    assert KernelRoof.from_dict(d) == grown and "growth" not in base.to_dict()
    assert KernelRoof.from_dict(base.to_dict()).growth == 0.0  # records from before the field


class _Cold:
    def __init__(self, k: int, m: int, bpw: float = 4.0):
        self.k, self.m, self.nbytes = k, m, {"k": int(k * m * bpw)}


@pytest.mark.parametrize(("ps", "want"), [
    # ps per byte streamed at 4096 x 8192, 4096 x 2048, 14336 x 2048, 14336 x 1024
    ((131.0, 109.4, 110.0, 104.0), ((131.0 / 109.4 - 1) / 2 + (110.0 / 104.0 - 1)) / 2),  # numpy, batch 4
    ((90.0, 75.0, 70.0, 74.0), 0.0),  # one K's wider shape slower (a quirk), the other's faster
    ((71.0, 75.0, 69.0, 74.0), 0.0),  # cheaper with size (ORT, hwq)
    ((76.0, 75.0, 74.5, 74.0), 0.0),  # below GROWTH_MIN at both K: noise
])
def test_growth_is_measured_from_the_cold_shapes_of_both_k(ps, want) -> None:
    from hwq.perf.host_roofs import COLD_SHAPES, Calibration

    cal = object.__new__(Calibration)
    cold = [_Cold(k, m) for k, m in COLD_SHAPES]
    r = KernelRoof(t0=0.0, per_k=0.0, rate=1e10)
    cal.best = {("k", 4, 1, "cold", j): p * 1e-12 * c.nbytes["k"] for j, (p, c) in enumerate(zip(ps, cold))}
    assert cal._growth("k", 4, 1, cold, r) == pytest.approx(want)
