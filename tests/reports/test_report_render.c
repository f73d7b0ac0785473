/*
 * How the report looks, for what a new user saw (issue 17, item 15): a
 * throughput chart that caps its series says so; a very long model name is
 * cut to a chart label with an ellipsis; a chart with one thread count has
 * a range to draw in; markdown shows `commands` as code spans, not
 * backslash-escaped backquotes, and HTML as <code>; a result above 100% of
 * its roof is marked and explained; a device comparison with nothing in
 * common shows no empty table; a quality row of a collapsed level
 * ("Q6_K=Q8_0") is explained under its table. The scripts are read
 * from a stand-in gnuplot that records its input (no gnuplot needed); the
 * one-thread chart is also drawn by the real gnuplot when it is installed.
 */
#include "helpers.h"
#include "reports/reports.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static lf_report_result mk(const char *model, const char *quant, int threads, double v) {
    return (lf_report_result){.device_id = "dev0", .model = model, .quant = quant, .test = "tg",
                              .threads = threads, .n_gen = 64, .value = v, .ci_low = v * 0.98,
                              .ci_high = v * 1.02, .bytes_per_token = 5e8,
                              .roofline_fraction = 0.5, .flops_per_token = NAN,
                              .weight_bytes = 500000000, .bits_per_weight = 4.5,
                              .commit = "abc", .timestamp = 1700000000};
}

static char *path_in(const char *dir, const char *name) {
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

/* Renders in as fmt with a stand-in gnuplot; returns the recorded gnuplot
 * input (malloc'd) and the report's text in *doc (malloc'd). */
static char *render(const lf_report_input *in, lf_report_format fmt, char **doc) {
    char *dir = th_tempdir("rep-render");
    assert_non_null(dir);
    char *out = path_in(dir, "out"), *capture = path_in(dir, "stream.gp");
    char *fake = path_in(dir, "fake-gnuplot");
    char script[4200];
    snprintf(script, sizeof script, "#!/bin/sh\nexec /bin/cat >> '%s'\n", capture);
    assert_true(th_write(fake, script, true));
    lf_report_opts opts = {.gnuplot = fake, .quiet = true};
    lf_error err = {0};
    char path[4096];
    lf_report_write(in, fmt, out, &opts, path, sizeof path, &err);
    *doc = th_read(path, NULL);
    assert_non_null(*doc);
    char *stream = th_read(capture, NULL);
    if (!stream)
        stream = strdup("");
    th_rmtree(dir);
    free(dir);
    free(out);
    free(capture);
    free(fake);
    return stream;
}

static const lf_report_bw_point one_point[] = {{2, 18.0}};

static void test_capped_series_said(void **state) {
    (void)state;
    /* a sweep: one model at 11 quantization levels */
    static const char *quants[11] = {"Q2_K", "Q3_K_S", "Q3_K_M", "Q4_0", "Q4_K_S", "Q4_K_M",
                                     "Q5_0", "Q5_K_M", "Q6_K", "Q8_0", "F16"};
    lf_report_result res[11];
    for (int i = 0; i < 11; i++)
        res[i] = mk("model-a", quants[i], 2, 10.0 + i);
    lf_report_device dev = {"dev0", "test-dev", NULL, 0, 20.0, NAN, NAN, one_point, 1};
    lf_report_input in = {.title = "t", .generated = 1700000000, .tool_version = "t",
                          .devices = &dev, .n_devices = 1, .results = res, .n_results = 11};
    char *doc;
    char *gp = render(&in, LF_REPORT_MD, &doc);
    const char *tp = strstr(gp, "# localfit report: throughput-tg");
    assert_non_null(tp);
    assert_non_null(strstr(tp, "3 more quantizations not drawn"));
    free(gp);
    free(doc);
}

static void test_long_name_cut(void **state) {
    (void)state;
    char name[501];
    memset(name, 'm', 500);
    name[500] = '\0';
    lf_report_result res[2] = {mk(name, "Q4_0", 1, 10.0), mk(name, "Q4_0", 2, 18.0)};
    lf_report_device dev = {"dev0", "test-dev", NULL, 0, 20.0, NAN, NAN, NULL, 0};
    lf_report_input in = {.title = "t", .generated = 1700000000, .tool_version = "t",
                          .devices = &dev, .n_devices = 1, .results = res, .n_results = 2};
    char *doc;
    char *gp = render(&in, LF_REPORT_MD, &doc);
    assert_true(strlen(gp) > 0);
    char run41[42];
    memset(run41, 'm', 41);
    run41[41] = '\0';
    assert_null(strstr(gp, run41));   /* no label longer than 40 characters */
    char cut[64];
    memset(cut, 'm', 39);
    strcpy(cut + 39, "\xe2\x80\xa6'");
    assert_non_null(strstr(gp, cut));   /* cut with an ellipsis */
    assert_non_null(strstr(doc, name));   /* the tables keep it whole */
    free(gp);
    free(doc);
}

static void test_one_thread_count_has_range(void **state) {
    (void)state;
    lf_report_result res[1] = {mk("model-a", "Q4_0", 2, 10.0)};
    lf_report_device dev = {"dev0", "test-dev", NULL, 0, 20.0, NAN, NAN, one_point, 1};
    lf_report_input in = {.title = "t", .generated = 1700000000, .tool_version = "t",
                          .devices = &dev, .n_devices = 1, .results = res, .n_results = 1};
    char *doc;
    char *gp = render(&in, LF_REPORT_MD, &doc);
    const char *th = strstr(gp, "# localfit report: threads");
    assert_non_null(th);
    assert_non_null(strstr(th, "set xrange [1:4]"));
    assert_non_null(strstr(th, "one thread count measured (2)"));
    assert_non_null(strstr(th, "$t0 using 1:2"));   /* the result drawn, not only the curve */
    free(gp);
    free(doc);
}

static void test_commands_as_code(void **state) {
    (void)state;
    lf_report_input in = {.title = "empty", .tool_version = "t", .generated = 1700000000};
    char *doc;
    char *gp = render(&in, LF_REPORT_MD, &doc);
    assert_null(strstr(doc, "\\`"));   /* no backslash-escaped backquote */
    assert_non_null(strstr(doc, "`localfit probe`"));
    free(gp);
    free(doc);
    gp = render(&in, LF_REPORT_HTML, &doc);
    assert_non_null(strstr(doc, "<code>localfit probe</code>"));
    assert_null(strstr(doc, "`localfit probe`"));
    free(gp);
    free(doc);
    /* hostile text stays text: an unpaired or non-ASCII span is escaped */
    char *md = lf_report_escape_md("a `b");
    assert_string_equal(md, "a \\`b");
    free(md);
}

static void test_over_roof_explained(void **state) {
    (void)state;
    lf_report_result res[2] = {mk("tiny", "Q4_0", 2, 900.0), mk("big", "Q4_0", 2, 9.0)};
    res[0].roofline_fraction = 2.03;   /* weights in the cache */
    lf_report_device dev = {"dev0", "test-dev", NULL, 0, 20.0, NAN, NAN, NULL, 0};
    lf_report_input in = {.title = "t", .generated = 1700000000, .tool_version = "t",
                          .devices = &dev, .n_devices = 1, .results = res, .n_results = 2};
    char *doc;
    char *gp = render(&in, LF_REPORT_MD, &doc);
    assert_non_null(strstr(doc, "203% \\*"));   /* markdown escapes the marker */
    assert_null(strstr(doc, "50% \\*"));   /* only the one above the roof is marked */
    assert_non_null(strstr(doc, "Above 100% of the roof"));
    assert_non_null(strstr(doc, "caches"));
    free(gp);
    free(doc);
    /* nothing above the roof: no note */
    res[0].roofline_fraction = 0.9;
    gp = render(&in, LF_REPORT_MD, &doc);
    assert_null(strstr(doc, "Above 100% of the roof"));
    free(gp);
    free(doc);
}

/* Two devices with nothing measured on both (this machine's sweep beside
 * imported llama-bench results): the comparison says so, with no table of
 * headers alone. */
static void test_no_shared_rows_no_table(void **state) {
    (void)state;
    lf_report_result res[2] = {mk("model-a", "Q4_0", 2, 10.0), mk("model-b", "Q8_0", 2, 50.0)};
    res[1].device_id = "dev1";
    lf_report_device dev[2] = {{"dev0", "test-dev", NULL, 0, 20.0, NAN, NAN, NULL, 0},
                               {"dev1", "other-dev", NULL, 0, NAN, NAN, NAN, NULL, 0}};
    lf_report_input in = {.title = "t", .generated = 1700000000, .tool_version = "t",
                          .devices = dev, .n_devices = 2, .results = res, .n_results = 2};
    char *doc;
    char *gp = render(&in, LF_REPORT_MD, &doc);
    assert_non_null(strstr(doc, "No model and quantization was measured on two"));
    assert_null(strstr(doc, "ratio other-dev"));
    free(gp);
    free(doc);
}

/* A quality row marked "A=B" (a level sweep found collapsed) carries the
 * explanation under the quality table, in sweep's words; a table without
 * such a row has none. */
static void test_collapsed_level_explained(void **state) {
    (void)state;
    lf_report_quality q[2] = {{"model-a", "Q6_K=Q8_0", 8.5, 0.001, 10.0, 0.99, LF_REPORT_MEASURED},
                              {"model-a", "Q4_0", 4.5, 0.02, 10.5, 0.95, LF_REPORT_MEASURED}};
    lf_report_device dev = {"dev0", "test-dev", NULL, 0, 20.0, NAN, NAN, NULL, 0};
    lf_report_input in = {.title = "t", .generated = 1700000000, .tool_version = "t",
                          .devices = &dev, .n_devices = 1, .quality = q, .n_quality = 2};
    char *doc;
    char *gp = render(&in, LF_REPORT_HTML, &doc);
    const char *sec = strstr(doc, "Quality vs size");
    assert_non_null(sec);
    assert_non_null(strstr(sec, "<td>Q6_K=Q8_0</td>"));
    /* the note as HTML writes it (the apostrophes escaped) */
    assert_non_null(strstr(sec, "A=B: level A"));
    assert_non_null(strstr(sec, "rows (not a multiple of 256 elements), so it fell back"));
    free(gp);
    free(doc);
    in.quality = q + 1;
    in.n_quality = 1;
    gp = render(&in, LF_REPORT_HTML, &doc);
    assert_non_null(strstr(doc, "<td>Q4_0</td>"));
    assert_null(strstr(doc, "A=B: level A"));
    free(gp);
    free(doc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capped_series_said),
        cmocka_unit_test(test_long_name_cut),
        cmocka_unit_test(test_one_thread_count_has_range),
        cmocka_unit_test(test_commands_as_code),
        cmocka_unit_test(test_over_roof_explained),
        cmocka_unit_test(test_no_shared_rows_no_table),
        cmocka_unit_test(test_collapsed_level_explained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
