/*
 * The reference forward pass (see ref_forward.h): the textbook formulas,
 * one loop each, nothing shared with kernels/ except the dequantizers the
 * getters use to read weights.
 */
#include "ref_forward.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *get(ref_getter g, void *ctx, const char *name, int64_t n, bool required, int *bad) {
    float *p = g(ctx, name, n);
    if (!p && required) {
        fprintf(stderr, "ref: tensor %s missing\n", name);
        *bad = 1;
    }
    return p;
}

int ref_model_init(ref_model *r, const ref_config *c, ref_getter g, void *ctx, int max_seq) {
    memset(r, 0, sizeof *r);
    r->c = *c;
    r->max_seq = max_seq;
    int bad = 0;
    const int64_t D = c->dim, V = c->vocab, F = c->ff;
    const int64_t nq = (int64_t)c->n_head * c->head_dim, nk = (int64_t)c->n_kv * c->head_dim;
    const int64_t nv = (int64_t)c->n_kv * c->head_dim_v, no = (int64_t)c->n_head * c->head_dim_v;
    r->tok_embd = get(g, ctx, "token_embd.weight", D * V, true, &bad);
    r->out_norm = get(g, ctx, "output_norm.weight", D, true, &bad);
    r->output = get(g, ctx, "output.weight", D * V, false, &bad);
    r->tied = r->output == NULL;
    if (r->tied)
        r->output = r->tok_embd;
    r->rope_freqs = get(g, ctx, "rope_freqs.weight", c->n_rot / 2, false, &bad);
    r->L = calloc((size_t)c->n_layer, sizeof *r->L);
    char n[96];
    for (int l = 0; l < c->n_layer; l++) {
        ref_layer *L = &r->L[l];
#define G(field, stem, cnt, req) \
    (snprintf(n, sizeof n, "blk.%d.%s", l, stem), L->field = get(g, ctx, n, cnt, req, &bad))
        G(attn_norm, "attn_norm.weight", D, false);   /* olmo2 has none */
        G(wq, "attn_q.weight", D * nq, true);
        G(wk, "attn_k.weight", D * nk, true);
        G(wv, "attn_v.weight", D * nv, true);
        G(wo, "attn_output.weight", no * D, true);
        G(ffn_norm, c->gptoss ? "post_attention_norm.weight" : "ffn_norm.weight", D, false);
        if (c->gptoss) {
            G(bo, "attn_output.bias", D, true);
            G(sinks, "attn_sinks.weight", c->n_head, true);
            G(router_b, "ffn_gate_inp.bias", c->n_expert, true);
            G(geb, "ffn_gate_exps.bias", (int64_t)c->ff_exp * c->n_expert, true);
            G(ueb, "ffn_up_exps.bias", (int64_t)c->ff_exp * c->n_expert, true);
            G(deb, "ffn_down_exps.bias", D * c->n_expert, true);
        }
        if (c->n_expert > 0) {
            const int64_t X = c->n_expert, Fe = c->ff_exp, Fs = c->ff_shexp;
            G(router, "ffn_gate_inp.weight", D * X, true);
            G(ge, "ffn_gate_exps.weight", D * Fe * X, true);
            G(ue, "ffn_up_exps.weight", D * Fe * X, true);
            G(de, "ffn_down_exps.weight", Fe * D * X, true);
            G(exp_bias, "exp_probs_b.bias", X, false);
            G(sh_gate, "ffn_gate_inp_shexp.weight", D, false);
            G(w_gate, "ffn_gate_shexp.weight", D * Fs, false);
            G(w_up, "ffn_up_shexp.weight", D * Fs, false);
            G(w_down, "ffn_down_shexp.weight", Fs * D, false);
        } else {
            G(w_gate, "ffn_gate.weight", D * F, true);
            G(w_up, "ffn_up.weight", D * F, true);
            G(w_down, "ffn_down.weight", F * D, true);
        }
        G(bq, "attn_q.bias", nq, false);
        G(bk, "attn_k.bias", nk, false);
        G(bv, "attn_v.bias", nv, false);
        G(q_norm, "attn_q_norm.weight", c->qk_norm_full ? nq : c->head_dim, false);
        G(k_norm, "attn_k_norm.weight", c->qk_norm_full ? nk : c->head_dim, false);
        if (!c->gptoss)
            G(post_attn, "post_attention_norm.weight", D, false);
        G(post_ffn, "post_ffw_norm.weight", D, false);
#undef G
    }
    size_t cache = (size_t)c->n_layer * (size_t)max_seq;
    r->kc = calloc(cache * (size_t)nk, sizeof(float));
    r->vc = calloc(cache * (size_t)nv, sizeof(float));
    r->x = calloc((size_t)D, sizeof(float));
    r->xb = calloc((size_t)D, sizeof(float));
    r->q = calloc((size_t)nq, sizeof(float));
    r->k = calloc((size_t)nk, sizeof(float));
    r->v = calloc((size_t)nv, sizeof(float));
    r->ao = calloc((size_t)no, sizeof(float));
    r->o = calloc((size_t)D, sizeof(float));
    int64_t FH = F > c->ff_exp ? F : c->ff_exp;
    FH = FH > c->ff_shexp ? FH : c->ff_shexp;
    r->h1 = calloc((size_t)FH, sizeof(float));
    r->h3 = calloc((size_t)FH, sizeof(float));
    r->moe = calloc((size_t)D + (size_t)c->n_expert + 1, sizeof(float));
    r->att = calloc((size_t)max_seq, sizeof(float));
    return bad ? -1 : 0;
}

void ref_model_free(ref_model *r) {
    free(r->tok_embd);
    free(r->out_norm);
    if (!r->tied)
        free(r->output);
    free(r->rope_freqs);
    for (int l = 0; r->L && l < r->c.n_layer; l++) {
        ref_layer *L = &r->L[l];
        float *all[] = {L->attn_norm, L->wq, L->wk, L->wv, L->wo, L->ffn_norm, L->w_gate,
                        L->w_up, L->w_down, L->bq, L->bk, L->bv, L->q_norm, L->k_norm,
                        L->post_attn, L->post_ffn, L->router, L->ge, L->ue, L->de,
                        L->exp_bias, L->sh_gate, L->bo, L->sinks, L->router_b, L->geb,
                        L->ueb, L->deb};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            free(all[i]);
    }
    free(r->L);
    free(r->kc);
    free(r->vc);
    free(r->x);
    free(r->xb);
    free(r->q);
    free(r->k);
    free(r->v);
    free(r->ao);
    free(r->o);
    free(r->h1);
    free(r->h3);
    free(r->moe);
    free(r->att);
}

void ref_moe_route(const ref_config *c, const float *logits, const float *bias, int *ids,
                   float *weights) {
    const int n = c->n_expert, k = c->n_used;
    double p[512], score[512];
    int order[512];
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    for (int i = 0; i < n; i++) {
        if (c->gating == 0)
            sum += p[i] = exp((double)logits[i] - mx);
        else if (c->gating == 2)
            p[i] = 1.0 / (1.0 + exp(-(double)logits[i]));
        else
            p[i] = logits[i];
    }
    for (int i = 0; i < n; i++) {
        if (c->gating == 0)
            p[i] /= sum;
        score[i] = p[i] + (bias ? bias[i] : 0.0);
        order[i] = i;
    }
    /* selection sort of the whole list: the k best, ties to the lower index */
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < n; b++)
            if (score[order[b]] > score[order[a]] ||
                (score[order[b]] == score[order[a]] && order[b] < order[a])) {
                int t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
    double w[512], wsum = 0, wmax = -INFINITY;
    for (int a = 0; a < k; a++) {
        ids[a] = order[a];
        w[a] = p[order[a]];
        wmax = w[a] > wmax ? w[a] : wmax;
    }
    if (c->gating == 1) {
        double s = 0;
        for (int a = 0; a < k; a++)
            s += w[a] = exp(w[a] - wmax);
        for (int a = 0; a < k; a++)
            w[a] /= s;
    }
    for (int a = 0; a < k; a++)
        wsum += w[a];
    for (int a = 0; a < k; a++) {
        double v = c->norm_topk ? w[a] / wsum : w[a];
        weights[a] = (float)(c->w_scale > 0 ? v * c->w_scale : v);
    }
}

static void matvec(float *out, const float *x, const float *w, int n, int d);

/* act(g)·u: SiLU, or gpt-oss's clamped form (constants from its release) */
static float gated(const ref_config *c, float g, float u) {
    if (!c->gptoss)
        return g / (1.0f + expf(-g)) * u;
    g = fminf(g, 7.0f);
    u = fmaxf(-7.0f, fminf(u, 7.0f));
    return (float)(g / (1.0 + exp(-1.702 * g)) * (u + 1.0));
}

static void add_to(float *y, const float *b, int n) {
    if (b)
        for (int i = 0; i < n; i++)
            y[i] += b[i];
}

/* The experts (and shared expert) of layer L on xb into o[dim]. */
static void moe_ffn(ref_model *r, const ref_layer *L) {
    const ref_config *c = &r->c;
    const int D = c->dim, Fe = c->ff_exp;
    float *logits = r->moe, *acc = r->moe + c->n_expert;
    int ids[64];
    float w[64];
    matvec(logits, r->xb, L->router, D, c->n_expert);
    add_to(logits, L->router_b, c->n_expert);
    ref_moe_route(c, logits, L->exp_bias, ids, w);
    memset(acc, 0, (size_t)D * sizeof(float));
    for (int a = 0; a < c->n_used; a++) {
        const size_t e = (size_t)ids[a];
        matvec(r->h1, r->xb, L->ge + e * Fe * D, D, Fe);
        matvec(r->h3, r->xb, L->ue + e * Fe * D, D, Fe);
        add_to(r->h1, L->geb ? L->geb + e * Fe : NULL, Fe);
        add_to(r->h3, L->ueb ? L->ueb + e * Fe : NULL, Fe);
        for (int i = 0; i < Fe; i++)
            r->h1[i] = gated(c, r->h1[i], r->h3[i]);
        matvec(r->o, r->h1, L->de + e * D * Fe, Fe, D);
        add_to(r->o, L->deb ? L->deb + e * D : NULL, D);
        for (int i = 0; i < D; i++)
            acc[i] += w[a] * r->o[i];
    }
    memset(r->o, 0, (size_t)D * sizeof(float));
    if (L->w_gate) {
        const int Fs = c->ff_shexp;
        matvec(r->h1, r->xb, L->w_gate, D, Fs);
        matvec(r->h3, r->xb, L->w_up, D, Fs);
        for (int i = 0; i < Fs; i++)
            r->h1[i] = r->h1[i] / (1.0f + expf(-r->h1[i])) * r->h3[i];
        matvec(r->o, r->h1, L->w_down, Fs, D);
        if (L->sh_gate) {
            double g = 0;
            for (int i = 0; i < D; i++)
                g += (double)L->sh_gate[i] * r->xb[i];
            const float s = (float)(1.0 / (1.0 + exp(-g)));
            for (int i = 0; i < D; i++)
                r->o[i] *= s;
        }
    }
    for (int i = 0; i < D; i++)
        r->o[i] += acc[i];
}

static void rmsnorm(float *o, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float s = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++)
        o[i] = x[i] * s * w[i];
}

/* out[d] = Σ_i W[d][i] x[i], W row-major d × n (GGUF ne = [n, d]) */
static void matvec(float *out, const float *x, const float *w, int n, int d) {
    for (int j = 0; j < d; j++) {
        double s = 0;
        const float *row = w + (size_t)j * n;
        for (int i = 0; i < n; i++)
            s += (double)row[i] * x[i];
        out[j] = (float)s;
    }
}

/* YaRN's angle and magnitude for pair i of theta (unscaled): pairs that
 * turn more than 32 times in the original context keep theta, those that
 * turn less than once take theta/factor, the ones between blend linearly
 * over the pair index (its bounds rounded outwards, as llama.cpp does). */
static double yarn(const ref_config *c, double theta, float base, int i, double *mag) {
    const double n = c->n_rot;
    /* pair index whose wavelength fits `turns` times in the original context */
    double at_lo = n * log(c->yarn_orig_ctx / (32.0 * 2 * M_PI)) / (2 * log(base));
    double at_hi = n * log(c->yarn_orig_ctx / (1.0 * 2 * M_PI)) / (2 * log(base));
    double lo = fmax(0.0, floor(at_lo)), hi = fmin(n - 1, ceil(at_hi));
    double keep = 1.0 - fmin(1.0, fmax(0.0, (i - lo) / fmax(0.001, hi - lo)));
    *mag = 1.0 + 0.1 * log(c->yarn_factor);
    return theta / c->yarn_factor * (1.0 - keep) + theta * keep;
}

static void rope(float *v, int n_heads, int hd, int pos, const ref_config *c, float base,
                 float fscale, const float *factors) {
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * hd;
        for (int i = 0; i < c->n_rot / 2; i++) {
            double theta = fscale * pos * pow(base, -2.0 * i / c->n_rot);
            if (factors)
                theta /= factors[i];
            double mag = 1.0;
            if (c->yarn_factor > 1)
                theta = yarn(c, theta, base, i, &mag);
            double cs = cos(theta) * mag, sn = sin(theta) * mag;
            int a = c->neox ? i : 2 * i, b = c->neox ? i + c->n_rot / 2 : 2 * i + 1;
            double x0 = x[a], x1 = x[b];
            x[a] = (float)(x0 * cs - x1 * sn);
            x[b] = (float)(x0 * sn + x1 * cs);
        }
    }
}

static float gelu(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
}

void ref_forward(ref_model *r, int token, int pos, float *logits) {
    const ref_config *c = &r->c;
    const int D = c->dim, hd = c->head_dim, hdv = c->head_dim_v;
    const int nk = c->n_kv * hd, nv = c->n_kv * hdv;
    memcpy(r->x, r->tok_embd + (size_t)token * D, (size_t)D * sizeof(float));
    if (c->embd_scale)
        for (int i = 0; i < D; i++)
            r->x[i] *= sqrtf((float)D);
    if (c->embd_mult > 0)
        for (int i = 0; i < D; i++)
            r->x[i] *= c->embd_mult;
    for (int l = 0; l < c->n_layer; l++) {
        const ref_layer *L = &r->L[l];
        bool swa = c->swa_window > 0 && c->swa_pattern > 0 && l % c->swa_pattern < c->swa_pattern - 1;
        if (L->attn_norm)
            rmsnorm(r->xb, r->x, L->attn_norm, D, c->eps);
        else
            memcpy(r->xb, r->x, (size_t)D * sizeof(float));
        matvec(r->q, r->xb, L->wq, D, c->n_head * hd);
        matvec(r->k, r->xb, L->wk, D, nk);
        matvec(r->v, r->xb, L->wv, D, nv);
        if (L->bq)
            for (int i = 0; i < c->n_head * hd; i++)
                r->q[i] += L->bq[i];
        if (L->bk)
            for (int i = 0; i < nk; i++)
                r->k[i] += L->bk[i];
        if (L->bv)
            for (int i = 0; i < nv; i++)
                r->v[i] += L->bv[i];
        if (L->q_norm && c->qk_norm_full) {
            rmsnorm(r->q, r->q, L->q_norm, c->n_head * hd, c->eps);
            rmsnorm(r->k, r->k, L->k_norm, nk, c->eps);
        } else if (L->q_norm) {
            for (int h = 0; h < c->n_head; h++)
                rmsnorm(r->q + h * hd, r->q + h * hd, L->q_norm, hd, c->eps);
            for (int h = 0; h < c->n_kv; h++)
                rmsnorm(r->k + h * hd, r->k + h * hd, L->k_norm, hd, c->eps);
        }
        float base = swa && c->rope_base_swa > 0 ? c->rope_base_swa : c->rope_base;
        float fs = swa && c->rope_base_swa > 0 ? 1.0f : c->freq_scale;
        rope(r->q, c->n_head, hd, pos, c, base, fs, r->rope_freqs);
        rope(r->k, c->n_kv, hd, pos, c, base, fs, r->rope_freqs);
        float *kc = r->kc + ((size_t)l * r->max_seq) * nk;
        float *vc = r->vc + ((size_t)l * r->max_seq) * nv;
        memcpy(kc + (size_t)pos * nk, r->k, (size_t)nk * sizeof(float));
        memcpy(vc + (size_t)pos * nv, r->v, (size_t)nv * sizeof(float));
        float scale = c->attn_scale > 0 ? c->attn_scale : 1.0f / sqrtf((float)hd);
        int start = swa && pos + 1 > c->swa_window ? pos + 1 - c->swa_window : 0;
        for (int h = 0; h < c->n_head; h++) {
            int kvh = h / (c->n_head / c->n_kv);
            const float *q = r->q + h * hd;
            /* a sink is one more logit in the softmax, with no value */
            double mx = L->sinks ? L->sinks[h] : -1e300;
            for (int t = start; t <= pos; t++) {
                const float *k = kc + (size_t)t * nk + kvh * hd;
                double s = 0;
                for (int i = 0; i < hd; i++)
                    s += (double)q[i] * k[i];
                s *= scale;
                if (c->attn_softcap > 0)
                    s = c->attn_softcap * tanh(s / c->attn_softcap);
                r->att[t] = (float)s;
                if (s > mx)
                    mx = s;
            }
            double sum = L->sinks ? exp(L->sinks[h] - mx) : 0;
            for (int t = start; t <= pos; t++) {
                r->att[t] = (float)exp(r->att[t] - mx);
                sum += r->att[t];
            }
            float *out = r->ao + h * hdv;
            for (int i = 0; i < hdv; i++) {
                double a = 0;
                for (int t = start; t <= pos; t++)
                    a += (double)r->att[t] / sum * vc[(size_t)t * nv + kvh * hdv + i];
                out[i] = (float)a;
            }
        }
        matvec(r->o, r->ao, L->wo, c->n_head * hdv, D);
        add_to(r->o, L->bo, D);
        if (L->post_attn)
            rmsnorm(r->o, r->o, L->post_attn, D, c->eps);
        for (int i = 0; i < D; i++)
            r->x[i] += (c->residual_mult > 0 ? c->residual_mult : 1.0f) * r->o[i];
        if (L->ffn_norm)
            rmsnorm(r->xb, r->x, L->ffn_norm, D, c->eps);
        else
            memcpy(r->xb, r->x, (size_t)D * sizeof(float));
        if (c->n_expert > 0) {
            moe_ffn(r, L);
        } else {
            matvec(r->h1, r->xb, L->w_gate, D, c->ff);
            matvec(r->h3, r->xb, L->w_up, D, c->ff);
            for (int i = 0; i < c->ff; i++) {
                float g = r->h1[i];
                float a = c->gelu ? gelu(g) : g / (1.0f + expf(-g));
                r->h1[i] = a * r->h3[i];
            }
            matvec(r->o, r->h1, L->w_down, c->ff, D);
        }
        if (L->post_ffn)
            rmsnorm(r->o, r->o, L->post_ffn, D, c->eps);
        for (int i = 0; i < D; i++)
            r->x[i] += (c->residual_mult > 0 ? c->residual_mult : 1.0f) * r->o[i];
    }
    rmsnorm(r->xb, r->x, r->out_norm, D, c->eps);
    matvec(logits, r->xb, r->output, D, c->vocab);
    if (c->logit_scale > 0)
        for (int i = 0; i < c->vocab; i++)
            logits[i] /= c->logit_scale;
    if (c->final_softcap > 0)
        for (int i = 0; i < c->vocab; i++)
            logits[i] = c->final_softcap * tanhf(logits[i] / c->final_softcap);
}
