/*
 * model — the llama-family transformer: weights + hyperparameters read from a
 * GGUF file (used in place from the mapping) or synthesized directly in a
 * target quantization; per-sequence contexts (KV cache + scratch, sized once)
 * that evaluate tokens (batched prefill or one-token decode); LoRA adapters
 * applied at run time or merged; sampling.
 *
 * Architectures: llama (Llama 2/3, Mistral, TinyLlama, SmolLM), qwen2 (QKV
 * bias), qwen3 (QK-norm), gemma / gemma2 / gemma3 (embedding scaling, GELU,
 * post-norms, soft-capping, sliding-window layers), phi3 (fused QKV and
 * gate/up), olmo2 (post-norms only, QK-norm over the whole projection),
 * granite (llama with embedding, residual and logit multipliers), gpt-oss
 * (Q/K/V/O biases, a learned attention sink per head, sliding-window
 * attention on even layers, YaRN RoPE, experts with biases). RoPE
 * pairing follows llama.cpp: "normal" (2i, 2i+1) for llama and granite,
 * whose GGUF Q/K rows are stored permuted for it; NeoX (i, i + n_rot/2)
 * for the others. Gemma files carry their RMSNorm weights with the +1 already
 * added by the converter, so every norm here is plain x·w.
 *
 * Mixture of experts (qwen2moe, qwen3moe, olmoe, granitemoe, Mixtral as
 * llama with experts): a router (ffn_gate_inp) picks n_expert_used of the
 * 3-D expert tensors ffn_{gate,up,down}_exps per token, with the family's
 * gating (lf_moe_gating); optional shared experts (ffn_*_shexp) run for
 * every token. Only the chosen experts' rows are read: decode multiplies
 * the k experts in two pool jobs; a batch is grouped by expert so each
 * expert's weights stream once per batch.
 *
 * Threading: an lf_model is read-only after load and may be shared by any
 * number of contexts and threads. An lf_ctx is used by one thread at a time;
 * its evaluation runs on the lf_pool given at creation.
 *
 * Usage:
 *     lf_model *m; lf_ctx *c; lf_error err = {0};
 *     if (lf_model_load(&m, "stories260K.gguf", NULL, &err) < 0) die(err.msg);
 *     lf_pool *pool = lf_pool_create(2, true);
 *     if (lf_ctx_new(&c, m, 512, LF_TYPE_F16, pool, &err) < 0) die(err.msg);
 *     int32_t tok = lf_vocab_bos(lf_model_vocab(m));
 *     const float *logits;
 *     for (int i = 0; i < 32; i++) {
 *         if (lf_ctx_eval(c, &tok, 1, false, &logits, &err) < 0) die(err.msg);
 *         tok = lf_sample_greedy(logits, lf_model_hparams(m)->n_vocab);
 *     }
 *     lf_ctx_free(c); lf_pool_free(pool); lf_model_free(m);
 */
#ifndef LF_MODEL_H
#define LF_MODEL_H

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

/* ======================================================================
 * Hyperparameters
 * ==================================================================== */
typedef enum lf_arch {
    LF_ARCH_LLAMA = 0,   /* also Mistral, TinyLlama, SmolLM (GGUF "llama") */
    LF_ARCH_QWEN2,
    LF_ARCH_QWEN3,
    LF_ARCH_GEMMA,
    LF_ARCH_GEMMA2,
    LF_ARCH_GEMMA3,
    LF_ARCH_PHI3,
    LF_ARCH_OLMO2,       /* no pre-norms: post-norms, full-width QK-norm */
    LF_ARCH_GRANITE,     /* llama + embedding/residual/logit multipliers */
    /* mixture-of-experts families (GGUF names qwen2moe, qwen3moe, olmoe,
     * granitemoe); Mixtral is "llama" with {arch}.expert_count */
    LF_ARCH_QWEN2MOE,    /* qwen2 + experts + a sigmoid-gated shared expert */
    LF_ARCH_QWEN3MOE,    /* qwen3 + experts, chosen weights renormalised */
    LF_ARCH_OLMOE,       /* pre-norms, full-width QK-norm, experts */
    LF_ARCH_GRANITEMOE,  /* granite + experts */
    LF_ARCH_GPTOSS,      /* GGUF "gpt-oss": biases everywhere, attention sinks,
                          * alternating sliding-window layers, YaRN, experts
                          * with biases and the clamped SwiGLU */
    LF_ARCH_COUNT
} lf_arch;

const char *lf_arch_name(lf_arch a);            /* GGUF name: "llama", "qwen2" … */
/* Parses a GGUF / catalog architecture name; "mistral" maps to llama.
 * LF_EUNSUPP (message naming it) for an architecture not handled here. */
int lf_arch_parse(const char *name, lf_arch *out, lf_error *err);

typedef enum lf_rope_scaling {
    LF_ROPE_SCALING_NONE = 0,
    LF_ROPE_SCALING_LINEAR,   /* positions × 1/factor */
    LF_ROPE_SCALING_YARN,     /* YaRN as llama.cpp applies it: per-pair blend of
                               * interpolated and original angles, magnitude
                               * 1 + 0.1·ln(factor), beta_fast 32, beta_slow 1 */
    LF_ROPE_SCALING_LONGROPE, /* phi3: per-pair factors from the file */
} lf_rope_scaling;

/* The gated FFN's activation. SWIGLU_OAI is gpt-oss's clamped variant:
 * g' = min(g, 7), u' = clamp(u, -7, 7), out = g'·sigmoid(1.702·g')·(u' + 1). */
typedef enum lf_act { LF_ACT_SILU = 0, LF_ACT_GELU, LF_ACT_SWIGLU_OAI } lf_act;

/* How a mixture-of-experts router's logits become the weights of the
 * experts a token uses. */
typedef enum lf_moe_gating {
    LF_MOE_SOFTMAX = 0,    /* softmax over all experts, then the top k
                            * (qwen2moe, qwen3moe, olmoe, mixtral) */
    LF_MOE_TOPK_SOFTMAX,   /* top k of the logits, softmax over those k
                            * (gpt-oss, granitemoe) */
    LF_MOE_SIGMOID,        /* sigmoid per expert; selection adds a bias */
} lf_moe_gating;

typedef struct lf_model_params {
    lf_arch arch;
    char name[64];         /* general.name */
    int n_layer;
    int n_embd;
    int n_head;
    int n_head_kv;
    int head_dim;          /* key length per head ({arch}.attention.key_length) */
    int head_dim_v;        /* value length per head */
    int n_ff;
    int n_vocab;
    int n_ctx_train;
    /* RoPE */
    float rope_base;       /* {arch}.rope.freq_base, default 10000 */
    int n_rot;             /* rotated dims per head, <= head_dim */
    bool rope_neox;        /* pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
    lf_rope_scaling rope_scaling;
    float rope_scale_factor; /* rope.scaling.factor (1 = none) */
    int rope_orig_ctx;     /* rope.scaling.original_context_length (0 unknown) */
    float rope_base_swa;   /* base for sliding-window layers (gemma3), 0 = rope_base */
    float rope_attn_factor; /* rope.scaling.attn_factor: YaRN magnitude × this, 0 = 1 */
    /* norms and activations */
    float norm_eps;        /* RMSNorm epsilon */
    lf_act act;            /* gate activation: SiLU (SwiGLU) or GELU (GeGLU) */
    /* structure flags */
    bool tied;             /* output projection = token embedding */
    bool qkv_bias;         /* Q/K/V biases (qwen2) */
    bool qk_norm;          /* RMSNorm on Q and K before RoPE: per head ... */
    bool qk_norm_full;     /* ... or over the whole projection (olmo2) */
    bool no_pre_norm;      /* blocks have no attn_norm/ffn_norm (olmo2) */
    bool post_norms;       /* RMSNorm after attention and FFN outputs (gemma2/3) */
    bool embd_scale;       /* embeddings × sqrt(n_embd) (gemma) */
    float attn_scale;      /* query scale, 0 = 1/sqrt(head_dim) */
    float attn_softcap;    /* tanh soft-cap of attention scores, 0 = none */
    float final_softcap;   /* tanh soft-cap of the logits, 0 = none */
    int swa_window;        /* sliding window of SWA layers, 0 = none */
    int swa_pattern;       /* layer il slides iff il % swa_pattern < swa_pattern-1 */
    /* granite multipliers, 0 = none */
    float embd_mult;       /* embeddings × embd_mult */
    float residual_mult;   /* block outputs × residual_mult before the residual add */
    float logit_scale;     /* logits ÷ logit_scale */
    /* mixture of experts; n_expert 0 = a dense FFN */
    int n_expert;          /* {arch}.expert_count */
    int n_expert_used;     /* {arch}.expert_used_count: experts per token (top k) */
    int n_ff_exp;          /* FFN width of one expert, 0 = n_ff */
    int n_expert_shared;   /* shared experts every token uses (0 = none) */
    int n_ff_shexp;        /* FFN width of the shared expert(s), 0 = n_ff_exp */
    lf_moe_gating gating;  /* router logits → expert weights */
    bool moe_norm_topk;    /* rescale the k chosen weights to sum to 1 */
    float moe_weights_scale; /* chosen weights × this, 0 = 1 */
    bool moe_shexp_gate;   /* the shared expert's output × sigmoid(g·x), with
                            * g = blk.N.ffn_gate_inp_shexp (qwen2moe) */
} lf_model_params;

/* Most experts a token may use (n_expert_used), and most experts a layer
 * may have (llama.cpp's limit). */
#define LF_MOE_MAX_USED 32
#define LF_MOE_MAX_EXPERTS 512

/* Fills hp with arch's structural defaults (RoPE pairing, activation,
 * gemma/qwen flags, eps 1e-5, base 10000) and zero shapes. */
void lf_model_params_init(lf_model_params *hp, lf_arch arch);
/* Completes derived fields (head_dim = n_embd/n_head, head_dim_v, n_rot,
 * n_head_kv = n_head when 0) and checks consistency. LF_EINVAL with a
 * message naming the field. */
int lf_model_params_check(lf_model_params *hp, lf_error *err);
/* Whether layer il uses the sliding window. */
bool lf_model_params_layer_swa(const lf_model_params *hp, int il);

/* ======================================================================
 * Models
 * ==================================================================== */
typedef struct lf_model lf_model;

typedef struct lf_model_opts {
    bool interleave;  /* rewrite the matrices into the active kernels'
                       * layout at load (lf_model_interleave) */
    bool no_vocab;    /* skip loading the tokenizer */
    uint64_t mem_budget; /* bytes the model, its contexts and adapters may
                       * use together (the caller passes the probe's usable
                       * memory; kernels cannot ask); 0 = no limit. Over it,
                       * loading, lf_ctx_new, lf_lora_load, merging and
                       * lf_ctx_set_adapters fail with LF_ETOOBIG before any
                       * large allocation, the message naming the sizes. */
} lf_model_opts;

/* One weight of the model, as stored (any type). Vectors have rows == 1. */
typedef struct lf_model_tensor {
    const char *name;      /* GGUF name, "blk.3.attn_q.weight" */
    uint32_t n_dims;
    int64_t ne[4];
    lf_mat mat;            /* rows × cols view of the data */
} lf_model_tensor;

/* Loads path: hyperparameters from {arch}.* metadata, every tensor checked
 * against them (message names the tensor and both shapes), weights used in
 * place from the read-only mapping. opts may be NULL. The vocabulary is
 * loaded when present (NULL otherwise, or with a warning when broken).
 * On error *out is NULL. Free with lf_model_free. */
int lf_model_load(lf_model **out, const char *path, const lf_model_opts *opts,
                  lf_error *err);
/* Synthesizes a model in memory: every tensor in lf_mix_tensor_type(mix, …),
 * valid blocks with realistic scales (weights ~N(0, 0.02) per row with
 * jitter, norms ~1), deterministic in seed. hp is checked/completed first.
 * lf_model_synth_ex spreads generation over pool (may be NULL); the bytes
 * do not depend on the thread count. */
int lf_model_synth(lf_model **out, const lf_model_params *hp, lf_mix mix,
                   uint64_t seed, lf_error *err);
int lf_model_synth_ex(lf_model **out, const lf_model_params *hp, lf_mix mix,
                      uint64_t seed, lf_pool *pool, lf_error *err);
/* Bytes of all tensors lf_model_synth(hp, mix) would allocate, computed
 * without allocating (so a caller can refuse a model that does not fit
 * first); LF_ERANGE when the sum overflows, LF_EINVAL for a bad hp. */
int lf_model_synth_bytes(const lf_model_params *hp, lf_mix mix, uint64_t *bytes,
                         lf_error *err);
/* rows × cols weights of type t at dst (lf_row_size(t, cols) bytes a
 * row), generated as lf_model_synth generates a matrix: valid blocks,
 * finite fp16 scales, dequantized values ~N(0, sigma) with per-block
 * jitter; deterministic in seed. For anything that needs realistic weight
 * bytes without knowing block layouts (the kernel benchmark). LF_EUNSUPP
 * if t is unsupported or cols not a multiple of its block, LF_ENOMEM.
 * Thread-safe. */
int lf_synth_weights(lf_type t, void *dst, int64_t rows, int64_t cols, float sigma,
                     uint64_t seed, lf_error *err);
/* Rewrites the matrices the kernels multiply (layer projections, an
 * untied output) into the interleaved layout of the active kernel set, in
 * place (lf_mat_interleave): decoding then streams each group of 4 rows
 * as one sequence. Memory does not grow: a file mapping becomes a private
 * copy of the same size. Embeddings, vectors, types without a layout or
 * kernel, and merged copies stay as stored. Call once, after loading or
 * synthesizing and before lf_kernels_init is called again; contexts made
 * before still work. The model can no longer be saved (LF_EINVAL);
 * adapters still load, apply and merge. Returns the number of matrices
 * rewritten, or LF_ENOMEM / LF_EIO. */
int lf_model_interleave(lf_model *m, lf_error *err);
/* Writes m as a GGUF v3 file: general.architecture/name/file_type, the
 * {arch}.* hyperparameters, the tokenizer of the source file (or a minimal
 * SentencePiece vocabulary for synthetic models), all tensors. */
int lf_model_save_gguf(const lf_model *m, const char *path, lf_error *err);
void lf_model_free(lf_model *m);   /* NULL ok */
/* The memory budget (lf_model_opts.mem_budget) of a model: set it on
 * synthesized models, which have no load options; 0 = no limit. Merged
 * copies inherit their base's. */
void lf_model_set_mem_budget(lf_model *m, uint64_t bytes);
uint64_t lf_model_mem_budget(const lf_model *m);

const lf_model_params *lf_model_hparams(const lf_model *m);
const lf_vocab *lf_model_vocab(const lf_model *m);          /* may be NULL */
/* Bytes read per decoded token for the weights: all matrices and vectors
 * including the output projection, plus one token-embedding row; of the
 * expert tensors only the n_expert_used / n_expert share a token uses. */
size_t lf_model_weight_bytes(const lf_model *m);
/* Bytes of all tensors as stored (file size minus metadata). */
size_t lf_model_total_bytes(const lf_model *m);
uint64_t lf_model_n_params(const lf_model *m);
/* The mix the model was synthesized or (from general.file_type) stored in;
 * LF_MIX_COUNT when unknown. */
lf_mix lf_model_mix(const lf_model *m);

int lf_model_n_tensors(const lf_model *m);
const lf_model_tensor *lf_model_tensor_at(const lf_model *m, int i);
const lf_model_tensor *lf_model_find_tensor(const lf_model *m, const char *name);

/* ======================================================================
 * Contexts: one sequence each
 * ==================================================================== */
typedef struct lf_ctx lf_ctx;

/* A context of n_ctx positions (0 = the model's training context, capped at
 * 4096) with the KV cache in kv_type (F32, F16 or Q8_0; Q8_0 needs head
 * dims that are multiples of 32, else LF_EUNSUPP). All scratch is allocated
 * here. pool may be NULL (single-threaded) and must outlive the context. */
int lf_ctx_new(lf_ctx **out, const lf_model *m, int n_ctx, lf_type kv_type,
               lf_pool *pool, lf_error *err);
void lf_ctx_free(lf_ctx *c);     /* NULL ok */
/* Bytes lf_ctx_new(m, n_ctx, kv_type) allocates with nthreads threads (KV
 * cache + scratch; n_ctx 0 as there), or SIZE_MAX when that overflows, so
 * callers can refuse a context before creating it. *kv_bytes (may be NULL)
 * receives the KV cache's share. */
size_t lf_ctx_estimate_bytes(const lf_model *m, int n_ctx, lf_type kv_type, int nthreads,
                             size_t *kv_bytes);
void lf_ctx_reset(lf_ctx *c);    /* empty the cache */
/* Keeps the first pos cached tokens and drops the rest (no-op when pos >=
 * lf_ctx_pos): benchmarks rewind to a filled depth instead of refilling. */
void lf_ctx_truncate(lf_ctx *c, int pos);
int lf_ctx_pos(const lf_ctx *c); /* tokens in the cache */
int lf_ctx_n_ctx(const lf_ctx *c);
/* Evaluates tokens[0..n) at positions pos..pos+n-1 and appends them to the
 * cache. n > 1 is processed in batches (matrix-matrix products). logits_all:
 * *logits holds n × n_vocab values, else only the last token's n_vocab.
 * *logits points into the context, valid until the next call. LF_ERANGE if
 * the cache would overflow or a token id is out of range (nothing is
 * evaluated then). logits may be NULL (prefill without output). The only
 * allocation: growing the logits buffer the first time logits_all asks for
 * more rows than before. */
int lf_ctx_eval(lf_ctx *c, const int32_t *tokens, int n, bool logits_all,
                const float **logits, lf_error *err);
size_t lf_ctx_kv_bytes(const lf_ctx *c);
const lf_model *lf_ctx_model(const lf_ctx *c);

/* ======================================================================
 * LoRA adapters (llama.cpp adapter GGUF: general.type = adapter,
 * adapter.type = lora, adapter.lora.alpha, "<base>.lora_a" ne = [n_in, r],
 * "<base>.lora_b" ne = [r, n_out]).
 * ==================================================================== */
typedef struct lf_lora lf_lora;

/* Loads an adapter for base: checks general.architecture, every pair's
 * shapes against the base tensor (error names the tensor and both shapes).
 * The adapter keeps its file mapped; free it after every context using it. */
int lf_lora_load(lf_lora **out, const char *path, const lf_model *base,
                 lf_error *err);
/* Random adapter of rank on the named targets ("attn_q", "attn_v",
 * "ffn_up" … of every layer), F32, alpha = rank; deterministic in seed. */
int lf_lora_synth(lf_lora **out, const lf_model *base, int rank,
                  const char *const *targets, int n_targets, uint64_t seed,
                  lf_error *err);
void lf_lora_free(lf_lora *l);
int lf_lora_rank(const lf_lora *l);      /* largest rank of its pairs */
float lf_lora_alpha(const lf_lora *l);
int lf_lora_n_pairs(const lf_lora *l);
size_t lf_lora_bytes(const lf_lora *l);

/* Applies adapters at run time: y = Wx + Σ scale·(alpha/rank)·B(Ax) on each
 * adapted matrix. Replaces the previous set (hot swap); n = 0 removes all.
 * Adapters must have been loaded for this context's model and outlive their
 * use. Allocates scratch here, never in lf_ctx_eval. The KV cache is kept. */
int lf_ctx_set_adapters(lf_ctx *c, lf_lora *const *adapters, const float *scales,
                        int n, lf_error *err);
/* A copy of base with the adapters merged: W' = W + Σ s·(alpha/rank)·BA.
 * Merged tensors are F32 (lf_model_merge_lora) or requantized to the base
 * tensor's type (requant = true). Unmerged tensors are shared with base,
 * which must outlive the copy. */
int lf_model_merge_lora(lf_model **out, const lf_model *base, lf_lora *const *adapters,
                        const float *scales, int n, lf_error *err);
int lf_model_merge_lora_ex(lf_model **out, const lf_model *base,
                           lf_lora *const *adapters, const float *scales, int n,
                           bool requant, lf_error *err);

/* ======================================================================
 * Sampling
 * ==================================================================== */
/* Index of the largest logit (the lowest index among equals). */
int32_t lf_sample_greedy(const float *logits, int n_vocab);
/* Temperature + nucleus sampling; temp <= 0 is greedy; top_p >= 1 keeps
 * all tokens. *rng_state is advanced (any value, 0 included, is a seed).
 * Allocates n_vocab floats per call (falls back to greedy if that fails);
 * lf_sample_scratch takes the caller's buffer instead. */
int32_t lf_sample(const float *logits, int n_vocab, float temp, float top_p,
                  uint64_t *rng_state);
int32_t lf_sample_scratch(const float *logits, int n_vocab, float temp, float top_p,
                          uint64_t *rng_state, float *scratch);

#endif /* LF_MODEL_H */
