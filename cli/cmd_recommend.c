/*
 * `localfit recommend` — the best-fitting catalog model and quantization for
 * a device under the user's constraints, the Pareto front, and why every
 * other candidate lost; `--validate` reports the leave-one-out error of the
 * performance model on the device's stored measurements.
 *
 * The device is this machine by default: a quick probe for identity and
 * limits, with the bandwidth and compute peaks of its stored profile (or
 * measured now, once, and stored). --device names a stored profile, --gpu a
 * row of gpus.csv, --memory/--bandwidth describe one by hand. Observations
 * come from the results store (this device's pp/tg results of catalog
 * models) and, optionally, a localfit.observations/1 file.
 */
#include "catalog/catalog.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "probes/probes.h"
#include "recommend/recommend.h"
#include "store/store.h"

#include <float.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Decode speed a chat reader keeps up with: without it the "best" model is
 * often one that crawls (a 14B at half a token per second). --min-tps 0
 * lifts it. */
#define DEFAULT_MIN_TPS 5.0

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit recommend [options]\n"
            "       localfit recommend --validate [--device ID] [--db PATH] [--json]\n\n"
            "Which catalog model at which quantization fits this device best.\n\n"
            "Device (default: this machine, probed; bandwidth and compute from its stored\n"
            "profile, or measured now and stored):\n"
            "  --device ID             a stored device profile (id, id prefix or slug)\n"
            "  --gpu NAME              a GPU/SoC from datasets/gpus.csv (\"4090\", \"m3 max\")\n"
            "  --memory SIZE           usable memory (\"16G\"); alone it overrides the probe's,\n"
            "                          with --bandwidth it describes a device by hand\n"
            "  --bandwidth GBS         read bandwidth, GB/s\n"
            "  --compute-tops N        compute peak for prefill, TOPS (int8 on CPUs)\n"
            "  --kind cpu|gpu|unified  what --memory/--bandwidth describe (default cpu)\n"
            "  --db PATH               results database (default $LOCALFIT_DB, else\n"
            "                          $XDG_DATA_HOME/localfit/results.db)\n\n"
            "Constraints:\n"
            "  --min-tps N             decode tokens/s at the full context (default 5; 0 = none)\n"
            "  --context N             context tokens the application needs (default 4096)\n"
            "  --max-ttft S            time to first token, seconds (prompt: --prompt N, default 512)\n"
            "  --memory-fraction F     share of usable memory to plan with (default 0.9)\n"
            "  --quality-floor X       minimum score after quant loss; kld:X = maximum KLD\n"
            "  --license L,...         allowed licenses (apache-2.0,mit,llama3.2,gemma,...)\n"
            "  --task T                chat, code, reasoning, multilingual\n"
            "  --kv f16|q8_0           KV cache type (default f16)\n"
            "  --models P,...          only models whose names start with these\n"
            "  --quants Q,...          only these quantizations\n\n"
            "Output:\n"
            "  --top N                 ranked candidates to list (default 10)\n"
            "  --all                   every rejected candidate with its reasons (default: a\n"
            "                          count per reason and the nearest misses)\n"
            "  --json                  JSON (schema localfit.recommendation/1)\n"
            "  --observations FILE     more measurements to calibrate with (localfit.observations/1)\n"
            "  --no-store              do not read or write the results database\n"
            "  --validate              leave-one-out error of the performance model on the\n"
            "                          device's stored pp/tg results\n\n"
            "Calibration learns, per quant class, the share of the bandwidth roof (decode)\n"
            "and of the compute peak (prefill) this device reaches, from its stored pp/tg\n"
            "results of catalog models (`localfit bench`, `localfit run`). quality =\n"
            "published score x exp(-KLD of the quant); every speed is labelled measured,\n"
            "calibrated or estimated, with its interval.\n\n"
            "Exit status: 0 with a winner, 1 when nothing fits (the nearest miss is\n"
            "shown), 2 for a usage error.\n");
}

/* ---- observations file ---------------------------------------------------- */

static int load_observations(const char *path, lf_rec_observation **out, int *n,
                             lf_error *err) {
    *out = NULL;
    *n = 0;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return lf_error_set(err, LF_EFORMAT, "%s:%d: %s", path, je.line, je.text);
    int rc = 0;
    json_t *arr = json_object_get(root, "observations");
    json_t *schema = json_object_get(root, "schema");
    if (!schema || !json_is_string(schema) ||
        strcmp(json_string_value(schema), "localfit.observations/1") != 0 || !json_is_array(arr)) {
        rc = lf_error_set(err, LF_EFORMAT,
                          "%s: expected {\"schema\": \"localfit.observations/1\", \"observations\": [...]}",
                          path);
        goto done;
    }
    size_t cnt = json_array_size(arr);
    lf_rec_observation *o = calloc(cnt ? cnt : 1, sizeof *o);
    if (!o) {
        rc = lf_error_set(err, LF_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < cnt; i++) {
        json_t *e = json_array_get(arr, i);
        const char *model = json_string_value(json_object_get(e, "model"));
        const char *mix = json_string_value(json_object_get(e, "mix"));
        const char *test = json_string_value(json_object_get(e, "test"));
        json_t *tps = json_object_get(e, "tokens_per_s");
        if (!model || !mix || !test || !json_is_number(tps) ||
            (strcmp(test, "pp") != 0 && strcmp(test, "tg") != 0)) {
            free(o);
            rc = lf_error_set(err, LF_EFORMAT,
                              "%s: observation %zu needs model, mix, test (pp|tg), tokens_per_s",
                              path, i);
            goto done;
        }
        lf_strlcpy(o[i].model, model, sizeof o[i].model);
        lf_strlcpy(o[i].mix, mix, sizeof o[i].mix);
        o[i].test = strcmp(test, "pp") == 0 ? LF_REC_PP : LF_REC_TG;
        o[i].tokens_per_s = json_number_value(tps);
        o[i].weight_bytes = (uint64_t)json_number_value(json_object_get(e, "weight_bytes"));
        o[i].kv_bytes = (uint64_t)json_number_value(json_object_get(e, "kv_bytes"));
        o[i].params = json_number_value(json_object_get(e, "params"));
        o[i].threads = (int)json_integer_value(json_object_get(e, "threads"));
        o[i].bandwidth_gbs = json_number_value(json_object_get(e, "bandwidth_gbs"));
        o[i].compute_tops = json_number_value(json_object_get(e, "compute_tops"));
        o[i].moe = json_is_true(json_object_get(e, "moe"));
    }
    *out = o;
    *n = (int)cnt;
done:
    json_decref(root);
    return rc;
}

/* ---- output ------------------------------------------------------------- */

static const char *gib(char *buf, size_t n, uint64_t b) {
    return lf_format_bytes(buf, n, (double)b);
}

static json_t *pred_json(const lf_rec_prediction *p) {
    return json_pack("{s:f,s:f,s:f,s:f,s:s,s:i}", "value", p->value, "lo", p->lo, "hi", p->hi,
                     "efficiency", p->efficiency, "source", lf_rec_source_name(p->source),
                     "n_points", p->n_points);
}

/* Whether c's decode interval straddles the --min-tps floor: the
 * prediction meets it or misses it by less than its own uncertainty. */
static bool straddles(const lf_rec_candidate *c, double min_tps) {
    return min_tps > 0 && c->tg.lo < min_tps && c->tg.hi >= min_tps;
}

static json_t *cand_json(const lf_rec_candidate *c, double min_tps) {
    json_t *o = json_pack(
        "{s:s,s:s,s:f,s:f,s:f,s:b,s:b,s:i,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:o,s:o}",
        "model", c->model->name, "quant", c->quant->name, "quality", c->quality,
        "score", c->model->quality_score, "kld", c->quant->kld, "fits", c->fits,
        "pareto", c->pareto, "rank", c->rank, "memory", "weights", (json_int_t)c->mem.weights,
        "kv_cache", (json_int_t)c->mem.kv_cache, "adapters", (json_int_t)c->mem.adapters,
        "compute", (json_int_t)c->mem.compute, "overhead", (json_int_t)c->mem.overhead,
        "total", (json_int_t)c->mem.total, "budget", (json_int_t)c->budget, "tg",
        pred_json(&c->tg), "tg_depth0", pred_json(&c->tg0));
    json_object_set_new(o, "pp", c->pp_known ? pred_json(&c->pp) : json_null());
    json_object_set_new(o, "ttft_s", isnan(c->ttft_s) ? json_null() : json_real(c->ttft_s));
    json_object_set_new(o, "quality_verified", json_boolean(c->model->quality_verified));
    if (lf_catalog_model_is_moe(c->model)) {
        double tot, act;
        lf_catalog_param_counts(c->model, &tot, &act, NULL);
        json_object_set_new(o, "moe",
                            json_pack("{s:i,s:i,s:f,s:f,s:I}", "n_expert", c->model->n_expert,
                                      "n_expert_used", c->model->n_expert_used,
                                      "total_params", tot, "active_params", act,
                                      "weights_read", (json_int_t)c->mem.weights_read));
    }
    if (!c->fits)
        json_object_set_new(o, "reason", json_string(c->reason));
    json_object_set_new(o, "straddles_min_tps", json_boolean(straddles(c, min_tps)));
    return o;
}

static int print_json(const lf_rec_target *t, const lf_rec_constraints *k,
                      const lf_rec_result *r, int n_obs, const char *note,
                      const char *why_no_obs) {
    json_t *root = json_pack(
        "{s:s,s:{s:s,s:s,s:s,s:I,s:f,s:f,s:f},s:{s:I,s:f,s:f,s:f,s:s},s:i}",
        "schema", "localfit.recommendation/1", "target", "name", t->name, "source", t->source,
        "kind", lf_rec_kind_name(t->kind), "usable_memory", (json_int_t)t->usable_memory,
        "bandwidth_gbs", t->bandwidth_gbs, "int8_tops", t->int8_tops, "fp32_tflops",
        t->fp32_tflops, "constraints", "context", (json_int_t)k->context, "min_tps", k->min_tps,
        "max_ttft_s", k->max_ttft_s, "memory_fraction", k->memory_fraction, "kv_type",
        lf_type_name(k->kv_type), "observations", n_obs);
    json_object_set_new(json_object_get(root, "target"), "measurements", json_string(note));
    json_object_set_new(root, "winner",
                        r->winner >= 0 ? cand_json(&r->cand[r->winner], k->min_tps) : json_null());
    json_object_set_new(root, "nearest_miss",
                        r->nearest >= 0 && r->winner < 0 ? cand_json(&r->cand[r->nearest], k->min_tps)
                                                         : json_null());
    if (n_obs == 0)
        json_object_set_new(root, "calibration_note", json_string(why_no_obs));
    json_t *pareto = json_array(), *ranked = json_array(), *rejected = json_array();
    for (int i = 0; i < r->n; i++) {
        const lf_rec_candidate *c = &r->cand[i];
        json_array_append_new(c->fits ? ranked : rejected, cand_json(c, k->min_tps));
        if (c->pareto)
            json_array_append_new(pareto, json_pack("{s:s,s:s}", "model", c->model->name,
                                                    "quant", c->quant->name));
    }
    json_object_set_new(root, "pareto", pareto);
    json_object_set_new(root, "ranked", ranked);
    json_object_set_new(root, "rejected", rejected);
    char *s = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (!s)
        return LF_EXIT_FAIL;
    puts(s);
    free(s);
    return r->winner < 0 ? LF_EXIT_FAIL : LF_EXIT_OK;
}

/* One line per calibrated class: "tg: k-quant 0.62 (n=8, slope), q8 0.71 (n=3)". */
static void print_calibration(const lf_rec_calibration *cal) {
    for (int t = 0; t < 2; t++) {
        const lf_rec_fit *f = t ? cal->pp : cal->tg;
        bool any = false;
        for (int c = 0; c < LF_REC_N_CLASS; c++) {
            if (f[c].n == 0)
                continue;
            printf("%s%s %.3g (n=%d%s, spread %.0f%%)", any ? ", " : t ? "  prefill efficiency: " : "  decode efficiency: ",
                   lf_rec_class_name((lf_rec_class)c), f[c].median, f[c].n,
                   f[c].has_slope ? ", size slope" : "", f[c].spread * 100);
            any = true;
        }
        if (any)
            printf(t && cal->pp_absolute ? " (achieved TOPS)\n" : "\n");
    }
    for (int t = 1; t >= 0 && cal->n_obs > 0; t--) {
        const struct lf_rec_moe_fit *mf = &cal->moe[t];
        int n_moe = 0;
        for (int i = 0; i < cal->n_obs; i++)
            n_moe += cal->obs[i].moe && cal->obs[i].test == (lf_rec_test)t;
        if (mf->n > 0)
            printf("  mixture-of-experts %s: %.2f x the dense efficiency (n=%d)\n",
                   t ? "decode" : "prefill", mf->factor, mf->n);
        else if (n_moe > 0)
            printf("  mixture-of-experts %s: from %d MoE observation%s alone (no dense ones "
                   "to compare)\n", t ? "decode" : "prefill", n_moe, n_moe == 1 ? "" : "s");
        else if (t)
            printf("  mixture-of-experts decode: not measured here; %.2f x dense assumed "
                   "(estimated)\n", lf_rec_default_moe_factor(LF_REC_TG));
    }
    if (cal->n_obs > 0)
        printf("  (class summaries over all thread counts; predictions use the same mix and "
               "thread count first)\n");
    if (cal->kv_pairs > 0)
        printf("  a KV-cache byte read costs %.2f weight bytes (from %d deep/shallow pair%s)\n",
               cal->kv_mult, cal->kv_pairs, cal->kv_pairs == 1 ? "" : "s");
}

static void print_cand_line(const lf_rec_candidate *c, double min_tps) {
    char mem[32];
    char ttft[24] = "    -";
    if (!isnan(c->ttft_s))
        snprintf(ttft, sizeof ttft, "%6.2f", c->ttft_s);
    char moe[48] = "";
    if (lf_catalog_model_is_moe(c->model))   /* sparse: total / active parameters */
        lf_rec_moe_label(c->model, moe, sizeof moe);
    printf("%3d  %-30s %-7s %5.1f%c %10s %8.1f [%6.1f-%6.1f]%s%-10s %s%s%s%s\n", c->rank,
           c->model->name, c->quant->name, c->quality,
           c->model->quality_verified ? ' ' : '?', gib(mem, sizeof mem, c->mem.total),
           c->tg.value, c->tg.lo, c->tg.hi, straddles(c, min_tps) ? "~ " : "  ",
           lf_rec_source_name(c->tg.source), ttft,
           c->pareto ? "  *" : "", moe[0] ? "  " : "", moe);
}

/* The rejected candidates: all of them with --all (or when few), else a
 * count per failed constraint with the closest candidate of each, and the
 * nearest misses overall (the library's miss measure). */
static void print_rejected(const lf_rec_result *r, bool all) {
    int n_rej = r->n - r->n_fit;
    printf("Rejected (%d):\n", n_rej);
    if (all || n_rej <= 12) {
        for (int i = r->n_fit; i < r->n; i++)
            printf("  %-30s %-7s %s\n", r->cand[i].model->name, r->cand[i].quant->name,
                   r->cand[i].reason);
        return;
    }
    printf("  by reason (a candidate can fail several):\n");
    for (int b = 0; b < LF_REC_N_FAIL; b++) {
        unsigned bit = 1u << b;
        int count = 0, best = -1;
        for (int i = r->n_fit; i < r->n; i++)
            if (r->cand[i].failed & bit) {
                count++;
                if (best < 0 || r->cand[i].miss < r->cand[best].miss)
                    best = i;
            }
        if (count)
            printf("  %-20s %4d   closest: %s %s\n", lf_rec_fail_name(bit), count,
                   r->cand[best].model->name, r->cand[best].quant->name);
    }
    /* the few nearest misses: a selection over the rejected, smallest miss
     * first (the list stays in catalog order for --all and --json) */
    enum { FEW = 5 };
    int shown[FEW], n_shown = 0;
    printf("  nearest misses:\n");
    while (n_shown < FEW) {
        int best = -1;
        for (int i = r->n_fit; i < r->n; i++) {
            bool taken = false;
            for (int j = 0; j < n_shown; j++)
                taken |= shown[j] == i;
            if (!taken && (best < 0 || r->cand[i].miss < r->cand[best].miss))
                best = i;
        }
        if (best < 0)
            break;
        shown[n_shown++] = best;
        printf("  %-30s %-7s %s\n", r->cand[best].model->name, r->cand[best].quant->name,
               r->cand[best].reason);
    }
    printf("  (--all lists every rejected candidate)\n");
}

static int print_text(const lf_rec_target *t, const lf_rec_constraints *k,
                      const lf_rec_result *r, int top, int n_obs,
                      const lf_rec_calibration *cal, bool all, const char *why_no_obs) {
    char a[32], b[32];
    printf("Target: %s (%s, %s): %s usable, %.1f GB/s", t->name, lf_rec_kind_name(t->kind),
           t->source, gib(a, sizeof a, t->usable_memory), t->bandwidth_gbs);
    if (t->int8_tops > 0)
        printf(", %.2f int8 TOPS", t->int8_tops);
    if (t->fp32_tflops > 0)
        printf(", %.2f float TFLOPS", t->fp32_tflops);
    printf("\nConstraints: context %lld, KV %s, budget %s (%.0f%%)", (long long)k->context,
           lf_type_name(k->kv_type),
           gib(b, sizeof b, (uint64_t)((double)t->usable_memory * k->memory_fraction)),
           k->memory_fraction * 100);
    if (k->min_tps > 0)
        printf(", tg >= %g tok/s", k->min_tps);
    if (k->max_ttft_s > 0)
        printf(", ttft <= %g s", k->max_ttft_s);
    if (k->max_kld > 0)
        printf(", KLD <= %g", k->max_kld);
    if (k->min_quality > 0)
        printf(", quality >= %g", k->min_quality);
    if (k->licenses)
        printf(", licenses %s", k->licenses);
    if (k->task)
        printf(", task %s", k->task);
    printf("\nCalibration: %d observation%s%s\n", n_obs, n_obs == 1 ? "" : "s",
           n_obs ? " of this device" : ", so every speed below is an estimate from typical "
                                       "efficiencies:");
    if (!n_obs)
        printf("  %s\n", why_no_obs);
    print_calibration(cal);
    printf("\n");

    if (r->winner < 0) {
        printf("Nothing fits. Every candidate was rejected (reasons below).\n");
        if (r->nearest >= 0)
            printf("Nearest miss: %s %s: %s\n", r->cand[r->nearest].model->name,
                   r->cand[r->nearest].quant->name, r->cand[r->nearest].reason);
        printf("\n");
    } else {
        const lf_rec_candidate *w = &r->cand[r->winner];
        printf("Winner: %s %s\n", w->model->display, w->quant->name);
        printf("  quality %.1f = %s %.1f x exp(-KLD %.4f)  [%s]\n", w->quality,
               w->model->quality_metric, w->model->quality_score, w->quant->kld,
               w->model->license);
        if (!w->model->quality_verified)
            printf("          ? score not verified against %s (no verified candidate fits)\n",
                   w->model->quality_source);
        printf("  memory  %s of %s: weights %s, KV %s, compute %s, overhead %s\n",
               gib(a, sizeof a, w->mem.total), gib(b, sizeof b, w->budget),
               gib((char[32]){0}, 32, w->mem.weights), gib((char[32]){0}, 32, w->mem.kv_cache),
               gib((char[32]){0}, 32, w->mem.compute), gib((char[32]){0}, 32, w->mem.overhead));
        if (lf_catalog_model_is_moe(w->model)) {
            char moe[48];
            lf_rec_moe_label(w->model, moe, sizeof moe);
            printf("  experts %d of %d per token (%s): all of it resident, %s read per token\n",
                   w->model->n_expert_used, w->model->n_expert, moe,
                   gib((char[32]){0}, 32, w->mem.weights_read));
        }
        printf("  decode  %.1f tok/s at %lld ctx [%.1f-%.1f, %s]; %.1f tok/s at depth 0\n",
               w->tg.value, (long long)k->context, w->tg.lo, w->tg.hi,
               lf_rec_source_name(w->tg.source), w->tg0.value);
        if (straddles(w, k->min_tps))
            printf("          ~ the interval reaches below --min-tps %g: it may not keep up\n",
                   k->min_tps);
        if (w->pp_known)
            printf("  prefill %.0f tok/s [%.0f-%.0f, %s]; ttft %.2f s\n", w->pp.value, w->pp.lo,
                   w->pp.hi, lf_rec_source_name(w->pp.source), w->ttft_s);
        else
            printf("  prefill unknown (no compute peak: give --compute-tops)\n");
        printf("\n");
    }
    if (r->n_fit > 0) {
        printf("Ranked (%d of %d fit; * = Pareto front on quality, speed, memory; ~ = the\n"
               "decode interval straddles --min-tps; ? = published score not verified\n"
               "against its source: ranked after every verified one):\n",
               r->n_fit, r->n);
        printf("  #  %-30s %-7s %6s %10s %8s %15s  %-10s %6s\n", "model", "quant", "qual",
               "memory", "tg tok/s", "interval", "source", "ttft");
        for (int i = 0; i < r->n_fit && i < top; i++)
            print_cand_line(&r->cand[i], k->min_tps);
        int more = 0;
        for (int i = top; i < r->n_fit; i++)
            if (r->cand[i].pareto)
                more++;
        if (more) {
            printf("  further Pareto-front members (%d):\n", more);
            int shown = 0;
            for (int i = top; i < r->n_fit && shown < top; i++)
                if (r->cand[i].pareto) {
                    print_cand_line(&r->cand[i], k->min_tps);
                    shown++;
                }
            if (more > shown)
                printf("  ... %d more on the front (--json lists all)\n", more - shown);
        }
        /* a sparse model decodes like its active size: name the best one
         * that fits even when a dense model wins or it ranks below the top */
        for (int i = 0; i < r->n_fit; i++)
            if (lf_catalog_model_is_moe(r->cand[i].model)) {
                if (i >= top || r->winner != 0 || i > 0) {
                    printf("  best mixture-of-experts candidate:\n");
                    print_cand_line(&r->cand[i], k->min_tps);
                }
                break;
            }
        printf("\n");
    }
    print_rejected(r, all);
    return r->winner < 0 ? LF_EXIT_FAIL : LF_EXIT_OK;
}

/* "tg32 t2", "pp128 t2 d512", "tg32 t1 kv=q8_0": the test as it ran. */
static void test_label(const lf_result *r, char *buf, size_t size) {
    int n = r->kind == LF_TEST_PP ? r->n_prompt : r->n_gen;
    int l = snprintf(buf, size, "%s%d t%d", lf_test_kind_name(r->kind), n > 0 ? n : 0, r->threads);
    if (r->n_depth > 0 && l > 0 && (size_t)l < size)
        l += snprintf(buf + l, size - (size_t)l, " d%d", r->n_depth);
    if (r->kv_type[0] && strcasecmp(r->kv_type, "f16") && l > 0 && (size_t)l < size)
        snprintf(buf + l, size - (size_t)l, " kv=%s", r->kv_type);
}

static int run_validate(const lf_rec_observation *obs, const lf_result *src, int n,
                        lf_rec_kind kind, const char *device, bool json) {
    lf_rec_validation v;
    lf_error err = {0};
    if (lf_rec_validate(obs, n, kind, &v, &err) < 0)
        return lf_cli_fail(&err);
    if (json) {
        json_t *rows = json_array();
        for (int i = 0; i < v.n; i++) {
            const lf_rec_validation_row *r = &v.rows[i];
            const lf_rec_observation *o = &obs[r->index];
            char label[64] = "";
            if (src)
                test_label(&src[r->index], label, sizeof label);
            json_array_append_new(
                rows, json_pack("{s:s,s:s,s:s,s:s,s:i,s:f,s:f,s:f,s:s}", "model", o->model,
                                "mix", o->mix, "test", lf_rec_test_name(r->test), "config",
                                label, "threads", o->threads, "actual", r->actual,
                                "predicted", r->predicted, "abs_pct_err", r->abs_pct_err,
                                "source", lf_rec_source_name(r->source)));
        }
        json_t *root = json_pack("{s:s,s:s,s:i,s:o,s:o,s:o,s:o}", "schema",
                                 "localfit.validation/1", "device", device, "observations", n,
                                 "rows", rows, "median_abs_pct_tg",
                                 isnan(v.median_abs_pct_tg) ? json_null() : json_real(v.median_abs_pct_tg),
                                 "median_abs_pct_pp",
                                 isnan(v.median_abs_pct_pp) ? json_null() : json_real(v.median_abs_pct_pp),
                                 "median_abs_pct",
                                 isnan(v.median_abs_pct) ? json_null() : json_real(v.median_abs_pct));
        char *s = json_dumps(root, JSON_INDENT(2));
        json_decref(root);
        if (s)
            puts(s);
        free(s);
    } else {
        printf("Leave-one-out validation on %s: %d configurations; each is predicted from\n"
               "the others (its own repeats held out with it).\n\n", device, n);
        printf("  %-30s %-7s %-14s %10s %10s %7s  %s\n", "model", "quant", "test", "measured",
               "predicted", "error%", "from");
        for (int i = 0; i < v.n; i++) {
            const lf_rec_validation_row *r = &v.rows[i];
            const lf_rec_observation *o = &obs[r->index];
            char label[64];
            if (src)
                test_label(&src[r->index], label, sizeof label);
            else
                snprintf(label, sizeof label, "%s t%d", lf_rec_test_name(r->test), o->threads);
            printf("  %-30s %-7s %-14s %10.2f %10.2f %+7.1f  %s\n", o->model, o->mix, label,
                   r->actual, r->predicted, (r->predicted - r->actual) / r->actual * 100.0,
                   lf_rec_source_name(r->source));
        }
        char tg[24] = "-", pp[24] = "-", all[24] = "-";
        if (!isnan(v.median_abs_pct_tg))
            snprintf(tg, sizeof tg, "%.1f%%", v.median_abs_pct_tg);
        if (!isnan(v.median_abs_pct_pp))
            snprintf(pp, sizeof pp, "%.1f%%", v.median_abs_pct_pp);
        if (!isnan(v.median_abs_pct))
            snprintf(all, sizeof all, "%.1f%%", v.median_abs_pct);
        printf("\nmedian absolute error: tg %s (%d rows), pp %s (%d rows), all %s\n", tg, v.n_tg,
               pp, v.n_pp, all);
        if (v.n == 0)
            printf("(nothing to validate: run `localfit bench --suite default` first)\n");
    }
    lf_rec_validation_free(&v);
    return LF_EXIT_OK;
}

/* ---- main ---------------------------------------------------------------- */

/* A non-negative finite number (the shared lf_arg_double) into *out: 0, or
 * the usage error's exit status naming flag. */
static int arg_nonneg(const char *cmd, const char *flag, const char *s, double *out) {
    if (lf_arg_double(s, 0, DBL_MAX, out) < 0)
        return lf_cli_usage_error(cmd, "%s: '%s' is not a non-negative number", flag, s);
    return 0;
}

/* Appends file observations to *obs (and zeroed labels to *src). */
static int append_obs(lf_rec_observation **obs, lf_result **src, int *n,
                      const lf_rec_observation *more, int n_more, lf_error *err) {
    if (n_more == 0)
        return 0;
    lf_rec_observation *o = realloc(*obs, sizeof *o * (size_t)(*n + n_more));
    if (!o)
        return lf_error_set(err, LF_ENOMEM, "out of memory");
    *obs = o;
    lf_result *s = realloc(*src, sizeof *s * (size_t)(*n + n_more));
    if (!s)
        return lf_error_set(err, LF_ENOMEM, "out of memory");
    *src = s;
    for (int i = 0; i < n_more; i++) {
        o[*n + i] = more[i];
        lf_result_init(&s[*n + i]);
        s[*n + i].kind = more[i].test == LF_REC_PP ? LF_TEST_PP : LF_TEST_TG;
        s[*n + i].threads = more[i].threads;
    }
    *n += n_more;
    return 0;
}

/* Option ids past the single-character ones. */
enum {
    O_MIN_TPS = 256, O_CONTEXT, O_MAX_TTFT, O_PROMPT, O_MEMFRAC, O_QFLOOR, O_LICENSE,
    O_TASK, O_KV, O_DEVICE, O_GPU, O_MEMORY, O_BANDWIDTH, O_COMPUTE, O_KIND, O_MODELS,
    O_QUANTS, O_TOP, O_JSON, O_OBS, O_VALIDATE, O_DB, O_NOSTORE, O_HELP, O_ALL
};

/* The parsers' result when the command should go on; load_inputs' when
 * it printed a usage error. */
enum { GO_ON = -1, USAGE_SAID = -1000 };   /* below every LF_E* code */

static const char *const cmd = "recommend";

/* What the flags ask for: the constraints, the device and the output. */
typedef struct rec_opts {
    lf_rec_constraints k;
    const char *gpu, *device, *obs_path, *db;
    uint64_t memory;           /* bytes; 0 = not given */
    double bandwidth, compute; /* GB/s, TOPS; 0 = not given */
    lf_rec_kind kind;
    bool kind_given;
    int top;
    bool json, validate, no_store;
    bool all;                  /* list every rejected candidate */
} rec_opts;

/* What a run holds, released by rec_state_free. */
typedef struct rec_state {
    lf_catalog *cat;
    lf_store *st;
    lf_device *dev;            /* a measured device only */
    lf_rec_observation *obs, *fobs;   /* (n_obs) all, (n_fobs) from the file */
    lf_result *src;            /* (n_obs) the test each observation came from */
    int n_obs, n_fobs;
    char note[256];            /* where the device's figures came from */
    lf_rec_target t;
} rec_state;

/* One numeric option into o; GO_ON, or the usage error's exit status. */
static int parse_number_opt(int opt, const char *arg, rec_opts *o) {
    double d = 0;
    switch (opt) {
    case O_MIN_TPS:
        return arg_nonneg(cmd, "--min-tps", arg, &o->k.min_tps) ? LF_EXIT_USAGE : GO_ON;
    case O_CONTEXT:
    case O_PROMPT:
    case O_TOP:
        if (arg_nonneg(cmd, opt == O_CONTEXT ? "--context" : opt == O_PROMPT ? "--prompt" : "--top",
                       arg, &d))
            return LF_EXIT_USAGE;
        if (d < 1 || d > (1 << 24))
            return lf_cli_usage_error(cmd, "'%s' out of range [1, 16777216]", arg);
        if (opt == O_CONTEXT)
            o->k.context = (int64_t)d;
        else if (opt == O_PROMPT)
            o->k.prompt = (int64_t)d;
        else
            o->top = (int)d;
        return GO_ON;
    case O_MAX_TTFT:
        return arg_nonneg(cmd, "--max-ttft", arg, &o->k.max_ttft_s) ? LF_EXIT_USAGE : GO_ON;
    case O_MEMFRAC:
        if (arg_nonneg(cmd, "--memory-fraction", arg, &o->k.memory_fraction))
            return LF_EXIT_USAGE;
        if (!(o->k.memory_fraction > 0 && o->k.memory_fraction <= 1))
            return lf_cli_usage_error(cmd, "--memory-fraction must be in (0, 1]");
        return GO_ON;
    case O_QFLOOR:
        if (strncasecmp(arg, "kld:", 4) == 0)
            return arg_nonneg(cmd, "--quality-floor kld:", arg + 4, &o->k.max_kld) ? LF_EXIT_USAGE
                                                                                  : GO_ON;
        arg = strncasecmp(arg, "score:", 6) == 0 ? arg + 6 : arg;
        return arg_nonneg(cmd, "--quality-floor", arg, &o->k.min_quality) ? LF_EXIT_USAGE : GO_ON;
    case O_MEMORY:
        if (lf_parse_bytes(arg, &o->memory) < 0 || o->memory == 0)
            return lf_cli_usage_error(cmd, "--memory: '%s' is not a size like 16G", arg);
        return GO_ON;
    case O_BANDWIDTH:
        return arg_nonneg(cmd, "--bandwidth", arg, &o->bandwidth) ? LF_EXIT_USAGE : GO_ON;
    case O_COMPUTE:
        return arg_nonneg(cmd, "--compute-tops", arg, &o->compute) ? LF_EXIT_USAGE : GO_ON;
    default:
        return lf_cli_usage_error(cmd, "unknown option");
    }
}

/* One option into o (numbers through parse_number_opt); GO_ON, or the exit
 * status (--help, usage errors). */
static int parse_opt(int opt, const char *arg, rec_opts *o) {
    switch (opt) {
    case O_LICENSE: o->k.licenses = arg; break;
    case O_TASK: o->k.task = arg; break;
    case O_KV:
        if (lf_kv_type_parse(arg, &o->k.kv_type) < 0)
            return lf_cli_usage_error(cmd, "--kv: '%s' is not f32, f16 or q8_0", arg);
        break;
    case O_DEVICE: o->device = arg; break;
    case O_GPU: o->gpu = arg; break;
    case O_KIND:
        o->kind_given = true;
        if (strcmp(arg, "cpu") == 0)
            o->kind = LF_REC_CPU;
        else if (strcmp(arg, "gpu") == 0)
            o->kind = LF_REC_GPU;
        else if (strcmp(arg, "unified") == 0)
            o->kind = LF_REC_UNIFIED;
        else
            return lf_cli_usage_error(cmd, "--kind: '%s' is not cpu, gpu or unified", arg);
        break;
    case O_MODELS: o->k.models = arg; break;
    case O_QUANTS: o->k.mixes = arg; break;
    case O_JSON: o->json = true; break;
    case O_OBS: o->obs_path = arg; break;
    case O_VALIDATE: o->validate = true; break;
    case O_DB: o->db = arg; break;
    case O_NOSTORE: o->no_store = true; break;
    case O_ALL: o->all = true; break;
    case O_HELP:
    case 'h':
        usage(stdout);
        return LF_EXIT_OK;
    default:
        return parse_number_opt(opt, arg, o);
    }
    return GO_ON;
}

/* The flags into o, checked against each other; GO_ON, or the exit status. */
static int parse_args(int argc, char **argv, rec_opts *o) {
    static const struct option opts[] = {
        {"min-tps", required_argument, 0, O_MIN_TPS},
        {"context", required_argument, 0, O_CONTEXT},
        {"max-ttft", required_argument, 0, O_MAX_TTFT},
        {"prompt", required_argument, 0, O_PROMPT},
        {"memory-fraction", required_argument, 0, O_MEMFRAC},
        {"quality-floor", required_argument, 0, O_QFLOOR},
        {"license", required_argument, 0, O_LICENSE},
        {"task", required_argument, 0, O_TASK},
        {"kv", required_argument, 0, O_KV},
        {"device", required_argument, 0, O_DEVICE},
        {"gpu", required_argument, 0, O_GPU},
        {"memory", required_argument, 0, O_MEMORY},
        {"bandwidth", required_argument, 0, O_BANDWIDTH},
        {"compute-tops", required_argument, 0, O_COMPUTE},
        {"kind", required_argument, 0, O_KIND},
        {"models", required_argument, 0, O_MODELS},
        {"quants", required_argument, 0, O_QUANTS},
        {"top", required_argument, 0, O_TOP},
        {"json", no_argument, 0, O_JSON},
        {"observations", required_argument, 0, O_OBS},
        {"validate", no_argument, 0, O_VALIDATE},
        {"db", required_argument, 0, O_DB},
        {"no-store", no_argument, 0, O_NOSTORE},
        {"all", no_argument, 0, O_ALL},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == '?')
            return lf_cli_bad_option(cmd, argv, opts);
        int rc = parse_opt(opt, optarg, o);
        if (rc != GO_ON)
            return rc;
    }
    if (optind < argc)
        return lf_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if ((o->gpu != NULL) + (o->device != NULL) + (o->bandwidth > 0) > 1)
        return lf_cli_usage_error(cmd, "give one device: --device, --gpu or --memory/--bandwidth");
    if (o->bandwidth > 0 && !o->memory)
        return lf_cli_usage_error(cmd, "--bandwidth needs --memory");
    if (o->kind_given && !(o->bandwidth > 0))
        return lf_cli_usage_error(cmd, "--kind describes --memory/--bandwidth");
    if (o->no_store && (o->device || o->db))
        return lf_cli_usage_error(cmd, "--no-store takes no --device or --db");
    if (o->validate && (o->gpu || o->bandwidth > 0))
        return lf_cli_usage_error(cmd, "--validate checks a measured device: no --gpu or --bandwidth");
    return GO_ON;
}

/* A measured device (this machine, probed, or a stored profile) into
 * s->dev, with its stored results as observations. 0, or <0 with err set. */
static int load_measured_device(const rec_opts *o, rec_state *s, lf_error *err) {
    if (!o->no_store) {
        int flags = o->device ? LF_STORE_NOCREATE | LF_STORE_RO_FALLBACK : LF_STORE_RO_FALLBACK;
        if (lf_store_open_path(&s->st, o->db, flags, err) < 0)
            return -1;
    }
    if (!(s->dev = malloc(sizeof *s->dev)))
        return lf_error_set(err, LF_ENOMEM, "out of memory");
    if (o->device) {
        if (lf_rec_device_find(s->st, o->device, s->dev, err) < 0)
            return -1;
        snprintf(s->note, sizeof s->note, "stored profile %s", s->dev->id);
    } else {
        if (!o->json)
            fprintf(stderr, "localfit recommend: probing this device...\n");
        if (lf_cli_device_stored(s->st, s->dev, s->note, sizeof s->note, err) < 0)
            return -1;
    }
    if (s->st && lf_rec_observations_load(s->st, s->cat, s->dev, &s->obs, &s->n_obs, &s->src, err) < 0)
        return -1;
    return 0;
}

/* Whether the comma list list holds word (case-insensitive, spaces
 * trimmed). */
static bool list_has(const char *list, const char *word, size_t len) {
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && p[m - 1] == ' ')
            m--;
        if (m == len && m > 0 && strncasecmp(p, word, len) == 0)
            return true;
        p += n;
    }
    return false;
}

/* Every entry of --task (tasks) or --license must be one some catalog model
 * has: a typo would otherwise reject every candidate. GO_ON, or the usage
 * error listing the values the catalog has. */
static int check_catalog_values(const lf_catalog *cat, const char *flag, const char *given,
                                bool tasks) {
    if (!given || !*given)
        return GO_ON;
    char known[1024] = "";
    for (int i = 0; i < lf_catalog_n_models(cat); i++) {
        const lf_catalog_model *m = lf_catalog_model_at(cat, i);
        const char *vals = tasks ? m->tasks : m->license;
        for (const char *p = vals; *p;) {
            while (*p == ' ' || *p == ',')
                p++;
            size_t n = strcspn(p, ",");
            size_t l = strlen(known);
            if (n > 0 && !list_has(known, p, n) && l + n + 3 < sizeof known)
                snprintf(known + l, sizeof known - l, "%s%.*s", l ? ", " : "", (int)n, p);
            p += n;
        }
    }
    for (const char *p = given; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && p[m - 1] == ' ')
            m--;
        if (m > 0 && !list_has(known, p, m)) {
            char safe[256], word[64];
            snprintf(word, sizeof word, "%.*s", (int)m, p);
            return lf_cli_usage_error(cmd, "%s: no catalog model has '%s'; valid: %s", flag,
                                      lf_text_clean(safe, sizeof safe, word, true), known);
        }
        p += n;
    }
    return GO_ON;
}

/* The observations file, the catalog and, for a measured device, the device
 * and its stored results; then the file's observations appended. 0, or <0
 * with err set. */
static int load_inputs(const rec_opts *o, rec_state *s, lf_error *err) {
    if (o->obs_path && load_observations(o->obs_path, &s->fobs, &s->n_fobs, err) < 0)
        return -1;
    if (lf_catalog_load(&s->cat, lf_cli_datadir(), err) < 0)
        return -1;
    if (check_catalog_values(s->cat, "--task", o->k.task, true) != GO_ON ||
        check_catalog_values(s->cat, "--license", o->k.licenses, false) != GO_ON)
        return USAGE_SAID;
    /* A measured device: this machine or a stored profile. Its stored
     * results calibrate the model. */
    bool measured_device = !o->gpu && !(o->bandwidth > 0);
    if (measured_device && load_measured_device(o, s, err) < 0)
        return -1;
    return append_obs(&s->obs, &s->src, &s->n_obs, s->fobs, s->n_fobs, err);
}

/* The target device into s->t: a gpus.csv row, the flags' description, or
 * the measured device, with --memory/--compute-tops overriding. GO_ON, or
 * the exit status (usage error, failure). */
static int resolve_target(const rec_opts *o, rec_state *s) {
    lf_rec_target *t = &s->t;
    if (o->gpu) {
        const lf_catalog_gpu *g = lf_catalog_find_gpu(s->cat, o->gpu);
        if (!g)
            return lf_cli_usage_error(cmd, "--gpu: no single GPU in gpus.csv matches '%s'", o->gpu);
        lf_rec_target_from_gpu(t, g);
        if (o->memory)
            t->usable_memory = o->memory;   /* the user knows their limit better */
        if (o->compute > 0)
            t->fp32_tflops = o->compute;
    } else if (o->bandwidth > 0) {
        lf_strlcpy(t->name, "given device", sizeof t->name);
        lf_strlcpy(t->source, "flags", sizeof t->source);
        t->kind = o->kind;
        t->usable_memory = o->memory;
        t->bandwidth_gbs = o->bandwidth;
        t->int8_tops = o->kind == LF_REC_CPU ? o->compute : 0;
        t->fp32_tflops = o->compute;
    } else {
        lf_error err = {0};
        if (lf_rec_target_from_device(t, s->dev, &err) < 0)
            return lf_cli_fail(&err);
        if (o->memory) {
            t->usable_memory = o->memory;   /* "what if I had only 8G free" */
            lf_strlcpy(t->source, "probe, memory from --memory", sizeof t->source);
        }
        if (o->compute > 0)
            t->int8_tops = t->fp32_tflops = o->compute;
    }
    return GO_ON;
}

/* Why there is nothing to calibrate with, and what to run, into why. */
static void why_no_observations(const rec_opts *o, const rec_state *s, char *why, size_t size) {
    if (!s->dev) {
        snprintf(why, size, "a device from gpus.csv or the flags has no measurements here");
        return;
    }
    if (!s->st) {
        snprintf(why, size, "%s: the stored measurements were not read",
                 o->no_store ? "--no-store" : "no results database");
        return;
    }
    lf_result *res = NULL;
    int n = 0;
    lf_error err = {0};
    if (lf_store_device_results(s->st, s->dev->id, -1, &res, &n, &err) < 0)
        n = -1;
    free(res);
    if (n <= 0)
        snprintf(why, size, "no stored results of this device; `localfit bench --suite quick` "
                            "measures the small catalog models in about a minute");
    else
        snprintf(why, size,
                 "none of this device's %d stored results calibrates: tiny models (weights "
                 "that fit in\n  the cache) are not used for calibration, nor are adapter "
                 "runs or other engines;\n  run `localfit bench --suite quick`", n);
}

/* Calibrates on the observations, ranks the candidates and prints them
 * (text or JSON). Returns the exit status. */
static int recommend_and_print(const rec_opts *o, rec_state *s) {
    lf_error err = {0};
    lf_rec_calibration cal;
    if (lf_rec_calibrate(&cal, s->obs, s->n_obs, s->t.kind, &err) < 0)
        return lf_cli_fail(&err);
    lf_rec_result r;
    if (lf_rec_recommend(s->cat, &s->t, &o->k, &cal, &r, &err) < 0)
        return lf_cli_fail(&err);
    char why[512] = "";
    if (s->n_obs == 0)
        why_no_observations(o, s, why, sizeof why);
    int rc;
    if (o->json) {
        rc = print_json(&s->t, &o->k, &r, s->n_obs, s->note, why);
    } else {
        if (s->note[0])
            printf("Measurements: %s\n", s->note);
        rc = print_text(&s->t, &o->k, &r, o->top, s->n_obs, &cal, o->all, why);
    }
    lf_rec_result_free(&r);
    return rc;
}

/* Releases everything s holds. */
static void rec_state_free(rec_state *s) {
    lf_catalog_free(s->cat);
    lf_store_close(s->st);
    free(s->dev);
    free(s->obs);
    free(s->fobs);
    free(s->src);
}

int cmd_recommend(int argc, char **argv) {
    rec_opts o = {.kind = LF_REC_CPU, .top = 10};
    lf_rec_constraints_init(&o.k);
    o.k.min_tps = DEFAULT_MIN_TPS;
    int rc = parse_args(argc, argv, &o);
    if (rc != GO_ON)
        return rc;

    lf_error err = {0};
    rec_state s;
    memset(&s, 0, sizeof s);
    int lrc = load_inputs(&o, &s, &err);
    if (lrc == USAGE_SAID) {
        rc = LF_EXIT_USAGE;
    } else if (lrc < 0) {
        rc = lf_cli_fail(&err);
    } else if (o.validate) {
        char name[160];
        snprintf(name, sizeof name, "%s (%s)", s.dev->slug, s.dev->id);
        rc = run_validate(s.obs, s.src, s.n_obs, LF_REC_CPU, name, o.json);
    } else {
        rc = resolve_target(&o, &s);
        if (rc == GO_ON)
            rc = recommend_and_print(&o, &s);
    }
    rec_state_free(&s);
    return rc;
}
