/*
 * Label layout for the plots: where value labels and point labels go on
 * the picture, decided here rather than left to gnuplot, which neither
 * avoids overlaps nor widens a range to make room for a label. The plots
 * fix their margins (screen fractions) and their data ranges, so a data
 * point's pixel on the RP_PIC_W x RP_PIC_H picture is known before
 * gnuplot runs; text size comes from generous font metrics (measured on
 * pngcairo's sans: digits at 8 pt are 7 px wide, mixed quant names about
 * 6.2 px a character), so a box computed here holds the drawn text.
 *
 * Invariants of what the functions return:
 *   1. no two shown labels' boxes overlap;
 *   2. every shown label lies inside the plot area;
 *   3. a point label never covers a point (its marker's box).
 * A label that cannot meet them is not shown; the caller says so.
 */
#include "reports/internal.h"

#include <math.h>
#include <string.h>

#define CHAR_W_PER_PT 0.9    /* px per character per point of font size */
#define LINE_H_PER_PT 1.5    /* px of line height per point */

double rp_frame_px_x(const rp_frame *f, double x) {
    return f->px.x0 + (x - f->xmin) / (f->xmax - f->xmin) * (f->px.x1 - f->px.x0);
}

/* The fraction of the way up the y range, linear or logarithmic. */
static double y_frac(const rp_frame *f, double y) {
    if (f->logy)
        return (log(y) - log(f->ymin)) / (log(f->ymax) - log(f->ymin));
    return (y - f->ymin) / (f->ymax - f->ymin);
}

double rp_frame_px_y(const rp_frame *f, double y) {
    return f->px.y0 + y_frac(f, y) * (f->px.y1 - f->px.y0);
}

double rp_frame_data_y(const rp_frame *f, double py) {
    double t = (py - f->px.y0) / (f->px.y1 - f->px.y0);
    if (f->logy)
        return exp(log(f->ymin) + t * (log(f->ymax) - log(f->ymin)));
    return f->ymin + t * (f->ymax - f->ymin);
}

size_t rp_text_chars(const char *s) {
    size_t n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;   /* UTF-8 lead bytes */
    return n;
}

double rp_text_w(size_t chars, double pt) { return (double)chars * CHAR_W_PER_PT * pt; }
double rp_text_h(double pt) { return LINE_H_PER_PT * pt; }

bool rp_box_overlap(rp_box a, rp_box b) {
    return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

bool rp_box_inside(rp_box a, rp_box outer) {
    return a.x0 >= outer.x0 && a.x1 <= outer.x1 && a.y0 >= outer.y0 && a.y1 <= outer.y1;
}

/* ---- value labels over bars ---- */

rp_bar_label rp_bar_label_mode(double slot_px, size_t chars, double pt) {
    if (rp_text_w(chars, pt) + 2 <= slot_px)
        return RP_BARLAB_FLAT;
    if (rp_text_h(pt) + 1 <= slot_px)
        return RP_BARLAB_UP;   /* turned 90 degrees: its height is now its width */
    return RP_BARLAB_NONE;
}

rp_box rp_bar_label_box(rp_bar_label mode, double cx, double top, size_t chars, double pt) {
    double w = rp_text_w(chars, pt), h = rp_text_h(pt);
    if (mode == RP_BARLAB_UP)
        return (rp_box){cx - h / 2, top + RP_LABEL_GAP, cx + h / 2, top + RP_LABEL_GAP + w};
    return (rp_box){cx - w / 2, top + RP_LABEL_GAP, cx + w / 2, top + RP_LABEL_GAP + h};
}

double rp_bar_headroom(double ymin, double hi, bool logy, double h_px, double label_px) {
    /* The tallest bar may rise to the fraction k of the height; the rest
     * (one pixel spare) holds the gap and its label. */
    double room = label_px + RP_LABEL_GAP + 1;
    double k = h_px > 2 * room ? (h_px - room) / h_px : 0.5;
    if (logy)
        return exp(log(ymin) + (log(hi) - log(ymin)) / k);
    return ymin + (hi - ymin) / k;
}

/* ---- labels beside points ---- */

static rp_box point_box(double px, double py) {
    return (rp_box){px - RP_POINT_R, py - RP_POINT_R, px + RP_POINT_R, py + RP_POINT_R};
}

/* Candidate k (0..7) of a w x h label around a point at (px, py): right,
 * left, above, below, then the four corners. */
static rp_box candidate(int k, double px, double py, double w, double h) {
    double d = RP_POINT_R + RP_LABEL_GAP;
    switch (k) {
    case 0: return (rp_box){px + d, py - h / 2, px + d + w, py + h / 2};
    case 1: return (rp_box){px - d - w, py - h / 2, px - d, py + h / 2};
    case 2: return (rp_box){px - w / 2, py + d, px + w / 2, py + d + h};
    case 3: return (rp_box){px - w / 2, py - d - h, px + w / 2, py - d};
    case 4: return (rp_box){px + d, py + d, px + d + w, py + d + h};
    case 5: return (rp_box){px + d, py - d - h, px + d + w, py - d};
    case 6: return (rp_box){px - d - w, py + d, px - d, py + d + h};
    default: return (rp_box){px - d - w, py - d - h, px - d, py - d};
    }
}

static bool clear_of(rp_box c, const rp_frame *f, const double *x, const double *y, size_t n,
                     const rp_placed *out, size_t upto) {
    if (!rp_box_inside(c, f->px))
        return false;
    for (size_t j = 0; j < n; j++)
        if (rp_box_overlap(c, point_box(rp_frame_px_x(f, x[j]), rp_frame_px_y(f, y[j]))))
            return false;
    for (size_t j = 0; j < upto; j++)
        if (out[j].shown && rp_box_overlap(c, out[j].box))
            return false;
    return true;
}

size_t rp_place_point_labels(const rp_frame *f, const double *x, const double *y,
                             const char *const *text, size_t n, double pt, rp_placed *out) {
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = (rp_placed){0};
        double px = rp_frame_px_x(f, x[i]), py = rp_frame_px_y(f, y[i]);
        double w = rp_text_w(rp_text_chars(text[i]), pt), h = rp_text_h(pt);
        for (int k = 0; k < 8 && !out[i].shown; k++) {
            rp_box c = candidate(k, px, py, w, h);
            if (clear_of(c, f, x, y, n, out, i)) {
                out[i] = (rp_placed){.shown = true, .box = c};
                shown++;
            }
        }
    }
    return shown;
}
