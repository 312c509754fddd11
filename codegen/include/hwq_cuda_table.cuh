/*
 * hwq_cuda_table.cuh -- the CUDA table path (ROM configs with byte codes; see hwq_kernels_cuda.cuh for the
 * scheme): per chunk of 64 blocks the table P[r][b] = <c_r, x_b> in shared memory, 4 lanes per column,
 * and the kernel that adds the per-group partials in group order.  Included by hwq_kernels_cuda.cuh (device
 * code, after hwq_warp_sum and the activation kernels); empty unless HWQ_TB_OK.
 */
#ifndef HWQ_CUDA_TABLE_CUH
#define HWQ_CUDA_TABLE_CUH

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

#endif /* HWQ_CUDA_TABLE_CUH */
