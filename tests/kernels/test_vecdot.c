/*
 * Dot-product kernels held to their references: the scalar references
 * against a dot of formats.c's dequantized weights (so the reference reads
 * the GGML layout the way the dequantizer does), every SIMD vec_dot and
 * multi-row kernel of every kernel set this machine can run against the
 * references on random blocks, the SIMD activation quantizers against the
 * scalar ones byte for byte, and the GEMM packing and tiles against the
 * reference dots.
 */
#include "kt.h"

#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const int block_counts[] = {1, 2, 3, 5, 8, 17};
#define N_COUNTS ((int)(sizeof block_counts / sizeof block_counts[0]))

/* Elements per scaled partial sum of t (the granularity of its scales). */
static int sub_len(lf_type t) {
    switch (t) {
    case LF_TYPE_Q2_K: case LF_TYPE_Q3_K: case LF_TYPE_Q6_K: return 16;
    case LF_TYPE_F32: case LF_TYPE_F16: case LF_TYPE_BF16: return 8;
    default: return 32;
    }
}

/* Q8_1 carries s = d·Σq rounded to fp16, and the Q4_1/Q5_1 dots use it for
 * the min term (as GGML does): a difference of up to |m|·|s|·2^-11 per block
 * from a dot that uses the exact sum. Both weight blocks start with d, m. */
static double q8_1_slack(lf_type t, const void *x, const void *y, int n) {
    if (lf_type_traits_get(t)->vec_dot_type != LF_TYPE_Q8_1)
        return 0;
    size_t ts = lf_type_traits_get(t)->type_size;
    const lf_block_q8_1 *yb = y;
    double slack = 0;
    for (int b = 0; b < n / 32; b++) {
        const lf_half *dm = (const lf_half *)((const char *)x + b * ts);
        slack += fabs(lf_half_to_float(dm[1])) * fabs(lf_half_to_float(yb[b].s)) * ldexp(1, -10);
    }
    return slack;
}

/* Σ|a|(|w| + max|w|): bounds every partial sum a kernel may form, even
 * where a scale term and a min term cancel. */
static double magnitude(const float *w, const float *a, int n) {
    double wmax = 0, m = 0;
    for (int i = 0; i < n; i++)
        wmax = fmax(wmax, fabs(w[i]));
    for (int i = 0; i < n; i++)
        m += fabs(a[i]) * (fabs(w[i]) + wmax);
    return m;
}

static void test_reference_matches_dequantized(void **state) {
    (void)state;
    kt_rng rng = {0x1234567};
    for (int ti = 0; ti < KT_N_WEIGHT_TYPES; ti++) {
        lf_type t = kt_weight_types[ti];
        const lf_type_traits *tr = lf_type_traits_get(t);
        lf_type vt = tr->vec_dot_type;
        int bs = tr->block_size == 1 ? 32 : tr->block_size;
        for (int ci = 0; ci < N_COUNTS; ci++) {
            int n = bs * block_counts[ci];
            void *x = kt_alloc(lf_row_size(t, n)), *y = kt_alloc(lf_row_size(vt, n));
            float *wf = kt_alloc(n * sizeof(float)), *af = kt_alloc(n * sizeof(float));
            kt_fill_weights(&rng, t, x, 1, n);
            kt_fill_act(&rng, vt, y, n);
            lf_dequantize(t, x, wf, 1, n);
            kt_act_to_float(vt, y, af, n);
            double exact = 0;
            for (int i = 0; i < n; i++)
                exact += (double)wf[i] * af[i];
            float ref;
            tr->vec_dot(n, &ref, x, y);
            double tol = ldexp(1.0, -20) * magnitude(wf, af, n) + q8_1_slack(t, x, y, n) +
                         1e-30;
            if (!(fabs(ref - exact) <= tol))
                fail_msg("%s n=%d: reference %.9g, dequantized dot %.9g (tol %.3g)",
                         tr->name, n, ref, exact, tol);
            free(x); free(y); free(wf); free(af);
        }
    }
}

static void test_simd_dots(void **state) {
    (void)state;
    kt_set sets[8];
    int nsets = kt_sets(sets);
    kt_rng rng = {0xfeedbeef};
    int checked = 0;
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        for (int ti = 0; ti < KT_N_WEIGHT_TYPES; ti++) {
            lf_type t = kt_weight_types[ti];
            const lf_type_traits *tr = lf_type_traits_get(t);
            lf_type vt = tr->vec_dot_type;
            int bs = tr->block_size == 1 ? 32 : tr->block_size;
            assert_non_null(ks.vec_dot[t]);
            assert_non_null(ks.mv[t]);
            for (int ci = 0; ci < N_COUNTS; ci++) {
                /* odd element counts for the float types exercise tails */
                int n = bs * block_counts[ci] + (tr->block_size == 1 ? ci : 0);
                size_t rb = lf_row_size(t, n);
                char *x = kt_alloc(rb * LF_MV_MAX_ROWS);
                void *y = kt_alloc(lf_row_size(vt, n));
                float *wf = kt_alloc(n * sizeof(float)), *af = kt_alloc(n * sizeof(float));
                kt_fill_weights(&rng, t, x, LF_MV_MAX_ROWS, n);
                kt_fill_act(&rng, vt, y, n);
                kt_act_to_float(vt, y, af, n);
                float ref[LF_MV_MAX_ROWS];
                double tol[LF_MV_MAX_ROWS];
                for (int r = 0; r < LF_MV_MAX_ROWS; r++) {
                    tr->vec_dot(n, &ref[r], x + r * rb, y);
                    lf_dequantize(t, x + r * rb, wf, 1, n);
                    int nsub = n / sub_len(t) + 1;
                    tol[r] = (nsub + 16) * ldexp(1.0, -23) * magnitude(wf, af, n) + 1e-30;
                }
                float s;
                ks.vec_dot[t](n, &s, x, y);
                if (!(fabs(s - ref[0]) <= tol[0]))
                    fail_msg("%s vec_dot %s n=%d: %.9g vs reference %.9g (tol %.3g)",
                             ks.name, tr->name, n, s, ref[0], tol[0]);
                for (int nr = 1; nr <= LF_MV_MAX_ROWS; nr++) {
                    float sm[LF_MV_MAX_ROWS] = {0};
                    ks.mv[t](n, sm, x, rb, y, nr);
                    for (int r = 0; r < nr; r++)
                        if (!(fabs(sm[r] - ref[r]) <= tol[r]))
                            fail_msg("%s mv %s n=%d nr=%d row %d: %.9g vs reference %.9g",
                                     ks.name, tr->name, n, nr, r, sm[r], ref[r]);
                }
                checked++;
                free(x); free(y); free(wf); free(af);
            }
        }
    }
    print_message("checked %d (set, type, size) combinations over %d kernel sets\n",
                  checked, nsets);
}

/* Activation rows with awkward content: an all-zero block, a block with
 * one dominant value, exact halves (ties), tiny and large magnitudes. */
static void fill_activation_floats(kt_rng *rng, float *x, int n) {
    for (int i = 0; i < n; i++)
        x[i] = kt_uniform(rng, -2, 2);
    for (int i = 0; i < 32 && i < n; i++)
        x[i] = 0;
    if (n >= 64)
        x[40] = 1000.f;
    if (n >= 128)
        for (int i = 64; i < 96; i++)
            x[i] = (float)(i - 80) * 0.5f;   /* many exact .5 products */
    if (n >= 256)
        for (int i = 128; i < 160; i++)
            x[i] *= 1e-2f;   /* small, but d stays a normal fp16 */
}

static void test_activation_quantizers(void **state) {
    (void)state;
    static const lf_type vts[] = {LF_TYPE_Q8_0, LF_TYPE_Q8_1, LF_TYPE_Q8_K,
                                  LF_TYPE_F16, LF_TYPE_BF16, LF_TYPE_F32};
    kt_set sets[8];
    int nsets = kt_sets(sets);
    kt_rng rng = {42};
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        for (int vi = 0; vi < (int)(sizeof vts / sizeof vts[0]); vi++) {
            lf_type vt = vts[vi];
            for (int nb = 1; nb <= 3; nb++) {
                int n = 256 * nb;
                float *x = kt_alloc(n * sizeof(float)), *back = kt_alloc(n * sizeof(float));
                size_t bytes = lf_row_size(vt, n);
                void *a = kt_alloc(bytes), *b = kt_alloc(bytes);
                fill_activation_floats(&rng, x, n);
                assert_non_null(ks.quantize_row[vt]);
                ks.quantize_row[vt](x, a, n);
                lf_type_traits_get(vt)->from_float(x, b, n);
                if (memcmp(a, b, bytes) != 0)
                    fail_msg("%s quantize_row %s n=%d differs from the reference",
                             ks.name, lf_type_name(vt), n);
                /* Property, independent of both: nearest quantization. */
                kt_act_to_float(vt, a, back, n);
                for (int i = 0; i < n; i++) {
                    double err = fabs((double)back[i] - x[i]);
                    double lim;
                    if (vt == LF_TYPE_F32)
                        lim = 0;
                    else if (vt == LF_TYPE_F16)
                        lim = fabs(x[i]) * ldexp(1, -11) + ldexp(1, -25);
                    else if (vt == LF_TYPE_BF16)
                        lim = fabs(x[i]) * ldexp(1, -8);
                    else {
                        int bl = vt == LF_TYPE_Q8_K ? 256 : 32;
                        double amax = 0;
                        for (int j = i / bl * bl; j < i / bl * bl + bl; j++)
                            amax = fmax(amax, fabs(x[j]));
                        /* half a step, plus the fp16 rounding of d */
                        lim = amax / 127 * (0.5 + 128 * ldexp(1, -11)) + 1e-12;
                    }
                    if (!(err <= lim))
                        fail_msg("%s %s element %d: %g quantized to %g", ks.name,
                                 lf_type_name(vt), i, x[i], back[i]);
                }
                if (vt == LF_TYPE_Q8_K) {
                    const lf_block_q8_K *k = a;
                    for (int bi = 0; bi < nb; bi++)
                        for (int g = 0; g < 16; g++) {
                            int s = 0;
                            for (int j = 0; j < 16; j++)
                                s += k[bi].qs[16 * g + j];
                            assert_int_equal(k[bi].bsums[g], s);
                        }
                }
                free(x); free(back); free(a); free(b);
            }
        }
    }
}

/* Packing: the portable packer plus the reference tile reproduces the
 * reference dots; each ISA's packer is byte-identical to the portable one;
 * each ISA's tile agrees with the reference tile. */
static void test_gemm_packing(void **state) {
    (void)state;
    kt_set sets[8];
    int nsets = kt_sets(sets);
    kt_rng rng = {777};
    for (int ti = 0; ti < KT_N_WEIGHT_TYPES; ti++) {
        lf_type t = kt_weight_types[ti];
        const lf_gemm_desc *g = lf_gemm_desc_get(t);
        if (!g)
            continue;
        const lf_type_traits *tr = lf_type_traits_get(t);
        lf_type vt = tr->vec_dot_type;
        for (int nbk = 1; nbk <= 3; nbk += 2) {
            int K = tr->block_size * nbk * (tr->block_size == 32 ? 3 : 1);
            for (int nrows = 5; nrows <= 16; nrows += 11) {
                size_t rb = lf_row_size(t, K);
                char *w = kt_alloc(rb * nrows);
                kt_fill_weights(&rng, t, w, nrows, K);
                size_t pb = lf_gemm_panel_bytes(K, g->chunk);
                uint8_t *panel = kt_alloc(pb), *panel2 = kt_alloc(pb);
                memset(panel, 0xAA, pb);   /* padding rows must be rewritten */
                g->pack(w, rb, nrows, K, panel, lf_gemm_panel_sw(panel, K),
                        lf_gemm_panel_mw(panel, K, g->chunk));
                enum { NC = LF_GEMM_COLS };
                size_t xb = lf_row_size(vt, K);
                char *act = kt_alloc(xb * NC), *prep = kt_alloc(lf_gemm_acts_bytes(K, g->chunk));
                for (int c = 0; c < NC; c++) {
                    kt_fill_act(&rng, vt, act + c * xb, K);
                    lf_gemm_prep_col(g, vt, act + c * xb, K, prep, c);
                }
                float yref[NC * 16], ysimd[NC * 16];
                double mags[NC * 16] = {0};
                float *wf = kt_alloc(K * sizeof(float)), *af = kt_alloc(K * sizeof(float));
                for (int nc = 1; nc <= NC; nc += NC - 1) {
                    memset(yref, 0, sizeof yref);
                    lf_gemm_tile_ref(g, K, panel, lf_gemm_panel_sw(panel, K),
                                     lf_gemm_panel_mw(panel, K, g->chunk), prep, nc, yref,
                                     16, nrows);
                    for (int c = 0; c < nc; c++) {
                        kt_act_to_float(vt, act + c * xb, af, K);
                        for (int r = 0; r < nrows; r++) {
                            float ref;
                            tr->vec_dot(K, &ref, w + r * rb, act + c * xb);
                            lf_dequantize(t, w + r * rb, wf, 1, K);
                            mags[c * 16 + r] = magnitude(wf, af, K);
                            double tol = (K / g->chunk + 16) * ldexp(1.0, -22) *
                                         mags[c * 16 + r] +
                                         q8_1_slack(t, w + r * rb, act + c * xb, K) + 1e-30;
                            if (!(fabs(yref[c * 16 + r] - ref) <= tol))
                                fail_msg("%s packed K=%d row %d col %d: %.9g vs dot %.9g",
                                         tr->name, K, r, c, yref[c * 16 + r], ref);
                        }
                    }
                    for (int si = 0; si < nsets; si++) {
                        lf_kernel_set ks;
                        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level,
                                                             sets[si].flags, NULL), 0);
                        if (ks.gemm_pack[t]) {
                            memset(panel2, 0x55, pb);
                            ks.gemm_pack[t](w, rb, nrows, K, panel2, lf_gemm_panel_sw(panel2, K),
                                            lf_gemm_panel_mw(panel2, K, g->chunk));
                            size_t used = g->has_min ? pb : pb - (size_t)(K / g->chunk) * 64;
                            if (memcmp(panel, panel2, used) != 0)
                                fail_msg("%s pack %s K=%d rows %d differs from the portable packer",
                                         ks.name, tr->name, K, nrows);
                        }
                        if (ks.gemm_prep_block && K % 32 == 0 &&
                            (vt == LF_TYPE_Q8_0 || vt == LF_TYPE_Q8_K)) {
                            /* the whole-block activation prep: same bytes as
                             * column by column, missing columns zero */
                            size_t ab = lf_gemm_acts_bytes(K, g->chunk);
                            char *want = kt_alloc(ab), *got = kt_alloc(ab);
                            memset(want, 0, ab);
                            for (int c = 0; c < nc; c++)
                                lf_gemm_prep_col(g, vt, act + c * xb, K, want, c);
                            memset(got, 0x55, ab);
                            ks.gemm_prep_block(g, vt, act, xb, nc, K, got);
                            size_t used = (size_t)K * LF_GEMM_COLS +
                                          (size_t)(K / g->chunk) * 3 * LF_GEMM_COLS * 4;
                            if (memcmp(want, got, used) != 0)
                                fail_msg("%s activation block %s K=%d cols %d differs from "
                                         "lf_gemm_prep_col", ks.name, lf_type_name(vt), K, nc);
                            free(want);
                            free(got);
                        }
                        if (!ks.gemm_tile || g->u_max > ks.gemm_u_max)
                            continue;
                        memset(ysimd, 0, sizeof ysimd);
                        ks.gemm_tile(g, K, panel, lf_gemm_panel_sw(panel, K),
                                     lf_gemm_panel_mw(panel, K, g->chunk), prep, nc, ysimd, 16,
                                     nrows);
                        for (int c = 0; c < nc; c++)
                            for (int r = 0; r < nrows; r++) {
                                /* both sum the same float chunk terms, in
                                 * different orders */
                                float want = yref[c * 16 + r];
                                double tol = (K / g->chunk + 16) * ldexp(1.0, -22) *
                                             mags[c * 16 + r] + 1e-30;
                                if (!(fabs(ysimd[c * 16 + r] - want) <= tol))
                                    fail_msg("%s tile %s K=%d nc=%d row %d col %d: %.9g vs %.9g",
                                             ks.name, tr->name, K, nc, r, c, ysimd[c * 16 + r],
                                             want);
                            }
                    }
                }
                free(w); free(panel); free(panel2); free(act); free(prep); free(wf); free(af);
            }
        }
    }
}

/* Float panels: every ISA's packer equals the portable one (zeros in the
 * missing rows), and its tile agrees with the scalar tile, which agrees
 * with the reference dots of the vec_dot_type activations. */
static void test_gemm_float_packing(void **state) {
    (void)state;
    static const lf_type types[] = {LF_TYPE_F32, LF_TYPE_F16, LF_TYPE_BF16};
    kt_set sets[8];
    int nsets = kt_sets(sets);
    kt_rng rng = {4242};
    for (int ti = 0; ti < 3; ti++)
        for (int K = 1; K <= 67; K += 33)
            for (int nrows = 3; nrows <= 16; nrows += 13) {
                lf_type t = types[ti];
                const lf_type_traits *tr = lf_type_traits_get(t);
                lf_type vt = tr->vec_dot_type;
                size_t rb = lf_row_size(t, K), xb = lf_row_size(vt, K);
                char *w = kt_alloc(rb * nrows), *act = kt_alloc(xb * LF_GEMM_COLS);
                float *panel = kt_alloc(sizeof(float) * 16 * K), *panel2 = kt_alloc(sizeof(float) * 16 * K);
                float *acts = kt_alloc(lf_gemm_f_acts_bytes(K));
                kt_fill_weights(&rng, t, w, nrows, K);
                memset(panel, 0xAA, sizeof(float) * 16 * K);
                lf_gemm_f_pack_ref(t, w, rb, nrows, K, panel);
                for (int c = 0; c < LF_GEMM_COLS; c++) {
                    kt_fill_act(&rng, vt, act + c * xb, K);
                    lf_gemm_f_prep_col(vt, act + c * xb, K, acts, c);
                }
                float yref[LF_GEMM_COLS * 16], ys[LF_GEMM_COLS * 16];
                lf_gemm_f_tile_ref(K, panel, acts, LF_GEMM_COLS, yref, 16, nrows);
                for (int c = 0; c < LF_GEMM_COLS; c++)
                    for (int r = 0; r < nrows; r++) {
                        float ref;
                        tr->vec_dot(K, &ref, w + r * rb, act + c * xb);
                        double mag = 0;
                        for (int k = 0; k < K; k++)
                            mag += fabs(panel[k * 16 + r] * acts[k * LF_GEMM_COLS + c]);
                        if (!(fabs(yref[c * 16 + r] - ref) <= (K + 8) * ldexp(1, -23) * mag))
                            fail_msg("%s float panel K=%d row %d col %d: %g vs %g", tr->name, K, r, c,
                                     yref[c * 16 + r], ref);
                    }
                for (int si = 0; si < nsets; si++) {
                    lf_kernel_set ks;
                    assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
                    if (ks.gemm_f_pack[t]) {
                        memset(panel2, 0x55, sizeof(float) * 16 * K);
                        ks.gemm_f_pack[t](w, rb, nrows, K, panel2);
                        if (memcmp(panel, panel2, sizeof(float) * 16 * K) != 0)
                            fail_msg("%s float pack %s K=%d rows %d differs", ks.name, tr->name, K, nrows);
                    }
                    if (!ks.gemm_f_tile)
                        continue;
                    for (int nc = 1; nc <= LF_GEMM_COLS; nc++) {
                        lf_gemm_f_tile_ref(K, panel, acts, nc, yref, 16, nrows);
                        ks.gemm_f_tile(K, panel, acts, nc, ys, 16, nrows);
                        for (int c = 0; c < nc; c++)
                            for (int r = 0; r < nrows; r++) {
                                double mag = 0;
                                for (int k = 0; k < K; k++)
                                    mag += fabs(panel[k * 16 + r] * acts[k * LF_GEMM_COLS + c]);
                                if (!(fabs(ys[c * 16 + r] - yref[c * 16 + r]) <= (K + 8) * ldexp(1, -23) * mag))
                                    fail_msg("%s float tile K=%d nc=%d row %d col %d: %g vs %g", ks.name,
                                             K, nc, r, c, ys[c * 16 + r], yref[c * 16 + r]);
                            }
                    }
                }
                free(w); free(act); free(panel); free(panel2); free(acts);
            }
}

/* LOCALFIT_ISA: a level, then features every set leaves out. */
static void test_isa_env(void **state) {
    (void)state;
    lf_isa cpu, used;
    lf_isa_detect(&cpu);
    lf_error err = {0};
    setenv("LOCALFIT_ISA", "scalar-novnni", 1);
    assert_int_equal(lf_kernels_init(LF_ISA_AUTO_LEVEL, &err), 0);
    assert_int_equal(lf_kernels_isa(), LF_ISA_SCALAR);
    lf_kernels_features(&used);
    assert_int_equal(lf_isa_best(&used), LF_ISA_SCALAR);
    setenv("LOCALFIT_ISA", "avx2-novnni-bogus", 1);
    assert_int_equal(lf_kernels_init(LF_ISA_AUTO_LEVEL, &err), LF_EINVAL);
    assert_non_null(strstr(err.msg, "bogus"));
    setenv("LOCALFIT_ISA", "sse9", 1);
    assert_int_equal(lf_kernels_init(LF_ISA_AUTO_LEVEL, &err), LF_EINVAL);
    assert_int_equal(lf_kernels_isa(), LF_ISA_SCALAR);   /* a failure switches nothing */
#if defined(__x86_64__)
    if (lf_isa_supported(&cpu, LF_ISA_AVX2)) {
        setenv("LOCALFIT_ISA", "avx2", 1);
        assert_int_equal(lf_kernels_init(LF_ISA_AUTO_LEVEL, &err), 0);
        assert_string_equal(lf_kernels_name(), cpu.avxvnni ? "avx2+avxvnni" : "avx2");
        lf_kernels_features(&used);
        assert_int_equal(used.avxvnni, cpu.avxvnni);
        assert_false(used.avx512f);
        setenv("LOCALFIT_ISA", "avx2-novnni", 1);
        assert_int_equal(lf_kernels_init(LF_ISA_AUTO_LEVEL, &err), 0);
        assert_int_equal(lf_kernels_isa(), LF_ISA_AVX2);
        assert_string_equal(lf_kernels_name(), "avx2");
        lf_kernels_features(&used);
        assert_false(used.avxvnni || used.avx512vnni || used.avx512f);
        assert_true(used.avx2 && used.fma);
    }
    if (lf_isa_supported(&cpu, LF_ISA_AVX512)) {
        /* a level asked for explicitly (an isa axis) keeps the modifiers */
        assert_int_equal(lf_kernels_init(LF_ISA_AVX512, &err), 0);
        assert_null(strstr(lf_kernels_name(), "vnni"));
        lf_kernels_features(&used);
        assert_true(used.avx512f && !used.avx512vnni);
    }
#elif defined(__aarch64__)
    setenv("LOCALFIT_ISA", "neon-nodotprod-noi8mm", 1);
    assert_int_equal(lf_kernels_init(LF_ISA_AUTO_LEVEL, &err), 0);
    assert_string_equal(lf_kernels_name(), "neon");
    lf_kernels_features(&used);
    assert_false(used.dotprod || used.i8mm);
#endif
    unsetenv("LOCALFIT_ISA");
    assert_int_equal(lf_kernels_init(LF_ISA_SCALAR, &err), 0);
    assert_string_equal(lf_kernels_name(), "scalar");
}

int main(void) {
    lf_kernels_init(LF_ISA_SCALAR, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_matches_dequantized),
        cmocka_unit_test(test_simd_dots),
        cmocka_unit_test(test_activation_quantizers),
        cmocka_unit_test(test_gemm_packing),
        cmocka_unit_test(test_gemm_float_packing),
        cmocka_unit_test(test_isa_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
