/*
 * `localfit export` — runs out of the database: a localfit bundle (JSON
 * with devices, runs, results, every sample and quality rows; `localfit
 * import` reads it back on another machine) or CSV for spreadsheets. An
 * output file is written beside its final name and renamed into place, so
 * a failed export never leaves half a file under that name.
 */
#include "cli/args.h"
#include "cli/cli.h"
#include "store/store.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit export [RUN...] [--format bundle|csv] [-o FILE] [--db PATH]\n\n"
            "Writes the given runs (uuid prefixes; default: every run) to standard output\n"
            "or FILE.\n\n"
            "Options:\n"
            "  --format F      bundle (default: JSON, schema localfit.bundle/1) or csv\n"
            "                  (one line per result)\n"
            "  -o, --output F  write to F instead of standard output\n"
            "  --db PATH       results database (default $LOCALFIT_DB, else\n"
            "                  $XDG_DATA_HOME/localfit/results.db)\n"
            "  -h, --help      this help\n");
}

int cmd_export(int argc, char **argv) {
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'}, {"output", required_argument, NULL, 'o'},
        {"db", required_argument, NULL, 'D'},     {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool csv = false;
    const char *out_path = NULL, *db = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!strcmp(optarg, "csv"))
                csv = true;
            else if (!strcmp(optarg, "bundle") || !strcmp(optarg, "json"))
                csv = false;
            else
                return lf_cli_usage_error("export", "unknown format '%s' (bundle, csv)", optarg);
            break;
        case 'o': out_path = optarg; break;
        case 'D': db = optarg; break;
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option("export", argv, longopts);
        }
    }
    lf_store *st = NULL;
    lf_error err = {0};
    if (lf_store_open_path(&st, db, LF_STORE_NOCREATE | LF_STORE_RO_FALLBACK, &err) < 0)
        return lf_cli_fail(&err);
    int n = argc - optind, rc = 0;
    int64_t *ids = calloc((size_t)(n > 0 ? n : 1), sizeof *ids);
    if (!ids) {
        lf_store_close(st);
        lf_error_set(&err, LF_ENOMEM, "export: out of memory");
        return lf_cli_fail(&err);
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        lf_run run;
        rc = lf_store_run_find(st, argv[optind + i], &run, &err);
        ids[i] = run.id;
    }
    char tmp[PATH_MAX] = "";
    FILE *out = stdout;
    if (rc == 0 && out_path && strcmp(out_path, "-") != 0) {
        if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out_path, (long)getpid()) >= (int)sizeof tmp)
            rc = lf_error_set(&err, LF_ERANGE, "output path too long: %s", out_path);
        else if (!(out = fopen(tmp, "w")))
            rc = lf_error_set(&err, LF_EIO, "%s: %s", out_path, strerror(errno));
    }
    if (rc == 0)
        rc = csv ? lf_store_export_csv(st, ids, n, out, &err)
                 : lf_store_export_bundle(st, ids, n, out, &err);
    if (out && out != stdout) {
        if (fclose(out) != 0 && rc == 0)
            rc = lf_error_set(&err, LF_EIO, "%s: %s", out_path, strerror(errno));
        if (rc == 0 && rename(tmp, out_path) != 0)
            rc = lf_error_set(&err, LF_EIO, "%s: %s", out_path, strerror(errno));
        if (rc < 0)
            unlink(tmp);
    }
    free(ids);
    lf_store_close(st);
    return rc < 0 ? lf_cli_fail(&err) : LF_EXIT_OK;
}
