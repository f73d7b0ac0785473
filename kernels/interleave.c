/*
 * Interleaved weight layouts for decoding, and the matrix-level operations
 * over them: rewriting a matrix in place (lf_mat_interleave), reading rows
 * back as stored (lf_mat_rows_stored) or as floats (lf_mat_rows_to_float).
 *
 * Why: a decode step reads every weight once, so its speed is how fast the
 * kernels can consume a stream. As stored, a 4-row kernel walks four
 * streams a row apart; for the short rows of 1-3B models (1-4 KiB) the
 * hardware prefetchers barely ramp up on each, and every block's fp16
 * scale sits at an offset no vector load lines up with, so each row pays
 * shuffles to gather scales and quants. Rewritten, a group of LF_IL_ROWS
 * rows is one sequential stream whose scales for all four rows come in one
 * load, and whose quants are whole vectors. The size does not change, so
 * the rewrite happens in place (4 rows through a small buffer) and costs no
 * memory beyond the model.
 *
 * Q4_0 and Q8_0 share one scheme ("d-first steps"): the blocks of the four
 * rows go in steps of S blocks per row (S = 4 for Q4_0, 2 for Q8_0, fewer
 * for the last step when the block count is not a multiple of S). A step
 * of k blocks is
 *     d[r * k + b]  (4·k fp16 scales, row-major: row r, block b)
 *     qs of row 0, blocks 0..k-1 (k · QS bytes), then rows 1, 2, 3
 * so with k = S one row's quants are one 64-byte vector (Q4_0: 4 × 16
 * bytes, Q8_0: 2 × 32) and the 16 (Q4_0) or 8 (Q8_0) scales one load.
 * The quant bytes themselves are as stored (Q4_0 element j in the low
 * nibble of byte j, element j + 16 in the high nibble). Q4_0's kernel also
 * reads its activations prepared (prep_act_q4_0).
 * F16 rows go in steps of 32 halves (f16_steps). The K-quant layouts live
 * in interleave_kquants.c.
 */
#include "kernels/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- d-first steps (Q4_0, Q8_0) ----------------------------------------- */

/* Blocks of bsize bytes: an fp16 scale then qbytes of quants. Always
 * inlined with constant sizes, so the copies compile to plain moves (this
 * runs for every weight panel of prompt processing). */
static inline __attribute__((always_inline)) void dfirst(void *dst, const void *src, size_t row_bytes,
                                                          int64_t cols, int bk, size_t bsize,
                                                          size_t qbytes, int step, bool back) {
    const int64_t nb = cols / bk;
    uint8_t *il = back ? (uint8_t *)src : dst;       /* interleaved side */
    uint8_t *st = back ? dst : (uint8_t *)src;       /* stored side */
    size_t off = 0;
    for (int64_t b0 = 0; b0 < nb; b0 += step) {
        const int k = (int)(nb - b0 < step ? nb - b0 : step);
        for (int r = 0; r < LF_IL_ROWS; r++)
            for (int b = 0; b < k; b++) {
                uint8_t *blk = st + (size_t)r * row_bytes + (size_t)(b0 + b) * bsize;
                uint8_t *d = il + off + (size_t)(r * k + b) * 2;
                uint8_t *q = il + off + (size_t)LF_IL_ROWS * k * 2 +
                             ((size_t)r * k + (size_t)b) * qbytes;
                if (back) {
                    memcpy(blk, d, 2);
                    memcpy(blk + 2, q, qbytes);
                } else {
                    memcpy(d, blk, 2);
                    memcpy(q, blk + 2, qbytes);
                }
            }
        off += (size_t)LF_IL_ROWS * k * bsize;
    }
}

static void il_q4_0(void *dst, const void *src, size_t rb, int64_t cols) {
    dfirst(dst, src, rb, cols, LF_QK4_0, sizeof(lf_block_q4_0), LF_QK4_0 / 2, 4, false);
}
static void de_q4_0(void *dst, const void *src, size_t rb, int64_t cols) {
    dfirst(dst, src, rb, cols, LF_QK4_0, sizeof(lf_block_q4_0), LF_QK4_0 / 2, 4, true);
}
static void il_q8_0(void *dst, const void *src, size_t rb, int64_t cols) {
    dfirst(dst, src, rb, cols, LF_QK8_0, sizeof(lf_block_q8_0), LF_QK8_0, 2, false);
}
static void de_q8_0(void *dst, const void *src, size_t rb, int64_t cols) {
    dfirst(dst, src, rb, cols, LF_QK8_0, sizeof(lf_block_q8_0), LF_QK8_0, 2, true);
}

/* Q4_0 activations as its kernel reads them, 256 bytes per step of 4
 * blocks (zeros for the blocks a last short step lacks):
 *   lo[64]    int8, bytes 16b..16b+15 = y_b.qs[0..15] (meet the low nibbles)
 *   hi[64]    int8, y_b.qs[16..31] (meet the high nibbles)
 *   corr[16]  int32, lane 4b + j = -8 · Σ_{i<4} (lo[16b+4j+i] + hi[16b+4j+i]):
 *             the -8 offset of the weights, where the kernel's sums start
 *   dy[16]    float, lane 4r + b = d of y_b (the same for every row r),
 *             to multiply the step's 16 weight scales d[r*4 + b] at once */
#define Q4_0_ACT_STEP 256
static size_t act_bytes_q4_0(int64_t cols) {
    return (size_t)((cols / LF_QK4_0 + 3) / 4) * Q4_0_ACT_STEP;
}
static void prep_act_q4_0(const void *act, void *out, int64_t cols) {
    const lf_block_q8_0 *y = act;
    const int64_t nb = cols / LF_QK4_0;
    uint8_t *o = out;
    memset(o, 0, act_bytes_q4_0(cols));
    for (int64_t b0 = 0; b0 < nb; b0 += 4, o += Q4_0_ACT_STEP) {
        int8_t *lo = (int8_t *)o, *hi = lo + 64;
        int32_t corr[16] = {0};
        float dy[16] = {0};
        for (int b = 0; b < 4 && b0 + b < nb; b++) {
            const lf_block_q8_0 *yb = &y[b0 + b];
            memcpy(lo + 16 * b, yb->qs, 16);
            memcpy(hi + 16 * b, yb->qs + 16, 16);
            for (int i = 0; i < 16; i++)
                corr[4 * b + i / 4] -= 8 * (yb->qs[i] + yb->qs[16 + i]);
            for (int r = 0; r < 4; r++)
                dy[4 * r + b] = lf_half_to_float(yb->d);
        }
        memcpy(o + 128, corr, sizeof corr);
        memcpy(o + 192, dy, sizeof dy);
    }
}

/* F16: steps of 32 values (64 bytes) per row, rows 0..3 in turn, so a row's
 * step is one vector of 32 halves; cols must be a multiple of 32. */
static inline __attribute__((always_inline)) void f16_steps(void *dst, const void *src,
                                                             size_t row_bytes, int64_t cols,
                                                             bool back) {
    uint8_t *il = back ? (uint8_t *)src : dst;
    uint8_t *st = back ? dst : (uint8_t *)src;
    for (int64_t c = 0; c < cols / 32; c++)
        for (int r = 0; r < LF_IL_ROWS; r++) {
            uint8_t *a = il + ((size_t)c * LF_IL_ROWS + (size_t)r) * 64;
            uint8_t *b = st + (size_t)r * row_bytes + (size_t)c * 64;
            memcpy(back ? b : a, back ? a : b, 64);
        }
}
static void il_f16(void *dst, const void *src, size_t rb, int64_t cols) {
    f16_steps(dst, src, rb, cols, false);
}
static void de_f16(void *dst, const void *src, size_t rb, int64_t cols) {
    f16_steps(dst, src, rb, cols, true);
}

/* Q5_0: steps of 4 blocks per row as Q4_0, the 5th bits in a part of
 * their own so each row's nibbles are still one 64-byte vector. A step of
 * k blocks (88·k bytes) is
 *     d[r * k + b]    4·k fp16 scales
 *     qh[r * k + b]   4·k × 4 bytes of high bits, as stored
 *     qs of row 0, blocks 0..k-1 (k · 16 bytes), then rows 1, 2, 3
 * The kernels read Q4_0's prepared activations (x86: its -8 offsets
 * doubled; arm64 makes signed weights and leaves the offsets unused). */
static inline __attribute__((always_inline)) void q5_0_steps(void *dst, const void *src,
                                                              size_t row_bytes, int64_t cols,
                                                              bool back) {
    const int64_t nb = cols / LF_QK5_0;
    uint8_t *il = back ? (uint8_t *)src : dst;
    uint8_t *st = back ? dst : (uint8_t *)src;
    size_t off = 0;
    for (int64_t b0 = 0; b0 < nb; b0 += 4) {
        const int k = (int)(nb - b0 < 4 ? nb - b0 : 4);
        for (int r = 0; r < LF_IL_ROWS; r++)
            for (int b = 0; b < k; b++) {
                uint8_t *blk = st + (size_t)r * row_bytes + (size_t)(b0 + b) * sizeof(lf_block_q5_0);
                const size_t i = (size_t)(r * k + b);
                uint8_t *d = il + off + i * 2, *h = il + off + (size_t)8 * k + i * 4,
                        *q = il + off + (size_t)24 * k + i * 16;
                if (back) {
                    memcpy(blk, d, 2);
                    memcpy(blk + 2, h, 4);
                    memcpy(blk + 6, q, 16);
                } else {
                    memcpy(d, blk, 2);
                    memcpy(h, blk + 2, 4);
                    memcpy(q, blk + 6, 16);
                }
            }
        off += (size_t)LF_IL_ROWS * k * sizeof(lf_block_q5_0);
    }
}
static void il_q5_0(void *dst, const void *src, size_t rb, int64_t cols) {
    q5_0_steps(dst, src, rb, cols, false);
}
static void de_q5_0(void *dst, const void *src, size_t rb, int64_t cols) {
    q5_0_steps(dst, src, rb, cols, true);
}

static const lf_il_desc il_desc_q4_0 = {il_q4_0, de_q4_0, act_bytes_q4_0, prep_act_q4_0, 0};
static const lf_il_desc il_desc_q5_0 = {il_q5_0, de_q5_0, act_bytes_q4_0, prep_act_q4_0, 0};
static const lf_il_desc il_desc_q8_0 = {il_q8_0, de_q8_0, NULL, NULL, 0};
static const lf_il_desc il_desc_f16 = {il_f16, de_f16, NULL, NULL, 32};

/* The layouts by type, keyed by lf_type like the trait table; a type
 * missing here is always used as stored. */
static const lf_il_desc *const il_descs[LF_TYPE_COUNT] = {
    [LF_TYPE_F16] = &il_desc_f16,   [LF_TYPE_Q4_0] = &il_desc_q4_0,
    [LF_TYPE_Q5_0] = &il_desc_q5_0, [LF_TYPE_Q8_0] = &il_desc_q8_0,
    [LF_TYPE_Q4_K] = &lf_il_q4_K,   [LF_TYPE_Q5_K] = &lf_il_q5_K,
    [LF_TYPE_Q6_K] = &lf_il_q6_K,
};

const lf_il_desc *lf_il_desc_get(lf_type t) {
    return (unsigned)t < LF_TYPE_COUNT ? il_descs[t] : NULL;
}

/* ---- matrices ----------------------------------------------------------- */

bool lf_mat_can_interleave(const lf_mat *w) {
    if (!w || w->interleaved || !w->data || w->rows <= 0 || w->rows % LF_IL_ROWS ||
        w->type >= LF_TYPE_COUNT)
        return false;
    const lf_il_desc *d = lf_il_desc_get(w->type);
    const int align = d && d->col_align ? d->col_align : lf_type_traits_get(w->type)->block_size;
    return d && lf_kernel_set_active()->mv_il[w->type] && w->cols % align == 0;
}

int lf_mat_interleave(lf_mat *w, void *data, lf_error *err) {
    if (!lf_mat_can_interleave(w))
        return lf_error_set(err, LF_EINVAL, "interleave: %s matrix of %lld rows has no "
                            "interleaved layout here", lf_type_name(w->type), (long long)w->rows);
    if (data != w->data)
        return lf_error_set(err, LF_EINVAL, "interleave: data is not the matrix's own");
    const lf_il_desc *d = lf_il_desc_get(w->type);
    const size_t group = (size_t)LF_IL_ROWS * w->row_bytes;
    uint8_t *tmp = malloc(group);
    if (!tmp)
        return lf_error_set(err, LF_ENOMEM, "interleave: out of memory");
    for (int64_t r = 0; r < w->rows; r += LF_IL_ROWS) {
        uint8_t *g = (uint8_t *)data + (size_t)r * w->row_bytes;
        memcpy(tmp, g, group);
        d->interleave(g, tmp, w->row_bytes, w->cols);
    }
    free(tmp);
    w->interleaved = true;
    return 0;
}

void lf_mat_rows_stored(const lf_mat *w, int64_t r0, int64_t n, void *out) {
    const char *src = (const char *)w->data + (size_t)r0 * w->row_bytes;
    if (!w->interleaved) {
        memcpy(out, src, (size_t)n * w->row_bytes);
        return;
    }
    /* r0 and n are whole groups (the callers' units are multiples of 4) */
    const lf_il_desc *d = lf_il_desc_get(w->type);
    for (int64_t g = 0; g < n; g += LF_IL_ROWS)
        d->deinterleave((char *)out + (size_t)g * w->row_bytes, src + (size_t)g * w->row_bytes,
                        w->row_bytes, w->cols);
}

int lf_mat_rows_to_float(const lf_mat *w, int64_t r0, int64_t n, float *out) {
    const lf_type_traits *tr = lf_type_traits_get(w->type);
    if (!w->interleaved) {
        lf_dequantize(w->type, (const char *)w->data + (size_t)r0 * w->row_bytes, out, n, w->cols);
        return 0;
    }
    const size_t group = (size_t)LF_IL_ROWS * w->row_bytes;
    char *tmp = malloc(group);
    if (!tmp)
        return LF_ENOMEM;
    for (int64_t r = r0 / LF_IL_ROWS * LF_IL_ROWS; r < r0 + n; r += LF_IL_ROWS) {
        lf_mat_rows_stored(w, r, LF_IL_ROWS, tmp);
        for (int i = 0; i < LF_IL_ROWS; i++)
            if (r + i >= r0 && r + i < r0 + n)
                tr->to_float(tmp + (size_t)i * w->row_bytes, out + (size_t)(r + i - r0) * w->cols,
                             w->cols);
    }
    free(tmp);
    return 0;
}

void lf_mv_il_portable(const lf_mat *w, int64_t r, const void *y, float *s) {
    const size_t group = (size_t)LF_IL_ROWS * w->row_bytes;
    char buf[16384] __attribute__((aligned(64)));
    char *tmp = group <= sizeof buf ? buf : malloc(group);
    const lf_vec_dot_fn dot = lf_type_traits_get(w->type)->vec_dot;
    if (!tmp) {
        /* no memory for a group: one row at a time through a block's worth
         * is not possible either, so report NaN rather than garbage */
        for (int i = 0; i < LF_IL_ROWS; i++)
            s[i] = (float)NAN;
        return;
    }
    lf_mat_rows_stored(w, r, LF_IL_ROWS, tmp);
    for (int i = 0; i < LF_IL_ROWS; i++)
        dot((int)w->cols, &s[i], tmp + (size_t)i * w->row_bytes, y);
    if (tmp != buf)
        free(tmp);
}
