/*
 * `localfit import` — brings llama-bench JSON / JSONL output and localfit
 * bundles into the results database. Each file is one transaction (all of
 * it or nothing); runs already present (same uuid) are skipped, so
 * importing twice adds nothing.
 */
#include "bench/bench.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "store/store.h"

#include <getopt.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit import FILE... [--label L] [--device ID] [--format F] [--db PATH]\n\n"
            "Imports benchmark results; FILE may be - for standard input.\n"
            "  llama-bench -o json / -o jsonl   one run per build and machine; the run\n"
            "                                   uuid is derived from the records\n"
            "  localfit bundle (localfit export) devices, runs, results, samples, quality\n\n"
            "Options:\n"
            "  --label L      label the imported llama-bench runs\n"
            "  --device ID    attach llama-bench runs to this stored device (e.g. this\n"
            "                 machine, from `localfit runs`) instead of one made from\n"
            "                 llama-bench's cpu_info / gpu_info\n"
            "  --format F     auto (default), bundle, llama-json, llama-jsonl\n"
            "  --db PATH      results database (default $LOCALFIT_DB, else\n"
            "                 $XDG_DATA_HOME/localfit/results.db)\n"
            "  -h, --help     this help\n");
}

static const char *format_name(lf_import_format f) {
    switch (f) {
    case LF_IMPORT_BUNDLE: return "localfit bundle";
    case LF_IMPORT_LLAMA_JSON: return "llama-bench JSON";
    case LF_IMPORT_LLAMA_JSONL: return "llama-bench JSONL";
    default: return "?";
    }
}

int cmd_import(int argc, char **argv) {
    static const struct option longopts[] = {
        {"label", required_argument, NULL, 'l'}, {"device", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'f'}, {"db", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    lf_import_opts o = {.format = LF_IMPORT_AUTO, .summarize = lf_stats_fill_result};
    const char *db = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': o.label = optarg; break;
        case 'd': o.device_id = optarg; break;
        case 'f':
            if (!strcmp(optarg, "auto"))
                o.format = LF_IMPORT_AUTO;
            else if (!strcmp(optarg, "bundle"))
                o.format = LF_IMPORT_BUNDLE;
            else if (!strcmp(optarg, "llama-json"))
                o.format = LF_IMPORT_LLAMA_JSON;
            else if (!strcmp(optarg, "llama-jsonl"))
                o.format = LF_IMPORT_LLAMA_JSONL;
            else
                return lf_cli_usage_error("import", "unknown format '%s'", optarg);
            break;
        case 'D': db = optarg; break;
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option("import", argv, longopts);
        }
    }
    if (optind >= argc)
        return lf_cli_usage_error("import", "no file to import");
    lf_store *st = NULL;
    lf_error err = {0};
    if (lf_store_open_path(&st, db, 0, &err) < 0)
        return lf_cli_fail(&err);
    int status = LF_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        lf_import_stats s;
        if (lf_store_import_file(st, argv[i], &o, &s, &err) < 0) {
            lf_cli_fail(&err);
            status = LF_EXIT_FAIL;
            continue;
        }
        printf("%s: %s: %d run%s added (%d results%s), %d already present", argv[i],
               format_name(s.format), s.runs_added, s.runs_added == 1 ? "" : "s", s.results_added,
               s.quality_added ? ", quality rows too" : "", s.runs_skipped);
        if (s.devices_added)
            printf(", %d new device%s", s.devices_added, s.devices_added == 1 ? "" : "s");
        putchar('\n');
    }
    lf_store_close(st);
    return status;
}
