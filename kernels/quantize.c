/*
 * Reference quantizers from F32 into every supported block format: the
 * from_float entries of the trait table, used to write synthetic models and
 * quantized outputs, and (for Q8_0 / Q8_1 / Q8_K) the scalar twins of the
 * SIMD activation quantizers.
 *
 * Only the layout has to match GGML; the choice of scales is ours. Weight
 * formats search their scales instead of mapping the largest value to the
 * end of the grid: for every group a handful of candidate scales is tried,
 * each candidate's quants are fixed by rounding, the scale (and min) are
 * then refitted by weighted least squares, and the best fit wins. Errors
 * are weighted by (σ + |x|), σ the RMS of the super-block, which favours
 * the large weights a model is most sensitive to without ignoring the rest.
 * After the scales are themselves quantized (to 4/6/8 bits under an fp16
 * super-scale), every quant is re-rounded against the scale actually
 * stored, so the stored data is always the best for its stored scales.
 *
 * Cost is O(n) with a small constant: a few candidates × group size per
 * group. Activation formats use the plain max-magnitude scale: they sit on
 * the hot path and their dot kernels expect exactly that.
 */
#include "kernels/internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

#define H2F lf_half_to_float

/* A scale as fp16, saturated at ±65504 instead of overflowing to inf, so
 * huge inputs give clipped (finite) weights rather than inf/NaN. */
static inline lf_half scale_half(float d) {
    d = d > 65504.f ? 65504.f : d < -65504.f ? -65504.f : d;
    return lf_float_to_half(d);
}

/* Rounds to the nearest integer in [lo, hi]; NaN goes to lo, so garbage
 * input gives garbage blocks but never undefined behaviour. */
static inline int round_clamp(float v, int lo, int hi) {
    if (!(v >= (float)lo))
        return lo;
    if (v >= (float)hi)
        return hi;
    return (int)lrintf(v);
}

/* Per-element weights for a group: σ + |x|, σ the RMS of x[0..n). */
static void error_weights(const float *x, int n, float *w) {
    double s2 = 0;
    for (int i = 0; i < n; i++)
        s2 += (double)x[i] * x[i];
    const float sigma = (float)sqrt(s2 / n);
    for (int i = 0; i < n; i++)
        w[i] = sigma + fabsf(x[i]);
}

/* Round to nearest even for |v| < 2^22, without a libm call or an int
 * conversion, so the search loops stay in float registers. */
static inline float round_f(float v) {
    const float magic = 12582912.0f;   /* 1.5 · 2^23 */
    return (v + magic) - magic;
}

/* v clamped to [lo, hi]; NaN passes through (and is rejected later). */
static inline float clamp_f(float v, float lo, float hi) {
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* ---- scale search: symmetric grids ------------------------------------
 * Best d for x ≈ d·q, q an integer in [-nneg, npos] (e.g. −8 … 7): the
 * value of largest magnitude is mapped near −nneg (the longer side of the
 * grid), for inverse scales spread over ±ntry·step around that, and each
 * candidate's least-squares d is scored by (Σw·q·x)² / Σw·q² (which is what
 * the weighted error loses). Returns 0 for an all-zero group. n ≤ 32. */
static float search_sym(const float *x, const float *w, int n, int nneg, int npos,
                        int ntry, float step) {
    float amax = 0, vmax = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            vmax = x[i];
        }
    }
    if (!(amax > 1e-30f) || !isfinite(amax))
        return 0.f;
    float best_d = vmax / -(float)nneg;
    double best_score = -1;
    for (int k = -ntry; k <= ntry; k++) {
        const float iscale = -((float)nneg + step * k) / vmax;
        float sqx[2] = {0, 0}, sqq[2] = {0, 0};   /* two chains for ILP */
        for (int i = 0; i < n; i++) {
            float q = round_f(clamp_f(iscale * x[i], -(float)nneg, (float)npos));
            float wq = w[i] * q;
            sqx[i & 1] += wq * x[i];
            sqq[i & 1] += wq * q;
        }
        const double qx = (double)sqx[0] + sqx[1], qq = (double)sqq[0] + sqq[1];
        if (qq > 0 && qx * qx / qq > best_score) {
            best_score = qx * qx / qq;
            best_d = (float)(qx / qq);
        }
    }
    return best_d;
}

/* ---- scale search: grids with an offset -------------------------------
 * Best (s, m) for x ≈ s·q + m, q in [0, nmax], s ≥ 0. With min_le_zero the
 * offset is constrained to m ≤ 0 (K-quants store −m as an unsigned "min").
 * Candidates map [min, max] onto [0, nmax + δ] for δ in [−1, +1]; each is
 * refitted by 2×2 weighted least squares and scored by its exact weighted
 * error (expanded from the sums). n ≤ 32. */
static void search_asym(const float *x, const float *w, int n, int nmax, int nstep,
                        bool min_le_zero, float *s_out, float *m_out) {
    float lo = x[0], hi = x[0];
    double sw = 0, swx = 0, swxx = 0;
    for (int i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
        sw += w[i];
        swx += (double)w[i] * x[i];
        swxx += (double)w[i] * x[i] * x[i];
    }
    if (min_le_zero && lo > 0)
        lo = 0;
    if (!(hi - lo > 1e-30f) || !isfinite(hi - lo)) {
        *s_out = 0;
        *m_out = isfinite(lo) ? lo : 0;
        return;
    }
    float t[32];
    for (int i = 0; i < n; i++)
        t[i] = x[i] - lo;
    float best_s = (hi - lo) / nmax, best_m = lo;
    double best_err = INFINITY;
    for (int k = 0; k <= nstep; k++) {
        const float iscale = ((float)nmax - 1.0f + 2.0f * k / nstep) / (hi - lo);
        float fa[2] = {0, 0}, fb[2] = {0, 0}, fd[2] = {0, 0};   /* Σwq², Σwq, Σwqx */
        for (int i = 0; i < n; i++) {
            float q = round_f(clamp_f(iscale * t[i], 0.f, (float)nmax));
            float wq = w[i] * q;
            fa[i & 1] += wq * q;
            fb[i & 1] += wq;
            fd[i & 1] += wq * x[i];
        }
        const double a = (double)fa[0] + fa[1], b = (double)fb[0] + fb[1];
        const double d = (double)fd[0] + fd[1];
        const double det = a * sw - b * b;
        if (!(det > 0))
            continue;
        double s = (sw * d - b * swx) / det;
        double m = (a * swx - b * d) / det;
        if (min_le_zero && m > 0) {
            m = 0;
            s = d / a;
        }
        if (!(s > 0))
            continue;
        double err = swxx - 2 * s * d - 2 * m * swx + s * s * a + 2 * s * m * b + m * m * sw;
        if (err < best_err) {
            best_err = err;
            best_s = (float)s;
            best_m = (float)m;
        }
    }
    *s_out = best_s;
    *m_out = best_m;
}

/* The scale of largest magnitude, with its sign. */
static float max_signed(const float *v, int n) {
    float amax = 0, vmax = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(v[i]) > amax) {
            amax = fabsf(v[i]);
            vmax = v[i];
        }
    }
    return vmax;
}

static float max_of(const float *v, int n) {
    float m = 0;
    for (int i = 0; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* Index of the IQ4 level nearest to v (ties go up): a branch-free binary
 * search over the midpoints between consecutive levels, since the scale
 * search calls it for every element of every candidate. */
static const float iq4_mids[15] = {
    -115.5f, -93.5f, -74.0f, -57.0f, -42.0f, -28.5f, -16.0f, -4.5f,
    7.0f, 19.0f, 31.5f, 45.5f, 61.0f, 79.0f, 101.0f,
};

static inline int iq4_index(float v) {
    int k = v >= iq4_mids[7] ? 8 : 0;
    k += v >= iq4_mids[k + 3] ? 4 : 0;
    k += v >= iq4_mids[k + 1] ? 2 : 0;
    k += v >= iq4_mids[k] ? 1 : 0;
    return k;
}

/* Best d for x ≈ d·kvalues[q]: like search_sym on the non-linear grid,
 * the largest magnitude mapped near −127 (its longer side). */
static float search_iq4(const float *x, const float *w, int n, int ntry) {
    const float vmax = max_signed(x, n);
    if (!(fabsf(vmax) > 1e-30f) || !isfinite(vmax))
        return 0.f;
    float best_d = vmax / lf_iq4nl_values[0];
    double best_score = -1;
    for (int k = -ntry; k <= ntry; k++) {
        const float id = ((float)lf_iq4nl_values[0] + k) / vmax;
        float fqx[2] = {0, 0}, fqq[2] = {0, 0};
        for (int i = 0; i < n; i++) {
            const float v = lf_iq4nl_values[iq4_index(id * x[i])], wv = w[i] * v;
            fqx[i & 1] += wv * x[i];
            fqq[i & 1] += wv * v;
        }
        const double sqx = (double)fqx[0] + fqx[1], sqq = (double)fqq[0] + fqq[1];
        if (sqq > 0 && sqx * sqx / sqq > best_score) {
            best_score = sqx * sqx / sqq;
            best_d = (float)(sqx / sqq);
        }
    }
    return best_d;
}

/* ---- plain types ------------------------------------------------------- */

void lf_quantize_row_f32_ref(const float *x, void *y, int64_t n) {
    memcpy(y, x, (size_t)n * sizeof(float));
}

void lf_quantize_row_f16_ref(const float *x, void *y, int64_t n) {
    lf_half *h = y;
    for (int64_t i = 0; i < n; i++)
        h[i] = lf_float_to_half(x[i]);
}

void lf_quantize_row_bf16_ref(const float *x, void *y, int64_t n) {
    lf_bf16 *h = y;
    for (int64_t i = 0; i < n; i++)
        h[i] = lf_float_to_bf16(x[i]);
}

/* ---- 32-element formats ------------------------------------------------ */

/* Quants of a symmetric block against the stored fp16 scale. */
static void requant_sym(const float *x, int n, float d, int nneg, int npos, int *q) {
    const float id = d != 0.f ? 1.0f / d : 0.f;
    for (int i = 0; i < n; i++)
        q[i] = round_clamp(x[i] * id, -nneg, npos);
}

void lf_quantize_row_q4_0_ref(const float *x, void *y, int64_t n) {
    lf_block_q4_0 *b = y;
    float w[LF_QK4_0];
    int q[LF_QK4_0];
    for (int64_t i = 0; i < n / LF_QK4_0; i++, b++, x += LF_QK4_0) {
        error_weights(x, LF_QK4_0, w);
        b->d = scale_half(search_sym(x, w, LF_QK4_0, 8, 7, 4, 0.1f));
        requant_sym(x, LF_QK4_0, H2F(b->d), 8, 7, q);
        for (int j = 0; j < 16; j++)
            b->qs[j] = (uint8_t)((q[j] + 8) | ((q[j + 16] + 8) << 4));
    }
}

void lf_quantize_row_q5_0_ref(const float *x, void *y, int64_t n) {
    lf_block_q5_0 *b = y;
    float w[LF_QK5_0];
    int q[LF_QK5_0];
    for (int64_t i = 0; i < n / LF_QK5_0; i++, b++, x += LF_QK5_0) {
        error_weights(x, LF_QK5_0, w);
        b->d = scale_half(search_sym(x, w, LF_QK5_0, 16, 15, 4, 0.1f));
        requant_sym(x, LF_QK5_0, H2F(b->d), 16, 15, q);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int lo = q[j] + 16, hi = q[j + 16] + 16;
            b->qs[j] = (uint8_t)((lo & 0xf) | ((hi & 0xf) << 4));
            qh |= (uint32_t)(lo >> 4) << j;
            qh |= (uint32_t)(hi >> 4) << (j + 16);
        }
        memcpy(b->qh, &qh, sizeof qh);
    }
}

/* Quants of an offset block against the stored fp16 scale and min. */
static void requant_asym(const float *x, int n, float d, float m, int nmax, int *q) {
    const float id = d != 0.f ? 1.0f / d : 0.f;
    for (int i = 0; i < n; i++)
        q[i] = round_clamp((x[i] - m) * id, 0, nmax);
}

void lf_quantize_row_q4_1_ref(const float *x, void *y, int64_t n) {
    lf_block_q4_1 *b = y;
    float w[LF_QK4_1], s, m;
    int q[LF_QK4_1];
    for (int64_t i = 0; i < n / LF_QK4_1; i++, b++, x += LF_QK4_1) {
        error_weights(x, LF_QK4_1, w);
        search_asym(x, w, LF_QK4_1, 15, 10, false, &s, &m);
        b->d = scale_half(s);
        b->m = scale_half(m);
        requant_asym(x, LF_QK4_1, H2F(b->d), H2F(b->m), 15, q);
        for (int j = 0; j < 16; j++)
            b->qs[j] = (uint8_t)(q[j] | (q[j + 16] << 4));
    }
}

void lf_quantize_row_q5_1_ref(const float *x, void *y, int64_t n) {
    lf_block_q5_1 *b = y;
    float w[LF_QK5_1], s, m;
    int q[LF_QK5_1];
    for (int64_t i = 0; i < n / LF_QK5_1; i++, b++, x += LF_QK5_1) {
        error_weights(x, LF_QK5_1, w);
        search_asym(x, w, LF_QK5_1, 31, 10, false, &s, &m);
        b->d = scale_half(s);
        b->m = scale_half(m);
        requant_asym(x, LF_QK5_1, H2F(b->d), H2F(b->m), 31, q);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            b->qs[j] = (uint8_t)((q[j] & 0xf) | ((q[j + 16] & 0xf) << 4));
            qh |= (uint32_t)(q[j] >> 4) << j;
            qh |= (uint32_t)(q[j + 16] >> 4) << (j + 16);
        }
        memcpy(b->qh, &qh, sizeof qh);
    }
}

void lf_quantize_row_iq4_nl_ref(const float *x, void *y, int64_t n) {
    lf_block_iq4_nl *b = y;
    float w[LF_QK4_NL];
    for (int64_t i = 0; i < n / LF_QK4_NL; i++, b++, x += LF_QK4_NL) {
        error_weights(x, LF_QK4_NL, w);
        b->d = scale_half(search_iq4(x, w, LF_QK4_NL, 7));
        const float d = H2F(b->d), id = d != 0.f ? 1.0f / d : 0.f;
        for (int j = 0; j < 16; j++)
            b->qs[j] = (uint8_t)(iq4_index(x[j] * id) | (iq4_index(x[j + 16] * id) << 4));
    }
}

/* MXFP4 as GGML's reference quantizer: the shared exponent from the
 * block's largest magnitude (floor(log2 amax) − 2, so 6·2^(e−127) ≥
 * amax), then each value to the nearest level, the lower code among
 * equals. */
static uint8_t mxfp4_index(float x, float d) {
    uint8_t best = 0;
    float best_err = fabsf(lf_mxfp4_values[0] * d - x);
    for (uint8_t i = 1; i < 16; i++) {
        float err = fabsf(lf_mxfp4_values[i] * d - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return best;
}

void lf_quantize_row_mxfp4_ref(const float *x, void *y, int64_t n) {
    lf_block_mxfp4 *b = y;
    for (int64_t i = 0; i < n / LF_QK_MXFP4; i++, b++, x += LF_QK_MXFP4) {
        float amax = 0;
        for (int j = 0; j < LF_QK_MXFP4; j++)
            amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        b->e = amax > 0 ? (uint8_t)(floorf(log2f(amax)) - 2 + 127) : 0;
        const float d = lf_e8m0_half_to_float(b->e);
        for (int j = 0; j < 16; j++)
            b->qs[j] = (uint8_t)(mxfp4_index(x[j], d) | (mxfp4_index(x[j + 16], d) << 4));
    }
}

/* ---- activation formats (max-magnitude scale, ties away from zero as
 * GGML's reference rounds them) ---------------------------------------- */

static inline int8_t round_q8(float v) {
    float r = roundf(v);
    if (r != r)                          /* NaN (inf · 0): no defined int */
        return 0;
    return (int8_t)(r > 127.f ? 127 : r < -127.f ? -127 : r);
}

void lf_quantize_row_q8_0_ref(const float *x, void *y, int64_t n) {
    lf_block_q8_0 *b = y;
    for (int64_t i = 0; i < n / LF_QK8_0; i++, b++, x += LF_QK8_0) {
        float amax = 0;
        for (int j = 0; j < LF_QK8_0; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.f, id = d != 0.f ? 1.0f / d : 0.f;
        b->d = scale_half(d);
        for (int j = 0; j < LF_QK8_0; j++)
            b->qs[j] = round_q8(x[j] * id);
    }
}

/* s = d · Σq, with d before its fp16 rounding (as GGML computes it). */
void lf_quantize_row_q8_1_ref(const float *x, void *y, int64_t n) {
    lf_block_q8_1 *b = y;
    for (int64_t i = 0; i < n / LF_QK8_1; i++, b++, x += LF_QK8_1) {
        float amax = 0;
        for (int j = 0; j < LF_QK8_1; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.f, id = d != 0.f ? 1.0f / d : 0.f;
        int sum = 0;
        for (int j = 0; j < LF_QK8_1; j++) {
            b->qs[j] = round_q8(x[j] * id);
            sum += b->qs[j];
        }
        b->d = scale_half(d);
        b->s = scale_half(d * (float)sum);
    }
}

/* Q8_K: float d = amax / 127, quants in [−127, 127], bsums = sums of each
 * group of 16 quants (the K-quant dots fold the mins in with them). */
void lf_quantize_row_q8_K_ref(const float *x, void *y, int64_t n) {
    lf_block_q8_K *b = y;
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++, x += LF_QK_K) {
        float amax = 0;
        for (int j = 0; j < LF_QK_K; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        if (!(amax > 0)) {
            memset(b, 0, sizeof *b);
            continue;
        }
        const float iscale = 127.f / amax;
        for (int j = 0; j < LF_QK_K; j++)
            b->qs[j] = round_q8(x[j] * iscale);
        for (int g = 0; g < LF_QK_K / 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += b->qs[16 * g + l];
            b->bsums[g] = (int16_t)s;
        }
        b->d = 1.0f / iscale;
    }
}

/* ---- K-quants ---------------------------------------------------------- */

/* Two-level scales with mins (Q2_K, Q4_K, Q5_K): sub-block (scale, min)
 * found by search_asym, then quantized to `bits` bits under fp16 d / dmin
 * chosen so the largest maps to the top code. ls/lm receive the codes;
 * eff_s/eff_m the values the decoder will use. */
static void k_scales_mins(const float *x, const float *w, int nsub, int sublen, int nmax,
                          int bits, lf_half *d_out, lf_half *dmin_out, int *ls, int *lm,
                          float *eff_s, float *eff_m) {
    float sc[16], mn[16];
    for (int s = 0; s < nsub; s++) {
        float m;
        search_asym(x + s * sublen, w + s * sublen, sublen, nmax, 12, true, &sc[s], &m);
        mn[s] = -m;
    }
    const int top = (1 << bits) - 1;
    const float max_s = max_of(sc, nsub), max_m = max_of(mn, nsub);
    *d_out = scale_half(max_s / top);
    *dmin_out = scale_half(max_m / top);
    const float d = H2F(*d_out), dmin = H2F(*dmin_out);
    const float id = d > 0 ? 1.0f / d : 0.f, idmin = dmin > 0 ? 1.0f / dmin : 0.f;
    for (int s = 0; s < nsub; s++) {
        ls[s] = round_clamp(sc[s] * id, 0, top);
        lm[s] = round_clamp(mn[s] * idmin, 0, top);
        eff_s[s] = d * ls[s];
        eff_m[s] = dmin * lm[s];
    }
}

/* Quants of sub-block s against its decoded scale and min. */
static void k_requant(const float *x, int sublen, float s, float m, int nmax, int *q) {
    const float is = s > 0 ? 1.0f / s : 0.f;
    for (int i = 0; i < sublen; i++)
        q[i] = round_clamp((x[i] + m) * is, 0, nmax);
}

void lf_quantize_row_q2_K_ref(const float *x, void *y, int64_t n) {
    lf_block_q2_K *b = y;
    float w[LF_QK_K], es[16], em[16];
    int ls[16], lm[16], q[LF_QK_K];
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++, x += LF_QK_K) {
        error_weights(x, LF_QK_K, w);
        k_scales_mins(x, w, 16, 16, 3, 4, &b->d, &b->dmin, ls, lm, es, em);
        for (int g = 0; g < 16; g++) {
            b->scales[g] = (uint8_t)(ls[g] | (lm[g] << 4));
            k_requant(x + 16 * g, 16, es[g], em[g], 3, q + 16 * g);
        }
        /* 2-bit planes: byte l of half h holds elements 128h + 32p + l at
         * bits 2p. */
        memset(b->qs, 0, sizeof b->qs);
        for (int h = 0; h < 2; h++)
            for (int p = 0; p < 4; p++)
                for (int l = 0; l < 32; l++)
                    b->qs[32 * h + l] |= (uint8_t)(q[128 * h + 32 * p + l] << (2 * p));
    }
}

/* Packs 8 six-bit scales and mins into Q4_K/Q5_K's 12 bytes (the inverse
 * of the layout described in formats.c). */
static void k4_pack_scales(uint8_t *s, const int *ls, const int *lm) {
    memset(s, 0, LF_K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] |= (uint8_t)(ls[j] & 63);
            s[j + 4] |= (uint8_t)(lm[j] & 63);
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xf) | ((lm[j] & 0xf) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

void lf_quantize_row_q4_K_ref(const float *x, void *y, int64_t n) {
    lf_block_q4_K *b = y;
    float w[LF_QK_K], es[8], em[8];
    int ls[8], lm[8], q[LF_QK_K];
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++, x += LF_QK_K) {
        error_weights(x, LF_QK_K, w);
        k_scales_mins(x, w, 8, 32, 15, 6, &b->d, &b->dmin, ls, lm, es, em);
        k4_pack_scales(b->scales, ls, lm);
        for (int s = 0; s < 8; s++)
            k_requant(x + 32 * s, 32, es[s], em[s], 15, q + 32 * s);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b->qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
}

void lf_quantize_row_q5_K_ref(const float *x, void *y, int64_t n) {
    lf_block_q5_K *b = y;
    float w[LF_QK_K], es[8], em[8];
    int ls[8], lm[8], q[LF_QK_K];
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++, x += LF_QK_K) {
        error_weights(x, LF_QK_K, w);
        k_scales_mins(x, w, 8, 32, 31, 6, &b->d, &b->dmin, ls, lm, es, em);
        k4_pack_scales(b->scales, ls, lm);
        for (int s = 0; s < 8; s++)
            k_requant(x + 32 * s, 32, es[s], em[s], 31, q + 32 * s);
        memset(b->qh, 0, sizeof b->qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int q1 = q[64 * c + l], q2 = q[64 * c + 32 + l];
                b->qs[32 * c + l] = (uint8_t)((q1 & 0xf) | ((q2 & 0xf) << 4));
                b->qh[l] |= (uint8_t)(((q1 >> 4) << (2 * c)) | ((q2 >> 4) << (2 * c + 1)));
            }
        }
    }
}

/* Symmetric two-level scales (Q3_K, Q6_K): 16 groups of 16 searched on
 * [−nneg, npos], their scales quantized to signed codes in [lo, hi] under
 * a fp16 d that maps the largest-magnitude scale to lo. */
static void k_sym_scales(const float *x, const float *w, int nneg, int npos, int lo, int hi,
                         lf_half *d_out, int *ls, float *eff) {
    float sc[16];
    for (int g = 0; g < 16; g++)
        sc[g] = search_sym(x + 16 * g, w + 16 * g, 16, nneg, npos, 4, 0.1f * nneg / 8);
    const float vmax = max_signed(sc, 16);
    *d_out = scale_half(vmax != 0.f ? vmax / (float)lo : 0.f);
    const float d = H2F(*d_out), id = d != 0.f ? 1.0f / d : 0.f;
    for (int g = 0; g < 16; g++) {
        ls[g] = round_clamp(sc[g] * id, lo, hi);
        eff[g] = d * ls[g];
    }
}

void lf_quantize_row_q3_K_ref(const float *x, void *y, int64_t n) {
    lf_block_q3_K *b = y;
    float w[LF_QK_K], eff[16];
    int ls[16], q[LF_QK_K];
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++, x += LF_QK_K) {
        error_weights(x, LF_QK_K, w);
        k_sym_scales(x, w, 4, 3, -32, 31, &b->d, ls, eff);
        memset(b->scales, 0, sizeof b->scales);
        for (int g = 0; g < 16; g++) {
            int v = ls[g] + 32;
            if (g < 8)
                b->scales[g] |= (uint8_t)(v & 0xf);
            else
                b->scales[g - 8] |= (uint8_t)((v & 0xf) << 4);
            b->scales[8 + (g & 3)] |= (uint8_t)((v >> 4) << (2 * (g >> 2)));
            requant_sym(x + 16 * g, 16, eff[g], 4, 3, q + 16 * g);
        }
        /* Biased quant v = q + 4: low 2 bits into the planes as Q2_K, the
         * third bit into hmask bit r for the r-th run of 32. */
        memset(b->qs, 0, sizeof b->qs);
        memset(b->hmask, 0, sizeof b->hmask);
        for (int h = 0; h < 2; h++) {
            for (int p = 0; p < 4; p++) {
                for (int l = 0; l < 32; l++) {
                    int v = q[128 * h + 32 * p + l] + 4;
                    b->qs[32 * h + l] |= (uint8_t)((v & 3) << (2 * p));
                    if (v & 4)
                        b->hmask[l] |= (uint8_t)(1u << (4 * h + p));
                }
            }
        }
    }
}

void lf_quantize_row_q6_K_ref(const float *x, void *y, int64_t n) {
    lf_block_q6_K *b = y;
    float w[LF_QK_K], eff[16];
    int ls[16], q[LF_QK_K];
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++, x += LF_QK_K) {
        error_weights(x, LF_QK_K, w);
        k_sym_scales(x, w, 32, 31, -128, 127, &b->d, ls, eff);
        for (int g = 0; g < 16; g++) {
            b->scales[g] = (int8_t)ls[g];
            requant_sym(x + 16 * g, 16, eff[g], 32, 31, q + 16 * g);
        }
        for (int h = 0; h < 2; h++) {
            const int *qq = q + 128 * h;
            uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                int q1 = qq[l] + 32, q2 = qq[l + 32] + 32;
                int q3 = qq[l + 64] + 32, q4 = qq[l + 96] + 32;
                ql[l] = (uint8_t)((q1 & 0xf) | ((q3 & 0xf) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xf) | ((q4 & 0xf) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) |
                                  ((q4 >> 4) << 6));
            }
        }
    }
}

/* IQ4_XS: 8 sub-blocks of 32, each with its own non-linear-grid scale,
 * those scales quantized to signed 6-bit codes (biased by 32) under an
 * fp16 d that maps the largest magnitude to −32. */
void lf_quantize_row_iq4_xs_ref(const float *x, void *y, int64_t n) {
    lf_block_iq4_xs *b = y;
    float w[LF_QK_K], sc[8];
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++, x += LF_QK_K) {
        error_weights(x, LF_QK_K, w);
        for (int s = 0; s < 8; s++)
            sc[s] = search_iq4(x + 32 * s, w + 32 * s, 32, 7);
        const float vmax = max_signed(sc, 8);
        b->d = scale_half(vmax != 0.f ? vmax / -32.f : 0.f);
        const float d = H2F(b->d), id = d != 0.f ? 1.0f / d : 0.f;
        b->scales_h = 0;
        memset(b->scales_l, 0, sizeof b->scales_l);
        for (int s = 0; s < 8; s++) {
            int l = round_clamp(sc[s] * id, -32, 31);
            int v = l + 32;
            b->scales_l[s / 2] |= (uint8_t)((v & 0xf) << (4 * (s % 2)));
            b->scales_h |= (uint16_t)((v >> 4) << (2 * s));
            const float dl = d * l, idl = dl != 0.f ? 1.0f / dl : 0.f;
            const float *xs = x + 32 * s;
            uint8_t *qs = b->qs + 16 * s;
            for (int j = 0; j < 16; j++)
                qs[j] = (uint8_t)(iq4_index(xs[j] * idl) | (iq4_index(xs[j + 16] * idl) << 4));
        }
    }
}
