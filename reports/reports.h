/*
 * reports — capability reports: markdown, self-contained HTML and JSON, with
 * plots drawn by gnuplot through a pipe. The renderers work from the module's
 * own plain input structs (below) and know no other localfit module; tests
 * and `--demo` fill those by hand, and lf_report_from_store (from_store.c,
 * the one file that reads the store, probes and recommender) fills them from
 * the results database.
 *
 * Every string in the input is untrusted (model names and metadata come from
 * strangers' files): the renderers escape each one for its destination —
 * HTML text and attributes, markdown table cells, CSV fields, JSON (jansson),
 * gnuplot single-quoted strings — and no shell ever sees any of it (gnuplot
 * is started with posix_spawn and a fixed argv; the script goes to its stdin).
 *
 * Usage:
 *     lf_report_input in = {.title = "My laptop", .generated = time(NULL),
 *                           .tool_version = "0.1.0",
 *                           .devices = devs, .n_devices = 1,
 *                           .results = rows, .n_results = n};
 *     lf_report_opts opts = {0};                 // gnuplot from PATH
 *     char path[4096];
 *     lf_error err = {0};
 *     int rc = lf_report_write(&in, LF_REPORT_HTML, "out", &opts,
 *                              path, sizeof path, &err);
 *     if (rc == 0 || rc == LF_ETOOL) printf("%s\n", path);  // written
 *     if (rc < 0) fprintf(stderr, "localfit: %s\n", err.msg);
 *
 * Files written into out_dir: report.md | report.html | report.json (by
 * format), results.csv (every result row), and per plot NAME.png and
 * NAME.svg (names: roofline, throughput-tg, throughput-pp, quality,
 * threads, history, devices). report.html embeds the PNGs as data: URIs and
 * references nothing outside itself.
 *
 * Numbers: a double that is not finite (NAN) means "not measured / not
 * known" and renders as a dash (JSON null); integer counts use 0 for that.
 */
#ifndef LF_REPORTS_H
#define LF_REPORTS_H

#include "common/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One "key: value" line of a device profile ("CPU", "AMD EPYC 9R14"). */
typedef struct lf_report_kv {
    const char *key;
    const char *value;
} lf_report_kv;

/* One point of the measured read-bandwidth scaling curve. */
typedef struct lf_report_bw_point {
    int threads;
    double gbs;                   /* GB/s (1e9 bytes/s) */
} lf_report_bw_point;

typedef struct lf_report_device {
    const char *id;               /* stable fingerprint; results refer to it */
    const char *slug;             /* readable name, "amd-epyc-9r14-2c-24g" */
    const lf_report_kv *profile;  /* CPU, ISA, cores/threads, memory, GPUs … */
    size_t n_profile;
    double bandwidth_gbs;         /* measured read bandwidth, all threads, GB/s */
    double peak_fp32_gflops;      /* measured FP32 FMA peak, all cores, GFLOP/s */
    double peak_int8_gops;        /* measured int8 dot peak, all cores, GOP/s */
    const lf_report_bw_point *bw_curve;   /* by ascending threads */
    size_t n_bw_curve;
} lf_report_device;

/* One benchmark result (a median over repetitions). The unit follows the
 * test: "pp" and "tg" are tokens/s (higher is better), every other test
 * (ttft, load, swap, …) is milliseconds (lower is better); see
 * lf_report_test_unit. */
typedef struct lf_report_result {
    const char *device_id;
    const char *model;
    const char *quant;            /* "Q4_K_M" */
    const char *adapter;          /* NULL or "" = none */
    const char *test;             /* "pp", "tg", "ttft", … */
    int threads, n_prompt, n_gen, depth;   /* depth = context already filled */
    double value;                 /* tokens/s or ms, median */
    double ci_low, ci_high;       /* 95% CI of the median, same unit */
    double bytes_per_token;       /* bytes read from memory per token (for pp
                                     amortised over the batch) */
    double roofline_fraction;     /* achieved / bandwidth-roofline, 0..1 */
    double flops_per_token;       /* NAN/0 = 2 × parameters, derived from
                                     weight_bytes and bits_per_weight */
    uint64_t weight_bytes;        /* model weights, bytes */
    double bits_per_weight;
    const char *commit;           /* git commit of the build measured */
    int64_t timestamp;            /* unix seconds */
    const char *kv_type;          /* KV cache type ("q8_0"); NULL or "" = the
                                     default f16, not shown */
} lf_report_result;

typedef enum lf_report_source {
    LF_REPORT_MEASURED = 0,       /* measured on our own tokens */
    LF_REPORT_PUBLISHED,          /* from published tables */
} lf_report_source;

/* What a quality variant "A=B" means, as sweep stores a level that fell
 * back to other types, in the words sweep's table and the report's quality
 * table both print under it: one text, so the two cannot drift apart. */
#define LF_QUALITY_COLLAPSED_NOTE                                                              \
    "A=B: level A's K-quant blocks do not fit this model's rows (not a multiple of 256 "        \
    "elements), so it fell back to other types, B's holding the most bytes; where its size is " \
    "B's too, it is B under another name."

/* Quality of one quantization of a model against its full-precision base. */
typedef struct lf_report_quality {
    const char *model;
    const char *quant;            /* "Q6_K=Q8_0": a collapsed level */
    double bpw;                   /* bits per weight */
    double kld;                   /* mean KL divergence, nats */
    double ppl;                   /* perplexity */
    double same_top;              /* same-top-token rate, 0..1 */
    lf_report_source source;
} lf_report_quality;

typedef enum lf_report_label {
    LF_REPORT_LABEL_MEASURED = 0, /* a stored measurement */
    LF_REPORT_LABEL_CALIBRATED,   /* model calibrated on this device */
    LF_REPORT_LABEL_ESTIMATED,    /* default efficiencies, wide interval */
} lf_report_label;

/* One row of the recommendation table (rank 0 = rejected candidate). */
typedef struct lf_report_rec {
    int rank;
    const char *model;
    const char *quant;
    double tg;                    /* predicted tokens/s */
    double tg_low, tg_high;       /* its interval */
    uint64_t memory_bytes;        /* weights + KV + overhead */
    double quality;               /* capability score of model at quant */
    lf_report_label label;
    const char *verdict;          /* "best", "fits", "rejected" … */
    const char *reason;           /* why it won or lost */
} lf_report_rec;

/* One point of the regression history: one test series at one commit. */
typedef struct lf_report_history {
    const char *commit;
    int64_t timestamp;            /* unix seconds; orders the commits */
    const char *test;             /* series name, "tg Llama-3.2-1B Q4_K_M" */
    double value;
} lf_report_history;

typedef struct lf_report_input {
    const char *title;
    int64_t generated;            /* unix seconds */
    const char *tool_version;
    bool sample;                  /* illustrative data: labelled as such */
    const lf_report_device *devices;  /* [0] is the device reported on; the
                                         others are compared with it */
    size_t n_devices;
    const lf_report_result *results;
    size_t n_results;
    const lf_report_quality *quality;
    size_t n_quality;
    const char *rec_constraints;  /* "min 15 t/s, context 4096", or NULL */
    const lf_report_rec *recs;
    size_t n_recs;
    const lf_report_history *history;
    size_t n_history;
} lf_report_input;

typedef enum lf_report_format {
    LF_REPORT_MD = 0,
    LF_REPORT_HTML,
    LF_REPORT_JSON,
} lf_report_format;

typedef struct lf_report_opts {
    const char *gnuplot;          /* program to run; NULL = "gnuplot" from
                                     PATH. Started without a shell, argv =
                                     {gnuplot, NULL}, cwd = out_dir. */
    bool no_plots;                /* render without pictures, saying so */
    bool quiet;                   /* no lf_warn (warnings stay in the report) */
} lf_report_opts;

/* Writes the report of `in` in format `fmt` into out_dir (created if
 * missing, one level), plus results.csv and the plots, and copies the
 * report's path into out_path (if not NULL).
 * Returns 0 when everything was written. Returns LF_ETOOL when the report
 * WAS written (out_path valid) but gnuplot failed on at least one plot: the
 * report shows each failure and err says which (exit status, gnuplot's
 * message). gnuplot not installed is not an error: the report renders
 * without pictures, says why, and warns. Other failures (LF_EINVAL for bad
 * arguments, LF_EIO for files, LF_ENOMEM) leave no report.
 * Not thread-safe for two calls on the same out_dir. */
int lf_report_write(const lf_report_input *in, lf_report_format fmt, const char *out_dir,
                    const lf_report_opts *opts, char *out_path, size_t out_path_size,
                    lf_error *err);

/* "md", "html", "json" <-> format; parse returns LF_EINVAL when unknown. */
const char *lf_report_format_name(lf_report_format fmt);
int lf_report_format_parse(const char *name, lf_report_format *out);

/* "t/s" for tests measured in tokens per second (pp, tg), else "ms". */
const char *lf_report_test_unit(const char *test);

/* ---- escaping ---------------------------------------------------------------
 * Each returns a new malloc'd NUL-terminated string (caller frees), or NULL
 * when out of memory; s == NULL is treated as "". Invalid UTF-8 bytes become
 * U+FFFD and control characters are dropped (newlines and tabs become a
 * space) in all of them. */
/* & < > " ' as entities: safe in text and in quoted attributes. */
char *lf_report_escape_html(const char *s);
/* For a markdown table cell: | \ ` * _ [ ] ~ escaped with a backslash,
 * & < > as entities (raw HTML in markdown is live), newlines a space. */
char *lf_report_escape_md(const char *s);
/* A CSV field by common's CSV writer (RFC 4180): double-quoted when it
 * holds a comma or quote or needs the guard, quotes doubled; a leading
 * = + - @ gets a ' so spreadsheets do not evaluate it as a formula. */
char *lf_report_escape_csv(const char *s);
/* A gnuplot single-quoted string literal INCLUDING its quotes: ' doubled,
 * newlines and control characters replaced by a space, cut to about 120
 * bytes (with "…") so a huge name cannot swamp a plot. Single quotes are
 * the one gnuplot string form with no backquote command substitution and
 * no backslash escapes; the plots also run with `noenhanced` text, so
 * @ & { } ^ _ print literally. */
char *lf_report_escape_gnuplot(const char *s);

/* ---- built-in sample -------------------------------------------------------
 * A realistic illustrative input (two devices, three models, five quants,
 * quality points, recommendations, history), marked `sample = true`, for
 * `localfit report --demo` and tests. */
typedef struct lf_report_sample lf_report_sample;

/* Builds the sample with the given generation time. Returns 0 or LF_ENOMEM;
 * *out is owned by the caller and freed with lf_report_sample_free. */
int lf_report_sample_new(int64_t generated, lf_report_sample **out, lf_error *err);
/* The input inside s; valid until lf_report_sample_free(s). */
const lf_report_input *lf_report_sample_input(const lf_report_sample *s);
void lf_report_sample_free(lf_report_sample *s);

/* ---- from the results store (from_store.c) ---------------------------------
 * Fills an lf_report_input from the results database: the device profile
 * (stored probe: profile lines, bandwidth and compute peaks, bandwidth curve),
 * the newest result of every test configuration on each device, quality rows
 * stored by `localfit sweep` / bench plus the published quants.csv points,
 * the recommendation table for the reported device (calibrated on its
 * results), and the history of each recurring test over git commits.
 *
 *     lf_report_store_opts o = {.device = NULL, .catalog = cat, .recommend = true};
 *     lf_report_bundle *b;
 *     if (lf_report_from_store(st, &o, &b, &err) < 0) die(err.msg);
 *     lf_report_write(lf_report_bundle_input(b), LF_REPORT_HTML, "out", NULL, ...);
 *     lf_report_bundle_free(b);
 */
struct lf_store;
struct lf_catalog;
struct lf_rec_constraints;

typedef struct lf_report_store_opts {
    const char *device;           /* id, id prefix or slug; NULL = this_device
                                     if stored, else the device of the
                                     newest run */
    const char *this_device;      /* id of the machine running this (the
                                     caller's quick probe: lf_device_current);
                                     NULL: none. Reports never probe. */
    const char *const *compare;   /* more devices, compared with the first */
    int n_compare;
    const struct lf_catalog *catalog;  /* NULL: no catalog byte counts, no
                                          published points, no recommendations */
    bool recommend;               /* compute the recommendation table */
    const struct lf_rec_constraints *constraints;   /* NULL = recommend's defaults */
    const char *title;            /* NULL = "localfit capability report: SLUG" */
} lf_report_store_opts;

typedef struct lf_report_bundle lf_report_bundle;

/* Builds the input from st. LF_ENOTFOUND when the store holds no device to
 * report on or a named device is unknown (the message says what is
 * stored), LF_EFORMAT for a stored profile that does not parse, LF_ENOMEM,
 * or the store's errors. *out is owned by the caller (lf_report_bundle_free). */
int lf_report_from_store(struct lf_store *st, const lf_report_store_opts *opts,
                         lf_report_bundle **out, lf_error *err);
/* The input inside b; valid until lf_report_bundle_free(b). generated and
 * tool_version are left for the caller to set. */
lf_report_input *lf_report_bundle_input(lf_report_bundle *b);
/* How the device was chosen ("this machine", "newest run's device: …"). */
const char *lf_report_bundle_note(const lf_report_bundle *b);
void lf_report_bundle_free(lf_report_bundle *b);

#endif /* LF_REPORTS_H */
