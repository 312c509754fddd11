/*
 * hwq_table_c.h -- table path of the C kernels: the kernel layout (one-time repack), per-block tables
 * and the block-major GEMV driver (included by hwq_kernels_c.h; the SIMD group loops are in
 * hwq_simd_x86.h).
 */
#ifndef HWQ_TABLE_C_H
#define HWQ_TABLE_C_H
/* ---------------------------------------------------------------------------------------------- */
/* table path: kernel layout (one-time repack) and block-major GEMV over column groups               */
/* ---------------------------------------------------------------------------------------------- */
#if HWQ_TABLE_PATH || HWQ_LUT_TABLE_PATH

#if !HWQ_HAVE_CODEBOOK
#error "the table path needs the rendered codebook"
#endif

/*
 * Kernel layout (hwq_pack, done once per weight matrix, like Marlin's repack).  Columns are taken in
 * groups of HWQ_GL = 64 (the last group padded with code 0, T 0); blocks in tiles of HWQ_BT (32 by
 * default: the tables of a tile fit L1; threads take tiles, or split the column groups when there are
 * fewer tiles than threads).  One
 * record holds block b of the 64 columns of group g:
 *     64 codes (1 byte each if code_bits <= 8, at byte hwq_col_pos(i) for column i of the group; else
 *     2 bytes little-endian at 2i)
 *     the ladder indices T: for 2 ladder bits (HWQ_TPACK) 2-bit fields, T of column i at bits 2i, 2i + 1
 *     of the 16 bytes (little-endian; dword S holds columns 16 S .. 16 S + 15), else HWQ_LB bit planes
 *     (uint64 little-endian; bit i of plane p = bit p of T of column 64g + i)
 * so a record is 64 * code_bits/8 + 8 * ladder_bits bytes: the same bits as the container for
 * code_bits 8 (D3 q=6: 80 bytes per 64 blocks).  Records are stored tile by tile, inside a tile group
 * by group, inside a group block by block: a GEMV reads the whole layout once, front to back.
 * hwq_col_pos puts column i = 16 S + 4 L + s (S, L, s in 0..3) at byte 16 L + 8 (S >> 1) + 2 s + (S & 1):
 * after the in-lane byte unpacks of the VBMI loop (unpack{lo,hi}_epi8 of the low and high byte planes),
 * column 16 S + l is the even (S even) or odd (S odd) int16 word of int32 lane l of the lo (S < 2) or hi
 * (S >= 2) word vector, so the ladder bits 16 S .. 16 S + 15 of a record are the lane mask of set S (no
 * cross-lane byte permute).
 */
#define HWQ_GL 64
/* Blocks per layout tile: the tables of one tile of one activation vector take half of L1 (32 blocks x
 * 768 B of byte planes = 24 KiB on the byte-plane path; 8-32 blocks measured 1.2-1.4x faster than 64 at
 * 4096x14336 batch 1 on the 2-core Zen 5 VM), and a tile (all column groups) is one contiguous stretch
 * of the layout, so the GEMV streams it front to back once per tile. */
#ifndef HWQ_BT
#define HWQ_BT 32
#endif

#define HWQ_CBY (HWQ_CB <= 8 ? 1 : 2)
#define HWQ_TPACK (HWQ_LB == 2)
#define HWQ_REC (HWQ_GL * HWQ_CBY + 8 * HWQ_LB)
/* table row stride: every value a code field can hold (2^code_bits) has a row, so even a corrupted
 * layout cannot make a lookup read outside its table (rows >= NC are never filled by a valid matrix) */
#define HWQ_NCP ((1 << HWQ_CB) > 16 ? (1 << HWQ_CB) : 16)

/* Byte position of column i (0..63) of a group inside a record of 1-byte codes. */
static inline int hwq_col_pos(int i)
{
    const int S = i >> 4, L = (i >> 2) & 3, s = i & 3;
    return L << 4 | (S >> 1) << 3 | s << 1 | (S & 1);
}
/* partial-sum slots per (column, activation vector): one per ladder index, or per subset of ladder bits */
#define HWQ_NSLOT (1 << HWQ_LB)
/* byte-plane (vpermi2b) lookups: codes of at most 8 bits, table entries within +-2^23 */
#define HWQ_VBMI (HWQ_X86 && HWQ_CB <= 8)
/* fast mode on the byte-plane path: float table entries rounded to fixed point, |entry| <= 2^HWQ_FIX_BITS
 * (+ rounding), int32 partial sums flushed every HWQ_FLUSH_BLOCKS_FIX blocks */
#define HWQ_FIX_BITS 22
#ifndef HWQ_FLUSH_BLOCKS_FIX
#define HWQ_FLUSH_BLOCKS_FIX ((int64_t)0x7FFFFFFF / ((1 << HWQ_FIX_BITS) + 64))
#endif

enum { HWQ_T_WO = 0, HWQ_T_LUT = 1, HWQ_T_FAST = 2 };

/* Loop the last table-path call ran (<name>_last_kernel; HWQ_KERNEL_* from hwq.codegen.c_abi). */
static int hwq_last_kernel = HWQ_KERNEL_NONE;

/* Kernel choice by batch (weight-only, AVX-512 VBMI + VNNI): from this many activation vectors on, the
 * decode-then-dot loop (hwq_groups_dec), below it the table lookups (hwq_groups_vnni).  Measured with both
 * loops in one process (-DHWQ_DEC_MIN_BATCH=1000 vs 1), weight-only kernel, one thread, min of 11
 * interleaved rounds, random D3 q=6 codes, K padded to 4224 / 14400; 2-core VM (Intel Xeon, AVX-512 VBMI,
 * VNNI) at load 6.4-7.9 (2026-12-02, after the decode and the first 4 vectors' dot were fused), table vs
 * decode ms:
 *   4096x4096    batch 1: 0.469 vs 0.692   batch 2: 0.745 vs 0.728   batch 3: 1.115 vs 0.867
 *   4096x14336   batch 1: 1.80 vs 2.33     batch 2: 2.60 vs 2.65     batch 3: 4.15 vs 3.04
 *   14336x4096   batch 1: 1.83 vs 2.19     batch 2: 2.55 vs 2.46     batch 3: 7.69 vs 2.85
 * so batch 2 is a tie (0.98-1.04x) and from batch 3 on the decode loop wins (1.29x and more).  (Before the
 * fusion, Zen 5, the crossover lay between 3 and 4.) */
#ifndef HWQ_DEC_MIN_BATCH
#define HWQ_DEC_MIN_BATCH 3
#endif

static inline int64_t hwq_ngroups(int64_t m) { return (m + HWQ_GL - 1) / HWQ_GL; }

static inline int64_t hwq_packed_size(int64_t nb, int64_t m) { return nb * hwq_ngroups(m) * HWQ_REC; }

static inline uint64_t hwq_ld64(const uint8_t *q)
{
    uint64_t w = 0;
    for (int i = 0; i < 8; i++)
        w |= (uint64_t)q[i] << (8 * i);
    return w;
}

static inline uint32_t hwq_ld32(const uint8_t *q)
{
    return (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
}

/* Bits 0, 2, 4, ..., 62 of w -> bits 0..31. */
static inline uint64_t hwq_even_bits(uint64_t w)
{
    w &= 0x5555555555555555ull;
    w = (w | w >> 1) & 0x3333333333333333ull;
    w = (w | w >> 2) & 0x0F0F0F0F0F0F0F0Full;
    w = (w | w >> 4) & 0x00FF00FF00FF00FFull;
    w = (w | w >> 8) & 0x0000FFFF0000FFFFull;
    return (w | w >> 16) & 0xFFFFFFFFull;
}

/* Bit plane p of the ladder indices of a record: bit i = bit p of T of column i. */
static inline uint64_t hwq_plane(const uint8_t *rec, int p)
{
    const uint8_t *q = rec + HWQ_GL * HWQ_CBY;
#if HWQ_TPACK
    return hwq_even_bits(hwq_ld64(q) >> p) | hwq_even_bits(hwq_ld64(q + 8) >> p) << 32;
#else
    return hwq_ld64(q + 8 * p);
#endif
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
                rec[hwq_col_pos((int)i)] = (uint8_t)r;
            } else {
                rec[2 * i] = (uint8_t)(r & 0xFFu);
                rec[2 * i + 1] = (uint8_t)(r >> 8);
            }
#if HWQ_TPACK
            rec[HWQ_GL * HWQ_CBY + i / 4] |= (uint8_t)(t << (2 * (i % 4)));
#else
            for (int p = 0; p < HWQ_LB; p++)
                if ((t >> p) & 1u)
                    rec[HWQ_GL * HWQ_CBY + 8 * p + i / 8] |= (uint8_t)(1u << (i % 8));
#endif
        }
    }
}

/* Blocks per table build: a whole layout tile unless the tables of all activation vectors would exceed
 * the budget: HWQ_TAB_BYTES (about L2) for the byte-plane loop, which loads whole table rows,
 * HWQ_TAB_BYTES_L1 for the gather and scalar loops, whose scattered reads want L1. */
#ifndef HWQ_TAB_BYTES_L1
#define HWQ_TAB_BYTES_L1 (24 * 1024)
#endif
/* byte-plane loop with several activation vectors: the tables of all vectors of a sub-tile stay in L1
 * (64 KiB counted as int32 tables = 32 KiB of the 2-byte planes of the VNNI loop: 16 blocks at batch 4,
 * 8 at batch 8).  With the group-ahead prefetch of hwq_vnni_pass (HWQ_PF_GROUPS, HWQ_PF2) measured
 * 1.0-1.2x faster than 32 KiB without it at batch 4 and 8 (minima, interleaved, loaded 2-core Zen 5 VM) */
#ifndef HWQ_TAB_BYTES_BATCH
#define HWQ_TAB_BYTES_BATCH (64 * 1024)
#endif
static int64_t hwq_sub_blocks(int64_t nbatch, int64_t budget)
{
    int64_t s = budget / (nbatch * HWQ_NCP * 4);
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
                for (int64_t r = 0; r < HWQ_NCP; r++)
                    tab[r] = 0.0f;
                for (int i = 0; i < HWQ_D; i++) {
                    const float xi = xs[i] * (float)(1.0 / HWQ_CS);
                    for (int64_t r = 0; r < HWQ_NCP; r++)
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
                for (int64_t r = HWQ_NC; r < HWQ_NCP; r++)
                    tab[r] = 0;
                continue;
            }
#else
            (void)tx;
            (void)nb;
#endif
            const int32_t *xs = (const int32_t *)act + j * k + b * HWQ_D;
            for (int64_t r = 0; r < HWQ_NCP; r++)
                tab[r] = 0;
            for (int i = 0; i < HWQ_D; i++) {
                const int32_t xi = xs[i];
                for (int64_t r = 0; r < HWQ_NCP; r++)
                    tab[r] += cbt[i * HWQ_NCP + r] * xi;
            }
        }
    }
}

/* Portable group loop: acc32[((g * B + j) * L + t) * 16 + lane] += tab[j][b][code] for lanes of ladder t. */
static void hwq_groups_scalar(int is_float, const uint8_t *tile, int64_t g0, int64_t ng, int64_t nbt, int64_t s0,
                              int64_t ns, const void *tab, int64_t nbatch, void *acc)
{
    for (int64_t g = g0; g < ng; g++) {
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
                const int64_t to = (j * ns + bb) * HWQ_NCP, ao = (g * nbatch + j) * HWQ_NSLOT * HWQ_GL;
                for (int i = 0; i < HWQ_GL; i++) {
                    const uint32_t r = HWQ_CBY == 1 ? rec[hwq_col_pos(i)]
                                                    : ((uint32_t)rec[2 * i] | ((uint32_t)rec[2 * i + 1] << 8))
                                                          & ((1u << HWQ_CB) - 1u);
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
#ifndef HWQ_AVX2W
#define HWQ_AVX2W 0
#endif
#ifndef HWQ_AVX2DN
#define HWQ_AVX2DN 0
#define HWQ_USE_AVX2DN 0
#endif

/* Workspace of the calling thread (tables, partial sums), kept between calls: allocating and faulting
 * in fresh pages on every call cost more than the GEMV itself.  Freed by <name>_release_workspace. */
static __thread char *hwq_ws = NULL;
static __thread size_t hwq_ws_size = 0;

/* 64-byte aligned (hwq_ws is the malloc'd pointer, up to 63 bytes before the workspace): the vector
 * buffers inside it then never straddle cache lines. */
static void *hwq_workspace(size_t n)
{
    if (n + 64u > hwq_ws_size) {
        free(hwq_ws);
        hwq_ws = (char *)malloc(n + 64u);
        hwq_ws_size = hwq_ws ? n + 64u : 0;
    }
    if (!hwq_ws)
        return NULL;
    return hwq_ws + (64u - (size_t)((uintptr_t)hwq_ws % 64u)) % 64u;
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

/* acc64[m * B + j] += sum_u c_u * acc32[u], then acc32 = 0.  Slots u are ladder indices t (subsets = 0)
 * or subsets of ladder bits (subsets = 1: slot u holds the columns whose T contains u), or the two slots
 * of the two-slot ladder (subsets = 2: c_0 = m_0, c_1 = m_1 - m_0; see hwq_groups_vbmi2), with
 *   mode 0 (int):   c_u = m_t, or the Moebius sum_{v in u} (-1)^|u - v| m_v  (exact int64)
 *   mode 1 (float): c_u = beta_t                         (fast mode, float partial sums)
 *   mode 2 (fixed): c_u as mode 0 with beta / scale_j     (fast mode, fixed-point int32 partial sums) */
enum { HWQ_F_INT = 0, HWQ_F_FLOAT = 1, HWQ_F_FIX = 2 };

static void hwq_flush(int mode, int subsets, void *acc32, void *acc64, int64_t m, int64_t nbatch,
                      const double *inv_scale)
{
    int64_t ci[HWQ_NSLOT];
    double cf[HWQ_NSLOT];
    for (int u = 0; u < HWQ_NSLOT; u++) {
        ci[u] = 0;
        cf[u] = 0.0;
        for (int v = 0; v < HWQ_NSLOT; v++) {
            if (subsets ? (v & ~u) != 0 : v != u)
                continue;
            if (v >= HWQ_L)
                continue;
            int odd = 0;
            for (int p = 0; p < HWQ_LB; p++)
                odd ^= ((u ^ v) >> p) & 1;
            ci[u] += odd ? -(int64_t)hwq_mults[v] : (int64_t)hwq_mults[v];
            cf[u] += odd ? -hwq_betas[v] : hwq_betas[v];
        }
    }
    if (subsets == 2) { /* two-slot ladder (hwq_groups_vbmi2): S_0 all columns, S_1 the columns of odd T */
        for (int u = 0; u < HWQ_NSLOT; u++) {
            ci[u] = 0;
            cf[u] = 0.0;
        }
        ci[0] = hwq_mults[0];
        ci[1] = (int64_t)hwq_mults[1] - (int64_t)hwq_mults[0];
        cf[0] = hwq_betas[0];
        cf[1] = hwq_betas[1] - hwq_betas[0];
    }
    for (int64_t mm = 0; mm < m; mm++) {
        const int64_t g = mm / HWQ_GL, i = mm % HWQ_GL;
        for (int64_t j = 0; j < nbatch; j++) {
            const int64_t ao = (g * nbatch + j) * HWQ_NSLOT * HWQ_GL + i;
            if (mode == HWQ_F_FIX) {
                int32_t *a = (int32_t *)acc32;
                double s = 0.0;
                for (int u = 0; u < HWQ_NSLOT; u++) {
                    s += cf[u] * (double)a[ao + u * HWQ_GL];
                    a[ao + u * HWQ_GL] = 0;
                }
                ((float *)acc64)[mm * nbatch + j] += (float)(s * inv_scale[j]);
            } else if (mode == HWQ_F_FLOAT) {
                float *a = (float *)acc32, s = 0.0f;
                for (int u = 0; u < HWQ_NSLOT; u++) {
                    s += (float)cf[u] * a[ao + u * HWQ_GL];
                    a[ao + u * HWQ_GL] = 0.0f;
                }
                ((float *)acc64)[mm * nbatch + j] += s;
            } else {
                int32_t *a = (int32_t *)acc32;
                int64_t s = 0;
                for (int u = 0; u < HWQ_NSLOT; u++) {
                    s += ci[u] * (int64_t)a[ao + u * HWQ_GL];
                    a[ao + u * HWQ_GL] = 0;
                }
                ((int64_t *)acc64)[mm * nbatch + j] += s;
            }
        }
    }
}

/* 1 when the ladder allows two partial-sum slots: L = 4 rungs with m_2 = 2 m_0 and m_3 = 2 m_1 (checked
 * on the rendered multipliers, so another ladder falls back to the four subset slots). */
static int hwq_ladder2(void)
{
#if HWQ_LB == 2 && HWQ_L == 4
    return (int64_t)hwq_mults[2] == 2 * (int64_t)hwq_mults[0] && (int64_t)hwq_mults[3] == 2 * (int64_t)hwq_mults[1]
           && hwq_betas[2] == 2.0 * hwq_betas[0] && hwq_betas[3] == 2.0 * hwq_betas[1];
#else
    return 0;
#endif
}

/* gcd of the ladder multipliers */
static int64_t hwq_mults_gcd(void)
{
    int64_t g = 0;
    for (int t = 0; t < HWQ_L; t++) {
        int64_t a = hwq_mults[t] < 0 ? -(int64_t)hwq_mults[t] : hwq_mults[t], b = g;
        while (b) {
            const int64_t r = a % b;
            a = b;
            b = r;
        }
        g = a;
    }
    return g > 0 ? g : 1;
}

/* max_r sum_i |cw_r,i| (at least 1): |<cw_r, x_b>| <= hwq_cb_sumc() * max|x| */
static inline int64_t hwq_cb_sumc(void)
{
    int64_t sumc = 1;
    for (int64_t r = 0; r < (int64_t)HWQ_NC; r++) {
        int64_t a = 0;
        for (int i = 0; i < HWQ_D; i++)
            a += hwq_codebook[r * HWQ_D + i] < 0 ? -(int64_t)hwq_codebook[r * HWQ_D + i]
                                                 : (int64_t)hwq_codebook[r * HWQ_D + i];
        sumc = a > sumc ? a : sumc;
    }
    return sumc;
}

/* max_{r, i} |cw_r,i| */
static inline int64_t hwq_cb_absmax(void)
{
    int64_t m = 0;
    for (int64_t r = 0; r < (int64_t)HWQ_NC * HWQ_D; r++) {
        const int64_t a = hwq_codebook[r] < 0 ? -(int64_t)hwq_codebook[r] : (int64_t)hwq_codebook[r];
        m = a > m ? a : m;
    }
    return m;
}

/* Everything one GEMV's participants share (hwq_run_packed fills it; hwq_run_part reads it). */
typedef struct {
    const hwq_tile_job *jb;
    int64_t nb, ng, gsplit, nitems, sub, flush_blocks, nbatch;
    int is_float, isa, vbmi, mode, lad2, np, vnni, dec;
    int32_t f0, f1, mdiv;
    size_t tab_b, acc_b, per, dec_xb;
    char *bufs;
    const int16_t *cbt16;
    const int32_t *cbt;
    const double *inv_scale;
    const float *scale;
#if HWQ_VBMI && HWQ_DEC
    const hwq_dec_tabs *dtab;
#endif
    uint64_t gen;  /* pool generation of this job (0: run by the caller alone, next counts the items) */
    int64_t next;  /* next item when run alone */
    int64_t done;  /* items finished, epilogues included (atomic) */
    size_t acc_used, out_b; /* bytes of a participant's partial sums and outputs that it zeroes first */
    unsigned char *used;    /* used[slot]: that participant ran an item (its slot holds results) */
    int avx2w;              /* the AVX2 loop (hwq_run_packed: 1-4) */
    const int64_t *wt16;    /* its decode loop's product table (hwq_avx2d_table), when avx2w == 2 */
    int16_t fx16[8];        /* LUT kernel on avx2w == 1: the activation multipliers m_T / mdiv */
    int64_t omul;           /* avx2w: the epilogue's factor (mdiv; mdiv^2 for the LUT kernel) */
} hwq_run_ctx;

static int64_t hwq_claim(hwq_run_ctx *c);

/* One participant's share of a GEMV: item it (already claimed), then items claimed one at a time until none
 * are left, then its epilogue (int32 sums into its int64 outputs in slot `slot` of the workspace); adds the
 * number of items it ran to c->done. */
static void hwq_run_part(hwq_run_ctx *c, int slot, int64_t it)
{
    const hwq_tile_job *jb = c->jb;
    const int64_t nb = c->nb, ng = c->ng, gsplit = c->gsplit, sub = c->sub, nbatch = c->nbatch;
    const int is_float = c->is_float, isa = c->isa, vbmi = c->vbmi, mode = c->mode, lad2 = c->lad2;
    const int np = c->np;
    const int vnni = c->vnni, dec = c->dec;
    const int64_t flush_blocks = c->flush_blocks;
    const int32_t f0 = c->f0, f1 = c->f1, mdiv = c->mdiv;
    const size_t tab_b = c->tab_b, acc_b = c->acc_b, dec_xb = c->dec_xb;
    const int16_t *cbt16 = c->cbt16;
    const int32_t *cbt = c->cbt;
    const double *inv_scale = c->inv_scale;
    const float *scale = c->scale;
    char *mine = c->bufs + c->per * (size_t)slot;
    /* the caller's slot (0) sums straight into the output, which hwq_run_packed's callers zero */
    void *tab = mine, *acc32 = mine + tab_b, *acc64 = slot ? (void *)(mine + tab_b + acc_b) : jb->out;
    memset(acc32, 0, c->acc_used);
    if (slot)
        memset(acc64, 0, c->out_b);
    c->used[slot] = 1;
    (void)isa;
    (void)np;
    (void)vnni;
    (void)dec;
    (void)f0;
    (void)f1;
    (void)cbt16;
    (void)scale;
    (void)dec_xb;
    (void)mdiv;
    (void)is_float;
    int64_t since = 0;
    /* items are claimed one at a time (hwq_claim): a thread that a loaded machine starts late does less */
    int64_t count = 0;
    for (; it >= 0; it = hwq_claim(c), count++) {
        const int64_t ti = it / gsplit, gc = it % gsplit, g0 = ng * gc / gsplit, g1 = ng * (gc + 1) / gsplit;
        const int64_t b0 = ti * HWQ_BT, nbt = nb - b0 < HWQ_BT ? nb - b0 : HWQ_BT;
        const uint8_t *tile = jb->packed + b0 * ng * HWQ_REC;
        for (int64_t s0 = 0; s0 < nbt; s0 += sub) {
            const int64_t ns = nbt - s0 < sub ? nbt - s0 : sub;
#if HWQ_VBMI && HWQ_DEC
            if (dec) {
                int32_t *xp = (int32_t *)tab;
                hwq_dec_acts((const int32_t *)jb->act, jb->k, nbatch, b0 + s0, ns, xp);
                hwq_groups_dec(c->dtab, tile, g0, g1, nbt, s0, ns, xp, nbatch, (uint8_t *)tab + dec_xb,
                               (int64_t *)acc32);
                continue;
            }
#endif
#if HWQ_AVX2DN
            if (c->avx2w == 4) {
                hwq_dn_acts((const int32_t *)jb->act, jb->k, nbatch, b0 + s0, ns, (__m256i *)tab);
                hwq_groups_dn(tile, g0, g1, nbt, s0, ns, (const __m256i *)tab, nbatch, (int64_t *)acc32, f0, f1);
                continue;
            }
#endif
#if HWQ_AVX2W
            if (c->avx2w == 1) {
#if HWQ_LUT_TABLE_PATH
                if (jb->kind == HWQ_T_LUT)
                    hwq_build_tab16_lut_avx2((const int32_t *)jb->act, jb->tx, nb, nbatch, b0 + s0, ns, c->fx16,
                                             (int16_t *)tab);
                else
#endif
                    hwq_build_tab16_avx2(cbt16, (const int32_t *)jb->act, jb->k, nbatch, b0 + s0, ns,
                                         (int16_t *)tab);
                hwq_groups_avx2w(tile, g0, g1, nbt, s0, ns, (const int16_t *)tab, nbatch, (int64_t *)acc32, f0, f1);
                continue;
            }
            if (c->avx2w == 3) {
                hwq_build_tabf_avx2(cbt16, (const float *)jb->act, jb->k, nbatch, b0 + s0, ns, (float *)tab);
                hwq_groups_avx2f(tile, g0, g1, nbt, s0, ns, (const float *)tab, nbatch, (float *)acc32);
                continue;
            }
#if HWQ_AVX2D
            if (c->avx2w == 2) {
                hwq_avx2d_acts((const int32_t *)jb->act, jb->k, nbatch, b0 + s0, ns, (int16_t *)tab);
                hwq_groups_avx2d(tile, g0, g1, nbt, s0, ns, (const int16_t *)tab, nbatch, (int64_t *)acc32,
                                 c->wt16);
                continue;
            }
#endif
#endif
            if (since + ns > flush_blocks) {
                hwq_flush(mode, lad2 ? 2 : vbmi, acc32, acc64, jb->m, nbatch, inv_scale);
                since = 0;
            }
#if HWQ_VBMI
            if (vbmi) {
                uint8_t *pl = (uint8_t *)tab + (size_t)(nbatch * sub * HWQ_NCP) * 4u;
                if (jb->kind == HWQ_T_WO && np == 2)
                    hwq_build_planes16_vbmi(cbt16, (const int32_t *)jb->act, jb->k, nbatch, b0 + s0, ns, pl,
                                            vnni ? 2 * 256 : 3 * 256);
                else
                    hwq_build_planes_vbmi(jb->kind, tab, cbt, jb->act, jb->tx, jb->k, nbatch, b0 + s0, ns, scale,
                                          pl);
#if HWQ_LB == 2 && HWQ_L == 4
                if (vnni)
                    hwq_groups_vnni(tile, g0, g1, nbt, s0, ns, pl, nbatch, (int64_t *)acc32, f0, f1);
                else if (lad2)
                    hwq_groups_vbmi2(np, tile, g0, g1, nbt, s0, ns, pl, nbatch, (int32_t *)acc32);
                else
#endif
                    hwq_groups_vbmi(np, tile, g0, g1, nbt, s0, ns, pl, nbatch, (int32_t *)acc32);
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
                hwq_groups_simd(isa, is_float, tile, g0, g1, nbt, s0, ns, tab, nbatch, acc32);
            else
#endif
                hwq_groups_scalar(is_float, tile, g0, g1, nbt, s0, ns, tab, nbatch, acc32);
            since += ns;
        }
    }
    if (dec) { /* int64 partials of hwq_groups_dec in lane order, in units of the multipliers' gcd */
#if HWQ_VBMI && HWQ_DEC
        hwq_perm_out((int64_t *)acc64, (const int64_t *)acc32, c->dtab->pos, c->dtab->mdiv, jb->m, nbatch);
#endif
    } else if (c->avx2w == 3) { /* float partials of hwq_groups_avx2f in record byte order */
        const float *pf = (const float *)acc32;
        float *o = (float *)acc64;
        for (int64_t mm = 0; mm < jb->m; mm++)
            for (int64_t j = 0; j < nbatch; j++)
                o[mm * nbatch + j] += pf[((mm / HWQ_GL) * nbatch + j) * HWQ_GL + hwq_col_pos((int)(mm % HWQ_GL))];
    } else if (c->avx2w) { /* int64 partials of hwq_groups_avx2w in record byte order, in units of mdiv */
        int32_t pos[HWQ_GL];
        for (int i = 0; i < HWQ_GL; i++)
            pos[i] = hwq_col_pos(i);
        hwq_perm_out((int64_t *)acc64, (const int64_t *)acc32, pos, c->omul, jb->m, nbatch);
    } else if (vnni) { /* int64 partials of hwq_groups_vnni, in units of mdiv */
        const int64_t *p64 = (const int64_t *)acc32;
        int64_t *o64 = (int64_t *)acc64;
        if (nbatch == 1) /* the same column order: one contiguous (vectorised) pass */
            for (int64_t mm = 0; mm < jb->m; mm++)
                o64[mm] += (int64_t)mdiv * p64[mm];
        else
            hwq_perm_out(o64, p64, NULL, mdiv, jb->m, nbatch);
    } else {
        hwq_flush(mode, lad2 ? 2 : vbmi, acc32, acc64, jb->m, nbatch, inv_scale);
    }
    __atomic_fetch_add(&c->done, count, __ATOMIC_RELEASE);
}

#include "hwq_pool_c.h"

/* Runs a GEMV over the kernel layout.  Threads (hwq_pool_run) take items (block tile x column-group chunk)
 * one at a time (each tile is a contiguous part of the layout; a thread builds only the tables of its
 * tiles); per-thread int32 partial sums per (column, ladder index) are flushed into int64 at most every
 * flush_blocks blocks, where flush_blocks * max|table entry| <= 2^31 - 1, so no int32 lane can overflow.  jb->out must be zeroed by
 * the caller (the caller's own share is summed into it directly; the workers' shares are added at the end). */
static int hwq_run_packed(const hwq_tile_job *jb)
{
    const int64_t nb = jb->k / HWQ_D, ng = hwq_ngroups(jb->m), ntiles = (nb + HWQ_BT - 1) / HWQ_BT;
    const int64_t nbatch = jb->nbatch;
    const int is_float = jb->kind == HWQ_T_FAST;
    int nt = jb->nthreads < 1 ? 1 : jb->nthreads;
    /* work items: (tile, chunk of column groups); columns are split too when there are fewer tiles
     * than threads (a layout of one tile over all of K is the usual case) */
    const int64_t gsplit = ntiles >= nt ? 1 : (nt < ng ? nt : ng), nitems = ntiles * gsplit;
    if (nt > nitems)
        nt = (int)nitems;
    const int isa = hwq_isa();
    const int vbmi = HWQ_VBMI && isa >= HWQ_ISA_VBMI
                     && (jb->kind == HWQ_T_WO ? HWQ_VBMI_WO : jb->kind == HWQ_T_LUT ? HWQ_VBMI_LUT : 1);
    const int mode = !is_float ? HWQ_F_INT : vbmi ? HWQ_F_FIX : HWQ_F_FLOAT;
    /* max |x_rot| of the weight-only activations */
    const int64_t xmax = jb->kind == HWQ_T_WO ? hwq_absmax_i32((const int32_t *)jb->act, jb->k * nbatch) : 0;
    const int64_t sumc = hwq_cb_sumc(); /* |<cw_r, x_b>| <= sumc * max|x| */
    /* two-slot ladder multipliers in units of mdiv = gcd(m_0, m_1): f_l = m_l / mdiv, fm = max m_T / mdiv */
    int32_t f0 = 0, f1 = 0, mdiv = 1;
    int64_t fm = 0;
    if (hwq_ladder2()) {
        mdiv = (int32_t)hwq_mults_gcd(); /* = gcd(m_0, m_1) on the two-slot ladder */
        f0 = hwq_mults[0] / mdiv;
        f1 = hwq_mults[1] / mdiv;
        fm = 2 * (int64_t)(f0 > f1 ? f0 : f1);
    }
    /* AVX2 weight-only loops (hwq_avx2_wo.h), multipliers f within int16:
     *   1 (hwq_groups_avx2w, below HWQ_AVX2_DEC_MIN_BATCH vectors): int16 table entries (sumc * max|x| <=
     *     32767) and a pass of sub blocks within int32 (sub * max|e| * fm <= 2^31 - 1);
     *   2 (hwq_groups_avx2d, decode then dot): int8 codewords with max|cw| * fm <= 32767, |x| <= 32767 and
     *     sub * sumc * fm * max|x| <= 2^31 - 1;
     *   4 (hwq_groups_dn, D_n configs, every batch: hwq_avx2_dn.h): sums <c_r, x_b> within int16 (sumc * max|x|
     *     <= 32767) and sub * sumc * fm * max|x| <= 2^31 - 1 (3: fast mode, below) */
    int avx2w = 0;
    int64_t sub_w = 0;
    (void)fm;
#if HWQ_AVX2DN
    /* D_n: codewords computed, any batch */
    if (HWQ_USE_AVX2DN && isa == HWQ_ISA_AVX2 && jb->kind == HWQ_T_WO && fm > 0 && fm <= 32767
        && sumc * xmax <= 32767) {
        const int64_t xm = xmax > 0 ? xmax : 1;
        sub_w = HWQ_DN_NS;
        if (sub_w * sumc * xm * fm > (int64_t)0x7FFFFFFF)
            sub_w = (int64_t)0x7FFFFFFF / (sumc * xm * fm);
        avx2w = sub_w >= 1 ? 4 : 0;
    }
#endif
#if HWQ_AVX2W
    if (!avx2w && HWQ_USE_AVX2W && isa == HWQ_ISA_AVX2 && jb->kind == HWQ_T_WO && fm > 0 && fm <= 32767) {
        const int64_t cwmax = hwq_cb_absmax();
        const int64_t xm = xmax > 0 ? xmax : 1;
        if (nbatch < HWQ_AVX2_DEC_MIN_BATCH && sumc * xmax <= 32767) {
            sub_w = (int64_t)HWQ_TAB16_BYTES / (nbatch * 512);
            sub_w = sub_w > HWQ_BT ? HWQ_BT : sub_w < 1 ? 1 : sub_w;
            if (sub_w * sumc * xm * fm > (int64_t)0x7FFFFFFF)
                sub_w = (int64_t)0x7FFFFFFF / (sumc * xm * fm);
            avx2w = sub_w >= 1 ? 1 : 0;
        } else if (HWQ_AVX2D && cwmax <= 127 && cwmax * fm <= 32767 && xmax <= 32767) {
            sub_w = HWQ_BT;
            if (sub_w * sumc * xm * fm > (int64_t)0x7FFFFFFF)
                sub_w = (int64_t)0x7FFFFFFF / (sumc * xm * fm);
            avx2w = sub_w >= 1 ? 2 : 0;
        }
    }
    /* fast mode: float tables (1 KiB a block and vector) in the same loop */
    if (HWQ_USE_AVX2W && isa == HWQ_ISA_AVX2 && jb->kind == HWQ_T_FAST && mode == HWQ_F_FLOAT) {
        sub_w = (int64_t)HWQ_TAB16_BYTES / (nbatch * 1024);
        sub_w = sub_w > HWQ_BT ? HWQ_BT : sub_w < 1 ? 1 : sub_w;
        avx2w = 3;
    }
    /* the LUT kernel: entries f_Tx LUT (|.| <= max|LUT| * fm within int16), one pass of sub blocks within int32 */
#if HWQ_LUT_TABLE_PATH
    if (HWQ_USE_AVX2W && isa == HWQ_ISA_AVX2 && jb->kind == HWQ_T_LUT && fm > 0 && fm <= 32767) {
        const int64_t emax = (HWQ_LUT_ABSMAX > 0 ? (int64_t)HWQ_LUT_ABSMAX : 1) * fm;
        if (emax <= 32767) {
            sub_w = (int64_t)HWQ_TAB16_BYTES / (nbatch * 512);
            sub_w = sub_w > HWQ_BT ? HWQ_BT : sub_w < 1 ? 1 : sub_w;
            if (sub_w * emax * fm > (int64_t)0x7FFFFFFF)
                sub_w = (int64_t)0x7FFFFFFF / (emax * fm);
            avx2w = sub_w >= 1 ? 1 : 0;
        }
    }
#endif
#endif
    /* decode-then-dot loop (hwq_groups_dec) from HWQ_DEC_MIN_BATCH activation vectors on */
    int dec = 0;
    int64_t dec_ns = 0;
#if HWQ_VBMI && HWQ_DEC
    hwq_dec_tabs dtab;
    if (vbmi && jb->kind == HWQ_T_WO && nbatch >= HWQ_DEC_MIN_BATCH && __builtin_cpu_supports("avx512vnni")
        && __builtin_cpu_supports("avx512vl")) {
        dec_ns = hwq_dec_prepare(&dtab, xmax);
        dec = dec_ns > 0;
    }
#endif
    const int64_t sub = dec ? (dec_ns < HWQ_BT ? dec_ns : HWQ_BT)
                        : avx2w ? sub_w
                            : hwq_sub_blocks(nbatch, !vbmi ? (int64_t)HWQ_TAB_BYTES_L1
                                                    : nbatch == 1 ? (int64_t)HWQ_TAB_BYTES
                                                                  : (int64_t)HWQ_TAB_BYTES_BATCH);
    /* decode loop workspace: activation dwords, then the decoded weights of one group chunk */
    const int64_t dec_nw = (sub + 1) / 2 * HWQ_D;
    const size_t dec_xb = ((size_t)((nbatch + 1) * dec_nw) * 4u + 63u) / 64u * 64u;
    /* two-slot ladder: entries enter the int32 sums doubled (|e'| <= 2 |e|), so flush twice as often */
    const int lad2 = vbmi && hwq_ladder2();
    const int64_t flush0 = jb->kind == HWQ_T_LUT ? HWQ_FLUSH_BLOCKS_LUT
                           : mode == HWQ_F_FIX ? HWQ_FLUSH_BLOCKS_FIX : HWQ_FLUSH_BLOCKS;
    int64_t flush_blocks = lad2 ? (flush0 / 2 > 0 ? flush0 / 2 : 1) : flush0;
    size_t tab_b = (size_t)(nbatch * sub) * (HWQ_NCP * 4u + 768u);
    if (avx2w == 3 && tab_b < (size_t)(nbatch * sub) * 1024u) /* hwq_groups_avx2f: 256 floats a table */
        tab_b = (size_t)(nbatch * sub) * 1024u;
    if (dec)
        tab_b = dec_xb + (size_t)dec_nw * 256u;
    size_t acc_b = (size_t)(ng * nbatch * HWQ_NSLOT * HWQ_GL) * 4u;
    if (dec && acc_b < (size_t)(ng * nbatch * HWQ_GL) * 8u)
        acc_b = (size_t)(ng * nbatch * HWQ_GL) * 8u;
    const size_t out_b = (size_t)(jb->m * nbatch) * 8u;
    const size_t per = (tab_b + acc_b + out_b + 63u) / 64u * 64u;
    const size_t sc_off = per * (size_t)nt + (size_t)(HWQ_D * HWQ_NCP) * 4u;
    const size_t cb16_off = (sc_off + (size_t)nbatch * (sizeof(float) + sizeof(double)) + 63u) / 64u * 64u;
    const size_t wt_off = (cb16_off + (size_t)(HWQ_D * 256) * 2u + 63u) / 64u * 64u;
    char *bufs = (char *)hwq_workspace(wt_off + (avx2w == 2 ? 1024u * 8u : 0u));
    if (!bufs)
        return HWQ_E_ALLOC;
    /* transposed codebook as int16, 256 entries per coordinate (rows >= NC zero): hwq_build_planes16_vbmi */
    int16_t *cbt16 = (int16_t *)(void *)(bufs + cb16_off);
    for (int i = 0; i < HWQ_D; i++)
        for (int64_t r = 0; r < 256; r++)
            cbt16[i * 256 + r] = r < HWQ_NC ? (int16_t)hwq_codebook[r * HWQ_D + i] : (int16_t)0;
    (void)cbt16;
    double *inv_scale = (double *)(void *)(bufs + per * (size_t)nt + (size_t)(HWQ_D * HWQ_NCP) * 4u);
    float *scale = (float *)(void *)(inv_scale + nbatch);
    int np = 3; /* byte planes of the VBMI tables: 2 when every weight-only entry fits int16 */
    if (vbmi && jb->kind == HWQ_T_WO)
        np = sumc * xmax <= 32767 ? 2 : 3;
    /* VNNI weight-only loop (hwq_groups_vnni): 2 byte planes, two-slot ladder, multipliers m_l / mdiv
     * within int16 after doubling, and sub * 32767 * 2 max(m_l / mdiv) within int32 */
    int vnni = 0;
#if HWQ_VBMI && HWQ_LB == 2 && HWQ_L == 4
    if (HWQ_USE_VNNI && lad2 && jb->kind == HWQ_T_WO && np == 2 && __builtin_cpu_supports("avx512vnni"))
        vnni = fm <= 32767 && sub * 32767 * fm <= (int64_t)0x7FFFFFFF;
#endif
    if (vnni || dec || avx2w)
        flush_blocks = INT64_MAX; /* these loops empty their int32 sums into int64 after every sub-tile */
    hwq_last_kernel = dec ? HWQ_KERNEL_DECODE : vnni ? HWQ_KERNEL_VNNI : vbmi ? HWQ_KERNEL_PLANES
                      : avx2w == 1 ? HWQ_KERNEL_GATHER_MADD : avx2w == 2 ? HWQ_KERNEL_GATHER_DECODE
                      : avx2w == 3 ? HWQ_KERNEL_GATHER_FMA : avx2w == 4 ? HWQ_KERNEL_DN_DECODE
                      : isa >= HWQ_ISA_AVX2 ? HWQ_KERNEL_GATHER : HWQ_KERNEL_SCALAR;
    if (mode == HWQ_F_FIX) {
        /* |<c_r, x_b>| / cs <= sumc * max|x| / cs: entries scaled to at most 2^HWQ_FIX_BITS */
        for (int64_t j = 0; j < nbatch; j++) {
            const float *xs = (const float *)jb->act + j * jb->k;
            float amax = 0.0f;
            for (int64_t i = 0; i < jb->k; i++)
                amax = fabsf(xs[i]) > amax ? fabsf(xs[i]) : amax;
            const double bound = (double)sumc / HWQ_CS * (double)amax;
            scale[j] = bound > 0.0 ? (float)((double)(1 << HWQ_FIX_BITS) / bound) : 1.0f;
            inv_scale[j] = 1.0 / (double)scale[j];
        }
    }
    /* each participant zeroes its own partial sums and outputs (hwq_run_part), in parallel */
    const size_t acc_used = vnni || avx2w ? (size_t)(ng * nbatch * HWQ_GL) * 8u : acc_b;
    int32_t *cbt = (int32_t *)(void *)(bufs + per * (size_t)nt);
    for (int i = 0; i < HWQ_D; i++)
        for (int64_t r = 0; r < HWQ_NCP; r++) /* rows >= NC: 0, so their table entries are 0 */
            cbt[i * HWQ_NCP + r] = r < HWQ_NC ? (int32_t)hwq_codebook[r * HWQ_D + i] : 0;
    unsigned char used[HWQ_POOL_MAX + 1] = {0};
    hwq_run_ctx ctx = {jb, nb, ng, gsplit, nitems, sub, flush_blocks, nbatch, is_float, isa, vbmi, mode, lad2, np,
                       vnni, dec, f0, f1, mdiv, tab_b, acc_b, per, 0, bufs, cbt16, cbt, inv_scale, scale,
#if HWQ_VBMI && HWQ_DEC
                       &dtab,
#endif
                       0, 0, 0, acc_used, out_b, used, avx2w, NULL, {0}, mdiv};
    if (avx2w && jb->kind == HWQ_T_LUT) {
        for (int t = 0; t < HWQ_L && t < 8; t++)
            ctx.fx16[t] = (int16_t)(hwq_mults[t] / mdiv);
        ctx.omul = (int64_t)mdiv * mdiv;
    }
#if HWQ_AVX2D
    if (avx2w == 2) {
        hwq_avx2d_table(f0, f1, (int64_t *)(void *)(bufs + wt_off));
        ctx.wt16 = (const int64_t *)(void *)(bufs + wt_off);
    }
#endif
    ctx.dec_xb = dec_xb;
    hwq_pool_run(&ctx, nt);
    (void)vbmi;
    (void)np;
    (void)dec_ns;
    (void)f0;
    (void)f1;
    const int64_t n = jb->m * nbatch;
    for (int th = 1; th < nt; th++) { /* slot 0 is the output itself */
        if (!used[th]) /* a participant that claimed no item: its slot was never zeroed nor written */
            continue;
        const void *a = bufs + per * (size_t)th + tab_b + acc_b;
        if (is_float)
            for (int64_t i = 0; i < n; i++)
                ((float *)jb->out)[i] += ((const float *)a)[i];
        else
            hwq_add_i64((int64_t *)jb->out, (const int64_t *)a, n);
    }
    return HWQ_OK;
}
#endif /* table path */

#endif /* HWQ_TABLE_C_H */
