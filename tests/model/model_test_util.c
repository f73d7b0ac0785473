/*
 * Shared test helpers (see model_test_util.h).
 */
#include "model_test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool tm_model_path(const char *name, char *buf, size_t size) {
    const char *dir = getenv("LOCALFIT_TEST_MODELS");
    if (!dir || !*dir)
        dir = LF_SOURCE_DIR "/../shared/models";
    snprintf(buf, size, "%s/%s", dir, name);
    if (access(buf, R_OK) != 0) {
        printf("  (skipping: %s not found)\n", buf);
        return false;
    }
    return true;
}

float *tm_get_gguf(void *ctx, const char *name, int64_t n) {
    const lf_gguf *g = ctx;
    const lf_gguf_tensor *t = lf_gguf_find_tensor(g, name);
    if (!t)
        return NULL;
    int64_t ne = lf_gguf_tensor_nelem(t);
    if (ne != n) {
        fprintf(stderr, "ref: %s has %lld elements, expected %lld\n", name, (long long)ne,
                (long long)n);
        return NULL;
    }
    float *f = malloc((size_t)n * sizeof(float));
    lf_dequantize(t->type, t->data, f, n / t->ne[0], t->ne[0]);
    return f;
}

float *tm_get_model(void *ctx, const char *name, int64_t n) {
    const lf_model_tensor *t = lf_model_find_tensor(ctx, name);
    if (!t)
        return NULL;
    if (t->mat.rows * t->mat.cols != n) {
        fprintf(stderr, "ref: %s has %lld elements, expected %lld\n", name,
                (long long)(t->mat.rows * t->mat.cols), (long long)n);
        return NULL;
    }
    float *f = malloc((size_t)n * sizeof(float));
    lf_dequantize(t->mat.type, t->mat.data, f, t->mat.rows, t->mat.cols);
    return f;
}

static int u(const lf_gguf *g, const char *key, int dflt) {
    uint64_t v;
    return lf_gguf_get_u64(g, key, &v) == 0 ? (int)v : dflt;
}

static float f(const lf_gguf *g, const char *key, float dflt) {
    double v;
    return lf_gguf_get_f64(g, key, &v) == 0 ? (float)v : dflt;
}

int tm_ref_config_gguf(const lf_gguf *g, ref_config *c) {
    memset(c, 0, sizeof *c);
    c->n_layer = u(g, "llama.block_count", 0);
    c->dim = u(g, "llama.embedding_length", 0);
    c->n_head = u(g, "llama.attention.head_count", 0);
    c->n_kv = u(g, "llama.attention.head_count_kv", c->n_head);
    c->head_dim = c->dim / c->n_head;
    c->head_dim_v = c->head_dim;
    c->ff = u(g, "llama.feed_forward_length", 0);
    c->vocab = (int)lf_gguf_find_tensor(g, "token_embd.weight")->ne[1];
    c->n_rot = u(g, "llama.rope.dimension_count", c->head_dim);
    c->eps = f(g, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    c->rope_base = f(g, "llama.rope.freq_base", 10000.0f);
    c->freq_scale = 1.0f;
    c->neox = false;   /* llama: consecutive pairs */
    return c->n_layer > 0 && c->dim > 0 ? 0 : -1;
}

void tm_ref_config_hp(const lf_model_params *hp, ref_config *c) {
    memset(c, 0, sizeof *c);
    c->n_layer = hp->n_layer;
    c->dim = hp->n_embd;
    c->n_head = hp->n_head;
    c->n_kv = hp->n_head_kv;
    c->head_dim = hp->head_dim;
    c->head_dim_v = hp->head_dim_v;
    c->ff = hp->n_ff;
    c->vocab = hp->n_vocab;
    c->n_rot = hp->n_rot;
    c->eps = hp->norm_eps;
    c->rope_base = hp->rope_base;
    c->rope_base_swa = hp->rope_base_swa;
    c->freq_scale = hp->rope_scaling == LF_ROPE_SCALING_LINEAR ? 1.0f / hp->rope_scale_factor : 1.0f;
    c->neox = hp->rope_neox;
    c->gelu = hp->act == LF_ACT_GELU;
    c->embd_scale = hp->embd_scale;
    c->attn_scale = hp->attn_scale;
    c->attn_softcap = hp->attn_softcap;
    c->final_softcap = hp->final_softcap;
    c->swa_window = hp->swa_window;
    c->swa_pattern = hp->swa_pattern;
    c->qk_norm_full = hp->qk_norm_full;
    c->embd_mult = hp->embd_mult;
    c->residual_mult = hp->residual_mult;
    c->logit_scale = hp->logit_scale;
    c->n_expert = hp->n_expert;
    c->n_used = hp->n_expert_used;
    c->ff_exp = hp->n_ff_exp;
    c->ff_shexp = hp->n_ff_shexp;
    c->gating = hp->gating == LF_MOE_SOFTMAX ? 0 : hp->gating == LF_MOE_TOPK_SOFTMAX ? 1 : 2;
    c->norm_topk = hp->moe_norm_topk;
    c->w_scale = hp->moe_weights_scale;
    c->gptoss = hp->arch == LF_ARCH_GPTOSS;
    if (hp->rope_scaling == LF_ROPE_SCALING_YARN && hp->rope_scale_factor > 1) {
        c->yarn_factor = hp->rope_scale_factor;
        c->yarn_orig_ctx = hp->rope_orig_ctx > 0 ? hp->rope_orig_ctx : hp->n_ctx_train;
    }
}

double tm_rel_diff(const float *a, const float *b, int64_t n) {
    double md = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md))   /* NaN propagates as a failure */
            md = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > mb)
            mb = fabs(b[i]);
    }
    return mb > 0 ? md / mb : md;
}

static const char *const config_names[TM_N_CONFIGS] = {
    "llama-gqa", "smollm-tied", "qwen2-bias", "qwen3-qknorm", "gemma", "gemma2", "gemma3", "phi3",
    "olmo2", "granite",
};

const char *tm_config_name(tm_config which) { return config_names[which]; }

void tm_synth_params(tm_config which, lf_model_params *hp) {
    static const lf_arch arch[TM_N_CONFIGS] = {
        LF_ARCH_LLAMA, LF_ARCH_LLAMA, LF_ARCH_QWEN2, LF_ARCH_QWEN3,
        LF_ARCH_GEMMA, LF_ARCH_GEMMA2, LF_ARCH_GEMMA3, LF_ARCH_PHI3,
        LF_ARCH_OLMO2, LF_ARCH_GRANITE,
    };
    lf_model_params_init(hp, arch[which]);
    /* head_dim 32 so Q8_0 KV caches apply; n_ff a multiple of 32 */
    hp->n_layer = 2;
    hp->n_embd = 128;
    hp->n_head = 4;
    hp->n_head_kv = 2;
    hp->n_ff = 160;
    hp->n_vocab = 300;
    hp->n_ctx_train = 256;
    snprintf(hp->name, sizeof hp->name, "test-%s", config_names[which]);
    switch (which) {
    case TM_SMOLLM_TIED:
        hp->tied = true;
        hp->n_head_kv = 1;
        hp->rope_base = 100000.0f;
        break;
    case TM_QWEN3:
        hp->head_dim = 48;      /* decoupled from n_embd / n_head */
        break;
    case TM_GEMMA:
        hp->n_head_kv = 4;
        break;
    case TM_GEMMA2:
        /* small caps and window so both change the numbers */
        hp->attn_softcap = 0.5f;
        hp->final_softcap = 2.0f;
        hp->swa_window = 3;
        hp->attn_scale = 4.0f;
        break;
    case TM_GEMMA3:
        hp->n_layer = 3;
        hp->swa_window = 3;
        hp->swa_pattern = 3;
        hp->rope_scaling = LF_ROPE_SCALING_LINEAR;
        hp->rope_scale_factor = 4.0f;
        break;
    case TM_PHI3:
        hp->n_head_kv = 4;
        hp->n_rot = 16;         /* partial rotary */
        break;
    default:
        break;
    }
}
