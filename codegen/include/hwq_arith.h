/*
 * hwq_arith.h -- hand-written integer arithmetic shared by every generated hwq C library.
 *
 * Nothing here depends on a configuration: the generated <slug>.c defines the HWQ_* macros and
 * tables and includes this header (then hwq_kernels_c.h).  Every function reproduces a function of
 * the Python reference model bit for bit:
 *
 *   hwq_fmix32 / hwq_hash32_*   hwq.prng.fmix32 / hash32 (murmur3 fmix32 chain, uint32 wrap-around)
 *   hwq_sign                    hwq.prng.hadamard_signs (row i -> +1 / -1)
 *   hwq_get_bits                hwq.packing.unpack_bits (LSB-first little-endian bit stream)
 *   hwq_fwht_i32 / _f64 / _f32  hwq.hadamard.fwht (unnormalised Sylvester, segments of h)
 *   hwq_closest_*_rational      hwq.lattice closest_rational (Z, D_n, E8; SPEC section 2 ties)
 *   hwq_floor_div               Python's // on int64
 *
 * C99; no allocation; no global state.
 */
#ifndef HWQ_ARITH_H
#define HWQ_ARITH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define HWQ_HD __host__ __device__
#else
#define HWQ_HD
#endif

#define HWQ_SEED_XOR 0x9E3779B9u
#define HWQ_WORD_MUL 0x9E3779B1u
#define HWQ_STREAM_SIGN 2u

static inline HWQ_HD uint32_t hwq_fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

static inline HWQ_HD uint32_t hwq_hash32_2(uint32_t seed, uint32_t w0, uint32_t w1)
{
    uint32_t h = hwq_fmix32(seed ^ HWQ_SEED_XOR);
    h = hwq_fmix32(h ^ (w0 * HWQ_WORD_MUL));
    h = hwq_fmix32(h ^ (w1 * HWQ_WORD_MUL));
    return h;
}

/* Hadamard sign of row i: +1 if hash32(seed, 2, i) >> 31 == 0 else -1. */
static inline HWQ_HD int32_t hwq_sign(uint32_t seed, uint32_t row)
{
    return (hwq_hash32_2(seed, HWQ_STREAM_SIGN, row) >> 31) ? -1 : 1;
}

/* Value i of width w (0..62) of a packed column starting at p: bits [bitpos, bitpos + w). */
static inline HWQ_HD uint64_t hwq_get_bits(const uint8_t *p, int64_t bitpos, int w)
{
    uint64_t v = 0;
    int got = 0;
    int64_t byte = bitpos >> 3;
    int off = (int)(bitpos & 7);
    while (got < w) {
        uint64_t b = (uint64_t)(p[byte] >> off);
        int take = 8 - off;
        v |= b << got;
        got += take;
        byte++;
        off = 0;
    }
    if (w < 64)
        v &= (((uint64_t)1) << w) - 1u;
    return v;
}

/* Python floor division for int64 (den > 0). */
static inline HWQ_HD int64_t hwq_floor_div(int64_t num, int64_t den)
{
    int64_t q = num / den;
    if ((num % den) != 0 && num < 0)
        q -= 1;
    return q;
}

/* rnd(num / den) = floor((2 num + den) / (2 den)). */
static inline HWQ_HD int64_t hwq_rnd_rational(int64_t num, int64_t den)
{
    return hwq_floor_div(2 * num + den, 2 * den);
}

/* Z^d: coordinate-wise rnd. */
static inline HWQ_HD void hwq_closest_z_rational(const int64_t *num, int64_t den, int d, int64_t *out)
{
    for (int i = 0; i < d; i++)
        out[i] = hwq_rnd_rational(num[i], den);
}

/* D_d: rnd, then if the sum is odd move the worst coordinate (lowest index on ties) one step toward x. */
static inline HWQ_HD void hwq_closest_d_rational(const int64_t *num, int64_t den, int d, int64_t *out)
{
    int64_t s = 0;
    for (int i = 0; i < d; i++) {
        out[i] = hwq_rnd_rational(num[i], den);
        s += out[i];
    }
    if (s % 2 != 0) {
        int best = 0;
        int64_t bestabs = -1, bestr = 0;
        for (int i = 0; i < d; i++) {
            int64_t r = num[i] - den * out[i];
            int64_t a = r < 0 ? -r : r;
            if (a > bestabs) {
                bestabs = a;
                best = i;
                bestr = r;
            }
        }
        /* a loop instead of out[best]: a dynamic index would put out[] in local memory (stack) on GPUs */
        for (int i = 0; i < d; i++)
            out[i] += i == best ? (bestr >= 0 ? 1 : -1) : 0;
    }
}

/* E8 = D8 u (D8 + 1/2): returns 2 * closest point (scaled coordinates). d must be 8. */
static inline HWQ_HD void hwq_closest_e8_rational(const int64_t *num, int64_t den, int64_t *out)
{
    int64_t f0[8], f1[8], n1[8];
    hwq_closest_d_rational(num, den, 8, f0);
    for (int i = 0; i < 8; i++)
        n1[i] = 2 * num[i] - den;
    hwq_closest_d_rational(n1, 2 * den, 8, f1);
    int64_t diff = 0;
    for (int i = 0; i < 8; i++) {
        int64_t y0 = 2 * f0[i], y1 = 2 * f1[i] + 1;
        diff += (y0 - y1) * (4 * num[i] - den * (y0 + y1));
    }
    for (int i = 0; i < 8; i++)
        out[i] = diff < 0 ? 2 * f1[i] + 1 : 2 * f0[i];
}

/* In-place unnormalised Walsh-Hadamard transform on consecutive segments of length h (power of 2). */
static inline HWQ_HD void hwq_fwht_i32(int32_t *x, int64_t n, int64_t h)
{
    for (int64_t s = 0; s < n; s += h) {
        int32_t *y = x + s;
        for (int64_t m = 1; m < h; m *= 2) {
            for (int64_t i = 0; i < h; i += 2 * m) {
                for (int64_t k = i; k < i + m; k++) {
                    int32_t a = y[k], b = y[k + m];
                    y[k] = a + b;
                    y[k + m] = a - b;
                }
            }
        }
    }
}

static inline HWQ_HD void hwq_fwht_f64(double *x, int64_t n, int64_t h)
{
    for (int64_t s = 0; s < n; s += h) {
        double *y = x + s;
        for (int64_t m = 1; m < h; m *= 2) {
            for (int64_t i = 0; i < h; i += 2 * m) {
                for (int64_t k = i; k < i + m; k++) {
                    double a = y[k], b = y[k + m];
                    y[k] = a + b;
                    y[k + m] = a - b;
                }
            }
        }
    }
}

static inline HWQ_HD void hwq_fwht_f32(float *x, int64_t n, int64_t h)
{
    for (int64_t s = 0; s < n; s += h) {
        float *y = x + s;
        for (int64_t m = 1; m < h; m *= 2) {
            for (int64_t i = 0; i < h; i += 2 * m) {
                for (int64_t k = i; k < i + m; k++) {
                    float a = y[k], b = y[k + m];
                    y[k] = a + b;
                    y[k + m] = a - b;
                }
            }
        }
    }
}

#endif /* HWQ_ARITH_H */
