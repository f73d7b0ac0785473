/*
 * Tests for reports/: the escapers against hand-written expectations; every
 * format rendered from the built-in sample and from an empty input, each
 * section present; JSON parsed back with jansson (schema localfit.report/1);
 * hostile names (HTML/markdown/CSV/gnuplot metacharacters, newlines,
 * backquotes, invalid UTF-8) kept inert in every output and in the gnuplot
 * command stream (captured by a fake gnuplot, and run through the real one
 * to prove nothing executes); no gnuplot; a failing gnuplot; and headless
 * Chromium opening the HTML (skipped when chromium is not installed).
 */
#include "reports/reports.h"
#include "reports/internal.h"   /* rp_base64, for the RFC 4648 vectors */

#include "helpers.h"

#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

/* ---- hostile input ------------------------------------------------------- */

static const char evil_model[] =
    "<script>alert(1)</script>|\"x\" it's `touch pwned1` @x {^_&}\nEOD\n"
    "system('touch pwned2')\n!touch pwned3";
static const char evil_quant[] = "Q4'_K\"M`touch pwned4`|*_[x]";
static const char evil_slug[] = "dev'\n`touch pwned5`{x}@y<b>";
static const char evil_commit[] = "c0ffee'`touch pwned6`";
static const char evil_test[] = "tg'\n!touch pwned7 <i>";
static const char evil_bytes[] = "bad \xff\xfe utf8 \xe2\x80\xae RLO";

static const lf_report_kv evil_profile[] = {
    {"CPU", evil_model}, {evil_quant, evil_bytes}, {"Memory", "16 GiB"}};
static const lf_report_bw_point evil_curve[] = {{1, 10.0}, {2, 18.0}, {4, 20.0}};

typedef struct hostile {
    lf_report_device dev[2];
    lf_report_result res[16];
    lf_report_quality qual[3];
    lf_report_rec rec[2];
    lf_report_history hist[3];
    lf_report_input in;
} hostile;

static lf_report_result mk(const char *dev, const char *model, const char *quant,
                           const char *test, int threads, double v) {
    return (lf_report_result){.device_id = dev, .model = model, .quant = quant, .test = test,
                              .threads = threads, .n_gen = 64, .value = v, .ci_low = v * 0.98,
                              .ci_high = v * 1.02, .bytes_per_token = 5e8,
                              .roofline_fraction = 0.5, .flops_per_token = NAN,
                              .weight_bytes = 500000000, .bits_per_weight = 4.5,
                              .commit = evil_commit, .timestamp = 1700000000};
}

static void hostile_init(hostile *h) {
    memset(h, 0, sizeof *h);
    h->dev[0] = (lf_report_device){"dev0", evil_slug, evil_profile, 3, 20.0, 300.0, 1200.0,
                                   evil_curve, 3};
    h->dev[1] = (lf_report_device){"dev1", "plain-dev", NULL, 0, 40.0, NAN, NAN, NULL, 0};
    size_t n = 0;
    h->res[n++] = mk("dev0", evil_model, evil_quant, "tg", 1, 11.0);
    h->res[n++] = mk("dev0", evil_model, evil_quant, "tg", 2, 19.5);
    h->res[n++] = mk("dev0", evil_model, evil_quant, "pp", 2, 150.0);
    h->res[n++] = mk("dev0", evil_model, "Q8_0", "tg", 2, 12.0);
    h->res[n++] = mk("dev0", "plain", evil_quant, "tg", 2, 30.0);
    h->res[n++] = mk("dev0", evil_model, evil_quant, "ttft", 2, 420.0);
    h->res[n] = mk("dev0", evil_model, evil_quant, "tg", 2, 17.0);
    h->res[n++].adapter = evil_test;
    h->res[n++] = mk("dev1", evil_model, evil_quant, "tg", 4, 33.0);
    h->res[n++] = mk("dev1", "plain", evil_quant, "tg", 4, 50.0);
    h->qual[0] = (lf_report_quality){evil_model, evil_quant, 4.5, 0.05, 8.1, 0.9,
                                     LF_REPORT_MEASURED};
    h->qual[1] = (lf_report_quality){evil_model, "Q8_0", 8.5, 0.002, 7.9, 0.98,
                                     LF_REPORT_PUBLISHED};
    h->qual[2] = (lf_report_quality){evil_model, evil_bytes, 6.5, 0.01, 8.0, 0.95,
                                     LF_REPORT_PUBLISHED};
    h->rec[0] = (lf_report_rec){1, evil_model, evil_quant, 19.5, 18, 21, 600000000, 60,
                                LF_REPORT_LABEL_MEASURED, evil_test, evil_model};
    h->rec[1] = (lf_report_rec){0, "plain", "Q8_0", 9, 8, 10, 900000000, 50,
                                LF_REPORT_LABEL_ESTIMATED, "rejected", "too slow | <b>"};
    h->hist[0] = (lf_report_history){"aaaa111", 1700000000, evil_test, 10.0};
    h->hist[1] = (lf_report_history){evil_commit, 1700086400, evil_test, 11.0};
    h->hist[2] = (lf_report_history){evil_model, 1700172800, evil_test, 9.0};
    h->in = (lf_report_input){.title = evil_model, .generated = 1700000000,
                              .tool_version = "<v>", .devices = h->dev, .n_devices = 2,
                              .results = h->res, .n_results = n, .quality = h->qual,
                              .n_quality = 3, .rec_constraints = evil_test, .recs = h->rec,
                              .n_recs = 2, .history = h->hist, .n_history = 3};
}

/* The model name as every output must carry it: newlines become spaces. */
static char *cleaned(const char *s) {
    char *c = strdup(s);
    for (char *p = c; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return c;
}

static const char *sections[] = {"Device profile", "Roofline", "Throughput",
                                 "Quality vs size", "Thread scaling", "Regression history",
                                 "Device comparison", "Recommendations"};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

static char *path_in(const char *dir, const char *name) {
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static char *read_in(const char *dir, const char *name, size_t *len) {
    char *p = path_in(dir, name);
    char *s = th_read(p, len);
    free(p);
    return s;
}

static char *gnuplot_path(void) { return th_which("gnuplot"); }

/* ---- escapers ------------------------------------------------------------ */

static void expect_esc(char *(*f)(const char *), const char *in, const char *want) {
    char *got = f(in);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_escape_html(void **state) {
    (void)state;
    expect_esc(lf_report_escape_html, "<script>alert(1)</script>|\"x\"",
               "&lt;script&gt;alert(1)&lt;/script&gt;|&quot;x&quot;");
    expect_esc(lf_report_escape_html, "a & b's", "a &amp; b&#39;s");
    expect_esc(lf_report_escape_html, "two\nlines\tand\x01\x1b[31m", "two lines and[31m");
    expect_esc(lf_report_escape_html, NULL, "");
    /* Invalid UTF-8 becomes U+FFFD, valid multibyte text passes, the
     * right-to-left override is dropped. */
    expect_esc(lf_report_escape_html, "\xff" "\xc3\xa9" "\xe2\x80\xae" "x\xe2\x82",
               "\xef\xbf\xbd" "\xc3\xa9" "x" "\xef\xbf\xbd\xef\xbf\xbd");
    /* Overlong encoding of '<' must not turn into a real '<'. */
    expect_esc(lf_report_escape_html, "\xc0\xbc", "\xef\xbf\xbd\xef\xbf\xbd");
}

static void test_escape_md(void **state) {
    (void)state;
    expect_esc(lf_report_escape_md, "a|b", "a\\|b");
    expect_esc(lf_report_escape_md, "Q4_K_M", "Q4\\_K\\_M");
    expect_esc(lf_report_escape_md, "`x` *y* [l](u) ~z~ \\",
               "\\`x\\` \\*y\\* \\[l\\](u) \\~z\\~ \\\\");
    expect_esc(lf_report_escape_md, "<script>&\nnext", "&lt;script&gt;&amp; next");
}

static void test_escape_csv(void **state) {
    (void)state;
    /* quoted only when needed (common's one CSV writer) */
    expect_esc(lf_report_escape_csv, "plain", "plain");
    expect_esc(lf_report_escape_csv, "a\"b,c", "\"a\"\"b,c\"");
    expect_esc(lf_report_escape_csv, "=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"");
    expect_esc(lf_report_escape_csv, "-1+1", "\"'-1+1\"");
    expect_esc(lf_report_escape_csv, "line\r\nbreak", "line  break");
    expect_esc(lf_report_escape_csv, NULL, "");
}

static void test_escape_gnuplot(void **state) {
    (void)state;
    expect_esc(lf_report_escape_gnuplot, "it's", "'it''s'");
    expect_esc(lf_report_escape_gnuplot, "a\nb", "'a b'");
    /* Backquotes, @, braces, backslashes stay literal inside single quotes. */
    expect_esc(lf_report_escape_gnuplot, "`id` @m {^_} \\n \"q\"", "'`id` @m {^_} \\n \"q\"'");
    /* A huge label is cut, at a character boundary, with an ellipsis. */
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[119] = '\'';
    char *g = lf_report_escape_gnuplot(big);
    assert_non_null(g);
    size_t n = strlen(g);
    assert_true(n < 140);
    assert_memory_equal(g + n - 4, "\xe2\x80\xa6'", 4);
    free(g);
}

static void test_base64_vectors(void **state) {
    (void)state;
    static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        rp_buf b = {0};
        rp_base64(&b, (const unsigned char *)in[i], strlen(in[i]));
        assert_string_equal(rp_buf_cstr(&b), out[i]);
        rp_buf_free(&b);
    }
}

static void test_format_names(void **state) {
    (void)state;
    lf_report_format f;
    assert_int_equal(lf_report_format_parse("html", &f), 0);
    assert_int_equal(f, LF_REPORT_HTML);
    assert_int_equal(lf_report_format_parse("json", &f), 0);
    assert_int_equal(f, LF_REPORT_JSON);
    assert_int_equal(lf_report_format_parse("pdf", &f), LF_EINVAL);
    assert_string_equal(lf_report_format_name(LF_REPORT_MD), "md");
    assert_string_equal(lf_report_test_unit("tg"), "t/s");
    assert_string_equal(lf_report_test_unit("ttft"), "ms");
}

/* ---- structure checks ----------------------------------------------------- */

/* Every HTML table: each body row has as many cells as the header. */
static void check_html_tables(const char *html) {
    size_t tables = 0;
    for (const char *t = html; (t = strstr(t, "<table>")); tables++) {
        const char *end = strstr(t, "</table>");
        assert_non_null(end);
        const char *body = strstr(t, "<tbody>");
        assert_true(body && body < end);
        size_t th = 0;
        for (const char *p = t; (p = strstr(p, "<th")) && p < body; p += 3)
            th += p[3] == '>' || p[3] == ' ';
        assert_true(th > 0);
        for (const char *r = body; (r = strstr(r, "<tr>")) && r < end;) {
            const char *re = strstr(r, "</tr>");
            size_t td = 0;
            for (const char *p = r; (p = strstr(p, "<td")) && p < re; p += 3)
                td++;
            assert_int_equal(td, th);
            r = re;
        }
        t = end;
    }
    assert_true(tables > 0);
}

/* Every markdown table line: as many unescaped pipes as its header. */
static void check_md_tables(const char *md) {
    long want = -1;
    size_t tables = 0;
    for (const char *line = md; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len && line[0] == '|') {
            long pipes = 0;
            for (size_t i = 0; i < len; i++) {
                if (line[i] != '|')
                    continue;
                size_t bs = 0;
                while (bs < i && line[i - 1 - bs] == '\\')
                    bs++;
                pipes += bs % 2 == 0;
            }
            if (want < 0) {
                want = pipes;
                tables++;
            }
            assert_int_equal(pipes, want);
        } else {
            want = -1;
        }
        line += len + (nl != NULL);
    }
    assert_true(tables > 0);
}

/* RFC 4180 reader (records ended by "\n"): counts the fields of each
 * record; checks all equal n. */
static size_t check_csv(const char *s, size_t nfields, const char *want_field, int col) {
    size_t records = 0, field = 0;
    char cur[4096];
    size_t cl = 0;
    bool found = false;
    const char *p = s;
    while (*p) {
        cl = 0;
        if (*p == '"') {
            p++;
            for (;;) {
                assert_true(*p != '\0');   /* unterminated quote */
                if (*p == '"' && p[1] == '"') {
                    cur[cl++] = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    cur[cl++] = *p++;
                }
                assert_true(cl < sizeof cur);
            }
        } else {
            while (*p && *p != ',' && *p != '\r' && *p != '\n')
                cur[cl++] = *p++;
        }
        cur[cl] = '\0';
        if (records > 0 && (int)field == col && !strcmp(cur, want_field))
            found = true;
        field++;
        if (*p == ',') {
            p++;
        } else {
            /* one newline policy for every CSV localfit writes: "\n" */
            assert_true(*p == '\n');
            assert_int_equal(field, nfields);
            field = 0;
            records++;
            p++;
        }
    }
    assert_true(found);
    return records;
}

/* A gnuplot stream is safe when: data block lines hold only numbers; every
 * command line lexes with its quotes closed; "pwned" (in every hostile
 * string) occurs only inside single-quoted literals; no backquote or
 * `system` outside them; no double-quoted literal carries hostile text
 * (gnuplot substitutes backquotes there); no line starts with '!' (shell);
 * every terminal is noenhanced. Returns how many single-quoted literals
 * held hostile text. */
static size_t check_stream(const char *s) {
    size_t inside = 0, opened = 0, closed = 0;
    bool block = false;
    char line[8192];
    for (const char *p = s; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        assert_true(len < sizeof line);
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (nl != NULL);
        if (block) {
            if (!strcmp(line, "EOD")) {
                block = false;
                closed++;
                continue;
            }
            if (strspn(line, "0123456789.eE+- ") != len) {
                print_error("non-numeric data line: %s\n", line);
                fail();
            }
            continue;
        }
        if (line[0] == '$' && strstr(line, " << EOD")) {
            block = true;
            opened++;
            continue;
        }
        assert_true(strcmp(line, "EOD") != 0);
        const char *q = line;
        while (*q == ' ')
            q++;
        assert_true(*q != '!');
        if (strstr(line, "set terminal"))
            assert_non_null(strstr(line, "noenhanced"));
        char outside[8192];
        size_t ol = 0;
        for (size_t i = 0; i < len;) {
            if (line[i] == '\'') {
                size_t j = i + 1;
                for (;;) {
                    if (j >= len) {
                        print_error("unterminated quote: %s\n", line);
                        fail();
                    }
                    if (line[j] == '\'' && j + 1 < len && line[j + 1] == '\'') {
                        j += 2;
                        continue;
                    }
                    if (line[j] == '\'')
                        break;
                    j++;
                }
                char lit[8192];
                memcpy(lit, line + i, j - i + 1);
                lit[j - i + 1] = '\0';
                inside += strstr(lit, "pwned") != NULL;
                i = j + 1;
                outside[ol++] = ' ';
            } else if (line[i] == '"') {
                size_t j = i + 1;
                while (j < len && line[j] != '"')
                    j += line[j] == '\\' ? 2 : 1;
                assert_true(j < len);
                char lit[8192];
                memcpy(lit, line + i, j - i + 1);
                lit[j - i + 1] = '\0';
                assert_null(strstr(lit, "pwned"));
                assert_null(strchr(lit, '`'));
                i = j + 1;
            } else {
                outside[ol++] = line[i++];
            }
        }
        outside[ol] = '\0';
        if (strstr(outside, "pwned") || strchr(outside, '`') || strstr(outside, "system")) {
            print_error("hostile text outside a single-quoted string: %s\n", line);
            fail();
        }
    }
    assert_false(block);
    assert_int_equal(opened, closed);
    return inside;
}

/* ---- rendering ------------------------------------------------------------ */

static void test_sample_all_formats(void **state) {
    (void)state;
    char *dir = th_tempdir("rep-fmt");
    assert_non_null(dir);
    lf_report_sample *s;
    lf_error err = {0};
    assert_int_equal(lf_report_sample_new(1714564800, &s, &err), 0);
    const lf_report_input *in = lf_report_sample_input(s);
    lf_report_opts opts = {.no_plots = true, .quiet = true};
    char path[4096];

    assert_int_equal(lf_report_write(in, LF_REPORT_MD, dir, &opts, path, sizeof path, &err), 0);
    char *md = read_in(dir, "report.md", NULL);
    assert_non_null(md);
    assert_non_null(strstr(path, "report.md"));
    for (size_t i = 0; i < N_SECTIONS; i++) {
        char h[64];
        snprintf(h, sizeof h, "\n## %s\n", sections[i]);
        assert_non_null(strstr(md, h));
    }
    assert_non_null(strstr(md, "SAMPLE DATA"));
    assert_non_null(strstr(md, "plots were turned off"));
    assert_null(strstr(md, "No data"));   /* the sample fills every section */
    check_md_tables(md);
    free(md);

    assert_int_equal(lf_report_write(in, LF_REPORT_HTML, dir, &opts, path, sizeof path, &err), 0);
    char *html = read_in(dir, "report.html", NULL);
    assert_non_null(html);
    assert_true(!strncmp(html, "<!DOCTYPE html>", 15));
    for (size_t i = 0; i < N_SECTIONS; i++) {
        char h[64];
        snprintf(h, sizeof h, "<h2>%s</h2>", sections[i]);
        assert_non_null(strstr(html, h));
    }
    assert_null(strstr(html, "<img"));   /* no plots requested */
    assert_null(strcasestr(html, "<script"));
    assert_null(strstr(html, "http://"));
    assert_null(strstr(html, "https://"));
    check_html_tables(html);
    free(html);

    assert_int_equal(lf_report_write(in, LF_REPORT_JSON, dir, &opts, path, sizeof path, &err), 0);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "schema")), "localfit.report/1");
    assert_true(json_is_true(json_object_get(j, "sample")));
    assert_int_equal(json_array_size(json_object_get(j, "devices")), in->n_devices);
    assert_int_equal(json_array_size(json_object_get(j, "results")), in->n_results);
    assert_int_equal(json_array_size(json_object_get(j, "quality")), in->n_quality);
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "recommendations"),
                                                     "rows")), in->n_recs);
    assert_int_equal(json_array_size(json_object_get(j, "history")), in->n_history);
    json_t *r0 = json_array_get(json_object_get(j, "results"), 0);
    assert_string_equal(json_string_value(json_object_get(r0, "model")), in->results[0].model);
    assert_true(fabs(json_real_value(json_object_get(r0, "value")) - in->results[0].value) <
                1e-9 * in->results[0].value);
    json_t *plots = json_object_get(j, "plots");
    assert_int_equal(json_array_size(plots), 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(plots, i), "state")),
                            "skipped");
    json_decref(j);

    size_t n;
    char *csv = read_in(dir, "results.csv", &n);
    assert_non_null(csv);
    assert_int_equal(check_csv(csv, 19, in->results[0].model, 1), in->n_results + 1);
    free(csv);
    lf_report_sample_free(s);
    th_rmtree(dir);
    free(dir);
}

static void test_empty_input_says_no_data(void **state) {
    (void)state;
    char *dir = th_tempdir("rep-empty");
    lf_report_input in = {.title = "empty", .tool_version = "t"};
    lf_report_opts opts = {.gnuplot = "/nonexistent/gnuplot", .quiet = true};
    lf_error err = {0};
    char path[4096];
    assert_int_equal(lf_report_write(&in, LF_REPORT_HTML, dir, &opts, path, sizeof path, &err), 0);
    char *html = read_in(dir, "report.html", NULL);
    for (size_t i = 0; i < N_SECTIONS; i++) {
        char h[64];
        snprintf(h, sizeof h, "<h2>%s</h2>", sections[i]);
        const char *sec = strstr(html, h);
        assert_non_null(sec);
        const char *nd = strstr(sec, "No data");
        const char *next = strstr(sec, "</section>");
        assert_true(nd && nd < next);   /* each section says it is empty */
    }
    /* Nothing to draw: gnuplot was never needed, so no warning about it. */
    assert_null(strstr(html, "no pictures"));
    free(html);
    assert_int_equal(lf_report_write(&in, LF_REPORT_JSON, dir, &opts, path, sizeof path, &err), 0);
    json_t *j = json_load_file(path, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "results")), 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(
                            json_object_get(j, "plots"), 0), "state")), "no data");
    json_decref(j);
    th_rmtree(dir);
    free(dir);
}

static void test_bad_arguments(void **state) {
    (void)state;
    lf_error err = {0};
    char path[64];
    lf_report_input in = {.n_results = 3};   /* count without array */
    assert_int_equal(lf_report_write(&in, LF_REPORT_MD, "/tmp", NULL, path, sizeof path, &err),
                     LF_EINVAL);
    assert_non_null(strstr(err.msg, "results"));
    lf_report_input ok = {0};
    assert_int_equal(lf_report_write(NULL, LF_REPORT_MD, "/tmp", NULL, path, sizeof path, &err),
                     LF_EINVAL);
    assert_int_equal(lf_report_write(&ok, LF_REPORT_MD, "", NULL, path, sizeof path, &err),
                     LF_EINVAL);
    assert_int_equal(lf_report_write(&ok, (lf_report_format)9, "/tmp", NULL, path, sizeof path,
                                     &err), LF_EINVAL);
    /* A regular file where the directory should be. */
    assert_int_equal(lf_report_write(&ok, LF_REPORT_MD, "/etc/hostname", NULL, path,
                                     sizeof path, &err), LF_EIO);
}

static void test_hostile_html_md_csv_json(void **state) {
    (void)state;
    hostile *h = malloc(sizeof *h);
    hostile_init(h);
    char *dir = th_tempdir("rep-evil");
    lf_report_opts opts = {.no_plots = true, .quiet = true};
    lf_error err = {0};
    char path[4096];
    char *want = cleaned(evil_model);

    assert_int_equal(lf_report_write(&h->in, LF_REPORT_HTML, dir, &opts, path, sizeof path, &err),
                     0);
    char *html = read_in(dir, "report.html", NULL);
    assert_null(strcasestr(html, "<script"));
    assert_null(strstr(html, "<b>"));
    assert_null(strstr(html, "<i>"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;|&quot;x&quot; it&#39;s"));
    assert_null(strstr(html, "\xe2\x80\xae"));   /* bidi override dropped */
    assert_non_null(strstr(html, "\xef\xbf\xbd"));   /* bad bytes replaced */
    assert_non_null(strstr(html, "Content-Security-Policy"));
    check_html_tables(html);
    free(html);

    assert_int_equal(lf_report_write(&h->in, LF_REPORT_MD, dir, &opts, path, sizeof path, &err),
                     0);
    char *md = read_in(dir, "report.md", NULL);
    assert_null(strstr(md, "<script"));
    assert_non_null(strstr(md, "&lt;script&gt;alert(1)&lt;/script&gt;\\|\"x\""));
    check_md_tables(md);
    free(md);

    char *csv = read_in(dir, "results.csv", NULL);
    assert_int_equal(check_csv(csv, 19, want, 1), h->in.n_results + 1);
    free(csv);

    assert_int_equal(lf_report_write(&h->in, LF_REPORT_JSON, dir, &opts, path, sizeof path, &err),
                     0);
    json_t *j = json_load_file(path, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "title")), want);
    json_t *prof = json_object_get(json_array_get(json_object_get(j, "devices"), 0), "profile");
    const char *bad = json_string_value(json_object_get(json_array_get(prof, 1), "value"));
    assert_non_null(bad);   /* invalid UTF-8 cleaned, so jansson accepted it */
    assert_non_null(strstr(bad, "\xef\xbf\xbd"));
    json_decref(j);
    free(want);
    th_rmtree(dir);
    free(dir);
    free(h);
}

static void test_gnuplot_stream_hostile(void **state) {
    (void)state;
    hostile *h = malloc(sizeof *h);
    hostile_init(h);
    char *dir = th_tempdir("rep-stream");
    char *out = path_in(dir, "out");
    char *capture = path_in(dir, "stream.gp");
    char *fake = path_in(dir, "fake-gnuplot");
    char script[8192];
    /* The capture path is the test's own, not untrusted. */
    snprintf(script, sizeof script, "#!/bin/sh\nexec /bin/cat >> '%s'\n", capture);
    assert_true(th_write(fake, script, true));
    lf_report_opts opts = {.gnuplot = fake, .quiet = true};
    lf_error err = {0};
    char path[4096];
    /* The fake draws nothing, so every plot "fails" — reported, not ignored. */
    int rc = lf_report_write(&h->in, LF_REPORT_HTML, out, &opts, path, sizeof path, &err);
    assert_int_equal(rc, LF_ETOOL);
    assert_non_null(strstr(err.msg, "did not write"));
    assert_true(th_exists(path));
    char *stream = th_read(capture, NULL);
    assert_non_null(stream);
    /* All seven plots were attempted. */
    assert_int_equal(th_count(stream, "# localfit report: "), 7);
    size_t hostile_literals = check_stream(stream);
    assert_true(hostile_literals >= 7);
    /* The escaped forms are there: quotes doubled, newlines gone, and the
     * long name cut to a chart label of 40 characters, the last an ellipsis. */
    assert_non_null(strstr(stream, "<script>alert(1)</script>|\"x\" it''s `tou\xe2\x80\xa6'"));
    assert_null(strstr(stream, "system(''touch pwned2'')"));
    free(stream);
    char *html = th_read(path, NULL);
    assert_non_null(strstr(html, "plot failed"));
    free(html);
    free(out);
    free(capture);
    free(fake);
    th_rmtree(dir);
    free(dir);
    free(h);
}

static void test_gnuplot_hostile_real(void **state) {
    (void)state;
    char *gp = gnuplot_path();
    if (!gp) {
        print_message("gnuplot not installed: skipping the real-gnuplot hostile test\n");
        skip();
    }
    hostile *h = malloc(sizeof *h);
    hostile_init(h);
    char *dir = th_tempdir("rep-gp");
    lf_report_opts opts = {.quiet = true};
    lf_error err = {0};
    char path[4096];
    int rc = lf_report_write(&h->in, LF_REPORT_HTML, dir, &opts, path, sizeof path, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    /* gnuplot ran in dir: had any hostile text executed, pwnedN would be here. */
    for (int i = 1; i <= 7; i++) {
        char name[16];
        snprintf(name, sizeof name, "pwned%d", i);
        char *p = path_in(dir, name);
        assert_false(th_exists(p));
        free(p);
    }
    static const char *plots[] = {"roofline", "throughput-tg", "throughput-pp", "quality",
                                  "threads", "history", "devices"};
    for (size_t i = 0; i < 7; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.png", plots[i]);
        size_t n;
        unsigned char *png = (unsigned char *)read_in(dir, name, &n);
        unsigned w, hh;
        assert_non_null(png);
        assert_true(th_png_size(png, n, &w, &hh));
        assert_int_equal(w, 960);
        assert_int_equal(hh, 540);
        free(png);
        snprintf(name, sizeof name, "%s.svg", plots[i]);
        char *svg = read_in(dir, name, NULL);
        assert_non_null(svg);
        assert_non_null(strstr(svg, "<svg"));
        assert_null(strstr(svg, "<script>alert"));   /* text escaped by gnuplot's svg */
        free(svg);
    }
    free(gp);
    th_rmtree(dir);
    free(dir);
    free(h);
}

/* The HTML's data: URIs decode to exactly the PNG files beside it. */
static size_t check_data_uris(const char *html, const char *dir) {
    size_t n = 0;
    for (const char *p = html; (p = strstr(p, "<img ")); n++) {
        const char *alt_end = strchr(p, '>');
        const char *src = strstr(p, "src=\"data:image/png;base64,");
        assert_true(src && src < alt_end);
        src += strlen("src=\"data:image/png;base64,");
        const char *end = strchr(src, '"');
        assert_true(end > src);
        size_t len;
        unsigned char *png = th_base64_decode(src, (size_t)(end - src), &len);
        assert_non_null(png);
        unsigned w, h;
        assert_true(th_png_size(png, len, &w, &h));
        assert_int_equal(w, 960);
        /* Which file: the figure id names it. */
        const char *fig = p;
        while (fig > html && strncmp(fig, "<figure id=\"fig-", 16))
            fig--;
        char name[64];
        sscanf(fig + 16, "%48[^\"]", name);
        strcat(name, ".png");
        size_t flen;
        char *file = read_in(dir, name, &flen);
        assert_non_null(file);
        assert_int_equal(flen, len);
        assert_memory_equal(file, png, len);
        free(file);
        free(png);
        p = end;
    }
    return n;
}

static void test_html_inlines_plots(void **state) {
    (void)state;
    char *gp = gnuplot_path();
    if (!gp) {
        print_message("gnuplot not installed: skipping the inlined-plots test\n");
        skip();
    }
    free(gp);
    char *dir = th_tempdir("rep-img");
    lf_report_sample *s;
    lf_error err = {0};
    assert_int_equal(lf_report_sample_new(1714564800, &s, &err), 0);
    char path[4096];
    lf_report_opts opts = {.quiet = true};
    assert_int_equal(lf_report_write(lf_report_sample_input(s), LF_REPORT_HTML, dir, &opts, path,
                                     sizeof path, &err), 0);
    char *html = th_read(path, NULL);
    assert_int_equal(check_data_uris(html, dir), 7);
    /* Self-contained: no reference to a file or the network. */
    assert_null(strstr(html, "src=\"http"));
    assert_null(strstr(html, ".png\""));
    assert_null(strstr(html, "href=\"http"));
    free(html);
    /* Markdown refers to the files beside it. */
    assert_int_equal(lf_report_write(lf_report_sample_input(s), LF_REPORT_MD, dir, &opts, path,
                                     sizeof path, &err), 0);
    char *md = th_read(path, NULL);
    assert_non_null(strstr(md, "](roofline.png)"));
    assert_non_null(strstr(md, "[SVG](devices.svg)"));
    free(md);
    lf_report_sample_free(s);
    th_rmtree(dir);
    free(dir);
}

static void test_no_gnuplot(void **state) {
    (void)state;
    char *dir = th_tempdir("rep-nogp");
    lf_report_sample *s;
    lf_error err = {0};
    assert_int_equal(lf_report_sample_new(1714564800, &s, &err), 0);
    lf_report_opts opts = {.gnuplot = "/nonexistent", .quiet = true};
    char path[4096];
    assert_int_equal(lf_report_write(lf_report_sample_input(s), LF_REPORT_HTML, dir, &opts, path,
                                     sizeof path, &err), 0);
    char *html = th_read(path, NULL);
    assert_null(strstr(html, "<img"));
    assert_non_null(strstr(html, "This report has no pictures: gnuplot is not available"));
    assert_non_null(strstr(html, "/nonexistent"));
    assert_non_null(strstr(html, "Plot not drawn"));
    free(html);
    assert_int_equal(lf_report_write(lf_report_sample_input(s), LF_REPORT_JSON, dir, &opts, path,
                                     sizeof path, &err), 0);
    json_t *j = json_load_file(path, 0, NULL);
    json_t *w = json_object_get(j, "warnings");
    assert_int_equal(json_array_size(w), 1);
    assert_non_null(strstr(json_string_value(json_array_get(w, 0)), "gnuplot is not available"));
    json_decref(j);
    char *png = path_in(dir, "roofline.png");
    assert_false(th_exists(png));
    free(png);
    lf_report_sample_free(s);
    th_rmtree(dir);
    free(dir);
}

static void test_gnuplot_failure_reported(void **state) {
    (void)state;
    char *dir = th_tempdir("rep-fail");
    char *out = path_in(dir, "out");
    char *fake = path_in(dir, "failing-gnuplot");
    assert_true(th_write(fake, "#!/bin/sh\n/bin/cat >/dev/null\n"
                               "echo 'gnuplot> plot $nope' >&2\n"
                               "echo \"         line 12: undefined variable: nope\" >&2\n"
                               "exit 3\n", true));
    lf_report_sample *s;
    lf_error err = {0};
    assert_int_equal(lf_report_sample_new(1714564800, &s, &err), 0);
    lf_report_opts opts = {.gnuplot = fake, .quiet = true};
    char path[4096] = "";
    int rc = lf_report_write(lf_report_sample_input(s), LF_REPORT_MD, out, &opts, path,
                             sizeof path, &err);
    assert_int_equal(rc, LF_ETOOL);
    assert_non_null(strstr(err.msg, "report written to"));
    assert_non_null(strstr(err.msg, "status 3"));
    assert_non_null(strstr(err.msg, "undefined variable: nope"));
    char *md = th_read(path, NULL);   /* written all the same */
    assert_non_null(md);
    assert_non_null(strstr(md, "7 plot(s) failed"));
    assert_non_null(strstr(md, "The roofline plot failed: gnuplot exited with status 3"));
    free(md);
    lf_report_sample_free(s);
    free(out);
    free(fake);
    th_rmtree(dir);
    free(dir);
}

/* ---- headless Chromium ------------------------------------------------------ */

static char *find_chromium(void) {
    static const char *names[] = {"chromium", "chromium-browser", "google-chrome"};
    for (size_t i = 0; i < 3; i++) {
        char *p = th_which(names[i]);
        if (p)
            return p;
    }
    return NULL;
}

/* Runs chromium on file://html with one extra action argument; stdout to
 * out_path. */
static int run_chromium(const char *chrome, const char *html, const char *action,
                        const char *out_path, const char *log_path) {
    char *udd = th_tempdir("chromium-profile");
    char udd_arg[4200], url[4200];
    snprintf(udd_arg, sizeof udd_arg, "--user-data-dir=%s", udd);
    snprintf(url, sizeof url, "file://%s", html);
    char *argv[] = {(char *)chrome, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    udd_arg, (char *)action, "--window-size=1200,3000", url, NULL};
    int rc = th_run(argv, out_path, log_path, 90);
    th_rmtree(udd);
    free(udd);
    return rc;
}

static void test_chromium_renders_html(void **state) {
    (void)state;
    char *chrome = find_chromium();
    if (!chrome) {
        print_message("chromium not installed (Debian package 'chromium'): skipping the "
                      "headless-browser test\n");
        skip();
    }
    char *gp = gnuplot_path();
    /* The screenshot stays in the build tree for people to look at. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/reports/chromium-report", LF_BINARY_DIR);
    th_rmtree(dir);
    lf_report_sample *s;
    lf_error err = {0};
    assert_int_equal(lf_report_sample_new(1714564800, &s, &err), 0);
    lf_report_opts opts = {.no_plots = gp == NULL, .quiet = true};
    char path[4096];
    assert_int_equal(lf_report_write(lf_report_sample_input(s), LF_REPORT_HTML, dir, &opts, path,
                                     sizeof path, &err), 0);
    char shot[4200], shot_arg[4300], dom[4200], log[4200];
    snprintf(shot, sizeof shot, "%s/tests/reports/report-screenshot.png", LF_BINARY_DIR);
    snprintf(shot_arg, sizeof shot_arg, "--screenshot=%s", shot);
    snprintf(dom, sizeof dom, "%s/dom.html", dir);
    snprintf(log, sizeof log, "%s/chromium.log", dir);
    remove(shot);
    int rc = run_chromium(chrome, path, shot_arg, NULL, log);
    assert_int_equal(rc, 0);
    size_t n;
    unsigned char *png = (unsigned char *)th_read(shot, &n);
    assert_non_null(png);
    unsigned w, h;
    assert_true(th_png_size(png, n, &w, &h));
    assert_int_equal(w, 1200);
    assert_int_equal(h, 3000);
    assert_true(n > 50000);   /* a blank page compresses to a few KB */
    free(png);
    print_message("screenshot: %s\n", shot);

    /* The DOM as the browser built it: every section, every picture. */
    assert_int_equal(run_chromium(chrome, path, "--dump-dom", dom, log), 0);
    char *d = th_read(dom, NULL);
    assert_non_null(d);
    for (size_t i = 0; i < N_SECTIONS; i++) {
        char hd[64];
        snprintf(hd, sizeof hd, "<h2>%s</h2>", sections[i]);
        assert_non_null(strstr(d, hd));
    }
    assert_int_equal(check_data_uris(d, dir), gp ? 7 : 0);
    free(d);

    /* The hostile report parsed by a real browser holds no script element. */
    hostile *hh = malloc(sizeof *hh);
    hostile_init(hh);
    lf_report_opts plain = {.no_plots = true, .quiet = true};
    char evil_dir[4200];
    snprintf(evil_dir, sizeof evil_dir, "%s/hostile", dir);
    assert_int_equal(lf_report_write(&hh->in, LF_REPORT_HTML, evil_dir, &plain, path,
                                     sizeof path, &err), 0);
    assert_int_equal(run_chromium(chrome, path, "--dump-dom", dom, log), 0);
    d = th_read(dom, NULL);
    assert_non_null(d);
    assert_null(strcasestr(d, "<script"));
    assert_non_null(strstr(d, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(d, "<h2>Recommendations</h2>"));
    free(d);
    free(hh);
    lf_report_sample_free(s);
    free(gp);
    free(chrome);
}

/* The tables fit a 1200-pixel window, as the browser lays them out: the
 * sample with a 500-character model name and a 40-digit commit. The page
 * forbids scripts, so a copy without that rule gets one that writes, for
 * each table's box, whether its content is wider than the box. */
static void test_chromium_tables_fit(void **state) {
    (void)state;
    char *chrome = find_chromium();
    if (!chrome) {
        print_message("chromium not installed (Debian package 'chromium'): skipping the "
                      "table-width test\n");
        skip();
    }
    lf_report_sample *s;
    lf_error err = {0};
    assert_int_equal(lf_report_sample_new(1714564800, &s, &err), 0);
    lf_report_input in = *lf_report_sample_input(s);
    lf_report_result *res = malloc(sizeof *res * in.n_results);
    assert_non_null(res);
    memcpy(res, in.results, sizeof *res * in.n_results);
    char name[501];
    memset(name, 'm', 500);
    name[500] = '\0';
    res[0].model = name;
    res[0].commit = "4e1c9a7b2f00112233445566778899aabbccddee";
    in.results = res;
    char *dir = th_tempdir("rep-fit");
    assert_non_null(dir);
    lf_report_opts opts = {.no_plots = true, .quiet = true};
    char path[4096];
    assert_int_equal(lf_report_write(&in, LF_REPORT_HTML, dir, &opts, path, sizeof path, &err), 0);
    char *html = th_read(path, NULL);
    assert_non_null(html);
    assert_null(strstr(html, "4e1c9a7b2f0011"));   /* commits cut to 10 digits */
    char *csp = strstr(html, "<meta http-equiv=\"Content-Security-Policy\"");
    assert_non_null(csp);
    char *end = strchr(csp, '>');
    memmove(csp, end + 1, strlen(end + 1) + 1);
    rp_buf page = {0};
    rp_buf_puts(&page, html);
    rp_buf_puts(&page, "<script>document.body.setAttribute('data-fit',Array.from("
                       "document.querySelectorAll('.tw')).map(function(t){return "
                       "t.scrollWidth>t.clientWidth?'WIDE':'ok';}).join(' '));</script>\n");
    char probe[4200], dom[4200], log[4200];
    snprintf(probe, sizeof probe, "%s/probe.html", dir);
    snprintf(dom, sizeof dom, "%s/dom.html", dir);
    snprintf(log, sizeof log, "%s/chromium.log", dir);
    assert_true(th_write(probe, rp_buf_cstr(&page), false));
    assert_int_equal(run_chromium(chrome, probe, "--dump-dom", dom, log), 0);
    char *d = th_read(dom, NULL);
    assert_non_null(d);
    char *fit = strstr(d, "data-fit=\"");
    assert_non_null(fit);
    assert_non_null(strstr(fit, "ok"));   /* the tables were measured */
    char *q = strchr(fit + 10, '"');
    assert_non_null(q);
    *q = '\0';
    if (strstr(fit, "WIDE"))
        print_message("tables wider than their box: %s\n", fit);
    assert_null(strstr(fit, "WIDE"));
    free(d);
    rp_buf_free(&page);
    free(html);
    free(res);
    lf_report_sample_free(s);
    th_rmtree(dir);
    free(dir);
    free(chrome);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_html),
        cmocka_unit_test(test_escape_md),
        cmocka_unit_test(test_escape_csv),
        cmocka_unit_test(test_escape_gnuplot),
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_sample_all_formats),
        cmocka_unit_test(test_empty_input_says_no_data),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_hostile_html_md_csv_json),
        cmocka_unit_test(test_gnuplot_stream_hostile),
        cmocka_unit_test(test_gnuplot_hostile_real),
        cmocka_unit_test(test_html_inlines_plots),
        cmocka_unit_test(test_no_gnuplot),
        cmocka_unit_test(test_gnuplot_failure_reported),
        cmocka_unit_test(test_chromium_renders_html),
        cmocka_unit_test(test_chromium_tables_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
