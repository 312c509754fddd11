/*
 * hwq_cuda_hosttest.cuh -- host (CPU) driver of the per-thread logic of hwq_kernels_cuda.cuh.
 *
 * Not part of the generated library: tests/test_codegen_cuda_host.py compiles a three-line
 * translation unit with g++ (no GPU, no nvcc needed):
 *
 *     #include "<name>.cu"              (with -DHWQ_CONFIG_ONLY -DHWQ_TABLE_QUAL="static const")
 *     #include "hwq_kernels_cuda.cuh"   (part 1 only: __CUDACC__ is not defined)
 *     #include "hwq_cuda_hosttest.cuh"
 *
 * and runs it on raw little-endian files written by the test.  The program replays, thread by
 * thread and in the kernels' order, the work of the device kernels using the SAME functions they
 * call (hwq_cu_*): the table path (table build, byte/ladder rotation, swizzled lookups, int32-group
 * exact sums, 4-lane butterfly order, per-chunk and per-group sums of the launch plan of a GPU with
 * NSM SMs), the generic path (per-block decode, int64 block sums, 32-lane shuffle-down order,
 * epilogues) and the generic both-quantized (LUT) kernel.  What it cannot replay: the CUDA runtime (launch configuration, shared-memory
 * allocation, __syncthreads, real shuffles and their convergence, memory alignment faults) --
 * those need the GPU run of hwq.codegen.gpu_bench.
 *
 * Usage:  prog tab  DIR K M B NSM MAXNB       -> DIR/acc.bin int64 (M,B), DIR/yf.bin float (M,B)
 *         prog tabrot ...  (same; fast mode from fp16 x16.bin through the kernel's fused rotation)
 *         prog gen  DIR K M B                  -> DIR/acc.bin int64 (M,B), DIR/y.bin double (M,B),
 *                                                 DIR/yf.bin float (M,B)
 *         prog unit                           (rotations, swizzle banks, plan coverage)
 *         prog lut  DIR K M B                  -> DIR/acc.bin int64 (M,B)  (rx.bin, tx.bin: activation codes)
 *         prog h2f DIR                        (fp16 -> float of all 65536 bit patterns)
 * Inputs in DIR: codes.bin, ladder.bin (container layout), norms.bin float (M), xr.bin int32 (B,K),
 * xf.bin float (B,K), sx.bin double (B) (gen only).  Exit status 0 = ran, 2 = bad usage/input,
 * 3 = a unit property failed (message on stderr).
 */
#ifndef HWQ_CUDA_HOSTTEST_CUH
#define HWQ_CUDA_HOSTTEST_CUH

#include <stdio.h>
#include <stdlib.h>
#include <vector>

static std::vector<unsigned char> ht_read(const char *dir, const char *name, size_t want)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    std::vector<unsigned char> buf(want);
    FILE *f = fopen(path, "rb");
    if (!f || (want && fread(buf.data(), 1, want, f) != want)) {
        fprintf(stderr, "cannot read %zu bytes from %s\n", want, path);
        exit(2);
    }
    fclose(f);
    return buf;
}

static void ht_write(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

static int ht_fail(const char *what)
{
    fprintf(stderr, "FAIL: %s\n", what);
    return 3;
}

/* rotations against a byte-by-byte model, swizzle bank property, plan coverage */
static int ht_unit(void)
{
    uint32_t seed = 12345u;
    for (int trial = 0; trial < 200; trial++) {
        unsigned char in[16], out[16];
        for (int i = 0; i < 16; i++) {
            seed = hwq_fmix32(seed + 1u);
            in[i] = (unsigned char)seed;
        }
        hwq_w4 v;
        memcpy(&v, in, 16);
        for (uint32_t c = 0; c < 16; c++) {
            hwq_w4 r = hwq_cu_rot_bytes(v, c);
            memcpy(out, &r, 16);
            for (int j = 0; j < 16; j++) {
                if (out[j] != in[(j + c) & 15u])
                    return ht_fail("hwq_cu_rot_bytes");
                const uint32_t ob = (seed >> (j + 3)) & 0xfcu;
                if (hwq_cu_byte(r, j) != in[(j + c) & 15u] || hwq_cu_row_off(r, j, ob) != 256u * in[(j + c) & 15u] + ob)
                    return ht_fail("hwq_cu_byte / hwq_cu_row_off");
            }
#if HWQ_LB > 0
            uint32_t lad = seed & (HWQ_LB == 2 ? 0xffffffffu : 0xffffu);
            uint32_t rl = hwq_cu_rot_ladder(lad, c);
            for (int j = 0; j < 16; j++)
                if (hwq_cu_field(rl, j) != hwq_cu_field(lad, (int)((j + c) & 15u)))
                    return ht_fail("hwq_cu_rot_ladder");
            for (int j = 0; j < 8; j++) {
                const uint32_t po = hwq_cu_pair_off(rl, j);
                if (po % 8u || po / 8u >= (uint32_t)HWQ_TB_PAIRS || hwq_cu_pair_t0(po / 8u) != hwq_cu_field(rl, 2 * j) ||
                    hwq_cu_pair_t1(po / 8u) != hwq_cu_field(rl, 2 * j + 1))
                    return ht_fail("hwq_cu_pair_off");
            }
#endif
        }
    }
    /* the swizzle is a permutation of the 64 words of a row ... */
    int seen[64] = {0};
    for (uint32_t b = 0; b < 64; b++)
        seen[hwq_cu_swz(b)]++;
    for (int b = 0; b < 64; b++)
        if (seen[b] != 1)
            return ht_fail("hwq_cu_swz is not a permutation of 0..63");
    /* ... and the 32 lanes of a warp hit 32 distinct banks at every step (any codeword rows r, since
     * a row is 64 words = 2 x 32 banks) */
    for (int i = 0; i < HWQ_TB_LANE_BLOCKS; i++) {
        int bank[32] = {0};
        for (uint32_t lane = 0; lane < 32; lane++) {
            uint32_t off[HWQ_TB_LANE_BLOCKS];
            hwq_cu_lane_offsets(lane >> 2, lane & 3u, off);
            if (off[i] >= 256u || off[i] % 4u)
                return ht_fail("lane byte offset outside the 64-word row");
            bank[(off[i] / 4u) & 31u]++;
        }
        for (int k = 0; k < 32; k++)
            if (bank[k] != 1)
                return ht_fail("table lookups of one warp step share a bank");
    }
    /* each lane (c, s) visits each block of its 16-block group exactly once */
    for (uint32_t lane = 0; lane < 32; lane++) {
        int hit[16] = {0};
        for (uint32_t i = 0; i < 16; i++)
            hit[(i + (lane >> 2)) & 15u]++;
        for (int j = 0; j < 16; j++)
            if (hit[j] != 1)
                return ht_fail("lane block order");
    }
    /* plan: every (chunk, column) in exactly one thread block, one wave of the blocks per SM it is
     * planned for, and batch-1 tables within sm_80's shared memory */
    const int64_t nbs[] = {16, 64, 80, 1408, 2752, 4800, 100000};
    const int64_t ms[] = {1, 7, 61, 4096, 14336, 28672, 100000};
    const int64_t nsms[] = {1, 3, 108, 132};
    const int nbvs[] = {1, 2, 4};
    for (int nbv : nbvs)
        for (int64_t nb : nbs)
            for (int64_t m : ms)
                for (int64_t nsm : nsms) {
                    const hwq_tb_plan p = hwq_cu_plan(nb, m, nsm, nbv);
                    const int64_t cap = HWQ_TB_MAX_CPC / nbv;
                    if (p.cpc % 8 || p.cpc < 8 || (p.cpg > 1 && p.cpc > cap) || p.cpg < 1)
                        return ht_fail("plan: columns per block");
                    if (p.groups * p.cpg < p.nchunks || (p.groups - 1) * p.cpg >= p.nchunks)
                        return ht_fail("plan: chunk groups do not tile the chunks");
                    if (p.cgroups * p.cpc < m || (p.cgroups - 1) * p.cpc >= m)
                        return ht_fail("plan: column groups do not tile the columns");
                    if (p.groups > 65535 || p.cgroups > 2147483647LL)
                        return ht_fail("plan: grid too large");
                    if (nbv == 1 && hwq_cu_tab_smem(p, 1, 8, 8) > 160 * 1024)
                        return ht_fail("plan: shared memory beyond sm_80's 163 KB");
                    if (p.groups * p.cgroups > HWQ_TB_PER_SM(nbv) * nsm && !(p.cpg > 1 && p.cpc == cap) && p.cpc > 8)
                        return ht_fail("plan: more than one wave");
                }
    printf("unit ok\n");
    return 0;
}

#if HWQ_TB_OK
/* one pass of NB vectors of the table path, replayed thread by thread in the device order */
template <int NB>
static void ht_tab_pass(const std::vector<unsigned char> &codes, const std::vector<unsigned char> &lad,
                        const int32_t *xr, const float *xf, const uint16_t *x16, const float *norms, int64_t k,
                        int64_t m, int64_t nsm, int64_t nbatch, int64_t j0, int64_t *acc, float *yf)
{
    const int64_t nb = k / HWQ_D, lstride = nb * HWQ_LB / 8;
    const hwq_tb_plan pl = hwq_cu_plan(nb, m, nsm, NB);
    std::vector<int32_t> Pi((size_t)NB * HWQ_NC * 64);
    std::vector<float> Pf((size_t)NB * HWQ_NC * 64);
    hwq_i2 mt[HWQ_TB_PAIRS]; /* the pair tables of the kernel */
    hwq_f2 bt[HWQ_TB_PAIRS];
    for (uint32_t p = 0; p < (uint32_t)HWQ_TB_PAIRS; p++) {
        const uint32_t t0 = hwq_cu_pair_t0(p), t1 = hwq_cu_pair_t1(p);
        mt[p].x = t0 < HWQ_L ? hwq_mults[t0] : 0;
        mt[p].y = t1 < HWQ_L ? hwq_mults[t1] : 0;
        bt[p].x = t0 < HWQ_L ? hwq_cu_beta_f(hwq_betas[t0]) : 0.0f;
        bt[p].y = t1 < HWQ_L ? hwq_cu_beta_f(hwq_betas[t1]) : 0.0f;
    }
    std::vector<int64_t> part_i((size_t)(pl.groups * m * NB));
    std::vector<float> part_f((size_t)(pl.groups * m * NB));
    for (int64_t g = 0; g < pl.groups; g++) {
        for (int64_t cg = 0; cg < pl.cgroups; cg++) {
            const int64_t c0 = cg * pl.cpc, c1 = c0 + pl.cpc < m ? c0 + pl.cpc : m;
            const int64_t k0 = g * pl.cpg, k1 = k0 + pl.cpg < pl.nchunks ? k0 + pl.cpg : pl.nchunks;
            std::vector<int64_t> acc_i((size_t)((c1 - c0) * NB), 0);
            std::vector<float> acc_f((size_t)((c1 - c0) * NB), 0.0f);
            for (int64_t ch = k0; ch < k1; ch++) {
                std::vector<float> xs((size_t)NB * HWQ_TB_ROWS);
                if (x16) { /* the fused rotation of the fast kernel (ROT), same steps */
                    for (int e = 0; e < NB * HWQ_TB_ROWS; e++) {
                        const int j = e / HWQ_TB_ROWS;
                        const int64_t row = ch * HWQ_TB_ROWS + e % HWQ_TB_ROWS;
                        xs[(size_t)e] = row < k ? (float)hwq_sign(HWQ_SIGN_SEED, (uint32_t)row) *
                                                      hwq_cu_h2f(x16[(j0 + j) * k + row])
                                                : 0.0f;
                    }
                    for (int mm = 1; mm < HWQ_H; mm *= 2)
                        for (int p = 0; p < NB * HWQ_TB_ROWS / 2; p++)
                            hwq_cu_fwht_step(xs.data(), p, mm);
                }
                const float g = hwq_cu_rot_scale();
                for (uint32_t b = 0; b < 64; b++) { /* table build (thread tid has b = tid & 63) */
                    const int64_t gb = ch * 64 + b;
                    for (int j = 0; j < NB; j++) {
                        int32_t xi[HWQ_D];
                        float xfl[HWQ_D];
                        for (int i = 0; i < HWQ_D; i++) {
                            xi[i] = gb < nb ? xr[(j0 + j) * k + gb * HWQ_D + i] : 0;
                            xfl[i] = x16 ? xs[(size_t)(j * HWQ_TB_ROWS + b * HWQ_D + i)] * g
                                         : (gb < nb ? xf[(j0 + j) * k + gb * HWQ_D + i] : 0.0f);
                        }
                        for (uint32_t r = 0; r < HWQ_NC; r++) {
                            const size_t at = (size_t)j * HWQ_NC * 64 + (r << 6) + hwq_cu_swz(b);
                            Pi[at] = gb < nb ? hwq_cu_entry_i(hwq_codebook + r * HWQ_D, xi) : 0;
                            Pf[at] = gb < nb ? hwq_cu_entry_f(hwq_codebook + r * HWQ_D, xfl) : 0.0f;
                        }
                    }
                }
                for (int64_t col = c0; col < c1; col++) {
                    const uint32_t c = (uint32_t)(col - c0) & 7u; /* lane >> 2 */
                    int64_t vi[4][NB];
                    float vf[4][NB];
                    for (uint32_t s = 0; s < 4; s++) {
                        uint32_t off[HWQ_TB_LANE_BLOCKS];
                        hwq_cu_lane_offsets(c, s, off);
                        const int64_t g16 = ch * 4 + s;
                        hwq_w4 w = {0u, 0u, 0u, 0u};
                        uint32_t l = 0u;
                        if (g16 * HWQ_TB_LANE_BLOCKS < nb) {
                            memcpy(&w, codes.data() + col * nb + g16 * 16, 16);
                            if (HWQ_LB > 0)
                                memcpy(&l, lad.data() + col * lstride + g16 * 2 * HWQ_LB, 2 * HWQ_LB);
                        }
                        hwq_cu_lane_i<NB>((const unsigned char *)Pi.data(), (const unsigned char *)mt, w, l, c, off,
                                          vi[s]);
                        hwq_cu_lane_f<NB>((const unsigned char *)Pf.data(), (const unsigned char *)bt, w, l, c, off,
                                          vf[s]);
                    }
                    for (int j = 0; j < NB; j++) {
                        acc_i[(size_t)((col - c0) * NB + j)] += hwq_cu_quad(vi[0][j], vi[1][j], vi[2][j], vi[3][j]);
                        acc_f[(size_t)((col - c0) * NB + j)] += hwq_cu_quad(vf[0][j], vf[1][j], vf[2][j], vf[3][j]);
                    }
                }
            }
            for (int64_t i = 0; i < (c1 - c0) * NB; i++) {
                part_i[(size_t)((g * m + c0) * NB + i)] = acc_i[(size_t)i];
                part_f[(size_t)((g * m + c0) * NB + i)] = acc_f[(size_t)i];
            }
        }
    }
    for (int64_t col = 0; col < m; col++) /* hwq_k_tab_reduce_i / _f */
        for (int j = 0; j < NB; j++) {
            int64_t si = 0;
            float sf = 0.0f;
            for (int64_t g = 0; g < pl.groups; g++) {
                si += part_i[(size_t)((g * m + col) * NB + j)];
                sf += part_f[(size_t)((g * m + col) * NB + j)];
            }
            acc[col * nbatch + j0 + j] = si;
            yf[col * nbatch + j0 + j] = hwq_cu_fast_out(sf, norms[col], k);
        }
}

/* the table path over a batch: passes of 4, 2, 1 vectors (at most maxnb), as hwq_tb_launch */
static int ht_tab(const char *dir, int64_t k, int64_t m, int64_t nbatch, int64_t nsm, int64_t maxnb, int rot)
{
    if (rot && !HWQ_TB_FUSED_ROT)
        return 2;
    if (k % HWQ_D || (k / HWQ_D) % HWQ_TB_LANE_BLOCKS)
        return 2;
    const int64_t nb = k / HWQ_D, lstride = nb * HWQ_LB / 8;
    std::vector<unsigned char> codes = ht_read(dir, "codes.bin", (size_t)(m * nb));
    std::vector<unsigned char> lad = ht_read(dir, "ladder.bin", (size_t)(m * lstride));
    std::vector<unsigned char> nr = ht_read(dir, "norms.bin", (size_t)m * 4);
    std::vector<unsigned char> xrb = ht_read(dir, "xr.bin", (size_t)(nbatch * k) * 4);
    std::vector<unsigned char> xfb = ht_read(dir, "xf.bin", (size_t)(nbatch * k) * 4);
    const int32_t *xr = (const int32_t *)xrb.data();
    const float *xf = (const float *)xfb.data();
    const float *norms = (const float *)nr.data();
    std::vector<unsigned char> x16b;
    if (rot)
        x16b = ht_read(dir, "x16.bin", (size_t)(nbatch * k) * 2);
    const uint16_t *x16 = rot ? (const uint16_t *)x16b.data() : 0;
    std::vector<int64_t> acc((size_t)(m * nbatch));
    std::vector<float> yf((size_t)(m * nbatch));
    for (int64_t j0 = 0; j0 < nbatch;) {
        const int64_t rem = nbatch - j0;
        if (rem >= 4 && maxnb >= 4) {
            ht_tab_pass<4>(codes, lad, xr, xf, x16, norms, k, m, nsm, nbatch, j0, acc.data(), yf.data());
            j0 += 4;
        } else if (rem >= 2 && maxnb >= 2) {
            ht_tab_pass<2>(codes, lad, xr, xf, x16, norms, k, m, nsm, nbatch, j0, acc.data(), yf.data());
            j0 += 2;
        } else {
            ht_tab_pass<1>(codes, lad, xr, xf, x16, norms, k, m, nsm, nbatch, j0, acc.data(), yf.data());
            j0 += 1;
        }
    }
    ht_write(dir, "acc.bin", acc.data(), acc.size() * 8);
    ht_write(dir, "yf.bin", yf.data(), yf.size() * 4);
    printf("tab ok\n");
    return 0;
}
#endif

/* the generic kernels (hwq_k_wo / hwq_k_fast + epilogue), replayed lane by lane */
static int ht_gen(const char *dir, int64_t k, int64_t m, int64_t nbatch)
{
    if (k % HWQ_D)
        return 2;
    const int64_t nb = k / HWQ_D, cstride = (nb * HWQ_CB + 7) / 8, lstride = (nb * HWQ_LB + 7) / 8;
    std::vector<unsigned char> codes = ht_read(dir, "codes.bin", (size_t)(m * cstride));
    std::vector<unsigned char> lad = ht_read(dir, "ladder.bin", (size_t)(m * lstride));
    std::vector<unsigned char> nr = ht_read(dir, "norms.bin", (size_t)m * 4);
    std::vector<unsigned char> xrb = ht_read(dir, "xr.bin", (size_t)(nbatch * k) * 4);
    std::vector<unsigned char> xfb = ht_read(dir, "xf.bin", (size_t)(nbatch * k) * 4);
    std::vector<unsigned char> sxb = ht_read(dir, "sx.bin", (size_t)nbatch * 8);
    const int32_t *xr = (const int32_t *)xrb.data();
    const float *xf = (const float *)xfb.data();
    const float *norms = (const float *)nr.data();
    const double *sx = (const double *)sxb.data();
#if HWQ_ROM
    const HWQ_CB_T *cbp = hwq_codebook;
#else
    const int8_t *cbp = 0;
#endif
    std::vector<float> bts(HWQ_L);
    for (int t = 0; t < HWQ_L; t++)
        bts[(size_t)t] = hwq_cu_beta_f(hwq_betas[t]);
    double cst, rot_gain;
    hwq_cu_exact_consts(k, &cst, &rot_gain);
    std::vector<int64_t> acc((size_t)(m * nbatch));
    std::vector<double> y((size_t)(m * nbatch));
    std::vector<float> yf((size_t)(m * nbatch));
    for (int64_t col = 0; col < m; col++) {
        const uint8_t *crow = codes.data() + col * cstride;
        const uint8_t *lrow = lad.data() + col * lstride;
        for (int64_t j = 0; j < nbatch; j++) {
            int64_t ai[32];
            float af[32];
            for (int lane = 0; lane < 32; lane++) {
                ai[lane] = 0;
                af[lane] = 0.0f;
                for (int64_t b = lane; b < nb; b += 32) {
                    int32_t c[HWQ_D];
                    hwq_cu_decode(hwq_cu_code_at(crow, b), cbp, c);
                    const uint32_t t = hwq_cu_t_at(lrow, b);
                    if (t >= HWQ_L) {
                        fprintf(stderr, "ladder index %u out of range\n", t);
                        return 2;
                    }
                    ai[lane] += hwq_cu_block_i(c, xr + j * k + b * HWQ_D, hwq_mults[t]);
                    af[lane] = hwq_cu_block_f(c, xf + j * k + b * HWQ_D, bts[t], af[lane]);
                }
            }
            const int64_t a = hwq_cu_warp_order(ai);
            acc[(size_t)(col * nbatch + j)] = a;
            y[(size_t)(col * nbatch + j)] = hwq_cu_epilogue(a, norms[col], sx[j], cst, rot_gain);
            yf[(size_t)(col * nbatch + j)] = hwq_cu_fast_out(hwq_cu_warp_order(af), norms[col], k);
        }
    }
    ht_write(dir, "acc.bin", acc.data(), acc.size() * 8);
    ht_write(dir, "y.bin", y.data(), y.size() * 8);
    ht_write(dir, "yf.bin", yf.data(), yf.size() * 4);
    printf("gen ok\n");
    return 0;
}

/* the generic LUT kernel (hwq_k_lut), replayed lane by lane: rx.bin int32 (B, nb), tx.bin uint8 (B, nb) */
static int ht_lut(const char *dir, int64_t k, int64_t m, int64_t nbatch)
{
    if (k % HWQ_D)
        return 2;
    const int64_t nb = k / HWQ_D, cstride = (nb * HWQ_CB + 7) / 8, lstride = (nb * HWQ_LB + 7) / 8;
    std::vector<unsigned char> codes = ht_read(dir, "codes.bin", (size_t)(m * cstride));
    std::vector<unsigned char> lad = ht_read(dir, "ladder.bin", (size_t)(m * lstride));
    std::vector<unsigned char> rxb = ht_read(dir, "rx.bin", (size_t)(nbatch * nb) * 4);
    std::vector<unsigned char> tx = ht_read(dir, "tx.bin", (size_t)(nbatch * nb));
    const int32_t *rx = (const int32_t *)rxb.data();
#if HWQ_ROM
    const HWQ_CB_T *cbp = hwq_codebook;
#else
    const int8_t *cbp = 0;
#endif
    std::vector<int64_t> acc((size_t)(m * nbatch));
    for (int64_t col = 0; col < m; col++) {
        const uint8_t *crow = codes.data() + col * cstride;
        const uint8_t *lrow = lad.data() + col * lstride;
        for (int64_t j = 0; j < nbatch; j++) {
            int64_t a[32];
            for (int lane = 0; lane < 32; lane++) {
                a[lane] = 0;
                for (int64_t b = lane; b < nb; b += 32) {
                    const uint32_t rw = hwq_cu_code_at(crow, b), r = (uint32_t)rx[j * nb + b];
                    const int32_t mw = hwq_mults[hwq_cu_t_at(lrow, b)];
#if HWQ_HAS_LUT
                    (void)cbp;
                    const int64_t ip = hwq_cu_lut_ip(rw, r);
#else
                    int32_t cw[HWQ_D];
                    hwq_cu_decode(rw, cbp, cw);
                    const int64_t ip = hwq_cu_code_ip(cw, r, cbp);
#endif
                    a[lane] += hwq_cu_lut_term(mw, hwq_mults[tx[(size_t)(j * nb + b)]], ip);
                }
            }
            acc[(size_t)(col * nbatch + j)] = hwq_cu_warp_order(a);
        }
    }
    ht_write(dir, "acc.bin", acc.data(), acc.size() * 8);
    printf("lut ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "unit"))
        return ht_unit();
    if (argc >= 6 && !strcmp(argv[1], "lut"))
        return ht_lut(argv[2], atoll(argv[3]), atoll(argv[4]), atoll(argv[5]));
    if (argc >= 6 && !strcmp(argv[1], "gen"))
        return ht_gen(argv[2], atoll(argv[3]), atoll(argv[4]), atoll(argv[5]));
#if HWQ_TB_OK
    if (argc >= 8 && (!strcmp(argv[1], "tab") || !strcmp(argv[1], "tabrot")))
        return ht_tab(argv[2], atoll(argv[3]), atoll(argv[4]), atoll(argv[5]), atoll(argv[6]), atoll(argv[7]),
                      !strcmp(argv[1], "tabrot"));
#endif
    if (argc >= 3 && !strcmp(argv[1], "h2f")) { /* all 65536 fp16 bit patterns -> DIR/h2f.bin float */
        std::vector<float> out(65536);
        for (uint32_t u = 0; u < 65536u; u++)
            out[u] = hwq_cu_h2f((uint16_t)u);
        ht_write(argv[2], "h2f.bin", out.data(), out.size() * 4);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "has_tab"))
        return HWQ_TB_OK ? 0 : 1;
    fprintf(stderr, "usage: %s unit | gen|lut DIR K M B | tab|tabrot DIR K M B NSM MAXNB | h2f DIR | has_tab\n",
            argv[0]);
    return 2;
}

#endif /* HWQ_CUDA_HOSTTEST_CUH */
