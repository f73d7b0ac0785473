/*
 * Plots: one gnuplot script per picture, generated here and fed to a
 * gnuplot process through a socket on its stdin. Safety rests on three
 * rules: (1) gnuplot is started with posix_spawn and a fixed argv, never a
 * shell; (2) data blocks ($name << EOD) carry numbers only — every label
 * (model, quant, device, commit, test) goes in a command as a single-quoted
 * string built by rp_esc_gnuplot, the one gnuplot string form with no
 * backquote substitution, cleaned of newlines; (3) every terminal is set
 * `noenhanced`, so @ & ^ _ { } in names print as themselves. Each plot is
 * drawn twice from the same script: PNG (pngcairo, else png) and SVG.
 */
#include "reports/internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const struct {
    const char *name, *title;
} plot_info[RP_PLOT_COUNT] = {
    [RP_PLOT_ROOFLINE] = {"roofline", "Roofline"},
    [RP_PLOT_TP_TG] = {"throughput-tg", "Token generation by model and quantization"},
    [RP_PLOT_TP_PP] = {"throughput-pp", "Prompt processing by model and quantization"},
    [RP_PLOT_QUALITY] = {"quality", "Quality vs bits per weight"},
    [RP_PLOT_THREADS] = {"threads", "Thread scaling"},
    [RP_PLOT_HISTORY] = {"history", "Regression history"},
    [RP_PLOT_DEVICES] = {"devices", "Device comparison"},
};

const char *rp_plot_name(rp_plot_id id) { return plot_info[id].name; }
const char *rp_plot_title(rp_plot_id id) { return plot_info[id].title; }

#define MAX_SERIES 8      /* more lines than this is not readable */
#define MAX_GROUPS 16

static const char *primary_id(const lf_report_input *in) {
    return in->n_devices > 0 ? in->devices[0].id : NULL;
}

static bool same(const char *a, const char *b) { return !strcmp(rp_str(a), rp_str(b)); }

static bool on_device(const lf_report_result *r, const char *dev) {
    return !dev || same(r->device_id, dev);
}

/* ---- script pieces ---- */

static void gp_str(rp_buf *b, const char *s) { rp_esc_gnuplot(b, s); }

#define LABEL_MAX 40      /* characters of a name on a chart: longer squash the plot */

/* A name (model, quant, device, series) as a chart label: at most
 * LABEL_MAX characters, a longer one cut at a character boundary with an
 * ellipsis (the tables keep it whole). */
static void gp_label(rp_buf *b, const char *s) {
    rp_buf t = {0};
    rp_clean_text(&t, s ? s : "");
    const char *c = rp_buf_cstr(&t);
    if (!c) {
        b->oom = true;
        return;
    }
    size_t chars = 0, cut = 0;
    for (size_t i = 0; c[i]; i++)
        if (((unsigned char)c[i] & 0xC0) != 0x80 && ++chars == LABEL_MAX)
            cut = i;   /* the byte where the last kept character would start */
    if (chars > LABEL_MAX) {
        t.s[cut] = '\0';
        t.len = cut;
        rp_buf_puts(&t, "\xe2\x80\xa6");   /* U+2026 */
    }
    gp_str(b, rp_buf_cstr(&t) ? t.s : "");
    if (t.oom)
        b->oom = true;
    rp_buf_free(&t);
}

/* What a limit left out of a chart, e.g. "3 more quantizations not drawn
 * (the tables list them all)", into msg ("" when nothing), so a capped
 * chart is not mistaken for the whole set. */
static void omitted(char *msg, size_t size, size_t more_series, const char *series_what,
                    size_t more_groups, const char *groups_what) {
    msg[0] = '\0';
    if (!more_series && !more_groups)
        return;
    int n = 0;
    if (more_series)
        n = snprintf(msg, size, "%zu more %s", more_series, series_what);
    if (more_groups && n >= 0 && (size_t)n < size)
        snprintf(msg + n, size - (size_t)n, "%s%zu more %s", n ? " and " : "", more_groups,
                 groups_what);
    size_t l = strlen(msg);
    snprintf(msg + l, size - l, " not drawn (the tables list them all)");
}

/* The omitted note at the bottom left of the chart (after style's reset). */
static void gp_note(rp_buf *b, const char *note) {
    if (!note || !*note)
        return;
    rp_buf_puts(b, "set label 900 ");
    gp_str(b, note);
    rp_buf_puts(b, " at screen 0.01, screen 0.02 left font ',9' tc rgb '#a04000'\n");
}

/* Numbers in scripts: %.9g is exact enough and never locale-dependent for
 * the C locale the library assumes; non-finite values never get here. */
static void gp_num(rp_buf *b, double v) { rp_buf_printf(b, "%.9g", v); }

static void style(rp_buf *b, const char *title) {
    static const char *colors[MAX_SERIES] = {"#4269d0", "#efb118", "#ff725c", "#6cc5b0",
                                             "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5"};
    rp_buf_puts(b, "reset\nset encoding utf8\n");
    for (int i = 0; i < MAX_SERIES; i++)
        rp_buf_printf(b, "set linetype %d lc rgb '%s' lw 2 pt 7 ps 1.2\n", i + 1, colors[i]);
    rp_buf_puts(b, "set border 3\nset tics nomirror\nset grid lc rgb '#e0e0e0'\n"
                   "set key outside right top box lc rgb '#cccccc'\n");
    rp_buf_puts(b, "set title ");
    gp_str(b, title);
    rp_buf_puts(b, " font ',12'\n");
}

/* The plot command is given twice: once for each output file. */
static void outputs(rp_buf *b, rp_plot_id id, const char *plot_cmd) {
    const char *name = rp_plot_name(id);
    rp_buf_puts(b, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                   "  set terminal pngcairo noenhanced size 960,540 font 'sans,10'\n"
                   "} else {\n"
                   "  set terminal png noenhanced size 960,540\n"
                   "}\n"
                   "set termoption noenhanced\n");
    rp_buf_printf(b, "set output '%s.png'\n%s\n", name, plot_cmd);
    rp_buf_printf(b, "set terminal svg noenhanced size 960,540 font 'sans,10' "
                     "background '#ffffff'\nset output '%s.svg'\n%s\nunset output\n",
                  name, plot_cmd);
}

/* Fixes the plot area and the ranges to f, so that the labels placed by
 * layout.c land where it computed. */
static void gp_frame(rp_buf *b, const rp_frame *f) {
    rp_buf_printf(b, "set lmargin at screen %.6f\nset rmargin at screen %.6f\n"
                     "set bmargin at screen %.6f\nset tmargin at screen %.6f\n",
                  f->px.x0 / RP_PIC_W, f->px.x1 / RP_PIC_W, f->px.y0 / RP_PIC_H,
                  f->px.y1 / RP_PIC_H);
    rp_buf_puts(b, "set xrange [");
    gp_num(b, f->xmin);
    rp_buf_putc(b, ':');
    gp_num(b, f->xmax);
    rp_buf_puts(b, "]\nset yrange [");
    gp_num(b, f->ymin);
    rp_buf_putc(b, ':');
    gp_num(b, f->ymax);
    rp_buf_puts(b, "]\n");
}

#define TITLE_PX 44.0     /* above the plot: the 12 pt title */
#define YAXIS_PX 92.0     /* left of the plot: the y label and tick labels like 0.0001 */
#define TICK_FONT_PT 10.0 /* the terminal's font: tics and key */
#define VALUE_PT 8.0      /* value and point labels */

/* Room in px for an outside key of entries up to `chars` long (sample line
 * and box included), kept between 110 px and 45% of the width. */
static double key_px(size_t chars) {
    double w = rp_text_w(chars, TICK_FONT_PT) + 70;
    return fmin(fmax(w, 110), 0.45 * RP_PIC_W);
}

/* The value as its label shows it, into s; returns its length. */
static size_t value_text(double v, char *s, size_t size) {
    int n = snprintf(s, size, v >= 100 ? "%.0f" : "%.3g", v);
    return n > 0 ? (size_t)n : 0;
}

/* Grouped bars: groups along x (labels), one series per bar colour
 * (titles), v[s * ng + g] = value or NAN; note (may be NULL) says what
 * was left out. The value labels are placed by layout.c: flat over the
 * bar, turned up when bars are narrow, left out (said in the note) when
 * even that does not fit; the y range leaves them room. */
static void grouped_bars(rp_buf *b, rp_plot_id id, const char *title, const char *ylabel,
                         const char *const *groups, size_t ng, const char *const *series,
                         size_t ns, const double *v, const char *note) {
    style(b, title);
    double w = 0.8 / (double)ns;
    rp_buf_puts(b, "set style fill solid 0.85 border -1\n");
    rp_buf_printf(b, "set boxwidth %.6f absolute\n", w * 0.92);
    /* Values spanning more than 30x (a tiny model beside real ones) would
     * flatten all but the largest bars: a log axis keeps each readable. */
    double lo = INFINITY, hi = 0;
    size_t vchars = 1, gchars = 1, schars = 1;
    char txt[64];
    for (size_t i = 0; i < ns * ng; i++)
        if (isfinite(v[i]) && v[i] > 0) {
            lo = fmin(lo, v[i]);
            hi = fmax(hi, v[i]);
            size_t c = value_text(v[i], txt, sizeof txt);
            vchars = c > vchars ? c : vchars;
        }
    for (size_t g = 0; g < ng; g++) {
        size_t c = rp_text_chars(groups[g]);
        gchars = c > gchars ? c : gchars;
    }
    for (size_t s = 0; s < ns; s++) {
        size_t c = rp_text_chars(series[s]);
        schars = c > schars ? c : schars;
    }
    gchars = gchars < LABEL_MAX ? gchars : LABEL_MAX;
    schars = schars < LABEL_MAX ? schars : LABEL_MAX;
    bool logy = hi > 30 * lo;
    /* Below the plot: the group names (turned 30 degrees past 3 groups)
     * and the note line. */
    double below = ng > 3 ? rp_text_w(gchars, TICK_FONT_PT) * 0.5 + 24 : 30;
    rp_frame f = {.px = {YAXIS_PX, fmin(below + 20, 0.45 * RP_PIC_H), RP_PIC_W - key_px(schars),
                         RP_PIC_H - TITLE_PX},
                  .xmin = -0.6, .xmax = (double)ng - 0.4, .ymin = logy ? lo / 2 : 0,
                  .logy = logy};
    double slot = w * (f.px.x1 - f.px.x0) / (f.xmax - f.xmin);
    rp_bar_label mode = rp_bar_label_mode(slot, vchars, VALUE_PT);
    double need = mode == RP_BARLAB_UP ? rp_text_w(vchars, VALUE_PT)
                  : mode == RP_BARLAB_FLAT ? rp_text_h(VALUE_PT) : 0;
    f.ymax = hi > 0 ? rp_bar_headroom(f.ymin, hi, logy, f.px.y1 - f.px.y0, need) : 1;
    char note2[400];
    snprintf(note2, sizeof note2, "%s%s%s", note ? note : "",
             note && *note && mode == RP_BARLAB_NONE ? "; " : "",
             mode == RP_BARLAB_NONE ? "bars too narrow for their values (the tables list them)"
                                    : "");
    gp_note(b, note2);
    if (logy)   /* %g: 1e-05, not 0.0000100 */
        rp_buf_puts(b, "set logscale y 10\nset format y '%g'\n");
    gp_frame(b, &f);
    rp_buf_puts(b, "set grid noxtics ytics\nset ylabel ");
    gp_str(b, ylabel);
    rp_buf_puts(b, "\nset xtics (");
    for (size_t g = 0; g < ng; g++) {
        rp_buf_puts(b, g ? ", " : "");
        gp_label(b, groups[g]);
        rp_buf_printf(b, " %zu", g);
    }
    rp_buf_puts(b, ")\n");
    if (ng > 3)
        rp_buf_puts(b, "set xtics rotate by -30 left\n");
    rp_buf_puts(b, "set xtics scale 0\n");
    rp_buf cmd = {0};
    rp_buf_puts(&cmd, "plot ");
    size_t drawn = 0;
    for (size_t s = 0; s < ns; s++) {
        /* Columns: x, value, y of the label's anchor (its centre when
         * flat, its start when turned up). */
        rp_buf_printf(b, "$s%zu << EOD\n", s);
        for (size_t g = 0; g < ng; g++) {
            double x = (double)g + ((double)s - (double)(ns - 1) / 2.0) * w, y = v[s * ng + g];
            if (!isfinite(y))
                continue;
            double top = rp_frame_px_y(&f, fmax(y, f.ymin));
            rp_box lb = rp_bar_label_box(mode, 0, top, vchars, VALUE_PT);
            gp_num(b, x);
            rp_buf_putc(b, ' ');
            gp_num(b, y);
            rp_buf_putc(b, ' ');
            gp_num(b, rp_frame_data_y(&f, mode == RP_BARLAB_UP ? lb.y0 : (lb.y0 + lb.y1) / 2));
            rp_buf_putc(b, '\n');
        }
        rp_buf_puts(b, "EOD\n");
        rp_buf_printf(&cmd, "%s$s%zu using 1:2 with boxes lt %zu title ", drawn++ ? ", " : "", s,
                      s % MAX_SERIES + 1);
        gp_label(&cmd, series[s]);
        if (mode != RP_BARLAB_NONE)
            rp_buf_printf(&cmd, ", $s%zu using 1:3:($2 >= 100 ? sprintf('%%.0f', $2) : "
                                "sprintf('%%.3g', $2)) with labels %s font ',8' notitle",
                          s, mode == RP_BARLAB_UP ? "left rotate by 90" : "center");
    }
    if (cmd.oom)
        b->oom = true;
    outputs(b, id, rp_buf_cstr(&cmd) ? cmd.s : "");
    rp_buf_free(&cmd);
}

/* ---- roofline ---- */

static bool script_roofline(const lf_report_input *in, rp_buf *b) {
    const lf_report_device *d = in->n_devices ? &in->devices[0] : NULL;
    double bw = d && isfinite(d->bandwidth_gbs) && d->bandwidth_gbs > 0 ? d->bandwidth_gbs : NAN;
    double p32 = d && isfinite(d->peak_fp32_gflops) && d->peak_fp32_gflops > 0
                     ? d->peak_fp32_gflops : NAN;
    double p8 = d && isfinite(d->peak_int8_gops) && d->peak_int8_gops > 0 ? d->peak_int8_gops
                                                                          : NAN;
    double lo = INFINITY, hi = 0, ylo = INFINITY, yhi = 0;
    size_t npts[2] = {0, 0};
    rp_buf pts[2] = {{0}, {0}};
    for (size_t i = 0; i < in->n_results; i++) {
        const lf_report_result *r = &in->results[i];
        if (!on_device(r, primary_id(in)) || !rp_is_rate_test(r->test))
            continue;
        double f = rp_flops_per_token(r);
        if (!isfinite(f) || !isfinite(r->bytes_per_token) || r->bytes_per_token <= 0 ||
            !isfinite(r->value) || r->value <= 0)
            continue;
        double ai = f / r->bytes_per_token, perf = f * r->value / 1e9;
        int k = !strcmp(r->test, "pp");
        gp_num(&pts[k], ai);
        rp_buf_putc(&pts[k], ' ');
        gp_num(&pts[k], perf);
        rp_buf_putc(&pts[k], '\n');
        npts[k]++;
        lo = fmin(lo, ai), hi = fmax(hi, ai), ylo = fmin(ylo, perf), yhi = fmax(yhi, perf);
    }
    bool roofs = isfinite(bw) && (isfinite(p32) || isfinite(p8));
    if (!roofs && npts[0] + npts[1] == 0) {
        rp_buf_free(&pts[0]);
        rp_buf_free(&pts[1]);
        return false;
    }
    char title[300];
    snprintf(title, sizeof title, "Roofline: %s", d ? rp_str(d->slug) : "device");
    style(b, title);
    if (roofs) {
        double peak = isfinite(p8) ? fmax(p8, isfinite(p32) ? p32 : 0) : p32;
        double ridge_lo = (isfinite(p32) ? p32 : p8) / bw, ridge_hi = peak / bw;
        lo = fmin(lo, ridge_lo), hi = fmax(hi, ridge_hi);
        ylo = fmin(ylo, bw * lo), yhi = fmax(yhi, peak);
    }
    lo /= 4, hi *= 4, ylo /= 4, yhi *= 3;
    rp_buf_puts(b, "set logscale xy 10\nset samples 500\n"
                   "set xlabel 'arithmetic intensity (FLOP per byte moved)'\n"
                   "set ylabel 'performance (GFLOP/s)'\nset key inside left top\n");
    rp_buf_printf(b, "set xrange [%.6g:%.6g]\nset yrange [%.6g:%.6g]\n", lo, hi, ylo, yhi);
    rp_buf cmd = {0};
    rp_buf_puts(&cmd, "plot ");
    int n = 0;
    if (roofs) {
        rp_buf_printf(b, "bw = %.9g\n", bw);
        if (isfinite(p32)) {
            rp_buf_printf(b, "p32 = %.9g\nroof32(x) = (bw * x < p32) ? bw * x : p32\n", p32);
            rp_buf_printf(&cmd, "roof32(x) lt 1 lw 3 title 'FP32 roof (%.1f GB/s, %.0f GFLOP/s)'",
                          bw, p32);
            n++;
        }
        if (isfinite(p8)) {
            rp_buf_printf(b, "p8 = %.9g\nroof8(x) = (bw * x < p8) ? bw * x : p8\n", p8);
            rp_buf_printf(&cmd, "%sroof8(x) lt 2 lw 3 dt 2 title 'int8 roof (%.0f GOP/s)'",
                          n++ ? ", " : "", p8);
        }
    }
    static const char *names[2] = {"tg", "pp"};
    static const char *titles[2] = {"token generation (measured)",
                                    "prompt processing (measured)"};
    for (int k = 0; k < 2; k++) {
        if (!npts[k])
            continue;
        rp_buf_printf(b, "$%s << EOD\n", names[k]);
        rp_buf_putn(b, pts[k].s, pts[k].len);
        rp_buf_puts(b, "EOD\n");
        rp_buf_printf(&cmd, "%s$%s using 1:2 with points lt %d pt %d ps 1.6 title '%s'",
                      n++ ? ", " : "", names[k], k ? 3 : 5, k ? 5 : 7, titles[k]);
    }
    if (pts[0].oom || pts[1].oom || cmd.oom)
        b->oom = true;
    outputs(b, RP_PLOT_ROOFLINE, rp_buf_cstr(&cmd) ? cmd.s : "");
    rp_buf_free(&cmd);
    rp_buf_free(&pts[0]);
    rp_buf_free(&pts[1]);
    return true;
}

/* ---- tokens/s by model × quant ---- */

static bool script_throughput(const lf_report_input *in, rp_buf *b, rp_plot_id id,
                              const char *test) {
    rp_strset models = {0}, quants = {0};
    rp_models_quants(in, primary_id(in), &models, &quants);
    bool any = false;
    double *v = NULL;
    size_t nm = models.n < MAX_GROUPS ? models.n : MAX_GROUPS;
    size_t nq = quants.n < MAX_SERIES ? quants.n : MAX_SERIES;
    if (nm && nq && (v = malloc(nm * nq * sizeof *v))) {
        for (size_t q = 0; q < nq; q++)
            for (size_t m = 0; m < nm; m++) {
                v[q * nm + m] = rp_best_rate(in, primary_id(in), models.v[m], quants.v[q], test, 0);
                any |= isfinite(v[q * nm + m]);
            }
    } else if (nm && nq) {
        b->oom = true;
    }
    if (any) {
        char title[200];
        snprintf(title, sizeof title, "%s: best tokens/s (no adapter, empty context)",
                 !strcmp(test, "tg") ? "Token generation" : "Prompt processing");
        char note[200];
        omitted(note, sizeof note, quants.n - nq, "quantizations", models.n - nm, "models");
        grouped_bars(b, id, title, "tokens/s", models.v, nm, quants.v, nq, v, note);
    }
    if (models.oom || quants.oom)
        b->oom = true;
    free(v);
    rp_strset_free(&models);
    rp_strset_free(&quants);
    return any;
}

/* ---- quality vs bits per weight ---- */

/* One model's data blocks on the quality plot: its measured and published
 * points, and its Pareto front (walking up in bpw, a point is on it when
 * it beats every smaller point's loss); their plot clauses into cmd. */
static void quality_series(const lf_report_input *in, rp_buf *b, rp_buf *cmd, int *n, size_t m,
                           const char *model, const size_t *idx, size_t k, bool use_kld) {
    for (int src = 0; src < 2; src++) {
        size_t cnt = 0;
        rp_buf_printf(b, "$m%zu_%d << EOD\n", m, src);
        for (size_t j = 0; j < k; j++) {
            const lf_report_quality *q = &in->quality[idx[j]];
            if ((int)q->source != src)
                continue;
            gp_num(b, q->bpw);
            rp_buf_putc(b, ' ');
            gp_num(b, use_kld ? q->kld : q->ppl);
            rp_buf_putc(b, '\n');
            cnt++;
        }
        rp_buf_puts(b, "EOD\n");
        if (!cnt)
            continue;
        rp_buf_printf(cmd, "%s$m%zu_%d using 1:2 with points lt %zu pt %d ps 1.5 title ",
                      (*n)++ ? ", " : "", m, src, m + 1, src ? 6 : 7);
        rp_buf dt = {0};
        rp_clean_text(&dt, model);
        rp_buf_puts(&dt, src ? " (published)" : " (measured)");
        gp_label(cmd, rp_buf_cstr(&dt) ? dt.s : "");
        if (dt.oom)
            cmd->oom = true;
        rp_buf_free(&dt);
    }
    rp_buf_printf(b, "$f%zu << EOD\n", m);
    double best = INFINITY;
    for (size_t j = 0; j < k; j++) {
        const lf_report_quality *q = &in->quality[idx[j]];
        double y = use_kld ? q->kld : q->ppl;
        if (y < best) {
            best = y;
            gp_num(b, q->bpw);
            rp_buf_putc(b, ' ');
            gp_num(b, y);
            rp_buf_putc(b, '\n');
        }
    }
    rp_buf_puts(b, "EOD\n");
    rp_buf_printf(cmd, "%s$f%zu using 1:2 with lines lt %zu dt 2 lw 1.5 notitle",
                  (*n)++ ? ", " : "", m, m + 1);
}

/* The quality plot's frame: ranges padded around every point (log for
 * KLD), margins for the axis labels and the outside key. */
static rp_frame quality_frame(const double *x, const double *y, size_t n, bool logy,
                              size_t key_chars) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        x0 = fmin(x0, x[i]), x1 = fmax(x1, x[i]);
        y0 = fmin(y0, y[i]), y1 = fmax(y1, y[i]);
    }
    double xp = fmax((x1 - x0) * 0.08, 0.5);
    rp_frame f = {.px = {YAXIS_PX, 72, RP_PIC_W - key_px(key_chars), RP_PIC_H - TITLE_PX},
                  .xmin = x0 - xp, .xmax = x1 + xp, .logy = logy};
    if (logy) {   /* a decade's fifth at least either side */
        double r = fmax(pow(y1 / y0, 0.08), 1.6);
        f.ymin = y0 / r, f.ymax = y1 * r;
    } else {
        double yp = fmax((y1 - y0) * 0.08, fmax(fabs(y1) * 0.02, 1e-3));
        f.ymin = y0 - yp, f.ymax = y1 + yp;
    }
    return f;
}

/* The quant labels of the quality plot, placed by layout.c, as commands
 * at screen positions (kept out of the data blocks); how many points went
 * without one is said in the note. */
static void quality_labels(rp_buf *b, const rp_frame *f, const double *x, const double *y,
                           const char *const *text, size_t n) {
    rp_placed *pl = calloc(n ? n : 1, sizeof *pl);
    if (!pl) {
        b->oom = true;
        return;
    }
    size_t shown = rp_place_point_labels(f, x, y, text, n, VALUE_PT, pl);
    for (size_t i = 0, k = 0; i < n; i++) {
        if (!pl[i].shown)
            continue;
        rp_buf_printf(b, "set label %zu ", ++k);
        gp_str(b, text[i]);
        rp_buf_printf(b, " at screen %.6f, screen %.6f left font ',8' tc rgb '#555555' front\n",
                      pl[i].box.x0 / RP_PIC_W, (pl[i].box.y0 + pl[i].box.y1) / 2 / RP_PIC_H);
    }
    if (shown < n) {
        char note[160];
        snprintf(note, sizeof note, "%zu of %zu points unlabelled where they crowd "
                 "(the quality table lists them)", n - shown, n);
        gp_note(b, note);
    }
    free(pl);
}

/* Points of model m (usable ones), sorted by bpw, into idx; returns how many. */
static size_t quality_points(const lf_report_input *in, bool use_kld, const char *model,
                             size_t *idx, size_t max) {
    size_t k = 0;
    for (size_t i = 0; i < in->n_quality && k < max; i++) {
        const lf_report_quality *q = &in->quality[i];
        double y = use_kld ? q->kld : q->ppl;
        if (!same(q->model, model) || !isfinite(q->bpw) || q->bpw <= 0 || !isfinite(y) ||
            y <= 0)
            continue;
        size_t j = k++;   /* insertion sort over indices */
        while (j > 0 && in->quality[idx[j - 1]].bpw > q->bpw) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return k;
}

#define QUALITY_POINTS 256   /* per model */

static bool script_quality(const lf_report_input *in, rp_buf *b) {
    bool use_kld = false;
    for (size_t i = 0; i < in->n_quality; i++)
        if (isfinite(in->quality[i].kld) && in->quality[i].kld > 0)
            use_kld = true;
    rp_strset models = {0};
    for (size_t i = 0; i < in->n_quality; i++) {
        const lf_report_quality *q = &in->quality[i];
        double y = use_kld ? q->kld : q->ppl;
        if (isfinite(q->bpw) && q->bpw > 0 && isfinite(y) && y > 0)
            rp_strset_add(&models, q->model);
    }
    size_t nm = models.n < MAX_SERIES ? models.n : MAX_SERIES;
    size_t cap = nm * QUALITY_POINTS, np = 0, key_chars = 1;
    size_t *idx = malloc((cap ? cap : 1) * sizeof *idx), *cnt = calloc(nm + 1, sizeof *cnt);
    double *px = malloc((cap ? cap : 1) * sizeof *px), *py = malloc((cap ? cap : 1) * sizeof *py);
    const char **pt = malloc((cap ? cap : 1) * sizeof *pt);
    if (!idx || !cnt || !px || !py || !pt || models.oom) {
        b->oom = true;
        nm = 0;
    }
    for (size_t m = 0; m < nm; m++) {
        cnt[m] = quality_points(in, use_kld, models.v[m], idx + np, QUALITY_POINTS);
        for (size_t j = np; j < np + cnt[m]; j++) {
            const lf_report_quality *q = &in->quality[idx[j]];
            px[j] = q->bpw, py[j] = use_kld ? q->kld : q->ppl, pt[j] = rp_str(q->quant);
        }
        np += cnt[m];
        size_t c = rp_text_chars(models.v[m]) + 12;   /* " (published)" */
        key_chars = c > key_chars ? c : key_chars;
    }
    if (np) {
        style(b, use_kld ? "Quality vs size: KL divergence to the base (lower-left is better)"
                         : "Quality vs size: perplexity (lower-left is better)");
        rp_buf_puts(b, "set xlabel 'bits per weight'\n");
        rp_buf_puts(b, use_kld ? "set ylabel 'mean KLD (nats, log scale)'\nset logscale y 10\n"
                                 "set format y '%g'\n"
                               : "set ylabel 'perplexity'\n");
        rp_frame f = quality_frame(px, py, np, use_kld,
                                   key_chars < LABEL_MAX ? key_chars : LABEL_MAX);
        gp_frame(b, &f);
        quality_labels(b, &f, px, py, pt, np);
        rp_buf cmd = {0};
        rp_buf_puts(&cmd, "plot ");
        int n = 0;
        for (size_t m = 0, first = 0; m < nm; first += cnt[m], m++)
            quality_series(in, b, &cmd, &n, m, models.v[m], idx + first, cnt[m], use_kld);
        if (cmd.oom)
            b->oom = true;
        outputs(b, RP_PLOT_QUALITY, rp_buf_cstr(&cmd) ? cmd.s : "");
        rp_buf_free(&cmd);
    }
    free(idx), free(cnt), free(px), free(py), free(pt);
    rp_strset_free(&models);
    return np > 0;
}

/* ---- thread scaling ---- */

static bool script_threads(const lf_report_input *in, rp_buf *b) {
    const lf_report_device *d = in->n_devices ? &in->devices[0] : NULL;
    const char *dev = primary_id(in);
    size_t ser[MAX_SERIES - 1];   /* the last colour is the bandwidth curve's */
    size_t nser = rp_thread_series(in, dev, ser, MAX_SERIES - 1, 2);
    bool lone = !nser;   /* no model at two thread counts: their points alone */
    if (lone)   /* one thread count measured: its points, not an empty axis */
        nser = rp_thread_series(in, dev, ser, MAX_SERIES - 1, 1);
    int thr[64];
    bool curve = d && d->n_bw_curve > 0;
    if (!nser && !curve)
        return false;
    style(b, "Thread scaling: read bandwidth and token generation");
    rp_buf_puts(b, "set xlabel 'threads'\nset ylabel 'tokens/s'\nset yrange [0:*]\n"
                   "set logscale x 2\nset key outside right top\n");
    rp_buf cmd = {0};
    rp_buf_puts(&cmd, "plot ");
    int n = 0;
    int tmin = INT_MAX, tmax = 0;   /* thread counts drawn: one alone needs a range */
    if (curve) {
        rp_buf_puts(b, "set y2label 'read bandwidth (GB/s)'\nset y2tics\nset y2range [0:*]\n"
                       "$bw << EOD\n");
        for (size_t i = 0; i < d->n_bw_curve; i++)
            if (d->bw_curve[i].threads > 0 && isfinite(d->bw_curve[i].gbs)) {
                tmin = d->bw_curve[i].threads < tmin ? d->bw_curve[i].threads : tmin;
                tmax = d->bw_curve[i].threads > tmax ? d->bw_curve[i].threads : tmax;
                rp_buf_printf(b, "%d ", d->bw_curve[i].threads);
                gp_num(b, d->bw_curve[i].gbs);
                rp_buf_putc(b, '\n');
            }
        rp_buf_puts(b, "EOD\n");
        rp_buf_puts(&cmd, "$bw using 1:2 axes x1y2 with linespoints lt 8 lw 3 dt 3 "
                          "title 'read bandwidth (GB/s, right axis)'");
        n++;
    }
    for (size_t s = 0; s < nser; s++) {
        const lf_report_result *r0 = &in->results[ser[s]];
        size_t nt = rp_thread_counts(in, dev, r0->model, r0->quant, thr, 64);
        rp_buf_printf(b, "$t%zu << EOD\n", s);
        for (size_t t = 0; t < nt; t++) {
            double v = rp_best_rate(in, dev, r0->model, r0->quant, "tg", thr[t]);
            if (isfinite(v)) {
                tmin = thr[t] < tmin ? thr[t] : tmin;
                tmax = thr[t] > tmax ? thr[t] : tmax;
                rp_buf_printf(b, "%d ", thr[t]);
                gp_num(b, v);
                rp_buf_putc(b, '\n');
            }
        }
        rp_buf_puts(b, "EOD\n");
        rp_buf_printf(&cmd, "%s$t%zu using 1:2 with linespoints lt %zu title ", n++ ? ", " : "",
                      s, s % (MAX_SERIES - 1) + 1);
        rp_buf t = {0};
        rp_clean_text(&t, r0->model);
        rp_buf_putc(&t, ' ');
        rp_clean_text(&t, r0->quant);
        gp_label(&cmd, rp_buf_cstr(&t) ? t.s : "");
        if (t.oom)
            cmd.oom = true;
        rp_buf_free(&t);
    }
    if (tmin == tmax) {
        /* One thread count: gnuplot cannot autoscale a log axis over one
         * value (the chart came out empty); centre it, and say there is no
         * scaling to see yet. */
        rp_buf_printf(b, "set xrange [%g:%g]\nset xtics (%d)\n", tmin / 2.0, tmin * 2.0, tmin);
        rp_buf_printf(b, "set label 901 'one thread count measured (%d): run bench with "
                         "several, e.g. -t 1,2' at graph 0.02, graph 0.95 left font ',9' "
                         "tc rgb '#a04000'\n", tmin);
    } else if (tmax > tmin) {
        /* Autoscaling puts the extreme thread counts on the borders, where
         * their points sit on the axes: a margin either side. */
        rp_buf_printf(b, "set xrange [%g:%g]\n", tmin / 1.3, tmax * 1.3);
        if (lone && nser) {   /* the curve spans threads, the models do not */
            rp_buf_puts(b, "set bmargin 5\n");   /* the note below the axis label */
            gp_note(b, "each model was measured at one thread count: run bench with several "
                       "(e.g. -t 1,2) to see it scale");
        }
    }
    if (cmd.oom)
        b->oom = true;
    outputs(b, RP_PLOT_THREADS, rp_buf_cstr(&cmd) ? cmd.s : "");
    rp_buf_free(&cmd);
    return true;
}

/* ---- regression history ---- */

static bool script_history(const lf_report_input *in, rp_buf *b) {
    size_t n = in->n_history;
    if (!n)
        return false;
    size_t *ord = malloc(n * sizeof *ord);
    if (!ord) {
        b->oom = true;
        return false;
    }
    /* Stable insertion sort by timestamp: commits in the order they were made. */
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && in->history[ord[j - 1]].timestamp > in->history[i].timestamp) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = i;
    }
    rp_strset commits = {0}, tests = {0};
    for (size_t i = 0; i < n; i++) {
        const lf_report_history *h = &in->history[ord[i]];
        if (isfinite(h->value) && h->value > 0) {
            rp_strset_add(&commits, h->commit);
            rp_strset_add(&tests, h->test);
        }
    }
    bool any = commits.n > 0;
    if (any) {
        style(b, "Regression history: each test relative to its first commit shown");
        rp_buf_puts(b, "set xlabel 'commit (oldest left)'\nset ylabel '% of first value'\n"
                       "set key inside left bottom\n");
        rp_buf_printf(b, "set xrange [-0.5:%.1f]\nset xtics (", (double)commits.n - 0.5);
        size_t step = commits.n / 16 + 1;
        for (size_t c = 0, k = 0; c < commits.n; c += step, k++) {
            char shortc[11];
            lf_strlcpy(shortc, commits.v[c], sizeof shortc);  /* git's short form */
            rp_buf_puts(b, k ? ", " : "");
            gp_str(b, shortc);
            rp_buf_printf(b, " %zu", c);
        }
        rp_buf_puts(b, ")\nset xtics rotate by -35 left scale 0\n");
        rp_buf cmd = {0};
        rp_buf_puts(&cmd, "plot 100 lt 8 dt 2 lw 1 notitle");
        size_t nt = tests.n < MAX_SERIES ? tests.n : MAX_SERIES;
        for (size_t t = 0; t < nt; t++) {
            double base = NAN;
            rp_buf_printf(b, "$h%zu << EOD\n", t);
            for (size_t i = 0; i < n; i++) {
                const lf_report_history *h = &in->history[ord[i]];
                if (!same(h->test, tests.v[t]) || !isfinite(h->value) || h->value <= 0)
                    continue;
                if (!isfinite(base))
                    base = h->value;
                rp_buf_printf(b, "%ld ", rp_strset_find(&commits, h->commit));
                gp_num(b, 100.0 * h->value / base);
                rp_buf_putc(b, '\n');
            }
            rp_buf_puts(b, "EOD\n");
            rp_buf_printf(&cmd, ", $h%zu using 1:2 with linespoints lt %zu title ", t, t + 1);
            gp_str(&cmd, tests.v[t]);
        }
        if (cmd.oom)
            b->oom = true;
        outputs(b, RP_PLOT_HISTORY, rp_buf_cstr(&cmd) ? cmd.s : "");
        rp_buf_free(&cmd);
    }
    if (commits.oom || tests.oom)
        b->oom = true;
    rp_strset_free(&commits);
    rp_strset_free(&tests);
    free(ord);
    return any;
}

/* ---- device vs device ---- */

static bool script_devices(const lf_report_input *in, rp_buf *b) {
    if (in->n_devices < 2)
        return false;
    static const char *tests[2] = {"tg", "pp"};
    bool done = false;
    for (int t = 0; t < 2 && !done; t++) {
        /* Groups: model × quant measured on at least two devices. */
        const char *gm[MAX_GROUPS], *gq[MAX_GROUPS];
        size_t ng = 0;
        rp_strset models = {0}, quants = {0};
        rp_models_quants(in, NULL, &models, &quants);
        for (size_t m = 0; m < models.n; m++)
            for (size_t q = 0; q < quants.n && ng < MAX_GROUPS; q++) {
                int cnt = 0;
                for (size_t d = 0; d < in->n_devices; d++)
                    cnt += isfinite(rp_best_rate(in, in->devices[d].id, models.v[m],
                                                 quants.v[q], tests[t], 0));
                if (cnt >= 2)
                    gm[ng] = models.v[m], gq[ng++] = quants.v[q];
            }
        size_t nd = in->n_devices < MAX_SERIES ? in->n_devices : MAX_SERIES;
        double *v = ng ? malloc(nd * ng * sizeof *v) : NULL;
        rp_buf labels = {0};
        char **lab = ng ? calloc(ng, sizeof *lab) : NULL;
        const char **dn = calloc(nd, sizeof *dn);
        if (ng && v && lab && dn) {
            for (size_t g = 0; g < ng; g++) {
                rp_clean_text(&labels, gm[g]);
                rp_buf_putc(&labels, ' ');
                rp_clean_text(&labels, gq[g]);
                lab[g] = rp_buf_take(&labels);
                if (!lab[g])
                    b->oom = true;
                for (size_t d = 0; d < nd; d++)
                    v[d * ng + g] = rp_best_rate(in, in->devices[d].id, gm[g], gq[g],
                                                 tests[t], 0);
            }
            for (size_t d = 0; d < nd; d++)
                dn[d] = in->devices[d].slug ? in->devices[d].slug : rp_str(in->devices[d].id);
            char title[200];
            snprintf(title, sizeof title, "Device comparison: best %s tokens/s", tests[t]);
            char note[200];
            omitted(note, sizeof note, in->n_devices - nd, "devices", 0, "");
            if (!b->oom)
                grouped_bars(b, RP_PLOT_DEVICES, title, "tokens/s", (const char *const *)lab,
                             ng, dn, nd, v, note);
            done = true;
        } else if (ng) {
            b->oom = true;
        }
        for (size_t g = 0; lab && g < ng; g++)
            free(lab[g]);
        free(lab);
        free(dn);
        free(v);
        rp_buf_free(&labels);
        rp_strset_free(&models);
        rp_strset_free(&quants);
    }
    return done;
}

bool rp_plot_script(const lf_report_input *in, rp_plot_id id, rp_buf *b) {
    rp_buf_printf(b, "# localfit report: %s\n", rp_plot_name(id));
    switch (id) {
    case RP_PLOT_ROOFLINE: return script_roofline(in, b);
    case RP_PLOT_TP_TG: return script_throughput(in, b, id, "tg");
    case RP_PLOT_TP_PP: return script_throughput(in, b, id, "pp");
    case RP_PLOT_QUALITY: return script_quality(in, b);
    case RP_PLOT_THREADS: return script_threads(in, b);
    case RP_PLOT_HISTORY: return script_history(in, b);
    case RP_PLOT_DEVICES: return script_devices(in, b);
    case RP_PLOT_COUNT: break;
    }
    return false;
}

/* ---- running gnuplot ---- */

/* Keeps the last meaningful lines of gnuplot's stderr (where it says what
 * went wrong), cleaned of control characters, joined with " / ". */
static void summarize_stderr(FILE *f, char *out, size_t size) {
    char raw[4096];
    fseek(f, 0, SEEK_END);   /* the child advanced the shared offset */
    long len = ftell(f);
    long from = len > (long)sizeof raw - 1 ? len - (long)sizeof raw + 1 : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(raw, 1, sizeof raw - 1, f);
    raw[n] = '\0';
    rp_buf b = {0};
    char *save = NULL;
    for (char *line = strtok_r(raw, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '^')
            p++;
        if (!*p || !strncmp(p, "gnuplot>", 8))
            continue;
        if (b.len)
            rp_buf_puts(&b, " / ");
        rp_clean_text(&b, p);
    }
    const char *s = rp_buf_cstr(&b);
    if (s && b.len > size - 1)
        s += b.len - (size - 1);   /* the end holds the error */
    lf_strlcpy(out, s && *s ? s : "(no message)", size);
    rp_buf_free(&b);
}

/* Runs prog (argv {prog, NULL}, cwd dir) with script on stdin.
 * Returns 0 when it ran (exit status in *status, stderr summary in msg),
 * LF_ENOTFOUND when it could not be started (msg says why), LF_EIO else. */
static int run_gnuplot(const char *prog, const char *dir, const char *script, size_t len,
                       int *status, char *msg, size_t msgsize) {
    char abs[PATH_MAX];
    bool search = strchr(prog, '/') == NULL;
    if (!search) {
        /* The child changes directory before exec, so a relative path must
         * be made absolute first. */
        if (!realpath(prog, abs)) {
            snprintf(msg, msgsize, "cannot run %.300s: %s", prog, strerror(errno));
            return LF_ENOTFOUND;
        }
        prog = abs;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(msg, msgsize, "socketpair: %s", strerror(errno));
        return LF_EIO;
    }
    FILE *errf = tmpfile();
    if (!errf) {
        snprintf(msg, msgsize, "temporary file for gnuplot's messages: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return LF_EIO;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    posix_spawn_file_actions_adddup2(&fa, fileno(errf), 1);
    posix_spawn_file_actions_adddup2(&fa, fileno(errf), 2);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    char *argv[] = {(char *)prog, NULL};
    pid_t pid;
    int e = search ? posix_spawnp(&pid, prog, &fa, NULL, argv, environ)
                   : posix_spawn(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    if (e != 0) {
        snprintf(msg, msgsize, "cannot run %.300s: %s", prog, strerror(e));
        close(sv[0]);
        fclose(errf);
        return LF_ENOTFOUND;
    }
    /* MSG_NOSIGNAL: a gnuplot that dies early must give EPIPE here, not a
     * SIGPIPE that kills the caller. */
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(sv[0], script + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;   /* the exit status will tell */
        off += (size_t)w;
    }
    close(sv[0]);
    int ws;
    while (waitpid(pid, &ws, 0) < 0) {
        if (errno != EINTR) {
            snprintf(msg, msgsize, "waiting for %.300s: %s", prog, strerror(errno));
            fclose(errf);
            return LF_EIO;
        }
    }
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 127 && search) {
        snprintf(msg, msgsize, "cannot run %.300s", prog);
        fclose(errf);
        return LF_ENOTFOUND;
    }
    summarize_stderr(errf, msg, msgsize);
    fclose(errf);
    return 0;
}

static bool nonempty_file(const char *dir, const char *name, const char *ext) {
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

static void remove_outputs(const char *dir, const char *name) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.png", dir, name);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s.svg", dir, name);
    unlink(path);
}

int rp_plots_render(const lf_report_input *in, const char *dir, const lf_report_opts *opts,
                    rp_plots *out, lf_error *err) {
    memset(out, 0, sizeof *out);
    const char *prog = opts && opts->gnuplot ? opts->gnuplot : "gnuplot";
    if (opts && opts->no_plots) {
        lf_strlcpy(out->skipped_why, "plots were turned off", sizeof out->skipped_why);
        out->disabled = true;
    }
    for (int id = 0; id < RP_PLOT_COUNT; id++) {
        rp_plot *p = &out->p[id];
        remove_outputs(dir, rp_plot_name(id));   /* no stale picture passes for new */
        rp_buf script = {0};
        if (!rp_plot_script(in, id, &script)) {
            p->state = RP_PLOT_NODATA;
            bool oom = script.oom;
            rp_buf_free(&script);
            if (oom)
                return lf_error_set(err, LF_ENOMEM, "out of memory building the %s plot",
                                    rp_plot_name(id));
            continue;
        }
        if (script.oom) {
            rp_buf_free(&script);
            return lf_error_set(err, LF_ENOMEM, "out of memory building the %s plot",
                                rp_plot_name(id));
        }
        if (out->skipped_why[0]) {
            p->state = RP_PLOT_SKIPPED;
            lf_strlcpy(p->note, out->skipped_why, sizeof p->note);
            rp_buf_free(&script);
            continue;
        }
        int status = 0;
        char msg[sizeof p->note - 64];
        int rc = run_gnuplot(prog, dir, script.s, script.len, &status, msg, sizeof msg);
        rp_buf_free(&script);
        if (rc == LF_ENOTFOUND) {
            /* No gnuplot: every plot is skipped for the same reason. */
            snprintf(out->skipped_why, sizeof out->skipped_why,
                     "gnuplot is not available (%s); install gnuplot-nox for plots", msg);
            p->state = RP_PLOT_SKIPPED;
            lf_strlcpy(p->note, out->skipped_why, sizeof p->note);
            continue;
        }
        if (rc < 0)
            return lf_error_set(err, rc, "%s plot: %s", rp_plot_name(id), msg);
        if (status != 0) {
            p->state = RP_PLOT_FAILED;
            snprintf(p->note, sizeof p->note, "gnuplot exited with status %d: %s", status, msg);
            out->n_failed++;
        } else if (!nonempty_file(dir, rp_plot_name(id), "png") ||
                   !nonempty_file(dir, rp_plot_name(id), "svg")) {
            p->state = RP_PLOT_FAILED;
            snprintf(p->note, sizeof p->note, "gnuplot exited 0 but did not write %s.png and "
                     "%s.svg: %s", rp_plot_name(id), rp_plot_name(id), msg);
            out->n_failed++;
        } else {
            p->state = RP_PLOT_OK;
        }
    }
    return 0;
}
