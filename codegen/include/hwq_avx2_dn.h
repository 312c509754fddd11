/*
 * hwq_avx2_dn.h -- the weight-only loop for D_n configs (D3, D4) with codes of up to 12 bits on CPUs with
 * AVX2 but without AVX-512 VBMI (included by hwq_simd_x86.h): codewords computed from the codes with byte
 * shuffles and adds, 32 codes per instruction, instead of looked up one by one with vpgatherdd (which
 * bound hwq_groups_avx2w and hwq_groups_avx2d at about 0.5 ns per code; 2-byte codes had only the generic
 * gather loop).
 *
 * Decode of 32 codes (the recipe and its tables come from hwq.codegen.dn_tables, which checks it on every
 * code against the codebook when the library is rendered):
 *   1-byte codes (hwq_dn_digits8): r = 16 a + b; digits k_i = nib_a[i][a] + nib_b[i][b] with carries (one
 *   conditional subtract each); 2-byte codes (hwq_dn_digits16): in int16 lanes k_i = the quotient of the
 *   rest by q^(d-1-i) (vpmulhuw by HWQ_DN_MAGi, shift HWQ_DN_SHi), packed to bytes and moved into the
 *   1-byte layout's record byte order (so everything after it is shared);
 * then (hwq_dn_point)
 *   h_0 = (2 k_0 + k_1 + ...) mod 2q, h_i = k_i; per coordinate e_i = err[h_i], parity of rnd(g_i / q) =
 *   odd[h_i]; if the parities sum odd, the first coordinate of largest |e_i| takes alt[h_i] (e_i - q if
 *   e_i >= 0 else e_i + q): c = g - q Q_Dn(g / q) by the SPEC's rounding and tie rules.
 *
 * Per pass of ns blocks of a column group (hwq_dn_decode): the 64 codes of each record decoded into int16
 * words, coordinate by coordinate, 16 columns a vector (quarter u holds record bytes 16 u .. 16 u + 15,
 * reordered so that the word unpacks below leave chunks 2 u and 2 u + 1 in record byte order; up to
 * HWQ_DN_W8_MAX vectors the pass keeps them int8 and each dot widens them as it loads them), and per
 * pair of blocks (b, b + 1) and 8-byte chunk the ladder multipliers as dword pairs f_T(b) | f_T(b + 1) << 16
 * (the f_T of hwq_avx2w_pass).  Then per activation vector (hwq_dn_dot), per block: v = sum_i c_i x_i in
 * int16 (exact: |v| <= sumc * max|x| <= 32767 is checked), and per pair of blocks one vpmaddwd of the
 * interleaved (v_b, v_b+1) against the multiplier pairs adds f_T(b) v_b + f_T(b+1) v_b+1 to the chunk's
 * int32 sums (ns * sumc * max|x| * max f <= 2^31 - 1 is checked), which go into the int64 partials of
 * hwq_avx2w_pass (record byte order, units of mdiv) after each pass.
 */
#ifndef HWQ_AVX2_DN_H
#define HWQ_AVX2_DN_H

#if HWQ_LB == 2 && HWQ_L == 4 && HWQ_CB <= 12 && HWQ_DN_ARITH && HWQ_CS == 1 && HWQ_LAT_KIND == 1 && HWQ_D <= 4
#define HWQ_AVX2DN 1
/* 0: the gather loops (hwq_groups_avx2w / hwq_groups_avx2d) instead, for comparison */
#ifndef HWQ_USE_AVX2DN
#define HWQ_USE_AVX2DN 1
#endif
/* blocks per pass: the decoded words (ns * d * 128 bytes) and multipliers (ns * 128 bytes) stay in L1 */
#ifndef HWQ_DN_NS
#define HWQ_DN_NS 32
#endif
/* Up to this many activation vectors the pass keeps the codewords as int8 (ns * d * 64 bytes) and each dot
 * widens them on load (vpmovsxbw from memory); above it the decode widens them once to int16 words for all
 * vectors. Same-process A/B at 4096x14336, 1 thread (int8 against int16): batch 1 6.33 vs 7.37 ms, batch 4
 * 10.59 vs 10.89, batch 5 equal, batch 8 16.35 vs 15.62. */
#ifndef HWQ_DN_W8_MAX
#define HWQ_DN_W8_MAX 4
#endif

/* the shuffle tables, each in both 128-bit lanes: nib_a[0..d), nib_b[0..d), err, odd, alt */
#define HWQ_DN_NT (2 * HWQ_D + 3)

typedef struct {
    __m256i t[HWQ_DN_NT];
    __m256i ord; /* the in-lane byte order the decode applies to codes (1 byte) or digits (2 bytes) */
} hwq_dn_tabs;

#if HWQ_CBY == 2
static inline HWQ_T_AVX2 __m256i hwq_dn_ord16(void);
#endif

static inline HWQ_T_AVX2 void hwq_dn_load(hwq_dn_tabs *tb)
{
    for (int i = 0; i < HWQ_DN_NT; i++)
        tb->t[i] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)hwq_dn_rows[i]));
#if HWQ_CBY == 2
    tb->ord = hwq_dn_ord16();
#else
    /* record bytes 0-3, 8-11, 4-7, 12-15 of each lane: after vpmovsxbw and vpunpck{l,h}wd, chunk order */
    tb->ord = _mm256_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15,
                               0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15);
#endif
}

/* digits k[i] of 32 code bytes r (all < NC) as int8 lanes */
static inline __attribute__((always_inline)) HWQ_T_AVX2 void hwq_dn_digits8(__m256i r, const hwq_dn_tabs *tb,
                                                                           __m256i *h)
{
    const __m256i nib = _mm256_set1_epi8(15), qv = _mm256_set1_epi8(HWQ_Q);
    const __m256i qm1 = _mm256_set1_epi8(HWQ_Q - 1);
    const __m256i a = _mm256_and_si256(_mm256_srli_epi16(r, 4), nib), b = _mm256_and_si256(r, nib);
    __m256i carry = _mm256_setzero_si256(); /* carry: 0 or -1 */
    for (int i = HWQ_D - 1; i >= 0; i--) {
        __m256i s = _mm256_add_epi8(_mm256_shuffle_epi8(tb->t[i], a), _mm256_shuffle_epi8(tb->t[HWQ_D + i], b));
        if (i < HWQ_D - 1)
            s = _mm256_sub_epi8(s, carry);
        if (i > 0) {
            carry = _mm256_cmpgt_epi8(s, qm1);
            s = _mm256_sub_epi8(s, _mm256_and_si256(carry, qv));
        }
        h[i] = s;
    }
}

#if HWQ_CBY == 2
/* The record-order shuffle of hwq_dn_digits16: byte p' of a lane takes byte sigma(ord[p']), where sigma
 * (p) = 4 S + s for p = 8 (S >> 1) + 2 s + (S & 1) (hwq_col_pos within a lane) and ord is the chunk order
 * the 1-byte path applies to its codes (hwq_dn_load). */
static inline HWQ_T_AVX2 __m256i hwq_dn_ord16(void)
{
    static const int8_t ord[16] = {0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15};
    int8_t ix[32];
    for (int p = 0; p < 32; p++) {
        const int o = ord[p & 15], S = ((o >> 3) << 1) | (o & 1), sl = (o >> 1) & 3;
        ix[p] = (int8_t)(4 * S + sl);
    }
    return _mm256_loadu_si256((const __m256i *)(const void *)ix);
}

/* digits of the 64 2-byte codes of a record: k[hh * D + i] = digit i of half hh (record bytes 32 hh .. of the
 * 1-byte layout, after ord) as int8 lanes */
static inline __attribute__((always_inline)) HWQ_T_AVX2 void hwq_dn_digits16(const uint8_t *rec, __m256i ord16,
                                                                            __m256i *k)
{
    static const int32_t mag[3] = {
#ifdef HWQ_DN_MAG0
        HWQ_DN_MAG0,
#endif
#ifdef HWQ_DN_MAG1
        HWQ_DN_MAG1,
#endif
#ifdef HWQ_DN_MAG2
        HWQ_DN_MAG2,
#endif
    };
    static const int32_t sh[3] = {
#ifdef HWQ_DN_SH0
        HWQ_DN_SH0,
#endif
#ifdef HWQ_DN_SH1
        HWQ_DN_SH1,
#endif
#ifdef HWQ_DN_SH2
        HWQ_DN_SH2,
#endif
    };
    __m256i dg[HWQ_D][4];
    for (int S = 0; S < 4; S++) { /* columns 16 S .. 16 S + 15 */
        __m256i rest = _mm256_loadu_si256((const __m256i *)(const void *)(rec + 32 * S));
        int pw = 1;
        for (int i = 1; i < HWQ_D; i++)
            pw *= HWQ_Q;
        for (int i = 0; i < HWQ_D - 1; i++, pw /= HWQ_Q) {
            const __m256i ki = _mm256_srl_epi16(_mm256_mulhi_epu16(rest, _mm256_set1_epi16((short)mag[i])),
                                                _mm_cvtsi32_si128(sh[i]));
            rest = _mm256_sub_epi16(rest, _mm256_mullo_epi16(ki, _mm256_set1_epi16((short)pw)));
            dg[i][S] = ki;
        }
        dg[HWQ_D - 1][S] = rest;
    }
    const __m256i lanes = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    for (int i = 0; i < HWQ_D; i++) {
        const __m256i p01 = _mm256_packus_epi16(dg[i][0], dg[i][1]), p23 = _mm256_packus_epi16(dg[i][2], dg[i][3]);
        k[i] = _mm256_shuffle_epi8(
            _mm256_permutevar8x32_epi32(_mm256_permute2x128_si256(p01, p23, 0x20), lanes), ord16);
        k[HWQ_D + i] = _mm256_shuffle_epi8(
            _mm256_permutevar8x32_epi32(_mm256_permute2x128_si256(p01, p23, 0x31), lanes), ord16);
    }
}
#endif

/* codewords c[i] (int8 lanes) of 32 codes from their digits h[i] (overwritten) */
static inline __attribute__((always_inline)) HWQ_T_AVX2 void hwq_dn_point(__m256i *h, const hwq_dn_tabs *tb,
                                                                         __m256i *c)
{
    /* h_0 = g_0 mod 2q with g_0 = 2 k_0 + k_1 + ... */
    __m256i h0 = _mm256_add_epi8(h[0], h[0]);
    for (int i = 1; i < HWQ_D; i++)
        h0 = _mm256_add_epi8(h0, h[i]);
    for (int t = 0; t < HWQ_DN_H0_RED; t++) /* h0 - 2q wraps above 2q when h0 < 2q */
        h0 = _mm256_min_epu8(h0, _mm256_sub_epi8(h0, _mm256_set1_epi8(2 * HWQ_Q)));
    h[0] = h0;
    const __m256i terr = tb->t[2 * HWQ_D], todd = tb->t[2 * HWQ_D + 1], talt = tb->t[2 * HWQ_D + 2];
    __m256i e[HWQ_D], ae[HWQ_D], odd = _mm256_setzero_si256(), mx = _mm256_setzero_si256();
    for (int i = 0; i < HWQ_D; i++) {
        e[i] = _mm256_shuffle_epi8(terr, h[i]);
        odd = _mm256_xor_si256(odd, _mm256_shuffle_epi8(todd, h[i]));
        ae[i] = _mm256_abs_epi8(e[i]);
        mx = _mm256_max_epu8(mx, ae[i]);
    }
    /* when the parities sum odd, the first coordinate of largest |e| (the last: whatever is left) takes alt */
    __m256i free_ = odd;
    for (int i = 0; i < HWQ_D; i++) {
        const __m256i sel = i < HWQ_D - 1 ? _mm256_and_si256(free_, _mm256_cmpeq_epi8(ae[i], mx)) : free_;
        if (i < HWQ_D - 1)
            free_ = _mm256_andnot_si256(sel, free_);
        c[i] = _mm256_blendv_epi8(e[i], _mm256_shuffle_epi8(talt, h[i]), sel);
    }
}

/* Decodes blocks [0, ns) of a group (records rec, rec + HWQ_REC, ...): coordinate i of quarter u of block
 * bb as int16 words w[(bb * D + i) * 4 + u] (w8 = 0), or as int8 at bytes (bb * D + i) * 64 + 16 u of w
 * (w8 = 1, widened by hwq_dn_w); mp[(bb / 2) * 8 + q] = multiplier dword pairs of chunk q. */
static inline __attribute__((always_inline)) HWQ_T_AVX2 void
hwq_dn_decode(const uint8_t *rec, int64_t ns, const hwq_dn_tabs *tb, __m256i mv, __m256i mv16, __m256i *w,
              __m256i *mp, const int w8)
{
    const __m256i sh = _mm256_setr_epi32(0, 0, 2, 2, 4, 4, 6, 6);
    for (int64_t bb = 0; bb < ns; bb++, rec += HWQ_REC) {
        _mm_prefetch((const char *)(rec + HWQ_PF_BYTES), _MM_HINT_T0);
        _mm_prefetch((const char *)(rec + HWQ_PF_BYTES + HWQ_REC - 1), _MM_HINT_T0);
#if HWQ_CBY == 2
        _mm_prefetch((const char *)(rec + HWQ_PF_BYTES + 64), _MM_HINT_T0);
        __m256i dig[2 * HWQ_D];
        hwq_dn_digits16(rec, tb->ord, dig);
#endif
        for (int hh = 0; hh < 2; hh++) {
            __m256i c[HWQ_D];
#if HWQ_CBY == 2
            hwq_dn_point(dig + hh * HWQ_D, tb, c);
#else
            __m256i h[HWQ_D];
            const __m256i r = _mm256_loadu_si256((const __m256i *)(const void *)(rec + 32 * hh));
            hwq_dn_digits8(_mm256_shuffle_epi8(r, tb->ord), tb, h);
            hwq_dn_point(h, tb, c);
#endif
            for (int i = 0; i < HWQ_D; i++) {
                if (w8) {
                    w[(bb * HWQ_D + i) * 2 + hh] = c[i];
                } else {
                    w[(bb * HWQ_D + i) * 4 + 2 * hh] = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(c[i]));
                    w[(bb * HWQ_D + i) * 4 + 2 * hh + 1] = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(c[i], 1));
                }
            }
        }
        int64_t tw[2];
        memcpy(tw, rec + HWQ_GL * HWQ_CBY, 16);
        const __m256i tv[2] = {_mm256_set1_epi64x(tw[0]), _mm256_set1_epi64x(tw[1])};
        __m256i *mq = mp + (bb >> 1) * 8;
        for (int q = 0; q < 8; q++) {
            const __m256i idx = _mm256_srlv_epi32(tv[q & 1], _mm256_add_epi32(sh, _mm256_set1_epi32(8 * (q >> 1))));
            if (bb & 1)
                mq[q] = _mm256_or_si256(mq[q], _mm256_permutevar8x32_epi32(mv16, idx));
            else
                mq[q] = _mm256_permutevar8x32_epi32(mv, idx);
        }
    }
}

/* xb[(j * ns + bb) * D + i] = x_rot[j][d (bs + bb) + i] broadcast to 16 words (|x| <= 32767 is checked) */
static HWQ_T_AVX2 void hwq_dn_acts(const int32_t *xr, int64_t k, int64_t nbatch, int64_t bs, int64_t ns,
                                   __m256i *xb)
{
    for (int64_t j = 0; j < nbatch; j++)
        for (int64_t bb = 0; bb < ns; bb++)
            for (int i = 0; i < HWQ_D; i++)
                xb[(j * ns + bb) * HWQ_D + i] = _mm256_set1_epi16((short)xr[j * k + (bs + bb) * HWQ_D + i]);
}

/* coordinate i of quarter u of block bb as int16 words (the layouts of hwq_dn_decode) */
static inline __attribute__((always_inline)) HWQ_T_AVX2 __m256i hwq_dn_w(const __m256i *w, int64_t bb, int i, int u,
                                                                        const int w8)
{
    if (w8)
        return _mm256_cvtepi8_epi16(
            _mm_loadu_si128((const __m128i *)(const void *)((const uint8_t *)w + (bb * HWQ_D + i) * 64 + 16 * u)));
    return w[(bb * HWQ_D + i) * 4 + u];
}

/* v = sum_i c_i x_i of quarter u of block bb (int16, exact by the caller's bound) */
static inline __attribute__((always_inline)) HWQ_T_AVX2 __m256i hwq_dn_v(const __m256i *w, const __m256i *x,
                                                                        int64_t bb, int u, const int w8)
{
    __m256i v = _mm256_mullo_epi16(hwq_dn_w(w, bb, 0, u, w8), x[bb * HWQ_D]);
    for (int i = 1; i < HWQ_D; i++)
        v = _mm256_add_epi16(v, _mm256_mullo_epi16(hwq_dn_w(w, bb, i, u, w8), x[bb * HWQ_D + i]));
    return v;
}

/* One activation vector (broadcast words x, ns blocks) against the decoded pass: p[8 q + lane] += sums */
static inline __attribute__((always_inline)) HWQ_T_AVX2 void
hwq_dn_dot(const __m256i *w, const __m256i *mp, int64_t ns, const __m256i *x, int64_t *p, const int w8)
{
    __m256i acc[8];
    for (int q = 0; q < 8; q++)
        acc[q] = _mm256_setzero_si256();
    int64_t bb = 0;
    for (; bb + 1 < ns; bb += 2) {
        const __m256i *mq = mp + (bb >> 1) * 8;
        for (int u = 0; u < 4; u++) {
            const __m256i v0 = hwq_dn_v(w, x, bb, u, w8), v1 = hwq_dn_v(w, x, bb + 1, u, w8);
            acc[2 * u] = _mm256_add_epi32(acc[2 * u], _mm256_madd_epi16(_mm256_unpacklo_epi16(v0, v1), mq[2 * u]));
            acc[2 * u + 1] = _mm256_add_epi32(acc[2 * u + 1],
                                              _mm256_madd_epi16(_mm256_unpackhi_epi16(v0, v1), mq[2 * u + 1]));
        }
    }
    if (bb < ns) { /* odd ns: the last block alone (its multiplier pairs have 0 in the high word); a separate
                    * tail, since a zero v1 chosen inside the loop above cost 3-11 % of a call */
        const __m256i *mq = mp + (bb >> 1) * 8, z = _mm256_setzero_si256();
        for (int u = 0; u < 4; u++) {
            const __m256i v0 = hwq_dn_v(w, x, bb, u, w8);
            acc[2 * u] = _mm256_add_epi32(acc[2 * u], _mm256_madd_epi16(_mm256_unpacklo_epi16(v0, z), mq[2 * u]));
            acc[2 * u + 1] = _mm256_add_epi32(acc[2 * u + 1],
                                              _mm256_madd_epi16(_mm256_unpackhi_epi16(v0, z), mq[2 * u + 1]));
        }
    }
    for (int q = 0; q < 8; q++)
        hwq_add_i32_to_i64(p + 8 * q, acc[q]);
}

/* The groups loop of hwq_groups_dn for one codeword layout (w8 a constant in each call) */
static inline __attribute__((always_inline)) HWQ_T_AVX2 void
hwq_dn_groups(const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0, int64_t ns, const __m256i *xb,
              int64_t nbatch, int64_t *p64, __m256i mv, const int w8)
{
    __m256i w[HWQ_DN_NS * HWQ_D * 4], mp[(HWQ_DN_NS + 1) / 2 * 8];
    hwq_dn_tabs tb;
    hwq_dn_load(&tb);
    const __m256i mv16 = _mm256_slli_epi32(mv, 16);
    for (int64_t g = g0; g < ng; g++) {
        hwq_dn_decode(tile + (g * nbt + s0) * HWQ_REC, ns, &tb, mv, mv16, w, mp, w8);
        for (int64_t j = 0; j < nbatch; j++)
            hwq_dn_dot(w, mp, ns, xb + j * ns * HWQ_D, p64 + (g * nbatch + j) * HWQ_GL, w8);
    }
}

/* Blocks [0, ns) of groups [g0, ng) for all activation vectors (xb from hwq_dn_acts); f0 = m_0 / mdiv,
 * f1 = m_1 / mdiv; int64 partials p64[(g * nbatch + j) * 64 + record byte] in units of mdiv. */
static HWQ_T_AVX2 void hwq_groups_dn(const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0,
                                    int64_t ns, const __m256i *xb, int64_t nbatch, int64_t *p64, int32_t f0,
                                    int32_t f1)
{
    const __m256i mv = hwq_ladder2_mv(f0, f1);
    if (nbatch <= HWQ_DN_W8_MAX)
        hwq_dn_groups(tile, g0, ng, nbt, s0, ns, xb, nbatch, p64, mv, 1);
    else
        hwq_dn_groups(tile, g0, ng, nbt, s0, ns, xb, nbatch, p64, mv, 0);
}
#else
#define HWQ_AVX2DN 0
#define HWQ_USE_AVX2DN 0
#endif
#endif /* HWQ_AVX2_DN_H */
