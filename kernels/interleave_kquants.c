/*
 * Interleaved layouts of the K-quants Q4_K, Q5_K and Q6_K for the decoding
 * matrix-vector kernels (kernels/arch/x86/mv_il_kquants_avx512.c), with the
 * portable conversions from the GGML block format and back.
 *
 * A group is LF_IL_ROWS = 4 consecutive rows of nb = cols / 256 super-blocks
 * each. Every layout is a bijective rearrangement of the same bits into the
 * same number of bytes (4 * row_bytes), so a matrix can be rewritten in
 * place group by group and restored bit for bit. The kernels hold the four
 * rows side by side in the four 128-bit lanes of a 512-bit vector (lane r =
 * row r), so the bytes are ordered such that:
 *   - every 64-byte vector of quants covers the same elements in all four
 *     rows (16 bytes per row), one scale each, and meets the activations as
 *     a single 16-byte broadcast: no per-row shuffles of unaligned fields;
 *   - the scales (and mins) of the four rows of a super-block arrive in one
 *     64-byte vector, already in a form one in-lane byte shuffle turns into
 *     the per-lane scale words the dot steps need;
 *   - relative to the start of the group, every 64-byte vector is 64-byte
 *     aligned (so are the matrix and the groups when nb is suitable).
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

/* ---- per-row decoded super-blocks --------------------------------------- */

/* One super-block of one row with every field unpacked (q: quants with all
 * bits, 0..15 / 0..31 / 0..63). */
typedef struct {
    lf_half d, dmin;
    uint8_t sc[8], mn[8];   /* Q4_K/Q5_K */
    int8_t s6[16];          /* Q6_K */
    uint8_t q[LF_QK_K];
} kq_unpacked;

/* GGML's 12-byte scale field of Q4_K/Q5_K, packed from 8 scales and 8
 * mins (the inverse of lf_k4_scale_min). */
static void k4_pack_scales(uint8_t s[12], const uint8_t sc[8], const uint8_t mn[8]) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)((mn[j] & 63) | (mn[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
    }
}

static void k45_unpack(kq_unpacked *u, const void *blk, bool five) {
    const lf_block_q4_K *b4 = blk;
    const lf_block_q5_K *b5 = blk;
    const uint8_t *scales = five ? b5->scales : b4->scales;
    const uint8_t *qs = five ? b5->qs : b4->qs;
    u->d = five ? b5->d : b4->d;
    u->dmin = five ? b5->dmin : b4->dmin;
    for (int j = 0; j < 8; j++) {
        int sc, mn;
        lf_k4_scale_min(scales, j, &sc, &mn);
        u->sc[j] = (uint8_t)sc;
        u->mn[j] = (uint8_t)mn;
    }
    for (int e = 0; e < LF_QK_K; e++) {
        int sub = e / 32, l = e % 32;
        uint8_t byte = qs[32 * (sub / 2) + l];
        int q = sub % 2 ? byte >> 4 : byte & 0x0F;
        if (five)
            q |= ((b5->qh[l] >> sub) & 1) << 4;
        u->q[e] = (uint8_t)q;
    }
}

static void k45_pack(void *blk, const kq_unpacked *u, bool five) {
    lf_block_q4_K *b4 = blk;
    lf_block_q5_K *b5 = blk;
    uint8_t *scales = five ? b5->scales : b4->scales;
    uint8_t *qs = five ? b5->qs : b4->qs;
    if (five) {
        b5->d = u->d;
        b5->dmin = u->dmin;
        memset(b5->qh, 0, sizeof b5->qh);
    } else {
        b4->d = u->d;
        b4->dmin = u->dmin;
    }
    k4_pack_scales(scales, u->sc, u->mn);
    memset(qs, 0, LF_QK_K / 2);
    for (int e = 0; e < LF_QK_K; e++) {
        int sub = e / 32, l = e % 32;
        qs[32 * (sub / 2) + l] |= (uint8_t)((u->q[e] & 15) << (sub % 2 ? 4 : 0));
        if (five)
            b5->qh[l] |= (uint8_t)(((u->q[e] >> 4) & 1) << sub);
    }
}

static void k6_unpack(kq_unpacked *u, const lf_block_q6_K *b) {
    u->d = b->d;
    memcpy(u->s6, b->scales, 16);
    for (int e = 0; e < LF_QK_K; e++) {
        int h = e / 128, k = (e % 128) / 32, l = e % 32;
        uint8_t lb = b->ql[64 * h + l + 32 * (k % 2)];
        int q = (k < 2 ? lb & 0x0F : lb >> 4) | ((b->qh[32 * h + l] >> (2 * k)) & 3) << 4;
        u->q[e] = (uint8_t)q;
    }
}

static void k6_pack(lf_block_q6_K *b, const kq_unpacked *u) {
    b->d = u->d;
    memcpy(b->scales, u->s6, 16);
    memset(b->ql, 0, sizeof b->ql);
    memset(b->qh, 0, sizeof b->qh);
    for (int e = 0; e < LF_QK_K; e++) {
        int h = e / 128, k = (e % 128) / 32, l = e % 32;
        b->ql[64 * h + l + 32 * (k % 2)] |= (uint8_t)((u->q[e] & 15) << (k < 2 ? 0 : 4));
        b->qh[32 * h + l] |= (uint8_t)((u->q[e] >> 4) << (2 * k));
    }
}

/* ---- the interleaved super-blocks of a group ------------------------------ */

/* Q4_K part (576 bytes) of the 4 rows' super-blocks u[0..3] at p, and back. */
static void il45_write(uint8_t *p, const kq_unpacked u[LF_IL_ROWS], bool five) {
    for (int r = 0; r < LF_IL_ROWS; r++) {
        uint8_t *h = p + 16 * r;
        memcpy(h, &u[r].d, 2);
        memcpy(h + 2, &u[r].dmin, 2);
        for (int j = 0; j < 8; j++)
            h[4 + j] = (uint8_t)(u[r].sc[j] | (u[r].mn[j] >> 4) << 6);
        for (int k = 0; k < 4; k++)
            h[12 + k] = (uint8_t)((u[r].mn[2 * k] & 15) | (u[r].mn[2 * k + 1] & 15) << 4);
        for (int j = 0; j < 8; j++) {
            uint8_t *qv = p + 64 + 64 * j + 16 * r;
            for (int i = 0; i < 16; i++)
                qv[i] = (uint8_t)((u[r].q[32 * j + i] & 15) | (u[r].q[32 * j + 16 + i] & 15) << 4);
        }
    }
    if (!five)
        return;
    for (int j = 0; j < 8; j++) {
        uint64_t mlo = 0, mhi = 0;
        for (int r = 0; r < LF_IL_ROWS; r++)
            for (int i = 0; i < 16; i++) {
                mlo |= (uint64_t)((u[r].q[32 * j + i] >> 4) & 1) << (16 * r + i);
                mhi |= (uint64_t)((u[r].q[32 * j + 16 + i] >> 4) & 1) << (16 * r + i);
            }
        for (int m = 0; m < 8; m++) {
            p[576 + 16 * j + m] = (uint8_t)(mlo >> (8 * m));
            p[576 + 16 * j + 8 + m] = (uint8_t)(mhi >> (8 * m));
        }
    }
}

static void il45_read(kq_unpacked u[LF_IL_ROWS], const uint8_t *p, bool five) {
    for (int r = 0; r < LF_IL_ROWS; r++) {
        const uint8_t *h = p + 16 * r;
        memcpy(&u[r].d, h, 2);
        memcpy(&u[r].dmin, h + 2, 2);
        for (int j = 0; j < 8; j++) {
            u[r].sc[j] = h[4 + j] & 63;
            u[r].mn[j] = (uint8_t)((h[4 + j] >> 6) << 4 | ((h[12 + j / 2] >> (4 * (j % 2))) & 15));
        }
        for (int j = 0; j < 8; j++) {
            const uint8_t *qv = p + 64 + 64 * j + 16 * r;
            for (int i = 0; i < 16; i++) {
                u[r].q[32 * j + i] = qv[i] & 15;
                u[r].q[32 * j + 16 + i] = qv[i] >> 4;
            }
        }
        if (!five)
            continue;
        for (int j = 0; j < 8; j++)
            for (int i = 0; i < 16; i++) {
                int bit = 16 * r + i;
                const uint8_t *m = p + 576 + 16 * j;
                u[r].q[32 * j + i] |= (uint8_t)(((m[bit / 8] >> (bit % 8)) & 1) << 4);
                u[r].q[32 * j + 16 + i] |= (uint8_t)(((m[8 + bit / 8] >> (bit % 8)) & 1) << 4);
            }
    }
}

/* Q6_K part (832 bytes) at p plus the 4 scales d at dp (8 bytes). */
static void il6_write(uint8_t *p, uint8_t *dp, const kq_unpacked u[LF_IL_ROWS]) {
    for (int r = 0; r < LF_IL_ROWS; r++) {
        memcpy(dp + 2 * r, &u[r].d, 2);
        for (int g = 0; g < 8; g++) {
            p[8 * r + g] = (uint8_t)u[r].s6[g];
            p[32 + 8 * r + g] = (uint8_t)u[r].s6[8 + g];
        }
        for (int t = 0; t < 4; t++)
            for (int k = 0; k < 3; k++) {
                uint8_t *v = p + 64 + 192 * t + 64 * k + 16 * r;
                for (int i = 0; i < 16; i++) {
                    int spread = u[r].q[16 * (4 * t + 3) + i];
                    v[i] = (uint8_t)(u[r].q[16 * (4 * t + k) + i] | ((spread >> (2 * k)) & 3) << 6);
                }
            }
    }
}

static void il6_read(kq_unpacked u[LF_IL_ROWS], const uint8_t *p, const uint8_t *dp) {
    for (int r = 0; r < LF_IL_ROWS; r++) {
        memcpy(&u[r].d, dp + 2 * r, 2);
        for (int g = 0; g < 8; g++) {
            u[r].s6[g] = (int8_t)p[8 * r + g];
            u[r].s6[8 + g] = (int8_t)p[32 + 8 * r + g];
        }
        for (int t = 0; t < 4; t++) {
            for (int i = 0; i < 16; i++)
                u[r].q[16 * (4 * t + 3) + i] = 0;
            for (int k = 0; k < 3; k++) {
                const uint8_t *v = p + 64 + 192 * t + 64 * k + 16 * r;
                for (int i = 0; i < 16; i++) {
                    u[r].q[16 * (4 * t + k) + i] = v[i] & 63;
                    u[r].q[16 * (4 * t + 3) + i] |= (uint8_t)((v[i] >> 6) << (2 * k));
                }
            }
        }
    }
}

/* ---- the lf_il_fn entries -------------------------------------------------- */

static void il_q45(void *dst, const void *src, size_t row_bytes, int64_t cols, bool five) {
    const size_t bs = five ? sizeof(lf_block_q5_K) : sizeof(lf_block_q4_K);
    const int64_t nb = cols / LF_QK_K;
    kq_unpacked u[LF_IL_ROWS];
    for (int64_t b = 0; b < nb; b++) {
        for (int r = 0; r < LF_IL_ROWS; r++)
            k45_unpack(&u[r], (const uint8_t *)src + r * row_bytes + (size_t)b * bs, five);
        il45_write((uint8_t *)dst + (size_t)b * LF_IL_ROWS * bs, u, five);
    }
}

static void deil_q45(void *dst, const void *src, size_t row_bytes, int64_t cols, bool five) {
    const size_t bs = five ? sizeof(lf_block_q5_K) : sizeof(lf_block_q4_K);
    const int64_t nb = cols / LF_QK_K;
    kq_unpacked u[LF_IL_ROWS];
    for (int64_t b = 0; b < nb; b++) {
        il45_read(u, (const uint8_t *)src + (size_t)b * LF_IL_ROWS * bs, five);
        for (int r = 0; r < LF_IL_ROWS; r++)
            k45_pack((uint8_t *)dst + r * row_bytes + (size_t)b * bs, &u[r], five);
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
    kq_unpacked u[LF_IL_ROWS];
    for (int64_t b = 0; b < nb; b++) {
        for (int r = 0; r < LF_IL_ROWS; r++)
            k6_unpack(&u[r], (const lf_block_q6_K *)((const uint8_t *)src + r * row_bytes) + b);
        il6_write((uint8_t *)dst + (size_t)b * 832, dbase + (size_t)b * 8, u);
    }
}

static void deil_q6_K(void *dst, const void *src, size_t row_bytes, int64_t cols) {
    const int64_t nb = cols / LF_QK_K;
    const uint8_t *dbase = (const uint8_t *)src + (size_t)nb * 832;
    kq_unpacked u[LF_IL_ROWS];
    for (int64_t b = 0; b < nb; b++) {
        il6_read(u, (const uint8_t *)src + (size_t)b * 832, dbase + (size_t)b * 8);
        for (int r = 0; r < LF_IL_ROWS; r++)
            k6_pack((lf_block_q6_K *)((uint8_t *)dst + r * row_bytes) + b, &u[r]);
    }
}

/* The kernels read the Q8_K row as it is (no prep_act). */
static_assert(LF_IL_ROWS == 4, "the K-quant layouts hold one row per 128-bit lane");
static_assert(LF_IL_ROWS * sizeof(lf_block_q6_K) == 832 + 8, "q6_K group super-block");

const lf_il_desc lf_il_q4_K = {.interleave = il_q4_K, .deinterleave = deil_q4_K};
const lf_il_desc lf_il_q5_K = {.interleave = il_q5_K, .deinterleave = deil_q5_K};
const lf_il_desc lf_il_q6_K = {.interleave = il_q6_K, .deinterleave = deil_q6_K};
