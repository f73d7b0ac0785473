/*
 * MXFP4 × Q8_0 dot product and matrix-vector kernel on arm64 (gpt-oss's
 * expert weights), written once and compiled twice: by mxfp4_neon.c for
 * baseline ASIMD (MX_DOTPROD 0) and by mxfp4_dotprod.c with
 * -march=armv8.2-a+dotprod (MX_DOTPROD 1). A block is one E8M0 exponent
 * byte e and 16 bytes of E2M1 codes (element j in the low nibble of qs[j],
 * j + 16 in the high one); its values are the doubled levels of
 * lf_mxfp4_values (integers −12 … 12) times 2^(e − 128).
 *
 * tbl looks the codes up in lf_mxfp4_values directly, so the levels are
 * signed int8 and multiply the signed Q8_0 activations with no offset to
 * correct: the low nibbles meet activations 0-15, the high ones 16-31,
 * which is the Q8_0 block's element order. With sdot each block's 32
 * products land in four int32 lanes. Without it, smull/smlal collect them
 * in eight int16 lanes, four products a lane: |level × activation| ≤
 * 12 · 128 = 1536, so a lane stays within ±6144 and cannot overflow; one
 * pairwise widening add (saddlp) then gives the same four int32 lanes.
 * Only the lanes' sum matters, so the two forms may put different
 * products in a given lane.
 *
 * The scale of a block is 2^(e − 128) × the activation's fp16 scale. For
 * up to four rows the exponents are gathered into one vector (a lane
 * load each, straight from the block, whose first byte e is) and turned
 * into floats with integer operations: (e − 1) << 23 is the bit pattern
 * for e ≥ 2, and e = 0, 1 are the subnormals 2^-128, 2^-127
 * (0x00200000 << e), the same rule as lf_e8m0_half_to_float. Each row
 * then converts its block sums and adds them times its lane of that
 * vector (fmla by element) into four float lanes, summed at the end.
 *
 * Instructions per row and 32 weights in the steady-state block loop (GCC
 * 12 -O2, counted in the objdump of the four-row loop, scales, activation
 * loads and loop control shared out over the rows; sdot / baseline):
 * 16.0 / 18.0, of which 10 / 12 are the row's own (load, two table
 * lookups, the dot, convert, fmla) and the rest the four rows' share of
 * the exponent gather, the scales, the activation loads and the loop. No
 * arm64 machine has measured their speed. Held to lf_vec_dot_mxfp4_ref
 * under qemu-aarch64 by tests/kernels/test_mxfp4.c.
 */
#ifndef LF_MXFP4_NEON_H
#define LF_MXFP4_NEON_H

#include "kernels/internal.h"

#include <arm_neon.h>

#ifndef MX_DOTPROD
#error "define MX_DOTPROD (0 or 1) before including mxfp4_neon.h"
#endif

#define INLINE static inline __attribute__((always_inline))

/* The 32 products of one block (signed levels lo, hi against the
 * activations y0 = elements 0-15, y1 = 16-31), summed into four int32
 * lanes. */
INLINE int32x4_t mx_block_dot(int8x16_t lo, int8x16_t hi, int8x16_t y0, int8x16_t y1) {
#if MX_DOTPROD
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), lo, y0), hi, y1);
#else
    int16x8_t p = vmull_s8(vget_low_s8(lo), vget_low_s8(y0));
    p = vmlal_high_s8(p, lo, y0);
    p = vmlal_s8(p, vget_low_s8(hi), vget_low_s8(y1));
    p = vmlal_high_s8(p, hi, y1);
    return vpaddlq_s16(p);
#endif
}

/* 2^(e − 128) of four exponents, as floats (see above). */
INLINE float32x4_t mx_e8m0_half4(uint32x4_t e) {
    const uint32x4_t normal = vshlq_n_u32(vsubq_u32(e, vdupq_n_u32(1)), 23);
    const uint32x4_t small = vshlq_u32(vdupq_n_u32(0x00200000u), vreinterpretq_s32_u32(e));
    return vreinterpretq_f32_u32(vbslq_u32(vcltq_u32(e, vdupq_n_u32(2)), small, normal));
}

INLINE float mx_h1(lf_half h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* s[r] = row r of x (rows bx bytes apart) · y for r < nr (1..4). */
INLINE void mx_mv_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    const lf_block_q8_0 *yb = y;
    const int nb = n / LF_QK_MXFP4;
    const int8x16_t table = vld1q_s8(lf_mxfp4_values);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const uint8_t *row[4];
    float32x4_t acc[4];
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
        row[r] = (const uint8_t *)x + (size_t)(r < nr ? r : 0) * bx;
        acc[r] = vdupq_n_f32(0);
    }
    for (int i = 0; i < nb; i++) {
        const int8x16_t y0 = vld1q_s8(yb[i].qs), y1 = vld1q_s8(yb[i].qs + 16);
        /* each row's exponent byte in the low byte of its lane */
        uint8x16_t eb = vdupq_n_u8(0);
        eb = vld1q_lane_u8(row[0], eb, 0);
        if (nr > 1)
            eb = vld1q_lane_u8(row[1], eb, 4);
        if (nr > 2)
            eb = vld1q_lane_u8(row[2], eb, 8);
        if (nr > 3)
            eb = vld1q_lane_u8(row[3], eb, 12);
        const float32x4_t d = vmulq_n_f32(mx_e8m0_half4(vreinterpretq_u32_u8(eb)), mx_h1(yb[i].d));
        _Pragma("GCC unroll 4") for (int r = 0; r < nr; r++) {
            const uint8x16_t q = vld1q_u8(row[r] + 1);
            const int8x16_t lo = vqtbl1q_s8(table, vandq_u8(q, m4));
            const int8x16_t hi = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
            const float32x4_t f = vcvtq_f32_s32(mx_block_dot(lo, hi, y0, y1));
            switch (r) {   /* the lane is an immediate */
            case 0: acc[0] = vfmaq_laneq_f32(acc[0], f, d, 0); break;
            case 1: acc[1] = vfmaq_laneq_f32(acc[1], f, d, 1); break;
            case 2: acc[2] = vfmaq_laneq_f32(acc[2], f, d, 2); break;
            default: acc[3] = vfmaq_laneq_f32(acc[3], f, d, 3); break;
            }
            row[r] += sizeof(lf_block_mxfp4);
        }
    }
    _Pragma("GCC unroll 4") for (int r = 0; r < nr; r++)
        s[r] = vaddvq_f32(acc[r]);
}

#define MX_CAT_(a, b) a##_##b
#define MX_CAT(a, b) MX_CAT_(a, b)

static void MX_CAT(mv_mxfp4, MX_SUFFIX)(int n, float *s, const void *x, size_t bx, const void *y,
                                        int nr) {
    switch (nr) {
    case 1: mx_mv_body(n, s, x, bx, y, 1); break;
    case 2: mx_mv_body(n, s, x, bx, y, 2); break;
    case 3: mx_mv_body(n, s, x, bx, y, 3); break;
    default: mx_mv_body(n, s, x, bx, y, 4); break;
    }
}

static void MX_CAT(dot_mxfp4, MX_SUFFIX)(int n, float *s, const void *x, const void *y) {
    mx_mv_body(n, s, x, 0, y, 1);
}

#endif /* LF_MXFP4_NEON_H */
