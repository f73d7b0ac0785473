/*
 * `localfit run` — the quick start: probe this device (full: bandwidth
 * curve and compute peaks), benchmark the quick suite, store everything,
 * recommend a model calibrated on what was just measured, and write the
 * HTML capability report, printing where it is. Each step is the library
 * call the separate commands make (probe, bench, recommend, report), so
 * `run` is their sum, not a variant of them.
 */
#include "bench/bench.h"
#include "catalog/catalog.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "probes/probes.h"
#include "recommend/recommend.h"
#include "reports/reports.h"
#include "store/store.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef LF_VERSION
#define LF_VERSION "0.0.0"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit run [--suite NAME|FILE] [-o DIR] [--db PATH] [--label L]\n"
            "                    [--min-tps N] [--context N] [--memory-fraction F]\n"
            "                    [--no-plots] [--quiet]\n\n"
            "Quick start: probe this device, benchmark a suite (default: quick, about\n"
            "a minute), store the results, recommend the best-fitting model calibrated\n"
            "on them, and write a self-contained HTML report.\n\n"
            "  --suite NAME|FILE     benchmark suite (default quick; datasets/suites/*.conf)\n"
            "  -o, --output DIR      report directory (default localfit-report)\n"
            "  --db PATH             results database (default $LOCALFIT_DB, else\n"
            "                        $XDG_DATA_HOME/localfit/results.db)\n"
            "  --label L             label for the stored run\n"
            "  --min-tps N, --context N, --memory-fraction F\n"
            "                        constraints of the recommendation (as `recommend`;\n"
            "                        default at least 5 tokens/s at 4096 tokens of context)\n"
            "  --no-plots            report without pictures\n"
            "  -q, --quiet           no progress on stderr\n\n"
            "Prints the recommendation and the report's path; exit status 1 if a step\n"
            "failed (what was stored stays stored).\n");
}

static void step(bool quiet, const char *fmt, const char *arg) {
    if (!quiet) {
        fprintf(stderr, "localfit run: ");
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
    }
}

/* The winner and the runners-up as a few lines. */
static void print_recommendation(const lf_rec_result *r, const lf_rec_constraints *k, int n_obs) {
    printf("\nRecommendation (context %lld, at least %g tokens/s, calibrated on %d measurement%s "
           "of this device):\n",
           (long long)k->context, k->min_tps, n_obs, n_obs == 1 ? "" : "s");
    if (r->winner < 0) {
        printf("  nothing fits the constraints (`localfit recommend` lists the reasons)\n");
        return;
    }
    for (int i = 0; i < r->n_fit && i < 3; i++) {
        const lf_rec_candidate *c = &r->cand[i];
        char mem[32];
        printf("  %d. %-28s %-7s quality %5.1f  %9s  tg %6.1f tok/s [%.1f-%.1f, %s]\n", c->rank,
               c->model->name, c->quant->name, c->quality,
               lf_format_bytes(mem, sizeof mem, (double)c->mem.total), c->tg.value, c->tg.lo,
               c->tg.hi, lf_rec_source_name(c->tg.source));
    }
}

/* Step 3: the recommendation calibrated on the store (the run just made
 * included), printed. */
static int recommend_step(lf_store *st, const lf_catalog *cat, const lf_device *dev,
                          const lf_rec_constraints *k, lf_error *err) {
    lf_rec_target t;
    lf_rec_observation *obs = NULL;
    int n_obs = 0;
    lf_rec_calibration cal;
    lf_rec_result rr;
    int rc;
    if ((rc = lf_rec_target_from_device(&t, dev, err)) < 0 ||
        (rc = lf_rec_observations_load(st, cat, dev, &obs, &n_obs, NULL, err)) < 0 ||
        (rc = lf_rec_calibrate(&cal, obs, n_obs, t.kind, err)) < 0 ||
        (rc = lf_rec_recommend(cat, &t, k, &cal, &rr, err)) < 0) {
        free(obs);
        return rc;
    }
    print_recommendation(&rr, k, n_obs);
    lf_rec_result_free(&rr);
    free(obs);
    return 0;
}

int cmd_run(int argc, char **argv) {
    enum { O_SUITE = 256, O_DB, O_LABEL, O_MIN_TPS, O_CONTEXT, O_MEMFRAC, O_NOPLOTS };
    static const struct option opts[] = {
        {"suite", required_argument, 0, O_SUITE},   {"output", required_argument, 0, 'o'},
        {"db", required_argument, 0, O_DB},         {"label", required_argument, 0, O_LABEL},
        {"min-tps", required_argument, 0, O_MIN_TPS},
        {"context", required_argument, 0, O_CONTEXT},
        {"memory-fraction", required_argument, 0, O_MEMFRAC},
        {"no-plots", no_argument, 0, O_NOPLOTS},    {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0},
    };
    const char *cmd = "run";
    const char *suite = "quick", *out_dir = "localfit-report", *db = NULL, *label = NULL;
    bool quiet = false;
    lf_report_opts ropts = {0};
    lf_rec_constraints k;
    lf_rec_constraints_init(&k);
    k.min_tps = 5;   /* as recommend: a reading speed */
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        char *end;
        double v;
        switch (c) {
        case O_SUITE: suite = optarg; break;
        case 'o': out_dir = optarg; break;
        case O_DB: db = optarg; break;
        case O_LABEL: label = optarg; break;
        case O_MIN_TPS:
        case O_CONTEXT:
        case O_MEMFRAC:
            v = strtod(optarg, &end);
            if (end == optarg || *end || !(v >= 0) || !isfinite(v) || (c != O_MIN_TPS && v == 0) ||
                (c == O_MEMFRAC && v > 1) || (c == O_CONTEXT && v > (1 << 24)))
                return lf_cli_usage_error(cmd, "bad value '%s'", optarg);
            if (c == O_MIN_TPS)
                k.min_tps = v;
            else if (c == O_CONTEXT)
                k.context = (int64_t)v;
            else
                k.memory_fraction = v;
            break;
        case O_NOPLOTS: ropts.no_plots = true; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option(cmd, argv, opts);
        }
    }
    if (optind < argc)
        return lf_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!*out_dir)
        return lf_cli_usage_error(cmd, "-o needs a directory");
    ropts.quiet = quiet;

    double t0 = lf_now_s();
    lf_error err = {0};
    int rc = LF_EXIT_FAIL;
    lf_store *st = NULL;
    lf_catalog *cat = NULL;
    lf_device *dev = calloc(1, sizeof *dev);
    lf_report_bundle *bundle = NULL;
    lf_bench_matrix m;
    lf_bench_matrix_init(&m);
    if (!dev) {
        lf_error_set(&err, LF_ENOMEM, "out of memory");
        rc = lf_cli_fail(&err);
        goto out;
    }
    if (lf_catalog_load(&cat, lf_cli_datadir(), &err) < 0 ||
        lf_suite_load(&m, suite, lf_cli_datadir(), &err) < 0 ||
        lf_store_open_path(&st, db, 0, &err) < 0) {
        rc = lf_cli_fail(&err);
        goto out;
    }

    /* 1. probe */
    step(quiet, "probing this device (bandwidth curve and compute peaks, a few seconds)%s", "");
    lf_device_opts po;
    lf_device_opts_init(&po);
    po.mode = LF_DEVICE_FULL;   /* measured afresh: the report shows this machine now */
    po.store = true;
    if (lf_device_current(st, &po, dev, NULL, 0, &err) < 0) {
        rc = lf_cli_fail(&err);
        goto out;
    }
    printf("Device: %s (id %s): %d usable threads, %.1f GiB usable, %.1f GB/s read, "
           "%.0f GOP/s int8\n",
           dev->slug, dev->id, dev->limits.usable_threads,
           (double)dev->limits.usable_memory / (1u << 30), dev->bandwidth.read_gbs,
           dev->compute.int8_gops_all);
    fflush(stdout);

    /* 2. bench, stored as it goes */
    step(quiet, "benchmarking suite %s", suite);
    lf_bench_opts bo;
    lf_bench_opts_init(&bo);
    bo.store = st;
    bo.device = dev;
    bo.datadir = lf_cli_datadir();
    bo.label = label;
    bo.quiet = quiet;
    bo.output = LF_BENCH_OUT_TABLE;
    bo.out = stdout;
    bo.skip_too_big = true;
    lf_cli_signals saved;
    bo.interrupted = lf_cli_interrupt_begin(&saved);
    lf_run run;
    int brc = lf_bench_run(&m, &bo, &run, &err);
    lf_cli_interrupt_end(&saved);
    if (brc < 0) {
        rc = lf_cli_fail(&err);
        goto out;
    }
    fflush(stdout);

    /* 3. recommend, calibrated on the store (this run included) */
    if (recommend_step(st, cat, dev, &k, &err) < 0) {
        rc = lf_cli_fail(&err);
        goto out;
    }

    /* 4. the report */
    step(quiet, "writing the report into %s", out_dir);
    lf_report_store_opts so = {.device = dev->id, .catalog = cat, .recommend = true,
                               .constraints = &k};
    if (lf_report_from_store(st, &so, &bundle, &err) < 0) {
        rc = lf_cli_fail(&err);
        goto out;
    }
    lf_report_input *in = lf_report_bundle_input(bundle);
    in->generated = (int64_t)time(NULL);
    in->tool_version = LF_VERSION;
    char path[4096];
    int wrc = lf_report_write(in, LF_REPORT_HTML, out_dir, &ropts, path, sizeof path, &err);
    if (wrc < 0 && wrc != LF_ETOOL) {
        rc = lf_cli_fail(&err);
        goto out;
    }
    printf("\nStored in %s (run %.8s); took %.0f s.\nReport: %s\n", lf_store_path(st), run.uuid,
           lf_now_s() - t0, path);
    rc = wrc == 0 ? LF_EXIT_OK : lf_cli_fail(&err);
out:
    lf_bench_matrix_free(&m);
    lf_report_bundle_free(bundle);
    free(dev);
    lf_catalog_free(cat);
    lf_store_close(st);
    return rc;
}
