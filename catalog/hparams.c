/*
 * Catalog entry → model hyperparameters: the one place that turns a row of
 * models.json into the lf_model_params the forward pass and the synthesizer
 * take (architecture defaults first, then the published shape, RoPE base,
 * norm epsilon and structure flags), so `synth`, `bench` and everything
 * else that builds a catalog model agree on its shape (experts included);
 * and the way back,
 * hyperparameters → catalog entry, for the estimates of models that are
 * not in the catalog (shapes, GGUF files).
 */
#include "catalog/catalog.h"
#include "model/model.h"

#include <stdio.h>
#include <string.h>

int lf_catalog_to_hparams(const lf_catalog_model *cm, lf_model_params *hp, lf_error *err) {
    lf_arch arch;
    if (lf_arch_parse(cm->arch, &arch, err) < 0)
        return lf_error_wrap(err, "catalog model %s", cm->name);
    lf_model_params_init(hp, arch);
    snprintf(hp->name, sizeof hp->name, "%s", cm->name);
    hp->n_layer = cm->n_layer;
    hp->n_embd = cm->n_embd;
    hp->n_head = cm->n_head;
    hp->n_head_kv = cm->n_head_kv;
    hp->head_dim = cm->head_dim;
    hp->n_ff = cm->n_ff;
    hp->n_vocab = cm->n_vocab;
    hp->n_ctx_train = cm->n_ctx;
    if (cm->rope_theta > 0)
        hp->rope_base = (float)cm->rope_theta;
    if (cm->norm_eps > 0)
        hp->norm_eps = cm->norm_eps;
    hp->tied = cm->tied_embeddings;
    hp->qkv_bias = cm->qkv_bias;
    hp->qk_norm = cm->qk_norm;
    /* llama.cpp runs sliding windows only for the gemma family and
     * gpt-oss; Mistral's published window is ignored there too */
    if ((arch == LF_ARCH_GEMMA2 || arch == LF_ARCH_GEMMA3 || arch == LF_ARCH_GPTOSS) &&
        cm->sliding_window > 0)
        hp->swa_window = cm->sliding_window;
    if (lf_catalog_model_is_moe(cm)) {
        hp->n_expert = cm->n_expert;
        hp->n_expert_used = cm->n_expert_used;
        hp->n_ff_exp = cm->n_ff_exp;
        hp->n_expert_shared = cm->n_expert_shared;
        hp->n_ff_shexp = cm->n_ff_shexp;
        /* the arch's defaults stand unless the entry names the gating */
        if (!strcmp(cm->expert_gating, "softmax"))
            hp->gating = LF_MOE_SOFTMAX;
        else if (!strcmp(cm->expert_gating, "topk_softmax"))
            hp->gating = LF_MOE_TOPK_SOFTMAX;
        else if (!strcmp(cm->expert_gating, "sigmoid"))
            hp->gating = LF_MOE_SIGMOID;
        if (cm->expert_norm_topk >= 0)
            hp->moe_norm_topk = cm->expert_norm_topk == 1;
    }
    int rc = lf_model_params_check(hp, err);
    if (rc < 0)
        return lf_error_wrap(err, "catalog model %s", cm->name);
    return 0;
}

void lf_catalog_from_hparams(const lf_model_params *hp, lf_catalog_model *cm) {
    memset(cm, 0, sizeof *cm);
    snprintf(cm->name, sizeof cm->name, "%s", hp->name);
    snprintf(cm->display, sizeof cm->display, "%s", hp->name);
    snprintf(cm->arch, sizeof cm->arch, "%s", lf_arch_name(hp->arch));
    cm->n_layer = hp->n_layer;
    cm->n_embd = hp->n_embd;
    cm->n_head = hp->n_head;
    cm->n_head_kv = hp->n_head_kv;
    cm->head_dim = hp->head_dim;
    cm->n_ff = hp->n_ff;
    cm->n_vocab = hp->n_vocab;
    cm->n_ctx = hp->n_ctx_train;
    cm->rope_theta = hp->rope_base;
    cm->norm_eps = hp->norm_eps;
    cm->sliding_window = hp->swa_window;
    cm->tied_embeddings = hp->tied;
    cm->qkv_bias = hp->qkv_bias;
    cm->qk_norm = hp->qk_norm;
    cm->expert_norm_topk = -1;
    if (hp->n_expert > 0 && hp->n_expert_used > 0) {
        cm->n_expert = hp->n_expert;
        cm->n_expert_used = hp->n_expert_used;
        cm->n_ff_exp = hp->n_ff_exp > 0 ? hp->n_ff_exp : hp->n_ff;
        cm->n_expert_shared = hp->n_expert_shared;
        cm->n_ff_shexp = hp->n_expert_shared > 0 && hp->n_ff_shexp == 0 ? cm->n_ff_exp
                                                                         : hp->n_ff_shexp;
        snprintf(cm->expert_gating, sizeof cm->expert_gating, "%s",
                 hp->gating == LF_MOE_TOPK_SOFTMAX ? "topk_softmax"
                 : hp->gating == LF_MOE_SIGMOID    ? "sigmoid"
                                                   : "softmax");
        cm->expert_norm_topk = hp->moe_norm_topk ? 1 : 0;
    }
}
