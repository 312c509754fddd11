"""What ``hwq bench c`` times: the kernel table, the compiled libraries and peers (:class:`Backends`) and the
operands of one shape (:class:`Case`: each kernel's call on cold weight copies and its reference check).

The hwq weights are random codes with the D3 ladder distribution (kernel time does not depend on values;
encoding a 59M-entry matrix with the Python reference would take minutes); the peers get random fp32
weights quantized by their own scheme (:mod:`hwq.codegen.peers`).
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hwq.codegen.bench_timing import MAX_COPIES, cold_copies, rotor, timed
from hwq.codegen.build import CKernels, PackedWeights, cc_version, compile_c

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.errors import HwqError
from hwq.packing import pack_bits

__all__ = ["FAMILIES", "KERNELS", "LABELS", "Backends", "Case", "check_columns", "random_encoded",
           "sub_matrix"]

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
    "read_floor": "read floor (SIMD read loop)",
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
MAX_SESSION_COPIES = 8
FAST_LIMIT = 1e-3  # hwq fast mode vs the float64 product of the dequantized weights
ORT_LIMIT = 0.02  # ORT with int8 activations (accuracy_level 4) vs numpy on the same dequantized weights
FP32_LIMIT = 1e-4
CHECK_COLS = 24

Check = tuple[str, float, float]  # (what was checked, value, limit): passes when value <= limit


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


def _padded_x(k: int, kp: int, seed: int) -> Callable[[int], np.ndarray]:
    """Activations (kp, b) per batch b: standard normal in the first ``k`` rows (seed ``seed + b``), zero
    padding below; made once per batch."""
    xs: dict[int, np.ndarray] = {}

    def xpad(b: int) -> np.ndarray:
        if b not in xs:
            x = np.zeros((kp, b))
            x[:k] = np.random.default_rng(seed + b).standard_normal((k, b))
            xs[b] = x
        return xs[b]

    return xpad


def _xor64(buf: np.ndarray) -> int:
    """What the read loop returns for a multiple of 512 bytes: the sum of the 8 lanes of the XOR."""
    v = np.bitwise_xor.reduce(buf.view(np.uint64).reshape(-1, 8), axis=0)
    return int(np.sum(v.astype(object))) & (2**64 - 1)


# ------------------------------------------------------------------------------------------------------
@dataclass
class Case:
    """The operands of one shape: every backend's weights (with cold copies) and how many bytes it reads."""

    k: int
    m: int
    calls: dict[str, Callable[..., Any]] = field(default_factory=dict)  # (batch, threads) -> s (see timed)
    checks: dict[str, Callable[[int, int], Check]] = field(default_factory=dict)
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
            "gcc": cc_version(),
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
        cs = Case(k, m)
        rng = np.random.default_rng(seed)
        want = tuple(n for n in (kernels or self.kernels) if n in self.kernels)

        def copies_for(nbytes: int, limit: int = MAX_COPIES) -> tuple[int, bool]:
            return cold_copies(nbytes, limit) if cold else (1, False)

        self._hwq(cs, want, seed, copies_for)
        if "e8_exact" in want:
            self._e8(cs, k, m, copies_for)
        if any(n in want for n in ("ort_q4", "ort_q2")):
            self._ort_nbits(cs, want, rng.standard_normal((k, m), dtype=np.float32), threads, copies_for)
        if "ort_int8" in want:
            from hwq.codegen.peers import int8_weight_bound

            wmax = int8_weight_bound()
            self._ort_int8(cs, rng.integers(-wmax, wmax + 1, (k, m), dtype=np.int8), threads, copies_for)
        if "numpy_fp32" in want and self.worker is not None:
            self._numpy(cs, copies_for)
        return cs

    def _hwq(self, cs: Case, want: tuple[str, ...], seed: int, copies_for: Callable[..., tuple[int, bool]]):
        """The read floor and the default config's exact, fast and LUT kernels (one packed matrix)."""
        from hwq import datapath as dp
        from hwq.matmul import decode_matrix

        cfg, lib, k, m = self.cfg, self.lib, cs.k, cs.m
        kp = cfg.padded_k(k)
        enc = random_encoded(cfg, kp, m, seed)
        pw = lib.pack(enc)
        nb = pw.nbytes_read
        n_cp, is_cold = copies_for(nb)
        pws = rotor([pw] + [PackedWeights(enc, pw.data.copy()) for _ in range(n_cp - 1)])
        cols = check_columns(m)
        sub = sub_matrix(enc, cols)
        xpad = _padded_x(k, kp, 100)
        x32: dict[int, np.ndarray] = {}
        codes: dict[int, Any] = {}

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
            cs.calls["read_floor"] = lambda b, nt: timed(lambda: self.floor.read(pws().data, nt))
            cs.checks["read_floor"] = lambda b, nt: (
                "checksum of a pass equals numpy's XOR",
                float(self.floor.read(pw.data[:4096], 1) != _xor64(pw.data[:4096])),
                0.0,
            )
        if "hwq_exact" in want:
            cs.calls["hwq_exact"] = lambda b, nt: timed(
                lambda: run_lib(lambda: lib.gemv_exact(pws(), xpad(b)), b, nt)
            )

            def chk_exact(b: int, nt: int) -> Check:
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

            cs.calls["hwq_fast"] = lambda b, nt: timed(
                lambda: run_lib(lambda: lib.gemv_fast(pws(), x32b(b)), b, nt)
            )

            def chk_fast(b: int, nt: int) -> Check:
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
            cs.calls["hwq_lut"] = lambda b, nt: timed(
                lambda: run_lib(lambda: lib.lut_acc(pws(), acts(b)), b, nt)
            )

            def chk_lut(b: int, nt: int) -> Check:
                acc = run_lib(lambda: lib.lut_acc(pw, acts(b)), b, nt)
                bad = int(np.sum(acc[cols] != dp.lut_acc(sub, acts(b))))
                return (
                    f"LUT accumulators bit-equal to hwq.datapath.lut_acc on {len(cols)} columns",
                    float(bad),
                    0.0,
                )

            cs.checks["hwq_lut"] = chk_lut

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
        pws = rotor(copies)
        cs.nbytes["e8_exact"], cs.copies["e8_exact"] = pw.nbytes_read, (n_cp, cold)
        cols = check_columns(m)[:8]
        sub = sub_matrix(enc, cols)
        xpad = _padded_x(k, kp, 400)

        def call(w: PackedWeights, b: int, nt: int):
            lib.nthreads = nt
            return lib.gemv_exact(w, xpad(b))

        cs.calls["e8_exact"] = lambda b, nt: timed(lambda: call(pws(), b, nt))

        def chk(b: int, nt: int) -> Check:
            y, acc = call(pw, b, nt)
            bad = int(
                np.sum(acc[cols] != dp.weight_only_acc(sub, dp.prepare_activations(xpad(b), cfg).x_rot))
            )
            bad += int(np.sum(y[cols] != dp.weight_only_gemv(sub, xpad(b))))
            return (f"acc and y bit-equal to hwq.datapath on {len(cols)} columns", float(bad), 0.0)

        cs.checks["e8_exact"] = chk

    # -- the peers ---------------------------------------------------------------------------------
    @staticmethod
    def _ort_nbits(cs: Case, want: tuple[str, ...], w: np.ndarray, threads: tuple[int, ...],
                   copies_for: Callable[..., tuple[int, bool]]) -> None:
        from hwq.codegen.peers import OrtNBits

        k, m = cs.k, cs.m
        a32: dict[int, np.ndarray] = {}

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
            cs.calls[name] = (lambda p: lambda b, nt: timed(lambda: p.run(a_of(b), nt)))(peer)

            def chk_nbits(b: int, nt: int, p=peer) -> Check:
                y, ref = p.run(a_of(b), nt), p.reference(a_of(b))
                return (
                    "relative error vs numpy on the same dequantized weights",
                    float(np.max(np.abs(y - ref)) / np.max(np.abs(ref))),
                    ORT_LIMIT,
                )

            cs.checks[name] = chk_nbits

    @staticmethod
    def _ort_int8(cs: Case, w8: np.ndarray, threads: tuple[int, ...],
                  copies_for: Callable[..., tuple[int, bool]]) -> None:
        from hwq.codegen.peers import OrtInt8

        n_c, c_ok = copies_for(w8.nbytes, MAX_SESSION_COPIES)
        p8 = OrtInt8(w8, threads=threads, copies=n_c)
        cs.nbytes["ort_int8"], cs.copies["ort_int8"] = p8.nbytes, (n_c, c_ok)
        au8: dict[int, np.ndarray] = {}

        def a8(b: int) -> np.ndarray:
            if b not in au8:
                au8[b] = np.random.default_rng(300 + b).integers(0, 256, (b, cs.k), dtype=np.uint8)
            return au8[b]

        cs.calls["ort_int8"] = lambda b, nt: timed(lambda: p8.run(a8(b), nt))
        cs.checks["ort_int8"] = lambda b, nt: (
            "int32 outputs equal to numpy's integer product",
            float(np.sum(p8.run(a8(b), nt) != p8.reference(a8(b)))),
            0.0,
        )

    def _numpy(self, cs: Case, copies_for: Callable[..., tuple[int, bool]]) -> None:
        wk = self.worker
        key = f"{cs.k}x{cs.m}"
        n_c, c_ok = copies_for(4 * cs.k * cs.m)
        cs.nbytes["numpy_fp32"] = wk.setup(key, cs.k, cs.m, n_c)
        cs.copies["numpy_fp32"] = (n_c, c_ok)
        cs.calls["numpy_fp32"] = lambda b, nt, calls=1: wk.time(key, b, nt, calls)
        cs.checks["numpy_fp32"] = lambda b, nt: (
            "relative error vs float64",
            wk.check(key, b, nt),
            FP32_LIMIT,
        )
        cs.cleanup.append(lambda: wk.drop(key))
