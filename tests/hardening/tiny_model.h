/*
 * The tiny llama shape the hardening tests synthesize: 2 layers of 64,
 * 4 heads (2 KV), FFN 128, 320 tokens, trained context 256 — small enough
 * to build in milliseconds, real enough for every command to run on it.
 * One definition, so the tests cannot drift apart in what "tiny" means.
 */
#ifndef LF_TESTS_TINY_MODEL_H
#define LF_TESTS_TINY_MODEL_H

#include "model/model.h"

#include <stdio.h>

static inline lf_model_params tiny_model_params(const char *name) {
    lf_model_params hp;
    lf_model_params_init(&hp, LF_ARCH_LLAMA);
    snprintf(hp.name, sizeof hp.name, "%s", name);
    hp.n_layer = 2;
    hp.n_embd = 64;
    hp.n_head = 4;
    hp.n_head_kv = 2;
    hp.n_ff = 128;
    hp.n_vocab = 320;
    hp.n_ctx_train = 256;
    return hp;
}

#endif
