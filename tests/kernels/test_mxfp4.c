/*
 * MXFP4 (GGML type 39) against its specification and against GGML's own
 * quantizer: blocks of 32 FP4 E2M1 values (1 sign, 2 exponent bits with
 * bias 1, 1 mantissa bit; exponent 0 = subnormal 0.5·m) sharing one E8M0
 * scale 2^(e − 127), stored as GGML stores it (17 bytes: e, then element j
 * in the low nibble of qs[j] and j + 16 in the high one; GGML's levels are
 * doubled, its scale halved). Dequantization is checked for every code and
 * every exponent by decoding the bits here; the quantizer byte for byte
 * against the blocks llama-quantize wrote for the same inputs; the
 * reference dot against the dequantized values; every SIMD kernel set's
 * dot and matrix-vector kernel against the reference dot.
 */
#include "kt.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

/* E2M1 decoded from the code's bits, independently of any table. */
static double e2m1(unsigned code) {
    const int sign = (code >> 3) & 1, exp = (code >> 1) & 3, man = code & 1;
    const double mag = exp == 0 ? 0.5 * man : ldexp(1.0 + 0.5 * man, exp - 1);
    return sign ? -mag : mag;
}

static void test_type_row(void **state) {
    (void)state;
    assert_int_equal(LF_TYPE_MXFP4, 39);   /* ggml.h's GGML_TYPE_MXFP4 */
    const lf_type_traits *t = lf_type_traits_get(LF_TYPE_MXFP4);
    assert_int_equal(t->block_size, 32);
    assert_int_equal(t->type_size, 17);
    assert_int_equal(t->vec_dot_type, LF_TYPE_Q8_0);
    assert_true(lf_type_supported(LF_TYPE_MXFP4));
    assert_string_equal(lf_type_name(LF_TYPE_MXFP4), "mxfp4");
    assert_int_equal(lf_row_size(LF_TYPE_MXFP4, 2880), 90 * 17);   /* gpt-oss width */
}

/* Every code at every scale, at every position of the block. */
static void test_dequant_spec(void **state) {
    (void)state;
    lf_block_mxfp4 b;
    float out[32];
    for (int e = 0; e < 256; e++) {
        b.e = (uint8_t)e;
        for (int j = 0; j < 16; j++)   /* codes j and 15 - j */
            b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
        lf_type_traits_get(LF_TYPE_MXFP4)->to_float(&b, out, 32);
        const double scale = ldexp(1.0, e - 127);
        for (int j = 0; j < 32; j++) {
            const double want = e2m1((unsigned)(j < 16 ? j : 31 - j)) * scale;
            /* the largest scales overflow float: infinity, as in GGML */
            if (fabs(want) > 3.4028234663852886e38)
                assert_true(isinf(out[j]) && (out[j] < 0) == (want < 0));
            else
                assert_true((double)out[j] == want);
        }
    }
}

#include "mxfp4_row.h"

/* Blocks llama-quantize (llama.cpp 0.5.0-dev, commit de3ff81) wrote for
 * mx_test_row as row 0 of blk.0.ffn_gate_exps (`llama-quantize in.gguf
 * out.gguf MXFP4_MOE`, no importance matrix), recorded 2026-12-07. */
static const uint8_t ggml_blocks[8 * 17] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x7e, 0xee, 0xdd, 0xdd, 0xcc, 0xcc, 0xbb, 0xaa, 0x99, 0x00, 0x11, 0x22, 0x33, 0x44, 0x44, 0x55, 0x55,
    0x7d, 0x30, 0x41, 0x42, 0x53, 0x54, 0x65, 0x65, 0x76, 0x76, 0x76, 0x06, 0x17, 0x27, 0x30, 0x41, 0x52,
    0x73, 0xac, 0xc4, 0x34, 0x5a, 0x6d, 0xec, 0x35, 0xea, 0xa4, 0xd4, 0x0d, 0x54, 0x65, 0xb1, 0xbc, 0x65,
    0x86, 0xf7, 0x4e, 0x56, 0xa3, 0x7b, 0xfc, 0xf7, 0x36, 0x24, 0x4a, 0xa9, 0x90, 0x2c, 0xcc, 0x47, 0xfc,
    0x82, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x7e, 0xec, 0xda, 0xdd, 0xed, 0xce, 0xac, 0xbf, 0xfe, 0xed, 0x9b, 0xfe, 0xdf, 0xca, 0xca, 0xca, 0xbd,
    0x80, 0x50, 0xf0, 0x00, 0x00, 0x00, 0x01, 0x94, 0x09, 0x07, 0xb0, 0x30, 0x00, 0x00, 0x09, 0x00, 0x01
};

static void test_quantize_matches_ggml(void **state) {
    (void)state;
    float x[256], back[256];
    mx_test_row(x);
    uint8_t q[8 * 17];
    lf_quantize_row_mxfp4_ref(x, q, 256);
    for (int b = 0; b < 8; b++)
        assert_memory_equal(q + 17 * b, ggml_blocks + 17 * b, 17);
    /* and every value is the nearest level of its block's scale */
    lf_type_traits_get(LF_TYPE_MXFP4)->to_float(q, back, 256);
    for (int i = 0; i < 256; i++) {
        const double d = ldexp(1.0, q[17 * (i / 32)] - 127);
        double best = INFINITY;
        for (unsigned c = 0; c < 16; c++)
            best = fmin(best, fabs(e2m1(c) * d - x[i]));
        assert_true(fabs((double)back[i] - x[i]) <= best * (1 + 1e-6));
    }
}

static void test_vec_dot_ref(void **state) {
    (void)state;
    float x[256], w[256], a[256];
    mx_test_row(w);
    for (int i = 0; i < 256; i++)
        x[i] = sinf(0.37f * (float)i);
    uint8_t wq[8 * 17];
    lf_block_q8_0 xq[8];
    lf_quantize_row_mxfp4_ref(w, wq, 256);
    lf_quantize_row_q8_0_ref(x, xq, 256);
    lf_type_traits_get(LF_TYPE_Q8_0)->to_float(xq, a, 256);
    float wd[256];
    lf_type_traits_get(LF_TYPE_MXFP4)->to_float(wq, wd, 256);
    double want = 0;
    for (int i = 0; i < 256; i++)
        want += (double)wd[i] * a[i];
    float got;
    lf_type_traits_get(LF_TYPE_MXFP4)->vec_dot(256, &got, wq, xq);
    assert_true(fabs(got - want) <= 1e-5 * fabs(want) + 1e-6);
}

/* Rows of random codes under exponents around 2^0 (and the two
 * subnormal scales), Q8_0 activations over the full int8 range but -128. */
static void random_rows(uint8_t *w, int rows, int nb, lf_block_q8_0 *y, uint32_t seed) {
    for (int i = 0; i < rows * nb * 17; i++) {
        seed = seed * 1664525u + 1013904223u;
        w[i] = (uint8_t)(seed >> 24);
    }
    for (int i = 0; i < rows * nb; i++) {
        seed = seed * 1664525u + 1013904223u;
        uint8_t e = (uint8_t)(112 + (seed >> 27));   /* 2^-16 .. 2^15 */
        w[i * 17] = i % 11 == 5 ? (uint8_t)(i % 2) : e;
    }
    for (int b = 0; b < nb; b++) {
        seed = seed * 1664525u + 1013904223u;
        y[b].d = lf_float_to_half(0.001f + (float)(seed >> 8) / 16777216.0f);
        for (int j = 0; j < 32; j++) {
            seed = seed * 1664525u + 1013904223u;
            y[b].qs[j] = (int8_t)(-127 + (int)((seed >> 8) % 255));
        }
    }
}

/* Every SIMD kernel set this CPU runs (AVX2, AVX-512 with and without
 * VNNI, NEON with and without sdot): vec_dot and the 1..4-row mv against
 * the scalar reference, on even and odd block counts (the AVX-512 kernel
 * pairs blocks) up to gpt-oss's 2880 columns. */
static void test_vec_dot_simd(void **state) {
    (void)state;
    static const struct { lf_isa_level level; unsigned flags; } sets[] = {
        {LF_ISA_AVX2, 0}, {LF_ISA_AVX512, 0}, {LF_ISA_AVX512, LF_KS_NO_VNNI}, {LF_ISA_NEON, 0},
        {LF_ISA_NEON, LF_KS_NO_DOTPROD},
    };
    static const int nbs[] = {1, 2, 3, 5, 7, 33, 90};
    enum { MAXB = 90 };
    static uint8_t w[4 * MAXB * 17];
    static lf_block_q8_0 y[MAXB];
    int tested = 0;
    lf_kernel_set scalar;
    assert_int_equal(lf_kernel_set_build(&scalar, LF_ISA_SCALAR, 0, NULL), 0);
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        lf_kernel_set ks;
        lf_error err = {0};
        if (lf_kernel_set_build(&ks, sets[k].level, sets[k].flags, &err) < 0)
            continue;
        tested++;
        /* each set brings its own kernels: a set left with the scalar
         * ones would pass below without testing anything */
        assert_true(ks.vec_dot[LF_TYPE_MXFP4] != scalar.vec_dot[LF_TYPE_MXFP4]);
        assert_true(ks.mv[LF_TYPE_MXFP4] != scalar.mv[LF_TYPE_MXFP4]);
        for (size_t t = 0; t < sizeof nbs / sizeof nbs[0]; t++) {
            const int nb = nbs[t], n = nb * 32;
            const size_t bx = (size_t)nb * 17;
            random_rows(w, 4, nb, y, 7u + (uint32_t)t);
            float want[4], got[4], one;
            double mag = 0;
            for (int r = 0; r < 4; r++) {
                lf_vec_dot_mxfp4_ref(n, &want[r], w + r * bx, y);
                mag = fmax(mag, fabs(want[r]));
            }
            const double tol = 1e-5 * mag + 1e-30;
            ks.vec_dot[LF_TYPE_MXFP4](n, &one, w + 3 * bx, y);
            assert_true(fabs(one - want[3]) <= tol);
            for (int nr = 1; nr <= 4; nr++) {
                ks.mv[LF_TYPE_MXFP4](n, got, w, bx, y, nr);
                for (int r = 0; r < nr; r++)
                    assert_true(fabs(got[r] - want[r]) <= tol);
            }
        }
    }
    if (!tested) {
        printf("  (skipping: no SIMD kernel set runs on this CPU)\n");
        skip();
    }
}

/* lf_matmul with MXFP4 weights on every kernel set (the matrix-vector
 * kernels for n = 1, the packed int8 GEMM for larger n) against the
 * reference dot of each row with each Q8_0-quantized activation row:
 * odd row counts around the 4- and 16-row tiles, an odd block count. */
static void test_matmul(void **state) {
    (void)state;
    enum { NB = 5, K = NB * 32, MAXR = 37, MAXN = 17 };
    static uint8_t w[MAXR * NB * 17];
    static lf_block_q8_0 xq[NB], scratch[NB];
    static float x[MAXN * K], y[MAXN * MAXR], wd[K], xd[K];
    for (int r = 0; r < MAXR; r += 4)
        random_rows(w + (size_t)r * NB * 17, MAXR - r < 4 ? MAXR - r : 4, NB, scratch,
                    99u + (uint32_t)r);
    for (int i = 0; i < MAXN * K; i++)
        x[i] = sinf(0.11f * (float)i) * (1.0f + (float)(i % 7));
    lf_pool *pool = lf_pool_create(2, false);
    assert_non_null(pool);
    kt_set sets[8];
    const int nsets = kt_sets(sets);
    static const int rows[] = {1, 17, 37}, ns[] = {1, 5, 17};
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        lf_kernel_set_activate(&ks);
        for (int ri = 0; ri < 3; ri++)
            for (int ni = 0; ni < 3; ni++) {
                const lf_mat m = {.type = LF_TYPE_MXFP4, .rows = rows[ri], .cols = K,
                                  .row_bytes = NB * 17, .data = w};
                void *work = kt_alloc(lf_matmul_work_size(&m, ns[ni]));
                lf_matmul(pool, &m, x, ns[ni], y, work);
                free(work);
                for (int c = 0; c < ns[ni]; c++) {
                    lf_quantize_row_q8_0_ref(x + (size_t)c * K, xq, K);
                    lf_type_traits_get(LF_TYPE_Q8_0)->to_float(xq, xd, K);
                    for (int r = 0; r < rows[ri]; r++) {
                        float want;
                        lf_vec_dot_mxfp4_ref(K, &want, w + (size_t)r * NB * 17, xq);
                        lf_type_traits_get(LF_TYPE_MXFP4)->to_float(w + (size_t)r * NB * 17, wd, K);
                        double mag = 0;
                        for (int k = 0; k < K; k++)
                            mag += fabs((double)wd[k] * xd[k]);
                        const float got = y[(size_t)c * rows[ri] + r];
                        if (!(fabs(got - want) <= 1e-5 * mag + 1e-30))
                            fail_msg("%s rows %d n %d: y[%d][%d] = %g, reference %g", ks.name,
                                     rows[ri], ns[ni], c, r, got, want);
                    }
                }
            }
    }
    lf_kernels_init(LF_ISA_AUTO_LEVEL, NULL);
    lf_pool_free(pool);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_row),
        cmocka_unit_test(test_dequant_spec),
        cmocka_unit_test(test_quantize_matches_ggml),
        cmocka_unit_test(test_vec_dot_ref),
        cmocka_unit_test(test_vec_dot_simd),
        cmocka_unit_test(test_matmul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
