/*
 * The benchmark runner end to end on tiny synthetic models (the smoke
 * suite and smaller matrices): every planned test stored with all its
 * samples in a complete run; bytes per token, roofline and compute
 * fractions recomputed here from the model and the device's roofs;
 * interruption from a result callback keeping exactly the finished result;
 * the memory refusal naming the sizes, --force and skipping; the output
 * formats parsed back (JSON with jansson, CSV column counts, JSON lines,
 * markdown); thread lists, depth, passes, ISA comparison, RAPL from a recorded
 * powercap tree, and real GGUF files with a LoRA adapter file when the
 * shared models are present.
 *
 * Nothing here depends on how fast the machine is: assertions are about
 * counts, identities and formulas, except the harness-overhead bound, which
 * has orders of magnitude of margin (an empty timed region costs tens of
 * nanoseconds, the shortest tg repetition here tens of microseconds).
 */
#include "bench/bench.h"
#include "tests/store/test_support.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

static const char *datadir(void) {
    const char *d = getenv("LOCALFIT_DATADIR");
    return d && *d ? d : LF_SOURCE_DIR "/datasets";
}

/* A device with round roofs, so fractions are easy to recompute. */
static void fake_device(lf_device *d) {
    memset(d, 0, sizeof *d);
    snprintf(d->schema, sizeof d->schema, LF_DEVICE_SCHEMA);
    snprintf(d->id, sizeof d->id, "00000000feedf00d");
    snprintf(d->slug, sizeof d->slug, "test-box");
    d->limits.usable_threads = 2;
    d->limits.usable_memory = (uint64_t)8 << 30;
    snprintf(d->limits.usable_memory_source, sizeof d->limits.usable_memory_source, "test budget");
    d->bandwidth.measured = true;
    d->bandwidth.read_gbs = 10.0;
    d->bandwidth.threads = 2;
    d->bandwidth.n_curve = 2;
    d->bandwidth.curve_read_gbs[0] = 6.0;
    d->bandwidth.curve_read_gbs[1] = 10.0;
    d->compute.measured = true;
    d->compute.threads = 2;
    d->compute.int8_gops_all = 200;
    d->compute.int8_gops_core = 120;
    d->compute.fp32_gflops_all = 50;
    d->compute.fp32_gflops_core = 30;
}

static void base_opts(lf_bench_opts *o, const lf_device *dev) {
    lf_bench_opts_init(o);
    o->device = dev;
    o->datadir = datadir();
    o->quiet = true;
    o->output = LF_BENCH_OUT_NONE;
    o->git_commit = "0123456789abcdef0123456789abcdef01234567";
    o->git_branch = "test";
}

static void load_smoke(lf_bench_matrix *m) {
    lf_bench_matrix_init(m);
    lf_error err = {0};
    if (lf_suite_load(m, "smoke", datadir(), &err) < 0)
        fail_msg("smoke: %s", err.msg);
}

/* Whether a result's extra JSON (which must parse) has key: the figures
 * other modules read are fields now, and extra must not carry a second,
 * drifting copy of them. */
static bool extra_has(const lf_result *r, const char *key) {
    json_t *o = json_loads(r->extra, 0, NULL);
    assert_non_null(o);
    bool has = json_object_get(o, key) != NULL;
    json_decref(o);
    return has;
}

static int setup(void **state) {
    *state = tdir_new();
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    tdir_free(*state);
    return 0;
}

/* ---- the smoke suite into a database -------------------------------------------- */

typedef struct counter {
    int n;
    volatile sig_atomic_t *flag;
    int stop_after;
} counter;

static void count_result(const lf_result *r, const double *s, int n, void *user) {
    counter *c = user;
    assert_non_null(r);
    assert_true(n == 0 || s != NULL);
    c->n++;
    if (c->flag && c->n >= c->stop_after)
        *c->flag = 1;
}

static void test_smoke_stored(void **state) {
    tdir *t = *state;
    lf_device dev;
    fake_device(&dev);
    /* the device's peaks are those of the CPU's widest instructions, so
     * a run is held to them only with the best kernel set, whatever
     * LOCALFIT_ISA says (a set with fewer measures its own) */
    lf_isa cpu;
    lf_isa_detect(&cpu);
    const lf_isa_level before = lf_kernels_isa();
    const char *env = getenv("LOCALFIT_ISA");
    char saved[64] = "";
    if (env)
        snprintf(saved, sizeof saved, "%s", env);
    unsetenv("LOCALFIT_ISA");
    assert_int_equal(lf_kernels_init(lf_isa_best(&cpu), NULL), 0);
    lf_bench_matrix m;
    load_smoke(&m);
    lf_store *st = NULL;
    lf_error err = {0};
    assert_int_equal(lf_store_open(&st, t->db, 0, &err), 0);
    lf_bench_opts o;
    base_opts(&o, &dev);
    o.store = st;
    o.label = "smoke-test";
    lf_run_full rf;
    lf_bench_summary sum;
    counter cnt = {0};
    o.results = &rf;
    o.summary = &sum;
    o.on_result = count_result;
    o.user = &cnt;
    lf_run run;
    int rc = lf_bench_run(&m, &o, &run, &err);
    if (rc < 0)
        fail_msg("smoke: %s", err.msg);
    /* 2 shapes x 2 quants x (pp, tg, ttft x {none, r4} + adapter_load + adapter_swap + model_load) */
    assert_int_equal(sum.n_planned, 36);
    assert_int_equal(sum.n_results, 36);
    assert_int_equal(sum.n_skipped, 0);
    assert_int_equal(rf.n_results, 36);
    /* The repetition floor: pp and tg take 5 samples (the smallest n at
     * which the exact rank test can reach alpha 0.01), inside reps 3-5,
     * even past the smoke suite's tiny time budget. */
    for (int i = 0; i < rf.n_results; i++)
        if (rf.results[i].kind == LF_TEST_PP || rf.results[i].kind == LF_TEST_TG)
            assert_int_equal(rf.n_samples_stored[i], 5);
    assert_int_equal(cnt.n, 36);
    assert_false(sum.interrupted);
    assert_true(run.id > 0);
    assert_int_equal(run.status, LF_RUN_COMPLETE);
    assert_string_equal(run.suite, "smoke");
    assert_string_equal(run.label, "smoke-test");
    assert_string_equal(run.git_branch, "test");
    /* the harness costs far less than 1% of the shortest tg repetition */
    assert_true(sum.harness_ns > 0);
    assert_true(isfinite(sum.harness_frac));
    assert_true(sum.harness_frac < 0.01);

    /* what is in the file, read back by the store */
    lf_run_full db;
    assert_int_equal(lf_store_run_load(st, run.id, &db, &err), 0);
    assert_int_equal(db.run.status, LF_RUN_COMPLETE);
    assert_int_equal(db.n_results, 36);
    assert_string_equal(db.run.device_id, "00000000feedf00d");
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM samples"),
                     raw_int(t->db, "SELECT sum(n_samples) FROM results"));
    int kinds[LF_TEST_COUNT] = {0};
    for (int i = 0; i < db.n_results; i++) {
        const lf_result *r = &db.results[i];
        kinds[r->kind]++;
        assert_int_equal(db.n_samples_stored[i], r->n_samples);
        if (r->kind == LF_TEST_MODEL_LOAD) {
            assert_int_equal(r->n_samples, 1);   /* a synthesized model: its one synthesis */
            assert_string_equal(r->config, "synth");
        } else {
            assert_true(r->n_samples >= 3 && r->n_samples <= 5);
        }
        /* the median is the median of the stored samples */
        assert_true(fabs(lf_stats_median(db.samples[i], db.n_samples_stored[i]) - r->median) <=
                    1e-9 * fabs(r->median));
        assert_true(r->median > 0);
        assert_true(r->peak_rss > 0);
        assert_string_equal(r->isa, lf_isa_level_name(lf_kernels_isa()));
        assert_true(r->joules_per_token != r->joules_per_token || r->joules_per_token >= 0);
        if (isnan(r->joules_per_token))
            assert_true(r->energy_note[0] != 0);
        json_t *x = json_loads(r->extra, 0, NULL);
        assert_non_null(x);
        /* the kernel set within the level */
        assert_string_equal(json_string_value(json_object_get(x, "kernels")), lf_kernels_name());
        json_decref(x);
        /* dense models say so (0 experts), not "unknown" */
        assert_int_equal(r->n_expert, 0);
        assert_int_equal(r->n_expert_used, 0);
        assert_true(r->model_bytes > 0);
    }
    assert_int_equal(kinds[LF_TEST_PP], 8);
    assert_int_equal(kinds[LF_TEST_TG], 8);
    assert_int_equal(kinds[LF_TEST_TTFT], 8);
    assert_int_equal(kinds[LF_TEST_ADAPTER_LOAD], 4);
    assert_int_equal(kinds[LF_TEST_ADAPTER_SWAP], 4);
    assert_int_equal(kinds[LF_TEST_MODEL_LOAD], 4);
    lf_run_full_free(&db);

    /* bytes per token and the roofline, recomputed from the model itself */
    const lf_bench_shape *tiny = &m.shapes[0];
    assert_string_equal(tiny->name, "tiny");
    for (int i = 0; i < rf.n_results; i++) {
        const lf_result *r = &rf.results[i];
        if (strcmp(r->model, "tiny") || strcmp(r->quant, "Q8_0") || r->adapter[0] ||
            (r->kind != LF_TEST_TG && r->kind != LF_TEST_PP))
            continue;
        lf_model *mm = NULL;
        assert_int_equal(lf_model_synth(&mm, &tiny->hp, LF_MIX_Q8_0, m.seed, &err), 0);
        double w = (double)lf_model_weight_bytes(mm);
        const lf_model_params *hp = lf_model_hparams(mm);
        /* F16 K and V rows of head_dim per KV head and layer */
        double kv_pos = (double)hp->n_layer * hp->n_head_kv * 2.0 * 2.0 * hp->head_dim;
        lf_model_free(mm);
        double want;
        if (r->kind == LF_TEST_TG)   /* 8 tokens at depth 0: the mean token reads 4.5 positions */
            want = w + kv_pos * 4.5;
        else                         /* 16 prompt tokens in one batch */
            want = w / 16 + kv_pos * 8.5;
        assert_true(fabs(r->bytes_per_token - want) <= 1e-9 * want);
        /* one thread: the device curve's 6 GB/s */
        assert_int_equal(r->threads, 1);
        double frac = r->median * r->bytes_per_token / 6e9;
        assert_true(fabs(r->roofline_frac - frac) <= 1e-9 * frac);
        assert_true(fabs(r->roof_gbs - 6.0) < 1e-12);
        assert_true(fabs(r->weight_bytes - w) <= 1e-9 * w && r->n_params > 0 && r->kv_bytes > 0);
        assert_false(extra_has(r, "roof_gbs") || extra_has(r, "params") ||
                     extra_has(r, "weight_bytes"));
        if (r->kind == LF_TEST_PP) {
            /* int8 peak for one thread: the per-core figure */
            double peak = r->peak_gops, flops = r->flops_per_token;
            assert_true(fabs(peak - 120) < 1e-9);
            assert_true(flops > 0);
            /* the tolerance of the days extra kept 6 significant digits */
            assert_true(fabs(r->compute_frac - flops * r->median / 120e9) <=
                        1e-5 * flops * r->median / 120e9);
        }
    }
    lf_run_full_free(&rf);
    lf_store_close(st);
    lf_bench_matrix_free(&m);
    if (saved[0])
        setenv("LOCALFIT_ISA", saved, 1);
    assert_int_equal(lf_kernels_init(before, NULL), 0);
}

/* The callback sets the flag after the first result: the run stops, is
 * stored as interrupted and keeps exactly that result. */
static void test_interrupt(void **state) {
    tdir *t = *state;
    lf_device dev;
    fake_device(&dev);
    lf_bench_matrix m;
    load_smoke(&m);
    lf_store *st = NULL;
    lf_error err = {0};
    assert_int_equal(lf_store_open(&st, t->db, 0, &err), 0);
    volatile sig_atomic_t flag = 0;
    counter cnt = {0, &flag, 1};
    lf_bench_opts o;
    base_opts(&o, &dev);
    o.store = st;
    o.interrupted = &flag;
    o.on_result = count_result;
    o.user = &cnt;
    lf_run run;
    lf_bench_summary sum;
    o.summary = &sum;
    assert_int_equal(lf_bench_run(&m, &o, &run, &err), LF_EINTR);
    assert_non_null(strstr(err.msg, "interrupted"));
    assert_int_equal(cnt.n, 1);
    assert_true(sum.interrupted);
    assert_int_equal(sum.n_results, 1);
    lf_run got;
    assert_int_equal(lf_store_run_get(st, run.id, &got, &err), 0);
    assert_int_equal(got.status, LF_RUN_INTERRUPTED);
    assert_true(got.finished_ms > 0);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM results"), 1);
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM samples"),
                     raw_int(t->db, "SELECT n_samples FROM results"));
    lf_store_close(st);
    lf_bench_matrix_free(&m);
}

/* ---- memory ------------------------------------------------------------------------ */

static void test_memory_refusal(void **state) {
    tdir *t = *state;
    lf_device dev;
    fake_device(&dev);
    dev.limits.usable_memory = 256 << 10;   /* 256 KiB: less than either model */
    lf_bench_matrix m;
    load_smoke(&m);
    lf_store *st = NULL;
    lf_error err = {0};
    assert_int_equal(lf_store_open(&st, t->db, 0, &err), 0);
    lf_bench_opts o;
    base_opts(&o, &dev);
    o.store = st;
    assert_int_equal(lf_bench_run(&m, &o, NULL, &err), LF_ETOOBIG);
    /* the message says what, how much of each, and the budget */
    assert_non_null(strstr(err.msg, "does not fit"));
    assert_non_null(strstr(err.msg, "weights"));
    assert_non_null(strstr(err.msg, "KV cache"));
    assert_non_null(strstr(err.msg, "256.0 KiB"));
    assert_non_null(strstr(err.msg, "test budget"));
    assert_non_null(strstr(err.msg, "--force"));
    /* refused before anything was recorded */
    assert_int_equal(raw_int(t->db, "SELECT count(*) FROM runs"), 0);

    /* --force runs it anyway (a smaller matrix: one model, two tests) */
    lf_error e2 = {0};
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-m", "tiny", &e2), 0);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-q", "q8_0", &e2), 0);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--lora", "none", &e2), 0);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--tests", "pp,tg", &e2), 0);
    o.force = true;
    lf_bench_summary sum;
    o.summary = &sum;
    if (lf_bench_run(&m, &o, NULL, &e2) < 0)
        fail_msg("forced: %s", e2.msg);
    assert_int_equal(sum.n_results, 2);

    /* skipping: at Q8_0 with tg8 alone tiny needs ~450 KiB (444 KiB of
     * weights), stories260k ~363 KiB; a 400 KiB budget fits only the latter */
    lf_bench_matrix_free(&m);
    load_smoke(&m);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--lora", "none", &e2), 0);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--tests", "tg", &e2), 0);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-q", "q8_0", &e2), 0);
    dev.limits.usable_memory = 400 << 10;
    o.force = false;
    o.skip_too_big = true;
    int rc = lf_bench_run(&m, &o, NULL, &e2);
    if (rc < 0)
        fail_msg("skip: %s", e2.msg);
    assert_int_equal(sum.n_planned, 2);
    assert_int_equal(sum.n_skipped, 1);
    assert_int_equal(sum.n_results, 1);

    /* Everything skipped: the run fails and is kept as interrupted, never
     * complete (a CI gate must not pass on a run that measured nothing). */
    dev.limits.usable_memory = 1 << 10;
    lf_run empty;
    rc = lf_bench_run(&m, &o, &empty, &e2);
    assert_int_equal(rc, LF_ENOTFOUND);
    assert_non_null(strstr(e2.msg, "nothing was measured"));
    assert_int_equal(sum.n_results, 0);
    assert_int_equal(empty.status, LF_RUN_INTERRUPTED);
    lf_store_close(st);
    lf_bench_matrix_free(&m);
}

/* ---- output formats ------------------------------------------------------------------ */

/* Counts CSV fields of one line (quotes honoured). */
static int csv_fields(const char *line, size_t len) {
    int n = 1;
    bool q = false;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '"')
            q = !q;
        else if (line[i] == ',' && !q)
            n++;
    }
    return n;
}

static void test_output_formats(void **state) {
    (void)state;
    lf_device dev;
    fake_device(&dev);
    lf_bench_matrix m;
    load_smoke(&m);
    lf_error err = {0};
    /* shape names cannot carry CSV or markdown syntax (the hostile name
     * below comes from a stored run instead) */
    assert_int_equal(lf_bench_matrix_parse_flag(
                         &m, "--shape", "=x,\"y\"=llama layers=1 dim=64 heads=2 ff=64 vocab=64", &err),
                     LF_EINVAL);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-q", "q4_0", &err), 0);
    lf_bench_opts o;
    base_opts(&o, &dev);
    lf_run_full rf;
    lf_bench_summary sum;
    o.results = &rf;
    o.summary = &sum;
    /* the runner writes its own output too */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    o.out = f;
    o.output = LF_BENCH_OUT_JSON;
    if (lf_bench_run(&m, &o, NULL, &err) < 0)
        fail_msg("run: %s", err.msg);
    fclose(f);
    assert_int_equal(rf.n_results, 18);
    json_error_t je;
    json_t *doc = json_loads(buf, 0, &je);
    if (!doc)
        fail_msg("JSON: %s at line %d", je.text, je.line);
    assert_string_equal(json_string_value(json_object_get(doc, "schema")), LF_BENCH_SCHEMA);
    json_t *res = json_object_get(doc, "results");
    assert_int_equal((int)json_array_size(res), 18);
    for (size_t i = 0; i < json_array_size(res); i++) {
        json_t *r = json_array_get(res, i);
        json_t *s = json_object_get(r, "samples");
        assert_true(json_is_array(s));
        assert_int_equal((int)json_array_size(s), (int)json_integer_value(json_object_get(r, "n_samples")));
        assert_true(json_is_object(json_object_get(r, "extra")));
    }
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "run"), "status")),
                        "complete");
    assert_true(json_is_number(json_object_get(json_object_get(doc, "summary"), "harness_ns")));
    json_decref(doc);
    free(buf);

    /* JSON lines: one parseable object per result */
    f = open_memstream(&buf, &len);
    assert_int_equal(lf_bench_write(&rf, &sum, LF_BENCH_OUT_JSONL, f, &err), 0);
    fclose(f);
    int lines = 0;
    for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = 0;
        json_t *o1 = json_loads(p, 0, &je);
        assert_non_null(o1);
        assert_string_equal(json_string_value(json_object_get(o1, "run_uuid")), rf.run.uuid);
        json_decref(o1);
        lines++;
    }
    assert_int_equal(lines, 18);
    free(buf);

    /* CSV: a header and one line per result, all with the header's count */
    f = open_memstream(&buf, &len);
    assert_int_equal(lf_bench_write(&rf, &sum, LF_BENCH_OUT_CSV, f, &err), 0);
    fclose(f);
    lines = 0;
    int cols = -1;
    for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        int n = csv_fields(p, (size_t)(nl - p));
        if (cols < 0)
            cols = n;
        assert_int_equal(n, cols);
        lines++;
    }
    assert_int_equal(cols, 30);   /* 29 + the engine (schema v4) */
    assert_int_equal(lines, 19);
    free(buf);

    /* markdown and the table */
    f = open_memstream(&buf, &len);
    assert_int_equal(lf_bench_write(&rf, &sum, LF_BENCH_OUT_MD, f, &err), 0);
    fclose(f);
    assert_non_null(strstr(buf, "| model |"));
    assert_non_null(strstr(buf, "| --- |"));
    assert_non_null(strstr(buf, "tg8"));
    free(buf);
    f = open_memstream(&buf, &len);
    assert_int_equal(lf_bench_write(&rf, &sum, LF_BENCH_OUT_TABLE, f, &err), 0);
    fclose(f);
    assert_non_null(strstr(buf, "median"));
    assert_non_null(strstr(buf, "stories260k"));
    assert_non_null(strstr(buf, "harness overhead"));
    free(buf);

    /* a hostile name from a stored run is escaped */
    snprintf(rf.results[0].model, sizeof rf.results[0].model, "=evil,\"name\"\nline");
    f = open_memstream(&buf, &len);
    assert_int_equal(lf_bench_write(&rf, &sum, LF_BENCH_OUT_CSV, f, &err), 0);
    fclose(f);
    /* (one CSV writer for every export: a line break in a name is a space) */
    assert_non_null(strstr(buf, "\"'=evil,\"\"name\"\" line\""));
    free(buf);
    f = open_memstream(&buf, &len);
    assert_int_equal(lf_bench_write(&rf, &sum, LF_BENCH_OUT_JSON, f, &err), 0);
    fclose(f);
    doc = json_loads(buf, 0, &je);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(doc, "results"), 0),
                                                          "model")), "=evil,\"name\"\nline");
    json_decref(doc);
    free(buf);

    lf_bench_format fmt;
    assert_int_equal(lf_bench_format_parse("markdown", &fmt), 0);
    assert_int_equal(fmt, LF_BENCH_OUT_MD);
    assert_int_equal(lf_bench_format_parse("xml", &fmt), LF_EINVAL);
    lf_run_full_free(&rf);
    lf_bench_matrix_free(&m);
}

/* ---- matrix dimensions ------------------------------------------------------------ */

/* threads 1-2, depth 0 and 24 with an f16 and a q8_0 cache, tg only: every
 * combination ran, and a deeper cache costs exactly its positions more. */
/* Parses flags into m (loaded by the caller) and runs it on dev; the
 * results in *rf, which the caller frees. */
static void run_flags(lf_bench_matrix *m, const char *flags[][2], size_t n, const lf_device *dev,
                      lf_run_full *rf) {
    lf_error err = {0};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(lf_bench_matrix_parse_flag(m, flags[i][0], flags[i][1], &err), 0);
    lf_bench_opts o;
    base_opts(&o, dev);
    o.results = rf;
    if (lf_bench_run(m, &o, NULL, &err) < 0)
        fail_msg("run: %s", err.msg);
}

static void test_threads_depth_kv(void **state) {
    (void)state;
    lf_device dev;
    fake_device(&dev);
    lf_bench_matrix m;
    load_smoke(&m);
    lf_error err = {0};
    const char *flags[][2] = {{"-m", "tiny"}, {"-q", "q4_0"}, {"--lora", "none"}, {"--tests", "tg,pp"},
                              {"-t", "1-2"},  {"-d", "0,24"}, {"--kv", "f16,q8_0"}, {"-n", "4"}, {"-p", "8"}};
    lf_run_full rf;
    run_flags(&m, flags, sizeof flags / sizeof flags[0], &dev, &rf);
    assert_int_equal(rf.n_results, 2 * 2 * 2 * 2);
    const lf_model_params *hp = &m.shapes[0].hp;
    for (int i = 0; i < rf.n_results; i++) {
        const lf_result *a = &rf.results[i];
        if (a->kind != LF_TEST_TG || a->n_depth != 24)
            continue;
        for (int j = 0; j < rf.n_results; j++) {
            const lf_result *b = &rf.results[j];
            if (b->kind != LF_TEST_TG || b->n_depth != 0 || b->threads != a->threads ||
                strcmp(b->kv_type, a->kv_type))
                continue;
            lf_type kv;
            assert_int_equal(lf_type_parse(a->kv_type, &kv), 0);
            double pos = (double)hp->n_layer * hp->n_head_kv * 2.0 * (double)lf_row_size(kv, hp->head_dim);
            assert_true(fabs(a->bytes_per_token - b->bytes_per_token - 24 * pos) < 1e-6 * a->bytes_per_token);
        }
    }
    /* two thread counts: the table adds a thread-scaling table */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(lf_bench_write(&rf, NULL, LF_BENCH_OUT_TABLE, f, &err), 0);
    fclose(f);
    assert_non_null(strstr(buf, "Thread scaling"));
    assert_non_null(strstr(buf, "t=2"));
    free(buf);
    lf_run_full_free(&rf);
    lf_bench_matrix_free(&m);
}

/* passes = 3: every model is visited three times and each test runs in
 * every visit (its repetitions per visit in extra.pass_reps, adding up to
 * its samples); one pass (the default) records no such list. */
static void test_passes(void **state) {
    (void)state;
    lf_device dev;
    fake_device(&dev);
    for (int passes = 1; passes <= 3; passes += 2) {
        lf_bench_matrix m;
        load_smoke(&m);
        char pv[8];
        snprintf(pv, sizeof pv, "%d", passes);
        const char *flags[][2] = {{"-m", "tiny"}, {"-q", "q4_0,q8_0"}, {"--lora", "none"},
                                  {"--tests", "tg,pp"}, {"-t", "2"}, {"-n", "4"}, {"-p", "8"},
                                  {"--reps", "3-7"}, {"--passes", pv}};
        lf_run_full rf;
        run_flags(&m, flags, sizeof flags / sizeof flags[0], &dev, &rf);
        assert_int_equal(m.passes, passes);
        assert_int_equal(rf.n_results, 4);
        for (int i = 0; i < rf.n_results; i++) {
            const lf_result *r = &rf.results[i];
            assert_true(r->n_samples >= 3 && r->n_samples <= 7);
            assert_int_equal(rf.n_samples_stored[i], r->n_samples);
            json_t *ex = json_loads(r->extra, 0, NULL);
            assert_non_null(ex);
            json_t *pr = json_object_get(ex, "pass_reps");
            if (passes == 1) {
                assert_null(pr);
            } else {
                assert_true(json_is_array(pr));
                assert_int_equal(json_array_size(pr), 3);
                int sum = 0;
                for (size_t p = 0; p < 3; p++) {
                    int k = (int)json_integer_value(json_array_get(pr, p));
                    assert_true(k >= 1);   /* run in every visit */
                    sum += k;
                }
                assert_int_equal(sum, r->n_samples);
                /* an earlier visit stops at its share of reps_max:
                 * ceil(7 / 3) = 3, then ceil(14 / 3) = 5 in all */
                assert_true((int)json_integer_value(json_array_get(pr, 0)) <= 3);
            }
            json_decref(ex);
        }
        lf_run_full_free(&rf);
        lf_bench_matrix_free(&m);
    }
}

/* The ISA comparison runs each ISA in turn and restores the active one. */
static void test_isa_comparison(void **state) {
    (void)state;
    lf_isa isa;
    lf_isa_detect(&isa);
    lf_isa_level best = lf_isa_best(&isa), before = lf_kernels_isa();
    if (best == LF_ISA_SCALAR)
        skip();   /* nothing to compare the scalar kernels with on this CPU */
    lf_device dev;
    fake_device(&dev);
    lf_bench_matrix m;
    load_smoke(&m);
    lf_error err = {0};
    char isas[64];
    snprintf(isas, sizeof isas, "scalar,%s", lf_isa_level_name(best));
    const char *flags[][2] = {
        {"-m", "tiny"}, {"-q", "q8_0"}, {"--lora", "none"}, {"--tests", "tg"}, {"--isa", isas}};
    lf_run_full rf;
    run_flags(&m, flags, sizeof flags / sizeof flags[0], &dev, &rf);
    assert_int_equal(rf.n_results, 2);
    assert_string_equal(rf.results[0].isa, "scalar");
    assert_string_equal(rf.results[1].isa, lf_isa_level_name(best));
    assert_int_equal(lf_kernels_isa(), before);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(lf_bench_write(&rf, NULL, LF_BENCH_OUT_MD, f, &err), 0);
    fclose(f);
    assert_non_null(strstr(buf, "ISA comparison"));
    free(buf);
    lf_run_full_free(&rf);
    lf_bench_matrix_free(&m);
}

/* ---- energy ----------------------------------------------------------------------------- */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_energy(void **state) {
    tdir *t = *state;
    /* a recorded powercap tree: one package domain (its counter does not
     * move here, so the energy is 0 J, finite) and a subzone to ignore */
    char p[512];
    const char *dirs[] = {"/sys", "/sys/class", "/sys/class/powercap", "/sys/class/powercap/intel-rapl:0",
                          "/sys/class/powercap/intel-rapl:0:0"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s/root%s", t->dir, dirs[i]);
        if (i == 0) {
            char r[300];
            snprintf(r, sizeof r, "%s/root", t->dir);
            assert_int_equal(mkdir(r, 0755), 0);
        }
        assert_int_equal(mkdir(p, 0755), 0);
    }
    snprintf(p, sizeof p, "%s/root/sys/class/powercap/intel-rapl:0/energy_uj", t->dir);
    write_file(p, "123456789\n");
    snprintf(p, sizeof p, "%s/root/sys/class/powercap/intel-rapl:0/max_energy_range_uj", t->dir);
    write_file(p, "262143328850\n");
    char root[300];
    snprintf(root, sizeof root, "%s/root", t->dir);

    lf_device dev;
    fake_device(&dev);
    lf_bench_matrix m;
    load_smoke(&m);
    lf_error err = {0};
    const char *flags[][2] = {
        {"-m", "tiny"}, {"-q", "q8_0"}, {"--lora", "none"}, {"--tests", "tg,model_load"}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        assert_int_equal(lf_bench_matrix_parse_flag(&m, flags[i][0], flags[i][1], &err), 0);
    lf_bench_opts o;
    base_opts(&o, &dev);
    o.sysroot = root;
    lf_run_full rf;
    o.results = &rf;
    assert_int_equal(lf_bench_run(&m, &o, NULL, &err), 0);
    assert_int_equal(rf.n_results, 2);
    for (int i = 0; i < rf.n_results; i++) {
        const lf_result *r = &rf.results[i];
        if (r->kind == LF_TEST_TG) {
            assert_true(r->joules_per_token == 0.0);
            assert_non_null(strstr(r->energy_note, "RAPL"));
        } else {
            assert_true(isnan(r->joules_per_token));   /* not a token test */
        }
    }
    lf_run_full_free(&rf);

    /* a tree without package domains: n/a with the reason */
    snprintf(root, sizeof root, "%s/bare", t->dir);
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(lf_bench_run(&m, &o, NULL, &err), 0);
    assert_int_equal(rf.n_results, 2);
    for (int i = 0; i < rf.n_results; i++)
        if (rf.results[i].kind == LF_TEST_TG) {
            assert_true(isnan(rf.results[i].joules_per_token));
            assert_non_null(strstr(rf.results[i].energy_note, "n/a"));
            assert_non_null(strstr(rf.results[i].energy_note, "RAPL"));
        }
    lf_run_full_free(&rf);
    lf_bench_matrix_free(&m);
}

/* ---- real GGUF files ------------------------------------------------------------------ */

static void test_gguf_models(void **state) {
    (void)state;
    const char *dir = getenv("LOCALFIT_TEST_MODELS");
    char model[1024], lora[1024];
    snprintf(model, sizeof model, "%s/stories260K.gguf", dir ? dir : "");
    snprintf(lora, sizeof lora, "%s/stories260K-lora-r4.gguf", dir ? dir : "");
    struct stat sb;
    if (!dir || stat(model, &sb) != 0 || stat(lora, &sb) != 0) {
        print_message("skipped: stories260K.gguf / stories260K-lora-r4.gguf not in LOCALFIT_TEST_MODELS\n");
        skip();
    }
    lf_device dev;
    fake_device(&dev);
    lf_bench_matrix m;
    lf_bench_matrix_init(&m);
    lf_error err = {0};
    char ads[2200];
    snprintf(ads, sizeof ads, "none,%s,%s:merged", lora, lora);
    const char *flags[][2] = {
        {"-m", model},     {"--lora", ads},     {"--tests", "pp,tg,model_load,adapter_load,adapter_swap"},
        {"-p", "16"},      {"-n", "8"},         {"-t", "1"},
        {"--reps", "3-4"}, {"--budget", "0.05"}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        assert_int_equal(lf_bench_matrix_parse_flag(&m, flags[i][0], flags[i][1], &err), 0);
    lf_bench_opts o;
    base_opts(&o, &dev);
    lf_run_full rf;
    o.results = &rf;
    if (lf_bench_run(&m, &o, NULL, &err) < 0)
        fail_msg("run: %s", err.msg);
    /* 3 adapter settings x (pp, tg) + model_load + 2 x adapter_load + 1 swap (runtime only) */
    assert_int_equal(rf.n_results, 10);
    int merged = 0, runtime = 0;
    for (int i = 0; i < rf.n_results; i++) {
        const lf_result *r = &rf.results[i];
        assert_string_equal(r->model, "stories260K");
        assert_string_equal(r->model_path, model);
        assert_string_equal(r->quant, "F32");   /* from the file's own types */
        if (r->kind == LF_TEST_MODEL_LOAD) {
            assert_string_equal(r->config, "");   /* a real load, repeated */
            assert_true(r->n_samples >= 3);
        }
        if (r->adapter[0]) {
            assert_string_equal(r->adapter, "stories260K-lora-r4.gguf");
            assert_int_equal(r->adapter_rank, 4);   /* read from the file */
            merged += r->adapter_mode == LF_ADAPTER_MERGED;
            runtime += r->adapter_mode == LF_ADAPTER_RUNTIME;
        }
    }
    assert_int_equal(merged, 3);    /* pp, tg, adapter_load */
    assert_int_equal(runtime, 4);   /* pp, tg, adapter_load, adapter_swap */
    lf_run_full_free(&rf);

    /* a missing file is refused before anything runs */
    lf_bench_matrix_free(&m);
    lf_bench_matrix_init(&m);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-m", "/nonexistent/model.gguf", &err), 0);
    assert_int_equal(lf_bench_run(&m, &o, NULL, &err), LF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/model.gguf"));
    lf_bench_matrix_free(&m);
}

/* A mixture-of-experts file outside the catalog (what `synth --experts 8
 * --experts-used 2 -o F` then `bench -m F` does): each result carries the
 * model's expert counts and resident size, read back from the store, with
 * the active bytes (a token's 2 of 8 experts) as its weight bytes. */
static void test_moe_file_recorded(void **state) {
    tdir *t = *state;
    lf_model_params hp;
    lf_model_params_init(&hp, LF_ARCH_QWEN3MOE);
    snprintf(hp.name, sizeof hp.name, "tiny-moe");
    hp.n_layer = 2;
    hp.n_embd = 128;
    hp.n_head = 4;
    hp.n_head_kv = 2;
    hp.head_dim = hp.head_dim_v = 32;
    hp.n_ff = hp.n_ff_exp = 64;
    hp.n_vocab = 512;
    hp.n_ctx_train = 256;
    hp.n_expert = 8;
    hp.n_expert_used = 2;
    lf_model *mm = NULL;
    lf_error err = {0};
    assert_int_equal(lf_model_params_check(&hp, &err), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/tiny-moe.gguf", t->dir);
    if (lf_model_synth(&mm, &hp, LF_MIX_Q8_0, 7, &err) < 0 || lf_model_save_gguf(mm, path, &err) < 0)
        fail_msg("tiny moe: %s", err.msg);
    double total = (double)lf_model_total_bytes(mm), active = (double)lf_model_weight_bytes(mm);
    lf_model_free(mm);
    assert_true(active < total);

    lf_device dev;
    fake_device(&dev);
    lf_bench_matrix m;
    lf_bench_matrix_init(&m);
    const char *flags[][2] = {{"-m", path}, {"--tests", "pp,tg"}, {"-p", "16"}, {"-n", "8"},
                              {"-t", "1"},  {"--reps", "3-3"},  {"--budget", "0.05"}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        assert_int_equal(lf_bench_matrix_parse_flag(&m, flags[i][0], flags[i][1], &err), 0);
    lf_store *st = NULL;
    assert_int_equal(lf_store_open(&st, t->db, 0, &err), 0);
    lf_bench_opts o;
    base_opts(&o, &dev);
    o.store = st;
    lf_run run;
    if (lf_bench_run(&m, &o, &run, &err) < 0)
        fail_msg("run: %s", err.msg);
    lf_run_full db;
    assert_int_equal(lf_store_run_load(st, run.id, &db, &err), 0);
    assert_int_equal(db.n_results, 2);
    for (int i = 0; i < db.n_results; i++) {
        const lf_result *r = &db.results[i];
        assert_int_equal(r->n_expert, 8);
        assert_int_equal(r->n_expert_used, 2);
        assert_true(r->model_bytes == total);
        assert_true(fabs(r->weight_bytes - active) <= 1e-9 * active);
    }
    lf_run_full_free(&db);
    lf_store_close(st);
    lf_bench_matrix_free(&m);
}

/* A model name the catalog does not know fails before anything runs. */
static void test_unknown_model(void **state) {
    (void)state;
    lf_device dev;
    fake_device(&dev);
    lf_bench_matrix m;
    lf_bench_matrix_init(&m);
    lf_error err = {0};
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-m", "no-such-model-7b", &err), 0);
    lf_bench_opts o;
    base_opts(&o, &dev);
    assert_int_equal(lf_bench_run(&m, &o, NULL, &err), LF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no-such-model-7b"));
    lf_bench_matrix_free(&m);
    /* nor does an empty matrix run */
    lf_bench_matrix_init(&m);
    assert_int_equal(lf_bench_run(&m, &o, NULL, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "no models"));
    lf_bench_matrix_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_smoke_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_refusal, setup, teardown),
        cmocka_unit_test(test_output_formats),
        cmocka_unit_test(test_threads_depth_kv),
        cmocka_unit_test(test_passes),
        cmocka_unit_test(test_isa_comparison),
        cmocka_unit_test_setup_teardown(test_energy, setup, teardown),
        cmocka_unit_test(test_gguf_models),
        cmocka_unit_test(test_unknown_model),
        cmocka_unit_test_setup_teardown(test_moe_file_recorded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
