/* hwq_glue_x86.h: the per-call passes around the GEMV loops, one vector pass each on AVX-512 (the
 * library's baseline flags are -O3 without -march, so these loops would otherwise compile to SSE2 or
 * scalar code: at 2 threads they run on the calling thread alone, outside the parallel loops).
 *
 *   hwq_absmax_i32   max |v| of int32 activations (picks the table width of the weight-only kernels)
 *   hwq_add_i64      dst += src, int64 (a thread's partial outputs into the result)
 *   hwq_scale_out    y = ((double(acc) * w[m]) * s[j]) * g, float64 (the exact mode's output scaling)
 *   hwq_perm_out     a thread's int64 partial sums (64-column groups, lane order) into its (M, B) outputs
 *
 * Each has a portable C twin below it (the same operations in the same order: int64 -> double
 * conversion and IEEE products are exactly rounded, so the vector and scalar results are bit-equal; the
 * library is built with -ffp-contract=off, so no product is fused into another). */
#ifndef HWQ_GLUE_X86_H
#define HWQ_GLUE_X86_H

#define HWQ_T_GLUE __attribute__((target("avx2,fma,avx512f,avx512dq")))

static inline int hwq_glue_vec(void)
{
#if HWQ_X86
    return hwq_isa() >= HWQ_ISA_AVX512 && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

#if HWQ_X86
static HWQ_UNUSED HWQ_T_GLUE int64_t hwq_absmax_i32_512(const int32_t *v, int64_t n)
{
    __m512i mx = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        mx = _mm512_max_epu32(mx, _mm512_abs_epi32(_mm512_loadu_si512((const void *)(v + i))));
    if (i < n)
        mx = _mm512_max_epu32(mx, _mm512_abs_epi32(_mm512_maskz_loadu_epi32((__mmask16)((1u << (n - i)) - 1u),
                                                                           (const void *)(v + i))));
    /* |INT32_MIN| stays 2^31 as an unsigned lane */
    return (int64_t)_mm512_reduce_max_epu32(mx);
}

static HWQ_UNUSED HWQ_T_GLUE void hwq_add_i64_512(int64_t *dst, const int64_t *src, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm512_storeu_si512((void *)(dst + i), _mm512_add_epi64(_mm512_loadu_si512((const void *)(dst + i)),
                                                                _mm512_loadu_si512((const void *)(src + i))));
    for (; i < n; i++)
        dst[i] += src[i];
}

static HWQ_UNUSED HWQ_T_GLUE void
hwq_scale_out_512(const int64_t *acc, const float *w, double wmul,
                  const double *s, double g, int64_t m, int64_t nb, double *y)
{
    int64_t mm = 0;
    if (nb == 1) { /* 8 columns a vector */
        const __m512d sv = _mm512_set1_pd(s[0]), gv = _mm512_set1_pd(g), cv = _mm512_set1_pd(wmul);
        for (; mm + 8 <= m; mm += 8) {
            const __m512d ws = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(w + mm)), cv);
            const __m512d a = _mm512_cvtepi64_pd(_mm512_loadu_si512((const void *)(acc + mm)));
            _mm512_storeu_pd(y + mm, _mm512_mul_pd(_mm512_mul_pd(_mm512_mul_pd(a, ws), sv), gv));
        }
    } else { /* up to 8 activation vectors of one column a vector */
        const __m512d gv = _mm512_set1_pd(g);
        for (; mm < m; mm++) {
            const __m512d ws = _mm512_set1_pd((double)w[mm] * wmul);
            for (int64_t j = 0; j < nb; j += 8) {
                const __mmask8 k = nb - j >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (nb - j)) - 1u);
                const int64_t o = mm * nb + j;
                const __m512d a = _mm512_cvtepi64_pd(_mm512_maskz_loadu_epi64(k, (const void *)(acc + o)));
                const __m512d sv = _mm512_maskz_loadu_pd(k, s + j);
                _mm512_mask_storeu_pd(y + o, k, _mm512_mul_pd(_mm512_mul_pd(_mm512_mul_pd(a, ws), sv), gv));
            }
        }
    }
    for (; mm < m; mm++) { /* the tail of the one-vector case */
        const double ws = (double)w[mm] * wmul;
        y[mm] = (((double)acc[mm] * ws) * s[0]) * g;
    }
}

static HWQ_UNUSED HWQ_T_GLUE void
hwq_perm_out_512(int64_t *o, const int64_t *p, const int32_t *pos, int64_t mul,
                 int64_t m, int64_t nb)
{
    const __m512i mv = _mm512_set1_epi64(mul);
    const __m512i jv = _mm512_setr_epi64(0, 64, 128, 192, 256, 320, 384, 448);
    for (int64_t mm = 0; mm < m; mm++) {
        const int64_t base = (mm / 64) * nb * 64 + (pos ? pos[mm % 64] : mm % 64);
        for (int64_t j = 0; j < nb; j += 8) {
            const __mmask8 k = nb - j >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (nb - j)) - 1u);
            const __m512i idx = _mm512_add_epi64(jv, _mm512_set1_epi64(base + j * 64));
            const __m512i v = _mm512_mask_i64gather_epi64(_mm512_setzero_si512(), k, idx, (const void *)p, 8);
            int64_t *d = o + mm * nb + j;
            const __m512i old = _mm512_maskz_loadu_epi64(k, (const void *)d);
            const __m512i sum = _mm512_add_epi64(old, _mm512_mullo_epi64(v, mv));
            _mm512_mask_storeu_epi64((void *)d, k, sum);
        }
    }
}
#endif

/* o[m, j] += mul * p[((m / 64) * nb + j) * 64 + pos[m % 64]] (pos NULL: m % 64), for m < M, j < nb: the
 * partial sums of a 64-column group per activation vector, in the loop's lane order, into (M, nb) */
static HWQ_UNUSED void hwq_perm_out(int64_t *o, const int64_t *p, const int32_t *pos, int64_t mul, int64_t m,
                                     int64_t nb)
{
#if HWQ_X86
    if (hwq_glue_vec()) {
        hwq_perm_out_512(o, p, pos, mul, m, nb);
        return;
    }
#endif
    for (int64_t mm = 0; mm < m; mm++)
        for (int64_t j = 0; j < nb; j++)
            o[mm * nb + j] += mul * p[((mm / 64) * nb + j) * 64 + (pos ? pos[mm % 64] : mm % 64)];
}

static HWQ_UNUSED int64_t hwq_absmax_i32(const int32_t *v, int64_t n)
{
#if HWQ_X86
    if (hwq_glue_vec())
        return hwq_absmax_i32_512(v, n);
#endif
    int64_t mx = 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t a = v[i] < 0 ? -(int64_t)v[i] : (int64_t)v[i];
        mx = a > mx ? a : mx;
    }
    return mx;
}

static HWQ_UNUSED void hwq_add_i64(int64_t *dst, const int64_t *src, int64_t n)
{
#if HWQ_X86
    if (hwq_glue_vec()) {
        hwq_add_i64_512(dst, src, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* y[m, j] = ((double(acc[m, j]) * (double(w[m]) * wmul)) * s[j]) * g for m < M, j < nb (row-major (M, nb)) */
static HWQ_UNUSED void hwq_scale_out(const int64_t *acc, const float *w, double wmul, const double *s,
                                     double g, int64_t m, int64_t nb, double *y)
{
#if HWQ_X86
    if (hwq_glue_vec()) {
        hwq_scale_out_512(acc, w, wmul, s, g, m, nb, y);
        return;
    }
#endif
    for (int64_t mm = 0; mm < m; mm++) {
        const double ws = (double)w[mm] * wmul;
        for (int64_t j = 0; j < nb; j++)
            y[mm * nb + j] = (((double)acc[mm * nb + j] * ws) * s[j]) * g;
    }
}

#endif /* HWQ_GLUE_X86_H */
