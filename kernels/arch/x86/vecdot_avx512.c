/*
 * AVX-512 (F/BW/VL/DQ) kernels: dot products and multi-row matrix-vector
 * kernels per weight type, activation quantizers, the float kernels of the
 * ops, and — when VNNI is present — the packed int8 GEMM tile.
 *
 * Every integer kernel is written once as an always-inline body taking
 * `vnni` as a compile-time constant and instantiated twice: with VNNI the
 * u8×s8 and s16×s16 dot steps are vpdpbusd / vpdpwssd, without it they are
 * vpmaddubsw / vpmaddwd + vpaddd (the operands are kept small enough that
 * vpmaddubsw cannot saturate). Which instance runs is chosen by
 * lf_kernels_fill_avx512 from the CPU's features.
 *
 * Matrix-vector strategy (decoding streams each weight once, so the goal is
 * to keep up with memory): products of a block are summed in int32 lanes and
 * scaled into float lanes without any horizontal sum until the end of the
 * row; up to four rows share every activation load and activation-side
 * computation (sums, scale conversion, permutes).
 */
#include "kernels/internal.h"

#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* ---- integer dot steps --------------------------------------------------- */

/* acc += Σ4 u8·s8 per int32 lane. u ≤ 127 when !vnni (no saturation). */
INLINE __m512i dot_us(__m512i acc, __m512i u, __m512i s, const bool vnni) {
    if (vnni)
        return _mm512_dpbusd_epi32(acc, u, s);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s),
                                                   _mm512_set1_epi16(1)));
}

/* acc += Σ2 s16·s16 per int32 lane. */
INLINE __m512i dot_ww(__m512i acc, __m512i a, __m512i b, const bool vnni) {
    if (vnni)
        return _mm512_dpwssd_epi32(acc, a, b);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
}

INLINE float h2f(lf_half h) { return _cvtsh_ss(h); }

INLINE float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Two 32-byte halves into one vector. */
INLINE __m512i join256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* [a ×8, b ×8] as floats from two fp16 values. */
INLINE __m512 pair_scales(lf_half a, lf_half b) {
    return _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a)));
}

/* Software prefetch for matrix-vector streaming: while a group of nr rows
 * is read at some offset, the next group's rows (nr·bx bytes further, as
 * rows are contiguous) are fetched at the same offset. Rows of a few KiB
 * are too short for the hardware prefetchers to ramp up on each of the
 * group's streams: on Zen 4 (two threads, A/B in one process) this lifts
 * Q4_0 with 4096 columns from 18 to 23 GB/s. Long rows stream well on
 * their own and a whole group ahead is then too far (it only evicts
 * what is still needed), so beyond LF_PREFETCH_MAX_AHEAD nothing is
 * prefetched. bytes: how far this step reads into the row. */
#define LF_PREFETCH_MAX_AHEAD 16384
INLINE void prefetch_next_group(const void *p, size_t ahead, size_t bytes) {
    if (ahead == 0 || ahead > LF_PREFETCH_MAX_AHEAD)
        return;
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + ahead + o, _MM_HINT_T0);
}

/* Per-row float accumulators live in arrays indexed by compile-time
 * constants after unrolling, so they stay in registers. */
#define UNROLL _Pragma("GCC unroll 8")
#define FOR_R UNROLL for (int r = 0; r < nr; r++)

/* Wrappers: mv for nr = 1..4 and vec_dot = mv with one row, per variant. */
#define MV_WRAPPERS(name, suffix, vnni)                                          \
    static void mv_##name##_##suffix(int n, float *s, const void *x, size_t bx,   \
                                     const void *y, int nr) {                    \
        switch (nr) {                                                            \
        case 1: mv_##name##_body(n, s, x, bx, y, 1, vnni); break;                \
        case 2: mv_##name##_body(n, s, x, bx, y, 2, vnni); break;                \
        case 3: mv_##name##_body(n, s, x, bx, y, 3, vnni); break;                \
        default: mv_##name##_body(n, s, x, bx, y, 4, vnni); break;               \
        }                                                                        \
    }                                                                            \
    static void dot_##name##_##suffix(int n, float *s, const void *x, const void *y) { \
        mv_##name##_body(n, s, x, 0, y, 1, vnni);                                \
    }

/* ---- Q4_0 × Q8_0 ---------------------------------------------------------
 * Four blocks per step, one per 128-bit lane. Both block layouts keep every
 * field 16-bit aligned (18- and 34-byte blocks, quants at +2), so vpermt2w
 * gathers the 16 nibble bytes of 4 weight blocks, their 4 scales, and the
 * activation halves [y_k[0..15]] / [y_k[16..31]] out of two overlapping
 * 64-byte loads that never leave the 4 blocks. Low nibbles meet the first
 * halves, high nibbles the second; the -8 offset is folded into the int32
 * start value, -8·Σy per lane, computed once per step for all rows. A last
 * 1-3 blocks go two at a time (broadcast and shift by 0 / 4). */
#define W16(a) a, a, a, a
/* word index into the 128-byte window of two loads at +0 and +8 */
#define WIN(b) ((b) + 1 < 64 ? (b) / 2 : 32 + ((b) - 8) / 2)
#define QWORDS(k) WIN(18 * (k) + 2), WIN(18 * (k) + 4), WIN(18 * (k) + 6), WIN(18 * (k) + 8), \
                  WIN(18 * (k) + 10), WIN(18 * (k) + 12), WIN(18 * (k) + 14), WIN(18 * (k) + 16)
static const int16_t q40_qidx[32] __attribute__((aligned(64))) = {QWORDS(0), QWORDS(1), QWORDS(2), QWORDS(3)};
static const int16_t q40_didx[32] __attribute__((aligned(64))) = {W16(0), W16(9), W16(18), W16(27),
                                                                  W16(0), W16(0), W16(0), W16(0)};
#undef QWORDS
/* activations: 34-byte blocks; first halves from loads at +0/+64, second
 * halves from loads at +8/+72, scales at word 17k of the first pair */
#define AWORDS(k, off) ((34 * (k) + (off)) / 2), ((34 * (k) + (off)) / 2 + 1), \
    ((34 * (k) + (off)) / 2 + 2), ((34 * (k) + (off)) / 2 + 3), ((34 * (k) + (off)) / 2 + 4), \
    ((34 * (k) + (off)) / 2 + 5), ((34 * (k) + (off)) / 2 + 6), ((34 * (k) + (off)) / 2 + 7)
static const int16_t q80_lo_idx[32] __attribute__((aligned(64))) = {AWORDS(0, 2), AWORDS(1, 2), AWORDS(2, 2), AWORDS(3, 2)};
static const int16_t q80_hi_idx[32] __attribute__((aligned(64))) = {AWORDS(0, 10), AWORDS(1, 10), AWORDS(2, 10), AWORDS(3, 10)};
static const int16_t q80_didx[32] __attribute__((aligned(64))) = {W16(0), W16(17), W16(34), W16(51),
                                                                  W16(0), W16(0), W16(0), W16(0)};
#undef AWORDS
#undef WIN
#undef W16

INLINE void mv_q4_0_body(int n, float *s, const void *vx, size_t bx, const void *vy,
                         const int nr, const bool vnni) {
    const lf_block_q8_0 *y = vy;
    const int nb = n / LF_QK4_0;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i shift = _mm512_set_epi64(0x0004000400040004LL, 0x0004000400040004LL, 0, 0,
                                           0x0004000400040004LL, 0x0004000400040004LL, 0, 0);
    const __m512i eights = _mm512_set1_epi8(8);
    const __m512i qidx = _mm512_load_si512(q40_qidx), didx = _mm512_load_si512(q40_didx);
    const __m512i alo_idx = _mm512_load_si512(q80_lo_idx), ahi_idx = _mm512_load_si512(q80_hi_idx);
    const __m512i ad_idx = _mm512_load_si512(q80_didx);
    __m512 acc[4];
    FOR_R acc[r] = _mm512_setzero_ps();
    int b = 0;
    for (; b + 4 <= nb; b += 4) {
        const char *yb = (const char *)(y + b);
        const __m512i y0 = _mm512_loadu_si512(yb), y1 = _mm512_loadu_si512(yb + 64);
        const __m512i y2 = _mm512_loadu_si512(yb + 8), y3 = _mm512_loadu_si512(yb + 72);
        const __m512i alo = _mm512_permutex2var_epi16(y0, alo_idx, y1);
        const __m512i ahi = _mm512_permutex2var_epi16(y2, ahi_idx, y3);
        const __m512 dy = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(y0, ad_idx, y1)));
        const __m512i corr = _mm512_sub_epi32(_mm512_setzero_si512(),
            dot_us(dot_us(_mm512_setzero_si512(), eights, alo, vnni), eights, ahi, vnni));
        FOR_R {
            const char *xb = (const char *)vx + r * bx + (size_t)b * sizeof(lf_block_q4_0);
            prefetch_next_group(xb, (size_t)nr * bx, 4 * sizeof(lf_block_q4_0));
            const __m512i w0 = _mm512_loadu_si512(xb), w1 = _mm512_loadu_si512(xb + 8);
            const __m512i q = _mm512_permutex2var_epi16(w0, qidx, w1);
            __m512i isum = dot_us(corr, _mm512_and_si512(q, m4), alo, vnni);
            isum = dot_us(isum, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4), ahi, vnni);
            const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(didx, w0)));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, dy), acc[r]);
        }
    }
    for (; b < nb; b += 2) {
        const bool pair = b + 1 < nb;
        const int b1 = pair ? b + 1 : b;
        __m256i ylo = _mm256_loadu_si256((const __m256i *)y[b].qs);
        __m256i yhi = pair ? _mm256_loadu_si256((const __m256i *)y[b1].qs) : _mm256_setzero_si256();
        __m512i yv = join256(ylo, yhi);
        __m512i corr = _mm512_sub_epi32(_mm512_setzero_si512(),
                                        dot_us(_mm512_setzero_si512(), eights, yv, vnni));
        __m512 dy = pair_scales(y[b].d, pair ? y[b1].d : 0);
        FOR_R {
            const lf_block_q4_0 *x = (const lf_block_q4_0 *)((const char *)vx + r * bx);
            __m256i q0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x[b].qs));
            __m256i q1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x[b1].qs));
            __m512i w = _mm512_and_si512(_mm512_srlv_epi16(join256(q0, q1), shift), m4);
            __m512i isum = dot_us(corr, w, yv, vnni);
            __m512 scale = _mm512_mul_ps(pair_scales(x[b].d, x[b1].d), dy);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc[r]);
        }
    }
    FOR_R s[r] = _mm512_reduce_add_ps(acc[r]);
}

/* ---- Q8_0 × Q8_0 ---------------------------------------------------------
 * With VNNI the weights become unsigned by flipping the sign bit (q + 128)
 * and the accumulator starts at -128·Σy; without it the sign of x moves
 * onto y (|x| ≤ 128 times ±y ≤ 127 cannot saturate vpmaddubsw). */
INLINE void mv_q8_0_body(int n, float *s, const void *vx, size_t bx, const void *vy,
                         const int nr, const bool vnni) {
    const lf_block_q8_0 *y = vy;
    const int nb = n / LF_QK8_0;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 acc[4];
    FOR_R acc[r] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b += 2) {
        const bool pair = b + 1 < nb;
        const int b1 = pair ? b + 1 : b;
        __m256i ylo = _mm256_loadu_si256((const __m256i *)y[b].qs);
        __m256i yhi = pair ? _mm256_loadu_si256((const __m256i *)y[b1].qs) : _mm256_setzero_si256();
        __m512i yv = join256(ylo, yhi);
        __m512i corr = _mm512_setzero_si512();
        if (vnni)
            corr = _mm512_sub_epi32(corr, _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, yv));
        __m512 dy = pair_scales(y[b].d, pair ? y[b1].d : 0);
        FOR_R {
            const lf_block_q8_0 *x = (const lf_block_q8_0 *)((const char *)vx + r * bx);
            prefetch_next_group(x + b, (size_t)nr * bx, 2 * sizeof(lf_block_q8_0));
            __m512i xv = join256(_mm256_loadu_si256((const __m256i *)x[b].qs),
                                 _mm256_loadu_si256((const __m256i *)x[b1].qs));
            __m512i isum;
            if (vnni) {
                isum = _mm512_dpbusd_epi32(corr, _mm512_xor_si512(xv, flip), yv);
            } else {
                __mmask64 neg = _mm512_movepi8_mask(xv);
                __m512i sy = _mm512_mask_sub_epi8(yv, neg, _mm512_setzero_si512(), yv);
                isum = dot_us(corr, _mm512_abs_epi8(xv), sy, false);
            }
            __m512 scale = _mm512_mul_ps(pair_scales(x[b].d, x[b1].d), dy);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc[r]);
        }
    }
    FOR_R s[r] = _mm512_reduce_add_ps(acc[r]);
}

/* ---- K-quant helpers ------------------------------------------------------ */

/* The 8 scales and 8 mins of a Q4_K/Q5_K block as bytes (low 64 bits of
 * each result): for j < 4 the low 6 bits of bytes j / j+4; for j >= 4 a
 * nibble of byte j+4 with the top two bits of byte j-4 / j on top. */
INLINE void k4_unpack(const uint8_t *sc12, uint64_t *sc, uint64_t *mn) {
    uint32_t w0, w1, w2;
    memcpy(&w0, sc12, 4);
    memcpy(&w1, sc12 + 4, 4);
    memcpy(&w2, sc12 + 8, 4);
    uint32_t s_lo = w0 & 0x3f3f3f3fu;
    uint32_t m_lo = w1 & 0x3f3f3f3fu;
    uint32_t s_hi = (w2 & 0x0f0f0f0fu) | ((w0 >> 6) & 0x03030303u) << 4;
    uint32_t m_hi = ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 6) & 0x03030303u) << 4;
    *sc = s_lo | (uint64_t)s_hi << 32;
    *mn = m_lo | (uint64_t)m_hi << 32;
}

/* Word-index tables for vpermw: which scale each of the 32 words of a
 * product vector uses. */
static const int16_t k4_idx[4][32] __attribute__((aligned(64))) = {
    /* Q_m low nibbles: sub-blocks 4m (words 0-15) and 4m+2 (16-31) */
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6},
    {5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7},
};

static const int16_t k6_idx[4][32] __attribute__((aligned(64))) = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15},
};

/* ---- Q4_K / Q5_K × Q8_K --------------------------------------------------
 * The 128 quant bytes are two vectors Q0, Q1; the low nibbles of Q_m hold
 * elements 128m+0..31 and 128m+64..95, the high nibbles 128m+32..63 and
 * 128m+96..127, so the activations are regrouped the same way once per
 * super-block (shared by all rows). vpmaddubsw gives pair sums per 16-bit
 * word, which vpdpwssd multiplies by the per-word sub-block scale (vpermw
 * of the 8 scales) and accumulates in int32. The mins meet the Q8_K block
 * sums through one vpmaddwd per row. Q5_K adds the fifth bit from qh: bit
 * s of qh[l] belongs to element 32s + l. */
INLINE void mv_qk45_body(int n, float *s, const void *vx, size_t bx, const void *vy,
                         const int nr, const bool vnni, const bool five) {
    const lf_block_q8_K *y = vy;
    const int nb = n / LF_QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i idx0 = _mm512_load_si512(k4_idx[0]), idx1 = _mm512_load_si512(k4_idx[1]);
    const __m512i idx2 = _mm512_load_si512(k4_idx[2]), idx3 = _mm512_load_si512(k4_idx[3]);
    __m512 acc[4];
    __m256 macc[4];
    FOR_R {
        acc[r] = _mm512_setzero_ps();
        macc[r] = _mm256_setzero_ps();
    }
    for (int b = 0; b < nb; b++) {
        const __m512i a0 = _mm512_loadu_si512(y[b].qs), a1 = _mm512_loadu_si512(y[b].qs + 64);
        const __m512i a2 = _mm512_loadu_si512(y[b].qs + 128), a3 = _mm512_loadu_si512(y[b].qs + 192);
        const __m512i alo0 = _mm512_shuffle_i64x2(a0, a1, 0x44), ahi0 = _mm512_shuffle_i64x2(a0, a1, 0xEE);
        const __m512i alo1 = _mm512_shuffle_i64x2(a2, a3, 0x44), ahi1 = _mm512_shuffle_i64x2(a2, a3, 0xEE);
        const __m256i bsums = _mm256_loadu_si256((const __m256i *)y[b].bsums);
        const float dy = y[b].d;
        FOR_R {
            const uint8_t *xb = (const uint8_t *)vx + r * bx +
                                (size_t)b * (five ? sizeof(lf_block_q5_K) : sizeof(lf_block_q4_K));
            prefetch_next_group(xb, (size_t)nr * bx, five ? sizeof(lf_block_q5_K) : sizeof(lf_block_q4_K));
            const lf_half d = five ? ((const lf_block_q5_K *)xb)->d : ((const lf_block_q4_K *)xb)->d;
            const lf_half dmin = five ? ((const lf_block_q5_K *)xb)->dmin : ((const lf_block_q4_K *)xb)->dmin;
            const uint8_t *scales = five ? ((const lf_block_q5_K *)xb)->scales : ((const lf_block_q4_K *)xb)->scales;
            const uint8_t *qs = five ? ((const lf_block_q5_K *)xb)->qs : ((const lf_block_q4_K *)xb)->qs;
            uint64_t sc8, mn8;
            k4_unpack(scales, &sc8, &mn8);
            const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
            const __m128i mnb = _mm_cvtsi64_si128((long long)mn8);
            const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mnb, mnb));
            const __m256i mprod = _mm256_madd_epi16(mn16, bsums);
            const __m512i q0 = _mm512_loadu_si512(qs), q1 = _mm512_loadu_si512(qs + 64);
            __m512i l0 = _mm512_and_si512(q0, m4), h0 = _mm512_and_si512(_mm512_srli_epi16(q0, 4), m4);
            __m512i l1 = _mm512_and_si512(q1, m4), h1 = _mm512_and_si512(_mm512_srli_epi16(q1, 4), m4);
            if (five) {
                const uint8_t *qhp = ((const lf_block_q5_K *)xb)->qh;
                const __m256i qh = _mm256_loadu_si256((const __m256i *)qhp);
                const __m512i qh2 = join256(qh, qh);
                const __m512i sixteen = _mm512_set1_epi8(16);
                /* element 32s + l has bit s of qh[l]; l0 holds sub-blocks 0
                 * (lanes 0-1) and 2 (lanes 2-3), h0 1 and 3, l1 4 and 6,
                 * h1 5 and 7. */
#define Q5BITS(lo_bit, hi_bit) _mm512_set_epi64(                                   \
        (long long)(0x0101010101010101ULL << (hi_bit)), (long long)(0x0101010101010101ULL << (hi_bit)),          \
        (long long)(0x0101010101010101ULL << (hi_bit)), (long long)(0x0101010101010101ULL << (hi_bit)),          \
        (long long)(0x0101010101010101ULL << (lo_bit)), (long long)(0x0101010101010101ULL << (lo_bit)),          \
        (long long)(0x0101010101010101ULL << (lo_bit)), (long long)(0x0101010101010101ULL << (lo_bit)))
                l0 = _mm512_mask_add_epi8(l0, _mm512_test_epi8_mask(qh2, Q5BITS(0, 2)), l0, sixteen);
                h0 = _mm512_mask_add_epi8(h0, _mm512_test_epi8_mask(qh2, Q5BITS(1, 3)), h0, sixteen);
                l1 = _mm512_mask_add_epi8(l1, _mm512_test_epi8_mask(qh2, Q5BITS(4, 6)), l1, sixteen);
                h1 = _mm512_mask_add_epi8(h1, _mm512_test_epi8_mask(qh2, Q5BITS(5, 7)), h1, sixteen);
#undef Q5BITS
            }
            __m512i isum = _mm512_setzero_si512();
            isum = dot_ww(isum, _mm512_maddubs_epi16(l0, alo0), _mm512_permutexvar_epi16(idx0, sc16), vnni);
            isum = dot_ww(isum, _mm512_maddubs_epi16(h0, ahi0), _mm512_permutexvar_epi16(idx1, sc16), vnni);
            isum = dot_ww(isum, _mm512_maddubs_epi16(l1, alo1), _mm512_permutexvar_epi16(idx2, sc16), vnni);
            isum = dot_ww(isum, _mm512_maddubs_epi16(h1, ahi1), _mm512_permutexvar_epi16(idx3, sc16), vnni);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(dy * h2f(d)), acc[r]);
            macc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mprod), _mm256_set1_ps(dy * h2f(dmin)), macc[r]);
        }
    }
    FOR_R s[r] = _mm512_reduce_add_ps(acc[r]) - hsum256(macc[r]);
}

INLINE void mv_q4_K_body(int n, float *s, const void *x, size_t bx, const void *y,
                         const int nr, const bool vnni) {
    mv_qk45_body(n, s, x, bx, y, nr, vnni, false);
}

INLINE void mv_q5_K_body(int n, float *s, const void *x, size_t bx, const void *y,
                         const int nr, const bool vnni) {
    mv_qk45_body(n, s, x, bx, y, nr, vnni, true);
}

/* ---- Q6_K × Q8_K -----------------------------------------------------------
 * ql[64h..64h+63] low nibbles are elements 128h+0..63 and the high nibbles
 * 128h+64..127, so the activations need no regrouping; the two high bits
 * come from qh[32h + l] shifted by 0/2 (low half) or 4/6 (high half),
 * chosen per 256-bit half with vpsrlvw. Quants stay unsigned (0..63); the
 * -32 offset is subtracted at the end through Σ scale·bsum. */
INLINE void mv_q6_K_body(int n, float *s, const void *vx, size_t bx, const void *vy,
                         const int nr, const bool vnni) {
    const lf_block_q8_K *y = vy;
    const int nb = n / LF_QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(3);
    const __m512i sh_lo = _mm512_set_epi64(0x0002000200020002LL, 0x0002000200020002LL,
                                           0x0002000200020002LL, 0x0002000200020002LL, 0, 0, 0, 0);
    const __m512i sh_hi = _mm512_set_epi64(0x0006000600060006LL, 0x0006000600060006LL,
                                           0x0006000600060006LL, 0x0006000600060006LL,
                                           0x0004000400040004LL, 0x0004000400040004LL,
                                           0x0004000400040004LL, 0x0004000400040004LL);
    const __m512i idx0 = _mm512_load_si512(k6_idx[0]), idx1 = _mm512_load_si512(k6_idx[1]);
    const __m512i idx2 = _mm512_load_si512(k6_idx[2]), idx3 = _mm512_load_si512(k6_idx[3]);
    __m512 acc[4];
    __m256 macc[4];
    FOR_R {
        acc[r] = _mm512_setzero_ps();
        macc[r] = _mm256_setzero_ps();
    }
    for (int b = 0; b < nb; b++) {
        const __m512i a0 = _mm512_loadu_si512(y[b].qs), a1 = _mm512_loadu_si512(y[b].qs + 64);
        const __m512i a2 = _mm512_loadu_si512(y[b].qs + 128), a3 = _mm512_loadu_si512(y[b].qs + 192);
        const __m256i bsums = _mm256_loadu_si256((const __m256i *)y[b].bsums);
        const float dy = y[b].d;
        FOR_R {
            const lf_block_q6_K *x = (const lf_block_q6_K *)((const char *)vx + r * bx) + b;
            prefetch_next_group(x, (size_t)nr * bx, sizeof *x);
            const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
            const __m512i sc16 = _mm512_castsi256_si512(sc);
            const __m256i corr = _mm256_madd_epi16(sc, bsums);
            __m512i isum = _mm512_setzero_si512();
            for (int h = 0; h < 2; h++) {
                const __m512i ql = _mm512_loadu_si512(x->ql + 64 * h);
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
                const __m512i qh2 = join256(qh, qh);
                const __m512i hl = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh2, sh_lo), m3), 4);
                const __m512i hh = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh2, sh_hi), m3), 4);
                const __m512i ul = _mm512_or_si512(_mm512_and_si512(ql, m4), hl);
                const __m512i uh = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), hh);
                isum = dot_ww(isum, _mm512_maddubs_epi16(ul, h ? a2 : a0),
                              _mm512_permutexvar_epi16(h ? idx2 : idx0, sc16), vnni);
                isum = dot_ww(isum, _mm512_maddubs_epi16(uh, h ? a3 : a1),
                              _mm512_permutexvar_epi16(h ? idx3 : idx1, sc16), vnni);
            }
            const float dd = dy * h2f(x->d);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(dd), acc[r]);
            macc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(corr), _mm256_set1_ps(32.0f * dd), macc[r]);
        }
    }
    FOR_R s[r] = _mm512_reduce_add_ps(acc[r]) - hsum256(macc[r]);
}

/* ---- Q4_1, Q5_0, Q5_1, IQ4_NL (32-element blocks) --------------------------
 * As Q4_0: two blocks per vector. Q5 types add the fifth bits as a 64-bit
 * byte mask (bit j of a block's qh is its element j, exactly the lane
 * order); Q4_1/Q5_1 have no offset but a min, which meets the activation
 * sum s of Q8_1 in a scalar per block; IQ4_NL looks its 16 levels up with
 * vpshufb and is then a signed × signed dot like Q8_0. */
enum { B32_Q4_1, B32_Q5_0, B32_Q5_1, B32_IQ4_NL };

INLINE __m512i nib_pair(const uint8_t *q0, const uint8_t *q1) {
    const __m512i shift = _mm512_set_epi64(0x0004000400040004LL, 0x0004000400040004LL, 0, 0,
                                           0x0004000400040004LL, 0x0004000400040004LL, 0, 0);
    const __m256i a = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q0));
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q1));
    return _mm512_and_si512(_mm512_srlv_epi16(join256(a, b), shift), _mm512_set1_epi8(0x0F));
}

INLINE uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

INLINE void mv_b32_body(int n, float *s, const void *vx, size_t bx, const void *vy,
                        const int nr, const bool vnni, const int kind) {
    const bool with_min = kind == B32_Q4_1 || kind == B32_Q5_1;
    const bool five = kind == B32_Q5_0 || kind == B32_Q5_1;
    const size_t xbs = kind == B32_Q4_1 ? sizeof(lf_block_q4_1) : kind == B32_Q5_0 ? sizeof(lf_block_q5_0)
                     : kind == B32_Q5_1 ? sizeof(lf_block_q5_1) : sizeof(lf_block_iq4_nl);
    const size_t qs_off = kind == B32_Q4_1 ? offsetof(lf_block_q4_1, qs)
                        : kind == B32_Q5_0 ? offsetof(lf_block_q5_0, qs)
                        : kind == B32_Q5_1 ? offsetof(lf_block_q5_1, qs) : offsetof(lf_block_iq4_nl, qs);
    const size_t qh_off = kind == B32_Q5_0 ? offsetof(lf_block_q5_0, qh) : offsetof(lf_block_q5_1, qh);
    const size_t ybs = with_min ? sizeof(lf_block_q8_1) : sizeof(lf_block_q8_0);
    const size_t yqs = with_min ? offsetof(lf_block_q8_1, qs) : offsetof(lf_block_q8_0, qs);
    const int nb = n / 32;
    const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)lf_iq4nl_values));
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 acc[4];
    float macc[4];
    FOR_R {
        acc[r] = _mm512_setzero_ps();
        macc[r] = 0;
    }
    for (int b = 0; b < nb; b += 2) {
        const bool pair = b + 1 < nb;
        const int b1 = pair ? b + 1 : b;
        const uint8_t *y0 = (const uint8_t *)vy + (size_t)b * ybs, *y1 = (const uint8_t *)vy + (size_t)b1 * ybs;
        lf_half hy0, hy1, hs0 = 0, hs1 = 0;
        memcpy(&hy0, y0, 2);
        memcpy(&hy1, y1, 2);
        if (with_min) {
            memcpy(&hs0, y0 + 2, 2);
            memcpy(&hs1, y1 + 2, 2);
        }
        const __m256i ylo = _mm256_loadu_si256((const __m256i *)(y0 + yqs));
        const __m256i yhi = pair ? _mm256_loadu_si256((const __m256i *)(y1 + yqs)) : _mm256_setzero_si256();
        const __m512i yv = join256(ylo, yhi);
        __m512i corr = _mm512_setzero_si512();
        if (kind == B32_Q5_0)
            corr = _mm512_sub_epi32(corr, dot_us(corr, _mm512_set1_epi8(16), yv, vnni));
        if (kind == B32_IQ4_NL && vnni)
            corr = _mm512_sub_epi32(corr, _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, yv));
        const __m512 dy = pair_scales(hy0, pair ? hy1 : 0);
        const float sy0 = with_min ? h2f(hs0) : 0, sy1 = with_min && pair ? h2f(hs1) : 0;
        FOR_R {
            const uint8_t *x0 = (const uint8_t *)vx + r * bx + (size_t)b * xbs;
            prefetch_next_group(x0, (size_t)nr * bx, 2 * xbs);
            const uint8_t *x1 = (const uint8_t *)vx + r * bx + (size_t)b1 * xbs;
            __m512i w = nib_pair(x0 + qs_off, x1 + qs_off);
            if (five) {
                const __mmask64 hb = (__mmask64)load_u32(x0 + qh_off) |
                                     (__mmask64)load_u32(x1 + qh_off) << 32;
                w = _mm512_or_si512(w, _mm512_maskz_mov_epi8(hb, _mm512_set1_epi8(16)));
            }
            __m512i isum;
            if (kind == B32_IQ4_NL) {
                const __m512i v = _mm512_shuffle_epi8(table, w);
                if (vnni) {
                    isum = _mm512_dpbusd_epi32(corr, _mm512_xor_si512(v, flip), yv);
                } else {
                    const __m512i sy = _mm512_mask_sub_epi8(yv, _mm512_movepi8_mask(v), _mm512_setzero_si512(), yv);
                    isum = dot_us(corr, _mm512_abs_epi8(v), sy, false);
                }
            } else {
                isum = dot_us(corr, w, yv, vnni);
            }
            lf_half hx0, hx1;
            memcpy(&hx0, x0, 2);
            memcpy(&hx1, x1, 2);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(pair_scales(hx0, hx1), dy), acc[r]);
            if (with_min) {
                lf_half m0, m1;
                memcpy(&m0, x0 + 2, 2);
                memcpy(&m1, x1 + 2, 2);
                macc[r] += h2f(m0) * sy0 + h2f(m1) * sy1;
            }
        }
    }
    FOR_R s[r] = _mm512_reduce_add_ps(acc[r]) + macc[r];
}

INLINE void mv_q4_1_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr, const bool vnni) {
    mv_b32_body(n, s, x, bx, y, nr, vnni, B32_Q4_1);
}
INLINE void mv_q5_0_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr, const bool vnni) {
    mv_b32_body(n, s, x, bx, y, nr, vnni, B32_Q5_0);
}
INLINE void mv_q5_1_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr, const bool vnni) {
    mv_b32_body(n, s, x, bx, y, nr, vnni, B32_Q5_1);
}
INLINE void mv_iq4_nl_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr, const bool vnni) {
    mv_b32_body(n, s, x, bx, y, nr, vnni, B32_IQ4_NL);
}

/* ---- Q2_K / Q3_K × Q8_K -------------------------------------------------------
 * Element 128h + 32j + l is bits 2j.. of qs[32h + l]: the 32 bytes of a half
 * doubled into a vector and shifted per 256-bit half by (0, 2) and (4, 6)
 * give elements 128h + 0..63 and 128h + 64..127 in order, like Q6_K; one
 * scale per 16. Q2_K's 4-bit mins meet the block sums; Q3_K adds the high
 * bit (bit 4h + j of hmask[l]) as +4 and takes 4·Σ scale·bsum back. */
INLINE void mv_q23_body(int n, float *s, const void *vx, size_t bx, const void *vy,
                        const int nr, const bool vnni, const bool three) {
    const lf_block_q8_K *y = vy;
    const int nb = n / LF_QK_K;
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i sh01 = _mm512_set_epi64(0x0002000200020002LL, 0x0002000200020002LL,
                                          0x0002000200020002LL, 0x0002000200020002LL, 0, 0, 0, 0);
    const __m512i sh23 = _mm512_set_epi64(0x0006000600060006LL, 0x0006000600060006LL,
                                          0x0006000600060006LL, 0x0006000600060006LL,
                                          0x0004000400040004LL, 0x0004000400040004LL,
                                          0x0004000400040004LL, 0x0004000400040004LL);
    const __m512i idx0 = _mm512_load_si512(k6_idx[0]), idx1 = _mm512_load_si512(k6_idx[1]);
    const __m512i idx2 = _mm512_load_si512(k6_idx[2]), idx3 = _mm512_load_si512(k6_idx[3]);
    __m512 acc[4];
    __m256 macc[4];
    FOR_R {
        acc[r] = _mm512_setzero_ps();
        macc[r] = _mm256_setzero_ps();
    }
    for (int b = 0; b < nb; b++) {
        const __m512i a0 = _mm512_loadu_si512(y[b].qs), a1 = _mm512_loadu_si512(y[b].qs + 64);
        const __m512i a2 = _mm512_loadu_si512(y[b].qs + 128), a3 = _mm512_loadu_si512(y[b].qs + 192);
        const __m256i bsums = _mm256_loadu_si256((const __m256i *)y[b].bsums);
        const float dy = y[b].d;
        FOR_R {
            const uint8_t *xb = (const uint8_t *)vx + r * bx +
                                (size_t)b * (three ? sizeof(lf_block_q3_K) : sizeof(lf_block_q2_K));
            prefetch_next_group(xb, (size_t)nr * bx, three ? sizeof(lf_block_q3_K) : sizeof(lf_block_q2_K));
            const uint8_t *qs = three ? ((const lf_block_q3_K *)xb)->qs : ((const lf_block_q2_K *)xb)->qs;
            __m256i sc, side;   /* 16 scales as int16; the Σ·bsum partner */
            float dd, dside;
            if (three) {
                const lf_block_q3_K *x = (const lf_block_q3_K *)xb;
                int8_t sc8[16];
                for (int i = 0; i < 16; i++) {
                    int lo = i < 8 ? x->scales[i] & 0x0F : x->scales[i - 8] >> 4;
                    int hi = (x->scales[8 + i % 4] >> (2 * (i / 4))) & 3;
                    sc8[i] = (int8_t)((lo | hi << 4) - 32);
                }
                sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc8));
                side = _mm256_madd_epi16(sc, bsums);
                dd = dy * h2f(x->d);
                dside = 4.0f * dd;
            } else {
                const lf_block_q2_K *x = (const lf_block_q2_K *)xb;
                const __m128i raw = _mm_loadu_si128((const __m128i *)x->scales);
                sc = _mm256_cvtepu8_epi16(_mm_and_si128(raw, _mm_set1_epi8(0x0F)));
                side = _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F))), bsums);
                dd = dy * h2f(x->d);
                dside = dy * h2f(x->dmin);
            }
            const __m512i sc16 = _mm512_castsi256_si512(sc);
            __m512i hm2 = _mm512_setzero_si512();
            if (three) {
                const __m256i hm = _mm256_loadu_si256((const __m256i *)((const lf_block_q3_K *)xb)->hmask);
                hm2 = join256(hm, hm);
            }
            __m512i isum = _mm512_setzero_si512();
            for (int h = 0; h < 2; h++) {
                const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
                const __m512i q2 = join256(q, q);
                __m512i u0 = _mm512_and_si512(_mm512_srlv_epi16(q2, sh01), m3);
                __m512i u1 = _mm512_and_si512(_mm512_srlv_epi16(q2, sh23), m3);
                if (three) {
                    const __m512i four = _mm512_set1_epi8(4);
#define HBITS(j0, j1) _mm512_set_epi64(                                          \
        (long long)(0x0101010101010101ULL << (j1)), (long long)(0x0101010101010101ULL << (j1)), \
        (long long)(0x0101010101010101ULL << (j1)), (long long)(0x0101010101010101ULL << (j1)), \
        (long long)(0x0101010101010101ULL << (j0)), (long long)(0x0101010101010101ULL << (j0)), \
        (long long)(0x0101010101010101ULL << (j0)), (long long)(0x0101010101010101ULL << (j0)))
                    const __m512i bits01 = h ? HBITS(4, 5) : HBITS(0, 1);
                    const __m512i bits23 = h ? HBITS(6, 7) : HBITS(2, 3);
#undef HBITS
                    u0 = _mm512_mask_add_epi8(u0, _mm512_test_epi8_mask(hm2, bits01), u0, four);
                    u1 = _mm512_mask_add_epi8(u1, _mm512_test_epi8_mask(hm2, bits23), u1, four);
                }
                isum = dot_ww(isum, _mm512_maddubs_epi16(u0, h ? a2 : a0),
                              _mm512_permutexvar_epi16(h ? idx2 : idx0, sc16), vnni);
                isum = dot_ww(isum, _mm512_maddubs_epi16(u1, h ? a3 : a1),
                              _mm512_permutexvar_epi16(h ? idx3 : idx1, sc16), vnni);
            }
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(dd), acc[r]);
            macc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(side), _mm256_set1_ps(dside), macc[r]);
        }
    }
    FOR_R s[r] = _mm512_reduce_add_ps(acc[r]) - hsum256(macc[r]);
}

INLINE void mv_q2_K_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr, const bool vnni) {
    mv_q23_body(n, s, x, bx, y, nr, vnni, false);
}
INLINE void mv_q3_K_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr, const bool vnni) {
    mv_q23_body(n, s, x, bx, y, nr, vnni, true);
}

/* ---- IQ4_XS × Q8_K: two 32-element sub-blocks per vector in the IQ4_NL
 * layout, levels by vpshufb, the sign moved onto the activations, and the
 * 6-bit sub-block scales (minus 32) applied per 16-bit word by vpdpwssd. */
static const int16_t xs_idx[4][32] __attribute__((aligned(64))) = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5},
    {6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7},
};

INLINE void mv_iq4_xs_body(int n, float *s, const void *vx, size_t bx, const void *vy,
                           const int nr, const bool vnni) {
    const lf_block_q8_K *y = vy;
    const int nb = n / LF_QK_K;
    const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)lf_iq4nl_values));
    __m512 acc[4];
    FOR_R acc[r] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const float dy = y[b].d;
        FOR_R {
            const lf_block_iq4_xs *x = (const lf_block_iq4_xs *)((const char *)vx + r * bx) + b;
            prefetch_next_group(x, (size_t)nr * bx, sizeof *x);
            int16_t ls[8];
            for (int i = 0; i < 8; i++)
                ls[i] = (int16_t)((((x->scales_l[i / 2] >> (4 * (i % 2))) & 0x0F) |
                                   ((x->scales_h >> (2 * i)) & 3) << 4) - 32);
            const __m512i sc16 = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)ls));
            __m512i isum = _mm512_setzero_si512();
            for (int m = 0; m < 4; m++) {
                const __m512i v = _mm512_shuffle_epi8(table, nib_pair(x->qs + 32 * m, x->qs + 32 * m + 16));
                const __m512i a = _mm512_loadu_si512(y[b].qs + 64 * m);
                const __m512i sa = _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(v), _mm512_setzero_si512(), a);
                isum = dot_ww(isum, _mm512_maddubs_epi16(_mm512_abs_epi8(v), sa),
                              _mm512_permutexvar_epi16(_mm512_load_si512(xs_idx[m]), sc16), vnni);
            }
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(dy * h2f(x->d)), acc[r]);
        }
    }
    FOR_R s[r] = _mm512_reduce_add_ps(acc[r]);
}

/* ---- float types ---------------------------------------------------------- */

INLINE __m512 load_f16(const lf_half *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

INLINE __m512 load_bf16(const lf_bf16 *p, __mmask16 m) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

/* kind: 0 f32, 1 f16, 2 bf16 (x and y of the same kind). */
INLINE __m512 load_kind(const void *p, int i, __mmask16 m, const int kind) {
    if (kind == 0)
        return _mm512_maskz_loadu_ps(m, (const float *)p + i);
    if (kind == 1)
        return load_f16((const lf_half *)p + i, m);
    return load_bf16((const lf_bf16 *)p + i, m);
}

INLINE void mv_float_body(int n, float *s, const void *vx, size_t bx, const void *vy,
                          const int nr, const int kind) {
    __m512 acc[4], acc2[4];
    FOR_R acc[r] = acc2[r] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 y0 = load_kind(vy, i, 0xFFFF, kind), y1 = load_kind(vy, i + 16, 0xFFFF, kind);
        FOR_R {
            const void *x = (const char *)vx + r * bx;
            prefetch_next_group((const char *)x + (size_t)i * (kind ? 2 : 4), (size_t)nr * bx,
                                32 * (kind ? 2 : 4));
            acc[r] = _mm512_fmadd_ps(load_kind(x, i, 0xFFFF, kind), y0, acc[r]);
            acc2[r] = _mm512_fmadd_ps(load_kind(x, i + 16, 0xFFFF, kind), y1, acc2[r]);
        }
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 y0 = load_kind(vy, i, m, kind);
        FOR_R acc[r] = _mm512_fmadd_ps(load_kind((const char *)vx + r * bx, i, m, kind), y0, acc[r]);
    }
    FOR_R s[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r], acc2[r]));
}

INLINE void mv_f32_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr,
                        const bool vnni) {
    (void)vnni;
    mv_float_body(n, s, x, bx, y, nr, 0);
}
INLINE void mv_f16_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr,
                        const bool vnni) {
    (void)vnni;
    mv_float_body(n, s, x, bx, y, nr, 1);
}
INLINE void mv_bf16_body(int n, float *s, const void *x, size_t bx, const void *y, const int nr,
                         const bool vnni) {
    (void)vnni;
    mv_float_body(n, s, x, bx, y, nr, 2);
}

MV_WRAPPERS(q4_0, vnni, true)
MV_WRAPPERS(q4_0, plain, false)
MV_WRAPPERS(q8_0, vnni, true)
MV_WRAPPERS(q8_0, plain, false)
MV_WRAPPERS(q4_K, vnni, true)
MV_WRAPPERS(q4_K, plain, false)
MV_WRAPPERS(q5_K, vnni, true)
MV_WRAPPERS(q5_K, plain, false)
MV_WRAPPERS(q6_K, vnni, true)
MV_WRAPPERS(q6_K, plain, false)
MV_WRAPPERS(q4_1, vnni, true)
MV_WRAPPERS(q4_1, plain, false)
MV_WRAPPERS(q5_0, vnni, true)
MV_WRAPPERS(q5_0, plain, false)
MV_WRAPPERS(q5_1, vnni, true)
MV_WRAPPERS(q5_1, plain, false)
MV_WRAPPERS(iq4_nl, vnni, true)
MV_WRAPPERS(iq4_nl, plain, false)
MV_WRAPPERS(q2_K, vnni, true)
MV_WRAPPERS(q2_K, plain, false)
MV_WRAPPERS(q3_K, vnni, true)
MV_WRAPPERS(q3_K, plain, false)
MV_WRAPPERS(iq4_xs, vnni, true)
MV_WRAPPERS(iq4_xs, plain, false)
MV_WRAPPERS(f32, any, false)
MV_WRAPPERS(f16, any, false)
MV_WRAPPERS(bf16, any, false)

/* ---- activation quantizers --------------------------------------------------
 * Bit-identical to the scalar references: the same IEEE operations in the
 * same order (d = amax/127, id = 1/d, x·id), rounding half away from zero
 * as roundf does (truncate, then step away when the dropped part is ≥ ½). */
INLINE __m512 round_away(__m512 v) {
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_abs_ps(_mm512_sub_ps(v, t));
    const __mmask16 up = _mm512_cmp_ps_mask(f, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f),
                                    _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
    return _mm512_mask_add_ps(t, up, t, one);
}

/* 16 floats → 16 int8 in [-127, 127]. */
INLINE __m128i to_q8(__m512 v, __m512 scale) {
    __m512 q = round_away(_mm512_mul_ps(v, scale));
    q = _mm512_min_ps(_mm512_max_ps(q, _mm512_set1_ps(-127.f)), _mm512_set1_ps(127.f));
    return _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(q));
}

static void quantize_q8_0(const float *x, void *vy, int64_t n) {
    lf_block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / LF_QK8_0; b++, x += LF_QK8_0) {
        const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127.f, id = d != 0.f ? 1.0f / d : 0.f;
        const __m512 vid = _mm512_set1_ps(id);
        y[b].d = _cvtss_sh(d, 0);
        _mm_storeu_si128((__m128i *)y[b].qs, to_q8(v0, vid));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), to_q8(v1, vid));
    }
}

static void quantize_q8_1(const float *x, void *vy, int64_t n) {
    lf_block_q8_1 *y = vy;
    for (int64_t b = 0; b < n / LF_QK8_1; b++, x += LF_QK8_1) {
        const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127.f, id = d != 0.f ? 1.0f / d : 0.f;
        const __m512 vid = _mm512_set1_ps(id);
        const __m128i q0 = to_q8(v0, vid), q1 = to_q8(v1, vid);
        _mm_storeu_si128((__m128i *)y[b].qs, q0);
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), q1);
        const __m512i w = _mm512_cvtepi8_epi32(q0), w1 = _mm512_cvtepi8_epi32(q1);
        const int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(w, w1));
        y[b].d = _cvtss_sh(d, 0);
        y[b].s = _cvtss_sh(d * (float)sum, 0);
    }
}

static void quantize_q8_K(const float *x, void *vy, int64_t n) {
    lf_block_q8_K *y = vy;
    for (int64_t b = 0; b < n / LF_QK_K; b++, x += LF_QK_K) {
        __m512 mx = _mm512_setzero_ps();
        for (int j = 0; j < LF_QK_K; j += 16)
            mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
        const float amax = _mm512_reduce_max_ps(mx);
        if (!(amax > 0)) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = 127.f / amax;
        const __m512 vs = _mm512_set1_ps(iscale);
        for (int j = 0; j < LF_QK_K; j += 16) {
            const __m128i q = to_q8(_mm512_loadu_ps(x + j), vs);
            _mm_storeu_si128((__m128i *)(y[b].qs + j), q);
            y[b].bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(q));
        }
        y[b].d = 1.0f / iscale;
    }
}

static void quantize_f16(const float *x, void *vy, int64_t n) {
    lf_half *y = vy;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi16(y + i, m, h);
    }
}

/* Round to nearest even on the bits, NaN kept quiet: as lf_float_to_bf16. */
static void quantize_bf16(const float *x, void *vy, int64_t n) {
    lf_bf16 *y = vy;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m512i u = _mm512_castps_si512(v);
        const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
        __m512i r = _mm512_srli_epi32(
            _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
        const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
        _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtepi32_epi16(r));
    }
}

/* ---- float kernels of the ops ------------------------------------------- */

static float kv_dot_f32(const void *k, const float *q, int n) {
    float s;
    mv_float_body(n, &s, k, 0, q, 1, 0);
    return s;
}

static float kv_dot_f16(const void *k, const float *q, int n) {
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        acc = _mm512_fmadd_ps(load_f16((const lf_half *)k + i, m), _mm512_maskz_loadu_ps(m, q + i), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

static float kv_dot_q8_0(const void *k, const float *q, int n) {
    const lf_block_q8_0 *b = k;
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n / LF_QK8_0; i++) {
        const __m512 d = _mm512_set1_ps(h2f(b[i].d));
        const __m512 k0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b[i].qs)));
        const __m512 k1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[i].qs + 16))));
        const __m512 p = _mm512_fmadd_ps(k1, _mm512_loadu_ps(q + 32 * i + 16),
                                         _mm512_mul_ps(k0, _mm512_loadu_ps(q + 32 * i)));
        acc = _mm512_fmadd_ps(p, d, acc);
    }
    return _mm512_reduce_add_ps(acc);
}

static void kv_axpy_f32(float *y, const void *v, float a, int n) {
    const __m512 va = _mm512_set1_ps(a);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, (const float *)v + i), va,
                                         _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(y + i, m, r);
    }
}

static void kv_axpy_f16(float *y, const void *v, float a, int n) {
    const __m512 va = _mm512_set1_ps(a);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 r = _mm512_fmadd_ps(load_f16((const lf_half *)v + i, m), va,
                                         _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(y + i, m, r);
    }
}

static void kv_axpy_q8_0(float *y, const void *v, float a, int n) {
    const lf_block_q8_0 *b = v;
    for (int i = 0; i < n / LF_QK8_0; i++) {
        const __m512 ad = _mm512_set1_ps(a * h2f(b[i].d));
        for (int h = 0; h < 2; h++) {
            const __m512 kv = _mm512_cvtepi32_ps(
                _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[i].qs + 16 * h))));
            float *yp = y + 32 * i + 16 * h;
            _mm512_storeu_ps(yp, _mm512_fmadd_ps(kv, ad, _mm512_loadu_ps(yp)));
        }
    }
}

static float dot_f32(const float *a, const float *b, int64_t n) {
    __m512 acc = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
        acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc2);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc, acc2));
}

static float sumsq_f32(const float *a, int64_t n) { return dot_f32(a, a, n); }

/* ---- packed GEMM tile (VNNI) ------------------------------------------------
 * 16 weight rows in one vector × nc activation columns. For every group of
 * 4 k the panel vector is loaded once and fed to nc vpdpbusd with each
 * column's 4 activation bytes broadcast from the interleaved activation
 * block; the int32 accumulators start each chunk at -bias·Σq and are scaled
 * into float per chunk. */
INLINE void tile_body(int K, const uint8_t *qs, const float *sw, const float *mw,
                      const void *acts, float *y, size_t ldy, int nrows,
                      const int nc, const int chunk, const bool has_min) {
    const int ngrp = chunk / 4, nch = K / chunk;
    const int32_t *aq = acts;
    const float *meta = (const float *)((const int8_t *)acts + (size_t)K * LF_GEMM_COLS);
    __m512 acc[LF_GEMM_COLS];
    UNROLL for (int c = 0; c < nc; c++)
        acc[c] = _mm512_setzero_ps();
    for (int ch = 0; ch < nch; ch++) {
        const float *m = meta + (size_t)ch * 3 * LF_GEMM_COLS;
        const int32_t *nb = (const int32_t *)(m + LF_GEMM_COLS);
        __m512i ia[LF_GEMM_COLS];
        UNROLL for (int c = 0; c < nc; c++)
            ia[c] = _mm512_set1_epi32(nb[c]);
        const __m512i *wq = (const __m512i *)(qs + (size_t)ch * (size_t)chunk * LF_GEMM_ROWS);
        const int32_t *a = aq + (size_t)ch * ngrp * LF_GEMM_COLS;
        UNROLL for (int g = 0; g < ngrp; g++) {
            const __m512i w = _mm512_load_si512(wq + g);
            UNROLL for (int c = 0; c < nc; c++)
                ia[c] = _mm512_dpbusd_epi32(ia[c], w, _mm512_set1_epi32(a[g * LF_GEMM_COLS + c]));
        }
        const __m512 s = _mm512_load_ps(sw + ch * LF_GEMM_ROWS);
        UNROLL for (int c = 0; c < nc; c++)
            acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(ia[c]),
                                                   _mm512_set1_ps(m[c])), s, acc[c]);
        if (has_min) {
            const __m512 mv = _mm512_load_ps(mw + ch * LF_GEMM_ROWS);
            UNROLL for (int c = 0; c < nc; c++)
                acc[c] = _mm512_fmadd_ps(mv, _mm512_set1_ps(m[2 * LF_GEMM_COLS + c]), acc[c]);
        }
    }
    const __mmask16 keep = nrows >= 16 ? 0xFFFF : (__mmask16)((1u << nrows) - 1);
    UNROLL for (int c = 0; c < nc; c++)
        _mm512_mask_storeu_ps(y + (size_t)c * ldy, keep, acc[c]);
}

#define TILE_FN(nc, chunk, mn)                                                      \
    static void tile_##nc##_##chunk##_##mn(int K, const uint8_t *qs, const float *sw, \
                                          const float *mw, const void *acts,         \
                                          float *y, size_t ldy, int nrows) {         \
        tile_body(K, qs, sw, mw, acts, y, ldy, nrows, nc, chunk, mn);               \
    }
#define TILE_FNS(chunk, mn)                                                         \
    TILE_FN(1, chunk, mn) TILE_FN(2, chunk, mn) TILE_FN(3, chunk, mn)               \
    TILE_FN(4, chunk, mn) TILE_FN(5, chunk, mn) TILE_FN(6, chunk, mn)               \
    TILE_FN(7, chunk, mn) TILE_FN(8, chunk, mn)
TILE_FNS(16, 0)
TILE_FNS(16, 1)
TILE_FNS(32, 0)
TILE_FNS(32, 1)

typedef void (*tile_fn)(int K, const uint8_t *qs, const float *sw, const float *mw,
                        const void *acts, float *y, size_t ldy, int nrows);
#define TILE_ROW(chunk, mn)                                                         \
    {tile_1_##chunk##_##mn, tile_2_##chunk##_##mn, tile_3_##chunk##_##mn,           \
     tile_4_##chunk##_##mn, tile_5_##chunk##_##mn, tile_6_##chunk##_##mn,           \
     tile_7_##chunk##_##mn, tile_8_##chunk##_##mn}
static const tile_fn tiles[2][2][LF_GEMM_COLS] = {
    {TILE_ROW(16, 0), TILE_ROW(16, 1)},
    {TILE_ROW(32, 0), TILE_ROW(32, 1)},
};

static void gemm_tile_vnni(const lf_gemm_desc *g, int K, const uint8_t *qs,
                           const float *sw, const float *mw, const void *acts,
                           int ncols, float *y, size_t ldy, int nrows) {
    tiles[g->chunk == 32][g->has_min][ncols - 1](K, qs, sw, mw, acts, y, ldy, nrows);
}

/* Activation blocks for the GEMM: the AVX2 one (arch/x86/gemm_avx2.c)
 * already works on 8 columns at once; 512-bit vectors would not help. */

/* ---- GEMM packers ------------------------------------------------------------
 * The 16 rows of a panel are the 16 lanes of a gather: one vpgatherdd fetches
 * the same dword of every row's block, which after masking is exactly one
 * panel vector (4 k of 16 rows). Scales are decoded the same way, 16 rows
 * at once, so sw/mw rows come out as vectors too. Missing rows (nrows < 16)
 * are masked out and read as zeros. Output is byte-identical to the
 * portable packers in gemm_pack.c (same float operations). */
INLINE __m512i row_offsets(size_t bw) {
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                              _mm512_set1_epi32((int)bw));
}

INLINE __m512i gather(__mmask16 valid, __m512i idx, const char *p) {
    return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, idx, p, 1);
}

/* The 16 rows are 16 separate streams, more than the hardware prefetchers
 * follow: fetch each row's next cache lines ahead of the gathers. */
INLINE void prefetch_rows(const char *p, size_t bw, int nrows) {
    for (int r = 0; r < nrows; r++) {
        _mm_prefetch(p + (size_t)r * bw, _MM_HINT_T0);
        _mm_prefetch(p + (size_t)r * bw + 64, _MM_HINT_T0);
    }
}

/* fp16 in the low (hi = false) or high half of each dword → float. */
INLINE __m512 half_lanes(__m512i v, const bool hi) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hi ? _mm512_srli_epi32(v, 16) : v));
}

static void pack_q4_0_avx512(const void *w, size_t bw, int nrows, int K, uint8_t *qs,
                             float *sw, float *mw) {
    (void)mw;
    const __m512i idx = row_offsets(bw), m4 = _mm512_set1_epi32(0x0F0F0F0F);
    const __mmask16 valid = nrows >= 16 ? 0xFFFF : (__mmask16)((1u << nrows) - 1);
    __m512i *out = (__m512i *)qs;
    for (int i = 0; i < K / LF_QK4_0; i++) {
        const char *base = (const char *)w + (size_t)i * sizeof(lf_block_q4_0);
        if (i % 7 == 0)
            prefetch_rows(base + 512, bw, nrows);
        for (int t = 0; t < 4; t++) {
            const __m512i g = gather(valid, idx, base + 2 + 4 * t);
            _mm512_store_si512(out + 8 * i + t, _mm512_and_si512(g, m4));
            _mm512_store_si512(out + 8 * i + 4 + t, _mm512_and_si512(_mm512_srli_epi32(g, 4), m4));
        }
        _mm512_store_ps(sw + 16 * i, _mm512_maskz_mov_ps(valid, half_lanes(gather(valid, idx, base), false)));
    }
}

/* Q5_0: the nibbles as Q4_0 (qs after d and qh), and bit j of qh put on
 * bit 4 of element j: for the 4 elements of a dword the 4 bits of qh are
 * spread to bits 4, 12, 20, 28 by one multiply (the shifted copies of a
 * 4-bit value cannot overlap, so there are no carries). */
INLINE __m512i q5_high_bits(__m512i h, int shift) {
    const __m512i x = _mm512_and_si512(_mm512_srli_epi32(h, (unsigned)shift), _mm512_set1_epi32(0xF));
    return _mm512_and_si512(_mm512_slli_epi32(_mm512_mullo_epi32(x, _mm512_set1_epi32(0x00204081)), 4),
                            _mm512_set1_epi32(0x10101010));
}

static void pack_q5_0_avx512(const void *w, size_t bw, int nrows, int K, uint8_t *qs,
                             float *sw, float *mw) {
    (void)mw;
    const __m512i idx = row_offsets(bw), m4 = _mm512_set1_epi32(0x0F0F0F0F);
    const __mmask16 valid = nrows >= 16 ? 0xFFFF : (__mmask16)((1u << nrows) - 1);
    __m512i *out = (__m512i *)qs;
    for (int i = 0; i < K / LF_QK5_0; i++) {
        const char *base = (const char *)w + (size_t)i * sizeof(lf_block_q5_0);
        if (i % 6 == 0)
            prefetch_rows(base + 512, bw, nrows);
        const __m512i h = gather(valid, idx, base + 2);
        for (int t = 0; t < 4; t++) {
            const __m512i g = gather(valid, idx, base + 6 + 4 * t);
            _mm512_store_si512(out + 8 * i + t,
                               _mm512_or_si512(_mm512_and_si512(g, m4), q5_high_bits(h, 4 * t)));
            _mm512_store_si512(out + 8 * i + 4 + t,
                               _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(g, 4), m4),
                                               q5_high_bits(h, 16 + 4 * t)));
        }
        _mm512_store_ps(sw + 16 * i, _mm512_maskz_mov_ps(valid, half_lanes(gather(valid, idx, base), false)));
    }
}

static void pack_q8_0_avx512(const void *w, size_t bw, int nrows, int K, uint8_t *qs,
                             float *sw, float *mw) {
    (void)mw;
    const __m512i idx = row_offsets(bw), flip = _mm512_set1_epi32((int)0x80808080u);
    const __mmask16 valid = nrows >= 16 ? 0xFFFF : (__mmask16)((1u << nrows) - 1);
    __m512i *out = (__m512i *)qs;
    for (int i = 0; i < K / LF_QK8_0; i++) {
        const char *base = (const char *)w + (size_t)i * sizeof(lf_block_q8_0);
        if (i % 4 == 0)
            prefetch_rows(base + 512, bw, nrows);
        for (int t = 0; t < 8; t++) {
            /* missing rows must pack as u = 0, not 0 ^ 0x80 */
            const __m512i g = gather(valid, idx, base + 2 + 4 * t);
            _mm512_store_si512(out + 8 * i + t, _mm512_maskz_xor_epi32(valid, g, flip));
        }
        _mm512_store_ps(sw + 16 * i, _mm512_maskz_mov_ps(valid, half_lanes(gather(valid, idx, base), false)));
    }
}

/* Q4_K: sub-block j's scale and min for 16 rows from the three scale
 * dwords (the layout of k4_unpack, lane-wise). */
static void pack_q4_K_avx512(const void *w, size_t bw, int nrows, int K, uint8_t *qs,
                             float *sw, float *mw) {
    const __m512i idx = row_offsets(bw), m4 = _mm512_set1_epi32(0x0F0F0F0F);
    const __m512i b6 = _mm512_set1_epi32(63), b4 = _mm512_set1_epi32(15), b2 = _mm512_set1_epi32(3);
    const __m512 neg = _mm512_set1_ps(-0.0f);
    const __mmask16 valid = nrows >= 16 ? 0xFFFF : (__mmask16)((1u << nrows) - 1);
    __m512i *out = (__m512i *)qs;
    for (int i = 0; i < K / LF_QK_K; i++) {
        const char *base = (const char *)w + (size_t)i * sizeof(lf_block_q4_K);
        for (int p = 0; p < 4; p++) {
            if (p % 2 == 0)
                prefetch_rows(base + 512 + 64 * p, bw, nrows);
            for (int t = 0; t < 8; t++) {
                const __m512i g = gather(valid, idx, base + 16 + 32 * p + 4 * t);
                _mm512_store_si512(out + 64 * i + 16 * p + t, _mm512_and_si512(g, m4));
                _mm512_store_si512(out + 64 * i + 16 * p + 8 + t,
                                   _mm512_and_si512(_mm512_srli_epi32(g, 4), m4));
            }
        }
        const __m512i dd = gather(valid, idx, base);
        const __m512 d = half_lanes(dd, false), ndmin = _mm512_xor_ps(half_lanes(dd, true), neg);
        const __m512i w0 = gather(valid, idx, base + 4), w1 = gather(valid, idx, base + 8),
                      w2 = gather(valid, idx, base + 12);
        for (int j = 0; j < 8; j++) {
            __m512i sc, mn;
            if (j < 4) {
                sc = _mm512_and_si512(_mm512_srli_epi32(w0, 8 * j), b6);
                mn = _mm512_and_si512(_mm512_srli_epi32(w1, 8 * j), b6);
            } else {
                const int sh = 8 * (j - 4);
                const __m512i lo = _mm512_srli_epi32(w2, sh);
                sc = _mm512_or_si512(_mm512_and_si512(lo, b4),
                                     _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w0, sh + 6), b2), 4));
                mn = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(lo, 4), b4),
                                     _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w1, sh + 6), b2), 4));
            }
            _mm512_store_ps(sw + (8 * i + j) * 16,
                            _mm512_maskz_mul_ps(valid, d, _mm512_cvtepi32_ps(sc)));
            _mm512_store_ps(mw + (8 * i + j) * 16,
                            _mm512_maskz_mul_ps(valid, ndmin, _mm512_cvtepi32_ps(mn)));
        }
    }
}

/* Q6_K: for each h and group of 4 l, the two ql dwords and the qh dword
 * give the four panel vectors k = 0..3; scales are sign-extended bytes. */
static void pack_q6_K_avx512(const void *w, size_t bw, int nrows, int K, uint8_t *qs,
                             float *sw, float *mw) {
    (void)mw;
    const __m512i idx = row_offsets(bw), m4 = _mm512_set1_epi32(0x0F0F0F0F),
                  m2 = _mm512_set1_epi32(0x03030303);
    const __mmask16 valid = nrows >= 16 ? 0xFFFF : (__mmask16)((1u << nrows) - 1);
    __m512i *out = (__m512i *)qs;
    for (int i = 0; i < K / LF_QK_K; i++) {
        const char *base = (const char *)w + (size_t)i * sizeof(lf_block_q6_K);
        prefetch_rows(base + 512, bw, nrows);
        prefetch_rows(base + 640, bw, nrows);
        for (int h = 0; h < 2; h++)
            for (int t = 0; t < 8; t++) {
                const __m512i l0 = gather(valid, idx, base + 64 * h + 4 * t);
                const __m512i l1 = gather(valid, idx, base + 64 * h + 32 + 4 * t);
                const __m512i hb = gather(valid, idx, base + 128 + 32 * h + 4 * t);
                __m512i *o = out + 64 * i + 32 * h + t;
#define HI2(sh) _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(hb, sh), m2), 4)
                _mm512_store_si512(o, _mm512_or_si512(_mm512_and_si512(l0, m4), HI2(0)));
                _mm512_store_si512(o + 8, _mm512_or_si512(_mm512_and_si512(l1, m4), HI2(2)));
                _mm512_store_si512(o + 16, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(l0, 4), m4), HI2(4)));
                _mm512_store_si512(o + 24, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(l1, 4), m4), HI2(6)));
#undef HI2
            }
        /* d sits at bytes 208-209: read the dword ending there */
        const __m512 d = half_lanes(gather(valid, idx, base + 206), true);
        for (int q = 0; q < 4; q++) {
            const __m512i sd = gather(valid, idx, base + 192 + 4 * q);
            for (int b = 0; b < 4; b++) {
                const __m512i sc = _mm512_srai_epi32(_mm512_slli_epi32(sd, 24 - 8 * b), 24);
                _mm512_store_ps(sw + (16 * i + 4 * q + b) * 16,
                                _mm512_maskz_mul_ps(valid, d, _mm512_cvtepi32_ps(sc)));
            }
        }
    }
}

/* ---- packed float GEMM -----------------------------------------------------
 * Two panels (32 rows, two vectors per k) × 6 columns with even and odd k
 * in separate sums: 24 sums, four weight vectors and the broadcasts fill
 * the 32 registers, and each k pair loads 16 values for 24 FMAs. On Zen 5
 * this shape ran at 0.99-1.0 of two FMAs per cycle from L1; the earlier
 * 32 × 4 tile (16 sums) ran at about 0.9, one panel × 8 columns (9 loads
 * per 8 FMAs, bound by the load ports) at 0.85. The even and odd sums are
 * added at the end, the tail k going to the even one: every sum is formed
 * in that one order, so a result does not depend on the panel pairing or
 * on the column's place in the tile. */
/* The even and odd sums are added every FCOLS_RUN k, counted from the
 * call's first k, so that one call over a longer slice (kernels/matmul.c's
 * F_KB) rounds exactly as calls over runs of this length did. */
#define FCOLS_RUN 128

INLINE void fcols_body(int K, const float *p0, const float *p1, const float *const *a, float *y,
                       size_t ldy, int nrows, const int NP, const int NC, bool add) {
    const __mmask16 keep = nrows >= 16 ? 0xFFFF : (__mmask16)((1u << nrows) - 1);
    const float *p[2] = {p0, p1};
    __m512 e[2][6], o[2][6];   /* [panel][column], even and odd k */
    UNROLL for (int c = 0; c < NC; c++)
        UNROLL for (int q = 0; q < NP; q++) {
            const __mmask16 m = q == NP - 1 ? keep : 0xFFFF;
            e[q][c] = add ? _mm512_maskz_loadu_ps(m, y + (size_t)c * ldy + 16 * q) : _mm512_setzero_ps();
            o[q][c] = _mm512_setzero_ps();
        }
    for (int k0 = 0; k0 < K; k0 += FCOLS_RUN) {
        const int kend = K - k0 < FCOLS_RUN ? K : k0 + FCOLS_RUN;
        if (k0 > 0)   /* a run's end: what storing and reloading y did */
            UNROLL for (int c = 0; c < NC; c++)
                UNROLL for (int q = 0; q < NP; q++) {
                    e[q][c] = _mm512_add_ps(e[q][c], o[q][c]);
                    o[q][c] = _mm512_setzero_ps();
                }
        int k = k0;
        for (; k + 2 <= kend; k += 2) {
            __m512 we[2], wo[2];
            UNROLL for (int q = 0; q < NP; q++) {
                we[q] = _mm512_load_ps(p[q] + (size_t)k * LF_GEMM_ROWS);
                wo[q] = _mm512_load_ps(p[q] + (size_t)(k + 1) * LF_GEMM_ROWS);
            }
            UNROLL for (int c = 0; c < NC; c++) {
                const __m512 be = _mm512_set1_ps(a[c][(size_t)k * LF_GEMM_COLS]);
                const __m512 bo = _mm512_set1_ps(a[c][(size_t)(k + 1) * LF_GEMM_COLS]);
                UNROLL for (int q = 0; q < NP; q++) {
                    e[q][c] = _mm512_fmadd_ps(we[q], be, e[q][c]);
                    o[q][c] = _mm512_fmadd_ps(wo[q], bo, o[q][c]);
                }
            }
        }
        if (k < kend) {
            UNROLL for (int c = 0; c < NC; c++) {
                const __m512 be = _mm512_set1_ps(a[c][(size_t)k * LF_GEMM_COLS]);
                UNROLL for (int q = 0; q < NP; q++)
                    e[q][c] = _mm512_fmadd_ps(_mm512_load_ps(p[q] + (size_t)k * LF_GEMM_ROWS), be, e[q][c]);
            }
        }
    }
    UNROLL for (int c = 0; c < NC; c++)
        UNROLL for (int q = 0; q < NP; q++)
            _mm512_mask_storeu_ps(y + (size_t)c * ldy + 16 * q, q == NP - 1 ? keep : 0xFFFF,
                                  _mm512_add_ps(e[q][c], o[q][c]));
}

/* fcols_P_N: P panels, N columns, writing (add false) or adding; add only
 * chooses the sums' starting values, so it need not be a constant. */
#define FCOLS_FN(np, nc)                                                                   \
    static void fcols_##np##_##nc(int K, const float *p0, const float *p1,                \
                                  const float *const *a, float *y, size_t ldy, int nrows, \
                                  bool add) {                                             \
        fcols_body(K, p0, p1, a, y, ldy, nrows, np, nc, add);                             \
    }
FCOLS_FN(1, 1) FCOLS_FN(1, 2) FCOLS_FN(1, 3) FCOLS_FN(1, 4) FCOLS_FN(1, 5) FCOLS_FN(1, 6)
FCOLS_FN(2, 1) FCOLS_FN(2, 2) FCOLS_FN(2, 3) FCOLS_FN(2, 4) FCOLS_FN(2, 5) FCOLS_FN(2, 6)

typedef void (*fcols_fn)(int, const float *, const float *, const float *const *, float *, size_t,
                         int, bool);

static void gemm_f_cols(int K, const float *p0, const float *p1, const float *const *cols,
                        int ncols, float *y, size_t ldy, int nrows, bool add) {
    static const fcols_fn fns[2][6] = {
        {fcols_1_1, fcols_1_2, fcols_1_3, fcols_1_4, fcols_1_5, fcols_1_6},
        {fcols_2_1, fcols_2_2, fcols_2_3, fcols_2_4, fcols_2_5, fcols_2_6}};
    fns[p1 != NULL][ncols - 1](K, p0, p1, cols, y, ldy, nrows, add);
}

/* Float panels come from the AVX2 packers (lf_kernels_fill_gemm_f_prep_avx2):
 * row loads and 8x8 transposes, and the interleaved F16 layout read in
 * place, ran TinyLlama F16 pp128 1.17x and pp512 1.11x faster on a Zen 5
 * (compare --ab, 4 ABBA pairs) than gathers from rows put back in the
 * stored layout; AMD's 16-lane gathers are slow. A 512-bit interleaved
 * F16 packer (16×16 transposes: half the conversions and stores) packed
 * at half the AVX2 one's speed on Zen 5, its cross-lane shuffles costing
 * more than they save. */
/* ---- the set ---------------------------------------------------------------- */

void lf_kernels_fill_avx512(lf_kernel_set *ks, bool vnni, bool bf16) {
    /* No kernel needs AVX512_BF16: bf16 weights widen to fp32 exactly with
     * one shift, and the matrix-vector product is bound by the 2-byte
     * weight stream, not by that conversion. */
    (void)bf16;
#define SET(T, name)                                                              \
    do {                                                                          \
        ks->vec_dot[LF_TYPE_##T] = vnni ? dot_##name##_vnni : dot_##name##_plain; \
        ks->mv[LF_TYPE_##T] = vnni ? mv_##name##_vnni : mv_##name##_plain;        \
    } while (0)
    SET(Q4_0, q4_0);
    SET(Q8_0, q8_0);
    SET(Q4_K, q4_K);
    SET(Q5_K, q5_K);
    SET(Q6_K, q6_K);
    SET(Q4_1, q4_1);
    SET(Q5_0, q5_0);
    SET(Q5_1, q5_1);
    SET(IQ4_NL, iq4_nl);
    SET(Q2_K, q2_K);
    SET(Q3_K, q3_K);
    SET(IQ4_XS, iq4_xs);
#undef SET
    ks->vec_dot[LF_TYPE_F32] = dot_f32_any;
    ks->mv[LF_TYPE_F32] = mv_f32_any;
    ks->vec_dot[LF_TYPE_F16] = dot_f16_any;
    ks->mv[LF_TYPE_F16] = mv_f16_any;
    ks->vec_dot[LF_TYPE_BF16] = dot_bf16_any;
    ks->mv[LF_TYPE_BF16] = mv_bf16_any;
    ks->quantize_row[LF_TYPE_Q8_0] = quantize_q8_0;
    ks->quantize_row[LF_TYPE_Q8_1] = quantize_q8_1;
    ks->quantize_row[LF_TYPE_Q8_K] = quantize_q8_K;
    ks->quantize_row[LF_TYPE_F16] = quantize_f16;
    ks->quantize_row[LF_TYPE_BF16] = quantize_bf16;
    ks->kv_dot[LF_TYPE_F32] = kv_dot_f32;
    ks->kv_dot[LF_TYPE_F16] = kv_dot_f16;
    ks->kv_dot[LF_TYPE_Q8_0] = kv_dot_q8_0;
    ks->kv_axpy[LF_TYPE_F32] = kv_axpy_f32;
    ks->kv_axpy[LF_TYPE_F16] = kv_axpy_f16;
    ks->kv_axpy[LF_TYPE_Q8_0] = kv_axpy_q8_0;
    ks->dot_f32 = dot_f32;
    ks->sumsq_f32 = sumsq_f32;
    ks->gemm_f_cols = gemm_f_cols;
    ks->gemm_f_cols_n = 6;
    ks->gemm_prep_block = lf_gemm_prep_block_avx2;
    if (vnni) {
        ks->gemm_tile = gemm_tile_vnni;
        ks->gemm_u_max = 255;
        ks->gemm_pack[LF_TYPE_Q4_0] = pack_q4_0_avx512;
        ks->gemm_pack[LF_TYPE_Q8_0] = pack_q8_0_avx512;
        ks->gemm_pack[LF_TYPE_Q5_0] = pack_q5_0_avx512;
        ks->gemm_pack[LF_TYPE_Q4_K] = pack_q4_K_avx512;
        ks->gemm_pack[LF_TYPE_Q6_K] = pack_q6_K_avx512;
    }
}
