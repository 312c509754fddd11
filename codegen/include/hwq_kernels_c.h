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
 * Table path (decoder ROM, L * NC <= 4096): the weights are repacked once into the kernel layout
 * (64 columns per record, 32-block tiles; see hwq_table_c.h).  A GEMV walks it front to back: it
 * builds the tables P_j[b][r] = <c_r, x_b> (exact int32, |P| <= dot_bound) of a tile (L1-sized), then
 * for every group of 64 columns and every block looks the 64 codes up (vpermi2b byte planes on AVX-512
 * VBMI, gathers on AVX2/AVX-512, scalar otherwise).  The usual case (VBMI + VNNI, entries within
 * int16, ladder m_{t+2} = 2 m_t) multiplies each entry by its column's m_T / gcd(m_0, m_1) in one
 * vpdpwssd per 16 columns and empties the int32 sums into int64 after every tile (hwq_groups_vnni);
 * the other loops add each entry into the int32 partial sum of its (column, ladder index t) (or of
 * ladder-bit subsets, or two slots when m_{t+2} = 2 m_t), flushed into int64 as sum_t m_t * S_t at
 * least every floor((2^31 - 1) / bound) blocks.  No int32 can overflow and the result equals the
 * int64 reference exactly.  From HWQ_DEC_MIN_BATCH vectors on (VBMI + VNNI) the decode-then-dot loop
 * (hwq_groups_dec) replaces the lookups.  Threads: a persistent pool (hwq_pool_run, hwq_pool_c.h) whose
 * workers claim (tile, column-group chunk) items one at a time; the caller waits only for claimed items.
 * The passes around the loops (activation abs-max, partial-output sums, output scaling) are one AVX-512
 * pass each (hwq_glue_x86.h), with scalar twins.
 * Direct path (E8 arithmetic decode, large codebooks): exact GEMV decodes 16 blocks at a time in
 * vectorised int32 lanes (hwq_direct_c.h) where the config's bounds allow, else each codeword in int64;
 * fast mode and the LUT kernel decode each codeword.
 */
#ifndef HWQ_KERNELS_C_H
#define HWQ_KERNELS_C_H

#include <math.h>
#include <pthread.h>
#include <sched.h>
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

/* HWQ_OK, HWQ_E_* and HWQ_ISA_* come from the generated <name>.h (the table in hwq.codegen.c_abi) */

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

#include "hwq_decode.h"
#include "hwq_glue_x86.h"

static inline void hwq_decode(uint64_t r, int64_t *c)
{
#if HWQ_ROM
    for (int i = 0; i < HWQ_D; i++)
        c[i] = hwq_codebook[r * HWQ_D + (uint64_t)i];
#else
    hwq_arith_decode(r, c);
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

#include "hwq_codes_check.h"

/* Every weight code < NC and every ladder index < L: checked once where container arrays enter C
 * (the container entry points, pack, dequantize), so that no kernel ever reads a codebook, table or
 * multiplier row beyond its end (and no corrupt matrix gives a silent wrong answer).  Nothing to check
 * when every bit pattern of the fields is valid (NC = 2^code_bits, L = 2^ladder_bits). */
static int hwq_check_codes(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m)
{
    const int64_t nb = k / HWQ_D, cs = hwq_cstride(nb), ls = hwq_lstride(nb);
    if ((uint64_t)HWQ_NC != ((uint64_t)1 << HWQ_CB)) {
        int bad = 0;
        for (int64_t mm = 0; mm < m; mm++) {
            const uint8_t *crow = codes + mm * cs;
#if HWQ_CB == 8 && HWQ_NC < 256
            for (int64_t b = 0; b < nb; b++)
                bad |= crow[b] >= HWQ_NC;
#else
            bad |= hwq_codes_bad(crow, nb, cs); /* hwq_codes_check.h */
#endif
        }
        if (bad)
            return HWQ_E_CODES;
    }
    if (HWQ_L != (1 << HWQ_LB)) {
        for (int64_t mm = 0; mm < m; mm++)
            for (int64_t b = 0; b < nb; b++)
                if (hwq_t_at(ladder + mm * ls, b) >= (uint32_t)HWQ_L)
                    return HWQ_E_CODES;
    }
    return HWQ_OK;
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
/* table path (hwq_table_c.h) and baselines of the benchmark (hwq_baselines_c.h)                    */
/* ---------------------------------------------------------------------------------------------- */
#include "hwq_table_c.h"


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

#include "hwq_direct_c.h"

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

/* The loop the last table-path GEMV of this process ran (HWQ_KERNEL_*; HWQ_KERNEL_NONE before any). */
int HWQ_SYM(last_kernel)(void)
{
#if HWQ_TABLE_PATH || HWQ_LUT_TABLE_PATH
    return hwq_last_kernel;
#else
    return HWQ_KERNEL_NONE;
#endif
}

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
    if (!e)
        e = hwq_check_codes(codes, ladder, k, m);
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
    if (!e && w.codes && !hwq_direct_checks_codes()) /* else the decode checks the codes (hwq_direct_c.h) */
        e = hwq_check_codes(w.codes, w.ladder, k, m);
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
    return hwq_direct_wo_fast(w.codes, w.ladder, k, m, xr, nbatch, acc, nthreads);
#endif
}

#if HWQ_LUT_TABLE_PATH
/* The LUT kernel at batch >= HWQ_AVX2_DEC_MIN_BATCH (D_n configs: every batch) on AVX2 CPUs:
 * LUT[r_x, r] = <c_{r_x}, c_r> (SPEC: the pairwise table holds the codewords' inner products, exact integers;
 * coordinate scale 1), so
 *   sum_b m_Tw m_Tx LUT[r_x, r_w] = mdiv * sum_b m_Tw <c_{r_w}, x'_b>,  x'_b = (m_Tx / mdiv) c_{r_x},
 * the weight-only product on the activations' decoded codewords, where the decode-then-dot loop
 * (hwq_groups_avx2d, or hwq_groups_dn) reads each weight record once for all vectors instead of building a
 * table per vector.
 * Returns x' (B, K) int32, or NULL where this does not apply (another ISA or batch, a coordinate scale other
 * than 1, |x'| beyond the weight-only activation bound ACT_MAX * H, no memory): then the LUT tables serve. */
static int32_t *hwq_lut_as_acts(const int32_t *rx, const uint8_t *tx, int64_t k, int64_t nbatch)
{
#if (HWQ_AVX2W && HWQ_AVX2D) || HWQ_AVX2DN
    /* the D_n decode loop (hwq_avx2_dn.h) from one vector on, else the gather decode loop */
    int64_t min_batch = 0; /* 0: neither loop */
#if HWQ_AVX2DN
    if (HWQ_USE_AVX2DN)
        min_batch = 1;
#endif
#if HWQ_AVX2W && HWQ_AVX2D
    if (!min_batch && HWQ_USE_AVX2W)
        min_batch = HWQ_AVX2_DEC_MIN_BATCH;
#endif
    if (!min_batch || HWQ_CS != 1 || hwq_isa() != HWQ_ISA_AVX2 || nbatch < min_batch)
        return NULL;
    const int64_t g = hwq_mults_gcd(), nb = k / HWQ_D;
    const int64_t cwmax = hwq_cb_absmax();
    int64_t fmax = 0;
    for (int t = 0; t < HWQ_L; t++)
        fmax = hwq_mults[t] / g > fmax ? hwq_mults[t] / g : fmax;
    if (cwmax * fmax > (int64_t)HWQ_ACT_MAX * HWQ_H)
        return NULL;
#if !(HWQ_AVX2W && HWQ_AVX2D)
    /* without the gather loops (2-byte codes) only the D_n loop, whose int16 bound x' must meet */
    if (hwq_cb_sumc() * cwmax * fmax > 32767)
        return NULL;
#endif
    int32_t *xd = (int32_t *)malloc((size_t)(nbatch * k) * sizeof(int32_t));
    if (!xd)
        return NULL;
    for (int64_t j = 0; j < nbatch; j++)
        for (int64_t b = 0; b < nb; b++) {
            const int32_t f = (int32_t)(hwq_mults[tx[j * nb + b]] / g);
            const int64_t r = rx[j * nb + b];
            for (int i = 0; i < HWQ_D; i++)
                xd[j * k + b * HWQ_D + i] = f * (int32_t)hwq_codebook[r * HWQ_D + i];
        }
    return xd;
#else
    (void)rx;
    (void)tx;
    (void)k;
    (void)nbatch;
    return NULL;
#endif
}
#endif

static int hwq_lut_acc_w(hwq_weights w, int64_t k, int64_t m, const int32_t *rx, const uint8_t *tx, int64_t nbatch,
                         int64_t *acc, int nthreads)
{
    int e = hwq_check_shape(k, m, nbatch);
    if (!e && w.codes)
        e = hwq_check_codes(w.codes, w.ladder, k, m);
    if (e)
        return e;
    /* HWQ_NC (= q^d) may exceed int32: compare through a variable so the check stays (and compiles with
       -Wtype-limits) for every q */
    const int64_t nc = (int64_t)HWQ_NC;
    for (int64_t i = 0; i < (k / HWQ_D) * nbatch; i++)
        if (rx[i] < 0 || (int64_t)rx[i] >= nc || tx[i] >= HWQ_L)
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
    int32_t *xd = hwq_lut_as_acts(rx, tx, k, nbatch);
    if (xd) { /* the weight-only loops on activations f_T c_r (hwq_lut_as_acts), then the factor mdiv */
        hwq_tile_job jb = {HWQ_T_WO, w.packed, xd, NULL, k, m, nbatch, acc, nthreads};
        e = hwq_run_packed(&jb);
        const int64_t mdiv = hwq_mults_gcd();
        for (int64_t i = 0; i < m * nbatch && !e && mdiv != 1; i++)
            acc[i] *= mdiv;
        free(xd);
    } else {
        hwq_tile_job jb = {HWQ_T_LUT, w.packed, rx, tx, k, m, nbatch, acc, nthreads};
        e = hwq_run_packed(&jb);
    }
    free(tmp);
    return e;
#else
    if (!w.codes)
        return HWQ_E_LAYOUT;
    return hwq_direct_lut(w.codes, w.ladder, k, m, rx, tx, nbatch, acc, nthreads);
#endif
}

#if HWQ_X86
#include "hwq_acts_x86.h"
#endif

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
#if HWQ_X86
    if (HWQ_H % 16 == 0 && hwq_isa() >= HWQ_ISA_AVX512) /* bit-equal, one vector pass */
        hwq_acts_avx512(x, k, nbatch, xr, sx);
    else
#endif
    {
        hwq_quantize(x, k, nbatch, xi, sx);
        hwq_rotate(xi, k, nbatch, xr);
    }
    e = hwq_wo_acc_w(w, k, m, xr, nbatch, acc, nthreads);
    if (!e) {
        const double cst = HWQ_BETA0 / ((double)((int64_t)(1 << HWQ_FRAC_BITS) * HWQ_CS) * sqrt((double)k));
        hwq_scale_out(acc, norms, cst, sx, 1.0 / sqrt((double)HWQ_H), m, nbatch, y);
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
    if (!e && w.codes)
        e = hwq_check_codes(w.codes, w.ladder, k, m);
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

#include "hwq_baselines_c.h"

/* Dequantize: out (M, K) fp32, row m = column m of W (original, unrotated domain). */
int HWQ_SYM(dequantize)(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k, int64_t m,
                        float *out)
{
    int e = hwq_check_shape(k, m, 1);
    if (!e)
        e = hwq_check_codes(codes, ladder, k, m);
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
