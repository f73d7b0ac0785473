/*
 * The interleaved K-quant layouts (kernels/interleave_kquants.c) and their
 * kernels, beyond the generic checks of test_interleave.c: every quant,
 * scale, min and d lands at the byte and bit the layout comment documents
 * (computed here from the GGML block definitions, independently of the
 * converter), and the mv_il kernels of every kernel set agree with the
 * scalar reference on extreme blocks that push the integer steps to their
 * bounds (all scales/mins 63 with all-15/31 quants, Q6_K quants of 0 (-32)
 * and 63 with scales -128/127, activations all +127 or all -127).
 */
#include "kt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* ---- GGML block fields, element by element ------------------------------ */

static int q45_quant(const uint8_t *blk, bool five, int e) {
    const uint8_t *qs = blk + (five ? 48 : 16);     /* after d, dmin, scales (, qh) */
    int sub = e / 32, l = e % 32;
    uint8_t byte = qs[32 * (sub / 2) + l];
    int q = sub % 2 ? byte >> 4 : byte & 15;
    if (five)
        q |= ((blk[16 + l] >> sub) & 1) << 4;
    return q;
}

static int q6_quant(const lf_block_q6_K *b, int e) {
    int h = e / 128, k = (e % 128) / 32, l = e % 32;
    uint8_t lb = b->ql[64 * h + l + 32 * (k % 2)];
    return (k < 2 ? lb & 15 : lb >> 4) | ((b->qh[32 * h + l] >> (2 * k)) & 3) << 4;
}

static void check_q45_layout(bool five, int nb, kt_rng *rng) {
    lf_type t = five ? LF_TYPE_Q5_K : LF_TYPE_Q4_K;
    const size_t bs = five ? 176 : 144, sbytes = 4 * bs;
    const int n = 256 * nb;
    size_t rb = lf_row_size(t, n);
    uint8_t *x = kt_alloc(4 * rb), *il = kt_alloc(4 * rb);
    kt_fill_weights(rng, t, x, 4, n);
    lf_il_desc_get(t)->interleave(il, x, rb, n);
    for (int b = 0; b < nb; b++) {
        const uint8_t *p = il + b * sbytes;
        for (int r = 0; r < 4; r++) {
            const uint8_t *blk = x + r * rb + b * bs;
            const uint8_t *h = p + 16 * r;
            assert_memory_equal(h, blk, 4);                 /* d, dmin */
            for (int j = 0; j < 8; j++) {
                int sc, mn;
                lf_k4_scale_min(blk + 4, j, &sc, &mn);
                assert_int_equal(h[4 + j] & 63, sc);
                assert_int_equal(h[4 + j] >> 6, mn >> 4);
                assert_int_equal((h[12 + j / 2] >> (4 * (j % 2))) & 15, mn & 15);
            }
            for (int j = 0; j < 8; j++)
                for (int i = 0; i < 16; i++) {
                    uint8_t v = p[64 + 64 * j + 16 * r + i];
                    int qa = q45_quant(blk, five, 32 * j + i), qb = q45_quant(blk, five, 32 * j + 16 + i);
                    assert_int_equal(v & 15, qa & 15);
                    assert_int_equal(v >> 4, qb & 15);
                    if (five) {
                        int bit = 16 * r + i;
                        assert_int_equal((p[576 + 16 * j + bit / 8] >> (bit % 8)) & 1, qa >> 4);
                        assert_int_equal((p[584 + 16 * j + bit / 8] >> (bit % 8)) & 1, qb >> 4);
                    }
                }
        }
    }
    free(x);
    free(il);
}

static void check_q6_layout(int nb, kt_rng *rng) {
    const int n = 256 * nb;
    size_t rb = lf_row_size(LF_TYPE_Q6_K, n);
    uint8_t *x = kt_alloc(4 * rb), *il = kt_alloc(4 * rb);
    kt_fill_weights(rng, LF_TYPE_Q6_K, x, 4, n);
    lf_il_desc_get(LF_TYPE_Q6_K)->interleave(il, x, rb, n);
    for (int b = 0; b < nb; b++) {
        const uint8_t *p = il + b * 832;
        for (int r = 0; r < 4; r++) {
            const lf_block_q6_K *blk = (const lf_block_q6_K *)(x + r * rb) + b;
            assert_memory_equal(il + 832 * nb + 8 * b + 2 * r, &blk->d, 2);
            for (int g = 0; g < 16; g++)
                assert_int_equal((int8_t)p[(g < 8 ? 0 : 32) + 8 * r + g % 8], blk->scales[g]);
            for (int tq = 0; tq < 4; tq++)
                for (int i = 0; i < 16; i++) {
                    int spread = q6_quant(blk, 16 * (4 * tq + 3) + i), got = 0;
                    for (int k = 0; k < 3; k++) {
                        uint8_t v = p[64 + 192 * tq + 64 * k + 16 * r + i];
                        assert_int_equal(v & 63, q6_quant(blk, 16 * (4 * tq + k) + i));
                        got |= (v >> 6) << (2 * k);
                    }
                    assert_int_equal(got, spread);
                }
        }
    }
    free(x);
    free(il);
}

static void test_documented_layouts(void **state) {
    (void)state;
    kt_rng rng = {0x5eed};
    const int nbs[] = {1, 2, 5};
    for (int i = 0; i < 3; i++) {
        check_q45_layout(false, nbs[i], &rng);
        check_q45_layout(true, nbs[i], &rng);
        check_q6_layout(nbs[i], &rng);
    }
}

/* ---- extreme blocks --------------------------------------------------------- */


/* Fills 4 rows with extreme content of kind k (0: maximal quants, scales
 * and mins; 1: minimal quants (Q6_K: -32) with extreme scales; 2: random
 * bytes with every scale field at its maximum). */
static void fill_extreme(lf_type t, uint8_t *x, size_t rb, int n, int kind, kt_rng *rng) {
    kt_fill_weights(rng, t, x, 4, n);
    for (int r = 0; r < 4; r++)
        for (int b = 0; b < n / 256; b++) {
            if (t == LF_TYPE_Q6_K) {
                lf_block_q6_K *blk = (lf_block_q6_K *)(x + r * rb) + b;
                if (kind < 2) {
                    memset(blk->ql, kind == 0 ? 0xFF : 0x00, sizeof blk->ql);
                    memset(blk->qh, kind == 0 ? 0xFF : 0x00, sizeof blk->qh);
                }
                for (int g = 0; g < 16; g++)
                    blk->scales[g] = (int8_t)(kind == 1 ? (g % 2 ? -128 : 127) : (r % 2 ? -128 : 127));
                continue;
            }
            bool five = t == LF_TYPE_Q5_K;
            uint8_t *blk = x + r * rb + b * (five ? 176 : 144);
            memset(blk + 4, 0xFF, 12);                      /* scales and mins 63 */
            if (kind < 2)
                memset(blk + 16, kind == 0 ? 0xFF : 0x00, five ? 160 : 128);
        }
}

static void test_extremes(void **state) {
    (void)state;
    static const lf_type types[] = {LF_TYPE_Q4_K, LF_TYPE_Q5_K, LF_TYPE_Q6_K};
    kt_set sets[8];
    int nsets = kt_sets(sets), checked = 0;
    kt_rng rng = {0xe7e7};
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        for (int ti = 0; ti < 3; ti++) {
            lf_type t = types[ti];
            if (!ks.mv_il[t])
                continue;
            const int n = 256 * 3;
            size_t rb = lf_row_size(t, n);
            uint8_t *x = kt_alloc(4 * rb), *il = kt_alloc(4 * rb);
            lf_block_q8_K *y = kt_alloc(lf_row_size(LF_TYPE_Q8_K, n));
            float *af = kt_alloc(n * sizeof(float));
            for (int kind = 0; kind < 3; kind++)
                for (int sign = -1; sign <= 1; sign += 2) {
                    fill_extreme(t, x, rb, n, kind, &rng);
                    for (int b = 0; b < n / 256; b++) {
                        y[b].d = 0.01f;
                        memset(y[b].qs, (uint8_t)(int8_t)(127 * sign), 256);
                        for (int g = 0; g < 16; g++)
                            y[b].bsums[g] = (int16_t)(16 * 127 * sign);
                    }
                    kt_act_to_float(LF_TYPE_Q8_K, y, af, n);
                    lf_il_desc_get(t)->interleave(il, x, rb, n);
                    float s[4] = {0};
                    ks.mv_il[t](n, s, il, rb, y, 4);
                    for (int r = 0; r < 4; r++) {
                        float ref;
                        lf_type_traits_get(t)->vec_dot(n, &ref, x + r * rb, y);
                        double tol = 64 * ldexp(1.0, -23) * kt_magnitude(t, x + r * rb, af, n) + 1e-30;
                        if (!(fabs(s[r] - ref) <= tol))
                            fail_msg("%s mv_il %s kind %d sign %d row %d: %.9g vs reference %.9g",
                                     ks.name, lf_type_traits_get(t)->name, kind, sign, r, s[r], ref);
                    }
                    checked++;
                }
            free(x); free(il); free(y); free(af);
        }
    }
    print_message("extremes: %d (set, type, case) combinations\n", checked);
    if (checked == 0) {
        print_message("skipped: no kernel set on this machine has a K-quant mv_il\n");
        skip();
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documented_layouts),
        cmocka_unit_test(test_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
