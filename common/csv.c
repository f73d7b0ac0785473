/*
 * The one CSV writer (common.h, "CSV"): RFC 4180 fields with the formula
 * guard, records ended by "\n". Bench output, the store's export and the
 * report's results.csv all write through it, so a field one of them quotes
 * the others quote too.
 */
#include "common/common.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void put_file(void *ctx, const char *s, size_t n) {
    if (n > 0)
        fwrite(s, 1, n, (FILE *)ctx);
}

void lf_csv_init(lf_csv *c, lf_csv_put_fn put, void *ctx, int digits) {
    c->put = put;
    c->ctx = ctx;
    c->col = 0;
    c->digits = digits > 0 && digits <= 17 ? digits : 10;   /* 17: all of a double */
}

void lf_csv_init_file(lf_csv *c, FILE *f, int digits) { lf_csv_init(c, put_file, f, digits); }

size_t lf_csv_escape(char *dst, size_t size, const char *src) {
    const char *s = src ? src : "";
    /* a leading = + - @ makes a spreadsheet evaluate the field; tab and CR
     * do in some (CSV injection) */
    bool guard = strchr("=+-@\t\r", s[0]) != NULL && s[0] != '\0';
    bool quote = guard || strpbrk(s, ",\"\r\n") != NULL;
    size_t o = 0;
#define OUT(ch)                 \
    do {                        \
        if (o + 1 < size)       \
            dst[o] = (ch);      \
        o++;                    \
    } while (0)
    if (quote)
        OUT('"');
    if (guard)
        OUT('\'');
    for (; *s; s++) {
        if (*s == '"')
            OUT('"');
        OUT(*s);
    }
    if (quote)
        OUT('"');
#undef OUT
    if (size > 0)
        dst[o < size ? o : size - 1] = '\0';
    return o;
}

static void sep(lf_csv *c) {
    if (c->col++ > 0)
        c->put(c->ctx, ",", 1);
}

void lf_csv_raw(lf_csv *c, const char *s) {
    sep(c);
    if (s)
        c->put(c->ctx, s, strlen(s));
}

void lf_csv_text(lf_csv *c, const char *s) {
    sep(c);
    s = s ? s : "";
    size_t len = strlen(s), cn = lf_text_clean_size(s, len, false);
    /* escaped: at most two bytes per byte, quotes, guard, NUL */
    size_t en = 2 * cn + 4;
    char stackbuf[2048], *buf = cn + en <= sizeof stackbuf ? stackbuf : malloc(cn + en);
    if (!buf)
        return;   /* an empty field; only a multi-megabyte name gets here */
    char *clean = lf_text_clean_n(buf, cn, s, len, false), *esc = buf + cn;
    size_t n = lf_csv_escape(esc, en, clean);
    c->put(c->ctx, esc, n);
    if (buf != stackbuf)
        free(buf);
}

void lf_csv_real(lf_csv *c, double v) {
    sep(c);
    if (isfinite(v)) {
        char b[40];
        int n = snprintf(b, sizeof b, "%.*g", c->digits, v);
        c->put(c->ctx, b, (size_t)n);
    }
}

void lf_csv_int(lf_csv *c, int64_t v) {
    sep(c);
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    c->put(c->ctx, b, (size_t)n);
}

void lf_csv_count(lf_csv *c, int64_t v) {
    if (v >= 0)
        lf_csv_int(c, v);
    else
        sep(c);
}

void lf_csv_end(lf_csv *c) {
    c->put(c->ctx, "\n", 1);
    c->col = 0;
}
