"""GPU script: check and benchmark the generated CUDA kernels on an NVIDIA H100/H200-class machine.

Run in one call on a GPU machine (torch with CUDA and nvcc needed)::

    python -m hwq.codegen.gpu_bench [--config FILE] [--out reports/bench] [--quick] [--no-sanitizer]

Stages (each recorded in the JSON, a failing stage does not stop the others):

1. build ``lib<name>_cuda.so`` for the GPU's SM (nvcc) and load it with ctypes (device pointers from torch);
2. exact mode: weight-only accumulators, end-to-end exact GEMV (float64 epilogue) and LUT accumulators
   compared with ``np.array_equal`` against :mod:`hwq.datapath` on golden-style vectors;
3. fast mode: relative error of fp16-activation GEMV against the float64 product of the dequantized
   weights (must be <= 1e-3); dequantize fp32 against :func:`hwq.matmul.decode_matrix`;
4. HBM read bandwidth (torch reduction over a 4 GiB buffer: bytes read / time);
5. GEMV/GEMM timing (CUDA events) vs torch fp16 matmul (cuBLAS) at 4096x4096, 4096x14336, 14336x4096,
   4096x6144, 8192x28672 (K x M), batch 1/4/16/64, with bits/entry actually read and % of HBM bandwidth;
6. compute-sanitizer (memcheck) once on a small exact + fast run.

Writes ``reports/bench/cuda_<device>.json``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import re
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["gpu_available", "main", "SHAPES", "BATCHES"]

SHAPES = ((4096, 4096), (4096, 14336), (14336, 4096), (4096, 6144), (8192, 28672))
BATCHES = (1, 4, 16, 64)


def gpu_available() -> tuple[bool, str]:
    """(True, device name) when torch sees a CUDA GPU, else (False, reason)."""
    try:
        import torch
    except ImportError:
        return False, "torch is not installed"
    try:
        if not torch.cuda.is_available():
            return False, "torch.cuda.is_available() is False"
        return True, torch.cuda.get_device_name(0)
    except Exception as e:  # driver problems surface here
        return False, f"CUDA init failed: {e}"


class CudaLib:
    """ctypes wrapper of the generated CUDA library (torch tensors in, torch tensors out)."""

    def __init__(self, cfg, path: Path):
        self.cfg = cfg
        self.lib = ctypes.CDLL(str(path))
        self.name = f"hwq_{cfg.slug}"

    def _call(self, fn: str, *args) -> None:
        f = getattr(self.lib, f"{self.name}_{fn}")
        f.restype = ctypes.c_int
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
        rc = f(*conv)
        if rc:
            raise RuntimeError(f"{fn} returned {rc}")

    def weights(self, enc):
        import torch

        return (torch.from_numpy(np.ascontiguousarray(enc.codes)).cuda(),
                torch.from_numpy(np.ascontiguousarray(enc.ladder)).cuda(),
                torch.from_numpy(np.ascontiguousarray(enc.norms)).cuda())

    def wo_acc(self, w, k, m, xr):  # xr (B, K) int32 cuda
        import torch

        b = xr.shape[0]
        acc = torch.empty((m, b), dtype=torch.int64, device="cuda")
        self._call("cuda_wo_acc", w[0], w[1], k, m, xr, b, acc, None)
        return acc

    def lut_acc(self, w, k, m, rx, tx):
        import torch

        b = rx.shape[0]
        acc = torch.empty((m, b), dtype=torch.int64, device="cuda")
        self._call("cuda_lut_acc", w[0], w[1], k, m, rx, tx, b, acc, None)
        return acc

    def gemv_exact(self, w, k, m, x):  # x (B, K) float64 cuda
        import torch

        b = x.shape[0]
        xi = torch.empty((b, k), dtype=torch.int8, device="cuda")
        xr = torch.empty((b, k), dtype=torch.int32, device="cuda")
        sx = torch.empty((b,), dtype=torch.float64, device="cuda")
        acc = torch.empty((m, b), dtype=torch.int64, device="cuda")
        y = torch.empty((m, b), dtype=torch.float64, device="cuda")
        self._call("cuda_gemv_exact", w[0], w[1], w[2], k, m, x, b, xi, xr, sx, acc, y, None)
        return y, acc

    def fast_buffers(self, k, m, b):
        import torch

        return (torch.empty((b, k), dtype=torch.float32, device="cuda"),
                torch.empty((m, b), dtype=torch.float32, device="cuda"))

    def gemv_fast(self, w, k, m, x, bufs=None):  # x (B, K) fp16 cuda
        b = x.shape[0]
        xr, y = bufs if bufs is not None else self.fast_buffers(k, m, b)
        self._call("cuda_gemv_fast", w[0], w[1], w[2], k, m, x, b, xr, y, None)
        return y

    def dequantize(self, w, k, m):
        import torch

        out = torch.empty((m, k), dtype=torch.float32, device="cuda")
        self._call("cuda_dequantize_f32", w[0], w[1], w[2], k, m, out, None)
        return out


def _time_cuda(fn, reps: int) -> float:
    """Median milliseconds of fn() with CUDA events (after warm-up)."""
    import torch

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        ts.append(s.elapsed_time(e))
    return float(np.median(ts))


def _check(cfg, lib: CudaLib) -> dict[str, Any]:
    import torch
    from hwq import datapath as dp
    from hwq.codegen.check import golden_case
    from hwq.matmul import decode_matrix

    out: dict[str, Any] = {}
    k = 3 * math.lcm(cfg.dim, cfg.hadamard)
    enc, x = golden_case(cfg, k, 61, 11)
    w = lib.weights(enc)
    act = dp.prepare_activations(x, cfg)
    ref = dp.weight_only_acc(enc, act.x_rot)
    xr = torch.from_numpy(np.ascontiguousarray(act.x_rot.T.astype(np.int32))).cuda()
    acc = lib.wo_acc(w, k, enc.cols, xr).cpu().numpy()
    out["weight_only_acc_equal"] = bool(np.array_equal(acc, ref) and np.any(acc != 0))
    y, acc2 = lib.gemv_exact(w, k, enc.cols, torch.from_numpy(np.ascontiguousarray(x.T)).cuda())
    y_ref = dp.weight_only_output(ref, dp.weight_scale(enc), act.scale, cfg)
    out["gemv_exact_equal"] = bool(np.array_equal(acc2.cpu().numpy(), ref) and np.array_equal(y.cpu().numpy(), y_ref))
    codes = dp.encode_activations(act.x_rot, cfg)
    rx = torch.from_numpy(np.ascontiguousarray(codes.rows.astype(np.int32))).cuda()
    tx = torch.from_numpy(np.ascontiguousarray(codes.ladder.astype(np.uint8))).cuda()
    lacc = lib.lut_acc(w, k, enc.cols, rx, tx).cpu().numpy()
    out["lut_acc_equal"] = bool(np.array_equal(lacc, dp.lut_acc(enc, codes)) and np.any(lacc != 0))
    w_hat = decode_matrix(enc)
    xh = torch.from_numpy(np.ascontiguousarray(x.T)).to(torch.float16).cuda()
    yf = lib.gemv_fast(w, k, enc.cols, xh).cpu().numpy().astype(np.float64)
    yf_ref = w_hat.T @ xh.cpu().numpy().astype(np.float64).T
    out["fast_rel_err"] = float(np.linalg.norm(yf - yf_ref) / np.linalg.norm(yf_ref))
    out["fast_ok"] = out["fast_rel_err"] <= 1e-3
    deq = lib.dequantize(w, k, enc.cols).cpu().numpy().T.astype(np.float64)
    out["dequant_rel_err"] = float(np.max(np.abs(deq - w_hat)) / np.max(np.abs(w_hat)))
    out["ok"] = bool(out["weight_only_acc_equal"] and out["gemv_exact_equal"] and out["lut_acc_equal"]
                     and out["fast_ok"] and out["dequant_rel_err"] <= 1e-5)
    return out


def _hbm_read_bw() -> dict[str, Any]:
    import torch

    n = (4 << 30) // 4
    buf = torch.ones(n, dtype=torch.float32, device="cuda")
    ms = _time_cuda(lambda: buf.sum(), 10)
    del buf
    torch.cuda.empty_cache()
    return {"bytes": n * 4, "ms": ms, "read_GBps": n * 4 / (ms * 1e-3) / 1e9}


def _bench(cfg, lib: CudaLib, bw: float | None, quick: bool) -> list[dict[str, Any]]:
    import torch
    from hwq.codegen.bench import random_encoded
    from hwq.codegen.check import padded_k

    rows = []
    shapes = SHAPES[:2] + SHAPES[-1:] if quick else SHAPES
    batches = (1, 16) if quick else BATCHES
    reps = 10 if quick else 50
    for k, m in shapes:
        kp = padded_k(k, cfg)
        enc = random_encoded(cfg, kp, m)
        w = lib.weights(enc)
        bytes_w = enc.nbytes()
        wt = torch.randn((m, k), dtype=torch.float16, device="cuda")
        for b in batches:
            x = torch.randn((b, k), dtype=torch.float16, device="cuda")
            xp = torch.zeros((b, kp), dtype=torch.float16, device="cuda")
            xp[:, :k] = x
            bufs = lib.fast_buffers(kp, m, b)
            t_cub = _time_cuda(lambda: torch.matmul(wt, x.T), reps)
            t_fast = _time_cuda(lambda: lib.gemv_fast(w, kp, m, xp, bufs), reps)
            row = {"k": k, "k_padded": kp, "m": m, "batch": b, "bits_per_entry_read": 8 * bytes_w / (k * m),
                   "cublas_fp16_us": t_cub * 1e3, "hwq_fast_us": t_fast * 1e3, "speedup_vs_cublas": t_cub / t_fast,
                   "hwq_weight_GBps": bytes_w / (t_fast * 1e-3) / 1e9}
            if bw:
                row["hwq_pct_of_hbm_read"] = 100 * row["hwq_weight_GBps"] / bw
            if b in (1, 16):
                xd = xp.to(torch.float64)
                row["hwq_exact_us"] = _time_cuda(lambda: lib.gemv_exact(w, kp, m, xd), max(5, reps // 5)) * 1e3
            print(json.dumps(row), flush=True)
            rows.append(row)
        del w, wt
        torch.cuda.empty_cache()
    return rows


def _sanitizer(args) -> dict[str, Any]:
    exe = shutil.which("compute-sanitizer") or "/usr/local/cuda/bin/compute-sanitizer"
    if not Path(exe).is_file():
        return {"ran": False, "reason": "compute-sanitizer not found"}
    cmd = [exe, "--tool", "memcheck", "--error-exitcode", "9", sys.executable, "-m", "hwq.codegen.gpu_bench",
           "--check-only", "--build-dir", args.build_dir]
    if args.config:
        cmd += ["--config", args.config]
    t = time.time()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    tail = (res.stdout + res.stderr)[-3000:]
    m = re.search(r"ERROR SUMMARY: (\d+) error", tail)
    return {"ran": True, "returncode": res.returncode, "errors": int(m.group(1)) if m else None,
            "seconds": time.time() - t, "tail": tail[-800:]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hwq.codegen.gpu_bench", description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None)
    p.add_argument("--build-dir", default="build/codegen_cuda")
    p.add_argument("--out", default="reports/bench")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-sanitizer", action="store_true")
    p.add_argument("--check-only", action="store_true", help="(internal) correctness only, for the sanitizer")
    args = p.parse_args(argv)
    ok, dev = gpu_available()
    if not ok:
        print(f"no usable NVIDIA GPU ({dev}); nothing run", file=sys.stderr)
        return 0
    import torch
    from hwq.config import load_config
    from hwq.codegen.cuda import compile_cuda

    cfg = load_config(args.config)
    cap = torch.cuda.get_device_capability(0)
    sm = f"{cap[0]}{cap[1]}"
    report: dict[str, Any] = {"device": dev, "sm": sm, "slug": cfg.slug, "torch": torch.__version__,
                              "cuda": torch.version.cuda, "stages": {}}

    def stage(name, fn):
        t = time.time()
        try:
            report["stages"][name] = {"ok": True, "result": fn()}
        except Exception as e:
            report["stages"][name] = {"ok": False, "error": f"{type(e).__name__}: {e}",
                                      "trace": traceback.format_exc()[-2000:]}
        report["stages"][name]["seconds"] = round(time.time() - t, 2)
        print(f"[{name}] ok={report['stages'][name]['ok']}", flush=True)

    arch = tuple(sorted({sm, "80", "90"})) if not args.check_only else (sm,)
    libpath: dict[str, Path] = {}
    stage("build", lambda: str(libpath.setdefault("p", compile_cuda(cfg, Path(args.build_dir) / cfg.slug, arch,
                                                                     lineinfo=True))))
    if "p" not in libpath:
        print(json.dumps(report["stages"]["build"], indent=2))
        return 1
    lib = CudaLib(cfg, libpath["p"])
    stage("check", lambda: _check(cfg, lib))
    if args.check_only:
        res = report["stages"]["check"]
        print(json.dumps(res))
        return 0 if res["ok"] and res["result"]["ok"] else 1
    stage("hbm_read_bandwidth", _hbm_read_bw)
    bw = report["stages"]["hbm_read_bandwidth"].get("result", {}).get("read_GBps")
    stage("bench", lambda: _bench(cfg, lib, bw, args.quick))
    if not args.no_sanitizer:
        stage("compute_sanitizer", lambda: _sanitizer(args))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    devslug = re.sub(r"[^a-z0-9]+", "_", dev.lower()).strip("_")
    path = out / f"cuda_{devslug}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
