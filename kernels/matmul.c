/*
 * Quantized matrix products y = x · Wᵀ, the bulk of every forward pass.
 *
 * The activations are quantized once per call into the weight type's
 * vec_dot_type (in the caller's work buffer), then rows of W are split
 * across the pool's threads. Three paths:
 *  - n == 1 (decoding): each thread streams its rows once through the
 *    multi-row kernel (4 rows share every activation load); the weights are
 *    read exactly once, so speed is memory bandwidth.
 *  - n ≥ LF_GEMM_MIN_N with a packed tile on this ISA (prompt processing):
 *    each thread packs 16 weight rows into an interleaved panel
 *    (gemm_pack.c: int8 for quantized types, float for f32/f16/bf16) that
 *    stays in L2, then runs tiles of 16 rows × 8 activation columns over
 *    it; every weight loaded is used against 8 activations from registers.
 *    Float panels go four at a time, swept in k slices that stay in L1
 *    (see F_KB below), by the set's column tile where it has one (two
 *    panels × 6 columns taken across the 8-column blocks on x86);
 *  - other n > 1: blocks of rows small enough for L2 are swept against
 *    every column with the multi-row kernel, so weights come from cache
 *    after the first column.
 * An interleaved matrix (interleave.c) goes through the type's mv_il
 * kernel a group of 4 rows at a time (row ranges are whole 16-row units),
 * and its panels are packed from rows put back in the stored layout.
 * Also here: the reference product for tests.
 */
#include "kernels/internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Below this many activation rows packing costs more than it saves: a
 * panel takes about as long to pack as 8-10 of its rows take through the
 * multi-row kernel from L2 (measured on Zen 4, Q4_0 and Q8_0). */
#define LF_GEMM_MIN_N 12
/* Row blocks of the unpacked n > 1 path target this many weight bytes. */
#define LF_MM_BLOCK_BYTES (192u * 1024u)

static inline size_t align64(size_t x) { return (x + 63) / 64 * 64; }

/* The float path blocks K: a group of F_GROUP panels is converted to
 * float once, then swept in slices of F_KB k against every 8-column
 * activation block, so that the group's slices (F_GROUP × F_KB × 64 B =
 * 32 KiB) and one activation slice (8 KiB) stay in L1 while the tiles run,
 * and the activations, which for a long prompt are megabytes, are read
 * from L2 or L3 once per group instead of once per panel. Two panels of
 * 256 k rather than four of 128 (the same 32 KiB): each tile call loads
 * and stores its sums half as often. On a Zen 5, compare --ab with 4 ABBA
 * pairs: F16 prompts 1.02-1.24x faster with AVX2 (SmolLM2 pp128 1.24x,
 * p 0.0002) and 1.10-1.12x with AVX-512 (TinyLlama pp128 1.12x, p 0.018);
 * two panels of 128 alone were no faster. The AVX-512 tile adds its even
 * and odd sums every 128 k, as before, and the other tiles keep one sum
 * in k order, so no result changes with F_KB. */
#define F_KB 256
#define F_GROUP 2

static size_t f_panel_bytes(int K) { return align64((size_t)K * LF_GEMM_ROWS * sizeof(float)); }

static bool use_packed(const lf_kernel_set *ks, const lf_mat *w, int64_t n) {
    const lf_gemm_desc *g = lf_gemm_desc_get(w->type);
    return ks->gemm_tile && g && g->u_max <= ks->gemm_u_max && n >= LF_GEMM_MIN_N &&
           w->cols % g->chunk == 0 && w->cols <= (1 << 24);
}

static bool use_packed_float(const lf_kernel_set *ks, const lf_mat *w, int64_t n) {
    return (ks->gemm_f_tile || ks->gemm_f_cols) && lf_type_is_float(w->type) &&
           n >= LF_GEMM_MIN_N && w->cols <= (1 << 24);
}

/* Bytes of one prepared activation row for an interleaved w (0: none). */
static size_t il_act_row(const lf_mat *w) {
    const lf_il_desc *d = w->interleaved ? lf_il_desc_get(w->type) : NULL;
    return d && d->prep_act ? align64(d->act_bytes(w->cols)) : 0;
}

/* The work size counts the interleaved layout's needs whenever the type
 * has one, so buffers sized before a model is interleaved still fit. */
static size_t il_work_row(const lf_mat *w) {
    lf_mat t = *w;
    t.interleaved = lf_il_desc_get(w->type) != NULL;
    return il_act_row(&t);
}

size_t lf_matmul_work_size(const lf_mat *w, int64_t n) {
    lf_type vt = lf_type_traits_get(w->type)->vec_dot_type;
    size_t size = align64((size_t)n * lf_row_size(vt, w->cols));
    size += (size_t)n * il_work_row(w);
    const lf_gemm_desc *g = lf_gemm_desc_get(w->type);
    size_t nblk = (size_t)((n + LF_GEMM_COLS - 1) / LF_GEMM_COLS);
    if (g && n >= LF_GEMM_MIN_N && w->cols % g->chunk == 0) {
        size += nblk * lf_gemm_acts_bytes((int)w->cols, g->chunk);
        size += align64(lf_gemm_panel_bytes((int)w->cols, g->chunk));
        if (lf_il_desc_get(w->type))
            size += align64((size_t)LF_GEMM_ROWS * w->row_bytes);
    } else if (lf_type_is_float(w->type) && n >= LF_GEMM_MIN_N) {
        size += nblk * lf_gemm_f_acts_bytes((int)w->cols);
        size += F_GROUP * f_panel_bytes((int)w->cols);
        if (lf_il_desc_get(w->type))
            size += align64((size_t)LF_GEMM_ROWS * w->row_bytes);
    }
    return size + 64;
}

typedef struct mm_ctx {
    const lf_kernel_set *ks;
    const lf_mat *w;
    const float *x;
    float *y;
    int64_t n;
    lf_type vt;
    size_t xrow;                /* bytes of one quantized activation row */
    char *xq;                   /* n × xrow */
    char *xp;                   /* n × xprow prepared for mv_il, or NULL */
    size_t xprow;
    void (*prep_act)(const void *act, void *out, int64_t cols);
    lf_from_float_fn quant;
    lf_mv_fn mv;
    /* packed path */
    const lf_gemm_desc *g;
    lf_gemm_pack_fn pack;
    char *prep;                 /* ceil(n/8) blocks of acts_bytes */
    size_t acts_bytes;
    bool fpath;                 /* packed float path (f32/f16/bf16 weights) */
    uint8_t *panel0;            /* thread 0's panel (in work) */
    uint8_t *stored0;           /* thread 0's 16 rows put back in the stored
                                 * layout (interleaved weights only) */
    lf_pool *pool;
    /* Phase 2 hands out work in chunks through this counter instead of
     * splitting it evenly up front: on a machine shared with other work,
     * or with cores of different speeds, a thread that runs faster simply
     * takes more chunks. Chunks are whole 16-row units, so every output is
     * computed the same way whoever computes it. */
    _Atomic int64_t next;
    lf_steal steal;             /* n == 1: LF_MV_UNIT-row units */
} mm_ctx;

static inline int64_t grab(mm_ctx *c, int64_t step) {
    return atomic_fetch_add_explicit(&c->next, step, memory_order_relaxed);
}

/* The float path's prepared activations go slice by slice: the F_KB-wide
 * k slice [k0, k0 + kl) of every 8-column block, one block after the
 * other ([slice][block][kl][8] floats; only the last slice is narrower).
 * A sweep over the blocks of one slice (f_group_slice) then reads one
 * contiguous stream, which the hardware prefetchers follow, where whole
 * blocks in a row put every step a block (K·32 bytes) ahead and a
 * software prefetch of each next slice stalled on the fill buffers (6%
 * of TinyLlama F16 pp512 on AVX2, perf). */
static float *f_acts(const mm_ctx *c, int k0, int64_t blk) {
    const int K = (int)c->w->cols, kl = K - k0 < F_KB ? K - k0 : F_KB;
    const size_t nblk = (size_t)((c->n + LF_GEMM_COLS - 1) / LF_GEMM_COLS);
    return (float *)c->prep + (size_t)LF_GEMM_COLS * (nblk * (size_t)k0 + (size_t)blk * (size_t)kl);
}

/* Activation rows [i0, i1) (block blk, already in the vec_dot_type at xq)
 * into every slice of that block. */
static void f_prep_block(const mm_ctx *c, int64_t blk, int64_t i0, int64_t i1) {
    const int K = (int)c->w->cols;
    const lf_gemm_f_prep_fn prep = c->ks->gemm_f_prep ? c->ks->gemm_f_prep : lf_gemm_f_prep_slice;
    const char *rows = c->xq + (size_t)i0 * c->xrow;
    for (int k0 = 0; k0 < K; k0 += F_KB)
        prep(c->vt, rows + lf_row_size(c->vt, k0), c->xrow, (int)(i1 - i0),
             K - k0 < F_KB ? K - k0 : F_KB, f_acts(c, k0, blk));
}

/* Phase 1: quantize (and for the packed path prepare) the activation rows,
 * split over threads in units of 8 rows so that no two threads write the
 * same prepared block. */
static void mm_quantize_job(void *arg, int ith, int nth) {
    mm_ctx *c = arg;
    int64_t lo, hi;
    lf_split_range((c->n + LF_GEMM_COLS - 1) / LF_GEMM_COLS, ith, nth, &lo, &hi);
    for (int64_t blk = lo; blk < hi; blk++) {
        const int64_t i0 = blk * LF_GEMM_COLS;
        const int64_t i1 = i0 + LF_GEMM_COLS < c->n ? i0 + LF_GEMM_COLS : c->n;
        for (int64_t i = i0; i < i1; i++) {
            char *q = c->xq + (size_t)i * c->xrow;
            c->quant(c->x + i * c->w->cols, q, c->w->cols);
            if (c->xp)
                c->prep_act(q, c->xp + (size_t)i * c->xprow, c->w->cols);
        }
        if (c->fpath)
            f_prep_block(c, blk, i0, i1);
        /* no prepared blocks on the unpacked path */
        else if (c->prep)
            lf_gemm_prep_block(c->ks, c->g, c->vt, c->xq + (size_t)i0 * c->xrow, c->xrow, (int)(i1 - i0),
                               (int)c->w->cols, c->prep + (size_t)blk * c->acts_bytes);
    }
}

/* Rows [lo, hi) against activation column j, LF_MV_MAX_ROWS at a time. */
static inline void mv_rows(const mm_ctx *c, int64_t lo, int64_t hi, int64_t j) {
    const lf_mat *w = c->w;
    const char *wd = w->data;
    const char *xq = c->xp ? c->xp + (size_t)j * c->xprow : c->xq + (size_t)j * c->xrow;
    if (!c->mv) {
        /* interleaved for another kernel set: the portable path */
        for (int64_t r = lo; r < hi; r += LF_IL_ROWS)
            lf_mv_il_portable(w, r, xq, c->y + j * w->rows + r);
        return;
    }
    float *y = c->y + j * w->rows;
    int64_t r = lo;
    for (; r + LF_MV_MAX_ROWS <= hi; r += LF_MV_MAX_ROWS)
        c->mv((int)w->cols, y + r, wd + (size_t)r * w->row_bytes, w->row_bytes, xq,
              LF_MV_MAX_ROWS);
    if (r < hi)
        c->mv((int)w->cols, y + r, wd + (size_t)r * w->row_bytes, w->row_bytes, xq,
              (int)(hi - r));
}

/* Phase 2 without packing. Rows go in units of 16 so that threads never
 * write the same cache line of y; for n > 1 in blocks small enough for L2
 * that are swept against every column. */
static void mm_rows_job(void *arg, int ith, int nth) {
    mm_ctx *c = arg;
    const lf_mat *w = c->w;
    (void)nth;
    if (c->n == 1) {
        int64_t u0, u1;
        while (lf_steal_next(&c->steal, ith, &u0, &u1))
            mv_rows(c, u0 * LF_MV_UNIT, u1 * LF_MV_UNIT < w->rows ? u1 * LF_MV_UNIT : w->rows, 0);
        return;
    }
    int64_t block = (int64_t)(LF_MM_BLOCK_BYTES / (w->row_bytes ? w->row_bytes : 1));
    block = block < 16 ? 16 : block / 16 * 16;
    int64_t nblocks = (w->rows + block - 1) / block;
    for (;;) {
        int64_t b = grab(c, 1);
        if (b >= nblocks)
            break;
        int64_t lo = b * block, hi = lo + block < w->rows ? lo + block : w->rows;
        for (int64_t j = 0; j < c->n; j++)
            mv_rows(c, lo, hi, j);
    }
}

/* Phase 2 with packing: panels of 16 rows, tiles of 8 columns. */
static void mm_packed_job(void *arg, int ith, int nth) {
    mm_ctx *c = arg;
    const lf_mat *w = c->w;
    int K = (int)w->cols, chunk = c->g->chunk;
    int64_t npanels = (w->rows + LF_GEMM_ROWS - 1) / LF_GEMM_ROWS;
    (void)nth;
    const size_t pbytes = align64(lf_gemm_panel_bytes(K, chunk));
    const size_t sbytes = w->interleaved ? (size_t)LF_GEMM_ROWS * w->row_bytes : 0;
    uint8_t *panel = ith == 0 ? c->panel0 : lf_pool_scratch(c->pool, ith, pbytes + sbytes);
    uint8_t *stored = !panel || !sbytes ? NULL : ith == 0 ? c->stored0 : panel + pbytes;
    float *sw = panel ? lf_gemm_panel_sw(panel, K) : NULL;
    float *mw = panel ? lf_gemm_panel_mw(panel, K, chunk) : NULL;
    for (;;) {
        int64_t p = grab(c, 1);
        if (p >= npanels)
            break;
        int64_t r0 = p * LF_GEMM_ROWS;
        if (!panel) {
            /* No scratch for this thread: its panels take the unpacked path. */
            int64_t hi = r0 + LF_GEMM_ROWS < w->rows ? r0 + LF_GEMM_ROWS : w->rows;
            for (int64_t j = 0; j < c->n; j++)
                mv_rows(c, r0, hi, j);
            continue;
        }
        int nr = (int)(w->rows - r0 < LF_GEMM_ROWS ? w->rows - r0 : LF_GEMM_ROWS);
        const void *src = (const char *)w->data + (size_t)r0 * w->row_bytes;
        if (stored) {
            lf_mat_rows_stored(w, r0, nr, stored);   /* nr: a multiple of 4 */
            src = stored;
        }
        c->pack(src, w->row_bytes, nr, K, panel, sw, mw);
        for (int64_t j0 = 0; j0 < c->n; j0 += LF_GEMM_COLS) {
            int nc = (int)(c->n - j0 < LF_GEMM_COLS ? c->n - j0 : LF_GEMM_COLS);
            const char *acts = c->prep + (size_t)(j0 / LF_GEMM_COLS) * c->acts_bytes;
            c->ks->gemm_tile(c->g, K, panel, sw, mw, acts, nc, c->y + j0 * w->rows + r0,
                             (size_t)w->rows, nr);
        }
    }
}

/* Packs panels [p0, p0 + np) of the float path into panels (f_panel_bytes
 * apart); nr[g] gets each panel's row count. */
static void f_pack_group(const mm_ctx *c, int64_t p0, int np, uint8_t *panels, uint8_t *stored,
                         int *nr) {
    const lf_mat *w = c->w;
    const int K = (int)w->cols;
    lf_gemm_f_pack_fn pack = c->ks->gemm_f_pack[w->type];
    lf_gemm_f_pack_fn pack_il = w->interleaved ? c->ks->gemm_f_pack_il[w->type] : NULL;
    for (int g = 0; g < np; g++) {
        const int64_t r0 = (p0 + g) * LF_GEMM_ROWS;
        nr[g] = (int)(w->rows - r0 < LF_GEMM_ROWS ? w->rows - r0 : LF_GEMM_ROWS);
        const char *src = (const char *)w->data + (size_t)r0 * w->row_bytes;
        float *panel = (float *)(panels + (size_t)g * f_panel_bytes(K));
        if (pack_il) {
            pack_il(src, w->row_bytes, nr[g], K, panel);
            continue;
        }
        if (stored) {
            lf_mat_rows_stored(w, r0, nr[g], stored);   /* nr: a multiple of 4 */
            src = (const char *)stored;
        }
        if (pack)
            pack(src, w->row_bytes, nr[g], K, panel);
        else
            lf_gemm_f_pack_ref(w->type, src, w->row_bytes, nr[g], K, panel);
    }
}

/* One k slice [k0, k0 + kl) of a packed group against every column. The
 * first slice writes y; later ones add into it (the block tile through
 * tmp). */
static void f_group_slice(const mm_ctx *c, const uint8_t *panels, int np, const int *nr,
                          int64_t r0, int k0, int kl) {
    const lf_mat *w = c->w;
    const size_t pb = f_panel_bytes((int)w->cols);
    _Alignas(64) float tmp[LF_GEMM_COLS * LF_GEMM_ROWS];
    if (c->ks->gemm_f_cols) {
        /* the set's own tile width, across the 8-column blocks, over
         * panel pairs (only a group's last panel can have fewer rows) */
        const int cn = c->ks->gemm_f_cols_n;
        for (int64_t j0 = 0; j0 < c->n; j0 += cn) {
            const int nc = (int)(c->n - j0 < cn ? c->n - j0 : cn);
            const float *cols[LF_GEMM_F_COLS_MAX];
            for (int j = 0; j < nc; j++)
                cols[j] = f_acts(c, k0, (j0 + j) / LF_GEMM_COLS) + (j0 + j) % LF_GEMM_COLS;
            for (int g = 0; g < np; g += 2) {
                const float *p0 = (const float *)(panels + (size_t)g * pb) + (size_t)k0 * LF_GEMM_ROWS;
                const float *p1 = g + 1 < np ? (const float *)((const uint8_t *)p0 + pb) : NULL;
                c->ks->gemm_f_cols(kl, p0, p1, cols, nc,
                                   c->y + j0 * w->rows + r0 + (int64_t)g * LF_GEMM_ROWS,
                                   (size_t)w->rows, nr[p1 ? g + 1 : g], k0 > 0);
            }
        }
        return;
    }
    for (int64_t j0 = 0; j0 < c->n; j0 += LF_GEMM_COLS) {
        const int nc = (int)(c->n - j0 < LF_GEMM_COLS ? c->n - j0 : LF_GEMM_COLS);
        const float *acts = f_acts(c, k0, j0 / LF_GEMM_COLS);
        for (int g = 0; g < np; g++) {
            const float *panel = (const float *)(panels + (size_t)g * pb) + (size_t)k0 * LF_GEMM_ROWS;
            float *y = c->y + j0 * w->rows + r0 + (int64_t)g * LF_GEMM_ROWS;
            if (k0 == 0) {
                c->ks->gemm_f_tile(kl, panel, acts, nc, y, (size_t)w->rows, nr[g]);
                continue;
            }
            c->ks->gemm_f_tile(kl, panel, acts, nc, tmp, LF_GEMM_ROWS, nr[g]);
            for (int j = 0; j < nc; j++)
                for (int r = 0; r < nr[g]; r++)
                    y[(size_t)j * (size_t)w->rows + (size_t)r] += tmp[j * LF_GEMM_ROWS + r];
        }
    }
}

/* Phase 2 for float weights: groups of F_GROUP panels of 16 rows as
 * float, tiles of 16 rows × 8 columns over k slices. */
static void mm_packed_float_job(void *arg, int ith, int nth) {
    mm_ctx *c = arg;
    const lf_mat *w = c->w;
    const int K = (int)w->cols;
    const int64_t npanels = (w->rows + LF_GEMM_ROWS - 1) / LF_GEMM_ROWS;
    (void)nth;
    const size_t pbytes = F_GROUP * f_panel_bytes(K);
    const size_t sbytes = w->interleaved ? (size_t)LF_GEMM_ROWS * w->row_bytes : 0;
    uint8_t *panels = ith == 0 ? c->panel0 : lf_pool_scratch(c->pool, ith, pbytes + sbytes);
    uint8_t *stored = !panels || !sbytes ? NULL : ith == 0 ? c->stored0 : panels + pbytes;
    for (;;) {
        const int64_t p0 = grab(c, F_GROUP);
        if (p0 >= npanels)
            break;
        const int np = (int)(npanels - p0 < F_GROUP ? npanels - p0 : F_GROUP);
        const int64_t r0 = p0 * LF_GEMM_ROWS;
        if (!panels) {
            /* No scratch for this thread: its panels take the unpacked path. */
            const int64_t hi = r0 + np * LF_GEMM_ROWS < w->rows ? r0 + np * LF_GEMM_ROWS : w->rows;
            for (int64_t j = 0; j < c->n; j++)
                mv_rows(c, r0, hi, j);
            continue;
        }
        int nr[F_GROUP];
        f_pack_group(c, p0, np, panels, stored, nr);
        for (int k0 = 0; k0 < K; k0 += F_KB)
            f_group_slice(c, panels, np, nr, r0, k0, K - k0 < F_KB ? K - k0 : F_KB);
    }
}

void lf_matmul(lf_pool *pool, const lf_mat *w, const float *x, int64_t n,
               float *y, void *work) {
    if (n <= 0 || w->rows <= 0)
        return;
    const lf_kernel_set *ks = lf_kernel_set_active();
    mm_ctx c = {
        .ks = ks, .w = w, .x = x, .y = y, .n = n, .pool = pool,
        .vt = lf_type_traits_get(w->type)->vec_dot_type,
        .mv = w->interleaved ? ks->mv_il[w->type] : ks->mv[w->type],
    };
    c.quant = lf_quantize_row_get(c.vt);
    c.xrow = lf_row_size(c.vt, w->cols);
    c.xq = work;
    char *next = c.xq + align64((size_t)n * c.xrow);
    const bool packed = use_packed(ks, w, n);
    if (c.mv && (c.xprow = il_act_row(w)) > 0) {
        if (packed) {
            /* panels take stored rows; a thread without a panel buffer
             * falls back to the portable group path, which reads the
             * plain quantized row */
            c.mv = NULL;
            c.xprow = 0;
        } else {
            c.xp = next;
            c.prep_act = lf_il_desc_get(w->type)->prep_act;
            next += (size_t)n * c.xprow;
        }
    }
    if (packed) {
        c.g = lf_gemm_desc_get(w->type);
        c.pack = ks->gemm_pack[w->type] ? ks->gemm_pack[w->type] : c.g->pack;
        c.acts_bytes = lf_gemm_acts_bytes((int)w->cols, c.g->chunk);
        c.prep = next;
        c.panel0 = (uint8_t *)(next + (size_t)((n + LF_GEMM_COLS - 1) / LF_GEMM_COLS) *
                                          c.acts_bytes);
        c.stored0 = c.panel0 + align64(lf_gemm_panel_bytes((int)w->cols, c.g->chunk));
    } else if (use_packed_float(ks, w, n)) {
        c.fpath = true;
        c.acts_bytes = lf_gemm_f_acts_bytes((int)w->cols);
        c.prep = next;
        c.panel0 = (uint8_t *)(next + (size_t)((n + LF_GEMM_COLS - 1) / LF_GEMM_COLS) *
                                          c.acts_bytes);
        c.stored0 = c.panel0 + F_GROUP * f_panel_bytes((int)w->cols);
    }
    if (n == 1 && !c.prep)
        mm_quantize_job(&c, 0, 1);   /* one row: not worth a hand-off */
    else
        lf_pool_run(pool, mm_quantize_job, &c);
    /* n == 1: each thread streams its own contiguous part (on Zen 4, two
     * threads reach 0.90-0.92 of the read roof with 4 MiB chunks of Q4_0,
     * 0.75 with 110 KiB ones, where every jump restarts the prefetchers)
     * and then takes over the rest of a thread that started late or was
     * slowed by other work (lf_steal). */
    if (n == 1)
        lf_steal_init(&c.steal, (w->rows + LF_MV_UNIT - 1) / LF_MV_UNIT, lf_pool_size(pool),
                      lf_mv_min_units(w->row_bytes));
    atomic_store_explicit(&c.next, 0, memory_order_relaxed);
    lf_pool_run(pool, c.fpath ? mm_packed_float_job : c.prep ? mm_packed_job : mm_rows_job, &c);
}

void lf_matmul_ref(const lf_mat *w, const float *x, int64_t n, float *y) {
    /* Dequantize in pieces of 256 (a multiple of every block size) against
     * up to 64 columns at a time, so no allocation is needed. */
    const lf_type_traits *tr = lf_type_traits_get(w->type);
    float buf[256];
    double acc[64];
    for (int64_t j0 = 0; j0 < n; j0 += 64) {
        int64_t nj = n - j0 < 64 ? n - j0 : 64;
        for (int64_t r = 0; r < w->rows; r++) {
            const char *row = (const char *)w->data + (size_t)r * w->row_bytes;
            memset(acc, 0, sizeof acc);
            for (int64_t k0 = 0; k0 < w->cols; k0 += 256) {
                int64_t len = w->cols - k0 < 256 ? w->cols - k0 : 256;
                tr->to_float(row + (size_t)(k0 / tr->block_size) * tr->type_size, buf, len);
                for (int64_t j = 0; j < nj; j++) {
                    const float *xj = x + (j0 + j) * w->cols + k0;
                    double a = 0;
                    for (int64_t k = 0; k < len; k++)
                        a += (double)buf[k] * xj[k];
                    acc[j] += a;
                }
            }
            for (int64_t j = 0; j < nj; j++)
                y[(j0 + j) * w->rows + r] = (float)acc[j];
        }
    }
}
