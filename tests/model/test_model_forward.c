/*
 * Forward pass tests: the product forward (model/forward.c) against the
 * independent F32 reference (ref_forward.c) on the real stories260K and
 * TinyStories-656K files and on small synthetic models of every supported
 * architecture; batched prefill against token-by-token decode; F16 and Q8_0
 * KV caches against F32; greedy decoding of stories260K reading as a story;
 * context overflow and bad tokens rejected.
 */
#include "model_test_util.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NTOK 24

static lf_pool *pool;

static int setup(void **state) {
    (void)state;
    lf_kernels_init(LF_ISA_AUTO_LEVEL, NULL);
    pool = lf_pool_create(2, false);
    return pool ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lf_pool_free(pool);
    return 0;
}

/* A fixed token sequence inside the vocabulary: BOS-like start then a
 * spread of ids. */
static void make_tokens(int32_t *t, int n, int n_vocab) {
    t[0] = 1;
    for (int i = 1; i < n; i++)
        t[i] = (int32_t)((i * 37 + 11) % n_vocab);
}

/* Runs tokens through ctx one at a time and the reference; returns the worst
 * relative difference over all positions. */
static double compare_decode(lf_ctx *ctx, ref_model *ref, const int32_t *t, int n, int n_vocab) {
    float *rl = malloc((size_t)n_vocab * sizeof(float));
    double worst = 0;
    lf_error err = {0};
    for (int i = 0; i < n; i++) {
        const float *pl;
        assert_int_equal(lf_ctx_eval(ctx, &t[i], 1, false, &pl, &err), 0);
        ref_forward(ref, t[i], i, rl);
        double d = tm_rel_diff(pl, rl, n_vocab);
        if (d > worst)
            worst = d;
    }
    free(rl);
    return worst;
}

/* Compares a real llama file with the reference; tol on the relative diff. */
static void real_vs_ref(const char *file, lf_type kv, double tol) {
    char path[1024];
    if (!tm_model_path(file, path, sizeof path)) {
        skip();
        return;
    }
    lf_error err = {0};
    lf_model *m;
    assert_int_equal(lf_model_load(&m, path, NULL, &err), 0);
    lf_gguf *g;
    assert_int_equal(lf_gguf_open(&g, path, &err), 0);
    ref_config rc;
    assert_int_equal(tm_ref_config_gguf(g, &rc), 0);
    const lf_model_params *hp = lf_model_hparams(m);
    assert_int_equal(hp->n_layer, rc.n_layer);
    assert_int_equal(hp->n_embd, rc.dim);
    assert_int_equal(hp->n_head_kv, rc.n_kv);
    assert_int_equal(hp->n_vocab, rc.vocab);
    ref_model ref;
    assert_int_equal(ref_model_init(&ref, &rc, tm_get_gguf, g, NTOK), 0);
    lf_ctx *c;
    assert_int_equal(lf_ctx_new(&c, m, 64, kv, pool, &err), 0);
    int32_t t[NTOK];
    make_tokens(t, NTOK, hp->n_vocab);
    double d = compare_decode(c, &ref, t, NTOK, hp->n_vocab);
    printf("  %s (kv %s): max |Δlogit| / max |logit| = %.3g over %d positions\n", file,
           lf_type_name(kv), d, NTOK);
    assert_true(d < tol);
    lf_ctx_free(c);
    ref_model_free(&ref);
    lf_gguf_close(g);
    lf_model_free(m);
}

static void test_stories260K_vs_ref(void **state) {
    (void)state;
    real_vs_ref("stories260K.gguf", LF_TYPE_F32, 1e-3);
}

static void test_656K_vs_ref(void **state) {
    (void)state;
    real_vs_ref("TinyStories-656K.f32.gguf", LF_TYPE_F32, 1e-3);
}

static void test_656K_f16_vs_ref(void **state) {
    (void)state;
    /* F16 weights: same values in the reference, F16 activations in the dot */
    real_vs_ref("TinyStories-656K.f16.gguf", LF_TYPE_F32, 1e-2);
}

static void test_stories260K_q8_0_vs_ref(void **state) {
    (void)state;
    /* Q8_0 weights dequantized for the reference; activations quantized to
     * Q8_0 in the product: a few 1e-3 of the logit scale */
    real_vs_ref("stories260K-Q8_0.gguf", LF_TYPE_F32, 3e-2);
}

/* llama.cpp's own quantizations of one random-weight model, every common
 * type and mix: each loads, binds and matches the reference run over its
 * dequantized weights. */
static void test_kquant_files_vs_ref(void **state) {
    (void)state;
    static const char *const files[] = {
        "kq-f32.gguf",    "kq-Q8_0.gguf",   "kq-Q4_0.gguf",   "kq-Q4_1.gguf",   "kq-Q5_0.gguf",
        "kq-Q5_1.gguf",   "kq-Q2_K.gguf",   "kq-Q3_K_S.gguf", "kq-Q3_K_M.gguf", "kq-Q4_K_S.gguf",
        "kq-Q4_K_M.gguf", "kq-Q5_K_S.gguf", "kq-Q5_K_M.gguf", "kq-Q6_K.gguf",   "kq-IQ4_NL.gguf",
        "kq-IQ4_XS.gguf",
    };
    char probe[1024];
    if (!tm_model_path("kquant/kq-f32.gguf", probe, sizeof probe)) {
        skip();
        return;
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "kquant/%s", files[i]);
        real_vs_ref(name, LF_TYPE_F32, i == 0 ? 1e-3 : 5e-2);
    }
}

static void test_stories260K_f16_kv(void **state) {
    (void)state;
    real_vs_ref("stories260K.gguf", LF_TYPE_F16, 1e-2);
}

/* Decodes one piece straight from the GGUF token array (the tokenizer has
 * its own tests): "▁" → space, <0xNN> → that byte. */
static void append_piece(const lf_gguf *g, int32_t tok, char *out, size_t size) {
    const lf_gguf_kv *kv = lf_gguf_find_kv(g, "tokenizer.ggml.tokens");
    lf_gguf_str s = lf_gguf_arr_str(kv, (uint64_t)tok);
    size_t len = strlen(out);
    for (uint64_t i = 0; i < s.len && len + 2 < size; i++) {
        if (i + 2 < s.len && (unsigned char)s.ptr[i] == 0xe2 && (unsigned char)s.ptr[i + 1] == 0x96 &&
            (unsigned char)s.ptr[i + 2] == 0x81) {
            out[len++] = ' ';
            i += 2;
        } else if (s.len == 6 && s.ptr[0] == '<' && s.ptr[1] == '0' && s.ptr[2] == 'x') {
            out[len++] = (char)strtol(s.ptr + 3, NULL, 16);
            break;
        } else {
            out[len++] = s.ptr[i];
        }
    }
    out[len] = 0;
}

static void test_stories260K_greedy_story(void **state) {
    (void)state;
    char path[1024];
    if (!tm_model_path("stories260K.gguf", path, sizeof path)) {
        skip();
        return;
    }
    lf_error err = {0};
    lf_model *m;
    assert_int_equal(lf_model_load(&m, path, NULL, &err), 0);
    lf_gguf *g;
    assert_int_equal(lf_gguf_open(&g, path, &err), 0);
    ref_config rc;
    tm_ref_config_gguf(g, &rc);
    ref_model ref;
    assert_int_equal(ref_model_init(&ref, &rc, tm_get_gguf, g, 64), 0);
    lf_ctx *c;
    assert_int_equal(lf_ctx_new(&c, m, 64, LF_TYPE_F16, pool, &err), 0);
    const int n_vocab = lf_model_hparams(m)->n_vocab;
    float *rl = malloc((size_t)n_vocab * sizeof(float));
    int32_t tok = 1, rtok = 1;   /* BOS */
    char text[512] = "";
    for (int i = 0; i < 40; i++) {
        const float *pl;
        assert_int_equal(lf_ctx_eval(c, &tok, 1, false, &pl, &err), 0);
        ref_forward(&ref, rtok, i, rl);
        tok = lf_sample_greedy(pl, n_vocab);
        rtok = lf_sample_greedy(rl, n_vocab);
        assert_int_equal(tok, rtok);   /* the reference picks the same tokens */
        append_piece(g, tok, text, sizeof text);
    }
    printf("  greedy from BOS: \"%s\"\n", text);
    const char *s = text;
    while (*s == ' ')
        s++;
    assert_true(strncmp(s, "Once upon a time", 16) == 0);
    assert_non_null(strstr(text, "Lily"));
    free(rl);
    lf_ctx_free(c);
    ref_model_free(&ref);
    lf_gguf_close(g);
    lf_model_free(m);
}

/* ---- synthetic architectures ------------------------------------------ */

static void synth_vs_ref(tm_config which, lf_mix mix, double tol) {
    lf_model_params hp;
    tm_synth_params(which, &hp);
    lf_error err = {0};
    lf_model *m;
    int rc = lf_model_synth(&m, &hp, mix, 42, &err);
    if (rc < 0)
        fail_msg("synth %s: %s", tm_config_name(which), err.msg);
    ref_config c;
    tm_ref_config_hp(lf_model_hparams(m), &c);
    ref_model ref;
    assert_int_equal(ref_model_init(&ref, &c, tm_get_model, m, NTOK), 0);
    lf_ctx *ctx;
    assert_int_equal(lf_ctx_new(&ctx, m, 32, LF_TYPE_F32, pool, &err), 0);
    int32_t t[NTOK];
    make_tokens(t, NTOK, hp.n_vocab);
    double d = compare_decode(ctx, &ref, t, 12, hp.n_vocab);
    printf("  %-13s %-6s: rel diff %.3g\n", tm_config_name(which), lf_mix_name(mix), d);
    assert_true(d < tol);
    lf_ctx_free(ctx);
    ref_model_free(&ref);
    lf_model_free(m);
}

static void test_synth_archs_f32(void **state) {
    (void)state;
    for (int w = 0; w < TM_N_CONFIGS; w++)
        synth_vs_ref((tm_config)w, LF_MIX_F32, 1e-4);
}

static void test_synth_archs_q8_0(void **state) {
    (void)state;
    for (int w = 0; w < TM_N_CONFIGS; w++)
        synth_vs_ref((tm_config)w, LF_MIX_Q8_0, 5e-2);
}

/* Each structural feature changes the output: the reference with the
 * feature switched off must disagree, so the tests above are not vacuous. */
static void test_synth_features_matter(void **state) {
    (void)state;
    const tm_config which[] = {TM_GEMMA2, TM_GEMMA3, TM_LLAMA_GQA, TM_GRANITE};
    for (size_t k = 0; k < sizeof which / sizeof which[0]; k++) {
        lf_model_params hp;
        tm_synth_params(which[k], &hp);
        lf_error err = {0};
        lf_model *m;
        assert_int_equal(lf_model_synth(&m, &hp, LF_MIX_F32, 7, &err), 0);
        ref_config c;
        tm_ref_config_hp(lf_model_hparams(m), &c);
        ref_config off = c;
        if (which[k] == TM_GEMMA2)
            off.attn_softcap = 0;
        else if (which[k] == TM_GEMMA3)
            off.swa_window = 0;
        else if (which[k] == TM_GRANITE)
            off.residual_mult = 0;
        else
            off.neox = !off.neox;
        ref_model a, b;
        assert_int_equal(ref_model_init(&a, &c, tm_get_model, m, 16), 0);
        assert_int_equal(ref_model_init(&b, &off, tm_get_model, m, 16), 0);
        float *la = malloc((size_t)hp.n_vocab * sizeof(float)), *lb = malloc((size_t)hp.n_vocab * sizeof(float));
        int32_t t[8];
        make_tokens(t, 8, hp.n_vocab);
        double d = 0;
        for (int i = 0; i < 8; i++) {
            ref_forward(&a, t[i], i, la);
            ref_forward(&b, t[i], i, lb);
            double x = tm_rel_diff(la, lb, hp.n_vocab);
            if (x > d)
                d = x;
        }
        printf("  %s: feature off changes logits by %.3g\n", tm_config_name(which[k]), d);
        assert_true(d > 1e-3);
        free(la);
        free(lb);
        ref_model_free(&a);
        ref_model_free(&b);
        lf_model_free(m);
    }
}

/* ---- batched prefill, KV types ----------------------------------------- */

static void batched_vs_sequential(lf_model *m, double tol, const char *what) {
    const int n = 20, V = lf_model_hparams(m)->n_vocab;
    int32_t t[20];
    make_tokens(t, n, V);
    lf_error err = {0};
    lf_ctx *a, *b;
    assert_int_equal(lf_ctx_new(&a, m, 64, LF_TYPE_F32, pool, &err), 0);
    assert_int_equal(lf_ctx_new(&b, m, 64, LF_TYPE_F32, pool, &err), 0);
    const float *pl;
    /* prefill the first 3 one by one so the batch starts at pos 3 */
    for (int i = 0; i < 3; i++)
        assert_int_equal(lf_ctx_eval(a, &t[i], 1, false, &pl, &err), 0);
    assert_int_equal(lf_ctx_eval(a, t + 3, n - 3, true, &pl, &err), 0);
    assert_int_equal(lf_ctx_pos(a), n);
    float *batched = malloc((size_t)(n - 3) * V * sizeof(float));
    memcpy(batched, pl, (size_t)(n - 3) * V * sizeof(float));
    double worst = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(lf_ctx_eval(b, &t[i], 1, false, &pl, &err), 0);
        if (i >= 3) {
            double d = tm_rel_diff(batched + (size_t)(i - 3) * V, pl, V);
            if (d > worst)
                worst = d;
        }
    }
    /* logits_all = false returns the last row of a batch */
    lf_ctx_reset(a);
    assert_int_equal(lf_ctx_eval(a, t, n, false, &pl, &err), 0);
    double dl = tm_rel_diff(pl, batched + (size_t)(n - 4) * V, V);
    printf("  %s: batched vs sequential %.3g, last-only %.3g\n", what, worst, dl);
    assert_true(worst < tol);
    assert_true(dl < tol);
    free(batched);
    lf_ctx_free(a);
    lf_ctx_free(b);
}

static void test_batched_prefill(void **state) {
    (void)state;
    const lf_mix mixes[] = {LF_MIX_F32, LF_MIX_Q4_0, LF_MIX_Q8_0, LF_MIX_F16};
    for (size_t k = 0; k < sizeof mixes / sizeof mixes[0]; k++) {
        lf_model_params hp;
        tm_synth_params(TM_LLAMA_GQA, &hp);
        lf_error err = {0};
        lf_model *m;
        assert_int_equal(lf_model_synth(&m, &hp, mixes[k], 3, &err), 0);
        batched_vs_sequential(m, mixes[k] == LF_MIX_F32 ? 1e-4 : 2e-2, lf_mix_name(mixes[k]));
        lf_model_free(m);
    }
    char path[1024];
    if (tm_model_path("stories260K.gguf", path, sizeof path)) {
        lf_error err = {0};
        lf_model *m;
        assert_int_equal(lf_model_load(&m, path, NULL, &err), 0);
        batched_vs_sequential(m, 1e-4, "stories260K");
        lf_model_free(m);
    }
}

/* More tokens than one internal batch (256): the batches chain through the
 * cache and logits_all stays aligned across the boundary. */
static void test_multi_batch(void **state) {
    (void)state;
    lf_model_params hp;
    tm_synth_params(TM_QWEN2, &hp);
    hp.n_ctx_train = 512;
    lf_error err = {0};
    lf_model *m;
    assert_int_equal(lf_model_synth(&m, &hp, LF_MIX_F32, 21, &err), 0);
    enum { N = 270 };
    const int V = hp.n_vocab;
    int32_t *t = malloc(N * sizeof *t);
    make_tokens(t, N, V);
    lf_ctx *a, *b;
    assert_int_equal(lf_ctx_new(&a, m, 300, LF_TYPE_F32, pool, &err), 0);
    assert_int_equal(lf_ctx_new(&b, m, 300, LF_TYPE_F32, pool, &err), 0);
    const float *pa, *pb;
    assert_int_equal(lf_ctx_eval(a, t, N, true, &pa, &err), 0);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(lf_ctx_eval(b, &t[i], 1, false, &pb, &err), 0);
        double d = tm_rel_diff(pa + (size_t)i * V, pb, V);
        if (d > worst)
            worst = d;
    }
    printf("  %d tokens in one call vs one by one: %.3g\n", N, worst);
    assert_true(worst < 1e-4);
    free(t);
    lf_ctx_free(a);
    lf_ctx_free(b);
    lf_model_free(m);
}

static void test_kv_types(void **state) {
    (void)state;
    lf_model_params hp;
    tm_synth_params(TM_LLAMA_GQA, &hp);
    lf_error err = {0};
    lf_model *m;
    assert_int_equal(lf_model_synth(&m, &hp, LF_MIX_F32, 5, &err), 0);
    const int n = 16, V = hp.n_vocab;
    int32_t t[16];
    make_tokens(t, n, V);
    const lf_type kinds[] = {LF_TYPE_F32, LF_TYPE_F16, LF_TYPE_Q8_0};
    float *out[3];
    for (int k = 0; k < 3; k++) {
        lf_ctx *c;
        assert_int_equal(lf_ctx_new(&c, m, 32, kinds[k], pool, &err), 0);
        assert_true(lf_ctx_kv_bytes(c) > 0);
        const float *pl;
        assert_int_equal(lf_ctx_eval(c, t, n, true, &pl, &err), 0);
        out[k] = malloc((size_t)n * V * sizeof(float));
        memcpy(out[k], pl, (size_t)n * V * sizeof(float));
        lf_ctx_free(c);
    }
    double d16 = tm_rel_diff(out[1], out[0], (int64_t)n * V);
    double d8 = tm_rel_diff(out[2], out[0], (int64_t)n * V);
    printf("  KV f16 vs f32 %.3g, q8_0 vs f32 %.3g\n", d16, d8);
    assert_true(d16 < 5e-3);
    assert_true(d8 < 3e-2);
    assert_true(d8 > 0);   /* Q8_0 really quantizes */
    for (int k = 0; k < 3; k++)
        free(out[k]);
    /* the byte count follows the type */
    lf_ctx *c16, *c32;
    assert_int_equal(lf_ctx_new(&c16, m, 32, LF_TYPE_F16, NULL, &err), 0);
    assert_int_equal(lf_ctx_new(&c32, m, 32, LF_TYPE_F32, NULL, &err), 0);
    assert_int_equal(lf_ctx_kv_bytes(c32), 2 * lf_ctx_kv_bytes(c16));
    assert_int_equal(lf_ctx_kv_bytes(c32),
                     (size_t)hp.n_layer * 32 * hp.n_head_kv * 32 * 4 * 2);
    lf_ctx_free(c16);
    lf_ctx_free(c32);
    lf_model_free(m);
}

static void test_eval_errors(void **state) {
    (void)state;
    lf_model_params hp;
    tm_synth_params(TM_LLAMA_GQA, &hp);
    lf_error err = {0};
    lf_model *m;
    assert_int_equal(lf_model_synth(&m, &hp, LF_MIX_Q8_0, 1, &err), 0);
    lf_ctx *c;
    assert_int_equal(lf_ctx_new(&c, m, 8, LF_TYPE_F16, NULL, &err), 0);
    int32_t t[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    const float *pl;
    assert_int_equal(lf_ctx_eval(c, t, 9, false, &pl, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "overflow"));
    assert_int_equal(lf_ctx_pos(c), 0);
    assert_int_equal(lf_ctx_eval(c, t, 8, false, &pl, &err), 0);
    assert_int_equal(lf_ctx_eval(c, t, 1, false, &pl, &err), LF_ERANGE);
    lf_ctx_reset(c);
    int32_t bad = hp.n_vocab;
    assert_int_equal(lf_ctx_eval(c, &bad, 1, false, &pl, &err), LF_ERANGE);
    assert_non_null(strstr(err.msg, "vocabulary"));
    lf_ctx_free(c);
    /* Q8_0 KV needs head_dim % 32 == 0 */
    lf_model_params hp2;
    tm_synth_params(TM_LLAMA_GQA, &hp2);
    hp2.n_embd = 64;
    hp2.n_head = 4;   /* head_dim 16 */
    lf_model *m2;
    assert_int_equal(lf_model_synth(&m2, &hp2, LF_MIX_F32, 1, &err), 0);
    assert_int_equal(lf_ctx_new(&c, m2, 8, LF_TYPE_Q8_0, NULL, &err), LF_EUNSUPP);
    assert_null(c);
    lf_model_free(m2);
    lf_model_free(m);
}

/* ---- sampling ----------------------------------------------------------- */

static void test_sampling(void **state) {
    (void)state;
    float l[5] = {0.1f, 2.0f, 1.0f, 2.0f, -1.0f};
    assert_int_equal(lf_sample_greedy(l, 5), 1);   /* first of equals */
    uint64_t rng = 123;
    assert_int_equal(lf_sample(l, 5, 0.0f, 1.0f, &rng), 1);
    /* tiny top_p keeps only the top tokens (1 and 3) */
    for (int i = 0; i < 50; i++) {
        int32_t s = lf_sample(l, 5, 1.0f, 0.01f, &rng);
        assert_true(s == 1 || s == 3);
    }
    /* frequencies follow softmax(l / T) */
    int cnt[5] = {0};
    const int N = 20000;
    for (int i = 0; i < N; i++)
        cnt[lf_sample(l, 5, 1.0f, 1.0f, &rng)]++;
    double z = 0;
    for (int i = 0; i < 5; i++)
        z += exp(l[i]);
    for (int i = 0; i < 5; i++) {
        double want = exp(l[i]) / z;
        assert_true(fabs((double)cnt[i] / N - want) < 0.02);
    }
    /* same seed, same tokens */
    uint64_t r1 = 9, r2 = 9;
    for (int i = 0; i < 20; i++)
        assert_int_equal(lf_sample(l, 5, 0.8f, 0.9f, &r1), lf_sample(l, 5, 0.8f, 0.9f, &r2));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260K_vs_ref),
        cmocka_unit_test(test_656K_vs_ref),
        cmocka_unit_test(test_656K_f16_vs_ref),
        cmocka_unit_test(test_stories260K_q8_0_vs_ref),
        cmocka_unit_test(test_stories260K_f16_kv),
        cmocka_unit_test(test_kquant_files_vs_ref),
        cmocka_unit_test(test_stories260K_greedy_story),
        cmocka_unit_test(test_synth_archs_f32),
        cmocka_unit_test(test_synth_archs_q8_0),
        cmocka_unit_test(test_synth_features_matter),
        cmocka_unit_test(test_batched_prefill),
        cmocka_unit_test(test_multi_batch),
        cmocka_unit_test(test_kv_types),
        cmocka_unit_test(test_eval_errors),
        cmocka_unit_test(test_sampling),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
