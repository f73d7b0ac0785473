/*
 * Synthetic models: a catalog shape in a named quantization mix, generated
 * straight into the target block format (random quants, plausible half
 * scales) instead of quantizing F32 weights, so an 8B-shaped Q4_K_M exists
 * in seconds and streams through the kernels exactly like a real one.
 *
 * Realism targets what the kernels and the memory system see: every block
 * valid and finite, per-row and per-block scale spread, sub-block scales in
 * the ranges real quantizers produce, dequantized weights with standard
 * deviation ~0.02 and mean ~0, norms ~1. Determinism: each tensor is cut
 * into fixed chunks of rows, each chunk seeded from (seed, tensor, chunk), so
 * the bytes do not depend on the number of threads.
 */
#include "model/model_internal.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fill_bytes(lf_rng *r, uint8_t *p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = lf_rng_next(r);
        memcpy(p + i, &v, 8);
    }
    if (i < n) {
        uint64_t v = lf_rng_next(r);
        memcpy(p + i, &v, n - i);
    }
}

/* Uniform integer in [lo, hi]. */
static inline int rand_int(lf_rng *r, int lo, int hi) {
    return lo + (int)((lf_rng_next(r) >> 33) % (uint64_t)(hi - lo + 1));
}

/* Block-to-block spread of scales: uniform in [0.8, 1.2). */
static inline float jitter(lf_rng *r) { return 0.8f + 0.4f * lf_rng_uniformf(r); }

/* ---- block generators --------------------------------------------------
 * Standard deviations of the quant values, for uniform random quants:
 * 16 levels 4.61, 32 levels 9.23, 64 levels 18.47, 4 levels 1.118,
 * 8 levels 2.29, 255 int8 levels 73.6. */
#define SD16 4.61f
#define SD32 9.23f
#define SD64 18.47f
#define SD4 1.118f
#define SD8 2.291f
#define SD_I8 73.6f

static float iq4nl_sd(void) {
    double s = 0, s2 = 0;
    for (int i = 0; i < 16; i++) {
        s += lf_iq4nl_values[i];
        s2 += (double)lf_iq4nl_values[i] * lf_iq4nl_values[i];
    }
    double mean = s / 16;
    return (float)sqrt(s2 / 16 - mean * mean);
}

/* Packs 8 six-bit (scale, min) pairs the way Q4_K/Q5_K store them. */
static void pack_k4_scales(uint8_t q[12], const uint8_t sc[8], const uint8_t mn[8]) {
    memset(q, 0, 12);
    for (int j = 0; j < 4; j++) {
        q[j] = sc[j] & 63;
        q[j + 4] = mn[j] & 63;
    }
    for (int j = 4; j < 8; j++) {
        q[j + 4] = (uint8_t)((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
        q[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
        q[j] |= (uint8_t)((mn[j] >> 4) << 6);
    }
}

/* Packs 16 six-bit values (stored with +32 offset) the way Q3_K stores them. */
static void pack_q3_scales(uint8_t q[12], const uint8_t s[16]) {
    memset(q, 0, 12);
    for (int j = 0; j < 16; j++) {
        uint8_t lo = s[j] & 0xF, hi = (uint8_t)(s[j] >> 4);
        if (j < 8)
            q[j] |= lo;
        else
            q[j - 8] |= (uint8_t)(lo << 4);
        q[8 + j % 4] |= (uint8_t)(hi << (2 * (j / 4)));
    }
}

/* ---- the per-type generator table -------------------------------------
 * Every block format is generated the same way: its sub-block scales (if
 * any) drawn in the ranges real quantizers produce, one fp16 scale d per
 * block from the row's sigma with jitter, an optional fp16 min as a fixed
 * ratio of d (so that the dequantized values are centred), and the quant
 * bytes uniformly random. A row says where those fields sit in the block
 * and how large they are; the order of the draws is part of the row (the
 * bytes of a seed must not change). Types without a row (the float types,
 * and any new type until it gets one) are generated as F32 values through
 * the type's reference quantizer, which is exact for the float types. */
typedef enum {
    SUB_NONE,
    SUB_Q2_K,     /* 16 × (4-bit scale | 4-bit min), equal, 8..15 */
    SUB_Q3_K,     /* 16 six-bit scales 16..31 (+32), pack_q3_scales */
    SUB_K4,       /* 8 six-bit (scale 32..63, min = scale ± 2), pack_k4_scales */
    SUB_Q6_K,     /* 16 int8 scales 64..127 */
    SUB_IQ4_XS,   /* 8 six-bit scales 8..31 (+32) in scales_l / scales_h */
} sub_kind;

typedef struct byte_span { uint16_t off, len; } byte_span;

typedef struct synth_desc {
    float level_sd;          /* sd of the quant levels; 0 = the IQ4_NL table's */
    float scale_mean;        /* typical sub-block scale (1 without sub-scales):
                              * d = sigma · jitter / (scale_mean · level_sd) */
    uint16_t d_off;          /* the fp16 d */
    int16_t m_off;           /* the fp16 min / dmin, -1 = none */
    float m_ratio;           /* min = m_ratio · d */
    sub_kind sub;
    uint16_t sub_off;        /* the sub-block scales */
    bool sub_first;          /* sub-scales drawn before d (else after) */
    byte_span quants[2];     /* random quant bytes, filled in this order */
    bool no_i8_min;          /* int8 quants: -128 becomes -127 */
} synth_desc;

#define SPAN(T, f) {offsetof(T, f), sizeof(((T *)0)->f)}

static const synth_desc synth_descs[LF_TYPE_COUNT] = {
    [LF_TYPE_Q4_0] = {.level_sd = SD16, .scale_mean = 1, .d_off = offsetof(lf_block_q4_0, d),
                      .m_off = -1, .quants = {SPAN(lf_block_q4_0, qs)}},
    [LF_TYPE_Q4_1] = {.level_sd = SD16, .scale_mean = 1, .d_off = offsetof(lf_block_q4_1, d),
                      .m_off = offsetof(lf_block_q4_1, m), .m_ratio = -7.5f,
                      .quants = {SPAN(lf_block_q4_1, qs)}},
    [LF_TYPE_Q5_0] = {.level_sd = SD32, .scale_mean = 1, .d_off = offsetof(lf_block_q5_0, d),
                      .m_off = -1, .quants = {SPAN(lf_block_q5_0, qh), SPAN(lf_block_q5_0, qs)}},
    [LF_TYPE_Q5_1] = {.level_sd = SD32, .scale_mean = 1, .d_off = offsetof(lf_block_q5_1, d),
                      .m_off = offsetof(lf_block_q5_1, m), .m_ratio = -15.5f,
                      .quants = {SPAN(lf_block_q5_1, qh), SPAN(lf_block_q5_1, qs)}},
    [LF_TYPE_Q8_0] = {.level_sd = SD_I8, .scale_mean = 1, .d_off = offsetof(lf_block_q8_0, d),
                      .m_off = -1, .quants = {SPAN(lf_block_q8_0, qs)}, .no_i8_min = true},
    [LF_TYPE_IQ4_NL] = {.level_sd = 0, .scale_mean = 1, .d_off = offsetof(lf_block_iq4_nl, d),
                        .m_off = -1, .quants = {SPAN(lf_block_iq4_nl, qs)}},
    /* value = d·sc·q − dmin·m with m = sc and dmin = 1.5·d: centred */
    [LF_TYPE_Q2_K] = {.level_sd = SD4, .scale_mean = 11.5f, .d_off = offsetof(lf_block_q2_K, d),
                      .m_off = offsetof(lf_block_q2_K, dmin), .m_ratio = 1.5f, .sub = SUB_Q2_K,
                      .sub_off = offsetof(lf_block_q2_K, scales),
                      .quants = {SPAN(lf_block_q2_K, qs)}},
    [LF_TYPE_Q3_K] = {.level_sd = SD8, .scale_mean = 23.5f, .d_off = offsetof(lf_block_q3_K, d),
                      .m_off = -1, .sub = SUB_Q3_K, .sub_off = offsetof(lf_block_q3_K, scales),
                      .sub_first = true,
                      .quants = {SPAN(lf_block_q3_K, hmask), SPAN(lf_block_q3_K, qs)}},
    [LF_TYPE_Q4_K] = {.level_sd = SD16, .scale_mean = 47.5f, .d_off = offsetof(lf_block_q4_K, d),
                      .m_off = offsetof(lf_block_q4_K, dmin), .m_ratio = 7.5f, .sub = SUB_K4,
                      .sub_off = offsetof(lf_block_q4_K, scales), .sub_first = true,
                      .quants = {SPAN(lf_block_q4_K, qs)}},
    [LF_TYPE_Q5_K] = {.level_sd = SD32, .scale_mean = 47.5f, .d_off = offsetof(lf_block_q5_K, d),
                      .m_off = offsetof(lf_block_q5_K, dmin), .m_ratio = 15.5f, .sub = SUB_K4,
                      .sub_off = offsetof(lf_block_q5_K, scales), .sub_first = true,
                      .quants = {SPAN(lf_block_q5_K, qh), SPAN(lf_block_q5_K, qs)}},
    [LF_TYPE_Q6_K] = {.level_sd = SD64, .scale_mean = 95.5f, .d_off = offsetof(lf_block_q6_K, d),
                      .m_off = -1, .sub = SUB_Q6_K, .sub_off = offsetof(lf_block_q6_K, scales),
                      .sub_first = true,
                      .quants = {SPAN(lf_block_q6_K, ql), SPAN(lf_block_q6_K, qh)}},
    [LF_TYPE_IQ4_XS] = {.level_sd = 0, .scale_mean = 19.5f, .d_off = offsetof(lf_block_iq4_xs, d),
                        .m_off = -1, .sub = SUB_IQ4_XS, .sub_off = 0, .sub_first = true,
                        .quants = {SPAN(lf_block_iq4_xs, qs)}},
};

#undef SPAN

/* Draws the sub-block scales of one block (blk) as the row describes. */
static void draw_sub_scales(const synth_desc *sd, uint8_t *blk, lf_rng *r) {
    uint8_t *q = blk + sd->sub_off;
    switch (sd->sub) {
    case SUB_NONE:
        break;
    case SUB_Q2_K:
        for (int j = 0; j < LF_QK_K / 16; j++) {
            int sc = rand_int(r, 8, 15);
            q[j] = (uint8_t)(sc | (sc << 4));
        }
        break;
    case SUB_Q3_K: {
        uint8_t s[16];
        for (int j = 0; j < 16; j++)
            s[j] = (uint8_t)(32 + rand_int(r, 16, 31));   /* stored with +32 */
        pack_q3_scales(q, s);
        break;
    }
    case SUB_K4: {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) {
            sc[j] = (uint8_t)rand_int(r, 32, 63);
            int m = sc[j] + rand_int(r, -2, 2);
            mn[j] = (uint8_t)(m > 63 ? 63 : m);
        }
        pack_k4_scales(q, sc, mn);
        break;
    }
    case SUB_Q6_K:
        for (int j = 0; j < LF_QK_K / 16; j++)
            q[j] = (uint8_t)(int8_t)rand_int(r, 64, 127);
        break;
    case SUB_IQ4_XS: {
        lf_block_iq4_xs *b = (lf_block_iq4_xs *)blk;
        b->scales_h = 0;
        memset(b->scales_l, 0, sizeof b->scales_l);
        for (int ib = 0; ib < 8; ib++) {
            int ls = 32 + rand_int(r, 8, 31);           /* stored with +32 */
            b->scales_l[ib / 2] |= (uint8_t)((ls & 0xF) << (4 * (ib % 2)));
            b->scales_h |= (uint16_t)((ls >> 4) << (2 * ib));
        }
        break;
    }
    }
}

static void put_half(uint8_t *p, float f) {
    lf_half h = lf_float_to_half(f);
    memcpy(p, &h, sizeof h);
}

/* nblocks blocks of a type with a row in synth_descs, dequantized sd ~ sigma. */
static void gen_blocks(const synth_desc *sd, size_t type_size, uint8_t *p, int64_t nblocks,
                       float sigma, lf_rng *r) {
    const float div = sd->scale_mean * (sd->level_sd > 0 ? sd->level_sd : iq4nl_sd());
    for (int64_t i = 0; i < nblocks; i++) {
        uint8_t *blk = p + (size_t)i * type_size;
        if (sd->sub_first)
            draw_sub_scales(sd, blk, r);
        float d = sigma * jitter(r) / div;
        put_half(blk + sd->d_off, d);
        if (sd->m_off >= 0)
            put_half(blk + sd->m_off, sd->m_ratio * d);
        if (!sd->sub_first)
            draw_sub_scales(sd, blk, r);
        for (int k = 0; k < 2 && sd->quants[k].len; k++)
            fill_bytes(r, blk + sd->quants[k].off, sd->quants[k].len);
        if (sd->no_i8_min)   /* quantizers never emit -128 */
            for (int k = 0; k < sd->quants[0].len; k++)
                if (blk[sd->quants[0].off + k] == 0x80)
                    blk[sd->quants[0].off + k] = 0x81;
    }
}

/* MXFP4 has no fp16 scale, so no row in the table: random codes (their
 * doubled E2M1 levels have sd 5.852) under the E8M0 exponent nearest to
 * sigma·jitter, which keeps the dequantized sd within √2 of sigma. */
#define SD_MXFP4 5.852f
static void gen_mxfp4(uint8_t *p, int64_t nblocks, float sigma, lf_rng *r) {
    for (int64_t i = 0; i < nblocks; i++) {
        lf_block_mxfp4 *b = (lf_block_mxfp4 *)p + i;
        int e = 128 + (int)lrintf(log2f(sigma * jitter(r) / SD_MXFP4));
        b->e = (uint8_t)(e < 1 ? 1 : e > 254 ? 254 : e);
        fill_bytes(r, b->qs, sizeof b->qs);
    }
}

/* One row of ncols elements of type t with dequantized sd ~ sigma; tmp
 * holds ncols floats. Returns false for unsupported types. */
static bool gen_row(lf_type t, void *dst, int64_t ncols, float sigma, lf_rng *r, float *tmp) {
    const lf_type_traits *tr = lf_type_traits_get(t);
    if (tr->block_size == 0 || !tr->from_float)
        return false;
    const synth_desc *sd = &synth_descs[t];
    if (t == LF_TYPE_MXFP4) {
        gen_mxfp4(dst, ncols / LF_QK_MXFP4, sigma, r);
        return true;
    }
    if (sd->scale_mean > 0) {   /* the type has a row */
        gen_blocks(sd, tr->type_size, dst, ncols / tr->block_size, sigma, r);
        return true;
    }
    /* no row: F32 values through the reference quantizer */
    for (int64_t i = 0; i < ncols; i++)
        tmp[i] = sigma * lf_rng_normalf(r);
    lf_quantize(t, tmp, dst, 1, ncols);
    return true;
}

int lf_synth_weights(lf_type t, void *dst, int64_t rows, int64_t cols, float sigma,
                     uint64_t seed, lf_error *err) {
    size_t rb = lf_row_size(t, cols);
    if (rb == 0 || rows < 0)
        return lf_error_set(err, LF_EUNSUPP, "synth: %s cannot hold rows of %lld columns",
                            lf_type_name(t), (long long)cols);
    float *tmp = malloc((size_t)cols * sizeof(float));
    if (!tmp)
        return lf_error_set(err, LF_ENOMEM, "synth: out of memory");
    lf_rng r;
    lf_rng_seed(&r, seed);
    for (int64_t row = 0; row < rows; row++)
        gen_row(t, (char *)dst + (size_t)row * rb, cols, sigma, &r, tmp);
    free(tmp);
    return 0;
}

/* ---- tensor plan -------------------------------------------------------- */

typedef enum { K_MATRIX, K_NORM, K_BIAS, K_SINK } tkind;

typedef struct synth_tensor {
    lf_model_tensor *t;
    tkind kind;
    int64_t rows_per_chunk;
    int64_t first_chunk;      /* global chunk index of this tensor's first chunk */
} synth_tensor;

typedef struct synth_job {
    synth_tensor *st;
    int n;
    int64_t n_chunks;
    uint64_t seed;
    int64_t max_cols;
    atomic_int failed;
} synth_job;

static void gen_chunk(synth_job *J, const synth_tensor *s, int64_t chunk, float *tmp) {
    const lf_mat *w = &s->t->mat;
    int64_t r0 = (chunk - s->first_chunk) * s->rows_per_chunk;
    int64_t r1 = r0 + s->rows_per_chunk < w->rows ? r0 + s->rows_per_chunk : w->rows;
    lf_rng r;
    lf_rng_seed(&r, J->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(chunk + 1)));
    for (int64_t row = r0; row < r1; row++) {
        void *dst = (char *)w->data + (size_t)row * w->row_bytes;
        float sigma;
        if (s->kind == K_NORM) {
            /* norm weights ~1 ± 0.05 */
            float *f = dst;
            for (int64_t i = 0; i < w->cols; i++)
                f[i] = 1.0f + 0.05f * lf_rng_normalf(&r);
            continue;
        }
        if (s->kind == K_SINK) {
            /* sink logits of the order of attention scores (real ones are
             * a few units): large enough to take a visible share */
            float *f = dst;
            for (int64_t i = 0; i < w->cols; i++)
                f[i] = 0.5f * lf_rng_normalf(&r);
            continue;
        }
        sigma = 0.02f * expf(0.2f * lf_rng_normalf(&r));   /* per-row spread */
        if (!gen_row(w->type, dst, w->cols, sigma, &r, tmp))
            J->failed = 1;
    }
}

static void synth_worker(void *arg, int ith, int nth) {
    synth_job *J = arg;
    float *tmp = malloc((size_t)J->max_cols * sizeof(float));
    if (!tmp) {
        J->failed = 1;
        return;
    }
    int ti = 0;
    for (int64_t c = ith; c < J->n_chunks; c += nth) {
        while (ti + 1 < J->n && J->st[ti + 1].first_chunk <= c)
            ti++;
        gen_chunk(J, &J->st[ti], c, tmp);
    }
    free(tmp);
}

/* Adds a tensor of ne = [cols, rows] (n_dims 1 or 2) or, for n_dims 3,
 * [cols, rows, ne2] (expert tensors), stored as rows·ne2 matrix rows. */
static int add_tensor3(lf_model *m, const char *name, lf_type type, int64_t cols, int64_t rows,
                       int64_t ne2, uint32_t n_dims, lf_error *err) {
    lf_model_tensor *t = &m->tensors[m->n_tensors];
    char *nm = strdup(name);
    if (!nm || lf_model_own(m, nm) < 0)
        return lf_error_set(err, LF_ENOMEM, "synth: out of memory");
    if (lf_row_size(type, cols) == 0)
        return lf_error_set(err, LF_EINVAL, "synth: %s: %lld columns do not fit %s blocks", name,
                            (long long)cols, lf_type_name(type));
    size_t bytes = lf_row_size(type, cols) * (size_t)rows * (size_t)ne2;
    void *data = lf_model_alloc_owned(m, bytes);
    if (!data)
        return lf_error_set(err, LF_ENOMEM, "synth: %s: cannot allocate %zu bytes", name, bytes);
    t->name = nm;
    t->n_dims = n_dims;
    t->ne[0] = cols;
    t->ne[1] = rows;
    t->ne[2] = ne2;
    t->ne[3] = 1;
    t->mat = lf_mat_make(type, rows * ne2, cols, data);
    m->n_tensors++;
    return 0;
}

/* *sum += the bytes of a [cols, rows, ne2] tensor of type t; false on
 * overflow or a row that does not fit the type's blocks. */
static bool dry_add(uint64_t *sum, lf_type t, int64_t cols, int64_t rows, int64_t ne2) {
    size_t rb = lf_row_size(t, cols), b;
    if (rb == 0 || !lf_mul_size(rb, (size_t)rows, &b) || !lf_mul_size(b, (size_t)ne2, &b) ||
        *sum + b < *sum) {
        *sum = UINT64_MAX;
        return false;
    }
    *sum += b;
    return true;
}

static lf_type mat_type(lf_mix mix, const lf_mix_model *mm, const char *name, int il,
                        int64_t cols) {
    lf_type t = lf_mix_tensor_type_model(mix, mm, name, il, cols);
    if (!lf_type_supported(t) || lf_row_size(t, cols) == 0)
        t = LF_TYPE_F16;
    return t;
}

/* The tensors of hp in mix, in file order: added to m (kinds[i] their
 * generator) or, with dry_bytes, only their bytes summed there
 * (overflow-checked: UINT64_MAX when the sum does not fit). */
static int plan_tensors(lf_model *m, const lf_model_params *hp, lf_mix mix, tkind *kinds,
                        uint64_t *dry_bytes, lf_error *err) {
    const int64_t E = hp->n_embd, V = hp->n_vocab, F = hp->n_ff, NL = hp->n_layer;
    const int64_t nq = (int64_t)hp->n_head * hp->head_dim, nk = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t nv = (int64_t)hp->n_head_kv * hp->head_dim_v, no = (int64_t)hp->n_head * hp->head_dim_v;
    int rc = 0;
    /* llama.cpp's mix rules look at GQA and tied output too */
    lf_mix_model mm = {.n_layer = hp->n_layer, .n_gqa = hp->n_head / hp->n_head_kv,
                       .tied_output = hp->tied};
    /* gpt-oss as llama.cpp's converter writes it: biases on O, the router
     * and the experts, a sink per head, the pre-FFN norm named
     * post_attention_norm, the experts in MXFP4 whatever the mix */
    const bool oss = hp->arch == LF_ARCH_GPTOSS;
    char name[96];
#define ADD(kind_, type_, cols_, rows_, nd_) ADD3(kind_, type_, cols_, rows_, 1, nd_)
#define ADD3(kind_, type_, cols_, rows_, ne2_, nd_)                                       \
    do {                                                                                  \
        if (dry_bytes) {                                                                  \
            if (!dry_add(dry_bytes, (type_), (cols_), (rows_), (ne2_)))                   \
                return lf_error_set(err, LF_ERANGE, "synth: %s: size overflows", name);   \
        } else {                                                                          \
            kinds[m->n_tensors] = (kind_);                                                \
            if ((rc = add_tensor3(m, name, (type_), (cols_), (rows_), (ne2_), (nd_), err)) < 0) \
                return rc;                                                                \
        }                                                                                 \
    } while (0)
#define ADD_MAT(il_, cols_, rows_) ADD(K_MATRIX, mat_type(mix, &mm, name, (il_), (cols_)), cols_, rows_, 2)
#define ADD_EXPS(il_, cols_, rows_, ne2_) \
    ADD3(K_MATRIX, oss ? LF_TYPE_MXFP4 : mat_type(mix, &mm, name, (il_), (cols_)), cols_, rows_, \
         ne2_, 3)
    snprintf(name, sizeof name, "token_embd.weight");
    ADD_MAT(-1, E, V);
    snprintf(name, sizeof name, "output_norm.weight");
    ADD(K_NORM, LF_TYPE_F32, E, 1, 1);
    if (!hp->tied) {
        snprintf(name, sizeof name, "output.weight");
        ADD_MAT(-1, E, V);
    }
    for (int il = 0; il < NL; il++) {
#define NM(s) snprintf(name, sizeof name, "blk.%d.%s", il, s)
        if (!hp->no_pre_norm) {
            NM("attn_norm.weight"); ADD(K_NORM, LF_TYPE_F32, E, 1, 1);
        }
        NM("attn_q.weight");      ADD_MAT(il, E, nq);
        NM("attn_k.weight");      ADD_MAT(il, E, nk);
        NM("attn_v.weight");      ADD_MAT(il, E, nv);
        if (hp->qkv_bias) {
            NM("attn_q.bias");    ADD(K_BIAS, LF_TYPE_F32, nq, 1, 1);
            NM("attn_k.bias");    ADD(K_BIAS, LF_TYPE_F32, nk, 1, 1);
            NM("attn_v.bias");    ADD(K_BIAS, LF_TYPE_F32, nv, 1, 1);
        }
        if (hp->qk_norm) {
            NM("attn_q_norm.weight"); ADD(K_NORM, LF_TYPE_F32, hp->qk_norm_full ? nq : hp->head_dim, 1, 1);
            NM("attn_k_norm.weight"); ADD(K_NORM, LF_TYPE_F32, hp->qk_norm_full ? nk : hp->head_dim, 1, 1);
        }
        NM("attn_output.weight"); ADD_MAT(il, no, E);
        if (oss) {
            NM("attn_output.bias"); ADD(K_BIAS, LF_TYPE_F32, E, 1, 1);
            NM("attn_sinks.weight"); ADD(K_SINK, LF_TYPE_F32, hp->n_head, 1, 1);
        }
        if (hp->post_norms) {
            NM("post_attention_norm.weight"); ADD(K_NORM, LF_TYPE_F32, E, 1, 1);
        }
        if (!hp->no_pre_norm) {
            NM(oss ? "post_attention_norm.weight" : "ffn_norm.weight");
            ADD(K_NORM, LF_TYPE_F32, E, 1, 1);
        }
        if (hp->n_expert > 0) {
            /* llama.cpp's layout: the router stays F32, the experts are
             * 3-D [cols, rows, n_expert] in the mix's types */
            const int64_t X = hp->n_expert, Fe = hp->n_ff_exp, Fs = hp->n_ff_shexp;
            NM("ffn_gate_inp.weight");  ADD(K_MATRIX, LF_TYPE_F32, E, X, 2);
            NM("ffn_gate_exps.weight"); ADD_EXPS(il, E, Fe, X);
            NM("ffn_up_exps.weight");   ADD_EXPS(il, E, Fe, X);
            NM("ffn_down_exps.weight"); ADD_EXPS(il, Fe, E, X);
            if (oss) {
                NM("ffn_gate_inp.bias");  ADD(K_BIAS, LF_TYPE_F32, X, 1, 1);
                NM("ffn_gate_exps.bias"); ADD(K_BIAS, LF_TYPE_F32, Fe, X, 2);
                NM("ffn_up_exps.bias");   ADD(K_BIAS, LF_TYPE_F32, Fe, X, 2);
                NM("ffn_down_exps.bias"); ADD(K_BIAS, LF_TYPE_F32, E, X, 2);
            }
            if (hp->n_expert_shared > 0) {
                if (hp->moe_shexp_gate) {
                    NM("ffn_gate_inp_shexp.weight"); ADD(K_BIAS, LF_TYPE_F32, E, 1, 1);
                }
                NM("ffn_gate_shexp.weight"); ADD_MAT(il, E, Fs);
                NM("ffn_up_shexp.weight");   ADD_MAT(il, E, Fs);
                NM("ffn_down_shexp.weight"); ADD_MAT(il, Fs, E);
            }
        } else {
            NM("ffn_gate.weight");    ADD_MAT(il, E, F);
            NM("ffn_up.weight");      ADD_MAT(il, E, F);
            NM("ffn_down.weight");    ADD_MAT(il, F, E);
        }
        if (hp->post_norms) {
            NM("post_ffw_norm.weight"); ADD(K_NORM, LF_TYPE_F32, E, 1, 1);
        }
#undef NM
    }
#undef ADD_EXPS
#undef ADD_MAT
#undef ADD3
#undef ADD
    return rc;
}

int lf_model_synth_bytes(const lf_model_params *hp_in, lf_mix mix, uint64_t *bytes,
                         lf_error *err) {
    *bytes = 0;
    if ((unsigned)mix >= LF_MIX_COUNT)
        return lf_error_set(err, LF_EINVAL, "synth: unknown mix %d", (int)mix);
    lf_model_params hp = *hp_in;
    int rc = lf_model_params_check(&hp, err);
    if (rc < 0)
        return rc;
    lf_model dry;   /* only read for its shape; nothing is added */
    memset(&dry, 0, sizeof dry);
    dry.hp = hp;
    return plan_tensors(&dry, &hp, mix, NULL, bytes, err);
}

int lf_model_synth_ex(lf_model **out, const lf_model_params *hp_in, lf_mix mix, uint64_t seed,
                      lf_pool *pool, lf_error *err) {
    *out = NULL;
    if ((unsigned)mix >= LF_MIX_COUNT)
        return lf_error_set(err, LF_EINVAL, "synth: unknown mix %d", (int)mix);
    lf_model_params hp = *hp_in;
    int rc = lf_model_params_check(&hp, err);
    if (rc < 0)
        return rc;
    lf_model *m = lf_model_alloc(&hp);
    if (!m)
        return lf_error_set(err, LF_ENOMEM, "synth: out of memory");
    m->mix = mix;
    const int64_t NL = hp.n_layer;
    int per_layer = 9 + (hp.qkv_bias ? 3 : 0) + (hp.qk_norm ? 2 : 0) + (hp.post_norms ? 2 : 0) +
                    (hp.n_expert > 0 ? 8 : 0) + (hp.arch == LF_ARCH_GPTOSS ? 6 : 0);
    int max_t = 3 + (int)NL * per_layer;
    m->tensors = calloc((size_t)max_t, sizeof *m->tensors);
    tkind *kinds = calloc((size_t)max_t, sizeof *kinds);
    if (!m->tensors || !kinds) {
        free(kinds);
        lf_model_free(m);
        return lf_error_set(err, LF_ENOMEM, "synth: out of memory");
    }
    if ((rc = plan_tensors(m, &hp, mix, kinds, NULL, err)) < 0)
        goto fail;

    /* chunk plan: ~1 MiB of rows per chunk, a function of shapes only */
    synth_tensor *st = calloc((size_t)m->n_tensors, sizeof *st);
    if (!st) {
        rc = lf_error_set(err, LF_ENOMEM, "synth: out of memory");
        goto fail;
    }
    synth_job J = {.st = st, .n = m->n_tensors, .seed = seed};
    for (int i = 0; i < m->n_tensors; i++) {
        lf_model_tensor *t = &m->tensors[i];
        st[i].t = t;
        st[i].kind = kinds[i];
        int64_t rpc = (int64_t)((1u << 20) / (t->mat.row_bytes ? t->mat.row_bytes : 1));
        st[i].rows_per_chunk = rpc < 1 ? 1 : rpc;
        st[i].first_chunk = J.n_chunks;
        J.n_chunks += (t->mat.rows + st[i].rows_per_chunk - 1) / st[i].rows_per_chunk;
        if (t->mat.cols > J.max_cols)
            J.max_cols = t->mat.cols;
    }
    if (pool)
        lf_pool_run(pool, synth_worker, &J);
    else
        synth_worker(&J, 0, 1);
    free(st);
    if (J.failed) {
        rc = lf_error_set(err, LF_EUNSUPP, "synth: a tensor type of mix %s cannot be generated",
                          lf_mix_name(mix));
        goto fail;
    }
    free(kinds);
    kinds = NULL;
    if ((rc = lf_model_bind(m, err)) < 0)
        goto fail;
    {
        lf_error verr = {0};
        if (lf_vocab_synthetic(&m->vocab, hp.n_vocab, &verr) == 0)
            m->own_vocab = true;
        else
            m->vocab = NULL;
    }
    *out = m;
    return 0;
fail:
    free(kinds);
    lf_model_free(m);
    return rc;
}

int lf_model_synth(lf_model **out, const lf_model_params *hp, lf_mix mix, uint64_t seed,
                   lf_error *err) {
    return lf_model_synth_ex(out, hp, mix, seed, NULL, err);
}
