/*
 * lf_matmul against lf_matmul_ref (dequantized weights, double sums) for
 * every weight type, awkward shapes (one block, odd row counts, rows not a
 * multiple of the 4-row or 16-row tiles), n = 1, 2, 3, 5, 17, 64 and 1-4
 * threads, on every kernel set this machine can run, plus the packed path
 * driven by the scalar tile so packing is covered on every architecture.
 * The bound per output is derived, not guessed: the activation
 * quantization error of each element (half a quantization step, plus the
 * fp16 rounding of the scale) times |w|, plus float rounding of the sums.
 */
#include "kt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const int ns[] = {1, 2, 3, 5, 17, 64};
static const int row_counts[] = {1, 3, 17, 37};
#define N_NS ((int)(sizeof ns / sizeof ns[0]))
#define N_ROWS ((int)(sizeof row_counts / sizeof row_counts[0]))

/* Largest error quantizing x[k] into vt can introduce (k at the start of
 * its block: the result is the same for the whole block). */
static double act_error(lf_type vt, const float *x, int cols, int k) {
    switch (vt) {
    case LF_TYPE_F32: return 0;
    case LF_TYPE_F16: return fabs(x[k]) * ldexp(1, -11) + ldexp(1, -25);
    case LF_TYPE_BF16: return fabs(x[k]) * ldexp(1, -8);
    default: {
        int bl = vt == LF_TYPE_Q8_K ? 256 : 32, b0 = k / bl * bl;
        double amax = 0;
        for (int j = b0; j < b0 + bl && j < cols; j++)
            amax = fmax(amax, fabs(x[j]));
        return amax / 127 * (0.5 + 128 * ldexp(1, -11)) * 1.001;
    }
    }
}

typedef struct mm_case {
    lf_type t;
    int rows, cols, n;
} mm_case;

static void check_one(lf_pool *pool, const mm_case *mc, kt_rng *rng, const char *what) {
    const lf_type_traits *tr = lf_type_traits_get(mc->t);
    lf_type vt = tr->vec_dot_type;
    int rows = mc->rows, cols = mc->cols, n = mc->n;
    lf_mat w = {.type = mc->t, .rows = rows, .cols = cols,
                .row_bytes = lf_row_size(mc->t, cols)};
    void *wd = kt_alloc(w.row_bytes * rows);
    kt_fill_weights(rng, mc->t, wd, rows, cols);
    w.data = wd;
    float *x = kt_alloc(sizeof(float) * n * cols);
    for (int i = 0; i < n * cols; i++)
        x[i] = kt_uniform(rng, -1, 1) * (i % 7 == 0 ? 4.f : 1.f);
    float *y = kt_alloc(sizeof(float) * n * rows), *yref = kt_alloc(sizeof(float) * n * rows);
    for (int i = 0; i < n * rows; i++)
        y[i] = NAN;   /* every output must be written */
    void *work = kt_alloc(lf_matmul_work_size(&w, n));
    lf_matmul(pool, &w, x, n, y, work);
    lf_matmul_ref(&w, x, n, yref);
    float *wf = kt_alloc(sizeof(float) * cols);
    double *qerrs = kt_alloc(sizeof(double) * cols * n);
    int qbl = vt == LF_TYPE_Q8_K ? 256 : 32;
    for (int j = 0; j < n; j++)
        for (int k = 0; k < cols; k++) {
            bool blockwise = vt != LF_TYPE_F32 && vt != LF_TYPE_F16 && vt != LF_TYPE_BF16;
            qerrs[(size_t)j * cols + k] =
                blockwise && k % qbl ? qerrs[(size_t)j * cols + k - 1]
                                     : act_error(vt, x + (size_t)j * cols, cols, k);
        }
    for (int r = 0; r < rows; r++) {
        lf_dequantize(mc->t, (const char *)wd + r * w.row_bytes, wf, 1, cols);
        double wmax = 0;
        for (int k = 0; k < cols; k++)
            wmax = fmax(wmax, fabs(wf[k]));
        for (int j = 0; j < n; j++) {
            const float *xj = x + (size_t)j * cols;
            const double *qerr = qerrs + (size_t)j * cols;
            double bound = 0, mag = 0;
            for (int k = 0; k < cols; k++) {
                bound += fabs(wf[k]) * qerr[k];
                mag += (fabs(wf[k]) + wmax) * (fabs(xj[k]) + qerr[k]);
            }
            if (vt == LF_TYPE_Q8_1) {
                /* Q8_1's s is d·Σq rounded to fp16, used with the min. */
                for (int b = 0; b < cols / 32; b++) {
                    const lf_half *dm = (const lf_half *)((const char *)wd + r * w.row_bytes +
                                                          b * tr->type_size);
                    double sx = 0;
                    for (int k = 32 * b; k < 32 * b + 32; k++)
                        sx += fabs(xj[k]) + qerr[k];
                    bound += fabs(lf_half_to_float(dm[1])) * sx * ldexp(1, -10);
                }
            }
            bound += (cols / 16 + 16) * ldexp(1, -23) * mag + 1e-30;
            float got = y[(size_t)j * rows + r], want = yref[(size_t)j * rows + r];
            if (!(fabs(got - want) <= bound))
                fail_msg("%s: %s rows=%d cols=%d n=%d threads=%d: y[%d][%d] = %.9g, "
                         "reference %.9g, bound %.3g", what, tr->name, rows, cols, n,
                         lf_pool_size(pool), j, r, got, want, bound);
        }
    }
    free(wd); free(x); free(y); free(yref); free(work); free(wf); free(qerrs);
}

/* Every type × shape × n on kernel set ks with the given pools. */
static int sweep(lf_pool **pools, int npools, const char *what, kt_rng *rng, bool all_shapes) {
    int count = 0;
    for (int ti = 0; ti < KT_N_WEIGHT_TYPES; ti++) {
        lf_type t = kt_weight_types[ti];
        const lf_type_traits *tr = lf_type_traits_get(t);
        int bs = tr->block_size == 1 ? 32 : tr->block_size;
        for (int nb = 1; nb <= 3; nb += 2) {
            int cols = bs * nb * (bs == 32 && nb > 1 ? 3 : 1);   /* 32, 288 / 256, 768 */
            for (int ri = 0; ri < N_ROWS; ri++) {
                if (!all_shapes && ri % 2)
                    continue;
                for (int ni = 0; ni < N_NS; ni++) {
                    mm_case mc = {t, row_counts[ri], cols, ns[ni]};
                    lf_pool *pool = pools[(ti + ri + ni) % npools];
                    check_one(pool, &mc, rng, what);
                    count++;
                }
            }
        }
    }
    return count;
}

static lf_pool *pools[5];   /* NULL, then 1..4 threads */

static int setup(void **state) {
    (void)state;
    pools[0] = NULL;
    for (int i = 1; i <= 4; i++) {
        pools[i] = lf_pool_create(i, false);
        if (!pools[i])
            return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 1; i <= 4; i++)
        lf_pool_free(pools[i]);
    return 0;
}

static void test_matmul_every_set(void **state) {
    (void)state;
    kt_set sets[8];
    int nsets = kt_sets(sets);
    kt_rng rng = {99};
    lf_isa isa;
    lf_isa_detect(&isa);
    lf_isa_level best = lf_isa_best(&isa);
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        lf_kernel_set_activate(&ks);
        /* the best set gets every shape and every pool, the others fewer */
        int count = sweep(pools, 5, ks.name, &rng, sets[si].level == best && !sets[si].flags);
        print_message("%s: %d products checked\n", ks.name, count);
    }
    lf_kernels_init(LF_ISA_SCALAR, NULL);
}

/* The packed path with the scalar tile: packing and activation blocks on
 * any architecture, and the thread split of panels. */
static void test_matmul_packed_reference_tile(void **state) {
    (void)state;
    lf_kernel_set ks;
    assert_int_equal(lf_kernel_set_build(&ks, LF_ISA_SCALAR, 0, NULL), 0);
    ks.gemm_tile = lf_gemm_tile_ref;
    ks.gemm_u_max = 255;
    ks.gemm_f_tile = lf_gemm_f_tile_ref;
    lf_kernel_set_activate(&ks);
    kt_rng rng = {5};
    int count = sweep(pools, 5, "scalar+packed", &rng, false);
    print_message("scalar tile: %d products checked\n", count);
    lf_kernels_init(LF_ISA_SCALAR, NULL);
}

/* The packed path's edges on every kernel set: panels of 1, 5, 8, 9, 15
 * and 16 rows (inside, at and past the 8-row halves of 256-bit tiles),
 * 13 columns (a full block of 8 and a partial one of 5, whose column quads
 * are 4 and 1 wide), odd block counts, and a float K that is not a
 * multiple of 8 (the packers' scalar tails) nor of the float path's k
 * slice. */
static void test_matmul_packed_edges(void **state) {
    (void)state;
    static const lf_type types[] = {LF_TYPE_Q4_0, LF_TYPE_Q8_0, LF_TYPE_Q5_0, LF_TYPE_Q4_K,
                                    LF_TYPE_Q6_K, LF_TYPE_IQ4_NL, LF_TYPE_F16, LF_TYPE_BF16,
                                    LF_TYPE_F32};
    static const int rows[] = {1, 5, 8, 9, 15, 16};
    kt_set sets[8];
    int nsets = kt_sets(sets);
    kt_rng rng = {31};
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        lf_kernel_set_activate(&ks);
        for (int ti = 0; ti < (int)(sizeof types / sizeof types[0]); ti++) {
            const lf_type_traits *tr = lf_type_traits_get(types[ti]);
            int cols = tr->block_size == 1 ? 45 : tr->block_size * (tr->block_size == 32 ? 5 : 3);
            for (int ri = 0; ri < (int)(sizeof rows / sizeof rows[0]); ri++) {
                mm_case mc = {types[ti], rows[ri], cols, 13};
                check_one(pools[1 + ri % 2], &mc, &rng, ks.name);
            }
            if (tr->block_size == 1) {
                /* float K in three slices of the k-blocked sweep (128,
                 * 128, 45) over a group of 4 panels and a group of one
                 * panel of 6 rows */
                mm_case mc = {types[ti], 70, 301, 13};
                check_one(pools[2], &mc, &rng, ks.name);
            }
        }
    }
    lf_kernels_init(LF_ISA_SCALAR, NULL);
}

/* y of a type × rows × cols weight for n columns, with every pool (1..4
 * threads, three times each) against no pool: bit for bit the same (each
 * output is computed by exactly one thread, in the same order). */
static void check_thread_invariance(kt_rng *rng, lf_type type, int rows, int cols, int n) {
    lf_mat w = {.type = type, .rows = rows, .cols = cols};
    w.row_bytes = lf_row_size(w.type, w.cols);
    void *wd = kt_alloc(w.row_bytes * w.rows);
    kt_fill_weights(rng, w.type, wd, rows, cols);
    w.data = wd;
    float *x = kt_alloc(sizeof(float) * (size_t)n * (size_t)cols);
    for (int i = 0; i < n * cols; i++)
        x[i] = kt_uniform(rng, -1, 1);
    void *work = kt_alloc(lf_matmul_work_size(&w, n));
    const size_t ybytes = sizeof(float) * (size_t)n * (size_t)rows;
    float *y1 = kt_alloc(ybytes), *y = kt_alloc(ybytes);
    lf_matmul(NULL, &w, x, n, y1, work);
    for (int p = 1; p <= 4; p++) {
        for (int rep = 0; rep < 3; rep++) {
            memset(y, 0xFF, ybytes);
            lf_matmul(pools[p], &w, x, n, y, work);
            assert_memory_equal(y, y1, ybytes);
        }
    }
    free(wd); free(x); free(work); free(y1); free(y);
}

/* Larger than a panel in both directions, several threads: y must be
 * complete and identical whatever the thread count. */
static void test_matmul_thread_invariance(void **state) {
    (void)state;
    lf_kernels_init(LF_ISA_AUTO_LEVEL, NULL);
    static const lf_type types[] = {LF_TYPE_Q4_0, LF_TYPE_Q4_K, LF_TYPE_Q6_K, LF_TYPE_F16};
    kt_rng rng = {2024};
    for (int ti = 0; ti < 4; ti++)
        for (int n = 1; n <= 24; n += 23)
            check_thread_invariance(&rng, types[ti], 70, 512, n);
    lf_kernels_init(LF_ISA_SCALAR, NULL);
}

/* The float path over many groups of 4 panels (777 rows: 13 groups, the
 * last of one panel of 9 rows), which threads take from the front of
 * their own parts and from the backs of each other's: the same as one
 * thread however the groups fell. */
static void test_matmul_float_groups(void **state) {
    (void)state;
    lf_kernels_init(LF_ISA_AUTO_LEVEL, NULL);
    kt_rng rng = {77};
    check_thread_invariance(&rng, LF_TYPE_F16, 777, 160, 13);
    check_thread_invariance(&rng, LF_TYPE_BF16, 777, 160, 13);
    lf_kernels_init(LF_ISA_SCALAR, NULL);
}

int main(void) {
    lf_kernels_init(LF_ISA_SCALAR, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_every_set),
        cmocka_unit_test(test_matmul_packed_reference_tile),
        cmocka_unit_test(test_matmul_packed_edges),
        cmocka_unit_test(test_matmul_thread_invariance),
        cmocka_unit_test(test_matmul_float_groups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
