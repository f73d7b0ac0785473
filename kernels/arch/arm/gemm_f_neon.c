/*
 * arm64 (baseline ASIMD) packed float GEMM tile for prompt processing with
 * F32, F16 and BF16 weights: the panel and activation blocks of internal.h
 * (panel [k][16 rows], activations [k][8 columns], both floats, packed by
 * the portable packers), so only the inner kernel is arm's.
 *
 * 16 rows × 8 columns would need 32 accumulators, every register there is,
 * so a tile is two passes of 16 rows × 4 columns: per k, four panel loads
 * (the 16 rows), one activation load (4 columns) and 16 multiply-adds by
 * lane. Each column's 16 rows end contiguous in y, as four stores.
 */
#include "kernels/internal.h"

#include <arm_neon.h>
#include <string.h>

/* Columns c0 .. c0 + 3 of the tile: f[c][q] = rows 4q .. 4q + 3. The sums
 * live in locals until the end (through f the compiler kept them in
 * memory: 8 stores per k). */
static inline __attribute__((always_inline)) void pass4(int K, const float *panel,
                                                        const float *acts, int c0,
                                                        float32x4_t f[4][4]) {
    float32x4_t a00 = vdupq_n_f32(0), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00,
                a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00,
                a31 = a00, a32 = a00, a33 = a00;
    for (int k = 0; k < K; k++) {
        const float *p = panel + (size_t)k * LF_GEMM_ROWS;
        const float32x4_t w0 = vld1q_f32(p), w1 = vld1q_f32(p + 4), w2 = vld1q_f32(p + 8),
                          w3 = vld1q_f32(p + 12);
        const float32x4_t a = vld1q_f32(acts + (size_t)k * LF_GEMM_COLS + c0);
#define COL(c)                                     \
    do {                                           \
        a##c##0 = vfmaq_laneq_f32(a##c##0, w0, a, c); \
        a##c##1 = vfmaq_laneq_f32(a##c##1, w1, a, c); \
        a##c##2 = vfmaq_laneq_f32(a##c##2, w2, a, c); \
        a##c##3 = vfmaq_laneq_f32(a##c##3, w3, a, c); \
    } while (0)
        COL(0);
        COL(1);
        COL(2);
        COL(3);
#undef COL
    }
    const float32x4_t r[4][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13},
                                 {a20, a21, a22, a23}, {a30, a31, a32, a33}};
    memcpy(f, r, sizeof r);
}

/* y[c * ldy + r] = the product, r < nrows, c < ncols. */
static void gemm_f_tile_neon(int K, const float *panel, const float *acts, int ncols, float *y,
                             size_t ldy, int nrows) {
    for (int c0 = 0; c0 < ncols; c0 += 4) {
        float32x4_t f[4][4];
        pass4(K, panel, acts, c0, f);
        for (int c = 0; c < 4 && c0 + c < ncols; c++) {
            float *yc = y + (size_t)(c0 + c) * ldy;
            if (nrows == LF_GEMM_ROWS) {
                for (int q = 0; q < 4; q++)
                    vst1q_f32(yc + 4 * q, f[c][q]);
            } else {   /* a last partial panel: only its rows exist in y */
                float v[LF_GEMM_ROWS];
                for (int q = 0; q < 4; q++)
                    vst1q_f32(v + 4 * q, f[c][q]);
                memcpy(yc, v, (size_t)nrows * sizeof(float));
            }
        }
    }
}

void lf_kernels_fill_gemm_f_neon(lf_kernel_set *ks) { ks->gemm_f_tile = gemm_f_tile_neon; }
