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
        {"sql", LF_BENCH_OUT_SQL},     {"none", LF_BENCH_OUT_NONE},
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

#define NCOL 15
typedef struct cells {
    char c[NCOL][64];
} cells;

static const char *const hdr[NCOL] = {"model", "quant", "adapter", "isa", "t", "kv", "test", "median",
                                      "CI95", "n", "bytes/tok", "roof", "compute", "peak RSS", "engine"};

/* Numbers are right-aligned, text left. */
static bool right_aligned(int j) { return (j >= 7 && j <= 13) || j == 4; }

static bool is_localfit(const lf_result *r) { return !r->engine[0] || !strcmp(r->engine, "localfit"); }

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
    lf_strlcpy(out->c[14], r->engine[0] ? r->engine : "localfit", 64);
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
            bool right = right_aligned(j);
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
                        fprintf(out, "%s|", right_aligned(j) ? " ---: " : " --- ");
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
           (threads || a->threads == b->threads) && (isa || !strcmp(a->isa, b->isa)) &&
           !strcmp(a->engine, b->engine);
}

/* localfit beside llama.cpp: one row per test both engines ran, each
 * engine's median and localfit's speed over llama.cpp's (> 1: localfit is
 * faster). The llama.cpp result carries localfit's identity but no ISA,
 * so it pairs with the localfit result of every ISA. */
static void engines_table(FILE *out, const lf_run_full *rf, bool md) {
    fprintf(out, md ? "\n### %s\n\n| test | localfit | llama.cpp | localfit / llama.cpp |\n"
                      "| --- | ---: | ---: | ---: |\n"
                    : "\n%s\n%-60s  %14s  %14s  %20s\n",
            "Engines (median; localfit's speed over llama.cpp's)", "test", "localfit", "llama.cpp",
            "localfit / llama.cpp");
    for (int i = 0; i < rf->n_results; i++) {
        const lf_result *a = &rf->results[i];
        if (!is_localfit(a) || !isfinite(a->median))
            continue;
        for (int j = 0; j < rf->n_results; j++) {
            const lf_result *b = &rf->results[j];
            if (is_localfit(b) || !isfinite(b->median) || b->median <= 0 || a->kind != b->kind ||
                strcmp(a->model, b->model) || strcmp(a->quant, b->quant) || strcmp(a->adapter, b->adapter) ||
                a->threads != b->threads || a->n_prompt != b->n_prompt || a->n_gen != b->n_gen ||
                a->n_depth != b->n_depth || strcmp(a->kv_type, b->kv_type))
                continue;
            char name[160], t[48], sname[4 * sizeof name + 1];
            test_label(a, t, sizeof t);
            snprintf(name, sizeof name, "%.40s %.12s t%d %.8s %.40s%s%s", a->model, a->quant, a->threads,
                     a->kv_type, t, a->isa[0] ? " " : "", a->isa);
            double ratio = a->unit == LF_UNIT_TPS ? a->median / b->median : b->median / a->median;
            fprintf(out, md ? "| %s | %.2f | %.2f | %.2f |\n" : "%-60.60s  %14.2f  %14.2f  %20.2f\n",
                    safe_text(name, md, sname, sizeof sname), a->median, b->median, ratio);
        }
    }
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
        if (s->n_roof_samples == 1)
            fprintf(out, " (measured once in the run)");
        else if (s->n_roof_samples > 1)
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
    bool multi_t = false, multi_isa = false, multi_engine = false;
    const lf_result *first_local = NULL;
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
        /* llama.cpp's rows have no ISA of localfit's */
        if (is_localfit(r)) {
            if (!first_local)
                first_local = r;
            multi_isa |= strcmp(r->isa, first_local->isa) != 0;
        }
        multi_engine |= !is_localfit(r);
    }
    show[2] = any_adapter;
    show[3] = multi_isa;
    show[10] = any_bytes;
    show[11] = any_roof;
    show[12] = any_compute;
    show[13] = any_rss;
    show[14] = multi_engine;
    if (md)
        fprintf(out, "## localfit bench: %s\n\n", rf->run.suite);
    emit(out, rows, n + 1, show, md);
    free(rows);
    if (multi_t)
        pivot(out, rf, false, md);
    if (multi_isa)
        pivot(out, rf, true, md);
    if (multi_engine)
        engines_table(out, rf, md);
    footer(out, rf, s, md);
    return ferror(out) ? LF_EIO : 0;
}

/* ---- CSV and SQL ---------------------------------------------------------------- */

/* The columns of a result line, for CSV and SQL alike: name, SQL type, and
 * whether the value is text (else a number, written with 6 significant
 * digits; empty / NULL when unknown). */
typedef struct col {
    const char *name, *sql;
} col;
static const col cols[] = {
    {"run_uuid", "TEXT"},      {"test", "TEXT"},         {"model", "TEXT"},
    {"model_path", "TEXT"},    {"quant", "TEXT"},        {"adapter", "TEXT"},
    {"n_adapters", "INTEGER"}, {"adapter_rank", "INTEGER"}, {"adapter_mode", "TEXT"},
    {"threads", "INTEGER"},    {"n_prompt", "INTEGER"},  {"n_gen", "INTEGER"},
    {"n_depth", "INTEGER"},    {"kv_type", "TEXT"},      {"isa", "TEXT"},
    {"config", "TEXT"},        {"unit", "TEXT"},         {"median", "REAL"},
    {"mean", "REAL"},          {"stddev", "REAL"},       {"ci_low", "REAL"},
    {"ci_high", "REAL"},       {"n_samples", "INTEGER"}, {"bytes_per_token", "REAL"},
    {"roofline_frac", "REAL"}, {"compute_frac", "REAL"}, {"peak_rss", "INTEGER"},
    {"joules_per_token", "REAL"}, {"energy_note", "TEXT"}, {"engine", "TEXT"},
};
#define NCOLS ((int)(sizeof cols / sizeof cols[0]))

/* Result r's value of every column: text points into r (or static
 * strings), numbers are formatted into num[k]; *known[k] false when the
 * value is unknown (empty in CSV, NULL in SQL). */
static void col_values(const lf_run_full *rf, const lf_result *r, const char *v[NCOLS], char num[NCOLS][40],
                       bool known[NCOLS]) {
    const char *text[NCOLS] = {
        [0] = rf->run.uuid, [1] = lf_test_kind_name(r->kind), [2] = r->model, [3] = r->model_path,
        [4] = r->quant, [5] = r->adapter, [8] = lf_adapter_mode_name(r->adapter_mode), [13] = r->kv_type,
        [14] = r->isa, [15] = r->config, [16] = lf_unit_name(r->unit), [28] = r->energy_note,
        [29] = r->engine,
    };
    const int64_t ints[NCOLS] = {[6] = r->n_adapters, [7] = r->adapter_rank, [9] = r->threads,
                                 [10] = r->n_prompt, [11] = r->n_gen, [12] = r->n_depth,
                                 [22] = r->n_samples, [26] = r->peak_rss};
    const double reals[NCOLS] = {[17] = r->median, [18] = r->mean, [19] = r->stddev, [20] = r->ci_low,
                                 [21] = r->ci_high, [23] = r->bytes_per_token, [24] = r->roofline_frac,
                                 [25] = r->compute_frac, [27] = r->joules_per_token};
    for (int k = 0; k < NCOLS; k++) {
        known[k] = true;
        if (!strcmp(cols[k].sql, "TEXT")) {
            v[k] = text[k];
        } else if (!strcmp(cols[k].sql, "INTEGER")) {
            snprintf(num[k], sizeof num[k], "%lld", (long long)ints[k]);
            known[k] = k != 26 || ints[k] >= 0;   /* peak_rss: -1 unknown */
            v[k] = num[k];
        } else {
            snprintf(num[k], sizeof num[k], "%.6g", reals[k]);
            known[k] = isfinite(reals[k]);
            v[k] = num[k];
        }
    }
}

/* One line per result through common's CSV writer. */
static int write_csv(const lf_run_full *rf, FILE *out) {
    lf_csv c;
    lf_csv_init_file(&c, out, 6);
    for (int k = 0; k < NCOLS; k++)
        lf_csv_raw(&c, cols[k].name);
    lf_csv_end(&c);
    for (int i = 0; i < rf->n_results; i++) {
        const char *v[NCOLS];
        char num[NCOLS][40];
        bool known[NCOLS];
        col_values(rf, &rf->results[i], v, num, known);
        for (int k = 0; k < NCOLS; k++) {
            if (!strcmp(cols[k].sql, "TEXT"))
                lf_csv_text(&c, v[k]);
            else
                lf_csv_raw(&c, known[k] ? v[k] : "");
        }
        lf_csv_end(&c);
    }
    return ferror(out) ? LF_EIO : 0;
}

/* SQL as llama-bench writes it (`-o sql`): a CREATE TABLE IF NOT EXISTS
 * with one typed column per field, a blank line, then one INSERT per
 * result with every value single-quoted (quotes doubled); the column types
 * give the numbers their affinity. Unknown values are NULL. Text is
 * cleaned of control characters first, so the script is one statement a
 * line whatever a model name holds. */
static int write_sql(const lf_run_full *rf, FILE *out) {
    fputs("CREATE TABLE IF NOT EXISTS localfit_bench (\n", out);
    for (int k = 0; k < NCOLS; k++)
        fprintf(out, "  %s %s%s\n", cols[k].name, cols[k].sql, k + 1 < NCOLS ? "," : "");
    fputs(");\n\n", out);
    for (int i = 0; i < rf->n_results; i++) {
        const char *v[NCOLS];
        char num[NCOLS][40];
        bool known[NCOLS];
        col_values(rf, &rf->results[i], v, num, known);
        fputs("INSERT INTO localfit_bench (", out);
        for (int k = 0; k < NCOLS; k++)
            fprintf(out, "%s%s", k ? ", " : "", cols[k].name);
        fputs(") VALUES (", out);
        for (int k = 0; k < NCOLS; k++) {
            if (k)
                fputs(", ", out);
            if (!known[k]) {
                fputs("NULL", out);
                continue;
            }
            char clean[4 * 1024 + 1];
            lf_text_clean(clean, sizeof clean, v[k], true);
            fputc('\'', out);
            for (const char *p = clean; *p; p++) {
                if (*p == '\'')
                    fputc('\'', out);
                fputc(*p, out);
            }
            fputc('\'', out);
        }
        fputs(");\n", out);
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
    case LF_BENCH_OUT_SQL: rc = write_sql(rf, out); break;
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
