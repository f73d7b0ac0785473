/*
 * `localfit recommend`, `report` and `sweep` as a user runs them, on a
 * hand-built database (fixture_db.c): --device by slug, --validate's table
 * and median error, --json's calibration count, a --min-tps nothing meets,
 * unknown devices and usage errors, a report from the store in markdown,
 * the --demo hint when there is no database; a sweep of the real
 * stories260K file with a tiny context (skipped when the model or the
 * binary is missing) and of a small catalog model. Runs the built binary
 * with a fixed argv.
 */
#include "fixture_db.h"

#include "../reports/helpers.h"
#include "catalog/catalog.h"
#include "recommend/recommend.h"

#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define MODEL "qwen2.5-0.5b-instruct"

static int setup(void **state) {
    *state = th_cli_new("cli-glue");
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    th_cli_free(*state);
    return 0;
}

static void test_recommend_from_store(void **state) {
    th_cli *c = th_cli_need(state);
    fx_build_db(c->db, true);
    /* --validate: every configuration predicted from the others */
    assert_int_equal(th_cli_run(c, 60, "recommend", "--db", c->db, "--device", "test-cpu-2c",
                         "--validate", NULL), 0);
    char *o = th_read(c->out, NULL);
    assert_non_null(strstr(o, "Leave-one-out validation on test-cpu-2c"));
    assert_non_null(strstr(o, "smollm2-360m-instruct"));
    assert_non_null(strstr(o, "tg32 t1"));
    assert_non_null(strstr(o, "median absolute error: tg"));
    free(o);
    assert_int_equal(th_cli_run(c, 60, "recommend", "--db", c->db, "--device", "00aa11",
                         "--validate", "--json", NULL), 0);
    json_t *j = json_load_file(c->out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "observations")), 36);
    assert_int_equal(json_array_size(json_object_get(j, "rows")), 36);
    /* planted 60% efficiency with +-3% noise: the class fits predict well */
    double med = json_number_value(json_object_get(j, "median_abs_pct_tg"));
    assert_true(med >= 0 && med < 10.0);
    json_decref(j);

    /* a recommendation calibrated on the store */
    assert_int_equal(th_cli_run(c, 60, "recommend", "--db", c->db, "--device", "test-cpu-2c",
                         "--context", "2048", "--json", NULL), 0);
    j = json_load_file(c->out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "observations")), 36);
    json_t *w = json_object_get(j, "winner");
    assert_true(json_is_object(w));
    const char *src = json_string_value(json_object_get(json_object_get(w, "tg"), "source"));
    assert_non_null(src);
    assert_true(!strcmp(src, "calibrated") || !strcmp(src, "measured"));
    json_decref(j);

    /* text: the calibration summary and a constraint nothing meets (exit
     * status 1: nothing to recommend) */
    assert_int_equal(th_cli_run(c, 60, "recommend", "--db", c->db, "--device", "test-cpu-2c",
                         "--min-tps", "100000", NULL), 1);
    o = th_read(c->out, NULL);
    assert_non_null(strstr(o, "Calibration: 36 observations of this device"));
    assert_non_null(strstr(o, "decode efficiency: "));
    assert_non_null(strstr(o, "Nothing fits"));
    assert_non_null(strstr(o, "< 100000"));
    free(o);

    /* unknown device, bad combinations */
    assert_int_equal(th_cli_run(c, 60, "recommend", "--db", c->db, "--device", "ffff", NULL), 1);
    char *e = th_read(c->err, NULL);
    assert_non_null(strstr(e, "test-cpu-2c"));
    free(e);
    assert_int_equal(th_cli_run(c, 60, "recommend", "--gpu", "4090", "--device", "x", NULL), 2);
    assert_int_equal(th_cli_run(c, 60, "recommend", "--bandwidth", "100", NULL), 2);
    assert_int_equal(th_cli_run(c, 60, "recommend", "--validate", "--gpu", "4090", NULL), 2);
}

static void test_report_from_store(void **state) {
    th_cli *c = th_cli_need(state);
    fx_build_db(c->db, true);
    char dir[4300], p[4400];
    snprintf(dir, sizeof dir, "%s/rep", c->dir);
    assert_int_equal(th_cli_run(c, 60, "report", "--db", c->db, "--device", "test-cpu-2c", "--format",
                         "md", "--no-plots", "-o", dir, NULL), 0);
    snprintf(p, sizeof p, "%s/report.md\n", dir);
    char *o = th_read(c->out, NULL);
    assert_string_equal(o, p);
    free(o);
    snprintf(p, sizeof p, "%s/report.md", dir);
    char *md = th_read(p, NULL);
    assert_non_null(md);
    assert_non_null(strstr(md, "localfit capability report: test-cpu-2c"));
    assert_non_null(strstr(md, "smollm2-360m-instruct"));
    assert_non_null(strstr(md, "calibrated on 36 stored observations"));
    free(md);
    /* no database: says so and points at --demo */
    snprintf(p, sizeof p, "%s/none/results.db", c->dir);
    assert_int_equal(th_cli_run(c, 60, "report", "--db", p, "-o", dir, NULL), 1);
    char *e = th_read(c->err, NULL);
    assert_non_null(strstr(e, "--demo"));
    free(e);
}

static char *model_path(const char *name) {
    const char *dir = getenv("LOCALFIT_TEST_MODELS");
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/%s", dir && *dir ? dir : LF_SOURCE_DIR "/../shared/models", name);
    return p;
}

/* A real file: every level quantized, benchmarked and scored on text. */
static void test_sweep_gguf(void **state) {
    th_cli *c = th_cli_need(state);
    char *model = model_path("stories260K.gguf");
    const char *ds = getenv("LOCALFIT_TEST_DATASETS");
    char text[4096];
    snprintf(text, sizeof text, "%s/tinystories_val.txt",
             ds && *ds ? ds : LF_SOURCE_DIR "/../shared/datasets");
    if (!th_exists(model) || !th_exists(text)) {
        print_message("%s or %s missing: skipping\n", model, text);
        free(model);
        skip();
    }
    assert_int_equal(th_cli_run(c, 240, "sweep", model, "--quants", "Q8_0,q4_0", "-f", text, "--ctx",
                         "32", "--chunks", "2", "-p", "16", "-n", "8", "-t", "1", "--db", c->db,
                         "--json", NULL), 0);
    json_t *j = json_load_file(c->out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "source")), "gguf");
    assert_string_equal(json_string_value(json_object_get(j, "tokens")), "text");
    json_t *lv = json_object_get(j, "levels");
    assert_int_equal(json_array_size(lv), 3);   /* the file's own F32, Q8_0, Q4_0 */
    const char *names[3] = {"F32", "Q8_0", "Q4_0"};
    double kld[3], size[3];
    for (int i = 0; i < 3; i++) {
        json_t *l = json_array_get(lv, (size_t)i);
        assert_string_equal(json_string_value(json_object_get(l, "quant")), names[i]);
        kld[i] = json_number_value(json_object_get(l, "kld"));
        size[i] = json_number_value(json_object_get(l, "size_bytes"));
        assert_true(json_number_value(json_object_get(l, "tg")) > 0);
        assert_true(json_number_value(json_object_get(l, "pp")) > 0);
        assert_true(json_number_value(json_object_get(l, "ppl")) > 1);
    }
    /* the base against itself, then more loss with fewer bits */
    assert_true(kld[0] == 0);
    assert_true(kld[1] > 0 && kld[2] > kld[1]);
    assert_true(size[0] > size[1] && size[1] > size[2]);
    assert_true(json_is_string(json_object_get(j, "recommended")));
    char uuid[64];
    assert_true(json_is_string(json_object_get(j, "run")));
    lf_strlcpy(uuid, json_string_value(json_object_get(j, "run")), sizeof uuid);
    json_decref(j);

    /* stored: one run of suite sweep, results under the file's name, and a
     * quality row per level */
    lf_store *st;
    lf_error err = {0};
    assert_int_equal(lf_store_open(&st, c->db, LF_STORE_READONLY, &err), 0);
    lf_run r;
    assert_int_equal(lf_store_run_find(st, uuid, &r, &err), 0);
    assert_string_equal(r.suite, "sweep");
    lf_run_full rf;
    assert_int_equal(lf_store_run_load(st, r.id, &rf, &err), 0);
    assert_int_equal(rf.n_results, 6);   /* pp and tg of 3 levels */
    for (int i = 0; i < rf.n_results; i++) {
        assert_string_equal(rf.results[i].model, "stories260K");
        assert_true(!strcmp(rf.results[i].quant, "F32") || !strcmp(rf.results[i].quant, "Q8_0") ||
                    !strcmp(rf.results[i].quant, "Q4_0"));
    }
    assert_int_equal(rf.n_quality, 3);
    lf_run_full_free(&rf);
    lf_store_close(st);
    free(model);

    /* usage errors */
    assert_int_equal(th_cli_run(c, 60, "sweep", NULL), 2);
    assert_int_equal(th_cli_run(c, 60, "sweep", "qwen2.5-0.5b-instruct", "-f", text, NULL), 2);
    assert_int_equal(th_cli_run(c, 60, "sweep", "stories260K.gguf", "--quants", "Q9_9", NULL), 2);
}

/* A catalog model: synthesized per level, published quality. */
static void test_sweep_catalog(void **state) {
    th_cli *c = th_cli_need(state);
    assert_int_equal(th_cli_run(c, 240, "sweep", "smollm2-135m", "--quants", "Q4_0", "-p", "8", "-n",
                         "4", "-t", "1", "--no-store", "--json", "--min-tps", "0.001", NULL), 0);
    json_t *j = json_load_file(c->out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "model")), "smollm2-135m-instruct");
    assert_string_equal(json_string_value(json_object_get(j, "quality_source")),
                        "published (Llama-3-8B)");
    json_t *l = json_array_get(json_object_get(j, "levels"), 0);
    lf_catalog *cat;
    lf_error err = {0};
    assert_int_equal(lf_catalog_load(&cat, fx_datadir(), &err), 0);
    assert_true(json_number_value(json_object_get(l, "kld")) ==
                lf_catalog_find_quant(cat, "Q4_0")->kld);
    lf_catalog_free(cat);
    assert_true(json_number_value(json_object_get(l, "tg")) > 0);
    assert_string_equal(json_string_value(json_object_get(j, "recommended")), "Q4_0");
    assert_true(json_is_null(json_object_get(j, "run")));
    json_decref(j);
}

/* `run` itself takes minutes (probe + bench): only its argument handling
 * runs here; its steps are the libraries tested above. */
static void test_run_usage(void **state) {
    th_cli *c = th_cli_need(state);
    assert_int_equal(th_cli_run(c, 60, "run", "--help", NULL), 0);
    char *o = th_read(c->out, NULL);
    assert_non_null(strstr(o, "usage: localfit run"));
    free(o);
    assert_int_equal(th_cli_run(c, 60, "run", "stray", NULL), 2);
    assert_int_equal(th_cli_run(c, 60, "run", "--memory-fraction", "2", NULL), 2);
    /* an unknown suite fails before anything is probed or stored */
    assert_int_equal(th_cli_run(c, 60, "run", "--suite", "no-such-suite", "--db", c->db, NULL), 1);
    char *e = th_read(c->err, NULL);
    assert_non_null(strstr(e, "no-such-suite"));
    free(e);
    assert_false(th_exists(c->db));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recommend_from_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_from_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_gguf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_catalog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_usage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
