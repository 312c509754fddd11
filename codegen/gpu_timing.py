"""The GPU script's timing (:mod:`hwq.codegen.gpu_bench`): CUDA-event and CUDA-graph timers, the HBM
bandwidth in the same run, and the benchmark rows (hwq fast and exact GEMV against torch fp16 ``F.linear``)
with the bytes each call reads.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hwq.codegen.cuda_lib import CudaLib
from hwq.codegen.gpu_check import spot_check

__all__ = ["BATCHES", "COLD_BYTES", "SHAPES", "bench_rows", "bytes_read", "hbm_bandwidth", "time_cuda",
           "time_graph"]

SHAPES = ((4096, 4096), (4096, 14336), (14336, 4096), (4096, 6144), (8192, 28672))
BATCHES = (1, 4, 16, 64)
FLUSH_BYTES = 256 << 20
#: bytes of weight copies cycled through in a graph-timed run (> 2x the 50 MB L2 of an H100)
COLD_BYTES = 120 << 20


def bytes_read(enc, batch: int, act_bytes: int = 2) -> dict[str, int]:
    """Bytes one GEMV reads from memory: the container (codes, ladder, float32 norms) and the activations.

    Parameters
    ----------
    enc : EncodedMatrix
    batch : int
    act_bytes : int
        Bytes per activation entry (2 for the fp16 fast mode, 8 for the float64 exact mode).

    Returns
    -------
    dict
        ``codes``, ``ladder``, ``norms``, ``acts``, ``weights`` (codes + ladder + norms) and ``total``.
    """
    out = {"codes": int(enc.codes.nbytes), "ladder": int(enc.ladder.nbytes), "norms": int(enc.norms.nbytes),
           "acts": int(batch) * int(enc.n) * int(act_bytes)}
    out["weights"] = out["codes"] + out["ladder"] + out["norms"]
    out["total"] = out["weights"] + out["acts"]
    return out


def time_cuda(fn, reps: int, flush=None) -> float:
    """Median milliseconds of fn() with CUDA events (after warm-up); ``flush`` runs untimed before each."""
    import torch

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        if flush is not None:
            flush()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        ts.append(s.elapsed_time(e))
    return float(np.median(ts))


def time_graph(calls, reps: int) -> float:
    """Median milliseconds PER CALL of ``calls`` (zero-argument callables, e.g. the same GEMV on
    distinct weight copies so that every call reads cold weights) captured in one CUDA graph and
    replayed: GPU time without Python/launch overhead.  Both hwq and cuBLAS are timed this way."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up (lazy initialisation) outside the capture
        for c in calls:
            c()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for c in calls:
            c()
    g.replay()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        g.replay()
        e.record()
        e.synchronize()
        ts.append(s.elapsed_time(e) / len(calls))
    del g
    return float(np.median(ts))


def _copies(nbytes: int, target: int = COLD_BYTES, most: int = 32) -> int:
    """Weight copies so that one pass over all of them (``target`` bytes) exceeds the L2 cache."""
    return int(min(most, max(2, -(-target // max(1, nbytes)))))


def hbm_bandwidth() -> dict[str, Any]:
    import torch

    n = (4 << 30) // 4
    buf = torch.ones(n, dtype=torch.float32, device="cuda")
    ms = time_cuda(lambda: buf.sum(), 10)
    buf = None  # frees the buffer (the timed lambda is not called again)
    nc = (1 << 30) // 4
    src = torch.ones(nc, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    ms_copy = time_cuda(lambda: dst.copy_(src), 10)
    src = dst = None
    torch.cuda.empty_cache()
    return {"read_bytes": n * 4, "read_ms": ms, "read_GBps": n * 4 / (ms * 1e-3) / 1e9,
            "copy_bytes": nc * 4, "copy_ms": ms_copy,
            "copy_GBps_read_plus_write": 2 * nc * 4 / (ms_copy * 1e-3) / 1e9}


def bench_rows(cfg, lib: CudaLib, bw: float | None, quick: bool) -> list[dict[str, Any]]:
    import torch
    import torch.nn.functional as F
    from hwq.codegen.bench_backends import random_encoded

    rows = []
    shapes = SHAPES[:2] + SHAPES[-1:] if quick else SHAPES
    batches = (1, 16) if quick else BATCHES
    reps = 10 if quick else 30
    flush_buf = torch.empty(FLUSH_BYTES, dtype=torch.uint8, device="cuda")
    flush = flush_buf.zero_
    for k, m in shapes:
        kp = cfg.padded_k(k)
        enc = random_encoded(cfg, kp, m)
        w = lib.weights(enc)
        n_ours = _copies(enc.nbytes())
        ws = [w] + [tuple(t.clone() for t in w) for _ in range(n_ours - 1)]
        n_cub = _copies(2 * k * m)
        wts = [torch.randn((m, k), dtype=torch.float16, device="cuda") for _ in range(n_cub)]
        plans = {nbv: lib.plan(kp, m, nbv) for nbv in (1, 4)}
        for b in batches:
            x = torch.randn((b, k), dtype=torch.float16, device="cuda")
            xp = torch.zeros((b, kp), dtype=torch.float16, device="cuda")
            xp[:, :k] = x
            bufs = lib.fast_buffers(kp, m, b)
            fast = [lib.fast_call(wi, kp, m, xp, bufs) for wi in ws]
            row: dict[str, Any] = {"k": k, "k_padded": kp, "m": m, "batch": b, "path": lib.path(w, kp, m, b),
                                   "weight_copies": n_ours, "cublas_weight_copies": n_cub}
            try:
                t_cub = time_graph([lambda wt=wt: F.linear(x, wt) for wt in wts], reps)
                t_fast = time_graph(fast, reps)
                row["timing"] = "cuda_graph"
            except Exception as e:  # graph capture unavailable: eager timing with an L2 flush per rep
                row["timing"] = f"eager (graph capture failed: {type(e).__name__}: {e})"[:300]
                t_cub = time_cuda(lambda: F.linear(x, wts[0]), reps, flush)
                t_fast = time_cuda(fast[0], reps, flush)
            # eager: one Python call between CUDA events after an L2 flush (includes launch overhead)
            t_cub_eager = time_cuda(lambda: F.linear(x, wts[0]), reps, flush)
            t_fast_eager = time_cuda(fast[0], reps, flush)
            nbytes = bytes_read(enc, b, act_bytes=2)
            row.update({"bytes_read": nbytes["total"], "weight_bytes": nbytes["weights"],
                        "bits_per_weight_read": 8 * nbytes["weights"] / (k * m),
                        "cublas_fp16_us": t_cub * 1e3, "hwq_fast_us": t_fast * 1e3,
                        "speedup_vs_cublas": t_cub / t_fast,
                        "hwq_read_GBps": nbytes["total"] / (t_fast * 1e-3) / 1e9,
                        "cublas_fp16_eager_us": t_cub_eager * 1e3, "hwq_fast_eager_us": t_fast_eager * 1e3,
                        "speedup_vs_cublas_eager": t_cub_eager / t_fast_eager})
            if row["path"] == "table":
                row["plan"] = plans[1 if b == 1 else 4]
            if b in (1, 4):  # correctness at full size (64 sampled columns against the reference)
                row["spot_check"] = spot_check(cfg, lib, enc, w, kp, b)
            if bw:
                row["pct_of_hbm_read"] = 100 * row["hwq_read_GBps"] / bw
            if b in (1, 16):
                xd = xp.to(torch.float64)
                eb = lib.exact_buffers(kp, m, b)
                exact = [lib.exact_call(wi, kp, m, xd, eb) for wi in ws]
                try:
                    row["hwq_exact_us"] = time_graph(exact, max(5, reps // 3)) * 1e3
                except Exception:
                    row["hwq_exact_us"] = time_cuda(exact[0], max(5, reps // 3), flush) * 1e3
            print(json.dumps(row), flush=True)
            rows.append(row)
        w = ws = wts = None  # free this shape's weights before the next
        torch.cuda.empty_cache()
    return rows
