/*
 * hwq_avx2_wo.h -- the weight-only table loop for CPUs with AVX2 but without AVX-512 VBMI (included by
 * hwq_simd_x86.h): the usual case of 1-byte codes, 2 ladder bits and the two-slot ladder
 * (m_2 = 2 m_0, m_3 = 2 m_1), every table entry within int16 (sumc * max|x| <= 32767).  Both serve the
 * both-quantized LUT kernel too: at batch 1 the table loop on tables f_Tx LUT[r_x, r] built from the
 * activations' codes (hwq_build_tab16_lut_avx2), from batch 2 the decode loop on the activations' decoded
 * codewords (hwq_lut_as_acts in hwq_kernels_c.h).  D_n configs take hwq_avx2_dn.h instead, at every
 * batch, while its int16 bound holds.
 *
 * The table of block b is int16 (<c_r, x_b>, 512 bytes: 32 blocks of one activation vector take 16 KiB
 * of L1).  Per 8 columns of a record one vpgatherdd with scale 2 loads the dword at entry `code`: its low
 * word is the entry, its high word the next entry.  One vpmaddwd against the multiplier dwords
 * (m_T / mdiv in the low word, 0 in the high word) both drops the high word and applies the ladder:
 *     acc lane += e(code) * m_T / mdiv       (exact int32: the caller checks ns * max|e| * max f < 2^31)
 * so there are no per-ladder-index partial sums, masks or flushes.  Lanes are the record's byte order:
 * lane j of the 8 code bytes at offset 8 q is column 16 (2 (q & 1) + (j & 1)) + 4 (q >> 1) + (j >> 1)
 * (hwq_col_pos), whose T is the 2-bit field 8 (q >> 1) + 2 (j >> 1) of ladder dword 2 (q & 1) + (j & 1):
 * one vpbroadcastq of that dword pair, one vpsrlvd and one vpermd (index bits 0-2; the multiplier table
 * repeats every 4) give the multipliers.  After each pass over ns blocks the int32 sums are added into
 * int64 partials in that lane order, which hwq_perm_out multiplies by mdiv and puts in column order.
 *
 * Loop order: per column group, per 8-column chunk q, the ns records of the sub-tile (L1-resident after
 * the first chunk), with up to HWQ_AVX2_NJ activation vectors sharing the codes and multipliers.
 */
#ifndef HWQ_AVX2_WO_H
#define HWQ_AVX2_WO_H

#define HWQ_AVX2W (HWQ_CB <= 8 && HWQ_LB == 2 && HWQ_L == 4)
#if HWQ_AVX2W

/* 0: the generic gather loop (hwq_groups_avx2) instead, for comparison */
#ifndef HWQ_USE_AVX2W
#define HWQ_USE_AVX2W 1
#endif
/* activation vectors per pass (1-4): their accumulators stay in registers */
#ifndef HWQ_AVX2_NJ
#define HWQ_AVX2_NJ 4
#endif
/* bytes of int16 tables of one sub-tile (all activation vectors): L1 (32 KiB on Zen 3, 48 KiB on newer) */
#ifndef HWQ_TAB16_BYTES
#define HWQ_TAB16_BYTES (24 * 1024)
#endif

/* t16[(j * ns + bb) * 256 + r] = <c_r, x_b> for blocks b = bs + bb, computed mod 2^16 (exact: every entry
 * is within +-32767); cbt16[i * 256 + r] = coordinate i of codeword r (0 for r >= NC).  The caller leaves
 * at least 2 bytes after the last table (the gather of code 255 reads the word after it). */
static HWQ_T_AVX2 void hwq_build_tab16_avx2(const int16_t *cbt16, const int32_t *xr, int64_t k, int64_t nbatch,
                                           int64_t bs, int64_t ns, int16_t *t16)
{
    for (int64_t j = 0; j < nbatch; j++) {
        for (int64_t bb = 0; bb < ns; bb++) {
            const int32_t *xs = xr + j * k + (bs + bb) * HWQ_D;
            int16_t *o = t16 + (j * ns + bb) * 256;
            __m256i xv[HWQ_D];
            for (int i = 0; i < HWQ_D; i++)
                xv[i] = _mm256_set1_epi16((short)xs[i]);
            for (int v = 0; v < 256; v += 16) {
                __m256i w = _mm256_setzero_si256();
                for (int i = 0; i < HWQ_D; i++)
                    w = _mm256_add_epi16(w, _mm256_mullo_epi16(
                                                _mm256_loadu_si256((const __m256i *)(const void *)(cbt16 + i * 256 + v)),
                                                xv[i]));
                _mm256_storeu_si256((__m256i *)(void *)(o + v), w);
            }
        }
    }
}

#if HWQ_LUT_TABLE_PATH
/* The same int16 tables for the both-quantized LUT kernel: t16[(j * ns + bb) * 256 + r] =
 * f_{T_x} LUT[r_x, r] for the activation's code r_x and ladder index T_x of block b = bs + bb of vector j
 * (f = m / mdiv: fx, 0 for r >= NC), every entry within +-32767 (hwq_run_packed checks); the loop then applies
 * the weight's f_T, and the epilogue mdiv^2. */
static HWQ_T_AVX2 void hwq_build_tab16_lut_avx2(const int32_t *rx, const uint8_t *tx, int64_t nb, int64_t nbatch,
                                               int64_t bs, int64_t ns, const int16_t *fx, int16_t *t16)
{
    for (int64_t j = 0; j < nbatch; j++) {
        for (int64_t bb = 0; bb < ns; bb++) {
            const int64_t b = bs + bb, row = (int64_t)rx[j * nb + b] * HWQ_NC;
            const int16_t f = fx[tx[j * nb + b]];
            int16_t *o = t16 + (j * ns + bb) * 256;
            for (int r = 0; r < HWQ_NC; r++)
                o[r] = (int16_t)(f * (int16_t)hwq_lut[row + r]);
            for (int r = HWQ_NC; r < 256; r++)
                o[r] = 0;
        }
    }
}
#endif

/* Blocks [0, ns) of groups [g0, ng) for activation vectors [j0, j0 + NJ). */
static inline __attribute__((always_inline)) HWQ_T_AVX2 void
hwq_avx2w_pass(const int nj, const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0, int64_t ns,
               const int16_t *t16, int64_t j0, int64_t nbatch, int64_t *p64, __m256i mv)
{
    const int64_t tstride = ns * 256;
    const int16_t *tb0 = t16 + j0 * tstride;
    for (int64_t g = g0; g < ng; g++) {
        const uint8_t *ra = tile + (g * nbt + s0) * HWQ_REC;
        for (int q = 0; q < 8; q++) {
            const __m256i sh = _mm256_add_epi32(_mm256_setr_epi32(0, 0, 2, 2, 4, 4, 6, 6),
                                                _mm256_set1_epi32(8 * (q >> 1)));
            __m256i acc[4];
            for (int jj = 0; jj < nj; jj++)
                acc[jj] = _mm256_setzero_si256();
            const uint8_t *rec = ra;
            const int16_t *tb = tb0;
            for (int64_t bb = 0; bb < ns; bb++, rec += HWQ_REC, tb += 256) {
                if (q == 0)
                    _mm_prefetch((const char *)(rec + HWQ_PF_BYTES), _MM_HINT_T0);
                const __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(rec + 8 * q)));
                int64_t tw;
                memcpy(&tw, rec + HWQ_GL + 8 * (q & 1), 8);
                const __m256i m = _mm256_permutevar8x32_epi32(mv, _mm256_srlv_epi32(_mm256_set1_epi64x(tw), sh));
                for (int jj = 0; jj < nj; jj++) {
                    const __m256i e = _mm256_i32gather_epi32((const int *)(const void *)(tb + jj * tstride), idx, 2);
                    acc[jj] = _mm256_add_epi32(acc[jj], _mm256_madd_epi16(e, m));
                }
            }
            for (int jj = 0; jj < nj; jj++) {
                hwq_add_i32_to_i64(p64 + (g * nbatch + j0 + jj) * HWQ_GL + 8 * q, acc[jj]);
            }
        }
    }
}

/* One activation vector: all 8 chunks of a record at once (8 accumulators), records read once. */
static inline __attribute__((always_inline)) HWQ_T_AVX2 void
hwq_avx2w_pass1(const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0, int64_t ns,
                const int16_t *t16, int64_t j0, int64_t nbatch, int64_t *p64, __m256i mv)
{
    const int16_t *tb0 = t16 + j0 * ns * 256;
    const __m256i sh = _mm256_setr_epi32(0, 0, 2, 2, 4, 4, 6, 6);
    for (int64_t g = g0; g < ng; g++) {
        const uint8_t *rec = tile + (g * nbt + s0) * HWQ_REC;
        __m256i acc[8];
        for (int q = 0; q < 8; q++)
            acc[q] = _mm256_setzero_si256();
        const int16_t *tb = tb0;
        for (int64_t bb = 0; bb < ns; bb++, rec += HWQ_REC, tb += 256) {
            _mm_prefetch((const char *)(rec + HWQ_PF_BYTES), _MM_HINT_T0);
            _mm_prefetch((const char *)(rec + HWQ_PF_BYTES + HWQ_REC - 1), _MM_HINT_T0);
            int64_t tw[2];
            memcpy(tw, rec + HWQ_GL, 16);
            __m256i tv[2] = {_mm256_srlv_epi32(_mm256_set1_epi64x(tw[0]), sh),
                             _mm256_srlv_epi32(_mm256_set1_epi64x(tw[1]), sh)};
            for (int q = 0; q < 8; q++) {
                const __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(rec + 8 * q)));
                const __m256i m = _mm256_permutevar8x32_epi32(mv, tv[q & 1]);
                if (q & 1)
                    tv[1] = _mm256_srli_epi32(tv[1], 8);
                else
                    tv[0] = _mm256_srli_epi32(tv[0], 8);
                const __m256i e = _mm256_i32gather_epi32((const int *)(const void *)tb, idx, 2);
                acc[q] = _mm256_add_epi32(acc[q], _mm256_madd_epi16(e, m));
            }
        }
        for (int q = 0; q < 8; q++)
            hwq_add_i32_to_i64(p64 + (g * nbatch + j0) * HWQ_GL + 8 * q, acc[q]);
    }
}

/* The loop over activation vectors in passes of up to HWQ_AVX2_NJ; f0 = m_0 / mdiv, f1 = m_1 / mdiv. */
static HWQ_T_AVX2 void hwq_groups_avx2w(const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0,
                                       int64_t ns, const int16_t *t16, int64_t nbatch, int64_t *p64, int32_t f0,
                                       int32_t f1)
{
    const __m256i mv = hwq_ladder2_mv(f0, f1);
    for (int64_t j0 = 0; j0 < nbatch; j0 += HWQ_AVX2_NJ) {
        const int64_t nj = nbatch - j0 < HWQ_AVX2_NJ ? nbatch - j0 : HWQ_AVX2_NJ;
        if (nj == 1)
            hwq_avx2w_pass1(tile, g0, ng, nbt, s0, ns, t16, j0, nbatch, p64, mv);
        else if (nj == 2)
            hwq_avx2w_pass(2, tile, g0, ng, nbt, s0, ns, t16, j0, nbatch, p64, mv);
        else if (nj == 3)
            hwq_avx2w_pass(3, tile, g0, ng, nbt, s0, ns, t16, j0, nbatch, p64, mv);
        else
            hwq_avx2w_pass(4, tile, g0, ng, nbt, s0, ns, t16, j0, nbatch, p64, mv);
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* Fast mode (float activations): the same loop on float tables, one vgatherdps and one multiply-add   */
/* by the column's beta_T per 8 columns.                                                              */
/* ------------------------------------------------------------------------------------------------ */
/* tf[(j * ns + bb) * 256 + r] = <c_r, x_b> / cs in float for blocks b = bs + bb (0 for r >= NC), summed over
 * the coordinates in the order of hwq_build_tables (the same float values). */
static HWQ_T_AVX2 void hwq_build_tabf_avx2(const int16_t *cbt16, const float *xr, int64_t k, int64_t nbatch,
                                          int64_t bs, int64_t ns, float *tf)
{
    for (int64_t j = 0; j < nbatch; j++) {
        for (int64_t bb = 0; bb < ns; bb++) {
            const float *xs = xr + j * k + (bs + bb) * HWQ_D;
            float *o = tf + (j * ns + bb) * 256;
            __m256 xv[HWQ_D];
            for (int i = 0; i < HWQ_D; i++)
                xv[i] = _mm256_set1_ps(xs[i] * (float)(1.0 / HWQ_CS));
            for (int v = 0; v < 256; v += 8) {
                __m256 w = _mm256_setzero_ps();
                for (int i = 0; i < HWQ_D; i++) {
                    const __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(cbt16 + i * 256 + v));
                    w = _mm256_add_ps(w, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(c)), xv[i]));
                }
                _mm256_storeu_ps(o + v, w);
            }
        }
    }
}

/* Blocks [0, ns) of groups [g0, ng), activation vectors [j0, j0 + nj): pf[(g * B + j) * 64 + 8 q + lane] +=
 * sum_b beta_T tf[j][b][code] in the record's lane order (hwq_col_pos), as hwq_avx2w_pass does in int32. */
static inline __attribute__((always_inline)) HWQ_T_AVX2 void
hwq_avx2f_pass(const int nj, const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0, int64_t ns,
               const float *tf, int64_t j0, int64_t nbatch, float *pf, __m256 bv)
{
    const int64_t tstride = ns * 256;
    const float *tb0 = tf + j0 * tstride;
    for (int64_t g = g0; g < ng; g++) {
        const uint8_t *ra = tile + (g * nbt + s0) * HWQ_REC;
        for (int q = 0; q < 8; q++) {
            const __m256i sh = _mm256_add_epi32(_mm256_setr_epi32(0, 0, 2, 2, 4, 4, 6, 6),
                                                _mm256_set1_epi32(8 * (q >> 1)));
            __m256 acc[4];
            for (int jj = 0; jj < nj; jj++)
                acc[jj] = _mm256_setzero_ps();
            const uint8_t *rec = ra;
            const float *tb = tb0;
            for (int64_t bb = 0; bb < ns; bb++, rec += HWQ_REC, tb += 256) {
                if (q == 0)
                    _mm_prefetch((const char *)(rec + HWQ_PF_BYTES), _MM_HINT_T0);
                const __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(rec + 8 * q)));
                int64_t tw;
                memcpy(&tw, rec + HWQ_GL + 8 * (q & 1), 8);
                const __m256 m = _mm256_permutevar8x32_ps(bv, _mm256_srlv_epi32(_mm256_set1_epi64x(tw), sh));
                for (int jj = 0; jj < nj; jj++) {
                    const __m256 e = _mm256_i32gather_ps(tb + jj * tstride, idx, 4);
                    acc[jj] = _mm256_add_ps(acc[jj], _mm256_mul_ps(e, m));
                }
            }
            for (int jj = 0; jj < nj; jj++) {
                float *d = pf + (g * nbatch + j0 + jj) * HWQ_GL + 8 * q;
                _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), acc[jj]));
            }
        }
    }
}

/* The fast-mode loop over activation vectors in passes of up to HWQ_AVX2_NJ. */
static HWQ_T_AVX2 void hwq_groups_avx2f(const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0,
                                       int64_t ns, const float *tf, int64_t nbatch, float *pf)
{
    float bt[8]; /* entry i: beta_T for T = i & 3 (the index's bit 2 is the next field's) */
    for (int i = 0; i < 8; i++)
        bt[i] = (float)hwq_betas[i & 3];
    const __m256 bv = _mm256_loadu_ps(bt);
    for (int64_t j0 = 0; j0 < nbatch; j0 += HWQ_AVX2_NJ) {
        const int64_t nj = nbatch - j0 < HWQ_AVX2_NJ ? nbatch - j0 : HWQ_AVX2_NJ;
        if (nj == 1)
            hwq_avx2f_pass(1, tile, g0, ng, nbt, s0, ns, tf, j0, nbatch, pf, bv);
        else if (nj == 2)
            hwq_avx2f_pass(2, tile, g0, ng, nbt, s0, ns, tf, j0, nbatch, pf, bv);
        else if (nj == 3)
            hwq_avx2f_pass(3, tile, g0, ng, nbt, s0, ns, tf, j0, nbatch, pf, bv);
        else
            hwq_avx2f_pass(4, tile, g0, ng, nbt, s0, ns, tf, j0, nbatch, pf, bv);
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* Decode then dot (batch >= HWQ_AVX2_DEC_MIN_BATCH, or whenever the int16 tables above do not fit):  */
/* the codes are decoded once per record and pass instead of once per activation vector.              */
/* ------------------------------------------------------------------------------------------------ */
/*
 * Per 8 columns of a record: one vpgatherdd of the codeword as 4 int8 coordinates (d <= 4, zero-padded;
 * cw4[r]), widened to int16 (columns 0-3 and 4-7 in two vectors) and multiplied by the column's ladder
 * multiplier f_T = m_T / mdiv (vpmullw; |cw_i| * max f <= 32767 is checked).  Then per activation vector
 * one vpmaddwd per 4 columns against the block's activations as 4 int16 words (xq, zero-padded):
 *     acc dword (column c, half h) += w_{2h}(c) x_{2h} + w_{2h+1}(c) x_{2h+1}
 * and after the ns blocks of a pass one vphaddd adds the halves (each column's int32 total is bounded by
 * ns * sumc * max f * max|x| <= 2^31 - 1: the caller picks ns so), one vpermd restores the lane order of
 * hwq_avx2w_pass (record byte order) and the sums go into the same int64 partials.
 */
#if HWQ_D <= 4
#define HWQ_AVX2D 1
/* From this many activation vectors on the decode loop replaces the int16-table loop.  Both forced in one
 * process (-DHWQ_AVX2_DEC_MIN_BATCH=100 vs 1), weight-only kernel, cold weights (4 copies), 4096x14336, one
 * thread, min of 12 calls, 2-core AMD EPYC Zen 3 VM (AVX2, no AVX-512), 2026-12-02, table vs decode ms:
 *   batch 1: 11.1-14.3 vs 22.4-24.7   batch 2: 26.6-29.2 vs 20.4-25.1   batch 4: 58.5 vs 19.3
 *   batch 8: 93-128 vs 26.6
 * Both are bound by vpgatherdd (about 4.2 ns per 8-lane gather from L1 on that VM, 0.5 ns per lookup; 8 scalar
 * loads cost about as much): a record's 64 lookups take about 35 ns, so neither reaches the memory roof. */
#ifndef HWQ_AVX2_DEC_MIN_BATCH
#define HWQ_AVX2_DEC_MIN_BATCH 2
#endif

/* xq[(j * ns + bb) * 4 + i] = x_rot[j][d (bs + bb) + i] as int16 (0 for i >= d); |x| <= 32767 is checked */
static void hwq_avx2d_acts(const int32_t *xr, int64_t k, int64_t nbatch, int64_t bs, int64_t ns, int16_t *xq)
{
    for (int64_t j = 0; j < nbatch; j++)
        for (int64_t bb = 0; bb < ns; bb++)
            for (int i = 0; i < 4; i++)
                xq[(j * ns + bb) * 4 + i] = i < HWQ_D ? (int16_t)xr[j * k + (bs + bb) * HWQ_D + i] : (int16_t)0;
}

/* The ns records of chunk q of a group decoded into w[2 bb], w[2 bb + 1] (columns 0-3, 4-7 of the chunk):
 * index code | T << 8 of the product table wt (4 int16 words cw_i * f_T per entry), two vpgatherdq. */
static inline __attribute__((always_inline)) HWQ_T_AVX2 void
hwq_avx2d_decode(const uint8_t *rec, int q, int64_t ns, const int64_t *wt, __m256i *w)
{
    const __m256i sh = _mm256_add_epi32(_mm256_setr_epi32(0, 0, 2, 2, 4, 4, 6, 6), _mm256_set1_epi32(8 * (q >> 1)));
    const __m256i three = _mm256_set1_epi32(3);
    for (int64_t bb = 0; bb < ns; bb++, rec += HWQ_REC) {
        if (q == 0)
            _mm_prefetch((const char *)(rec + HWQ_PF_BYTES), _MM_HINT_T0);
        const __m256i code = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(rec + 8 * q)));
        int64_t tw;
        memcpy(&tw, rec + HWQ_GL + 8 * (q & 1), 8);
        const __m256i t = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi64x(tw), sh), three);
        const __m256i idx = _mm256_or_si256(code, _mm256_slli_epi32(t, 8));
        w[2 * bb] = _mm256_i32gather_epi64((const long long *)wt, _mm256_castsi256_si128(idx), 8);
        w[2 * bb + 1] = _mm256_i32gather_epi64((const long long *)wt, _mm256_extracti128_si256(idx, 1), 8);
    }
}

/* The decoded chunk w against activation vectors [j0, j0 + NJ); sums into the int64 partials of chunk q. */
static inline __attribute__((always_inline)) HWQ_T_AVX2 void
hwq_avx2d_dot(const int nj, const __m256i *w, int64_t ns, const int16_t *xq, int64_t j0, int64_t *pq,
              int64_t nbatch)
{
    __m256i acc[4][2];
    for (int jj = 0; jj < nj; jj++)
        acc[jj][0] = acc[jj][1] = _mm256_setzero_si256();
    const int16_t *xb = xq + j0 * ns * 4;
    for (int64_t bb = 0; bb < ns; bb++, xb += 4) {
        const __m256i w0 = _mm256_load_si256(w + 2 * bb), w1 = _mm256_load_si256(w + 2 * bb + 1);
        for (int jj = 0; jj < nj; jj++) {
            int64_t xw;
            memcpy(&xw, xb + jj * ns * 4, 8);
            const __m256i xv = _mm256_set1_epi64x(xw);
            acc[jj][0] = _mm256_add_epi32(acc[jj][0], _mm256_madd_epi16(w0, xv));
            acc[jj][1] = _mm256_add_epi32(acc[jj][1], _mm256_madd_epi16(w1, xv));
        }
    }
    const __m256i pout = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    for (int jj = 0; jj < nj; jj++) {
        hwq_add_i32_to_i64(pq + (j0 + jj) * HWQ_GL,
                           _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(acc[jj][0], acc[jj][1]), pout));
    }
    (void)nbatch;
}

/* The product table of hwq_groups_avx2d, built once per GEMV (hwq_run_packed): wt[T * 256 + r] holds the 4
 * int16 words cw_i(r) * f_T (0 for i >= d and r >= NC). */
static void hwq_avx2d_table(int32_t f0, int32_t f1, int64_t *wt)
{
    for (int tt = 0; tt < 4; tt++) {
        const int32_t f = ((tt & 1) ? f1 : f0) << (tt >> 1);
        for (int r = 0; r < 256; r++) {
            uint64_t v = 0;
            for (int i = 0; i < HWQ_D && r < HWQ_NC; i++)
                v |= (uint64_t)(uint16_t)(int16_t)(hwq_codebook[r * HWQ_D + i] * f) << (16 * i);
            wt[tt * 256 + r] = (int64_t)v;
        }
    }
}

static HWQ_T_AVX2 void hwq_groups_avx2d(const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0,
                                       int64_t ns, const int16_t *xq, int64_t nbatch, int64_t *p64,
                                       const int64_t *wt)
{
    __m256i w[2 * HWQ_BT] __attribute__((aligned(32))); /* one chunk of ns <= HWQ_BT blocks, decoded */
    for (int64_t g = g0; g < ng; g++) {
        const uint8_t *ra = tile + (g * nbt + s0) * HWQ_REC;
        for (int q = 0; q < 8; q++) {
            hwq_avx2d_decode(ra, q, ns, wt, w);
            int64_t *pq = p64 + g * nbatch * HWQ_GL + 8 * q;
            for (int64_t j0 = 0; j0 < nbatch; j0 += HWQ_AVX2_NJ) {
                const int64_t nj = nbatch - j0 < HWQ_AVX2_NJ ? nbatch - j0 : HWQ_AVX2_NJ;
                if (nj == 1)
                    hwq_avx2d_dot(1, w, ns, xq, j0, pq, nbatch);
                else if (nj == 2)
                    hwq_avx2d_dot(2, w, ns, xq, j0, pq, nbatch);
                else if (nj == 3)
                    hwq_avx2d_dot(3, w, ns, xq, j0, pq, nbatch);
                else
                    hwq_avx2d_dot(4, w, ns, xq, j0, pq, nbatch);
            }
        }
    }
}
#else
#define HWQ_AVX2D 0
#endif
#endif /* HWQ_AVX2W */
#endif /* HWQ_AVX2_WO_H */
