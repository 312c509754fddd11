"""``hwq bench c``: the generated C kernels against ONNX Runtime, numpy fp32 and the read-bandwidth floor.

One run times, per shape (K x N), batch and thread count, in interleaved rounds (one call of every kernel
per round, so a load change on the shared machine hits all of them alike):

========== ===============================================================================================
read_floor AVX-512 read loop (``-O3 -march=native``, :mod:`hwq.codegen.readfloor`) over hwq's byte count
hwq_exact  hwq exact GEMV/GEMM (int8 activations, integer datapath), the default config (D3 q=6)
hwq_fast   hwq fast mode (fp32 activations)
hwq_lut    hwq both-quantized LUT kernel (activations pre-encoded; the accumulators, no epilogue)
e8_exact   hwq exact, E8 q=7 (arithmetic decode, no table path), fewer rounds (it is slow)
ort_q4     ONNX Runtime ``MatMulNBits`` 4-bit, block 128, accuracy_level 4
ort_q2     the same, 2-bit
ort_int8   ONNX Runtime ``MatMulInteger`` (uint8 x int8 -> int32, W8A8)
numpy_fp32 numpy ``W @ X`` fp32 in a subprocess without the OpenBLAS overrides (:class:`NumpyWorker`)
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

The hwq weights are random codes with the D3 ladder distribution (kernel time does not depend on values;
encoding a 59M-entry matrix with the Python reference would take minutes); the peers get random fp32
weights quantized by their own scheme.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from hwq.codegen.build import CKernels, PackedWeights, compile_c

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.errors import HwqError
from hwq.packing import pack_bits
from hwq.records import KernelBench, RooflinePoint, Stamp

__all__ = [
    "BATCHES",
    "KERNELS",
    "QUICK",
    "SHAPES",
    "THREADS",
    "Backends",
    "BenchError",
    "Case",
    "bench_record",
    "l2_bytes",
    "l3_bytes",
    "random_encoded",
    "run_bench",
    "sub_matrix",
    "write_report",
]

SHAPES = ((4096, 4096), (4096, 14336), (14336, 4096))
BATCHES = (1, 4, 8)
THREADS = (1, 2)
QUICK = {"shapes": ((1024, 1024),), "batches": (1, 4), "threads": (1, 2), "rounds": 3, "e8_rounds": 2}
KERNELS = (
    "read_floor",
    "hwq_exact",
    "hwq_fast",
    "hwq_lut",
    "e8_exact",
    "ort_q4",
    "ort_q2",
    "ort_int8",
    "numpy_fp32",
)
LABELS = {
    "read_floor": "read floor (AVX-512 loop)",
    "hwq_exact": "hwq exact D3 q=6",
    "hwq_fast": "hwq fast D3 q=6",
    "hwq_lut": "hwq LUT (both quantized)",
    "e8_exact": "hwq exact E8 q=7",
    "ort_q4": "ORT MatMulNBits 4-bit",
    "ort_q2": "ORT MatMulNBits 2-bit",
    "ort_int8": "ORT MatMulInteger int8",
    "numpy_fp32": "numpy fp32 (OpenBLAS)",
}
# the roofline family of each kernel's measured points (hwq.records.RooflinePoint)
FAMILIES = {
    "read_floor": "read",
    "hwq_exact": "hwq",
    "hwq_fast": "hwq",
    "hwq_lut": "hwq",
    "e8_exact": "hwq",
    "ort_q4": "int4",
    "ort_q2": "int2",
    "ort_int8": "int8",
    "numpy_fp32": "fp32",
}
MAX_COPIES = 64
MAX_SESSION_COPIES = 8
FAST_LIMIT = 1e-3  # hwq fast mode vs the float64 product of the dequantized weights
ORT_LIMIT = 0.02  # ORT with int8 activations (accuracy_level 4) vs numpy on the same dequantized weights
FP32_LIMIT = 1e-4
CHECK_COLS = 24
BURST = 2  # timed calls per kernel and round, after one untimed call that wakes its threads


class BenchError(HwqError):
    """A kernel's output did not match its reference: nothing is timed."""


def _sysconf(name: str, default: int) -> int:
    try:
        v = int(os.sysconf(name))
    except (ValueError, OSError, AttributeError):
        v = 0
    return v if v > 0 else default


def l3_bytes() -> int:
    """Last-level cache size (sysconf), 32 MiB when unknown."""
    return _sysconf("SC_LEVEL3_CACHE_SIZE", 32 << 20)


def l2_bytes() -> int:
    """Per-core L2 size (sysconf), 1 MiB when unknown."""
    return _sysconf("SC_LEVEL2_CACHE_SIZE", 1 << 20)


def _copies_for(nbytes: int, limit: int = MAX_COPIES) -> tuple[int, bool]:
    """(copies, cold): copies that together exceed twice the LLC, at most ``limit``."""
    want = max(1, -(-2 * l3_bytes() // max(1, nbytes)))
    n = min(want, limit)
    return n, n * nbytes > 2 * l3_bytes()


def random_encoded(cfg: HwqConfig, k: int, m: int, seed: int = 0) -> EncodedMatrix:
    """Random codes/ladder (ladder P(T) ~ 71/16/9/4 %) in the container format, unit norms."""
    rng = np.random.default_rng(seed)
    nb = k // cfg.dim
    rows = rng.integers(0, cfg.num_codewords, (m, nb))
    p = np.array([0.71, 0.16, 0.09, 0.04][: cfg.ladder_len], dtype=np.float64)
    lad = rng.choice(cfg.ladder_len, (m, nb), p=p / p.sum())
    return EncodedMatrix(
        cfg,
        k,
        m,
        0,
        pack_bits(rows, cfg.code_bits),
        pack_bits(lad, cfg.ladder_bits),
        np.ones(m, dtype=np.float32),
    )


def sub_matrix(enc: EncodedMatrix, cols: np.ndarray) -> EncodedMatrix:
    """The columns ``cols`` of an encoded matrix (codes are packed per column)."""
    return EncodedMatrix(
        enc.config,
        enc.n,
        len(cols),
        enc.matrix_id,
        np.ascontiguousarray(enc.codes[cols]),
        np.ascontiguousarray(enc.ladder[cols]),
        np.ascontiguousarray(enc.norms[cols]),
    )


def check_columns(m: int) -> np.ndarray:
    """Sampled columns for the reference checks: the first, middle and last few (record boundaries)."""
    if m <= CHECK_COLS:
        return np.arange(m)
    n = CHECK_COLS
    third = n // 3
    cols = np.unique(np.r_[np.arange(third), m // 2 + np.arange(third), m - 1 - np.arange(n - 2 * third)])
    return cols[(cols >= 0) & (cols < m)]


def _gcc_version() -> str:
    from hwq.codegen.build import find_cc

    try:
        out = subprocess.run([find_cc(), "--version"], capture_output=True, text=True).stdout
    except HwqError:
        return "not found"
    return out.splitlines()[0] if out else "unknown"


# ------------------------------------------------------------------------------------------------------
@dataclass
class Case:
    """The operands of one shape: every backend's weights (with cold copies) and how many bytes it reads."""

    k: int
    m: int
    calls: dict[str, Callable[..., Any]] = field(default_factory=dict)  # (batch, threads) -> s (see timed)
    checks: dict[str, Callable[[int, int], tuple[str, float, float]]] = field(default_factory=dict)
    nbytes: dict[str, int] = field(default_factory=dict)
    copies: dict[str, tuple[int, bool]] = field(default_factory=dict)
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def timed(self, name: str, b: int, nt: int, n: int = 1) -> list[tuple[float, float]]:
        """(wall, calling-thread CPU) seconds of each of ``n`` consecutive calls of kernel ``name`` (numpy:
        timed inside its worker). With one thread the CPU time is the call's whole cost, which preemption by
        other processes on a shared machine does not inflate."""
        if name == "numpy_fp32":
            return self.calls[name](b, nt, n)
        return [self.calls[name](b, nt) for _ in range(n)]


class Backends:
    """The compiled libraries and peers shared by every shape (built once per run)."""

    def __init__(self, cfg: HwqConfig, work_dir: str | Path, kernels: tuple[str, ...] = KERNELS):
        from hwq.codegen.readfloor import ReadFloor

        self.cfg = cfg
        self.kernels = kernels
        work = Path(work_dir)
        self.lib = CKernels(cfg, compile_c(cfg, work / cfg.slug), nthreads=1)
        self.cfg_e8 = HwqConfig(lattice="E8", q=7)
        self.lib_e8 = (
            CKernels(self.cfg_e8, compile_c(self.cfg_e8, work / self.cfg_e8.slug), nthreads=1)
            if "e8_exact" in kernels
            else None
        )
        self.floor = ReadFloor(work / "readfloor")
        self.worker = None
        self.ort_version = self.onnx_version = "not used"
        if any(k.startswith("ort_") for k in kernels):
            from hwq.codegen.peers import ort_available

            why = ort_available()
            if why:
                raise HwqError(why)
            import onnx
            import onnxruntime

            self.ort_version, self.onnx_version = onnxruntime.__version__, onnx.__version__
        if "numpy_fp32" in kernels:
            from hwq.codegen.peers import NumpyWorker

            self.worker = NumpyWorker()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()

    def tools(self) -> dict[str, str]:
        t = {
            "numpy": np.__version__,
            "onnxruntime": self.ort_version,
            "onnx": self.onnx_version,
            "gcc": _gcc_version(),
            "python": platform.python_version(),
        }
        if self.worker is not None:
            t["openblas"] = f"{self.worker.blas.get('version')} ({self.worker.blas.get('architecture')})"
        return t

    # -- one shape ---------------------------------------------------------------------------------
    def case(
        self,
        k: int,
        m: int,
        threads: tuple[int, ...],
        seed: int = 1,
        cold: bool = True,
        kernels: tuple[str, ...] | None = None,
    ) -> Case:
        """Weights of every kernel for a K x M product (M output columns), with copies for cold reads
        (``cold=False``: one copy, for microbenchmarks on cache-resident weights)."""
        from hwq import datapath as dp
        from hwq.matmul import decode_matrix

        cs = Case(k, m)
        rng = np.random.default_rng(seed)
        cfg, lib = self.cfg, self.lib
        want = tuple(n for n in (kernels or self.kernels) if n in self.kernels)

        def copies_for(nbytes: int, limit: int = MAX_COPIES) -> tuple[int, bool]:
            return _copies_for(nbytes, limit) if cold else (1, False)

        kp = cfg.padded_k(k)
        enc = random_encoded(cfg, kp, m, seed)
        pw = lib.pack(enc)
        nb = pw.nbytes_read
        n_cp, is_cold = copies_for(nb)
        pws = _rotor([pw] + [PackedWeights(enc, pw.data.copy()) for _ in range(n_cp - 1)])
        cols = check_columns(m)
        sub = sub_matrix(enc, cols)
        xs: dict[int, np.ndarray] = {}

        def xpad(b: int) -> np.ndarray:
            if b not in xs:
                x = np.zeros((kp, b))
                x[:k] = np.random.default_rng(100 + b).standard_normal((k, b))
                xs[b] = x
            return xs[b]

        x32 = {}
        codes = {}

        def acts(b: int):
            if b not in codes:
                a = dp.prepare_activations(xpad(b), cfg)
                codes[b] = dp.encode_activations(a.x_rot, cfg)
            return codes[b]

        def run_lib(fn, b, nt):
            lib.nthreads = nt
            return fn()

        for name in ("read_floor", "hwq_exact", "hwq_fast", "hwq_lut"):
            if name in want:
                cs.nbytes[name], cs.copies[name] = nb, (n_cp, is_cold)
        if "read_floor" in want:
            cs.calls["read_floor"] = lambda b, nt: _timed(lambda: self.floor.read(pws().data, nt))
            cs.checks["read_floor"] = lambda b, nt: (
                "checksum of a pass equals numpy's XOR",
                float(self.floor.read(pw.data[:4096], 1) != _xor64(pw.data[:4096])),
                0.0,
            )
        if "hwq_exact" in want:
            cs.calls["hwq_exact"] = lambda b, nt: _timed(
                lambda: run_lib(lambda: lib.gemv_exact(pws(), xpad(b)), b, nt)
            )

            def chk_exact(b: int, nt: int) -> tuple[str, float, float]:
                y, acc = run_lib(lambda: lib.gemv_exact(pw, xpad(b)), b, nt)
                act = dp.prepare_activations(xpad(b), cfg)
                ref_acc = dp.weight_only_acc(sub, act.x_rot)
                ref_y = dp.weight_only_gemv(sub, xpad(b))
                bad = int(np.sum(acc[cols] != ref_acc)) + int(np.sum(y[cols] != ref_y))
                return (f"acc and y bit-equal to hwq.datapath on {len(cols)} columns", float(bad), 0.0)

            cs.checks["hwq_exact"] = chk_exact
        if "hwq_fast" in want:

            def x32b(b: int) -> np.ndarray:
                if b not in x32:
                    x32[b] = xpad(b).astype(np.float32)
                return x32[b]

            cs.calls["hwq_fast"] = lambda b, nt: _timed(
                lambda: run_lib(lambda: lib.gemv_fast(pws(), x32b(b)), b, nt)
            )

            def chk_fast(b: int, nt: int) -> tuple[str, float, float]:
                y = run_lib(lambda: lib.gemv_fast(pw, x32b(b)), b, nt)
                ref = decode_matrix(sub).astype(np.float64).T @ x32b(b).astype(np.float64)
                err = float(np.max(np.abs(y[cols] - ref)) / max(np.max(np.abs(ref)), 1e-30))
                return (
                    f"relative error vs float64 product of the dequantized weights ({len(cols)} columns)",
                    err,
                    FAST_LIMIT,
                )

            cs.checks["hwq_fast"] = chk_fast
        if "hwq_lut" in want:
            cs.calls["hwq_lut"] = lambda b, nt: _timed(
                lambda: run_lib(lambda: lib.lut_acc(pws(), acts(b)), b, nt)
            )

            def chk_lut(b: int, nt: int) -> tuple[str, float, float]:
                acc = run_lib(lambda: lib.lut_acc(pw, acts(b)), b, nt)
                bad = int(np.sum(acc[cols] != dp.lut_acc(sub, acts(b))))
                return (
                    f"LUT accumulators bit-equal to hwq.datapath.lut_acc on {len(cols)} columns",
                    float(bad),
                    0.0,
                )

            cs.checks["hwq_lut"] = chk_lut
        if "e8_exact" in want:
            self._e8(cs, k, m, copies_for)
        w = None
        if any(n in want for n in ("ort_q4", "ort_q2")):
            from hwq.codegen.peers import OrtNBits

            w = rng.standard_normal((k, m), dtype=np.float32)
            a32 = {}

            def a_of(b: int) -> np.ndarray:
                if b not in a32:
                    a32[b] = np.random.default_rng(200 + b).standard_normal((b, k), dtype=np.float32)
                return a32[b]

            for name, bits in (("ort_q4", 4), ("ort_q2", 2)):
                if name not in want:
                    continue
                nbytes = k * m * bits // 8 + 4 * m * (k // 128)
                n_c, c_ok = copies_for(nbytes, MAX_SESSION_COPIES)
                peer = OrtNBits(w, bits, 128, threads=threads, copies=n_c)
                cs.nbytes[name], cs.copies[name] = peer.nbytes, (n_c, c_ok)
                cs.calls[name] = (lambda p: lambda b, nt: _timed(lambda: p.run(a_of(b), nt)))(peer)

                def chk_nbits(b: int, nt: int, p=peer) -> tuple[str, float, float]:
                    y, ref = p.run(a_of(b), nt), p.reference(a_of(b))
                    return (
                        "relative error vs numpy on the same dequantized weights",
                        float(np.max(np.abs(y - ref)) / np.max(np.abs(ref))),
                        ORT_LIMIT,
                    )

                cs.checks[name] = chk_nbits
        if "ort_int8" in want:
            from hwq.codegen.peers import OrtInt8

            w8 = rng.integers(-127, 128, (k, m), dtype=np.int8)
            n_c, c_ok = copies_for(w8.nbytes, MAX_SESSION_COPIES)
            p8 = OrtInt8(w8, threads=threads, copies=n_c)
            cs.nbytes["ort_int8"], cs.copies["ort_int8"] = p8.nbytes, (n_c, c_ok)
            au8 = {}

            def a8(b: int) -> np.ndarray:
                if b not in au8:
                    au8[b] = np.random.default_rng(300 + b).integers(0, 256, (b, k), dtype=np.uint8)
                return au8[b]

            cs.calls["ort_int8"] = lambda b, nt: _timed(lambda: p8.run(a8(b), nt))
            cs.checks["ort_int8"] = lambda b, nt: (
                "int32 outputs equal to numpy's integer product",
                float(np.sum(p8.run(a8(b), nt) != p8.reference(a8(b)))),
                0.0,
            )
        if "numpy_fp32" in want and self.worker is not None:
            wk = self.worker
            key = f"{k}x{m}"
            n_c, c_ok = copies_for(4 * k * m)
            cs.nbytes["numpy_fp32"] = wk.setup(key, k, m, n_c)
            cs.copies["numpy_fp32"] = (n_c, c_ok)
            cs.calls["numpy_fp32"] = lambda b, nt, calls=1: wk.time(key, b, nt, calls)
            cs.checks["numpy_fp32"] = lambda b, nt: (
                "relative error vs float64",
                wk.check(key, b, nt),
                FP32_LIMIT,
            )
            cs.cleanup.append(lambda: wk.drop(key))
        del w
        return cs

    def _e8(self, cs: Case, k: int, m: int, copies_for: Callable[[int], tuple[int, bool]]) -> None:
        from hwq import datapath as dp

        cfg, lib = self.cfg_e8, self.lib_e8
        kp = cfg.padded_k(k)
        enc = random_encoded(cfg, kp, m, 5)
        pw = lib.pack(enc)
        n_cp, cold = copies_for(pw.nbytes_read)
        copies = [pw] + [
            PackedWeights(sub_matrix(enc, np.arange(m)), pw.data.copy()) for _ in range(n_cp - 1)
        ]
        pws = _rotor(copies)
        cs.nbytes["e8_exact"], cs.copies["e8_exact"] = pw.nbytes_read, (n_cp, cold)
        cols = check_columns(m)[:8]
        sub = sub_matrix(enc, cols)
        xs: dict[int, np.ndarray] = {}

        def xpad(b: int) -> np.ndarray:
            if b not in xs:
                x = np.zeros((kp, b))
                x[:k] = np.random.default_rng(400 + b).standard_normal((k, b))
                xs[b] = x
            return xs[b]

        def call(w: PackedWeights, b: int, nt: int):
            lib.nthreads = nt
            return lib.gemv_exact(w, xpad(b))

        cs.calls["e8_exact"] = lambda b, nt: _timed(lambda: call(pws(), b, nt))

        def chk(b: int, nt: int) -> tuple[str, float, float]:
            y, acc = call(pw, b, nt)
            bad = int(
                np.sum(acc[cols] != dp.weight_only_acc(sub, dp.prepare_activations(xpad(b), cfg).x_rot))
            )
            bad += int(np.sum(y[cols] != dp.weight_only_gemv(sub, xpad(b))))
            return (f"acc and y bit-equal to hwq.datapath on {len(cols)} columns", float(bad), 0.0)

        cs.checks["e8_exact"] = chk


def _rotor(items: list[Any]) -> Callable[[], Any]:
    state = {"i": 0}

    def nxt() -> Any:
        state["i"] = (state["i"] + 1) % len(items)
        return items[state["i"]]

    return nxt


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall, calling-thread CPU) seconds of one call."""
    c0, t0 = time.thread_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.thread_time() - c0


def _xor64(buf: np.ndarray) -> int:
    """What the read loop returns for a multiple of 512 bytes: the sum of the 8 lanes of the XOR."""
    v = np.bitwise_xor.reduce(buf.view(np.uint64).reshape(-1, 8), axis=0)
    return int(np.sum(v.astype(object))) & (2**64 - 1)


# ------------------------------------------------------------------------------------------------------
def run_bench(
    cfg: HwqConfig,
    work_dir: str | Path,
    *,
    shapes=SHAPES,
    batches=BATCHES,
    threads=THREADS,
    rounds: int = 15,
    e8_rounds: int = 3,
    kernels: tuple[str, ...] = KERNELS,
    quick: bool = False,
    calibrate: bool = True,
    log: Callable[[str], None] = print,
) -> KernelBench:
    """Check every kernel, then time them in interleaved rounds; returns the ``kernel-bench`` record.

    With ``calibrate``, each round also runs one round of the host model's microbenchmarks
    (:class:`hwq.perf.host_roofs.Calibration`: the kernels at shapes that are not benchmark shapes,
    cache-resident and cold) at the case's batch and threads; the roofs fitted from a case's rounds go into the record's
    ``calibration``, so ``hwq roofline --device host`` predicts each point from roofs measured in the same
    moments.

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
                        for name in kernels:  # the check doubles as the warm-up call
                            if name not in cs.checks:
                                continue
                            what, val, lim = cs.checks[name](b, nt)
                            ok = val <= lim
                            checks.append(
                                {
                                    "k": k,
                                    "m": m,
                                    "batch": b,
                                    "threads": nt,
                                    "kernel": name,
                                    "check": what,
                                    "value": val,
                                    "limit": lim,
                                    "ok": ok,
                                }
                            )
                            if not ok:
                                raise BenchError(
                                    f"CORRECTNESS FAILURE: {LABELS[name]} at {k}x{m} batch {b} "
                                    f"{nt} threads: {what}: {val:g} > {lim:g}; nothing timed"
                                )
                        if cal is not None:
                            cal.reset()
                        between = partial(_cal_round, cal, b, nt, e8_rounds) if cal is not None else None
                        times = _interleaved(cs, kernels, b, nt, rounds, e8_rounds, between=between)
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
        if cal is not None:
            cal.close()
        be.close()
    res = finalize({
        "config": cfg.to_dict(),
        "config_e8": be.cfg_e8.to_dict() if be.lib_e8 else None,
        "isa": be.lib.isa(),
        "table_path": be.lib.table_path(),
        "read_floor_avx512": be.floor.avx512,
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
            "process without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE; hwq_lut times the LUT accumulators from "
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
            slug=(slug_e8 if r["kernel"] == "e8_exact" else stamp.slug) if FAMILIES[r["kernel"]] == "hwq" else "",
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


SUMMARY_KERNELS = ("hwq_exact", "hwq_fast", "hwq_lut", "e8_exact", "ort_q4", "ort_q2", "ort_int8",
                   "numpy_fp32")


def format_summary(rec: KernelBench) -> list[str]:
    """The headline table: per shape, batch and threads, each kernel's min time, its % of the run's read
    bandwidth and its speedup over ORT 4-bit (min and median)."""
    bw = rec.read_bandwidth_gbps
    out = ["read bandwidth (best AVX-512 read-floor pass of the run): "
           + ", ".join(f"{float(v):.1f} GB/s at {t} thread(s)" for t, v in bw.items())]
    head = f"{'K x N':<11}{'B':>3}{'T':>3}  " + "".join(f"{k:>19}" for k in SUMMARY_KERNELS)
    out += [head, " " * 19 + "each: min ms / % of read bandwidth / speedup over ORT 4-bit (min times)"]
    cases: dict[tuple[int, int, int, int], dict[str, dict[str, Any]]] = {}
    for r in rec.rows:
        cases.setdefault((r["k"], r["m"], r["batch"], r["threads"]), {})[r["kernel"]] = r
    for (k, m, b, t), rs in cases.items():
        cells = []
        for name in SUMMARY_KERNELS:
            r = rs.get(name)
            if r is None:
                cells.append(f"{'-':>19}")
                continue
            pct = f"{r['pct_bandwidth']:.0f}%" if r.get("pct_bandwidth") is not None else "-"
            vs = f"{r['speedup_vs_ort_q4']:.2f}" if r.get("speedup_vs_ort_q4") is not None else "-"
            cells.append(f"{r['min_ms']:>9.2f}/{pct:>4}/{vs:>5}")
        out.append(f"{f'{k}x{m}':<11}{b:>3}{t:>3}  " + "".join(cells))
    return out


def _cal_round(cal: Any, b: int, nt: int, e8_rounds: int, r: int) -> None:
    """Round ``r`` of the host calibration at batch ``b`` and ``nt`` threads (E8 in its first rounds only)."""
    cal.round(b, nt, e8=r < e8_rounds)


def _interleaved(
    cs: Case, kernels, b: int, nt: int, rounds: int, e8_rounds: int, burst: int = BURST,
    between: Callable[[int], None] | None = None,
) -> dict[str, list[tuple[float, float]]]:
    """Per round, each kernel in turn runs ``1 + burst`` calls in a row on successive cold copies; the first
    (it wakes the kernel's thread pool, which sleeps while the other kernels run) is not kept. ``between(r)``
    runs after round ``r`` (the host calibration's round)."""
    times: dict[str, list[tuple[float, float]]] = {n: [] for n in kernels if n in cs.calls}
    for r in range(max(1, rounds)):
        for name in times:
            if name == "e8_exact":  # about a second per call: no thread wake-up to hide, one call a round
                if r < e8_rounds:
                    times[name] += cs.timed(name, b, nt, 1)
                continue
            times[name] += cs.timed(name, b, nt, 1 + burst)[1:]
        if between is not None:
            between(r)
    return times


def _rows(cs: Case, samples: dict[str, list[tuple[float, float]]], b: int, nt: int) -> list[dict[str, Any]]:
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


def format_case(rows: list[dict[str, Any]]) -> list[str]:
    """The printed table of one (shape, batch, threads) case."""
    r0 = rows[0]
    head = (
        f"{r0['k']}x{r0['m']} batch {r0['batch']}, {r0['threads']} thread{'s' if r0['threads'] > 1 else ''}: "
        f"{'kernel':<27}{'min ms':>9}{'median':>9}{'cpu ms':>9}{'bits/w':>8}{'GB/s':>7}{'% floor':>9}"
        f"{'vs ORT4':>9}"
    )
    out = [head]
    pad = " " * (len(head) - len(head.lstrip()) + head.index("kernel"))
    for r in rows:
        pct = f"{r['pct_floor']:.0f}%" if r["pct_floor"] is not None else "-"
        vs = f"{r['speedup_vs_ort_q4']:.2f}x" if r["speedup_vs_ort_q4"] is not None else "-"
        cpu = f"{r['cpu_min_ms']:.3f}" if r.get("cpu_min_ms") is not None else "-"
        out.append(
            f"{pad}{r['label']:<27}{r['min_ms']:>9.3f}{r['median_ms']:>9.3f}{cpu:>9}"
            f"{r['bits_per_weight']:>8.2f}{r['gbps']:>7.1f}{pct:>9}{vs:>9}"
        )
    return out


def write_report(rec: KernelBench, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``c_<slug>.json`` (or ``c_<slug>_quick.json``) and the Markdown view under ``out_dir``."""
    out = Path(out_dir)
    stem = f"c_{rec.stamp.slug}" + ("_quick" if rec.quick else "")
    js = rec.save(out / f"{stem}.json")
    md = out / f"{stem}.md"
    md.write_text(format_markdown(rec))
    return js, md


def format_markdown(rec: KernelBench) -> str:
    st, res = rec.stamp, rec.detail
    s = res["settings"]
    lb = ", ".join(f"{v:.2f}" for v in res["load_average_before"])
    la = ", ".join(f"{v:.2f}" for v in res["load_average_after"])
    nw = res.get("numpy_worker") or {}
    lines = [
        f"# CPU kernels vs ONNX Runtime, numpy and the read floor ({st.slug})",
        "",
        f"{st.date}, hwq {st.hwq_version}, machine: {st.machine}, kernel ISA {res['isa']}; "
        f"tools: " + ", ".join(f"{k} {v}" for k, v in st.tools.items()) + ".",
        "",
        f"Load average (1, 5, 15 min) before: {lb}; after: {la} on {res['cpu_count']} cores (shared "
        f"machine). {s['rounds']} interleaved rounds (E8: {s['e8_rounds']}), min and median; run took "
        f"{res['seconds']:.0f} s. numpy's OpenBLAS kernel: {(nw.get('blas') or {}).get('architecture')} "
        f"(removed for it: {', '.join(nw.get('removed_env') or {}) or 'nothing'}).",
        "",
        (
            f"Every kernel's output was checked before timing ({len(rec.checks)} checks, "
            f"{'all passed' if rec.ok else 'NOT ALL PASSED'})."
        ),
        "",
        "## Summary",
        "",
        "```",
        *format_summary(rec),
        "```",
        "",
        "## All rows",
        "",
        (
            "| K x N | batch | threads | kernel | min ms | median ms | CPU ms (1 thread) | bits/w | GB/s "
            "| % of read bandwidth | vs ORT 4-bit (min) | vs ORT 4-bit (median) | cold |"
        ),
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rec.rows:
        pct = f"{r['pct_bandwidth']:.0f}%" if r.get("pct_bandwidth") is not None else "-"
        vs = f"{r['speedup_vs_ort_q4']:.2f}x" if r["speedup_vs_ort_q4"] is not None else "-"
        vsm = f"{r['speedup_vs_ort_q4_median']:.2f}x" if r["speedup_vs_ort_q4_median"] is not None else "-"
        cpu = f"{r['cpu_min_ms']:.3f}" if r.get("cpu_min_ms") is not None else "-"
        lines.append(
            f"| {r['k']}x{r['m']} | {r['batch']} | {r['threads']} | {r['label']} | {r['min_ms']:.3f} | "
            f"{r['median_ms']:.3f} | {cpu} | {r['bits_per_weight']:.2f} | {r['gbps']:.1f} | {pct} | {vs} | "
            f"{vsm} | "
            f"{'yes' if r['cold'] else 'no'} |"
        )
    lines += [
        "",
        "Bytes are what each kernel reads for its weights (hwq: the kernel layout plus fp32 norms; ORT "
        "4/2-bit: packed codes plus one fp32 scale per 128 weights; int8: 1 byte; fp32: 4 bytes), bits/w "
        "per real entry (K unpadded; hwq pads K to a multiple of lcm(d, hadamard)). % of read bandwidth: "
        "GB/s at the minimum over the run's read bandwidth at that thread count (the best pass of the "
        "AVX-512 read floor, which reads hwq's byte count, over all cases). vs ORT 4-bit: ORT's time "
        "over the kernel's (above 1 = faster than ORT). "
        "hwq LUT: both-quantized accumulators from activations encoded beforehand (the encoder is not "
        "in the timed call). CPU ms: the calling thread's CPU time, minimum over the rounds, one thread "
        "only: the cost of the call without the preemption a loaded machine adds to wall time.",
        "",
    ]
    return "\n".join(lines)
