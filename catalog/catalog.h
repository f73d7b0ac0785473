/*
 * catalog — the shipped datasets as read-only tables: real model shapes
 * (datasets/models.json), quantization types and their published quality
 * loss (datasets/quants.csv), and GPUs/SoCs people run models on
 * (datasets/gpus.csv). Loaded once, validated row by row (a bad value is an
 * error naming the file, the row or model and the key), then looked up by
 * name. The tables never change after loading, so a loaded catalog may be
 * shared between threads.
 *
 * Usage:
 *     lf_catalog *cat; lf_error err = {0};
 *     if (lf_catalog_load(&cat, lf_cli_datadir(), &err) < 0) die(err.msg);
 *     const lf_catalog_model *m = lf_catalog_find(cat, "llama-3.2-1b");   // prefix ok
 *     const lf_catalog_quant *q = lf_catalog_find_quant(cat, "q4_k_m");
 *     const lf_catalog_gpu *g = lf_catalog_find_gpu(cat, "4090");         // loose
 *     printf("%s: %d layers, %.2fB params\n", m->display, m->n_layer, m->params_b);
 *     lf_catalog_free(cat);
 */
#ifndef LF_CATALOG_H
#define LF_CATALOG_H

#include "common/common.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct lf_catalog lf_catalog;

/* One model of models.json. Shapes are those of the published config.json
 * (num_hidden_layers, hidden_size, …). head_dim is given explicitly because
 * Gemma, Qwen3 and Mistral Nemo decouple it from n_embd / n_head. */
typedef struct lf_catalog_model {
    char name[64];        /* lowercase slug, "qwen2.5-7b-instruct" */
    char display[96];     /* "Qwen2.5 7B Instruct" */
    char family[32];      /* "qwen2.5" */
    char arch[16];        /* "llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "mistral", … */
    int n_layer;          /* num_hidden_layers */
    int n_embd;           /* hidden_size */
    int n_head;           /* num_attention_heads */
    int n_head_kv;        /* num_key_value_heads */
    int head_dim;         /* per-head dimension */
    int n_ff;             /* intermediate_size */
    int n_vocab;          /* vocab_size */
    int n_ctx;            /* max_position_embeddings, tokens */
    double rope_theta;
    float norm_eps;       /* rms_norm_eps */
    bool tied_embeddings; /* no separate output.weight */
    bool qkv_bias;        /* Q, K, V projections have biases (Qwen2) */
    bool qk_norm;         /* RMSNorm on Q and K (Qwen3, Gemma 3, OLMo 2) */
    double params_b;      /* published parameter count, billions */
    char license[32];     /* "apache-2.0", "llama3.2", "gemma", "mit", … */
    char source[256];     /* URL of the config.json */
    char tasks[96];       /* comma-separated: "chat,code,reasoning" */
    double quality_score; /* published capability score (see quality_metric) */
    char quality_metric[48];
    char quality_source[256];
    bool verified;        /* shapes checked against a copy of config.json */
    /* ---- additions beyond the shared core ---- */
    int n_ctx_practical;  /* context we consider practical locally, tokens */
    int sliding_window;   /* tokens of local attention layers; 0 = none */
    bool quality_verified;/* score looked up against its source */
    /* ---- mixture of experts (n_expert 0: a dense FFN) ----
     * Each MoE layer has a router (ffn_gate_inp) and n_expert expert FFNs
     * of width n_ff_exp, of which a token uses n_expert_used, plus
     * n_expert_shared shared experts of width n_ff_shexp that every token
     * uses. n_ff is then the dense width the config also names (unused by
     * the layers we count). */
    int n_expert;         /* num_experts / num_local_experts */
    int n_expert_used;    /* num_experts_per_tok (top k) */
    int n_ff_exp;         /* moe_intermediate_size (intermediate_size when the
                           * config has no separate expert width) */
    int n_expert_shared;  /* shared experts (qwen2moe: 1); 0 = none */
    int n_ff_shexp;       /* shared_expert_intermediate_size */
    char expert_gating[16]; /* "softmax", "topk_softmax", "sigmoid"; "" = arch default */
    int expert_norm_topk; /* norm_topk_prob: 1 yes, 0 no, -1 arch default */
    double active_params_b; /* published active parameters, billions (0 dense) */
    bool active_excludes_embedding; /* the publisher's active count leaves
                           * out the input embedding (OpenAI, IBM) */
} lf_catalog_model;

/* Whether m is a mixture-of-experts model. */
bool lf_catalog_model_is_moe(const lf_catalog_model *m);

/* Parameter counts from the shape (every tensor of the inventory below):
 * *total all of them; *active those a token passes through — every tensor
 * but the experts, of which n_expert_used of n_expert — counting the input
 * embedding table whole (as most publishers do; subtract *embd for the
 * others: they leave out the table even when it is tied to the output
 * projection); *embd the token embedding table. Any pointer may be NULL. */
void lf_catalog_param_counts(const lf_catalog_model *m, double *total, double *active,
                             double *embd);

/* One type or named mix of quants.csv; numbers measured by llama.cpp on
 * Llama-3-8B. Unknown values are NAN. */
typedef struct lf_catalog_quant {
    char name[16];        /* "Q4_K_M", as llama.cpp names the mix */
    double bpw;           /* effective bits per weight of the whole model */
    double size_gib;      /* Llama-3-8B file size at this quant */
    double dppl;          /* ΔPPL vs FP16 on wikitext-2 */
    double kld;           /* mean KL divergence vs FP16 */
    double same_top;      /* % of tokens with the same top-1 token; NAN if unpublished */
    char imatrix[16];     /* "none" or the importance matrix used */
    char source[256];
} lf_catalog_quant;

/* One GPU or SoC of gpus.csv (vendor spec sheet values). */
typedef struct lf_catalog_gpu {
    char vendor[32];
    char name[96];        /* "NVIDIA GeForce RTX 4090" */
    uint64_t mem_bytes;   /* VRAM, or the unified pool of the largest configuration */
    double bandwidth_gbs; /* peak memory bandwidth, GB/s (1e9 bytes) */
    bool unified;         /* memory shared with the CPU */
    double fp16_tflops;   /* peak dense FP16 matrix TFLOPS; NAN if not given */
    char source[256];
} lf_catalog_gpu;

/* Loads models.json, quants.csv and gpus.csv from datadir. On failure *out
 * is NULL and err names the file and the row/key. The caller owns *out and
 * frees it with lf_catalog_free. */
int lf_catalog_load(lf_catalog **out, const char *datadir, lf_error *err);
void lf_catalog_free(lf_catalog *c);

int lf_catalog_n_models(const lf_catalog *c);
/* NULL when i is out of range; the pointer lives as long as c. */
const lf_catalog_model *lf_catalog_model_at(const lf_catalog *c, int i);
/* Exact name, else case-insensitive name, else the one model whose name
 * starts with `name` (case-insensitive). NULL if none or ambiguous. */
const lf_catalog_model *lf_catalog_find(const lf_catalog *c, const char *name);
/* As lf_catalog_find but says why it failed: LF_ENOTFOUND (no such model)
 * or LF_EINVAL (ambiguous, listing the candidates) in err. */
int lf_catalog_match(const lf_catalog *c, const char *name,
                     const lf_catalog_model **out, lf_error *err);

int lf_catalog_n_quants(const lf_catalog *c);
const lf_catalog_quant *lf_catalog_quant_at(const lf_catalog *c, int i);
/* Case-insensitive exact name ("q4_k_m"); NULL if absent. */
const lf_catalog_quant *lf_catalog_find_quant(const lf_catalog *c, const char *name);

int lf_catalog_n_gpus(const lf_catalog *c);
const lf_catalog_gpu *lf_catalog_gpu_at(const lf_catalog *c, int i);
/* Loose match: case, spaces and punctuation ignored; the query must be a
 * substring of the name ("4090", "rtx 4090", "m3 max", "strix halo"); among
 * several matches the shortest name wins ("4090" → RTX 4090, not the laptop
 * part). NULL if none or if two shortest matches tie. */
const lf_catalog_gpu *lf_catalog_find_gpu(const lf_catalog *c, const char *name);

/* Whether the model lists task t in its tasks (case-insensitive). */
bool lf_catalog_model_has_task(const lf_catalog_model *m, const char *t);

/* ---- tensor inventory -------------------------------------------------
 * The weight tensors a llama-family GGUF of this model holds, with GGUF
 * names ("blk.3.attn_v.weight"), so memory estimates and synthetic models
 * agree on what exists. ne0 is the row length (innermost), ne1 the number
 * of rows (1 for vectors), ne2 the number of experts of a per-expert
 * tensor (ffn_{gate,up,down}_exps and their biases; 1 for every other
 * tensor): the tensor holds ne0 × ne1 × ne2 elements and a token reads
 * n_expert_used / ne2 of it. layer is the block index or -1. */
typedef struct lf_catalog_tensor {
    char name[48];
    int layer;
    int64_t ne0, ne1, ne2;
} lf_catalog_tensor;

/* Number of tensors of m (fused QKV / gate-up for arch "phi3", biases for
 * qkv_bias, Q/K norms for qk_norm, the extra post-norms of Gemma 2/3; for
 * MoE models the router, the 3-D expert tensors and any shared expert in
 * place of the dense FFN, and gpt-oss's biases and attention sinks). */
int lf_catalog_n_tensors(const lf_catalog_model *m);
/* Fills *out with the i-th tensor; returns 0, or LF_ERANGE if i is out of
 * range. The order is GGUF's: token_embd, output_norm, output, then blocks. */
int lf_catalog_tensor_at(const lf_catalog_model *m, int i, lf_catalog_tensor *out);

/* ---- as model hyperparameters -------------------------------------------
 * The entry as lf_model_params (model/model.h): the architecture's
 * defaults, the shape, RoPE base, norm eps, tied/bias/QK-norm flags, the
 * gemma sliding window and the experts (count, top k, widths, shared
 * experts, gating and renormalisation when the entry names them), checked with lf_model_params_check. LF_EUNSUPP for
 * an architecture the forward pass does not run; the message names the
 * model. Used by `synth`, `bench` and the runner (catalog/hparams.c). */
struct lf_model_params;
int lf_catalog_to_hparams(const lf_catalog_model *cm, struct lf_model_params *hp,
                          lf_error *err);
/* The reverse: a loaded or synthesized model's hyperparameters as a
 * catalog entry (name and display = hp->name; the shape, context, RoPE
 * base, norm eps, sliding window, the experts and the tied / qkv_bias / qk_norm flags,
 * which change the tensor list and so the byte counts), for the memory and
 * speed estimates that take catalog entries. Everything else is zero. The
 * one conversion: the runner and `sweep` both use it. */
void lf_catalog_from_hparams(const struct lf_model_params *hp, lf_catalog_model *cm);

#endif /* LF_CATALOG_H */
