/*
 * The memory model: what a catalog model needs resident to run at a given
 * context. Weights are exact (the same per-tensor type choice and row sizes
 * the synthesizer and the GGUF writer use); the KV cache is exact for a
 * cache that stores every position of every layer (sliding-window layers of
 * Gemma are counted in full, which over- rather than under-estimates); the
 * compute buffer and runtime overhead are approximations, stated below.
 * A mixture-of-experts model needs every expert resident (the router may
 * pick any), but a decoded token reads only its k experts: memory counts
 * the whole model, bytes per token the expected share.
 */
#include "recommend/recommend.h"

#include <stdio.h>
#include <string.h>

const char *lf_rec_kind_name(lf_rec_kind k) {
    switch (k) {
    case LF_REC_CPU: return "cpu";
    case LF_REC_GPU: return "gpu";
    case LF_REC_UNIFIED: return "unified";
    }
    return "?";
}

void lf_rec_target_from_gpu(lf_rec_target *t, const lf_catalog_gpu *g) {
    memset(t, 0, sizeof *t);
    lf_strlcpy(t->name, g->name, sizeof t->name);
    snprintf(t->source, sizeof t->source, "gpus.csv (%s)", g->vendor);
    t->kind = g->unified ? LF_REC_UNIFIED : LF_REC_GPU;
    /* A unified pool is shared with the OS and applications; GPUs may wire
     * about three quarters of it by default (macOS; Strix Halo allots 96 of
     * 128 GiB at most). */
    t->usable_memory = g->unified ? g->mem_bytes / 4 * 3 : g->mem_bytes;
    t->bandwidth_gbs = g->bandwidth_gbs;
    t->fp32_tflops = g->fp16_tflops == g->fp16_tflops ? g->fp16_tflops : 0; /* NAN → 0 */
    t->int8_tops = 0;
}

static lf_type tensor_type(lf_mix mix, const lf_mix_model *mm, const lf_catalog_tensor *t) {
    if (t->ne1 == 1)
        return LF_TYPE_F32;   /* norms and biases are never quantized */
    lf_type ty = lf_mix_tensor_type_model(mix, mm, t->name, t->layer, t->ne0);
    if (!lf_type_supported(ty) || lf_row_size(ty, t->ne0) == 0)
        ty = LF_TYPE_F16;
    return ty;
}

int lf_rec_weight_bytes(const lf_catalog_model *m, lf_mix mix, lf_rec_memory *out,
                        lf_error *err) {
    if ((unsigned)mix >= LF_MIX_COUNT)
        return lf_error_set(err, LF_EINVAL, "recommend: unknown mix %d", (int)mix);
    lf_mix_model mm = {.n_layer = m->n_layer,
                       .n_gqa = m->n_head / m->n_head_kv,
                       .n_expert = m->n_expert,
                       .tied_output = m->tied_embeddings};
    uint64_t total = 0, read = 0;
    double mat = 0, read_f = 0;
    int n = lf_catalog_n_tensors(m);
    for (int i = 0; i < n; i++) {
        lf_catalog_tensor t;
        lf_catalog_tensor_at(m, i, &t);
        lf_type ty = tensor_type(mix, &mm, &t);
        size_t row = lf_row_size(ty, t.ne0);
        if (row == 0)
            return lf_error_set(err, LF_EINVAL, "recommend: %s: %s: %lld columns fit no type",
                                m->name, t.name, (long long)t.ne0);
        uint64_t bytes = (uint64_t)row * (uint64_t)t.ne1 * (uint64_t)t.ne2;
        total += bytes;
        bool embd = strcmp(t.name, "token_embd.weight") == 0;
        /* Decoding looks up one embedding row, unless the embedding is also
         * the output projection, which reads all of it. */
        if (embd && !m->tied_embeddings) {
            read += row;
        } else if (t.ne2 > 1) {
            /* A per-expert tensor: a token reads its k experts' slices,
             * the expected bytes k/n of the whole (the router's choice
             * varies by token, its share does not). */
            double share = m->n_expert_used > 0 ? (double)m->n_expert_used / (double)t.ne2 : 1;
            read_f += (double)bytes * share;
            if (t.ne1 > 1)
                mat += (double)t.ne0 * (double)t.ne1 * (double)t.ne2 * share;
        } else {
            read += bytes;
            if (t.ne1 > 1)
                mat += (double)t.ne0 * (double)t.ne1;
        }
    }
    out->weights = total;
    out->weights_read = read + (uint64_t)(read_f + 0.5);
    out->matmul_params = mat;
    return 0;
}

uint64_t lf_rec_kv_bytes(const lf_catalog_model *m, int64_t n_ctx, lf_type kv_type) {
    size_t row = lf_row_size(kv_type, m->head_dim);
    if (row == 0 || n_ctx <= 0)
        return 0;
    return (uint64_t)m->n_layer * (uint64_t)n_ctx * (uint64_t)m->n_head_kv * 2u * row;
}

uint64_t lf_rec_adapter_bytes(const lf_catalog_model *m, const lf_rec_adapter *a) {
    if (!a || a->rank <= 0)
        return 0;
    int64_t E = m->n_embd, Q = (int64_t)m->n_head * m->head_dim,
            KV = (int64_t)m->n_head_kv * m->head_dim, F = m->n_ff;
    struct { unsigned bit; int64_t in, out; } proj[] = {
        {LF_REC_LORA_Q, E, Q},     {LF_REC_LORA_K, E, KV},   {LF_REC_LORA_V, E, KV},
        {LF_REC_LORA_O, Q, E},     {LF_REC_LORA_GATE, E, F}, {LF_REC_LORA_UP, E, F},
        {LF_REC_LORA_DOWN, F, E},
    };
    uint64_t per_layer = 0;
    for (size_t i = 0; i < sizeof proj / sizeof proj[0]; i++) {
        if (!(a->targets & proj[i].bit))
            continue;
        /* A is rank rows of `in`, B is `out` rows of rank. */
        size_t ra = lf_row_size(a->type, proj[i].in), rb = lf_row_size(a->type, a->rank);
        if (ra == 0 || rb == 0) {
            ra = (size_t)proj[i].in * 4;   /* a type that cannot hold the rows: count F32 */
            rb = (size_t)a->rank * 4;
        }
        per_layer += (uint64_t)a->rank * ra + (uint64_t)proj[i].out * rb;
    }
    return per_layer * (uint64_t)m->n_layer;
}

uint64_t lf_rec_compute_bytes(const lf_catalog_model *m, int64_t n_ctx) {
    /* A prompt batch of up to 512 tokens in F32: the residual and normed
     * hidden state (2E), Q, K and V, the FFN gate and up (2F); attention
     * scores one head at a time (a tile of ub × n_ctx); one row of logits
     * (prefill keeps only the last). This mirrors what a graph allocator
     * reuses between layers; it is an estimate, not a measurement. */
    int64_t ub = n_ctx < 512 ? n_ctx : 512;
    if (ub <= 0)
        return 0;
    int64_t E = m->n_embd, Q = (int64_t)m->n_head * m->head_dim,
            KV = (int64_t)m->n_head_kv * m->head_dim, F = m->n_ff;
    if (lf_catalog_model_is_moe(m)) {
        /* the batch's rows pass through k experts (and any shared one),
         * plus one router logit per expert */
        F = (int64_t)m->n_ff_exp * m->n_expert_used + (int64_t)m->n_ff_shexp * m->n_expert_shared +
            m->n_expert / 2;
    }
    uint64_t act = 4u * (uint64_t)ub * (uint64_t)(2 * E + Q + 2 * KV + 2 * F);
    uint64_t scores = 4u * (uint64_t)ub * (uint64_t)n_ctx;
    uint64_t logits = 4u * (uint64_t)m->n_vocab;
    return act + scores + logits;
}

int lf_rec_memory_estimate(const lf_catalog_model *m, lf_mix mix, int64_t n_ctx,
                           lf_type kv_type, const lf_rec_adapter *adapters, int n_adapters,
                           lf_rec_memory *out, lf_error *err) {
    memset(out, 0, sizeof *out);
    int rc = lf_rec_weight_bytes(m, mix, out, err);
    if (rc < 0)
        return rc;
    out->kv_cache = lf_rec_kv_bytes(m, n_ctx, kv_type);
    if (out->kv_cache == 0 && n_ctx > 0)
        return lf_error_set(err, LF_EINVAL, "recommend: KV type %s cannot hold %d-element heads",
                            lf_type_name(kv_type), m->head_dim);
    for (int i = 0; i < n_adapters; i++)
        out->adapters += lf_rec_adapter_bytes(m, &adapters[i]);
    out->compute = lf_rec_compute_bytes(m, n_ctx);
    /* Runtime: thread stacks, vocabulary, allocator slack and page-table
     * cost of the mapping — a fixed 64 MiB plus 1% of the weights. */
    out->overhead = lf_rec_overhead_bytes(out->weights);
    out->total = out->weights + out->kv_cache + out->adapters + out->compute + out->overhead;
    return 0;
}

uint64_t lf_rec_overhead_bytes(uint64_t weights) {
    return (64ull << 20) + weights / 100;
}
