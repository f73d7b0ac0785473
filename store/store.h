/*
 * store — the results history: one SQLite file holding devices (the probe's
 * profile), runs (who measured what, from which build), results (one row per
 * test configuration with its statistics), the raw samples behind every
 * result, and quality measurements. Also reads llama-bench JSON/JSONL and
 * localfit bundles into it, and writes bundles and CSV out of it.
 *
 * Invariants (what a reader of the file may rely on):
 *  1. A run goes running -> complete | interrupted. lf_store_run_begin
 *     commits the `running` row at once; lf_store_run_finish sets the end.
 *     A run whose process died (kill -9, power loss) is shown as
 *     interrupted: readers compare the recorded host, pid and process start
 *     time with the live system, and a writable open persists the verdict.
 *  2. A result and all its samples are written in one transaction: after
 *     any crash a result is either absent or complete.
 *  3. The schema version is PRAGMA user_version. An older file is migrated
 *     forward in one transaction on a writable open; a newer one is refused
 *     before a single byte is written.
 *  4. Run UUIDs are unique; imports skip runs whose UUID is present, so
 *     importing the same file twice adds nothing.
 *  5. All SQL is parameterized; no value is ever formatted into SQL text.
 *
 * Concurrency: WAL journal, foreign keys on, a busy timeout, and every write
 * transaction is BEGIN IMMEDIATE, so several processes (two benches, a bench
 * and a report) can share one file. One lf_store is one connection: use it
 * from one thread at a time.
 *
 * Usage (what the bench runner does):
 *     lf_store *st; lf_error err = {0};
 *     char path[4096];
 *     if (lf_store_resolve_path(NULL, path, sizeof path, &err) < 0 ||
 *         lf_store_open(&st, path, 0, &err) < 0) die(err.msg);
 *     lf_store_device_put(st, dev_id, dev_slug, profile_json, &err);
 *     lf_run run;
 *     lf_store_run_init(&run);                 // uuid, host, pid, compiler...
 *     lf_git_info git;
 *     lf_store_detect_git(NULL, NULL, NULL, &git);
 *     lf_store_run_set_git(&run, &git);
 *     lf_strlcpy(run.device_id, dev_id, sizeof run.device_id);
 *     lf_strlcpy(run.suite, "quick", sizeof run.suite);
 *     lf_store_run_begin(st, &run, &err);       // run.id set, row committed
 *     lf_result r; lf_result_init(&r);
 *     r.kind = LF_TEST_TG; ... fill fields and statistics ...
 *     lf_store_result_add(st, run.id, &r, samples, n, &err);   // r.id set
 *     lf_store_run_finish(st, run.id, LF_RUN_COMPLETE, &err);
 *     lf_store_close(st);
 */
#ifndef LF_STORE_H
#define LF_STORE_H

#include "common/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The schema version this build writes and understands. */
#define LF_STORE_SCHEMA_VERSION 5

/* ======================================================================
 * Opening
 * ==================================================================== */

typedef struct lf_store lf_store;

enum lf_store_flags {
    LF_STORE_READONLY = 1 << 0,  /* never write: no migration, no repair */
    LF_STORE_NOCREATE = 1 << 1,  /* a missing file is LF_ENOTFOUND */
    LF_STORE_RO_FALLBACK = 1 << 2, /* writable if possible, else read-only
                                      (for commands that only read) */
};

/* Opens (creating it and its directory unless NOCREATE/READONLY) the
 * database at path, checks the schema version, migrates an older schema
 * (writable opens only), sets WAL / foreign keys / busy timeout, and marks
 * runs whose process is gone as interrupted (writable opens only).
 * Fails with LF_ENOTFOUND (missing file and NOCREATE or READONLY), LF_EIO
 * (cannot open or write the file: read-only file or directory, disk full;
 * the message names the file), LF_EUNSUPP (schema newer than
 * LF_STORE_SCHEMA_VERSION: nothing was written), LF_EFORMAT (not a SQLite
 * database or not a localfit one), LF_EDB (other SQLite failures). On
 * success *out is owned by the caller: lf_store_close it. */
int lf_store_open(lf_store **out, const char *path, int flags, lf_error *err);
/* lf_store_open on lf_store_resolve_path(db_flag): the --db flag, else
 * $LOCALFIT_DB, else the default path. */
int lf_store_open_path(lf_store **out, const char *db_flag, int flags, lf_error *err);
void lf_store_close(lf_store *st);                  /* NULL is fine */
const char *lf_store_path(const lf_store *st);      /* as opened; owned by st */
bool lf_store_readonly(const lf_store *st);
/* The schema version found in the file when it was opened (before any
 * migration), and whether a migration ran. */
int lf_store_schema_found(const lf_store *st);
bool lf_store_migrated(const lf_store *st);

/* $XDG_DATA_HOME/localfit/results.db, else ~/.local/share/localfit/results.db
 * ($HOME, else the password database). Does not create anything. Returns 0,
 * LF_ENOTFOUND when no home directory is known, LF_ERANGE when buf is too
 * small. */
int lf_store_default_path(char *buf, size_t size);
/* explicit_path (a --db flag) if not NULL/empty, else $LOCALFIT_DB, else the
 * default path. Same failures as lf_store_default_path, with err filled. */
int lf_store_resolve_path(const char *explicit_path, char *buf, size_t size, lf_error *err);

/* ======================================================================
 * Vocabulary: the enums stored as text in the database
 * ==================================================================== */

typedef enum lf_test_kind {
    LF_TEST_PP = 0,        /* prompt processing, tokens/s */
    LF_TEST_TG,            /* token generation, tokens/s */
    LF_TEST_PG,            /* prompt + generation in one timing (llama-bench -pg), tokens/s */
    LF_TEST_TTFT,          /* time to first token for a prompt, ms */
    LF_TEST_ADAPTER_LOAD,  /* LoRA adapter load, ms */
    LF_TEST_ADAPTER_SWAP,  /* LoRA adapter hot-swap, ms */
    LF_TEST_MODEL_LOAD,    /* model load, ms */
    LF_TEST_COUNT
} lf_test_kind;

typedef enum lf_unit {
    LF_UNIT_TPS = 0,       /* tokens per second: higher is better */
    LF_UNIT_MS,            /* milliseconds: lower is better */
    LF_UNIT_COUNT
} lf_unit;

typedef enum lf_adapter_mode {
    LF_ADAPTER_NONE = 0,   /* no adapter */
    LF_ADAPTER_RUNTIME,    /* y = Wx + s*B(Ax) at run time */
    LF_ADAPTER_MERGED,     /* folded into the base weights */
    LF_ADAPTER_MODE_COUNT
} lf_adapter_mode;

typedef enum lf_run_status {
    LF_RUN_RUNNING = 0,
    LF_RUN_COMPLETE,
    LF_RUN_INTERRUPTED,
    LF_RUN_STATUS_COUNT
} lf_run_status;

/* Names as stored ("pp", "tokens/s", "runtime", "complete"); static
 * strings, "?" for an out-of-range value. */
const char *lf_test_kind_name(lf_test_kind k);
const char *lf_unit_name(lf_unit u);
const char *lf_adapter_mode_name(lf_adapter_mode m);
const char *lf_run_status_name(lf_run_status s);
/* Parse the names above; LF_EINVAL for anything else. */
int lf_test_kind_parse(const char *s, lf_test_kind *out);
int lf_unit_parse(const char *s, lf_unit *out);
int lf_adapter_mode_parse(const char *s, lf_adapter_mode *out);
int lf_run_status_parse(const char *s, lf_run_status *out);
/* The natural unit of a test kind (tokens/s for pp/tg/pg, ms otherwise). */
lf_unit lf_test_kind_unit(lf_test_kind k);

/* ======================================================================
 * Records. Strings are fixed buffers (NUL-terminated, "" = unknown) so a
 * record is a plain value the caller owns; importers refuse, naming the
 * field, a string that does not fit. Doubles use NAN and integers -1 for
 * "unknown" (stored as NULL).
 * ==================================================================== */

typedef struct lf_git_info {
    char commit[64];       /* full hex sha, "" if unknown */
    char branch[256];      /* "" if unknown or detached */
    int dirty;             /* 1 dirty tree, 0 clean, -1 unknown */
    char source[16];       /* "override", "github", "gitlab", "git", "none" */
} lf_git_info;

typedef struct lf_run {
    int64_t id;                 /* database row id; 0 before run_begin */
    char uuid[40];              /* 8-4-4-4-12 lower-case hex */
    char tool_version[64];      /* "localfit 0.1.0", "llama-bench b5163" */
    char source[16];            /* "localfit" or "llama-bench" */
    char git_commit[64];
    char git_branch[256];
    int git_dirty;              /* 1, 0, -1 unknown */
    char compiler[128];         /* "gcc 12.2.0" */
    char cflags[512];           /* compile flags of the measured build */
    char suite[64];             /* "quick", a suite file name, "llama-bench" */
    char label[128];            /* free text given by the user */
    lf_run_status status;       /* as shown: a dead `running` reads interrupted */
    int64_t started_ms;         /* unix time, ms */
    int64_t finished_ms;        /* unix time, ms; 0 while running / unknown */
    char device_id[80];         /* devices.id; "" if none */
    char device_slug[80];       /* filled by queries from devices.slug */
    char host[128];             /* hostname of the writer ("" for imports) */
    int64_t pid;                /* writer process id, 0 for imports */
    int64_t proc_start;         /* writer start time (clock ticks since boot), 0 unknown */
    int n_results;              /* filled by queries */
} lf_run;

typedef struct lf_result {
    int64_t id;                 /* row id; set by lf_store_result_add */
    int64_t run_id;
    lf_test_kind kind;
    char model[128];            /* display name: catalog name or file stem */
    char model_path[512];       /* GGUF path or catalog name */
    char quant[32];             /* tensor type or mix name ("Q4_K_M") */
    char adapter[256];          /* adapter description, "" for none */
    int n_adapters;             /* 0 without adapters */
    int adapter_rank;           /* 0 without adapters */
    lf_adapter_mode adapter_mode;
    int threads;
    int n_prompt;               /* tokens */
    int n_gen;                  /* tokens */
    int n_depth;                /* tokens already in the KV cache */
    char kv_type[32];           /* "f16", "q8_0" */
    char isa[16];               /* kernel ISA level ("avx2"), "" for imports */
    char backend[64];           /* "cpu", or llama-bench's backends ("CUDA") */
    char engine[16];            /* who ran the test: "localfit" (the default, and
                                   rows from before schema v4) or "llama.cpp"
                                   (llama-bench, run by `bench --engine` or
                                   imported); part of the match key */
    char config[256];           /* other settings that make tests differ
                                   ("ngl=99 b=2048 ub=512 fa=1"); part of
                                   the match key in comparisons */
    lf_unit unit;               /* of every value below and of the samples */
    double median, mean, stddev;   /* of the samples; NAN unknown */
    double ci_low, ci_high;        /* 95% CI of the median; NAN unknown */
    int n_samples;              /* samples the statistics came from */
    double bytes_per_token;     /* bytes read per token; NAN unknown */
    double roofline_frac;       /* achieved / bandwidth roof, 0..1; NAN unknown */
    /* The bench's model and roof figures that other modules read (the
     * recommender, reports, sweep): named here so no reader parses extra.
     * Doubles, NAN unknown (stored NULL): byte and parameter counts stay
     * exact below 2^53 and kv_bytes is a mean over positions. Schema v3
     * back-fills them from the extra JSON of older rows and bundles. */
    double weight_bytes;        /* pp/tg: weight bytes read per pass (no adapter);
                                   for a MoE model the active bytes: a token's
                                   k of n experts */
    double n_params;            /* pp/tg: matrix-product parameters a token passes
                                   through (extra "params", older "n_params") */
    double kv_bytes;            /* pp/tg: KV-cache bytes read per token, mean over the test */
    double flops_per_token;     /* pp/tg: FLOP per token (2 x params + attention) */
    double roof_gbs;            /* pp/tg: read bandwidth roofline_frac is against, GB/s */
    double peak_gops;           /* pp: compute peak compute_frac is against, GOP/s */
    double compute_frac;        /* pp: achieved FLOP/s / peak_gops, 0..1 */
    /* What makes a model sparse (schema v5), recorded by bench from the
     * loaded model's hyperparameters, so a mixture-of-experts result is
     * known as one whatever file or shape it came from. -1 unknown (rows
     * from before v5, llama-bench imports), 0 for a dense model. */
    int n_expert;               /* experts per MoE layer */
    int n_expert_used;          /* experts a token reads per layer */
    double model_bytes;         /* every tensor as held in memory (a MoE model: all
                                   its experts), bytes; NAN unknown. v5 back-fills
                                   it from older rows' extra "model_bytes" */
    int64_t peak_rss;           /* bytes; -1 unknown */
    double joules_per_token;    /* NAN when not measurable ... */
    char energy_note[128];      /* ... and why ("no RAPL access") */
    char extra[1024];           /* JSON object of source-specific fields, "" none;
                                   for display only: what a module reads is a field above */
} lf_result;

typedef struct lf_quality {
    int64_t id, run_id;
    char model[128];
    char variant[64];           /* the quantization measured ("Q4_K_M"); a level
                                   that fell back to other types on the model's
                                   rows is "A=B" (reports.h, LF_QUALITY_COLLAPSED_NOTE) */
    /* value and its +- error; NAN when not measured */
    double ppl, ppl_err;
    double dppl, dppl_err;              /* ppl(variant) - ppl(base) */
    double ppl_ratio, ppl_ratio_err;    /* ppl(variant) / ppl(base) */
    double kld_mean, kld_mean_err;
    double kld_median, kld_median_err;
    double kld_p99, kld_p99_err;
    double kld_max, kld_max_err;
    double same_top, same_top_err;      /* rate 0..1 */
    int64_t n_tokens;                   /* scored tokens; -1 unknown */
    int ctx;                            /* window; -1 unknown */
} lf_quality;

/* A run with everything under it, as returned by lf_store_run_load.
 * samples[i] has n_samples_stored[i] values of results[i] (NULL if none). */
typedef struct lf_run_full {
    lf_run run;
    lf_result *results;
    double **samples;
    int *n_samples_stored;
    int n_results;
    lf_quality *quality;
    int n_quality;
} lf_run_full;
void lf_run_full_free(lf_run_full *rf);     /* frees members, not rf; NULL ok */

/* Zero a record and set the "unknown" markers (NAN, -1). */
void lf_result_init(lf_result *r);
void lf_quality_init(lf_quality *q);
/* Zeroes run, then fills a fresh random uuid, tool_version, compiler and
 * cflags of this build, host, pid, proc_start, git_dirty = -1 and
 * started_ms = now. The caller adds device, suite, label and git. */
void lf_store_run_init(lf_run *run);
void lf_store_run_set_git(lf_run *run, const lf_git_info *git);

/* ======================================================================
 * Writing
 * ==================================================================== */

/* Inserts the device or, if id exists, replaces its slug and profile and
 * bumps last_seen. profile_json is stored as given (opaque text; probes'
 * lf_device_to_json output). LF_EINVAL for an empty id. */
int lf_store_device_put(lf_store *st, const char *id, const char *slug,
                        const char *profile_json, lf_error *err);

/* Records run with status running and commits at once. Fills an empty
 * uuid (random), host/pid/proc_start when empty/0, started_ms when 0.
 * run->device_id must name a stored device or be "". Sets run->id.
 * LF_EINVAL (duplicate uuid, unknown device), LF_EIO, LF_EDB. */
int lf_store_run_begin(lf_store *st, lf_run *run, lf_error *err);
/* Sets status (LF_RUN_COMPLETE or LF_RUN_INTERRUPTED) and finished_ms.
 * LF_ENOTFOUND for an unknown run id. */
int lf_store_run_finish(lf_store *st, int64_t run_id, lf_run_status status, lf_error *err);
/* Inserts r under run_id with its n samples (same unit as r) in one
 * transaction; sets r->id and r->run_id. samples may be NULL when n == 0. */
int lf_store_result_add(lf_store *st, int64_t run_id, lf_result *r,
                        const double *samples, int n, lf_error *err);
int lf_store_quality_add(lf_store *st, int64_t run_id, lf_quality *q, lf_error *err);
/* Deletes the run, its results, samples and quality rows (cascade).
 * LF_ENOTFOUND for an unknown id. */
int lf_store_run_delete(lf_store *st, int64_t run_id, lf_error *err);

/* ======================================================================
 * Reading. Arrays returned through out pointers are malloc'd and owned by
 * the caller (free()); on failure they are NULL and the count 0.
 * ==================================================================== */

typedef struct lf_run_filter {
    const char *device_id;      /* exact, NULL any */
    const char *label;          /* exact, NULL any */
    const char *branch;         /* exact, NULL any */
    const char *commit;         /* prefix of git_commit, NULL any */
    const char *suite;          /* exact, NULL any */
    int status;                 /* an lf_run_status, or -1 any (shown status) */
    int64_t exclude_id;         /* leave this run out, 0 none */
    int limit;                  /* 0 = no limit */
} lf_run_filter;
#define LF_RUN_FILTER_INIT {NULL, NULL, NULL, NULL, NULL, -1, 0, 0}

/* Runs matching f (NULL: all), newest first (started_ms, then id). */
int lf_store_runs_list(lf_store *st, const lf_run_filter *f, lf_run **out, int *n,
                       lf_error *err);
/* The run whose uuid starts with prefix (case-insensitive, at least 1 hex
 * digit; the full uuid works too). LF_ENOTFOUND if none, LF_EINVAL if the
 * prefix names several (message lists how many). */
int lf_store_run_find(lf_store *st, const char *uuid_prefix, lf_run *out, lf_error *err);
int lf_store_run_get(lf_store *st, int64_t run_id, lf_run *out, lf_error *err);
/* The run, its results with samples, and its quality rows; rf owned by the
 * caller (lf_run_full_free). */
int lf_store_run_load(lf_store *st, int64_t run_id, lf_run_full *rf, lf_error *err);
/* Newest complete run on device_id (NULL: any device) matching the filter
 * fields branch/label/commit (NULL fields: any), other than exclude_id.
 * LF_ENOTFOUND if there is none. */
int lf_store_find_baseline(lf_store *st, const char *device_id, const char *branch,
                           const char *label, const char *commit, int64_t exclude_id,
                           lf_run *out, lf_error *err);
/* Every stored result of runs on a device, newest run first (for the
 * recommender's calibration and reports). kind < 0: all kinds. */
int lf_store_device_results(lf_store *st, const char *device_id, int kind,
                            lf_result **out, int *n, lf_error *err);
/* The stored profile JSON and slug of a device; *profile_json is malloc'd
 * (caller frees). LF_ENOTFOUND if unknown. slug may be NULL. */
int lf_store_device_get(lf_store *st, const char *id, char *slug, size_t slug_size,
                        char **profile_json, lf_error *err);

/* ======================================================================
 * Maintenance
 * ==================================================================== */

typedef struct lf_store_check {
    int schema_version;         /* in the file */
    bool integrity_ok;          /* PRAGMA integrity_check said "ok" */
    char integrity[512];        /* its first lines otherwise */
    int fk_violations;          /* rows from PRAGMA foreign_key_check */
    char journal_mode[16];
    int64_t n_devices, n_runs, n_results, n_samples, n_quality;
    int64_t n_running, n_interrupted;
} lf_store_check;
/* Runs the checks; 0 when they ran (whatever they found), <0 if they
 * could not run. */
int lf_store_check_db(lf_store *st, lf_store_check *out, lf_error *err);

/* ======================================================================
 * Build identity: git commit / branch of the code being measured.
 * Precedence: the overrides (a --commit / --branch flag), then CI
 * variables (GITHUB_SHA + GITHUB_HEAD_REF|GITHUB_REF_NAME, CI_COMMIT_SHA +
 * CI_COMMIT_REF_NAME), then `git rev-parse` / `git status` run in dir
 * (NULL: the current directory) with a fixed argv and no shell. A field
 * nothing could tell stays "" (dirty -1). Never fails.
 * ==================================================================== */
void lf_store_detect_git(const char *dir, const char *commit_override,
                         const char *branch_override, lf_git_info *out);

/* ======================================================================
 * Import / export
 * ==================================================================== */

typedef enum lf_import_format {
    LF_IMPORT_AUTO = 0,
    LF_IMPORT_BUNDLE,          /* localfit.bundle/1 */
    LF_IMPORT_LLAMA_JSON,      /* llama-bench -o json: an array of records */
    LF_IMPORT_LLAMA_JSONL,     /* llama-bench -o jsonl: one record per line */
} lf_import_format;

/* Fills r's median, mean, stddev, ci_low, ci_high from n samples. The
 * store computes median/mean/stddev itself but not the CI of the median,
 * which lives with the statistics in bench/ (which depends on store, not the
 * other way round); the CLI passes bench's summarizer here. */
typedef void (*lf_summarize_fn)(const double *x, int n, lf_result *r);

typedef struct lf_import_opts {
    lf_import_format format;
    lf_summarize_fn summarize;  /* NULL: CI left unknown for llama-bench */
    const char *label;          /* llama-bench: label for the new runs */
    const char *device_id;      /* llama-bench: attach to this stored device
                                   instead of one made from cpu_info/gpu_info */
} lf_import_opts;

typedef struct lf_import_stats {
    int runs_added, runs_skipped;   /* skipped: uuid already present */
    int results_added;
    int quality_added;
    int devices_added;
    lf_import_format format;        /* what was detected */
} lf_import_stats;

/* Imports text (len bytes, need not be NUL-terminated) named name (for
 * messages). All of it is written in one transaction: a malformed file adds
 * nothing (LF_EFORMAT naming the file and the record/key). llama-bench
 * records are grouped by build and machine into runs whose UUID is a hash of
 * their content, so re-importing (JSON or JSONL alike) adds nothing. */
int lf_store_import(lf_store *st, const char *name, const char *text, size_t len,
                    const lf_import_opts *opts, lf_import_stats *stats, lf_error *err);
/* Reads path ("-" = stdin) and calls lf_store_import. */
int lf_store_import_file(lf_store *st, const char *path, const lf_import_opts *opts,
                         lf_import_stats *stats, lf_error *err);

/* llama-bench's output (`-o json` or `-o jsonl`, text of len bytes named
 * name in messages) read into result records without storing anything:
 * each record as lf_store_import would store it (identity, statistics
 * through summarize (NULL: no CI), samples in tokens/s, engine
 * "llama.cpp"), in out->results / samples / n_samples_stored; out->run
 * gets the tool version, source and build commit. out is the caller's
 * (lf_run_full_free). LF_EFORMAT naming name and the record when the text
 * is not llama-bench output (empty, garbage, a record without n_prompt /
 * n_gen); LF_ENOMEM. On failure out is empty. */
int lf_store_llama_parse(const char *name, const char *text, size_t len, lf_summarize_fn summarize,
                         lf_run_full *out, lf_error *err);

/* Writes a "localfit.bundle/1" JSON document with the given runs (ids;
 * n == 0: all runs), their devices, results, samples and quality. */
int lf_store_export_bundle(lf_store *st, const int64_t *run_ids, int n, FILE *out,
                           lf_error *err);
/* Writes CSV: a header line, then one line per result with its run's
 * identity. Text fields are quoted when needed; a text field starting with
 * = + - @ gets a leading ' so spreadsheets do not run it as a formula. */
int lf_store_export_csv(lf_store *st, const int64_t *run_ids, int n, FILE *out,
                        lf_error *err);

/* JSON text of runs (an array of run objects, no results) and of one full
 * run (with results, samples if with_samples, and quality), as used in
 * bundles. *out is malloc'd (caller frees). */
int lf_store_runs_to_json(const lf_run *runs, int n, char **out, lf_error *err);
int lf_store_run_full_to_json(const lf_run_full *rf, bool with_samples, char **out,
                              lf_error *err);

/* ======================================================================
 * Small helpers shared with bench and cli
 * ==================================================================== */

/* Random RFC 4122 version-4 uuid into buf (>= 37 bytes), from getrandom. */
void lf_uuid_random(char *buf, size_t size);
/* Name-based uuid (RFC 9562 version 8, SHA-256 of data) into buf (>= 37). */
void lf_uuid_from_data(const void *data, size_t len, char *buf, size_t size);
/* SHA-256 of data into out[32]. */
void lf_sha256(const void *data, size_t len, uint8_t out[32]);
/* "2025-04-24T11:58:50.123Z" (UTC) into buf (>= 32); "" for ms <= 0. */
char *lf_format_time_ms(int64_t ms, char *buf, size_t size);
/* Parses ISO-8601 UTC "YYYY-MM-DDTHH:MM:SS[.fff]Z" (or without Z, or with
 * a +hh:mm offset). LF_EINVAL if malformed. */
int lf_parse_time_ms(const char *s, int64_t *out);
int64_t lf_wall_ms(void);                  /* CLOCK_REALTIME, ms */

#endif /* LF_STORE_H */
