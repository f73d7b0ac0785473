/*
 * Tests for recommend/observe.c: stored results of a hand-built database
 * become observations with the catalog's exact byte counts, the KV bytes at
 * the test's mean depth and the bandwidth of the result's thread count;
 * repeats of the newest build merge to their fastest; rows the model must not learn from
 * (adapters, a GPU backend, a forced lower ISA, ttft, unknown models without
 * byte counts, models small enough to run from the cache) are left out; a
 * mixture-of-experts result outside the catalog is known by the expert
 * counts bench stored with it and teaches the MoE factor; device lookup by id, prefix and slug; the
 * target built from a profile. The expected figures are computed here from
 * the catalog shape, not read back from the code under test.
 */
#include "fixture_db.h"

#include "catalog/catalog.h"
#include "recommend/recommend.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

typedef struct ctx {
    char dir[256], db[300];
    lf_store *st;
    lf_catalog *cat;
    lf_device dev;
} ctx;

static const char *datadir(void) {
    const char *d = getenv("LOCALFIT_DATADIR");
    return d && *d ? d : LF_SOURCE_DIR "/datasets";
}

static int setup(void **state) {
    ctx *c = calloc(1, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s/lf-observe-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(c->dir))
        return -1;
    snprintf(c->db, sizeof c->db, "%s/results.db", c->dir);
    lf_error err = {0};
    if (lf_store_open(&c->st, c->db, 0, &err) < 0 || lf_catalog_load(&c->cat, datadir(), &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    double bw[2] = {12.0, 20.0};
    fx_device(&c->dev, "00aa11bb22cc33dd", "test-cpu-2c", 2, bw);
    fx_put_device(c->st, &c->dev);
    *state = c;
    return 0;
}

static int teardown(void **state) {
    ctx *c = *state;
    lf_store_close(c->st);
    lf_catalog_free(c->cat);
    char p[400];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", c->db, sfx[i]);
        unlink(p);
    }
    rmdir(c->dir);
    free(c);
    return 0;
}

static const lf_rec_observation *find_obs(const lf_rec_observation *o, int n, const char *mix,
                                          lf_rec_test t, int threads) {
    for (int i = 0; i < n; i++)
        if (!strcmp(o[i].mix, mix) && o[i].test == t && o[i].threads == threads)
            return &o[i];
    return NULL;
}

static void test_extraction(void **state) {
    ctx *c = *state;
    const char *mname = "qwen2.5-0.5b-instruct";
    const lf_catalog_model *m = lf_catalog_find(c->cat, mname);
    assert_non_null(m);
    int64_t r1 = fx_run(c->st, c->dev.id, "c0ffee01", 1700000000000);
    int64_t r2 = fx_run(c->st, c->dev.id, "c0ffee02", 1700000100000);
    lf_result r;
    /* tg32 at 1 and 2 threads, Q4_K_M; the 2-thread one three times. */
    r = fx_res(LF_TEST_TG, mname, "Q4_K_M", 1, 32, 40.0);
    fx_add(c->st, r1, &r);
    r = fx_res(LF_TEST_TG, mname, "Q4_K_M", 2, 32, 50.0);
    fx_add(c->st, r1, &r);
    r = fx_res(LF_TEST_TG, mname, "Q4_K_M", 2, 32, 56.0);
    fx_add(c->st, r2, &r);
    r = fx_res(LF_TEST_TG, mname, "Q4_K_M", 2, 32, 90.0);
    fx_add(c->st, r2, &r);
    /* tg at depth 512 with a q8_0 cache */
    r = fx_res(LF_TEST_TG, mname, "q8_0", 2, 16, 30.0);
    r.n_depth = 512;
    strcpy(r.kv_type, "q8_0");
    fx_add(c->st, r2, &r);
    /* pp, quantized and float */
    r = fx_res(LF_TEST_PP, mname, "Q4_K_M", 2, 128, 300.0);
    fx_add(c->st, r2, &r);
    r = fx_res(LF_TEST_PP, mname, "F16", 1, 128, 100.0);
    fx_add(c->st, r2, &r);
    /* rows to leave out */
    r = fx_res(LF_TEST_TG, mname, "Q4_0", 2, 32, 70.0);
    r.n_adapters = 1;
    r.adapter_rank = 8;
    r.adapter_mode = LF_ADAPTER_RUNTIME;
    strcpy(r.adapter, "r8");
    fx_add(c->st, r2, &r);
    r = fx_res(LF_TEST_TG, mname, "Q4_0", 2, 32, 700.0);
    strcpy(r.backend, "CUDA");
    fx_add(c->st, r2, &r);
    r = fx_res(LF_TEST_TG, mname, "Q4_0", 2, 32, 7.0);
    strcpy(r.isa, "scalar");
    fx_add(c->st, r2, &r);
    r = fx_res(LF_TEST_TTFT, mname, "Q4_0", 2, 128, 500.0);
    r.unit = LF_UNIT_MS;
    fx_add(c->st, r2, &r);
    r = fx_res(LF_TEST_TG, "my-model", "Q4_0", 2, 32, 70.0);   /* no bytes anywhere */
    fx_add(c->st, r2, &r);
    /* a GGUF file with byte counts in extra, and one with bytes_per_token */
    r = fx_res(LF_TEST_TG, "tiny", "IQ4_NL", 2, 32, 1000.0);
    strcpy(r.model_path, "/models/tiny.gguf");
    strcpy(r.extra, "{\"weight_bytes\": 200000000, \"params\": 180000000, \"kv_bytes\": 4096}");
    fx_add(c->st, r2, &r);
    r = fx_res(LF_TEST_TG, "other", "Q5_0", 2, 32, 800.0);
    strcpy(r.model_path, "/models/other.gguf");
    r.bytes_per_token = 3e8;
    fx_add(c->st, r2, &r);
    /* a model that lives in the cache (under 2 x 32 MiB here): left out */
    r = fx_res(LF_TEST_TG, "cached", "Q8_0", 2, 32, 20000.0);
    strcpy(r.model_path, "/models/cached.gguf");
    strcpy(r.extra, "{\"weight_bytes\": 1000000, \"params\": 900000}");
    fx_add(c->st, r2, &r);

    lf_rec_observation *o = NULL;
    lf_result *src = NULL;
    int n = 0;
    lf_error err = {0};
    assert_int_equal(lf_rec_observations_load(c->st, c->cat, &c->dev, &o, &n, &src, &err), 0);
    /* tg t1, tg t2 (merged), tg d512, pp Q4_K_M, pp F16, tiny, other */
    assert_int_equal(n, 7);

    lf_rec_memory mem;
    assert_int_equal(lf_rec_weight_bytes(m, LF_MIX_Q4_K_M, &mem, &err), 0);
    const lf_rec_observation *t1 = find_obs(o, n, "Q4_K_M", LF_REC_TG, 1);
    const lf_rec_observation *t2 = find_obs(o, n, "Q4_K_M", LF_REC_TG, 2);
    assert_non_null(t1);
    assert_non_null(t2);
    assert_string_equal(t1->model, mname);
    assert_true(t1->weight_bytes == mem.weights_read);
    assert_true(t1->params == mem.matmul_params);
    /* KV at the mean depth of 32 generated tokens: 16 positions, F16 rows */
    uint64_t kv16 = (uint64_t)m->n_layer * 16u * (uint64_t)m->n_head_kv * 2u * 2u * (uint64_t)m->head_dim;
    assert_true(t1->kv_bytes == kv16);
    /* the bandwidth of the thread count the result ran at */
    assert_true(t1->bandwidth_gbs == 12.0);
    assert_true(t2->bandwidth_gbs == 20.0);
    assert_true(t1->tokens_per_s == 40.0);
    /* the fastest repeat of the newest build (56, 90); the older commit's
     * 50 is set aside */
    assert_true(t2->tokens_per_s == 90.0);
    /* the representative result is the newest run's */
    assert_true(src[t2 - o].run_id == r2);

    const lf_rec_observation *dq = find_obs(o, n, "Q8_0", LF_REC_TG, 2);
    assert_non_null(dq);
    assert_string_equal(dq->model, mname);   /* "q8_0" normalised to the mix name */
    /* 512 + 8 positions, Q8_0 rows of head_dim: 34 bytes per 32 values */
    uint64_t kvq = (uint64_t)m->n_layer * 520u * (uint64_t)m->n_head_kv * 2u *
                   (uint64_t)(m->head_dim / 32 * 34);
    assert_true(dq->kv_bytes == kvq);

    const lf_rec_observation *pq = find_obs(o, n, "Q4_K_M", LF_REC_PP, 2);
    const lf_rec_observation *pf = find_obs(o, n, "F16", LF_REC_PP, 1);
    assert_non_null(pq);
    assert_non_null(pf);
    assert_true(pq->kv_bytes == 0);
    assert_true(fabs(pq->compute_tops - 0.2) < 1e-12);    /* int8, 2 x 100 GOP/s */
    assert_true(fabs(pf->compute_tops - 0.025) < 1e-12);  /* FP32, 1 x 25 GFLOP/s */

    const lf_rec_observation *tiny = NULL, *other = NULL;
    for (int i = 0; i < n; i++) {
        if (!strcmp(o[i].model, "tiny"))
            tiny = &o[i];
        if (!strcmp(o[i].model, "other"))
            other = &o[i];
    }
    assert_non_null(tiny);
    assert_true(tiny->weight_bytes == 200000000 && tiny->params == 180000000 &&
                tiny->kv_bytes == 4096);
    assert_non_null(other);
    assert_true(other->weight_bytes == 300000000 && other->kv_bytes == 0);
    free(o);
    free(src);

    /* The calibration these observations give reproduces the tg efficiency
     * of the k-quant class: eff = tps × bytes / bandwidth. */
    assert_int_equal(lf_rec_observations_load(c->st, c->cat, &c->dev, &o, &n, NULL, &err), 0);
    lf_rec_calibration cal;
    assert_int_equal(lf_rec_calibrate(&cal, o, n, LF_REC_CPU, &err), 0);
    assert_int_equal(cal.tg[LF_REC_CLASS_KQUANT].n, 2);
    double e1 = 40.0 * (double)(mem.weights_read + kv16) / 12e9;
    double e2 = 90.0 * (double)(mem.weights_read + kv16) / 20e9;
    assert_true(fabs(cal.tg[LF_REC_CLASS_KQUANT].median - 0.5 * (e1 + e2)) < 1e-9);
    free(o);
}

/* The calibration of one device after its stored results: observations
 * loaded and calibrated. */
static void calibrate_stored(ctx *c, lf_rec_calibration *cal, lf_rec_observation **o, int *n) {
    lf_error err = {0};
    assert_int_equal(lf_rec_observations_load(c->st, c->cat, &c->dev, o, n, NULL, &err), 0);
    assert_int_equal(lf_rec_calibrate(cal, *o, *n, LF_REC_CPU, &err), 0);
}

/* A MoE result outside the catalog (a custom shape synthesized to a file,
 * then benched) teaches the MoE factor through the expert counts bench
 * stored with it: its efficiency over the dense level of its mix, computed
 * here as tokens/s x active bytes / bandwidth. The dense fits stay what
 * the dense result alone gives. Its active bytes (19 MiB) are under the
 * cache floor, but every expert (800 MB) is its working set, so it is
 * kept. The same row as a database from before schema v5 stores it (no
 * expert counts) is a dense one, as it always was. */
static void test_moe_from_any_file(void **state) {
    ctx *c = *state;
    const char *mname = "qwen2.5-0.5b-instruct";
    const lf_catalog_model *m = lf_catalog_find(c->cat, mname);
    assert_non_null(m);
    int64_t run = fx_run(c->st, c->dev.id, "c0ffee03", 1700000000000);
    lf_result r = fx_res(LF_TEST_TG, mname, "Q4_K_M", 2, 32, 60.0);
    fx_add(c->st, run, &r);
    /* a calibration points into its observations: both stay until the end */
    lf_rec_observation *od = NULL, *o = NULL;
    int n = 0;
    lf_rec_calibration dense;
    calibrate_stored(c, &dense, &od, &n);
    assert_int_equal(n, 1);
    assert_int_equal(dense.moe[LF_REC_TG].n, 0);
    lf_rec_memory mem;
    assert_int_equal(lf_rec_weight_bytes(m, LF_MIX_Q4_K_M, &mem, NULL), 0);
    uint64_t kv16 = (uint64_t)m->n_layer * 16u * (uint64_t)m->n_head_kv * 2u * 2u * (uint64_t)m->head_dim;
    double eff_dense = 60.0 * (double)(mem.weights_read + kv16) / 20e9;
    assert_true(fabs(dense.tg[LF_REC_CLASS_KQUANT].median - eff_dense) < 1e-12);

    /* the custom shape: 16 experts, 4 per token, 2e7 bytes per token read,
     * at 0.45 of the dense efficiency */
    double active = 2e7;
    lf_result moe = fx_res(LF_TEST_TG, "moe-16x4", "Q4_K_M", 2, 32, 0.45 * eff_dense * 20e9 / active);
    strcpy(moe.model_path, "/models/moe-16x4-Q4_K_M.gguf");
    moe.weight_bytes = active;
    moe.kv_bytes = 0;
    moe.n_expert = 16;
    moe.n_expert_used = 4;
    moe.model_bytes = 8e8;
    fx_add(c->st, run, &moe);
    lf_rec_calibration cal;
    calibrate_stored(c, &cal, &o, &n);
    assert_int_equal(n, 2);
    const lf_rec_observation *mo = !strcmp(o[0].model, "moe-16x4") ? &o[0] : &o[1];
    assert_string_equal(mo->model, "moe-16x4");
    assert_true(mo->moe);
    assert_true(mo->weight_bytes == (uint64_t)active);
    assert_int_equal(cal.moe[LF_REC_TG].n, 1);
    assert_true(fabs(cal.moe[LF_REC_TG].factor - 0.45) < 1e-9);
    assert_int_equal(cal.moe[LF_REC_PP].n, 0);
    assert_int_equal(cal.tg[LF_REC_CLASS_KQUANT].n, 1);
    assert_true(cal.tg[LF_REC_CLASS_KQUANT].median == dense.tg[LF_REC_CLASS_KQUANT].median);

    /* a catalog MoE model predicted from it: the calibrated factor */
    const lf_catalog_model *olmoe = lf_catalog_find(c->cat, "olmoe-1b-7b");
    assert_non_null(olmoe);
    assert_int_equal(lf_rec_weight_bytes(olmoe, LF_MIX_Q4_K_M, &mem, NULL), 0);
    lf_rec_target t = {.kind = LF_REC_CPU, .bandwidth_gbs = 20, .threads = 2};
    lf_rec_workload w = {.model = olmoe->name, .mix = "Q4_K_M", .weight_bytes = mem.weights_read,
                         .params = mem.matmul_params, .moe = true};
    lf_rec_prediction p, p0;
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &w, &p, NULL), 0);
    assert_int_equal(lf_rec_predict(&dense, &t, LF_REC_TG, &w, &p0, NULL), 0);
    assert_int_equal(p.source, LF_REC_CALIBRATED);
    assert_true(fabs(p.value / p0.value - 0.45 / lf_rec_default_moe_factor(LF_REC_TG)) < 1e-6);
    free(o);
    free(od);

    /* the same row without expert counts (as stored before schema v5; a
     * larger one, so the cache floor does not drop it): dense */
    lf_rec_observation ob;
    moe.weight_bytes = 2e8;
    assert_int_equal(lf_rec_observation_from_result(c->cat, &c->dev, &moe, NULL, &ob), 1);
    assert_true(ob.moe);
    moe.n_expert = moe.n_expert_used = -1;
    assert_int_equal(lf_rec_observation_from_result(c->cat, &c->dev, &moe, NULL, &ob), 1);
    assert_false(ob.moe);
    /* without its expert counts the small one is taken for a cache-resident
     * dense model, and left out */
    moe.weight_bytes = active;
    assert_int_equal(lf_rec_observation_from_result(c->cat, &c->dev, &moe, NULL, &ob), 0);
}

static void test_device_find_and_target(void **state) {
    ctx *c = *state;
    lf_error err = {0};
    lf_device *d = malloc(sizeof *d);
    assert_non_null(d);
    /* an exact id works without runs */
    assert_int_equal(lf_rec_device_find(c->st, "00aa11bb22cc33dd", d, &err), 0);
    assert_string_equal(d->slug, "test-cpu-2c");
    /* prefix and slug need a run on the device */
    assert_int_equal(lf_rec_device_find(c->st, "00aa", d, &err), LF_ENOTFOUND);
    fx_run(c->st, c->dev.id, "", 1700000000000);
    memset(d, 0, sizeof *d);
    assert_int_equal(lf_rec_device_find(c->st, "00aa", d, &err), 0);
    assert_string_equal(d->id, "00aa11bb22cc33dd");
    assert_int_equal(lf_rec_device_find(c->st, "test-cpu-2c", d, &err), 0);
    assert_true(d->bandwidth.curve_read_gbs[0] == 12.0);
    assert_int_equal(lf_rec_device_find(c->st, "ffff", d, &err), LF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "test-cpu-2c"));   /* says what is stored */

    lf_rec_target t;
    assert_int_equal(lf_rec_target_from_device(&t, d, &err), 0);
    assert_true(t.kind == LF_REC_CPU);
    assert_true(t.usable_memory == 16ull << 30);
    assert_true(t.bandwidth_gbs == 20.0);
    assert_true(fabs(t.int8_tops - 0.2) < 1e-12 && fabs(t.fp32_tflops - 0.05) < 1e-12);
    assert_true(lf_rec_device_bandwidth(d, 1) == 12.0);
    assert_true(lf_rec_device_bandwidth(d, 8) == 20.0);   /* beyond the curve: all threads */
    d->bandwidth.measured = false;
    assert_int_equal(lf_rec_target_from_device(&t, d, &err), LF_EINVAL);
    free(d);
}

/* Ground truth for the calibration: per-mix levels, one efficiency slope
 * over ln(bytes) shared by every mix, one thread count at half speed, and
 * KV bytes costing 3x a weight byte. */
static double truth_eff(const char *mix, int threads, double bytes) {
    double level = !strcmp(mix, "Q4_0") ? 0.30 : !strcmp(mix, "Q8_0") ? 0.45 : 0.38;
    return (level + 0.05 * log(bytes / 1e8)) * (threads == 1 ? 0.55 : 1.0);
}

static lf_rec_observation truth_obs(const char *model, const char *mix, double w, double kv,
                                    int threads) {
    lf_rec_observation o;
    memset(&o, 0, sizeof o);
    lf_strlcpy(o.model, model, sizeof o.model);
    lf_strlcpy(o.mix, mix, sizeof o.mix);
    o.weight_bytes = (uint64_t)w;
    o.kv_bytes = (uint64_t)kv;
    o.params = w;
    o.test = LF_REC_TG;
    o.threads = threads;
    o.bandwidth_gbs = 20;
    double bytes = w + 3.0 * kv;
    o.tokens_per_s = truth_eff(mix, threads, bytes) * 20e9 / bytes;
    return o;
}

/* The performance model learns what the device does (per mix, size slope,
 * threads, KV cost) and predicts held-out configurations almost exactly. */
static void test_calibration_model(void **state) {
    (void)state;
    static const char *mixes[] = {"Q4_0", "Q8_0", "Q4_K_M"};
    static const double bpw[] = {4.5, 8.5, 4.9};
    static const double params[] = {1.5e8, 5e8, 1.2e9};
    lf_rec_observation o[32];
    int n = 0;
    for (int m = 0; m < 3; m++)
        for (int q = 0; q < 3; q++) {
            char name[16];
            snprintf(name, sizeof name, "m%d", m);
            o[n++] = truth_obs(name, mixes[q], params[m] * bpw[q] / 8, 0, 2);
        }
    o[n++] = truth_obs("m0", "Q4_0", params[0] * 4.5 / 8, 0, 1);
    o[n++] = truth_obs("m2", "Q4_0", params[2] * 4.5 / 8, 0, 1);
    o[n++] = truth_obs("m1", "Q4_0", params[1] * 4.5 / 8, 0, 1);
    /* deep contexts: a KV cache of 25% and 40% of the weights */
    o[n++] = truth_obs("m0", "Q4_K_M", params[0] * 4.9 / 8, params[0] * 4.9 / 8 * 0.25, 2);
    o[n++] = truth_obs("m1", "Q4_K_M", params[1] * 4.9 / 8, params[1] * 4.9 / 8 * 0.40, 2);

    lf_rec_calibration cal;
    assert_int_equal(lf_rec_calibrate(&cal, o, n, LF_REC_CPU, NULL), 0);
    assert_int_equal(cal.kv_pairs, 2);
    assert_true(fabs(cal.kv_mult - 3.0) < 0.3);
    bool slope2 = false;
    for (int j = 0; j < cal.n_slopes; j++)
        if (cal.slopes[j].threads == 2 && cal.slopes[j].tg_ok) {
            slope2 = true;
            assert_true(fabs(cal.slopes[j].tg - 0.05) < 0.01);
        }
    assert_true(slope2);

    /* a new model size at two threads: the mix's level and the shared slope */
    lf_rec_target t = {.kind = LF_REC_CPU, .bandwidth_gbs = 20, .threads = 2};
    double w = 3e9 * 8.5 / 8;
    lf_rec_workload wl = {.model = "new", .mix = "Q8_0", .weight_bytes = (uint64_t)w};
    lf_rec_prediction p;
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &wl, &p, NULL), 0);
    double want = truth_eff("Q8_0", 2, w) * 20e9 / w;
    assert_int_equal(p.source, LF_REC_CALIBRATED);
    assert_true(fabs(p.value / want - 1) < 0.02);
    assert_true(p.lo < want && want < p.hi);
    /* one thread: only the one-thread observations speak for it */
    t.threads = 1;
    wl.mix = "Q4_0";
    w = 3e9 * 4.5 / 8;
    wl.weight_bytes = (uint64_t)w;
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &wl, &p, NULL), 0);
    want = truth_eff("Q4_0", 1, w) * 20e9 / w;
    assert_true(fabs(p.value / want - 1) < 0.05);

    /* leave-one-out: every configuration predicted from the others */
    lf_rec_validation v;
    assert_int_equal(lf_rec_validate(o, n, LF_REC_CPU, &v, NULL), 0);
    assert_int_equal(v.n_tg, n);
    assert_true(v.median_abs_pct_tg < 3.0);
    lf_rec_validation_free(&v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_extraction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_find_and_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moe_from_any_file, setup, teardown),
        cmocka_unit_test(test_calibration_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
