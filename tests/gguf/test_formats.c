/*
 * Tests for the tensor formats: half/bfloat16 conversion held bit-exactly
 * against independent computations on every 16-bit pattern, the trait
 * table, quantize → dequantize error per type on Gaussian data (printed as
 * a table and bounded), re-quantization stability, dequantization of real
 * llama.cpp-quantized files against their F32 sources (a layout mistake
 * shows as ~100% error), and the named mixes against the tensor types
 * llama.cpp chose in those files.
 */
#include "gguf/gguf.h"
#include "test_util.h"

#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* ---- half / bfloat16 ------------------------------------------------------ */

/* half bits → value via frexp-free reasoning: (-1)^s · 2^(e-15) · (1 + m/1024). */
static double ref_half_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_half_to_float_all(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = lf_half_to_float((lf_half)h);
        int e = (h >> 10) & 31, m = h & 1023;
        if (e == 31) {
            if (m == 0) {
                assert_true(isinf(f));
                assert_int_equal(signbit(f) != 0, (h >> 15) != 0);
            } else {
                assert_true(isnan(f));
                assert_int_equal((fbits(f) >> 13) & 1023, m);   /* payload kept */
            }
            continue;
        }
        double ref = ref_half_value((uint16_t)h);
        assert_true((double)f == ref);
        assert_int_equal(signbit(f) != 0, (h >> 15) != 0);       /* -0 stays -0 */
    }
}

/* The half nearest to x (ties to the even code), by bisection over the
 * ordered positive codes 0 … 0x7bff; ≥ 65520 is inf. */
static uint16_t ref_float_to_half(float x) {
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs((double)x);
    if (isnan(x))
        return 0x7e00;
    if (a >= 65520.0)
        return sign | 0x7c00;
    uint32_t lo = 0, hi = 0x7bff;
    while (hi - lo > 1) {                 /* value(lo) <= a < value(hi) */
        uint32_t mid = (lo + hi) / 2;
        if (ref_half_value((uint16_t)mid) <= a)
            lo = mid;
        else
            hi = mid;
    }
    if (ref_half_value((uint16_t)hi) <= a)
        lo = hi;
    double dl = a - ref_half_value((uint16_t)lo);
    double dh = lo < 0x7bff ? ref_half_value((uint16_t)(lo + 1)) - a : INFINITY;
    uint16_t r = (uint16_t)(dl < dh ? lo : dh < dl ? lo + 1 : (lo & 1) ? lo + 1 : lo);
    return sign | r;
}

static void test_float_to_half(void **state) {
    (void)state;
    /* Every half survives a round trip; every midpoint between neighbours
     * rounds to the even one and its float neighbours to the nearer. */
    for (uint32_t h = 0; h < 65536; h++) {
        if (((h >> 10) & 31) == 31 && (h & 1023))
            continue;
        float f = lf_half_to_float((lf_half)h);
        assert_int_equal(lf_float_to_half(f), h);
        if ((h & 0x7fff) >= 0x7bff)
            continue;
        float next = lf_half_to_float((lf_half)(h + 1));
        float mid = (float)(((double)f + next) / 2);  /* exact: 12 significant bits */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        assert_int_equal(lf_float_to_half(mid), even);
        assert_int_equal(lf_float_to_half(nextafterf(mid, f)), h);
        assert_int_equal(lf_float_to_half(nextafterf(mid, next)), h + 1);
    }
    /* Random floats over the whole range against the bisection reference. */
    trng r = {42};
    for (int i = 0; i < 300000; i++) {
        float x;
        if (i % 2) {
            x = bitsf((uint32_t)trng_next(&r));
        } else {                                 /* concentrate near half range */
            x = (float)ldexp(trng_uniform(&r) * 2 - 1, (int)(trng_next(&r) % 50) - 30);
        }
        if (isnan(x)) {
            assert_true((lf_float_to_half(x) & 0x7c00) == 0x7c00 && (lf_float_to_half(x) & 0x3ff));
            continue;
        }
        assert_int_equal(lf_float_to_half(x), ref_float_to_half(x));
    }
    assert_int_equal(lf_float_to_half(65504.f), 0x7bff);
    assert_int_equal(lf_float_to_half(65519.99f), 0x7bff);
    assert_int_equal(lf_float_to_half(65520.f), 0x7c00);
    assert_int_equal(lf_float_to_half(-INFINITY), 0xfc00);
    assert_int_equal(lf_float_to_half(FLT_MIN), 0);
    assert_int_equal(lf_float_to_half((float)ldexp(1, -24)), 1);
    assert_int_equal(lf_float_to_half((float)ldexp(1, -25)), 0);           /* tie → even */
    assert_int_equal(lf_float_to_half((float)ldexp(3, -25)), 2);           /* tie → even */
    assert_int_equal(lf_float_to_half(nextafterf((float)ldexp(1, -25), 1)), 1);
}

static void test_bf16_all(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = lf_bf16_to_float((lf_bf16)h);
        int e = (h >> 7) & 255, m = h & 127;
        if (e == 255) {
            assert_true(m ? isnan(f) : isinf(f));
            continue;
        }
        double v = e == 0 ? ldexp(m, -133) : ldexp(128 + m, e - 134);
        assert_true((double)fabsf(f) == v);
        assert_int_equal(signbit(f) != 0, (h >> 15) != 0);
        assert_int_equal(lf_float_to_bf16(f), h);
    }
    /* Random floats: nearest of the two bf16 neighbours, ties to even. */
    trng r = {7};
    for (int i = 0; i < 300000; i++) {
        uint32_t u = (uint32_t)trng_next(&r);
        float x = bitsf(u);
        lf_bf16 got = lf_float_to_bf16(x);
        if (isnan(x)) {
            assert_true(isnan(lf_bf16_to_float(got)));
            continue;
        }
        uint32_t lo = u >> 16;
        double a = fabs((double)x), vl = fabs((double)bitsf(lo << 16));
        double vh = (lo & 0x7fff) == 0x7f7f ? ldexp(1, 128) : fabs((double)bitsf((lo + 1) << 16));
        uint32_t want = a - vl < vh - a ? lo : vh - a < a - vl ? lo + 1 : (lo & 1) ? lo + 1 : lo;
        assert_int_equal(got, want);
    }
}

/* ---- trait table ---------------------------------------------------------- */

static const lf_type all_types[] = {
    LF_TYPE_F32, LF_TYPE_F16, LF_TYPE_BF16, LF_TYPE_Q4_0, LF_TYPE_Q4_1, LF_TYPE_Q5_0,
    LF_TYPE_Q5_1, LF_TYPE_Q8_0, LF_TYPE_Q8_1, LF_TYPE_Q2_K, LF_TYPE_Q3_K, LF_TYPE_Q4_K,
    LF_TYPE_Q5_K, LF_TYPE_Q6_K, LF_TYPE_Q8_K, LF_TYPE_IQ4_NL, LF_TYPE_IQ4_XS,
};
#define N_TYPES (int)(sizeof all_types / sizeof all_types[0])

static void test_traits(void **state) {
    (void)state;
    static const struct {
        lf_type t;
        const char *name;
        double bpw;
        lf_type dot;
    } want[] = {
        {LF_TYPE_F32, "f32", 32, LF_TYPE_F32},       {LF_TYPE_F16, "f16", 16, LF_TYPE_F16},
        {LF_TYPE_BF16, "bf16", 16, LF_TYPE_BF16},    {LF_TYPE_Q4_0, "q4_0", 4.5, LF_TYPE_Q8_0},
        {LF_TYPE_Q4_1, "q4_1", 5, LF_TYPE_Q8_1},     {LF_TYPE_Q5_0, "q5_0", 5.5, LF_TYPE_Q8_0},
        {LF_TYPE_Q5_1, "q5_1", 6, LF_TYPE_Q8_1},     {LF_TYPE_Q8_0, "q8_0", 8.5, LF_TYPE_Q8_0},
        {LF_TYPE_Q2_K, "q2_K", 2.625, LF_TYPE_Q8_K}, {LF_TYPE_Q3_K, "q3_K", 3.4375, LF_TYPE_Q8_K},
        {LF_TYPE_Q4_K, "q4_K", 4.5, LF_TYPE_Q8_K},   {LF_TYPE_Q5_K, "q5_K", 5.5, LF_TYPE_Q8_K},
        {LF_TYPE_Q6_K, "q6_K", 6.5625, LF_TYPE_Q8_K},
        {LF_TYPE_IQ4_NL, "iq4_nl", 4.5, LF_TYPE_Q8_0},
        {LF_TYPE_IQ4_XS, "iq4_xs", 4.25, LF_TYPE_Q8_K},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const lf_type_traits *tr = lf_type_traits_get(want[i].t);
        assert_string_equal(tr->name, want[i].name);
        assert_true(fabs(lf_type_bpw(want[i].t) - want[i].bpw) < 1e-12);
        assert_int_equal(tr->vec_dot_type, want[i].dot);
        assert_non_null(tr->vec_dot);
        assert_non_null(tr->to_float);
        assert_non_null(tr->from_float);
        lf_type parsed;
        assert_int_equal(lf_type_parse(want[i].name, &parsed), 0);
        assert_int_equal(parsed, want[i].t);
    }
    lf_type p;
    assert_int_equal(lf_type_parse("Q4_K", &p), 0);
    assert_int_equal(p, LF_TYPE_Q4_K);
    assert_int_equal(lf_type_parse("IQ4_XS", &p), 0);
    assert_int_equal(p, LF_TYPE_IQ4_XS);
    assert_int_equal(lf_type_parse("q4_k_m", &p), LF_EINVAL);
    assert_int_equal(lf_type_parse("iq2_xxs", &p), LF_EINVAL);
    assert_false(lf_type_supported(LF_TYPE_IQ2_XXS));
    assert_false(lf_type_supported((lf_type)999));
    assert_false(lf_type_supported((lf_type)-1));
    assert_string_equal(lf_type_name((lf_type)999), "unknown");
    assert_int_equal(lf_type_traits_get(LF_TYPE_I32)->block_size, 0);
    assert_int_equal(lf_row_size(LF_TYPE_Q4_K, 512), 288);
    assert_int_equal(lf_row_size(LF_TYPE_Q4_K, 500), 0);
    assert_int_equal(lf_row_size(LF_TYPE_F16, 7), 14);
    assert_int_equal(lf_row_size(LF_TYPE_IQ2_XXS, 256), 0);
    assert_null(lf_type_traits_get(LF_TYPE_Q8_K)->vec_dot);
}

/* ---- quantize → dequantize on random data --------------------------------- */

typedef struct {
    lf_type t;
    double bound;      /* max relative RMS error on Gaussian data */
} qbound;

/* Bounds: the measured errors (printed by the test) plus ~15% headroom. */
static const qbound rt_bounds[] = {
    {LF_TYPE_F32, 0},          {LF_TYPE_F16, 0.00025},   {LF_TYPE_BF16, 0.002},
    {LF_TYPE_Q8_0, 0.0062},    {LF_TYPE_Q8_1, 0.0062},   {LF_TYPE_Q8_K, 0.008},
    {LF_TYPE_Q6_K, 0.020},     {LF_TYPE_Q5_0, 0.047},    {LF_TYPE_Q5_1, 0.040},
    {LF_TYPE_Q5_K, 0.041},     {LF_TYPE_Q4_0, 0.094},    {LF_TYPE_Q4_1, 0.081},
    {LF_TYPE_Q4_K, 0.082},     {LF_TYPE_IQ4_NL, 0.086},  {LF_TYPE_IQ4_XS, 0.087},
    {LF_TYPE_Q3_K, 0.168},     {LF_TYPE_Q2_K, 0.32},
};

#define RT_ROWS 64
#define RT_COLS 1024

static void fill_gauss(float *x, int64_t n, uint64_t seed, double scale) {
    trng r = {seed};
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(trng_gauss(&r) * scale);
}

static void test_roundtrip_random(void **state) {
    (void)state;
    const int64_t n = (int64_t)RT_ROWS * RT_COLS;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    void *q = malloc((size_t)n * 4 + 4096);
    assert_non_null(x);
    assert_non_null(y);
    assert_non_null(q);
    /* Rows with different scales, as real weight rows have. */
    for (int r = 0; r < RT_ROWS; r++)
        fill_gauss(x + r * RT_COLS, RT_COLS, 1000 + r, 0.02 * (1 + r % 7));
    print_message("%-8s %10s %10s %8s\n", "type", "rel_rms", "bound", "bpw");
    for (size_t i = 0; i < sizeof rt_bounds / sizeof rt_bounds[0]; i++) {
        lf_type t = rt_bounds[i].t;
        size_t bytes = lf_quantize(t, x, q, RT_ROWS, RT_COLS);
        assert_int_equal(bytes, lf_row_size(t, RT_COLS) * RT_ROWS);
        lf_dequantize(t, q, y, RT_ROWS, RT_COLS);
        double e = rel_rms(y, x, n);
        print_message("%-8s %10.5f %10.5f %8.4f\n", lf_type_name(t), e, rt_bounds[i].bound,
                      lf_type_bpw(t));
        assert_true(e <= rt_bounds[i].bound);
        /* Rows are independent: quantizing one row alone gives the same bytes. */
        uint8_t one[8192];
        lf_quantize(t, x + 5 * RT_COLS, one, 1, RT_COLS);
        assert_memory_equal(one, (uint8_t *)q + 5 * lf_row_size(t, RT_COLS), lf_row_size(t, RT_COLS));
    }
    free(x);
    free(y);
    free(q);
}

/* Awkward inputs: zeros, constants, a lone outlier, all-positive and
 * all-negative rows, tiny and huge magnitudes. Dequantized values must be
 * finite, zeros must stay zeros, and the outlier must survive roughly. */
static void test_roundtrip_edge_cases(void **state) {
    (void)state;
    enum { N = 512 };
    float x[N], y[N];
    uint8_t q[N * 4 + 64];
    for (int i = 0; i < N_TYPES; i++) {
        lf_type t = all_types[i];
        memset(x, 0, sizeof x);
        lf_quantize(t, x, q, 1, N);
        lf_dequantize(t, q, y, 1, N);
        for (int j = 0; j < N; j++)
            assert_true(y[j] == 0.0f);

        for (int j = 0; j < N; j++)
            x[j] = 0.75f;
        lf_quantize(t, x, q, 1, N);
        lf_dequantize(t, q, y, 1, N);
        for (int j = 0; j < N; j++)
            assert_true(fabsf(y[j] - 0.75f) < 0.1f);

        trng r = {99};
        for (int j = 0; j < N; j++)
            x[j] = (float)(trng_gauss(&r) * 0.01);
        x[77] = 3.0f;
        lf_quantize(t, x, q, 1, N);
        lf_dequantize(t, q, y, 1, N);
        assert_true(fabsf(y[77] - 3.0f) < 0.35f);
        for (int j = 0; j < N; j++)
            assert_true(isfinite(y[j]));

        for (int sgn = -1; sgn <= 1; sgn += 2) {
            for (int j = 0; j < N; j++)
                x[j] = sgn * (float)(0.5 + trng_uniform(&r));
            lf_quantize(t, x, q, 1, N);
            lf_dequantize(t, q, y, 1, N);
            assert_true(rel_rms(y, x, N) < 0.25);
        }
        /* fp16 scales bound the usable range (GGML's too): 1e-4 … 1e4. */
        for (double scale = 1e-4; scale <= 1e4; scale *= 1e4) {
            fill_gauss(x, N, 5, scale);
            lf_quantize(t, x, q, 1, N);
            lf_dequantize(t, q, y, 1, N);
            if (!(rel_rms(y, x, N) < 0.5))
                print_message("%s at scale %g: error %g\n", lf_type_name(t), scale, rel_rms(y, x, N));
            assert_true(rel_rms(y, x, N) < 0.5);
        }
        /* Far beyond fp16 scales: clipped, but finite. */
        fill_gauss(x, N, 6, 1e7);
        lf_quantize(t, x, q, 1, N);
        lf_dequantize(t, q, y, 1, N);
        for (int j = 0; j < N; j++)
            assert_true(t == LF_TYPE_F16 || isfinite(y[j]));
    }
}

/* Quantize → dequantize → quantize again: values already on a K-quant grid
 * must come back (almost) unchanged. */
static void test_requantize_stable(void **state) {
    (void)state;
    static const lf_type ks[] = {LF_TYPE_Q2_K, LF_TYPE_Q3_K, LF_TYPE_Q4_K, LF_TYPE_Q5_K,
                                 LF_TYPE_Q6_K, LF_TYPE_IQ4_XS, LF_TYPE_Q4_0, LF_TYPE_Q8_0};
    enum { N = 256 * 32 };
    float *x = malloc(N * sizeof(float)), *d1 = malloc(N * sizeof(float)),
          *d2 = malloc(N * sizeof(float));
    uint8_t *q = malloc(N * 2);
    fill_gauss(x, N, 31337, 0.05);
    print_message("%-8s %12s %12s\n", "type", "first error", "requant drift");
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        lf_quantize(ks[i], x, q, 1, N);
        lf_dequantize(ks[i], q, d1, 1, N);
        lf_quantize(ks[i], d1, q, 1, N);
        lf_dequantize(ks[i], q, d2, 1, N);
        double e1 = rel_rms(d1, x, N), drift = rel_rms(d2, d1, N);
        print_message("%-8s %12.5f %12.5f\n", lf_type_name(ks[i]), e1, drift);
        assert_true(drift <= 0.25 * e1);
    }
    free(x);
    free(d1);
    free(d2);
    free(q);
}

/* The activation formats: exact properties the dot kernels rely on. */
static void test_activation_formats(void **state) {
    (void)state;
    enum { N = 512 };
    float x[N];
    fill_gauss(x, N, 3, 1.0);
    lf_block_q8_K k[N / 256];
    lf_quantize(LF_TYPE_Q8_K, x, k, 1, N);
    for (int b = 0; b < N / 256; b++) {
        int amax = 0;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) {
                s += k[b].qs[16 * g + l];
                amax = abs(k[b].qs[16 * g + l]) > amax ? abs(k[b].qs[16 * g + l]) : amax;
            }
            assert_int_equal(k[b].bsums[g], s);
        }
        assert_int_equal(amax, 127);
    }
    lf_block_q8_1 b1[N / 32];
    lf_quantize(LF_TYPE_Q8_1, x, b1, 1, N);
    for (int b = 0; b < N / 32; b++) {
        int s = 0;
        for (int l = 0; l < 32; l++)
            s += b1[b].qs[l];
        float d = lf_half_to_float(b1[b].d), sd = lf_half_to_float(b1[b].s);
        assert_true(fabsf(sd - d * s) <= 1e-3f * fabsf(d * s) + 1e-3f * d);
    }
}

/* ---- real files ---------------------------------------------------------- */

/* Max relative RMS error per tensor type for llama.cpp-quantized tensors
 * against their F32 source, from the measured errors (printed) with
 * headroom; a layout mistake gives ~1.0 or more. */
static double file_bound(lf_type t) {
    switch (t) {
    case LF_TYPE_F16: return 0.001;
    case LF_TYPE_Q8_0: return 0.0065;
    case LF_TYPE_Q6_K: return 0.0197;
    case LF_TYPE_Q5_0: return 0.047;
    case LF_TYPE_Q5_1: return 0.042;
    case LF_TYPE_Q5_K: return 0.040;
    case LF_TYPE_Q4_0: return 0.095;
    case LF_TYPE_Q4_1: return 0.087;
    case LF_TYPE_Q4_K: return 0.079;
    case LF_TYPE_IQ4_NL: case LF_TYPE_IQ4_XS: return 0.085;
    case LF_TYPE_Q3_K: return 0.167;
    case LF_TYPE_Q2_K: return 0.33;
    default: return 0.0;
    }
}

typedef struct {
    double max_err[LF_TYPE_COUNT], sum_err[LF_TYPE_COUNT];
    int n[LF_TYPE_COUNT];
} err_table;

/* Compares every tensor of file q with the same tensor of src; returns the
 * number of tensors compared. */
static int compare_file(const lf_gguf *src, const char *path, err_table *tab, const char *label,
                        double slack) {
    lf_gguf *g;
    lf_error err = {0};
    assert_int_equal(lf_gguf_open(&g, path, &err), 0);
    int compared = 0;
    for (int64_t i = 0; i < lf_gguf_n_tensors(g); i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        const lf_gguf_tensor *s = lf_gguf_find_tensor(src, t->name);
        assert_non_null(s);
        assert_int_equal(lf_gguf_tensor_nelem(s), lf_gguf_tensor_nelem(t));
        if (t->type == LF_TYPE_F32)
            continue;
        int64_t n = lf_gguf_tensor_nelem(t), cols = t->ne[0];
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        lf_dequantize(t->type, t->data, a, n / cols, cols);
        lf_dequantize(s->type, s->data, b, n / s->ne[0], s->ne[0]);
        double e = rel_rms(a, b, n);
        const double bound = file_bound(t->type) * slack;
        if (e > bound)
            print_message("%s: %s (%s) error %.4f above bound %.4f\n", label, t->name,
                          lf_type_name(t->type), e, bound);
        assert_true(e <= bound);
        tab->max_err[t->type] = e > tab->max_err[t->type] ? e : tab->max_err[t->type];
        tab->sum_err[t->type] += e;
        tab->n[t->type]++;
        compared++;
        free(a);
        free(b);
    }
    lf_gguf_close(g);
    return compared;
}

static void print_table(const char *title, const err_table *tab, double slack) {
    print_message("%s\n%-8s %8s %10s %10s %10s\n", title, "type", "tensors", "mean err", "max err",
                  "bound");
    for (int t = 0; t < LF_TYPE_COUNT; t++)
        if (tab->n[t])
            print_message("%-8s %8d %10.5f %10.5f %10.5f\n", lf_type_name((lf_type)t), tab->n[t],
                          tab->sum_err[t] / tab->n[t], tab->max_err[t], slack * file_bound((lf_type)t));
}

static void test_kquant_files(void **state) {
    (void)state;
    const char *src_path = model_path("kquant/kq-f32.gguf");
    if (!src_path) {
        print_message("skipped: kquant/kq-f32.gguf not in LOCALFIT_TEST_MODELS\n");
        skip();
    }
    lf_gguf *src;
    lf_error err = {0};
    assert_int_equal(lf_gguf_open(&src, src_path, &err), 0);
    static const char *const files[] = {"Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M",
                                        "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS",
                                        "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"};
    err_table tab = {0};
    int files_seen = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "kquant/kq-%s.gguf", files[i]);
        const char *p = model_path(rel);
        if (!p) {
            print_message("note: %s absent\n", rel);
            continue;
        }
        assert_true(compare_file(src, p, &tab, rel, 1.0) > 0);
        files_seen++;
    }
    print_table("llama.cpp kq-*.gguf tensors vs kq-f32.gguf (relative RMS error):", &tab, 1.0);
    assert_true(files_seen > 0);

    /* Our quantizers on the same weights, for comparison with llama.cpp's. */
    static const lf_type ours[] = {LF_TYPE_Q2_K, LF_TYPE_Q3_K, LF_TYPE_Q4_K, LF_TYPE_Q5_K,
                                   LF_TYPE_Q6_K, LF_TYPE_IQ4_NL, LF_TYPE_IQ4_XS, LF_TYPE_Q8_0,
                                   LF_TYPE_Q4_0, LF_TYPE_Q4_1, LF_TYPE_Q5_0, LF_TYPE_Q5_1};
    print_message("localfit quantizers on kq-f32.gguf's 2-D tensors:\n%-8s %10s %10s\n", "type",
                  "mean err", "llama.cpp");
    for (size_t k = 0; k < sizeof ours / sizeof ours[0]; k++) {
        double sum = 0;
        int n = 0;
        for (int64_t i = 0; i < lf_gguf_n_tensors(src); i++) {
            const lf_gguf_tensor *s = lf_gguf_tensor_at(src, i);
            if (s->n_dims < 2 || s->ne[0] % lf_type_traits_get(ours[k])->block_size)
                continue;
            int64_t ne = lf_gguf_tensor_nelem(s), rows = ne / s->ne[0];
            void *q = malloc(lf_row_size(ours[k], s->ne[0]) * rows);
            float *y = malloc(ne * sizeof *y);
            lf_quantize(ours[k], s->data, q, rows, s->ne[0]);
            lf_dequantize(ours[k], q, y, rows, s->ne[0]);
            double e = rel_rms(y, s->data, ne);
            assert_true(e <= file_bound(ours[k]));
            sum += e;
            n++;
            free(q);
            free(y);
        }
        print_message("%-8s %10.5f %10.5f\n", lf_type_name(ours[k]), n ? sum / n : 0,
                      tab.n[ours[k]] ? tab.sum_err[ours[k]] / tab.n[ours[k]] : NAN);
    }
    lf_gguf_close(src);
}

/* Trained weights have heavier tails than the Gaussian kq model, and the
 * stories tensors are tiny (64 × 32), so their errors run higher. */
#define STORIES_SLACK 1.2

static void test_stories_files(void **state) {
    (void)state;
    const char *src_path = model_path("stories260K.gguf");
    if (!src_path) {
        print_message("skipped: stories260K.gguf not in LOCALFIT_TEST_MODELS\n");
        skip();
    }
    lf_gguf *src;
    lf_error err = {0};
    assert_int_equal(lf_gguf_open(&src, src_path, &err), 0);
    static const char *const files[] = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL"};
    err_table tab = {0};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "stories260K-%s.gguf", files[i]);
        const char *p = model_path(rel);
        if (p)
            assert_true(compare_file(src, p, &tab, rel, STORIES_SLACK) > 0);
    }
    lf_gguf_close(src);
    print_table("llama.cpp stories260K-*.gguf tensors vs stories260K.gguf:", &tab, STORIES_SLACK);
    /* TinyStories 656K: F16 and Q8_0 against the F32 original. */
    const char *f32 = model_path("TinyStories-656K.f32.gguf");
    if (f32) {
        err_table t2 = {0};
        assert_int_equal(lf_gguf_open(&src, f32, &err), 0);
        const char *f16 = model_path("TinyStories-656K.f16.gguf");
        const char *q8 = model_path("tinystories-656k-q8_0.gguf");
        if (f16)
            compare_file(src, f16, &t2, "TinyStories-656K.f16.gguf", STORIES_SLACK);
        if (q8)
            compare_file(src, q8, &t2, "tinystories-656k-q8_0.gguf", STORIES_SLACK);
        lf_gguf_close(src);
        print_table("TinyStories-656K f16 / q8_0 vs f32:", &t2, STORIES_SLACK);
    }
}

/* ---- mixes ------------------------------------------------------------- */

/* For each llama.cpp-quantized file, our mix must choose the type llama.cpp
 * chose for every tensor. */
static void check_mix_file(const char *rel, lf_mix mix, int n_layer, int gqa, bool pure) {
    const char *p = model_path(rel);
    if (!p) {
        print_message("note: %s absent\n", rel);
        return;
    }
    lf_gguf *g;
    lf_error err = {0};
    assert_int_equal(lf_gguf_open(&g, p, &err), 0);
    lf_mix_model mm = {.n_layer = n_layer, .n_gqa = gqa};
    /* A pure file (llama-quantize --pure) has the base type everywhere. */
    const lf_type base = lf_mix_tensor_type(mix, "blk.0.ffn_up.weight", 0, 2, 4096);
    for (int64_t i = 0; i < lf_gguf_n_tensors(g); i++) {
        const lf_gguf_tensor *t = lf_gguf_tensor_at(g, i);
        int layer = -1;
        sscanf(t->name, "blk.%d.", &layer);
        lf_type want = t->n_dims < 2 ? LF_TYPE_F32 : t->type;
        lf_type got = lf_mix_tensor_type_model(mix, &mm, t->name, layer, t->ne[0]);
        if (pure && t->n_dims >= 2)
            got = base;
        if (got != want)
            print_message("%s %s: mix says %s, file has %s\n", rel, t->name, lf_type_name(got),
                          lf_type_name(want));
        assert_int_equal(got, want);
    }
    lf_gguf_close(g);
}

static void test_mix_matches_llama_files(void **state) {
    (void)state;
    if (!models_dir()) {
        print_message("skipped: LOCALFIT_TEST_MODELS not set or absent\n");
        skip();
    }
    /* kq-*: the three _M files are real mixes, the others were made with
     * --pure (models/README.md); stories260K-*: real, with fallbacks. */
    static const struct { const char *file; bool pure; } kq[] = {
        {"Q2_K", true}, {"Q3_K_S", true}, {"Q3_K_M", false}, {"Q4_K_S", true},
        {"Q4_K_M", false}, {"Q5_K_S", true}, {"Q5_K_M", false}, {"Q6_K", true},
        {"IQ4_NL", true}, {"IQ4_XS", true}, {"Q8_0", true}, {"Q4_0", true},
        {"Q4_1", true}, {"Q5_0", true}, {"Q5_1", true},
    };
    for (size_t i = 0; i < sizeof kq / sizeof kq[0]; i++) {
        char rel[64];
        lf_mix m;
        assert_int_equal(lf_mix_parse(kq[i].file, &m), 0);
        snprintf(rel, sizeof rel, "kquant/kq-%s.gguf", kq[i].file);
        check_mix_file(rel, m, 2, 2, kq[i].pure);
    }
    static const char *const st[] = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL"};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        char rel[64];
        lf_mix m;
        assert_int_equal(lf_mix_parse(st[i], &m), 0);
        snprintf(rel, sizeof rel, "stories260K-%s.gguf", st[i]);
        check_mix_file(rel, m, 5, 2, false);
    }
}

/* Q4_K_M on a 32-layer llama-shaped model: the documented choices. */
static void test_mix_q4_k_m_rules(void **state) {
    (void)state;
    const int n_layer = 32;
    /* use_more_bits(i, 32): i < 4, i >= 28, or (i - 4) % 3 == 2 */
    static const int more[] = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
    for (int il = 0; il < n_layer; il++) {
        bool m = false;
        for (size_t k = 0; k < sizeof more / sizeof more[0]; k++)
            m |= more[k] == il;
        char name[64];
        static const char *const parts[] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                            "ffn_gate", "ffn_up", "ffn_down"};
        for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", il, parts[p]);
            int64_t cols = !strcmp(parts[p], "ffn_down") ? 14336 : 4096;
            lf_type want = (m && (p == 2 || p == 6)) ? LF_TYPE_Q6_K : LF_TYPE_Q4_K;
            assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_M, name, il, n_layer, cols), want);
        }
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", il);
        assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_M, name, il, n_layer, 4096), LF_TYPE_F32);
    }
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_M, "output.weight", -1, n_layer, 4096),
                     LF_TYPE_Q6_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_M, "token_embd.weight", -1, n_layer, 4096),
                     LF_TYPE_Q4_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_M, "output_norm.weight", -1, n_layer, 4096),
                     LF_TYPE_F32);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_M, "blk.0.attn_q.bias", 0, n_layer, 4096),
                     LF_TYPE_F32);
    /* Tied embeddings: token_embd doubles as the output → Q6_K. */
    lf_mix_model tied = {.n_layer = n_layer, .tied_output = true};
    assert_int_equal(lf_mix_tensor_type_model(LF_MIX_Q4_K_M, &tied, "token_embd.weight", -1, 4096),
                     LF_TYPE_Q6_K);
    /* Layer parsed from the name when not given. */
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_M, "blk.6.attn_v.weight", -1, n_layer, 4096),
                     LF_TYPE_Q6_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_M, "blk.7.attn_v.weight", -1, n_layer, 4096),
                     LF_TYPE_Q4_K);

    /* Other mixes' signature choices. */
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q3_K_M, "blk.0.attn_v.weight", 0, 32, 4096), LF_TYPE_Q5_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q3_K_M, "blk.5.attn_v.weight", 5, 32, 4096), LF_TYPE_Q4_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q3_K_M, "blk.1.ffn_down.weight", 1, 32, 14336), LF_TYPE_Q5_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q3_K_M, "blk.2.ffn_down.weight", 2, 32, 14336), LF_TYPE_Q4_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q3_K_M, "blk.2.attn_output.weight", 2, 32, 4096), LF_TYPE_Q4_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q3_K_M, "blk.2.ffn_up.weight", 2, 32, 4096), LF_TYPE_Q3_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q3_K_S, "blk.2.ffn_down.weight", 2, 32, 14336), LF_TYPE_Q3_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q3_K_L, "blk.9.attn_v.weight", 9, 32, 4096), LF_TYPE_Q5_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_S, "blk.3.attn_v.weight", 3, 32, 4096), LF_TYPE_Q5_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_S, "blk.4.attn_v.weight", 4, 32, 4096), LF_TYPE_Q4_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q2_K, "blk.4.ffn_down.weight", 4, 32, 14336), LF_TYPE_Q3_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q2_K, "blk.4.attn_v.weight", 4, 32, 4096), LF_TYPE_Q3_K);
    lf_mix_model gqa4 = {.n_layer = 32, .n_gqa = 4};
    assert_int_equal(lf_mix_tensor_type_model(LF_MIX_Q2_K, &gqa4, "blk.4.attn_v.weight", 4, 4096), LF_TYPE_Q4_K);
    assert_int_equal(lf_mix_tensor_type_model(LF_MIX_IQ4_XS, &gqa4, "blk.4.attn_v.weight", 4, 4096), LF_TYPE_Q5_K);
    lf_mix_model l70 = {.n_layer = 80, .n_gqa = 8};
    assert_int_equal(lf_mix_tensor_type_model(LF_MIX_Q4_K_M, &l70, "blk.40.attn_v.weight", 40, 8192), LF_TYPE_Q5_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q8_0, "output.weight", -1, 32, 4096), LF_TYPE_Q8_0);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_F16, "blk.1.ffn_down.weight", 1, 32, 172), LF_TYPE_F16);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_F32, "output.weight", -1, 32, 4096), LF_TYPE_F32);
}

static void test_mix_fallbacks(void **state) {
    (void)state;
    /* 256-block types on rows not divisible by 256 fall back to 32-block
     * types; 32-block types on rows not divisible by 32 fall back to F16. */
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_M, "blk.0.attn_q.weight", 0, 5, 64), LF_TYPE_Q5_0);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q5_K_M, "blk.1.attn_q.weight", 1, 5, 96), LF_TYPE_Q5_1);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q2_K, "blk.1.attn_q.weight", 1, 5, 96), LF_TYPE_IQ4_NL);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q3_K_S, "blk.1.attn_q.weight", 1, 5, 96), LF_TYPE_IQ4_NL);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_IQ4_XS, "blk.1.attn_q.weight", 1, 5, 96), LF_TYPE_IQ4_NL);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q6_K, "blk.1.attn_q.weight", 1, 5, 96), LF_TYPE_Q8_0);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_M, "blk.4.attn_v.weight", 4, 5, 64), LF_TYPE_Q8_0);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_M, "output.weight", -1, 5, 64), LF_TYPE_Q8_0);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_K_M, "blk.0.ffn_down.weight", 0, 5, 172), LF_TYPE_F16);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_0, "blk.0.ffn_down.weight", 0, 5, 172), LF_TYPE_F16);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_0, "output.weight", -1, 5, 64), LF_TYPE_Q8_0);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q4_0, "output.weight", -1, 5, 4096), LF_TYPE_Q6_K);
    assert_int_equal(lf_mix_tensor_type(LF_MIX_Q8_0, "output.weight", -1, 5, 100), LF_TYPE_F16);
    for (int m = 0; m < LF_MIX_COUNT; m++) {
        for (int64_t cols = 1; cols <= 1024; cols++) {
            lf_type t = lf_mix_tensor_type((lf_mix)m, "blk.0.ffn_up.weight", 0, 4, cols);
            assert_true(lf_row_size(t, cols) > 0);
        }
    }
}

static void test_mix_names(void **state) {
    (void)state;
    for (int m = 0; m < LF_MIX_COUNT; m++) {
        lf_mix back;
        assert_int_equal(lf_mix_parse(lf_mix_name((lf_mix)m), &back), 0);
        assert_int_equal(back, m);
    }
    lf_mix m;
    assert_int_equal(lf_mix_parse("q4_k_m", &m), 0);
    assert_int_equal(m, LF_MIX_Q4_K_M);
    assert_int_equal(lf_mix_parse("Q4_K", &m), 0);
    assert_int_equal(m, LF_MIX_Q4_K_M);
    assert_int_equal(lf_mix_parse("Q9_K", &m), LF_EINVAL);
    assert_string_equal(lf_mix_name((lf_mix)99), "unknown");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_to_float_all),
        cmocka_unit_test(test_float_to_half),
        cmocka_unit_test(test_bf16_all),
        cmocka_unit_test(test_traits),
        cmocka_unit_test(test_roundtrip_random),
        cmocka_unit_test(test_roundtrip_edge_cases),
        cmocka_unit_test(test_requantize_stable),
        cmocka_unit_test(test_activation_formats),
        cmocka_unit_test(test_kquant_files),
        cmocka_unit_test(test_stories_files),
        cmocka_unit_test(test_mix_matches_llama_files),
        cmocka_unit_test(test_mix_q4_k_m_rules),
        cmocka_unit_test(test_mix_fallbacks),
        cmocka_unit_test(test_mix_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
