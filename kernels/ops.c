/*
 * The non-matrix ops of a transformer layer: norms, activations,
 * elementwise arithmetic, RoPE and single-head attention over a KV cache.
 * They are cheap next to the matrix products, so they are plain C the
 * compiler can vectorise; the two places where per-element cost matters —
 * the dot products and axpys over the KV cache inside attention, and the
 * sum of squares of RMSNorm — go through the active kernel set.
 */
#include "kernels/internal.h"

#include <math.h>
#include <string.h>

void lf_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    float ss = lf_kernel_set_active()->sumsq_f32(x, n);
    float s = 1.0f / sqrtf(ss / (float)n + eps);
    if (w) {
        for (int64_t i = 0; i < n; i++)
            out[i] = x[i] * s * w[i];
    } else {
        for (int64_t i = 0; i < n; i++)
            out[i] = x[i] * s;
    }
}

void lf_layernorm(float *out, const float *x, const float *w, const float *b,
                  int64_t n, float eps) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= (double)n;
    float m = (float)mean, s = (float)(1.0 / sqrt(var + eps));
    for (int64_t i = 0; i < n; i++) {
        float v = (x[i] - m) * s;
        if (w)
            v *= w[i];
        if (b)
            v += b[i];
        out[i] = v;
    }
}

void lf_softmax(float *x, int64_t n) {
    const lf_kernel_set *ks = lf_kernel_set_active();
    if (ks->softmax) {
        ks->softmax(x, n);
        return;
    }
    if (n <= 0)
        return;
    float mx = x[0];
    for (int64_t i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

void lf_silu(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = x[i] / (1.0f + expf(-x[i]));
}

void lf_gelu(float *x, int64_t n) {
    const float c = 0.7978845608028654f;   /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

void lf_swiglu(float *gate, const float *up, int64_t n) {
    const lf_kernel_set *ks = lf_kernel_set_active();
    if (ks->swiglu) {
        ks->swiglu(gate, up, n);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void lf_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

void lf_mul(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] *= x[i];
}

void lf_scale(float *y, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] *= s;
}

float lf_dot_f32(const float *a, const float *b, int64_t n) {
    return lf_kernel_set_active()->dot_f32(a, b, n);
}

/* Pair i (i < n_rot/2) turns by pos·freq_scale·base^(-2i/n_rot) / ff[i].
 * The angle is formed in double: at positions in the hundreds of thousands
 * a float angle would already be off by whole milliradians. */
/* cs[2(i-i0)], cs[2(i-i0)+1] = cos, sin of pairs i in [i0, i1) at pos. */
static void rope_angles(float *cs, int64_t pos, const lf_rope_params *p, int i0, int i1) {
    double fs = p->freq_scale != 0 ? p->freq_scale : 1.0;
    for (int i = i0; i < i1; i++) {
        double inv_freq = pow((double)p->base, -2.0 * i / p->n_rot);
        if (p->freq_factors)
            inv_freq /= p->freq_factors[i];
        double theta = (double)pos * fs * inv_freq;
        cs[2 * (i - i0)] = (float)cos(theta);
        cs[2 * (i - i0) + 1] = (float)sin(theta);
    }
}

/* Rotates pairs [i0, i1) of every head by the angles in cs (as above). */
static void rope_rotate(float *x, int n_heads, int head_dim, const float *cs,
                        const lf_rope_params *p, int i0, int i1) {
    int half = p->n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = i0; i < i1; i++) {
            const float c = cs[2 * (i - i0)], s = cs[2 * (i - i0) + 1];
            int a0 = p->neox ? i : 2 * i, a1 = p->neox ? i + half : 2 * i + 1;
            float a = v[a0], b = v[a1];
            v[a0] = a * c - b * s;
            v[a1] = a * s + b * c;
        }
    }
}

/* The active set's vector rotation where it has one (the same
 * arithmetic, up to fused multiply-adds). */
static void rope_rotate_active(float *x, int n_heads, int head_dim, const float *cs,
                               const lf_rope_params *p, int i0, int i1) {
    const lf_kernel_set *ks = lf_kernel_set_active();
    (ks->rope ? ks->rope : rope_rotate)(x, n_heads, head_dim, cs, p, i0, i1);
}

void lf_rope_table(float *cs, int64_t pos, const lf_rope_params *p) {
    rope_angles(cs, pos, p, 0, p->n_rot / 2);
}

void lf_rope_apply(float *x, int n_heads, int head_dim, const float *cs,
                   const lf_rope_params *p) {
    rope_rotate_active(x, n_heads, head_dim, cs, p, 0, p->n_rot / 2);
}

void lf_rope(float *x, int n_heads, int head_dim, int64_t pos,
             const lf_rope_params *p) {
    float cs[64];   /* 32 pairs at a time: no allocation */
    for (int i0 = 0; i0 < p->n_rot / 2; i0 += 32) {
        int i1 = i0 + 32 < p->n_rot / 2 ? i0 + 32 : p->n_rot / 2;
        rope_angles(cs, pos, p, i0, i1);
        rope_rotate_active(x, n_heads, head_dim, cs, p, i0, i1);
    }
}

/* One query row over n keys; value rows of hdv (may differ from hd). */
static void attend_row(const lf_kernel_set *ks, float *out, const float *q, const void *k,
                       size_t k_stride, const void *v, size_t v_stride, lf_type kv_type,
                       int64_t n, int hd, int hdv, float scale, float *att) {
    lf_kv_dot_fn dot = ks->kv_dot[kv_type];
    lf_kv_axpy_fn axpy = ks->kv_axpy[kv_type];
    for (int64_t t = 0; t < n; t++)
        att[t] = scale * dot((const char *)k + (size_t)t * k_stride, q, hd);
    lf_softmax(att, n);
    memset(out, 0, (size_t)hdv * sizeof *out);
    for (int64_t t = 0; t < n; t++)
        axpy(out, (const char *)v + (size_t)t * v_stride, att[t], hdv);
}

void lf_attention_head(float *out, const float *q, const void *k, size_t k_stride,
                       const void *v, size_t v_stride, lf_type kv_type,
                       int64_t n_kv, int head_dim, float scale, float *att) {
    attend_row(lf_kernel_set_active(), out, q, k, k_stride, v, v_stride, kv_type, n_kv, head_dim,
               head_dim, scale, att);
}

size_t lf_attn_tile_scratch(int n_keys, int hd, int hdv) {
    size_t ld = (size_t)((hd > hdv ? hd : hdv) + 15) / 16 * 16;
    size_t tile = (size_t)hd * 16 + ((size_t)n_keys + 15) / 16 * 16 * 16 + 17 * ld;
    return tile > (size_t)n_keys ? tile : (size_t)n_keys;
}

void lf_attention_tile(const lf_attn_tile *t, float *scratch) {
    const lf_kernel_set *ks = lf_kernel_set_active();
    if (ks->attn_tile) {
        ks->attn_tile(t, scratch);
        return;
    }
    /* row by row, as lf_attention_head but with hdv allowed to differ */
    for (int r = 0; r < t->nr; r++) {
        const int n = t->hi[r] - t->lo[r];
        if (n <= 0) {
            memset(t->out[r], 0, (size_t)t->hdv * sizeof(float));
            continue;
        }
        attend_row(ks, t->out[r], t->q[r], (const char *)t->k + (size_t)t->lo[r] * t->k_stride,
                   t->k_stride, (const char *)t->v + (size_t)t->lo[r] * t->v_stride, t->v_stride,
                   t->kv_type, n, t->hd, t->hdv, t->scale, scratch);
    }
}

void lf_kv_store(void *dst, const float *src, lf_type kv_type, int head_dim) {
    if (kv_type == LF_TYPE_F32) {
        memcpy(dst, src, (size_t)head_dim * sizeof(float));
        return;
    }
    lf_quantize_row_get(kv_type)(src, dst, head_dim);
}
