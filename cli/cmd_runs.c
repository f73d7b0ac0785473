/*
 * `localfit runs` — the stored history: list runs (filtered), show one run
 * with its results (and, with --json, every sample), delete a run with
 * everything under it. Runs are named by uuid prefixes, like git commits.
 * Text from stored files (model names, labels) is printed with control
 * characters replaced so it cannot drive the terminal.
 */
#include "cli/args.h"
#include "cli/cli.h"
#include "probes/probes.h"
#include "recommend/recommend.h"
#include "store/store.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit runs [list] [--device ID] [--label L] [--branch B] [--commit SHA]\n"
            "                     [--limit N] [--db PATH] [--json]\n"
            "       localfit runs show RUN [--db PATH] [--json]\n"
            "       localfit runs delete RUN [--db PATH]\n\n"
            "List, show or delete stored benchmark runs. RUN is a run uuid or any unique\n"
            "prefix of it (as `runs list` prints).\n\n"
            "Options:\n"
            "  --device ID     only runs on this device\n"
            "  --label L       only runs with this label\n"
            "  --branch B      only runs of this git branch\n"
            "  --commit SHA    only runs of commits starting with SHA\n"
            "  --limit N       at most N runs, newest first (default 50; 0 = all)\n"
            "  --db PATH       results database (default $LOCALFIT_DB, else\n"
            "                  $XDG_DATA_HOME/localfit/results.db)\n"
            "  --json          machine-readable output (show: with every sample)\n"
            "  -h, --help      this help\n\n"
            "A run whose process died shows as `interrupted`; it keeps every result it\n"
            "finished.\n");
}

/* Copies s (stored text: imported from strangers' bundles, model names
 * from GGUF metadata) with control characters, C1 codes, bidi overrides
 * and bad UTF-8 shown as visible escapes, so none can drive the terminal. */
static const char *safe(const char *s, char *buf, size_t size) {
    return lf_text_clean(buf, size, s, true);
}

static void print_time(int64_t ms, char *buf, size_t size) {
    lf_format_time_ms(ms, buf, size);
    /* "2025-04-24T11:58:50.123Z" -> "2025-04-24 11:58:50" for the table. */
    if (strlen(buf) >= 19) {
        buf[10] = ' ';
        buf[19] = '\0';
    } else if (!buf[0]) {
        lf_strlcpy(buf, "-", size);
    }
}

/* --device as recommend and report take it (id, id prefix or slug) into
 * the stored id in *fl; an unknown device fails naming it and the stored
 * ones, rather than listing nothing. 0, or the exit status. */
static int resolve_device(lf_store *st, lf_run_filter *fl, char *id, size_t id_size) {
    if (!fl->device_id)
        return 0;
    lf_device *d = malloc(sizeof *d);
    lf_error err = {0};
    if (!d) {
        lf_error_set(&err, LF_ENOMEM, "out of memory");
        return lf_cli_fail(&err);
    }
    int rc = lf_rec_device_find(st, fl->device_id, d, &err);
    if (rc == 0 || err.code == LF_EFORMAT) {   /* an unparsed profile still has its id */
        lf_strlcpy(id, rc == 0 ? d->id : fl->device_id, id_size);
        fl->device_id = id;
    }
    free(d);
    return rc < 0 && err.code != LF_EFORMAT ? lf_cli_fail(&err) : 0;
}

static int do_list(lf_store *st, const lf_run_filter *f0, bool json) {
    lf_run *runs = NULL;
    int n = 0;
    lf_error err = {0};
    lf_run_filter fl = *f0, *f = &fl;
    char dev_id[128];
    int bad = resolve_device(st, &fl, dev_id, sizeof dev_id);
    if (bad)
        return bad;
    if (lf_store_runs_list(st, f, &runs, &n, &err) < 0)
        return lf_cli_fail(&err);
    if (json) {
        char *text = NULL;
        if (lf_store_runs_to_json(runs, n, &text, &err) < 0) {
            free(runs);
            return lf_cli_fail(&err);
        }
        puts(text);
        free(text);
        free(runs);
        return LF_EXIT_OK;
    }
    if (n == 0) {
        printf("no runs in %s\n", lf_store_path(st));
        free(runs);
        return LF_EXIT_OK;
    }
    printf("%-8s  %-19s  %-11s  %-24s  %-10s  %-16s  %-16s  %-12s  %s\n", "RUN", "STARTED",
           "STATUS", "DEVICE", "COMMIT", "BRANCH", "LABEL", "SUITE", "RESULTS");
    for (int i = 0; i < n; i++) {
        const lf_run *r = &runs[i];
        char t[40], dev[80], br[256], lab[128], su[64], commit[48];
        print_time(r->started_ms, t, sizeof t);
        char c8[9], c8safe[40];
        lf_strlcpy(c8, r->git_commit[0] ? r->git_commit : "-", sizeof c8);
        snprintf(commit, sizeof commit, "%.12s%s", safe(c8, c8safe, sizeof c8safe),
                 r->git_dirty == 1 ? "+" : "");
        printf("%.8s  %-19s  %-11s  %-24.24s  %-10s  %-16.16s  %-16.16s  %-12.12s  %d\n", r->uuid,
               t, lf_run_status_name(r->status),
               safe(r->device_slug[0] ? r->device_slug : (r->device_id[0] ? r->device_id : "-"),
                    dev, sizeof dev),
               commit, safe(r->git_branch[0] ? r->git_branch : "-", br, sizeof br),
               safe(r->label[0] ? r->label : "-", lab, sizeof lab),
               safe(r->suite[0] ? r->suite : "-", su, sizeof su), r->n_results);
    }
    if (f->limit > 0 && n == f->limit)
        fprintf(stderr, "(newest %d shown; --limit 0 for all)\n", n);
    free(runs);
    return LF_EXIT_OK;
}

static void fmt_num(double v, char *buf, size_t size) {
    if (isnan(v))
        lf_strlcpy(buf, "-", size);
    else
        snprintf(buf, size, "%.2f", v);
}

static int do_show(lf_store *st, const char *id, bool json) {
    lf_error err = {0};
    lf_run run;
    if (lf_store_run_find(st, id, &run, &err) < 0)
        return lf_cli_fail(&err);
    lf_run_full rf;
    if (lf_store_run_load(st, run.id, &rf, &err) < 0)
        return lf_cli_fail(&err);
    if (json) {
        char *text = NULL;
        int rc = lf_store_run_full_to_json(&rf, true, &text, &err);
        lf_run_full_free(&rf);
        if (rc < 0)
            return lf_cli_fail(&err);
        puts(text);
        free(text);
        return LF_EXIT_OK;
    }
    const lf_run *r = &rf.run;
    char b1[512], b2[512], b3[256], t1[40], t2[40];
    printf("run        %s\n", r->uuid);
    printf("status     %s\n", lf_run_status_name(r->status));
    print_time(r->started_ms, t1, sizeof t1);
    print_time(r->finished_ms, t2, sizeof t2);
    printf("time       %s UTC -> %s\n", t1, t2);
    printf("device     %s (%s)\n", safe(r->device_slug[0] ? r->device_slug : "-", b1, sizeof b1),
           safe(r->device_id[0] ? r->device_id : "-", b2, sizeof b2));
    printf("build      %s, commit %s%s, branch %s\n", safe(r->tool_version, b1, sizeof b1),
           safe(r->git_commit[0] ? r->git_commit : "-", b3, sizeof b3),
           r->git_dirty == 1 ? " (dirty)" : "",
           safe(r->git_branch[0] ? r->git_branch : "-", b2, sizeof b2));
    printf("compiler   %s  %s\n", safe(r->compiler[0] ? r->compiler : "-", b1, sizeof b1),
           safe(r->cflags, b2, sizeof b2));
    printf("suite      %s", safe(r->suite[0] ? r->suite : "-", b1, sizeof b1));
    printf("   label %s   host %s\n\n", safe(r->label[0] ? r->label : "-", b1, sizeof b1),
           safe(r->host[0] ? r->host : "-", b2, sizeof b2));
    if (rf.n_results > 0) {
        printf("%-13s %-28s %-8s %-16s %3s %8s %12s %-21s %-8s %s\n", "TEST", "MODEL", "QUANT",
               "ADAPTER", "T", "DEPTH", "MEDIAN", "95% CI", "UNIT", "N");
        for (int i = 0; i < rf.n_results; i++) {
            const lf_result *x = &rf.results[i];
            char what[32], ci[64], lo[24], hi[24], med[24], ad[64] = "-", q[40], mm[128];
            switch (x->kind) {
            case LF_TEST_PP: snprintf(what, sizeof what, "pp%d", x->n_prompt); break;
            case LF_TEST_TG: snprintf(what, sizeof what, "tg%d", x->n_gen); break;
            case LF_TEST_PG: snprintf(what, sizeof what, "pp%d+tg%d", x->n_prompt, x->n_gen); break;
            case LF_TEST_TTFT: snprintf(what, sizeof what, "ttft%d", x->n_prompt); break;
            default: snprintf(what, sizeof what, "%s", lf_test_kind_name(x->kind)); break;
            }
            if (x->n_adapters > 0)
                snprintf(ad, sizeof ad, "%dx r%d %s", x->n_adapters, x->adapter_rank,
                         lf_adapter_mode_name(x->adapter_mode));
            fmt_num(x->median, med, sizeof med);
            fmt_num(x->ci_low, lo, sizeof lo);
            fmt_num(x->ci_high, hi, sizeof hi);
            snprintf(ci, sizeof ci, "%s - %s", lo, hi);
            printf("%-13s %-28.28s %-8.8s %-16.16s %3d %8d %12s %-21s %-8s %d\n", what,
                   safe(x->model, mm, sizeof mm), safe(x->quant[0] ? x->quant : "-", q, sizeof q),
                   ad, x->threads, x->n_depth, med, ci, lf_unit_name(x->unit),
                   rf.n_samples_stored[i]);
        }
    } else {
        printf("no results\n");
    }
    if (rf.n_quality > 0) {
        printf("\n%-28s %-10s %10s %10s %10s %10s\n", "QUALITY MODEL", "VARIANT", "PPL",
               "KLD MEAN", "KLD P99", "SAME TOP");
        for (int i = 0; i < rf.n_quality; i++) {
            const lf_quality *q = &rf.quality[i];
            char a[24], b[24], c[24], d[24], mm[128], vv[64];
            snprintf(a, sizeof a, isnan(q->ppl) ? "-" : "%.4f", q->ppl);
            snprintf(b, sizeof b, isnan(q->kld_mean) ? "-" : "%.5f", q->kld_mean);
            snprintf(c, sizeof c, isnan(q->kld_p99) ? "-" : "%.5f", q->kld_p99);
            snprintf(d, sizeof d, isnan(q->same_top) ? "-" : "%.4f", q->same_top);
            printf("%-28.28s %-10.10s %10s %10s %10s %10s\n", safe(q->model, mm, sizeof mm),
                   safe(q->variant, vv, sizeof vv), a, b, c, d);
        }
    }
    lf_run_full_free(&rf);
    return LF_EXIT_OK;
}

static int do_delete(lf_store *st, const char *id) {
    lf_error err = {0};
    lf_run run;
    if (lf_store_run_find(st, id, &run, &err) < 0 ||
        lf_store_run_delete(st, run.id, &err) < 0)
        return lf_cli_fail(&err);
    printf("deleted run %s (%d results)\n", run.uuid, run.n_results);
    return LF_EXIT_OK;
}

int cmd_runs(int argc, char **argv) {
    static const struct option longopts[] = {
        {"device", required_argument, NULL, 'd'}, {"label", required_argument, NULL, 'l'},
        {"branch", required_argument, NULL, 'b'}, {"commit", required_argument, NULL, 'c'},
        {"limit", required_argument, NULL, 'n'},  {"db", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    lf_run_filter f = LF_RUN_FILTER_INIT;
    f.limit = 50;
    const char *db = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': f.device_id = optarg; break;
        case 'l': f.label = optarg; break;
        case 'b': f.branch = optarg; break;
        case 'c': f.commit = optarg; break;
        case 'n': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 1000000000)
                return lf_cli_usage_error("runs", "--limit wants a count, not '%s'", optarg);
            f.limit = (int)v;
            break;
        }
        case 'D': db = optarg; break;
        case 'j': json = true; break;
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option("runs", argv, longopts);
        }
    }
    const char *verb = optind < argc ? argv[optind++] : "list";
    const char *id = NULL;
    if (!strcmp(verb, "show") || !strcmp(verb, "delete")) {
        if (optind >= argc)
            return lf_cli_usage_error("runs", "'%s' needs a run id", verb);
        id = argv[optind++];
    } else if (strcmp(verb, "list") != 0) {
        return lf_cli_usage_error("runs", "unknown action '%s' (list, show, delete)", verb);
    }
    if (optind < argc)
        return lf_cli_usage_error("runs", "unexpected argument '%s'", argv[optind]);
    bool del = !strcmp(verb, "delete");

    lf_store *st = NULL;
    lf_error err = {0};
    if (lf_store_open_path(&st, db, LF_STORE_NOCREATE | (del ? 0 : LF_STORE_RO_FALLBACK), &err) < 0) {
        if (err.code == LF_ENOTFOUND && !del) {
            /* No database yet is an empty history, not an error. */
            if (json)
                puts("[]");
            else
                fprintf(stderr, "localfit: %s\n", err.msg);
            return LF_EXIT_OK;
        }
        return lf_cli_fail(&err);
    }
    int rc = del ? do_delete(st, id) : id ? do_show(st, id, json) : do_list(st, &f, json);
    lf_store_close(st);
    return rc;
}
