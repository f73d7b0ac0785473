/*
 * localfit bundles ("schema": "localfit.bundle/1"): the portable form of
 * runs, moved between machines and published. Export writes the devices the
 * runs name, the runs, their results with every sample, and their quality
 * rows; import reads them back in one transaction, skipping runs whose uuid
 * is already stored (invariant 4). Also the JSON of runs used by
 * `localfit runs --json`, and the entry point that detects what kind of
 * file an import is.
 *
 * Numbers are written with jansson's shortest round-trip form, so samples
 * survive export -> import bit for bit; NAN (unknown) is JSON null. A run
 * still `running` when exported is imported as interrupted: nobody will
 * finish it in the other database.
 */
#include "store/internal.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BUNDLE_SCHEMA "localfit.bundle/1"

#ifndef LF_VERSION
#define LF_VERSION "0.0.0"
#endif

/* ---- building JSON -------------------------------------------------------- */

static json_t *jreal(double v) { return isfinite(v) ? json_real(v) : json_null(); }
static json_t *jint_or_null(int64_t v) { return v < 0 ? json_null() : json_integer(v); }

/* Stored JSON text (a device profile, a result's extra) embedded as JSON;
 * text that does not parse is embedded as a string rather than lost. */
static json_t *jembed(const char *text) {
    if (!text || !*text)
        return json_null();
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(text);
}

static json_t *run_to_json(const lf_run *r) {
    char t1[40], t2[40];
    json_t *o = json_object();
    json_object_set_new(o, "uuid", json_string(r->uuid));
    json_object_set_new(o, "status", json_string(lf_run_status_name(r->status)));
    json_object_set_new(o, "started_at", json_string(lf_format_time_ms(r->started_ms, t1, sizeof t1)));
    json_object_set_new(o, "finished_at", r->finished_ms > 0
                                              ? json_string(lf_format_time_ms(r->finished_ms, t2, sizeof t2))
                                              : json_null());
    json_object_set_new(o, "tool_version", json_string(r->tool_version));
    json_object_set_new(o, "source", json_string(r->source));
    json_object_set_new(o, "git_commit", json_string(r->git_commit));
    json_object_set_new(o, "git_branch", json_string(r->git_branch));
    json_object_set_new(o, "git_dirty", r->git_dirty < 0 ? json_null() : json_boolean(r->git_dirty));
    json_object_set_new(o, "compiler", json_string(r->compiler));
    json_object_set_new(o, "cflags", json_string(r->cflags));
    json_object_set_new(o, "suite", json_string(r->suite));
    json_object_set_new(o, "label", json_string(r->label));
    json_object_set_new(o, "device_id", r->device_id[0] ? json_string(r->device_id) : json_null());
    json_object_set_new(o, "device_slug", json_string(r->device_slug));
    json_object_set_new(o, "host", json_string(r->host));
    json_object_set_new(o, "n_results", json_integer(r->n_results));
    return o;
}

static json_t *result_to_json(const lf_result *r, bool with_samples, const double *samples,
                              int n) {
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(lf_test_kind_name(r->kind)));
    json_object_set_new(o, "model", json_string(r->model));
    json_object_set_new(o, "model_path", json_string(r->model_path));
    json_object_set_new(o, "quant", json_string(r->quant));
    json_object_set_new(o, "adapter", json_string(r->adapter));
    json_object_set_new(o, "n_adapters", json_integer(r->n_adapters));
    json_object_set_new(o, "adapter_rank", json_integer(r->adapter_rank));
    json_object_set_new(o, "adapter_mode", json_string(lf_adapter_mode_name(r->adapter_mode)));
    json_object_set_new(o, "threads", json_integer(r->threads));
    json_object_set_new(o, "n_prompt", json_integer(r->n_prompt));
    json_object_set_new(o, "n_gen", json_integer(r->n_gen));
    json_object_set_new(o, "n_depth", json_integer(r->n_depth));
    json_object_set_new(o, "kv_type", json_string(r->kv_type));
    json_object_set_new(o, "isa", json_string(r->isa));
    json_object_set_new(o, "backend", json_string(r->backend));
    json_object_set_new(o, "engine", json_string(r->engine));
    json_object_set_new(o, "config", json_string(r->config));
    json_object_set_new(o, "unit", json_string(lf_unit_name(r->unit)));
    json_object_set_new(o, "median", jreal(r->median));
    json_object_set_new(o, "mean", jreal(r->mean));
    json_object_set_new(o, "stddev", jreal(r->stddev));
    json_object_set_new(o, "ci_low", jreal(r->ci_low));
    json_object_set_new(o, "ci_high", jreal(r->ci_high));
    json_object_set_new(o, "n_samples", json_integer(r->n_samples));
    json_object_set_new(o, "bytes_per_token", jreal(r->bytes_per_token));
    json_object_set_new(o, "roofline_frac", jreal(r->roofline_frac));
    json_object_set_new(o, "peak_rss", jint_or_null(r->peak_rss));
    json_object_set_new(o, "joules_per_token", jreal(r->joules_per_token));
    json_object_set_new(o, "energy_note", json_string(r->energy_note));
    /* schema v3's named figures: optional, so bundles from before them
     * still import (the store back-fills them from extra) */
    json_object_set_new(o, "weight_bytes", jreal(r->weight_bytes));
    json_object_set_new(o, "n_params", jreal(r->n_params));
    json_object_set_new(o, "kv_bytes", jreal(r->kv_bytes));
    json_object_set_new(o, "flops_per_token", jreal(r->flops_per_token));
    json_object_set_new(o, "roof_gbs", jreal(r->roof_gbs));
    json_object_set_new(o, "peak_gops", jreal(r->peak_gops));
    json_object_set_new(o, "compute_frac", jreal(r->compute_frac));
    /* schema v5's: null when unknown, as in the database */
    json_object_set_new(o, "n_expert", jint_or_null(r->n_expert));
    json_object_set_new(o, "n_expert_used", jint_or_null(r->n_expert_used));
    json_object_set_new(o, "model_bytes", jreal(r->model_bytes));
    json_object_set_new(o, "extra", jembed(r->extra));
    if (with_samples) {
        json_t *a = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(a, json_real(samples[i]));
        json_object_set_new(o, "samples", a);
    }
    return o;
}

static json_t *quality_to_json(const lf_quality *q) {
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(q->model));
    json_object_set_new(o, "variant", json_string(q->variant));
#define QF(name) json_object_set_new(o, #name, jreal(q->name)); \
                 json_object_set_new(o, #name "_err", jreal(q->name##_err))
    QF(ppl);
    QF(dppl);
    QF(ppl_ratio);
    QF(kld_mean);
    QF(kld_median);
    QF(kld_p99);
    QF(kld_max);
    QF(same_top);
#undef QF
    json_object_set_new(o, "n_tokens", jint_or_null(q->n_tokens));
    json_object_set_new(o, "ctx", jint_or_null(q->ctx));
    return o;
}

static json_t *run_full_to_json(const lf_run_full *rf, bool with_samples) {
    json_t *o = run_to_json(&rf->run);
    json_t *res = json_array();
    for (int i = 0; i < rf->n_results; i++)
        json_array_append_new(res, result_to_json(&rf->results[i], with_samples,
                                                  rf->samples ? rf->samples[i] : NULL,
                                                  rf->n_samples_stored ? rf->n_samples_stored[i] : 0));
    json_object_set_new(o, "results", res);
    json_t *q = json_array();
    for (int i = 0; i < rf->n_quality; i++)
        json_array_append_new(q, quality_to_json(&rf->quality[i]));
    json_object_set_new(o, "quality", q);
    return o;
}

static int dump_to_string(json_t *v, char **out, lf_error *err) {
    /* ASCII only (\uXXXX escapes, lossless): these documents go to
     * terminals, and stored names may hold C1 controls or bidi overrides */
    *out = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(v);
    return *out ? 0 : lf_error_set(err, LF_ENOMEM, "formatting JSON: out of memory");
}

int lf_store_runs_to_json(const lf_run *runs, int n, char **out, lf_error *err) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, run_to_json(&runs[i]));
    return dump_to_string(a, out, err);
}

int lf_store_run_full_to_json(const lf_run_full *rf, bool with_samples, char **out,
                              lf_error *err) {
    return dump_to_string(run_full_to_json(rf, with_samples), out, err);
}

/* ---- export ------------------------------------------------------------------ */

/* The run ids to export: the given ones, or all runs oldest first. */
static int export_ids(lf_store *st, const int64_t *ids, int n, int64_t **out, int *nout,
                      lf_error *err) {
    *out = NULL;
    *nout = 0;
    if (n > 0) {
        *out = malloc((size_t)n * sizeof **out);
        if (!*out)
            return lf_error_set(err, LF_ENOMEM, "export: out of memory");
        memcpy(*out, ids, (size_t)n * sizeof **out);
        *nout = n;
        return 0;
    }
    lf_run *runs = NULL;
    int cnt = 0;
    int rc = lf_store_runs_list(st, NULL, &runs, &cnt, err);
    if (rc < 0)
        return rc;
    if (cnt > 0 && !(*out = malloc((size_t)cnt * sizeof **out))) {
        free(runs);
        return lf_error_set(err, LF_ENOMEM, "export: out of memory");
    }
    for (int i = 0; i < cnt; i++)
        (*out)[i] = runs[cnt - 1 - i].id;
    *nout = cnt;
    free(runs);
    return 0;
}

int lf_store_export_bundle(lf_store *st, const int64_t *run_ids, int n, FILE *out,
                           lf_error *err) {
    int64_t *ids = NULL;
    int nids = 0;
    int rc = export_ids(st, run_ids, n, &ids, &nids, err);
    if (rc < 0)
        return rc;
    char now[40];
    json_t *root = json_object();
    json_object_set_new(root, "schema", json_string(BUNDLE_SCHEMA));
    json_object_set_new(root, "generator", json_string("localfit " LF_VERSION));
    json_object_set_new(root, "exported_at", json_string(lf_format_time_ms(lf_wall_ms(), now, sizeof now)));
    json_t *devices = json_array(), *seen = json_object(), *runs = json_array();
    json_object_set_new(root, "devices", devices);
    json_object_set_new(root, "runs", runs);
    for (int i = 0; rc == 0 && i < nids; i++) {
        lf_run_full rf;
        if ((rc = lf_store_run_load(st, ids[i], &rf, err)) < 0)
            break;
        const char *dev = rf.run.device_id;
        if (dev[0] && !json_object_get(seen, dev)) {
            char slug[80];
            char *profile = NULL;
            if ((rc = lf_store_device_get(st, dev, slug, sizeof slug, &profile, err)) == 0) {
                json_t *d = json_object();
                json_object_set_new(d, "id", json_string(dev));
                json_object_set_new(d, "slug", json_string(slug));
                json_object_set_new(d, "profile", jembed(profile));
                json_array_append_new(devices, d);
                json_object_set_new(seen, dev, json_true());
            }
            free(profile);
        }
        if (rc == 0)
            json_array_append_new(runs, run_full_to_json(&rf, true));
        lf_run_full_free(&rf);
    }
    json_decref(seen);
    free(ids);
    if (rc == 0) {
        errno = 0;
        if (json_dumpf(root, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) < 0 ||
            fputc('\n', out) == EOF || fflush(out) == EOF || ferror(out))
            rc = lf_error_set(err, LF_EIO, "writing the bundle: %s",
                              errno ? strerror(errno) : "write failed");
    }
    json_decref(root);
    return rc;
}

/* ---- import: reading fields ------------------------------------------------ */

/* Every reader names where a bad value is: "<file>: runs[2].results[5].kind". */
typedef struct jctx {
    const char *file;
    char where[128];
} jctx;

static int jfail(const jctx *c, const char *key, lf_error *err, const char *what) {
    return lf_error_set(err, LF_EFORMAT, "%s: %s%s%s: %s", c->file, c->where,
                        key ? "." : "", key ? key : "", what);
}

static int jstr(const jctx *c, json_t *o, const char *key, char *dst, size_t size,
                lf_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        dst[0] = '\0';
        return 0;
    }
    if (!json_is_string(v))
        return jfail(c, key, err, "expected a string");
    if (strlen(json_string_value(v)) >= size) {
        char msg[96];
        snprintf(msg, sizeof msg, "string too long (at most %zu bytes)", size - 1);
        return jfail(c, key, err, msg);
    }
    lf_strlcpy(dst, json_string_value(v), size);
    return 0;
}

static int jnum(const jctx *c, json_t *o, const char *key, double *out, lf_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = NAN;
        return 0;
    }
    if (!json_is_number(v))
        return jfail(c, key, err, "expected a number");
    *out = json_number_value(v);
    return 0;
}

static int jint(const jctx *c, json_t *o, const char *key, int64_t dflt, int64_t lo,
                int64_t hi, int64_t *out, lf_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v))
        return jfail(c, key, err, "expected an integer");
    int64_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return jfail(c, key, err, "integer out of range");
    *out = x;
    return 0;
}

/* Embedded JSON (extra, profile) back to compact text. */
static int jtext(const jctx *c, json_t *o, const char *key, char *dst, size_t size,
                 lf_error *err) {
    json_t *v = json_object_get(o, key);
    dst[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return jstr(c, o, key, dst, size, err);
    char *t = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!t)
        return lf_error_set(err, LF_ENOMEM, "%s: out of memory", c->file);
    int rc = 0;
    if (strlen(t) >= size)
        rc = jfail(c, key, err, "value too long");
    else
        lf_strlcpy(dst, t, size);
    free(t);
    return rc;
}

static int read_result(const jctx *c, json_t *o, lf_result *r, double **samples, int *n,
                       lf_error *err) {
    lf_result_init(r);
    *samples = NULL;
    *n = 0;
    if (!json_is_object(o))
        return jfail(c, NULL, err, "expected an object");
    char buf[32];
    int64_t v;
    int rc;
    if ((rc = jstr(c, o, "kind", buf, sizeof buf, err)) < 0)
        return rc;
    if (lf_test_kind_parse(buf, &r->kind) < 0)
        return jfail(c, "kind", err, "unknown test kind");
    if ((rc = jstr(c, o, "unit", buf, sizeof buf, err)) < 0)
        return rc;
    if (!buf[0])
        r->unit = lf_test_kind_unit(r->kind);
    else if (lf_unit_parse(buf, &r->unit) < 0)
        return jfail(c, "unit", err, "unknown unit");
    if ((rc = jstr(c, o, "adapter_mode", buf, sizeof buf, err)) < 0)
        return rc;
    if (buf[0] && lf_adapter_mode_parse(buf, &r->adapter_mode) < 0)
        return jfail(c, "adapter_mode", err, "unknown adapter mode");
    struct { const char *k; char *dst; size_t size; } strs[] = {
        {"model", r->model, sizeof r->model},
        {"model_path", r->model_path, sizeof r->model_path},
        {"quant", r->quant, sizeof r->quant},
        {"adapter", r->adapter, sizeof r->adapter},
        {"kv_type", r->kv_type, sizeof r->kv_type},
        {"isa", r->isa, sizeof r->isa},
        {"backend", r->backend, sizeof r->backend},
        {"config", r->config, sizeof r->config},
        {"energy_note", r->energy_note, sizeof r->energy_note},
        {"engine", r->engine, sizeof r->engine},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if ((rc = jstr(c, o, strs[i].k, strs[i].dst, strs[i].size, err)) < 0)
            return rc;
    if ((rc = jtext(c, o, "extra", r->extra, sizeof r->extra, err)) < 0)
        return rc;
    struct { const char *k; int *dst; } ints[] = {
        {"n_adapters", &r->n_adapters}, {"adapter_rank", &r->adapter_rank},
        {"threads", &r->threads},       {"n_prompt", &r->n_prompt},
        {"n_gen", &r->n_gen},           {"n_depth", &r->n_depth},
        {"n_samples", &r->n_samples},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if ((rc = jint(c, o, ints[i].k, 0, 0, INT32_MAX, &v, err)) < 0)
            return rc;
        *ints[i].dst = (int)v;
    }
    if ((rc = jint(c, o, "peak_rss", -1, 0, INT64_MAX, &r->peak_rss, err)) < 0)
        return rc;
    /* absent or null (a bundle from before v5): unknown */
    struct { const char *k; int *dst; } experts[] = {
        {"n_expert", &r->n_expert}, {"n_expert_used", &r->n_expert_used},
    };
    for (size_t i = 0; i < sizeof experts / sizeof experts[0]; i++) {
        if ((rc = jint(c, o, experts[i].k, -1, 0, INT32_MAX, &v, err)) < 0)
            return rc;
        *experts[i].dst = (int)v;
    }
    struct { const char *k; double *dst; } reals[] = {
        {"median", &r->median},   {"mean", &r->mean},
        {"stddev", &r->stddev},   {"ci_low", &r->ci_low},
        {"ci_high", &r->ci_high}, {"bytes_per_token", &r->bytes_per_token},
        {"roofline_frac", &r->roofline_frac}, {"joules_per_token", &r->joules_per_token},
        {"weight_bytes", &r->weight_bytes}, {"n_params", &r->n_params},
        {"kv_bytes", &r->kv_bytes}, {"flops_per_token", &r->flops_per_token},
        {"roof_gbs", &r->roof_gbs}, {"peak_gops", &r->peak_gops},
        {"compute_frac", &r->compute_frac}, {"model_bytes", &r->model_bytes},
    };
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        if ((rc = jnum(c, o, reals[i].k, reals[i].dst, err)) < 0)
            return rc;
    json_t *a = json_object_get(o, "samples");
    if (a && !json_is_null(a)) {
        if (!json_is_array(a))
            return jfail(c, "samples", err, "expected an array of numbers");
        size_t cnt = json_array_size(a);
        if (cnt > 10000000)
            return jfail(c, "samples", err, "too many samples");
        if (cnt > 0 && !(*samples = malloc(cnt * sizeof **samples)))
            return lf_error_set(err, LF_ENOMEM, "%s: out of memory", c->file);
        for (size_t i = 0; i < cnt; i++) {
            json_t *x = json_array_get(a, i);
            if (!json_is_number(x) || !isfinite(json_number_value(x))) {
                free(*samples);
                *samples = NULL;
                return jfail(c, "samples", err, "expected an array of numbers");
            }
            (*samples)[i] = json_number_value(x);
        }
        *n = (int)cnt;
    }
    return 0;
}

static int read_quality(const jctx *c, json_t *o, lf_quality *q, lf_error *err) {
    lf_quality_init(q);
    if (!json_is_object(o))
        return jfail(c, NULL, err, "expected an object");
    int rc;
    if ((rc = jstr(c, o, "model", q->model, sizeof q->model, err)) < 0 ||
        (rc = jstr(c, o, "variant", q->variant, sizeof q->variant, err)) < 0)
        return rc;
    struct { const char *k; double *dst; } reals[] = {
        {"ppl", &q->ppl}, {"ppl_err", &q->ppl_err}, {"dppl", &q->dppl},
        {"dppl_err", &q->dppl_err}, {"ppl_ratio", &q->ppl_ratio},
        {"ppl_ratio_err", &q->ppl_ratio_err}, {"kld_mean", &q->kld_mean},
        {"kld_mean_err", &q->kld_mean_err}, {"kld_median", &q->kld_median},
        {"kld_median_err", &q->kld_median_err}, {"kld_p99", &q->kld_p99},
        {"kld_p99_err", &q->kld_p99_err}, {"kld_max", &q->kld_max},
        {"kld_max_err", &q->kld_max_err}, {"same_top", &q->same_top},
        {"same_top_err", &q->same_top_err},
    };
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        if ((rc = jnum(c, o, reals[i].k, reals[i].dst, err)) < 0)
            return rc;
    int64_t v;
    if ((rc = jint(c, o, "n_tokens", -1, 0, INT64_MAX, &q->n_tokens, err)) < 0 ||
        (rc = jint(c, o, "ctx", -1, 0, INT32_MAX, &v, err)) < 0)
        return rc;
    q->ctx = (int)v;
    return 0;
}

static int read_run(const jctx *c, json_t *o, lf_run *r, lf_error *err) {
    memset(r, 0, sizeof *r);
    if (!json_is_object(o))
        return jfail(c, NULL, err, "expected an object");
    struct { const char *k; char *dst; size_t size; } strs[] = {
        {"uuid", r->uuid, sizeof r->uuid},
        {"tool_version", r->tool_version, sizeof r->tool_version},
        {"source", r->source, sizeof r->source},
        {"git_commit", r->git_commit, sizeof r->git_commit},
        {"git_branch", r->git_branch, sizeof r->git_branch},
        {"compiler", r->compiler, sizeof r->compiler},
        {"cflags", r->cflags, sizeof r->cflags},
        {"suite", r->suite, sizeof r->suite},
        {"label", r->label, sizeof r->label},
        {"device_id", r->device_id, sizeof r->device_id},
        {"host", r->host, sizeof r->host},
    };
    int rc;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if ((rc = jstr(c, o, strs[i].k, strs[i].dst, strs[i].size, err)) < 0)
            return rc;
    if (!r->uuid[0])
        return jfail(c, "uuid", err, "missing");
    /* The uuid keys deduplication and is printed as is: only the canonical
     * 8-4-4-4-12 hex form (stored lower-case) is accepted. */
    if (strlen(r->uuid) != 36)
        return jfail(c, "uuid", err, "not a uuid (8-4-4-4-12 hex digits)");
    for (int i = 0; i < 36; i++) {
        char ch = r->uuid[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? ch != '-' : !isxdigit((unsigned char)ch))
            return jfail(c, "uuid", err, "not a uuid (8-4-4-4-12 hex digits)");
        r->uuid[i] = (char)tolower((unsigned char)ch);
    }
    json_t *d = json_object_get(o, "git_dirty");
    r->git_dirty = json_is_boolean(d) ? json_is_true(d) : -1;
    char buf[40];
    if ((rc = jstr(c, o, "status", buf, sizeof buf, err)) < 0)
        return rc;
    if (lf_run_status_parse(buf, &r->status) < 0)
        return jfail(c, "status", err, "unknown run status");
    if (r->status == LF_RUN_RUNNING)
        r->status = LF_RUN_INTERRUPTED;
    if ((rc = jstr(c, o, "started_at", buf, sizeof buf, err)) < 0)
        return rc;
    if (lf_parse_time_ms(buf, &r->started_ms) < 0)
        return jfail(c, "started_at", err, "expected an ISO-8601 UTC time");
    if ((rc = jstr(c, o, "finished_at", buf, sizeof buf, err)) < 0)
        return rc;
    if (buf[0] && lf_parse_time_ms(buf, &r->finished_ms) < 0)
        return jfail(c, "finished_at", err, "expected an ISO-8601 UTC time");
    return 0;
}

static int import_bundle(lf_store *st, const char *name, json_t *root, lf_import_stats *stats,
                         lf_error *err) {
    jctx c = {.file = name};
    json_t *schema = json_object_get(root, "schema");
    if (!json_is_string(schema))
        return jfail(&c, "schema", err, "missing; not a localfit bundle");
    if (strcmp(json_string_value(schema), BUNDLE_SCHEMA) != 0)
        return lf_error_set(err, LF_EUNSUPP, "%s: bundle schema \"%s\" is not supported "
                                             "(this localfit reads %s)",
                            name, json_string_value(schema), BUNDLE_SCHEMA);
    json_t *devices = json_object_get(root, "devices");
    json_t *runs = json_object_get(root, "runs");
    if (devices && !json_is_array(devices))
        return jfail(&c, "devices", err, "expected an array");
    if (!json_is_array(runs))
        return jfail(&c, "runs", err, "expected an array");

    int rc = 0;
    size_t i;
    json_t *v;
    json_array_foreach(devices, i, v) {
        snprintf(c.where, sizeof c.where, "devices[%zu]", i);
        char id[80], slug[80];
        if (!json_is_object(v))
            return jfail(&c, NULL, err, "expected an object");
        if ((rc = jstr(&c, v, "id", id, sizeof id, err)) < 0 ||
            (rc = jstr(&c, v, "slug", slug, sizeof slug, err)) < 0)
            return rc;
        if (!id[0])
            return jfail(&c, "id", err, "missing");
        json_t *p = json_object_get(v, "profile");
        char *profile = p && !json_is_null(p)
                            ? (json_is_string(p) ? strdup(json_string_value(p))
                                                 : json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                                                     JSON_ENCODE_ANY))
                            : NULL;
        bool added = false;
        rc = lf_store_insert_device_if_absent(st, id, slug, profile, &added, err);
        free(profile);
        if (rc < 0)
            return rc;
        stats->devices_added += added;
    }
    json_array_foreach(runs, i, v) {
        snprintf(c.where, sizeof c.where, "runs[%zu]", i);
        lf_run run;
        if ((rc = read_run(&c, v, &run, err)) < 0)
            return rc;
        int exists = lf_store_uuid_exists(st, run.uuid, NULL, err);
        if (exists < 0)
            return exists;
        if (exists) {
            stats->runs_skipped++;
            continue;
        }
        if ((rc = lf_store_insert_run(st, &run, err)) < 0)
            return lf_error_wrap(err, "%s: %s", name, c.where);
        stats->runs_added++;
        json_t *results = json_object_get(v, "results"), *q = json_object_get(v, "quality");
        if (results && !json_is_array(results))
            return jfail(&c, "results", err, "expected an array");
        if (q && !json_is_null(q) && !json_is_array(q))
            return jfail(&c, "quality", err, "expected an array");
        size_t j;
        json_t *rv;
        json_array_foreach(results, j, rv) {
            snprintf(c.where, sizeof c.where, "runs[%zu].results[%zu]", i, j);
            lf_result r;
            double *samples;
            int n;
            if ((rc = read_result(&c, rv, &r, &samples, &n, err)) < 0)
                return rc;
            /* a bundle from before schema v4 has no engine: its imported
             * llama-bench runs were measured by llama.cpp (as the v4
             * migration marks them), everything else by localfit */
            if (!r.engine[0])
                lf_strlcpy(r.engine, strcmp(run.source, "llama-bench") ? "localfit" : "llama.cpp",
                           sizeof r.engine);
            rc = lf_store_insert_result(st, run.id, &r, samples, n, err);
            free(samples);
            if (rc < 0)
                return lf_error_wrap(err, "%s: %s", name, c.where);
            stats->results_added++;
        }
        json_array_foreach(q, j, rv) {
            snprintf(c.where, sizeof c.where, "runs[%zu].quality[%zu]", i, j);
            lf_quality qq;
            if ((rc = read_quality(&c, rv, &qq, err)) < 0)
                return rc;
            if ((rc = lf_store_insert_quality(st, run.id, &qq, err)) < 0)
                return lf_error_wrap(err, "%s: %s", name, c.where);
            stats->quality_added++;
        }
    }
    return 0;
}

/* ---- import: entry points ---------------------------------------------------- */

/* Implemented in llamabench.c. */
int lf_store_import_llama(lf_store *st, const char *name, json_t *records,
                          const lf_import_opts *opts, lf_import_stats *stats, lf_error *err);
int lf_store_parse_jsonl(const char *name, const char *text, size_t len, json_t **out,
                         lf_error *err);

typedef struct import_job {
    const char *name;
    json_t *root;
    const lf_import_opts *opts;
    lf_import_stats *stats;     /* format already decided */
} import_job;

static int import_body(lf_store *st, void *arg, lf_error *err) {
    import_job *j = arg;
    return j->stats->format == LF_IMPORT_BUNDLE
               ? import_bundle(st, j->name, j->root, j->stats, err)
               : lf_store_import_llama(st, j->name, j->root, j->opts, j->stats, err);
}

int lf_store_import(lf_store *st, const char *name, const char *text, size_t len,
                    const lf_import_opts *opts, lf_import_stats *stats, lf_error *err) {
    static const lf_import_opts none = {0};
    if (!opts)
        opts = &none;
    lf_import_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    int rc = lf_store_check_writable(st, err, "importing");
    if (rc < 0)
        return rc;

    /* Detect: a bundle is one object with "schema"; llama-bench JSON is an
     * array; anything else that starts with '{' is read as JSONL (one
     * llama-bench record per line, which a single-record file also is). */
    size_t p = 0;
    while (p < len && (text[p] == ' ' || text[p] == '\t' || text[p] == '\n' || text[p] == '\r'))
        p++;
    if (p == len)
        return lf_error_set(err, LF_EFORMAT, "%s: empty file", name);
    lf_import_format fmt = opts->format;
    json_t *root = NULL;
    json_error_t je;
    if (fmt == LF_IMPORT_AUTO || fmt == LF_IMPORT_BUNDLE || fmt == LF_IMPORT_LLAMA_JSON) {
        root = json_loadb(text, len, 0, &je);
        if (!root && fmt != LF_IMPORT_AUTO)
            return lf_error_set(err, LF_EFORMAT, "%s: line %d column %d: %s", name, je.line,
                                je.column, je.text);
        if (!root && text[p] != '{')
            return lf_error_set(err, LF_EFORMAT, "%s: line %d column %d: %s", name, je.line,
                                je.column, je.text);
    }
    if (fmt == LF_IMPORT_AUTO) {
        if (root && json_is_object(root) && json_object_get(root, "schema"))
            fmt = LF_IMPORT_BUNDLE;
        else if (root && json_is_array(root))
            fmt = LF_IMPORT_LLAMA_JSON;
        else if (root && !json_is_object(root)) {
            json_decref(root);
            return lf_error_set(err, LF_EFORMAT, "%s: neither a localfit bundle nor "
                                                 "llama-bench JSON/JSONL", name);
        } else if (root) {
            /* One llama-bench record, however it is laid out. */
            json_t *a = json_array();
            json_array_append_new(a, root);
            root = a;
            fmt = LF_IMPORT_LLAMA_JSONL;
        } else
            fmt = LF_IMPORT_LLAMA_JSONL;
    }
    if (fmt == LF_IMPORT_LLAMA_JSONL && !json_is_array(root)) {
        json_decref(root);
        if ((rc = lf_store_parse_jsonl(name, text, len, &root, err)) < 0)
            return rc;
    }
    stats->format = fmt;
    if ((fmt == LF_IMPORT_BUNDLE && !json_is_object(root)) ||
        (fmt != LF_IMPORT_BUNDLE && !json_is_array(root))) {
        json_decref(root);
        return lf_error_set(err, LF_EFORMAT, "%s: not a %s", name,
                            fmt == LF_IMPORT_BUNDLE ? "localfit bundle (a JSON object)"
                                                    : "llama-bench JSON array");
    }

    /* One transaction: all of the file or nothing. */
    import_job job = {name, root, opts, stats};
    rc = lf_store_in_tx(st, import_body, &job, err);
    json_decref(root);
    if (rc < 0) {
        lf_import_format f = stats->format;
        memset(stats, 0, sizeof *stats);
        stats->format = f;
    }
    return rc;
}

int lf_store_import_file(lf_store *st, const char *path, const lf_import_opts *opts,
                         lf_import_stats *stats, lf_error *err) {
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f)
        return lf_error_set(err, LF_EIO, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len + 65536 > cap) {
            size_t ncap = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                rc = lf_error_set(err, LF_ENOMEM, "%s: out of memory reading the file", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f))   /* EISDIR: fopen opens a directory, fread fails */
                rc = lf_error_set(err, LF_EIO, "%s: %s", path,
                                  errno == EISDIR ? "is a directory, not a file to import"
                                                  : "read error");
            break;
        }
    }
    if (!is_stdin)
        fclose(f);
    if (rc == 0)
        rc = lf_store_import(st, is_stdin ? "(stdin)" : path, buf, len, opts, stats, err);
    free(buf);
    return rc;
}
