/*
 * hwq_kernels_c.h -- hand-written C kernels of the hwq weight-only / both-quantized datapath.
 *
 * Included once by a generated <slug>.c, which first defines the configuration macros
 * (HWQ_SYM, HWQ_D, HWQ_Q, HWQ_NC, HWQ_CB, HWQ_LB, HWQ_L, HWQ_CS, HWQ_H, HWQ_SIGN_SEED, HWQ_ACT_MAX,
 * HWQ_FRAC_BITS, HWQ_BETA0, HWQ_LAT_KIND, HWQ_ROM, HWQ_HAS_LUT, HWQ_TABLE_PATH, HWQ_LUT_TABLE_PATH,
 * HWQ_LANE_LIMIT, HWQ_LANE_LIMIT_LUT, HWQ_MAX_K, HWQ_TILE_BYTES) and the tables hwq_mults, hwq_betas,
 * hwq_codebook (ROM), hwq_gen (arithmetic decode) and hwq_lut (pairwise LUT).
 *
 * Layouts (row-major C arrays):
 *   codes  (M, cstride) uint8   packed codebook rows of column m (hwq.container), cstride = ceil(nb*CB/8)
 *   ladder (M, lstride) uint8   packed ladder indices T, lstride = ceil(nb*LB/8)
 *   norms  (M,) float32
 *   activations (B, K): one vector per row; outputs (M, B) like the reference (y[m, j]).
 *
 * Table path (decoder ROM and small tables): for a tile of blocks, per activation vector j and block b
 * build P[t*NC + r] = m_t * <c_r, x_b> (exact int32; the config guarantees the bound), then every
 * weight block is one table read at index T*NC + r.  The SIMD paths gather 8 (AVX2) or 16 (AVX-512)
 * blocks per instruction and flush their int32 lanes into int64 every HWQ_LANE_LIMIT additions, so the
 * integer result equals the int64 reference exactly.  Direct path (E8 arithmetic decode, large
 * codebooks): decode each codeword, int64 dot product.
 */
#ifndef HWQ_KERNELS_C_H
#define HWQ_KERNELS_C_H

#include <math.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define HWQ_PRAGMA(x) _Pragma(#x)
#define HWQ_UNUSED __attribute__((unused))
#define HWQ_LNC ((int64_t)HWQ_L * (int64_t)HWQ_NC)

#if defined(__GNUC__) && defined(__x86_64__) && !defined(HWQ_NO_SIMD)
#define HWQ_X86 1
#include <immintrin.h>
#else
#define HWQ_X86 0
#endif

enum { HWQ_ISA_AUTO = 0, HWQ_ISA_SCALAR = 1, HWQ_ISA_AVX2 = 2, HWQ_ISA_AVX512 = 3 };
enum {
    HWQ_OK = 0, HWQ_E_BLOCK = 1, HWQ_E_HADAMARD = 2, HWQ_E_MAXK = 3, HWQ_E_ARGS = 4, HWQ_E_ALLOC = 5,
    HWQ_E_RANGE = 6
};

static int hwq_isa_sel = 0;

static int hwq_best_isa(void)
{
#if HWQ_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2"))
        return HWQ_ISA_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return HWQ_ISA_AVX2;
#endif
    return HWQ_ISA_SCALAR;
}

static int hwq_isa(void)
{
    if (hwq_isa_sel == 0)
        hwq_isa_sel = hwq_best_isa();
    return hwq_isa_sel;
}

static int hwq_check_shape(int64_t k, int64_t m, int64_t b)
{
    if (m < 1 || b < 1 || k < 1)
        return HWQ_E_ARGS;
    if (k % HWQ_D)
        return HWQ_E_BLOCK;
    if (k % HWQ_H)
        return HWQ_E_HADAMARD;
    if (k > HWQ_MAX_K)
        return HWQ_E_MAXK;
    return HWQ_OK;
}

static inline int64_t hwq_cstride(int64_t nb) { return (nb * HWQ_CB + 7) / 8; }
static inline int64_t hwq_lstride(int64_t nb) { return (nb * HWQ_LB + 7) / 8; }

/* ---------------------------------------------------------------------------------------------- */
/* decode                                                                                           */
/* ---------------------------------------------------------------------------------------------- */

static inline void hwq_decode(uint64_t r, int64_t *c)
{
#if HWQ_ROM
    for (int i = 0; i < HWQ_D; i++)
        c[i] = hwq_codebook[r * HWQ_D + (uint64_t)i];
#else
    int64_t k[HWQ_D], gk[HWQ_D], coarse[HWQ_D];
    for (int i = HWQ_D - 1; i >= 0; i--) {
        k[i] = (int64_t)(r % HWQ_Q);
        r /= HWQ_Q;
    }
    for (int i = 0; i < HWQ_D; i++) {
        gk[i] = 0;
        for (int j = 0; j < HWQ_D; j++)
            gk[i] += hwq_gen[i * HWQ_D + j] * k[j];
    }
#if HWQ_LAT_KIND == 0
    hwq_closest_z_rational(gk, (int64_t)HWQ_Q * HWQ_CS, HWQ_D, coarse);
#elif HWQ_LAT_KIND == 1
    hwq_closest_d_rational(gk, (int64_t)HWQ_Q * HWQ_CS, HWQ_D, coarse);
#else
    hwq_closest_e8_rational(gk, (int64_t)HWQ_Q * HWQ_CS, coarse);
#endif
    for (int i = 0; i < HWQ_D; i++)
        c[i] = gk[i] - (int64_t)HWQ_Q * coarse[i];
#endif
}

static inline uint32_t hwq_code_at(const uint8_t *crow, int64_t b)
{
    return (uint32_t)hwq_get_bits(crow, b * HWQ_CB, HWQ_CB);
}

static inline uint32_t hwq_t_at(const uint8_t *lrow, int64_t b)
{
#if HWQ_LB > 0
    return (uint32_t)hwq_get_bits(lrow, b * HWQ_LB, HWQ_LB);
#else
    (void)lrow;
    (void)b;
    return 0;
#endif
}

/* ---------------------------------------------------------------------------------------------- */
/* activations                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* x_int = clip(rnd(x / s), -act_max, act_max), s = max|x| / act_max (1 for an all-zero vector). */
HWQ_UNUSED static void hwq_quantize(const double *x, int64_t k, int64_t b, int8_t *xi, double *sx)
{
    for (int64_t j = 0; j < b; j++) {
        const double *v = x + j * k;
        double amax = 0.0;
        for (int64_t i = 0; i < k; i++) {
            double a = fabs(v[i]);
            if (a > amax)
                amax = a;
        }
        double s = amax > 0.0 ? amax / (double)HWQ_ACT_MAX : 1.0;
        sx[j] = s;
        for (int64_t i = 0; i < k; i++) {
            double q = floor(v[i] / s + 0.5);
            if (q > HWQ_ACT_MAX)
                q = HWQ_ACT_MAX;
            if (q < -HWQ_ACT_MAX)
                q = -HWQ_ACT_MAX;
            xi[j * k + i] = (int8_t)q;
        }
    }
}

/* x_rot = H diag(signs) x_int on segments of HWQ_H (exact int32). */
HWQ_UNUSED static void hwq_rotate(const int8_t *xi, int64_t k, int64_t b, int32_t *xr)
{
    for (int64_t j = 0; j < b; j++) {
        for (int64_t i = 0; i < k; i++)
            xr[j * k + i] = hwq_sign(HWQ_SIGN_SEED, (uint32_t)i) * (int32_t)xi[j * k + i];
        hwq_fwht_i32(xr + j * k, k, HWQ_H);
    }
}

/* Float rotation of the fast mode: H diag(signs) x / sqrt(h) (fp32). */
HWQ_UNUSED static void hwq_rotate_f32(const float *x, int64_t k, int64_t b, float *xr)
{
    const float g = (float)(1.0 / sqrt((double)HWQ_H));
    for (int64_t j = 0; j < b; j++) {
        for (int64_t i = 0; i < k; i++)
            xr[j * k + i] = (float)hwq_sign(HWQ_SIGN_SEED, (uint32_t)i) * x[j * k + i];
        hwq_fwht_f32(xr + j * k, k, HWQ_H);
        for (int64_t i = 0; i < k; i++)
            xr[j * k + i] *= g;
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* table path                                                                                       */
/* ---------------------------------------------------------------------------------------------- */
#if HWQ_TABLE_PATH || HWQ_LUT_TABLE_PATH

#if !HWQ_HAVE_CODEBOOK
#error "the table path needs the rendered codebook"
#endif

enum { HWQ_T_WO = 0, HWQ_T_LUT = 1, HWQ_T_FAST = 2 };

/* Per-tile tables: tab[j * jstride + bb * LNC + t * NC + r]. */
static void hwq_build_tables(int kind, void *tabv, int64_t jstride, const void *act, const uint8_t *tx,
                             int64_t k, int64_t nbatch, int64_t b0, int64_t nbt)
{
    const int64_t nb = k / HWQ_D;
    for (int64_t j = 0; j < nbatch; j++) {
        for (int64_t bb = 0; bb < nbt; bb++) {
            const int64_t b = b0 + bb;
            if (kind == HWQ_T_FAST) {
                float *tab = (float *)tabv + j * jstride + bb * HWQ_LNC;
                const float *xs = (const float *)act + j * k + b * HWQ_D;
                float dots[HWQ_NC];
                for (int64_t r = 0; r < HWQ_NC; r++) {
                    float s = 0.0f;
                    for (int i = 0; i < HWQ_D; i++)
                        s += (float)hwq_codebook[r * HWQ_D + i] * xs[i];
                    dots[r] = s * (float)(1.0 / HWQ_CS);
                }
                for (int t = 0; t < HWQ_L; t++)
                    for (int64_t r = 0; r < HWQ_NC; r++)
                        tab[t * HWQ_NC + r] = (float)hwq_betas[t] * dots[r];
                continue;
            }
            int32_t *tab = (int32_t *)tabv + j * jstride + bb * HWQ_LNC;
#if HWQ_LUT_TABLE_PATH
            if (kind == HWQ_T_LUT) {
                const int32_t rx = ((const int32_t *)act)[j * nb + b];
                const int32_t mx = hwq_mults[tx[j * nb + b]];
                for (int t = 0; t < HWQ_L; t++) {
                    const int32_t mm = hwq_mults[t] * mx;
                    for (int64_t r = 0; r < HWQ_NC; r++)
                        tab[t * HWQ_NC + r] = mm * (int32_t)hwq_lut[(int64_t)rx * HWQ_NC + r];
                }
                continue;
            }
#else
            (void)tx;
            (void)nb;
#endif
            const int32_t *xs = (const int32_t *)act + j * k + b * HWQ_D;
            int32_t dots[HWQ_NC];
            for (int64_t r = 0; r < HWQ_NC; r++) {
                int32_t s = 0;
                for (int i = 0; i < HWQ_D; i++)
                    s += (int32_t)hwq_codebook[r * HWQ_D + i] * xs[i];
                dots[r] = s;
            }
            for (int t = 0; t < HWQ_L; t++)
                for (int64_t r = 0; r < HWQ_NC; r++)
                    tab[t * HWQ_NC + r] = hwq_mults[t] * dots[r];
        }
    }
}

/* Scalar tile: blocks [bfrom, b0 + nbt) of columns [m0, m1). */
static void hwq_tile_i32_scalar(const int32_t *tab, int64_t jstride, int64_t nbatch, const uint8_t *codes,
                                int64_t cs, const uint8_t *ladder, int64_t ls, int64_t m0, int64_t m1,
                                int64_t b0, int64_t bfrom, int64_t bto, int64_t *acc)
{
    for (int64_t m = m0; m < m1; m++) {
        const uint8_t *crow = codes + m * cs, *lrow = ladder + m * ls;
        for (int64_t b = bfrom; b < bto; b++) {
            const int64_t idx = (b - b0) * HWQ_LNC + (int64_t)hwq_t_at(lrow, b) * HWQ_NC + hwq_code_at(crow, b);
            for (int64_t j = 0; j < nbatch; j++)
                acc[m * nbatch + j] += tab[j * jstride + idx];
        }
    }
}

static void hwq_tile_f32_scalar(const float *tab, int64_t jstride, int64_t nbatch, const uint8_t *codes,
                                int64_t cs, const uint8_t *ladder, int64_t ls, int64_t m0, int64_t m1,
                                int64_t b0, int64_t bfrom, int64_t bto, float *acc)
{
    for (int64_t m = m0; m < m1; m++) {
        const uint8_t *crow = codes + m * cs, *lrow = ladder + m * ls;
        for (int64_t j = 0; j < nbatch; j++) {
            float s = 0.0f;
            for (int64_t b = bfrom; b < bto; b++) {
                const int64_t idx = (b - b0) * HWQ_LNC + (int64_t)hwq_t_at(lrow, b) * HWQ_NC
                                    + hwq_code_at(crow, b);
                s += tab[j * jstride + idx];
            }
            acc[m * nbatch + j] += s;
        }
    }
}

#if HWQ_X86
#include "hwq_simd_x86.h"
#endif

typedef struct {
    int kind;
    const uint8_t *codes, *ladder;
    const void *act;
    const uint8_t *tx;
    int64_t k, m, nbatch;
    void *out; /* int64 acc (M, B) or float acc (M, B) */
    int nthreads;
} hwq_tile_job;

static int64_t hwq_tile_blocks(int64_t nbatch)
{
    int64_t bt = (int64_t)HWQ_TILE_BYTES / (nbatch * HWQ_LNC * 4);
    bt = bt / 16 * 16;
    return bt < 16 ? 16 : bt;
}

static int hwq_run_tiles(const hwq_tile_job *jb)
{
    const int64_t nb = jb->k / HWQ_D, cs = hwq_cstride(nb), ls = hwq_lstride(nb);
    const int64_t bt = hwq_tile_blocks(jb->nbatch), jstride = bt * HWQ_LNC;
    int nt = jb->nthreads < 1 ? 1 : jb->nthreads;
#ifndef _OPENMP
    nt = 1;
#endif
    if (nt > jb->m)
        nt = (int)jb->m;
    const int isa = hwq_isa();
    const int lane_limit = jb->kind == HWQ_T_LUT ? HWQ_LANE_LIMIT_LUT : HWQ_LANE_LIMIT;
    const size_t per = (size_t)(jb->nbatch * jstride) * 4u;
    char *bufs = (char *)malloc(per * (size_t)nt);
    if (!bufs)
        return HWQ_E_ALLOC;
    HWQ_PRAGMA(omp parallel num_threads(nt))
    {
        int tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        const int64_t m0 = jb->m * tid / nth, m1 = jb->m * (tid + 1) / nth;
        void *tab = bufs + per * (size_t)tid;
        for (int64_t b0 = 0; b0 < nb; b0 += bt) {
            const int64_t nbt = nb - b0 < bt ? nb - b0 : bt;
            hwq_build_tables(jb->kind, tab, jstride, jb->act, jb->tx, jb->k, jb->nbatch, b0, nbt);
            int64_t done = b0;
#if HWQ_X86
            if (isa >= HWQ_ISA_AVX2)
                done = hwq_tile_simd(isa, jb->kind == HWQ_T_FAST, tab, jstride, jb->nbatch, jb->codes, cs,
                                     jb->ladder, ls, m0, m1, b0, nbt, lane_limit, jb->out);
#else
            (void)isa;
            (void)lane_limit;
#endif
            if (jb->kind == HWQ_T_FAST)
                hwq_tile_f32_scalar((const float *)tab, jstride, jb->nbatch, jb->codes, cs, jb->ladder, ls, m0,
                                    m1, b0, done, b0 + nbt, (float *)jb->out);
            else
                hwq_tile_i32_scalar((const int32_t *)tab, jstride, jb->nbatch, jb->codes, cs, jb->ladder, ls,
                                    m0, m1, b0, done, b0 + nbt, (int64_t *)jb->out);
        }
    }
    free(bufs);
    return HWQ_OK;
}
#endif /* table path */

/* ---------------------------------------------------------------------------------------------- */
/* direct path                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

HWQ_UNUSED static void hwq_direct_wo(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, const int32_t *xr,
                          int64_t nbatch, int64_t *acc, int nt)
{
    const int64_t nb = k / HWQ_D, cs = hwq_cstride(nb), ls = hwq_lstride(nb);
    (void)nt;
    HWQ_PRAGMA(omp parallel for num_threads(nt) schedule(static))
    for (int64_t mm = 0; mm < m; mm++) {
        const uint8_t *crow = codes + mm * cs, *lrow = ladder + mm * ls;
        for (int64_t b = 0; b < nb; b++) {
            int64_t c[HWQ_D];
            hwq_decode(hwq_code_at(crow, b), c);
            const int64_t mt = hwq_mults[hwq_t_at(lrow, b)];
            for (int64_t j = 0; j < nbatch; j++) {
                const int32_t *xs = xr + j * k + b * HWQ_D;
                int64_t dot = 0;
                for (int i = 0; i < HWQ_D; i++)
                    dot += c[i] * (int64_t)xs[i];
                acc[mm * nbatch + j] += mt * dot;
            }
        }
    }
}

HWQ_UNUSED static void hwq_direct_fast(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, const float *xr,
                            int64_t nbatch, float *acc, int nt)
{
    const int64_t nb = k / HWQ_D, cs = hwq_cstride(nb), ls = hwq_lstride(nb);
    (void)nt;
    HWQ_PRAGMA(omp parallel for num_threads(nt) schedule(static))
    for (int64_t mm = 0; mm < m; mm++) {
        const uint8_t *crow = codes + mm * cs, *lrow = ladder + mm * ls;
        for (int64_t b = 0; b < nb; b++) {
            int64_t c[HWQ_D];
            hwq_decode(hwq_code_at(crow, b), c);
            const float bt = (float)(hwq_betas[hwq_t_at(lrow, b)] / HWQ_CS);
            for (int64_t j = 0; j < nbatch; j++) {
                const float *xs = xr + j * k + b * HWQ_D;
                float dot = 0.0f;
                for (int i = 0; i < HWQ_D; i++)
                    dot += (float)c[i] * xs[i];
                acc[mm * nbatch + j] += bt * dot;
            }
        }
    }
}

HWQ_UNUSED static int hwq_direct_lut(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, const int32_t *rx,
                          const uint8_t *tx, int64_t nbatch, int64_t *acc, int nt)
{
    const int64_t nb = k / HWQ_D, cs = hwq_cstride(nb), ls = hwq_lstride(nb);
    int64_t *cx = (int64_t *)malloc((size_t)(nbatch * nb * HWQ_D) * sizeof(int64_t));
    if (!cx)
        return HWQ_E_ALLOC;
    for (int64_t i = 0; i < nbatch * nb; i++)
        hwq_decode((uint64_t)rx[i], cx + i * HWQ_D);
    (void)nt;
    HWQ_PRAGMA(omp parallel for num_threads(nt) schedule(static))
    for (int64_t mm = 0; mm < m; mm++) {
        const uint8_t *crow = codes + mm * cs, *lrow = ladder + mm * ls;
        for (int64_t b = 0; b < nb; b++) {
            int64_t c[HWQ_D];
            hwq_decode(hwq_code_at(crow, b), c);
            const int64_t mw = hwq_mults[hwq_t_at(lrow, b)];
            for (int64_t j = 0; j < nbatch; j++) {
                const int64_t *v = cx + (j * nb + b) * HWQ_D;
                int64_t ip = 0;
                for (int i = 0; i < HWQ_D; i++)
                    ip += c[i] * v[i];
                acc[mm * nbatch + j] += mw * (int64_t)hwq_mults[tx[j * nb + b]] * (ip / (HWQ_CS * HWQ_CS));
            }
        }
    }
    free(cx);
    return HWQ_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* exported API                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

int HWQ_SYM(isa)(void) { return hwq_isa(); }

/* 0: auto (best available), 1: scalar, 2: AVX2, 3: AVX-512. Returns the ISA in use or -1 if unsupported. */
int HWQ_SYM(set_isa)(int isa)
{
    int best = hwq_best_isa();
    if (isa == HWQ_ISA_AUTO) {
        hwq_isa_sel = best;
        return best;
    }
    if (isa < HWQ_ISA_SCALAR || isa > best)
        return -1;
    hwq_isa_sel = isa;
    return isa;
}

int HWQ_SYM(table_path)(void) { return HWQ_TABLE_PATH; }

int HWQ_SYM(quantize_acts)(const double *x, int64_t k, int64_t nbatch, int8_t *xi, double *sx)
{
    if (k < 1 || nbatch < 1)
        return HWQ_E_ARGS;
    hwq_quantize(x, k, nbatch, xi, sx);
    return HWQ_OK;
}

int HWQ_SYM(rotate_acts)(const int8_t *xi, int64_t k, int64_t nbatch, int32_t *xr)
{
    if (k < 1 || nbatch < 1)
        return HWQ_E_ARGS;
    if (k % HWQ_H)
        return HWQ_E_HADAMARD;
    for (int64_t i = 0; i < k * nbatch; i++) {
        const int v = xi[i];
        if (v > HWQ_ACT_MAX || v < -HWQ_ACT_MAX)
            return HWQ_E_RANGE;
    }
    hwq_rotate(xi, k, nbatch, xr);
    return HWQ_OK;
}

/* Weight-only integer accumulators acc (M, B) from rotated int activations xr (B, K). */
int HWQ_SYM(wo_acc)(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, const int32_t *xr,
                    int64_t nbatch, int64_t *acc, int nthreads)
{
    int e = hwq_check_shape(k, m, nbatch);
    if (e)
        return e;
    for (int64_t i = 0; i < k * nbatch; i++)
        if (xr[i] > (int32_t)HWQ_ACT_MAX * HWQ_H || xr[i] < -(int32_t)HWQ_ACT_MAX * HWQ_H)
            return HWQ_E_RANGE;
    memset(acc, 0, (size_t)(m * nbatch) * sizeof(int64_t));
#if HWQ_TABLE_PATH
    hwq_tile_job jb = {HWQ_T_WO, codes, ladder, xr, NULL, k, m, nbatch, acc, nthreads};
    return hwq_run_tiles(&jb);
#else
    hwq_direct_wo(codes, ladder, k, m, xr, nbatch, acc, nthreads);
    return HWQ_OK;
#endif
}

/* Both-quantized accumulators acc2 (M, B) from activation codes rx (B, nb) int32 and tx (B, nb) uint8. */
int HWQ_SYM(lut_acc)(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, const int32_t *rx,
                     const uint8_t *tx, int64_t nbatch, int64_t *acc, int nthreads)
{
    int e = hwq_check_shape(k, m, nbatch);
    if (e)
        return e;
    for (int64_t i = 0; i < (k / HWQ_D) * nbatch; i++)
        if (rx[i] < 0 || (int64_t)rx[i] >= (int64_t)HWQ_NC || tx[i] >= HWQ_L)
            return HWQ_E_RANGE;
    memset(acc, 0, (size_t)(m * nbatch) * sizeof(int64_t));
#if HWQ_LUT_TABLE_PATH
    hwq_tile_job jb = {HWQ_T_LUT, codes, ladder, rx, tx, k, m, nbatch, acc, nthreads};
    return hwq_run_tiles(&jb);
#else
    return hwq_direct_lut(codes, ladder, k, m, rx, tx, nbatch, acc, nthreads);
#endif
}

/* Exact weight-only GEMV/GEMM: float64 activations x (B, K) -> y (M, B) float64, acc (M, B) int64.
 * y[m, j] = ((double(acc) * wscale[m]) * s_x[j]) * rot_gain, exactly the order of hwq.datapath. */
int HWQ_SYM(gemv_exact)(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k, int64_t m,
                        const double *x, int64_t nbatch, double *y, int64_t *acc, int nthreads)
{
    int e = hwq_check_shape(k, m, nbatch);
    if (e)
        return e;
    int8_t *xi = (int8_t *)malloc((size_t)(k * nbatch));
    int32_t *xr = (int32_t *)malloc((size_t)(k * nbatch) * sizeof(int32_t));
    double *sx = (double *)malloc((size_t)nbatch * sizeof(double));
    if (!xi || !xr || !sx) {
        free(xi);
        free(xr);
        free(sx);
        return HWQ_E_ALLOC;
    }
    hwq_quantize(x, k, nbatch, xi, sx);
    hwq_rotate(xi, k, nbatch, xr);
    e = HWQ_SYM(wo_acc)(codes, ladder, k, m, xr, nbatch, acc, nthreads);
    if (!e) {
        const double cst = HWQ_BETA0 / ((double)((int64_t)(1 << HWQ_FRAC_BITS) * HWQ_CS) * sqrt((double)k));
        const double rot_gain = 1.0 / sqrt((double)HWQ_H);
        for (int64_t mm = 0; mm < m; mm++) {
            const double ws = (double)norms[mm] * cst;
            for (int64_t j = 0; j < nbatch; j++)
                y[mm * nbatch + j] = (((double)acc[mm * nbatch + j] * ws) * sx[j]) * rot_gain;
        }
    }
    free(xi);
    free(xr);
    free(sx);
    return e;
}

/* Fast mode: fp32 activations x (B, K), float rotation, fp32 accumulation -> y (M, B) fp32. */
int HWQ_SYM(gemv_fast)(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k, int64_t m,
                       const float *x, int64_t nbatch, float *y, int nthreads)
{
    int e = hwq_check_shape(k, m, nbatch);
    if (e)
        return e;
    float *xr = (float *)malloc((size_t)(k * nbatch) * sizeof(float));
    if (!xr)
        return HWQ_E_ALLOC;
    hwq_rotate_f32(x, k, nbatch, xr);
    memset(y, 0, (size_t)(m * nbatch) * sizeof(float));
#if HWQ_TABLE_PATH
    hwq_tile_job jb = {HWQ_T_FAST, codes, ladder, xr, NULL, k, m, nbatch, y, nthreads};
    e = hwq_run_tiles(&jb);
#else
    hwq_direct_fast(codes, ladder, k, m, xr, nbatch, y, nthreads);
#endif
    const float inv = (float)(1.0 / sqrt((double)k));
    for (int64_t mm = 0; mm < m; mm++)
        for (int64_t j = 0; j < nbatch; j++)
            y[mm * nbatch + j] *= norms[mm] * inv;
    free(xr);
    return e;
}

/* Dequantize: out (M, K) fp32, row m = column m of W (original, unrotated domain). */
int HWQ_SYM(dequantize)(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k, int64_t m,
                        float *out)
{
    int e = hwq_check_shape(k, m, 1);
    if (e)
        return e;
    const int64_t nb = k / HWQ_D, cs = hwq_cstride(nb), ls = hwq_lstride(nb);
    double *xh = (double *)malloc((size_t)k * sizeof(double));
    if (!xh)
        return HWQ_E_ALLOC;
    const double g = 1.0 / sqrt((double)HWQ_H), sk = sqrt((double)k);
    for (int64_t mm = 0; mm < m; mm++) {
        const uint8_t *crow = codes + mm * cs, *lrow = ladder + mm * ls;
        for (int64_t b = 0; b < nb; b++) {
            int64_t c[HWQ_D];
            hwq_decode(hwq_code_at(crow, b), c);
            const double bt = hwq_betas[hwq_t_at(lrow, b)];
            for (int i = 0; i < HWQ_D; i++)
                xh[b * HWQ_D + i] = bt * ((double)c[i] / HWQ_CS);
        }
        hwq_fwht_f64(xh, k, HWQ_H);
        const double sc = (double)norms[mm] / sk;
        for (int64_t i = 0; i < k; i++)
            out[mm * k + i] = (float)((double)hwq_sign(HWQ_SIGN_SEED, (uint32_t)i) * (xh[i] * g) * sc);
    }
    free(xh);
    return HWQ_OK;
}

#endif /* HWQ_KERNELS_C_H */
