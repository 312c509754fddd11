"""The host (CPU) roofline: roofs measured on the spot, a model per backend, validated by ``hwq bench c``.

A weight-streaming GEMV/GEMM on a CPU is bound by two roofs, both measured here in a few seconds
(:func:`calibrate`):

* **read bandwidth** per thread count ``BW(t)``: the AVX-512 read loop of :mod:`hwq.codegen.readfloor` over
  64 MiB buffers (cold, best of a few passes);
* **the kernel's own throughput** ``R(kernel, batch, t)``: weight bytes per second the kernel consumes when
  its weights sit in the cache, from a microbenchmark of the kernel itself on cache-resident weights at three
  shapes (K x N = 4096 x 16, 4096 x 256, 14336 x 16; the two K of the benchmark and of the Llama layers):
  the slope in N gives the per-byte cost of decode and arithmetic, the step in K the per-row cost that does
  not depend on N (activation quantization, the Hadamard rotation, hwq's per-block tables) and the rest the
  fixed cost of a call (thread wake-up, ORT's session overhead). Every timing is the minimum over
  interleaved rounds, as in ``hwq bench c``, so a loaded moment hits one round, not the result. With one
  thread the cost is the calling thread's CPU time (not inflated by preemption); with more, wall time, and
  never more than with fewer threads (on a loaded 2-core machine a second thread often waits for a core).

The predicted time of a call that reads ``W`` weight bytes with a reduction length ``K`` is

    t = t0 + c K + max(W / BW(t), W / R)  +  (1 - overlap) * min(W / BW(t), W / R)

where ``overlap`` is the share of the smaller roof hidden behind the larger one. A kernel whose loads are
prefetched far enough ahead overlaps fully (``overlap`` = 1, the classic ``max``); one that waits on each
miss pays both (0); a negative ``overlap`` says the kernel also waits on memory latency that neither roof
shows (cold weights cost it more than the bandwidth and its cache-resident work together). ``overlap`` is
not fitted to the benchmark: it is measured in the calibration too, from one cold call of each kernel at
a shape that is not a benchmark shape (4096 x 2048; a pass over twice the last-level cache before each
call evicts the weights), solved from the equation above.

Every (shape, batch, threads, kernel) point of a ``kernel-bench`` record is then predicted and compared
(:func:`validate`): the error table is the evidence the model is right, within 15 % as the aim.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.records import KernelBench, load

__all__ = [
    "AIM",
    "CAL_SHAPES",
    "COLD_SHAPE",
    "HostRoofs",
    "KernelRoof",
    "calibrate",
    "load_kernel_bench",
    "predict_time",
    "validate",
]

AIM = 0.15
# cache-resident microbenchmarks (K x N): two N at one K give the per-byte cost, a second K the per-row cost;
# K = 4096 and 14336 are the reduction lengths of the benchmark and the Llama layers (E8: N / 8, it is slow)
CAL_SHAPES = ((4096, 16), (4096, 256), (14336, 16))
COLD_SHAPE = (4096, 2048)  # the cold calibration call (the LLC is flushed before each call)
BW_BYTES = 64 << 20


@dataclass(frozen=True)
class KernelRoof:
    """Measured roofs of one kernel at (batch, threads): fixed cost, cache-resident throughput, overlap."""

    t0: float  # seconds per call independent of the shape
    per_k: float  # seconds per row of K independent of N (activation quantization, rotation, tables)
    rate: float  # weight bytes per second with the weights in the cache
    overlap: float = 1.0  # share of the smaller of (memory, compute) time hidden behind the larger (<= 1)
    bytes_per_weight: float = 0.0  # bytes read per weight entry at the cold calibration shape

    def fixed(self, k: int) -> float:
        """Seconds of a call that do not depend on the weight bytes."""
        return self.t0 + self.per_k * k


def _fit(points: list[tuple[int, int, float]]) -> KernelRoof:
    """t = t0 + per_k K + W / rate through three (K, W, t) points: two at one K, one at another."""
    (k1, w1, t1), (_, w2, t2), (k3, w3, t3) = points
    rate = (w2 - w1) / (t2 - t1) if t2 > t1 else w2 / t2  # no measurable slope: all per-byte
    per_k = max(0.0, (t3 - t1 - (w3 - w1) / rate) / (k3 - k1))
    t0 = max(0.0, t1 - per_k * k1 - w1 / rate)
    return KernelRoof(t0=t0, per_k=per_k, rate=rate)


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
            "kernels": [
                {
                    "kernel": k,
                    "batch": b,
                    "threads": t,
                    "t0_s": r.t0,
                    "per_k_s": r.per_k,
                    "rate_bytes_per_s": r.rate,
                    "overlap": r.overlap,
                    "bytes_per_weight": r.bytes_per_weight,
                }
                for (k, b, t), r in sorted(self.kernels.items())
            ],
            "seconds": self.seconds,
            "machine": self.machine,
            "load_average": list(self.load_average),
            "notes": self.notes,
        }


def _combine(t_mem: float, t_cmp: float, overlap: float) -> float:
    return max(t_mem, t_cmp) + (1.0 - overlap) * min(t_mem, t_cmp)


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
    if r is None:
        raise HwqError(f"no calibration for {kernel} at batch {batch}, {threads} threads")
    bw = roofs.bandwidth[threads]
    t_mem, t_cmp = nbytes / bw, nbytes / r.rate
    bound = "memory" if t_mem >= t_cmp else "compute"
    return r.fixed(k) + _combine(t_mem, t_cmp, r.overlap), bound


def _cost(sample: tuple[float, float], threads: int) -> float:
    """A call's cost: its CPU time with one thread (not inflated by preemption), else its wall time."""
    wall, cpu = sample
    return cpu if threads == 1 else wall


def _cold_best(case: Any, name: str, b: int, t: int, flush, tries: int) -> float:
    """Best of ``tries`` calls, each after a pass over twice the last-level cache (cold weights), preceded
    by an untimed call that wakes the kernel's threads."""
    best = float("inf")
    for _ in range(tries):
        case.timed(name, b, t, 1)
        flush()
        best = min(best, _cost(case.timed(name, b, t, 1)[0], t))
    return best


def calibrate(
    cfg: HwqConfig,
    work_dir: str | Path,
    *,
    batches=(1, 4, 8),
    threads=(1, 2),
    kernels: tuple[str, ...] | None = None,
    calls: int = 2,
    rounds: int = 4,
    log=None,
) -> HostRoofs:
    """Measure the host's roofs now (a few seconds; see the module docstring).

    ``kernels`` defaults to every kernel of ``hwq bench c`` whose tools are installed (the ORT kernels need
    the ``[bench]`` extra; without it they are left out and said so in ``notes``).
    """
    import os

    import numpy as np

    from hwq.codegen.bench import KERNELS, Backends, l3_bytes
    from hwq.codegen.peers import ort_available
    from hwq.codegen.readfloor import ReadFloor
    from hwq.perf.devices import host_name

    t_start = time.perf_counter()
    notes: list[str] = []
    want = tuple(k for k in (kernels or KERNELS) if k != "read_floor")
    why = ort_available()
    if why and any(k.startswith("ort_") for k in want):
        notes.append(f"ONNX Runtime kernels not calibrated: {why}")
        want = tuple(k for k in want if not k.startswith("ort_"))
    floor = ReadFloor(Path(work_dir) / "readfloor")
    bandwidth: dict[int, float] = {}
    for t in sorted(threads):  # t threads read at least as fast as fewer (a loaded moment can hide that)
        bandwidth[t] = max([floor.bandwidth(BW_BYTES, t, reps=6, copies=2), *bandwidth.values()])
    flush = np.ones(2 * l3_bytes() + (1 << 20), dtype=np.uint8)
    be = Backends(cfg, work_dir, ("read_floor", *want))
    out: dict[tuple[str, int, int], KernelRoof] = {}
    try:
        for group in (tuple(k for k in want if k != "e8_exact"), ("e8_exact",)):
            group = tuple(k for k in group if k in want)
            if not group:
                continue
            scale = 8 if group == ("e8_exact",) else 1
            shapes = [(k, max(8, n // scale)) for k, n in CAL_SHAPES]
            hot = [be.case(k, n, tuple(threads), cold=False, kernels=group) for k, n in shapes]
            cold = be.case(
                *COLD_SHAPE[:1], max(16, COLD_SHAPE[1] // scale), tuple(threads), cold=False, kernels=group
            )
            keys = [(name, b, t) for name in group for b in batches for t in threads]
            best: dict[tuple[Any, ...], float] = {}
            # interleaved rounds: on a loaded machine a round can land in a bad moment for one kernel; the
            # minimum over rounds spread in time is the kernel's own cost, as in hwq bench c
            for _ in range(rounds if scale == 1 else 1):
                for key in keys:
                    for i, c in enumerate(hot):
                        v = min(_cost(x, key[2]) for x in c.timed(*key, 1 + calls)[1:])
                        best[(*key, i)] = min(best.get((*key, i), v), v)
                    v = _cold_best(cold, *key, lambda: floor.read(flush, 1), 2)
                    best[(*key, "cold")] = min(best.get((*key, "cold"), v), v)
            for (name, b, t, i), v in sorted(best.items(), key=lambda kv: kv[0][2]):
                # t threads are never slower than fewer: a loaded moment can hide that, not reverse it
                fewer = [best[(name, b, u, i)] for u in threads if u < t]
                best[(name, b, t, i)] = min([v, *fewer])
            for name, b, t in keys:
                roof = _fit([(c.k, c.nbytes[name], best[(name, b, t, i)]) for i, c in enumerate(hot)])
                nb = cold.nbytes[name]
                tc = best[(name, b, t, "cold")] - roof.fixed(cold.k)
                t_mem, t_cmp = nb / bandwidth[t], nb / roof.rate
                lo = min(t_mem, t_cmp)
                overlap = min(1.0, 1.0 - (tc - max(t_mem, t_cmp)) / lo) if lo > 0 else 1.0
                out[(name, b, t)] = KernelRoof(
                    t0=roof.t0,
                    per_k=roof.per_k,
                    rate=roof.rate,
                    overlap=overlap,
                    bytes_per_weight=nb / (cold.k * cold.m),
                )
                if log:
                    log(
                        f"  {name:<11} batch {b} {t}T: fixed {roof.t0 * 1e6:6.1f} us + "
                        f"{roof.per_k * 4096e6:6.1f} us per 4096 rows, cache-resident "
                        f"{roof.rate / 1e9:6.2f} GB/s, overlap {overlap:.2f}"
                    )
            for c in (*hot, cold):
                for f in c.cleanup:
                    f()
    finally:
        be.close()
    return HostRoofs(
        bandwidth=bandwidth,
        kernels=out,
        seconds=time.perf_counter() - t_start,
        machine=host_name(),
        load_average=tuple(os.getloadavg()),
        notes=notes,
    )


# ------------------------------------------------------------------------------------------------------
def load_kernel_bench(reports_dir: str | Path) -> list[tuple[Path, KernelBench]]:
    """The ``hwq bench c`` records (``kernel-bench``, backend ``c``) under ``reports_dir/bench``: the full
    runs, or the quick ones if none.

    Raises
    ------
    HwqError
        A ``c_*.json`` there is not a current ``kernel-bench`` record (one line naming the file and the
        command that regenerates it).
    """
    out = []
    for f in sorted((Path(reports_dir) / "bench").glob("c_*.json")):
        rec = load(f, KernelBench)
        if rec.backend == "c":
            out.append((f, rec))
    full = [fr for fr in out if not fr[1].quick]
    return full or out  # quick runs (cache-resident shapes) only where no full run exists


def validate(
    roofs: HostRoofs, records: list[tuple[Path, KernelBench]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Prediction error of every measured point (min time) of the ``kernel-bench`` records.

    Returns (rows, skipped): rows with file (``bench/<name>``), kernel, k, m, batch, threads, measured,
    predicted, error (predicted / measured - 1) and bound; skipped says which points could not be predicted
    and why. The read-floor points measure the bandwidth roof itself and are not predicted.
    """
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for f, rec in records:
        name = f"{f.parent.name}/{f.name}"
        for p in rec.points:
            if p.family == "read":
                continue
            if (p.kernel, p.batch, p.threads) not in roofs.kernels or p.threads not in roofs.bandwidth:
                skipped.append(f"{name}: {p.kernel} batch {p.batch} {p.threads}T was not calibrated")
                continue
            if p.nbytes is None or p.time_s is None:
                skipped.append(f"{name}: {p.kernel} batch {p.batch} {p.threads}T records no weight bytes/time")
                continue
            pred, bound = predict_time(roofs, p.kernel, p.k, p.nbytes, p.batch, p.threads)
            cpu = p.cpu_time_s
            rows.append(
                {
                    "measured_cpu": cpu if cpu else None,
                    "error_cpu": pred / cpu - 1.0 if cpu else None,
                    "file": name,
                    "device": "host",
                    "kernel": p.kernel,
                    "k": p.k,
                    "m": p.m,
                    "batch": p.batch,
                    "threads": p.threads,
                    "measured": p.time_s,
                    "predicted": pred,
                    "unit": "s",
                    "error": pred / p.time_s - 1.0,
                    "bound": bound,
                    "quick": rec.quick,
                    "cold": p.cold,
                }
            )
    return rows, skipped


def summary_line(rows: list[dict[str, Any]]) -> str:
    """'N points, median |error| x%, max y%, z within 15%'."""
    if not rows:
        return "no measured host points"
    errs = [abs(r["error"]) for r in rows]
    within = sum(e <= AIM for e in errs)
    line = (
        f"{len(rows)} measured host points: median |error| {statistics.median(errs):.1%}, max "
        f"{max(errs):.1%}, {within}/{len(rows)} within {AIM:.0%}"
    )
    ec = [abs(r["error_cpu"]) for r in rows if r.get("error_cpu") is not None]
    if ec:
        line += (
            f"; the {len(ec)} one-thread points against CPU time: median {statistics.median(ec):.1%}, max "
            f"{max(ec):.1%}, {sum(e <= AIM for e in ec)}/{len(ec)} within {AIM:.0%}"
        )
    return line
