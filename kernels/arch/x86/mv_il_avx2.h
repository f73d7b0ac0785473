/*
 * AVX2 decode kernels over the interleaved layouts (kernels/interleave.c:
 * Q4_0, Q5_0, Q8_0, F16; kernels/interleave_kquants.c: Q4_K, Q5_K, Q6_K),
 * written once and included twice: by mv_il_avx2.c with IL_VNNI 0 (plain
 * AVX2 + FMA + F16C: vpmaddubsw pair sums, vpmaddwd) and by
 * mv_il_avxvnni.c with IL_VNNI 1 (256-bit vpdpbusd / vpdpwssd, compiled
 * with -mavxvnni and installed only where the CPU reports AVX-VNNI).
 *
 * The layouts were drawn for 64-byte vectors; a 256-bit kernel reads each
 * 64-byte unit as two halves, and both halves mean something whole:
 *   - Q4_0 / Q5_0 / Q8_0 / F16: a row's 64 bytes of a step are two vectors
 *     of two blocks (16 bytes of nibbles or 32 of int8 each) or 32 halves;
 *     the step's fp16 scales are one or two 8-wide conversions;
 *   - K-quants: 16 bytes per row, so the first half holds rows 0 and 1
 *     (one per 128-bit lane), the second rows 2 and 3; every in-lane
 *     shuffle of the AVX-512 kernels (scale words by vpshufb) carries over
 *     unchanged, so each kernel runs the super-block twice, once per pair
 *     of rows, from lines already in L1 the second time.
 * The activations are the ones the AVX-512 kernels read (Q4_0's and
 * Q5_0's prepared rows, Q8_0 / F16 / Q8_K rows as quantized).
 *
 * Operand bounds for vpmaddubsw (no int16 saturation): Q4_0 nibble pairs
 * added ≤ 2·2·15·128 = 7680, Q5_0 ≤ 15872; Q8_0 moves the sign of x onto
 * y (|x| ≤ 128 against |y| ≤ 127, one pair: ≤ 32512); the K-quants as in
 * mv_il_kquants_avx512.c.
 */
#ifndef LF_MV_IL_AVX2_H
#define LF_MV_IL_AVX2_H

#include "kernels/internal.h"

#include <immintrin.h>
#include <string.h>

#ifndef IL_VNNI
#error "define IL_VNNI (0 or 1) before including mv_il_avx2.h"
#endif

#define INLINE static inline __attribute__((always_inline))
#define UNROLL4 _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)
#define UNROLL8 _Pragma("GCC unroll 8")

/* acc + Σ4 u8·s8 per int32 lane; the plain form needs pair sums below
 * 32768. */
INLINE __m256i il_dot(__m256i acc, __m256i u, __m256i s) {
#if IL_VNNI
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

/* acc + Σ4 u1·s1 + Σ4 u2·s2: the plain form adds the two pair sums in
 * int16 first (one vpmaddwd for both). */
INLINE __m256i il_dot2(__m256i acc, __m256i u1, __m256i s1, __m256i u2, __m256i s2) {
#if IL_VNNI
    return _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(acc, u1, s1), u2, s2);
#else
    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(u1, s1), _mm256_maddubs_epi16(u2, s2));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
#endif
}

/* acc + Σ2 s16·s16 per int32 lane. */
INLINE __m256i il_dot_ww(__m256i acc, __m256i a, __m256i b) {
#if IL_VNNI
    return _mm256_dpwssd_avx_epi32(acc, a, b);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

INLINE float il_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* c ? a : b, bit by bit. */
INLINE __m256i il_bitselect(__m256i c, __m256i a, __m256i b) {
    return _mm256_or_si256(_mm256_and_si256(c, a), _mm256_andnot_si256(c, b));
}

INLINE __m256i il_bcast16(const void *p) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
}

/* 32 mask bits (chosen from the 8 bytes broadcast in v by the in-lane byte
 * shuffle sel: 8 copies of one byte per 8 output bytes) as bytes of 16
 * where the bit is set, 0 elsewhere. */
INLINE __m256i il_bits_to_16(__m256i v, __m256i sel) {
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i b = _mm256_and_si256(_mm256_shuffle_epi8(v, sel), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(b, bit), _mm256_set1_epi8(16));
}

/* Software prefetch IL_AHEAD bytes down the group's stream, one request
 * per line of the step about to be read. Unlike the AVX-512 kernels (Zen
 * 4, where the hardware prefetchers alone did better), these lost CPU
 * time to DRAM stalls without it: one thread, SmolLM2-135M F16 decoding
 * on a loaded Sapphire Rapids, 37 ms of CPU a token without, 34 at 2 KiB
 * ahead, 29 at 4 KiB, against 25 for the row kernels (vecdot_avx2.c,
 * which prefetch the next group); Q4_0 12.7 against 16.8. Not tuned
 * further: that machine was too loaded for finer figures. */
#define IL_AHEAD 4096
INLINE void il_prefetch(const uint8_t *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + IL_AHEAD + o, _MM_HINT_T0);
}

/* s[2p], s[2p+1] = Σ of lanes 0-3, 4-7 of acc[p]. */
INLINE void il_pairs_to_rows(const __m256 acc[2], float *s) {
    const __m256 h = _mm256_hadd_ps(acc[0], acc[1]);   /* a01 a23 b01 b23 | a45 a67 b45 b67 */
    const __m256 h2 = _mm256_hadd_ps(h, h);             /* a0-3 b0-3 .. | a4-7 b4-7 .. */
    float v[8];
    _mm256_storeu_ps(v, h2);
    s[0] = v[0];
    s[1] = v[4];
    s[2] = v[1];
    s[3] = v[5];
}

/* ---- Q4_0 ------------------------------------------------------------------
 * Step of 4 blocks (288 bytes): 16 scales d[4r + b], then each row's 64
 * nibble bytes = two vectors of blocks (0, 1) and (2, 3). The prepared
 * activations (256 bytes) give the partners of both nibbles, the -8
 * offsets as starting sums (lane 4b + j) and the activation scales at
 * lane 4r + b. Per row and half: two ands and a shift, the dot, one
 * permute spreading the two blocks' scales over their lanes, one FMA. */
static const int32_t il_q4_perm[2][2][8] __attribute__((aligned(32), unused)) = {
    {{0, 0, 0, 0, 1, 1, 1, 1}, {2, 2, 2, 2, 3, 3, 3, 3}},
    {{4, 4, 4, 4, 5, 5, 5, 5}, {6, 6, 6, 6, 7, 7, 7, 7}},
};

INLINE void il_q4_0_step(const uint8_t *xs, const uint8_t *ya, __m256 acc[4], const bool five) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    /* rows 0-1 and 2-3: 8 scales each, times the activation scales */
    const __m256 sc[2] = {
        _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)xs)), _mm256_load_ps((const float *)(ya + 192))),
        _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(xs + 16))),
                      _mm256_load_ps((const float *)(ya + 224))),
    };
    /* Q5_0: fifth bits (as stored, 4 bytes per block at 32 + 4(4r + b))
     * and quants after them */
    const uint8_t *q = xs + (five ? 96 : 32);
    const __m256i sel_lo = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5);
    const __m256i sel_hi = _mm256_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
                                            6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7);
    for (int h = 0; h < 2; h++) {
        const __m256i alo = _mm256_load_si256((const __m256i *)(ya + 32 * h));
        const __m256i ahi = _mm256_load_si256((const __m256i *)(ya + 64 + 32 * h));
        __m256i corr = _mm256_load_si256((const __m256i *)(ya + 128 + 32 * h));
        if (five)   /* weights u - 16: twice the -8 offsets */
            corr = _mm256_add_epi32(corr, corr);
        UNROLL4 {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(q + 64 * r + 32 * h));
            __m256i lo = _mm256_and_si256(qv, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            if (five) {
                /* the two blocks' words: low halves complete the low
                 * nibbles (elements 0-15), high halves the high ones */
                long long w;
                memcpy(&w, xs + 32 + 4 * (4 * r + 2 * h), 8);
                const __m256i v = _mm256_set1_epi64x(w);
                lo = _mm256_or_si256(lo, il_bits_to_16(v, sel_lo));
                hi = _mm256_or_si256(hi, il_bits_to_16(v, sel_hi));
            }
            const __m256i isum = il_dot2(corr, lo, alo, hi, ahi);
            const __m256 s = _mm256_permutevar8x32_ps(
                sc[r / 2], _mm256_load_si256((const __m256i *)il_q4_perm[r % 2][h]));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), s, acc[r]);
        }
    }
}

/* A last step of k < 4 blocks, read in place: row r's scales are
 * d[r*k + b], its fifth-bit words follow at 8k, its 16k nibble bytes at
 * 8k (Q4_0) or 24k (Q5_0). Halves of one block load 16 bytes (no read past
 * the group); the prepared activations of missing blocks are zero. */
INLINE void il_q4_0_short(const uint8_t *xs, const uint8_t *ya, __m256 acc[4], const int k,
                          const bool five) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const uint8_t *hb = xs + 8 * k, *q = xs + (five ? 24 : 8) * k;
    const float *dy = (const float *)(ya + 192);   /* lane b: d of y_b (row 0's) */
    const __m256i sel_lo = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5);
    const __m256i sel_hi = _mm256_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
                                            6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7);
    for (int h = 0; 2 * h < k; h++) {
        const bool two = 2 * h + 1 < k;
        const __m256i alo = _mm256_load_si256((const __m256i *)(ya + 32 * h));
        const __m256i ahi = _mm256_load_si256((const __m256i *)(ya + 64 + 32 * h));
        __m256i corr = _mm256_load_si256((const __m256i *)(ya + 128 + 32 * h));
        if (five)
            corr = _mm256_add_epi32(corr, corr);
        UNROLL4 {
            const int i = r * k + 2 * h;   /* the half's first block in the step */
            const uint8_t *qr = q + 16 * i;
            const __m256i qv = two ? _mm256_loadu_si256((const __m256i *)qr)
                                   : _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)qr));
            __m256i lo = _mm256_and_si256(qv, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            if (five) {
                uint32_t w[2] = {0, 0};
                memcpy(w, hb + 4 * i, two ? 8 : 4);
                const __m256i v = _mm256_set1_epi64x((long long)((uint64_t)w[0] | (uint64_t)w[1] << 32));
                lo = _mm256_or_si256(lo, il_bits_to_16(v, sel_lo));
                hi = _mm256_or_si256(hi, il_bits_to_16(v, sel_hi));
            }
            const __m256i isum = il_dot2(corr, lo, alo, hi, ahi);
            const float s0 = _cvtsh_ss(((const lf_half *)xs)[i]) * dy[2 * h];
            const float s1 = two ? _cvtsh_ss(((const lf_half *)xs)[i + 1]) * dy[2 * h + 1] : 0.0f;
            const __m256 s = _mm256_set_m128(_mm_set1_ps(s1), _mm_set1_ps(s0));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), s, acc[r]);
        }
    }
}

INLINE void il_q4_0_body(int n, float *s, const uint8_t *x, const uint8_t *ya, const bool five) {
    const int nb = n / 32;
    const size_t bsize = five ? sizeof(lf_block_q5_0) : sizeof(lf_block_q4_0);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int b = 0;
    for (; b + 4 <= nb; b += 4, x += 16 * bsize, ya += 256) {
        il_prefetch(x, 16 * bsize);
        il_q4_0_step(x, ya, acc, five);
    }
    if (b < nb)
        il_q4_0_short(x, ya, acc, nb - b, five);
    UNROLL4 s[r] = il_hsum(acc[r]);
}

/* ---- Q8_0 ------------------------------------------------------------------
 * Step of 2 blocks (272 bytes): 8 scales d[2r + b], then each row's two
 * 32-byte blocks. With VNNI the weights turn unsigned by flipping their
 * sign bit and each block's sum starts at -128·Σy (shared by the rows);
 * without, the sign of x moves onto y. */
INLINE void il_q8_0_step(const uint8_t *xs, const lf_block_q8_0 *y, __m256 acc[4]) {
    const __m256i yv[2] = {_mm256_loadu_si256((const __m256i *)y[0].qs),
                           _mm256_loadu_si256((const __m256i *)y[1].qs)};
    const __m256 dy = _mm256_setr_ps(_cvtsh_ss(y[0].d), _cvtsh_ss(y[1].d), _cvtsh_ss(y[0].d),
                                     _cvtsh_ss(y[1].d), _cvtsh_ss(y[0].d), _cvtsh_ss(y[1].d),
                                     _cvtsh_ss(y[0].d), _cvtsh_ss(y[1].d));
    const __m256 sc = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)xs)), dy);
    const uint8_t *q = xs + 16;
#if IL_VNNI
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    const __m256i corr[2] = {
        _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), flip, yv[0])),
        _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), flip, yv[1])),
    };
#endif
    UNROLL4 {
        for (int b = 0; b < 2; b++) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(q + 64 * r + 32 * b));
#if IL_VNNI
            const __m256i isum = _mm256_dpbusd_avx_epi32(corr[b], _mm256_xor_si256(xv, flip), yv[b]);
#else
            const __m256i isum = _mm256_madd_epi16(
                _mm256_maddubs_epi16(_mm256_sign_epi8(xv, xv), _mm256_sign_epi8(yv[b], xv)),
                _mm256_set1_epi16(1));
#endif
            const __m256 d = _mm256_permutevar8x32_ps(sc, _mm256_set1_epi32(2 * r + b));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc[r]);
        }
    }
}

INLINE void il_q8_0_body(int n, float *s, const uint8_t *x, const lf_block_q8_0 *y) {
    const int nb = n / LF_QK8_0;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int b = 0;
    for (; b + 2 <= nb; b += 2, x += 8 * sizeof(lf_block_q8_0)) {
        il_prefetch(x, 8 * sizeof(lf_block_q8_0));
        il_q8_0_step(x, y + b, acc);
    }
    if (b < nb) {
        /* one block left: a step whose second block is zero */
        uint8_t xs[272] __attribute__((aligned(32)));
        lf_block_q8_0 yt[2];
        memset(xs, 0, sizeof xs);
        memset(yt, 0, sizeof yt);
        yt[0] = y[b];
        for (int r = 0; r < 4; r++) {
            memcpy(xs + 4 * r, x + 2 * r, 2);
            memcpy(xs + 16 + 64 * r, x + 8 + 32 * r, 32);
        }
        il_q8_0_step(xs, yt, acc);
    }
    UNROLL4 s[r] = il_hsum(acc[r]);
}

/* ---- F16 -------------------------------------------------------------------
 * Steps of 32 halves per row: the activations are widened once per step
 * for the four rows; two accumulators per row keep the FMA chains short. */
INLINE void il_f16_body(int n, float *s, const uint8_t *x, const lf_half *y) {
    __m256 acc[8];
    for (int i = 0; i < 8; i++)
        acc[i] = _mm256_setzero_ps();
    for (int c = 0; c < n / 32; c++, x += 256, y += 32) {
        il_prefetch(x, 256);
        __m256 a[4];
        for (int i = 0; i < 4; i++)
            a[i] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + 8 * i)));
        UNROLL4 {
            for (int i = 0; i < 4; i++) {
                const __m256 w = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 64 * r + 16 * i)));
                acc[2 * r + i % 2] = _mm256_fmadd_ps(w, a[i], acc[2 * r + i % 2]);
            }
        }
    }
    UNROLL4 s[r] = il_hsum(_mm256_add_ps(acc[2 * r], acc[2 * r + 1]));
}

/* ---- Q4_K / Q5_K -----------------------------------------------------------
 * Per super-block and pair of rows p: the header half H (lane l = row
 * 2p + l) gives the scale bytes (H & 63, spread to words by vpshufb), the
 * mins as 8 words per lane (met by the 8 sub-block sums of the
 * activations in one vpmaddwd) and d, dmin (one vpshufb, one vpermq, two
 * conversions). Q5_K completes each nibble vector from its 32 mask bits
 * (rows 2p, 2p + 1: bits 32p .. 32p + 31 of the 64-bit mask). */
#define IL_W8(w) w, w, w, w, w, w, w, w
#define IL_W16(w) IL_W8(w), IL_W8(w)
static const int16_t il_k4_sc_idx[8][16] __attribute__((aligned(32), unused)) = {
    {IL_W16(-32764)}, {IL_W16(-32763)}, {IL_W16(-32762)}, {IL_W16(-32761)},   /* 0x8004 .. */
    {IL_W16(-32760)}, {IL_W16(-32759)}, {IL_W16(-32758)}, {IL_W16(-32757)},   /* .. 0x800B */
};
static const int16_t il_k6_sc_idx[8][16] __attribute__((aligned(32), unused)) = {
    {IL_W16(0x0100)}, {IL_W16(0x0302)}, {IL_W16(0x0504)}, {IL_W16(0x0706)},
    {IL_W16(0x0908)}, {IL_W16(0x0B0A)}, {IL_W16(0x0D0C)}, {IL_W16(0x0F0E)},
};
#define IL_W4(w) w, w, w, w
/* after vpackssdw of two sub-blocks' sums: words 0-3 / 4-7 of each lane */
#define IL_PAIR(m) IL_W4((int16_t)(0x8004 + 2 * (m))), IL_W4((int16_t)(0x8005 + 2 * (m)))
static const int16_t il_k4_pair_idx[4][16] __attribute__((aligned(32), unused)) = {
    {IL_PAIR(0), IL_PAIR(0)}, {IL_PAIR(1), IL_PAIR(1)}, {IL_PAIR(2), IL_PAIR(2)}, {IL_PAIR(3), IL_PAIR(3)},
};
#undef IL_PAIR
#define IL_PAIR(m) IL_W4((int16_t)(0x0100 + 0x0202 * 2 * (m))), IL_W4((int16_t)(0x0302 + 0x0202 * 2 * (m)))
static const int16_t il_k6_pair_idx[4][16] __attribute__((aligned(32), unused)) = {
    {IL_PAIR(0), IL_PAIR(0)}, {IL_PAIR(1), IL_PAIR(1)}, {IL_PAIR(2), IL_PAIR(2)}, {IL_PAIR(3), IL_PAIR(3)},
};
#undef IL_PAIR
#undef IL_W4
#undef IL_W16
#undef IL_W8

/* The K-quant kernels prefetch farther and into L2, as the AVX-512 ones
 * do (mv_il_kquants_avx512.c): 2 threads on a Sapphire Rapids, against a
 * streaming read of the same bytes (tests/kernels/bench_mv_kquants), Q4_K
 * 0.78-0.80 at 2-8 KiB with T0, 0.81-0.86 at 8 KiB with T1; Q6_K
 * 0.75-0.83 against 0.82-0.87. Q5_K stays near 0.70 either way: its
 * fifth bits cost more instructions than the memory time. */
#define IL_KQ_AHEAD 8192
INLINE void il_kq_prefetch(const uint8_t *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + IL_KQ_AHEAD + o, _MM_HINT_T1);
}

INLINE void il_q45_body(int n, float *s, const uint8_t *x, const lf_block_q8_K *y, const bool five) {
    const int nb = n / LF_QK_K;
    const size_t sbytes = five ? 704 : 576;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m63 = _mm256_set1_epi8(63);
    const __m256i w15 = _mm256_set1_epi16(15);
    const __m256i mn_top_idx = _mm256_broadcastsi128_si256(
        _mm_setr_epi16((short)0x8004, (short)0x8005, (short)0x8006, (short)0x8007,
                       (short)0x8008, (short)0x8009, (short)0x800A, (short)0x800B));
    const __m256i mn_low_idx = _mm256_broadcastsi128_si256(
        _mm_setr_epi16((short)0x800C, (short)0x800C, (short)0x800D, (short)0x800D,
                       (short)0x800E, (short)0x800E, (short)0x800F, (short)0x800F));
    /* per lane: d four times, dmin four times */
    const __m256i dm_idx = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3));
    /* the mask bytes of rows 2p (lane 0) and 2p + 1 (lane 1), 8 copies each */
    const __m256i sel = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                         2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++, x += sbytes) {
        il_kq_prefetch(x, sbytes);
        const int8_t *q8 = y[b].qs;
        const __m128i ys = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y[b].bsums),
                                          _mm_loadu_si128((const __m128i *)(y[b].bsums + 8)));
        const __m256i ysum = _mm256_broadcastsi128_si256(ys);
        const __m256 dy = _mm256_set1_ps(y[b].d);
        for (int p = 0; p < 2; p++) {
            const __m256i h = _mm256_loadu_si256((const __m256i *)(x + 32 * p));
            const __m256i scb = _mm256_and_si256(h, m63);
            const __m256i mn_top = _mm256_srli_epi16(_mm256_shuffle_epi8(h, mn_top_idx), 2);
            const __m256i mn_lw = _mm256_shuffle_epi8(h, mn_low_idx);
            const __m256i mn_low = _mm256_blend_epi16(mn_lw, _mm256_srli_epi16(mn_lw, 4), 0xAA);
            const __m256i mn = il_bitselect(w15, mn_low, mn_top);
            const __m256i msum = _mm256_madd_epi16(mn, ysum);
            __m256i isum2[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
#if IL_VNNI
            __m256i t[2];
#endif
            UNROLL8 for (int j = 0; j < 8; j++) {
                const __m256i q = _mm256_loadu_si256((const __m256i *)(x + 64 + 64 * j + 32 * p));
                __m256i lo = _mm256_and_si256(q, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if (five) {
                    int32_t kl, kh;
                    memcpy(&kl, x + 576 + 16 * j + 4 * p, 4);
                    memcpy(&kh, x + 584 + 16 * j + 4 * p, 4);
                    lo = _mm256_or_si256(lo, il_bits_to_16(_mm256_set1_epi32(kl), sel));
                    hi = _mm256_or_si256(hi, il_bits_to_16(_mm256_set1_epi32(kh), sel));
                }
                const __m256i alo = il_bcast16(q8 + 32 * j), ahi = il_bcast16(q8 + 32 * j + 16);
#if IL_VNNI
                /* sums of 4 products in int32, two sub-blocks packed to
                 * words meet their scales in one vpdpwssd */
                t[j % 2] = il_dot2(_mm256_setzero_si256(), lo, alo, hi, ahi);
                if (j % 2) {
                    const __m256i sc = _mm256_shuffle_epi8(scb, _mm256_load_si256((const __m256i *)il_k4_pair_idx[j / 2]));
                    isum2[j / 2 % 2] = il_dot_ww(isum2[j / 2 % 2], _mm256_packs_epi32(t[0], t[1]), sc);
                }
#else
                const __m256i pr = _mm256_add_epi16(_mm256_maddubs_epi16(lo, alo), _mm256_maddubs_epi16(hi, ahi));
                const __m256i sc = _mm256_shuffle_epi8(scb, _mm256_load_si256((const __m256i *)il_k4_sc_idx[j]));
                isum2[j % 2] = il_dot_ww(isum2[j % 2], pr, sc);
#endif
            }
            const __m256i isum = _mm256_add_epi32(isum2[0], isum2[1]);
            /* lanes [d x4, dmin x4] of rows 2p, 2p+1 -> [d d | dmin dmin] */
            const __m256i dm = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(h, dm_idx), 0xD8);
            const __m256 d = _mm256_cvtph_ps(_mm256_castsi256_si128(dm));
            const __m256 dmin = _mm256_cvtph_ps(_mm256_extracti128_si256(dm, 1));
            const __m256 f = _mm256_fmsub_ps(_mm256_cvtepi32_ps(isum), d,
                                             _mm256_mul_ps(_mm256_cvtepi32_ps(msum), dmin));
            acc[p] = _mm256_fmadd_ps(f, dy, acc[p]);
        }
    }
    il_pairs_to_rows(acc, s);
}

/* ---- Q6_K -------------------------------------------------------------------
 * Per super-block and pair of rows p: the scales sign-extended to words
 * (lane l = row 2p + l; groups 0-7 from S[16p ..], 8-15 from S[32 + 16p ..]),
 * the -32 offset as 32·Σ scale·bsum (two vpmaddwd), then per three
 * vectors B0..B2 four groups: three as & 63, the fourth from their top
 * bits. d of the four rows sits after the group's super-blocks. */
INLINE void il_q6_body(int n, float *s, const uint8_t *x, const lf_block_q8_K *y) {
    const int nb = n / LF_QK_K;
    const uint8_t *dp = x + (size_t)nb * 832;
    /* the d values are off the stream the prefetchers follow: request this
     * group's and the next group's (see mv_il_kquants_avx512.c) */
    for (int o = 0; o < 8 * nb; o += 64) {
        _mm_prefetch((const char *)dp + o, _MM_HINT_T0);
        _mm_prefetch((const char *)dp + (size_t)nb * (832 + 8) + o, _MM_HINT_T0);
    }
    const __m256i m63 = _mm256_set1_epi8(63);
    const __m256i mc0 = _mm256_set1_epi8((char)0xC0), m0f = _mm256_set1_epi8(0x0F);
    const __m256i d_idx[2] = {_mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1),
                              _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3)};
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++, x += 832, dp += 8) {
        il_kq_prefetch(x, 832);
        const int8_t *q8 = y[b].qs;
        const __m256 d4 = _mm256_castps128_ps256(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)dp)));
        const __m256i bs0 = il_bcast16(y[b].bsums), bs1 = il_bcast16(y[b].bsums + 8);
        for (int p = 0; p < 2; p++) {
            const __m256i sa = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + 16 * p)));
            const __m256i sb = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + 32 + 16 * p)));
            const __m256i corr = _mm256_add_epi32(_mm256_madd_epi16(sa, bs0), _mm256_madd_epi16(sb, bs1));
            __m256i isum2[2] = {_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 5)),
                                _mm256_setzero_si256()};
#if IL_VNNI
            __m256i tg[2];
#endif
            _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) {
                const uint8_t *v = x + 64 + 192 * t + 32 * p;
                const __m256i b0 = _mm256_loadu_si256((const __m256i *)v);
                const __m256i b1 = _mm256_loadu_si256((const __m256i *)(v + 64));
                const __m256i b2 = _mm256_loadu_si256((const __m256i *)(v + 128));
                const __m256i u = il_bitselect(mc0, b2, _mm256_srli_epi16(b1, 2));
                const __m256i w3v = il_bitselect(m0f, _mm256_srli_epi16(b0, 4), u);
                __m256i w[4];
                w[0] = _mm256_and_si256(b0, m63);
                w[1] = _mm256_and_si256(b1, m63);
                w[2] = _mm256_and_si256(b2, m63);
                w[3] = _mm256_and_si256(_mm256_srli_epi16(w3v, 2), m63);
                _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
                    const int g = 4 * t + k;
                    const __m256i a = il_bcast16(q8 + 16 * g);
#if IL_VNNI
                    tg[k % 2] = il_dot(_mm256_setzero_si256(), w[k], a);
                    if (k % 2) {
                        const __m256i sc = _mm256_shuffle_epi8(
                            g < 8 ? sa : sb, _mm256_load_si256((const __m256i *)il_k6_pair_idx[g % 8 / 2]));
                        isum2[k / 2] = il_dot_ww(isum2[k / 2], _mm256_packs_epi32(tg[0], tg[1]), sc);
                    }
#else
                    const __m256i pr = _mm256_maddubs_epi16(w[k], a);
                    const __m256i sc = _mm256_shuffle_epi8(
                        g < 8 ? sa : sb, _mm256_load_si256((const __m256i *)il_k6_sc_idx[g % 8]));
                    isum2[k % 2] = il_dot_ww(isum2[k % 2], pr, sc);
#endif
                }
            }
            const __m256i isum = _mm256_add_epi32(isum2[0], isum2[1]);
            const __m256 d = _mm256_mul_ps(_mm256_permutevar8x32_ps(d4, d_idx[p]), _mm256_set1_ps(y[b].d));
            acc[p] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc[p]);
        }
    }
    il_pairs_to_rows(acc, s);
}

#endif /* LF_MV_IL_AVX2_H */
