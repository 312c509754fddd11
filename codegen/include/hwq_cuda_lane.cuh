/*
 * hwq_cuda_lane.cuh -- part 1 of hwq_kernels_cuda.cuh: the PORTABLE per-thread logic of the CUDA kernels
 * (bit unpacking, table entries, per-lane sums, reduction order, launch plan, epilogues) as
 * __host__ __device__ functions, so tests/test_codegen_cuda_host.py can run them on the CPU with g++.
 * Included by hwq_kernels_cuda.cuh (see its header comment); not meant to be included on its own.
 */
#ifndef HWQ_CUDA_LANE_CUH
#define HWQ_CUDA_LANE_CUH

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ============================================================================================== */
/* part 1: portable per-thread logic                                                              */
/* ============================================================================================== */

#ifdef __CUDACC__
#define HWQ_CU_HD static __host__ __device__ __forceinline__
#define HWQ_CU_DQ static __device__ __forceinline__ /* functions that read the __device__ tables */
#else
#define HWQ_CU_HD static inline
#define HWQ_CU_DQ static inline
#endif

#ifndef HWQ_DECODE_QUAL
#define HWQ_DECODE_QUAL HWQ_CU_DQ
#endif
#include "hwq_decode.h"

/* table path geometry: chunk of 64 blocks = 4 lanes x 16 blocks per column; 8 columns per warp */
#define HWQ_TB_CHUNK 64
#define HWQ_TB_LANE_BLOCKS 16
#define HWQ_TB_NT(nbv) ((nbv) == 1 ? 256 : 512) /* threads of the table kernel (batch tile nbv) */
#define HWQ_TB_PER_SM(nbv) ((nbv) == 1 ? 2 : 1) /* resident thread blocks per SM it is planned for */
#define HWQ_TB_TBYTES (HWQ_NC * HWQ_TB_CHUNK * 4) /* bytes of one vector's table */
#define HWQ_TB_UNROLL 4      /* column tiles whose loads are issued together (bytes in flight) */
/* the table kernel rotates the fp16 activations of its chunks itself when a chunk holds whole
 * Hadamard segments (fast mode; saves the separate rotation kernel) */
#define HWQ_TB_ROWS (HWQ_TB_CHUNK * HWQ_D) /* activation rows of one chunk */
#define HWQ_TB_FUSED_ROT (HWQ_TB_ROWS % HWQ_H == 0)
#define HWQ_TB_MAX_CPC 4096  /* most columns per thread block when it sums several chunks in shared memory */

/* int32 group of the exact lane sum: largest power of 2 <= 16 with group * m_t * dot <= INT32_MAX */
#if HWQ_SCALED_BOUND <= 134217727
#define HWQ_TB_GROUP 16
#elif HWQ_SCALED_BOUND <= 268435455
#define HWQ_TB_GROUP 8
#elif HWQ_SCALED_BOUND <= 536870911
#define HWQ_TB_GROUP 4
#elif HWQ_SCALED_BOUND <= 1073741823
#define HWQ_TB_GROUP 2
#elif HWQ_SCALED_BOUND <= 2147483647
#define HWQ_TB_GROUP 1
#else
#define HWQ_TB_GROUP 0 /* m_t * dot exceeds int32: no table path (E8) */
#endif

/* the table path serves ROM configs with one byte per code, <= 2 ladder bits and <= 256 codewords */
#define HWQ_TB_OK (HWQ_ROM && HWQ_CB == 8 && HWQ_LB <= 2 && HWQ_NC <= 256 && HWQ_D <= 4 && HWQ_TB_GROUP > 0 && HWQ_L <= 4)

/* 16 bytes as four 32-bit words (uint4 on the device) */
typedef struct {
    uint32_t x, y, z, w;
} hwq_w4;

/* low 32 bits of (hi:lo) >> n, n in [0, 32) */
HWQ_CU_HD uint32_t hwq_cu_fshr(uint32_t lo, uint32_t hi, uint32_t n)
{
#ifdef __CUDA_ARCH__
    return __funnelshift_r(lo, hi, n);
#else
    return n ? (lo >> n) | (hi << (32u - n)) : lo;
#endif
}

/* byte j of the result = byte (j + c) mod 16 of v (c in [0, 16)): word rotation + funnel shifts,
 * no dynamic register indexing */
HWQ_CU_HD hwq_w4 hwq_cu_rot_bytes(hwq_w4 v, uint32_t c)
{
    const uint32_t q = (c >> 2) & 3u, sh = (c & 3u) * 8u;
    if (q & 1u) {
        const uint32_t t = v.x;
        v.x = v.y;
        v.y = v.z;
        v.z = v.w;
        v.w = t;
    }
    if (q & 2u) {
        uint32_t t = v.x;
        v.x = v.z;
        v.z = t;
        t = v.y;
        v.y = v.w;
        v.w = t;
    }
    hwq_w4 o;
    o.x = hwq_cu_fshr(v.x, v.y, sh);
    o.y = hwq_cu_fshr(v.y, v.z, sh);
    o.z = hwq_cu_fshr(v.z, v.w, sh);
    o.w = hwq_cu_fshr(v.w, v.x, sh);
    return o;
}

/* byte i (0..15, a compile-time constant after unrolling) of v */
HWQ_CU_HD uint32_t hwq_cu_byte(hwq_w4 v, int i)
{
    const uint32_t w = i < 4 ? v.x : i < 8 ? v.y : i < 12 ? v.z : v.w;
    return (w >> (8 * (i & 3))) & 0xffu;
}

/* the 16 ladder fields (LB bits each) of a lane, rotated like the code bytes: field i of the
 * result = field (i + c) mod 16 of lad */
HWQ_CU_HD uint32_t hwq_cu_rot_ladder(uint32_t lad, uint32_t c)
{
#if HWQ_LB == 2
    return hwq_cu_fshr(lad, lad, 2u * c);
#elif HWQ_LB == 1
    const uint32_t d = (lad & 0xffffu) | (lad << 16);
    return (d >> c) & 0xffffu;
#else
    (void)c;
    return lad;
#endif
}

HWQ_CU_HD uint32_t hwq_cu_field(uint32_t lad, int i)
{
#if HWQ_LB == 0
    (void)lad;
    (void)i;
    return 0u;
#else
    return (lad >> (HWQ_LB * i)) & ((1u << HWQ_LB) - 1u);
#endif
}

/* word offset of block b (0..63) inside a 64-word row of the table P: lanes s = 0..3 (block
 * 16 s + a) land on banks a, 16 + a, 8 + a, 24 + a (mod 32): conflict-free for 8 consecutive a */
HWQ_CU_HD uint32_t hwq_cu_swz(uint32_t b)
{
    return (b & 32u) | ((b + ((b >> 5) << 3)) & 31u);
}

/* per-lane BYTE offsets (4 x word offset, < 256) of the 16 steps: lane (c = column in warp,
 * s = 16-block group) */
HWQ_CU_HD void hwq_cu_lane_offsets(uint32_t c, uint32_t s, uint32_t *offb)
{
    for (uint32_t i = 0; i < HWQ_TB_LANE_BLOCKS; i++)
        offb[i] = 4u * hwq_cu_swz(16u * s + ((i + c) & 15u));
}

/* __byte_perm: byte n of the result = byte (sel >> 4n) & 7 of the 8 bytes {y:x} (one PRMT) */
HWQ_CU_HD uint32_t hwq_cu_perm(uint32_t x, uint32_t y, uint32_t sel)
{
#ifdef __CUDA_ARCH__
    return __byte_perm(x, y, sel);
#else
    const uint64_t v = ((uint64_t)y << 32) | x;
    uint32_t r = 0;
    for (int n = 0; n < 4; n++)
        r |= (uint32_t)((v >> (8 * ((sel >> (4 * n)) & 7u))) & 0xffu) << (8 * n);
    return r;
#endif
}

/* byte offset of table entry (row = byte i of v, column offset offb < 256): row * 256 + offb, built
 * by one byte permutation: bytes (offb.0, v.byte i, 0, 0) */
HWQ_CU_HD uint32_t hwq_cu_row_off(hwq_w4 v, int i, uint32_t offb)
{
    const uint32_t w = i < 4 ? v.x : i < 8 ? v.y : i < 12 ? v.z : v.w;
    return hwq_cu_perm(w, offb, 0x5504u | ((uint32_t)(i & 3) << 4));
}

/* ladder fields 2j and 2j+1 as the byte offset of their pair in the pair table (8-byte entries) */
HWQ_CU_HD uint32_t hwq_cu_pair_off(uint32_t lad, int j)
{
#if HWQ_LB == 0
    (void)lad;
    (void)j;
    return 0u;
#else
    const uint32_t mask = ((1u << (2 * HWQ_LB)) - 1u) << 3;
    const int sh = 2 * HWQ_LB * j;
    return sh < 3 ? (lad << (3 - sh)) & mask : (lad >> (sh - 3)) & mask;
#endif
}

/* entry p of the pair table: (val[t0], val[t1]) with p = t0 | t1 << LB */
HWQ_CU_HD uint32_t hwq_cu_pair_t0(uint32_t p)
{
    return HWQ_LB ? p & ((1u << HWQ_LB) - 1u) : 0u;
}

HWQ_CU_HD uint32_t hwq_cu_pair_t1(uint32_t p)
{
    return HWQ_LB ? p >> HWQ_LB : 0u;
}

#define HWQ_TB_PAIRS (1 << (2 * HWQ_LB)) /* entries of the pair table */

#ifdef __CUDACC__
typedef float2 hwq_f2;
typedef int2 hwq_i2;
#else
typedef struct alignas(8) {
    float x, y;
} hwq_f2;
typedef struct alignas(8) {
    int32_t x, y;
} hwq_i2;
#endif

/* table entries <c, x_b> of one codeword c (d <= 4 coordinates): fast in fp32 (fixed fma order,
 * integer-valued coordinates given as float), exact in int32 (|.| <= dot_bound) */
template <typename CW> HWQ_CU_HD float hwq_cu_entry_f(const CW *cw, const float *xb)
{
    float p = 0.0f;
    for (int i = 0; i < HWQ_D; i++)
        p = fmaf((float)cw[i], xb[i], p);
    return p;
}

template <typename CW> HWQ_CU_HD int32_t hwq_cu_entry_i(const CW *cw, const int32_t *xb)
{
    int32_t p = 0;
    for (int i = 0; i < HWQ_D; i++)
        p += (int32_t)cw[i] * xb[i];
    return p;
}

/* element at a byte offset of a table (the object there IS a T: no type punning) */
template <typename T> HWQ_CU_HD T hwq_cu_at(const unsigned char *base, uint32_t off)
{
    return *reinterpret_cast<const T *>(base + off);
}

/* one lane, fast mode: out[j] = sum_i beta_t/cs * P_j[r_i][b_i] over its 16 blocks, for the NB
 * vectors of the batch tile (codes/ladder unrotated).  P: byte base of the tables (vector j at
 * + j * HWQ_TB_TBYTES), tab: byte base of the pair table (hwq_f2 x HWQ_TB_PAIRS), offb:
 * hwq_cu_lane_offsets.  Per block one PRMT, NB x (LDS + FFMA); per 2 blocks one LDS.64. */
template <int NB>
HWQ_CU_HD void hwq_cu_lane_f(const unsigned char *P, const unsigned char *tab, hwq_w4 codes, uint32_t lad,
                             uint32_t c, const uint32_t *offb, float *out)
{
    codes = hwq_cu_rot_bytes(codes, c);
    lad = hwq_cu_rot_ladder(lad, c);
    float a[NB];
    for (int j = 0; j < NB; j++)
        a[j] = 0.0f;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int i = 0; i < HWQ_TB_LANE_BLOCKS; i += 2) {
        const hwq_f2 bt = hwq_cu_at<hwq_f2>(tab, hwq_cu_pair_off(lad, i / 2));
        const uint32_t o0 = hwq_cu_row_off(codes, i, offb[i]), o1 = hwq_cu_row_off(codes, i + 1, offb[i + 1]);
        for (int j = 0; j < NB; j++) {
            a[j] = fmaf(bt.x, hwq_cu_at<float>(P + j * HWQ_TB_TBYTES, o0), a[j]);
            a[j] = fmaf(bt.y, hwq_cu_at<float>(P + j * HWQ_TB_TBYTES, o1), a[j]);
        }
    }
    for (int j = 0; j < NB; j++)
        out[j] = a[j];
}

/* one lane, exact mode: out[j] = sum_i m_t * P_j[r_i][b_i]; int32 groups of HWQ_TB_GROUP blocks
 * (provably no overflow: group * scaled_bound <= INT32_MAX), then int64 */
template <int NB>
HWQ_CU_HD void hwq_cu_lane_i(const unsigned char *P, const unsigned char *tab, hwq_w4 codes, uint32_t lad,
                             uint32_t c, const uint32_t *offb, int64_t *out)
{
    codes = hwq_cu_rot_bytes(codes, c);
    lad = hwq_cu_rot_ladder(lad, c);
    int64_t a[NB];
    int32_t g[NB];
    for (int j = 0; j < NB; j++) {
        a[j] = 0;
        g[j] = 0;
    }
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int i = 0; i < HWQ_TB_LANE_BLOCKS; i += 2) {
        const hwq_i2 mt = hwq_cu_at<hwq_i2>(tab, hwq_cu_pair_off(lad, i / 2));
        const uint32_t o0 = hwq_cu_row_off(codes, i, offb[i]), o1 = hwq_cu_row_off(codes, i + 1, offb[i + 1]);
        for (int j = 0; j < NB; j++) {
            g[j] += mt.x * hwq_cu_at<int32_t>(P + j * HWQ_TB_TBYTES, o0);
            if (HWQ_TB_GROUP <= 1) {
                a[j] += g[j];
                g[j] = 0;
            }
            g[j] += mt.y * hwq_cu_at<int32_t>(P + j * HWQ_TB_TBYTES, o1);
            if (HWQ_TB_GROUP <= 1 || (i + 2) % (HWQ_TB_GROUP > 0 ? HWQ_TB_GROUP : 1) == 0) {
                a[j] += g[j];
                g[j] = 0;
            }
        }
    }
    for (int j = 0; j < NB; j++)
        out[j] = a[j];
}

/* the 4 lanes of a column after the xor-1 / xor-2 butterfly: (v0 + v1) + (v2 + v3) */
template <typename T> HWQ_CU_HD T hwq_cu_quad(T v0, T v1, T v2, T v3)
{
    return (v0 + v1) + (v2 + v3);
}

/* launch plan of the table path */
typedef struct {
    int64_t nchunks; /* ceil(nb / 64) */
    int64_t cpg;     /* chunks per thread block (grid.y = groups) */
    int64_t groups;  /* ceil(nchunks / cpg) */
    int64_t cpc;     /* columns per thread block, multiple of 8 */
    int64_t cgroups; /* grid.x = ceil(m / cpc) */
} hwq_tb_plan;

/* one wave of HWQ_TB_PER_SM(nbv) thread blocks per SM: split K first (each block builds one table
 * per chunk), then the columns.  A block with one chunk (cpg = 1) writes its column sums straight to
 * the partials; with several it keeps them in shared memory (then at most HWQ_TB_MAX_CPC / nbv
 * columns).  nbv: vectors per pass (1, 2 or 4). */
HWQ_CU_HD hwq_tb_plan hwq_cu_plan(int64_t nb, int64_t m, int64_t nsm, int nbv)
{
    hwq_tb_plan p;
    const int64_t target = HWQ_TB_PER_SM(nbv) * (nsm > 0 ? nsm : 1);
    p.nchunks = (nb + HWQ_TB_CHUNK - 1) / HWQ_TB_CHUNK;
    p.cpg = (p.nchunks + target - 1) / target;
    p.groups = (p.nchunks + p.cpg - 1) / p.cpg;
    int64_t cg = target / p.groups;
    if (cg < 1)
        cg = 1;
    if (cg > (m + 7) / 8)
        cg = (m + 7) / 8;
    int64_t cpc = (m + cg - 1) / cg;
    cpc = (cpc + 7) / 8 * 8;
    if (p.cpg > 1 && cpc > HWQ_TB_MAX_CPC / nbv)
        cpc = HWQ_TB_MAX_CPC / nbv;
    p.cpc = cpc;
    p.cgroups = (m + cpc - 1) / cpc;
    return p;
}

/* dynamic shared memory of the table kernel: nbv tables P (NC x 64 each), the m_t / beta_t pair
 * table, the codebook as NC x 4 values of the entry type, the chunk's activations (nbv x 64 d floats,
 * fused rotation) and (cpg > 1) the column sums */
HWQ_CU_HD int64_t hwq_cu_tab_smem(hwq_tb_plan p, int nbv, int64_t esize, int64_t ssize)
{
    return (int64_t)nbv * HWQ_NC * HWQ_TB_CHUNK * esize + 2 * HWQ_TB_PAIRS * esize + (int64_t)HWQ_NC * 4 * esize +
           (int64_t)nbv * HWQ_TB_ROWS * 4 + (p.cpg > 1 ? p.cpc * nbv * ssize : 0);
}

/* fast-mode betas beta_t / cs as float (both paths) */
HWQ_CU_HD float hwq_cu_beta_f(double beta)
{
    return (float)(beta / HWQ_CS);
}

/* fast-mode output scale and result: y = sum * (norm / sqrt(K)) */
HWQ_CU_HD float hwq_cu_fast_out(float sum, float norm, int64_t k)
{
    return sum * (norm / sqrtf((float)k));
}

/* fast-mode activation rotation: fp16 bits -> float (exact, subnormals included) */
HWQ_CU_HD float hwq_cu_h2f(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31u, mant = h & 1023u;
    float v;
    if (e == 0) {
        v = (float)mant * 5.9604644775390625e-08f; /* mant * 2^-24, exact */
        return sign ? -v : v;
    }
    const uint32_t bits = e == 31 ? (sign | 0x7f800000u | (mant << 13)) : (sign | ((e + 112u) << 23) | (mant << 13));
    memcpy(&v, &bits, 4);
    return v;
}

/* butterfly p of the FWHT stage of half-width mm on an array of length-h segments (any p order) */
HWQ_CU_HD void hwq_cu_fwht_step(float *v, int p, int mm)
{
    const int i = (p / mm) * 2 * mm + (p % mm);
    const float a = v[i], b = v[i + mm];
    v[i] = a + b;
    v[i + mm] = a - b;
}

/* 1 / sqrt(h), the normalisation of the fast-mode rotation (IEEE sqrt and division on both sides) */
HWQ_CU_HD float hwq_cu_rot_scale(void)
{
    return 1.0f / sqrtf((float)HWQ_H);
}

/* exact epilogue y = ((double(acc) * wscale) * s_x) * rot_gain, wscale = double(norm) * cst; no FMA */
HWQ_CU_HD double hwq_cu_dmul(double a, double b)
{
#ifdef __CUDA_ARCH__
    return __dmul_rn(a, b);
#else
    volatile double r = a * b; /* host: no contraction either (also built with -ffp-contract=off) */
    return r;
#endif
}

/* constants of the exact epilogue: cst = beta0 / (2^F cs sqrt(K)), rot_gain = 1 / sqrt(h) */
HWQ_CU_HD void hwq_cu_exact_consts(int64_t k, double *cst, double *rot_gain)
{
    *cst = HWQ_BETA0 / ((double)((int64_t)(1 << HWQ_FRAC_BITS) * HWQ_CS) * sqrt((double)k));
    *rot_gain = 1.0 / sqrt((double)HWQ_H);
}

HWQ_CU_HD double hwq_cu_epilogue(int64_t acc, float norm, double sx, double cst, double rot_gain)
{
    const double ws = hwq_cu_dmul((double)norm, cst);
    return hwq_cu_dmul(hwq_cu_dmul(hwq_cu_dmul((double)acc, ws), sx), rot_gain);
}

/* generic path: code / ladder index of block b of a packed row */
HWQ_CU_HD uint32_t hwq_cu_code_at(const uint8_t *crow, int64_t b)
{
#if HWQ_CB == 8
    return (uint32_t)crow[b];
#else
    return (uint32_t)hwq_get_bits(crow, b * HWQ_CB, HWQ_CB);
#endif
}

HWQ_CU_HD uint32_t hwq_cu_t_at(const uint8_t *lrow, int64_t b)
{
#if HWQ_LB == 0
    (void)lrow;
    (void)b;
    return 0u;
#else
    return (uint32_t)hwq_get_bits(lrow, b * HWQ_LB, HWQ_LB);
#endif
}

/* generic path: scaled codeword of row r (ROM: from the codebook cb, else arithmetic decode) */
template <typename CB> HWQ_CU_DQ void hwq_cu_decode(uint64_t r, const CB *cb, int32_t *c)
{
#if HWQ_ROM
    for (int i = 0; i < HWQ_D; i++)
        c[i] = (int32_t)cb[r * HWQ_D + i];
#else
    (void)cb;
    int64_t c64[HWQ_D];
    hwq_arith_decode(r, c64);
    for (int i = 0; i < HWQ_D; i++)
        c[i] = (int32_t)c64[i];
#endif
}

/* generic path, exact: m_t * <c, x> (int64; the product may exceed int32 for E8) */
HWQ_CU_HD int64_t hwq_cu_block_i(const int32_t *c, const int32_t *x, int32_t mt)
{
#if HWQ_TB_GROUP > 0
    int32_t dot = 0;
    for (int i = 0; i < HWQ_D; i++)
        dot += c[i] * x[i];
    return (int64_t)(mt * dot);
#else
    int64_t dot = 0;
    for (int i = 0; i < HWQ_D; i++)
        dot += (int64_t)c[i] * x[i];
    return (int64_t)mt * dot;
#endif
}

/* both-quantized (LUT) path: <c_rw, c_rx> in real units from the rendered pairwise table ... */
#if HWQ_HAS_LUT
HWQ_CU_DQ int64_t hwq_cu_lut_ip(uint32_t rw, uint32_t rx)
{
    return (int64_t)hwq_lut[(int64_t)rx * HWQ_NC + rw];
}
#endif

/* ... or from the two scaled codewords (exact division: the lattices are integral) */
template <typename CB> HWQ_CU_DQ int64_t hwq_cu_code_ip(const int32_t *cw, uint32_t rx, const CB *cb)
{
    int32_t cx[HWQ_D];
    hwq_cu_decode((uint64_t)rx, cb, cx);
    int64_t ip = 0;
    for (int i = 0; i < HWQ_D; i++)
        ip += (int64_t)cw[i] * cx[i];
    return ip / (HWQ_CS * HWQ_CS);
}

/* one term of the LUT accumulator: m_Tw * m_Tx * <c_rw, c_rx> */
HWQ_CU_HD int64_t hwq_cu_lut_term(int32_t mw, int32_t mx, int64_t ip)
{
    return (int64_t)mw * mx * ip;
}

/* generic path, fast: beta_t/cs * <c, x> in fp32 (fixed fma order) */
HWQ_CU_HD float hwq_cu_block_f(const int32_t *c, const float *x, float bt, float acc)
{
    float dot = 0.0f;
    for (int i = 0; i < HWQ_D; i++)
        dot = fmaf((float)c[i], x[i], dot);
    return fmaf(bt, dot, acc);
}

/* generic path: the warp reduction order of hwq_warp_sum (shfl_down 16, 8, 4, 2, 1) on 32 values */
template <typename T> HWQ_CU_HD T hwq_cu_warp_order(T *v)
{
    for (int o = 16; o > 0; o >>= 1)
        for (int l = 0; l < o; l++)
            v[l] = v[l] + v[l + o];
    return v[0];
}

#endif /* HWQ_CUDA_LANE_CUH */
