/*
 * The runner's progress on stderr. On a terminal: a live table of the tests
 * of the model now running, redrawn in place with ANSI cursor moves (at most
 * ten times a second, and never inside a timed region: the runner calls in
 * between repetitions), a header with the count of finished tests, elapsed
 * time and an estimate of the time left; colours unless NO_COLOR is set.
 * Elsewhere (a pipe, a CI log, TERM=dumb): one plain line per finished test.
 */
#include "bench/runner_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define C_RESET "\033[0m"
#define C_DIM "\033[2m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_BOLD "\033[1m"

void lf_rb_progress_init(lf_rb_progress *p, const lf_bench_opts *o, int total) {
    memset(p, 0, sizeof *p);
    p->f = o->err_out ? o->err_out : stderr;
    p->mode = o->quiet ? LF_BENCH_PROGRESS_NONE : (int)o->progress;
    if (p->mode == LF_BENCH_PROGRESS_AUTO) {
        const char *term = getenv("TERM");
        bool tty = isatty(fileno(p->f)) && !(term && !strcmp(term, "dumb"));
        p->mode = tty ? LF_BENCH_PROGRESS_LIVE : LF_BENCH_PROGRESS_PLAIN;
    }
    const char *nc = getenv("NO_COLOR");
    p->color = p->mode == LF_BENCH_PROGRESS_LIVE && !(nc && *nc);
    p->max_rows = 16;
    const char *lines = getenv("LINES");
    if (lines && atoi(lines) > 8)
        p->max_rows = atoi(lines) - 4;
    p->t_start = lf_now_s();
    p->total = total;
}

static void fmt_dur(char *buf, size_t size, double s) {
    if (!isfinite(s) || s < 0)
        snprintf(buf, size, "?");
    else if (s < 60)
        snprintf(buf, size, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, size, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

double lf_rb_progress_eta(const lf_rb_progress *p) {
    if (p->done >= p->total)
        return 0;
    if (p->w_done > 0 && p->w_total > p->w_done && p->cell_seconds > 0)
        return (p->w_total - p->w_done) * (p->cell_seconds / p->w_done);
    if (p->done <= 0)
        return NAN;
    return (double)(p->total - p->done) * (p->cell_seconds / p->done);
}

static void value_text(const lf_rb_row *r, char *buf, size_t size) {
    if (!isfinite(r->median)) {
        snprintf(buf, size, "-");
        return;
    }
    int w = snprintf(buf, size, "%10.2f %-5s", r->median, r->unit ? r->unit : "");
    if (w > 0 && (size_t)w < size && isfinite(r->ci_rel))
        snprintf(buf + w, size - (size_t)w, " +-%4.1f%%", 100 * r->ci_rel);
}

/* Erases the live region and redraws header + rows. */
static void draw(lf_rb_progress *p) {
    FILE *f = p->f;
    if (p->drawn > 0)
        fprintf(f, "\033[%dA", p->drawn);
    int lines = 0;
    char el[16], eta[16];
    fmt_dur(el, sizeof el, lf_now_s() - p->t_start);
    fmt_dur(eta, sizeof eta, lf_rb_progress_eta(p));
    fprintf(f, "\r\033[2K%s%s%s  [%d/%d tests, %s elapsed, ~%s left]\n", p->color ? C_BOLD : "",
            p->title, p->color ? C_RESET : "", p->done, p->total, el, eta);
    lines++;
    /* With more rows than fit, finished rows at the top are folded into one
     * line so the running ones stay visible. */
    int first = 0, n_done_hidden = 0;
    if (p->n_rows > p->max_rows) {
        while (first < p->n_rows && p->n_rows - first > p->max_rows - 1 && p->rows[first].state >= 2) {
            first++;
            n_done_hidden++;
        }
        if (n_done_hidden) {
            fprintf(f, "\r\033[2K  %s... %d finished%s\n", p->color ? C_DIM : "", n_done_hidden,
                    p->color ? C_RESET : "");
            lines++;
        }
    }
    int shown = 0;
    for (int i = first; i < p->n_rows && shown < p->max_rows; i++, shown++) {
        const lf_rb_row *r = &p->rows[i];
        char val[64];
        value_text(r, val, sizeof val);
        static const char *const mark[] = {" ", ">", "*", "x"};
        const char *col = !p->color ? "" : r->state == 1 ? C_YELLOW : r->state == 2 ? C_GREEN
                                         : C_DIM;
        fprintf(f, "\r\033[2K  %s%s %-40.40s %-28s n=%-3d %s%s\n", col, mark[r->state & 3], r->name, val,
                r->n, r->note, p->color ? C_RESET : "");
        lines++;
    }
    p->drawn = lines;
    p->t_last_draw = lf_now_s();
    fflush(f);
}

void lf_rb_progress_note(lf_rb_progress *p, const char *fmt, ...) {
    if (p->mode == LF_BENCH_PROGRESS_NONE)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (p->mode == LF_BENCH_PROGRESS_LIVE && p->drawn > 0) {
        /* print above the region: erase it, write, redraw below */
        fprintf(p->f, "\033[%dA\r\033[J", p->drawn);
        p->drawn = 0;
        fprintf(p->f, "localfit bench: ");
        vfprintf(p->f, fmt, ap);
        fputc('\n', p->f);
        draw(p);
    } else {
        fprintf(p->f, "localfit bench: ");
        vfprintf(p->f, fmt, ap);
        fputc('\n', p->f);
        fflush(p->f);
    }
    va_end(ap);
}

void lf_rb_progress_group(lf_rb_progress *p, const char *title, const lf_rb_row *rows, int n) {
    lf_strlcpy(p->title, title, sizeof p->title);
    p->rows = rows;
    p->n_rows = n;
    if (p->mode == LF_BENCH_PROGRESS_LIVE) {
        p->drawn = 0;   /* the previous group's table stays as it is */
        draw(p);
    } else if (p->mode == LF_BENCH_PROGRESS_PLAIN) {
        fprintf(p->f, "localfit bench: %s (%d tests)\n", title, n);
        fflush(p->f);
    }
}

void lf_rb_progress_update(lf_rb_progress *p, int i, bool force) {
    (void)i;
    if (p->mode != LF_BENCH_PROGRESS_LIVE)
        return;
    if (force || lf_now_s() - p->t_last_draw >= 0.1)
        draw(p);
}

void lf_rb_progress_finished(lf_rb_progress *p, int i, double spent, double weight) {
    p->done++;
    if (spent > 0) {
        /* skipped tests cost nothing and teach nothing about speed */
        p->cell_seconds += spent;
        p->w_done += weight;
    } else {
        p->w_total -= weight;
    }
    if (p->mode == LF_BENCH_PROGRESS_LIVE) {
        draw(p);
    } else if (p->mode == LF_BENCH_PROGRESS_PLAIN && i >= 0 && i < p->n_rows) {
        const lf_rb_row *r = &p->rows[i];
        char val[64] = "skipped", eta[16];
        if (r->state != 3 && isfinite(r->median)) {
            double v = fabs(r->median);
            int w = snprintf(val, sizeof val, v >= 1 || v == 0 ? "%.2f %s" : "%.4f %s", r->median,
                             r->unit ? r->unit : "");
            if (w > 0 && (size_t)w < sizeof val && isfinite(r->ci_rel))
                snprintf(val + w, sizeof val - (size_t)w, " +-%.1f%%", 100 * r->ci_rel);
        }
        fmt_dur(eta, sizeof eta, lf_rb_progress_eta(p));
        fprintf(p->f, "  [%d/%d] %s: %s, n=%d (%s), ~%s left\n", p->done, p->total, r->name, val, r->n,
                r->note, eta);
        fflush(p->f);
    }
}

void lf_rb_progress_release(lf_rb_progress *p) {
    if (p->mode == LF_BENCH_PROGRESS_LIVE && p->drawn > 0)
        draw(p);
    /* the finished table stays on screen as the next group's does; the
     * header redrawn at the end must not walk the freed rows */
    p->rows = NULL;
    p->n_rows = 0;
    p->drawn = 0;
}

void lf_rb_progress_end(lf_rb_progress *p) {
    if (p->mode == LF_BENCH_PROGRESS_LIVE && p->drawn > 0)
        draw(p);
    p->drawn = 0;
    if (p->f)
        fflush(p->f);
}
