/*
 * engines/: llama.cpp as a measured engine. The argument vector built for
 * a test; llama-bench's recorded output read through the store's importer
 * (both -o json and -o jsonl); a fake llama-bench (fake_llama.h, the only
 * mock, at the process boundary) that answers, fails, prints garbage or
 * answers another test; a missing binary; interruption and the timeout;
 * the synthesized-model cache; and a real llama-bench on a shared model
 * when LOCALFIT_TEST_LLAMA_BENCH names one (skipped, saying so, otherwise).
 */
#include "engines/engines.h"
#include "tests/engines/fake_llama.h"
#include "tests/store/test_support.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

/* Skips the test, saying why (ctest shows it with --output-on-failure). */
static void skip_because(const char *why, const char *what) {
    print_message("skipped: %s%s\n", why, what);
    skip();
}

static int setup(void **state) {
    *state = tdir_new();
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    tdir_free(*state);
    return 0;
}

/* The argument vector as one space-joined line. */
static void joined(char **argv, char *buf, size_t size) {
    buf[0] = '\0';
    for (char **p = argv; *p; p++) {
        size_t l = strlen(buf);
        snprintf(buf + l, size - l, "%s%s", p == argv ? "" : " ", *p);
    }
}

static void test_argv(void **state) {
    (void)state;
    lf_engine_llama e;
    lf_engine_llama_init(&e, "/opt/llama/llama-bench");
    assert_int_equal(lf_engine_llama_pass(&e, "-ngl", NULL), 0);
    assert_int_equal(lf_engine_llama_pass(&e, "99", NULL), 0);
    char **argv, line[1024];
    lf_engine_test tg = {LF_TEST_TG, 0, 128, 512, 4, "q8_0"};
    assert_int_equal(lf_engine_llama_argv(&e, "/m/x y.gguf", &tg, 1, &argv, NULL), 0);
    joined(argv, line, sizeof line);
    assert_string_equal(line, "/opt/llama/llama-bench -m /m/x y.gguf -p 0 -n 128 -d 512 -t 4 -ctk q8_0 "
                              "-ctv q8_0 -r 1 -o jsonl -ngl 99");
    /* a path with a space stays one argument: no shell */
    assert_string_equal(argv[2], "/m/x y.gguf");
    lf_engine_argv_free(argv);

    lf_engine_test pp = {LF_TEST_PP, 512, 0, 0, 2, "f16"};
    assert_int_equal(lf_engine_llama_argv(&e, "m.gguf", &pp, 5, &argv, NULL), 0);
    joined(argv, line, sizeof line);
    assert_string_equal(line, "/opt/llama/llama-bench -m m.gguf -p 512 -n 0 -d 0 -t 2 -ctk f16 -ctv f16 "
                              "-r 5 -o jsonl -ngl 99");
    lf_engine_argv_free(argv);

    lf_engine_test pg = {LF_TEST_PG, 16, 4, 0, 1, "f16"};
    assert_int_equal(lf_engine_llama_argv(&e, "m.gguf", &pg, 1, &argv, NULL), 0);
    joined(argv, line, sizeof line);
    assert_string_equal(line, "/opt/llama/llama-bench -m m.gguf -p 0 -n 0 -pg 16,4 -d 0 -t 1 -ctk f16 "
                              "-ctv f16 -r 1 -o jsonl -ngl 99");
    lf_engine_argv_free(argv);

    /* what llama-bench cannot run is refused, not guessed */
    lf_error err = {0};
    lf_engine_test bad = {LF_TEST_PP, 0, 0, 0, 1, "f16"};
    assert_int_equal(lf_engine_llama_argv(&e, "m.gguf", &bad, 1, &argv, &err), LF_EINVAL);
    assert_null(argv);
    lf_engine_test badkv = {LF_TEST_TG, 0, 8, 0, 1, "q4_0"};
    assert_int_equal(lf_engine_llama_argv(&e, "m.gguf", &badkv, 1, &argv, &err), LF_EINVAL);
    lf_engine_test ttft = {LF_TEST_TTFT, 8, 1, 0, 1, "f16"};
    assert_int_equal(lf_engine_llama_argv(&e, "m.gguf", &ttft, 1, &argv, &err), LF_EINVAL);
}

static void test_supports(void **state) {
    (void)state;
    lf_result r;
    lf_result_init(&r);
    r.kind = LF_TEST_TG;
    r.n_gen = 32;
    r.threads = 2;
    strcpy(r.kv_type, "f16");
    assert_true(lf_engine_llama_supports(&r));
    lf_engine_test t;
    lf_engine_test_from_result(&r, &t);
    assert_int_equal(t.kind, LF_TEST_TG);
    assert_int_equal(t.n_gen, 32);
    assert_int_equal(t.n_prompt, 0);
    strcpy(r.adapter, "r16");
    r.n_adapters = 1;
    assert_false(lf_engine_llama_supports(&r));   /* llama-bench has no adapters */
    r.adapter[0] = 0;
    r.n_adapters = 0;
    r.kind = LF_TEST_MODEL_LOAD;
    assert_false(lf_engine_llama_supports(&r));
}

/* Recorded from a real llama-bench (-p 0 -n 4 -r 2 -t 1) on stories260K-Q4_0. */
static const char recorded[] =
    "{\"build_commit\": \"de3ff81\", \"build_number\": 1, \"cpu_info\": \"Intel(R) Xeon(R) Processor\", "
    "\"gpu_info\": \"\", \"backends\": \"CPU\", \"model_filename\": \"/work/shared/models/stories260K-Q4_0.gguf\", "
    "\"model_type\": \"llama ?B Q4_0\", \"model_size\": 262624, \"model_n_params\": 292800, \"n_batch\": 2048, "
    "\"n_ubatch\": 512, \"n_threads\": 1, \"cpu_mask\": \"0x0\", \"cpu_strict\": false, \"poll\": 50, "
    "\"type_k\": \"f16\", \"type_v\": \"f16\", \"n_gpu_layers\": -1, \"n_cpu_moe\": 0, \"split_mode\": \"layer\", "
    "\"main_gpu\": 0, \"no_kv_offload\": false, \"flash_attn\": -1, \"devices\": \"auto\", \"tensor_split\": "
    "\"0.00\", \"tensor_buft_overrides\": \"none\", \"load_mode\": \"auto\", \"lazy_mode\": \"auto\", "
    "\"embeddings\": false, \"no_op_offload\": 0, \"no_host\": false, \"fit_target\": 0, \"fit_min_ctx\": 0, "
    "\"n_prompt\": 0, \"n_gen\": 4, \"n_depth\": 0, \"test_time\": \"2026-12-07T00:59:02Z\", \"avg_ns\": "
    "579272, \"stddev_ns\": 31172, \"avg_ts\": 6915.231490, \"stddev_ts\": 372.126143, \"samples_ns\": "
    "[ 601314, 557230 ],\"samples_ts\": [ 6652.1, 7178.36 ]}\n";

static void check_recorded(const lf_run_full *rf) {
    assert_int_equal(rf->n_results, 1);
    const lf_result *r = &rf->results[0];
    assert_int_equal(r->kind, LF_TEST_TG);
    assert_int_equal(r->n_gen, 4);
    assert_int_equal(r->n_prompt, 0);
    assert_int_equal(r->threads, 1);
    assert_string_equal(r->engine, "llama.cpp");
    assert_string_equal(r->quant, "Q4_0");
    assert_string_equal(r->model, "stories260K-Q4_0");
    assert_string_equal(r->backend, "CPU");
    assert_string_equal(r->config, "ngl=-1 b=2048 ub=512 fa=-1");
    assert_int_equal(rf->n_samples_stored[0], 2);
    assert_true(rf->samples[0][0] == 6652.1 && rf->samples[0][1] == 7178.36);
    assert_true(fabs(r->median - (6652.1 + 7178.36) / 2) < 1e-9);
    assert_string_equal(rf->run.tool_version, "llama-bench b1");
    assert_string_equal(rf->run.git_commit, "de3ff81");
}

static void test_parse(void **state) {
    (void)state;
    lf_run_full rf;
    lf_error err = {0};
    assert_int_equal(lf_store_llama_parse("rec", recorded, strlen(recorded), NULL, &rf, &err), 0);
    check_recorded(&rf);
    lf_run_full_free(&rf);
    /* the same record as -o json prints it: an array */
    char arr[sizeof recorded + 8];
    snprintf(arr, sizeof arr, "[\n%s]\n", recorded);
    assert_int_equal(lf_store_llama_parse("rec", arr, strlen(arr), NULL, &rf, &err), 0);
    check_recorded(&rf);
    lf_run_full_free(&rf);

    static const char *const bad[] = {"", "  \n", "garbage\n", "[1, 2]", "{\"x\": 1}\n", "[{\"n_gen\": 4,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = lf_store_llama_parse("out", bad[i], strlen(bad[i]), NULL, &rf, &err);
        if (rc != LF_EFORMAT)
            fail_msg("case %zu: rc %d", i, rc);
        assert_non_null(strstr(err.msg, "out"));
        assert_int_equal(rf.n_results, 0);
        assert_null(rf.results);
    }
}

static void fake_paths(const tdir *t, char *bin, char *log, size_t size) {
    snprintf(bin, size, "%s/llama-bench", t->dir);
    snprintf(log, size, "%s/args.log", t->dir);
}

static void test_fake_run(void **state) {
    tdir *t = *state;
    char bin[512], log[512];
    fake_paths(t, bin, log, sizeof bin);
    assert_int_equal(fake_llama_write(bin, log, FAKE_OK), 0);
    lf_engine_llama e;
    lf_engine_llama_init(&e, bin);
    assert_int_equal(lf_engine_llama_check(&e, NULL), 0);
    assert_int_equal(lf_engine_llama_pass(&e, "-fa", NULL), 0);
    assert_int_equal(lf_engine_llama_pass(&e, "1", NULL), 0);
    lf_engine_test tests[2] = {{LF_TEST_PP, 16, 0, 0, 1, "f16"}, {LF_TEST_TG, 0, 4, 8, 2, "q8_0"}};
    lf_run_full rf;
    lf_error err = {0};
    int rc = lf_engine_llama_run(&e, "/models/m.gguf", tests, 2, 1, NULL, &rf, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(rf.n_results, 2);
    assert_int_equal(rf.results[0].kind, LF_TEST_PP);
    assert_int_equal(rf.results[0].n_prompt, 16);
    assert_int_equal(rf.results[1].kind, LF_TEST_TG);
    assert_int_equal(rf.results[1].n_depth, 8);
    assert_int_equal(rf.results[1].threads, 2);
    assert_string_equal(rf.results[1].kv_type, "q8_0");
    assert_string_equal(rf.results[1].config, "ngl=99 b=2048 ub=512 fa=1");
    for (int i = 0; i < 2; i++) {
        assert_string_equal(rf.results[i].engine, "llama.cpp");
        assert_int_equal(rf.n_samples_stored[i], 1);
        assert_true(rf.samples[i][0] == 1234.5);
    }
    lf_run_full_free(&rf);
    /* what the binary was given, one invocation per test */
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[1024];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "-m /models/m.gguf -p 16 -n 0 -d 0 -t 1 -ctk f16 -ctv f16 -r 1 -o jsonl -fa 1\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "-m /models/m.gguf -p 0 -n 4 -d 8 -t 2 -ctk q8_0 -ctv q8_0 -r 1 -o jsonl -fa 1\n");
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
}

static void test_fake_failures(void **state) {
    tdir *t = *state;
    char bin[512], log[512];
    fake_paths(t, bin, log, sizeof bin);
    lf_engine_test tg = {LF_TEST_TG, 0, 4, 0, 1, "f16"};
    static const struct { fake_mode mode; int rc; const char *needle; } cases[] = {
        {FAKE_FAIL, LF_ETOOL, "exited with status 3: llama_model_load: error loading model: fake failure"},
        {FAKE_GARBAGE, LF_EFORMAT, "output of"},
        {FAKE_WRONG, LF_EFORMAT, "not the one test asked for"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(fake_llama_write(bin, log, cases[i].mode), 0);
        lf_engine_llama e;
        lf_engine_llama_init(&e, bin);
        lf_run_full rf;
        lf_error err = {0};
        int rc = lf_engine_llama_run(&e, "m.gguf", &tg, 1, 1, NULL, &rf, &err);
        if (rc != cases[i].rc || !strstr(err.msg, cases[i].needle))
            fail_msg("case %zu: rc %d: %s", i, rc, err.msg);
        assert_int_equal(rf.n_results, 0);
        assert_null(rf.results);
    }
}

static void test_missing_binary(void **state) {
    tdir *t = *state;
    char bin[512];
    snprintf(bin, sizeof bin, "%s/no-llama-bench", t->dir);
    lf_engine_llama e;
    lf_engine_llama_init(&e, bin);
    lf_error err = {0};
    assert_int_equal(lf_engine_llama_check(&e, &err), LF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no such file"));
    lf_engine_test tg = {LF_TEST_TG, 0, 4, 0, 1, "f16"};
    lf_run_full rf;
    assert_int_equal(lf_engine_llama_run(&e, "m.gguf", &tg, 1, 1, NULL, &rf, &err), LF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no-llama-bench"));
    /* a bare name is looked up in PATH */
    lf_engine_llama_init(&e, "no-such-llama-bench-7f3a");
    assert_int_equal(lf_engine_llama_check(&e, &err), LF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "not found in PATH"));
    /* a file that is not executable */
    FILE *f = fopen(bin, "w");
    assert_non_null(f);
    fclose(f);
    lf_engine_llama_init(&e, bin);
    assert_int_equal(lf_engine_llama_check(&e, &err), LF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "not an executable"));
}

/* A llama-bench that hangs is stopped by the interrupt flag, and by the
 * timeout; neither outcome depends on how fast this machine is. */
static void test_interrupt_timeout(void **state) {
    tdir *t = *state;
    char bin[512];
    snprintf(bin, sizeof bin, "%s/hang", t->dir);
    FILE *f = fopen(bin, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\nexec sleep 600\n", f);
    fclose(f);
    assert_int_equal(chmod(bin, 0755), 0);
    lf_engine_test tg = {LF_TEST_TG, 0, 4, 0, 1, "f16"};
    lf_engine_llama e;
    lf_engine_llama_init(&e, bin);
    volatile sig_atomic_t flag = 1;
    e.interrupted = &flag;
    lf_run_full rf;
    lf_error err = {0};
    assert_int_equal(lf_engine_llama_run(&e, "m.gguf", &tg, 1, 1, NULL, &rf, &err), LF_EINTR);
    e.interrupted = NULL;
    e.timeout_s = 0.05;
    assert_int_equal(lf_engine_llama_run(&e, "m.gguf", &tg, 1, 1, NULL, &rf, &err), LF_ETOOL);
    assert_non_null(strstr(err.msg, "ran longer than"));
}

/* llama-bench started from a thread localfit pinned to one core gets the
 * CPUs the engine was set up with, not the pin; the pin is kept. */
static void test_child_cpus(void **state) {
    tdir *t = *state;
    cpu_set_t all, one, now;
    assert_int_equal(sched_getaffinity(0, sizeof all, &all), 0);
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
        if (CPU_ISSET(c, &all))
            first = c;
    if (CPU_COUNT(&all) < 2)
        skip_because("needs two CPUs to tell a pinned child apart", "");
    char bin[512], log[512];
    snprintf(bin, sizeof bin, "%s/cpus", t->dir);
    snprintf(log, sizeof log, "%s/cpus.log", t->dir);
    FILE *f = fopen(bin, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\ngrep Cpus_allowed_list /proc/self/status > '%s'\nexit 1\n", log);
    fclose(f);
    assert_int_equal(chmod(bin, 0755), 0);
    lf_engine_llama e;
    lf_engine_llama_init(&e, bin);   /* before the pin, as the CLI does */
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    lf_engine_test tg = {LF_TEST_TG, 0, 4, 0, 1, "f16"};
    lf_run_full rf;
    lf_error err = {0};
    assert_int_equal(lf_engine_llama_run(&e, "m.gguf", &tg, 1, 1, NULL, &rf, &err), LF_ETOOL);
    assert_int_equal(sched_getaffinity(0, sizeof now, &now), 0);
    assert_true(CPU_EQUAL(&now, &one));   /* our pin is back */
    assert_int_equal(sched_setaffinity(0, sizeof all, &all), 0);
    /* the child's list names more than the one pinned CPU */
    f = fopen(log, "r");
    assert_non_null(f);
    char line[256] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    char pinned[64];
    snprintf(pinned, sizeof pinned, "\t%d\n", first);
    if (strstr(line, pinned))
        fail_msg("llama-bench inherited the pin: %s", line);
}

static void tiny_params(lf_model_params *hp) {
    lf_model_params_init(hp, LF_ARCH_LLAMA);
    strcpy(hp->name, "tiny test/model");
    hp->n_layer = 2;
    hp->n_embd = 64;
    hp->n_head = 4;
    hp->n_head_kv = 2;
    hp->n_ff = 128;
    hp->n_vocab = 256;
    hp->n_ctx_train = 128;
    assert_int_equal(lf_model_params_check(hp, NULL), 0);
}

static void test_model_cache(void **state) {
    tdir *t = *state;
    lf_model_params hp;
    tiny_params(&hp);
    char p1[4096], p2[4096], p3[4096];
    bool created;
    lf_error err = {0};
    assert_int_equal(lf_engine_model_file(t->dir, &hp, LF_MIX_Q8_0, 7, p1, sizeof p1, &created, &err), 0);
    assert_true(created);
    assert_non_null(strstr(p1, "/tiny_test_model-Q8_0-"));   /* a name safe as a file name */
    assert_int_equal(lf_engine_model_file(t->dir, &hp, LF_MIX_Q8_0, 7, p2, sizeof p2, &created, &err), 0);
    assert_false(created);                                    /* written once */
    assert_string_equal(p1, p2);
    assert_int_equal(lf_engine_model_file(t->dir, &hp, LF_MIX_Q8_0, 8, p3, sizeof p3, &created, &err), 0);
    assert_true(created);
    assert_string_not_equal(p1, p3);                          /* another seed, another file */
    hp.n_ff = 192;
    assert_int_equal(lf_engine_model_file(t->dir, &hp, LF_MIX_Q8_0, 7, p3, sizeof p3, &created, &err), 0);
    assert_string_not_equal(p1, p3);                          /* another shape, another file */
    /* the file holds the synthesized model */
    lf_model *m = NULL;
    if (lf_model_load(&m, p1, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(lf_model_hparams(m)->n_layer, 2);
    assert_int_equal(lf_model_hparams(m)->n_embd, 64);
    assert_int_equal(lf_model_mix(m), LF_MIX_Q8_0);
    lf_model_free(m);
}

/* The real llama-bench, when the build names one, on a shared model. */
static void test_real_llama_bench(void **state) {
    (void)state;
    const char *bin = getenv("LOCALFIT_TEST_LLAMA_BENCH");
    const char *models = getenv("LOCALFIT_TEST_MODELS");
    char model[1024];
    snprintf(model, sizeof model, "%s/stories260K-Q8_0.gguf", models ? models : "../shared/models");
    if (!bin || !*bin)
        skip_because("no llama-bench (configure with -DLF_TEST_LLAMA_BENCH=PATH)", "");
    if (access(model, R_OK) != 0)
        skip_because("no shared model ", model);
    lf_engine_llama e;
    lf_engine_llama_init(&e, bin);
    lf_error err = {0};
    if (lf_engine_llama_check(&e, &err) < 0)
        fail_msg("%s", err.msg);
    /* (a q8_0 V cache needs heads of 32: this model's are 8) */
    lf_engine_test tests[2] = {{LF_TEST_PP, 16, 0, 0, 1, "f16"}, {LF_TEST_TG, 0, 4, 4, 1, "f16"}};
    lf_run_full rf;
    if (lf_engine_llama_run(&e, model, tests, 2, 2, NULL, &rf, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(rf.n_results, 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(rf.results[i].engine, "llama.cpp");
        assert_string_equal(rf.results[i].model_path, model);
        assert_string_equal(rf.results[i].quant, "Q8_0");
        assert_int_equal(rf.n_samples_stored[i], 2);
        for (int k = 0; k < 2; k++)
            assert_true(isfinite(rf.samples[i][k]) && rf.samples[i][k] > 0);
    }
    assert_int_equal(rf.results[1].n_depth, 4);
    assert_int_equal(rf.results[1].kind, LF_TEST_TG);
    lf_run_full_free(&rf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv),
        cmocka_unit_test(test_supports),
        cmocka_unit_test(test_parse),
        cmocka_unit_test_setup_teardown(test_fake_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_child_cpus, setup, teardown),
        cmocka_unit_test(test_real_llama_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
