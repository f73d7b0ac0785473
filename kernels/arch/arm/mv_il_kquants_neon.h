/*
 * arm64 decode kernels over the interleaved Q4_K, Q5_K and Q6_K layouts
 * (kernels/interleave_kquants.c, byte for byte), part of mv_il_neon.h and
 * compiled with it twice (baseline ASIMD and sdot through il_dot16). The
 * layouts put the 16 bytes of each row side by side in every 64-byte unit;
 * a 128-bit kernel reads one row per vector, so each unit is four loads
 * that meet the same 16 or 32 activations. The activations are the Q8_K
 * row as it is.
 *
 * As in the Q4_0 kernels only the sum over the four int32 lanes of a dot
 * is used. Each sub-block (Q4_K/Q5_K, 32 quants) or group (Q6_K, 16) ends
 * as one int32x4; pairwise adds fold four of them into one vector whose
 * lane j is sub-block j's sum, which one integer multiply-add meets with
 * the four scales widened to int32. A row's super-block total stays in
 * int32 (|Q4_K| ≤ 8·32·15·63·128 < 2^28, Q5_K < 2^29, Q6_K ≤ 256·63·128·128
 * < 2^29, the -32 correction included), so one more fold per super-block
 * puts the four rows in the four lanes, and d, dmin and the activation
 * scale are applied to all rows in one float multiply-add.
 *
 * The rows are walked in two halves of four sub-blocks (Q6_K: four quarters
 * of four groups), so that each activation vector is loaded once per
 * super-block for all four rows and the live registers stay below 32.
 */
#ifndef LF_MV_IL_KQUANTS_NEON_H
#define LF_MV_IL_KQUANTS_NEON_H

/* d (u16 lane 0) and the next u16 lane (lane 1) of four 16-byte headers,
 * as [lane 0 of h0..h3, lane 1 of h0..h3] */
INLINE uint16x8_t ilk_gather01(uint16x8_t h0, uint16x8_t h1, uint16x8_t h2, uint16x8_t h3) {
    const uint32x4_t a = vreinterpretq_u32_u16(vzip1q_u16(h0, h1));   /* h0.0 h1.0 h0.1 h1.1 */
    const uint32x4_t b = vreinterpretq_u32_u16(vzip1q_u16(h2, h3));
    return vreinterpretq_u16_u32(vzip1q_u32(a, b));
}

/* Σ of the four lanes of each v[r] into lane r */
INLINE int32x4_t ilk_fold4(const int32x4_t v[4]) {
    return vpaddq_s32(vpaddq_s32(v[0], v[1]), vpaddq_s32(v[2], v[3]));
}

/* ---- Q4_K / Q5_K -----------------------------------------------------------
 * Super-block of the group: 576 bytes (Q5_K 704). Row r's header at 16r:
 * d, dmin, bytes 4..11 = sc | (mn >> 4) << 6, bytes 12..15 the low nibbles
 * of the mins two per byte. Sub-block j's quants at 64 + 64j + 16r: low
 * nibbles the first 16 quants, high nibbles the next 16. Q5_K's fifth bits
 * of sub-block j: two 64-bit masks at 576 + 16j, bit 16r + i the fifth bit
 * of lane i (low nibbles, then high nibbles); a table lookup spreads the
 * two bytes of row r over 16 lanes and cmtst picks each lane's bit, as in
 * Q5_0. The mins meet the sub-block sums of the activations (pairs of Q8_K
 * bsums) in one widening multiply per row. */
static const uint8_t ilk_mn_idx[8] = {12, 12, 13, 13, 14, 14, 15, 15};
static const int8_t ilk_mn_shift[8] = {0, -4, 0, -4, 0, -4, 0, -4};

/* Row r's fifth-bit masks, lanes of the low (h = 0) or high (h = 1) half:
 * bytes 8h + 2r (lanes 0-7) and 8h + 2r + 1 (lanes 8-15) of the vector */
#define ILK_IDX(r, h) {8 * (h) + 2 * (r), 8 * (h) + 2 * (r), 8 * (h) + 2 * (r), 8 * (h) + 2 * (r), \
                       8 * (h) + 2 * (r), 8 * (h) + 2 * (r), 8 * (h) + 2 * (r), 8 * (h) + 2 * (r), \
                       8 * (h) + 2 * (r) + 1, 8 * (h) + 2 * (r) + 1, 8 * (h) + 2 * (r) + 1,       \
                       8 * (h) + 2 * (r) + 1, 8 * (h) + 2 * (r) + 1, 8 * (h) + 2 * (r) + 1,       \
                       8 * (h) + 2 * (r) + 1, 8 * (h) + 2 * (r) + 1}
static const uint8_t ilk_q5_idx[4][2][16] = {
    {ILK_IDX(0, 0), ILK_IDX(0, 1)}, {ILK_IDX(1, 0), ILK_IDX(1, 1)},
    {ILK_IDX(2, 0), ILK_IDX(2, 1)}, {ILK_IDX(3, 0), ILK_IDX(3, 1)},
};
#undef ILK_IDX

/* Row r's 6-bit scales of sub-blocks 4hh .. 4hh + 3 as int32 lanes */
INLINE int32x4_t ilk_q45_scales(uint8x16_t h, int hh) {
    const uint8x8_t sc = vand_u8(vget_low_u8(vextq_u8(h, h, 4)), vdup_n_u8(63));
    const uint16x8_t w = vmovl_u8(sc);
    return vreinterpretq_s32_u32(hh ? vmovl_high_u16(w) : vmovl_u16(vget_low_u16(w)));
}

/* Row r's Σ_j mn(r, j) · (bsums[2j] + bsums[2j + 1]) in four lanes */
INLINE int32x4_t ilk_q45_mins(uint8x16_t h, int16x8_t ys) {
    const uint8x8_t top = vshl_n_u8(vshr_n_u8(vget_low_u8(vextq_u8(h, h, 4)), 6), 4);
    const uint8x8_t low = vand_u8(vshl_u8(vqtbl1_u8(h, vld1_u8(ilk_mn_idx)), vld1_s8(ilk_mn_shift)),
                                  vdup_n_u8(15));
    const int16x8_t mn = vreinterpretq_s16_u16(vmovl_u8(vorr_u8(top, low)));
    return vmlal_high_s16(vmull_s16(vget_low_s16(mn), vget_low_s16(ys)), mn, ys);
}

INLINE void il_q45_body(int n, float *s, const uint8_t *x, const lf_block_q8_K *y, const bool five) {
    const int nb = n / LF_QK_K;
    const size_t sbytes = five ? 704 : 576;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b4 = vdupq_n_u8(0x10);
    const uint8x16_t sel = vld1q_u8(il_bit_sel);
    float32x4_t acc = vdupq_n_f32(0);
    for (int b = 0; b < nb; b++, x += sbytes) {
        const int8_t *q8 = y[b].qs;
        uint8x16_t h[4];
        int32x4_t isum[4], msum[4];
        const int16x8_t ys = vpaddq_s16(vld1q_s16(y[b].bsums), vld1q_s16(y[b].bsums + 8));
        UNROLL4 {
            h[r] = vld1q_u8(x + 16 * r);
            isum[r] = vdupq_n_s32(0);
        }
        for (int hh = 0; hh < 2; hh++) {
            int8x16_t alo[4], ahi[4];
            UNROLL_B4 {
                alo[b] = vld1q_s8(q8 + 128 * hh + 32 * b);
                ahi[b] = vld1q_s8(q8 + 128 * hh + 32 * b + 16);
            }
            UNROLL4 {
                int32x4_t is[4];
                uint8x16_t idx0 = m4, idx1 = m4;
                if (five) {
                    idx0 = vld1q_u8(ilk_q5_idx[r][0]);
                    idx1 = vld1q_u8(ilk_q5_idx[r][1]);
                }
                UNROLL_B4 {
                    const int j = 4 * hh + b;
                    const uint8x16_t v = vld1q_u8(x + 64 + 64 * j + 16 * r);
                    uint8x16_t lo = vandq_u8(v, m4), hi = vshrq_n_u8(v, 4);
                    if (five) {
                        const uint8x16_t mk = vld1q_u8(x + 576 + 16 * j);
                        const uint8x16_t f0 = vtstq_u8(vqtbl1q_u8(mk, idx0), sel);
                        const uint8x16_t f1 = vtstq_u8(vqtbl1q_u8(mk, idx1), sel);
                        lo = vbslq_u8(m4, v, vandq_u8(f0, b4));
                        hi = vsriq_n_u8(vandq_u8(f1, b4), v, 4);
                    }
                    is[b] = il_dot16(il_dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(lo), alo[b]),
                                     vreinterpretq_s8_u8(hi), ahi[b]);
                }
                isum[r] = vmlaq_s32(isum[r], ilk_fold4(is), ilk_q45_scales(h[r], hh));
            }
        }
        UNROLL4 msum[r] = ilk_q45_mins(h[r], ys);
        const uint16x8_t dm = ilk_gather01(vreinterpretq_u16_u8(h[0]), vreinterpretq_u16_u8(h[1]),
                                           vreinterpretq_u16_u8(h[2]), vreinterpretq_u16_u8(h[3]));
        const float16x8_t dmh = vreinterpretq_f16_u16(dm);
        const float32x4_t d = vmulq_n_f32(vcvt_f32_f16(vget_low_f16(dmh)), y[b].d);
        const float32x4_t dmin = vmulq_n_f32(vcvt_high_f32_f16(dmh), y[b].d);
        acc = vfmaq_f32(acc, vcvtq_f32_s32(ilk_fold4(isum)), d);
        acc = vfmsq_f32(acc, vcvtq_f32_s32(ilk_fold4(msum)), dmin);
    }
    vst1q_f32(s, acc);
}

/* ---- Q6_K -------------------------------------------------------------------
 * Super-block of the group: 832 bytes, then (after all nb of them) 8 bytes
 * of d per super-block. Bytes 8r + g / 32 + 8r + g: row r's scales of
 * groups g / 8 + g. Quarter t: vectors B0, B1, B2 at 64 + 192t + 64k, row
 * r at +16r; groups 4t + k (k < 3) are Bk & 63, group 4t + 3 is bits 6-7 of
 * B0, B1, B2 as its bits 0-1, 2-3, 4-5: two shift-right-and-inserts put
 * them side by side in bits 2-7 and one shift brings them down. Quants
 * stay unsigned (0..63, exact in int8); the -32 offset comes off once per
 * row and super-block as -32·Σ_g scale_g · bsums[g]. */
INLINE void il_q6_K_body(int n, float *s, const uint8_t *x, const lf_block_q8_K *y) {
    const int nb = n / LF_QK_K;
    const uint8_t *dp = x + (size_t)nb * 832;
    const uint8x16_t m63 = vdupq_n_u8(63);
    float32x4_t acc = vdupq_n_f32(0);
    for (int b = 0; b < nb; b++, x += 832, dp += 8) {
        const int8_t *q8 = y[b].qs;
        const int16x8_t bs0 = vld1q_s16(y[b].bsums), bs1 = vld1q_s16(y[b].bsums + 8);
        int16x8_t sc[4][2];
        int32x4_t isum[4];
        UNROLL4 {
            sc[r][0] = vmovl_s8(vld1_s8((const int8_t *)x + 8 * r));
            sc[r][1] = vmovl_s8(vld1_s8((const int8_t *)x + 32 + 8 * r));
            int32x4_t c = vmull_s16(vget_low_s16(sc[r][0]), vget_low_s16(bs0));
            c = vmlal_high_s16(c, sc[r][0], bs0);
            c = vmlal_s16(c, vget_low_s16(sc[r][1]), vget_low_s16(bs1));
            c = vmlal_high_s16(c, sc[r][1], bs1);
            isum[r] = vmulq_n_s32(c, -32);
        }
        for (int t = 0; t < 4; t++) {
            int8x16_t a[4];
            UNROLL_B4 a[b] = vld1q_s8(q8 + 64 * t + 16 * b);
            UNROLL4 {
                const uint8_t *v = x + 64 + 192 * t + 16 * r;
                const uint8x16_t b0 = vld1q_u8(v), b1 = vld1q_u8(v + 64), b2 = vld1q_u8(v + 128);
                /* bits 7-6: B2's, 5-4: B1's, 3-2: B0's top bits */
                const uint8x16_t top = vsriq_n_u8(vsriq_n_u8(b2, b1, 2), b0, 4);
                const int8x16_t w[4] = {
                    vreinterpretq_s8_u8(vandq_u8(b0, m63)), vreinterpretq_s8_u8(vandq_u8(b1, m63)),
                    vreinterpretq_s8_u8(vandq_u8(b2, m63)), vreinterpretq_s8_u8(vshrq_n_u8(top, 2))};
                int32x4_t is[4];
                UNROLL_B4 is[b] = il_dot16(vdupq_n_s32(0), w[b], a[b]);
                const int16x8_t s16 = sc[r][t / 2];
                const int32x4_t s32 = t % 2 ? vmovl_high_s16(s16) : vmovl_s16(vget_low_s16(s16));
                isum[r] = vmlaq_s32(isum[r], ilk_fold4(is), s32);
            }
        }
        const float32x4_t d = vmulq_n_f32(il_h4(dp), y[b].d);
        acc = vfmaq_f32(acc, vcvtq_f32_s32(ilk_fold4(isum)), d);
    }
    vst1q_f32(s, acc);
}

#endif /* LF_MV_IL_KQUANTS_NEON_H */
