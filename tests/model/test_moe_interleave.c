/*
 * Mixture-of-experts models in the kernels' interleaved layout: the expert
 * tensors are rewritten whole, so that each chosen expert's slice decodes
 * through the interleaved kernels like a dense matrix. A synthesized MoE
 * model gives the same logits interleaved as stored, token by token (the
 * decode expert-gather path, including the prepared activation rows of
 * Q4_0) and as a batch (grouped by expert); the expert tensors are
 * rewritten exactly when the active kernels have the layout and every
 * expert's slice starts on a group of 4 rows.
 */
#include "model_test_util.h"

#include "kernels/internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define N_TOK 10

/* Logits of N_TOK tokens decoded one at a time, then (a second context)
 * as one batch. out: 2 · N_TOK · V. */
static void run_logits(const lf_model *m, lf_pool *pool, float *out) {
    const int V = lf_model_hparams(m)->n_vocab;
    int32_t toks[N_TOK];
    for (int i = 0; i < N_TOK; i++)
        toks[i] = (int32_t)((i * 53 + 5) % V);
    lf_error err = {0};
    lf_ctx *c = NULL;
    assert_int_equal(lf_ctx_new(&c, m, 32, LF_TYPE_F16, pool, &err), 0);
    for (int i = 0; i < N_TOK; i++) {
        const float *lg = NULL;
        assert_int_equal(lf_ctx_eval(c, &toks[i], 1, false, &lg, &err), 0);
        memcpy(out + (size_t)i * V, lg, sizeof(float) * (size_t)V);
    }
    lf_ctx_free(c);
    assert_int_equal(lf_ctx_new(&c, m, 32, LF_TYPE_F16, pool, &err), 0);
    const float *lg = NULL;
    assert_int_equal(lf_ctx_eval(c, toks, N_TOK, true, &lg, &err), 0);
    memcpy(out + (size_t)N_TOK * V, lg, sizeof(float) * (size_t)N_TOK * V);
    lf_ctx_free(c);
}

/* How many of m's expert tensors named *stem* are interleaved; *total:
 * how many there are. */
static int exps_interleaved(const lf_model *m, const char *stem, int *total) {
    int n = 0;
    *total = 0;
    for (int k = 0; k < lf_model_n_tensors(m); k++) {
        const lf_model_tensor *t = lf_model_tensor_at(m, k);
        if (!strstr(t->name, stem))
            continue;
        (*total)++;
        n += t->mat.interleaved;
    }
    return n;
}

static void check_mix(lf_mix mix, lf_type expert_type, int ff_exp, lf_pool *pool) {
    lf_model_params hp;
    lf_model_params_init(&hp, LF_ARCH_QWEN3MOE);
    snprintf(hp.name, sizeof hp.name, "moe-interleave");
    hp.n_layer = 2;
    hp.n_embd = 256;
    hp.n_head = 4;
    hp.n_head_kv = 2;
    hp.n_ff = 256;
    hp.n_vocab = 320;
    hp.n_expert = 8;
    hp.n_expert_used = 3;
    hp.n_ff_exp = ff_exp;
    lf_error err = {0};
    lf_model *s = NULL, *il = NULL;
    assert_int_equal(lf_model_synth_ex(&s, &hp, mix, 3, pool, &err), 0);
    assert_int_equal(lf_model_synth_ex(&il, &hp, mix, 3, pool, &err), 0);
    assert_true(lf_model_interleave(il, &err) >= 0);
    int n_gate, n_up, n_down;
    int il_gate = exps_interleaved(il, "ffn_gate_exps.", &n_gate);
    int il_up = exps_interleaved(il, "ffn_up_exps.", &n_up);
    int il_down = exps_interleaved(il, "ffn_down_exps.", &n_down);
    assert_int_equal(n_gate + n_up + n_down, 3 * hp.n_layer);
    const bool kernels = lf_il_desc_get(expert_type) &&
                         lf_kernel_set_active()->mv_il[expert_type];
    print_message("%s: expert tensors interleaved: gate %d, up %d, down %d of %d each\n",
                  lf_mix_name(mix), il_gate, il_up, il_down, hp.n_layer);
    /* gate and up have ff_exp rows per expert: a slice that does not start
     * on a group of 4 rows keeps its tensor as stored */
    const int expect = kernels && ff_exp % 4 == 0 ? hp.n_layer : 0;
    assert_int_equal(il_gate, expect);
    assert_int_equal(il_up, expect);
    if (ff_exp % 4 == 0)
        assert_int_equal(il_down, expect);

    const int V = hp.n_vocab;
    const size_t n = (size_t)2 * N_TOK * V;
    float *la = malloc(n * sizeof *la), *lb = malloc(n * sizeof *lb);
    assert_non_null(la);
    assert_non_null(lb);
    run_logits(s, pool, la);
    run_logits(il, pool, lb);
    const int64_t half = (int64_t)N_TOK * V;
    double dd = tm_rel_diff(lb, la, half), db = tm_rel_diff(lb + half, la + half, half);
    print_message("%s: interleaved vs stored logits: max rel diff decode %.2e, batch %.2e\n",
                  lf_mix_name(mix), dd, db);
    /* the same products summed in another order */
    assert_true(dd < 2e-4);
    assert_true(db < 2e-4);
    free(la);
    free(lb);
    lf_model_free(s);
    lf_model_free(il);
}

static void test_moe_interleaved_equals_stored(void **state) {
    (void)state;
    lf_pool *pool = lf_pool_create(2, false);
    check_mix(LF_MIX_Q4_0, LF_TYPE_Q4_0, 128, pool);     /* prepared activation rows */
    check_mix(LF_MIX_Q8_0, LF_TYPE_Q8_0, 96, pool);
    check_mix(LF_MIX_Q4_K_M, LF_TYPE_Q4_K, 256, pool);   /* K-quants, Q6_K down rows */
    check_mix(LF_MIX_F16, LF_TYPE_F16, 66, pool);        /* 66-row slices stay as stored */
    lf_pool_free(pool);
}

int main(void) {
    lf_kernels_init(LF_ISA_AUTO_LEVEL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moe_interleaved_equals_stored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
