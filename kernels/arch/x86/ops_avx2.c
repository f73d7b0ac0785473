/*
 * AVX2 + FMA vector ops of the prompt path: SwiGLU and softmax with a
 * vector exponential. The portable loop calls expf per element, which on a
 * prompt's [tokens × ff] gate matrix costs as much as a small matrix
 * product; eight lanes at a time with a polynomial exp it is noise.
 */
#include "kernels/internal.h"

#include <immintrin.h>

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

void lf_kernels_fill_ops_avx2(lf_kernel_set *ks) {
    ks->swiglu = swiglu_avx2;
    ks->softmax = softmax_avx2;
}
