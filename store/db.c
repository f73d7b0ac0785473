/*
 * The database file itself: where it lives, opening it safely, the schema
 * and its migrations, the connection settings that make several writers
 * and a kill -9 harmless (WAL, synchronous=FULL, busy timeout, BEGIN
 * IMMEDIATE), the translation of SQLite failures into messages that name
 * the file, and the liveness check that turns a dead `running` run into an
 * interrupted one.
 *
 * Opening order matters for invariant 3 of store.h: the schema version is
 * read before anything that could write (journal mode, migrations,
 * repairs), so a database from a newer localfit is left byte-for-byte as it
 * was.
 */
#include "store/internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* PRAGMA application_id of a localfit database: "LFIT". Lets us refuse to
 * add tables to somebody else's SQLite file. */
#define LF_APP_ID 0x4C464954

/* ---- schema ------------------------------------------------------------
 * migration[v] takes a database at version v-1 to version v; a new file
 * runs them all. Each ends by setting user_version (a literal: PRAGMA takes
 * no bound parameters, and these are our constants, not input). Never edit
 * a released step; add one.
 *
 * v1: devices, runs, results, samples as first laid out.
 * v2: quality results; results gain backend, config (match key for
 *     engine settings), energy_note and extra; runs gain proc_start so a
 *     reused pid is not mistaken for a live writer.
 * v3: results gain the figures other modules read (weight_bytes, n_params,
 *     kv_bytes, flops_per_token, roof_gbs, peak_gops, compute_frac), back-
 *     filled from each old row's extra JSON so an old database reads the
 *     same; extra is for display from then on.
 * v4: results gain engine (who measured: "localfit", or "llama.cpp" for
 *     llama-bench's records), part of a test's identity; rows of imported
 *     llama-bench runs are marked llama.cpp, all others localfit.
 * v5: results gain n_expert and n_expert_used (a mixture-of-experts model
 *     is known from its result, whatever file it came from) and
 *     model_bytes (all tensors resident), the last back-filled from the
 *     extra JSON where bench kept it; the expert counts of older rows stay
 *     unknown (NULL). */
static const char *const migration[LF_STORE_SCHEMA_VERSION + 1] = {
    [1] =
        "PRAGMA application_id = 1279674708;\n" /* LF_APP_ID */
        "CREATE TABLE devices (\n"
        "  id TEXT PRIMARY KEY,\n"
        "  slug TEXT NOT NULL DEFAULT '',\n"
        "  profile TEXT NOT NULL DEFAULT '{}',\n"
        "  first_seen_ms INTEGER NOT NULL,\n"
        "  last_seen_ms INTEGER NOT NULL\n"
        ");\n"
        "CREATE TABLE runs (\n"
        "  id INTEGER PRIMARY KEY,\n"
        "  uuid TEXT NOT NULL UNIQUE,\n"
        "  tool_version TEXT NOT NULL DEFAULT '',\n"
        "  source TEXT NOT NULL DEFAULT 'localfit',\n"
        "  git_commit TEXT NOT NULL DEFAULT '',\n"
        "  git_branch TEXT NOT NULL DEFAULT '',\n"
        "  git_dirty INTEGER,\n"
        "  compiler TEXT NOT NULL DEFAULT '',\n"
        "  cflags TEXT NOT NULL DEFAULT '',\n"
        "  suite TEXT NOT NULL DEFAULT '',\n"
        "  label TEXT NOT NULL DEFAULT '',\n"
        "  status TEXT NOT NULL CHECK (status IN ('running','complete','interrupted')),\n"
        "  started_ms INTEGER NOT NULL,\n"
        "  finished_ms INTEGER,\n"
        "  device_id TEXT REFERENCES devices(id),\n"
        "  host TEXT NOT NULL DEFAULT '',\n"
        "  pid INTEGER\n"
        ");\n"
        "CREATE INDEX runs_by_device ON runs(device_id, started_ms);\n"
        "CREATE INDEX runs_by_commit ON runs(git_commit);\n"
        "CREATE TABLE results (\n"
        "  id INTEGER PRIMARY KEY,\n"
        "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
        "  kind TEXT NOT NULL,\n"
        "  model TEXT NOT NULL,\n"
        "  model_path TEXT NOT NULL DEFAULT '',\n"
        "  quant TEXT NOT NULL DEFAULT '',\n"
        "  adapter TEXT NOT NULL DEFAULT '',\n"
        "  n_adapters INTEGER NOT NULL DEFAULT 0,\n"
        "  adapter_rank INTEGER NOT NULL DEFAULT 0,\n"
        "  adapter_mode TEXT NOT NULL DEFAULT 'none',\n"
        "  threads INTEGER NOT NULL DEFAULT 0,\n"
        "  n_prompt INTEGER NOT NULL DEFAULT 0,\n"
        "  n_gen INTEGER NOT NULL DEFAULT 0,\n"
        "  n_depth INTEGER NOT NULL DEFAULT 0,\n"
        "  kv_type TEXT NOT NULL DEFAULT '',\n"
        "  isa TEXT NOT NULL DEFAULT '',\n"
        "  unit TEXT NOT NULL,\n"
        "  median REAL, mean REAL, stddev REAL, ci_low REAL, ci_high REAL,\n"
        "  n_samples INTEGER NOT NULL DEFAULT 0,\n"
        "  bytes_per_token REAL,\n"
        "  roofline_frac REAL,\n"
        "  peak_rss INTEGER,\n"
        "  joules_per_token REAL\n"
        ");\n"
        "CREATE INDEX results_by_run ON results(run_id);\n"
        "CREATE TABLE samples (\n"
        "  result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,\n"
        "  idx INTEGER NOT NULL,\n"
        "  value REAL NOT NULL,\n"
        "  PRIMARY KEY (result_id, idx)\n"
        ") WITHOUT ROWID;\n"
        "PRAGMA user_version = 1;\n",
    [2] =
        "ALTER TABLE runs ADD COLUMN proc_start INTEGER;\n"
        "ALTER TABLE results ADD COLUMN backend TEXT NOT NULL DEFAULT '';\n"
        "ALTER TABLE results ADD COLUMN config TEXT NOT NULL DEFAULT '';\n"
        "ALTER TABLE results ADD COLUMN energy_note TEXT NOT NULL DEFAULT '';\n"
        "ALTER TABLE results ADD COLUMN extra TEXT NOT NULL DEFAULT '';\n"
        "CREATE TABLE quality (\n"
        "  id INTEGER PRIMARY KEY,\n"
        "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
        "  model TEXT NOT NULL,\n"
        "  variant TEXT NOT NULL,\n"
        "  ppl REAL, ppl_err REAL,\n"
        "  dppl REAL, dppl_err REAL,\n"
        "  ppl_ratio REAL, ppl_ratio_err REAL,\n"
        "  kld_mean REAL, kld_mean_err REAL,\n"
        "  kld_median REAL, kld_median_err REAL,\n"
        "  kld_p99 REAL, kld_p99_err REAL,\n"
        "  kld_max REAL, kld_max_err REAL,\n"
        "  same_top REAL, same_top_err REAL,\n"
        "  n_tokens INTEGER,\n"
        "  ctx INTEGER\n"
        ");\n"
        "CREATE INDEX quality_by_run ON quality(run_id);\n"
        "PRAGMA user_version = 2;\n",
    [3] =
        "ALTER TABLE results ADD COLUMN weight_bytes REAL;\n"
        "ALTER TABLE results ADD COLUMN n_params REAL;\n"
        "ALTER TABLE results ADD COLUMN kv_bytes REAL;\n"
        "ALTER TABLE results ADD COLUMN flops_per_token REAL;\n"
        "ALTER TABLE results ADD COLUMN roof_gbs REAL;\n"
        "ALTER TABLE results ADD COLUMN peak_gops REAL;\n"
        "ALTER TABLE results ADD COLUMN compute_frac REAL;\n"
        "UPDATE results SET weight_bytes = " LF_SQL_X_WEIGHT_BYTES("extra") ",\n"
        "  n_params = " LF_SQL_X_N_PARAMS("extra") ",\n"
        "  kv_bytes = " LF_SQL_X_KV_BYTES("extra") ",\n"
        "  flops_per_token = " LF_SQL_X_FLOPS_PER_TOKEN("extra") ",\n"
        "  roof_gbs = " LF_SQL_X_ROOF_GBS("extra") ",\n"
        "  peak_gops = " LF_SQL_X_PEAK_GOPS("extra") ",\n"
        "  compute_frac = " LF_SQL_X_COMPUTE_FRAC("extra") "\n"
        "WHERE json_valid(extra);\n"
        "PRAGMA user_version = 3;\n",
    [4] =
        "ALTER TABLE results ADD COLUMN engine TEXT NOT NULL DEFAULT 'localfit';\n"
        "UPDATE results SET engine = 'llama.cpp'\n"
        "WHERE run_id IN (SELECT id FROM runs WHERE source = 'llama-bench');\n"
        "PRAGMA user_version = 4;\n",
    [5] =
        "ALTER TABLE results ADD COLUMN n_expert INTEGER;\n"
        "ALTER TABLE results ADD COLUMN n_expert_used INTEGER;\n"
        "ALTER TABLE results ADD COLUMN model_bytes REAL;\n"
        "UPDATE results SET model_bytes = " LF_SQL_X_MODEL_BYTES("extra") "\n"
        "WHERE json_valid(extra);\n"
        "PRAGMA user_version = 5;\n",
};

/* ---- errors ------------------------------------------------------------ */

int lf_store_sqlerr(lf_store *st, int rc, lf_error *err, const char *what) {
    const char *path = st && st->path ? st->path : "(database)";
    const char *smsg = st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
    int code;
    const char *reason;
    switch (rc & 0xff) {
    case SQLITE_READONLY:
        code = LF_EIO;
        reason = "the database is read-only (the file or its directory is not writable)";
        break;
    case SQLITE_FULL:
        code = LF_EIO;
        reason = "the disk is full (or a file size limit was reached); nothing of this write was kept";
        break;
    case SQLITE_IOERR:
        code = LF_EIO;
        reason = "input/output error";
        break;
    case SQLITE_CANTOPEN:
        code = LF_EIO;
        reason = "cannot open the file";
        break;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        code = LF_EIO;
        reason = "permission denied";
        break;
    case SQLITE_NOTADB:
        code = LF_EFORMAT;
        reason = "not a SQLite database";
        break;
    case SQLITE_CORRUPT:
        code = LF_EFORMAT;
        reason = "the database is corrupt (see `localfit db check`)";
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = LF_EBUSY;
        reason = "locked by another process for longer than the busy timeout";
        break;
    case SQLITE_CONSTRAINT:
        code = LF_EINVAL;
        reason = "constraint violated";
        break;
    case SQLITE_NOMEM:
        code = LF_ENOMEM;
        reason = "out of memory";
        break;
    default:
        code = LF_EDB;
        reason = "database error";
        break;
    }
    /* The OS error says more than SQLite's generic I/O message. */
    int sys = st && st->db ? sqlite3_system_errno(st->db) : 0;
    if (code == LF_EIO && sys == ENOSPC)
        reason = "no space left on the device; nothing of this write was kept";
    else if (code == LF_EIO && sys == EFBIG)
        reason = "the file size limit was reached; nothing of this write was kept";
    else if (code == LF_EIO && sys == EROFS)
        reason = "the file system is read-only";
    else if (code == LF_EIO && (sys == EACCES || sys == EPERM))
        reason = "permission denied";
    return lf_error_set(err, code, "%s: %s: %s (%s)", what, path, reason, smsg);
}

int lf_store_check_writable(lf_store *st, lf_error *err, const char *what) {
    if (st->readonly)
        return lf_error_set(err, LF_EIO, "%s: %s: the database was opened read-only", what,
                            st->path);
    return 0;
}

int lf_store_prepare(lf_store *st, const char *sql, sqlite3_stmt **out, lf_error *err) {
    int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);
    if (rc != SQLITE_OK) {
        *out = NULL;
        return lf_store_sqlerr(st, rc, err, "preparing a query");
    }
    return 0;
}

int lf_store_in_tx(lf_store *st, lf_store_tx_fn body, void *arg, lf_error *err) {
    /* IMMEDIATE takes the write lock up front, so the busy handler waits
     * for another writer instead of failing later on lock upgrade. */
    int src = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (src != SQLITE_OK)
        return lf_store_sqlerr(st, src, err, "starting a write");
    int rc = body(st, arg, err);
    if (rc >= 0 && (src = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        rc = lf_store_sqlerr(st, src, err, "committing");
    /* after a failed COMMIT too: SQLite may leave the transaction open */
    if (rc < 0 && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int lf_store_in_read_tx(lf_store *st, lf_store_tx_fn body, void *arg, lf_error *err) {
    bool began = sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    int rc = body(st, arg, err);
    if (began)
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

int lf_store_step_done(lf_store *st, sqlite3_stmt *s, const char *what, lf_error *err) {
    int src = sqlite3_step(s);
    sqlite3_finalize(s);
    return src == SQLITE_DONE ? 0 : lf_store_sqlerr(st, src, err, what);
}

/* ---- binding and column helpers ------------------------------------------ */

/* Every text goes in as valid UTF-8: names reach the store from file
 * names and GGUF metadata (any bytes), and what comes out is written as
 * JSON, whose libraries refuse invalid UTF-8 (an export would lose the
 * field). Bad bytes become U+FFFD; valid text is bound unchanged. */
int lf_bind_text(sqlite3_stmt *s, int i, const char *v) {
    if (!v)
        v = "";
    size_t n = strlen(v), at = 0;
    bool valid = true;
    while (at < n) {
        uint32_t cp;
        size_t k = lf_utf8_decode((const unsigned char *)v + at, n - at, &cp);
        if (k == 0) {
            valid = false;
            break;
        }
        at += k;
    }
    if (valid)
        return sqlite3_bind_text(s, i, v, (int)n, SQLITE_TRANSIENT);
    char *fixed = malloc(3 * n + 1);
    if (!fixed)
        return SQLITE_NOMEM;
    size_t o = 0;
    for (at = 0; at < n;) {
        uint32_t cp;
        size_t k = lf_utf8_decode((const unsigned char *)v + at, n - at, &cp);
        if (k == 0) {
            memcpy(fixed + o, "\xEF\xBF\xBD", 3);
            o += 3;
            at++;
        } else {
            memcpy(fixed + o, v + at, k);
            o += k;
            at += k;
        }
    }
    int rc = sqlite3_bind_text(s, i, fixed, (int)o, SQLITE_TRANSIENT);
    free(fixed);
    return rc;
}

int lf_bind_real_or_null(sqlite3_stmt *s, int i, double v) {
    return isnan(v) ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, v);
}

int lf_bind_int_or_null(sqlite3_stmt *s, int i, int64_t v) {
    return v < 0 ? sqlite3_bind_null(s, i) : sqlite3_bind_int64(s, i, v);
}

double lf_col_real(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

int64_t lf_col_int(sqlite3_stmt *s, int i, int64_t if_null) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? if_null : sqlite3_column_int64(s, i);
}

void lf_col_text(sqlite3_stmt *s, int i, char *buf, size_t size) {
    const unsigned char *t = sqlite3_column_text(s, i);
    lf_strlcpy(buf, t ? (const char *)t : "", size);
}

int lf_field_copy(char *dst, size_t size, const char *src, const char *field,
                  lf_error *err) {
    if (!src)
        src = "";
    if (strlen(src) >= size)
        return lf_error_set(err, LF_EFORMAT, "field \"%s\" is too long (%zu bytes, at most %zu)",
                            field, strlen(src), size - 1);
    lf_strlcpy(dst, src, size);
    return 0;
}

/* ---- paths ---------------------------------------------------------------- */

static int join_path(char *buf, size_t size, const char *a, const char *b) {
    int n = snprintf(buf, size, "%s/%s", a, b);
    return n < 0 || (size_t)n >= size ? LF_ERANGE : 0;
}

int lf_store_default_path(char *buf, size_t size) {
    const char *xdg = getenv("XDG_DATA_HOME");
    /* The XDG spec says a relative XDG_DATA_HOME is invalid: ignore it. */
    if (xdg && xdg[0] == '/')
        return join_path(buf, size, xdg, "localfit/results.db");
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home || !*home)
        return LF_ENOTFOUND;
    return join_path(buf, size, home, ".local/share/localfit/results.db");
}

int lf_store_resolve_path(const char *explicit_path, char *buf, size_t size, lf_error *err) {
    const char *p = explicit_path && *explicit_path ? explicit_path : getenv("LOCALFIT_DB");
    if (p && *p) {
        if (strlen(p) >= size)
            return lf_error_set(err, LF_ERANGE, "database path too long: %s", p);
        lf_strlcpy(buf, p, size);
        return 0;
    }
    int rc = lf_store_default_path(buf, size);
    if (rc == LF_ENOTFOUND)
        return lf_error_set(err, rc, "no home directory to keep the results database in; "
                                     "set LOCALFIT_DB or pass --db");
    if (rc < 0)
        return lf_error_set(err, rc, "default database path too long");
    return 0;
}

/* mkdir -p of the directory part of path. */
static int make_parent_dirs(const char *path, lf_error *err) {
    char dir[PATH_MAX];
    if (strlen(path) >= sizeof dir)
        return lf_error_set(err, LF_ERANGE, "database path too long: %s", path);
    lf_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return lf_error_set(err, LF_EIO, "creating directory %s for the database: %s",
                                    dir, strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return 0;
}

/* ---- liveness ------------------------------------------------------------- */

int64_t lf_proc_start_time(int64_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) may contain spaces and ')': fields after
     * it are counted from the last ')'. Field 3 is the state, 22 the start
     * time. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    long long v = 0;
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ')
            p++;
        if (field == 22) {
            v = strtoll(p, NULL, 10);
            break;
        }
        while (*p && *p != ' ')
            p++;
    }
    return v > 0 ? v : 0;
}

/* State letter from /proc/PID/stat, or 0 when the process does not exist. */
static char proc_state(int64_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

bool lf_store_writer_gone(const lf_store *st, const char *host, int64_t pid,
                          int64_t proc_start) {
    /* Only a writer on this machine can be checked; one elsewhere may be
     * alive, so its run stays `running`. */
    if (!host || !*host || strcmp(host, st->host) != 0 || pid <= 0)
        return false;
    if (pid == (int64_t)getpid())
        return false;
    if (access("/proc/self/stat", R_OK) == 0) {
        char s = proc_state(pid);
        if (s == 0 || s == 'Z' || s == 'X')
            return true;           /* gone, or dead and not yet reaped */
        if (proc_start > 0) {
            int64_t now = lf_proc_start_time(pid);
            if (now > 0 && now != proc_start)
                return true;       /* the pid was reused by another process */
        }
        return false;
    }
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Writable open: persist `interrupted` for runs of this host whose process
 * is gone. Failure here is not fatal (readers compute the same verdict), so
 * it only warns. */
typedef struct dead_runs {
    const int64_t *ids;
    int n;
} dead_runs;

static int mark_dead(lf_store *st, void *arg, lf_error *err) {
    const dead_runs *d = arg;
    sqlite3_stmt *u = NULL;
    int rc = lf_store_prepare(st,
                              "UPDATE runs SET status = 'interrupted' "
                              "WHERE id = ?1 AND status = 'running'",
                              &u, err);
    for (int i = 0; rc == 0 && i < d->n; i++) {
        sqlite3_bind_int64(u, 1, d->ids[i]);
        int src = sqlite3_step(u);
        sqlite3_reset(u);
        if (src != SQLITE_DONE)
            rc = lf_store_sqlerr(st, src, err, "marking interrupted runs");
    }
    sqlite3_finalize(u);
    return rc;
}

static void mark_dead_runs(lf_store *st) {
    sqlite3_stmt *q = NULL;
    int64_t *dead = NULL;
    int n = 0, cap = 0;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT id, host, pid, proc_start FROM runs "
                           "WHERE status = 'running' AND host = ?1",
                           -1, &q, NULL) != SQLITE_OK)
        return;
    lf_bind_text(q, 1, st->host);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *host = (const char *)sqlite3_column_text(q, 1);
        if (!lf_store_writer_gone(st, host, lf_col_int(q, 2, 0), lf_col_int(q, 3, 0)))
            continue;
        if (n == cap) {
            int ncap = cap ? cap * 2 : 8;
            int64_t *nd = realloc(dead, (size_t)ncap * sizeof *nd);
            if (!nd)
                break;
            dead = nd;
            cap = ncap;
        }
        dead[n++] = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    if (n > 0) {
        lf_error e = {0};
        dead_runs d = {dead, n};
        if (lf_store_in_tx(st, mark_dead, &d, &e) < 0)
            lf_warn("%s", e.msg);
    }
    free(dead);
}

/* ---- open / close ------------------------------------------------------------ */

static int pragma_int(lf_store *st, const char *sql, int64_t *out, lf_error *err) {
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(s, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_OK ? 0 : lf_store_sqlerr(st, rc, err, "reading the schema version");
}

/* user_version, application_id and the number of schema objects, read in
 * one statement (one consistent snapshot of the file). */
static int schema_header(lf_store *st, int64_t *version, int64_t *app_id,
                         int64_t *n_objects, lf_error *err) {
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db,
                                "SELECT (SELECT user_version FROM pragma_user_version), "
                                "(SELECT application_id FROM pragma_application_id), "
                                "(SELECT count(*) FROM sqlite_master)",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int64(s, 0);
            *app_id = sqlite3_column_int64(s, 1);
            *n_objects = sqlite3_column_int64(s, 2);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_OK ? 0 : lf_store_sqlerr(st, rc, err, "reading the schema version");
}

/* Inside the write transaction: another process may have migrated
 * between our read of the version and our lock. Returns the version found. */
static int migrate_body(lf_store *st, void *arg, lf_error *err) {
    int64_t *found = arg;
    int rc = pragma_int(st, "PRAGMA user_version", found, err);
    for (int64_t next = *found + 1; rc == 0 && next <= LF_STORE_SCHEMA_VERSION; next++) {
        int src = sqlite3_exec(st->db, migration[next], NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            char what[64];
            snprintf(what, sizeof what, "upgrading the schema to version %lld", (long long)next);
            rc = lf_store_sqlerr(st, src, err, what);
        }
    }
    return rc;
}

static int migrate(lf_store *st, lf_error *err) {
    int64_t v = -1;   /* still -1: the write lock was not had */
    int rc = lf_store_in_tx(st, migrate_body, &v, err);
    if (rc < 0)
        return v < 0 ? lf_error_wrap(err, "upgrading the schema") : rc;
    st->migrated = v < LF_STORE_SCHEMA_VERSION;
    return 0;
}

/* Whether a writer cannot use path, and why (into why). WAL writes the
 * file and creates -wal and -shm files beside it, so both the file and its
 * directory must be writable (access(2): the process's own rights, a
 * read-only mount included). */
static bool write_obstacle(const char *path, char *why, size_t size) {
    char dir[PATH_MAX];
    lf_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (!slash)
        lf_strlcpy(dir, ".", sizeof dir);
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (access(path, W_OK) != 0) {
        snprintf(why, size, "the file is not writable (%s)", strerror(errno));
        return true;
    }
    if (access(dir, W_OK) != 0) {
        snprintf(why, size, "its directory %s is not writable (%s), and SQLite keeps its -wal and -shm "
                 "files there", dir, strerror(errno));
        return true;
    }
    return false;
}

/* A reader of a WAL database normally maps a -shm file beside it, which a
 * read-only directory or file does not allow ("attempt to write a readonly
 * database"). When this process cannot write there, nobody it could be
 * racing with writes through this path either, so the file is opened as
 * immutable (no locks, no -shm): unless a -wal file with content is there
 * (a writer that crashed, or one with other rights), whose pages an
 * immutable open would not see; then the plain read-only open is tried and
 * its error stands. The URI form needs the path percent-encoded. */
static int open_readonly(lf_store *st, const char *path) {
    char why[PATH_MAX + 160], wal[PATH_MAX + 8];
    struct stat ws;
    snprintf(wal, sizeof wal, "%s-wal", path);
    bool wal_data = stat(wal, &ws) == 0 && ws.st_size > 0;
    if (!write_obstacle(path, why, sizeof why) || wal_data)
        return sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READONLY, NULL);
    size_t n = strlen(path);
    char *uri = malloc(3 * n + 32);
    if (!uri)
        return SQLITE_NOMEM;
    size_t k = (size_t)sprintf(uri, "file:");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("/-_.~", c))
            uri[k++] = (char)c;
        else
            k += (size_t)sprintf(uri + k, "%%%02X", c);
    }
    strcpy(uri + k, "?immutable=1");
    int rc = sqlite3_open_v2(uri, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    return rc;
}

int lf_store_open(lf_store **out, const char *path, int flags, lf_error *err) {
    *out = NULL;
    if (!path || !*path)
        return lf_error_set(err, LF_EINVAL, "no database path given");
    bool ro = flags & LF_STORE_READONLY;
    bool nocreate = ro || (flags & LF_STORE_NOCREATE);
    struct stat sb;
    if (stat(path, &sb) < 0) {
        if (errno != ENOENT)
            return lf_error_set(err, LF_EIO, "%s: %s", path, strerror(errno));
        if (nocreate)
            return lf_error_set(err, LF_ENOTFOUND, "no database at %s (nothing recorded yet?)",
                                path);
        int rc = make_parent_dirs(path, err);
        if (rc < 0)
            return rc;
    } else if (S_ISDIR(sb.st_mode)) {
        return lf_error_set(err, LF_EINVAL, "%s is a directory, not a database file", path);
    } else if (!ro) {
        /* an existing file this process cannot write through: a reader
         * falls back to read-only, a writer is told why at once */
        char why[PATH_MAX + 160];
        bool blocked = write_obstacle(path, why, sizeof why);
        if (blocked && (flags & LF_STORE_RO_FALLBACK))
            return lf_store_open(out, path, (flags & ~LF_STORE_RO_FALLBACK) | LF_STORE_READONLY, err);
        if (blocked)
            return lf_error_set(err, LF_EIO, "%s is read-only: %s; results cannot be stored there", path, why);
    }

    lf_store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return lf_error_set(err, LF_ENOMEM, "opening %s: out of memory", path);
    }
    st->flags = flags;
    if (gethostname(st->host, sizeof st->host - 1) < 0)
        st->host[0] = '\0';

    int oflags = SQLITE_OPEN_READWRITE | (nocreate ? 0 : SQLITE_OPEN_CREATE);
    int rc = ro ? open_readonly(st, path) : sqlite3_open_v2(path, &st->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        rc = lf_store_sqlerr(st, rc, err, "opening the database");
        lf_store_close(st);
        return rc;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, LF_STORE_BUSY_MS);
    st->readonly = ro;
    if (!ro && sqlite3_db_readonly(st->db, "main") == 1) {
        if (flags & LF_STORE_RO_FALLBACK) {
            lf_store_close(st);
            return lf_store_open(out, path, (flags & ~LF_STORE_RO_FALLBACK) | LF_STORE_READONLY,
                                 err);
        }
        rc = lf_error_set(err, LF_EIO,
                          "%s is read-only (the file or its directory is not writable); "
                          "results cannot be stored there", path);
        lf_store_close(st);
        return rc;
    }

    /* 1. Read, never write, until we know the schema is ours and not newer. */
    /* The three values come from one statement, so one snapshot: read
     * separately, a process creating the schema at the same moment could
     * show us version 0 and then its new tables, which looks like a foreign
     * database. */
    int64_t version = 0, app_id = 0, n_objects = 0;
    if ((rc = schema_header(st, &version, &app_id, &n_objects, err)) < 0) {
        lf_store_close(st);
        return rc;
    }
    st->schema_found = (int)version;
    if (app_id != 0 && app_id != LF_APP_ID) {
        lf_store_close(st);
        return lf_error_set(err, LF_EFORMAT,
                            "%s is a SQLite database of another application (application_id "
                            "0x%08llx); not touching it", path, (unsigned long long)app_id);
    }
    if (version == 0 && n_objects > 0) {
        lf_store_close(st);
        return lf_error_set(err, LF_EFORMAT,
                            "%s is a SQLite database without a localfit schema; not touching it",
                            path);
    }
    if (version > LF_STORE_SCHEMA_VERSION) {
        lf_store_close(st);
        return lf_error_set(err, LF_EUNSUPP,
                            "%s has schema version %lld, newer than this localfit understands "
                            "(%d); upgrade localfit to use it. The file was not modified.",
                            path, (long long)version, LF_STORE_SCHEMA_VERSION);
    }
    if (ro && version < LF_STORE_SCHEMA_VERSION) {
        lf_store_close(st);
        return lf_error_set(err, LF_EUNSUPP,
                            "%s has schema version %lld and needs upgrading to %d, which a "
                            "read-only open cannot do; open it writable once (e.g. `localfit "
                            "db check --db %s`)",
                            path, (long long)version, LF_STORE_SCHEMA_VERSION, path);
    }

    /* 2. Connection settings. WAL lets readers and one writer proceed
     * together; synchronous=FULL makes a committed result survive power
     * loss too (a commit per result is cheap next to a benchmark). */
    const char *setup = ro ? "PRAGMA foreign_keys = ON;"
                           : "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                             "PRAGMA foreign_keys = ON;";
    /* Switching the journal mode needs the file to itself, and SQLite
     * reports a conflict here (another process creating the same new file,
     * or writing) as busy without calling the busy handler; so wait and
     * retry ourselves, for as long as the busy timeout. */
    int waited = 0;
    for (;;) {
        rc = sqlite3_exec(st->db, setup, NULL, NULL, NULL);
        if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) ||
            waited >= LF_STORE_BUSY_MS)
            break;
        int nap = waited < 100 ? 1 : 10;
        sqlite3_sleep(nap);
        waited += nap;
    }
    if (rc != SQLITE_OK) {
        rc = lf_store_sqlerr(st, rc, err, "configuring the database");
        lf_store_close(st);
        return rc;
    }

    /* 3. Schema. */
    if (!ro && version < LF_STORE_SCHEMA_VERSION && (rc = migrate(st, err)) < 0) {
        lf_store_close(st);
        return rc;
    }

    /* 4. Repair what dead writers left behind. */
    if (!ro)
        mark_dead_runs(st);
    *out = st;
    return 0;
}

int lf_store_open_path(lf_store **out, const char *db_flag, int flags, lf_error *err) {
    char path[PATH_MAX];
    *out = NULL;
    int rc = lf_store_resolve_path(db_flag, path, sizeof path, err);
    return rc < 0 ? rc : lf_store_open(out, path, flags, err);
}

void lf_store_close(lf_store *st) {
    if (!st)
        return;
    if (st->db)
        sqlite3_close_v2(st->db);
    free(st->path);
    free(st);
}

const char *lf_store_path(const lf_store *st) { return st->path; }
bool lf_store_readonly(const lf_store *st) { return st->readonly; }
int lf_store_schema_found(const lf_store *st) { return st->schema_found; }
bool lf_store_migrated(const lf_store *st) { return st->migrated; }

/* ---- check ------------------------------------------------------------------- */

static int64_t count_of(lf_store *st, const char *sql) {
    int64_t v = -1;
    lf_error e = {0};
    if (pragma_int(st, sql, &v, &e) < 0)
        return -1;
    return v;
}

int lf_store_check_db(lf_store *st, lf_store_check *out, lf_error *err) {
    memset(out, 0, sizeof *out);
    int64_t v = 0;
    int rc = pragma_int(st, "PRAGMA user_version", &v, err);
    if (rc < 0)
        return rc;
    out->schema_version = (int)v;

    sqlite3_stmt *s = NULL;
    if ((rc = lf_store_prepare(st, "PRAGMA integrity_check", &s, err)) < 0)
        return rc;
    size_t used = 0;
    int lines = 0, src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(s, 0);
        if (!line)
            continue;
        if (lines == 0 && strcmp(line, "ok") == 0)
            out->integrity_ok = true;
        if (used < sizeof out->integrity - 1) {
            int n = snprintf(out->integrity + used, sizeof out->integrity - used, "%s%s",
                             lines ? "\n" : "", line);
            used = n < 0 ? used : used + (size_t)n;
            if (used >= sizeof out->integrity)
                used = sizeof out->integrity - 1;
        }
        lines++;
    }
    sqlite3_finalize(s);
    if (src != SQLITE_DONE)
        return lf_store_sqlerr(st, src, err, "running integrity_check");
    if (lines > 1)
        out->integrity_ok = false;

    if ((rc = lf_store_prepare(st, "PRAGMA foreign_key_check", &s, err)) < 0)
        return rc;
    while ((src = sqlite3_step(s)) == SQLITE_ROW)
        out->fk_violations++;
    sqlite3_finalize(s);
    if (src != SQLITE_DONE)
        return lf_store_sqlerr(st, src, err, "running foreign_key_check");

    if ((rc = lf_store_prepare(st, "PRAGMA journal_mode", &s, err)) < 0)
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW)
        lf_col_text(s, 0, out->journal_mode, sizeof out->journal_mode);
    sqlite3_finalize(s);

    out->n_devices = count_of(st, "SELECT count(*) FROM devices");
    out->n_runs = count_of(st, "SELECT count(*) FROM runs");
    out->n_results = count_of(st, "SELECT count(*) FROM results");
    out->n_samples = count_of(st, "SELECT count(*) FROM samples");
    out->n_quality = count_of(st, "SELECT count(*) FROM quality");
    out->n_interrupted = count_of(st, "SELECT count(*) FROM runs WHERE status = 'interrupted'");

    /* `running` as shown: a dead writer counts as interrupted. */
    if ((rc = lf_store_prepare(st, "SELECT host, pid, proc_start FROM runs "
                                   "WHERE status = 'running'", &s, err)) < 0)
        return rc;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (lf_store_writer_gone(st, (const char *)sqlite3_column_text(s, 0),
                                 lf_col_int(s, 1, 0), lf_col_int(s, 2, 0)))
            out->n_interrupted++;
        else
            out->n_running++;
    }
    sqlite3_finalize(s);
    return 0;
}
