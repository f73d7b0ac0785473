/*
 * quality — what a quantization costs, measured against the model it came
 * from on the same tokens: perplexity, its difference and ratio to the
 * base's, the KL divergence of the variant's next-token distribution from
 * the base's (mean, median, 99th percentile, max) and how often both pick
 * the same top token, each with its standard error.
 *
 * Protocol, as llama.cpp's perplexity tool (so numbers compare with its
 * published tables): the text is tokenized (BOS first when the vocabulary
 * adds one), cut into windows of n_ctx tokens, the first token of each
 * window replaced by BOS (when the vocabulary adds one), the whole window
 * evaluated from an empty cache, and only the second half scored: the
 * logits at positions n_ctx/2 .. n_ctx-2 against the next token.
 * Uncertainties: ± one standard error of the mean over scored tokens; PPL's
 * by the delta method, ΔPPL's with the base/variant covariance, the ratio's
 * from the mean log ratio; same-top as a binomial proportion. Percentiles
 * interpolate linearly between order statistics.
 *
 * Token source: when the base vocabulary cannot encode arbitrary text
 * (lf_vocab_complete false, e.g. TinyStories-656K) or the file has none,
 * the windows are instead sampled from the base model itself (temperature
 * 1, seeded; each window starts at BOS, EOS is followed by BOS) and the
 * result says token_source "generated". Its perplexity is then the base's
 * own sampling entropy, not a text perplexity; the KL divergence and
 * same-top rate keep their meaning.
 *
 * Usage:
 *     lf_quality_opts o;
 *     lf_quality_opts_init(&o);
 *     o.n_ctx = 256;
 *     lf_quality_variant v[] = {{.mix = LF_MIX_Q4_0, .from_mix = true},
 *                               {.path = "model-q8_0.gguf"}};
 *     lf_quality_result r[3];            // [0] = base against itself
 *     if (lf_quality_run("model-f32.gguf", v, 2, text, len, &o, r, &err) < 0) die(err.msg);
 *     printf("%s KLD %.5f ± %.5f\n", r[1].name, r[1].kld_mean, r[1].kld_err);
 */
#ifndef LF_QUALITY_H
#define LF_QUALITY_H

#include "model/model.h"

typedef struct lf_quality_opts {
    int n_ctx;              /* window length in tokens (default 512, >= 4) */
    int n_chunks;           /* windows to score; <= 0: all the text gives
                               (generated tokens: 16) */
    lf_type kv_type;        /* KV cache type for every model (default F16) */
    lf_pool *pool;          /* may be NULL (single thread) */
    uint64_t seed;          /* sampling seed for generated tokens (default 42) */
    bool force_generated;   /* sample tokens even if the text could be used */
    /* LoRA adapters applied at run time to the base and every variant
     * (each model loads its own copy; shapes are checked per model). */
    const char *const *lora_paths;
    const float *lora_scales;   /* NULL: all 1 */
    int n_lora;
    /* Bytes all models, their contexts and adapters may use together (the
     * caller passes the probe's usable memory); 0 = no limit. Over it the
     * run fails with LF_ETOOBIG, naming the sizes, before the contexts are
     * made (and each model is refused at load when it alone does not fit). */
    uint64_t mem_budget;
    /* Progress (may be NULL): called after each window. */
    void (*progress)(void *arg, int done, int total);
    void *progress_arg;
} lf_quality_opts;

void lf_quality_opts_init(lf_quality_opts *o);

/* One variant: a GGUF file, or the base quantized in memory to a mix. */
typedef struct lf_quality_variant {
    const char *path;       /* used when !from_mix */
    lf_mix mix;             /* used when from_mix */
    bool from_mix;
    const char *name;       /* label; NULL = mix name or file base name */
} lf_quality_variant;

/* Plain numbers the bench and store record. Natural logarithms; KLD in
 * nats; same_top as a fraction. */
typedef struct lf_quality_result {
    char name[96];          /* "Q4_0", "stories260K-Q8_0.gguf", "base" */
    char token_source[12];  /* "text" or "generated" */
    int n_ctx;
    int n_chunks;           /* windows scored */
    int64_t n_tokens;       /* scored tokens = n_chunks × (n_ctx - 1 - n_ctx/2) */
    uint64_t size_bytes;    /* tensor bytes of the variant */
    double bpw;             /* size_bytes × 8 / parameters */
    double ppl, ppl_err;
    double base_ppl, base_ppl_err;
    double dppl, dppl_err;  /* ppl - base_ppl */
    double ppl_ratio, ppl_ratio_err;   /* exp(mean ln(p_base/p_variant)) */
    double kld_mean, kld_err;
    double kld_median, kld_p99, kld_max;
    double same_top, same_top_err;
} lf_quality_result;

/* The core: scores variants[i] against base on the given token stream
 * (already tokenized; windows cut as described above). Models must share
 * n_vocab. results: n_variants entries, filled in (name, size fields left
 * to the caller except size_bytes/bpw, computed from the models; the
 * token_source field is left as is; a name set before the call names the
 * model in errors). LF_EINVAL if the stream is shorter than one window,
 * LF_EMISMATCH on differing vocabulary sizes, LF_ERANGE when a model's
 * logits are not finite (NaN or infinite weights). */
int lf_quality_eval(const lf_model *base, const lf_model *const *variants, int n_variants,
                    const int32_t *tokens, int64_t n_tokens, const lf_quality_opts *opts,
                    lf_quality_result *results, lf_error *err);

/* Token windows sampled from model (see "Token source"): n_chunks × n_ctx
 * ids into *out (caller frees). */
int lf_quality_generate(const lf_model *model, int n_ctx, int n_chunks, uint64_t seed,
                        lf_type kv_type, lf_pool *pool, int32_t **out, int64_t *n_out,
                        lf_error *err);

/* Writes base quantized to mix into path (a GGUF): every matrix gets
 * lf_mix_tensor_type_model's type (dequantized first if stored quantized),
 * vectors and tensors already in that type are copied, metadata is copied
 * except general.file_type. */
int lf_quality_write_quantized(const char *base_path, lf_mix mix, const char *path,
                               lf_error *err);

/* The whole run: loads base (and its vocabulary), builds or loads every
 * variant (quantized ones through a temporary GGUF in $TMPDIR, removed as
 * soon as it is mapped), tokenizes text or generates tokens, and scores.
 * results: n_variants + 1 entries; [0] is the base against itself (KLD 0),
 * then the variants in order. */
int lf_quality_run(const char *base_path, const lf_quality_variant *variants, int n_variants,
                   const char *text, size_t text_len, const lf_quality_opts *opts,
                   lf_quality_result *results, lf_error *err);

#endif /* LF_QUALITY_H */
