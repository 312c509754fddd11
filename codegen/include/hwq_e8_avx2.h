/*
 * hwq_e8_avx2.h -- exact E8 arithmetic-decode GEMV on AVX2, 32 blocks per step in int8 lanes.
 * Included by hwq_direct_c.h after hwq_e8_vbmi.h, whose proofs (hwq_e8v_setup: the generator, the float32
 * division by q^4, the int16 division by q^2, the int16 dots and the flush interval) it shares.
 *
 * The same algebra as hwq_e8_vbmi.h (read its header first), without byte permutes: every per-coordinate
 * quantity is computed instead of looked up, and the two argmax/argmin keys become a second loop.  Three
 * passes over a column (as there: short chains the out-of-order window overlaps; gbuf holds 256 bytes per
 * step between them):
 *   1. codes -> rows: vpshufb puts the 4 bytes of each of 8 rows into a dword (one 16-byte load per 128-bit
 *      half), vpsrlvd and a mask finish it; rows >= q^8 raise the range-check flag.  r = hi q^4 + lo (float32
 *      fma, exact: hwq_e8v_setup), both packed to int16 in block order (vpackusdw + vpermq), the 8 digits
 *      by int16 divisions by q^2 and q (vpmulhuw by proved magic numbers), g = G k in int16 (the
 *      Conway-Sloane generator scaled by 2: g0 = 4k0 - 2k1 + k7, g_i = 2k_i - 2k_i+1 + k7, g6 = 2k6 + k7,
 *      g7 = k7), packed to int8 (vpacksswb + vpermq: 32 blocks in lane order).
 *   2. per coordinate: f0 = rnd(g / 2q) = [g >= q] + [g >= 3q] - [g < -q] (three byte compares, g in
 *      [-2(q-1), 5(q-1)]), r0 = g - 2q f0 in [-q, q) (2q f0 by vpshufb on f0 & 15); the sums S = sum |r0|,
 *      sum f0 (bit 0: odd0), M = max |r0|, m = min |r0| and the xor of the r0 (sign bit: the parity of the
 *      negative r0, odd1 = odd0 xor it).  The coset decision of hwq_e8_vbmi.h: y1 iff
 *      S - 4q + 2 odd0 (q - M) - 2 odd1 m > 0.  Then per coordinate again: u = c + 2q = r0 + 2q (- q dir on
 *      coset D8 + 1/2), plus the D8 fix (-2q dir on D8 when sum f0 is odd, +2q dir on D8 + 1/2 when sum f1
 *      is odd) at the first coordinate whose |r0| equals M (resp. m): a running "done" mask picks the first,
 *      the lowest index as hwq_closest_d_rational's ties; dir = -1 where r0 < 0 (vpblendvb on r0).
 *   3. byte pairs (u_2p, u_2p+1) of each block (vpunpck{l,h}bw): int16 lane w of half h is block
 *      8 h + w (w < 8) or 8 h + w + 8; vpmaddubsw with the split activations x = 256 xh + xl (as
 *      hwq_e8_vbmi.h, transposed once per call to these lanes), the biases 2q sum(xl), 2q sum(xh) subtracted,
 *      vpmaddwd with m_T (int16, from the ladder word: vpermd + vpsrlvd + vpermd of the multipliers) into
 *      int32 accumulators, flushed to int64 every t->flush steps (2 blocks a lane per step: half the bound
 *      hwq_e8v_setup proves for its 4).
 * Bit-equality with hwq.datapath: tests/test_codegen_c_direct.py (ISA avx2: exhaustive over the codebook
 * for small q, sampled for q = 7, range check, ragged steps, batch 1-8, ASan/UBSan).
 */
#ifndef HWQ_E8_AVX2_H
#define HWQ_E8_AVX2_H

#ifndef HWQ_USE_E8A
#define HWQ_USE_E8A 1
#endif

#if defined(HWQ_E8V) && HWQ_USE_E8A
#define HWQ_E8A 1
#define HWQ_T_E8A __attribute__((target("avx2,fma")))
#define HWQ_E8A_CHB (4 * HWQ_CB) /* code bytes of one 32-block step */
#define HWQ_E8A_LGB (4 * HWQ_LB) /* ladder bytes of one 32-block step */
#define HWQ_E8A_XB 640            /* activation bytes of one step and batch column (20 ymm, hwq_e8_acts) */

typedef struct {
    uint8_t shuf[32];     /* vpshufb: bytes of row l of an 8-row group, per 128-bit half */
    int32_t shv[8];       /* vpsrlvd: the row's bit offset within its first byte */
    int32_t lsel[2][2][8]; /* ladder: dword of the step's ladder word holding block of int32 lane (h, A/B) */
    int32_t lsh[2][2][8];  /* ... and the shift of its field */
    int32_t mt8[8];       /* m_T by T (0 for T >= L) */
    uint16_t magq;        /* floor(p / q) = (p * magq >> 16) >> shq for p < q^2 */
    uint16_t shq;
    int32_t blk[2][16];   /* hwq_e8a_block(h, w): the lane order of the activations (hwq_e8_acts) */
    const hwq_e8v_tabs *t; /* the proofs and tables this decode shares with hwq_e8_vbmi.h */
} hwq_e8a_tabs;

/* Block (within the step) of int16 lane w of half h in pass 3.  The in-lane packs of pass 1 (vpackusdw of
 * two 8-row groups, then vpacksswb of the two 16-block halves) interleave the blocks, and vpunpck{l,h}bw
 * interleaves the byte lanes again; every vector of a step shares this order, so only the activations and
 * the multipliers need to follow it. */
static int hwq_e8a_block(int h, int w)
{
    const int pos = (w < 8 ? w : w + 8) + 8 * h;          /* byte lane of the int8 vectors */
    const int g2 = (pos % 16) >= 8, w16 = pos % 8 + 8 * (pos / 16); /* half g2 of pass 1, its int16 lane */
    const int grp = 2 * g2 + (w16 % 8) / 4;                 /* the 8-row group of that int16 lane */
    return 8 * grp + w16 % 4 + 4 * (w16 / 8);
}

/* The AVX2-specific tables; 0 when no int16 division by q is found (never for q <= 8). */
static int hwq_e8a_setup(hwq_e8a_tabs *a)
{
    for (int l = 0; l < 8; l++) {
        const int base = l < 4 ? 0 : (4 * HWQ_CB) / 8, o = HWQ_CB * l - 8 * base;
        for (int k = 0; k < 4; k++)
            a->shuf[16 * (l / 4) + 4 * (l % 4) + k] = (uint8_t)(o / 8 + k);
        a->shv[l] = o % 8;
    }
    for (int h = 0; h < 2; h++)
        for (int v = 0; v < 2; v++)
            for (int i = 0; i < 8; i++) {
                /* vpackssdw(A, B): int16 lanes [A0-3 B0-3 A4-7 B4-7] */
                const int w = (i < 4 ? i : i + 4) + 4 * v, bit = HWQ_LB * hwq_e8a_block(h, w);
                a->lsel[h][v][i] = bit / 32;
                a->lsh[h][v][i] = bit % 32;
            }
    for (int t = 0; t < 8; t++)
        a->mt8[t] = t < HWQ_L ? (int32_t)hwq_mults[t] : 0;
    for (int h = 0; h < 2; h++)
        for (int w = 0; w < 16; w++)
            a->blk[h][w] = hwq_e8a_block(h, w);
    const int q = HWQ_Q;
    for (int s = 0; s <= 6; s++) {
        const int64_t m = (((int64_t)1 << (16 + s)) + q - 1) / q;
        if (m > 65535)
            continue;
        int ok = 1;
        for (int64_t v = 0; v < q * q && ok; v++)
            ok = (((v * m) >> 16) >> s) == v / q;
        if (ok) {
            a->magq = (uint16_t)m;
            a->shq = (uint16_t)s;
            return 1;
        }
    }
    return 0;
}

/* int16 lanes: floor(v / d) by a proved magic number (v * mag >> 16) >> sh */
#define HWQ_E8A_DIV(v, mag, sh, on) \
    ((on) ? _mm256_srl_epi16(_mm256_mulhi_epu16(v, mag), sh) : _mm256_mulhi_epu16(v, mag))

/* One column: acc[j] += sum_b m_{T_b} <c(r_b), x_j,b>.  Returns 1 if a code of the column is >= HWQ_NC. */
static HWQ_T_E8A int hwq_e8a_col(const uint8_t *crow, const uint8_t *lrow, int64_t nb, int64_t cs, int64_t ls,
                                  const uint8_t *xt, int64_t nbatch, const void *tabs, uint8_t *gbuf,
                                  int64_t *acc)
{
    const hwq_e8a_tabs *a = (const hwq_e8a_tabs *)tabs;
    const hwq_e8v_tabs *t = a->t;
    const int q = HWQ_Q;
    const int64_t nst = (nb + 31) / 32;
    const __m256i shuf = _mm256_loadu_si256((const __m256i *)a->shuf);
    const __m256i shv = _mm256_loadu_si256((const __m256i *)a->shv);
    const __m256i cmask = _mm256_set1_epi32((int)((1u << HWQ_CB) - 1u)), ncm1 = _mm256_set1_epi32(HWQ_NC - 1);
    const __m256 inv = _mm256_set1_ps(t->inv), half = _mm256_set1_ps(t->half);
    const __m256i q4v = _mm256_set1_epi32(q * q * q * q);
    const __m256i magq2 = _mm256_set1_epi16((short)t->magic), q2v = _mm256_set1_epi16(t->q2);
    const __m256i magq = _mm256_set1_epi16((short)a->magq), qv16 = _mm256_set1_epi16((short)q);
    const __m128i shq2 = _mm_cvtsi32_si128(t->shift), shq = _mm_cvtsi32_si128(a->shq);
    const __m256i qm1 = _mm256_set1_epi8((char)(q - 1)), q3m1 = _mm256_set1_epi8((char)(3 * q - 1));
    const __m256i nq = _mm256_set1_epi8((char)-q), pq = _mm256_set1_epi8((char)q);
    const __m256i p2q = _mm256_set1_epi8((char)(2 * q)), n2q = _mm256_set1_epi8((char)(-2 * q));
    const __m256i p4q = _mm256_set1_epi8((char)(4 * q)), ones = _mm256_set1_epi8(-1);
    const __m256i one8 = _mm256_set1_epi8(1), x0f = _mm256_set1_epi8(15);
    /* 2q f0 by f0 & 15 (f0 in {-1, 0, 1, 2}) */
    const char f1 = (char)(2 * q), f2 = (char)(4 * q), fm = (char)(-2 * q);
    const __m256i tab2q = _mm256_setr_epi8(0, f1, f2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, fm,
                                           0, f1, f2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, fm);
    const __m256i lmask = _mm256_set1_epi32((1 << HWQ_LB) - 1);
    const __m256i mt8 = _mm256_loadu_si256((const __m256i *)a->mt8);
    __m256i bad = _mm256_setzero_si256();
    __m256i al[nbatch], ah[nbatch];
    for (int64_t j = 0; j < nbatch; j++)
        al[j] = ah[j] = _mm256_setzero_si256();
    uint8_t ctail[HWQ_E8A_CHB + 32], ltail[HWQ_E8A_LGB + 8];
    /* the last byte a step's loads touch: group 3's high half, 16 bytes from 3 CB + floor(4 CB / 8) */
    const int64_t reach = 3 * HWQ_CB + (4 * HWQ_CB) / 8 + 16;
    /* pass 1: codes -> g (int8, 8 x 32 bytes a step in gbuf) */
    for (int64_t st = 0; st < nst; st++) {
        const uint8_t *cp = crow + HWQ_E8A_CHB * st;
        if (HWQ_E8A_CHB * st + reach > cs) { /* a copy: zero past the row (code 0, and x is 0 there) */
            memset(ctail, 0, sizeof ctail);
            memcpy(ctail, cp, (size_t)(cs - HWQ_E8A_CHB * st));
            cp = ctail;
        }
        /* rows -> hi, lo (int16, block order) -> digits -> g (int8, block order) */
        __m256i hi16[2], lo16[2];
        for (int g2 = 0; g2 < 2; g2++) {
            __m256i hi[2], lo[2];
            for (int e = 0; e < 2; e++) {
                const uint8_t *gp = cp + HWQ_CB * (2 * g2 + e);
                const __m256i raw = _mm256_loadu2_m128i((const __m128i *)(gp + (4 * HWQ_CB) / 8),
                                                        (const __m128i *)gp);
                const __m256i r =
                    _mm256_and_si256(_mm256_srlv_epi32(_mm256_shuffle_epi8(raw, shuf), shv), cmask);
                if ((uint64_t)HWQ_NC != ((uint64_t)1 << HWQ_CB))
                    bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(r, ncm1));
                hi[e] = _mm256_cvttps_epi32(_mm256_fmadd_ps(_mm256_cvtepi32_ps(r), inv, half));
                lo[e] = _mm256_sub_epi32(r, _mm256_madd_epi16(hi[e], q4v));
            }
            hi16[g2] = _mm256_packus_epi32(hi[0], hi[1]);
            lo16[g2] = _mm256_packus_epi32(lo[0], lo[1]);
        }
        __m256i g16[8][2];
        for (int g2 = 0; g2 < 2; g2++) {
            __m256i k[8];
            for (int e = 0; e < 2; e++) { /* v = k0 q^3 + k1 q^2 + k2 q + k3 (hi) or k4..k7 (lo) */
                const __m256i v = e ? lo16[g2] : hi16[g2];
                const __m256i p01 = HWQ_E8A_DIV(v, magq2, shq2, t->shift);
                const __m256i p23 = _mm256_sub_epi16(v, _mm256_mullo_epi16(p01, q2v));
                k[4 * e] = HWQ_E8A_DIV(p01, magq, shq, a->shq);
                k[4 * e + 1] = _mm256_sub_epi16(p01, _mm256_mullo_epi16(k[4 * e], qv16));
                k[4 * e + 2] = HWQ_E8A_DIV(p23, magq, shq, a->shq);
                k[4 * e + 3] = _mm256_sub_epi16(p23, _mm256_mullo_epi16(k[4 * e + 2], qv16));
            }
            const __m256i k7 = k[7];
            const __m256i k02 = _mm256_add_epi16(k[0], k[0]);
            const __m256i k12 = _mm256_add_epi16(k[1], k[1]);
            g16[0][g2] = _mm256_add_epi16(_mm256_sub_epi16(_mm256_add_epi16(k02, k02), k12), k7);
            for (int i = 1; i < 6; i++) {
                const __m256i d = _mm256_sub_epi16(k[i], k[i + 1]);
                g16[i][g2] = _mm256_add_epi16(_mm256_add_epi16(d, d), k7);
            }
            g16[6][g2] = _mm256_add_epi16(_mm256_add_epi16(k[6], k[6]), k7);
            g16[7][g2] = k7;
        }
        for (int i = 0; i < 8; i++)
            _mm256_storeu_si256((__m256i *)(gbuf + 256 * st + 32 * i), _mm256_packs_epi16(g16[i][0], g16[i][1]));
    }
    /* pass 2: g -> u (in place) */
    for (int64_t st = 0; st < nst; st++) {
        uint8_t *gs = gbuf + 256 * st;
        /* r0 per coordinate (f0 = m3 - m1 - m2 from the byte compares, 2q f0 by vpshufb on f0 & 15), the
         * sums, sum f0 (its bit 0: odd0), the xor of r0 (its sign bit: the parity of the negative r0),
         * max and min |r0|; r0 goes back to gbuf */
        __m256i s = _mm256_setzero_si256(), sf = _mm256_setzero_si256(), nx = _mm256_setzero_si256();
        __m256i vmax = _mm256_setzero_si256(), vmin = ones;
        for (int i = 0; i < 8; i++) {
            const __m256i g = _mm256_loadu_si256((const __m256i *)(gs + 32 * i));
            const __m256i m1 = _mm256_cmpgt_epi8(g, qm1), m2 = _mm256_cmpgt_epi8(g, q3m1);
            const __m256i f0 = _mm256_sub_epi8(_mm256_sub_epi8(_mm256_cmpgt_epi8(nq, g), m1), m2);
            sf = _mm256_add_epi8(sf, f0);
            const __m256i r0 = _mm256_sub_epi8(g, _mm256_shuffle_epi8(tab2q, _mm256_and_si256(f0, x0f)));
            _mm256_storeu_si256((__m256i *)(gs + 32 * i), r0);
            const __m256i ab = _mm256_abs_epi8(r0);
            s = _mm256_add_epi8(s, ab);
            vmax = _mm256_max_epu8(vmax, ab);
            vmin = _mm256_min_epu8(vmin, ab);
            nx = _mm256_xor_si256(nx, r0);
        }
        const __m256i zero = _mm256_setzero_si256();
        const __m256i odd0 = _mm256_cmpeq_epi8(_mm256_and_si256(sf, one8), one8);
        const __m256i odd1 = _mm256_xor_si256(odd0, _mm256_cmpgt_epi8(zero, nx));
        const __m256i dq = _mm256_sub_epi8(p2q, _mm256_add_epi8(vmax, vmax)); /* 2 (q - M) */
        const __m256i lhs = _mm256_add_epi8(s, _mm256_and_si256(odd0, dq));
        const __m256i rhs = _mm256_add_epi8(p4q, _mm256_and_si256(odd1, _mm256_add_epi8(vmin, vmin)));
        const __m256i pick = _mm256_cmpgt_epi8(lhs, rhs);
        const __m256i fix0 = _mm256_andnot_si256(pick, odd0), fix1 = _mm256_and_si256(pick, odd1);
        /* |r0| of the coordinate a fix moves; 0xff (no |r0| equals it) where none moves */
        const __m256i target = _mm256_blendv_epi8(_mm256_blendv_epi8(ones, vmax, fix0), vmin, fix1);
        /* biased codewords u = c + 2q = r0 + 2q (- q dir on coset D8 + 1/2) (+ the fix: -2q dir on D8,
         * +2q dir on D8 + 1/2), each term picked by the sign of r0 (dir = -1 where r0 < 0) */
        const __m256i base_p = _mm256_add_epi8(p2q, _mm256_and_si256(pick, nq)); /* r0 >= 0 */
        const __m256i base_n = _mm256_add_epi8(p2q, _mm256_and_si256(pick, pq)); /* r0 < 0 */
        const __m256i dp = _mm256_blendv_epi8(n2q, p2q, fix1), dn = _mm256_sub_epi8(zero, dp);
        __m256i done = zero;
        for (int i = 0; i < 8; i++) {
            const __m256i r0 = _mm256_loadu_si256((const __m256i *)(gs + 32 * i));
            const __m256i hit = _mm256_andnot_si256(done, _mm256_cmpeq_epi8(_mm256_abs_epi8(r0), target));
            done = _mm256_or_si256(done, hit);
            const __m256i fix = _mm256_and_si256(hit, _mm256_blendv_epi8(dp, dn, r0));
            const __m256i base = _mm256_blendv_epi8(base_p, base_n, r0);
            _mm256_storeu_si256((__m256i *)(gs + 32 * i), _mm256_add_epi8(_mm256_add_epi8(r0, base), fix));
        }
    }
    /* pass 3: the dots */
    int since = 0;
    for (int64_t st = 0; st < nst; st++) {
        const uint8_t *lp = lrow + HWQ_E8A_LGB * st, *gs = gbuf + 256 * st;
        if (HWQ_LB && HWQ_E8A_LGB * (st + 1) > ls) {
            memset(ltail, 0, sizeof ltail);
            memcpy(ltail, lp, (size_t)(ls - HWQ_E8A_LGB * st));
            lp = ltail;
        }
        /* the multipliers of the step's blocks (int16, lanes of hwq_e8a_block), then the dots */
        uint64_t lw = 0;
        if (HWQ_LB)
            memcpy(&lw, lp, HWQ_E8A_LGB);
        const __m256i lwv = _mm256_set1_epi64x((long long)lw);
        __m256i m16[2];
        for (int h = 0; h < 2; h++) {
            __m256i mv[2];
            for (int v = 0; v < 2; v++) {
                const __m256i idx = _mm256_loadu_si256((const __m256i *)a->lsel[h][v]);
                const __m256i sel = _mm256_permutevar8x32_epi32(lwv, idx);
                const __m256i tt = _mm256_and_si256(
                    _mm256_srlv_epi32(sel, _mm256_loadu_si256((const __m256i *)a->lsh[h][v])), lmask);
                mv[v] = _mm256_permutevar8x32_epi32(mt8, tt);
            }
            m16[h] = _mm256_packs_epi32(mv[0], mv[1]);
        }
        __m256i up[2][4];
        for (int p = 0; p < 4; p++) {
            const __m256i ue = _mm256_loadu_si256((const __m256i *)(gs + 64 * p));
            const __m256i uo = _mm256_loadu_si256((const __m256i *)(gs + 64 * p + 32));
            up[0][p] = _mm256_unpacklo_epi8(ue, uo);
            up[1][p] = _mm256_unpackhi_epi8(ue, uo);
        }
        for (int64_t j = 0; j < nbatch; j++) {
            const __m256i *xv = (const __m256i *)(xt + (st * nbatch + j) * HWQ_E8A_XB);
            for (int h = 0; h < 2; h++) {
                __m256i l = _mm256_maddubs_epi16(_mm256_loadu_si256(xv + h), up[h][0]); /* xl unsigned */
                __m256i hh = _mm256_maddubs_epi16(up[h][0], _mm256_loadu_si256(xv + 8 + h));
                for (int p = 1; p < 4; p++) {
                    const __m256i xl = _mm256_loadu_si256(xv + 2 * p + h);
                    const __m256i xh = _mm256_loadu_si256(xv + 8 + 2 * p + h);
                    l = _mm256_add_epi16(l, _mm256_maddubs_epi16(xl, up[h][p]));
                    hh = _mm256_add_epi16(hh, _mm256_maddubs_epi16(up[h][p], xh));
                }
                l = _mm256_sub_epi16(l, _mm256_loadu_si256(xv + 16 + h));
                hh = _mm256_sub_epi16(hh, _mm256_loadu_si256(xv + 18 + h));
                al[j] = _mm256_add_epi32(al[j], _mm256_madd_epi16(l, m16[h]));
                ah[j] = _mm256_add_epi32(ah[j], _mm256_madd_epi16(hh, m16[h]));
            }
        }
        if (++since == t->flush || st == nst - 1) {
            since = 0;
            for (int64_t j = 0; j < nbatch; j++) {
                int32_t vl[8], vh[8];
                _mm256_storeu_si256((__m256i *)vl, al[j]);
                _mm256_storeu_si256((__m256i *)vh, ah[j]);
                int64_t sum = 0;
                for (int e = 0; e < 8; e++)
                    sum += (int64_t)vl[e] + 256 * (int64_t)vh[e];
                acc[j] += sum;
                al[j] = ah[j] = _mm256_setzero_si256();
            }
        }
    }
    return !_mm256_testz_si256(bad, bad);
}
#undef HWQ_E8A_DIV

/* Weight-only accumulators on this path; returns 0 (nothing done) when the config is refused, else 1 with
 * *err = HWQ_E_CODES if a weight code is out of range (acc is then meaningless), HWQ_E_ALLOC or HWQ_OK. */
static int hwq_e8a_wo(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, const int32_t *xr,
                      int64_t nbatch, int64_t *acc, int nt, int *err)
{
    hwq_e8v_tabs scratch;
    hwq_e8a_tabs at;
    at.t = hwq_e8v_get(&scratch);
    *err = HWQ_OK;
    if (!at.t || !hwq_e8a_setup(&at))
        return 0;
    *err = hwq_e8_run(codes, ladder, k, m, xr, nbatch, acc, nt, 32, &at.blk[0][0], 256, hwq_e8a_col, &at);
    return 1;
}
#endif

#endif /* HWQ_E8_AVX2_H */
