/*
 * hwq_acts_x86.h -- the exact mode's activation front end on AVX-512F: hwq_quantize and hwq_rotate in one
 * pass, x (B, K) float64 -> x_int = clip(floor(x / s + 1/2), -ACT_MAX, ACT_MAX) -> x_rot = H diag(signs)
 * x_int (int32, segments of HWQ_H).  Included by hwq_kernels_c.h (x86 only); used by the exact GEMV when
 * the ISA is AVX-512 or better and HWQ_H is a multiple of 16.
 *
 * Bit-equal to the scalar pair: the same IEEE double operations per element (one division by s, + 0.5,
 * floor; -ffp-contract=off keeps them apart), the same max |x| (vmaxpd keeps the running maximum when x is
 * NaN, as the scalar `a > amax` does), the same sign hash (hwq_sign, 16 rows at a time), and integer
 * butterflies, whose int32 sums (|x_rot| <= ACT_MAX h) do not depend on the order.  The scalar pair took
 * 10-20% of a batch-4/8 exact GEMV at 4096x4096 (floor() is a libm call at the baseline ISA).
 */
#ifndef HWQ_ACTS_X86_H
#define HWQ_ACTS_X86_H

#define HWQ_T_ACTS __attribute__((target("avx2,fma,avx512f")))

/* In-register butterfly stage m (1, 2, 4, 8) of 16 int32 lanes: lane l gets x_l + x_(l+m) when bit m of l
 * is clear, else x_(l-m) - x_l (hwq_fwht_i32). */
static inline __attribute__((always_inline)) HWQ_T_ACTS __m512i hwq_acts_bfly(__m512i v, int m)
{
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i mv = _mm512_set1_epi32(m);
    const __m512i sw = _mm512_permutexvar_epi32(_mm512_xor_si512(lane, mv), v);
    const __mmask16 hi = _mm512_test_epi32_mask(lane, mv);
    return _mm512_mask_sub_epi32(_mm512_add_epi32(v, sw), hi, sw, v);
}

/* x_int of 8 doubles at v (the first n of them; the rest 0) as int32. */
static inline __attribute__((always_inline)) HWQ_T_ACTS __m256i hwq_acts_q8(const double *v, int n, __m512d s)
{
    const __m512d lim = _mm512_set1_pd((double)HWQ_ACT_MAX);
    const __m512d a = _mm512_maskz_loadu_pd((__mmask8)((1u << n) - 1u), (const void *)v);
    __m512d q = _mm512_roundscale_pd(_mm512_add_pd(_mm512_div_pd(a, s), _mm512_set1_pd(0.5)),
                                     _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    q = _mm512_max_pd(_mm512_min_pd(q, lim), _mm512_sub_pd(_mm512_setzero_pd(), lim));
    return _mm512_cvtpd_epi32(q);
}

static HWQ_T_ACTS void hwq_acts_avx512(const double *x, int64_t k, int64_t b, int32_t *xr, double *sx)
{
    const uint32_t h0 = hwq_fmix32(HWQ_SIGN_SEED ^ HWQ_SEED_XOR);
    const uint32_t h1 = hwq_fmix32(h0 ^ (HWQ_STREAM_SIGN * HWQ_WORD_MUL));
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    for (int64_t j = 0; j < b; j++) {
        const double *v = x + j * k;
        int32_t *r = xr + j * k;
        __m512d mx = _mm512_setzero_pd();
        for (int64_t i = 0; i < k; i += 8) {
            const int n = k - i < 8 ? (int)(k - i) : 8;
            const __mmask8 km = (__mmask8)((1u << n) - 1u);
            const __m512d a = _mm512_abs_pd(_mm512_maskz_loadu_pd(km, (const void *)(v + i)));
            mx = _mm512_max_pd(a, mx); /* a NaN lane keeps mx */
        }
        const double amax = _mm512_reduce_max_pd(mx);
        const double s = amax > 0.0 ? amax / (double)HWQ_ACT_MAX : 1.0;
        sx[j] = s;
        const __m512d sv = _mm512_set1_pd(s);
        for (int64_t i = 0; i < k; i += 16) { /* k is a multiple of HWQ_H, so of 16 */
            __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(hwq_acts_q8(v + i, 8, sv)),
                                           hwq_acts_q8(v + i + 8, 8, sv), 1);
            /* hwq_sign of rows i..i+15: -1 where the top bit of the hash is set */
            __m512i h = _mm512_xor_si512(_mm512_set1_epi32((int)h1),
                                         _mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32((int)i)),
                                                            _mm512_set1_epi32((int)HWQ_WORD_MUL)));
            h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
            h = _mm512_mullo_epi32(h, _mm512_set1_epi32((int)0x85EBCA6Bu));
            h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 13));
            h = _mm512_mullo_epi32(h, _mm512_set1_epi32((int)0xC2B2AE35u));
            h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
            const __mmask16 neg = _mm512_cmplt_epi32_mask(h, _mm512_setzero_si512());
            q = _mm512_mask_sub_epi32(q, neg, _mm512_setzero_si512(), q);
            for (int m = 1; m < 16 && m < HWQ_H; m *= 2)
                q = hwq_acts_bfly(q, m);
            _mm512_storeu_si512((void *)(r + i), q);
        }
        /* butterfly stages m >= 16 of each segment, 16 lanes at a time */
        for (int64_t s0 = 0; s0 < k; s0 += HWQ_H)
            for (int64_t m = 16; m < HWQ_H; m *= 2)
                for (int64_t i = s0; i < s0 + HWQ_H; i += 2 * m)
                    for (int64_t t = i; t < i + m; t += 16) {
                        const __m512i a = _mm512_loadu_si512((const void *)(r + t));
                        const __m512i c = _mm512_loadu_si512((const void *)(r + t + m));
                        _mm512_storeu_si512((void *)(r + t), _mm512_add_epi32(a, c));
                        _mm512_storeu_si512((void *)(r + t + m), _mm512_sub_epi32(a, c));
                    }
    }
}

#endif /* HWQ_ACTS_X86_H */
