/*
 * `localfit bench` — benchmark a matrix of models x quants x adapters x
 * threads x prompt / generation lengths x depths x KV types, from a suite
 * file and llama-bench style flags, and store every run with all its
 * samples. This file only parses arguments, probes the device, opens the
 * store, installs the Ctrl-C handler and calls the runner (bench/bench.h).
 */
#include "bench/bench.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "probes/probes.h"
#include "store/store.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit bench [--suite NAME|FILE] [-m MODEL,...] [-q QUANT,...] [-p N,...] [-n N,...]\n"
            "                      [-d DEPTH,...] [-t THREADS] [--kv f16,q8_0] [--lora SPEC,...]\n"
            "                      [--tests LIST] [--isa LIST] [--reps MIN[-MAX]] [--target-ci 3%%]\n"
            "                      [--budget S] [--passes N] [--json|--jsonl|--csv|--md|-o FMT]\n"
            "                      [--db PATH|--no-store] [--label L] [--commit SHA] [--branch B]\n"
            "                      [--force] [--quiet] [--engine localfit,llama.cpp[=PATH]] [-ngl N] [-fa X]\n\n"
            "Benchmarks models x quants x adapters x threads x prompt/generation lengths x\n"
            "depths x KV types. Tests of one model run interleaved, each until the 95%% CI of\n"
            "its median is within the target or its budget is spent; every sample is stored.\n"
            "Without --suite and -m the 'default' suite runs; with -m alone, pp512 and tg128.\n"
            "Flags replace the suite's values (repeat a flag to add to its list).\n\n"
            "Matrix:\n"
            "  --suite NAME|FILE  built-in suite (smoke, quick, default, full, perf) or a .conf file\n"
            "  -m, --model LIST   catalog names (prefix ok), shapes or GGUF files\n"
            "  -q, --quant LIST   Q4_0, Q4_K_M, Q8_0, F16 ... (ignored for GGUF files)\n"
            "  -p, --n-prompt L   prompt lengths (pp, ttft)        -n, --n-gen L  generation lengths (tg)\n"
            "  -d, --depth L      tokens already in the KV cache   -t, --threads L  threads or 'all'\n"
            "  --kv LIST          KV cache types: f16, q8_0, f32\n"
            "  --lora LIST        none | rRANK[xK][:merged] (K synthetic adapters) | FILE.gguf[:merged]\n"
            "  --tests LIST       pp, tg, ttft, adapter_load, adapter_swap, model_load, all\n"
            "  --isa LIST         kernel ISAs to compare: scalar, avx2, avx512, neon\n"
            "  --shape NAME=SPEC  define a model shape: 'llama layers=2 dim=128 heads=4 ff=256 vocab=512'\n"
            "  --roofs            measure bandwidth and compute peaks between models (perf suite)\n"
            "  --engine LIST      localfit (always) and llama.cpp[=PATH]: llama-bench (PATH, else\n"
            "                     'llama-bench' in PATH) runs every pp/tg test too, one repetition\n"
            "                     after each of localfit's; results side by side with the ratio\n"
            "  -ngl N, -fa X      passed to llama-bench with --engine llama.cpp (GPU layers, flash\n"
            "                     attention); the CPU engine ignores them, saying so\n"
            "  -ctk T, -ctv T     llama-bench's KV types: the same type for K and V (= --kv T)\n"
            "  -p 0, -n 0         skip the pp / tg tests (as llama-bench)\n"
            "  Lists take commas and ranges: 128,512  1-4  1-8+2  1-16*2\n\n"
            "Statistics:\n"
            "  --reps MIN[-MAX]   repetitions per test (default 3-20)\n"
            "  --target-ci W      stop when the 95%% CI of the median is within +-W (default 3%%)\n"
            "  --budget S         seconds per test once MIN repetitions ran (default 10)\n"
            "  --warmup N         untimed runs per test (default 1)     --seed S  tokens and weights\n"
            "  --passes N         visit every model N times, each test taking its share of\n"
            "                     repetitions per visit, so a slow spell of a shared machine\n"
            "                     spreads over every configuration (default 1; --engine: 1)\n\n"
            "Output and storage:\n"
            "  --json, --jsonl, --csv, --md, --format F   results on stdout (default: a table)\n"
            "  -o FMT             llama-bench's spelling: md, csv, json, jsonl, sql (CREATE TABLE +\n"
            "                     INSERTs as llama-bench writes them), table\n"
            "  --progress MODE    live, plain or none (default: live on a terminal)\n"
            "  --db PATH          results database (default $LOCALFIT_DB, else\n"
            "                     $XDG_DATA_HOME/localfit/results.db)\n"
            "  --no-store         do not store the run\n"
            "  --label L, --commit SHA, --branch B   recorded with the run (git is detected)\n"
            "  --probe MODE       device bandwidth/compute for the roofline: stored (default: the\n"
            "                     database's profile of this device, else measured), full, quick (none)\n"
            "  --force            run configurations that do not fit the usable memory\n"
            "  --skip-too-big     leave those out (with a warning) instead of failing\n"
            "  --dry-run          resolve the matrix, check memory, count the tests; run nothing\n"
            "  --quiet            no progress\n"
            "  --list-suites      the built-in suites\n"
            "  -h, --help         this help\n\n"
            "Ctrl-C stops after the repetition under way; the run is kept as interrupted\n"
            "with every finished test, and the exit status is 1.\n");
}

static int list_suites(void) {
    char names[64][64];
    int n = lf_suite_names(lf_cli_datadir(), names, 64);
    if (n < 0) {
        lf_error e;
        lf_error_set(&e, LF_ENOTFOUND, "no suites directory %s/suites", lf_cli_datadir());
        return lf_cli_fail(&e);
    }
    for (int i = 0; i < n; i++) {
        lf_bench_matrix m;
        lf_bench_matrix_init(&m);
        lf_error e = {0};
        if (lf_suite_load(&m, names[i], lf_cli_datadir(), &e) == 0)
            printf("%-10s %s\n", names[i], m.description);
        else
            printf("%-10s (%s)\n", names[i], e.msg);
        lf_bench_matrix_free(&m);
    }
    return LF_EXIT_OK;
}

/* The device for the run: a quick probe, and the bandwidth and compute for
 * the roofline per --probe: "stored" (the store's profile of this device,
 * else measured now), "full" (measured now) or "quick" (none). A failed
 * measurement only warns: the roofline columns then stay empty. The runner
 * stores the profile with the run. */
static int bench_device(lf_store *st, const char *mode, bool quiet, lf_device *dev, lf_error *err) {
    lf_device_opts o;
    lf_device_opts_init(&o);
    o.mode = !strcmp(mode, "quick") ? LF_DEVICE_QUICK
             : !strcmp(mode, "full") ? LF_DEVICE_MEASURE
                                     : LF_DEVICE_STORED;
    o.best_effort = true;
    o.log = quiet ? NULL : stderr;
    o.log_name = "localfit bench";
    char note[300] = "";
    int rc = lf_device_current(st, &o, dev, note, sizeof note, err);
    if (rc == 0 && !quiet && strstr(note, "not measured"))
        fprintf(stderr, "localfit bench: %s\n", note);
    return rc;
}

typedef struct flag_val {
    const char *flag, *value;
} flag_val;

/* Long options without a short form. */
enum {
    O_SUITE = 256, O_KV, O_LORA, O_TESTS, O_ISA, O_REPS, O_TARGET, O_BUDGET, O_WARMUP, O_PASSES, O_SEED, O_SHAPE,
    O_ROOFS, O_JSON, O_JSONL, O_CSV, O_MD, O_FORMAT, O_PROGRESS, O_DB, O_NOSTORE, O_LABEL, O_COMMIT,
    O_BRANCH, O_FORCE, O_QUIET, O_PROBE, O_LIST, O_TARGETS, O_DRY, O_SKIPBIG,
    O_ENGINE, O_PG, O_CTK, O_CTV, O_FA, O_NGL,
};

/* llama-bench spells some options with one dash and several letters
 * (-pg, -ctk, -ngl ...), which getopt would read as -p with the value "g":
 * they are renamed to their long forms before parsing. */
static const char *llama_spelling(const char *a) {
    static const char *const map[][2] = {
        {"-pg", "--pg"},   {"-ctk", "--ctk"}, {"-ctv", "--ctv"},
        {"-fa", "--fa"},   {"-ngl", "--ngl"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(a, map[i][0]))
            return map[i][1];
    return a;
}

/* --engine LIST: localfit (always measured: its repetitions pace the
 * interleave) and llama.cpp[=PATH]. Returns 0 or -1 (message in why). */
static int parse_engines(const char *list, lf_engine_llama *e, bool *llama, char *why, size_t size) {
    char buf[1200];
    if (strlen(list) >= sizeof buf) {
        snprintf(why, size, "--engine: list too long");
        return -1;
    }
    lf_strlcpy(buf, list, sizeof buf);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "localfit"))
            continue;
        if (!strncmp(t, "llama.cpp", 9) && (t[9] == '\0' || t[9] == '=')) {
            if (t[9] == '=' && !t[10]) {
                snprintf(why, size, "--engine: llama.cpp= needs the path of llama-bench");
                return -1;
            }
            lf_engine_llama_init(e, t[9] == '=' ? t + 10 : NULL);
            *llama = true;
            continue;
        }
        snprintf(why, size, "--engine: '%.64s' is not an engine (localfit, llama.cpp[=PATH])", t);
        return -1;
    }
    return 0;
}

/* The suite key a matrix flag sets (lf_bench_matrix_parse_flag); NULL for
 * the other options. */
static const char *matrix_key(int ch) {
    switch (ch) {
    case 'm': return "models";
    case 'q': return "quants";
    case 'p': return "n_prompt";
    case 'n': return "n_gen";
    case 'd': return "depth";
    case 't': return "threads";
    case 'r': case O_REPS: return "reps";
    case O_KV: return "kv";
    case O_LORA: return "adapters";
    case O_TESTS: return "tests";
    case O_ISA: return "isa";
    case O_TARGET: return "target_ci";
    case O_BUDGET: return "budget";
    case O_WARMUP: return "warmup";
    case O_PASSES: return "passes";
    case O_SEED: return "seed";
    case O_SHAPE: return "shape";
    case O_TARGETS: return "lora_targets";
    case O_ROOFS: return "roofs";
    default: return NULL;
    }
}

static int parse_progress(const char *s, lf_bench_progress_mode *out) {
    if (!strcmp(s, "live"))
        *out = LF_BENCH_PROGRESS_LIVE;
    else if (!strcmp(s, "plain"))
        *out = LF_BENCH_PROGRESS_PLAIN;
    else if (!strcmp(s, "none"))
        *out = LF_BENCH_PROGRESS_NONE;
    else
        return -1;
    return 0;
}

/* The matrix: the suite (default "default" without -m), then the flags in
 * order. Returns an exit status, or -1 to go on. */
static int load_matrix(lf_bench_matrix *m, const char *cmd, const char *suite, bool have_model,
                       const flag_val *flags, int n_flags) {
    lf_error err = {0};
    if (!suite && !have_model)
        suite = "default";
    if (suite && lf_suite_load(m, suite, lf_cli_datadir(), &err) < 0)
        return lf_cli_fail(&err);
    for (int i = 0; i < n_flags; i++)
        if (lf_bench_matrix_parse_flag(m, flags[i].flag, flags[i].value, &err) < 0)
            return lf_cli_usage_error(cmd, "%s", err.msg);
    return -1;
}

/* Runs m with o under the interrupt handler and says how it ended; the
 * exit status (1 when interrupted: the run is kept as interrupted). */
static int run_matrix(const lf_bench_matrix *m, lf_bench_opts *o, lf_store *st) {
    lf_cli_signals saved;
    o->interrupted = lf_cli_interrupt_begin(&saved);
    lf_bench_summary sum;
    o->summary = &sum;
    lf_run run;
    lf_error err = {0};
    int rc = lf_bench_run(m, o, &run, &err);
    lf_cli_interrupt_end(&saved);
    fflush(stdout);
    if (rc == LF_EINTR && !run.uuid[0]) {   /* stopped while planning: no run was begun */
        fprintf(stderr, "localfit bench: %s; nothing was run or stored\n", err.msg);
        return LF_EXIT_FAIL;
    }
    if (rc == LF_EINTR) {
        fprintf(stderr, "localfit bench: %s; run %s kept as interrupted%s%s\n", err.msg, run.uuid,
                st ? " in " : " (not stored)", st ? lf_store_path(st) : "");
        return LF_EXIT_FAIL;
    }
    if (rc < 0) {
        if (run.id > 0)
            fprintf(stderr, "localfit bench: run %s kept as interrupted with its finished tests\n", run.uuid);
        return lf_cli_fail(&err);
    }
    if (sum.engine_note[0]) {
        /* localfit's results are stored; the comparison asked for is not */
        fprintf(stderr, "localfit bench: %s; run %s %s%s with localfit's results only\n", sum.engine_note,
                run.uuid, st ? "stored in " : "not stored", st ? lf_store_path(st) : "");
        return LF_EXIT_FAIL;
    }
    if (o->dry_run)
        printf("%d tests planned (%d skipped as too big)\n", sum.n_planned, sum.n_skipped);
    else if (!o->quiet)
        fprintf(stderr, "localfit bench: run %s %s%s\n", run.uuid, st ? "stored in " : "not stored",
                st ? lf_store_path(st) : "");
    return LF_EXIT_OK;
}

static const struct option bench_options[] = {
    {"suite", required_argument, 0, O_SUITE},   {"model", required_argument, 0, 'm'},
    {"quant", required_argument, 0, 'q'},       {"n-prompt", required_argument, 0, 'p'},
    {"n-gen", required_argument, 0, 'n'},       {"depth", required_argument, 0, 'd'},
    {"threads", required_argument, 0, 't'},     {"kv", required_argument, 0, O_KV},
    {"lora", required_argument, 0, O_LORA},     {"tests", required_argument, 0, O_TESTS},
    {"isa", required_argument, 0, O_ISA},       {"reps", required_argument, 0, O_REPS},
    {"target-ci", required_argument, 0, O_TARGET}, {"budget", required_argument, 0, O_BUDGET},
    {"warmup", required_argument, 0, O_WARMUP}, {"seed", required_argument, 0, O_SEED},
    {"passes", required_argument, 0, O_PASSES},
    {"shape", required_argument, 0, O_SHAPE},   {"roofs", no_argument, 0, O_ROOFS},
    {"lora-targets", required_argument, 0, O_TARGETS},
    {"json", no_argument, 0, O_JSON},           {"jsonl", no_argument, 0, O_JSONL},
    {"csv", no_argument, 0, O_CSV},             {"md", no_argument, 0, O_MD},
    {"format", required_argument, 0, O_FORMAT}, {"progress", required_argument, 0, O_PROGRESS},
    {"db", required_argument, 0, O_DB},         {"no-store", no_argument, 0, O_NOSTORE},
    {"label", required_argument, 0, O_LABEL},   {"commit", required_argument, 0, O_COMMIT},
    {"branch", required_argument, 0, O_BRANCH}, {"force", no_argument, 0, O_FORCE},
    {"quiet", no_argument, 0, O_QUIET},         {"probe", required_argument, 0, O_PROBE},
    {"list-suites", no_argument, 0, O_LIST},    {"dry-run", no_argument, 0, O_DRY},
    {"skip-too-big", no_argument, 0, O_SKIPBIG}, {"help", no_argument, 0, 'h'},
    {"engine", required_argument, 0, O_ENGINE}, {"output", required_argument, 0, 'o'},
    {"pg", required_argument, 0, O_PG},         {"ctk", required_argument, 0, O_CTK},
    {"cache-type-k", required_argument, 0, O_CTK}, {"ctv", required_argument, 0, O_CTV},
    {"cache-type-v", required_argument, 0, O_CTV}, {"fa", required_argument, 0, O_FA},
    {"flash-attn", required_argument, 0, O_FA}, {"ngl", required_argument, 0, O_NGL},
    {"n-gpu-layers", required_argument, 0, O_NGL},
    {0, 0, 0, 0},
};

/* What the command line asked for. The matrix flags are kept in order
 * (a later one adds to or replaces an earlier one's list) for the suite
 * loader; llama-bench's own settings wait for --engine to be known. */
typedef struct bench_args {
    const char *suite, *db, *label, *commit, *branch, *probe;
    bool no_store, force, quiet, have_model, dry, skip_big;
    lf_bench_format fmt;
    lf_bench_progress_mode progress;
    flag_val *flags;             /* [argc + 1] */
    int n_flags;
    const char *ctk, *ctv, *fa, *ngl, *engines;
} bench_args;

/* -pg PP,TG: llama-bench times a prompt and its generation as one figure;
 * localfit times them apart, and says how. Returns the usage status. */
static int refuse_pg(const char *cmd, const char *arg) {
    int pp = 0, tg = 0;
    char alt[64] = "-p PP -n TG";
    if (sscanf(arg, "%d,%d", &pp, &tg) == 2 && pp > 0 && tg > 0)
        snprintf(alt, sizeof alt, "-p %d -n %d", pp, tg);
    return lf_cli_usage_error(cmd,
                              "-pg %s: localfit does not time prompt + generation as one test; "
                              "measure them apart with %s",
                              arg, alt);
}

/* The getopt loop over av (argv with llama-bench's spellings renamed).
 * Returns -1 to go on, else the exit status: a usage error, or 0 after
 * --help and --list-suites. */
static int parse_args(int argc, char **argv, char **av, bench_args *a) {
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, av, "m:q:p:n:d:t:r:o:h", bench_options, NULL)) != -1) {
        const char *key = matrix_key(ch);
        if (key) {
            a->have_model |= ch == 'm';
            a->flags[a->n_flags].flag = key;
            a->flags[a->n_flags++].value = ch == O_ROOFS ? NULL : optarg;
            continue;
        }
        switch (ch) {
        case O_SUITE: a->suite = optarg; break;
        case O_JSON: a->fmt = LF_BENCH_OUT_JSON; break;
        case O_JSONL: a->fmt = LF_BENCH_OUT_JSONL; break;
        case O_CSV: a->fmt = LF_BENCH_OUT_CSV; break;
        case O_MD: a->fmt = LF_BENCH_OUT_MD; break;
        case O_FORMAT:
        case 'o':
            if (lf_bench_format_parse(optarg, &a->fmt) < 0 || a->fmt == LF_BENCH_OUT_NONE)
                return lf_cli_usage_error(argv[0], "%s: '%s' is not table, json, jsonl, csv, md or sql",
                                          ch == 'o' ? "-o" : "--format", optarg);
            break;
        case O_ENGINE: a->engines = optarg; break;
        case O_CTK: a->ctk = optarg; break;
        case O_CTV: a->ctv = optarg; break;
        case O_FA: a->fa = optarg; break;
        case O_NGL: a->ngl = optarg; break;
        case O_PG: return refuse_pg(argv[0], optarg);
        case O_PROGRESS:
            if (parse_progress(optarg, &a->progress) < 0)
                return lf_cli_usage_error(argv[0], "--progress: '%s' is not live, plain or none", optarg);
            break;
        case O_DB: a->db = optarg; break;
        case O_NOSTORE: a->no_store = true; break;
        case O_LABEL: a->label = optarg; break;
        case O_COMMIT: a->commit = optarg; break;
        case O_BRANCH: a->branch = optarg; break;
        case O_FORCE: a->force = true; break;
        case O_QUIET: a->quiet = true; break;
        case O_DRY: a->dry = true; break;
        case O_SKIPBIG: a->skip_big = true; break;
        case O_PROBE:
            if (strcmp(optarg, "stored") && strcmp(optarg, "full") && strcmp(optarg, "quick"))
                return lf_cli_usage_error(argv[0], "--probe: '%s' is not stored, full or quick", optarg);
            a->probe = optarg;
            break;
        case O_LIST: return list_suites();
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option(argv[0], av, bench_options);
        }
    }
    if (optind < argc)
        return lf_cli_usage_error(argv[0], "unexpected argument '%s' (models go after -m)", av[optind]);
    return -1;
}

/* --engine, and llama-bench's -ctk/-ctv and -ngl/-fa: checked against what
 * localfit's engine can do, and passed on to llama.cpp when it runs too.
 * Returns -1 to go on, else the usage status. */
static int engine_args(const char *cmd, bench_args *a, lf_engine_llama *llama, bool *use_llama) {
    char why[200];
    if (a->engines && parse_engines(a->engines, llama, use_llama, why, sizeof why) < 0)
        return lf_cli_usage_error(cmd, "%s", why);
    /* -ctk / -ctv: localfit's cache has one type for K and V */
    const char *ctk = a->ctk, *ctv = a->ctv;
    if ((ctk || ctv) && (!ctk || !ctv || strcmp(ctk, ctv))) {
        const char *one = ctk ? ctk : ctv;
        if (ctk && ctv)
            return lf_cli_usage_error(cmd, "-ctk %s -ctv %s: localfit's KV cache holds K and V in one "
                                      "type; give both the same type (or --kv)", ctk, ctv);
        if (strcmp(one, "f16"))   /* the other one stays f16, as in llama-bench */
            return lf_cli_usage_error(cmd, "%s %s: localfit's KV cache holds K and V in one type; "
                                      "give -ctk %s -ctv %s (or --kv %s)", ctk ? "-ctk" : "-ctv", one, one,
                                      one, one);
    }
    if (ctk || ctv) {
        a->flags[a->n_flags].flag = "kv";
        a->flags[a->n_flags++].value = ctk ? ctk : ctv;
    }
    /* -ngl / -fa: llama.cpp's settings, passed on to it; localfit's CPU
     * engine has no GPU layers and always fuses attention */
    const char *pass[2][2] = {{"-ngl", a->ngl}, {"-fa", a->fa}};
    for (int i = 0; i < 2; i++) {
        if (!pass[i][1])
            continue;
        lf_error pe = {0};
        if (*use_llama && (lf_engine_llama_pass(llama, pass[i][0], &pe) < 0 ||
                           lf_engine_llama_pass(llama, pass[i][1], &pe) < 0))
            return lf_cli_usage_error(cmd, "%s", pe.msg);
        /* said even with --quiet: it is about the user's own arguments */
        fprintf(stderr, "localfit bench: %s %s: CPU engine: ignored%s\n", pass[i][0], pass[i][1],
                *use_llama ? " (passed to llama.cpp)" : " (add --engine llama.cpp to pass it to llama-bench)");
    }
    return -1;
}

/* The matrix, the store, the device, then the run. Returns the exit
 * status. llama is NULL unless llama.cpp runs too. */
static int bench_execute(const char *cmd, bench_args *a, lf_engine_llama *llama) {
    if (a->dry) {
        a->no_store = true;   /* a dry run stores and measures nothing */
        a->probe = "quick";
    }
    lf_error err = {0};
    lf_bench_matrix m;
    lf_bench_matrix_init(&m);
    int status = load_matrix(&m, cmd, a->suite, a->have_model, a->flags, a->n_flags);
    if (status >= 0) {
        lf_bench_matrix_free(&m);
        return status;
    }
    status = LF_EXIT_OK;
    lf_device *dev = calloc(1, sizeof *dev);
    lf_store *st = NULL;
    if (!dev) {
        lf_bench_matrix_free(&m);
        lf_error_set(&err, LF_ENOMEM, "out of memory");
        return lf_cli_fail(&err);
    }
    if ((!a->no_store && lf_store_open_path(&st, a->db, 0, &err) < 0) ||
        bench_device(st, a->probe, a->quiet, dev, &err) < 0) {
        status = lf_cli_fail(&err);
    } else {
        lf_bench_opts o;
        lf_bench_opts_init(&o);
        o.store = st;
        o.device = dev;
        o.datadir = lf_cli_datadir();
        o.label = a->label;
        o.suite_name = NULL;
        o.git_commit = a->commit;
        o.git_branch = a->branch;
        o.quiet = a->quiet;
        o.progress = a->progress;
        o.output = a->fmt;
        o.out = stdout;
        o.force = a->force;
        o.skip_too_big = a->skip_big;
        o.dry_run = a->dry;
        o.llama = llama;   /* the runner hands it the interrupt flag */
        status = run_matrix(&m, &o, st);
    }
    lf_store_close(st);
    free(dev);
    lf_bench_matrix_free(&m);
    return status;
}

int cmd_bench(int argc, char **argv) {
    bench_args a = {.probe = "stored", .fmt = LF_BENCH_OUT_TABLE, .progress = LF_BENCH_PROGRESS_AUTO};
    a.flags = calloc((size_t)argc + 1, sizeof *a.flags);
    char **av = calloc((size_t)argc + 1, sizeof *av);
    if (!a.flags || !av) {
        free(a.flags);
        free(av);
        lf_error e;
        lf_error_set(&e, LF_ENOMEM, "out of memory");
        return lf_cli_fail(&e);
    }
    for (int i = 0; i < argc; i++)
        av[i] = (char *)(i > 0 ? llama_spelling(argv[i]) : argv[i]);
    lf_engine_llama llama;
    bool use_llama = false;
    lf_engine_llama_init(&llama, NULL);
    int status = parse_args(argc, argv, av, &a);
    if (status < 0)
        status = engine_args(argv[0], &a, &llama, &use_llama);
    if (status < 0 && a.no_store && a.db)
        status = lf_cli_usage_error(argv[0], "--db and --no-store contradict each other");
    if (status < 0)
        status = bench_execute(argv[0], &a, use_llama ? &llama : NULL);
    free(a.flags);
    free(av);
    return status;
}
