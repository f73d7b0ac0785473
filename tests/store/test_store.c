/*
 * Store tests: schema creation and migration from a hand-written v1 file,
 * refusal of newer, foreign and non-database files (bytes compared), a
 * read-only file and a full disk (clear errors naming the file, nothing
 * lost), the run lifecycle and queries, results and samples round trip,
 * interrupted-run detection, cascading delete, llama-bench JSON/JSONL
 * import (twice: nothing added), bundle export -> import round trip, CSV
 * export, and build identity from CI variables and git.
 */
#include "tests/store/test_support.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

/* From store/internal.h, which tests may reach: the model_type parser. */
void lf_llama_quant_name(const char *model_type, char *buf, size_t size);

static int setup(void **state) {
    *state = tdir_new();
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    tdir_free(*state);
    return 0;
}

static lf_store *open_ok(const char *path, int flags) {
    lf_store *st = NULL;
    lf_error err = {0};
    int rc = lf_store_open(&st, path, flags, &err);
    if (rc < 0)
        fprintf(stderr, "open %s: %s\n", path, err.msg);
    assert_int_equal(rc, 0);
    return st;
}

/* Begins a run on device "dev-1" with the given branch/label/commit. */
static lf_run begin_run(lf_store *st, const char *branch, const char *label, const char *commit) {
    lf_error err = {0};
    lf_run run;
    lf_store_run_init(&run);
    snprintf(run.device_id, sizeof run.device_id, "dev-1");
    snprintf(run.suite, sizeof run.suite, "quick");
    snprintf(run.git_branch, sizeof run.git_branch, "%s", branch ? branch : "");
    snprintf(run.label, sizeof run.label, "%s", label ? label : "");
    snprintf(run.git_commit, sizeof run.git_commit, "%s", commit ? commit : "");
    int rc = lf_store_run_begin(st, &run, &err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    return run;
}

/* ---- schema ------------------------------------------------------------------ */

static void test_create(void **state) {
    tdir *t = *state;
    char deep[400];
    /* The directory is created, like ~/.local/share/localfit would be. */
    snprintf(deep, sizeof deep, "%s/a/b/results.db", t->dir);
    lf_store *st = open_ok(deep, 0);
    assert_int_equal(lf_store_schema_found(st), 0);
    assert_true(lf_store_migrated(st));
    lf_store_check chk;
    lf_error err = {0};
    assert_int_equal(lf_store_check_db(st, &chk, &err), 0);
    assert_true(chk.integrity_ok);
    assert_int_equal(chk.fk_violations, 0);
    assert_int_equal(chk.schema_version, LF_STORE_SCHEMA_VERSION);
    assert_string_equal(chk.journal_mode, "wal");
    lf_store_close(st);
    assert_int_equal(raw_int(deep, "PRAGMA user_version"), LF_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(deep, "PRAGMA application_id"), 0x4C464954);
    /* Reopening changes nothing. */
    st = open_ok(deep, 0);
    assert_int_equal(lf_store_schema_found(st), LF_STORE_SCHEMA_VERSION);
    assert_false(lf_store_migrated(st));
    lf_store_close(st);
    /* NOCREATE / READONLY refuse a missing file without creating it. */
    char missing[400];
    snprintf(missing, sizeof missing, "%s/none.db", t->dir);
    assert_int_equal(lf_store_open(&st, missing, LF_STORE_NOCREATE, &err), LF_ENOTFOUND);
    assert_non_null(strstr(err.msg, missing));
    assert_int_equal(lf_store_open(&st, missing, LF_STORE_READONLY, &err), LF_ENOTFOUND);
    assert_int_equal(access(missing, F_OK), -1);
}

/* The v1 layout as the first release wrote it, by hand (not through the
 * store's migration code). */
static const char *const v1_sql =
    "CREATE TABLE devices (id TEXT PRIMARY KEY, slug TEXT NOT NULL DEFAULT '',"
    " profile TEXT NOT NULL DEFAULT '{}', first_seen_ms INTEGER NOT NULL,"
    " last_seen_ms INTEGER NOT NULL);"
    "CREATE TABLE runs (id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE,"
    " tool_version TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT 'localfit',"
    " git_commit TEXT NOT NULL DEFAULT '', git_branch TEXT NOT NULL DEFAULT '', git_dirty INTEGER,"
    " compiler TEXT NOT NULL DEFAULT '', cflags TEXT NOT NULL DEFAULT '', suite TEXT NOT NULL DEFAULT '',"
    " label TEXT NOT NULL DEFAULT '', status TEXT NOT NULL CHECK (status IN ('running','complete','interrupted')),"
    " started_ms INTEGER NOT NULL, finished_ms INTEGER, device_id TEXT REFERENCES devices(id),"
    " host TEXT NOT NULL DEFAULT '', pid INTEGER);"
    "CREATE INDEX runs_by_device ON runs(device_id, started_ms);"
    "CREATE INDEX runs_by_commit ON runs(git_commit);"
    "CREATE TABLE results (id INTEGER PRIMARY KEY,"
    " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, kind TEXT NOT NULL,"
    " model TEXT NOT NULL, model_path TEXT NOT NULL DEFAULT '', quant TEXT NOT NULL DEFAULT '',"
    " adapter TEXT NOT NULL DEFAULT '', n_adapters INTEGER NOT NULL DEFAULT 0,"
    " adapter_rank INTEGER NOT NULL DEFAULT 0, adapter_mode TEXT NOT NULL DEFAULT 'none',"
    " threads INTEGER NOT NULL DEFAULT 0, n_prompt INTEGER NOT NULL DEFAULT 0,"
    " n_gen INTEGER NOT NULL DEFAULT 0, n_depth INTEGER NOT NULL DEFAULT 0,"
    " kv_type TEXT NOT NULL DEFAULT '', isa TEXT NOT NULL DEFAULT '', unit TEXT NOT NULL,"
    " median REAL, mean REAL, stddev REAL, ci_low REAL, ci_high REAL,"
    " n_samples INTEGER NOT NULL DEFAULT 0, bytes_per_token REAL, roofline_frac REAL,"
    " peak_rss INTEGER, joules_per_token REAL);"
    "CREATE INDEX results_by_run ON results(run_id);"
    "CREATE TABLE samples (result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (result_id, idx)) WITHOUT ROWID;"
    "INSERT INTO devices VALUES ('dev-old', 'old-box', '{\"cpu\":\"x\"}', 1000, 1000);"
    "INSERT INTO runs (id, uuid, status, started_ms, device_id, git_branch) VALUES"
    " (1, '11111111-2222-4333-8444-555555555555', 'complete', 1600000000000, 'dev-old', 'main');"
    "INSERT INTO results (id, run_id, kind, model, quant, threads, n_gen, unit, median, n_samples)"
    " VALUES (1, 1, 'tg', 'stories260K', 'Q8_0', 2, 64, 'tokens/s', 900.5, 3);"
    "INSERT INTO samples VALUES (1, 0, 899.0), (1, 1, 900.5), (1, 2, 903.25);"
    "PRAGMA user_version = 1;";

static void test_migrate_v1(void **state) {
    tdir *t = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v1_sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* A read-only open cannot migrate and says so. */
    lf_store *st = NULL;
    lf_error err = {0};
    assert_int_equal(lf_store_open(&st, t->db, LF_STORE_READONLY, &err), LF_EUNSUPP);
    assert_non_null(strstr(err.msg, "needs upgrading"));

    st = open_ok(t->db, 0);
    assert_int_equal(lf_store_schema_found(st), 1);
    assert_true(lf_store_migrated(st));
    lf_run run;
    assert_int_equal(lf_store_run_find(st, "11111111", &run, &err), 0);
    assert_int_equal(run.status, LF_RUN_COMPLETE);
    assert_string_equal(run.device_slug, "old-box");
    assert_int_equal(run.n_results, 1);
    lf_run_full rf;
    assert_int_equal(lf_store_run_load(st, run.id, &rf, &err), 0);
    assert_int_equal(rf.n_results, 1);
    assert_string_equal(rf.results[0].model, "stories260K");
    assert_string_equal(rf.results[0].backend, "");   /* new column, default */
    assert_true(isnan(rf.results[0].joules_per_token));
    assert_int_equal(rf.n_samples_stored[0], 3);
    assert_float_equal(rf.samples[0][2], 903.25, 0);
    lf_run_full_free(&rf);
    /* The v2 table works. */
    lf_quality q;
    lf_quality_init(&q);
    snprintf(q.model, sizeof q.model, "stories260K");
    snprintf(q.variant, sizeof q.variant, "Q8_0");
    q.kld_mean = 0.0012;
    assert_int_equal(lf_store_quality_add(st, run.id, &q, &err), 0);
    lf_store_close(st);
    assert_int_equal(raw_int(t->db, "PRAGMA user_version"), LF_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM quality"), 1);
    assert_int_equal(raw_int(t->db, "PRAGMA foreign_key_check"), -1);   /* no rows */
}

/* v1 plus the v2 step as released, by hand; results whose extra JSON
 * carries the figures v3 promoted to columns, in both spellings of the
 * parameter count, a non-number, an empty and a malformed extra. */
static const char *const v2_sql =
    "ALTER TABLE runs ADD COLUMN proc_start INTEGER;"
    "ALTER TABLE results ADD COLUMN backend TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE results ADD COLUMN config TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE results ADD COLUMN energy_note TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE results ADD COLUMN extra TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE quality (id INTEGER PRIMARY KEY,"
    " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, model TEXT NOT NULL,"
    " variant TEXT NOT NULL, ppl REAL, ppl_err REAL, dppl REAL, dppl_err REAL, ppl_ratio REAL,"
    " ppl_ratio_err REAL, kld_mean REAL, kld_mean_err REAL, kld_median REAL, kld_median_err REAL,"
    " kld_p99 REAL, kld_p99_err REAL, kld_max REAL, kld_max_err REAL, same_top REAL,"
    " same_top_err REAL, n_tokens INTEGER, ctx INTEGER);"
    "CREATE INDEX quality_by_run ON quality(run_id);"
    "UPDATE results SET extra = '{\"source\":\"synth\",\"weight_bytes\":200000000,"
    "\"kv_bytes\":4096.5,\"params\":180000000,\"flops_per_token\":360000000,"
    "\"roof_gbs\":6,\"peak_gops\":120,\"compute_frac\":0.25}' WHERE id = 1;"
    "INSERT INTO results (id, run_id, kind, model, quant, threads, n_prompt, unit, median, extra)"
    " VALUES (2, 1, 'pp', 'tiny', 'Q8_0', 2, 64, 'tokens/s', 50.0,"
    " '{\"n_params\":900000,\"weight_bytes\":\"big\"}'),"
    " (3, 1, 'pp', 'tiny', 'Q8_0', 2, 64, 'tokens/s', 51.0, ''),"
    " (4, 1, 'pp', 'tiny', 'Q8_0', 2, 64, 'tokens/s', 52.0, '{not json');"
    "PRAGMA user_version = 2;";

static void test_migrate_v2_promoted(void **state) {
    tdir *t = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v1_sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v2_sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    lf_store *st = open_ok(t->db, 0);
    assert_int_equal(lf_store_schema_found(st), 2);
    assert_true(lf_store_migrated(st));
    lf_error err = {0};
    lf_run_full rf;
    assert_int_equal(lf_store_run_load(st, 1, &rf, &err), 0);
    assert_int_equal(rf.n_results, 4);
    const lf_result *a = &rf.results[0], *b = &rf.results[1];
    /* the values the readers used to take from extra, now as fields */
    assert_true(a->weight_bytes == 200000000 && a->n_params == 180000000);
    assert_true(a->kv_bytes == 4096.5 && a->flops_per_token == 360000000);
    assert_true(a->roof_gbs == 6 && a->peak_gops == 120 && a->compute_frac == 0.25);
    assert_float_equal(a->median, 900.5, 0);
    assert_non_null(strstr(a->extra, "\"source\":\"synth\""));   /* extra kept as it was */
    /* the older spelling; a non-number is unknown, as the readers had it */
    assert_true(b->n_params == 900000);
    assert_true(isnan(b->weight_bytes) && isnan(b->kv_bytes) && isnan(b->compute_frac));
    for (int i = 2; i < 4; i++)
        assert_true(isnan(rf.results[i].weight_bytes) && isnan(rf.results[i].n_params) &&
                    isnan(rf.results[i].roof_gbs));
    assert_string_equal(rf.results[3].extra, "{not json");
    lf_run_full_free(&rf);
    lf_store_close(st);
    assert_int_equal(raw_int(t->db, "PRAGMA user_version"), LF_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results WHERE n_params IS NOT NULL"), 2);
}

/* The v3 and v4 steps as released, by hand, on top of v2_sql: a database
 * as localfit left it before schema v5, one of its rows with the resident
 * model size bench kept in extra. */
static const char *const v4_sql =
    "ALTER TABLE results ADD COLUMN weight_bytes REAL;"
    "ALTER TABLE results ADD COLUMN n_params REAL;"
    "ALTER TABLE results ADD COLUMN kv_bytes REAL;"
    "ALTER TABLE results ADD COLUMN flops_per_token REAL;"
    "ALTER TABLE results ADD COLUMN roof_gbs REAL;"
    "ALTER TABLE results ADD COLUMN peak_gops REAL;"
    "ALTER TABLE results ADD COLUMN compute_frac REAL;"
    "ALTER TABLE results ADD COLUMN engine TEXT NOT NULL DEFAULT 'localfit';"
    "UPDATE results SET weight_bytes = 200000000,"
    " extra = '{\"source\":\"synth\",\"model_bytes\":812345678,\"weight_bytes\":200000000}'"
    " WHERE id = 1;"
    "PRAGMA user_version = 4;";

/* v4 -> v5: the rows keep every value and sample; the resident size moves
 * from extra into its column; the expert counts of old rows are unknown,
 * not "dense"; a new sparse result stores and reads back its counts, and
 * counts that contradict each other are refused. */
static void test_migrate_v4_experts(void **state) {
    tdir *t = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v1_sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v2_sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v4_sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    lf_store *st = open_ok(t->db, 0);
    assert_int_equal(lf_store_schema_found(st), 4);
    assert_true(lf_store_migrated(st));
    lf_error err = {0};
    lf_run_full rf;
    assert_int_equal(lf_store_run_load(st, 1, &rf, &err), 0);
    assert_int_equal(rf.n_results, 4);
    const lf_result *a = &rf.results[0];
    assert_float_equal(a->median, 900.5, 0);
    assert_true(a->weight_bytes == 200000000);
    assert_int_equal(rf.n_samples_stored[0], 3);
    assert_float_equal(rf.samples[0][2], 903.25, 0);
    assert_true(a->model_bytes == 812345678);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rf.results[i].n_expert, -1);
        assert_int_equal(rf.results[i].n_expert_used, -1);
        if (i > 0)
            assert_true(isnan(rf.results[i].model_bytes));
    }
    lf_run_full_free(&rf);

    lf_result r;
    make_result(&r, "moe-16x4", 7);
    r.n_expert = 16;
    r.n_expert_used = 4;
    r.model_bytes = 4.5e8;
    assert_int_equal(lf_store_result_add(st, 1, &r, NULL, 0, &err), 0);
    /* a record with the size only in extra (a bundle from before v5) */
    lf_result old;
    make_result(&old, "old-bundle", 1);
    snprintf(old.extra, sizeof old.extra, "{\"model_bytes\": 123456}");
    assert_int_equal(lf_store_result_add(st, 1, &old, NULL, 0, &err), 0);
    lf_result bad = r;
    bad.n_expert_used = 17;
    assert_int_equal(lf_store_result_add(st, 1, &bad, NULL, 0, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "n_expert_used = 17 exceeds n_expert = 16"));
    assert_int_equal(lf_store_run_load(st, 1, &rf, &err), 0);
    assert_int_equal(rf.n_results, 6);
    assert_int_equal(rf.results[4].n_expert, 16);
    assert_int_equal(rf.results[4].n_expert_used, 4);
    assert_true(rf.results[4].model_bytes == 4.5e8);
    assert_true(rf.results[5].model_bytes == 123456);
    assert_int_equal(rf.results[5].n_expert, -1);
    lf_run_full_free(&rf);
    lf_store_close(st);
    assert_int_equal(raw_int(t->db, "PRAGMA user_version"), LF_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results WHERE n_expert IS NULL"), 5);
}

static void assert_untouched_refusal(tdir *t, int flags, int want, const char *needle) {
    size_t n1, n2;
    char *before = read_all(t->db, &n1);
    lf_store *st = NULL;
    lf_error err = {0};
    assert_int_equal(lf_store_open(&st, t->db, flags, &err), want);
    assert_null(st);
    assert_non_null(strstr(err.msg, t->db));
    assert_non_null(strstr(err.msg, needle));
    char *after = read_all(t->db, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
}

static void test_newer_refused(void **state) {
    tdir *t = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE future (x); INSERT INTO future VALUES (1);"
                                      "PRAGMA application_id = 1279674708; PRAGMA user_version = 99;",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_untouched_refusal(t, 0, LF_EUNSUPP, "schema version 99");
    assert_untouched_refusal(t, LF_STORE_READONLY, LF_EUNSUPP, "newer");
    /* No WAL or journal was left behind by the refusal either. */
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", t->db);
    assert_int_equal(access(wal, F_OK), -1);
}

static void test_foreign_files_refused(void **state) {
    tdir *t = *state;
    /* Another application's SQLite file. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
    sqlite3_exec(db, "CREATE TABLE t (x); PRAGMA application_id = 42;", NULL, NULL, NULL);
    sqlite3_close(db);
    assert_untouched_refusal(t, 0, LF_EFORMAT, "another application");
    unlink(t->db);
    /* A SQLite file with tables but no localfit schema. */
    assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
    sqlite3_exec(db, "CREATE TABLE t (x);", NULL, NULL, NULL);
    sqlite3_close(db);
    assert_untouched_refusal(t, 0, LF_EFORMAT, "without a localfit schema");
    unlink(t->db);
    /* Not a database at all. */
    FILE *f = fopen(t->db, "w");
    for (int i = 0; i < 200; i++)
        fputs("this is a text file, not a database\n", f);
    fclose(f);
    assert_untouched_refusal(t, 0, LF_EFORMAT, "not a SQLite database");
}

/* ---- read-only and full disk --------------------------------------------------- */

/* Checks run in a child that cannot write the file: as root (which ignores
 * permissions) the child drops to nobody first. Returns a step number on
 * failure so the parent can say which check broke. */
static int readonly_child(const char *path) {
    if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
        return 90;
    if (access(path, W_OK) == 0)
        return 91;   /* could still write: the test would prove nothing */
    lf_store *st = NULL;
    lf_error err = {0};
    if (lf_store_open(&st, path, 0, &err) != LF_EIO)
        return 1;
    if (!strstr(err.msg, path) || !strstr(err.msg, "read-only"))
        return 2;
    if (lf_store_open(&st, path, LF_STORE_READONLY, &err) < 0)
        return 3;
    lf_run *runs = NULL;
    int n = 0;
    if (lf_store_runs_list(st, NULL, &runs, &n, &err) < 0 || n != 1)
        return 4;
    free(runs);
    lf_run run;
    lf_store_run_init(&run);
    if (lf_store_run_begin(st, &run, &err) != LF_EIO || !strstr(err.msg, path))
        return 5;
    lf_store_close(st);
    /* Commands that only read fall back to read-only by themselves. */
    if (lf_store_open(&st, path, LF_STORE_RO_FALLBACK, &err) < 0 || !lf_store_readonly(st))
        return 6;
    lf_store_close(st);
    return 0;
}

static void test_readonly_file(void **state) {
    tdir *t = *state;
    lf_store *st = open_ok(t->db, 0);
    lf_error err = {0};
    assert_int_equal(lf_store_device_put(st, "dev-1", "box", "{}", &err), 0);
    lf_run run = begin_run(st, "main", NULL, NULL);
    assert_int_equal(lf_store_run_finish(st, run.id, LF_RUN_COMPLETE, &err), 0);
    lf_store_close(st);
    /* Fold the WAL into the file so a reader needs nothing else. */
    sqlite3 *db;
    sqlite3_open(t->db, &db);
    sqlite3_exec(db, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
    sqlite3_close(db);
    chmod(t->dir, 0755);
    chmod(t->db, 0444);
    size_t n1, n2;
    char *before = read_all(t->db, &n1);
    pid_t pid = fork();
    if (pid == 0)
        _exit(readonly_child(t->db));
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 90 || WEXITSTATUS(status) == 91)
        skip();   /* cannot make an unwritable file here; printed below */
    assert_int_equal(WEXITSTATUS(status), 0);
    char *after = read_all(t->db, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
    chmod(t->db, 0644);
}

/* A file size limit makes every write past it fail like a full disk. The
 * child stores a few results, then hits the limit with a big one; the
 * error must name the file, and afterwards the database must be intact
 * with the earlier results and without any part of the failed one. */
static void test_disk_full(void **state) {
    tdir *t = *state;
    lf_store *st = open_ok(t->db, 0);
    lf_error err = {0};
    assert_int_equal(lf_store_device_put(st, "dev-1", "box", "{}", &err), 0);
    lf_run run = begin_run(st, "main", NULL, NULL);
    lf_store_close(st);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        lf_store *cs = NULL;
        lf_error e = {0};
        if (lf_store_open(&cs, t->db, 0, &e) < 0)
            _exit(10);
        double small[10];
        for (int i = 0; i < 10; i++)
            small[i] = 20 + i * 0.01;
        for (int k = 0; k < 3; k++) {
            lf_result r;
            make_result(&r, "small", k + 1);
            if (lf_store_result_add(cs, run.id, &r, small, 10, &e) < 0)
                _exit(11);
        }
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {256 * 1024, 256 * 1024};
        setrlimit(RLIMIT_FSIZE, &rl);
        enum { BIG = 200000 };   /* ~3 MB of samples: far past the limit */
        double *big = malloc(BIG * sizeof *big);
        for (int i = 0; i < BIG; i++)
            big[i] = i;
        lf_result r;
        make_result(&r, "big", 9);
        int rc = lf_store_result_add(cs, run.id, &r, big, BIG, &e);
        free(big);
        if (write(fds[1], e.msg, strlen(e.msg) + 1) < 0)
            _exit(12);
        lf_store_close(cs);
        _exit(rc == LF_EIO ? 0 : 13);
    }
    close(fds[1]);
    char msg[600] = "";
    ssize_t got = read(fds[0], msg, sizeof msg - 1);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    msg[got > 0 ? got : 0] = '\0';
    printf("disk-full error: %s\n", msg);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(msg, t->db));
    assert_true(strstr(msg, "file size limit") || strstr(msg, "disk is full"));

    st = open_ok(t->db, 0);
    lf_store_check chk;
    assert_int_equal(lf_store_check_db(st, &chk, &err), 0);
    assert_true(chk.integrity_ok);
    assert_int_equal(chk.n_results, 3);
    assert_int_equal(chk.n_samples, 30);
    lf_store_close(st);
}

/* ---- lifecycle and queries -------------------------------------------------------- */

static void test_lifecycle(void **state) {
    tdir *t = *state;
    lf_store *st = open_ok(t->db, 0);
    lf_error err = {0};
    /* A run must name a stored device. */
    lf_run bad;
    lf_store_run_init(&bad);
    snprintf(bad.device_id, sizeof bad.device_id, "nope");
    assert_int_equal(lf_store_run_begin(st, &bad, &err), LF_EINVAL);
    assert_int_equal(lf_store_device_put(st, "dev-1", "amd-epyc", "{\"schema\":\"localfit.device/1\"}", &err), 0);
    /* device_put again replaces the profile. */
    assert_int_equal(lf_store_device_put(st, "dev-1", "amd-epyc-2c", "{\"v\":2}", &err), 0);
    char slug[80], *profile = NULL;
    assert_int_equal(lf_store_device_get(st, "dev-1", slug, sizeof slug, &profile, &err), 0);
    assert_string_equal(slug, "amd-epyc-2c");
    assert_string_equal(profile, "{\"v\":2}");
    free(profile);

    lf_run run = begin_run(st, "main", "nightly", "0123456789abcdef0123456789abcdef01234567");
    assert_true(run.id > 0);
    assert_int_equal(strlen(run.uuid), 36);
    /* Committed at once and visible to another connection as running. */
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM runs WHERE status = 'running'"), 1);
    lf_run got;
    assert_int_equal(lf_store_run_get(st, run.id, &got, &err), 0);
    assert_int_equal(got.status, LF_RUN_RUNNING);
    assert_int_equal(got.finished_ms, 0);
    assert_string_equal(got.device_slug, "amd-epyc-2c");
    assert_true(strncmp(got.tool_version, "localfit ", 9) == 0);
    assert_true(got.compiler[0] != '\0');

    /* Results and samples round trip exactly. */
    double samples[7] = {20.1, 20.5, 19.9, 20.7, 20.5, 1e-300, 3.0e300};
    lf_result r;
    make_result(&r, "Llama-3.1-8B", 2);
    snprintf(r.adapter, sizeof r.adapter, "2 x lora-r16 (attn_q, attn_v)");
    r.n_adapters = 2;
    r.adapter_rank = 16;
    r.adapter_mode = LF_ADAPTER_RUNTIME;
    r.n_depth = 4096;
    snprintf(r.config, sizeof r.config, "ub=512");
    snprintf(r.extra, sizeof r.extra, "{\"k\":[1,2]}");
    assert_int_equal(lf_store_result_add(st, run.id, &r, samples, 7, &err), 0);
    assert_true(r.id > 0);
    lf_result ttft;
    lf_result_init(&ttft);
    ttft.kind = LF_TEST_TTFT;
    ttft.unit = LF_UNIT_MS;
    snprintf(ttft.model, sizeof ttft.model, "Llama-3.1-8B");
    ttft.n_prompt = 512;
    assert_int_equal(lf_store_result_add(st, run.id, &ttft, NULL, 0, &err), 0);
    /* A non-finite sample is refused and nothing is written. */
    double nan_s[2] = {1, NAN};
    lf_result r2;
    make_result(&r2, "x", 1);
    assert_int_equal(lf_store_result_add(st, run.id, &r2, nan_s, 2, &err), LF_EINVAL);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results"), 2);

    lf_quality q;
    lf_quality_init(&q);
    snprintf(q.model, sizeof q.model, "Llama-3.1-8B");
    snprintf(q.variant, sizeof q.variant, "Q4_K_M");
    q.ppl = 7.31;
    q.ppl_err = 0.05;
    q.kld_p99 = 0.21;
    q.same_top = 0.93;
    q.n_tokens = 32768;
    q.ctx = 512;
    assert_int_equal(lf_store_quality_add(st, run.id, &q, &err), 0);
    assert_int_equal(lf_store_run_finish(st, run.id, LF_RUN_COMPLETE, &err), 0);
    assert_int_equal(lf_store_run_finish(st, 9999, LF_RUN_COMPLETE, &err), LF_ENOTFOUND);
    assert_int_equal(lf_store_run_finish(st, run.id, LF_RUN_RUNNING, &err), LF_EINVAL);

    lf_run_full rf;
    assert_int_equal(lf_store_run_load(st, run.id, &rf, &err), 0);
    assert_int_equal(rf.run.status, LF_RUN_COMPLETE);
    assert_true(rf.run.finished_ms >= rf.run.started_ms);
    assert_int_equal(rf.run.n_results, 2);
    assert_int_equal(rf.n_results, 2);
    const lf_result *x = &rf.results[0];
    assert_int_equal(x->kind, LF_TEST_TG);
    assert_string_equal(x->adapter, r.adapter);
    assert_int_equal(x->adapter_mode, LF_ADAPTER_RUNTIME);
    assert_int_equal(x->n_depth, 4096);
    assert_string_equal(x->config, "ub=512");
    assert_string_equal(x->extra, "{\"k\":[1,2]}");
    assert_float_equal(x->median, 20.5, 0);
    assert_float_equal(x->roofline_frac, 0.71, 0);
    assert_true(x->peak_rss == 5368709120LL);
    assert_true(isnan(x->joules_per_token));
    assert_string_equal(x->energy_note, "no RAPL access");
    assert_int_equal(rf.n_samples_stored[0], 7);
    assert_memory_equal(rf.samples[0], samples, sizeof samples);
    assert_int_equal(rf.results[1].kind, LF_TEST_TTFT);
    assert_int_equal(rf.results[1].unit, LF_UNIT_MS);
    assert_true(isnan(rf.results[1].median));
    assert_int_equal(rf.results[1].peak_rss, -1);
    assert_int_equal(rf.n_samples_stored[1], 0);
    assert_int_equal(rf.n_quality, 1);
    assert_float_equal(rf.quality[0].ppl, 7.31, 0);
    assert_true(isnan(rf.quality[0].kld_mean));
    assert_true(rf.quality[0].n_tokens == 32768);
    lf_run_full_free(&rf);
    lf_store_close(st);
}

static void test_queries(void **state) {
    tdir *t = *state;
    lf_store *st = open_ok(t->db, 0);
    lf_error err = {0};
    lf_store_device_put(st, "dev-1", "one", "{}", &err);
    lf_store_device_put(st, "dev-2", "two", "{}", &err);
    /* 20 runs: alternating branches, a label on some, increasing time. */
    lf_run runs[20];
    for (int i = 0; i < 20; i++) {
        char commit[41];
        snprintf(commit, sizeof commit, "%02dabcdef", i);
        lf_run r;
        lf_store_run_init(&r);
        snprintf(r.device_id, sizeof r.device_id, "%s", i % 5 == 4 ? "dev-2" : "dev-1");
        snprintf(r.git_branch, sizeof r.git_branch, "%s", i % 2 ? "feature" : "main");
        snprintf(r.git_commit, sizeof r.git_commit, "%s", commit);
        if (i % 3 == 0)
            snprintf(r.label, sizeof r.label, "release");
        r.started_ms = 1700000000000LL + i * 1000;
        assert_int_equal(lf_store_run_begin(st, &r, &err), 0);
        lf_result res;
        make_result(&res, "m", 1);
        double s[3] = {1, 2, 3};
        lf_store_result_add(st, r.id, &res, s, 3, &err);
        if (i != 18)   /* run 18 stays running (this process is alive) */
            lf_store_run_finish(st, r.id, i == 16 ? LF_RUN_INTERRUPTED : LF_RUN_COMPLETE, &err);
        runs[i] = r;
    }
    lf_run *list = NULL;
    int n = 0;
    assert_int_equal(lf_store_runs_list(st, NULL, &list, &n, &err), 0);
    assert_int_equal(n, 20);
    assert_int_equal(list[0].id, runs[19].id);   /* newest first */
    assert_int_equal(list[0].n_results, 1);
    free(list);
    lf_run_filter f = LF_RUN_FILTER_INIT;
    f.branch = "main";
    f.limit = 3;
    lf_store_runs_list(st, &f, &list, &n, &err);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].id, runs[18].id);
    free(list);
    f = (lf_run_filter)LF_RUN_FILTER_INIT;
    f.label = "release";
    f.device_id = "dev-1";
    lf_store_runs_list(st, &f, &list, &n, &err);
    assert_int_equal(n, 6);   /* i % 3 == 0 except 9, which is on dev-2 */
    free(list);
    f = (lf_run_filter)LF_RUN_FILTER_INIT;
    f.commit = "07ABC";   /* prefix, case-insensitive */
    lf_store_runs_list(st, &f, &list, &n, &err);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, runs[7].id);
    free(list);
    f = (lf_run_filter)LF_RUN_FILTER_INIT;
    f.status = LF_RUN_RUNNING;
    lf_store_runs_list(st, &f, &list, &n, &err);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, runs[18].id);
    free(list);

    /* Baseline: newest complete run of main on dev-1 other than the
     * candidate: 18 is running, 16 interrupted, 14 is dev-2, so 12. */
    lf_run base;
    assert_int_equal(lf_store_find_baseline(st, "dev-1", "main", NULL, NULL, runs[19].id, &base, &err), 0);
    assert_int_equal(base.id, runs[12].id);
    assert_int_equal(lf_store_find_baseline(st, "dev-1", "main", NULL, NULL, runs[12].id, &base, &err), 0);
    assert_int_equal(base.id, runs[10].id);
    assert_int_equal(lf_store_find_baseline(st, "dev-1", "release-x", NULL, NULL, 0, &base, &err),
                     LF_ENOTFOUND);
    assert_int_equal(lf_store_find_baseline(st, NULL, NULL, "release", NULL, 0, &base, &err), 0);
    assert_int_equal(base.id, runs[15].id);

    /* uuid prefixes. */
    lf_run got;
    char pfx[9];
    snprintf(pfx, sizeof pfx, "%.8s", runs[5].uuid);
    assert_int_equal(lf_store_run_find(st, pfx, &got, &err), 0);
    assert_int_equal(got.id, runs[5].id);
    char upper[40];
    for (int i = 0; runs[5].uuid[i]; i++)
        upper[i] = (char)toupper((unsigned char)runs[5].uuid[i]);
    upper[36] = '\0';
    assert_int_equal(lf_store_run_find(st, upper, &got, &err), 0);
    assert_int_equal(lf_store_run_find(st, "zzzz", &got, &err), LF_ENOTFOUND);
    /* With 20 random uuids some first hex digit repeats (pigeonhole: 16). */
    int ambiguous = 0;
    for (int d = 0; d < 16; d++) {
        char one[2] = {"0123456789abcdef"[d], 0};
        int rc = lf_store_run_find(st, one, &got, &err);
        if (rc == LF_EINVAL) {
            assert_non_null(strstr(err.msg, "ambiguous"));
            ambiguous++;
        }
    }
    assert_true(ambiguous > 0);

    /* Results for a device (calibration). */
    lf_result *res = NULL;
    assert_int_equal(lf_store_device_results(st, "dev-2", -1, &res, &n, &err), 0);
    assert_int_equal(n, 4);
    free(res);
    assert_int_equal(lf_store_device_results(st, "dev-1", LF_TEST_PP, &res, &n, &err), 0);
    assert_int_equal(n, 0);
    free(res);
    lf_store_close(st);
}

/* ---- interrupted runs --------------------------------------------------------------- */

static void test_interrupted(void **state) {
    tdir *t = *state;
    lf_store *st = open_ok(t->db, 0);
    lf_error err = {0};
    lf_store_device_put(st, "dev-1", "box", "{}", &err);
    lf_store_close(st);

    /* A child begins a run, stores one result and dies without finishing. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        lf_store *cs = NULL;
        lf_error e = {0};
        if (lf_store_open(&cs, t->db, 0, &e) < 0)
            _exit(1);
        lf_run r;
        lf_store_run_init(&r);
        snprintf(r.device_id, sizeof r.device_id, "dev-1");
        lf_result res;
        make_result(&res, "m", 1);
        double s[2] = {1, 2};
        if (lf_store_run_begin(cs, &r, &e) < 0 || lf_store_result_add(cs, r.id, &res, s, 2, &e) < 0)
            _exit(2);
        if (write(fds[1], &r.id, sizeof r.id) != sizeof r.id)
            _exit(3);
        _exit(0);   /* no finish, no close */
    }
    close(fds[1]);
    int64_t id = 0;
    assert_int_equal(read(fds[0], &id, sizeof id), (ssize_t)sizeof id);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_int_equal(WEXITSTATUS(status), 0);
    /* In the file it still says running ... */
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM runs WHERE status = 'running'"), 1);
    /* ... a read-only reader shows interrupted ... */
    st = open_ok(t->db, LF_STORE_READONLY);
    lf_run got;
    assert_int_equal(lf_store_run_get(st, id, &got, &err), 0);
    assert_int_equal(got.status, LF_RUN_INTERRUPTED);
    assert_int_equal(got.n_results, 1);
    lf_store_close(st);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM runs WHERE status = 'running'"), 1);
    /* ... and a writable open records it. */
    st = open_ok(t->db, 0);
    lf_store_close(st);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM runs WHERE status = 'interrupted'"), 1);

    /* A live process with another start time is a reused pid: interrupted.
     * The same live process with its real start time: still running. A run
     * from another host cannot be judged: running. */
    int hold[2];
    assert_int_equal(pipe(hold), 0);
    pid_t sleeper = fork();
    if (sleeper == 0) {
        close(hold[1]);
        char c;
        ssize_t rr = read(hold[0], &c, 1);   /* until the parent closes */
        _exit(rr < 0);
    }
    close(hold[0]);
    st = open_ok(t->db, 0);
    lf_run a, b, c;
    lf_store_run_init(&a);
    a.pid = sleeper;
    a.proc_start = 1;   /* wrong */
    lf_store_run_init(&b);
    b.pid = sleeper;
    b.proc_start = 0;   /* unknown: trust the pid */
    lf_store_run_init(&c);
    snprintf(c.host, sizeof c.host, "some-other-host");
    c.pid = 1;
    assert_int_equal(lf_store_run_begin(st, &a, &err), 0);
    assert_int_equal(lf_store_run_begin(st, &b, &err), 0);
    assert_int_equal(lf_store_run_begin(st, &c, &err), 0);
    lf_store_run_get(st, a.id, &got, &err);
    assert_int_equal(got.status, LF_RUN_INTERRUPTED);
    lf_store_run_get(st, b.id, &got, &err);
    assert_int_equal(got.status, LF_RUN_RUNNING);
    lf_store_run_get(st, c.id, &got, &err);
    assert_int_equal(got.status, LF_RUN_RUNNING);
    lf_store_close(st);
    close(hold[1]);
    waitpid(sleeper, &status, 0);
    /* Now the sleeper is gone: b reads interrupted too. */
    st = open_ok(t->db, LF_STORE_READONLY);
    lf_store_run_get(st, b.id, &got, &err);
    assert_int_equal(got.status, LF_RUN_INTERRUPTED);
    lf_store_check chk;
    lf_store_check_db(st, &chk, &err);
    assert_int_equal(chk.n_running, 1);   /* only the other host's */
    assert_int_equal(chk.n_interrupted, 3);
    lf_store_close(st);
}

static void test_delete_cascade(void **state) {
    tdir *t = *state;
    lf_store *st = open_ok(t->db, 0);
    lf_error err = {0};
    lf_store_device_put(st, "dev-1", "box", "{}", &err);
    lf_run keep = begin_run(st, "main", NULL, NULL), gone = begin_run(st, "main", NULL, NULL);
    double s[4] = {1, 2, 3, 4};
    for (int i = 0; i < 3; i++) {
        lf_result r;
        make_result(&r, "m", i + 1);
        lf_store_result_add(st, keep.id, &r, s, 4, &err);
        make_result(&r, "m", i + 1);
        lf_store_result_add(st, gone.id, &r, s, 4, &err);
    }
    lf_quality q;
    lf_quality_init(&q);
    lf_store_quality_add(st, gone.id, &q, &err);
    assert_int_equal(lf_store_run_delete(st, gone.id, &err), 0);
    assert_int_equal(lf_store_run_delete(st, gone.id, &err), LF_ENOTFOUND);
    lf_store_close(st);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results"), 3);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM samples"), 12);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM quality"), 0);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM devices"), 1);
}

/* ---- llama-bench import -------------------------------------------------------------- */

static int import_path(lf_store *st, const char *file, const lf_import_opts *o,
                       lf_import_stats *stats, lf_error *err) {
    char path[512];
    snprintf(path, sizeof path, "%s/llama-bench/%s", LF_FIXTURES_DIR, file);
    return lf_store_import_file(st, path, o, stats, err);
}

/* The median of the fixture's samples_ts, computed here from the file. */
static double fixture_median(const char *file, int record) {
    char path[512];
    snprintf(path, sizeof path, "%s/llama-bench/%s", LF_FIXTURES_DIR, file);
    json_t *root = json_load_file(path, 0, NULL);
    json_t *ts = json_object_get(json_array_get(root, (size_t)record), "samples_ts");
    size_t n = json_array_size(ts);
    double v[16];
    for (size_t i = 0; i < n; i++)
        v[i] = json_number_value(json_array_get(ts, i));
    for (size_t i = 1; i < n; i++)   /* insertion sort */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double tmp = v[j];
            v[j] = v[j - 1];
            v[j - 1] = tmp;
        }
    json_decref(root);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void test_import_llama(void **state) {
    tdir *t = *state;
    lf_store *st = open_ok(t->db, 0);
    lf_error err = {0};
    lf_import_stats s;
    lf_import_opts o = {.label = "imported"};
    assert_int_equal(import_path(st, "cpu.json", &o, &s, &err), 0);
    assert_int_equal(s.format, LF_IMPORT_LLAMA_JSON);
    assert_int_equal(s.runs_added, 1);
    assert_int_equal(s.results_added, 2);
    assert_int_equal(s.devices_added, 1);
    /* Twice: nothing. The same records as JSONL: nothing either. */
    assert_int_equal(import_path(st, "cpu.json", &o, &s, &err), 0);
    assert_int_equal(s.runs_added, 0);
    assert_int_equal(s.runs_skipped, 1);
    assert_int_equal(import_path(st, "cpu.jsonl", &o, &s, &err), 0);
    assert_int_equal(s.format, LF_IMPORT_LLAMA_JSONL);
    assert_int_equal(s.runs_added, 0);
    assert_int_equal(s.runs_skipped, 1);
    assert_int_equal(import_path(st, "gpu.jsonl", NULL, &s, &err), 0);
    assert_int_equal(s.runs_added, 1);
    assert_int_equal(s.results_added, 3);
    assert_int_equal(import_path(st, "gpu.jsonl", NULL, &s, &err), 0);
    assert_int_equal(s.runs_added, 0);
    assert_int_equal(import_path(st, "old-no-samples.json", NULL, &s, &err), 0);
    assert_int_equal(s.runs_added, 1);
    /* A single record spread over lines is still one record. */
    const char *one = "{\n  \"build_commit\": \"feedbee\",\n  \"n_prompt\": 0,\n"
                      "  \"n_gen\": 16,\n  \"samples_ts\": [10.0, 11.0]\n}\n";
    assert_int_equal(lf_store_import(st, "one.json", one, strlen(one), NULL, &s, &err), 0);
    assert_int_equal(s.results_added, 1);
    lf_store_close(st);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM runs"), 4);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results"), 7);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM samples"), 2 * 5 + 3 * 3 + 2);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM devices"), 4);

    st = open_ok(t->db, LF_STORE_READONLY);
    lf_run_filter f = LF_RUN_FILTER_INIT;
    f.label = "imported";
    lf_run *runs;
    int n;
    lf_store_runs_list(st, &f, &runs, &n, &err);
    assert_int_equal(n, 1);
    lf_run_full rf;
    assert_int_equal(lf_store_run_load(st, runs[0].id, &rf, &err), 0);
    free(runs);
    assert_string_equal(rf.run.source, "llama-bench");
    assert_string_equal(rf.run.git_commit, "8cf427ff");
    assert_string_equal(rf.run.tool_version, "llama-bench b5163");
    assert_int_equal(rf.run.status, LF_RUN_COMPLETE);
    assert_string_equal(rf.run.device_slug, "amd-epyc-9454p-48-core-processor");
    char t1[40];
    assert_string_equal(lf_format_time_ms(rf.run.started_ms, t1, sizeof t1), "2025-04-24T11:58:50.000Z");
    const lf_result *pp = &rf.results[0], *tg = &rf.results[1];
    assert_int_equal(pp->kind, LF_TEST_PP);
    assert_int_equal(pp->n_prompt, 512);
    assert_int_equal(tg->kind, LF_TEST_TG);
    assert_int_equal(tg->n_gen, 128);
    assert_string_equal(pp->model, "Llama-3.2-1B-Instruct-Q4_K_M");
    assert_string_equal(pp->model_path, "/models/Llama-3.2-1B-Instruct-Q4_K_M.gguf");
    assert_string_equal(pp->quant, "Q4_K_M");
    assert_string_equal(pp->kv_type, "f16");
    assert_string_equal(pp->backend, "CPU");
    assert_string_equal(pp->config, "ngl=99 b=2048 ub=512 fa=0");
    assert_int_equal(pp->threads, 2);
    assert_int_equal(pp->unit, LF_UNIT_TPS);
    assert_int_equal(rf.n_samples_stored[0], 5);
    assert_float_equal(pp->median, fixture_median("cpu.json", 0), 1e-9);
    assert_float_equal(tg->median, fixture_median("cpu.json", 1), 1e-9);
    assert_true(isnan(pp->ci_low));   /* no summarizer given */
    json_t *extra = json_loads(pp->extra, 0, NULL);
    assert_non_null(extra);
    assert_true(json_integer_value(json_object_get(extra, "model_size")) == 799862912);
    json_decref(extra);
    lf_run_full_free(&rf);

    /* The GPU run: pg test, depth, asymmetric KV, flash attention, a
     * Windows path. */
    f = (lf_run_filter)LF_RUN_FILTER_INIT;
    f.commit = "b5d1";
    lf_store_runs_list(st, &f, &runs, &n, &err);
    assert_int_equal(n, 1);
    lf_store_run_load(st, runs[0].id, &rf, &err);
    free(runs);
    assert_int_equal(rf.n_results, 3);
    assert_string_equal(rf.results[0].model, "qwen2.5-7b-instruct-q8_0");
    assert_string_equal(rf.results[0].quant, "Q8_0");
    assert_string_equal(rf.results[0].kv_type, "q8_0/f16");
    assert_string_equal(rf.results[0].backend, "CUDA");
    assert_string_equal(rf.results[0].config, "ngl=99 b=2048 ub=512 fa=1");
    assert_int_equal(rf.results[1].n_depth, 4096);
    assert_int_equal(rf.results[2].kind, LF_TEST_PG);
    assert_string_equal(rf.run.device_slug, "intel-r-core-tm-i9-14900k-nvidia-geforce-rtx-4090");
    lf_run_full_free(&rf);

    /* The old format without samples: mean and stddev only. */
    f = (lf_run_filter)LF_RUN_FILTER_INIT;
    f.commit = "3d0b1c5";
    lf_store_runs_list(st, &f, &runs, &n, &err);
    lf_store_run_load(st, runs[0].id, &rf, &err);
    free(runs);
    assert_string_equal(rf.results[0].quant, "Q4_0");
    assert_float_equal(rf.results[0].mean, 500.26, 0);
    assert_true(isnan(rf.results[0].median));
    assert_int_equal(rf.n_samples_stored[0], 0);
    lf_run_full_free(&rf);
    lf_store_close(st);
}

static void test_import_attach_device(void **state) {
    tdir *t = *state;
    lf_store *st = open_ok(t->db, 0);
    lf_error err = {0};
    lf_import_stats s;
    lf_import_opts o = {.device_id = "this-box"};
    /* Unknown device: refused, nothing written. */
    assert_int_equal(import_path(st, "cpu.json", &o, &s, &err), LF_ENOTFOUND);
    assert_int_equal(s.runs_added, 0);
    lf_store_device_put(st, "this-box", "this", "{}", &err);
    assert_int_equal(import_path(st, "cpu.json", &o, &s, &err), 0);
    assert_int_equal(s.devices_added, 0);
    lf_store_close(st);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM runs WHERE device_id = 'this-box'"), 1);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM devices"), 1);
}

static void test_import_malformed(void **state) {
    tdir *t = *state;
    lf_store *st = open_ok(t->db, 0);
    lf_error err = {0};
    lf_import_stats s;
    const char *jsonl_cut = "{\"n_prompt\": 512, \"n_gen\": 0, \"samples_ts\": [1.0]}\n"
                            "{\"n_prompt\": 0, \"n_gen\": 128, \"sampl";
    assert_int_equal(lf_store_import(st, "cut.jsonl", jsonl_cut, strlen(jsonl_cut), NULL, &s, &err),
                     LF_EFORMAT);
    assert_non_null(strstr(err.msg, "cut.jsonl: line 2"));
    const char *neg = "[{\"n_prompt\": 512, \"n_gen\": 0, \"samples_ts\": [1.0, -3]}]";
    assert_int_equal(lf_store_import(st, "neg.json", neg, strlen(neg), NULL, &s, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "samples_ts[1]"));
    const char *notlb = "[{\"hello\": 1}]";
    assert_int_equal(lf_store_import(st, "x.json", notlb, strlen(notlb), NULL, &s, &err), LF_EFORMAT);
    const char *newer = "{\"schema\": \"localfit.bundle/9\", \"runs\": []}";
    assert_int_equal(lf_store_import(st, "b.json", newer, strlen(newer), NULL, &s, &err), LF_EUNSUPP);
    const char *badkind = "{\"schema\": \"localfit.bundle/1\", \"runs\": [{\"uuid\": "
                          "\"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\", \"status\": \"complete\", "
                          "\"started_at\": \"2025-01-01T00:00:00Z\", \"results\": [{\"kind\": \"zz\"}]}]}";
    assert_int_equal(lf_store_import(st, "b.json", badkind, strlen(badkind), NULL, &s, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "runs[0].results[0].kind"));
    assert_int_equal(lf_store_import(st, "e.json", "  \n", 3, NULL, &s, &err), LF_EFORMAT);
    lf_store_close(st);
    /* All of it or nothing: the bundle's run was rolled back with its bad result. */
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM runs"), 0);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results"), 0);
}

static void test_quant_names(void **state) {
    (void)state;
    const char *cases[][2] = {
        {"llama 8B Q4_K - Medium", "Q4_K_M"}, {"llama 8B Q4_K - Small", "Q4_K_S"},
        {"llama 8B Q3_K - Large", "Q3_K_L"},  {"llama 8B Q2_K - Medium", "Q2_K"},
        {"qwen2 7B Q8_0", "Q8_0"},            {"llama 8B IQ4_XS - 4.25 bpw", "IQ4_XS"},
        {"llama 1B all F32", "F32"},          {"llama 7B mostly Q4_0", "Q4_0"},
        {"qwen35moe 35B.A3B Q4_K - Medium", "Q4_K_M"}, {"llama", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char q[32];
        lf_llama_quant_name(cases[i][0], q, sizeof q);
        assert_string_equal(q, cases[i][1]);
    }
}

/* ---- bundles and CSV ------------------------------------------------------------------ */

static void fill_db(lf_store *st) {
    lf_error err = {0};
    assert_int_equal(lf_store_device_put(st, "dev-1", "box", "{\"schema\":\"localfit.device/1\",\"cpu\":{\"threads\":2}}", &err), 0);
    lf_run a = begin_run(st, "main", "v1.0", "abcdef0123456789abcdef0123456789abcdef01");
    lf_store_run_init(&a);   /* a second run with odd strings */
    snprintf(a.device_id, sizeof a.device_id, "dev-1");
    snprintf(a.label, sizeof a.label, "=cmd|' /C calc'!A0");
    snprintf(a.git_branch, sizeof a.git_branch, "feature/\"quotes\", commas");
    a.git_dirty = 1;
    assert_int_equal(lf_store_run_begin(st, &a, &err), 0);
    lf_run runs[2];
    lf_run *list;
    int n;
    lf_store_runs_list(st, NULL, &list, &n, &err);
    runs[0] = list[1];
    runs[1] = list[0];
    free(list);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 3; i++) {
            lf_result r;
            make_result(&r, i == 2 ? "<script>alert(1)</script>, \"x\"" : "Llama-3.1-8B", i + 1);
            r.kind = i == 1 ? LF_TEST_MODEL_LOAD : LF_TEST_TG;
            r.unit = lf_test_kind_unit(r.kind);
            if (i == 0) {   /* schema v3's figures, one of them fractional */
                r.weight_bytes = 4.6e9;
                r.n_params = 7.5e9;
                r.kv_bytes = 131072.5;
                r.flops_per_token = 1.5e10;
                r.roof_gbs = 38.4;
                r.peak_gops = 512;
                /* schema v5's: a sparse model's experts and resident bytes */
                r.n_expert = 64;
                r.n_expert_used = 8;
                r.model_bytes = 1.85e10;
            }
            if (i == 1) {
                r.median = NAN;
                r.peak_rss = -1;
                snprintf(r.extra, sizeof r.extra, "{\"note\":\"tab\\there\",\"v\":[1,2.5]}");
            }
            double s[5] = {0.1 * k + i, 1.0 / 3.0, 2e-5, 123456.789, 7};
            assert_int_equal(lf_store_result_add(st, runs[k].id, &r, s, i == 1 ? 0 : 5, &err), 0);
        }
        lf_quality q;
        lf_quality_init(&q);
        snprintf(q.model, sizeof q.model, "Llama-3.1-8B");
        snprintf(q.variant, sizeof q.variant, "Q4_K_M");
        q.ppl = 6.5;
        q.dppl = 0.1;
        q.dppl_err = 0.01;
        q.same_top = 0.91;
        q.n_tokens = 1000;
        assert_int_equal(lf_store_quality_add(st, runs[k].id, &q, &err), 0);
    }
    lf_store_run_finish(st, runs[0].id, LF_RUN_COMPLETE, &err);
    lf_store_run_finish(st, runs[1].id, LF_RUN_INTERRUPTED, &err);
}

static char *export_to_string(lf_store *st) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lf_error err = {0};
    assert_int_equal(lf_store_export_bundle(st, NULL, 0, f, &err), 0);
    fclose(f);
    /* Drop the export time, the one field that must differ. */
    json_t *root = json_loads(buf, 0, NULL);
    assert_non_null(root);
    json_object_del(root, "exported_at");
    free(buf);
    char *out = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return out;
}

static void assert_runs_equal(const lf_run_full *a, const lf_run_full *b) {
    assert_string_equal(a->run.uuid, b->run.uuid);
    assert_string_equal(a->run.label, b->run.label);
    assert_string_equal(a->run.git_branch, b->run.git_branch);
    assert_string_equal(a->run.git_commit, b->run.git_commit);
    assert_int_equal(a->run.git_dirty, b->run.git_dirty);
    assert_int_equal(a->run.status, b->run.status);
    assert_true(a->run.started_ms == b->run.started_ms);
    assert_true(a->run.finished_ms == b->run.finished_ms);
    assert_string_equal(a->run.device_id, b->run.device_id);
    assert_string_equal(a->run.compiler, b->run.compiler);
    assert_string_equal(a->run.cflags, b->run.cflags);
    assert_int_equal(a->n_results, b->n_results);
    for (int i = 0; i < a->n_results; i++) {
        lf_result x = a->results[i], y = b->results[i];
        x.id = y.id = x.run_id = y.run_id = 0;
        /* Same fields; NAN != NAN, so compare those apart. */
        assert_int_equal(isnan(x.median), isnan(y.median));
        if (isnan(x.median))
            x.median = y.median = 0;
        x.joules_per_token = y.joules_per_token = 0;
        assert_memory_equal(&x, &y, sizeof x);
        assert_int_equal(a->n_samples_stored[i], b->n_samples_stored[i]);
        if (a->n_samples_stored[i])
            assert_memory_equal(a->samples[i], b->samples[i], (size_t)a->n_samples_stored[i] * sizeof(double));
    }
    assert_int_equal(a->n_quality, b->n_quality);
    for (int i = 0; i < a->n_quality; i++) {
        assert_float_equal(a->quality[i].ppl, b->quality[i].ppl, 0);
        assert_float_equal(a->quality[i].dppl_err, b->quality[i].dppl_err, 0);
        assert_true(isnan(b->quality[i].kld_mean));
        assert_true(a->quality[i].n_tokens == b->quality[i].n_tokens);
    }
}

static void test_bundle_roundtrip(void **state) {
    tdir *t = *state;
    lf_store *st = open_ok(t->db, 0);
    fill_db(st);
    char *exp1 = export_to_string(st);

    char db2[320];
    snprintf(db2, sizeof db2, "%s/second.db", t->dir);
    lf_store *st2 = open_ok(db2, 0);
    lf_error err = {0};
    lf_import_stats s;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lf_store_export_bundle(st, NULL, 0, f, &err);
    fclose(f);
    assert_int_equal(lf_store_import(st2, "bundle.json", buf, len, NULL, &s, &err), 0);
    assert_int_equal(s.format, LF_IMPORT_BUNDLE);
    assert_int_equal(s.runs_added, 2);
    assert_int_equal(s.results_added, 6);
    assert_int_equal(s.quality_added, 2);
    assert_int_equal(s.devices_added, 1);
    /* Again: nothing. */
    assert_int_equal(lf_store_import(st2, "bundle.json", buf, len, NULL, &s, &err), 0);
    assert_int_equal(s.runs_added, 0);
    assert_int_equal(s.runs_skipped, 2);
    free(buf);

    char *exp2 = export_to_string(st2);
    assert_string_equal(exp1, exp2);
    free(exp1);
    free(exp2);

    lf_run *r1, *r2;
    int n1, n2;
    lf_store_runs_list(st, NULL, &r1, &n1, &err);
    lf_store_runs_list(st2, NULL, &r2, &n2, &err);
    assert_int_equal(n1, n2);
    for (int i = 0; i < n1; i++) {
        lf_run_full a, b;
        assert_int_equal(lf_store_run_load(st, r1[i].id, &a, &err), 0);
        assert_int_equal(lf_store_run_load(st2, r2[i].id, &b, &err), 0);
        assert_runs_equal(&a, &b);
        lf_run_full_free(&a);
        lf_run_full_free(&b);
    }
    free(r1);
    free(r2);
    char *p1 = NULL, *p2 = NULL;
    lf_store_device_get(st, "dev-1", NULL, 0, &p1, &err);
    lf_store_device_get(st2, "dev-1", NULL, 0, &p2, &err);
    assert_string_equal(p1, p2);
    free(p1);
    free(p2);
    lf_store_close(st);
    lf_store_close(st2);
}

/* A bundle written before schema v3: no named figures, the bench's keys
 * in extra ("params" then). Import back-fills the fields from extra. */
static void test_bundle_before_v3(void **state) {
    tdir *t = *state;
    lf_store *st = open_ok(t->db, 0);
    fill_db(st);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lf_error err = {0};
    assert_int_equal(lf_store_export_bundle(st, NULL, 0, f, &err), 0);
    fclose(f);
    lf_store_close(st);
    json_t *root = json_loads(buf, 0, NULL);
    free(buf);
    assert_non_null(root);
    static const char *const named[] = {"weight_bytes", "n_params", "kv_bytes",
                                        "flops_per_token", "roof_gbs", "peak_gops",
                                        "compute_frac"};
    size_t ir, ix;
    json_t *run, *res;
    int moved = 0;
    json_array_foreach(json_object_get(root, "runs"), ir, run) {
        json_array_foreach(json_object_get(run, "results"), ix, res) {
            json_t *w = json_object_get(res, "weight_bytes");
            if (json_is_number(w)) {
                json_t *x = json_pack("{s:O,s:O,s:O,s:O,s:O,s:s}", "weight_bytes", w, "params",
                                      json_object_get(res, "n_params"), "kv_bytes",
                                      json_object_get(res, "kv_bytes"), "flops_per_token",
                                      json_object_get(res, "flops_per_token"), "roof_gbs",
                                      json_object_get(res, "roof_gbs"), "source", "synth");
                json_object_set_new(res, "extra", x);
                moved++;
            }
            for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
                json_object_del(res, named[k]);
        }
    }
    assert_int_equal(moved, 2);
    char *old = json_dumps(root, JSON_COMPACT);
    json_decref(root);

    char db2[320];
    snprintf(db2, sizeof db2, "%s/second.db", t->dir);
    lf_store *st2 = open_ok(db2, 0);
    lf_import_stats s;
    assert_int_equal(lf_store_import(st2, "old.json", old, strlen(old), NULL, &s, &err), 0);
    free(old);
    assert_int_equal(s.results_added, 6);
    lf_run *list;
    int n;
    assert_int_equal(lf_store_runs_list(st2, NULL, &list, &n, &err), 0);
    int seen = 0;
    for (int i = 0; i < n; i++) {
        lf_run_full rf;
        assert_int_equal(lf_store_run_load(st2, list[i].id, &rf, &err), 0);
        for (int k = 0; k < rf.n_results; k++) {
            const lf_result *r = &rf.results[k];
            if (r->threads != 1)   /* fill_db's first result of each run */
                continue;
            assert_true(r->weight_bytes == 4.6e9 && r->n_params == 7.5e9);
            assert_true(r->kv_bytes == 131072.5 && r->flops_per_token == 1.5e10);
            assert_true(r->roof_gbs == 38.4);
            assert_true(isnan(r->peak_gops) && isnan(r->compute_frac));
            seen++;
        }
        lf_run_full_free(&rf);
    }
    free(list);
    assert_int_equal(seen, 2);
    lf_store_close(st2);
}

static void test_csv(void **state) {
    tdir *t = *state;
    lf_store *st = open_ok(t->db, 0);
    fill_db(st);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lf_error err = {0};
    assert_int_equal(lf_store_export_csv(st, NULL, 0, f, &err), 0);
    fclose(f);
    lf_store_close(st);
    /* Header + 6 results; every line has the header's field count when
     * quoted fields are respected. */
    int lines = 0, header_fields = -1;
    const char *p = buf;
    while (*p) {
        int fields = 1;
        bool inq = false;
        for (; *p && (inq || *p != '\n'); p++) {
            if (*p == '"')
                inq = !inq;
            else if (*p == ',' && !inq)
                fields++;
        }
        if (*p == '\n')
            p++;
        if (header_fields < 0)
            header_fields = fields;
        assert_int_equal(fields, header_fields);
        lines++;
    }
    assert_int_equal(lines, 7);
    assert_int_equal(header_fields, 48);   /* 38 + schema v3's seven + v5's three */
    assert_true(strncmp(buf, "run_uuid,started_at,status,", 27) == 0);
    /* schema v3's figures, as numbers; compute_frac unknown (empty) */
    assert_non_null(strstr(buf, ",4600000000,7500000000,131072.5,1.5e+10,38.4,512,,64,8,1.85e+10\n"));
    /* Quoting and the formula guard. */
    assert_non_null(strstr(buf, "\"<script>alert(1)</script>, \"\"x\"\"\""));
    assert_non_null(strstr(buf, "\"'=cmd|' /C calc'!A0\""));
    assert_non_null(strstr(buf, "\"feature/\"\"quotes\"\", commas\""));
    assert_non_null(strstr(buf, ",interrupted,"));
    free(buf);
}

/* ---- small helpers ---------------------------------------------------------------------- */

static void test_ids_and_times(void **state) {
    (void)state;
    /* FIPS 180-4 examples. */
    uint8_t d[32];
    lf_sha256("abc", 3, d);
    assert_int_equal(d[0], 0xba);
    assert_int_equal(d[1], 0x78);
    assert_int_equal(d[31], 0xad);
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    lf_sha256(two, strlen(two), d);
    assert_int_equal(d[0], 0x24);
    assert_int_equal(d[1], 0x8d);
    assert_int_equal(d[31], 0xc1);
    lf_sha256("", 0, d);
    assert_int_equal(d[0], 0xe3);
    assert_int_equal(d[31], 0x55);
    char u1[40], u2[40];
    lf_uuid_random(u1, sizeof u1);
    lf_uuid_random(u2, sizeof u2);
    assert_int_equal(strlen(u1), 36);
    assert_int_equal(u1[14], '4');
    assert_string_not_equal(u1, u2);
    lf_uuid_from_data("x", 1, u1, sizeof u1);
    lf_uuid_from_data("x", 1, u2, sizeof u2);
    assert_string_equal(u1, u2);
    assert_int_equal(u1[14], '8');
    int64_t ms;
    assert_int_equal(lf_parse_time_ms("2025-04-24T11:58:50Z", &ms), 0);
    assert_true(ms == 1745495930000LL);
    assert_int_equal(lf_parse_time_ms("2025-04-24T11:58:50.5+02:00", &ms), 0);
    assert_true(ms == 1745495930000LL - 7200000 + 500);
    char b[40];
    assert_string_equal(lf_format_time_ms(1745495930123LL, b, sizeof b), "2025-04-24T11:58:50.123Z");
    assert_int_equal(lf_parse_time_ms("yesterday", &ms), LF_EINVAL);
    assert_int_equal(lf_parse_time_ms("2025-04-24T11:58:50Zjunk", &ms), LF_EINVAL);
}

static void test_default_path(void **state) {
    (void)state;
    char buf[512], home[512];
    lf_error err = {0};
    snprintf(home, sizeof home, "%s", getenv("HOME") ? getenv("HOME") : "");
    setenv("XDG_DATA_HOME", "/data/x", 1);
    assert_int_equal(lf_store_default_path(buf, sizeof buf), 0);
    assert_string_equal(buf, "/data/x/localfit/results.db");
    setenv("XDG_DATA_HOME", "relative/ignored", 1);
    setenv("HOME", "/home/u", 1);
    assert_int_equal(lf_store_default_path(buf, sizeof buf), 0);
    assert_string_equal(buf, "/home/u/.local/share/localfit/results.db");
    unsetenv("XDG_DATA_HOME");
    setenv("LOCALFIT_DB", "/tmp/env.db", 1);
    assert_int_equal(lf_store_resolve_path(NULL, buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "/tmp/env.db");
    assert_int_equal(lf_store_resolve_path("/tmp/flag.db", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "/tmp/flag.db");
    unsetenv("LOCALFIT_DB");
    assert_int_equal(lf_store_resolve_path(NULL, buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "/home/u/.local/share/localfit/results.db");
    assert_int_equal(lf_store_default_path(buf, 10), LF_ERANGE);
    setenv("HOME", home, 1);
}

static void test_git_detection(void **state) {
    tdir *t = *state;
    lf_git_info g;
    /* CI variables: a GitHub pull request uses the head branch. */
    setenv("GITHUB_SHA", "1111111111111111111111111111111111111111", 1);
    setenv("GITHUB_REF_NAME", "42/merge", 1);
    setenv("GITHUB_HEAD_REF", "fix-speed", 1);
    lf_store_detect_git(t->dir, NULL, NULL, &g);
    assert_string_equal(g.commit, "1111111111111111111111111111111111111111");
    assert_string_equal(g.branch, "fix-speed");
    assert_string_equal(g.source, "github");
    unsetenv("GITHUB_HEAD_REF");
    lf_store_detect_git(t->dir, NULL, NULL, &g);
    assert_string_equal(g.branch, "42/merge");
    /* Overrides beat CI. */
    lf_store_detect_git(t->dir, "abc1234", "main", &g);
    assert_string_equal(g.commit, "abc1234");
    assert_string_equal(g.branch, "main");
    assert_string_equal(g.source, "override");
    unsetenv("GITHUB_SHA");
    unsetenv("GITHUB_REF_NAME");
    setenv("CI_COMMIT_SHA", "2222222222222222222222222222222222222222", 1);
    setenv("CI_COMMIT_REF_NAME", "master", 1);
    lf_store_detect_git(t->dir, NULL, NULL, &g);
    assert_string_equal(g.source, "gitlab");
    assert_string_equal(g.branch, "master");
    unsetenv("CI_COMMIT_SHA");
    unsetenv("CI_COMMIT_REF_NAME");
    /* Outside a repository: nothing known. */
    lf_store_detect_git(t->dir, NULL, NULL, &g);
    assert_string_equal(g.commit, "");
    assert_int_equal(g.dirty, -1);
    /* A real repository made here (skip if there is no git). */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && git init -q -b trunk . 2>/dev/null && git -c user.name=t -c user.email=t@t "
             "commit -q --allow-empty -m init && echo x > f && git add f",
             t->dir);
    if (system(cmd) != 0) {
        printf("git not usable here; repository part skipped\n");
        return;
    }
    lf_store_detect_git(t->dir, NULL, NULL, &g);
    assert_string_equal(g.source, "git");
    assert_int_equal(strlen(g.commit), 40);
    assert_string_equal(g.branch, "trunk");
    assert_int_equal(g.dirty, 1);   /* f is staged */
    snprintf(cmd, sizeof cmd, "cd '%s' && git -c user.name=t -c user.email=t@t commit -q -m f",
             t->dir);
    assert_int_equal(system(cmd), 0);
    lf_store_detect_git(t->dir, NULL, NULL, &g);
    assert_int_equal(g.dirty, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v2_promoted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v4_experts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_files_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_llama, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_attach_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_malformed, setup, teardown),
        cmocka_unit_test(test_quant_names),
        cmocka_unit_test_setup_teardown(test_bundle_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundle_before_v3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
        cmocka_unit_test(test_ids_and_times),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test_setup_teardown(test_git_detection, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
