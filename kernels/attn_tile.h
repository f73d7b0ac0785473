/*
 * The ISA-neutral steps of an attention tile (internal.h's lf_attn_tile),
 * for the arch/ tiles to share: the key range the tile's rows read, the
 * scratch carved as lf_attn_tile_scratch sized it, the queries transposed
 * with the scale folded in, the conversion of key and value rows to float
 * (around the ISA's f16 converter), and the final normalisation. A tile then adds
 * only its score, softmax and value loops over plan->kb key blocks.
 *
 *     lf_attn_plan p;
 *     if (!lf_attn_plan_init(t, scratch, &p))
 *         return;                       // no row has a key: outputs zeroed
 *     ... scores into p.st, probabilities, values into t->out[r] ...
 *     lf_attn_normalise(t, row_sums);
 */
#ifndef LF_ATTN_TILE_H
#define LF_ATTN_TILE_H

#include "kernels/internal.h"

#include <limits.h>
#include <string.h>

_Static_assert(LF_ATTN_ROWS == 16, "qt and st hold 16 rows per d / key");

/* keys converted to float per block of the score and value loops */
#define LF_ATTN_KEY_BLOCK 16

static inline int lf_attn_round16(int x) { return (x + 15) / 16 * 16; }

typedef struct lf_attn_plan {
    int kmin, kmax;          /* keys [kmin, kmax): the union of the rows' ranges */
    int ldk;                 /* floats per converted key or value row (≥ hd, hdv) */
    /* each row's [lo, hi); rows ≥ nr empty (lo INT_MAX, hi INT_MIN) */
    int lo[LF_ATTN_ROWS], hi[LF_ATTN_ROWS];
    float *qt;               /* hd × 16: q[r][d]·scale at 16d + r, rows ≥ nr 0 */
    float *st;               /* round16(kmax - kmin) × 16: scores of key kmin + i at 16i */
    float *kb;               /* LF_ATTN_KEY_BLOCK × ldk: converted key/value rows */
    float *dummy;            /* ldk floats: where rows ≥ nr may write */
} lf_attn_plan;

/* Fills p from t and scratch (lf_attn_tile_scratch floats) and zeroes the
 * tile's outputs; false when no row has a key (nothing more to do). */
static inline bool lf_attn_plan_init(const lf_attn_tile *t, float *scratch, lf_attn_plan *p) {
    const int nr = t->nr;
    p->kmin = INT_MAX;
    p->kmax = 0;
    for (int r = 0; r < LF_ATTN_ROWS; r++) {
        p->lo[r] = r < nr ? t->lo[r] : INT_MAX;
        p->hi[r] = r < nr ? t->hi[r] : INT_MIN;
        if (r < nr && p->lo[r] < p->hi[r]) {
            p->kmin = p->lo[r] < p->kmin ? p->lo[r] : p->kmin;
            p->kmax = p->hi[r] > p->kmax ? p->hi[r] : p->kmax;
        }
    }
    for (int r = 0; r < nr; r++)
        memset(t->out[r], 0, (size_t)t->hdv * sizeof(float));
    if (p->kmin >= p->kmax)
        return false;
    p->ldk = lf_attn_round16(t->hd > t->hdv ? t->hd : t->hdv);
    p->qt = scratch;
    p->st = p->qt + (size_t)t->hd * 16;
    p->kb = p->st + (size_t)lf_attn_round16(p->kmax - p->kmin) * 16;
    p->dummy = p->kb + (size_t)LF_ATTN_KEY_BLOCK * p->ldk;
    for (int d = 0; d < t->hd; d++)
        for (int r = 0; r < 16; r++)
            p->qt[d * 16 + r] = r < nr ? t->q[r][d] * t->scale : 0.0f;
    return true;
}

/* Rows [t0, t0 + nk) of a KV head (base, stride bytes apart) as floats,
 * n per row, dst rows ld floats apart; rows nk..LF_ATTN_KEY_BLOCK-1 are
 * zeroed (score loops may multiply them, never store them). F16 rows go
 * through the ISA's f16_row, other types through memcpy or the trait
 * table. */
static inline void lf_attn_rows_to_float(const lf_attn_tile *t, const void *base, size_t stride,
                                         int t0, int nk, int n, float *dst, int ld,
                                         void (*f16_row)(const lf_half *src, float *dst, int n)) {
    for (int j = 0; j < nk; j++) {
        const char *src = (const char *)base + (size_t)(t0 + j) * stride;
        float *d = dst + (size_t)j * ld;
        if (t->kv_type == LF_TYPE_F16)
            f16_row((const lf_half *)src, d, n);
        else if (t->kv_type == LF_TYPE_F32)
            memcpy(d, src, (size_t)n * sizeof(float));
        else
            lf_type_traits_get(t->kv_type)->to_float(src, d, n);
    }
    for (int j = nk; j < LF_ATTN_KEY_BLOCK; j++)
        memset(dst + (size_t)j * ld, 0, (size_t)ld * sizeof(float));
}

/* out[r] /= sum[r] (a row whose sum is 0, one without keys, keeps its
 * zeros). */
static inline void lf_attn_normalise(const lf_attn_tile *t, const float sum[LF_ATTN_ROWS]) {
    for (int r = 0; r < t->nr; r++) {
        const float inv = sum[r] > 0 ? 1.0f / sum[r] : 0.0f;
        for (int d = 0; d < t->hdv; d++)
            t->out[r][d] *= inv;
    }
}

#endif /* LF_ATTN_TILE_H */
