/*
 * ISA dispatch: the one piece of global mutable state in localfit. A kernel
 * set (internal.h) is a table of function pointers per type — vec_dot, the
 * multi-row matrix-vector kernel, activation quantizers, the packed GEMM
 * tile and the float kernels of the ops. The scalar set is a compile-time
 * constant; a SIMD set starts as a copy of it and the kernels/arch/ fill
 * functions override what they implement, so every entry always points at
 * something correct. lf_kernels_init writes the active set before any worker
 * thread exists; afterwards it is only read, so readers need no
 * synchronisation.
 */
#include "kernels/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scalar multi-row kernels: one reference dot per row ------------- */
#define LF_MV_REF_(t, T, bs, blk, VT, q, dot, act, kv)                        \
    LF_IF(dot, static void mv_##t##_ref(int n, float *s, const void *x, size_t bx, \
                                        const void *y, int nr) {              \
        for (int r = 0; r < nr; r++)                                          \
            lf_vec_dot_##t##_ref(n, s + r, (const char *)x + (size_t)r * bx, y); \
    })
LF_TYPE_LIST(LF_MV_REF_)
#undef LF_MV_REF_

/* ---- scalar float kernels of the ops ---------------------------------- */
static float kv_dot_f32_ref(const void *k, const float *q, int n) {
    const float *a = k;
    float s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * q[i];
    return s;
}

static float kv_dot_f16_ref(const void *k, const float *q, int n) {
    const lf_half *a = k;
    float s = 0;
    for (int i = 0; i < n; i++)
        s += lf_half_to_float(a[i]) * q[i];
    return s;
}

static float kv_dot_q8_0_ref(const void *k, const float *q, int n) {
    const lf_block_q8_0 *b = k;
    float s = 0;
    for (int i = 0; i < n / LF_QK8_0; i++) {
        float bs = 0;
        for (int j = 0; j < LF_QK8_0; j++)
            bs += b[i].qs[j] * q[i * LF_QK8_0 + j];
        s += bs * lf_half_to_float(b[i].d);
    }
    return s;
}

static void kv_axpy_f32_ref(float *y, const void *v, float a, int n) {
    const float *x = v;
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void kv_axpy_f16_ref(float *y, const void *v, float a, int n) {
    const lf_half *x = v;
    for (int i = 0; i < n; i++)
        y[i] += a * lf_half_to_float(x[i]);
}

static void kv_axpy_q8_0_ref(float *y, const void *v, float a, int n) {
    const lf_block_q8_0 *b = v;
    for (int i = 0; i < n / LF_QK8_0; i++) {
        float ad = a * lf_half_to_float(b[i].d);
        for (int j = 0; j < LF_QK8_0; j++)
            y[i * LF_QK8_0 + j] += ad * b[i].qs[j];
    }
}

static float dot_f32_ref(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

static float sumsq_f32_ref(const float *a, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * a[i];
    return (float)s;
}

/* The scalar set, spelled as an initializer so the active set is valid even
 * before lf_kernels_init runs; its per-type entries come from the columns
 * of LF_TYPE_LIST (dot: vec_dot and mv, act: quantize_row, kv: kv_dot and
 * kv_axpy). */
#define LF_REF_DOT_(t, T, bs, blk, VT, q, dot, act, kv) \
    LF_IF(dot, [LF_TYPE_##T] = lf_vec_dot_##t##_ref,)
#define LF_REF_MV_(t, T, bs, blk, VT, q, dot, act, kv) LF_IF(dot, [LF_TYPE_##T] = mv_##t##_ref,)
#define LF_REF_QROW_(t, T, bs, blk, VT, q, dot, act, kv) \
    LF_IF(act, [LF_TYPE_##T] = lf_quantize_row_##t##_ref,)
#define LF_REF_KV_DOT_(t, T, bs, blk, VT, q, dot, act, kv) LF_IF(kv, [LF_TYPE_##T] = kv_dot_##t##_ref,)
#define LF_REF_KV_AXPY_(t, T, bs, blk, VT, q, dot, act, kv) \
    LF_IF(kv, [LF_TYPE_##T] = kv_axpy_##t##_ref,)

#define LF_SCALAR_SET_INIT                                                    \
    {                                                                         \
        .level = LF_ISA_SCALAR,                                               \
        .name = "scalar",                                                     \
        .vec_dot = {LF_TYPE_LIST(LF_REF_DOT_)},                               \
        .mv = {LF_TYPE_LIST(LF_REF_MV_)},                                     \
        .quantize_row = {LF_TYPE_LIST(LF_REF_QROW_)},                         \
        .gemm_tile = NULL,                                                    \
        .kv_dot = {LF_TYPE_LIST(LF_REF_KV_DOT_)},                             \
        .kv_axpy = {LF_TYPE_LIST(LF_REF_KV_AXPY_)},                           \
        .dot_f32 = dot_f32_ref,                                               \
        .sumsq_f32 = sumsq_f32_ref,                                           \
    }

static const lf_kernel_set scalar_set = LF_SCALAR_SET_INIT;
static lf_kernel_set active_set = LF_SCALAR_SET_INIT;

int lf_kernel_set_build(lf_kernel_set *ks, lf_isa_level level, unsigned flags,
                        lf_error *err) {
    lf_isa isa;
    lf_isa_detect(&isa);
    if (!lf_isa_supported(&isa, level))
        return lf_error_set(err, LF_EUNSUPP, "ISA %s cannot run on this CPU or build",
                            lf_isa_level_name(level));
    *ks = scalar_set;
    ks->level = level;
    ks->flags = flags;
    lf_strlcpy(ks->name, lf_isa_level_name(level), sizeof ks->name);
    switch (level) {
#if defined(__x86_64__)
    case LF_ISA_AVX2: {
        bool avxvnni = isa.avxvnni && !(flags & LF_KS_NO_VNNI);
        lf_kernels_fill_avx2(ks);
        lf_kernels_fill_gemm_avx2(ks, avxvnni);
        lf_kernels_fill_ops_avx2(ks);
        lf_kernels_fill_il_avx2(ks, avxvnni);
        lf_kernels_fill_mxfp4_avx2(ks);
        if (avxvnni)
            lf_strlcpy(ks->name, "avx2+avxvnni", sizeof ks->name);
        break;
    }
    case LF_ISA_AVX512: {
        bool vnni = isa.avx512vnni && !(flags & LF_KS_NO_VNNI);
        bool bf16 = isa.avx512bf16;
        lf_kernels_fill_avx2(ks);
        lf_kernels_fill_avx512(ks, vnni, bf16);
        lf_kernels_fill_il_kquants_avx512(ks, vnni);
        lf_kernels_fill_il_avx512(ks, vnni);
        /* softmax and RoPE in 8 lanes; the AVX-512 tile and SwiGLU replace the rest */
        lf_kernels_fill_ops_avx2(ks);
        lf_kernels_fill_attn_avx512(ks);
        lf_kernels_fill_gemm_f_prep_avx2(ks);   /* float panels and activation slices */
        lf_kernels_fill_mxfp4_avx512(ks, vnni);
        snprintf(ks->name, sizeof ks->name, "avx512%s%s", vnni ? "+vnni" : "",
                 bf16 ? "+bf16" : "");
        break;
    }
#endif
#if defined(__aarch64__)
    case LF_ISA_NEON: {
        bool dp = isa.dotprod && !(flags & LF_KS_NO_DOTPROD);
        lf_kernels_fill_neon(ks);
        lf_kernels_fill_il_neon(ks);
        lf_kernels_fill_ops_neon(ks);
        lf_kernels_fill_attn_neon(ks);
        lf_kernels_fill_gemm_f_neon(ks);
        lf_kernels_fill_mxfp4_neon(ks);
        if (dp) {
            lf_kernels_fill_dotprod(ks);
            lf_kernels_fill_il_dotprod(ks);
            lf_kernels_fill_mxfp4_dotprod(ks);
        }
        /* smmla only beside sdot (every armv8.6 core has both) */
        bool mm = dp && isa.i8mm && !(flags & LF_KS_NO_I8MM);
        if (mm)
            lf_kernels_fill_gemm_i8mm(ks);
        snprintf(ks->name, sizeof ks->name, "neon%s%s", dp ? "+dotprod" : "", mm ? "+i8mm" : "");
        break;
    }
#endif
    default:
        break;
    }
    (void)flags;
    return 0;
}

/* The features LOCALFIT_ISA's modifiers turn off ("avx2-novnni": the AVX2
 * set of a CPU without AVX-VNNI, such as Zen 3, measured on one with it). */
static const struct {
    const char *name;
    unsigned flag;
} isa_modifiers[] = {
    {"novnni", LF_KS_NO_VNNI},
    {"nodotprod", LF_KS_NO_DOTPROD},
    {"noi8mm", LF_KS_NO_I8MM},
};

/* LOCALFIT_ISA as LEVEL[-MODIFIER...] into *level and *flags: 0, or 1
 * when it is unset (*flags 0), LF_EINVAL when it does not parse. */
static int parse_env_isa(lf_isa_level *level, unsigned *flags, lf_error *err) {
    const char *env = getenv("LOCALFIT_ISA");
    *flags = 0;
    if (!env || !*env)
        return 1;
    char buf[64];
    if (strlen(env) >= sizeof buf)
        return lf_error_set(err, LF_EINVAL, "LOCALFIT_ISA=%s: too long", env);
    lf_strlcpy(buf, env, sizeof buf);
    char *save = NULL;
    const char *tok = strtok_r(buf, "-", &save);
    if (!tok || lf_isa_level_parse(tok, level) < 0)
        return lf_error_set(err, LF_EINVAL,
                            "LOCALFIT_ISA=%s: unknown ISA (scalar, avx2, avx512, neon, each optionally "
                            "followed by -novnni, -nodotprod or -noi8mm)",
                            env);
    while ((tok = strtok_r(NULL, "-", &save)) != NULL) {
        size_t i = 0;
        while (i < sizeof isa_modifiers / sizeof isa_modifiers[0] && strcmp(tok, isa_modifiers[i].name))
            i++;
        if (i == sizeof isa_modifiers / sizeof isa_modifiers[0])
            return lf_error_set(err, LF_EINVAL,
                                "LOCALFIT_ISA=%s: unknown modifier '%s' (novnni, nodotprod, noi8mm)", env, tok);
        *flags |= isa_modifiers[i].flag;
    }
    return 0;
}

int lf_kernels_init(lf_isa_level level, lf_error *err) {
    lf_isa isa;
    lf_isa_detect(&isa);
    /* the modifiers hold for every level a process switches to (an isa
     * axis), the level only when none is asked for */
    lf_isa_level env_level = LF_ISA_SCALAR;
    unsigned flags = 0;
    int rc = parse_env_isa(&env_level, &flags, err);
    if (rc < 0)
        return rc;
    if (level == LF_ISA_AUTO_LEVEL)
        level = rc == 0 ? env_level : lf_isa_best(&isa);
    lf_kernel_set ks;
    if ((rc = lf_kernel_set_build(&ks, level, flags, err)) < 0)
        return rc;
    active_set = ks;
    return 0;
}

lf_isa_level lf_kernels_isa(void) { return active_set.level; }

const char *lf_kernels_name(void) { return active_set.name; }

void lf_kernels_features(lf_isa *out) {
    lf_isa_detect(out);
    lf_isa_cap(out, active_set.level);
    if (active_set.flags & LF_KS_NO_VNNI)
        out->avxvnni = out->avx512vnni = false;
    if (active_set.flags & LF_KS_NO_DOTPROD)
        out->dotprod = false;
    if (active_set.flags & LF_KS_NO_I8MM)
        out->i8mm = false;
}

const lf_kernel_set *lf_kernel_set_active(void) { return &active_set; }

void lf_kernel_set_activate(const lf_kernel_set *ks) { active_set = *ks; }

lf_vec_dot_fn lf_vec_dot_get(lf_type t) {
    if ((unsigned)t >= LF_TYPE_COUNT)
        return NULL;
    return active_set.vec_dot[t];
}

lf_from_float_fn lf_quantize_row_get(lf_type t) {
    if ((unsigned)t >= LF_TYPE_COUNT)
        return NULL;
    if (active_set.quantize_row[t])
        return active_set.quantize_row[t];
    return lf_type_traits_get(t)->from_float;   /* weight formats: reference */
}
