/*
 * hwq_baselines_c.h -- reference points of `hwq bench c`, built into every library so that they run
 * with the same compiler, flags and threads as the kernels: a plain memory read of a buffer and a
 * dense int8 GEMV (included by hwq_kernels_c.h).
 */
#ifndef HWQ_BASELINES_C_H
#define HWQ_BASELINES_C_H
/* ---------------------------------------------------------------------------------------------- */
/* benchmark baselines (same library, same threads): memory stream and a plain int8 GEMV           */
/* ---------------------------------------------------------------------------------------------- */

/* XOR of all 8-byte words of buf (n bytes, tail ignored): reads every byte once, memory-bound. */
int64_t HWQ_SYM(stream_read)(const uint8_t *buf, int64_t n, int nthreads)
{
    const int64_t nw = n / 8;
    uint64_t x = 0;
    (void)nthreads;
    HWQ_PRAGMA(omp parallel for num_threads(nthreads) schedule(static) reduction(^ : x))
    for (int64_t i = 0; i < nw; i++) {
        uint64_t v;
        memcpy(&v, buf + 8 * i, 8);
        x ^= v;
    }
    return (int64_t)(x & 0x7FFFFFFFFFFFFFFFull);
}

#define HWQ_INT8_GEMV_BODY                                                                                 \
    for (int64_t mm = 0; mm < m; mm++)                                                                     \
        for (int64_t j = 0; j < nbatch; j++) {                                                             \
            const int8_t *wr = w + mm * k, *xr = x + j * k;                                                \
            int32_t s = 0;                                                                                 \
            for (int64_t i = 0; i < k; i++)                                                                \
                s += (int32_t)wr[i] * (int32_t)xr[i];                                                      \
            y[mm * nbatch + j] = s;                                                                        \
        }

static void hwq_int8_part(const int8_t *w, const int8_t *x, int64_t k, int64_t m, int64_t nbatch, int32_t *y)
{
    HWQ_INT8_GEMV_BODY
}

#if HWQ_X86
__attribute__((target("avx2,avx512f,avx512bw"))) static void hwq_int8_part_avx512(const int8_t *w, const int8_t *x,
                                                                                 int64_t k, int64_t m,
                                                                                 int64_t nbatch, int32_t *y)
{
    HWQ_INT8_GEMV_BODY
}

__attribute__((target("avx2"))) static void hwq_int8_part_avx2(const int8_t *w, const int8_t *x, int64_t k,
                                                               int64_t m, int64_t nbatch, int32_t *y)
{
    HWQ_INT8_GEMV_BODY
}
#endif

/* y (M, B) int32 = W (M, K) int8 x X^T, X (B, K) int8: a dense int8 weight-only GEMV (8 bits/entry). */
int HWQ_SYM(int8_gemv)(const int8_t *w, const int8_t *x, int64_t k, int64_t m, int64_t nbatch, int32_t *y,
                       int nthreads)
{
    if (k < 1 || m < 1 || nbatch < 1 || k > 16777216)
        return HWQ_E_ARGS;
    const int isa = hwq_isa();
    int nt = nthreads < 1 ? 1 : nthreads;
    (void)isa;
    (void)nt;
    HWQ_PRAGMA(omp parallel num_threads(nt))
    {
        int tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        const int64_t m0 = m * tid / nth, m1 = m * (tid + 1) / nth;
#if HWQ_X86
        if (isa >= HWQ_ISA_AVX512)
            hwq_int8_part_avx512(w + m0 * k, x, k, m1 - m0, nbatch, y + m0 * nbatch);
        else if (isa >= HWQ_ISA_AVX2)
            hwq_int8_part_avx2(w + m0 * k, x, k, m1 - m0, nbatch, y + m0 * nbatch);
        else
#endif
            hwq_int8_part(w + m0 * k, x, k, m1 - m0, nbatch, y + m0 * nbatch);
    }
    return HWQ_OK;
}

#endif /* HWQ_BASELINES_C_H */
