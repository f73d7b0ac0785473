/*
 * The engine as part of a result's identity: schema v4's column (old rows
 * read "localfit", old imported llama-bench rows "llama.cpp"), bundles
 * round-tripping it (and bundles from before it), llama-bench imports
 * marked llama.cpp, and the regression gate matching only the same engine.
 */
#include "bench/bench.h"
#include "tests/store/test_support.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static int setup(void **state) {
    *state = tdir_new();
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    tdir_free(*state);
    return 0;
}

static const char llama_rec[] =
    "{\"build_commit\": \"de3ff81\", \"build_number\": 1, \"cpu_info\": \"Fake CPU\", \"gpu_info\": \"\", "
    "\"backends\": \"CPU\", \"model_filename\": \"/m/stories260K-Q4_0.gguf\", \"model_type\": \"llama ?B Q4_0\", "
    "\"n_batch\": 2048, \"n_ubatch\": 512, \"n_threads\": 1, \"type_k\": \"f16\", \"type_v\": \"f16\", "
    "\"n_gpu_layers\": -1, \"flash_attn\": -1, \"n_prompt\": 0, \"n_gen\": 4, \"n_depth\": 0, "
    "\"test_time\": \"2026-12-07T00:59:02Z\", \"samples_ts\": [ 6652.1, 7178.36 ]}\n";

/* A store with one localfit run (a tg4 result) and one imported llama-bench run. */
static void fill(lf_store *st, int64_t *local_run) {
    lf_error err = {0};
    lf_run run;
    lf_store_run_init(&run);
    lf_strlcpy(run.suite, "t", sizeof run.suite);
    assert_int_equal(lf_store_run_begin(st, &run, &err), 0);
    lf_result r;
    lf_result_init(&r);
    assert_string_equal(r.engine, "localfit");   /* the default */
    r.kind = LF_TEST_TG;
    r.n_gen = 4;
    r.threads = 1;
    strcpy(r.model, "stories260K-Q4_0");
    strcpy(r.quant, "Q4_0");
    strcpy(r.kv_type, "f16");
    double s[2] = {100, 110};
    lf_stats_fill_result(s, 2, &r);
    assert_int_equal(lf_store_result_add(st, run.id, &r, s, 2, &err), 0);
    assert_int_equal(lf_store_run_finish(st, run.id, LF_RUN_COMPLETE, &err), 0);
    *local_run = run.id;
    lf_import_opts o = {0};
    lf_import_stats stats = {0};
    assert_int_equal(lf_store_import(st, "rec.jsonl", llama_rec, strlen(llama_rec), &o, &stats, &err), 0);
    assert_int_equal(stats.results_added, 1);
}

static void test_migrate_v3(void **state) {
    tdir *t = *state;
    lf_store *st = NULL;
    lf_error err = {0};
    int64_t id;
    assert_int_equal(lf_store_open(&st, t->db, 0, &err), 0);
    fill(st, &id);
    lf_store_close(st);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results WHERE engine = 'llama.cpp'"), 1);
    /* back to schema v3: no engine column (nor v5's expert columns) */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE results DROP COLUMN engine; "
                                      "ALTER TABLE results DROP COLUMN n_expert; "
                                      "ALTER TABLE results DROP COLUMN n_expert_used; "
                                      "ALTER TABLE results DROP COLUMN model_bytes; "
                                      "PRAGMA user_version = 3;",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(lf_store_open(&st, t->db, 0, &err), 0);
    assert_int_equal(lf_store_schema_found(st), 3);
    assert_true(lf_store_migrated(st));
    lf_run_full rf;
    assert_int_equal(lf_store_run_load(st, id, &rf, &err), 0);
    assert_string_equal(rf.results[0].engine, "localfit");
    lf_run_full_free(&rf);
    lf_store_close(st);
    assert_int_equal(raw_int(t->db, "PRAGMA user_version"), LF_STORE_SCHEMA_VERSION);
    /* the imported llama-bench run's row is llama.cpp's, the other localfit's */
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results r JOIN runs u ON u.id = r.run_id "
                                    "WHERE r.engine = 'llama.cpp' AND u.source = 'llama-bench'"), 1);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results WHERE engine = 'localfit'"), 1);
}

/* Removes every result's "engine" key from a bundle (one from before v4). */
static char *strip_engine(const char *text) {
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    size_t i, j;
    json_t *run, *res;
    json_array_foreach(json_object_get(doc, "runs"), i, run)
        json_array_foreach(json_object_get(run, "results"), j, res)
            assert_int_equal(json_object_del(res, "engine"), 0);
    char *out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return out;
}

static void test_bundle_round_trip(void **state) {
    tdir *t = *state;
    lf_store *st = NULL;
    lf_error err = {0};
    int64_t id;
    assert_int_equal(lf_store_open(&st, t->db, 0, &err), 0);
    fill(st, &id);
    /* a result measured by llama.cpp inside a localfit run (bench --engine) */
    lf_result r;
    lf_result_init(&r);
    r.kind = LF_TEST_PP;
    r.n_prompt = 16;
    r.threads = 1;
    strcpy(r.model, "m");
    strcpy(r.engine, "llama.cpp");
    assert_int_equal(lf_store_result_add(st, id, &r, NULL, 0, &err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(lf_store_export_bundle(st, NULL, 0, f, &err), 0);
    fclose(f);
    lf_store_close(st);
    assert_non_null(strstr(buf, "\"engine\""));
    char *old = strip_engine(buf);

    static const char *const names[2] = {"new.db", "old.db"};
    for (int k = 0; k < 2; k++) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s", t->dir, names[k]);
        assert_int_equal(lf_store_open(&st, path, 0, &err), 0);
        lf_import_opts o = {0};
        lf_import_stats stats = {0};
        const char *text = k ? old : buf;
        if (lf_store_import(st, "b.json", text, strlen(text), &o, &stats, &err) < 0)
            fail_msg("%s", err.msg);
        lf_store_close(st);
        /* the new bundle keeps llama.cpp on the result in the localfit run;
         * the old one cannot know it: localfit, as for every v3 row */
        assert_int_equal(raw_int(path, "SELECT count(*) FROM results WHERE engine = 'llama.cpp'"), k ? 1 : 2);
        assert_int_equal(raw_int(path, "SELECT count(*) FROM results r JOIN runs u ON u.id = r.run_id "
                                       "WHERE u.source = 'llama-bench' AND r.engine = 'llama.cpp'"), 1);
    }
    free(old);
    free(buf);
}

static void test_compare_engine(void **state) {
    (void)state;
    lf_result a, b;
    lf_result_init(&a);
    a.kind = LF_TEST_TG;
    a.n_gen = 128;
    a.threads = 4;
    strcpy(a.model, "m");
    strcpy(a.quant, "Q4_0");
    b = a;
    assert_true(lf_compare_same_test(&a, &b));
    strcpy(b.engine, "llama.cpp");
    assert_false(lf_compare_same_test(&a, &b));   /* never localfit against llama.cpp */
    char name[256];
    lf_compare_test_name(&b, name, sizeof name);
    assert_string_equal(name, "tg128 m Q4_0 t4 [llama.cpp]");
    lf_compare_test_name(&a, name, sizeof name);
    assert_string_equal(name, "tg128 m Q4_0 t4");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_v3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundle_round_trip, setup, teardown),
        cmocka_unit_test(test_compare_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
