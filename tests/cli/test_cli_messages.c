/*
 * The messages a user meets first, from the built `localfit` run as a
 * separate process (a fixed argv, no shell): a bad option is named once
 * (no second line from getopt) and a missing value is told apart from an
 * unknown option; a key is not repeated ("threads: threads:"); "1 variant"
 * is singular; `runs --device` names a device it does not know; a
 * directory given as a model or an import file is called a directory; and
 * `db check` on a damaged database shows integrity_check's lines and how to
 * recover rather than pointing at itself. Skips when the binary is missing.
 */
#include "fixture_db.h"

#include "../hardening/cli_run.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* Runs localfit with args (NULL-terminated) and LOCALFIT_DB in the test's
 * directory; the caller frees o. */
static int run(cli_scratch *c, cli_out *o, const char *const *args) {
    char env_db[160];
    snprintf(env_db, sizeof env_db, "LOCALFIT_DB=%s", c->db);
    const char *env[] = {env_db, NULL};
    return cli_run(o, env, args);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_bad_option_named_once(void **state) {
    cli_need_binary();
    cli_scratch *c = *state;
    cli_out o;
    /* an unknown long option: one line naming it, nothing from getopt */
    assert_int_equal(run(c, &o, (const char *[]){"bench", "--bogus", NULL}), 2);
    assert_non_null(strstr(o.err, "localfit bench: unknown option '--bogus'"));
    assert_null(strstr(o.err, "unrecognized"));
    assert_int_equal(count_lines(o.err), 2);   /* the message and "Try ... --help" */
    cli_out_free(&o);
    /* a known option without its value says so */
    assert_int_equal(run(c, &o, (const char *[]){"bench", "--suite", NULL}), 2);
    assert_non_null(strstr(o.err, "option '--suite' needs a value"));
    assert_null(strstr(o.err, "requires an argument"));
    assert_null(strstr(o.err, "unknown option"));
    cli_out_free(&o);
    /* short options: unknown, and missing a value */
    assert_int_equal(run(c, &o, (const char *[]){"runs", "-Z", NULL}), 2);
    assert_non_null(strstr(o.err, "unknown option '-Z'"));
    assert_null(strstr(o.err, "invalid option"));
    cli_out_free(&o);
    assert_int_equal(run(c, &o, (const char *[]){"generate", "-m", NULL}), 2);
    assert_non_null(strstr(o.err, "option '-m' needs a value"));
    cli_out_free(&o);
    /* a command whose options go through a helper, and one with a
     * subcommand before its options */
    assert_int_equal(run(c, &o, (const char *[]){"recommend", "--nosuch=3", NULL}), 2);
    assert_non_null(strstr(o.err, "unknown option '--nosuch'"));
    cli_out_free(&o);
    assert_int_equal(run(c, &o, (const char *[]){"gguf", "info", "--tensor", NULL}), 2);
    assert_non_null(strstr(o.err, "option '--tensor' needs a value"));
    cli_out_free(&o);
}

static void test_key_named_once(void **state) {
    cli_need_binary();
    cli_scratch *c = *state;
    cli_out o;
    assert_int_equal(run(c, &o, (const char *[]){"bench", "-t", "abc", "--no-store", NULL}), 2);
    assert_non_null(strstr(o.err, "threads: 'abc'"));
    assert_null(strstr(o.err, "threads: threads:"));
    cli_out_free(&o);
    assert_int_equal(run(c, &o, (const char *[]){"bench", "-r", "x", "--no-store", NULL}), 2);
    assert_non_null(strstr(o.err, "reps: 'x'"));
    assert_null(strstr(o.err, "reps: reps:"));
    cli_out_free(&o);
}

static void test_one_variant_singular(void **state) {
    cli_need_binary();
    cli_scratch *c = *state;
    char model[128];
    snprintf(model, sizeof model, "%s/tiny.gguf", c->dir);
    cli_out o;
    assert_int_equal(run(c, &o, (const char *[]){"synth", "--layers", "2", "--dim", "64",
                                                 "--heads", "4", "--ff", "128", "--vocab",
                                                 "320", "-q", "F32", "-o", model, NULL}),
                     0);
    cli_out_free(&o);
    assert_int_equal(run(c, &o, (const char *[]){"quality", "-m", model, "-q", "Q8_0",
                                                 "--generated", "--chunks", "1", "-c", "32",
                                                 "-t", "1", NULL}),
                     0);
    assert_non_null(strstr(o.err, "1 variant scored"));
    assert_null(strstr(o.err, "1 variants"));
    cli_out_free(&o);
}

static void test_runs_unknown_device_named(void **state) {
    cli_need_binary();
    cli_scratch *c = *state;
    lf_store *st;
    lf_error err = {0};
    assert_int_equal(lf_store_open(&st, c->db, 0, &err), 0);
    double bw[1] = {10.0};
    lf_device d;
    fx_device(&d, "00aa11bb22cc33dd", "test-cpu-1c", 1, bw);
    fx_put_device(st, &d);
    fx_run(st, d.id, "abc", 1700000000000);
    lf_store_close(st);
    cli_out o;
    assert_int_equal(run(c, &o, (const char *[]){"runs", "--device", "nosuch", NULL}), 1);
    assert_non_null(strstr(o.err, "'nosuch'"));
    assert_non_null(strstr(o.err, "test-cpu-1c"));   /* and what there is */
    cli_out_free(&o);
    /* the slug and an id prefix select the device's runs, as elsewhere */
    assert_int_equal(run(c, &o, (const char *[]){"runs", "--device", "test-cpu-1c", NULL}), 0);
    assert_non_null(strstr(o.out, "test-cpu-1c"));
    cli_out_free(&o);
    assert_int_equal(run(c, &o, (const char *[]){"runs", "--device", "00aa11", NULL}), 0);
    assert_non_null(strstr(o.out, "test-cpu-1c"));
    cli_out_free(&o);
}

static void test_directory_said(void **state) {
    cli_need_binary();
    cli_scratch *c = *state;
    cli_out o;
    assert_int_equal(run(c, &o, (const char *[]){"import", c->dir, NULL}), 1);
    assert_non_null(strstr(o.err, "is a directory"));
    cli_out_free(&o);
    assert_int_equal(run(c, &o, (const char *[]){"generate", "-m", c->dir, "-n", "1", NULL}), 1);
    assert_non_null(strstr(o.err, "is a directory"));
    cli_out_free(&o);
    assert_int_equal(run(c, &o, (const char *[]){"gguf", "info", c->dir, NULL}), 1);
    assert_non_null(strstr(o.err, "is a directory"));
    cli_out_free(&o);
}

static void test_db_check_damaged(void **state) {
    cli_need_binary();
    cli_scratch *c = *state;
    /* enough rows for several b-tree pages, then pages past the schema
     * overwritten: integrity_check finds it, later checks fail on it */
    lf_store *st;
    lf_error err = {0};
    assert_int_equal(lf_store_open(&st, c->db, 0, &err), 0);
    double bw[1] = {10.0};
    lf_device d;
    fx_device(&d, "00aa11bb22cc33dd", "test-cpu-1c", 1, bw);
    fx_put_device(st, &d);
    int64_t runid = fx_run(st, d.id, "abc", 1700000000000);
    for (int i = 0; i < 60; i++) {
        lf_result r = fx_res(LF_TEST_TG, "qwen2.5-0.5b-instruct", "Q4_0", 1, 16 + i, 10.0 + i);
        fx_add(st, runid, &r);
    }
    lf_store_close(st);
    cli_out o;
    assert_int_equal(run(c, &o, (const char *[]){"db", "check", NULL}), 0);   /* sound first */
    cli_out_free(&o);
    FILE *f = fopen(c->db, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    assert_true(size > 8 * 4096);
    unsigned char junk[2000];
    for (size_t i = 0; i < sizeof junk; i += 2) {
        junk[i] = 0x00;
        junk[i + 1] = 0x07;   /* cell offsets pointing into the page header */
    }
    for (long page = 4; (page + 1) * 4096 <= size; page += 2) {
        fseek(f, page * 4096 + 10, SEEK_SET);
        fwrite(junk, 1, sizeof junk, f);
    }
    fclose(f);
    assert_int_equal(run(c, &o, (const char *[]){"db", "check", NULL}), 1);
    const char *all = o.err;
    assert_null(strstr(all, "see `localfit db check`"));   /* not itself */
    assert_non_null(strstr(all, ".recover"));
    assert_non_null(strstr(all, ".bak"));
    /* integrity_check's own lines: on stdout as the check's result, or
     * on stderr before the recovery when a later check failed */
    assert_true(strstr(o.out, "page") || strstr(o.err, "integrity_check:"));
    cli_out_free(&o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_option_named_once, cli_scratch_setup, cli_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_key_named_once, cli_scratch_setup, cli_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_one_variant_singular, cli_scratch_setup, cli_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_runs_unknown_device_named, cli_scratch_setup, cli_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_directory_said, cli_scratch_setup, cli_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_db_check_damaged, cli_scratch_setup, cli_scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
