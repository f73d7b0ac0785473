/*
 * `localfit compare` — the CI regression gate. Picks a candidate run (by
 * default the newest finished run) and a baseline run (by default the
 * newest complete run of the default branch, main or master, on the same
 * device), compares every matching test (bench.h, section 3), prints the
 * verdicts as markdown, JSON or JUnit XML, and exits with a status CI can
 * act on: 0 no regression (or no baseline yet: this run becomes it),
 * 1 regression, 2 usage or setup error, 3 nothing comparable or the
 * candidate incomplete. `--ab OLD NEW` runs two builds alternately instead
 * (compare_ab.c).
 *
 * A run can be named by uuid prefix, commit prefix, label or branch; a
 * prefix "run:", "commit:", "label:" or "branch:" says which when a name
 * could be read several ways.
 */
#include "bench/bench.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/compare_ab.h"
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Exit statuses beyond cli.h's: the gate's own. */
enum { EXIT_REGRESSION = 1, EXIT_SETUP = 2, EXIT_NOTHING = 3 };

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit compare [--baseline REF] [--candidate REF] [--threshold 5%%]\n"
            "                        [--alpha 0.01] [--normalize none|roof] [--format md|json|junit]\n"
            "                        [-o FILE] [--device ID] [--db PATH]\n"
            "       localfit compare [options above] [--pairs N] --ab OLD NEW [bench options]\n\n"
            "Compares the tests of two stored runs: per test the ratio of medians (speed,\n"
            "< 1 is slower) with a bootstrap 95%% CI and a Mann-Whitney U p-value. A test\n"
            "regressed when it is significantly slower (p < alpha) AND slower by more than\n"
            "the threshold. Where the sample sizes cannot reach alpha (3 + 3 samples: the\n"
            "smallest possible p is 0.10) only a clean, separated change counts; otherwise\n"
            "the test is inconclusive, never 'same'. The report gives, per run, the smallest\n"
            "slowdown its samples could have detected, and says when the machine itself was\n"
            "slower or faster (the runs' measured bandwidth roofs).\n\n"
            "--ab OLD NEW runs 'OLD bench [bench options]' and 'NEW bench [bench options]'\n"
            "alternately, N pairs in ABBA order (A B, B A, ...), each build into its own\n"
            "temporary database, and judges the pairs: drift and a neighbour's load hit both\n"
            "builds alike. OLD and NEW are executables; for a build that needs an\n"
            "environment, name a two-line wrapper script:\n"
            "    #!/bin/sh\n"
            "    LOCALFIT_ISA=scalar exec /path/to/localfit \"$@\"\n"
            "Compare options go before --ab; everything after OLD NEW goes to bench.\n\n"
            "REF is a run (uuid prefix), a commit (prefix), a label or a branch; write\n"
            "run:X, commit:X, label:X or branch:X to say which. For a commit, label or\n"
            "branch the newest matching run is used (for the baseline: the newest complete\n"
            "one on the candidate's device).\n\n"
            "Options:\n"
            "  --candidate REF   default: the newest finished run\n"
            "  --baseline REF    default: the newest complete run of branch main (else\n"
            "                    master, else any branch) on the candidate's device, other\n"
            "                    than the candidate; none yet: exit 0, the candidate becomes it\n"
            "  --threshold T     smallest slowdown that fails: 5%%, 0.05 or 5 (default 5%%)\n"
            "  --alpha A         significance level (default 0.01)\n"
            "  --normalize M     none (default) or roof: judge tokens/s per GB/s of each\n"
            "                    run's own bandwidth roof (cancels a slower machine)\n"
            "  --pairs N         A/B pairs (default 6; 4..256: 3 pairs lack the power)\n"
            "  --format F        md (default; for a pull-request comment), json, junit\n"
            "  -o, --output F    write the report to F instead of standard output\n"
            "  --device ID       only consider runs on this device\n"
            "  --db PATH         results database (default $LOCALFIT_DB, else\n"
            "                    $XDG_DATA_HOME/localfit/results.db)\n"
            "  -h, --help        this help\n\n"
            "Exit status:\n"
            "  0  no regression; or no baseline yet (said on stderr: this run becomes it)\n"
            "  1  regression: a test significantly slower by more than the threshold\n"
            "  2  usage or setup error: bad option, missing database, unknown --baseline or\n"
            "     --candidate, unwritable -o, a build that fails to run in --ab\n"
            "  3  nothing comparable (no test could be judged), or the candidate run is\n"
            "     incomplete (interrupted, or with no results)\n");
}

static bool all_hex(const char *s, bool dashes) {
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s) && !(dashes && *s == '-'))
            return false;
    return true;
}

/* The newest run matching f that is not running (complete only if
 * complete_only). */
static int newest(lf_store *st, lf_run_filter f, bool complete_only, lf_run *out, lf_error *err) {
    f.status = complete_only ? LF_RUN_COMPLETE : -1;
    f.limit = complete_only ? 1 : 0;
    lf_run *runs = NULL;
    int n = 0;
    int rc = lf_store_runs_list(st, &f, &runs, &n, err);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++)
        if (runs[i].status != LF_RUN_RUNNING) {
            *out = runs[i];
            free(runs);
            return 0;
        }
    free(runs);
    return LF_ENOTFOUND;
}

/* Resolves REF for one side. device/exclude narrow commit/label/branch
 * lookups; an explicit run is taken as named. */
static int resolve(lf_store *st, const char *ref, bool baseline, const char *device,
                   int64_t exclude, lf_run *out, lf_error *err) {
    const char *kind = NULL, *val = ref;
    static const char *const kinds[] = {"run:", "commit:", "label:", "branch:"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strncmp(ref, kinds[i], strlen(kinds[i]))) {
            kind = kinds[i];
            val = ref + strlen(kinds[i]);
        }
    if (!*val)
        return lf_error_set(err, LF_EINVAL, "empty reference '%s'", ref);
    lf_run_filter f = LF_RUN_FILTER_INIT;
    f.device_id = device;
    f.exclude_id = exclude;
    int rc;
    if (kind ? !strcmp(kind, "run:") : all_hex(val, true)) {
        rc = lf_store_run_find(st, val, out, err);
        if (rc != LF_ENOTFOUND || kind)
            return rc;
    }
    if (kind ? !strcmp(kind, "commit:") : (all_hex(val, false) && strlen(val) >= 4)) {
        f.commit = val;
        rc = newest(st, f, baseline, out, err);
        if (rc != LF_ENOTFOUND || kind)
            goto done;
        f.commit = NULL;
    }
    if (!kind || !strcmp(kind, "label:")) {
        f.label = val;
        rc = newest(st, f, baseline, out, err);
        if (rc != LF_ENOTFOUND || kind)
            goto done;
        f.label = NULL;
    }
    f.branch = val;
    rc = newest(st, f, baseline, out, err);
done:
    if (rc == LF_ENOTFOUND)
        return lf_error_set(err, rc, "no %s%srun matches '%s'%s%s", baseline ? "complete " : "",
                            baseline ? "baseline " : "candidate ", ref,
                            device ? " on device " : "", device ? device : "");
    return rc;
}

static int parse_threshold(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0)
        return LF_EINVAL;
    if (*end == '%') {
        end++;
        v /= 100;
    } else if (v >= 1) {
        v /= 100;   /* "5" means 5% */
    }
    if (*end || v >= 1)
        return LF_EINVAL;
    *out = v;
    return 0;
}

/* Writes the report in format to out_path (NULL or "-": stdout). Returns
 * 0, or EXIT_SETUP after printing why. */
static int write_report(const lf_compare_report *rep, const char *format, const char *out_path) {
    lf_error err = {0};
    FILE *out = stdout;
    if (out_path && strcmp(out_path, "-") != 0 && !(out = fopen(out_path, "w"))) {
        lf_error_set(&err, LF_EIO, "%s: %s", out_path, strerror(errno));
        lf_cli_fail(&err);
        return EXIT_SETUP;
    }
    int rc = !strcmp(format, "json") ? lf_compare_write_json(rep, out)
             : !strcmp(format, "junit") ? lf_compare_write_junit(rep, out)
                                        : lf_compare_write_md(rep, out);
    if (out != stdout && fclose(out) != 0)
        rc = LF_EIO;
    if (rc < 0) {
        lf_error_set(&err, LF_EIO, "writing the report: %s", out_path ? out_path : "stdout");
        lf_cli_fail(&err);
        return EXIT_SETUP;
    }
    return 0;
}

/* The status of a finished comparison, with a line on stderr saying why. */
static int verdict_status(const lf_compare_report *rep) {
    fprintf(stderr, "localfit compare: %s %.8s, %s %.8s: %d tests, %d regression%s, %d improvement%s, "
                    "%d inconclusive\n",
            rep->paired ? "A" : "baseline", rep->baseline.uuid, rep->paired ? "B" : "candidate",
            rep->candidate.uuid, rep->n_rows, rep->n_regressions, rep->n_regressions == 1 ? "" : "s",
            rep->n_improvements, rep->n_improvements == 1 ? "" : "s", rep->n_inconclusive);
    if (rep->n_regressions > 0)
        return EXIT_REGRESSION;
    if (!rep->paired && (rep->candidate.status != LF_RUN_COMPLETE || rep->candidate.n_results == 0)) {
        fprintf(stderr, "localfit compare: the candidate run %.8s is %s with %d result%s: not a "
                        "verdict (exit 3)\n",
                rep->candidate.uuid, lf_run_status_name(rep->candidate.status),
                rep->candidate.n_results, rep->candidate.n_results == 1 ? "" : "s");
        return EXIT_NOTHING;
    }
    if (!lf_compare_judged_any(rep)) {
        fprintf(stderr, "localfit compare: nothing comparable: no test could be judged (%d "
                        "unmatched, %d inconclusive, %d untested) (exit 3)\n",
                rep->n_unmatched, rep->n_inconclusive, rep->n_untested);
        return EXIT_NOTHING;
    }
    return LF_EXIT_OK;
}

/* The end of both modes: a failed comparison (rc < 0) is a setup error;
 * else the report is written and the verdict decides. Frees rep. */
static int conclude(lf_compare_report *rep, int rc, lf_error *err, const char *format,
                    const char *out_path) {
    if (rc < 0) {
        lf_cli_fail(err);
        return EXIT_SETUP;
    }
    int wst = write_report(rep, format, out_path);
    int status = wst ? wst : verdict_status(rep);
    lf_compare_report_free(rep);
    return status;
}

/* What the command line asked for. */
typedef struct compare_args {
    const char *base_ref, *cand_ref, *format, *out_path, *device, *db;
    lf_compare_opts o;
    int pairs;
    int ab;                      /* argv index of --ab, -1 without */
} compare_args;

/* The getopt loop over compare's own options (those before --ab OLD NEW;
 * what follows belongs to bench). Returns -1 to go on, else the exit
 * status: a usage error, or 0 after --help. */
static int parse_args(int argc, char **argv, compare_args *a) {
    static const struct option longopts[] = {
        {"baseline", required_argument, NULL, 'b'}, {"candidate", required_argument, NULL, 'c'},
        {"threshold", required_argument, NULL, 't'}, {"alpha", required_argument, NULL, 'a'},
        {"format", required_argument, NULL, 'f'},  {"output", required_argument, NULL, 'o'},
        {"device", required_argument, NULL, 'd'},  {"db", required_argument, NULL, 'D'},
        {"normalize", required_argument, NULL, 'N'}, {"pairs", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    a->ab = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--ab")) {
            a->ab = i;
            break;
        }
    }
    if (a->ab > 0 && a->ab + 2 >= argc)
        return lf_cli_usage_error("compare", "--ab needs two builds: --ab OLD NEW [bench options]");
    int own_argc = a->ab > 0 ? a->ab : argc;
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(own_argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': a->base_ref = optarg; break;
        case 'c': a->cand_ref = optarg; break;
        case 't':
            if (parse_threshold(optarg, &a->o.threshold) < 0)
                return lf_cli_usage_error("compare", "bad --threshold '%s' (e.g. 5%% or 0.05)",
                                          optarg);
            break;
        case 'a':
            a->o.alpha = strtod(optarg, &end);
            if (*end || !(a->o.alpha > 0 && a->o.alpha < 1))
                return lf_cli_usage_error("compare", "--alpha must be in (0, 1), not '%s'", optarg);
            break;
        case 'N':
            if (!strcmp(optarg, "roof"))
                a->o.normalize = LF_NORM_ROOF;
            else if (!strcmp(optarg, "none"))
                a->o.normalize = LF_NORM_NONE;
            else
                return lf_cli_usage_error("compare", "--normalize is none or roof, not '%s'", optarg);
            break;
        case 'P': {
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 4 || v > 256)
                return lf_cli_usage_error("compare", "--pairs must be 4..256, not '%s'", optarg);
            a->pairs = (int)v;
            break;
        }
        case 'f':
            if (strcmp(optarg, "md") && strcmp(optarg, "json") && strcmp(optarg, "junit"))
                return lf_cli_usage_error("compare", "unknown format '%s' (md, json, junit)", optarg);
            a->format = optarg;
            break;
        case 'o': a->out_path = optarg; break;
        case 'd': a->device = optarg; break;
        case 'D': a->db = optarg; break;
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_usage_error("compare", "unknown option");
        }
    }
    if (optind < own_argc)
        return lf_cli_usage_error("compare", "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* The candidate: --candidate, else the newest finished run (on --device).
 * Returns -1 when found, else the exit status (message printed). */
static int pick_candidate(lf_store *st, const compare_args *a, lf_run *cand) {
    lf_error err = {0};
    int rc;
    if (a->cand_ref) {
        if ((rc = resolve(st, a->cand_ref, false, a->device, 0, cand, &err)) < 0) {
            lf_cli_fail(&err);
            return EXIT_SETUP;
        }
        return -1;
    }
    lf_run_filter f = LF_RUN_FILTER_INIT;
    f.device_id = a->device;
    if ((rc = newest(st, f, false, cand, &err)) < 0) {
        if (rc == LF_ENOTFOUND)
            lf_error_set(&err, rc, "no finished run to compare in %s", lf_store_path(st));
        lf_cli_fail(&err);
        return rc == LF_ENOTFOUND ? EXIT_NOTHING : EXIT_SETUP;
    }
    return -1;
}

/* The default baseline on device dev (NULL any): the newest complete run
 * of main, else master, else of any branch, other than the candidate.
 * LF_ENOTFOUND when there is none. */
static int default_baseline(lf_store *st, const char *dev, const lf_run *cand, lf_run *base,
                            lf_error *err) {
    int rc = lf_store_find_baseline(st, dev, "main", NULL, NULL, cand->id, base, err);
    if (rc == LF_ENOTFOUND)
        rc = lf_store_find_baseline(st, dev, "master", NULL, NULL, cand->id, base, err);
    if (rc == LF_ENOTFOUND) {
        /* No run of the default branch yet: the newest complete run of any
         * branch on this device, so a gate with one cache (the README
         * recipe) gates from its second run on. */
        lf_run_filter f = LF_RUN_FILTER_INIT;
        f.device_id = dev;
        f.exclude_id = cand->id;
        rc = newest(st, f, true, base, err);
    }
    return rc;
}

/* No baseline yet: says so, and a complete candidate becomes the baseline
 * (exit 0) with the report file still written, so a CI step that uploads
 * or posts it finds one; an incomplete one cannot (exit 3). */
static int no_baseline(const compare_args *a, const char *dev, const lf_run *cand) {
    bool usable = cand->status == LF_RUN_COMPLETE && cand->n_results > 0;
    fprintf(stderr, "localfit compare: no baseline yet: no other complete run%s%s in %s. "
                    "%s\n",
            dev ? " on device " : "", dev ? dev : "", a->db ? a->db : "the database",
            usable ? "Nothing to compare; the candidate run becomes the baseline for "
                     "later runs (exit 0)."
                   : "The candidate run is incomplete and cannot become a baseline (exit 3).");
    if (!usable)
        return EXIT_NOTHING;
    lf_error err = {0};
    FILE *out = stdout;
    if (a->out_path && strcmp(a->out_path, "-") != 0 && !(out = fopen(a->out_path, "w"))) {
        lf_error_set(&err, LF_EIO, "%s: %s", a->out_path, strerror(errno));
        lf_cli_fail(&err);
        return EXIT_SETUP;
    }
    if (!strcmp(a->format, "json"))
        fprintf(out, "{\n  \"schema\": \"localfit.compare/1\",\n  \"baseline\": null,\n"
                     "  \"candidate\": {\"uuid\": \"%s\"},\n  \"summary\": {\"tests\": 0, "
                     "\"regressions\": 0, \"no_baseline\": true}\n}\n",
                cand->uuid);
    else if (!strcmp(a->format, "junit"))
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"localfit "
              "compare\" tests=\"0\" failures=\"0\"/>\n", out);
    else
        fprintf(out, "### localfit compare: no baseline yet\n\nRun %.8s (%d tests) is stored "
                     "and becomes the baseline for later runs.\n",
                cand->uuid, cand->n_results);
    if ((out != stdout ? fclose(out) : fflush(out)) != 0) {
        lf_error_set(&err, LF_EIO, "writing the report: %s", a->out_path ? a->out_path : "stdout");
        lf_cli_fail(&err);
        return EXIT_SETUP;
    }
    return LF_EXIT_OK;
}

/* Two stored runs: the candidate and its baseline picked, loaded and
 * compared. Returns the exit status. */
static int compare_stored(compare_args *a) {
    lf_error err = {0};
    lf_store *st = NULL;
    if (lf_store_open_path(&st, a->db, LF_STORE_NOCREATE | LF_STORE_RO_FALLBACK, &err) < 0) {
        lf_cli_fail(&err);
        return EXIT_SETUP;
    }
    lf_run cand, base;
    int status = pick_candidate(st, a, &cand);
    if (status >= 0) {
        lf_store_close(st);
        return status;
    }
    const char *dev = a->device ? a->device : (cand.device_id[0] ? cand.device_id : NULL);
    int rc = a->base_ref ? resolve(st, a->base_ref, true, dev, cand.id, &base, &err)
                         : default_baseline(st, dev, &cand, &base, &err);
    if (rc < 0) {
        lf_store_close(st);
        if (rc == LF_ENOTFOUND && !a->base_ref)
            return no_baseline(a, dev, &cand);
        lf_cli_fail(&err);
        return EXIT_SETUP;
    }
    if (strcmp(base.device_id, cand.device_id) != 0)
        lf_warn("baseline %.8s and candidate %.8s ran on different devices (%s, %s): "
                "differences may be the hardware's", base.uuid, cand.uuid,
                base.device_id[0] ? base.device_id : "?", cand.device_id[0] ? cand.device_id : "?");

    lf_compare_report rep;
    memset(&rep, 0, sizeof rep);
    lf_run_full bf, cf;
    memset(&bf, 0, sizeof bf);
    memset(&cf, 0, sizeof cf);
    if ((rc = lf_store_run_load(st, base.id, &bf, &err)) == 0 &&
        (rc = lf_store_run_load(st, cand.id, &cf, &err)) == 0)
        rc = lf_compare_runs(&bf, &cf, &a->o, &rep, &err);
    lf_run_full_free(&bf);
    lf_run_full_free(&cf);
    lf_store_close(st);
    return conclude(&rep, rc, &err, a->format, a->out_path);
}

int cmd_compare(int argc, char **argv) {
    compare_args a = {.format = "md", .o = LF_COMPARE_OPTS_INIT, .pairs = 6};
    int status = parse_args(argc, argv, &a);
    if (status >= 0)
        return status;
    if (a.ab < 0)
        return compare_stored(&a);
    if (a.base_ref || a.cand_ref || a.db || a.device)
        return lf_cli_usage_error("compare", "--ab runs its own builds: --baseline, --candidate, "
                                             "--db and --device do not apply (give bench options "
                                             "after OLD NEW)");
    lf_error err = {0};
    lf_compare_report rep;
    memset(&rep, 0, sizeof rep);
    int ab = a.ab;
    int rc = lf_cli_compare_ab(argv[ab + 1], argv[ab + 2], argc - ab - 3, argv + ab + 3, a.pairs, &a.o,
                               stderr, &rep, &err);
    return conclude(&rep, rc, &err, a.format, a.out_path);
}
