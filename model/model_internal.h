/*
 * Private layout of lf_model, lf_lora and the helpers shared by the model
 * sources (model.c: loading, binding, saving; synth.c: synthetic weights;
 * forward.c: contexts and evaluation; lora.c: adapters; sample.c). Not part
 * of the public API: other modules use model/model.h.
 *
 * Invariants of an lf_model once lf_model_bind has succeeded:
 *  1. every lf_mat in layers[], tok_embd and output points at bytes that live
 *     as long as the model (the GGUF mapping, an owned buffer, or the base
 *     model for merged copies);
 *  2. every norm and bias pointer is F32 of the documented length;
 *  3. nothing is written after load (lf_model_interleave is part of loading):
 *     contexts only read.
 */
#ifndef LF_MODEL_INTERNAL_H
#define LF_MODEL_INTERNAL_H

#include "common/rng.h"
#include "model/model.h"

/* The matrices of one block, in evaluation order. */
typedef enum lf_wslot {
    LF_W_Q = 0, LF_W_K, LF_W_V, LF_W_O, LF_W_GATE, LF_W_UP, LF_W_DOWN,
    LF_W_COUNT
} lf_wslot;

/* GGUF name stem of each slot ("blk.%d.<stem>.weight"). */
extern const char *const lf_wslot_stem[LF_W_COUNT];

typedef struct lf_layer {
    lf_mat w[LF_W_COUNT];
    int w_tensor[LF_W_COUNT];   /* registry index, -1 for a view of a fused tensor */
    const float *attn_norm;     /* [n_embd] */
    const float *ffn_norm;      /* [n_embd] */
    const float *q_norm;        /* [head_dim] or NULL */
    const float *k_norm;        /* [head_dim] or NULL */
    const float *post_attn_norm;/* [n_embd] or NULL */
    const float *post_ffn_norm; /* [n_embd] or NULL */
    const float *bq, *bk, *bv;  /* [n_head*hd], [n_kv*hd], [n_kv*hdv] or NULL */
    const float *bo;            /* [n_embd] attn_output.bias or NULL */
    const float *attn_sinks;    /* [n_head] sink logits (gpt-oss) or NULL: one
                                 * more term exp(sink) in each softmax sum */
    /* mixture of experts (hp.n_expert > 0); the shared expert, when there
     * is one, sits in w[LF_W_GATE/UP/DOWN] (n_ff_shexp rows) */
    lf_mat router;              /* n_expert rows × n_embd (ffn_gate_inp) */
    lf_mat exps[3];             /* gate, up: n_expert·n_ff_exp rows × n_embd;
                                 * down: n_expert·n_embd rows × n_ff_exp */
    const float *exp_bias;      /* [n_expert] selection bias (exp_probs_b) or NULL */
    const float *shexp_gate;    /* [n_embd] ffn_gate_inp_shexp or NULL */
    const float *router_b;      /* [n_expert] added to the router logits or NULL */
    const float *exps_b[3];     /* per-expert output biases or NULL: gate, up
                                 * [n_expert][n_ff_exp]; down [n_expert][n_embd] */
} lf_layer;

/* Expert slots of lf_layer.exps, in the order of lf_wslot's FFN slots. */
enum { LF_EXP_GATE = 0, LF_EXP_UP, LF_EXP_DOWN };

/* Rows of expert e of an expert tensor (exps[k]) as a matrix of its own. */
lf_mat lf_moe_expert(const lf_mat *exps, int n_expert, int e);
/* Routing of one token (model/moe.c): from the router's logits
 * [hp->n_expert] and the optional selection bias, the hp->n_expert_used
 * chosen experts (ids, highest selection score first, the lower index
 * among equals) and their weights, with hp's gating, normalisation and
 * scale. scratch: n_expert floats. Thread-safe. */
void lf_moe_route(const lf_model_params *hp, const float *logits, const float *bias,
                  int32_t *ids, float *weights, float *scratch);

struct lf_model {
    lf_model_params hp;
    lf_gguf *gguf;              /* owned mapping, NULL for synthetic / merged */
    const lf_gguf *meta;        /* where the tokenizer KVs come from on save */
    lf_model_tensor *tensors;   /* registry, n_tensors */
    int n_tensors;
    lf_layer *layers;           /* [n_layer] */
    lf_mat tok_embd;            /* n_vocab rows × n_embd */
    lf_mat output;              /* n_vocab rows × n_embd (= tok_embd when tied) */
    const float *output_norm;   /* [n_embd] */
    const float *rope_freqs;    /* [n_rot/2] frequency divisors or NULL */
    lf_vocab *vocab;            /* may be NULL */
    bool own_vocab;
    lf_mix mix;
    bool merged;                /* a merged copy: unmerged tensors are the base's */
    uint64_t mem_budget;        /* bytes for model + contexts + adapters, 0 none */
    /* allocations owned by the model (synthetic blocks, F32 copies) */
    void **owned;
    int n_owned, cap_owned;
};

/* Allocates a zeroed model with hp copied. NULL on OOM. */
lf_model *lf_model_alloc(const lf_model_params *hp);
/* Records p as owned (freed with the model); frees p and returns LF_ENOMEM
 * if the list cannot grow. */
int lf_model_own(lf_model *m, void *p);
/* 64-byte aligned allocation owned by the model; NULL on OOM. */
void *lf_model_alloc_owned(lf_model *m, size_t bytes);
/* Fills layers, tok_embd, output, norms from the registry, checking every
 * shape against hp; sets hp.tied/qkv_bias/qk_norm/post_norms from what is
 * present. Message names the tensor. */
int lf_model_bind(lf_model *m, lf_error *err);
/* lf_mat over data for rows × cols of type. */
lf_mat lf_mat_make(lf_type type, int64_t rows, int64_t cols, const void *data);

/* ---- LoRA ---- */
typedef struct lf_lora_pair {
    int layer;                  /* -1 for output.weight */
    lf_wslot slot;              /* valid when layer >= 0 */
    int rank;
    lf_mat a;                   /* rank rows × n_in */
    lf_mat b;                   /* n_out rows × rank */
    char name[96];              /* base tensor name */
} lf_lora_pair;

struct lf_lora {
    const lf_model *base;
    lf_gguf *gguf;              /* NULL for synthetic */
    float alpha;
    lf_lora_pair *pairs;
    int n_pairs;
    void **owned;
    int n_owned;
};

#endif /* LF_MODEL_INTERNAL_H */
