/*
 * The benchmark matrix: suite files (a good file read back value by value,
 * every kind of bad line refused with FILE:LINE and the caller's matrix
 * left as it was), llama-bench style flags (lists, ranges with steps and
 * factors, "all", replace-then-append), adapter specs, and the built-in
 * suites: each parses and every model it names resolves against the
 * catalog (a dry run plans it without loading anything).
 */
#include "bench/bench.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *datadir(void) {
    const char *d = getenv("LOCALFIT_DATADIR");
    return d && *d ? d : LF_SOURCE_DIR "/datasets";
}

static int parse(lf_bench_matrix *m, const char *text, lf_error *err) {
    return lf_suite_parse(m, "t.conf", text, strlen(text), err);
}

static void test_good_file(void **state) {
    (void)state;
    static const char text[] =
        "# a comment line\n"
        "name = mine\n"
        "description = two parts, one shape   # trailing comment\n"
        "reps = 4-9\n"
        "target_ci = 2.5%\n"
        "budget = 1500ms\n"
        "warmup = 2\n"
        "passes = 4\n"
        "seed = 42\n"
        "roofs = yes\n"
        "isa = scalar\n"
        "lora_targets = attn_q, ffn_down\n"
        "shape.tiny = llama layers=2 dim=128 heads=4 kv_heads=2 ff=256 vocab=512 ctx=256 tied\n"
        "threads = 1-4+2\n"
        "kv = f16\n"
        "\n"
        "[first]\n"
        "models = tiny, smollm2-135m\n"
        "quants = q4_0, Q4_K_M, q6_k\n"
        "n_prompt = 16, 64\n"
        "n_gen = 8\n"
        "depth = 0, 32\n"
        "adapters = none, r8x2:merged, dir/a.gguf\n"
        "tests = pp, tg, ttft\n"
        "\r\n"
        "[second]\n"
        "models = tiny\n"
        "threads = all, 2-all\n"
        "kv = q8_0, f32\n"
        "tests = all\n";
    lf_bench_matrix m;
    lf_bench_matrix_init(&m);
    lf_error err = {0};
    assert_int_equal(parse(&m, text, &err), 0);
    assert_string_equal(m.name, "mine");
    assert_string_equal(m.description, "two parts, one shape");
    assert_int_equal(m.reps_min, 4);
    assert_int_equal(m.reps_max, 9);
    assert_true(m.target_ci > 0.0249 && m.target_ci < 0.0251);
    assert_true(m.budget_s > 1.499 && m.budget_s < 1.501);
    assert_int_equal(m.warmup, 2);
    assert_int_equal(m.passes, 4);
    assert_int_equal((int)m.seed, 42);
    assert_true(m.roofs);
    assert_int_equal(m.isa.n, 1);
    assert_int_equal(m.isa.v[0], LF_ISA_SCALAR);
    assert_int_equal(m.n_lora_targets, 2);
    assert_string_equal(m.lora_targets[1], "ffn_down");
    assert_int_equal(m.n_shapes, 1);
    assert_string_equal(m.shapes[0].name, "tiny");
    assert_int_equal(m.shapes[0].hp.n_layer, 2);
    assert_int_equal(m.shapes[0].hp.n_embd, 128);
    assert_int_equal(m.shapes[0].hp.head_dim, 32);   /* derived: 128 / 4 */
    assert_true(m.shapes[0].hp.tied);

    assert_int_equal(m.n_parts, 2);
    const lf_bench_part *p = &m.parts[0];
    assert_string_equal(p->name, "first");
    assert_int_equal(p->n_models, 2);
    assert_string_equal(p->models[1], "smollm2-135m");
    assert_int_equal(p->quants.n, 3);
    assert_int_equal(p->quants.v[0], LF_MIX_Q4_0);
    assert_int_equal(p->quants.v[1], LF_MIX_Q4_K_M);
    assert_int_equal(p->quants.v[2], LF_MIX_Q6_K);
    /* threads and kv come from the defaults above the sections */
    assert_int_equal(p->threads.n, 2);
    assert_int_equal(p->threads.v[0], 1);
    assert_int_equal(p->threads.v[1], 3);
    assert_int_equal(p->kv.n, 1);
    assert_int_equal(p->kv.v[0], LF_TYPE_F16);
    assert_int_equal(p->n_prompt.n, 2);
    assert_int_equal(p->n_prompt.v[1], 64);
    assert_int_equal(p->depth.n, 2);
    assert_int_equal(p->depth.v[1], 32);
    assert_int_equal(p->n_adapters, 3);
    assert_int_equal(p->adapters[0].mode, LF_ADAPTER_NONE);
    assert_int_equal(p->adapters[1].mode, LF_ADAPTER_MERGED);
    assert_int_equal(p->adapters[1].rank, 8);
    assert_int_equal(p->adapters[1].n, 2);
    assert_string_equal(p->adapters[1].spec, "r8x2:merged");
    assert_string_equal(p->adapters[2].path, "dir/a.gguf");
    assert_string_equal(p->adapters[2].spec, "a.gguf");
    assert_int_equal(p->adapters[2].mode, LF_ADAPTER_RUNTIME);
    assert_int_equal(p->tests, 1u << LF_TEST_PP | 1u << LF_TEST_TG | 1u << LF_TEST_TTFT);

    p = &m.parts[1];
    assert_string_equal(p->name, "second");
    assert_int_equal(p->threads.n, 2);
    assert_int_equal(p->threads.v[0], 0);    /* all */
    assert_int_equal(p->threads.v[1], -2);   /* 2-all */
    assert_int_equal(p->kv.n, 2);
    assert_int_equal(p->kv.v[1], LF_TYPE_F32);
    /* defaults not overridden in a section stay the matrix defaults */
    assert_int_equal(p->quants.n, 1);
    assert_int_equal(p->quants.v[0], LF_MIX_Q4_K_M);
    assert_int_equal(p->n_gen.v[0], 128);
    assert_true(p->tests & (1u << LF_TEST_MODEL_LOAD));
    assert_false(p->tests & (1u << LF_TEST_PG));
    lf_bench_matrix_free(&m);
}

/* Each bad text must fail with "t.conf:LINE:" and a word about the cause,
 * and leave the matrix as it was. */
static void test_bad_lines(void **state) {
    (void)state;
    static const struct { const char *text; int line; const char *needle; } bad[] = {
        {"models = a\nbogus = 1\n", 2, "unknown key 'bogus'"},
        {"models a\n", 1, "expected 'key = value'"},
        {"= 3\n", 1, "no key"},
        {"models =\n", 1, "no value for 'models'"},
        {"threads = 2\nthreads = 3\n", 2, "set twice"},
        {"reps = 3\nreps = 4\n", 2, "set twice (first on line 1)"},
        {"[a]\nmodels = x\nmodels = y\n", 3, "set twice in section [a]"},
        {"[a]\nreps = 3\n", 2, "before the first [section]"},
        {"[a\n", 1, "without ']'"},
        {"[]\n", 1, "section name"},
        {"[a]\n[a]\n", 2, "appears twice"},
        {"threads = 0\n", 1, "threads"},
        {"threads = 4-2\n", 1, "range"},
        {"threads = 1-8+0\n", 1, "step"},
        {"threads = 1-8*1\n", 1, "step"},
        {"threads = 1-100000\n", 1, "threads"},
        {"n_prompt = 1-1000000+1\n", 1, "more than"},
        {"n_prompt = 12x\n", 1, "n_prompt"},
        {"n_gen = -3\n", 1, "n_gen"},
        {"depth = 1,,2\n", 1, "empty value"},
        {"quants = q4_0, q9_9\n", 1, "q9_9"},
        {"kv = q4_0\n", 1, "KV cache type"},
        {"tests = pp, pg\n", 1, "pg"},
        {"tests = speed\n", 1, "speed"},
        {"isa = mmx\n", 1, "mmx"},
        {"adapters = r0\n", 1, "rank"},
        {"adapters = r16x99\n", 1, "rank"},
        {"adapters = lora.bin\n", 1, "expected none"},
        {"reps = 5-2\n", 1, "MIN-MAX"},
        {"reps = 0\n", 1, "MIN"},
        {"target_ci = 0\n", 1, "width"},
        {"target_ci = 150%\n", 1, "width"},
        {"budget = soon\n", 1, "time"},
        {"warmup = 1000\n", 1, "0-100"},
        {"passes = 0\n", 1, "1-100"},
        {"passes = 101\n", 1, "1-100"},
        {"seed = -1\n", 1, "seed"},
        {"roofs = maybe\n", 1, "yes or no"},
        {"lora_targets = attn_x\n", 1, "attn_x"},
        {"name = a b\n", 1, "name"},
        {"shape.t = llama layers=2\n", 1, "required"},
        {"shape.t = llama layers=two dim=64 heads=4 ff=64 vocab=64\n", 1, "layers"},
        {"shape.t = llama layers=2 dim=64 heads=4 ff=64 vocab=64 color=red\n", 1, "unknown key 'color'"},
        {"shape.t = layers=2 dim=65 heads=4 ff=64 vocab=64\n", 1, "shape t"},
        {"shape.t = marsupial layers=2 dim=64 heads=4 ff=64 vocab=64\n", 1, "marsupial"},
        {"shape.t = llama layers=2 dim=64 heads=2 ff=64 vocab=64\n"
         "shape.t = llama layers=3 dim=64 heads=2 ff=64 vocab=64\n", 2, "defined twice"},
        {"shape.b@d = llama layers=2 dim=64 heads=2 ff=64 vocab=64\n", 1, "shape name"},
        {"shape. = x\n", 1, "unknown key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lf_bench_matrix m;
        lf_bench_matrix_init(&m);
        lf_error err = {0};
        int rc = parse(&m, bad[i].text, &err);
        char want[32];
        snprintf(want, sizeof want, "t.conf:%d:", bad[i].line);
        if (rc != LF_EFORMAT || !strstr(err.msg, want) || !strstr(err.msg, bad[i].needle))
            fail_msg("case %zu (%s): rc %d, message '%s'", i, bad[i].text, rc, err.msg);
        /* untouched: still the defaults */
        assert_int_equal(m.n_parts, 1);
        assert_int_equal(m.parts[0].n_models, 0);
        assert_int_equal(m.parts[0].threads.n, 1);
        assert_int_equal(m.parts[0].threads.v[0], 0);
        assert_int_equal(m.reps_min, 3);
        assert_int_equal(m.n_shapes, 0);
        lf_bench_matrix_free(&m);
    }
    /* a NUL byte, and a line longer than the limit */
    lf_bench_matrix m;
    lf_bench_matrix_init(&m);
    lf_error err = {0};
    static const char nul[] = "models = a\nthreads = 1\0\n";
    assert_int_equal(lf_suite_parse(&m, "n.conf", nul, sizeof nul - 1, &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "n.conf:2: NUL"));
    char *big = malloc(10000);
    memset(big, 'a', 9999);
    memcpy(big, "models = ", 9);
    big[9999] = 0;
    assert_int_equal(lf_suite_parse(&m, "l.conf", big, strlen(big), &err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "l.conf:1: line longer"));
    free(big);
    lf_bench_matrix_free(&m);
}

static void test_flags(void **state) {
    (void)state;
    lf_bench_matrix m;
    lf_bench_matrix_init(&m);
    lf_error err = {0};
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-p", "128,512", &err), 0);
    assert_int_equal(m.parts[0].n_prompt.n, 2);
    assert_int_equal(m.parts[0].n_prompt.v[0], 128);
    assert_int_equal(m.parts[0].n_prompt.v[1], 512);
    /* the first flag replaces, a repeated one appends */
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--n-prompt", "64", &err), 0);
    assert_int_equal(m.parts[0].n_prompt.n, 3);
    assert_int_equal(m.parts[0].n_prompt.v[2], 64);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-t", "1-2", &err), 0);
    assert_int_equal(m.parts[0].threads.n, 2);
    assert_int_equal(m.parts[0].threads.v[0], 1);
    assert_int_equal(m.parts[0].threads.v[1], 2);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-n", "1-16*2", &err), 0);
    int want_gen[] = {1, 2, 4, 8, 16};
    assert_int_equal(m.parts[0].n_gen.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(m.parts[0].n_gen.v[i], want_gen[i]);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-d", "0-1024+512", &err), 0);
    assert_int_equal(m.parts[0].depth.n, 3);
    assert_int_equal(m.parts[0].depth.v[2], 1024);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--kv", "f16,q8_0", &err), 0);
    assert_int_equal(m.parts[0].kv.v[1], LF_TYPE_Q8_0);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-m", "a, b.gguf", &err), 0);
    assert_int_equal(m.parts[0].n_models, 2);
    assert_string_equal(m.parts[0].models[1], "b.gguf");
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--lora", "none,r16,r4x3:merged", &err), 0);
    assert_int_equal(m.parts[0].n_adapters, 3);
    assert_int_equal(m.parts[0].adapters[2].n, 3);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--reps", "5", &err), 0);
    assert_int_equal(m.reps_min, 5);
    assert_int_equal(m.reps_max, 20);   /* MIN alone keeps the larger maximum */
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--reps", "2-4", &err), 0);
    assert_int_equal(m.reps_min, 2);
    assert_int_equal(m.reps_max, 4);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--target-ci", "0.05", &err), 0);
    assert_true(m.target_ci > 0.0499 && m.target_ci < 0.0501);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--budget", "2m", &err), 0);
    assert_true(m.budget_s > 119.9 && m.budget_s < 120.1);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--roofs", NULL, &err), 0);
    assert_true(m.roofs);
    assert_int_equal(
        lf_bench_matrix_parse_flag(&m, "--shape", "t2=qwen2 layers=1 dim=64 heads=2 ff=64 vocab=64", &err),
        0);
    assert_int_equal(m.n_shapes, 1);
    assert_int_equal(m.shapes[0].hp.arch, LF_ARCH_QWEN2);
    assert_true(m.shapes[0].hp.qkv_bias);    /* the architecture's default */
    /* a flag replaces a shape of the same name */
    assert_int_equal(
        lf_bench_matrix_parse_flag(&m, "--shape", "t2=llama layers=3 dim=64 heads=2 ff=64 vocab=64", &err),
        0);
    assert_int_equal(m.n_shapes, 1);
    assert_int_equal(m.shapes[0].hp.n_layer, 3);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--tests", "ttft", &err), 0);
    assert_int_equal(m.parts[0].tests, 1u << LF_TEST_TTFT);

    /* errors name the flag */
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--frobnicate", "1", &err), LF_EUSAGE);
    assert_non_null(strstr(err.msg, "--frobnicate"));
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-t", "1-x", &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "-t"));
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-p", "", &err), LF_EINVAL);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-p", NULL, &err), LF_EINVAL);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--shape", "noequals", &err), LF_EINVAL);
    /* a failed flag changed nothing */
    assert_int_equal(m.parts[0].threads.n, 2);
    lf_bench_matrix_free(&m);

    /* flags apply to every part of a suite with sections */
    lf_bench_matrix_init(&m);
    assert_int_equal(parse(&m, "[a]\nmodels = x\n[b]\nmodels = y\nthreads = 4\n", &err), 0);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "threads", "3", &err), 0);
    assert_int_equal(m.parts[0].threads.v[0], 3);
    assert_int_equal(m.parts[1].threads.v[0], 3);
    assert_int_equal(m.parts[1].threads.n, 1);
    lf_bench_matrix_free(&m);
}

/* llama-bench's "-p 0" / "-n 0" skip a test; "isa = all" is every SIMD
 * kernel set this CPU runs (the perf suite's --isa axis). */
static void test_llama_conventions(void **state) {
    (void)state;
    lf_bench_matrix m;
    lf_bench_matrix_init(&m);
    lf_error err = {0};
    assert_int_equal(m.parts[0].tests, 1u << LF_TEST_PP | 1u << LF_TEST_TG);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-p", "0", &err), 0);
    assert_int_equal(m.parts[0].tests, 1u << LF_TEST_TG);
    assert_int_equal(m.parts[0].n_prompt.n, 0);
    assert_int_equal(m.parts[0].n_gen.n, 1);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-n", "0", &err), 0);
    assert_int_equal(m.parts[0].tests, 0u);
    /* 0 inside a list is no length */
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "-n", "0,8", &err), LF_EINVAL);
    lf_bench_matrix_free(&m);

    lf_bench_matrix_init(&m);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--isa", "all", &err), 0);
    lf_isa cpu;
    lf_isa_detect(&cpu);
    int want = 0;
    for (int l = LF_ISA_SCALAR + 1; l < LF_ISA_COUNT; l++)
        if (lf_isa_supported(&cpu, (lf_isa_level)l))
            assert_int_equal(m.isa.v[want++], l);   /* weakest first */
    assert_int_equal(m.isa.n, want);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--isa", "scalar", &err), 0);   /* appends */
    assert_int_equal(m.isa.v[m.isa.n - 1], LF_ISA_SCALAR);
    assert_int_equal(lf_bench_matrix_parse_flag(&m, "--isa", "sse9", &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "all"));
    lf_bench_matrix_free(&m);
}

static void test_adapter_specs(void **state) {
    (void)state;
    lf_bench_adapter a;
    lf_error err = {0};
    assert_int_equal(lf_bench_adapter_parse("None", &a, &err), 0);
    assert_int_equal(a.mode, LF_ADAPTER_NONE);
    assert_int_equal(a.n, 0);
    assert_int_equal(lf_bench_adapter_parse("r16", &a, &err), 0);
    assert_int_equal(a.rank, 16);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.mode, LF_ADAPTER_RUNTIME);
    assert_int_equal(lf_bench_adapter_parse("R8X4:runtime", &a, &err), 0);
    assert_string_equal(a.spec, "r8x4");
    assert_int_equal(lf_bench_adapter_parse("/x/y/ad.GGUF:merged", &a, &err), 0);
    assert_string_equal(a.path, "/x/y/ad.GGUF");
    assert_string_equal(a.spec, "ad.GGUF:merged");
    assert_int_equal(a.mode, LF_ADAPTER_MERGED);
    assert_int_equal(lf_bench_adapter_parse("r", &a, &err), LF_EINVAL);
    assert_int_equal(lf_bench_adapter_parse("r4097", &a, &err), LF_EINVAL);
    assert_int_equal(lf_bench_adapter_parse(".gguf", &a, &err), LF_EINVAL);
    lf_mix mix;
    assert_int_equal(lf_bench_quant_parse("q5_k", &mix), 0);
    assert_int_equal(mix, LF_MIX_Q5_K_M);   /* llama.cpp's short form */
    assert_int_equal(lf_bench_quant_parse("f16", &mix), 0);
    assert_int_equal(mix, LF_MIX_F16);
    assert_int_equal(lf_bench_quant_parse("q4", &mix), LF_EINVAL);
}

/* Every built-in suite parses, and a dry run resolves all its models
 * (catalog names, shapes) and plans its tests. */
static void test_builtin_suites(void **state) {
    (void)state;
    static const struct { const char *name; int min_tests; } suites[] = {
        {"smoke", 30}, {"quick", 10}, {"default", 40}, {"full", 200}, {"perf", 54},
    };
    lf_device dev;
    memset(&dev, 0, sizeof dev);
    snprintf(dev.id, sizeof dev.id, "0123456789abcdef");
    dev.limits.usable_threads = 2;
    dev.limits.usable_memory = (uint64_t)1 << 40;   /* memory is not what this test is about */
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        lf_bench_matrix m;
        lf_bench_matrix_init(&m);
        lf_error err = {0};
        if (lf_suite_load(&m, suites[i].name, datadir(), &err) < 0)
            fail_msg("suite %s: %s", suites[i].name, err.msg);
        assert_string_equal(m.name, suites[i].name);
        assert_true(m.description[0] != 0);
        lf_bench_opts o;
        lf_bench_opts_init(&o);
        o.device = &dev;
        o.datadir = datadir();
        o.dry_run = true;
        o.quiet = true;
        lf_bench_summary sum;
        o.summary = &sum;
        if (lf_bench_run(&m, &o, NULL, &err) < 0)
            fail_msg("suite %s: %s", suites[i].name, err.msg);
        if (sum.n_planned < suites[i].min_tests)
            fail_msg("suite %s plans %d tests", suites[i].name, sum.n_planned);
        if (!strcmp(suites[i].name, "perf")) {
            /* 3 models x 6 quants x (pp128, pp512, tg64) at all (2) threads */
            assert_int_equal(sum.n_planned, 54);
            assert_true(m.roofs);
        }
        lf_bench_matrix_free(&m);
    }
    /* a name that is not a suite lists the built-in ones */
    lf_bench_matrix m;
    lf_bench_matrix_init(&m);
    lf_error err = {0};
    assert_int_equal(lf_suite_load(&m, "nosuch", datadir(), &err), LF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "quick"));
    assert_non_null(strstr(err.msg, "smoke"));
    assert_int_equal(lf_suite_load(&m, "/nonexistent/x.conf", datadir(), &err), LF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/x.conf"));
    lf_bench_matrix_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_adapter_specs),
        cmocka_unit_test(test_llama_conventions),
        cmocka_unit_test(test_builtin_suites),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
