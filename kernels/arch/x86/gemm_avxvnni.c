/*
 * The packed int8 GEMM tile on AVX-VNNI (256-bit vpdpbusd, VEX-encoded:
 * Intel client cores since Alder Lake, and Sapphire Rapids and later next
 * to AVX-512). vpdpbusd sums four u8·s8 products into int32 without the
 * int16 saturation of vpmaddubsw, so every packed type (u ≤ 255) runs the
 * one plain mode and the -bias·Σa start of each chunk. The tile itself is
 * gemm_tile_avx2.h; this file only supplies the dot. Compiled with
 * -mavxvnni and installed by lf_kernels_fill_gemm_avx2 only when the CPU
 * reports AVX-VNNI.
 */
#include "kernels/internal.h"

#include <immintrin.h>

#define GT_NAME(x) gt_vnni_##x
#define GT_VNNI 1
#define GT_DOT(acc, w, a) _mm256_dpbusd_avx_epi32(acc, w, a)
#include "kernels/arch/x86/gemm_tile_avx2.h"

#define TILE_FN(chunk, mn)                                                            \
    static void tile_##chunk##_##mn(int K, const uint8_t *qs, const float *sw,        \
                                    const float *mw, const void *acts, int ncols,     \
                                    float *y, size_t ldy, int nrows) {                \
        gt_vnni_body(K, qs, sw, mw, acts, ncols, y, ldy, nrows, chunk, mn, 1);        \
    }
TILE_FN(16, 0)
TILE_FN(16, 1)
TILE_FN(32, 0)
TILE_FN(32, 1)

void lf_gemm_tile_avxvnni(const lf_gemm_desc *g, int K, const uint8_t *qs, const float *sw,
                          const float *mw, const void *acts, int ncols, float *y, size_t ldy,
                          int nrows) {
    static void (*const fns[2][2])(int, const uint8_t *, const float *, const float *,
                                   const void *, int, float *, size_t, int) = {
        {tile_16_0, tile_16_1}, {tile_32_0, tile_32_1}};
    fns[g->chunk == 32][g->has_min](K, qs, sw, mw, acts, ncols, y, ldy, nrows);
}
