/*
 * llama-bench import: its JSON (`-o json`, an array of records) and JSONL
 * (`-o jsonl`, one record per line) so measurements of the real engine,
 * GPU runs included, join the same history as localfit's own.
 *
 * A record is one test: build_commit, build_number, cpu_info, gpu_info,
 * backends, model_filename, model_type ("qwen2 7B Q4_K - Medium"),
 * model_size, model_n_params, n_batch, n_ubatch, n_threads, type_k, type_v,
 * n_gpu_layers, flash_attn, n_prompt, n_gen, n_depth, test_time, avg_ns,
 * stddev_ns, avg_ts, stddev_ts, samples_ns, samples_ts. Records are grouped
 * into runs by (build, machine); a run's uuid is derived from the canonical
 * text of its records, so the same output imported twice, as JSON or JSONL,
 * maps to the same run and is skipped the second time. The machine becomes a
 * device "llama-bench-<hash>" made from cpu_info/gpu_info/backends unless
 * the caller attaches the runs to a stored device.
 */
#include "store/internal.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int lf_store_import_llama(lf_store *st, const char *name, json_t *records,
                          const lf_import_opts *opts, lf_import_stats *stats, lf_error *err);
int lf_store_parse_jsonl(const char *name, const char *text, size_t len, json_t **out,
                         lf_error *err);

int lf_store_parse_jsonl(const char *name, const char *text, size_t len, json_t **out,
                         lf_error *err) {
    json_t *arr = json_array();
    size_t pos = 0;
    int line = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        line++;
        size_t a = pos, b = end;
        while (a < b && isspace((unsigned char)text[a]))
            a++;
        while (b > a && isspace((unsigned char)text[b - 1]))
            b--;
        if (b > a) {
            json_error_t je;
            json_t *v = json_loadb(text + a, b - a, 0, &je);
            if (!v || !json_is_object(v)) {
                json_decref(v);
                json_decref(arr);
                return lf_error_set(err, LF_EFORMAT, "%s: line %d: %s", name, line,
                                    v ? "expected a JSON object" : je.text);
            }
            json_array_append_new(arr, v);
        }
        pos = end + 1;
    }
    *out = arr;
    return 0;
}

/* ---- field helpers ------------------------------------------------------------ */

static const char *rec_str(json_t *rec, const char *key) {
    json_t *v = json_object_get(rec, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

static bool rec_int(json_t *rec, const char *key, long long *out) {
    json_t *v = json_object_get(rec, key);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    /* a whole real in range (1e300 is whole too: converting it would be
     * undefined) */
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 9.2e18) {
        *out = (long long)json_real_value(v);
        return true;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    return false;
}

static int rec_intc(json_t *rec, const char *key, int dflt) {
    long long v;
    if (!rec_int(rec, key, &v) || v < INT32_MIN || v > INT32_MAX)
        return dflt;
    return (int)v;
}

/* "Qwen2.5-7B-Instruct-Q4_K_M" from ".../Qwen2.5-7B-Instruct-Q4_K_M.gguf"
 * (either slash, since Windows paths appear in the wild). */
static void model_stem(const char *path, char *buf, size_t size) {
    const char *base = path;
    for (const char *p = path; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    lf_strlcpy(buf, base, size);
    size_t n = strlen(buf);
    if (n > 5 && strcasecmp(buf + n - 5, ".gguf") == 0)
        buf[n - 5] = '\0';
}

/* llama.cpp's file-type description (model_type after "<arch> <size> ")
 * back to the names users type: "Q4_K - Medium" -> Q4_K_M, "IQ4_XS - 4.25
 * bpw" -> IQ4_XS, "all F32" -> F32. Q2_K's mix is described "Q2_K - Medium"
 * but named Q2_K. */
void lf_llama_quant_name(const char *model_type, char *buf, size_t size) {
    buf[0] = '\0';
    const char *p = model_type;
    for (int skip = 0; skip < 2; skip++) {
        p = strchr(p, ' ');
        if (!p)
            return;
        p++;
    }
    if (strncmp(p, "all ", 4) == 0)      /* "all F32" */
        p += 4;
    if (strncmp(p, "mostly ", 7) == 0)   /* older builds: "mostly Q4_0" */
        p += 7;
    char base[32];
    size_t n = 0;
    while (p[n] && p[n] != ' ' && n < sizeof base - 1) {
        base[n] = p[n];
        n++;
    }
    base[n] = '\0';
    const char *rest = p + n;
    const char *suffix = "";
    if (strcmp(rest, " - Medium") == 0)
        suffix = strcmp(base, "Q2_K") == 0 ? "" : "_M";
    else if (strcmp(rest, " - Small") == 0)
        suffix = "_S";
    else if (strcmp(rest, " - Large") == 0)
        suffix = "_L";
    snprintf(buf, size, "%s%s", base, suffix);
}

/* Lower-case, alphanumerics and single dashes: "AMD Ryzen 7 7800X3D
 * 8-Core Processor" -> "amd-ryzen-7-7800x3d-8-core-processor". */
static void slugify(const char *s, char *buf, size_t size) {
    size_t n = 0;
    bool dash = false;
    for (; *s && n + 1 < size; s++) {
        if (isalnum((unsigned char)*s)) {
            if (dash && n > 0 && n + 2 < size)
                buf[n++] = '-';
            buf[n++] = (char)tolower((unsigned char)*s);
            dash = false;
        } else {
            dash = true;
        }
    }
    buf[n] = '\0';
}

static void hex16(const void *data, size_t len, char *out17) {
    uint8_t d[32];
    lf_sha256(data, len, d);
    for (int i = 0; i < 8; i++)
        snprintf(out17 + 2 * i, 3, "%02x", d[i]);
}

/* ---- samples and statistics ----------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, mean and sample stddev; the CI comes from opts->summarize. */
static void basic_stats(const double *x, int n, lf_result *r) {
    if (n <= 0)
        return;
    double *s = malloc((size_t)n * sizeof *s);
    if (s) {
        memcpy(s, x, (size_t)n * sizeof *s);
        qsort(s, (size_t)n, sizeof *s, cmp_double);
        r->median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
        free(s);
    }
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += x[i];
    r->mean = sum / n;
    if (n > 1) {
        double ss = 0;
        for (int i = 0; i < n; i++)
            ss += (x[i] - r->mean) * (x[i] - r->mean);
        r->stddev = sqrt(ss / (n - 1));
    }
}

/* tokens/s samples: samples_ts, else derived from samples_ns. */
static int record_samples(const char *name, int idx, json_t *rec, double tokens, double **out,
                          int *n, lf_error *err) {
    *out = NULL;
    *n = 0;
    json_t *ts = json_object_get(rec, "samples_ts");
    json_t *ns = json_object_get(rec, "samples_ns");
    bool use_ts = json_is_array(ts) && json_array_size(ts) > 0;
    json_t *a = use_ts ? ts : ns;
    if (!json_is_array(a) || json_array_size(a) == 0)
        return 0;
    size_t cnt = json_array_size(a);
    if (cnt > 1000000)
        return lf_error_set(err, LF_EFORMAT, "%s: record %d: too many samples", name, idx);
    double *v = malloc(cnt * sizeof *v);
    if (!v)
        return lf_error_set(err, LF_ENOMEM, "%s: out of memory", name);
    for (size_t i = 0; i < cnt; i++) {
        json_t *x = json_array_get(a, i);
        double d = json_is_number(x) ? json_number_value(x) : NAN;
        if (!use_ts)
            d = d > 0 ? tokens * 1e9 / d : NAN;
        if (!isfinite(d) || d <= 0) {
            free(v);
            return lf_error_set(err, LF_EFORMAT, "%s: record %d: %s[%zu] is not a positive number",
                                name, idx, use_ts ? "samples_ts" : "samples_ns", i);
        }
        v[i] = d;
    }
    *out = v;
    *n = (int)cnt;
    return 0;
}

/* ---- one record -> one result --------------------------------------------------- */

static int record_result(const char *name, int idx, json_t *rec, const lf_import_opts *opts,
                         lf_result *r, double **samples, int *n, lf_error *err) {
    lf_result_init(r);
    int np = rec_intc(rec, "n_prompt", 0), ng = rec_intc(rec, "n_gen", 0);
    if (np < 0 || ng < 0 || (np == 0 && ng == 0))
        return lf_error_set(err, LF_EFORMAT, "%s: record %d: needs n_prompt or n_gen > 0",
                            name, idx);
    r->kind = np > 0 && ng > 0 ? LF_TEST_PG : np > 0 ? LF_TEST_PP : LF_TEST_TG;
    r->unit = LF_UNIT_TPS;
    r->n_prompt = np;
    r->n_gen = ng;
    r->n_depth = rec_intc(rec, "n_depth", 0);
    r->threads = rec_intc(rec, "n_threads", 0);
    if (r->n_depth < 0 || r->threads < 0)
        return lf_error_set(err, LF_EFORMAT, "%s: record %d: negative n_depth or n_threads", name,
                            idx);
    const char *file = rec_str(rec, "model_filename");
    model_stem(file, r->model, sizeof r->model);
    if (lf_field_copy(r->model_path, sizeof r->model_path, file, "model_filename", err) < 0)
        return lf_error_wrap(err, "%s: record %d", name, idx);
    lf_llama_quant_name(rec_str(rec, "model_type"), r->quant, sizeof r->quant);
    const char *tk = rec_str(rec, "type_k"), *tv = rec_str(rec, "type_v");
    if (*tv && strcmp(tk, tv) != 0)
        snprintf(r->kv_type, sizeof r->kv_type, "%.15s/%.15s", tk, tv);
    else
        lf_strlcpy(r->kv_type, tk, sizeof r->kv_type);
    lf_strlcpy(r->backend, rec_str(rec, "backends"), sizeof r->backend);
    lf_strlcpy(r->engine, "llama.cpp", sizeof r->engine);

    /* Settings that change speed between otherwise equal tests. */
    char fa[16] = "";
    long long f;
    if (rec_int(rec, "flash_attn", &f))
        snprintf(fa, sizeof fa, " fa=%lld", f);
    snprintf(r->config, sizeof r->config, "ngl=%d b=%d ub=%d%s", rec_intc(rec, "n_gpu_layers", 0),
             rec_intc(rec, "n_batch", 0), rec_intc(rec, "n_ubatch", 0), fa);
    lf_strlcpy(r->energy_note, "not measured by llama-bench", sizeof r->energy_note);

    /* Keep what the recommender and reports can use that has no column. */
    json_t *extra = json_object();
    static const char *const keep[] = {"model_type", "model_size", "model_n_params",
                                       "build_number", "test_time", "avg_ns", "stddev_ns",
                                       "avg_ts", "stddev_ts", "n_batch", "n_ubatch",
                                       "n_gpu_layers", "flash_attn", "split_mode", "use_mmap"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        json_t *v = json_object_get(rec, keep[i]);
        if (v && (json_is_number(v) || json_is_boolean(v) ||
                  (json_is_string(v) && strlen(json_string_value(v)) < 128)))
            json_object_set(extra, keep[i], v);
    }
    char *et = json_dumps(extra, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(extra);
    if (et && strlen(et) < sizeof r->extra)
        lf_strlcpy(r->extra, et, sizeof r->extra);
    free(et);

    /* as a double: two int32 counts from the file may overflow an int */
    int rc = record_samples(name, idx, rec, (double)np + ng, samples, n, err);
    if (rc < 0)
        return rc;
    if (*n > 0) {
        r->n_samples = *n;
        basic_stats(*samples, *n, r);
        if (opts->summarize)
            opts->summarize(*samples, *n, r);
    } else {
        /* Old llama-bench: only the mean and stddev. */
        json_t *avg = json_object_get(rec, "avg_ts"), *sd = json_object_get(rec, "stddev_ts");
        r->mean = json_is_number(avg) ? json_number_value(avg) : NAN;
        r->stddev = json_is_number(sd) ? json_number_value(sd) : NAN;
    }
    return 0;
}

/* ---- grouping and writing ------------------------------------------------------- */

static void group_key(json_t *rec, char *buf, size_t size) {
    long long bn = -1;
    rec_int(rec, "build_number", &bn);
    snprintf(buf, size, "%s\x1f%lld\x1f%s\x1f%s\x1f%s", rec_str(rec, "build_commit"), bn,
             rec_str(rec, "cpu_info"), rec_str(rec, "gpu_info"), rec_str(rec, "backends"));
}

static int import_group(lf_store *st, const char *name, json_t *recs, const int *idx,
                        const lf_import_opts *opts, lf_import_stats *stats, lf_error *err) {
    json_t *first = json_array_get(recs, 0);
    int rc = 0;

    /* Uuid from the canonical text of the records (sorted keys, compact,
     * shortest round-trip numbers): the same data, the same uuid. */
    size_t cap = 4096, len = 0;
    char *canon = malloc(cap);
    if (!canon)
        return lf_error_set(err, LF_ENOMEM, "%s: out of memory", name);
    memcpy(canon, "llama-bench\n", 12);
    len = 12;
    size_t i;
    json_t *rec;
    json_array_foreach(recs, i, rec) {
        char *t = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
        size_t tl = t ? strlen(t) : 0;
        if (!t || len + tl + 2 > cap) {
            size_t ncap = (len + tl + 2) * 2;
            char *nc = t ? realloc(canon, ncap) : NULL;
            if (!nc) {
                free(t);
                free(canon);
                return lf_error_set(err, LF_ENOMEM, "%s: out of memory", name);
            }
            canon = nc;
            cap = ncap;
        }
        memcpy(canon + len, t, tl);
        len += tl;
        canon[len++] = '\n';
        free(t);
    }
    lf_run run;
    memset(&run, 0, sizeof run);
    lf_uuid_from_data(canon, len, run.uuid, sizeof run.uuid);
    free(canon);
    int exists = lf_store_uuid_exists(st, run.uuid, NULL, err);
    if (exists < 0)
        return exists;
    if (exists) {
        stats->runs_skipped++;
        return 0;
    }

    /* The device. */
    if (opts->device_id && *opts->device_id) {
        char slug[80];
        if ((rc = lf_store_device_get(st, opts->device_id, slug, sizeof slug, NULL, err)) < 0)
            return rc;
        lf_strlcpy(run.device_id, opts->device_id, sizeof run.device_id);
    } else {
        const char *cpu = rec_str(first, "cpu_info"), *gpu = rec_str(first, "gpu_info"),
                   *be = rec_str(first, "backends");
        size_t kl = strlen(cpu) + strlen(gpu) + strlen(be) + 3;
        char *key = malloc(kl);
        if (!key)
            return lf_error_set(err, LF_ENOMEM, "%s: out of memory", name);
        snprintf(key, kl, "%s\n%s\n%s", cpu, gpu, be);
        char h[17];
        hex16(key, strlen(key), h);
        free(key);
        snprintf(run.device_id, sizeof run.device_id, "llama-bench-%s", h);
        char slug[80], a[80], b[40];
        slugify(cpu, a, sizeof a);
        slugify(gpu, b, sizeof b);
        snprintf(slug, sizeof slug, "%.40s%s%.38s", a[0] ? a : "unknown-cpu", b[0] ? "-" : "", b);
        json_t *prof = json_object();
        json_object_set_new(prof, "schema", json_string("localfit.device/imported"));
        json_object_set_new(prof, "source", json_string("llama-bench"));
        json_object_set_new(prof, "cpu_info", json_string(cpu));
        json_object_set_new(prof, "gpu_info", json_string(gpu));
        json_object_set_new(prof, "backends", json_string(be));
        char *pt = json_dumps(prof, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(prof);
        bool added = false;
        rc = pt ? lf_store_insert_device_if_absent(st, run.device_id, slug, pt, &added, err)
                : lf_error_set(err, LF_ENOMEM, "%s: out of memory", name);
        free(pt);
        if (rc < 0)
            return rc;
        stats->devices_added += added;
    }

    /* The run. */
    long long bn = -1;
    rec_int(first, "build_number", &bn);
    if (bn >= 0)
        snprintf(run.tool_version, sizeof run.tool_version, "llama-bench b%lld", bn);
    else
        lf_strlcpy(run.tool_version, "llama-bench", sizeof run.tool_version);
    lf_strlcpy(run.source, "llama-bench", sizeof run.source);
    if ((rc = lf_field_copy(run.git_commit, sizeof run.git_commit, rec_str(first, "build_commit"),
                            "build_commit", err)) < 0 ||
        (rc = lf_field_copy(run.label, sizeof run.label, opts->label, "label", err)) < 0)
        return lf_error_wrap(err, "%s", name);
    run.git_dirty = -1;
    lf_strlcpy(run.suite, "llama-bench", sizeof run.suite);
    run.status = LF_RUN_COMPLETE;
    json_array_foreach(recs, i, rec) {
        int64_t t;
        if (lf_parse_time_ms(rec_str(rec, "test_time"), &t) == 0) {
            if (run.started_ms == 0 || t < run.started_ms)
                run.started_ms = t;
            if (t > run.finished_ms)
                run.finished_ms = t;
        }
    }
    if (run.started_ms == 0)
        run.started_ms = lf_wall_ms();
    if ((rc = lf_store_insert_run(st, &run, err)) < 0)
        return lf_error_wrap(err, "%s", name);
    stats->runs_added++;

    json_array_foreach(recs, i, rec) {
        lf_result r;
        double *samples = NULL;
        int n = 0;
        rc = record_result(name, idx[i], rec, opts, &r, &samples, &n, err);
        if (rc == 0)
            rc = lf_store_insert_result(st, run.id, &r, samples, n, err);
        free(samples);
        if (rc < 0)
            return rc;
        stats->results_added++;
    }
    return 0;
}

int lf_store_import_llama(lf_store *st, const char *name, json_t *records,
                          const lf_import_opts *opts, lf_import_stats *stats, lf_error *err) {
    size_t n = json_array_size(records);
    if (n == 0)
        return lf_error_set(err, LF_EFORMAT, "%s: no llama-bench records", name);
    for (size_t i = 0; i < n; i++) {
        json_t *rec = json_array_get(records, i);
        if (!json_is_object(rec) ||
            (!json_object_get(rec, "n_prompt") && !json_object_get(rec, "n_gen")))
            return lf_error_set(err, LF_EFORMAT, "%s: record %zu is not a llama-bench result "
                                                 "(no n_prompt / n_gen)", name, i);
    }
    /* Group records by build and machine, keeping first-seen order. */
    bool *done = calloc(n, sizeof *done);
    int *idx = malloc(n * sizeof *idx);
    if (!done || !idx) {
        free(done);
        free(idx);
        return lf_error_set(err, LF_ENOMEM, "%s: out of memory", name);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (done[i])
            continue;
        char key[1024], k2[1024];
        group_key(json_array_get(records, i), key, sizeof key);
        json_t *group = json_array();
        int cnt = 0;
        for (size_t j = i; j < n; j++) {
            if (done[j])
                continue;
            group_key(json_array_get(records, j), k2, sizeof k2);
            if (strcmp(key, k2) == 0) {
                json_array_append(group, json_array_get(records, j));
                idx[cnt++] = (int)j;
                done[j] = true;
            }
        }
        rc = import_group(st, name, group, idx, opts, stats, err);
        json_decref(group);
    }
    free(done);
    free(idx);
    return rc;
}

/* ---- parsing without storing (bench --engine llama.cpp) -------------------------- */

int lf_store_llama_parse(const char *name, const char *text, size_t len, lf_summarize_fn summarize,
                         lf_run_full *out, lf_error *err) {
    memset(out, 0, sizeof *out);
    /* The same detection as imports: a '[' first means -o json, anything
     * else is read as -o jsonl. */
    size_t a = 0;
    while (a < len && isspace((unsigned char)text[a]))
        a++;
    if (a == len)
        return lf_error_set(err, LF_EFORMAT, "%s: no output (expected llama-bench JSON)", name);
    json_t *recs = NULL;
    int rc;
    if (text[a] == '[') {
        json_error_t je;
        recs = json_loadb(text + a, len - a, 0, &je);
        if (!recs || !json_is_array(recs)) {
            json_decref(recs);
            return lf_error_set(err, LF_EFORMAT, "%s: not llama-bench JSON: line %d: %s", name,
                                je.line, recs ? "expected an array" : je.text);
        }
    } else if ((rc = lf_store_parse_jsonl(name, text + a, len - a, &recs, err)) < 0) {
        return rc;
    }
    size_t n = json_array_size(recs);
    if (n == 0) {
        json_decref(recs);
        return lf_error_set(err, LF_EFORMAT, "%s: no llama-bench records", name);
    }
    lf_import_opts o = {.format = LF_IMPORT_LLAMA_JSON, .summarize = summarize};
    out->results = calloc(n, sizeof *out->results);
    out->samples = calloc(n, sizeof *out->samples);
    out->n_samples_stored = calloc(n, sizeof *out->n_samples_stored);
    if (!out->results || !out->samples || !out->n_samples_stored) {
        json_decref(recs);
        lf_run_full_free(out);
        memset(out, 0, sizeof *out);
        return lf_error_set(err, LF_ENOMEM, "%s: out of memory", name);
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *rec = json_array_get(recs, i);
        if (!json_is_object(rec) ||
            (!json_object_get(rec, "n_prompt") && !json_object_get(rec, "n_gen"))) {
            rc = lf_error_set(err, LF_EFORMAT,
                              "%s: record %zu is not a llama-bench result (no n_prompt / n_gen)",
                              name, i);
            break;
        }
        rc = record_result(name, (int)i, rec, &o, &out->results[i], &out->samples[i],
                           &out->n_samples_stored[i], err);
        if (rc == 0)
            out->n_results++;
    }
    if (rc == 0) {
        json_t *first = json_array_get(recs, 0);
        long long bn = -1;
        rec_int(first, "build_number", &bn);
        if (bn >= 0)
            snprintf(out->run.tool_version, sizeof out->run.tool_version, "llama-bench b%lld", bn);
        else
            lf_strlcpy(out->run.tool_version, "llama-bench", sizeof out->run.tool_version);
        lf_strlcpy(out->run.source, "llama-bench", sizeof out->run.source);
        lf_strlcpy(out->run.git_commit, rec_str(first, "build_commit"), sizeof out->run.git_commit);
    }
    json_decref(recs);
    if (rc < 0) {
        lf_run_full_free(out);
        memset(out, 0, sizeof *out);
    }
    return rc;
}
