/*
 * Escaping of untrusted text for every place a report puts it: HTML, a
 * markdown table cell, a CSV field (common's CSV writer), a gnuplot string literal; plus base64
 * for inlined images. All start from one cleaning pass (valid UTF-8, no
 * control or bidi-override characters) so a name cannot break a line-based
 * format, reorder what a reader sees, or carry bytes a parser rejects.
 */
#include "reports/internal.h"

#include <stdlib.h>
#include <string.h>

/* Characters never worth keeping in a label: C0/C1 controls and the bidi
 * embedding/override/isolate marks that can make text read differently
 * from what it is. */
static bool dropped(unsigned cp) {
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Walks s as cleaned text, calling emit for each ASCII byte (so escapers can
 * act on it) and copying other valid characters through. max_bytes > 0
 * truncates the output (at a character boundary) and adds "…". */
typedef void (*ascii_fn)(rp_buf *b, char c);

static void walk(rp_buf *b, const char *s, ascii_fn emit, size_t max_bytes) {
    const unsigned char *p = (const unsigned char *)rp_str(s);
    size_t n = strlen((const char *)p), out = 0;
    while (n > 0) {
        if (max_bytes && out >= max_bytes) {
            rp_buf_puts(b, "\xE2\x80\xA6");
            return;
        }
        uint32_t cp;
        size_t len = lf_utf8_decode(p, n, &cp);
        if (len == 0) {
            rp_buf_puts(b, "\xEF\xBF\xBD");   /* U+FFFD for a bad byte */
            out += 3;
            p++, n--;
            continue;
        }
        if (cp == '\n' || cp == '\r' || cp == '\t') {
            emit(b, ' ');
            out++;
        } else if (dropped(cp)) {
            /* nothing */
        } else if (cp < 0x80) {
            emit(b, (char)cp);
            out++;
        } else {
            rp_buf_putn(b, (const char *)p, len);
            out += len;
        }
        p += len, n -= len;
    }
}

static void emit_plain(rp_buf *b, char c) { rp_buf_putc(b, c); }

void rp_clean_text(rp_buf *b, const char *s) { walk(b, s, emit_plain, 0); }

static void emit_html(rp_buf *b, char c) {
    switch (c) {
    case '&': rp_buf_puts(b, "&amp;"); break;
    case '<': rp_buf_puts(b, "&lt;"); break;
    case '>': rp_buf_puts(b, "&gt;"); break;
    case '"': rp_buf_puts(b, "&quot;"); break;
    case '\'': rp_buf_puts(b, "&#39;"); break;
    default: rp_buf_putc(b, c);
    }
}

void rp_esc_html(rp_buf *b, const char *s) { walk(b, s, emit_html, 0); }

static void emit_md(rp_buf *b, char c) {
    switch (c) {
    case '&': rp_buf_puts(b, "&amp;"); break;
    case '<': rp_buf_puts(b, "&lt;"); break;
    case '>': rp_buf_puts(b, "&gt;"); break;
    case '\\': case '|': case '`': case '*': case '_': case '[': case ']': case '~':
        rp_buf_putc(b, '\\');
        rp_buf_putc(b, c);
        break;
    default: rp_buf_putc(b, c);
    }
}

void rp_esc_md(rp_buf *b, const char *s) { walk(b, s, emit_md, 0); }

static void put_buf(void *b, const char *s, size_t n) { rp_buf_putn(b, s, n); }

void rp_csv_init(lf_csv *c, rp_buf *b) { lf_csv_init(c, put_buf, b, 9); }

/* common's CSV writer (the one every export uses): quoted only when the
 * field needs it, with the formula guard. */
void rp_esc_csv(rp_buf *b, const char *s) {
    lf_csv c;
    rp_csv_init(&c, b);
    lf_csv_text(&c, s);
}

static void emit_gp(rp_buf *b, char c) {
    if (c == '\'')
        rp_buf_putc(b, '\'');
    rp_buf_putc(b, c);
}

/* Labels longer than this are cut: a megabyte model name would only make
 * gnuplot slow and the plot unreadable. */
#define GP_MAX_LABEL 120

void rp_esc_gnuplot(rp_buf *b, const char *s) {
    rp_buf_putc(b, '\'');
    walk(b, s, emit_gp, GP_MAX_LABEL);
    rp_buf_putc(b, '\'');
}

void rp_base64(rp_buf *b, const unsigned char *p, size_t n) {
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        q[0] = tab[v >> 18], q[1] = tab[(v >> 12) & 63], q[2] = tab[(v >> 6) & 63];
        q[3] = tab[v & 63];
        rp_buf_putn(b, q, 4);
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
        q[0] = tab[v >> 18], q[1] = tab[(v >> 12) & 63];
        q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        q[3] = '=';
        rp_buf_putn(b, q, 4);
    }
}

typedef void (*esc_fn)(rp_buf *b, const char *s);

static char *escape_new(esc_fn f, const char *s) {
    rp_buf b = {0};
    f(&b, s);
    return rp_buf_take(&b);
}

char *lf_report_escape_html(const char *s) { return escape_new(rp_esc_html, s); }
char *lf_report_escape_md(const char *s) { return escape_new(rp_esc_md, s); }
char *lf_report_escape_csv(const char *s) { return escape_new(rp_esc_csv, s); }
char *lf_report_escape_gnuplot(const char *s) { return escape_new(rp_esc_gnuplot, s); }

/* Whether the n bytes at p are printable ASCII without a backquote: what
 * a code span may hold verbatim. */
static bool plain_code(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] >= 0x7f || p[i] == '`')
            return false;
    return n > 0;
}

/* fn applied to the n bytes at p as a string. */
static void apply_n(rp_buf *b, void (*fn)(rp_buf *, const char *), const char *p, size_t n) {
    char *t = malloc(n + 1);
    if (!t) {
        b->oom = true;
        return;
    }
    memcpy(t, p, n);
    t[n] = '\0';
    fn(b, t);
    free(t);
}

void rp_prose(rp_buf *b, const char *s, void (*text)(rp_buf *, const char *),
              void (*code)(rp_buf *, const char *), const char *open, const char *close) {
    const char *p = s ? s : "";
    for (;;) {
        const char *q = strchr(p, '`');
        const char *e = q ? strchr(q + 1, '`') : NULL;
        if (!e || !plain_code(q + 1, (size_t)(e - q - 1))) {
            /* no (further) code span: the rest, up to and with a lone
             * backquote, is text */
            const char *end = q ? q + 1 : p + strlen(p);
            apply_n(b, text, p, (size_t)(end - p));
            if (!q)
                return;
            p = end;
            continue;
        }
        apply_n(b, text, p, (size_t)(q - p));
        rp_buf_puts(b, open);
        apply_n(b, code, q + 1, (size_t)(e - q - 1));
        rp_buf_puts(b, close);
        p = e + 1;
    }
}
