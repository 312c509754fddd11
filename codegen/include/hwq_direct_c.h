/*
 * hwq_direct_c.h -- direct path of the C kernels, exact weight-only GEMV (arithmetic decode: codebooks too
 * large for a table, e.g. E8 q=7).  Included by hwq_kernels_c.h after hwq_decode.h.
 *
 * Blocks are decoded HWQ_DL = 16 at a time in structure-of-arrays form (lane l = block b0 + l): the same
 * formulas as hwq_arith_decode (SPEC section 2: c = G k - q Q(G k / q), Q the exact rational closest point
 * with its tie rules), but each step is a branch-free lane-wise int32 expression, so the compiler
 * vectorises it (AVX-512: one instruction per step for 16 blocks; divisions by the constant q and
 * q * coord_scale become multiplications).  The decoded codewords of a chunk serve every activation
 * vector: dot_l = <c_l, x_{b0 + l}> in int32 (activations transposed once per call to the same lanes),
 * then acc += sum_l m_{T_l} dot_l in int64.
 *
 * int32 is exact only within bounds that depend on the config (generator entries, q, coordinate scale,
 * activation bound): hwq_soa_ok() proves them once from the rendered tables; a config outside them takes
 * the scalar int64 loop (hwq_direct_wo).
 */
#ifndef HWQ_DIRECT_C_H
#define HWQ_DIRECT_C_H

#if !HWQ_TABLE_PATH
#define HWQ_DL 16

/* 8 bytes little-endian (one unaligned load on x86, which is little-endian) */
static inline uint64_t hwq_ld64_le(const uint8_t *q)
{
    uint64_t w = 0;
#if HWQ_X86
    memcpy(&w, q, 8);
#else
    for (int i = 0; i < 8; i++)
        w |= (uint64_t)q[i] << (8 * i);
#endif
    return w;
}

#if HWQ_X86
#define HWQ_T_SOA512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")))
#define HWQ_T_SOA256 __attribute__((target("avx2,fma")))
#endif
#ifndef HWQ_USE_SOA256
#define HWQ_USE_SOA256 1
#endif

/* Python's n // d for a constant d > 0. */
static inline int32_t hwq_fdiv32(int32_t n, int32_t d)
{
    const int32_t q = n / d;
    return q - (n - q * d < 0);
}

/* Bounds of the int32 lane arithmetic, proved in int64 from the rendered generator: 1 if
 *   |G k| <= gk = max_i sum_j |G_ij| (q - 1),  |2 num + den| and |4 num - den (y0 + y1)| terms,
 *   |c_i| <= gk + q * ymax,  d * max|c| * act_max * h (the dot) all stay below 2^30. */
static int hwq_soa_ok(void)
{
    if (HWQ_CB > 31)
        return 0;
    int64_t gk = 0;
    for (int i = 0; i < HWQ_D; i++) {
        int64_t s = 0;
        for (int j = 0; j < HWQ_D; j++) {
            const int64_t g = hwq_gen[i * HWQ_D + j];
            s += (g < 0 ? -g : g) * (HWQ_Q - 1);
        }
        gk = s > gk ? s : gk;
    }
    const int64_t den = (int64_t)HWQ_Q * HWQ_CS, lim = (int64_t)1 << 30;
    /* closest points: |rnd| <= gk / den + 1 (D_n fix +1, E8 scaled by 2 plus the half): ymax */
    const int64_t ymax = 2 * (gk / den + 2) + 1;
    const int64_t cmax = gk + (int64_t)HWQ_Q * ymax;
    return 8 * gk + 4 * den <= lim && HWQ_D * 2 * ymax * (4 * gk + 2 * den * ymax) <= lim
           && (int64_t)HWQ_D * cmax * HWQ_ACT_MAX * HWQ_H <= lim;
}

/* Closest point of D_n for 16 lanes (hwq_closest_d_rational: rnd, then on an odd sum the worst coordinate,
 * lowest index on ties, moves one step toward x). */
static inline __attribute__((always_inline)) void hwq_closest_d16(int32_t num[][HWQ_DL], const int32_t den,
                                                                  int32_t out[][HWQ_DL])
{
    int32_t s[HWQ_DL], best[HWQ_DL], ba[HWQ_DL], br[HWQ_DL];
    for (int l = 0; l < HWQ_DL; l++) {
        s[l] = 0;
        best[l] = 0;
        ba[l] = -1;
        br[l] = 0;
    }
    for (int i = 0; i < HWQ_D; i++) {
        HWQ_PRAGMA(omp simd)
        for (int l = 0; l < HWQ_DL; l++) {
            const int32_t o = hwq_fdiv32(2 * num[i][l] + den, 2 * den);
            const int32_t r = num[i][l] - den * o, a = r < 0 ? -r : r, up = a > ba[l];
            out[i][l] = o;
            s[l] += o;
            best[l] = up ? i : best[l];
            br[l] = up ? r : br[l];
            ba[l] = up ? a : ba[l];
        }
    }
    for (int i = 0; i < HWQ_D; i++) {
        HWQ_PRAGMA(omp simd)
        for (int l = 0; l < HWQ_DL; l++)
            out[i][l] += ((s[l] & 1) && best[l] == i) ? (br[l] >= 0 ? 1 : -1) : 0;
    }
}

/* Codewords c[i][l] of the 16 codebook rows r[l] (= hwq_arith_decode of each). */
static inline __attribute__((always_inline)) void hwq_decode16(const uint32_t r0[HWQ_DL], int32_t c[][HWQ_DL])
{
    int32_t k[HWQ_D][HWQ_DL], gk[HWQ_D][HWQ_DL], co[HWQ_D][HWQ_DL];
    uint32_t r[HWQ_DL];
    for (int l = 0; l < HWQ_DL; l++)
        r[l] = r0[l];
    for (int i = HWQ_D - 1; i >= 0; i--) {
        HWQ_PRAGMA(omp simd)
        for (int l = 0; l < HWQ_DL; l++) {
            k[i][l] = (int32_t)(r[l] % (uint32_t)HWQ_Q);
            r[l] /= (uint32_t)HWQ_Q;
        }
    }
    for (int i = 0; i < HWQ_D; i++) {
        HWQ_PRAGMA(omp simd)
        for (int l = 0; l < HWQ_DL; l++) {
            int32_t s = 0;
            for (int j = 0; j < HWQ_D; j++)
                s += (int32_t)hwq_gen[i * HWQ_D + j] * k[j][l];
            gk[i][l] = s;
        }
    }
    const int32_t den = HWQ_Q * HWQ_CS;
#if HWQ_LAT_KIND == 0
    for (int i = 0; i < HWQ_D; i++) {
        HWQ_PRAGMA(omp simd)
        for (int l = 0; l < HWQ_DL; l++)
            co[i][l] = hwq_fdiv32(2 * gk[i][l] + den, 2 * den);
    }
#elif HWQ_LAT_KIND == 1
    hwq_closest_d16(gk, den, co);
#else
    /* E8 = D8 u (D8 + 1/2): the nearer of 2 f0 and 2 f1 + 1 (hwq_closest_e8_rational) */
    int32_t f1[HWQ_D][HWQ_DL], n1[HWQ_D][HWQ_DL], diff[HWQ_DL];
    hwq_closest_d16(gk, den, co);
    for (int i = 0; i < HWQ_D; i++) {
        HWQ_PRAGMA(omp simd)
        for (int l = 0; l < HWQ_DL; l++)
            n1[i][l] = 2 * gk[i][l] - den;
    }
    hwq_closest_d16(n1, 2 * den, f1);
    for (int l = 0; l < HWQ_DL; l++)
        diff[l] = 0;
    for (int i = 0; i < HWQ_D; i++) {
        HWQ_PRAGMA(omp simd)
        for (int l = 0; l < HWQ_DL; l++) {
            const int32_t y0 = 2 * co[i][l], y1 = 2 * f1[i][l] + 1;
            diff[l] += (y0 - y1) * (4 * gk[i][l] - den * (y0 + y1));
        }
    }
    for (int i = 0; i < HWQ_D; i++) {
        HWQ_PRAGMA(omp simd)
        for (int l = 0; l < HWQ_DL; l++)
            co[i][l] = diff[l] < 0 ? 2 * f1[i][l] + 1 : 2 * co[i][l];
    }
#endif
    for (int i = 0; i < HWQ_D; i++) {
        HWQ_PRAGMA(omp simd)
        for (int l = 0; l < HWQ_DL; l++)
            c[i][l] = gk[i][l] - HWQ_Q * co[i][l];
    }
}

/* One column: acc[j] += sum_b m_{T_b} <c(r_b), x_j,b> for all blocks, 16 at a time.  xt: activations as
 * xt[((j * nch + ch) * D + i) * 16 + l] = x_j[(16 ch + l) D + i] (0 beyond the last block). */
static inline __attribute__((always_inline)) void
hwq_direct_col16_body(const uint8_t *crow, const uint8_t *lrow, int64_t nb, int64_t cs, const int32_t *xt,
                      int64_t nbatch, int64_t *acc)
{
    const int64_t nch = (nb + HWQ_DL - 1) / HWQ_DL;
    for (int64_t ch = 0; ch < nch; ch++) {
        uint32_t rr[HWQ_DL];
        int32_t mt[HWQ_DL], c[HWQ_D][HWQ_DL];
#if HWQ_LB == 2
        /* 2-bit ladder fields: the 16 of a full chunk are the 32 bits at byte 4 ch */
        const int full = (ch + 1) * HWQ_DL <= nb;
        const uint64_t t32 = full ? ((uint64_t)lrow[4 * ch] | (uint64_t)lrow[4 * ch + 1] << 8
                                     | (uint64_t)lrow[4 * ch + 2] << 16 | (uint64_t)lrow[4 * ch + 3] << 24)
                                  : 0;
#endif
        for (int l = 0; l < HWQ_DL; l++) {
            const int64_t b = ch * HWQ_DL + l, bit = b * HWQ_CB;
            if (b >= nb) { /* past the last block: code 0 (a valid row), weight 0 */
                rr[l] = 0;
                mt[l] = 0;
                continue;
            }
            /* one 8-byte read where the row has 8 bytes left, else the bit-by-bit reader */
            rr[l] = (bit >> 3) + 8 <= cs
                        ? (uint32_t)((hwq_ld64_le(crow + (bit >> 3)) >> (bit & 7)) & (((uint64_t)1 << HWQ_CB) - 1u))
                        : hwq_code_at(crow, b);
#if HWQ_LB == 2
            mt[l] = hwq_mults[full ? (uint32_t)(t32 >> (2 * l)) & 3u : hwq_t_at(lrow, b)];
#else
            mt[l] = hwq_mults[hwq_t_at(lrow, b)];
#endif
        }
        hwq_decode16(rr, c);
        for (int64_t j = 0; j < nbatch; j++) {
            const int32_t *xv = xt + (j * nch + ch) * HWQ_D * HWQ_DL;
            int32_t dot[HWQ_DL];
            HWQ_PRAGMA(omp simd)
            for (int l = 0; l < HWQ_DL; l++) {
                int32_t s = 0;
                for (int i = 0; i < HWQ_D; i++)
                    s += c[i][l] * xv[i * HWQ_DL + l];
                dot[l] = s;
            }
            int64_t s = 0;
            for (int l = 0; l < HWQ_DL; l++)
                s += (int64_t)mt[l] * (int64_t)dot[l];
            acc[j] += s;
        }
    }
}

static void hwq_direct_col16(const uint8_t *crow, const uint8_t *lrow, int64_t nb, int64_t cs,
                             const int32_t *xt, int64_t nbatch, int64_t *acc)
{
    hwq_direct_col16_body(crow, lrow, nb, cs, xt, nbatch, acc);
}

#if HWQ_X86
static HWQ_T_SOA512 void hwq_direct_col16_512(const uint8_t *crow, const uint8_t *lrow, int64_t nb,
                                              int64_t cs, const int32_t *xt, int64_t nbatch, int64_t *acc)
{
    hwq_direct_col16_body(crow, lrow, nb, cs, xt, nbatch, acc);
}

static HWQ_T_SOA256 void hwq_direct_col16_256(const uint8_t *crow, const uint8_t *lrow, int64_t nb,
                                              int64_t cs, const int32_t *xt, int64_t nbatch, int64_t *acc)
{
    hwq_direct_col16_body(crow, lrow, nb, cs, xt, nbatch, acc);
}
#endif

#include "hwq_e8_vbmi.h"
#include "hwq_e8_avx2.h"

/* Weight-only accumulators on the direct path: E8 (q <= 8) takes the 64-lane int8 decode on AVX-512 VBMI
 * (hwq_e8_vbmi.h), the 32-lane one on AVX2 (hwq_e8_avx2.h); otherwise the 16-lane decode when hwq_soa_ok()
 * (compiled for AVX-512 and for AVX2 beside the baseline build), else hwq_direct_wo.
 * acc (M, B) must be zero on entry. */
static int hwq_direct_wo_fast(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m,
                              const int32_t *xr, int64_t nbatch, int64_t *acc, int nt)
{
    const int64_t nb = k / HWQ_D, cs = hwq_cstride(nb), ls = hwq_lstride(nb);
    const int64_t nch = (nb + HWQ_DL - 1) / HWQ_DL;
#ifdef HWQ_E8V
    if (hwq_isa() >= HWQ_ISA_VBMI) {
        int err = HWQ_OK;
        if (hwq_e8v_wo(codes, ladder, k, m, xr, nbatch, acc, nt, &err))
            return err;
    }
#endif
#ifdef HWQ_E8A
    if (hwq_isa() >= HWQ_ISA_AVX2) {
        int err = HWQ_OK;
        if (hwq_e8a_wo(codes, ladder, k, m, xr, nbatch, acc, nt, &err))
            return err;
    }
#endif
    if (!hwq_soa_ok()) {
        hwq_direct_wo(codes, ladder, k, m, xr, nbatch, acc, nt);
        return HWQ_OK;
    }
    int32_t *xt = (int32_t *)calloc((size_t)(nbatch * nch * HWQ_D * HWQ_DL), sizeof(int32_t));
    if (!xt)
        return HWQ_E_ALLOC;
    for (int64_t j = 0; j < nbatch; j++)
        for (int64_t b = 0; b < nb; b++)
            for (int i = 0; i < HWQ_D; i++)
                xt[((j * nch + b / HWQ_DL) * HWQ_D + i) * HWQ_DL + b % HWQ_DL] = xr[j * k + b * HWQ_D + i];
    int wide = 0; /* 2: the AVX-512 clone, 1: the AVX2 clone, 0: the baseline build */
    if (HWQ_X86 && hwq_isa() >= HWQ_ISA_AVX512)
        wide = 2;
    else if (HWQ_X86 && hwq_isa() >= HWQ_ISA_AVX2)
        wide = HWQ_USE_SOA256;
    (void)nt;
    (void)wide;
    HWQ_PRAGMA(omp parallel for num_threads(nt) schedule(static))
    for (int64_t mm = 0; mm < m; mm++) {
        int64_t *a = acc + mm * nbatch;
#if HWQ_X86
        if (wide == 2)
            hwq_direct_col16_512(codes + mm * cs, ladder + mm * ls, nb, cs, xt, nbatch, a);
        else if (wide == 1)
            hwq_direct_col16_256(codes + mm * cs, ladder + mm * ls, nb, cs, xt, nbatch, a);
        else
#endif
            hwq_direct_col16(codes + mm * cs, ladder + mm * ls, nb, cs, xt, nbatch, a);
    }
    free(xt);
    return HWQ_OK;
}

#endif /* !HWQ_TABLE_PATH */

/* 1 when the weight-only GEMV checks every weight code itself: the E8 VBMI and AVX2 decodes compare each row
 * with q^8 as they extract it (and every ladder field is valid: L = 2^LB), so hwq_wo_acc_w skips the separate
 * pass of hwq_check_codes over the weights (on the larger shapes it cost a fifth of the E8 GEMV). */
static int hwq_direct_checks_codes(void)
{
#ifdef HWQ_E8V
    hwq_e8v_tabs scratch;
    int isa_ok = hwq_isa() >= HWQ_ISA_VBMI;
#ifdef HWQ_E8A
    hwq_e8a_tabs at; /* the AVX2 decode (hwq_e8_avx2.h) checks them too */
    isa_ok = isa_ok || (hwq_isa() >= HWQ_ISA_AVX2 && hwq_e8a_setup(&at));
#endif
    return HWQ_L == (1 << HWQ_LB) && isa_ok && hwq_e8v_get(&scratch) != NULL;
#else
    return 0;
#endif
}
#endif /* HWQ_DIRECT_C_H */
