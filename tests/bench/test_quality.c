/*
 * Quality measurement tests. The statistics are checked against an
 * independent computation written here (two-pass moments in long double
 * over logits obtained straight from lf_ctx_eval), the protocol details
 * (BOS replacement, second-half scoring, window count) through it, a model
 * against an identical copy of itself gives exactly zero divergence, the
 * in-memory quantization equals lf_quantize bit for bit and scores like the
 * same file on disk, and on the real files (skipped when absent) the KLD of
 * stories260K's quantizations orders as Q8_0 ≪ Q5_x < Q4_x, while
 * TinyStories-656K falls back to generated tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bench/quality.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *models_dir(void) {
    const char *d = getenv("LOCALFIT_TEST_MODELS");
    return d && *d ? d : LF_SOURCE_DIR "/../shared/models";
}

static bool shared_path(const char *file, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", models_dir(), file);
    if (access(buf, R_OK) != 0) {
        printf("skipping: %s not found\n", buf);
        return false;
    }
    return true;
}

static void tmp_path(char *buf, size_t size, const char *tag) {
    const char *d = getenv("TMPDIR");
    snprintf(buf, size, "%s/lf_test_quality_%d_%s.gguf", d && *d ? d : "/tmp", (int)getpid(), tag);
}

static void tiny_hp(lf_model_params *hp, int n_vocab) {
    lf_model_params_init(hp, LF_ARCH_LLAMA);
    hp->n_layer = 2;
    hp->n_embd = 64;
    hp->n_head = 4;
    hp->n_head_kv = 2;
    hp->n_ff = 128;
    hp->n_vocab = n_vocab;
    hp->n_ctx_train = 256;
    snprintf(hp->name, sizeof hp->name, "quality-test");
}

static lf_model *synth(lf_mix mix, uint64_t seed, int n_vocab) {
    lf_model_params hp;
    tiny_hp(&hp, n_vocab);
    lf_model *m;
    lf_error err = {0};
    if (lf_model_synth(&m, &hp, mix, seed, &err) < 0)
        fail_msg("synth: %s", err.msg);
    return m;
}

static int32_t *random_tokens(int64_t n, int V, uint64_t seed) {
    int32_t *t = malloc((size_t)n * sizeof *t);
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        t[i] = (int32_t)(s % (uint64_t)V);
    }
    return t;
}

/* ---- the independent computation ------------------------------------------ */
typedef struct {
    int64_t n;
    double ppl, ppl_err, base_ppl, base_ppl_err, dppl, dppl_err, ratio, ratio_err;
    double kld_mean, kld_err, kld_median, kld_p99, kld_max, same, same_err;
} ref_res;

static int cmp_ld(const void *a, const void *b) {
    long double x = *(const long double *)a, y = *(const long double *)b;
    return (x > y) - (x < y);
}

static long double interp(const long double *v, int64_t n, double q) {
    long double pos = q * (long double)(n - 1);
    int64_t i = (int64_t)floorl(pos);
    if (i >= n - 1)
        return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

static void ref_quality(const lf_model *b, const lf_model *q, const int32_t *tokens, int n_ctx,
                        int n_chunks, int32_t bos, ref_res *r) {
    const int V = lf_model_hparams(b)->n_vocab;
    lf_ctx *cb, *cq;
    lf_error err = {0};
    assert_int_equal(lf_ctx_new(&cb, b, n_ctx, LF_TYPE_F16, NULL, &err), 0);
    assert_int_equal(lf_ctx_new(&cq, q, n_ctx, LF_TYPE_F16, NULL, &err), 0);
    const int64_t cap = (int64_t)n_chunks * n_ctx;
    long double *nb = calloc((size_t)cap, sizeof *nb), *nq = calloc((size_t)cap, sizeof *nq);
    long double *kl = calloc((size_t)cap, sizeof *kl);
    int64_t n = 0, same = 0;
    int32_t *w = malloc((size_t)n_ctx * sizeof *w);
    float *lb = malloc((size_t)n_ctx * V * sizeof *lb);
    for (int k = 0; k < n_chunks; k++) {
        memcpy(w, tokens + (int64_t)k * n_ctx, (size_t)n_ctx * sizeof *w);
        if (bos >= 0)
            w[0] = bos;
        const float *l;
        lf_ctx_reset(cb);
        assert_int_equal(lf_ctx_eval(cb, w, n_ctx, true, &l, &err), 0);
        memcpy(lb, l, (size_t)n_ctx * V * sizeof *lb);
        lf_ctx_reset(cq);
        assert_int_equal(lf_ctx_eval(cq, w, n_ctx, true, &l, &err), 0);
        for (int j = n_ctx / 2; j <= n_ctx - 2; j++) {
            const float *x = lb + (size_t)j * V, *y = l + (size_t)j * V;
            long double mx = x[0], my = y[0];
            int ax = 0, ay = 0;
            for (int i = 1; i < V; i++) {
                if (x[i] > x[ax])
                    ax = i;
                if (y[i] > y[ay])
                    ay = i;
            }
            mx = x[ax];
            my = y[ay];
            long double sx = 0, sy = 0;
            for (int i = 0; i < V; i++) {
                sx += expl(x[i] - mx);
                sy += expl(y[i] - my);
            }
            long double zx = mx + logl(sx), zy = my + logl(sy), d = 0;
            for (int i = 0; i < V; i++)
                d += expl(x[i] - zx) * ((x[i] - zx) - (y[i] - zy));
            int32_t t = w[j + 1];
            nb[n] = zx - x[t];
            nq[n] = zy - y[t];
            kl[n] = d;
            same += ax == ay;
            n++;
        }
    }
    long double mb = 0, mq = 0, mk = 0;
    for (int64_t i = 0; i < n; i++) {
        mb += nb[i];
        mq += nq[i];
        mk += kl[i];
    }
    mb /= n;
    mq /= n;
    mk /= n;
    long double vb = 0, vq = 0, cv = 0, vk = 0;
    for (int64_t i = 0; i < n; i++) {
        vb += (nb[i] - mb) * (nb[i] - mb);
        vq += (nq[i] - mq) * (nq[i] - mq);
        cv += (nb[i] - mb) * (nq[i] - mq);
        vk += (kl[i] - mk) * (kl[i] - mk);
    }
    vb /= n;
    vq /= n;
    cv /= n;
    vk /= n;
    r->n = n;
    r->base_ppl = (double)expl(mb);
    r->ppl = (double)expl(mq);
    r->base_ppl_err = r->base_ppl * sqrt((double)(vb / (n - 1)));
    r->ppl_err = r->ppl * sqrt((double)(vq / (n - 1)));
    r->dppl = r->ppl - r->base_ppl;
    double dv = (double)((r->ppl * r->ppl * vq + r->base_ppl * r->base_ppl * vb -
                          2 * r->ppl * r->base_ppl * cv) / (n - 1));
    r->dppl_err = dv > 0 ? sqrt(dv) : 0;
    r->ratio = (double)expl(mq - mb);
    long double vd = vq + vb - 2 * cv;
    r->ratio_err = r->ratio * sqrt((double)((vd > 0 ? vd : 0) / (n - 1)));
    r->kld_mean = (double)mk;
    r->kld_err = sqrt((double)(vk / (n - 1)));
    qsort(kl, (size_t)n, sizeof *kl, cmp_ld);
    r->kld_median = (double)interp(kl, n, 0.5);
    r->kld_p99 = (double)interp(kl, n, 0.99);
    r->kld_max = (double)kl[n - 1];
    r->same = (double)same / n;
    r->same_err = sqrt(r->same * (1 - r->same) / (n - 1));
    free(nb);
    free(nq);
    free(kl);
    free(w);
    free(lb);
    lf_ctx_free(cb);
    lf_ctx_free(cq);
}

static void close_to(double got, double want, double rel, const char *what) {
    double tol = rel * fmax(fabs(want), 1e-12);
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: got %.12g, want %.12g", what, got, want);
}

static void expect_matches(const lf_quality_result *r, const ref_res *x) {
    assert_int_equal(r->n_tokens, x->n);
    close_to(r->ppl, x->ppl, 1e-9, "ppl");
    close_to(r->ppl_err, x->ppl_err, 1e-6, "ppl_err");
    close_to(r->base_ppl, x->base_ppl, 1e-9, "base_ppl");
    close_to(r->base_ppl_err, x->base_ppl_err, 1e-6, "base_ppl_err");
    close_to(r->dppl, x->dppl, 1e-6, "dppl");
    close_to(r->dppl_err, x->dppl_err, 1e-5, "dppl_err");
    close_to(r->ppl_ratio, x->ratio, 1e-9, "ratio");
    close_to(r->ppl_ratio_err, x->ratio_err, 1e-5, "ratio_err");
    close_to(r->kld_mean, x->kld_mean, 1e-6, "kld_mean");
    close_to(r->kld_err, x->kld_err, 1e-5, "kld_err");
    /* per-token KLDs are kept as float for the percentiles */
    close_to(r->kld_median, x->kld_median, 1e-5, "kld_median");
    close_to(r->kld_p99, x->kld_p99, 1e-5, "kld_p99");
    close_to(r->kld_max, x->kld_max, 1e-5, "kld_max");
    close_to(r->same_top, x->same, 1e-12, "same_top");
    close_to(r->same_top_err, x->same_err, 1e-9, "same_top_err");
}

/* ---- tests ----------------------------------------------------------------- */
static void test_self_is_zero(void **state) {
    (void)state;
    lf_model *a = synth(LF_MIX_Q8_0, 11, 300), *b = synth(LF_MIX_Q8_0, 11, 300);
    int32_t *t = random_tokens(4 * 32, 300, 3);
    lf_quality_opts o;
    lf_quality_opts_init(&o);
    o.n_ctx = 32;
    const lf_model *vars[2] = {b, a};   /* an identical copy, and a itself */
    lf_quality_result r[2];
    lf_error err = {0};
    assert_int_equal(lf_quality_eval(a, vars, 2, t, 4 * 32, &o, r, &err), 0);
    for (int i = 0; i < 2; i++) {
        assert_true(r[i].kld_mean == 0.0);
        assert_true(r[i].kld_max == 0.0);
        assert_true(r[i].kld_p99 == 0.0);
        assert_true(r[i].same_top == 1.0);
        assert_true(r[i].ppl == r[i].base_ppl);
        assert_true(r[i].dppl == 0.0);
        assert_true(r[i].ppl_ratio == 1.0);
        assert_int_equal(r[i].n_chunks, 4);
        assert_int_equal(r[i].n_tokens, 4 * (32 - 1 - 16));
        assert_true(r[i].ppl > 1.0);
    }
    free(t);
    lf_model_free(a);
    lf_model_free(b);
}

static void test_matches_independent(void **state) {
    (void)state;
    lf_model *base = synth(LF_MIX_F32, 5, 300), *q = synth(LF_MIX_Q4_0, 5, 300);
    const int n_ctx = 32;
    const int64_t nt = 5 * n_ctx + 7;
    int32_t *t = random_tokens(nt, 300, 9);
    lf_quality_opts o;
    lf_quality_opts_init(&o);
    o.n_ctx = n_ctx;
    lf_quality_result r;
    lf_error err = {0};
    const lf_model *vars[1] = {q};
    assert_int_equal(lf_quality_eval(base, vars, 1, t, nt, &o, &r, &err), 0);
    assert_int_equal(r.n_chunks, 5);   /* the 7 leftover tokens make no window */
    /* the synthetic vocabulary adds BOS: windows start with id 1 */
    const lf_vocab *v = lf_model_vocab(base);
    assert_non_null(v);
    assert_true(lf_vocab_add_bos(v));
    ref_res x;
    ref_quality(base, q, t, n_ctx, 5, lf_vocab_bos(v), &x);
    expect_matches(&r, &x);
    assert_true(r.kld_mean > 0);
    printf("synthetic F32 vs Q4_0: PPL %.3f vs %.3f, KLD %.5f, same top %.1f%%\n", r.base_ppl,
           r.ppl, r.kld_mean, 100 * r.same_top);
    /* and the BOS replacement matters: without it the numbers differ */
    ref_res nobos;
    ref_quality(base, q, t, n_ctx, 5, -1, &nobos);
    assert_true(fabs(nobos.base_ppl - r.base_ppl) > 1e-9);
    /* --chunks limits the windows */
    o.n_chunks = 3;
    assert_int_equal(lf_quality_eval(base, vars, 1, t, nt, &o, &r, &err), 0);
    assert_int_equal(r.n_chunks, 3);
    ref_quality(base, q, t, n_ctx, 3, lf_vocab_bos(v), &x);
    expect_matches(&r, &x);
    /* errors: too short, too small a window, different vocabularies */
    assert_int_equal(lf_quality_eval(base, vars, 1, t, n_ctx - 1, &o, &r, &err), LF_EINVAL);
    o.n_ctx = 3;
    assert_int_equal(lf_quality_eval(base, vars, 1, t, nt, &o, &r, &err), LF_EINVAL);
    o.n_ctx = n_ctx;
    lf_model *other = synth(LF_MIX_F32, 5, 320);
    const lf_model *bad[1] = {other};
    assert_int_equal(lf_quality_eval(base, bad, 1, t, nt, &o, &r, &err), LF_EMISMATCH);
    lf_model_free(other);
    free(t);
    lf_model_free(base);
    lf_model_free(q);
}

static void test_generate(void **state) {
    (void)state;
    lf_model *m = synth(LF_MIX_F32, 2, 300);
    int32_t *a, *b, *c;
    int64_t na, nb, nc;
    lf_error err = {0};
    assert_int_equal(lf_quality_generate(m, 24, 3, 7, LF_TYPE_F16, NULL, &a, &na, &err), 0);
    assert_int_equal(lf_quality_generate(m, 24, 3, 7, LF_TYPE_F16, NULL, &b, &nb, &err), 0);
    assert_int_equal(lf_quality_generate(m, 24, 3, 8, LF_TYPE_F16, NULL, &c, &nc, &err), 0);
    assert_int_equal(na, 72);
    assert_memory_equal(a, b, (size_t)na * sizeof *a);      /* seeded */
    assert_true(memcmp(a, c, (size_t)na * sizeof *a) != 0); /* and the seed matters */
    for (int64_t i = 0; i < na; i++) {
        assert_true(a[i] >= 0 && a[i] < 300);
        if (i % 24 == 0)
            assert_int_equal(a[i], 1);                  /* BOS opens every window */
        else if (a[i - 1] == 2)
            assert_int_equal(a[i], 1);                  /* EOS is followed by BOS */
    }
    free(a);
    free(b);
    free(c);
    lf_model_free(m);
}

static void test_quantize_in_memory(void **state) {
    (void)state;
    /* a base file: a synthetic F32 model saved as GGUF */
    lf_model *m = synth(LF_MIX_F32, 21, 300);
    char base[512], q8[512];
    tmp_path(base, sizeof base, "base");
    tmp_path(q8, sizeof q8, "q8");
    lf_error err = {0};
    assert_int_equal(lf_model_save_gguf(m, base, &err), 0);
    assert_int_equal(lf_quality_write_quantized(base, LF_MIX_Q8_0, q8, &err), 0);
    lf_gguf *gb, *gq;
    assert_int_equal(lf_gguf_open(&gb, base, &err), 0);
    assert_int_equal(lf_gguf_open(&gq, q8, &err), 0);
    assert_int_equal(lf_gguf_n_tensors(gb), lf_gguf_n_tensors(gq));
    int n_q8 = 0;
    for (int64_t i = 0; i < lf_gguf_n_tensors(gb); i++) {
        const lf_gguf_tensor *tb = lf_gguf_tensor_at(gb, i);
        const lf_gguf_tensor *tq = lf_gguf_find_tensor(gq, tb->name);
        assert_non_null(tq);
        if (tb->n_dims < 2) {   /* vectors stay as they are */
            assert_int_equal(tq->type, tb->type);
            assert_memory_equal(tq->data, tb->data, tb->nbytes);
            continue;
        }
        /* every matrix of this model has rows divisible by 32: all Q8_0 */
        assert_int_equal(tq->type, LF_TYPE_Q8_0);
        n_q8++;
        const int64_t cols = tb->ne[0], rows = lf_gguf_tensor_nelem(tb) / cols;
        size_t nb = lf_row_size(LF_TYPE_Q8_0, cols) * (size_t)rows;
        assert_int_equal(tq->nbytes, nb);
        void *want = malloc(nb);
        assert_int_equal(lf_quantize(LF_TYPE_Q8_0, tb->data, want, rows, cols), nb);
        assert_memory_equal(tq->data, want, nb);   /* bit for bit */
        free(want);
    }
    assert_true(n_q8 >= 2 * 7 + 2);
    assert_null(lf_gguf_find_kv(gq, "general.file_type"));
    lf_gguf_close(gb);
    lf_gguf_close(gq);

    /* --quants Q8_0 and the same file given with --files score identically */
    char text[4096];
    text[0] = '\0';
    while (strlen(text) < 3500)
        strcat(text, "Once upon a time, a little cat sat in the sun. ");
    lf_quality_variant vars[2] = {{.mix = LF_MIX_Q8_0, .from_mix = true}, {.path = q8}};
    lf_quality_opts o;
    lf_quality_opts_init(&o);
    o.n_ctx = 64;
    o.n_chunks = 4;
    lf_quality_result r[3];
    assert_int_equal(lf_quality_run(base, vars, 2, text, strlen(text), &o, r, &err), 0);
    assert_string_equal(r[0].token_source, "text");
    assert_string_equal(r[1].name, "Q8_0");
    assert_true(r[0].kld_mean == 0.0);
    assert_true(r[1].kld_mean > 0.0);
    assert_true(r[1].kld_mean == r[2].kld_mean);
    assert_true(r[1].ppl == r[2].ppl);
    assert_int_equal(r[1].size_bytes, r[2].size_bytes);
    assert_true(r[1].bpw > 8.0 && r[1].bpw < 10.0);
    unlink(base);
    unlink(q8);
    lf_model_free(m);
}

static void test_stories260k_ordering(void **state) {
    (void)state;
    char base[1024], text_path[1024];
    if (!shared_path("stories260K.gguf", base, sizeof base))
        skip();
    const char *ds = getenv("LOCALFIT_TEST_DATASETS");
    snprintf(text_path, sizeof text_path, "%s/tinystories_val.txt",
             ds && *ds ? ds : LF_SOURCE_DIR "/../shared/datasets");
    FILE *f = fopen(text_path, "rb");
    if (!f) {
        printf("skipping: %s not found\n", text_path);
        skip();
    }
    static char text[120000];   /* the first stories are plenty for 8 windows */
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    static const char *files[] = {"stories260K-Q8_0.gguf", "stories260K-Q5_0.gguf",
                                  "stories260K-Q5_1.gguf", "stories260K-Q4_0.gguf",
                                  "stories260K-Q4_1.gguf", "stories260K-IQ4_NL.gguf"};
    char paths[6][1024];
    lf_quality_variant vars[7];
    for (int i = 0; i < 6; i++) {
        if (!shared_path(files[i], paths[i], sizeof paths[i]))
            skip();
        vars[i] = (lf_quality_variant){.path = paths[i]};
    }
    vars[6] = (lf_quality_variant){.mix = LF_MIX_Q8_0, .from_mix = true};
    lf_quality_opts o;
    lf_quality_opts_init(&o);
    o.n_ctx = 64;
    o.n_chunks = 8;
    lf_quality_result r[8];
    lf_error err = {0};
    if (lf_quality_run(base, vars, 7, text, len, &o, r, &err) < 0)
        fail_msg("%s", err.msg);
    for (int i = 0; i < 8; i++)
        printf("%-26s PPL %.4f  KLD %.6f ± %.6f  p99 %.4f  same %.1f%%\n", r[i].name, r[i].ppl,
               r[i].kld_mean, r[i].kld_err, r[i].kld_p99, 100 * r[i].same_top);
    assert_string_equal(r[0].token_source, "text");
    assert_int_equal(r[0].n_chunks, 8);
    assert_true(r[0].kld_mean == 0.0);
    const double q8 = r[1].kld_mean, q50 = r[2].kld_mean, q51 = r[3].kld_mean;
    const double q40 = r[4].kld_mean, q41 = r[5].kld_mean, iq4 = r[6].kld_mean;
    assert_true(q8 > 0);
    assert_true(10 * q8 < fmin(q50, q51));              /* Q8_0 ≪ Q5_x */
    assert_true(fmax(q50, q51) < fmin(fmin(q40, q41), iq4)); /* Q5_x < Q4_x */
    assert_true(r[1].same_top > r[4].same_top);
    /* our Q8_0 of the F32 base scores like llama-quantize's Q8_0 file */
    assert_true(fabs(r[7].kld_mean - q8) < 0.05 * q8);
}

static void test_656k_generated(void **state) {
    (void)state;
    char base[1024], f16[1024], q8[1024];
    if (!shared_path("TinyStories-656K.f32.gguf", base, sizeof base) ||
        !shared_path("TinyStories-656K.f16.gguf", f16, sizeof f16) ||
        !shared_path("tinystories-656k-q8_0.gguf", q8, sizeof q8))
        skip();
    lf_quality_variant vars[2] = {{.path = f16}, {.path = q8, .name = "q8_0"}};
    lf_quality_opts o;
    lf_quality_opts_init(&o);
    o.n_ctx = 32;
    o.n_chunks = 3;
    lf_quality_result r[3];
    lf_error err = {0};
    const char *text = "Once upon a time.";
    if (lf_quality_run(base, vars, 2, text, strlen(text), &o, r, &err) < 0)
        fail_msg("%s", err.msg);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(r[i].token_source, "generated");
        assert_int_equal(r[i].n_chunks, 3);
    }
    assert_string_equal(r[2].name, "q8_0");
    assert_true(r[1].kld_mean < 1e-4);
    assert_true(r[1].kld_mean < r[2].kld_mean);
    assert_true(r[0].ppl > 1.0 && isfinite(r[0].ppl));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_is_zero),
        cmocka_unit_test(test_matches_independent),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_quantize_in_memory),
        cmocka_unit_test(test_stories260k_ordering),
        cmocka_unit_test(test_656k_generated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
