/*
 * Shared helpers of the kernel tests: a small deterministic RNG, random
 * blocks of every weight format (random bytes with sane random scales, so
 * no quantizer is needed), valid random activation rows (q8_0, q8_1, q8_K,
 * f16, bf16, f32), an independent dequantizer for the activation formats,
 * and the list of kernel sets this machine can run.
 */
#ifndef LF_TESTS_KT_H
#define LF_TESTS_KT_H

#include "kernels/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct kt_rng { uint64_t s; } kt_rng;

static inline uint64_t kt_next(kt_rng *r) {
    /* xorshift64* */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static inline float kt_uniform(kt_rng *r, float lo, float hi) {
    return lo + (hi - lo) * (float)((kt_next(r) >> 40) * (1.0 / 16777216.0));
}

static inline int kt_int(kt_rng *r, int lo, int hi) {   /* [lo, hi] */
    return lo + (int)(kt_next(r) % (uint64_t)(hi - lo + 1));
}

static inline lf_half kt_half(kt_rng *r, float lo, float hi) {
    float v = kt_uniform(r, lo, hi);
    return lf_float_to_half(kt_next(r) & 1 ? v : -v);
}

static inline lf_half kt_half_pos(kt_rng *r, float lo, float hi) {
    return lf_float_to_half(kt_uniform(r, lo, hi));
}

/* The weight types with a dot product, and whether each is a float type. */
static const lf_type kt_weight_types[] = {
    LF_TYPE_F32, LF_TYPE_F16, LF_TYPE_BF16, LF_TYPE_Q4_0, LF_TYPE_Q4_1,
    LF_TYPE_Q5_0, LF_TYPE_Q5_1, LF_TYPE_Q8_0, LF_TYPE_Q2_K, LF_TYPE_Q3_K,
    LF_TYPE_Q4_K, LF_TYPE_Q5_K, LF_TYPE_Q6_K, LF_TYPE_IQ4_NL, LF_TYPE_IQ4_XS,
};
#define KT_N_WEIGHT_TYPES ((int)(sizeof kt_weight_types / sizeof kt_weight_types[0]))

/* Fills nrows rows of n elements of weight type t at dst: random bytes,
 * then every scale field overwritten with a sane random half (d signed,
 * mins positive) so values are finite and of ordinary magnitude. */
static inline void kt_fill_weights(kt_rng *r, lf_type t, void *dst, int nrows, int n) {
    const lf_type_traits *tr = lf_type_traits_get(t);
    size_t nb = (size_t)nrows * (size_t)(n / tr->block_size);
    if (t == LF_TYPE_F32) {
        float *f = dst;
        for (size_t i = 0; i < nb; i++)
            f[i] = kt_uniform(r, -1, 1);
        return;
    }
    if (t == LF_TYPE_F16 || t == LF_TYPE_BF16) {
        lf_half *h = dst;
        for (size_t i = 0; i < nb; i++) {
            float v = kt_uniform(r, -1, 1);
            h[i] = t == LF_TYPE_F16 ? lf_float_to_half(v) : lf_float_to_bf16(v);
        }
        return;
    }
    uint8_t *p = dst;
    for (size_t i = 0; i < nb * tr->type_size; i++)
        p[i] = (uint8_t)kt_next(r);
    for (size_t i = 0; i < nb; i++) {
        void *b = p + i * tr->type_size;
        switch (t) {
        case LF_TYPE_Q4_0: ((lf_block_q4_0 *)b)->d = kt_half(r, 1e-3f, 0.1f); break;
        case LF_TYPE_Q4_1:
            ((lf_block_q4_1 *)b)->d = kt_half(r, 1e-3f, 0.1f);
            ((lf_block_q4_1 *)b)->m = kt_half(r, 1e-3f, 0.5f);
            break;
        case LF_TYPE_Q5_0: ((lf_block_q5_0 *)b)->d = kt_half(r, 1e-3f, 0.1f); break;
        case LF_TYPE_Q5_1:
            ((lf_block_q5_1 *)b)->d = kt_half(r, 1e-3f, 0.1f);
            ((lf_block_q5_1 *)b)->m = kt_half(r, 1e-3f, 0.5f);
            break;
        case LF_TYPE_Q8_0: ((lf_block_q8_0 *)b)->d = kt_half(r, 1e-4f, 0.01f); break;
        case LF_TYPE_Q2_K:
            ((lf_block_q2_K *)b)->d = kt_half(r, 1e-3f, 0.05f);
            ((lf_block_q2_K *)b)->dmin = kt_half_pos(r, 1e-3f, 0.05f);
            break;
        case LF_TYPE_Q3_K: ((lf_block_q3_K *)b)->d = kt_half(r, 1e-3f, 0.05f); break;
        case LF_TYPE_Q4_K:
            ((lf_block_q4_K *)b)->d = kt_half(r, 1e-4f, 0.01f);
            ((lf_block_q4_K *)b)->dmin = kt_half_pos(r, 1e-4f, 0.01f);
            break;
        case LF_TYPE_Q5_K:
            ((lf_block_q5_K *)b)->d = kt_half(r, 1e-4f, 0.01f);
            ((lf_block_q5_K *)b)->dmin = kt_half_pos(r, 1e-4f, 0.01f);
            break;
        case LF_TYPE_Q6_K: ((lf_block_q6_K *)b)->d = kt_half(r, 1e-4f, 0.005f); break;
        case LF_TYPE_IQ4_NL: ((lf_block_iq4_nl *)b)->d = kt_half(r, 1e-4f, 0.01f); break;
        case LF_TYPE_IQ4_XS: ((lf_block_iq4_xs *)b)->d = kt_half(r, 1e-4f, 0.01f); break;
        default: break;
        }
    }
}

/* A valid activation row of n elements in vt: quants in [-127, 127] (the
 * quantizers never produce -128), consistent sums. */
static inline void kt_fill_act(kt_rng *r, lf_type vt, void *dst, int n) {
    switch (vt) {
    case LF_TYPE_Q8_0: {
        lf_block_q8_0 *b = dst;
        for (int i = 0; i < n / 32; i++) {
            b[i].d = kt_half_pos(r, 1e-3f, 0.05f);
            for (int j = 0; j < 32; j++)
                b[i].qs[j] = (int8_t)kt_int(r, -127, 127);
        }
        break;
    }
    case LF_TYPE_Q8_1: {
        lf_block_q8_1 *b = dst;
        for (int i = 0; i < n / 32; i++) {
            b[i].d = kt_half_pos(r, 1e-3f, 0.05f);
            int s = 0;
            for (int j = 0; j < 32; j++)
                s += b[i].qs[j] = (int8_t)kt_int(r, -127, 127);
            b[i].s = lf_float_to_half(lf_half_to_float(b[i].d) * (float)s);
        }
        break;
    }
    case LF_TYPE_Q8_K: {
        lf_block_q8_K *b = dst;
        for (int i = 0; i < n / 256; i++) {
            b[i].d = kt_uniform(r, 1e-3f, 0.05f);
            for (int g = 0; g < 16; g++) {
                int s = 0;
                for (int j = 0; j < 16; j++)
                    s += b[i].qs[16 * g + j] = (int8_t)kt_int(r, -127, 127);
                b[i].bsums[g] = (int16_t)s;
            }
        }
        break;
    }
    default:
        kt_fill_weights(r, vt, dst, 1, n);
        break;
    }
}

/* Independent dequantization of an activation row (not formats.c's). */
static inline void kt_act_to_float(lf_type vt, const void *src, float *dst, int n) {
    for (int i = 0; i < n; i++) {
        switch (vt) {
        case LF_TYPE_Q8_0: {
            const lf_block_q8_0 *b = (const lf_block_q8_0 *)src + i / 32;
            dst[i] = lf_half_to_float(b->d) * b->qs[i % 32];
            break;
        }
        case LF_TYPE_Q8_1: {
            const lf_block_q8_1 *b = (const lf_block_q8_1 *)src + i / 32;
            dst[i] = lf_half_to_float(b->d) * b->qs[i % 32];
            break;
        }
        case LF_TYPE_Q8_K: {
            const lf_block_q8_K *b = (const lf_block_q8_K *)src + i / 256;
            dst[i] = b->d * b->qs[i % 256];
            break;
        }
        case LF_TYPE_F32: dst[i] = ((const float *)src)[i]; break;
        case LF_TYPE_F16: dst[i] = lf_half_to_float(((const lf_half *)src)[i]); break;
        case LF_TYPE_BF16: dst[i] = lf_bf16_to_float(((const lf_bf16 *)src)[i]); break;
        default: dst[i] = NAN; break;
        }
    }
}

/* ---- kernel sets this machine can run ----------------------------------- */
typedef struct kt_set {
    lf_isa_level level;
    unsigned flags;
} kt_set;

/* Fills sets (room for 8) with every (level, flags) combination that runs
 * here and differs from the others; returns the count. */
static inline int kt_sets(kt_set *sets) {
    lf_isa isa;
    lf_isa_detect(&isa);
    int n = 0;
    for (int l = 0; l < LF_ISA_COUNT; l++) {
        if (!lf_isa_supported(&isa, (lf_isa_level)l))
            continue;
        sets[n++] = (kt_set){(lf_isa_level)l, 0};
        if (l == LF_ISA_AVX512 && isa.avx512vnni)
            sets[n++] = (kt_set){(lf_isa_level)l, LF_KS_NO_VNNI};
        if (l == LF_ISA_AVX2 && isa.avxvnni)   /* AVX-VNNI off: plain AVX2 */
            sets[n++] = (kt_set){(lf_isa_level)l, LF_KS_NO_VNNI};
        if (l == LF_ISA_NEON && isa.dotprod)
            sets[n++] = (kt_set){(lf_isa_level)l, LF_KS_NO_DOTPROD};
        if (l == LF_ISA_NEON && isa.dotprod && isa.i8mm)   /* sdot's tile */
            sets[n++] = (kt_set){(lf_isa_level)l, LF_KS_NO_I8MM};
    }
    return n;
}

static inline void *kt_alloc(size_t n) {
    void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
    if (p)
        memset(p, 0, (n + 63) / 64 * 64 + 64);
    return p;
}

/* Σ |w|·|a| of one stored row of type t against float activations: the
 * scale of the rounding a dot product may show. */
static inline double kt_magnitude(lf_type t, const void *row, const float *af, int n) {
    float *wf = kt_alloc((size_t)n * sizeof(float));
    lf_dequantize(t, row, wf, 1, n);
    double m = 0;
    for (int i = 0; i < n; i++)
        m += fabs((double)wf[i] * af[i]);
    free(wf);
    return m;
}

#endif /* LF_TESTS_KT_H */
