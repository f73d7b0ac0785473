/*
 * MXFP4 × Q8_0 on AVX-512 (gpt-oss's expert weights), two blocks per
 * 512-bit vector. The codes become unsigned levels through vpshufb on a
 * table of the doubled E2M1 levels plus 12 (0 … 24), so one vpdpbusd (or
 * vpmaddubsw + vpmaddwd without VNNI) multiplies them by the int8
 * activations, and 12·Σy — shared by every row — is subtracted after. The
 * nibbles of blocks A and B load as [A.lo, B.lo, A.hi, B.hi] (16 bytes
 * each); the activations are permuted once per pair to the same order.
 * Each 4-lane group of int32 sums belongs to one block and is scaled by
 * 2^(e − 128) of its block and the activation's fp16 scale. An odd last
 * block takes one 256-bit step. Held to lf_vec_dot_mxfp4_ref by
 * tests/kernels/test_mxfp4.c.
 */
#include "kernels/internal.h"

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

/* The unsigned table: lf_mxfp4_values + 12 in every 128-bit lane. */
INLINE __m512i utable(void) {
    const __m128i t = _mm_add_epi8(_mm_loadu_si128((const __m128i *)lf_mxfp4_values),
                                   _mm_set1_epi8(12));
    return _mm512_broadcast_i32x4(t);
}

/* Σ4 of u8·s8 into int32 lanes. */
INLINE __m512i dot_us(__m512i u, __m512i s, const bool vnni) {
    if (vnni)
        return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
    return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
}

INLINE void mv_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr,
                    const bool vnni) {
    const lf_block_q8_0 *yb = y;
    const int nb = n / LF_QK_MXFP4;
    const __m512i table = utable();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    /* qwords of y[A] y[B] → [A 0-15, B 0-15, A 16-31, B 16-31] */
    const __m512i yperm = _mm512_set_epi64(7, 6, 3, 2, 5, 4, 1, 0);
    /* lane group → block: groups 0 and 2 are A, 1 and 3 are B */
    const __m512i gsel = _mm512_set_epi32(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512 acc[LF_MV_MAX_ROWS];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i q8 = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)yb[i].qs)),
            _mm256_loadu_si256((const __m256i *)yb[i + 1].qs), 1);
        q8 = _mm512_permutexvar_epi64(yperm, q8);
        const __m512i off = dot_us(_mm512_set1_epi8(12), q8, vnni);   /* 12·Σy per lane */
        const __m512 dy = _mm512_permutexvar_ps(
            gsel, _mm512_castps128_ps512(_mm_set_ps(0, 0, _cvtsh_ss(yb[i + 1].d),
                                                    _cvtsh_ss(yb[i].d))));
        for (int r = 0; r < nr; r++) {
            const lf_block_mxfp4 *xb = (const lf_block_mxfp4 *)((const char *)x + (size_t)r * bx) + i;
            const __m256i q = _mm256_loadu2_m128i((const __m128i *)xb[1].qs,
                                                  (const __m128i *)xb[0].qs);
            const __m512i idx = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_and_si256(q, m4)),
                _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), 1);
            const __m512i p = _mm512_sub_epi32(dot_us(_mm512_shuffle_epi8(table, idx), q8, vnni), off);
            const __m512 sx = _mm512_permutexvar_ps(
                gsel, _mm512_castps128_ps512(_mm_set_ps(0, 0, lf_e8m0_half_to_float(xb[1].e),
                                                        lf_e8m0_half_to_float(xb[0].e))));
            acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(sx, dy), _mm512_cvtepi32_ps(p), acc[r]);
        }
    }
    for (int r = 0; r < nr; r++)
        s[r] = _mm512_reduce_add_ps(acc[r]);
    if (i < nb) {
        /* the odd last block in 256 bits: [lo, hi] is the Q8_0 order */
        const __m256i q8 = _mm256_loadu_si256((const __m256i *)yb[i].qs);
        const __m256i table8 = _mm512_castsi512_si256(table), ones = _mm256_set1_epi16(1);
        const __m256i off = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(12), q8), ones);
        const float dy = _cvtsh_ss(yb[i].d);
        for (int r = 0; r < nr; r++) {
            const lf_block_mxfp4 *xb = (const lf_block_mxfp4 *)((const char *)x + (size_t)r * bx) + i;
            const __m128i q = _mm_loadu_si128((const __m128i *)xb->qs);
            const __m256i idx = _mm256_and_si256(
                _mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);
            const __m256i u = _mm256_shuffle_epi8(table8, idx);
            const __m256i p = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(u, q8), ones), off);
            const __m256 f = _mm256_cvtepi32_ps(p);
            __m128 h = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
            h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            h = _mm_add_ss(h, _mm_movehdup_ps(h));
            s[r] += _mm_cvtss_f32(h) * dy * lf_e8m0_half_to_float(xb->e);
        }
    }
}

#define MV_WRAPPERS(suffix, vnni)                                                     \
    static void mv_mxfp4_##suffix(int n, float *s, const void *x, size_t bx,          \
                                  const void *y, int nr) {                            \
        switch (nr) {                                                                 \
        case 1: mv_body(n, s, x, bx, y, 1, vnni); break;                              \
        case 2: mv_body(n, s, x, bx, y, 2, vnni); break;                              \
        case 3: mv_body(n, s, x, bx, y, 3, vnni); break;                              \
        default: mv_body(n, s, x, bx, y, 4, vnni); break;                             \
        }                                                                             \
    }                                                                                 \
    static void dot_mxfp4_##suffix(int n, float *s, const void *x, const void *y) {   \
        mv_body(n, s, x, 0, y, 1, vnni);                                              \
    }

MV_WRAPPERS(vnni, true)
MV_WRAPPERS(plain, false)

void lf_kernels_fill_mxfp4_avx512(lf_kernel_set *ks, bool vnni) {
    ks->vec_dot[LF_TYPE_MXFP4] = vnni ? dot_mxfp4_vnni : dot_mxfp4_plain;
    ks->mv[LF_TYPE_MXFP4] = vnni ? mv_mxfp4_vnni : mv_mxfp4_plain;
}
