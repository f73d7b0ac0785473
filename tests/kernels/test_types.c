/*
 * The per-type table (LF_TYPE_LIST in kernels/internal.h) and what is
 * generated from it: every supported type has a consistent trait row
 * (bytes, block, name, converters), the float and KV-cache predicates pick
 * exactly their types, and every kernel set (scalar and each ISA this
 * machine runs) carries the entries the table's columns promise; the
 * packed-GEMM and interleave tables only name types that can use them.
 */
#include "kernels/internal.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_trait_rows(void **state) {
    (void)state;
    int nsupported = 0;
    for (int i = 0; i < LF_TYPE_COUNT; i++) {
        lf_type t = (lf_type)i;
        const lf_type_traits *tr = lf_type_traits_get(t);
        if (!lf_type_supported(t)) {
            assert_int_equal(tr->block_size, 0);
            assert_string_equal(tr->name, "unknown");
            continue;
        }
        nsupported++;
        assert_true(tr->block_size > 0);
        assert_true(tr->type_size > 0);
        assert_non_null(tr->to_float);
        assert_non_null(tr->from_float);
        assert_int_equal(lf_row_size(t, tr->block_size), tr->type_size);
        assert_int_equal(lf_row_size(t, 3 * (int64_t)tr->block_size), 3 * tr->type_size);
        lf_type back;
        assert_int_equal(lf_type_parse(tr->name, &back), 0);
        assert_int_equal(back, t);
        /* the activation side of a dot is a supported type */
        assert_true(lf_type_supported(tr->vec_dot_type));
        /* blocks are whole elements of the activation row too */
        assert_int_equal(tr->block_size % lf_type_traits_get(tr->vec_dot_type)->block_size, 0);
        /* quantize then dequantize one block: finite, and close for a smooth ramp */
        float x[256], y[256];
        uint8_t blk[512];
        int bs = tr->block_size < 32 ? 32 : tr->block_size;
        for (int k = 0; k < bs; k++)
            x[k] = (float)(k - bs / 2) / (float)bs;
        assert_int_equal(lf_quantize(t, x, blk, 1, bs), lf_row_size(t, bs));
        lf_dequantize(t, blk, y, 1, bs);
        for (int k = 0; k < bs; k++) {
            assert_true(isfinite(y[k]));
            assert_true(fabsf(y[k] - x[k]) < 0.1f);
        }
    }
    assert_int_equal(nsupported, 18);   /* … + mxfp4 */
    assert_false(lf_type_supported((lf_type)-1));
    assert_false(lf_type_supported(LF_TYPE_COUNT));
}

static void test_float_predicate(void **state) {
    (void)state;
    for (int i = -1; i <= LF_TYPE_COUNT; i++) {
        lf_type t = (lf_type)i;
        bool want = t == LF_TYPE_F32 || t == LF_TYPE_F16 || t == LF_TYPE_BF16;
        assert_int_equal(lf_type_is_float(t), want);
        if (lf_type_supported(t)) {
            assert_int_equal(lf_type_traits_get(t)->is_quantized, !want);
            if (want)
                assert_int_equal(lf_type_traits_get(t)->block_size, 1);
        }
    }
}

static void test_kv_types(void **state) {
    (void)state;
    int n = 0;
    for (int i = -1; i <= LF_TYPE_COUNT; i++) {
        lf_type t = (lf_type)i;
        bool want = t == LF_TYPE_F32 || t == LF_TYPE_F16 || t == LF_TYPE_Q8_0;
        assert_int_equal(lf_kv_type_supported(t), want);
        n += want;
    }
    assert_int_equal(n, 3);
    lf_type t = LF_TYPE_COUNT;
    assert_int_equal(lf_kv_type_parse("Q8_0", &t), 0);
    assert_int_equal(t, LF_TYPE_Q8_0);
    assert_int_equal(lf_kv_type_parse("f16", &t), 0);
    assert_int_equal(t, LF_TYPE_F16);
    assert_int_equal(lf_kv_type_parse("f32", NULL), 0);
    /* a weight type, a mix name, nonsense: rejected, *out untouched */
    assert_int_equal(lf_kv_type_parse("q4_0", &t), LF_EINVAL);
    assert_int_equal(lf_kv_type_parse("bf16", &t), LF_EINVAL);
    assert_int_equal(lf_kv_type_parse("Q4_K_M", &t), LF_EINVAL);
    assert_int_equal(lf_kv_type_parse(NULL, &t), LF_EINVAL);
    assert_int_equal(t, LF_TYPE_F16);
}

/* What the table's columns promise every kernel set. */
static void check_set(const lf_kernel_set *ks) {
    for (int i = 0; i < LF_TYPE_COUNT; i++) {
        lf_type t = (lf_type)i;
        const lf_type_traits *tr = lf_type_traits_get(t);
        if (tr->vec_dot) {
            assert_non_null(ks->vec_dot[t]);
            assert_non_null(ks->mv[t]);
            /* the dot's activations can be made */
            assert_non_null(ks->quantize_row[tr->vec_dot_type]);
        } else {
            assert_null(ks->vec_dot[t]);
            assert_null(ks->mv[t]);
        }
        bool kv = lf_kv_type_supported(t);
        assert_int_equal(ks->kv_dot[t] != NULL, kv);
        assert_int_equal(ks->kv_axpy[t] != NULL, kv);
    }
}

static void test_kernel_sets(void **state) {
    (void)state;
    lf_kernel_set ks;
    lf_error err = {0};
    assert_int_equal(lf_kernel_set_build(&ks, LF_ISA_SCALAR, 0, &err), 0);
    /* the scalar set is the reference table itself */
    for (int i = 0; i < LF_TYPE_COUNT; i++)
        assert_true(ks.vec_dot[i] == lf_type_traits_get((lf_type)i)->vec_dot);
    check_set(&ks);
    for (int l = 0; l < LF_ISA_COUNT; l++) {
        if (lf_kernel_set_build(&ks, (lf_isa_level)l, 0, &err) == 0)
            check_set(&ks);
    }
}

static void test_layout_tables(void **state) {
    (void)state;
    for (int i = 0; i < LF_TYPE_COUNT; i++) {
        lf_type t = (lf_type)i;
        const lf_type_traits *tr = lf_type_traits_get(t);
        const lf_gemm_desc *g = lf_gemm_desc_get(t);
        if (g) {
            assert_true(tr->is_quantized && tr->vec_dot);
            assert_true(g->chunk == 16 || g->chunk == 32);
            assert_int_equal(tr->block_size % g->chunk, 0);
            assert_true(g->u_max > 0 && g->u_max <= 255 && g->bias <= g->u_max + 1);
            assert_non_null(g->pack);
        }
        const lf_il_desc *d = lf_il_desc_get(t);
        if (d) {
            assert_non_null(tr->vec_dot);
            assert_non_null(d->interleave);
            assert_non_null(d->deinterleave);
            assert_int_equal(d->act_bytes == NULL, d->prep_act == NULL);
        }
    }
    assert_null(lf_gemm_desc_get(LF_TYPE_COUNT));
    assert_null(lf_il_desc_get(LF_TYPE_COUNT));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trait_rows),
        cmocka_unit_test(test_float_predicate),
        cmocka_unit_test(test_kv_types),
        cmocka_unit_test(test_kernel_sets),
        cmocka_unit_test(test_layout_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
