/*
 * The non-matrix ops against straightforward double-precision formulas:
 * RMSNorm, LayerNorm, softmax (large and very negative values), SiLU,
 * GELU, SwiGLU, elementwise ops, dot, RoPE in both pair orders with linear
 * scaling and per-pair frequency factors, KV storing and single-head
 * attention over F32, F16 and Q8_0 caches — on every kernel set this
 * machine can run, for the ops that go through it.
 */
#include "kt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const int sizes[] = {1, 7, 16, 31, 64, 67, 4096};
#define N_SIZES ((int)(sizeof sizes / sizeof sizes[0]))

static void check_close(const char *what, int i, double got, double want, double tol) {
    if (!(fabs(got - want) <= tol))
        fail_msg("%s [%d]: %.9g, expected %.9g (tol %.3g)", what, i, got, want, tol);
}

static void test_norms_and_dot(void **state) {
    (void)state;
    kt_rng rng = {11};
    int done = 0;
    kt_set sets[8];
    int nsets = kt_sets(sets);
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        lf_kernel_set_activate(&ks);
        for (int zi = 0; zi < N_SIZES; zi++) {
            int n = sizes[zi];
            float *x = kt_alloc(n * 4), *w = kt_alloc(n * 4), *b = kt_alloc(n * 4),
                  *o = kt_alloc(n * 4);
            for (int i = 0; i < n; i++) {
                x[i] = kt_uniform(&rng, -3, 3);
                w[i] = kt_uniform(&rng, 0.5f, 1.5f);
                b[i] = kt_uniform(&rng, -1, 1);
            }
            double ss = 0, mean = 0, var = 0, dot = 0, mag = 0;
            for (int i = 0; i < n; i++) {
                ss += (double)x[i] * x[i];
                mean += x[i];
                dot += (double)x[i] * w[i];
                mag += fabs((double)x[i] * w[i]);
            }
            mean /= n;
            for (int i = 0; i < n; i++)
                var += (x[i] - mean) * (x[i] - mean);
            var /= n;
            const float eps = 1e-5f;
            lf_rmsnorm(o, x, w, n, eps);
            double inv = 1 / sqrt(ss / n + eps);
            for (int i = 0; i < n; i++)
                check_close(ks.name, i, o[i], x[i] * inv * w[i], 1e-5 * fabs(x[i] * inv * w[i]) + 1e-6);
            lf_rmsnorm(o, x, NULL, n, eps);
            for (int i = 0; i < n; i++)
                check_close("rmsnorm no weight", i, o[i], x[i] * inv, 1e-5 * fabs(x[i] * inv) + 1e-6);
            lf_layernorm(o, x, w, b, n, eps);
            double linv = 1 / sqrt(var + eps);
            for (int i = 0; i < n; i++) {
                double want = (x[i] - mean) * linv * w[i] + b[i];
                check_close("layernorm", i, o[i], want, 1e-5 * (fabs(want) + 1));
            }
            check_close("dot_f32", n, lf_dot_f32(x, w, n), dot, (n + 8) * 1.2e-7 * mag);
            free(x); free(w); free(b); free(o);
            done++;
        }
    }
    lf_kernels_init(LF_ISA_SCALAR, NULL);
    assert_true(done > 0);
}

/* Every kernel set's softmax against double precision. */
static void test_softmax(void **state) {
    (void)state;
    kt_rng rng = {12};
    kt_set sets[8];
    int nsets = kt_sets(sets);
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        lf_kernel_set_activate(&ks);
        for (int zi = 0; zi < N_SIZES; zi++) {
            int n = sizes[zi];
            float *x = kt_alloc(n * 4);
            double *d = kt_alloc(n * 8);
            for (int i = 0; i < n; i++)
                x[i] = kt_uniform(&rng, -20, 20) + (i % 3 == 0 ? 1000.f : 0.f);
            if (n > 2)
                x[1] = -1e30f;   /* a masked position */
            double mx = -INFINITY, sum = 0;
            for (int i = 0; i < n; i++)
                mx = fmax(mx, x[i]);
            for (int i = 0; i < n; i++)
                sum += d[i] = exp(x[i] - mx);
            lf_softmax(x, n);
            double total = 0;
            for (int i = 0; i < n; i++) {
                check_close(ks.name, i, x[i], d[i] / sum, 2e-6 * (d[i] / sum) + 1e-12);
                total += x[i];
            }
            check_close("softmax sum", n, total, 1.0, 1e-5);
            if (n > 2)
                assert_true(x[1] == 0);   /* masked: exactly nothing */
            free(x); free(d);
        }
    }
    lf_kernels_init(LF_ISA_SCALAR, NULL);
}

/* Every kernel set's SwiGLU against the double-precision formula: sizes
 * with tails of every length past the vector width, gates up to ±100 (the
 * exponential's clamped ends) and exactly 0. */
static void test_swiglu_every_set(void **state) {
    (void)state;
    static const int lens[] = {1, 5, 7, 15, 16, 17, 301};
    kt_set sets[8];
    int nsets = kt_sets(sets);
    kt_rng rng = {17};
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        lf_kernel_set_activate(&ks);
        for (int li = 0; li < (int)(sizeof lens / sizeof lens[0]); li++) {
            int n = lens[li];
            float *x = kt_alloc(n * 4), *u = kt_alloc(n * 4), *y = kt_alloc(n * 4 + 64);
            for (int i = 0; i < n; i++) {
                x[i] = i % 11 == 3 ? kt_uniform(&rng, -100, 100) : kt_uniform(&rng, -12, 12);
                u[i] = kt_uniform(&rng, -2, 2);
            }
            if (n > 2)
                x[2] = 0;
            memcpy(y, x, n * 4);
            y[n] = 12345.f;   /* the tail must not be written past n */
            lf_swiglu(y, u, n);
            for (int i = 0; i < n; i++)
                check_close(ks.name, i, y[i], x[i] / (1 + exp(-(double)x[i])) * u[i],
                            2e-6 * fabs(x[i] * u[i]) + 1e-30);
            assert_true(y[n] == 12345.f);
            free(x); free(u); free(y);
        }
    }
    lf_kernels_init(LF_ISA_SCALAR, NULL);
}

static void test_activations_and_elementwise(void **state) {
    (void)state;
    kt_rng rng = {13};
    int n = 301;
    float *x = kt_alloc(n * 4), *u = kt_alloc(n * 4), *y = kt_alloc(n * 4);
    for (int i = 0; i < n; i++) {
        x[i] = kt_uniform(&rng, -12, 12);
        u[i] = kt_uniform(&rng, -2, 2);
    }
    memcpy(y, x, n * 4);
    lf_silu(y, n);
    for (int i = 0; i < n; i++)
        check_close("silu", i, y[i], x[i] / (1 + exp(-x[i])), 1e-6 * (fabs(x[i]) + 1));
    memcpy(y, x, n * 4);
    lf_gelu(y, n);
    for (int i = 0; i < n; i++) {
        double v = x[i];
        double want = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        check_close("gelu", i, y[i], want, 1e-6 * (fabs(v) + 1));
    }
    memcpy(y, x, n * 4);
    lf_swiglu(y, u, n);
    for (int i = 0; i < n; i++)
        check_close("swiglu", i, y[i], x[i] / (1 + exp(-x[i])) * u[i], 1e-6 * (fabs(x[i] * u[i]) + 1));
    memcpy(y, x, n * 4);
    lf_add(y, u, n);
    for (int i = 0; i < n; i++)
        assert_true(y[i] == x[i] + u[i]);
    memcpy(y, x, n * 4);
    lf_mul(y, u, n);
    for (int i = 0; i < n; i++)
        assert_true(y[i] == x[i] * u[i]);
    memcpy(y, x, n * 4);
    lf_scale(y, 0.375f, n);
    for (int i = 0; i < n; i++)
        assert_true(y[i] == x[i] * 0.375f);
    free(x); free(u); free(y);
}

/* RoPE from the definition: pair i turns by pos·fs·base^(-2i/n_rot)/ff[i];
 * pairs are (2i, 2i+1) or, NeoX, (i, i + n_rot/2); dims ≥ n_rot untouched. */
static void rope_naive(double *x, int n_heads, int head_dim, int64_t pos, int n_rot,
                       double base, double fs, const float *ff, bool neox) {
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < n_rot / 2; i++) {
            double th = pos * fs * pow(base, -2.0 * i / n_rot) / (ff ? ff[i] : 1.0);
            int a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
            double *v = x + h * head_dim;
            double p = v[a], q = v[b];
            v[a] = p * cos(th) - q * sin(th);
            v[b] = p * sin(th) + q * cos(th);
        }
}

static void test_rope(void **state) {
    (void)state;
    kt_rng rng = {14};
    const int n_heads = 3, head_dim = 64;
    float ff[32];
    for (int i = 0; i < 32; i++)
        ff[i] = 1.0f + (float)i / 8;
    static const int64_t positions[] = {0, 1, 17, 4095, 100000};
    for (int neox = 0; neox <= 1; neox++)
        for (int variant = 0; variant < 3; variant++)
            for (int pi = 0; pi < 5; pi++) {
                lf_rope_params p = {.n_rot = variant == 2 ? 32 : 64, .base = 10000.f,
                                    .freq_scale = variant == 1 ? 0.25f : 1.0f,
                                    .freq_factors = variant == 1 ? ff : NULL, .neox = neox};
                float x[3 * 64];
                double d[3 * 64];
                for (int i = 0; i < n_heads * head_dim; i++)
                    d[i] = x[i] = kt_uniform(&rng, -2, 2);
                lf_rope(x, n_heads, head_dim, positions[pi], &p);
                rope_naive(d, n_heads, head_dim, positions[pi], p.n_rot, p.base, p.freq_scale,
                           p.freq_factors, neox);
                for (int i = 0; i < n_heads * head_dim; i++) {
                    char what[64];
                    snprintf(what, sizeof what, "rope neox=%d variant=%d pos=%lld", neox, variant,
                             (long long)positions[pi]);
                    check_close(what, i, x[i], d[i], 2e-6 * 4);
                    if (i % head_dim >= p.n_rot)
                        assert_true(x[i] == (float)d[i]);   /* untouched */
                }
            }
}

/* The rotation of every kernel set (vector where the set has one) held
 * to the definition, on rotary widths whose pair count leaves a tail after
 * the 4- or 8-pair steps (13 pairs) and spans lf_rope's 32-pair chunks (40),
 * with dims past n_rot untouched; lf_rope_table + lf_rope_apply (the
 * decoder's path) is bit-identical to lf_rope under each set. */
static void test_rope_every_set(void **state) {
    (void)state;
    static const int shapes[][2] = {{80, 80}, {80, 26}, {128, 128}, {64, 8}};   /* head_dim, n_rot */
    static const int64_t positions[] = {3, 70000};
    enum { NH = 3 };
    kt_set sets[8];
    int nsets = kt_sets(sets), checked = 0;
    kt_rng rng = {41};
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        if (ks.level != LF_ISA_SCALAR)   /* else the portable loop would pass for it */
            assert_non_null(ks.rope);
        lf_kernel_set_activate(&ks);
        for (int sh = 0; sh < 4; sh++)
            for (int neox = 0; neox <= 1; neox++)
                for (int pi = 0; pi < 2; pi++) {
                    const int hdim = shapes[sh][0];
                    lf_rope_params p = {.n_rot = shapes[sh][1], .base = 10000.f, .freq_scale = 1.0f,
                                        .neox = neox};
                    float x[NH * 128], y[NH * 128], cs[128];
                    double d[NH * 128];
                    for (int i = 0; i < NH * hdim; i++)
                        d[i] = x[i] = y[i] = kt_uniform(&rng, -2, 2);
                    lf_rope(x, NH, hdim, positions[pi], &p);
                    lf_rope_table(cs, positions[pi], &p);
                    lf_rope_apply(y, NH, hdim, cs, &p);
                    rope_naive(d, NH, hdim, positions[pi], p.n_rot, p.base, 1.0, NULL, neox);
                    char what[96];
                    snprintf(what, sizeof what, "%s rope head_dim=%d n_rot=%d neox=%d pos=%lld",
                             ks.name, hdim, p.n_rot, neox, (long long)positions[pi]);
                    for (int i = 0; i < NH * hdim; i++) {
                        check_close(what, i, x[i], d[i], 2e-6 * 4);
                        if (i % hdim >= p.n_rot)
                            assert_true(x[i] == (float)d[i]);   /* untouched */
                    }
                    assert_memory_equal(x, y, sizeof(float) * NH * hdim);
                    checked++;
                }
    }
    print_message("rope: %d (set, shape, layout, position) combinations\n", checked);
    lf_kernels_init(LF_ISA_SCALAR, NULL);
}

static void test_kv_store(void **state) {
    (void)state;
    kt_rng rng = {15};
    const int hd = 96;
    float x[96];
    for (int i = 0; i < hd; i++)
        x[i] = kt_uniform(&rng, -3, 3);
    float f32[96];
    lf_kv_store(f32, x, LF_TYPE_F32, hd);
    assert_memory_equal(f32, x, sizeof x);
    lf_half h[96];
    lf_kv_store(h, x, LF_TYPE_F16, hd);
    for (int i = 0; i < hd; i++)
        assert_int_equal(h[i], lf_float_to_half(x[i]));
    lf_block_q8_0 q[3], r[3];
    lf_kv_store(q, x, LF_TYPE_Q8_0, hd);
    lf_type_traits_get(LF_TYPE_Q8_0)->from_float(x, r, hd);
    assert_memory_equal(q, r, sizeof q);
}

static void test_attention(void **state) {
    (void)state;
    static const lf_type kv_types[] = {LF_TYPE_F32, LF_TYPE_F16, LF_TYPE_Q8_0};
    static const int n_kvs[] = {1, 5, 37, 300};
    const int hd = 64, n_heads_kv = 2;   /* rows interleave two KV heads */
    kt_rng rng = {16};
    kt_set sets[8];
    int nsets = kt_sets(sets);
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        lf_kernel_set_activate(&ks);
        for (int ti = 0; ti < 3; ti++)
            for (int ni = 0; ni < 4; ni++) {
                lf_type t = kv_types[ti];
                int n_kv = n_kvs[ni];
                size_t row = lf_row_size(t, hd), stride = row * n_heads_kv;
                char *k = kt_alloc(stride * n_kv), *v = kt_alloc(stride * n_kv);
                float q[64], tmp[64], out[64], *att = kt_alloc(n_kv * 4);
                double *kd = kt_alloc(sizeof(double) * n_kv * hd), *vd = kt_alloc(sizeof(double) * n_kv * hd);
                for (int i = 0; i < hd; i++)
                    q[i] = kt_uniform(&rng, -1, 1);
                for (int p = 0; p < n_kv; p++)
                    for (int head = 0; head < n_heads_kv; head++) {
                        for (int i = 0; i < hd; i++)
                            tmp[i] = kt_uniform(&rng, -2, 2);
                        lf_kv_store(k + p * stride + head * row, tmp, t, hd);
                        for (int i = 0; i < hd; i++)
                            tmp[i] = kt_uniform(&rng, -2, 2);
                        lf_kv_store(v + p * stride + head * row, tmp, t, hd);
                    }
                /* head 1 of each position, dequantized independently */
                for (int p = 0; p < n_kv; p++) {
                    float fk[64], fv[64];
                    kt_act_to_float(t, k + p * stride + row, fk, hd);
                    kt_act_to_float(t, v + p * stride + row, fv, hd);
                    for (int i = 0; i < hd; i++) {
                        kd[p * hd + i] = fk[i];
                        vd[p * hd + i] = fv[i];
                    }
                }
                const float scale = 0.125f;
                lf_attention_head(out, q, k + row, stride, v + row, stride, t, n_kv, hd, scale, att);
                double *s = kt_alloc(sizeof(double) * n_kv), mx = -INFINITY, sum = 0;
                for (int p = 0; p < n_kv; p++) {
                    double a = 0;
                    for (int i = 0; i < hd; i++)
                        a += q[i] * kd[p * hd + i];
                    s[p] = a * scale;
                    mx = fmax(mx, s[p]);
                }
                for (int p = 0; p < n_kv; p++)
                    sum += s[p] = exp(s[p] - mx);
                for (int i = 0; i < hd; i++) {
                    double want = 0, mag = 0;
                    for (int p = 0; p < n_kv; p++) {
                        want += s[p] / sum * vd[p * hd + i];
                        mag += s[p] / sum * fabs(vd[p * hd + i]);
                    }
                    char what[64];
                    snprintf(what, sizeof what, "%s attention %s n_kv=%d", ks.name,
                             lf_type_name(t), n_kv);
                    check_close(what, i, out[i], want, 2e-5 * mag + 1e-7);
                }
                free(k); free(v); free(att); free(kd); free(vd); free(s);
            }
    }
    lf_kernels_init(LF_ISA_SCALAR, NULL);
}

/* Tiles of query rows (the prompt path): every kernel set against a
 * double-precision softmax per row, for full tiles and ragged ones, rows
 * with causal and sliding-window ranges (and one empty row), head sizes
 * that are and are not multiples of 16, and value heads of another size. */
static void test_attention_tile(void **state) {
    (void)state;
    static const lf_type kv_types[] = {LF_TYPE_F32, LF_TYPE_F16, LF_TYPE_Q8_0};
    /* hd, hdv; the last (f32/f16 only) leaves tails after every vector
     * step: 38 = 4·9 + 2 = 8·4 + 6, 40 = 16·2 + 8 */
    static const int shapes[][2] = {{64, 64}, {96, 64}, {32, 96}, {80, 80}, {128, 128}, {38, 40}};
    static const int nrs[] = {1, 5, 15, 16};
    const int n_keys = 203;
    kt_rng rng = {23};
    kt_set sets[8];
    int nsets = kt_sets(sets);
    int checked = 0;
    for (int si = 0; si < nsets; si++) {
        lf_kernel_set ks;
        assert_int_equal(lf_kernel_set_build(&ks, sets[si].level, sets[si].flags, NULL), 0);
        if (ks.level != LF_ISA_SCALAR)   /* else the row-by-row path would pass for it */
            assert_non_null(ks.attn_tile);
        lf_kernel_set_activate(&ks);
        for (int ti = 0; ti < 3; ti++)
            for (int hi_ = 0; hi_ < 6; hi_++) {
                lf_type t = kv_types[ti];
                const int hd = shapes[hi_][0], hdv = shapes[hi_][1];
                if (t == LF_TYPE_Q8_0 && (hd % LF_QK8_0 || hdv % LF_QK8_0))
                    continue;   /* whole blocks only */
                size_t kr = lf_row_size(t, hd), vr = lf_row_size(t, hdv);
                char *k = kt_alloc(kr * n_keys), *v = kt_alloc(vr * n_keys);
                double *kd = kt_alloc(sizeof(double) * n_keys * hd);
                double *vd = kt_alloc(sizeof(double) * n_keys * hdv);
                float tmp[128];
                for (int p = 0; p < n_keys; p++) {
                    for (int i = 0; i < hd; i++)
                        tmp[i] = kt_uniform(&rng, -2, 2);
                    lf_kv_store(k + p * kr, tmp, t, hd);
                    kt_act_to_float(t, k + p * kr, tmp, hd);
                    for (int i = 0; i < hd; i++)
                        kd[p * hd + i] = tmp[i];
                    for (int i = 0; i < hdv; i++)
                        tmp[i] = kt_uniform(&rng, -2, 2);
                    lf_kv_store(v + p * vr, tmp, t, hdv);
                    kt_act_to_float(t, v + p * vr, tmp, hdv);
                    for (int i = 0; i < hdv; i++)
                        vd[p * hdv + i] = tmp[i];
                }
                float *scratch = kt_alloc(sizeof(float) * lf_attn_tile_scratch(n_keys, hd, hdv));
                for (int ni = 0; ni < 4; ni++) {
                    const int nr = nrs[ni];
                    float *q = kt_alloc(sizeof(float) * LF_ATTN_ROWS * hd);
                    float *out = kt_alloc(sizeof(float) * LF_ATTN_ROWS * hdv);
                    lf_attn_tile tile = {.nr = nr, .k = k, .v = v, .k_stride = kr,
                                         .v_stride = vr, .kv_type = t, .hd = hd, .hdv = hdv,
                                         .scale = 1.0f / sqrtf((float)hd)};
                    for (int r = 0; r < nr; r++) {
                        for (int i = 0; i < hd; i++)
                            q[r * hd + i] = kt_uniform(&rng, -1.5f, 1.5f);
                        tile.q[r] = q + r * hd;
                        tile.out[r] = out + r * hdv;
                        /* tokens at the end of a prompt; every third row
                         * has a sliding window of 40; row 2 is empty */
                        tile.hi[r] = n_keys - (nr - 1 - r) / 3;
                        tile.lo[r] = r % 3 == 1 ? tile.hi[r] - 40 : 0;
                        if (r == 2)
                            tile.lo[r] = tile.hi[r];
                    }
                    memset(out, 0xFF, sizeof(float) * LF_ATTN_ROWS * hdv);   /* NaNs */
                    lf_attention_tile(&tile, scratch);
                    for (int r = 0; r < nr; r++) {
                        const int lo = tile.lo[r], hi = tile.hi[r];
                        double mx = -INFINITY, sum = 0, *s = kt_alloc(sizeof(double) * n_keys);
                        for (int p = lo; p < hi; p++) {
                            double a = 0;
                            for (int i = 0; i < hd; i++)
                                a += (double)tile.q[r][i] * kd[p * hd + i];
                            s[p] = a * tile.scale;
                            mx = fmax(mx, s[p]);
                        }
                        for (int p = lo; p < hi; p++)
                            sum += s[p] = exp(s[p] - mx);
                        for (int i = 0; i < hdv; i++) {
                            double want = 0, mag = 0;
                            for (int p = lo; p < hi; p++) {
                                want += s[p] / sum * vd[p * hdv + i];
                                mag += s[p] / sum * fabs(vd[p * hdv + i]);
                            }
                            char what[96];
                            snprintf(what, sizeof what, "%s tile %s hd=%d hdv=%d rows=%d row %d",
                                     ks.name, lf_type_name(t), hd, hdv, nr, r);
                            check_close(what, i, out[r * hdv + i], want, 2e-5 * mag + 1e-7);
                        }
                        free(s);
                        checked++;
                    }
                    free(q);
                    free(out);
                }
                free(k); free(v); free(kd); free(vd); free(scratch);
            }
    }
    assert_true(checked > 0);
    lf_kernels_init(LF_ISA_SCALAR, NULL);
}

int main(void) {
    lf_kernels_init(LF_ISA_SCALAR, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norms_and_dot),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_activations_and_elementwise),
        cmocka_unit_test(test_swiglu_every_set),
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_rope_every_set),
        cmocka_unit_test(test_kv_store),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_attention_tile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
