"""CPU benchmark of the generated C kernels against numpy fp32 (OpenBLAS) and an int8 baseline.

Shapes are the issue's (K x M) = 4096 x 4096 and 4096 x 14336, batch 1 and 8. K = 4096 is zero-padded to
a multiple of lcm(d, hadamard) (4224 for D3 with hadamard 64: 3.1 % more blocks read); bits/entry are
reported against the 4096 real rows. Weights are random codes with the D3 ladder distribution (encoding
a 59M-entry matrix with the Python reference would take minutes; kernel time does not depend on the
values). The int8 baseline is numpy int8 x int8 -> int32 matmul on the same machine in the same run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.packing import pack_bits

from hwq.codegen.build import CKernels, compile_c
from hwq.codegen.check import padded_k

__all__ = ["bench_c", "write_report", "SHAPES", "BATCHES"]

SHAPES = ((4096, 4096), (4096, 14336))
BATCHES = (1, 8)


def _best(fn, reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def random_encoded(cfg: HwqConfig, k: int, m: int, seed: int = 0) -> EncodedMatrix:
    """Random codes/ladder (ladder P(T) ~ 71/16/9/4 %) in the container format, unit norms."""
    rng = np.random.default_rng(seed)
    nb = k // cfg.dim
    rows = rng.integers(0, cfg.num_codewords, (m, nb))
    p = np.array([0.71, 0.16, 0.09, 0.04][: cfg.ladder_len], dtype=np.float64)
    lad = rng.choice(cfg.ladder_len, (m, nb), p=p / p.sum())
    return EncodedMatrix(cfg, k, m, 0, pack_bits(rows, cfg.code_bits), pack_bits(lad, cfg.ladder_bits),
                         np.ones(m, dtype=np.float32))


def bench_c(cfg: HwqConfig, work_dir: str | Path, nthreads: int = 2, reps: int = 5,
            shapes=SHAPES, batches=BATCHES, log=print) -> dict[str, Any]:
    """Time exact and fast GEMV against numpy fp32 and int8 matmul; returns a JSON-able dict."""
    lib = CKernels(cfg, compile_c(cfg, work_dir), nthreads=nthreads)
    rng = np.random.default_rng(1)
    rows_out = []
    for k, m in shapes:
        kp = padded_k(k, cfg)
        enc = random_encoded(cfg, kp, m)
        w32 = rng.standard_normal((m, k)).astype(np.float32)
        w8 = rng.integers(-127, 128, (m, k), dtype=np.int8)
        bits = 8 * enc.nbytes() / (k * m)
        for b in batches:
            x = rng.standard_normal((k, b))
            xp = np.zeros((kp, b))
            xp[:k] = x
            x32 = x.astype(np.float32)
            x8 = rng.integers(-127, 128, (k, b), dtype=np.int8)
            xp32 = xp.astype(np.float32)
            t_np = _best(lambda: w32 @ x32, reps)
            t_i8 = _best(lambda: np.matmul(w8, x8, dtype=np.int32), reps)
            t_ex = _best(lambda: lib.gemv_exact(enc, xp), reps)
            t_fa = _best(lambda: lib.gemv_fast(enc, xp32), reps)
            row = {"k": k, "k_padded": kp, "m": m, "batch": b, "bits_per_entry_read": round(bits, 4),
                   "numpy_fp32_ms": t_np * 1e3, "numpy_int8_ms": t_i8 * 1e3, "hwq_exact_ms": t_ex * 1e3,
                   "hwq_fast_ms": t_fa * 1e3, "speedup_exact_vs_fp32": t_np / t_ex,
                   "speedup_fast_vs_fp32": t_np / t_fa, "speedup_exact_vs_int8": t_i8 / t_ex}
            rows_out.append(row)
            log(f"{k}x{m} B={b}: numpy fp32 {t_np*1e3:.2f} ms, int8 {t_i8*1e3:.2f} ms, hwq exact "
                f"{t_ex*1e3:.2f} ms ({t_np/t_ex:.2f}x fp32), fast {t_fa*1e3:.2f} ms ({t_np/t_fa:.2f}x), "
                f"{bits:.3f} bits/entry read")
    return {"slug": cfg.slug, "isa": lib.isa(), "threads": nthreads, "cpu_count": os.cpu_count(),
            "load_average": list(os.getloadavg()), "table_path": lib.table_path(), "rows": rows_out,
            "note": "min of reps; numpy uses OpenBLAS with its default threads; shared machine"}


def write_report(res: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write reports/bench/c_<slug>.json and .md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    js = out / f"c_{res['slug']}.json"
    js.write_text(json.dumps(res, indent=2) + "\n")
    lines = [f"# C kernels, {res['slug']} ({res['isa']}, {res['threads']} threads)", "",
             f"Load average during the run: {', '.join(f'{v:.2f}' for v in res['load_average'])} "
             f"on {res['cpu_count']} cores (shared machine).", "",
             "| K x M | batch | bits/entry read | numpy fp32 ms | numpy int8 ms | hwq exact ms | hwq fast ms "
             "| exact vs fp32 | fast vs fp32 |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in res["rows"]:
        lines.append(f"| {r['k']}x{r['m']} | {r['batch']} | {r['bits_per_entry_read']:.3f} | "
                     f"{r['numpy_fp32_ms']:.2f} | {r['numpy_int8_ms']:.2f} | {r['hwq_exact_ms']:.2f} | "
                     f"{r['hwq_fast_ms']:.2f} | {r['speedup_exact_vs_fp32']:.2f}x | "
                     f"{r['speedup_fast_vs_fp32']:.2f}x |")
    md = out / f"c_{res['slug']}.md"
    md.write_text("\n".join(lines) + "\n")
    return js, md
