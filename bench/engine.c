/*
 * The runner's side of `bench --engine localfit,llama.cpp`: per group, the
 * file llama.cpp loads (the GGUF itself, or the synthesized weights
 * written once to the cache), one llama-bench repetition of a test right
 * after each of localfit's own (`-r 1` per turn: the two engines alternate
 * per configuration, so drift and neighbours hit both alike, at the cost of
 * one llama-bench start and warm-up per sample), and the llama.cpp result
 * of a test built when localfit's finishes, from every sample collected.
 */
#include "bench/bench.h"
#include "bench/runner_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lf_rb_engine {
    lf_engine_llama e;           /* the caller's, with the run's interrupt flag */
    char model_file[4096];
    int n_cells;
    double **samples;            /* [n_cells][reps_max] tokens/s */
    int *n;                      /* [n_cells] */
    lf_result *rec;              /* [n_cells] llama-bench's last record of the test */
    int reps_max;
};

int lf_rb_engine_begin(const lf_engine_llama *e, volatile sig_atomic_t *interrupted, const char *gguf, const lf_model_params *hp, int mix,
                       uint64_t seed, int n_cells, int reps_max, lf_rb_engine **out, char *note,
                       size_t note_size, lf_error *err) {
    *out = NULL;
    note[0] = '\0';
    lf_rb_engine *x = calloc(1, sizeof *x);
    if (!x)
        return lf_error_set(err, LF_ENOMEM, "llama.cpp: out of memory");
    x->e = *e;
    if (!x->e.interrupted)
        x->e.interrupted = interrupted;
    x->n_cells = n_cells;
    x->reps_max = reps_max;
    /* a missing binary is said at once, in the words of the check */
    int rc = lf_engine_llama_check(e, err);
    if (rc < 0) {
        free(x);
        return rc;
    }
    if (gguf) {
        lf_strlcpy(x->model_file, gguf, sizeof x->model_file);
    } else {
        bool created = false;
        rc = lf_engine_model_file(NULL, hp, (lf_mix)mix, seed, x->model_file, sizeof x->model_file, &created,
                                  err);
        if (rc == 0 && created)
            snprintf(note, note_size, "llama.cpp: wrote the synthesized weights to %s (cached)", x->model_file);
    }
    x->samples = calloc((size_t)n_cells, sizeof *x->samples);
    x->n = calloc((size_t)n_cells, sizeof *x->n);
    x->rec = calloc((size_t)n_cells, sizeof *x->rec);
    if (rc == 0 && (!x->samples || !x->n || !x->rec))
        rc = lf_error_set(err, LF_ENOMEM, "llama.cpp: out of memory");
    if (rc < 0) {
        lf_rb_engine_end(x);
        return rc;
    }
    *out = x;
    return 0;
}

int lf_rb_engine_turn(lf_rb_engine *x, int i, const lf_result *r, lf_error *err) {
    if (!x || i < 0 || i >= x->n_cells || !lf_engine_llama_supports(r) || x->n[i] >= x->reps_max)
        return 0;
    if (!x->samples[i] && !(x->samples[i] = malloc(sizeof(double) * (size_t)x->reps_max)))
        return lf_error_set(err, LF_ENOMEM, "llama.cpp: out of memory");
    lf_engine_test t;
    lf_engine_test_from_result(r, &t);
    lf_run_full got;
    int rc = lf_engine_llama_run(&x->e, x->model_file, &t, 1, 1, NULL, &got, err);
    if (rc < 0)
        return rc;
    /* -r 1: one sample per invocation (an old llama-bench without samples
     * gives its mean) */
    double v = got.n_samples_stored[0] > 0 ? got.samples[0][0] : got.results[0].mean;
    if (isfinite(v) && v > 0) {
        x->samples[i][x->n[i]++] = v;
        x->rec[i] = got.results[0];
    }
    lf_run_full_free(&got);
    return 0;
}

int lf_rb_engine_take(lf_rb_engine *x, int i, const lf_result *local, lf_result *out, const double **samples,
                      int *n) {
    if (!x || i < 0 || i >= x->n_cells || x->n[i] == 0)
        return 0;
    const lf_result *rec = &x->rec[i];
    /* localfit's identity, so the two rows pair up in tables and reports;
     * llama.cpp's own backend, settings and record details */
    *out = *local;
    lf_strlcpy(out->engine, LF_ENGINE_LLAMA, sizeof out->engine);
    lf_strlcpy(out->backend, rec->backend, sizeof out->backend);
    lf_strlcpy(out->config, rec->config, sizeof out->config);
    lf_strlcpy(out->extra, rec->extra, sizeof out->extra);
    out->isa[0] = '\0';          /* llama.cpp picks its own kernels */
    lf_stats_fill_result(x->samples[i], x->n[i], out);
    out->n_samples = x->n[i];
    /* the same weights and cache are read: the roofline fraction of
     * llama.cpp's speed against the same roof */
    out->roofline_frac = isfinite(out->roof_gbs) && out->roof_gbs > 0 && isfinite(out->bytes_per_token)
                             ? out->median * out->bytes_per_token / (out->roof_gbs * 1e9)
                             : NAN;
    out->compute_frac = isfinite(out->peak_gops) && out->peak_gops > 0 && isfinite(out->flops_per_token)
                            ? out->median * out->flops_per_token / (out->peak_gops * 1e9)
                            : NAN;
    out->peak_rss = -1;          /* another process */
    out->joules_per_token = NAN;
    lf_strlcpy(out->energy_note, "not measured for llama.cpp", sizeof out->energy_note);
    *samples = x->samples[i];
    *n = x->n[i];
    return 1;
}

void lf_rb_engine_end(lf_rb_engine *x) {
    if (!x)
        return;
    for (int i = 0; x->samples && i < x->n_cells; i++)
        free(x->samples[i]);
    free(x->samples);
    free(x->n);
    free(x->rec);
    free(x);
}
