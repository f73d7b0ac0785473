/*
 * The float prompt path's kernels on awkward sizes, every kernel set this
 * machine runs against the portable twins: the activation slice
 * preparation (exact conversions, so byte for byte, and the portable one
 * against an independent conversion through the type table), and the
 * adding tile (y += panel · acts), whose rows and columns outside the tile
 * must stay untouched. test_vecdot covers the packers and the writing
 * tile; test_matmul the whole path through lf_matmul.
 */
#include "kt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const lf_type float_types[] = {LF_TYPE_F32, LF_TYPE_F16, LF_TYPE_BF16};

/* Slices of kl values (tails of 1..7 past a multiple of 8, and none) of
 * 1..8 rows spaced wider than a row: the set's kernel writes exactly the
 * portable bytes, zero columns included, and those are the values the type
 * table's to_float gives. */
static void test_prep_slice(void **state) {
    (void)state;
    static const int kls[] = {1, 7, 8, 9, 45, 128};
    kt_set sets[8];
    const int nsets = kt_sets(sets);
    kt_rng rng = {77};
    for (int ti = 0; ti < 3; ti++) {
        const lf_type vt = float_types[ti];
        const lf_type_traits *tr = lf_type_traits_get(vt);
        for (int ki = 0; ki < (int)(sizeof kls / sizeof kls[0]); ki++) {
            const int kl = kls[ki];
            const size_t stride = lf_row_size(vt, kl) + 24;
            char *src = kt_alloc(stride * LF_GEMM_COLS);
            float *want = kt_alloc(sizeof(float) * (size_t)kl * LF_GEMM_COLS);
            float *got = kt_alloc(sizeof(float) * (size_t)kl * LF_GEMM_COLS);
            float *row = kt_alloc(sizeof(float) * (size_t)kl);
            for (int c = 0; c < LF_GEMM_COLS; c++)
                kt_fill_act(&rng, vt, src + (size_t)c * stride, kl);
            for (int ncols = 1; ncols <= LF_GEMM_COLS; ncols++) {
                memset(want, 0x7F, sizeof(float) * (size_t)kl * LF_GEMM_COLS);
                lf_gemm_f_prep_slice(vt, src, stride, ncols, kl, want);
                for (int c = 0; c < LF_GEMM_COLS; c++) {
                    if (c < ncols)
                        tr->to_float(src + (size_t)c * stride, row, kl);
                    for (int k = 0; k < kl; k++) {
                        const float v = c < ncols ? row[k] : 0.0f;
                        if (memcmp(&want[(size_t)k * LF_GEMM_COLS + (size_t)c], &v, sizeof v) != 0)
                            fail_msg("portable %s slice kl=%d ncols=%d k=%d col %d: %g, want %g",
                                     tr->name, kl, ncols, k, c,
                                     want[(size_t)k * LF_GEMM_COLS + (size_t)c], v);
                    }
                }
                for (int si = 0; si < nsets; si++) {
                    lf_kernel_set ks;
                    assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
                    if (!ks.gemm_f_prep)
                        continue;
                    memset(got, 0x55, sizeof(float) * (size_t)kl * LF_GEMM_COLS);
                    ks.gemm_f_prep(vt, src, stride, ncols, kl, got);
                    if (memcmp(got, want, sizeof(float) * (size_t)kl * LF_GEMM_COLS) != 0)
                        fail_msg("%s %s slice kl=%d ncols=%d differs from the portable one",
                                 ks.name, tr->name, kl, ncols);
                }
            }
            free(src); free(want); free(got); free(row);
        }
    }
}

/* y (ldy 21 floats a column, sentinels around the tile) starts from random
 * values; the adding tile must leave y0 + panel · acts in rows < nrows of
 * columns < ncols, within the float rounding of the sums, and every other
 * float as it was. K covers one k, odd tails of the k-pair loop, the
 * path's slice width and past it. */
static void test_tile_acc(void **state) {
    (void)state;
    static const int Ks[] = {1, 2, 7, 128, 131};
    static const int nrs[] = {1, 5, 8, 9, 16};
    enum { LDY = 21 };
    kt_set sets[8];
    const int nsets = kt_sets(sets);
    kt_rng rng = {505};
    for (int ki = 0; ki < (int)(sizeof Ks / sizeof Ks[0]); ki++) {
        const int K = Ks[ki];
        float *panel = kt_alloc(sizeof(float) * (size_t)K * LF_GEMM_ROWS);
        float *acts = kt_alloc(sizeof(float) * (size_t)K * LF_GEMM_COLS);
        for (int i = 0; i < K * LF_GEMM_ROWS; i++)
            panel[i] = kt_uniform(&rng, -1, 1);
        for (int i = 0; i < K * LF_GEMM_COLS; i++)
            acts[i] = kt_uniform(&rng, -1, 1);
        float y0[LF_GEMM_COLS * LDY], y[LF_GEMM_COLS * LDY], prod[LF_GEMM_COLS * LF_GEMM_ROWS];
        for (int i = 0; i < LF_GEMM_COLS * LDY; i++)
            y0[i] = kt_uniform(&rng, -4, 4);
        for (int si = 0; si < nsets; si++) {
            lf_kernel_set ks;
            assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
            if (!ks.gemm_f_tile_acc)
                continue;
            for (int ni = 0; ni < (int)(sizeof nrs / sizeof nrs[0]); ni++)
                for (int nc = 1; nc <= LF_GEMM_COLS; nc++) {
                    const int nrows = nrs[ni];
                    lf_gemm_f_tile_ref(K, panel, acts, nc, prod, LF_GEMM_ROWS, nrows);
                    memcpy(y, y0, sizeof y);
                    ks.gemm_f_tile_acc(K, panel, acts, nc, y, LDY, nrows);
                    for (int c = 0; c < LF_GEMM_COLS; c++)
                        for (int r = 0; r < LDY; r++) {
                            const float got = y[c * LDY + r];
                            if (c >= nc || r >= nrows) {
                                if (memcmp(&got, &y0[c * LDY + r], sizeof got) != 0)
                                    fail_msg("%s tile_acc K=%d nc=%d nrows=%d wrote y[%d][%d]",
                                             ks.name, K, nc, nrows, c, r);
                                continue;
                            }
                            double mag = fabs(y0[c * LDY + r]);
                            for (int k = 0; k < K; k++)
                                mag += fabs(panel[k * LF_GEMM_ROWS + r] * acts[k * LF_GEMM_COLS + c]);
                            const double want = (double)y0[c * LDY + r] + prod[c * LF_GEMM_ROWS + r];
                            if (!(fabs(got - want) <= (K + 8) * ldexp(1, -23) * mag))
                                fail_msg("%s tile_acc K=%d nc=%d nrows=%d y[%d][%d]: %g, want %g",
                                         ks.name, K, nc, nrows, c, r, got, want);
                        }
                }
        }
        free(panel); free(acts);
    }
}

/* The two-panel tile, writing and adding: rows 0-15 are panel p0's
 * product, rows 16 + r (r < nrows1) panel p1's, each within the float
 * rounding of the sums (plus y0 when adding) and bit for bit what the
 * set's one-panel tiles give; every other float of y stays as it was. */
static void test_tile2(void **state) {
    (void)state;
    static const int Ks[] = {1, 2, 7, 128, 131};
    static const int nrs[] = {1, 9, 16};
    enum { LDY = 37 };
    kt_set sets[8];
    const int nsets = kt_sets(sets);
    kt_rng rng = {909};
    int tested = 0;
    for (int ki = 0; ki < (int)(sizeof Ks / sizeof Ks[0]); ki++) {
        const int K = Ks[ki];
        float *p0 = kt_alloc(sizeof(float) * (size_t)K * LF_GEMM_ROWS);
        float *p1 = kt_alloc(sizeof(float) * (size_t)K * LF_GEMM_ROWS);
        float *acts = kt_alloc(sizeof(float) * (size_t)K * LF_GEMM_COLS);
        for (int i = 0; i < K * LF_GEMM_ROWS; i++) {
            p0[i] = kt_uniform(&rng, -1, 1);
            p1[i] = kt_uniform(&rng, -1, 1);
        }
        for (int i = 0; i < K * LF_GEMM_COLS; i++)
            acts[i] = kt_uniform(&rng, -1, 1);
        float y0[LF_GEMM_COLS * LDY], y[LF_GEMM_COLS * LDY];
        float prod[2][LF_GEMM_COLS * LF_GEMM_ROWS];
        for (int i = 0; i < LF_GEMM_COLS * LDY; i++)
            y0[i] = kt_uniform(&rng, -4, 4);
        for (int si = 0; si < nsets; si++) {
            lf_kernel_set ks;
            assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
            if (!ks.gemm_f_tile2)
                continue;
            tested++;
            for (int ni = 0; ni < (int)(sizeof nrs / sizeof nrs[0]); ni++)
                for (int nc = 1; nc <= LF_GEMM_COLS; nc++)
                    for (int add = 0; add <= 1; add++) {
                        const int nrows1 = nrs[ni];
                        lf_gemm_f_tile_ref(K, p0, acts, nc, prod[0], LF_GEMM_ROWS, LF_GEMM_ROWS);
                        lf_gemm_f_tile_ref(K, p1, acts, nc, prod[1], LF_GEMM_ROWS, nrows1);
                        memcpy(y, y0, sizeof y);
                        ks.gemm_f_tile2(K, p0, p1, acts, nc, y, LDY, nrows1, add);
                        /* bit for bit what the one-panel tiles give */
                        float one[LF_GEMM_COLS * LDY];
                        memcpy(one, y0, sizeof one);
                        const lf_gemm_f_tile_fn t1 = add ? ks.gemm_f_tile_acc : ks.gemm_f_tile;
                        t1(K, p0, acts, nc, one, LDY, LF_GEMM_ROWS);
                        t1(K, p1, acts, nc, one + LF_GEMM_ROWS, LDY, nrows1);
                        if (memcmp(one, y, sizeof one) != 0)
                            fail_msg("%s tile2 K=%d nc=%d nrows1=%d add=%d differs from two "
                                     "one-panel tiles", ks.name, K, nc, nrows1, add);
                        for (int c = 0; c < LF_GEMM_COLS; c++)
                            for (int r = 0; r < LDY; r++) {
                                const float got = y[c * LDY + r];
                                const int h = r / LF_GEMM_ROWS, rr = r % LF_GEMM_ROWS;
                                if (c >= nc || r >= LF_GEMM_ROWS + nrows1) {
                                    if (memcmp(&got, &y0[c * LDY + r], sizeof got) != 0)
                                        fail_msg("%s tile2 K=%d nc=%d nrows1=%d add=%d wrote y[%d][%d]",
                                                 ks.name, K, nc, nrows1, add, c, r);
                                    continue;
                                }
                                const float *pw = h ? p1 : p0;
                                double mag = add ? fabs(y0[c * LDY + r]) : 0;
                                for (int k = 0; k < K; k++)
                                    mag += fabs(pw[k * LF_GEMM_ROWS + rr] * acts[k * LF_GEMM_COLS + c]);
                                const double want = (add ? (double)y0[c * LDY + r] : 0) +
                                                    prod[h][c * LF_GEMM_ROWS + rr];
                                if (!(fabs(got - want) <= (K + 8) * ldexp(1, -23) * mag))
                                    fail_msg("%s tile2 K=%d nc=%d nrows1=%d add=%d y[%d][%d]: %g, want %g",
                                             ks.name, K, nc, nrows1, add, c, r, got, want);
                            }
                    }
        }
        free(p0); free(p1); free(acts);
    }
    /* an AVX-512 machine must have run it */
    lf_isa isa;
    lf_isa_detect(&isa);
    if (lf_isa_supported(&isa, LF_ISA_AVX512))
        assert_true(tested > 0);
}

int main(void) {
    lf_kernels_init(LF_ISA_SCALAR, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prep_slice),
        cmocka_unit_test(test_tile_acc),
        cmocka_unit_test(test_tile2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
