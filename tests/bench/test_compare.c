/*
 * Regression compare on whole runs: test matching, the verdict for each
 * kind of change (slower tokens/s, slower ms, faster, unchanged, too few
 * samples, tests only on one side), the counts, and the three reports -
 * markdown, JSON (parsed back) and JUnit XML - with hostile model names
 * escaped in each.
 */
#include "bench/bench.h"

#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAXR 8
#define NS 12

typedef struct fake_run {
    lf_run_full rf;
    lf_result results[MAXR];
    double *samples[MAXR];
    int n_samples[MAXR];
    double store[MAXR][NS];
} fake_run;

static void fake_init(fake_run *f, const char *uuid, const char *branch) {
    memset(f, 0, sizeof *f);
    snprintf(f->rf.run.uuid, sizeof f->rf.run.uuid, "%s", uuid);
    snprintf(f->rf.run.git_branch, sizeof f->rf.run.git_branch, "%s", branch);
    snprintf(f->rf.run.git_commit, sizeof f->rf.run.git_commit, "0123456789abcdef");
    f->rf.run.status = LF_RUN_COMPLETE;
    f->rf.run.started_ms = 1745495930000LL;
    f->rf.results = f->results;
    f->rf.samples = f->samples;
    f->rf.n_samples_stored = f->n_samples;
}

/* Adds a test with n samples around median*(1 +- small spread), seeded. */
static lf_result *fake_add(fake_run *f, lf_test_kind kind, const char *model, int threads,
                           double median, int n, uint64_t seed) {
    int i = f->rf.n_results++;
    lf_result *r = &f->results[i];
    lf_result_init(r);
    r->kind = kind;
    r->unit = lf_test_kind_unit(kind);
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->quant, sizeof r->quant, "Q4_0");
    snprintf(r->kv_type, sizeof r->kv_type, "f16");
    r->threads = threads;
    r->n_prompt = kind == LF_TEST_PP || kind == LF_TEST_TTFT ? 128 : 0;
    r->n_gen = kind == LF_TEST_TG ? 64 : 0;
    lf_rng rng;
    lf_rng_seed(&rng, seed);
    for (int j = 0; j < n; j++)
        f->store[i][j] = median * (1 + 0.01 * lf_rng_normal(&rng));
    f->samples[i] = n ? f->store[i] : NULL;
    f->n_samples[i] = n;
    lf_stats_fill_result(f->store[i], n, r);
    if (n == 0)
        r->median = median;
    return r;
}

static const char *const evil = "m|<script>alert(\"x\")</script>&`*";

/* base and cand with one test of each situation. */
static void build(fake_run *base, fake_run *cand) {
    fake_init(base, "aaaaaaaa-0000-4000-8000-000000000001", "main");
    fake_init(cand, "bbbbbbbb-0000-4000-8000-000000000002", "feature");
    /* 0: tg 10% slower: regression */
    fake_add(base, LF_TEST_TG, "llama", 4, 100, NS, 1);
    fake_add(cand, LF_TEST_TG, "llama", 4, 90, NS, 2);
    /* 1: pp unchanged */
    fake_add(base, LF_TEST_PP, "llama", 4, 500, NS, 3);
    fake_add(cand, LF_TEST_PP, "llama", 4, 501, NS, 4);
    /* 2: model load 20% faster (ms down): improvement */
    fake_add(base, LF_TEST_MODEL_LOAD, "llama", 4, 1000, NS, 5);
    fake_add(cand, LF_TEST_MODEL_LOAD, "llama", 4, 800, NS, 6);
    /* 3: ttft 10% slower (ms up): regression, with a hostile name */
    fake_add(base, LF_TEST_TTFT, evil, 4, 50, NS, 7);
    fake_add(cand, LF_TEST_TTFT, evil, 4, 56, NS, 8);
    /* 4: too few samples on one side: untested, ratio from medians */
    fake_add(base, LF_TEST_TG, "llama", 1, 30, 1, 9);
    fake_add(cand, LF_TEST_TG, "llama", 1, 15, 1, 10);
    /* 5: only in the baseline (threads differ from the candidate's 6) */
    fake_add(base, LF_TEST_TG, "llama", 2, 60, NS, 11);
    /* 6: only in the candidate */
    fake_add(cand, LF_TEST_TG, "llama", 8, 120, NS, 12);
}

static void test_verdicts(void **state) {
    (void)state;
    fake_run base, cand;
    build(&base, &cand);
    lf_compare_opts o = LF_COMPARE_OPTS_INIT;
    lf_compare_report rep;
    lf_error err = {0};
    assert_int_equal(lf_compare_runs(&base.rf, &cand.rf, &o, &rep, &err), 0);
    assert_int_equal(rep.n_rows, 7);
    assert_int_equal(rep.n_regressions, 2);
    assert_int_equal(rep.n_improvements, 1);
    assert_int_equal(rep.n_same, 1);
    assert_int_equal(rep.n_untested, 1);
    assert_int_equal(rep.n_unmatched, 2);
    assert_int_equal(rep.rows[0].verdict, LF_VERDICT_REGRESSION);
    assert_true(rep.rows[0].ratio < 0.93 && rep.rows[0].ratio > 0.87);
    assert_true(rep.rows[0].ratio_lo <= rep.rows[0].ratio && rep.rows[0].ratio <= rep.rows[0].ratio_hi);
    assert_true(rep.rows[0].p < 0.001 && rep.rows[0].exact);
    assert_int_equal(rep.rows[1].verdict, LF_VERDICT_SAME);
    assert_int_equal(rep.rows[2].verdict, LF_VERDICT_IMPROVEMENT);
    /* ms: speed ratio is base/cand: 1000/800 */
    assert_float_equal(rep.rows[2].ratio, base.results[2].median / cand.results[2].median, 1e-12);
    assert_true(rep.rows[2].ratio > 1.2);
    assert_int_equal(rep.rows[3].verdict, LF_VERDICT_REGRESSION);
    assert_true(rep.rows[3].ratio < 0.92);
    assert_int_equal(rep.rows[4].verdict, LF_VERDICT_UNTESTED);
    assert_float_equal(rep.rows[4].ratio, 0.5, 0.02);
    assert_true(isnan(rep.rows[4].p));
    assert_int_equal(rep.rows[5].verdict, LF_VERDICT_ONLY_CANDIDATE);
    assert_int_equal(rep.rows[6].verdict, LF_VERDICT_ONLY_BASELINE);
    assert_int_equal(rep.rows[6].test.threads, 2);
    /* Same seed: same report. */
    lf_compare_report rep2;
    lf_compare_runs(&base.rf, &cand.rf, &o, &rep2, &err);
    assert_true(rep.rows[0].ratio_lo == rep2.rows[0].ratio_lo);
    lf_compare_report_free(&rep2);
    /* A bigger threshold turns the 10% slowdowns into "same"... */
    o.threshold = 0.15;
    lf_compare_runs(&base.rf, &cand.rf, &o, &rep2, &err);
    assert_int_equal(rep2.n_regressions, 0);
    lf_compare_report_free(&rep2);
    /* ...and a run against itself is quiet. */
    o = (lf_compare_opts)LF_COMPARE_OPTS_INIT;
    lf_compare_runs(&cand.rf, &cand.rf, &o, &rep2, &err);
    assert_int_equal(rep2.n_regressions, 0);
    assert_int_equal(rep2.n_improvements, 0);
    assert_int_equal(rep2.n_unmatched, 0);
    lf_compare_report_free(&rep2);
    o.alpha = 0;
    assert_int_equal(lf_compare_runs(&base.rf, &cand.rf, &o, &rep2, &err), LF_EINVAL);
    lf_compare_report_free(&rep);
}

static void test_matching(void **state) {
    (void)state;
    lf_result a, b;
    lf_result_init(&a);
    snprintf(a.model, sizeof a.model, "m");
    a.threads = 4;
    b = a;
    assert_true(lf_compare_same_test(&a, &b));
    /* The ISA and the measurements are not part of the key. */
    snprintf(b.isa, sizeof b.isa, "avx512");
    b.median = 3;
    assert_true(lf_compare_same_test(&a, &b));
    lf_result c = a;
    c.n_depth = 512;
    assert_false(lf_compare_same_test(&a, &c));
    c = a;
    c.adapter_mode = LF_ADAPTER_MERGED;
    assert_false(lf_compare_same_test(&a, &c));
    c = a;
    snprintf(c.config, sizeof c.config, "ngl=99");
    assert_false(lf_compare_same_test(&a, &c));
    c = a;
    snprintf(c.kv_type, sizeof c.kv_type, "q8_0");
    assert_false(lf_compare_same_test(&a, &c));
    char name[256];
    lf_result r;
    lf_result_init(&r);
    r.kind = LF_TEST_PP;
    r.n_prompt = 512;
    r.threads = 8;
    r.n_depth = 4096;
    snprintf(r.model, sizeof r.model, "Llama-3.1-8B");
    snprintf(r.quant, sizeof r.quant, "Q4_K_M");
    snprintf(r.kv_type, sizeof r.kv_type, "q8_0");
    lf_compare_test_name(&r, name, sizeof name);
    assert_string_equal(name, "pp512 Llama-3.1-8B Q4_K_M t8 d4096 kv=q8_0");
    r.kind = LF_TEST_TG;
    r.n_gen = 128;
    r.n_depth = 0;
    r.n_adapters = 2;
    r.adapter_rank = 16;
    r.adapter_mode = LF_ADAPTER_RUNTIME;
    snprintf(r.kv_type, sizeof r.kv_type, "f16");
    lf_compare_test_name(&r, name, sizeof name);
    assert_string_equal(name, "tg128 Llama-3.1-8B Q4_K_M +2xLoRA r16 runtime t8");
}

static char *render(int (*fn)(const lf_compare_report *, FILE *), const lf_compare_report *rep) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(fn(rep, f), 0);
    fclose(f);
    return buf;
}

static void test_reports(void **state) {
    (void)state;
    fake_run base, cand;
    build(&base, &cand);
    lf_compare_opts o = LF_COMPARE_OPTS_INIT;
    lf_compare_report rep;
    lf_error err = {0};
    assert_int_equal(lf_compare_runs(&base.rf, &cand.rf, &o, &rep, &err), 0);

    char *md = render(lf_compare_write_md, &rep);
    assert_non_null(strstr(md, "regression detected"));
    assert_non_null(strstr(md, "**2 regressions**"));
    assert_non_null(strstr(md, "| **REGRESSION** | tg64 llama Q4\\_0 t4 |"));
    /* Regressions come first. */
    assert_true(strstr(md, "REGRESSION") < strstr(md, "| improvement |"));
    /* The hostile name cannot break the table or inject HTML. */
    assert_null(strstr(md, "<script>"));
    assert_non_null(strstr(md, "m\\|\\<script\\>"));
    free(md);

    char *js = render(lf_compare_write_json, &rep);
    json_error_t je;
    json_t *root = json_loads(js, 0, &je);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "schema")), "localfit.compare/1");
    json_t *sum = json_object_get(root, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "regressions")), 2);
    json_t *tests = json_object_get(root, "tests");
    assert_int_equal(json_array_size(tests), 7);
    json_t *t3 = json_array_get(tests, 3);
    assert_string_equal(json_string_value(json_object_get(t3, "model")), evil);
    assert_string_equal(json_string_value(json_object_get(t3, "verdict")), "regression");
    assert_true(json_is_null(json_object_get(json_array_get(tests, 4), "p_value")));
    json_decref(root);
    free(js);

    char *xml = render(lf_compare_write_junit, &rep);
    assert_non_null(strstr(xml, "<testsuites name=\"localfit compare\" tests=\"7\" failures=\"2\" skipped=\"3\">"));
    assert_null(strstr(xml, "<script>"));
    assert_non_null(strstr(xml, "m|&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;`*"));
    int failures = 0;
    for (const char *p = xml; (p = strstr(p, "<failure ")); p++)
        failures++;
    assert_int_equal(failures, 2);
    free(xml);
    lf_compare_report_free(&rep);
}


/* Repro of "blind at small n": 3 samples a side, the smallest possible rank
 * p is 0.1. A 10x slowdown (the scalar kernels) and a 2x slowdown (two
 * llama-bench files of 3 samples) are regressions; an unchanged test is
 * inconclusive with the reason, never "same"; an overlapping 20% change
 * at that size is inconclusive too. */
static void test_small_n(void **state) {
    (void)state;
    fake_run base, cand;
    fake_init(&base, "aaaaaaaa-0000-4000-8000-000000000001", "main");
    fake_init(&cand, "bbbbbbbb-0000-4000-8000-000000000002", "feature");
    fake_add(&base, LF_TEST_TG, "kq", 1, 160, 3, 1);
    fake_add(&cand, LF_TEST_TG, "kq", 1, 12, 3, 2);      /* 13x slower */
    fake_add(&base, LF_TEST_PP, "kq", 1, 400, 3, 3);
    fake_add(&cand, LF_TEST_PP, "kq", 1, 200, 3, 4);     /* 2x slower */
    fake_add(&base, LF_TEST_TG, "kq", 2, 100, 3, 5);
    fake_add(&cand, LF_TEST_TG, "kq", 2, 100, 3, 6);     /* unchanged */
    fake_add(&base, LF_TEST_PP, "kq", 2, 100, 3, 7);
    lf_result *r = fake_add(&cand, LF_TEST_PP, "kq", 2, 80, 3, 8);
    /* overlap: one candidate value among the baseline's */
    cand.store[3][2] = base.store[3][1] * 1.001;
    (void)r;
    lf_compare_opts o = LF_COMPARE_OPTS_INIT;
    lf_compare_report rep;
    lf_error err = {0};
    assert_int_equal(lf_compare_runs(&base.rf, &cand.rf, &o, &rep, &err), 0);
    assert_int_equal(rep.rows[0].verdict, LF_VERDICT_REGRESSION);
    assert_string_equal(rep.rows[0].method, "welch-log");
    assert_true(rep.rows[0].p < 0.01);
    assert_int_equal(rep.rows[1].verdict, LF_VERDICT_REGRESSION);
    assert_true(fabs(rep.rows[1].ratio - 0.5) < 0.02);
    assert_int_equal(rep.rows[2].verdict, LF_VERDICT_INCONCLUSIVE);
    assert_non_null(strstr(rep.rows[2].reason, "n=3+3: smallest possible rank p is 0.1"));
    assert_int_equal(rep.rows[3].verdict, LF_VERDICT_INCONCLUSIVE);
    assert_int_equal(rep.n_regressions, 2);
    assert_int_equal(rep.n_inconclusive, 2);
    assert_int_equal(rep.n_same, 0);
    assert_true(isfinite(rep.rows[2].min_detect) && rep.rows[2].min_detect > 0);
    char *md = render(lf_compare_write_md, &rep);
    assert_non_null(strstr(md, "2 inconclusive"));
    assert_non_null(strstr(md, "would have been detected"));
    assert_non_null(strstr(md, "| inconclusive |"));
    free(md);
    lf_compare_report_free(&rep);
    /* At 5 a side the rank test decides: an unchanged test is "same". */
    fake_init(&base, "aaaaaaaa-0000-4000-8000-000000000001", "main");
    fake_init(&cand, "bbbbbbbb-0000-4000-8000-000000000002", "feature");
    fake_add(&base, LF_TEST_TG, "kq", 1, 100, 5, 9);
    fake_add(&cand, LF_TEST_TG, "kq", 1, 100, 5, 10);
    assert_int_equal(lf_compare_runs(&base.rf, &cand.rf, &o, &rep, &err), 0);
    assert_int_equal(rep.rows[0].verdict, LF_VERDICT_SAME);
    assert_string_equal(rep.rows[0].method, "mwu-exact");
    assert_true(lf_compare_judged_any(&rep));
    lf_compare_report_free(&rep);
}

/* A uniformly slower machine: the report names it; --normalize roof
 * judges per GB/s of each run's roof and finds no change. */
static void test_machine_speed(void **state) {
    (void)state;
    fake_run base, cand;
    fake_init(&base, "aaaaaaaa-0000-4000-8000-000000000001", "main");
    fake_init(&cand, "bbbbbbbb-0000-4000-8000-000000000002", "main");
    for (int k = 0; k < 2; k++) {
        fake_add(&base, LF_TEST_TG, "m", 1 + k, 100, 10, 11 + (uint64_t)k)->roof_gbs = 10;
        fake_add(&cand, LF_TEST_TG, "m", 1 + k, 82, 10, 11 + (uint64_t)k)->roof_gbs = 8.2;
    }
    lf_compare_opts o = LF_COMPARE_OPTS_INIT;
    lf_compare_report rep;
    lf_error err = {0};
    assert_int_equal(lf_compare_runs(&base.rf, &cand.rf, &o, &rep, &err), 0);
    assert_int_equal(rep.n_regressions, 2);
    assert_true(fabs(rep.roof_ratio - 0.82) < 1e-9);
    char *md = render(lf_compare_write_md, &rep);
    assert_non_null(strstr(md, "the machine was 18% slower in the candidate run"));
    free(md);
    lf_compare_report_free(&rep);
    o.normalize = LF_NORM_ROOF;
    assert_int_equal(lf_compare_runs(&base.rf, &cand.rf, &o, &rep, &err), 0);
    assert_int_equal(rep.n_regressions, 0);
    assert_int_equal(rep.n_same, 2);
    assert_true(rep.rows[0].normalized);
    assert_true(fabs(rep.rows[0].ratio - 1) < 1e-9);   /* same noise seeds: equal per roof */
    assert_true(fabs(rep.rows[0].cand_median / rep.rows[0].base_median - 0.82) < 1e-9);
    char *js = render(lf_compare_write_json, &rep);
    json_t *root = json_loads(js, 0, NULL);
    assert_non_null(root);
    json_t *mach = json_object_get(root, "machine");
    assert_string_equal(json_string_value(json_object_get(mach, "normalize")), "roof");
    assert_true(fabs(json_real_value(json_object_get(mach, "roof_ratio")) - 0.82) < 1e-9);
    json_decref(root);
    free(js);
    lf_compare_report_free(&rep);
}

/* Repro of "green with nothing measured": an empty candidate judges
 * nothing (the CLI exits 3 on that). */
static void test_nothing_judged(void **state) {
    (void)state;
    fake_run base, cand;
    fake_init(&base, "aaaaaaaa-0000-4000-8000-000000000001", "main");
    fake_init(&cand, "bbbbbbbb-0000-4000-8000-000000000002", "main");
    fake_add(&base, LF_TEST_TG, "m", 1, 100, 10, 1);
    lf_compare_opts o = LF_COMPARE_OPTS_INIT;
    lf_compare_report rep;
    lf_error err = {0};
    assert_int_equal(lf_compare_runs(&base.rf, &cand.rf, &o, &rep, &err), 0);
    assert_false(lf_compare_judged_any(&rep));
    assert_int_equal(rep.n_unmatched, 1);
    char *md = render(lf_compare_write_md, &rep);
    assert_non_null(strstr(md, "nothing could be judged"));
    free(md);
    lf_compare_report_free(&rep);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_reports),
        cmocka_unit_test(test_small_n),
        cmocka_unit_test(test_machine_speed),
        cmocka_unit_test(test_nothing_judged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
