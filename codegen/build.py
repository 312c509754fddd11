"""Compile the generated C library and call it from Python through ctypes.

:func:`compile_c` renders the library of a config into a folder and builds ``lib<name>.so`` with gcc
(``-std=c99 -Wall -Wextra -Werror``, optionally AddressSanitizer + UndefinedBehaviorSanitizer);
:class:`CKernels` wraps the exported functions with numpy in, numpy out, in the shapes of
:mod:`hwq.datapath` (activations (K, B), outputs (M, B)).

Weights go in either as an :class:`~hwq.container.EncodedMatrix` (the container arrays; the table-path
kernels then repack them on every call) or, for speed, as :class:`PackedWeights` from
:meth:`CKernels.pack`, the one-time repack into the kernel layout (64-column records, block tiles; see
``hwq_table_c.h``)::

    lib = CKernels(cfg, compile_c(cfg, "build/c"), nthreads=2)
    pw = lib.pack(enc)                 # once per weight matrix
    y, acc = lib.gemv_exact(pw, x)     # bit-exact with hwq.datapath.weight_only_gemv
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.datapath import ActCodes
from hwq.errors import HwqError
from hwq.locks import file_lock

from hwq.codegen.c_abi import C_ISAS, ISA_NAMES, KERNEL_NAMES, error_message
from hwq.codegen.render import lib_name, render

__all__ = ["compile_c", "CKernels", "PackedWeights", "C_FLAGS", "SANITIZE_FLAGS", "ISA_NAMES", "find_cc",
           "cc_version"]

C_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-fopenmp", "-ffp-contract=off")
SANITIZE_FLAGS = ("-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                  "-fno-omit-frame-pointer")


@dataclass(frozen=True)
class PackedWeights:
    """A weight matrix in the C kernel layout (:meth:`CKernels.pack`, done once per matrix).

    ``data`` is the uint8 kernel layout (empty when the config has no table path, e.g. E8: then the
    kernels read ``enc``'s container arrays); ``enc`` keeps the norms, shape and config.
    """

    enc: EncodedMatrix
    data: np.ndarray

    @functools.cached_property
    def call_args(self) -> tuple[int | None, int, int, int, np.ndarray]:
        """(layout address or None, float32 norms address, K, M, the norms array that address points into):
        taken once per matrix, so a GEMV call does not convert the norms or ask numpy for addresses again
        (each numpy call after a kernel that streamed megabytes costs microseconds of cold caches)."""
        norms = np.ascontiguousarray(self.enc.norms, dtype=np.float32)
        data = self.data.ctypes.data if self.data.size else None
        return data, norms.ctypes.data, int(self.enc.n), int(self.enc.cols), norms

    @property
    def nbytes_read(self) -> int:
        """Bytes one GEMV reads for the weights: the layout (or container codes + ladder) and the norms."""
        if self.data.size:
            return int(self.data.nbytes + self.enc.norms.astype(np.float32).nbytes)
        return int(self.enc.codes.nbytes + self.enc.ladder.nbytes + self.enc.norms.astype(np.float32).nbytes)


def find_cc() -> str:
    """Path of the C compiler ($CC or gcc); raises HwqError when there is none."""
    cc = os.environ.get("CC", "gcc")
    path = shutil.which(cc)
    if path is None:
        raise HwqError(f"C compiler {cc!r} not found; install gcc or set CC")
    return path


def compile_c(cfg: HwqConfig, work_dir: str | Path, sanitize: bool = False, opt: str = "-O3",
              defines: dict[str, int] | None = None) -> Path:
    """Render and compile the C library of ``cfg``; returns the shared library path.

    The build is skipped when a library built from the same sources, compiler and flags exists and loads
    (a damaged one is rebuilt); one process builds a folder at a time. ``defines``
    override tuning macros of the generated source (``HWQ_BT``, ``HWQ_TAB_BYTES``, ``HWQ_TAB_BYTES_L1``,
    ``HWQ_FLUSH_BLOCKS``, ``HWQ_FLUSH_BLOCKS_LUT``, ``HWQ_FLUSH_BLOCKS_FIX``), e.g. a tiny flush period
    to test the int32 -> int64 flush.

    Raises
    ------
    HwqError
        No compiler, or the compiler failed (its message is included).
    """
    work = Path(work_dir).resolve()
    # one build of a folder at a time (the lock lives outside the folder: it may be a user's --out)
    key = hashlib.sha256(str(work).encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / "hwq-locks" / f"c-build-{key}.lock"
    with file_lock(lock, what=f"the C build in {work}"):
        srcs = render(cfg, "c", work)
        name = lib_name(cfg)
        flags = list(C_FLAGS) + (list(SANITIZE_FLAGS) if sanitize else [opt])
        flags += [f"-D{k}={int(v)}" for k, v in sorted((defines or {}).items())]
        cc = find_cc()
        h = hashlib.sha256(" ".join([cc, _cc_version(cc), *flags]).encode())  # compiler and flags are inputs
        for p in srcs:
            h.update(p.read_bytes())
        tag = h.hexdigest()[:12]
        lib = work / f"lib{name}{'_san' if sanitize else ''}_{tag}.so"
        if lib.is_file() and _loads(lib):
            return lib
        tmp = lib.with_name(f".{lib.name}.{os.getpid()}.tmp")
        cmd = [cc, *flags, "-o", str(tmp), str(work / f"{name}.c"), "-lm"]
        res = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        if res.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise HwqError(f"compiling {name}.c failed ({' '.join(cmd)}):\n{res.stderr[-4000:]}")
        os.replace(tmp, lib)  # a library appears whole or not at all
    return lib


def cc_version(cc: str | None = None) -> str:
    """The first line of the C compiler's ``--version`` (``cc`` or :func:`find_cc`'s), "not found" when there
    is none: the tool version benchmark records name."""
    if cc is None:
        try:
            cc = find_cc()
        except HwqError:
            return "not found"
    return _cc_version(cc)


@functools.cache
def _cc_version(cc: str) -> str:
    res = subprocess.run([cc, "--version"], capture_output=True, text=True)
    return res.stdout.splitlines()[0] if res.returncode == 0 and res.stdout else "unknown"


def _loads(lib: Path) -> bool:
    """Whether a cached library loads; a damaged one (truncated, foreign) is removed so that it is rebuilt."""
    try:
        ctypes.CDLL(str(lib))
    except OSError:
        lib.unlink(missing_ok=True)
        return False
    return True


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


class CKernels:
    """ctypes front end of one compiled library.

    Parameters
    ----------
    cfg : HwqConfig
    lib_path : path
        From :func:`compile_c`.
    nthreads : int
        Threads of the GEMV kernels (a persistent pool on the table path, OpenMP on the direct path).
    """

    def __init__(self, cfg: HwqConfig, lib_path: str | Path, nthreads: int = 1):
        self.cfg = cfg
        self.name = lib_name(cfg)
        self.lib = ctypes.CDLL(str(lib_path))
        self.nthreads = int(nthreads)
        for fn in ("isa", "set_isa", "table_path", "last_kernel", "quantize_acts", "rotate_acts", "wo_acc",
                   "lut_acc", "gemv_exact", "gemv_fast", "dequantize", "pack", "wo_acc_packed",
                   "lut_acc_packed", "gemv_exact_packed", "gemv_fast_packed", "packed_bytes", "stream_read",
                   "int8_gemv"):
            f = getattr(self.lib, f"{self.name}_{fn}")
            f.restype = ctypes.c_int64 if fn in ("packed_bytes", "stream_read") else ctypes.c_int
            setattr(self, f"_{fn}", f)
        # plain Python ints in, converted by ctypes itself (the lean GEMV path passes no ctypes objects)
        p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
        self._gemv_exact_packed.argtypes = (p, p, i64, i64, p, i64, p, p, i32)

    # -- dispatch ------------------------------------------------------------------------------
    def isa(self) -> str:
        """Name of the instruction set in use ("scalar", "avx2", "avx512", "avx512vbmi")."""
        return ISA_NAMES[self._isa()]

    def set_isa(self, isa: str) -> str:
        """Force "scalar", "avx2", "avx512", "avx512vbmi" or "auto"; raises HwqError if the CPU lacks it."""
        code = C_ISAS.get(isa)
        if code is None:
            raise HwqError(f"unknown ISA {isa!r}; allowed: auto, scalar, avx2, avx512, avx512vbmi")
        got = self._set_isa(ctypes.c_int(code))
        if got < 0:
            raise HwqError(f"this CPU does not support {isa}")
        return ISA_NAMES[got]

    def table_path(self) -> bool:
        return bool(self._table_path())

    def last_kernel(self) -> str:
        """The table-path loop the last GEMV in this process ran: "scalar", "gather", "planes", "vnni" (table
        lookups) or "decode" (decode-then-dot, batch >= the library's threshold); "none" before any."""
        return KERNEL_NAMES[self._last_kernel()]

    def available_isas(self) -> list[str]:
        cur = self._isa()
        out = [n for c, n in ISA_NAMES.items() if self._set_isa(ctypes.c_int(c)) == c]
        self._set_isa(ctypes.c_int(cur))
        return out

    # -- helpers ---------------------------------------------------------------------------------
    def _check(self, rc: int, what: str, k: int | None = None) -> None:
        if rc:
            extra = f" (K = {k}, d = {self.cfg.dim}, hadamard = {self.cfg.hadamard})" if k is not None else ""
            raise HwqError(f"{what}: {error_message(rc)}{extra}")

    def pack(self, enc: EncodedMatrix) -> PackedWeights:
        """One-time repack of ``enc`` into the kernel layout (see ``hwq_kernels_c.h``)."""
        codes, ladder, _ = self._weights(enc)
        n = int(self._packed_bytes(ctypes.c_int64(enc.n), ctypes.c_int64(enc.cols)))
        data = np.zeros(max(n, 0), dtype=np.uint8)
        # C validates the codes in either case; without a kernel layout (rc 7) the kernels read enc's arrays
        rc = self._pack(_ptr(codes), _ptr(ladder), ctypes.c_int64(enc.n), ctypes.c_int64(enc.cols),
                        _ptr(data))
        self._check(0 if rc == 7 and n <= 0 else rc, "pack", enc.n)
        return PackedWeights(enc, data)

    def _split(self, w: EncodedMatrix | PackedWeights) -> tuple[EncodedMatrix, np.ndarray | None]:
        if isinstance(w, PackedWeights):
            self._weights(w.enc)
            return w.enc, (w.data if w.data.size else None)
        if isinstance(w, EncodedMatrix):
            return w, None
        raise HwqError(f"weights must be an EncodedMatrix or PackedWeights, got {type(w).__name__}")

    def _weights(self, enc: EncodedMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if enc.config.slug != self.cfg.slug:
            raise HwqError(f"matrix encoded with config {enc.config.slug}, library built for {self.cfg.slug}")
        return (np.ascontiguousarray(enc.codes), np.ascontiguousarray(enc.ladder),
                np.ascontiguousarray(enc.norms, dtype=np.float32))

    @staticmethod
    def _acts(x: np.ndarray, k: int, dtype) -> np.ndarray:
        """(K,) or (K, B) activations -> contiguous (B, K) of ``dtype``; refuses NaN/inf before any C runs
        (float activations) and non-integer arrays (integer activations), on every ISA alike."""
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[0] != k:
            raise HwqError(f"activations must have shape (K={k},) or (K={k}, B), got {x.shape}")
        if np.dtype(dtype).kind in "iu":
            if x.dtype.kind not in "iub":
                raise HwqError(f"integer activations expected (x_rot / x_int), got dtype {x.dtype}; pass the "
                               "output of hwq.datapath.prepare_activations")
            info = np.iinfo(dtype)
            if x.size and (int(x.min()) < info.min or int(x.max()) > info.max):
                raise HwqError(f"integer activations out of range: [{int(x.min())}, {int(x.max())}] does not "
                               f"fit {np.dtype(dtype).name}; pass the output of "
                               "hwq.datapath.prepare_activations")
            return np.ascontiguousarray(x.T, dtype=dtype)  # (B, K)
        if x.dtype.kind not in "iufb":
            raise HwqError(f"activations must be real numbers, got dtype {x.dtype}")
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf here and is refused below
            xt = np.ascontiguousarray(x.T, dtype=dtype)  # (B, K)
        if xt.size and not np.isfinite(xt).all():
            bad = np.argwhere(~np.isfinite(xt))
            j, i = (int(v) for v in bad[0])
            after = f" after conversion to {np.dtype(dtype).name}" if np.isfinite(x[i, j]) else ""
            raise HwqError(f"activations contain {len(bad)} NaN/inf value(s) (first at row {i}, column {j}"
                           f"{after}); replace them with finite values before the GEMV")
        return xt

    # -- kernels -----------------------------------------------------------------------------------
    def quantize(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x_int (K, B) int64, s_x (B,)) like :func:`hwq.datapath.quantize_activations`."""
        xt = self._acts(x, np.asarray(x).shape[0], np.float64)
        b, k = xt.shape
        xi = np.empty((b, k), dtype=np.int8)
        sx = np.empty(b, dtype=np.float64)
        self._check(self._quantize_acts(_ptr(xt), ctypes.c_int64(k), ctypes.c_int64(b), _ptr(xi), _ptr(sx)),
                    "quantize")
        return xi.T.astype(np.int64), sx

    def rotate(self, x_int: np.ndarray) -> np.ndarray:
        """x_rot (K, B) int64 like :func:`hwq.datapath.rotate_activations`."""
        x_int = np.asarray(x_int)
        if x_int.dtype.kind not in "iu" or (x_int.size and int(np.max(np.abs(x_int))) > self.cfg.act_max):
            raise HwqError(f"x_int must be integers in [-{self.cfg.act_max}, {self.cfg.act_max}]")
        xt = self._acts(x_int, x_int.shape[0], np.int8)
        b, k = xt.shape
        xr = np.empty((b, k), dtype=np.int32)
        self._check(self._rotate_acts(_ptr(xt), ctypes.c_int64(k), ctypes.c_int64(b), _ptr(xr)), "rotate", k)
        return xr.T.astype(np.int64)

    def wo_acc(self, w: EncodedMatrix | PackedWeights, x_rot: np.ndarray) -> np.ndarray:
        """Weight-only accumulators (M, B) int64 (= :func:`hwq.datapath.weight_only_acc`)."""
        enc, packed = self._split(w)
        codes, ladder, _ = self._weights(enc)
        xr = self._acts(x_rot, enc.n, np.int32)
        b = xr.shape[0]
        acc = np.empty((enc.cols, b), dtype=np.int64)
        tail = (ctypes.c_int64(enc.n), ctypes.c_int64(enc.cols), _ptr(xr), ctypes.c_int64(b), _ptr(acc),
                ctypes.c_int(self.nthreads))
        rc = (self._wo_acc_packed(_ptr(packed), *tail) if packed is not None
              else self._wo_acc(_ptr(codes), _ptr(ladder), *tail))
        self._check(rc, "weight-only GEMV", enc.n)
        return acc

    def lut_acc(self, w: EncodedMatrix | PackedWeights, acts: ActCodes) -> np.ndarray:
        """Both-quantized accumulators (M, B) int64 (= :func:`hwq.datapath.lut_acc`)."""
        enc, packed = self._split(w)
        codes, ladder, _ = self._weights(enc)
        rx = np.ascontiguousarray(acts.rows, dtype=np.int32)
        tx = np.ascontiguousarray(acts.ladder, dtype=np.uint8)
        if rx.ndim != 2 or rx.shape[1] != enc.blocks_per_col or tx.shape != rx.shape:
            raise HwqError(f"activation codes must be (B, {enc.blocks_per_col}), got {rx.shape}")
        b = rx.shape[0]
        acc = np.empty((enc.cols, b), dtype=np.int64)
        tail = (ctypes.c_int64(enc.n), ctypes.c_int64(enc.cols), _ptr(rx), _ptr(tx), ctypes.c_int64(b),
                _ptr(acc), ctypes.c_int(self.nthreads))
        rc = self._lut_acc_packed(_ptr(packed), *tail) if packed is not None else 7
        if rc == 7:  # no layout path for the LUT kernel of this config: the container path
            rc = self._lut_acc(_ptr(codes), _ptr(ladder), *tail)
        self._check(rc, "LUT GEMV", enc.n)
        return acc

    def gemv_exact(self, w: EncodedMatrix | PackedWeights, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact mode from float activations (K, B): (y (M, B) float64, acc (M, B) int64)."""
        if type(w) is PackedWeights and w.data.size and w.enc.config.slug == self.cfg.slug:
            return self._gemv_exact_lean(w, x)
        enc, packed = self._split(w)
        codes, ladder, norms = self._weights(enc)
        xt = self._acts(x, enc.n, np.float64)
        b = xt.shape[0]
        y = np.empty((enc.cols, b), dtype=np.float64)
        acc = np.empty((enc.cols, b), dtype=np.int64)
        tail = (_ptr(norms), ctypes.c_int64(enc.n), ctypes.c_int64(enc.cols), _ptr(xt), ctypes.c_int64(b),
                _ptr(y), _ptr(acc), ctypes.c_int(self.nthreads))
        rc = (self._gemv_exact_packed(_ptr(packed), *tail) if packed is not None
              else self._gemv_exact(_ptr(codes), _ptr(ladder), *tail))
        self._check(rc, "exact GEMV", enc.n)
        return y, acc

    def _gemv_exact_lean(self, w: PackedWeights, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`gemv_exact` on packed weights with as few numpy calls as the checks allow: the addresses
        come from :attr:`PackedWeights.call_args`, float64 activations of shape (K,) or (K, 1) are passed
        without a copy (one finiteness test), anything else takes the general conversion."""
        data, norms, k, m, _ = w.call_args
        if type(x) is np.ndarray and x.dtype == np.float64 and x.flags.c_contiguous and (
                x.shape == (k,) or x.shape == (k, 1)):
            xt, b = (x if x.ndim == 1 else x.reshape(k)), 1
            # max and min propagate NaN and show +-inf, silently (no floating-point warning), and unlike a
            # sum they cannot overflow
            if not (math.isfinite(xt.max()) and math.isfinite(xt.min())):
                self._acts(x, k, np.float64)  # raises, naming the first NaN/inf
        else:
            xt = self._acts(x, k, np.float64)
            b = xt.shape[0]
        y = np.empty((m, b), dtype=np.float64)
        acc = np.empty((m, b), dtype=np.int64)
        rc = self._gemv_exact_packed(data, norms, k, m, xt.ctypes.data, b, y.ctypes.data, acc.ctypes.data,
                                     self.nthreads)
        if rc:
            self._check(rc, "exact GEMV", k)
        return y, acc

    def gemv_fast(self, w: EncodedMatrix | PackedWeights, x: np.ndarray) -> np.ndarray:
        """Fast mode: fp32 activations (K, B) -> y (M, B) float32.

        On the CPU this mode is slower than :meth:`gemv_exact` (its fixed-point tables need 3 byte planes
        and take the two-slot loop, not the VNNI multiply; measured 1.8-1.9x slower at batch 1, 1 thread,
        AVX-512 VBMI): use
        :meth:`gemv_exact`, the default of the C kernels, unless float activations are required.
        """
        enc, packed = self._split(w)
        codes, ladder, norms = self._weights(enc)
        xt = self._acts(x, enc.n, np.float32)
        b = xt.shape[0]
        y = np.empty((enc.cols, b), dtype=np.float32)
        tail = (_ptr(norms), ctypes.c_int64(enc.n), ctypes.c_int64(enc.cols), _ptr(xt), ctypes.c_int64(b),
                _ptr(y), ctypes.c_int(self.nthreads))
        rc = (self._gemv_fast_packed(_ptr(packed), *tail) if packed is not None
              else self._gemv_fast(_ptr(codes), _ptr(ladder), *tail))
        self._check(rc, "fast GEMV", enc.n)
        return y

    def dequantize(self, enc: EncodedMatrix) -> np.ndarray:
        """Dequantized W (K, M) float32 (= :func:`hwq.matmul.decode_matrix` to float32 rounding)."""
        codes, ladder, norms = self._weights(enc)
        out = np.empty((enc.cols, enc.n), dtype=np.float32)
        self._check(self._dequantize(_ptr(codes), _ptr(ladder), _ptr(norms), ctypes.c_int64(enc.n),
                                     ctypes.c_int64(enc.cols), _ptr(out)), "dequantize", enc.n)
        return out.T

    # -- baselines of the benchmark (same library, same threads) ----------------------------------
    def stream_read(self, buf: np.ndarray) -> int:
        """Read every byte of ``buf`` (a memory-bandwidth reference for the GEMV); returns a checksum."""
        buf = np.ascontiguousarray(buf).view(np.uint8).ravel()
        return int(self._stream_read(_ptr(buf), ctypes.c_int64(buf.size), ctypes.c_int(self.nthreads)))

    def int8_gemv(self, w8: np.ndarray, x8: np.ndarray) -> np.ndarray:
        """int8 weights (M, K) x int8 activations (K, B) -> int32 (M, B): a plain int8 GEMV baseline."""
        w8 = np.ascontiguousarray(w8, dtype=np.int8)
        m, k = w8.shape
        xt = self._acts(x8, k, np.int8)
        b = xt.shape[0]
        y = np.empty((m, b), dtype=np.int32)
        rc = self._int8_gemv(_ptr(w8), _ptr(xt), ctypes.c_int64(k), ctypes.c_int64(m), ctypes.c_int64(b),
                             _ptr(y), ctypes.c_int(self.nthreads))
        self._check(rc, "int8 GEMV", k)
        return y
