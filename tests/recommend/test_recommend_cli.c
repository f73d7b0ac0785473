/*
 * `localfit recommend` as a user runs it (the built binary, a fixed argv,
 * a hand-built database from tests/cli/fixture_db.c), for what a new user
 * ran into: nothing fitting exits 1 and names the nearest miss; an unknown
 * --task or --license is a usage error listing the catalog's values; the
 * rejected list is summarised by reason unless --all; "0 observations"
 * says why; and the noise checks: a bandwidth far from the device's
 * stored median is named (lf_device_noise, lf_device_stored_bandwidth),
 * and a prediction whose interval straddles --min-tps is marked. Skips
 * when the binary is missing.
 */
#include "../cli/fixture_db.h"
#include "../hardening/cli_run.h"

#include "bench/bench.h"
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
#include <unistd.h>
#include <cmocka.h>

/* Runs localfit with the catalog of this source tree (c: for symmetry with
 * the database the args name). */
static int run(cli_scratch *c, cli_out *o, const char *const *args) {
    (void)c;
    char env[4200];
    snprintf(env, sizeof env, "LOCALFIT_DATADIR=%s", fx_datadir());
    const char *e[] = {env, NULL};
    return cli_run(o, e, args);
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_nothing_fits_nearest_miss(void **state) {
    cli_need_binary();
    cli_scratch *c = *state;
    fx_build_db(c->db, true);
    cli_out o;
    /* a floor nothing meets: exit 1, the nearest miss named */
    assert_int_equal(run(c, &o, (const char *[]){"recommend", "--db", c->db, "--device",
                                                 "test-cpu-2c", "--min-tps", "100000", NULL}),
                     1);
    assert_non_null(strstr(o.out, "Nothing fits"));
    const char *near = strstr(o.out, "Nearest miss: ");
    assert_non_null(near);
    assert_non_null(strstr(near, "< 100000"));
    /* summarised: counts by reason and a few closest, not every row */
    assert_non_null(strstr(o.out, "by reason"));
    assert_non_null(strstr(o.out, "decode speed"));
    assert_non_null(strstr(o.out, "nearest misses:"));
    size_t summarised = count(o.out, "< 100000");
    assert_true(summarised <= 8);
    cli_out_free(&o);
    /* --all lists them all */
    assert_int_equal(run(c, &o, (const char *[]){"recommend", "--db", c->db, "--device",
                                                 "test-cpu-2c", "--min-tps", "100000", "--all",
                                                 NULL}),
                     1);
    assert_true(count(o.out, "< 100000") > 50);
    assert_null(strstr(o.out, "by reason"));
    cli_out_free(&o);
    /* JSON: the same exit status and the nearest miss as an object */
    assert_int_equal(run(c, &o, (const char *[]){"recommend", "--db", c->db, "--device",
                                                 "test-cpu-2c", "--min-tps", "100000", "--json",
                                                 NULL}),
                     1);
    json_t *j = json_loads(o.out, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "winner")));
    json_t *nm = json_object_get(j, "nearest_miss");
    assert_true(json_is_object(nm));
    /* the nearest is the fastest decoder of all: no rejected one is closer */
    double best_tg = json_number_value(json_object_get(json_object_get(nm, "tg"), "value"));
    json_t *rej = json_object_get(j, "rejected");
    size_t i;
    json_t *e;
    json_array_foreach(rej, i, e) {
        const char *why = json_string_value(json_object_get(e, "reason"));
        if (why && !strchr(why, ';'))   /* failing the floor alone */
            assert_true(json_number_value(json_object_get(json_object_get(e, "tg"), "value")) <=
                        best_tg + 1e-9);
    }
    json_decref(j);
    cli_out_free(&o);
}

static void test_unknown_task_license(void **state) {
    cli_need_binary();
    cli_scratch *c = *state;
    cli_out o;
    assert_int_equal(run(c, &o, (const char *[]){"recommend", "--no-store", "--task", "chatt",
                                                 NULL}),
                     2);
    assert_non_null(strstr(o.err, "'chatt'"));
    assert_non_null(strstr(o.err, "valid: "));
    assert_non_null(strstr(o.err, "chat"));
    assert_non_null(strstr(o.err, "code"));
    cli_out_free(&o);
    assert_int_equal(run(c, &o, (const char *[]){"recommend", "--no-store", "--license",
                                                 "mit,nosuch-license", NULL}),
                     2);
    assert_non_null(strstr(o.err, "'nosuch-license'"));
    assert_non_null(strstr(o.err, "apache-2.0"));
    cli_out_free(&o);
}

static void test_zero_observations_say_why(void **state) {
    cli_need_binary();
    cli_scratch *c = *state;
    fx_build_db(c->db, false);
    cli_out o;
    run(c, &o, (const char *[]){"recommend", "--db", c->db, "--device", "test-cpu-2c", NULL});
    assert_non_null(strstr(o.out, "Calibration: 0 observations"));
    assert_non_null(strstr(o.out, "2 stored results"));
    assert_non_null(strstr(o.out, "not used for calibration"));
    assert_non_null(strstr(o.out, "bench --suite quick"));
    cli_out_free(&o);
}

static void test_noise_named(void **state) {
    (void)state;
    char msg[256];
    /* within 25% of the stored figure: quiet */
    assert_false(lf_device_noise(3.5, 4.0, msg, sizeof msg));
    assert_string_equal(msg, "");
    assert_false(lf_device_noise(4.99, 4.0, msg, sizeof msg));
    assert_false(lf_device_noise(4.0, 0.0, msg, sizeof msg));   /* nothing stored */
    /* half the stored figure: said, with both figures */
    assert_true(lf_device_noise(2.0, 4.0, msg, sizeof msg));
    assert_non_null(strstr(msg, "2.0 GB/s"));
    assert_non_null(strstr(msg, "50% below"));
    assert_non_null(strstr(msg, "4.0 GB/s"));
    assert_true(lf_device_noise(5.5, 4.0, msg, sizeof msg));
    assert_non_null(strstr(msg, "38% above"));
}

static void test_stored_bandwidth_median(void **state) {
    cli_scratch *c = *state;
    lf_store *st;
    lf_error err = {0};
    assert_int_equal(lf_store_open(&st, c->db, 0, &err), 0);
    assert_true(lf_device_stored_bandwidth(st, "00aa11bb22cc33dd") == 0);   /* unknown */
    double bw[2] = {12.0, 20.0};
    lf_device d;
    fx_device(&d, "00aa11bb22cc33dd", "test-cpu-2c", 2, bw);
    fx_put_device(st, &d);
    assert_true(fabs(lf_device_stored_bandwidth(st, d.id) - 20.0) < 1e-9);   /* the profile */
    int64_t run = fx_run(st, d.id, "abc", 1700000000000);
    double roofs[3] = {10.0, 11.0, 30.0};
    for (int i = 0; i < 3; i++) {
        lf_result r = fx_res(LF_TEST_TG, "qwen2.5-0.5b-instruct", "Q4_0", 2, 32 + i, 50.0);
        r.roof_gbs = roofs[i];
        fx_add(st, run, &r);
    }
    /* median of {20, 10, 11, 30} */
    assert_true(fabs(lf_device_stored_bandwidth(st, d.id) - 15.5) < 1e-9);
    lf_store_close(st);
}

static void test_straddling_marked(void **state) {
    cli_need_binary();
    cli_scratch *c = *state;
    fx_build_db(c->db, true);
    cli_out o;
    assert_int_equal(run(c, &o, (const char *[]){"recommend", "--db", c->db, "--device",
                                                 "test-cpu-2c", "--min-tps", "0", "--json",
                                                 NULL}),
                     0);
    json_t *j = json_loads(o.out, 0, NULL);
    assert_non_null(j);
    json_t *tg = json_object_get(json_object_get(j, "winner"), "tg");
    double v = json_number_value(json_object_get(tg, "value"));
    double lo = json_number_value(json_object_get(tg, "lo"));
    assert_true(lo < v);
    json_decref(j);
    cli_out_free(&o);
    /* a floor between the winner's low end and its value: it still fits,
     * and is marked */
    char floor_s[32];
    snprintf(floor_s, sizeof floor_s, "%.6g", (lo + v) / 2);
    assert_int_equal(run(c, &o, (const char *[]){"recommend", "--db", c->db, "--device",
                                                 "test-cpu-2c", "--min-tps", floor_s, "--json",
                                                 NULL}),
                     0);
    j = json_loads(o.out, 0, NULL);
    assert_non_null(j);
    json_t *w = json_object_get(j, "winner");
    assert_true(json_is_true(json_object_get(w, "straddles_min_tps")));
    json_decref(j);
    cli_out_free(&o);
    assert_int_equal(run(c, &o, (const char *[]){"recommend", "--db", c->db, "--device",
                                                 "test-cpu-2c", "--min-tps", floor_s, NULL}),
                     0);
    assert_non_null(strstr(o.out, "~ the interval reaches below --min-tps"));
    cli_out_free(&o);
    /* no floor: nothing is marked */
    assert_int_equal(run(c, &o, (const char *[]){"recommend", "--db", c->db, "--device",
                                                 "test-cpu-2c", "--min-tps", "0", NULL}),
                     0);
    assert_null(strstr(o.out, "~ the interval"));
    cli_out_free(&o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nothing_fits_nearest_miss, cli_scratch_setup, cli_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_task_license, cli_scratch_setup, cli_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_zero_observations_say_why, cli_scratch_setup, cli_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_noise_named, cli_scratch_setup, cli_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_stored_bandwidth_median, cli_scratch_setup, cli_scratch_teardown),
        cmocka_unit_test_setup_teardown(test_straddling_marked, cli_scratch_setup, cli_scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
