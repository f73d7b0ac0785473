/*
 * arm64 decode kernels over the interleaved layouts of kernels/interleave.c
 * (Q4_0, Q8_0: "d-first steps"; F16: steps of 32 halves), written once and
 * compiled twice: by mv_il_neon.c for baseline ASIMD (IL_DOTPROD 0: int8
 * products widened with smull/smlal and pair-added into int32 lanes) and by
 * mv_il_dotprod.c with -march=armv8.2-a+dotprod (IL_DOTPROD 1: sdot). The
 * layouts and the prepared Q4_0 activations are the ones the x86 kernels
 * read; only these inner kernels are arm's.
 *
 * The layouts were drawn for 64-byte vectors; a 128-bit kernel reads each
 * row's 64 bytes of a step as four vectors of one block (Q4_0: 16 nibble
 * bytes) or of half a block (Q8_0: 16 int8). The two dot forms put
 * different products into a given int32 lane, so the kernels only ever use
 * the sum over all four lanes of a block: pairwise adds (addp) fold the
 * four lanes of each block into one lane, and the lane layout after two
 * folds is exactly the order of the step's fp16 scales, so one convert and
 * one fused multiply-add per row (Q4_0) or per pair of rows (Q8_0) finish
 * the step. Nibbles (0..15) are used unsigned; Q4_0's -8 offset arrives as
 * the prepared correction sums the dots start from.
 *
 * A last short step (fewer blocks than a full step) is copied into a full
 * step with zero scales and zero quants for the missing blocks; the
 * prepared activations of those blocks are zero already, and Q8_0's are
 * supplied as a zero block, so the missing products are exact zeros.
 *
 * Instructions per row and 32 weights in the steady-state loops (GCC 12
 * -O2, counted in the objdump of the step and super-block loops, scales
 * and mins included; sdot / baseline): Q4_0 8.6 / 16.4, Q8_0 9.1 / 14.4,
 * Q5_0 16.3 / 23.8, Q4_K 12.2 / 18.2, Q5_K 21.8 / 26.4, Q6_K 16.2 / 22.9,
 * F16 23.5. No arm64 machine has measured their speed.
 */
#ifndef LF_MV_IL_NEON_H
#define LF_MV_IL_NEON_H

#include "kernels/internal.h"

#include <arm_neon.h>
#include <string.h>

#ifndef IL_DOTPROD
#error "define IL_DOTPROD (0 or 1) before including mv_il_neon.h"
#endif

#define INLINE static inline __attribute__((always_inline))
#define UNROLL4 _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)
#define UNROLL_B4 _Pragma("GCC unroll 4") for (int b = 0; b < 4; b++)

/* acc + int8 products of a and b, summed into the four int32 lanes (which
 * product lands in which lane differs between the forms; see above). */
INLINE int32x4_t il_dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if IL_DOTPROD
    return vdotq_s32(acc, a, b);
#else
    /* one product fits int16 (|·| ≤ 128·128 = 16384) but two might not
     * (-128 is a legal Q8_0 weight), so each smull's products are summed
     * pairwise straight into int32 (sadalp) */
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
#endif
}

/* four fp16 scales to floats */
INLINE float32x4_t il_h4(const uint8_t *p) {
    uint16_t h[4];
    memcpy(h, p, sizeof h);
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

INLINE float il_h1(lf_half h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* ---- Q4_0 ------------------------------------------------------------------
 * Step of 4 blocks (288 bytes): 16 scales d[4r + b], then row r's 64 nibble
 * bytes at 32 + 64r (block b at 16b). Prepared activations (256 bytes): lo
 * at 16b, hi at 64 + 16b, the int32 corrections at 128 + 16b, dy at 192
 * (lanes 0-3 = d of y_0..y_3). Per row: 4 ands, 4 shifts, 8 dots, 3 addp,
 * one convert, one FMA with the row's 4 scales times dy. */
INLINE void il_q4_0_step(const uint8_t *xs, const uint8_t *ya, float32x4_t acc[4]) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    int8x16_t ylo[4], yhi[4];
    int32x4_t corr[4];
    UNROLL_B4 {
        ylo[b] = vld1q_s8((const int8_t *)ya + 16 * b);
        yhi[b] = vld1q_s8((const int8_t *)ya + 64 + 16 * b);
        corr[b] = vld1q_s32((const int32_t *)(ya + 128) + 4 * b);
    }
    const float32x4_t dy = vld1q_f32((const float *)(ya + 192));
    UNROLL4 {
        const uint8_t *q = xs + 32 + 64 * r;
        int32x4_t is[4];
        UNROLL_B4 {
            const uint8x16_t v = vld1q_u8(q + 16 * b);
            const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(v, m4));
            const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
            is[b] = il_dot16(il_dot16(corr[b], lo, ylo[b]), hi, yhi[b]);
        }
        /* lane b = block b's sum, the order of d[4r + b] */
        const int32x4_t t = vpaddq_s32(vpaddq_s32(is[0], is[1]), vpaddq_s32(is[2], is[3]));
        const float32x4_t sc = vmulq_f32(il_h4(xs + 8 * r), dy);
        acc[r] = vfmaq_f32(acc[r], vcvtq_f32_s32(t), sc);
    }
}

INLINE void il_q4_0_body(int n, float *s, const uint8_t *x, const uint8_t *ya) {
    const int nb = n / LF_QK4_0;
    float32x4_t acc[4];
    UNROLL4 acc[r] = vdupq_n_f32(0);
    int b = 0;
    for (; b + 4 <= nb; b += 4, x += 16 * sizeof(lf_block_q4_0), ya += 256)
        il_q4_0_step(x, ya, acc);
    if (b < nb) {
        /* k < 4 blocks: scales d[r*k + b] at 2(r*k + b), nibbles at
         * 8k + 16(r*k + b); spread into a full step */
        const int k = nb - b;
        uint8_t t[288] __attribute__((aligned(16)));
        memset(t, 0, sizeof t);
        for (int r = 0; r < 4; r++)
            for (int j = 0; j < k; j++) {
                memcpy(t + 2 * (4 * r + j), x + 2 * (r * k + j), 2);
                memcpy(t + 32 + 64 * r + 16 * j, x + 8 * k + 16 * (r * k + j), 16);
            }
        il_q4_0_step(t, ya, acc);
    }
    UNROLL4 s[r] = vaddvq_f32(acc[r]);
}

/* ---- Q5_0 ------------------------------------------------------------------
 * Step of 4 blocks (352 bytes): 16 scales d[4r + b], 16 high-bit words
 * qh[4r + b] at 32 (row r's four at 32 + 16r), then row r's 64 nibble bytes
 * at 96 + 64r; the activations are Q4_0's prepared ones, without their
 * corrections. Three rounds of byte zips (2 + 4 + 8) turn a row's 16 qh
 * bytes into 8 vectors, each holding one byte in lanes 0-7 and the next in
 * lanes 8-15: block b's bits of elements 0-15 (bytes 4b, 4b + 1) and of
 * elements 16-31 (4b + 2, 4b + 3); cmtst then picks bit i % 8 in lane i.
 * The words are inverted first, so a mask byte is 0xFF where the fifth bit
 * is clear; inserted above the nibble (bsl for the low nibbles, sri for
 * the high ones) it makes the byte 0xF0 | q = q - 16, and where the bit is
 * set q itself: the signed weight q + 16·bit - 16 with no correction term.
 * Per row: one mvn, 14 zips, 8 cmtst, 4 bsl, 4 sri, 8 dots, 3 addp, one
 * convert, one FMA. */
static const uint8_t il_bit_sel[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};

/* out[2k], out[2k + 1]: bytes 2k·2, 2k·2 + 1 and 2k·2 + 2, 2k·2 + 3 of v,
 * each in 8 lanes (k < 4) */
INLINE void il_spread8(uint8x16_t v, uint8x16_t out[8]) {
    const uint8x16_t a = vzip1q_u8(v, v), b = vzip2q_u8(v, v);       /* bytes ×2 */
    const uint8x16_t q[4] = {vzip1q_u8(a, a), vzip2q_u8(a, a),          /* bytes ×4 */
                             vzip1q_u8(b, b), vzip2q_u8(b, b)};
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
        out[2 * k] = vzip1q_u8(q[k], q[k]);
        out[2 * k + 1] = vzip2q_u8(q[k], q[k]);
    }
}

INLINE void il_q5_0_step(const uint8_t *xs, const uint8_t *ya, float32x4_t acc[4]) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), sel = vld1q_u8(il_bit_sel);
    int8x16_t ylo[4], yhi[4];
    UNROLL_B4 {
        ylo[b] = vld1q_s8((const int8_t *)ya + 16 * b);
        yhi[b] = vld1q_s8((const int8_t *)ya + 64 + 16 * b);
    }
    const float32x4_t dy = vld1q_f32((const float *)(ya + 192));
    UNROLL4 {
        const uint8_t *q = xs + 96 + 64 * r;
        uint8x16_t nh[8];
        il_spread8(vmvnq_u8(vld1q_u8(xs + 32 + 16 * r)), nh);
        int32x4_t is[4];
        UNROLL_B4 {
            const uint8x16_t v = vld1q_u8(q + 16 * b);
            const uint8x16_t clr_lo = vtstq_u8(nh[2 * b], sel);
            const uint8x16_t clr_hi = vtstq_u8(nh[2 * b + 1], sel);
            const int8x16_t lo = vreinterpretq_s8_u8(vbslq_u8(m4, v, clr_lo));
            const int8x16_t hi = vreinterpretq_s8_u8(vsriq_n_u8(clr_hi, v, 4));
            is[b] = il_dot16(il_dot16(vdupq_n_s32(0), lo, ylo[b]), hi, yhi[b]);
        }
        const int32x4_t t = vpaddq_s32(vpaddq_s32(is[0], is[1]), vpaddq_s32(is[2], is[3]));
        const float32x4_t sc = vmulq_f32(il_h4(xs + 8 * r), dy);
        acc[r] = vfmaq_f32(acc[r], vcvtq_f32_s32(t), sc);
    }
}

INLINE void il_q5_0_body(int n, float *s, const uint8_t *x, const uint8_t *ya) {
    const int nb = n / LF_QK5_0;
    float32x4_t acc[4];
    UNROLL4 acc[r] = vdupq_n_f32(0);
    int b = 0;
    for (; b + 4 <= nb; b += 4, x += 16 * sizeof(lf_block_q5_0), ya += 256)
        il_q5_0_step(x, ya, acc);
    if (b < nb) {
        /* k < 4 blocks: d[r*k + b] at 2(r*k + b), qh at 8k + 4(r*k + b),
         * nibbles at 24k + 16(r*k + b); spread into a full step whose
         * missing blocks (zero scales) meet zero activations */
        const int k = nb - b;
        uint8_t t[352] __attribute__((aligned(16)));
        memset(t, 0, sizeof t);
        for (int r = 0; r < 4; r++)
            for (int j = 0; j < k; j++) {
                const int i = r * k + j;
                memcpy(t + 2 * (4 * r + j), x + 2 * i, 2);
                memcpy(t + 32 + 4 * (4 * r + j), x + 8 * k + 4 * i, 4);
                memcpy(t + 96 + 64 * r + 16 * j, x + 24 * k + 16 * i, 16);
            }
        il_q5_0_step(t, ya, acc);
    }
    UNROLL4 s[r] = vaddvq_f32(acc[r]);
}

/* ---- Q8_0 ------------------------------------------------------------------
 * Step of 2 blocks (272 bytes): 8 scales d[2r + b], then row r's two
 * 32-byte blocks at 16 + 64r. Per row: 4 dots and one addp; per pair of
 * rows one more addp (lanes r0b0 r0b1 r1b0 r1b1, the order of the scales),
 * one convert and one FMA. */
INLINE void il_q8_0_step(const uint8_t *xs, const lf_block_q8_0 *y, float32x4_t acc[2]) {
    const int8x16_t y00 = vld1q_s8(y[0].qs), y01 = vld1q_s8(y[0].qs + 16);
    const int8x16_t y10 = vld1q_s8(y[1].qs), y11 = vld1q_s8(y[1].qs + 16);
    const float32x2_t d2 = {il_h1(y[0].d), il_h1(y[1].d)};
    const float32x4_t dy = vcombine_f32(d2, d2);
    const float32x4_t sc[2] = {vmulq_f32(il_h4(xs), dy), vmulq_f32(il_h4(xs + 8), dy)};
    int32x4_t p[4];
    UNROLL4 {
        const int8_t *q = (const int8_t *)xs + 16 + 64 * r;
        const int32x4_t z = vdupq_n_s32(0);
        const int32x4_t i0 = il_dot16(il_dot16(z, vld1q_s8(q), y00), vld1q_s8(q + 16), y01);
        const int32x4_t i1 = il_dot16(il_dot16(z, vld1q_s8(q + 32), y10), vld1q_s8(q + 48), y11);
        p[r] = vpaddq_s32(i0, i1);
    }
    for (int h = 0; h < 2; h++)
        acc[h] = vfmaq_f32(acc[h], vcvtq_f32_s32(vpaddq_s32(p[2 * h], p[2 * h + 1])), sc[h]);
}

INLINE void il_q8_0_body(int n, float *s, const uint8_t *x, const lf_block_q8_0 *y) {
    const int nb = n / LF_QK8_0;
    float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    int b = 0;
    for (; b + 2 <= nb; b += 2, x += 8 * sizeof(lf_block_q8_0))
        il_q8_0_step(x, y + b, acc);
    if (b < nb) {
        /* one block left: 4 scales, then row r's 32 bytes at 8 + 32r */
        uint8_t t[272] __attribute__((aligned(16)));
        lf_block_q8_0 yt[2];
        memset(t, 0, sizeof t);
        memset(yt, 0, sizeof yt);
        yt[0] = y[b];
        for (int r = 0; r < 4; r++) {
            memcpy(t + 4 * r, x + 2 * r, 2);
            memcpy(t + 16 + 64 * r, x + 8 + 32 * r, 32);
        }
        il_q8_0_step(t, yt, acc);
    }
    /* acc[h] lanes: row 2h blocks 0, 1, row 2h + 1 blocks 0, 1 */
    vst1q_f32(s, vpaddq_f32(acc[0], acc[1]));
}

/* ---- F16 -------------------------------------------------------------------
 * Steps of 32 halves per row (row r's 64 bytes at 64r of a 256-byte step):
 * the activations are widened once per step for the four rows; two
 * accumulators per row keep the FMA chains short. */
INLINE void il_f16_body(int n, float *s, const uint8_t *x, const lf_half *y) {
    float32x4_t acc[8];
    for (int i = 0; i < 8; i++)
        acc[i] = vdupq_n_f32(0);
    for (int c = 0; c < n / 32; c++, x += 256, y += 32) {
        float32x4_t a[8];
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
            const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(y + 8 * i));
            a[2 * i] = vcvt_f32_f16(vget_low_f16(h));
            a[2 * i + 1] = vcvt_high_f32_f16(h);
        }
        UNROLL4 {
            _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
                const float16x8_t w = vreinterpretq_f16_u16(vld1q_u16((const uint16_t *)(x + 64 * r + 16 * i)));
                acc[2 * r] = vfmaq_f32(acc[2 * r], vcvt_f32_f16(vget_low_f16(w)), a[2 * i]);
                acc[2 * r + 1] = vfmaq_f32(acc[2 * r + 1], vcvt_high_f32_f16(w), a[2 * i + 1]);
            }
        }
    }
    UNROLL4 s[r] = vaddvq_f32(vaddq_f32(acc[2 * r], acc[2 * r + 1]));
}

#include "kernels/arch/arm/mv_il_kquants_neon.h"

/* The kernel-set entries; the includer defines IL_SUFFIX. */
#define IL_CAT2_(a, b) a##_##b
#define IL_CAT_(a, b) IL_CAT2_(a, b)
#define IL_FN(name, call)                                                          \
    static void IL_CAT_(mv_il_##name, IL_SUFFIX)(int n, float *s, const void *x,    \
                                                size_t bx, const void *y, int nr) { \
        (void)bx;                                                                  \
        (void)nr; /* always LF_IL_ROWS: the layout fixes the rows */               \
        call;                                                                      \
    }
IL_FN(q4_0, il_q4_0_body(n, s, x, y))
IL_FN(q8_0, il_q8_0_body(n, s, x, y))
IL_FN(q5_0, il_q5_0_body(n, s, x, y))
IL_FN(q4_K, il_q45_body(n, s, x, y, false))
IL_FN(q5_K, il_q45_body(n, s, x, y, true))
IL_FN(q6_K, il_q6_K_body(n, s, x, y))
#if !IL_DOTPROD   /* no integer dot: one instance, baseline's */
IL_FN(f16, il_f16_body(n, s, x, y))
#endif
#undef IL_FN

#endif /* LF_MV_IL_NEON_H */
