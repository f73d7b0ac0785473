/*
 * arm64 (baseline ASIMD) vector ops of the prompt path: SwiGLU and softmax
 * with a vector exponential, four lanes at a time, so that a prompt's
 * [tokens × ff] gate matrix does not pay one expf call per element. The
 * exponential is the same construction as the x86 one (ops_avx2.c), so
 * both ISAs round alike; tails go through a four-lane buffer, never past
 * n.
 */
#include "kernels/internal.h"

#include <arm_neon.h>
#include <string.h>

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

INLINE float32x4_t swiglu4(float32x4_t g, float32x4_t u) {
    const float32x4_t e = exp4(vnegq_f32(g));
    return vmulq_f32(vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e)), u);
}

static void swiglu_neon(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(gate + i, swiglu4(vld1q_f32(gate + i), vld1q_f32(up + i)));
    if (i < n) {   /* the tail, zero-padded (silu(0) · 0 = 0, unused) */
        float g[4] = {0, 0, 0, 0}, u[4] = {0, 0, 0, 0};
        const size_t k = (size_t)(n - i);
        memcpy(g, gate + i, k * sizeof *g);
        memcpy(u, up + i, k * sizeof *u);
        vst1q_f32(g, swiglu4(vld1q_f32(g), vld1q_f32(u)));
        memcpy(gate + i, g, k * sizeof *g);
    }
}

/* e^(x - m) of four lanes, exactly 0 where x - m < -87 (the exponential's
 * clamp; such a term is under 2^-125 of the largest one), and its lanes
 * added to the two double sums. */
INLINE float32x4_t softmax_exp4(float32x4_t x, float32x4_t vm, float64x2_t s[2]) {
    const float32x4_t d = vsubq_f32(x, vm);
    const uint32x4_t keep = vcgeq_f32(d, vdupq_n_f32(-87.0f));
    const float32x4_t e = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(exp4(d)), keep));
    s[0] = vaddq_f64(s[0], vcvt_f64_f32(vget_low_f32(e)));
    s[1] = vaddq_f64(s[1], vcvt_high_f64_f32(e));
    return e;
}

/* As lf_softmax: the maximum, e^(x - max) summed in double, then one
 * scaling pass. */
static void softmax_neon(float *x, int64_t n) {
    if (n <= 0)
        return;
    float32x4_t mx = vdupq_n_f32(x[0]);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        mx = vmaxq_f32(mx, vld1q_f32(x + i));
    float m = vmaxvq_f32(mx);
    for (int64_t j = i; j < n; j++)
        m = x[j] > m ? x[j] : m;
    const float32x4_t vm = vdupq_n_f32(m);
    float64x2_t s[2] = {vdupq_n_f64(0), vdupq_n_f64(0)};
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(x + i, softmax_exp4(vld1q_f32(x + i), vm, s));
    const size_t k = (size_t)(n - i);
    if (k) {   /* the tail, padded far below the maximum: those lanes are 0 */
        float t[4] = {-1e30f, -1e30f, -1e30f, -1e30f};
        memcpy(t, x + i, k * sizeof *t);
        vst1q_f32(t, softmax_exp4(vld1q_f32(t), vm, s));
        memcpy(x + i, t, k * sizeof *t);
    }
    const float inv = (float)(1.0 / vaddvq_f64(vaddq_f64(s[0], s[1])));
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inv));
    for (; i < n; i++)
        x[i] *= inv;
}

void lf_kernels_fill_ops_neon(lf_kernel_set *ks) {
    ks->swiglu = swiglu_neon;
    ks->softmax = softmax_neon;
}
