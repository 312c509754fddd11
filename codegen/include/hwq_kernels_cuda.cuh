/*
 * hwq_kernels_cuda.cuh -- hand-written CUDA kernels of the hwq datapath (included by a generated
 * <slug>.cu after the HWQ_* configuration macros and the __device__ tables).
 *
 * Two parts:
 *
 * 1. PORTABLE per-thread logic (this section): bit unpacking of the packed codes / ladder indices,
 *    the byte rotation and shared-memory swizzle of the table GEMV, the table entries <c_r, x_b>,
 *    the per-lane 16-block sums (fp32 fast mode, int32-group / int64 exact mode), the 4-lane
 *    reduction order, the launch plan and the float epilogues.  These functions are
 *    __host__ __device__ (or plain C++ without nvcc): tests/test_codegen_cuda_host.py compiles them
 *    with g++ as host code (hwq_cuda_hosttest.cuh) and compares them bit for bit with hwq.datapath.
 * 2. DEVICE kernels and extern "C" launchers (#ifdef __CUDACC__), which call the functions of part 1.
 *
 * GEMV paths (weight-only, exact and fast):
 *
 * - TABLE path (ROM configs with byte codes, e.g. D3 q=6 and D4 q=4; 16-byte aligned rows; any batch,
 *   in passes of 4, 2 or 1 vectors): K is cut into chunks of 64 blocks.  A thread block owns a range
 *   of chunks x a range of columns; per chunk it builds, for each vector of the pass, P[r][b] =
 *   <c_r, x_b> for every codeword r and block b of the chunk in shared memory (NC x 64 words: 55 KB
 *   for D3 q=6; the fast mode first rotates the chunk's fp16 activations itself: signs, FWHT,
 *   1/sqrt(h)), then streams its columns: 4 lanes per column, each lane reads its 16 code bytes with
 *   ONE 16-byte load (uint4, evict-first) and its 16 ladder indices with one 4-byte load, then per
 *   block does one byte permute (address), one table lookup and one multiply-add per vector, and per
 *   two blocks one 8-byte lookup of the (m_t, m_t') or (beta_t, beta_t') pair.  Lane (c, s) handles
 *   blocks 16 s + ((i + c) mod 16) at step i (the loaded bytes are rotated by c) and P is stored with
 *   the swizzle hwq_cu_swz, so the 32 lookups of a warp hit 32 distinct banks (checked by the host
 *   test).  Exact sums are int32 over groups of HWQ_TB_GROUP blocks (group * cfg.scaled_bound <=
 *   INT32_MAX, proved at compile time), then int64.  Per-column sums over the chunks of a thread
 *   block stay in shared memory (one writer per column per chunk, chunk order); a second kernel adds
 *   the per-group partials in group order: deterministic, and exact mode is exact (integers).  The
 *   launch plan (hwq_cu_plan) gives one wave of 2 (batch pass of 1) or 1 thread blocks per SM.
 * - GENERIC path (everything else: E8 arithmetic decode, sub-byte codes such as Z q=8, unaligned
 *   rows, or cuda_set_path(1)): one warp per column, lane l takes blocks l, l+32, ...; codebook in
 *   shared memory; batch tiles of up to 8 vectors in registers (each decoded codeword is reused for
 *   all of them); warp-shuffle reduction.
 *
 * Host launchers are extern "C" and take DEVICE pointers (allocate with torch/CuPy and pass
 * data_ptr()), plus a cudaStream_t as void* (NULL = legacy default stream).  They return the CUDA
 * error code of the launch (0 = ok) or 1000 + an hwq error (1 block size, 2 Hadamard size, 3 max_k,
 * 4 sizes, 5 workspace too small).  Layouts equal the C library: codes (M, ceil(nb*CB/8)),
 * ladder (M, ceil(nb*LB/8)), activations (B, K), outputs (M, B), dequantized (M, K).  The GEMV
 * launchers take a device workspace of cuda_work_bytes(k, m, nbatch) bytes.
 */
#ifndef HWQ_KERNELS_CUDA_CUH
#define HWQ_KERNELS_CUDA_CUH

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

/* ============================================================================================== */
/* part 2: device kernels and host launchers                                                      */
/* ============================================================================================== */
#ifdef __CUDACC__

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define HWQ_WARPS 8
#define HWQ_NBMAX 8
#define HWQ_THREADS 256

#if HWQ_ROM && HWQ_CB_BYTES <= 16384
#define HWQ_CB_SMEM 1 /* generic kernels copy the codebook to shared memory */
#else
#define HWQ_CB_SMEM 0
#endif

template <typename T> static __device__ __forceinline__ T hwq_warp_sum(T v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

/* codebook pointer of the generic kernels: shared copy (filled by the whole block) or the global table */
#if HWQ_CB_SMEM
#define HWQ_CB_DECL                                                                                    \
    __shared__ HWQ_CB_T hwq_cbs[HWQ_NC * HWQ_D];                                                       \
    for (int i_ = threadIdx.x; i_ < HWQ_NC * HWQ_D; i_ += blockDim.x)                                  \
        hwq_cbs[i_] = hwq_codebook[i_];                                                                \
    const HWQ_CB_T *cbp = hwq_cbs;
#elif HWQ_ROM
#define HWQ_CB_DECL const HWQ_CB_T *cbp = hwq_codebook;
#else
#define HWQ_CB_DECL const int8_t *cbp = 0;
#endif

/* ---------------------------------------------------------------------------------------------- */
/* activations                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* One block per vector j: s = max|x| / act_max, x_int = clip(rnd(x / s)). IEEE double, no FMA. */
__global__ void hwq_k_quantize(const double *x, int64_t k, int8_t *xi, double *sx)
{
    __shared__ double red[256];
    const int64_t j = blockIdx.x;
    const double *v = x + j * k;
    double m = 0.0;
    for (int64_t i = threadIdx.x; i < k; i += blockDim.x)
        m = fmax(m, fabs(v[i]));
    red[threadIdx.x] = m;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s)
            red[threadIdx.x] = fmax(red[threadIdx.x], red[threadIdx.x + s]);
        __syncthreads();
    }
    const double amax = red[0];
    const double s = amax > 0.0 ? __ddiv_rn(amax, (double)HWQ_ACT_MAX) : 1.0;
    if (threadIdx.x == 0)
        sx[j] = s;
    for (int64_t i = threadIdx.x; i < k; i += blockDim.x) {
        double q = floor(__dadd_rn(__ddiv_rn(v[i], s), 0.5));
        q = fmin(fmax(q, -(double)HWQ_ACT_MAX), (double)HWQ_ACT_MAX);
        xi[j * k + i] = (int8_t)q;
    }
}

/* One block per (segment, vector): H diag(signs) x on a length-h segment in shared memory. */
__global__ void hwq_k_rotate_i(const int8_t *xi, int64_t k, int32_t *xr)
{
    extern __shared__ int32_t sh_i[];
    const int64_t seg = blockIdx.x, j = blockIdx.y, base = j * k + seg * HWQ_H;
    for (int i = threadIdx.x; i < HWQ_H; i += blockDim.x)
        sh_i[i] = hwq_sign(HWQ_SIGN_SEED, (uint32_t)(seg * HWQ_H + i)) * (int32_t)xi[base + i];
    __syncthreads();
    for (int m = 1; m < HWQ_H; m *= 2) {
        for (int p = threadIdx.x; p < HWQ_H / 2; p += blockDim.x) {
            const int i = (p / m) * 2 * m + (p % m);
            const int32_t a = sh_i[i], b = sh_i[i + m];
            sh_i[i] = a + b;
            sh_i[i + m] = a - b;
        }
        __syncthreads();
    }
    for (int i = threadIdx.x; i < HWQ_H; i += blockDim.x)
        xr[base + i] = sh_i[i];
}

/* Fast mode: fp16 activations -> H diag(signs) x / sqrt(h) in fp32. */
__global__ void hwq_k_rotate_h(const __half *x, int64_t k, float *xr)
{
    extern __shared__ float sh_f[];
    const int64_t seg = blockIdx.x, j = blockIdx.y, base = j * k + seg * HWQ_H;
    for (int i = threadIdx.x; i < HWQ_H; i += blockDim.x)
        sh_f[i] = (float)hwq_sign(HWQ_SIGN_SEED, (uint32_t)(seg * HWQ_H + i)) * __half2float(x[base + i]);
    __syncthreads();
    for (int m = 1; m < HWQ_H; m *= 2) {
        for (int p = threadIdx.x; p < HWQ_H / 2; p += blockDim.x) {
            const int i = (p / m) * 2 * m + (p % m);
            const float a = sh_f[i], b = sh_f[i + m];
            sh_f[i] = a + b;
            sh_f[i + m] = a - b;
        }
        __syncthreads();
    }
    const float g = hwq_cu_rot_scale();
    for (int i = threadIdx.x; i < HWQ_H; i += blockDim.x)
        xr[base + i] = sh_f[i] * g;
}

/* ---------------------------------------------------------------------------------------------- */
/* table path (batch 1)                                                                             */
/* ---------------------------------------------------------------------------------------------- */
#if HWQ_TB_OK

template <bool EXACT> struct hwq_tb_types;
template <> struct hwq_tb_types<true> {
    typedef int32_t E;  /* table entry */
    typedef int64_t S;  /* column sum */
};
template <> struct hwq_tb_types<false> {
    typedef float E;
    typedef float S;
};

/* streaming loads of the packed weights: read once, evict first (keeps the partial sums in L2) */
static __device__ __forceinline__ hwq_w4 hwq_ld16(const uint8_t *p)
{
    const uint4 v = __ldcs(reinterpret_cast<const uint4 *>(p));
    hwq_w4 o;
    o.x = v.x;
    o.y = v.y;
    o.z = v.z;
    o.w = v.w;
    return o;
}

static __device__ __forceinline__ uint32_t hwq_ld_lad(const uint8_t *lrow, int64_t g16)
{
#if HWQ_LB == 2
    return __ldcs(reinterpret_cast<const unsigned int *>(lrow) + g16);
#elif HWQ_LB == 1
    return (uint32_t)__ldcs(reinterpret_cast<const unsigned short *>(lrow) + g16);
#else
    (void)lrow;
    (void)g16;
    return 0u;
#endif
}

static __device__ __forceinline__ float hwq_tb_entry(const float *cw, const float *xb)
{
    return hwq_cu_entry_f(cw, xb);
}

static __device__ __forceinline__ int32_t hwq_tb_entry(const int32_t *cw, const int32_t *xb)
{
    return hwq_cu_entry_i(cw, xb);
}

template <int NB> static __device__ __forceinline__ void hwq_tb_lane(const unsigned char *P, const unsigned char *tab,
                                                                     hwq_w4 w, uint32_t l, uint32_t c,
                                                                     const uint32_t *offb, float *out)
{
    hwq_cu_lane_f<NB>(P, tab, w, l, c, offb, out);
}

template <int NB> static __device__ __forceinline__ void hwq_tb_lane(const unsigned char *P, const unsigned char *tab,
                                                                     hwq_w4 w, uint32_t l, uint32_t c,
                                                                     const uint32_t *offb, int64_t *out)
{
    hwq_cu_lane_i<NB>(P, tab, w, l, c, offb, out);
}

/* grid (cgroups, groups), HWQ_TB_NT(NB) threads, hwq_cu_tab_smem bytes; part[group][col][j].
 * x: the NB vectors of this pass, (NB, K) row-major: rotated int32 (exact), rotated fp32 (fast, ROT
 * false) or raw fp16 bits (fast, ROT true: the kernel applies signs, FWHT and 1/sqrt(h) per chunk) */
template <bool EXACT, int NB, bool ROT>
__global__ void __launch_bounds__(HWQ_TB_NT(NB), HWQ_TB_PER_SM(NB))
    hwq_k_tab(const uint8_t *__restrict__ codes, const uint8_t *__restrict__ ladder, int64_t nb, int64_t m,
              const void *__restrict__ xv, hwq_tb_plan pl, typename hwq_tb_types<EXACT>::S *__restrict__ part)
{
    typedef typename hwq_tb_types<EXACT>::E E;
    typedef typename hwq_tb_types<EXACT>::S S;
    constexpr int NT = HWQ_TB_NT(NB), W = NT / 32;
    extern __shared__ __align__(16) unsigned char hwq_smem[];
    E *P = reinterpret_cast<E *>(hwq_smem);           /* NB tables of HWQ_NC x 64, swizzled */
    E *tab = P + NB * HWQ_NC * HWQ_TB_CHUNK;          /* pairs of m_t (exact) or beta_t / cs (fast) */
    E *cb4 = tab + 2 * HWQ_TB_PAIRS;                  /* codebook, HWQ_NC x 4 (zero padded) */
    float *xs = reinterpret_cast<float *>(cb4 + HWQ_NC * 4); /* NB x HWQ_TB_ROWS chunk activations */
    S *acc = reinterpret_cast<S *>(xs + NB * HWQ_TB_ROWS); /* cpc x NB column sums (cpg > 1 only) */
    const E *x = static_cast<const E *>(xv);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const uint32_t c = (uint32_t)lane >> 2, s = (uint32_t)lane & 3u;
    const int64_t c0 = (int64_t)blockIdx.x * pl.cpc;
    const int64_t c1 = c0 + pl.cpc < m ? c0 + pl.cpc : m;
    const int64_t k0 = (int64_t)blockIdx.y * pl.cpg;
    const int64_t k1 = k0 + pl.cpg < pl.nchunks ? k0 + pl.cpg : pl.nchunks;
    const bool one = pl.cpg == 1;
    const int64_t lstride = nb * HWQ_LB / 8, kk = nb * HWQ_D;
    if (tid < 2 * HWQ_TB_PAIRS) {
        const uint32_t t = tid & 1 ? hwq_cu_pair_t1((uint32_t)tid >> 1) : hwq_cu_pair_t0((uint32_t)tid >> 1);
        tab[tid] = t < HWQ_L ? (EXACT ? (E)hwq_mults[t] : (E)hwq_cu_beta_f(hwq_betas[t])) : (E)0;
    }
    for (int i = tid; i < HWQ_NC * 4; i += NT)
        cb4[i] = (i & 3) < HWQ_D ? (E)hwq_codebook[(i >> 2) * HWQ_D + (i & 3)] : (E)0;
    if (!one)
        for (int64_t i = tid; i < (c1 - c0) * NB; i += NT)
            acc[i] = (S)0;
    uint32_t offb[HWQ_TB_LANE_BLOCKS];
    hwq_cu_lane_offsets(c, s, offb);
    const unsigned char *Pb = reinterpret_cast<const unsigned char *>(P);
    const unsigned char *tb = reinterpret_cast<const unsigned char *>(tab);
    const uint32_t bb = (uint32_t)tid & 63u; /* block of the chunk this thread builds */
    const uint32_t sw = hwq_cu_swz(bb);
    for (int64_t ch = k0; ch < k1; ch++) {
        const int64_t g16 = ch * 4 + s;
        const bool gv = g16 * HWQ_TB_LANE_BLOCKS < nb;
        /* lane pointers of tile 0, bumped by whole tiles: no 64-bit multiplies in the loop */
        const int64_t col0 = c0 + warp * 8 + (int64_t)c;
        const uint8_t *cp = codes + col0 * nb + g16 * HWQ_TB_LANE_BLOCKS;
        const uint8_t *lp = ladder + col0 * lstride + g16 * (2 * HWQ_LB);
        const int64_t cstep = (int64_t)8 * W * nb, lstep = (int64_t)8 * W * lstride;
        const int ncol = (int)(c1 - col0); /* columns left for this lane, counted from tile 0 */
        /* the first tiles' loads are issued before the table build, so HBM is busy while it runs;
         * afterwards each iteration loads the next tiles after computing the current ones */
        hwq_w4 cw[HWQ_TB_UNROLL];
        uint32_t lw[HWQ_TB_UNROLL];
#pragma unroll
        for (int u = 0; u < HWQ_TB_UNROLL; u++) {
            cw[u].x = cw[u].y = cw[u].z = cw[u].w = 0u;
            lw[u] = 0u;
            if (gv && u * 8 * W < ncol) {
                cw[u] = hwq_ld16(cp + u * cstep);
                lw[u] = hwq_ld_lad(lp + u * lstep, 0);
            }
        }
        __syncthreads(); /* staging done / the previous chunk's lookups are done */
        const int64_t gb = ch * HWQ_TB_CHUNK + bb;
        E xb[NB][HWQ_D];
        if constexpr (ROT) { /* fast mode: H diag(signs) x / sqrt(h) of the chunk's rows, in shared memory */
            const uint16_t *x16 = static_cast<const uint16_t *>(xv);
            for (int e = tid; e < NB * HWQ_TB_ROWS; e += NT) {
                const int j = e / HWQ_TB_ROWS;
                const int64_t row = ch * HWQ_TB_ROWS + e % HWQ_TB_ROWS;
                xs[e] = row < kk ? (float)hwq_sign(HWQ_SIGN_SEED, (uint32_t)row) * hwq_cu_h2f(__ldg(x16 + j * kk + row))
                                 : 0.0f;
            }
            __syncthreads();
            for (int mm = 1; mm < HWQ_H; mm *= 2) {
                for (int p = tid; p < NB * HWQ_TB_ROWS / 2; p += NT)
                    hwq_cu_fwht_step(xs, p, mm);
                __syncthreads();
            }
            const float g = hwq_cu_rot_scale();
            for (int j = 0; j < NB; j++)
                for (int i = 0; i < HWQ_D; i++)
                    xb[j][i] = (E)(xs[j * HWQ_TB_ROWS + bb * HWQ_D + i] * g);
        } else {
            for (int j = 0; j < NB; j++)
                for (int i = 0; i < HWQ_D; i++)
                    xb[j][i] = gb < nb ? __ldg(x + j * kk + gb * HWQ_D + i) : (E)0;
        }
        for (uint32_t r = (uint32_t)tid >> 6; r < HWQ_NC; r += NT / 64)
            for (int j = 0; j < NB; j++)
                P[j * HWQ_NC * HWQ_TB_CHUNK + (r << 6) + sw] = gb < nb ? hwq_tb_entry(cb4 + 4 * r, xb[j]) : (E)0;
        __syncthreads();
        for (int t0 = 0; warp * 8 + t0 < (int)(c1 - c0); t0 += 8 * W * HWQ_TB_UNROLL) { /* warp-uniform */
#pragma unroll
            for (int u = 0; u < HWQ_TB_UNROLL; u++) {
                S v[NB];
                hwq_tb_lane<NB>(Pb, tb, cw[u], lw[u], c, offb, v);
                const int jc = t0 + u * 8 * W; /* this lane's column = col0 + jc */
#pragma unroll
                for (int j = 0; j < NB; j++) {
                    v[j] += __shfl_xor_sync(0xffffffffu, v[j], 1);
                    v[j] += __shfl_xor_sync(0xffffffffu, v[j], 2);
                    if (s == 0 && jc < ncol) {
                        if (one)
                            part[((int64_t)blockIdx.y * m + col0 + jc) * NB + j] = v[j];
                        else
                            acc[(col0 - c0 + jc) * NB + j] += v[j];
                    }
                }
            }
            cp += HWQ_TB_UNROLL * cstep; /* the next tiles */
            lp += HWQ_TB_UNROLL * lstep;
            const int t1 = t0 + 8 * W * HWQ_TB_UNROLL;
#pragma unroll
            for (int u = 0; u < HWQ_TB_UNROLL; u++) {
                cw[u].x = cw[u].y = cw[u].z = cw[u].w = 0u;
                lw[u] = 0u;
                if (gv && t1 + u * 8 * W < ncol) {
                    cw[u] = hwq_ld16(cp + u * cstep);
                    lw[u] = hwq_ld_lad(lp + u * lstep, 0);
                }
            }
        }
    }
    if (!one) {
        __syncthreads();
        for (int64_t i = tid; i < (c1 - c0) * NB; i += NT)
            part[((int64_t)blockIdx.y * m + c0) * NB + i] = acc[i];
    }
}

/* sum of the group partials in group order, one thread per (column, vector of the pass):
 * exact -> acc (M, B) int64; fast -> y (M, B) fp32 */
__global__ void hwq_k_tab_reduce_i(const int64_t *part, int64_t groups, int64_t m, int nbv, int64_t nbatch,
                                   int64_t j0, int64_t *acc)
{
    const int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= m * nbv)
        return;
    const int64_t col = e / nbv, j = e % nbv;
    int64_t s = 0;
    for (int64_t g = 0; g < groups; g++)
        s += part[(g * m + col) * nbv + j];
    acc[col * nbatch + j0 + j] = s;
}

__global__ void hwq_k_tab_reduce_f(const float *part, int64_t groups, int64_t m, int nbv, int64_t nbatch, int64_t j0,
                                   const float *norms, int64_t k, float *y)
{
    const int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= m * nbv)
        return;
    const int64_t col = e / nbv, j = e % nbv;
    float s = 0.0f;
    for (int64_t g = 0; g < groups; g++)
        s += part[(g * m + col) * nbv + j];
    y[col * nbatch + j0 + j] = hwq_cu_fast_out(s, norms[col], k);
}

#endif /* HWQ_TB_OK */

/* ---------------------------------------------------------------------------------------------- */
/* generic GEMV kernels (one warp per column)                                                       */
/* ---------------------------------------------------------------------------------------------- */

template <int NB>
__global__ void __launch_bounds__(32 * HWQ_WARPS) hwq_k_wo(const uint8_t *__restrict__ codes,
                                                          const uint8_t *__restrict__ ladder, int64_t k,
                                                          int64_t m, const int32_t *__restrict__ xr,
                                                          int64_t nbatch, int64_t j0, int64_t *__restrict__ acc)
{
    HWQ_CB_DECL
    __shared__ int32_t mts[HWQ_L];
    for (int i = threadIdx.x; i < HWQ_L; i += blockDim.x)
        mts[i] = hwq_mults[i];
    __syncthreads();
    const int64_t col = (int64_t)blockIdx.x * HWQ_WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (col >= m) /* warp-uniform */
        return;
    const int64_t nb = k / HWQ_D;
    const uint8_t *crow = codes + col * ((nb * HWQ_CB + 7) / 8);
    const uint8_t *lrow = ladder + col * ((nb * HWQ_LB + 7) / 8);
    long long a[NB];
    for (int j = 0; j < NB; j++)
        a[j] = 0;
    for (int64_t b = lane; b < nb; b += 32) {
        int32_t c[HWQ_D];
        hwq_cu_decode(hwq_cu_code_at(crow, b), cbp, c);
        const int32_t mt = mts[hwq_cu_t_at(lrow, b)];
#pragma unroll
        for (int j = 0; j < NB; j++) {
            int32_t xs[HWQ_D];
            for (int i = 0; i < HWQ_D; i++)
                xs[i] = __ldg(xr + (j0 + j) * k + b * HWQ_D + i);
            a[j] += hwq_cu_block_i(c, xs, mt);
        }
    }
    for (int j = 0; j < NB; j++) {
        const long long s = hwq_warp_sum(a[j]);
        if (lane == 0)
            acc[col * nbatch + j0 + j] = s;
    }
}

template <int NB>
__global__ void __launch_bounds__(32 * HWQ_WARPS) hwq_k_lut(const uint8_t *__restrict__ codes,
                                                           const uint8_t *__restrict__ ladder, int64_t k,
                                                           int64_t m, const int32_t *__restrict__ rx,
                                                           const uint8_t *__restrict__ tx, int64_t nbatch,
                                                           int64_t j0, int64_t *__restrict__ acc)
{
    HWQ_CB_DECL
    __syncthreads();
    (void)cbp;
    const int64_t col = (int64_t)blockIdx.x * HWQ_WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (col >= m)
        return;
    const int64_t nb = k / HWQ_D;
    const uint8_t *crow = codes + col * ((nb * HWQ_CB + 7) / 8);
    const uint8_t *lrow = ladder + col * ((nb * HWQ_LB + 7) / 8);
    long long a[NB];
    for (int j = 0; j < NB; j++)
        a[j] = 0;
    for (int64_t b = lane; b < nb; b += 32) {
        const uint32_t rw = hwq_cu_code_at(crow, b);
        const int32_t mw = hwq_mults[hwq_cu_t_at(lrow, b)];
#if !HWQ_HAS_LUT
        int32_t cw[HWQ_D];
        hwq_cu_decode(rw, cbp, cw);
#endif
        for (int j = 0; j < NB; j++) {
            const int64_t o = (j0 + j) * nb + b;
            const uint32_t r = (uint32_t)__ldg(rx + o);
#if HWQ_HAS_LUT
            const int64_t ip = hwq_cu_lut_ip(rw, r);
#else
            const int64_t ip = hwq_cu_code_ip(cw, r, cbp);
#endif
            a[j] += hwq_cu_lut_term(mw, hwq_mults[__ldg(tx + o)], ip);
        }
    }
    for (int j = 0; j < NB; j++) {
        const long long s = hwq_warp_sum(a[j]);
        if (lane == 0)
            acc[col * nbatch + j0 + j] = s;
    }
}

template <int NB>
__global__ void __launch_bounds__(32 * HWQ_WARPS) hwq_k_fast(const uint8_t *__restrict__ codes,
                                                            const uint8_t *__restrict__ ladder,
                                                            const float *__restrict__ norms, int64_t k, int64_t m,
                                                            const float *__restrict__ xr, int64_t nbatch,
                                                            int64_t j0, float *__restrict__ y)
{
    HWQ_CB_DECL
    __shared__ float bts[HWQ_L];
    for (int i = threadIdx.x; i < HWQ_L; i += blockDim.x)
        bts[i] = hwq_cu_beta_f(hwq_betas[i]);
    __syncthreads();
    const int64_t col = (int64_t)blockIdx.x * HWQ_WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (col >= m)
        return;
    const int64_t nb = k / HWQ_D;
    const uint8_t *crow = codes + col * ((nb * HWQ_CB + 7) / 8);
    const uint8_t *lrow = ladder + col * ((nb * HWQ_LB + 7) / 8);
    float a[NB];
    for (int j = 0; j < NB; j++)
        a[j] = 0.0f;
    for (int64_t b = lane; b < nb; b += 32) {
        int32_t c[HWQ_D];
        hwq_cu_decode(hwq_cu_code_at(crow, b), cbp, c);
        const float bt = bts[hwq_cu_t_at(lrow, b)];
#pragma unroll
        for (int j = 0; j < NB; j++) {
            float xs[HWQ_D];
            for (int i = 0; i < HWQ_D; i++)
                xs[i] = __ldg(xr + (j0 + j) * k + b * HWQ_D + i);
            a[j] = hwq_cu_block_f(c, xs, bt, a[j]);
        }
    }
    for (int j = 0; j < NB; j++) {
        const float s = hwq_warp_sum(a[j]);
        if (lane == 0)
            y[col * nbatch + j0 + j] = hwq_cu_fast_out(s, norms[col], k);
    }
}

/* y = ((double(acc) * wscale[m]) * s_x[j]) * rot_gain, wscale[m] = double(norm[m]) * cst; no FMA. */
__global__ void hwq_k_epilogue(const int64_t *acc, const float *norms, const double *sx, int64_t m,
                               int64_t nbatch, double cst, double rot_gain, double *y)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= m * nbatch)
        return;
    const int64_t mm = i / nbatch, j = i % nbatch;
    y[i] = hwq_cu_epilogue(acc[i], norms[mm], sx[j], cst, rot_gain);
}

/* One block per (segment, column): decode, inverse rotation, scale; fp32 or fp16 out (M, K). */
template <typename OUT>
__global__ void hwq_k_dequant(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k,
                              OUT *out)
{
    HWQ_CB_DECL
    extern __shared__ float sh_d[];
    const int64_t seg = blockIdx.x, col = blockIdx.y, nb = k / HWQ_D;
    const uint8_t *crow = codes + col * ((nb * HWQ_CB + 7) / 8);
    const uint8_t *lrow = ladder + col * ((nb * HWQ_LB + 7) / 8);
    __syncthreads();
    for (int i = threadIdx.x; i < HWQ_H; i += blockDim.x) {
        const int64_t row = seg * HWQ_H + i, b = row / HWQ_D;
        int32_t c[HWQ_D];
        hwq_cu_decode(hwq_cu_code_at(crow, b), cbp, c);
        sh_d[i] = (float)hwq_betas[hwq_cu_t_at(lrow, b)] * ((float)c[row % HWQ_D] / (float)HWQ_CS);
    }
    __syncthreads();
    for (int m = 1; m < HWQ_H; m *= 2) {
        for (int p = threadIdx.x; p < HWQ_H / 2; p += blockDim.x) {
            const int i = (p / m) * 2 * m + (p % m);
            const float a = sh_d[i], b = sh_d[i + m];
            sh_d[i] = a + b;
            sh_d[i + m] = a - b;
        }
        __syncthreads();
    }
    const float sc = rsqrtf((float)HWQ_H) * norms[col] * rsqrtf((float)k);
    for (int i = threadIdx.x; i < HWQ_H; i += blockDim.x) {
        const int64_t row = seg * HWQ_H + i;
        const float v = (float)hwq_sign(HWQ_SIGN_SEED, (uint32_t)row) * sh_d[i] * sc;
        out[col * k + row] = (OUT)v;
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* host launchers                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

static int hwq_h_check(int64_t k, int64_t m, int64_t b)
{
    if (k < 1 || m < 1 || b < 1)
        return 1004;
    if (k % HWQ_D)
        return 1001;
    if (k % HWQ_H)
        return 1002;
    if (k > HWQ_MAX_K)
        return 1003;
    return 0;
}

#define HWQ_GRID(m) ((unsigned)(((m) + HWQ_WARPS - 1) / HWQ_WARPS))
#define HWQ_DISPATCH_NB(nbv, LAUNCH)                                                                         \
    switch (nbv) {                                                                                           \
    case 1: LAUNCH(1); break;                                                                                \
    case 2: LAUNCH(2); break;                                                                                \
    case 3: LAUNCH(3); break;                                                                                \
    case 4: LAUNCH(4); break;                                                                                \
    case 5: LAUNCH(5); break;                                                                                \
    case 6: LAUNCH(6); break;                                                                                \
    case 7: LAUNCH(7); break;                                                                                \
    default: LAUNCH(8); break;                                                                               \
    }

/* 0: automatic (table path where it applies), 1: generic kernels only (tests compare both) */
static int hwq_path_mode = 0;

extern "C" int HWQ_SYM(cuda_set_path)(int mode)
{
    if (mode < 0 || mode > 1)
        return 1004;
    hwq_path_mode = mode;
    return 0;
}

/* 1 when the table path serves this call (ROM config with byte codes, 16-byte aligned rows), else 0 */
extern "C" int HWQ_SYM(cuda_path)(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m, int64_t nbatch)
{
#if HWQ_TB_OK
    const int64_t nb = k / HWQ_D;
    const uintptr_t lmask = HWQ_LB == 2 ? 3u : HWQ_LB == 1 ? 1u : 0u;
    return hwq_path_mode == 0 && nbatch >= 1 && k % HWQ_D == 0 && nb % HWQ_TB_LANE_BLOCKS == 0 && m < (1 << 30) &&
           ((uintptr_t)codes & 15u) == 0 && ((uintptr_t)ladder & lmask) == 0;
#else
    (void)codes;
    (void)ladder;
    (void)k;
    (void)m;
    (void)nbatch;
    return 0;
#endif
}

/* device workspace the GEMV launchers need (an upper bound for any GPU and batch) */
extern "C" int64_t HWQ_SYM(cuda_work_bytes)(int64_t k, int64_t m, int64_t nbatch)
{
    (void)nbatch;
    const int64_t nb = k / HWQ_D, nchunks = (nb + HWQ_TB_CHUNK - 1) / HWQ_TB_CHUNK;
    return (nchunks > 0 ? nchunks : 1) * (m > 0 ? m : 1) * 4 * (int64_t)sizeof(int64_t);
}

/* the launch plan of the table path on this GPU for passes of nbv vectors (1, 2 or 4):
 * out[5] = nchunks, chunks per block, groups (grid.y), columns per block, column groups (grid.x) */
extern "C" int HWQ_SYM(cuda_plan)(int64_t k, int64_t m, int64_t nbv, int64_t *out)
{
    int dev = 0, nsm = 0;
    if (nbv != 1 && nbv != 2 && nbv != 4)
        return 1004;
    cudaError_t e = cudaGetDevice(&dev);
    if (e == cudaSuccess)
        e = cudaDeviceGetAttribute(&nsm, cudaDevAttrMultiProcessorCount, dev);
    if (e != cudaSuccess)
        return (int)e;
    const hwq_tb_plan p = hwq_cu_plan(k / HWQ_D, m, nsm, (int)nbv);
    out[0] = p.nchunks;
    out[1] = p.cpg;
    out[2] = p.groups;
    out[3] = p.cpc;
    out[4] = p.cgroups;
    return 0;
}

#if HWQ_TB_OK
/* SM count and opt-in shared memory per block of the current device (cached) */
static void hwq_dev_limits(int *nsm, int *optin)
{
    static int n = 0, o = 0;
    if (n < 1) {
        int dev = 0, a = 0, b = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&a, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&b, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess || a < 1) {
            (void)cudaGetLastError();
            a = 1;
            b = 48 * 1024;
        }
        n = a;
        o = b;
    }
    *nsm = n;
    *optin = o;
}

/* one pass of NB vectors (x: (NB, K), the pass's rows of the batch); *fits = 0 when the tables do
 * not fit this GPU's shared memory (nothing launched) */
template <bool EXACT, int NB, bool ROT>
static int hwq_tb_pass(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k, int64_t m,
                       const void *x, void *out, int64_t nbatch, int64_t j0, void *work, int64_t work_bytes,
                       cudaStream_t st, int *fits)
{
    typedef typename hwq_tb_types<EXACT>::S S;
    typedef typename hwq_tb_types<EXACT>::E E;
    int nsm, optin;
    hwq_dev_limits(&nsm, &optin);
    const int64_t nb = k / HWQ_D;
    const hwq_tb_plan pl = hwq_cu_plan(nb, m, nsm, NB);
    const int64_t smem = hwq_cu_tab_smem(pl, NB, sizeof(E), sizeof(S));
    *fits = smem <= optin;
    if (!*fits)
        return 0;
    if (work == 0 || work_bytes < pl.groups * m * NB * (int64_t)sizeof(S))
        return 1005;
    static int64_t attr_smem = 0;
    if (smem > attr_smem) {
        const cudaError_t e =
            cudaFuncSetAttribute(hwq_k_tab<EXACT, NB, ROT>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess)
            return (int)e;
        attr_smem = smem;
    }
    S *part = static_cast<S *>(work);
    hwq_k_tab<EXACT, NB, ROT><<<dim3((unsigned)pl.cgroups, (unsigned)pl.groups), HWQ_TB_NT(NB), (size_t)smem, st>>>(
        codes, ladder, nb, m, x, pl, part);
    const unsigned rg = (unsigned)((m * NB + 255) / 256);
    if constexpr (EXACT)
        hwq_k_tab_reduce_i<<<rg, 256, 0, st>>>(reinterpret_cast<const int64_t *>(part), pl.groups, m, NB, nbatch, j0,
                                               static_cast<int64_t *>(out));
    else
        hwq_k_tab_reduce_f<<<rg, 256, 0, st>>>(reinterpret_cast<const float *>(part), pl.groups, m, NB, nbatch, j0,
                                               norms, k, static_cast<float *>(out));
    return (int)cudaGetLastError();
}

/* table path over the whole batch: passes of 4, 2, 1 vectors (largest that fits shared memory).
 * x (B, K): int32 rotated (exact), fp32 rotated (fast, ROT false) or fp16 (fast, ROT true);
 * out = acc (M, B) int64 or y (M, B) fp32 */
template <bool EXACT, bool ROT>
static int hwq_tb_launch(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k, int64_t m,
                         const void *xv, int64_t nbatch, void *out, void *work, int64_t work_bytes, cudaStream_t st)
{
    const int64_t esz = EXACT ? 4 : ROT ? 2 : 4; /* bytes per activation entry */
    for (int64_t j0 = 0; j0 < nbatch;) {
        const int64_t rem = nbatch - j0;
        const void *x = static_cast<const unsigned char *>(xv) + j0 * k * esz;
        int fits = 0, e = 0, used = 0;
        if (rem >= 4 && !(e = hwq_tb_pass<EXACT, 4, ROT>(codes, ladder, norms, k, m, x, out, nbatch, j0, work,
                                                         work_bytes, st, &fits)) && fits)
            used = 4;
        if (!e && !used && rem >= 2 &&
            !(e = hwq_tb_pass<EXACT, 2, ROT>(codes, ladder, norms, k, m, x, out, nbatch, j0, work, work_bytes, st,
                                             &fits)) && fits)
            used = 2;
        if (!e && !used &&
            !(e = hwq_tb_pass<EXACT, 1, ROT>(codes, ladder, norms, k, m, x, out, nbatch, j0, work, work_bytes, st,
                                             &fits)) && fits)
            used = 1;
        if (e)
            return e;
        if (!used)
            return 1005;
        j0 += used;
    }
    return 0;
}
#endif

extern "C" int HWQ_SYM(cuda_quantize_acts)(const double *x, int64_t k, int64_t nbatch, int8_t *xi, double *sx,
                                           void *stream)
{
    if (k < 1 || nbatch < 1)
        return 1004;
    hwq_k_quantize<<<(unsigned)nbatch, 256, 0, (cudaStream_t)stream>>>(x, k, xi, sx);
    return (int)cudaGetLastError();
}

extern "C" int HWQ_SYM(cuda_rotate_acts)(const int8_t *xi, int64_t k, int64_t nbatch, int32_t *xr, void *stream)
{
    if (k < 1 || nbatch < 1)
        return 1004;
    if (k % HWQ_H)
        return 1002;
    dim3 grid((unsigned)(k / HWQ_H), (unsigned)nbatch);
    hwq_k_rotate_i<<<grid, 256, HWQ_H * sizeof(int32_t), (cudaStream_t)stream>>>(xi, k, xr);
    return (int)cudaGetLastError();
}

/* Weight-only accumulators acc (M, B) int64 from rotated int32 activations xr (B, K). */
extern "C" int HWQ_SYM(cuda_wo_acc)(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m,
                                    const int32_t *xr, int64_t nbatch, int64_t *acc, void *work, int64_t work_bytes,
                                    void *stream)
{
    int e = hwq_h_check(k, m, nbatch);
    if (e)
        return e;
#if HWQ_TB_OK
    if (HWQ_SYM(cuda_path)(codes, ladder, k, m, nbatch))
        return hwq_tb_launch<true, false>(codes, ladder, 0, k, m, xr, nbatch, acc, work, work_bytes,
                                          (cudaStream_t)stream);
#else
    (void)work;
    (void)work_bytes;
#endif
    for (int64_t j0 = 0; j0 < nbatch; j0 += HWQ_NBMAX) {
        const int64_t nbv = nbatch - j0 < HWQ_NBMAX ? nbatch - j0 : HWQ_NBMAX;
#define HWQ_L_WO(NB)                                                                                         \
    hwq_k_wo<NB><<<HWQ_GRID(m), HWQ_THREADS, 0, (cudaStream_t)stream>>>(codes, ladder, k, m, xr, nbatch, j0, acc)
        HWQ_DISPATCH_NB(nbv, HWQ_L_WO)
#undef HWQ_L_WO
    }
    return (int)cudaGetLastError();
}

extern "C" int HWQ_SYM(cuda_lut_acc)(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m,
                                     const int32_t *rx, const uint8_t *tx, int64_t nbatch, int64_t *acc,
                                     void *stream)
{
    int e = hwq_h_check(k, m, nbatch);
    if (e)
        return e;
    for (int64_t j0 = 0; j0 < nbatch; j0 += HWQ_NBMAX) {
        const int64_t nbv = nbatch - j0 < HWQ_NBMAX ? nbatch - j0 : HWQ_NBMAX;
#define HWQ_L_LUT(NB)                                                                                        \
    hwq_k_lut<NB><<<HWQ_GRID(m), HWQ_THREADS, 0, (cudaStream_t)stream>>>(codes, ladder, k, m, rx, tx, nbatch, j0, \
                                                                          acc)
        HWQ_DISPATCH_NB(nbv, HWQ_L_LUT)
#undef HWQ_L_LUT
    }
    return (int)cudaGetLastError();
}

/* Exact mode end to end: x (B, K) float64 -> y (M, B) float64 and acc (M, B) int64.
 * Scratch: xi (B*K int8), xr (B*K int32), sx (B double), work (cuda_work_bytes), all device memory. */
extern "C" int HWQ_SYM(cuda_gemv_exact)(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k,
                                        int64_t m, const double *x, int64_t nbatch, int8_t *xi, int32_t *xr,
                                        double *sx, int64_t *acc, double *y, void *work, int64_t work_bytes,
                                        void *stream)
{
    int e = hwq_h_check(k, m, nbatch);
    if (e)
        return e;
    if ((e = HWQ_SYM(cuda_quantize_acts)(x, k, nbatch, xi, sx, stream)))
        return e;
    if ((e = HWQ_SYM(cuda_rotate_acts)(xi, k, nbatch, xr, stream)))
        return e;
    if ((e = HWQ_SYM(cuda_wo_acc)(codes, ladder, k, m, xr, nbatch, acc, work, work_bytes, stream)))
        return e;
    double cst, rot_gain;
    hwq_cu_exact_consts(k, &cst, &rot_gain);
    const int64_t n = m * nbatch;
    hwq_k_epilogue<<<(unsigned)((n + 255) / 256), 256, 0, (cudaStream_t)stream>>>(acc, norms, sx, m, nbatch, cst,
                                                                                 rot_gain, y);
    return (int)cudaGetLastError();
}

/* Fast mode: x (B, K) fp16 -> y (M, B) fp32; scratch xr (B*K fp32) and work (cuda_work_bytes). */
extern "C" int HWQ_SYM(cuda_gemv_fast)(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k,
                                       int64_t m, const __half *x, int64_t nbatch, float *xr, float *y, void *work,
                                       int64_t work_bytes, void *stream)
{
    int e = hwq_h_check(k, m, nbatch);
    if (e)
        return e;
#if HWQ_TB_OK
    if (HWQ_SYM(cuda_path)(codes, ladder, k, m, nbatch)) {
        if (HWQ_TB_FUSED_ROT) /* the table kernel rotates its chunks itself: no rotation kernel */
            return hwq_tb_launch<false, HWQ_TB_FUSED_ROT>(codes, ladder, norms, k, m, x, nbatch, y, work, work_bytes,
                                                          (cudaStream_t)stream);
        hwq_k_rotate_h<<<dim3((unsigned)(k / HWQ_H), (unsigned)nbatch), 256, HWQ_H * sizeof(float),
                         (cudaStream_t)stream>>>(x, k, xr);
        return hwq_tb_launch<false, false>(codes, ladder, norms, k, m, xr, nbatch, y, work, work_bytes,
                                           (cudaStream_t)stream);
    }
#else
    (void)work;
    (void)work_bytes;
#endif
    hwq_k_rotate_h<<<dim3((unsigned)(k / HWQ_H), (unsigned)nbatch), 256, HWQ_H * sizeof(float),
                     (cudaStream_t)stream>>>(x, k, xr);
    for (int64_t j0 = 0; j0 < nbatch; j0 += HWQ_NBMAX) {
        const int64_t nbv = nbatch - j0 < HWQ_NBMAX ? nbatch - j0 : HWQ_NBMAX;
#define HWQ_L_FAST(NB)                                                                                       \
    hwq_k_fast<NB><<<HWQ_GRID(m), HWQ_THREADS, 0, (cudaStream_t)stream>>>(codes, ladder, norms, k, m, xr, nbatch, \
                                                                           j0, y)
        HWQ_DISPATCH_NB(nbv, HWQ_L_FAST)
#undef HWQ_L_FAST
    }
    return (int)cudaGetLastError();
}

extern "C" int HWQ_SYM(cuda_dequantize_f32)(const uint8_t *codes, const uint8_t *ladder, const float *norms,
                                            int64_t k, int64_t m, float *out, void *stream)
{
    int e = hwq_h_check(k, m, 1);
    if (e)
        return e;
    dim3 grid((unsigned)(k / HWQ_H), (unsigned)m);
    hwq_k_dequant<float><<<grid, 256, HWQ_H * sizeof(float), (cudaStream_t)stream>>>(codes, ladder, norms, k, out);
    return (int)cudaGetLastError();
}

extern "C" int HWQ_SYM(cuda_dequantize_f16)(const uint8_t *codes, const uint8_t *ladder, const float *norms,
                                            int64_t k, int64_t m, __half *out, void *stream)
{
    int e = hwq_h_check(k, m, 1);
    if (e)
        return e;
    dim3 grid((unsigned)(k / HWQ_H), (unsigned)m);
    hwq_k_dequant<__half><<<grid, 256, HWQ_H * sizeof(float), (cudaStream_t)stream>>>(codes, ladder, norms, k, out);
    return (int)cudaGetLastError();
}

#endif /* __CUDACC__ */

#endif /* HWQ_KERNELS_CUDA_CUH */
