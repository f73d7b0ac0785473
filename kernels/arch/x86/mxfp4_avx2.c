/*
 * MXFP4 × Q8_0 dot products and matrix-vector kernel on AVX2 (gpt-oss's
 * expert weights). A block is 32 E2M1 codes as nibbles (element j low in
 * qs[j], j + 16 high) and one E8M0 exponent; its values are the doubled
 * levels of lf_mxfp4_values (integers −12 … 12) times 2^(e − 128). One
 * block fills a 256-bit vector: the low nibbles in the low lane, the high
 * ones in the high lane, which is the Q8_0 block's element order; vpshufb
 * turns codes into unsigned levels (the doubled level + 12, 0 … 24) that
 * vpmaddubsw multiplies by the int8 activations without saturating, and
 * 12·Σy, computed once per block for every row, is subtracted after. The
 * block's int32 sums are scaled into float lanes once per block; up to
 * four rows share each activation load. Held to lf_vec_dot_mxfp4_ref by
 * tests/kernels/test_mxfp4.c.
 */
#include "kernels/internal.h"

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The 32 unsigned levels of one block, in element order. */
INLINE __m256i levels(const lf_block_mxfp4 *b, __m256i table) {
    const __m128i q = _mm_loadu_si128((const __m128i *)b->qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    const __m256i idx = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m),
                                         _mm_and_si128(q, m));
    return _mm256_shuffle_epi8(table, idx);
}

INLINE void mv_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr) {
    const lf_block_q8_0 *yb = y;
    const int nb = n / LF_QK_MXFP4;
    const __m256i table = _mm256_broadcastsi128_si256(_mm_add_epi8(
        _mm_loadu_si128((const __m128i *)lf_mxfp4_values), _mm_set1_epi8(12)));
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[LF_MV_MAX_ROWS];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const __m256i q8 = _mm256_loadu_si256((const __m256i *)yb[i].qs);
        const float dy = _cvtsh_ss(yb[i].d);
        const __m256i off = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(12), q8), ones);
        for (int r = 0; r < nr; r++) {
            const lf_block_mxfp4 *xb = (const lf_block_mxfp4 *)((const char *)x + (size_t)r * bx) + i;
            const __m256i p = _mm256_sub_epi32(
                _mm256_madd_epi16(_mm256_maddubs_epi16(levels(xb, table), q8), ones), off);
            const __m256 d = _mm256_set1_ps(dy * lf_e8m0_half_to_float(xb->e));
            acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        s[r] = hsum8(acc[r]);
}

static void mv_mxfp4(int n, float *s, const void *x, size_t bx, const void *y, int nr) {
    switch (nr) {
    case 1: mv_body(n, s, x, bx, y, 1); break;
    case 2: mv_body(n, s, x, bx, y, 2); break;
    case 3: mv_body(n, s, x, bx, y, 3); break;
    default: mv_body(n, s, x, bx, y, 4); break;
    }
}

static void dot_mxfp4(int n, float *s, const void *x, const void *y) {
    mv_body(n, s, x, 0, y, 1);
}

void lf_kernels_fill_mxfp4_avx2(lf_kernel_set *ks) {
    ks->vec_dot[LF_TYPE_MXFP4] = dot_mxfp4;
    ks->mv[LF_TYPE_MXFP4] = mv_mxfp4;
}
