/*
 * arm64 (baseline ASIMD) vector ops of the prompt path: SwiGLU and softmax
 * with a vector exponential, and the RoPE rotation, four lanes at a time,
 * so that a prompt's [tokens × ff] gate matrix does not pay one expf call
 * per element. The
 * exponential (neon_exp.h, shared with the attention tile) is the same
 * construction as the x86 one (ops_avx2.c), so both ISAs round alike;
 * tails go through a four-lane buffer, never past n.
 */
#include "kernels/internal.h"

#include "kernels/arch/arm/neon_exp.h"

#include <string.h>

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

/* a·c - b·s and a·s + b·c in four lanes, as the portable loop rounds
 * them apart from the fused multiply-adds */
INLINE void rot4(float32x4_t *a, float32x4_t *b, float32x4x2_t cs) {
    const float32x4_t x = *a, y = *b;
    *a = vfmsq_f32(vmulq_f32(x, cs.val[0]), y, cs.val[1]);
    *b = vfmaq_f32(vmulq_f32(x, cs.val[1]), y, cs.val[0]);
}

/* RoPE over pairs [i0, i1) of every head, four pairs at a time: cs
 * de-interleaved by ld2 into cos and sin; NeoX pairs (i, i + n_rot/2) are
 * two plain loads, adjacent pairs (2i, 2i + 1) one ld2/st2. The pairs left
 * over go through the scalar formula. */
static void rope_neon(float *x, int n_heads, int head_dim, const float *cs,
                      const lf_rope_params *p, int i0, int i1) {
    const int half = p->n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        int i = i0;
        for (; i + 4 <= i1; i += 4) {
            const float32x4x2_t c = vld2q_f32(cs + 2 * (i - i0));
            if (p->neox) {
                float32x4_t a = vld1q_f32(v + i), b = vld1q_f32(v + i + half);
                rot4(&a, &b, c);
                vst1q_f32(v + i, a);
                vst1q_f32(v + i + half, b);
            } else {
                float32x4x2_t ab = vld2q_f32(v + 2 * i);
                rot4(&ab.val[0], &ab.val[1], c);
                vst2q_f32(v + 2 * i, ab);
            }
        }
        for (; i < i1; i++) {
            const float c = cs[2 * (i - i0)], s = cs[2 * (i - i0) + 1];
            const int a0 = p->neox ? i : 2 * i, a1 = p->neox ? i + half : 2 * i + 1;
            const float a = v[a0], b = v[a1];
            v[a0] = a * c - b * s;
            v[a1] = a * s + b * c;
        }
    }
}

void lf_kernels_fill_ops_neon(lf_kernel_set *ks) {
    ks->swiglu = swiglu_neon;
    ks->softmax = softmax_neon;
    ks->rope = rope_neon;
}
