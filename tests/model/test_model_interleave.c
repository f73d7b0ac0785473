/*
 * Models in the kernels' interleaved layout (lf_model_interleave): real
 * GGUF files from ../shared and synthetic models give the same logits
 * interleaved as stored — token by token (the fused decode path) and as a
 * batch (the packed prompt path) — adapters merged into an interleaved
 * base equal those merged into a stored one, and an interleaved model
 * refuses to be saved instead of writing rewritten bytes as a GGUF file.
 */
#include "model_test_util.h"

#include "kernels/internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define N_TOK 20

/* Logits of N_TOK tokens: decoded one at a time (all of them kept) and, in
 * a second context, the whole sequence as one batch. out: 2 · N_TOK · V. */
static void run_logits(const lf_model *m, lf_pool *pool, float *out) {
    const int V = lf_model_hparams(m)->n_vocab;
    int32_t toks[N_TOK];
    for (int i = 0; i < N_TOK; i++)
        toks[i] = (int32_t)((i * 37 + 1) % V);
    lf_error err = {0};
    lf_ctx *c = NULL;
    assert_int_equal(lf_ctx_new(&c, m, 64, LF_TYPE_F16, pool, &err), 0);
    for (int i = 0; i < N_TOK; i++) {
        const float *lg = NULL;
        assert_int_equal(lf_ctx_eval(c, &toks[i], 1, false, &lg, &err), 0);
        memcpy(out + (size_t)i * V, lg, sizeof(float) * (size_t)V);
    }
    lf_ctx_free(c);
    assert_int_equal(lf_ctx_new(&c, m, 64, LF_TYPE_F16, pool, &err), 0);
    const float *lg = NULL;
    assert_int_equal(lf_ctx_eval(c, toks, N_TOK, true, &lg, &err), 0);
    memcpy(out + (size_t)N_TOK * V, lg, sizeof(float) * (size_t)N_TOK * V);
    lf_ctx_free(c);
}

/* The set the tests run under; the stored model's products go through its
 * interleaved kernels while compare() runs. */
static lf_kernel_set base_set;

/* Four stored rows through the interleaved kernel of t: the group rewritten
 * into the layout and the activation row prepared, as lf_matmul and the
 * fused decode do for an interleaved matrix. Whatever has no layout here
 * (row tails, unaligned columns) keeps the stored kernel. */
static void mv_via_il(lf_type t, int n, float *s, const void *x, size_t bx, const void *y, int nr) {
    const lf_il_desc *d = lf_il_desc_get(t);
    const int align = d->col_align ? d->col_align : lf_type_traits_get(t)->block_size;
    if (nr != LF_IL_ROWS || n % align) {
        base_set.mv[t](n, s, x, bx, y, nr);
        return;
    }
    const size_t gb = ((size_t)LF_IL_ROWS * bx + 63) / 64 * 64;
    uint8_t *g = aligned_alloc(64, gb);
    void *p = d->prep_act ? aligned_alloc(64, (d->act_bytes(n) + 63) / 64 * 64) : NULL;
    assert_non_null(g);
    d->interleave(g, x, bx, n);
    if (d->prep_act) {
        assert_non_null(p);
        d->prep_act(y, p, n);
    }
    base_set.mv_il[t](n, s, g, bx, p ? p : y, LF_IL_ROWS);
    free(g);
    free(p);
}

#define VIA_IL(T)                                                                          \
    static void via_il_##T(int n, float *s, const void *x, size_t bx, const void *y, int nr) { \
        mv_via_il(LF_TYPE_##T, n, s, x, bx, y, nr);                                        \
    }
VIA_IL(F16)
VIA_IL(Q4_0)
VIA_IL(Q5_0)
VIA_IL(Q8_0)
VIA_IL(Q4_K)
VIA_IL(Q5_K)
VIA_IL(Q6_K)
#undef VIA_IL

static void compare(const char *what, const lf_model *a, const lf_model *b, lf_pool *pool) {
    const int V = lf_model_hparams(a)->n_vocab;
    const size_t n = (size_t)2 * N_TOK * V;
    float *la = malloc(n * sizeof *la), *lb = malloc(n * sizeof *lb);
    assert_non_null(la);
    assert_non_null(lb);
    /* The interleaved kernels need not sum in the stored kernels' order
     * (AVX2's Q4_0 and K-quant kernels do not), and a last-bit difference
     * can flip the rounding of a Q8_0 activation or an F16 cache entry,
     * which the following layers carry to ~1e-2 of the logits. So the
     * stored model (a) runs its products through the same interleaved
     * kernels, rewriting each group on the fly, and the two must agree:
     * what differs is only the plumbing (load-time rewrite, fused decode,
     * prepared rows, thread split, packed prompt panels, tied embedding
     * lookups). The kernels' own accuracy is test_interleave.c's. */
    base_set = *lf_kernel_set_active();
    lf_kernel_set via = base_set;
    static const struct { lf_type t; lf_mv_fn fn; } via_fns[] = {
        {LF_TYPE_F16, via_il_F16},   {LF_TYPE_Q4_0, via_il_Q4_0}, {LF_TYPE_Q5_0, via_il_Q5_0},
        {LF_TYPE_Q8_0, via_il_Q8_0}, {LF_TYPE_Q4_K, via_il_Q4_K}, {LF_TYPE_Q5_K, via_il_Q5_K},
        {LF_TYPE_Q6_K, via_il_Q6_K},
    };
    for (size_t i = 0; i < sizeof via_fns / sizeof via_fns[0]; i++) {
        const lf_type t = via_fns[i].t;
        if (lf_il_desc_get(t) && via.mv_il[t] && via.mv[t])
            via.mv[t] = via_fns[i].fn;
    }
    lf_kernel_set_activate(&via);
    run_logits(a, pool, la);
    lf_kernel_set_activate(&base_set);
    run_logits(b, pool, lb);
    double d = tm_rel_diff(lb, la, (int64_t)n);
    print_message("%s: interleaved vs stored logits: max rel diff %.2e\n", what, d);
    /* the same products in the same order (the packed prompt path sums
     * panels of stored rows either way) */
    assert_true(d < 2e-4);
    free(la);
    free(lb);
}

static bool kernels_interleave(lf_type t) {
    return lf_il_desc_get(t) && lf_kernel_set_active()->mv_il[t];
}

static void test_files(void **state) {
    (void)state;
    const struct { const char *file; lf_type t; } cases[] = {
        {"stories260K-Q4_0.gguf", LF_TYPE_Q4_0},
        {"stories260K-Q8_0.gguf", LF_TYPE_Q8_0},
        {"kquant/kq-Q4_0.gguf", LF_TYPE_Q4_0},
        {"kquant/kq-Q4_K_M.gguf", LF_TYPE_Q4_K},
        {"kquant/kq-Q5_K_M.gguf", LF_TYPE_Q5_K},
        {"kquant/kq-Q6_K.gguf", LF_TYPE_Q6_K},
        {"TinyStories-656K.f16.gguf", LF_TYPE_F16},
    };
    lf_pool *pool = lf_pool_create(2, false);
    int ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[1024];
        if (!tm_model_path(cases[i].file, path, sizeof path))
            continue;
        lf_error err = {0};
        lf_model *s = NULL, *il = NULL;
        assert_int_equal(lf_model_load(&s, path, NULL, &err), 0);
        lf_model_opts o = {.interleave = true};
        assert_int_equal(lf_model_load(&il, path, &o, &err), 0);
        int again = lf_model_interleave(il, &err);
        assert_int_equal(again, 0);             /* nothing left to rewrite */
        bool any = false, any_t = false;
        for (int k = 0; k < lf_model_n_tensors(il); k++) {
            const lf_mat *mt = &lf_model_tensor_at(il, k)->mat;
            any |= mt->interleaved;
            any_t |= mt->interleaved && mt->type == cases[i].t;
        }
        /* the file's main type rewritten exactly when the active kernels
         * have its layout (a mix's other types go by their own: plain
         * AVX2 keeps Q5_K as stored but rewrites Q5_K_M's Q6_K) */
        if (kernels_interleave(cases[i].t))
            assert_true(any_t);
        else
            assert_false(any_t);
        compare(cases[i].file, s, il, pool);
        if (any) {
            char out[1024];
            snprintf(out, sizeof out, "%s/il-save-%d.gguf", LF_BINARY_DIR, (int)getpid());
            assert_int_equal(lf_model_save_gguf(il, out, &err), LF_EINVAL);
            assert_non_null(strstr(err.msg, "interleaved"));
            assert_int_equal(access(out, F_OK), -1);
        }
        lf_model_free(s);
        lf_model_free(il);
        ran++;
    }
    lf_pool_free(pool);
    if (ran == 0)
        skip();
}

static void test_merge_from_interleaved(void **state) {
    (void)state;
    char base[1024], ad[1024];
    if (!tm_model_path("stories260K-Q8_0.gguf", base, sizeof base) ||
        !tm_model_path("stories260K-lora-r4.gguf", ad, sizeof ad))
        skip();
    lf_error err = {0};
    lf_model *s = NULL, *il = NULL, *ms = NULL, *mi = NULL;
    lf_lora *ls = NULL, *li = NULL;
    lf_model_opts o = {.interleave = true};
    assert_int_equal(lf_model_load(&s, base, NULL, &err), 0);
    assert_int_equal(lf_model_load(&il, base, &o, &err), 0);
    assert_int_equal(lf_lora_load(&ls, ad, s, &err), 0);
    assert_int_equal(lf_lora_load(&li, ad, il, &err), 0);
    const float scale = 1.0f;
    /* requantized merges: the merged tensors are new, the others shared */
    assert_int_equal(lf_model_merge_lora_ex(&ms, s, &ls, &scale, 1, true, &err), 0);
    assert_int_equal(lf_model_merge_lora_ex(&mi, il, &li, &scale, 1, true, &err), 0);
    assert_int_equal(lf_model_interleave(mi, &err), 0);   /* merged copies stay */
    lf_pool *pool = lf_pool_create(2, false);
    compare("merged", ms, mi, pool);
    lf_pool_free(pool);
    lf_model_free(ms);
    lf_model_free(mi);
    lf_lora_free(ls);
    lf_lora_free(li);
    lf_model_free(s);
    lf_model_free(il);
}

static void test_synthetic(void **state) {
    (void)state;
    const lf_mix mixes[] = {LF_MIX_Q4_0, LF_MIX_Q8_0, LF_MIX_Q4_K_M, LF_MIX_Q6_K, LF_MIX_F16};
    lf_pool *pool = lf_pool_create(3, false);
    for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++) {
        lf_model_params hp;
        tm_synth_params(TM_LLAMA_GQA, &hp);
        hp.n_embd = 256;
        hp.n_ff = 512;
        hp.n_head = 4;
        hp.n_head_kv = 2;
        hp.head_dim = 0;
        lf_error err = {0};
        lf_model *s = NULL, *il = NULL;
        assert_int_equal(lf_model_synth(&s, &hp, mixes[i], 5, &err), 0);
        assert_int_equal(lf_model_synth(&il, &hp, mixes[i], 5, &err), 0);
        int n = lf_model_interleave(il, &err);
        assert_true(n >= 0);
        print_message("%s: %d matrices interleaved\n", lf_mix_name(mixes[i]), n);
        compare(lf_mix_name(mixes[i]), s, il, pool);
        lf_model_free(s);
        lf_model_free(il);
    }
    lf_pool_free(pool);
}

int main(void) {
    lf_kernels_init(LF_ISA_AUTO_LEVEL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_merge_from_interleaved),
        cmocka_unit_test(test_synthetic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
