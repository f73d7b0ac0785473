/*
 * Private declarations shared between kernels/ source files: the one
 * per-type list (LF_TYPE_LIST) that the trait table (kernels/formats.c),
 * the scalar kernel set (kernels/dispatch.c) and the reference function
 * declarations below are generated from, and the per-ISA kernel sets that
 * kernels/dispatch.c chooses between. Not part of the public API.
 */
#ifndef LF_KERNELS_INTERNAL_H
#define LF_KERNELS_INTERNAL_H

#include "kernels/kernels.h"

/* ======================================================================
 * The per-type list: one row per supported type. Adding a type is one row
 * here plus the functions the row names; everything keyed by type that is
 * not a SIMD kernel or a packed/interleaved layout is generated from it.
 *
 *   X(t, T, block_size, block_type, VT, quant, dot, act, kv)
 *     t / T       lower / upper name: LF_TYPE_T, "t", and the functions
 *                 t_to_float (formats.c, static), lf_quantize_row_t_ref
 *                 (quantize.c) and, if dot, lf_vec_dot_t_ref (vecdot_ref.c)
 *     block_size  elements per block; block_type: one block (sizeof = bytes)
 *     VT          the activation type of its dot (LF_TYPE_VT), as GGML
 *                 pairs them
 *     quant       1 = a block format, 0 = a float type (f32, f16, bf16)
 *     dot         1 = a weight type with a reference dot against VT;
 *                 0 = activation-only (q8_1, q8_K)
 *     act         1 = some dot's VT: the kernel sets carry an activation
 *                 quantizer for it
 *     kv          1 = a KV-cache type: the kernel sets carry kv_dot and
 *                 kv_axpy for it (kv_dot_t_ref / kv_axpy_t_ref, dispatch.c)
 * ==================================================================== */
#define LF_TYPE_LIST(X)                                                        \
    /* t       T       block_size  block_type        VT    q  dot act kv */   \
    X(f32,    F32,    1,          float,            F32,  0, 1, 1, 1)          \
    X(f16,    F16,    1,          lf_half,          F16,  0, 1, 1, 1)          \
    X(bf16,   BF16,   1,          lf_bf16,          BF16, 0, 1, 1, 0)          \
    X(q4_0,   Q4_0,   LF_QK4_0,   lf_block_q4_0,    Q8_0, 1, 1, 0, 0)          \
    X(q4_1,   Q4_1,   LF_QK4_1,   lf_block_q4_1,    Q8_1, 1, 1, 0, 0)          \
    X(q5_0,   Q5_0,   LF_QK5_0,   lf_block_q5_0,    Q8_0, 1, 1, 0, 0)          \
    X(q5_1,   Q5_1,   LF_QK5_1,   lf_block_q5_1,    Q8_1, 1, 1, 0, 0)          \
    X(q8_0,   Q8_0,   LF_QK8_0,   lf_block_q8_0,    Q8_0, 1, 1, 1, 1)          \
    X(q8_1,   Q8_1,   LF_QK8_1,   lf_block_q8_1,    Q8_1, 1, 0, 1, 0)          \
    X(q2_K,   Q2_K,   LF_QK_K,    lf_block_q2_K,    Q8_K, 1, 1, 0, 0)          \
    X(q3_K,   Q3_K,   LF_QK_K,    lf_block_q3_K,    Q8_K, 1, 1, 0, 0)          \
    X(q4_K,   Q4_K,   LF_QK_K,    lf_block_q4_K,    Q8_K, 1, 1, 0, 0)          \
    X(q5_K,   Q5_K,   LF_QK_K,    lf_block_q5_K,    Q8_K, 1, 1, 0, 0)          \
    X(q6_K,   Q6_K,   LF_QK_K,    lf_block_q6_K,    Q8_K, 1, 1, 0, 0)          \
    X(q8_K,   Q8_K,   LF_QK_K,    lf_block_q8_K,    Q8_K, 1, 0, 1, 0)          \
    X(iq4_nl, IQ4_NL, LF_QK4_NL,  lf_block_iq4_nl,  Q8_0, 1, 1, 0, 0)          \
    X(iq4_xs, IQ4_XS, LF_QK_K,    lf_block_iq4_xs,  Q8_K, 1, 1, 0, 0)          \
    X(mxfp4,  MXFP4,  LF_QK_MXFP4, lf_block_mxfp4,  Q8_0, 1, 1, 0, 0)

/* Row filters: LF_IF(flag, x) is x when flag is 1, nothing when 0;
 * LF_PICK(flag, a, b) is a or b. */
#define LF_IF_1(...) __VA_ARGS__
#define LF_IF_0(...)
#define LF_IF(flag, ...) LF_IF_##flag(__VA_ARGS__)
#define LF_PICK_1(a, b) a
#define LF_PICK_0(a, b) b
#define LF_PICK(flag, a, b) LF_PICK_##flag(a, b)

/* The scalar reference dot products (kernels/vecdot_ref.c), the vec_dot of
 * each trait entry with dot = 1. */
#define LF_DECL_VEC_DOT_REF_(t, T, bs, blk, VT, q, dot, act, kv) \
    LF_IF(dot, void lf_vec_dot_##t##_ref(int n, float *s, const void *x, const void *y);)
LF_TYPE_LIST(LF_DECL_VEC_DOT_REF_)
#undef LF_DECL_VEC_DOT_REF_

/* Reference row quantizers (kernels/quantize.c), the from_float of each
 * trait entry: n floats of x into n / block_size blocks at y. The
 * activation formats (act = 1) are the scalar twins of the SIMD
 * activation quantizers. */
#define LF_DECL_QUANTIZE_ROW_(t, T, bs, blk, VT, q, dot, act, kv) \
    void lf_quantize_row_##t##_ref(const float *x, void *y, int64_t n);
LF_TYPE_LIST(LF_DECL_QUANTIZE_ROW_)
#undef LF_DECL_QUANTIZE_ROW_

/* ---- K-quant scale fields, decoded as the GGML layout defines them ---- */

/* Q3_K: 16 signed 6-bit scales (stored +32) packed in 12 bytes: the low
 * nibble of scale i is sc[i] (i < 8) or sc[i-8] >> 4, the top two bits are
 * bits 2*(i/4).. of sc[8 + i%4]. */
static inline int lf_q3_K_scale(const uint8_t *sc, int i) {
    int lo = i < 8 ? sc[i] & 0x0F : sc[i - 8] >> 4;
    int hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (lo | hi << 4) - 32;
}

/* Q4_K/Q5_K: 8 sub-blocks with 6-bit scale and min packed in 12 bytes: for
 * j < 4 scale = s[j] & 63, min = s[j+4] & 63; for j >= 4 the low nibbles
 * come from s[j+4] and the top two bits from the top bits of s[j-4]
 * (scale) and s[j] (min). */
static inline void lf_k4_scale_min(const uint8_t *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | (s[j - 4] >> 6) << 4;
        *mn = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

/* ======================================================================
 * Per-ISA kernel sets (kernels/dispatch.c builds them from the reference
 * entries and the kernels/arch/ fill functions; lf_kernels_init makes one
 * active). Every entry is either a SIMD kernel or the scalar reference, so
 * callers never test for NULL except where noted.
 * ==================================================================== */

/* The matrix-vector inner kernel: s[r] = dot(row r, y) for r < nr, rows at
 * x + r * bx bytes, y in the weight type's vec_dot_type. nr is 1 ..
 * LF_MV_MAX_ROWS; the activation loads and their preparation are shared
 * across the rows. vec_dot is this with nr = 1. */
#define LF_MV_MAX_ROWS 4
typedef void (*lf_mv_fn)(int n, float *s, const void *x, size_t bx,
                         const void *y, int nr);

/* Decode products split rows in units of 16 (one 64-byte line of output
 * floats, so no two threads write the same line) handed out by lf_steal;
 * a stolen chunk streams at least LF_MV_CHUNK_BYTES of weights, since
 * every jump to a new place restarts the prefetchers. */
#define LF_MV_UNIT 16
#define LF_MV_CHUNK_BYTES (64u * 1024u)
static inline int64_t lf_mv_min_units(size_t row_bytes) {
    const size_t unit = (size_t)LF_MV_UNIT * (row_bytes ? row_bytes : 1);
    return (int64_t)((LF_MV_CHUNK_BYTES + unit - 1) / unit);
}

/* ---- packed int8 GEMM (prompt processing) -------------------------------
 * Weights are packed 16 rows at a time into a panel where every quant is an
 * unsigned byte u = q + bias, interleaved so that one 64-byte vector holds 4
 * consecutive k of each of the 16 rows ([group g][row r][4 bytes]); each
 * chunk of `chunk` k (16 or 32) has a float scale per row (sw) and, for
 * types with a min, a float offset per row (mw):
 *     w[r][k] = sw[r][ch] * (u - bias) + mw[r][ch]        (k in chunk ch)
 * Activations (already quantized to the vec_dot_type) are prepared once per
 * call into blocks of 8 columns, interleaved the same way so that one
 * pointer serves the whole tile: qs as [K/4 groups][8 columns][4 int8],
 * then per chunk d[8] (float scale), nb[8] (int32, -bias * sum of qs) and
 * ds[8] (float, d * sum of qs). Then
 *     y[r][c] = sum_ch d[c][ch] * sw[r][ch] * (nb[c][ch] + sum_k u*qs)
 *             + mw[r][ch] * ds[c][ch].
 */
#define LF_GEMM_ROWS 16
#define LF_GEMM_COLS 8

typedef void (*lf_gemm_pack_fn)(const void *w, size_t bw, int nrows, int K,
                                uint8_t *qs, float *sw, float *mw);

typedef struct lf_gemm_desc {
    int chunk;          /* k per scale: 16 or 32 (0 = no packed path) */
    int bias;           /* u = q + bias */
    int u_max;          /* largest u the type can produce */
    bool has_min;       /* mw present */
    /* Packs rows [0, nrows) (nrows <= 16; missing rows become zeros) of K
     * columns starting at w (row stride bw bytes) into qs (16 * K bytes),
     * sw and mw (16 floats per chunk each; mw only if has_min). */
    lf_gemm_pack_fn pack;
} lf_gemm_desc;

/* y[c * ldy + r] = row r of the panel · column c of the activation block
 * acts (LF_GEMM_COLS columns, layout above), r < nrows, c < ncols. */
typedef void (*lf_gemm_tile_fn)(const lf_gemm_desc *g, int K, const uint8_t *qs,
                                const float *sw, const float *mw, const void *acts,
                                int ncols, float *y, size_t ldy, int nrows);

/* ---- packed float GEMM (f32, f16, bf16 weights) --------------------------
 * The same scheme in float: a panel holds 16 weight rows converted to
 * float as [k][16 rows]; activations (rounded through the vec_dot_type)
 * are blocks of 8 columns as [k][8] floats. */
typedef void (*lf_gemm_f_pack_fn)(const void *w, size_t bw, int nrows, int K,
                                  float *panel);
typedef void (*lf_gemm_f_tile_fn)(int K, const float *panel, const float *acts,
                                  int ncols, float *y, size_t ldy, int nrows);
/* The matrix product's tile where the set has one: ncols ≤ gemm_f_cols_n
 * (at most LF_GEMM_F_COLS_MAX) columns taken anywhere in the prepared
 * activations, column c reading its value for k at cols[c][k ·
 * LF_GEMM_COLS] (one column of an 8-column block), so that a set whose
 * best register tile is not 8 columns wide runs it across the blocks.
 * Rows 0-15 from panel p0 and, when p1 is not NULL, rows 16 + r from p1;
 * nrows counts the rows of the last panel given (p0 then has all 16).
 * Column c of y is y[c * ldy + row], written, or added to with add. */
#define LF_GEMM_F_COLS_MAX 16
typedef void (*lf_gemm_f_cols_fn)(int K, const float *p0, const float *p1,
                                  const float *const *cols, int ncols, float *y, size_t ldy,
                                  int nrows, bool add);
/* kl values (f32, f16 or bf16: vt) of each of ncols ≤ LF_GEMM_COLS rows
 * at src, stride bytes apart, as [kl][LF_GEMM_COLS] floats at dst; the
 * columns past ncols are zeros. */
typedef void (*lf_gemm_f_prep_fn)(lf_type vt, const void *src, size_t stride, int ncols,
                                  int kl, float *dst);

/* Float kernels used by the ops (attention over the KV cache, norms). */
typedef float (*lf_kv_dot_fn)(const void *k, const float *q, int n);
typedef void (*lf_kv_axpy_fn)(float *y, const void *v, float a, int n);

/* ---- attention over a tile of query rows ---------------------------------
 * Up to LF_ATTN_ROWS query rows that read the same KV head (the heads of a
 * GQA group for a few consecutive tokens of a prompt). Row r: out[r]
 * (hdv floats) = softmax over keys t in [lo[r], hi[r]) of scale·q[r]·K[t],
 * applied to V; a row with an empty range gets zeros. k and v point at key
 * 0 of the head (rows k_stride / v_stride bytes apart, kv_type f32, f16 or
 * q8_0); keys from the smallest lo to the largest hi must be readable. */
#define LF_ATTN_ROWS 16
typedef struct lf_attn_tile {
    int nr;
    const float *q[LF_ATTN_ROWS];
    float *out[LF_ATTN_ROWS];
    int lo[LF_ATTN_ROWS], hi[LF_ATTN_ROWS];
    const void *k, *v;
    size_t k_stride, v_stride;
    lf_type kv_type;
    int hd, hdv;
    float scale;
} lf_attn_tile;
/* scratch: lf_attn_tile_scratch floats, 64-byte aligned. */
typedef void (*lf_attn_tile_fn)(const lf_attn_tile *t, float *scratch);
/* Floats of scratch a tile over at most n_keys keys needs (any kernel set). */
size_t lf_attn_tile_scratch(int n_keys, int hd, int hdv);
/* The tile through the active set's kernel, or row by row through
 * lf_attention_head where the set has none. */
void lf_attention_tile(const lf_attn_tile *t, float *scratch);

typedef struct lf_kernel_set {
    lf_isa_level level;
    unsigned flags;                            /* LF_KS_NO_*: features left out */
    char name[32];                             /* "avx512+vnni" */
    lf_vec_dot_fn vec_dot[LF_TYPE_COUNT];
    lf_mv_fn mv[LF_TYPE_COUNT];
    /* Activation quantizers by target type (q8_0, q8_1, q8_K, f32, f16,
     * bf16); NULL for other types. */
    lf_from_float_fn quantize_row[LF_TYPE_COUNT];
    /* Packed GEMM: NULL tile = no packed path on this ISA; gemm_pack[t]
     * defaults to the portable packer of lf_gemm_desc_get(t). */
    lf_gemm_tile_fn gemm_tile;
    int gemm_u_max;     /* largest u the tile multiplies exactly (255, or
                         * 127 for signed×signed dot instructions) */
    lf_gemm_pack_fn gemm_pack[LF_TYPE_COUNT];
    /* lf_gemm_prep_block for q8_0 / q8_K activations with K a multiple of
     * 32; NULL = column by column. */
    void (*gemm_prep_block)(const lf_gemm_desc *g, lf_type vt, const void *src, size_t stride,
                            int ncols, int K, void *acts);
    /* Packed float GEMM: the block tile, or the column tile (above,
     * gemm_f_cols_n columns at a time) that replaces it where the set has
     * one; both NULL = no packed float path. gemm_f_pack[t] defaults to
     * the portable lf_gemm_f_pack_ref. */
    lf_gemm_f_tile_fn gemm_f_tile;
    lf_gemm_f_cols_fn gemm_f_cols;
    int gemm_f_cols_n;
    lf_gemm_f_pack_fn gemm_f_pack[LF_TYPE_COUNT];
    /* The same panels straight from the interleaved layout (w: the
     * panel's first row group, bw: row_bytes); NULL = rows put back in the
     * stored layout first. */
    lf_gemm_f_pack_fn gemm_f_pack_il[LF_TYPE_COUNT];
    /* A k slice of a float activation block (lf_gemm_f_prep_slice,
     * byte-identical); NULL = that portable loop. */
    lf_gemm_f_prep_fn gemm_f_prep;
    /* K·q and y += a·V over one KV row of kv_type (f32, f16, q8_0). */
    lf_kv_dot_fn kv_dot[LF_TYPE_COUNT];
    lf_kv_axpy_fn kv_axpy[LF_TYPE_COUNT];
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    float (*sumsq_f32)(const float *a, int64_t n);
    /* Matrix-vector over one group of LF_IL_ROWS rows in the interleaved
     * layout of the type (see below): s[0..3] = dot(row r, y), x the group
     * start, bx = row_bytes of one row (as stored), nr always LF_IL_ROWS,
     * y the activation row prepared by the layout's prep_act if it has one.
     * NULL = this ISA has no kernel for the layout, and matrices of that
     * type stay as stored. */
    lf_mv_fn mv_il[LF_TYPE_COUNT];
    /* Attention over a tile of query rows (above); NULL = row by row. */
    lf_attn_tile_fn attn_tile;
    /* gate = silu(gate) · up; NULL = the portable loop of lf_swiglu. */
    void (*swiglu)(float *gate, const float *up, int64_t n);
    /* lf_softmax in place; NULL = its portable loop. */
    void (*softmax)(float *x, int64_t n);
    /* RoPE rotation of pairs [i0, i1) of every head by cs (cos, sin of
     * pair i at cs[2(i - i0)], cs[2(i - i0) + 1]; pairs (2i, 2i + 1), or
     * (i, i + n_rot/2) with neox); NULL = the portable loop of ops.c. */
    void (*rope)(float *x, int n_heads, int head_dim, const float *cs,
                 const lf_rope_params *p, int i0, int i1);
} lf_kernel_set;

/* Kernel-set flags for tests: build a set with a feature turned off. */
enum { LF_KS_NO_VNNI = 1 << 0, LF_KS_NO_DOTPROD = 1 << 1, LF_KS_NO_I8MM = 1 << 2 };

/* Fills ks for level (with flags masking features); LF_EUNSUPP if the level
 * cannot run here. */
int lf_kernel_set_build(lf_kernel_set *ks, lf_isa_level level, unsigned flags,
                        lf_error *err);
/* The active set (written by lf_kernels_init). Never NULL. */
const lf_kernel_set *lf_kernel_set_active(void);
/* Makes a copy of ks the active set (tests: a set built with flags, or with
 * entries swapped). Same rules as lf_kernels_init: no other thread may be
 * using the kernels. */
void lf_kernel_set_activate(const lf_kernel_set *ks);

/* The packing description of weight type t (NULL if none). */
const lf_gemm_desc *lf_gemm_desc_get(lf_type t);

/* Filled by kernels/arch/: each overrides the entries it implements. */
void lf_kernels_fill_avx2(lf_kernel_set *ks);
void lf_kernels_fill_avx512(lf_kernel_set *ks, bool vnni, bool bf16);
void lf_kernels_fill_neon(lf_kernel_set *ks);
void lf_kernels_fill_dotprod(lf_kernel_set *ks);
void lf_kernels_fill_attn_avx512(lf_kernel_set *ks);
/* MXFP4 × Q8_0 vec_dot and mv (arch/x86/mxfp4_avx2.c, mxfp4_avx512.c). */
void lf_kernels_fill_mxfp4_avx2(lf_kernel_set *ks);
void lf_kernels_fill_mxfp4_avx512(lf_kernel_set *ks, bool vnni);
/* MXFP4 × Q8_0 vec_dot and mv on arm64 (arch/arm/mxfp4_neon.c, baseline
 * ASIMD; arch/arm/mxfp4_dotprod.c, sdot). */
void lf_kernels_fill_mxfp4_neon(lf_kernel_set *ks);
void lf_kernels_fill_mxfp4_dotprod(lf_kernel_set *ks);
/* The AVX2 prompt path (arch/x86/gemm_avx2.c): packed int8 and float GEMM
 * tiles, activation blocks and packers; avxvnni installs the AVX-VNNI int8
 * tile (arch/x86/gemm_avxvnni.c) instead of the vpmaddubsw one. */
void lf_kernels_fill_gemm_avx2(lf_kernel_set *ks, bool avxvnni);
/* Its float path's packers (row loads and 8x8 transposes, the interleaved
 * F16 layout read in place) and activation slices, also installed in the
 * AVX-512 set. */
void lf_kernels_fill_gemm_f_prep_avx2(lf_kernel_set *ks);
void lf_gemm_tile_avxvnni(const lf_gemm_desc *g, int K, const uint8_t *qs, const float *sw,
                          const float *mw, const void *acts, int ncols, float *y, size_t ldy,
                          int nrows);
/* AVX2 vector ops (arch/x86/ops_avx2.c): SwiGLU and softmax. */
void lf_kernels_fill_ops_avx2(lf_kernel_set *ks);
void lf_gemm_prep_block_avx2(const lf_gemm_desc *g, lf_type vt, const void *src, size_t stride,
                             int ncols, int K, void *acts);

/* Prepared activation blocks (gemm_pack.c): bytes of one block of
 * LF_GEMM_COLS columns for K and chunk (a multiple of 64), and the
 * conversion of one row quantized in vt (q8_0, q8_1 or q8_K) into column c
 * of such a block. Sums are exact integer sums of the quants. */
size_t lf_gemm_acts_bytes(int K, int chunk);
void lf_gemm_prep_col(const lf_gemm_desc *g, lf_type vt, const void *src, int K,
                      void *acts, int c);
/* A whole block: columns c < ncols (≤ LF_GEMM_COLS) from the rows at
 * src + c·stride; the missing columns of the block are zeros. Through
 * ks->gemm_prep_block when the caller's set has one (byte-identical); ks is
 * passed in so the packer never reaches back to the dispatch state. */
void lf_gemm_prep_block(const lf_kernel_set *ks, const lf_gemm_desc *g, lf_type vt,
                        const void *src, size_t stride, int ncols, int K, void *acts);
/* Panel bytes (qs + sw + mw) for K, and where sw / mw start in a panel. */
size_t lf_gemm_panel_bytes(int K, int chunk);
float *lf_gemm_panel_sw(uint8_t *panel, int K);
float *lf_gemm_panel_mw(uint8_t *panel, int K, int chunk);

/* Per-share scratch owned by the pool (pool.c): called by the thread
 * running share ith during a job (usually worker ith, see lf_pool_fn),
 * returns a 64-byte aligned buffer of at least size bytes that stays valid
 * until the pool is freed or the next larger request for the same ith.
 * NULL if pool is NULL, ith is 0 (the caller brings its own) or
 * allocation fails. */
void *lf_pool_scratch(lf_pool *pool, int ith, size_t size);

/* Float panels (gemm_pack.c): portable packer for weight type t (f32,
 * f16, bf16; missing rows become zeros), activation block bytes, the
 * conversion of one row in vt (f32, f16, bf16) into column c of a block,
 * and the scalar tile. */
void lf_gemm_f_pack_ref(lf_type t, const void *w, size_t bw, int nrows, int K,
                        float *panel);
size_t lf_gemm_f_acts_bytes(int K);
void lf_gemm_f_prep_col(lf_type vt, const void *src, int K, float *acts, int c);
/* The portable lf_gemm_f_prep_fn. */
void lf_gemm_f_prep_slice(lf_type vt, const void *src, size_t stride, int ncols, int kl,
                          float *dst);
/* The AVX2 one (arch/x86/gemm_avx2.c), also installed in the AVX-512 set. */
void lf_gemm_f_prep_avx2(lf_type vt, const void *src, size_t stride, int ncols, int kl,
                         float *dst);
void lf_gemm_f_tile_ref(int K, const float *panel, const float *acts, int ncols,
                        float *y, size_t ldy, int nrows);

/* Scalar twin of the packed GEMM tile (gemm_pack.c), for tests. */
void lf_gemm_tile_ref(const lf_gemm_desc *g, int K, const uint8_t *qs,
                      const float *sw, const float *mw, const void *acts,
                      int ncols, float *y, size_t ldy, int nrows);

/* ---- interleaved weights (interleave.c) ----------------------------------
 * A matrix the decoder streams can be rewritten once, in place, so that
 * each group of LF_IL_ROWS consecutive rows (4 × row_bytes, same size as
 * stored) reads as one sequential stream in exactly the order its kernel
 * consumes it: with rows as stored, a 4-row kernel walks four streams a
 * row apart, which short rows (2-4 KiB) give the prefetchers no time to
 * follow, and every block's unaligned fields cost shuffles per row. Each
 * type defines its own layout, byte for byte, next to its functions. A
 * layout only exists for a type when it is also worth it, and a matrix is
 * only interleaved when the active kernel set has mv_il for its type. */
#define LF_IL_ROWS 4
/* the matrix products walk rows LF_MV_MAX_ROWS at a time from multiples of
 * 16: with these equal every call covers exactly one interleaved group */
_Static_assert(LF_IL_ROWS == LF_MV_MAX_ROWS, "an mv call is one interleaved group");
/* dst = the LF_IL_ROWS rows at src (each row_bytes, cols values) in the
 * interleaved layout, or back; dst and src do not overlap. */
typedef void (*lf_il_fn)(void *dst, const void *src, size_t row_bytes, int64_t cols);
typedef struct lf_il_desc {
    lf_il_fn interleave;
    lf_il_fn deinterleave;
    /* Optional: the activation row (cols values in the vec_dot_type)
     * rewritten once per product into act_bytes(cols) bytes (a multiple of
     * 64) in the form mv_il reads, so that regrouping and offset sums are
     * not redone for every group of rows. NULL: mv_il reads the
     * vec_dot_type row itself. */
    size_t (*act_bytes)(int64_t cols);
    void (*prep_act)(const void *act, void *out, int64_t cols);
    /* cols must be a multiple of this (0: of the type's block size) */
    int col_align;
} lf_il_desc;
/* The layout of type t, NULL if t has none. */
const lf_il_desc *lf_il_desc_get(lf_type t);
/* Byte offset of half k of row r in the F16 layout (groups of LF_IL_ROWS
 * rows, each a run of steps of 32 halves per row: [step][row][32]) from
 * the first row of r's group-aligned block, rows bw bytes apart as stored;
 * the float packers read panels in place through it. */
static inline size_t lf_il_f16_at(size_t bw, int r, int k) {
    return (size_t)(r / LF_IL_ROWS) * LF_IL_ROWS * bw +
           ((size_t)(k / 32) * LF_IL_ROWS + (size_t)(r % LF_IL_ROWS)) * 64 + (size_t)(k % 32) * 2;
}
/* s[0..3] for the group of interleaved w starting at row r against y in
 * the vec_dot_type (not prepared), through the scalar reference dot: for
 * a matrix interleaved under one kernel set and used under another that
 * has no mv_il for its type (tests switching ISAs). Slow, never wrong. */
void lf_mv_il_portable(const lf_mat *w, int64_t r, const void *y, float *s);
/* AVX-512 kernels for the Q4_0 / Q8_0 layouts (arch/x86/mv_il_avx512.c). */
void lf_kernels_fill_il_avx512(lf_kernel_set *ks, bool vnni);
/* Layouts defined outside interleave.c (interleave_kquants.c). */
extern const lf_il_desc lf_il_q4_K, lf_il_q5_K, lf_il_q6_K;
/* AVX-512 kernels for those layouts (arch/x86/mv_il_kquants_avx512.c):
 * sets ks->mv_il for q4_K, q5_K and q6_K. */
void lf_kernels_fill_il_kquants_avx512(lf_kernel_set *ks, bool vnni);
/* AVX2 kernels for the interleaved layouts (arch/x86/mv_il_avx2.c): sets
 * ks->mv_il for q4_0, q5_0, q8_0, f16, q4_K and q6_K; with avxvnni the
 * integer ones are the AVX-VNNI twins (arch/x86/mv_il_avxvnni.c,
 * lf_kernels_fill_il_avxvnni), which also cover q5_K. */
void lf_kernels_fill_il_avx2(lf_kernel_set *ks, bool avxvnni);
void lf_kernels_fill_il_avxvnni(lf_kernel_set *ks);
/* arm64 kernels for the Q4_0, Q5_0, Q8_0, F16, Q4_K, Q5_K and Q6_K layouts
 * (arch/arm/mv_il_neon.c, baseline ASIMD); lf_kernels_fill_il_dotprod
 * (arch/arm/mv_il_dotprod.c) replaces the integer ones with sdot kernels. */
void lf_kernels_fill_il_neon(lf_kernel_set *ks);
void lf_kernels_fill_il_dotprod(lf_kernel_set *ks);
/* arm64 vector ops (arch/arm/ops_neon.c): SwiGLU and softmax. */
void lf_kernels_fill_ops_neon(lf_kernel_set *ks);
/* arm64 attention tile (arch/arm/attn_neon.c). */
void lf_kernels_fill_attn_neon(lf_kernel_set *ks);
/* arm64 packed float GEMM tile (arch/arm/gemm_f_neon.c). */
void lf_kernels_fill_gemm_f_neon(lf_kernel_set *ks);
/* arm64 packed GEMM tile with smmla (arch/arm/gemm_i8mm.c). */
void lf_kernels_fill_gemm_i8mm(lf_kernel_set *ks);

#endif /* LF_KERNELS_INTERNAL_H */
