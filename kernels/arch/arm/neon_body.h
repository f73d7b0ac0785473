/*
 * The integer dot kernels for arm64, written once and compiled twice: by
 * vecdot_neon.c for baseline ASIMD (LF_NEON_DOTPROD 0: int8 products
 * widened with vmull/vmlal and pair-added into int32) and by
 * vecdot_dotprod.c with -march=armv8.2-a+dotprod (LF_NEON_DOTPROD 1: sdot).
 * The includer defines LF_NEON_SUFFIX, the name suffix of the instance.
 *
 * Weights are turned into signed int8 (Q4_0: nibble - 8, Q6_K: q - 32) so
 * both operands are signed, as sdot wants; products of a block are summed
 * in int32 lanes, scaled into float lanes, and reduced once per row. Up to
 * four rows share every activation load.
 */
#include "kernels/internal.h"

#include <arm_neon.h>
#include <stddef.h>
#include <string.h>

#define LF_CAT2_(a, b) a##_##b
#define LF_CAT_(a, b) LF_CAT2_(a, b)
#define NAME(x) LF_CAT_(x, LF_NEON_SUFFIX)

#define INLINE static inline __attribute__((always_inline))
#define FOR_R for (int r = 0; r < nr; r++)

/* acc + per-lane sums of 4 consecutive int8 products of a and b. */
INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if LF_NEON_DOTPROD
    return vdotq_s32(acc, a, b);
#else
    /* |a·b| pairs ≤ 2·128·127 fit int16; pairwise add into the lanes */
    int16x8_t t = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    t = vmlal_high_s8(t, a, b);
    return vpadalq_s16(acc, t);
#endif
}

INLINE float h2f_neon(lf_half h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* ---- Q4_0 × Q8_0 ---------------------------------------------------------- */
INLINE void NAME(mv_q4_0_body)(int n, float *s, const void *vx, size_t bx, const void *vy,
                               const int nr) {
    const lf_block_q8_0 *y = vy;
    float32x4_t acc[4];
    FOR_R acc[r] = vdupq_n_f32(0);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    for (int b = 0; b < n / LF_QK4_0; b++) {
        const int8x16_t y0 = vld1q_s8(y[b].qs), y1 = vld1q_s8(y[b].qs + 16);
        const float dy = h2f_neon(y[b].d);
        FOR_R {
            const lf_block_q4_0 *x = (const lf_block_q4_0 *)((const char *)vx + r * bx) + b;
            const uint8x16_t q = vld1q_u8(x->qs);
            const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight);
            const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
            const int32x4_t isum = dot16(dot16(vdupq_n_s32(0), lo, y0), hi, y1);
            acc[r] = vmlaq_n_f32(acc[r], vcvtq_f32_s32(isum), dy * h2f_neon(x->d));
        }
    }
    FOR_R s[r] = vaddvq_f32(acc[r]);
}

/* ---- Q8_0 × Q8_0 ---------------------------------------------------------- */
INLINE void NAME(mv_q8_0_body)(int n, float *s, const void *vx, size_t bx, const void *vy,
                               const int nr) {
    const lf_block_q8_0 *y = vy;
    float32x4_t acc[4];
    FOR_R acc[r] = vdupq_n_f32(0);
    for (int b = 0; b < n / LF_QK8_0; b++) {
        const int8x16_t y0 = vld1q_s8(y[b].qs), y1 = vld1q_s8(y[b].qs + 16);
        const float dy = h2f_neon(y[b].d);
        FOR_R {
            const lf_block_q8_0 *x = (const lf_block_q8_0 *)((const char *)vx + r * bx) + b;
            const int32x4_t isum = dot16(dot16(vdupq_n_s32(0), vld1q_s8(x->qs), y0),
                                         vld1q_s8(x->qs + 16), y1);
            acc[r] = vmlaq_n_f32(acc[r], vcvtq_f32_s32(isum), dy * h2f_neon(x->d));
        }
    }
    FOR_R s[r] = vaddvq_f32(acc[r]);
}

/* ---- Q4_K / Q5_K × Q8_K ----------------------------------------------------
 * qs[32p + l]: low nibble element 64p + l (sub-block 2p), high nibble
 * 64p + 32 + l (sub-block 2p + 1); Q5_K's fifth bit of element 32s + l is
 * bit s of qh[l]. One int32 sum per sub-block times its 6-bit scale; the
 * mins meet the block sums of Q8_K. */
INLINE void NAME(mv_qk45_body)(int n, float *s, const void *vx, size_t bx, const void *vy,
                               const int nr, const bool five) {
    const lf_block_q8_K *y = vy;
    float sumf[4] = {0, 0, 0, 0};
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    for (int b = 0; b < n / LF_QK_K; b++) {
        const float dy = y[b].d;
        FOR_R {
            const uint8_t *xb = (const uint8_t *)vx + r * bx +
                                (size_t)b * (five ? sizeof(lf_block_q5_K) : sizeof(lf_block_q4_K));
            const lf_half d = five ? ((const lf_block_q5_K *)xb)->d : ((const lf_block_q4_K *)xb)->d;
            const lf_half dmin = five ? ((const lf_block_q5_K *)xb)->dmin : ((const lf_block_q4_K *)xb)->dmin;
            const uint8_t *scales = five ? ((const lf_block_q5_K *)xb)->scales : ((const lf_block_q4_K *)xb)->scales;
            const uint8_t *qs = five ? ((const lf_block_q5_K *)xb)->qs : ((const lf_block_q4_K *)xb)->qs;
            const uint8_t *qh = five ? ((const lf_block_q5_K *)xb)->qh : NULL;
            uint32_t w0, w1, w2;
            memcpy(&w0, scales, 4);
            memcpy(&w1, scales + 4, 4);
            memcpy(&w2, scales + 8, 4);
            uint8_t sc[8], mn[8];
            uint32_t t[4] = {w0 & 0x3f3f3f3fu,
                             (w2 & 0x0f0f0f0fu) | ((w0 >> 6) & 0x03030303u) << 4,
                             w1 & 0x3f3f3f3fu,
                             ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 6) & 0x03030303u) << 4};
            memcpy(sc, t, 8);
            memcpy(mn, t + 2, 8);
            int32_t isum = 0, msum = 0;
            for (int p = 0; p < 4; p++) {
                for (int h = 0; h < 2; h++) {
                    const uint8x16_t q = vld1q_u8(qs + 32 * p + 16 * h);
                    uint8x16_t lo = vandq_u8(q, m4), hi = vshrq_n_u8(q, 4);
                    if (five) {
                        const uint8x16_t hb = vld1q_u8(qh + 16 * h);
                        const uint8x16_t one = vdupq_n_u8(1);
                        lo = vorrq_u8(lo, vshlq_n_u8(vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)-(2 * p))), one), 4));
                        hi = vorrq_u8(hi, vshlq_n_u8(vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)-(2 * p + 1))), one), 4));
                    }
                    const int8x16_t a0 = vld1q_s8(y[b].qs + 64 * p + 16 * h);
                    const int8x16_t a1 = vld1q_s8(y[b].qs + 64 * p + 32 + 16 * h);
                    isum += sc[2 * p] * vaddvq_s32(dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(lo), a0));
                    isum += sc[2 * p + 1] * vaddvq_s32(dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(hi), a1));
                }
            }
            for (int j = 0; j < 8; j++)
                msum += mn[j] * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
            sumf[r] += dy * (h2f_neon(d) * (float)isum - h2f_neon(dmin) * (float)msum);
        }
    }
    FOR_R s[r] = sumf[r];
}

INLINE void NAME(mv_q4_K_body)(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    NAME(mv_qk45_body)(n, s, x, bx, y, nr, false);
}
INLINE void NAME(mv_q5_K_body)(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    NAME(mv_qk45_body)(n, s, x, bx, y, nr, true);
}

/* ---- Q6_K × Q8_K: element 128h + 32k + l from ql[64h + 32(k%2) + l] and
 * bits 2k.. of qh[32h + l], value q - 32, one int8 scale per 16. */
INLINE void NAME(mv_q6_K_body)(int n, float *s, const void *vx, size_t bx, const void *vy,
                               const int nr) {
    const lf_block_q8_K *y = vy;
    float sumf[4] = {0, 0, 0, 0};
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
    for (int b = 0; b < n / LF_QK_K; b++) {
        FOR_R {
            const lf_block_q6_K *x = (const lf_block_q6_K *)((const char *)vx + r * bx) + b;
            int32_t isum = 0;
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < 4; k++)
                    for (int g = 0; g < 2; g++) {
                        const uint8x16_t ql = vld1q_u8(x->ql + 64 * h + 32 * (k % 2) + 16 * g);
                        const uint8x16_t qh = vld1q_u8(x->qh + 32 * h + 16 * g);
                        const uint8x16_t low = k < 2 ? vandq_u8(ql, m4) : vshrq_n_u8(ql, 4);
                        const uint8x16_t high = vshlq_n_u8(
                            vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)-(2 * k))), m3), 4);
                        const int8x16_t v = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, high)), off);
                        const int8x16_t a = vld1q_s8(y[b].qs + 128 * h + 32 * k + 16 * g);
                        isum += x->scales[8 * h + 2 * k + g] *
                                vaddvq_s32(dot16(vdupq_n_s32(0), v, a));
                    }
            sumf[r] += y[b].d * h2f_neon(x->d) * (float)isum;
        }
    }
    FOR_R s[r] = sumf[r];
}

/* ---- Q4_1, Q5_0, Q5_1, IQ4_NL: one block (two 16-byte halves) at a time.
 * Q5's fifth bits: bit j of the 32-bit qh is element j (byte lanes via a
 * bit-select compare); Q4_1/Q5_1 mins meet Q8_1's s; IQ4_NL levels by a
 * table lookup (vqtbl1q). Quants are made signed (Q5_0: q - 16; Q4_1/Q5_1
 * are 0..31 already, fine as signed). */
enum { B32_Q4_1, B32_Q5_0, B32_Q5_1, B32_IQ4_NL };

INLINE uint8x16_t NAME(fifth16)(uint32_t h16) {
    static const uint8_t sel[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x8_t lo = vdup_n_u8((uint8_t)(h16 & 0xFF)), hi = vdup_n_u8((uint8_t)(h16 >> 8));
    const uint8x16_t bytes = vcombine_u8(lo, hi), s = vld1q_u8(sel);
    return vandq_u8(vceqq_u8(vandq_u8(bytes, s), s), vdupq_n_u8(0x10));
}

INLINE void NAME(mv_b32_body)(int n, float *s, const void *vx, size_t bx, const void *vy,
                              const int nr, const int kind) {
    const bool with_min = kind == B32_Q4_1 || kind == B32_Q5_1;
    const bool five = kind == B32_Q5_0 || kind == B32_Q5_1;
    const size_t xbs = kind == B32_Q4_1 ? sizeof(lf_block_q4_1) : kind == B32_Q5_0 ? sizeof(lf_block_q5_0)
                     : kind == B32_Q5_1 ? sizeof(lf_block_q5_1) : sizeof(lf_block_iq4_nl);
    const size_t qs_off = kind == B32_Q4_1 ? offsetof(lf_block_q4_1, qs)
                        : kind == B32_Q5_0 ? offsetof(lf_block_q5_0, qs)
                        : kind == B32_Q5_1 ? offsetof(lf_block_q5_1, qs) : offsetof(lf_block_iq4_nl, qs);
    const size_t qh_off = kind == B32_Q5_0 ? offsetof(lf_block_q5_0, qh) : offsetof(lf_block_q5_1, qh);
    const size_t ybs = with_min ? sizeof(lf_block_q8_1) : sizeof(lf_block_q8_0);
    const size_t yqs = with_min ? offsetof(lf_block_q8_1, qs) : offsetof(lf_block_q8_0, qs);
    const int8x16_t table = vld1q_s8(lf_iq4nl_values);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc[4];
    float macc[4];
    FOR_R {
        acc[r] = vdupq_n_f32(0);
        macc[r] = 0;
    }
    for (int b = 0; b < n / 32; b++) {
        const uint8_t *yb = (const uint8_t *)vy + (size_t)b * ybs;
        lf_half hy, hs = 0;
        memcpy(&hy, yb, 2);
        if (with_min)
            memcpy(&hs, yb + 2, 2);
        const int8x16_t y0 = vld1q_s8((const int8_t *)(yb + yqs)), y1 = vld1q_s8((const int8_t *)(yb + yqs + 16));
        const float dy = h2f_neon(hy), sy = with_min ? h2f_neon(hs) : 0;
        FOR_R {
            const uint8_t *x = (const uint8_t *)vx + r * bx + (size_t)b * xbs;
            const uint8x16_t q = vld1q_u8(x + qs_off);
            uint8x16_t lo = vandq_u8(q, m4), hi = vshrq_n_u8(q, 4);
            int8x16_t v0, v1;
            if (five) {
                uint32_t h;
                memcpy(&h, x + qh_off, 4);
                lo = vorrq_u8(lo, NAME(fifth16)(h & 0xFFFF));
                hi = vorrq_u8(hi, NAME(fifth16)(h >> 16));
            }
            if (kind == B32_IQ4_NL) {
                v0 = vqtbl1q_s8(table, lo);
                v1 = vqtbl1q_s8(table, hi);
            } else if (kind == B32_Q5_0) {
                v0 = vsubq_s8(vreinterpretq_s8_u8(lo), vdupq_n_s8(16));
                v1 = vsubq_s8(vreinterpretq_s8_u8(hi), vdupq_n_s8(16));
            } else {
                v0 = vreinterpretq_s8_u8(lo);
                v1 = vreinterpretq_s8_u8(hi);
            }
            const int32x4_t isum = dot16(dot16(vdupq_n_s32(0), v0, y0), v1, y1);
            lf_half hx;
            memcpy(&hx, x, 2);
            acc[r] = vmlaq_n_f32(acc[r], vcvtq_f32_s32(isum), dy * h2f_neon(hx));
            if (with_min) {
                lf_half m;
                memcpy(&m, x + 2, 2);
                macc[r] += h2f_neon(m) * sy;
            }
        }
    }
    FOR_R s[r] = vaddvq_f32(acc[r]) + macc[r];
}

INLINE void NAME(mv_q4_1_body)(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    NAME(mv_b32_body)(n, s, x, bx, y, nr, B32_Q4_1);
}
INLINE void NAME(mv_q5_0_body)(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    NAME(mv_b32_body)(n, s, x, bx, y, nr, B32_Q5_0);
}
INLINE void NAME(mv_q5_1_body)(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    NAME(mv_b32_body)(n, s, x, bx, y, nr, B32_Q5_1);
}
INLINE void NAME(mv_iq4_nl_body)(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    NAME(mv_b32_body)(n, s, x, bx, y, nr, B32_IQ4_NL);
}

/* ---- Q2_K / Q3_K: element 128h + 32j + l is bits 2j.. of qs[32h + l]
 * (Q3_K: minus 4 unless bit 4h + j of hmask[l]); one scale per 16. */
INLINE void NAME(mv_q23_body)(int n, float *s, const void *vx, size_t bx, const void *vy,
                              const int nr, const bool three) {
    const lf_block_q8_K *y = vy;
    float sumf[4] = {0, 0, 0, 0};
    const uint8x16_t m3 = vdupq_n_u8(3), one = vdupq_n_u8(1);
    for (int b = 0; b < n / LF_QK_K; b++) {
        FOR_R {
            const uint8_t *xb = (const uint8_t *)vx + r * bx +
                                (size_t)b * (three ? sizeof(lf_block_q3_K) : sizeof(lf_block_q2_K));
            const uint8_t *qs = three ? ((const lf_block_q3_K *)xb)->qs : ((const lf_block_q2_K *)xb)->qs;
            int sc[16];
            int32_t isum = 0, msum = 0;
            if (three) {
                const lf_block_q3_K *x = (const lf_block_q3_K *)xb;
                for (int i = 0; i < 16; i++) {
                    int lo = i < 8 ? x->scales[i] & 0x0F : x->scales[i - 8] >> 4;
                    int hi = (x->scales[8 + i % 4] >> (2 * (i / 4))) & 3;
                    sc[i] = (lo | hi << 4) - 32;
                }
            } else {
                const lf_block_q2_K *x = (const lf_block_q2_K *)xb;
                for (int i = 0; i < 16; i++) {
                    sc[i] = x->scales[i] & 0x0F;
                    msum += (x->scales[i] >> 4) * y[b].bsums[i];
                }
            }
            for (int h = 0; h < 2; h++)
                for (int g = 0; g < 2; g++) {
                    const uint8x16_t q = vld1q_u8(qs + 32 * h + 16 * g);
                    uint8x16_t hm = vdupq_n_u8(0);
                    if (three)
                        hm = vld1q_u8(((const lf_block_q3_K *)xb)->hmask + 16 * g);
                    for (int j = 0; j < 4; j++) {
                        uint8x16_t u = vandq_u8(vshlq_u8(q, vdupq_n_s8((int8_t)(-2 * j))), m3);
                        int8x16_t v = vreinterpretq_s8_u8(u);
                        if (three) {
                            const uint8x16_t bit = vandq_u8(vshlq_u8(hm, vdupq_n_s8((int8_t)-(4 * h + j))), one);
                            v = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(u, vshlq_n_u8(bit, 2))), vdupq_n_s8(4));
                        }
                        const int8x16_t a = vld1q_s8(y[b].qs + 128 * h + 32 * j + 16 * g);
                        isum += sc[8 * h + 2 * j + g] * vaddvq_s32(dot16(vdupq_n_s32(0), v, a));
                    }
                }
            if (three)
                sumf[r] += y[b].d * h2f_neon(((const lf_block_q3_K *)xb)->d) * (float)isum;
            else
                sumf[r] += y[b].d * (h2f_neon(((const lf_block_q2_K *)xb)->d) * (float)isum -
                                     h2f_neon(((const lf_block_q2_K *)xb)->dmin) * (float)msum);
        }
    }
    FOR_R s[r] = sumf[r];
}

INLINE void NAME(mv_q2_K_body)(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    NAME(mv_q23_body)(n, s, x, bx, y, nr, false);
}
INLINE void NAME(mv_q3_K_body)(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    NAME(mv_q23_body)(n, s, x, bx, y, nr, true);
}

/* ---- IQ4_XS: sub-block i is the IQ4_NL layout of qs[16i..], scale - 32. */
INLINE void NAME(mv_iq4_xs_body)(int n, float *s, const void *vx, size_t bx, const void *vy,
                                 const int nr) {
    const lf_block_q8_K *y = vy;
    const int8x16_t table = vld1q_s8(lf_iq4nl_values);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sumf[4] = {0, 0, 0, 0};
    for (int b = 0; b < n / LF_QK_K; b++) {
        FOR_R {
            const lf_block_iq4_xs *x = (const lf_block_iq4_xs *)((const char *)vx + r * bx) + b;
            int32_t isum = 0;
            for (int i = 0; i < 8; i++) {
                const int ls = (((x->scales_l[i / 2] >> (4 * (i % 2))) & 0x0F) |
                                ((x->scales_h >> (2 * i)) & 3) << 4) - 32;
                const uint8x16_t q = vld1q_u8(x->qs + 16 * i);
                const int8x16_t v0 = vqtbl1q_s8(table, vandq_u8(q, m4));
                const int8x16_t v1 = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
                const int32x4_t p = dot16(dot16(vdupq_n_s32(0), v0, vld1q_s8(y[b].qs + 32 * i)),
                                          v1, vld1q_s8(y[b].qs + 32 * i + 16));
                isum += ls * vaddvq_s32(p);
            }
            sumf[r] += y[b].d * h2f_neon(x->d) * (float)isum;
        }
    }
    FOR_R s[r] = sumf[r];
}

#define NEON_MV_WRAPPERS(name)                                                   \
    static void NAME(mv_##name)(int n, float *s, const void *x, size_t bx,       \
                                const void *y, int nr) {                         \
        switch (nr) {                                                            \
        case 1: NAME(mv_##name##_body)(n, s, x, bx, y, 1); break;                \
        case 2: NAME(mv_##name##_body)(n, s, x, bx, y, 2); break;                \
        case 3: NAME(mv_##name##_body)(n, s, x, bx, y, 3); break;                \
        default: NAME(mv_##name##_body)(n, s, x, bx, y, 4); break;               \
        }                                                                        \
    }                                                                            \
    static void NAME(dot_##name)(int n, float *s, const void *x, const void *y) { \
        NAME(mv_##name##_body)(n, s, x, 0, y, 1);                                \
    }

NEON_MV_WRAPPERS(q4_0)
NEON_MV_WRAPPERS(q8_0)
NEON_MV_WRAPPERS(q4_K)
NEON_MV_WRAPPERS(q5_K)
NEON_MV_WRAPPERS(q6_K)
NEON_MV_WRAPPERS(q4_1)
NEON_MV_WRAPPERS(q5_0)
NEON_MV_WRAPPERS(q5_1)
NEON_MV_WRAPPERS(iq4_nl)
NEON_MV_WRAPPERS(q2_K)
NEON_MV_WRAPPERS(q3_K)
NEON_MV_WRAPPERS(iq4_xs)

/* ---- packed GEMM tile ------------------------------------------------------------
 * The int8 panel of internal.h read as signed bytes (so only types whose
 * u stays ≤ 127: gemm_u_max), 8 rows × 4 columns per pass: a 16-byte panel
 * vector holds 4 k of 4 rows and a 16-byte activation vector 4 k of 4
 * columns. With sdot, vdotq_laneq_s32 multiplies one by a chosen column of
 * the other, so 16 sdot per 4 k with no shuffles, lane r = row r. Without
 * it the chosen column is duplicated (dup by lane) and smull / smull2
 * multiply it with rows 0-1 / 2-3 of the panel vector into int16, which
 * sadalp pair-adds into int32 lanes (row, k 0-1) (row, k 2-3) of two
 * accumulators; one addp per chunk folds them back to lane r = row r
 * (|u·a| ≤ 127·128 fits int16). Accumulators start each chunk at -bias·Σq
 * (the baseline's split ones once per row: lanes nb, 0, nb, 0) and are
 * scaled into float per chunk, as on x86. */
INLINE void tile_pass(int K, int chunk, bool has_min, const int8_t *qs, const float *sw,
                      const float *mw, const int8_t *aq, const float *meta, int rh, int c0,
                      float32x4_t f[2][4]) {
    const int ngrp = chunk / 4, nch = K / chunk;
    for (int c = 0; c < 4; c++)
        f[0][c] = f[1][c] = vdupq_n_f32(0);
    for (int ch = 0; ch < nch; ch++) {
        const float *m = meta + (size_t)ch * 3 * LF_GEMM_COLS;
        int32_t nb[4];
        memcpy(nb, m + LF_GEMM_COLS + c0, sizeof nb);
        int32x4_t i0[4], i1[4];
#if !LF_NEON_DOTPROD
        int32x4_t h0[4], h1[4];   /* rows 2-3 of w0 / w1; i0, i1 rows 0-1 */
        for (int c = 0; c < 4; c++)
            i0[c] = i1[c] = h0[c] = h1[c] = vsetq_lane_s32(nb[c], vsetq_lane_s32(nb[c], vdupq_n_s32(0), 0), 2);
#else
        for (int c = 0; c < 4; c++)
            i0[c] = i1[c] = vdupq_n_s32(nb[c]);
#endif
        for (int g = 0; g < ngrp; g++) {
            const size_t grp = (size_t)ch * ngrp + g;
            const int8x16_t w0 = vld1q_s8(qs + grp * 64 + 32 * rh);
            const int8x16_t w1 = vld1q_s8(qs + grp * 64 + 32 * rh + 16);
            const int8x16_t a = vld1q_s8(aq + (grp * LF_GEMM_COLS + c0) * 4);
#if LF_NEON_DOTPROD
#define DOT_COL(c)                                  \
    do {                                            \
        i0[c] = vdotq_laneq_s32(i0[c], w0, a, c);   \
        i1[c] = vdotq_laneq_s32(i1[c], w1, a, c);   \
    } while (0)
#else
#define DOT_COL(c)                                                                          \
    do {                                                                                    \
        const int8x16_t ac = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(a), c)); \
        i0[c] = vpadalq_s16(i0[c], vmull_s8(vget_low_s8(w0), vget_low_s8(ac)));              \
        h0[c] = vpadalq_s16(h0[c], vmull_high_s8(w0, ac));                                   \
        i1[c] = vpadalq_s16(i1[c], vmull_s8(vget_low_s8(w1), vget_low_s8(ac)));              \
        h1[c] = vpadalq_s16(h1[c], vmull_high_s8(w1, ac));                                   \
    } while (0)
#endif
            DOT_COL(0);
            DOT_COL(1);
            DOT_COL(2);
            DOT_COL(3);
#undef DOT_COL
        }
#if !LF_NEON_DOTPROD
        for (int c = 0; c < 4; c++) {
            i0[c] = vpaddq_s32(i0[c], h0[c]);
            i1[c] = vpaddq_s32(i1[c], h1[c]);
        }
#endif
        const float32x4_t s0 = vld1q_f32(sw + ch * 16 + 8 * rh), s1 = vld1q_f32(sw + ch * 16 + 8 * rh + 4);
        for (int c = 0; c < 4; c++) {
            const float d = m[c0 + c];
            f[0][c] = vfmaq_f32(f[0][c], vcvtq_f32_s32(i0[c]), vmulq_n_f32(s0, d));
            f[1][c] = vfmaq_f32(f[1][c], vcvtq_f32_s32(i1[c]), vmulq_n_f32(s1, d));
        }
        if (has_min) {
            const float32x4_t m0 = vld1q_f32(mw + ch * 16 + 8 * rh), m1 = vld1q_f32(mw + ch * 16 + 8 * rh + 4);
            for (int c = 0; c < 4; c++) {
                const float ds = m[2 * LF_GEMM_COLS + c0 + c];
                f[0][c] = vfmaq_n_f32(f[0][c], m0, ds);
                f[1][c] = vfmaq_n_f32(f[1][c], m1, ds);
            }
        }
    }
}

static void NAME(gemm_tile)(const lf_gemm_desc *g, int K, const uint8_t *qs, const float *sw,
                            const float *mw, const void *acts, int ncols, float *y, size_t ldy,
                            int nrows) {
    const int8_t *aq = acts;
    const float *meta = (const float *)(aq + (size_t)K * LF_GEMM_COLS);
    for (int rh = 0; rh < 2 && 8 * rh < nrows; rh++)
        for (int c0 = 0; c0 < ncols; c0 += 4) {
            float32x4_t f[2][4];
            tile_pass(K, g->chunk, g->has_min, (const int8_t *)qs, sw, mw, aq, meta, rh, c0, f);
            for (int c = 0; c < 4 && c0 + c < ncols; c++) {
                float out[8];
                vst1q_f32(out, f[0][c]);
                vst1q_f32(out + 4, f[1][c]);
                int rows = nrows - 8 * rh < 8 ? nrows - 8 * rh : 8;
                memcpy(y + (size_t)(c0 + c) * ldy + 8 * rh, out, (size_t)rows * sizeof(float));
            }
        }
}

/* Sets the integer kernels of this instance. */
static void NAME(fill_int)(lf_kernel_set *ks) {
#define SET(T, name)                                      \
    do {                                                  \
        ks->vec_dot[LF_TYPE_##T] = NAME(dot_##name);      \
        ks->mv[LF_TYPE_##T] = NAME(mv_##name);            \
    } while (0)
    SET(Q4_0, q4_0);
    SET(Q8_0, q8_0);
    SET(Q4_K, q4_K);
    SET(Q5_K, q5_K);
    SET(Q6_K, q6_K);
    SET(Q4_1, q4_1);
    SET(Q5_0, q5_0);
    SET(Q5_1, q5_1);
    SET(IQ4_NL, iq4_nl);
    SET(Q2_K, q2_K);
    SET(Q3_K, q3_K);
    SET(IQ4_XS, iq4_xs);
#undef SET
}
