/*
 * The prompt-processing GEMM on AVX2 + FMA + F16C: the packed int8 tile
 * (vpmaddubsw; the tile itself is gemm_tile_avx2.h, shared with the
 * AVX-VNNI file), the packed float tile for f32/f16/bf16 weights, the
 * whole-block activation preparation and fast packers for the commonest
 * weight types. Panels and activation blocks are the ISA-neutral layout of
 * kernels/gemm_pack.c, so the packers here must produce exactly the bytes
 * of the portable ones (the tests compare them).
 *
 * Packers read rows directly instead of gathering: 8 rows' block bytes
 * are loaded as 8 vectors and transposed as 4-byte dwords, which gives the
 * panel's [4 k][8 rows] vectors (gathers are slow on AMD and, since the
 * gather-data-sampling microcode, on Intel too).
 */
#include "kernels/internal.h"

#include <immintrin.h>
#include <string.h>

#define GT_NAME(x) gt_avx2_##x
#include "kernels/arch/x86/gemm_tile_avx2.h"

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

/* ---- int8 tile ---------------------------------------------------------- */

#define TILE_FN(chunk, mn, m)                                                         \
    static void tile_##chunk##_##mn##_##m(int K, const uint8_t *qs, const float *sw,  \
                                          const float *mw, const void *acts,          \
                                          int ncols, float *y, size_t ldy, int nrows) { \
        gt_avx2_body(K, qs, sw, mw, acts, ncols, y, ldy, nrows, chunk, mn, m);        \
    }
#define TILE_FNS(chunk, mn) TILE_FN(chunk, mn, 0) TILE_FN(chunk, mn, 1) \
                            TILE_FN(chunk, mn, 2) TILE_FN(chunk, mn, 4)
TILE_FNS(16, 0)
TILE_FNS(16, 1)
TILE_FNS(32, 0)
TILE_FNS(32, 1)

typedef void (*tile_fn)(int K, const uint8_t *qs, const float *sw, const float *mw,
                        const void *acts, int ncols, float *y, size_t ldy, int nrows);
#define TILE_ROW(chunk, mn) \
    {tile_##chunk##_##mn##_0, tile_##chunk##_##mn##_1, tile_##chunk##_##mn##_2, tile_##chunk##_##mn##_4}
static const tile_fn tiles[2][2][4] = {
    {TILE_ROW(16, 0), TILE_ROW(16, 1)},
    {TILE_ROW(32, 0), TILE_ROW(32, 1)},
};

/* Index into tiles[][] for a type: 0 = GT_SIGNED for bias 128, else 1, 2,
 * 3 for m = 1, 2, 4, the most int16 sums that cannot saturate
 * (2·u_max·128·m ≤ 32767). */
static int tile_mode(const lf_gemm_desc *g) {
    if (g->u_max > 127)
        return g->bias == 128 ? 0 : -1;
    if (g->u_max <= 31)
        return 3;
    return g->u_max <= 63 ? 2 : 1;
}

static void gemm_tile_avx2(const lf_gemm_desc *g, int K, const uint8_t *qs, const float *sw,
                           const float *mw, const void *acts, int ncols, float *y, size_t ldy,
                           int nrows) {
    int mode = tile_mode(g);
    if (mode < 0) {   /* no type has this today; stay correct if one comes */
        lf_gemm_tile_ref(g, K, qs, sw, mw, acts, ncols, y, ldy, nrows);
        return;
    }
    tiles[g->chunk == 32][g->has_min][mode](K, qs, sw, mw, acts, ncols, y, ldy, nrows);
}

/* ---- activation blocks ---------------------------------------------------
 * Eight columns at once: 32 k of each column are one ymm of 8 dwords, an
 * 8×8 dword transpose turns them into the block's 8 vectors of 4 k × 8
 * columns, and the column sums come from the transposed vectors lane-wise
 * (u8 ones × s8 quants, then pairs of s16). Same bytes as lf_gemm_prep_col. */
INLINE void transpose8x8_epi32(__m256i r[8]) {
    __m256 a[8], t[8], u[8];
    for (int i = 0; i < 8; i++)
        a[i] = _mm256_castsi256_ps(r[i]);
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(a[2 * i], a[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(a[2 * i], a[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) {   /* rows 0-3, then 4-7 */
        u[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
        u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_castps_si256(_mm256_permute2f128_ps(u[i], u[4 + i], 0x20));
        r[i + 4] = _mm256_castps_si256(_mm256_permute2f128_ps(u[i], u[4 + i], 0x31));
    }
}

void lf_gemm_prep_block_avx2(const lf_gemm_desc *g, lf_type vt, const void *src, size_t stride,
                             int ncols, int K, void *acts) {
    int8_t *qs = acts;
    float *meta = (float *)(qs + (size_t)K * LF_GEMM_COLS);
    const int chunk = g->chunk, per = 32 / chunk;   /* chunks per 32 k */
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    const __m256i nbias = _mm256_set1_epi32(-g->bias);
    for (int k0 = 0; k0 < K; k0 += 32) {
        __m256i r[8];
        float d[8];
        for (int c = 0; c < 8; c++) {
            if (c >= ncols) {
                r[c] = _mm256_setzero_si256();
                d[c] = 0;
                continue;
            }
            const char *row = (const char *)src + (size_t)c * stride;
            const int8_t *q;
            if (vt == LF_TYPE_Q8_K) {
                const lf_block_q8_K *b = (const lf_block_q8_K *)row + k0 / LF_QK_K;
                q = b->qs + k0 % LF_QK_K;
                d[c] = b->d;
            } else {
                const lf_block_q8_0 *b = (const lf_block_q8_0 *)row + k0 / 32;
                q = b->qs;
                d[c] = _cvtsh_ss(b->d);
            }
            r[c] = _mm256_loadu_si256((const __m256i *)q);
        }
        transpose8x8_epi32(r);
        for (int j = 0; j < 8; j++)
            _mm256_storeu_si256((__m256i *)(qs + ((size_t)k0 / 4 + (size_t)j) * LF_GEMM_COLS * 4), r[j]);
        const __m256 vd = _mm256_loadu_ps(d);
        for (int h = 0; h < per; h++) {
            __m256i sum = _mm256_setzero_si256();
            for (int j = h * 8 / per; j < (h + 1) * 8 / per; j++)
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, r[j]), ones16));
            float *m = meta + (size_t)(k0 / chunk + h) * 3 * LF_GEMM_COLS;
            _mm256_storeu_ps(m, vd);
            _mm256_storeu_si256((__m256i *)(m + LF_GEMM_COLS), _mm256_mullo_epi32(sum, nbias));
            _mm256_storeu_ps(m + 2 * LF_GEMM_COLS, _mm256_mul_ps(vd, _mm256_cvtepi32_ps(sum)));
        }
    }
}

/* ---- packers ---------------------------------------------------------------
 * One panel half (8 rows) at a time; missing rows read as zero blocks. */

/* fp16 scales of 8 rows (at the same offset of each row) → 8 floats;
 * missing rows 0. F16C conversion is exact, as the portable h2f. */
INLINE __m256 scales8(const char *base, size_t bw, int nr) {
    uint16_t h[8] = {0};
    for (int r = 0; r < nr; r++)
        memcpy(&h[r], base + (size_t)r * bw, 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

/* 16 bytes at p of 8 rows (rows ≥ nr zero) → 4 vectors: vector t holds
 * dword t of each row, rows in lanes. */
INLINE void load_t4(const char *p, size_t bw, int nr, __m256i out[4]) {
    __m128i x[8];
    for (int r = 0; r < 8; r++)
        x[r] = r < nr ? _mm_loadu_si128((const __m128i *)(p + (size_t)r * bw)) : _mm_setzero_si128();
    __m256i y[4];
    for (int r = 0; r < 4; r++)
        y[r] = _mm256_inserti128_si256(_mm256_castsi128_si256(x[r]), x[r + 4], 1);
    const __m256i a = _mm256_unpacklo_epi32(y[0], y[1]), b = _mm256_unpackhi_epi32(y[0], y[1]);
    const __m256i c = _mm256_unpacklo_epi32(y[2], y[3]), d = _mm256_unpackhi_epi32(y[2], y[3]);
    out[0] = _mm256_unpacklo_epi64(a, c);
    out[1] = _mm256_unpackhi_epi64(a, c);
    out[2] = _mm256_unpacklo_epi64(b, d);
    out[3] = _mm256_unpackhi_epi64(b, d);
}

static void pack_q4_0_avx2(const void *w, size_t bw, int nrows, int K, uint8_t *qs, float *sw,
                           float *mw) {
    (void)mw;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int half = 0; half < 2; half++) {
        const int nr = nrows - 8 * half < 0 ? 0 : nrows - 8 * half > 8 ? 8 : nrows - 8 * half;
        const char *rows = (const char *)w + (size_t)(8 * half) * bw;
        for (int i = 0; i < K / LF_QK4_0; i++) {
            const char *base = rows + (size_t)i * sizeof(lf_block_q4_0);
            __m256i v[4];
            load_t4(base + 2, bw, nr, v);
            uint8_t *o = qs + (size_t)i * 8 * 64 + (size_t)half * 32;
            for (int t = 0; t < 4; t++) {
                _mm256_storeu_si256((__m256i *)(o + t * 64), _mm256_and_si256(v[t], m4));
                _mm256_storeu_si256((__m256i *)(o + (4 + t) * 64),
                                    _mm256_and_si256(_mm256_srli_epi16(v[t], 4), m4));
            }
            _mm256_storeu_ps(sw + 16 * i + 8 * half, scales8(base, bw, nr));
        }
    }
}

static void pack_q8_0_avx2(const void *w, size_t bw, int nrows, int K, uint8_t *qs, float *sw,
                           float *mw) {
    (void)mw;
    for (int half = 0; half < 2; half++) {
        const int nr = nrows - 8 * half < 0 ? 0 : nrows - 8 * half > 8 ? 8 : nrows - 8 * half;
        const char *rows = (const char *)w + (size_t)(8 * half) * bw;
        /* missing rows must pack as u = 0, not 0 ^ 0x80 */
        const __m256i flip = _mm256_and_si256(gt_row_mask(nr), _mm256_set1_epi8((char)0x80));
        for (int i = 0; i < K / LF_QK8_0; i++) {
            const char *base = rows + (size_t)i * sizeof(lf_block_q8_0);
            __m256i v[8];
            for (int r = 0; r < 8; r++)
                v[r] = r < nr ? _mm256_loadu_si256((const __m256i *)(base + 2 + (size_t)r * bw))
                              : _mm256_setzero_si256();
            transpose8x8_epi32(v);
            uint8_t *o = qs + (size_t)i * 8 * 64 + (size_t)half * 32;
            for (int t = 0; t < 8; t++)
                _mm256_storeu_si256((__m256i *)(o + t * 64), _mm256_xor_si256(v[t], flip));
            _mm256_storeu_ps(sw + 16 * i + 8 * half, scales8(base, bw, nr));
        }
    }
}

/* 32 bytes at p of 8 rows (rows ≥ nr zero) → 8 vectors: vector t holds
 * dword t of each row. */
INLINE void load_t8(const char *p, size_t bw, int nr, __m256i v[8]) {
    for (int r = 0; r < 8; r++)
        v[r] = r < nr ? _mm256_loadu_si256((const __m256i *)(p + (size_t)r * bw))
                      : _mm256_setzero_si256();
    transpose8x8_epi32(v);
}

/* Q5_0: bit j of qh goes to bit 4 of element j. For panel dword t (elements
 * 4t..4t+3, and 16+4t.. in the high nibbles) the 4 bits of qh are spread
 * to bits 4, 12, 20, 28 by one multiply (shifted copies of a 4-bit value
 * cannot overlap, so there are no carries). */
INLINE __m256i q5_high_bits(__m256i h, int shift) {
    const __m256i x = _mm256_and_si256(_mm256_srli_epi32(h, shift), _mm256_set1_epi32(0xF));
    return _mm256_and_si256(_mm256_slli_epi32(_mm256_mullo_epi32(x, _mm256_set1_epi32(0x00204081)), 4),
                            _mm256_set1_epi32(0x10101010));
}

/* the dword at p of 8 rows (rows ≥ nr zero), rows in lanes */
INLINE __m256i dword8(const char *p, size_t bw, int nr) {
    int32_t d[8] = {0};
    for (int r = 0; r < nr; r++)
        memcpy(&d[r], p + (size_t)r * bw, 4);
    return _mm256_loadu_si256((const __m256i *)d);
}

static void pack_q5_0_avx2(const void *w, size_t bw, int nrows, int K, uint8_t *qs, float *sw,
                           float *mw) {
    (void)mw;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int half = 0; half < 2; half++) {
        const int nr = nrows - 8 * half < 0 ? 0 : nrows - 8 * half > 8 ? 8 : nrows - 8 * half;
        const char *rows = (const char *)w + (size_t)(8 * half) * bw;
        for (int i = 0; i < K / LF_QK5_0; i++) {
            const char *base = rows + (size_t)i * sizeof(lf_block_q5_0);
            __m256i v[4];
            load_t4(base + 6, bw, nr, v);
            const __m256i h = dword8(base + 2, bw, nr);
            uint8_t *o = qs + (size_t)i * 8 * 64 + (size_t)half * 32;
            for (int t = 0; t < 4; t++) {
                _mm256_storeu_si256((__m256i *)(o + t * 64),
                                    _mm256_or_si256(_mm256_and_si256(v[t], m4), q5_high_bits(h, 4 * t)));
                _mm256_storeu_si256((__m256i *)(o + (4 + t) * 64),
                                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v[t], 4), m4),
                                                    q5_high_bits(h, 16 + 4 * t)));
            }
            _mm256_storeu_ps(sw + 16 * i + 8 * half, scales8(base, bw, nr));
        }
    }
}

/* Q4_K: sub-blocks 2p and 2p+1 are the low and high nibbles of the 32
 * bytes qs[32p..]; scales decoded per row as the portable packer does. */
static void pack_q4_K_avx2(const void *w, size_t bw, int nrows, int K, uint8_t *qs, float *sw,
                           float *mw) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int half = 0; half < 2; half++) {
        const int nr = nrows - 8 * half < 0 ? 0 : nrows - 8 * half > 8 ? 8 : nrows - 8 * half;
        const char *rows = (const char *)w + (size_t)(8 * half) * bw;
        for (int i = 0; i < K / LF_QK_K; i++) {
            const char *base = rows + (size_t)i * sizeof(lf_block_q4_K);
            uint8_t *o = qs + (size_t)i * 64 * 64 + (size_t)half * 32;
            for (int p = 0; p < 4; p++) {
                __m256i v[8];
                load_t8(base + 16 + 32 * p, bw, nr, v);
                for (int t = 0; t < 8; t++) {
                    _mm256_storeu_si256((__m256i *)(o + (16 * p + t) * 64), _mm256_and_si256(v[t], m4));
                    _mm256_storeu_si256((__m256i *)(o + (16 * p + 8 + t) * 64),
                                        _mm256_and_si256(_mm256_srli_epi16(v[t], 4), m4));
                }
            }
            for (int r = 0; r < 8; r++) {
                const lf_block_q4_K *b = (const lf_block_q4_K *)(base + (size_t)r * bw);
                const float d = r < nr ? _cvtsh_ss(b->d) : 0, dmin = r < nr ? _cvtsh_ss(b->dmin) : 0;
                for (int j = 0; j < 8; j++) {
                    int sc = 0, mn = 0;
                    if (r < nr)
                        lf_k4_scale_min(b->scales, j, &sc, &mn);
                    sw[(8 * i + j) * 16 + 8 * half + r] = d * (float)sc;
                    mw[(8 * i + j) * 16 + 8 * half + r] = r < nr ? -dmin * (float)mn : 0;
                }
            }
        }
    }
}

/* Q6_K: for each half h of the block, ql[64h..+32], ql[64h+32..+32] and
 * qh[32h..+32] give sub-blocks k = 0..3 of the 4·8 panel groups. */
static void pack_q6_K_avx2(const void *w, size_t bw, int nrows, int K, uint8_t *qs, float *sw,
                           float *mw) {
    (void)mw;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    for (int half = 0; half < 2; half++) {
        const int nr = nrows - 8 * half < 0 ? 0 : nrows - 8 * half > 8 ? 8 : nrows - 8 * half;
        const char *rows = (const char *)w + (size_t)(8 * half) * bw;
        for (int i = 0; i < K / LF_QK_K; i++) {
            const char *base = rows + (size_t)i * sizeof(lf_block_q6_K);
            uint8_t *o = qs + (size_t)i * 64 * 64 + (size_t)half * 32;
            for (int h = 0; h < 2; h++) {
                __m256i l0[8], l1[8], hb[8];
                load_t8(base + 64 * h, bw, nr, l0);
                load_t8(base + 64 * h + 32, bw, nr, l1);
                load_t8(base + 128 + 32 * h, bw, nr, hb);
                for (int t = 0; t < 8; t++) {
#define HI2(sh) _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb[t], sh), m2), 4)
                    uint8_t *g = o + (32 * h + t) * 64;
                    _mm256_storeu_si256((__m256i *)g, _mm256_or_si256(_mm256_and_si256(l0[t], m4), HI2(0)));
                    _mm256_storeu_si256((__m256i *)(g + 8 * 64),
                                        _mm256_or_si256(_mm256_and_si256(l1[t], m4), HI2(2)));
                    _mm256_storeu_si256((__m256i *)(g + 16 * 64),
                                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0[t], 4), m4), HI2(4)));
                    _mm256_storeu_si256((__m256i *)(g + 24 * 64),
                                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1[t], 4), m4), HI2(6)));
#undef HI2
                }
            }
            for (int r = 0; r < 8; r++) {
                const lf_block_q6_K *b = (const lf_block_q6_K *)(base + (size_t)r * bw);
                const float d = r < nr ? _cvtsh_ss(b->d) : 0;
                for (int s = 0; s < 16; s++)
                    sw[(16 * i + s) * 16 + 8 * half + r] = r < nr ? d * (float)b->scales[s] : 0;
            }
        }
    }
}

/* ---- packed float GEMM -----------------------------------------------------
 * 16 rows × 6 columns (12 accumulators, two weight vectors and six
 * broadcasts per k) is the one shape that reaches the FMA peak with 16
 * registers: on Zen 5 it ran at 0.99 of two FMAs per cycle from L1, where
 * 16 × 4 (exactly the 8 chains two FMA units of latency 4 need) lost up to
 * a third of it to every stall, and the 16 × 6 + 16 × 2 split of an
 * 8-column block (even and odd k apart in the 16 × 2) ran at 0.90. So the
 * tile takes its columns 6 at a time anywhere in the prepared activations
 * (lf_gemm_f_cols_fn), across their 8-column blocks; only the prompt's
 * last tile is narrower (4 or 2 columns). */
INLINE void fstore(float *y, size_t ldy, int nrows, int ncols, int c, __m256 lo, __m256 hi) {
    if (c >= ncols)
        return;
    float *yc = y + (size_t)c * ldy;
    const __m256 v[2] = {lo, hi};
    for (int h = 0; h < 2; h++) {
        const int nr = nrows - 8 * h;
        if (nr >= 8)
            _mm256_storeu_ps(yc + 8 * h, v[h]);
        else if (nr > 0)
            _mm256_maskstore_ps(yc + 8 * h, gt_row_mask(nr), v[h]);
    }
}

/* Rows [8·h, 8·h + 8) of column c of y, or zeros (past nrows or ncols). */
INLINE __m256 fload(const float *y, size_t ldy, int nrows, int ncols, int c, int h) {
    const int nr = nrows - 8 * h;
    if (c >= ncols || nr <= 0)
        return _mm256_setzero_ps();
    const float *p = y + (size_t)c * ldy + 8 * h;
    return nr >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, gt_row_mask(nr));
}

/* 16 rows × NC columns (NC 2, 4 or 6), column c reading its value for k at
 * a[c][k · LF_GEMM_COLS]; stores columns c < ncols of y. add: start from
 * y. */
INLINE void ftile_ptrs(int K, const float *panel, const float *const *a, float *y, size_t ldy,
                       int nrows, int ncols, const int NC, bool add) {
    __m256 acc[2][6];
    UNROLL for (int c = 0; c < NC; c++)
        UNROLL for (int h = 0; h < 2; h++)
            acc[h][c] = add ? fload(y, ldy, nrows, ncols, c, h) : _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        const __m256 w0 = _mm256_loadu_ps(panel + (size_t)k * LF_GEMM_ROWS);
        const __m256 w1 = _mm256_loadu_ps(panel + (size_t)k * LF_GEMM_ROWS + 8);
        UNROLL for (int c = 0; c < NC; c++) {
            const __m256 b = _mm256_broadcast_ss(a[c] + (size_t)k * LF_GEMM_COLS);
            acc[0][c] = _mm256_fmadd_ps(w0, b, acc[0][c]);
            acc[1][c] = _mm256_fmadd_ps(w1, b, acc[1][c]);
        }
    }
    UNROLL for (int c = 0; c < NC; c++)
        fstore(y, ldy, nrows, ncols, c, acc[0][c], acc[1][c]);
}

/* ncols ≤ 6 columns of one panel (16 rows, nrows of them stored) into y:
 * the narrowest of 2, 4 or 6 that holds them, the columns past ncols
 * reading column 0 and not stored. */
INLINE void fcols_panel(int K, const float *panel, const float *const *cols, int ncols, float *y,
                        size_t ldy, int nrows, bool add) {
    const float *a[6];
    for (int c = 0; c < 6; c++)
        a[c] = cols[c < ncols ? c : 0];
    if (ncols > 4)
        ftile_ptrs(K, panel, a, y, ldy, nrows, ncols, 6, add);
    else if (ncols > 2)
        ftile_ptrs(K, panel, a, y, ldy, nrows, ncols, 4, add);
    else
        ftile_ptrs(K, panel, a, y, ldy, nrows, ncols, 2, add);
}

/* A column's sum runs over k in order whatever its place in the tile, so
 * a result does not depend on how the columns were grouped; two panels
 * go one after the other (two more weight vectors would leave no register
 * for the sums). */
static void gemm_f_cols_avx2(int K, const float *p0, const float *p1, const float *const *cols,
                             int ncols, float *y, size_t ldy, int nrows, bool add) {
    fcols_panel(K, p0, cols, ncols, y, ldy, p1 ? LF_GEMM_ROWS : nrows, add);
    if (p1)
        fcols_panel(K, p1, cols, ncols, y + LF_GEMM_ROWS, ldy, nrows, add);
}

/* Float panels: 8 k of 8 rows converted row-wise, then an 8×8 transpose
 * gives [k][8 rows]; the tail of K past a multiple of 8 element by
 * element. kind: 0 f32, 1 f16, 2 bf16. */
INLINE __m256 row8(const char *p, const int kind) {
    if (kind == 0)
        return _mm256_loadu_ps((const float *)p);
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (kind == 1)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* One element at p, as row8 converts it (the tails past a multiple of 8). */
INLINE float elem1(const char *p, const int kind) {
    float f;
    uint16_t h;
    if (kind == 0) {
        memcpy(&f, p, 4);
        return f;
    }
    memcpy(&h, p, 2);
    return kind == 1 ? _cvtsh_ss(h) : lf_bf16_to_float(h);
}

/* Byte offset of element k of row r (of 8) from the first of the 8 rows:
 * stored, or F16 interleaved. */
INLINE size_t fpack_at(size_t bw, int r, int k, size_t es, const bool il) {
    return il ? lf_il_f16_at(bw, r, k) : (size_t)r * bw + (size_t)k * es;
}

/* Rows are read from memory once per product, 8 or 16 streams at a time:
 * without a software prefetch the packer waited on each line and read 7
 * GB/s on one Zen 5 core (plain streaming reads: 25); asking for the line
 * FPACK_AHEAD values ahead in every row made it 12 (256-512 best of
 * 128-1024). */
#define FPACK_AHEAD 512
INLINE void fpack_body(const void *w, size_t bw, int nrows, int K, float *panel, const int kind,
                       const bool il) {
    const size_t es = kind == 0 ? 4 : 2;
    for (int half = 0; half < 2; half++) {
        const int nr = nrows - 8 * half < 0 ? 0 : nrows - 8 * half > 8 ? 8 : nrows - 8 * half;
        const char *rows = (const char *)w + (size_t)(8 * half) * bw;
        int k = 0;
        for (; k + 8 <= K; k += 8) {
            __m256i v[8];
            if ((k * es) % 64 == 0)   /* a new line of every row: ask for one ahead */
                for (int r = 0; r < nr; r++)
                    _mm_prefetch(rows + fpack_at(bw, r, k + FPACK_AHEAD, es, il), _MM_HINT_T0);
            for (int r = 0; r < 8; r++)
                v[r] = r < nr ? _mm256_castps_si256(row8(rows + fpack_at(bw, r, k, es, il), kind))
                              : _mm256_setzero_si256();
            transpose8x8_epi32(v);
            for (int j = 0; j < 8; j++)
                _mm256_storeu_si256((__m256i *)(panel + (size_t)(k + j) * LF_GEMM_ROWS + 8 * half), v[j]);
        }
        for (; k < K; k++)
            for (int r = 0; r < 8; r++)
                panel[(size_t)k * LF_GEMM_ROWS + 8 * half + r] =
                    r < nr ? elem1(rows + fpack_at(bw, r, k, es, il), kind) : 0;
    }
}

static void fpack_f32(const void *w, size_t bw, int nrows, int K, float *panel) {
    fpack_body(w, bw, nrows, K, panel, 0, false);
}
static void fpack_f16(const void *w, size_t bw, int nrows, int K, float *panel) {
    fpack_body(w, bw, nrows, K, panel, 1, false);
}
static void fpack_bf16(const void *w, size_t bw, int nrows, int K, float *panel) {
    fpack_body(w, bw, nrows, K, panel, 2, false);
}
/* Interleaved F16 (K a multiple of 32, nrows of 4, so no tails): saves
 * putting the rows back in the stored layout first, a copy that cost
 * about as much as the packing itself (TinyLlama F16 pp128 profile). */
static void fpack_f16_il(const void *w, size_t bw, int nrows, int K, float *panel) {
    fpack_body(w, bw, nrows, K, panel, 1, true);
}

/* Float activation slices: 8 k of each of the 8 columns converted
 * row-wise, an 8×8 transpose gives [8 k][8 columns]; missing columns are
 * zero vectors, the tail past a multiple of 8 goes element by element.
 * Conversions are exact, so the bytes equal lf_gemm_f_prep_slice's. */
INLINE void fprep_body(const char *src, size_t stride, int ncols, int kl, float *dst,
                       const int kind) {
    const size_t es = kind == 0 ? 4 : 2;
    int k = 0;
    for (; k + 8 <= kl; k += 8) {
        __m256i v[8];
        for (int c = 0; c < 8; c++)
            v[c] = c < ncols ? _mm256_castps_si256(row8(src + (size_t)c * stride + (size_t)k * es, kind))
                             : _mm256_setzero_si256();
        transpose8x8_epi32(v);
        for (int j = 0; j < 8; j++)
            _mm256_storeu_si256((__m256i *)(dst + (size_t)(k + j) * LF_GEMM_COLS), v[j]);
    }
    for (; k < kl; k++)
        for (int c = 0; c < LF_GEMM_COLS; c++)
            dst[(size_t)k * LF_GEMM_COLS + (size_t)c] =
                c < ncols ? elem1(src + (size_t)c * stride + (size_t)k * es, kind) : 0;
}

void lf_gemm_f_prep_avx2(lf_type vt, const void *src, size_t stride, int ncols, int kl,
                         float *dst) {
    if (vt == LF_TYPE_F16)
        fprep_body(src, stride, ncols, kl, dst, 1);
    else if (vt == LF_TYPE_BF16)
        fprep_body(src, stride, ncols, kl, dst, 2);
    else
        fprep_body(src, stride, ncols, kl, dst, 0);
}

/* ---- the set ---------------------------------------------------------------- */

void lf_kernels_fill_gemm_avx2(lf_kernel_set *ks, bool avxvnni) {
    ks->gemm_tile = avxvnni ? lf_gemm_tile_avxvnni : gemm_tile_avx2;
    ks->gemm_u_max = 255;
    ks->gemm_prep_block = lf_gemm_prep_block_avx2;
    ks->gemm_pack[LF_TYPE_Q4_0] = pack_q4_0_avx2;
    ks->gemm_pack[LF_TYPE_Q8_0] = pack_q8_0_avx2;
    ks->gemm_pack[LF_TYPE_Q5_0] = pack_q5_0_avx2;
    ks->gemm_pack[LF_TYPE_Q4_K] = pack_q4_K_avx2;
    ks->gemm_pack[LF_TYPE_Q6_K] = pack_q6_K_avx2;
    ks->gemm_f_cols = gemm_f_cols_avx2;
    ks->gemm_f_cols_n = 6;
    lf_kernels_fill_gemm_f_prep_avx2(ks);
}

void lf_kernels_fill_gemm_f_prep_avx2(lf_kernel_set *ks) {
    ks->gemm_f_pack[LF_TYPE_F32] = fpack_f32;
    ks->gemm_f_pack[LF_TYPE_F16] = fpack_f16;
    ks->gemm_f_pack[LF_TYPE_BF16] = fpack_bf16;
    ks->gemm_f_pack_il[LF_TYPE_F16] = fpack_f16_il;
    ks->gemm_f_prep = lf_gemm_f_prep_avx2;
}
