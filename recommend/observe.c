/*
 * Glue between the recommender's core (plain arrays in, predictions out)
 * and what localfit measured: the probed device profile becomes a target,
 * and the device's stored pp/tg results become observations with exact
 * byte and parameter counts. A result is only worth learning from when it
 * describes the same machine doing the same kind of work the predictions are
 * about — CPU backend, the kernel ISA the device would use, no adapters —
 * so everything else is skipped rather than allowed to skew the
 * efficiencies. Observations carry the bandwidth the device reaches at the
 * result's thread count (the probe's scaling curve): a one-thread run is
 * compared with the one-thread roof.
 */
#include "recommend/recommend.h"

#include "probes/probes.h"
#include "store/store.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int lf_rec_target_from_device(lf_rec_target *t, const lf_device *d, lf_error *err) {
    memset(t, 0, sizeof *t);
    if (!d->bandwidth.measured || !(d->bandwidth.read_gbs > 0))
        return lf_error_set(err, LF_EINVAL, "device %s: no measured bandwidth in its profile",
                            d->slug);
    uint64_t mem = d->limits.usable_memory ? d->limits.usable_memory : d->limits.mem_total;
    if (mem == 0)
        return lf_error_set(err, LF_EINVAL, "device %s: usable memory unknown", d->slug);
    lf_strlcpy(t->name, d->slug, sizeof t->name);
    snprintf(t->source, sizeof t->source, "probe: %d threads, %s kernel",
             d->bandwidth.threads, d->bandwidth.kernel[0] ? d->bandwidth.kernel : "?");
    t->kind = LF_REC_CPU;
    t->usable_memory = mem;
    t->bandwidth_gbs = d->bandwidth.read_gbs;
    t->threads = d->limits.usable_threads > 0 ? d->limits.usable_threads : d->bandwidth.threads;
    if (d->compute.measured) {
        t->int8_tops = d->compute.int8_gops_all / 1000.0;
        t->fp32_tflops = d->compute.fp32_gflops_all / 1000.0;
    }
    return 0;
}

double lf_rec_device_bandwidth(const lf_device *d, int threads) {
    const lf_bandwidth *b = &d->bandwidth;
    if (!b->measured)
        return 0;
    if (threads >= 1 && threads <= b->n_curve && b->curve_read_gbs[threads - 1] > 0)
        return b->curve_read_gbs[threads - 1];
    return b->read_gbs > 0 ? b->read_gbs : 0;
}

/* Compute peak (1e12 ops/s) of d with `threads` threads: all cores' figure,
 * scaled down from the per-core one when fewer threads ran. */
static double device_peak(const lf_device *d, int threads, bool fp) {
    const lf_compute *c = &d->compute;
    if (!c->measured)
        return 0;
    double all = fp ? c->fp32_gflops_all : c->int8_gops_all;
    double core = fp ? c->fp32_gflops_core : c->int8_gops_core;
    double v = all;
    if (threads > 0 && core > 0 && (c->threads <= 0 || threads < c->threads))
        v = core * threads < all || all <= 0 ? core * threads : all;
    return v > 0 ? v / 1000.0 : 0;
}

/* Weights below this many bytes are cache-resident: twice the last-level
 * cache of the whole machine (32 MiB when unknown). */
static double cache_floor(const lf_device *d) {
    const lf_cache_info *c = d->topology.l3.size_bytes ? &d->topology.l3 : &d->topology.l2;
    double llc = (double)c->size_bytes * (c->instances > 0 ? c->instances : 1);
    return llc > 0 ? 2.0 * llc : 32.0 * 1048576.0;
}

/* The catalog model a result names: exact (case-insensitive) catalog name
 * or display name in model_path or model; no prefix guesses, which could
 * tie a user's file to the wrong shape. */
static const lf_catalog_model *catalog_model(const lf_catalog *cat, const lf_result *r) {
    if (!cat)
        return NULL;
    /* A GGUF path is the user's own file: its bytes are its own. */
    size_t lp = strlen(r->model_path);
    if (lp > 5 && strcasecmp(r->model_path + lp - 5, ".gguf") == 0)
        return NULL;
    int n = lf_catalog_n_models(cat);
    for (int i = 0; i < n; i++) {
        const lf_catalog_model *m = lf_catalog_model_at(cat, i);
        if (!strcasecmp(m->name, r->model_path) || !strcasecmp(m->name, r->model) ||
            !strcasecmp(m->display, r->model))
            return m;
    }
    return NULL;
}

int lf_rec_observation_from_result(const lf_catalog *cat, const lf_device *d,
                                   const lf_result *r, const char *isa,
                                   lf_rec_observation *out) {
    memset(out, 0, sizeof *out);
    if (r->kind != LF_TEST_PP && r->kind != LF_TEST_TG)
        return 0;
    if (r->unit != LF_UNIT_TPS || !(r->median > 0) || !isfinite(r->median))
        return 0;
    if (r->n_adapters > 0 || r->adapter[0] || r->adapter_mode != LF_ADAPTER_NONE)
        return 0;
    if (r->backend[0] && strcasecmp(r->backend, "cpu") != 0)
        return 0;
    if (isa && *isa && r->isa[0] && strcasecmp(r->isa, isa) != 0)
        return 0;
    lf_mix mix;
    if (lf_mix_parse(r->quant, &mix) < 0)
        return 0;
    lf_type kv = LF_TYPE_F16;
    if (r->kv_type[0] && lf_type_parse(r->kv_type, &kv) < 0)
        return 0;
    /* The prefill model has no attention term: a prompt processed on top of
     * a filled cache is a different workload than the one it predicts. */
    if (r->kind == LF_TEST_PP && r->n_depth > 0)
        return 0;
    int64_t depth = r->n_depth > 0 ? r->n_depth : 0;
    if (r->kind == LF_TEST_TG && r->n_gen > 0)
        depth += r->n_gen / 2;   /* the mean position the generated tokens read */

    const lf_catalog_model *m = catalog_model(cat, r);
    double resident = 0;   /* bytes the model streams from over many tokens */
    if (m) {
        lf_rec_memory mem;
        if (lf_rec_weight_bytes(m, mix, &mem, NULL) < 0)
            return 0;
        lf_strlcpy(out->model, m->name, sizeof out->model);
        out->moe = lf_catalog_model_is_moe(m);
        /* a MoE token reads k experts, but successive tokens pick others:
         * the whole model is the working set */
        resident = out->moe ? (double)mem.weights : (double)mem.weights_read;
        out->weight_bytes = mem.weights_read;
        out->params = mem.matmul_params;
        out->kv_bytes = r->kind == LF_TEST_TG ? lf_rec_kv_bytes(m, depth, kv) : 0;
    } else {
        double wb = r->weight_bytes, params = r->n_params, kvb = r->kv_bytes;
        if (r->kind == LF_TEST_TG && !(wb > 0) && r->bytes_per_token > 0) {
            wb = r->bytes_per_token;   /* weights and KV together */
            kvb = 0;
        }
        if (r->kind == LF_TEST_TG ? !(wb > 0) : !(params > 0))
            return 0;
        lf_strlcpy(out->model, r->model[0] ? r->model : r->model_path, sizeof out->model);
        out->weight_bytes = wb > 0 ? (uint64_t)wb : 0;
        out->params = params > 0 ? params : 0;
        out->kv_bytes = r->kind == LF_TEST_TG && kvb > 0 ? (uint64_t)kvb : 0;
        /* Sparse by the experts bench recorded from the loaded model (a
         * custom shape, a file outside the catalog): its bytes above are
         * already a token's k of n experts, and its working set is every
         * expert. Rows from before schema v5 do not say, and count as
         * dense, as they always did. */
        out->moe = r->n_expert > 0 && r->n_expert_used > 0;
        resident = out->moe && r->model_bytes > (double)out->weight_bytes ? r->model_bytes
                                                                          : (double)out->weight_bytes;
    }
    lf_strlcpy(out->mix, lf_mix_name(mix), sizeof out->mix);
    out->test = r->kind == LF_TEST_PP ? LF_REC_PP : LF_REC_TG;
    out->tokens_per_s = r->median;
    out->threads = r->threads;
    if (d) {
        out->bandwidth_gbs = lf_rec_device_bandwidth(d, r->threads);
        out->compute_tops = device_peak(d, r->threads, lf_rec_class_of(out->mix) == LF_REC_CLASS_FLOAT);
    }
    if (out->test == LF_REC_TG && !(out->bandwidth_gbs > 0))
        return 0;   /* nothing to relate the speed to */
    /* A model that fits in the last-level cache decodes from the cache, not
     * from memory: its "efficiency" against the DRAM roof says nothing
     * about the models the recommender sizes, and its prefill is all
     * per-token overhead. */
    if (d && resident < cache_floor(d))
        return 0;
    return 1;
}

static bool same_run_config(const lf_result *a, const lf_result *b) {
    return a->kind == b->kind && a->threads == b->threads && a->n_prompt == b->n_prompt &&
           a->n_gen == b->n_gen && a->n_depth == b->n_depth &&
           !strcasecmp(a->kv_type, b->kv_type) && !strcmp(a->model, b->model) &&
           !strcmp(a->model_path, b->model_path) && !strcasecmp(a->quant, b->quant);
}

static const lf_run *run_of(const lf_run *runs, int n, int64_t id) {
    for (int i = 0; i < n; i++)
        if (runs[i].id == id)
            return &runs[i];
    return NULL;
}

/* The same code measured: commit and tool version agree (unknown = "" both). */
static bool same_build(const lf_run *a, const lf_run *b) {
    if (!a || !b)
        return a == b;
    return !strcmp(a->git_commit, b->git_commit) && !strcmp(a->tool_version, b->tool_version);
}

int lf_rec_observations_load(lf_store *st, const lf_catalog *cat, const lf_device *d,
                             lf_rec_observation **out, int *n, lf_result **src, lf_error *err) {
    *out = NULL;
    *n = 0;
    if (src)
        *src = NULL;
    lf_result *res = NULL;
    lf_run *runs = NULL;
    int nr = 0, nruns = 0;
    int rc = lf_store_device_results(st, d->id, -1, &res, &nr, err);
    if (rc < 0)
        return rc;
    if (nr == 0)
        return 0;
    lf_rec_observation *o = malloc(sizeof *o * (size_t)nr);
    int *first = malloc(sizeof *first * (size_t)nr);   /* representative result per obs */
    bool *used = calloc((size_t)nr, sizeof *used);
    if (!o || !first || !used) {
        rc = lf_error_set(err, LF_ENOMEM, "recommend: out of memory for %d results", nr);
        goto fail;
    }
    /* The best ISA the results were measured with. */
    int best = -1;
    for (int i = 0; i < nr; i++) {
        lf_isa_level l;
        if (res[i].isa[0] && lf_isa_level_parse(res[i].isa, &l) == 0 && (int)l > best)
            best = (int)l;
    }
    const char *isa = best >= 0 ? lf_isa_level_name((lf_isa_level)best) : NULL;
    /* The build behind each result: its run's commit and tool version. */
    lf_run_filter f = LF_RUN_FILTER_INIT;
    f.device_id = d->id;
    if ((rc = lf_store_runs_list(st, &f, &runs, &nruns, err)) < 0)
        goto fail;
    /* Results come newest run first: the first of a group is the newest.
     * Its repeats from the same build merge into their fastest: other
     * processes only ever slow a measurement down, so the fastest repeat is
     * the least disturbed estimate of what the device does (the minimum-time
     * estimator of robust benchmarking). Results of older builds of the
     * same configuration are set aside: they describe other code. */
    int k = 0;
    for (int i = 0; i < nr; i++) {
        if (used[i] || lf_rec_observation_from_result(cat, d, &res[i], isa, &o[k]) != 1)
            continue;
        const lf_run *bi = run_of(runs, nruns, res[i].run_id);
        double best_tps = 0;
        for (int j = i; j < nr; j++) {
            lf_rec_observation tmp;
            if (used[j] || !same_run_config(&res[i], &res[j]) ||
                lf_rec_observation_from_result(cat, d, &res[j], isa, &tmp) != 1)
                continue;
            used[j] = true;
            if (!same_build(bi, run_of(runs, nruns, res[j].run_id)))
                continue;
            if (tmp.tokens_per_s > best_tps)
                best_tps = tmp.tokens_per_s;
        }
        o[k].tokens_per_s = best_tps;
        first[k++] = i;
    }
    if (src && k > 0) {
        lf_result *s = malloc(sizeof *s * (size_t)k);
        if (!s) {
            rc = lf_error_set(err, LF_ENOMEM, "recommend: out of memory");
            goto fail;
        }
        for (int i = 0; i < k; i++)
            s[i] = res[first[i]];
        *src = s;
    }
    free(res);
    free(runs);
    free(first);
    free(used);
    if (k == 0) {
        free(o);
        o = NULL;
    }
    *out = o;
    *n = k;
    return 0;
fail:
    free(res);
    free(runs);
    free(o);
    free(first);
    free(used);
    return rc;
}

int lf_rec_device_find(lf_store *st, const char *query, lf_device *out, lf_error *err) {
    if (!query || !*query)
        return lf_error_set(err, LF_EINVAL, "no device given");
    char id[80] = "";
    char *json = NULL;
    if (lf_store_device_get(st, query, NULL, 0, &json, NULL) == 0) {
        lf_strlcpy(id, query, sizeof id);
    } else {
        /* Devices are reachable through their runs: match an id prefix or
         * the slug, as `runs list` shows them. */
        lf_run *runs = NULL;
        int nr = 0;
        int rc = lf_store_runs_list(st, NULL, &runs, &nr, err);
        if (rc < 0)
            return rc;
        size_t ql = strlen(query);
        int found = 0;
        char seen[1024] = "";
        for (int i = 0; i < nr; i++) {
            const lf_run *r = &runs[i];
            if (!r->device_id[0] || (id[0] && !strcmp(id, r->device_id)))
                continue;
            if (!strstr(seen, r->device_id) && strlen(seen) + strlen(r->device_slug) + 40 < sizeof seen) {
                size_t l = strlen(seen);
                snprintf(seen + l, sizeof seen - l, "%s%s (%s)", l ? ", " : "", r->device_id,
                         r->device_slug[0] ? r->device_slug : "-");
            }
            if (strncasecmp(r->device_id, query, ql) == 0 || !strcasecmp(r->device_slug, query)) {
                if (found && strcmp(id, r->device_id) != 0) {
                    free(runs);
                    return lf_error_set(err, LF_EINVAL, "device '%s' is ambiguous (%s, %s, ...)",
                                        query, id, r->device_id);
                }
                lf_strlcpy(id, r->device_id, sizeof id);
                found = 1;
            }
        }
        free(runs);
        if (!found)
            return lf_error_set(err, LF_ENOTFOUND, "no stored device matches '%s' (devices with runs: %s)", query,
                                seen[0] ? seen : "none");
        if ((rc = lf_store_device_get(st, id, NULL, 0, &json, err)) < 0)
            return rc;
    }
    int rc = lf_device_from_json(out, json, err);
    free(json);
    if (rc < 0)
        return lf_error_wrap(err, "device %s", id);
    return 0;
}
