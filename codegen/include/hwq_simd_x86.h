/*
 * hwq_simd_x86.h -- AVX2 / AVX-512 / AVX-512 VBMI group loops of the table path (included by
 * hwq_kernels_c.h).
 *
 * Vector lanes are columns: a record of the kernel layout (hwq_pack) gives the codes of block b of 64
 * columns and the bit planes of their ladder indices T.  Two ways to look the table entries up:
 *
 *   gather (AVX2, AVX-512): per 16 (8) columns one gather of <c_code, x_b> from the
 *       L1-resident int32/float table of block b (sub-tiles of HWQ_TAB_BYTES_L1);
 *   byte planes (AVX-512 VBMI, code_bits <= 8, |entry| < 2^23; the fast mode rounds its float entries
 *       to fixed point with 2^22 as the largest possible |entry| of the activation vector): the table of
 *       block b is kept as 3 byte planes of 256 entries (2 when every entry of the GEMV is within
 *       +-2^15 - 1, the usual case for real activations); vpermi2b looks up 64 columns per instruction
 *       (two 128-byte halves selected by code bit 7; the VNNI loop on Intel: four vpermb of 64-entry
 *       quarters, hwq_plane_bytes4), in-lane byte/word unpacks put the 3 bytes of each
 *       column into the upper 24 bits of an int32 lane (the layout's column order, hwq_col_pos, makes
 *       that lane order natural) and an arithmetic shift sign-extends it.
 *
 * Then, in the gather loops, one masked add per ladder index t into the int32 (or float) partial sums of
 * (column, t), the ladder multipliers m_t applied once per column when the partial sums are flushed
 * into int64 (hwq_flush).  The byte-plane loops instead keep the entries as int16 words (hwq_col_pos
 * puts column 16 S + l in word 2 l + (S & 1) of word vector S >> 1) and either add them into two
 * ladder slots (hwq_groups_vbmi2) or multiply them by m_T / mdiv while summing (vpdpwssd,
 * hwq_groups_vnni).
 */
#ifndef HWQ_SIMD_X86_H
#define HWQ_SIMD_X86_H

#define HWQ_T_AVX2 __attribute__((target("avx2,fma")))
#define HWQ_T_AVX512 __attribute__((target("avx2,fma,avx512f")))
#define HWQ_T_VBMI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vbmi")))
/* acc += vpdpwssd(a, b) as inline asm: gcc 12 copies the accumulator to a fresh register and back around
 * each _mm512_dpwssd_epi32 in these loops (two extra vector moves per multiply-add). */
#define HWQ_DPWSSD(acc, a, b) __asm__("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b))

/* Codes of columns 16q..16q+15 of a record as int32 lanes (undoes hwq_col_pos; the fallback gather
 * loops only, the byte-plane loops read the record as it is). */
static inline HWQ_T_AVX512 __m512i hwq_codes16(const uint8_t *rec, int q)
{
#if HWQ_CB <= 8
    uint8_t b[16];
    for (int l = 0; l < 16; l++)
        b[l] = rec[hwq_col_pos(16 * q + l)];
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)b));
#else
    return _mm512_and_si512(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(rec + 32 * q))),
                            _mm512_set1_epi32((1 << HWQ_CB) - 1));
#endif
}

/* One pass over blocks [0, ns) of the 16 columns q of a group, for NJ (compile-time) activation
 * vectors from j0: the L * NJ accumulators stay in registers. */
#define HWQ_AVX512_PASS(NAME, NJ, VT, LOAD, STORE, GATHER, MADD, ET)                                       \
    static inline HWQ_T_AVX512 void NAME(const uint8_t *grec, int q, int64_t ns, const ET *tab,            \
                                         int64_t j0, ET *ap, int64_t jstride)                              \
    {                                                                                                       \
        VT a[NJ][HWQ_L];                                                                                    \
        for (int jj = 0; jj < NJ; jj++)                                                                     \
            for (int t = 0; t < HWQ_L; t++)                                                                 \
                a[jj][t] = LOAD(ap + jj * jstride + t * HWQ_GL);                                            \
        for (int64_t bb = 0; bb < ns; bb++) {                                                               \
            const uint8_t *rec = grec + bb * HWQ_REC;                                                       \
            const __m512i idx = hwq_codes16(rec, q);                                                        \
            __mmask16 mk[HWQ_L];                                                                            \
            for (int t = 0; t < HWQ_L; t++)                                                                 \
                mk[t] = (__mmask16)(hwq_tmask(rec, t) >> (16 * q));                                         \
            for (int jj = 0; jj < NJ; jj++) {                                                               \
                const VT d = GATHER(idx, tab + ((j0 + jj) * ns + bb) * HWQ_NCP, 4);                         \
                for (int t = 0; t < HWQ_L; t++)                                                             \
                    a[jj][t] = MADD(a[jj][t], mk[t], a[jj][t], d);                                          \
            }                                                                                               \
        }                                                                                                   \
        for (int jj = 0; jj < NJ; jj++)                                                                     \
            for (int t = 0; t < HWQ_L; t++)                                                                 \
                STORE(ap + jj * jstride + t * HWQ_GL, a[jj][t]);                                            \
    }

#define HWQ_LDI(p) _mm512_loadu_si512((const void *)(p))
#define HWQ_STI(p, v) _mm512_storeu_si512((void *)(p), (v))
HWQ_AVX512_PASS(hwq_pass512_i1, 1, __m512i, HWQ_LDI, HWQ_STI, _mm512_i32gather_epi32, _mm512_mask_add_epi32, int32_t)
HWQ_AVX512_PASS(hwq_pass512_i2, 2, __m512i, HWQ_LDI, HWQ_STI, _mm512_i32gather_epi32, _mm512_mask_add_epi32, int32_t)
HWQ_AVX512_PASS(hwq_pass512_f1, 1, __m512, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_i32gather_ps, _mm512_mask_add_ps, float)
HWQ_AVX512_PASS(hwq_pass512_f2, 2, __m512, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_i32gather_ps, _mm512_mask_add_ps, float)

static HWQ_T_AVX512 void hwq_groups_avx512(int is_float, const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt,
                                          int64_t s0, int64_t ns, const void *tab, int64_t nbatch,
                                          void *acc)
{
    const int64_t js = HWQ_NSLOT * HWQ_GL;
    for (int64_t g = g0; g < ng; g++) {
        const uint8_t *grec = tile + (g * nbt + s0) * HWQ_REC;
        _mm_prefetch((const char *)(grec + nbt * HWQ_REC), _MM_HINT_T0);
        for (int q = 0; q < HWQ_GL / 16; q++) {
            for (int64_t j0 = 0; j0 < nbatch; j0 += 2) {
                const int64_t ao = (g * nbatch + j0) * js + 16 * q;
                const int two = nbatch - j0 >= 2;
                if (is_float) {
                    if (two)
                        hwq_pass512_f2(grec, q, ns, (const float *)tab, j0, (float *)acc + ao, js);
                    else
                        hwq_pass512_f1(grec, q, ns, (const float *)tab, j0, (float *)acc + ao, js);
                } else {
                    if (two)
                        hwq_pass512_i2(grec, q, ns, (const int32_t *)tab, j0, (int32_t *)acc + ao, js);
                    else
                        hwq_pass512_i1(grec, q, ns, (const int32_t *)tab, j0, (int32_t *)acc + ao, js);
                }
            }
        }
    }
}

static inline HWQ_T_AVX2 __m256i hwq_codes8(const uint8_t *rec, int h)
{
#if HWQ_CB <= 8
    uint8_t b[16] = {0};
    for (int l = 0; l < 8; l++)
        b[l] = rec[hwq_col_pos(8 * h + l)];
    return _mm256_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)b));
#else
    return _mm256_and_si256(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(rec + 16 * h))),
                            _mm256_set1_epi32((1 << HWQ_CB) - 1));
#endif
}

/* 8-lane all-ones/zero vector mask from 8 bits. */
static inline HWQ_T_AVX2 __m256i hwq_vmask8(uint32_t bits)
{
    const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)bits), lane), lane);
}

static HWQ_T_AVX2 void hwq_groups_avx2(int is_float, const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt,
                                      int64_t s0, int64_t ns, const void *tab, int64_t nbatch, void *acc)
{
    for (int64_t g = g0; g < ng; g++) {
        const uint8_t *grec = tile + (g * nbt + s0) * HWQ_REC;
        _mm_prefetch((const char *)(grec + nbt * HWQ_REC), _MM_HINT_T0);
        for (int64_t j = 0; j < nbatch; j++) {
            for (int h = 0; h < HWQ_GL / 8; h++) {
                const int64_t ao = ((g * nbatch + j) * HWQ_NSLOT) * HWQ_GL + 8 * h;
                __m256i a[HWQ_L];
                for (int t = 0; t < HWQ_L; t++)
                    a[t] = _mm256_loadu_si256((const __m256i *)(const void *)((const int32_t *)acc + ao
                                                                                + t * HWQ_GL));
                for (int64_t bb = 0; bb < ns; bb++) {
                    const uint8_t *rec = grec + bb * HWQ_REC;
                    const __m256i idx = hwq_codes8(rec, h);
                    const int64_t to = (j * ns + bb) * HWQ_NCP;
                    const __m256i d = is_float
                        ? _mm256_castps_si256(_mm256_i32gather_ps((const float *)tab + to, idx, 4))
                        : _mm256_i32gather_epi32((const int *)tab + to, idx, 4);
                    for (int t = 0; t < HWQ_L; t++) {
                        const uint32_t bits = (uint32_t)(hwq_tmask(rec, t) >> (8 * h)) & 0xFFu;
                        const __m256i dm = _mm256_and_si256(d, hwq_vmask8(bits));
                        a[t] = is_float ? _mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(a[t]),
                                                                            _mm256_castsi256_ps(dm)))
                                        : _mm256_add_epi32(a[t], dm);
                    }
                }
                for (int t = 0; t < HWQ_L; t++)
                    _mm256_storeu_si256((__m256i *)(void *)((int32_t *)acc + ao + t * HWQ_GL), a[t]);
            }
        }
    }
}

/* hwq_build_tables compiled for AVX-512 (the table loops vectorise over the codewords). */
static HWQ_T_AVX512 void hwq_build_tables_avx512(int kind, void *tab, const int32_t *cbt, const void *act,
                                                const uint8_t *tx, int64_t k, int64_t nbatch, int64_t bs,
                                                int64_t ns)
{
    hwq_build_tables(kind, tab, cbt, act, tx, k, nbatch, bs, ns);
}

/* Software prefetch distance of the record stream (bytes ahead; the layout is read front to back). */
#ifndef HWQ_PF_BYTES
#define HWQ_PF_BYTES 4096
#endif
/* The AVX2 loops' two-slot ladder multipliers (hwq_avx2_wo.h, hwq_avx2_dn.h): dword i = m_T / mdiv for
 * T = i & 3 (T = 2 h + l: (1 + h) f_l, f_l = m_l / mdiv); vpermd reads it by the low 3 bits of a shifted
 * ladder dword, so it repeats every 4. */
static inline HWQ_T_AVX2 __m256i hwq_ladder2_mv(int32_t f0, int32_t f1)
{
    int32_t fm[8];
    for (int i = 0; i < 8; i++)
        fm[i] = ((i & 1) ? f1 : f0) << ((i >> 1) & 1);
    return _mm256_loadu_si256((const __m256i *)(const void *)fm);
}

/* d[0..7] (int64 partial sums) += the 8 int32 lanes of v */
static inline __attribute__((always_inline)) HWQ_T_AVX2 void hwq_add_i32_to_i64(int64_t *d, __m256i v)
{
    __m256i *p = (__m256i *)(void *)d;
    _mm256_storeu_si256(p, _mm256_add_epi64(_mm256_loadu_si256(p),
                                            _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v))));
    _mm256_storeu_si256(p + 1, _mm256_add_epi64(_mm256_loadu_si256(p + 1),
                                                _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1))));
}
#if HWQ_VBMI
/* Tables of one sub-tile as byte planes: pl[((j * ns + bb) * 3 + p) * 256 + r] = byte p of entry r
 * (entries r >= NC are 0); tab is the int32 scratch of hwq_build_tables. */
static HWQ_T_VBMI void hwq_build_planes_vbmi(int kind, void *tab, const int32_t *cbt, const void *act,
                                            const uint8_t *tx, int64_t k, int64_t nbatch, int64_t bs, int64_t ns,
                                            const float *scale, uint8_t *pl)
{
    hwq_build_tables(kind, tab, cbt, act, tx, k, nbatch, bs, ns);
    int32_t *t32 = (int32_t *)tab;
    if (kind == HWQ_T_FAST) /* fast mode: float entries -> fixed point round(entry * scale_j) in place */
        for (int64_t i = 0; i < nbatch * ns; i++) {
            const __m512 sc = _mm512_set1_ps(scale[i / ns]);
            for (int r0 = 0; r0 < HWQ_NC; r0 += 16) {
                const __mmask16 live = r0 + 16 <= HWQ_NC ? (__mmask16)0xFFFF : (__mmask16)((1u << (HWQ_NC - r0)) - 1u);
                float *f = (float *)tab + i * HWQ_NCP + r0;
                const __m512 v = _mm512_maskz_loadu_ps(live, (const void *)f);
                _mm512_mask_storeu_epi32((void *)f, live, _mm512_cvtps_epi32(_mm512_mul_ps(v, sc)));
            }
        }
    for (int64_t i = 0; i < nbatch * ns; i++) {
        for (int r0 = 0; r0 < 256; r0 += 16) {
            __m512i v = _mm512_setzero_si512();
            if (r0 < HWQ_NC) {
                const __mmask16 live = r0 + 16 <= HWQ_NC ? (__mmask16)0xFFFF
                                                         : (__mmask16)((1u << (HWQ_NC - r0)) - 1u);
                v = _mm512_maskz_loadu_epi32(live, (const void *)(t32 + i * HWQ_NCP + r0));
            }
            for (int p = 0; p < 3; p++)
                _mm_storeu_si128((__m128i *)(void *)(pl + (i * 3 + p) * 256 + r0),
                                 _mm512_cvtepi32_epi8(_mm512_srli_epi32(v, 8 * p)));
        }
    }
}

/* One byte plane of the tables (256 bytes: one byte of each of up to 256 entries) looked up by the
 * 64 codes c; codes >= 128 take the upper half (k7 = bit 7 of each code). */
static inline __attribute__((always_inline)) HWQ_T_VBMI __m512i
hwq_plane_bytes(const uint8_t *tp, const __m512i c, const __mmask64 k7)
{
    const __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512((const void *)tp), c,
                                                _mm512_loadu_si512((const void *)(tp + 64)));
#if HWQ_NC > 128
    const __m512i hi = _mm512_permutex2var_epi8(_mm512_loadu_si512((const void *)(tp + 128)), c,
                                                _mm512_loadu_si512((const void *)(tp + 192)));
    return _mm512_mask_blend_epi8(k7, lo, hi);
#else
    (void)k7;
    return lo;
#endif
}

/* Byte-plane lookup of the table entries of one record: dq[q] lane l = entry of column 16q + l (int32). */
static inline __attribute__((always_inline)) HWQ_T_VBMI void hwq_vbmi_lookup(const int np, const uint8_t *rec,
                                                                              const uint8_t *tb, __m512i dq[4])
{
    const __m512i zero = _mm512_setzero_si512();
    const __m512i c = _mm512_loadu_si512((const void *)rec);
    __m512i pb[3];
    const __mmask64 k7 = _mm512_movepi8_mask(c); /* unused (and dropped) when HWQ_NC <= 128 */
    pb[2] = zero;
    for (int p = 0; p < np; p++)
        pb[p] = hwq_plane_bytes(tb + p * 256, c, k7);
    /* int16 words: column 16 S + l is word 2 l + (S & 1) of wv[S >> 1] (hwq_col_pos) */
    const __m512i wv[2] = {_mm512_unpacklo_epi8(pb[0], pb[1]), _mm512_unpackhi_epi8(pb[0], pb[1])};
    if (np == 3) { /* 24-bit entries: byte 2 (pb[2]) joins as the third byte, then sign-extend from bit 23 */
        const __m512i w2[2] = {_mm512_unpacklo_epi8(pb[2], zero), _mm512_unpackhi_epi8(pb[2], zero)};
        for (int h = 0; h < 2; h++) {
            const __m512i ev = _mm512_mask_blend_epi16(0xAAAAAAAAu, wv[h], _mm512_slli_epi32(w2[h], 16));
            const __m512i od = _mm512_mask_blend_epi16(0x55555555u, w2[h], _mm512_srli_epi32(wv[h], 16));
            dq[2 * h] = _mm512_srai_epi32(_mm512_slli_epi32(ev, 8), 8);
            dq[2 * h + 1] = _mm512_srai_epi32(_mm512_slli_epi32(od, 8), 8);
        }
    } else {
        for (int h = 0; h < 2; h++) {
            dq[2 * h] = _mm512_srai_epi32(_mm512_slli_epi32(wv[h], 16), 16);
            dq[2 * h + 1] = _mm512_srai_epi32(wv[h], 16);
        }
    }
}

/* Prefetch distance of a sub-tile pass (batch >= 2), in column groups: such a pass reads ns records of a
 * group, then jumps to the next group, so the stream ahead is some groups ahead, not some bytes. */
#ifndef HWQ_PF_GROUPS
#define HWQ_PF_GROUPS 3
#endif
/* 1: prefetch both cache lines an 80-byte record can straddle */
#ifndef HWQ_PF2
#define HWQ_PF2 1
#endif

/* Weight-only tables as 2 byte planes straight from int16 arithmetic (np = 2 only): every entry
 * <c_r, x_b> is then within +-32767 (sumc * max|x| <= 32767), so computing it mod 2^16 (vpmullw, vpaddw;
 * partial sums may wrap) gives it exactly.  cbt16[i * 256 + r] = coordinate i of codeword r (0 for
 * r >= NC); one vpermi2b per 64 entries splits the words into the low and high byte planes. */
static HWQ_T_VBMI void hwq_build_planes16_vbmi(const int16_t *cbt16, const int32_t *xr, int64_t k, int64_t nbatch,
                                              int64_t bs, int64_t ns, uint8_t *pl, int64_t pstride)
{
    __m512i ev, od; /* byte indices 0, 2, ..., 126 (low bytes of 64 words) and 1, 3, ..., 127 (high bytes) */
    {
        uint8_t e[64], o[64];
        for (int i = 0; i < 64; i++) {
            e[i] = (uint8_t)(2 * i);
            o[i] = (uint8_t)(2 * i + 1);
        }
        ev = _mm512_loadu_si512((const void *)e);
        od = _mm512_loadu_si512((const void *)o);
    }
    for (int64_t j = 0; j < nbatch; j++) {
        for (int64_t bb = 0; bb < ns; bb++) {
            const int32_t *xs = xr + j * k + (bs + bb) * HWQ_D;
            uint8_t *o = pl + (j * ns + bb) * pstride;
            __m512i xv[HWQ_D];
            for (int i = 0; i < HWQ_D; i++)
                xv[i] = _mm512_set1_epi16((short)xs[i]);
            for (int v = 0; v < 256; v += 64) {
                __m512i w0 = _mm512_setzero_si512(), w1 = _mm512_setzero_si512();
                for (int i = 0; i < HWQ_D; i++) {
                    const int16_t *cr = cbt16 + i * 256 + v;
                    w0 = _mm512_add_epi16(w0, _mm512_mullo_epi16(_mm512_loadu_si512((const void *)cr), xv[i]));
                    w1 = _mm512_add_epi16(w1, _mm512_mullo_epi16(_mm512_loadu_si512((const void *)(cr + 32)), xv[i]));
                }
                _mm512_storeu_si512((void *)(o + v), _mm512_permutex2var_epi8(w0, ev, w1));
                _mm512_storeu_si512((void *)(o + 256 + v), _mm512_permutex2var_epi8(w0, od, w1));
            }
        }
    }
}

/* Integer group loop with vpermi2b table lookups (64 columns per lookup).  Unlike the other loops it
 * keeps subset sums (slot u: columns whose T contains the bits of u; hwq_flush with subsets = 1):
 * the masks come straight from the ladder bit planes, one masked add per slot. */
static inline __attribute__((always_inline)) HWQ_T_VBMI void
hwq_groups_vbmi_np(const int np, const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0, int64_t ns,
                   const uint8_t *pl, int64_t nbatch, int32_t *acc)
{
    for (int64_t g = g0; g < ng; g++) {
        const uint8_t *grec = tile + (g * nbt + s0) * HWQ_REC;
        for (int64_t j = 0; j < nbatch; j++) {
            int32_t *ap = acc + (g * nbatch + j) * HWQ_NSLOT * HWQ_GL;
            __m512i a[4][HWQ_NSLOT];
            for (int q = 0; q < 4; q++)
                for (int u = 0; u < HWQ_NSLOT; u++)
                    a[q][u] = _mm512_loadu_si512((const void *)(ap + u * HWQ_GL + 16 * q));
            for (int64_t bb = 0; bb < ns; bb++) {
                const uint8_t *rec = grec + bb * HWQ_REC;
                __m512i dq[4];
                hwq_vbmi_lookup(np, rec, pl + (j * ns + bb) * 3 * 256, dq);
                for (int q = 0; q < 4; q++) {
                    const __m512i d = dq[q];
                    /* subset sums: slot u collects the columns whose T has every bit of u set */
                    uint32_t pw[HWQ_LB > 0 ? HWQ_LB : 1];
                    for (int p = 0; p < HWQ_LB; p++)
                        pw[p] = (uint32_t)(hwq_plane(rec, p) >> (16 * q)) & 0xFFFFu;
                    a[q][0] = _mm512_add_epi32(a[q][0], d);
                    for (int u = 1; u < HWQ_NSLOT; u++) {
                        uint32_t mk = 0xFFFFu;
                        for (int p = 0; p < HWQ_LB; p++)
                            if ((u >> p) & 1)
                                mk &= pw[p];
                        a[q][u] = _mm512_mask_add_epi32(a[q][u], (__mmask16)mk, a[q][u], d);
                    }
                }
            }
            for (int q = 0; q < 4; q++)
                for (int u = 0; u < HWQ_NSLOT; u++)
                    _mm512_storeu_si512((void *)(ap + u * HWQ_GL + 16 * q), a[q][u]);
        }
    }
}

#if HWQ_LB == 2 && HWQ_L == 4
/* Two-slot ladder (hwq_ladder2(): m_2 = 2 m_0 and m_3 = 2 m_1, true of the default 4-rung sqrt(2) ladder):
 * an entry e of a column with ladder index T = 2 h + l (bits h, l) counts e * m_T = (1 + h) e * m_l, so
 * each column adds e' = (1 + h) e (one masked add doubles it) into slot 0 (every column) and, if l = 1,
 * into slot 1.  hwq_flush (ladder2) then takes m_0 S_0 + (m_1 - m_0) S_1 = sum_T m_T sum e: the same
 * integer as four slots, with |e'| <= 2 |e| (the callers halve the flush period).  Two slots instead of
 * four: 3 vector adds per 16 columns instead of 4, and 8 accumulator registers instead of 16. */
static inline __attribute__((always_inline)) HWQ_T_VBMI void
hwq_groups_vbmi2_np(const int np, const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0, int64_t ns,
                    const uint8_t *pl, int64_t nbatch, int32_t *acc)
{
    for (int64_t g = g0; g < ng; g++) {
        const uint8_t *grec = tile + (g * nbt + s0) * HWQ_REC;
        for (int64_t j = 0; j < nbatch; j++) {
            int32_t *ap = acc + (g * nbatch + j) * HWQ_NSLOT * HWQ_GL;
            __m512i a0[4], a1[4];
            for (int q = 0; q < 4; q++) {
                a0[q] = _mm512_loadu_si512((const void *)(ap + 16 * q));
                a1[q] = _mm512_loadu_si512((const void *)(ap + HWQ_GL + 16 * q));
            }
            for (int64_t bb = 0; bb < ns; bb++) {
                const uint8_t *rec = grec + bb * HWQ_REC;
                _mm_prefetch((const char *)(rec + HWQ_PF_BYTES), _MM_HINT_T0);
                __m512i dq[4];
                hwq_vbmi_lookup(np, rec, pl + (j * ns + bb) * 3 * 256, dq);
                /* bit planes of T: bit i = bit 0 / bit 1 of T of column i */
                const uint64_t lbit = hwq_plane(rec, 0), hbit = hwq_plane(rec, 1);
                for (int q = 0; q < 4; q++) {
                    const __m512i d = _mm512_mask_add_epi32(dq[q], (__mmask16)(hbit >> (16 * q)), dq[q], dq[q]);
                    a0[q] = _mm512_add_epi32(a0[q], d);
                    a1[q] = _mm512_mask_add_epi32(a1[q], (__mmask16)(lbit >> (16 * q)), a1[q], d);
                }
            }
            for (int q = 0; q < 4; q++) {
                _mm512_storeu_si512((void *)(ap + 16 * q), a0[q]);
                _mm512_storeu_si512((void *)(ap + HWQ_GL + 16 * q), a1[q]);
            }
        }
    }
}

#ifndef HWQ_USE_VNNI
#define HWQ_USE_VNNI 1
#endif
/* activation vectors per pass of the VNNI loop (1-4) */
#ifndef HWQ_VNNI_NJ
#define HWQ_VNNI_NJ 4
#endif
/* bytes per block of the 2-plane tables the VNNI loop reads (the other byte-plane loops: 3 * 256) */
#define HWQ_PL2 (2 * 256)
#define HWQ_T_VNNI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vbmi,avx512vnni")))

/* Lookup of one byte plane as hwq_plane_bytes, but with four single-table vpermb (64 entries each, merged
 * under k6 = code bit 6 and blended under k7 = code bit 7) instead of two two-table vpermi2b.  On the
 * 2-core Intel Xeon VM with AVX-512 VBMI (model 0xA7 under KVM; 2026-12-02) a vpermi2b/vpermt2b zmm is 3
 * uops (2 on port 5, 1 on port 0 or 5; 2 cycles throughput, measured alone and paired with vpaddd /
 * vpsrlvd / vpdpwssd) and a vpermb zmm is 1 uop on port 5, so a plane costs 5 vector uops instead of 7;
 * the batch-1 loop, which is bound by the vector ports 0 and 5 (27 vector uops per record, 14 of them
 * port-5-only), ran 3-5% faster with it: 16.5-16.8 vs 17.1-17.4 cycles per record (records in L1, min of
 * 7 rounds of 3000 passes, thread CPU time, load 7-8).  On cold weights the difference drowned in the
 * noise of the loaded VM (4096x14336, 1 thread: 1.93 vs 1.93 ms min of 9 interleaved rounds). */
static inline __attribute__((always_inline)) HWQ_T_VBMI __m512i
hwq_plane_bytes4(const uint8_t *tp, const __m512i c, const __mmask64 k6, const __mmask64 k7)
{
    const __m512i lo = _mm512_mask_permutexvar_epi8(
        _mm512_permutexvar_epi8(c, _mm512_loadu_si512((const void *)tp)), k6, c,
        _mm512_loadu_si512((const void *)(tp + 64)));
#if HWQ_NC > 128
    const __m512i hi = _mm512_mask_permutexvar_epi8(
        _mm512_permutexvar_epi8(c, _mm512_loadu_si512((const void *)(tp + 128))), k6, c,
        _mm512_loadu_si512((const void *)(tp + 192)));
    return _mm512_mask_blend_epi8(k7, lo, hi);
#else
    (void)k7;
    return lo;
#endif
}

/* Plane lookups of the VNNI loop: 1 = hwq_plane_bytes4 (vpermb), 0 = hwq_plane_bytes (vpermi2b), -1 = by CPU
 * vendor: vpermb on Intel (measured above), vpermi2b elsewhere (the AMD Zen 5 figures of earlier sessions were
 * measured with it, and the vpermb variant is unmeasured there). */
#ifndef HWQ_PERMB
#define HWQ_PERMB (-1)
#endif
static int hwq_vnni_pb4(void)
{
    if (HWQ_PERMB >= 0)
        return HWQ_PERMB > 0;
    return __builtin_cpu_is("intel") ? 1 : 0;
}

/* Weight-only loop of the usual case (2 byte planes, two-slot ladder; AVX-512 VNNI): no partial-sum
 * slots at all.  The word entries e of the 64 columns of a record (int16, exact when np = 2) are
 * multiplied by their ladder multiplier and summed into int32 in one vpdpwssd per 16 columns:
 *     acc[S] lane l += e(16 S + l) * f_l,   f_l = m_T / mdiv = (1 + h) m_l / mdiv  (T = 2 h + l)
 * (mdiv = gcd(m_0, m_1); f is the multiplier word beside a zero word, so the other column of the dword
 * adds nothing).  |e f| <= 32767 * 2 max(m_0, m_1) / mdiv per block; the caller checks that ns blocks
 * of it fit int32.  After the ns blocks of a group the int32 sums are added into the int64 partials
 * p64[(g * B + j) * 64 + column], which hwq_run_packed multiplies by mdiv at the end. */
/* One record of hwq_groups_vnni for NJ activation vectors: the codes, the code-bit-7 mask and the ladder
 * multipliers are taken once, then per vector j the table lookups (planes tb + j * tstride) and
 * acc[j][S] += e * m. */
static inline __attribute__((always_inline)) HWQ_T_VNNI void
hwq_vnni_rec(const int nj, const int pb4, const uint8_t *rec, const uint8_t *tb, int64_t tstride,
             const __m512i f[3], __m512i acc[][4], int64_t pf)
{
    /* records are 80 bytes: two prefetches per record touch every 64-byte line ahead */
    _mm_prefetch((const char *)(rec + pf), _MM_HINT_T0);
#if HWQ_PF2
    _mm_prefetch((const char *)(rec + pf + HWQ_REC - 1), _MM_HINT_T0);
#endif
    const __m512i c = _mm512_loadu_si512((const void *)rec);
    const __mmask64 k7 = _mm512_movepi8_mask(c); /* unused (and dropped) when HWQ_NC <= 128 */
    /* code bit 6 (hwq_plane_bytes4 only) */
    const __mmask64 k6 = pb4 ? _mm512_movepi8_mask(_mm512_add_epi8(c, c)) : 0;
    __m512i m[4];
    for (int S = 0; S < 4; S++) {
        /* T of columns 16 S + l: 2-bit field l of dword S of the ladder bytes; vpermd takes index bits 0-3
         * (T of column l and bits of column l + 1), and the table repeats m_T / mdiv for every T */
        const __m512i tf = _mm512_srlv_epi32(_mm512_set1_epi32((int)hwq_ld32(rec + HWQ_GL + 4 * S)), f[0]);
        m[S] = _mm512_permutexvar_epi32(tf, f[1 + (S & 1)]);
    }
    for (int jj = 0; jj < nj; jj++) {
        const uint8_t *tp = tb + jj * tstride;
        __m512i pb[2];
        for (int p = 0; p < 2; p++, tp += 256)
            pb[p] = pb4 ? hwq_plane_bytes4(tp, c, k6, k7) : hwq_plane_bytes(tp, c, k7);
        const __m512i wv[2] = {_mm512_unpacklo_epi8(pb[0], pb[1]), _mm512_unpackhi_epi8(pb[0], pb[1])};
        for (int S = 0; S < 4; S++)
            HWQ_DPWSSD(acc[jj][S], wv[S >> 1], m[S]);
    }
}

/* acc (int32, 64 columns) into the int64 partials pp[0..63]. */
static inline __attribute__((always_inline)) HWQ_T_VNNI void hwq_vnni_out(int64_t *pp, const __m512i acc[4])
{
    for (int S = 0; S < 4; S++) {
        __m512i *d = (__m512i *)(void *)(pp + 16 * S);
        const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc[S]));
        const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc[S], 1));
        _mm512_storeu_si512((void *)d, _mm512_add_epi64(_mm512_loadu_si512((const void *)d), lo));
        _mm512_storeu_si512((void *)(d + 1), _mm512_add_epi64(_mm512_loadu_si512((const void *)(d + 1)), hi));
    }
}

/* Prefetch distance of the VNNI loop's record stream when a pass covers whole tiles (batch 1-3; the other
 * loops keep HWQ_PF_BYTES).  The loop streaming cold weights (44 tiles x 224 groups x 32 records, 25 MB, as
 * at 4096x14336; 12 copies rotated, huge pages; min of 40 passes, 3 alternating runs per distance, 2-core
 * Intel Xeon VM at load 11-12, 2026-12-02): 1024 B 1.96-1.99 ms, 1536 B 1.87-1.95, 2048 B 1.92-1.98,
 * 3072 B 1.94-2.07, 4096 B 2.09-2.17 ms; without software prefetch 2.32 ms (why farther is slower is not
 * measured: this VM exposes no hardware counters). */
#ifndef HWQ_PF_B1
#define HWQ_PF_B1 2048
#endif
/* Record streams of the batch-1 VNNI loop: the groups of a tile are read as HWQ_VNNI_NS streams at once
 * (groups g, g + part, ...), one accumulator set each, sharing the block's table loads.  Cold weights,
 * min / median ms of 30-36 calls, raw C calls, 2-core Intel Xeon VM, load 0.7-1.0, 2026-12-02 (1 stream
 * -> 2 -> 4): 4096x14336 1 thread 1.947/2.205 -> 1.772/1.896 -> 1.686/1.853, 2 threads 1.090/1.549 ->
 * 0.934/1.150 -> 0.905/1.747; 14336x4096 2 threads 1.230/1.354 -> 1.019/1.182 -> 1.016/1.112; 4096x4096 1
 * thread 0.604/0.714 -> 0.538/0.612 -> 0.535/0.615.  Cache-resident weights, 2 streams were 3-10% faster
 * than 1 and 4 streams 0-6% slower than 2 (accumulator registers): 2. */
#ifndef HWQ_VNNI_NS
#define HWQ_VNNI_NS 2
#endif

/* Blocks [0, ns) of groups [g0, ng) for activation vectors [j0, j0 + NJ): 4 NJ accumulators in registers. */
static inline __attribute__((always_inline)) HWQ_T_VNNI void
hwq_vnni_pass(const int nj, const int pb4, const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt,
              int64_t s0, int64_t ns, const uint8_t *pl, int64_t j0, int64_t nbatch, int64_t *p64,
              const __m512i f[3])
{
    const int64_t tstride = ns * HWQ_PL2;
    /* prefetch distance: the stream ahead when a pass covers the whole tile, else the same blocks of the
     * next column group (a sub-tile pass reads ns records per group, then jumps to the next group) */
    const int64_t pf = ns < nbt ? HWQ_PF_GROUPS * nbt * HWQ_REC : HWQ_PF_B1;
#if HWQ_VNNI_NS > 1
    /* one vector over whole tiles: HWQ_VNNI_NS record streams at once, groups g + i * part */
    if (nj == 1 && ns == nbt && ng - g0 >= HWQ_VNNI_NS) {
        const int64_t part = (ng - g0) / HWQ_VNNI_NS;
        for (int64_t g = g0; g < g0 + part; g++) {
            __m512i acc[HWQ_VNNI_NS][1][4];
            for (int i = 0; i < HWQ_VNNI_NS; i++)
                for (int S = 0; S < 4; S++)
                    acc[i][0][S] = _mm512_setzero_si512();
            const uint8_t *tb = pl + j0 * tstride;
            for (int64_t bb = 0; bb < ns; bb++, tb += HWQ_PL2)
                for (int i = 0; i < HWQ_VNNI_NS; i++)
                    hwq_vnni_rec(1, pb4, tile + ((g + i * part) * nbt + bb) * HWQ_REC, tb, tstride, f, acc[i],
                                 pf);
            for (int i = 0; i < HWQ_VNNI_NS; i++)
                hwq_vnni_out(p64 + ((g + i * part) * nbatch + j0) * HWQ_GL, acc[i][0]);
        }
        g0 += HWQ_VNNI_NS * part; /* the groups left over below */
    }
#endif
    for (int64_t g = g0; g < ng; g++) {
        const uint8_t *ra = tile + (g * nbt + s0) * HWQ_REC;
        __m512i acc[4][4];
        for (int jj = 0; jj < nj; jj++)
            for (int S = 0; S < 4; S++)
                acc[jj][S] = _mm512_setzero_si512();
        const uint8_t *tb = pl + j0 * tstride;
        for (int64_t bb = 0; bb < ns; bb++, tb += HWQ_PL2)
            hwq_vnni_rec(nj, pb4, ra + bb * HWQ_REC, tb, tstride, f, acc, pf);
        for (int jj = 0; jj < nj; jj++)
            hwq_vnni_out(p64 + (g * nbatch + j0 + jj) * HWQ_GL, acc[jj]);
    }
}

static HWQ_T_VNNI void hwq_groups_vnni(const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0,
                                      int64_t ns, const uint8_t *pl, int64_t nbatch, int64_t *p64, int32_t f0,
                                      int32_t f1)
{
    /* multiplier table: entry i = m_T / mdiv for T = i & 3 (T = 2 h + l: (1 + h) f_l) */
    int32_t fm[16];
    for (int i = 0; i < 16; i++)
        fm[i] = ((i & 1) ? f1 : f0) << ((i >> 1) & 1);
    /* f[0]: shift of lane l (2 l); f[1], f[2]: the table in the low word (even column of an int32 lane) and
     * in the high word (odd column) */
    const __m512i fv = _mm512_loadu_si512((const void *)fm);
    const __m512i f[3] = {_mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), fv,
                          _mm512_slli_epi32(fv, 16)};
    const int pb4 = hwq_vnni_pb4();
    /* up to 4 activation vectors per pass over the records (batch >= 2 shares the codes and multipliers) */
    for (int64_t j0 = 0; j0 < nbatch; j0 += HWQ_VNNI_NJ) {
        const int64_t nj = nbatch - j0 < HWQ_VNNI_NJ ? nbatch - j0 : HWQ_VNNI_NJ;
        /* nj and the lookup kind as compile-time constants: one specialised loop each */
#define HWQ_VNNI_PASS(NJ)                                                                                   \
    do {                                                                                                    \
        if (pb4)                                                                                            \
            hwq_vnni_pass(NJ, 1, tile, g0, ng, nbt, s0, ns, pl, j0, nbatch, p64, f);                        \
        else                                                                                                \
            hwq_vnni_pass(NJ, 0, tile, g0, ng, nbt, s0, ns, pl, j0, nbatch, p64, f);                        \
    } while (0)
        if (nj == 1)
            HWQ_VNNI_PASS(1);
        else if (nj == 2)
            HWQ_VNNI_PASS(2);
        else if (nj == 3)
            HWQ_VNNI_PASS(3);
        else
            HWQ_VNNI_PASS(4);
#undef HWQ_VNNI_PASS
    }
}

static HWQ_T_VBMI void hwq_groups_vbmi2(int np, const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0,
                                       int64_t ns, const uint8_t *pl, int64_t nbatch, int32_t *acc)
{
    if (np == 2)
        hwq_groups_vbmi2_np(2, tile, g0, ng, nbt, s0, ns, pl, nbatch, acc);
    else
        hwq_groups_vbmi2_np(3, tile, g0, ng, nbt, s0, ns, pl, nbatch, acc);
}
#endif

/* np = 2 byte planes when every table entry of the GEMV is within +-2^15 - 1, else 3. */
static HWQ_T_VBMI void hwq_groups_vbmi(int np, const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0, int64_t ns,
                                      const uint8_t *pl, int64_t nbatch, int32_t *acc)
{
    if (np == 2)
        hwq_groups_vbmi_np(2, tile, g0, ng, nbt, s0, ns, pl, nbatch, acc);
    else
        hwq_groups_vbmi_np(3, tile, g0, ng, nbt, s0, ns, pl, nbatch, acc);
}

#include "hwq_dec_dot.h"
#endif

#if HWQ_VBMI
#include "hwq_avx2_wo.h"
#else
#define HWQ_AVX2W 0
#endif
#include "hwq_avx2_dn.h"

static void hwq_groups_simd(int isa, int is_float, const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0,
                            int64_t ns, const void *tab, int64_t nbatch, void *acc)
{
    if (isa >= HWQ_ISA_AVX512)
        hwq_groups_avx512(is_float, tile, g0, ng, nbt, s0, ns, tab, nbatch, acc);
    else
        hwq_groups_avx2(is_float, tile, g0, ng, nbt, s0, ns, tab, nbatch, acc);
}

#endif /* HWQ_SIMD_X86_H */
