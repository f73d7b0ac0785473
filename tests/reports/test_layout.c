/*
 * Where the plots' labels go (issue 17, item 15: value labels overlapped or
 * were clipped, the quality plot's labels collided). Checked on geometry,
 * not pixels: layout.c's boxes at its font metrics must not overlap, must
 * stay inside the plot area and off the point markers; and the gnuplot
 * scripts must put each label where layout.c placed it, inside the
 * margins and ranges the script fixes. Also the thread chart's margins and
 * note when each model has one thread count. Needs no gnuplot.
 */
#include "reports/internal.h"
#include "reports/reports.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* A 960x540 picture's plot area with the quality plot's margins. */
static rp_frame frame(double xmin, double xmax, double ymin, double ymax, bool logy) {
    return (rp_frame){.px = {70, 56, 700, 496}, .xmin = xmin, .xmax = xmax, .ymin = ymin,
                      .ymax = ymax, .logy = logy};
}

/* The invariants of layout.c over n placed labels of points (x, y). */
static size_t check_placed(const rp_frame *f, const double *x, const double *y,
                           const rp_placed *pl, size_t n) {
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        if (!pl[i].shown)
            continue;
        shown++;
        assert_true(rp_box_inside(pl[i].box, f->px));
        for (size_t j = 0; j < n; j++) {
            double px = rp_frame_px_x(f, x[j]), py = rp_frame_px_y(f, y[j]);
            rp_box pt = {px - RP_POINT_R, py - RP_POINT_R, px + RP_POINT_R, py + RP_POINT_R};
            assert_false(rp_box_overlap(pl[i].box, pt));
            if (j > i && pl[j].shown)
                assert_false(rp_box_overlap(pl[i].box, pl[j].box));
        }
    }
    return shown;
}

/* A sweep of 11 levels on a small model as stored (bits per weight, KLD):
 * Q6_K collapsed onto Q8_0 and Q2_K onto IQ4_NL — the same point twice —
 * and Q4_0 beside Q4_1, the collisions the plot used to draw over each
 * other. Every label finds a place. */
static void sweep_labels_all_placed(void **state) {
    (void)state;
    static const char *q[] = {"F16",  "Q8_0",   "Q6_K",   "Q5_K_M", "Q5_0", "Q4_K_M",
                              "Q4_0", "Q4_1",   "IQ4_NL", "Q3_K_M", "Q2_K"};
    double x[] = {16.0, 8.5, 8.5, 5.7, 5.5, 4.9, 4.5, 5.0, 4.5, 3.9, 4.5};
    double y[] = {1e-4, 2e-3, 2e-3, 0.011, 0.02, 0.03, 0.08, 0.05, 0.05, 0.12, 0.05};
    rp_frame f = frame(3.4, 16.5, 4e-5, 0.3, true);
    rp_placed pl[11];
    size_t shown = rp_place_point_labels(&f, x, y, q, 11, 8, pl);
    assert_int_equal(check_placed(&f, x, y, pl, 11), shown);
    assert_int_equal(shown, 11);
}

/* Points piled into a few pixels: some labels must give way, and those
 * shown still keep the invariants. */
static void crowded_labels_give_way(void **state) {
    (void)state;
    enum { N = 40 };
    double x[N], y[N];
    const char *t[N];
    for (int i = 0; i < N; i++) {
        x[i] = 5.0 + 0.01 * (i % 7);
        y[i] = 10.0 + 0.02 * (i / 7);
        t[i] = "Q4_K_M";
    }
    rp_frame f = frame(0, 20, 0, 40, false);
    rp_placed pl[N];
    size_t shown = rp_place_point_labels(&f, x, y, t, N, 8, pl);
    assert_int_equal(check_placed(&f, x, y, pl, N), shown);
    assert_true(shown >= 1);
    assert_true(shown < N);
}

/* A point at the edge of the plot gets its label on the inside. */
static void edge_labels_stay_inside(void **state) {
    (void)state;
    double x[] = {20, 0, 20, 0}, y[] = {40, 0, 0, 40};
    const char *t[] = {"IQ4_XS", "Q2_K", "F16", "Q8_0"};
    rp_frame f = frame(0, 20, 0, 40, false);
    rp_placed pl[4];
    size_t shown = rp_place_point_labels(&f, x, y, t, 4, 8, pl);
    assert_int_equal(check_placed(&f, x, y, pl, 4), 4);
    assert_int_equal(shown, 4);
}

/* Bars as grouped_bars draws them: 1..8 series in 1..16 groups, values up
 * to the 4 characters of "1234"; with the headroom, every shown label sits
 * above its bar inside the plot area and clear of the others; without it
 * the tallest bar's label would leave the plot. */
static void bar_labels_fit_and_clear(void **state) {
    (void)state;
    size_t modes[3] = {0};
    for (size_t ns = 1; ns <= 8; ns++)
        for (size_t ng = 1; ng <= 16; ng++)
            for (int logy = 0; logy < 2; logy++) {
                rp_frame f = {.px = {70, 50, 800, 496}, .xmin = -0.6, .xmax = (double)ng - 0.4,
                              .ymin = logy ? 0.5 : 0, .logy = logy};
                double w = 0.8 / (double)ns, hi = 1234;
                double slot = w * (f.px.x1 - f.px.x0) / (f.xmax - f.xmin);
                rp_bar_label mode = rp_bar_label_mode(slot, 4, 8);
                modes[mode]++;
                if (mode == RP_BARLAB_NONE) {
                    assert_true(slot < rp_text_h(8) + 1);
                    continue;
                }
                double need = mode == RP_BARLAB_UP ? rp_text_w(4, 8) : rp_text_h(8);
                f.ymax = hi;   /* no headroom: the tallest label is clipped */
                rp_box top = rp_bar_label_box(mode, rp_frame_px_x(&f, 0),
                                              rp_frame_px_y(&f, hi), 4, 8);
                assert_false(rp_box_inside(top, f.px));
                f.ymax = rp_bar_headroom(f.ymin, hi, f.logy, f.px.y1 - f.px.y0, need);
                rp_box *bx = calloc(ns * ng, sizeof *bx);
                assert_non_null(bx);
                for (size_t s = 0; s < ns; s++)
                    for (size_t g = 0; g < ng; g++) {
                        double x = (double)g + ((double)s - (double)(ns - 1) / 2.0) * w;
                        double v = hi / (double)(1 + (s * 7 + g * 3) % 5);
                        bx[s * ng + g] = rp_bar_label_box(mode, rp_frame_px_x(&f, x),
                                                          rp_frame_px_y(&f, v), 4, 8);
                        assert_true(rp_box_inside(bx[s * ng + g], f.px));
                    }
                for (size_t i = 0; i < ns * ng; i++)
                    for (size_t j = i + 1; j < ns * ng; j++)
                        assert_false(rp_box_overlap(bx[i], bx[j]));
                free(bx);
            }
    /* The sweep covered flat labels, turned ones and none at all. */
    assert_true(modes[RP_BARLAB_FLAT] > 0);
    assert_true(modes[RP_BARLAB_UP] > 0);
    assert_true(modes[RP_BARLAB_NONE] > 0);
}

/* The value of `key at screen X` style numbers after needle in s. */
static double after(const char *s, const char *needle) {
    const char *p = strstr(s, needle);
    assert_non_null(p);
    return strtod(p + strlen(needle), NULL);
}

/* The quality script as gnuplot gets it: each `set label` at a screen
 * position is rebuilt as a box at layout.c's metrics; the boxes do not
 * overlap and lie inside the plot area the script's margins fix, and each
 * quant of a roomy sweep is labelled. */
static void quality_script_labels(void **state) {
    (void)state;
    static const char *q[] = {"F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0",
                              "IQ4_NL", "Q3_K_M", "Q2_K"};
    double bpw[] = {16.0, 8.5, 8.5, 5.7, 4.9, 4.5, 4.5, 3.9, 4.5};
    double kld[] = {1e-4, 2e-3, 2e-3, 0.011, 0.03, 0.08, 0.05, 0.12, 0.05};
    lf_report_quality rows[9];
    for (int i = 0; i < 9; i++)
        rows[i] = (lf_report_quality){.model = "stories260K", .quant = q[i], .bpw = bpw[i],
                                      .kld = kld[i], .ppl = 4 + kld[i], .same_top = 0.9};
    lf_report_input in = {.quality = rows, .n_quality = 9};
    rp_buf b = {0};
    assert_true(rp_plot_script(&in, RP_PLOT_QUALITY, &b));
    const char *s = rp_buf_cstr(&b);
    assert_non_null(s);
    rp_box area = {after(s, "set lmargin at screen ") * RP_PIC_W,
                   after(s, "set bmargin at screen ") * RP_PIC_H,
                   after(s, "set rmargin at screen ") * RP_PIC_W,
                   after(s, "set tmargin at screen ") * RP_PIC_H};
    assert_true(area.x0 < area.x1 && area.y0 < area.y1);
    rp_box box[9];
    int n = 0;
    for (const char *p = s; (p = strstr(p, "\nset label ")) != NULL; p++) {
        char text[32];
        double sx, sy;
        if (sscanf(p, "\nset label %*d '%31[^']' at screen %lf, screen %lf left", text, &sx,
                   &sy) != 3)
            continue;   /* the note, not a point label */
        assert_true(n < 9);
        double w = rp_text_w(rp_text_chars(text), 8), h = rp_text_h(8);
        box[n] = (rp_box){sx * RP_PIC_W, sy * RP_PIC_H - h / 2, sx * RP_PIC_W + w,
                          sy * RP_PIC_H + h / 2};
        assert_true(rp_box_inside(box[n], area));
        for (int j = 0; j < n; j++)
            assert_false(rp_box_overlap(box[n], box[j]));
        n++;
    }
    assert_int_equal(n, 9);
    assert_non_null(strstr(s, "set xrange ["));   /* fixed, not autoscaled */
    assert_null(strstr(s, "unlabelled"));
    rp_buf_free(&b);
}

/* The throughput script leaves the y range room over the tallest bar for
 * its label, and turns the labels up when 8 quantizations share a group. */
static void throughput_script_headroom(void **state) {
    (void)state;
    static const char *q[] = {"F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q4_K_M", "Q4_0",
                              "Q3_K_M"};
    static const char *m[] = {"SmolLM2-135M", "Qwen2.5-0.5B", "Llama-3.2-1B", "stories260K"};
    lf_report_result r[32];
    double hi = 0;
    for (int i = 0; i < 32; i++) {
        double v = 50.0 + 37.0 * (i % 9) + 100.0 * (i / 8);
        hi = fmax(hi, v);
        r[i] = (lf_report_result){.model = m[i / 8], .quant = q[i % 8], .test = "tg",
                                  .threads = 2, .n_gen = 64, .value = v, .ci_low = v,
                                  .ci_high = v, .bytes_per_token = NAN, .flops_per_token = NAN,
                                  .roofline_fraction = NAN, .bits_per_weight = NAN};
    }
    lf_report_input in = {.results = r, .n_results = 32};
    rp_buf b = {0};
    assert_true(rp_plot_script(&in, RP_PLOT_TP_TG, &b));
    const char *s = rp_buf_cstr(&b);
    assert_non_null(s);
    const char *yr = strstr(s, "set yrange [0:");
    assert_non_null(yr);
    double ymax = strtod(yr + strlen("set yrange [0:"), NULL);
    double h = (after(s, "set tmargin at screen ") - after(s, "set bmargin at screen ")) *
               RP_PIC_H;
    /* The tallest bar's value label (3 characters turned up) fits above it. */
    assert_true(hi / ymax * h + RP_LABEL_GAP + rp_text_w(3, 8) <= h);
    assert_non_null(strstr(s, "with labels left rotate by 90"));
    rp_buf_free(&b);
}

/* The thread chart when the bandwidth curve spans 1-2 threads but each
 * model was measured at one: the extreme counts get a margin (their
 * points on the borders sat on the axes), and a note says why the models
 * show no scaling. */
static void threads_script_lone_models(void **state) {
    (void)state;
    static const lf_report_bw_point curve[] = {{1, 4.6}, {2, 5.6}};
    lf_report_device dev = {.id = "dev0", .slug = "test-cpu", .bandwidth_gbs = 5.6,
                            .peak_fp32_gflops = NAN, .peak_int8_gops = NAN, .bw_curve = curve,
                            .n_bw_curve = 2};
    lf_report_result r[2];
    for (int i = 0; i < 2; i++)
        r[i] = (lf_report_result){.device_id = "dev0", .model = "stories260K",
                                  .quant = i ? "Q8_0" : "F32", .test = "tg", .threads = 2,
                                  .n_gen = 16, .value = 900.0 + i, .ci_low = NAN,
                                  .ci_high = NAN, .bytes_per_token = NAN,
                                  .flops_per_token = NAN, .roofline_fraction = NAN,
                                  .bits_per_weight = NAN};
    lf_report_input in = {.devices = &dev, .n_devices = 1, .results = r, .n_results = 2};
    rp_buf b = {0};
    assert_true(rp_plot_script(&in, RP_PLOT_THREADS, &b));
    const char *s = rp_buf_cstr(&b);
    assert_non_null(s);
    const char *xr = strstr(s, "set xrange [");
    assert_non_null(xr);
    double lo = strtod(xr + strlen("set xrange ["), NULL);
    double hi = strtod(strchr(xr, ':') + 1, NULL);
    assert_true(lo < 1 && hi > 2);
    assert_non_null(strstr(s, "each model was measured at one thread count"));
    rp_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_labels_all_placed),
        cmocka_unit_test(crowded_labels_give_way),
        cmocka_unit_test(edge_labels_stay_inside),
        cmocka_unit_test(bar_labels_fit_and_clear),
        cmocka_unit_test(quality_script_labels),
        cmocka_unit_test(throughput_script_headroom),
        cmocka_unit_test(threads_script_lone_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
