/*
 * AVX2 + FMA vector ops of the prompt path: SwiGLU and softmax with a
 * vector exponential, the RoPE rotation, and attention over a tile of
 * query rows. The portable loop calls expf per element, which on a
 * prompt's [tokens × ff] gate matrix costs as much as a small matrix
 * product; eight lanes at a time with a polynomial exp it is noise.
 *
 * The attention tile is the scheme of attn_avx512.c in 8-lane vectors:
 * the tile's up to 16 query rows (the heads of a GQA group for a few
 * tokens) are the lanes of one or two vectors, so a key's scores for all
 * rows come out of broadcast FMAs with no horizontal sum, the softmax is
 * lane-wise with each row's key range a lane mask, and every key and value
 * row is converted from f16 once per tile instead of once per query.
 */
#include "kernels/attn_tile.h"
#include "kernels/internal.h"

#include <immintrin.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* e^x in lanes, within a few ulp for x in [-87, 88] (clamped there: below
 * -87 the result would leave the normal range, where the 2^n built in the
 * exponent field below is not valid): n = round(x·log2 e), r = x - n·ln 2
 * in two parts, a degree-6 polynomial for e^r on |r| ≤ ln2/2, times 2^n
 * put together in the exponent field. */
INLINE __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

INLINE __m256 swiglu8(__m256 g, __m256 u) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

static void swiglu_avx2(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(gate + i, swiglu8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i < n) {   /* the tail through masked loads and stores */
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)),
                                             _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm256_maskstore_ps(gate + i, m, swiglu8(_mm256_maskload_ps(gate + i, m),
                                                 _mm256_maskload_ps(up + i, m)));
    }
}

/* Lanes < n of 8 set. */
INLINE __m256i lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n > 8 ? 8 : (int)n),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* As lf_softmax: the maximum, e^(x - max) (exactly 0 below -87, where the
 * vector exp stops; such a term is under 2^-125 of the largest one) summed
 * in double, then one scaling pass. */
static void softmax_avx2(float *x, int64_t n) {
    if (n <= 0)
        return;
    __m256 mx = _mm256_set1_ps(x[0]);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
    float m8[8];
    _mm256_storeu_ps(m8, mx);
    float m = m8[0];
    for (int j = 1; j < 8; j++)
        m = m8[j] > m ? m8[j] : m;
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    const __m256 vm = _mm256_set1_ps(m), lo = _mm256_set1_ps(-87.0f);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (i = 0; i < n; i += 8) {
        const __m256i k = lanes(n - i);
        const __m256 d = _mm256_sub_ps(_mm256_maskload_ps(x + i, k), vm);
        const __m256 e = _mm256_and_ps(exp256(d), _mm256_and_ps(_mm256_cmp_ps(d, lo, _CMP_GE_OQ),
                                                                _mm256_castsi256_ps(k)));
        _mm256_maskstore_ps(x + i, k, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double sd[4];
    _mm256_storeu_pd(sd, _mm256_add_pd(s0, s1));
    const __m256 inv = _mm256_set1_ps((float)(1.0 / (sd[0] + sd[1] + sd[2] + sd[3])));
    for (i = 0; i < n; i += 8) {
        const __m256i k = lanes(n - i);
        _mm256_maskstore_ps(x + i, k, _mm256_mul_ps(_mm256_maskload_ps(x + i, k), inv));
    }
}

/* ---- RoPE ------------------------------------------------------------------
 * Adjacent pairs (a, b) of 4 pairs per vector: a·c - b·s and b·c + a·s
 * from one fmaddsub against (c, c) and (b, a)·(s, s); neox halves 8 pairs
 * at a time with cs split into cosines and sines. Tails as ops.c. */
static void rope_avx2(float *x, int n_heads, int head_dim, const float *cs,
                      const lf_rope_params *p, int i0, int i1) {
    const int half = p->n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        int i = i0;
        if (!p->neox) {
            for (; i + 4 <= i1; i += 4) {
                const __m256 t = _mm256_loadu_ps(cs + 2 * (i - i0));
                const __m256 ab = _mm256_loadu_ps(v + 2 * i);
                const __m256 ba = _mm256_permute_ps(ab, 0xB1);
                const __m256 r = _mm256_fmaddsub_ps(ab, _mm256_moveldup_ps(t),
                                                    _mm256_mul_ps(ba, _mm256_movehdup_ps(t)));
                _mm256_storeu_ps(v + 2 * i, r);
            }
        } else {
            for (; i + 8 <= i1; i += 8) {
                const __m256 t0 = _mm256_loadu_ps(cs + 2 * (i - i0));
                const __m256 t1 = _mm256_loadu_ps(cs + 2 * (i - i0) + 8);
                /* shuffle within 128-bit lanes, then put the quarters in order */
                const __m256 c = _mm256_castpd_ps(_mm256_permute4x64_pd(
                    _mm256_castps_pd(_mm256_shuffle_ps(t0, t1, 0x88)), 0xD8));
                const __m256 sn = _mm256_castpd_ps(_mm256_permute4x64_pd(
                    _mm256_castps_pd(_mm256_shuffle_ps(t0, t1, 0xDD)), 0xD8));
                const __m256 a = _mm256_loadu_ps(v + i), b = _mm256_loadu_ps(v + i + half);
                _mm256_storeu_ps(v + i, _mm256_fmsub_ps(a, c, _mm256_mul_ps(b, sn)));
                _mm256_storeu_ps(v + i + half, _mm256_fmadd_ps(a, sn, _mm256_mul_ps(b, c)));
            }
        }
        for (; i < i1; i++) {
            const float c = cs[2 * (i - i0)], sn = cs[2 * (i - i0) + 1];
            const int a0 = p->neox ? i : 2 * i, a1 = p->neox ? i + half : 2 * i + 1;
            const float a = v[a0], b = v[a1];
            v[a0] = a * c - b * sn;
            v[a1] = a * sn + b * c;
        }
    }
}

/* ---- attention tile ---------------------------------------------------------- */
#define KEY_BLOCK 8

/* Rows [t0, t0 + nk) of a KV head as floats, ld apart; rows nk..KEY_BLOCK-1
 * zeroed (multiplied, never stored). */
static void kv_rows_float(const lf_attn_tile *t, const void *base, size_t stride, int t0, int nk,
                          int n, float *dst, int ld) {
    for (int j = 0; j < nk; j++) {
        const char *src = (const char *)base + (size_t)(t0 + j) * stride;
        float *d = dst + (size_t)j * ld;
        if (t->kv_type == LF_TYPE_F16) {
            const lf_half *hs = (const lf_half *)src;
            int i = 0;
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hs + i))));
            for (; i < n; i++)
                d[i] = lf_half_to_float(hs[i]);
        } else if (t->kv_type == LF_TYPE_F32) {
            memcpy(d, src, (size_t)n * sizeof(float));
        } else {
            lf_type_traits_get(t->kv_type)->to_float(src, d, n);
        }
    }
    for (int j = nk; j < KEY_BLOCK; j++)
        memset(dst + (size_t)j * ld, 0, (size_t)ld * sizeof(float));
}

/* Scores of keys [kmin, kmax) for the tile's lanes (NV vectors of 8 rows)
 * into st[key][16], -inf outside each row's range; returns the lane maxima. */
INLINE void attn_scores(const lf_attn_tile *t, const float *qt, float *st, float *kb, int ldk,
                        int kmin, int kmax, const int *lo, const int *hi, __m256 *vmax,
                        const int NV) {
    const int hd = t->hd;
    __m256i lom1[2], vhi[2];
    for (int v = 0; v < NV; v++) {
        lom1[v] = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(lo + 8 * v)),
                                   _mm256_set1_epi32(1));
        vhi[v] = _mm256_loadu_si256((const __m256i *)(hi + 8 * v));
    }
    for (int t0 = kmin; t0 < kmax; t0 += KEY_BLOCK) {
        const int nk = kmax - t0 < KEY_BLOCK ? kmax - t0 : KEY_BLOCK;
        kv_rows_float(t, t->k, t->k_stride, t0, nk, hd, kb, ldk);
        for (int h = 0; h < nk; h += 4) {
            const float *kr = kb + (size_t)h * ldk;
            __m256 acc[4][2];
            for (int j = 0; j < 4; j++)
                acc[j][0] = acc[j][1] = _mm256_setzero_ps();
            for (int d = 0; d < hd; d++)
                for (int v = 0; v < NV; v++) {
                    const __m256 q = _mm256_load_ps(qt + d * 16 + 8 * v);
                    for (int j = 0; j < 4; j++)
                        acc[j][v] = _mm256_fmadd_ps(_mm256_broadcast_ss(kr + (size_t)j * ldk + d), q,
                                                    acc[j][v]);
                }
            for (int j = 0; j < 4 && h + j < nk; j++) {
                const __m256i tt = _mm256_set1_epi32(t0 + h + j);
                for (int v = 0; v < NV; v++) {
                    const __m256 ok = _mm256_castsi256_ps(_mm256_and_si256(
                        _mm256_cmpgt_epi32(tt, lom1[v]), _mm256_cmpgt_epi32(vhi[v], tt)));
                    const __m256 s = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), acc[j][v], ok);
                    _mm256_store_ps(st + (size_t)(t0 + h + j - kmin) * 16 + 8 * v, s);
                    vmax[v] = _mm256_max_ps(vmax[v], s);
                }
            }
        }
    }
}

/* out[r] += Σ p[r][key] · v[key] for keys [kmin, kmax), 4 rows × 16
 * columns at a time (out rows past nr go to a dummy row). */
static void attn_values(const lf_attn_tile *t, const float *st, float *kb, int ldk, int kmin,
                        int kmax, float *const *out) {
    const int hdv = t->hdv, nr = t->nr;
    for (int t0 = kmin; t0 < kmax; t0 += KEY_BLOCK) {
        const int nk = kmax - t0 < KEY_BLOCK ? kmax - t0 : KEY_BLOCK;
        kv_rows_float(t, t->v, t->v_stride, t0, nk, hdv, kb, ldk);
        const float *pb = st + (size_t)(t0 - kmin) * 16;
        for (int r0 = 0; r0 < nr; r0 += 4)
            for (int d0 = 0; d0 < hdv; d0 += 16) {
                const __m256i m0 = lanes(hdv - d0), m1 = lanes(hdv - d0 - 8);
                __m256 acc[4][2];
                for (int r = 0; r < 4; r++) {
                    acc[r][0] = _mm256_maskload_ps(out[r0 + r] + d0, m0);
                    acc[r][1] = _mm256_maskload_ps(out[r0 + r] + d0 + 8, m1);
                }
                for (int j = 0; j < nk; j++) {
                    const float *vr = kb + (size_t)j * ldk + d0;
                    const __m256 v0 = _mm256_loadu_ps(vr), v1 = _mm256_loadu_ps(vr + 8);
                    for (int r = 0; r < 4; r++) {
                        const __m256 p = _mm256_broadcast_ss(pb + j * 16 + r0 + r);
                        acc[r][0] = _mm256_fmadd_ps(p, v0, acc[r][0]);
                        acc[r][1] = _mm256_fmadd_ps(p, v1, acc[r][1]);
                    }
                }
                for (int r = 0; r < 4; r++) {
                    _mm256_maskstore_ps(out[r0 + r] + d0, m0, acc[r][0]);
                    _mm256_maskstore_ps(out[r0 + r] + d0 + 8, m1, acc[r][1]);
                }
            }
    }
}

static void attn_tile_avx2(const lf_attn_tile *t, float *scratch) {
    const int nr = t->nr;
    lf_attn_plan pl;
    if (!lf_attn_plan_init(t, scratch, &pl))
        return;
    const int kmin = pl.kmin, kmax = pl.kmax, nkeys = kmax - kmin, ldk = pl.ldk;
    const int *lo = pl.lo, *hi = pl.hi;
    float *qt = pl.qt, *st = pl.st, *kb = pl.kb, *dummy = pl.dummy;

    /* One vector of lanes when the tile has at most 8 rows. */
    const int nv = nr > 8 ? 2 : 1;
    __m256 vmax[2] = {_mm256_set1_ps(-INFINITY), _mm256_set1_ps(-INFINITY)};
    if (nv == 2)
        attn_scores(t, qt, st, kb, ldk, kmin, kmax, lo, hi, vmax, 2);
    else
        attn_scores(t, qt, st, kb, ldk, kmin, kmax, lo, hi, vmax, 1);

    /* Probabilities (unnormalised; out-of-range keys exactly 0) and sums. */
    __m256 vsum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int i = 0; i < nkeys; i++)
        for (int v = 0; v < 2; v++) {
            float *sp = st + (size_t)i * 16 + 8 * v;
            if (v >= nv) {
                _mm256_store_ps(sp, _mm256_setzero_ps());
                continue;
            }
            const __m256 s = _mm256_load_ps(sp);
            const __m256 ok = _mm256_cmp_ps(s, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ);
            const __m256 p = _mm256_and_ps(exp256(_mm256_sub_ps(s, vmax[v])), ok);
            _mm256_store_ps(sp, p);
            vsum[v] = _mm256_add_ps(vsum[v], p);
        }

    float *out[16];
    for (int r = 0; r < 16; r++)
        out[r] = r < nr ? t->out[r] : dummy;
    attn_values(t, st, kb, ldk, kmin, kmax, out);

    /* Normalise (a row with no keys keeps its zeros). */
    float sum[16];
    _mm256_storeu_ps(sum, vsum[0]);
    _mm256_storeu_ps(sum + 8, vsum[1]);
    lf_attn_normalise(t, sum);
}

void lf_kernels_fill_ops_avx2(lf_kernel_set *ks) {
    ks->swiglu = swiglu_avx2;
    ks->softmax = softmax_avx2;
    ks->rope = rope_avx2;
    ks->attn_tile = attn_tile_avx2;
}
