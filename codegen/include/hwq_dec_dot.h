/*
 * hwq_dec_dot.h -- the decode-then-dot weight-only loop (hwq_groups_dec, AVX-512 VBMI + VNNI) of the table
 * path for batch >= HWQ_DEC_MIN_BATCH.  Included by hwq_simd_x86.h inside its HWQ_VBMI section (it uses that
 * header's HWQ_DPWSSD, HWQ_PF_BYTES and HWQ_PF_GROUPS); defines HWQ_DEC (1 when the config fits the loop).
 */
#ifndef HWQ_DEC_DOT_H
#define HWQ_DEC_DOT_H

/* ---------------------------------------------------------------------------------------------- */
/* decode-then-dot weight-only loop (AVX-512 VBMI + VNNI; picked for batch >= HWQ_DEC_MIN_BATCH)     */
/* ---------------------------------------------------------------------------------------------- */
/*
 * The table loops above pay a table lookup (6 byte-plane ops) and a ladder multiply per record and per
 * activation vector.  This loop decodes the 64 columns x ns blocks of a group once into int16 weights
 * w = cw_i * f_T (the scaled codeword coordinate times the column's ladder multiplier m_T / mdiv,
 * mdiv = gcd of the multipliers), held in an L1 buffer, and then every activation vector costs only
 * d vpdpwssd per 64 columns and block pair:
 *     dword of column c, block pair (b, b + 1), coordinate i = (w_i(b), w_i(b + 1))     (int16, int16)
 *     activation dword                                       = (x[d b + i], x[d (b + 1) + i])
 * so one vpdpwssd adds w_i(b) x_i(b) + w_i(b + 1) x_i(b + 1) for 16 columns (an odd last block is paired
 * with a zero weight and a zero activation).  Decoding a record: the codes are looked up in one 256-entry
 * byte table per pair of coordinates (vpermi2b; the two coordinates minus their minimum as the low and
 * high nibble, so D3 takes 2 lookups, not 3), the high nibble moves down by a word shift, the column's T
 * joins as bits 4-5 (vpermb + vpmultishiftqb from the 2-bit ladder fields, one bit-select; bits 6-7 keep
 * whatever the shift left there), and a 64-entry table of (coordinate, T) gives the low and high bytes of
 * the product (two vpermb, which read only the 6 low bits of a key; the table ignores key bits 4 + LB..5
 * too, so no key needs masking).
 * Exactness: |w| <= max|cw| * max f <= 32767 and |x| <= 32767 are checked, every product fits int32,
 * and the int32 sums of one chunk are bounded by ns * sumc * max f * max|x| <= 2^31 - 1 (sumc = the
 * largest sum_i |cw_i|; ns is chosen so), so the sums are exact; they go into int64 after every chunk,
 * which hwq_run_packed multiplies by mdiv.  Requires code_bits <= 8, ladder_bits <= 2 and at most 16
 * distinct coordinate values (D3 q=6, D4 q=4, Z q=8 all qualify).
 */
#if HWQ_LB <= 2
#define HWQ_DEC 1
/* packed coordinate-pair tables (one 256-entry lookup per two coordinates) */
#define HWQ_DPK ((HWQ_D + 1) / 2)
#define HWQ_T_DEC __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni")))

typedef struct {
    uint8_t cidx[HWQ_DPK][256]; /* coordinates 2p, 2p + 1 of code r minus vmin: low, high nibble */
    uint8_t plo[64], phi[64];  /* key e | T << 4 -> (e + vmin) * f_T (int16): low / high byte */
    uint8_t tperm[64];         /* vpermb index: ladder byte holding T of the column at code byte p */
    uint8_t tshift[64];        /* vpmultishiftqb control: T of that column into bits 4.. of byte p */
    uint8_t kzero;             /* a key whose product is 0 (the partner of an odd last block) */
    int32_t mdiv;              /* gcd of the ladder multipliers */
    int32_t pos[HWQ_GL];       /* accumulator lane (16 o + n) of column i of a group */
} hwq_dec_tabs;

static int64_t hwq_gcd64(int64_t a, int64_t b)
{
    while (b) {
        const int64_t t = a % b;
        a = b;
        b = t;
    }
    return a < 0 ? -a : a;
}

/* Tables of the decode loop; returns the largest chunk (blocks) whose int32 sums cannot overflow with
 * activations within +-xmax, or 0 when this config or these activations do not fit the loop. */
static int64_t hwq_dec_prepare(hwq_dec_tabs *dt, int64_t xmax)
{
    int64_t vmin = 0, vmax = 0, sumc = 1, g = 0, fmax = 0;
    for (int64_t r = 0; r < HWQ_NC; r++) {
        int64_t a = 0;
        for (int i = 0; i < HWQ_D; i++) {
            const int64_t v = (int64_t)hwq_codebook[r * HWQ_D + i];
            vmin = v < vmin ? v : vmin;
            vmax = v > vmax ? v : vmax;
            a += v < 0 ? -v : v;
        }
        sumc = a > sumc ? a : sumc;
    }
    for (int t = 0; t < HWQ_L; t++)
        g = hwq_gcd64(g, (int64_t)hwq_mults[t]);
    if (g < 1)
        g = 1;
    for (int t = 0; t < HWQ_L; t++)
        fmax = (int64_t)hwq_mults[t] / g > fmax ? (int64_t)hwq_mults[t] / g : fmax;
    const int64_t vabs = -vmin > vmax ? -vmin : vmax;
    if (vmax - vmin > 15 || vabs * fmax > 32767 || xmax > 32767)
        return 0;
    const int64_t blk = sumc * fmax * xmax;
    const int64_t ns = blk > 0 ? (int64_t)0x7FFFFFFF / blk : (int64_t)HWQ_BT;
    for (int i = 0; i < HWQ_D; i++)
        for (int r = 0; r < 256; r++) {
            const uint8_t e = (uint8_t)((r < HWQ_NC ? (int64_t)hwq_codebook[r * HWQ_D + i] : 0) - vmin);
            dt->cidx[i / 2][r] = (uint8_t)(i % 2 ? dt->cidx[i / 2][r] | e << 4 : e);
        }
    for (int key = 0; key < 64; key++) { /* bits 4 + LB .. 5 of a key are not T: ignored */
        const int64_t e = key & 15, t = (key >> 4) & ((1 << HWQ_LB) - 1);
        const int64_t v = t < HWQ_L && e + vmin <= vmax ? (e + vmin) * ((int64_t)hwq_mults[t] / g) : 0;
        dt->plo[key] = (uint8_t)((uint64_t)v & 0xFFu);
        dt->phi[key] = (uint8_t)(((uint64_t)v >> 8) & 0xFFu);
    }
    dt->kzero = (uint8_t)(-vmin);
    dt->mdiv = (int32_t)g;
    int colof[HWQ_GL];
    for (int i = 0; i < HWQ_GL; i++) {
        const int p = hwq_col_pos(i);
        colof[p] = i;
        /* lane n of output vector o holds code byte 16 (n >> 2) + 4 o + (n & 3) (see hwq_dec_pass) */
        dt->pos[i] = 16 * ((p >> 2) & 3) + 4 * (p >> 4) + (p & 3);
    }
    for (int p = 0; p < HWQ_GL; p++) {
        const int bo = HWQ_LB * colof[p];
        dt->tperm[p] = (uint8_t)(bo / 8);
        dt->tshift[p] = (uint8_t)((8 * (p % 8) + bo % 8 - 4) & 63);
    }
    return ns < 1 ? 0 : ns;
}

/* Activation dwords of blocks [bs, bs + ns):
 *     xp[j * nw + u * d + i] = (x[d (bs + 2u) + i], x[d (bs + 2u + 1) + i])
 * as two int16 (the second 0 past the chunk), nw = ceil(ns / 2) * d, then nw zeros (nbatch + 1 rows). */
static void hwq_dec_acts(const int32_t *xr, int64_t k, int64_t nbatch, int64_t bs, int64_t ns, int32_t *xp)
{
    const int64_t npair = (ns + 1) / 2, nw = npair * HWQ_D;
    for (int64_t j = 0; j < nbatch; j++)
        for (int64_t u = 0; u < npair; u++)
            for (int i = 0; i < HWQ_D; i++) {
                const int32_t *xs = xr + j * k + (bs + 2 * u) * HWQ_D + i;
                const uint32_t lo = (uint16_t)(int16_t)xs[0];
                const uint32_t hi = 2 * u + 1 < ns ? (uint16_t)(int16_t)xs[HWQ_D] : 0u;
                xp[j * nw + u * HWQ_D + i] = (int32_t)(lo | hi << 16);
            }
    for (int64_t w = 0; w < nw; w++) /* the zero vector of hwq_groups_dec's 3-vector passes */
        xp[nbatch * nw + w] = 0;
}

/* 256-entry byte table (4 registers) looked up by 64 codes (k7: bit 7 of each code). */
static inline __attribute__((always_inline)) HWQ_T_DEC __m512i
hwq_dec_lut256(const __m512i t[4], const __m512i c, const __mmask64 k7)
{
    const __m512i lo = _mm512_permutex2var_epi8(t[0], c, t[1]);
#if HWQ_NC > 128
    return _mm512_mask_blend_epi8(k7, lo, _mm512_permutex2var_epi8(t[2], c, t[3]));
#else
    (void)k7;
    return lo;
#endif
}

/* Keys e_i | T << 4 of the 64 columns of one record (byte p = column at code byte p), i < d. */
static inline __attribute__((always_inline)) HWQ_T_DEC void
hwq_dec_keys(const uint8_t *rec, const __m512i ct[][4], const __m512i tperm, const __m512i tshift,
             __m512i k[HWQ_D], int64_t pf)
{
    _mm_prefetch((const char *)(rec + pf), _MM_HINT_T0);
    _mm_prefetch((const char *)(rec + pf + HWQ_REC - 1), _MM_HINT_T0);
    const __m512i c = _mm512_loadu_si512((const void *)rec);
    const __mmask64 k7 = _mm512_movepi8_mask(c);
#if HWQ_LB > 0
    const __m512i lb = _mm512_zextsi128_si512(
        _mm_maskz_loadu_epi8((__mmask16)((1u << (8 * HWQ_LB)) - 1u), (const void *)(rec + HWQ_GL)));
    const __m512i ts = _mm512_multishift_epi64_epi8(tshift, _mm512_permutexvar_epi8(tperm, lb));
    const __m512i tm = _mm512_set1_epi8((char)(((1 << HWQ_LB) - 1) << 4));
#else
    (void)tperm;
    (void)tshift;
#endif
    for (int i = 0; i < HWQ_D; i++) {
        /* coordinate 2p in the low nibble of the pair lookup p, 2p + 1 in its high nibble shifted down
         * (bits 4-7 then hold the next byte's low nibble: T overwrites bits 4.., the table ignores the
         * rest) */
        k[i] = i % 2 ? _mm512_srli_epi16(k[i - 1], 4) : hwq_dec_lut256(ct[i / 2], c, k7);
    }
#if HWQ_LB > 0
    for (int i = 0; i < HWQ_D; i++) /* after the shifts: k[2p + 1] reads k[2p] as looked up */
        k[i] = _mm512_ternarylogic_epi32(k[i], ts, tm, 0xD8); /* bits of tm from ts, the rest from k */
#endif
}

/* int32 sums of 64 lanes into the int64 partials pp[0..63] (lane order). */
static inline __attribute__((always_inline)) HWQ_T_DEC void hwq_dec_out(int64_t *pp, const __m512i acc[4])
{
    for (int o = 0; o < 4; o++) {
        int64_t *d = pp + 16 * o;
        const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc[o]));
        const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc[o], 1));
        _mm512_storeu_si512((void *)d, _mm512_add_epi64(_mm512_loadu_si512((const void *)d), lo));
        _mm512_storeu_si512((void *)(d + 8), _mm512_add_epi64(_mm512_loadu_si512((const void *)(d + 8)), hi));
    }
}

/* nj (1-4) activation vectors against the decoded weights wb (nw dword slots of 4 vectors each); the
 * 4 nj int32 sums are named registers (an array of them made gcc shuffle registers in the loop). */
#define HWQ_DEC_ACC(J)                                                                                      \
    __m512i a##J##0 = _mm512_setzero_si512(), a##J##1 = a##J##0, a##J##2 = a##J##0, a##J##3 = a##J##0;
#define HWQ_DEC_MAC(J)                                                                                      \
    if (J < nj) {                                                                                           \
        const __m512i xb = _mm512_set1_epi32(xp[J * nw + v]);                                               \
        HWQ_DPWSSD(a##J##0, w0, xb);                                                                 \
        HWQ_DPWSSD(a##J##1, w1, xb);                                                                 \
        HWQ_DPWSSD(a##J##2, w2, xb);                                                                 \
        HWQ_DPWSSD(a##J##3, w3, xb);                                                                 \
    }
#define HWQ_DEC_OUT(J)                                                                                      \
    if (J < nj) {                                                                                           \
        const __m512i r[4] = {a##J##0, a##J##1, a##J##2, a##J##3};                                          \
        hwq_dec_out(J < 3 ? pp + J * HWQ_GL : p3, r);                                                       \
    }
/* the same for all four vector slots (unused slots cost nothing: nj is a compile-time constant) */
#define HWQ_DEC_ACC4 HWQ_DEC_ACC(0) HWQ_DEC_ACC(1) HWQ_DEC_ACC(2) HWQ_DEC_ACC(3)
#define HWQ_DEC_MAC4 HWQ_DEC_MAC(0) HWQ_DEC_MAC(1) HWQ_DEC_MAC(2) HWQ_DEC_MAC(3)
#define HWQ_DEC_OUT4 HWQ_DEC_OUT(0) HWQ_DEC_OUT(1) HWQ_DEC_OUT(2) HWQ_DEC_OUT(3)
/* pp: int64 partials of vectors 0..2 (stride 64), p3 those of vector 3 */
static inline __attribute__((always_inline)) HWQ_T_DEC void
hwq_dec_dot(const int nj, const uint8_t *wb, int64_t nw, const int32_t *xp, int64_t *pp, int64_t *p3)
{
    HWQ_DEC_ACC4
    for (int64_t v = 0; v < nw; v++) {
        const uint8_t *w = wb + v * 256;
        const __m512i w0 = _mm512_loadu_si512((const void *)w);
        const __m512i w1 = _mm512_loadu_si512((const void *)(w + 64));
        const __m512i w2 = _mm512_loadu_si512((const void *)(w + 128));
        const __m512i w3 = _mm512_loadu_si512((const void *)(w + 192));
        HWQ_DEC_MAC4
    }
    HWQ_DEC_OUT4
}

/* Decodes blocks [0, ns) of one group (records grec, grec + REC, ...) and runs the first nj (1-4)
 * activation vectors against each decoded block pair at once, so the decode's byte shuffles and the
 * vpdpwssd of the dot issue side by side (two loops one after the other left one of them idle: the decode
 * was 40-60% of the time at batch 4).  For block pair u and coordinate i the 4 vectors w0..w3 hold 16
 * dwords (w_i(2u), w_i(2u + 1)) each; lane n of vector o is the column at code byte 16 (n >> 2) + 4 o +
 * (n & 3) (unpack order; dt->pos inverts it).  keep: also store them into wb[((u d + i) 4 + o) 64 ..]
 * for the passes of the further vectors (hwq_dec_dot). */
static inline __attribute__((always_inline)) HWQ_T_DEC void
hwq_dec_pass(const int nj, const int keep, const hwq_dec_tabs *dt, const uint8_t *grec, int64_t ns,
             uint8_t *wb, int64_t pf, int64_t nw, const int32_t *xp, int64_t *pp, int64_t *p3)
{
    __m512i ct[HWQ_DPK][4];
    for (int i = 0; i < HWQ_DPK; i++)
        for (int h = 0; h < 4; h++)
            ct[i][h] = _mm512_loadu_si512((const void *)(dt->cidx[i] + 64 * h));
    const __m512i plo = _mm512_loadu_si512((const void *)dt->plo);
    const __m512i phi = _mm512_loadu_si512((const void *)dt->phi);
    const __m512i tperm = _mm512_loadu_si512((const void *)dt->tperm);
    const __m512i tshift = _mm512_loadu_si512((const void *)dt->tshift);
    const __m512i kz = _mm512_set1_epi8((char)dt->kzero);
    HWQ_DEC_ACC4
    for (int64_t u = 0; 2 * u < ns; u++) {
        __m512i ka[HWQ_D], kb[HWQ_D];
        hwq_dec_keys(grec + 2 * u * HWQ_REC, ct, tperm, tshift, ka, pf);
        if (2 * u + 1 < ns)
            hwq_dec_keys(grec + (2 * u + 1) * HWQ_REC, ct, tperm, tshift, kb, pf);
        else
            for (int i = 0; i < HWQ_D; i++)
                kb[i] = kz;
        for (int i = 0; i < HWQ_D; i++) {
            const int64_t v = u * HWQ_D + i;
            const __m512i k0 = _mm512_unpacklo_epi8(ka[i], kb[i]), k1 = _mm512_unpackhi_epi8(ka[i], kb[i]);
            const __m512i lo0 = _mm512_permutexvar_epi8(k0, plo), hi0 = _mm512_permutexvar_epi8(k0, phi);
            const __m512i lo1 = _mm512_permutexvar_epi8(k1, plo), hi1 = _mm512_permutexvar_epi8(k1, phi);
            const __m512i w0 = _mm512_unpacklo_epi8(lo0, hi0), w1 = _mm512_unpackhi_epi8(lo0, hi0);
            const __m512i w2 = _mm512_unpacklo_epi8(lo1, hi1), w3 = _mm512_unpackhi_epi8(lo1, hi1);
            if (keep) {
                uint8_t *o = wb + v * 256;
                _mm512_storeu_si512((void *)o, w0);
                _mm512_storeu_si512((void *)(o + 64), w1);
                _mm512_storeu_si512((void *)(o + 128), w2);
                _mm512_storeu_si512((void *)(o + 192), w3);
            }
            HWQ_DEC_MAC4
        }
    }
    HWQ_DEC_OUT4
}

/* Blocks [s0, s0 + ns) of groups [g0, ng) for all activation vectors; xp from hwq_dec_acts followed by
 * nw zero dwords (a fourth vector for a pass of three), wb an L1 buffer of ceil(ns / 2) d 256 bytes,
 * p64[(g B + j) 64 + lane] the int64 partials.  Vectors go 4 at a time, the first 4 with the decode
 * (hwq_dec_pass); a pass of 3 runs as 4 with the zero vector (measured 1.3x faster than the 3-vector
 * loop at 4096x14336, AVX-512 Zen 5, before the fusion; with it, a tie on the Intel VM: 1.01x / 0.96x).
 * Where the time goes (Intel Xeon VM, 4096x4096, one thread): batch 1, 2, 3 cost 0.69, 0.73, 0.87 ms
 * against a 0.47 ms table loop at batch 1, so up to batch 4 the decode's byte shuffles (about 21 per
 * record, one shuffle port) bound the loop, and from batch 8 the vpdpwssd (6 per record and vector). */
static HWQ_T_DEC void hwq_groups_dec(const hwq_dec_tabs *dt, const uint8_t *tile, int64_t g0, int64_t ng,
                                     int64_t nbt, int64_t s0, int64_t ns, const int32_t *xp, int64_t nbatch,
                                     uint8_t *wb, int64_t *p64)
{
    const int64_t nw = (ns + 1) / 2 * HWQ_D;
    const int64_t pf = ns < nbt ? HWQ_PF_GROUPS * nbt * HWQ_REC : HWQ_PF_BYTES;
    for (int64_t g = g0; g < ng; g++) {
        const uint8_t *grec = tile + (g * nbt + s0) * HWQ_REC;
        int64_t *pp = p64 + g * nbatch * HWQ_GL;
        /* vectors 0-3 with the decode (a pass of three runs as four with the zero vector xp + nbatch nw,
         * whose sums are dropped); the decoded weights stay in wb only when more vectors follow */
        if (nbatch > 4) {
            hwq_dec_pass(4, 1, dt, grec, ns, wb, pf, nw, xp, pp, pp + 3 * HWQ_GL);
        } else if (nbatch == 4) {
            hwq_dec_pass(4, 0, dt, grec, ns, wb, pf, nw, xp, pp, pp + 3 * HWQ_GL);
        } else if (nbatch == 3) {
            int64_t drop[HWQ_GL] = {0};
            hwq_dec_pass(4, 0, dt, grec, ns, wb, pf, nw, xp, pp, drop);
        } else if (nbatch == 2) {
            hwq_dec_pass(2, 0, dt, grec, ns, wb, pf, nw, xp, pp, NULL);
        } else {
            hwq_dec_pass(1, 0, dt, grec, ns, wb, pf, nw, xp, pp, NULL);
        }
        for (int64_t j0 = 4; j0 < nbatch; j0 += 4) {
            const int64_t nj = nbatch - j0 < 4 ? nbatch - j0 : 4;
            const int32_t *x = xp + j0 * nw;
            int64_t *pj = pp + j0 * HWQ_GL;
            if (nj == 4) {
                hwq_dec_dot(4, wb, nw, x, pj, pj + 3 * HWQ_GL);
            } else if (nj == 3) { /* the fourth vector is zero (xp + nbatch nw); its sums are dropped */
                int64_t drop[HWQ_GL] = {0};
                hwq_dec_dot(4, wb, nw, x, pj, drop);
            } else if (nj == 2) {
                hwq_dec_dot(2, wb, nw, x, pj, NULL);
            } else {
                hwq_dec_dot(1, wb, nw, x, pj, NULL);
            }
        }
    }
}
#else
#define HWQ_DEC 0
#endif

#endif /* HWQ_DEC_DOT_H */
