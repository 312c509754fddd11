/*
 * hwq_kernels_cuda.cuh -- hand-written CUDA kernels of the hwq datapath (included by a generated
 * <slug>.cu after the HWQ_* configuration macros and the __device__ tables).
 *
 * Host launchers are extern "C" and take DEVICE pointers (allocate with torch/CuPy and pass
 * data_ptr()), plus a cudaStream_t as void* (NULL = legacy default stream).  They return the CUDA
 * error code of the launch (0 = ok) or 1000 + an hwq error (1 block size, 2 Hadamard size, 3 max_k,
 * 4 sizes).  Layouts equal the C library: codes (M, ceil(nb*CB/8)), ladder (M, ceil(nb*LB/8)),
 * activations (B, K), outputs (M, B), dequantized (M, K).
 *
 * Weight-only / LUT GEMV: one warp per output column; lane l takes blocks l, l+32, ... (consecutive
 * lanes read consecutive packed bytes: coalesced); decode from the rendered codebook (__ldg, L1
 * resident) or arithmetically (E8); int64 accumulators (exact mode) or fp32 (fast mode); warp
 * shuffle reduction; batch in chunks of up to 8 vectors per pass (registers).
 */
#ifndef HWQ_KERNELS_CUDA_CUH
#define HWQ_KERNELS_CUDA_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#define HWQ_WARPS 8
#define HWQ_NBMAX 8

static __device__ __forceinline__ uint32_t hwq_d_code(const uint8_t *crow, int64_t b)
{
#if HWQ_CB == 8
    return (uint32_t)__ldg(crow + b);
#else
    return (uint32_t)hwq_get_bits(crow, b * HWQ_CB, HWQ_CB);
#endif
}

static __device__ __forceinline__ uint32_t hwq_d_t(const uint8_t *lrow, int64_t b)
{
#if HWQ_LB == 0
    return 0u;
#elif HWQ_LB == 2
    return ((uint32_t)__ldg(lrow + (b >> 2)) >> (2 * (b & 3))) & 3u;
#else
    return (uint32_t)hwq_get_bits(lrow, b * HWQ_LB, HWQ_LB);
#endif
}

#define HWQ_DECODE_QUAL static __device__ __forceinline__
#include "hwq_decode.h"

static __device__ __forceinline__ void hwq_d_decode(uint64_t r, int32_t *c)
{
#if HWQ_ROM
    for (int i = 0; i < HWQ_D; i++)
        c[i] = (int32_t)hwq_codebook[r * HWQ_D + i];
#else
    int64_t c64[HWQ_D];
    hwq_arith_decode(r, c64);
    for (int i = 0; i < HWQ_D; i++)
        c[i] = (int32_t)c64[i];
#endif
}

template <typename T> static __device__ __forceinline__ T hwq_warp_sum(T v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

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
    const float g = rsqrtf((float)HWQ_H);
    for (int i = threadIdx.x; i < HWQ_H; i += blockDim.x)
        xr[base + i] = sh_f[i] * g;
}

/* ---------------------------------------------------------------------------------------------- */
/* GEMV kernels                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

template <int NB>
__global__ void __launch_bounds__(32 * HWQ_WARPS) hwq_k_wo(const uint8_t *__restrict__ codes,
                                                          const uint8_t *__restrict__ ladder, int64_t k,
                                                          int64_t m, const int32_t *__restrict__ xr,
                                                          int64_t nbatch, int64_t j0, int64_t *__restrict__ acc)
{
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
        int32_t c[HWQ_D];
        hwq_d_decode(hwq_d_code(crow, b), c);
        const long long mt = hwq_mults[hwq_d_t(lrow, b)];
        for (int j = 0; j < NB; j++) {
            const int32_t *xs = xr + (j0 + j) * k + b * HWQ_D;
            long long dot = 0;
            for (int i = 0; i < HWQ_D; i++)
                dot += (long long)c[i] * __ldg(xs + i);
            a[j] += mt * dot;
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
        const uint32_t rw = hwq_d_code(crow, b);
        const long long mw = hwq_mults[hwq_d_t(lrow, b)];
#if !HWQ_HAS_LUT
        int32_t cw[HWQ_D];
        hwq_d_decode(rw, cw);
#endif
        for (int j = 0; j < NB; j++) {
            const int64_t o = (j0 + j) * nb + b;
            const int32_t r = __ldg(rx + o);
#if HWQ_HAS_LUT
            const long long ip = (long long)hwq_lut[(int64_t)r * HWQ_NC + rw];
#else
            int32_t cx[HWQ_D];
            hwq_d_decode((uint64_t)r, cx);
            long long ip = 0;
            for (int i = 0; i < HWQ_D; i++)
                ip += (long long)cw[i] * cx[i];
            ip /= (HWQ_CS * HWQ_CS);
#endif
            a[j] += mw * (long long)hwq_mults[__ldg(tx + o)] * ip;
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
        hwq_d_decode(hwq_d_code(crow, b), c);
        const float bt = (float)(hwq_betas[hwq_d_t(lrow, b)] / HWQ_CS);
        for (int j = 0; j < NB; j++) {
            const float *xs = xr + (j0 + j) * k + b * HWQ_D;
            float dot = 0.0f;
            for (int i = 0; i < HWQ_D; i++)
                dot += (float)c[i] * __ldg(xs + i);
            a[j] += bt * dot;
        }
    }
    const float sc = norms[col] * rsqrtf((float)k);
    for (int j = 0; j < NB; j++) {
        const float s = hwq_warp_sum(a[j]);
        if (lane == 0)
            y[col * nbatch + j0 + j] = s * sc;
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
    const double ws = __dmul_rn((double)norms[mm], cst);
    y[i] = __dmul_rn(__dmul_rn(__dmul_rn((double)acc[i], ws), sx[j]), rot_gain);
}

/* One block per (segment, column): decode, inverse rotation, scale; fp32 or fp16 out (M, K). */
template <typename OUT>
__global__ void hwq_k_dequant(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k,
                              OUT *out)
{
    extern __shared__ float sh_d[];
    const int64_t seg = blockIdx.x, col = blockIdx.y, nb = k / HWQ_D;
    const uint8_t *crow = codes + col * ((nb * HWQ_CB + 7) / 8);
    const uint8_t *lrow = ladder + col * ((nb * HWQ_LB + 7) / 8);
    for (int i = threadIdx.x; i < HWQ_H; i += blockDim.x) {
        const int64_t row = seg * HWQ_H + i, b = row / HWQ_D;
        int32_t c[HWQ_D];
        hwq_d_decode(hwq_d_code(crow, b), c);
        sh_d[i] = (float)hwq_betas[hwq_d_t(lrow, b)] * ((float)c[row % HWQ_D] / (float)HWQ_CS);
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

#define HWQ_THREADS 256
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

extern "C" int HWQ_SYM(cuda_wo_acc)(const uint8_t *codes, const uint8_t *ladder, int64_t k, int64_t m,
                                    const int32_t *xr, int64_t nbatch, int64_t *acc, void *stream)
{
    int e = hwq_h_check(k, m, nbatch);
    if (e)
        return e;
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
 * Scratch: xi (B*K int8), xr (B*K int32), sx (B double), all device memory supplied by the caller. */
extern "C" int HWQ_SYM(cuda_gemv_exact)(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k,
                                        int64_t m, const double *x, int64_t nbatch, int8_t *xi, int32_t *xr,
                                        double *sx, int64_t *acc, double *y, void *stream)
{
    int e = hwq_h_check(k, m, nbatch);
    if (e)
        return e;
    if ((e = HWQ_SYM(cuda_quantize_acts)(x, k, nbatch, xi, sx, stream)))
        return e;
    if ((e = HWQ_SYM(cuda_rotate_acts)(xi, k, nbatch, xr, stream)))
        return e;
    if ((e = HWQ_SYM(cuda_wo_acc)(codes, ladder, k, m, xr, nbatch, acc, stream)))
        return e;
    const double cst = HWQ_BETA0 / ((double)((int64_t)(1 << HWQ_FRAC_BITS) * HWQ_CS) * sqrt((double)k));
    const double rot_gain = 1.0 / sqrt((double)HWQ_H);
    const int64_t n = m * nbatch;
    hwq_k_epilogue<<<(unsigned)((n + 255) / 256), 256, 0, (cudaStream_t)stream>>>(acc, norms, sx, m, nbatch, cst,
                                                                                 rot_gain, y);
    return (int)cudaGetLastError();
}

/* Fast mode: x (B, K) fp16 -> y (M, B) fp32; scratch xr (B*K fp32). */
extern "C" int HWQ_SYM(cuda_gemv_fast)(const uint8_t *codes, const uint8_t *ladder, const float *norms, int64_t k,
                                       int64_t m, const __half *x, int64_t nbatch, float *xr, float *y, void *stream)
{
    int e = hwq_h_check(k, m, nbatch);
    if (e)
        return e;
    dim3 grid((unsigned)(k / HWQ_H), (unsigned)nbatch);
    hwq_k_rotate_h<<<grid, 256, HWQ_H * sizeof(float), (cudaStream_t)stream>>>(x, k, xr);
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

#endif /* HWQ_KERNELS_CUDA_CUH */
