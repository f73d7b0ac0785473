/*
 * The regression gate: pairs up the tests of a baseline and a candidate
 * run, decides for each whether the candidate is significantly and
 * materially slower or faster (see section 3 of bench.h for the rule and
 * why it needs both), and writes the verdicts as markdown for a pull
 * request comment, JSON for tools, and JUnit XML for CI test reporters.
 *
 * Everything printed that came from a file (model names, labels, branch
 * names) is escaped for the format it goes into.
 */
#include "bench/bench.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const verdict_names[LF_VERDICT_COUNT] = {
    [LF_VERDICT_SAME] = "same",
    [LF_VERDICT_REGRESSION] = "regression",
    [LF_VERDICT_IMPROVEMENT] = "improvement",
    [LF_VERDICT_UNTESTED] = "untested",
    [LF_VERDICT_ONLY_BASELINE] = "only-baseline",
    [LF_VERDICT_ONLY_CANDIDATE] = "only-candidate",
    [LF_VERDICT_INCONCLUSIVE] = "inconclusive",
};

const char *lf_verdict_name(lf_verdict v) {
    return (int)v >= 0 && v < LF_VERDICT_COUNT ? verdict_names[v] : "?";
}

/* ---- matching and naming ---------------------------------------------------- */

bool lf_compare_same_test(const lf_result *a, const lf_result *b) {
    return a->kind == b->kind && strcmp(a->model, b->model) == 0 &&
           strcmp(a->quant, b->quant) == 0 && strcmp(a->adapter, b->adapter) == 0 &&
           a->n_adapters == b->n_adapters && a->adapter_rank == b->adapter_rank &&
           a->adapter_mode == b->adapter_mode && a->threads == b->threads &&
           a->n_prompt == b->n_prompt && a->n_gen == b->n_gen && a->n_depth == b->n_depth &&
           strcmp(a->kv_type, b->kv_type) == 0 && strcmp(a->backend, b->backend) == 0 &&
           strcmp(a->config, b->config) == 0 && strcmp(a->engine, b->engine) == 0;
}

void lf_compare_test_name(const lf_result *r, char *buf, size_t size) {
    char what[48];
    switch (r->kind) {
    case LF_TEST_PP: snprintf(what, sizeof what, "pp%d", r->n_prompt); break;
    case LF_TEST_TG: snprintf(what, sizeof what, "tg%d", r->n_gen); break;
    case LF_TEST_PG: snprintf(what, sizeof what, "pp%d+tg%d", r->n_prompt, r->n_gen); break;
    case LF_TEST_TTFT: snprintf(what, sizeof what, "ttft p%d", r->n_prompt); break;
    default: snprintf(what, sizeof what, "%s", lf_test_kind_name(r->kind)); break;
    }
    char adapter[128] = "", depth[24] = "", kv[48] = "", extra[340] = "";
    if (r->n_adapters > 0 || r->adapter[0])
        snprintf(adapter, sizeof adapter, " +%dxLoRA r%d %s", r->n_adapters, r->adapter_rank,
                 lf_adapter_mode_name(r->adapter_mode));
    if (r->n_depth > 0)
        snprintf(depth, sizeof depth, " d%d", r->n_depth);
    if (r->kv_type[0] && strcmp(r->kv_type, "f16") != 0)
        snprintf(kv, sizeof kv, " kv=%s", r->kv_type);
    if (r->backend[0] && strcmp(r->backend, "cpu") != 0 && strcmp(r->backend, "CPU") != 0)
        snprintf(extra, sizeof extra, " %s", r->backend);
    if (r->config[0]) {
        size_t used = strlen(extra);
        snprintf(extra + used, sizeof extra - used, " %s", r->config);
    }
    /* the engine is part of the test's identity: named unless localfit */
    if (r->engine[0] && strcmp(r->engine, "localfit") != 0) {
        size_t used = strlen(extra);
        snprintf(extra + used, sizeof extra - used, " [%s]", r->engine);
    }
    snprintf(buf, size, "%s %s%s%s%s t%d%s%s%s", what, r->model, r->quant[0] ? " " : "",
             r->quant, adapter, r->threads, depth, kv, extra);
}

/* ---- the decision ------------------------------------------------------------ */

/* Pooled log noise of two sample sets (NAN when neither has 2 values). */
static double pooled_noise(const double *a, int na, const double *b, int nb) {
    double sa = lf_stats_log_sd(a, na), sb = lf_stats_log_sd(b, nb);
    double ss = 0;
    int df = 0;
    if (!isnan(sa)) {
        ss += sa * sa * (na - 1);
        df += na - 1;
    }
    if (!isnan(sb)) {
        ss += sb * sb * (nb - 1);
        df += nb - 1;
    }
    return df > 0 ? sqrt(ss / df) : NAN;
}

/* Whether every value of lo is below every value of hi. */
static bool all_below(const double *lo, int nlo, const double *hi, int nhi) {
    double max_lo = -INFINITY, min_hi = INFINITY;
    for (int i = 0; i < nlo; i++)
        max_lo = fmax(max_lo, lo[i]);
    for (int i = 0; i < nhi; i++)
        min_hi = fmin(min_hi, hi[i]);
    return max_lo < min_hi;
}

static void verdict_from(lf_compare_row *row, const lf_compare_opts *o, bool significant) {
    if (significant && row->ratio < 1 - o->threshold)
        row->verdict = LF_VERDICT_REGRESSION;
    else if (significant && row->ratio > 1 + o->threshold)
        row->verdict = LF_VERDICT_IMPROVEMENT;
    else
        row->verdict = LF_VERDICT_SAME;
}

void lf_compare_samples(const double *base, int nb, const double *cand, int nc, lf_unit unit,
                        const lf_compare_opts *o, lf_rng *rng, lf_compare_row *row) {
    row->n_base = nb;
    row->n_cand = nc;
    row->base_median = lf_stats_median(base, nb);
    row->cand_median = lf_stats_median(cand, nc);
    row->ratio = row->ratio_lo = row->ratio_hi = row->p = NAN;
    row->noise = row->min_detect = NAN;
    row->exact = false;
    row->method[0] = row->reason[0] = '\0';
    bool tps = unit == LF_UNIT_TPS;
    /* Speed ratio: candidate over baseline in "faster is bigger" terms. */
    const double *num = tps ? cand : base, *den = tps ? base : cand;
    int n_num = tps ? nc : nb, n_den = tps ? nb : nc;
    if (nb < 2 || nc < 2) {
        double mn = tps ? row->cand_median : row->base_median;
        double md = tps ? row->base_median : row->cand_median;
        if (md > 0 && mn > 0)
            row->ratio = mn / md;
        snprintf(row->reason, sizeof row->reason, "n=%d+%d: fewer than 2 samples on a side", nb, nc);
        row->verdict = LF_VERDICT_UNTESTED;
        return;
    }
    lf_stats_ratio_ci(num, n_num, den, n_den, o->conf, o->n_boot, rng, &row->ratio,
                      &row->ratio_lo, &row->ratio_hi);
    double power = o->power > 0 && o->power < 1 ? o->power : 0.95;
    row->noise = pooled_noise(base, nb, cand, nc);
    row->min_detect = lf_stats_min_detectable(row->noise, nb, nc, o->alpha, power);
    if (isnan(row->ratio)) {
        snprintf(row->reason, sizeof row->reason, "no positive median to take a ratio of");
        row->verdict = LF_VERDICT_UNTESTED;
        return;
    }
    double floor_p = lf_stats_mwu_min_p(nb, nc);
    if (floor_p > o->alpha) {
        /* The rank test cannot reach alpha at this size: a clean, separated
         * change is judged on log values; anything else is inconclusive. */
        double p;
        bool separated = all_below(num, n_num, den, n_den) || all_below(den, n_den, num, n_num);
        snprintf(row->method, sizeof row->method, "welch-log");
        if (separated && lf_stats_welch_log(num, n_num, den, n_den, &p) == 0) {
            row->p = p;
            verdict_from(row, o, p < o->alpha);
            if (row->verdict != LF_VERDICT_SAME)
                return;
        }
        snprintf(row->reason, sizeof row->reason, "n=%d+%d: smallest possible rank p is %.2g > alpha %g",
                 nb, nc, floor_p, o->alpha);
        row->verdict = LF_VERDICT_INCONCLUSIVE;
        return;
    }
    lf_mwu m;
    if (lf_stats_mann_whitney(cand, nc, base, nb, &m) == 0) {
        row->p = m.p;
        row->exact = m.exact;
    }
    snprintf(row->method, sizeof row->method, "%s", row->exact ? "mwu-exact" : "mwu-normal");
    if (isnan(row->p)) {
        row->verdict = LF_VERDICT_UNTESTED;
        return;
    }
    verdict_from(row, o, row->p < o->alpha);
}

/* Median of x[0..n) in place (sorts x). */
static double median_inplace(double *x, int n) {
    for (int i = 1; i < n; i++) {
        double v = x[i];
        int j = i - 1;
        while (j >= 0 && x[j] > v) {
            x[j + 1] = x[j];
            j--;
        }
        x[j + 1] = v;
    }
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

#define LF_AB_MAX_PAIRS 256

/* Robust relative noise of one invocation's samples: 1.4826 x the median
 * absolute deviation of the logs (the sd for normal data), so one cold or
 * preempted repetition does not pass for noise of the whole invocation.
 * Falls back to the plain log sd below 3 samples; NAN below 2. */
static double robust_log_sd(const double *x, int n) {
    if (n < 3)
        return lf_stats_log_sd(x, n);
    double l[64], dev[64];
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++) {
        if (!(x[i] > 0))
            return NAN;
        l[i] = log(x[i]);
    }
    double m = median_inplace(l, n);
    for (int i = 0; i < n; i++)
        dev[i] = fabs(l[i] - m);
    return 1.4826 * median_inplace(dev, n);
}

void lf_compare_paired(const lf_ab_pair *pairs, int n, lf_unit unit, const lf_compare_opts *o,
                       lf_compare_row *row) {
    row->ratio = row->ratio_lo = row->ratio_hi = row->p = NAN;
    row->noise = row->min_detect = NAN;
    row->base_median = row->cand_median = NAN;
    row->exact = false;
    row->reason[0] = '\0';
    snprintf(row->method, sizeof row->method, "paired-abba");
    row->n_base = row->n_cand = 0;
    double d[LF_AB_MAX_PAIRS], dev[2 * LF_AB_MAX_PAIRS], ma[LF_AB_MAX_PAIRS], mb[LF_AB_MAX_PAIRS];
    double ls[2 * LF_AB_MAX_PAIRS];   /* log speed of each invocation, in run order */
    int side[2 * LF_AB_MAX_PAIRS];    /* 1 = B ran there */
    double ss = 0;   /* within-invocation sum of squares of log samples */
    double inv = 0;  /* sum over pairs of (1/Ka + 1/Kb): the median's variance factor */
    int df = 0, m = 0;
    bool tps = unit == LF_UNIT_TPS;
    for (int j = 0; j < n && m < LF_AB_MAX_PAIRS; j++) {
        const lf_ab_pair *pr = &pairs[j];
        row->n_base += pr->na;
        row->n_cand += pr->nb;
        double a = lf_stats_median(pr->a, pr->na), b = lf_stats_median(pr->b, pr->nb);
        if (!(a > 0) || !(b > 0))
            continue;
        double sa = robust_log_sd(pr->a, pr->na), sb = robust_log_sd(pr->b, pr->nb);
        if (!isnan(sa)) {
            ss += sa * sa * (pr->na - 1);
            df += pr->na - 1;
        }
        if (!isnan(sb)) {
            ss += sb * sb * (pr->nb - 1);
            df += pr->nb - 1;
        }
        inv += 1.0 / pr->na + 1.0 / pr->nb;
        double la = tps ? log(a) : -log(a), lb = tps ? log(b) : -log(b);
        ls[2 * m] = pr->b_first ? lb : la;
        ls[2 * m + 1] = pr->b_first ? la : lb;
        side[2 * m] = pr->b_first;
        side[2 * m + 1] = !pr->b_first;
        ma[m] = a;
        mb[m] = b;
        d[m++] = lb - la;
    }
    if (m > 0) {
        row->base_median = median_inplace(ma, m);
        row->cand_median = median_inplace(mb, m);
    }
    if (m < 2) {
        if (m == 1)
            row->ratio = exp(d[0]);
        snprintf(row->reason, sizeof row->reason, "%d A/B pair%s: at least 2 are needed", m,
                 m == 1 ? "" : "s");
        row->verdict = LF_VERDICT_UNTESTED;
        return;
    }
    double est = median_inplace(d, m);
    /* Between-invocation noise from every step of the run order: a step
     * from A to B changes log speed by est plus noise, B to A by -est, A to
     * A or B to B by noise alone; drift adds the same small amount to each
     * (removed by centring on the median). 2m - 1 steps, so a robust scale
     * (1.4826 x MAD) ignores the one step where the machine changed. */
    int ns = 2 * m - 1;
    for (int k = 0; k < ns; k++)
        dev[k] = ls[k + 1] - ls[k] - (side[k + 1] - side[k]) * est;
    double centre = median_inplace(dev, ns);   /* sorts dev */
    for (int k = 0; k < ns; k++)
        dev[k] = fabs(dev[k] - centre);
    (void)median_inplace(dev, ns);             /* sorts |deviations| */
    /* Root mean square of the smallest 80% of the steps: the largest (where
     * the machine changed, or one stalled invocation) are left out, but
     * unlike a median-based scale it still sees a noisy half of the run (a
     * neighbour's job taking the cores for the second half). Rescaled so
     * that it estimates the sd of normal steps: for |Z| below c, with
     * P(|Z| < c) = f, E[Z^2] = 1 - 2 c phi(c) / f. */
    int kept = ns - (ns + 4) / 5;
    if (kept < 1)
        kept = 1;
    double sq = 0;
    for (int k = 0; k < kept; k++)
        sq += dev[k] * dev[k];
    double f = (double)kept / ns, c = lf_stats_normal_quantile(0.5 + f / 2);
    double shrink = f < 1 ? 1 - 2 * c * exp(-c * c / 2) / sqrt(2 * M_PI) / f : 1;
    double between = sqrt(sq / kept / shrink);
    /* Noise of one pair's d from the within-invocation spread: the median
     * of K normal values has variance about (pi/2) sigma^2 / K. It is a
     * floor: invocations differ by more than repetitions do (a new
     * process, its memory layout, the frequency it lands on). */
    double within = df > 0 ? sqrt(ss / df * M_PI / 2 * inv / m) : NAN;
    bool by_within = !isnan(within) && within > between;
    double sd = by_within ? within : between;
    double dof = by_within ? df : ns - 1;
    double se = 1.2533 * sd / sqrt(m);   /* a median of m values */
    row->noise = sd;
    row->ratio = exp(est);
    double power = o->power > 0 && o->power < 1 ? o->power : 0.95;
    double tq = lf_stats_t_quantile(1 - o->alpha / 2, dof);
    row->ratio_lo = exp(est - lf_stats_t_quantile(1 - (1 - o->conf) / 2, dof) * se);
    row->ratio_hi = exp(est + lf_stats_t_quantile(1 - (1 - o->conf) / 2, dof) * se);
    row->min_detect = -expm1(-(tq + lf_stats_normal_quantile(power)) * se);
    if (!(se > 0)) {
        row->p = est == 0 ? 1 : 0;
    } else {
        row->p = fmin(1.0, 2 * lf_stats_t_cdf(-fabs(est) / se, dof));
    }
    verdict_from(row, o, row->p < o->alpha);
}

void lf_compare_count(lf_compare_report *rep, const lf_compare_row *row) {
    switch (row->verdict) {
    case LF_VERDICT_REGRESSION: rep->n_regressions++; break;
    case LF_VERDICT_IMPROVEMENT: rep->n_improvements++; break;
    case LF_VERDICT_SAME: rep->n_same++; break;
    case LF_VERDICT_INCONCLUSIVE: rep->n_inconclusive++; break;
    case LF_VERDICT_ONLY_BASELINE:
    case LF_VERDICT_ONLY_CANDIDATE: rep->n_unmatched++; break;
    default: rep->n_untested++; break;
    }
}

bool lf_compare_judged_any(const lf_compare_report *rep) {
    return rep->n_regressions + rep->n_improvements + rep->n_same > 0;
}

void lf_compare_report_free(lf_compare_report *rep) {
    if (!rep)
        return;
    free(rep->rows);
    memset(rep, 0, sizeof *rep);
}

int lf_compare_runs(const lf_run_full *base, const lf_run_full *cand,
                    const lf_compare_opts *o, lf_compare_report *out, lf_error *err) {
    memset(out, 0, sizeof *out);
    static const lf_compare_opts dflt = LF_COMPARE_OPTS_INIT;
    if (!o)
        o = &dflt;
    if (!(o->threshold >= 0 && o->threshold < 1) || !(o->alpha > 0 && o->alpha < 1) ||
        !(o->conf > 0 && o->conf < 1))
        return lf_error_set(err, LF_EINVAL, "compare: threshold must be in [0, 1), alpha and "
                                            "confidence in (0, 1)");
    out->baseline = base->run;
    out->candidate = cand->run;
    out->opts = *o;
    int cap = base->n_results + cand->n_results;
    out->rows = calloc((size_t)(cap > 0 ? cap : 1), sizeof *out->rows);
    bool *used = calloc((size_t)(base->n_results > 0 ? base->n_results : 1), sizeof *used);
    /* Roof ratio, baseline roof and candidate roof of each matched test. */
    double *roof_r = malloc((size_t)(cap > 0 ? cap : 1) * 3 * sizeof *roof_r);
    double *roof_b = roof_r ? roof_r + cap : NULL, *roof_c = roof_r ? roof_r + 2 * cap : NULL;
    int n_roofs = 0;
    if (!out->rows || !used || !roof_r) {
        free(roof_r);
        free(used);
        lf_compare_report_free(out);
        return lf_error_set(err, LF_ENOMEM, "compare: out of memory");
    }
    lf_rng rng;
    lf_rng_seed(&rng, o->seed);

    for (int i = 0; i < cand->n_results; i++) {
        const lf_result *c = &cand->results[i];
        lf_compare_row *row = &out->rows[out->n_rows++];
        row->test = *c;
        lf_compare_test_name(c, row->name, sizeof row->name);
        int j;
        for (j = 0; j < base->n_results; j++)
            if (!used[j] && lf_compare_same_test(&base->results[j], c))
                break;
        if (j == base->n_results) {
            row->n_cand = cand->n_samples_stored[i];
            row->cand_median = c->median;
            row->base_median = row->ratio = row->ratio_lo = row->ratio_hi = row->p = NAN;
            row->noise = row->min_detect = NAN;
            row->verdict = LF_VERDICT_ONLY_CANDIDATE;
            out->n_unmatched++;
            continue;
        }
        used[j] = true;
        /* Each test gets its own stream derived from the seed and its
         * position, so adding a test does not change another's CI. */
        lf_rng_seed(&rng, o->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)));
        const lf_result *b = &base->results[j];
        double br = b->roof_gbs, cr = c->roof_gbs;
        bool roofs = br > 0 && cr > 0 && isfinite(br) && isfinite(cr);
        if (roofs && n_roofs < cap) {
            roof_r[n_roofs] = cr / br;
            roof_b[n_roofs] = br;
            roof_c[n_roofs++] = cr;
        }
        const double *bs = base->samples[j], *cs = cand->samples[i];
        int nbs = base->n_samples_stored[j], ncs = cand->n_samples_stored[i];
        double *bn = NULL, *cn = NULL;
        if (o->normalize == LF_NORM_ROOF && roofs && nbs > 0 && ncs > 0) {
            /* Speed per GB/s of the run's own roof (time x roof for ms):
             * both scale the same way as the machine does. */
            bn = malloc((size_t)nbs * sizeof *bn);
            cn = malloc((size_t)ncs * sizeof *cn);
            if (bn && cn) {
                bool tps = c->unit == LF_UNIT_TPS;
                for (int k = 0; k < nbs; k++)
                    bn[k] = tps ? bs[k] / br : bs[k] * br;
                for (int k = 0; k < ncs; k++)
                    cn[k] = tps ? cs[k] / cr : cs[k] * cr;
                bs = bn;
                cs = cn;
                row->normalized = true;
            }
        }
        lf_compare_samples(bs, nbs, cs, ncs, c->unit, o, &rng, row);
        if (row->normalized) {
            /* Report medians in the test's unit; the ratio is per roof. */
            row->base_median = lf_stats_median(base->samples[j], nbs);
            row->cand_median = lf_stats_median(cand->samples[i], ncs);
        }
        free(bn);
        free(cn);
        /* Without raw samples (old imports) fall back to stored medians. */
        if (nbs == 0)
            row->base_median = b->median;
        if (ncs == 0)
            row->cand_median = c->median;
        if (row->verdict == LF_VERDICT_UNTESTED && isnan(row->ratio) &&
            row->base_median > 0 && row->cand_median > 0)
            row->ratio = c->unit == LF_UNIT_TPS ? row->cand_median / row->base_median
                                                : row->base_median / row->cand_median;
        lf_compare_count(out, row);
    }
    for (int j = 0; j < base->n_results; j++) {
        if (used[j])
            continue;
        lf_compare_row *row = &out->rows[out->n_rows++];
        row->test = base->results[j];
        lf_compare_test_name(&row->test, row->name, sizeof row->name);
        row->n_base = base->n_samples_stored[j];
        row->base_median = base->results[j].median;
        row->cand_median = row->ratio = row->ratio_lo = row->ratio_hi = row->p = NAN;
        row->noise = row->min_detect = NAN;
        row->verdict = LF_VERDICT_ONLY_BASELINE;
        out->n_unmatched++;
    }
    out->roof_ratio = out->base_roof_gbs = out->cand_roof_gbs = NAN;
    if (n_roofs > 0) {
        out->roof_ratio = lf_stats_median(roof_r, n_roofs);
        out->base_roof_gbs = lf_stats_median(roof_b, n_roofs);
        out->cand_roof_gbs = lf_stats_median(roof_c, n_roofs);
    }
    free(roof_r);
    free(used);
    return 0;
}

/* ---- reports -------------------------------------------------------------------- */

static int finish_write(FILE *out) {
    return fflush(out) == EOF || ferror(out) ? LF_EIO : 0;
}

/* Names and labels come from other machines' bundles and from model files:
 * cleaned first (valid UTF-8, no control characters or bidi overrides, line
 * breaks as spaces; common/text.c). NULL when out of memory. */
static char *clean_copy(const char *s) {
    size_t n = lf_text_clean_size(s, strlen(s), false);
    char *c = malloc(n);
    return c ? lf_text_clean(c, n, s, false) : NULL;
}

/* Markdown table cell: cleaned, then backslash-escape what GitHub would
 * interpret. */
static void md_text(FILE *f, const char *s) {
    char *c = clean_copy(s);
    for (const char *p = c; p && *p; p++) {
        if (strchr("\\`*_[]<>|#!~", *p))
            fputc('\\', f);
        fputc(*p, f);
    }
    free(c);
}

static void run_ident(const lf_run *r, char *buf, size_t size) {
    char t[40], label[160] = "";
    if (r->label[0])
        snprintf(label, sizeof label, " label:%s", r->label);
    snprintf(buf, size, "%.8s %s%s%.10s%s%s %s", r->uuid, r->git_branch,
             r->git_commit[0] ? "@" : "", r->git_commit, r->git_dirty == 1 ? "+dirty" : "",
             label, lf_format_time_ms(r->started_ms, t, sizeof t));
}

static void fmt_value(double v, lf_unit u, char *buf, size_t size) {
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.2f %s", v, u == LF_UNIT_TPS ? "tok/s" : "ms");
}

/* "the machine was 18% slower in the candidate run (...)" when the two runs'
 * roofs differ by more than the threshold; "" otherwise. */
static void machine_note(const lf_compare_report *rep, char *buf, size_t size) {
    buf[0] = '\0';
    double r = rep->roof_ratio;
    if (!isfinite(r) || fabs(r - 1) <= rep->opts.threshold)
        return;
    snprintf(buf, size, "the machine was %.0f%% %s in the candidate run (read bandwidth %.1f GB/s "
                        "vs %.1f GB/s in the baseline)%s",
             fabs(r - 1) * 100, r < 1 ? "slower" : "faster", rep->cand_roof_gbs, rep->base_roof_gbs,
             rep->opts.normalize == LF_NORM_ROOF ? "; speeds judged per GB/s of each run's roof"
                                                 : "; --normalize roof judges speed per roof");
}

/* Median and largest detectable slowdown over the judged rows; the row
 * with the largest. Returns how many rows had a figure. */
static int power_summary(const lf_compare_report *rep, double *median, double *worst,
                         const lf_compare_row **worst_row) {
    double *v = malloc((size_t)(rep->n_rows > 0 ? rep->n_rows : 1) * sizeof *v);
    int k = 0;
    *median = *worst = NAN;
    *worst_row = NULL;
    for (int i = 0; v && i < rep->n_rows; i++) {
        const lf_compare_row *r = &rep->rows[i];
        if (!isfinite(r->min_detect))
            continue;
        v[k++] = r->min_detect;
        if (!*worst_row || r->min_detect > (*worst_row)->min_detect)
            *worst_row = r;
    }
    if (k > 0) {
        *median = lf_stats_median(v, k);
        *worst = (*worst_row)->min_detect;
    }
    free(v);
    return k;
}

int lf_compare_write_md(const lf_compare_report *rep, FILE *out) {
    char b[512], c[512];
    int n = rep->n_rows;
    fprintf(out, "### localfit compare%s: %s\n\n", rep->paired ? " (A/B)" : "",
            rep->n_regressions ? "regression detected"
            : lf_compare_judged_any(rep) ? "no regression"
                                         : "nothing could be judged");
    fprintf(out, "%d tests: **%d regression%s**, %d improvement%s, %d unchanged, %d inconclusive, "
                 "%d untested, %d unmatched.\n\n",
            n, rep->n_regressions, rep->n_regressions == 1 ? "" : "s", rep->n_improvements,
            rep->n_improvements == 1 ? "" : "s", rep->n_same, rep->n_inconclusive, rep->n_untested,
            rep->n_unmatched);
    run_ident(&rep->baseline, b, sizeof b);
    run_ident(&rep->candidate, c, sizeof c);
    fputs(rep->paired ? "- A (baseline build): " : "- baseline: ", out);
    md_text(out, b);
    fputs(rep->paired ? "\n- B (candidate build): " : "\n- candidate: ", out);
    md_text(out, c);
    if (rep->paired)
        fprintf(out, "\n- rule: %d ABBA pairs; regression when the paired test's p < %.2g (alpha %g "
                     "over the suite) and the median pair ratio < %.3f (threshold %g%%); ratio = B/A "
                     "speed, < 1 is slower\n",
                rep->n_pairs, rep->alpha_per_test > 0 ? rep->alpha_per_test : rep->opts.alpha,
                rep->opts.alpha, 1 - rep->opts.threshold, rep->opts.threshold * 100);
    else
        fprintf(out, "\n- rule: regression when Mann-Whitney p < %g and speed ratio < %.3f "
                     "(threshold %g%%); ratio = candidate/baseline speed, < 1 is slower; where the "
                     "sample sizes cannot reach p < %g, only a separated change (Welch on logs) "
                     "counts, else the test is inconclusive\n",
                rep->opts.alpha, 1 - rep->opts.threshold, rep->opts.threshold * 100, rep->opts.alpha);
    double pm, pw;
    const lf_compare_row *wr;
    if (power_summary(rep, &pm, &pw, &wr) > 0) {
        fprintf(out, "- power: slowdowns of %.1f%% or more would have been detected (%.0f%% of the "
                     "time; median over tests); least sensitive %.1f%%: ",
                pm * 100, (rep->opts.power > 0 ? rep->opts.power : 0.95) * 100, pw * 100);
        md_text(out, wr->name);
        fputc('\n', out);
    }
    char note[320];
    machine_note(rep, note, sizeof note);
    if (note[0])
        fprintf(out, "- machine speed: %s\n", note);
    fputc('\n', out);
    if (n == 0) {
        fputs("No tests to compare.\n", out);
        return finish_write(out);
    }
    fputs("| verdict | test | baseline | candidate | ratio | 95% CI | p | detectable |\n"
          "|---|---|---:|---:|---:|---|---:|---|\n", out);
    /* Regressions first, then improvements, then the rest, so the PR
     * comment leads with what matters. */
    static const lf_verdict order[] = {LF_VERDICT_REGRESSION, LF_VERDICT_IMPROVEMENT,
                                       LF_VERDICT_INCONCLUSIVE, LF_VERDICT_SAME, LF_VERDICT_UNTESTED,
                                       LF_VERDICT_ONLY_CANDIDATE, LF_VERDICT_ONLY_BASELINE};
    for (size_t o = 0; o < sizeof order / sizeof order[0]; o++) {
        for (int i = 0; i < n; i++) {
            const lf_compare_row *r = &rep->rows[i];
            if (r->verdict != order[o])
                continue;
            char bv[48], cv[48], ratio[24] = "-", ci[48] = "-", p[24] = "-";
            fmt_value(r->base_median, r->test.unit, bv, sizeof bv);
            fmt_value(r->cand_median, r->test.unit, cv, sizeof cv);
            if (!isnan(r->ratio))
                snprintf(ratio, sizeof ratio, "%.3f", r->ratio);
            if (!isnan(r->ratio_lo))
                snprintf(ci, sizeof ci, "%.3f - %.3f", r->ratio_lo, r->ratio_hi);
            if (!isnan(r->p))
                snprintf(p, sizeof p, "%.2g", r->p);
            fprintf(out, "| %s | ", r->verdict == LF_VERDICT_REGRESSION ? "**REGRESSION**"
                                                                        : lf_verdict_name(r->verdict));
            md_text(out, r->name);
            char det[128] = "-";
            if (r->reason[0])
                snprintf(det, sizeof det, "%s", r->reason);
            else if (isfinite(r->min_detect))
                snprintf(det, sizeof det, "%.1f%%", r->min_detect * 100);
            fprintf(out, " | %s (n=%d) | %s (n=%d) | %s | %s | %s | %s |\n", bv, r->n_base, cv,
                    r->n_cand, ratio, ci, p, det);
        }
    }
    return finish_write(out);
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *run_json(const lf_run *r) {
    char t[40];
    json_t *o = json_object();
    json_object_set_new(o, "uuid", json_string(r->uuid));
    json_object_set_new(o, "git_commit", json_string(r->git_commit));
    json_object_set_new(o, "git_branch", json_string(r->git_branch));
    json_object_set_new(o, "label", json_string(r->label));
    json_object_set_new(o, "device_id", json_string(r->device_id));
    json_object_set_new(o, "status", json_string(lf_run_status_name(r->status)));
    json_object_set_new(o, "started_at", json_string(lf_format_time_ms(r->started_ms, t, sizeof t)));
    return o;
}

int lf_compare_write_json(const lf_compare_report *rep, FILE *out) {
    json_t *root = json_object();
    json_object_set_new(root, "schema", json_string("localfit.compare/1"));
    json_object_set_new(root, "baseline", run_json(&rep->baseline));
    json_object_set_new(root, "candidate", run_json(&rep->candidate));
    json_t *rule = json_object();
    json_object_set_new(rule, "threshold", json_real(rep->opts.threshold));
    json_object_set_new(rule, "alpha", json_real(rep->opts.alpha));
    json_object_set_new(rule, "confidence", json_real(rep->opts.conf));
    json_object_set_new(rule, "bootstrap", json_integer(rep->opts.n_boot));
    json_object_set_new(root, "rule", rule);
    json_t *sum = json_object();
    json_object_set_new(sum, "tests", json_integer(rep->n_rows));
    json_object_set_new(sum, "regressions", json_integer(rep->n_regressions));
    json_object_set_new(sum, "improvements", json_integer(rep->n_improvements));
    json_object_set_new(sum, "same", json_integer(rep->n_same));
    json_object_set_new(sum, "untested", json_integer(rep->n_untested));
    json_object_set_new(sum, "unmatched", json_integer(rep->n_unmatched));
    json_object_set_new(sum, "inconclusive", json_integer(rep->n_inconclusive));
    json_object_set_new(sum, "judged_any", json_boolean(lf_compare_judged_any(rep)));
    json_object_set_new(root, "summary", sum);
    json_object_set_new(root, "mode", json_string(rep->paired ? "ab" : "runs"));
    if (rep->paired)
        json_object_set_new(root, "pairs", json_integer(rep->n_pairs));
    json_t *mach = json_object();
    char note[320];
    machine_note(rep, note, sizeof note);
    json_object_set_new(mach, "roof_ratio", jnum(rep->roof_ratio));
    json_object_set_new(mach, "baseline_roof_gbs", jnum(rep->base_roof_gbs));
    json_object_set_new(mach, "candidate_roof_gbs", jnum(rep->cand_roof_gbs));
    json_object_set_new(mach, "normalize", json_string(rep->opts.normalize == LF_NORM_ROOF ? "roof" : "none"));
    json_object_set_new(mach, "note", json_string(note));
    json_object_set_new(root, "machine", mach);
    json_t *tests = json_array();
    for (int i = 0; i < rep->n_rows; i++) {
        const lf_compare_row *r = &rep->rows[i];
        const lf_result *t = &r->test;
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(r->name));
        json_object_set_new(o, "verdict", json_string(lf_verdict_name(r->verdict)));
        json_object_set_new(o, "kind", json_string(lf_test_kind_name(t->kind)));
        json_object_set_new(o, "model", json_string(t->model));
        json_object_set_new(o, "quant", json_string(t->quant));
        json_object_set_new(o, "adapter", json_string(t->adapter));
        json_object_set_new(o, "n_adapters", json_integer(t->n_adapters));
        json_object_set_new(o, "adapter_rank", json_integer(t->adapter_rank));
        json_object_set_new(o, "adapter_mode", json_string(lf_adapter_mode_name(t->adapter_mode)));
        json_object_set_new(o, "threads", json_integer(t->threads));
        json_object_set_new(o, "n_prompt", json_integer(t->n_prompt));
        json_object_set_new(o, "n_gen", json_integer(t->n_gen));
        json_object_set_new(o, "n_depth", json_integer(t->n_depth));
        json_object_set_new(o, "kv_type", json_string(t->kv_type));
        json_object_set_new(o, "backend", json_string(t->backend));
        json_object_set_new(o, "config", json_string(t->config));
        json_object_set_new(o, "unit", json_string(lf_unit_name(t->unit)));
        json_object_set_new(o, "baseline_median", jnum(r->base_median));
        json_object_set_new(o, "candidate_median", jnum(r->cand_median));
        json_object_set_new(o, "n_baseline", json_integer(r->n_base));
        json_object_set_new(o, "n_candidate", json_integer(r->n_cand));
        json_object_set_new(o, "ratio", jnum(r->ratio));
        json_object_set_new(o, "ratio_ci_low", jnum(r->ratio_lo));
        json_object_set_new(o, "ratio_ci_high", jnum(r->ratio_hi));
        json_object_set_new(o, "p_value", jnum(r->p));
        json_object_set_new(o, "p_exact", json_boolean(r->exact));
        json_object_set_new(o, "method", json_string(r->method));
        json_object_set_new(o, "reason", json_string(r->reason));
        json_object_set_new(o, "noise", jnum(r->noise));
        json_object_set_new(o, "min_detectable_slowdown", jnum(r->min_detect));
        json_object_set_new(o, "normalized", json_boolean(r->normalized));
        json_array_append_new(tests, o);
    }
    json_object_set_new(root, "tests", tests);
    /* 12 significant digits: a report, not a data exchange format. */
    /* ASCII only: test names may hold C1 controls or bidi overrides */
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12) |
                                       JSON_ENSURE_ASCII);
    json_decref(root);
    if (rc < 0 || fputc('\n', out) == EOF)
        return LF_EIO;
    return finish_write(out);
}

/* XML text and attribute values: cleaned (control characters XML 1.0
 * cannot carry and invalid UTF-8, which makes a parser reject the whole
 * report, removed), then the five entities. */
static void xml_text(FILE *f, const char *s) {
    char *c = clean_copy(s);
    for (const char *p = c; p && *p; p++) {
        unsigned char ch = (unsigned char)*p;
        switch (ch) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            fputc(ch, f);
        }
    }
    free(c);
}

int lf_compare_write_junit(const lf_compare_report *rep, FILE *out) {
    int skipped = rep->n_untested + rep->n_unmatched + rep->n_inconclusive;
    char b[512], c[512];
    run_ident(&rep->baseline, b, sizeof b);
    run_ident(&rep->candidate, c, sizeof c);
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<testsuites name=\"localfit compare\" tests=\"%d\" failures=\"%d\" skipped=\"%d\">\n",
            rep->n_rows, rep->n_regressions, skipped);
    fprintf(out, "  <testsuite name=\"localfit compare\" tests=\"%d\" failures=\"%d\" "
                 "errors=\"0\" skipped=\"%d\">\n",
            rep->n_rows, rep->n_regressions, skipped);
    fputs("    <properties>\n      <property name=\"baseline\" value=\"", out);
    xml_text(out, b);
    fputs("\"/>\n      <property name=\"candidate\" value=\"", out);
    xml_text(out, c);
    fprintf(out, "\"/>\n      <property name=\"threshold\" value=\"%g\"/>\n"
                 "      <property name=\"alpha\" value=\"%g\"/>\n    </properties>\n",
            rep->opts.threshold, rep->opts.alpha);
    for (int i = 0; i < rep->n_rows; i++) {
        const lf_compare_row *r = &rep->rows[i];
        fprintf(out, "    <testcase classname=\"localfit.%s\" name=\"",
                lf_test_kind_name(r->test.kind));
        xml_text(out, r->name);
        fputs("\">\n", out);
        char detail[256];
        snprintf(detail, sizeof detail,
                 "speed ratio %.4f (95%% CI %.4f - %.4f), p = %.3g, baseline median %.4g, "
                 "candidate median %.4g %s, n = %d / %d",
                 r->ratio, r->ratio_lo, r->ratio_hi, r->p, r->base_median, r->cand_median,
                 lf_unit_name(r->test.unit), r->n_base, r->n_cand);
        switch (r->verdict) {
        case LF_VERDICT_REGRESSION:
            fputs("      <failure type=\"regression\" message=\"", out);
            xml_text(out, detail);
            fputs("\"/>\n", out);
            break;
        case LF_VERDICT_UNTESTED:
        case LF_VERDICT_INCONCLUSIVE:
        case LF_VERDICT_ONLY_BASELINE:
        case LF_VERDICT_ONLY_CANDIDATE:
            fputs("      <skipped message=\"", out);
            xml_text(out, r->reason[0] ? r->reason
                          : r->verdict == LF_VERDICT_UNTESTED ? "fewer than 2 samples on a side"
                          : r->verdict == LF_VERDICT_ONLY_BASELINE ? "not run by the candidate"
                                                                   : "not in the baseline");
            fputs("\"/>\n", out);
            break;
        default:
            fputs("      <system-out>", out);
            xml_text(out, lf_verdict_name(r->verdict));
            fputs(": ", out);
            xml_text(out, detail);
            fputs("</system-out>\n", out);
            break;
        }
        fputs("    </testcase>\n", out);
    }
    fputs("  </testsuite>\n</testsuites>\n", out);
    return finish_write(out);
}
