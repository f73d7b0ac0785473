/*
 * The report's input from the results database: everything lf_report_write
 * needs, read from the store (devices, runs, results, quality rows), the
 * stored probe profiles, the catalog and the recommender. The renderers stay
 * ignorant of all of these; this file is the only bridge.
 *
 * Choices a reader of the report relies on:
 *  1. Results: the newest result of each test configuration per device
 *     (results come newest run first); older ones only feed the history.
 *  2. History: per git commit of the reported device's runs, the newest
 *     median of each test configuration; only configurations measured at
 *     two or more commits become series (at most 6, most commits first).
 *  3. Quality: every stored quality row of the reported device's runs
 *     (measured), then quants.csv's published Llama-3-8B figures.
 *  4. Recommendations: the winner and the next fitting candidates, then the
 *     best-quality rejected ones with their reasons, from the recommender
 *     calibrated on the device's stored results.
 * Every string handed to the input is owned by the bundle (keep()).
 */
#include "reports/reports.h"

#include "catalog/catalog.h"
#include "probes/probes.h"
#include "recommend/recommend.h"
#include "store/store.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEVICES 9      /* reported + up to 8 compared */
#define MAX_SERIES 6
#define N_FIT_RECS 8
#define N_REJECTED_RECS 4

typedef struct dev_slot {
    lf_device dev;
    /* a device known only from imported llama-bench results: what it
     * recorded (CPU, GPU, backends), no probe, no measured peaks */
    bool imported;
    char backends[128];
    char id[80];     /* the stored id whole (an imported one is longer than lf_device.id) */
    lf_report_kv kv[16];
    lf_report_bw_point curve[LF_CURVE_MAX];
} dev_slot;

struct lf_report_bundle {
    lf_report_input in;
    dev_slot *slots;                 /* MAX_DEVICES */
    lf_report_device devices[MAX_DEVICES];
    lf_report_result *results;
    size_t cap_results;
    lf_report_quality *quality;
    size_t cap_quality;
    lf_report_rec *recs;
    lf_report_history *history;
    size_t cap_history;
    char **strs;                     /* every string the input points at */
    size_t n_strs, cap_strs;
    bool oom;
    char note[256];
};

/* ---- owned strings ---- */

static const char *keep(lf_report_bundle *b, const char *s) {
    if (b->oom)
        return "";
    if (b->n_strs == b->cap_strs) {
        size_t cap = b->cap_strs ? 2 * b->cap_strs : 64;
        char **p = realloc(b->strs, cap * sizeof *p);
        if (!p) {
            b->oom = true;
            return "";
        }
        b->strs = p;
        b->cap_strs = cap;
    }
    char *c = strdup(s ? s : "");
    if (!c) {
        b->oom = true;
        return "";
    }
    b->strs[b->n_strs++] = c;
    return c;
}

static const char *keepf(lf_report_bundle *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *keepf(lf_report_bundle *b, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return keep(b, buf);
}

/* Grows *arr (element size sz) to hold n + 1 elements. */
static bool grow(lf_report_bundle *b, void **arr, size_t *cap, size_t n, size_t sz) {
    if (n < *cap)
        return true;
    size_t nc = *cap ? 2 * *cap : 32;
    void *p = realloc(*arr, nc * sz);
    if (!p) {
        b->oom = true;
        return false;
    }
    *arr = p;
    *cap = nc;
    return true;
}

/* ---- device profile ---- */

static void add_kv(dev_slot *s, size_t *n, lf_report_bundle *b, const char *key, const char *v) {
    if (*n < sizeof s->kv / sizeof s->kv[0] && v && *v)
        s->kv[(*n)++] = (lf_report_kv){key, keep(b, v)};
}

static void fill_device(lf_report_bundle *b, size_t i) {
    dev_slot *s = &b->slots[i];
    const lf_device *d = &s->dev;
    char v[512], x[64], y[64];
    size_t n = 0;
    if (s->imported) {
        /* only what llama-bench recorded: no topology, limits or peaks */
        add_kv(s, &n, b, "Source", "imported llama-bench results (not probed by localfit)");
        add_kv(s, &n, b, "CPU", d->cpu.brand[0] ? d->cpu.brand : "unknown");
        add_kv(s, &n, b, "GPUs", d->n_gpus ? d->gpus[0].name : "none recorded");
        add_kv(s, &n, b, "Backends", s->backends[0] ? s->backends : "unknown");
        lf_report_device *rd = &b->devices[i];
        memset(rd, 0, sizeof *rd);
        rd->id = keep(b, s->id);
        rd->slug = keep(b, d->slug);
        rd->profile = s->kv;
        rd->n_profile = n;
        rd->bandwidth_gbs = rd->peak_fp32_gflops = rd->peak_int8_gops = NAN;
        return;
    }
    if (d->cpu.brand[0] || d->cpu.codename[0]) {
        int l = snprintf(v, sizeof v, "%s", d->cpu.brand[0] ? d->cpu.brand : d->cpu.vendor);
        if (d->cpu.codename[0] && l > 0 && (size_t)l < sizeof v)
            l += snprintf(v + l, sizeof v - (size_t)l, " (%s", d->cpu.codename);
        if (d->cpu.family >= 0 && l > 0 && (size_t)l < sizeof v)
            l += snprintf(v + l, sizeof v - (size_t)l, "%sfamily %d model %d",
                          d->cpu.codename[0] ? ", " : " (", d->cpu.family, d->cpu.model);
        if ((d->cpu.codename[0] || d->cpu.family >= 0) && l > 0 && (size_t)l + 1 < sizeof v)
            strcat(v, ")");
        add_kv(s, &n, b, "CPU", v);
    }
    v[0] = '\0';
    bool on;
    const char *name;
    for (int k = 0; (name = lf_isa_feature(&d->cpu.isa, k, &on)); k++)
        if (on && strlen(v) + strlen(name) + 2 < sizeof v) {
            if (v[0])
                strcat(v, " ");
            strcat(v, name);
        }
    add_kv(s, &n, b, "ISA features", v);
    add_kv(s, &n, b, "Kernel ISA", lf_isa_level_name(lf_isa_best(&d->cpu.isa)));
    snprintf(v, sizeof v, "%d cores, %d hardware threads; this process may use %d", d->topology.cores,
             d->topology.pus, d->limits.usable_threads);
    add_kv(s, &n, b, "Cores / threads", v);
    v[0] = '\0';
    const struct { const char *n; const lf_cache_info *c; } caches[] = {
        {"L1d", &d->topology.l1d}, {"L2", &d->topology.l2}, {"L3", &d->topology.l3}};
    for (size_t k = 0; k < 3; k++)
        if (caches[k].c->size_bytes) {
            size_t l = strlen(v);
            snprintf(v + l, sizeof v - l, "%s%s %s x%d", l ? ", " : "", caches[k].n,
                     lf_format_bytes(x, sizeof x, (double)caches[k].c->size_bytes),
                     caches[k].c->instances);
        }
    add_kv(s, &n, b, "Caches", v);
    if (d->limits.mem_total) {
        snprintf(v, sizeof v, "%s total, %s usable (%s)",
                 lf_format_bytes(x, sizeof x, (double)d->limits.mem_total),
                 lf_format_bytes(y, sizeof y, (double)d->limits.usable_memory),
                 d->limits.usable_memory_source);
        add_kv(s, &n, b, "Memory", v);
    }
    snprintf(v, sizeof v, "threads: %s", d->limits.usable_threads_source);
    add_kv(s, &n, b, "Limits", v);
    if (d->n_gpus == 0) {
        snprintf(v, sizeof v, "none found (%s)", d->gpu_notes);
    } else {
        v[0] = '\0';
        for (int g = 0; g < d->n_gpus; g++) {
            size_t l = strlen(v);
            snprintf(v + l, sizeof v - l, "%s%s (%s, %s)", g ? "; " : "", d->gpus[g].name,
                     d->gpus[g].driver[0] ? d->gpus[g].driver : "no driver",
                     lf_gpu_mem_name(d->gpus[g].memory));
        }
    }
    add_kv(s, &n, b, "GPUs", v);
    if (d->bandwidth.measured) {
        snprintf(v, sizeof v, "%s kernel, %d threads, arrays of %s, best of %d; copy %.1f, triad %.1f GB/s",
                 d->bandwidth.kernel, d->bandwidth.threads,
                 lf_format_bytes(x, sizeof x, (double)d->bandwidth.array_bytes), d->bandwidth.reps,
                 d->bandwidth.copy_gbs, d->bandwidth.triad_gbs);
        add_kv(s, &n, b, "Bandwidth method", v);
    }
    add_kv(s, &n, b, "OS kernel", d->os);

    lf_report_device *rd = &b->devices[i];
    memset(rd, 0, sizeof *rd);
    rd->id = keep(b, s->id[0] ? s->id : d->id);
    rd->slug = keep(b, d->slug);
    rd->profile = s->kv;
    rd->n_profile = n;
    rd->bandwidth_gbs = d->bandwidth.measured ? d->bandwidth.read_gbs : NAN;
    rd->peak_fp32_gflops = d->compute.measured ? d->compute.fp32_gflops_all : NAN;
    rd->peak_int8_gops = d->compute.measured ? d->compute.int8_gops_all : NAN;
    size_t nc = 0;
    for (int t = 0; d->bandwidth.measured && t < d->bandwidth.n_curve && t < LF_CURVE_MAX; t++)
        if (d->bandwidth.curve_read_gbs[t] > 0)
            s->curve[nc++] = (lf_report_bw_point){t + 1, d->bandwidth.curve_read_gbs[t]};
    rd->bw_curve = s->curve;
    rd->n_bw_curve = nc;
}

/* ---- results ---- */

static bool same_config(const lf_result *a, const lf_result *b) {
    return a->kind == b->kind && a->threads == b->threads && a->n_prompt == b->n_prompt &&
           a->n_gen == b->n_gen && a->n_depth == b->n_depth && a->n_adapters == b->n_adapters &&
           a->adapter_rank == b->adapter_rank && a->adapter_mode == b->adapter_mode &&
           !strcmp(a->model, b->model) && !strcasecmp(a->quant, b->quant) &&
           !strcmp(a->adapter, b->adapter) && !strcasecmp(a->kv_type, b->kv_type) &&
           !strcasecmp(a->backend, b->backend) && !strcmp(a->config, b->config) &&
           !strcasecmp(a->isa, b->isa) && !strcmp(a->engine, b->engine) &&
           !strncmp(a->model_path, "shape:", 6) == !strncmp(b->model_path, "shape:", 6);
}

/* Another engine's result (bench --engine llama.cpp) is shown beside
 * localfit's under the same model, named: "tiny [llama.cpp]". */
static bool other_engine(const lf_result *r) { return r->engine[0] && strcmp(r->engine, "localfit"); }

/* Weight bytes and matmul parameters of a result's model: the catalog's
 * exact counts, else what the bench recorded with the result. *held
 * (bits per weight divide by it) is the matmul parameters the weights
 * hold: for a mixture of experts every expert, where *params (a token's
 * FLOPs) counts k of n. */
static void model_size(const lf_catalog *cat, const lf_result *r, uint64_t *wbytes,
                       double *params, double *held) {
    *wbytes = 0;
    *params = *held = NAN;
    lf_mix mix;
    size_t lp = strlen(r->model_path);
    bool gguf = lp > 5 && !strcasecmp(r->model_path + lp - 5, ".gguf");
    if (cat && !gguf && lf_mix_parse(r->quant, &mix) == 0) {
        for (int i = 0; i < lf_catalog_n_models(cat); i++) {
            const lf_catalog_model *m = lf_catalog_model_at(cat, i);
            if (strcasecmp(m->name, r->model_path) && strcasecmp(m->name, r->model))
                continue;
            lf_rec_memory mem;
            if (lf_rec_weight_bytes(m, mix, &mem, NULL) == 0) {
                double tot;
                lf_catalog_param_counts(m, &tot, NULL, NULL);
                *wbytes = mem.weights;
                *params = mem.matmul_params;
                /* every weight the file holds, embeddings and norms too (as
                 * sweep counts them: one bits-per-weight figure for one row) */
                *held = tot;
            }
            return;
        }
    }
    if (r->weight_bytes > 0)
        *wbytes = (uint64_t)r->weight_bytes;
    if (r->n_params > 0)
        *params = *held = r->n_params;
}

typedef struct run_info {
    int64_t id;
    const char *commit;     /* kept string, "" unknown */
    int64_t started_s;
} run_info;

static const run_info *find_run(const run_info *ri, size_t n, int64_t id) {
    for (size_t i = 0; i < n; i++)
        if (ri[i].id == id)
            return &ri[i];
    return NULL;
}

static void add_result(lf_report_bundle *b, const lf_catalog *cat, const lf_device *d, const char *id,
                       const lf_result *r, const run_info *run) {
    if (!grow(b, (void **)&b->results, &b->cap_results, b->in.n_results, sizeof *b->results))
        return;
    lf_report_result *o = &b->results[b->in.n_results++];
    memset(o, 0, sizeof *o);
    o->device_id = keep(b, id);
    o->model = other_engine(r) ? keepf(b, "%s [%s]", r->model[0] ? r->model : r->model_path, r->engine)
               /* a built-in shape has random weights: not the file of that name */
               : !strncmp(r->model_path, "shape:", 6)
                   ? keepf(b, "%s (synthetic)", r->model[0] ? r->model : r->model_path + 6)
                   : keep(b, r->model[0] ? r->model : r->model_path);
    o->quant = keep(b, r->quant);
    /* the adapter as a reader tells runs apart: merged ones say so */
    o->adapter = !r->adapter[0] ? NULL
                 : r->adapter_mode == LF_ADAPTER_MERGED && !strstr(r->adapter, "merged")
                     ? keepf(b, "%s (merged)", r->adapter)
                     : keep(b, r->adapter);
    o->kv_type = r->kv_type[0] && strcasecmp(r->kv_type, "f16") ? keep(b, r->kv_type) : NULL;
    o->test = keep(b, lf_test_kind_name(r->kind));
    o->threads = r->threads;
    o->n_prompt = r->n_prompt > 0 ? r->n_prompt : 0;
    o->n_gen = r->n_gen > 0 ? r->n_gen : 0;
    o->depth = r->n_depth > 0 ? r->n_depth : 0;
    o->value = r->median;
    o->ci_low = r->ci_low;
    o->ci_high = r->ci_high;
    double params, held;
    model_size(cat, r, &o->weight_bytes, &params, &held);
    o->flops_per_token = params > 0 ? 2.0 * params : NAN;
    o->bits_per_weight = o->weight_bytes && held > 0 ? (double)o->weight_bytes * 8.0 / held : NAN;
    o->bytes_per_token = r->bytes_per_token;
    o->roofline_fraction = r->roofline_frac;
    double bw = lf_rec_device_bandwidth(d, r->threads);
    if (r->kind == LF_TEST_TG && !(o->roofline_fraction >= 0) && o->bytes_per_token > 0 && bw > 0)
        o->roofline_fraction = o->value * o->bytes_per_token / (bw * 1e9);
    o->commit = run && run->commit[0] ? run->commit : NULL;
    o->timestamp = run ? run->started_s : 0;
}

/* The test configuration as a history series name: "tg32 qwen2.5-0.5b Q4_0 t2". */
static void series_name(const lf_result *r, char *buf, size_t size) {
    int n = r->kind == LF_TEST_PP ? r->n_prompt : r->kind == LF_TEST_TG ? r->n_gen : 0;
    int l = snprintf(buf, size, "%s", lf_test_kind_name(r->kind));
    if (n > 0 && l > 0 && (size_t)l < size)
        l += snprintf(buf + l, size - (size_t)l, "%d", n);
    if (l > 0 && (size_t)l < size)
        l += snprintf(buf + l, size - (size_t)l, " %s %s t%d", r->model, r->quant, r->threads);
    if (r->n_depth > 0 && l > 0 && (size_t)l < size)
        l += snprintf(buf + l, size - (size_t)l, " d%d", r->n_depth);
    if (r->adapter[0] && l > 0 && (size_t)l < size)
        l += snprintf(buf + l, size - (size_t)l, " +%s", r->adapter);
    if (other_engine(r) && l > 0 && (size_t)l < size)
        snprintf(buf + l, size - (size_t)l, " [%s]", r->engine);
}

/* History over commits from the reported device's results (newest run
 * first) and their runs. */
static void build_history(lf_report_bundle *b, const lf_result *res, int nr, const run_info *ri,
                          size_t nri) {
    /* Distinct commits. */
    const char **commits = calloc(nri + 1, sizeof *commits);
    lf_result *firsts = NULL;   /* one representative per configuration */
    int *ncommit = NULL;
    size_t nc = 0, nf = 0;
    if (!commits) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < nri; i++) {
        if (!ri[i].commit[0])
            continue;
        bool seen = false;
        for (size_t k = 0; k < nc && !seen; k++)
            seen = !strcmp(commits[k], ri[i].commit);
        if (!seen)
            commits[nc++] = ri[i].commit;
    }
    if (nc < 2)
        goto out;
    firsts = malloc(sizeof *firsts * (size_t)(nr ? nr : 1));
    ncommit = calloc((size_t)(nr ? nr : 1), sizeof *ncommit);
    if (!firsts || !ncommit) {
        b->oom = true;
        goto out;
    }
    /* Per configuration, the number of commits it was measured at. */
    for (int i = 0; i < nr; i++) {
        const run_info *run = find_run(ri, nri, res[i].run_id);
        if (!run || !run->commit[0] || !(res[i].median > 0))
            continue;
        size_t f = 0;
        while (f < nf && !same_config(&firsts[f], &res[i]))
            f++;
        if (f == nf)
            firsts[nf++] = res[i];
        /* Counted once per commit: is there an earlier (newer) result of
         * this configuration at the same commit? */
        bool dup = false;
        for (int j = 0; j < i && !dup; j++) {
            const run_info *rj = find_run(ri, nri, res[j].run_id);
            dup = rj && !strcmp(rj->commit, run->commit) && same_config(&res[j], &res[i]);
        }
        if (!dup)
            ncommit[f]++;
    }
    /* Up to MAX_SERIES configurations with the most commits (>= 2). */
    for (int pick = 0; pick < MAX_SERIES; pick++) {
        size_t best = nf;
        for (size_t f = 0; f < nf; f++)
            if (ncommit[f] >= 2 && (best == nf || ncommit[f] > ncommit[best]))
                best = f;
        if (best == nf)
            break;
        ncommit[best] = -1;   /* taken */
        char name[512];
        series_name(&firsts[best], name, sizeof name);
        const char *sname = keep(b, name);
        for (size_t c = 0; c < nc; c++) {
            /* the newest result of this configuration at commit c */
            for (int i = 0; i < nr; i++) {
                const run_info *run = find_run(ri, nri, res[i].run_id);
                if (!run || strcmp(run->commit, commits[c]) || !same_config(&res[i], &firsts[best]) ||
                    !(res[i].median > 0))
                    continue;
                if (!grow(b, (void **)&b->history, &b->cap_history, b->in.n_history,
                          sizeof *b->history))
                    goto out;
                /* Oldest run of the commit dates it: commits are ordered by
                 * when they were first measured. */
                int64_t when = run->started_s;
                for (size_t k = 0; k < nri; k++)
                    if (!strcmp(ri[k].commit, commits[c]) && ri[k].started_s < when)
                        when = ri[k].started_s;
                b->history[b->in.n_history++] =
                    (lf_report_history){commits[c], when, sname, res[i].median};
                break;
            }
        }
    }
out:
    free(commits);
    free(firsts);
    free(ncommit);
}

/* ---- quality ---- */

static void add_quality(lf_report_bundle *b, const char *model, const char *quant, double bpw,
                        double kld, double ppl, double same_top, lf_report_source src) {
    if (!grow(b, (void **)&b->quality, &b->cap_quality, b->in.n_quality, sizeof *b->quality))
        return;
    b->quality[b->in.n_quality++] = (lf_report_quality){keep(b, model), keep(b, quant), bpw, kld,
                                                        ppl, same_top, src};
}

/* Bits per weight of a stored quality row's variant: from a result of the
 * same run, model and quant that knows its bytes; else the catalog model's
 * exact figure; else the published figure of the quant (Llama-3-8B). */
static double quality_bpw(const lf_catalog *cat, const lf_quality *q, const lf_run_full *rf) {
    /* a collapsed level ("Q6_K=Q8_0") was measured as its level */
    char level[sizeof q->variant];
    lf_strlcpy(level, q->variant, sizeof level);
    level[strcspn(level, "=")] = '\0';
    for (int i = 0; i < rf->n_results; i++) {
        const lf_result *r = &rf->results[i];
        if (strcmp(r->model, q->model) || strcasecmp(r->quant, level))
            continue;
        uint64_t wb;
        double params, held;
        model_size(cat, r, &wb, &params, &held);
        if (wb && held > 0)
            return (double)wb * 8.0 / held;
    }
    lf_result fake;
    lf_result_init(&fake);
    lf_strlcpy(fake.model, q->model, sizeof fake.model);
    lf_strlcpy(fake.quant, level, sizeof fake.quant);
    uint64_t wb;
    double params, held;
    model_size(cat, &fake, &wb, &params, &held);
    if (wb && held > 0)
        return (double)wb * 8.0 / held;
    const lf_catalog_quant *cq = cat ? lf_catalog_find_quant(cat, level) : NULL;
    return cq ? cq->bpw : NAN;
}

/* ---- recommendations ---- */

/* A recommendation's model as the report names it: a mixture of experts
 * with its total and active size ("Qwen3 30B A3B (MoE 30.5B/3.3B)"). */
static const char *rec_model_name(lf_report_bundle *b, const lf_catalog_model *m) {
    char moe[48];
    if (!lf_catalog_model_is_moe(m))
        return keep(b, m->display);
    return keepf(b, "%s (%s)", m->display, lf_rec_moe_label(m, moe, sizeof moe));
}

static void build_recs(lf_report_bundle *b, lf_store *st, const lf_catalog *cat,
                       const lf_device *d, const lf_rec_constraints *given) {
    lf_rec_target t;
    if (lf_rec_target_from_device(&t, d, NULL) < 0)
        return;   /* no bandwidth measured: the section says there is nothing */
    lf_rec_observation *obs = NULL;
    int n_obs = 0;
    if (lf_rec_observations_load(st, cat, d, &obs, &n_obs, NULL, NULL) < 0)
        n_obs = 0;
    lf_rec_calibration cal;
    lf_rec_constraints k;
    if (given)
        k = *given;
    else
        lf_rec_constraints_init(&k);
    lf_rec_result r;
    memset(&r, 0, sizeof r);
    if (lf_rec_calibrate(&cal, obs, n_obs, t.kind, NULL) < 0 ||
        lf_rec_recommend(cat, &t, &k, &cal, &r, NULL) < 0)
        goto out;
    /* + 1: the best mixture-of-experts model that fits, when it ranks lower */
    b->recs = calloc(N_FIT_RECS + N_REJECTED_RECS + 1, sizeof *b->recs);
    if (!b->recs) {
        b->oom = true;
        goto out;
    }
    char buf[256];
    int len = snprintf(buf, sizeof buf, "context %lld, KV %s, at most %.0f%% of %s usable memory",
                       (long long)k.context, lf_type_name(k.kv_type), 100 * k.memory_fraction,
                       lf_format_bytes((char[32]){0}, 32, (double)t.usable_memory));
    if (k.min_tps > 0 && len > 0 && (size_t)len < sizeof buf)
        len += snprintf(buf + len, sizeof buf - (size_t)len, ", at least %g tokens/s", k.min_tps);
    if (len > 0 && (size_t)len < sizeof buf)
        snprintf(buf + len, sizeof buf - (size_t)len, "; calibrated on %d stored observation%s",
                 n_obs, n_obs == 1 ? "" : "s");
    b->in.rec_constraints = keep(b, buf);
    size_t n = 0;
    int best_moe = -1;   /* a sparse model decodes like its active size: show one */
    for (int i = 0; i < r.n_fit && best_moe < 0; i++)
        if (lf_catalog_model_is_moe(r.cand[i].model))
            best_moe = i;
    for (int i = 0; i < r.n_fit; i++) {
        if (n >= N_FIT_RECS && i != best_moe) {
            if (best_moe < i)
                break;
            continue;
        }
        const lf_rec_candidate *c = &r.cand[i];
        lf_report_rec *o = &b->recs[n++];
        o->rank = c->rank;
        o->model = rec_model_name(b, c->model);
        o->quant = keep(b, c->quant->name);
        o->tg = c->tg.value;
        o->tg_low = c->tg.lo;
        o->tg_high = c->tg.hi;
        o->memory_bytes = c->mem.total;
        o->quality = c->quality;
        o->label = (lf_report_label)c->tg.source;
        o->verdict = i == 0 ? "best" : "fits";
        if (i == 0)
            o->reason = keepf(b, "highest quality that fits%s", c->pareto ? "; on the Pareto front" : "");
        else
            o->reason = keepf(b, "quality %.1f below the winner%s", r.cand[0].quality - c->quality,
                              c->pareto ? "; on the Pareto front" : "");
    }
    /* The rejected candidates a user would have wanted: the better models
     * (quality above the winner's), each by its leanest quantization — the
     * one closest to fitting — best quality first. */
    bool *taken = calloc((size_t)r.n + 1, sizeof *taken);
    if (!taken) {
        b->oom = true;
        goto out;
    }
    double floor_q = r.n_fit > 0 ? r.cand[0].quality : 0;
    for (int i = r.n_fit; i < r.n; i++) {
        const lf_rec_candidate *c = &r.cand[i];
        bool leanest = c->quality > floor_q;
        for (int j = r.n_fit; j < r.n && leanest; j++)
            leanest = !(r.cand[j].model == c->model && r.cand[j].quality > floor_q &&
                        r.cand[j].mem.total < c->mem.total);
        taken[i] = !leanest;   /* not a candidate to show */
    }
    for (int pick = 0; pick < N_REJECTED_RECS; pick++) {
        int best = -1;
        for (int i = r.n_fit; i < r.n; i++)
            if (!taken[i] && (best < 0 || r.cand[i].quality > r.cand[best].quality))
                best = i;
        if (best < 0)
            break;
        taken[best] = true;
        const lf_rec_candidate *c = &r.cand[best];
        lf_report_rec *o = &b->recs[n++];
        o->rank = 0;
        o->model = rec_model_name(b, c->model);
        o->quant = keep(b, c->quant->name);
        o->tg = c->tg.value;
        o->tg_low = c->tg.lo;
        o->tg_high = c->tg.hi;
        o->memory_bytes = c->mem.total;
        o->quality = c->quality;
        o->label = (lf_report_label)c->tg.source;
        o->verdict = "rejected";
        o->reason = keep(b, c->reason);
    }
    free(taken);
    b->in.recs = b->recs;
    b->in.n_recs = n;
out:
    lf_rec_result_free(&r);
    free(obs);
}

/* ---- the whole input ---- */

static int load_device_results(lf_report_bundle *b, lf_store *st, const lf_catalog *cat,
                               const dev_slot *slot, bool with_history, lf_error *err) {
    const lf_device *d = &slot->dev;
    const char *id = slot->id[0] ? slot->id : d->id;
    lf_result *res = NULL;
    int nr = 0;
    lf_run *runs = NULL;
    int nruns = 0;
    run_info *ri = NULL;
    int rc = lf_store_device_results(st, id, -1, &res, &nr, err);
    if (rc < 0)
        return rc;
    lf_run_filter f = LF_RUN_FILTER_INIT;
    f.device_id = id;
    if ((rc = lf_store_runs_list(st, &f, &runs, &nruns, err)) < 0)
        goto out;
    ri = calloc((size_t)nruns + 1, sizeof *ri);
    if (!ri) {
        rc = lf_error_set(err, LF_ENOMEM, "report: out of memory");
        goto out;
    }
    for (int i = 0; i < nruns; i++)
        ri[i] = (run_info){runs[i].id, keep(b, runs[i].git_commit), runs[i].started_ms / 1000};
    for (int i = 0; i < nr; i++) {
        bool newer = false;
        for (int j = 0; j < i && !newer; j++)
            newer = same_config(&res[j], &res[i]);
        if (!newer)
            add_result(b, cat, d, id, &res[i], find_run(ri, (size_t)nruns, res[i].run_id));
    }
    if (with_history) {
        build_history(b, res, nr, ri, (size_t)nruns);
        /* Quality rows live under their runs. */
        for (int i = 0; i < nruns; i++) {
            lf_run_full rf;
            if ((rc = lf_store_run_load(st, runs[i].id, &rf, err)) < 0)
                goto out;
            for (int q = 0; q < rf.n_quality; q++) {
                const lf_quality *qq = &rf.quality[q];
                add_quality(b, qq->model, qq->variant, quality_bpw(cat, qq, &rf), qq->kld_mean,
                            qq->ppl, qq->same_top, LF_REPORT_MEASURED);
            }
            lf_run_full_free(&rf);
        }
    }
    rc = 0;
out:
    free(res);
    free(runs);
    free(ri);
    return rc;
}

/* The id of the stored device query names (an id, an id prefix or a slug,
 * as lf_rec_device_find matches them), or "" when none does. */
static void resolve_device_id(lf_store *st, const char *query, char *id, size_t size) {
    id[0] = '\0';
    char *json = NULL;
    if (lf_store_device_get(st, query, NULL, 0, &json, NULL) == 0) {
        free(json);
        lf_strlcpy(id, query, size);
        return;
    }
    lf_run *runs = NULL;
    int nr = 0;
    if (lf_store_runs_list(st, NULL, &runs, &nr, NULL) < 0)
        return;
    size_t ql = strlen(query);
    for (int i = 0; i < nr && !id[0]; i++)
        if (runs[i].device_id[0] &&
            (!strncasecmp(runs[i].device_id, query, ql) || !strcasecmp(runs[i].device_slug, query)))
            lf_strlcpy(id, runs[i].device_id, size);
    free(runs);
}

/* A device for the report: a localfit profile (lf_rec_device_find), or one
 * stored by `localfit import` of llama-bench results (schema
 * localfit.device/imported, often a GPU machine): its CPU, GPU and backends
 * as llama-bench recorded them, marked imported in the slot. */
static int find_device(lf_store *st, const char *query, dev_slot *slot, lf_error *err) {
    slot->imported = false;
    slot->id[0] = '\0';
    lf_error local = {0};   /* the code decides, whether or not the caller wants the message */
    int rc = lf_rec_device_find(st, query, &slot->dev, &local);
    if (rc < 0 && err)
        *err = local;
    if (rc != LF_EFORMAT)
        return rc;
    char id[80], slug[80] = "";
    char *json = NULL;
    resolve_device_id(st, query, id, sizeof id);
    if (!id[0] || lf_store_device_get(st, id, slug, sizeof slug, &json, NULL) < 0)
        return rc;
    json_t *root = json_loads(json, 0, NULL);
    free(json);
    const char *schema = json_string_value(json_object_get(root, "schema"));
    if (!schema || strcmp(schema, "localfit.device/imported")) {
        json_decref(root);
        return rc;   /* lf_rec_device_find's message stands */
    }
    lf_device *d = &slot->dev;
    memset(d, 0, sizeof *d);
    lf_strlcpy(d->schema, schema, sizeof d->schema);
    lf_strlcpy(d->id, id, sizeof d->id);   /* may be cut short: slot->id holds it whole */
    lf_strlcpy(slot->id, id, sizeof slot->id);
    lf_strlcpy(d->slug, slug[0] ? slug : id, sizeof d->slug);
    const char *cpu = json_string_value(json_object_get(root, "cpu_info"));
    const char *gpu = json_string_value(json_object_get(root, "gpu_info"));
    const char *be = json_string_value(json_object_get(root, "backends"));
    lf_strlcpy(d->cpu.brand, cpu ? cpu : "", sizeof d->cpu.brand);
    d->cpu.family = -1;
    if (gpu && *gpu) {
        d->n_gpus = 1;
        lf_strlcpy(d->gpus[0].name, gpu, sizeof d->gpus[0].name);
    }
    lf_strlcpy(slot->backends, be ? be : "", sizeof slot->backends);
    slot->imported = true;
    json_decref(root);
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
    return 0;
}

/* Resolves the reported device when none is named: this machine (the
 * caller's o->this_device id) if the store knows it, else the device of the
 * newest run. Reads only: the caller probed. */
static int default_device(lf_report_bundle *b, lf_store *st, const lf_report_store_opts *o,
                          dev_slot *slot, lf_error *err) {
    int rc = LF_ENOTFOUND;
    const lf_device *out = &slot->dev;
    if (o->this_device && *o->this_device && find_device(st, o->this_device, slot, NULL) == 0) {
        snprintf(b->note, sizeof b->note, "this machine (%s)", out->slug);
        rc = 0;
    }
    if (rc == 0)
        return 0;
    lf_run *runs = NULL;
    int n = 0;
    lf_run_filter f = LF_RUN_FILTER_INIT;
    if ((rc = lf_store_runs_list(st, &f, &runs, &n, err)) < 0)
        return rc;
    rc = lf_error_set(err, LF_ENOTFOUND, "%s holds no device profile to report on: run "
                      "`localfit run` or `localfit bench` first", lf_store_path(st));
    for (int i = 0; i < n; i++)
        if (runs[i].device_id[0] && find_device(st, runs[i].device_id, slot, NULL) == 0) {
            snprintf(b->note, sizeof b->note,
                     "this machine is not in the store; the newest run's device %s", out->slug);
            err->code = 0;
            err->msg[0] = '\0';
            rc = 0;
            break;
        }
    free(runs);
    return rc;
}

int lf_report_from_store(lf_store *st, const lf_report_store_opts *o, lf_report_bundle **out,
                         lf_error *err) {
    *out = NULL;
    lf_error local = {0};
    if (!err)
        err = &local;
    if (!st || !o)
        return lf_error_set(err, LF_EINVAL, "report: missing store or options");
    if (o->n_compare < 0 || o->n_compare > MAX_DEVICES - 1)
        return lf_error_set(err, LF_EINVAL, "report: at most %d devices to compare",
                            MAX_DEVICES - 1);
    lf_report_bundle *b = calloc(1, sizeof *b);
    if (!b || !(b->slots = calloc(MAX_DEVICES, sizeof *b->slots))) {
        free(b);
        return lf_error_set(err, LF_ENOMEM, "report: out of memory");
    }
    int rc;
    if (o->device) {
        if ((rc = find_device(st, o->device, &b->slots[0], err)) < 0)
            goto fail;
        snprintf(b->note, sizeof b->note, "device %s", b->slots[0].dev.slug);
    } else if ((rc = default_device(b, st, o, &b->slots[0], err)) < 0) {
        goto fail;
    }
    size_t nd = 1;
    for (int i = 0; i < o->n_compare; i++) {
        if ((rc = find_device(st, o->compare[i], &b->slots[nd], err)) < 0) {
            lf_error_wrap(err, "--compare");
            goto fail;
        }
        bool dup = false;
        for (size_t k = 0; k < nd && !dup; k++)
            dup = !strcmp(b->slots[k].id[0] ? b->slots[k].id : b->slots[k].dev.id,
                          b->slots[nd].id[0] ? b->slots[nd].id : b->slots[nd].dev.id);
        if (!dup)
            nd++;
    }
    for (size_t i = 0; i < nd; i++) {
        fill_device(b, i);
        if ((rc = load_device_results(b, st, o->catalog, &b->slots[i], i == 0, err)) < 0)
            goto fail;
    }
    if (o->catalog) {
        for (int i = 0; i < lf_catalog_n_quants(o->catalog); i++) {
            const lf_catalog_quant *q = lf_catalog_quant_at(o->catalog, i);
            if (isfinite(q->kld) && q->kld > 0)
                add_quality(b, "Llama-3-8B", q->name, q->bpw, q->kld, NAN,
                            isfinite(q->same_top) ? q->same_top / 100.0 : NAN,
                            LF_REPORT_PUBLISHED);
        }
        if (o->recommend)
            build_recs(b, st, o->catalog, &b->slots[0].dev, o->constraints);
    }
    if (b->oom) {
        rc = lf_error_set(err, LF_ENOMEM, "report: out of memory");
        goto fail;
    }
    b->in.title = o->title ? keep(b, o->title)
                           : keepf(b, "localfit capability report: %s", b->slots[0].dev.slug);
    b->in.devices = b->devices;
    b->in.n_devices = nd;
    b->in.results = b->results;
    b->in.quality = b->quality;
    b->in.history = b->history;
    if (b->oom) {
        rc = lf_error_set(err, LF_ENOMEM, "report: out of memory");
        goto fail;
    }
    *out = b;
    return 0;
fail:
    lf_report_bundle_free(b);
    return rc;
}

lf_report_input *lf_report_bundle_input(lf_report_bundle *b) { return &b->in; }

const char *lf_report_bundle_note(const lf_report_bundle *b) { return b->note; }

void lf_report_bundle_free(lf_report_bundle *b) {
    if (!b)
        return;
    for (size_t i = 0; i < b->n_strs; i++)
        free(b->strs[i]);
    free(b->strs);
    free(b->slots);
    free(b->results);
    free(b->quality);
    free(b->recs);
    free(b->history);
    free(b);
}
