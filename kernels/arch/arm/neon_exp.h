/*
 * The arm64 vector exponential, shared by the vector ops (ops_neon.c) and
 * the attention tile (attn_neon.c) so that SwiGLU, softmax and attention
 * probabilities round alike.
 */
#ifndef LF_NEON_EXP_H
#define LF_NEON_EXP_H

#include <arm_neon.h>

#define INLINE static inline __attribute__((always_inline))

/* e^x in lanes, within a few ulp for x in [-87, 88] (clamped there: below
 * -87 the 2^n built in the exponent field would not be a normal number):
 * n = round(x·log2 e), r = x - n·ln 2 in two parts, a degree-6 polynomial
 * for e^r on |r| ≤ ln2/2, times 2^n put together in the exponent field. */
INLINE float32x4_t exp4(float32x4_t x) {
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.0f)), vdupq_n_f32(88.0f));
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145751953125f));
    r = vfmsq_f32(r, n, vdupq_n_f32(1.428606765330187e-06f));
    float32x4_t p = vdupq_n_f32(1.0f / 720);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

#endif /* LF_NEON_EXP_H */
