/*
 * The report's content, built once from the input: the sections (device
 * profile, roofline, throughput, quality vs size, thread scaling,
 * regression history, device comparison, recommendations) as a flat list of
 * blocks holding plain text. Every section appears even when empty, with a
 * line saying there is no data and how to get some, so a reader can tell
 * "not measured" from "left out". Renderers escape; nothing here does.
 */
#include "reports/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_ROWS 40   /* commits in the table (latest); the plot shows all */

static bool same(const char *a, const char *b) { return !strcmp(rp_str(a), rp_str(b)); }

static rp_block *push(rp_doc *d, rp_block_kind k) {
    if (d->oom)
        return NULL;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        rp_block *b = realloc(d->b, cap * sizeof *b);
        if (!b) {
            d->oom = true;
            return NULL;
        }
        d->b = b;
        d->cap = cap;
    }
    rp_block *b = &d->b[d->n++];
    memset(b, 0, sizeof *b);
    b->kind = k;
    return b;
}

static void vtext(rp_doc *d, rp_block_kind k, const char *anchor, const char *fmt, va_list ap) {
    rp_buf t = {0};
    char small[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n >= 0 && (size_t)n < sizeof small) {
        rp_buf_puts(&t, small);
    } else if (n >= 0) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            rp_buf_puts(&t, big);
            free(big);
        } else {
            t.oom = true;
        }
    }
    char *s = rp_buf_take(&t);
    rp_block *b = s ? push(d, k) : NULL;
    if (!b) {
        free(s);
        d->oom = true;
        return;
    }
    b->text = s;
    b->anchor = anchor;
}

static void text(rp_doc *d, rp_block_kind k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void text(rp_doc *d, rp_block_kind k, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vtext(d, k, NULL, fmt, ap);
    va_end(ap);
}

static void section(rp_doc *d, const char *anchor, const char *title) {
    rp_block *b = push(d, RP_H2);
    char *s = b ? strdup(title) : NULL;
    if (!s) {
        d->oom = true;
        return;
    }
    b->text = s;
    b->anchor = anchor;
}

/* Starts a table (header copied); rows follow with row(). */
static void table(rp_doc *d, size_t ncols, unsigned right, const char *const *hdr) {
    rp_block *b = push(d, RP_TABLE);
    if (!b)
        return;
    b->ncols = ncols;
    b->right = right;
    b->cells = calloc(ncols, sizeof *b->cells);
    if (!b->cells) {
        d->oom = true;
        return;
    }
    for (size_t c = 0; c < ncols; c++)
        if (!(b->cells[c] = strdup(hdr[c])))
            d->oom = true;
}

/* Appends a row to the last block (a table); cells copied, NULL = "". */
static void row(rp_doc *d, const char *const *cells) {
    if (d->oom || !d->n || d->b[d->n - 1].kind != RP_TABLE)
        return;
    rp_block *b = &d->b[d->n - 1];
    if (b->nrows == b->rows_cap) {
        size_t cap = b->rows_cap ? b->rows_cap * 2 : 8;
        char **c = realloc(b->cells, (cap + 1) * b->ncols * sizeof *c);
        if (!c) {
            d->oom = true;
            return;
        }
        b->cells = c;
        b->rows_cap = cap;
    }
    char **dst = b->cells + (b->nrows + 1) * b->ncols;
    for (size_t c = 0; c < b->ncols; c++)
        if (!(dst[c] = strdup(rp_str(cells[c]))))
            d->oom = true;
    b->nrows++;
}

/* The picture of a plot, or a line saying why there is none. */
static void image(rp_doc *d, const rp_plots *pl, rp_plot_id id, const char *caption) {
    const rp_plot *p = &pl->p[id];
    switch (p->state) {
    case RP_PLOT_OK: {
        rp_block *b = push(d, RP_IMAGE);
        if (b && !(b->text = strdup(caption)))
            d->oom = true;
        if (b)
            b->plot = id;
        break;
    }
    case RP_PLOT_SKIPPED:
        text(d, RP_NOTE, "Plot not drawn: %s.", p->note);
        break;
    case RP_PLOT_FAILED:
        text(d, RP_WARN, "The %s plot failed: %s", rp_plot_name(id), p->note);
        break;
    case RP_PLOT_NODATA:
        break;
    }
}

static const char *dev_name(const lf_report_device *d) {
    return d->slug && *d->slug ? d->slug : rp_str(d->id);
}

/* ---- sections ---- */

static void sec_device(rp_doc *d, const lf_report_input *in) {
    section(d, "device", "Device profile");
    if (!in->n_devices) {
        text(d, RP_PARA, "No data: no device profile in this report. Run `localfit probe` "
                         "and `localfit bench` to store one.");
        return;
    }
    for (size_t i = 0; i < in->n_devices; i++) {
        const lf_report_device *dv = &in->devices[i];
        text(d, RP_H3, "%s%s", dev_name(dv), i == 0 && in->n_devices > 1 ? " (reported)" : "");
        static const char *hdr[2] = {"Property", "Value"};
        table(d, 2, 0, hdr);
        const char *idrow[2] = {"Device id", rp_str(dv->id)};
        row(d, idrow);
        for (size_t k = 0; k < dv->n_profile; k++) {
            const char *c[2] = {dv->profile[k].key, dv->profile[k].value};
            row(d, c);
        }
        char v[64];
        if (rp_known(dv->bandwidth_gbs)) {
            snprintf(v, sizeof v, "%.1f GB/s", dv->bandwidth_gbs);
            const char *c[2] = {"Read bandwidth (measured)", v};
            row(d, c);
        }
        if (rp_known(dv->peak_fp32_gflops)) {
            snprintf(v, sizeof v, "%.0f GFLOP/s", dv->peak_fp32_gflops);
            const char *c[2] = {"FP32 FMA peak (measured)", v};
            row(d, c);
        }
        if (rp_known(dv->peak_int8_gops)) {
            snprintf(v, sizeof v, "%.0f GOP/s", dv->peak_int8_gops);
            const char *c[2] = {"int8 dot peak (measured)", v};
            row(d, c);
        }
        if (dv->n_bw_curve) {
            rp_buf t = {0};
            for (size_t k = 0; k < dv->n_bw_curve; k++)
                rp_buf_printf(&t, "%s%d: %.1f", k ? ", " : "", dv->bw_curve[k].threads,
                              dv->bw_curve[k].gbs);
            const char *c[2] = {"Bandwidth by threads (GB/s)", rp_buf_cstr(&t)};
            if (!c[1])
                d->oom = true;
            else
                row(d, c);
            rp_buf_free(&t);
        }
    }
}

/* Why a result can pass 100% of its roof: the roof is DRAM bandwidth. */
#define OVER_ROOF_NOTE                                                                         \
    "* Above 100% of the roof: the model's weights fit in the CPU caches, which are read "   \
    "faster than the main-memory bandwidth the roof is measured for. Such a small model's "  \
    "speed says little about larger ones (recommend leaves them out of its calibration)."

static void sec_roofline(rp_doc *d, const lf_report_input *in, const rp_plots *pl) {
    section(d, "roofline", "Roofline");
    const char *dev = in->n_devices ? in->devices[0].id : NULL;
    text(d, RP_PARA, "Decoding reads every weight once per token, so its speed is capped by "
                     "memory bandwidth (the slanted roof); prompt processing reuses each "
                     "weight across the batch and can approach the compute roof. Points are "
                     "measured results; a point's height against the roof above it is the "
                     "fraction of the machine the kernels reach.");
    image(d, pl, RP_PLOT_ROOFLINE, "Roofline: measured bandwidth and compute roofs with the "
                                   "measured results");
    /* A summary per test; every point's figures are in Throughput / All results. */
    static const char *hdr[5] = {"Test", "Points", "FLOP per byte", "GFLOP/s",
                                 "Of bandwidth roof (median, range)"};
    static const char *tests[2] = {"tg", "pp"};
    size_t shown = 0;
    bool over_roof = false;
    for (int t = 0; t < 2; t++) {
        double ai_lo = INFINITY, ai_hi = 0, gf_lo = INFINITY, gf_hi = 0, fr[256];
        size_t n = 0, nf = 0;
        for (size_t i = 0; i < in->n_results; i++) {
            const lf_report_result *r = &in->results[i];
            double f = rp_flops_per_token(r);
            if ((dev && !same(r->device_id, dev)) || !same(r->test, tests[t]) ||
                !rp_known(f) || !rp_known(r->bytes_per_token) || r->bytes_per_token <= 0 ||
                !rp_known(r->value) || r->value <= 0)
                continue;
            double ai = f / r->bytes_per_token, gf = f * r->value / 1e9;
            ai_lo = fmin(ai_lo, ai), ai_hi = fmax(ai_hi, ai);
            gf_lo = fmin(gf_lo, gf), gf_hi = fmax(gf_hi, gf);
            if (rp_known(r->roofline_fraction) && nf < 256)
                fr[nf++] = r->roofline_fraction;
            n++;
        }
        if (!n)
            continue;
        if (!shown++)
            table(d, 5, 0x1E, hdr);
        char np[24], ai[64], gf[64], fs[96];
        snprintf(np, sizeof np, "%zu", n);
        snprintf(ai, sizeof ai, "%.2f\xE2\x80\x93%.2f", ai_lo, ai_hi);
        snprintf(gf, sizeof gf, "%.1f\xE2\x80\x93%.1f", gf_lo, gf_hi);
        if (nf) {
            for (size_t i = 1; i < nf; i++)   /* insertion sort for the median */
                for (size_t j = i; j > 0 && fr[j - 1] > fr[j]; j--) {
                    double x = fr[j];
                    fr[j] = fr[j - 1];
                    fr[j - 1] = x;
                }
            double med = nf % 2 ? fr[nf / 2] : (fr[nf / 2 - 1] + fr[nf / 2]) / 2;
            snprintf(fs, sizeof fs, "%.0f%% (%.0f\xE2\x80\x93%.0f%%)%s", 100 * med,
                     100 * fr[0], 100 * fr[nf - 1], fr[nf - 1] > 1 ? " *" : "");
            over_roof |= fr[nf - 1] > 1;
        } else {
            rp_fmt(fs, sizeof fs, NAN, 0);
        }
        const char *c[5] = {!t ? "tg (token generation)" : "pp (prompt processing)", np, ai,
                            gf, fs};
        row(d, c);
    }
    if (over_roof)
        text(d, RP_NOTE, "%s", OVER_ROOF_NOTE);
    if (!shown && pl->p[RP_PLOT_ROOFLINE].state == RP_PLOT_NODATA)
        text(d, RP_PARA, "No data: neither a measured bandwidth and compute peak nor results "
                         "with bytes per token. Run `localfit probe` and `localfit bench`.");
    else if (!shown)
        text(d, RP_PARA, "No measured points yet: only the roofs. Run `localfit bench`.");
}

static void pivot(rp_doc *d, const lf_report_input *in, const char *dev, const rp_strset *models,
                  const rp_strset *quants, const char *test) {
    size_t nc = quants->n + 1;
    const char **hdr = calloc(nc, sizeof *hdr);
    const char **c = calloc(nc, sizeof *c);
    char (*cells)[32] = calloc(nc, sizeof *cells);
    if (!hdr || !c || !cells) {
        d->oom = true;
        goto out;
    }
    hdr[0] = "Model";
    for (size_t q = 0; q < quants->n; q++)
        hdr[q + 1] = quants->v[q][0] ? quants->v[q] : "(unnamed)";
    table(d, nc, ~1u, hdr);
    for (size_t m = 0; m < models->n; m++) {
        c[0] = models->v[m];
        for (size_t q = 0; q < quants->n; q++) {
            rp_fmt_val(cells[q + 1], sizeof cells[q + 1],
                       rp_best_rate(in, dev, models->v[m], quants->v[q], test, 0));
            c[q + 1] = cells[q + 1];
        }
        row(d, c);
    }
out:
    free(hdr);
    free(c);
    free(cells);
}

static void sec_throughput(rp_doc *d, const lf_report_input *in, const rp_plots *pl) {
    section(d, "throughput", "Throughput");
    const char *dev = in->n_devices ? in->devices[0].id : NULL;
    rp_strset models = {0}, quants = {0};
    rp_models_quants(in, dev, &models, &quants);
    if (!models.n) {
        text(d, RP_PARA, "No data: no benchmark results for this device. Run "
                         "`localfit bench` (or `localfit run`).");
        goto out;
    }
    static const char *tests[2] = {"tg", "pp"};
    static const rp_plot_id plots[2] = {RP_PLOT_TP_TG, RP_PLOT_TP_PP};
    static const char *names[2] = {"Token generation", "Prompt processing"};
    for (int t = 0; t < 2; t++) {
        bool any = false;
        for (size_t m = 0; m < models.n && !any; m++)
            for (size_t q = 0; q < quants.n && !any; q++)
                any = rp_known(rp_best_rate(in, dev, models.v[m], quants.v[q], tests[t], 0));
        text(d, RP_H3, "%s (%s), tokens/s", names[t], tests[t]);
        if (!any) {
            text(d, RP_PARA, "No data: no %s results without adapter at empty context.",
                 tests[t]);
            continue;
        }
        text(d, RP_PARA, "Best median tokens/s over thread counts; no adapter, empty context. "
                         "Higher is better.");
        pivot(d, in, dev, &models, &quants, tests[t]);
        image(d, pl, plots[t], names[t]);
    }
    text(d, RP_H3, "All results");
    bool over_roof = false;   /* a result above 100% of the roof: say why */
    static const char *hdr[10] = {"Model", "Quant", "Adapter", "Test", "Threads", "Median",
                                  "95% CI", "Bytes/token", "Of roofline", "Commit"};
    table(d, 10, 0x1F0, hdr);
    for (size_t i = 0; i < in->n_results; i++) {
        const lf_report_result *r = &in->results[i];
        if (dev && !same(r->device_id, dev))
            continue;
        /* The test as llama-bench users name it: pp512, tg128, @ depth. */
        rp_buf test = {0};
        rp_buf_puts(&test, rp_str(r->test));
        if (!strcmp(rp_str(r->test), "pp") && r->n_prompt > 0)
            rp_buf_printf(&test, "%d", r->n_prompt);
        else if (!strcmp(rp_str(r->test), "tg") && r->n_gen > 0)
            rp_buf_printf(&test, "%d", r->n_gen);
        else if (r->n_prompt > 0)
            rp_buf_printf(&test, " (pp%d)", r->n_prompt);
        if (r->depth > 0)
            rp_buf_printf(&test, " @ %d", r->depth);
        if (rp_str(r->kv_type)[0] && strcmp(r->kv_type, "f16") != 0)
            rp_buf_printf(&test, " kv %s", r->kv_type);
        char th[16], v[48], ci[64], bpt[32], rf[16], lo[24], hi[24], vv[32];
        snprintf(th, sizeof th, "%d", r->threads);
        snprintf(v, sizeof v, "%s %s", rp_fmt_val(vv, sizeof vv, r->value),
                 lf_report_test_unit(r->test));
        if (rp_known(r->ci_low) && rp_known(r->ci_high))
            snprintf(ci, sizeof ci, "%s\xE2\x80\x93%s", rp_fmt_val(lo, sizeof lo, r->ci_low),
                     rp_fmt_val(hi, sizeof hi, r->ci_high));
        else
            rp_fmt(ci, sizeof ci, NAN, 0);
        if (rp_known(r->bytes_per_token))
            lf_format_bytes(bpt, sizeof bpt, r->bytes_per_token);
        else
            rp_fmt(bpt, sizeof bpt, NAN, 0);
        if (rp_known(r->roofline_fraction))
            snprintf(rf, sizeof rf, "%.0f%%%s", 100 * r->roofline_fraction,
                     r->roofline_fraction > 1 ? " *" : "");
        else
            rp_fmt(rf, sizeof rf, NAN, 0);
        over_roof |= rp_known(r->roofline_fraction) && r->roofline_fraction > 1;
        char commit[11];
        lf_strlcpy(commit, rp_str(r->commit), sizeof commit);
        const char *c[10] = {r->model, r->quant, rp_str(r->adapter)[0] ? r->adapter : "none",
                             rp_buf_cstr(&test), th, v, ci, bpt, rf, commit};
        if (!c[3])
            d->oom = true;
        else
            row(d, c);
        rp_buf_free(&test);
    }
    if (over_roof)
        text(d, RP_NOTE, "%s", OVER_ROOF_NOTE);
out:
    if (models.oom || quants.oom)
        d->oom = true;
    rp_strset_free(&models);
    rp_strset_free(&quants);
}

static void sec_quality(rp_doc *d, const lf_report_input *in, const rp_plots *pl) {
    section(d, "quality", "Quality vs size");
    if (!in->n_quality) {
        text(d, RP_PARA, "No data: no quality measurements or published figures. Run "
                         "`localfit quality` or `localfit sweep`.");
        return;
    }
    text(d, RP_PARA, "Each quantization against its full-precision base: KL divergence of "
                     "the token distributions (lower is better), perplexity, and how often "
                     "the most likely token stays the same. The dashed line is the Pareto "
                     "front: no other quantization is both smaller and closer to the base.");
    image(d, pl, RP_PLOT_QUALITY, "Quality vs bits per weight, with the Pareto front");
    static const char *hdr[7] = {"Model", "Quant", "Bits/weight", "Mean KLD", "Perplexity",
                                 "Same top token", "Source"};
    table(d, 7, 0x3C, hdr);
    bool collapsed = false;   /* a level marked "A=B" by sweep */
    for (size_t i = 0; i < in->n_quality; i++) {
        const lf_report_quality *q = &in->quality[i];
        char bpw[32], kld[32], ppl[32], st[32];
        rp_fmt(bpw, sizeof bpw, q->bpw, 2);
        rp_fmt(kld, sizeof kld, q->kld, 4);
        rp_fmt(ppl, sizeof ppl, q->ppl, 3);
        if (rp_known(q->same_top))
            snprintf(st, sizeof st, "%.1f%%", 100 * q->same_top);
        else
            rp_fmt(st, sizeof st, NAN, 0);
        const char *c[7] = {q->model, q->quant, bpw, kld, ppl, st,
                            q->source == LF_REPORT_MEASURED ? "measured" : "published"};
        row(d, c);
        collapsed |= strchr(rp_str(q->quant), '=') != NULL;
    }
    if (collapsed)
        text(d, RP_NOTE, "%s", LF_QUALITY_COLLAPSED_NOTE);
}

static void sec_threads(rp_doc *d, const lf_report_input *in, const rp_plots *pl) {
    section(d, "threads", "Thread scaling");
    const lf_report_device *dv = in->n_devices ? &in->devices[0] : NULL;
    const char *dev = dv ? dv->id : NULL;
    size_t ser[4];
    size_t nser = rp_thread_series(in, dev, ser, 4, 2);
    if (!nser && !(dv && dv->n_bw_curve)) {
        text(d, RP_PARA, "No data: no bandwidth curve and no token generation at several "
                         "thread counts. Run `localfit probe` and `localfit bench --threads "
                         "1,2,4`.");
        return;
    }
    text(d, RP_PARA, "Decoding is bandwidth-bound: token generation should grow with threads "
                     "as long as the read bandwidth does, and flatten where it saturates.");
    image(d, pl, RP_PLOT_THREADS, "Read bandwidth and token generation by thread count");
    /* Rows: the union of thread counts of the curve and the series. */
    int thr[128];
    size_t nt = 0;
    for (size_t i = 0; dv && i < dv->n_bw_curve && nt < 128; i++)
        thr[nt++] = dv->bw_curve[i].threads;
    for (size_t s = 0; s < nser; s++) {
        int t2[64];
        size_t n2 = rp_thread_counts(in, dev, in->results[ser[s]].model,
                                     in->results[ser[s]].quant, t2, 64);
        for (size_t k = 0; k < n2 && nt < 128; k++) {
            bool seen = false;
            for (size_t j = 0; j < nt; j++)
                seen |= thr[j] == t2[k];
            if (!seen)
                thr[nt++] = t2[k];
        }
    }
    for (size_t i = 1; i < nt; i++)   /* ascending */
        for (size_t j = i; j > 0 && thr[j - 1] > thr[j]; j--) {
            int x = thr[j];
            thr[j] = thr[j - 1];
            thr[j - 1] = x;
        }
    const char *hdr[6] = {"Threads", "Read GB/s"};
    rp_buf names[4] = {{0}, {0}, {0}, {0}};
    for (size_t s = 0; s < nser; s++) {
        rp_buf_puts(&names[s], "tg t/s ");
        rp_buf_puts(&names[s], rp_str(in->results[ser[s]].model));
        rp_buf_putc(&names[s], ' ');
        rp_buf_puts(&names[s], rp_str(in->results[ser[s]].quant));
        hdr[2 + s] = rp_buf_cstr(&names[s]);
        if (!hdr[2 + s])
            d->oom = true;
    }
    if (!d->oom) {
        table(d, 2 + nser, ~0u, hdr);
        for (size_t t = 0; t < nt; t++) {
            char cells[6][32];
            const char *c[6];
            snprintf(cells[0], sizeof cells[0], "%d", thr[t]);
            double bw = NAN;
            for (size_t i = 0; dv && i < dv->n_bw_curve; i++)
                if (dv->bw_curve[i].threads == thr[t])
                    bw = dv->bw_curve[i].gbs;
            rp_fmt(cells[1], sizeof cells[1], bw, 1);
            for (size_t s = 0; s < nser; s++)
                rp_fmt_val(cells[2 + s], sizeof cells[2 + s],
                           rp_best_rate(in, dev, in->results[ser[s]].model,
                                        in->results[ser[s]].quant, "tg", thr[t]));
            for (size_t k = 0; k < 2 + nser; k++)
                c[k] = cells[k];
            row(d, c);
        }
    }
    for (size_t s = 0; s < 4; s++)
        rp_buf_free(&names[s]);
}

static void sec_history(rp_doc *d, const lf_report_input *in, const rp_plots *pl) {
    section(d, "history", "Regression history");
    if (!in->n_history) {
        text(d, RP_PARA, "No data: no results from earlier commits. Benchmark each commit in CI "
                         "(`localfit bench` then `localfit compare --baseline main`).");
        return;
    }
    text(d, RP_PARA, "Each test's median over commits: oldest first in the plot, relative to "
                     "the first commit shown; newest first in the table, with changes of 3%% or "
                     "more against the commit before.");
    image(d, pl, RP_PLOT_HISTORY, "Regression history over commits");
    /* A pivot: one row per commit (newest first), one column per test;
     * a change of 3% or more from the commit before is shown beside the
     * value so regressions stand out in the table too. */
    size_t n = in->n_history;
    size_t *ord = malloc(n * sizeof *ord);
    if (!ord) {
        d->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {   /* oldest first, stable */
        size_t j = i;
        while (j > 0 && in->history[ord[j - 1]].timestamp > in->history[i].timestamp) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = i;
    }
    rp_strset commits = {0}, tests = {0};
    for (size_t i = 0; i < n; i++) {
        rp_strset_add(&commits, in->history[ord[i]].commit);
        rp_strset_add(&tests, in->history[ord[i]].test);
    }
    size_t nt = tests.n < 6 ? tests.n : 6, nc = commits.n;
    double *v = calloc(nc * nt + 1, sizeof *v);
    int64_t *when = calloc(nc + 1, sizeof *when);
    if (!v || !when || commits.oom || tests.oom) {
        d->oom = true;
        goto out;
    }
    for (size_t k = 0; k < nc * nt; k++)
        v[k] = NAN;
    for (size_t i = 0; i < n; i++) {
        const lf_report_history *h = &in->history[ord[i]];
        long c = rp_strset_find(&commits, h->commit), t = rp_strset_find(&tests, h->test);
        if (!when[c])
            when[c] = h->timestamp;
        if (t < (long)nt)
            v[(size_t)c * nt + (size_t)t] = h->value;
    }
    if (tests.n > nt)
        text(d, RP_PARA, "The table shows the first %zu of %zu tests.", nt, tests.n);
    if (nc > HISTORY_ROWS)
        text(d, RP_PARA, "The table shows the latest %d of %zu commits.", HISTORY_ROWS, nc);
    const char *hdr[2 + 6] = {"Commit", "Time"};
    for (size_t t = 0; t < nt; t++)
        hdr[2 + t] = tests.v[t];
    table(d, 2 + nt, ~3u, hdr);
    for (size_t k = 0; k < nc && k < HISTORY_ROWS; k++) {
        size_t c = nc - 1 - k;
        char commit[11], tm[48], cells[6][64];
        const char *row_c[2 + 6] = {commit, tm};
        lf_strlcpy(commit, commits.v[c], sizeof commit);
        rp_fmt_time(tm, sizeof tm, when[c]);
        for (size_t t = 0; t < nt; t++) {
            double x = v[c * nt + t], prev = NAN;
            for (size_t p = c; p-- > 0 && !rp_known(prev);)
                prev = v[p * nt + t];
            char num[32];
            rp_fmt_val(num, sizeof num, x);
            if (rp_known(x) && rp_known(prev) && prev != 0 && fabs(x / prev - 1) >= 0.03)
                snprintf(cells[t], sizeof cells[t], "%s (%+.1f%%)", num, 100 * (x / prev - 1));
            else
                lf_strlcpy(cells[t], num, sizeof cells[t]);
            row_c[2 + t] = cells[t];
        }
        row(d, row_c);
    }
out:
    free(v);
    free(when);
    free(ord);
    rp_strset_free(&commits);
    rp_strset_free(&tests);
}

/* How many (model, quant, test) rows of the first nd devices have a rate on
 * at least two of them: the device table's rows. */
static size_t shared_rows(const lf_report_input *in, size_t nd, const rp_strset *models,
                          const rp_strset *quants) {
    static const char *tests[2] = {"tg", "pp"};
    size_t rows = 0;
    for (int t = 0; t < 2; t++)
        for (size_t m = 0; m < models->n; m++)
            for (size_t q = 0; q < quants->n; q++) {
                int cnt = 0;
                for (size_t k = 0; k < nd; k++)
                    cnt += rp_known(rp_best_rate(in, in->devices[k].id, models->v[m],
                                                 quants->v[q], tests[t], 0));
                rows += cnt >= 2;
            }
    return rows;
}

static void sec_devices(rp_doc *d, const lf_report_input *in, const rp_plots *pl) {
    section(d, "devices", "Device comparison");
    if (in->n_devices < 2) {
        text(d, RP_PARA, "No data: this report covers one device. Compare others with "
                         "`localfit report --compare ID ...`.");
        return;
    }
    text(d, RP_PARA, "Best median tokens/s of the same work on each device (no adapter, empty "
                     "context); the ratio is against %s.", dev_name(&in->devices[0]));
    image(d, pl, RP_PLOT_DEVICES, "Devices compared on the same models and quantizations");
    size_t nd = in->n_devices < 6 ? in->n_devices : 6;
    const char *hdr[3 + 2 * 6];
    hdr[0] = "Model", hdr[1] = "Quant", hdr[2] = "Test";
    rp_buf rn[6] = {{0}};
    for (size_t k = 0; k < nd; k++) {
        hdr[3 + k] = dev_name(&in->devices[k]);
        if (k) {
            rp_buf_puts(&rn[k], "ratio ");
            rp_buf_puts(&rn[k], dev_name(&in->devices[k]));
            hdr[3 + nd + k - 1] = rp_buf_cstr(&rn[k]);
            if (!hdr[3 + nd + k - 1])
                d->oom = true;
        }
    }
    rp_strset models = {0}, quants = {0};
    rp_models_quants(in, NULL, &models, &quants);
    size_t nc = 3 + nd + nd - 1, rows = 0;
    bool any = shared_rows(in, nd, &models, &quants) > 0;   /* no table of headers alone */
    if (any && !d->oom)
        table(d, nc, ~7u, hdr);
    static const char *tests[2] = {"tg", "pp"};
    for (int t = 0; t < 2 && any && !d->oom; t++)
        for (size_t m = 0; m < models.n; m++)
            for (size_t q = 0; q < quants.n; q++) {
                double v[6];
                int cnt = 0;
                for (size_t k = 0; k < nd; k++)
                    cnt += rp_known(v[k] = rp_best_rate(in, in->devices[k].id, models.v[m],
                                                        quants.v[q], tests[t], 0));
                if (cnt < 2)
                    continue;
                char cells[12][32];
                const char *c[3 + 2 * 6] = {models.v[m], quants.v[q], tests[t]};
                for (size_t k = 0; k < nd; k++) {
                    rp_fmt_val(cells[k], sizeof cells[k], v[k]);
                    c[3 + k] = cells[k];
                    if (k) {
                        if (rp_known(v[k]) && rp_known(v[0]) && v[0] > 0)
                            snprintf(cells[nd + k], sizeof cells[nd + k], "%.2f\xC3\x97",
                                     v[k] / v[0]);
                        else
                            rp_fmt(cells[nd + k], sizeof cells[nd + k], NAN, 0);
                        c[3 + nd + k - 1] = cells[nd + k];
                    }
                }
                row(d, c);
                rows++;
            }
    if (!rows && !d->oom)
        text(d, RP_PARA, "No model and quantization was measured on two of these devices.");
    if (models.oom || quants.oom)
        d->oom = true;
    rp_strset_free(&models);
    rp_strset_free(&quants);
    for (size_t k = 0; k < 6; k++)
        rp_buf_free(&rn[k]);
}

static void sec_recs(rp_doc *d, const lf_report_input *in) {
    section(d, "recommend", "Recommendations");
    if (!in->n_recs) {
        text(d, RP_PARA, "No data: no recommendation was computed. Run `localfit recommend`.");
        return;
    }
    if (in->rec_constraints && *in->rec_constraints)
        text(d, RP_PARA, "Constraints: %s. The best quality that fits wins; every other "
                         "candidate says why it lost.", in->rec_constraints);
    static const char *labels[] = {"measured", "calibrated", "estimated"};
    static const char *hdr[9] = {"Rank", "Model", "Quant", "Predicted tg (t/s)", "Interval",
                                 "Memory", "Quality", "Basis", "Verdict"};
    table(d, 9, 0x79, hdr);
    for (size_t i = 0; i < in->n_recs; i++) {
        const lf_report_rec *r = &in->recs[i];
        char rank[16], tg[32], lo[24], hi[24], iv[64], mem[32], q[32];
        if (r->rank > 0)
            snprintf(rank, sizeof rank, "%d", r->rank);
        else
            rp_fmt(rank, sizeof rank, NAN, 0);
        rp_fmt_val(tg, sizeof tg, r->tg);
        if (rp_known(r->tg_low) && rp_known(r->tg_high))
            snprintf(iv, sizeof iv, "%s\xE2\x80\x93%s", rp_fmt_val(lo, sizeof lo, r->tg_low),
                     rp_fmt_val(hi, sizeof hi, r->tg_high));
        else
            rp_fmt(iv, sizeof iv, NAN, 0);
        if (r->memory_bytes)
            lf_format_bytes(mem, sizeof mem, (double)r->memory_bytes);
        else
            rp_fmt(mem, sizeof mem, NAN, 0);
        rp_fmt(q, sizeof q, r->quality, 1);
        unsigned l = (unsigned)r->label < 3 ? (unsigned)r->label : 2;
        rp_buf verdict = {0};
        rp_buf_puts(&verdict, rp_str(r->verdict));
        if (r->reason && *r->reason) {
            rp_buf_puts(&verdict, verdict.len ? ": " : "");
            rp_buf_puts(&verdict, r->reason);
        }
        const char *c[9] = {rank, r->model, r->quant, tg, iv, mem, q, labels[l],
                            rp_buf_cstr(&verdict)};
        if (!c[8])
            d->oom = true;
        else
            row(d, c);
        rp_buf_free(&verdict);
    }
}

int rp_doc_build(const lf_report_input *in, const rp_plots *pl, rp_doc *d, lf_error *err) {
    memset(d, 0, sizeof *d);
    text(d, RP_H1, "%s", in->title && *in->title ? in->title : "localfit capability report");
    char tm[48];
    rp_fmt_time(tm, sizeof tm, in->generated);
    if (in->n_devices)
        text(d, RP_PARA, "Generated %s by localfit %s for %s (device id %s)%s.", tm,
             rp_str(in->tool_version), dev_name(&in->devices[0]), rp_str(in->devices[0].id),
             in->n_devices > 1 ? ", compared with the other devices below" : "");
    else
        text(d, RP_PARA, "Generated %s by localfit %s.", tm, rp_str(in->tool_version));
    if (in->sample)
        text(d, RP_NOTE, "SAMPLE DATA: this report was rendered from localfit's built-in "
                         "illustrative numbers (`localfit report --demo`), not from "
                         "measurements of any machine.");
    if (pl->skipped_why[0])
        text(d, pl->disabled ? RP_NOTE : RP_WARN, "This report has no pictures: %s.",
             pl->skipped_why);
    if (pl->n_failed)
        text(d, RP_WARN, "%d plot(s) failed; each section says why.", pl->n_failed);
    sec_device(d, in);
    sec_roofline(d, in, pl);
    sec_throughput(d, in, pl);
    sec_quality(d, in, pl);
    sec_threads(d, in, pl);
    sec_history(d, in, pl);
    sec_devices(d, in, pl);
    sec_recs(d, in);
    if (d->oom) {
        rp_doc_free(d);
        return lf_error_set(err, LF_ENOMEM, "out of memory building the report");
    }
    return 0;
}

void rp_doc_free(rp_doc *d) {
    for (size_t i = 0; i < d->n; i++) {
        rp_block *b = &d->b[i];
        free(b->text);
        if (b->cells) {
            /* A table whose allocation failed midway may hold NULLs; calloc
             * zeroed the header, rows are only counted once filled. */
            size_t n = (b->nrows + 1) * b->ncols;
            for (size_t c = 0; c < n; c++)
                free(b->cells[c]);
            free(b->cells);
        }
    }
    free(d->b);
    memset(d, 0, sizeof *d);
}
