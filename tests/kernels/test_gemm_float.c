/*
 * The float prompt path's kernels on awkward sizes, every kernel set this
 * machine runs against the portable twins: the activation slice
 * preparation (exact conversions, so byte for byte, and the portable one
 * against an independent conversion through the type table), and the
 * column tile over one or two panels, writing and adding (y += panel ·
 * acts), whose rows and columns outside the tile must stay untouched.
 * The packers that read the interleaved F16 layout in place, byte for
 * byte the portable packer's. test_vecdot covers the other packers and
 * the block tile; test_matmul the whole path through lf_matmul.
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

/* The column tile (gemm_f_cols): columns taken anywhere in three prepared
 * 8-column blocks, in no block order and across block boundaries, over
 * one panel or two (the second with 1, 9 or 16 rows), writing and adding.
 * Each column of y is within the float rounding of its sum (plus y0 when
 * adding) and bit for bit the same whatever the tile it was in: the same
 * column alone, and the second panel's rows alone over that panel; every
 * other float of y stays as it was. */
static void test_tile_cols(void **state) {
    (void)state;
    static const int Ks[] = {1, 2, 7, 128, 131};
    static const int nrs[] = {1, 9, 16};
    enum { LDY = 37, NB = 3, NCOL = NB * LF_GEMM_COLS };
    kt_set sets[8];
    const int nsets = kt_sets(sets);
    kt_rng rng = {1212};
    int tested = 0;
    for (int ki = 0; ki < (int)(sizeof Ks / sizeof Ks[0]); ki++) {
        const int K = Ks[ki];
        float *pan[2];
        for (int q = 0; q < 2; q++) {
            pan[q] = kt_alloc(sizeof(float) * (size_t)K * LF_GEMM_ROWS);
            for (int i = 0; i < K * LF_GEMM_ROWS; i++)
                pan[q][i] = kt_uniform(&rng, -1, 1);
        }
        /* three blocks of [K][8], one after the other as one k slice of
         * the prepared activations lays them out */
        float *acts = kt_alloc(sizeof(float) * (size_t)K * NCOL);
        for (int i = 0; i < K * NCOL; i++)
            acts[i] = kt_uniform(&rng, -1, 1);
        float y0[LF_GEMM_F_COLS_MAX * LDY], y[LF_GEMM_F_COLS_MAX * LDY], one[LDY];
        for (int i = 0; i < LF_GEMM_F_COLS_MAX * LDY; i++)
            y0[i] = kt_uniform(&rng, -4, 4);
        for (int si = 0; si < nsets; si++) {
            lf_kernel_set ks;
            assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
            if (!ks.gemm_f_cols)
                continue;
            assert_true(ks.gemm_f_cols_n >= 1 && ks.gemm_f_cols_n <= LF_GEMM_F_COLS_MAX);
            tested++;
            for (int np = 1; np <= 2; np++)
                for (int ni = 0; ni < (int)(sizeof nrs / sizeof nrs[0]); ni++)
                    for (int nc = 1; nc <= ks.gemm_f_cols_n; nc++)
                        for (int add = 0; add <= 1; add++) {
                            const int nrows = nrs[ni];
                            const int rows = (np - 1) * LF_GEMM_ROWS + nrows;
                            const float *p1 = np == 2 ? pan[1] : NULL;
                            /* columns 5, 12, 19, 2, ... of the 24 */
                            const float *cols[LF_GEMM_F_COLS_MAX];
                            for (int c = 0; c < nc; c++) {
                                const int j = (5 + 7 * c) % NCOL;
                                cols[c] = acts + (size_t)(j / LF_GEMM_COLS) * K * LF_GEMM_COLS +
                                          j % LF_GEMM_COLS;
                            }
                            memcpy(y, y0, sizeof y);
                            ks.gemm_f_cols(K, pan[0], p1, cols, nc, y, LDY, nrows, add);
                            for (int c = 0; c < LF_GEMM_F_COLS_MAX; c++) {
                                if (c < nc) {
                                    /* the same column alone */
                                    memcpy(one, &y0[c * LDY], sizeof one);
                                    ks.gemm_f_cols(K, pan[0], p1, &cols[c], 1, one, LDY, nrows, add);
                                    if (memcmp(one, &y[c * LDY], sizeof one) != 0)
                                        fail_msg("%s cols K=%d np=%d nc=%d nrows=%d add=%d: column "
                                                 "%d differs from the same column alone",
                                                 ks.name, K, np, nc, nrows, add, c);
                                    /* the second panel's rows alone */
                                    if (p1) {
                                        memcpy(one, &y0[c * LDY], sizeof one);
                                        ks.gemm_f_cols(K, p1, NULL, &cols[c], 1, one + LF_GEMM_ROWS,
                                                       LDY, nrows, add);
                                        if (memcmp(one + LF_GEMM_ROWS, &y[c * LDY + LF_GEMM_ROWS],
                                                   sizeof(float) * (LDY - LF_GEMM_ROWS)) != 0)
                                            fail_msg("%s cols K=%d nc=%d nrows=%d add=%d: column %d "
                                                     "of the second panel differs from that panel "
                                                     "alone", ks.name, K, nc, nrows, add, c);
                                    }
                                }
                                for (int r = 0; r < LDY; r++) {
                                    const float got = y[c * LDY + r];
                                    if (c >= nc || r >= rows) {
                                        if (memcmp(&got, &y0[c * LDY + r], sizeof got) != 0)
                                            fail_msg("%s cols K=%d np=%d nc=%d nrows=%d add=%d "
                                                     "wrote y[%d][%d]",
                                                     ks.name, K, np, nc, nrows, add, c, r);
                                        continue;
                                    }
                                    const float *pw = pan[r / LF_GEMM_ROWS];
                                    const int rr = r % LF_GEMM_ROWS;
                                    double want = add ? y0[c * LDY + r] : 0, mag = fabs(want);
                                    for (int k = 0; k < K; k++) {
                                        const double t = (double)pw[k * LF_GEMM_ROWS + rr] *
                                                         cols[c][(size_t)k * LF_GEMM_COLS];
                                        want += t;
                                        mag += fabs(t);
                                    }
                                    if (!(fabs(got - want) <= (K + 8) * ldexp(1, -23) * mag))
                                        fail_msg("%s cols K=%d np=%d nc=%d nrows=%d add=%d "
                                                 "y[%d][%d]: %g, want %g",
                                                 ks.name, K, np, nc, nrows, add, c, r, got, want);
                                }
                            }
                        }
        }
        free(pan[0]); free(pan[1]); free(acts);
    }
    /* an x86 machine with AVX2 must have run it */
    lf_isa isa;
    lf_isa_detect(&isa);
    if (lf_isa_supported(&isa, LF_ISA_AVX2))
        assert_true(tested > 0);
}

/* The F16 packers that read the interleaved layout in place: for 4 to 16
 * rows (whole groups) and K of one to five 32-value steps, the panel is
 * byte for byte the portable packer's from the rows as stored. */
static void test_pack_il(void **state) {
    (void)state;
    static const int Ks[] = {32, 96, 160};
    const lf_il_desc *d = lf_il_desc_get(LF_TYPE_F16);
    assert_non_null(d);
    kt_set sets[8];
    const int nsets = kt_sets(sets);
    kt_rng rng = {4321};
    int tested = 0;
    for (int ki = 0; ki < (int)(sizeof Ks / sizeof Ks[0]); ki++) {
        const int K = Ks[ki];
        const size_t rb = lf_row_size(LF_TYPE_F16, K);
        char *stored = kt_alloc(rb * LF_GEMM_ROWS), *il = kt_alloc(rb * LF_GEMM_ROWS);
        kt_fill_weights(&rng, LF_TYPE_F16, stored, LF_GEMM_ROWS, K);
        for (int g = 0; g < LF_GEMM_ROWS / LF_IL_ROWS; g++)
            d->interleave(il + (size_t)g * LF_IL_ROWS * rb, stored + (size_t)g * LF_IL_ROWS * rb, rb, K);
        float *want = kt_alloc(sizeof(float) * (size_t)K * LF_GEMM_ROWS);
        float *got = kt_alloc(sizeof(float) * (size_t)K * LF_GEMM_ROWS);
        for (int nrows = LF_IL_ROWS; nrows <= LF_GEMM_ROWS; nrows += LF_IL_ROWS) {
            lf_gemm_f_pack_ref(LF_TYPE_F16, stored, rb, nrows, K, want);
            for (int si = 0; si < nsets; si++) {
                lf_kernel_set ks;
                assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
                if (!ks.gemm_f_pack_il[LF_TYPE_F16])
                    continue;
                tested++;
                memset(got, 0x55, sizeof(float) * (size_t)K * LF_GEMM_ROWS);
                ks.gemm_f_pack_il[LF_TYPE_F16](il, rb, nrows, K, got);
                if (memcmp(got, want, sizeof(float) * (size_t)K * LF_GEMM_ROWS) != 0)
                    fail_msg("%s interleaved F16 panel K=%d nrows=%d differs from the portable one",
                             ks.name, K, nrows);
            }
        }
        free(stored); free(il); free(want); free(got);
    }
    lf_isa isa;
    lf_isa_detect(&isa);
    if (lf_isa_supported(&isa, LF_ISA_AVX2))
        assert_true(tested > 0);
}

int main(void) {
    lf_kernels_init(LF_ISA_SCALAR, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prep_slice),
        cmocka_unit_test(test_tile_cols),
        cmocka_unit_test(test_pack_il),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
