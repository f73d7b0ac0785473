/*
 * Scalar reference dot products, one per weight type, written straight from
 * the GGML block layouts: every SIMD kernel is tested against these, and the
 * type trait table (formats.c) points at them. Within a block (or a K-quant
 * super-block) the products of integer quants are summed exactly in 32-bit
 * integers, scaled once by the float block scales, and the per-block results
 * are accumulated in double so that the reference itself adds no visible
 * rounding. Speed is not a goal here; clarity about the layout is.
 *
 * Pairing (x = weights, y = activations): f32·f32, f16·f16, bf16·bf16,
 * q8_0/q4_0/q5_0/iq4_nl · q8_0, q4_1/q5_1 · q8_1, K-quants and iq4_xs · q8_K.
 * Activations never hold -128 (the quantizers clamp to ±127); SIMD kernels
 * rely on it, the reference does not care.
 */
#include "kernels/internal.h"

#include <string.h>

static inline float h2f(lf_half h) { return lf_half_to_float(h); }

void lf_vec_dot_f32_ref(int n, float *s, const void *x, const void *y) {
    const float *a = x, *b = y;
    double acc = 0;
    for (int i = 0; i < n; i++)
        acc += (double)a[i] * (double)b[i];
    *s = (float)acc;
}

void lf_vec_dot_f16_ref(int n, float *s, const void *x, const void *y) {
    const lf_half *a = x, *b = y;
    double acc = 0;
    for (int i = 0; i < n; i++)
        acc += (double)h2f(a[i]) * (double)h2f(b[i]);
    *s = (float)acc;
}

void lf_vec_dot_bf16_ref(int n, float *s, const void *x, const void *y) {
    const lf_bf16 *a = x, *b = y;
    double acc = 0;
    for (int i = 0; i < n; i++)
        acc += (double)lf_bf16_to_float(a[i]) * (double)lf_bf16_to_float(b[i]);
    *s = (float)acc;
}

/* Q4_0: byte j of qs holds element j (low nibble) and j+16 (high nibble),
 * both offset by 8. */
void lf_vec_dot_q4_0_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_q4_0 *xb = x;
    const lf_block_q8_0 *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK4_0; b++) {
        int32_t sumi = 0;
        for (int j = 0; j < LF_QK4_0 / 2; j++) {
            sumi += ((xb[b].qs[j] & 0x0F) - 8) * yb[b].qs[j];
            sumi += ((xb[b].qs[j] >> 4) - 8) * yb[b].qs[j + 16];
        }
        acc += (double)sumi * h2f(xb[b].d) * h2f(yb[b].d);
    }
    *s = (float)acc;
}

/* Q4_1: unsigned nibbles, w = d*q + m; with y = dy*qy the m term needs the
 * sum of the activations, which Q8_1 carries as s = dy * sum(qy). */
void lf_vec_dot_q4_1_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_q4_1 *xb = x;
    const lf_block_q8_1 *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK4_1; b++) {
        int32_t sumi = 0;
        for (int j = 0; j < LF_QK4_1 / 2; j++) {
            sumi += (xb[b].qs[j] & 0x0F) * yb[b].qs[j];
            sumi += (xb[b].qs[j] >> 4) * yb[b].qs[j + 16];
        }
        acc += (double)sumi * h2f(xb[b].d) * h2f(yb[b].d) +
               (double)h2f(xb[b].m) * h2f(yb[b].s);
    }
    *s = (float)acc;
}

/* Q5_0/Q5_1: the fifth bit of element j is bit j of the little-endian
 * 32-bit qh. */
static inline uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 |
           (uint32_t)qh[3] << 24;
}

void lf_vec_dot_q5_0_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_q5_0 *xb = x;
    const lf_block_q8_0 *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK5_0; b++) {
        uint32_t qh = load_qh(xb[b].qh);
        int32_t sumi = 0;
        for (int j = 0; j < LF_QK5_0 / 2; j++) {
            int lo = (xb[b].qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
            int hi = (xb[b].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            sumi += (lo - 16) * yb[b].qs[j] + (hi - 16) * yb[b].qs[j + 16];
        }
        acc += (double)sumi * h2f(xb[b].d) * h2f(yb[b].d);
    }
    *s = (float)acc;
}

void lf_vec_dot_q5_1_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_q5_1 *xb = x;
    const lf_block_q8_1 *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK5_1; b++) {
        uint32_t qh = load_qh(xb[b].qh);
        int32_t sumi = 0;
        for (int j = 0; j < LF_QK5_1 / 2; j++) {
            int lo = (xb[b].qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
            int hi = (xb[b].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            sumi += lo * yb[b].qs[j] + hi * yb[b].qs[j + 16];
        }
        acc += (double)sumi * h2f(xb[b].d) * h2f(yb[b].d) +
               (double)h2f(xb[b].m) * h2f(yb[b].s);
    }
    *s = (float)acc;
}

void lf_vec_dot_q8_0_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_q8_0 *xb = x, *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK8_0; b++) {
        int32_t sumi = 0;
        for (int j = 0; j < LF_QK8_0; j++)
            sumi += xb[b].qs[j] * yb[b].qs[j];
        acc += (double)sumi * h2f(xb[b].d) * h2f(yb[b].d);
    }
    *s = (float)acc;
}

void lf_vec_dot_iq4_nl_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_iq4_nl *xb = x;
    const lf_block_q8_0 *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK4_NL; b++) {
        int32_t sumi = 0;
        for (int j = 0; j < LF_QK4_NL / 2; j++) {
            sumi += lf_iq4nl_values[xb[b].qs[j] & 0x0F] * yb[b].qs[j];
            sumi += lf_iq4nl_values[xb[b].qs[j] >> 4] * yb[b].qs[j + 16];
        }
        acc += (double)sumi * h2f(xb[b].d) * h2f(yb[b].d);
    }
    *s = (float)acc;
}

void lf_vec_dot_mxfp4_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_mxfp4 *xb = x;
    const lf_block_q8_0 *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK_MXFP4; b++) {
        int32_t sumi = 0;
        for (int j = 0; j < LF_QK_MXFP4 / 2; j++) {
            sumi += lf_mxfp4_values[xb[b].qs[j] & 0x0F] * yb[b].qs[j];
            sumi += lf_mxfp4_values[xb[b].qs[j] >> 4] * yb[b].qs[j + 16];
        }
        acc += (double)sumi * lf_e8m0_half_to_float(xb[b].e) * h2f(yb[b].d);
    }
    *s = (float)acc;
}

/* ---- K-quants: super-blocks of 256 against Q8_K (float d, int8 qs) ---- */

/* Q2_K: 16 sub-blocks of 16; scales[i] = scale (low nibble) | min (high
 * nibble). Element 128h + 32j + l is bits 2j..2j+1 of qs[32h + l] and
 * belongs to sub-block 8h + 2j + l/16. w = d*sc*q - dmin*m. */
void lf_vec_dot_q2_K_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_q2_K *xb = x;
    const lf_block_q8_K *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK_K; b++) {
        const int8_t *q8 = yb[b].qs;
        int32_t isum = 0, msum = 0;
        for (int e = 0; e < LF_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = (xb[b].qs[32 * h + l] >> (2 * j)) & 3;
            int sub = 8 * h + 2 * j + l / 16;
            isum += (xb[b].scales[sub] & 0x0F) * q * q8[e];
            msum += (xb[b].scales[sub] >> 4) * q8[e];
        }
        acc += (double)yb[b].d * ((double)h2f(xb[b].d) * isum -
                                  (double)h2f(xb[b].dmin) * msum);
    }
    *s = (float)acc;
}

/* Q3_K: 16 signed 6-bit scales (lf_q3_K_scale). Element 128h + 32j + l has
 * low bits 2j.. of qs[32h + l] and high bit (4h + j) of hmask[l]; a clear
 * high bit means -4. */
void lf_vec_dot_q3_K_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_q3_K *xb = x;
    const lf_block_q8_K *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK_K; b++) {
        const int8_t *q8 = yb[b].qs;
        int32_t isum = 0;
        for (int e = 0; e < LF_QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = (xb[b].qs[32 * h + l] >> (2 * j)) & 3;
            if (!(xb[b].hmask[l] & (1 << (4 * h + j))))
                q -= 4;
            isum += lf_q3_K_scale(xb[b].scales, 8 * h + 2 * j + l / 16) * q * q8[e];
        }
        acc += (double)yb[b].d * h2f(xb[b].d) * isum;
    }
    *s = (float)acc;
}

/* Q4_K/Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins
 * (lf_k4_scale_min). Element 64p + l (l < 32) is the low nibble of qs[32p + l] (sub-block 2p),
 * element 64p + 32 + l its high nibble (sub-block 2p + 1). */
void lf_vec_dot_q4_K_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_q4_K *xb = x;
    const lf_block_q8_K *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK_K; b++) {
        const int8_t *q8 = yb[b].qs;
        int32_t isum = 0, msum = 0;
        for (int sub = 0; sub < 8; sub++) {
            int sc, mn;
            lf_k4_scale_min(xb[b].scales, sub, &sc, &mn);
            int32_t qsum = 0, ysum = 0;
            for (int l = 0; l < 32; l++) {
                uint8_t byte = xb[b].qs[32 * (sub / 2) + l];
                int q = sub % 2 ? byte >> 4 : byte & 0x0F;
                qsum += q * q8[32 * sub + l];
                ysum += q8[32 * sub + l];
            }
            isum += sc * qsum;
            msum += mn * ysum;
        }
        acc += (double)yb[b].d * ((double)h2f(xb[b].d) * isum -
                                  (double)h2f(xb[b].dmin) * msum);
    }
    *s = (float)acc;
}

/* Q5_K: as Q4_K plus a fifth bit: element 32*sub + l has bit sub of
 * qh[l]. */
void lf_vec_dot_q5_K_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_q5_K *xb = x;
    const lf_block_q8_K *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK_K; b++) {
        const int8_t *q8 = yb[b].qs;
        int32_t isum = 0, msum = 0;
        for (int sub = 0; sub < 8; sub++) {
            int sc, mn;
            lf_k4_scale_min(xb[b].scales, sub, &sc, &mn);
            int32_t qsum = 0, ysum = 0;
            for (int l = 0; l < 32; l++) {
                uint8_t byte = xb[b].qs[32 * (sub / 2) + l];
                int q = sub % 2 ? byte >> 4 : byte & 0x0F;
                q |= ((xb[b].qh[l] >> sub) & 1) << 4;
                qsum += q * q8[32 * sub + l];
                ysum += q8[32 * sub + l];
            }
            isum += sc * qsum;
            msum += mn * ysum;
        }
        acc += (double)yb[b].d * ((double)h2f(xb[b].d) * isum -
                                  (double)h2f(xb[b].dmin) * msum);
    }
    *s = (float)acc;
}

/* Q6_K: element 128h + 32k + l (k < 4, l < 32): low nibble from
 * ql[64h + l + 32*(k%2)] (low nibble for k < 2, high for k >= 2), top two
 * bits 2k.. of qh[32h + l]; value q - 32; int8 scale per 16 elements,
 * index 8h + 2k + l/16. */
void lf_vec_dot_q6_K_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_q6_K *xb = x;
    const lf_block_q8_K *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK_K; b++) {
        const int8_t *q8 = yb[b].qs;
        int32_t isum = 0;
        for (int e = 0; e < LF_QK_K; e++) {
            int h = e / 128, k = (e % 128) / 32, l = e % 32;
            uint8_t lb = xb[b].ql[64 * h + l + 32 * (k % 2)];
            int q = (k < 2 ? lb & 0x0F : lb >> 4) |
                    ((xb[b].qh[32 * h + l] >> (2 * k)) & 3) << 4;
            isum += xb[b].scales[8 * h + 2 * k + l / 16] * (q - 32) * q8[e];
        }
        acc += (double)yb[b].d * h2f(xb[b].d) * isum;
    }
    *s = (float)acc;
}

/* IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (low 4 bits in scales_l,
 * nibble per sub-block; top 2 bits in scales_h, 2 bits per sub-block),
 * stored +32; sub-block i's 32 values are the IQ4_NL layout of
 * qs[16i .. 16i+15]. */
void lf_vec_dot_iq4_xs_ref(int n, float *s, const void *x, const void *y) {
    const lf_block_iq4_xs *xb = x;
    const lf_block_q8_K *yb = y;
    double acc = 0;
    for (int b = 0; b < n / LF_QK_K; b++) {
        const int8_t *q8 = yb[b].qs;
        int32_t isum = 0;
        for (int i = 0; i < 8; i++) {
            int ls = ((xb[b].scales_l[i / 2] >> (4 * (i % 2))) & 0x0F) |
                     ((xb[b].scales_h >> (2 * i)) & 3) << 4;
            int32_t sub = 0;
            for (int j = 0; j < 16; j++) {
                sub += lf_iq4nl_values[xb[b].qs[16 * i + j] & 0x0F] * q8[32 * i + j];
                sub += lf_iq4nl_values[xb[b].qs[16 * i + j] >> 4] * q8[32 * i + j + 16];
            }
            isum += (ls - 32) * sub;
        }
        acc += (double)yb[b].d * h2f(xb[b].d) * isum;
    }
    *s = (float)acc;
}
