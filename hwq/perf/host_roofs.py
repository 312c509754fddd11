"""The host (CPU) roofs, measured on the spot by microbenchmarks of the kernels themselves.

A weight-streaming GEMV/GEMM on a CPU is bound by two roofs, both measured here (:class:`Calibration`):

* **read bandwidth** ``BW(t)`` per thread count: the SIMD read loop of :mod:`hwq.codegen.readfloor` over
  cold copies (beyond twice the last-level cache) of hwq's weight bytes at the first cold calibration shape;
* **the kernel's own throughput** ``R(kernel, batch, t)``: weight bytes per second the kernel consumes when
  its weights sit in the cache, from the kernel itself on cache-resident weights at three shapes (K x N =
  4096 x 16, 4096 x 256, 14336 x 16): the slope in N gives the per-byte cost of decode and arithmetic, the
  step in K the per-row cost that does not depend on N (activation quantization, the Hadamard rotation, hwq's
  per-block tables) and the rest the fixed cost ``t0`` of a call (thread wake-up, ORT's session overhead).

The predicted time of a call that reads ``W`` weight bytes with a reduction length ``K`` is

    t = t0 + c K + max(W / BW(t), W / R)  +  (1 - overlap) * min(W / BW(t), W / R)

where ``overlap`` is the share of the smaller roof hidden behind the larger one. A kernel whose loads are
prefetched far enough ahead overlaps fully (``overlap`` = 1, the classic ``max``); one that waits on each
miss pays both (0, the sum); a negative ``overlap`` says the kernel also waits on memory latency that neither
roof shows. ``overlap`` is measured too, from the kernel on cold weights at four shapes that are not
benchmark shapes (:data:`COLD_SHAPES`: 4096 x 8192 and 4096 x 2048, 14336 x 2048 and 14336 x 1024; E8 the
same): each gives the seconds per weight byte streamed cold (its time less the fixed and
per-row costs); per reduction length the faster of its two shapes is kept (one shape's quirk -- ORT's
MatMulNBits streams 4096 x 8192 ~20 % slower per byte than any other shape measured -- or one shape whose
samples all stalled does not set it) and ``overlap`` is solved from the equation above at K = 4096 and at
K = 14336, linear in log K between (:meth:`KernelRoof.overlap_at`). The cost per byte depends on K because
the activations of a column (K x batch, quantized or not) compete with the weight stream for L1 and L2:
ORT's MatMulNBits at batch 4 and 8 took 1.25-1.55x longer at 14336 x 4096 than at 4096 x 14336 (the same
bytes) in the 09:26 UTC record of a quiet AMD EPYC host (not seen on a loaded Intel host, where both K
stream alike). So the model reads: fixed costs measured on cache-resident shapes, plus the weight bytes at
the kernel's measured cold streaming cost at that K, which the two roofs and their overlap decompose (which
combination the data supports is the reported ``overlap``, not an assumption).

Some kernels stream each byte more slowly the more bytes a call reads: numpy's OpenBLAS sgemm at batch 4 and
8 on an AMD EPYC Zen 3 VM took 105-111 ps per weight byte at 4096 x 2048 and 14336 x 1024, 121-122 at
4096 x 4096 and 14336 x 4096 and 135-137 at 4096 x 14336 (one thread, cold weights; 2026-12-03), while ORT's
and hwq's kernels stay flat or get cheaper.  Where the larger cold shape of *both* reduction lengths costs
more per byte than the smaller (by at least :data:`GROWTH_MIN` per doubling of the width), the streaming time
grows by ``growth`` (the mean of the two relative slopes) per doubling of N beyond the smaller shape's
(:meth:`KernelRoof.stream_factor`); one shape's quirk at one K (ORT's 4096 x 8192 above) does not turn it
on, and a kernel that gets cheaper with size keeps the faster shape's cost (``growth`` = 0).

Robust statistics: every microbenchmark keeps the minimum over its samples (a stall only adds time); a
cache-resident shape whose every sample stalled (a thread that waited ~6 ms for a core on a loaded
machine) breaks the bounds any linear cost obeys (:func:`stalled`), is measured again and, if it still
does, clipped to the bound its neighbours set (:func:`clip`); two cold shapes per K, the faster kept, cover
the cold ones.

Nothing is fitted to benchmark points: ``t0``, ``c`` and ``R`` come from three cache-resident shapes (an
exact three-point solve), ``BW`` from the read loop, ``overlap`` and ``growth`` from the four cold shapes, per
kernel, batch and thread count.

Every timing is taken exactly as ``hwq bench c`` takes its own (:meth:`hwq.codegen.bench.Case.timed`): one
untimed call that wakes the kernel's threads, then a burst of calls on successive weight copies (cold: the
copies together exceed twice the last-level cache), the minimum over interleaved rounds of the call's
:func:`cost`: with one thread the calling thread's CPU time (preemption by the other processes of a shared
machine does not inflate it), with more the wall time.
``hwq bench c`` runs one calibration round inside each of its own timing rounds, so every measured point
is predicted from roofs measured in the same moments, on the same loaded or quiet machine
(:attr:`hwq.records.KernelBench.calibration`); ``hwq roofline --device host`` calibrates on its own in a few
seconds (:func:`calibrate`) for the predictions of a model's layers.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwq.config import HwqConfig
from hwq.errors import HwqError

__all__ = [
    "CAL_SHAPES",
    "COLD_SHAPE",
    "COLD_SHAPES",
    "GROWTH_MIN",
    "K_LONG",
    "K_SHORT",
    "Calibration",
    "HostRoofs",
    "KernelRoof",
    "calibrate",
    "clip",
    "cost",
    "fit",
    "predict_time",
    "predict_with",
    "solve_overlap",
    "stalled",
]

# cache-resident microbenchmarks (K x N): two N at one K give the per-byte cost, a second K the per-row cost;
# K = 4096 and 14336 are the reduction lengths of the benchmark and the Llama layers (E8: N / 8, it is slow)
CAL_SHAPES = ((4096, 16), (4096, 256), (14336, 16))
# cold calibration shapes, two per K (none a benchmark shape): the kernel's streaming cost per byte at each K
# is the faster of its two, so one shape's quirk (ORT's MatMulNBits streams 4096 x 8192 ~20 % slower per byte
# than any other shape measured) or one shape whose samples all stalled does not set it; the first also
# carries the read floor
COLD_SHAPES = ((4096, 8192), (4096, 2048), (14336, 2048), (14336, 1024))
# E8 uses the same shapes since its decode runs in milliseconds (it had its own, 4-8x narrower cold shapes
# and 8x narrower cache-resident ones while a call took a second; at 2 columns the slope of the cache-resident
# rate rested on 48 KB of weights, and the fitted rate of one batch and thread count varied 1.1-7.6 GB/s
# between the cases of one run)
COLD_SHAPE = COLD_SHAPES[0]
K_SHORT, K_LONG = 4096, 14336  # the reduction lengths of the cold shapes
# the narrower cold shape of each reduction length: where ``growth`` starts
N_REF = {kk: min(n for k, n in COLD_SHAPES if k == kk) for kk in (K_SHORT, K_LONG)}
GROWTH_MIN = 0.02  # relative growth of the cost per byte per doubling of N below which it is noise
HOT_CALLS = 2  # timed calls per cache-resident shape and round, after one untimed call
SLACK = 1.25  # tolerance of the upper bounds of :func:`stalled` (cache effects a linear cost does not have)
REMEASURE = 4  # extra bursts of a cache-resident shape whose time breaks the bounds before it is clipped


@dataclass(frozen=True)
class KernelRoof:
    """Measured roofs of one kernel at (batch, threads): fixed cost, cache-resident throughput, overlap."""

    t0: float  # seconds per call independent of the shape
    per_k: float  # seconds per row of K independent of N (activation quantization, rotation, tables)
    rate: float  # weight bytes per second with the weights in the cache
    overlap: float = 1.0  # share of the smaller of (memory, compute) time hidden behind the larger (K_SHORT)
    bytes_per_weight: float = 0.0  # bytes read per weight entry at the cold calibration shape
    bandwidth: float = 0.0  # the read bandwidth (bytes/s) measured with it, which ``overlap`` was solved for
    overlap_long: float | None = None  # ``overlap`` at K >= K_LONG (None: the same at every K)
    growth: float = 0.0  # relative growth of the streaming time per doubling of N beyond N_REF (module doc)

    def overlap_at(self, k: int) -> float:
        """``overlap`` at reduction length ``k``: measured at :data:`K_SHORT` and :data:`K_LONG`, linear in
        log K between them and constant outside (the streaming cost per byte, linear in ``overlap``,
        follows)."""
        if self.overlap_long is None:
            return self.overlap
        f = min(1.0, max(0.0, math.log(k / K_SHORT) / math.log(K_LONG / K_SHORT)))
        return (1.0 - f) * self.overlap + f * self.overlap_long

    def stream_factor(self, k: int, nbytes: float) -> float:
        """Factor on the streaming time of a call reading ``nbytes`` at reduction length ``k``: 1 at the
        narrower cold shape's width (:data:`N_REF`, log-interpolated in K like ``overlap``) and below,
        ``1 + growth * log2(N / N_ref)`` above."""
        if self.growth <= 0.0 or self.bytes_per_weight <= 0.0:
            return 1.0
        f = min(1.0, max(0.0, math.log(k / K_SHORT) / math.log(K_LONG / K_SHORT)))
        n_ref = 2.0 ** ((1.0 - f) * math.log2(N_REF[K_SHORT]) + f * math.log2(N_REF[K_LONG]))
        n = nbytes / (k * self.bytes_per_weight)
        return 1.0 + self.growth * max(0.0, math.log2(n / n_ref))

    def fixed(self, k: int) -> float:
        """Seconds of a call that do not depend on the weight bytes."""
        return self.t0 + self.per_k * k

    def to_dict(self) -> dict[str, float]:
        d = {"t0_s": self.t0, "per_k_s": self.per_k, "rate_bytes_per_s": self.rate,
             "overlap": self.overlap, "bytes_per_weight": self.bytes_per_weight,
             "bandwidth_bytes_per_s": self.bandwidth}
        if self.overlap_long is not None:
            d["overlap_long"] = self.overlap_long
        if self.growth:
            d["growth"] = self.growth
        return d

    @classmethod
    def from_dict(cls, d: Any) -> KernelRoof:
        return cls(t0=float(d["t0_s"]), per_k=float(d["per_k_s"]), rate=float(d["rate_bytes_per_s"]),
                   overlap=float(d["overlap"]), bytes_per_weight=float(d["bytes_per_weight"]),
                   bandwidth=float(d.get("bandwidth_bytes_per_s", 0.0)),
                   overlap_long=float(d["overlap_long"]) if d.get("overlap_long") is not None else None,
                   growth=float(d.get("growth", 0.0)))


def stalled(points: list[tuple[int, int, float]]) -> list[int]:
    """Which of the three cache-resident points (as :func:`fit` takes them) break the bounds that any time
    ``t0 + c K + W / R`` with ``t0, c, R >= 0`` obeys: at one K, ``t(N) <= t(N') <= (N'/N) t(N)`` for
    ``N < N'``; at one N, ``t(K) <= t(K') <= (K'/K) t(K)`` for ``K < K'`` (with :data:`SLACK` on the upper
    bounds). A stall only adds time, so the point that is too slow for its neighbours is the stalled one."""
    (k1, w1, t1), (_, w2, t2), (k3, w3, t3) = points
    bad = set()
    if t2 < t1 or t3 < t1:
        bad.add(0)
    if t2 > SLACK * (w2 / w1) * t1:
        bad.add(1)
    if t3 > SLACK * max(k3 / k1, w3 / w1) * t1:
        bad.add(2)
    return sorted(bad)


def clip(points: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """The three points with each stalled one (:func:`stalled`) replaced by the bound its neighbours set."""
    (k1, w1, t1), (k2, w2, t2), (k3, w3, t3) = points
    t1 = min(t1, t2, t3)
    t2 = min(t2, (w2 / w1) * t1)
    t3 = min(t3, max(k3 / k1, w3 / w1) * t1)
    return [(k1, w1, t1), (k2, w2, t2), (k3, w3, t3)]


def fit(points: list[tuple[int, int, float]]) -> KernelRoof:
    """t = t0 + per_k K + W / rate through three (K, W, t) points: two at one K, one at another."""
    (k1, w1, t1), (_, w2, t2), (k3, w3, t3) = points
    rate = (w2 - w1) / (t2 - t1) if t2 > t1 else w2 / t2  # no measurable slope: all per-byte
    per_k = max(0.0, (t3 - t1 - (w3 - w1) / rate) / (k3 - k1))
    t0 = max(0.0, t1 - per_k * k1 - w1 / rate)
    return KernelRoof(t0=t0, per_k=per_k, rate=rate)


def _combine(t_mem: float, t_cmp: float, overlap: float) -> float:
    return max(t_mem, t_cmp) + (1.0 - overlap) * min(t_mem, t_cmp)


def solve_overlap(t_cold: float, t_mem: float, t_cmp: float) -> float:
    """The ``overlap`` for which the model's streaming time equals ``t_cold``. It is not clipped: above 1 the
    cold calls beat both roofs, so a roof was measured low (a read-floor pass that waited for a core), and
    the prediction stays what the kernel's own cold calls say rather than what the low roof says."""
    lo = min(t_mem, t_cmp)
    return 1.0 - (t_cold - max(t_mem, t_cmp)) / lo if lo > 0 else 1.0


@dataclass(frozen=True)
class HostRoofs:
    """The host's calibrated roofs (see the module docstring)."""

    bandwidth: dict[int, float]  # threads -> read bytes/s
    kernels: dict[tuple[str, int, int], KernelRoof]  # (kernel, batch, threads) -> roofs
    seconds: float = 0.0
    machine: str = ""
    load_average: tuple[float, ...] = ()
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bandwidth": {str(t): v for t, v in self.bandwidth.items()},
            "kernels": [{"kernel": k, "batch": b, "threads": t, **r.to_dict()}
                        for (k, b, t), r in sorted(self.kernels.items())],
            "seconds": self.seconds,
            "machine": self.machine,
            "load_average": list(self.load_average),
            "notes": self.notes,
        }


def predict_time(
    roofs: HostRoofs, kernel: str, k: int, nbytes: float, batch: int, threads: int
) -> tuple[float, str]:
    """(seconds, binding roof) of one call of ``kernel`` reading ``nbytes`` of weights.

    Raises
    ------
    HwqError
        The kernel was not calibrated at this batch and thread count.
    """
    r = roofs.kernels.get((kernel, batch, threads))
    if r is None or not (r.bandwidth or threads in roofs.bandwidth):
        raise HwqError(f"no calibration for {kernel} at batch {batch}, {threads} threads")
    return predict_with(r, r.bandwidth or roofs.bandwidth[threads], k, nbytes)


def predict_with(r: KernelRoof, bw: float, k: int, nbytes: float) -> tuple[float, str]:
    """(seconds, binding roof) of a call reading ``nbytes`` of weights with reduction length ``k``, by the
    roofs ``r`` and the read bandwidth ``bw`` (the model of the module docstring)."""
    t_mem, t_cmp = nbytes / bw, nbytes / r.rate
    bound = "memory" if t_mem >= t_cmp else "compute"
    return r.fixed(k) + _combine(t_mem, t_cmp, r.overlap_at(k)) * r.stream_factor(k, nbytes), bound


def cost(sample: tuple[float, float], threads: int) -> float:
    """A call's cost from its (wall, calling-thread CPU) seconds: the CPU time with one thread (the kernel's
    own cost, which preemption by other processes on a shared machine does not inflate), else wall time."""
    wall, cpu = sample
    return cpu if threads == 1 and cpu > 0 else wall


# ------------------------------------------------------------------------------------------------------
class Calibration:
    """The calibration operands of every kernel (cache-resident shapes and one cold shape) and the best time
    of each microbenchmark over the rounds run so far (:meth:`round`, :meth:`roofs`, :meth:`reset`).

    ``be`` is a :class:`hwq.codegen.bench.Backends` (the same compiled kernels and peers a benchmark times).
    """

    def __init__(self, be: Any, threads: tuple[int, ...], kernels: tuple[str, ...] | None = None):
        want = tuple(k for k in (kernels or be.kernels) if k in be.kernels and k != "read_floor")
        self.kernels = want
        self.groups: list[tuple[tuple[str, ...], list[Any], Any]] = []
        # E8 in a group of its own (calibrated after the others, and skipped in rounds without it), on the
        # same shapes: the read floor rides on the first cold shape of the other kernels
        main = tuple(k for k in want if k != "e8_exact")
        for group, floor in ((main, ("read_floor",) if "read_floor" in be.kernels else ()),
                             (tuple(k for k in want if k == "e8_exact"), ())):
            if not group:
                continue
            hot = [be.case(k, n, threads, cold=False, kernels=group) for k, n in CAL_SHAPES]
            cold = [be.case(k, n, threads, kernels=(floor if i == 0 else ()) + group)
                    for i, (k, n) in enumerate(COLD_SHAPES)]
            self.groups.append((group, hot, cold))
        if not self.groups or "read_floor" not in self.groups[0][2][0].calls:
            raise HwqError("the host calibration needs the read floor and at least one hwq kernel")
        self.best: dict[tuple[Any, ...], float] = {}
        self.remeasured = 0  # bursts measured again because a shape's samples all stalled (see _hot_points)

    def _keep(self, key: tuple[Any, ...], samples: list[tuple[float, float]]) -> None:
        v = min(cost(s, key[2]) for s in samples)
        self.best[key] = min(self.best.get(key, v), v)

    def round(self, b: int, t: int, e8: bool = True, burst: int = 2) -> None:
        """One round of every microbenchmark at batch ``b`` and ``t`` threads (E8 only when ``e8``)."""
        from hwq.codegen.bench_timing import settle

        floor_case = self.groups[0][2][0]
        self._keep(("read_floor", b, t, "cold"), floor_case.timed("read_floor", b, t, 1 + burst)[1:])
        settle(t)
        for group, hot, cold in self.groups:
            for name in group:
                if name == "e8_exact" and not e8:
                    continue
                for i, c in enumerate(hot):
                    self._keep((name, b, t, i), c.timed(name, b, t, 1 + HOT_CALLS)[1:])
                for j, c in enumerate(cold):
                    self._keep((name, b, t, "cold", j), c.timed(name, b, t, 1 + burst)[1:])
                settle(t)  # the next kernel starts with the cores let go

    def _hot_points(self, name: str, b: int, t: int, hot: list[Any]) -> list[tuple[int, int, float]]:
        """The cache-resident (K, W, t) points of ``name``: a shape whose best time breaks the bounds of a
        linear cost (:func:`stalled`: every sample of it stalled, e.g. a thread that waited for a core) is
        measured again, up to :data:`REMEASURE` bursts, and clipped to the bound if it still does."""
        def pts() -> list[tuple[int, int, float]]:
            return [(c.k, c.nbytes[name], self.best[(name, b, t, i)]) for i, c in enumerate(hot)]

        for _ in range(REMEASURE):
            bad = stalled(pts())
            if not bad:
                break
            for i in bad:
                self.remeasured += 1
                self._keep((name, b, t, i), hot[i].timed(name, b, t, 1 + HOT_CALLS)[1:])
        return clip(pts())

    def roofs(self, b: int, t: int) -> tuple[float, dict[str, KernelRoof]]:
        """(read bandwidth, {kernel: roofs}) at batch ``b`` and ``t`` threads from the rounds so far."""
        floor_case = self.groups[0][2][0]
        bw = floor_case.nbytes["read_floor"] / self.best[("read_floor", b, t, "cold")]
        out = {}
        for group, hot, cold in self.groups:
            for name in group:
                if (name, b, t, "cold", 0) not in self.best:
                    continue
                r = fit(self._hot_points(name, b, t, hot))
                # seconds per weight byte streamed cold, per reduction length: the faster of its two shapes
                per_byte = {kk: min(max(0.0, self.best[(name, b, t, "cold", j)] - r.fixed(c.k))
                                    / c.nbytes[name] for j, c in enumerate(cold) if c.k == kk)
                            for kk in (K_SHORT, K_LONG)}
                nb = cold[0].nbytes[name]
                ov = {kk: solve_overlap(v * nb, nb / bw, nb / r.rate) for kk, v in per_byte.items()}
                out[name] = KernelRoof(t0=r.t0, per_k=r.per_k, rate=r.rate, overlap=ov[K_SHORT],
                                       bytes_per_weight=nb / (cold[0].k * cold[0].m), bandwidth=bw,
                                       overlap_long=ov[K_LONG], growth=self._growth(name, b, t, cold, r))
        return bw, out

    def _growth(self, name: str, b: int, t: int, cold: list[Any], r: KernelRoof) -> float:
        """``growth`` of ``name`` (module docstring): the mean over both reduction lengths of the relative
        growth of the cold streaming cost per byte per doubling of N, where both exceed GROWTH_MIN; else 0."""
        slopes = []
        for kk in (K_SHORT, K_LONG):
            pts = sorted((c.m, max(0.0, self.best[(name, b, t, "cold", j)] - r.fixed(c.k)) / c.nbytes[name])
                         for j, c in enumerate(cold) if c.k == kk)
            (n_lo, c_lo), (n_hi, c_hi) = pts[0], pts[-1]
            if c_lo <= 0.0 or n_hi <= n_lo:
                return 0.0
            slopes.append((c_hi / c_lo - 1.0) / math.log2(n_hi / n_lo))
        return sum(slopes) / len(slopes) if min(slopes) >= GROWTH_MIN else 0.0

    def reset(self) -> None:
        self.best.clear()

    def close(self) -> None:
        for _, hot, cold in self.groups:
            for c in (*hot, *cold):
                for f in c.cleanup:
                    f()


def calibrate(
    cfg: HwqConfig,
    work_dir: str | Path,
    *,
    batches=(1, 4, 8),
    threads=(1, 2),
    kernels: tuple[str, ...] | None = None,
    rounds: int = 3,
    log: Callable[[str], None] | None = None,
) -> HostRoofs:
    """Measure the host's roofs now (a few seconds; see the module docstring).

    ``kernels`` defaults to every kernel of ``hwq bench c`` whose tools are installed (the ORT kernels need
    the ``[bench]`` extra; without it they are left out and said so in ``notes``).
    """
    from hwq.codegen.bench import KERNELS, Backends
    from hwq.codegen.peers import ort_available
    from hwq.perf.devices import host_name

    t_start = time.perf_counter()
    notes: list[str] = []
    want = tuple(k for k in (kernels or KERNELS) if k != "read_floor")
    why = ort_available()
    if why and any(k.startswith("ort_") for k in want):
        notes.append(f"ONNX Runtime kernels not calibrated: {why}")
        want = tuple(k for k in want if not k.startswith("ort_"))
    be = Backends(cfg, work_dir, ("read_floor", *want))
    bandwidth: dict[int, float] = {}
    out: dict[tuple[str, int, int], KernelRoof] = {}
    from threadpoolctl import threadpool_limits

    blas_one = threadpool_limits(limits=1, user_api="blas")  # no idle OpenBLAS thread spinning on a core
    try:
        cal = Calibration(be, tuple(threads), want)
        try:
            for b in batches:
                for t in threads:
                    cal.reset()
                    for r in range(rounds):
                        cal.round(b, t)
                    bw, roofs = cal.roofs(b, t)
                    bandwidth[t] = max(bandwidth.get(t, 0.0), bw)
                    for name, roof in roofs.items():
                        out[(name, b, t)] = roof
                        if log:
                            log(f"  {name:<11} batch {b} {t}T: fixed {roof.t0 * 1e6:6.1f} us + "
                                f"{roof.per_k * 4096e6:6.1f} us per 4096 rows, cache-resident "
                                f"{roof.rate / 1e9:6.2f} GB/s, overlap {roof.overlap:.2f} at K = {K_SHORT}, "
                                f"{roof.overlap_at(K_LONG):.2f} at K = {K_LONG}")
        finally:
            cal.close()
    finally:
        blas_one.restore_original_limits()
        be.close()
    return HostRoofs(bandwidth=bandwidth, kernels=out, seconds=time.perf_counter() - t_start,
                     machine=host_name(), load_average=tuple(os.getloadavg()), notes=notes)
