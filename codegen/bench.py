"""CPU benchmark of the generated C kernels against numpy fp32 (OpenBLAS) and an int8 GEMV.

Shapes are the issue's (K x M) = 4096 x 4096 and 4096 x 14336, batch 1 and 8. K = 4096 is zero-padded to
a multiple of lcm(d, hadamard) (4224 for D3 with hadamard 64: 3.1 % more blocks read); bits/entry are
counted against the 4096 real rows, from the bytes the kernel actually reads (the kernel layout written
once by :meth:`CKernels.pack`, plus the fp32 norms). Weights are random codes with the D3 ladder
distribution (encoding a 59M-entry matrix with the Python reference would take minutes; kernel time
does not depend on the values).

Every timed function gets a warm-up call; then the functions are timed in interleaved rounds (one call
of each per round) and the best round of each is kept, so that a load change on a shared machine hits
all of them alike. Baselines in the same run and with the same thread count: numpy fp32 ``W @ x``
(OpenBLAS, limited to the same threads with threadpoolctl when it is installed), the library's int8
GEMV (int8 weights x int8 activations -> int32, 8 bits/entry) and a plain read of the packed weight
bytes (the memory-bandwidth floor of the hwq kernel at this size). Every timed call reads weights that
are not in the cache: each operand rotates over copies that together exceed twice the last-level
cache, as the layers of a model would. Each case is timed with 1 thread and
with ``nthreads``: on a loaded machine a second thread waits for a time slice, so the 1-thread rows
are the steadier comparison.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, ContextManager

import numpy as np

from hwq.config import HwqConfig
from hwq.container import EncodedMatrix
from hwq.packing import pack_bits

from hwq.codegen.build import CKernels, PackedWeights, compile_c
from hwq.codegen.check import padded_k

__all__ = ["bench_c", "write_report", "random_encoded", "SHAPES", "BATCHES"]

SHAPES = ((4096, 4096), (4096, 14336))
BATCHES = (1, 8)


def _l3_bytes() -> int:
    """Last-level cache size (sysconf), 32 MiB when unknown."""
    try:
        v = int(os.sysconf("SC_LEVEL3_CACHE_SIZE"))
    except (ValueError, OSError, AttributeError):
        v = 0
    return v if v > 0 else 32 << 20


def _copies(nbytes: int) -> int:
    """Copies of an operand that together exceed twice the last-level cache (each call reads a cold one)."""
    return max(1, -(-2 * _l3_bytes() // max(1, nbytes)))


def _cycle(items: list[Any]) -> Callable[[], Any]:
    state = {"i": 0}

    def nxt() -> Any:
        state["i"] = (state["i"] + 1) % len(items)
        return items[state["i"]]
    return nxt


def _interleaved_best(fns: dict[str, Callable[[], object]],
                      reps: int) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall-clock and best calling-thread CPU seconds of ``reps`` interleaved rounds of each function
    (after one warm-up call). The CPU time is the whole cost only for single-threaded calls."""
    for f in fns.values():
        f()
    best = {name: float("inf") for name in fns}
    cpu = {name: float("inf") for name in fns}
    for _ in range(max(1, reps)):
        for name, f in fns.items():
            c, t = time.thread_time(), time.perf_counter()
            f()
            best[name] = min(best[name], time.perf_counter() - t)
            cpu[name] = min(cpu[name], time.thread_time() - c)
    return best, cpu


def _blas_threads(n: int) -> ContextManager[Any]:
    """Limit OpenBLAS to ``n`` threads inside the block (no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def random_encoded(cfg: HwqConfig, k: int, m: int, seed: int = 0) -> EncodedMatrix:
    """Random codes/ladder (ladder P(T) ~ 71/16/9/4 %) in the container format, unit norms."""
    rng = np.random.default_rng(seed)
    nb = k // cfg.dim
    rows = rng.integers(0, cfg.num_codewords, (m, nb))
    p = np.array([0.71, 0.16, 0.09, 0.04][: cfg.ladder_len], dtype=np.float64)
    lad = rng.choice(cfg.ladder_len, (m, nb), p=p / p.sum())
    return EncodedMatrix(cfg, k, m, 0, pack_bits(rows, cfg.code_bits), pack_bits(lad, cfg.ladder_bits),
                         np.ones(m, dtype=np.float32))


def bench_c(cfg: HwqConfig, work_dir: str | Path, nthreads: int = 2, reps: int = 11,
            shapes=SHAPES, batches=BATCHES, log=print) -> dict[str, Any]:
    """Time exact and fast GEMV against numpy fp32, an int8 GEMV and a memory read; returns a JSON-able dict.

    Every (shape, batch) is timed with 1 thread and with ``nthreads`` threads (all methods alike).
    """
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
        # every timed call reads weights that are not in the cache: operands rotate over copies that
        # together exceed twice the last-level cache (as the layers of a model would)
        pws = _cycle([pw] + [PackedWeights(enc, pw.data.copy()) for _ in range(_copies(nbytes) - 1)])
        w32s = _cycle([w32] + [w32.copy() for _ in range(_copies(w32.nbytes) - 1)])
        w8s = _cycle([w8] + [w8.copy() for _ in range(_copies(w8.nbytes) - 1)])
        bits = 8 * nbytes / (k * m)
        for b in batches:
            x = rng.standard_normal((k, b))
            xp = np.zeros((kp, b))
            xp[:k] = x
            x32 = x.astype(np.float32)
            x8 = rng.integers(-127, 128, (k, b), dtype=np.int8)
            xp32 = xp.astype(np.float32)
            for nt in sorted({1, nthreads}):
                lib.nthreads = nt
                with _blas_threads(nt):
                    t, cpu = _interleaved_best({
                        "numpy_fp32": lambda: w32s() @ x32,
                        "c_int8": lambda: lib.int8_gemv(w8s(), x8),
                        "read_packed": lambda: lib.stream_read(pws().data),
                        "hwq_exact": lambda: lib.gemv_exact(pws(), xp),
                        "hwq_fast": lambda: lib.gemv_fast(pws(), xp32),
                    }, reps)
                rows_out.append(_row(k, kp, m, b, nt, nbytes, bits, pack_s, t, cpu if nt == 1 else None))
                log(_line(rows_out[-1]))
    lib.nthreads = nthreads
    return {"slug": cfg.slug, "isa": lib.isa(), "threads": nthreads, "cpu_count": os.cpu_count(),
            "blas_threads_limited": _has_threadpoolctl(),
            "load_average_before": load_before, "load_average": list(os.getloadavg()),
            "table_path": lib.table_path(), "reps": reps, "rows": rows_out,
            "last_level_cache_bytes": _l3_bytes(),
            "note": ("best of interleaved rounds after a warm-up; numpy fp32 (OpenBLAS) limited to the same "
                     "threads when threadpoolctl is installed; weights packed once into the kernel layout "
                     "(pack_ms, not in the GEMV time); every call reads cold weights (operands rotate over "
                     "copies exceeding twice the last-level cache); shared machine")}


def _has_threadpoolctl() -> bool:
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:  # pragma: no cover - optional
        return False
    return True


def _row(k: int, kp: int, m: int, b: int, nt: int, nbytes: int, bits: float, pack_s: float,
         t: dict[str, float], cpu: dict[str, float] | None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if cpu is not None:  # one thread: the calling thread's CPU time is the whole cost, without preemption
        extra = {**{f"{name}_cpu_ms": v * 1e3 for name, v in cpu.items()},
                 "cpu_speedup_exact_vs_fp32": cpu["numpy_fp32"] / cpu["hwq_exact"],
                 "cpu_speedup_fast_vs_fp32": cpu["numpy_fp32"] / cpu["hwq_fast"]}
    return {"k": k, "k_padded": kp, "m": m, "batch": b, "threads": nt, "bytes_read": nbytes, **extra,
            "bits_per_entry_read": round(bits, 4), "pack_ms": pack_s * 1e3,
            **{f"{name}_ms": v * 1e3 for name, v in t.items()},
            "read_packed_gbps": nbytes / t["read_packed"] / 1e9,
            "numpy_fp32_weight_gbps": 4 * k * m / t["numpy_fp32"] / 1e9,
            "speedup_exact_vs_fp32": t["numpy_fp32"] / t["hwq_exact"],
            "speedup_fast_vs_fp32": t["numpy_fp32"] / t["hwq_fast"],
            "speedup_exact_vs_int8": t["c_int8"] / t["hwq_exact"],
            "exact_vs_read_floor": t["hwq_exact"] / t["read_packed"]}


def _line(r: dict[str, Any]) -> str:
    return (f"{r['k']}x{r['m']} B={r['batch']} {r['threads']}T: numpy fp32 {r['numpy_fp32_ms']:.2f} ms, "
            f"C int8 {r['c_int8_ms']:.2f} ms, read packed {r['read_packed_ms']:.2f} ms, hwq exact "
            f"{r['hwq_exact_ms']:.2f} ms ({r['speedup_exact_vs_fp32']:.2f}x fp32), "
            f"fast {r['hwq_fast_ms']:.2f} ms ({r['speedup_fast_vs_fp32']:.2f}x), "
            f"{r['bits_per_entry_read']:.3f} bits/entry read")


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
             "| K x M | batch | threads | bits/entry read | numpy fp32 ms | C int8 ms | read packed ms "
             "| hwq exact ms | hwq fast ms | exact vs fp32 | fast vs fp32 | exact vs int8 "
             "| exact vs fp32, CPU time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in res["rows"]:
        cpu = f"{r['cpu_speedup_exact_vs_fp32']:.2f}x" if "cpu_speedup_exact_vs_fp32" in r else "-"
        lines.append(f"| {r['k']}x{r['m']} | {r['batch']} | {r['threads']} | "
                     f"{r['bits_per_entry_read']:.3f} | "
                     f"{r['numpy_fp32_ms']:.2f} | {r['c_int8_ms']:.2f} | {r['read_packed_ms']:.2f} | "
                     f"{r['hwq_exact_ms']:.2f} | {r['hwq_fast_ms']:.2f} | "
                     f"{r['speedup_exact_vs_fp32']:.2f}x | {r['speedup_fast_vs_fp32']:.2f}x | "
                     f"{r['speedup_exact_vs_int8']:.2f}x | {cpu} |")
    lines += ["", "numpy fp32: OpenBLAS W @ x with the same threads (threadpoolctl). C int8: the library's "
              "int8 x int8 -> int32 GEMV (8 bits/entry, same threads). read packed: one pass over the bytes "
              "the hwq kernel reads (memory-bandwidth floor). CPU time (1 thread only): best calling-thread "
              "CPU time, which a loaded machine's preemption does not inflate. K is padded to a multiple of "
              "lcm(d, hadamard); bits/entry count the real K."]
    md = out / f"c_{res['slug']}.md"
    md.write_text("\n".join(lines) + "\n")
    return js, md
