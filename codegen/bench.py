"""CPU benchmark of the generated C kernels against numpy fp32 (OpenBLAS) and an int8 GEMV.

Shapes are the issue's (K x M) = 4096 x 4096 and 4096 x 14336, batch 1 and 8. K = 4096 is zero-padded to
a multiple of lcm(d, hadamard) (4224 for D3 with hadamard 64: 3.1 % more blocks read); bits/entry are
counted against the 4096 real rows, from the bytes the kernel actually reads (the kernel layout written
once by :meth:`CKernels.pack`, plus the fp32 norms). Weights are random codes with the D3 ladder
distribution (encoding a 59M-entry matrix with the Python reference would take minutes; kernel time
does not depend on the values).

Every timed function gets a warm-up call; then the functions are timed in interleaved rounds (one call
of each per round) and the best round of each is kept, so that a load change on a shared machine hits
all of them alike. Baselines in the same run: numpy fp32 ``W @ x`` (OpenBLAS, its own threads), the
library's int8 GEMV (int8 weights x int8 activations -> int32, 8 bits/entry, same threads) and a plain
read of the packed weight bytes (the memory-bandwidth floor of the hwq kernel at this size).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.packing import pack_bits

from hwq.codegen.build import CKernels, compile_c
from hwq.codegen.check import padded_k

__all__ = ["bench_c", "write_report", "random_encoded", "SHAPES", "BATCHES"]

SHAPES = ((4096, 4096), (4096, 14336))
BATCHES = (1, 8)


def _interleaved_best(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Seconds of the best of ``reps`` interleaved rounds of each function (after one warm-up call)."""
    for f in fns.values():
        f()
    best = {name: float("inf") for name in fns}
    for _ in range(max(1, reps)):
        for name, f in fns.items():
            t = time.perf_counter()
            f()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def random_encoded(cfg: HwqConfig, k: int, m: int, seed: int = 0) -> EncodedMatrix:
    """Random codes/ladder (ladder P(T) ~ 71/16/9/4 %) in the container format, unit norms."""
    rng = np.random.default_rng(seed)
    nb = k // cfg.dim
    rows = rng.integers(0, cfg.num_codewords, (m, nb))
    p = np.array([0.71, 0.16, 0.09, 0.04][: cfg.ladder_len], dtype=np.float64)
    lad = rng.choice(cfg.ladder_len, (m, nb), p=p / p.sum())
    return EncodedMatrix(cfg, k, m, 0, pack_bits(rows, cfg.code_bits), pack_bits(lad, cfg.ladder_bits),
                         np.ones(m, dtype=np.float32))


def bench_c(cfg: HwqConfig, work_dir: str | Path, nthreads: int = 2, reps: int = 7,
            shapes=SHAPES, batches=BATCHES, log=print) -> dict[str, Any]:
    """Time exact and fast GEMV against numpy fp32, an int8 GEMV and a memory read; returns a JSON-able dict."""
    lib = CKernels(cfg, compile_c(cfg, work_dir), nthreads=nthreads)
    rng = np.random.default_rng(1)
    rows_out = []
    load_before = list(os.getloadavg())
    for k, m in shapes:
        kp = padded_k(k, cfg)
        enc = random_encoded(cfg, kp, m)
        t0 = time.perf_counter()
        pw = lib.pack(enc)
        pack_s = time.perf_counter() - t0
        w32 = rng.standard_normal((m, k)).astype(np.float32)
        w8 = rng.integers(-127, 128, (m, k), dtype=np.int8)
        nbytes = pw.nbytes_read
        bits = 8 * nbytes / (k * m)
        for b in batches:
            x = rng.standard_normal((k, b))
            xp = np.zeros((kp, b))
            xp[:k] = x
            x32 = x.astype(np.float32)
            x8 = rng.integers(-127, 128, (k, b), dtype=np.int8)
            xp32 = xp.astype(np.float32)
            t = _interleaved_best({
                "numpy_fp32": lambda: w32 @ x32,
                "c_int8": lambda: lib.int8_gemv(w8, x8),
                "read_packed": lambda: lib.stream_read(pw.data),
                "hwq_exact": lambda: lib.gemv_exact(pw, xp),
                "hwq_fast": lambda: lib.gemv_fast(pw, xp32),
            }, reps)
            row = {"k": k, "k_padded": kp, "m": m, "batch": b, "bytes_read": nbytes,
                   "bits_per_entry_read": round(bits, 4), "pack_ms": pack_s * 1e3,
                   **{f"{name}_ms": v * 1e3 for name, v in t.items()},
                   "read_packed_gbps": nbytes / t["read_packed"] / 1e9,
                   "numpy_fp32_weight_gbps": 4 * k * m / t["numpy_fp32"] / 1e9,
                   "speedup_exact_vs_fp32": t["numpy_fp32"] / t["hwq_exact"],
                   "speedup_fast_vs_fp32": t["numpy_fp32"] / t["hwq_fast"],
                   "speedup_exact_vs_int8": t["c_int8"] / t["hwq_exact"],
                   "exact_vs_read_floor": t["hwq_exact"] / t["read_packed"]}
            rows_out.append(row)
            log(f"{k}x{m} B={b}: numpy fp32 {row['numpy_fp32_ms']:.2f} ms, C int8 {row['c_int8_ms']:.2f} ms, "
                f"read packed {row['read_packed_ms']:.2f} ms, hwq exact {row['hwq_exact_ms']:.2f} ms "
                f"({row['speedup_exact_vs_fp32']:.2f}x fp32), fast {row['hwq_fast_ms']:.2f} ms "
                f"({row['speedup_fast_vs_fp32']:.2f}x), {bits:.3f} bits/entry read")
    return {"slug": cfg.slug, "isa": lib.isa(), "threads": nthreads, "cpu_count": os.cpu_count(),
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            "load_average_before": load_before, "load_average": list(os.getloadavg()),
            "table_path": lib.table_path(), "reps": reps, "rows": rows_out,
            "note": ("best of interleaved rounds after a warm-up; numpy uses OpenBLAS with its default "
                     "threads; weights packed once into the kernel layout (pack_ms, not in the GEMV time); "
                     "shared machine")}


def write_report(res: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write reports/bench/c_<slug>.json and .md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    js = out / f"c_{res['slug']}.json"
    js.write_text(json.dumps(res, indent=2) + "\n")
    la = ", ".join(f"{v:.2f}" for v in res["load_average"])
    lines = [f"# C kernels, {res['slug']} ({res['isa']}, {res['threads']} threads)", "",
             f"Load average at the end of the run: {la} on {res['cpu_count']} cores (shared machine); "
             f"best of {res['reps']} interleaved rounds after a warm-up.", "",
             "| K x M | batch | bits/entry read | numpy fp32 ms | C int8 ms | read packed ms | hwq exact ms "
             "| hwq fast ms | exact vs fp32 | fast vs fp32 | exact vs int8 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in res["rows"]:
        lines.append(f"| {r['k']}x{r['m']} | {r['batch']} | {r['bits_per_entry_read']:.3f} | "
                     f"{r['numpy_fp32_ms']:.2f} | {r['c_int8_ms']:.2f} | {r['read_packed_ms']:.2f} | "
                     f"{r['hwq_exact_ms']:.2f} | {r['hwq_fast_ms']:.2f} | {r['speedup_exact_vs_fp32']:.2f}x | "
                     f"{r['speedup_fast_vs_fp32']:.2f}x | {r['speedup_exact_vs_int8']:.2f}x |")
    lines += ["", "C int8: the library's int8 x int8 -> int32 GEMV (8 bits/entry, same threads). read packed: "
              "one pass over the bytes the hwq kernel reads (memory-bandwidth floor). K is padded to "
              "a multiple of lcm(d, hadamard); bits/entry count the real K."]
    md = out / f"c_{res['slug']}.md"
    md.write_text("\n".join(lines) + "\n")
    return js, md
