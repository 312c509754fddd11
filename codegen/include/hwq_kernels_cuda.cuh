/*
 * hwq_kernels_cuda.cuh -- hand-written CUDA kernels of the hwq datapath (included by a generated
 * <slug>.cu after the HWQ_* configuration macros and the __device__ tables).
 *
 * Two parts:
 *
 * 1. PORTABLE per-thread logic (hwq_cuda_lane.cuh): bit unpacking of the packed codes / ladder indices,
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

/* part 1: portable per-thread logic */
#include "hwq_cuda_lane.cuh"

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

#include "hwq_cuda_table.cuh" /* table path (batch 1) */

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
