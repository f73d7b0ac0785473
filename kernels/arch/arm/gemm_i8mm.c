/*
 * Packed GEMM tile with the int8 matrix-multiply extension (smmla), built
 * with -march=armv8.6-a+i8mm and installed only when HWCAP2 reports it.
 * It reads the same panel and activation blocks as every other tile
 * (internal.h: [group of 4 k][16 rows][4 bytes] and [group][8 columns][4
 * bytes]); only the inner kernel is new.
 *
 * smmla multiplies a 2×8 int8 matrix by the transpose of another into a
 * 2×2 int32 block, so it wants 8 consecutive k of two rows (two columns)
 * in one vector. Two consecutive groups of the panel give exactly that
 * after one 32-bit zip: zip1(g, g+1) of rows 0-3 is rows 0, 1 with k 0..7,
 * zip2 rows 2, 3; the same for the activation columns. Per 8 k and half
 * panel (8 rows × 8 columns): 4 + 4 zips and 16 smmla, against 32 lane
 * sdot in the dotprod tile. Accumulator lanes are (r, c) = (0,0), (0,1),
 * (1,0), (1,1) of their row pair and column pair; the chunk scales are
 * laid out to match. As in the dotprod tile the panel bytes are read
 * signed, so the type's u must stay ≤ 127 (gemm_u_max).
 */
#include "kernels/internal.h"

#include <arm_neon.h>
#include <string.h>

/* float32x4 [a0, a0, a1, a1] */
static inline float32x4_t dup_pairs(const float *a) {
    const float32x2_t v = vld1_f32(a);
    return vzip1q_f32(vcombine_f32(v, v), vcombine_f32(v, v));
}

/* Rows 8rh .. 8rh + 7 of the panel against the 8 activation columns:
 * f[rp][cp] for row pair rp and column pair cp. */
static void tile_half(int K, int chunk, bool has_min, const int8_t *qs, const float *sw,
                      const float *mw, const int8_t *aq, const float *meta, int rh,
                      float32x4_t f[4][4]) {
    const int ngrp = chunk / 4, nch = K / chunk;
    for (int rp = 0; rp < 4; rp++)
        for (int cp = 0; cp < 4; cp++)
            f[rp][cp] = vdupq_n_f32(0);
    for (int ch = 0; ch < nch; ch++) {
        const float *m = meta + (size_t)ch * 3 * LF_GEMM_COLS;
        int32_t nb[LF_GEMM_COLS];
        memcpy(nb, m + LF_GEMM_COLS, sizeof nb);
        int32x4_t acc[4][4];
        for (int cp = 0; cp < 4; cp++) {
            /* -bias·Σq of the columns: lanes c0, c1, c0, c1 */
            const int32x2_t v = vld1_s32(nb + 2 * cp);
            for (int rp = 0; rp < 4; rp++)
                acc[rp][cp] = vcombine_s32(v, v);
        }
        for (int g = 0; g < ngrp; g += 2) {
            const size_t grp = (size_t)ch * ngrp + g;
            const int8_t *w = qs + grp * 64 + 32 * rh;
            const int32x4_t wa0 = vreinterpretq_s32_s8(vld1q_s8(w));
            const int32x4_t wa1 = vreinterpretq_s32_s8(vld1q_s8(w + 16));
            const int32x4_t wb0 = vreinterpretq_s32_s8(vld1q_s8(w + 64));
            const int32x4_t wb1 = vreinterpretq_s32_s8(vld1q_s8(w + 80));
            const int8x16_t wr[4] = {
                vreinterpretq_s8_s32(vzip1q_s32(wa0, wb0)), vreinterpretq_s8_s32(vzip2q_s32(wa0, wb0)),
                vreinterpretq_s8_s32(vzip1q_s32(wa1, wb1)), vreinterpretq_s8_s32(vzip2q_s32(wa1, wb1)),
            };
            const int8_t *a = aq + grp * LF_GEMM_COLS * 4;
            const int32x4_t aa0 = vreinterpretq_s32_s8(vld1q_s8(a));
            const int32x4_t aa1 = vreinterpretq_s32_s8(vld1q_s8(a + 16));
            const int32x4_t ab0 = vreinterpretq_s32_s8(vld1q_s8(a + 32));
            const int32x4_t ab1 = vreinterpretq_s32_s8(vld1q_s8(a + 48));
            const int8x16_t ac[4] = {
                vreinterpretq_s8_s32(vzip1q_s32(aa0, ab0)), vreinterpretq_s8_s32(vzip2q_s32(aa0, ab0)),
                vreinterpretq_s8_s32(vzip1q_s32(aa1, ab1)), vreinterpretq_s8_s32(vzip2q_s32(aa1, ab1)),
            };
            _Pragma("GCC unroll 4") for (int rp = 0; rp < 4; rp++)
                _Pragma("GCC unroll 4") for (int cp = 0; cp < 4; cp++)
                    acc[rp][cp] = vmmlaq_s32(acc[rp][cp], wr[rp], ac[cp]);
        }
        for (int rp = 0; rp < 4; rp++) {
            const float32x4_t s = dup_pairs(sw + ch * 16 + 8 * rh + 2 * rp);
            const float32x4_t mn = has_min ? dup_pairs(mw + ch * 16 + 8 * rh + 2 * rp) : vdupq_n_f32(0);
            for (int cp = 0; cp < 4; cp++) {
                const float32x2_t d = vld1_f32(m + 2 * cp);
                f[rp][cp] = vfmaq_f32(f[rp][cp], vcvtq_f32_s32(acc[rp][cp]),
                                      vmulq_f32(s, vcombine_f32(d, d)));
                if (has_min) {
                    const float32x2_t ds = vld1_f32(m + 2 * LF_GEMM_COLS + 2 * cp);
                    f[rp][cp] = vfmaq_f32(f[rp][cp], mn, vcombine_f32(ds, ds));
                }
            }
        }
    }
}

static void gemm_tile_i8mm(const lf_gemm_desc *g, int K, const uint8_t *qs, const float *sw,
                           const float *mw, const void *acts, int ncols, float *y, size_t ldy,
                           int nrows) {
    const int8_t *aq = acts;
    const float *meta = (const float *)(aq + (size_t)K * LF_GEMM_COLS);
    for (int rh = 0; rh < 2 && 8 * rh < nrows; rh++) {
        float32x4_t f[4][4];
        tile_half(K, g->chunk, g->has_min, (const int8_t *)qs, sw, mw, aq, meta, rh, f);
        for (int rp = 0; rp < 4; rp++)
            for (int cp = 0; cp < 4; cp++) {
                float v[4];
                vst1q_f32(v, f[rp][cp]);
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++) {
                        const int r = 8 * rh + 2 * rp + i, c = 2 * cp + j;
                        if (r < nrows && c < ncols)
                            y[(size_t)c * ldy + r] = v[2 * i + j];
                    }
            }
    }
}

void lf_kernels_fill_gemm_i8mm(lf_kernel_set *ks) {
    ks->gemm_tile = gemm_tile_i8mm;
    ks->gemm_u_max = 127;
}
