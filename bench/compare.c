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
           strcmp(a->config, b->config) == 0;
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
    snprintf(buf, size, "%s %s%s%s%s t%d%s%s%s", what, r->model, r->quant[0] ? " " : "",
             r->quant, adapter, r->threads, depth, kv, extra);
}

/* ---- the decision ------------------------------------------------------------ */

void lf_compare_samples(const double *base, int nb, const double *cand, int nc, lf_unit unit,
                        const lf_compare_opts *o, lf_rng *rng, lf_compare_row *row) {
    row->n_base = nb;
    row->n_cand = nc;
    row->base_median = lf_stats_median(base, nb);
    row->cand_median = lf_stats_median(cand, nc);
    row->ratio = row->ratio_lo = row->ratio_hi = row->p = NAN;
    row->exact = false;
    bool tps = unit == LF_UNIT_TPS;
    /* Speed ratio: candidate over baseline in "faster is bigger" terms. */
    const double *num = tps ? cand : base, *den = tps ? base : cand;
    int n_num = tps ? nc : nb, n_den = tps ? nb : nc;
    if (nb < 2 || nc < 2) {
        double mn = tps ? row->cand_median : row->base_median;
        double md = tps ? row->base_median : row->cand_median;
        if (md > 0 && mn > 0)
            row->ratio = mn / md;
        row->verdict = LF_VERDICT_UNTESTED;
        return;
    }
    lf_stats_ratio_ci(num, n_num, den, n_den, o->conf, o->n_boot, rng, &row->ratio,
                      &row->ratio_lo, &row->ratio_hi);
    lf_mwu m;
    if (lf_stats_mann_whitney(cand, nc, base, nb, &m) == 0) {
        row->p = m.p;
        row->exact = m.exact;
    }
    bool significant = row->p < o->alpha;
    if (significant && row->ratio < 1 - o->threshold)
        row->verdict = LF_VERDICT_REGRESSION;
    else if (significant && row->ratio > 1 + o->threshold)
        row->verdict = LF_VERDICT_IMPROVEMENT;
    else if (isnan(row->ratio) || isnan(row->p))
        row->verdict = LF_VERDICT_UNTESTED;
    else
        row->verdict = LF_VERDICT_SAME;
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
    if (!out->rows || !used) {
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
            row->verdict = LF_VERDICT_ONLY_CANDIDATE;
            out->n_unmatched++;
            continue;
        }
        used[j] = true;
        /* Each test gets its own stream derived from the seed and its
         * position, so adding a test does not change another's CI. */
        lf_rng_seed(&rng, o->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)));
        lf_compare_samples(base->samples[j], base->n_samples_stored[j], cand->samples[i],
                           cand->n_samples_stored[i], c->unit, o, &rng, row);
        /* Without raw samples (old imports) fall back to stored medians. */
        if (base->n_samples_stored[j] == 0)
            row->base_median = base->results[j].median;
        if (cand->n_samples_stored[i] == 0)
            row->cand_median = c->median;
        if (row->verdict == LF_VERDICT_UNTESTED && isnan(row->ratio) &&
            row->base_median > 0 && row->cand_median > 0)
            row->ratio = c->unit == LF_UNIT_TPS ? row->cand_median / row->base_median
                                                : row->base_median / row->cand_median;
        switch (row->verdict) {
        case LF_VERDICT_REGRESSION: out->n_regressions++; break;
        case LF_VERDICT_IMPROVEMENT: out->n_improvements++; break;
        case LF_VERDICT_SAME: out->n_same++; break;
        default: out->n_untested++; break;
        }
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
        row->verdict = LF_VERDICT_ONLY_BASELINE;
        out->n_unmatched++;
    }
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

int lf_compare_write_md(const lf_compare_report *rep, FILE *out) {
    char b[512], c[512];
    int n = rep->n_rows;
    fprintf(out, "### localfit compare: %s\n\n",
            rep->n_regressions ? "regression detected" : "no regression");
    fprintf(out, "%d tests: **%d regression%s**, %d improvement%s, %d unchanged, %d untested, "
                 "%d unmatched.\n\n",
            n, rep->n_regressions, rep->n_regressions == 1 ? "" : "s", rep->n_improvements,
            rep->n_improvements == 1 ? "" : "s", rep->n_same, rep->n_untested, rep->n_unmatched);
    run_ident(&rep->baseline, b, sizeof b);
    run_ident(&rep->candidate, c, sizeof c);
    fputs("- baseline: ", out);
    md_text(out, b);
    fputs("\n- candidate: ", out);
    md_text(out, c);
    fprintf(out, "\n- rule: regression when Mann-Whitney p < %g and speed ratio < %.3f "
                 "(threshold %g%%); ratio = candidate/baseline speed, < 1 is slower\n\n",
            rep->opts.alpha, 1 - rep->opts.threshold, rep->opts.threshold * 100);
    if (n == 0) {
        fputs("No tests to compare.\n", out);
        return finish_write(out);
    }
    fputs("| verdict | test | baseline | candidate | ratio | 95% CI | p |\n"
          "|---|---|---:|---:|---:|---|---:|\n", out);
    /* Regressions first, then improvements, then the rest, so the PR
     * comment leads with what matters. */
    static const lf_verdict order[] = {LF_VERDICT_REGRESSION, LF_VERDICT_IMPROVEMENT,
                                       LF_VERDICT_SAME, LF_VERDICT_UNTESTED,
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
            fprintf(out, " | %s (n=%d) | %s (n=%d) | %s | %s | %s |\n", bv, r->n_base, cv,
                    r->n_cand, ratio, ci, p);
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
    json_object_set_new(root, "summary", sum);
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
    int skipped = rep->n_untested + rep->n_unmatched;
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
        case LF_VERDICT_ONLY_BASELINE:
        case LF_VERDICT_ONLY_CANDIDATE:
            fprintf(out, "      <skipped message=\"%s\"/>\n",
                    r->verdict == LF_VERDICT_UNTESTED ? "fewer than 2 samples on a side"
                    : r->verdict == LF_VERDICT_ONLY_BASELINE ? "not run by the candidate"
                                                             : "not in the baseline");
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
