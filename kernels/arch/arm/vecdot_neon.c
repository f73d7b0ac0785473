/*
 * Baseline arm64 ASIMD kernels: the integer dots and the packed int8 GEMM
 * tile of neon_body.h without the dot-product extension, activation
 * quantizers (bit-identical to the scalar references: FCVTAS rounds half
 * away from zero exactly as roundf), float dots for f32/f16/bf16 weights
 * and the float kernels of the ops.
 */
#define LF_NEON_DOTPROD 0
#define LF_NEON_SUFFIX neon
#include "kernels/arch/arm/neon_body.h"

/* ---- float types: kind 0 f32, 1 f16, 2 bf16 ------------------------------ */

INLINE float32x4_t load4(const void *p, int i, const int kind) {
    if (kind == 0)
        return vld1q_f32((const float *)p + i);
    const uint16x4_t h = vld1_u16((const uint16_t *)p + i);
    if (kind == 1)
        return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

INLINE float load1(const void *p, int i, const int kind) {
    if (kind == 0)
        return ((const float *)p)[i];
    if (kind == 1)
        return h2f_neon(((const lf_half *)p)[i]);
    return lf_bf16_to_float(((const lf_bf16 *)p)[i]);
}

INLINE void mv_float_body(int n, float *s, const void *vx, size_t bx, const void *vy,
                          const int nr, const int kind) {
    float32x4_t acc[4], acc2[4];
    FOR_R acc[r] = acc2[r] = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const float32x4_t y0 = load4(vy, i, kind), y1 = load4(vy, i + 4, kind);
        FOR_R {
            const void *x = (const char *)vx + r * bx;
            acc[r] = vfmaq_f32(acc[r], load4(x, i, kind), y0);
            acc2[r] = vfmaq_f32(acc2[r], load4(x, i + 4, kind), y1);
        }
    }
    FOR_R {
        const void *x = (const char *)vx + r * bx;
        float t = vaddvq_f32(vaddq_f32(acc[r], acc2[r]));
        for (int k = i; k < n; k++)
            t += load1(x, k, kind) * load1(vy, k, kind);
        s[r] = t;
    }
}

INLINE void mv_f32_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    mv_float_body(n, s, x, bx, y, nr, 0);
}
INLINE void mv_f16_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    mv_float_body(n, s, x, bx, y, nr, 1);
}
INLINE void mv_bf16_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    mv_float_body(n, s, x, bx, y, nr, 2);
}

#define FLOAT_WRAPPERS(name)                                                     \
    static void mv_##name(int n, float *s, const void *x, size_t bx,             \
                          const void *y, int nr) {                               \
        switch (nr) {                                                            \
        case 1: mv_##name##_body(n, s, x, bx, y, 1); break;                      \
        case 2: mv_##name##_body(n, s, x, bx, y, 2); break;                      \
        case 3: mv_##name##_body(n, s, x, bx, y, 3); break;                      \
        default: mv_##name##_body(n, s, x, bx, y, 4); break;                     \
        }                                                                        \
    }                                                                            \
    static void dot_##name(int n, float *s, const void *x, const void *y) {      \
        mv_##name##_body(n, s, x, 0, y, 1);                                      \
    }
FLOAT_WRAPPERS(f32)
FLOAT_WRAPPERS(f16)
FLOAT_WRAPPERS(bf16)

/* ---- activation quantizers ----------------------------------------------- */

INLINE float amax_n(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(0);
    for (int j = 0; j < n; j += 4)
        m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
    return vmaxvq_f32(m);
}

/* 16 floats × scale → 16 int8, rounded half away from zero, in [-127, 127]. */
INLINE int8x16_t quant16(const float *x, float scale) {
    int32x4_t q[4];
    for (int k = 0; k < 4; k++) {
        q[k] = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4 * k), scale));
        q[k] = vminq_s32(vmaxq_s32(q[k], vdupq_n_s32(-127)), vdupq_n_s32(127));
    }
    const int16x8_t a = vcombine_s16(vqmovn_s32(q[0]), vqmovn_s32(q[1]));
    const int16x8_t b = vcombine_s16(vqmovn_s32(q[2]), vqmovn_s32(q[3]));
    return vcombine_s8(vqmovn_s16(a), vqmovn_s16(b));
}

INLINE lf_half f2h_neon(float f) {
    return vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(f))), 0);
}

static void quantize_q8_0(const float *x, void *vy, int64_t n) {
    lf_block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / LF_QK8_0; b++, x += LF_QK8_0) {
        const float d = amax_n(x, 32) / 127.f, id = d != 0.f ? 1.0f / d : 0.f;
        y[b].d = f2h_neon(d);
        vst1q_s8(y[b].qs, quant16(x, id));
        vst1q_s8(y[b].qs + 16, quant16(x + 16, id));
    }
}

static void quantize_q8_1(const float *x, void *vy, int64_t n) {
    lf_block_q8_1 *y = vy;
    for (int64_t b = 0; b < n / LF_QK8_1; b++, x += LF_QK8_1) {
        const float d = amax_n(x, 32) / 127.f, id = d != 0.f ? 1.0f / d : 0.f;
        const int8x16_t q0 = quant16(x, id), q1 = quant16(x + 16, id);
        vst1q_s8(y[b].qs, q0);
        vst1q_s8(y[b].qs + 16, q1);
        const int sum = vaddlvq_s8(q0) + vaddlvq_s8(q1);
        y[b].d = f2h_neon(d);
        y[b].s = f2h_neon(d * (float)sum);
    }
}

static void quantize_q8_K(const float *x, void *vy, int64_t n) {
    lf_block_q8_K *y = vy;
    for (int64_t b = 0; b < n / LF_QK_K; b++, x += LF_QK_K) {
        const float amax = amax_n(x, LF_QK_K);
        if (!(amax > 0)) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = 127.f / amax;
        for (int j = 0; j < LF_QK_K; j += 16) {
            const int8x16_t q = quant16(x + j, iscale);
            vst1q_s8(y[b].qs + j, q);
            y[b].bsums[j / 16] = (int16_t)vaddlvq_s8(q);
        }
        y[b].d = 1.0f / iscale;
    }
}

static void quantize_f16(const float *x, void *vy, int64_t n) {
    lf_half *y = vy;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++)
        y[i] = f2h_neon(x[i]);
}

/* ---- float kernels of the ops ---------------------------------------------- */

static float kv_dot_f32(const void *k, const float *q, int n) {
    float s;
    mv_float_body(n, &s, k, 0, q, 1, 0);
    return s;
}

static float kv_dot_f16(const void *k, const float *q, int n) {
    const lf_half *h = k;
    float32x4_t acc = vdupq_n_f32(0);
    int i = 0;
    for (; i + 4 <= n; i += 4)
        acc = vfmaq_f32(acc, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + i))), vld1q_f32(q + i));
    float s = vaddvq_f32(acc);
    for (; i < n; i++)
        s += h2f_neon(h[i]) * q[i];
    return s;
}

static float kv_dot_q8_0(const void *k, const float *q, int n) {
    const lf_block_q8_0 *b = k;
    float32x4_t acc = vdupq_n_f32(0);
    for (int i = 0; i < n / LF_QK8_0; i++) {
        float32x4_t p = vdupq_n_f32(0);
        for (int j = 0; j < 32; j += 8) {
            const int16x8_t w = vmovl_s8(vld1_s8(b[i].qs + j));
            p = vfmaq_f32(p, vcvtq_f32_s32(vmovl_s16(vget_low_s16(w))), vld1q_f32(q + 32 * i + j));
            p = vfmaq_f32(p, vcvtq_f32_s32(vmovl_high_s16(w)), vld1q_f32(q + 32 * i + j + 4));
        }
        acc = vfmaq_n_f32(acc, p, h2f_neon(b[i].d));
    }
    return vaddvq_f32(acc);
}

static void kv_axpy_f32(float *y, const void *v, float a, int n) {
    const float *x = v;
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++)
        y[i] += a * x[i];
}

static void kv_axpy_f16(float *y, const void *v, float a, int n) {
    const lf_half *h = v;
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i),
                                     vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + i))), a));
    for (; i < n; i++)
        y[i] += a * h2f_neon(h[i]);
}

static void kv_axpy_q8_0(float *y, const void *v, float a, int n) {
    const lf_block_q8_0 *b = v;
    for (int i = 0; i < n / LF_QK8_0; i++) {
        const float ad = a * h2f_neon(b[i].d);
        for (int j = 0; j < 32; j += 8) {
            const int16x8_t w = vmovl_s8(vld1_s8(b[i].qs + j));
            float *yp = y + 32 * i + j;
            vst1q_f32(yp, vfmaq_n_f32(vld1q_f32(yp), vcvtq_f32_s32(vmovl_s16(vget_low_s16(w))), ad));
            vst1q_f32(yp + 4, vfmaq_n_f32(vld1q_f32(yp + 4), vcvtq_f32_s32(vmovl_high_s16(w)), ad));
        }
    }
}

static float dot_f32_simd(const float *a, const float *b, int64_t n) {
    float32x4_t acc = vdupq_n_f32(0), acc2 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        acc = vfmaq_f32(acc, vld1q_f32(a + i), vld1q_f32(b + i));
        acc2 = vfmaq_f32(acc2, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(acc, acc2));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static float sumsq_f32(const float *a, int64_t n) { return dot_f32_simd(a, a, n); }

void lf_kernels_fill_neon(lf_kernel_set *ks) {
    fill_int_neon(ks);
    ks->vec_dot[LF_TYPE_F32] = dot_f32;
    ks->mv[LF_TYPE_F32] = mv_f32;
    ks->vec_dot[LF_TYPE_F16] = dot_f16;
    ks->mv[LF_TYPE_F16] = mv_f16;
    ks->vec_dot[LF_TYPE_BF16] = dot_bf16;
    ks->mv[LF_TYPE_BF16] = mv_bf16;
    ks->quantize_row[LF_TYPE_Q8_0] = quantize_q8_0;
    ks->quantize_row[LF_TYPE_Q8_1] = quantize_q8_1;
    ks->quantize_row[LF_TYPE_Q8_K] = quantize_q8_K;
    ks->quantize_row[LF_TYPE_F16] = quantize_f16;
    ks->kv_dot[LF_TYPE_F32] = kv_dot_f32;
    ks->kv_dot[LF_TYPE_F16] = kv_dot_f16;
    ks->kv_dot[LF_TYPE_Q8_0] = kv_dot_q8_0;
    ks->kv_axpy[LF_TYPE_F32] = kv_axpy_f32;
    ks->kv_axpy[LF_TYPE_F16] = kv_axpy_f16;
    ks->kv_axpy[LF_TYPE_Q8_0] = kv_axpy_q8_0;
    ks->dot_f32 = dot_f32_simd;
    ks->sumsq_f32 = sumsq_f32;
    /* the packed int8 tile with smull/sadalp (sdot's and smmla's replace it) */
    ks->gemm_tile = gemm_tile_neon;
    ks->gemm_u_max = 127;
}
