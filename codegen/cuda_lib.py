"""ctypes wrapper of the generated CUDA library (:func:`hwq.codegen.cuda.compile_cuda`): torch tensors in,
torch tensors out, every call on torch's current stream (so it can be captured in a CUDA graph).

Used by the GPU script :mod:`hwq.codegen.gpu_bench`; needs torch with CUDA and a GPU at call time.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

__all__ = ["CudaLib", "to_gpu"]


def to_gpu(a: np.ndarray):
    """A numpy array as a contiguous CUDA tensor of the same dtype."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(a)).cuda()


class CudaLib:
    """ctypes wrapper of the generated CUDA library (torch tensors in, torch tensors out)."""

    def __init__(self, cfg, path: Path):
        self.cfg = cfg
        self.lib = ctypes.CDLL(str(path))
        self.name = f"hwq_{cfg.slug}"
        self._work = None

    def _fn(self, fn: str, restype=ctypes.c_int):
        f = getattr(self.lib, f"{self.name}_{fn}")
        f.restype = restype
        return f

    @staticmethod
    def _conv(args):
        conv = []
        for a in args:
            if hasattr(a, "data_ptr"):
                conv.append(ctypes.c_void_p(a.data_ptr()))
            elif isinstance(a, float):
                conv.append(ctypes.c_double(a))
            elif a is None:
                conv.append(ctypes.c_void_p(None))
            else:
                conv.append(ctypes.c_int64(int(a)))
        return conv

    @staticmethod
    def _stream():
        """torch's current stream (kernels must run on it, e.g. inside CUDA graph capture)."""
        import torch

        return ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

    def _call(self, fn: str, *args) -> None:
        """Call ``fn(*args, stream)`` with torch's current stream; raise on a nonzero return code."""
        rc = self._fn(fn)(*self._conv(args), self._stream())
        if rc:
            raise RuntimeError(f"{fn} returned {rc}")

    def prepared(self, fn: str, *args):
        """A zero-argument callable for ``fn(*args, stream)`` with the arguments converted once (timing)."""
        f, conv = self._fn(fn), self._conv(args)

        def call() -> None:
            rc = f(*conv, self._stream())
            if rc:
                raise RuntimeError(f"{fn} returned {rc}")
        return call

    def set_path(self, mode: int) -> None:
        """0: automatic (table path for batch 1 where it applies), 1: generic kernels only."""
        rc = self._fn("cuda_set_path")(ctypes.c_int(mode))
        if rc:
            raise RuntimeError(f"cuda_set_path returned {rc}")

    def path(self, w, k: int, m: int, b: int) -> str:
        return "table" if self._fn("cuda_path")(*self._conv((w[0], w[1], k, m, b))) else "generic"

    def plan(self, k: int, m: int, nbv: int = 1) -> dict[str, int]:
        """Launch plan of the table path for passes of ``nbv`` (1, 2, 4) vectors on this GPU."""
        out = (ctypes.c_int64 * 5)()
        rc = self._fn("cuda_plan")(ctypes.c_int64(k), ctypes.c_int64(m), ctypes.c_int64(nbv), out)
        if rc:
            raise RuntimeError(f"cuda_plan returned {rc}")
        return dict(zip(("nchunks", "chunks_per_block", "groups", "cols_per_block", "col_groups"), list(out)))

    def work(self, k: int, m: int, b: int):
        import torch

        size = self._fn("cuda_work_bytes", ctypes.c_int64)
        n = int(size(ctypes.c_int64(k), ctypes.c_int64(m), ctypes.c_int64(b)))
        if self._work is None or self._work.numel() < n:
            self._work = torch.empty(max(n, 8), dtype=torch.uint8, device="cuda")
        return self._work

    def weights(self, enc):
        """The container arrays (codes, ladder, norms) of ``enc`` on the GPU."""
        return to_gpu(enc.codes), to_gpu(enc.ladder), to_gpu(enc.norms)

    def wo_acc(self, w, k, m, xr):  # xr (B, K) int32 cuda
        import torch

        b = xr.shape[0]
        acc = torch.empty((m, b), dtype=torch.int64, device="cuda")
        wk = self.work(k, m, b)
        self._call("cuda_wo_acc", w[0], w[1], k, m, xr, b, acc, wk, wk.numel())
        return acc

    def lut_acc(self, w, k, m, rx, tx):
        import torch

        b = rx.shape[0]
        acc = torch.empty((m, b), dtype=torch.int64, device="cuda")
        self._call("cuda_lut_acc", w[0], w[1], k, m, rx, tx, b, acc)
        return acc

    def exact_buffers(self, k, m, b):
        import torch

        return (torch.empty((b, k), dtype=torch.int8, device="cuda"),
                torch.empty((b, k), dtype=torch.int32, device="cuda"),
                torch.empty((b,), dtype=torch.float64, device="cuda"),
                torch.empty((m, b), dtype=torch.int64, device="cuda"),
                torch.empty((m, b), dtype=torch.float64, device="cuda"))

    def gemv_exact(self, w, k, m, x, bufs=None):  # x (B, K) float64 cuda
        b = x.shape[0]
        xi, xr, sx, acc, y = bufs if bufs is not None else self.exact_buffers(k, m, b)
        wk = self.work(k, m, b)
        self._call("cuda_gemv_exact", w[0], w[1], w[2], k, m, x, b, xi, xr, sx, acc, y, wk, wk.numel())
        return y, acc

    def fast_buffers(self, k, m, b):
        import torch

        return (torch.empty((b, k), dtype=torch.float32, device="cuda"),
                torch.empty((m, b), dtype=torch.float32, device="cuda"))

    def fast_call(self, w, k, m, x, bufs):
        """Prepared fast GEMV (fixed buffers): a zero-argument callable for timing and graph capture."""
        b = x.shape[0]
        xr, y = bufs
        wk = self.work(k, m, b)
        return self.prepared("cuda_gemv_fast", w[0], w[1], w[2], k, m, x, b, xr, y, wk, wk.numel())

    def exact_call(self, w, k, m, x, bufs):
        """Prepared exact GEMV (fixed buffers), like :meth:`fast_call`."""
        b = x.shape[0]
        xi, xr, sx, acc, y = bufs
        wk = self.work(k, m, b)
        return self.prepared("cuda_gemv_exact", w[0], w[1], w[2], k, m, x, b, xi, xr, sx, acc, y, wk,
                             wk.numel())

    def gemv_fast(self, w, k, m, x, bufs=None):  # x (B, K) fp16 cuda
        b = x.shape[0]
        xr, y = bufs if bufs is not None else self.fast_buffers(k, m, b)
        wk = self.work(k, m, b)
        self._call("cuda_gemv_fast", w[0], w[1], w[2], k, m, x, b, xr, y, wk, wk.numel())
        return y

    def dequantize(self, w, k, m):
        import torch

        out = torch.empty((m, k), dtype=torch.float32, device="cuda")
        self._call("cuda_dequantize_f32", w[0], w[1], w[2], k, m, out)
        return out
