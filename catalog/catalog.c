/*
 * Catalog loading and lookup: models.json through jansson, the two CSV
 * tables through a small RFC-4180-style reader (quoted fields, doubled
 * quotes), every value range-checked as it is read so that a typo in a
 * dataset is an error naming file, row and column rather than a silent
 * wrong recommendation later.
 */
#include "catalog/catalog.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct lf_catalog {
    lf_catalog_model *models;
    int n_models;
    lf_catalog_quant *quants;
    int n_quants;
    lf_catalog_gpu *gpus;
    int n_gpus;
};

/* ---- models.json ------------------------------------------------------ */

/* Copies a required string member; fails if missing, not a string, or too
 * long for dst (silent truncation would corrupt names and URLs). */
static int get_str(json_t *o, const char *key, char *dst, size_t size, bool required,
                   const char *where, lf_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (!required) {
            dst[0] = '\0';
            return 0;
        }
        return lf_error_set(err, LF_EFORMAT, "%s: key '%s' missing", where, key);
    }
    if (!json_is_string(v))
        return lf_error_set(err, LF_EFORMAT, "%s: key '%s' is not a string", where, key);
    const char *s = json_string_value(v);
    if (strlen(s) >= size)
        return lf_error_set(err, LF_EFORMAT, "%s: key '%s' longer than %zu characters", where,
                            key, size - 1);
    lf_strlcpy(dst, s, size);
    return 0;
}

static int get_int(json_t *o, const char *key, int *dst, int lo, int hi, bool required,
                   const char *where, lf_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (!required) {
            *dst = 0;
            return 0;
        }
        return lf_error_set(err, LF_EFORMAT, "%s: key '%s' missing", where, key);
    }
    if (!json_is_integer(v))
        return lf_error_set(err, LF_EFORMAT, "%s: key '%s' is not an integer", where, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return lf_error_set(err, LF_ERANGE, "%s: key '%s' = %lld outside [%d, %d]", where, key,
                            (long long)x, lo, hi);
    *dst = (int)x;
    return 0;
}

static int get_num(json_t *o, const char *key, double *dst, double lo, double hi,
                   const char *where, lf_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v)
        return lf_error_set(err, LF_EFORMAT, "%s: key '%s' missing", where, key);
    if (!json_is_number(v))
        return lf_error_set(err, LF_EFORMAT, "%s: key '%s' is not a number", where, key);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi))
        return lf_error_set(err, LF_ERANGE, "%s: key '%s' = %g outside [%g, %g]", where, key, x,
                            lo, hi);
    *dst = x;
    return 0;
}

static int get_bool(json_t *o, const char *key, bool *dst, bool required, const char *where,
                    lf_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (!required) {
            *dst = false;
            return 0;
        }
        return lf_error_set(err, LF_EFORMAT, "%s: key '%s' missing", where, key);
    }
    if (!json_is_boolean(v))
        return lf_error_set(err, LF_EFORMAT, "%s: key '%s' is not true/false", where, key);
    *dst = json_is_true(v);
    return 0;
}

/* tasks: an array of strings, stored comma-joined. */
static int get_tasks(json_t *o, char *dst, size_t size, const char *where, lf_error *err) {
    json_t *v = json_object_get(o, "tasks");
    if (!v || !json_is_array(v) || json_array_size(v) == 0)
        return lf_error_set(err, LF_EFORMAT, "%s: key 'tasks' must be a non-empty array", where);
    dst[0] = '\0';
    size_t i;
    json_t *t;
    json_array_foreach(v, i, t) {
        if (!json_is_string(t))
            return lf_error_set(err, LF_EFORMAT, "%s: tasks[%zu] is not a string", where, i);
        size_t need = strlen(dst) + strlen(json_string_value(t)) + 2;
        if (need > size)
            return lf_error_set(err, LF_EFORMAT, "%s: tasks longer than %zu characters", where,
                                size - 1);
        if (i)
            strcat(dst, ",");
        strcat(dst, json_string_value(t));
    }
    return 0;
}

/* The optional mixture-of-experts keys: absent on dense models; when
 * n_expert is given, the top k and the expert width must be too, and a
 * shared expert needs its width. */
static int parse_experts(json_t *o, lf_catalog_model *m, const char *where, lf_error *err) {
    int rc;
    m->expert_norm_topk = -1;
    if ((rc = get_int(o, "n_expert", &m->n_expert, 0, 4096, false, where, err)) < 0)
        return rc;
    if (m->n_expert == 0) {
        static const char *const moe_only[] = {"n_expert_used", "n_ff_exp", "n_expert_shared",
                                               "n_ff_shexp", "expert_gating",
                                               "expert_norm_topk", "active_params_b"};
        for (size_t i = 0; i < sizeof moe_only / sizeof moe_only[0]; i++)
            if (json_object_get(o, moe_only[i]))
                return lf_error_set(err, LF_EFORMAT, "%s: key '%s' needs n_expert > 0", where,
                                    moe_only[i]);
        return 0;
    }
    bool topk = false;
    if ((rc = get_int(o, "n_expert_used", &m->n_expert_used, 1, m->n_expert, true, where,
                      err)) < 0 ||
        (rc = get_int(o, "n_ff_exp", &m->n_ff_exp, 1, 1 << 20, true, where, err)) < 0 ||
        (rc = get_int(o, "n_expert_shared", &m->n_expert_shared, 0, 64, false, where, err)) < 0 ||
        (rc = get_int(o, "n_ff_shexp", &m->n_ff_shexp, 0, 1 << 20, false, where, err)) < 0 ||
        (rc = get_str(o, "expert_gating", m->expert_gating, sizeof m->expert_gating, false,
                      where, err)) < 0 ||
        (json_object_get(o, "active_params_b") &&
         (rc = get_num(o, "active_params_b", &m->active_params_b, 1e-6, m->params_b, where,
                       err)) < 0) ||
        (rc = get_bool(o, "active_excludes_embedding", &m->active_excludes_embedding, false,
                       where, err)) < 0)
        return rc;
    if (json_object_get(o, "expert_norm_topk")) {
        if ((rc = get_bool(o, "expert_norm_topk", &topk, true, where, err)) < 0)
            return rc;
        m->expert_norm_topk = topk ? 1 : 0;
    }
    if (m->n_expert_shared > 0 && m->n_ff_shexp == 0)
        return lf_error_set(err, LF_EFORMAT, "%s: n_expert_shared %d needs n_ff_shexp", where,
                            m->n_expert_shared);
    if (m->expert_gating[0] && strcmp(m->expert_gating, "softmax") &&
        strcmp(m->expert_gating, "topk_softmax") && strcmp(m->expert_gating, "sigmoid"))
        return lf_error_set(err, LF_EFORMAT,
                            "%s: expert_gating '%s' is not softmax, topk_softmax or sigmoid",
                            where, m->expert_gating);
    return 0;
}

static int parse_model(json_t *o, lf_catalog_model *m, const char *where, lf_error *err) {
    int rc;
    double d;
    if (!json_is_object(o))
        return lf_error_set(err, LF_EFORMAT, "%s: not an object", where);
    if ((rc = get_str(o, "name", m->name, sizeof m->name, true, where, err)) < 0 ||
        (rc = get_str(o, "display", m->display, sizeof m->display, true, where, err)) < 0 ||
        (rc = get_str(o, "family", m->family, sizeof m->family, true, where, err)) < 0 ||
        (rc = get_str(o, "arch", m->arch, sizeof m->arch, true, where, err)) < 0 ||
        (rc = get_str(o, "license", m->license, sizeof m->license, true, where, err)) < 0 ||
        (rc = get_str(o, "source", m->source, sizeof m->source, true, where, err)) < 0 ||
        (rc = get_tasks(o, m->tasks, sizeof m->tasks, where, err)) < 0 ||
        (rc = get_int(o, "n_layer", &m->n_layer, 1, 1024, true, where, err)) < 0 ||
        (rc = get_int(o, "n_embd", &m->n_embd, 1, 1 << 20, true, where, err)) < 0 ||
        (rc = get_int(o, "n_head", &m->n_head, 1, 4096, true, where, err)) < 0 ||
        (rc = get_int(o, "n_head_kv", &m->n_head_kv, 1, 4096, true, where, err)) < 0 ||
        (rc = get_int(o, "head_dim", &m->head_dim, 1, 4096, true, where, err)) < 0 ||
        (rc = get_int(o, "n_ff", &m->n_ff, 1, 1 << 20, true, where, err)) < 0 ||
        (rc = get_int(o, "n_vocab", &m->n_vocab, 1, 1 << 24, true, where, err)) < 0 ||
        (rc = get_int(o, "n_ctx", &m->n_ctx, 1, 1 << 24, true, where, err)) < 0 ||
        (rc = get_int(o, "n_ctx_practical", &m->n_ctx_practical, 0, 1 << 24, false, where, err)) < 0 ||
        (rc = get_int(o, "sliding_window", &m->sliding_window, 0, 1 << 24, false, where, err)) < 0 ||
        (rc = get_num(o, "rope_theta", &m->rope_theta, 1.0, 1e12, where, err)) < 0 ||
        (rc = get_num(o, "norm_eps", &d, 1e-12, 1e-1, where, err)) < 0)
        return rc;
    m->norm_eps = (float)d;
    if ((rc = get_num(o, "params_b", &m->params_b, 1e-6, 1e4, where, err)) < 0 ||
        (rc = get_bool(o, "tied_embeddings", &m->tied_embeddings, true, where, err)) < 0 ||
        (rc = get_bool(o, "qkv_bias", &m->qkv_bias, false, where, err)) < 0 ||
        (rc = get_bool(o, "qk_norm", &m->qk_norm, false, where, err)) < 0 ||
        (rc = get_num(o, "quality_score", &m->quality_score, 0.0, 100.0, where, err)) < 0 ||
        (rc = get_str(o, "quality_metric", m->quality_metric, sizeof m->quality_metric, true,
                      where, err)) < 0 ||
        (rc = get_str(o, "quality_source", m->quality_source, sizeof m->quality_source, true,
                      where, err)) < 0 ||
        (rc = get_bool(o, "quality_verified", &m->quality_verified, false, where, err)) < 0 ||
        (rc = get_bool(o, "verified", &m->verified, true, where, err)) < 0)
        return rc;
    if (m->n_head % m->n_head_kv != 0)
        return lf_error_set(err, LF_EFORMAT, "%s: n_head %d is not a multiple of n_head_kv %d",
                            where, m->n_head, m->n_head_kv);
    if ((rc = parse_experts(o, m, where, err)) < 0)
        return rc;
    if (m->n_ctx_practical == 0 || m->n_ctx_practical > m->n_ctx)
        m->n_ctx_practical = m->n_ctx;
    for (const char *p = m->name; *p; p++)
        if (isupper((unsigned char)*p) || isspace((unsigned char)*p))
            return lf_error_set(err, LF_EFORMAT, "%s: name '%s' must be a lowercase slug", where,
                                m->name);
    return 0;
}

static int load_models(lf_catalog *c, const char *path, lf_error *err) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return lf_error_set(err, LF_EFORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    int rc = 0;
    json_t *schema = json_object_get(root, "schema");
    json_t *arr = json_object_get(root, "models");
    if (!schema || !json_is_string(schema) ||
        strcmp(json_string_value(schema), "localfit.models/1") != 0) {
        rc = lf_error_set(err, LF_EFORMAT, "%s: schema is not \"localfit.models/1\"", path);
        goto done;
    }
    if (!arr || !json_is_array(arr) || json_array_size(arr) == 0) {
        rc = lf_error_set(err, LF_EFORMAT, "%s: key 'models' must be a non-empty array", path);
        goto done;
    }
    size_t n = json_array_size(arr);
    c->models = calloc(n, sizeof *c->models);
    if (!c->models) {
        rc = lf_error_set(err, LF_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        json_t *nm = json_is_object(o) ? json_object_get(o, "name") : NULL;
        char where[4400];
        snprintf(where, sizeof where, "%s: model %zu (%s)", path, i,
                 nm && json_is_string(nm) ? json_string_value(nm) : "?");
        if ((rc = parse_model(o, &c->models[i], where, err)) < 0)
            goto done;
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->models[j].name, c->models[i].name) == 0) {
                rc = lf_error_set(err, LF_EFORMAT, "%s: duplicate name", where);
                goto done;
            }
        c->n_models++;
    }
done:
    json_decref(root);
    return rc;
}

/* ---- CSV ---------------------------------------------------------------- */

#define CSV_MAX_FIELDS 16

typedef struct csv_row {
    char *field[CSV_MAX_FIELDS];
    int n;
} csv_row;

/* Splits one line in place (quotes removed, "" unescaped). Returns 0, or
 * -1 for an unterminated quote or too many fields. */
static int csv_split(char *line, csv_row *row) {
    row->n = 0;
    char *r = line, *w = line;
    for (;;) {
        if (row->n == CSV_MAX_FIELDS)
            return -1;
        row->field[row->n++] = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (*r == '\0')
                    return -1;
                if (*r == '"') {
                    if (r[1] == '"') {
                        *w++ = '"';
                        r += 2;
                        continue;
                    }
                    r++;
                    break;
                }
                *w++ = *r++;
            }
        } else {
            while (*r && *r != ',')
                *w++ = *r++;
        }
        if (*r == ',') {
            *w++ = '\0';
            r++;
            continue;
        }
        if (*r != '\0')
            return -1; /* text after a closing quote */
        *w = '\0';
        return 0;
    }
}

typedef struct csv_file {
    const char *path;
    FILE *f;
    char *line;
    size_t cap;
    int lineno;
    const char *cols[CSV_MAX_FIELDS];
    int ncols;
} csv_file;

/* Next non-empty line; 1 = a row, 0 = end, <0 = error. */
static int csv_next(csv_file *cf, csv_row *row, lf_error *err) {
    for (;;) {
        ssize_t len = getline(&cf->line, &cf->cap, cf->f);
        if (len < 0)
            return 0;
        cf->lineno++;
        while (len > 0 && (cf->line[len - 1] == '\n' || cf->line[len - 1] == '\r'))
            cf->line[--len] = '\0';
        if (len == 0)
            continue;
        if (csv_split(cf->line, row) < 0)
            return lf_error_set(err, LF_EFORMAT, "%s:%d: malformed CSV line", cf->path,
                                cf->lineno);
        if (row->n != cf->ncols)
            return lf_error_set(err, LF_EFORMAT, "%s:%d: %d fields, expected %d", cf->path,
                                cf->lineno, row->n, cf->ncols);
        return 1;
    }
}

static int csv_open(csv_file *cf, const char *path, const char *const *expect, int n,
                    lf_error *err) {
    memset(cf, 0, sizeof *cf);
    cf->path = path;
    cf->f = fopen(path, "r");
    if (!cf->f)
        return lf_error_set(err, LF_EIO, "%s: %s", path, strerror(errno));
    cf->ncols = n;
    csv_row hdr;
    ssize_t len = getline(&cf->line, &cf->cap, cf->f);
    cf->lineno = 1;
    if (len <= 0)
        return lf_error_set(err, LF_EFORMAT, "%s: empty file", path);
    while (len > 0 && (cf->line[len - 1] == '\n' || cf->line[len - 1] == '\r'))
        cf->line[--len] = '\0';
    if (csv_split(cf->line, &hdr) < 0 || hdr.n != n)
        return lf_error_set(err, LF_EFORMAT, "%s:1: header must have %d columns", path, n);
    for (int i = 0; i < n; i++) {
        if (strcmp(hdr.field[i], expect[i]) != 0)
            return lf_error_set(err, LF_EFORMAT, "%s:1: column %d is '%s', expected '%s'", path,
                                i + 1, hdr.field[i], expect[i]);
        cf->cols[i] = expect[i];
    }
    return 0;
}

static void csv_close(csv_file *cf) {
    if (cf->f)
        fclose(cf->f);
    free(cf->line);
}

/* A number; empty → NAN when optional. */
static int csv_num(const csv_file *cf, const csv_row *row, int col, bool optional, double lo,
                   double hi, double *out, lf_error *err) {
    const char *s = row->field[col];
    if (*s == '\0') {
        if (optional) {
            *out = NAN;
            return 0;
        }
        return lf_error_set(err, LF_EFORMAT, "%s:%d: column '%s' is empty", cf->path,
                            cf->lineno, cf->cols[col]);
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno)
        return lf_error_set(err, LF_EFORMAT, "%s:%d: column '%s': '%s' is not a number",
                            cf->path, cf->lineno, cf->cols[col], s);
    if (!(v >= lo && v <= hi))
        return lf_error_set(err, LF_ERANGE, "%s:%d: column '%s': %g outside [%g, %g]", cf->path,
                            cf->lineno, cf->cols[col], v, lo, hi);
    *out = v;
    return 0;
}

static int csv_str(const csv_file *cf, const csv_row *row, int col, char *dst, size_t size,
                   lf_error *err) {
    const char *s = row->field[col];
    if (*s == '\0')
        return lf_error_set(err, LF_EFORMAT, "%s:%d: column '%s' is empty", cf->path,
                            cf->lineno, cf->cols[col]);
    if (strlen(s) >= size)
        return lf_error_set(err, LF_EFORMAT, "%s:%d: column '%s' longer than %zu characters",
                            cf->path, cf->lineno, cf->cols[col], size - 1);
    lf_strlcpy(dst, s, size);
    return 0;
}

/* Grows *arr (element size esz) to hold n+1 elements. */
static int grow(void **arr, int n, int *cap, size_t esz) {
    if (n < *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 32;
    void *p = realloc(*arr, (size_t)nc * esz);
    if (!p)
        return -1;
    memset((char *)p + (size_t)*cap * esz, 0, (size_t)(nc - *cap) * esz);
    *arr = p;
    *cap = nc;
    return 0;
}

static int load_quants(lf_catalog *c, const char *path, lf_error *err) {
    static const char *const cols[] = {"name", "bpw", "size_gib", "dppl", "kld",
                                       "same_top", "imatrix", "source"};
    csv_file cf;
    int rc = csv_open(&cf, path, cols, 8, err), cap = 0;
    csv_row row;
    while (rc == 0 && (rc = csv_next(&cf, &row, err)) == 1) {
        rc = 0;
        if (grow((void **)&c->quants, c->n_quants, &cap, sizeof *c->quants) < 0) {
            rc = lf_error_set(err, LF_ENOMEM, "%s: out of memory", path);
            break;
        }
        lf_catalog_quant *q = &c->quants[c->n_quants];
        if ((rc = csv_str(&cf, &row, 0, q->name, sizeof q->name, err)) < 0 ||
            (rc = csv_num(&cf, &row, 1, false, 1.0, 64.0, &q->bpw, err)) < 0 ||
            (rc = csv_num(&cf, &row, 2, true, 0.0, 1e6, &q->size_gib, err)) < 0 ||
            (rc = csv_num(&cf, &row, 3, true, -1.0, 1e3, &q->dppl, err)) < 0 ||
            (rc = csv_num(&cf, &row, 4, false, 0.0, 100.0, &q->kld, err)) < 0 ||
            (rc = csv_num(&cf, &row, 5, true, 0.0, 100.0, &q->same_top, err)) < 0 ||
            (rc = csv_str(&cf, &row, 6, q->imatrix, sizeof q->imatrix, err)) < 0 ||
            (rc = csv_str(&cf, &row, 7, q->source, sizeof q->source, err)) < 0)
            break;
        for (int j = 0; j < c->n_quants; j++)
            if (strcasecmp(c->quants[j].name, q->name) == 0) {
                rc = lf_error_set(err, LF_EFORMAT, "%s:%d: duplicate quant '%s'", path,
                                  cf.lineno, q->name);
                break;
            }
        if (rc < 0)
            break;
        c->n_quants++;
    }
    if (rc == 0 && c->n_quants == 0)
        rc = lf_error_set(err, LF_EFORMAT, "%s: no rows", path);
    csv_close(&cf);
    return rc < 0 ? rc : 0;
}

static int load_gpus(lf_catalog *c, const char *path, lf_error *err) {
    static const char *const cols[] = {"vendor", "name", "mem_gib", "bandwidth_gbs",
                                       "unified", "fp16_tflops", "source"};
    csv_file cf;
    int rc = csv_open(&cf, path, cols, 7, err), cap = 0;
    csv_row row;
    while (rc == 0 && (rc = csv_next(&cf, &row, err)) == 1) {
        rc = 0;
        if (grow((void **)&c->gpus, c->n_gpus, &cap, sizeof *c->gpus) < 0) {
            rc = lf_error_set(err, LF_ENOMEM, "%s: out of memory", path);
            break;
        }
        lf_catalog_gpu *g = &c->gpus[c->n_gpus];
        double mem;
        if ((rc = csv_str(&cf, &row, 0, g->vendor, sizeof g->vendor, err)) < 0 ||
            (rc = csv_str(&cf, &row, 1, g->name, sizeof g->name, err)) < 0 ||
            (rc = csv_num(&cf, &row, 2, false, 0.125, 1 << 20, &mem, err)) < 0 ||
            (rc = csv_num(&cf, &row, 3, false, 1.0, 1e6, &g->bandwidth_gbs, err)) < 0 ||
            (rc = csv_num(&cf, &row, 5, true, 0.0, 1e6, &g->fp16_tflops, err)) < 0 ||
            (rc = csv_str(&cf, &row, 6, g->source, sizeof g->source, err)) < 0)
            break;
        g->mem_bytes = (uint64_t)(mem * 1073741824.0);
        const char *u = row.field[4];
        if (strcmp(u, "yes") == 0)
            g->unified = true;
        else if (strcmp(u, "no") == 0)
            g->unified = false;
        else {
            rc = lf_error_set(err, LF_EFORMAT, "%s:%d: column 'unified' must be yes or no, not '%s'",
                              path, cf.lineno, u);
            break;
        }
        c->n_gpus++;
    }
    if (rc == 0 && c->n_gpus == 0)
        rc = lf_error_set(err, LF_EFORMAT, "%s: no rows", path);
    csv_close(&cf);
    return rc < 0 ? rc : 0;
}

int lf_catalog_load(lf_catalog **out, const char *datadir, lf_error *err) {
    *out = NULL;
    if (!datadir || !*datadir)
        return lf_error_set(err, LF_EINVAL, "catalog: no datasets directory");
    lf_catalog *c = calloc(1, sizeof *c);
    if (!c)
        return lf_error_set(err, LF_ENOMEM, "catalog: out of memory");
    char path[4096];
    int rc;
    snprintf(path, sizeof path, "%s/models.json", datadir);
    if ((rc = load_models(c, path, err)) < 0)
        goto fail;
    snprintf(path, sizeof path, "%s/quants.csv", datadir);
    if ((rc = load_quants(c, path, err)) < 0)
        goto fail;
    snprintf(path, sizeof path, "%s/gpus.csv", datadir);
    if ((rc = load_gpus(c, path, err)) < 0)
        goto fail;
    *out = c;
    return 0;
fail:
    lf_catalog_free(c);
    return rc;
}

void lf_catalog_free(lf_catalog *c) {
    if (!c)
        return;
    free(c->models);
    free(c->quants);
    free(c->gpus);
    free(c);
}

/* ---- lookup ---------------------------------------------------------- */

int lf_catalog_n_models(const lf_catalog *c) { return c ? c->n_models : 0; }

const lf_catalog_model *lf_catalog_model_at(const lf_catalog *c, int i) {
    return c && i >= 0 && i < c->n_models ? &c->models[i] : NULL;
}

int lf_catalog_match(const lf_catalog *c, const char *name, const lf_catalog_model **out,
                     lf_error *err) {
    *out = NULL;
    if (!c || !name || !*name)
        return lf_error_set(err, LF_EINVAL, "no model name given");
    for (int i = 0; i < c->n_models; i++)
        if (strcmp(c->models[i].name, name) == 0) {
            *out = &c->models[i];
            return 0;
        }
    for (int i = 0; i < c->n_models; i++)
        if (strcasecmp(c->models[i].name, name) == 0) {
            *out = &c->models[i];
            return 0;
        }
    size_t n = strlen(name);
    int found = -1, count = 0;
    char list[256] = "";
    for (int i = 0; i < c->n_models; i++)
        if (strncasecmp(c->models[i].name, name, n) == 0) {
            if (count < 6) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s%s", count ? ", " : "", c->models[i].name);
            }
            found = i;
            count++;
        }
    if (count == 1) {
        *out = &c->models[found];
        return 0;
    }
    if (count == 0)
        return lf_error_set(err, LF_ENOTFOUND, "no catalog model named '%s'", name);
    return lf_error_set(err, LF_EINVAL, "'%s' is ambiguous: %s%s", name, list,
                        count > 6 ? ", …" : "");
}

const lf_catalog_model *lf_catalog_find(const lf_catalog *c, const char *name) {
    const lf_catalog_model *m;
    return lf_catalog_match(c, name, &m, NULL) == 0 ? m : NULL;
}

int lf_catalog_n_quants(const lf_catalog *c) { return c ? c->n_quants : 0; }

const lf_catalog_quant *lf_catalog_quant_at(const lf_catalog *c, int i) {
    return c && i >= 0 && i < c->n_quants ? &c->quants[i] : NULL;
}

const lf_catalog_quant *lf_catalog_find_quant(const lf_catalog *c, const char *name) {
    if (!c || !name)
        return NULL;
    for (int i = 0; i < c->n_quants; i++)
        if (strcasecmp(c->quants[i].name, name) == 0)
            return &c->quants[i];
    return NULL;
}

int lf_catalog_n_gpus(const lf_catalog *c) { return c ? c->n_gpus : 0; }

const lf_catalog_gpu *lf_catalog_gpu_at(const lf_catalog *c, int i) {
    return c && i >= 0 && i < c->n_gpus ? &c->gpus[i] : NULL;
}

/* Lowercase letters and digits only: "RTX 4090" and "rtx-4090" compare equal. */
static void squash(const char *s, char *out, size_t size) {
    size_t n = 0;
    for (; *s && n + 1 < size; s++)
        if (isalnum((unsigned char)*s))
            out[n++] = (char)tolower((unsigned char)*s);
    out[n] = '\0';
}

const lf_catalog_gpu *lf_catalog_find_gpu(const lf_catalog *c, const char *name) {
    if (!c || !name)
        return NULL;
    char q[128], g[128];
    squash(name, q, sizeof q);
    if (!q[0])
        return NULL;
    const lf_catalog_gpu *best = NULL;
    size_t best_len = (size_t)-1;
    bool tie = false;
    for (int i = 0; i < c->n_gpus; i++) {
        squash(c->gpus[i].name, g, sizeof g);
        if (strcmp(g, q) == 0)
            return &c->gpus[i];
        if (!strstr(g, q))
            continue;
        size_t len = strlen(g);
        if (len < best_len) {
            best = &c->gpus[i];
            best_len = len;
            tie = false;
        } else if (len == best_len) {
            tie = true;
        }
    }
    return tie ? NULL : best;
}

bool lf_catalog_model_has_task(const lf_catalog_model *m, const char *t) {
    size_t n = strlen(t);
    for (const char *p = m->tasks; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncasecmp(p, t, n) == 0)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

/* ---- tensor inventory ------------------------------------------------ */

/* Per-block tensors as (suffix, row length, rows, experts). The lists
 * follow the GGUF names llama.cpp's converter writes for each
 * architecture. */
typedef struct tensor_tpl {
    const char *suffix;
    int64_t ne0, ne1, ne2;
} tensor_tpl;

bool lf_catalog_model_is_moe(const lf_catalog_model *m) {
    return m->n_expert > 0 && m->n_expert_used > 0;
}

static int block_tensors(const lf_catalog_model *m, tensor_tpl *t) {
    int64_t E = m->n_embd, Q = (int64_t)m->n_head * m->head_dim,
            KV = (int64_t)m->n_head_kv * m->head_dim, F = m->n_ff;
    bool gemma = strncmp(m->arch, "gemma", 5) == 0;
    bool olmo2 = strcmp(m->arch, "olmo2") == 0;
    /* OLMoE normalises Q and K over the whole projection, as OLMo 2 does,
     * but keeps the pre-norms */
    bool qk_full = olmo2 || strcmp(m->arch, "olmoe") == 0;
    bool fused = strcmp(m->arch, "phi3") == 0;
    /* gpt-oss: biases on every projection and on the experts, a learned
     * attention sink per head, and its FFN norm named post_attention_norm */
    bool oss = strcmp(m->arch, "gpt-oss") == 0;
    bool moe = lf_catalog_model_is_moe(m);
    int n = 0;
    /* OLMo 2 normalises after attention and FFN only. */
    if (!olmo2)
        t[n++] = (tensor_tpl){"attn_norm.weight", E, 1, 1};
    if (fused) {
        t[n++] = (tensor_tpl){"attn_qkv.weight", E, Q + 2 * KV, 1};
    } else {
        t[n++] = (tensor_tpl){"attn_q.weight", E, Q, 1};
        t[n++] = (tensor_tpl){"attn_k.weight", E, KV, 1};
        t[n++] = (tensor_tpl){"attn_v.weight", E, KV, 1};
    }
    if (m->qkv_bias) {
        t[n++] = (tensor_tpl){"attn_q.bias", Q, 1, 1};
        t[n++] = (tensor_tpl){"attn_k.bias", KV, 1, 1};
        t[n++] = (tensor_tpl){"attn_v.bias", KV, 1, 1};
    }
    if (m->qk_norm) {
        /* OLMo 2 and OLMoE normalise the whole projection, the others each head. */
        t[n++] = (tensor_tpl){"attn_q_norm.weight", qk_full ? Q : m->head_dim, 1, 1};
        t[n++] = (tensor_tpl){"attn_k_norm.weight", qk_full ? KV : m->head_dim, 1, 1};
    }
    t[n++] = (tensor_tpl){"attn_output.weight", Q, E, 1};
    if (oss) {
        t[n++] = (tensor_tpl){"attn_output.bias", E, 1, 1};
        t[n++] = (tensor_tpl){"attn_sinks.weight", m->n_head, 1, 1};
    }
    if (gemma || olmo2 || oss)
        t[n++] = (tensor_tpl){"post_attention_norm.weight", E, 1, 1};
    if (!olmo2 && !oss)
        t[n++] = (tensor_tpl){"ffn_norm.weight", E, 1, 1};
    if (moe) {
        int64_t X = m->n_expert, FE = m->n_ff_exp;
        t[n++] = (tensor_tpl){"ffn_gate_inp.weight", E, X, 1};
        if (oss)
            t[n++] = (tensor_tpl){"ffn_gate_inp.bias", X, 1, 1};
        t[n++] = (tensor_tpl){"ffn_gate_exps.weight", E, FE, X};
        t[n++] = (tensor_tpl){"ffn_up_exps.weight", E, FE, X};
        t[n++] = (tensor_tpl){"ffn_down_exps.weight", FE, E, X};
        if (oss) {
            t[n++] = (tensor_tpl){"ffn_gate_exps.bias", FE, 1, X};
            t[n++] = (tensor_tpl){"ffn_up_exps.bias", FE, 1, X};
            t[n++] = (tensor_tpl){"ffn_down_exps.bias", E, 1, X};
        }
        if (m->n_expert_shared > 0) {
            /* the shared experts as one FFN of their summed width, as the
             * converter writes them; qwen2moe gates it per token */
            int64_t FS = (int64_t)m->n_ff_shexp * m->n_expert_shared;
            if (strcmp(m->arch, "qwen2moe") == 0)
                t[n++] = (tensor_tpl){"ffn_gate_inp_shexp.weight", E, 1, 1};
            t[n++] = (tensor_tpl){"ffn_gate_shexp.weight", E, FS, 1};
            t[n++] = (tensor_tpl){"ffn_up_shexp.weight", E, FS, 1};
            t[n++] = (tensor_tpl){"ffn_down_shexp.weight", FS, E, 1};
        }
    } else if (fused) {
        t[n++] = (tensor_tpl){"ffn_up.weight", E, 2 * F, 1};
    } else {
        t[n++] = (tensor_tpl){"ffn_gate.weight", E, F, 1};
        t[n++] = (tensor_tpl){"ffn_up.weight", E, F, 1};
    }
    if (!moe)
        t[n++] = (tensor_tpl){"ffn_down.weight", F, E, 1};
    if (gemma || olmo2)
        t[n++] = (tensor_tpl){"post_ffw_norm.weight", E, 1, 1};
    return n;
}

#define MAX_BLOCK_TENSORS 32

static int n_top(const lf_catalog_model *m) { return m->tied_embeddings ? 2 : 3; }

int lf_catalog_n_tensors(const lf_catalog_model *m) {
    tensor_tpl t[MAX_BLOCK_TENSORS];
    return n_top(m) + m->n_layer * block_tensors(m, t);
}

int lf_catalog_tensor_at(const lf_catalog_model *m, int i, lf_catalog_tensor *out) {
    tensor_tpl t[MAX_BLOCK_TENSORS];
    int nb = block_tensors(m, t), nt = n_top(m);
    if (i < 0 || i >= nt + m->n_layer * nb)
        return LF_ERANGE;
    if (i < nt) {
        static const char *const top[] = {"token_embd.weight", "output_norm.weight",
                                          "output.weight"};
        lf_strlcpy(out->name, top[i], sizeof out->name);
        out->layer = -1;
        out->ne0 = m->n_embd;
        out->ne1 = i == 1 ? 1 : m->n_vocab;
        out->ne2 = 1;
        return 0;
    }
    i -= nt;
    int layer = i / nb;
    const tensor_tpl *p = &t[i % nb];
    snprintf(out->name, sizeof out->name, "blk.%d.%s", layer, p->suffix);
    out->layer = layer;
    out->ne0 = p->ne0;
    out->ne1 = p->ne1;
    out->ne2 = p->ne2;
    return 0;
}

void lf_catalog_param_counts(const lf_catalog_model *m, double *total, double *active,
                             double *embd) {
    double tot = 0, act = 0, emb = 0;
    int n = lf_catalog_n_tensors(m);
    for (int i = 0; i < n; i++) {
        lf_catalog_tensor t;
        lf_catalog_tensor_at(m, i, &t);
        double e = (double)t.ne0 * (double)t.ne1 * (double)t.ne2;
        tot += e;
        /* a per-expert tensor: the token's k experts of its ne2 */
        act += t.ne2 > 1 && m->n_expert_used > 0 ? e * m->n_expert_used / (double)t.ne2 : e;
        if (strcmp(t.name, "token_embd.weight") == 0)
            emb = e;
    }
    if (total)
        *total = tot;
    if (active)
        *active = act;
    if (embd)
        *embd = emb;
}
