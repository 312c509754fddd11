/*
 * hwq_simd_x86.h -- AVX2 / AVX-512 tile kernels of the table path (included by hwq_kernels_c.h).
 *
 * A group is 16 consecutive blocks of one weight column (b0 is a multiple of 16).  Their table
 * indices bb * LNC + T * NC + r are built from the packed container with vector shifts when the
 * code / ladder fields are byte-aligned per group (code bits 8, or <= 4, ladder bits <= 4), otherwise
 * lane by lane.  One gather per 8 (AVX2) or 16 (AVX-512) blocks reads the tile table; integer lanes
 * are widened into int64 every `lane_limit` gathers so that no int32 lane can overflow (the config
 * derives lane_limit = floor((2^31 - 1) / max |table entry|)).
 */
#ifndef HWQ_SIMD_X86_H
#define HWQ_SIMD_X86_H

#define HWQ_T_AVX2 __attribute__((target("avx2,fma")))
#define HWQ_T_AVX512 __attribute__((target("avx2,fma,avx512f")))

/* 8 field values of width w starting at (aligned) block b of a packed row. */
static inline HWQ_T_AVX2 __m256i hwq_field8(const uint8_t *row, int64_t b, int w)
{
    if (w == 0)
        return _mm256_setzero_si256();
    if (w == 8)
        return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(row + b)));
    if (w <= 4) {
        uint32_t v = 0;
        memcpy(&v, row + (b * w) / 8, (size_t)w);
        const __m256i sh = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(w));
        return _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)v), sh),
                                _mm256_set1_epi32((1 << w) - 1));
    }
    int32_t tmp[8];
    for (int i = 0; i < 8; i++)
        tmp[i] = (int32_t)hwq_get_bits(row, (b + i) * w, w);
    return _mm256_loadu_si256((const __m256i *)(const void *)tmp);
}

static inline HWQ_T_AVX2 __m256i hwq_idx8(const uint8_t *crow, const uint8_t *lrow, int64_t b, __m256i lane_off)
{
    __m256i r = hwq_field8(crow, b, HWQ_CB);
    __m256i t = hwq_field8(lrow, b, HWQ_LB);
    return _mm256_add_epi32(_mm256_add_epi32(r, lane_off), _mm256_mullo_epi32(t, _mm256_set1_epi32(HWQ_NC)));
}

static inline HWQ_T_AVX2 void hwq_flush8(__m256i *v, __m256i *lo, __m256i *hi)
{
    *lo = _mm256_add_epi64(*lo, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(*v)));
    *hi = _mm256_add_epi64(*hi, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(*v, 1)));
    *v = _mm256_setzero_si256();
}

static inline HWQ_T_AVX2 int64_t hwq_hsum64(__m256i a)
{
    int64_t t[4];
    _mm256_storeu_si256((__m256i *)(void *)t, a);
    return t[0] + t[1] + t[2] + t[3];
}

static inline HWQ_T_AVX2 float hwq_hsumf(__m256 a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

#define HWQ_MAXB 64

static HWQ_T_AVX2 void hwq_tile_avx2(int is_float, const void *tab, int64_t jstride, int64_t nbatch,
                                    const uint8_t *codes, int64_t cs, const uint8_t *ladder, int64_t ls,
                                    int64_t m0, int64_t m1, int64_t b0, int64_t ng, int lane_limit, void *out)
{
    const __m256i off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32((int)HWQ_LNC));
    const int64_t step8 = 8 * HWQ_LNC;
    for (int64_t m = m0; m < m1; m++) {
        const uint8_t *crow = codes + m * cs, *lrow = ladder + m * ls;
        for (int64_t j0 = 0; j0 < nbatch; j0 += 4) {
            const int64_t nj = nbatch - j0 < 4 ? nbatch - j0 : 4;
            if (is_float) {
                __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
                for (int64_t g = 0; g < 2 * ng; g++) {
                    const __m256i idx = hwq_idx8(crow, lrow, b0 + 8 * g, off);
                    for (int64_t jj = 0; jj < nj; jj++) {
                        const float *base = (const float *)tab + (j0 + jj) * jstride + g * step8;
                        a[jj] = _mm256_add_ps(a[jj], _mm256_i32gather_ps(base, idx, 4));
                    }
                }
                for (int64_t jj = 0; jj < nj; jj++)
                    ((float *)out)[m * nbatch + j0 + jj] += hwq_hsumf(a[jj]);
            } else {
                __m256i v[4], lo[4], hi[4];
                for (int jj = 0; jj < 4; jj++)
                    v[jj] = lo[jj] = hi[jj] = _mm256_setzero_si256();
                int cnt = 0;
                for (int64_t g = 0; g < 2 * ng; g++) {
                    const __m256i idx = hwq_idx8(crow, lrow, b0 + 8 * g, off);
                    for (int64_t jj = 0; jj < nj; jj++) {
                        const int *base = (const int *)tab + (j0 + jj) * jstride + g * step8;
                        v[jj] = _mm256_add_epi32(v[jj], _mm256_i32gather_epi32(base, idx, 4));
                    }
                    if (++cnt == lane_limit) {
                        for (int64_t jj = 0; jj < nj; jj++)
                            hwq_flush8(&v[jj], &lo[jj], &hi[jj]);
                        cnt = 0;
                    }
                }
                for (int64_t jj = 0; jj < nj; jj++) {
                    hwq_flush8(&v[jj], &lo[jj], &hi[jj]);
                    ((int64_t *)out)[m * nbatch + j0 + jj] += hwq_hsum64(_mm256_add_epi64(lo[jj], hi[jj]));
                }
            }
        }
    }
}

/* 16 field values of width w starting at (aligned) block b. */
static inline HWQ_T_AVX512 __m512i hwq_field16(const uint8_t *row, int64_t b, int w)
{
    if (w == 0)
        return _mm512_setzero_si512();
    if (w == 8)
        return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(row + b)));
    if (w <= 2) {
        uint32_t v = 0;
        memcpy(&v, row + (b * w) / 8, (size_t)(2 * w));
        const __m512i sh = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(w));
        return _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int)v), sh),
                                _mm512_set1_epi32((1 << w) - 1));
    }
    return _mm512_inserti64x4(_mm512_castsi256_si512(hwq_field8(row, b, w)), hwq_field8(row, b + 8, w), 1);
}

static HWQ_T_AVX512 void hwq_tile_avx512(int is_float, const void *tab, int64_t jstride, int64_t nbatch,
                                        const uint8_t *codes, int64_t cs, const uint8_t *ladder, int64_t ls,
                                        int64_t m0, int64_t m1, int64_t b0, int64_t ng, int lane_limit,
                                        void *out)
{
    const __m512i off = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)HWQ_LNC));
    const __m512i ncv = _mm512_set1_epi32(HWQ_NC);
    const int64_t step16 = 16 * HWQ_LNC;
    for (int64_t m = m0; m < m1; m++) {
        const uint8_t *crow = codes + m * cs, *lrow = ladder + m * ls;
        for (int64_t j0 = 0; j0 < nbatch; j0 += 4) {
            const int64_t nj = nbatch - j0 < 4 ? nbatch - j0 : 4;
            if (is_float) {
                __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
                for (int64_t g = 0; g < ng; g++) {
                    const int64_t b = b0 + 16 * g;
                    const __m512i idx = _mm512_add_epi32(
                        _mm512_add_epi32(hwq_field16(crow, b, HWQ_CB), off),
                        _mm512_mullo_epi32(hwq_field16(lrow, b, HWQ_LB), ncv));
                    for (int64_t jj = 0; jj < nj; jj++) {
                        const float *base = (const float *)tab + (j0 + jj) * jstride + g * step16;
                        a[jj] = _mm512_add_ps(a[jj], _mm512_i32gather_ps(idx, base, 4));
                    }
                }
                for (int64_t jj = 0; jj < nj; jj++)
                    ((float *)out)[m * nbatch + j0 + jj] += _mm512_reduce_add_ps(a[jj]);
            } else {
                __m512i v[4], s64[4];
                for (int jj = 0; jj < 4; jj++)
                    v[jj] = s64[jj] = _mm512_setzero_si512();
                int cnt = 0;
                for (int64_t g = 0; g < ng; g++) {
                    const int64_t b = b0 + 16 * g;
                    const __m512i idx = _mm512_add_epi32(
                        _mm512_add_epi32(hwq_field16(crow, b, HWQ_CB), off),
                        _mm512_mullo_epi32(hwq_field16(lrow, b, HWQ_LB), ncv));
                    for (int64_t jj = 0; jj < nj; jj++) {
                        const int *base = (const int *)tab + (j0 + jj) * jstride + g * step16;
                        v[jj] = _mm512_add_epi32(v[jj], _mm512_i32gather_epi32(idx, base, 4));
                    }
                    if (++cnt == lane_limit) {
                        for (int64_t jj = 0; jj < nj; jj++) {
                            s64[jj] = _mm512_add_epi64(s64[jj], _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v[jj])));
                            s64[jj] = _mm512_add_epi64(s64[jj], _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v[jj], 1)));
                            v[jj] = _mm512_setzero_si512();
                        }
                        cnt = 0;
                    }
                }
                for (int64_t jj = 0; jj < nj; jj++) {
                    s64[jj] = _mm512_add_epi64(s64[jj], _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v[jj])));
                    s64[jj] = _mm512_add_epi64(s64[jj], _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v[jj], 1)));
                    ((int64_t *)out)[m * nbatch + j0 + jj] += _mm512_reduce_add_epi64(s64[jj]);
                }
            }
        }
    }
}

/* Runs the SIMD tile over the full 16-block groups; returns the first block left for the scalar tail. */
static int64_t hwq_tile_simd(int isa, int is_float, const void *tab, int64_t jstride, int64_t nbatch,
                             const uint8_t *codes, int64_t cs, const uint8_t *ladder, int64_t ls, int64_t m0,
                             int64_t m1, int64_t b0, int64_t nbt, int lane_limit, void *out)
{
    const int64_t ng = nbt / 16;
    if (ng == 0)
        return b0;
    if (isa >= HWQ_ISA_AVX512)
        hwq_tile_avx512(is_float, tab, jstride, nbatch, codes, cs, ladder, ls, m0, m1, b0, ng, lane_limit, out);
    else
        hwq_tile_avx2(is_float, tab, jstride, nbatch, codes, cs, ladder, ls, m0, m1, b0, ng, lane_limit, out);
    return b0 + 16 * ng;
}

#endif /* HWQ_SIMD_X86_H */
