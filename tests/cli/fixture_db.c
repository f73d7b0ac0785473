/*
 * Hand-built results databases for the glue tests (see fixture_db.h).
 * Everything is written through the store's public API, as the bench does.
 */
#include "fixture_db.h"

#include "catalog/catalog.h"
#include "recommend/recommend.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

void fx_device(lf_device *d, const char *id, const char *slug, int threads, const double *bw) {
    memset(d, 0, sizeof *d);
    strcpy(d->schema, LF_DEVICE_SCHEMA);
    lf_strlcpy(d->id, id, sizeof d->id);
    lf_strlcpy(d->slug, slug, sizeof d->slug);
    strcpy(d->sysroot, "/");
    strcpy(d->cpu.arch, "x86_64");
    strcpy(d->cpu.vendor, "AuthenticAMD");
    strcpy(d->cpu.brand, "Test CPU <b>&</b>");
    d->cpu.family = 25;
    d->cpu.model = 17;
    lf_isa_feature_set(&d->cpu.isa, "sse42", true);
    lf_isa_feature_set(&d->cpu.isa, "avx", true);
    lf_isa_feature_set(&d->cpu.isa, "avx2", true);
    lf_isa_feature_set(&d->cpu.isa, "fma", true);
    lf_isa_feature_set(&d->cpu.isa, "f16c", true);
    lf_isa_feature_set(&d->cpu.isa, "os_avx", true);
    d->topology.cores = threads;
    d->topology.pus = threads;
    d->limits.usable_threads = threads;
    d->limits.mem_total = 32ull << 30;
    d->limits.usable_memory = 16ull << 30;
    strcpy(d->limits.usable_memory_source, "test");
    d->bandwidth.measured = true;
    d->bandwidth.threads = threads;
    d->bandwidth.n_curve = threads;
    for (int i = 0; i < threads; i++)
        d->bandwidth.curve_read_gbs[i] = bw[i];
    d->bandwidth.read_gbs = bw[threads - 1];
    strcpy(d->bandwidth.kernel, "avx2");
    d->compute.measured = true;
    d->compute.threads = threads;
    d->compute.int8_gops_core = 100;
    d->compute.int8_gops_all = 100.0 * threads;
    d->compute.fp32_gflops_core = 25;
    d->compute.fp32_gflops_all = 25.0 * threads;
}

void fx_put_device(lf_store *st, const lf_device *d) {
    char *json = NULL;
    lf_error err = {0};
    assert_int_equal(lf_device_to_json(d, &json, &err), 0);
    assert_int_equal(lf_store_device_put(st, d->id, d->slug, json, &err), 0);
    free(json);
}

int64_t fx_run(lf_store *st, const char *device_id, const char *commit, int64_t started_ms) {
    lf_run run;
    lf_store_run_init(&run);
    lf_strlcpy(run.device_id, device_id, sizeof run.device_id);
    lf_strlcpy(run.git_commit, commit, sizeof run.git_commit);
    lf_strlcpy(run.git_branch, "main", sizeof run.git_branch);
    lf_strlcpy(run.suite, "test", sizeof run.suite);
    run.started_ms = started_ms;
    lf_error err = {0};
    assert_int_equal(lf_store_run_begin(st, &run, &err), 0);
    assert_int_equal(lf_store_run_finish(st, run.id, LF_RUN_COMPLETE, &err), 0);
    return run.id;
}

lf_result fx_res(lf_test_kind kind, const char *model, const char *quant, int threads, int n,
                 double tps) {
    lf_result r;
    lf_result_init(&r);
    r.kind = kind;
    lf_strlcpy(r.model, model, sizeof r.model);
    lf_strlcpy(r.model_path, model, sizeof r.model_path);
    lf_strlcpy(r.quant, quant, sizeof r.quant);
    r.threads = threads;
    if (kind == LF_TEST_PP)
        r.n_prompt = n;
    else
        r.n_gen = n;
    r.n_depth = 0;
    strcpy(r.kv_type, "f16");
    strcpy(r.isa, "avx2");
    strcpy(r.backend, "cpu");
    r.unit = LF_UNIT_TPS;
    r.median = tps;
    return r;
}

void fx_add(lf_store *st, int64_t run, lf_result *r) {
    double s[3] = {r->median * 0.99, r->median, r->median * 1.01};
    r->mean = r->median;
    r->stddev = 0.01 * r->median;
    r->ci_low = s[0];
    r->ci_high = s[2];
    r->n_samples = 3;
    lf_error err = {0};
    assert_int_equal(lf_store_result_add(st, run, r, s, 3, &err), 0);
}

const char *fx_datadir(void) {
    const char *d = getenv("LOCALFIT_DATADIR");
    return d && *d ? d : LF_SOURCE_DIR "/datasets";
}

/* tg and pp of each model x quant x thread count, as the device's roofs
 * and efficiencies predict, with a small repeating noise. */
static void add_calibration(lf_store *st, int64_t run, const double *bw) {
    lf_catalog *cat;
    lf_error err = {0};
    assert_int_equal(lf_catalog_load(&cat, fx_datadir(), &err), 0);
    static const char *models[] = {"qwen2.5-0.5b-instruct", "smollm2-360m-instruct",
                                   "llama-3.2-1b-instruct"};
    static const char *quants[] = {"Q4_K_M", "Q8_0", "Q4_0"};
    int k = 0;
    for (int mi = 0; mi < 3; mi++)
        for (int qi = 0; qi < 3; qi++)
            for (int t = 1; t <= 2; t++) {
                const lf_catalog_model *m = lf_catalog_find(cat, models[mi]);
                assert_non_null(m);
                lf_mix mix;
                assert_int_equal(lf_mix_parse(quants[qi], &mix), 0);
                lf_rec_memory mem;
                assert_int_equal(lf_rec_weight_bytes(m, mix, &mem, &err), 0);
                double bytes = (double)mem.weights_read +
                               (double)lf_rec_kv_bytes(m, 16, LF_TYPE_F16);
                double noise = 1.0 + 0.03 * ((k++ % 5) - 2) / 2.0;
                lf_result r = fx_res(LF_TEST_TG, models[mi], quants[qi], t, 32,
                                     0.6 * bw[t - 1] * 1e9 / bytes * noise);
                fx_add(st, run, &r);
                r = fx_res(LF_TEST_PP, models[mi], quants[qi], t, 128,
                           0.15 * 100e9 * t / (2.0 * mem.matmul_params) * noise);
                fx_add(st, run, &r);
            }
    lf_catalog_free(cat);
}

void fx_build_db(const char *path, bool calibrate) {
    lf_store *st;
    lf_error err = {0};
    assert_int_equal(lf_store_open(&st, path, 0, &err), 0);
    double bw[2] = {12.0, 20.0};
    lf_device d;
    fx_device(&d, "00aa11bb22cc33dd", "test-cpu-2c", 2, bw);
    fx_put_device(st, &d);
    int64_t run = fx_run(st, d.id, "abcdef0123", 1700000000000);
    if (calibrate) {
        add_calibration(st, run, bw);
    } else {
        for (int t = 1; t <= 2; t++) {
            lf_result r = fx_res(LF_TEST_TG, "tiny-shape-x", "Q4_0", t, 32, 900.0);
            fx_add(st, run, &r);
        }
    }
    lf_store_close(st);
}
