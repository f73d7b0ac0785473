/*
 * The 256-bit packed int8 GEMM tile (layout in kernels/internal.h), shared
 * by the AVX2 file (vpmaddubsw + vpmaddwd) and the AVX-VNNI file (256-bit
 * vpdpbusd), which differ only in how 4 u8·s8 products reach an int32
 * lane. The includer defines GT_DOT(acc, w, a) — acc + Σ4 w·a per dword —
 * and GT_NAME(x), the prefix of the functions made here.
 *
 * A 64-byte panel group holds 4 k of 16 rows; on 256-bit vectors that is
 * two halves of 8 rows. With 8 int32 and 8 float accumulators a full
 * 16 × 8 tile would need 32 registers, so the tile is walked as 8 rows ×
 * 4 columns at a time (4 + 4 accumulators, the weight vector, the
 * broadcast): every half is read twice from L1, once per column quad.
 * Columns past ncols in a quad are computed on the zero columns of the
 * prepared block and not stored.
 *
 * Modes (m), chosen per type from the description:
 *   GT_SIGNED  bias 128 (Q8_0, IQ4_*), plain AVX2: u ≤ 255 would saturate
 *              vpmaddubsw, so the panel byte is turned back into the
 *              signed quant (u ^ 0x80) and multiplied as |q| · sign(a, q);
 *              the -bias·Σa term is then not needed
 *   1, 2, 4    the number of 4-k groups whose int16 pair sums vpmaddubsw
 *              can add before widening: 2·u_max·127·m ≤ 32767 (u ≤ 127,
 *              63, 31); with VNNI always 1
 */
#ifndef LF_GEMM_TILE_AVX2_H
#define LF_GEMM_TILE_AVX2_H

#include "kernels/internal.h"

#include <immintrin.h>

#define GT_INLINE static inline __attribute__((always_inline))
#define GT_UNROLL _Pragma("GCC unroll 8")
#define GT_SIGNED 0

/* Lanes < n of 8 set (for masked stores of a partial half). */
GT_INLINE __m256i gt_row_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#endif /* LF_GEMM_TILE_AVX2_H */

/* Rows [8·half, 8·half + 8) × columns [c0, c0 + 4) of the tile. */
GT_INLINE void GT_NAME(quad)(int K, const uint8_t *qs, const float *sw, const float *mw,
                             const void *acts, float *y, size_t ldy, int nrows, int half,
                             int c0, int ncols, const int chunk, const bool has_min,
                             const int m) {
    const int ngrp = chunk / 4, nch = K / chunk;
    const int32_t *aq = acts;
    const float *meta = (const float *)((const int8_t *)acts + (size_t)K * LF_GEMM_COLS);
    const __m256i ones16 = _mm256_set1_epi16(1), flip = _mm256_set1_epi8((char)0x80);
    __m256 acc[4];
    GT_UNROLL for (int c = 0; c < 4; c++)
        acc[c] = _mm256_setzero_ps();
    for (int ch = 0; ch < nch; ch++) {
        const float *md = meta + (size_t)ch * 3 * LF_GEMM_COLS;
        const int32_t *nb = (const int32_t *)(md + LF_GEMM_COLS);
        __m256i ia[4];
        GT_UNROLL for (int c = 0; c < 4; c++)
            ia[c] = m == GT_SIGNED ? _mm256_setzero_si256() : _mm256_set1_epi32(nb[c0 + c]);
        const uint8_t *wq = qs + (size_t)ch * (size_t)chunk * LF_GEMM_ROWS + (size_t)half * 32;
        const int32_t *a = aq + (size_t)ch * ngrp * LF_GEMM_COLS + c0;
#ifdef GT_VNNI
        (void)ones16;
        (void)flip;
        /* even and odd groups into separate accumulators: 8 chains keep
         * vpdpbusd (latency 5, two per cycle) busy where 4 would not */
        __m256i ib[4];
        GT_UNROLL for (int c = 0; c < 4; c++)
            ib[c] = _mm256_setzero_si256();
        GT_UNROLL for (int g = 0; g < ngrp; g += 2) {
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(wq + (size_t)g * 64));
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wq + (size_t)g * 64 + 64));
            GT_UNROLL for (int c = 0; c < 4; c++) {
                ia[c] = GT_DOT(ia[c], w0, _mm256_set1_epi32(a[g * LF_GEMM_COLS + c]));
                ib[c] = GT_DOT(ib[c], w1, _mm256_set1_epi32(a[(g + 1) * LF_GEMM_COLS + c]));
            }
        }
        GT_UNROLL for (int c = 0; c < 4; c++)
            ia[c] = _mm256_add_epi32(ia[c], ib[c]);
#else
        if (m == GT_SIGNED) {
            GT_UNROLL for (int g = 0; g < ngrp; g++) {
                const __m256i q = _mm256_xor_si256(
                    _mm256_loadu_si256((const __m256i *)(wq + (size_t)g * 64)), flip);
                const __m256i uq = _mm256_sign_epi8(q, q);
                GT_UNROLL for (int c = 0; c < 4; c++) {
                    const __m256i s = _mm256_sign_epi8(_mm256_set1_epi32(a[g * LF_GEMM_COLS + c]), q);
                    ia[c] = _mm256_add_epi32(ia[c], _mm256_madd_epi16(_mm256_maddubs_epi16(uq, s), ones16));
                }
            }
        } else {
            GT_UNROLL for (int g0 = 0; g0 < ngrp; g0 += m) {
                __m256i p[4];
                GT_UNROLL for (int g = g0; g < g0 + m; g++) {
                    const __m256i w = _mm256_loadu_si256((const __m256i *)(wq + (size_t)g * 64));
                    GT_UNROLL for (int c = 0; c < 4; c++) {
                        const __m256i t = _mm256_maddubs_epi16(w, _mm256_set1_epi32(a[g * LF_GEMM_COLS + c]));
                        p[c] = g == g0 ? t : _mm256_add_epi16(p[c], t);
                    }
                }
                GT_UNROLL for (int c = 0; c < 4; c++)
                    ia[c] = _mm256_add_epi32(ia[c], _mm256_madd_epi16(p[c], ones16));
            }
        }
#endif
        const __m256 s = _mm256_loadu_ps(sw + ch * LF_GEMM_ROWS + half * 8);
        GT_UNROLL for (int c = 0; c < 4; c++)
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(ia[c]),
                                                   _mm256_set1_ps(md[c0 + c])), s, acc[c]);
        if (has_min) {
            const __m256 mv = _mm256_loadu_ps(mw + ch * LF_GEMM_ROWS + half * 8);
            GT_UNROLL for (int c = 0; c < 4; c++)
                acc[c] = _mm256_fmadd_ps(mv, _mm256_set1_ps(md[2 * LF_GEMM_COLS + c0 + c]), acc[c]);
        }
    }
    const int nr = nrows - 8 * half;
    float *yo = y + 8 * half;
    GT_UNROLL for (int c = 0; c < 4; c++) {
        if (c0 + c >= ncols)
            break;
        if (nr >= 8)
            _mm256_storeu_ps(yo + (size_t)(c0 + c) * ldy, acc[c]);
        else
            _mm256_maskstore_ps(yo + (size_t)(c0 + c) * ldy, gt_row_mask(nr), acc[c]);
    }
}

/* The whole tile: both halves (the second only if it has rows), both
 * column quads (the second only if it has columns). */
GT_INLINE void GT_NAME(body)(int K, const uint8_t *qs, const float *sw, const float *mw,
                             const void *acts, int ncols, float *y, size_t ldy, int nrows,
                             const int chunk, const bool has_min, const int m) {
    for (int c0 = 0; c0 < ncols; c0 += 4)
        for (int half = 0; half < 2 && 8 * half < nrows; half++)
            GT_NAME(quad)(K, qs, sw, mw, acts, y, ldy, nrows, half, c0, ncols, chunk, has_min, m);
}
