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
 *   c = g - q y:  coset D8: r0 (- 2q dir_a);  coset D8 + 1/2: r0 - q dir (+ 2q dir_b)
 *   y1 is kept iff strictly closer: (dist0 - dist1) / (4 den) = S - 4q + 2 odd0 (q - M) - 2 odd1 m > 0,
 *   S = sum |r0_i|, M = max |r0_i|, m = min |r0_i|, odd0 / odd1 the parities of sum f0 / sum f1 -- the same
 *   comparison as hwq_closest_e8_rational's (y0 - y1) . (4 num - den (y0 + y1)) < 0, tie to y0.
 * The first argmax / argmin (lowest index on ties, as hwq_closest_d_rational) come from the unique max of
 * 8 |r0_i| + (7 - i) and the unique min of 8 |r0_i| + i.
 *
 * One step (64 blocks of a column), in three passes over the column (so that the out-of-order window
 * overlaps short chains instead of one long one; gbuf holds 512 bytes per step between passes):
 *   1. codes -> rows (vpermb + vpsrlvd, 16 per zmm) -> r = hi q^4 + lo (exact float64 division) -> digit
 *      pairs q k_2i + k_2i+1 (one int16 mulhi division by q^2) -> table indices g_i + 2(q - 1) (byte tables);
 *   2. lookups, aggregates and the decision above -> codewords c_i (int8, 64 lanes);
 *   3. codewords -> int16 pairs -> vpmaddwd with the activations (transposed once per call into the same
 *      lane order), then acc += m_T * dot in int64 (vpmuldq; m_T by vpmultishiftqb + vpermd from the packed
 *      ladder bits).
 * Every bound this needs (|g| range within a 64-entry table, |c| <= 4q, int16 activations, the int32 dot)
 * is checked once per call by hwq_e8v_setup from the rendered tables; otherwise the caller takes the
 * 16-lane int32 path.  Bit-equality with hwq.datapath: tests/test_codegen_c_direct.py (per ISA, exhaustive
 * over the codebook for small q, ASan/UBSan).
 */
#ifndef HWQ_E8_VBMI_H
#define HWQ_E8_VBMI_H

#if HWQ_X86 && HWQ_LAT_KIND == 2 && HWQ_D == 8 && HWQ_CS == 2 && HWQ_CB <= 25 && HWQ_LB <= 2
#define HWQ_E8V 1
#define HWQ_T_E8V __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi")))
#define HWQ_E8V_CHB (8 * HWQ_CB) /* code bytes of one 64-block step */
#define HWQ_E8V_LGB (8 * HWQ_LB) /* ladder bytes of one 64-block step */

typedef struct {
    uint8_t r0[64], key[64], flags[64], qd[64]; /* indexed by g + 2 (q - 1) */
    uint8_t d0[128], d1[128];                   /* decision terms indexed by the max / min keys */
    int32_t mt16[16];                           /* m_T by the low 4 bits of the ladder window */
    uint8_t ctrl[4][64];                        /* vpmultishiftqb controls, lane group G */
    int32_t blk[4][16];                         /* block (within the step) of lane l of group G */
    uint8_t gt[6][64];                          /* g from digit pairs p = q k_2i + k_2i+1 (see below) */
    uint16_t magic, shift;                      /* floor(v / q^2) = (v * magic >> 16) >> shift, v < q^4 */
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
    if (q < 2 || 7 * (q - 1) > 63 || 8 * q + 7 > 127 || 10 * q > 255)
        return 0;
    /* int16 activations and the int32 block dot: |c_i| <= 4q, |x| <= act_max * h */
    const int64_t xmax = (int64_t)HWQ_ACT_MAX * HWQ_H;
    if (xmax > 32767 || 8 * 4 * (int64_t)q * xmax >= ((int64_t)1 << 31))
        return 0;
    for (int i = 0; i < HWQ_L; i++)
        if (hwq_mults[i] < 0)
            return 0;
    for (int i = 0; i < 64; i++) {
        const int g = i - off, den = 2 * q;
        const int f0 = (int)hwq_floor_div(2 * g + den, 2 * den), r0 = g - den * f0;
        const int neg = r0 < 0, f1 = f0 - neg;
        t->r0[i] = (uint8_t)(int8_t)r0;
        t->key[i] = (uint8_t)(8 * (neg ? -r0 : r0));
        t->flags[i] = (uint8_t)((f0 & 1) | ((f1 & 1) << 1));
        t->qd[i] = (uint8_t)(int8_t)(neg ? -q : q);
    }
    for (int v = 0; v < 128; v++) {
        t->d0[v] = (uint8_t)((v >> 3) <= q ? 2 * (q - (v >> 3)) : 0);
        t->d1[v] = (uint8_t)((v >> 3) <= q ? 2 * (v >> 3) : 0);
    }
    for (int i = 0; i < 16; i++) {
        const int ti = HWQ_LB ? (i & ((1 << HWQ_LB) - 1)) : 0;
        t->mt16[i] = ti < HWQ_L ? (int32_t)hwq_mults[ti] : 0;
    }
    for (int G = 0; G < 4; G++)
        for (int l = 0; l < 16; l++) {
            /* pmovsxbw of the low / high half of unpacklo / unpackhi_epi8: pair l of 128-bit lane j */
            const int j = ((G & 1) ? 2 : 0) + l / 8, pos = 16 * j + (G >= 2 ? 8 : 0) + l % 8;
            const int b = hwq_e8v_block_of_pos(pos);
            t->blk[G][l] = b;
            for (int k = 0; k < 4; k++)
                t->ctrl[G][4 * l + k] = (uint8_t)((HWQ_LB * b) & 63);
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
    const int q2 = q * q, q4 = q2 * q2;
    if (q2 > 64)
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

/* Activations in the lane order of the step: xt[((j * nst + st) * 4 + p) * 4 + G][l] = the int16 pair
 * (x_j[8 b + 2p], x_j[8 b + 2p + 1]) of block b = 64 st + blk[G][l] (0 past the last block). */
static void hwq_e8v_acts(const int32_t *xr, int64_t k, int64_t nbatch, int64_t nst, const hwq_e8v_tabs *t,
                         uint32_t *xt)
{
    const int64_t nb = k / 8;
    for (int64_t j = 0; j < nbatch; j++)
        for (int64_t st = 0; st < nst; st++)
            for (int p = 0; p < 4; p++)
                for (int G = 0; G < 4; G++)
                    for (int l = 0; l < 16; l++) {
                        const int64_t b = 64 * st + t->blk[G][l];
                        uint32_t v = 0;
                        if (b < nb) {
                            const int32_t *xb = xr + j * k + 8 * b + 2 * p;
                            v = (uint32_t)(uint16_t)(int16_t)xb[0] | (uint32_t)(uint16_t)(int16_t)xb[1] << 16;
                        }
                        xt[(((j * nst + st) * 4 + p) * 4 + G) * 16 + l] = v;
                    }
}

/* One column: acc[j] += sum_b m_{T_b} <c(r_b), x_j,b>.  Returns 1 if a code of the column is >= HWQ_NC (the
 * range check of hwq_check_codes, done here as the rows are extracted; the sums are then meaningless). */
static HWQ_T_E8V int hwq_e8v_col(const uint8_t *crow, const uint8_t *lrow, int64_t nb, int64_t cs, int64_t ls,
                                  const uint32_t *xt, int64_t nbatch, const hwq_e8v_tabs *t, uint8_t *gbuf,
                                  int64_t *acc)
{
    const int64_t nst = (nb + 63) / 64;
    const __m512i ncv = _mm512_set1_epi32((int)HWQ_NC);
    __mmask16 bad = 0;
    const __m512i t_r0 = _mm512_loadu_si512(t->r0), t_key = _mm512_loadu_si512(t->key);
    const __m512i t_fl = _mm512_loadu_si512(t->flags), t_qd = _mm512_loadu_si512(t->qd);
    const __m512i d0a = _mm512_loadu_si512(t->d0), d0b = _mm512_loadu_si512(t->d0 + 64);
    const __m512i d1a = _mm512_loadu_si512(t->d1), d1b = _mm512_loadu_si512(t->d1 + 64);
    const __m512i mt16 = _mm512_loadu_si512(t->mt16);
    const __m512i magic = _mm512_set1_epi16((short)t->magic), q2v = _mm512_set1_epi16(HWQ_Q * HWQ_Q);
    const __m128i dsh = _mm_cvtsi32_si128(t->shift);
    const int dshift = t->shift != 0;
    __m512i gt[6];
    for (int i = 0; i < 6; i++)
        gt[i] = _mm512_loadu_si512(t->gt[i]);
    const __m512i q4v = _mm512_set1_epi32(HWQ_Q * HWQ_Q * HWQ_Q * HWQ_Q);
    const __m512d inv = _mm512_set1_pd(1.0 / (HWQ_Q * HWQ_Q * HWQ_Q * HWQ_Q)),
                  hinv = _mm512_set1_pd(0.5 / (HWQ_Q * HWQ_Q * HWQ_Q * HWQ_Q));
    const __m512i fourq = _mm512_set1_epi8((char)(4 * HWQ_Q));
    const __m512i one8 = _mm512_set1_epi8(1), two8 = _mm512_set1_epi8(2);
    const __m512i cmask = _mm512_set1_epi32((int)((1u << HWQ_CB) - 1u));
    __m512i pidx, shv; /* code extraction, as the range check does it (hwq_codes_check.h) */
    hwq_code_lanes(&pidx, &shv);
    const __mmask64 lmask = ((__mmask64)1 << (2 * HWQ_CB)) - 1;
    __m512i ctrl[4];
    for (int G = 0; G < 4; G++)
        ctrl[G] = _mm512_loadu_si512(t->ctrl[G]);
    __m512i ae[nbatch], ao[nbatch];
    for (int64_t j = 0; j < nbatch; j++)
        ae[j] = ao[j] = _mm512_setzero_si512();
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
            lp = ltail;
        }
        /* rows (int32, 16 blocks per group g in block order), then r = hi q^4 + lo */
        __m512i hi[4], lo[4];
        for (int g = 0; g < 4; g++) {
            const __m512i raw = _mm512_maskz_loadu_epi8(lmask, cp + 2 * HWQ_CB * g);
            const __m512i r = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi8(pidx, raw), shv), cmask);
            if ((uint64_t)HWQ_NC != ((uint64_t)1 << HWQ_CB)) { /* lanes of blocks < nb only */
                const int64_t nv = nb - 64 * st - 16 * g;
                const __mmask16 valid = nv >= 16 ? (__mmask16)0xffff : nv <= 0 ? 0 : (__mmask16)((1u << nv) - 1u);
                bad |= _mm512_mask_cmpge_epu32_mask(valid, r, ncv);
            }
            const __m512d a = _mm512_fmadd_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(r)), inv, hinv);
            const __m512d b = _mm512_fmadd_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(r, 1)), inv, hinv);
            hi[g] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvttpd_epi32(a)), _mm512_cvttpd_epi32(b), 1);
            lo[g] = _mm512_sub_epi32(r, _mm512_mullo_epi32(hi[g], q4v));
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
        gi[1] = _mm512_add_epi8(_mm512_sub_epi8(_mm512_permutexvar_epi8(pp0, gt[2]), _mm512_permutexvar_epi8(pp1, gt[3])), t7);
        gi[2] = _mm512_add_epi8(_mm512_permutexvar_epi8(pp1, gt[4]), t7);
        gi[3] = _mm512_add_epi8(_mm512_sub_epi8(_mm512_permutexvar_epi8(pp1, gt[2]), _mm512_permutexvar_epi8(pp2, gt[3])), t7);
        gi[4] = _mm512_add_epi8(_mm512_permutexvar_epi8(pp2, gt[4]), t7);
        gi[5] = _mm512_add_epi8(_mm512_sub_epi8(_mm512_permutexvar_epi8(pp2, gt[2]), _mm512_permutexvar_epi8(pp3, gt[3])), t7);
        gi[6] = _mm512_permutexvar_epi8(pp3, gt[5]);
        gi[7] = t7;
        for (int i = 0; i < 8; i++)
            _mm512_storeu_si512(gbuf + (st * 8 + i) * 64, gi[i]);
    }
    /* pass 2 (a second loop, so that the out-of-order window overlaps the short per-step chains of each
     * pass instead of one long chain): closest point, codewords, dot products, ladder multipliers */
    for (int64_t st = 0; st < nst; st++) {
        __m512i gi[8];
        for (int i = 0; i < 8; i++)
            gi[i] = _mm512_loadu_si512(gbuf + (st * 8 + i) * 64);
        /* aggregates over the 8 coordinates */
        __m512i s = _mm512_setzero_si512(), fl = _mm512_setzero_si512();
        __m512i vmax = _mm512_setzero_si512(), wmin = _mm512_set1_epi8((char)0xff);
        for (int i = 0; i < 8; i++) {
            const __m512i r0 = _mm512_permutexvar_epi8(gi[i], t_r0), key = _mm512_permutexvar_epi8(gi[i], t_key);
            s = _mm512_add_epi8(s, _mm512_abs_epi8(r0));
            fl = _mm512_xor_si512(fl, _mm512_permutexvar_epi8(gi[i], t_fl));
            vmax = _mm512_max_epu8(vmax, _mm512_add_epi8(key, _mm512_set1_epi8((char)(7 - i))));
            wmin = _mm512_min_epu8(wmin, _mm512_add_epi8(key, _mm512_set1_epi8((char)i)));
        }
        const __mmask64 odd0 = _mm512_test_epi8_mask(fl, one8), odd1 = _mm512_test_epi8_mask(fl, two8);
        const __m512i lhs = _mm512_mask_add_epi8(s, odd0, s, _mm512_permutex2var_epi8(d0a, vmax, d0b));
        const __m512i rhs = _mm512_mask_add_epi8(fourq, odd1, fourq, _mm512_permutex2var_epi8(d1a, wmin, d1b));
        const __mmask64 pick = _mm512_cmpgt_epu8_mask(lhs, rhs);
        const __mmask64 fix0 = _kandn_mask64(pick, odd0), fix1 = _kand_mask64(pick, odd1);
        __m512i c[8];
        for (int i = 0; i < 8; i++) {
            const __m512i r0 = _mm512_permutexvar_epi8(gi[i], t_r0), key = _mm512_permutexvar_epi8(gi[i], t_key);
            const __m512i qd = _mm512_permutexvar_epi8(gi[i], t_qd), qd2 = _mm512_add_epi8(qd, qd);
            __m512i ci = _mm512_mask_sub_epi8(r0, pick, r0, qd);
            const __mmask64 m0 =
                _mm512_mask_cmpeq_epi8_mask(fix0, _mm512_add_epi8(key, _mm512_set1_epi8((char)(7 - i))), vmax);
            const __mmask64 m1 = _mm512_mask_cmpeq_epi8_mask(fix1, _mm512_add_epi8(key, _mm512_set1_epi8((char)i)), wmin);
            ci = _mm512_mask_sub_epi8(ci, m0, ci, qd2);
            c[i] = _mm512_mask_add_epi8(ci, m1, ci, qd2);
        }
        for (int i = 0; i < 8; i++) /* the codewords replace the indices */
            _mm512_storeu_si512(gbuf + (st * 8 + i) * 64, c[i]);
    }
    /* pass 3: codewords -> int16 pairs, dot products with the activations, ladder multipliers */
    for (int64_t st = 0; st < nst; st++) {
        const uint8_t *lp = 64 * (st + 1) > nb ? ltail : lrow + HWQ_E8V_LGB * st;
        __m512i c[8];
        for (int i = 0; i < 8; i++)
            c[i] = _mm512_loadu_si512(gbuf + (st * 8 + i) * 64);
        /* codewords as int16 pairs (c_2p, c_2p+1) per dword, 16 blocks per vector, 4 lane groups */
        __m512i cp16[4][4];
        for (int p = 0; p < 4; p++) {
            const __m512i ul = _mm512_unpacklo_epi8(c[2 * p], c[2 * p + 1]);
            const __m512i uh = _mm512_unpackhi_epi8(c[2 * p], c[2 * p + 1]);
            cp16[p][0] = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(ul));
            cp16[p][1] = _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(ul, 1));
            cp16[p][2] = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(uh));
            cp16[p][3] = _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(uh, 1));
        }
        /* ladder multipliers per lane group */
        __m512i mte[4], mto[4];
        {
            uint64_t w0 = 0, w1 = 0;
            if (HWQ_LB) {
                memcpy(&w0, lp, 8);
                if (HWQ_LB == 2)
                    memcpy(&w1, lp + 8, 8);
            }
            const __m512i s0 = _mm512_set1_epi64((long long)w0), s1 = _mm512_set1_epi64((long long)(HWQ_LB == 2 ? w1 : w0));
            for (int G = 0; G < 4; G++) {
                mte[G] = _mm512_permutexvar_epi32(_mm512_multishift_epi64_epi8(ctrl[G], G < 2 ? s0 : s1), mt16);
                mto[G] = _mm512_srli_epi64(mte[G], 32);
            }
        }
        for (int64_t j = 0; j < nbatch; j++) {
            const __m512i *xv = (const __m512i *)(xt + (j * nst + st) * 256);
            for (int G = 0; G < 4; G++) {
                __m512i d = _mm512_madd_epi16(cp16[0][G], _mm512_loadu_si512(xv + G));
                d = _mm512_add_epi32(d, _mm512_madd_epi16(cp16[1][G], _mm512_loadu_si512(xv + 4 + G)));
                d = _mm512_add_epi32(d, _mm512_madd_epi16(cp16[2][G], _mm512_loadu_si512(xv + 8 + G)));
                d = _mm512_add_epi32(d, _mm512_madd_epi16(cp16[3][G], _mm512_loadu_si512(xv + 12 + G)));
                ae[j] = _mm512_add_epi64(ae[j], _mm512_mul_epi32(d, mte[G]));
                ao[j] = _mm512_add_epi64(ao[j], _mm512_mul_epi32(_mm512_srli_epi64(d, 32), mto[G]));
            }
        }
    }
    for (int64_t j = 0; j < nbatch; j++)
        acc[j] += _mm512_reduce_add_epi64(_mm512_add_epi64(ae[j], ao[j]));
    return bad != 0;
}

/* Weight-only accumulators on this path; returns 0 (nothing done) when hwq_e8v_setup refuses the config, else 1
 * with *err = HWQ_E_CODES if a weight code is out of range (acc is then meaningless), HWQ_E_ALLOC, or HWQ_OK. */
static int hwq_e8v_wo(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, const int32_t *xr,
                      int64_t nbatch, int64_t *acc, int nt, int *err)
{
    hwq_e8v_tabs t;
    *err = HWQ_OK;
    if (!hwq_e8v_setup(&t))
        return 0;
    const int64_t nb = k / 8, cs = hwq_cstride(nb), ls = hwq_lstride(nb), nst = (nb + 63) / 64;
    uint32_t *xt = (uint32_t *)malloc((size_t)(nbatch * nst * 256) * sizeof(uint32_t));
    if (!xt) {
        *err = HWQ_E_ALLOC;
        return 1;
    }
    hwq_e8v_acts(xr, k, nbatch, nst, &t, xt);
    int nomem = 0, badcodes = 0;
    (void)nt;
    HWQ_PRAGMA(omp parallel num_threads(nt))
    {
        uint8_t *gbuf = (uint8_t *)malloc((size_t)(nst * 512));
        if (!gbuf) {
            HWQ_PRAGMA(omp atomic write)
            nomem = 1;
        }
        HWQ_PRAGMA(omp for schedule(dynamic, 32))
        for (int64_t mm = 0; mm < m; mm++)
            if (gbuf && hwq_e8v_col(codes + mm * cs, ladder + mm * ls, nb, cs, ls, xt, nbatch, &t, gbuf,
                                    acc + mm * nbatch)) {
                HWQ_PRAGMA(omp atomic write)
                badcodes = 1;
            }
        free(gbuf);
    }
    free(xt);
    *err = nomem ? HWQ_E_ALLOC : badcodes ? HWQ_E_CODES : HWQ_OK;
    return 1;
}
#endif

#endif /* HWQ_E8_VBMI_H */
