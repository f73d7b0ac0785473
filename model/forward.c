/*
 * The forward pass: contexts (one sequence: KV cache, scratch and LoRA
 * bindings, all allocated at creation or when adapters are set) and
 * lf_ctx_eval, which runs the llama-family block over a batch of tokens.
 *
 * Per layer and batch: RMSNorm → Q/K/V products (+bias, +LoRA) → per-head
 * QK-norm and RoPE, K/V appended to the cache → attention (one pool job over
 * token × head) → output product (+post-norm) + residual → RMSNorm →
 * gate/up products → SwiGLU/GeGLU → down product (+post-norm) + residual.
 * Matrix products are lf_matmul over the whole batch, so prefill reads each
 * weight once per batch.
 *
 * Decoding (one token) multiplies the matrices that share an input — Q/K/V,
 * gate/up — in one pool job over their concatenated rows, with the input
 * quantized once: five jobs per layer (QKV, attention, output, gate/up,
 * down) instead of eight.
 *
 * Mixture-of-experts layers route each token (lf_moe_route) and run only
 * the chosen experts. Decode: the k experts' gate/up rows in one pool job
 * with the input quantized once, then their k down products in another
 * (each expert's hidden row quantized once). A batch is grouped by expert:
 * the tokens that chose expert e are gathered into one matrix and
 * multiplied by e's weights, so each chosen expert streams once per batch;
 * the results are scattered back with their weights. A shared expert is
 * the dense FFN path on the same input, scaled by its sigmoid gate.
 *
 * gpt-oss adds biases after the Q/K/V/O products, the router and each
 * expert product; a learned sink logit per head that joins each softmax
 * sum (those layers take the scalar attention path, which the SIMD tiles
 * do not cover); the clamped SwiGLU; YaRN RoPE (angles built here, the
 * kernels only rotate).
 *
 * KV cache layout, per layer: K then V, each [n_head_kv][n_ctx] rows of
 * head_dim in kv_type, so one head's keys are contiguous across positions
 * (what lf_attention_head streams).
 */
#include "kernels/internal.h"
#include "model/model_internal.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BATCH 256
#define DEFAULT_MAX_CTX 4096

typedef struct lora_bind {
    const lf_mat *a, *b;
    float scale;
} lora_bind;

struct lf_ctx {
    const lf_model *m;
    lf_pool *pool;
    int nth;
    int n_ctx;
    int n_batch;
    int pos;
    lf_type kv_type;
    size_t k_row, v_row;        /* bytes per cached position of one head */
    size_t layer_bytes;         /* K + V of one layer */
    void *kv;
    size_t kv_bytes;
    /* scratch, n_batch rows each */
    float *x;                   /* [nb][n_embd] residual stream */
    float *xb;                  /* [nb][n_embd] normed */
    float *q;                   /* [nb][n_head*hd] */
    float *k;                   /* [nb][n_kv*hd] */
    float *v;                   /* [nb][n_kv*hdv] */
    float *ao;                  /* [nb][n_head*hdv] attention output */
    float *hb, *hb2;            /* [nb][n_ff] */
    float *tmp;                 /* [nb][max(n_embd, …)] */
    float *att;                 /* [nth][n_ctx + 2*max(hd, hdv)] per-thread attention scratch */
    size_t att_stride;
    void *work;
    size_t work_size;
    void *xq;                   /* one activation row quantized (fused decode) */
    float *logits;
    int logits_rows;            /* capacity in rows of n_vocab */
    /* LoRA: entries of slot s are lora[lora_off[s] .. lora_off[s+1]) with
     * s = il * LF_W_COUNT + slot, and s = n_layer * LF_W_COUNT for output */
    lora_bind *lora;
    int *lora_off;
    float *lora_t;              /* [nb][max rank] */
    float *lora_u;              /* [nb][max n_out] */
    int lora_rank_max;
    bool fuse;                  /* fused decode products (default on) */
    /* RoPE angles of the batch's positions, computed once per batch for
     * all layers: [2][n_batch][n_rot] (second table: sliding-window layers
     * with their own base) */
    float *rope_cs;
    /* mixture of experts (NULL for dense models): one block, carved as
     * moe_layout describes */
    void *moe;
    float *moe_logits;          /* [nb][n_expert] router output */
    int32_t *moe_ids;           /* [nb][k] chosen experts */
    float *moe_w;               /* [nb][k] their weights */
    int32_t *moe_tok;           /* [nb·k] assignments grouped by expert: token·k + slot */
    int32_t *moe_cnt;           /* [n_expert + 1] group starts */
    float *moe_x;               /* [nb][n_embd] gathered inputs of one expert */
    float *moe_h, *moe_h2;      /* [max(nb, k)][n_ff_exp] */
    float *moe_y;               /* [max(nb, k)][n_embd] expert outputs */
    float *moe_acc;             /* [nb][n_embd] weighted sum */
    float *moe_p;               /* [n_expert] routing scratch */
    void *moe_xq;               /* [k] quantized hidden rows, moe_xq_row bytes each */
    size_t moe_xq_row;
};

static void *xalloc(size_t bytes) {
    void *p = NULL;
    size_t sz = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, sz ? sz : 64) != 0)
        return NULL;
    return p;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Largest matmul scratch over all matrices of m for n rows. */
static size_t model_work_size(const lf_model *m, int64_t n) {
    size_t s = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        const lf_layer *L = &m->layers[il];
        for (int w = 0; w < LF_W_COUNT; w++)
            s = max_sz(s, lf_matmul_work_size(&L->w[w], n));
        if (m->hp.n_expert > 0) {
            s = max_sz(s, lf_matmul_work_size(&L->router, n));
            for (int k = 0; k < 3; k++) {
                lf_mat e = lf_moe_expert(&L->exps[k], m->hp.n_expert, 0);
                s = max_sz(s, lf_matmul_work_size(&e, n));
            }
        }
    }
    s = max_sz(s, lf_matmul_work_size(&m->output, n));
    return s;
}

/* Widest dense (or shared-expert) FFN of m, at least n_ff. */
static size_t ffn_width(const lf_model *m) {
    size_t f = (size_t)m->hp.n_ff;
    for (int il = 0; il < m->hp.n_layer; il++)
        f = max_sz(f, (size_t)m->layers[il].w[LF_W_GATE].rows);
    return f;
}

/* Room for w's activation row prepared for its interleaved kernel, whether
 * or not the model is interleaved yet (0: that kernel reads the row as is). */
static size_t prep_room(const lf_mat *w) {
    const lf_il_desc *d = lf_il_desc_get(w->type);
    return d && d->prep_act ? d->act_bytes(w->cols) : 0;
}

/* Bytes of one expert's hidden row quantized for its down product, 64-byte
 * rounded, then that row prepared (prep_room); the largest over the layers. */
static size_t moe_xq_row(const lf_model *m) {
    size_t s = 0, p = 0;
    for (int il = 0; il < m->hp.n_layer; il++) {
        const lf_mat *d = &m->layers[il].exps[LF_EXP_DOWN];
        if (!d->data)
            continue;
        s = max_sz(s, lf_row_size(lf_type_traits_get(d->type)->vec_dot_type, d->cols));
        p = max_sz(p, prep_room(d));
    }
    return (s + 63) / 64 * 64 + (p + 63) / 64 * 64;
}

/* The MoE scratch of a context with batches of nb: offsets of each part
 * in one block (SIZE_MAX on overflow), carved by moe_carve. */
typedef struct moe_layout {
    size_t logits, ids, w, tok, cnt, x, h, h2, y, acc, p, xq, total;
} moe_layout;

static size_t moe_layout_of(const lf_model *m, size_t nb, moe_layout *L) {
    const lf_model_params *hp = &m->hp;
    memset(L, 0, sizeof *L);
    if (hp->n_expert <= 0)
        return 0;
    const size_t X = (size_t)hp->n_expert, K = (size_t)hp->n_expert_used;
    const size_t E = (size_t)hp->n_embd, Fe = (size_t)hp->n_ff_exp, f = sizeof(float);
    const size_t nr = max_sz(nb, K);
    size_t off = 0;
    struct { size_t *at; size_t a, b; } parts[] = {
        {&L->logits, nb * X, f}, {&L->ids, nb * K, 4},  {&L->w, nb * K, f},
        {&L->tok, nb * K, 4},    {&L->cnt, X + 1, 4},   {&L->x, nb, E * f},
        {&L->h, nr, Fe * f},     {&L->h2, nr, Fe * f},  {&L->y, nr, E * f},
        {&L->acc, nb, E * f},    {&L->p, X, f},         {&L->xq, K, moe_xq_row(m)},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t b;
        *parts[i].at = off;
        if (!lf_mul_size(parts[i].a, parts[i].b, &b) || !lf_add_size(b, 63, &b) ||
            !lf_add_size(off, b & ~(size_t)63, &off))
            return SIZE_MAX;
    }
    L->total = off;
    return off;
}

/* Bytes of one quantized activation row, the largest over all matrices. */
static size_t model_xq_size(const lf_model *m) {
    size_t s = 0, p = 0;
    for (int il = 0; il < m->hp.n_layer; il++)
        for (int w = 0; w < LF_W_COUNT; w++) {
            const lf_mat *mt = &m->layers[il].w[w];
            s = max_sz(s, lf_row_size(lf_type_traits_get(mt->type)->vec_dot_type, mt->cols));
            p = max_sz(p, prep_room(mt));
        }
    /* the experts' shared input row (decode) */
    for (int il = 0; il < m->hp.n_layer; il++)
        for (int k = LF_EXP_GATE; k <= LF_EXP_UP; k++) {
            const lf_mat *mt = &m->layers[il].exps[k];
            if (!mt->data)
                continue;
            s = max_sz(s, lf_row_size(lf_type_traits_get(mt->type)->vec_dot_type, mt->cols));
            p = max_sz(p, prep_room(mt));
        }
    return (s + 63) / 64 * 64 + p;
}

/* Floats of per-thread attention scratch: one head's scores over the whole
 * context, or a tile of query rows (lf_attn_tile_scratch), whichever is
 * larger. */
static size_t att_stride_floats(const lf_model_params *hp, int n_ctx) {
    const size_t hmax = max_sz((size_t)hp->head_dim, (size_t)hp->head_dim_v);
    size_t s = max_sz((size_t)n_ctx + 2 * hmax, lf_attn_tile_scratch(n_ctx, hp->head_dim, hp->head_dim_v));
    return (s + 15) & ~(size_t)15;
}

/* *sum += a·b·c, false on overflow. */
static bool add_prod(size_t *sum, size_t a, size_t b, size_t c) {
    size_t t;
    return lf_mul_size(a, b, &t) && lf_mul_size(t, c, &t) && lf_add_size(*sum, t, sum);
}

/* What lf_ctx_new allocates, with every product overflow-checked (the
 * shapes come from file headers and the context length from the user). */
size_t lf_ctx_estimate_bytes(const lf_model *m, int n_ctx, lf_type kv_type, int nthreads,
                             size_t *kv_bytes) {
    const lf_model_params *hp = &m->hp;
    if (kv_bytes)
        *kv_bytes = 0;
    if (n_ctx <= 0)
        n_ctx = hp->n_ctx_train < DEFAULT_MAX_CTX ? hp->n_ctx_train : DEFAULT_MAX_CTX;
    if (nthreads < 1)
        nthreads = 1;
    const size_t k_row = lf_row_size(kv_type, hp->head_dim), v_row = lf_row_size(kv_type, hp->head_dim_v);
    const size_t nb = (size_t)(n_ctx < DEFAULT_BATCH ? n_ctx : DEFAULT_BATCH);
    const size_t E = (size_t)hp->n_embd, F = ffn_width(m);
    moe_layout ml;
    const size_t moe_bytes = moe_layout_of(m, (size_t)(n_ctx < DEFAULT_BATCH ? n_ctx : DEFAULT_BATCH), &ml);
    const size_t nq = (size_t)hp->n_head * (size_t)hp->head_dim;
    const size_t nk = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    const size_t nv = (size_t)hp->n_head_kv * (size_t)hp->head_dim_v;
    const size_t no = (size_t)hp->n_head * (size_t)hp->head_dim_v;
    const size_t f = sizeof(float);
    size_t kv = 0, s = 15 * 64;   /* 15 buffers, each rounded up to 64 bytes */
    if (!add_prod(&kv, (size_t)hp->n_head_kv, (size_t)n_ctx, k_row + v_row) ||
        !lf_mul_size(kv, (size_t)hp->n_layer, &kv) || !lf_add_size(s, kv, &s) ||
        !add_prod(&s, nb, 2 * E, f) || !add_prod(&s, nb, nq, f) || !add_prod(&s, nb, nk, f) ||
        !add_prod(&s, nb, nv, f) || !add_prod(&s, nb, no, f) || !add_prod(&s, nb, 2 * F, f) ||
        !add_prod(&s, nb, max_sz(E, max_sz(nq, no)), f) ||
        !add_prod(&s, (size_t)nthreads, att_stride_floats(hp, n_ctx), f) ||
        !add_prod(&s, 2 * nb, (size_t)(hp->n_rot > 0 ? hp->n_rot : 1), f) ||
        !lf_add_size(s, model_work_size(m, (int64_t)nb), &s) ||
        !lf_add_size(s, model_xq_size(m), &s) || !add_prod(&s, (size_t)hp->n_vocab, f, 1) ||
        moe_bytes == SIZE_MAX || !lf_add_size(s, moe_bytes + 64, &s))
        return SIZE_MAX;
    if (kv_bytes)
        *kv_bytes = kv;
    return s;
}

/* LF_ETOOBIG when the model, a context of ctx_bytes and extra_bytes of
 * adapters exceed the model's memory budget; what names the request. */
static int check_budget(const lf_model *m, size_t ctx_bytes, size_t kv_bytes, size_t extra_bytes,
                        const char *what, lf_error *err) {
    if (!m->mem_budget)
        return 0;
    const size_t model = lf_model_total_bytes(m);
    size_t total;
    if (lf_add_size(model, ctx_bytes, &total) && lf_add_size(total, extra_bytes, &total) &&
        total <= m->mem_budget)
        return 0;
    char b_model[32], b_ctx[32], b_kv[32], b_extra[32], b_budget[32];
    lf_format_bytes(b_model, sizeof b_model, (double)model);
    lf_format_bytes(b_ctx, sizeof b_ctx, (double)ctx_bytes);
    lf_format_bytes(b_kv, sizeof b_kv, (double)kv_bytes);
    lf_format_bytes(b_extra, sizeof b_extra, (double)extra_bytes);
    lf_format_bytes(b_budget, sizeof b_budget, (double)m->mem_budget);
    return lf_error_set(err, LF_ETOOBIG,
                        "%s: model %s + context %s (KV cache %s) + adapters %s is more than the "
                        "usable memory of %s (%llu bytes)", what, b_model, b_ctx, b_kv, b_extra,
                        b_budget, (unsigned long long)m->mem_budget);
}

int lf_ctx_new(lf_ctx **out, const lf_model *m, int n_ctx, lf_type kv_type, lf_pool *pool,
               lf_error *err) {
    *out = NULL;
    const lf_model_params *hp = &m->hp;
    if (!lf_kv_type_supported(kv_type))
        return lf_error_set(err, LF_EINVAL, "KV cache type %s: use f32, f16 or q8_0",
                            lf_type_name(kv_type));
    if (n_ctx <= 0)
        n_ctx = hp->n_ctx_train < DEFAULT_MAX_CTX ? hp->n_ctx_train : DEFAULT_MAX_CTX;
    size_t k_row = lf_row_size(kv_type, hp->head_dim), v_row = lf_row_size(kv_type, hp->head_dim_v);
    if (k_row == 0 || v_row == 0)
        return lf_error_set(err, LF_EUNSUPP,
                            "KV cache type %s needs head dimensions divisible by %d (model has %d/%d)",
                            lf_type_name(kv_type), lf_type_traits_get(kv_type)->block_size,
                            hp->head_dim, hp->head_dim_v);
    size_t kv_est, need = lf_ctx_estimate_bytes(m, n_ctx, kv_type, pool ? lf_pool_size(pool) : 1,
                                                &kv_est);
    if (need == SIZE_MAX)
        return lf_error_set(err, LF_ERANGE, "context of %d positions: its size overflows", n_ctx);
    char what[64];
    snprintf(what, sizeof what, "context of %d positions", n_ctx);
    int brc = check_budget(m, need, kv_est, 0, what, err);
    if (brc < 0)
        return brc;
    lf_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return lf_error_set(err, LF_ENOMEM, "context: out of memory");
    c->m = m;
    c->pool = pool;
    c->nth = pool ? lf_pool_size(pool) : 1;
    c->n_ctx = n_ctx;
    c->n_batch = n_ctx < DEFAULT_BATCH ? n_ctx : DEFAULT_BATCH;
    c->kv_type = kv_type;
    c->fuse = true;
    c->k_row = k_row;
    c->v_row = v_row;
    c->layer_bytes = (size_t)hp->n_head_kv * (size_t)n_ctx * (k_row + v_row);
    c->kv_bytes = c->layer_bytes * (size_t)hp->n_layer;
    const size_t nb = (size_t)c->n_batch;
    const size_t E = hp->n_embd, F = ffn_width(m);
    const size_t nq = (size_t)hp->n_head * hp->head_dim, nk = (size_t)hp->n_head_kv * hp->head_dim;
    const size_t nv = (size_t)hp->n_head_kv * hp->head_dim_v, no = (size_t)hp->n_head * hp->head_dim_v;
    c->att_stride = att_stride_floats(hp, n_ctx);
    c->kv = xalloc(c->kv_bytes);
    c->x = xalloc(nb * E * sizeof(float));
    c->xb = xalloc(nb * E * sizeof(float));
    c->q = xalloc(nb * nq * sizeof(float));
    c->k = xalloc(nb * nk * sizeof(float));
    c->v = xalloc(nb * nv * sizeof(float));
    c->ao = xalloc(nb * no * sizeof(float));
    c->hb = xalloc(nb * F * sizeof(float));
    c->hb2 = xalloc(nb * F * sizeof(float));
    c->tmp = xalloc(nb * max_sz(E, max_sz(nq, no)) * sizeof(float));
    c->att = xalloc((size_t)c->nth * c->att_stride * sizeof(float));
    c->work_size = model_work_size(m, c->n_batch);
    c->work = xalloc(c->work_size);
    c->xq = xalloc(model_xq_size(m));
    c->logits_rows = 1;
    c->logits = xalloc((size_t)hp->n_vocab * sizeof(float));
    c->rope_cs = xalloc(2 * nb * (size_t)(hp->n_rot > 0 ? hp->n_rot : 1) * sizeof(float));
    moe_layout ml;
    bool moe_ok = true;
    if (moe_layout_of(m, nb, &ml) > 0) {
        char *b = c->moe = xalloc(ml.total);
        moe_ok = b != NULL;
        if (b) {
            c->moe_logits = (float *)(b + ml.logits);
            c->moe_ids = (int32_t *)(b + ml.ids);
            c->moe_w = (float *)(b + ml.w);
            c->moe_tok = (int32_t *)(b + ml.tok);
            c->moe_cnt = (int32_t *)(b + ml.cnt);
            c->moe_x = (float *)(b + ml.x);
            c->moe_h = (float *)(b + ml.h);
            c->moe_h2 = (float *)(b + ml.h2);
            c->moe_y = (float *)(b + ml.y);
            c->moe_acc = (float *)(b + ml.acc);
            c->moe_p = (float *)(b + ml.p);
            c->moe_xq = b + ml.xq;
            c->moe_xq_row = moe_xq_row(m);
        }
    }
    if (!c->kv || !c->x || !c->xb || !c->q || !c->k || !c->v || !c->ao || !c->hb || !c->hb2 ||
        !c->tmp || !c->att || !c->work || !c->logits || !c->xq || !c->rope_cs || !moe_ok) {
        size_t kvb = c->kv_bytes;
        lf_ctx_free(c);
        return lf_error_set(err, LF_ENOMEM,
                            "context of %d positions: out of memory (KV cache %zu bytes)", n_ctx, kvb);
    }
    *out = c;
    return 0;
}

void lf_ctx_free(lf_ctx *c) {
    if (!c)
        return;
    free(c->kv);
    free(c->x);
    free(c->xb);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->ao);
    free(c->hb);
    free(c->hb2);
    free(c->tmp);
    free(c->att);
    free(c->rope_cs);
    free(c->work);
    free(c->xq);
    free(c->moe);
    free(c->logits);
    free(c->lora);
    free(c->lora_off);
    free(c->lora_t);
    free(c->lora_u);
    free(c);
}

void lf_ctx_reset(lf_ctx *c) { c->pos = 0; }
void lf_ctx_truncate(lf_ctx *c, int pos) {
    if (pos >= 0 && pos < c->pos)
        c->pos = pos;
}
int lf_ctx_pos(const lf_ctx *c) { return c->pos; }
int lf_ctx_n_ctx(const lf_ctx *c) { return c->n_ctx; }
size_t lf_ctx_kv_bytes(const lf_ctx *c) { return c->kv_bytes; }
const lf_model *lf_ctx_model(const lf_ctx *c) { return c->m; }

/* ---- LoRA binding ------------------------------------------------------ */

int lf_ctx_set_adapters(lf_ctx *c, lf_lora *const *adapters, const float *scales, int n,
                        lf_error *err) {
    const lf_model_params *hp = &c->m->hp;
    const int n_slots = hp->n_layer * LF_W_COUNT + 1;
    free(c->lora);
    free(c->lora_off);
    c->lora = NULL;
    c->lora_off = NULL;
    if (n <= 0)
        return 0;
    int total = 0, rmax = 0;
    int64_t omax = 0;
    size_t work = c->work_size;
    for (int a = 0; a < n; a++) {
        if (!adapters[a])
            return lf_error_set(err, LF_EINVAL, "adapter %d is NULL", a);
        if (adapters[a]->base != c->m)
            return lf_error_set(err, LF_EMISMATCH,
                                "adapter %d was loaded for another model than this context's", a);
        total += adapters[a]->n_pairs;
        for (int p = 0; p < adapters[a]->n_pairs; p++) {
            const lf_lora_pair *lp = &adapters[a]->pairs[p];
            if (lp->rank > rmax)
                rmax = lp->rank;
            if (lp->b.rows > omax)
                omax = lp->b.rows;
            work = max_sz(work, lf_matmul_work_size(&lp->a, c->n_batch));
            work = max_sz(work, lf_matmul_work_size(&lp->b, c->n_batch));
        }
    }
    if (c->m->mem_budget) {
        size_t kv_est, ctx_bytes = lf_ctx_estimate_bytes(c->m, c->n_ctx, c->kv_type, c->nth, &kv_est);
        size_t extra = 0;
        for (int a = 0; a < n; a++)
            if (!lf_add_size(extra, lf_lora_bytes(adapters[a]), &extra))
                extra = SIZE_MAX;
        int brc = check_budget(c->m, ctx_bytes, kv_est, extra, "attaching adapters", err);
        if (brc < 0)
            return brc;
    }
    c->lora = calloc((size_t)(total ? total : 1), sizeof *c->lora);
    c->lora_off = calloc((size_t)n_slots + 1, sizeof *c->lora_off);
    if (!c->lora || !c->lora_off)
        goto oom;
    /* scratch grows here, never in eval */
    if (rmax > c->lora_rank_max || !c->lora_t) {
        free(c->lora_t);
        free(c->lora_u);
        c->lora_t = xalloc((size_t)c->n_batch * (size_t)rmax * sizeof(float));
        int64_t umax = omax;
        c->lora_u = xalloc((size_t)c->n_batch * (size_t)(umax > 0 ? umax : 1) * sizeof(float));
        c->lora_rank_max = rmax;
        if (!c->lora_t || !c->lora_u)
            goto oom;
    } else {
        /* the output width may have grown even if the rank did not */
        free(c->lora_u);
        c->lora_u = xalloc((size_t)c->n_batch * (size_t)(omax > 0 ? omax : 1) * sizeof(float));
        if (!c->lora_u)
            goto oom;
    }
    if (work > c->work_size) {
        void *w = xalloc(work);
        if (!w)
            goto oom;
        free(c->work);
        c->work = w;
        c->work_size = work;
    }
    /* bucket by slot: count, prefix sums, fill */
    for (int a = 0; a < n; a++)
        for (int p = 0; p < adapters[a]->n_pairs; p++) {
            const lf_lora_pair *lp = &adapters[a]->pairs[p];
            int s = lp->layer < 0 ? n_slots - 1 : lp->layer * LF_W_COUNT + (int)lp->slot;
            c->lora_off[s + 1]++;
        }
    for (int s = 0; s < n_slots; s++)
        c->lora_off[s + 1] += c->lora_off[s];
    int *fill = calloc((size_t)n_slots, sizeof *fill);
    if (!fill)
        goto oom;
    for (int a = 0; a < n; a++) {
        const lf_lora *l = adapters[a];
        float user = scales ? scales[a] : 1.0f;
        for (int p = 0; p < l->n_pairs; p++) {
            const lf_lora_pair *lp = &l->pairs[p];
            int s = lp->layer < 0 ? n_slots - 1 : lp->layer * LF_W_COUNT + (int)lp->slot;
            lora_bind *b = &c->lora[c->lora_off[s] + fill[s]++];
            b->a = &lp->a;
            b->b = &lp->b;
            b->scale = user * l->alpha / (float)lp->rank;
        }
    }
    free(fill);
    return 0;
oom:
    free(c->lora);
    free(c->lora_off);
    c->lora = NULL;
    c->lora_off = NULL;
    return lf_error_set(err, LF_ENOMEM, "setting adapters: out of memory");
}

/* y += the adapters bound to slot s applied to x. */
static void lora_add(lf_ctx *c, int s, const lf_mat *w, const float *x, int n, float *y) {
    if (!c->lora_off)
        return;
    for (int e = c->lora_off[s]; e < c->lora_off[s + 1]; e++) {
        const lora_bind *b = &c->lora[e];
        lf_matmul(c->pool, b->a, x, n, c->lora_t, c->work);
        lf_matmul(c->pool, b->b, c->lora_t, n, c->lora_u, c->work);
        const int64_t cnt = (int64_t)n * w->rows;
        for (int64_t i = 0; i < cnt; i++)
            y[i] += b->scale * c->lora_u[i];
    }
}

/* y (n × w.rows) = x · Wᵀ, plus the adapters bound to slot s. */
static void mm(lf_ctx *c, int s, const lf_mat *w, const float *x, int n, float *y) {
    lf_matmul(c->pool, w, x, n, y, c->work);
    lora_add(c, s, w, x, n, y);
}

/* ---- fused decode products ------------------------------------------------
 * Up to FUSE_MAX matrices with the same input and activation type: the
 * input is quantized once and one job covers all their rows, split in
 * LF_MV_UNIT-row units of the concatenation (so no two threads share a
 * cache line of an output) by lf_steal: each thread streams its own part,
 * and one that starts late or is slowed by other work leaves the rest of
 * its part to the others. A range that runs past the end of one matrix
 * goes on into the next. */

#define FUSE_MAX (2 * LF_MOE_MAX_USED)   /* an MoE decode: gate and up of k experts */

typedef struct fused_mv {
    const lf_mat *w[FUSE_MAX];
    float *y[FUSE_MAX];
    lf_mv_fn mv[FUSE_MAX];
    int64_t units[FUSE_MAX];    /* LF_MV_UNIT-row units per matrix */
    const void *xqk[FUSE_MAX];  /* per-matrix activation row, NULL = xq */
    int nw;
    int64_t total;
    const void *xq;
    lf_steal steal;             /* over the total units (fused_mv_run) */
} fused_mv;

/* Units [lo, hi) of the concatenation of f's matrices. */
static void fused_mv_range(const fused_mv *f, int64_t lo, int64_t hi) {
    int64_t base = 0;
    for (int k = 0; k < f->nw && lo < hi; k++) {
        int64_t u0 = lo > base ? lo - base : 0, u1 = hi - base;
        if (u1 > f->units[k])
            u1 = f->units[k];
        if (u0 < u1) {
            const lf_mat *w = f->w[k];
            int64_t r = u0 * LF_MV_UNIT, r1 = u1 * LF_MV_UNIT < w->rows ? u1 * LF_MV_UNIT : w->rows;
            const char *wd = w->data;
            for (; r < r1; r += LF_MV_MAX_ROWS) {
                int nr = (int)(r1 - r < LF_MV_MAX_ROWS ? r1 - r : LF_MV_MAX_ROWS);
                f->mv[k]((int)w->cols, f->y[k] + r, wd + (size_t)r * w->row_bytes, w->row_bytes,
                         f->xqk[k] ? f->xqk[k] : f->xq, nr);
            }
        }
        base += f->units[k];
    }
}

static void fused_mv_worker(void *arg, int ith, int nth) {
    fused_mv *f = arg;
    int64_t lo, hi;
    (void)nth;
    while (lf_steal_next(&f->steal, ith, &lo, &hi))
        fused_mv_range(f, lo, hi);
}

/* Runs f (w, y, mv, units, total, xq/xqk filled in) on c's pool. */
static void fused_mv_run(lf_ctx *c, fused_mv *f) {
    lf_steal_init(&f->steal, f->total, lf_pool_size(c->pool), lf_mv_min_units(f->w[0]->row_bytes));
    if (c->pool)
        lf_pool_run(c->pool, fused_mv_worker, f);
    else
        fused_mv_worker(f, 0, 1);
}

/* y_k = W_k x for one token (n = 1), k < nw; slots s[k] for adapters. */
static void mm_fused1(lf_ctx *c, const int *s, const lf_mat *const *w, int nw, const float *x,
                      float *const *y) {
    const lf_kernel_set *ks = lf_kernel_set_active();
    lf_type vt = lf_type_traits_get(w[0]->type)->vec_dot_type;
    /* one activation row serves all: the same activation type and, when
     * the row is prepared for an interleaved kernel, the same type */
    const lf_il_desc *ild = w[0]->interleaved && ks->mv_il[w[0]->type] ? lf_il_desc_get(w[0]->type) : NULL;
    const bool prep = ild && ild->prep_act;
    bool ok = true;
    for (int k = 1; k < nw; k++) {
        ok &= lf_type_traits_get(w[k]->type)->vec_dot_type == vt && w[k]->cols == w[0]->cols;
        const lf_il_desc *d = w[k]->interleaved ? lf_il_desc_get(w[k]->type) : NULL;
        if (prep || (d && d->prep_act))
            ok &= w[k]->type == w[0]->type && w[k]->interleaved == w[0]->interleaved;
    }
    for (int k = 0; k < nw; k++)   /* interleaved for another kernel set */
        ok &= !w[k]->interleaved || ks->mv_il[w[k]->type] != NULL;
    if (!ok) {
        for (int k = 0; k < nw; k++)
            mm(c, s[k], w[k], x, 1, y[k]);
        return;
    }
    fused_mv f = {.nw = nw, .xq = c->xq};   /* xqk all NULL: one shared row */
    lf_quantize_row_get(vt)(x, c->xq, w[0]->cols);
    if (prep) {
        size_t off = (lf_row_size(vt, w[0]->cols) + 63) / 64 * 64;
        ild->prep_act(c->xq, (char *)c->xq + off, w[0]->cols);
        f.xq = (char *)c->xq + off;
    }
    for (int k = 0; k < nw; k++) {
        f.w[k] = w[k];
        f.y[k] = y[k];
        f.mv[k] = w[k]->interleaved ? ks->mv_il[w[k]->type] : ks->mv[w[k]->type];
        f.units[k] = (w[k]->rows + LF_MV_UNIT - 1) / LF_MV_UNIT;
        f.total += f.units[k];
    }
    fused_mv_run(c, &f);
    for (int k = 0; k < nw; k++)
        lora_add(c, s[k], w[k], x, 1, y[k]);
}

/* ---- per-token Q/K preparation and KV store ---------------------------- */

typedef struct layer_job {
    lf_ctx *c;
    int il;
    int nb;
    int pos0;
    _Atomic int next;           /* attention tiles handed out so far */
} layer_job;

static inline void *kv_k(const lf_ctx *c, int il, int h, int p) {
    return (char *)c->kv + (size_t)il * c->layer_bytes +
           ((size_t)h * (size_t)c->n_ctx + (size_t)p) * c->k_row;
}

static inline void *kv_v(const lf_ctx *c, int il, int h, int p) {
    const size_t nkv = (size_t)c->m->hp.n_head_kv;
    return (char *)c->kv + (size_t)il * c->layer_bytes + nkv * (size_t)c->n_ctx * c->k_row +
           ((size_t)h * (size_t)c->n_ctx + (size_t)p) * c->v_row;
}

static void rope_params(const lf_model *m, int il, lf_rope_params *rp) {
    const lf_model_params *hp = &m->hp;
    bool swa = lf_model_params_layer_swa(hp, il);
    rp->n_rot = hp->n_rot;
    rp->neox = hp->rope_neox;
    rp->freq_factors = m->rope_freqs;
    if (swa && hp->rope_base_swa > 0) {
        rp->base = hp->rope_base_swa;
        rp->freq_scale = 1.0f;
    } else {
        rp->base = hp->rope_base;
        rp->freq_scale = (hp->rope_scaling == LF_ROPE_SCALING_LINEAR ||
                          hp->rope_scaling == LF_ROPE_SCALING_YARN)
                             ? 1.0f / hp->rope_scale_factor
                             : 1.0f;
    }
}

/* YaRN's angles for position pos, as llama.cpp computes them: pair i
 * blends the interpolated angle (× freq_scale) and the original one by a
 * ramp over the pairs between the correction dims of beta_fast = 32 and
 * beta_slow = 1 rotations in the original context, and cos/sin carry the
 * magnitude attn_factor·(1 + 0.1·ln(1/freq_scale)), where llama.cpp's
 * attn_factor is (1 + 0.1·ln F)/(1 + 0.1·ln F)·rope.scaling.attn_factor
 * for the model's factor F. */
static void yarn_table(float *cs, int64_t pos, const lf_rope_params *rp, const lf_model_params *hp) {
    const int n_dims = rp->n_rot;
    const double base = rp->base, fs = rp->freq_scale;
    const int orig = hp->rope_orig_ctx > 0 ? hp->rope_orig_ctx : hp->n_ctx_train;
    const double two_pi = 2.0 * 3.14159265358979323846;
    /* the dims where beta rotations fit in the original context */
    double lo = floor(n_dims * log(orig / (32.0 * two_pi)) / (2 * log(base)));
    double hi = ceil(n_dims * log(orig / (1.0 * two_pi)) / (2 * log(base)));
    lo = lo > 0 ? lo : 0;
    hi = hi < n_dims - 1 ? hi : n_dims - 1;
    const float attn = hp->rope_attn_factor > 0 ? hp->rope_attn_factor : 1.0f;
    const float mscale = attn * (1.0f + 0.1f * logf((float)(1.0 / fs)));
    for (int i = 0; i < n_dims / 2; i++) {
        double extrap = (double)pos * pow(base, -2.0 * i / n_dims);
        if (rp->freq_factors)
            extrap /= rp->freq_factors[i];
        const double interp = fs * extrap;
        double y = (i - lo) / (hi - lo > 0.001 ? hi - lo : 0.001);
        const double ramp = 1.0 - (y < 0 ? 0 : y > 1 ? 1 : y);
        const double theta = interp * (1 - ramp) + extrap * ramp;
        cs[2 * i] = (float)cos(theta) * mscale;
        cs[2 * i + 1] = (float)sin(theta) * mscale;
    }
}

/* Table 1 serves sliding-window layers when they have a base of their own. */
static int rope_table_of(const lf_model *m, int il) {
    return lf_model_params_layer_swa(&m->hp, il) && m->hp.rope_base_swa > 0 ? 1 : 0;
}

static float *rope_cs_row(const lf_ctx *c, int il, int i) {
    const size_t n_rot = (size_t)c->m->hp.n_rot;
    return c->rope_cs + ((size_t)rope_table_of(c->m, il) * (size_t)c->n_batch + (size_t)i) * n_rot;
}

/* The angles of positions pos0 .. pos0+nb-1 for every table in use. */
static void rope_batch(lf_ctx *c, int nb, int pos0) {
    const lf_model *m = c->m;
    bool done[2] = {false, false};
    for (int il = 0; il < m->hp.n_layer; il++) {
        int tab = rope_table_of(m, il);
        if (done[tab])
            continue;
        done[tab] = true;
        lf_rope_params rp;
        rope_params(m, il, &rp);
        const bool yarn = m->hp.rope_scaling == LF_ROPE_SCALING_YARN;
        for (int i = 0; i < nb; i++) {
            if (yarn)
                yarn_table(rope_cs_row(c, il, i), pos0 + i, &rp, &m->hp);
            else
                lf_rope_table(rope_cs_row(c, il, i), pos0 + i, &rp);
        }
    }
}

static void prep_token(lf_ctx *c, int il, int i, int pos) {
    const lf_model *m = c->m;
    const lf_model_params *hp = &m->hp;
    const lf_layer *L = &m->layers[il];
    const int hd = hp->head_dim, hdv = hp->head_dim_v;
    float *q = c->q + (size_t)i * hp->n_head * hd;
    float *k = c->k + (size_t)i * hp->n_head_kv * hd;
    float *v = c->v + (size_t)i * hp->n_head_kv * hdv;
    if (L->q_norm && hp->qk_norm_full) {
        lf_rmsnorm(q, q, L->q_norm, (int64_t)hp->n_head * hd, hp->norm_eps);
        lf_rmsnorm(k, k, L->k_norm, (int64_t)hp->n_head_kv * hd, hp->norm_eps);
    } else if (L->q_norm) {
        for (int h = 0; h < hp->n_head; h++)
            lf_rmsnorm(q + h * hd, q + h * hd, L->q_norm, hd, hp->norm_eps);
        for (int h = 0; h < hp->n_head_kv; h++)
            lf_rmsnorm(k + h * hd, k + h * hd, L->k_norm, hd, hp->norm_eps);
    }
    lf_rope_params rp;
    rope_params(m, il, &rp);
    const float *cs = rope_cs_row(c, il, i);
    lf_rope_apply(q, hp->n_head, hd, cs, &rp);
    lf_rope_apply(k, hp->n_head_kv, hd, cs, &rp);
    for (int h = 0; h < hp->n_head_kv; h++) {
        lf_kv_store(kv_k(c, il, h, pos), k + h * hd, c->kv_type, hd);
        lf_kv_store(kv_v(c, il, h, pos), v + h * hdv, c->kv_type, hdv);
    }
}

static void prep_worker(void *arg, int ith, int nth) {
    layer_job *J = arg;
    int64_t lo, hi;
    lf_split_range(J->nb, ith, nth, &lo, &hi);
    for (int64_t i = lo; i < hi; i++)
        prep_token(J->c, J->il, (int)i, J->pos0 + (int)i);
}

/* ---- attention ----------------------------------------------------------- */

/* The variants the attention kernels do not cover: soft-capped scores
 * (gemma2: cap·tanh(scale·q·k / cap), cap > 0) and a sink logit (gpt-oss:
 * sink non-NULL, one more term exp(*sink − max) in the softmax sum, no
 * value row). The per-row products are the active set's KV kernels.
 * att: n_kv floats. */
static void attention_scalar(float *out, const float *q, const void *k, size_t k_stride,
                             const void *v, size_t v_stride, lf_type kv_type, int64_t n_kv,
                             int hd, int hdv, float scale, float cap, const float *sink,
                             float *att) {
    const lf_kernel_set *ks = lf_kernel_set_active();
    lf_kv_dot_fn dot = ks->kv_dot[kv_type];
    lf_kv_axpy_fn axpy = ks->kv_axpy[kv_type];
    float mx = sink ? *sink : -INFINITY;
    for (int64_t t = 0; t < n_kv; t++) {
        float s = scale * dot((const char *)k + (size_t)t * k_stride, q, hd);
        if (cap > 0)
            s = cap * tanhf(s / cap);
        att[t] = s;
        if (s > mx)
            mx = s;
    }
    float sum = sink ? expf(*sink - mx) : 0;
    for (int64_t t = 0; t < n_kv; t++) {
        att[t] = expf(att[t] - mx);
        sum += att[t];
    }
    const float inv = 1.0f / sum;
    memset(out, 0, (size_t)hdv * sizeof(float));
    for (int64_t t = 0; t < n_kv; t++)
        axpy(out, (const char *)v + (size_t)t * v_stride, att[t] * inv, hdv);
}

static void attn_worker(void *arg, int ith, int nth) {
    layer_job *J = arg;
    lf_ctx *c = J->c;
    const lf_model_params *hp = &c->m->hp;
    const int hd = hp->head_dim, hdv = hp->head_dim_v;
    const int gqa = hp->n_head / hp->n_head_kv;
    const float scale = hp->attn_scale > 0 ? hp->attn_scale : 1.0f / sqrtf((float)hd);
    const bool swa = lf_model_params_layer_swa(hp, J->il);
    const float *sinks = c->m->layers[J->il].attn_sinks;
    float *att = c->att + (size_t)ith * c->att_stride;
    int64_t lo, hi;
    lf_split_range((int64_t)J->nb * hp->n_head, ith, nth, &lo, &hi);
    for (int64_t idx = lo; idx < hi; idx++) {
        int i = (int)(idx / hp->n_head), h = (int)(idx % hp->n_head);
        int kvh = h / gqa;
        int p = J->pos0 + i;
        int start = swa && p + 1 > hp->swa_window ? p + 1 - hp->swa_window : 0;
        const float *q = c->q + ((size_t)i * hp->n_head + h) * hd;
        float *out = c->ao + ((size_t)i * hp->n_head + h) * hdv;
        const void *k = kv_k(c, J->il, kvh, start), *v = kv_v(c, J->il, kvh, start);
        if (hp->attn_softcap > 0 || sinks)
            attention_scalar(out, q, k, c->k_row, v, c->v_row, c->kv_type, p + 1 - start, hd,
                             hdv, scale, hp->attn_softcap, sinks ? &sinks[h] : NULL, att);
        else
            lf_attention_head(out, q, k, c->k_row, v, c->v_row, c->kv_type, p + 1 - start, hd,
                              scale, att);
    }
}

/* Attention for a batch: tiles of up to LF_ATTN_ROWS query rows that read
 * the same KV head — the heads of one GQA group for 16/gqa consecutive
 * tokens (or 16 heads of one token when a group is larger) — so each key
 * and value row is converted and read once per tile instead of once per
 * head and token. Tiles are handed out last token first: their cost grows
 * with the position, and the long ones should not be left for the end. */
static void attn_tiles_worker(void *arg, int ith, int nth) {
    layer_job *J = arg;
    lf_ctx *c = J->c;
    const lf_model_params *hp = &c->m->hp;
    const int gqa = hp->n_head / hp->n_head_kv;
    const bool swa = lf_model_params_layer_swa(hp, J->il);
    const int tpt = gqa <= LF_ATTN_ROWS ? LF_ATTN_ROWS / gqa : 1;     /* tokens per tile */
    const int gpt = gqa <= LF_ATTN_ROWS ? gqa : LF_ATTN_ROWS;         /* heads per tile */
    const int hchunks = (gqa + gpt - 1) / gpt;
    const int tok_tiles = (J->nb + tpt - 1) / tpt;
    const int per_head = tok_tiles * hchunks;
    const int total = per_head * hp->n_head_kv;
    float *scratch = c->att + (size_t)ith * c->att_stride;
    (void)nth;
    lf_attn_tile t = {
        .k_stride = c->k_row, .v_stride = c->v_row, .kv_type = c->kv_type,
        .hd = hp->head_dim, .hdv = hp->head_dim_v,
        .scale = hp->attn_scale > 0 ? hp->attn_scale : 1.0f / sqrtf((float)hp->head_dim),
    };
    for (;;) {
        int item = atomic_fetch_add_explicit(&J->next, 1, memory_order_relaxed);
        if (item >= total)
            break;
        int kvh = item % hp->n_head_kv, rest = per_head - 1 - item / hp->n_head_kv;
        int tt = rest / hchunks, hc = rest % hchunks;
        int i0 = tt * tpt, i1 = i0 + tpt < J->nb ? i0 + tpt : J->nb;
        int g0 = hc * gpt, g1 = g0 + gpt < gqa ? g0 + gpt : gqa;
        t.k = kv_k(c, J->il, kvh, 0);
        t.v = kv_v(c, J->il, kvh, 0);
        t.nr = 0;
        for (int i = i0; i < i1; i++) {
            int p = J->pos0 + i;
            int start = swa && p + 1 > hp->swa_window ? p + 1 - hp->swa_window : 0;
            for (int g = g0; g < g1; g++) {
                int h = kvh * gqa + g;
                t.q[t.nr] = c->q + ((size_t)i * hp->n_head + h) * hp->head_dim;
                t.out[t.nr] = c->ao + ((size_t)i * hp->n_head + h) * hp->head_dim_v;
                t.lo[t.nr] = start;
                t.hi[t.nr] = p + 1;
                t.nr++;
            }
        }
        lf_attention_tile(&t, scratch);
    }
}

static void run(lf_ctx *c, lf_pool_fn fn, void *arg) {
    if (c->pool)
        lf_pool_run(c->pool, fn, arg);
    else
        fn(arg, 0, 1);
}

/* ---- evaluation ---------------------------------------------------------- */

static void add_bias(float *y, const float *b, int n, int64_t width) {
    if (!b)
        return;
    for (int i = 0; i < n; i++)
        lf_add(y + (size_t)i * width, b, width);
}

static void rmsnorm_rows(float *out, const float *x, const float *w, int n, int64_t width,
                         float eps) {
    for (int i = 0; i < n; i++)
        lf_rmsnorm(out + (size_t)i * width, x + (size_t)i * width, w, width, eps);
}

/* gate[0..n) = act(gate)·up with the model's gated activation. */
static void glu(const lf_model_params *hp, float *gate, const float *up, int64_t n) {
    if (hp->act == LF_ACT_GELU) {
        lf_gelu(gate, n);
        lf_mul(gate, up, n);
    } else if (hp->act == LF_ACT_SWIGLU_OAI) {
        /* gpt-oss's constants (llama.cpp fixes them in code too) */
        const float alpha = 1.702f, limit = 7.0f;
        for (int64_t i = 0; i < n; i++) {
            const float g = gate[i] < limit ? gate[i] : limit;
            const float u = up[i] < -limit ? -limit : up[i] > limit ? limit : up[i];
            gate[i] = g / (1.0f + expf(-alpha * g)) * (u + 1.0f);
        }
    } else {
        lf_swiglu(gate, up, n);
    }
}

/* ---- mixture of experts -------------------------------------------------- */

/* Adds expert e's bias row (width values of b, NULL = none) to n rows of y. */
static void add_expert_bias(float *y, const float *b, int e, int n, int64_t width) {
    if (b)
        add_bias(y, b + (size_t)e * (size_t)width, n, width);
}

/* The matrix-vector kernel for w under ks: the interleaved layout's when w
 * is in it (expert tensors are interleaved whole, so every expert's slice
 * is too), NULL when ks has none for it. */
static lf_mv_fn mv_for(const lf_kernel_set *ks, const lf_mat *w) {
    return w->interleaved ? ks->mv_il[w->type] : ks->mv[w->type];
}

/* w's interleaved layout when its kernel reads the activation row
 * prepared (lf_il_desc.prep_act), else NULL. */
static const lf_il_desc *prep_desc(const lf_mat *w) {
    const lf_il_desc *d = w->interleaved ? lf_il_desc_get(w->type) : NULL;
    return d && d->prep_act ? d : NULL;
}

/* The activation row xq (w's vec_dot_type) as w's kernel reads it: xq, or
 * xq prepared into the 64-byte-aligned room after it (model_xq_size and
 * moe_xq_row leave it), which leaves xq itself intact for other readers. */
static const void *prep_for(const lf_mat *w, void *xq) {
    const lf_il_desc *d = prep_desc(w);
    if (!d)
        return xq;
    char *p = (char *)xq + (lf_row_size(lf_type_traits_get(w->type)->vec_dot_type, w->cols) + 63) /
                               64 * 64;
    d->prep_act(xq, p, w->cols);
    return p;
}

/* One token's k experts (c->moe_ids/moe_w row 0) into out[n_embd]: their
 * gate/up rows in one pool job on the input quantized once, then their
 * down products in a second job, each hidden row quantized once. false
 * (nothing done) when a type has no matrix-vector kernel or the gate and
 * up activation types differ: the caller takes the batch path. */
static bool moe_decode(lf_ctx *c, const lf_layer *L, const float *in, float *out) {
    const lf_model_params *hp = &c->m->hp;
    const int K = hp->n_expert_used, X = hp->n_expert;
    const int64_t Fe = hp->n_ff_exp, E = hp->n_embd;
    const lf_kernel_set *ks = lf_kernel_set_active();
    const lf_mat *g = &L->exps[LF_EXP_GATE], *u = &L->exps[LF_EXP_UP], *d = &L->exps[LF_EXP_DOWN];
    const lf_type vt = lf_type_traits_get(g->type)->vec_dot_type;
    const lf_type vd = lf_type_traits_get(d->type)->vec_dot_type;
    const lf_il_desc *pg = prep_desc(g), *pu = prep_desc(u);
    if (lf_type_traits_get(u->type)->vec_dot_type != vt || !mv_for(ks, g) || !mv_for(ks, u) ||
        !mv_for(ks, d) || (pg && pu && pg->prep_act != pu->prep_act))
        return false;
    lf_mat views[FUSE_MAX];
    fused_mv f = {.nw = 2 * K, .xq = c->xq};
    lf_quantize_row_get(vt)(in, c->xq, E);
    const void *xg = prep_for(g, c->xq), *xu = prep_for(u, c->xq);
    for (int j = 0; j < K; j++) {
        const int e = c->moe_ids[j];
        views[2 * j] = lf_moe_expert(g, X, e);
        views[2 * j + 1] = lf_moe_expert(u, X, e);
        f.y[2 * j] = c->moe_h + (size_t)j * Fe;
        f.y[2 * j + 1] = c->moe_h2 + (size_t)j * Fe;
    }
    for (int k = 0; k < 2 * K; k++) {
        f.w[k] = &views[k];
        f.mv[k] = mv_for(ks, &views[k]);
        f.xqk[k] = k % 2 ? xu : xg;
        f.units[k] = (views[k].rows + LF_MV_UNIT - 1) / LF_MV_UNIT;
        f.total += f.units[k];
    }
    fused_mv_run(c, &f);
    for (int j = 0; j < K; j++) {
        add_expert_bias(c->moe_h + (size_t)j * Fe, L->exps_b[LF_EXP_GATE], c->moe_ids[j], 1, Fe);
        add_expert_bias(c->moe_h2 + (size_t)j * Fe, L->exps_b[LF_EXP_UP], c->moe_ids[j], 1, Fe);
    }
    glu(hp, c->moe_h, c->moe_h2, (int64_t)K * Fe);

    fused_mv f2 = {.nw = K, .xq = NULL};
    const lf_from_float_fn q = lf_quantize_row_get(vd);
    for (int j = 0; j < K; j++) {
        void *xq = (char *)c->moe_xq + (size_t)j * c->moe_xq_row;
        q(c->moe_h + (size_t)j * Fe, xq, Fe);
        views[j] = lf_moe_expert(d, X, c->moe_ids[j]);
        f2.w[j] = &views[j];
        f2.y[j] = c->moe_y + (size_t)j * E;
        f2.mv[j] = mv_for(ks, d);
        f2.xqk[j] = prep_for(d, xq);
        f2.units[j] = (E + LF_MV_UNIT - 1) / LF_MV_UNIT;
        f2.total += f2.units[j];
    }
    fused_mv_run(c, &f2);
    memset(out, 0, (size_t)E * sizeof(float));
    for (int j = 0; j < K; j++) {
        add_expert_bias(c->moe_y + (size_t)j * E, L->exps_b[LF_EXP_DOWN], c->moe_ids[j], 1, E);
        const float w = c->moe_w[j], *y = c->moe_y + (size_t)j * E;
        for (int64_t i = 0; i < E; i++)
            out[i] += w * y[i];
    }
    return true;
}

/* A batch's experts into out[nb][n_embd], grouped by expert: the rows of
 * the tokens that chose expert e are gathered and multiplied by e's
 * weights as one matrix product, then scattered back with their weights.
 * Experts nobody chose are not read. */
static void moe_batch(lf_ctx *c, const lf_layer *L, const float *in, int nb, float *out) {
    const lf_model_params *hp = &c->m->hp;
    const int K = hp->n_expert_used, X = hp->n_expert;
    const int64_t Fe = hp->n_ff_exp, E = hp->n_embd;
    int32_t *cnt = c->moe_cnt;
    /* counting sort of the nb·k assignments by expert */
    memset(cnt, 0, (size_t)(X + 1) * sizeof *cnt);
    for (int a = 0; a < nb * K; a++)
        cnt[c->moe_ids[a] + 1]++;
    for (int e = 0; e < X; e++)
        cnt[e + 1] += cnt[e];
    for (int a = 0; a < nb * K; a++)
        c->moe_tok[cnt[c->moe_ids[a]]++] = a;
    for (int e = X; e > 0; e--)   /* the fill advanced each start to the next */
        cnt[e] = cnt[e - 1];
    cnt[0] = 0;
    memset(out, 0, (size_t)nb * (size_t)E * sizeof(float));
    for (int e = 0; e < X; e++) {
        const int a0 = cnt[e], n = cnt[e + 1] - a0;
        if (n == 0)
            continue;
        for (int r = 0; r < n; r++)
            memcpy(c->moe_x + (size_t)r * E, in + (size_t)(c->moe_tok[a0 + r] / K) * E,
                   (size_t)E * sizeof(float));
        const lf_mat g = lf_moe_expert(&L->exps[LF_EXP_GATE], X, e);
        const lf_mat u = lf_moe_expert(&L->exps[LF_EXP_UP], X, e);
        const lf_mat d = lf_moe_expert(&L->exps[LF_EXP_DOWN], X, e);
        lf_matmul(c->pool, &g, c->moe_x, n, c->moe_h, c->work);
        lf_matmul(c->pool, &u, c->moe_x, n, c->moe_h2, c->work);
        add_expert_bias(c->moe_h, L->exps_b[LF_EXP_GATE], e, n, Fe);
        add_expert_bias(c->moe_h2, L->exps_b[LF_EXP_UP], e, n, Fe);
        glu(hp, c->moe_h, c->moe_h2, (int64_t)n * Fe);
        lf_matmul(c->pool, &d, c->moe_h, n, c->moe_y, c->work);
        add_expert_bias(c->moe_y, L->exps_b[LF_EXP_DOWN], e, n, E);
        for (int r = 0; r < n; r++) {
            const int a = c->moe_tok[a0 + r];
            const float w = c->moe_w[a], *y = c->moe_y + (size_t)r * E;
            float *o = out + (size_t)(a / K) * E;
            for (int64_t i = 0; i < E; i++)
                o[i] += w * y[i];
        }
    }
}

/* The dense FFN (or a shared expert) of layer L on in[nb] into c->tmp. */
static void dense_ffn(lf_ctx *c, const lf_layer *L, int s0, const float *in, int nb) {
    const int64_t F = L->w[LF_W_GATE].rows;
    if (nb == 1 && c->fuse) {
        const int sl[2] = {s0 + LF_W_GATE, s0 + LF_W_UP};
        const lf_mat *ws[2] = {&L->w[LF_W_GATE], &L->w[LF_W_UP]};
        float *const ys[2] = {c->hb, c->hb2};
        mm_fused1(c, sl, ws, 2, in, ys);
    } else {
        mm(c, s0 + LF_W_GATE, &L->w[LF_W_GATE], in, nb, c->hb);
        mm(c, s0 + LF_W_UP, &L->w[LF_W_UP], in, nb, c->hb2);
    }
    glu(&c->m->hp, c->hb, c->hb2, (int64_t)nb * F);
    mm(c, s0 + LF_W_DOWN, &L->w[LF_W_DOWN], c->hb, nb, c->tmp);
}

/* The mixture-of-experts FFN of layer L on in[nb] into c->tmp: routing,
 * the chosen experts, plus the shared expert (× its sigmoid gate). */
static void moe_ffn(lf_ctx *c, const lf_layer *L, int s0, const float *in, int nb) {
    const lf_model_params *hp = &c->m->hp;
    const int K = hp->n_expert_used, X = hp->n_expert;
    const int64_t E = hp->n_embd;
    lf_matmul(c->pool, &L->router, in, nb, c->moe_logits, c->work);
    add_bias(c->moe_logits, L->router_b, nb, X);
    for (int i = 0; i < nb; i++)
        lf_moe_route(hp, c->moe_logits + (size_t)i * X, L->exp_bias, c->moe_ids + (size_t)i * K,
                     c->moe_w + (size_t)i * K, c->moe_p);
    if (!(nb == 1 && moe_decode(c, L, in, c->moe_acc)))
        moe_batch(c, L, in, nb, c->moe_acc);
    if (!L->w[LF_W_GATE].data) {
        memcpy(c->tmp, c->moe_acc, (size_t)nb * (size_t)E * sizeof(float));
        return;
    }
    dense_ffn(c, L, s0, in, nb);
    if (L->shexp_gate)
        for (int i = 0; i < nb; i++) {
            const float gl = lf_dot_f32(L->shexp_gate, in + (size_t)i * E, E);
            lf_scale(c->tmp + (size_t)i * E, 1.0f / (1.0f + expf(-gl)), E);
        }
    lf_add(c->tmp, c->moe_acc, (int64_t)nb * E);
}

/* One batch of nb tokens at pos0; out_rows logits rows (0, 1 = last, nb)
 * written to logits. */
static void eval_batch(lf_ctx *c, const int32_t *tokens, int nb, int pos0, float *logits,
                       int out_rows) {
    const lf_model *m = c->m;
    const lf_model_params *hp = &m->hp;
    const int64_t E = hp->n_embd;
    const int64_t nq = (int64_t)hp->n_head * hp->head_dim, nk = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t nv = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const float eps = hp->norm_eps;

    /* embeddings: one row per token, any storage type */
    lf_to_float_fn emb_to_float = lf_type_traits_get(m->tok_embd.type)->to_float;
    for (int i = 0; i < nb; i++) {
        if (m->tok_embd.interleaved) {
            /* a tied embedding rewritten for the output product */
            if (lf_mat_rows_to_float(&m->tok_embd, tokens[i], 1, c->x + (size_t)i * E) < 0)
                memset(c->x + (size_t)i * E, 0, sizeof(float) * (size_t)E);
        } else {
            const void *row = (const char *)m->tok_embd.data + (size_t)tokens[i] * m->tok_embd.row_bytes;
            emb_to_float(row, c->x + (size_t)i * E, E);
        }
        if (hp->embd_scale)
            lf_scale(c->x + (size_t)i * E, sqrtf((float)E), E);
        if (hp->embd_mult > 0)
            lf_scale(c->x + (size_t)i * E, hp->embd_mult, E);
    }

    rope_batch(c, nb, pos0);
    for (int il = 0; il < hp->n_layer; il++) {
        const lf_layer *L = &m->layers[il];
        const int s0 = il * LF_W_COUNT;
        layer_job J = {.c = c, .il = il, .nb = nb, .pos0 = pos0};

        /* olmo2 has no pre-norms: the projections read the stream itself */
        const float *in = c->x;
        if (L->attn_norm) {
            rmsnorm_rows(c->xb, c->x, L->attn_norm, nb, E, eps);
            in = c->xb;
        }
        if (nb == 1 && c->fuse) {
            const int sl[3] = {s0 + LF_W_Q, s0 + LF_W_K, s0 + LF_W_V};
            const lf_mat *ws[3] = {&L->w[LF_W_Q], &L->w[LF_W_K], &L->w[LF_W_V]};
            float *const ys[3] = {c->q, c->k, c->v};
            mm_fused1(c, sl, ws, 3, in, ys);
        } else {
            mm(c, s0 + LF_W_Q, &L->w[LF_W_Q], in, nb, c->q);
            mm(c, s0 + LF_W_K, &L->w[LF_W_K], in, nb, c->k);
            mm(c, s0 + LF_W_V, &L->w[LF_W_V], in, nb, c->v);
        }
        add_bias(c->q, L->bq, nb, nq);
        add_bias(c->k, L->bk, nb, nk);
        add_bias(c->v, L->bv, nb, nv);
        if (nb == 1)
            prep_token(c, il, 0, pos0);
        else
            run(c, prep_worker, &J);
        /* the tiles know neither soft-capping nor sinks */
        if (nb > 1 && hp->attn_softcap <= 0 && !L->attn_sinks)
            run(c, attn_tiles_worker, &J);
        else
            run(c, attn_worker, &J);
        mm(c, s0 + LF_W_O, &L->w[LF_W_O], c->ao, nb, c->tmp);
        add_bias(c->tmp, L->bo, nb, E);
        if (L->post_attn_norm)
            rmsnorm_rows(c->tmp, c->tmp, L->post_attn_norm, nb, E, eps);
        if (hp->residual_mult > 0)
            lf_scale(c->tmp, hp->residual_mult, (int64_t)nb * E);
        lf_add(c->x, c->tmp, (int64_t)nb * E);

        in = c->x;
        if (L->ffn_norm) {
            rmsnorm_rows(c->xb, c->x, L->ffn_norm, nb, E, eps);
            in = c->xb;
        }
        if (hp->n_expert > 0)
            moe_ffn(c, L, s0, in, nb);
        else
            dense_ffn(c, L, s0, in, nb);
        if (L->post_ffn_norm)
            rmsnorm_rows(c->tmp, c->tmp, L->post_ffn_norm, nb, E, eps);
        if (hp->residual_mult > 0)
            lf_scale(c->tmp, hp->residual_mult, (int64_t)nb * E);
        lf_add(c->x, c->tmp, (int64_t)nb * E);
    }

    if (out_rows <= 0)
        return;
    const float *xin = c->x + (size_t)(nb - out_rows) * E;
    rmsnorm_rows(c->xb, xin, m->output_norm, out_rows, E, eps);
    mm(c, hp->n_layer * LF_W_COUNT, &m->output, c->xb, out_rows, logits);
    if (hp->logit_scale > 0)
        lf_scale(logits, 1.0f / hp->logit_scale, (int64_t)out_rows * hp->n_vocab);
    if (hp->final_softcap > 0) {
        const float cap = hp->final_softcap;
        const int64_t cnt = (int64_t)out_rows * hp->n_vocab;
        for (int64_t i = 0; i < cnt; i++)
            logits[i] = cap * tanhf(logits[i] / cap);
    }
}

int lf_ctx_eval(lf_ctx *c, const int32_t *tokens, int n, bool logits_all, const float **logits,
                lf_error *err) {
    const lf_model_params *hp = &c->m->hp;
    if (logits)
        *logits = NULL;
    if (n <= 0)
        return lf_error_set(err, LF_EINVAL, "eval: %d tokens", n);
    if (n > c->n_ctx - c->pos)
        return lf_error_set(err, LF_ERANGE,
                            "eval: %d tokens at position %d overflow the context of %d", n, c->pos,
                            c->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return lf_error_set(err, LF_ERANGE, "eval: token %d (index %d) outside the vocabulary of %d",
                                tokens[i], i, hp->n_vocab);
    if (logits_all && n > c->logits_rows) {
        float *l = xalloc((size_t)n * (size_t)hp->n_vocab * sizeof(float));
        if (!l)
            return lf_error_set(err, LF_ENOMEM, "eval: logits for %d tokens: out of memory", n);
        free(c->logits);
        c->logits = l;
        c->logits_rows = n;
    }
    for (int done = 0; done < n;) {
        int nb = n - done < c->n_batch ? n - done : c->n_batch;
        bool last = done + nb == n;
        float *out = NULL;
        int rows = 0;
        if (logits && logits_all) {
            out = c->logits + (size_t)done * hp->n_vocab;
            rows = nb;
        } else if (logits && last) {
            out = c->logits;
            rows = 1;
        }
        eval_batch(c, tokens + done, nb, c->pos, out, rows);
        c->pos += nb;
        done += nb;
    }
    if (logits)
        *logits = c->logits;
    return 0;
}
