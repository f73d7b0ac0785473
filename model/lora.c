/*
 * LoRA adapters: reading llama.cpp's adapter GGUF (pairs "<base>.lora_a",
 * ne = [n_in, rank], and "<base>.lora_b", ne = [rank, n_out], scaled by
 * alpha / rank), validating them against a base model, random adapters for
 * benchmarks, and merging adapters into a copy of the base. Run-time
 * application lives in forward.c (lf_ctx_set_adapters), which multiplies by
 * A then B so an adapter costs rank·(n_in + n_out) per token instead of a
 * second n_in·n_out matrix.
 */
#include "model/model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int lora_own(lf_lora *l, void *p) {
    void **o = realloc(l->owned, (size_t)(l->n_owned + 1) * sizeof *o);
    if (!o) {
        free(p);
        return LF_ENOMEM;
    }
    l->owned = o;
    l->owned[l->n_owned++] = p;
    return 0;
}

void lf_lora_free(lf_lora *l) {
    if (!l)
        return;
    for (int i = 0; i < l->n_owned; i++)
        free(l->owned[i]);
    free(l->owned);
    free(l->pairs);
    lf_gguf_close(l->gguf);
    free(l);
}

int lf_lora_rank(const lf_lora *l) {
    int r = 0;
    for (int i = 0; i < l->n_pairs; i++)
        if (l->pairs[i].rank > r)
            r = l->pairs[i].rank;
    return r;
}

float lf_lora_alpha(const lf_lora *l) { return l->alpha; }
int lf_lora_n_pairs(const lf_lora *l) { return l->n_pairs; }

size_t lf_lora_bytes(const lf_lora *l) {
    size_t s = 0;
    for (int i = 0; i < l->n_pairs; i++)
        s += (size_t)l->pairs[i].a.rows * l->pairs[i].a.row_bytes +
             (size_t)l->pairs[i].b.rows * l->pairs[i].b.row_bytes;
    return s;
}

/* Where base tensor `name` sits in the forward pass: a layer slot or the
 * output (layer -1). LF_EUNSUPP for tensors that are not a plain matrix
 * product (embedding, fused phi3 tensors, norms). */
static int locate(const lf_model *base, const char *name, int *layer, lf_wslot *slot,
                  lf_error *err) {
    const lf_model_tensor *t = lf_model_find_tensor(base, name);
    if (!t)
        return lf_error_set(err, LF_EMISMATCH, "adapter targets %s, which the base model (%s) lacks",
                            name, base->hp.name);
    if (strcmp(name, "output.weight") == 0) {
        *layer = -1;
        *slot = LF_W_Q;
        return 0;
    }
    int idx = (int)(t - base->tensors);
    for (int il = 0; il < base->hp.n_layer; il++)
        for (int s = 0; s < LF_W_COUNT; s++)
            if (base->layers[il].w_tensor[s] == idx) {
                *layer = il;
                *slot = (lf_wslot)s;
                return 0;
            }
    return lf_error_set(err, LF_EUNSUPP, "adapter targets %s: LoRA is supported on the attention and "
                        "feed-forward projections and output.weight only", name);
}

/* The base matrix a pair applies to (for shapes). */
static const lf_mat *target_mat(const lf_model *base, int layer, lf_wslot slot) {
    return layer < 0 ? &base->output : &base->layers[layer].w[slot];
}

/* A or B as a matrix lf_matmul can take: in place when F32/F16, otherwise
 * converted to F32 (owned by the adapter). */
static int pair_mat(lf_lora *l, const lf_gguf_tensor *t, lf_mat *out, lf_error *err) {
    lf_mat w = lf_mat_from_tensor(t);
    if (w.type == LF_TYPE_F32 || w.type == LF_TYPE_F16) {
        *out = w;
        return 0;
    }
    if (!lf_type_supported(w.type))
        return lf_error_set(err, LF_EUNSUPP, "adapter tensor %s: type %s not supported", t->name,
                            lf_type_name(w.type));
    float *f = malloc((size_t)w.rows * (size_t)w.cols * sizeof(float));
    if (!f || lora_own(l, f) < 0)
        return lf_error_set(err, LF_ENOMEM, "adapter tensor %s: out of memory", t->name);
    lf_dequantize(w.type, w.data, f, w.rows, w.cols);
    *out = lf_mat_make(LF_TYPE_F32, w.rows, w.cols, f);
    return 0;
}

/* LF_ETOOBIG when the adapter (its mapped file plus the F32 copies of
 * quantized pairs) would not fit next to the base in the base's memory
 * budget; checked before any of those copies is made. */
static int lora_check_budget(const lf_model *base, const lf_gguf *g, const char *path,
                             lf_error *err) {
    size_t need = lf_gguf_file_size(g);
    bool ok = true;
    for (int64_t i = 0; ok && i < lf_gguf_n_tensors(g); i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        if (t->type == LF_TYPE_F32 || t->type == LF_TYPE_F16)
            continue;
        size_t f32;
        ok = lf_mul_size((size_t)lf_gguf_tensor_nelem(t), sizeof(float), &f32) &&
             lf_add_size(need, f32, &need);
    }
    size_t total;
    if (ok && lf_add_size(need, lf_model_total_bytes(base), &total) && total <= base->mem_budget)
        return 0;
    char b_need[32], b_model[32], b_budget[32];
    lf_format_bytes(b_need, sizeof b_need, ok ? (double)need : 0x1p64);
    lf_format_bytes(b_model, sizeof b_model, (double)lf_model_total_bytes(base));
    lf_format_bytes(b_budget, sizeof b_budget, (double)base->mem_budget);
    return lf_error_set(err, LF_ETOOBIG,
                        "%s: the adapter needs %s next to the model's %s, more than the usable "
                        "memory of %s (%llu bytes)", path, b_need, b_model, b_budget,
                        (unsigned long long)base->mem_budget);
}

static bool ends_with(const char *s, const char *suffix, size_t *stem) {
    size_t n = strlen(s), k = strlen(suffix);
    if (n < k || strcmp(s + n - k, suffix) != 0)
        return false;
    *stem = n - k;
    return true;
}

int lf_lora_load(lf_lora **out, const char *path, const lf_model *base, lf_error *err) {
    *out = NULL;
    lf_lora *l = calloc(1, sizeof *l);
    if (!l)
        return lf_error_set(err, LF_ENOMEM, "%s: out of memory", path);
    l->base = base;
    int rc = lf_gguf_open(&l->gguf, path, err);
    if (rc < 0) {
        free(l);
        return rc;
    }
    const lf_gguf *g = l->gguf;
    char s[64];
    if (lf_gguf_get_str(g, "general.type", s, sizeof s) == 0 && strcmp(s, "adapter") != 0) {
        rc = lf_error_set(err, LF_EINVAL, "%s: general.type is '%s', not an adapter", path, s);
        goto fail;
    }
    if (lf_gguf_get_str(g, "adapter.type", s, sizeof s) == 0 && strcmp(s, "lora") != 0) {
        rc = lf_error_set(err, LF_EUNSUPP, "%s: adapter.type '%s' is not supported (lora only)", path, s);
        goto fail;
    }
    if (lf_gguf_get_str(g, "general.architecture", s, sizeof s) == 0) {
        lf_arch a;
        lf_error aerr = {0};
        if (lf_arch_parse(s, &a, &aerr) < 0 || a != base->hp.arch) {
            rc = lf_error_set(err, LF_EMISMATCH, "%s: adapter is for architecture '%s', base model is '%s'",
                              path, s, lf_arch_name(base->hp.arch));
            goto fail;
        }
    }
    double alpha = 0;
    if (lf_gguf_find_kv(g, "adapter.lora.alpha") && lf_gguf_get_f64(g, "adapter.lora.alpha", &alpha) < 0) {
        rc = lf_error_set(err, LF_EFORMAT, "%s: adapter.lora.alpha is not a number", path);
        goto fail;
    }
    l->alpha = (float)alpha;
    int64_t nt = lf_gguf_n_tensors(g);
    if (base->mem_budget && (rc = lora_check_budget(base, g, path, err)) < 0)
        goto fail;
    l->pairs = calloc((size_t)(nt > 0 ? nt : 1), sizeof *l->pairs);
    if (!l->pairs) {
        rc = lf_error_set(err, LF_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (int64_t i = 0; i < nt; i++) {
        const lf_gguf_tensor *ta = lf_gguf_tensor_at(g, i);
        size_t stem;
        if (ends_with(ta->name, ".lora_b", &stem)) {
            char an[128];
            snprintf(an, sizeof an, "%.*s.lora_a", (int)stem, ta->name);
            if (!lf_gguf_find_tensor(g, an)) {
                rc = lf_error_set(err, LF_EFORMAT, "%s: tensor %s has no matching %s", path,
                                  ta->name, an);
                goto fail;
            }
            continue;
        }
        if (!ends_with(ta->name, ".lora_a", &stem)) {
            rc = lf_error_set(err, LF_EFORMAT, "%s: tensor %s is not a LoRA tensor (.lora_a/.lora_b)",
                              path, ta->name);
            goto fail;
        }
        lf_lora_pair *p = &l->pairs[l->n_pairs];
        if (stem >= sizeof p->name) {
            rc = lf_error_set(err, LF_EFORMAT, "%s: tensor name %s too long", path, ta->name);
            goto fail;
        }
        memcpy(p->name, ta->name, stem);
        p->name[stem] = 0;
        char bn[128];
        snprintf(bn, sizeof bn, "%s.lora_b", p->name);
        const lf_gguf_tensor *tb = lf_gguf_find_tensor(g, bn);
        if (!tb) {
            rc = lf_error_set(err, LF_EFORMAT, "%s: tensor %s has no matching %s", path, ta->name, bn);
            goto fail;
        }
        if ((rc = locate(base, p->name, &p->layer, &p->slot, err)) < 0) {
            lf_error_wrap(err, "%s", path);
            goto fail;
        }
        const lf_mat *w = target_mat(base, p->layer, p->slot);
        int64_t rank = ta->n_dims >= 2 ? ta->ne[1] : 1;
        if (ta->n_dims != 2 || ta->ne[0] != w->cols || rank < 1 || rank > INT32_MAX) {
            rc = lf_error_set(err, LF_EMISMATCH,
                              "%s: tensor %s has shape [%lld, %lld], base %s needs [%lld, rank]",
                              path, ta->name, (long long)ta->ne[0],
                              (long long)(ta->n_dims >= 2 ? ta->ne[1] : 1), p->name,
                              (long long)w->cols);
            goto fail;
        }
        if (tb->n_dims != 2 || tb->ne[0] != rank || tb->ne[1] != w->rows) {
            rc = lf_error_set(err, LF_EMISMATCH,
                              "%s: tensor %s has shape [%lld, %lld], base %s needs [%lld, %lld]",
                              path, tb->name, (long long)tb->ne[0],
                              (long long)(tb->n_dims >= 2 ? tb->ne[1] : 1), p->name,
                              (long long)rank, (long long)w->rows);
            goto fail;
        }
        for (int j = 0; j < l->n_pairs; j++)
            if (strcmp(l->pairs[j].name, p->name) == 0) {
                rc = lf_error_set(err, LF_EFORMAT, "%s: two adapters for %s", path, p->name);
                goto fail;
            }
        p->rank = (int)rank;
        if ((rc = pair_mat(l, ta, &p->a, err)) < 0 || (rc = pair_mat(l, tb, &p->b, err)) < 0)
            goto fail;
        l->n_pairs++;
    }
    if (l->n_pairs == 0) {
        rc = lf_error_set(err, LF_EFORMAT, "%s: no LoRA tensors", path);
        goto fail;
    }
    /* no alpha means no extra scaling: alpha = rank */
    if (!(l->alpha > 0))
        l->alpha = (float)lf_lora_rank(l);
    for (int i = 0; i < l->n_pairs; i++)
        if (l->pairs[i].rank != lf_lora_rank(l) && alpha <= 0)
            lf_warn("%s: pairs of different ranks and no alpha: scale alpha/rank differs per pair", path);
    *out = l;
    return 0;
fail:
    lf_lora_free(l);
    return rc;
}

int lf_lora_synth(lf_lora **out, const lf_model *base, int rank, const char *const *targets,
                  int n_targets, uint64_t seed, lf_error *err) {
    *out = NULL;
    if (rank < 1 || n_targets < 1)
        return lf_error_set(err, LF_EINVAL, "synthetic adapter: rank %d, %d targets", rank, n_targets);
    lf_lora *l = calloc(1, sizeof *l);
    if (!l)
        return lf_error_set(err, LF_ENOMEM, "synthetic adapter: out of memory");
    l->base = base;
    l->alpha = (float)rank;
    int max_pairs = n_targets * (base->hp.n_layer + 1);
    l->pairs = calloc((size_t)max_pairs, sizeof *l->pairs);
    int rc = 0;
    if (!l->pairs) {
        rc = lf_error_set(err, LF_ENOMEM, "synthetic adapter: out of memory");
        goto fail;
    }
    lf_rng r;
    lf_rng_seed(&r, seed);
    for (int t = 0; t < n_targets; t++) {
        bool is_output = strcmp(targets[t], "output") == 0;
        for (int il = is_output ? -1 : 0; il < (is_output ? 0 : base->hp.n_layer); il++) {
            lf_lora_pair *p = &l->pairs[l->n_pairs];
            if (is_output)
                snprintf(p->name, sizeof p->name, "output.weight");
            else
                snprintf(p->name, sizeof p->name, "blk.%d.%s.weight", il, targets[t]);
            if ((rc = locate(base, p->name, &p->layer, &p->slot, err)) < 0)
                goto fail;
            const lf_mat *w = target_mat(base, p->layer, p->slot);
            p->rank = rank;
            float *a = malloc((size_t)rank * (size_t)w->cols * sizeof(float));
            float *b = malloc((size_t)w->rows * (size_t)rank * sizeof(float));
            if (!a || !b) {
                free(a);
                free(b);
                rc = lf_error_set(err, LF_ENOMEM, "synthetic adapter: out of memory");
                goto fail;
            }
            if (lora_own(l, a) < 0) {
                free(b);
                rc = lf_error_set(err, LF_ENOMEM, "synthetic adapter: out of memory");
                goto fail;
            }
            if (lora_own(l, b) < 0) {
                rc = lf_error_set(err, LF_ENOMEM, "synthetic adapter: out of memory");
                goto fail;
            }
            /* A ~ N(0, 1/n_in) as LoRA initialises it; B small but non-zero
             * (a trained adapter, not a fresh one whose B is zero) */
            float sa = 1.0f / sqrtf((float)w->cols);
            for (int64_t i = 0; i < (int64_t)rank * w->cols; i++)
                a[i] = sa * lf_rng_normalf(&r);
            for (int64_t i = 0; i < w->rows * (int64_t)rank; i++)
                b[i] = 0.02f * lf_rng_normalf(&r);
            p->a = lf_mat_make(LF_TYPE_F32, rank, w->cols, a);
            p->b = lf_mat_make(LF_TYPE_F32, w->rows, rank, b);
            l->n_pairs++;
        }
    }
    *out = l;
    return 0;
fail:
    lf_lora_free(l);
    return rc;
}

/* ---- merging --------------------------------------------------------------- */

static float *mat_to_f32(const lf_mat *w) {
    float *f = malloc((size_t)w->rows * (size_t)w->cols * sizeof(float));
    if (f && lf_mat_rows_to_float(w, 0, w->rows, f) < 0) {   /* either layout */
        free(f);
        f = NULL;
    }
    return f;
}

int lf_model_merge_lora_ex(lf_model **out, const lf_model *base, lf_lora *const *adapters,
                           const float *scales, int n, bool requant, lf_error *err) {
    *out = NULL;
    for (int a = 0; a < n; a++)
        if (!adapters[a] || adapters[a]->base != base)
            return lf_error_set(err, LF_EMISMATCH, "merge: adapter %d was not loaded for this base", a);
    lf_model *m = lf_model_alloc(&base->hp);
    if (!m)
        return lf_error_set(err, LF_ENOMEM, "merge: out of memory");
    m->meta = base->meta;
    m->merged = true;
    m->mem_budget = base->mem_budget;
    m->vocab = base->vocab;     /* shared, not owned */
    m->mix = requant ? base->mix : LF_MIX_COUNT;
    m->tensors = calloc((size_t)(base->n_tensors ? base->n_tensors : 1), sizeof *m->tensors);
    int rc = 0;
    float *wf = NULL, *af = NULL, *bf = NULL;
    if (!m->tensors) {
        rc = lf_error_set(err, LF_ENOMEM, "merge: out of memory");
        goto fail;
    }
    memcpy(m->tensors, base->tensors, (size_t)base->n_tensors * sizeof *m->tensors);
    m->n_tensors = base->n_tensors;
    if (m->mem_budget) {
        /* the merged tensors stay, one F32 working copy at a time comes and goes */
        size_t keep = 0, work = 0, total;
        for (int ti = 0; ti < m->n_tensors; ti++) {
            const lf_model_tensor *t = &m->tensors[ti];
            bool touched = false;
            for (int a = 0; a < n && !touched; a++)
                for (int p = 0; p < adapters[a]->n_pairs && !touched; p++)
                    touched = strcmp(adapters[a]->pairs[p].name, t->name) == 0;
            if (!touched)
                continue;
            size_t f32 = (size_t)t->mat.rows * (size_t)t->mat.cols * sizeof(float);
            keep += requant ? (size_t)t->mat.rows * t->mat.row_bytes : f32;
            work = f32 > work ? f32 : work;
        }
        if (!lf_add_size(keep, work, &total) ||
            !lf_add_size(total, lf_model_total_bytes(base), &total) || total > m->mem_budget) {
            char b_new[32], b_budget[32];
            lf_format_bytes(b_new, sizeof b_new, (double)keep + (double)work);
            lf_format_bytes(b_budget, sizeof b_budget, (double)m->mem_budget);
            rc = lf_error_set(err, LF_ETOOBIG,
                              "merge: the merged tensors need %s next to the base model, more "
                              "than the usable memory of %s (%llu bytes)", b_new, b_budget,
                              (unsigned long long)m->mem_budget);
            goto fail;
        }
    }
    for (int ti = 0; ti < m->n_tensors; ti++) {
        lf_model_tensor *t = &m->tensors[ti];
        bool touched = false;
        for (int a = 0; a < n && !touched; a++)
            for (int p = 0; p < adapters[a]->n_pairs; p++)
                if (strcmp(adapters[a]->pairs[p].name, t->name) == 0)
                    touched = true;
        if (!touched)
            continue;
        const int64_t rows = t->mat.rows, cols = t->mat.cols;
        wf = mat_to_f32(&t->mat);
        if (!wf) {
            rc = lf_error_set(err, LF_ENOMEM, "merge: %s: out of memory", t->name);
            goto fail;
        }
        for (int a = 0; a < n; a++) {
            const lf_lora *l = adapters[a];
            for (int p = 0; p < l->n_pairs; p++) {
                const lf_lora_pair *lp = &l->pairs[p];
                if (strcmp(lp->name, t->name) != 0)
                    continue;
                const float s = (scales ? scales[a] : 1.0f) * l->alpha / (float)lp->rank;
                af = mat_to_f32(&lp->a);
                bf = mat_to_f32(&lp->b);
                if (!af || !bf) {
                    rc = lf_error_set(err, LF_ENOMEM, "merge: %s: out of memory", t->name);
                    goto fail;
                }
                /* W[o][i] += s · Σ_r B[o][r] · A[r][i] */
                for (int64_t o = 0; o < rows; o++) {
                    float *wr = wf + o * cols;
                    for (int r = 0; r < lp->rank; r++) {
                        const float bo = s * bf[o * lp->rank + r];
                        const float *ar = af + (int64_t)r * cols;
                        for (int64_t i = 0; i < cols; i++)
                            wr[i] += bo * ar[i];
                    }
                }
                free(af);
                free(bf);
                af = bf = NULL;
            }
        }
        lf_type type = requant ? t->mat.type : LF_TYPE_F32;
        size_t bytes = lf_row_size(type, cols) * (size_t)rows;
        void *data = lf_model_alloc_owned(m, bytes);
        if (!data) {
            rc = lf_error_set(err, LF_ENOMEM, "merge: %s: out of memory", t->name);
            goto fail;
        }
        if (type == LF_TYPE_F32)
            memcpy(data, wf, bytes);
        else
            lf_quantize(type, wf, data, rows, cols);
        free(wf);
        wf = NULL;
        t->mat = lf_mat_make(type, rows, cols, data);
    }
    if ((rc = lf_model_bind(m, err)) < 0)
        goto fail;
    *out = m;
    return 0;
fail:
    free(wf);
    free(af);
    free(bf);
    lf_model_free(m);
    return rc;
}

int lf_model_merge_lora(lf_model **out, const lf_model *base, lf_lora *const *adapters,
                        const float *scales, int n, lf_error *err) {
    return lf_model_merge_lora_ex(out, base, adapters, scales, n, false, err);
}
