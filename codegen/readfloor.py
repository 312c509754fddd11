"""A memory read-bandwidth floor: an AVX-512 read loop compiled with ``-O3 -march=native``.

The floor of a weight-streaming GEMV is the time one pass over its bytes takes. An 8-byte scalar loop is
not a floor on this machine kind (it tops out near 26 GB/s where 64-byte loads reach about 39 GB/s per
core), so the loop here reads 512 bytes per iteration with eight independent 64-byte accumulators (XOR,
so nothing can be folded away), split over OpenMP threads in equal contiguous slices. Without AVX-512 it
falls back to whatever ``-march=native`` vectorises of a 64-bit XOR loop (that machine's own widest loads).

::

    rf = ReadFloor("build/readfloor")
    rf.read(buf, nthreads=2)       # one pass over buf's bytes; returns a checksum
    rf.bandwidth(64 << 20, 1)      # bytes/s of the best of a few passes over a 64 MiB buffer
"""

from __future__ import annotations

import ctypes
import hashlib
import time
from pathlib import Path

import numpy as np

from hwq.errors import HwqError

__all__ = ["FLAGS", "SOURCE", "ReadFloor"]

FLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=c99", "-Wall", "-Wextra", "-Werror")

SOURCE = r"""
#include <stdint.h>
#include <string.h>
#include <omp.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

static uint64_t read_slice(const uint8_t *p, int64_t n) {
    uint64_t s = 0;
    int64_t i = 0;
#if defined(__AVX512F__)
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (; i + 512 <= n; i += 512) {
        a0 = _mm512_xor_si512(a0, _mm512_loadu_si512((const void *)(p + i)));
        a1 = _mm512_xor_si512(a1, _mm512_loadu_si512((const void *)(p + i + 64)));
        a2 = _mm512_xor_si512(a2, _mm512_loadu_si512((const void *)(p + i + 128)));
        a3 = _mm512_xor_si512(a3, _mm512_loadu_si512((const void *)(p + i + 192)));
        a4 = _mm512_xor_si512(a4, _mm512_loadu_si512((const void *)(p + i + 256)));
        a5 = _mm512_xor_si512(a5, _mm512_loadu_si512((const void *)(p + i + 320)));
        a6 = _mm512_xor_si512(a6, _mm512_loadu_si512((const void *)(p + i + 384)));
        a7 = _mm512_xor_si512(a7, _mm512_loadu_si512((const void *)(p + i + 448)));
    }
    a0 = _mm512_xor_si512(_mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3)),
                          _mm512_xor_si512(_mm512_xor_si512(a4, a5), _mm512_xor_si512(a6, a7)));
    s = (uint64_t)_mm512_reduce_add_epi64(a0);
#else
    uint64_t b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; i + 64 <= n; i += 64) {
        uint64_t w[8];
        memcpy(w, p + i, 64);
        for (int j = 0; j < 8; j++) b[j] ^= w[j];
    }
    for (int j = 0; j < 8; j++) s ^= b[j];
#endif
    for (; i < n; i++) s += p[i];
    return s;
}

int hwq_have_avx512(void) {
#if defined(__AVX512F__)
    return 1;
#else
    return 0;
#endif
}

uint64_t hwq_read_floor(const uint8_t *p, int64_t n, int nthreads) {
    uint64_t total = 0;
    if (nthreads < 1) nthreads = 1;
#pragma omp parallel num_threads(nthreads) reduction(^ : total)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t chunk = ((n / nt) + 511) & ~(int64_t)511;
        int64_t lo = (int64_t)t * chunk, hi = lo + chunk > n ? n : lo + chunk;
        if (lo < hi) total ^= read_slice(p + lo, hi - lo);
    }
    return total;
}
"""


class ReadFloor:
    """The compiled read loop (built once per source and flags into ``work_dir``).

    Raises
    ------
    HwqError
        No compiler, or it failed.
    """

    def __init__(self, work_dir: str | Path):
        import subprocess

        from hwq.codegen.build import find_cc

        work = Path(work_dir).resolve()
        work.mkdir(parents=True, exist_ok=True)
        tag = hashlib.sha256((SOURCE + " ".join(FLAGS)).encode()).hexdigest()[:12]
        lib = work / f"libhwq_readfloor_{tag}.so"
        if not lib.is_file():
            src = work / "hwq_readfloor.c"
            src.write_text(SOURCE)
            tmp = work / f".{lib.name}.tmp"
            res = subprocess.run(
                [find_cc(), *FLAGS, "-o", str(tmp), str(src)], capture_output=True, text=True
            )
            if res.returncode != 0:
                raise HwqError(f"compiling the read-bandwidth loop failed:\n{res.stderr[-2000:]}")
            tmp.replace(lib)
        self.path = lib
        self.lib = ctypes.CDLL(str(lib))
        self.lib.hwq_read_floor.restype = ctypes.c_uint64
        self.lib.hwq_read_floor.argtypes = (ctypes.c_void_p, ctypes.c_int64, ctypes.c_int)
        self.avx512 = bool(self.lib.hwq_have_avx512())

    def read(self, buf: np.ndarray, nthreads: int = 1) -> int:
        """One pass over every byte of ``buf`` (contiguous) with ``nthreads`` threads; a checksum."""
        if not buf.flags.c_contiguous:
            raise HwqError("the read floor needs a contiguous buffer")
        return int(
            self.lib.hwq_read_floor(
                ctypes.c_void_p(buf.ctypes.data), ctypes.c_int64(buf.nbytes), ctypes.c_int(int(nthreads))
            )
        )

    def bandwidth(self, nbytes: int = 64 << 20, nthreads: int = 1, reps: int = 5, copies: int = 2) -> float:
        """Bytes/s: the best of ``reps`` passes over ``nbytes``, rotating over ``copies`` buffers (cold)."""
        bufs = [np.full(nbytes, i + 1, dtype=np.uint8) for i in range(max(1, copies))]
        self.read(bufs[0], nthreads)
        best = float("inf")
        for r in range(reps):
            b = bufs[r % len(bufs)]
            t0 = time.perf_counter()
            self.read(b, nthreads)
            best = min(best, time.perf_counter() - t0)
        return nbytes / best
