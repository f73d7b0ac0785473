/*
 * Synthetic model and GGUF round-trip tests: determinism (same seed → same
 * bytes, independent of threads), every block valid with realistic
 * statistics for every mix, save → reload identical (hyperparameters,
 * tensor types and bytes, logits), real models round-trip with their
 * tokenizer, fused phi3 tensors bind to the same computation, loader errors
 * name the tensor, parameter and byte counts.
 */
#include "model_test_util.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int setup(void **state) {
    (void)state;
    lf_kernels_init(LF_ISA_AUTO_LEVEL, NULL);
    return 0;
}

static void tmp_path(char *buf, size_t size, const char *tag) {
    snprintf(buf, size, "%s/lf_test_model_%s_%d.gguf", LF_BINARY_DIR, tag, (int)getpid());
}

static void small_kquant_params(lf_model_params *hp) {
    lf_model_params_init(hp, LF_ARCH_LLAMA);
    hp->n_layer = 2;
    hp->n_embd = 256;
    hp->n_head = 4;
    hp->n_head_kv = 2;
    hp->n_ff = 512;
    hp->n_vocab = 320;
    hp->n_ctx_train = 512;
}

static bool same_bytes(const lf_model *a, const lf_model *b) {
    if (lf_model_n_tensors(a) != lf_model_n_tensors(b))
        return false;
    for (int i = 0; i < lf_model_n_tensors(a); i++) {
        const lf_model_tensor *x = lf_model_tensor_at(a, i);
        const lf_model_tensor *y = lf_model_find_tensor(b, x->name);
        if (!y || x->mat.type != y->mat.type || x->mat.rows != y->mat.rows ||
            x->mat.cols != y->mat.cols || x->n_dims != y->n_dims ||
            memcmp(x->ne, y->ne, sizeof x->ne) != 0 ||
            memcmp(x->mat.data, y->mat.data, (size_t)x->mat.rows * x->mat.row_bytes) != 0)
            return false;
    }
    return true;
}

static void test_deterministic(void **state) {
    (void)state;
    lf_model_params hp;
    small_kquant_params(&hp);
    lf_error err = {0};
    lf_model *a, *b, *c, *d;
    lf_pool *pool = lf_pool_create(2, false);
    assert_int_equal(lf_model_synth(&a, &hp, LF_MIX_Q4_K_M, 99, &err), 0);
    assert_int_equal(lf_model_synth(&b, &hp, LF_MIX_Q4_K_M, 99, &err), 0);
    assert_int_equal(lf_model_synth_ex(&c, &hp, LF_MIX_Q4_K_M, 99, pool, &err), 0);
    assert_int_equal(lf_model_synth(&d, &hp, LF_MIX_Q4_K_M, 100, &err), 0);
    assert_true(same_bytes(a, b));
    assert_true(same_bytes(a, c));   /* threads do not change the bytes */
    assert_false(same_bytes(a, d));  /* the seed does */
    assert_int_equal(lf_model_mix(a), LF_MIX_Q4_K_M);
    lf_model_free(a);
    lf_model_free(b);
    lf_model_free(c);
    lf_model_free(d);
    lf_pool_free(pool);
}

/* Every tensor of every mix dequantizes to finite values; matrices have
 * sd within 2x of 0.02 and mean near 0, norms are ~1. */
static void test_blocks_valid_all_mixes(void **state) {
    (void)state;
    lf_model_params hp;
    small_kquant_params(&hp);
    for (int mi = 0; mi < LF_MIX_COUNT; mi++) {
        lf_error err = {0};
        lf_model *m;
        int rc = lf_model_synth(&m, &hp, (lf_mix)mi, 5, &err);
        if (rc < 0)
            fail_msg("mix %s: %s", lf_mix_name((lf_mix)mi), err.msg);
        double worst_sd_ratio = 1;
        for (int i = 0; i < lf_model_n_tensors(m); i++) {
            const lf_model_tensor *t = lf_model_tensor_at(m, i);
            int64_t n = t->mat.rows * t->mat.cols;
            float *f = malloc((size_t)n * sizeof(float));
            lf_dequantize(t->mat.type, t->mat.data, f, t->mat.rows, t->mat.cols);
            double s = 0, s2 = 0;
            for (int64_t k = 0; k < n; k++) {
                if (!isfinite(f[k]))
                    fail_msg("mix %s tensor %s: element %lld not finite", lf_mix_name((lf_mix)mi),
                             t->name, (long long)k);
                s += f[k];
                s2 += (double)f[k] * f[k];
            }
            double mean = s / n, sd = sqrt(s2 / n - mean * mean);
            if (strstr(t->name, "norm")) {
                if (fabs(mean - 1.0) > 0.05)
                    fail_msg("%s: norm mean %g", t->name, mean);
            } else {
                double ratio = sd / 0.02;
                if (ratio < 0.5 || ratio > 2.0 || fabs(mean) > 0.25 * sd)
                    fail_msg("mix %s tensor %s (%s): mean %g sd %g", lf_mix_name((lf_mix)mi),
                             t->name, lf_type_name(t->mat.type), mean, sd);
                if (fabs(log(ratio)) > fabs(log(worst_sd_ratio)))
                    worst_sd_ratio = ratio;
            }
            free(f);
        }
        printf("  %-7s %6.1f KiB, sd/0.02 worst %.2f\n", lf_mix_name((lf_mix)mi),
               lf_model_total_bytes(m) / 1024.0, worst_sd_ratio);
        lf_model_free(m);
    }
}

static void test_save_reload_identical(void **state) {
    (void)state;
    const lf_mix mixes[] = {LF_MIX_Q4_K_M, LF_MIX_Q4_0, LF_MIX_F16};
    for (size_t k = 0; k < sizeof mixes / sizeof mixes[0]; k++) {
        lf_model_params hp;
        small_kquant_params(&hp);
        snprintf(hp.name, sizeof hp.name, "synthetic-test");
        hp.rope_base = 500000.0f;
        lf_error err = {0};
        lf_model *m, *r;
        assert_int_equal(lf_model_synth(&m, &hp, mixes[k], 17, &err), 0);
        char path[1024];
        tmp_path(path, sizeof path, "save");
        if (lf_model_save_gguf(m, path, &err) < 0)
            fail_msg("save: %s", err.msg);
        if (lf_model_load(&r, path, NULL, &err) < 0)
            fail_msg("reload: %s", err.msg);
        assert_true(same_bytes(m, r));
        const lf_model_params *a = lf_model_hparams(m), *b = lf_model_hparams(r);
        assert_int_equal(a->arch, b->arch);
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->n_layer, b->n_layer);
        assert_int_equal(a->n_embd, b->n_embd);
        assert_int_equal(a->n_head, b->n_head);
        assert_int_equal(a->n_head_kv, b->n_head_kv);
        assert_int_equal(a->head_dim, b->head_dim);
        assert_int_equal(a->n_ff, b->n_ff);
        assert_int_equal(a->n_vocab, b->n_vocab);
        assert_int_equal(a->n_ctx_train, b->n_ctx_train);
        assert_int_equal(a->n_rot, b->n_rot);
        assert_true(a->rope_base == b->rope_base);
        assert_true(a->norm_eps == b->norm_eps);
        assert_int_equal(a->tied, b->tied);
        assert_int_equal(lf_model_mix(r), mixes[k]);
        assert_int_equal(lf_model_weight_bytes(m), lf_model_weight_bytes(r));
        /* a minimal vocabulary travels with it */
        assert_non_null(lf_model_vocab(r));
        assert_int_equal(lf_vocab_size(lf_model_vocab(r)), hp.n_vocab);
        /* and it computes the same */
        lf_ctx *c1, *c2;
        assert_int_equal(lf_ctx_new(&c1, m, 16, LF_TYPE_F16, NULL, &err), 0);
        assert_int_equal(lf_ctx_new(&c2, r, 16, LF_TYPE_F16, NULL, &err), 0);
        int32_t t[4] = {1, 5, 200, 7};
        const float *l1, *l2;
        assert_int_equal(lf_ctx_eval(c1, t, 4, false, &l1, &err), 0);
        assert_int_equal(lf_ctx_eval(c2, t, 4, false, &l2, &err), 0);
        for (int i = 0; i < hp.n_vocab; i++)
            assert_true(isfinite(l1[i]) && l1[i] == l2[i]);
        lf_ctx_free(c1);
        lf_ctx_free(c2);
        lf_model_free(r);
        lf_model_free(m);
        unlink(path);
    }
}

static void test_arch_round_trip(void **state) {
    (void)state;
    for (int w = 0; w < TM_N_CONFIGS; w++) {
        lf_model_params hp;
        tm_synth_params((tm_config)w, &hp);
        lf_error err = {0};
        lf_model *m, *r;
        assert_int_equal(lf_model_synth(&m, &hp, LF_MIX_Q8_0, 3, &err), 0);
        char path[1024];
        tmp_path(path, sizeof path, tm_config_name((tm_config)w));
        assert_int_equal(lf_model_save_gguf(m, path, &err), 0);
        if (lf_model_load(&r, path, NULL, &err) < 0)
            fail_msg("%s reload: %s", tm_config_name((tm_config)w), err.msg);
        assert_true(same_bytes(m, r));
        const lf_model_params *a = lf_model_hparams(m), *b = lf_model_hparams(r);
        assert_int_equal(a->arch, b->arch);
        assert_int_equal(a->qkv_bias, b->qkv_bias);
        assert_int_equal(a->qk_norm, b->qk_norm);
        assert_int_equal(a->post_norms, b->post_norms);
        assert_int_equal(a->tied, b->tied);
        assert_int_equal(a->rope_neox, b->rope_neox);
        assert_int_equal(a->head_dim, b->head_dim);
        assert_int_equal(a->n_rot, b->n_rot);
        assert_true(a->attn_softcap == b->attn_softcap);
        assert_true(a->final_softcap == b->final_softcap);
        assert_int_equal(a->swa_window, b->swa_window);
        assert_int_equal(a->rope_scaling, b->rope_scaling);
        assert_int_equal(a->qk_norm_full, b->qk_norm_full);
        assert_int_equal(a->no_pre_norm, b->no_pre_norm);
        assert_true(a->attn_scale == b->attn_scale);
        assert_true(a->embd_mult == b->embd_mult);
        assert_true(a->residual_mult == b->residual_mult);
        assert_true(a->logit_scale == b->logit_scale);
        assert_true(a->rope_scale_factor == b->rope_scale_factor);
        lf_model_free(r);
        lf_model_free(m);
        unlink(path);
    }
}

static void test_real_round_trip(void **state) {
    (void)state;
    char src[1024];
    if (!tm_model_path("stories260K-Q4_0.gguf", src, sizeof src)) {
        skip();
        return;
    }
    lf_error err = {0};
    lf_model *m, *r;
    assert_int_equal(lf_model_load(&m, src, NULL, &err), 0);
    char path[1024];
    tmp_path(path, sizeof path, "real");
    assert_int_equal(lf_model_save_gguf(m, path, &err), 0);
    assert_int_equal(lf_model_load(&r, path, NULL, &err), 0);
    assert_true(same_bytes(m, r));
    /* the tokenizer is copied: same token strings */
    lf_gguf *g1, *g2;
    assert_int_equal(lf_gguf_open(&g1, src, &err), 0);
    assert_int_equal(lf_gguf_open(&g2, path, &err), 0);
    const lf_gguf_kv *k1 = lf_gguf_find_kv(g1, "tokenizer.ggml.tokens");
    const lf_gguf_kv *k2 = lf_gguf_find_kv(g2, "tokenizer.ggml.tokens");
    assert_non_null(k2);
    assert_int_equal(k1->arr_n, k2->arr_n);
    for (uint64_t i = 0; i < k1->arr_n; i++) {
        lf_gguf_str a = lf_gguf_arr_str(k1, i), b = lf_gguf_arr_str(k2, i);
        assert_true(a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0);
    }
    const lf_gguf_kv *s2 = lf_gguf_find_kv(g2, "tokenizer.ggml.scores");
    assert_non_null(s2);
    assert_true(lf_gguf_arr_num(s2, 100) == lf_gguf_arr_num(lf_gguf_find_kv(g1, "tokenizer.ggml.scores"), 100));
    lf_gguf_close(g1);
    lf_gguf_close(g2);
    lf_model_free(r);
    lf_model_free(m);
    unlink(path);
}

/* phi3 stores Q/K/V fused in attn_qkv and gate/up fused in ffn_up: a file
 * written that way computes exactly what the separate tensors compute. */
static void test_phi3_fused(void **state) {
    (void)state;
    lf_model_params hp;
    tm_synth_params(TM_PHI3, &hp);
    lf_error err = {0};
    lf_model *m;
    assert_int_equal(lf_model_synth(&m, &hp, LF_MIX_Q8_0, 8, &err), 0);
    hp = *lf_model_hparams(m);
    lf_gguf_writer *w = lf_gguf_writer_new();
    lf_gguf_writer_set_str(w, "general.architecture", "phi3");
    lf_gguf_writer_set_u32(w, "phi3.block_count", (uint32_t)hp.n_layer);
    lf_gguf_writer_set_u32(w, "phi3.embedding_length", (uint32_t)hp.n_embd);
    lf_gguf_writer_set_u32(w, "phi3.feed_forward_length", (uint32_t)hp.n_ff);
    lf_gguf_writer_set_u32(w, "phi3.attention.head_count", (uint32_t)hp.n_head);
    lf_gguf_writer_set_u32(w, "phi3.attention.head_count_kv", (uint32_t)hp.n_head_kv);
    lf_gguf_writer_set_u32(w, "phi3.rope.dimension_count", (uint32_t)hp.n_rot);
    lf_gguf_writer_set_f32(w, "phi3.rope.freq_base", hp.rope_base);
    lf_gguf_writer_set_f32(w, "phi3.attention.layer_norm_rms_epsilon", hp.norm_eps);
    void *bufs[64];
    int nb = 0;
    for (int i = 0; i < lf_model_n_tensors(m); i++) {
        const lf_model_tensor *t = lf_model_tensor_at(m, i);
        const char *nm = t->name;
        if (strstr(nm, "attn_k.weight") || strstr(nm, "attn_v.weight") || strstr(nm, "ffn_up.weight"))
            continue;   /* folded into the fused tensors below */
        int il;
        char stem[64];
        if (sscanf(nm, "blk.%d.%63[^.]", &il, stem) == 2 &&
            (!strcmp(stem, "attn_q") || !strcmp(stem, "ffn_gate"))) {
            bool attn = !strcmp(stem, "attn_q");
            const char *parts[3];
            char a[64], b[64], c[64];
            snprintf(a, sizeof a, "blk.%d.%s.weight", il, attn ? "attn_q" : "ffn_gate");
            snprintf(b, sizeof b, "blk.%d.%s.weight", il, attn ? "attn_k" : "ffn_up");
            snprintf(c, sizeof c, "blk.%d.attn_v.weight", il);
            parts[0] = a;
            parts[1] = b;
            parts[2] = c;
            int np = attn ? 3 : 2;
            size_t bytes = 0;
            int64_t rows = 0;
            for (int p = 0; p < np; p++) {
                const lf_model_tensor *pt = lf_model_find_tensor(m, parts[p]);
                bytes += (size_t)pt->mat.rows * pt->mat.row_bytes;
                rows += pt->mat.rows;
            }
            char *buf = malloc(bytes), *o = buf;
            for (int p = 0; p < np; p++) {
                const lf_model_tensor *pt = lf_model_find_tensor(m, parts[p]);
                size_t n = (size_t)pt->mat.rows * pt->mat.row_bytes;
                memcpy(o, pt->mat.data, n);
                o += n;
            }
            bufs[nb++] = buf;
            char fused[64];
            snprintf(fused, sizeof fused, "blk.%d.%s.weight", il, attn ? "attn_qkv" : "ffn_up");
            int64_t ne[2] = {t->ne[0], rows};
            assert_int_equal(lf_gguf_writer_add_tensor(w, fused, t->mat.type, 2, ne, buf, bytes), 0);
            continue;
        }
        assert_int_equal(lf_gguf_writer_add_tensor(w, nm, t->mat.type, t->n_dims, t->ne, t->mat.data,
                                                   (size_t)t->mat.rows * t->mat.row_bytes), 0);
    }
    char path[1024];
    tmp_path(path, sizeof path, "phi3fused");
    assert_int_equal(lf_gguf_writer_write(w, path, &err), 0);
    lf_gguf_writer_free(w);
    lf_model *f;
    if (lf_model_load(&f, path, NULL, &err) < 0)
        fail_msg("fused load: %s", err.msg);
    assert_null(lf_model_find_tensor(f, "blk.0.attn_q.weight"));
    lf_ctx *c1, *c2;
    assert_int_equal(lf_ctx_new(&c1, m, 16, LF_TYPE_F32, NULL, &err), 0);
    assert_int_equal(lf_ctx_new(&c2, f, 16, LF_TYPE_F32, NULL, &err), 0);
    int32_t t[5] = {1, 9, 8, 7, 250};
    const float *l1, *l2;
    assert_int_equal(lf_ctx_eval(c1, t, 5, false, &l1, &err), 0);
    assert_int_equal(lf_ctx_eval(c2, t, 5, false, &l2, &err), 0);
    assert_true(tm_rel_diff(l2, l1, hp.n_vocab) < 1e-6);
    /* LoRA on a fused tensor is refused with its name */
    const char *tg[] = {"attn_qkv"};
    lf_lora *l;
    assert_true(lf_lora_synth(&l, f, 2, tg, 1, 1, &err) < 0);
    assert_non_null(strstr(err.msg, "attn_qkv"));
    lf_ctx_free(c1);
    lf_ctx_free(c2);
    lf_model_free(f);
    for (int i = 0; i < nb; i++)
        free(bufs[i]);
    lf_model_free(m);
    unlink(path);
}

/* The small k-quant shape synthesized in F16: what the load-error tests
 * rewrite into bad files. */
static lf_model *small_f16_model(void) {
    lf_model_params hp;
    small_kquant_params(&hp);
    lf_error err = {0};
    lf_model *m = NULL;
    assert_int_equal(lf_model_synth(&m, &hp, LF_MIX_F16, 1, &err), 0);
    return m;
}

/* A file whose tensor disagrees with the metadata fails naming it. */
static void test_load_shape_error(void **state) {
    (void)state;
    lf_error err = {0};
    lf_model *m = small_f16_model();
    lf_gguf_writer *w = lf_gguf_writer_new();
    lf_gguf_writer_set_str(w, "general.architecture", "llama");
    lf_gguf_writer_set_u32(w, "llama.block_count", 2);
    lf_gguf_writer_set_u32(w, "llama.embedding_length", 256);
    lf_gguf_writer_set_u32(w, "llama.feed_forward_length", 512);
    lf_gguf_writer_set_u32(w, "llama.attention.head_count", 4);
    lf_gguf_writer_set_u32(w, "llama.attention.head_count_kv", 4);   /* file has 2 */
    for (int i = 0; i < lf_model_n_tensors(m); i++) {
        const lf_model_tensor *t = lf_model_tensor_at(m, i);
        lf_gguf_writer_add_tensor(w, t->name, t->mat.type, t->n_dims, t->ne, t->mat.data,
                                  (size_t)t->mat.rows * t->mat.row_bytes);
    }
    char path[1024];
    tmp_path(path, sizeof path, "bad");
    assert_int_equal(lf_gguf_writer_write(w, path, &err), 0);
    lf_gguf_writer_free(w);
    lf_model *r = (lf_model *)0x1;
    assert_int_equal(lf_model_load(&r, path, NULL, &err), LF_EMISMATCH);
    assert_null(r);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "blk.0.attn_k.weight"));
    lf_model_free(m);
    unlink(path);
    /* unknown architecture */
    w = lf_gguf_writer_new();
    lf_gguf_writer_set_str(w, "general.architecture", "mamba");
    assert_int_equal(lf_gguf_writer_write(w, path, &err), 0);
    lf_gguf_writer_free(w);
    assert_int_equal(lf_model_load(&r, path, NULL, &err), LF_EUNSUPP);
    assert_non_null(strstr(err.msg, "mamba"));
    unlink(path);
}

/* A weight stored in an activation-only format (q8_1, q8_K: the formats
 * activations are quantized to, which no weight kernel reads) is refused
 * at load, naming the tensor, instead of reaching a matrix product that
 * has no kernel for it. */
static void test_load_activation_type(void **state) {
    (void)state;
    lf_error err = {0};
    lf_model *m = small_f16_model();
    char good[1024], path[1024];
    tmp_path(good, sizeof good, "acttype-src");
    tmp_path(path, sizeof path, "acttype");
    assert_int_equal(lf_model_save_gguf(m, good, &err), 0);
    lf_model_free(m);
    lf_gguf *g;
    assert_int_equal(lf_gguf_open(&g, good, &err), 0);
    const lf_type bad[] = {LF_TYPE_Q8_1, LF_TYPE_Q8_K};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        lf_gguf_writer *w = lf_gguf_writer_new();
        for (int64_t i = 0; i < lf_gguf_n_kv(g); i++)
            assert_int_equal(lf_gguf_writer_copy_kv(w, lf_gguf_kv_at(g, i)), 0);
        void *buf = NULL;
        for (int64_t i = 0; i < lf_gguf_n_tensors(g); i++) {
            const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
            if (strcmp(t->name, "blk.1.ffn_down.weight") != 0) {
                assert_int_equal(lf_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims,
                                                           t->ne, t->data, t->nbytes),
                                 0);
                continue;
            }
            /* the same values, quantized to the activation format */
            const int64_t cols = t->ne[0], rows = lf_gguf_tensor_nelem(t) / cols;
            const size_t rb = lf_row_size(bad[b], cols), sb = t->nbytes / (size_t)rows;
            assert_true(rb > 0);
            buf = malloc(rb * (size_t)rows);
            float *row = malloc((size_t)cols * sizeof(float));
            for (int64_t r = 0; r < rows; r++) {
                lf_type_traits_get(t->type)->to_float((const char *)t->data + (size_t)r * sb, row,
                                                      cols);
                lf_type_traits_get(bad[b])->from_float(row, (char *)buf + (size_t)r * rb, cols);
            }
            free(row);
            assert_int_equal(lf_gguf_writer_add_tensor(w, t->name, bad[b], t->n_dims, t->ne,
                                                       buf, rb * (size_t)rows),
                             0);
        }
        assert_int_equal(lf_gguf_writer_write(w, path, &err), 0);
        lf_gguf_writer_free(w);
        free(buf);
        lf_model *r = (lf_model *)0x1;
        assert_int_equal(lf_model_load(&r, path, NULL, &err), LF_EUNSUPP);
        assert_null(r);
        printf("  %s\n", err.msg);
        assert_non_null(strstr(err.msg, "blk.1.ffn_down.weight"));
        assert_non_null(strstr(err.msg, lf_type_name(bad[b])));
        unlink(path);
    }
    lf_gguf_close(g);
    unlink(good);
}

static void test_counts(void **state) {
    (void)state;
    lf_model_params hp;
    small_kquant_params(&hp);
    lf_error err = {0};
    lf_model *m;
    assert_int_equal(lf_model_synth(&m, &hp, LF_MIX_F32, 1, &err), 0);
    const uint64_t E = 256, F = 512, V = 320, kv = 2 * 64;
    uint64_t per_layer = E * E * 2 + E * kv * 2 + 3 * E * F + 2 * E;
    uint64_t want = 2 * V * E + E + 2 * per_layer;
    assert_int_equal(lf_model_n_params(m), want);
    /* F32: bytes per token = everything but all but one embedding row */
    assert_int_equal(lf_model_weight_bytes(m), (want - (V - 1) * E) * 4);
    lf_model_free(m);
    /* tied: the embedding is read whole for the logits */
    hp.tied = true;
    assert_int_equal(lf_model_synth(&m, &hp, LF_MIX_F32, 1, &err), 0);
    assert_true(lf_model_hparams(m)->tied);
    assert_null(lf_model_find_tensor(m, "output.weight"));
    assert_int_equal(lf_model_n_params(m), want - V * E);
    assert_int_equal(lf_model_weight_bytes(m), (want - V * E + E) * 4);
    lf_model_free(m);
    /* parameters are checked */
    hp.n_head_kv = 3;
    assert_int_equal(lf_model_synth(&m, &hp, LF_MIX_F32, 1, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "n_head_kv"));
}

static void test_quantized_forward_finite(void **state) {
    (void)state;
    const lf_mix mixes[] = {LF_MIX_Q4_K_M, LF_MIX_Q3_K_M, LF_MIX_Q5_K_M, LF_MIX_Q6_K,
                            LF_MIX_Q2_K,   LF_MIX_IQ4_XS, LF_MIX_IQ4_NL, LF_MIX_Q4_1,
                            LF_MIX_Q5_0,   LF_MIX_Q5_1,   LF_MIX_BF16};
    for (size_t k = 0; k < sizeof mixes / sizeof mixes[0]; k++) {
        lf_model_params hp;
        small_kquant_params(&hp);
        lf_error err = {0};
        lf_model *m;
        assert_int_equal(lf_model_synth(&m, &hp, mixes[k], 4, &err), 0);
        lf_ctx *c;
        assert_int_equal(lf_ctx_new(&c, m, 16, LF_TYPE_Q8_0, NULL, &err), 0);
        int32_t t[3] = {1, 2, 3};
        const float *l;
        assert_int_equal(lf_ctx_eval(c, t, 3, false, &l, &err), 0);
        double s = 0;
        for (int i = 0; i < hp.n_vocab; i++) {
            assert_true(isfinite(l[i]));
            s += fabs(l[i]);
        }
        assert_true(s > 0);
        lf_ctx_free(c);
        lf_model_free(m);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_blocks_valid_all_mixes),
        cmocka_unit_test(test_save_reload_identical),
        cmocka_unit_test(test_arch_round_trip),
        cmocka_unit_test(test_real_round_trip),
        cmocka_unit_test(test_phi3_fused),
        cmocka_unit_test(test_load_shape_error),
        cmocka_unit_test(test_load_activation_type),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_quantized_forward_finite),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
