/*
 * Tests for catalog/: the shipped datasets parse, every model's numbers are
 * internally consistent (a parameter count recomputed from the shapes must
 * match the published one, which catches typos in layer counts or widths),
 * lookups behave as documented, and corrupted files fail with messages that
 * name the file, the row and the key. Mixture-of-experts entries reproduce
 * their published total and active parameter counts and their config.json
 * shapes, with expert tensors in GGUF layout.
 */
#include "catalog/catalog.h"
#include "model/model.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static const char *datadir(void) {
    const char *d = getenv("LOCALFIT_DATADIR");
    return d && *d ? d : LF_SOURCE_DIR "/datasets";
}

static int setup(void **state) {
    lf_catalog *c;
    lf_error err = {0};
    if (lf_catalog_load(&c, datadir(), &err) < 0) {
        fprintf(stderr, "catalog load failed: %s\n", err.msg);
        return -1;
    }
    *state = c;
    return 0;
}

static int teardown(void **state) {
    lf_catalog_free(*state);
    return 0;
}

static void test_sizes(void **state) {
    lf_catalog *c = *state;
    assert_true(lf_catalog_n_models(c) >= 30);
    assert_true(lf_catalog_n_gpus(c) >= 40);
    /* Every type and named mix recommend knows about has a row. */
    static const char *const need[] = {"F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M",
                                       "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_1",
                                       "Q4_0", "IQ4_NL", "IQ4_XS", "Q3_K_L", "Q3_K_M",
                                       "Q3_K_S", "Q2_K"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        assert_non_null(lf_catalog_find_quant(c, need[i]));
    assert_null(lf_catalog_model_at(c, -1));
    assert_null(lf_catalog_model_at(c, lf_catalog_n_models(c)));
}

/* Parameters recomputed from the shapes with the usual llama-family
 * layout, independently of lf_catalog_tensor_at. */
static double ffn_params(const lf_catalog_model *m, bool active) {
    double E = m->n_embd;
    if (m->n_expert == 0)
        return 3.0 * E * m->n_ff;
    /* router + routed experts (all, or the k a token uses) + shared ones */
    double experts = active ? m->n_expert_used : m->n_expert;
    return E * m->n_expert + experts * 3.0 * E * m->n_ff_exp +
           3.0 * E * m->n_ff_shexp * m->n_expert_shared;
}

/* total (active false) or per-token (active true) parameters in billions,
 * the embedding table counted (tied: once, as the output projection) */
static double shape_params_of(const lf_catalog_model *m, bool active) {
    double E = m->n_embd, Q = (double)m->n_head * m->head_dim,
           KV = (double)m->n_head_kv * m->head_dim;
    double p = (double)m->n_vocab * E * (m->tied_embeddings ? 1 : 2) + E;
    double blk = E * Q * 2 + E * KV * 2 + ffn_params(m, active) + 2 * E;
    if (m->qkv_bias)
        blk += Q + 2 * KV;
    return (p + m->n_layer * blk) / 1e9;
}

static double shape_params(const lf_catalog_model *m) { return shape_params_of(m, false); }

static bool decoupled_head_dim(const lf_catalog_model *m) {
    /* Gemma and Qwen3 set head_dim independently; Mistral Nemo has 32 heads
     * of 128 on a 5120-wide model. */
    return strncmp(m->arch, "gemma", 5) == 0 || strcmp(m->arch, "qwen3") == 0 ||
           strcmp(m->arch, "qwen3moe") == 0 || strcmp(m->arch, "gpt-oss") == 0 ||
           strstr(m->name, "nemo") != NULL;
}

static void test_model_consistency(void **state) {
    lf_catalog *c = *state;
    int n_verified = 0;
    for (int i = 0; i < lf_catalog_n_models(c); i++) {
        const lf_catalog_model *m = lf_catalog_model_at(c, i);
        assert_true(m->n_head % m->n_head_kv == 0);
        if (!decoupled_head_dim(m)) {
            if (m->head_dim * m->n_head != m->n_embd)
                fail_msg("%s: head_dim %d x n_head %d != n_embd %d", m->name, m->head_dim,
                         m->n_head, m->n_embd);
        } else {
            /* still within a factor of 2 of n_embd */
            double r = (double)m->head_dim * m->n_head / m->n_embd;
            assert_true(r >= 0.5 && r <= 2.0);
        }
        double p = shape_params(m), rel = fabs(p - m->params_b) / m->params_b;
        if (rel > 0.03)
            fail_msg("%s: shapes give %.3fB params, published %.3fB (%.1f%% off)", m->name, p,
                     m->params_b, rel * 100);
        assert_true(m->n_ctx_practical > 0 && m->n_ctx_practical <= m->n_ctx);
        assert_true(m->quality_score > 0 && m->quality_score <= 100);
        assert_true(m->license[0] && m->source[0] && m->quality_metric[0] && m->tasks[0]);
        assert_non_null(strstr(m->source, "http"));
        /* names are lowercase slugs and unique prefixes of themselves */
        assert_ptr_equal(lf_catalog_find(c, m->name), m);
        n_verified += m->verified;
    }
    /* most entries must have been checked against a copy of config.json */
    assert_true(n_verified * 3 >= lf_catalog_n_models(c) * 2);
}

static void test_known_values(void **state) {
    lf_catalog *c = *state;
    const lf_catalog_model *m = lf_catalog_find(c, "llama-3.1-8b-instruct");
    assert_non_null(m);
    assert_int_equal(m->n_layer, 32);
    assert_int_equal(m->n_embd, 4096);
    assert_int_equal(m->n_head_kv, 8);
    assert_int_equal(m->n_ff, 14336);
    assert_int_equal(m->n_vocab, 128256);
    assert_false(m->tied_embeddings);
    m = lf_catalog_find(c, "qwen2.5-0.5b-instruct");
    assert_non_null(m);
    assert_true(m->qkv_bias && m->tied_embeddings);
    assert_int_equal(m->n_head, 14);
    m = lf_catalog_find(c, "qwen3-8b");
    assert_non_null(m);
    assert_true(m->qk_norm && !m->qkv_bias);
    assert_int_equal(m->head_dim, 128);
    m = lf_catalog_find(c, "gemma-2-2b-it");
    assert_non_null(m);
    assert_int_equal(m->head_dim, 256);
    assert_int_equal(m->sliding_window, 4096);
    assert_true(lf_catalog_model_has_task(m, "chat"));
    assert_false(lf_catalog_model_has_task(m, "cha"));
}

static void test_find(void **state) {
    lf_catalog *c = *state;
    const lf_catalog_model *m = lf_catalog_find(c, "llama-3.2-1b");
    assert_non_null(m);
    assert_string_equal(m->name, "llama-3.2-1b-instruct");
    assert_ptr_equal(lf_catalog_find(c, "LLAMA-3.2-1B-Instruct"), m);
    assert_ptr_equal(lf_catalog_find(c, "TinyLlama"), lf_catalog_find(c, "tinyllama-1.1b-chat"));
    assert_null(lf_catalog_find(c, "qwen3"));       /* ambiguous */
    assert_null(lf_catalog_find(c, "no-such-model"));
    lf_error err = {0};
    const lf_catalog_model *out;
    assert_int_equal(lf_catalog_match(c, "qwen3", &out, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "ambiguous"));
    assert_non_null(strstr(err.msg, "qwen3-0.6b"));
    assert_int_equal(lf_catalog_match(c, "nope", &out, &err), LF_ENOTFOUND);
    assert_null(out);

    const lf_catalog_quant *q = lf_catalog_find_quant(c, "q4_k_m");
    assert_non_null(q);
    assert_string_equal(q->name, "Q4_K_M");
    assert_null(lf_catalog_find_quant(c, "Q4_K"));

    const lf_catalog_gpu *g = lf_catalog_find_gpu(c, "4090");
    assert_non_null(g);
    assert_string_equal(g->name, "NVIDIA GeForce RTX 4090");
    assert_false(g->unified);
    assert_true(g->mem_bytes == 24ull << 30);
    assert_ptr_equal(lf_catalog_find_gpu(c, "rtx-4090"), g);
    g = lf_catalog_find_gpu(c, "m3 max");
    assert_non_null(g);
    assert_string_equal(g->name, "Apple M3 Max");
    assert_true(g->unified);
    assert_non_null(lf_catalog_find_gpu(c, "strix halo"));
    assert_null(lf_catalog_find_gpu(c, "apple m"));  /* M1, M2, M3, M4 tie */
    assert_null(lf_catalog_find_gpu(c, "voodoo5"));
}

static void test_quants_ordering(void **state) {
    lf_catalog *c = *state;
    /* Published loss grows as the K-quant mixes shrink; bits fall too. */
    static const char *const order[] = {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"};
    for (int i = 1; i < 6; i++) {
        const lf_catalog_quant *a = lf_catalog_find_quant(c, order[i - 1]),
                               *b = lf_catalog_find_quant(c, order[i]);
        assert_true(a->kld < b->kld);
        assert_true(a->dppl < b->dppl);
        assert_true(a->bpw > b->bpw);
    }
    const lf_catalog_quant *q = lf_catalog_find_quant(c, "Q4_K_M");
    assert_true(fabs(q->bpw - 4.8944) < 1e-9);
    assert_true(fabs(q->kld - 0.031273) < 1e-9);
    assert_true(fabs(q->same_top - 91.901) < 1e-9);
    assert_true(isnan(lf_catalog_find_quant(c, "Q5_K_S")->same_top));
}

static void test_tensors(void **state) {
    lf_catalog *c = *state;
    for (int i = 0; i < lf_catalog_n_models(c); i++) {
        const lf_catalog_model *m = lf_catalog_model_at(c, i);
        int n = lf_catalog_n_tensors(m);
        double elems = 0;
        int64_t mats = 0;
        for (int j = 0; j < n; j++) {
            lf_catalog_tensor t;
            assert_int_equal(lf_catalog_tensor_at(m, j, &t), 0);
            assert_true(t.ne0 > 0 && t.ne1 > 0 && t.ne2 > 0);
            /* only expert tensors span experts, and they span all of them */
            if (t.ne2 > 1)
                assert_true(t.ne2 == m->n_expert && strstr(t.name, "_exps."));
            elems += (double)t.ne0 * t.ne1 * t.ne2;
            mats += t.ne1 > 1;
        }
        lf_catalog_tensor t;
        assert_int_equal(lf_catalog_tensor_at(m, n, &t), LF_ERANGE);
        /* matrices: embeddings (+ output) and 7 (phi3: 4) per block; MoE:
         * 4 attention, the router, 3 expert tensors, 3 per shared FFN */
        int per = strcmp(m->arch, "phi3") == 0 ? 4 : 7;
        if (m->n_expert > 0)
            per = 4 + 1 + 3 + (m->n_expert_shared > 0 ? 3 : 0);
        assert_int_equal(mats, (m->tied_embeddings ? 1 : 2) + (int64_t)per * m->n_layer);
        /* the inventory holds the parameters, norms included (gpt-oss's
         * biases and sinks are not in the formula: under 0.1%) */
        double rel = fabs(elems / 1e9 - shape_params(m)) / shape_params(m);
        if (rel >= 0.001)
            fail_msg("%s: inventory %.4fB, formula %.4fB", m->name, elems / 1e9, shape_params(m));
        /* the catalog's own counts agree with the inventory and formula */
        double tot, act, emb;
        lf_catalog_param_counts(m, &tot, &act, &emb);
        assert_true(fabs(tot - elems) <= 1e-9 * elems);
        double fa = shape_params_of(m, true) * 1e9;
        assert_true(fabs(act - fa) / fa < 0.001);
        assert_true(m->n_expert > 0 ? act < 0.7 * tot : act == tot);
    }
    const lf_catalog_model *m = lf_catalog_find(c, "qwen2.5-0.5b-instruct");
    lf_catalog_tensor t;
    assert_int_equal(lf_catalog_tensor_at(m, 2, &t), 0);
    assert_string_equal(t.name, "blk.0.attn_norm.weight");
    assert_int_equal(lf_catalog_tensor_at(m, 3, &t), 0);
    assert_string_equal(t.name, "blk.0.attn_q.weight");
    assert_int_equal(t.ne0, 896);
    assert_int_equal(t.ne1, 896);
    assert_int_equal(lf_catalog_tensor_at(m, 5, &t), 0);
    assert_string_equal(t.name, "blk.0.attn_v.weight");
    assert_int_equal(t.ne1, 128);
}

/* ---- corrupted datasets ------------------------------------------------ */

static char tmpdir[256];

static void write_file(const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void copy_file(const char *name) {
    char src[512];
    snprintf(src, sizeof src, "%s/%s", datadir(), name);
    FILE *f = fopen(src, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    write_file(name, buf);
    free(buf);
}

static const char *MODEL_OK =
    "{\"schema\":\"localfit.models/1\",\"models\":[{\"name\":\"tiny\",\"display\":\"Tiny\","
    "\"family\":\"t\",\"arch\":\"llama\",\"params_b\":0.001,\"license\":\"mit\","
    "\"source\":\"https://x\",\"tasks\":[\"chat\"],\"n_layer\":2,\"n_embd\":64,\"n_head\":4,"
    "\"n_head_kv\":%s,\"head_dim\":16,\"n_ff\":128,\"n_vocab\":256,\"n_ctx\":512,"
    "\"rope_theta\":10000.0,\"norm_eps\":1e-5,\"tied_embeddings\":true,"
    "\"quality_score\":10,\"quality_metric\":\"m\",\"quality_source\":\"s\",\"verified\":false}]}";

static int load_tmp(lf_error *err) {
    lf_catalog *c;
    int rc = lf_catalog_load(&c, tmpdir, err);
    lf_catalog_free(c);
    return rc;
}

static void test_bad_files(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lf_test_catalog_%d", (int)getpid());
    mkdir(tmpdir, 0700);
    copy_file("quants.csv");
    copy_file("gpus.csv");
    char buf[2048];
    lf_error err = {0};

    snprintf(buf, sizeof buf, MODEL_OK, "2");
    write_file("models.json", buf);
    assert_int_equal(load_tmp(&err), 0);

    snprintf(buf, sizeof buf, MODEL_OK, "3");   /* 4 heads, 3 KV heads */
    write_file("models.json", buf);
    assert_int_equal(load_tmp(&err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "models.json"));
    assert_non_null(strstr(err.msg, "(tiny)"));
    assert_non_null(strstr(err.msg, "n_head_kv"));

    snprintf(buf, sizeof buf, MODEL_OK, "\"two\"");
    write_file("models.json", buf);
    assert_int_equal(load_tmp(&err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "'n_head_kv' is not an integer"));

    write_file("models.json", "{\"schema\":\"localfit.models/1\",\"models\":[");
    assert_int_equal(load_tmp(&err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "models.json:"));

    snprintf(buf, sizeof buf, MODEL_OK, "2");
    write_file("models.json", buf);
    write_file("quants.csv", "name,bpw,size_gib,dppl,kld,same_top,imatrix,source\n"
                             "Q8_0,8.5,7.96,0.002,0.001,97.6,none,\"a, b\"\n"
                             "Q4_0,four,4.3,0.4,0.07,,none,x\n");
    assert_int_equal(load_tmp(&err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "quants.csv:3"));
    assert_non_null(strstr(err.msg, "'bpw'"));

    write_file("quants.csv", "name,bpw,size_gib,dppl,kld,same_top,imatrix,source\n"
                             "Q8_0,8.5,7.96,0.002,0.001,97.6,none,\"a, \"\"quoted\"\" b\"\n");
    copy_file("gpus.csv");
    assert_int_equal(load_tmp(&err), 0);

    write_file("gpus.csv", "vendor,name,mem_gib,bandwidth_gbs,unified,fp16_tflops,source\n"
                           "X,Y,8,100,maybe,,s\n");
    assert_int_equal(load_tmp(&err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "gpus.csv:2"));
    assert_non_null(strstr(err.msg, "unified"));

    write_file("gpus.csv", "vendor,name,memory,bandwidth_gbs,unified,fp16_tflops,source\n");
    assert_int_equal(load_tmp(&err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "'mem_gib'"));

    char p[512];
    snprintf(p, sizeof p, "%s/gpus.csv", tmpdir);
    unlink(p);
    assert_int_equal(load_tmp(&err), LF_EIO);
    assert_non_null(strstr(err.msg, "gpus.csv"));
    snprintf(p, sizeof p, "%s/models.json", tmpdir);
    unlink(p);
    snprintf(p, sizeof p, "%s/quants.csv", tmpdir);
    unlink(p);
    rmdir(tmpdir);
}

/* Catalog entry -> hyperparameters -> catalog entry keeps everything the
 * tensor list depends on. The runner and `sweep` each had their own copy
 * of the way back and sweep's dropped qkv_bias and qk_norm (Qwen2's biases
 * and Qwen3's Q/K norms then went missing from its byte counts). */
static void test_hparams_round_trip(void **state) {
    const lf_catalog *c = *state;
    int n_bias = 0, n_qk = 0, n_conv = 0, n_moe = 0;
    for (int i = 0; i < lf_catalog_n_models(c); i++) {
        const lf_catalog_model *m = lf_catalog_model_at(c, i);
        lf_model_params hp;
        if (lf_catalog_to_hparams(m, &hp, NULL) < 0)
            continue;   /* an architecture the forward pass does not run */
        lf_catalog_model back;
        lf_catalog_from_hparams(&hp, &back);
        n_conv++;
        assert_string_equal(back.name, m->name);
        lf_arch a1, a2;   /* aliases ("mistral") come back as the architecture they run as */
        assert_int_equal(lf_arch_parse(back.arch, &a1, NULL), 0);
        assert_int_equal(lf_arch_parse(m->arch, &a2, NULL), 0);
        assert_int_equal(a1, a2);
        assert_int_equal(back.n_layer, m->n_layer);
        assert_int_equal(back.n_head_kv, m->n_head_kv);
        assert_int_equal(back.head_dim, m->head_dim);
        assert_int_equal(back.n_ctx, m->n_ctx);
        assert_int_equal(back.tied_embeddings, m->tied_embeddings);
        assert_int_equal(back.qkv_bias, m->qkv_bias);
        assert_int_equal(back.qk_norm, m->qk_norm);
        n_bias += back.qkv_bias;
        n_qk += back.qk_norm;
        assert_int_equal(lf_catalog_n_tensors(&back), lf_catalog_n_tensors(m));
        for (int t = 0; t < lf_catalog_n_tensors(m); t++) {
            lf_catalog_tensor a, b;
            assert_int_equal(lf_catalog_tensor_at(m, t, &a), 0);
            assert_int_equal(lf_catalog_tensor_at(&back, t, &b), 0);
            assert_string_equal(a.name, b.name);
            assert_true(a.ne0 == b.ne0 && a.ne1 == b.ne1 && a.ne2 == b.ne2);
        }
        assert_int_equal(back.n_expert, m->n_expert);
        assert_int_equal(back.n_expert_used, m->n_expert_used);
        n_moe += lf_catalog_model_is_moe(&back);
    }
    assert_true(n_conv > 0);
    assert_true(n_bias > 0);   /* the catalog has Qwen2-style biases ... */
    assert_true(n_qk > 0);     /* ... and Qwen3-style Q/K norms to check */
    /* the MoE architectures the forward pass runs keep their experts */
    lf_arch a;
    if (lf_arch_parse("qwen3moe", &a, NULL) == 0)
        assert_true(n_moe > 0);
}

/* ---- mixture of experts -------------------------------------------------
 * The published totals and active counts, as the publishers state them
 * (model cards and papers; figures given to one decimal or rounded to the
 * hundred million, so the tolerance is 3% or half a unit of the last
 * published digit, whichever is larger). OpenAI and IBM leave the input
 * embedding out of "active"; Qwen, Mistral and AllenAI count it. */
static void test_moe_published_counts(void **state) {
    const lf_catalog *c = *state;
    static const struct {
        const char *name;
        double total, total_unit, active, active_unit;
        bool active_without_embd;
    } pub[] = {
        {"qwen3-30b-a3b", 30.5, 0.1, 3.3, 0.1, false},
        {"qwen3-235b-a22b", 235, 1, 22, 1, false},
        {"gpt-oss-20b", 20.91, 0.01, 3.61, 0.01, true},
        {"gpt-oss-120b", 116.83, 0.01, 5.13, 0.01, true},
        {"olmoe-1b-7b", 6.9, 0.1, 1.3, 0.1, false},
        {"mixtral-8x7b", 46.7, 0.1, 12.9, 0.1, false},
        {"granite-3.1-1b-a400m", 1.3, 0.1, 0.4, 0.1, true},
        {"granite-3.1-3b-a800m", 3.3, 0.1, 0.8, 0.1, true},
        {"qwen1.5-moe-a2.7b", 14.3, 0.1, 2.7, 0.1, false},
    };
    for (size_t i = 0; i < sizeof pub / sizeof pub[0]; i++) {
        const lf_catalog_model *m = lf_catalog_find(c, pub[i].name);
        if (!m)
            fail_msg("no catalog model %s", pub[i].name);
        assert_true(lf_catalog_model_is_moe(m));
        assert_true(m->n_expert_used < m->n_expert);
        double tot, act, emb;
        lf_catalog_param_counts(m, &tot, &act, &emb);
        if (pub[i].active_without_embd)
            act -= emb;
        tot /= 1e9;
        act /= 1e9;
        double tt = fmax(0.03 * pub[i].total, 0.5 * pub[i].total_unit);
        double ta = fmax(0.03 * pub[i].active, 0.5 * pub[i].active_unit);
        if (fabs(tot - pub[i].total) > tt || fabs(act - pub[i].active) > ta)
            fail_msg("%s: shapes give %.3fB total / %.3fB active, published %.2fB / %.2fB",
                     m->name, tot, act, pub[i].total, pub[i].active);
        /* the dataset's own figures are the published ones */
        assert_true(fabs(m->params_b - pub[i].total) <= tt);
        assert_true(fabs(m->active_params_b - pub[i].active) <= ta);
        assert_int_equal(m->active_excludes_embedding, pub[i].active_without_embd);
    }
}

/* The shapes of the MoE entries against their config.json values, and
 * the expert tensors in GGUF layout: [n_embd, n_ff_exp, n_expert] for gate
 * and up, [n_ff_exp, n_embd, n_expert] for down, the router [n_embd,
 * n_expert], and no dense FFN. */
static void test_moe_shapes(void **state) {
    const lf_catalog *c = *state;
    static const struct {
        const char *name;
        int layer, embd, head, head_kv, head_dim, expert, used, ff_exp, vocab;
    } cfg[] = {
        {"qwen3-30b-a3b", 48, 2048, 32, 4, 128, 128, 8, 768, 151936},
        {"qwen3-235b-a22b", 94, 4096, 64, 4, 128, 128, 8, 1536, 151936},
        {"gpt-oss-20b", 24, 2880, 64, 8, 64, 32, 4, 2880, 201088},
        {"gpt-oss-120b", 36, 2880, 64, 8, 64, 128, 4, 2880, 201088},
        {"olmoe-1b-7b", 16, 2048, 16, 16, 128, 64, 8, 1024, 50304},
        {"mixtral-8x7b", 32, 4096, 32, 8, 128, 8, 2, 14336, 32000},
        {"granite-3.1-1b-a400m", 24, 1024, 16, 8, 64, 32, 8, 512, 49155},
        {"granite-3.1-3b-a800m", 32, 1536, 24, 8, 64, 40, 8, 512, 49155},
    };
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        const lf_catalog_model *m = lf_catalog_find(c, cfg[i].name);
        assert_non_null(m);
        assert_int_equal(m->n_layer, cfg[i].layer);
        assert_int_equal(m->n_embd, cfg[i].embd);
        assert_int_equal(m->n_head, cfg[i].head);
        assert_int_equal(m->n_head_kv, cfg[i].head_kv);
        assert_int_equal(m->head_dim, cfg[i].head_dim);
        assert_int_equal(m->n_expert, cfg[i].expert);
        assert_int_equal(m->n_expert_used, cfg[i].used);
        assert_int_equal(m->n_ff_exp, cfg[i].ff_exp);
        assert_int_equal(m->n_vocab, cfg[i].vocab);
        int seen = 0;
        for (int j = 0; j < lf_catalog_n_tensors(m); j++) {
            lf_catalog_tensor t;
            assert_int_equal(lf_catalog_tensor_at(m, j, &t), 0);
            if (t.layer != 1)
                continue;
            assert_null(strstr(t.name, "ffn_gate.weight"));
            assert_null(strstr(t.name, "ffn_down.weight"));
            int64_t E = m->n_embd, F = m->n_ff_exp, X = m->n_expert;
            if (strstr(t.name, "ffn_gate_inp.weight") && !strstr(t.name, "shexp"))
                seen += t.ne0 == E && t.ne1 == X && t.ne2 == 1;
            else if (strstr(t.name, "ffn_gate_exps.weight") || strstr(t.name, "ffn_up_exps.weight"))
                seen += t.ne0 == E && t.ne1 == F && t.ne2 == X;
            else if (strstr(t.name, "ffn_down_exps.weight"))
                seen += t.ne0 == F && t.ne1 == E && t.ne2 == X;
        }
        if (seen != 4)
            fail_msg("%s: %d of the 4 MoE tensors of block 1 have the GGUF shape", m->name, seen);
    }
    /* the shared expert of Qwen1.5-MoE, gated per token */
    const lf_catalog_model *q = lf_catalog_find(c, "qwen1.5-moe-a2.7b");
    assert_non_null(q);
    bool gate = false, down = false;
    for (int j = 0; j < lf_catalog_n_tensors(q); j++) {
        lf_catalog_tensor t;
        lf_catalog_tensor_at(q, j, &t);
        gate |= !strcmp(t.name, "blk.0.ffn_gate_inp_shexp.weight") && t.ne0 == 2048 && t.ne1 == 1;
        down |= !strcmp(t.name, "blk.0.ffn_down_shexp.weight") && t.ne0 == 5632 && t.ne1 == 2048;
    }
    assert_true(gate && down);
}

/* Expert keys are validated: the top k cannot exceed the experts, and a
 * dense model cannot carry expert keys. */
static void test_moe_bad_keys(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lf_test_catalog_moe_%d", (int)getpid());
    mkdir(tmpdir, 0700);
    copy_file("quants.csv");
    copy_file("gpus.csv");
    static const char *MOE =
        "{\"schema\":\"localfit.models/1\",\"models\":[{\"name\":\"tinymoe\",\"display\":\"T\","
        "\"family\":\"t\",\"arch\":\"qwen3moe\",\"params_b\":0.01,\"license\":\"mit\","
        "\"source\":\"https://x\",\"tasks\":[\"chat\"],\"n_layer\":2,\"n_embd\":64,\"n_head\":4,"
        "\"n_head_kv\":2,\"head_dim\":16,\"n_ff\":128,\"n_vocab\":256,\"n_ctx\":512,"
        "\"rope_theta\":10000.0,\"norm_eps\":1e-5,\"tied_embeddings\":true,"
        "\"quality_score\":10,\"quality_metric\":\"m\",\"quality_source\":\"s\",\"verified\":false"
        "%s}]}";
    char buf[2048];
    lf_error err = {0};
    snprintf(buf, sizeof buf, MOE, ",\"n_expert\":8,\"n_expert_used\":2,\"n_ff_exp\":32");
    write_file("models.json", buf);
    assert_int_equal(load_tmp(&err), 0);
    snprintf(buf, sizeof buf, MOE, ",\"n_expert\":8,\"n_expert_used\":9,\"n_ff_exp\":32");
    write_file("models.json", buf);
    assert_int_equal(load_tmp(&err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "(tinymoe)"));
    assert_non_null(strstr(err.msg, "n_expert_used"));
    snprintf(buf, sizeof buf, MOE, ",\"n_expert\":8,\"n_expert_used\":2");
    write_file("models.json", buf);
    assert_int_equal(load_tmp(&err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "'n_ff_exp' missing"));
    snprintf(buf, sizeof buf, MOE, ",\"n_ff_exp\":32");
    write_file("models.json", buf);
    assert_int_equal(load_tmp(&err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "'n_ff_exp' needs n_expert"));
    snprintf(buf, sizeof buf, MOE,
             ",\"n_expert\":8,\"n_expert_used\":2,\"n_ff_exp\":32,\"expert_gating\":\"max\"");
    write_file("models.json", buf);
    assert_int_equal(load_tmp(&err), LF_EFORMAT);
    assert_non_null(strstr(err.msg, "expert_gating"));
    char p[512];
    static const char *const files[] = {"models.json", "quants.csv", "gpus.csv"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

/* Every quality score cites where it was published and says whether it
 * was verified there: the source is a web address, the metric is named,
 * and models.json states quality_verified for every entry (the ranking
 * puts unverified scores last, so a missing key must not pass silently as
 * "unverified" nor the other way round). */
static void test_quality_sources(void **state) {
    lf_catalog *c = *state;
    int n = lf_catalog_n_models(c), n_ver = 0;
    for (int i = 0; i < n; i++) {
        const lf_catalog_model *m = lf_catalog_model_at(c, i);
        if (strncmp(m->quality_source, "https://", 8) != 0 || !m->quality_metric[0])
            fail_msg("%s: quality source '%s', metric '%s'", m->name, m->quality_source,
                     m->quality_metric);
        n_ver += m->quality_verified;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/models.json", datadir());
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    int keys = 0, trues = 0;
    for (const char *p = text; (p = strstr(p, "\"quality_verified\":")); p++) {
        keys++;
        const char *v = p + strlen("\"quality_verified\":");
        while (*v == ' ')
            v++;
        trues += strncmp(v, "true", 4) == 0;
    }
    free(text);
    assert_int_equal(keys, n);
    assert_int_equal(trues, n_ver);
    assert_true(n_ver > 0 && n_ver < n);   /* both kinds exist in the shipped file */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_model_consistency),
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_quants_ordering),
        cmocka_unit_test(test_tensors),
        cmocka_unit_test(test_hparams_round_trip),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_moe_published_counts),
        cmocka_unit_test(test_moe_shapes),
        cmocka_unit_test(test_moe_bad_keys),
        cmocka_unit_test(test_quality_sources),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
