/*
 * AVX-512 decode kernels over the interleaved Q4_0, Q8_0 and F16 layouts
 * (kernels/interleave.c): one call computes the four dot products of one
 * group of rows against a quantized activation row, reading the group as
 * a single forward stream.
 *
 * Why a separate layout pays on this core: as stored, every row's step
 * needs two overlapping loads and a word permute to gather its quants,
 * and a permute plus an fp16 conversion to spread its scales, about 12
 * vector operations per 72 bytes (Q4_0), which on Zen 4 (two 512-bit
 * operations per cycle at best) is slower than one core's share of the
 * memory bandwidth. Here a row's quants are one whole vector and the 16
 * scales of the step (4 rows x 4 blocks) are converted once and
 * premultiplied by the activation scales, leaving 8 operations per row
 * step. The activation side (regrouping 34-byte Q8_0 blocks, the -8 or
 * -128 offsets) is done once per product (Q4_0) or once per step for the
 * four rows (Q8_0).
 *
 * Each body is instantiated with and without VNNI as in vecdot_avx512.c.
 */
#include "kernels/internal.h"

#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
/* The four rows' loops must unroll so the accumulators stay in registers
 * (GCC at -O2 keeps an indexed array in memory otherwise). */
#define FOR_ROWS _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)

/* acc += Σ4 u8·s8 per int32 lane (u ≤ 127 without VNNI: no saturation). */
/* Software prefetch 4 KiB down the group's stream, one request per line of
 * the step about to be read. On Zen 4 the hardware prefetchers alone did
 * better; on a Sapphire Rapids (2 threads, 350-435 MB of weights) these
 * kernels streamed at 0.76-0.82 of a plain read without it, where the AVX2
 * ones, which prefetch, reached 0.96-1.02 (mv_il_avx2.h). */
#define IL512_AHEAD 4096
INLINE void il512_prefetch(const uint8_t *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + IL512_AHEAD + o, _MM_HINT_T0);
}

INLINE __m512i il_dot_us(__m512i acc, __m512i u, __m512i s, const bool vnni) {
    if (vnni)
        return _mm512_dpbusd_epi32(acc, u, s);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s),
                                                   _mm512_set1_epi16(1)));
}

/* ---- Q4_0 ------------------------------------------------------------------
 * Step (4 blocks per row, 288 bytes): 16 fp16 scales d[r*4 + b], then the
 * 64 quant bytes of rows 0..3. The activations come prepared
 * (prep_act_q4_0 in interleave.c, 256 bytes a step): low-nibble and
 * high-nibble partners, the sums' -8 offset, and the scales in the order
 * of the weight scales, so a step costs the shared part two operations
 * (convert and multiply the 16 weight scales) and each row eight. */
/* row r: lane 4b + l <- lane r*4 + b */
static const int32_t row_idx[4][16] __attribute__((aligned(64))) = {
    {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3},
    {4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7},
    {8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11},
    {12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15},
};

/* One full step: xs the 288 step bytes, ya its 256 prepared activation bytes. */
INLINE void q4_0_step(const uint8_t *xs, const uint8_t *ya, __m512 acc[4], const bool vnni) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i alo = _mm512_load_si512(ya), ahi = _mm512_load_si512(ya + 64);
    const __m512i corr = _mm512_load_si512(ya + 128);
    const __m512 sc = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)xs)),
                                    _mm512_load_ps(ya + 192));
    const uint8_t *q = xs + 32;
    FOR_ROWS {
        const __m512i qv = _mm512_loadu_si512(q + 64 * r);
        __m512i isum = il_dot_us(corr, _mm512_and_si512(qv, m4), alo, vnni);
        isum = il_dot_us(isum, _mm512_and_si512(_mm512_srli_epi16(qv, 4), m4), ahi, vnni);
        const __m512 s = _mm512_permutexvar_ps(_mm512_load_si512(row_idx[r]), sc);
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc[r]);
    }
}

INLINE void mv_il_q4_0_body(int n, float *s, const void *vx, const void *vy, const bool vnni) {
    const uint8_t *ya = vy;
    const int nb = n / LF_QK4_0;
    const uint8_t *x = vx;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    int b = 0;
    for (; b + 4 <= nb; b += 4, x += 4 * 4 * sizeof(lf_block_q4_0), ya += 256) {
        il512_prefetch(x, 4 * 4 * sizeof(lf_block_q4_0));
        q4_0_step(x, ya, acc, vnni);
    }
    if (b < nb) {
        /* The last k < 4 blocks: widened to a full step with zero scales
         * in the missing blocks (whose prepared activations are zero). */
        const int k = nb - b;
        uint8_t xs[288] __attribute__((aligned(64)));
        memset(xs, 0, sizeof xs);
        for (int r = 0; r < 4; r++)
            for (int j = 0; j < k; j++) {
                memcpy(xs + 2 * (r * 4 + j), x + 2 * (r * k + j), 2);
                memcpy(xs + 32 + 64 * r + 16 * j, x + 8 * k + 16 * (r * k + j), 16);
            }
        q4_0_step(xs, ya, acc, vnni);
    }
    FOR_ROWS
        s[r] = _mm512_reduce_add_ps(acc[r]);
}

/* ---- Q5_0 ------------------------------------------------------------------
 * Step (4 blocks per row, 352 bytes): 16 fp16 scales, 4 rows × 4 blocks of
 * high-bit words, then each row's 64 nibble bytes (interleave.c). The
 * nibbles are as Q4_0's; bit j of a block's word adds 16 to
 * element j through a byte mask: elements 0-15 are the low nibbles and
 * take the low halves of the four words, 16-31 the high ones (pext picks
 * the halves). Weights are u - 16, so the sums start at twice Q4_0's
 * prepared -8 offsets. */
/* A step of k ≤ 4 blocks per row (a row's last step may be short): loads
 * are masked to the step's k blocks, and each row's scales are picked from
 * d[r*k + b]; blocks b ≥ k meet zero activations (prep zero-fills them). */
INLINE void q5_0_step(const uint8_t *xs, const uint8_t *ya, __m512 acc[4], const int k,
                      const bool vnni) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), b4 = _mm512_set1_epi8(0x10);
    const __m512i alo = _mm512_load_si512(ya), ahi = _mm512_load_si512(ya + 64);
    const __m512i c8 = _mm512_load_si512(ya + 128);
    const __m512i corr = _mm512_add_epi32(c8, c8);
    const __mmask16 dmask = (__mmask16)((1u << (4 * k)) - 1);
    /* lane 4b + l of row r takes scale r*k + b; the prepared dy sit at
     * lane 4r + b, which lines up with the weight scales only in a full
     * step, so a short one multiplies them in after the permute */
    const __m512i blk = _mm512_srli_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 2);
    const __m512 dy = _mm512_load_ps(ya + 192);
    const __m512 dx = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(dmask, xs));
    const __m512 sc = k == 4 ? _mm512_mul_ps(dx, dy) : dx;
    const __m512 dyb = _mm512_permutexvar_ps(blk, dy);
    const uint8_t *h = xs + 8 * k, *q = xs + 24 * k;
    const __mmask64 qmask = k == 4 ? ~(__mmask64)0 : (((__mmask64)1 << (16 * k)) - 1);
    const uint64_t lo_half = 0x0000FFFF0000FFFFull, hi_half = 0xFFFF0000FFFF0000ull;
    FOR_ROWS {
        uint64_t hw[2] = {0, 0};
        memcpy(hw, h + 4 * k * r, 4 * (size_t)k);
        const __mmask64 mlo = _pext_u64(hw[0], lo_half) | _pext_u64(hw[1], lo_half) << 32;
        const __mmask64 mhi = _pext_u64(hw[0], hi_half) | _pext_u64(hw[1], hi_half) << 32;
        const __m512i qv = _mm512_maskz_loadu_epi8(qmask, q + 16 * k * r);
        const __m512i lo = _mm512_and_si512(qv, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(qv, 4), m4);
        __m512i isum = il_dot_us(corr, _mm512_mask_add_epi8(lo, mlo, lo, b4), alo, vnni);
        isum = il_dot_us(isum, _mm512_mask_add_epi8(hi, mhi, hi, b4), ahi, vnni);
        const __m512i idx = _mm512_add_epi32(blk, _mm512_set1_epi32(r * k));
        __m512 s = _mm512_permutexvar_ps(idx, sc);
        if (k != 4)
            s = _mm512_mul_ps(s, dyb);
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc[r]);
    }
}

INLINE void mv_il_q5_0_body(int n, float *s, const void *vx, const void *vy, const bool vnni) {
    const uint8_t *ya = vy;
    const int nb = n / LF_QK5_0;
    const uint8_t *x = vx;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    int b = 0;
    for (; b + 4 <= nb; b += 4, x += 4 * 4 * sizeof(lf_block_q5_0), ya += 256)
        q5_0_step(x, ya, acc, 4, vnni);
    if (b < nb)
        q5_0_step(x, ya, acc, nb - b, vnni);
    FOR_ROWS
        s[r] = _mm512_reduce_add_ps(acc[r]);
}

/* ---- Q8_0 ------------------------------------------------------------------
 * Step (2 blocks per row, 272 bytes): 8 fp16 scales d[r*2 + b], then the
 * 64 quant bytes of rows 0..3. With VNNI the weights become unsigned by
 * flipping the sign bit and the sum starts at -128·Σy; without it the sign
 * of x moves onto y. */
/* row r: lanes 0-7 <- lane 2r, lanes 8-15 <- lane 2r + 1 */
static const int32_t row8_idx[4][16] __attribute__((aligned(64))) = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5},
    {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
};

INLINE void q8_0_step(const uint8_t *xs, const lf_block_q8_0 *y, __m512 acc[4], const bool vnni) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i yv = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)y[0].qs)),
        _mm256_loadu_si256((const __m256i *)y[1].qs), 1);
    __m512i corr = _mm512_setzero_si512();
    if (vnni)
        corr = _mm512_sub_epi32(corr, _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, yv));
    uint32_t dpair = (uint32_t)y[0].d | (uint32_t)y[1].d << 16;
    const __m256 dy = _mm256_cvtph_ps(_mm_set1_epi32((int)dpair));   /* dy0 dy1 dy0 dy1 ... */
    const __m256 sc = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)xs)), dy);
    const __m512 sc5 = _mm512_castps256_ps512(sc);
    const uint8_t *q = xs + 16;
    FOR_ROWS {
        const __m512i xv = _mm512_loadu_si512(q + 64 * r);
        __m512i isum;
        if (vnni) {
            isum = _mm512_dpbusd_epi32(corr, _mm512_xor_si512(xv, flip), yv);
        } else {
            __mmask64 neg = _mm512_movepi8_mask(xv);
            __m512i sy = _mm512_mask_sub_epi8(yv, neg, _mm512_setzero_si512(), yv);
            isum = il_dot_us(corr, _mm512_abs_epi8(xv), sy, false);
        }
        const __m512 s = _mm512_permutexvar_ps(_mm512_load_si512(row8_idx[r]), sc5);
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc[r]);
    }
}

INLINE void mv_il_q8_0_body(int n, float *s, const void *vx, const void *vy, const bool vnni) {
    const lf_block_q8_0 *y = vy;
    const int nb = n / LF_QK8_0;
    const uint8_t *x = vx;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    int b = 0;
    for (; b + 2 <= nb; b += 2, x += 4 * 2 * sizeof(lf_block_q8_0)) {
        il512_prefetch(x, 4 * 2 * sizeof(lf_block_q8_0));
        q8_0_step(x, y + b, acc, vnni);
    }
    if (b < nb) {
        /* one block left: a step with a zero second block */
        uint8_t xs[272] __attribute__((aligned(64)));
        lf_block_q8_0 yt[2];
        memset(xs, 0, sizeof xs);
        memset(yt, 0, sizeof yt);
        yt[0] = y[b];
        for (int r = 0; r < 4; r++) {
            memcpy(xs + 2 * (r * 2), x + 2 * r, 2);
            memcpy(xs + 16 + 64 * r, x + 8 + 32 * r, 32);
        }
        q8_0_step(xs, yt, acc, vnni);
    }
    FOR_ROWS
        s[r] = _mm512_reduce_add_ps(acc[r]);
}

/* ---- F16 -------------------------------------------------------------------
 * Steps of 32 halves: the activation halves (f16, the vec_dot_type) are
 * widened once per step for the four rows; each row widens its two 16-half
 * vectors and adds them in with two FMAs on two accumulators. */
INLINE void mv_il_f16_body(int n, float *s, const void *vx, const void *vy, const bool unused) {
    (void)unused;
    const uint8_t *x = vx;
    const lf_half *y = vy;
    __m512 acc[8];
    for (int i = 0; i < 8; i++)
        acc[i] = _mm512_setzero_ps();
    for (int c = 0; c < n / 32; c++, x += 256, y += 32) {
        il512_prefetch(x, 256);
        const __m512 a0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)y));
        const __m512 a1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + 16)));
        FOR_ROWS {
            const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + 64 * r)));
            const __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + 64 * r + 32)));
            acc[2 * r] = _mm512_fmadd_ps(w0, a0, acc[2 * r]);
            acc[2 * r + 1] = _mm512_fmadd_ps(w1, a1, acc[2 * r + 1]);
        }
    }
    FOR_ROWS
        s[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[2 * r], acc[2 * r + 1]));
}

#define IL_WRAPPER(name, suffix, vnni)                                               \
    static void mv_il_##name##_##suffix(int n, float *s, const void *x, size_t bx,   \
                                        const void *y, int nr) {                     \
        (void)bx;                                                                    \
        (void)nr;                                                                    \
        mv_il_##name##_body(n, s, x, y, vnni);                                       \
    }
IL_WRAPPER(q4_0, vnni, true)
IL_WRAPPER(q4_0, plain, false)
IL_WRAPPER(q5_0, vnni, true)
IL_WRAPPER(q5_0, plain, false)
IL_WRAPPER(q8_0, vnni, true)
IL_WRAPPER(q8_0, plain, false)
IL_WRAPPER(f16, any, false)
#undef IL_WRAPPER

void lf_kernels_fill_il_avx512(lf_kernel_set *ks, bool vnni) {
    ks->mv_il[LF_TYPE_Q4_0] = vnni ? mv_il_q4_0_vnni : mv_il_q4_0_plain;
    ks->mv_il[LF_TYPE_Q8_0] = vnni ? mv_il_q8_0_vnni : mv_il_q8_0_plain;
    ks->mv_il[LF_TYPE_Q5_0] = vnni ? mv_il_q5_0_vnni : mv_il_q5_0_plain;
    ks->mv_il[LF_TYPE_F16] = mv_il_f16_any;
}
