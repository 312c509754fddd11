/*
 * hwq_codes_check.h -- the range check of packed weight codes (every code < HWQ_NC) that hwq_check_codes
 * runs where container arrays enter C.  The direct path (E8 arithmetic decode) reads the container on
 * every call, so this check runs on every GEMV: 16 codes per step on AVX-512 VBMI (the extraction of
 * hwq_e8_vbmi.h), one 8-byte read per code otherwise, the bit reader hwq_code_at only at a row's end.
 * Included by hwq_kernels_c.h after hwq_isa() and hwq_code_at().
 */
#ifndef HWQ_CODES_CHECK_H
#define HWQ_CODES_CHECK_H

/* 1 if any of the nb codes of the row crow (cs bytes) is >= HWQ_NC, else 0 (scalar from block b0 on) */
HWQ_UNUSED static int hwq_codes_bad_from(const uint8_t *crow, int64_t b0, int64_t nb, int64_t cs)
{
    int bad = 0;
    for (int64_t b = b0; b < nb; b++) {
        const int64_t bit = b * HWQ_CB;
        uint64_t r;
        if ((bit >> 3) + 8 <= cs) {
            uint64_t w;
            memcpy(&w, crow + (bit >> 3), 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            w = __builtin_bswap64(w);
#endif
            r = (w >> (bit & 7)) & (((uint64_t)1 << HWQ_CB) - 1u);
        } else {
            r = hwq_code_at(crow, b);
        }
        bad |= r >= (uint64_t)HWQ_NC;
    }
    return bad;
}

#if HWQ_X86 && HWQ_CB <= 25
#define HWQ_CC_VBMI 1
#define HWQ_T_CC __attribute__((target("avx512f,avx512bw,avx512vbmi")))
/* Code extraction from a group of 16 codes (2 CB whole bytes): dword lane l takes bytes floor(CB l / 8) .. +3
 * (vpermb indices *pidx) and shifts them right by CB l mod 8 (*shv); the caller masks to CB bits.  Shared with
 * the E8 decode (hwq_e8_vbmi.h). */
static inline HWQ_T_CC void hwq_code_lanes(__m512i *pidx, __m512i *shv)
{
    uint8_t pidx_b[64];
    int32_t shv_d[16];
    for (int l = 0; l < 16; l++) {
        for (int k = 0; k < 4; k++)
            pidx_b[4 * l + k] = (uint8_t)((HWQ_CB * l) / 8 + k);
        shv_d[l] = (HWQ_CB * l) % 8;
    }
    *pidx = _mm512_loadu_si512(pidx_b);
    *shv = _mm512_loadu_si512(shv_d);
}

HWQ_UNUSED static HWQ_T_CC int hwq_codes_bad_vbmi(const uint8_t *crow, int64_t nb, int64_t cs)
{
    __m512i pidx, shv;
    hwq_code_lanes(&pidx, &shv);
    const __m512i cmask = _mm512_set1_epi32((int)((1u << HWQ_CB) - 1u)), ncv = _mm512_set1_epi32((int)HWQ_NC);
    const __mmask64 lmask = ((__mmask64)1 << (2 * HWQ_CB)) - 1;
    __mmask16 bad = 0;
    int64_t g = 0;
    for (; 16 * (g + 1) <= nb; g++) { /* 16 codes = 2 CB whole bytes, all inside the row */
        const __m512i raw = _mm512_maskz_loadu_epi8(lmask, crow + 2 * HWQ_CB * g);
        const __m512i r = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi8(pidx, raw), shv), cmask);
        bad |= _mm512_cmpge_epu32_mask(r, ncv);
    }
    (void)cs;
    return (bad != 0) | hwq_codes_bad_from(crow, 16 * g, nb, cs);
}
#endif

HWQ_UNUSED static int hwq_codes_bad(const uint8_t *crow, int64_t nb, int64_t cs)
{
#ifdef HWQ_CC_VBMI
    if (hwq_isa() >= HWQ_ISA_VBMI)
        return hwq_codes_bad_vbmi(crow, nb, cs);
#endif
    return hwq_codes_bad_from(crow, 0, nb, cs);
}

#endif /* HWQ_CODES_CHECK_H */
