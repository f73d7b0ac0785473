/*
 * Interleaved weight layouts (kernels/interleave.c and the types' own
 * layout files): every layout round-trips bit for bit, the Q4_0 / Q8_0
 * layouts put each byte where the documentation says, every mv_il kernel
 * of every kernel set this machine runs equals the scalar reference dot
 * product of the stored rows, and interleaved matrices give the same
 * products as stored ones through lf_matmul (decode, small-batch and
 * packed paths, several threads, under every kernel set this machine
 * runs; also under a kernel set without the layout's kernel) and the
 * same floats through lf_mat_rows_to_float.
 */
#include "kt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const lf_type il_types[] = {LF_TYPE_Q4_0, LF_TYPE_Q8_0, LF_TYPE_Q5_0, LF_TYPE_Q4_K,
                                   LF_TYPE_Q5_K, LF_TYPE_Q6_K, LF_TYPE_F16};

/* The column unit of a layout: its col_align, else the block size. */
static int il_unit(lf_type t) {
    const lf_il_desc *d = lf_il_desc_get(t);
    return d && d->col_align ? d->col_align : lf_type_traits_get(t)->block_size;
}
#define N_IL_TYPES ((int)(sizeof il_types / sizeof il_types[0]))

/* Blocks per row to try: one, tails of 1-3 past a whole step, long rows. */
static const int block_counts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 33, 64, 130};
#define N_COUNTS ((int)(sizeof block_counts / sizeof block_counts[0]))

static void test_round_trip(void **state) {
    (void)state;
    kt_rng rng = {0x1234567};
    int checked = 0;
    for (int ti = 0; ti < N_IL_TYPES; ti++) {
        lf_type t = il_types[ti];
        const lf_il_desc *d = lf_il_desc_get(t);
        if (!d)
            continue;
        int bs = il_unit(t);
        for (int ci = 0; ci < N_COUNTS; ci++) {
            int n = bs * block_counts[ci];
            size_t rb = lf_row_size(t, n), g = 4 * rb;
            uint8_t *src = kt_alloc(g), *il = kt_alloc(g), *back = kt_alloc(g);
            kt_fill_weights(&rng, t, src, 4, n);
            d->interleave(il, src, rb, n);
            d->deinterleave(back, il, rb, n);
            assert_memory_equal(back, src, g);
            /* a permutation of the bytes: the same multiset, so nothing is
             * lost or invented (sum and xor of all bytes agree) */
            uint64_t s1 = 0, s2 = 0;
            for (size_t i = 0; i < g; i++) {
                s1 += src[i];
                s2 += il[i];
            }
            assert_true(s1 == s2 || t == LF_TYPE_Q4_K || t == LF_TYPE_Q5_K || t == LF_TYPE_Q6_K);
            checked++;
            free(src); free(il); free(back);
        }
    }
    assert_true(checked >= 2 * N_COUNTS);
    print_message("round trip: %d (type, size) combinations\n", checked);
}

/* The documented Q4_0 / Q8_0 layout, byte for byte, computed independently
 * from the block structs: step of k blocks = d[r*k + b], then row r's quants. */
static void test_documented_layout(void **state) {
    (void)state;
    kt_rng rng = {99};
    struct { lf_type t; int step; } cases[] = {{LF_TYPE_Q4_0, 4}, {LF_TYPE_Q8_0, 2}};
    for (int c = 0; c < 2; c++) {
        lf_type t = cases[c].t;
        int bs = lf_type_traits_get(t)->block_size;
        size_t bsize = lf_type_traits_get(t)->type_size, qb = bsize - 2;
        for (int nb = 1; nb <= 11; nb++) {
            size_t rb = lf_row_size(t, nb * bs);
            uint8_t *src = kt_alloc(4 * rb), *il = kt_alloc(4 * rb);
            kt_fill_weights(&rng, t, src, 4, nb * bs);
            lf_il_desc_get(t)->interleave(il, src, rb, nb * bs);
            size_t off = 0;
            for (int b0 = 0; b0 < nb; b0 += cases[c].step) {
                int k = nb - b0 < cases[c].step ? nb - b0 : cases[c].step;
                for (int r = 0; r < 4; r++)
                    for (int b = 0; b < k; b++) {
                        const uint8_t *blk = src + r * rb + (size_t)(b0 + b) * bsize;
                        assert_memory_equal(il + off + 2 * (r * k + b), blk, 2);
                        assert_memory_equal(il + off + 8 * k + qb * (size_t)(r * k + b), blk + 2, qb);
                    }
                off += 4 * (size_t)k * bsize;
            }
            assert_int_equal(off, 4 * rb);
            free(src); free(il);
        }
    }
}

/* Q5_0's layout, byte for byte: a step of k blocks is d[r*k + b], then
 * qh[r*k + b] (4 bytes each), then row r's nibbles (16 bytes a block). */
static void test_documented_layout_q5_0(void **state) {
    (void)state;
    kt_rng rng = {98};
    const lf_type t = LF_TYPE_Q5_0;
    for (int nb = 1; nb <= 11; nb++) {
        size_t rb = lf_row_size(t, nb * 32);
        uint8_t *src = kt_alloc(4 * rb), *il = kt_alloc(4 * rb);
        kt_fill_weights(&rng, t, src, 4, nb * 32);
        lf_il_desc_get(t)->interleave(il, src, rb, nb * 32);
        size_t off = 0;
        for (int b0 = 0; b0 < nb; b0 += 4) {
            int k = nb - b0 < 4 ? nb - b0 : 4;
            for (int r = 0; r < 4; r++)
                for (int b = 0; b < k; b++) {
                    const lf_block_q5_0 *blk = (const lf_block_q5_0 *)(src + r * rb) + b0 + b;
                    size_t i = (size_t)(r * k + b);
                    assert_memory_equal(il + off + 2 * i, &blk->d, 2);
                    assert_memory_equal(il + off + 8 * (size_t)k + 4 * i, blk->qh, 4);
                    assert_memory_equal(il + off + 24 * (size_t)k + 16 * i, blk->qs, 16);
                }
            off += 4 * (size_t)k * sizeof(lf_block_q5_0);
        }
        assert_int_equal(off, 4 * rb);
        free(src); free(il);
    }
}

static void test_kernels_match_reference(void **state) {
    (void)state;
    kt_set sets[8];
    int nsets = kt_sets(sets);
    kt_rng rng = {0xabcdef};
    int checked = 0;
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        if (ks.level == LF_ISA_NEON) {
            /* with or without sdot, arm64 has these layouts' kernels: a
             * NEON set missing one would skip its check below silently */
            static const lf_type neon_il[] = {LF_TYPE_Q4_0, LF_TYPE_Q5_0, LF_TYPE_Q8_0, LF_TYPE_F16,
                                              LF_TYPE_Q4_K, LF_TYPE_Q5_K, LF_TYPE_Q6_K};
            for (size_t i = 0; i < sizeof neon_il / sizeof neon_il[0]; i++)
                assert_non_null(ks.mv_il[neon_il[i]]);
        }
        for (int ti = 0; ti < N_IL_TYPES; ti++) {
            lf_type t = il_types[ti];
            if (!ks.mv_il[t])
                continue;
            /* a kernel without a layout would read garbage */
            assert_non_null(lf_il_desc_get(t));
            const lf_type_traits *tr = lf_type_traits_get(t);
            lf_type vt = tr->vec_dot_type;
            for (int ci = 0; ci < N_COUNTS; ci++) {
                int n = il_unit(t) * block_counts[ci];
                size_t rb = lf_row_size(t, n);
                uint8_t *x = kt_alloc(4 * rb), *il = kt_alloc(4 * rb);
                void *y = kt_alloc(lf_row_size(vt, n));
                float *af = kt_alloc((size_t)n * sizeof(float));
                kt_fill_weights(&rng, t, x, 4, n);
                kt_fill_act(&rng, vt, y, n);
                kt_act_to_float(vt, y, af, n);
                const lf_il_desc *d = lf_il_desc_get(t);
                d->interleave(il, x, rb, n);
                void *ya = y;
                if (d->prep_act) {
                    /* the activations as this kernel reads them */
                    assert_int_equal(d->act_bytes(n) % 64, 0);
                    ya = kt_alloc(d->act_bytes(n));
                    d->prep_act(y, ya, n);
                }
                float s[4] = {0};
                ks.mv_il[t](n, s, il, rb, ya, 4);
                if (ya != y)
                    free(ya);
                for (int r = 0; r < 4; r++) {
                    float ref;
                    tr->vec_dot(n, &ref, x + r * rb, y);
                    double tol = (n / 16 + 16) * ldexp(1.0, -23) * kt_magnitude(t, x + r * rb, af, n) + 1e-30;
                    if (!(fabs(s[r] - ref) <= tol))
                        fail_msg("%s mv_il %s n=%d row %d: %.9g vs reference %.9g (tol %.3g)",
                                 ks.name, tr->name, n, r, s[r], ref, tol);
                }
                checked++;
                free(x); free(il); free(y); free(af);
            }
        }
    }
    print_message("mv_il: %d (set, type, size) combinations over %d kernel sets\n", checked, nsets);
}

/* Whole matrices through lf_matmul under kernel set `set` (active on
 * entry and exit): interleaved equals stored. Returns the (type, n)
 * combinations checked. */
static int check_matmul_interleaved(const lf_kernel_set *set, lf_pool *pool, kt_rng *rng) {
    int checked = 0;
    for (int ti = 0; ti < N_IL_TYPES; ti++) {
        lf_type t = il_types[ti];
        const lf_type_traits *tr = lf_type_traits_get(t);
        const int K = tr->block_size == 256 ? 512 : 96 + 160 * (ti + 1), rows = 52;
        size_t rb = lf_row_size(t, K);
        uint8_t *data = kt_alloc(rb * rows), *stored = kt_alloc(rb * rows);
        kt_fill_weights(rng, t, stored, rows, K);
        memcpy(data, stored, rb * rows);
        lf_mat ws = {.type = t, .rows = rows, .cols = K, .row_bytes = rb, .data = stored};
        lf_mat wi = ws;
        wi.data = data;
        if (!lf_mat_can_interleave(&wi)) {
            /* only types without a kernel here may refuse */
            assert_null(lf_kernel_set_active()->mv_il[t]);
            free(data); free(stored);
            continue;
        }
        assert_int_equal(lf_mat_interleave(&wi, data, NULL), 0);
        assert_true(wi.interleaved);
        assert_false(lf_mat_can_interleave(&wi));   /* once only */
        assert_true(memcmp(data, stored, rb * rows) != 0);
        /* rows back as stored, and as floats */
        uint8_t *back = kt_alloc(rb * rows);
        lf_mat_rows_stored(&wi, 0, rows, back);
        assert_memory_equal(back, stored, rb * rows);
        float *f1 = kt_alloc(sizeof(float) * K * 7), *f2 = kt_alloc(sizeof(float) * K * 7);
        lf_dequantize(t, stored + 5 * rb, f1, 7, K);
        assert_int_equal(lf_mat_rows_to_float(&wi, 5, 7, f2), 0);
        assert_memory_equal(f1, f2, sizeof(float) * K * 7);
        const int ns[] = {1, 3, 16, 21};
        for (int k = 0; k < 4; k++) {
            int n = ns[k];
            float *x = kt_alloc(sizeof(float) * K * n);
            for (int i = 0; i < K * n; i++)
                x[i] = kt_uniform(rng, -1, 1);
            float *y1 = kt_alloc(sizeof(float) * rows * n), *y2 = kt_alloc(sizeof(float) * rows * n);
            void *w1 = kt_alloc(lf_matmul_work_size(&ws, n));
            void *w2 = kt_alloc(lf_matmul_work_size(&wi, n));
            lf_matmul(pool, &ws, x, n, y1, w1);
            lf_matmul(pool, &wi, x, n, y2, w2);
            for (int i = 0; i < rows * n; i++) {
                double tol = 1e-4 * (fabs(y1[i]) + 1.0);
                if (!(fabs(y1[i] - y2[i]) <= tol))
                    fail_msg("%s matmul n=%d: element %d interleaved %.9g vs stored %.9g", tr->name,
                             n, i, y2[i], y1[i]);
            }
            /* the same matrix under a kernel set without mv_il for it
             * (scalar): the portable path gives the reference answer */
            lf_kernels_init(LF_ISA_SCALAR, NULL);
            float *y3 = kt_alloc(sizeof(float) * rows * n);
            void *w3 = kt_alloc(lf_matmul_work_size(&wi, n));
            lf_matmul(pool, &wi, x, n, y3, w3);
            lf_matmul(pool, &ws, x, n, y1, w1);
            for (int i = 0; i < rows * n; i++)
                if (!(fabs(y1[i] - y3[i]) <= 1e-5 * (fabs(y1[i]) + 1.0)))
                    fail_msg("%s portable n=%d: element %d %.9g vs %.9g", tr->name, n, i, y3[i], y1[i]);
            lf_kernel_set_activate(set);
            checked++;
            free(x); free(y1); free(y2); free(y3); free(w1); free(w2); free(w3);
        }
        free(back); free(f1); free(f2); free(data); free(stored);
    }
    return checked;
}

/* ... under every kernel set this machine runs (each interleaves for its
 * own kernels, so AVX2 and AVX-512 layouts both meet the decode, small-batch
 * and packed paths). */
static void test_matmul_interleaved(void **state) {
    (void)state;
    kt_set sets[8];
    const int nsets = kt_sets(sets);
    kt_rng rng = {7};
    lf_pool *pool = lf_pool_create(3, false);
    assert_non_null(pool);
    int checked = 0;
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set set;
        assert_int_equal(lf_kernel_set_build(&set, sets[si].level, sets[si].flags, NULL), 0);
        lf_kernel_set_activate(&set);
        checked += check_matmul_interleaved(&set, pool, &rng);
    }
    lf_pool_free(pool);
    lf_kernels_init(LF_ISA_AUTO_LEVEL, NULL);
    print_message("matmul: %d (set, type, n) combinations over %d kernel sets\n", checked, nsets);
}

static void test_refusals(void **state) {
    (void)state;
    lf_kernels_init(LF_ISA_AUTO_LEVEL, NULL);
    size_t rb = lf_row_size(LF_TYPE_Q4_0, 64);
    uint8_t *d = kt_alloc(rb * 6);
    lf_mat w = {.type = LF_TYPE_Q4_0, .rows = 6, .cols = 64, .row_bytes = rb, .data = d};
    lf_error err = {0};
    assert_false(lf_mat_can_interleave(&w));           /* 6 rows: not whole groups */
    assert_int_equal(lf_mat_interleave(&w, d, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "interleave"));
    lf_mat f = {.type = LF_TYPE_BF16, .rows = 8, .cols = 64, .row_bytes = 128, .data = d};
    assert_false(lf_mat_can_interleave(&f));           /* no layout for bf16 */
    lf_mat h = {.type = LF_TYPE_F16, .rows = 8, .cols = 48, .row_bytes = 96, .data = d};
    assert_false(lf_mat_can_interleave(&h));           /* f16 steps are 32 columns */
    h.cols = 64;
    h.row_bytes = 128;
    /* ... and 64 columns are fine wherever the kernel exists */
    assert_true(lf_mat_can_interleave(&h) == (lf_kernel_set_active()->mv_il[LF_TYPE_F16] != NULL));
    lf_kernels_init(LF_ISA_SCALAR, NULL);
    w.rows = 4;
    assert_false(lf_mat_can_interleave(&w));           /* no scalar kernel */
    free(d);
}

int main(void) {
    lf_kernels_init(LF_ISA_SCALAR, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_documented_layout),
        cmocka_unit_test(test_documented_layout_q5_0),
        cmocka_unit_test(test_kernels_match_reference),
        cmocka_unit_test(test_matmul_interleaved),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
