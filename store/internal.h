/*
 * Private to store/: the connection struct and the helpers the store's .c
 * files share (SQLite error translation, the transaction runner, row <->
 * record conversion, the v3 back-fill expressions). Nothing here is part of the public API.
 */
#ifndef LF_STORE_INTERNAL_H
#define LF_STORE_INTERNAL_H

#include "store/store.h"

#include <sqlite3.h>

struct lf_store {
    sqlite3 *db;
    char *path;                 /* as given to lf_store_open */
    int flags;
    int schema_found;           /* user_version before migration */
    bool migrated;
    bool readonly;
    char host[128];             /* this machine, for the liveness check */
};

/* Busy timeout: long enough for another process's commit of a large import,
 * short enough that a stuck lock gets reported rather than hanging CI. */
#define LF_STORE_BUSY_MS 30000

/* Schema v3 promoted the result figures other modules read out of the
 * extra JSON into columns (lf_result.weight_bytes ...). These SQL
 * expressions read one of them from an extra text (the SQL expression src):
 * the number under the key, NULL when extra is not JSON or the key is
 * missing or not a number. The v3 migration back-fills old rows with them
 * and the result insert falls back on them for a record that has the
 * figure only in extra (a bundle from before v3), so both accept the same
 * spellings, "params" and the older "n_params" among them. CASE is nested
 * because only CASE is evaluated lazily and json_type fails on malformed
 * JSON. */
#define LF_SQL_EXTRA_NUM(src, key)                                                        \
    "(CASE WHEN json_valid(" src ") THEN CASE WHEN json_type(" src ", '$." key "') IN " \
    "('integer', 'real') THEN json_extract(" src ", '$." key "') END END)"
#define LF_SQL_X_WEIGHT_BYTES(src) LF_SQL_EXTRA_NUM(src, "weight_bytes")
#define LF_SQL_X_N_PARAMS(src)                                                              \
    "coalesce(" LF_SQL_EXTRA_NUM(src, "params") ", " LF_SQL_EXTRA_NUM(src, "n_params") ")"
#define LF_SQL_X_KV_BYTES(src) LF_SQL_EXTRA_NUM(src, "kv_bytes")
#define LF_SQL_X_FLOPS_PER_TOKEN(src) LF_SQL_EXTRA_NUM(src, "flops_per_token")
#define LF_SQL_X_ROOF_GBS(src) LF_SQL_EXTRA_NUM(src, "roof_gbs")
#define LF_SQL_X_PEAK_GOPS(src) LF_SQL_EXTRA_NUM(src, "peak_gops")
#define LF_SQL_X_COMPUTE_FRAC(src) LF_SQL_EXTRA_NUM(src, "compute_frac")
#define LF_SQL_X_MODEL_BYTES(src) LF_SQL_EXTRA_NUM(src, "model_bytes")

/* Translates a SQLite failure into an LF_E* code and a message
 * "<what>: <path>: <reason> (<sqlite message>)". Returns the code. */
int lf_store_sqlerr(lf_store *st, int rc, lf_error *err, const char *what);

/* The one way the store writes: body(st, arg, err) inside BEGIN
 * IMMEDIATE, committed when it returns >= 0 (that value is returned) and
 * rolled back when it returns a negative LF_E* code (returned unchanged).
 * A failed BEGIN or COMMIT is translated and returned; after a failed
 * COMMIT nothing of body's writes is kept. body must not begin, commit or
 * roll back itself. */
typedef int (*lf_store_tx_fn)(lf_store *st, void *arg, lf_error *err);
int lf_store_in_tx(lf_store *st, lf_store_tx_fn body, void *arg, lf_error *err);
/* body inside a read transaction (deferred BEGIN ... COMMIT) so several
 * queries see one snapshot while other processes write. Returns body's
 * value; a failed BEGIN only loses the snapshot, so body runs anyway. */
int lf_store_in_read_tx(lf_store *st, lf_store_tx_fn body, void *arg, lf_error *err);

/* Steps s once and finalizes it: 0 on SQLITE_DONE, else the translated
 * failure ("<what>: ..."). For the single-row writes inside a body. */
int lf_store_step_done(lf_store *st, sqlite3_stmt *s, const char *what, lf_error *err);
/* Refuses a write on a read-only store with a message naming the file. */
int lf_store_check_writable(lf_store *st, lf_error *err, const char *what);

/* Prepares sql (a constant) or translates the failure. */
int lf_store_prepare(lf_store *st, const char *sql, sqlite3_stmt **out, lf_error *err);

/* Binding helpers: NAN / negative-as-unknown / "" become NULL where the
 * column allows it. Return SQLite codes. */
int lf_bind_text(sqlite3_stmt *s, int i, const char *v);        /* "" stays "" */
int lf_bind_real_or_null(sqlite3_stmt *s, int i, double v);     /* NAN -> NULL */
int lf_bind_int_or_null(sqlite3_stmt *s, int i, int64_t v);     /* <0 -> NULL */
/* Column helpers: NULL becomes NAN / -1 / "". */
double lf_col_real(sqlite3_stmt *s, int i);
int64_t lf_col_int(sqlite3_stmt *s, int i, int64_t if_null);
void lf_col_text(sqlite3_stmt *s, int i, char *buf, size_t size);

/* Insert a run row (any status, as given) inside the caller's transaction;
 * sets run->id. Used by run_begin and the importers. */
int lf_store_insert_run(lf_store *st, lf_run *run, lf_error *err);
/* Insert a result (+samples) / quality row inside the caller's transaction. */
int lf_store_insert_result(lf_store *st, int64_t run_id, lf_result *r,
                           const double *samples, int n, lf_error *err);
int lf_store_insert_quality(lf_store *st, int64_t run_id, lf_quality *q, lf_error *err);
/* Insert the device if absent (no update); *added tells which. */
int lf_store_insert_device_if_absent(lf_store *st, const char *id, const char *slug,
                                     const char *profile_json, bool *added, lf_error *err);
/* Whether a run with this uuid exists (its id in *id when it does). */
int lf_store_uuid_exists(lf_store *st, const char *uuid, int64_t *id, lf_error *err);

/* Whether the process that wrote a run on this host is gone. */
bool lf_store_writer_gone(const lf_store *st, const char *host, int64_t pid,
                          int64_t proc_start);
/* Start time of process pid in clock ticks since boot (/proc/PID/stat
 * field 22), 0 if unknown. */
int64_t lf_proc_start_time(int64_t pid);

/* Copies src into a fixed field, or fails naming the field when it does
 * not fit (importers must never truncate silently). */
int lf_field_copy(char *dst, size_t size, const char *src, const char *field,
                  lf_error *err);

/* llama.cpp's model_type file-type text -> quant name ("Q4_K - Medium" ->
 * "Q4_K_M"); "" when it cannot tell. */
void lf_llama_quant_name(const char *model_type, char *buf, size_t size);

#endif /* LF_STORE_INTERNAL_H */
