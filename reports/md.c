/*
 * Markdown rendering of the report document (GitHub-flavoured: pipe
 * tables). Every text and cell goes through rp_esc_md (paragraphs keep
 * their `commands` as code spans: rp_prose), so a model name can
 * neither split a table (|, newline), start formatting (` * _ [ ] ~) nor
 * inject HTML (& < > become entities: markdown passes raw HTML through).
 * Pictures are referenced as the PNG files beside report.md, SVG linked.
 */
#include "reports/internal.h"

/* Inside a code span markdown shows every character as it is: checked
 * plain ASCII by rp_prose, copied. */
static void code_raw(rp_buf *o, const char *s) { rp_buf_puts(o, s); }

/* Paragraph text: commands in backquotes as code spans, the rest escaped. */
static void prose(rp_buf *o, const char *s) { rp_prose(o, s, rp_esc_md, code_raw, "`", "`"); }

static void cell(rp_buf *o, const char *s) {
    rp_buf_putc(o, ' ');
    if (s && *s)
        rp_esc_md(o, s);
    rp_buf_puts(o, " |");
}

static void table(rp_buf *o, const rp_block *b) {
    rp_buf_putc(o, '|');
    for (size_t c = 0; c < b->ncols; c++)
        cell(o, b->cells[c]);
    rp_buf_puts(o, "\n|");
    for (size_t c = 0; c < b->ncols; c++)
        rp_buf_puts(o, (b->right >> c & 1) ? " ---: |" : " --- |");
    rp_buf_putc(o, '\n');
    for (size_t r = 1; r <= b->nrows; r++) {
        rp_buf_putc(o, '|');
        for (size_t c = 0; c < b->ncols; c++)
            cell(o, b->cells[r * b->ncols + c]);
        rp_buf_putc(o, '\n');
    }
    rp_buf_putc(o, '\n');
}

int rp_render_md(const rp_doc *doc, const lf_report_input *in, rp_buf *o, lf_error *err) {
    (void)in;
    for (size_t i = 0; i < doc->n; i++) {
        const rp_block *b = &doc->b[i];
        switch (b->kind) {
        case RP_H1: rp_buf_puts(o, "# "); rp_esc_md(o, b->text); rp_buf_puts(o, "\n\n"); break;
        case RP_H2: rp_buf_puts(o, "## "); rp_esc_md(o, b->text); rp_buf_puts(o, "\n\n"); break;
        case RP_H3: rp_buf_puts(o, "### "); rp_esc_md(o, b->text); rp_buf_puts(o, "\n\n"); break;
        case RP_PARA: prose(o, b->text); rp_buf_puts(o, "\n\n"); break;
        case RP_NOTE:
            rp_buf_puts(o, "> **Note:** ");
            prose(o, b->text);
            rp_buf_puts(o, "\n\n");
            break;
        case RP_WARN:
            rp_buf_puts(o, "> **Warning:** ");
            prose(o, b->text);
            rp_buf_puts(o, "\n\n");
            break;
        case RP_TABLE: table(o, b); break;
        case RP_IMAGE:
            rp_buf_puts(o, "![");
            rp_esc_md(o, b->text);
            rp_buf_printf(o, "](%s.png)\n\n", rp_plot_name(b->plot));
            rp_buf_puts(o, "*");
            rp_esc_md(o, b->text);
            rp_buf_printf(o, "* ([SVG](%s.svg))\n\n", rp_plot_name(b->plot));
            break;
        }
    }
    if (o->oom)
        return lf_error_set(err, LF_ENOMEM, "out of memory rendering markdown");
    return 0;
}
