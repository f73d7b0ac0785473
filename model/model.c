/*
 * Model loading and bookkeeping: architecture names and defaults, reading
 * the {arch}.* hyperparameters from GGUF metadata, the tensor registry (every
 * tensor of the file, by name), binding it into per-layer matrices with every
 * shape checked, the accessors, and writing a model back out as GGUF.
 * Weights stay in the read-only mapping; only small vectors stored in a
 * non-F32 type are converted (the forward pass reads norms as F32).
 */
#include "model/model_internal.h"
#include "gguf/gguf_internal.h"
#include "kernels/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

const char *const lf_wslot_stem[LF_W_COUNT] = {
    [LF_W_Q] = "attn_q",       [LF_W_K] = "attn_k",   [LF_W_V] = "attn_v",
    [LF_W_O] = "attn_output",  [LF_W_GATE] = "ffn_gate", [LF_W_UP] = "ffn_up",
    [LF_W_DOWN] = "ffn_down",
};

static const char *const arch_names[LF_ARCH_COUNT] = {
    [LF_ARCH_LLAMA] = "llama",   [LF_ARCH_QWEN2] = "qwen2",   [LF_ARCH_QWEN3] = "qwen3",
    [LF_ARCH_GEMMA] = "gemma",   [LF_ARCH_GEMMA2] = "gemma2", [LF_ARCH_GEMMA3] = "gemma3",
    [LF_ARCH_PHI3] = "phi3",     [LF_ARCH_OLMO2] = "olmo2",   [LF_ARCH_GRANITE] = "granite",
    [LF_ARCH_QWEN2MOE] = "qwen2moe", [LF_ARCH_QWEN3MOE] = "qwen3moe", [LF_ARCH_OLMOE] = "olmoe",
    [LF_ARCH_GRANITEMOE] = "granitemoe", [LF_ARCH_GPTOSS] = "gpt-oss",
};

const char *lf_arch_name(lf_arch a) {
    return (unsigned)a < LF_ARCH_COUNT ? arch_names[a] : "unknown";
}

int lf_arch_parse(const char *name, lf_arch *out, lf_error *err) {
    if (!name)
        return lf_error_set(err, LF_EINVAL, "architecture name missing");
    for (int i = 0; i < LF_ARCH_COUNT; i++) {
        if (strcmp(name, arch_names[i]) == 0) {
            *out = (lf_arch)i;
            return 0;
        }
    }
    /* Mistral 7B and friends are stored as "llama" in GGUF; catalogs may
     * still name them by family. */
    if (strcmp(name, "mistral") == 0) {
        *out = LF_ARCH_LLAMA;
        return 0;
    }
    return lf_error_set(err, LF_EUNSUPP,
                        "architecture '%s' is not supported (llama, mistral, qwen2, qwen3, "
                        "gemma, gemma2, gemma3, phi3, olmo2, granite, qwen2moe, qwen3moe, "
                        "olmoe, granitemoe, gpt-oss)", name);
}

void lf_model_params_init(lf_model_params *hp, lf_arch arch) {
    memset(hp, 0, sizeof *hp);
    hp->arch = arch;
    hp->rope_base = 10000.0f;
    hp->rope_scale_factor = 1.0f;
    hp->norm_eps = 1e-5f;
    hp->act = LF_ACT_SILU;
    /* llama.cpp's rope type per architecture: only llama uses consecutive
     * pairs (its converter permutes Q/K rows for that). */
    hp->rope_neox = arch != LF_ARCH_LLAMA && arch != LF_ARCH_GRANITE &&
                    arch != LF_ARCH_GRANITEMOE;
    /* llama.cpp's gating per family: softmax then top k everywhere here;
     * the k weights renormalised for Mixtral, qwen3moe and granitemoe */
    hp->gating = LF_MOE_SOFTMAX;
    hp->moe_norm_topk = arch == LF_ARCH_LLAMA || arch == LF_ARCH_QWEN3MOE ||
                        arch == LF_ARCH_GRANITEMOE;
    switch (arch) {
    case LF_ARCH_QWEN2MOE:
        hp->n_expert_shared = 1;
        hp->moe_shexp_gate = true;
        /* attention as qwen2 */
        /* fall through */
    case LF_ARCH_QWEN2:
        hp->qkv_bias = true;
        hp->norm_eps = 1e-6f;
        hp->rope_base = 1000000.0f;
        break;
    case LF_ARCH_QWEN3:
    case LF_ARCH_QWEN3MOE:
        hp->qk_norm = true;
        hp->norm_eps = 1e-6f;
        hp->rope_base = 1000000.0f;
        break;
    case LF_ARCH_GEMMA:
        hp->act = LF_ACT_GELU;
        hp->embd_scale = true;
        hp->tied = true;
        hp->norm_eps = 1e-6f;
        break;
    case LF_ARCH_GEMMA2:
        hp->act = LF_ACT_GELU;
        hp->embd_scale = true;
        hp->tied = true;
        hp->post_norms = true;
        hp->attn_softcap = 50.0f;
        hp->final_softcap = 30.0f;
        hp->swa_window = 4096;
        hp->swa_pattern = 2;
        hp->norm_eps = 1e-6f;
        break;
    case LF_ARCH_GEMMA3:
        hp->act = LF_ACT_GELU;
        hp->embd_scale = true;
        hp->tied = true;
        hp->post_norms = true;
        hp->qk_norm = true;
        hp->swa_window = 1024;
        hp->swa_pattern = 6;
        hp->rope_base = 1000000.0f;
        hp->rope_base_swa = 10000.0f;
        hp->norm_eps = 1e-6f;
        break;
    case LF_ARCH_OLMOE:
        hp->qk_norm = true;
        hp->qk_norm_full = true;
        break;
    case LF_ARCH_OLMO2:
        hp->no_pre_norm = true;
        hp->post_norms = true;
        hp->qk_norm = true;
        hp->qk_norm_full = true;
        hp->norm_eps = 1e-6f;
        hp->rope_base = 500000.0f;
        break;
    case LF_ARCH_GRANITE:
        /* Granite 3.x published multipliers; files carry their own */
        hp->embd_mult = 12.0f;
        hp->residual_mult = 0.22f;
        hp->logit_scale = 8.0f;
        hp->tied = true;
        break;
    case LF_ARCH_GPTOSS:
        /* gpt-oss-20b/120b's published configuration; llama.cpp fixes the
         * gating (softmax over the chosen logits, not renormalised), the
         * activation and the sliding-window pattern (even layers) in code */
        hp->act = LF_ACT_SWIGLU_OAI;
        hp->qkv_bias = true;
        hp->gating = LF_MOE_TOPK_SOFTMAX;
        hp->moe_norm_topk = false;
        hp->rope_base = 150000.0f;
        hp->rope_scaling = LF_ROPE_SCALING_YARN;
        hp->rope_scale_factor = 32.0f;
        hp->rope_orig_ctx = 4096;
        hp->swa_window = 128;
        hp->swa_pattern = 2;
        break;
    case LF_ARCH_GRANITEMOE:
        /* granite-3.0-1b-a400m's multipliers; llama.cpp requires all four
         * keys in a granitemoe file, the attention scale included */
        hp->embd_mult = 12.0f;
        hp->residual_mult = 0.22f;
        hp->logit_scale = 6.0f;
        hp->attn_scale = 0.015625f;
        hp->tied = true;
        break;
    default:
        break;
    }
}

int lf_model_params_check(lf_model_params *hp, lf_error *err) {
    if ((unsigned)hp->arch >= LF_ARCH_COUNT)
        return lf_error_set(err, LF_EINVAL, "hparams: unknown architecture %d", (int)hp->arch);
#define NEED_POS(f) \
    if (hp->f <= 0) return lf_error_set(err, LF_EINVAL, "hparams: " #f " = %d, must be > 0", hp->f)
    NEED_POS(n_layer);
    NEED_POS(n_embd);
    NEED_POS(n_head);
    NEED_POS(n_ff);
    NEED_POS(n_vocab);
#undef NEED_POS
    if (hp->n_head_kv <= 0)
        hp->n_head_kv = hp->n_head;
    if (hp->n_head % hp->n_head_kv != 0)
        return lf_error_set(err, LF_EINVAL, "hparams: n_head %d is not a multiple of n_head_kv %d",
                            hp->n_head, hp->n_head_kv);
    if (hp->head_dim <= 0) {
        if (hp->n_embd % hp->n_head != 0)
            return lf_error_set(err, LF_EINVAL,
                                "hparams: n_embd %d not divisible by n_head %d and no head_dim",
                                hp->n_embd, hp->n_head);
        hp->head_dim = hp->n_embd / hp->n_head;
    }
    if (hp->head_dim_v <= 0)
        hp->head_dim_v = hp->head_dim;
    if (hp->n_rot <= 0)
        hp->n_rot = hp->head_dim;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return lf_error_set(err, LF_EINVAL, "hparams: rope dimension %d invalid for head_dim %d",
                            hp->n_rot, hp->head_dim);
    if (hp->n_ctx_train <= 0)
        hp->n_ctx_train = 2048;
    if (!(hp->rope_base > 0))
        hp->rope_base = 10000.0f;
    if (!(hp->rope_scale_factor > 0))
        hp->rope_scale_factor = 1.0f;
    if (!(hp->norm_eps > 0))
        hp->norm_eps = 1e-5f;
    if (hp->swa_window < 0 || hp->swa_pattern < 0)
        return lf_error_set(err, LF_EINVAL, "hparams: negative sliding window");
    /* Gemma 2/3 27B scale queries by 1/sqrt(n_embd/n_head) instead of the
     * head dimension (query_pre_attn_scalar); llama.cpp keys it on the
     * layer count, and so do we. */
    if (hp->attn_scale <= 0 &&
        ((hp->arch == LF_ARCH_GEMMA2 && hp->n_layer == 46) ||
         (hp->arch == LF_ARCH_GEMMA3 && hp->n_layer == 62)))
        hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    if (hp->arch == LF_ARCH_GPTOSS && hp->n_expert == 0)
        return lf_error_set(err, LF_EINVAL, "hparams: gpt-oss needs experts (n_expert > 0)");
    if (hp->n_expert < 0 || hp->n_expert > LF_MOE_MAX_EXPERTS)
        return lf_error_set(err, LF_EINVAL, "hparams: n_expert = %d, must be 0..%d",
                            hp->n_expert, LF_MOE_MAX_EXPERTS);
    if (hp->n_expert > 0) {
        if (hp->n_expert_used < 1 || hp->n_expert_used > hp->n_expert ||
            hp->n_expert_used > LF_MOE_MAX_USED)
            return lf_error_set(err, LF_EINVAL,
                                "hparams: n_expert_used = %d, must be 1..%d with %d experts",
                                hp->n_expert_used, LF_MOE_MAX_USED < hp->n_expert ? LF_MOE_MAX_USED
                                                                                  : hp->n_expert,
                                hp->n_expert);
        if (hp->n_ff_exp <= 0)
            hp->n_ff_exp = hp->n_ff;
        /* llama.cpp sizes these families' experts by feed_forward_length
         * (they have no dense FFN to size): keep the two equal */
        if (hp->arch == LF_ARCH_LLAMA || hp->arch == LF_ARCH_OLMOE ||
            hp->arch == LF_ARCH_GRANITEMOE || hp->arch == LF_ARCH_GPTOSS)
            hp->n_ff = hp->n_ff_exp;
        if (hp->n_expert_shared < 0)
            return lf_error_set(err, LF_EINVAL, "hparams: n_expert_shared = %d",
                                hp->n_expert_shared);
        if (hp->n_ff_shexp <= 0)
            hp->n_ff_shexp = hp->n_ff_exp;
        if ((unsigned)hp->gating > LF_MOE_SIGMOID)
            return lf_error_set(err, LF_EINVAL, "hparams: unknown expert gating %d",
                                (int)hp->gating);
        if (hp->moe_weights_scale < 0 || !isfinite(hp->moe_weights_scale))
            return lf_error_set(err, LF_EINVAL, "hparams: expert weights scale %g",
                                (double)hp->moe_weights_scale);
    } else {
        hp->n_expert_used = hp->n_ff_exp = hp->n_expert_shared = hp->n_ff_shexp = 0;
    }
    if (!hp->name[0])
        snprintf(hp->name, sizeof hp->name, "%s", lf_arch_name(hp->arch));
    return 0;
}

bool lf_model_params_layer_swa(const lf_model_params *hp, int il) {
    if (hp->swa_window <= 0 || hp->swa_pattern <= 0)
        return false;
    return il % hp->swa_pattern < hp->swa_pattern - 1;
}

/* ---- model lifetime ------------------------------------------------- */

lf_model *lf_model_alloc(const lf_model_params *hp) {
    lf_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->hp = *hp;
    m->mix = LF_MIX_COUNT;
    m->layers = calloc((size_t)(hp->n_layer > 0 ? hp->n_layer : 1), sizeof *m->layers);
    if (!m->layers) {
        free(m);
        return NULL;
    }
    return m;
}

int lf_model_own(lf_model *m, void *p) {
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? m->cap_owned * 2 : 64;
        void **o = realloc(m->owned, (size_t)cap * sizeof *o);
        if (!o) {
            free(p);
            return LF_ENOMEM;
        }
        m->owned = o;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return 0;
}

/* Tensors of 2 MiB or more start on a 2 MiB boundary and ask for
 * transparent huge pages: a decoded token streams every weight it reads
 * once, and with 4 KiB pages each 4 KiB of it costs a TLB miss, a share
 * of the bandwidth the probe's roof (measured on huge pages) does not pay. */
#define HUGE_BYTES ((size_t)2 << 20)

void *lf_model_alloc_owned(lf_model *m, size_t bytes) {
    void *p = NULL;
    size_t sz = (bytes + 63) & ~(size_t)63;
    const size_t align = sz >= HUGE_BYTES ? HUGE_BYTES : 64;
    if (posix_memalign(&p, align, sz ? sz : 64) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (align == HUGE_BYTES)
        (void)madvise(p, sz, MADV_HUGEPAGE);   /* advice only: 4 KiB pages still work */
#endif
    if (lf_model_own(m, p) < 0)
        return NULL;
    return p;
}

void lf_model_free(lf_model *m) {
    if (!m)
        return;
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    if (m->own_vocab)
        lf_vocab_free(m->vocab);
    free(m->tensors);
    free(m->layers);
    lf_gguf_close(m->gguf);
    free(m);
}

lf_mat lf_mat_make(lf_type type, int64_t rows, int64_t cols, const void *data) {
    lf_mat w = {.type = type, .rows = rows, .cols = cols,
                .row_bytes = lf_row_size(type, cols), .data = data};
    return w;
}

/* ---- binding the registry into layers -------------------------------- */

const lf_model_tensor *lf_model_find_tensor(const lf_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

static int64_t tensor_rows(const lf_model_tensor *t) {
    int64_t r = 1;
    for (uint32_t d = 1; d < t->n_dims && d < 4; d++)
        r *= t->ne[d];
    return r;
}

/* Finds name and checks it is cols × rows (rows == 1 for vectors). */
static int want(const lf_model *m, const char *name, int64_t cols, int64_t rows,
                bool required, const lf_model_tensor **out, lf_error *err) {
    const lf_model_tensor *t = lf_model_find_tensor(m, name);
    *out = t;
    if (!t)
        return required ? lf_error_set(err, LF_EFORMAT, "tensor %s is missing (%s model)",
                                       name, lf_arch_name(m->hp.arch))
                        : 0;
    if (t->ne[0] != cols || tensor_rows(t) != rows)
        return lf_error_set(err, LF_EMISMATCH,
                            "tensor %s has shape [%lld, %lld], expected [%lld, %lld] "
                            "from the hyperparameters",
                            name, (long long)t->ne[0], (long long)tensor_rows(t),
                            (long long)cols, (long long)rows);
    if (!lf_type_supported(t->mat.type))
        return lf_error_set(err, LF_EUNSUPP, "tensor %s: type %s (%d) is not supported",
                            name, lf_type_name(t->mat.type), (int)t->mat.type);
    if (!lf_type_is_weight(t->mat.type))
        return lf_error_set(err, LF_EUNSUPP,
                            "tensor %s: type %s (%d) is an activation format, not a weight type",
                            name, lf_type_name(t->mat.type), (int)t->mat.type);
    return 0;
}

/* cols × rows values as F32 (vectors, per-expert biases): in place when
 * stored so, else converted into the model. */
static int want_f32(lf_model *m, const char *name, int64_t cols, int64_t rows, bool required,
                    const float **out, lf_error *err) {
    const lf_model_tensor *t;
    *out = NULL;
    int rc = want(m, name, cols, rows, required, &t, err);
    if (rc < 0 || !t)
        return rc;
    if (t->mat.type == LF_TYPE_F32) {
        *out = t->mat.data;
        return 0;
    }
    float *f = lf_model_alloc_owned(m, (size_t)(cols * rows) * sizeof(float));
    if (!f)
        return lf_error_set(err, LF_ENOMEM, "tensor %s: out of memory", name);
    if (lf_mat_rows_to_float(&t->mat, 0, rows, f) < 0)
        return lf_error_set(err, LF_EUNSUPP, "tensor %s: cannot convert %s to F32", name,
                            lf_type_name(t->mat.type));
    *out = f;
    return 0;
}

static int want_vec(lf_model *m, const char *name, int64_t n, bool required,
                    const float **out, lf_error *err) {
    return want_f32(m, name, n, 1, required, out, err);
}

static int want_mat(lf_model *m, const char *name, int64_t cols, int64_t rows,
                    bool required, lf_mat *out, int *idx, lf_error *err) {
    const lf_model_tensor *t;
    int rc = want(m, name, cols, rows, required, &t, err);
    if (rc < 0)
        return rc;
    if (idx)
        *idx = t ? (int)(t - m->tensors) : -1;
    if (t)
        *out = t->mat;
    else
        memset(out, 0, sizeof *out);
    return 0;
}

/* Rows [r0, r0 + n) of a matrix, as its own matrix (fused tensors). */
static lf_mat mat_rows(const lf_mat *w, int64_t r0, int64_t n) {
    lf_mat v = *w;
    v.rows = n;
    v.data = (const char *)w->data + (size_t)r0 * w->row_bytes;
    return v;
}

/* An expert tensor: ne = [cols, rows, n_expert] exactly. */
static int want_exps(lf_model *m, const char *name, int64_t cols, int64_t rows, lf_mat *out,
                     lf_error *err) {
    const lf_model_tensor *t;
    int rc = want(m, name, cols, rows * m->hp.n_expert, true, &t, err);
    if (rc < 0)
        return rc;
    if (t->n_dims != 3 || t->ne[1] != rows)
        return lf_error_set(err, LF_EMISMATCH,
                            "tensor %s has shape [%lld, %lld, %lld], expected [%lld, %lld, %d] "
                            "from the hyperparameters", name, (long long)t->ne[0],
                            (long long)t->ne[1], (long long)t->ne[2], (long long)cols,
                            (long long)rows, m->hp.n_expert);
    *out = t->mat;
    return 0;
}

/* The mixture-of-experts FFN of layer il: router, expert tensors, the
 * optional selection bias, shared expert and its gate. */
static int bind_moe(lf_model *m, int il, lf_error *err) {
    lf_model_params *hp = &m->hp;
    lf_layer *L = &m->layers[il];
    const int64_t E = hp->n_embd, Fe = hp->n_ff_exp, Fs = hp->n_ff_shexp;
    char name[96];
    int rc;
#define NM(stem, suffix) snprintf(name, sizeof name, "blk.%d.%s.%s", il, stem, suffix)
    NM("ffn_gate_inp", "weight");
    if ((rc = want_mat(m, name, E, hp->n_expert, true, &L->router, NULL, err)) < 0)
        return rc;
    static const char *const stems[3] = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
    for (int k = 0; k < 3; k++) {
        NM(stems[k], "weight");
        if ((rc = want_exps(m, name, k == LF_EXP_DOWN ? Fe : E, k == LF_EXP_DOWN ? E : Fe,
                            &L->exps[k], err)) < 0)
            return rc;
        if (L->exps[k].interleaved)
            return lf_error_set(err, LF_EINVAL, "%s: interleaved expert tensors", name);
    }
    NM("exp_probs_b", "bias");
    if ((rc = want_vec(m, name, hp->n_expert, false, &L->exp_bias, err)) < 0)
        return rc;
    /* gpt-oss: a router bias and per-expert output biases */
    const bool oss = hp->arch == LF_ARCH_GPTOSS;
    NM("ffn_gate_inp", "bias");
    if ((rc = want_vec(m, name, hp->n_expert, oss, &L->router_b, err)) < 0)
        return rc;
    for (int k = 0; k < 3; k++) {
        NM(stems[k], "bias");
        if ((rc = want_f32(m, name, k == LF_EXP_DOWN ? E : Fe, hp->n_expert, oss, &L->exps_b[k],
                           err)) < 0)
            return rc;
    }
    /* shared expert: all three or none */
    NM("ffn_gate_shexp", "weight");
    if (lf_model_find_tensor(m, name)) {
        if ((rc = want_mat(m, name, E, Fs, true, &L->w[LF_W_GATE], &L->w_tensor[LF_W_GATE],
                           err)) < 0)
            return rc;
        NM("ffn_up_shexp", "weight");
        if ((rc = want_mat(m, name, E, Fs, true, &L->w[LF_W_UP], &L->w_tensor[LF_W_UP], err)) < 0)
            return rc;
        NM("ffn_down_shexp", "weight");
        if ((rc = want_mat(m, name, Fs, E, true, &L->w[LF_W_DOWN], &L->w_tensor[LF_W_DOWN],
                           err)) < 0)
            return rc;
        NM("ffn_gate_inp_shexp", "weight");
        if ((rc = want_vec(m, name, E, false, &L->shexp_gate, err)) < 0)
            return rc;
    } else {
        for (int s = LF_W_GATE; s <= LF_W_DOWN; s++) {
            memset(&L->w[s], 0, sizeof L->w[s]);
            L->w_tensor[s] = -1;
        }
    }
#undef NM
    return 0;
}

/* The optional tensors of layer il: Q/K/V/O biases, QK-norm weights (one
 * head's width or, *full, the whole projection's), gpt-oss's sinks (and
 * its required O bias), the post-norms. The architecture's flags are a
 * default; the file decides (a qwen2 file without biases still runs). */
static int bind_optional(lf_model *m, int il, bool *full, lf_error *err) {
    const lf_model_params *hp = &m->hp;
    lf_layer *L = &m->layers[il];
    const int64_t E = hp->n_embd;
    const int64_t nq = (int64_t)hp->n_head * hp->head_dim;
    const int64_t nk = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t nv = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const bool oss = hp->arch == LF_ARCH_GPTOSS;
    char name[96];
    int rc;
#define NM(stem, suffix) snprintf(name, sizeof name, "blk.%d.%s.%s", il, stem, suffix)
    NM("attn_q", "bias");
    if ((rc = want_vec(m, name, nq, false, &L->bq, err)) < 0)
        return rc;
    NM("attn_k", "bias");
    if ((rc = want_vec(m, name, nk, false, &L->bk, err)) < 0)
        return rc;
    NM("attn_v", "bias");
    if ((rc = want_vec(m, name, nv, false, &L->bv, err)) < 0)
        return rc;
    /* QK-norm weights: one head's width, or the whole projection's */
    NM("attn_q_norm", "weight");
    const lf_model_tensor *qn = lf_model_find_tensor(m, name);
    *full = qn && qn->ne[0] == nq && nq != hp->head_dim;
    if ((rc = want_vec(m, name, *full ? nq : hp->head_dim, false, &L->q_norm, err)) < 0)
        return rc;
    NM("attn_k_norm", "weight");
    if ((rc = want_vec(m, name, *full ? nk : hp->head_dim, false, &L->k_norm, err)) < 0)
        return rc;
    NM("attn_output", "bias");
    if ((rc = want_vec(m, name, E, oss, &L->bo, err)) < 0)
        return rc;
    NM("attn_sinks", "weight");
    if ((rc = want_vec(m, name, hp->n_head, oss, &L->attn_sinks, err)) < 0)
        return rc;
    NM("post_attention_norm", "weight");
    if (!oss && (rc = want_vec(m, name, E, false, &L->post_attn_norm, err)) < 0)
        return rc;
    NM("post_ffw_norm", "weight");
    if ((rc = want_vec(m, name, E, false, &L->post_ffn_norm, err)) < 0)
        return rc;
#undef NM
    return 0;
}

int lf_model_bind(lf_model *m, lf_error *err) {
    lf_model_params *hp = &m->hp;
    const int64_t E = hp->n_embd, V = hp->n_vocab, F = hp->n_ff;
    const int64_t nq = (int64_t)hp->n_head * hp->head_dim;
    const int64_t nk = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t nv = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const int64_t no = (int64_t)hp->n_head * hp->head_dim_v;
    char name[96];
    int rc;

    if ((rc = want_mat(m, "token_embd.weight", E, V, true, &m->tok_embd, NULL, err)) < 0)
        return rc;
    if ((rc = want_vec(m, "output_norm.weight", E, true, &m->output_norm, err)) < 0)
        return rc;
    int out_idx;
    if ((rc = want_mat(m, "output.weight", E, V, false, &m->output, &out_idx, err)) < 0)
        return rc;
    hp->tied = out_idx < 0;
    if (hp->tied)
        m->output = m->tok_embd;
    if ((rc = want_vec(m, "rope_freqs.weight", hp->n_rot / 2, false, &m->rope_freqs, err)) < 0)
        return rc;
    if (!m->rope_freqs &&
        (rc = want_vec(m, "rope_factors_short.weight", hp->n_rot / 2, false, &m->rope_freqs,
                       err)) < 0)
        return rc;

    bool any_bias = false, any_qkn = false, any_post = false, any_full = false, any_prenorm = false;
    for (int il = 0; il < hp->n_layer; il++) {
        lf_layer *L = &m->layers[il];
#define NM(stem, suffix) snprintf(name, sizeof name, "blk.%d.%s.%s", il, stem, suffix)
        NM("attn_norm", "weight");
        if ((rc = want_vec(m, name, E, !hp->no_pre_norm, &L->attn_norm, err)) < 0)
            return rc;
        /* gpt-oss names its pre-FFN norm post_attention_norm */
        const bool oss = hp->arch == LF_ARCH_GPTOSS;
        NM(oss ? "post_attention_norm" : "ffn_norm", "weight");
        if ((rc = want_vec(m, name, E, !hp->no_pre_norm, &L->ffn_norm, err)) < 0)
            return rc;
        if ((L->attn_norm != NULL) != (L->ffn_norm != NULL))
            return lf_error_set(err, LF_EFORMAT, "layer %d has only one of attn_norm/ffn_norm", il);
        any_prenorm |= L->attn_norm != NULL;

        /* attention projections, separate or fused (phi3) */
        NM("attn_qkv", "weight");
        const lf_model_tensor *qkv = lf_model_find_tensor(m, name);
        if (qkv) {
            lf_mat f;
            if ((rc = want_mat(m, name, E, nq + nk + nv, true, &f, NULL, err)) < 0)
                return rc;
            L->w[LF_W_Q] = mat_rows(&f, 0, nq);
            L->w[LF_W_K] = mat_rows(&f, nq, nk);
            L->w[LF_W_V] = mat_rows(&f, nq + nk, nv);
            L->w_tensor[LF_W_Q] = L->w_tensor[LF_W_K] = L->w_tensor[LF_W_V] = -1;
        } else {
            const int64_t rows[3] = {nq, nk, nv};
            for (int s = LF_W_Q; s <= LF_W_V; s++) {
                NM(lf_wslot_stem[s], "weight");
                if ((rc = want_mat(m, name, E, rows[s], true, &L->w[s], &L->w_tensor[s], err)) < 0)
                    return rc;
            }
        }
        NM("attn_output", "weight");
        if ((rc = want_mat(m, name, no, E, true, &L->w[LF_W_O], &L->w_tensor[LF_W_O], err)) < 0)
            return rc;

        /* feed-forward: experts (+ a shared one in the dense slots), or
         * dense with the gate separate or fused into up (phi3) */
        NM("ffn_gate", "weight");
        if (hp->n_expert > 0) {
            if ((rc = bind_moe(m, il, err)) < 0)
                return rc;
        } else if (lf_model_find_tensor(m, name)) {
            if ((rc = want_mat(m, name, E, F, true, &L->w[LF_W_GATE], &L->w_tensor[LF_W_GATE],
                               err)) < 0)
                return rc;
            NM("ffn_up", "weight");
            if ((rc = want_mat(m, name, E, F, true, &L->w[LF_W_UP], &L->w_tensor[LF_W_UP], err)) < 0)
                return rc;
        } else {
            lf_mat f;
            NM("ffn_up", "weight");
            if ((rc = want_mat(m, name, E, 2 * F, true, &f, NULL, err)) < 0)
                return lf_error_wrap(err, "layer %d has no ffn_gate and no fused gate/up", il);
            /* fused gate_up: the first half of the rows is the gate */
            L->w[LF_W_GATE] = mat_rows(&f, 0, F);
            L->w[LF_W_UP] = mat_rows(&f, F, F);
            L->w_tensor[LF_W_GATE] = L->w_tensor[LF_W_UP] = -1;
        }
        if (hp->n_expert == 0) {
            NM("ffn_down", "weight");
            if ((rc = want_mat(m, name, F, E, true, &L->w[LF_W_DOWN], &L->w_tensor[LF_W_DOWN],
                               err)) < 0)
                return rc;
        }

        bool full;
        if ((rc = bind_optional(m, il, &full, err)) < 0)
            return rc;
        any_full |= full;
#undef NM
        if ((L->q_norm != NULL) != (L->k_norm != NULL))
            return lf_error_set(err, LF_EFORMAT, "layer %d has only one of attn_q_norm/attn_k_norm", il);
        if ((L->post_attn_norm != NULL) != (L->post_ffn_norm != NULL))
            return lf_error_set(err, LF_EFORMAT,
                                "layer %d has only one of post_attention_norm/post_ffw_norm", il);
        any_bias |= L->bq || L->bk || L->bv;
        any_qkn |= L->q_norm != NULL;
        any_post |= L->post_attn_norm != NULL;
    }
    if (hp->n_expert > 0) {
        /* the file decides whether there are shared experts and a gate */
        bool shexp = m->layers[0].w[LF_W_GATE].data != NULL;
        for (int il = 1; il < hp->n_layer; il++)
            if ((m->layers[il].w[LF_W_GATE].data != NULL) != shexp ||
                (m->layers[il].shexp_gate != NULL) != (m->layers[0].shexp_gate != NULL))
                return lf_error_set(err, LF_EFORMAT,
                                    "layer %d: shared experts differ from layer 0's", il);
        if (!shexp)
            hp->n_expert_shared = 0;
        else if (hp->n_expert_shared == 0)
            hp->n_expert_shared = 1;
        hp->moe_shexp_gate = m->layers[0].shexp_gate != NULL;
    }
    hp->qkv_bias = any_bias;
    hp->qk_norm = any_qkn;
    hp->post_norms = any_post;
    hp->qk_norm_full = any_full;
    hp->no_pre_norm = !any_prenorm;
    return 0;
}

/* ---- loading ------------------------------------------------------------ */

static int key_int(const lf_gguf *g, const char *arch, const char *suffix, int *out,
                   bool required, const char *path, lf_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const lf_gguf_kv *kv = lf_gguf_find_kv(g, key);
    if (!kv) {
        if (required)
            return lf_error_set(err, LF_EFORMAT, "%s: metadata key %s missing", path, key);
        return 0;
    }
    if (kv->type == LF_GGUF_ARRAY)
        return lf_error_set(err, LF_EUNSUPP,
                            "%s: %s is a per-layer array (not supported)", path, key);
    uint64_t v;
    int rc = lf_gguf_get_u64(g, key, &v);
    if (rc < 0 || v > (uint64_t)INT32_MAX)
        return lf_error_set(err, LF_EFORMAT, "%s: metadata key %s: not a valid count", path, key);
    *out = (int)v;
    return 0;
}

static int key_float(const lf_gguf *g, const char *arch, const char *suffix, float *out,
                     const char *path, lf_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!lf_gguf_find_kv(g, key))
        return 0;
    double v;
    if (lf_gguf_get_f64(g, key, &v) < 0 || !isfinite(v))
        return lf_error_set(err, LF_EFORMAT, "%s: metadata key %s: not a number", path, key);
    *out = (float)v;
    return 0;
}

/* llama.cpp's general.file_type numbers → mixes. */
static const struct { int ftype; lf_mix mix; } ftype_map[] = {
    {0, LF_MIX_F32},     {1, LF_MIX_F16},     {2, LF_MIX_Q4_0},    {3, LF_MIX_Q4_1},
    {7, LF_MIX_Q8_0},    {8, LF_MIX_Q5_0},    {9, LF_MIX_Q5_1},    {10, LF_MIX_Q2_K},
    {11, LF_MIX_Q3_K_S}, {12, LF_MIX_Q3_K_M}, {13, LF_MIX_Q3_K_L}, {14, LF_MIX_Q4_K_S},
    {15, LF_MIX_Q4_K_M}, {16, LF_MIX_Q5_K_S}, {17, LF_MIX_Q5_K_M}, {18, LF_MIX_Q6_K},
    {25, LF_MIX_IQ4_NL}, {30, LF_MIX_IQ4_XS}, {32, LF_MIX_BF16},
};

static int mix_to_ftype(lf_mix mix) {
    for (size_t i = 0; i < sizeof ftype_map / sizeof ftype_map[0]; i++)
        if (ftype_map[i].mix == mix)
            return ftype_map[i].ftype;
    return -1;
}

/* The {arch}.expert_* keys llama.cpp writes; gating and normalisation
 * default to the family's (lf_model_params_init) unless the file says. */
static int read_moe(const lf_gguf *g, const char *a, const char *path, lf_model_params *hp,
                    lf_error *err) {
    int rc, gating = 0;
    float scale = 0;
    if ((rc = key_int(g, a, "expert_count", &hp->n_expert, false, path, err)) < 0 ||
        (rc = key_int(g, a, "expert_used_count", &hp->n_expert_used, false, path, err)) < 0 ||
        (rc = key_int(g, a, "expert_feed_forward_length", &hp->n_ff_exp, false, path, err)) < 0 ||
        (rc = key_int(g, a, "expert_shared_feed_forward_length", &hp->n_ff_shexp, false, path,
                      err)) < 0 ||
        (rc = key_int(g, a, "expert_shared_count", &hp->n_expert_shared, false, path, err)) < 0 ||
        (rc = key_int(g, a, "expert_gating_func", &gating, false, path, err)) < 0 ||
        (rc = key_float(g, a, "expert_weights_scale", &scale, path, err)) < 0)
        return rc;
    if (hp->n_expert == 0)
        return 0;
    if (hp->n_expert_used <= 0)
        return lf_error_set(err, LF_EFORMAT, "%s: %s.expert_count = %d but no expert_used_count",
                            path, a, hp->n_expert);
    /* llama.cpp's defaults for files without the expert widths */
    bool qwen = hp->arch == LF_ARCH_QWEN2MOE || hp->arch == LF_ARCH_QWEN3MOE;
    if (hp->n_ff_exp == 0 && qwen)
        hp->n_ff_exp = hp->n_ff / hp->n_expert_used;
    if (hp->n_ff_shexp == 0 && hp->arch == LF_ARCH_QWEN2MOE)
        hp->n_ff_shexp = hp->n_ff;
    /* llama.cpp's gating function numbers: 1 softmax, 2 sigmoid, 3 softmax
     * over the chosen weights */
    if (gating == 1)
        hp->gating = LF_MOE_SOFTMAX;
    else if (gating == 2)
        hp->gating = LF_MOE_SIGMOID;
    else if (gating == 3)
        hp->gating = LF_MOE_TOPK_SOFTMAX;
    else if (gating != 0)
        return lf_error_set(err, LF_EUNSUPP, "%s: %s.expert_gating_func = %d is not supported",
                            path, a, gating);
    char key[128];
    snprintf(key, sizeof key, "%s.expert_weights_norm", a);
    const lf_gguf_kv *kv = lf_gguf_find_kv(g, key);
    if (kv && kv->type == LF_GGUF_BOOL)
        hp->moe_norm_topk = kv->v.b;
    if (scale > 0)
        hp->moe_weights_scale = scale;
    return 0;
}

static int read_hparams(const lf_gguf *g, const char *path, lf_model_params *hp,
                        lf_error *err) {
    char arch_s[64];
    if (lf_gguf_get_str(g, "general.architecture", arch_s, sizeof arch_s) < 0)
        return lf_error_set(err, LF_EFORMAT, "%s: general.architecture missing", path);
    lf_arch arch = LF_ARCH_LLAMA;   /* set by lf_arch_parse on success */
    int rc = lf_arch_parse(arch_s, &arch, err);
    if (rc < 0)
        return lf_error_wrap(err, "%s", path);
    char type_s[32];
    if (lf_gguf_get_str(g, "general.type", type_s, sizeof type_s) == 0 &&
        strcmp(type_s, "model") != 0)
        return lf_error_set(err, LF_EINVAL, "%s: general.type is '%s', not a model", path, type_s);
    lf_model_params_init(hp, arch);
    /* a file's RoPE scaling is what its keys say (gpt-oss's YaRN default is
     * for synthesized shapes): none without them, as llama.cpp reads it */
    hp->rope_scaling = LF_ROPE_SCALING_NONE;
    hp->rope_scale_factor = 1.0f;
    hp->rope_orig_ctx = 0;
    const char *a = arch_s;
    if (lf_gguf_get_str(g, "general.name", hp->name, sizeof hp->name) < 0) {
        const char *base = strrchr(path, '/');
        snprintf(hp->name, sizeof hp->name, "%s", base ? base + 1 : path);
    }
    if ((rc = key_int(g, a, "block_count", &hp->n_layer, true, path, err)) < 0 ||
        (rc = key_int(g, a, "embedding_length", &hp->n_embd, true, path, err)) < 0 ||
        (rc = key_int(g, a, "feed_forward_length", &hp->n_ff, true, path, err)) < 0 ||
        (rc = key_int(g, a, "attention.head_count", &hp->n_head, true, path, err)) < 0 ||
        (rc = key_int(g, a, "attention.head_count_kv", &hp->n_head_kv, false, path, err)) < 0 ||
        (rc = key_int(g, a, "attention.key_length", &hp->head_dim, false, path, err)) < 0 ||
        (rc = key_int(g, a, "attention.value_length", &hp->head_dim_v, false, path, err)) < 0 ||
        (rc = key_int(g, a, "context_length", &hp->n_ctx_train, false, path, err)) < 0 ||
        (rc = key_int(g, a, "rope.dimension_count", &hp->n_rot, false, path, err)) < 0 ||
        (rc = key_int(g, a, "attention.sliding_window", &hp->swa_window, false, path, err)) < 0 ||
        (rc = key_int(g, a, "rope.scaling.original_context_length", &hp->rope_orig_ctx, false,
                      path, err)) < 0)
        return rc;
    if ((rc = key_float(g, a, "rope.freq_base", &hp->rope_base, path, err)) < 0 ||
        (rc = key_float(g, a, "attention.layer_norm_rms_epsilon", &hp->norm_eps, path, err)) < 0 ||
        (rc = key_float(g, a, "attn_logit_softcapping", &hp->attn_softcap, path, err)) < 0 ||
        (rc = key_float(g, a, "final_logit_softcapping", &hp->final_softcap, path, err)) < 0 ||
        (rc = key_float(g, a, "attention.scale", &hp->attn_scale, path, err)) < 0 ||
        (rc = key_float(g, a, "embedding_scale", &hp->embd_mult, path, err)) < 0 ||
        (rc = key_float(g, a, "residual_scale", &hp->residual_mult, path, err)) < 0 ||
        (rc = key_float(g, a, "logit_scale", &hp->logit_scale, path, err)) < 0 ||
        (rc = key_float(g, a, "rope.scaling.attn_factor", &hp->rope_attn_factor, path, err)) < 0)
        return rc;
    if ((rc = read_moe(g, a, path, hp, err)) < 0)
        return rc;
    /* RoPE scaling: rope.scaling.type + factor, or the older scale_linear */
    char key[128], st[32] = "";
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    lf_gguf_get_str(g, key, st, sizeof st);
    float factor = 0, linear = 0;
    if ((rc = key_float(g, a, "rope.scaling.factor", &factor, path, err)) < 0 ||
        (rc = key_float(g, a, "rope.scale_linear", &linear, path, err)) < 0)
        return rc;
    if (linear > 0 && linear != 1.0f) {
        hp->rope_scaling = LF_ROPE_SCALING_LINEAR;
        hp->rope_scale_factor = linear;
    }
    if (!strcmp(st, "linear") && factor > 0) {
        hp->rope_scaling = LF_ROPE_SCALING_LINEAR;
        hp->rope_scale_factor = factor;
    } else if (!strcmp(st, "yarn") && factor > 0) {
        hp->rope_scaling = LF_ROPE_SCALING_YARN;
        hp->rope_scale_factor = factor;
    } else if (!strcmp(st, "longrope")) {
        hp->rope_scaling = LF_ROPE_SCALING_LONGROPE;
    }
    /* gemma3 local layers always use base 10000 in the reference code */
    if (hp->arch != LF_ARCH_GEMMA3)
        hp->rope_base_swa = 0;
    if (hp->arch != LF_ARCH_GEMMA2 && hp->arch != LF_ARCH_GEMMA3 && hp->arch != LF_ARCH_GPTOSS)
        hp->swa_window = 0;
    return 0;
}

int lf_model_load(lf_model **out, const char *path, const lf_model_opts *opts, lf_error *err) {
    *out = NULL;
    lf_gguf *g = NULL;
    int rc = lf_gguf_open(&g, path, err);
    if (rc < 0)
        return rc;
    /* The weights are used in place from the mapping, so the file is what
     * becomes resident: refuse it before binding or converting anything. */
    const uint64_t budget = opts ? opts->mem_budget : 0;
    const size_t file_bytes = lf_gguf_file_size(g);
    if (budget && file_bytes > budget) {
        char need[32], have[32];
        lf_format_bytes(need, sizeof need, (double)file_bytes);
        lf_format_bytes(have, sizeof have, (double)budget);
        lf_gguf_close(g);
        return lf_error_set(err, LF_ETOOBIG,
                            "%s: the model needs %s (%zu bytes of weights and metadata), more "
                            "than the usable memory of %s (%llu bytes)", path, need, file_bytes,
                            have, (unsigned long long)budget);
    }
    lf_model_params hp;
    if ((rc = read_hparams(g, path, &hp, err)) < 0) {
        lf_gguf_close(g);
        return rc;
    }
    /* the vocabulary size is the embedding's row count */
    const lf_gguf_tensor *te = lf_gguf_find_tensor(g, "token_embd.weight");
    if (!te || te->n_dims != 2 || te->ne[1] > INT32_MAX) {
        lf_gguf_close(g);
        return lf_error_set(err, LF_EFORMAT,
                            "%s: tensor token_embd.weight missing, not 2-D or too many rows", path);
    }
    hp.n_vocab = (int)te->ne[1];
    if ((rc = lf_model_params_check(&hp, err)) < 0) {
        lf_gguf_close(g);
        return lf_error_wrap(err, "%s", path);
    }
    /* Every layer has tensors of its own: a block count beyond the tensor
     * count is a lie, refused before the per-layer tables are allocated. */
    const int64_t n_tensors = lf_gguf_n_tensors(g);
    if (hp.n_layer > n_tensors) {
        lf_gguf_close(g);
        return lf_error_set(err, LF_EFORMAT, "%s: %s.block_count = %d, but the file has only %lld tensors",
                            path, lf_arch_name(hp.arch), hp.n_layer, (long long)n_tensors);
    }
    lf_model *m = lf_model_alloc(&hp);
    if (!m) {
        lf_gguf_close(g);
        return lf_error_set(err, LF_ENOMEM, "%s: out of memory", path);
    }
    m->gguf = g;
    m->meta = g;
    m->mem_budget = budget;
    int64_t nt = lf_gguf_n_tensors(g);
    m->tensors = calloc((size_t)(nt > 0 ? nt : 1), sizeof *m->tensors);
    if (!m->tensors) {
        lf_model_free(m);
        return lf_error_set(err, LF_ENOMEM, "%s: out of memory", path);
    }
    for (int64_t i = 0; i < nt; i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        lf_model_tensor *mt = &m->tensors[m->n_tensors++];
        mt->name = t->name;
        mt->n_dims = t->n_dims;
        memcpy(mt->ne, t->ne, sizeof mt->ne);
        for (uint32_t d = t->n_dims; d < 4; d++)
            mt->ne[d] = 1;
        mt->mat = lf_mat_from_tensor(t);
    }
    if ((rc = lf_model_bind(m, err)) < 0) {
        lf_model_free(m);
        return lf_error_wrap(err, "%s", path);
    }
    uint64_t ft;
    if (lf_gguf_get_u64(g, "general.file_type", &ft) == 0)
        for (size_t i = 0; i < sizeof ftype_map / sizeof ftype_map[0]; i++)
            if ((uint64_t)ftype_map[i].ftype == ft)
                m->mix = ftype_map[i].mix;
    if (!(opts && opts->no_vocab)) {
        lf_error verr = {0};
        int vrc = lf_vocab_load(&m->vocab, g, &verr);
        if (vrc == 0)
            m->own_vocab = true;
        else if (vrc != LF_ENOTFOUND)
            lf_warn("%s: vocabulary not usable: %s", path, verr.msg);
        if (vrc < 0)
            m->vocab = NULL;
    }
    if (opts && opts->interleave && (rc = lf_model_interleave(m, err)) < 0) {
        lf_model_free(m);
        return lf_error_wrap(err, "%s", path);
    }
    *out = m;
    return 0;
}

/* ---- the kernels' layout ---------------------------------------------------- */

static bool within(const lf_mat *t, const void *p) {
    const char *b = t->data;
    return (const char *)p >= b && (const char *)p < b + (size_t)t->rows * t->row_bytes;
}

/* Whether every view of registry matrix t (layer slots, output) starts and
 * ends on a group of 4 rows; *used: some view exists. */
static bool views_aligned(const lf_model *m, const lf_mat *t, bool *used) {
    bool ok = true;
    *used = false;
    for (int il = 0; il < m->hp.n_layer; il++)
        for (int k = 0; k < LF_W_COUNT; k++) {
            const lf_mat *v = &m->layers[il].w[k];
            if (!v->data || !within(t, v->data))
                continue;
            *used = true;
            size_t off = (size_t)((const char *)v->data - (const char *)t->data);
            ok &= off % (LF_IL_ROWS * t->row_bytes) == 0 && v->rows % LF_IL_ROWS == 0;
        }
    /* an expert tensor is sliced per expert (lf_moe_expert): each slice
     * must start on a group of 4 rows for the slices to stay valid */
    for (int il = 0; il < m->hp.n_layer && m->hp.n_expert > 0; il++)
        for (int k = 0; k < 3; k++) {
            const lf_mat *v = &m->layers[il].exps[k];
            if (!v->data || !within(t, v->data))
                continue;
            *used = true;
            ok &= v->data == t->data && (v->rows / m->hp.n_expert) % LF_IL_ROWS == 0;
        }
    if (m->output.data && within(t, m->output.data))
        *used = true;
    return ok;
}

static void mark_views(lf_model *m, const lf_mat *t) {
    for (int il = 0; il < m->hp.n_layer; il++)
        for (int k = 0; k < LF_W_COUNT; k++)
            if (m->layers[il].w[k].data && within(t, m->layers[il].w[k].data))
                m->layers[il].w[k].interleaved = true;
    for (int il = 0; il < m->hp.n_layer && m->hp.n_expert > 0; il++)
        for (int k = 0; k < 3; k++)
            if (m->layers[il].exps[k].data && within(t, m->layers[il].exps[k].data))
                m->layers[il].exps[k].interleaved = true;
    if (m->output.data && within(t, m->output.data))
        m->output.interleaved = true;
    if (m->tok_embd.data && within(t, m->tok_embd.data))
        m->tok_embd.interleaved = true;
}

int lf_model_interleave(lf_model *m, lf_error *err) {
    /* a merged copy's unmerged tensors belong to its base */
    if (m->merged)
        return 0;
    int count = 0;
    bool writable = false;
    for (int i = 0; i < m->n_tensors; i++) {
        lf_mat *t = &m->tensors[i].mat;
        /* an untied embedding is only looked up (no view uses it below);
         * a tied one is also the output product, the biggest matrix of a
         * small model, and its lookups read rows back out of the layout */
        if (t->rows <= 1 || !lf_mat_can_interleave(t))
            continue;
        bool used;
        if (!views_aligned(m, t, &used) || !used)
            continue;
        if (m->gguf && !writable) {
            lf_error e2 = {0};
            if (lf_gguf_data_writable(m->gguf, &e2) == LF_EUNSUPP)
                return 0;   /* caller's memory: stays as stored */
            if (e2.code < 0)
                return lf_error_set(err, e2.code, "%s", e2.msg);
            writable = true;
        }
        int rc = lf_mat_interleave(t, (void *)t->data, err);
        if (rc < 0)
            return lf_error_wrap(err, "%s", m->tensors[i].name);
        mark_views(m, t);
        count++;
    }
    return count;
}

/* ---- accessors ----------------------------------------------------------- */

void lf_model_set_mem_budget(lf_model *m, uint64_t bytes) { m->mem_budget = bytes; }
uint64_t lf_model_mem_budget(const lf_model *m) { return m->mem_budget; }

const lf_model_params *lf_model_hparams(const lf_model *m) { return &m->hp; }
const lf_vocab *lf_model_vocab(const lf_model *m) { return m->vocab; }
lf_mix lf_model_mix(const lf_model *m) { return m->mix; }
int lf_model_n_tensors(const lf_model *m) { return m->n_tensors; }
const lf_model_tensor *lf_model_tensor_at(const lf_model *m, int i) {
    return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}

static size_t tensor_bytes(const lf_model_tensor *t) {
    return (size_t)t->mat.rows * t->mat.row_bytes;
}

size_t lf_model_total_bytes(const lf_model *m) {
    size_t s = 0;
    for (int i = 0; i < m->n_tensors; i++)
        s += tensor_bytes(&m->tensors[i]);
    return s;
}

size_t lf_model_weight_bytes(const lf_model *m) {
    size_t s = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const lf_model_tensor *t = &m->tensors[i];
        if (strcmp(t->name, "token_embd.weight") == 0)
            s += t->mat.row_bytes;          /* one row looked up per token */
        else if (m->hp.n_expert > 0 && strstr(t->name, "_exps."))
            /* a token reads only its n_expert_used experts' rows */
            s += tensor_bytes(t) / (size_t)m->hp.n_expert * (size_t)m->hp.n_expert_used;
        else
            s += tensor_bytes(t);
    }
    if (m->hp.tied)
        s += (size_t)m->tok_embd.rows * m->tok_embd.row_bytes;   /* the logits read it all */
    return s;
}

uint64_t lf_model_n_params(const lf_model *m) {
    uint64_t n = 0;
    for (int i = 0; i < m->n_tensors; i++)
        n += (uint64_t)m->tensors[i].mat.rows * (uint64_t)m->tensors[i].mat.cols;
    return n;
}

/* ---- saving -------------------------------------------------------------- */

/* Copies one metadata entry of a source file into the writer. */
static int copy_kv(lf_gguf_writer *w, const lf_gguf_kv *kv) {
    switch (kv->type) {
    case LF_GGUF_UINT8: case LF_GGUF_UINT16: case LF_GGUF_UINT32:
        return lf_gguf_writer_set_u32(w, kv->key, (uint32_t)kv->v.u);
    case LF_GGUF_INT8: case LF_GGUF_INT16: case LF_GGUF_INT32:
        return lf_gguf_writer_set_i32(w, kv->key, (int32_t)kv->v.i);
    case LF_GGUF_UINT64: case LF_GGUF_INT64:
        return lf_gguf_writer_set_u64(w, kv->key, kv->v.u);
    case LF_GGUF_FLOAT32: case LF_GGUF_FLOAT64:
        return lf_gguf_writer_set_f32(w, kv->key, (float)kv->v.f);
    case LF_GGUF_BOOL:
        return lf_gguf_writer_set_bool(w, kv->key, kv->v.b);
    case LF_GGUF_STRING: {
        char *s = malloc(kv->str.len + 1);
        if (!s)
            return LF_ENOMEM;
        memcpy(s, kv->str.ptr, kv->str.len);
        s[kv->str.len] = 0;
        int rc = lf_gguf_writer_set_str(w, kv->key, s);
        free(s);
        return rc;
    }
    case LF_GGUF_ARRAY:
        if (kv->arr_type == LF_GGUF_STRING) {
            char **v = calloc(kv->arr_n ? kv->arr_n : 1, sizeof *v);
            int rc = v ? 0 : LF_ENOMEM;
            for (uint64_t i = 0; rc == 0 && i < kv->arr_n; i++) {
                lf_gguf_str s = lf_gguf_arr_str(kv, i);
                v[i] = malloc(s.len + 1);
                if (!v[i]) {
                    rc = LF_ENOMEM;
                    break;
                }
                memcpy(v[i], s.ptr, s.len);
                v[i][s.len] = 0;
            }
            if (rc == 0)
                rc = lf_gguf_writer_set_arr_str(w, kv->key, (const char *const *)v, kv->arr_n);
            for (uint64_t i = 0; v && i < kv->arr_n; i++)
                free(v[i]);
            free(v);
            return rc;
        }
        if (kv->arr_type == LF_GGUF_ARRAY)
            return 0;   /* nested arrays: not used by tokenizers we copy */
        return lf_gguf_writer_set_arr(w, kv->key, kv->arr_type, kv->arr_data, kv->arr_n);
    default:
        return 0;
    }
}

/* A minimal SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens
 * when they fit, then short letter pieces, all distinct. */
static int write_min_vocab(lf_gguf_writer *w, int n_vocab) {
    char **toks = calloc((size_t)n_vocab, sizeof *toks);
    float *scores = calloc((size_t)n_vocab, sizeof *scores);
    int32_t *types = calloc((size_t)n_vocab, sizeof *types);
    int rc = (toks && scores && types) ? 0 : LF_ENOMEM;
    int next_piece = 0;
    for (int i = 0; rc == 0 && i < n_vocab; i++) {
        char buf[32];
        int type = 1;   /* normal */
        if (i == 0) {
            snprintf(buf, sizeof buf, "<unk>");
            type = 2;
        } else if (i == 1) {
            snprintf(buf, sizeof buf, "<s>");
            type = 3;
        } else if (i == 2) {
            snprintf(buf, sizeof buf, "</s>");
            type = 3;
        } else if (n_vocab >= 259 + 27 && i < 259) {
            snprintf(buf, sizeof buf, "<0x%02X>", i - 3);
            type = 6;
        } else {
            /* "\xe2\x96\x81" is U+2581, SentencePiece's space marker */
            int k = next_piece++;
            if (k == 0) {
                snprintf(buf, sizeof buf, "\xe2\x96\x81");
            } else {
                k -= 1;
                char word[8];
                int len = 0;
                do {
                    word[len++] = (char)('a' + k % 26);
                    k = k / 26 - 1;
                } while (k >= 0 && len < 7);
                word[len] = 0;
                snprintf(buf, sizeof buf, "%s%s", (next_piece % 2) ? "\xe2\x96\x81" : "", word);
            }
            scores[i] = -(float)next_piece;
        }
        toks[i] = strdup(buf);
        types[i] = type;
        if (!toks[i])
            rc = LF_ENOMEM;
    }
    if (rc == 0)
        rc = lf_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    if (rc == 0)
        rc = lf_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks,
                                        (uint64_t)n_vocab);
    if (rc == 0)
        rc = lf_gguf_writer_set_arr(w, "tokenizer.ggml.scores", LF_GGUF_FLOAT32, scores,
                                    (uint64_t)n_vocab);
    if (rc == 0)
        rc = lf_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LF_GGUF_INT32, types,
                                    (uint64_t)n_vocab);
    if (rc == 0)
        rc = lf_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (rc == 0)
        rc = lf_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (rc == 0)
        rc = lf_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (rc == 0)
        rc = lf_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    for (int i = 0; toks && i < n_vocab; i++)
        free(toks[i]);
    free(toks);
    free(scores);
    free(types);
    return rc;
}

int lf_model_save_gguf(const lf_model *m, const char *path, lf_error *err) {
    const lf_model_params *hp = &m->hp;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].mat.interleaved)
            return lf_error_set(err, LF_EINVAL, "%s: %s is in the kernels' interleaved layout; "
                                "save models before lf_model_interleave", path,
                                m->tensors[i].name);
    lf_gguf_writer *w = lf_gguf_writer_new();
    if (!w)
        return lf_error_set(err, LF_ENOMEM, "%s: out of memory", path);
    const char *a = lf_arch_name(hp->arch);
    char key[128];
    int rc = 0;
#define SET(call) do { if (rc == 0) rc = (call); } while (0)
#define K(suffix) (snprintf(key, sizeof key, "%s.%s", a, suffix), key)
    SET(lf_gguf_writer_set_str(w, "general.architecture", a));
    SET(lf_gguf_writer_set_str(w, "general.type", "model"));
    SET(lf_gguf_writer_set_str(w, "general.name", hp->name));
    SET(lf_gguf_writer_set_u32(w, "general.quantization_version", 2));
    int ft = mix_to_ftype(m->mix);
    if (ft >= 0)
        SET(lf_gguf_writer_set_u32(w, "general.file_type", (uint32_t)ft));
    SET(lf_gguf_writer_set_u32(w, K("context_length"), (uint32_t)hp->n_ctx_train));
    SET(lf_gguf_writer_set_u32(w, K("embedding_length"), (uint32_t)hp->n_embd));
    SET(lf_gguf_writer_set_u32(w, K("block_count"), (uint32_t)hp->n_layer));
    SET(lf_gguf_writer_set_u32(w, K("feed_forward_length"), (uint32_t)hp->n_ff));
    SET(lf_gguf_writer_set_u32(w, K("attention.head_count"), (uint32_t)hp->n_head));
    SET(lf_gguf_writer_set_u32(w, K("attention.head_count_kv"), (uint32_t)hp->n_head_kv));
    SET(lf_gguf_writer_set_u32(w, K("attention.key_length"), (uint32_t)hp->head_dim));
    SET(lf_gguf_writer_set_u32(w, K("attention.value_length"), (uint32_t)hp->head_dim_v));
    SET(lf_gguf_writer_set_u32(w, K("rope.dimension_count"), (uint32_t)hp->n_rot));
    SET(lf_gguf_writer_set_f32(w, K("rope.freq_base"), hp->rope_base));
    SET(lf_gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), hp->norm_eps));
    SET(lf_gguf_writer_set_u32(w, K("vocab_size"), (uint32_t)hp->n_vocab));
    if (hp->rope_scaling == LF_ROPE_SCALING_LINEAR || hp->rope_scaling == LF_ROPE_SCALING_YARN) {
        SET(lf_gguf_writer_set_str(w, K("rope.scaling.type"),
                                   hp->rope_scaling == LF_ROPE_SCALING_YARN ? "yarn" : "linear"));
        SET(lf_gguf_writer_set_f32(w, K("rope.scaling.factor"), hp->rope_scale_factor));
    } else if (hp->rope_scaling == LF_ROPE_SCALING_LONGROPE) {
        SET(lf_gguf_writer_set_str(w, K("rope.scaling.type"), "longrope"));
    }
    if (hp->rope_orig_ctx > 0)
        SET(lf_gguf_writer_set_u32(w, K("rope.scaling.original_context_length"),
                                   (uint32_t)hp->rope_orig_ctx));
    if (hp->rope_attn_factor > 0 && hp->rope_attn_factor != 1.0f)
        SET(lf_gguf_writer_set_f32(w, K("rope.scaling.attn_factor"), hp->rope_attn_factor));
    if (hp->attn_softcap > 0)
        SET(lf_gguf_writer_set_f32(w, K("attn_logit_softcapping"), hp->attn_softcap));
    if (hp->final_softcap > 0)
        SET(lf_gguf_writer_set_f32(w, K("final_logit_softcapping"), hp->final_softcap));
    if (hp->swa_window > 0)
        SET(lf_gguf_writer_set_u32(w, K("attention.sliding_window"), (uint32_t)hp->swa_window));
    if (hp->embd_mult > 0)
        SET(lf_gguf_writer_set_f32(w, K("embedding_scale"), hp->embd_mult));
    if (hp->residual_mult > 0)
        SET(lf_gguf_writer_set_f32(w, K("residual_scale"), hp->residual_mult));
    if (hp->logit_scale > 0)
        SET(lf_gguf_writer_set_f32(w, K("logit_scale"), hp->logit_scale));
    if (hp->attn_scale > 0)
        SET(lf_gguf_writer_set_f32(w, K("attention.scale"), hp->attn_scale));
    if (hp->n_expert > 0) {
        SET(lf_gguf_writer_set_u32(w, K("expert_count"), (uint32_t)hp->n_expert));
        SET(lf_gguf_writer_set_u32(w, K("expert_used_count"), (uint32_t)hp->n_expert_used));
        SET(lf_gguf_writer_set_u32(w, K("expert_feed_forward_length"), (uint32_t)hp->n_ff_exp));
        if (hp->n_expert_shared > 0)
            SET(lf_gguf_writer_set_u32(w, K("expert_shared_feed_forward_length"),
                                       (uint32_t)hp->n_ff_shexp));
        if (hp->moe_weights_scale > 0)
            SET(lf_gguf_writer_set_f32(w, K("expert_weights_scale"), hp->moe_weights_scale));
    }
#undef K
    /* tokenizer: copied from the file the weights came from, else minimal */
    bool have_tok = false;
    if (m->meta) {
        for (int64_t i = 0; rc == 0 && i < lf_gguf_n_kv(m->meta); i++) {
            const lf_gguf_kv *kv = lf_gguf_kv_at(m->meta, i);
            if (strncmp(kv->key, "tokenizer.", 10) == 0) {
                rc = copy_kv(w, kv);
                have_tok = true;
            }
        }
    }
    if (rc == 0 && !have_tok)
        rc = write_min_vocab(w, hp->n_vocab);
    for (int i = 0; rc == 0 && i < m->n_tensors; i++) {
        const lf_model_tensor *t = &m->tensors[i];
        rc = lf_gguf_writer_add_tensor(w, t->name, t->mat.type, t->n_dims, t->ne, t->mat.data,
                                       tensor_bytes(t));
    }
#undef SET
    if (rc < 0) {
        lf_gguf_writer_free(w);
        return lf_error_set(err, rc, "%s: building the GGUF metadata failed: %s", path,
                            lf_strerror(rc));
    }
    rc = lf_gguf_writer_write(w, path, err);
    lf_gguf_writer_free(w);
    return rc;
}
