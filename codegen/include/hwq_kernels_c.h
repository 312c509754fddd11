/*
 * hwq_kernels_c.h -- hand-written C kernels of the hwq weight-only / both-quantized datapath.
 *
 * Included once by a generated <slug>.c, which first defines the configuration macros
 * (HWQ_SYM, HWQ_D, HWQ_Q, HWQ_NC, HWQ_CB, HWQ_LB, HWQ_L, HWQ_CS, HWQ_H, HWQ_SIGN_SEED, HWQ_ACT_MAX,
 * HWQ_FRAC_BITS, HWQ_BETA0, HWQ_LAT_KIND, HWQ_ROM, HWQ_HAS_LUT, HWQ_TABLE_PATH, HWQ_LUT_TABLE_PATH,
 * HWQ_MAX_K, HWQ_BT, HWQ_TAB_BYTES, HWQ_FLUSH_BLOCKS, HWQ_FLUSH_BLOCKS_LUT, HWQ_VBMI_WO, HWQ_VBMI_LUT)
 * and the tables hwq_mults, hwq_betas, hwq_codebook (ROM), hwq_gen (arithmetic decode) and hwq_lut.
 *
 * Layouts (row-major C arrays):
 *   codes  (M, cstride) uint8   packed codebook rows of column m (hwq.container), cstride = ceil(nb*CB/8)
 *   ladder (M, lstride) uint8   packed ladder indices T, lstride = ceil(nb*LB/8)
 *   norms  (M,) float32
 *   packed (packed_bytes(K, M),) uint8: the kernel layout written once per matrix by pack (table path)
 *   activations (B, K): one vector per row; outputs (M, B) like the reference (y[m, j]).
 *
 * Table path (decoder ROM, L * NC <= 4096): the weights are repacked once into a block-tiled layout
 * (64 columns per record, see hwq_pack).  A GEMV walks it front to back: per tile of blocks it builds
 * the L1-resident tables P_j[b][r] = <c_r, x_b> (exact int32, |P| <= dot_bound), then for every group
 * of 64 columns and every block looks the 64 codes up (vpermi2b byte planes on AVX-512 VBMI, gathers
 * on AVX2/AVX-512, scalar otherwise) and adds each entry into the int32 partial sum of its (column,
 * ladder index t): no multiply in the inner loop.  Partial sums are flushed into int64 as
 * sum_t m_t * S_t at least every HWQ_FLUSH_BLOCKS = floor((2^31 - 1) / dot_bound) blocks, so no int32
 * can overflow and the result equals the int64 reference exactly.  Threads split the block tiles.
 * Direct path (E8 arithmetic decode, large codebooks): decode each codeword, int64 dot product.
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

enum { HWQ_ISA_AUTO = 0, HWQ_ISA_SCALAR = 1, HWQ_ISA_AVX2 = 2, HWQ_ISA_AVX512 = 3, HWQ_ISA_VBMI = 4 };
enum {
    HWQ_OK = 0, HWQ_E_BLOCK = 1, HWQ_E_HADAMARD = 2, HWQ_E_MAXK = 3, HWQ_E_ARGS = 4, HWQ_E_ALLOC = 5,
    HWQ_E_RANGE = 6, HWQ_E_LAYOUT = 7
};

static int hwq_isa_sel = 0;

static int hwq_best_isa(void)
{
#if HWQ_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vbmi"))
        return HWQ_ISA_VBMI;
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
/* table path: kernel layout (one-time repack) and block-major GEMV over column groups               */
/* ---------------------------------------------------------------------------------------------- */
#if HWQ_TABLE_PATH || HWQ_LUT_TABLE_PATH

#if !HWQ_HAVE_CODEBOOK
#error "the table path needs the rendered codebook"
#endif

/*
 * Kernel layout (hwq_pack, done once per weight matrix, like Marlin's repack).  Columns are taken in
 * groups of HWQ_GL = 64 (the last group padded with code 0, T 0); blocks in tiles of HWQ_BT.  One
 * record holds block b of the 64 columns of group g:
 *     64 codes (1 byte each if code_bits <= 8, else 2 bytes little-endian)
 *     HWQ_LB bit planes of T (uint64 little-endian; bit i of plane p = bit p of T of column 64g + i)
 * so a record is 64 * code_bits/8 + 8 * ladder_bits bytes: the same bits as the container for
 * code_bits 8 (D3 q=6: 80 bytes per 64 blocks).  Records are stored tile by tile, inside a tile group
 * by group, inside a group block by block: a GEMV reads the whole layout once, front to back.
 */
#define HWQ_GL 64
#define HWQ_CBY (HWQ_CB <= 8 ? 1 : 2)
#define HWQ_REC (HWQ_GL * HWQ_CBY + 8 * HWQ_LB)
#define HWQ_NCP ((HWQ_NC + 15) / 16 * 16)
/* byte-plane (vpermi2b) lookups: codes of at most 8 bits, table entries within +-2^23 */
#define HWQ_VBMI (HWQ_X86 && HWQ_CB <= 8 && (HWQ_VBMI_WO || HWQ_VBMI_LUT))

enum { HWQ_T_WO = 0, HWQ_T_LUT = 1, HWQ_T_FAST = 2 };

static inline int64_t hwq_ngroups(int64_t m) { return (m + HWQ_GL - 1) / HWQ_GL; }

static inline int64_t hwq_packed_size(int64_t nb, int64_t m) { return nb * hwq_ngroups(m) * HWQ_REC; }

static inline uint64_t hwq_plane(const uint8_t *rec, int p)
{
    const uint8_t *q = rec + HWQ_GL * HWQ_CBY + 8 * p;
    uint64_t w = 0;
    for (int i = 0; i < 8; i++)
        w |= (uint64_t)q[i] << (8 * i);
    return w;
}

/* 64-bit lane mask of the columns of a record whose ladder index is t. */
static inline uint64_t hwq_tmask(const uint8_t *rec, int t)
{
    uint64_t mk = ~(uint64_t)0;
    for (int p = 0; p < HWQ_LB; p++) {
        const uint64_t w = hwq_plane(rec, p);
        mk &= ((t >> p) & 1) ? w : ~w;
    }
    return mk;
}

static void hwq_pack(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, uint8_t *out)
{
    const int64_t nb = k / HWQ_D, cs = hwq_cstride(nb), ls = hwq_lstride(nb), ng = hwq_ngroups(m);
    memset(out, 0, (size_t)hwq_packed_size(nb, m));
    for (int64_t mm = 0; mm < m; mm++) {
        const uint8_t *crow = codes + mm * cs, *lrow = ladder + mm * ls;
        const int64_t g = mm / HWQ_GL, i = mm % HWQ_GL;
        for (int64_t b = 0; b < nb; b++) {
            const int64_t b0 = b / HWQ_BT * HWQ_BT, nbt = nb - b0 < HWQ_BT ? nb - b0 : HWQ_BT;
            uint8_t *rec = out + (b0 * ng + g * nbt + (b - b0)) * HWQ_REC;
            const uint32_t r = hwq_code_at(crow, b), t = hwq_t_at(lrow, b);
            if (HWQ_CBY == 1) {
                rec[i] = (uint8_t)r;
            } else {
                rec[2 * i] = (uint8_t)(r & 0xFFu);
                rec[2 * i + 1] = (uint8_t)(r >> 8);
            }
            for (int p = 0; p < HWQ_LB; p++)
                if ((t >> p) & 1u)
                    rec[HWQ_GL * HWQ_CBY + 8 * p + i / 8] |= (uint8_t)(1u << (i % 8));
        }
    }
}

/* Blocks per table build: the tables of all activation vectors stay in L1 (HWQ_TAB_BYTES). */
static int64_t hwq_sub_blocks(int64_t nbatch)
{
    int64_t s = (int64_t)HWQ_TAB_BYTES / (nbatch * HWQ_NCP * 4);
    if (s > HWQ_BT)
        s = HWQ_BT;
    return s < 1 ? 1 : s;
}

/* Tables of blocks [bs, bs + ns): tab[(j * ns + bb) * NCP + r] =
 *   WO:   <cw_r, x_b>                       (int32, |.| <= dot_bound)
 *   LUT:  m_{Tx[j,b]} * LUT[rx[j,b], r]     (int32, |.| <= lut_bound * max m)
 *   FAST: <c_r, x_b> / cs                   (float)                                               */
static inline __attribute__((always_inline)) void hwq_build_tables(int kind, void *tabv, const int32_t *cbt,
                                                                    const void *act, const uint8_t *tx, int64_t k,
                                                                    int64_t nbatch, int64_t bs, int64_t ns)
{
    const int64_t nb = k / HWQ_D;
    for (int64_t j = 0; j < nbatch; j++) {
        for (int64_t bb = 0; bb < ns; bb++) {
            const int64_t b = bs + bb, o = (j * ns + bb) * HWQ_NCP;
            if (kind == HWQ_T_FAST) {
                const float *xs = (const float *)act + j * k + b * HWQ_D;
                float *tab = (float *)tabv + o;
                for (int64_t r = 0; r < HWQ_NC; r++)
                    tab[r] = 0.0f;
                for (int i = 0; i < HWQ_D; i++) {
                    const float xi = xs[i] * (float)(1.0 / HWQ_CS);
                    for (int64_t r = 0; r < HWQ_NC; r++)
                        tab[r] += (float)cbt[i * HWQ_NCP + r] * xi;
                }
                continue;
            }
            int32_t *tab = (int32_t *)tabv + o;
#if HWQ_LUT_TABLE_PATH
            if (kind == HWQ_T_LUT) {
                const int32_t rx = ((const int32_t *)act)[j * nb + b];
                const int32_t mx = hwq_mults[tx[j * nb + b]];
                for (int64_t r = 0; r < HWQ_NC; r++)
                    tab[r] = mx * (int32_t)hwq_lut[(int64_t)rx * HWQ_NC + r];
                continue;
            }
#else
            (void)tx;
            (void)nb;
#endif
            const int32_t *xs = (const int32_t *)act + j * k + b * HWQ_D;
            for (int64_t r = 0; r < HWQ_NC; r++)
                tab[r] = 0;
            for (int i = 0; i < HWQ_D; i++) {
                const int32_t xi = xs[i];
                for (int64_t r = 0; r < HWQ_NC; r++)
                    tab[r] += cbt[i * HWQ_NCP + r] * xi;
            }
        }
    }
}

/* Portable group loop: acc32[((g * B + j) * L + t) * 16 + lane] += tab[j][b][code] for lanes of ladder t. */
static void hwq_groups_scalar(int is_float, const uint8_t *tile, int64_t ng, int64_t nbt, int64_t s0,
                              int64_t ns, const void *tab, int64_t nbatch, void *acc)
{
    for (int64_t g = 0; g < ng; g++) {
        for (int64_t bb = 0; bb < ns; bb++) {
            const uint8_t *rec = tile + (g * nbt + s0 + bb) * HWQ_REC;
            int tl[HWQ_GL];
            for (int i = 0; i < HWQ_GL; i++) {
                int t = 0;
                for (int p = 0; p < HWQ_LB; p++)
                    t |= (int)((hwq_plane(rec, p) >> i) & 1u) << p;
                tl[i] = t;
            }
            for (int64_t j = 0; j < nbatch; j++) {
                const int64_t to = (j * ns + bb) * HWQ_NCP, ao = (g * nbatch + j) * HWQ_L * HWQ_GL;
                for (int i = 0; i < HWQ_GL; i++) {
                    const uint32_t r = HWQ_CBY == 1 ? rec[i] : (uint32_t)rec[2 * i] | ((uint32_t)rec[2 * i + 1] << 8);
                    if (is_float)
                        ((float *)acc)[ao + tl[i] * HWQ_GL + i] += ((const float *)tab)[to + r];
                    else
                        ((int32_t *)acc)[ao + tl[i] * HWQ_GL + i] += ((const int32_t *)tab)[to + r];
                }
            }
        }
    }
}

#if HWQ_X86
#include "hwq_simd_x86.h"
#endif

/* Workspace of the calling thread (tables, partial sums), kept between calls: allocating and faulting
 * in fresh pages on every call cost more than the GEMV itself.  Freed by <name>_release_workspace. */
static __thread char *hwq_ws = NULL;
static __thread size_t hwq_ws_size = 0;

static void *hwq_workspace(size_t n)
{
    if (n > hwq_ws_size) {
        free(hwq_ws);
        hwq_ws = (char *)malloc(n);
        hwq_ws_size = hwq_ws ? n : 0;
    }
    return hwq_ws;
}

typedef struct {
    int kind;
    const uint8_t *packed;
    const void *act;
    const uint8_t *tx;
    int64_t k, m, nbatch;
    void *out; /* int64 acc (M, B) or float acc (M, B) */
    int nthreads;
} hwq_tile_job;

/* acc64[m * B + j] += sum_t mult_t * acc32[t] (int) or beta_t * acc32[t] (float); then acc32 = 0. */
static void hwq_flush(int is_float, void *acc32, void *acc64, int64_t m, int64_t nbatch)
{
    for (int64_t mm = 0; mm < m; mm++) {
        const int64_t g = mm / HWQ_GL, i = mm % HWQ_GL;
        for (int64_t j = 0; j < nbatch; j++) {
            const int64_t ao = (g * nbatch + j) * HWQ_L * HWQ_GL + i;
            if (is_float) {
                float *a = (float *)acc32, s = 0.0f;
                for (int t = 0; t < HWQ_L; t++) {
                    s += (float)hwq_betas[t] * a[ao + t * HWQ_GL];
                    a[ao + t * HWQ_GL] = 0.0f;
                }
                ((float *)acc64)[mm * nbatch + j] += s;
            } else {
                int32_t *a = (int32_t *)acc32;
                int64_t s = 0;
                for (int t = 0; t < HWQ_L; t++) {
                    s += (int64_t)hwq_mults[t] * (int64_t)a[ao + t * HWQ_GL];
                    a[ao + t * HWQ_GL] = 0;
                }
                ((int64_t *)acc64)[mm * nbatch + j] += s;
            }
        }
    }
}

/* Runs a GEMV over the kernel layout.  Threads split the block tiles (each streams a contiguous part
 * of the layout and builds only its own tables); per-thread int32 partial sums per (column, ladder
 * index) are flushed into int64 at most every flush_blocks blocks, where
 * flush_blocks * max|table entry| <= 2^31 - 1, so no int32 lane can overflow. */
static int hwq_run_packed(const hwq_tile_job *jb)
{
    const int64_t nb = jb->k / HWQ_D, ng = hwq_ngroups(jb->m), ntiles = (nb + HWQ_BT - 1) / HWQ_BT;
    const int64_t nbatch = jb->nbatch, sub = hwq_sub_blocks(nbatch);
    const int is_float = jb->kind == HWQ_T_FAST;
    const int64_t flush_blocks = jb->kind == HWQ_T_LUT ? HWQ_FLUSH_BLOCKS_LUT : HWQ_FLUSH_BLOCKS;
    int nt = jb->nthreads < 1 ? 1 : jb->nthreads;
#ifndef _OPENMP
    nt = 1;
#endif
    if (nt > ntiles)
        nt = (int)ntiles;
    const int isa = hwq_isa();
    const size_t tab_b = (size_t)(nbatch * sub) * (HWQ_NCP * 4u + 768u);
    const size_t acc_b = (size_t)(ng * nbatch * HWQ_L * HWQ_GL) * 4u;
    const size_t out_b = (size_t)(jb->m * nbatch) * 8u;
    const size_t per = (tab_b + acc_b + out_b + 63u) / 64u * 64u;
    char *bufs = (char *)hwq_workspace(per * (size_t)nt + (size_t)(HWQ_D * HWQ_NCP) * 4u);
    if (!bufs)
        return HWQ_E_ALLOC;
    for (int th = 0; th < nt; th++)
        memset(bufs + per * (size_t)th + tab_b, 0, acc_b + out_b);
    int32_t *cbt = (int32_t *)(void *)(bufs + per * (size_t)nt);
    for (int i = 0; i < HWQ_D; i++)
        for (int64_t r = 0; r < HWQ_NC; r++)
            cbt[i * HWQ_NCP + r] = (int32_t)hwq_codebook[r * HWQ_D + i];
    HWQ_PRAGMA(omp parallel num_threads(nt))
    {
        int tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        char *mine = bufs + per * (size_t)tid;
        void *tab = mine, *acc32 = mine + tab_b, *acc64 = mine + tab_b + acc_b;
        const int64_t i0 = ntiles * tid / nth, i1 = ntiles * (tid + 1) / nth;
        int64_t since = 0;
        for (int64_t ti = i0; ti < i1; ti++) {
            const int64_t b0 = ti * HWQ_BT, nbt = nb - b0 < HWQ_BT ? nb - b0 : HWQ_BT;
            const uint8_t *tile = jb->packed + b0 * ng * HWQ_REC;
            for (int64_t s0 = 0; s0 < nbt; s0 += sub) {
                const int64_t ns = nbt - s0 < sub ? nbt - s0 : sub;
                if (since + ns > flush_blocks) {
                    hwq_flush(is_float, acc32, acc64, jb->m, nbatch);
                    since = 0;
                }
#if HWQ_VBMI
                if (isa >= HWQ_ISA_VBMI && (jb->kind == HWQ_T_WO ? HWQ_VBMI_WO : jb->kind == HWQ_T_LUT && HWQ_VBMI_LUT)) {
                    uint8_t *pl = (uint8_t *)tab + (size_t)(nbatch * sub * HWQ_NCP) * 4u;
                    hwq_build_planes_vbmi(jb->kind, tab, cbt, jb->act, jb->tx, jb->k, nbatch, b0 + s0, ns, pl);
                    hwq_groups_vbmi(tile, ng, nbt, s0, ns, pl, nbatch, (int32_t *)acc32);
                    since += ns;
                    continue;
                }
#endif
#if HWQ_X86
                if (isa >= HWQ_ISA_AVX512)
                    hwq_build_tables_avx512(jb->kind, tab, cbt, jb->act, jb->tx, jb->k, nbatch, b0 + s0, ns);
                else
#endif
                    hwq_build_tables(jb->kind, tab, cbt, jb->act, jb->tx, jb->k, nbatch, b0 + s0, ns);
#if HWQ_X86
                if (isa >= HWQ_ISA_AVX2)
                    hwq_groups_simd(isa, is_float, tile, ng, nbt, s0, ns, tab, nbatch, acc32);
                else
#endif
                    hwq_groups_scalar(is_float, tile, ng, nbt, s0, ns, tab, nbatch, acc32);
                since += ns;
            }
        }
        hwq_flush(is_float, acc32, acc64, jb->m, nbatch);
    }
    (void)isa;
    const int64_t n = jb->m * nbatch;
    for (int th = 0; th < nt; th++) {
        const void *a = bufs + per * (size_t)th + tab_b + acc_b;
        for (int64_t i = 0; i < n; i++) {
            if (is_float)
                ((float *)jb->out)[i] += ((const float *)a)[i];
            else
                ((int64_t *)jb->out)[i] += ((const int64_t *)a)[i];
        }
    }
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

/* 0: auto (best available), 1: scalar, 2: AVX2, 3: AVX-512 (gathers), 4: AVX-512 VBMI (byte-plane lookups
 * in the integer kernels, gathers in the fast mode). Returns the ISA in use or -1 if unsupported. */
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

/* Frees the workspace the table-path kernels keep for the calling thread (it is regrown on demand). */
void HWQ_SYM(release_workspace)(void)
{
#if HWQ_TABLE_PATH || HWQ_LUT_TABLE_PATH
    free(hwq_ws);
    hwq_ws = NULL;
    hwq_ws_size = 0;
#endif
}

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

/* Bytes of the kernel layout of a (K, M) matrix; 0 when this config has no table path (then the
 * *_packed entry points return HWQ_E_LAYOUT and the container entry points are the ones to call). */
int64_t HWQ_SYM(packed_bytes)(int64_t k, int64_t m)
{
#if HWQ_TABLE_PATH
    if (k < 1 || m < 1 || k % HWQ_D)
        return 0;
    return hwq_packed_size(k / HWQ_D, m);
#else
    (void)k;
    (void)m;
    return 0;
#endif
}

/* One-time repack of the container (codes, ladder) into the kernel layout (packed_bytes(k, m) bytes). */
int HWQ_SYM(pack)(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, uint8_t *packed)
{
    int e = hwq_check_shape(k, m, 1);
    if (e)
        return e;
#if HWQ_TABLE_PATH
    hwq_pack(codes, ladder, k, m, packed);
    return HWQ_OK;
#else
    (void)codes;
    (void)ladder;
    (void)packed;
    return HWQ_E_LAYOUT;
#endif
}

/* Weights of one call: the kernel layout if given, else the container (repacked on the fly on the
 * table path: correct, but it costs a pass over the weights; call pack once instead). */
typedef struct {
    const uint8_t *codes, *ladder, *packed;
} hwq_weights;

static int hwq_wo_acc_w(hwq_weights w, int64_t k, int64_t m, const int32_t *xr, int64_t nbatch, int64_t *acc,
                        int nthreads)
{
    int e = hwq_check_shape(k, m, nbatch);
    if (e)
        return e;
    for (int64_t i = 0; i < k * nbatch; i++)
        if (xr[i] > (int32_t)HWQ_ACT_MAX * HWQ_H || xr[i] < -(int32_t)HWQ_ACT_MAX * HWQ_H)
            return HWQ_E_RANGE;
    memset(acc, 0, (size_t)(m * nbatch) * sizeof(int64_t));
#if HWQ_TABLE_PATH
    uint8_t *tmp = NULL;
    if (!w.packed) {
        tmp = (uint8_t *)malloc((size_t)hwq_packed_size(k / HWQ_D, m));
        if (!tmp)
            return HWQ_E_ALLOC;
        hwq_pack(w.codes, w.ladder, k, m, tmp);
        w.packed = tmp;
    }
    hwq_tile_job jb = {HWQ_T_WO, w.packed, xr, NULL, k, m, nbatch, acc, nthreads};
    e = hwq_run_packed(&jb);
    free(tmp);
    return e;
#else
    if (!w.codes)
        return HWQ_E_LAYOUT;
    hwq_direct_wo(w.codes, w.ladder, k, m, xr, nbatch, acc, nthreads);
    return HWQ_OK;
#endif
}

static int hwq_lut_acc_w(hwq_weights w, int64_t k, int64_t m, const int32_t *rx, const uint8_t *tx, int64_t nbatch,
                         int64_t *acc, int nthreads)
{
    int e = hwq_check_shape(k, m, nbatch);
    if (e)
        return e;
    for (int64_t i = 0; i < (k / HWQ_D) * nbatch; i++)
        if (rx[i] < 0 || (int64_t)rx[i] >= (int64_t)HWQ_NC || tx[i] >= HWQ_L)
            return HWQ_E_RANGE;
    memset(acc, 0, (size_t)(m * nbatch) * sizeof(int64_t));
#if HWQ_LUT_TABLE_PATH
    uint8_t *tmp = NULL;
    if (!w.packed) {
        tmp = (uint8_t *)malloc((size_t)hwq_packed_size(k / HWQ_D, m));
        if (!tmp)
            return HWQ_E_ALLOC;
        hwq_pack(w.codes, w.ladder, k, m, tmp);
        w.packed = tmp;
    }
    hwq_tile_job jb = {HWQ_T_LUT, w.packed, rx, tx, k, m, nbatch, acc, nthreads};
    e = hwq_run_packed(&jb);
    free(tmp);
    return e;
#else
    if (!w.codes)
        return HWQ_E_LAYOUT;
    return hwq_direct_lut(w.codes, w.ladder, k, m, rx, tx, nbatch, acc, nthreads);
#endif
}

static int hwq_gemv_exact_w(hwq_weights w, const float *norms, int64_t k, int64_t m, const double *x,
                            int64_t nbatch, double *y, int64_t *acc, int nthreads)
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
    e = hwq_wo_acc_w(w, k, m, xr, nbatch, acc, nthreads);
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

static int hwq_gemv_fast_w(hwq_weights w, const float *norms, int64_t k, int64_t m, const float *x, int64_t nbatch,
                           float *y, int nthreads)
{
    int e = hwq_check_shape(k, m, nbatch);
    if (e)
        return e;
#if !HWQ_TABLE_PATH
    if (!w.codes)
        return HWQ_E_LAYOUT;
#endif
    float *xr = (float *)malloc((size_t)(k * nbatch) * sizeof(float));
    uint8_t *tmp = NULL;
    if (!xr)
        return HWQ_E_ALLOC;
    hwq_rotate_f32(x, k, nbatch, xr);
    memset(y, 0, (size_t)(m * nbatch) * sizeof(float));
#if HWQ_TABLE_PATH
    if (!w.packed) {
        tmp = (uint8_t *)malloc((size_t)hwq_packed_size(k / HWQ_D, m));
        if (!tmp) {
            free(xr);
            return HWQ_E_ALLOC;
        }
        hwq_pack(w.codes, w.ladder, k, m, tmp);
        w.packed = tmp;
    }
    hwq_tile_job jb = {HWQ_T_FAST, w.packed, xr, NULL, k, m, nbatch, y, nthreads};
    e = hwq_run_packed(&jb);
#else
    hwq_direct_fast(w.codes, w.ladder, k, m, xr, nbatch, y, nthreads);
#endif
    const float inv = (float)(1.0 / sqrt((double)k));
    for (int64_t mm = 0; mm < m; mm++)
        for (int64_t j = 0; j < nbatch; j++)
            y[mm * nbatch + j] *= norms[mm] * inv;
    free(tmp);
    free(xr);
    return e;
}

/* Weight-only integer accumulators acc (M, B) from rotated int activations xr (B, K). */
int HWQ_SYM(wo_acc)(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, const int32_t *xr,
                    int64_t nbatch, int64_t *acc, int nthreads)
{
    hwq_weights w = {codes, ladder, NULL};
    return hwq_wo_acc_w(w, k, m, xr, nbatch, acc, nthreads);
}

int HWQ_SYM(wo_acc_packed)(const uint8_t *packed, int64_t k, int64_t m, const int32_t *xr, int64_t nbatch,
                           int64_t *acc, int nthreads)
{
    hwq_weights w = {NULL, NULL, packed};
    return hwq_wo_acc_w(w, k, m, xr, nbatch, acc, nthreads);
}

/* Both-quantized accumulators acc2 (M, B) from activation codes rx (B, nb) int32 and tx (B, nb) uint8. */
int HWQ_SYM(lut_acc)(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, const int32_t *rx,
                     const uint8_t *tx, int64_t nbatch, int64_t *acc, int nthreads)
{
    hwq_weights w = {codes, ladder, NULL};
    return hwq_lut_acc_w(w, k, m, rx, tx, nbatch, acc, nthreads);
}

int HWQ_SYM(lut_acc_packed)(const uint8_t *packed, int64_t k, int64_t m, const int32_t *rx, const uint8_t *tx,
                            int64_t nbatch, int64_t *acc, int nthreads)
{
    hwq_weights w = {NULL, NULL, packed};
    return hwq_lut_acc_w(w, k, m, rx, tx, nbatch, acc, nthreads);
}

/* Exact weight-only GEMV/GEMM: float64 activations x (B, K) -> y (M, B) float64, acc (M, B) int64.
 * y[m, j] = ((double(acc) * wscale[m]) * s_x[j]) * rot_gain, exactly the order of hwq.datapath. */
int HWQ_SYM(gemv_exact)(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k, int64_t m,
                        const double *x, int64_t nbatch, double *y, int64_t *acc, int nthreads)
{
    hwq_weights w = {codes, ladder, NULL};
    return hwq_gemv_exact_w(w, norms, k, m, x, nbatch, y, acc, nthreads);
}

int HWQ_SYM(gemv_exact_packed)(const uint8_t *packed, const float *norms, int64_t k, int64_t m, const double *x,
                               int64_t nbatch, double *y, int64_t *acc, int nthreads)
{
    hwq_weights w = {NULL, NULL, packed};
    return hwq_gemv_exact_w(w, norms, k, m, x, nbatch, y, acc, nthreads);
}

/* Fast mode: fp32 activations x (B, K), float rotation, fp32 accumulation -> y (M, B) fp32. */
int HWQ_SYM(gemv_fast)(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k, int64_t m,
                       const float *x, int64_t nbatch, float *y, int nthreads)
{
    hwq_weights w = {codes, ladder, NULL};
    return hwq_gemv_fast_w(w, norms, k, m, x, nbatch, y, nthreads);
}

int HWQ_SYM(gemv_fast_packed)(const uint8_t *packed, const float *norms, int64_t k, int64_t m, const float *x,
                              int64_t nbatch, float *y, int nthreads)
{
    hwq_weights w = {NULL, NULL, packed};
    return hwq_gemv_fast_w(w, norms, k, m, x, nbatch, y, nthreads);
}

/* ---------------------------------------------------------------------------------------------- */
/* benchmark baselines (same library, same threads): memory stream and a plain int8 GEMV           */
/* ---------------------------------------------------------------------------------------------- */

/* XOR of all 8-byte words of buf (n bytes, tail ignored): reads every byte once, memory-bound. */
int64_t HWQ_SYM(stream_read)(const uint8_t *buf, int64_t n, int nthreads)
{
    const int64_t nw = n / 8;
    uint64_t x = 0;
    (void)nthreads;
    HWQ_PRAGMA(omp parallel for num_threads(nthreads) schedule(static) reduction(^ : x))
    for (int64_t i = 0; i < nw; i++) {
        uint64_t v;
        memcpy(&v, buf + 8 * i, 8);
        x ^= v;
    }
    return (int64_t)(x & 0x7FFFFFFFFFFFFFFFull);
}

#define HWQ_INT8_GEMV_BODY                                                                                 \
    for (int64_t mm = 0; mm < m; mm++)                                                                     \
        for (int64_t j = 0; j < nbatch; j++) {                                                             \
            const int8_t *wr = w + mm * k, *xr = x + j * k;                                                \
            int32_t s = 0;                                                                                 \
            for (int64_t i = 0; i < k; i++)                                                                \
                s += (int32_t)wr[i] * (int32_t)xr[i];                                                      \
            y[mm * nbatch + j] = s;                                                                        \
        }

static void hwq_int8_part(const int8_t *w, const int8_t *x, int64_t k, int64_t m, int64_t nbatch, int32_t *y)
{
    HWQ_INT8_GEMV_BODY
}

#if HWQ_X86
__attribute__((target("avx2,avx512f,avx512bw"))) static void hwq_int8_part_avx512(const int8_t *w, const int8_t *x,
                                                                                 int64_t k, int64_t m,
                                                                                 int64_t nbatch, int32_t *y)
{
    HWQ_INT8_GEMV_BODY
}

__attribute__((target("avx2"))) static void hwq_int8_part_avx2(const int8_t *w, const int8_t *x, int64_t k,
                                                               int64_t m, int64_t nbatch, int32_t *y)
{
    HWQ_INT8_GEMV_BODY
}
#endif

/* y (M, B) int32 = W (M, K) int8 x X^T, X (B, K) int8: a dense int8 weight-only GEMV (8 bits/entry). */
int HWQ_SYM(int8_gemv)(const int8_t *w, const int8_t *x, int64_t k, int64_t m, int64_t nbatch, int32_t *y,
                       int nthreads)
{
    if (k < 1 || m < 1 || nbatch < 1 || k > 16777216)
        return HWQ_E_ARGS;
    const int isa = hwq_isa();
    int nt = nthreads < 1 ? 1 : nthreads;
    (void)isa;
    HWQ_PRAGMA(omp parallel num_threads(nt))
    {
        int tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        const int64_t m0 = m * tid / nth, m1 = m * (tid + 1) / nth;
#if HWQ_X86
        if (isa >= HWQ_ISA_AVX512)
            hwq_int8_part_avx512(w + m0 * k, x, k, m1 - m0, nbatch, y + m0 * nbatch);
        else if (isa >= HWQ_ISA_AVX2)
            hwq_int8_part_avx2(w + m0 * k, x, k, m1 - m0, nbatch, y + m0 * nbatch);
        else
#endif
            hwq_int8_part(w + m0 * k, x, k, m1 - m0, nbatch, y + m0 * nbatch);
    }
    return HWQ_OK;
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
