/*
 * Output safety: names, labels and metadata strings are untrusted. A GGUF
 * whose name, keys, values and tensor names carry a <script> tag, ANSI
 * escape sequences (colour, screen clear, window title), C1 controls and a
 * bidi override goes through `localfit gguf info`; runs holding such text
 * (and a name that is not valid UTF-8, and SQL in a label) are exported as
 * a bundle, imported with `localfit import`, then shown with `runs`,
 * `runs show`, `export --format csv|bundle`, `compare --format md|junit|json`
 * and `report --format html`. Nothing a terminal would act on may reach
 * stdout or stderr, markup must be escaped, CSV formulas guarded, and every
 * export must import again. Also: warnings (lf_warn) and error messages
 * quoting a hostile file name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli_run.h"
#include "gguf/gguf.h"
#include "store/store.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What an attacker would put in a model name: markup, SGR colour, screen
 * clear, an OSC window-title sequence ended by BEL, a UTF-8 C1 CSI, a raw
 * C1 CSI byte and a right-to-left override. */
#define HOSTILE "<script>alert(1)</script>\x1b[31mRED\x1b[2J\x1b]0;pwned\x07" \
                "\xc2\x9b" "1m \xe2\x80\xae" "txt.exe\x9b"

static char g_dir[256];

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/lf-hard-out-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    rm_tree(g_dir);
    return 0;
}

static void assert_safe(const char *what, const char *p, size_t n) {
    long at = unsafe_at(p, n);
    if (at >= 0) {
        fprintf(stderr, "%s: unsafe byte 0x%02x at %ld in:\n%.*s\n", what,
                (unsigned char)p[at], at, (int)(n > 2000 ? 2000 : n), p);
        fail();
    }
}

static void assert_cli_safe(const char *what, const cli_out *o) {
    char w[128];
    snprintf(w, sizeof w, "%s (stdout)", what);
    assert_safe(w, o->out, o->out_len);
    snprintf(w, sizeof w, "%s (stderr)", what);
    assert_safe(w, o->err, o->err_len);
}

/* Strict UTF-8 check, independent of common/text.c. */
static bool valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                                : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (k == 0 || i + k > n || (k == 2 && c < 0xC2))
            return false;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        i += k;
    }
    return true;
}

/* ---- the unit under every CLI check: the self-check of unsafe_at ----------- */

static void test_detector(void **state) {
    (void)state;
    assert_true(unsafe_at("plain text\n\tok \xc3\xa9", 17) < 0);
    assert_int_equal(unsafe_at("a\x1b[31m", 6), 1);
    assert_int_equal(unsafe_at("ab\xc2\x9b", 4), 2);
    assert_int_equal(unsafe_at("a\x9b", 2), 1);
    assert_int_equal(unsafe_at("x\xe2\x80\xae", 4), 1);
    assert_int_equal(unsafe_at("\x07", 1), 0);
}

/* ---- common/text.c ------------------------------------------------------- */

static void test_text_clean(void **state) {
    (void)state;
    char buf[256];
    lf_text_clean(buf, sizeof buf, HOSTILE, true);
    assert_true(unsafe_at(buf, strlen(buf)) < 0);
    assert_non_null(strstr(buf, "\\x1b[31mRED"));
    assert_non_null(strstr(buf, "\\u009b"));
    assert_non_null(strstr(buf, "\\u202e"));
    assert_non_null(strstr(buf, "\\x9b"));   /* the raw byte, invalid UTF-8 */
    lf_text_clean(buf, sizeof buf, HOSTILE, false);
    assert_true(unsafe_at(buf, strlen(buf)) < 0);
    assert_true(valid_utf8((const unsigned char *)buf, strlen(buf)));
    assert_string_equal(buf, "<script>alert(1)</script>[31mRED[2J]0;pwned1m txt.exe\xef\xbf\xbd");
    /* never cuts an escape or a character: 9 bytes fit "ab" + one escape */
    lf_text_clean(buf, 9, "ab\x1b\x1b", true);
    assert_string_equal(buf, "ab\\x1b");
    lf_text_clean(buf, 4, "a\xc3\xa9\xc3\xa9", false);
    assert_string_equal(buf, "a\xc3\xa9");
    lf_text_clean(buf, sizeof buf, "tab\there\nnl", false);
    assert_string_equal(buf, "tab here nl");
}

/* lf_warn quotes values out of files: captured from fd 2. */
static void test_warn_escaped(void **state) {
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/warn.txt", g_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    lf_warn("tokenizer.ggml.pre = '%s' is not known here", HOSTILE);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[1024];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_safe("lf_warn", buf, (size_t)n);
    assert_non_null(strstr(buf, "localfit: warning: tokenizer.ggml.pre = '<script>"));
    assert_non_null(strstr(buf, "\\x1b[31m"));
}

/* ---- gguf info ---------------------------------------------------------- */

static void write_hostile_gguf(const char *path) {
    lf_gguf_writer *w = lf_gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(lf_gguf_writer_set_str(w, "general.architecture", "llama"), 0);
    assert_int_equal(lf_gguf_writer_set_str(w, "general.name", HOSTILE), 0);
    assert_int_equal(lf_gguf_writer_set_u32(w, "evil.\x1b[2Jkey\xe2\x80\xae", 7), 0);
    const char *strs[2] = {"ok", "\x1b]0;title\x07" "\xc2\x9b"};
    assert_int_equal(lf_gguf_writer_set_arr_str(w, "evil.strings", strs, 2), 0);
    static float data[32];
    const int64_t ne[1] = {32};
    assert_int_equal(lf_gguf_writer_add_tensor(w, "t\x1b[1m\xc2\x9b", LF_TYPE_F32, 1, ne, data,
                                               sizeof data), 0);
    lf_error err = {0};
    assert_int_equal(lf_gguf_writer_write(w, path, &err), 0);
    lf_gguf_writer_free(w);
}

static void test_gguf_info(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    char path[300];
    snprintf(path, sizeof path, "%s/hostile.gguf", g_dir);
    write_hostile_gguf(path);
    cli_out o;
    const char *const a1[] = {"gguf", "info", path, NULL};
    assert_int_equal(cli_run(&o, NULL, a1), 0);
    assert_cli_safe("gguf info", &o);
    assert_non_null(strstr(o.out, "<script>alert(1)</script>\\x1b[31mRED"));
    assert_non_null(strstr(o.out, "evil.\\x1b[2Jkey\\u202e"));
    assert_non_null(strstr(o.out, "t\\x1b[1m\\u009b"));
    cli_out_free(&o);
    const char *const a2[] = {"gguf", "info", path, "--all", NULL};
    assert_int_equal(cli_run(&o, NULL, a2), 0);
    assert_cli_safe("gguf info --all", &o);
    cli_out_free(&o);
    const char *const a3[] = {"gguf", "info", path, "--json", NULL};
    assert_int_equal(cli_run(&o, NULL, a3), 0);
    assert_cli_safe("gguf info --json", &o);
    assert_true(valid_utf8((const unsigned char *)o.out, o.out_len));
    cli_out_free(&o);

    /* an error message quoting a hostile file name */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/bad\x1b[31m\xe2\x80\xae.gguf", g_dir);
    FILE *f = fopen(bad, "wb");
    assert_non_null(f);
    fputs("NOT A GGUF FILE", f);
    fclose(f);
    const char *const a4[] = {"gguf", "info", bad, NULL};
    assert_int_equal(cli_run(&o, NULL, a4), 1);
    assert_cli_safe("gguf info of a bad file", &o);
    assert_non_null(strstr(o.err, "bad\\x1b[31m\\u202e.gguf"));
    cli_out_free(&o);
}

/* ---- stored runs ---------------------------------------------------------- */

/* Two runs (same test, the second 20% slower) whose text fields are all
 * hostile, one result named with invalid UTF-8, exported as a bundle. */
static void make_bundle(const char *db, const char *bundle, char uuids[2][40]) {
    lf_store *st;
    lf_error err = {0};
    assert_int_equal(lf_store_open(&st, db, 0, &err), 0);
    assert_int_equal(lf_store_device_put(st, "dev-\x1b[1m", HOSTILE,
                                         "{\"schema\": \"localfit.device/1\", \"id\": \"dev-\\u001b[1m\", "
                                         "\"slug\": \"<script>alert(2)</script>\\u001b[31m\"}",
                                         &err), 0);
    for (int k = 0; k < 2; k++) {
        lf_run run;
        lf_store_run_init(&run);
        lf_strlcpy(run.device_id, "dev-\x1b[1m", sizeof run.device_id);
        lf_strlcpy(run.label, k ? "x'); DROP TABLE runs; --" : HOSTILE, sizeof run.label);
        lf_strlcpy(run.git_branch, "main\xe2\x80\xae\x1b[8m", sizeof run.git_branch);
        lf_strlcpy(run.git_commit, "\x1b[2Jdeadbeef", sizeof run.git_commit);
        lf_strlcpy(run.suite, "smoke\x1b[5m", sizeof run.suite);
        assert_int_equal(lf_store_run_begin(st, &run, &err), 0);
        lf_strlcpy(uuids[k], run.uuid, 40);
        lf_result r;
        lf_result_init(&r);
        r.kind = LF_TEST_TG;
        r.unit = LF_UNIT_TPS;
        lf_strlcpy(r.model, "<script>alert(1)</script>|*_`\x1b[31m", sizeof r.model);
        lf_strlcpy(r.quant, "=cmd|' /C calc'!A0", sizeof r.quant);
        lf_strlcpy(r.kv_type, "f16", sizeof r.kv_type);
        lf_strlcpy(r.backend, "cpu", sizeof r.backend);
        r.threads = 2;
        r.n_gen = 16;
        double s[8];
        for (int i = 0; i < 8; i++)
            s[i] = (k ? 80.0 : 100.0) + (i % 4) * 0.5;
        r.median = s[2];
        r.n_samples = 8;
        assert_int_equal(lf_store_result_add(st, run.id, &r, s, 8, &err), 0);
        lf_result_init(&r);
        r.kind = LF_TEST_PP;
        r.unit = LF_UNIT_TPS;
        lf_strlcpy(r.model, "bad\xff\xfe utf-8 \xc3", sizeof r.model);
        r.n_prompt = 64;
        r.median = 500;
        assert_int_equal(lf_store_result_add(st, run.id, &r, s, 8, &err), 0);
        assert_int_equal(lf_store_run_finish(st, run.id, LF_RUN_COMPLETE, &err), 0);
    }
    FILE *f = fopen(bundle, "w");
    assert_non_null(f);
    assert_int_equal(lf_store_export_bundle(st, NULL, 0, f, &err), 0);
    fclose(f);
    lf_store_close(st);
}

static void test_runs_outputs(void **state) {
    (void)state;
    if (!cli_bin())
        skip();
    char src[300], bundle[300], db[300], db2[300], out2[300];
    snprintf(src, sizeof src, "%s/src.db", g_dir);
    snprintf(bundle, sizeof bundle, "%s/bundle.json", g_dir);
    snprintf(db, sizeof db, "%s/imported.db", g_dir);
    snprintf(db2, sizeof db2, "%s/again.db", g_dir);
    snprintf(out2, sizeof out2, "%s/export.json", g_dir);
    char uuids[2][40];
    make_bundle(src, bundle, uuids);

    cli_out o;
    const char *const imp[] = {"import", bundle, "--db", db, NULL};
    assert_int_equal(cli_run(&o, NULL, imp), 0);
    assert_cli_safe("import", &o);
    cli_out_free(&o);

    const char *const list[] = {"runs", "--db", db, NULL};
    assert_int_equal(cli_run(&o, NULL, list), 0);
    assert_cli_safe("runs", &o);
    char prefix[9];
    lf_strlcpy(prefix, uuids[0], sizeof prefix);
    assert_non_null(strstr(o.out, prefix));
    assert_non_null(strstr(o.out, "<script>alert(1)"));   /* the label, cut to its column */
    cli_out_free(&o);

    for (int k = 0; k < 2; k++) {
        const char *const show[] = {"runs", "show", uuids[k], "--db", db, NULL};
        assert_int_equal(cli_run(&o, NULL, show), 0);
        assert_cli_safe("runs show", &o);
        assert_non_null(strstr(o.out, "<script>alert(1)</script>"));   /* plain text here */
        assert_non_null(strstr(o.out, "\\x1b"));
        cli_out_free(&o);
    }

    /* SQL in a label is data: found by an exact filter, nothing dropped */
    const char *const bylabel[] = {"runs", "--db", db, "--label", "x'); DROP TABLE runs; --", NULL};
    assert_int_equal(cli_run(&o, NULL, bylabel), 0);
    assert_non_null(strstr(o.out, "x'); DROP TABLE"));
    cli_out_free(&o);
    const char *const check[] = {"db", "check", "--db", db, NULL};
    assert_int_equal(cli_run(&o, NULL, check), 0);
    cli_out_free(&o);

    const char *const csv[] = {"export", "--db", db, "--format", "csv", NULL};
    assert_int_equal(cli_run(&o, NULL, csv), 0);
    assert_cli_safe("export csv", &o);
    assert_true(valid_utf8((const unsigned char *)o.out, o.out_len));
    assert_non_null(strstr(o.out, "\"'=cmd|' /C calc'!A0\""));   /* formula guarded */
    assert_null(strstr(o.out, ",=cmd"));
    int lines = 0;
    for (size_t i = 0; i < o.out_len; i++)
        lines += o.out[i] == '\n';
    assert_int_equal(lines, 1 + 4);   /* header + 2 runs x 2 results */
    cli_out_free(&o);

    /* the bundle export (invalid UTF-8 included) imports again */
    const char *const exp[] = {"export", "--db", db, "-o", out2, NULL};
    assert_int_equal(cli_run(&o, NULL, exp), 0);
    cli_out_free(&o);
    const char *const imp2[] = {"import", out2, "--db", db2, NULL};
    assert_int_equal(cli_run(&o, NULL, imp2), 0);
    assert_cli_safe("re-import", &o);
    cli_out_free(&o);
    const char *const list2[] = {"runs", "--db", db2, "--json", NULL};
    assert_int_equal(cli_run(&o, NULL, list2), 0);
    assert_non_null(strstr(o.out, uuids[0]));
    assert_non_null(strstr(o.out, uuids[1]));
    cli_out_free(&o);

    char base[48], cand[48];
    snprintf(base, sizeof base, "run:%s", uuids[0]);
    snprintf(cand, sizeof cand, "run:%s", uuids[1]);
    const char *const md[] = {"compare", "--db", db, "--baseline", base, "--candidate", cand,
                              "--format", "md", NULL};
    assert_int_equal(cli_run(&o, NULL, md), 1);   /* 20% slower: a regression */
    assert_cli_safe("compare md", &o);
    assert_non_null(strstr(o.out, "\\<script\\>"));   /* shown literally by markdown */
    assert_null(strstr(o.out, " <script>"));
    assert_non_null(strstr(o.out, "\\|"));
    cli_out_free(&o);
    const char *const junit[] = {"compare", "--db", db, "--baseline", base, "--candidate", cand,
                                 "--format", "junit", NULL};
    assert_int_equal(cli_run(&o, NULL, junit), 1);
    assert_cli_safe("compare junit", &o);
    assert_true(valid_utf8((const unsigned char *)o.out, o.out_len));
    assert_non_null(strstr(o.out, "&lt;script&gt;"));
    assert_null(strstr(o.out, "<script>"));
    assert_non_null(strstr(o.out, "<failure"));
    cli_out_free(&o);
    const char *const js[] = {"compare", "--db", db, "--baseline", base, "--candidate", cand,
                              "--format", "json", NULL};
    assert_int_equal(cli_run(&o, NULL, js), 1);
    assert_null(memchr(o.out, 0x1b, o.out_len));   /* JSON escapes controls */
    assert_true(valid_utf8((const unsigned char *)o.out, o.out_len));
    cli_out_free(&o);

    char rdir[300];
    snprintf(rdir, sizeof rdir, "%s/report", g_dir);
    const char *const rep[] = {"report", "--db", db, "--device", "dev-\x1b[1m", "--format", "html",
                               "--no-plots", "-q", "-o", rdir, NULL};
    int rs = cli_run(&o, NULL, rep);
    assert_cli_safe("report", &o);
    if (rs != 0)
        printf("report: exit %d %s", rs, o.err);
    cli_out_free(&o);
    assert_int_equal(rs, 0);
    char html[400];
    snprintf(html, sizeof html, "%s/report.html", rdir);
    FILE *f = fopen(html, "rb");
    assert_non_null(f);
    static char page[1 << 20];
    size_t n = fread(page, 1, sizeof page - 1, f);
    fclose(f);
    page[n] = '\0';
    assert_non_null(strstr(page, "&lt;script&gt;alert(1)"));   /* the model name, escaped */
    assert_null(strstr(page, "<script>alert(1)"));
    assert_null(memchr(page, 0x1b, n));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detector),
        cmocka_unit_test(test_text_clean),
        cmocka_unit_test(test_warn_escaped),
        cmocka_unit_test(test_gguf_info),
        cmocka_unit_test(test_runs_outputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
