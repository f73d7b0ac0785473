/*
 * Derived views of a report input that both the plots and the document
 * need (distinct models and quants, the headline figure per model × quant),
 * and the small number and time formatters every renderer shares. Picking
 * the headline in one place keeps a plot and its table from disagreeing.
 */
#include "reports/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool rp_known(double v) { return isfinite(v); }

const char *rp_str(const char *s) { return s ? s : ""; }

const char *rp_fmt(char *buf, size_t size, double v, int dec) {
    if (!isfinite(v))
        lf_strlcpy(buf, "\xE2\x80\x94", size);   /* em dash */
    else
        snprintf(buf, size, "%.*f", dec, v);
    return buf;
}

const char *rp_fmt_val(char *buf, size_t size, double v) {
    return rp_fmt(buf, size, v, fabs(v) >= 10 ? 1 : 2);
}

const char *rp_fmt_time(char *buf, size_t size, int64_t t) {
    if (t == 0) {
        lf_strlcpy(buf, "", size);
        return buf;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(buf, size, "%lld", (long long)t);
    return buf;
}

bool rp_is_rate_test(const char *test) {
    return test && (!strcmp(test, "pp") || !strcmp(test, "tg"));
}

const char *lf_report_test_unit(const char *test) { return rp_is_rate_test(test) ? "t/s" : "ms"; }

const char *lf_report_format_name(lf_report_format fmt) {
    switch (fmt) {
    case LF_REPORT_MD: return "md";
    case LF_REPORT_HTML: return "html";
    case LF_REPORT_JSON: return "json";
    }
    return "?";
}

int lf_report_format_parse(const char *name, lf_report_format *out) {
    static const lf_report_format all[] = {LF_REPORT_MD, LF_REPORT_HTML, LF_REPORT_JSON};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (name && !strcmp(name, lf_report_format_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    return LF_EINVAL;
}

long rp_strset_find(const rp_strset *s, const char *x) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], rp_str(x)))
            return (long)i;
    return -1;
}

size_t rp_strset_add(rp_strset *s, const char *x) {
    long i = rp_strset_find(s, x);
    if (i >= 0)
        return (size_t)i;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        const char **v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->oom = true;
            return 0;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n] = rp_str(x);
    return s->n++;
}

void rp_strset_free(rp_strset *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}

static bool same(const char *a, const char *b) { return !strcmp(rp_str(a), rp_str(b)); }

double rp_best_rate(const lf_report_input *in, const char *device_id, const char *model,
                    const char *quant, const char *test, int threads) {
    double best = NAN;
    for (size_t i = 0; i < in->n_results; i++) {
        const lf_report_result *r = &in->results[i];
        if (!same(r->device_id, device_id) || !same(r->model, model) ||
            !same(r->quant, quant) || !same(r->test, test) || rp_str(r->adapter)[0] ||
            r->depth != 0 || (threads && r->threads != threads))
            continue;
        if (isfinite(r->value) && r->value > 0 && !(r->value <= best))
            best = r->value;
    }
    return best;
}

/* Bits per weight of a quant as the results state it (first row with one). */
static double quant_bpw(const lf_report_input *in, const char *quant) {
    for (size_t i = 0; i < in->n_results; i++)
        if (same(in->results[i].quant, quant) && isfinite(in->results[i].bits_per_weight) &&
            in->results[i].bits_per_weight > 0)
            return in->results[i].bits_per_weight;
    return INFINITY;
}

void rp_models_quants(const lf_report_input *in, const char *device_id, rp_strset *models,
                      rp_strset *quants) {
    for (size_t i = 0; i < in->n_results; i++) {
        const lf_report_result *r = &in->results[i];
        if (device_id && !same(r->device_id, device_id))
            continue;
        if (models)
            rp_strset_add(models, r->model);
        if (quants)
            rp_strset_add(quants, r->quant);
    }
    if (!quants)
        return;
    /* Insertion sort: a handful of quants, ordered by size as users read them. */
    for (size_t i = 1; i < quants->n; i++) {
        const char *q = quants->v[i];
        double bq = quant_bpw(in, q);
        size_t j = i;
        while (j > 0) {
            double bp = quant_bpw(in, quants->v[j - 1]);
            if (bp < bq || (bp == bq && strcmp(quants->v[j - 1], q) <= 0))
                break;
            quants->v[j] = quants->v[j - 1];
            j--;
        }
        quants->v[j] = q;
    }
}

double rp_flops_per_token(const lf_report_result *r) {
    if (isfinite(r->flops_per_token) && r->flops_per_token > 0)
        return r->flops_per_token;
    if (r->weight_bytes > 0 && isfinite(r->bits_per_weight) && r->bits_per_weight > 0)
        return 2.0 * (double)r->weight_bytes * 8.0 / r->bits_per_weight;
    return NAN;
}

/* A tg result that counts for thread scaling: no adapter, empty context. */
static bool scaling_row(const lf_report_result *r, const char *dev) {
    return (!dev || same(r->device_id, dev)) && same(r->test, "tg") && !rp_str(r->adapter)[0] &&
           r->depth == 0 && r->threads > 0;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

size_t rp_thread_counts(const lf_report_input *in, const char *dev, const char *model,
                        const char *quant, int *thr, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < in->n_results && n < max; i++) {
        const lf_report_result *r = &in->results[i];
        if (!scaling_row(r, dev) || !same(r->model, model) || !same(r->quant, quant))
            continue;
        bool seen = false;
        for (size_t t = 0; t < n; t++)
            seen |= thr[t] == r->threads;
        if (!seen)
            thr[n++] = r->threads;
    }
    qsort(thr, n, sizeof thr[0], cmp_int);
    return n;
}

size_t rp_thread_series(const lf_report_input *in, const char *dev, size_t *idx, size_t max,
                        int min_counts) {
    size_t n = 0;
    for (size_t i = 0; i < in->n_results && n < max; i++) {
        const lf_report_result *r = &in->results[i];
        if (!scaling_row(r, dev))
            continue;
        bool dup = false;
        for (size_t s = 0; s < n && !dup; s++)
            dup = same(in->results[idx[s]].model, r->model) &&
                  same(in->results[idx[s]].quant, r->quant);
        int thr[2];
        if (!dup && rp_thread_counts(in, dev, r->model, r->quant, thr, 2) >= (size_t)min_counts)
            idx[n++] = i;
    }
    return n;
}
