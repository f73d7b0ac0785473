/*
 * AVX-512 attention over a tile of query rows (prompt processing), and the
 * vectorised SwiGLU that shares its exponential.
 *
 * Per-head attention during a prompt is a string of matrix-vector products
 * against the KV cache: every key and value row is converted from f16 and
 * read again for every query head and token, and each score ends in a
 * horizontal sum. Here the rows of one tile (up to 16 queries that read the
 * same KV head: the heads of a GQA group for a few consecutive tokens) sit
 * in the 16 lanes of a vector instead:
 *  - scores: the tile's queries are transposed once to qt[d][16 rows]; each
 *    key row is converted to float once and its elements broadcast, so one
 *    FMA adds k[d]·q[row][d] for all 16 rows and a key's scores end in one
 *    vector with no horizontal sum (8 keys in flight against one load of
 *    qt[d]);
 *  - the softmax is lane-wise too: running maximum, exp and sum are one
 *    vector for all rows, with each row's causal (and sliding-window) range
 *    a lane mask;
 *  - values: each value row is converted once per tile and added into 4
 *    output rows at a time (16 accumulators of 16 floats).
 * Keys outside a row's range get probability exactly 0, so the result is
 * the per-head computation of lf_attention_head up to rounding.
 */
#include "kernels/attn_tile.h"
#include "kernels/internal.h"

#include <immintrin.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
#define KEY_BLOCK LF_ATTN_KEY_BLOCK

/* e^x for x in lanes, about 1 ulp on [-87, 88]: n = round(x·log2 e),
 * r = x - n·ln 2 in two parts, a degree-6 polynomial for e^r on
 * |r| ≤ ln2/2, and the scaling by 2^n done by vscalefps (which also
 * flushes the far negative end to 0). */
INLINE __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(88.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static void swiglu_avx512(float *gate, const float *up, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
        const __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, up + i)));
    }
}

/* One row of n halves as floats (the f16 converter of lf_attn_rows_to_float). */
static void f16_row_avx512(const lf_half *src, float *dst, int n) {
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
    }
}

static void attn_tile_avx512(const lf_attn_tile *t, float *scratch) {
    const int hd = t->hd, hdv = t->hdv, nr = t->nr;
    lf_attn_plan pl;
    if (!lf_attn_plan_init(t, scratch, &pl))
        return;
    const int kmin = pl.kmin, kmax = pl.kmax, nkeys = kmax - kmin, ldk = pl.ldk;
    const int *lo = pl.lo, *hi = pl.hi;
    float *qt = pl.qt, *st = pl.st, *kb = pl.kb, *dummy = pl.dummy;
    const __m512i vlo = _mm512_loadu_si512(lo), vhi = _mm512_loadu_si512(hi);

    /* Scores, masked to each row's range, and the running row maxima. */
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int t0 = kmin; t0 < kmax; t0 += KEY_BLOCK) {
        const int nk = kmax - t0 < KEY_BLOCK ? kmax - t0 : KEY_BLOCK;
        lf_attn_rows_to_float(t, t->k, t->k_stride, t0, nk, hd, kb, ldk, f16_row_avx512);
        for (int h = 0; h < nk; h += 8) {
            const float *kr = kb + (size_t)h * ldk;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
                   a6 = a0, a7 = a0;
            for (int d = 0; d < hd; d++) {
                const __m512 q = _mm512_load_ps(qt + d * 16);
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(kr[d]), q, a0);
                a1 = _mm512_fmadd_ps(_mm512_set1_ps(kr[ldk + d]), q, a1);
                a2 = _mm512_fmadd_ps(_mm512_set1_ps(kr[2 * ldk + d]), q, a2);
                a3 = _mm512_fmadd_ps(_mm512_set1_ps(kr[3 * ldk + d]), q, a3);
                a4 = _mm512_fmadd_ps(_mm512_set1_ps(kr[4 * ldk + d]), q, a4);
                a5 = _mm512_fmadd_ps(_mm512_set1_ps(kr[5 * ldk + d]), q, a5);
                a6 = _mm512_fmadd_ps(_mm512_set1_ps(kr[6 * ldk + d]), q, a6);
                a7 = _mm512_fmadd_ps(_mm512_set1_ps(kr[7 * ldk + d]), q, a7);
            }
            const __m512 acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
            for (int j = 0; j < 8 && h + j < nk; j++) {
                const __m512i tt = _mm512_set1_epi32(t0 + h + j);
                const __mmask16 ok = _mm512_cmple_epi32_mask(vlo, tt) & _mm512_cmplt_epi32_mask(tt, vhi);
                const __m512 s = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), ok, acc[j]);
                _mm512_store_ps(st + (size_t)(t0 + h + j - kmin) * 16, s);
                vmax = _mm512_max_ps(vmax, s);
            }
        }
    }

    /* Probabilities (unnormalised; out-of-range keys exactly 0) and sums. */
    __m512 vsum = _mm512_setzero_ps();
    for (int i = 0; i < nkeys; i++) {
        const __m512 s = _mm512_load_ps(st + (size_t)i * 16);
        const __mmask16 ok = _mm512_cmp_ps_mask(s, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
        const __m512 p = _mm512_maskz_mov_ps(ok, exp512(_mm512_sub_ps(s, vmax)));
        _mm512_store_ps(st + (size_t)i * 16, p);
        vsum = _mm512_add_ps(vsum, p);
    }

    /* out[r] = Σ p[r][key] · v[key], 4 rows × 64 columns at a time. */
    float *out[16];
    for (int r = 0; r < 16; r++)
        out[r] = r < nr ? t->out[r] : dummy;
    for (int t0 = kmin; t0 < kmax; t0 += KEY_BLOCK) {
        const int nk = kmax - t0 < KEY_BLOCK ? kmax - t0 : KEY_BLOCK;
        lf_attn_rows_to_float(t, t->v, t->v_stride, t0, nk, hdv, kb, ldk, f16_row_avx512);
        const float *pb = st + (size_t)(t0 - kmin) * 16;
        for (int r0 = 0; r0 < nr; r0 += 4) {
            for (int d0 = 0; d0 < hdv; d0 += 64) {
                __mmask16 m[4];
                for (int c = 0; c < 4; c++) {
                    int left = hdv - d0 - 16 * c;
                    m[c] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
                }
                __m512 acc[4][4];
                for (int r = 0; r < 4; r++)
                    for (int c = 0; c < 4; c++)
                        acc[r][c] = _mm512_maskz_loadu_ps(m[c], out[r0 + r] + d0 + 16 * c);
                for (int j = 0; j < nk; j++) {
                    const float *vr = kb + (size_t)j * ldk + d0;
                    const __m512 v0 = _mm512_maskz_loadu_ps(m[0], vr),
                                 v1 = _mm512_maskz_loadu_ps(m[1], vr + 16),
                                 v2 = _mm512_maskz_loadu_ps(m[2], vr + 32),
                                 v3 = _mm512_maskz_loadu_ps(m[3], vr + 48);
                    for (int r = 0; r < 4; r++) {
                        const __m512 p = _mm512_set1_ps(pb[j * 16 + r0 + r]);
                        acc[r][0] = _mm512_fmadd_ps(p, v0, acc[r][0]);
                        acc[r][1] = _mm512_fmadd_ps(p, v1, acc[r][1]);
                        acc[r][2] = _mm512_fmadd_ps(p, v2, acc[r][2]);
                        acc[r][3] = _mm512_fmadd_ps(p, v3, acc[r][3]);
                    }
                }
                for (int r = 0; r < 4; r++)
                    for (int c = 0; c < 4; c++)
                        _mm512_mask_storeu_ps(out[r0 + r] + d0 + 16 * c, m[c], acc[r][c]);
            }
        }
    }

    /* Normalise (a row with no keys keeps its zeros). */
    float sum[16];
    _mm512_storeu_ps(sum, vsum);
    lf_attn_normalise(t, sum);
}

void lf_kernels_fill_attn_avx512(lf_kernel_set *ks) {
    ks->attn_tile = attn_tile_avx512;
    ks->swiglu = swiglu_avx512;
}
