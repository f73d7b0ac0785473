/*
 * The performance model and its calibration. Decoding is bandwidth-bound:
 * each token reads every weight it passes through plus the KV cache so far,
 * so tok/s = eff × bandwidth / bytes. Prefill is compute-bound: tok/s =
 * eff × peak / (2 × matmul params). What differs between devices, kernels
 * and quant types is eff, and that is what observations teach us:
 *
 *   - per quantization, at the thread count the prediction is for, the
 *     median of the observed efficiencies — robust to a few disturbed runs.
 *     Kernels of one quant class still differ (a Q6_K dot product costs more
 *     per byte than a Q4_K one), and on a CPU with few cores decoding is
 *     often compute- rather than bandwidth-bound: one thread decodes at
 *     about half the speed of two while the bandwidth it sees barely
 *     changes, so its efficiency is about half. When the exact mix or
 *     thread count was not observed, the quant class, then every class, then
 *     other thread counts stand in, each step widening the interval;
 *   - small models reach less of the roof (fixed per-token costs): eff =
 *     a + b·ln(size), b the Theil–Sen slope of pairs of the SAME mix and
 *     thread count (pairs across mixes would read kernel differences as a
 *     size effect), shared by every mix; a the set's median intercept;
 *   - the KV cache read at depth costs kv_mult times a weight byte (attention
 *     is a chain of small dot products, not one streaming matrix product),
 *     kv_mult learned from pairs of one configuration at two depths;
 *   - a model measured in other mixes carries its own factor (the median log
 *     ratio of its efficiencies to the other models' levels): an odd shape
 *     (a huge vocabulary, narrow rows) is slow or fast in every mix;
 *   - a mixture-of-experts model gathers k experts' rows per token, which
 *     costs more per byte than one streamed matrix: its efficiency is the
 *     dense level times a factor learned from this device's MoE
 *     observations (the dense levels and slopes learn from dense ones
 *     only); unmeasured, a typical factor makes it an estimate;
 *   - the interval from the robust spread (1.4826 × MAD) of log residuals.
 *
 * An exact observation of the same configuration is reported as measured;
 * the same model and mix at another depth anchors a prediction (its own
 * efficiency, this depth's KV bytes); without observations the typical
 * efficiencies below give an estimate with a ×/÷1.5 interval.
 */
#include "recommend/recommend.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Typical fractions of the roof reached by good engines (decoding: share of
 * the streaming-read bandwidth; prefill: share of the int8/FP peak). Used
 * only until the device has been measured. */
double lf_rec_default_efficiency(lf_rec_kind kind, lf_rec_test test) {
    if (test == LF_REC_TG)
        return kind == LF_REC_GPU ? 0.70 : kind == LF_REC_UNIFIED ? 0.65 : 0.60;
    return kind == LF_REC_GPU ? 0.35 : kind == LF_REC_UNIFIED ? 0.30 : 0.25;
}

/* Gathering k experts' rows reaches less of the roof than one streamed
 * matrix (shorter runs per expert, the router and its top-k between); a
 * typical CPU engine decodes a sparse model at roughly 0.7 of the dense
 * efficiency per byte read. Replaced by the device's own factor as soon as
 * one MoE model was measured. */
double lf_rec_default_moe_factor(lf_rec_test test) {
    return test == LF_REC_TG ? 0.70 : 0.60;
}

const char *lf_rec_test_name(lf_rec_test t) { return t == LF_REC_PP ? "pp" : "tg"; }

const char *lf_rec_source_name(lf_rec_source s) {
    switch (s) {
    case LF_REC_MEASURED: return "measured";
    case LF_REC_CALIBRATED: return "calibrated";
    case LF_REC_ESTIMATED: return "estimated";
    }
    return "?";
}

lf_rec_class lf_rec_class_of(const char *mix) {
    if (!mix || !*mix)
        return LF_REC_CLASS_KQUANT;
    if (strncasecmp(mix, "IQ", 2) == 0)
        return LF_REC_CLASS_IQUANT;
    if (strncasecmp(mix, "Q8", 2) == 0)
        return LF_REC_CLASS_Q8;
    if (toupper((unsigned char)mix[0]) == 'F' || strncasecmp(mix, "BF", 2) == 0)
        return LF_REC_CLASS_FLOAT;
    for (const char *p = mix; *p; p++)
        if (*p == '_' && (p[1] == 'K' || p[1] == 'k'))
            return LF_REC_CLASS_KQUANT;
    return LF_REC_CLASS_LEGACY;
}

const char *lf_rec_class_name(lf_rec_class c) {
    static const char *const n[] = {"float", "q8", "legacy", "k-quant", "i-quant"};
    return (unsigned)c < LF_REC_N_CLASS ? n[c] : "?";
}

/* ---- robust statistics ------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). NAN for n == 0. */
static double median(double *v, int n) {
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double fit_eval(const lf_rec_fit *f, double x) {
    if (!f->has_slope)
        return f->median;
    double e = f->a + f->b * x;
    /* A line fitted over a range must not run away outside it. */
    if (e < 0.25 * f->median)
        e = 0.25 * f->median;
    if (e > 2.0 * f->median)
        e = 2.0 * f->median;
    return e;
}

/* Fits efficiencies y at sizes x = ln(size). */
static void fit_points(lf_rec_fit *f, const double *x, const double *y, int n) {
    memset(f, 0, sizeof *f);
    f->n = n;
    if (n == 0)
        return;
    /* room for the n(n-1)/2 pairwise slopes, or the n values */
    size_t sub = n > 256 ? 257 : (size_t)n;
    size_t cap = sub * sub / 2 + (size_t)n;
    double *tmp = malloc(sizeof(double) * cap);
    if (!tmp) {  /* degrade to the mean rather than fail: n is small in practice */
        double s = 0;
        for (int i = 0; i < n; i++)
            s += y[i];
        f->median = s / n;
        return;
    }
    double *w = tmp;
    for (int i = 0; i < n; i++)
        w[i] = y[i];
    f->median = median(w, n);
    double xmin = x[0], xmax = x[0];
    for (int i = 1; i < n; i++) {
        xmin = x[i] < xmin ? x[i] : xmin;
        xmax = x[i] > xmax ? x[i] : xmax;
    }
    if (n >= 4 && xmax - xmin >= log(2.0)) {
        /* Pairs of a subsample at most 256 wide keep this O(n) in memory
         * and time for large stores; the median slope barely moves. */
        int k = 0, step = n > 256 ? (n + 255) / 256 : 1;
        for (int i = 0; i < n; i += step)
            for (int j = i + step; j < n; j += step)
                if (fabs(x[j] - x[i]) > 0.05)
                    w[k++] = (y[j] - y[i]) / (x[j] - x[i]);
        if (k >= 3) {
            f->b = median(w, k);
            for (int i = 0; i < n; i++)
                w[i] = y[i] - f->b * x[i];
            f->a = median(w, n);
            f->has_slope = true;
        }
    }
    /* spread of log residuals */
    int m = 0;
    for (int i = 0; i < n; i++) {
        double e = fit_eval(f, x[i]);
        if (e > 0 && y[i] > 0)
            w[m++] = log(y[i] / e);
    }
    double mid = median(w, m);
    for (int i = 0; i < m; i++)
        w[i] = fabs(w[i] - mid);
    f->spread = m > 1 ? 1.4826 * median(w, m) : 0;
    free(tmp);
}

/* ---- calibration ----------------------------------------------------- */

static bool obs_usable(const lf_rec_observation *o) {
    if (!(o->tokens_per_s > 0) || !(o->tokens_per_s < 1e9))
        return false;
    if (o->test == LF_REC_TG)
        return o->bandwidth_gbs > 0 && o->weight_bytes + o->kv_bytes > 0;
    return o->params > 0;
}

/* Efficiency and size coordinate of an observation. */
static void obs_point(const lf_rec_observation *o, bool pp_absolute, double kv_mult, double *x,
                      double *y) {
    if (o->test == LF_REC_TG) {
        double bytes = (double)o->weight_bytes + kv_mult * (double)o->kv_bytes;
        *y = o->tokens_per_s * bytes / (o->bandwidth_gbs * 1e9);
        *x = log(bytes);
    } else {
        double achieved = o->tokens_per_s * 2.0 * o->params / 1e12;
        *y = pp_absolute ? achieved : achieved / o->compute_tops;
        *x = log(o->params);
    }
}

/* Theil–Sen slope of efficiency over ln(size) from pairs of observations
 * with the same mix and thread count (threads 0: any count, still paired
 * within one). Returns false with fewer than 3 pairs. */
static bool within_mix_slope(const lf_rec_observation *obs, int n, lf_rec_test test,
                             bool pp_absolute, double kv_mult, int threads, double *out) {
    double *xy = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1) * 2);
    if (!xy)
        return false;
    int *idx = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    int m = 0;
    for (int i = 0; idx && i < n; i++) {
        const lf_rec_observation *o = &obs[i];
        if (o->test != test || !obs_usable(o) || o->moe ||
            (threads > 0 && o->threads != threads))
            continue;
        /* decodes deep in a context carry the KV cost, learned separately */
        if (test == LF_REC_TG && o->kv_bytes * 20 >= o->weight_bytes)
            continue;
        obs_point(o, pp_absolute, kv_mult, &xy[2 * m], &xy[2 * m + 1]);
        idx[m++] = i;
    }
    /* pairs of a subsample at most 256 wide, as fit_points does */
    int step = m > 256 ? (m + 255) / 256 : 1;
    size_t cap = (size_t)(m / step + 1) * (size_t)(m / step + 1) / 2 + 1;
    double *sl = idx ? malloc(sizeof(double) * cap) : NULL;
    int k = 0;
    for (int i = 0; sl && i < m; i += step)
        for (int j = i + step; j < m; j += step) {
            const lf_rec_observation *a = &obs[idx[i]], *b = &obs[idx[j]];
            double dx = xy[2 * j] - xy[2 * i];
            if (a->threads != b->threads || strcasecmp(a->mix, b->mix) || fabs(dx) < 0.05)
                continue;
            sl[k++] = (xy[2 * j + 1] - xy[2 * i + 1]) / dx;
        }
    bool ok = k >= 3;
    if (ok)
        *out = median(sl, k);
    free(sl);
    free(idx);
    free(xy);
    return ok;
}

/* The tg size slope learned for `threads` (else for all counts), 0 if none. */
static double tg_slope(const lf_rec_calibration *cal, int threads) {
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < cal->n_slopes; j++)
            if (cal->slopes[j].tg_ok && cal->slopes[j].threads == (pass ? 0 : threads))
                return cal->slopes[j].tg;
    return 0;
}

/* A shallow and a deep decode of the same model, mix and thread count give
 * the cost of a KV byte relative to a weight byte: the m for which
 *   tps_deep = eff(B) × BW / B,  B = W + m × KV_deep,
 * with eff from the shallow one moved along the size slope to ln B. Solved
 * by bisection on [0.5, 20] per pair; the median over pairs; 1 when there
 * are none. */
static double learn_kv_mult(const lf_rec_calibration *cal, const lf_rec_observation *obs, int n,
                            int *pairs) {
    double *m = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    int k = 0;
    for (int i = 0; m && i < n; i++) {
        const lf_rec_observation *d = &obs[i];
        if (d->test != LF_REC_TG || !obs_usable(d) || d->kv_bytes * 10 < d->weight_bytes)
            continue;
        /* the shallowest sibling */
        const lf_rec_observation *s = NULL;
        for (int j = 0; j < n; j++) {
            const lf_rec_observation *o = &obs[j];
            if (o->test != LF_REC_TG || !obs_usable(o) || o->threads != d->threads ||
                strcasecmp(o->model, d->model) || strcasecmp(o->mix, d->mix) ||
                o->kv_bytes * 20 >= d->weight_bytes)
                continue;
            if (!s || o->kv_bytes < s->kv_bytes)
                s = o;
        }
        if (!s)
            continue;
        double bs = (double)s->weight_bytes + (double)s->kv_bytes;
        double es = s->tokens_per_s * bs / (s->bandwidth_gbs * 1e9);
        double slope = tg_slope(cal, d->threads);
        double lo = 0.5, hi = 20;
        for (int it = 0; it < 60; it++) {
            double mid = 0.5 * (lo + hi);
            double B = (double)d->weight_bytes + mid * (double)d->kv_bytes;
            double e = es + slope * (log(B) - log(bs));
            double tps = e * d->bandwidth_gbs * 1e9 / B;
            if (tps > d->tokens_per_s)
                lo = mid;   /* predicted too fast: the KV costs more */
            else
                hi = mid;
        }
        m[k++] = 0.5 * (lo + hi);
    }
    double r = k ? median(m, k) : 1.0;
    free(m);
    *pairs = k;
    return r;
}

static bool level_at(const lf_rec_calibration *cal, lf_rec_test test, int threads,
                     const char *mix, const char *exclude_model, bool mix_only, bool moe,
                     double x, double *buf, double *eff, double *half, int *npoints);

/* The MoE factor of each test: the median log ratio of the MoE
 * observations' efficiencies to the dense level of their mix, size and
 * thread count. Without dense observations the ratio has no reference and
 * MoE levels come from MoE observations alone (level_at with moe). */
static void learn_moe(lf_rec_calibration *cal) {
    for (int t = 0; t < 2; t++) {
        cal->moe[t].n = 0;
        cal->moe[t].factor = 1.0;
        cal->moe[t].half = 0;
    }
    int n = cal->n_obs;
    double *buf = n > 0 ? malloc(sizeof(double) * (size_t)n * 5) : NULL;
    if (!buf)
        return;   /* no observations, or no memory: the default factor stands */
    double *r = buf + 3 * (size_t)n;
    for (int t = 0; t < 2; t++) {
        lf_rec_test test = (lf_rec_test)t;
        int k = 0;
        for (int i = 0; i < n; i++) {
            const lf_rec_observation *o = &cal->obs[i];
            if (o->test != test || !o->moe || !obs_usable(o))
                continue;
            double xo, yo, lvl, h;
            int np;
            obs_point(o, cal->pp_absolute, cal->kv_mult, &xo, &yo);
            if (yo > 0 && level_at(cal, test, o->threads, o->mix, NULL, false, false, xo, buf,
                                   &lvl, &h, &np) && lvl > 0)
                r[k++] = log(yo / lvl);
        }
        if (k == 0)
            continue;
        double u = median(r, k);
        for (int i = 0; i < k; i++)
            r[i] = fabs(r[i] - u);
        double spread = k > 1 ? 1.4826 * median(r, k) : 0;
        double h = 2.0 * spread;
        if (h < 0.08)
            h = 0.08;
        cal->moe[t].n = k;
        cal->moe[t].factor = exp(u);
        cal->moe[t].half = h * (1.0 + 1.0 / sqrt((double)k));
    }
    free(buf);
}

int lf_rec_calibrate(lf_rec_calibration *cal, const lf_rec_observation *obs, int n,
                     lf_rec_kind kind, lf_error *err) {
    memset(cal, 0, sizeof *cal);
    cal->kind = kind;
    cal->kv_mult = 1.0;
    if (n < 0 || (n > 0 && !obs))
        return lf_error_set(err, LF_EINVAL, "recommend: bad observation array");
    cal->obs = obs;
    cal->n_obs = n;
    for (int i = 0; i < n; i++)
        if (obs[i].test == LF_REC_PP && obs_usable(&obs[i]) && !(obs[i].compute_tops > 0))
            cal->pp_absolute = true;
    /* shared slopes: every thread count seen (up to 16), then all together */
    for (int i = 0; i < n && cal->n_slopes < 16; i++) {
        bool seen = false;
        for (int j = 0; j < cal->n_slopes; j++)
            seen |= cal->slopes[j].threads == obs[i].threads;
        if (!seen && obs[i].threads > 0)
            cal->slopes[cal->n_slopes++].threads = obs[i].threads;
    }
    cal->slopes[cal->n_slopes++].threads = 0;
    for (int j = 0; j < cal->n_slopes; j++) {
        struct lf_rec_slope *sp = &cal->slopes[j];
        sp->tg_ok = within_mix_slope(obs, n, LF_REC_TG, cal->pp_absolute, cal->kv_mult,
                                     sp->threads, &sp->tg);
        sp->pp_ok = within_mix_slope(obs, n, LF_REC_PP, cal->pp_absolute, cal->kv_mult,
                                     sp->threads, &sp->pp);
    }
    cal->kv_mult = learn_kv_mult(cal, obs, n, &cal->kv_pairs);
    double *xs = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1) * 2);
    if (!xs)
        return lf_error_set(err, LF_ENOMEM, "recommend: out of memory");
    double *ys = xs + (n > 0 ? n : 1);
    for (int t = 0; t < 2; t++) {
        lf_rec_test test = t ? LF_REC_TG : LF_REC_PP;
        for (int c = -1; c < LF_REC_N_CLASS; c++) {
            int k = 0;
            for (int i = 0; i < n; i++) {
                const lf_rec_observation *o = &obs[i];
                if (o->test != test || !obs_usable(o) || o->moe)
                    continue;
                if (c >= 0 && lf_rec_class_of(o->mix) != (lf_rec_class)c)
                    continue;
                obs_point(o, cal->pp_absolute, cal->kv_mult, &xs[k], &ys[k]);
                k++;
            }
            lf_rec_fit *f = c < 0 ? (test == LF_REC_TG ? &cal->tg_all : &cal->pp_all)
                                  : (test == LF_REC_TG ? &cal->tg[c] : &cal->pp[c]);
            fit_points(f, xs, ys, k);
        }
    }
    free(xs);
    learn_moe(cal);
    return 0;
}

/* ---- prediction -------------------------------------------------------- */

static bool same_config(const lf_rec_observation *o, lf_rec_test test, const lf_rec_workload *w,
                        int threads) {
    if (o->test != test || !w->model || !w->mix)
        return false;
    if (threads > 0 && o->threads > 0 && o->threads != threads)
        return false;
    if (strcasecmp(o->model, w->model) != 0 || strcasecmp(o->mix, w->mix) != 0)
        return false;
    /* Same depth: KV bytes within 10% (a few % of the weights for noise). */
    double a = (double)o->kv_bytes, b = (double)w->kv_bytes;
    double tol = 0.10 * (a > b ? a : b) + 0.01 * (double)w->weight_bytes;
    return fabs(a - b) <= tol;
}

/* The efficiency the observations give for mix at size x and `threads`
 * (0: any), from the most specific set that has points (see the header),
 * leaving out the observations of exclude_model (may be NULL); only the
 * same-mix sets when mix_only. buf holds 3 × n_obs doubles. Fills *eff, the
 * interval's log half-width and the number of points; false when no set
 * has any. */
static bool level_at(const lf_rec_calibration *cal, lf_rec_test test, int threads,
                     const char *mix, const char *exclude_model, bool mix_only, bool moe,
                     double x, double *buf, double *eff, double *half, int *npoints) {
    static const struct { int scope; bool any_threads; double widen; } sets[] = {
        {0, false, 0.0}, {1, false, 0.05}, {2, false, 0.15},
        {0, true, 0.10}, {1, true, 0.15},  {2, true, 0.25},
    };
    lf_rec_class cls = lf_rec_class_of(mix);
    double *xs = buf, *ys = buf + cal->n_obs;   /* ys: n values + n of scratch */
    for (size_t si = 0; si < sizeof sets / sizeof sets[0]; si++) {
        if (!sets[si].any_threads && threads <= 0)
            continue;   /* no thread count to prefer: only the any-thread sets */
        if (mix_only && sets[si].scope != 0)
            continue;
        int k = 0;
        for (int i = 0; i < cal->n_obs; i++) {
            const lf_rec_observation *o = &cal->obs[i];
            if (o->test != test || !obs_usable(o) || o->moe != moe)
                continue;
            if (!sets[si].any_threads && o->threads != threads)
                continue;
            if (sets[si].scope == 0 && (!mix || strcasecmp(o->mix, mix)))
                continue;
            if (sets[si].scope == 1 && lf_rec_class_of(o->mix) != cls)
                continue;
            if (exclude_model && !strcasecmp(o->model, exclude_model))
                continue;
            obs_point(o, cal->pp_absolute, cal->kv_mult, &xs[k], &ys[k]);
            k++;
        }
        if (k == 0)
            continue;
        lf_rec_fit f;
        fit_points(&f, xs, ys, k);
        /* The size slope shared by the mixes at this thread count (else at
         * all counts together) replaces the set's own line, whose slope
         * across different kernels would confound their levels with size. */
        int want = sets[si].any_threads ? 0 : threads;
        int use = -1;
        for (int pass = 0; pass < 2 && use < 0; pass++)
            for (int j = 0; j < cal->n_slopes && use < 0; j++) {
                const struct lf_rec_slope *sp = &cal->slopes[j];
                if ((test == LF_REC_TG ? sp->tg_ok : sp->pp_ok) &&
                    sp->threads == (pass ? 0 : want))
                    use = j;
            }
        if (use >= 0) {
            const struct lf_rec_slope *sp = &cal->slopes[use];
            double b = test == LF_REC_TG ? sp->tg : sp->pp;
            for (int i = 0; i < k; i++)
                ys[k + i] = ys[i] - b * xs[i];   /* intercepts */
            f.a = median(ys + k, k);
            f.b = b;
            f.has_slope = true;
            /* spread of the log residuals around the shared line */
            int m2 = 0;
            for (int i = 0; i < k; i++) {
                double e = fit_eval(&f, xs[i]);
                if (e > 0 && ys[i] > 0)
                    ys[k + m2++] = log(ys[i] / e);
            }
            double mid = median(ys + k, m2);
            for (int i = 0; i < m2; i++)
                ys[k + i] = fabs(ys[k + i] - mid);
            f.spread = m2 > 1 ? 1.4826 * median(ys + k, m2) : 0;
        }
        *eff = fit_eval(&f, x);
        double h = 2.0 * f.spread;
        if (h < 0.08)
            h = 0.08;
        /* without a thread count to prefer, other counts are no stand-in */
        double widen = sets[si].widen - (threads <= 0 && sets[si].any_threads ? 0.10 : 0);
        *half = h * (1.0 + 1.0 / sqrt((double)k)) + widen;
        *npoints = k;
        return true;
    }
    return false;
}

/* How this model's kernels fare against other models' in the same mixes:
 * the median log ratio of its observations (at `threads`, 0: any) to the
 * level other models give their mix at their size. A model with an odd
 * shape (a huge vocabulary, narrow rows) is slow or fast in every
 * quantization, which a measurement of one tells about the others.
 * buf holds 4 × n_obs doubles. False when the model has no such pair. */
static bool model_factor(const lf_rec_calibration *cal, lf_rec_test test, int threads,
                         const char *model, double *buf, double *u, double *half, int *nu) {
    if (!model || !*model)
        return false;
    double *r = buf + 3 * cal->n_obs;
    int n = 0;
    for (int i = 0; i < cal->n_obs; i++) {
        const lf_rec_observation *o = &cal->obs[i];
        if (o->test != test || !obs_usable(o) || strcasecmp(o->model, model) ||
            (threads > 0 && o->threads != threads))
            continue;
        double xo, yo, lvl, h;
        int k;
        obs_point(o, cal->pp_absolute, cal->kv_mult, &xo, &yo);
        if (yo > 0 &&
            level_at(cal, test, o->threads, o->mix, model, true, false, xo, buf, &lvl, &h, &k) &&
            lvl > 0)
            r[n++] = log(yo / lvl);
    }
    if (n == 0)
        return false;
    *u = median(r, n);
    for (int i = 0; i < n; i++)
        r[i] = fabs(r[i] - *u);
    double spread = n > 1 ? 1.4826 * median(r, n) : 0;
    double h = 2.0 * spread;
    if (h < 0.08)
        h = 0.08;
    *half = h * (1.0 + 1.0 / sqrt((double)n));
    *nu = n;
    return true;
}

int lf_rec_predict(const lf_rec_calibration *cal, const lf_rec_target *t, lf_rec_test test,
                   const lf_rec_workload *w, lf_rec_prediction *out, lf_error *err) {
    memset(out, 0, sizeof *out);
    /* measured: the same configuration was run on this device */
    int nm = 0;
    double lo = INFINITY, hi = 0;
    double *v = NULL;
    for (int i = 0; i < cal->n_obs; i++)
        if (obs_usable(&cal->obs[i]) && same_config(&cal->obs[i], test, w, t->threads))
            nm++;
    if (nm > 0) {
        v = malloc(sizeof(double) * (size_t)nm);
        if (!v)
            return lf_error_set(err, LF_ENOMEM, "recommend: out of memory");
        int k = 0;
        for (int i = 0; i < cal->n_obs; i++) {
            const lf_rec_observation *o = &cal->obs[i];
            if (obs_usable(o) && same_config(o, test, w, t->threads)) {
                v[k++] = o->tokens_per_s;
                lo = o->tokens_per_s < lo ? o->tokens_per_s : lo;
                hi = o->tokens_per_s > hi ? o->tokens_per_s : hi;
            }
        }
        out->value = median(v, nm);
        free(v);
        out->lo = lo * 0.95;
        out->hi = hi * 1.05;
        out->source = LF_REC_MEASURED;
        out->n_points = nm;
        if (test == LF_REC_TG && t->bandwidth_gbs > 0)
            out->efficiency = out->value *
                              ((double)w->weight_bytes + cal->kv_mult * (double)w->kv_bytes) /
                              (t->bandwidth_gbs * 1e9);
        return 0;
    }

    lf_rec_class cls = lf_rec_class_of(w->mix);
    double x, eff = 0, half = 0;
    if (test == LF_REC_TG) {
        double bytes = (double)w->weight_bytes + cal->kv_mult * (double)w->kv_bytes;
        if (!(t->bandwidth_gbs > 0) || !(bytes > 0))
            return lf_error_set(err, LF_EINVAL, "recommend: tg needs bandwidth and bytes");
        x = log(bytes);
    } else {
        if (!(w->params > 0))
            return lf_error_set(err, LF_EINVAL, "recommend: pp needs the parameter count");
        x = log(w->params);
    }
    /* The same model and mix decoded at another depth: its own efficiency,
     * with the KV bytes of this depth (the nearest such depth anchors). */
    if (test == LF_REC_TG && w->model && w->mix && cal->kv_pairs > 0) {
        /* (only once the KV cost was learned: with the default kv_mult of 1
         * the step between depths would be guessed) */
        const lf_rec_observation *a = NULL;
        double ba = 0;
        for (int i = 0; i < cal->n_obs; i++) {
            const lf_rec_observation *o = &cal->obs[i];
            if (o->test != LF_REC_TG || !obs_usable(o) || strcasecmp(o->model, w->model) ||
                strcasecmp(o->mix, w->mix) || (t->threads > 0 && o->threads != t->threads))
                continue;
            double bo = (double)o->weight_bytes + cal->kv_mult * (double)o->kv_bytes;
            if (!a || fabs(log(bo) - x) < fabs(log(ba) - x)) {
                a = o;
                ba = bo;
            }
        }
        if (a) {
            double ya, xa;
            obs_point(a, cal->pp_absolute, cal->kv_mult, &xa, &ya);
            /* the further from the anchor's bytes, the less it says */
            half = 0.08 + 0.5 * fabs(x - xa);
            if (t->threads <= 0 && a->threads > 0)
                half += 0.10;   /* its thread count may not be the target's */
            out->efficiency = ya;
            out->value = ya * t->bandwidth_gbs * 1e9 / exp(x);
            out->lo = out->value * exp(-half);
            out->hi = out->value * exp(half);
            out->source = LF_REC_CALIBRATED;
            out->n_points = 1;
            return 0;
        }
    }
    /* The most specific set of observations that has any (see the header),
     * at the mix level; then this model's own factor when it was measured
     * in other configurations. */
    double *buf = cal->n_obs > 0 ? malloc(sizeof(double) * (size_t)cal->n_obs * 4) : NULL;
    if (cal->n_obs > 0 && !buf)
        return lf_error_set(err, LF_ENOMEM, "recommend: out of memory");
    bool found = false;
    int k = 0;
    double lvl, lvl_half;
    const struct lf_rec_moe_fit *mf = &cal->moe[test];
    if (level_at(cal, test, t->threads, w->mix, NULL, false, false, x, buf, &lvl, &lvl_half,
                 &k)) {
        eff = lvl;
        half = lvl_half;
        out->source = LF_REC_CALIBRATED;
        out->n_points = k;
        found = true;
        double u, u_half;
        int nu;
        bool own = model_factor(cal, test, t->threads, w->model, buf, &u, &u_half, &nu) &&
                   level_at(cal, test, t->threads, w->mix, w->model, false, false, x, buf, &lvl,
                            &lvl_half, &k);
        if (own) {
            /* the model's own factor (for a MoE model it carries the cost
             * of its experts too) */
            eff = lvl * exp(u);
            half = u_half > lvl_half ? u_half : lvl_half;
            out->n_points = k + nu;
        } else if (w->moe && mf->n > 0) {
            eff = lvl * mf->factor;
            half = lvl_half + mf->half;
            out->n_points = k + mf->n;
        } else if (w->moe) {
            /* the dense level is measured, the MoE cost is not */
            eff = lvl * lf_rec_default_moe_factor(test);
            half = lvl_half + log(1.5);
            out->source = LF_REC_ESTIMATED;
        }
    } else if (w->moe && level_at(cal, test, t->threads, w->mix, NULL, false, true, x, buf, &lvl,
                                  &lvl_half, &k)) {
        /* only MoE models were measured: their own level */
        eff = lvl;
        half = lvl_half;
        out->source = LF_REC_CALIBRATED;
        out->n_points = k;
        found = true;
    }
    free(buf);
    if (!found) {
        eff = lf_rec_default_efficiency(cal->kind, test);
        half = log(1.5);
        if (w->moe)
            eff *= lf_rec_default_moe_factor(test);
        out->source = LF_REC_ESTIMATED;
    }
    if (eff < 0.001)
        eff = 0.001;
    out->efficiency = eff;
    if (test == LF_REC_TG) {
        out->value = eff * t->bandwidth_gbs * 1e9 / exp(x);
    } else {
        double peak;
        if (out->source == LF_REC_CALIBRATED && cal->pp_absolute) {
            peak = 1.0;   /* eff is achieved TOPS already */
        } else {
            bool fl = cls == LF_REC_CLASS_FLOAT;
            peak = fl ? t->fp32_tflops : (t->int8_tops > 0 ? t->int8_tops : t->fp32_tflops);
            if (!(peak > 0))
                return lf_error_set(err, LF_EINVAL,
                                    "recommend: no compute peak for %s (give --compute-tops)",
                                    t->name[0] ? t->name : "the target");
        }
        out->value = eff * peak * 1e12 / (2.0 * w->params);
    }
    out->lo = out->value * exp(-half);
    out->hi = out->value * exp(half);
    return 0;
}

/* ---- leave-one-out ------------------------------------------------------ */

static bool same_obs_config(const lf_rec_observation *a, const lf_rec_observation *b) {
    lf_rec_workload w = {.model = b->model, .mix = b->mix, .weight_bytes = b->weight_bytes,
                         .kv_bytes = b->kv_bytes, .params = b->params};
    return same_config(a, b->test, &w, b->threads);
}

int lf_rec_validate(const lf_rec_observation *obs, int n, lf_rec_kind kind,
                    lf_rec_validation *out, lf_error *err) {
    memset(out, 0, sizeof *out);
    out->median_abs_pct = out->median_abs_pct_tg = out->median_abs_pct_pp = NAN;
    if (n < 0 || (n > 0 && !obs))
        return lf_error_set(err, LF_EINVAL, "recommend: bad observation array");
    if (n == 0)
        return 0;
    lf_rec_observation *rest = malloc(sizeof *rest * (size_t)n);
    out->rows = calloc((size_t)n, sizeof *out->rows);
    double *e_all = malloc(sizeof(double) * (size_t)n * 3);
    if (!rest || !out->rows || !e_all) {
        free(rest);
        free(e_all);
        lf_rec_validation_free(out);
        return lf_error_set(err, LF_ENOMEM, "recommend: out of memory");
    }
    double *e_tg = e_all + n, *e_pp = e_all + 2 * n;
    int na = 0;
    for (int i = 0; i < n; i++) {
        const lf_rec_observation *o = &obs[i];
        if (!obs_usable(o))
            continue;
        int k = 0;
        for (int j = 0; j < n; j++)
            if (!same_obs_config(&obs[j], o))
                rest[k++] = obs[j];
        lf_rec_calibration cal;
        lf_rec_calibrate(&cal, rest, k, kind, NULL);
        lf_rec_target t = {.kind = kind, .bandwidth_gbs = o->bandwidth_gbs,
                           .int8_tops = o->compute_tops, .fp32_tflops = o->compute_tops,
                           .threads = o->threads};
        lf_rec_workload w = {.model = o->model, .mix = o->mix, .weight_bytes = o->weight_bytes,
                             .kv_bytes = o->kv_bytes, .params = o->params, .moe = o->moe};
        lf_rec_prediction p;
        if (lf_rec_predict(&cal, &t, o->test, &w, &p, NULL) < 0)
            continue;   /* e.g. pp without any peak: nothing to compare */
        lf_rec_validation_row *r = &out->rows[out->n++];
        r->index = i;
        r->test = o->test;
        r->actual = o->tokens_per_s;
        r->predicted = p.value;
        r->abs_pct_err = fabs(p.value - o->tokens_per_s) / o->tokens_per_s * 100.0;
        r->source = p.source;
        e_all[na++] = r->abs_pct_err;
        if (o->test == LF_REC_TG)
            e_tg[out->n_tg++] = r->abs_pct_err;
        else
            e_pp[out->n_pp++] = r->abs_pct_err;
    }
    out->median_abs_pct = median(e_all, na);
    out->median_abs_pct_tg = median(e_tg, out->n_tg);
    out->median_abs_pct_pp = median(e_pp, out->n_pp);
    free(rest);
    free(e_all);
    return 0;
}

void lf_rec_validation_free(lf_rec_validation *v) {
    if (!v)
        return;
    free(v->rows);
    v->rows = NULL;
    v->n = 0;
}
