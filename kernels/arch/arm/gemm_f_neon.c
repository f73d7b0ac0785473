/*
 * arm64 (baseline ASIMD) packed float GEMM for prompt processing with F32,
 * F16 and BF16 weights: the column tile of internal.h (lf_gemm_f_cols_fn)
 * over panels [k][16 rows] and activation blocks [k][8 columns], both
 * floats packed by the portable packers, so only the inner kernel is arm's.
 *
 * The tile is 16 rows × 6 columns: 24 sums, plus a panel's 4 vectors for
 * one k and one column value at a time, 29 of the 32 vector registers. Per
 * k that is 24 multiply-adds for 2 ldp (the 16 rows) and 6 single-float
 * loads. The 6 columns of a tile may lie in two 8-column blocks, so each
 * comes as its own float (ldr s, then fmla by lane 0), which needs only a
 * load pipe; filling two vectors with ld1 lane loads would also take a
 * vector-pipe µop per lane (Neoverse N1 guide), beside the multiply-adds.
 * Two panels × 3 columns would also give 24 sums but load 8 panel vectors
 * per k, and 16 × 7 (28 sums and 4 panel vectors) leaves no register for
 * the column value. A panel pair runs as two 16-row passes.
 *
 * Every sum starts at 0 (or at y with add) and takes k = 0, 1, ... in order,
 * one fused multiply-add each, whatever the tile's width or the panel
 * pairing: a result is bitwise the same wherever its column falls.
 */
#include "kernels/internal.h"

#include <arm_neon.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* One column's 16 rows: rows 4q .. 4q + 3 in vq. Also a panel's k. */
typedef struct {
    float32x4_t v0, v1, v2, v3;
} col16;

/* The sums' start for column yc: its first nrows values (the rest 0) with
 * add, else zeros. Rows past nrows are not read: they may be past y. */
INLINE col16 col_start(const float *yc, int nrows, bool add) {
    float v[LF_GEMM_ROWS] = {0};
    const float *src = v;
    if (add && nrows == LF_GEMM_ROWS)
        src = yc;
    else if (add)
        memcpy(v, yc, (size_t)nrows * sizeof(float));
    return (col16){vld1q_f32(src), vld1q_f32(src + 4), vld1q_f32(src + 8), vld1q_f32(src + 12)};
}

/* Rows 0 .. nrows - 1 of s into column yc. */
INLINE void col_store(float *yc, int nrows, col16 s) {
    if (nrows == LF_GEMM_ROWS) {
        vst1q_f32(yc, s.v0);
        vst1q_f32(yc + 4, s.v1);
        vst1q_f32(yc + 8, s.v2);
        vst1q_f32(yc + 12, s.v3);
        return;
    }
    float v[LF_GEMM_ROWS];   /* a last partial panel: only its rows exist in y */
    vst1q_f32(v, s.v0);
    vst1q_f32(v + 4, s.v1);
    vst1q_f32(v + 8, s.v2);
    vst1q_f32(v + 12, s.v3);
    memcpy(yc, v, (size_t)nrows * sizeof(float));
}

/* *s += w · (*b), each row one fused multiply-add. The barrier keeps the
 * load of *b below the previous column's multiply-adds: GCC 12's scheduler
 * otherwise hoists all six column loads to the top of k (34 live vectors)
 * and spills two sums, a load and a store of each per k. */
INLINE void col_step(col16 *s, col16 w, const float *b) {
    __asm__ volatile("" ::: "memory");
    const float x = *b;
    s->v0 = vfmaq_n_f32(s->v0, w.v0, x);
    s->v1 = vfmaq_n_f32(s->v1, w.v1, x);
    s->v2 = vfmaq_n_f32(s->v2, w.v2, x);
    s->v3 = vfmaq_n_f32(s->v3, w.v3, x);
}

/* One panel (16 rows, nrows of them in y) × NC ≤ 6 columns, column c
 * reading k at cols[c][k · LF_GEMM_COLS]. The sums are named locals, not
 * an array, so that no compiler keeps them in memory. */
INLINE void tile16(int K, const float *panel, const float *const *cols, float *y, size_t ldy,
                   int nrows, const int NC, bool add) {
    const float *a0 = cols[0], *a1 = NC > 1 ? cols[1] : NULL, *a2 = NC > 2 ? cols[2] : NULL,
                *a3 = NC > 3 ? cols[3] : NULL, *a4 = NC > 4 ? cols[4] : NULL,
                *a5 = NC > 5 ? cols[5] : NULL;
    const col16 zero = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    col16 s0 = col_start(y, nrows, add), s1 = zero, s2 = zero, s3 = zero, s4 = zero, s5 = zero;
    if (NC > 1)
        s1 = col_start(y + ldy, nrows, add);
    if (NC > 2)
        s2 = col_start(y + 2 * ldy, nrows, add);
    if (NC > 3)
        s3 = col_start(y + 3 * ldy, nrows, add);
    if (NC > 4)
        s4 = col_start(y + 4 * ldy, nrows, add);
    if (NC > 5)
        s5 = col_start(y + 5 * ldy, nrows, add);
    for (int k = 0; k < K; k++) {
        const float *p = panel + (size_t)k * LF_GEMM_ROWS;
        const col16 w = {vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)};
        const size_t o = (size_t)k * LF_GEMM_COLS;
        col_step(&s0, w, a0 + o);
        if (NC > 1)
            col_step(&s1, w, a1 + o);
        if (NC > 2)
            col_step(&s2, w, a2 + o);
        if (NC > 3)
            col_step(&s3, w, a3 + o);
        if (NC > 4)
            col_step(&s4, w, a4 + o);
        if (NC > 5)
            col_step(&s5, w, a5 + o);
    }
    col_store(y, nrows, s0);
    if (NC > 1)
        col_store(y + ldy, nrows, s1);
    if (NC > 2)
        col_store(y + 2 * ldy, nrows, s2);
    if (NC > 3)
        col_store(y + 3 * ldy, nrows, s3);
    if (NC > 4)
        col_store(y + 4 * ldy, nrows, s4);
    if (NC > 5)
        col_store(y + 5 * ldy, nrows, s5);
}

/* tile16_N: one panel × N columns, with no work for absent columns. */
#define TILE_FN(nc)                                                                         \
    static void tile16_##nc(int K, const float *panel, const float *const *cols, float *y, \
                            size_t ldy, int nrows, bool add) {                             \
        tile16(K, panel, cols, y, ldy, nrows, nc, add);                                    \
    }
TILE_FN(1) TILE_FN(2) TILE_FN(3) TILE_FN(4) TILE_FN(5) TILE_FN(6)

typedef void (*tile16_fn)(int, const float *, const float *const *, float *, size_t, int, bool);

static void gemm_f_cols_neon(int K, const float *p0, const float *p1, const float *const *cols,
                             int ncols, float *y, size_t ldy, int nrows, bool add) {
    static const tile16_fn fns[6] = {tile16_1, tile16_2, tile16_3, tile16_4, tile16_5, tile16_6};
    fns[ncols - 1](K, p0, cols, y, ldy, p1 ? LF_GEMM_ROWS : nrows, add);
    if (p1)
        fns[ncols - 1](K, p1, cols, y + LF_GEMM_ROWS, ldy, nrows, add);
}

void lf_kernels_fill_gemm_f_neon(lf_kernel_set *ks) {
    ks->gemm_f_cols = gemm_f_cols_neon;
    ks->gemm_f_cols_n = 6;
}
