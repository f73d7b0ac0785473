/*
 * Fuzz target: the LoRA adapter loader (lf_lora_load takes a path: the
 * input goes through a memory file) against a fixed synthetic base of
 * stories260K's shape, the one the real stories260K-lora-r4.gguf fits. An
 * adapter that loads is then used: attached to a context (one token
 * evaluated through it), detached, and merged into a copy of the base; all
 * of that must succeed for an adapter the loader accepted.
 */
#include "tests/fuzz/fuzz.h"

#include "model/model.h"

#include <math.h>
#include <stdlib.h>

#define T "lora"

static lf_fuzz_file g_file = {.fd = -1};
static lf_model *g_base;
static lf_ctx *g_ctx;

static void init(void) {
    lf_model_params hp;
    lf_error err = {0};
    lf_fuzz_lora_base_params(&hp);
    if (lf_fuzz_file_open(&g_file) < 0 || lf_model_synth(&g_base, &hp, LF_MIX_F32, 260, &err) < 0 ||
        lf_ctx_new(&g_ctx, g_base, 4, LF_TYPE_F32, NULL, &err) < 0) {
        lf_fuzz_fail(T, "setting up the base model: %s", err.msg);
    }
    /* adapters bigger than this are refused before their copies are made */
    lf_model_set_mem_budget(g_base, 512ull << 20);
}

static void fini(void) {
    lf_ctx_free(g_ctx);
    lf_model_free(g_base);
    g_ctx = NULL;
    g_base = NULL;
    lf_fuzz_file_close(&g_file);
}

static volatile float g_sink;

static int one(const uint8_t *data, size_t size) {
    if (lf_fuzz_file_set(&g_file, data, size) < 0)
        abort();
    lf_lora *l = NULL;
    lf_error err = {0};
    int rc = lf_lora_load(&l, g_file.path, g_base, &err);
    if (rc < 0) {
        LF_FUZZ_CHECK(T, l == NULL && err.msg[0], "failure without a message");
        return 0;
    }
    LF_FUZZ_CHECK(T, lf_lora_n_pairs(l) > 0 && lf_lora_rank(l) > 0, "empty adapter accepted");
    g_sink += lf_lora_alpha(l) + (float)lf_lora_bytes(l);
    float scale = 0.5f;
    rc = lf_ctx_set_adapters(g_ctx, &l, &scale, 1, &err);
    LF_FUZZ_CHECK(T, rc == 0, "attaching a loaded adapter failed: %s", err.msg);
    lf_ctx_reset(g_ctx);
    int32_t tok = 1;
    const float *logits = NULL;
    rc = lf_ctx_eval(g_ctx, &tok, 1, false, &logits, &err);
    LF_FUZZ_CHECK(T, rc == 0, "evaluating with the adapter failed: %s", err.msg);
    g_sink += logits[0];
    rc = lf_ctx_set_adapters(g_ctx, NULL, NULL, 0, &err);
    LF_FUZZ_CHECK(T, rc == 0, "detaching failed: %s", err.msg);
    lf_model *merged = NULL;
    rc = lf_model_merge_lora(&merged, g_base, &l, &scale, 1, &err);
    LF_FUZZ_CHECK(T, rc == 0, "merging a loaded adapter failed: %s", err.msg);
    lf_model_free(merged);
    lf_lora_free(l);
    return 0;
}

const lf_fuzz_target lf_fuzz_lora = {
    .name = "lora",
    .what = "LoRA adapter loader against a synthetic stories260K-shaped base; attach, eval, merge",
    .init = init,
    .one = one,
    .fini = fini,
};
