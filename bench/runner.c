/*
 * The benchmark runner: turns a matrix into a plan of groups (one loaded
 * model each) and tests, runs the tests of a group round-robin until each
 * is precise enough or out of budget, and stores every finished test with
 * all its samples as soon as it finishes.
 *
 * Invariants:
 *  1. The whole matrix is resolved and checked (models, adapters' specs,
 *     ISAs, memory of synthesized models) before the run is recorded or any
 *     model loaded: a typo costs nothing.
 *  2. One group at a time: its model (and merged copies), adapters, thread
 *     pools and contexts are created when it starts and freed when it ends,
 *     so at most one model is resident.
 *  3. A result reaches the store and the caller only when its test has
 *     finished; an interrupted or failed run keeps exactly those (the run
 *     is then finished as interrupted).
 *  4. Between the two clock reads of a repetition there are only the
 *     evaluation calls and a loop over prepared tokens: no allocation, no
 *     output, no system call by the harness (contexts, tokens and the depth
 *     prefix are ready before the first read; energy and RSS are read
 *     outside).
 *  5. Thread pools are freed in the reverse order of creation, so the
 *     caller's CPU affinity (pinned pools pin the caller) is restored
 *     before the next group and before any roof measurement.
 */
#include "bench/bench.h"
#include "bench/runner_internal.h"
#include "catalog/catalog.h"

#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum { SRC_CATALOG = 0, SRC_SHAPE, SRC_GGUF };
enum { ST_WAIT = 0, ST_RUN, ST_DONE, ST_SKIP };

#define MAX_POOLS 64

typedef struct rmodel {
    int src;
    char name[128];            /* result.model: catalog name, shape name, file stem */
    char path[512];            /* result.model_path: catalog name, "shape:NAME", path */
    lf_model_params hp;        /* catalog and shapes (GGUF: after loading) */
    const lf_catalog_model *cm;
    uint64_t file_bytes;       /* GGUF */
} rmodel;

typedef struct rcell {
    lf_result r;               /* identity; statistics when finished */
    int adapter;               /* index in the group's adapters, -1 none */
    int slot;                  /* context, -1 for tests without one */
    int n_tok;                 /* pp / ttft: prompt tokens; tg: generated tokens */
    double *samples;           /* reps_max values */
    int n;
    double spent_s;            /* seconds of timed repetitions (incl. preparation) */
    double energy_j, energy_tok;
    int energy_reps;
    double min_rep_ns;         /* shortest repetition */
    int warm_left;
    int *pass_n;               /* repetitions of each visit (passes > 1), else NULL */
    int share_done;            /* the visit whose share it has run; -1 none */
    double weight;             /* expected cost, for the time estimate */
    int state;
    const char *stop;          /* why it finished: "ci", "max", "budget", "once" */
} rcell;

typedef struct rslot {
    int adapter, threads, depth;
    lf_type kv;
    int n_ctx;
    lf_ctx *ctx;
    int valid;                 /* leading cache positions holding the depth tokens */
    double weight_bytes;       /* read per decoded token */
    double adapter_bytes;      /* runtime adapters read per token */
    double kv_pos_bytes;       /* K + V of one position, all layers */
    char fail[160];            /* why it could not be created */
} rslot;

/* Cells and slots are found by identity through an open-addressed table
 * (planning stays linear in the number of tests: a list search per added
 * test made a large matrix quadratic). key: the identity as integers. */
enum { RKEY_N = 6 };
typedef struct rentry {
    int key[RKEY_N];
    int idx;                   /* -1 empty */
} rentry;
typedef struct rtable {
    rentry *e;
    size_t cap;                /* a power of two, at most half full */
    int n;
} rtable;

typedef struct rgroup {
    int isa, model, mix;       /* mix -1: the GGUF file's own types */
    rcell *cells;
    int n_cells, cap_cells;
    rtable cell_ix;            /* cells by (kind, adapter, threads, n_tok, depth, kv) */
    rslot *slots;
    int n_slots;
    rtable slot_ix;            /* slots by (adapter, threads, kv, depth) */
    lf_bench_adapter *ad;      /* distinct adapter configurations (not none) */
    int n_ad;
    int threads[MAX_POOLS];    /* distinct thread counts of its tests, ascending */
    int n_threads;
} rgroup;

typedef struct roof_series {
    int threads;
    double v[256];
    int n;
} roof_series;

typedef struct runner {
    const lf_bench_matrix *m;
    const lf_bench_opts *o;
    const lf_device *dev;
    lf_catalog *cat;
    rmodel *models;
    int n_models;
    rgroup *groups;
    int n_groups;
    int n_planned, n_skipped;
    int usable_threads;
    bool multi_isa;            /* several ISAs: each result's config names its own */
    lf_run run;
    bool begun;                /* the run is in the store */
    lf_run_full rf;            /* finished results, in the order they finished */
    int64_t *rkey;             /* plan position of each (group << 32 | test) */
    int cap_results;
    lf_rb_progress prog;
    lf_rb_energy energy;
    bool rss_reset_ok;
    int pass, passes;          /* the visit under way, of how many (matrix passes) */
    double harness_ns;
    double shortest_tg_ns;
    /* roofs measured in this run (matrix roofs = yes) */
    roof_series bw[MAX_POOLS];
    int n_bw;
    double int8_all[256], int8_core[256], fp32_all[256], fp32_core[256];
    int compute_isa[256];      /* the kernel level each peak was measured for */
    int n_compute, compute_threads;
    lf_rng rng;
    /* llama.cpp beside localfit (opts.llama): off after a missing binary;
     * the first failure's message for the summary */
    bool engine_off;
    char engine_note[512];
} runner;

/* Per group, while it runs. */
typedef struct grun {
    lf_pool *pools[MAX_POOLS];
    int pool_threads[MAX_POOLS];
    int n_pools;
    lf_model *base;
    lf_model **merged;         /* [n_ad] */
    lf_lora ***la, ***lb;      /* [n_ad][k]: the set used, the swap partner */
    float scales[8];
    int32_t *dtok, *ptok, *gtok;
    int n_dtok, n_ptok, n_gtok;
    lf_ctx *swap_ctx;
    int swap_toggle;
    double load_ms;
    int load_threads;
    lf_rb_row *rows;
    bool float_mix;            /* F32/F16/BF16 weights: compute roof is FP32 */
    double matmul_params;      /* elements of the matrices a token passes through */
    double out_params;         /* of them, the output projection */
    double exp_bytes;          /* MoE: bytes of every expert's weights (the
                                  _exps tensors); 0 for a dense model */
    char qname[32];            /* the weights' quant as results name it */
    lf_rb_engine *eng;         /* llama.cpp's side of the group, NULL none */
} grun;

static const char *model_src_name(int src) {
    return src == SRC_GGUF ? "gguf" : "synth";
}

static bool interrupted(const runner *R) {
    return R->o->interrupted && *R->o->interrupted;
}

/* ---- planning ------------------------------------------------------------- */

static size_t rtable_pos(const rtable *ix, const int *key) {
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < RKEY_N; i++) {
        h ^= (uint32_t)key[i];
        h *= 0xff51afd7ed558ccdu;
        h ^= h >> 33;
    }
    size_t pos = (size_t)h & (ix->cap - 1);
    while (ix->e[pos].idx >= 0 && memcmp(ix->e[pos].key, key, sizeof ix->e[pos].key))
        pos = (pos + 1) & (ix->cap - 1);
    return pos;
}

/* The index of the entry with key, or -1. */
static int rtable_find(const rtable *ix, const int *key) {
    return ix->cap ? ix->e[rtable_pos(ix, key)].idx : -1;
}

/* Adds key -> idx (key not present); LF_ENOMEM. */
static int rtable_add(rtable *ix, const int *key, int idx, lf_error *err) {
    if ((size_t)(ix->n + 1) * 2 > ix->cap) {
        rtable old = *ix;
        ix->cap = old.cap ? old.cap * 2 : 64;
        ix->e = malloc(ix->cap * sizeof *ix->e);
        if (!ix->e) {
            *ix = old;
            return lf_error_set(err, LF_ENOMEM, "bench: out of memory");
        }
        for (size_t i = 0; i < ix->cap; i++)
            ix->e[i].idx = -1;
        for (size_t i = 0; i < old.cap; i++)
            if (old.e[i].idx >= 0)
                ix->e[rtable_pos(ix, old.e[i].key)] = old.e[i];
        free(old.e);
    }
    rentry *e = &ix->e[rtable_pos(ix, key)];
    memcpy(e->key, key, sizeof e->key);
    e->idx = idx;
    ix->n++;
    return 0;
}

static bool is_path(const char *s) {
    size_t n = strlen(s);
    return strchr(s, '/') || (n > 5 && !strcasecmp(s + n - 5, ".gguf"));
}

static int resolve_model(runner *R, const char *name, int *out, lf_error *err) {
    rmodel rm;
    memset(&rm, 0, sizeof rm);
    const lf_bench_shape *shape = NULL;
    for (int i = 0; i < R->m->n_shapes; i++)
        if (!strcmp(R->m->shapes[i].name, name))
            shape = &R->m->shapes[i];
    if (shape) {
        rm.src = SRC_SHAPE;
        lf_strlcpy(rm.name, shape->name, sizeof rm.name);
        snprintf(rm.path, sizeof rm.path, "shape:%s", shape->name);
        rm.hp = shape->hp;
    } else if (is_path(name)) {
        struct stat st;
        if (stat(name, &st) == 0 && S_ISDIR(st.st_mode))
            return lf_error_set(err, LF_EINVAL, "model file %s: is a directory (give a GGUF "
                                "file, a catalog name or a shape)", name);
        if (stat(name, &st) != 0 || !S_ISREG(st.st_mode))
            return lf_error_set(err, LF_ENOTFOUND, "model file %s: not found (give a GGUF file, a catalog "
                                "name or a shape)", name);
        rm.src = SRC_GGUF;
        rm.file_bytes = (uint64_t)st.st_size;
        lf_strlcpy(rm.path, name, sizeof rm.path);
        const char *b = strrchr(name, '/');
        b = b ? b + 1 : name;
        lf_strlcpy(rm.name, b, sizeof rm.name);
        size_t n = strlen(rm.name);
        if (n > 5 && !strcasecmp(rm.name + n - 5, ".gguf"))
            rm.name[n - 5] = 0;
    } else {
        if (!R->cat) {
            int rc = lf_catalog_load(&R->cat, R->o->datadir, err);
            if (rc < 0)
                return rc;
        }
        const lf_catalog_model *cm;
        int rc = lf_catalog_match(R->cat, name, &cm, err);
        if (rc < 0)
            return lf_error_wrap(err, "model '%s'", name);
        if ((rc = lf_catalog_to_hparams(cm, &rm.hp, err)) < 0)
            return rc;
        rm.src = SRC_CATALOG;
        rm.cm = cm;
        lf_strlcpy(rm.name, cm->name, sizeof rm.name);
        lf_strlcpy(rm.path, cm->name, sizeof rm.path);
    }
    for (int i = 0; i < R->n_models; i++)
        if (R->models[i].src == rm.src && !strcmp(R->models[i].path, rm.path)) {
            *out = i;
            return 0;
        }
    rmodel *p = realloc(R->models, sizeof *p * (size_t)(R->n_models + 1));
    if (!p)
        return lf_error_set(err, LF_ENOMEM, "bench: out of memory");
    R->models = p;
    p[R->n_models] = rm;
    *out = R->n_models++;
    return 0;
}

static rgroup *group_get(runner *R, int isa, int model, int mix, lf_error *err) {
    for (int i = 0; i < R->n_groups; i++) {
        rgroup *g = &R->groups[i];
        if (g->isa == isa && g->model == model && g->mix == mix)
            return g;
    }
    rgroup *p = realloc(R->groups, sizeof *p * (size_t)(R->n_groups + 1));
    if (!p) {
        lf_error_set(err, LF_ENOMEM, "bench: out of memory");
        return NULL;
    }
    R->groups = p;
    rgroup *g = &p[R->n_groups++];
    memset(g, 0, sizeof *g);
    g->isa = isa;
    g->model = model;
    g->mix = mix;
    return g;
}

static int group_adapter(rgroup *g, const lf_bench_adapter *a, lf_error *err) {
    if (a->mode == LF_ADAPTER_NONE || a->n == 0)
        return -1;
    for (int i = 0; i < g->n_ad; i++)
        if (!strcmp(g->ad[i].spec, a->spec))
            return i;
    lf_bench_adapter *p = realloc(g->ad, sizeof *p * (size_t)(g->n_ad + 1));
    if (!p) {
        lf_error_set(err, LF_ENOMEM, "bench: out of memory");
        return -2;
    }
    g->ad = p;
    p[g->n_ad] = *a;
    return g->n_ad++;
}

/* Adds a test unless the group has it already (parts may overlap). */
static int cell_add(runner *R, rgroup *g, lf_test_kind kind, int adapter, int threads, lf_type kv,
                    int depth, int n_tok, lf_error *err) {
    const int key[RKEY_N] = {(int)kind, adapter, threads, n_tok, depth, kind <= LF_TEST_TTFT ? (int)kv : -1};
    if (rtable_find(&g->cell_ix, key) >= 0)
        return 0;
    if (g->n_cells == g->cap_cells) {
        int cap = g->cap_cells ? 2 * g->cap_cells : 16;
        rcell *p = realloc(g->cells, sizeof *p * (size_t)cap);
        if (!p)
            return lf_error_set(err, LF_ENOMEM, "bench: out of memory");
        g->cells = p;
        g->cap_cells = cap;
    }
    int rc = rtable_add(&g->cell_ix, key, g->n_cells, err);
    if (rc < 0)
        return rc;
    rcell *c = &g->cells[g->n_cells];
    memset(c, 0, sizeof *c);
    lf_result *r = &c->r;
    lf_result_init(r);
    const rmodel *rm = &R->models[g->model];
    r->kind = kind;
    r->unit = lf_test_kind_unit(kind);
    lf_strlcpy(r->model, rm->name, sizeof r->model);
    lf_strlcpy(r->model_path, rm->path, sizeof r->model_path);
    lf_strlcpy(r->quant, g->mix >= 0 ? lf_mix_name((lf_mix)g->mix) : "file", sizeof r->quant);
    c->adapter = adapter;
    c->slot = -1;
    c->n_tok = n_tok;
    if (adapter >= 0) {
        const lf_bench_adapter *a = &g->ad[adapter];
        char desc[256];
        lf_strlcpy(desc, a->spec, sizeof desc);
        char *colon = strrchr(desc, ':');
        if (colon && !strcmp(colon, ":merged"))
            *colon = 0;
        lf_strlcpy(r->adapter, desc, sizeof r->adapter);
        r->n_adapters = a->n;
        r->adapter_rank = a->rank;
        r->adapter_mode = a->mode;
    }
    r->threads = threads;
    r->n_depth = depth;
    r->n_prompt = kind == LF_TEST_PP || kind == LF_TEST_TTFT ? n_tok : 0;
    r->n_gen = kind == LF_TEST_TG ? n_tok : kind == LF_TEST_TTFT ? 1 : 0;
    if (kind <= LF_TEST_TTFT)
        lf_strlcpy(r->kv_type, lf_type_name(kv), sizeof r->kv_type);
    lf_strlcpy(r->isa, lf_isa_level_name((lf_isa_level)g->isa), sizeof r->isa);
    lf_strlcpy(r->backend, "cpu", sizeof r->backend);
    if ((kind == LF_TEST_MODEL_LOAD && rm->src != SRC_GGUF) ||
        (kind == LF_TEST_ADAPTER_LOAD && adapter >= 0 && !g->ad[adapter].path[0]))
        lf_strlcpy(r->config, "synth", sizeof r->config);   /* synthesis time, not a file load */
    if (R->multi_isa) {
        /* comparisons match tests on config, not on the ISA field: keep the
         * ISAs of one run apart */
        size_t l = strlen(r->config);
        snprintf(r->config + l, sizeof r->config - l, "%sisa=%s", l ? " " : "", r->isa);
    }
    c->min_rep_ns = INFINITY;
    c->warm_left = R->m->warmup;
    c->share_done = -1;
    g->n_cells++;
    R->n_planned++;
    return 0;
}

/* Thread counts a threads entry stands for: N, -N = N..usable, 0 = usable. */
static double threads_count(const runner *R, int v) {
    return v > 0 ? 1 : v < 0 ? fmax(0, R->usable_threads + v + 1) : 1;
}

/* The tests the matrix asks for at most (before duplicates between parts
 * are merged), counted without building them: a matrix beyond
 * LF_BENCH_MAX_TESTS is refused at once, its size shown. */
static int plan_size_check(const runner *R, int n_isa, lf_error *err) {
    const lf_bench_matrix *m = R->m;
    double total = 0;
    for (int pi = 0; pi < m->n_parts; pi++) {
        const lf_bench_part *p = &m->parts[pi];
        double threads = 0;
        for (int i = 0; i < p->threads.n; i++)
            threads += threads_count(R, p->threads.v[i]);
        double tok = 0;
        if (p->tests & (1u << LF_TEST_PP))
            tok += p->n_prompt.n;
        if (p->tests & (1u << LF_TEST_TTFT))
            tok += p->n_prompt.n;
        if (p->tests & (1u << LF_TEST_TG))
            tok += p->n_gen.n;
        double per_quant = (double)p->n_adapters * (threads * p->kv.n * p->depth.n * tok + 2) + 1;
        total += per_quant * p->n_models * fmax(1, p->quants.n);
    }
    total *= n_isa;
    if (total > LF_BENCH_MAX_TESTS)
        return lf_error_set(err, LF_ERANGE,
                            "bench: the matrix has up to %.0f tests, more than the %d one run takes; "
                            "narrow its lists (-p, -n, -d, -t, --kv, models, quants)",
                            total, LF_BENCH_MAX_TESTS);
    return 0;
}

static int plan(runner *R, lf_error *err) {
    const lf_bench_matrix *m = R->m;
    lf_isa cpu;
    lf_isa_detect(&cpu);
    int isas[16], n_isa = 0;
    for (int i = 0; i < m->isa.n && n_isa < 16; i++) {
        lf_isa_level lv = (lf_isa_level)m->isa.v[i];
        if (!lf_isa_supported(&cpu, lv))
            return lf_error_set(err, LF_EUNSUPP, "isa %s: this CPU or build cannot run it (best here: %s)",
                                lf_isa_level_name(lv), lf_isa_level_name(lf_isa_best(&cpu)));
        bool dup = false;
        for (int j = 0; j < n_isa; j++)
            dup |= isas[j] == (int)lv;
        if (!dup)
            isas[n_isa++] = (int)lv;
    }
    if (n_isa == 0)
        isas[n_isa++] = (int)lf_kernels_isa();
    R->multi_isa = n_isa > 1;
    if (m->n_parts < 1)
        return lf_error_set(err, LF_EINVAL, "bench: empty matrix");
    int rc0 = plan_size_check(R, n_isa, err);
    if (rc0 < 0)
        return rc0;
    for (int ii = 0; ii < n_isa; ii++)
        for (int pi = 0; pi < m->n_parts; pi++) {
            const lf_bench_part *p = &m->parts[pi];
            const char *pn = p->name[0] ? p->name : "matrix";
            if (p->n_models == 0)
                return lf_error_set(err, LF_EINVAL,
                                    "%s: no models (give -m MODEL: a catalog name, a shape or a GGUF file)",
                                    pn);
            if (!p->tests)
                return lf_error_set(err, LF_EINVAL, "%s: no tests", pn);
            if (!p->threads.n || !p->kv.n || !p->depth.n || !p->n_adapters ||
                ((p->tests & (1u << LF_TEST_PP | 1u << LF_TEST_TTFT)) && !p->n_prompt.n) ||
                ((p->tests & (1u << LF_TEST_TG)) && !p->n_gen.n))
                return lf_error_set(err, LF_EINVAL, "%s: a list of the matrix is empty", pn);
            for (int mi = 0; mi < p->n_models; mi++) {
                int model = -1;
                int rc = resolve_model(R, p->models[mi], &model, err);
                if (rc < 0)
                    return rc;
                bool gguf = R->models[model].src == SRC_GGUF;
                int nq = gguf ? 1 : p->quants.n;
                if (nq == 0)
                    return lf_error_set(err, LF_EINVAL, "%s: no quants for %s", pn, p->models[mi]);
                for (int qi = 0; qi < nq; qi++) {
                    rgroup *g = group_get(R, isas[ii], model, gguf ? -1 : p->quants.v[qi], err);
                    if (!g)
                        return LF_ENOMEM;
                    for (int ai = 0; ai < p->n_adapters; ai++) {
                        const lf_bench_adapter *a = &p->adapters[ai];
                        int adi = group_adapter(g, a, err);
                        if (adi < -1)
                            return LF_ENOMEM;
                        for (int ti = 0; ti < p->threads.n; ti++)
                          for (int t = p->threads.v[ti] > 0 ? p->threads.v[ti]
                                       : p->threads.v[ti] < 0 ? -p->threads.v[ti] : R->usable_threads;
                               t <= (p->threads.v[ti] > 0 ? p->threads.v[ti] : R->usable_threads); t++) {
                            if (interrupted(R))
                                return lf_error_set(err, LF_EINTR, "interrupted while planning");
                            for (int ki = 0; ki < p->kv.n; ki++)
                                for (int di = 0; di < p->depth.n; di++) {
                                    lf_type kv = (lf_type)p->kv.v[ki];
                                    int d = p->depth.v[di];
                                    static const lf_test_kind tok_tests[] = {LF_TEST_PP, LF_TEST_TG,
                                                                             LF_TEST_TTFT};
                                    for (int tt = 0; tt < 3; tt++) {
                                        lf_test_kind k = tok_tests[tt];
                                        if (!(p->tests & (1u << k)))
                                            continue;
                                        const lf_bench_list *ns = k == LF_TEST_TG ? &p->n_gen : &p->n_prompt;
                                        for (int ni = 0; ni < ns->n; ni++)
                                            if ((rc = cell_add(R, g, k, adi, t, kv, d, ns->v[ni], err)) < 0)
                                                return rc;
                                    }
                                }
                        }
                        if (adi >= 0 && (p->tests & (1u << LF_TEST_ADAPTER_LOAD)) &&
                            (rc = cell_add(R, g, LF_TEST_ADAPTER_LOAD, adi, 1, LF_TYPE_F16, 0, 0, err)) < 0)
                            return rc;
                        if (adi >= 0 && a->mode == LF_ADAPTER_RUNTIME &&
                            (p->tests & (1u << LF_TEST_ADAPTER_SWAP)) &&
                            (rc = cell_add(R, g, LF_TEST_ADAPTER_SWAP, adi, 1, LF_TYPE_F16, 0, 0, err)) < 0)
                            return rc;
                    }
                    if ((p->tests & (1u << LF_TEST_MODEL_LOAD)) &&
                        (rc = cell_add(R, g, LF_TEST_MODEL_LOAD, -1, gguf ? 1 : R->usable_threads,
                                       LF_TYPE_F16, 0, 0, err)) < 0)
                        return rc;
                }
            }
        }
    /* contexts and thread counts per group */
    for (int gi = 0; gi < R->n_groups; gi++) {
        rgroup *g = &R->groups[gi];
        for (int ci = 0; ci < g->n_cells; ci++) {
            rcell *c = &g->cells[ci];
            int t = c->r.threads;
            if (c->r.kind <= LF_TEST_TTFT) {
                bool have = false;
                for (int i = 0; i < g->n_threads; i++)
                    have |= g->threads[i] == t;
                if (!have) {
                    if (g->n_threads >= MAX_POOLS)
                        return lf_error_set(err, LF_ERANGE, "bench: more than %d thread counts", MAX_POOLS);
                    int j = g->n_threads++;
                    while (j > 0 && g->threads[j - 1] > t) {
                        g->threads[j] = g->threads[j - 1];
                        j--;
                    }
                    g->threads[j] = t;
                }
                lf_type kv;
                if (lf_type_parse(c->r.kv_type, &kv) < 0)
                    kv = LF_TYPE_F16;
                const int key[RKEY_N] = {c->adapter, t, (int)kv, c->r.n_depth, 0, 0};
                int s = rtable_find(&g->slot_ix, key);
                if (s < 0) {
                    /* slots <= cells: grown by doubling like the cells */
                    int n = g->n_slots;
                    rslot *p = g->slots;
                    if ((n & (n - 1)) == 0 && !(p = realloc(g->slots, sizeof *p * (size_t)(n ? 2 * n : 1))))
                        return lf_error_set(err, LF_ENOMEM, "bench: out of memory");
                    g->slots = p;
                    if (rtable_add(&g->slot_ix, key, n, err) < 0)
                        return LF_ENOMEM;
                    s = g->n_slots++;
                    memset(&p[s], 0, sizeof p[s]);
                    p[s].adapter = c->adapter;
                    p[s].threads = t;
                    p[s].kv = kv;
                    p[s].depth = c->r.n_depth;
                }
                /* ttft needs the prompt and one decoded token; +1 spare */
                int need = c->r.n_depth + c->n_tok + 2;
                if (need > g->slots[s].n_ctx)
                    g->slots[s].n_ctx = need;
                c->slot = s;
            }
        }
    }
    return 0;
}

/* ---- memory ------------------------------------------------------------------ */

static bool name_has_target(const runner *R, const char *name) {
    for (int i = 0; i < R->m->n_lora_targets; i++) {
        char pat[40];
        snprintf(pat, sizeof pat, ".%s.", R->m->lora_targets[i]);
        if (strstr(name, pat) || (!strcmp(R->m->lora_targets[i], "output") && !strcmp(name, "output.weight")))
            return true;
    }
    return false;
}

/* Weights of a synthesized model in mix (what the synthesizer will
 * allocate), the bytes of the tensors adapters target (a merged copy holds
 * them again) and of one rank-1 adapter over them (F32 A and B). */
static void estimate_weights(const runner *R, const lf_model_params *hp, lf_mix mix, double *weights,
                             double *targeted, double *lora_per_rank) {
    lf_catalog_model cm;
    lf_catalog_from_hparams(hp, &cm);
    lf_mix_model mm = {.n_layer = hp->n_layer,
                       .n_gqa = hp->n_head_kv > 0 ? hp->n_head / hp->n_head_kv : 1,
                       .n_expert = hp->n_expert,
                       .tied_output = hp->tied};
    *weights = *targeted = *lora_per_rank = 0;
    int n = lf_catalog_n_tensors(&cm);
    for (int i = 0; i < n; i++) {
        lf_catalog_tensor t;
        if (lf_catalog_tensor_at(&cm, i, &t) < 0)
            continue;
        lf_type ty = t.ne1 > 1 ? lf_mix_tensor_type_model(mix, &mm, t.name, t.layer, t.ne0) : LF_TYPE_F32;
        size_t row = lf_row_size(ty, t.ne0);
        if (!row)
            row = lf_row_size(LF_TYPE_F16, t.ne0);
        /* a MoE expert tensor holds ne2 experts: all of them are resident */
        double b = (double)row * (double)t.ne1 * (double)t.ne2;
        *weights += b;
        if (t.ne1 > 1 && name_has_target(R, t.name)) {
            *targeted += b;
            *lora_per_rank += 4.0 * (double)(t.ne0 + t.ne1);
        }
    }
}

static double kv_pos_bytes(const lf_model_params *hp, lf_type kv) {
    return (double)hp->n_layer * hp->n_head_kv *
           (double)(lf_row_size(kv, hp->head_dim) +
                    lf_row_size(kv, hp->head_dim_v ? hp->head_dim_v : hp->head_dim));
}

/* weights: of the model as it will be resident. Refuses (or, with
 * skip_too_big, returns 1) when the group does not fit. */
static int check_memory(runner *R, rgroup *g, const lf_model_params *hp, double weights, double targeted,
                        double lora_per_rank, lf_error *err) {
    uint64_t usable = R->dev->limits.usable_memory;
    double kv = 0, extra = 0;
    for (int i = 0; i < g->n_slots; i++)
        kv += (double)g->slots[i].n_ctx * kv_pos_bytes(hp, g->slots[i].kv);
    for (int a = 0; a < g->n_ad; a++) {
        const lf_bench_adapter *ad = &g->ad[a];
        double lora = ad->rank > 0 ? lora_per_rank * ad->rank * ad->n : 0;
        extra += 2 * lora;    /* the set in use and its swap partner, at most */
        if (ad->mode == LF_ADAPTER_MERGED)
            extra += targeted;
    }
    double total = weights + kv + extra;
    if (R->o->force || usable == 0 || total <= (double)usable)
        return 0;
    const rmodel *rm = &R->models[g->model];
    char bt[32], bw[32], bk[32], be[32], bu[32];
    lf_format_bytes(bt, sizeof bt, total);
    lf_format_bytes(bw, sizeof bw, weights);
    lf_format_bytes(bk, sizeof bk, kv);
    lf_format_bytes(be, sizeof be, extra);
    lf_format_bytes(bu, sizeof bu, (double)usable);
    lf_error_set(err, LF_ETOOBIG,
                 "%s %s does not fit: needs %s (weights %s + KV cache %s for %d context%s + adapters %s) "
                 "but %s is usable%s%s%s; --force runs it anyway",
                 rm->name, g->mix >= 0 ? lf_mix_name((lf_mix)g->mix) : "(file)", bt, bw, bk, g->n_slots,
                 g->n_slots == 1 ? "" : "s", be, bu, R->dev->limits.usable_memory_source[0] ? " (" : "",
                 R->dev->limits.usable_memory_source, R->dev->limits.usable_memory_source[0] ? ")" : "");
    if (R->o->skip_too_big)
        return 1;
    return LF_ETOOBIG;
}

/* ---- roofs ---------------------------------------------------------------------- */

static double median_of(const double *v, int n) {
    return n > 0 ? lf_stats_median(v, n) : NAN;
}

/* Read bandwidth (GB/s) a test with `threads` threads is held to. */
static double roof_gbs(const runner *R, int threads) {
    for (int i = 0; i < R->n_bw; i++)
        if (R->bw[i].threads == threads && R->bw[i].n > 0)
            return median_of(R->bw[i].v, R->bw[i].n);
    const lf_bandwidth *b = &R->dev->bandwidth;
    if (!b->measured)
        return NAN;
    if (threads >= 1 && threads <= b->n_curve && b->curve_read_gbs[threads - 1] > 0)
        return b->curve_read_gbs[threads - 1];
    return b->read_gbs > 0 ? b->read_gbs : NAN;
}

/* Whether this run measured the peaks of kernel level isa. */
static bool has_peaks(const runner *R, int isa) {
    for (int i = 0; i < R->n_compute; i++)
        if (R->compute_isa[i] == isa)
            return true;
    return false;
}

/* Whether the active kernel set uses every feature the CPU has: only then
 * do the device's stored peaks (measured with all of them) hold for it. */
static bool set_uses_all(void) {
    lf_isa cpu, used;
    lf_isa_detect(&cpu);
    lf_kernels_features(&used);
    return memcmp(&cpu, &used, sizeof cpu) == 0;
}

/* Compute peak (Gop/s) for `threads` threads with the instructions of
 * kernel level isa: the all-threads figure, or the per-core one times
 * threads when fewer ran. The device's stored peaks are the CPU's widest
 * instructions, so they stand only for the best level. */
static double peak_gops(const runner *R, int threads, bool fp, int isa) {
    double all, core, va[256], vc[256];
    int ct, n = 0;
    for (int i = 0; i < R->n_compute; i++)
        if (R->compute_isa[i] == isa) {
            va[n] = fp ? R->fp32_all[i] : R->int8_all[i];
            vc[n++] = fp ? R->fp32_core[i] : R->int8_core[i];
        }
    if (n > 0) {
        all = median_of(va, n);
        core = median_of(vc, n);
        ct = R->compute_threads;
    } else {
        const lf_compute *c = &R->dev->compute;
        if (!c->measured || isa != (int)lf_kernels_isa() || !set_uses_all())
            return NAN;
        all = fp ? c->fp32_gflops_all : c->int8_gops_all;
        core = fp ? c->fp32_gflops_core : c->int8_gops_core;
        ct = c->threads;
    }
    double v = all;
    if (threads > 0 && core > 0 && (ct <= 0 || threads < ct))
        v = all > 0 && core * threads > all ? all : core * threads;
    return v > 0 ? v : NAN;
}

static void measure_peaks(runner *R, const rgroup *g, int tmax);

static void measure_roofs(runner *R, const rgroup *g) {
    int tmax = 1;
    for (int i = 0; i < g->n_threads; i++) {
        int t = g->threads[i];
        tmax = t > tmax ? t : tmax;
        lf_bandwidth bw;
        lf_error e = {0};
        if (lf_probe_bandwidth(t, true, &bw, &e) < 0 || !bw.measured) {
            lf_rb_progress_note(&R->prog, "bandwidth with %d threads not measured: %s", t, e.msg);
            continue;
        }
        roof_series *s = NULL;
        for (int j = 0; j < R->n_bw; j++)
            if (R->bw[j].threads == t)
                s = &R->bw[j];
        if (!s && R->n_bw < MAX_POOLS) {
            s = &R->bw[R->n_bw++];
            s->threads = t;
            s->n = 0;
        }
        if (s && s->n < 256)
            s->v[s->n++] = bw.read_gbs;
        lf_rb_progress_note(&R->prog, "roof: read bandwidth %.1f GB/s with %d thread%s", bw.read_gbs, t,
                            t == 1 ? "" : "s");
    }
    measure_peaks(R, g, tmax);
}

/* The compute peaks of the active kernel set (g's) with tmax threads,
 * added to the run's series. */
static void measure_peaks(runner *R, const rgroup *g, int tmax) {
    lf_compute c;
    lf_error e = {0};
    lf_isa features;
    lf_kernels_features(&features);
    if (lf_probe_compute(tmax, true, &features, &c, &e) == 0 && c.measured && R->n_compute < 256) {
        R->compute_isa[R->n_compute] = g->isa;
        R->int8_all[R->n_compute] = c.int8_gops_all;
        R->int8_core[R->n_compute] = c.int8_gops_core;
        R->fp32_all[R->n_compute] = c.fp32_gflops_all;
        R->fp32_core[R->n_compute] = c.fp32_gflops_core;
        R->compute_threads = c.threads;
        R->n_compute++;
        lf_rb_progress_note(&R->prog, "roof: int8 %.0f GOP/s, fp32 %.0f GFLOP/s with %d threads (%s)",
                            c.int8_gops_all, c.fp32_gflops_all, c.threads, lf_kernels_name());
    } else {
        lf_rb_progress_note(&R->prog, "compute peaks not measured: %s", e.msg);
    }
}

/* ---- results --------------------------------------------------------------------- */

typedef struct jbuf {
    char *p;
    size_t size, used;
} jbuf;

static void jadd(jbuf *b, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void jadd(jbuf *b, const char *key, const char *fmt, ...) {
    if (b->used + 4 >= b->size)
        return;
    char val[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    size_t before = b->used;
    int w = snprintf(b->p + b->used, b->size - b->used, "%s\"%s\":%s", b->used > 1 ? "," : "", key, val);
    if (w < 0 || (size_t)w >= b->size - b->used - 1)
        b->p[b->used = before] = 0;   /* drop a field that does not fit, keep the JSON valid */
    else
        b->used += (size_t)w;
}

static void jnum(jbuf *b, const char *key, double v) {
    if (isfinite(v))
        jadd(b, key, "%.6g", v);
}

static int results_push(runner *R, int64_t key, const lf_result *r, const double *s, int n, lf_error *err) {
    lf_run_full *rf = &R->rf;
    if (rf->n_results == R->cap_results) {
        int cap = R->cap_results ? 2 * R->cap_results : 32;
        int64_t *k = realloc(R->rkey, sizeof *k * (size_t)cap);
        if (k)
            R->rkey = k;
        lf_result *a = realloc(rf->results, sizeof *a * (size_t)cap);
        if (a)
            rf->results = a;
        double **b = realloc(rf->samples, sizeof *b * (size_t)cap);
        if (b)
            rf->samples = b;
        int *c = realloc(rf->n_samples_stored, sizeof *c * (size_t)cap);
        if (c)
            rf->n_samples_stored = c;
        if (!a || !b || !c || !k)
            return lf_error_set(err, LF_ENOMEM, "bench: out of memory for results");
        R->cap_results = cap;
    }
    double *copy = n ? malloc(sizeof *copy * (size_t)n) : NULL;
    if (n && !copy)
        return lf_error_set(err, LF_ENOMEM, "bench: out of memory for results");
    if (n)
        memcpy(copy, s, sizeof *copy * (size_t)n);
    R->rkey[rf->n_results] = key;
    rf->results[rf->n_results] = *r;
    rf->samples[rf->n_results] = copy;
    rf->n_samples_stored[rf->n_results] = n;
    rf->n_results++;
    rf->run.n_results = rf->n_results;
    return 0;
}

/* The model's sparsity and resident size, from the loaded model itself:
 * the recommender learns its MoE efficiency from every result that says it
 * is sparse, catalog name or not (a custom shape, a user's file). */
static void result_set_model(const grun *G, lf_result *r) {
    const lf_model_params *hp = lf_model_hparams(G->base);
    bool moe = hp->n_expert > 0 && hp->n_expert_used > 0;
    r->n_expert = moe ? hp->n_expert : 0;
    r->n_expert_used = moe ? hp->n_expert_used : 0;
    r->model_bytes = (double)lf_model_total_bytes(G->base);
}

/* Statistics and derived figures of a finished test, then store, keep and
 * report it. */
static int cell_finish(runner *R, rgroup *g, grun *G, int ci, lf_error *err) {
    rcell *c = &g->cells[ci];
    lf_result *r = &c->r;
    lf_stats_fill_result(c->samples, c->n, r);
    result_set_model(G, r);
    const rslot *sl = c->slot >= 0 ? &g->slots[c->slot] : NULL;
    double roof = NAN, peak = NAN, cfrac = NAN, flops = NAN;
    char ex[1024] = "{";
    jbuf jb = {ex, sizeof ex, 1};
    jadd(&jb, "source", "\"%s\"", model_src_name(R->models[g->model].src));
    /* the set within the level: "avx2+avxvnni" and "avx2" (LOCALFIT_ISA=
     * avx2-novnni) are both isa avx2 */
    jadd(&jb, "kernels", "\"%s\"", lf_kernels_name());
    if (c->pass_n) {
        char list[512];
        size_t w = 0;
        for (int p = 0; p < R->passes && w + 12 < sizeof list; p++)
            w += (size_t)snprintf(list + w, sizeof list - w, "%s%d", p ? "," : "", c->pass_n[p]);
        jadd(&jb, "pass_reps", "[%s]", list);
    }
    if (sl && (r->kind == LF_TEST_PP || r->kind == LF_TEST_TG)) {
        int n = c->n_tok;
        /* where the tokens sit: tg token i reads depth + i + 1 positions,
         * prompt token i likewise; the mean over the test */
        double kv_mean = sl->kv_pos_bytes * (r->n_depth + (n + 1) / 2.0);
        double wa = sl->weight_bytes + sl->adapter_bytes;
        if (r->kind == LF_TEST_PP) {
            /* one weight read per batch of up to 256 tokens (the context's batch) */
            int nb = sl->n_ctx < 256 ? sl->n_ctx : 256;
            double batches = ceil((double)n / nb);
            double per_batch = wa;
            const lf_model_params *mh = lf_model_hparams(G->base);
            if (G->exp_bytes > 0) {
                /* wa holds a token's k of n experts; a batch streams each
                 * expert any of its tokens chose, once: with independent
                 * choices, n × (1 − (1 − k/n)^b) experts for b tokens */
                double share = (double)mh->n_expert_used / mh->n_expert;
                double touched = 1.0 - pow(1.0 - share, (double)n / batches);
                per_batch = wa - G->exp_bytes * share + G->exp_bytes * touched;
            }
            r->bytes_per_token = per_batch * batches / n + kv_mean;
        } else {
            r->bytes_per_token = wa + kv_mean;
        }
        roof = roof_gbs(R, r->threads);
        if (isfinite(roof) && roof > 0 && isfinite(r->median))
            r->roofline_frac = r->median * r->bytes_per_token / (roof * 1e9);
        const lf_model_params *hp = lf_model_hparams(G->base);
        /* matrix products (the output projection once per evaluation:
         * prefill computes only the last token's logits) + attention */
        double att = 2.0 * hp->n_layer * hp->n_head * (double)(hp->head_dim + hp->head_dim_v) *
                     (r->n_depth + (n + 1) / 2.0);
        double per_eval_out = r->kind == LF_TEST_PP ? G->out_params / n : G->out_params;
        flops = 2.0 * (G->matmul_params - G->out_params + per_eval_out) + att;
        if (r->kind == LF_TEST_PP) {
            peak = peak_gops(R, r->threads, G->float_mix, g->isa);
            if (isfinite(peak) && isfinite(r->median))
                cfrac = flops * r->median / (peak * 1e9);
        }
        /* the figures other modules read are fields; extra keeps the
         * rest, for display */
        r->weight_bytes = sl->weight_bytes;
        r->kv_bytes = kv_mean;
        r->n_params = G->matmul_params;
        r->flops_per_token = flops;
        r->roof_gbs = roof;
        r->peak_gops = peak;
        r->compute_frac = cfrac;
        /* what the peak RSS is held to: the model as resident (every
         * tensor, the embedding table too) and the KV cache allocated */
        jnum(&jb, "model_bytes", (double)lf_model_total_bytes(G->base));
        if (sl->ctx)
            jnum(&jb, "kv_alloc_bytes", (double)lf_ctx_kv_bytes(sl->ctx));
        if (sl->adapter_bytes > 0)
            jnum(&jb, "adapter_bytes", sl->adapter_bytes);
        jadd(&jb, "roof_source", "\"%s\"",
             R->n_bw > 0                  ? "run"
             : R->dev->bandwidth.measured ? "device"
                                          : "none");
    }
    if (r->kind == LF_TEST_MODEL_LOAD)
        jnum(&jb, "load_threads", G->load_threads);
    if (c->slot >= 0 || r->kind == LF_TEST_TTFT) {
        jnum(&jb, "harness_ns", R->harness_ns);
        if (isfinite(c->min_rep_ns) && c->min_rep_ns > 0)
            jnum(&jb, "harness_frac", R->harness_ns / c->min_rep_ns);
    }
    jadd(&jb, "stop", "\"%s\"", c->stop ? c->stop : "?");
    jnum(&jb, "warmup", R->m->warmup);
    jnum(&jb, "seconds", c->spent_s);
    jadd(&jb, "rss_scope", "\"%s\"", R->rss_reset_ok ? "model" : "process");
    if (jb.used + 2 < jb.size) {
        ex[jb.used++] = '}';
        ex[jb.used] = 0;
    } else {
        lf_strlcpy(ex, "{}", sizeof ex);
    }
    lf_strlcpy(r->extra, ex, sizeof r->extra);
    r->peak_rss = lf_rb_rss_peak();
    if (c->energy_reps > 0 && c->energy_tok > 0) {
        r->joules_per_token = c->energy_j / c->energy_tok;
        lf_strlcpy(r->energy_note, "RAPL package energy (includes everything else on the package)",
                   sizeof r->energy_note);
    } else {
        r->joules_per_token = NAN;
        lf_strlcpy(r->energy_note,
                   R->energy.note[0] ? R->energy.note
                   : r->kind <= LF_TEST_TTFT ? "energy counter read failed" : "not a token test",
                   sizeof r->energy_note);
    }
    if (r->kind == LF_TEST_TG && isfinite(c->min_rep_ns) &&
        (!isfinite(R->shortest_tg_ns) || c->min_rep_ns < R->shortest_tg_ns))
        R->shortest_tg_ns = c->min_rep_ns;
    if (R->o->relabel)
        R->o->relabel(r, R->o->user);
    int rc;
    if (R->o->store && (rc = lf_store_result_add(R->o->store, R->run.id, r, c->samples, c->n, err)) < 0)
        return rc;
    if ((rc = results_push(R, (int64_t)(g - R->groups) << 32 | ci, r, c->samples, c->n, err)) < 0)
        return rc;
    c->state = ST_DONE;
    if (R->o->on_result)
        R->o->on_result(r, c->samples, c->n, R->o->user);
    return 0;
}

/* ---- repetitions ---------------------------------------------------------------- */

/* Brings the slot's cache to exactly its depth (untimed). */
static int slot_prepare(grun *G, rslot *sl, lf_error *err) {
    if (sl->valid < sl->depth) {
        lf_ctx_truncate(sl->ctx, sl->valid);
        int rc = lf_ctx_eval(sl->ctx, G->dtok + sl->valid, sl->depth - sl->valid, false, NULL, err);
        if (rc < 0)
            return rc;
        sl->valid = sl->depth;
    }
    lf_ctx_truncate(sl->ctx, sl->depth);
    return 0;
}

static int load_adapters(const runner *R, const rgroup *g, const grun *G, int a, uint64_t seed_off,
                         lf_lora **out, lf_error *err) {
    const lf_bench_adapter *ad = &g->ad[a];
    const char *targets[8];
    for (int i = 0; i < R->m->n_lora_targets; i++)
        targets[i] = R->m->lora_targets[i];
    for (int j = 0; j < ad->n; j++) {
        int rc = ad->path[0]
                     ? lf_lora_load(&out[j], ad->path, G->base, err)
                     : lf_lora_synth(
                           &out[j], G->base, ad->rank, targets, R->m->n_lora_targets,
                           R->m->seed + 7919u * (uint64_t)(a + 1) + 104729u * seed_off + (uint64_t)j, err);
        if (rc < 0) {
            for (int i = 0; i < j; i++)
                lf_lora_free(out[i]);
            memset(out, 0, sizeof *out * (size_t)ad->n);
            return rc;
        }
    }
    return 0;
}

static void free_adapters(lf_lora **l, int n) {
    if (!l)
        return;
    for (int j = 0; j < n; j++)
        lf_lora_free(l[j]);
}

/* One repetition of c (timed unless warm-up). *sample in the test's unit,
 * *ns the timed interval; *tokens for energy. */
static int cell_rep(runner *R, rgroup *g, grun *G, rcell *c, double *sample, double *ns, double *tokens,
                    double *joules, lf_error *err) {
    const lf_model_params *hp = lf_model_hparams(G->base);
    int rc = 0;
    uint64_t t0 = 0, t1 = 0;
    double e0 = 0, e1 = 0;
    bool energy = R->energy.n > 0 && c->r.kind <= LF_TEST_TTFT;
    *tokens = 0;
    *joules = NAN;
    switch (c->r.kind) {
    case LF_TEST_PP: case LF_TEST_TG: case LF_TEST_TTFT: {
        rslot *sl = &g->slots[c->slot];
        if ((rc = slot_prepare(G, sl, err)) < 0)
            return rc;
        lf_ctx *ctx = sl->ctx;
        const float *logits = NULL;
        const int n = c->n_tok;
        if (energy && !lf_rb_energy_read(&R->energy, &e0))
            energy = false;
        if (c->r.kind == LF_TEST_PP) {
            t0 = lf_now_ns();
            rc = lf_ctx_eval(ctx, G->ptok, n, false, &logits, err);
            t1 = lf_now_ns();
            *tokens = n;
        } else if (c->r.kind == LF_TEST_TG) {
            const int32_t *tok = G->gtok;
            t0 = lf_now_ns();
            for (int i = 0; i < n && rc == 0; i++)
                rc = lf_ctx_eval(ctx, tok + i, 1, false, &logits, err);
            t1 = lf_now_ns();
            *tokens = n;
        } else {
            int32_t next;
            t0 = lf_now_ns();
            rc = lf_ctx_eval(ctx, G->ptok, n, false, &logits, err);
            if (rc == 0) {
                next = lf_sample_greedy(logits, hp->n_vocab);
                rc = lf_ctx_eval(ctx, &next, 1, false, &logits, err);
            }
            t1 = lf_now_ns();
            *tokens = n + 1;
        }
        if (rc < 0)
            return rc;
        if (energy && lf_rb_energy_read(&R->energy, &e1))
            *joules = lf_rb_energy_delta(&R->energy, e0, e1);
        break;
    }
    case LF_TEST_ADAPTER_LOAD: {
        lf_lora *tmp[8] = {0};
        const lf_bench_adapter *ad = &g->ad[c->adapter];
        const char *targets[8];
        for (int i = 0; i < R->m->n_lora_targets; i++)
            targets[i] = R->m->lora_targets[i];
        t0 = lf_now_ns();
        for (int j = 0; j < ad->n && rc == 0; j++)
            rc = ad->path[0] ? lf_lora_load(&tmp[j], ad->path, G->base, err)
                             : lf_lora_synth(&tmp[j], G->base, ad->rank, targets, R->m->n_lora_targets,
                                             R->m->seed + 31u * (uint64_t)j, err);
        t1 = lf_now_ns();
        free_adapters(tmp, ad->n);
        if (rc < 0)
            return rc;
        break;
    }
    case LF_TEST_ADAPTER_SWAP: {
        const lf_bench_adapter *ad = &g->ad[c->adapter];
        lf_lora *const *set = G->swap_toggle ? G->la[c->adapter] : G->lb[c->adapter];
        t0 = lf_now_ns();
        rc = lf_ctx_set_adapters(G->swap_ctx, set, G->scales, ad->n, err);
        t1 = lf_now_ns();
        G->swap_toggle ^= 1;
        if (rc < 0)
            return rc;
        break;
    }
    case LF_TEST_MODEL_LOAD: {
        lf_model *tmp = NULL;
        t0 = lf_now_ns();
        /* as the benchmarks load it: weights rewritten for the kernels */
        lf_model_opts mo = {.interleave = true};
        rc = lf_model_load(&tmp, R->models[g->model].path, &mo, err);
        t1 = lf_now_ns();
        lf_model_free(tmp);
        if (rc < 0)
            return rc;
        break;
    }
    default:
        return lf_error_set(err, LF_EUNSUPP, "bench: test %s is not run here", lf_test_kind_name(c->r.kind));
    }
    double dt = (double)(t1 - t0);
    if (dt <= 0)
        dt = 1;   /* a clock that did not move: one ns, never a division by zero */
    *ns = dt;
    *sample = c->r.unit == LF_UNIT_TPS ? *tokens / (dt / 1e9) : dt / 1e6;
    return 0;
}

/* ---- a group -------------------------------------------------------------------- */

static lf_pool *pool_for(grun *G, int threads) {
    for (int i = 0; i < G->n_pools; i++)
        if (G->pool_threads[i] == threads)
            return G->pools[i];
    return NULL;
}

static void group_free(rgroup *g, grun *G) {
    lf_rb_engine_end(G->eng);
    for (int i = 0; i < g->n_slots; i++) {
        lf_ctx_free(g->slots[i].ctx);
        g->slots[i].ctx = NULL;
        g->slots[i].valid = 0;
    }
    lf_ctx_free(G->swap_ctx);
    for (int a = 0; a < g->n_ad; a++) {
        if (G->merged)
            lf_model_free(G->merged[a]);
        if (G->la && G->la[a]) {
            free_adapters(G->la[a], g->ad[a].n);
            free(G->la[a]);
        }
        if (G->lb && G->lb[a]) {
            free_adapters(G->lb[a], g->ad[a].n);
            free(G->lb[a]);
        }
    }
    free(G->merged);
    free(G->la);
    free(G->lb);
    lf_model_free(G->base);
    for (int i = G->n_pools - 1; i >= 0; i--)   /* reverse: restores the caller's affinity */
        lf_pool_free(G->pools[i]);
    free(G->dtok);
    free(G->ptok);
    free(G->gtok);
    free(G->rows);
    memset(G, 0, sizeof *G);
}

static void row_name(const rgroup *g, const rcell *c, char *buf, size_t size) {
    const lf_result *r = &c->r;
    int w = 0;
    switch (r->kind) {
    case LF_TEST_PP: case LF_TEST_TG: case LF_TEST_TTFT:
        w = snprintf(buf, size, "%s%d t%d %s", lf_test_kind_name(r->kind), c->n_tok, r->threads, r->kv_type);
        if (r->n_depth > 0 && w > 0 && (size_t)w < size)
            w += snprintf(buf + w, size - (size_t)w, " d%d", r->n_depth);
        break;
    default:
        w = snprintf(buf, size, "%s", lf_test_kind_name(r->kind));
        if (r->config[0] && w > 0 && (size_t)w < size)
            w += snprintf(buf + w, size - (size_t)w, " (%s)", r->config);
        break;
    }
    if (c->adapter >= 0 && w > 0 && (size_t)w < size)
        snprintf(buf + w, size - (size_t)w, " %.60s", g->ad[c->adapter].spec);
}

static void row_sync(grun *G, const rcell *c, int i) {
    lf_rb_row *row = &G->rows[i];
    row->n = c->n;
    row->state = c->state;
    if (c->n > 0) {
        lf_stats_summary s;
        if (lf_stats_summarize(c->samples, c->n, &s) == 0) {
            row->median = s.median;
            row->ci_rel = isfinite(s.ci.lo) && s.median > 0 ? (s.ci.hi - s.ci.lo) / 2 / s.median : NAN;
        }
    }
    if (c->stop)
        lf_strlcpy(row->note, c->stop, sizeof row->note);
}

static void skip_cell(runner *R, grun *G, rcell *c, int i, const char *why) {
    if (c->state >= ST_DONE)
        return;
    c->state = ST_SKIP;
    R->n_skipped++;
    if (G->rows) {
        G->rows[i].state = ST_SKIP;
        lf_strlcpy(G->rows[i].note, why, sizeof G->rows[i].note);
        lf_rb_progress_finished(&R->prog, i, 0, c->weight);
    } else {
        R->prog.done++;
        R->prog.w_total -= c->weight;
    }
}

/* The group's model: synthesized on every usable thread, or mapped. */
static int group_load(runner *R, const rgroup *g, grun *G, lf_error *err) {
    const rmodel *rm = &R->models[g->model];
    int rc;
    G->load_threads = rm->src == SRC_GGUF ? 1 : R->usable_threads;
    double t0 = lf_now_s();
    if (rm->src == SRC_GGUF) {
        lf_model_opts mo = {.interleave = true};
        rc = lf_model_load(&G->base, rm->path, &mo, err);
    } else {
        lf_pool *sp = G->load_threads > 1 ? lf_pool_create(G->load_threads, R->m->pin) : NULL;
        rc = lf_model_synth_ex(&G->base, &rm->hp, (lf_mix)g->mix, R->m->seed, sp, err);
        lf_pool_free(sp);
        if (rc == 0 && (rc = lf_model_interleave(G->base, err)) > 0)
            rc = 0;
    }
    G->load_ms = (lf_now_s() - t0) * 1e3;
    if (rc < 0) {
        lf_error_wrap(err, "%s", rm->name);
        return rc;
    }
    return 0;
}

/* What the loaded model is: its quant name (lf_bench_quant_label: a file
 * without general.file_type is named after the type holding most of its
 * bytes, which also decides the compute roof), and the parameters a token
 * passes through. */
static void group_describe(grun *G, lf_mix fmix) {
    const lf_model_params *hp = lf_model_hparams(G->base);
    G->float_mix = fmix == LF_MIX_F32 || fmix == LF_MIX_F16 || fmix == LF_MIX_BF16;
    lf_strlcpy(G->qname, fmix < LF_MIX_COUNT ? lf_mix_name(fmix) : "file", sizeof G->qname);
    if (fmix >= LF_MIX_COUNT)
        G->float_mix = lf_type_is_float(lf_bench_quant_label(G->base, G->qname, sizeof G->qname, NULL));
    for (int i = 0; i < lf_model_n_tensors(G->base); i++) {
        const lf_model_tensor *t = lf_model_tensor_at(G->base, i);
        bool exps = hp->n_expert > 0 && hp->n_expert_used > 0 && strstr(t->name, "_exps.");
        if (exps)
            G->exp_bytes += (double)t->mat.row_bytes * (double)t->mat.rows;
        if (t->mat.rows <= 1 || (!strcmp(t->name, "token_embd.weight") && !hp->tied))
            continue;   /* vectors, and an embedding that is only looked up */
        double e = (double)t->mat.rows * (double)t->mat.cols;
        if (exps)
            e *= (double)hp->n_expert_used / hp->n_expert;   /* a token's k of n experts */
        G->matmul_params += e;
        if (!strcmp(t->name, "output.weight") || (hp->tied && !strcmp(t->name, "token_embd.weight")))
            G->out_params = e;
    }
}

/* A GGUF file's size is known only once mapped: its tests get the quant
 * name and the memory check, before any context exists. Returns 1 when
 * the group was skipped as too big. */
static int group_check_file(runner *R, rgroup *g, grun *G, lf_mix fmix, lf_error *err) {
    const lf_model_params *hp = lf_model_hparams(G->base);
    for (int i = 0; i < g->n_cells; i++)
        lf_strlcpy(g->cells[i].r.quant, G->qname, sizeof g->cells[i].r.quant);
    double w, tgt, lpr;
    estimate_weights(R, hp, fmix < LF_MIX_COUNT ? fmix : LF_MIX_F16, &w, &tgt, &lpr);
    int rc = check_memory(R, g, hp, (double)R->models[g->model].file_bytes, tgt, lpr, err);
    if (rc == 1) {
        lf_rb_progress_note(&R->prog, "skipped: %s", err->msg);
        for (int i = 0; i < g->n_cells; i++)
            skip_cell(R, G, &g->cells[i], i, "too big");
    }
    return rc;
}

/* Progress rows and thread pools (ascending; freed in reverse). */
static int group_rows_pools(runner *R, const rgroup *g, grun *G, const char *title, lf_error *err) {
    const rmodel *rm = &R->models[g->model];
    G->rows = calloc((size_t)g->n_cells, sizeof *G->rows);
    if (!G->rows)
        return lf_error_set(err, LF_ENOMEM, "bench: out of memory");
    for (int i = 0; i < g->n_cells; i++) {
        row_name(g, &g->cells[i], G->rows[i].name, sizeof G->rows[i].name);
        G->rows[i].median = G->rows[i].ci_rel = NAN;
        G->rows[i].unit = g->cells[i].r.unit == LF_UNIT_TPS ? "tok/s" : "ms";
        row_sync(G, &g->cells[i], i);   /* a later visit shows what earlier ones ran */
    }
    lf_rb_progress_group(&R->prog, title, G->rows, g->n_cells);
    lf_rb_progress_note(&R->prog, "%s %s in %.2f s (%s, %.1f MiB read per token)", rm->name,
                        rm->src == SRC_GGUF ? "loaded" : "synthesized", G->load_ms / 1e3, G->qname,
                        lf_model_weight_bytes(G->base) / 1048576.0);
    for (int i = 0; i < g->n_threads; i++) {
        lf_pool *p = lf_pool_create(g->threads[i], R->m->pin);
        if (!p)
            return lf_error_set(err, LF_ENOMEM, "bench: cannot start %d threads", g->threads[i]);
        G->pools[G->n_pools] = p;
        G->pool_threads[G->n_pools++] = g->threads[i];
    }
    return 0;
}

/* Tokens: deterministic, valid ids, prepared once for the longest depth,
 * prompt and generation of the group. */
static int group_tokens(const runner *R, const rgroup *g, grun *G, lf_error *err) {
    int max_d = 0, max_p = 1, max_g = 1;
    for (int i = 0; i < g->n_cells; i++) {
        const rcell *c = &g->cells[i];
        max_d = c->r.n_depth > max_d ? c->r.n_depth : max_d;
        if (c->r.kind == LF_TEST_TG)
            max_g = c->n_tok > max_g ? c->n_tok : max_g;
        else if (c->r.kind == LF_TEST_PP || c->r.kind == LF_TEST_TTFT)
            max_p = c->n_tok > max_p ? c->n_tok : max_p;
    }
    G->dtok = malloc(sizeof *G->dtok * (size_t)(max_d + 1));
    G->ptok = malloc(sizeof *G->ptok * (size_t)max_p);
    G->gtok = malloc(sizeof *G->gtok * (size_t)max_g);
    if (!G->dtok || !G->ptok || !G->gtok)
        return lf_error_set(err, LF_ENOMEM, "bench: out of memory for %d tokens", max_d + max_p + max_g);
    lf_rng trng;
    lf_rng_seed(&trng, R->m->seed ^ 0x746f6b656e73ull);
    int n_vocab = lf_model_hparams(G->base)->n_vocab;
    uint32_t nv = (uint32_t)(n_vocab > 1 ? n_vocab - 1 : 1);
    for (int i = 0; i <= max_d; i++)
        G->dtok[i] = (int32_t)(1 + lf_rng_below(&trng, nv));
    for (int i = 0; i < max_p; i++)
        G->ptok[i] = (int32_t)(1 + lf_rng_below(&trng, nv));
    for (int i = 0; i < max_g; i++)
        G->gtok[i] = (int32_t)(1 + lf_rng_below(&trng, nv));
    for (int i = 0; i < 8; i++)
        G->scales[i] = 1.0f;
    return 0;
}

/* Adapter configuration a: the set in use, its swap partner, the merged
 * copy. One that fails to load only skips its tests; out of memory fails. */
static int group_adapter_load(runner *R, rgroup *g, grun *G, int a, lf_error *err) {
    const lf_bench_adapter *ad = &g->ad[a];
    bool swap = false;
    for (int i = 0; i < g->n_cells; i++)
        swap |= g->cells[i].adapter == a && g->cells[i].r.kind == LF_TEST_ADAPTER_SWAP;
    lf_error e = {0};
    if (!(G->la[a] = calloc((size_t)ad->n, sizeof **G->la)) ||
        (swap && !(G->lb[a] = calloc((size_t)ad->n, sizeof **G->lb))))
        return lf_error_set(err, LF_ENOMEM, "bench: out of memory");
    int arc = load_adapters(R, g, G, a, 0, G->la[a], &e);
    if (arc == 0 && swap)
        arc = load_adapters(R, g, G, a, 1, G->lb[a], &e);
    if (arc == 0 && ad->mode == LF_ADAPTER_MERGED)
        arc = lf_model_merge_lora_ex(&G->merged[a], G->base, G->la[a], G->scales, ad->n, true, &e);
    if (arc < 0) {
        if (arc == LF_ENOMEM) {
            *err = e;
            return arc;
        }
        lf_rb_progress_note(&R->prog, "adapter %s on %s: %s; its tests are skipped", ad->spec,
                            R->models[g->model].name, e.msg);
        for (int i = 0; i < g->n_cells; i++)
            if (g->cells[i].adapter == a)
                skip_cell(R, G, &g->cells[i], i, "adapter failed");
        free_adapters(G->la[a], ad->n);
        free_adapters(G->lb[a], ad->n);
        free(G->la[a]);
        free(G->lb[a]);
        G->la[a] = G->lb[a] = NULL;
        return 0;
    }
    if (ad->path[0]) {
        /* a file's rank is known once loaded */
        for (int i = 0; i < g->n_cells; i++)
            if (g->cells[i].adapter == a)
                g->cells[i].r.adapter_rank = lf_lora_rank(G->la[a][0]);
    }
    if (swap && !G->swap_ctx) {
        lf_error e2 = {0};
        if (lf_ctx_new(&G->swap_ctx, G->base, 16, LF_TYPE_F16, NULL, &e2) < 0) {
            *err = e2;
            return e2.code ? e2.code : LF_ENOMEM;
        }
    }
    return 0;
}

static int group_adapters(runner *R, rgroup *g, grun *G, lf_error *err) {
    if (!g->n_ad)
        return 0;
    G->merged = calloc((size_t)g->n_ad, sizeof *G->merged);
    G->la = calloc((size_t)g->n_ad, sizeof *G->la);
    G->lb = calloc((size_t)g->n_ad, sizeof *G->lb);
    if (!G->merged || !G->la || !G->lb)
        return lf_error_set(err, LF_ENOMEM, "bench: out of memory");
    for (int a = 0; a < g->n_ad; a++) {
        int rc = group_adapter_load(R, g, G, a, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* One context per slot (a failure other than out of memory skips the
 * slot's tests), then the sample arrays of the tests that will run. */
static int group_contexts(runner *R, rgroup *g, grun *G, lf_error *err) {
    for (int s = 0; s < g->n_slots; s++) {
        rslot *sl = &g->slots[s];
        const lf_bench_adapter *ad = sl->adapter >= 0 ? &g->ad[sl->adapter] : NULL;
        if (ad && !G->la[sl->adapter]) {
            snprintf(sl->fail, sizeof sl->fail, "adapter failed");
            continue;
        }
        const lf_model *mm = ad && ad->mode == LF_ADAPTER_MERGED ? G->merged[sl->adapter] : G->base;
        lf_error e = {0};
        int crc = lf_ctx_new(&sl->ctx, mm, sl->n_ctx, sl->kv, pool_for(G, sl->threads), &e);
        if (crc == 0 && ad && ad->mode == LF_ADAPTER_RUNTIME)
            crc = lf_ctx_set_adapters(sl->ctx, G->la[sl->adapter], G->scales, ad->n, &e);
        if (crc < 0) {
            if (crc == LF_ENOMEM) {
                *err = e;
                return crc;
            }
            lf_ctx_free(sl->ctx);
            sl->ctx = NULL;
            lf_strlcpy(sl->fail, e.msg, sizeof sl->fail);
            lf_rb_progress_note(&R->prog, "%s %s KV %s: %s; its tests are skipped",
                                R->models[g->model].name, G->qname, lf_type_name(sl->kv), e.msg);
            continue;
        }
        sl->valid = 0;
        sl->weight_bytes = (double)lf_model_weight_bytes(mm);
        sl->adapter_bytes = 0;
        if (ad && ad->mode == LF_ADAPTER_RUNTIME)
            for (int j = 0; j < ad->n; j++)
                sl->adapter_bytes += (double)lf_lora_bytes(G->la[sl->adapter][j]);
        sl->kv_pos_bytes = (double)lf_ctx_kv_bytes(sl->ctx) / lf_ctx_n_ctx(sl->ctx);
    }
    for (int i = 0; i < g->n_cells; i++) {
        rcell *c = &g->cells[i];
        if (c->slot >= 0 && !g->slots[c->slot].ctx)
            skip_cell(R, G, c, i, "no context");
        if (c->state != ST_WAIT)
            continue;
        if ((!c->samples && !(c->samples = malloc(sizeof *c->samples * (size_t)R->m->reps_max))) ||
            (R->passes > 1 && !c->pass_n && !(c->pass_n = calloc((size_t)R->passes, sizeof *c->pass_n))))
            return lf_error_set(err, LF_ENOMEM, "bench: out of memory");
        if (c->n > 0)
            c->warm_left = R->m->warmup;   /* a model loaded again warms again */
    }
    return 0;
}

/* A synthesized model's load time is the synthesis just done: one sample. */
static int group_synth_load_results(runner *R, rgroup *g, grun *G, lf_error *err) {
    if (R->models[g->model].src == SRC_GGUF)
        return 0;
    for (int i = 0; i < g->n_cells; i++) {
        rcell *c = &g->cells[i];
        if (c->r.kind != LF_TEST_MODEL_LOAD || c->state != ST_WAIT)
            continue;
        c->samples[0] = G->load_ms;
        c->n = 1;
        c->spent_s = G->load_ms / 1e3;
        c->stop = "once";
        c->r.threads = G->load_threads;
        int rc = cell_finish(R, g, G, i, err);
        if (rc < 0)
            return rc;
        row_sync(G, c, i);
        lf_rb_progress_finished(&R->prog, i, c->spent_s, c->weight);
    }
    return 0;
}

/* A llama.cpp failure: said once, the group goes on with localfit alone
 * (the whole run after a missing binary); never fails the run. */
static void engine_fail(runner *R, grun *G, const lf_error *e) {
    lf_rb_progress_note(&R->prog, "%s; localfit's results are measured and stored without it", e->msg);
    if (!R->engine_note[0])
        lf_strlcpy(R->engine_note, e->msg, sizeof R->engine_note);
    if (e->code == LF_ENOTFOUND)
        R->engine_off = true;
    lf_rb_engine_end(G->eng);
    G->eng = NULL;
}

/* The group's llama.cpp side: in the groups of the first ISA only (llama.cpp
 * does not change with localfit's kernels). */
static void engine_group_begin(runner *R, const rgroup *g, grun *G) {
    const rmodel *rm = &R->models[g->model];
    if (!R->o->llama || R->engine_off || (R->m->isa.n > 0 && g->isa != R->m->isa.v[0]))
        return;
    lf_error e = {0};
    char note[600];
    if (lf_rb_engine_begin(R->o->llama, R->o->interrupted, rm->src == SRC_GGUF ? rm->path : NULL, &rm->hp, g->mix, R->m->seed,
                           g->n_cells, R->m->reps_max, &G->eng, note, sizeof note, &e) < 0)
        engine_fail(R, G, &e);
    else if (note[0])
        lf_rb_progress_note(&R->prog, "%s", note);
}

/* llama.cpp's repetition of test i, right after localfit's. */
static void engine_turn(runner *R, grun *G, const rcell *c, int i) {
    lf_error e = {0};
    if (G->eng && lf_rb_engine_turn(G->eng, i, &c->r, &e) < 0 && e.code != LF_EINTR)
        engine_fail(R, G, &e);
}

/* llama.cpp's result of a finished test, stored and kept like localfit's
 * (right after it: the same plan position). */
static int engine_finish(runner *R, rgroup *g, grun *G, int ci, lf_error *err) {
    lf_result r;
    const double *s;
    int n, rc;
    if (!G->eng || !lf_rb_engine_take(G->eng, ci, &g->cells[ci].r, &r, &s, &n))
        return 0;
    if (R->o->store && (rc = lf_store_result_add(R->o->store, R->run.id, &r, s, n, err)) < 0)
        return rc;
    if ((rc = results_push(R, (int64_t)(g - R->groups) << 32 | ci, &r, s, n, err)) < 0)
        return rc;
    if (R->o->on_result)
        R->o->on_result(&r, s, n, R->o->user);
    return 0;
}

/* The repetition policy's floors for one test, for the regression gate's
 * defaults (LF_COMPARE_OPTS_INIT: alpha 0.01, threshold 5%, power 0.95):
 *   floor: the smallest n at which the exact rank test can reach alpha
 *          (5), never above reps_max; kept even past the time budget, so a
 *          stored test can be judged at all;
 *   need:  the n that detects the threshold at the noise observed so far
 *          (lf_stats_n_needed); the precision stop waits for it, the
 *          budget does not.
 * Both are at least reps_min. */
typedef struct rep_floor {
    int floor, need;
} rep_floor;

static rep_floor rep_floors(const lf_bench_matrix *m, const double *samples, int n) {
    static const lf_compare_opts gate = LF_COMPARE_OPTS_INIT;
    rep_floor f;
    int exact = lf_stats_mwu_min_n(gate.alpha);
    f.floor = exact < m->reps_max ? exact : m->reps_max;
    if (f.floor < m->reps_min)
        f.floor = m->reps_min;
    f.need = lf_stats_n_needed(lf_stats_log_sd(samples, n), gate.threshold, gate.alpha, gate.power,
                               m->reps_max);
    if (f.need < f.floor)
        f.need = f.floor;
    return f;
}

/* One turn of test i: its warm-up on the first turn, one timed repetition,
 * then finished (stored) if precise enough or out of repetitions or
 * budget. Returns 1 when the test wants another turn, 0 when finished. */
static int cell_turn(runner *R, rgroup *g, grun *G, int i, lf_error *err) {
    const lf_bench_matrix *m = R->m;
    rcell *c = &g->cells[i];
    double sample, ns, tokens, joules;
    int rc;
    c->state = ST_RUN;
    G->rows[i].state = ST_RUN;
    lf_rb_progress_update(&R->prog, i, false);
    for (; c->warm_left > 0; c->warm_left--)
        if ((rc = cell_rep(R, g, G, c, &sample, &ns, &tokens, &joules, err)) < 0)
            goto failed;
    double ts = lf_now_s();
    if ((rc = cell_rep(R, g, G, c, &sample, &ns, &tokens, &joules, err)) < 0)
        goto failed;
    c->spent_s += lf_now_s() - ts;
    c->samples[c->n++] = sample;
    if (c->pass_n)
        c->pass_n[R->pass]++;
    engine_turn(R, G, c, i);
    if (ns < c->min_rep_ns)
        c->min_rep_ns = ns;
    if (isfinite(joules)) {
        c->energy_j += joules;
        c->energy_tok += tokens;
        c->energy_reps++;
    }
    const char *stop = NULL;
    rep_floor fl = rep_floors(m, c->samples, c->n);
    bool last = R->pass >= R->passes - 1;
    if (c->n >= m->reps_max)
        stop = "max";
    else if (last && c->n >= fl.need && lf_stats_precise_enough(c->samples, c->n, m->target_ci, m->reps_min))
        stop = "ci";
    else if (last && c->n >= fl.floor && c->spent_s >= m->budget_s)
        stop = "budget";
    c->stop = stop;
    if (!stop && !last) {
        /* an earlier visit: its share of the repetitions, or of the floor
         * and the budget, and the test waits for the next visit */
        double share = (double)(R->pass + 1) / R->passes;
        if (c->n >= (int)ceil(m->reps_max * share) ||
            (c->n >= (int)ceil(fl.floor * share) && c->spent_s >= m->budget_s * share))
            c->share_done = R->pass;
    }
    if (stop) {
        if ((rc = cell_finish(R, g, G, i, err)) < 0 || (rc = engine_finish(R, g, G, i, err)) < 0)
            return rc;
        row_sync(G, c, i);
        lf_rb_progress_finished(&R->prog, i, c->spent_s, c->weight);
        return 0;
    }
    c->state = ST_WAIT;
    row_sync(G, c, i);
    G->rows[i].state = ST_WAIT;
    lf_rb_progress_update(&R->prog, i, false);
    return c->share_done < R->pass;
failed:
    lf_error_wrap(err, "%s %s %s", R->models[g->model].name, G->qname, G->rows[i].name);
    return rc;
}

/* Round-robin: one repetition of every unfinished test per round, so
 * drift spreads over all of them; interruption is checked before each. A
 * test that has run this visit's share sits out the rest of it. */
static int group_round_robin(runner *R, rgroup *g, grun *G, lf_error *err) {
    for (;;) {
        int left = 0;
        for (int i = 0; i < g->n_cells; i++) {
            if (g->cells[i].state >= ST_DONE || g->cells[i].share_done >= R->pass)
                continue;
            if (interrupted(R))
                return LF_EINTR;
            int rc = cell_turn(R, g, G, i, err);
            if (rc < 0)
                return rc;
            left += rc;
        }
        if (!left)
            return 0;
    }
}

static int group_run(runner *R, int gi, lf_error *err) {
    rgroup *g = &R->groups[gi];
    const rmodel *rm = &R->models[g->model];
    grun G;
    memset(&G, 0, sizeof G);
    int rc = 0;
    char title[256];
    int w = snprintf(title, sizeof title, "[%d/%d] %s %s %s", gi + 1, R->n_groups, rm->name,
                     g->mix >= 0 ? lf_mix_name((lf_mix)g->mix) : "(file)",
                     lf_isa_level_name((lf_isa_level)g->isa));
    if (R->passes > 1 && w > 0 && (size_t)w < sizeof title)
        snprintf(title + w, sizeof title - (size_t)w, " pass %d/%d", R->pass + 1, R->passes);

    if (lf_kernels_isa() != (lf_isa_level)g->isa && (rc = lf_kernels_init((lf_isa_level)g->isa, err)) < 0)
        return rc;
    if (R->m->roofs) {
        measure_roofs(R, g);
    } else if (!has_peaks(R, g->isa) && !set_uses_all()) {
        /* a set with fewer instructions than the device's stored peaks
         * (LOCALFIT_ISA, an isa axis) has its own, measured once */
        measure_peaks(R, g, R->usable_threads);
    }
    if (interrupted(R))
        return LF_EINTR;
    engine_group_begin(R, g, &G);
    R->rss_reset_ok = lf_rb_rss_reset();
    if ((rc = group_load(R, g, &G, err)) < 0)
        goto done;
    lf_mix fmix = g->mix >= 0 ? (lf_mix)g->mix : lf_model_mix(G.base);
    group_describe(&G, fmix);
    if (g->mix < 0 && (rc = group_check_file(R, g, &G, fmix, err)) != 0) {
        rc = rc == 1 ? 0 : rc;   /* skipped as too big: not an error */
        goto done;
    }
    if ((rc = group_rows_pools(R, g, &G, title, err)) < 0 || (rc = group_tokens(R, g, &G, err)) < 0 ||
        (rc = group_adapters(R, g, &G, err)) < 0 || (rc = group_contexts(R, g, &G, err)) < 0 ||
        (rc = group_synth_load_results(R, g, &G, err)) < 0)
        goto done;
    rc = group_round_robin(R, g, &G, err);
done:
    lf_rb_progress_release(&R->prog);   /* before its rows are freed */
    group_free(g, &G);
    return rc;
}

/* ---- the run ------------------------------------------------------------------ */

/* Median cost of an empty timed region: two clock reads. */
static double measure_harness(void) {
    enum { N = 2001 };
    double v[N];
    for (int i = 0; i < N; i++) {
        uint64_t a = lf_now_ns();
        uint64_t b = lf_now_ns();
        v[i] = (double)(b - a);
    }
    return lf_stats_median(v, N);
}

void lf_bench_opts_init(lf_bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->output = LF_BENCH_OUT_TABLE;
    o->progress = LF_BENCH_PROGRESS_AUTO;
}

/* Puts the results in plan order (they finish in any order) for output. */
static void results_sort(runner *R) {
    lf_run_full *rf = &R->rf;
    for (int i = 1; i < rf->n_results; i++)
        for (int j = i; j > 0 && R->rkey[j - 1] > R->rkey[j]; j--) {
            int64_t k = R->rkey[j];
            R->rkey[j] = R->rkey[j - 1];
            R->rkey[j - 1] = k;
            lf_result r = rf->results[j];
            rf->results[j] = rf->results[j - 1];
            rf->results[j - 1] = r;
            double *s = rf->samples[j];
            rf->samples[j] = rf->samples[j - 1];
            rf->samples[j - 1] = s;
            int n = rf->n_samples_stored[j];
            rf->n_samples_stored[j] = rf->n_samples_stored[j - 1];
            rf->n_samples_stored[j - 1] = n;
        }
}

static void runner_free(runner *R) {
    free(R->rkey);
    for (int i = 0; i < R->n_groups; i++) {
        rgroup *g = &R->groups[i];
        for (int j = 0; j < g->n_cells; j++) {
            free(g->cells[j].samples);
            free(g->cells[j].pass_n);
        }
        free(g->cells);
        free(g->cell_ix.e);
        free(g->slots);
        free(g->slot_ix.e);
        free(g->ad);
    }
    free(R->groups);
    free(R->models);
    lf_catalog_free(R->cat);
}

/* Checks the settings and finds the device: the caller's, else a quick
 * probe (kept in *probed, the caller frees it). */
static int runner_setup(runner *R, lf_device **probed, lf_error *err) {
    const lf_bench_matrix *m = R->m;
    if (m->reps_min < 1 || m->reps_max < m->reps_min || !(m->target_ci > 0) || !(m->budget_s > 0) ||
        m->n_lora_targets < 0 || m->n_lora_targets > 8)
        return lf_error_set(err, LF_EINVAL, "bench: bad repetition settings (reps %d-%d, target %g, budget %g)",
                            m->reps_min, m->reps_max, m->target_ci, m->budget_s);
    R->dev = R->o->device;
    if (!R->dev) {
        if (!(*probed = calloc(1, sizeof **probed)))
            return lf_error_set(err, LF_ENOMEM, "bench: out of memory");
        int rc = lf_device_current(NULL, NULL, *probed, NULL, 0, err);
        if (rc < 0)
            return rc;
        R->dev = *probed;
    }
    R->usable_threads = R->dev->limits.usable_threads;
    if (R->usable_threads < 1) {
        cpu_set_t set;
        R->usable_threads =
            sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
    }
    return 0;
}

/* Memory of synthesized models, before anything is recorded or loaded:
 * a group that does not fit fails the run, or is skipped (skip_too_big). */
static int plan_check_memory(runner *R, lf_error *err) {
    for (int gi = 0; gi < R->n_groups; gi++) {
        rgroup *g = &R->groups[gi];
        const rmodel *rm = &R->models[g->model];
        if (rm->src == SRC_GGUF)
            continue;
        double w, tgt, lpr;
        estimate_weights(R, &rm->hp, (lf_mix)g->mix, &w, &tgt, &lpr);
        int crc = check_memory(R, g, &rm->hp, w, tgt, lpr, err);
        if (crc < 0)
            return crc;
        if (crc == 1) {
            if (!R->o->quiet)
                lf_warn("bench: skipped: %s", err->msg);
            for (int i = 0; i < g->n_cells; i++)
                g->cells[i].state = ST_SKIP;
            R->n_skipped += g->n_cells;
            err->code = 0;
            err->msg[0] = 0;
        }
    }
    return 0;
}

/* Every GGUF file of the plan opens as a model (header, tensors, sizes;
 * nothing is computed): an empty, text, truncated or damaged file fails the
 * bench here, before a run is recorded, not as an interrupted run with no
 * results. */
static int plan_check_files(runner *R, lf_error *err) {
    for (int i = 0; i < R->n_models; i++) {
        const rmodel *rm = &R->models[i];
        if (rm->src != SRC_GGUF)
            continue;
        if (interrupted(R))
            return lf_error_set(err, LF_EINTR, "interrupted while checking the model files");
        lf_model *m = NULL;
        lf_model_opts mo = {.interleave = false};
        int rc = lf_model_load(&m, rm->path, &mo, err);
        lf_model_free(m);
        if (rc < 0)
            return rc;   /* the message names the file */
    }
    return 0;
}

/* The run record (git, suite, label, device), and, with a store, the
 * device profile and the run begun in it. */
static int run_record(runner *R, lf_error *err) {
    const lf_bench_opts *opts = R->o;
    lf_store_run_init(&R->run);
    lf_git_info git;
    lf_store_detect_git(NULL, opts->git_commit, opts->git_branch, &git);
    lf_store_run_set_git(&R->run, &git);
    lf_strlcpy(R->run.suite, opts->suite_name ? opts->suite_name : R->m->name[0] ? R->m->name : "custom",
               sizeof R->run.suite);
    if (opts->label)
        lf_strlcpy(R->run.label, opts->label, sizeof R->run.label);
    lf_strlcpy(R->run.device_id, R->dev->id, sizeof R->run.device_id);
    lf_strlcpy(R->run.device_slug, R->dev->slug, sizeof R->run.device_slug);
    if (opts->store) {
        int rc = lf_device_store(opts->store, R->dev, err);
        if (rc == 0)
            rc = lf_store_run_begin(opts->store, &R->run, err);
        if (rc < 0)
            return rc;
        R->begun = true;
    }
    R->rf.run = R->run;
    return 0;
}

/* Progress: the expected cost of a test ~ the bytes it reads: the model's
 * weights per decoded token, a prompt's weights per 32 tokens (prefill
 * reuses them), a load or swap about one pass over the weights. */
static void progress_start(runner *R) {
    const lf_bench_opts *opts = R->o;
    lf_rb_progress_init(&R->prog, opts, R->n_planned);
    R->prog.done = R->n_skipped;
    for (int gi = 0; gi < R->n_groups; gi++) {
        rgroup *g = &R->groups[gi];
        const rmodel *rm = &R->models[g->model];
        double w = (double)rm->file_bytes, tgt, lpr;
        if (rm->src != SRC_GGUF)
            estimate_weights(R, &rm->hp, (lf_mix)g->mix, &w, &tgt, &lpr);
        for (int i = 0; i < g->n_cells; i++) {
            rcell *c = &g->cells[i];
            double k = c->r.kind == LF_TEST_TG     ? c->n_tok
                       : c->r.kind <= LF_TEST_TTFT ? 1 + c->n_tok / 32.0
                                                   : 1;
            c->weight = w * k * (R->m->warmup + R->m->reps_min);
            if (c->state != ST_SKIP)
                R->prog.w_total += c->weight;
        }
    }
    lf_rb_progress_note(&R->prog, "%s: %d tests on %d model configuration%s, run %.8s%s%s", R->run.suite,
                        R->n_planned, R->n_groups, R->n_groups == 1 ? "" : "s", R->run.uuid,
                        opts->store ? " -> " : " (not stored)",
                        opts->store ? lf_store_path(opts->store) : "");
}

/* Every group with a test left, one at a time (passes times over), until
 * one fails or the run is interrupted; the kernels' ISA is restored after. */
static int run_groups(runner *R, lf_error *err) {
    lf_isa_level isa0 = lf_kernels_isa();
    int rc = 0;
    for (R->pass = 0; R->pass < R->passes && rc == 0; R->pass++)
        for (int gi = 0; gi < R->n_groups && rc == 0; gi++) {
            bool any = false;
            for (int i = 0; i < R->groups[gi].n_cells; i++)
                any |= R->groups[gi].cells[i].state == ST_WAIT;
            if (!any)
                continue;
            if (interrupted(R)) {
                rc = LF_EINTR;
                break;
            }
            rc = group_run(R, gi, err);
        }
    lf_rb_progress_end(&R->prog);
    if (lf_kernels_isa() != isa0)
        (void)lf_kernels_init(isa0, NULL);
    return rc;
}

/* Finishes the run record (complete, or interrupted when rc < 0) in the
 * store and in R->rf; returns rc, or the store's error if rc was 0. */
static int run_finish(runner *R, int rc, lf_error *err) {
    /* A run that measured nothing is no baseline and no candidate: it is
     * kept as interrupted (never complete) and the command fails, so a CI
     * gate cannot pass on an empty run. */
    if (rc == 0 && R->rf.n_results == 0)
        rc = lf_error_set(err, LF_ENOTFOUND, "bench: nothing was measured: %d planned test%s, %d "
                                             "skipped, 0 results; the run is kept as interrupted",
                          R->n_planned, R->n_planned == 1 ? "" : "s", R->n_skipped);
    if (rc == LF_EINTR)
        lf_error_set(err, LF_EINTR, "interrupted: %d of %d tests finished and kept", R->rf.n_results,
                     R->n_planned);
    if (R->begun) {
        lf_error e2 = {0};
        int frc =
            lf_store_run_finish(R->o->store, R->run.id, rc == 0 ? LF_RUN_COMPLETE : LF_RUN_INTERRUPTED, &e2);
        if (frc < 0 && rc == 0) {
            rc = frc;
            *err = e2;
        }
        (void)lf_store_run_get(R->o->store, R->run.id, &R->run, &e2);
    } else {
        R->run.status = rc == 0 ? LF_RUN_COMPLETE : LF_RUN_INTERRUPTED;
        R->run.finished_ms = lf_wall_ms();
    }
    R->run.n_results = R->rf.n_results;
    R->rf.run = R->run;
    results_sort(R);
    return rc;
}

static void run_summary(const runner *R, double t_start, int rc, lf_bench_summary *sum) {
    memset(sum, 0, sizeof *sum);
    sum->wall_s = lf_now_s() - t_start;
    sum->harness_ns = R->harness_ns;
    sum->shortest_tg_ns = R->shortest_tg_ns;
    sum->harness_frac = isfinite(R->shortest_tg_ns) ? R->harness_ns / R->shortest_tg_ns : NAN;
    sum->n_results = R->rf.n_results;
    sum->n_planned = R->n_planned;
    sum->n_skipped = R->n_skipped;
    sum->read_gbs = roof_gbs(R, R->usable_threads);
    /* the peaks of the first ISA the run measured (of the kernels' own
     * level when it measured none) */
    const int isa = R->n_compute > 0 ? R->compute_isa[0] : (int)lf_kernels_isa();
    sum->int8_gops = peak_gops(R, R->usable_threads, false, isa);
    sum->fp32_gflops = peak_gops(R, R->usable_threads, true, isa);
    sum->n_roof_samples = R->n_compute;
    sum->interrupted = rc < 0;
    lf_strlcpy(sum->engine_note, R->engine_note, sizeof sum->engine_note);
}

int lf_bench_run(const lf_bench_matrix *m, const lf_bench_opts *opts, lf_run *run_out, lf_error *err) {
    lf_bench_opts defaults;
    if (!opts) {
        lf_bench_opts_init(&defaults);
        opts = &defaults;
    }
    double t_start = lf_now_s();
    runner *R = calloc(1, sizeof *R);
    lf_device *probed = NULL;
    if (!R)
        return lf_error_set(err, LF_ENOMEM, "bench: out of memory");
    R->m = m;
    R->o = opts;
    R->shortest_tg_ns = NAN;
    R->passes = m->passes > 1 ? m->passes : 1;
    int rc;
    if ((rc = runner_setup(R, &probed, err)) < 0 || (rc = plan(R, err)) < 0 ||
        (rc = plan_check_memory(R, err)) < 0 || (rc = plan_check_files(R, err)) < 0)
        goto out;
    if (!opts->dry_run) {
        R->harness_ns = measure_harness();
        lf_rb_energy_open(&R->energy, opts->sysroot);
        lf_rng_seed(&R->rng, m->seed);
        if ((rc = run_record(R, err)) < 0)
            goto out;
        progress_start(R);
        if (R->passes > 1 && opts->llama) {
            /* llama.cpp's turns pair with localfit's within one visit */
            lf_rb_progress_note(&R->prog, "passes = %d: one pass with the llama.cpp engine",
                                R->passes);
            R->passes = 1;
        }
        rc = run_finish(R, run_groups(R, err), err);
    }
    bool intr = rc == LF_EINTR;
    lf_bench_summary sum;
    run_summary(R, t_start, rc, &sum);
    if (opts->summary)
        *opts->summary = sum;
    if (opts->out && opts->output != LF_BENCH_OUT_NONE && !opts->dry_run && (rc == 0 || intr)) {
        lf_error e3 = {0};
        int wrc = lf_bench_write(&R->rf, &sum, opts->output, opts->out, &e3);
        if (wrc < 0 && rc == 0) {
            rc = wrc;
            *err = e3;
        }
    }
out:
    if (run_out)
        *run_out = R->run;
    if (opts->results) {
        *opts->results = R->rf;
    } else {
        lf_run_full_free(&R->rf);
    }
    runner_free(R);
    free(R);
    free(probed);
    return rc;
}
