/*
 * Tests for recommend/: the memory model against sums written out here, the
 * KV formula, calibration recovering an efficiency planted in synthetic
 * observations (flat and size-dependent), the measured/calibrated/estimated
 * labels, leave-one-out validation, and the selection's behaviour as the
 * constraints move: a higher --min-tps never admits a slower winner and at
 * last rejects everything with reasons, more memory admits bigger models, a
 * longer context costs memory and can change the winner, licenses filter.
 * Mixture-of-experts models: memory holds every expert, bytes per token
 * the k of n a token reads, the MoE factor is learned from MoE
 * observations only, and a MoE model too big for the memory is refused.
 * Scores not verified against their source rank after verified ones.
 */
#include "recommend/recommend.h"
#include "model/model.h"

#include <math.h>
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

/* A small llama shape every type's block divides (256-wide rows). */
static lf_catalog_model tiny(bool tied) {
    lf_catalog_model m;
    memset(&m, 0, sizeof m);
    strcpy(m.name, "tiny");
    strcpy(m.arch, "llama");
    m.n_layer = 3;
    m.n_embd = 256;
    m.n_head = 4;
    m.n_head_kv = 2;
    m.head_dim = 64;
    m.n_ff = 768;
    m.n_vocab = 1024;
    m.n_ctx = 4096;
    m.tied_embeddings = tied;
    m.quality_score = 50;
    return m;
}

static void test_weight_bytes_closed_form(void **state) {
    (void)state;
    for (int tied = 0; tied < 2; tied++) {
        lf_catalog_model m = tiny(tied);
        const double E = 256, Q = 256, KV = 128, F = 768, V = 1024, L = 3;
        /* matrix elements per block and outside, vectors (F32) separately */
        double blk_mat = E * Q + 2 * E * KV + Q * E + 3 * E * F;
        double top_mat = V * E * (tied ? 1 : 2);
        double vec = L * 2 * E + E;
        lf_rec_memory mem;
        lf_error err = {0};

        assert_int_equal(lf_rec_weight_bytes(&m, LF_MIX_F16, &mem, &err), 0);
        assert_true((double)mem.weights == 2 * (L * blk_mat + top_mat) + 4 * vec);
        assert_true(mem.matmul_params == L * blk_mat + (tied ? V * E : V * E));
        /* untied: decoding reads one embedding row, not the table */
        double read = 2 * (L * blk_mat + top_mat) + 4 * vec - (tied ? 0 : 2 * (V * E - E));
        assert_true((double)mem.weights_read == read);

        assert_int_equal(lf_rec_weight_bytes(&m, LF_MIX_F32, &mem, &err), 0);
        assert_true((double)mem.weights == 4 * (L * blk_mat + top_mat) + 4 * vec);

        /* Q8_0: 34 bytes per 32 weights on every matrix */
        assert_int_equal(lf_rec_weight_bytes(&m, LF_MIX_Q8_0, &mem, &err), 0);
        assert_true((double)mem.weights == 34.0 / 32 * (L * blk_mat + top_mat) + 4 * vec);
    }
}

static void test_weight_bytes_mix(void **state) {
    (void)state;
    /* Q4_K_M mixes types per tensor: sum it here tensor by tensor with the
     * shapes written out (not the catalog's inventory) and the kernel's
     * type rule. */
    lf_catalog_model m = tiny(false);
    lf_mix_model mm = {.n_layer = 3, .n_gqa = 2, .tied_output = false};
    struct { const char *name; int64_t cols, rows; } blk[] = {
        {"attn_q.weight", 256, 256}, {"attn_k.weight", 256, 128}, {"attn_v.weight", 256, 128},
        {"attn_output.weight", 256, 256}, {"ffn_gate.weight", 256, 768},
        {"ffn_up.weight", 256, 768}, {"ffn_down.weight", 768, 256},
    };
    uint64_t sum = 0;
    sum += lf_row_size(lf_mix_tensor_type_model(LF_MIX_Q4_K_M, &mm, "token_embd.weight", -1, 256), 256) * 1024;
    sum += lf_row_size(lf_mix_tensor_type_model(LF_MIX_Q4_K_M, &mm, "output.weight", -1, 256), 256) * 1024;
    sum += 4 * 256;   /* output_norm */
    for (int l = 0; l < 3; l++) {
        for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s", l, blk[i].name);
            lf_type t = lf_mix_tensor_type_model(LF_MIX_Q4_K_M, &mm, name, l, blk[i].cols);
            sum += lf_row_size(t, blk[i].cols) * (uint64_t)blk[i].rows;
        }
        sum += 2 * 4 * 256;   /* attn_norm, ffn_norm */
    }
    lf_rec_memory mem;
    assert_int_equal(lf_rec_weight_bytes(&m, LF_MIX_Q4_K_M, &mem, NULL), 0);
    assert_true(mem.weights == sum);
    /* and the mix really is mixed: output.weight is Q6_K, not Q4_K */
    assert_int_equal(lf_mix_tensor_type_model(LF_MIX_Q4_K_M, &mm, "output.weight", -1, 256),
                     LF_TYPE_Q6_K);
}

static void test_kv_and_memory(void **state) {
    (void)state;
    lf_catalog_model m = tiny(false);
    /* n_layer × ctx × kv heads × head_dim × 2 (K, V) × 2 bytes */
    assert_true(lf_rec_kv_bytes(&m, 1000, LF_TYPE_F16) == 3ull * 1000 * 2 * 64 * 2 * 2);
    assert_true(lf_rec_kv_bytes(&m, 1000, LF_TYPE_Q8_0) == 3ull * 1000 * 2 * 2 * (64 / 32 * 34));
    assert_true(lf_rec_kv_bytes(&m, 0, LF_TYPE_F16) == 0);

    lf_rec_adapter a = {.rank = 8, .targets = LF_REC_LORA_Q | LF_REC_LORA_V, .type = LF_TYPE_F32};
    /* q: 8×(256+256), v: 8×(256+128) elements per layer, 4 bytes */
    assert_true(lf_rec_adapter_bytes(&m, &a) == 3ull * 4 * 8 * ((256 + 256) + (256 + 128)));

    lf_rec_memory small, big;
    assert_int_equal(lf_rec_memory_estimate(&m, LF_MIX_Q8_0, 1024, LF_TYPE_F16, &a, 1, &small, NULL), 0);
    assert_int_equal(lf_rec_memory_estimate(&m, LF_MIX_Q8_0, 4096, LF_TYPE_F16, &a, 1, &big, NULL), 0);
    assert_true(small.total == small.weights + small.kv_cache + small.adapters + small.compute +
                                   small.overhead);
    assert_true(big.kv_cache == 4 * small.kv_cache);
    assert_true(big.total > small.total);
    assert_true(big.weights == small.weights);
}

/* Synthetic tg observations at efficiency eff(bytes) on a 100 GB/s device. */
static int make_obs(lf_rec_observation *o, int n, const char *mix, double (*eff)(double),
                    lf_rec_test test) {
    for (int i = 0; i < n; i++) {
        memset(&o[i], 0, sizeof o[i]);
        snprintf(o[i].model, sizeof o[i].model, "m%d", i);
        lf_strlcpy(o[i].mix, mix, sizeof o[i].mix);
        o[i].weight_bytes = (uint64_t)(2e8 * pow(1.6, i));
        o[i].kv_bytes = (uint64_t)(1e6 * (i + 1));
        o[i].params = 4e8 * pow(1.6, i);
        o[i].test = test;
        o[i].threads = 4;
        o[i].bandwidth_gbs = 100 + 10 * (i % 3);   /* bandwidth varied a little */
        o[i].compute_tops = 2.0;
        if (test == LF_REC_TG) {
            double bytes = (double)o[i].weight_bytes + (double)o[i].kv_bytes;
            o[i].tokens_per_s = eff(bytes) * o[i].bandwidth_gbs * 1e9 / bytes;
        } else {
            o[i].tokens_per_s = eff(o[i].params) * o[i].compute_tops * 1e12 / (2 * o[i].params);
        }
    }
    return n;
}

static double eff_flat(double x) { (void)x; return 0.55; }
static double eff_sloped(double x) { return 0.2 + 0.05 * log(x / 1e8); }

static void test_calibration(void **state) {
    (void)state;
    lf_rec_observation obs[16];
    int n = make_obs(obs, 8, "Q4_K_M", eff_flat, LF_REC_TG);
    n += make_obs(obs + n, 8, "Q8_0", eff_flat, LF_REC_PP);
    for (int i = 8; i < 16; i++)
        snprintf(obs[i].model, sizeof obs[i].model, "p%d", i);
    lf_rec_calibration cal;
    assert_int_equal(lf_rec_calibrate(&cal, obs, n, LF_REC_CPU, NULL), 0);
    assert_int_equal(cal.tg[LF_REC_CLASS_KQUANT].n, 8);
    assert_true(fabs(cal.tg[LF_REC_CLASS_KQUANT].median - 0.55) < 1e-9);

    lf_rec_target t = {.kind = LF_REC_CPU, .usable_memory = 1ull << 34, .bandwidth_gbs = 80,
                       .int8_tops = 3, .fp32_tflops = 1};
    lf_rec_workload w = {.model = "other", .mix = "Q5_K_S", .weight_bytes = 3000000000ull,
                         .kv_bytes = 0, .params = 5e9};
    lf_rec_prediction p;
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &w, &p, NULL), 0);
    assert_int_equal(p.source, LF_REC_CALIBRATED);
    assert_true(fabs(p.efficiency - 0.55) < 1e-6);
    assert_true(fabs(p.value - 0.55 * 80e9 / 3e9) < 1e-6);
    assert_true(p.lo < p.value && p.value < p.hi);

    /* a class with no points borrows the pool, with a wider interval */
    lf_rec_prediction q;
    w.mix = "IQ4_XS";
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &w, &q, NULL), 0);
    assert_int_equal(q.source, LF_REC_CALIBRATED);
    assert_true(q.hi / q.value > p.hi / p.value);

    /* prefill: efficiency 0.55 of the int8 peak of 3 TOPS */
    w.mix = "Q8_0";
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_PP, &w, &q, NULL), 0);
    assert_true(fabs(q.value - 0.55 * 3e12 / (2 * 5e9)) < 1e-6);

    /* the same configuration as an observation is measured */
    w = (lf_rec_workload){.model = "m3", .mix = "q4_k_m", .weight_bytes = obs[3].weight_bytes,
                          .kv_bytes = obs[3].kv_bytes, .params = obs[3].params};
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &w, &q, NULL), 0);
    assert_int_equal(q.source, LF_REC_MEASURED);
    assert_true(q.value == obs[3].tokens_per_s);
    /* but not at another depth */
    w.kv_bytes = obs[3].kv_bytes + obs[3].weight_bytes;
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &w, &q, NULL), 0);
    assert_int_equal(q.source, LF_REC_CALIBRATED);

    /* nothing observed: estimated with the defaults and a ×/÷1.5 interval */
    lf_rec_calibration none;
    assert_int_equal(lf_rec_calibrate(&none, NULL, 0, LF_REC_GPU, NULL), 0);
    assert_int_equal(lf_rec_predict(&none, &t, LF_REC_TG, &w, &q, NULL), 0);
    assert_int_equal(q.source, LF_REC_ESTIMATED);
    assert_true(fabs(q.efficiency - lf_rec_default_efficiency(LF_REC_GPU, LF_REC_TG)) < 1e-12);
    assert_true(fabs(q.hi / q.value - 1.5) < 1e-9);
    /* pp without a compute peak cannot be estimated */
    t.int8_tops = t.fp32_tflops = 0;
    assert_int_equal(lf_rec_predict(&none, &t, LF_REC_PP, &w, &q, NULL), LF_EINVAL);
}

static void test_calibration_slope(void **state) {
    (void)state;
    lf_rec_observation obs[10];
    int n = make_obs(obs, 10, "Q4_0", eff_sloped, LF_REC_TG);
    lf_rec_calibration cal;
    lf_rec_calibrate(&cal, obs, n, LF_REC_CPU, NULL);
    const lf_rec_fit *f = &cal.tg[LF_REC_CLASS_LEGACY];
    assert_true(f->has_slope);
    assert_true(fabs(f->b - 0.05) < 1e-6);
    /* predict at a size between the observed ones */
    lf_rec_target t = {.bandwidth_gbs = 50};
    lf_rec_workload w = {.mix = "Q5_1", .weight_bytes = 1500000000ull};
    lf_rec_prediction p;
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &w, &p, NULL), 0);
    assert_true(fabs(p.efficiency - eff_sloped(1.5e9)) < 1e-6);
}

static void test_validate(void **state) {
    (void)state;
    lf_rec_observation obs[20];
    int n = make_obs(obs, 10, "Q4_K_M", eff_flat, LF_REC_TG);
    n += make_obs(obs + n, 10, "Q4_K_M", eff_flat, LF_REC_PP);
    lf_rec_validation v;
    assert_int_equal(lf_rec_validate(obs, n, LF_REC_CPU, &v, NULL), 0);
    assert_int_equal(v.n, 20);
    assert_int_equal(v.n_tg, 10);
    assert_int_equal(v.n_pp, 10);
    assert_true(v.median_abs_pct < 1e-6);
    for (int i = 0; i < v.n; i++) {
        assert_true(v.rows[i].abs_pct_err < 1e-6);
        assert_int_equal(v.rows[i].source, LF_REC_CALIBRATED);   /* never its own repeat */
    }
    lf_rec_validation_free(&v);

    /* a disturbed point shows as that row's error, not the median */
    obs[4].tokens_per_s *= 2;
    assert_int_equal(lf_rec_validate(obs, 10, LF_REC_CPU, &v, NULL), 0);
    assert_true(v.median_abs_pct_tg < 1e-6);
    bool seen = false;
    for (int i = 0; i < v.n; i++)
        if (v.rows[i].index == 4) {
            assert_true(fabs(v.rows[i].abs_pct_err - 50) < 1e-6);
            seen = true;
        }
    assert_true(seen);
    assert_true(isnan(v.median_abs_pct_pp));
    lf_rec_validation_free(&v);

    assert_int_equal(lf_rec_validate(NULL, 0, LF_REC_CPU, &v, NULL), 0);
    assert_int_equal(v.n, 0);
    lf_rec_validation_free(&v);
}

/* ---- mixture of experts ------------------------------------------------- */

/* tiny() with 4 experts of width 128, 2 per token: the expert tensors are
 * held whole in memory but read 2/4 per decoded token. */
static lf_catalog_model tiny_moe(void) {
    lf_catalog_model m = tiny(false);
    strcpy(m.name, "tinymoe");
    strcpy(m.arch, "qwen3moe");
    m.n_expert = 4;
    m.n_expert_used = 2;
    m.n_ff_exp = 256;
    return m;
}

static void test_moe_bytes_per_token(void **state) {
    (void)state;
    lf_catalog_model m = tiny_moe();
    const double E = 256, Q = 256, KV = 128, V = 1024, L = 3, X = 4, K = 2, FE = 256;
    double attn = E * Q + 2 * E * KV + Q * E;
    double router = E * X;
    double expert = 3 * E * FE;   /* gate, up, down of one expert */
    double vec = L * 2 * E + E;
    lf_rec_memory mem;
    lf_error err = {0};
    assert_int_equal(lf_rec_weight_bytes(&m, LF_MIX_F16, &mem, &err), 0);
    /* memory: every expert (the router is never quantized: F32) */
    assert_true((double)mem.weights ==
                2 * (L * (attn + X * expert) + 2 * V * E) + 4 * (vec + L * router));
    /* per token: attention, router, K of X experts, output, one embedding row */
    double read = 2 * (L * (attn + K * expert) + V * E + E) + 4 * (vec + L * router);
    assert_true(fabs((double)mem.weights_read - read) <= 1.0);
    assert_true(mem.matmul_params == L * (attn + router + K * expert) + V * E);
    /* a dense model of the same total holds as much but reads it all */
    lf_catalog_model d = tiny(false);
    d.n_ff = 4 * 256;
    lf_rec_memory dm;
    assert_int_equal(lf_rec_weight_bytes(&d, LF_MIX_F16, &dm, &err), 0);
    assert_true(dm.weights_read > mem.weights_read);
    /* Q4_0: the experts' blocks (256-wide rows) are 4.5 bits, counted per row */
    assert_int_equal(lf_rec_weight_bytes(&m, LF_MIX_Q4_0, &mem, &err), 0);
    assert_true(mem.weights_read < mem.weights * 0.85);
    /* the roofline: a token that reads half of the experts decodes faster
     * than one that reads all of them, at the same efficiency */
    lf_rec_calibration cal;
    assert_int_equal(lf_rec_calibrate(&cal, NULL, 0, LF_REC_CPU, &err), 0);
    lf_rec_target t = {.kind = LF_REC_CPU, .usable_memory = 1ull << 34, .bandwidth_gbs = 100};
    lf_rec_workload w = {.model = "tinymoe", .mix = "F16", .weight_bytes = mem.weights_read,
                         .params = mem.matmul_params, .moe = true};
    lf_rec_prediction p;
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &w, &p, &err), 0);
    assert_int_equal(p.source, LF_REC_ESTIMATED);
    double want = lf_rec_default_efficiency(LF_REC_CPU, LF_REC_TG) *
                  lf_rec_default_moe_factor(LF_REC_TG) * 100e9 / (double)mem.weights_read;
    assert_true(fabs(p.value - want) / want < 1e-9);
}

/* The recommender's byte counts are the model's: a MoE synthesized from
 * the same entry holds exactly the bytes the memory model counts, and the
 * bytes it reads per decoded token (what bench divides by) are the
 * memory model's k-of-n share. */
static void test_moe_bytes_match_model(void **state) {
    (void)state;
    lf_catalog_model cm = tiny_moe();
    cm.qk_norm = true;
    lf_model_params hp;
    lf_error err = {0};
    if (lf_catalog_to_hparams(&cm, &hp, &err) < 0) {
        print_message("skipped: %s\n", err.msg);   /* no MoE forward pass in this build */
        skip();
    }
    static const lf_mix mixes[] = {LF_MIX_F16, LF_MIX_Q8_0, LF_MIX_Q4_K_M};
    for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++) {
        lf_model *m = NULL;
        assert_int_equal(lf_model_synth(&m, &hp, mixes[i], 7, &err), 0);
        lf_rec_memory mem;
        assert_int_equal(lf_rec_weight_bytes(&cm, mixes[i], &mem, &err), 0);
        if ((uint64_t)lf_model_total_bytes(m) != mem.weights)
            fail_msg("%s: model holds %zu bytes, memory model counts %llu", lf_mix_name(mixes[i]),
                     lf_model_total_bytes(m), (unsigned long long)mem.weights);
        double rd = (double)lf_model_weight_bytes(m);
        assert_true(fabs(rd - (double)mem.weights_read) <= 0.001 * rd);
        assert_true(rd < 0.8 * (double)mem.weights);
        lf_model_free(m);
    }
}

/* Dense observations at efficiency 0.55 and MoE ones at 0.55 × 0.6: the
 * MoE factor is learned (0.6), a MoE prediction for an unmeasured model is
 * calibrated with it, dense predictions do not move, and without MoE
 * observations a MoE prediction is an estimate. */
static void test_moe_calibration(void **state) {
    (void)state;
    lf_rec_observation obs[12];
    int n = make_obs(obs, 8, "Q4_K_M", eff_flat, LF_REC_TG);
    lf_rec_observation *mo = obs + n;
    n += make_obs(mo, 4, "Q4_0", eff_flat, LF_REC_TG);
    for (int i = 0; i < 4; i++) {
        snprintf(mo[i].model, sizeof mo[i].model, "moe%d", i);
        mo[i].moe = true;
        mo[i].tokens_per_s *= 0.6;
    }
    /* Q4_0's dense level comes from the class/all fallback: Q4_K_M at 0.55 */
    lf_rec_calibration cal;
    lf_error err = {0};
    assert_int_equal(lf_rec_calibrate(&cal, obs, n, LF_REC_CPU, &err), 0);
    assert_int_equal(cal.moe[LF_REC_TG].n, 4);
    assert_true(fabs(cal.moe[LF_REC_TG].factor - 0.6) < 0.01);
    assert_int_equal(cal.moe[LF_REC_PP].n, 0);
    /* dense levels learn from dense observations only */
    assert_true(fabs(cal.tg_all.median - 0.55) < 0.01);

    lf_rec_target t = {.kind = LF_REC_CPU, .usable_memory = 1ull << 36, .bandwidth_gbs = 100,
                       .threads = 4};
    lf_rec_workload w = {.model = "other", .mix = "Q4_K_M", .weight_bytes = 2000000000ull,
                         .moe = true};
    lf_rec_prediction p;
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &w, &p, &err), 0);
    assert_int_equal(p.source, LF_REC_CALIBRATED);
    assert_true(fabs(p.efficiency - 0.55 * 0.6) < 0.01);
    assert_true(p.lo < p.value && p.value < p.hi);
    w.moe = false;
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &w, &p, &err), 0);
    assert_true(fabs(p.efficiency - 0.55) < 0.01);

    /* the dense observations alone: the MoE cost is not measured */
    assert_int_equal(lf_rec_calibrate(&cal, obs, 8, LF_REC_CPU, &err), 0);
    assert_int_equal(cal.moe[LF_REC_TG].n, 0);
    w.moe = true;
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &w, &p, &err), 0);
    assert_int_equal(p.source, LF_REC_ESTIMATED);
    assert_true(fabs(p.efficiency - 0.55 * lf_rec_default_moe_factor(LF_REC_TG)) < 0.01);

    /* only MoE observations: their own level */
    assert_int_equal(lf_rec_calibrate(&cal, mo, 4, LF_REC_CPU, &err), 0);
    assert_int_equal(lf_rec_predict(&cal, &t, LF_REC_TG, &w, &p, &err), 0);
    assert_int_equal(p.source, LF_REC_CALIBRATED);
    assert_true(fabs(p.efficiency - 0.55 * 0.6) < 0.01);

    /* leave-one-out over the whole set: every MoE row is predicted from
     * the other three through the learned factor */
    lf_rec_validation v;
    assert_int_equal(lf_rec_validate(obs, n, LF_REC_CPU, &v, &err), 0);
    int moe_rows = 0;
    for (int i = 0; i < v.n; i++)
        if (obs[v.rows[i].index].moe) {
            moe_rows++;
            assert_int_equal(v.rows[i].source, LF_REC_CALIBRATED);
            assert_true(v.rows[i].abs_pct_err < 2.0);
        }
    assert_int_equal(moe_rows, 4);
    lf_rec_validation_free(&v);
}

/* ---- selection over the shipped catalog -------------------------------- */

static int setup(void **state) {
    lf_catalog *c;
    lf_error err = {0};
    if (lf_catalog_load(&c, datadir(), &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = c;
    return 0;
}

static int teardown(void **state) {
    lf_catalog_free(*state);
    return 0;
}

static lf_rec_target cpu(double gib, double bw) {
    lf_rec_target t = {.kind = LF_REC_CPU, .usable_memory = (uint64_t)(gib * 1073741824.0),
                       .bandwidth_gbs = bw, .int8_tops = 2, .fp32_tflops = 1};
    strcpy(t.name, "test cpu");
    return t;
}

/* A candidate's place in the ranking order: verified scores first, then
 * quality (the tie rule aside); higher ranks better. */
static double rank_key(const lf_rec_candidate *c) {
    return (c->model->quality_verified ? 1000.0 : 0.0) + c->quality;
}

static void check_result(const lf_rec_result *r, const lf_rec_constraints *k) {
    for (int i = 0; i < r->n; i++) {
        const lf_rec_candidate *c = &r->cand[i];
        if (i < r->n_fit) {
            assert_true(c->fits && c->rank == i + 1 && c->reason[0] == '\0');
            assert_true(c->mem.total <= c->budget);
            assert_true(c->tg.value >= k->min_tps);
            if (i > 0)
                assert_true(rank_key(c) <= rank_key(&r->cand[i - 1]) + 0.01);
        } else {
            assert_true(!c->fits && c->rank == 0 && c->reason[0] != '\0');
        }
    }
    /* the winner is on the Pareto front; no front member is dominated */
    if (r->winner >= 0)
        assert_true(r->cand[r->winner].pareto);
}

static void test_min_tps_monotone(void **state) {
    lf_catalog *cat = *state;
    lf_rec_target t = cpu(16, 100);
    lf_rec_calibration cal;
    lf_rec_calibrate(&cal, NULL, 0, t.kind, NULL);
    lf_rec_constraints k;
    lf_rec_constraints_init(&k);
    double prev_q = INFINITY;
    int prev_fit = 1 << 30;
    const double tps[] = {0, 2, 5, 10, 20, 40, 80, 160, 1e6};
    for (size_t i = 0; i < sizeof tps / sizeof tps[0]; i++) {
        k.min_tps = tps[i];
        lf_rec_result r;
        lf_error err = {0};
        assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &r, &err), 0);
        check_result(&r, &k);
        assert_true(r.n_fit <= prev_fit);   /* a stricter floor never admits more */
        prev_fit = r.n_fit;
        if (r.winner >= 0) {
            assert_true(r.cand[r.winner].tg.value >= tps[i]);
            assert_true(rank_key(&r.cand[r.winner]) <= prev_q + 1e-9);
            prev_q = rank_key(&r.cand[r.winner]);
        }
        if (tps[i] >= 1e6) {
            assert_int_equal(r.winner, -1);
            assert_int_equal(r.n_fit, 0);
            for (int j = 0; j < r.n; j++)
                assert_non_null(strstr(r.cand[j].reason, "tok/s <"));
        }
        lf_rec_result_free(&r);
    }
}

static double best_fitting_params(const lf_rec_result *r) {
    double p = 0;
    for (int i = 0; i < r->n_fit; i++)
        p = r->cand[i].model->params_b > p ? r->cand[i].model->params_b : p;
    return p;
}

static void test_memory_admits_bigger(void **state) {
    lf_catalog *cat = *state;
    lf_rec_calibration cal;
    lf_rec_calibrate(&cal, NULL, 0, LF_REC_CPU, NULL);
    lf_rec_constraints k;
    lf_rec_constraints_init(&k);
    double prev = 0, prev_q = 0;
    int prev_fit = 0;
    const double gib[] = {1, 4, 8, 16, 64, 256};
    for (size_t i = 0; i < sizeof gib / sizeof gib[0]; i++) {
        lf_rec_target t = cpu(gib[i], 100);
        lf_rec_result r;
        assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &r, NULL), 0);
        check_result(&r, &k);
        double p = best_fitting_params(&r);
        assert_true(p >= prev);
        assert_true(r.n_fit >= prev_fit);
        assert_true(r.winner < 0 || rank_key(&r.cand[r.winner]) >= prev_q);
        if (r.winner >= 0)
            prev_q = rank_key(&r.cand[r.winner]);
        prev = p;
        prev_fit = r.n_fit;
        if (gib[i] == 1) {   /* the 70B model cannot fit in 1 GiB, and says so */
            bool seen = false;
            for (int j = 0; j < r.n; j++)
                if (strcmp(r.cand[j].model->name, "llama-3.1-70b-instruct") == 0) {
                    assert_non_null(strstr(r.cand[j].reason, "needs "));
                    assert_non_null(strstr(r.cand[j].reason, " usable"));
                    seen = true;
                }
            assert_true(seen);
        }
        lf_rec_result_free(&r);
    }
    assert_true(prev > 30);   /* 256 GiB fits a 70B model */
}

static void test_context(void **state) {
    lf_catalog *cat = *state;
    lf_rec_calibration cal;
    lf_rec_calibrate(&cal, NULL, 0, LF_REC_CPU, NULL);
    lf_rec_constraints k;
    lf_rec_constraints_init(&k);
    k.models = "llama-3.1-8b";
    k.mixes = "Q4_K_M";
    lf_rec_target t = cpu(64, 100);
    lf_rec_result a, b;
    k.context = 4096;
    assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &a, NULL), 0);
    k.context = 32768;
    assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &b, NULL), 0);
    assert_int_equal(a.n, 1);
    assert_int_equal(b.n, 1);
    assert_true(b.cand[0].mem.kv_cache == 8 * a.cand[0].mem.kv_cache);
    assert_true(b.cand[0].mem.total > a.cand[0].mem.total);
    assert_true(b.cand[0].tg.value < a.cand[0].tg.value);   /* more KV read per token */
    assert_true(fabs(b.cand[0].tg0.value - a.cand[0].tg0.value) < 1e-9);
    lf_rec_result_free(&a);
    lf_rec_result_free(&b);

    /* over the whole catalog some budget must see the winner change when
     * the context grows from 2k to 64k */
    k.models = NULL;
    k.mixes = NULL;
    bool changed = false;
    for (double gib = 4; gib <= 64 && !changed; gib *= 2) {
        t = cpu(gib, 100);
        k.context = 2048;
        assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &a, NULL), 0);
        k.context = 65536;
        assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &b, NULL), 0);
        check_result(&b, &k);
        if (a.winner >= 0 && b.winner >= 0 &&
            (a.cand[a.winner].model != b.cand[b.winner].model ||
             a.cand[a.winner].quant != b.cand[b.winner].quant))
            changed = true;
        /* models whose context is shorter than asked are rejected for it */
        for (int i = 0; i < b.n; i++)
            if (b.cand[i].model->n_ctx < 65536)
                assert_non_null(strstr(b.cand[i].reason, "context 65536 > model max"));
        lf_rec_result_free(&a);
        lf_rec_result_free(&b);
    }
    assert_true(changed);
}

static void test_filters(void **state) {
    lf_catalog *cat = *state;
    lf_rec_calibration cal;
    lf_rec_calibrate(&cal, NULL, 0, LF_REC_CPU, NULL);
    lf_rec_constraints k;
    lf_rec_constraints_init(&k);
    lf_rec_target t = cpu(32, 100);
    k.licenses = "apache-2.0, mit";
    k.task = "code";
    k.max_kld = 0.05;
    lf_rec_result r;
    assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &r, NULL), 0);
    check_result(&r, &k);
    assert_true(r.n_fit > 0);
    bool saw_license = false;
    for (int i = 0; i < r.n; i++) {
        const lf_rec_candidate *c = &r.cand[i];
        bool ok = strcmp(c->model->license, "apache-2.0") == 0 ||
                  strcmp(c->model->license, "mit") == 0;
        if (c->fits) {
            assert_true(ok);
            assert_true(lf_catalog_model_has_task(c->model, "code"));
            assert_true(c->quant->kld <= 0.05);
        }
        if (!ok) {
            assert_non_null(strstr(c->reason, "license"));
            saw_license = true;
        }
    }
    assert_true(saw_license);
    lf_rec_result_free(&r);

    /* bad constraints are errors, not empty results */
    k.memory_fraction = 1.5;
    lf_error err = {0};
    assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &r, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "memory fraction"));
    lf_rec_constraints_init(&k);
    k.mixes = "Q9_X";
    assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &r, &err), LF_ENOTFOUND);
}

static void test_ttft_and_quality(void **state) {
    lf_catalog *cat = *state;
    lf_rec_calibration cal;
    lf_rec_calibrate(&cal, NULL, 0, LF_REC_CPU, NULL);
    lf_rec_constraints k;
    lf_rec_constraints_init(&k);
    k.max_ttft_s = 1.0;
    k.prompt = 256;
    lf_rec_target t = cpu(32, 100);
    lf_rec_result r;
    assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &r, NULL), 0);
    for (int i = 0; i < r.n_fit; i++)
        assert_true(r.cand[i].ttft_s <= 1.0);
    for (int i = r.n_fit; i < r.n; i++)
        if (strstr(r.cand[i].reason, "ttft"))
            assert_true(r.cand[i].ttft_s > 1.0);
    lf_rec_result_free(&r);
    /* no compute peak: TTFT cannot be judged, and says so */
    t.int8_tops = t.fp32_tflops = 0;
    assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &r, NULL), 0);
    assert_int_equal(r.n_fit, 0);
    assert_non_null(strstr(r.cand[0].reason, "ttft unknown"));
    lf_rec_result_free(&r);

    assert_true(fabs(lf_rec_quality(60, 0.031273) - 60 * exp(-0.031273)) < 1e-12);
    assert_true(lf_rec_quality(60, 0) == 60);
}

/* The fit rules are one set: recomputing each candidate's reasons through
 * lf_rec_fit_check (what `sweep` calls for GGUF files) gives the reasons
 * and the verdict lf_rec_recommend gave, the overhead is the memory
 * model's, and lf_rec_rank_cmp orders the fitting candidates as ranked. */
static void test_fit_rules_one_place(void **state) {
    lf_catalog *cat = *state;
    lf_rec_calibration cal;
    lf_rec_calibrate(&cal, NULL, 0, LF_REC_CPU, NULL);
    lf_rec_constraints k;
    lf_rec_constraints_init(&k);
    k.context = 16384;
    k.min_tps = 8;
    k.max_kld = 0.1;
    k.min_quality = 30;
    k.max_ttft_s = 2;
    lf_rec_target t = cpu(16, 60);
    lf_rec_result r;
    assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &r, NULL), 0);
    assert_true(r.n_fit > 0 && r.n_fit < r.n);
    for (int i = 0; i < r.n; i++) {
        const lf_rec_candidate *c = &r.cand[i];
        assert_int_equal(c->mem.overhead, lf_rec_overhead_bytes(c->mem.weights));
        lf_rec_fit_input f = {.n_ctx_max = c->model->n_ctx, .kld = c->quant->kld,
                        .quality = c->quality, .mem_total = c->mem.total,
                        .budget = c->budget, .tg = c->tg.value, .ttft_s = c->ttft_s,
                        .ttft_unknown_fails = !c->pp_known};
        char reason[256] = "";
        assert_int_equal(lf_rec_fit_check(&f, &k, reason, sizeof reason), c->fits);
        assert_string_equal(reason, c->reason);
        /* within a verification tier (verified scores rank first) */
        if (i > 0 && c->fits &&
            r.cand[i - 1].model->quality_verified == c->model->quality_verified)
            assert_true(lf_rec_rank_cmp(r.cand[i - 1].quality, r.cand[i - 1].tg.value,
                                        c->quality, c->tg.value) <= 0);
    }
    lf_rec_result_free(&r);
    /* an unknown KLD or quality is not judged; a known one is */
    lf_rec_fit_input f = {.n_ctx_max = 32768, .kld = NAN, .quality = NAN, .mem_total = 1,
                    .budget = 2, .tg = 100, .ttft_s = NAN};
    char reason[256] = "";
    assert_true(lf_rec_fit_check(&f, &k, reason, sizeof reason));
    f.kld = 0.5;
    f.mem_total = 3;
    assert_false(lf_rec_fit_check(&f, &k, reason, sizeof reason));
    assert_non_null(strstr(reason, "KLD 0.5 > 0.1; needs "));
    assert_true(lf_rec_rank_cmp(50, 1, 49.995, 2) > 0);   /* within 0.01: the faster */
    assert_true(lf_rec_rank_cmp(51, 1, 50, 2) < 0);
}

/* The shipped MoE models as candidates: memory is the whole model, speed
 * follows the active bytes. Qwen3-30B-A3B decodes several times faster
 * than the dense Qwen3-32B yet needs about as much memory; on 24 GiB it
 * fits, on 8 GiB it is refused for memory with the figure in the reason,
 * and Qwen3-235B-A22B is refused on 24 GiB however fast its 22B active
 * parameters would be. */
static void test_moe_candidates(void **state) {
    lf_catalog *cat = *state;
    lf_rec_calibration cal;
    lf_rec_calibrate(&cal, NULL, 0, LF_REC_CPU, NULL);
    lf_rec_constraints k;
    lf_rec_constraints_init(&k);
    k.min_tps = 0;
    k.mixes = "Q4_K_M";
    k.models = "qwen3-30b-a3b,qwen3-32b,qwen3-235b-a22b,qwen3-4b";
    lf_rec_target t = cpu(24, 100);
    lf_rec_result r;
    lf_error err = {0};
    assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &r, &err), 0);
    const lf_rec_candidate *a3b = NULL, *d32 = NULL, *big = NULL, *d4 = NULL;
    for (int i = 0; i < r.n; i++) {
        const char *nm = r.cand[i].model->name;
        if (!strcmp(nm, "qwen3-30b-a3b")) a3b = &r.cand[i];
        if (!strcmp(nm, "qwen3-32b")) d32 = &r.cand[i];
        if (!strcmp(nm, "qwen3-235b-a22b")) big = &r.cand[i];
        if (!strcmp(nm, "qwen3-4b")) d4 = &r.cand[i];
    }
    assert_non_null(a3b);
    assert_non_null(d32);
    assert_non_null(big);
    assert_non_null(d4);
    assert_true(a3b->fits);
    /* memory: all 30.5B parameters (Q4_K_M ~ 4.9 bits: 16-20 GB) */
    assert_true(a3b->mem.weights > 15e9 && a3b->mem.weights < 21e9);
    assert_true(a3b->mem.weights > 0.8 * d32->mem.weights);
    /* bytes per token: ~3.3B of 30.5B active */
    double share = (double)a3b->mem.weights_read / (double)a3b->mem.weights;
    assert_true(share > 0.08 && share < 0.14);
    /* speed: faster than the dense 32B by about the byte ratio times the MoE
     * factor, and comparable to a dense 4B */
    assert_true(a3b->tg0.value > 4 * d32->tg0.value);
    assert_true(a3b->tg0.value > 0.5 * d4->tg0.value);
    assert_int_equal(a3b->tg0.source, LF_REC_ESTIMATED);
    /* the 235B does not fit, and the reason names memory */
    assert_false(big->fits);
    assert_non_null(strstr(big->reason, "GiB usable"));
    assert_true(big->mem.total > t.usable_memory);
    lf_rec_result_free(&r);

    /* 8 GiB: the 30B-A3B is refused for its total size, not its active one */
    t = cpu(8, 100);
    assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &r, &err), 0);
    for (int i = 0; i < r.n; i++)
        if (!strcmp(r.cand[i].model->name, "qwen3-30b-a3b")) {
            assert_false(r.cand[i].fits);
            assert_non_null(strstr(r.cand[i].reason, "needs"));
        }
    lf_rec_result_free(&r);
}

/* An unverified published score never outranks a verified one: on a
 * machine where everything fits, every verified candidate ranks before
 * every unverified one although gpt-oss-120b claims the highest score
 * (90.0, unverified) and so would win on quality alone; with only
 * unverified models allowed, the best of them still wins. */
static void test_verified_first(void **state) {
    lf_catalog *cat = *state;
    lf_rec_calibration cal;
    lf_rec_calibrate(&cal, NULL, 0, LF_REC_CPU, NULL);
    lf_rec_constraints k;
    lf_rec_constraints_init(&k);
    k.mixes = "Q4_K_M";
    lf_rec_target t = cpu(512, 400);
    lf_rec_result r;
    assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &r, NULL), 0);
    assert_true(r.n_fit > 10);
    assert_true(r.cand[0].model->quality_verified);
    int first_unverified = -1;
    double best_verified = 0, best_unverified = 0;
    for (int i = 0; i < r.n_fit; i++) {
        const lf_rec_candidate *c = &r.cand[i];
        if (!c->model->quality_verified) {
            if (first_unverified < 0)
                first_unverified = i;
            best_unverified = fmax(best_unverified, c->quality);
        } else {
            assert_int_equal(first_unverified, -1);   /* no verified one after */
            best_verified = fmax(best_verified, c->quality);
        }
    }
    assert_true(first_unverified > 0);
    /* the rule changed the answer: an unverified score was higher */
    assert_true(best_unverified > best_verified);
    assert_true(r.cand[0].quality == best_verified);
    lf_rec_result_free(&r);

    k.models = "gpt-oss-20b,olmoe-1b-7b,granite-3.1-1b-a400m";
    assert_int_equal(lf_rec_recommend(cat, &t, &k, &cal, &r, NULL), 0);
    assert_int_equal(r.n_fit, 3);
    assert_false(r.cand[0].model->quality_verified);
    assert_string_equal(r.cand[0].model->name, "gpt-oss-20b");
    lf_rec_result_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weight_bytes_closed_form),
        cmocka_unit_test(test_weight_bytes_mix),
        cmocka_unit_test(test_kv_and_memory),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_calibration_slope),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_moe_bytes_per_token),
        cmocka_unit_test(test_moe_calibration),
        cmocka_unit_test(test_moe_bytes_match_model),
        cmocka_unit_test(test_min_tps_monotone),
        cmocka_unit_test(test_memory_admits_bigger),
        cmocka_unit_test(test_context),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_ttft_and_quality),
        cmocka_unit_test(test_fit_rules_one_place),
        cmocka_unit_test(test_moe_candidates),
        cmocka_unit_test(test_verified_first),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
