/*
 * `localfit bench` as a user runs it, as a separate process: issue 5's
 * acceptance (kill -9 at several points of a real `--suite smoke` run
 * leaves a database that passes integrity_check with every finished result
 * complete; two benches writing one new database at once both succeed),
 * Ctrl-C (SIGINT) keeping the run as interrupted with exit status 1, the
 * JSON and CSV outputs on stdout, usage errors, and llama-bench's
 * conventions (-o md|csv|json|jsonl|sql, -p 0 / -n 0, -pg, -r, -ctk/-ctv,
 * -fa, -ngl).
 *
 * Kill points are counted in finished tests (the progress lines the
 * process prints after storing each result), not in time: the kill lands
 * after the k-th stored result, wherever the process then is.
 */
#include "store/store.h"
#include "tests/store/test_support.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
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

typedef struct child {
    pid_t pid;
    int err_fd;       /* the child's stderr */
    int out_fd;       /* its stdout, or -1 when sent to /dev/null */
    FILE *err;
} child;

/* Starts localfit with args (NULL-terminated), stderr on a pipe, stdout on
 * a pipe when want_out. The environment is the test's (LOCALFIT_DATADIR). */
static void spawn(child *c, bool want_out, const char *const *args) {
    int ep[2], op[2] = {-1, -1};
    assert_int_equal(pipe(ep), 0);
    if (want_out)
        assert_int_equal(pipe(op), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(ep[1], 2);
        if (want_out) {
            dup2(op[1], 1);
        } else {
            int nul = open("/dev/null", O_WRONLY);
            dup2(nul, 1);
        }
        close(ep[0]);
        close(ep[1]);
        if (want_out) {
            close(op[0]);
            close(op[1]);
        }
        char *argv[64];
        int n = 0;
        argv[n++] = (char *)LOCALFIT;
        for (; args[n - 1] && n < 63; n++)
            argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        execv(LOCALFIT, argv);
        _exit(127);
    }
    close(ep[1]);
    if (want_out)
        close(op[1]);
    c->pid = pid;
    c->err_fd = ep[0];
    c->out_fd = want_out ? op[0] : -1;
    c->err = fdopen(ep[0], "r");
    assert_non_null(c->err);
}

/* Reads stderr until the k-th finished-test line ("  [i/N] ..."); returns
 * the count seen (less than k when the process ended first). */
static int wait_results(child *c, int k) {
    char line[1024];
    int seen = 0;
    while (seen < k && fgets(line, sizeof line, c->err))
        if (!strncmp(line, "  [", 3))
            seen++;
    return seen;
}

/* Drains the rest of stderr (into buf when not NULL) and reaps the child;
 * returns its wait status. */
static int finish(child *c, char *buf, size_t size) {
    size_t used = 0;
    char line[1024];
    while (fgets(line, sizeof line, c->err))
        if (buf && used + strlen(line) + 1 < size) {
            memcpy(buf + used, line, strlen(line) + 1);
            used += strlen(line);
        }
    fclose(c->err);
    int st;
    assert_int_equal(waitpid(c->pid, &st, 0), c->pid);
    return st;
}

/* Reads all of the child's stdout. */
static char *read_out(child *c) {
    size_t cap = 1 << 16, used = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    ssize_t n;
    while ((n = read(c->out_fd, buf + used, cap - used - 1)) > 0) {
        used += (size_t)n;
        if (used + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[used] = 0;
    close(c->out_fd);
    return buf;
}

/* Every result has all its samples, and none is orphaned. */
static void assert_results_whole(const char *db) {
    assert_int_equal(raw_int(db, "SELECT count(*) FROM results r WHERE r.n_samples != "
                                 "(SELECT count(*) FROM samples s WHERE s.result_id = r.id)"), 0);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM samples s WHERE NOT EXISTS "
                                 "(SELECT 1 FROM results r WHERE r.id = s.result_id)"), 0);
}

static void test_kill9(void **state) {
    tdir *t = *state;
    static const int points[] = {1, 4, 13, 29};
    for (size_t round = 0; round < sizeof points / sizeof points[0]; round++) {
        char label[32];
        snprintf(label, sizeof label, "kill-%zu", round);
        const char *args[] = {"bench", "--suite", "smoke", "--db", t->db, "--probe", "quick",
                              "--progress", "plain", "--label", label, NULL};
        child c;
        spawn(&c, false, args);
        int seen = wait_results(&c, points[round]);
        kill(c.pid, SIGKILL);
        int st = finish(&c, NULL, 0);
        /* it died by the signal, unless it had already finished */
        assert_true((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) || (WIFEXITED(st) && WEXITSTATUS(st) == 0));

        lf_store *s = NULL;
        lf_error err = {0};
        assert_int_equal(lf_store_open(&s, t->db, 0, &err), 0);   /* writable: settles dead runs */
        lf_store_check chk;
        assert_int_equal(lf_store_check_db(s, &chk, &err), 0);
        if (!chk.integrity_ok)
            fail_msg("round %zu: integrity_check: %s", round, chk.integrity);
        assert_int_equal(chk.fk_violations, 0);
        lf_run_filter f = LF_RUN_FILTER_INIT;
        f.label = label;
        lf_run *runs = NULL;
        int n = 0;
        assert_int_equal(lf_store_runs_list(s, &f, &runs, &n, &err), 0);
        assert_int_equal(n, 1);
        lf_run_full rf;
        assert_int_equal(lf_store_run_load(s, runs[0].id, &rf, &err), 0);
        /* every test it reported finished is there */
        assert_true(rf.n_results >= seen);
        assert_int_equal(seen, points[round]);
        if (runs[0].status == LF_RUN_COMPLETE)
            assert_int_equal(rf.n_results, 36);
        else
            assert_int_equal(runs[0].status, LF_RUN_INTERRUPTED);
        for (int i = 0; i < rf.n_results; i++)
            assert_int_equal(rf.n_samples_stored[i], rf.results[i].n_samples);
        lf_run_full_free(&rf);
        free(runs);
        lf_store_close(s);
        assert_results_whole(t->db);
    }
}

/* Two benches start together on a database that does not exist yet. */
static void test_two_writers(void **state) {
    tdir *t = *state;
    child c[2];
    for (int i = 0; i < 2; i++) {
        const char *args[] = {"bench",   "--suite", "smoke",   "--db", t->db,
                              "--probe", "quick",   "--quiet", NULL};
        spawn(&c[i], false, args);
    }
    for (int i = 0; i < 2; i++) {
        char msg[4096] = "";
        int st = finish(&c[i], msg, sizeof msg);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("bench %d failed (status %d): %s", i, st, msg);
    }
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM runs WHERE status = 'complete'"), 2);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results"), 72);
    assert_int_equal(raw_int(t->db, "SELECT count(DISTINCT run_id) FROM results"), 2);
    assert_results_whole(t->db);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM devices"), 1);
}

/* Ctrl-C after the first finished test: exit 1, a message, the run kept
 * as interrupted with that test. */
static void test_sigint(void **state) {
    tdir *t = *state;
    /* model_load finishes at once; tg then has 1000 repetitions of 200
     * tokens to do (seconds, where the signal takes microseconds) */
    const char *args[] = {"bench", "--suite", "smoke", "-m", "tiny", "-q", "q8_0", "--lora", "none",
                          "--tests", "model_load,tg", "-n", "200", "--reps", "1000-1000", "--budget", "1000",
                          "--db", t->db, "--probe", "quick", "--progress", "plain", NULL};
    child c;
    spawn(&c, false, args);
    assert_int_equal(wait_results(&c, 1), 1);
    kill(c.pid, SIGINT);
    char msg[4096] = "";
    int st = finish(&c, msg, sizeof msg);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_non_null(strstr(msg, "interrupted"));
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM runs WHERE status = 'interrupted'"), 1);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results"), 1);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results WHERE kind = 'model_load'"), 1);
    assert_results_whole(t->db);
}

static void test_json_csv_stdout(void **state) {
    (void)state;
    const char *args[] = {"bench", "--suite", "smoke", "-m", "tiny", "-q", "q4_0", "--no-store",
                          "--probe", "quick", "--quiet", "--json", NULL};
    child c;
    spawn(&c, true, args);
    char *out = read_out(&c);
    char msg[4096] = "";
    int st = finish(&c, msg, sizeof msg);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("bench --json failed: %s", msg);
    json_error_t je;
    json_t *doc = json_loads(out, 0, &je);
    if (!doc)
        fail_msg("stdout is not JSON: %s: %.200s", je.text, out);
    assert_int_equal((int)json_array_size(json_object_get(doc, "results")), 9);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "run"), "suite")), "smoke");
    json_decref(doc);
    free(out);

    const char *args2[] = {"bench", "--suite", "smoke", "-m", "stories260k", "-q", "q8_0", "--lora", "none",
                           "--no-store", "--probe", "quick", "--quiet", "--csv", NULL};
    spawn(&c, true, args2);
    out = read_out(&c);
    st = finish(&c, msg, sizeof msg);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int lines = 0;
    for (char *p = out; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, 1 + 4);   /* header + pp, tg, ttft, model_load */
    assert_true(!strncmp(out, "run_uuid,test,model,", 20));
    free(out);
}

static void test_usage(void **state) {
    (void)state;
    static const struct { const char *args[8]; int status; const char *needle; } cases[] = {
        {{"bench", "-t", "0", "--no-store", NULL}, 2, "threads"},
        {{"bench", "--suite", "nosuch", "--no-store", NULL}, 1, "built-in suites"},
        {{"bench", "--format", "xml", NULL}, 2, "--format"},
        {{"bench", "--db", "/tmp/x.db", "--no-store", NULL}, 2, "contradict"},
        {{"bench", "stray", NULL}, 2, "unexpected argument"},
        {{"bench", "--help", NULL}, 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        child c;
        spawn(&c, false, cases[i].args);
        char msg[4096] = "";
        int st = finish(&c, msg, sizeof msg);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != cases[i].status || !strstr(msg, cases[i].needle))
            fail_msg("case %zu: status %d, stderr '%s'", i, WIFEXITED(st) ? WEXITSTATUS(st) : -1, msg);
    }
}

/* Runs a quick tiny benchmark with extra args; stdout returned (caller
 * frees), stderr into msg, exit status into *status. */
static char *run_tiny(const char *const *extra, char *msg, size_t size, int *status) {
    const char *args[40] = {"bench", "--suite", "smoke", "-m", "tiny", "-q", "q4_0", "--lora", "none",
                            "--tests", "pp,tg", "--no-store", "--probe", "quick", "--progress", "none"};
    int n = 16;
    for (int i = 0; extra[i] && n < 39; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    child c;
    spawn(&c, true, args);
    char *out = read_out(&c);
    int st = finish(&c, msg, size);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

/* Lines of out whose second CSV field (the test) is kind. */
static int csv_tests(const char *out, const char *kind) {
    int n = 0;
    char needle[32];
    snprintf(needle, sizeof needle, ",%s,", kind);
    for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        const char *comma = strchr(p, ',');
        if (comma && !strncmp(comma, needle, strlen(needle)))
            n++;
    }
    return n;
}

/* llama-bench's conventions (issue 17 item 12), as its users type them. */
static void test_llama_bench_flags(void **state) {
    (void)state;
    char msg[4096];
    int st;
    /* -o csv, and -p 0 / -n 0 skip a test */
    const char *p0[] = {"-o", "csv", "-p", "0", "-n", "8", NULL};
    char *out = run_tiny(p0, msg, sizeof msg, &st);
    if (st != 0)
        fail_msg("-p 0: status %d: %s", st, msg);
    assert_int_equal(csv_tests(out, "tg"), 1);
    assert_int_equal(csv_tests(out, "pp"), 0);
    free(out);
    const char *n0[] = {"-o", "csv", "-n", "0", NULL};
    out = run_tiny(n0, msg, sizeof msg, &st);
    assert_int_equal(st, 0);
    assert_int_equal(csv_tests(out, "pp"), 1);
    assert_int_equal(csv_tests(out, "tg"), 0);
    free(out);

    /* -ctk / -ctv: the KV type; -r: repetitions */
    const char *ct[] = {"-o", "csv", "-ctk", "q8_0", "-ctv", "q8_0", "-r", "2-2", NULL};
    out = run_tiny(ct, msg, sizeof msg, &st);
    if (st != 0)
        fail_msg("-ctk: status %d: %s", st, msg);
    assert_int_equal(csv_tests(out, "pp") + csv_tests(out, "tg"), 2);
    assert_non_null(strstr(out, ",q8_0,"));
    assert_null(strstr(out, ",f16,"));
    assert_non_null(strstr(out, ",tokens/s,"));
    free(out);

    /* -o sql: llama-bench's shape, and valid SQL that loads into SQLite */
    const char *sql[] = {"-o", "sql", "-r", "2-2", NULL};
    out = run_tiny(sql, msg, sizeof msg, &st);
    if (st != 0)
        fail_msg("-o sql: status %d: %s", st, msg);
    assert_true(!strncmp(out, "CREATE TABLE IF NOT EXISTS localfit_bench (\n  run_uuid TEXT,\n", 57));
    assert_non_null(strstr(out, ");\n\nINSERT INTO localfit_bench (run_uuid, test, model, "));
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    char *emsg = NULL;
    if (sqlite3_exec(db, out, NULL, NULL, &emsg) != SQLITE_OK)
        fail_msg("the SQL does not load: %s", emsg);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), sum(n_samples), min(median > 0), "
                                            "count(DISTINCT engine) FROM localfit_bench", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 2);   /* pp16 and tg8 */
    assert_int_equal(sqlite3_column_int(s, 1), 4);   /* numbers typed as numbers */
    assert_int_equal(sqlite3_column_int(s, 2), 1);
    assert_int_equal(sqlite3_column_int(s, 3), 1);
    sqlite3_finalize(s);
    sqlite3_close(db);
    free(out);

    /* -ngl and -fa: accepted, said to be ignored by the CPU engine */
    const char *ngl[] = {"-o", "csv", "-ngl", "99", "-fa", "1", NULL};
    out = run_tiny(ngl, msg, sizeof msg, &st);
    if (st != 0 || !strstr(msg, "-ngl 99: CPU engine: ignored") || !strstr(msg, "-fa 1: CPU engine: ignored"))
        fail_msg("-ngl: status %d: %s", st, msg);
    assert_int_equal(csv_tests(out, "pp") + csv_tests(out, "tg"), 2);
    free(out);

    /* clear usage errors instead of "unexpected argument" */
    static const struct { const char *args[6]; const char *needle; } bad[] = {
        {{"-pg", "16,4", NULL}, "-pg 16,4: localfit does not time prompt + generation as one test; "
                                "measure them apart with -p 16 -n 4"},
        {{"-ctk", "q8_0", NULL}, "K and V in one type"},
        {{"-ctk", "q8_0", "-ctv", "f16", NULL}, "give both the same type"},
        {{"-o", "xml", NULL}, "-o: 'xml' is not"},
        {{"--engine", "vllm", NULL}, "'vllm' is not an engine"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = run_tiny(bad[i].args, msg, sizeof msg, &st);
        if (st != 2 || !strstr(msg, bad[i].needle))
            fail_msg("case %zu: status %d: %s", i, st, msg);
        free(out);
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_csv_stdout, setup, teardown),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_llama_bench_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
