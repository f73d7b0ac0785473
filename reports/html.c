/*
 * HTML rendering: one self-contained page — inline CSS, the plots inlined
 * as PNG data: URIs, no script, no external reference. Every text and cell
 * goes through rp_esc_html. A Content-Security-Policy meta tag forbids
 * scripts and any load but data: images, a second wall should escaping
 * ever miss something. The CSS is plain and prints well (no nav, no breaks
 * inside figures and table rows).
 */
#include "reports/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char css[] =
    ":root{--fg:#1d2330;--muted:#5b6475;--line:#d9dde5;--bg:#ffffff;--zebra:#f6f7f9;"
    "--accent:#4269d0}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'DejaVu Sans',sans-serif}\n"
    "main{max-width:1120px;margin:0 auto;padding:24px 32px 64px}\n"
    "h1{font-size:28px;margin:8px 0 4px}\n"
    "h2{font-size:21px;margin:40px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--line)}\n"
    "h3{font-size:16px;margin:22px 0 8px}\n"
    "p{margin:8px 0}\n"
    ".meta{color:var(--muted)}\n"
    "nav{margin:12px 0 8px;font-size:14px}\n"
    "nav a{color:var(--accent);text-decoration:none;margin-right:14px;white-space:nowrap}\n"
    ".note,.warn{padding:8px 12px;border-radius:4px;margin:12px 0}\n"
    ".note{background:#eef3ff;border-left:4px solid var(--accent)}\n"
    ".warn{background:#fff1ee;border-left:4px solid #d9534f}\n"
    ".tw{overflow-x:auto;margin:8px 0 16px}\n"
    "table{border-collapse:collapse;font-size:13.5px;min-width:40%}\n"
    "th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;"
    "vertical-align:top}\n"
    "th{background:var(--zebra);font-weight:600;border-bottom:2px solid var(--line)}\n"
    "tbody tr:nth-child(even){background:var(--zebra)}\n"
    /* the tables fit the page: text cells wrap between words, the first
     * column (the names) anywhere when it must; numbers stay whole and
     * their headers wrap between words */
    "td{overflow-wrap:break-word}\n"
    "td:first-child{min-width:9em;overflow-wrap:anywhere}\n"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "td.n{white-space:nowrap}\n"
    "figure{margin:12px 0 20px}\n"
    "figure img{display:block;max-width:100%;height:auto;border:1px solid var(--line)}\n"
    "figcaption{color:var(--muted);font-size:13px;margin-top:4px}\n"
    "footer{margin-top:40px;color:var(--muted);font-size:13px}\n"
    "@media print{body{font-size:11pt}main{max-width:none;padding:0}nav{display:none}"
    "h2{break-after:avoid}figure,tr{break-inside:avoid}.tw{overflow:visible}}\n";

/* Reads dir/NAME.png whole. Returns 0, or LF_EIO / LF_EFORMAT / LF_ENOMEM. */
static int read_png(const char *dir, const char *name, unsigned char **out, size_t *n,
                    lf_error *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.png", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return lf_error_set(err, LF_EIO, "%s: %s", path, strerror(errno));
    rp_buf b = {0};
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
        rp_buf_putn(&b, chunk, k);
    int rc = ferror(f) ? lf_error_set(err, LF_EIO, "%s: read error", path) : 0;
    fclose(f);
    if (!rc && b.oom)
        rc = lf_error_set(err, LF_ENOMEM, "out of memory reading %s", path);
    if (!rc && (b.len < 24 || memcmp(b.s, "\x89PNG\r\n\x1a\n", 8) != 0))
        rc = lf_error_set(err, LF_EFORMAT, "%s: not a PNG file", path);
    if (rc) {
        rp_buf_free(&b);
        return rc;
    }
    *n = b.len;
    *out = (unsigned char *)b.s;
    return 0;
}

static unsigned be32(const unsigned char *p) {
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

static void table(rp_buf *o, const rp_block *b) {
    rp_buf_puts(o, "<div class=\"tw\"><table>\n<thead><tr>");
    for (size_t c = 0; c < b->ncols; c++) {
        rp_buf_puts(o, (b->right >> c & 1) ? "<th class=\"n\">" : "<th>");
        rp_esc_html(o, b->cells[c]);
        rp_buf_puts(o, "</th>");
    }
    rp_buf_puts(o, "</tr></thead>\n<tbody>\n");
    for (size_t r = 1; r <= b->nrows; r++) {
        rp_buf_puts(o, "<tr>");
        for (size_t c = 0; c < b->ncols; c++) {
            rp_buf_puts(o, (b->right >> c & 1) ? "<td class=\"n\">" : "<td>");
            rp_esc_html(o, b->cells[r * b->ncols + c]);
            rp_buf_puts(o, "</td>");
        }
        rp_buf_puts(o, "</tr>\n");
    }
    rp_buf_puts(o, "</tbody></table></div>\n");
}

static int image(rp_buf *o, const rp_block *b, const char *dir, lf_error *err) {
    unsigned char *png;
    size_t n;
    int rc = read_png(dir, rp_plot_name(b->plot), &png, &n, err);
    if (rc)
        return rc;
    rp_buf_printf(o, "<figure id=\"fig-%s\"><img width=\"%u\" height=\"%u\" alt=\"",
                  rp_plot_name(b->plot), be32(png + 16), be32(png + 20));
    rp_esc_html(o, b->text);
    rp_buf_puts(o, "\" src=\"data:image/png;base64,");
    rp_base64(o, png, n);
    rp_buf_puts(o, "\"><figcaption>");
    rp_esc_html(o, b->text);
    rp_buf_puts(o, "</figcaption></figure>\n");
    free(png);
    return 0;
}

int rp_render_html(const rp_doc *doc, const lf_report_input *in, const char *dir, rp_buf *o,
                   lf_error *err) {
    const char *title = in->title && *in->title ? in->title : "localfit capability report";
    rp_buf_puts(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                   "img-src data:; style-src 'unsafe-inline'\">\n"
                   "<meta name=\"generator\" content=\"localfit ");
    rp_esc_html(o, in->tool_version);
    rp_buf_puts(o, "\">\n<title>");
    rp_esc_html(o, title);
    rp_buf_printf(o, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", css);
    bool in_section = false, nav_done = false;
    for (size_t i = 0; i < doc->n; i++) {
        const rp_block *b = &doc->b[i];
        switch (b->kind) {
        case RP_H1:
            rp_buf_puts(o, "<header>\n<h1>");
            rp_esc_html(o, b->text);
            rp_buf_puts(o, "</h1>\n");
            break;
        case RP_H2:
            if (!nav_done) {
                /* The table of contents, from the section headings. */
                rp_buf_puts(o, "<nav>");
                for (size_t j = i; j < doc->n; j++)
                    if (doc->b[j].kind == RP_H2) {
                        rp_buf_printf(o, "<a href=\"#%s\">", doc->b[j].anchor);
                        rp_esc_html(o, doc->b[j].text);
                        rp_buf_puts(o, "</a>");
                    }
                rp_buf_puts(o, "</nav>\n</header>\n");
                nav_done = true;
            }
            if (in_section)
                rp_buf_puts(o, "</section>\n");
            rp_buf_printf(o, "<section id=\"%s\">\n<h2>", b->anchor);
            rp_esc_html(o, b->text);
            rp_buf_puts(o, "</h2>\n");
            in_section = true;
            break;
        case RP_H3:
            rp_buf_puts(o, "<h3>");
            rp_esc_html(o, b->text);
            rp_buf_puts(o, "</h3>\n");
            break;
        case RP_PARA:
            rp_buf_puts(o, in_section ? "<p>" : "<p class=\"meta\">");
            rp_prose(o, b->text, rp_esc_html, rp_esc_html, "<code>", "</code>");
            rp_buf_puts(o, "</p>\n");
            break;
        case RP_NOTE:
        case RP_WARN:
            rp_buf_puts(o, b->kind == RP_NOTE ? "<p class=\"note\">" : "<p class=\"warn\">");
            rp_prose(o, b->text, rp_esc_html, rp_esc_html, "<code>", "</code>");
            rp_buf_puts(o, "</p>\n");
            break;
        case RP_TABLE: table(o, b); break;
        case RP_IMAGE: {
            int rc = image(o, b, dir, err);
            if (rc)
                return rc;
            break;
        }
        }
    }
    if (in_section)
        rp_buf_puts(o, "</section>\n");
    rp_buf_puts(o, "<footer>Rendered by localfit ");
    rp_esc_html(o, in->tool_version);
    rp_buf_puts(o, "; the tables hold the exact figures.</footer>\n"
                   "</main>\n</body>\n</html>\n");
    if (o->oom)
        return lf_error_set(err, LF_ENOMEM, "out of memory rendering HTML");
    return 0;
}
