/*
 * Tests for `localfit report` as a user runs it: usage and exit statuses,
 * --demo in each format, the no-gnuplot warning, and the clear failure of
 * the store-backed path until the store is wired. Runs the built binary
 * (LF_BINARY_DIR/localfit) with a fixed argv; skips when it is missing.
 */
#include "reports/reports.h"

#include "helpers.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static int setup(void **state) {
    *state = th_cli_new("rep-cli");
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    th_cli_free(*state);
    return 0;
}

static void test_usage(void **state) {
    th_cli *c = th_cli_need(state);
    assert_int_equal(th_cli_run(c, 60, "report", "--help", NULL), 0);
    char *o = th_read(c->out, NULL);
    assert_non_null(strstr(o, "usage: localfit report"));
    assert_non_null(strstr(o, "--demo"));
    free(o);
    assert_int_equal(th_cli_run(c, 60, "report", "--format", "xml", NULL), 2);
    char *e = th_read(c->err, NULL);
    assert_non_null(strstr(e, "unknown format 'xml'"));
    free(e);
    assert_int_equal(th_cli_run(c, 60, "report", "--demo", "--device", "abc", NULL), 2);
    assert_int_equal(th_cli_run(c, 60, "report", "stray", NULL), 2);
}

static void test_store_path_not_yet(void **state) {
    th_cli *c = th_cli_need(state);
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/store", c->dir);
    /* Arguments parse (--compare takes several ids); the store is not wired. */
    assert_int_equal(th_cli_run(c, 60, "report", "--compare", "a", "b", "c", "-o", dir, NULL), 1);
    char *e = th_read(c->err, NULL);
    assert_non_null(strstr(e, "--demo"));
    free(e);
}

static void test_demo_json(void **state) {
    th_cli *c = th_cli_need(state);
    char dir[4300], want[4400];
    snprintf(dir, sizeof dir, "%s/json", c->dir);
    assert_int_equal(th_cli_run(c, 60, "report", "--demo", "--format", "json", "--no-plots", "-o", dir,
                         NULL), 0);
    snprintf(want, sizeof want, "%s/report.json\n", dir);
    char *o = th_read(c->out, NULL);
    assert_string_equal(o, want);
    free(o);
    snprintf(want, sizeof want, "%s/report.json", dir);
    json_t *j = json_load_file(want, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "schema")), "localfit.report/1");
    assert_true(json_is_true(json_object_get(j, "sample")));
    assert_true(json_array_size(json_object_get(j, "results")) > 10);
    const char *v = json_string_value(json_object_get(j, "tool_version"));
    assert_non_null(v);
    assert_string_not_equal(v, "sample");   /* the CLI stamps its own version */
    json_decref(j);
}

static void test_demo_without_gnuplot(void **state) {
    th_cli *c = th_cli_need(state);
    char dir[4300], p[4400];
    snprintf(dir, sizeof dir, "%s/html", c->dir);
    assert_int_equal(th_cli_run(c, 60, "report", "--demo", "--gnuplot", "/nonexistent", "-o", dir, NULL), 0);
    char *e = th_read(c->err, NULL);
    assert_non_null(strstr(e, "report without plots"));
    free(e);
    snprintf(p, sizeof p, "%s/report.html", dir);
    char *html = th_read(p, NULL);
    assert_non_null(html);
    assert_non_null(strstr(html, "SAMPLE DATA"));
    assert_non_null(strstr(html, "gnuplot is not available"));
    free(html);
    /* -q keeps the warning out of stderr (it stays in the report). */
    assert_int_equal(th_cli_run(c, 60, "report", "--demo", "-q", "--gnuplot", "/nonexistent", "--format",
                         "md", "-o", dir, NULL), 0);
    e = th_read(c->err, NULL);
    assert_string_equal(e, "");
    free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_path_not_yet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demo_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demo_without_gnuplot, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
