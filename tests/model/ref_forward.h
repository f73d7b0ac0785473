/*
 * An independent plain-F32 transformer for the model tests, written apart
 * from model/forward.c and deliberately simple (llama2.c style): every
 * weight dequantized to F32 once, one token at a time, double accumulators,
 * F32 KV cache, no threads, no SIMD. It takes its weights through a getter
 * by GGUF tensor name, so it can run from a GGUF file read here (for real
 * models) or from an lf_model's tensor registry (for synthetic ones).
 */
#ifndef LF_TEST_REF_FORWARD_H
#define LF_TEST_REF_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ref_config {
    int n_layer, dim, n_head, n_kv, head_dim, head_dim_v, ff, vocab, n_rot;
    float eps;
    float rope_base, rope_base_swa, freq_scale;
    bool neox;
    bool gelu;            /* GeGLU instead of SwiGLU */
    bool embd_scale;      /* x *= sqrt(dim) */
    float attn_scale;     /* 0 = 1/sqrt(head_dim) */
    float attn_softcap, final_softcap;
    int swa_window, swa_pattern;
    bool qk_norm_full;    /* Q/K norm over the whole projection (olmo2) */
    float embd_mult, residual_mult, logit_scale;   /* granite, 0 = none */
    /* mixture of experts, n_expert 0 = dense; the shared expert (if the
     * getter has ffn_*_shexp) is ff_shexp wide */
    int n_expert, n_used, ff_exp, ff_shexp;
    int gating;           /* 0 softmax then top k, 1 top k then softmax, 2 sigmoid */
    bool norm_topk;
    float w_scale;        /* 0 = 1 */
    /* gpt-oss: biases on O, the router and every expert product, a sink
     * logit per head, the FFN norm stored as post_attention_norm, and the
     * clamped SwiGLU min(g,7)·σ(1.702·min(g,7))·(clamp(u,±7)+1) */
    bool gptoss;
    /* YaRN (yarn_factor > 1): angles blended between θ/factor and θ per
     * pair by where its wavelength falls in the original context, and
     * cos/sin scaled by 1 + 0.1·ln(factor) */
    float yarn_factor;
    int yarn_orig_ctx;
} ref_config;

/* Returns n floats (malloc'd, caller frees) for tensor name, or NULL when
 * absent. The getter checks the element count itself. */
typedef float *(*ref_getter)(void *ctx, const char *name, int64_t n);

typedef struct ref_layer {
    float *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w_gate, *w_up, *w_down;
    float *bq, *bk, *bv, *q_norm, *k_norm, *post_attn, *post_ffn;
    /* experts: router [n_expert][dim]; gate/up [n_expert][ff_exp][dim];
     * down [n_expert][dim][ff_exp]; w_gate/w_up/w_down hold the shared
     * expert (NULL when none) */
    float *router, *ge, *ue, *de, *exp_bias, *sh_gate;
    /* gpt-oss: O bias [dim], sinks [n_head], router bias [n_expert],
     * expert biases gate/up [n_expert][ff_exp], down [n_expert][dim] */
    float *bo, *sinks, *router_b, *geb, *ueb, *deb;
} ref_layer;

typedef struct ref_model {
    ref_config c;
    float *tok_embd, *out_norm, *output;   /* output == tok_embd when tied */
    bool tied;
    float *rope_freqs;                     /* n_rot/2 or NULL */
    ref_layer *L;
    int max_seq;
    float *kc, *vc;                        /* [layer][pos][n_kv * hd] */
    float *x, *xb, *q, *k, *v, *ao, *o, *h1, *h3, *att;
    float *moe;                            /* router logits + expert sum */
} ref_model;

/* 0 on success, -1 if a required tensor is missing (name printed). */
int ref_model_init(ref_model *r, const ref_config *c, ref_getter get, void *ctx, int max_seq);
void ref_model_free(ref_model *r);
/* The experts one token uses from router logits: ids (best first, lower
 * index among equals) and weights, by sorting every expert's score. */
void ref_moe_route(const ref_config *c, const float *logits, const float *bias, int *ids,
                   float *weights);
/* Logits (vocab floats) of token at pos; positions must come in order. */
void ref_forward(ref_model *r, int token, int pos, float *logits);

#endif
