/*
 * Runs, results, samples and quality rows: the vocabulary (enum <-> text as
 * stored), record initialisation, the run lifecycle (begin commits a
 * `running` row, each result commits with its samples, finish closes the
 * run), the queries the CLI, compare, recommend and reports need, and
 * deletion. Every statement is a constant with bound parameters.
 */
#include "store/internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef LF_VERSION
#define LF_VERSION "0.0.0"
#endif
#ifndef LF_BUILD_FLAGS
#define LF_BUILD_FLAGS ""
#endif

/* ---- vocabulary --------------------------------------------------------- */

static const char *const kind_names[LF_TEST_COUNT] = {
    [LF_TEST_PP] = "pp",
    [LF_TEST_TG] = "tg",
    [LF_TEST_PG] = "pg",
    [LF_TEST_TTFT] = "ttft",
    [LF_TEST_ADAPTER_LOAD] = "adapter_load",
    [LF_TEST_ADAPTER_SWAP] = "adapter_swap",
    [LF_TEST_MODEL_LOAD] = "model_load",
};
static const char *const unit_names[LF_UNIT_COUNT] = {
    [LF_UNIT_TPS] = "tokens/s",
    [LF_UNIT_MS] = "ms",
};
static const char *const mode_names[LF_ADAPTER_MODE_COUNT] = {
    [LF_ADAPTER_NONE] = "none",
    [LF_ADAPTER_RUNTIME] = "runtime",
    [LF_ADAPTER_MERGED] = "merged",
};
static const char *const status_names[LF_RUN_STATUS_COUNT] = {
    [LF_RUN_RUNNING] = "running",
    [LF_RUN_COMPLETE] = "complete",
    [LF_RUN_INTERRUPTED] = "interrupted",
};

static const char *name_of(const char *const *names, int count, int v) {
    return v >= 0 && v < count ? names[v] : "?";
}

static int parse_name(const char *const *names, int count, const char *s, int *out) {
    for (int i = 0; s && i < count; i++)
        if (strcmp(names[i], s) == 0) {
            *out = i;
            return 0;
        }
    return LF_EINVAL;
}

const char *lf_test_kind_name(lf_test_kind k) { return name_of(kind_names, LF_TEST_COUNT, (int)k); }
const char *lf_unit_name(lf_unit u) { return name_of(unit_names, LF_UNIT_COUNT, (int)u); }
const char *lf_adapter_mode_name(lf_adapter_mode m) {
    return name_of(mode_names, LF_ADAPTER_MODE_COUNT, (int)m);
}
const char *lf_run_status_name(lf_run_status s) {
    return name_of(status_names, LF_RUN_STATUS_COUNT, (int)s);
}

#define PARSE_ENUM(fn, type, names, count)            \
    int fn(const char *s, type *out) {                \
        int v;                                        \
        if (parse_name(names, count, s, &v) < 0)      \
            return LF_EINVAL;                         \
        *out = (type)v;                               \
        return 0;                                     \
    }
PARSE_ENUM(lf_test_kind_parse, lf_test_kind, kind_names, LF_TEST_COUNT)
PARSE_ENUM(lf_unit_parse, lf_unit, unit_names, LF_UNIT_COUNT)
PARSE_ENUM(lf_adapter_mode_parse, lf_adapter_mode, mode_names, LF_ADAPTER_MODE_COUNT)
PARSE_ENUM(lf_run_status_parse, lf_run_status, status_names, LF_RUN_STATUS_COUNT)
#undef PARSE_ENUM

lf_unit lf_test_kind_unit(lf_test_kind k) {
    return k == LF_TEST_PP || k == LF_TEST_TG || k == LF_TEST_PG ? LF_UNIT_TPS : LF_UNIT_MS;
}

/* ---- records ------------------------------------------------------------------ */

void lf_result_init(lf_result *r) {
    memset(r, 0, sizeof *r);
    r->median = r->mean = r->stddev = r->ci_low = r->ci_high = NAN;
    r->bytes_per_token = r->roofline_frac = r->joules_per_token = NAN;
    r->weight_bytes = r->n_params = r->kv_bytes = r->flops_per_token = NAN;
    r->roof_gbs = r->peak_gops = r->compute_frac = NAN;
    r->n_expert = r->n_expert_used = -1;
    r->model_bytes = NAN;
    r->peak_rss = -1;
    memcpy(r->engine, "localfit", sizeof "localfit");
}

void lf_quality_init(lf_quality *q) {
    memset(q, 0, sizeof *q);
    double *v[] = {&q->ppl, &q->ppl_err, &q->dppl, &q->dppl_err, &q->ppl_ratio,
                   &q->ppl_ratio_err, &q->kld_mean, &q->kld_mean_err, &q->kld_median,
                   &q->kld_median_err, &q->kld_p99, &q->kld_p99_err, &q->kld_max,
                   &q->kld_max_err, &q->same_top, &q->same_top_err};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        *v[i] = NAN;
    q->n_tokens = -1;
    q->ctx = -1;
}

int64_t lf_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lf_store_run_init(lf_run *run) {
    memset(run, 0, sizeof *run);
    lf_uuid_random(run->uuid, sizeof run->uuid);
    snprintf(run->tool_version, sizeof run->tool_version, "localfit %s", LF_VERSION);
    lf_strlcpy(run->source, "localfit", sizeof run->source);
#if defined(__clang__)
    snprintf(run->compiler, sizeof run->compiler, "clang %s", __clang_version__);
#elif defined(__GNUC__)
    snprintf(run->compiler, sizeof run->compiler, "gcc %s", __VERSION__);
#endif
    lf_strlcpy(run->cflags, LF_BUILD_FLAGS, sizeof run->cflags);
    run->git_dirty = -1;
    run->status = LF_RUN_RUNNING;
    run->started_ms = lf_wall_ms();
    if (gethostname(run->host, sizeof run->host - 1) < 0)
        run->host[0] = '\0';
    run->pid = (int64_t)getpid();
    run->proc_start = lf_proc_start_time(run->pid);
}

void lf_store_run_set_git(lf_run *run, const lf_git_info *git) {
    lf_strlcpy(run->git_commit, git->commit, sizeof run->git_commit);
    lf_strlcpy(run->git_branch, git->branch, sizeof run->git_branch);
    run->git_dirty = git->dirty;
}

void lf_run_full_free(lf_run_full *rf) {
    if (!rf)
        return;
    for (int i = 0; rf->samples && i < rf->n_results; i++)
        free(rf->samples[i]);
    free(rf->samples);
    free(rf->n_samples_stored);
    free(rf->results);
    free(rf->quality);
    memset(rf, 0, sizeof *rf);
}

/* A uuid as we store it: 36 characters, lower-case hex and dashes at 8,
 * 13, 18, 23. Normalises case in place. */
static bool uuid_normalise(char *u) {
    if (strlen(u) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? u[i] != '-' : !isxdigit((unsigned char)u[i]))
            return false;
        u[i] = (char)tolower((unsigned char)u[i]);
    }
    return true;
}

/* ---- devices ------------------------------------------------------------------ */

typedef struct device_row {
    const char *id, *slug, *profile_json;
} device_row;

static int device_put_body(lf_store *st, void *arg, lf_error *err) {
    const device_row *d = arg;
    sqlite3_stmt *s = NULL;
    int rc = lf_store_prepare(st,
                              "INSERT INTO devices (id, slug, profile, first_seen_ms, last_seen_ms) "
                              "VALUES (?1, ?2, ?3, ?4, ?4) "
                              "ON CONFLICT(id) DO UPDATE SET slug = excluded.slug, "
                              "profile = excluded.profile, last_seen_ms = excluded.last_seen_ms",
                              &s, err);
    if (rc < 0)
        return rc;
    lf_bind_text(s, 1, d->id);
    lf_bind_text(s, 2, d->slug);
    lf_bind_text(s, 3, d->profile_json && *d->profile_json ? d->profile_json : "{}");
    sqlite3_bind_int64(s, 4, lf_wall_ms());
    return lf_store_step_done(st, s, "storing a device", err);
}

int lf_store_device_put(lf_store *st, const char *id, const char *slug,
                        const char *profile_json, lf_error *err) {
    if (!id || !*id)
        return lf_error_set(err, LF_EINVAL, "storing a device: empty device id");
    int rc = lf_store_check_writable(st, err, "storing a device");
    if (rc < 0)
        return rc;
    device_row d = {id, slug, profile_json};
    return lf_store_in_tx(st, device_put_body, &d, err);
}

int lf_store_insert_device_if_absent(lf_store *st, const char *id, const char *slug,
                                     const char *profile_json, bool *added, lf_error *err) {
    sqlite3_stmt *s = NULL;
    int rc = lf_store_prepare(st,
                              "INSERT INTO devices (id, slug, profile, first_seen_ms, last_seen_ms) "
                              "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(id) DO NOTHING",
                              &s, err);
    if (rc < 0)
        return rc;
    lf_bind_text(s, 1, id);
    lf_bind_text(s, 2, slug);
    lf_bind_text(s, 3, profile_json && *profile_json ? profile_json : "{}");
    sqlite3_bind_int64(s, 4, lf_wall_ms());
    if ((rc = lf_store_step_done(st, s, "storing a device", err)) < 0)
        return rc;
    if (added)
        *added = sqlite3_changes(st->db) > 0;
    return 0;
}

int lf_store_device_get(lf_store *st, const char *id, char *slug, size_t slug_size,
                        char **profile_json, lf_error *err) {
    if (profile_json)
        *profile_json = NULL;
    sqlite3_stmt *s = NULL;
    int rc = lf_store_prepare(st, "SELECT slug, profile FROM devices WHERE id = ?1", &s, err);
    if (rc < 0)
        return rc;
    lf_bind_text(s, 1, id);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        if (slug)
            lf_col_text(s, 0, slug, slug_size);
        if (profile_json) {
            const char *p = (const char *)sqlite3_column_text(s, 1);
            *profile_json = strdup(p ? p : "{}");
            if (!*profile_json)
                rc = lf_error_set(err, LF_ENOMEM, "reading device %s: out of memory", id);
        }
    } else if (src == SQLITE_DONE) {
        rc = lf_error_set(err, LF_ENOTFOUND, "no device %s in %s", id, st->path);
    } else {
        rc = lf_store_sqlerr(st, src, err, "reading a device");
    }
    sqlite3_finalize(s);
    return rc;
}

/* ---- runs: writing -------------------------------------------------------------- */

int lf_store_uuid_exists(lf_store *st, const char *uuid, int64_t *id, lf_error *err) {
    sqlite3_stmt *s = NULL;
    int rc = lf_store_prepare(st, "SELECT id FROM runs WHERE uuid = ?1", &s, err);
    if (rc < 0)
        return rc;
    lf_bind_text(s, 1, uuid);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        if (id)
            *id = sqlite3_column_int64(s, 0);
        rc = 1;
    } else if (src == SQLITE_DONE) {
        rc = 0;
    } else {
        rc = lf_store_sqlerr(st, src, err, "looking up a run");
    }
    sqlite3_finalize(s);
    return rc;
}

int lf_store_insert_run(lf_store *st, lf_run *run, lf_error *err) {
    if (!uuid_normalise(run->uuid))
        return lf_error_set(err, LF_EINVAL, "run uuid \"%s\" is not a uuid", run->uuid);
    if ((int)run->status < 0 || run->status >= LF_RUN_STATUS_COUNT)
        return lf_error_set(err, LF_EINVAL, "run %s: invalid status %d", run->uuid,
                            (int)run->status);
    int64_t existing = 0;
    int rc = lf_store_uuid_exists(st, run->uuid, &existing, err);
    if (rc < 0)
        return rc;
    if (rc > 0)
        return lf_error_set(err, LF_EINVAL, "a run with uuid %s already exists in %s",
                            run->uuid, st->path);
    if (run->device_id[0]) {
        sqlite3_stmt *d = NULL;
        if ((rc = lf_store_prepare(st, "SELECT 1 FROM devices WHERE id = ?1", &d, err)) < 0)
            return rc;
        lf_bind_text(d, 1, run->device_id);
        int found = sqlite3_step(d) == SQLITE_ROW;
        sqlite3_finalize(d);
        if (!found)
            return lf_error_set(err, LF_EINVAL,
                                "run %s names device %s, which is not stored (lf_store_device_put it first)",
                                run->uuid, run->device_id);
    }
    sqlite3_stmt *s = NULL;
    rc = lf_store_prepare(st,
                          "INSERT INTO runs (uuid, tool_version, source, git_commit, git_branch, "
                          "git_dirty, compiler, cflags, suite, label, status, started_ms, "
                          "finished_ms, device_id, host, pid, proc_start) VALUES "
                          "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                          "?16, ?17)",
                          &s, err);
    if (rc < 0)
        return rc;
    lf_bind_text(s, 1, run->uuid);
    lf_bind_text(s, 2, run->tool_version);
    lf_bind_text(s, 3, run->source[0] ? run->source : "localfit");
    lf_bind_text(s, 4, run->git_commit);
    lf_bind_text(s, 5, run->git_branch);
    lf_bind_int_or_null(s, 6, run->git_dirty < 0 ? -1 : (run->git_dirty ? 1 : 0));
    lf_bind_text(s, 7, run->compiler);
    lf_bind_text(s, 8, run->cflags);
    lf_bind_text(s, 9, run->suite);
    lf_bind_text(s, 10, run->label);
    lf_bind_text(s, 11, lf_run_status_name(run->status));
    sqlite3_bind_int64(s, 12, run->started_ms);
    lf_bind_int_or_null(s, 13, run->finished_ms > 0 ? run->finished_ms : -1);
    if (run->device_id[0])
        lf_bind_text(s, 14, run->device_id);
    else
        sqlite3_bind_null(s, 14);
    lf_bind_text(s, 15, run->host);
    lf_bind_int_or_null(s, 16, run->pid > 0 ? run->pid : -1);
    lf_bind_int_or_null(s, 17, run->proc_start > 0 ? run->proc_start : -1);
    if ((rc = lf_store_step_done(st, s, "storing a run", err)) < 0)
        return rc;
    run->id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

static int insert_run_body(lf_store *st, void *run, lf_error *err) {
    return lf_store_insert_run(st, run, err);
}

int lf_store_run_begin(lf_store *st, lf_run *run, lf_error *err) {
    int rc = lf_store_check_writable(st, err, "starting a run");
    if (rc < 0)
        return rc;
    if (!run->uuid[0])
        lf_uuid_random(run->uuid, sizeof run->uuid);
    if (!run->host[0] && gethostname(run->host, sizeof run->host - 1) < 0)
        run->host[0] = '\0';
    if (run->pid <= 0) {
        run->pid = (int64_t)getpid();
        run->proc_start = lf_proc_start_time(run->pid);
    }
    if (run->started_ms <= 0)
        run->started_ms = lf_wall_ms();
    if (!run->source[0])
        lf_strlcpy(run->source, "localfit", sizeof run->source);
    run->status = LF_RUN_RUNNING;
    run->finished_ms = 0;
    return lf_store_in_tx(st, insert_run_body, run, err);
}

typedef struct run_status_change {
    int64_t run_id;
    lf_run_status status;
} run_status_change;

static int run_finish_body(lf_store *st, void *arg, lf_error *err) {
    const run_status_change *c = arg;
    sqlite3_stmt *s = NULL;
    int rc = lf_store_prepare(st, "UPDATE runs SET status = ?1, finished_ms = ?2 WHERE id = ?3",
                              &s, err);
    if (rc < 0)
        return rc;
    lf_bind_text(s, 1, lf_run_status_name(c->status));
    sqlite3_bind_int64(s, 2, lf_wall_ms());
    sqlite3_bind_int64(s, 3, c->run_id);
    if ((rc = lf_store_step_done(st, s, "finishing a run", err)) < 0)
        return rc;
    if (sqlite3_changes(st->db) == 0)
        return lf_error_set(err, LF_ENOTFOUND, "finishing run %lld: no such run in %s",
                            (long long)c->run_id, st->path);
    return 0;
}

int lf_store_run_finish(lf_store *st, int64_t run_id, lf_run_status status, lf_error *err) {
    if (status != LF_RUN_COMPLETE && status != LF_RUN_INTERRUPTED)
        return lf_error_set(err, LF_EINVAL, "finishing run %lld: status must be complete or "
                                            "interrupted", (long long)run_id);
    int rc = lf_store_check_writable(st, err, "finishing a run");
    if (rc < 0)
        return rc;
    run_status_change c = {run_id, status};
    return lf_store_in_tx(st, run_finish_body, &c, err);
}

/* ---- results -------------------------------------------------------------------- */

static int check_result(const lf_result *r, const double *samples, int n, lf_error *err) {
    if ((int)r->kind < 0 || r->kind >= LF_TEST_COUNT)
        return lf_error_set(err, LF_EINVAL, "result: invalid test kind %d", (int)r->kind);
    if ((int)r->unit < 0 || r->unit >= LF_UNIT_COUNT)
        return lf_error_set(err, LF_EINVAL, "result: invalid unit %d", (int)r->unit);
    if ((int)r->adapter_mode < 0 || r->adapter_mode >= LF_ADAPTER_MODE_COUNT)
        return lf_error_set(err, LF_EINVAL, "result: invalid adapter mode %d",
                            (int)r->adapter_mode);
    if (n < 0 || (n > 0 && !samples))
        return lf_error_set(err, LF_EINVAL, "result: %d samples given without values", n);
    /* counts are never negative: what is stored must export into a bundle
     * that imports again (bundles refuse negative counts) */
    const struct { const char *name; int v; } counts[] = {
        {"n_adapters", r->n_adapters}, {"adapter_rank", r->adapter_rank}, {"threads", r->threads},
        {"n_prompt", r->n_prompt},     {"n_gen", r->n_gen},               {"n_depth", r->n_depth},
        {"n_samples", r->n_samples},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (counts[i].v < 0)
            return lf_error_set(err, LF_EINVAL, "result %s %s: %s = %d is negative",
                                lf_test_kind_name(r->kind), r->model, counts[i].name, counts[i].v);
    if (r->n_expert >= 0 && r->n_expert_used > r->n_expert)
        return lf_error_set(err, LF_EINVAL, "result %s %s: n_expert_used = %d exceeds n_expert = %d",
                            lf_test_kind_name(r->kind), r->model, r->n_expert_used, r->n_expert);
    for (int i = 0; i < n; i++)
        if (!isfinite(samples[i]))
            return lf_error_set(err, LF_EINVAL, "result %s %s: sample %d is not a finite number",
                                lf_test_kind_name(r->kind), r->model, i);
    return 0;
}

int lf_store_insert_result(lf_store *st, int64_t run_id, lf_result *r,
                           const double *samples, int n, lf_error *err) {
    int rc = check_result(r, samples, n, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *s = NULL;
    rc = lf_store_prepare(st,
                          "INSERT INTO results (run_id, kind, model, model_path, quant, adapter, "
                          "n_adapters, adapter_rank, adapter_mode, threads, n_prompt, n_gen, "
                          "n_depth, kv_type, isa, backend, config, unit, median, mean, stddev, "
                          "ci_low, ci_high, n_samples, bytes_per_token, roofline_frac, peak_rss, "
                          "joules_per_token, energy_note, extra, weight_bytes, n_params, "
                          "kv_bytes, flops_per_token, roof_gbs, peak_gops, compute_frac, engine, "
                          "n_expert, n_expert_used, model_bytes) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                          "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, "
                          "?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, "
                          /* a figure only in extra (a bundle from before v3) */
                          "coalesce(?31, " LF_SQL_X_WEIGHT_BYTES("?30") "), "
                          "coalesce(?32, " LF_SQL_X_N_PARAMS("?30") "), "
                          "coalesce(?33, " LF_SQL_X_KV_BYTES("?30") "), "
                          "coalesce(?34, " LF_SQL_X_FLOPS_PER_TOKEN("?30") "), "
                          "coalesce(?35, " LF_SQL_X_ROOF_GBS("?30") "), "
                          "coalesce(?36, " LF_SQL_X_PEAK_GOPS("?30") "), "
                          "coalesce(?37, " LF_SQL_X_COMPUTE_FRAC("?30") "), "
                          "coalesce(nullif(?38, ''), 'localfit'), ?39, ?40, "
                          /* model_bytes of a bundle from before v5 is in extra */
                          "coalesce(?41, " LF_SQL_X_MODEL_BYTES("?30") "))",
                          &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run_id);
    lf_bind_text(s, 2, lf_test_kind_name(r->kind));
    lf_bind_text(s, 3, r->model);
    lf_bind_text(s, 4, r->model_path);
    lf_bind_text(s, 5, r->quant);
    lf_bind_text(s, 6, r->adapter);
    sqlite3_bind_int(s, 7, r->n_adapters);
    sqlite3_bind_int(s, 8, r->adapter_rank);
    lf_bind_text(s, 9, lf_adapter_mode_name(r->adapter_mode));
    sqlite3_bind_int(s, 10, r->threads);
    sqlite3_bind_int(s, 11, r->n_prompt);
    sqlite3_bind_int(s, 12, r->n_gen);
    sqlite3_bind_int(s, 13, r->n_depth);
    lf_bind_text(s, 14, r->kv_type);
    lf_bind_text(s, 15, r->isa);
    lf_bind_text(s, 16, r->backend);
    lf_bind_text(s, 17, r->config);
    lf_bind_text(s, 18, lf_unit_name(r->unit));
    lf_bind_real_or_null(s, 19, r->median);
    lf_bind_real_or_null(s, 20, r->mean);
    lf_bind_real_or_null(s, 21, r->stddev);
    lf_bind_real_or_null(s, 22, r->ci_low);
    lf_bind_real_or_null(s, 23, r->ci_high);
    sqlite3_bind_int(s, 24, r->n_samples);
    lf_bind_real_or_null(s, 25, r->bytes_per_token);
    lf_bind_real_or_null(s, 26, r->roofline_frac);
    lf_bind_int_or_null(s, 27, r->peak_rss);
    lf_bind_real_or_null(s, 28, r->joules_per_token);
    lf_bind_text(s, 29, r->energy_note);
    lf_bind_text(s, 30, r->extra);
    const double promoted[] = {r->weight_bytes, r->n_params, r->kv_bytes, r->flops_per_token,
                               r->roof_gbs, r->peak_gops, r->compute_frac};
    for (int i = 0; i < 7; i++)
        lf_bind_real_or_null(s, 31 + i, promoted[i]);
    lf_bind_text(s, 38, r->engine);
    lf_bind_int_or_null(s, 39, r->n_expert);
    lf_bind_int_or_null(s, 40, r->n_expert_used);
    lf_bind_real_or_null(s, 41, r->model_bytes);
    if ((rc = lf_store_step_done(st, s, "storing a result", err)) < 0)
        return rc;
    int64_t id = sqlite3_last_insert_rowid(st->db);

    if (n > 0) {
        if ((rc = lf_store_prepare(st, "INSERT INTO samples (result_id, idx, value) "
                                       "VALUES (?1, ?2, ?3)", &s, err)) < 0)
            return rc;
        sqlite3_bind_int64(s, 1, id);
        for (int i = 0; i < n; i++) {
            sqlite3_bind_int(s, 2, i);
            sqlite3_bind_double(s, 3, samples[i]);
            int src = sqlite3_step(s);
            sqlite3_reset(s);
            if (src != SQLITE_DONE) {
                sqlite3_finalize(s);
                return lf_store_sqlerr(st, src, err, "storing samples");
            }
        }
        sqlite3_finalize(s);
    }
    r->id = id;
    r->run_id = run_id;
    return 0;
}

typedef struct result_row {
    int64_t run_id;
    lf_result *r;
    const double *samples;
    int n;
} result_row;

static int result_add_body(lf_store *st, void *arg, lf_error *err) {
    result_row *row = arg;
    return lf_store_insert_result(st, row->run_id, row->r, row->samples, row->n, err);
}

int lf_store_result_add(lf_store *st, int64_t run_id, lf_result *r,
                        const double *samples, int n, lf_error *err) {
    int rc = lf_store_check_writable(st, err, "storing a result");
    if (rc < 0)
        return rc;
    result_row row = {run_id, r, samples, n};
    return lf_store_in_tx(st, result_add_body, &row, err);
}

int lf_store_insert_quality(lf_store *st, int64_t run_id, lf_quality *q, lf_error *err) {
    sqlite3_stmt *s = NULL;
    int rc = lf_store_prepare(st,
                              "INSERT INTO quality (run_id, model, variant, ppl, ppl_err, dppl, "
                              "dppl_err, ppl_ratio, ppl_ratio_err, kld_mean, kld_mean_err, "
                              "kld_median, kld_median_err, kld_p99, kld_p99_err, kld_max, "
                              "kld_max_err, same_top, same_top_err, n_tokens, ctx) VALUES (?1, "
                              "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                              "?16, ?17, ?18, ?19, ?20, ?21)",
                              &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run_id);
    lf_bind_text(s, 2, q->model);
    lf_bind_text(s, 3, q->variant);
    const double v[] = {q->ppl, q->ppl_err, q->dppl, q->dppl_err, q->ppl_ratio,
                        q->ppl_ratio_err, q->kld_mean, q->kld_mean_err, q->kld_median,
                        q->kld_median_err, q->kld_p99, q->kld_p99_err, q->kld_max,
                        q->kld_max_err, q->same_top, q->same_top_err};
    for (int i = 0; i < 16; i++)
        lf_bind_real_or_null(s, 4 + i, v[i]);
    lf_bind_int_or_null(s, 20, q->n_tokens);
    lf_bind_int_or_null(s, 21, q->ctx);
    if ((rc = lf_store_step_done(st, s, "storing a quality result", err)) < 0)
        return rc;
    q->id = sqlite3_last_insert_rowid(st->db);
    q->run_id = run_id;
    return 0;
}

typedef struct quality_row {
    int64_t run_id;
    lf_quality *q;
} quality_row;

static int quality_add_body(lf_store *st, void *arg, lf_error *err) {
    quality_row *row = arg;
    return lf_store_insert_quality(st, row->run_id, row->q, err);
}

int lf_store_quality_add(lf_store *st, int64_t run_id, lf_quality *q, lf_error *err) {
    int rc = lf_store_check_writable(st, err, "storing a quality result");
    if (rc < 0)
        return rc;
    quality_row row = {run_id, q};
    return lf_store_in_tx(st, quality_add_body, &row, err);
}

static int run_delete_body(lf_store *st, void *arg, lf_error *err) {
    int64_t run_id = *(const int64_t *)arg;
    sqlite3_stmt *s = NULL;
    int rc = lf_store_prepare(st, "DELETE FROM runs WHERE id = ?1", &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run_id);
    if ((rc = lf_store_step_done(st, s, "deleting a run", err)) < 0)
        return rc;
    if (sqlite3_changes(st->db) == 0)
        return lf_error_set(err, LF_ENOTFOUND, "deleting run %lld: no such run in %s",
                            (long long)run_id, st->path);
    return 0;
}

int lf_store_run_delete(lf_store *st, int64_t run_id, lf_error *err) {
    int rc = lf_store_check_writable(st, err, "deleting a run");
    if (rc < 0)
        return rc;
    return lf_store_in_tx(st, run_delete_body, &run_id, err);
}

/* ---- runs: reading ---------------------------------------------------------------- */

#define RUN_COLS                                                                          \
    "r.id, r.uuid, r.tool_version, r.source, r.git_commit, r.git_branch, r.git_dirty, "   \
    "r.compiler, r.cflags, r.suite, r.label, r.status, r.started_ms, r.finished_ms, "     \
    "r.device_id, COALESCE(d.slug, ''), r.host, r.pid, r.proc_start, "                   \
    "(SELECT count(*) FROM results x WHERE x.run_id = r.id) "                              \
    "FROM runs r LEFT JOIN devices d ON d.id = r.device_id "

static void read_run(lf_store *st, sqlite3_stmt *s, lf_run *r) {
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    lf_col_text(s, 1, r->uuid, sizeof r->uuid);
    lf_col_text(s, 2, r->tool_version, sizeof r->tool_version);
    lf_col_text(s, 3, r->source, sizeof r->source);
    lf_col_text(s, 4, r->git_commit, sizeof r->git_commit);
    lf_col_text(s, 5, r->git_branch, sizeof r->git_branch);
    r->git_dirty = (int)lf_col_int(s, 6, -1);
    lf_col_text(s, 7, r->compiler, sizeof r->compiler);
    lf_col_text(s, 8, r->cflags, sizeof r->cflags);
    lf_col_text(s, 9, r->suite, sizeof r->suite);
    lf_col_text(s, 10, r->label, sizeof r->label);
    char status[16];
    lf_col_text(s, 11, status, sizeof status);
    if (lf_run_status_parse(status, &r->status) < 0)
        r->status = LF_RUN_INTERRUPTED;
    r->started_ms = lf_col_int(s, 12, 0);
    r->finished_ms = lf_col_int(s, 13, 0);
    lf_col_text(s, 14, r->device_id, sizeof r->device_id);
    lf_col_text(s, 15, r->device_slug, sizeof r->device_slug);
    lf_col_text(s, 16, r->host, sizeof r->host);
    r->pid = lf_col_int(s, 17, 0);
    r->proc_start = lf_col_int(s, 18, 0);
    r->n_results = (int)sqlite3_column_int64(s, 19);
    /* Invariant 1: a dead writer's run reads as interrupted. */
    if (r->status == LF_RUN_RUNNING && lf_store_writer_gone(st, r->host, r->pid, r->proc_start))
        r->status = LF_RUN_INTERRUPTED;
}

/* Appends to a growing array; returns false on allocation failure. */
static bool grow(void **arr, int *cap, int n, size_t elem) {
    if (n < *cap)
        return true;
    int ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

int lf_store_runs_list(lf_store *st, const lf_run_filter *f, lf_run **out, int *n,
                       lf_error *err) {
    static const lf_run_filter all = LF_RUN_FILTER_INIT;
    if (!f)
        f = &all;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    int rc = lf_store_prepare(st,
                              "SELECT " RUN_COLS
                              "WHERE (?1 IS NULL OR r.device_id = ?1) "
                              "AND (?2 IS NULL OR r.label = ?2) "
                              "AND (?3 IS NULL OR r.git_branch = ?3) "
                              "AND (?4 IS NULL OR substr(lower(r.git_commit), 1, length(?4)) = lower(?4)) "
                              "AND (?5 IS NULL OR r.suite = ?5) "
                              "AND r.id != ?6 "
                              "AND (?7 IS NULL OR r.status = ?7 OR "
                              "     (?7 = 'interrupted' AND r.status = 'running')) "
                              "ORDER BY r.started_ms DESC, r.id DESC",
                              &s, err);
    if (rc < 0)
        return rc;
    const char *txt[] = {f->device_id, f->label, f->branch, f->commit, f->suite};
    for (int i = 0; i < 5; i++)
        if (txt[i])
            lf_bind_text(s, i + 1, txt[i]);
    sqlite3_bind_int64(s, 6, f->exclude_id);
    if (f->status >= 0 && f->status < LF_RUN_STATUS_COUNT)
        lf_bind_text(s, 7, lf_run_status_name((lf_run_status)f->status));
    lf_run *runs = NULL;
    int cap = 0, cnt = 0, src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        lf_run r;
        read_run(st, s, &r);
        /* The status filter is on the status as shown (a dead writer's
         * `running` is interrupted), which only C can tell. */
        if (f->status >= 0 && (int)r.status != f->status)
            continue;
        if (!grow((void **)&runs, &cap, cnt, sizeof *runs)) {
            free(runs);
            sqlite3_finalize(s);
            return lf_error_set(err, LF_ENOMEM, "listing runs: out of memory");
        }
        runs[cnt++] = r;
        if (f->limit > 0 && cnt >= f->limit)
            break;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        free(runs);
        rc = lf_store_sqlerr(st, src, err, "listing runs");
        sqlite3_finalize(s);
        return rc;
    }
    sqlite3_finalize(s);
    *out = runs;
    *n = cnt;
    return 0;
}

int lf_store_run_get(lf_store *st, int64_t run_id, lf_run *out, lf_error *err) {
    sqlite3_stmt *s = NULL;
    int rc = lf_store_prepare(st, "SELECT " RUN_COLS "WHERE r.id = ?1", &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, run_id);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        read_run(st, s, out);
    else if (src == SQLITE_DONE)
        rc = lf_error_set(err, LF_ENOTFOUND, "no run %lld in %s", (long long)run_id, st->path);
    else
        rc = lf_store_sqlerr(st, src, err, "reading a run");
    sqlite3_finalize(s);
    return rc;
}

int lf_store_run_find(lf_store *st, const char *prefix, lf_run *out, lf_error *err) {
    if (!prefix || !*prefix)
        return lf_error_set(err, LF_EINVAL, "empty run id");
    sqlite3_stmt *s = NULL;
    int rc = lf_store_prepare(st,
                              "SELECT " RUN_COLS
                              "WHERE substr(r.uuid, 1, length(?1)) = lower(?1) "
                              "ORDER BY r.started_ms DESC LIMIT 2",
                              &s, err);
    if (rc < 0)
        return rc;
    lf_bind_text(s, 1, prefix);
    int found = 0, src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (found == 0)
            read_run(st, s, out);
        found++;
    }
    sqlite3_finalize(s);
    if (src != SQLITE_DONE)
        return lf_store_sqlerr(st, src, err, "finding a run");
    if (found == 0)
        return lf_error_set(err, LF_ENOTFOUND, "no run with id %s in %s", prefix, st->path);
    if (found > 1) {
        /* Count them for the message. */
        int64_t total = 0;
        if (lf_store_prepare(st, "SELECT count(*) FROM runs WHERE substr(uuid, 1, length(?1)) "
                                 "= lower(?1)", &s, NULL) == 0) {
            lf_bind_text(s, 1, prefix);
            if (sqlite3_step(s) == SQLITE_ROW)
                total = sqlite3_column_int64(s, 0);
            sqlite3_finalize(s);
        }
        return lf_error_set(err, LF_EINVAL, "run id %s is ambiguous: %lld runs start with it; "
                                            "give more digits", prefix, (long long)total);
    }
    return 0;
}

int lf_store_find_baseline(lf_store *st, const char *device_id, const char *branch,
                           const char *label, const char *commit, int64_t exclude_id,
                           lf_run *out, lf_error *err) {
    lf_run_filter f = LF_RUN_FILTER_INIT;
    f.device_id = device_id && *device_id ? device_id : NULL;
    f.branch = branch;
    f.label = label;
    f.commit = commit;
    f.exclude_id = exclude_id;
    f.status = LF_RUN_COMPLETE;
    f.limit = 1;
    lf_run *runs = NULL;
    int n = 0;
    int rc = lf_store_runs_list(st, &f, &runs, &n, err);
    if (rc < 0)
        return rc;
    if (n == 0) {
        free(runs);
        return lf_error_set(err, LF_ENOTFOUND,
                            "no complete run%s%s%s%s%s%s%s%s in %s", device_id ? " on device " : "",
                            device_id ? device_id : "", branch ? " of branch " : "",
                            branch ? branch : "", label ? " labelled " : "", label ? label : "",
                            commit ? " at commit " : "", commit ? commit : "", st->path);
    }
    *out = runs[0];
    free(runs);
    return 0;
}

/* ---- results: reading --------------------------------------------------------------- */

#define RESULT_COLS                                                                        \
    "x.id, x.run_id, x.kind, x.model, x.model_path, x.quant, x.adapter, x.n_adapters, "    \
    "x.adapter_rank, x.adapter_mode, x.threads, x.n_prompt, x.n_gen, x.n_depth, "          \
    "x.kv_type, x.isa, x.backend, x.config, x.unit, x.median, x.mean, x.stddev, "          \
    "x.ci_low, x.ci_high, x.n_samples, x.bytes_per_token, x.roofline_frac, x.peak_rss, "   \
    "x.joules_per_token, x.energy_note, x.extra, x.weight_bytes, x.n_params, x.kv_bytes, "  \
    "x.flops_per_token, x.roof_gbs, x.peak_gops, x.compute_frac, x.engine, "             \
    "x.n_expert, x.n_expert_used, x.model_bytes "

static void read_result(sqlite3_stmt *s, lf_result *r) {
    lf_result_init(r);
    char buf[32];
    r->id = sqlite3_column_int64(s, 0);
    r->run_id = sqlite3_column_int64(s, 1);
    lf_col_text(s, 2, buf, sizeof buf);
    if (lf_test_kind_parse(buf, &r->kind) < 0)
        r->kind = LF_TEST_PP;
    lf_col_text(s, 3, r->model, sizeof r->model);
    lf_col_text(s, 4, r->model_path, sizeof r->model_path);
    lf_col_text(s, 5, r->quant, sizeof r->quant);
    lf_col_text(s, 6, r->adapter, sizeof r->adapter);
    r->n_adapters = sqlite3_column_int(s, 7);
    r->adapter_rank = sqlite3_column_int(s, 8);
    lf_col_text(s, 9, buf, sizeof buf);
    if (lf_adapter_mode_parse(buf, &r->adapter_mode) < 0)
        r->adapter_mode = LF_ADAPTER_NONE;
    r->threads = sqlite3_column_int(s, 10);
    r->n_prompt = sqlite3_column_int(s, 11);
    r->n_gen = sqlite3_column_int(s, 12);
    r->n_depth = sqlite3_column_int(s, 13);
    lf_col_text(s, 14, r->kv_type, sizeof r->kv_type);
    lf_col_text(s, 15, r->isa, sizeof r->isa);
    lf_col_text(s, 16, r->backend, sizeof r->backend);
    lf_col_text(s, 17, r->config, sizeof r->config);
    lf_col_text(s, 18, buf, sizeof buf);
    if (lf_unit_parse(buf, &r->unit) < 0)
        r->unit = lf_test_kind_unit(r->kind);
    r->median = lf_col_real(s, 19);
    r->mean = lf_col_real(s, 20);
    r->stddev = lf_col_real(s, 21);
    r->ci_low = lf_col_real(s, 22);
    r->ci_high = lf_col_real(s, 23);
    r->n_samples = sqlite3_column_int(s, 24);
    r->bytes_per_token = lf_col_real(s, 25);
    r->roofline_frac = lf_col_real(s, 26);
    r->peak_rss = lf_col_int(s, 27, -1);
    r->joules_per_token = lf_col_real(s, 28);
    lf_col_text(s, 29, r->energy_note, sizeof r->energy_note);
    lf_col_text(s, 30, r->extra, sizeof r->extra);
    double *promoted[] = {&r->weight_bytes, &r->n_params, &r->kv_bytes, &r->flops_per_token,
                          &r->roof_gbs, &r->peak_gops, &r->compute_frac};
    for (int i = 0; i < 7; i++)
        *promoted[i] = lf_col_real(s, 31 + i);
    lf_col_text(s, 38, r->engine, sizeof r->engine);
    r->n_expert = (int)lf_col_int(s, 39, -1);
    r->n_expert_used = (int)lf_col_int(s, 40, -1);
    r->model_bytes = lf_col_real(s, 41);
}

/* Runs a result query with ?1 bound to an int64 and ?2 to an optional
 * text (NULL), collecting rows. */
static int collect_results(lf_store *st, const char *sql, int64_t a, const char *b,
                           const char *kind, lf_result **out, int *n, lf_error *err) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    int rc = lf_store_prepare(st, sql, &s, err);
    if (rc < 0)
        return rc;
    if (b)
        lf_bind_text(s, 1, b);
    else
        sqlite3_bind_int64(s, 1, a);
    if (kind)
        lf_bind_text(s, 2, kind);
    lf_result *res = NULL;
    int cap = 0, cnt = 0, src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (!grow((void **)&res, &cap, cnt, sizeof *res)) {
            free(res);
            sqlite3_finalize(s);
            return lf_error_set(err, LF_ENOMEM, "reading results: out of memory");
        }
        read_result(s, &res[cnt++]);
    }
    if (src != SQLITE_DONE) {
        free(res);
        rc = lf_store_sqlerr(st, src, err, "reading results");
        sqlite3_finalize(s);
        return rc;
    }
    sqlite3_finalize(s);
    *out = res;
    *n = cnt;
    return 0;
}

int lf_store_device_results(lf_store *st, const char *device_id, int kind,
                            lf_result **out, int *n, lf_error *err) {
    const char *k = kind >= 0 ? lf_test_kind_name((lf_test_kind)kind) : NULL;
    return collect_results(st,
                           "SELECT " RESULT_COLS "FROM results x JOIN runs r ON r.id = x.run_id "
                           "WHERE r.device_id = ?1 AND (?2 IS NULL OR x.kind = ?2) "
                           "ORDER BY r.started_ms DESC, r.id DESC, x.id",
                           0, device_id ? device_id : "", k, out, n, err);
}

static int load_samples(lf_store *st, int64_t result_id, double **out, int *n, lf_error *err) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    int rc = lf_store_prepare(st, "SELECT value FROM samples WHERE result_id = ?1 ORDER BY idx",
                              &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, result_id);
    double *v = NULL;
    int cap = 0, cnt = 0, src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (!grow((void **)&v, &cap, cnt, sizeof *v)) {
            free(v);
            sqlite3_finalize(s);
            return lf_error_set(err, LF_ENOMEM, "reading samples: out of memory");
        }
        v[cnt++] = sqlite3_column_double(s, 0);
    }
    sqlite3_finalize(s);
    if (src != SQLITE_DONE) {
        free(v);
        return lf_store_sqlerr(st, src, err, "reading samples");
    }
    *out = v;
    *n = cnt;
    return 0;
}

static void read_quality(sqlite3_stmt *s, lf_quality *q) {
    lf_quality_init(q);
    q->id = sqlite3_column_int64(s, 0);
    q->run_id = sqlite3_column_int64(s, 1);
    lf_col_text(s, 2, q->model, sizeof q->model);
    lf_col_text(s, 3, q->variant, sizeof q->variant);
    double *v[] = {&q->ppl, &q->ppl_err, &q->dppl, &q->dppl_err, &q->ppl_ratio,
                   &q->ppl_ratio_err, &q->kld_mean, &q->kld_mean_err, &q->kld_median,
                   &q->kld_median_err, &q->kld_p99, &q->kld_p99_err, &q->kld_max,
                   &q->kld_max_err, &q->same_top, &q->same_top_err};
    for (int i = 0; i < 16; i++)
        *v[i] = lf_col_real(s, 4 + i);
    q->n_tokens = lf_col_int(s, 20, -1);
    q->ctx = (int)lf_col_int(s, 21, -1);
}

static int run_load_body(lf_store *st, void *arg, lf_error *err) {
    lf_run_full *rf = arg;
    int64_t run_id = rf->run.id;
    int rc = collect_results(st, "SELECT " RESULT_COLS "FROM results x WHERE x.run_id = ?1 "
                                 "ORDER BY x.id",
                                 run_id, NULL, NULL, &rf->results, &rf->n_results, err);
    if (rc == 0 && rf->n_results > 0) {
        rf->samples = calloc((size_t)rf->n_results, sizeof *rf->samples);
        rf->n_samples_stored = calloc((size_t)rf->n_results, sizeof *rf->n_samples_stored);
        if (!rf->samples || !rf->n_samples_stored)
            rc = lf_error_set(err, LF_ENOMEM, "loading run: out of memory");
        for (int i = 0; rc == 0 && i < rf->n_results; i++)
            rc = load_samples(st, rf->results[i].id, &rf->samples[i], &rf->n_samples_stored[i],
                              err);
    }
    if (rc == 0) {
        sqlite3_stmt *s = NULL;
        rc = lf_store_prepare(st,
                              "SELECT id, run_id, model, variant, ppl, ppl_err, dppl, dppl_err, "
                              "ppl_ratio, ppl_ratio_err, kld_mean, kld_mean_err, kld_median, "
                              "kld_median_err, kld_p99, kld_p99_err, kld_max, kld_max_err, "
                              "same_top, same_top_err, n_tokens, ctx FROM quality "
                              "WHERE run_id = ?1 ORDER BY id",
                              &s, err);
        if (rc == 0) {
            sqlite3_bind_int64(s, 1, run_id);
            int cap = 0, src;
            while ((src = sqlite3_step(s)) == SQLITE_ROW) {
                if (!grow((void **)&rf->quality, &cap, rf->n_quality, sizeof *rf->quality)) {
                    rc = lf_error_set(err, LF_ENOMEM, "loading run: out of memory");
                    break;
                }
                read_quality(s, &rf->quality[rf->n_quality++]);
            }
            if (rc == 0 && src != SQLITE_DONE)
                rc = lf_store_sqlerr(st, src, err, "reading quality results");
            sqlite3_finalize(s);
        }
    }
    return rc;
}

int lf_store_run_load(lf_store *st, int64_t run_id, lf_run_full *rf, lf_error *err) {
    memset(rf, 0, sizeof *rf);
    int rc = lf_store_run_get(st, run_id, &rf->run, err);
    if (rc < 0)
        return rc;
    /* One read transaction so results and samples are one snapshot even
     * while another process writes. */
    rc = lf_store_in_read_tx(st, run_load_body, rf, err);
    if (rc < 0)
        lf_run_full_free(rf);
    return rc;
}
