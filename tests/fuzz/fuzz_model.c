/*
 * Fuzz target: loading a model from an untrusted GGUF (hyperparameters from
 * metadata, every tensor bound against them, the vocabulary) through the
 * path API, over a memory file. A model that loads must also run: a small
 * context is made and a two-token prefill plus one decode step evaluated,
 * and the logits must come out for every vocabulary entry. Loading runs
 * under a memory budget so a header that promises a huge model is refused
 * before anything large is allocated.
 */
#include "tests/fuzz/fuzz.h"

#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T "model"
/* What a fuzzed model and its context may use; a real model this size is
 * far bigger than any input the fuzzer writes. */
#define BUDGET (256ull << 20)

static lf_fuzz_file g_file = {.fd = -1};

static void init(void) {
    if (lf_fuzz_file_open(&g_file) < 0)
        abort();
}

static void fini(void) { lf_fuzz_file_close(&g_file); }

static volatile float g_sink;

static int one(const uint8_t *data, size_t size) {
    if (lf_fuzz_file_set(&g_file, data, size) < 0)
        abort();
    lf_model *m = NULL;
    lf_error err = {0};
    lf_model_opts opts = {.mem_budget = BUDGET};
    int rc = lf_model_load(&m, g_file.path, &opts, &err);
    if (rc < 0) {
        LF_FUZZ_CHECK(T, m == NULL && err.msg[0], "failure without a message");
        return 0;
    }
    const lf_model_params *hp = lf_model_hparams(m);
    LF_FUZZ_CHECK(T, hp->n_layer > 0 && hp->n_embd > 0 && hp->n_vocab > 0 && hp->head_dim > 0,
                  "loaded with an empty shape");
    g_sink += (float)lf_model_weight_bytes(m) + (float)lf_model_total_bytes(m) +
              (float)lf_model_n_params(m);
    for (int i = 0; i < lf_model_n_tensors(m); i++) {
        const lf_model_tensor *t = lf_model_tensor_at(m, i);
        LF_FUZZ_CHECK(T, lf_model_find_tensor(m, t->name) != NULL, "tensor %s lost", t->name);
    }
    const lf_vocab *v = lf_model_vocab(m);
    if (v) {
        int32_t *ids = NULL;
        int n = 0;
        if (lf_tokenize_alloc(v, "Once upon a time", 16, true, &ids, &n, NULL, &err) == 0)
            for (int i = 0; i < n; i++)
                LF_FUZZ_CHECK(T, ids[i] >= 0 && ids[i] < lf_vocab_size(v), "token id %d", ids[i]);
        free(ids);
    }
    lf_ctx *c = NULL;
    rc = lf_ctx_new(&c, m, 8, LF_TYPE_F32, NULL, &err);
    if (rc == 0) {
        int32_t toks[2] = {0, hp->n_vocab - 1};
        if (v && lf_vocab_bos(v) >= 0 && lf_vocab_bos(v) < hp->n_vocab)
            toks[0] = lf_vocab_bos(v);
        const float *logits = NULL;
        rc = lf_ctx_eval(c, toks, 2, true, &logits, &err);
        LF_FUZZ_CHECK(T, rc == 0, "prefill of a loaded model failed: %s", err.msg);
        g_sink += logits[0] + logits[2 * (size_t)hp->n_vocab - 1];
        rc = lf_ctx_eval(c, &toks[1], 1, false, &logits, &err);
        LF_FUZZ_CHECK(T, rc == 0, "decode step failed: %s", err.msg);
        g_sink += logits[hp->n_vocab - 1];
        /* a token id out of range is refused, not read */
        int32_t bad = hp->n_vocab;
        LF_FUZZ_CHECK(T, lf_ctx_eval(c, &bad, 1, false, &logits, &err) == LF_ERANGE,
                      "token id n_vocab accepted");
        lf_ctx_free(c);
    } else {
        LF_FUZZ_CHECK(T, err.msg[0], "context failure without a message");
    }
    lf_model_free(m);
    return 0;
}

const lf_fuzz_target lf_fuzz_model = {
    .name = "model",
    .what = "model loader (path API over a memory file) + prefill and decode of a small context",
    .init = init,
    .one = one,
    .fini = fini,
};
