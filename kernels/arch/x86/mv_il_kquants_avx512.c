/*
 * AVX-512 matrix-vector kernels for the interleaved Q4_K, Q5_K and Q6_K
 * layouts (defined byte for byte in kernels/interleave_kquants.c): one call
 * computes the dot products of the 4 rows of one group with a Q8_K row.
 *
 * The four rows live in the four 128-bit lanes of every vector (lane r =
 * row r), so each 64-byte load of quants is used as is: the activations
 * it meets are one 16-byte broadcast shared by all rows, the per-lane scale
 * words come from one in-lane byte shuffle (vpshufb) of a header decoded
 * once per super-block for all 4 rows, and the per-row results stay in
 * their lanes until a single reduction at the end. The multiply steps
 * bound these kernels on Zen 4, so they are kept few: with VNNI, per 64
 * bytes of Q4_K quants two vpdpbusd (low / high nibbles, both of the same
 * sub-block) give int32 sums of 4 products, and every two sub-blocks are
 * packed to words (vpackssdw) to meet their scales in one vpdpwssd; Q6_K
 * does the same per two groups of 16. Without VNNI: vpmaddubsw pair sums
 * (Q4_K/Q5_K: both nibbles added in int16) times the scale words by
 * vpmaddwd.
 *
 * Like kernels/arch/x86/vecdot_avx512.c, each body takes `vnni` as a
 * compile-time constant and is instantiated twice. Operand bounds, with
 * |activation| <= 128: no int16 saturation in vpmaddubsw (Q4_K nibble
 * pairs added: <= 2·2·15·128 = 7680, Q5_K <= 15872, Q6_K <= 2·63·128 =
 * 16128) nor in vpackssdw (sums of 4 products per nibble position, both
 * positions: Q4_K <= 15360, Q5_K <= 31744, Q6_K group <= 4·63·128 =
 * 32256). test_interleave_kquants checks the extremes.
 */
#include "kernels/internal.h"

#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* Software prefetch KQ_AHEAD bytes down the group's stream (groups are
 * contiguous, so past a group's end it requests the next one), one request
 * per line of the super-block about to be read, into L2 (the T1 hint
 * measured better than T0 at every distance). On a Sapphire Rapids with 2
 * threads (tests/kernels/bench_mv_kquants: dense 2048 x 5632 and 8 of 64
 * OLMoE expert slices, against a streaming read of the same bytes), Q4_K
 * and Q5_K ran at 0.63-0.64 of the read without, 0.85-0.86 at 4 KiB with
 * T0, 0.89-0.93 at 6-16 KiB with T1; Q6_K (which requested its current
 * super-block) at 0.70, 0.88, 0.92-0.94. On Zen 4 the hardware prefetchers
 * alone had done better than T0 requests 0.8-8 KiB ahead (one thread,
 * 4096 x 14336 Q6_K: 0.68-0.74 of the read roof without, 0.48-0.65 with);
 * T1 requests were not measured there. */
#define KQ_AHEAD 8192
INLINE void kq_prefetch(const uint8_t *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + KQ_AHEAD + o, _MM_HINT_T1);
}

/* acc += Σ2 s16·s16 per int32 lane. */
INLINE __m512i dot_ww(__m512i acc, __m512i a, __m512i b, const bool vnni) {
    if (vnni)
        return _mm512_dpwssd_epi32(acc, a, b);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
}

#define UNROLL _Pragma("GCC unroll 16")

/* vpshufb controls that fill every word of a lane with one scale: Q4_K/Q5_K
 * sub-block j = byte 4 + j zero-extended, Q6_K group g % 8 = word g % 8. */
#define W8(w) w, w, w, w, w, w, w, w
#define W32(w) W8(w), W8(w), W8(w), W8(w)
static const int16_t k4_sc_idx[8][32] __attribute__((aligned(64))) = {
    {W32(-32764)}, {W32(-32763)}, {W32(-32762)}, {W32(-32761)},   /* 0x8004 .. */
    {W32(-32760)}, {W32(-32759)}, {W32(-32758)}, {W32(-32757)},   /* .. 0x800B */
};
static const int16_t k6_sc_idx[8][32] __attribute__((aligned(64))) = {
    {W32(0x0100)}, {W32(0x0302)}, {W32(0x0504)}, {W32(0x0706)},
    {W32(0x0908)}, {W32(0x0B0A)}, {W32(0x0D0C)}, {W32(0x0F0E)},
};
/* sub-blocks 2m, 2m+1 after vpackssdw: words 0-3 / 4-7 of each lane */
#define W4(w) w, w, w, w
#define PAIR(m) W4((int16_t)(0x8004 + 2 * (m))), W4((int16_t)(0x8005 + 2 * (m)))
static const int16_t k4_pair_idx[4][32] __attribute__((aligned(64))) = {
    {PAIR(0), PAIR(0), PAIR(0), PAIR(0)}, {PAIR(1), PAIR(1), PAIR(1), PAIR(1)},
    {PAIR(2), PAIR(2), PAIR(2), PAIR(2)}, {PAIR(3), PAIR(3), PAIR(3), PAIR(3)},
};
#undef PAIR
/* groups 2m, 2m+1 (mod 8) after vpackssdw: word 2m / 2m+1 of the lane */
#define PAIR(m) W4((int16_t)(0x0100 + 0x0202 * 2 * (m))), W4((int16_t)(0x0302 + 0x0202 * 2 * (m)))
static const int16_t k6_pair_idx[4][32] __attribute__((aligned(64))) = {
    {PAIR(0), PAIR(0), PAIR(0), PAIR(0)}, {PAIR(1), PAIR(1), PAIR(1), PAIR(1)},
    {PAIR(2), PAIR(2), PAIR(2), PAIR(2)}, {PAIR(3), PAIR(3), PAIR(3), PAIR(3)},
};
#undef PAIR
#undef W4
#undef W32
#undef W8

/* c ? a : b, bit by bit. */
INLINE __m512i bitselect(__m512i c, __m512i a, __m512i b) {
    return _mm512_ternarylogic_epi32(a, b, c, 0xE4);
}

INLINE __m512i bcast16(const void *p) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p));
}

/* s[r] = Σ of the 4 floats of lane r, in registers: two in-lane swaps and
 * adds leave every float of a lane holding its sum, one permute gathers
 * the four sums (5 instructions where a store, 16 scalar loads and 12
 * adds were some 30, once per call of a few hundred). */
INLINE void lanes_to_rows(__m512 acc, float *s) {
    const __m512 t = _mm512_add_ps(acc, _mm512_permute_ps(acc, 0x4E));   /* [2 3 0 1] */
    const __m512 u = _mm512_add_ps(t, _mm512_permute_ps(t, 0xB1));       /* [1 0 3 2] */
    const __m512 v = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), u);
    _mm_storeu_ps(s, _mm512_castps512_ps128(v));
}

/* ---- Q4_K / Q5_K -----------------------------------------------------------
 * Per super-block: the header vector H (lane r: d, dmin, 8 bytes sc | mn
 * top bits, 4 bytes of mn low nibbles) gives
 *   - the scale bytes SCB = H & 63, from which vpshufb makes the words of
 *     sub-block j (byte 4 + j of each lane, zero-extended);
 *   - the mins as 8 words per lane, multiplied with the 8 sub-block sums of
 *     the activations (pairs of Q8_K bsums) by one vpmaddwd for all rows;
 *   - d and dmin of the 4 rows, 4 copies per lane, via one vpermw and two
 *     vcvtph2ps.
 * Q5_K adds the fifth bit of each nibble vector from a 64-bit mask (one
 * bit per byte, lane for lane) with a masked vpaddb. */
INLINE void mv_il_q45_body(int n, float *s, const void *vx, const void *vy,
                           const bool vnni, const bool five) {
    const lf_block_q8_K *y = vy;
    const uint8_t *x = vx;
    const int nb = n / LF_QK_K;
    const size_t sbytes = five ? 704 : 576;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m63 = _mm512_set1_epi8(63);
    const __m512i sixteen = _mm512_set1_epi8(16);
    /* word j of a lane <- byte 4 + j (sc | mn top bits) / byte 12 + j/2
     * (mn low nibbles, shifted by 0 / 4) */
    const __m512i mn_top_idx = _mm512_broadcast_i32x4(
        _mm_setr_epi16((short)0x8004, (short)0x8005, (short)0x8006, (short)0x8007,
                       (short)0x8008, (short)0x8009, (short)0x800A, (short)0x800B));
    const __m512i mn_low_idx = _mm512_broadcast_i32x4(
        _mm_setr_epi16((short)0x800C, (short)0x800C, (short)0x800D, (short)0x800D,
                       (short)0x800E, (short)0x800E, (short)0x800F, (short)0x800F));
    const __m512i mn_low_sh = _mm512_broadcast_i32x4(_mm_setr_epi16(0, 4, 0, 4, 0, 4, 0, 4));
    const __m512i w15 = _mm512_set1_epi16(15);
    /* words 0-15: d of rows 0..3 four times each; 16-31: dmin */
    const __m512i dm_idx = _mm512_setr_epi32(0x00000000, 0x00000000, 0x00080008, 0x00080008,
                                             0x00100010, 0x00100010, 0x00180018, 0x00180018,
                                             0x00010001, 0x00010001, 0x00090009, 0x00090009,
                                             0x00110011, 0x00110011, 0x00190019, 0x00190019);
    __m512 acc = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++, x += sbytes) {
        kq_prefetch(x, sbytes);
        const int8_t *q8 = y[b].qs;
        const __m512i h = _mm512_loadu_si512(x);
        const __m512i scb = _mm512_and_si512(h, m63);
        const __m512i mn_top = _mm512_srli_epi16(_mm512_shuffle_epi8(h, mn_top_idx), 2);
        const __m512i mn_low = _mm512_srlv_epi16(_mm512_shuffle_epi8(h, mn_low_idx), mn_low_sh);
        const __m512i mn = bitselect(w15, mn_low, mn_top);
        const __m128i ys = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y[b].bsums),
                                          _mm_loadu_si128((const __m128i *)(y[b].bsums + 8)));
        const __m512i msum = _mm512_madd_epi16(mn, _mm512_broadcast_i32x4(ys));
        /* two chains so that the vpdpwssd latency overlaps */
        __m512i isum2[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
        __m512i t[2];
        UNROLL for (int j = 0; j < 8; j++) {
            const __m512i q = _mm512_loadu_si512(x + 64 + 64 * j);
            __m512i lo = _mm512_and_si512(q, m4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            if (five) {
                uint64_t kl, kh;
                memcpy(&kl, x + 576 + 16 * j, 8);
                memcpy(&kh, x + 584 + 16 * j, 8);
                lo = _mm512_mask_add_epi8(lo, (__mmask64)kl, lo, sixteen);
                hi = _mm512_mask_add_epi8(hi, (__mmask64)kh, hi, sixteen);
            }
            const __m512i alo = bcast16(q8 + 32 * j), ahi = bcast16(q8 + 32 * j + 16);
            if (vnni) {
                /* sub-block sums of 4 products in int32 (|t| <= 31744),
                 * two sub-blocks packed to words meet their scales in one
                 * vpdpwssd */
                t[j % 2] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, alo), hi, ahi);
                if (j % 2) {
                    const __m512i sc = _mm512_shuffle_epi8(scb, _mm512_load_si512(k4_pair_idx[j / 2]));
                    isum2[j / 2 % 2] = _mm512_dpwssd_epi32(isum2[j / 2 % 2], _mm512_packs_epi32(t[0], t[1]), sc);
                }
            } else {
                const __m512i p = _mm512_add_epi16(_mm512_maddubs_epi16(lo, alo), _mm512_maddubs_epi16(hi, ahi));
                const __m512i sc = _mm512_shuffle_epi8(scb, _mm512_load_si512(k4_sc_idx[j]));
                isum2[j % 2] = dot_ww(isum2[j % 2], p, sc, vnni);
            }
        }
        const __m512i isum = _mm512_add_epi32(isum2[0], isum2[1]);
        const __m512i dm = _mm512_permutexvar_epi16(dm_idx, h);
        const __m512 d = _mm512_cvtph_ps(_mm512_castsi512_si256(dm));
        const __m512 dmin = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(dm, 1));
        const __m512 f = _mm512_fmsub_ps(_mm512_cvtepi32_ps(isum), d,
                                         _mm512_mul_ps(_mm512_cvtepi32_ps(msum), dmin));
        acc = _mm512_fmadd_ps(f, _mm512_set1_ps(y[b].d), acc);
    }
    lanes_to_rows(acc, s);
}

/* ---- Q6_K -------------------------------------------------------------------
 * Three vectors B0..B2 carry four groups of 16 per row: groups 4t+k (k < 3)
 * are Bk & 63, group 4t+3 is assembled from the top two bits of the three
 * (bits 6-7 of B0, B1, B2 are its bits 0-1, 2-3, 4-5). Each assembled
 * vector is one group per lane: one broadcast of 16 activations, one
 * vpmaddubsw, one vpshufb for the scale words (from the scales
 * sign-extended to words, lane r = row r) and one vpdpwssd. Quants stay
 * unsigned (0..63); the -32 offset comes off once per super-block as
 * 32·Σ scale·bsum, two vpmaddwd for the 4 rows. */
INLINE void mv_il_q6_body(int n, float *s, const void *vx, const void *vy, const bool vnni) {
    const lf_block_q8_K *y = vy;
    const uint8_t *x = vx;
    const int nb = n / LF_QK_K;
    const uint8_t *dp = x + (size_t)nb * 832;
    /* The d values sit after the group's super-blocks, off the stream the
     * prefetchers follow: request this group's and the next group's
     * (groups are contiguous) so no super-block waits a full memory
     * latency for its last multiply. One thread, 4096 x 14336: 0.87-0.97
     * of the read roof with this, 0.78 without. */
    for (int o = 0; o < 8 * nb; o += 64) {
        _mm_prefetch((const char *)dp + o, _MM_HINT_T0);
        _mm_prefetch((const char *)dp + (size_t)nb * (832 + 8) + o, _MM_HINT_T0);
    }
    const __m512i m63 = _mm512_set1_epi8(63);
    const __m512i mc0 = _mm512_set1_epi8((char)0xC0), m0f = _mm512_set1_epi8(0x0F);
    const __m256i d_idx = _mm256_setr_epi16(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++, x += 832, dp += 8) {
        const int8_t *q8 = y[b].qs;
        kq_prefetch(x, 832);
        const __m512i s8 = _mm512_loadu_si512(x);
        const __m512i sa = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(s8));
        const __m512i sb = _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(s8, 1));
        const __m512i corr = dot_ww(_mm512_madd_epi16(sa, bcast16(y[b].bsums)), sb,
                                    bcast16(y[b].bsums + 8), vnni);
        __m512i isum2[2] = {_mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(corr, 5)),
                            _mm512_setzero_si512()};
        __m512i tg[2];
        UNROLL for (int t = 0; t < 4; t++) {
            const uint8_t *v = x + 64 + 192 * t;
            const __m512i b0 = _mm512_loadu_si512(v);
            const __m512i b1 = _mm512_loadu_si512(v + 64);
            const __m512i b2 = _mm512_loadu_si512(v + 128);
            const __m512i u = bitselect(mc0, b2, _mm512_srli_epi16(b1, 2));
            const __m512i w3v = bitselect(m0f, _mm512_srli_epi16(b0, 4), u);
            __m512i w[4];
            w[0] = _mm512_and_si512(b0, m63);
            w[1] = _mm512_and_si512(b1, m63);
            w[2] = _mm512_and_si512(b2, m63);
            w[3] = _mm512_and_si512(_mm512_srli_epi16(w3v, 2), m63);
            UNROLL for (int k = 0; k < 4; k++) {
                const int g = 4 * t + k;
                const __m512i a = bcast16(q8 + 16 * g);
                if (vnni) {
                    /* group sums of 4 products in int32 (<= 32256), two
                     * groups packed to words per vpdpwssd */
                    tg[k % 2] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[k], a);
                    if (k % 2) {
                        const __m512i sc = _mm512_shuffle_epi8(g < 8 ? sa : sb,
                                                               _mm512_load_si512(k6_pair_idx[g % 8 / 2]));
                        isum2[k / 2] = _mm512_dpwssd_epi32(isum2[k / 2], _mm512_packs_epi32(tg[0], tg[1]), sc);
                    }
                } else {
                    const __m512i p = _mm512_maddubs_epi16(w[k], a);
                    const __m512i sc = _mm512_shuffle_epi8(g < 8 ? sa : sb, _mm512_load_si512(k6_sc_idx[g % 8]));
                    isum2[k % 2] = dot_ww(isum2[k % 2], p, sc, vnni);
                }
            }
        }
        const __m512i isum = _mm512_add_epi32(isum2[0], isum2[1]);
        const __m128i dh = _mm_loadl_epi64((const __m128i *)dp);
        const __m512 d = _mm512_cvtph_ps(_mm256_permutexvar_epi16(d_idx, _mm256_castsi128_si256(dh)));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, _mm512_set1_ps(y[b].d)), acc);
    }
    lanes_to_rows(acc, s);
}

/* ---- instances -------------------------------------------------------------- */

#define MV_IL(name, suffix, call)                                                \
    static void mv_il_##name##_##suffix(int n, float *s, const void *x, size_t bx, \
                                        const void *y, int nr) {                 \
        (void)bx;                                                                \
        (void)nr; /* always LF_IL_ROWS; the layout fixes the rows */             \
        call;                                                                    \
    }

MV_IL(q4_K, vnni, mv_il_q45_body(n, s, x, y, true, false))
MV_IL(q4_K, plain, mv_il_q45_body(n, s, x, y, false, false))
MV_IL(q5_K, vnni, mv_il_q45_body(n, s, x, y, true, true))
MV_IL(q5_K, plain, mv_il_q45_body(n, s, x, y, false, true))
MV_IL(q6_K, vnni, mv_il_q6_body(n, s, x, y, true))
MV_IL(q6_K, plain, mv_il_q6_body(n, s, x, y, false))

void lf_kernels_fill_il_kquants_avx512(lf_kernel_set *ks, bool vnni) {
    ks->mv_il[LF_TYPE_Q4_K] = vnni ? mv_il_q4_K_vnni : mv_il_q4_K_plain;
    ks->mv_il[LF_TYPE_Q5_K] = vnni ? mv_il_q5_K_vnni : mv_il_q5_K_plain;
    ks->mv_il[LF_TYPE_Q6_K] = vnni ? mv_il_q6_K_vnni : mv_il_q6_K_plain;
}
