/*
 * Quality measurement (bench/quality.h): the perplexity / KL-divergence
 * protocol of llama.cpp's perplexity tool over a base model and its
 * variants, the in-memory quantization of a base into a mix (written to a
 * temporary GGUF and mapped back, so a variant is an ordinary model), and
 * the sampled-token fallback for vocabularies that cannot encode text.
 *
 * Evaluation is window-major: each window is evaluated once by the base,
 * whose logits stay in its context while every variant evaluates the same
 * window, so nothing of size n_ctx × n_vocab is stored per variant. Per
 * scored token only running sums and one KLD value (for the percentiles)
 * are kept.
 */
#include "bench/bench.h"
#include "bench/quality.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void lf_quality_opts_init(lf_quality_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_ctx = 512;
    o->kv_type = LF_TYPE_F16;
    o->seed = 42;
}

/* ---- statistics ------------------------------------------------------------ */
typedef struct {
    double nb, nb2, nq, nq2, nbq;   /* sums of base / variant NLL, squares, product */
    double kl, kl2;
    int64_t same, n;
    float *kld;                     /* every token's KLD, for percentiles */
} acc;

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between order statistics (sorted v, q in [0,1]). */
static double percentile(const float *v, int64_t n, double q) {
    if (n <= 0)
        return 0;
    double pos = q * (double)(n - 1);
    int64_t i = (int64_t)pos;
    if (i >= n - 1)
        return v[n - 1];
    double f = pos - (double)i;
    return v[i] + f * ((double)v[i + 1] - v[i]);
}

static double var_of(double s, double s2, double n) {
    double m = s / n, v = s2 / n - m * m;
    return v > 0 ? v : 0;
}

static void finish(acc *a, lf_quality_result *r) {
    const double n = (double)a->n;
    const double dn = n > 1 ? n - 1 : 1;
    const double mb = a->nb / n, mq = a->nq / n;
    const double vb = var_of(a->nb, a->nb2, n), vq = var_of(a->nq, a->nq2, n);
    const double cov = a->nbq / n - mb * mq;
    r->n_tokens = a->n;
    r->base_ppl = exp(mb);
    r->base_ppl_err = r->base_ppl * sqrt(vb / dn);
    r->ppl = exp(mq);
    r->ppl_err = r->ppl * sqrt(vq / dn);
    r->dppl = r->ppl - r->base_ppl;
    double dv = (r->ppl * r->ppl * vq + r->base_ppl * r->base_ppl * vb -
                 2 * r->ppl * r->base_ppl * cov) / dn;
    r->dppl_err = dv > 0 ? sqrt(dv) : 0;
    /* ln(PPL_q / PPL_b) = mean(nll_q - nll_b); its variance from the sums */
    double vd = vq + vb - 2 * cov;
    r->ppl_ratio = exp(mq - mb);
    r->ppl_ratio_err = r->ppl_ratio * sqrt((vd > 0 ? vd : 0) / dn);
    r->kld_mean = a->kl / n;
    r->kld_err = sqrt(var_of(a->kl, a->kl2, n) / dn);
    qsort(a->kld, (size_t)a->n, sizeof *a->kld, cmp_float);
    r->kld_median = percentile(a->kld, a->n, 0.5);
    r->kld_p99 = percentile(a->kld, a->n, 0.99);
    r->kld_max = a->n ? a->kld[a->n - 1] : 0;
    r->same_top = (double)a->same / n;
    r->same_top_err = sqrt(r->same_top * (1 - r->same_top) / dn);
}

/* log Σ exp(row) and the first index of the maximum, in double. */
static double log_sum_exp(const float *row, int n, int32_t *argmax) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (row[i] > row[best])
            best = i;
    double mx = row[best], s = 0;
    for (int i = 0; i < n; i++)
        s += exp((double)row[i] - mx);
    *argmax = best;
    return mx + log(s);
}

/* Scores one position: base row b, variant row q, the true next token. */
static void score(acc *a, const float *b, const float *q, int V, int32_t tok) {
    int32_t tb, tq;
    const double zb = log_sum_exp(b, V, &tb), zq = log_sum_exp(q, V, &tq);
    const double nb = zb - b[tok], nq = zq - q[tok];
    double kl = 0;
    for (int i = 0; i < V; i++) {
        const double lb = (double)b[i] - zb;
        kl += exp(lb) * (lb - ((double)q[i] - zq));
    }
    a->nb += nb;
    a->nb2 += nb * nb;
    a->nq += nq;
    a->nq2 += nq * nq;
    a->nbq += nb * nq;
    a->kl += kl;
    a->kl2 += kl * kl;
    a->same += tb == tq;
    a->kld[a->n++] = (float)kl;
}

/* ---- adapters ---------------------------------------------------------------- */
typedef struct { lf_lora **l; int n; } lora_set;

static void lora_free(lora_set *s) {
    for (int i = 0; i < s->n; i++)
        lf_lora_free(s->l[i]);
    free(s->l);
    s->l = NULL;
    s->n = 0;
}

static int lora_attach(lora_set *s, lf_ctx *c, const lf_model *m, const lf_quality_opts *o,
                       lf_error *err) {
    s->l = NULL;
    s->n = 0;
    if (o->n_lora <= 0)
        return 0;
    s->l = calloc((size_t)o->n_lora, sizeof *s->l);
    float *sc = malloc((size_t)o->n_lora * sizeof *sc);
    if (!s->l || !sc) {
        free(sc);
        return lf_error_set(err, LF_ENOMEM, "out of memory for adapters");
    }
    for (int i = 0; i < o->n_lora; i++) {
        int rc = lf_lora_load(&s->l[i], o->lora_paths[i], m, err);
        if (rc < 0) {
            free(sc);
            return rc;
        }
        s->n++;
        sc[i] = o->lora_scales ? o->lora_scales[i] : 1.0f;
    }
    int rc = lf_ctx_set_adapters(c, s->l, sc, s->n, err);
    free(sc);
    return rc;
}

/* ---- the core -------------------------------------------------------------- */

/* Logits of a model whose weights hold NaN or infinite values are not
 * finite; scoring them would print "nan" rows as if they were figures. */
static int check_logits(const float *l, size_t n, const lf_quality_result *r, int i, int window,
                        lf_error *err) {
    for (size_t j = 0; j < n; j++)
        if (!isfinite(l[j])) {
            char who[112];
            if (r->name[0])
                snprintf(who, sizeof who, "%.*s", (int)sizeof r->name - 1, r->name);
            else
                snprintf(who, sizeof who, i < 0 ? "the base model" : "variant %d", i);
            return lf_error_set(err, LF_ERANGE,
                                "%s: its logits are not finite (window %d): the model's weights hold NaN "
                                "or infinite values",
                                who, window);
        }
    return 0;
}

int lf_quality_eval(const lf_model *base, const lf_model *const *variants, int n_variants,
                    const int32_t *tokens, int64_t n_tokens, const lf_quality_opts *opts,
                    lf_quality_result *results, lf_error *err) {
    lf_quality_opts defo;
    if (!opts) {
        lf_quality_opts_init(&defo);
        opts = &defo;
    }
    const int n_ctx = opts->n_ctx;
    if (n_ctx < 4)
        return lf_error_set(err, LF_EINVAL, "quality: context of %d tokens is too short (>= 4)",
                            n_ctx);
    if (n_variants < 1)
        return lf_error_set(err, LF_EINVAL, "quality: no variant to score");
    const int V = lf_model_hparams(base)->n_vocab;
    for (int i = 0; i < n_variants; i++)
        if (lf_model_hparams(variants[i])->n_vocab != V)
            return lf_error_set(err, LF_EMISMATCH,
                                "quality: variant %d has %d tokens, the base %d", i,
                                lf_model_hparams(variants[i])->n_vocab, V);
    int64_t max_chunks = n_tokens / n_ctx;
    if (max_chunks < 1)
        return lf_error_set(err, LF_EINVAL,
                            "quality: %lld tokens are fewer than one window of %d",
                            (long long)n_tokens, n_ctx);
    const int n_chunks = (int)(opts->n_chunks > 0 && opts->n_chunks < max_chunks ? opts->n_chunks
                                                                                  : max_chunks);
    const int first = n_ctx / 2;
    const int64_t per_chunk = n_ctx - 1 - first;
    const lf_vocab *vocab = lf_model_vocab(base);
    const bool add_bos = vocab && lf_vocab_add_bos(vocab) && lf_vocab_bos(vocab) >= 0;

    int rc = 0;
    lf_ctx *cb = NULL;
    lf_ctx **cv = calloc((size_t)n_variants, sizeof *cv);
    lora_set *ls = calloc((size_t)n_variants + 1, sizeof *ls);
    acc *a = calloc((size_t)n_variants, sizeof *a);
    int32_t *w = malloc((size_t)n_ctx * sizeof *w);
    if (!cv || !ls || !a || !w) {
        rc = lf_error_set(err, LF_ENOMEM, "quality: out of memory");
        goto done;
    }
    for (int i = 0; i < n_variants; i++) {
        a[i].kld = malloc((size_t)(n_chunks * per_chunk) * sizeof *a[i].kld);
        if (!a[i].kld) {
            rc = lf_error_set(err, LF_ENOMEM, "quality: out of memory for %lld KLD values",
                              (long long)(n_chunks * per_chunk));
            goto done;
        }
    }
    if ((rc = lf_ctx_new(&cb, base, n_ctx, opts->kv_type, opts->pool, err)) < 0 ||
        (rc = lora_attach(&ls[n_variants], cb, base, opts, err)) < 0)
        goto done;
    for (int i = 0; i < n_variants; i++) {
        if (variants[i] == base)
            continue;   /* the base against itself reuses the base's logits */
        if ((rc = lf_ctx_new(&cv[i], variants[i], n_ctx, opts->kv_type, opts->pool, err)) < 0 ||
            (rc = lora_attach(&ls[i], cv[i], variants[i], opts, err)) < 0) {
            lf_error_wrap(err, "variant %d", i);
            goto done;
        }
    }

    for (int k = 0; k < n_chunks; k++) {
        memcpy(w, tokens + (int64_t)k * n_ctx, (size_t)n_ctx * sizeof *w);
        if (add_bos)
            w[0] = lf_vocab_bos(vocab);
        const float *lb, *lq;
        lf_ctx_reset(cb);
        if ((rc = lf_ctx_eval(cb, w, n_ctx, true, &lb, err)) < 0) {
            lf_error_wrap(err, "base, window %d", k);
            goto done;
        }
        /* the base is results[0] when it is also scored against itself */
        int bi = -1;
        for (int i = 0; i < n_variants && bi < 0; i++)
            bi = variants[i] == base ? i : -1;
        lf_quality_result anon = {0};
        if ((rc = check_logits(lb, (size_t)n_ctx * (size_t)V, bi >= 0 ? &results[bi] : &anon, -1, k, err)) < 0)
            goto done;
        for (int i = 0; i < n_variants; i++) {
            if (!cv[i]) {
                lq = lb;
            } else {
                lf_ctx_reset(cv[i]);
                if ((rc = lf_ctx_eval(cv[i], w, n_ctx, true, &lq, err)) < 0) {
                    lf_error_wrap(err, "variant %d, window %d", i, k);
                    goto done;
                }
                if ((rc = check_logits(lq, (size_t)n_ctx * (size_t)V, &results[i], i, k, err)) < 0)
                    goto done;
            }
            for (int j = first; j < n_ctx - 1; j++)
                score(&a[i], lb + (size_t)j * V, lq + (size_t)j * V, V, w[j + 1]);
        }
        if (opts->progress)
            opts->progress(opts->progress_arg, k + 1, n_chunks);
    }
    for (int i = 0; i < n_variants; i++) {
        lf_quality_result *r = &results[i];
        finish(&a[i], r);
        r->n_ctx = n_ctx;
        r->n_chunks = n_chunks;
        r->size_bytes = lf_model_total_bytes(variants[i]);
        uint64_t np = lf_model_n_params(variants[i]);
        r->bpw = np ? 8.0 * (double)r->size_bytes / (double)np : 0;
    }
done:
    lf_ctx_free(cb);
    for (int i = 0; cv && i < n_variants; i++)
        lf_ctx_free(cv[i]);
    for (int i = 0; ls && i <= n_variants; i++)
        lora_free(&ls[i]);
    for (int i = 0; a && i < n_variants; i++)
        free(a[i].kld);
    free(cv);
    free(ls);
    free(a);
    free(w);
    return rc;
}

/* ---- generated tokens -------------------------------------------------------- */
int lf_quality_generate(const lf_model *model, int n_ctx, int n_chunks, uint64_t seed,
                        lf_type kv_type, lf_pool *pool, int32_t **out, int64_t *n_out,
                        lf_error *err) {
    *out = NULL;
    *n_out = 0;
    if (n_ctx < 2 || n_chunks < 1)
        return lf_error_set(err, LF_EINVAL, "generate: %d windows of %d tokens", n_chunks, n_ctx);
    const int V = lf_model_hparams(model)->n_vocab;
    const lf_vocab *vocab = lf_model_vocab(model);
    /* without a vocabulary, start from id 1 (BOS in llama's convention) */
    const int32_t bos = vocab && lf_vocab_bos(vocab) >= 0 ? lf_vocab_bos(vocab) : (V > 1 ? 1 : 0);
    const int32_t eos = vocab ? lf_vocab_eos(vocab) : -1;
    int32_t *seq = malloc((size_t)n_chunks * (size_t)n_ctx * sizeof *seq);
    float *scratch = malloc((size_t)V * sizeof *scratch);
    lf_ctx *c = NULL;
    int rc = 0;
    if (!seq || !scratch) {
        rc = lf_error_set(err, LF_ENOMEM, "generate: out of memory");
        goto done;
    }
    if ((rc = lf_ctx_new(&c, model, n_ctx, kv_type, pool, err)) < 0)
        goto done;
    uint64_t rng = seed;
    for (int k = 0; k < n_chunks; k++) {
        int32_t *s = seq + (size_t)k * n_ctx;
        lf_ctx_reset(c);
        s[0] = bos;
        for (int i = 1; i < n_ctx; i++) {
            const float *logits;
            if ((rc = lf_ctx_eval(c, &s[i - 1], 1, false, &logits, err)) < 0)
                goto done;
            lf_quality_result who = {.name = "the base model"};
            if ((rc = check_logits(logits, (size_t)V, &who, -1, k, err)) < 0)
                goto done;
            if (s[i - 1] == eos && eos >= 0 && eos != bos)
                s[i] = bos;   /* a finished story is followed by a new one */
            else
                s[i] = lf_sample_scratch(logits, V, 1.0f, 1.0f, &rng, scratch);
        }
    }
    *out = seq;
    *n_out = (int64_t)n_chunks * n_ctx;
    seq = NULL;
done:
    lf_ctx_free(c);
    free(seq);
    free(scratch);
    return rc;
}

/* ---- in-memory quantization -------------------------------------------------- */
static int get_arch_u64(const lf_gguf *g, const char *arch, const char *suffix, uint64_t *v) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return lf_gguf_get_u64(g, key, v);
}

int lf_quality_write_quantized(const char *base_path, lf_mix mix, const char *path,
                               lf_error *err) {
    lf_gguf *g = NULL;
    int rc = lf_gguf_open(&g, base_path, err);
    if (rc < 0)
        return rc;
    lf_gguf_writer *w = lf_gguf_writer_new();
    int64_t nt = lf_gguf_n_tensors(g);
    void **bufs = calloc((size_t)(nt > 0 ? nt : 1), sizeof *bufs);
    float *f32 = NULL;
    size_t f32_cap = 0;
    bool warned = false;
    if (!w || !bufs) {
        rc = lf_error_set(err, LF_ENOMEM, "quantizing %s: out of memory", base_path);
        goto done;
    }
    char arch[64] = "llama";
    lf_gguf_get_str(g, "general.architecture", arch, sizeof arch);
    uint64_t n_layer = 0, n_head = 0, n_head_kv = 0;
    get_arch_u64(g, arch, "block_count", &n_layer);
    get_arch_u64(g, arch, "attention.head_count", &n_head);
    if (get_arch_u64(g, arch, "attention.head_count_kv", &n_head_kv) != 0)
        n_head_kv = n_head;
    lf_mix_model mm = {
        .n_layer = (int)n_layer,
        .n_gqa = n_head_kv ? (int)(n_head / n_head_kv) : 1,
        .tied_output = lf_gguf_find_tensor(g, "output.weight") == NULL,
    };
    for (int64_t i = 0; rc == 0 && i < lf_gguf_n_kv(g); i++) {
        const lf_gguf_kv *kv = lf_gguf_kv_at(g, i);
        if (strcmp(kv->key, "general.file_type") != 0)
            rc = lf_gguf_writer_copy_kv(w, kv);
    }
    for (int64_t i = 0; rc == 0 && i < nt; i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        const int64_t cols = t->ne[0], rows = cols ? lf_gguf_tensor_nelem(t) / cols : 0;
        lf_type to = t->n_dims >= 2 ? lf_mix_tensor_type_model(mix, &mm, t->name, -1, cols)
                                    : t->type;
        if (to == t->type) {
            rc = lf_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data,
                                           t->nbytes);
            continue;
        }
        if (lf_type_traits_get(t->type)->is_quantized && !warned) {
            lf_warn("%s: tensor %s is stored as %s: requantizing compounds the errors",
                    base_path, t->name, lf_type_name(t->type));
            warned = true;
        }
        size_t n = (size_t)(rows * cols);
        if (n > f32_cap) {
            float *p = realloc(f32, n * sizeof *f32);
            if (!p) {
                rc = lf_error_set(err, LF_ENOMEM, "quantizing %s: out of memory", t->name);
                break;
            }
            f32 = p;
            f32_cap = n;
        }
        size_t out_bytes = lf_row_size(to, cols) * (size_t)rows;
        bufs[i] = malloc(out_bytes ? out_bytes : 1);
        if (!bufs[i]) {
            rc = lf_error_set(err, LF_ENOMEM, "quantizing %s: out of memory", t->name);
            break;
        }
        lf_dequantize(t->type, t->data, f32, rows, cols);
        if (lf_quantize(to, f32, bufs[i], rows, cols) != out_bytes || out_bytes == 0) {
            rc = lf_error_set(err, LF_EUNSUPP, "quantizing %s (%lld columns) to %s failed",
                              t->name, (long long)cols, lf_type_name(to));
            break;
        }
        rc = lf_gguf_writer_add_tensor(w, t->name, to, t->n_dims, t->ne, bufs[i], out_bytes);
    }
    if (rc == 0)
        rc = lf_gguf_writer_write(w, path, err);
    else if (!err || !err->msg[0])
        lf_error_set(err, rc, "quantizing %s: %s", base_path, lf_strerror(rc));
done:
    lf_gguf_writer_free(w);
    for (int64_t i = 0; bufs && i < nt; i++)
        free(bufs[i]);
    free(bufs);
    free(f32);
    lf_gguf_close(g);
    return rc;
}

/* ---- the whole run ----------------------------------------------------------- */
static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Refuses weights holding NaN or infinite values, naming the tensor and
 * row. Checking the logits is not enough: a quantized product first
 * quantizes its activations, and that quantizer takes the block maximum
 * with comparisons NaN fails, so a NaN hidden state becomes a zero scale
 * and finite logits (all zero for a quantized output matrix) — on the
 * batched and the decode path alike. Weights are read once, a few rows at
 * a time (groups of 4 keep interleaved matrices whole). */
static int weights_finite(const lf_model *m, const char *who, lf_error *err) {
    float *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (int i = 0; i < lf_model_n_tensors(m) && rc == 0; i++) {
        const lf_model_tensor *t = lf_model_tensor_at(m, i);
        const lf_mat *w = &t->mat;
        if (w->rows < 1 || w->cols < 1)
            continue;
        const int64_t step = 4;
        size_t need = (size_t)(step * w->cols);
        if (need > cap) {
            float *nb = realloc(buf, need * sizeof *nb);
            if (!nb) {
                rc = lf_error_set(err, LF_ENOMEM, "quality: out of memory checking %s", who);
                break;
            }
            buf = nb, cap = need;
        }
        for (int64_t r = 0; r < w->rows && rc == 0; r += step) {
            int64_t n = w->rows - r < step ? w->rows - r : step;
            if (lf_mat_rows_to_float(w, r, n, buf) < 0) {
                rc = lf_error_set(err, LF_ENOMEM, "quality: out of memory checking %s", who);
                break;
            }
            for (int64_t j = 0; j < n * w->cols; j++)
                if (!isfinite(buf[j])) {
                    rc = lf_error_set(err, LF_ERANGE,
                                      "%s: tensor %s holds NaN or infinite weights (row %lld, "
                                      "column %lld): its quality would be no figure",
                                      who, t->name, (long long)(r + j / w->cols),
                                      (long long)(j % w->cols));
                    break;
                }
        }
    }
    free(buf);
    return rc;
}

int lf_quality_run(const char *base_path, const lf_quality_variant *variants, int n_variants,
                   const char *text, size_t text_len, const lf_quality_opts *opts,
                   lf_quality_result *results, lf_error *err) {
    lf_quality_opts defo;
    if (!opts) {
        lf_quality_opts_init(&defo);
        opts = &defo;
    }
    lf_model *base = NULL;
    lf_model **models = calloc((size_t)n_variants + 1, sizeof *models);
    int32_t *toks = NULL;
    int64_t n_toks = 0;
    int rc;
    if (!models)
        return lf_error_set(err, LF_ENOMEM, "quality: out of memory");
    /* Every model stays loaded for the whole run: each is loaded under what
     * the ones before it left of the budget. */
    const uint64_t budget = opts->mem_budget;
    uint64_t used = 0;
    const lf_model_opts base_opts = {.mem_budget = budget};
    if ((rc = lf_model_load(&base, base_path, &base_opts, err)) < 0)
        goto done;
    models[0] = base;
    used += lf_model_total_bytes(base);
    if ((rc = weights_finite(base, base_name(base_path), err)) < 0)
        goto done;
    /* windows longer than the trained context score positions the model
     * never saw: a perplexity far above its real one, with no error */
    const int trained = lf_model_hparams(base)->n_ctx_train;
    if (trained > 0 && opts->n_ctx > trained)
        lf_warn("quality: windows of %d tokens go past %s's trained context of %d tokens; its "
                "perplexity and KL divergence there do not describe the model (use --ctx %d or less)",
                opts->n_ctx, base_name(base_path), trained, trained);
    /* variants are scored on the base's tokens: their vocabularies are not read */
    lf_model_opts no_vocab = {.no_vocab = true};
    for (int i = 0; i < n_variants; i++) {
        const lf_quality_variant *v = &variants[i];
        no_vocab.mem_budget = budget ? (budget > used ? budget - used : 1) : 0;
        if (v->from_mix) {
            char tmp[1024];
            const char *dir = getenv("TMPDIR");
            snprintf(tmp, sizeof tmp, "%s/localfit-quality-%d-%d-%s.gguf",
                     dir && *dir ? dir : "/tmp", (int)getpid(), i, lf_mix_name(v->mix));
            rc = lf_quality_write_quantized(base_path, v->mix, tmp, err);
            if (rc == 0)
                rc = lf_model_load(&models[i + 1], tmp, &no_vocab, err);
            unlink(tmp);   /* the mapping outlives the name */
        } else {
            rc = lf_model_load(&models[i + 1], v->path, &no_vocab, err);
        }
        if (rc == 0 && !v->from_mix)   /* a level quantized from the base is as finite */
            rc = weights_finite(models[i + 1], base_name(v->path), err);
        if (rc < 0)
            goto done;
        used += lf_model_total_bytes(models[i + 1]);
    }
    if (budget) {
        /* one context per model, all alive at once */
        size_t one = lf_ctx_estimate_bytes(base, opts->n_ctx, opts->kv_type,
                                           opts->pool ? lf_pool_size(opts->pool) : 1, NULL);
        double need = (double)used + (double)one * (n_variants + 1);
        if (one == SIZE_MAX || need > (double)budget) {
            char b_models[32], b_ctx[32], b_budget[32];
            lf_format_bytes(b_models, sizeof b_models, (double)used);
            lf_format_bytes(b_ctx, sizeof b_ctx, (double)one * (n_variants + 1));
            lf_format_bytes(b_budget, sizeof b_budget, (double)budget);
            rc = lf_error_set(err, LF_ETOOBIG,
                              "quality: %d models (%s) and their contexts of %d positions (%s) "
                              "are more than the usable memory of %s (%llu bytes)",
                              n_variants + 1, b_models, opts->n_ctx, b_ctx, b_budget,
                              (unsigned long long)budget);
            goto done;
        }
    }

    const lf_vocab *vocab = lf_model_vocab(base);
    bool generated = opts->force_generated || !vocab || !lf_vocab_complete(vocab);
    int n_ctx = opts->n_ctx;
    if (!generated) {
        int n;
        int64_t unknown;
        rc = lf_tokenize_alloc(vocab, text, text_len, lf_vocab_add_bos(vocab), &toks, &n,
                               &unknown, err);
        if (rc < 0)
            goto done;
        n_toks = n;
    } else {
        if (vocab && !opts->force_generated)
            lf_warn("%s: the vocabulary cannot encode arbitrary text (see above): scoring "
                    "tokens sampled from the base model instead", base_path);
        else if (!vocab)
            lf_warn("%s: no vocabulary; scoring tokens sampled from the base model", base_path);
        int chunks = opts->n_chunks > 0 ? opts->n_chunks : 16;
        rc = lf_quality_generate(base, n_ctx, chunks, opts->seed, opts->kv_type, opts->pool,
                                 &toks, &n_toks, err);
        if (rc == LF_ERANGE)   /* non-finite logits: name the file */
            lf_error_wrap(err, "%s", base_name(base_path));
        if (rc < 0)
            goto done;
    }
    /* names first: lf_quality_eval's messages name the model they concern */
    for (int i = 0; i <= n_variants; i++) {
        lf_quality_result *r = &results[i];
        lf_strlcpy(r->token_source, generated ? "generated" : "text", sizeof r->token_source);
        if (i == 0)
            snprintf(r->name, sizeof r->name, "base %s", base_name(base_path));
        else if (variants[i - 1].name)
            lf_strlcpy(r->name, variants[i - 1].name, sizeof r->name);
        else if (variants[i - 1].from_mix) {
            /* a level that fell back to other types on this model's row
             * lengths is marked with what it became (Q6_K on rows of 64
             * is Q8_0: same size, same KLD) */
            char became[32];
            if (lf_bench_mix_collapsed(models[i], variants[i - 1].mix, became, sizeof became))
                snprintf(r->name, sizeof r->name, "%s (=%s)", lf_mix_name(variants[i - 1].mix), became);
            else
                lf_strlcpy(r->name, lf_mix_name(variants[i - 1].mix), sizeof r->name);
        }
        else
            lf_strlcpy(r->name, base_name(variants[i - 1].path), sizeof r->name);
    }
    rc = lf_quality_eval(base, (const lf_model *const *)models, n_variants + 1, toks, n_toks,
                         opts, results, err);
done:
    for (int i = 0; i <= n_variants; i++)
        lf_model_free(models[i]);
    free(models);
    free(toks);
    return rc;
}
