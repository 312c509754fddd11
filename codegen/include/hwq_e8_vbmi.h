/*
 * hwq_e8_vbmi.h -- exact E8 arithmetic-decode GEMV on AVX-512 VBMI, 64 blocks per step in int8 lanes.
 * Included by hwq_direct_c.h (direct path, E8 configs whose code fits 25 bits: q <= 8).
 *
 * The codeword c = G k - q Q_E8(G k / q) of hwq_arith_decode (SPEC section 2, scaled coordinates: cs = 2),
 * rewritten so that every per-coordinate quantity is a table lookup (vpermb) on g_i = (G k)_i, a small
 * integer (-2(q-1) <= g_i <= 5(q-1)), and the rest are byte-lane max / min / sums over the 8 coordinates:
 *
 *   den = 2q;  f0_i = rnd(g_i / den);  r0_i = g_i - den f0_i in [-q, q);  dir_i = +1 if r0_i >= 0 else -1
 *   coset D8:        y0 = 2 f0 (+ 2 dir_a at a = first argmax |r0| when sum f0 is odd)
 *   coset D8 + 1/2:  f1 = floor(g / den) = f0 - [r0 < 0];  y1 = 2 f1 + 1 (- 2 dir_b at b = first argmin |r0|
 *                    when sum f1 is odd)   (|r1_i| = 2(q - |r0_i|): the largest |r1| is the smallest |r0|)
 *   c = g - q y:  coset D8: r0 (- 2q dir_a);  coset D8 + 1/2: r0 - q dir (+ 2q dir_b);  so |c_i| <= 2q
 *   y1 is kept iff strictly closer: (dist0 - dist1) / (4 den) = S - 4q + 2 odd0 (q - M) - 2 odd1 m > 0,
 *   S = sum |r0_i|, M = max |r0_i|, m = min |r0_i|, odd0 / odd1 the parities of sum f0 / sum f1 -- the same
 *   comparison as hwq_closest_e8_rational's (y0 - y1) . (4 num - den (y0 + y1)) < 0, tie to y0.
 * Per coordinate two lookups feed four reductions: A_i = |r0_i| + 128 [f0_i odd] (a byte sum gives S in
 * bits 0-6 and odd0 in bit 7) and the key K_i = 16 |r0_i| + 2 (7 - i) + [r0_i < 0]: max K is the first
 * argmax of |r0| (lowest index on ties, as hwq_closest_d_rational), min (K xor 14) = 16 |r0| + 2 i + neg the
 * first argmin, and the xor of the keys' bit 0 the parity of the negative r0 (odd1 = odd0 xor it).  The
 * winning key also carries the position (bits 1-3) and the sign (bit 0) of the one coordinate a D8 fix moves.
 *
 * One step (64 blocks of a column), in three passes over the column (so that the out-of-order window
 * overlaps short chains instead of one long one; gbuf holds 512 bytes per step between passes):
 *   1. codes -> rows (vpermb + vpsrlvd, 16 per zmm) -> r = hi q^4 + lo (hi by one float32 fma, exact for
 *      every row: hwq_e8v_setup proves it) -> digit pairs q k_2i + k_2i+1 (one int16 mulhi division by q^2)
 *      -> table indices g_i + 2(q - 1) (byte tables);
 *   2. the reductions and the decision above -> biased codewords u_i = c_i + 2q in [0, 4q] (u8, 64 lanes):
 *      one 128-entry lookup on (g_i, coset), then the fix at one coordinate (masked add);
 *   3. byte pairs (u_2p, u_2p+1) of each block (vpunpck) -> vpmaddubsw with the activations split into bytes
 *      x = 256 xh + xl (xl in [0, 255] times u as signed bytes, u times xh signed, transposed once per call
 *      into the same lanes): L = <u, xl>, H = <u, xh> in int16 (exact modulo 2^16; the true <c, xl> and
 *      <c, xh> fit int16 once the per-block bias 2q sum(xl), 2q sum(xh) is subtracted), then vpmaddwd with
 *      m_T (int16, vpmultishiftqb + vpermw from the packed ladder bits) into int32 accumulators of L and H,
 *      flushed to int64 every t->flush steps; acc = sum L + 256 sum H.
 * Every bound this needs (the table ranges, the int16 dots, the int32 accumulators, the float32 division) is
 * checked once (hwq_e8v_setup, cached by hwq_e8v_get) from the rendered tables; otherwise the caller takes
 * the 16-lane int32 path.  Bit-equality with hwq.datapath: tests/test_codegen_c_direct.py (per ISA,
 * exhaustive over the codebook for small q and, slow-marked, for q = 7, sampled for q = 7 by default,
 * ASan/UBSan).
 */
#ifndef HWQ_E8_VBMI_H
#define HWQ_E8_VBMI_H

#if HWQ_X86 && HWQ_LAT_KIND == 2 && HWQ_D == 8 && HWQ_CS == 2 && HWQ_CB <= 25 && HWQ_LB <= 2
#define HWQ_E8V 1
#define HWQ_T_E8V __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi")))
#define HWQ_E8V_CHB (8 * HWQ_CB) /* code bytes of one 64-block step */
#define HWQ_E8V_LGB (8 * HWQ_LB) /* ladder bytes of one 64-block step */
#define HWQ_E8V_XB 1280           /* activation bytes of one step and batch column (20 zmm, hwq_e8_acts) */

typedef struct {
    uint8_t ta[64];       /* |r0| + 128 [f0 odd], indexed by g + 2 (q - 1) */
    uint8_t tk[8][64];    /* 16 |r0| + 2 (7 - i) + [r0 < 0] of coordinate i */
    uint8_t tc[128];      /* c + 2q: [g + 2(q - 1)] coset D8, [64 + g + 2(q - 1)] coset D8 + 1/2, no fix */
    uint8_t d0[128];      /* 2 (q - M) by (max key) >> 1 = 8 M + 7 - a */
    uint8_t d1[128];      /* 2 m by (min key) >> 1 = 8 m + b */
    int16_t mt32[32];     /* m_T by the low 5 bits of a ladder window */
    uint8_t ctrl[2][64];  /* vpmultishiftqb controls of the int16 lanes of the low / high unpack half */
    int32_t blk[2][32];   /* block (within the step) of int16 lane w of half h */
    uint8_t gt[6][64];    /* g from digit pairs p = q k_2i + k_2i+1 (see below) */
    uint16_t magic, shift; /* floor(v / q^2) = (v * magic >> 16) >> shift, v < q^4 */
    float inv, half;      /* floor(r / q^4) = (int)(r * inv + half) in float32 (proved by hwq_e8v_setup) */
    int16_t q2;           /* q^2, loaded (a constant multiplier would become shifts and adds) */
    uint8_t pos2[8][64];  /* 2 i in every byte: the coordinate a D8 fix moves */
    int flush;            /* steps between flushes of the int32 accumulators */
} hwq_e8v_tabs;

/* Byte lane pos of the int8 vectors -> block within the step: the in-lane packs (packus_epi32 of the four
 * 16-block groups, then packus_epi16) interleave the blocks; everything downstream follows this order. */
static int hwq_e8v_block_of_pos(int pos)
{
    const int j = pos >> 4, v = pos & 15;
    const int grp = (v < 8 ? 0 : 2) + ((v & 7) >= 4 ? 1 : 0);
    return 16 * grp + 4 * j + (v & 3);
}

/* Tables and the proof that this path is exact for the rendered config; 0 when it is not. */
static int hwq_e8v_setup(hwq_e8v_tabs *t)
{
    static const int64_t cs8[64] = {4, -2, 0, 0, 0, 0, 0, 1, 0, 2, -2, 0, 0, 0, 0, 1, 0, 0, 2, -2, 0, 0,
                                    0, 1, 0, 0, 0, 2, -2, 0, 0, 1, 0, 0, 0, 0, 2, -2, 0, 1, 0, 0, 0, 0,
                                    0, 2, -2, 1, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    const int q = HWQ_Q, off = 2 * (q - 1);
    for (int i = 0; i < 64; i++)
        if (hwq_gen[i] != cs8[i]) /* the g_i formulas below are those of this generator */
            return 0;
    /* indices < 64, keys 16 q + 15 < 256, S = sum |r0| <= 8q < 128, lhs <= 10 q, u = c + 2q <= 4q */
    if (q < 2 || q > 8 || 7 * (q - 1) > 63)
        return 0;
    /* activations x = 256 xh + xl (xl in [0, 255] unsigned, xh a signed byte); int16 dots: |<c, xl>| and
     * |<c, xh>| <= 8 * 2q * max, and no vpmaddubsw pair saturates (2 * 4q * 255); the int32 accumulators */
    const int64_t xmax = (int64_t)HWQ_ACT_MAX * HWQ_H, xhmax = (xmax + 255) / 256;
    if (xmax > 32767 || 16 * q * 255 > 32767 || 16 * q * xhmax > 32767 || 8 * q * 255 > 32767)
        return 0;
    int64_t mmax = 0;
    for (int i = 0; i < HWQ_L; i++) {
        if (hwq_mults[i] < 0 || hwq_mults[i] > 32767)
            return 0;
        mmax = hwq_mults[i] > mmax ? hwq_mults[i] : mmax;
    }
    const int64_t lane = 4 * 16 * (int64_t)q * 255 * (mmax > 0 ? mmax : 1); /* 4 blocks a lane and step */
    t->flush = (int)(((((int64_t)1) << 31) - 1) / lane);
    if (t->flush < 1)
        return 0;
    for (int i = 0; i < 64; i++) {
        const int g = i - off, den = 2 * q;
        const int f0 = (int)hwq_floor_div(2 * g + den, 2 * den), r0 = g - den * f0;
        const int neg = r0 < 0, a = neg ? -r0 : r0;
        t->ta[i] = (uint8_t)(a + 128 * (f0 & 1));
        for (int c = 0; c < 8; c++) {
            t->tk[c][i] = (uint8_t)(16 * a + 2 * (7 - c) + neg);
            t->pos2[c][i] = (uint8_t)(2 * c);
        }
        t->tc[i] = (uint8_t)(r0 + 2 * q);
        t->tc[64 + i] = (uint8_t)(r0 + (neg ? q : -q) + 2 * q);
    }
    for (int v = 0; v < 128; v++) {
        t->d0[v] = (uint8_t)((v >> 3) <= q ? 2 * (q - (v >> 3)) : 0);
        t->d1[v] = (uint8_t)((v >> 3) <= q ? 2 * (v >> 3) : 0);
    }
    for (int i = 0; i < 32; i++) {
        const int ti = HWQ_LB ? (i & ((1 << HWQ_LB) - 1)) : 0;
        t->mt32[i] = (int16_t)(ti < HWQ_L ? hwq_mults[ti] : 0);
    }
    for (int h = 0; h < 2; h++)
        for (int w = 0; w < 32; w++) {
            /* int16 lane w of vpunpck{l,h}bw: byte lane pos = 16 (w / 8) + 8 h + w % 8 of the int8 vectors */
            const int b = hwq_e8v_block_of_pos(16 * (w / 8) + 8 * h + w % 8);
            t->blk[h][w] = b;
            /* the ladder qword of the half (blocks 0-31 or 32-63 at 2 bits, all 64 at 1) is broadcast */
            t->ctrl[h][2 * w] = t->ctrl[h][2 * w + 1] = (uint8_t)((HWQ_LB * b) & 63);
        }
    for (int p = 0; p < 64; p++) { /* p = q a + b: a pair of digits (q^2 <= 64) */
        const int a = p / q, b = p % q;
        t->gt[0][p] = (uint8_t)(b + off);              /* k7 + off             (p = k6 k7) */
        t->gt[1][p] = (uint8_t)(4 * a - 2 * b);        /* 4 k0 - 2 k1          (p = k0 k1) */
        t->gt[2][p] = (uint8_t)(2 * b);                /* 2 k1, 2 k3, 2 k5 */
        t->gt[3][p] = (uint8_t)(2 * a);                /* 2 k2, 2 k4, 2 k6 */
        t->gt[4][p] = (uint8_t)(2 * a - 2 * b);        /* 2 k2 - 2 k3, 2 k4 - 2 k5 */
        t->gt[5][p] = (uint8_t)(2 * a + b + off);      /* 2 k6 + k7 + off */
    }
    /* hi = floor(r / q^4) = (int)fma(r, inv, half) in float32 (r < q^8 <= 2^24 is exact): the fma rounds the
     * exact r inv + half once, as (float) does the same sum in double (exact: < 50 significant bits), and
     * it is monotone in r, so checking both ends r = n q^4 and n q^4 + q^4 - 1 of every quotient n proves
     * every r. */
    const int q2 = q * q, q4 = q2 * q2;
    t->inv = (float)(1.0 / q4);
    t->half = (float)(0.25 / q4);
    t->q2 = (int16_t)q2;
    if (q2 > 64)
        return 0;
    for (int64_t n = 0; n < q4; n++)
        for (int64_t r = n * q4; r < (n + 1) * q4; r += q4 - 1)
            if ((int64_t)(float)((double)r * (double)t->inv + (double)t->half) != n)
                return 0;
    for (int s = 0; s <= 6; s++) {
        const int64_t m = (((int64_t)1 << (16 + s)) + q2 - 1) / q2;
        if (m > 65535)
            continue;
        int ok = 1;
        for (int64_t v = 0; v < q4 && ok; v++)
            ok = (((v * m) >> 16) >> s) == v / q2;
        if (ok) {
            t->magic = (uint16_t)m;
            t->shift = (uint16_t)s;
            return 1;
        }
    }
    return 0;
}

/* The tables of this config, computed once per process (hwq_e8v_setup's proofs cost about 10 us, a GEMV of a
 * few columns less): the first caller fills the cache, callers meanwhile compute their own copy in scratch.
 * NULL when the config is refused. */
static const hwq_e8v_tabs *hwq_e8v_get(hwq_e8v_tabs *scratch)
{
    static hwq_e8v_tabs cache;
    static int state; /* 0: not yet, 2: being computed, 1: ready, -1: refused */
    const int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
    if (s == 1 || s == -1)
        return s == 1 ? &cache : NULL;
    int expect = 0;
    if (s == 0 && __atomic_compare_exchange_n(&state, &expect, 2, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        const int ok = hwq_e8v_setup(&cache);
        __atomic_store_n(&state, ok ? 1 : -1, __ATOMIC_RELEASE);
        return ok ? &cache : NULL;
    }
    return hwq_e8v_setup(scratch) ? scratch : NULL;
}

/* Activations in the lane order of a step of spb blocks (64 here, 32 in hwq_e8_avx2.h; its vectors are spb
 * bytes), per step st and batch column j (20 spb bytes at (st B + j) 20 spb: a step's B chunks are one
 * contiguous read; st-major took 1.2x longer than this at 14336 x 4096, batch 8, where the B chunks of a step lay
 * 35 KB apart): int8 pairs (xl_2p, xl_2p+1) of block blk[h spb / 2 + w] at int16 lane w of vector 2p + h, then
 * xh likewise (vector 8 + 2p + h), then the int16 biases 2q sum(xl) (vector 16 + h) and 2q sum(xh) (vector
 * 18 + h); 0 past the last block. */
static void hwq_e8_acts(const int32_t *xr, int64_t k, int64_t nbatch, int64_t nst, int spb, const int32_t *blk,
                        uint8_t *xt)
{
    const int64_t nb = k / 8;
    for (int64_t j = 0; j < nbatch; j++)
        for (int64_t st = 0; st < nst; st++) {
            uint8_t *o = xt + (st * nbatch + j) * 20 * spb;
            for (int h = 0; h < 2; h++)
                for (int w = 0; w < spb / 2; w++) {
                    const int64_t b = spb * st + blk[h * (spb / 2) + w];
                    int32_t sl = 0, sh = 0;
                    for (int i = 0; i < 8; i++) {
                        const int32_t x = b < nb ? xr[j * k + 8 * b + i] : 0;
                        const int32_t xh = (x - (x & 255)) / 256, xl = x & 255; /* x = 256 xh + xl */
                        o[spb * (2 * (i / 2) + h) + 2 * w + (i & 1)] = (uint8_t)xl;
                        o[spb * (8 + 2 * (i / 2) + h) + 2 * w + (i & 1)] = (uint8_t)(int8_t)xh;
                        sl += xl;
                        sh += xh;
                    }
                    const uint16_t bl = (uint16_t)(2 * HWQ_Q * sl), bh = (uint16_t)(2 * HWQ_Q * sh);
                    memcpy(o + spb * (16 + h) + 2 * w, &bl, 2);
                    memcpy(o + spb * (18 + h) + 2 * w, &bh, 2);
                }
        }
}

/* One column of a step-wise E8 decode: acc[j] += sum_b m_{T_b} <c(r_b), x_j,b> for j < nbatch; returns 1 if a
 * code of the column is >= HWQ_NC.  tabs: the decode's tables; gbuf: its per-thread buffer. */
typedef int (*hwq_e8_col_fn)(const uint8_t *crow, const uint8_t *lrow, int64_t nb, int64_t cs, int64_t ls,
                             const uint8_t *xt, int64_t nbatch, const void *tabs, uint8_t *gbuf, int64_t *acc);

/* The GEMV around a column function (steps of spb blocks, lane order blk, gstep bytes of gbuf per step):
 * activations laid out once (hwq_e8_acts), columns shared by the threads.  HWQ_E_CODES if a weight code is out
 * of range (acc is then meaningless), HWQ_E_ALLOC or HWQ_OK. */
static int hwq_e8_run(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, const int32_t *xr,
                      int64_t nbatch, int64_t *acc, int nt, int spb, const int32_t *blk, int64_t gstep,
                      hwq_e8_col_fn col, const void *tabs)
{
    const int64_t nb = k / 8, cs = hwq_cstride(nb), ls = hwq_lstride(nb), nst = (nb + spb - 1) / spb;
    uint8_t *xt = (uint8_t *)malloc((size_t)(nbatch * nst * 20 * spb));
    if (!xt)
        return HWQ_E_ALLOC;
    hwq_e8_acts(xr, k, nbatch, nst, spb, blk, xt);
    int nomem = 0, badcodes = 0;
    (void)nt;
    HWQ_PRAGMA(omp parallel num_threads(nt))
    {
        uint8_t *gbuf = (uint8_t *)malloc((size_t)(nst * gstep));
        if (!gbuf) {
            HWQ_PRAGMA(omp atomic write)
            nomem = 1;
        }
        HWQ_PRAGMA(omp for schedule(dynamic, 32))
        for (int64_t mm = 0; mm < m; mm++)
            if (gbuf && col(codes + mm * cs, ladder + mm * ls, nb, cs, ls, xt, nbatch, tabs, gbuf,
                            acc + mm * nbatch)) {
                HWQ_PRAGMA(omp atomic write)
                badcodes = 1;
            }
        free(gbuf);
    }
    free(xt);
    return nomem ? HWQ_E_ALLOC : badcodes ? HWQ_E_CODES : HWQ_OK;
}

/* One column: acc[j] += sum_b m_{T_b} <c(r_b), x_j,b>.  Returns 1 if a code of the column is >= HWQ_NC (the
 * range check of hwq_check_codes, done here as the rows are extracted; the sums are then meaningless). */
static HWQ_T_E8V int hwq_e8v_col(const uint8_t *crow, const uint8_t *lrow, int64_t nb, int64_t cs, int64_t ls,
                                  const uint8_t *xt, int64_t nbatch, const void *tabs, uint8_t *gbuf,
                                  int64_t *acc)
{
    const hwq_e8v_tabs *t = (const hwq_e8v_tabs *)tabs;
    const int64_t nst = (nb + 63) / 64;
    const __m512i ncv = _mm512_set1_epi32((int)HWQ_NC);
    __mmask16 bad = 0;
    const __m512i t_a = _mm512_loadu_si512(t->ta);
    const __m512i tca = _mm512_loadu_si512(t->tc), tcb = _mm512_loadu_si512(t->tc + 64);
    const __m512i d0a = _mm512_loadu_si512(t->d0), d0b = _mm512_loadu_si512(t->d0 + 64);
    const __m512i d1a = _mm512_loadu_si512(t->d1), d1b = _mm512_loadu_si512(t->d1 + 64);
    const __m512i mt32 = _mm512_loadu_si512(t->mt32);
    const __m512i magic = _mm512_set1_epi16((short)t->magic), q2v = _mm512_set1_epi16(t->q2);
    const __m128i dsh = _mm_cvtsi32_si128(t->shift);
    const int dshift = t->shift != 0;
    __m512i gt[6];
    for (int i = 0; i < 6; i++)
        gt[i] = _mm512_loadu_si512(t->gt[i]);
    const __m512i q4v = _mm512_set1_epi32(HWQ_Q * HWQ_Q * HWQ_Q * HWQ_Q);
    const __m512 inv = _mm512_set1_ps(t->inv), half = _mm512_set1_ps(t->half);
    const __m512i fourq = _mm512_set1_epi8((char)(4 * HWQ_Q)), s7f = _mm512_set1_epi8(0x7f);
    const __m512i one8 = _mm512_set1_epi8(1), x0e = _mm512_set1_epi8(0x0e), b64 = _mm512_set1_epi8(64);
    const __m512i pq2 = _mm512_set1_epi8((char)(2 * HWQ_Q)), nq2 = _mm512_set1_epi8((char)(-2 * HWQ_Q));
    const __m512i cmask = _mm512_set1_epi32((int)((1u << HWQ_CB) - 1u));
    __m512i pidx, shv; /* code extraction, as the range check does it (hwq_codes_check.h) */
    hwq_code_lanes(&pidx, &shv);
    const __mmask64 lmask = ((__mmask64)1 << (2 * HWQ_CB)) - 1;
    const __m512i ctrl0 = _mm512_loadu_si512(t->ctrl[0]), ctrl1 = _mm512_loadu_si512(t->ctrl[1]);
    __m512i al[nbatch], ah[nbatch];
    for (int64_t j = 0; j < nbatch; j++)
        al[j] = ah[j] = _mm512_setzero_si512();
    uint8_t ctail[HWQ_E8V_CHB + 8], ltail[HWQ_E8V_LGB + 16];

    /* pass 1: codes -> table indices g_i + 2(q - 1) of every step of the column, into gbuf (512 B a step) */
    for (int64_t st = 0; st < nst; st++) {
        const uint8_t *cp = crow + HWQ_E8V_CHB * st, *lp = lrow + HWQ_E8V_LGB * st;
        if (64 * (st + 1) > nb) { /* last, partial step: a zero-padded copy (x is 0 past the last block) */
            memset(ctail, 0, sizeof ctail);
            memset(ltail, 0, sizeof ltail);
            memcpy(ctail, cp, (size_t)(cs - HWQ_E8V_CHB * st));
            if (HWQ_LB)
                memcpy(ltail, lp, (size_t)(ls - HWQ_E8V_LGB * st));
            cp = ctail;
        }
        for (int l = 0; l < HWQ_E8V_CHB; l += 64) /* the next column's codes (no fault past the end) */
            __builtin_prefetch(crow + cs + HWQ_E8V_CHB * st + l);
        /* rows (int32, 16 blocks per group g in block order), then r = hi q^4 + lo */
        __m512i hi[4], lo[4];
        for (int g = 0; g < 4; g++) {
            const __m512i raw = _mm512_maskz_loadu_epi8(lmask, cp + 2 * HWQ_CB * g);
            const __m512i r =
                _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi8(pidx, raw), shv), cmask);
            if ((uint64_t)HWQ_NC != ((uint64_t)1 << HWQ_CB)) { /* lanes of blocks < nb only */
                const int64_t nv = nb - 64 * st - 16 * g;
                const __mmask16 valid =
                    nv >= 16 ? (__mmask16)0xffff : nv <= 0 ? 0 : (__mmask16)((1u << nv) - 1u);
                bad |= _mm512_mask_cmpge_epu32_mask(valid, r, ncv);
            }
            hi[g] = _mm512_cvttps_epi32(_mm512_fmadd_ps(_mm512_cvtepi32_ps(r), inv, half));
            lo[g] = _mm512_sub_epi32(r, _mm512_madd_epi16(hi[g], q4v)); /* hi < 2^15: one int16 product */
        }
        /* digit pairs pp[i] = q k_2i + k_2i+1 < q^2 (int16, 32 blocks per vector, then int8) */
        const __m512i v16[4] = {_mm512_packus_epi32(hi[0], hi[1]), _mm512_packus_epi32(hi[2], hi[3]),
                                _mm512_packus_epi32(lo[0], lo[1]), _mm512_packus_epi32(lo[2], lo[3])};
        __m512i pa[4], pb[4];
        for (int h = 0; h < 4; h++) {
            __m512i tq = _mm512_mulhi_epu16(v16[h], magic);
            if (dshift)
                tq = _mm512_srl_epi16(tq, dsh);
            pa[h] = tq;
            pb[h] = _mm512_sub_epi16(v16[h], _mm512_mullo_epi16(tq, q2v));
        }
        const __m512i pp0 = _mm512_packus_epi16(pa[0], pa[1]), pp1 = _mm512_packus_epi16(pb[0], pb[1]);
        const __m512i pp2 = _mm512_packus_epi16(pa[2], pa[3]), pp3 = _mm512_packus_epi16(pb[2], pb[3]);
        /* table indices g_i + 2(q - 1), g = G k (Conway-Sloane generator scaled by 2):
         * g0 = 4k0 - 2k1 + k7, g_i = 2k_i - 2k_i+1 + k7 (i = 1..5), g6 = 2k6 + k7, g7 = k7 */
        __m512i gi[8];
        const __m512i t7 = _mm512_permutexvar_epi8(pp3, gt[0]);
        gi[0] = _mm512_add_epi8(_mm512_permutexvar_epi8(pp0, gt[1]), t7);
#define HWQ_E8V_LK(p, tab) _mm512_permutexvar_epi8(p, gt[tab])
        gi[1] = _mm512_add_epi8(_mm512_sub_epi8(HWQ_E8V_LK(pp0, 2), HWQ_E8V_LK(pp1, 3)), t7);
        gi[2] = _mm512_add_epi8(_mm512_permutexvar_epi8(pp1, gt[4]), t7);
        gi[3] = _mm512_add_epi8(_mm512_sub_epi8(HWQ_E8V_LK(pp1, 2), HWQ_E8V_LK(pp2, 3)), t7);
        gi[4] = _mm512_add_epi8(_mm512_permutexvar_epi8(pp2, gt[4]), t7);
        gi[5] = _mm512_add_epi8(_mm512_sub_epi8(HWQ_E8V_LK(pp2, 2), HWQ_E8V_LK(pp3, 3)), t7);
#undef HWQ_E8V_LK
        gi[6] = _mm512_permutexvar_epi8(pp3, gt[5]);
        gi[7] = t7;
        for (int i = 0; i < 8; i++)
            _mm512_storeu_si512(gbuf + (st * 8 + i) * 64, gi[i]);
    }
    /* pass 2: the reductions, the coset decision and the biased codewords u_i = c_i + 2q (replace the g_i) */
    for (int64_t st = 0; st < nst; st++) {
        uint8_t *gs = gbuf + st * 512;
        __m512i s = _mm512_setzero_si512(), xk = _mm512_setzero_si512();
        __m512i vmax = _mm512_setzero_si512(), vmin = _mm512_set1_epi8((char)0xff);
        for (int i = 0; i < 8; i += 2) {
            const __m512i g0 = _mm512_loadu_si512(gs + 64 * i), g1 = _mm512_loadu_si512(gs + 64 * (i + 1));
            const __m512i k0 = _mm512_permutexvar_epi8(g0, _mm512_loadu_si512(t->tk[i]));
            const __m512i k1 = _mm512_permutexvar_epi8(g1, _mm512_loadu_si512(t->tk[i + 1]));
            s = _mm512_add_epi8(s, _mm512_permutexvar_epi8(g0, t_a));
            s = _mm512_add_epi8(s, _mm512_permutexvar_epi8(g1, t_a));
            xk = _mm512_ternarylogic_epi32(xk, k0, k1, 0x96);
            vmax = _mm512_max_epu8(vmax, _mm512_max_epu8(k0, k1));
            const __m512i m01 = _mm512_min_epu8(_mm512_xor_si512(k0, x0e), _mm512_xor_si512(k1, x0e));
            vmin = _mm512_min_epu8(vmin, m01);
        }
        const __mmask64 odd0 = _mm512_movepi8_mask(s);
        const __mmask64 odd1 = _kxor_mask64(odd0, _mm512_test_epi8_mask(xk, one8));
        const __m512i sv = _mm512_and_si512(s, s7f);
        const __m512i d0 = _mm512_permutex2var_epi8(d0a, _mm512_srli_epi16(vmax, 1), d0b);
        const __m512i d1 = _mm512_permutex2var_epi8(d1a, _mm512_srli_epi16(vmin, 1), d1b);
        const __m512i lhs = _mm512_mask_add_epi8(sv, odd0, sv, d0);
        const __m512i rhs = _mm512_mask_add_epi8(fourq, odd1, fourq, d1);
        const __mmask64 pick = _mm512_cmpgt_epu8_mask(lhs, rhs);
        const __mmask64 fix0 = _kandn_mask64(pick, odd0), fix1 = _kand_mask64(pick, odd1);
        const __mmask64 fix = _kor_mask64(fix0, fix1);
        /* the moved coordinate: 2 a (bits 1-3 of max key xor 14) or 2 b (min key); its sign in bit 0 */
        const __m512i kb = _mm512_mask_blend_epi8(fix0, vmin, _mm512_xor_si512(vmax, x0e));
        const __m512i kpos = _mm512_and_si512(kb, x0e);
        /* coset D8: c_a -= 2q dir_a; coset D8 + 1/2: c_b += 2q dir_b (dir = -1 where the sign bit is set) */
        const __mmask64 up = _kxor_mask64(_mm512_test_epi8_mask(kb, one8), fix1);
        const __m512i delta = _mm512_mask_blend_epi8(up, nq2, pq2);
        const __m512i cset = _mm512_maskz_mov_epi8(pick, b64);
        for (int i = 0; i < 8; i++) {
            const __m512i gp = _mm512_or_si512(_mm512_loadu_si512(gs + 64 * i), cset);
            const __m512i u = _mm512_permutex2var_epi8(tca, gp, tcb);
            const __mmask64 mi = _mm512_mask_cmpeq_epi8_mask(fix, kpos, _mm512_loadu_si512(t->pos2[i]));
            _mm512_storeu_si512(gs + 64 * i, _mm512_mask_add_epi8(u, mi, u, delta));
        }
    }
    /* pass 3: byte pairs of the codewords, int16 dots with the split activations, ladder multipliers */
    int since = 0;
    for (int64_t st = 0; st < nst; st++) {
        const uint8_t *lp = 64 * (st + 1) > nb ? ltail : lrow + HWQ_E8V_LGB * st;
        const uint8_t *gs = gbuf + st * 512;
        __m512i m16[2];
        {
            uint64_t w0 = 0, w1 = 0;
            if (HWQ_LB) {
                memcpy(&w0, lp, 8);
                if (HWQ_LB == 2)
                    memcpy(&w1, lp + 8, 8);
            }
            const __m512i s0 = _mm512_set1_epi64((long long)w0);
            const __m512i s1 = _mm512_set1_epi64((long long)(HWQ_LB == 2 ? w1 : w0));
            m16[0] = _mm512_permutexvar_epi16(_mm512_multishift_epi64_epi8(ctrl0, s0), mt32);
            m16[1] = _mm512_permutexvar_epi16(_mm512_multishift_epi64_epi8(ctrl1, s1), mt32);
        }
        __m512i up[2][4];
        for (int p = 0; p < 4; p++) {
            const __m512i ue = _mm512_loadu_si512(gs + 128 * p), uo = _mm512_loadu_si512(gs + 128 * p + 64);
            up[0][p] = _mm512_unpacklo_epi8(ue, uo);
            up[1][p] = _mm512_unpackhi_epi8(ue, uo);
        }
        for (int64_t j = 0; j < nbatch; j++) {
            const __m512i *xv = (const __m512i *)(xt + (st * nbatch + j) * HWQ_E8V_XB);
            for (int h = 0; h < 2; h++) {
                __m512i l = _mm512_maddubs_epi16(_mm512_loadu_si512(xv + h), up[h][0]); /* xl unsigned */
                __m512i hh = _mm512_maddubs_epi16(up[h][0], _mm512_loadu_si512(xv + 8 + h));
                for (int p = 1; p < 4; p++) {
                    const __m512i xl = _mm512_loadu_si512(xv + 2 * p + h);
                    const __m512i xh = _mm512_loadu_si512(xv + 8 + 2 * p + h);
                    l = _mm512_add_epi16(l, _mm512_maddubs_epi16(xl, up[h][p]));
                    hh = _mm512_add_epi16(hh, _mm512_maddubs_epi16(up[h][p], xh));
                }
                l = _mm512_sub_epi16(l, _mm512_loadu_si512(xv + 16 + h));
                hh = _mm512_sub_epi16(hh, _mm512_loadu_si512(xv + 18 + h));
                al[j] = _mm512_add_epi32(al[j], _mm512_madd_epi16(l, m16[h]));
                ah[j] = _mm512_add_epi32(ah[j], _mm512_madd_epi16(hh, m16[h]));
            }
        }
        if (++since == t->flush || st == nst - 1) {
            since = 0;
#define HWQ_E8V_W64(v) \
    _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(v)), \
                     _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1)))
            for (int64_t j = 0; j < nbatch; j++) {
                const __m512i hs = _mm512_slli_epi64(HWQ_E8V_W64(ah[j]), 8);
                const __m512i s64 = _mm512_add_epi64(HWQ_E8V_W64(al[j]), hs);
                acc[j] += _mm512_reduce_add_epi64(s64);
                al[j] = ah[j] = _mm512_setzero_si512();
            }
#undef HWQ_E8V_W64
        }
    }
    return bad != 0;
}

/* Weight-only accumulators on this path; returns 0 (nothing done) when hwq_e8v_setup refuses the config,
 * else 1 with *err = HWQ_E_CODES if a weight code is out of range (acc is then meaningless), HWQ_E_ALLOC or
 * HWQ_OK. */
static int hwq_e8v_wo(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, const int32_t *xr,
                      int64_t nbatch, int64_t *acc, int nt, int *err)
{
    hwq_e8v_tabs scratch;
    const hwq_e8v_tabs *t = hwq_e8v_get(&scratch);
    *err = HWQ_OK;
    if (!t)
        return 0;
    *err = hwq_e8_run(codes, ladder, k, m, xr, nbatch, acc, nt, 64, &t->blk[0][0], 512, hwq_e8v_col, t);
    return 1;
}
#endif

#endif /* HWQ_E8_VBMI_H */
