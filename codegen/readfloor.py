"""A memory read-bandwidth floor: a SIMD read loop (AVX-512, else AVX2) compiled with ``-O3 -march=native``.

The floor of a weight-streaming GEMV is the time one pass over its bytes takes. An 8-byte scalar loop is
not a floor (it topped out near 26 GB/s where 64-byte loads reached about 39 GB/s per core on a Zen 5
VM), and neither is a single stream of wide loads (12 GB/s on one thread of a Zen 3 VM, where numpy's
sgemv, reading several rows at once, reached 18): so each OpenMP thread's slice is read as 4 contiguous
parts at once, 64 bytes of each per step, XORed into independent accumulators (so nothing can be folded
away) of the widest loads ``-march=native`` offers (AVX-512, else AVX2, else 64-bit words). Every
variant returns the same checksum.

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
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* Each thread's slice is read as 4 contiguous parts at once, one 64-byte chunk of each per step (the
   hardware prefetchers then run 4 streams: a single stream leaves bandwidth unused on some machines, 12 vs
   17 GB/s on one thread of a Zen 3 VM), then the tail; every 64-byte chunk is XORed into the lanes of its
   offset mod 64, so the checksum does not depend on the order, the streams or the ISA. */
#define NS 4
static uint64_t read_slice(const uint8_t *p, int64_t n) {
    uint64_t s = 0;
    const int64_t part = (n / NS) & ~(int64_t)511;
    int64_t i = 0;
#if defined(__AVX512F__)
    __m512i a[NS], b[NS];
    for (int k = 0; k < NS; k++) a[k] = b[k] = _mm512_setzero_si512();
    for (; i < part; i += 128)
        for (int k = 0; k < NS; k++) {
            a[k] = _mm512_xor_si512(a[k], _mm512_loadu_si512((const void *)(p + k * part + i)));
            b[k] = _mm512_xor_si512(b[k], _mm512_loadu_si512((const void *)(p + k * part + i + 64)));
        }
    __m512i x = _mm512_setzero_si512();
    for (int k = 0; k < NS; k++) x = _mm512_xor_si512(x, _mm512_xor_si512(a[k], b[k]));
    for (i = NS * part; i + 64 <= n; i += 64)
        x = _mm512_xor_si512(x, _mm512_loadu_si512((const void *)(p + i)));
    s = (uint64_t)_mm512_reduce_add_epi64(x);
#elif defined(__AVX2__)
    /* 32-byte halves: lo holds the 64-bit lanes 0-3 of each 64-byte chunk, hi lanes 4-7 */
    __m256i lo[NS], hi[NS];
    for (int k = 0; k < NS; k++) lo[k] = hi[k] = _mm256_setzero_si256();
    for (; i < part; i += 64)
        for (int k = 0; k < NS; k++) {
            lo[k] = _mm256_xor_si256(lo[k], _mm256_loadu_si256((const __m256i *)(p + k * part + i)));
            hi[k] = _mm256_xor_si256(hi[k], _mm256_loadu_si256((const __m256i *)(p + k * part + i + 32)));
        }
    __m256i xl = _mm256_setzero_si256(), xh = xl;
    for (int k = 0; k < NS; k++) {
        xl = _mm256_xor_si256(xl, lo[k]);
        xh = _mm256_xor_si256(xh, hi[k]);
    }
    for (i = NS * part; i + 64 <= n; i += 64) {
        xl = _mm256_xor_si256(xl, _mm256_loadu_si256((const __m256i *)(p + i)));
        xh = _mm256_xor_si256(xh, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
    }
    uint64_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, xl);
    _mm256_storeu_si256((__m256i *)(lanes + 4), xh);
    for (int j = 0; j < 8; j++) s += lanes[j];
#else
    uint64_t w[8], x[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; i < part; i += 64)
        for (int k = 0; k < NS; k++) {
            memcpy(w, p + k * part + i, 64);
            for (int j = 0; j < 8; j++) x[j] ^= w[j];
        }
    for (i = NS * part; i + 64 <= n; i += 64) {
        memcpy(w, p + i, 64);
        for (int j = 0; j < 8; j++) x[j] ^= w[j];
    }
    for (int j = 0; j < 8; j++) s += x[j];
#endif
    for (; i < n; i++) s += p[i];
    return s;
}

/* the widest loads the loop uses: 64 (AVX-512), 32 (AVX2) or 8 bytes */
int hwq_floor_load_bytes(void) {
#if defined(__AVX512F__)
    return 64;
#elif defined(__AVX2__)
    return 32;
#else
    return 8;
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
        self.isa = {64: "avx512", 32: "avx2"}.get(int(self.lib.hwq_floor_load_bytes()), "scalar")
        self.avx512 = self.isa == "avx512"

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
