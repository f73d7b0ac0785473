/*
 * The GGML-compatible tensor formats: IEEE half and bfloat16 conversion, the
 * per-type trait table (block size, bytes per block, dequantizer, reference
 * quantizer, dot product and the activation type it expects), the lf_type_*
 * helpers, and the exact dequantizers of every supported block layout.
 *
 * Dequantization follows the GGML format specification bit for bit: the
 * arithmetic order (scale × quant − min, in float) matches what llama.cpp's
 * reference code computes, so a tensor read here equals the one GGML reads.
 * Everything is plain scalar C; the speed-critical paths are the dot
 * products in vecdot_ref.c and arch/, not these.
 */
#include "kernels/internal.h"
#include "kernels/kernels.h"

#include <string.h>
#include <strings.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "localfit's block formats assume a little-endian host (as GGUF does)"
#endif

/* ---- half / bfloat16 -------------------------------------------------- */

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float lf_half_to_float(lf_half h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f)                       /* inf / NaN: keep the payload */
        return bits_f32(sign | 0x7f800000u | (mant << 13));
    if (exp != 0)                          /* normal: rebias 15 → 127 */
        return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0)
        return bits_f32(sign);
    /* Subnormal half = mant · 2^-24: normalise into a float. */
    uint32_t e = 113;                      /* exponent of 2^-14, biased 127 */
    while (!(mant & 0x400)) {
        mant <<= 1;
        e--;
    }
    return bits_f32(sign | (e << 23) | ((mant & 0x3ff) << 13));
}

lf_half lf_float_to_half(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) {                /* inf, or NaN made quiet */
        if (a == 0x7f800000u)
            return sign | 0x7c00;
        return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
    }
    if (a >= 0x477ff000u)                  /* ≥ 65520 rounds past the max */
        return sign | 0x7c00;
    if (a >= 0x38800000u) {                /* normal half range */
        uint32_t h = (a >> 13) - (112u << 10);
        uint32_t rem = a & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
            h++;                           /* a carry bumps the exponent */
        return (uint16_t)(sign | h);
    }
    if (a <= 0x33000000u)                  /* ≤ 2^-25: ties to even → 0 */
        return sign;
    /* Subnormal half: the value in units of 2^-24, rounded to even. The
     * result may be 0x400, which is exactly the smallest normal. */
    uint32_t e = a >> 23;
    uint32_t m = (a & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e;              /* 14 … 24 */
    uint32_t h = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

float lf_bf16_to_float(lf_bf16 h) { return bits_f32((uint32_t)h << 16); }

lf_bf16 lf_float_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)   /* NaN: truncate, force quiet */
        return (lf_bf16)((u >> 16) | 0x40);
    return (lf_bf16)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* ---- dequantizers ----------------------------------------------------- */

const int8_t lf_iq4nl_values[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

const int8_t lf_mxfp4_values[16] = {
    0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12,
};

#define H2F lf_half_to_float

static void f32_to_float(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void f16_to_float(const void *src, float *dst, int64_t n) {
    const lf_half *x = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = H2F(x[i]);
}

static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const lf_bf16 *x = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = lf_bf16_to_float(x[i]);
}

/* Q4_0: byte j holds element j (low nibble) and j + 16 (high nibble). */
static void q4_0_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / LF_QK4_0; i++, b++, dst += LF_QK4_0) {
        const float d = H2F(b->d);
        for (int j = 0; j < LF_QK4_0 / 2; j++) {
            dst[j] = ((b->qs[j] & 0xf) - 8) * d;
            dst[j + 16] = ((b->qs[j] >> 4) - 8) * d;
        }
    }
}

static void q4_1_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / LF_QK4_1; i++, b++, dst += LF_QK4_1) {
        const float d = H2F(b->d), m = H2F(b->m);
        for (int j = 0; j < LF_QK4_1 / 2; j++) {
            dst[j] = (b->qs[j] & 0xf) * d + m;
            dst[j + 16] = (b->qs[j] >> 4) * d + m;
        }
    }
}

/* Q5_0/Q5_1: the fifth bit of element j is bit j of the 32-bit qh. */
static void q5_0_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / LF_QK5_0; i++, b++, dst += LF_QK5_0) {
        const float d = H2F(b->d);
        uint32_t qh;
        memcpy(&qh, b->qh, sizeof qh);
        for (int j = 0; j < LF_QK5_0 / 2; j++) {
            int lo = (b->qs[j] & 0xf) | (int)(((qh >> j) & 1) << 4);
            int hi = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            dst[j] = (lo - 16) * d;
            dst[j + 16] = (hi - 16) * d;
        }
    }
}

static void q5_1_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / LF_QK5_1; i++, b++, dst += LF_QK5_1) {
        const float d = H2F(b->d), m = H2F(b->m);
        uint32_t qh;
        memcpy(&qh, b->qh, sizeof qh);
        for (int j = 0; j < LF_QK5_1 / 2; j++) {
            int lo = (b->qs[j] & 0xf) | (int)(((qh >> j) & 1) << 4);
            int hi = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            dst[j] = lo * d + m;
            dst[j + 16] = hi * d + m;
        }
    }
}

static void q8_0_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / LF_QK8_0; i++, b++, dst += LF_QK8_0) {
        const float d = H2F(b->d);
        for (int j = 0; j < LF_QK8_0; j++)
            dst[j] = b->qs[j] * d;
    }
}

static void q8_1_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_q8_1 *b = src;
    for (int64_t i = 0; i < n / LF_QK8_1; i++, b++, dst += LF_QK8_1) {
        const float d = H2F(b->d);
        for (int j = 0; j < LF_QK8_1; j++)
            dst[j] = b->qs[j] * d;
    }
}

/* Q2_K: 16 groups of 16; scales[g] = 4-bit scale (low) | 4-bit min (high).
 * Each 32-byte half of qs covers 128 weights: its four 2-bit planes
 * (shift 0, 2, 4, 6) are four runs of 32, each run two groups of 16. */
static void q2_K_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_q2_K *b = src;
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++) {
        const float d = H2F(b->d), dmin = H2F(b->dmin);
        const uint8_t *q = b->qs;
        int g = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int k = 0; k < 2; k++, g++) {
                    const float dl = d * (b->scales[g] & 0xf);
                    const float ml = dmin * (b->scales[g] >> 4);
                    for (int l = 0; l < 16; l++)
                        *dst++ = dl * ((q[16 * k + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/* Q3_K's 16 signed 6-bit scales: low nibbles in bytes 0-7 (group g in byte
 * g % 8, high nibble for g ≥ 8), top two bits in bytes 8-11 (group g in
 * byte 8 + g % 4 at bit 2·(g / 4)); stored with a +32 bias. */
static inline int q3_K_scale(const uint8_t *s, int g) {
    int lo = (g < 8 ? s[g] : s[g - 8] >> 4) & 0xf;
    int hi = (s[8 + (g & 3)] >> (2 * (g >> 2))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* Q3_K: same 2-bit plane walk as Q2_K; the third bit comes from hmask,
 * bit p of hmask[l] for the p-th run of 32 (runs counted over the whole
 * block), and a clear bit subtracts 4: quants are −4 … 3. */
static void q3_K_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_q3_K *b = src;
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++) {
        const float d = H2F(b->d);
        const uint8_t *q = b->qs;
        int g = 0, run = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, run++) {
                const uint8_t m = (uint8_t)(1u << run);
                for (int k = 0; k < 2; k++, g++) {
                    const float dl = d * q3_K_scale(b->scales, g);
                    for (int l = 16 * k; l < 16 * k + 16; l++) {
                        int v = ((q[l] >> shift) & 3) - ((b->hmask[l] & m) ? 0 : 4);
                        *dst++ = dl * v;
                    }
                }
            }
        }
    }
}

/* The 6-bit scale and min of sub-block j (0-7) in Q4_K/Q5_K's 12 bytes:
 * j < 4 sit in the low 6 bits of bytes j (scale) and j+4 (min); j ≥ 4 keep
 * their low 4 bits in byte j+4 (scale low nibble, min high nibble) and
 * their top 2 bits in the spare top bits of bytes j-4 (scale) and j (min). */
static inline void k4_scale_min(const uint8_t *s, int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Q4_K: 4 chunks of 64 weights, each 32 bytes: low nibbles are sub-block
 * 2c, high nibbles sub-block 2c+1. */
static void q4_K_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_q4_K *b = src;
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++) {
        const float d = H2F(b->d), dmin = H2F(b->dmin);
        const uint8_t *q = b->qs;
        for (int c = 0; c < 4; c++, q += 32) {
            int sc, mn;
            k4_scale_min(b->scales, 2 * c, &sc, &mn);
            const float d1 = d * sc, m1 = dmin * mn;
            k4_scale_min(b->scales, 2 * c + 1, &sc, &mn);
            const float d2 = d * sc, m2 = dmin * mn;
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * (q[l] & 0xf) - m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* Q5_K: Q4_K plus a fifth bit: bit s of qh[l] for sub-block s, element l. */
static void q5_K_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_q5_K *b = src;
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++) {
        const float d = H2F(b->d), dmin = H2F(b->dmin);
        const uint8_t *q = b->qs;
        for (int c = 0; c < 4; c++, q += 32) {
            int sc, mn;
            k4_scale_min(b->scales, 2 * c, &sc, &mn);
            const float d1 = d * sc, m1 = dmin * mn;
            k4_scale_min(b->scales, 2 * c + 1, &sc, &mn);
            const float d2 = d * sc, m2 = dmin * mn;
            const uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * ((q[l] & 0xf) + ((b->qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d2 * ((q[l] >> 4) + ((b->qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

/* Q6_K: per 128 weights, 64 bytes of ql and 32 of qh. Element l (0-31) of
 * the four runs of 32 takes its low nibble from ql[l] / ql[l+32] (low then
 * high nibbles) and its top two bits from qh[l] at bits 0, 2, 4, 6. */
static void q6_K_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_q6_K *b = src;
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++) {
        const float d = H2F(b->d);
        const uint8_t *ql = b->ql, *qh = b->qh;
        const int8_t *sc = b->scales;
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, dst += 128) {
            for (int l = 0; l < 32; l++) {
                const int s = l / 16;
                int q1 = ((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                dst[l] = d * sc[s] * q1;
                dst[l + 32] = d * sc[s + 2] * q2;
                dst[l + 64] = d * sc[s + 4] * q3;
                dst[l + 96] = d * sc[s + 6] * q4;
            }
        }
    }
}

static void q8_K_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_q8_K *b = src;
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++)
        for (int j = 0; j < LF_QK_K; j++)
            *dst++ = b->d * b->qs[j];
}

/* IQ4_NL: Q4_0's nibble layout, indices into the non-linear table. */
static void iq4_nl_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_iq4_nl *b = src;
    for (int64_t i = 0; i < n / LF_QK4_NL; i++, b++, dst += LF_QK4_NL) {
        const float d = H2F(b->d);
        for (int j = 0; j < LF_QK4_NL / 2; j++) {
            dst[j] = d * lf_iq4nl_values[b->qs[j] & 0xf];
            dst[j + 16] = d * lf_iq4nl_values[b->qs[j] >> 4];
        }
    }
}

/* MXFP4: Q4_0's nibble layout, E2M1 codes, one E8M0 scale. */
static void mxfp4_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_mxfp4 *b = src;
    for (int64_t i = 0; i < n / LF_QK_MXFP4; i++, b++, dst += LF_QK_MXFP4) {
        const float d = lf_e8m0_half_to_float(b->e);
        for (int j = 0; j < LF_QK_MXFP4 / 2; j++) {
            dst[j] = d * lf_mxfp4_values[b->qs[j] & 0xf];
            dst[j + 16] = d * lf_mxfp4_values[b->qs[j] >> 4];
        }
    }
}

/* IQ4_XS: 8 sub-blocks of 32 with a 6-bit scale each (biased by 32): low 4
 * bits are nibble s%2 of scales_l[s/2], top 2 bits are bits 2s of scales_h;
 * each sub-block's 16 bytes are laid out like an IQ4_NL block. */
static void iq4_xs_to_float(const void *src, float *dst, int64_t n) {
    const lf_block_iq4_xs *b = src;
    for (int64_t i = 0; i < n / LF_QK_K; i++, b++) {
        const float d = H2F(b->d);
        for (int s = 0; s < LF_QK_K / 32; s++, dst += 32) {
            int ls = ((b->scales_l[s / 2] >> (4 * (s % 2))) & 0xf) |
                     (((b->scales_h >> (2 * s)) & 3) << 4);
            const float dl = d * (ls - 32);
            const uint8_t *q = b->qs + 16 * s;
            for (int j = 0; j < 16; j++) {
                dst[j] = dl * lf_iq4nl_values[q[j] & 0xf];
                dst[j + 16] = dl * lf_iq4nl_values[q[j] >> 4];
            }
        }
    }
}

/* ---- the trait table -------------------------------------------------- */

/* One entry per row of LF_TYPE_LIST (internal.h); everything else stays
 * zero (unsupported). */
#define LF_TRAITS_ROW_(t, T, bs, blk, VT, q, dot, act, kv)                     \
    [LF_TYPE_##T] = {.name = #t, .block_size = bs, .type_size = sizeof(blk),   \
                     .is_quantized = q, .to_float = t##_to_float,              \
                     .from_float = lf_quantize_row_##t##_ref,                  \
                     .vec_dot_type = LF_TYPE_##VT,                             \
                     .vec_dot = LF_PICK(dot, lf_vec_dot_##t##_ref, NULL)},
static const lf_type_traits traits[LF_TYPE_COUNT] = {LF_TYPE_LIST(LF_TRAITS_ROW_)};
#undef LF_TRAITS_ROW_

/* The KV-cache column of the list: the types the kernel sets carry
 * kv_dot / kv_axpy for. */
#define LF_KV_ROW_(t, T, bs, blk, VT, q, dot, act, kv) LF_IF(kv, [LF_TYPE_##T] = true,)
static const bool kv_types[LF_TYPE_COUNT] = {LF_TYPE_LIST(LF_KV_ROW_)};
#undef LF_KV_ROW_

static const lf_type_traits unknown_traits = {.name = "unknown"};

const lf_type_traits *lf_type_traits_get(lf_type t) {
    if ((int)t < 0 || t >= LF_TYPE_COUNT || traits[t].block_size == 0)
        return &unknown_traits;
    return &traits[t];
}

const char *lf_type_name(lf_type t) { return lf_type_traits_get(t)->name; }

bool lf_type_supported(lf_type t) { return lf_type_traits_get(t)->block_size > 0; }

bool lf_type_is_weight(lf_type t) {
    return lf_type_supported(t) && lf_type_traits_get(t)->vec_dot != NULL;
}

bool lf_type_is_float(lf_type t) {
    return lf_type_supported(t) && !lf_type_traits_get(t)->is_quantized;
}

bool lf_kv_type_supported(lf_type t) {
    return (unsigned)t < LF_TYPE_COUNT && kv_types[t];
}

int lf_kv_type_parse(const char *name, lf_type *out) {
    lf_type t;
    if (lf_type_parse(name, &t) < 0 || !lf_kv_type_supported(t))
        return LF_EINVAL;
    if (out)
        *out = t;
    return 0;
}

int lf_type_parse(const char *name, lf_type *out) {
    if (!name)
        return LF_EINVAL;
    for (int t = 0; t < LF_TYPE_COUNT; t++) {
        if (traits[t].block_size && strcasecmp(traits[t].name, name) == 0) {
            if (out)
                *out = (lf_type)t;
            return 0;
        }
    }
    return LF_EINVAL;
}

size_t lf_row_size(lf_type t, int64_t n) {
    const lf_type_traits *tr = lf_type_traits_get(t);
    if (tr->block_size == 0 || n < 0 || n % tr->block_size)
        return 0;
    size_t bytes;
    if (!lf_mul_size((size_t)(n / tr->block_size), tr->type_size, &bytes))
        return 0;
    return bytes;
}

double lf_type_bpw(lf_type t) {
    const lf_type_traits *tr = lf_type_traits_get(t);
    return tr->block_size ? 8.0 * (double)tr->type_size / tr->block_size : 0.0;
}

size_t lf_quantize(lf_type t, const float *src, void *dst, int64_t nrows,
                   int64_t ncols) {
    const lf_type_traits *tr = lf_type_traits_get(t);
    size_t row = lf_row_size(t, ncols);
    if (!tr->from_float || row == 0 || nrows < 0)
        return 0;
    for (int64_t r = 0; r < nrows; r++)
        tr->from_float(src + r * ncols, (char *)dst + (size_t)r * row, ncols);
    return row * (size_t)nrows;
}

void lf_dequantize(lf_type t, const void *src, float *dst, int64_t nrows,
                   int64_t ncols) {
    const lf_type_traits *tr = lf_type_traits_get(t);
    size_t row = lf_row_size(t, ncols);
    if (!tr->to_float || row == 0)
        return;
    for (int64_t r = 0; r < nrows; r++)
        tr->to_float((const char *)src + (size_t)r * row, dst + r * ncols, ncols);
}
