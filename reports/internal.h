/*
 * reports internals shared by its files (not part of the public API): a
 * growable string buffer, the escapers writing into it, the plot set, and
 * the document model — a flat list of headings, paragraphs, notes, tables
 * and images holding PLAIN text — that doc.c builds once from the input and
 * md.c / html.c render, each escaping every string for its own syntax.
 * Keeping markup out of the model means no text reaches an output unescaped.
 */
#ifndef LF_REPORTS_INTERNAL_H
#define LF_REPORTS_INTERNAL_H

#include "reports/reports.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- string buffer ---------------------------------------------------------
 * Appends never fail loudly: the first allocation failure sets `oom` and
 * further appends are ignored, so builders check once at the end. */
typedef struct rp_buf {
    char *s;        /* NUL-terminated when len > 0 or after rp_buf_cstr */
    size_t len, cap;
    bool oom;
} rp_buf;

void rp_buf_free(rp_buf *b);
void rp_buf_putn(rp_buf *b, const char *s, size_t n);
void rp_buf_puts(rp_buf *b, const char *s);
void rp_buf_putc(rp_buf *b, char c);
void rp_buf_printf(rp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The contents as a string ("" when empty); NULL only if oom. */
const char *rp_buf_cstr(rp_buf *b);
/* Moves the contents out as a malloc'd string (NULL if oom); b is emptied. */
char *rp_buf_take(rp_buf *b);

/* ---- escaping into a buffer (see reports.h for each contract) ---- */
void rp_esc_html(rp_buf *b, const char *s);
void rp_esc_md(rp_buf *b, const char *s);
void rp_esc_csv(rp_buf *b, const char *s);
/* common's CSV writer into b, numbers with 9 significant digits. */
void rp_csv_init(lf_csv *c, rp_buf *b);
void rp_esc_gnuplot(rp_buf *b, const char *s);   /* with the quotes */
/* Appends s as valid UTF-8 without control characters (newline/tab -> ' '),
 * the form every escaper starts from. */
void rp_clean_text(rp_buf *b, const char *s);
/* Prose whose `backquoted` parts are commands: each balanced pair of
 * backquotes around plain printable ASCII becomes open + the part through
 * code + close; everything else goes through text (an unpaired backquote
 * too). So markdown shows a code span, not a backslash-escaped backquote. */
void rp_prose(rp_buf *b, const char *s, void (*text)(rp_buf *, const char *),
              void (*code)(rp_buf *, const char *), const char *open, const char *close);

/* Standard base64 (RFC 4648, with padding) of n bytes. */
void rp_base64(rp_buf *b, const unsigned char *p, size_t n);

/* ---- small formatting helpers ---- */
bool rp_known(double v);                        /* finite */
const char *rp_str(const char *s);              /* NULL -> "" */
/* Number with `dec` decimals, or "—" when not finite. */
const char *rp_fmt(char *buf, size_t size, double v, int dec);
/* Throughput-style figure: 1 decimal at >= 10, 2 below. */
const char *rp_fmt_val(char *buf, size_t size, double v);
/* "2024-05-01 12:00 UTC" (empty for 0). */
const char *rp_fmt_time(char *buf, size_t size, int64_t t);
bool rp_is_rate_test(const char *test);         /* pp / tg */

/* ---- derived data shared by plots and document ---- */
/* Distinct non-NULL strings in first-seen order (pointers into the input). */
typedef struct rp_strset {
    const char **v;
    size_t n, cap;
    bool oom;
} rp_strset;
size_t rp_strset_add(rp_strset *s, const char *x);   /* index, existing or new */
long rp_strset_find(const rp_strset *s, const char *x);  /* -1 if absent */
void rp_strset_free(rp_strset *s);

/* Best (highest) tokens/s for device, model, quant and test among results
 * without adapter at depth 0; NAN if none. threads = 0 means any. */
double rp_best_rate(const lf_report_input *in, const char *device_id, const char *model,
                    const char *quant, const char *test, int threads);
/* The quants of in->results on device (any test), ordered by bits per weight
 * then name; models in first-seen order. */
void rp_models_quants(const lf_report_input *in, const char *device_id, rp_strset *models,
                      rp_strset *quants);
/* Thread scaling: indices of results standing for distinct (model, quant)
 * pairs with tg (no adapter, depth 0) at min_counts or more thread counts
 * on dev (NULL = any device), at most max; and a pair's thread counts
 * ascending. */
size_t rp_thread_series(const lf_report_input *in, const char *dev, size_t *idx, size_t max,
                        int min_counts);
size_t rp_thread_counts(const lf_report_input *in, const char *dev, const char *model,
                        const char *quant, int *thr, size_t max);
/* FLOPs per token of a result: flops_per_token when set, else 2 × params
 * from weight bytes and bits per weight; NAN if unknown. */
double rp_flops_per_token(const lf_report_result *r);

/* ---- plots ---- */
typedef enum rp_plot_id {
    RP_PLOT_ROOFLINE = 0,
    RP_PLOT_TP_TG,
    RP_PLOT_TP_PP,
    RP_PLOT_QUALITY,
    RP_PLOT_THREADS,
    RP_PLOT_HISTORY,
    RP_PLOT_DEVICES,
    RP_PLOT_COUNT
} rp_plot_id;

typedef enum rp_plot_state {
    RP_PLOT_NODATA = 0,   /* nothing to draw */
    RP_PLOT_SKIPPED,      /* gnuplot absent or plots disabled (why in note) */
    RP_PLOT_FAILED,       /* gnuplot ran and failed (note has its message) */
    RP_PLOT_OK,           /* NAME.png and NAME.svg exist */
} rp_plot_state;

typedef struct rp_plot {
    rp_plot_state state;
    char note[600];
} rp_plot;

typedef struct rp_plots {
    rp_plot p[RP_PLOT_COUNT];
    int n_failed;
    char skipped_why[600];  /* set when every plot was skipped */
    bool disabled;          /* skipped because the caller asked (no_plots) */
} rp_plots;

const char *rp_plot_name(rp_plot_id id);   /* "roofline" -> roofline.png */
const char *rp_plot_title(rp_plot_id id);  /* "Roofline" */
/* Appends the gnuplot script for plot id to b. Returns false when the input
 * has nothing to draw for it (b untouched). */
bool rp_plot_script(const lf_report_input *in, rp_plot_id id, rp_buf *b);
/* ---- label layout (layout.c) ----------------------------------------------
 * The plots fix their margins and ranges, so a point's pixel on the picture
 * is known before gnuplot draws it. Pixels: x right, y up from the
 * picture's bottom-left corner. */
#define RP_PIC_W 960.0      /* px, the PNG's size */
#define RP_PIC_H 540.0
#define RP_LABEL_GAP 3.0    /* px between a label and what it labels */
#define RP_POINT_R 6.0      /* px, half the side of a point marker's box */

typedef struct rp_box {
    double x0, y0, x1, y1;  /* px, x0 <= x1, y0 <= y1 */
} rp_box;

typedef struct rp_frame {
    rp_box px;                      /* the plot area on the picture */
    double xmin, xmax, ymin, ymax;  /* its data ranges (ymin > 0 if logy) */
    bool logy;
} rp_frame;

double rp_frame_px_x(const rp_frame *f, double x);   /* data -> px */
double rp_frame_px_y(const rp_frame *f, double y);
double rp_frame_data_y(const rp_frame *f, double py); /* px -> data */
size_t rp_text_chars(const char *s);                   /* UTF-8 characters */
/* Generous size in px of `chars` characters at font size pt. */
double rp_text_w(size_t chars, double pt);
double rp_text_h(double pt);
bool rp_box_overlap(rp_box a, rp_box b);   /* touching edges do not overlap */
bool rp_box_inside(rp_box a, rp_box outer);

/* Value labels over bars slot_px wide (one bar's pitch): flat when the
 * widest label (chars) fits, turned up 90 degrees when its height does,
 * else none (the tables hold the values). */
typedef enum rp_bar_label { RP_BARLAB_FLAT, RP_BARLAB_UP, RP_BARLAB_NONE } rp_bar_label;
rp_bar_label rp_bar_label_mode(double slot_px, size_t chars, double pt);
/* The box of the label over a bar centred at px cx whose top is at px top. */
rp_box rp_bar_label_box(rp_bar_label mode, double cx, double top, size_t chars, double pt);
/* The top of a y range starting at ymin that leaves label_px (plus a gap)
 * above the tallest bar hi on a plot h_px high. */
double rp_bar_headroom(double ymin, double hi, bool logy, double h_px, double label_px);

/* Places text[i] beside the point (x[i], y[i]) (data, inside f's ranges):
 * in order, each label takes the first of eight positions around its point
 * that stays inside the plot area, clear of every point and of the labels
 * placed before it; out[i].shown is false when none is. Returns how many
 * are shown. Shown boxes never overlap. */
typedef struct rp_placed {
    bool shown;
    rp_box box;             /* px */
} rp_placed;
size_t rp_place_point_labels(const rp_frame *f, const double *x, const double *y,
                             const char *const *text, size_t n, double pt, rp_placed *out);

/* Draws every plot into dir with the given gnuplot (NULL = PATH lookup). */
int rp_plots_render(const lf_report_input *in, const char *dir, const lf_report_opts *opts,
                    rp_plots *out, lf_error *err);

/* ---- document model ---- */
typedef enum rp_block_kind {
    RP_H1, RP_H2, RP_H3, RP_PARA, RP_NOTE, RP_WARN, RP_TABLE, RP_IMAGE
} rp_block_kind;

typedef struct rp_block {
    rp_block_kind kind;
    char *text;         /* heading / paragraph / note; image: caption */
    const char *anchor; /* H2: section id (a constant) */
    size_t ncols, nrows;   /* table: rows exclude the header */
    size_t rows_cap;
    char **cells;       /* (nrows + 1) × ncols, header first; owned */
    unsigned right;     /* table: bit c = right-align column c (numbers) */
    rp_plot_id plot;    /* image */
} rp_block;

typedef struct rp_doc {
    rp_block *b;
    size_t n, cap;
    bool oom;
} rp_doc;

/* Builds the document for in, given how the plots went. */
int rp_doc_build(const lf_report_input *in, const rp_plots *plots, rp_doc *doc, lf_error *err);
void rp_doc_free(rp_doc *doc);

/* Renderers: append the whole document to out. html reads the PNGs from
 * dir to inline them. */
int rp_render_md(const rp_doc *doc, const lf_report_input *in, rp_buf *out, lf_error *err);
int rp_render_html(const rp_doc *doc, const lf_report_input *in, const char *dir, rp_buf *out,
                   lf_error *err);
int rp_render_json(const lf_report_input *in, const rp_plots *plots, rp_buf *out, lf_error *err);
int rp_render_csv(const lf_report_input *in, rp_buf *out);

#endif /* LF_REPORTS_INTERNAL_H */
