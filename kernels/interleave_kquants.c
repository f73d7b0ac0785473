/*
 * Interleaved layouts of the K-quants Q4_K, Q5_K and Q6_K for the decoding
 * matrix-vector kernels (kernels/arch/x86/mv_il_kquants_avx512.c,
 * mv_il_avx2.h and kernels/arch/arm/mv_il_kquants_neon.h), with the
 * portable conversions from the GGML block format and back.
 *
 * A group is LF_IL_ROWS = 4 consecutive rows of nb = cols / 256 super-blocks
 * each. Every layout is a bijective rearrangement of the same bits into the
 * same number of bytes (4 * row_bytes), so a matrix can be rewritten in
 * place group by group and restored bit for bit. The AVX-512 kernels hold
 * the four rows side by side in the four 128-bit lanes of a 512-bit vector
 * (lane r = row r), so the bytes are ordered such that:
 *   - every 64-byte vector of quants covers the same elements in all four
 *     rows (16 bytes per row), one scale each, and meets the activations as
 *     a single 16-byte broadcast: no per-row shuffles of unaligned fields;
 *   - the scales (and mins) of the four rows of a super-block arrive in one
 *     64-byte vector, already in a form one in-lane byte shuffle turns into
 *     the per-lane scale words the dot steps need;
 *   - relative to the start of the group, every 64-byte vector is 64-byte
 *     aligned (so are the matrix and the groups when nb is suitable).
 * The geometry is not tied to 512-bit vectors: a 64-byte unit is 16 bytes
 * per row, so AVX2 (kernels/arch/x86/mv_il_avx2.h) reads each unit as two
 * 256-bit halves holding rows 0-1 and 2-3, one per 128-bit lane, with the
 * same in-lane shuffles, and a 128-bit ISA (NEON) reads one row per
 * vector.
 *
 * Notation: q(r, e) is the quant of element e (0..255) of row r in the
 * current super-block, as the GGML block defines it (Q4_K: 0..15, Q5_K:
 * 0..31, Q6_K: 0..63 before its -32 offset); sc(r, j) / mn(r, j) the 6-bit
 * scale / min of sub-block j (elements 32j..32j+31) of Q4_K/Q5_K; s6(r, g)
 * the int8 scale of Q6_K group g (elements 16g..16g+15). Multi-byte fields
 * are little-endian.
 *
 * ---- Q4_K: 576 bytes per super-block of the group, super-blocks in order --
 *   [0, 64)    header H: 16 bytes per row, row r at 16r:
 *                +0  d    (fp16, as stored)
 *                +2  dmin (fp16, as stored)
 *                +4+j (j < 8): sc(r, j) | (mn(r, j) >> 4) << 6
 *                +12+k (k < 4): (mn(r, 2k) & 15) | (mn(r, 2k+1) & 15) << 4
 *   [64 + 64j, 128 + 64j) for sub-block j < 8: 16 bytes per row, row r at
 *                +16r; byte i (i < 16) holds q(r, 32j + i) in its low
 *                nibble and q(r, 32j + 16 + i) in its high nibble.
 *
 * ---- Q5_K: 704 bytes per super-block of the group -----------------------
 *   [0, 576)   as Q4_K, with the low four bits of each quant.
 *   [576 + 16j, 592 + 16j) for sub-block j < 8: two 64-bit masks of the
 *                fifth bits: bit 16r + i of the first is bit 4 of
 *                q(r, 32j + i), of the second bit 4 of q(r, 32j + 16 + i)
 *                (i < 16), i.e. lane-for-lane the nibbles they complete.
 *
 * ---- Q6_K: 832 bytes per super-block of the group, then the scales d -----
 *   [0, 64)    S: bytes 8r + g (g < 8) = s6(r, g); bytes 32 + 8r + g =
 *                s6(r, 8 + g) (sign-extending each 32-byte half to words
 *                puts row r's scales in lane r).
 *   [64 + 192t + 64k, 128 + 192t + 64k) for t < 4, k < 3: 16 bytes per row,
 *                row r at +16r; byte i holds q(r, 16(4t + k) + i) in bits
 *                0-5 and bits 2k, 2k+1 of q(r, 16(4t + 3) + i) in bits 6-7.
 *                So three vectors carry four groups (4t .. 4t+3): three as
 *                "& 63" and the fourth gathered from the top bits.
 *   After the nb super-blocks (at 832 * nb): 8 bytes per super-block, the
 *                d (fp16) of rows 0..3, so that the 832-byte parts keep
 *                64-byte alignment.
 */
#include "kernels/internal.h"

#include <string.h>

/* ---- word helpers ---------------------------------------------------------
 *
 * The conversions run for every weight panel of a prompt-sized matrix
 * product (deinterleave) and once per matrix at load (interleave), so they
 * work on whole words and on fixed-size byte loops GCC vectorizes, never
 * element by element. Loads and stores go through memcpy (no alignment or
 * aliasing assumptions). */

static inline uint32_t ld32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline void st32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline uint64_t ld64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline void st64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* The byte order of the words: the masks below act byte by byte, so they
 * only need a little-endian word to see byte k at bits 8k..8k+7. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "interleave_kquants.c assumes a little-endian target"
#endif

/* Two nibble pairs (bytes b0 = n0 | n1 << 4, b1 = n2 | n3 << 4 of u) spread
 * to four bytes n0..n3, and back. */
static inline uint32_t nib_spread(uint32_t u) {
    uint32_t x = (u & 0xFFu) | (u & 0xFF00u) << 8;
    return (x | x << 4) & 0x0F0F0F0Fu;
}
static inline uint32_t nib_gather(uint32_t y) {
    uint32_t z = y | y >> 4;   /* y: four bytes of 0..15 */
    return (z & 0xFFu) | (z >> 8 & 0xFF00u);
}

/* ---- Q4_K / Q5_K ------------------------------------------------------------
 *
 * Scales. GGML's 12 bytes (s0 = bytes 0..3, s1 = 4..7, s2 = 8..11 as words,
 * j < 4 per byte) hold
 *   s0[j] = sc[j] | (sc[j+4] >> 4) << 6     s1[j] = mn[j] | (mn[j+4] >> 4) << 6
 *   s2[j] = (sc[j+4] & 15) | (mn[j+4] & 15) << 4
 * and the header a = h[4..7], b = h[8..11] (sc | (mn >> 4) << 6 of j and
 * j + 4), nibbles n = h[12..15] (mn & 15, two per byte). Each field is a
 * few byte-parallel masks and shifts of these words. */

static void k45_scales_from_header(uint8_t *restrict s, const uint8_t *restrict h) {
    uint32_t a = ld32(h + 4), b = ld32(h + 8);
    uint32_t nlo = nib_spread(ld32(h + 12) & 0xFFFFu);  /* mn[0..3] & 15 */
    uint32_t nhi = nib_spread(ld32(h + 12) >> 16);      /* mn[4..7] & 15 */
    st32(s, (a & 0x3F3F3F3Fu) | (b & 0x30303030u) << 2);
    st32(s + 4, (a & 0xC0C0C0C0u) >> 2 | nlo | (b & 0xC0C0C0C0u));
    st32(s + 8, (b & 0x0F0F0F0Fu) | nhi << 4);
}

static void k45_header_from_scales(uint8_t *restrict h, const uint8_t *restrict s) {
    uint32_t s0 = ld32(s), s1 = ld32(s + 4), s2 = ld32(s + 8);
    st32(h + 4, (s0 & 0x3F3F3F3Fu) | (s1 & 0x30303030u) << 2);
    st32(h + 8, (s2 & 0x0F0F0F0Fu) | (s0 & 0xC0C0C0C0u) >> 2 | (s1 & 0xC0C0C0C0u));
    uint32_t nlo = nib_gather(s1 & 0x0F0F0F0Fu), nhi = nib_gather(s2 >> 4 & 0x0F0F0F0Fu);
    st32(h + 12, nlo | nhi << 16);
}

/* Quants. GGML byte qs[32c + l] holds q(64c + l) low and q(64c + 32 + l)
 * high; the interleaved vectors A (sub-block 2c) and B (2c + 1) of a row
 * hold q(64c + i) | q(64c + 16 + i) << 4 and q(64c + 32 + i) |
 * q(64c + 48 + i) << 4 (i < 16): a nibble swap between two 16-byte halves. */

static void k4_qs_from_il(uint8_t *restrict qs, const uint8_t *restrict p, int r) {
    for (int c = 0; c < 4; c++) {
        const uint8_t *a = p + 64 + 128 * c + 16 * r, *b = a + 64;
        uint8_t *o = qs + 32 * c;
        for (int i = 0; i < 16; i++) {
            o[i] = (uint8_t)((a[i] & 0x0F) | b[i] << 4);
            o[16 + i] = (uint8_t)(a[i] >> 4 | (b[i] & 0xF0));
        }
    }
}

static void k4_il_from_qs(uint8_t *restrict p, const uint8_t *restrict qs, int r) {
    for (int c = 0; c < 4; c++) {
        uint8_t *a = p + 64 + 128 * c + 16 * r, *b = a + 64;
        const uint8_t *q = qs + 32 * c;
        for (int i = 0; i < 16; i++) {
            a[i] = (uint8_t)((q[i] & 0x0F) | q[16 + i] << 4);
            b[i] = (uint8_t)(q[i] >> 4 | (q[16 + i] & 0xF0));
        }
    }
}

/* Fifth bits. Byte qh[8k + i] (k < 4, i < 8) of row r has bit j = bit 4 of
 * q(r, 32j + 8k + i); in the interleaved masks (word m[j][0] = first mask,
 * m[j][1] = second mask of sub-block j) that bit is bit i of byte
 * 2r + k % 2 of m[j][k / 2]. So with w = the 8 words m[.][h] and bit
 * (word j, byte b, bit i), the GGML words are o[b] = the bits (j, b, i)
 * moved to (b, i, j): a transpose of each 8x8 bit block between words and
 * bits (j <-> i), then of the 8x8 byte matrix between words and bytes.
 * Both are three rounds of block swaps between word pairs, done on the two
 * halves h at once (and so in 128-bit vectors where there are some). The
 * inverse applies the two transposes in the opposite order. */

static inline void swap_blocks(uint64_t w[8][2], int d, int s, uint64_t mask) {
    for (int j = 0; j < 8; j++) {
        if (j & d)
            continue;
        for (int h = 0; h < 2; h++) {
            uint64_t t = ((w[j][h] >> s) ^ w[j + d][h]) & mask;
            w[j + d][h] ^= t;
            w[j][h] ^= t << s;
        }
    }
}

static inline void transpose_bits(uint64_t w[8][2]) {
    swap_blocks(w, 4, 4, 0x0F0F0F0F0F0F0F0Full);
    swap_blocks(w, 2, 2, 0x3333333333333333ull);
    swap_blocks(w, 1, 1, 0x5555555555555555ull);
}

static inline void transpose_bytes(uint64_t w[8][2]) {
    swap_blocks(w, 4, 32, 0x00000000FFFFFFFFull);
    swap_blocks(w, 2, 16, 0x0000FFFF0000FFFFull);
    swap_blocks(w, 1, 8, 0x00FF00FF00FF00FFull);
}

/* The qh of the four rows (row r at qh[r], 32 bytes) from the group's
 * 128 mask bytes m, and back. */
static void k5_qh_from_masks(uint8_t *const qh[LF_IL_ROWS], const uint8_t *m) {
    uint64_t w[8][2];
    memcpy(w, m, sizeof w);
    transpose_bits(w);
    transpose_bytes(w);
    for (int b = 0; b < 8; b++) {
        st64(qh[b / 2] + 8 * (b % 2), w[b][0]);
        st64(qh[b / 2] + 16 + 8 * (b % 2), w[b][1]);
    }
}

static void k5_masks_from_qh(uint8_t *m, const uint8_t *const qh[LF_IL_ROWS]) {
    uint64_t w[8][2];
    for (int b = 0; b < 8; b++) {
        w[b][0] = ld64(qh[b / 2] + 8 * (b % 2));
        w[b][1] = ld64(qh[b / 2] + 16 + 8 * (b % 2));
    }
    transpose_bytes(w);
    transpose_bits(w);
    memcpy(m, w, sizeof w);
}

/* ---- Q6_K -------------------------------------------------------------------
 *
 * Quants go through a 256-byte array of whole quants per row, built and
 * consumed by 16- and 32-byte loops. GGML: ql[64h + l] holds q(128h + l)
 * low and q(128h + 64 + l) high, ql[64h + 32 + l] q(128h + 32 + l) and
 * q(128h + 96 + l); qh[32h + l] bits 2m, 2m + 1 = bits 4, 5 of
 * q(128h + 32m + l) (h < 2, l < 32, m < 4). */

static void k6_q_from_il(uint8_t *restrict q, const uint8_t *restrict p, int r) {
    for (int t = 0; t < 4; t++) {
        const uint8_t *v0 = p + 64 + 192 * t + 16 * r, *v1 = v0 + 64, *v2 = v0 + 128;
        uint8_t *o = q + 64 * t;
        for (int i = 0; i < 16; i++) {
            o[i] = v0[i] & 63;
            o[16 + i] = v1[i] & 63;
            o[32 + i] = v2[i] & 63;
            o[48 + i] = (uint8_t)(v0[i] >> 6 | (v1[i] >> 6) << 2 | (v2[i] >> 6) << 4);
        }
    }
}

static void k6_il_from_q(uint8_t *restrict p, const uint8_t *restrict q, int r) {
    for (int t = 0; t < 4; t++) {
        uint8_t *v0 = p + 64 + 192 * t + 16 * r, *v1 = v0 + 64, *v2 = v0 + 128;
        const uint8_t *o = q + 64 * t;
        for (int i = 0; i < 16; i++) {
            v0[i] = (uint8_t)(o[i] | o[48 + i] << 6);
            v1[i] = (uint8_t)(o[16 + i] | (o[48 + i] >> 2) << 6);
            v2[i] = (uint8_t)(o[32 + i] | (o[48 + i] >> 4) << 6);
        }
    }
}

static void k6_pack_q(uint8_t *restrict qlo, uint8_t *restrict qhi, const uint8_t *restrict q) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *q0 = q + 128 * h, *q1 = q0 + 32, *q2 = q0 + 64, *q3 = q0 + 96;
        uint8_t *ql = qlo + 64 * h, *qh = qhi + 32 * h;
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((q0[l] & 15) | q2[l] << 4);
            ql[32 + l] = (uint8_t)((q1[l] & 15) | q3[l] << 4);
            qh[l] = (uint8_t)(q0[l] >> 4 | (q1[l] >> 4) << 2 | (q2[l] >> 4) << 4 | (q3[l] >> 4) << 6);
        }
    }
}

static void k6_unpack_q(uint8_t *restrict q, const lf_block_q6_K *restrict b) {
    for (int h = 0; h < 2; h++) {
        uint8_t *q0 = q + 128 * h, *q1 = q0 + 32, *q2 = q0 + 64, *q3 = q0 + 96;
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        for (int l = 0; l < 32; l++) {
            q0[l] = (uint8_t)((ql[l] & 15) | (qh[l] & 3) << 4);
            q1[l] = (uint8_t)((ql[32 + l] & 15) | (qh[l] & 12) << 2);
            q2[l] = (uint8_t)(ql[l] >> 4 | (qh[l] & 48));
            q3[l] = (uint8_t)(ql[32 + l] >> 4 | (qh[l] & 192) >> 2);
        }
    }
}

/* ---- the lf_il_fn entries -------------------------------------------------- */

static void il_q45(void *dst, const void *src, size_t row_bytes, int64_t cols, bool five) {
    const size_t bs = five ? sizeof(lf_block_q5_K) : sizeof(lf_block_q4_K);
    const int64_t nb = cols / LF_QK_K;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *p = (uint8_t *)dst + (size_t)b * LF_IL_ROWS * bs;
        const uint8_t *qh[LF_IL_ROWS];
        for (int r = 0; r < LF_IL_ROWS; r++) {
            const uint8_t *blk = (const uint8_t *)src + r * row_bytes + (size_t)b * bs;
            const lf_block_q4_K *b4 = (const lf_block_q4_K *)blk;
            const lf_block_q5_K *b5 = (const lf_block_q5_K *)blk;
            uint8_t *h = p + 16 * r;
            memcpy(h, blk, 4);   /* d, dmin: first in both blocks */
            k45_header_from_scales(h, five ? b5->scales : b4->scales);
            k4_il_from_qs(p, five ? b5->qs : b4->qs, r);
            qh[r] = b5->qh;
        }
        if (five)
            k5_masks_from_qh(p + 576, qh);
    }
}

static void deil_q45(void *dst, const void *src, size_t row_bytes, int64_t cols, bool five) {
    const size_t bs = five ? sizeof(lf_block_q5_K) : sizeof(lf_block_q4_K);
    const int64_t nb = cols / LF_QK_K;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = (const uint8_t *)src + (size_t)b * LF_IL_ROWS * bs;
        uint8_t *qh[LF_IL_ROWS];
        for (int r = 0; r < LF_IL_ROWS; r++) {
            uint8_t *blk = (uint8_t *)dst + r * row_bytes + (size_t)b * bs;
            lf_block_q4_K *b4 = (lf_block_q4_K *)blk;
            lf_block_q5_K *b5 = (lf_block_q5_K *)blk;
            const uint8_t *h = p + 16 * r;
            memcpy(blk, h, 4);
            k45_scales_from_header(five ? b5->scales : b4->scales, h);
            k4_qs_from_il(five ? b5->qs : b4->qs, p, r);
            qh[r] = b5->qh;
        }
        if (five)
            k5_qh_from_masks(qh, p + 576);
    }
}

static void il_q4_K(void *dst, const void *src, size_t row_bytes, int64_t cols) {
    il_q45(dst, src, row_bytes, cols, false);
}
static void deil_q4_K(void *dst, const void *src, size_t row_bytes, int64_t cols) {
    deil_q45(dst, src, row_bytes, cols, false);
}
static void il_q5_K(void *dst, const void *src, size_t row_bytes, int64_t cols) {
    il_q45(dst, src, row_bytes, cols, true);
}
static void deil_q5_K(void *dst, const void *src, size_t row_bytes, int64_t cols) {
    deil_q45(dst, src, row_bytes, cols, true);
}

static void il_q6_K(void *dst, const void *src, size_t row_bytes, int64_t cols) {
    const int64_t nb = cols / LF_QK_K;
    uint8_t *dbase = (uint8_t *)dst + (size_t)nb * 832;
    uint8_t q[LF_QK_K];
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *p = (uint8_t *)dst + (size_t)b * 832;
        for (int r = 0; r < LF_IL_ROWS; r++) {
            const lf_block_q6_K *blk = (const lf_block_q6_K *)((const uint8_t *)src + r * row_bytes) + b;
            memcpy(dbase + (size_t)b * 8 + 2 * r, &blk->d, 2);
            memcpy(p + 8 * r, blk->scales, 8);
            memcpy(p + 32 + 8 * r, blk->scales + 8, 8);
            k6_unpack_q(q, blk);
            k6_il_from_q(p, q, r);
        }
    }
}

static void deil_q6_K(void *dst, const void *src, size_t row_bytes, int64_t cols) {
    const int64_t nb = cols / LF_QK_K;
    const uint8_t *dbase = (const uint8_t *)src + (size_t)nb * 832;
    uint8_t q[LF_QK_K];
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = (const uint8_t *)src + (size_t)b * 832;
        for (int r = 0; r < LF_IL_ROWS; r++) {
            lf_block_q6_K *blk = (lf_block_q6_K *)((uint8_t *)dst + r * row_bytes) + b;
            memcpy(&blk->d, dbase + (size_t)b * 8 + 2 * r, 2);
            memcpy(blk->scales, p + 8 * r, 8);
            memcpy(blk->scales + 8, p + 32 + 8 * r, 8);
            k6_q_from_il(q, p, r);
            k6_pack_q(blk->ql, blk->qh, q);
        }
    }
}

/* The kernels read the Q8_K row as it is (no prep_act). */
static_assert(LF_IL_ROWS == 4, "the K-quant layouts hold one row per 128-bit lane");
static_assert(LF_IL_ROWS * sizeof(lf_block_q6_K) == 832 + 8, "q6_K group super-block");

const lf_il_desc lf_il_q4_K = {.interleave = il_q4_K, .deinterleave = deil_q4_K};
const lf_il_desc lf_il_q5_K = {.interleave = il_q5_K, .deinterleave = deil_q5_K};
const lf_il_desc lf_il_q6_K = {.interleave = il_q6_K, .deinterleave = deil_q6_K};
