/*
 * `localfit db` — the results database itself: `check` runs SQLite's
 * integrity and foreign-key checks and reports the schema version, journal
 * mode and row counts (upgrading an older schema on the way, as any
 * writable open does); `path` prints which file the other commands use.
 */
#include "cli/args.h"
#include "cli/cli.h"
#include "store/store.h"

#include <getopt.h>
#include <limits.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit db check [--db PATH]\n"
            "       localfit db path [--db PATH]\n\n"
            "check  PRAGMA integrity_check and foreign_key_check, the schema version\n"
            "       (an older schema is upgraded), journal mode and row counts.\n"
            "       Exit status 1 when a check fails.\n"
            "path   the database file the commands use: --db, else $LOCALFIT_DB, else\n"
            "       $XDG_DATA_HOME/localfit/results.db (~/.local/share/localfit/results.db).\n\n"
            "Options:\n"
            "  --db PATH    the database file\n"
            "  -h, --help   this help\n");
}

/* How to save what a damaged file still holds: keep it, let sqlite3's
 * .recover copy every readable row into a new file, check that one. */
static void print_recovery(const char *path) {
    char safe[4 * PATH_MAX];
    lf_text_clean(safe, sizeof safe, path, true);
    fprintf(stderr,
            "localfit: %s is damaged. To recover what can still be read (sqlite3 3.29 or newer):\n"
            "  cp '%s' '%s.bak'                          # keep the damaged file\n"
            "  sqlite3 '%s' .recover | sqlite3 '%s.recovered'\n"
            "  localfit db check --db '%s.recovered'\n"
            "then use the recovered file (--db, or LOCALFIT_DB), or move it in place of the old "
            "one.\n",
            safe, safe, safe, safe, safe, safe);
}

/* The store's message without its pointer to this very command. */
static int fail_damaged(lf_error *err, const char *path) {
    static const char pointer[] = " (see `localfit db check`)";
    char *self = strstr(err->msg, pointer);
    if (self)
        memmove(self, self + sizeof pointer - 1, strlen(self + sizeof pointer - 1) + 1);
    lf_cli_fail(err);
    print_recovery(path);
    return LF_EXIT_FAIL;
}

static int do_check(const char *db) {
    lf_store *st = NULL;
    lf_error err = {0};
    char path[PATH_MAX];
    if (lf_store_resolve_path(db, path, sizeof path, &err) < 0)
        return lf_cli_fail(&err);
    if (lf_store_open_path(&st, db, LF_STORE_NOCREATE | LF_STORE_RO_FALLBACK, &err) < 0)
        return err.code == LF_EFORMAT && strstr(err.msg, "corrupt") ? fail_damaged(&err, path)
                                                                      : lf_cli_fail(&err);
    lf_store_check chk;
    if (lf_store_check_db(st, &chk, &err) < 0) {
        /* A damaged file can fail the checks after integrity_check, which
         * already said where: show its lines, then how to recover. */
        lf_store_close(st);
        if (err.code != LF_EFORMAT)
            return lf_cli_fail(&err);
        if (chk.integrity[0] && !chk.integrity_ok) {
            /* The store keeps the first lines in a fixed buffer: end on a
             * whole line when it filled up. */
            char *cut = strlen(chk.integrity) + 1 >= sizeof chk.integrity
                            ? strrchr(chk.integrity, '\n') : NULL;
            if (cut)
                *cut = '\0';
            fprintf(stderr, "integrity_check:\n%s\n%s", chk.integrity, cut ? "...\n" : "");
        }
        return fail_damaged(&err, path);
    }
    printf("database      %s%s\n", lf_store_path(st), lf_store_readonly(st) ? " (read-only)" : "");
    printf("schema        version %d (this localfit: %d)", chk.schema_version,
           LF_STORE_SCHEMA_VERSION);
    if (lf_store_migrated(st))
        printf(", upgraded from version %d", lf_store_schema_found(st));
    printf("\njournal       %s\n", chk.journal_mode);
    printf("integrity     %s\n", chk.integrity_ok ? "ok" : chk.integrity);
    if (!chk.integrity_ok) {
        fflush(stdout);
        print_recovery(lf_store_path(st));
    }
    if (chk.fk_violations)
        printf("foreign keys  %d violation%s\n", chk.fk_violations, chk.fk_violations == 1 ? "" : "s");
    else
        printf("foreign keys  ok\n");
    printf("rows          %lld devices, %lld runs (%lld running, %lld interrupted), %lld results, "
           "%lld samples, %lld quality\n",
           (long long)chk.n_devices, (long long)chk.n_runs, (long long)chk.n_running,
           (long long)chk.n_interrupted, (long long)chk.n_results, (long long)chk.n_samples,
           (long long)chk.n_quality);
    lf_store_close(st);
    return chk.integrity_ok && chk.fk_violations == 0 ? LF_EXIT_OK : LF_EXIT_FAIL;
}

int cmd_db(int argc, char **argv) {
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'D': db = optarg; break;
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option("db", argv, longopts);
        }
    }
    if (optind >= argc)
        return lf_cli_usage_error("db", "which action? (check, path)");
    const char *verb = argv[optind++];
    if (optind < argc)
        return lf_cli_usage_error("db", "unexpected argument '%s'", argv[optind]);
    if (!strcmp(verb, "check"))
        return do_check(db);
    if (!strcmp(verb, "path")) {
        char path[PATH_MAX];
        lf_error err = {0};
        if (lf_store_resolve_path(db, path, sizeof path, &err) < 0)
            return lf_cli_fail(&err);
        puts(path);
        return LF_EXIT_OK;
    }
    return lf_cli_usage_error("db", "unknown action '%s' (check, path)", verb);
}
