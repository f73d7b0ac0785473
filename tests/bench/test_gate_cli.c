/*
 * The regression gate as CI runs it: the `localfit` binary in a scratch
 * directory. Exit statuses (0 no regression or no baseline yet, 1
 * regression, 2 usage or setup error, 3 nothing comparable or an
 * incomplete candidate), a bench that measured nothing, and the README's
 * GitHub Actions recipe run as written from an empty database: it must
 * pass the first time and gate the second. The recipe's commands are read
 * from README.md, with two changes so the test takes seconds: the smoke
 * suite instead of quick, and `--probe quick` (no bandwidth measurement).
 */
#include "common/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

static char dir[256];
static const char *const bin = LF_BINARY_DIR "/localfit";
static char self[4096];   /* this test's own path, for --downgrade */

/* Runs cmd (a shell command) in the scratch directory with localfit's
 * output quiet; its exit status, or -1. */
static int sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(cmd, sizeof cmd, "cd '%s' && ", dir);
    vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state) {
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lf-gate-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    if (access(bin, X_OK) != 0) {
        print_message("skipped: %s not built\n", bin);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sh("rm -f results.db* e.db* v4.db* old.sh compare.md out.md");
    rmdir(dir);
    return 0;
}

static void test_usage_and_setup_errors_exit_2(void **state) {
    (void)state;
    assert_int_equal(sh("'%s' compare --bogus 2>/dev/null", bin), 2);
    assert_int_equal(sh("'%s' compare --pairs 3 --ab a b 2>/dev/null", bin), 2);
    /* A missing database is a setup error, not a regression. */
    assert_int_equal(sh("'%s' compare --db missing.db 2>/dev/null >/dev/null", bin), 2);
    /* --ab with a build that is not there. */
    assert_int_equal(sh("'%s' compare --ab ./nothing ./nothing --suite smoke 2>/dev/null", bin), 2);
}

/* Every test skipped (a 70B model at Q8_0 on a machine without the memory
 * for it... or a machine with: then the test cannot tell and says so). */
static void test_empty_bench_fails_and_is_not_complete(void **state) {
    (void)state;
    int rc = sh("'%s' bench -m Llama-3.1-70B -q Q8_0 --skip-too-big --db e.db --probe quick --quiet "
                ">/dev/null 2>out.md",
                bin);
    if (rc == 0 && sh("grep -q 'nothing was measured' out.md") != 0) {
        skip();   /* the model fits this machine: nothing was skipped */
    }
    assert_int_not_equal(rc, 0);
    assert_int_equal(sh("grep -q 'nothing was measured' out.md"), 0);
    assert_int_equal(sh("'%s' runs --db e.db | grep -q interrupted", bin), 0);
    assert_int_equal(sh("'%s' runs --db e.db | grep -q complete", bin), 1);
    /* That run as candidate: exit 3, not 0. */
    assert_int_equal(sh("'%s' compare --db e.db >/dev/null 2>&1", bin), 3);
}

/* The recipe's `- run: build/localfit ...` lines of README.md. */
static int recipe(char lines[][512], int max) {
    FILE *f = fopen(LF_SOURCE_DIR "/README.md", "r");
    if (!f)
        return -1;
    char line[1024];
    int n = 0, in = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "### Regression gate in CI"))
            in = 1;
        else if (in && !strncmp(line, "### ", 4))
            break;
        else if (in == 1 && !strncmp(line, "```yaml", 7))
            in = 2;
        else if (in == 2 && !strncmp(line, "```", 3))
            break;
        const char *p = strstr(line, "- run: build/localfit ");
        if (in == 2 && p && n < max) {
            p += strlen("- run: build/localfit ");
            line[strcspn(line, "\n")] = '\0';
            char *q = strstr(line, "--suite quick");
            if (q)
                memcpy(q, "--suite smoke", 13);
            snprintf(lines[n++], 512, "%s%s", p, !strncmp(p, "bench", 5) ? " --probe quick --quiet" : "");
        }
    }
    fclose(f);
    return n;
}

static void test_readme_recipe_passes_first_then_gates(void **state) {
    (void)state;
    char lines[8][512];
    int n = recipe(lines, 8);
    assert_int_equal(n, 2);
    assert_non_null(strstr(lines[0], "bench"));
    assert_non_null(strstr(lines[1], "compare"));
    /* First CI run, empty database: bench, then compare says there is no
     * baseline yet and passes. */
    assert_int_equal(sh("'%s' %s >/dev/null 2>&1", bin, lines[0]), 0);
    assert_int_equal(sh("'%s' %s 2>/dev/null", bin, lines[1]), 0);
    assert_int_equal(sh("grep -q 'no baseline yet' compare.md"), 0);
    /* Second CI run, on a build ten times slower (the scalar kernels):
     * the same commands now compare against the first run and fail. */
    assert_int_equal(sh("LOCALFIT_ISA=scalar '%s' %s >/dev/null 2>&1", bin, lines[0]), 0);
    assert_int_equal(sh("'%s' %s 2>/dev/null", bin, lines[1]), 1);
    assert_int_equal(sh("grep -q 'REGRESSION' compare.md"), 0);
    /* The power line is there, per run. */
    assert_int_equal(sh("grep -q 'would have been detected' compare.md"), 0);
    /* An unwritable -o is a setup error. */
    assert_int_equal(sh("'%s' compare --db results.db -o /nonexistent/dir/x.md 2>/dev/null", bin), 2);
    /* An explicit baseline that does not exist: setup error too. */
    assert_int_equal(sh("'%s' compare --db results.db --baseline label:nope >/dev/null 2>&1", bin), 2);
}


/* Repro: two llama-bench files of 3 samples each, the second 2x slower.
 * The rank test cannot reach 0.01 at 3 + 3; the separated-change rule
 * must still call it a regression (exit 1), not "same". The files are the
 * llama-bench fixture with its samples cut to 3 (and doubled in time). */
static void test_llama_bench_three_samples(void **state) {
    (void)state;
    json_error_t je;
    json_t *root = json_load_file(LF_FIXTURES_DIR "/llama-bench/cpu.json", 0, &je);
    assert_non_null(root);
    for (int side = 0; side < 2; side++) {
        size_t i;
        json_t *rec;
        json_array_foreach(root, i, rec) {
            static const char *const keys[] = {"samples_ns", "samples_ts"};
            for (int k = 0; k < 2; k++) {
                json_t *a = json_object_get(rec, keys[k]);
                while (json_array_size(a) > 3)
                    json_array_remove(a, json_array_size(a) - 1);
                for (size_t j = 0; side && j < json_array_size(a); j++) {
                    double v = json_number_value(json_array_get(a, j));
                    json_array_set_new(a, j, json_real(k == 0 ? v * 2 : v / 2));
                }
            }
            if (side) {
                json_object_set_new(rec, "build_commit", json_string("9dead000"));
                json_object_set_new(rec, "test_time", json_string("2025-04-25T11:58:50Z"));
            }
        }
        char path[300];
        snprintf(path, sizeof path, "%s/%s.json", dir, side ? "cand" : "base");
        assert_int_equal(json_dump_file(root, path, 0), 0);
    }
    json_decref(root);
    assert_int_equal(sh("'%s' import base.json --db lb.db --label lb-base >/dev/null 2>&1", bin), 0);
    assert_int_equal(sh("'%s' import cand.json --db lb.db --label lb-cand >/dev/null 2>&1", bin), 0);
    assert_int_equal(sh("'%s' compare --db lb.db --baseline label:lb-base --candidate label:lb-cand "
                        "> out.md 2>/dev/null",
                        bin),
                     1);
    assert_int_equal(sh("grep -c 'REGRESSION.*(n=3)' out.md | grep -qx 2"), 0);
    sh("rm -f base.json cand.json lb.db*");
}

/* What a build from before schema v5 leaves behind: the v5 columns
 * dropped and user_version 4 (the store's v4 -> v5 step is tested in
 * test_store). Run as `test_gate_cli --downgrade DB` by old.sh below. */
static int downgrade_to_v4(const char *db) {
    sqlite3 *h;
    if (sqlite3_open(db, &h) != SQLITE_OK)
        return 1;
    int rc = sqlite3_exec(h,
                          "ALTER TABLE results DROP COLUMN n_expert;"
                          "ALTER TABLE results DROP COLUMN n_expert_used;"
                          "ALTER TABLE results DROP COLUMN model_bytes;"
                          "PRAGMA user_version = 4;",
                          NULL, NULL, NULL);
    sqlite3_close(h);
    return rc == SQLITE_OK ? 0 : 1;
}

/* compare --ab of an old build (its database at schema 4) against this
 * one: both sides are read and judged, exit 0 or 1, not a setup error. */
static void test_ab_old_schema(void **state) {
    (void)state;
    assert_int_equal(sh("printf '%%s\\n' '#!/bin/sh' '\"%s\" \"$@\"; rc=$?' "
                        "'for a; do [ \"$p\" = --db ] && db=$a; p=$a; done' "
                        "'\"%s\" --downgrade \"$db\" || exit 9' 'exit $rc' > old.sh && chmod +x old.sh",
                        bin, self),
                     0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && ./old.sh bench --suite smoke --tests tg -n 4 --reps 1 "
             "--warmup 0 --probe quick --quiet --db v4.db --label x >/dev/null 2>&1", dir);
    assert_int_equal(system(cmd), 0);
    sqlite3 *h;
    char path[512];
    snprintf(path, sizeof path, "%s/v4.db", dir);
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 4);   /* the wrapper really left a v4 file */
    sqlite3_finalize(q);
    sqlite3_close(h);
    const int rc = sh("'%s' compare --pairs 4 --ab ./old.sh '%s' --suite smoke --tests tg -n 4 "
                      "--reps 2 --warmup 0 --probe quick >compare.md 2>out.md", bin, bin);
    if (rc != 0 && rc != 1)
        sh("cat out.md >&2");
    assert_true(rc == 0 || rc == 1);
    assert_int_equal(sh("grep -q 'ABBA pairs' compare.md"), 0);
}

int main(int argc, char **argv) {
    if (!realpath(argv[0], self))
        return 1;
    if (argc == 3 && strcmp(argv[1], "--downgrade") == 0)
        return downgrade_to_v4(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_and_setup_errors_exit_2),
        cmocka_unit_test(test_ab_old_schema),
        cmocka_unit_test(test_empty_bench_fails_and_is_not_complete),
        cmocka_unit_test(test_readme_recipe_passes_first_then_gates),
        cmocka_unit_test(test_llama_bench_three_samples),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
