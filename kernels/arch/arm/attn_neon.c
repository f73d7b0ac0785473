/*
 * arm64 (baseline ASIMD) attention over a tile of query rows for prompt
 * processing: the structure of the AVX-512 tile (arch/x86/attn_avx512.c)
 * with the 16 rows of a tile in four 4-lane vectors instead of one
 * 16-lane vector. The range, scratch, transposed queries and the final
 * normalisation are the shared steps of kernels/attn_tile.h; the steps
 * here are:
 *  - scores: the queries transposed once to qt[d][16 rows] with the scale
 *    folded in; each key row converted to float once; four keys at a time
 *    against four consecutive d of qt, one multiply-add by lane per key,
 *    quad of rows and d, so a key's scores for every row end in vectors
 *    with no horizontal sum; only the quads holding a row are computed;
 *  - the softmax lane-wise: running maxima, exp and sums per quad, each
 *    row's causal (and sliding-window) range a lane mask, keys out of it
 *    exactly 0;
 *  - values: each value row converted once per tile and added into 4
 *    output rows × 16 columns (16 accumulators), the 4 rows' probabilities
 *    of a key one vector used by lane.
 * The result is lf_attention_head's per row up to rounding.
 */
#include "kernels/attn_tile.h"

#include "kernels/arch/arm/neon_exp.h"

#include <math.h>
#include <string.h>

#define KEY_BLOCK LF_ATTN_KEY_BLOCK

/* n halves to floats, eight at a time */
static inline void f16_row(const lf_half *h, float *d, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t v = vreinterpretq_f16_u16(vld1q_u16(h + i));
        vst1q_f32(d + i, vcvt_f32_f16(vget_low_f16(v)));
        vst1q_f32(d + i + 4, vcvt_high_f32_f16(v));
    }
    for (; i < n; i++)
        d[i] = lf_half_to_float(h[i]);
}

/* Scores of keys [t0, t0 + nk) (rows of kb, ld apart) for the nq quads of
 * rows, masked to each row's [lo, hi), stored at st[(key - kmin)·16 + row];
 * vmax[q] keeps the rows' running maxima. */
static void scores_block(const float *qt, int hd, int nq, const float *kb, int ld, int t0,
                         int nk, int kmin, const int32x4_t vlo[4], const int32x4_t vhi[4],
                         float *st, float32x4_t vmax[4]) {
    for (int h = 0; h < nk; h += 4) {
        const float *k0 = kb + (size_t)h * ld, *k1 = k0 + ld, *k2 = k1 + ld, *k3 = k2 + ld;
        float32x4_t a[4][4];   /* [key][quad] */
        for (int j = 0; j < 4; j++)
            for (int q = 0; q < 4; q++)
                a[j][q] = vdupq_n_f32(0);
        int d = 0;
        for (; d + 4 <= hd; d += 4) {
            const float32x4_t c0 = vld1q_f32(k0 + d), c1 = vld1q_f32(k1 + d),
                              c2 = vld1q_f32(k2 + d), c3 = vld1q_f32(k3 + d);
            for (int q = 0; q < nq; q++) {
#define LANE(l)                                                              \
    do {                                                                     \
        const float32x4_t qv = vld1q_f32(qt + (size_t)(d + (l)) * 16 + 4 * q); \
        a[0][q] = vfmaq_laneq_f32(a[0][q], qv, c0, l);                        \
        a[1][q] = vfmaq_laneq_f32(a[1][q], qv, c1, l);                        \
        a[2][q] = vfmaq_laneq_f32(a[2][q], qv, c2, l);                        \
        a[3][q] = vfmaq_laneq_f32(a[3][q], qv, c3, l);                        \
    } while (0)
                LANE(0);
                LANE(1);
                LANE(2);
                LANE(3);
#undef LANE
            }
        }
        for (; d < hd; d++)   /* hd not a multiple of 4 */
            for (int q = 0; q < nq; q++) {
                const float32x4_t qv = vld1q_f32(qt + (size_t)d * 16 + 4 * q);
                a[0][q] = vfmaq_n_f32(a[0][q], qv, k0[d]);
                a[1][q] = vfmaq_n_f32(a[1][q], qv, k1[d]);
                a[2][q] = vfmaq_n_f32(a[2][q], qv, k2[d]);
                a[3][q] = vfmaq_n_f32(a[3][q], qv, k3[d]);
            }
        for (int j = 0; j < 4 && h + j < nk; j++) {
            const int32x4_t tt = vdupq_n_s32(t0 + h + j);
            float *dst = st + (size_t)(t0 + h + j - kmin) * 16;
            for (int q = 0; q < 4; q++) {
                const uint32x4_t ok = vandq_u32(vcleq_s32(vlo[q], tt), vcltq_s32(tt, vhi[q]));
                const float32x4_t s = q < nq ? vbslq_f32(ok, a[j][q], vdupq_n_f32(-INFINITY))
                                             : vdupq_n_f32(-INFINITY);
                vst1q_f32(dst + 4 * q, s);
                vmax[q] = vmaxq_f32(vmax[q], s);
            }
        }
    }
}

/* out[r0 + r] (r < 4) += Σ_j p[j][r0 + r] · v[j] over the nk value rows
 * of kb, 16 columns at a time; a last partial chunk of columns goes
 * through a buffer so no output beyond hdv is touched. */
static void values_block(float *const out[4], const float *pb, int r0, const float *kb,
                         int ld, int nk, int hdv) {
    for (int d0 = 0; d0 < hdv; d0 += 16) {
        const int w = hdv - d0 < 16 ? hdv - d0 : 16;
        float buf[4][16];
        float *o[4];
        for (int r = 0; r < 4; r++) {
            o[r] = out[r] + d0;
            if (w < 16) {
                memset(buf[r], 0, sizeof buf[r]);
                memcpy(buf[r], o[r], (size_t)w * sizeof(float));
                o[r] = buf[r];
            }
        }
        float32x4_t acc[4][4];
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++)
                acc[r][c] = vld1q_f32(o[r] + 4 * c);
        for (int j = 0; j < nk; j++) {
            /* kb rows are ld ≥ round16(hdv) floats: reading a partial
             * chunk's last columns stays inside the row */
            const float *vr = kb + (size_t)j * ld + d0;
            const float32x4_t v0 = vld1q_f32(vr), v1 = vld1q_f32(vr + 4),
                              v2 = vld1q_f32(vr + 8), v3 = vld1q_f32(vr + 12);
            const float32x4_t p = vld1q_f32(pb + (size_t)j * 16 + r0);
#define ROW(r)                                                \
    do {                                                      \
        acc[r][0] = vfmaq_laneq_f32(acc[r][0], v0, p, r);     \
        acc[r][1] = vfmaq_laneq_f32(acc[r][1], v1, p, r);     \
        acc[r][2] = vfmaq_laneq_f32(acc[r][2], v2, p, r);     \
        acc[r][3] = vfmaq_laneq_f32(acc[r][3], v3, p, r);     \
    } while (0)
            ROW(0);
            ROW(1);
            ROW(2);
            ROW(3);
#undef ROW
        }
        for (int r = 0; r < 4; r++) {
            for (int c = 0; c < 4; c++)
                vst1q_f32(o[r] + 4 * c, acc[r][c]);
            if (w < 16)
                memcpy(out[r] + d0, buf[r], (size_t)w * sizeof(float));
        }
    }
}

static void attn_tile_neon(const lf_attn_tile *t, float *scratch) {
    lf_attn_plan pl;
    if (!lf_attn_plan_init(t, scratch, &pl))
        return;
    const int hd = t->hd, hdv = t->hdv, nr = t->nr, nq = (nr + 3) / 4;
    const int kmin = pl.kmin, kmax = pl.kmax, ldk = pl.ldk;
    int32x4_t vlo[4], vhi[4];
    float32x4_t vmax[4], vsum[4];
    for (int q = 0; q < 4; q++) {
        vlo[q] = vld1q_s32(pl.lo + 4 * q);
        vhi[q] = vld1q_s32(pl.hi + 4 * q);
        vmax[q] = vdupq_n_f32(-INFINITY);
        vsum[q] = vdupq_n_f32(0);
    }
    for (int t0 = kmin; t0 < kmax; t0 += KEY_BLOCK) {
        const int nk = kmax - t0 < KEY_BLOCK ? kmax - t0 : KEY_BLOCK;
        lf_attn_rows_to_float(t, t->k, t->k_stride, t0, nk, hd, pl.kb, ldk, f16_row);
        scores_block(pl.qt, hd, nq, pl.kb, ldk, t0, nk, kmin, vlo, vhi, pl.st, vmax);
    }

    /* probabilities (unnormalised; out-of-range keys exactly 0: a row
     * without keys has maximum -inf, and -inf - -inf is NaN, which the
     * select drops) and their sums */
    const float32x4_t ninf = vdupq_n_f32(-INFINITY);
    for (int i = 0; i < kmax - kmin; i++)
        for (int q = 0; q < nq; q++) {
            float *sp = pl.st + (size_t)i * 16 + 4 * q;
            const float32x4_t s = vld1q_f32(sp);
            const uint32x4_t in = vmvnq_u32(vceqq_f32(s, ninf));
            const float32x4_t p = vreinterpretq_f32_u32(
                vandq_u32(vreinterpretq_u32_f32(exp4(vsubq_f32(s, vmax[q]))), in));
            vst1q_f32(sp, p);
            vsum[q] = vaddq_f32(vsum[q], p);
        }

    float *out[16];
    for (int r = 0; r < 16; r++)
        out[r] = r < nr ? t->out[r] : pl.dummy;
    for (int t0 = kmin; t0 < kmax; t0 += KEY_BLOCK) {
        const int nk = kmax - t0 < KEY_BLOCK ? kmax - t0 : KEY_BLOCK;
        lf_attn_rows_to_float(t, t->v, t->v_stride, t0, nk, hdv, pl.kb, ldk, f16_row);
        const float *pb = pl.st + (size_t)(t0 - kmin) * 16;
        for (int r0 = 0; r0 < nr; r0 += 4)
            values_block(out + r0, pb, r0, pl.kb, ldk, nk, hdv);
    }

    float sum[16];
    for (int q = 0; q < 4; q++)
        vst1q_f32(sum + 4 * q, vsum[q]);
    lf_attn_normalise(t, sum);
}

void lf_kernels_fill_attn_neon(lf_kernel_set *ks) { ks->attn_tile = attn_tile_neon; }
