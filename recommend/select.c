/*
 * Selection: every catalog model × quant mix is a candidate. Each gets its
 * memory need, its decode speed at the full context and at depth 0, its
 * prefill speed and time to first token, and a quality:
 *
 *     quality = published score × exp(−KLD)
 *
 * where KLD is the mean KL divergence of the quant against FP16 in
 * llama.cpp's Llama-3-8B table (quants.csv). exp(−KLD) is 0.999 for Q8_0,
 * 0.969 for Q4_K_M and 0.64 for Q2_K — close to the share of tokens whose
 * top choice survives quantization in the same table (97.7%, 91.9%, 71.1%),
 * so a score degrades about as often as answers change. The KLDs are those
 * of an 8B model; small models lose more at the same bits, which this
 * formula does not know.
 *
 * Constraints reject; each failed one adds its reason. Among what fits,
 * candidates whose published score was checked against its cited source
 * (quality_verified in models.json) rank before every candidate whose score
 * was not: a figure nobody has confirmed must not decide the answer over
 * one somebody has, however much higher it claims to be. Within each of the
 * two tiers the highest quality wins, ties (within 0.01) go to the faster
 * decoder. The rules and the order within a tier are exported
 * (lf_rec_fit_check, lf_rec_rank_cmp) so `sweep`, which judges GGUF files
 * rather than catalog rows, uses the same. The
 * Pareto front is the set of fitting candidates no other fitting candidate
 * beats on quality (in the ranking's order: verified above unverified),
 * decode speed and memory at once.
 */
#include "recommend/recommend.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void lf_rec_constraints_init(lf_rec_constraints *c) {
    memset(c, 0, sizeof *c);
    c->context = 4096;
    c->memory_fraction = 0.9;
    c->kv_type = LF_TYPE_F16;
}

double lf_rec_quality(double score, double kld) {
    return score * exp(-(kld > 0 ? kld : 0));
}

/* Whether item is in the comma list (case-insensitive); prefix: match a
 * list entry as a prefix of item. */
static bool in_list(const char *list, const char *item, bool prefix) {
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - p);
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > 0 && strncasecmp(p, item, n) == 0 && (prefix || item[n] == '\0'))
            return true;
        p = e;
    }
    return false;
}

static void add_reason(char *reason, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_reason(char *reason, size_t size, const char *fmt, ...) {
    size_t l = strlen(reason);
    if (l + 3 >= size)
        return;
    if (l) {
        strcpy(reason + l, "; ");
        l += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason + l, size - l, fmt, ap);
    va_end(ap);
}

/* How far a measure is past its limit, relative to the limit: 0.25 = 25%
 * over (or, for a floor, the limit 25% above the value). */
static double over(double value, double limit) {
    return value > 0 && limit > 0 ? value / limit - 1.0 : 1.0;
}

const char *lf_rec_fail_name(unsigned bit) {
    switch (bit) {
    case LF_REC_FAIL_LICENSE: return "license";
    case LF_REC_FAIL_TASK: return "task";
    case LF_REC_FAIL_CONTEXT: return "context";
    case LF_REC_FAIL_KLD: return "KLD";
    case LF_REC_FAIL_QUALITY: return "quality";
    case LF_REC_FAIL_MEMORY: return "memory";
    case LF_REC_FAIL_SPEED: return "decode speed";
    case LF_REC_FAIL_TTFT: return "time to first token";
    default: return "?";
    }
}

unsigned lf_rec_fit_judge(const lf_rec_fit_input *f, const lf_rec_constraints *k, char *reason,
                          size_t size, double *miss) {
    unsigned failed = 0;
    double m = 0;
    char a[32], b[32];
    if (k->context > f->n_ctx_max) {
        add_reason(reason, size, "context %lld > model max %d", (long long)k->context, f->n_ctx_max);
        failed |= LF_REC_FAIL_CONTEXT;
        m += over((double)k->context, f->n_ctx_max);
    }
    if (k->max_kld > 0 && !isnan(f->kld) && f->kld > k->max_kld) {
        add_reason(reason, size, "KLD %.4g > %.4g", f->kld, k->max_kld);
        failed |= LF_REC_FAIL_KLD;
        m += over(f->kld, k->max_kld);
    }
    if (k->min_quality > 0 && !isnan(f->quality) && f->quality < k->min_quality) {
        add_reason(reason, size, "quality %.1f < %.1f", f->quality, k->min_quality);
        failed |= LF_REC_FAIL_QUALITY;
        m += over(k->min_quality, f->quality);
    }
    if (f->mem_total > f->budget) {
        add_reason(reason, size, "needs %s > %s usable",
                   lf_format_bytes(a, sizeof a, (double)f->mem_total),
                   lf_format_bytes(b, sizeof b, (double)f->budget));
        failed |= LF_REC_FAIL_MEMORY;
        m += over((double)f->mem_total, (double)f->budget);
    }
    if (k->min_tps > 0 && f->tg < k->min_tps) {
        add_reason(reason, size, "tg %.1f tok/s < %g at %lld ctx", f->tg, k->min_tps,
                   (long long)k->context);
        failed |= LF_REC_FAIL_SPEED;
        m += over(k->min_tps, f->tg);
    }
    if (k->max_ttft_s > 0) {
        if (isnan(f->ttft_s)) {
            if (f->ttft_unknown_fails) {
                add_reason(reason, size, "ttft unknown (no compute peak)");
                failed |= LF_REC_FAIL_TTFT;
                m += 1.0;
            }
        } else if (f->ttft_s > k->max_ttft_s) {
            add_reason(reason, size, "ttft %.2f s > %g s", f->ttft_s, k->max_ttft_s);
            failed |= LF_REC_FAIL_TTFT;
            m += over(f->ttft_s, k->max_ttft_s);
        }
    }
    if (miss)
        *miss += m;
    return failed;
}

bool lf_rec_fit_check(const lf_rec_fit_input *f, const lf_rec_constraints *k, char *reason,
                      size_t size) {
    return lf_rec_fit_judge(f, k, reason, size, NULL) == 0;
}

int lf_rec_rank_cmp(double quality_a, double tg_a, double quality_b, double tg_b) {
    double dq = (isnan(quality_a) ? 0 : quality_a) - (isnan(quality_b) ? 0 : quality_b);
    if (fabs(dq) >= 0.01)
        return dq > 0 ? -1 : 1;
    if (tg_a != tg_b)
        return tg_a > tg_b ? -1 : 1;
    return 0;
}

static int cmp_cand(const void *pa, const void *pb) {
    const lf_rec_candidate *a = pa, *b = pb;
    if (a->fits != b->fits)
        return a->fits ? -1 : 1;
    if (a->fits) {
        if (a->model->quality_verified != b->model->quality_verified)
            return a->model->quality_verified ? -1 : 1;
        int r = lf_rec_rank_cmp(a->quality, a->tg.value, b->quality, b->tg.value);
        if (r)
            return r;
        return a->mem.total < b->mem.total ? -1 : a->mem.total > b->mem.total;
    }
    /* rejected: catalog order, then larger quants first */
    if (a->model != b->model)
        return a->model < b->model ? -1 : 1;
    return a->quant->bpw > b->quant->bpw ? -1 : a->quant->bpw < b->quant->bpw;
}

/* Quality as the ranking orders it: a verified score above any unverified
 * one, so an unconfirmed figure cannot push a verified winner off the
 * front either. */
static bool dominates(const lf_rec_candidate *a, const lf_rec_candidate *b) {
    const bool va = a->model->quality_verified, vb = b->model->quality_verified;
    const bool q_ge = va != vb ? va : a->quality >= b->quality;
    const bool q_gt = va != vb ? va : a->quality > b->quality;
    bool ge = q_ge && a->tg.value >= b->tg.value && a->mem.total <= b->mem.total;
    bool gt = q_gt || a->tg.value > b->tg.value || a->mem.total < b->mem.total;
    return ge && gt;
}

static int evaluate(lf_rec_candidate *c, const lf_rec_target *t, const lf_rec_constraints *k,
                    const lf_rec_calibration *cal, lf_error *err) {
    const lf_catalog_model *m = c->model;
    int64_t ctx = k->context;
    int rc = lf_rec_memory_estimate(m, c->mix, ctx, k->kv_type, k->adapters, k->n_adapters,
                                    &c->mem, err);
    if (rc < 0)
        return rc;
    c->budget = (uint64_t)((double)t->usable_memory * k->memory_fraction);
    c->quality = lf_rec_quality(m->quality_score, c->quant->kld);

    lf_rec_workload w = {.model = m->name, .mix = c->quant->name,
                         .weight_bytes = c->mem.weights_read,
                         .kv_bytes = lf_rec_kv_bytes(m, ctx, k->kv_type),
                         .params = c->mem.matmul_params,
                         .moe = lf_catalog_model_is_moe(m)};
    if ((rc = lf_rec_predict(cal, t, LF_REC_TG, &w, &c->tg, err)) < 0)
        return rc;
    w.kv_bytes = 0;
    if ((rc = lf_rec_predict(cal, t, LF_REC_TG, &w, &c->tg0, err)) < 0)
        return rc;
    c->pp_known = lf_rec_predict(cal, t, LF_REC_PP, &w, &c->pp, NULL) == 0;
    int64_t prompt = k->prompt > 0 ? k->prompt : (ctx < 512 ? ctx : 512);
    c->ttft_s = c->pp_known && c->pp.value > 0
                    ? (double)prompt / c->pp.value + 1.0 / c->tg0.value
                    : NAN;

    /* A license or task is not a matter of degree: it puts a candidate
     * far from fitting (LF_REC_MISS_CATEGORY) whatever else it meets. */
    c->miss = 0;
    if (k->licenses && *k->licenses && !in_list(k->licenses, m->license, false)) {
        add_reason(c->reason, sizeof c->reason, "license %s not allowed", m->license);
        c->failed |= LF_REC_FAIL_LICENSE;
        c->miss += LF_REC_MISS_CATEGORY;
    }
    if (k->task && *k->task && !lf_catalog_model_has_task(m, k->task)) {
        add_reason(c->reason, sizeof c->reason, "no task '%s' (has %s)", k->task, m->tasks);
        c->failed |= LF_REC_FAIL_TASK;
        c->miss += LF_REC_MISS_CATEGORY;
    }
    lf_rec_fit_input f = {.n_ctx_max = m->n_ctx, .kld = c->quant->kld, .quality = c->quality,
                    .mem_total = c->mem.total, .budget = c->budget, .tg = c->tg.value,
                    .ttft_s = c->ttft_s, .ttft_unknown_fails = !c->pp_known};
    c->failed |= lf_rec_fit_judge(&f, k, c->reason, sizeof c->reason, &c->miss);
    c->fits = c->reason[0] == '\0';
    return 0;
}

int lf_rec_recommend(const lf_catalog *cat, const lf_rec_target *t,
                     const lf_rec_constraints *k, const lf_rec_calibration *cal,
                     lf_rec_result *out, lf_error *err) {
    memset(out, 0, sizeof *out);
    out->winner = -1;
    out->nearest = -1;
    if (!cat || !t || !k || !cal)
        return lf_error_set(err, LF_EINVAL, "recommend: missing argument");
    if (t->usable_memory == 0 || !(t->bandwidth_gbs > 0))
        return lf_error_set(err, LF_EINVAL,
                            "recommend: the target needs usable memory and bandwidth");
    if (k->context <= 0 || k->context > (1 << 24))
        return lf_error_set(err, LF_EINVAL, "recommend: context %lld out of range",
                            (long long)k->context);
    if (!(k->memory_fraction > 0 && k->memory_fraction <= 1))
        return lf_error_set(err, LF_EINVAL, "recommend: memory fraction %g not in (0, 1]",
                            k->memory_fraction);
    if (k->min_tps < 0 || k->max_ttft_s < 0 || k->max_kld < 0 || k->min_quality < 0)
        return lf_error_set(err, LF_EINVAL, "recommend: negative limit");
    if (lf_row_size(k->kv_type, 256) == 0)
        return lf_error_set(err, LF_EINVAL, "recommend: unsupported KV type %s",
                            lf_type_name(k->kv_type));

    int nm = lf_catalog_n_models(cat), nq = lf_catalog_n_quants(cat);
    out->cand = calloc((size_t)nm * (size_t)nq + 1, sizeof *out->cand);
    if (!out->cand)
        return lf_error_set(err, LF_ENOMEM, "recommend: out of memory");
    out->context = (int)k->context;
    for (int i = 0; i < nm; i++) {
        const lf_catalog_model *m = lf_catalog_model_at(cat, i);
        if (k->models && *k->models && !in_list(k->models, m->name, true))
            continue;
        for (int j = 0; j < nq; j++) {
            const lf_catalog_quant *q = lf_catalog_quant_at(cat, j);
            if (k->mixes && *k->mixes && !in_list(k->mixes, q->name, false))
                continue;
            lf_mix mix;
            if (lf_mix_parse(q->name, &mix) < 0)
                continue;   /* a dataset row the kernels do not implement */
            lf_rec_candidate *c = &out->cand[out->n];
            c->model = m;
            c->quant = q;
            c->mix = mix;
            int rc = evaluate(c, t, k, cal, err);
            if (rc < 0) {
                lf_error_wrap(err, "%s %s", m->name, q->name);
                lf_rec_result_free(out);
                return rc;
            }
            out->n++;
        }
    }
    if (out->n == 0) {
        lf_rec_result_free(out);
        return lf_error_set(err, LF_ENOTFOUND, "recommend: no candidates (check --models/--quants)");
    }
    qsort(out->cand, (size_t)out->n, sizeof *out->cand, cmp_cand);
    for (int i = 0; i < out->n && out->cand[i].fits; i++) {
        out->n_fit++;
        out->cand[i].rank = i + 1;
    }
    for (int i = 0; i < out->n_fit; i++) {
        bool dom = false;
        for (int j = 0; j < out->n_fit && !dom; j++)
            dom = j != i && dominates(&out->cand[j], &out->cand[i]);
        out->cand[i].pareto = !dom;
    }
    out->winner = out->n_fit > 0 ? 0 : -1;
    out->nearest = -1;
    for (int i = out->n_fit; i < out->n; i++)
        if (out->nearest < 0 || out->cand[i].miss < out->cand[out->nearest].miss)
            out->nearest = i;
    return 0;
}

void lf_rec_result_free(lf_rec_result *r) {
    if (!r)
        return;
    free(r->cand);
    r->cand = NULL;
    r->n = r->n_fit = 0;
    r->winner = -1;
}

/* Billions with the precision people quote them at: 235B, 30.5B, 0.43B. */
static void fmt_b(char *buf, size_t size, double params) {
    double b = params / 1e9;
    snprintf(buf, size, b >= 100 ? "%.0fB" : b >= 1 ? "%.1fB" : "%.2fB", b);
}

char *lf_rec_moe_label(const lf_catalog_model *m, char *buf, size_t size) {
    if (size == 0)
        return buf;
    buf[0] = '\0';
    if (!lf_catalog_model_is_moe(m))
        return buf;
    double tot, act;
    char a[16], b[16];
    lf_catalog_param_counts(m, &tot, &act, NULL);
    fmt_b(a, sizeof a, tot);
    fmt_b(b, sizeof b, act);
    snprintf(buf, size, "MoE %s/%s", a, b);
    return buf;
}
