/*
 * Helpers shared by the model tests: locating ../shared/models, weight
 * getters for the reference forward (from a GGUF file read here, or from an
 * lf_model's registry), reference configs, logit comparison, and small
 * synthetic hyperparameter sets of every supported architecture.
 */
#ifndef LF_TEST_MODEL_UTIL_H
#define LF_TEST_MODEL_UTIL_H

#include "model/model.h"
#include "ref_forward.h"

#include <stdbool.h>

/* Full path of a shared test model into buf; false (and a printed reason)
 * when the file is absent. */
bool tm_model_path(const char *name, char *buf, size_t size);

/* Getter over an open GGUF file (ctx = const lf_gguf *). */
float *tm_get_gguf(void *ctx, const char *name, int64_t n);
/* Getter over an lf_model's tensors (ctx = const lf_model *). */
float *tm_get_model(void *ctx, const char *name, int64_t n);

/* Reference config read straight from a llama GGUF's metadata. */
int tm_ref_config_gguf(const lf_gguf *g, ref_config *c);
/* Reference config from hyperparameters (synthetic models). */
void tm_ref_config_hp(const lf_model_params *hp, ref_config *c);

/* max |a - b| / max |b| over n values. */
double tm_rel_diff(const float *a, const float *b, int64_t n);

/* Small shapes of each architecture for synthetic tests. */
typedef enum {
    TM_LLAMA_GQA, TM_SMOLLM_TIED, TM_QWEN2, TM_QWEN3, TM_GEMMA, TM_GEMMA2, TM_GEMMA3, TM_PHI3,
    TM_OLMO2, TM_GRANITE, TM_N_CONFIGS
} tm_config;
void tm_synth_params(tm_config which, lf_model_params *hp);
const char *tm_config_name(tm_config which);

#endif
