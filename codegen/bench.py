"""``hwq bench c``: the generated C kernels against ONNX Runtime, numpy fp32 and the read-bandwidth floor.

One run times, per shape (K x N), batch and thread count, in interleaved rounds (one call of every kernel
per round, so a load change on the shared machine hits all of them alike):

========== ===============================================================================================
read_floor SIMD read loop (AVX-512, else AVX2; ``-march=native``, :mod:`hwq.codegen.readfloor`), hwq's bytes
hwq_exact  hwq exact GEMV/GEMM (int8 activations, integer datapath), the default config (D3 q=6)
hwq_fast   hwq fast mode (fp32 activations)
hwq_lut    hwq both-quantized LUT kernel (activations pre-encoded; the accumulators, no epilogue)
e8_exact   hwq exact, E8 q=7 (arithmetic decode, no table path); --e8-rounds can give it fewer rounds
ort_q4     ONNX Runtime ``MatMulNBits`` 4-bit, block 128, accuracy_level 4
ort_q2     the same, 2-bit
ort_int8   ONNX Runtime ``MatMulInteger`` (uint8 x int8 -> int32, W8A8)
numpy_fp32 numpy ``W @ X`` fp32 in a worker process without the OpenBLAS overrides (:mod:`hwq.codegen.peers`)
========== ===============================================================================================

Weights are cold: every kernel rotates over copies of its weights that together exceed twice the
last-level cache (when a shape is too small for that with a bounded number of copies, the row says
``cold: false``). Each kernel's output is checked before anything is timed: hwq exact and LUT bit for bit
against :mod:`hwq.datapath` (on sampled columns of the full matrix), hwq fast against the float64 product of
the dequantized weights, ORT ``MatMulNBits`` against numpy with the same dequantized weights, ORT
``MatMulInteger`` exactly against the integer product, numpy fp32 against float64. A failed check stops
the run (:class:`BenchError`). Figures: min and median over the rounds, bytes read, bits per weight (per
real entry, K unpadded), GB/s at the minimum, % of the read floor's GB/s measured in the same case, and
the speedup over ORT 4-bit.

Modules: :mod:`~hwq.codegen.bench_backends` (the kernels, peers and operands of a shape, their checks),
:mod:`~hwq.codegen.bench_timing` (cold copies, the interleaved rounds), :mod:`~hwq.codegen.bench_format`
(printed and Markdown views); this one runs them and builds the record.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from hwq.codegen.bench_backends import FAMILIES, KERNELS, LABELS, Backends, Case
from hwq.codegen.bench_format import format_case
from hwq.codegen.bench_timing import BURST, SETTLE, interleaved, l2_bytes, l3_bytes

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.records import KernelBench, RooflinePoint, Stamp

__all__ = ["BATCHES", "QUICK", "SHAPES", "THREADS", "BenchError", "bench_record", "run_bench"]

SHAPES = ((4096, 4096), (4096, 14336), (14336, 4096))
BATCHES = (1, 4, 8)
THREADS = (1, 2)
QUICK = {"shapes": ((1024, 1024),), "batches": (1, 4), "threads": (1, 2), "rounds": 3, "e8_rounds": 2}


class BenchError(HwqError):
    """A kernel's output did not match its reference: nothing is timed."""


def _check_case(cs: Case, kernels, b: int, nt: int) -> list[dict[str, Any]]:
    """Every kernel's reference check at batch ``b`` and ``nt`` threads; BenchError at the first failure."""
    out = []
    for name in kernels:
        if name not in cs.checks:
            continue
        what, val, lim = cs.checks[name](b, nt)
        ok = val <= lim
        out.append({"k": cs.k, "m": cs.m, "batch": b, "threads": nt, "kernel": name, "check": what,
                    "value": val, "limit": lim, "ok": ok})
        if not ok:
            raise BenchError(
                f"CORRECTNESS FAILURE: {LABELS[name]} at {cs.k}x{cs.m} batch {b} "
                f"{nt} threads: {what}: {val:g} > {lim:g}; nothing timed"
            )
    return out


def run_bench(
    cfg: HwqConfig,
    work_dir: str | Path,
    *,
    shapes=SHAPES,
    batches=BATCHES,
    threads=THREADS,
    rounds: int = 15,
    e8_rounds: int = 15,
    kernels: tuple[str, ...] = KERNELS,
    quick: bool = False,
    calibrate: bool = True,
    log: Callable[[str], None] = print,
) -> KernelBench:
    """Check every kernel, then time them in interleaved rounds; returns the ``kernel-bench`` record.

    With ``calibrate``, each round also runs one round of the host model's microbenchmarks
    (:class:`hwq.perf.host_roofs.Calibration`: the kernels at shapes that are not benchmark shapes,
    cache-resident and cold) at the case's batch and threads; the roofs fitted from a case's rounds go into
    the record's ``calibration``, so ``hwq roofline --device host`` predicts each point from roofs measured
    in the same moments.

    Raises
    ------
    BenchError
        A kernel's output differs from its reference (nothing further is timed).
    HwqError
        onnxruntime/onnx missing (names the extra), no compiler.
    """
    load_before = list(os.getloadavg())
    be = Backends(cfg, work_dir, tuple(kernels))
    checks: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    calibration: list[dict[str, Any]] = []
    cal = None
    t_start = time.perf_counter()
    # this process's references (numpy float64 products) on one BLAS thread: an idle OpenBLAS thread spins for
    # about 0.1 s after a call and would hold the second core through the timed rounds
    blas_one = threadpool_limits(limits=1, user_api="blas")
    try:
        if calibrate and "read_floor" in kernels:
            from hwq.perf.host_roofs import Calibration

            log("building the calibration operands (host roofline microbenchmarks) ...")
            cal = Calibration(be, tuple(threads))
        for k, m in shapes:
            log(f"== {k}x{m} (K x N): building operands ...")
            cs = be.case(k, m, tuple(threads))
            try:
                for b in batches:
                    for nt in threads:
                        checks += _check_case(cs, kernels, b, nt)  # doubles as the warm-up call
                        if cal is not None:
                            cal.reset()
                        between = partial(_cal_round, cal, b, nt, e8_rounds) if cal is not None else None
                        times = interleaved(cs, kernels, b, nt, rounds, e8_rounds, between=between)
                        case_rows = _rows(cs, times, b, nt)
                        rows += case_rows
                        if cal is not None:
                            bw, roofs = cal.roofs(b, nt)
                            calibration += [{"k": k, "m": m, "batch": b, "threads": nt, "kernel": name,
                                             **roof.to_dict()} for name, roof in roofs.items()]
                        for line in format_case(case_rows):
                            log(line)
            finally:
                for f in cs.cleanup:
                    f()
    finally:
        blas_one.restore_original_limits()
        if cal is not None:
            cal.close()
        be.close()
    res = finalize({
        "config": cfg.to_dict(),
        "config_e8": be.cfg_e8.to_dict() if be.lib_e8 else None,
        "isa": be.lib.isa(),
        "table_path": be.lib.table_path(),
        "read_floor_avx512": be.floor.avx512,
        "read_floor_isa": be.floor.isa,
        "cpu_count": os.cpu_count(),
        "llc_bytes": l3_bytes(),
        "l2_bytes": l2_bytes(),
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "seconds": time.perf_counter() - t_start,
        "quick": quick,
        "settings": {
            "shapes": [list(s) for s in shapes],
            "batches": list(batches),
            "threads": list(threads),
            "rounds": rounds,
            "e8_rounds": e8_rounds,
            "kernels": list(kernels),
        },
        "numpy_worker": (
            {"blas": be.worker.blas, "removed_env": be.worker.removed} if be.worker is not None else None
        ),
        "checks": checks,
        "rows": rows,
        "calibration": calibration,
        "burst": BURST,
        "note": (
            "interleaved rounds (per round each kernel runs 1 + burst calls in a row on successive weight "
            "copies, the first untimed: it wakes the kernel's sleeping thread pool); min and median per "
            "kernel; "
            "cold weights (copies beyond 2x the LLC unless cold is false); ORT sessions "
            "with intra_op_num_threads = threads and spinning off; numpy fp32 timed inside a worker "
            "process without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE and with OPENBLAS_THREAD_TIMEOUT=4 (its idle "
            "threads sleep instead of spinning); the benchmark's own numpy references on one BLAS thread; "
            f"at 2 or more threads each kernel's burst is followed by {SETTLE * 1e3:.0f} ms idle "
            "(idle OpenMP workers spin about 3 ms); "
            "hwq_lut times the LUT accumulators from "
            "pre-encoded activations; shared machine: see the load averages"
        ),
    })
    return bench_record(res, Stamp.now(cfg, be.tools()))


def bench_record(res: dict[str, Any], stamp: Stamp) -> KernelBench:
    """The ``kernel-bench`` record of one run's results (``rows`` and ``checks`` as :func:`run_bench` builds
    them): a typed point per timed row (its minimum time), the run's settings, load and notes in ``detail``.
    The numpy worker's OpenBLAS library is recorded by file name, never by path."""
    cfg_e8 = res.get("config_e8")
    slug_e8 = HwqConfig.from_dict(cfg_e8).slug if cfg_e8 else ""
    points = tuple(
        RooflinePoint(
            device=stamp.machine,
            kernel=r["kernel"],
            family=FAMILIES[r["kernel"]],
            k=r["k"],
            m=r["m"],
            batch=r["batch"],
            time_s=r["min_ms"] * 1e-3,
            slug=_point_slug(r["kernel"], stamp.slug, slug_e8),
            threads=r["threads"],
            nbytes=r["bytes"],
            cpu_time_s=r["cpu_min_ms"] * 1e-3 if r.get("cpu_min_ms") is not None else None,
            cold=r["cold"],
        )
        for r in res["rows"]
    )
    detail = {k: v for k, v in res.items()
              if k not in ("rows", "checks", "quick", "read_bandwidth_gbps", "calibration")}
    nw = detail.get("numpy_worker")
    if nw and nw.get("blas", {}).get("filepath"):
        blas = {**nw["blas"], "filepath": Path(nw["blas"]["filepath"]).name}
        detail["numpy_worker"] = {**nw, "blas": blas}
    return KernelBench(
        stamp=stamp,
        backend="c",
        device=stamp.machine,
        ok=bool(res["checks"]) and all(c["ok"] for c in res["checks"]),
        points=points,
        rows=tuple(res["rows"]),
        detail=detail,
        quick=bool(res.get("quick")),
        checks=tuple(res["checks"]),
        read_bandwidth_gbps=res["read_bandwidth_gbps"],
        calibration=tuple(res.get("calibration", ())),
    )


def _point_slug(kernel: str, slug: str, slug_e8: str) -> str:
    """The config slug of a kernel's points: the run's (E8 q=7's for ``e8_exact``), empty for a peer."""
    if FAMILIES[kernel] != "hwq":
        return ""
    return slug_e8 if kernel == "e8_exact" else slug


def finalize(res: dict[str, Any]) -> dict[str, Any]:
    """Add the run's read bandwidth per thread count (the best read-floor GB/s of any case, and at least that
    of fewer threads: a property of the machine, which one case's floor under a load spike understates)
    and each row's share of it."""
    bw: dict[int, float] = {}
    for r in res["rows"]:
        if r["kernel"] == "read_floor":
            bw[r["threads"]] = max(bw.get(r["threads"], 0.0), r["gbps"])
    for t in sorted(bw):  # t threads read at least as fast as fewer do (a loaded moment can hide that)
        bw[t] = max([bw[t]] + [v for u, v in bw.items() if u < t])
    res["read_bandwidth_gbps"] = {str(t): v for t, v in sorted(bw.items())}
    for r in res["rows"]:
        r["pct_bandwidth"] = 100.0 * r["gbps"] / bw[r["threads"]] if r["threads"] in bw else None
    return res


def _cal_round(cal: Any, b: int, nt: int, e8_rounds: int, r: int) -> None:
    """Round ``r`` of the host calibration at batch ``b`` and ``nt`` threads (E8 in its first rounds only)."""
    cal.round(b, nt, e8=r < e8_rounds)


def _rows(cs: Case, samples: dict[str, list[tuple[float, float]]], b: int, nt: int) -> list[dict[str, Any]]:
    """One row per kernel of a case from its (wall, CPU) samples: min and median, bytes, GB/s, % of the
    case's read floor, speedup over ORT 4-bit."""
    times = {n: [w for w, _ in s] for n, s in samples.items()}
    cpu = {n: min(c for _, c in s) for n, s in samples.items()}
    tmin = {n: min(t) for n, t in times.items()}
    floor_gbps = cs.nbytes["read_floor"] / tmin["read_floor"] / 1e9 if "read_floor" in tmin else None
    out = []
    for name, ts in times.items():
        nbytes = cs.nbytes[name]
        gbps = nbytes / tmin[name] / 1e9
        n_c, cold = cs.copies[name]
        out.append(
            {
                "k": cs.k,
                "m": cs.m,
                "batch": b,
                "threads": nt,
                "kernel": name,
                "label": LABELS[name],
                "bytes": nbytes,
                "bits_per_weight": 8.0 * nbytes / (cs.k * cs.m),
                "min_ms": tmin[name] * 1e3,
                "median_ms": statistics.median(ts) * 1e3,
                "rounds": len(ts),
                "cpu_min_ms": cpu[name] * 1e3 if nt == 1 else None,
                "gbps": gbps,
                "pct_floor": 100.0 * gbps / floor_gbps if floor_gbps else None,
                "speedup_vs_ort_q4": tmin["ort_q4"] / tmin[name] if "ort_q4" in tmin else None,
                "speedup_vs_ort_q4_median": (
                    statistics.median(times["ort_q4"]) / statistics.median(ts) if "ort_q4" in times else None
                ),
                "copies": n_c,
                "cold": cold,
            }
        )
    return out


