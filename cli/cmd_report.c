/*
 * `localfit report`: a capability report (markdown, self-contained HTML or
 * JSON, with gnuplot plots) for one device, optionally compared with
 * others. The reports module renders from plain input structs; this file
 * has them filled from the results store (lf_report_from_store: profiles,
 * results, quality, recommendations, history) or, with --demo, from the
 * built-in sample.
 */
#include "bench/bench.h"
#include "catalog/catalog.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "recommend/recommend.h"
#include "reports/reports.h"
#include "store/store.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef LF_VERSION
#define LF_VERSION "0.0.0"
#endif

#define MAX_COMPARE 8

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit report [--device ID] [--compare ID...] [--format md|html|json]\n"
            "                       [-o DIR] [--db PATH] [--min-tps N] [--context N]\n"
            "                       [--demo] [--no-plots] [--gnuplot PROG]\n\n"
            "Writes a capability report: device profile, roofline, tokens/s by model x\n"
            "quant, quality vs bits per weight, thread scaling, regression history,\n"
            "device comparison and recommendations, with plots drawn by gnuplot.\n\n"
            "  --device ID        device to report on (default: this machine's)\n"
            "  --compare ID...    other devices to compare with (repeatable, up to %d)\n"
            "  --format FMT       md, html (self-contained, default) or json\n"
            "  -o, --output DIR   directory for report.*, results.csv and the plots\n"
            "                     (default: localfit-report)\n"
            "  --db PATH          results database (default: $LOCALFIT_DB, else\n"
            "                     $XDG_DATA_HOME/localfit/results.db)\n"
            "  --demo             render the built-in SAMPLE data (labelled as such)\n"
            "  --no-plots         no pictures (the report says so)\n"
            "  --gnuplot PROG     gnuplot program to run (default: gnuplot from PATH)\n"
            "  --min-tps N        recommendation table: decode tokens/s needed (default 5)\n"
            "  --context N        recommendation table: context tokens (default 4096)\n"
            "  -q, --quiet        no warnings on stderr (they stay in the report)\n\n"
            "Prints the report's path. Exit status 1 when a plot failed (the report is\n"
            "still written and says which), 2 on a usage error.\n",
            MAX_COMPARE);
}

/* Adds a hint after the message of err. */
static void hint(lf_error *err, const char *h) {
    size_t l = strlen(err->msg);
    if (l + 3 < sizeof err->msg)
        snprintf(err->msg + l, sizeof err->msg - l, "; %s", h);
}

/* Fills the input from the results store for device (NULL = this machine)
 * and the compared devices. *bundle owns the input. Returns 0, or LF_E*
 * with err set (naming --demo when the store has nothing to report). */
static int load_input_from_store(const char *db, const char *device,
                                 const char *const *compare, int n_compare,
                                 const lf_rec_constraints *k, bool quiet,
                                 lf_report_bundle **bundle, lf_error *err) {
    lf_store *st = NULL;
    lf_catalog *cat = NULL;
    int rc = lf_store_open_path(&st, db, LF_STORE_NOCREATE | LF_STORE_RO_FALLBACK, err);
    if (rc == LF_ENOTFOUND)
        hint(err, "no results yet: run `localfit run` or `localfit bench` first "
                  "('localfit report --demo' renders a sample report)");
    if (rc < 0)
        goto out;
    if ((rc = lf_catalog_load(&cat, lf_cli_datadir(), err)) < 0)
        goto out;
    /* without --device: this machine, if the store knows it (a quick
     * probe for its id; reports themselves never probe) */
    char this_id[sizeof ((lf_device *)0)->id] = "";
    lf_device *now = device ? NULL : malloc(sizeof *now);
    if (now && lf_device_current(NULL, NULL, now, NULL, 0, NULL) == 0)
        lf_strlcpy(this_id, now->id, sizeof this_id);
    free(now);
    lf_report_store_opts o = {.device = device, .this_device = this_id, .compare = compare,
                              .n_compare = n_compare, .catalog = cat, .recommend = true,
                              .constraints = k};
    rc = lf_report_from_store(st, &o, bundle, err);
    if (rc == LF_ENOTFOUND)
        hint(err, "'localfit report --demo' renders a sample report");
    else if (rc == 0 && !quiet && !device)
        fprintf(stderr, "localfit report: reporting on %s\n", lf_report_bundle_note(*bundle));
out:
    lf_catalog_free(cat);
    lf_store_close(st);
    return rc;
}

int cmd_report(int argc, char **argv) {
    static const struct option longopts[] = {
        {"device", required_argument, NULL, 'd'},
        {"compare", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"db", required_argument, NULL, 'b'},
        {"demo", no_argument, NULL, 'D'},
        {"no-plots", no_argument, NULL, 'P'},
        {"gnuplot", required_argument, NULL, 'g'},
        {"quiet", no_argument, NULL, 'q'},
        {"min-tps", required_argument, NULL, 'T'},
        {"context", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *device = NULL, *out_dir = "localfit-report", *db = NULL;
    lf_rec_constraints k;
    lf_rec_constraints_init(&k);
    k.min_tps = 5;   /* as recommend: a reading speed */
    bool k_given = false;
    const char *compare[MAX_COMPARE];
    int n_compare = 0;
    bool demo = false, compare_seen = false;
    lf_report_format fmt = LF_REPORT_HTML;
    lf_report_opts opts = {0};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 'c':
            if (n_compare == MAX_COMPARE)
                return lf_cli_usage_error(argv[0], "at most %d devices to --compare", MAX_COMPARE);
            compare[n_compare++] = optarg;
            compare_seen = true;
            break;
        case 'f':
            if (lf_report_format_parse(optarg, &fmt) < 0)
                return lf_cli_usage_error(argv[0], "unknown format '%s' (md, html or json)",
                                          optarg);
            break;
        case 'o': out_dir = optarg; break;
        case 'b': db = optarg; break;
        case 'D': demo = true; break;
        case 'P': opts.no_plots = true; break;
        case 'g': opts.gnuplot = optarg; break;
        case 'q': opts.quiet = true; break;
        case 'T':
        case 'C': {
            char *end;
            double v = strtod(optarg, &end);
            if (end == optarg || *end || !(v >= 0) || v > (1 << 24) || (c == 'C' && v < 1))
                return lf_cli_usage_error(argv[0], "bad value '%s'", optarg);
            if (c == 'T')
                k.min_tps = v;
            else
                k.context = (int64_t)v;
            k_given = true;
            break;
        }
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option(argv[0], argv, longopts);
        }
    }
    /* `--compare A B C`: the operands after the first ID are more IDs. */
    for (; optind < argc; optind++) {
        if (!compare_seen)
            return lf_cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
        if (n_compare == MAX_COMPARE)
            return lf_cli_usage_error(argv[0], "at most %d devices to --compare", MAX_COMPARE);
        compare[n_compare++] = argv[optind];
    }
    if (!*out_dir)
        return lf_cli_usage_error(argv[0], "-o needs a directory");
    if (demo && (device || n_compare || db || k_given))
        return lf_cli_usage_error(argv[0], "--demo renders sample data; it takes no --device, "
                                           "--compare, --db, --min-tps or --context");

    lf_error err = {0};
    lf_report_input in;
    lf_report_sample *sample = NULL;
    lf_report_bundle *bundle = NULL;
    int rc;
    if (demo) {
        if ((rc = lf_report_sample_new((int64_t)time(NULL), &sample, &err)) < 0)
            return lf_cli_fail(&err);
        in = *lf_report_sample_input(sample);
        in.tool_version = LF_VERSION;
    } else {
        if ((rc = load_input_from_store(db, device, compare, n_compare, &k, opts.quiet,
                                        &bundle, &err)) < 0)
            return lf_cli_fail(&err);
        in = *lf_report_bundle_input(bundle);
        in.generated = (int64_t)time(NULL);
        in.tool_version = LF_VERSION;
    }
    char path[4096];
    rc = lf_report_write(&in, fmt, out_dir, &opts, path, sizeof path, &err);
    lf_report_sample_free(sample);
    lf_report_bundle_free(bundle);
    if (rc == 0 || rc == LF_ETOOL)
        printf("%s\n", path);
    return rc < 0 ? lf_cli_fail(&err) : LF_EXIT_OK;
}
