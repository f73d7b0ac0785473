/*
 * The final output of a benchmark run on stdout: an aligned table (with a
 * thread-scaling table when several thread counts ran and an ISA table
 * when several ISAs did), markdown tables for a pull request, CSV with one
 * line per result, one JSON document ("localfit.bench/1": the run as the
 * store's bundles write it, its results with every sample, and the run's
 * own figures), or JSON lines with one result each. Works from an
 * lf_run_full, so a stored run prints the same as a fresh one.
 */
#include "bench/bench.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int lf_bench_format_parse(const char *s, lf_bench_format *out) {
    static const struct { const char *n; lf_bench_format f; } t[] = {
        {"table", LF_BENCH_OUT_TABLE}, {"json", LF_BENCH_OUT_JSON}, {"jsonl", LF_BENCH_OUT_JSONL},
        {"csv", LF_BENCH_OUT_CSV},     {"md", LF_BENCH_OUT_MD},     {"markdown", LF_BENCH_OUT_MD},
        {"none", LF_BENCH_OUT_NONE},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (s && !strcasecmp(s, t[i].n)) {
            *out = t[i].f;
            return 0;
        }
    return LF_EINVAL;
}

static void test_label(const lf_result *r, char *buf, size_t size) {
    int w;
    switch (r->kind) {
    case LF_TEST_PP: w = snprintf(buf, size, "pp%d", r->n_prompt); break;
    case LF_TEST_TG: w = snprintf(buf, size, "tg%d", r->n_gen); break;
    case LF_TEST_TTFT: w = snprintf(buf, size, "ttft%d", r->n_prompt); break;
    case LF_TEST_PG: w = snprintf(buf, size, "pp%d+tg%d", r->n_prompt, r->n_gen); break;
    default: w = snprintf(buf, size, "%s", lf_test_kind_name(r->kind)); break;
    }
    if (r->n_depth > 0 && w > 0 && (size_t)w < size)
        w += snprintf(buf + w, size - (size_t)w, " @d%d", r->n_depth);
    if (r->config[0] && w > 0 && (size_t)w < size)
        snprintf(buf + w, size - (size_t)w, " (%s)", r->config);
}

static void adapter_label(const lf_result *r, char *buf, size_t size) {
    if (!r->adapter[0] && r->n_adapters == 0)
        snprintf(buf, size, "-");
    else {
        lf_strlcpy(buf, r->adapter, size);
        size_t l = strlen(buf);
        if (r->adapter_mode == LF_ADAPTER_MERGED && l + 8 <= size)
            memcpy(buf + l, " merged", 8);
    }
}

static void value_label(const lf_result *r, char *buf, size_t size) {
    if (!isfinite(r->median))
        snprintf(buf, size, "-");
    else {
        double v = fabs(r->median);
        /* small times (an adapter swap) keep their significant digits */
        snprintf(buf, size, v >= 100 || v == 0 ? "%.1f %s" : v >= 1 ? "%.2f %s" : "%.4f %s", r->median,
                 r->unit == LF_UNIT_TPS ? "t/s" : "ms");
    }
}

static void spread_label(const lf_result *r, char *buf, size_t size) {
    if (isfinite(r->ci_low) && isfinite(r->ci_high) && r->median > 0)
        snprintf(buf, size, "+-%.1f%%", 100 * (r->ci_high - r->ci_low) / 2 / r->median);
    else
        snprintf(buf, size, "-");
}

static void frac_label(double v, char *buf, size_t size) {
    if (isfinite(v))
        snprintf(buf, size, "%.2f", v);
    else
        snprintf(buf, size, "-");
}

static void bytes_label(double v, char *buf, size_t size) {
    if (isfinite(v) && v > 0)
        lf_format_bytes(buf, size, v);
    else
        snprintf(buf, size, "-");
}

/* ---- table and markdown ------------------------------------------------------ */

#define NCOL 14
typedef struct cells {
    char c[NCOL][64];
} cells;

static const char *const hdr[NCOL] = {"model", "quant", "adapter", "isa", "t", "kv", "test", "median",
                                      "CI95", "n", "bytes/tok", "roof", "compute", "peak RSS"};

static void row_cells(const lf_result *r, cells *out) {
    lf_strlcpy(out->c[0], r->model, 64);
    lf_strlcpy(out->c[1], r->quant, 64);
    adapter_label(r, out->c[2], 64);
    lf_strlcpy(out->c[3], r->isa[0] ? r->isa : "-", 64);
    snprintf(out->c[4], 64, "%d", r->threads);
    lf_strlcpy(out->c[5], r->kv_type[0] ? r->kv_type : "-", 64);
    test_label(r, out->c[6], 64);
    value_label(r, out->c[7], 64);
    spread_label(r, out->c[8], 64);
    snprintf(out->c[9], 64, "%d", r->n_samples);
    bytes_label(r->bytes_per_token, out->c[10], 64);
    frac_label(r->roofline_frac, out->c[11], 64);
    frac_label(r->compute_frac, out->c[12], 64);
    bytes_label(r->peak_rss >= 0 ? (double)r->peak_rss : NAN, out->c[13], 64);
}

/* Model names, quants, paths and labels are untrusted (GGUF metadata, file
 * names): a terminal table shows them with control characters, C1 codes,
 * bidi overrides and bad UTF-8 as visible escapes; markdown gets them
 * cleaned and with what GitHub would interpret backslash-escaped. Writes
 * into buf (size >= 4 * strlen(s) + 1 holds all of it) and returns it. */
static const char *safe_text(const char *s, bool md, char *buf, size_t size) {
    if (!md)
        return lf_text_clean(buf, size, s, true);
    char clean[1024];
    lf_text_clean(clean, sizeof clean, s, false);
    size_t o = 0;
    for (const char *p = clean; *p && o + 3 < size; p++) {
        if (strchr("\\`*_[]<>|#!~", *p))
            buf[o++] = '\\';
        buf[o++] = *p;
    }
    buf[o] = '\0';
    return buf;
}

/* Writes rows (n x NCOL cells, header first) as an aligned table or
 * markdown; columns whose show[] is false are left out. */
static void emit(FILE *out, cells *rows, int n, const bool *show, bool md) {
    int w[NCOL] = {0};
    for (int i = 0; i < n; i++)
        for (int j = 0; j < NCOL; j++) {
            int l = (int)strlen(rows[i].c[j]);
            w[j] = l > w[j] ? l : w[j];
        }
    for (int i = 0; i < n; i++) {
        if (md)
            fputc('|', out);
        for (int j = 0, first = 1; j < NCOL; j++) {
            if (!show[j])
                continue;
            /* numbers right-aligned, text left */
            bool right = j >= 7 || j == 4;
            char cell[4 * 64 + 1];
            safe_text(rows[i].c[j], md, cell, sizeof cell);
            if (md)
                fprintf(out, " %s |", cell);
            else
                fprintf(out, "%s%*s%s", first ? "" : "  ", right ? w[j] : -w[j], cell, "");
            first = 0;
        }
        fputc('\n', out);
        if (i == 0) {
            if (md) {
                fputc('|', out);
                for (int j = 0; j < NCOL; j++)
                    if (show[j])
                        fprintf(out, "%s|", j >= 7 || j == 4 ? " ---: " : " --- ");
            } else {
                for (int j = 0, first = 1; j < NCOL; j++) {
                    if (!show[j])
                        continue;
                    fprintf(out, "%s", first ? "" : "  ");
                    for (int k = 0; k < w[j]; k++)
                        fputc('-', out);
                    first = 0;
                }
            }
            fputc('\n', out);
        }
    }
}

static bool same_except(const lf_result *a, const lf_result *b, bool threads, bool isa) {
    return a->kind == b->kind && !strcmp(a->model, b->model) && !strcmp(a->model_path, b->model_path) &&
           !strcmp(a->quant, b->quant) && !strcmp(a->adapter, b->adapter) &&
           a->adapter_mode == b->adapter_mode && a->n_prompt == b->n_prompt && a->n_gen == b->n_gen &&
           a->n_depth == b->n_depth && !strcmp(a->kv_type, b->kv_type) &&
           (threads || a->threads == b->threads) && (isa || !strcmp(a->isa, b->isa));
}

/* A pivot: one row per test, one column per thread count (by_isa false)
 * or ISA, each cell the median and its ratio to the first column. */
static void pivot(FILE *out, const lf_run_full *rf, bool by_isa, bool md) {
    int n = rf->n_results;
    int keys_i[64];
    char keys_s[16][16];
    int nk = 0;
    for (int i = 0; i < n; i++) {
        const lf_result *r = &rf->results[i];
        bool have = false;
        for (int k = 0; k < nk; k++)
            have |= by_isa ? !strcmp(keys_s[k], r->isa) : keys_i[k] == r->threads;
        if (!have && nk < 16) {
            if (by_isa)
                lf_strlcpy(keys_s[nk], r->isa, sizeof keys_s[0]);
            else
                keys_i[nk] = r->threads;
            nk++;
        }
    }
    if (!by_isa)   /* ascending thread counts */
        for (int i = 1; i < nk; i++)
            for (int j = i; j > 0 && keys_i[j - 1] > keys_i[j]; j--) {
                int t = keys_i[j];
                keys_i[j] = keys_i[j - 1];
                keys_i[j - 1] = t;
            }
    fprintf(out, md ? "\n### %s\n\n" : "\n%s\n",
            by_isa ? "ISA comparison (median, ratio to the first ISA)"
                   : "Thread scaling (median, speed-up over the fewest threads)");
    char *done = calloc((size_t)n, 1);
    if (!done)
        return;
    /* header */
    fprintf(out, md ? "| test |" : "%-60s", md ? "" : "test");
    for (int k = 0; k < nk; k++) {
        char h[32];
        if (by_isa)
            lf_strlcpy(h, keys_s[k], sizeof h);
        else
            snprintf(h, sizeof h, "t=%d", keys_i[k]);
        fprintf(out, md ? " %s |" : "  %22s", h);
    }
    fputc('\n', out);
    if (md) {
        fputs("| --- |", out);
        for (int k = 0; k < nk; k++)
            fputs(" ---: |", out);
        fputc('\n', out);
    }
    for (int i = 0; i < n; i++) {
        if (done[i])
            continue;
        const lf_result *r = &rf->results[i];
        if (r->unit != LF_UNIT_TPS && r->kind != LF_TEST_TTFT)
            continue;
        char name[160], t[48], ad[64];
        test_label(r, t, sizeof t);
        adapter_label(r, ad, sizeof ad);
        if (by_isa)
            snprintf(name, sizeof name, "%.40s %.12s %.30s t%d %.8s %.40s", r->model, r->quant, ad,
                     r->threads, r->kv_type, t);
        else
            snprintf(name, sizeof name, "%.40s %.12s %.30s %.8s %.40s", r->model, r->quant, ad, r->kv_type,
                     t);
        char sname[4 * sizeof name + 1];
        fprintf(out, md ? "| %s |" : "%-60.60s", safe_text(name, md, sname, sizeof sname));
        double first = NAN;
        for (int k = 0; k < nk; k++) {
            const lf_result *hit = NULL;
            for (int j = i; j < n && !hit; j++) {
                const lf_result *x = &rf->results[j];
                if (!done[j] && same_except(r, x, !by_isa, by_isa) &&
                    (by_isa ? !strcmp(x->isa, keys_s[k]) : x->threads == keys_i[k])) {
                    hit = x;
                    done[j] = 1;
                }
            }
            char cell[48] = "-";
            if (hit && isfinite(hit->median)) {
                if (!isfinite(first))
                    first = hit->median;
                double ratio = hit->unit == LF_UNIT_TPS ? hit->median / first : first / hit->median;
                snprintf(cell, sizeof cell, "%.2f (x%.2f)", hit->median, ratio);
            }
            fprintf(out, md ? " %s |" : "  %22s", cell);
        }
        fputc('\n', out);
    }
    free(done);
}

static void footer(FILE *out, const lf_run_full *rf, const lf_bench_summary *s, bool md) {
    const lf_run *run = &rf->run;
    char suite[4 * sizeof run->suite + 1], branch[4 * sizeof run->git_branch + 1];
    fprintf(out, "\n%srun %s (%s), suite %s, %d result%s", md ? "_" : "", run->uuid,
            lf_run_status_name(run->status), safe_text(run->suite, md, suite, sizeof suite),
            rf->n_results, rf->n_results == 1 ? "" : "s");
    if (run->git_commit[0])
        fprintf(out, ", commit %.12s%s%s%s", run->git_commit, run->git_branch[0] ? " (" : "",
                safe_text(run->git_branch, md, branch, sizeof branch), run->git_branch[0] ? ")" : "");
    if (s) {
        fprintf(out, ", %.1f s", s->wall_s);
        if (isfinite(s->harness_frac))
            fprintf(
                out,
                "; harness overhead %.0f ns per timed region = %.2g of the shortest tg repetition (%.*f ms)",
                s->harness_ns, s->harness_frac, s->shortest_tg_ns >= 1e8 ? 0 : 3, s->shortest_tg_ns / 1e6);
        if (isfinite(s->read_gbs))
            fprintf(out, "; roofs: read %.1f GB/s", s->read_gbs);
        if (isfinite(s->int8_gops))
            fprintf(out, ", int8 %.0f GOP/s", s->int8_gops);
        if (isfinite(s->fp32_gflops))
            fprintf(out, ", fp32 %.0f GFLOP/s", s->fp32_gflops);
        if (s->n_roof_samples)
            fprintf(out, " (measured %d times in the run)", s->n_roof_samples);
    }
    fprintf(out, "%s\n", md ? "_" : "");
}

static int write_tables(const lf_run_full *rf, const lf_bench_summary *s, FILE *out, bool md) {
    int n = rf->n_results;
    cells *rows = malloc(sizeof *rows * (size_t)(n + 1));
    if (!rows)
        return LF_ENOMEM;
    for (int j = 0; j < NCOL; j++)
        snprintf(rows[0].c[j], 64, "%s", hdr[j]);
    bool show[NCOL];
    for (int j = 0; j < NCOL; j++)
        show[j] = true;
    bool any_adapter = false, any_compute = false, any_roof = false, any_bytes = false, any_rss = false;
    /* a second distinct value means scaling / ISA tables are worth it */
    bool multi_t = false, multi_isa = false;
    int t0 = -1;
    for (int i = 0; i < n; i++) {
        const lf_result *r = &rf->results[i];
        row_cells(r, &rows[i + 1]);
        any_adapter |= r->adapter[0] != 0;
        any_roof |= isfinite(r->roofline_frac);
        any_bytes |= isfinite(r->bytes_per_token);
        any_compute |= strcmp(rows[i + 1].c[12], "-") != 0;
        any_rss |= r->peak_rss >= 0;
        if (r->unit == LF_UNIT_TPS) {
            if (t0 < 0)
                t0 = r->threads;
            multi_t |= r->threads != t0;
        }
        multi_isa |= strcmp(r->isa, rf->results[0].isa) != 0;
    }
    show[2] = any_adapter;
    show[3] = multi_isa;
    show[10] = any_bytes;
    show[11] = any_roof;
    show[12] = any_compute;
    show[13] = any_rss;
    if (md)
        fprintf(out, "## localfit bench: %s\n\n", rf->run.suite);
    emit(out, rows, n + 1, show, md);
    free(rows);
    if (multi_t)
        pivot(out, rf, false, md);
    if (multi_isa)
        pivot(out, rf, true, md);
    footer(out, rf, s, md);
    return ferror(out) ? LF_EIO : 0;
}

/* ---- CSV ---------------------------------------------------------------------- */

/* One line per result through common's CSV writer (6 significant digits). */
static int write_csv(const lf_run_full *rf, FILE *out) {
    lf_csv c;
    lf_csv_init_file(&c, out, 6);
    lf_csv_raw(&c, "run_uuid,test,model,model_path,quant,adapter,n_adapters,adapter_rank,"
                   "adapter_mode,threads,n_prompt,n_gen,n_depth,kv_type,isa,config,unit,median,"
                   "mean,stddev,ci_low,ci_high,n_samples,bytes_per_token,roofline_frac,"
                   "compute_frac,peak_rss,joules_per_token,energy_note");
    lf_csv_end(&c);
    for (int i = 0; i < rf->n_results; i++) {
        const lf_result *r = &rf->results[i];
        const char *text[] = {rf->run.uuid, lf_test_kind_name(r->kind), r->model,
                              r->model_path, r->quant, r->adapter};
        for (size_t k = 0; k < sizeof text / sizeof text[0]; k++)
            lf_csv_text(&c, text[k]);
        lf_csv_int(&c, r->n_adapters);
        lf_csv_int(&c, r->adapter_rank);
        lf_csv_text(&c, lf_adapter_mode_name(r->adapter_mode));
        const int counts[] = {r->threads, r->n_prompt, r->n_gen, r->n_depth};
        for (size_t k = 0; k < 4; k++)
            lf_csv_int(&c, counts[k]);
        lf_csv_text(&c, r->kv_type);
        lf_csv_text(&c, r->isa);
        lf_csv_text(&c, r->config);
        lf_csv_text(&c, lf_unit_name(r->unit));
        const double nums[] = {r->median, r->mean, r->stddev, r->ci_low, r->ci_high};
        for (size_t k = 0; k < 5; k++)
            lf_csv_real(&c, nums[k]);
        lf_csv_int(&c, r->n_samples);
        lf_csv_real(&c, r->bytes_per_token);
        lf_csv_real(&c, r->roofline_frac);
        lf_csv_real(&c, r->compute_frac);
        lf_csv_count(&c, r->peak_rss);
        lf_csv_real(&c, r->joules_per_token);
        lf_csv_text(&c, r->energy_note);
        lf_csv_end(&c);
    }
    return ferror(out) ? LF_EIO : 0;
}

/* ---- JSON ---------------------------------------------------------------------- */

static json_t *jnum_or_null(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *summary_json(const lf_bench_summary *s) {
    json_t *o = json_object();
    json_object_set_new(o, "wall_s", jnum_or_null(s->wall_s));
    json_object_set_new(o, "harness_ns", jnum_or_null(s->harness_ns));
    json_object_set_new(o, "shortest_tg_ns", jnum_or_null(s->shortest_tg_ns));
    json_object_set_new(o, "harness_frac", jnum_or_null(s->harness_frac));
    json_object_set_new(o, "n_results", json_integer(s->n_results));
    json_object_set_new(o, "n_planned", json_integer(s->n_planned));
    json_object_set_new(o, "n_skipped", json_integer(s->n_skipped));
    json_object_set_new(o, "read_gbs", jnum_or_null(s->read_gbs));
    json_object_set_new(o, "int8_gops", jnum_or_null(s->int8_gops));
    json_object_set_new(o, "fp32_gflops", jnum_or_null(s->fp32_gflops));
    json_object_set_new(o, "n_roof_samples", json_integer(s->n_roof_samples));
    json_object_set_new(o, "interrupted", json_boolean(s->interrupted));
    return o;
}

static int write_json(const lf_run_full *rf, const lf_bench_summary *s, FILE *out, bool lines,
                      lf_error *err) {
    char *text = NULL;
    int rc = lf_store_run_full_to_json(rf, true, &text, err);
    if (rc < 0)
        return rc;
    json_error_t je;
    json_t *run = json_loads(text, 0, &je);
    free(text);
    if (!run)
        return lf_error_set(err, LF_ENOMEM, "bench output: %s", je.text);
    json_t *results = json_incref(json_object_get(run, "results"));
    json_object_del(run, "results");
    json_object_del(run, "quality");
    if (!results)
        results = json_array();
    if (lines) {
        size_t i;
        json_t *r;
        json_array_foreach(results, i, r) {
            json_object_set_new(r, "schema", json_string(LF_BENCH_SCHEMA));
            json_object_set(r, "run_uuid", json_object_get(run, "uuid"));
            json_object_set(r, "suite", json_object_get(run, "suite"));
            json_object_set(r, "device_id", json_object_get(run, "device_id"));
            json_object_set(r, "git_commit", json_object_get(run, "git_commit"));
            /* ASCII only: names may hold C1 controls or bidi overrides */
            char *line = json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(10) | JSON_ENSURE_ASCII);
            if (!line) {
                rc = lf_error_set(err, LF_ENOMEM, "bench output: out of memory");
                break;
            }
            fprintf(out, "%s\n", line);
            free(line);
        }
    } else {
        json_t *doc = json_object();
        json_object_set_new(doc, "schema", json_string(LF_BENCH_SCHEMA));
        json_object_set(doc, "run", run);
        json_object_set(doc, "results", results);
        if (s)
            json_object_set_new(doc, "summary", summary_json(s));
        char *t = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(10) | JSON_ENSURE_ASCII);
        json_decref(doc);
        if (!t)
            rc = lf_error_set(err, LF_ENOMEM, "bench output: out of memory");
        else
            fprintf(out, "%s\n", t);
        free(t);
    }
    json_decref(results);
    json_decref(run);
    if (rc == 0 && ferror(out))
        rc = lf_error_set(err, LF_EIO, "bench output: write error");
    return rc;
}

int lf_bench_write(const lf_run_full *rf, const lf_bench_summary *summary, lf_bench_format fmt, FILE *out,
                   lf_error *err) {
    int rc;
    switch (fmt) {
    case LF_BENCH_OUT_TABLE: rc = write_tables(rf, summary, out, false); break;
    case LF_BENCH_OUT_MD: rc = write_tables(rf, summary, out, true); break;
    case LF_BENCH_OUT_CSV: rc = write_csv(rf, out); break;
    case LF_BENCH_OUT_JSON: return write_json(rf, summary, out, false, err);
    case LF_BENCH_OUT_JSONL: return write_json(rf, summary, out, true, err);
    case LF_BENCH_OUT_NONE: return 0;
    default: return lf_error_set(err, LF_EINVAL, "bench output: unknown format %d", (int)fmt);
    }
    if (rc == LF_ENOMEM)
        return lf_error_set(err, rc, "bench output: out of memory");
    if (rc < 0)
        return lf_error_set(err, rc, "bench output: write error");
    fflush(out);
    return 0;
}
