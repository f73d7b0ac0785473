/*
 * `localfit bench --engine localfit,llama.cpp=PATH` as a user runs it,
 * against the fake llama-bench of fake_llama.h: llama.cpp's results join
 * the run (stored with engine "llama.cpp", one sample per localfit
 * repetition, interleaved), the table shows the engines side by side with
 * the ratio, -ngl / -fa reach llama-bench, and a missing, failing or
 * garbage-printing binary gives a clear message and exit status 1 while
 * localfit's results are still stored. And, when LOCALFIT_TEST_LLAMA_BENCH
 * names one, the same with the real llama-bench on a shared model.
 */
#include "store/store.h"
#include "tests/engines/fake_llama.h"
#include "tests/store/test_support.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>

#include <cmocka.h>

#define LOCALFIT LF_BINARY_DIR "/localfit"

static int setup(void **state) {
    *state = tdir_new();
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    tdir_free(*state);
    return 0;
}

/* Runs localfit with args (NULL-terminated; XDG_CACHE_HOME in the test's
 * directory); stdout into out, stderr into err. Returns the exit status. */
static int run(const tdir *t, const char *const *args, char *out, size_t osize, char *err, size_t esize) {
    char of[400], ef[400];
    snprintf(of, sizeof of, "%s/stdout", t->dir);
    snprintf(ef, sizeof ef, "%s/stderr", t->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(of, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(ef, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(e, 2);
        setenv("XDG_CACHE_HOME", t->dir, 1);
        char *argv[64];
        int n = 0;
        argv[n++] = (char *)LOCALFIT;
        for (; args[n - 1] && n < 63; n++)
            argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        execv(LOCALFIT, argv);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    const char *files[2] = {of, ef};
    char *bufs[2] = {out, err};
    size_t sizes[2] = {osize, esize};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        size_t n = f ? fread(bufs[i], 1, sizes[i] - 1, f) : 0;
        bufs[i][n] = 0;
        if (f)
            fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_engine_side_by_side(void **state) {
    tdir *t = *state;
    char bin[512], log[512], spec[600];
    snprintf(bin, sizeof bin, "%s/llama-bench", t->dir);
    snprintf(log, sizeof log, "%s/args.log", t->dir);
    snprintf(spec, sizeof spec, "localfit,llama.cpp=%s", bin);
    assert_int_equal(fake_llama_write(bin, log, FAKE_OK), 0);
    const char *args[] = {"bench", "--suite", "smoke", "-m", "tiny", "-q", "q8_0", "--lora", "none",
                          "--tests", "pp,tg", "--reps", "3-3", "--db", t->db, "--probe", "quick",
                          "--progress", "none", "--engine", spec, "-ngl", "99", NULL};
    static char out[1 << 16], err[1 << 16];
    int st = run(t, args, out, sizeof out, err, sizeof err);
    if (st != 0)
        fail_msg("status %d: %s", st, err);
    /* side by side, with the ratio: localfit's medians over 1234.5 */
    assert_non_null(strstr(out, "Engines (median; localfit's speed over llama.cpp's)"));
    assert_non_null(strstr(out, "llama.cpp"));
    assert_non_null(strstr(err, "-ngl 99: CPU engine: ignored (passed to llama.cpp)"));
    /* stored: 2 localfit + 2 llama.cpp results, each with the samples of
     * its interleaved turns (3 each: one per localfit repetition) */
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results WHERE engine = 'localfit'"), 2);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results WHERE engine = 'llama.cpp'"), 2);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM samples s JOIN results r ON r.id = s.result_id "
                                    "WHERE r.engine = 'llama.cpp' AND s.value = 1234.5"), 6);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results WHERE engine = 'llama.cpp' AND "
                                    "median = 1234.5 AND model = 'tiny' AND quant = 'Q8_0'"), 2);
    /* llama-bench loaded the synthesized weights from the cache, with -ngl */
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        assert_non_null(strstr(line, "/localfit/models/tiny-Q8_0-"));
        assert_non_null(strstr(line, "-r 1 -o jsonl -ngl 99"));
    }
    fclose(f);
    assert_int_equal(n, 6);
}

static void test_engine_failures(void **state) {
    tdir *t = *state;
    char bin[512], log[512], spec[600];
    snprintf(bin, sizeof bin, "%s/llama-bench", t->dir);
    snprintf(log, sizeof log, "%s/args.log", t->dir);
    snprintf(spec, sizeof spec, "llama.cpp=%s", bin);
    static const struct { int mode; const char *needle; } cases[] = {
        {-1, "no such file"},   /* no binary written */
        {FAKE_FAIL, "exited with status 3: llama_model_load: error loading model: fake failure"},
        {FAKE_GARBAGE, "output of"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].mode >= 0)
            assert_int_equal(fake_llama_write(bin, log, (fake_mode)cases[i].mode), 0);
        const char *args[] = {"bench", "--suite", "smoke", "-m", "tiny", "-q", "q8_0", "--lora", "none",
                              "--tests", "pp,tg", "--reps", "2-2", "--db", t->db, "--probe", "quick",
                              "--progress", "none", "--engine", spec, "--csv", NULL};
        static char out[1 << 16], err[1 << 16];
        int st = run(t, args, out, sizeof out, err, sizeof err);
        if (st != 1 || !strstr(err, cases[i].needle) || !strstr(err, "with localfit's results only"))
            fail_msg("case %zu: status %d: %s", i, st, err);
        /* localfit's results are on stdout and in the database */
        assert_non_null(strstr(out, ",localfit\n"));
        assert_null(strstr(out, ",llama.cpp\n"));
    }
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results WHERE engine = 'localfit'"), 6);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results WHERE engine != 'localfit'"), 0);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM runs WHERE status = 'complete'"), 3);
}

/* The real llama-bench (LOCALFIT_TEST_LLAMA_BENCH) on a shared model file. */
static void test_engine_real(void **state) {
    tdir *t = *state;
    const char *bin = getenv("LOCALFIT_TEST_LLAMA_BENCH");
    const char *models = getenv("LOCALFIT_TEST_MODELS");
    char model[1024], spec[1200];
    snprintf(model, sizeof model, "%s/stories260K.gguf", models ? models : "../shared/models");
    if (!bin || !*bin) {
        print_message("skipped: no llama-bench (configure with -DLF_TEST_LLAMA_BENCH=PATH)\n");
        skip();
    }
    if (access(model, R_OK) != 0) {
        print_message("skipped: no shared model %s\n", model);
        skip();
    }
    snprintf(spec, sizeof spec, "localfit,llama.cpp=%s", bin);
    const char *args[] = {"bench", "-m", model, "-p", "16", "-n", "4", "-t", "1", "--reps", "2-2",
                          "--db", t->db, "--probe", "quick", "--progress", "none", "--engine", spec, NULL};
    static char out[1 << 16], err[1 << 16];
    int st = run(t, args, out, sizeof out, err, sizeof err);
    if (st != 0)
        fail_msg("status %d: %s", st, err);
    assert_non_null(strstr(out, "localfit / llama.cpp"));
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results WHERE engine = 'llama.cpp' AND "
                                    "n_samples = 2 AND median > 0 AND backend != ''"), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_engine_side_by_side, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_real, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
