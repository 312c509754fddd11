/*
 * hwq_decode.h -- the arithmetic codebook decoder shared by the C and CUDA kernels.
 *
 * Codebook row r -> scaled codeword c = G k - q Q(G k / q) (SPEC section 2), k the base-q digits of r,
 * first digit slowest, Q the exact rational closest point of hwq_arith.h. It needs the configuration
 * macros HWQ_D, HWQ_Q, HWQ_CS, HWQ_LAT_KIND and the generator table hwq_gen of the generated sources,
 * so kernels headers include it after those. HWQ_DECODE_QUAL sets the qualifiers (CUDA: __device__).
 */
#ifndef HWQ_DECODE_H
#define HWQ_DECODE_H

#ifndef HWQ_DECODE_QUAL
#define HWQ_DECODE_QUAL static inline
#endif

HWQ_DECODE_QUAL void hwq_arith_decode(uint64_t r, int64_t *c)
{
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
}

#endif /* HWQ_DECODE_H */
