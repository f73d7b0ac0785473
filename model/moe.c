/*
 * Mixture-of-experts routing: how a router's logits become the k experts a
 * token uses and their weights, for each family's gating — softmax over all
 * experts then the top k (qwen2moe, qwen3moe, olmoe, Mixtral), top k of the
 * logits then softmax over those (granitemoe's formulation, and gpt-oss),
 * sigmoid scores whose selection adds a per-expert bias — followed by the
 * optional renormalisation of the k weights and a constant scale. The
 * forward pass (forward.c) calls this per token; the tests hold it to a
 * scalar reference of their own.
 */
#include "model/model_internal.h"

#include <math.h>
#include <string.h>

lf_mat lf_moe_expert(const lf_mat *exps, int n_expert, int e) {
    lf_mat v = *exps;
    v.rows = exps->rows / n_expert;
    v.data = (const char *)exps->data + (size_t)e * (size_t)v.rows * exps->row_bytes;
    return v;
}

/* Softmax of x[0..n) in place, max-subtracted; double sum. */
static void softmax(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

void lf_moe_route(const lf_model_params *hp, const float *logits, const float *bias,
                  int32_t *ids, float *weights, float *scratch) {
    const int n = hp->n_expert, k = hp->n_expert_used;
    /* scratch: the probabilities the weights are read from */
    float *p = scratch;
    memcpy(p, logits, (size_t)n * sizeof(float));
    if (hp->gating == LF_MOE_SOFTMAX)
        softmax(p, n);
    else if (hp->gating == LF_MOE_SIGMOID)
        for (int i = 0; i < n; i++)
            p[i] = 1.0f / (1.0f + expf(-p[i]));
    /* top k of p (+ bias) by insertion: k is small, n at most a few hundred */
    float best[LF_MOE_MAX_USED];
    int nb = 0;
    for (int i = 0; i < n; i++) {
        float s = bias ? p[i] + bias[i] : p[i];
        if (nb == k && !(s > best[k - 1]))
            continue;
        int j = nb < k ? nb++ : k - 1;
        while (j > 0 && s > best[j - 1]) {
            best[j] = best[j - 1];
            ids[j] = ids[j - 1];
            j--;
        }
        best[j] = s;
        ids[j] = i;
    }
    for (int j = 0; j < k; j++)
        weights[j] = p[ids[j]];
    if (hp->gating == LF_MOE_TOPK_SOFTMAX)
        softmax(weights, k);
    if (hp->moe_norm_topk) {
        double sum = 0;
        for (int j = 0; j < k; j++)
            sum += weights[j];
        /* llama.cpp clamps the sum from below (fp16's smallest normal) */
        const float inv = (float)(1.0 / (sum > 6.103515625e-5 ? sum : 6.103515625e-5));
        for (int j = 0; j < k; j++)
            weights[j] *= inv;
    }
    if (hp->moe_weights_scale > 0 && hp->moe_weights_scale != 1.0f)
        for (int j = 0; j < k; j++)
            weights[j] *= hp->moe_weights_scale;
}
