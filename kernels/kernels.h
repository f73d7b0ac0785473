/*
 * kernels — the GGML-compatible tensor formats (one per-type table), their
 * quantizers, and the compute kernels (quantized matrix-vector and
 * matrix-matrix products, weight layouts, norms, RoPE, attention) with a
 * thread pool: everything the transformer forward pass (model/model.h) is
 * built from. Depends on libc, libm and threads only; the GGUF file format
 * that carries these types is gguf/gguf.h, one layer up.
 *
 * Dispatch: lf_kernels_init() picks the best ISA once at start (or the one
 * LOCALFIT_ISA / the caller names); it is the only global mutable state in
 * localfit and is written before any other thread exists.
 *
 * Usage (w from lf_mat_from_tensor in gguf/gguf.h, or built by hand):
 *     lf_kernels_init(LF_ISA_AUTO_LEVEL, NULL);
 *     lf_pool *pool = lf_pool_create(4, true);
 *     void *work = malloc(lf_matmul_work_size(&w, 1));
 *     lf_matmul(pool, &w, x, 1, y, work);          // y[rows] = W · x[cols]
 */
#ifndef LF_KERNELS_H
#define LF_KERNELS_H

#include "common/common.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ======================================================================
 * Tensor types — numbering identical to GGML's ggml_type so GGUF files
 * carry them unchanged. Gaps are types GGML removed or we do not support;
 * they still have an id so a file naming one gets "unsupported type N".
 * ==================================================================== */
typedef enum lf_type {
    LF_TYPE_F32 = 0,
    LF_TYPE_F16 = 1,
    LF_TYPE_Q4_0 = 2,
    LF_TYPE_Q4_1 = 3,
    LF_TYPE_Q5_0 = 6,
    LF_TYPE_Q5_1 = 7,
    LF_TYPE_Q8_0 = 8,
    LF_TYPE_Q8_1 = 9,
    LF_TYPE_Q2_K = 10,
    LF_TYPE_Q3_K = 11,
    LF_TYPE_Q4_K = 12,
    LF_TYPE_Q5_K = 13,
    LF_TYPE_Q6_K = 14,
    LF_TYPE_Q8_K = 15,
    LF_TYPE_IQ2_XXS = 16,
    LF_TYPE_IQ2_XS = 17,
    LF_TYPE_IQ3_XXS = 18,
    LF_TYPE_IQ1_S = 19,
    LF_TYPE_IQ4_NL = 20,
    LF_TYPE_IQ3_S = 21,
    LF_TYPE_IQ2_S = 22,
    LF_TYPE_IQ4_XS = 23,
    LF_TYPE_I8 = 24,
    LF_TYPE_I16 = 25,
    LF_TYPE_I32 = 26,
    LF_TYPE_I64 = 27,
    LF_TYPE_F64 = 28,
    LF_TYPE_IQ1_M = 29,
    LF_TYPE_BF16 = 30,
    LF_TYPE_TQ1_0 = 34,
    LF_TYPE_TQ2_0 = 35,
    LF_TYPE_MXFP4 = 39,   /* OCP microscaling FP4 (gpt-oss experts) */
    LF_TYPE_COUNT = 40
} lf_type;

/* ---- block layouts (GGML format specification) ----------------------- */
typedef uint16_t lf_half;   /* IEEE 754 binary16 bits */
typedef uint16_t lf_bf16;   /* bfloat16 bits */

#define LF_QK4_0 32
typedef struct { lf_half d; uint8_t qs[LF_QK4_0 / 2]; } lf_block_q4_0;
static_assert(sizeof(lf_block_q4_0) == 18, "q4_0 block size");

#define LF_QK4_1 32
typedef struct { lf_half d, m; uint8_t qs[LF_QK4_1 / 2]; } lf_block_q4_1;
static_assert(sizeof(lf_block_q4_1) == 20, "q4_1 block size");

#define LF_QK5_0 32
typedef struct { lf_half d; uint8_t qh[4]; uint8_t qs[LF_QK5_0 / 2]; } lf_block_q5_0;
static_assert(sizeof(lf_block_q5_0) == 22, "q5_0 block size");

#define LF_QK5_1 32
typedef struct { lf_half d, m; uint8_t qh[4]; uint8_t qs[LF_QK5_1 / 2]; } lf_block_q5_1;
static_assert(sizeof(lf_block_q5_1) == 24, "q5_1 block size");

#define LF_QK8_0 32
typedef struct { lf_half d; int8_t qs[LF_QK8_0]; } lf_block_q8_0;
static_assert(sizeof(lf_block_q8_0) == 34, "q8_0 block size");

#define LF_QK8_1 32
/* s = d * sum(qs), precomputed for the Q4_1/Q5_1 dot products. */
typedef struct { lf_half d, s; int8_t qs[LF_QK8_1]; } lf_block_q8_1;
static_assert(sizeof(lf_block_q8_1) == 36, "q8_1 block size");

#define LF_QK_K 256
#define LF_K_SCALE_SIZE 12

typedef struct {
    uint8_t scales[LF_QK_K / 16];   /* 4-bit scale | 4-bit min per 16 weights */
    uint8_t qs[LF_QK_K / 4];        /* 2-bit quants */
    lf_half d, dmin;
} lf_block_q2_K;
static_assert(sizeof(lf_block_q2_K) == 84, "q2_K block size");

typedef struct {
    uint8_t hmask[LF_QK_K / 8];     /* high bit of each quant */
    uint8_t qs[LF_QK_K / 4];        /* low 2 bits */
    uint8_t scales[12];             /* 16 6-bit scales */
    lf_half d;
} lf_block_q3_K;
static_assert(sizeof(lf_block_q3_K) == 110, "q3_K block size");

typedef struct {
    lf_half d, dmin;
    uint8_t scales[LF_K_SCALE_SIZE]; /* 8 6-bit scales and 8 6-bit mins */
    uint8_t qs[LF_QK_K / 2];
} lf_block_q4_K;
static_assert(sizeof(lf_block_q4_K) == 144, "q4_K block size");

typedef struct {
    lf_half d, dmin;
    uint8_t scales[LF_K_SCALE_SIZE];
    uint8_t qh[LF_QK_K / 8];
    uint8_t qs[LF_QK_K / 2];
} lf_block_q5_K;
static_assert(sizeof(lf_block_q5_K) == 176, "q5_K block size");

typedef struct {
    uint8_t ql[LF_QK_K / 2];        /* low 4 bits */
    uint8_t qh[LF_QK_K / 4];        /* high 2 bits */
    int8_t scales[LF_QK_K / 16];    /* 8-bit scales */
    lf_half d;
} lf_block_q6_K;
static_assert(sizeof(lf_block_q6_K) == 210, "q6_K block size");

/* Activation format for the K-quant dots; bsums = sums of groups of 16. */
typedef struct {
    float d;
    int8_t qs[LF_QK_K];
    int16_t bsums[LF_QK_K / 16];
} lf_block_q8_K;
static_assert(sizeof(lf_block_q8_K) == 292, "q8_K block size");

#define LF_QK4_NL 32
typedef struct { lf_half d; uint8_t qs[LF_QK4_NL / 2]; } lf_block_iq4_nl;
static_assert(sizeof(lf_block_iq4_nl) == 18, "iq4_nl block size");

typedef struct {
    lf_half d;
    uint16_t scales_h;
    uint8_t scales_l[LF_QK_K / 64];
    uint8_t qs[LF_QK_K / 2];
} lf_block_iq4_xs;
static_assert(sizeof(lf_block_iq4_xs) == 136, "iq4_xs block size");

/* The 16 non-linear levels shared by IQ4_NL and IQ4_XS. */
extern const int8_t lf_iq4nl_values[16];

/* MXFP4 (GGML type 39, the OCP Microscaling format): blocks of 32 FP4
 * E2M1 values sharing one E8M0 scale. The element code (sign bit 3,
 * exponent bits 2..1, mantissa bit 0) is stored as a nibble, element j in
 * the low nibble of qs[j] and element j + 16 in the high one, as Q4_0
 * lays them out. lf_mxfp4_values holds twice each code's E2M1 value
 * (0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives, as integers), so the
 * value is lf_mxfp4_values[code] · 2^(e − 128): E8M0's 2^(e − 127), halved. */
#define LF_QK_MXFP4 32
typedef struct { uint8_t e; uint8_t qs[LF_QK_MXFP4 / 2]; } lf_block_mxfp4;
static_assert(sizeof(lf_block_mxfp4) == 17, "mxfp4 block size");
extern const int8_t lf_mxfp4_values[16];
/* 2^(e − 128), exact for every e (2^-128 is a float subnormal). Inline:
 * the SIMD kernels take it once per block. */
static inline float lf_e8m0_half_to_float(uint8_t e) {
    /* the bit pattern of 2^(e − 128): a normal float for e >= 2 (biased
     * exponent e − 1), the subnormals 2^-128 and 2^-127 below */
    union { uint32_t u; float f; } v = {.u = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23};
    return v.f;
}

/* ---- half / bfloat16 conversion (exact, scalar) ------------------------ */
float lf_half_to_float(lf_half h);
lf_half lf_float_to_half(float f);        /* round to nearest even */
float lf_bf16_to_float(lf_bf16 h);
lf_bf16 lf_float_to_bf16(float f);        /* round to nearest even */

/* ======================================================================
 * Type traits: one entry per type, generated with the scalar kernel set
 * from one list (LF_TYPE_LIST, kernels/internal.h), no switches over types
 * elsewhere. Entries with block_size == 0 are unsupported.
 * ==================================================================== */
/* Dot product of n elements: x a row in the weight type, y in
 * vec_dot_type; *s receives the float result. n is a multiple of the
 * block size. */
typedef void (*lf_vec_dot_fn)(int n, float *s, const void *x, const void *y);
typedef void (*lf_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*lf_from_float_fn)(const float *src, void *dst, int64_t n);

typedef struct lf_type_traits {
    const char *name;          /* "q4_K", as GGML prints it */
    int block_size;            /* elements per block; 0 = unsupported */
    size_t type_size;          /* bytes per block */
    bool is_quantized;
    lf_to_float_fn to_float;   /* exact dequantization (scalar reference) */
    lf_from_float_fn from_float; /* reference quantizer, n % block_size == 0 */
    lf_type vec_dot_type;      /* activation format the dot expects */
    lf_vec_dot_fn vec_dot;     /* scalar reference dot */
} lf_type_traits;

/* Traits of t (the scalar reference table); never NULL — unsupported and
 * out-of-range types get an entry with block_size 0 and name "unknown". */
const lf_type_traits *lf_type_traits_get(lf_type t);
const char *lf_type_name(lf_type t);
/* Parses "q4_0", "Q4_0", "f16", "bf16", "q4_K", "iq4_xs" …; LF_EINVAL if
 * unknown. Named mixes ("Q4_K_M") are lf_mix_parse's. */
int lf_type_parse(const char *name, lf_type *out);
bool lf_type_supported(lf_type t);
/* The types a weight may be stored in: supported and read by a dot
 * product. False for the activation-only formats (q8_1, q8_K), which every
 * kernel set lacks vec_dot / mv for. */
bool lf_type_is_weight(lf_type t);
/* The float types (f32, f16, bf16): supported and not a block format. The
 * one test for "float weights" (packed float GEMM, float roofs, float
 * mixes); false for unsupported and out-of-range types. */
bool lf_type_is_float(lf_type t);
/* The KV-cache types (f32, f16, q8_0): those every kernel set has kv_dot /
 * kv_axpy for, so lf_ctx_new accepts them. lf_kv_type_parse is
 * lf_type_parse restricted to them: LF_EINVAL for any other name, *out
 * untouched. */
bool lf_kv_type_supported(lf_type t);
int lf_kv_type_parse(const char *name, lf_type *out);
/* Bytes of a row of n elements; 0 if n is not a multiple of the block. */
size_t lf_row_size(lf_type t, int64_t n);
double lf_type_bpw(lf_type t);             /* bits per weight */

/* ---- named quantization mixes (llama.cpp's ftype names) -------------- */
typedef enum lf_mix {
    LF_MIX_F32, LF_MIX_F16, LF_MIX_BF16, LF_MIX_Q8_0,
    LF_MIX_Q4_0, LF_MIX_Q4_1, LF_MIX_Q5_0, LF_MIX_Q5_1,
    LF_MIX_Q2_K, LF_MIX_Q3_K_S, LF_MIX_Q3_K_M, LF_MIX_Q3_K_L,
    LF_MIX_Q4_K_S, LF_MIX_Q4_K_M, LF_MIX_Q5_K_S, LF_MIX_Q5_K_M, LF_MIX_Q6_K,
    LF_MIX_IQ4_NL, LF_MIX_IQ4_XS,
    LF_MIX_COUNT
} lf_mix;

const char *lf_mix_name(lf_mix m);          /* "Q4_K_M" */
int lf_mix_parse(const char *name, lf_mix *out);  /* case-insensitive */
/* The type a tensor gets under mix m. name is the GGUF tensor name
 * ("blk.3.attn_v.weight"), layer/n_layer its block index and count (-1 for
 * non-block tensors), ncols its row length. Falls back to a type whose
 * block divides ncols (documented in the implementation). */
lf_type lf_mix_tensor_type(lf_mix m, const char *name, int layer, int n_layer,
                           int64_t ncols);
/* The model facts llama.cpp's rules also look at. Zero-initialised fields
 * mean: dense, no GQA, has its own output.weight. */
typedef struct lf_mix_model {
    int n_layer;
    int n_gqa;            /* n_head / n_head_kv (0 or 1: none) */
    int n_expert;         /* 0 or 1: dense */
    bool tied_output;     /* no output.weight: token_embd is the output */
} lf_mix_model;
/* lf_mix_tensor_type with those facts (model may be NULL = defaults;
 * model->n_layer is used, layer as above). */
lf_type lf_mix_tensor_type_model(lf_mix m, const lf_mix_model *model,
                                 const char *name, int layer, int64_t ncols);

/* Quantize rows of F32 into t (the reference quantizers; n % block == 0).
 * Returns bytes written (0 if ncols is not a multiple of the block or t is
 * unsupported). Thread-safe. */
size_t lf_quantize(lf_type t, const float *src, void *dst, int64_t nrows,
                   int64_t ncols);
/* Dequantize nrows × ncols of type t into dst (F32); does nothing if ncols
 * is not a multiple of the block. */
void lf_dequantize(lf_type t, const void *src, float *dst, int64_t nrows,
                   int64_t ncols);

/* ======================================================================
 * Compute
 * ==================================================================== */

/* ---- dispatch (the one global, set once) ----------------------------- */
#define LF_ISA_AUTO_LEVEL ((lf_isa_level)-1)
/* Chooses the kernel set: level LF_ISA_AUTO_LEVEL means LOCALFIT_ISA if set,
 * else the best the CPU supports. Fails with LF_EUNSUPP if the requested
 * level cannot run here. Call before creating threads; calling again
 * switches the set (benchmarks compare ISAs that way, single-threaded).
 * LOCALFIT_ISA is a level name, optionally followed by features the sets
 * must leave out, whatever level they are: "avx2-novnni" is the AVX2 set
 * of a CPU without AVX-VNNI (Zen 3, Intel before Alder Lake) on one that
 * has it; also -nodotprod and -noi8mm on arm64. LF_EINVAL for an unknown
 * name or modifier. */
int lf_kernels_init(lf_isa_level level, lf_error *err);
lf_isa_level lf_kernels_isa(void);
/* The active set's name: the level and the extensions it uses
 * ("avx2+avxvnni", "avx512+vnni+bf16", "neon+dotprod"). */
const char *lf_kernels_name(void);
/* The CPU features the active set uses: lf_isa_detect less what its level
 * and modifiers leave out, for the measurements a result is held to (the
 * compute probe). */
void lf_kernels_features(lf_isa *out);

/* The dispatched dot for t (SIMD when available, else the reference). */
lf_vec_dot_fn lf_vec_dot_get(lf_type t);
/* The dispatched activation quantizer into t (Q8_0, Q8_1, Q8_K). */
lf_from_float_fn lf_quantize_row_get(lf_type t);

/* ---- thread pool ------------------------------------------------------
 * A fixed set of workers that spin briefly then sleep between jobs. One
 * job at a time; lf_pool_run returns when every share has finished. */
typedef struct lf_pool lf_pool;
/* fn is called once for each ith in [0, nth): the caller runs ith 0, and
 * also any worker's share that worker has not started by the time the
 * caller's own is done, so fn may hold per-ith state (scratch, a slice of
 * the work) but not rely on which thread runs it. */
typedef void (*lf_pool_fn)(void *arg, int ith, int nth);

/* nthreads >= 1 (the caller counts as one); pin = bind worker i to the i-th
 * CPU of the caller's affinity mask (the caller itself is not bound, so
 * pools can coexist). NULL on failure. */
lf_pool *lf_pool_create(int nthreads, bool pin);
/* Joins the workers; pool may be NULL. Not while a job runs. */
void lf_pool_free(lf_pool *pool);
int lf_pool_size(const lf_pool *pool);    /* 1 for NULL */
/* Runs fn for every ith (the caller as ith 0) and returns when all are
 * done. pool NULL: fn(arg, 0, 1). One caller at a time. */
void lf_pool_run(lf_pool *pool, lf_pool_fn fn, void *arg);
/* Splits [0, n) into nth near-equal parts: thread ith gets [*lo, *hi). */
void lf_split_range(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi);
/* Work split for jobs whose threads may start or run late (a machine
 * shared with other work): units [0, total) are split like lf_split_range,
 * each share ith takes its own part from the front, min_units at a time
 * (one sequential stream, as with a fixed split), and a share whose part
 * is done takes half of what is left of the fullest other part, from its
 * back. So a delayed thread's work is done by the others, which wait
 * for it only to finish the chunk it has under way. Each unit is handed
 * out exactly once. lf_steal_init before the job (not
 * thread-safe); lf_steal_next from the job's threads (thread-safe): the
 * next units [*lo, *hi) for share ith, false when none are left. Shares
 * beyond LF_STEAL_MAX share parts. total < 2^31. */
#define LF_STEAL_MAX 32
typedef struct lf_steal {
    int parts;
    int64_t min_units;
    struct {
        _Alignas(64) _Atomic uint64_t r;   /* lo | hi << 32 */
    } part[LF_STEAL_MAX];
} lf_steal;
void lf_steal_init(lf_steal *s, int64_t total, int nth, int64_t min_units);
bool lf_steal_next(lf_steal *s, int ith, int64_t *lo, int64_t *hi);

/* ---- matrices ----------------------------------------------------------- */
/* A weight matrix of rows × cols in `type`, rows stored contiguously with
 * row_bytes = lf_row_size(type, cols). */
typedef struct lf_mat {
    lf_type type;
    int64_t rows, cols;
    size_t row_bytes;
    const void *data;
    /* Rows rewritten in groups of 4 into the decode kernels' layout
     * (lf_mat_interleave); row r's bytes are then not at data + r·row_bytes. */
    bool interleaved;
} lf_mat;

/* Interleaving (kernels/interleave.c): whether w can be rewritten for the
 * active kernels (a layout and a kernel exist for its type, rows % 4 == 0,
 * not yet interleaved). lf_mat_interleave rewrites it in place — data must
 * be w->data, writable — and sets w->interleaved; the size is unchanged.
 * LF_EINVAL when it cannot (message says why), LF_ENOMEM. Interleave once
 * per matrix, before the kernels are switched (lf_kernels_init) never after:
 * the layout belongs to the kernel set that was active. */
bool lf_mat_can_interleave(const lf_mat *w);
int lf_mat_interleave(lf_mat *w, void *data, lf_error *err);
/* Rows [r0, r0 + n) of w in the stored (GGUF) layout into out (n·row_bytes
 * bytes); for an interleaved w, r0 and n must be multiples of 4. */
void lf_mat_rows_stored(const lf_mat *w, int64_t r0, int64_t n, void *out);
/* Rows [r0, r0 + n) of w as floats (n·cols), either layout. LF_ENOMEM. */
int lf_mat_rows_to_float(const lf_mat *w, int64_t r0, int64_t n, float *out);

/* Scratch bytes lf_matmul needs for n activation rows (the activations
 * quantized to the weight type's vec_dot_type). */
size_t lf_matmul_work_size(const lf_mat *w, int64_t n);
/* y (n × w->rows, row-major) = x (n × w->cols, row-major) · Wᵀ.
 * n == 1 is the decoding matrix-vector product; larger n is blocked for
 * prompt processing. work: lf_matmul_work_size bytes, 64-byte aligned.
 * pool may be NULL (single-threaded). */
void lf_matmul(lf_pool *pool, const lf_mat *w, const float *x, int64_t n,
               float *y, void *work);
/* Scalar reference of the same product (dequantize + F32 dot, double
 * accumulation) for tests; w in the stored layout (not interleaved). */
void lf_matmul_ref(const lf_mat *w, const float *x, int64_t n, float *y);

/* ---- elementwise and normalisation ops (scalar + SIMD) ---------------- */
void lf_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);
void lf_layernorm(float *out, const float *x, const float *w, const float *b,
                  int64_t n, float eps);
void lf_softmax(float *x, int64_t n);                 /* in place */
void lf_silu(float *x, int64_t n);                    /* in place */
void lf_gelu(float *x, int64_t n);                    /* tanh approximation */
void lf_swiglu(float *gate, const float *up, int64_t n); /* gate = silu(gate)*up */
void lf_add(float *y, const float *x, int64_t n);     /* y += x */
void lf_mul(float *y, const float *x, int64_t n);     /* y *= x */
void lf_scale(float *y, float s, int64_t n);          /* y *= s */
float lf_dot_f32(const float *a, const float *b, int64_t n);

/* RoPE over n_heads heads of head_dim at position pos, rotating the first
 * n_rot dims. neox: pairs (i, i + n_rot/2) instead of (2i, 2i+1).
 * freq_scale multiplies positions (linear scaling); freq_factors (n_rot/2,
 * may be NULL) divide the per-pair frequencies (Llama-3.1 rope scaling). */
typedef struct lf_rope_params {
    int n_rot;
    float base;
    float freq_scale;
    const float *freq_factors;
    bool neox;
} lf_rope_params;
void lf_rope(float *x, int n_heads, int head_dim, int64_t pos,
             const lf_rope_params *p);
/* The same in two steps, so that a batch's angles are computed once for
 * all layers: cs[2i], cs[2i+1] = cos, sin of pair i at pos (n_rot floats),
 * then the rotation by them (bit-identical to lf_rope). */
void lf_rope_table(float *cs, int64_t pos, const lf_rope_params *p);
void lf_rope_apply(float *x, int n_heads, int head_dim, const float *cs,
                   const lf_rope_params *p);

/* ---- attention over a KV cache --------------------------------------
 * One query head against n_kv cached positions. K and V rows for this KV
 * head are kv_type (F32, F16 or Q8_0) with the given strides in bytes
 * between consecutive positions. att: scratch of n_kv floats. */
void lf_attention_head(float *out, const float *q, const void *k, size_t k_stride,
                       const void *v, size_t v_stride, lf_type kv_type,
                       int64_t n_kv, int head_dim, float scale, float *att);
/* Store one row of head_dim floats into the cache in kv_type. */
void lf_kv_store(void *dst, const float *src, lf_type kv_type, int head_dim);

#endif /* LF_KERNELS_H */
