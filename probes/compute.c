/*
 * Measured compute peaks: FP32 fused multiply-add and int8 dot products,
 * the compute roof for prompt processing. Each kernel keeps enough
 * independent accumulators in registers to cover the instruction latency
 * times the number of pipes (16 for AVX-512 and NEON, 12 for 256-bit), so
 * the measured rate is the issue rate, not a dependency chain. Every
 * multiply-add counts 2 operations. Per core is one pinned thread; "all" is
 * all requested threads together, each pinned to its own CPU.
 *
 * int8 picks the best instruction present: AVX-512 VNNI vpdpbusd, AVX-VNNI,
 * AVX2 vpmaddubsw + vpmaddwd, on arm64 SDOT, else widening NEON multiplies.
 */
#include "probes/internal.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#define MAX_THREADS 1024

typedef double (*kernel_fn)(uint64_t iters, float *sink);   /* returns ops done */

/* ---- FP32 --------------------------------------------------------------- */

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static double fp32_avx512(uint64_t iters, float *sink) {
    /* acc = acc * x + y converges to 1: no overflow, no denormals. */
    const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(0.001f);
    /* Distinct starting values: identical chains would be merged into one
     * by the compiler's value numbering, measuring latency, not throughput. */
#define A(k) _mm512_set1_ps(0.5f + 0.01f * (k))
    __m512 a0 = A(0), a1 = A(1), a2 = A(2), a3 = A(3), a4 = A(4), a5 = A(5), a6 = A(6), a7 = A(7);
    __m512 a8 = A(8), a9 = A(9), a10 = A(10), a11 = A(11), a12 = A(12), a13 = A(13), a14 = A(14),
           a15 = A(15);
#undef A
    for (uint64_t i = 0; i < iters; i++) {
        a0 = _mm512_fmadd_ps(a0, x, y), a1 = _mm512_fmadd_ps(a1, x, y);
        a2 = _mm512_fmadd_ps(a2, x, y), a3 = _mm512_fmadd_ps(a3, x, y);
        a4 = _mm512_fmadd_ps(a4, x, y), a5 = _mm512_fmadd_ps(a5, x, y);
        a6 = _mm512_fmadd_ps(a6, x, y), a7 = _mm512_fmadd_ps(a7, x, y);
        a8 = _mm512_fmadd_ps(a8, x, y), a9 = _mm512_fmadd_ps(a9, x, y);
        a10 = _mm512_fmadd_ps(a10, x, y), a11 = _mm512_fmadd_ps(a11, x, y);
        a12 = _mm512_fmadd_ps(a12, x, y), a13 = _mm512_fmadd_ps(a13, x, y);
        a14 = _mm512_fmadd_ps(a14, x, y), a15 = _mm512_fmadd_ps(a15, x, y);
    }
    a0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                       _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    a8 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)),
                       _mm512_add_ps(_mm512_add_ps(a12, a13), _mm512_add_ps(a14, a15)));
    *sink += _mm512_reduce_add_ps(_mm512_add_ps(a0, a8));
    return (double)iters * 16 * 16 * 2;
}

__attribute__((target("avx2,fma"))) static double fp32_avx2(uint64_t iters, float *sink) {
    const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(0.001f);
#define A(k) _mm256_set1_ps(0.5f + 0.01f * (k))
    __m256 a0 = A(0), a1 = A(1), a2 = A(2), a3 = A(3), a4 = A(4), a5 = A(5), a6 = A(6), a7 = A(7);
    __m256 a8 = A(8), a9 = A(9), a10 = A(10), a11 = A(11);
#undef A
    for (uint64_t i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(a0, x, y), a1 = _mm256_fmadd_ps(a1, x, y);
        a2 = _mm256_fmadd_ps(a2, x, y), a3 = _mm256_fmadd_ps(a3, x, y);
        a4 = _mm256_fmadd_ps(a4, x, y), a5 = _mm256_fmadd_ps(a5, x, y);
        a6 = _mm256_fmadd_ps(a6, x, y), a7 = _mm256_fmadd_ps(a7, x, y);
        a8 = _mm256_fmadd_ps(a8, x, y), a9 = _mm256_fmadd_ps(a9, x, y);
        a10 = _mm256_fmadd_ps(a10, x, y), a11 = _mm256_fmadd_ps(a11, x, y);
    }
    a0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                       _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    a0 = _mm256_add_ps(a0, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float t[8];
    _mm256_storeu_ps(t, a0);
    *sink += t[0] + t[7];
    return (double)iters * 12 * 8 * 2;
}

/* ---- int8 ------------------------------------------------------------------ */

__attribute__((target("avx512f,avx512vnni"))) static double int8_avx512vnni(uint64_t iters, float *sink) {
    const __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(-2);
#define A(k) _mm512_set1_epi32(k)
    __m512i a0 = A(0), a1 = A(1), a2 = A(2), a3 = A(3), a4 = A(4), a5 = A(5), a6 = A(6), a7 = A(7);
    __m512i a8 = A(8), a9 = A(9), a10 = A(10), a11 = A(11), a12 = A(12), a13 = A(13), a14 = A(14),
            a15 = A(15);
#undef A
    for (uint64_t i = 0; i < iters; i++) {
        a0 = _mm512_dpbusd_epi32(a0, u, s), a1 = _mm512_dpbusd_epi32(a1, u, s);
        a2 = _mm512_dpbusd_epi32(a2, u, s), a3 = _mm512_dpbusd_epi32(a3, u, s);
        a4 = _mm512_dpbusd_epi32(a4, u, s), a5 = _mm512_dpbusd_epi32(a5, u, s);
        a6 = _mm512_dpbusd_epi32(a6, u, s), a7 = _mm512_dpbusd_epi32(a7, u, s);
        a8 = _mm512_dpbusd_epi32(a8, u, s), a9 = _mm512_dpbusd_epi32(a9, u, s);
        a10 = _mm512_dpbusd_epi32(a10, u, s), a11 = _mm512_dpbusd_epi32(a11, u, s);
        a12 = _mm512_dpbusd_epi32(a12, u, s), a13 = _mm512_dpbusd_epi32(a13, u, s);
        a14 = _mm512_dpbusd_epi32(a14, u, s), a15 = _mm512_dpbusd_epi32(a15, u, s);
    }
    /* Wrapping 32-bit lanes are fine: only the work matters. */
    a0 = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
                          _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
    a8 = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11)),
                          _mm512_add_epi32(_mm512_add_epi32(a12, a13), _mm512_add_epi32(a14, a15)));
    /* Sum as unsigned: the lanes wrap, and the header's reduce would add
     * them as signed int (undefined on overflow). */
    uint32_t lanes[16];
    _mm512_storeu_si512(lanes, _mm512_add_epi32(a0, a8));
    uint32_t sum = 0;
    for (int k = 0; k < 16; k++)
        sum += lanes[k];
    *sink += (float)sum;
    return (double)iters * 16 * 64 * 2;
}

__attribute__((target("avx2,avxvnni"))) static double int8_avxvnni(uint64_t iters, float *sink) {
    const __m256i u = _mm256_set1_epi8(3), s = _mm256_set1_epi8(-2);
#define A(k) _mm256_set1_epi32(k)
    __m256i a0 = A(0), a1 = A(1), a2 = A(2), a3 = A(3), a4 = A(4), a5 = A(5);
    __m256i a6 = A(6), a7 = A(7), a8 = A(8), a9 = A(9), a10 = A(10), a11 = A(11);
#undef A
    for (uint64_t i = 0; i < iters; i++) {
        a0 = _mm256_dpbusd_avx_epi32(a0, u, s), a1 = _mm256_dpbusd_avx_epi32(a1, u, s);
        a2 = _mm256_dpbusd_avx_epi32(a2, u, s), a3 = _mm256_dpbusd_avx_epi32(a3, u, s);
        a4 = _mm256_dpbusd_avx_epi32(a4, u, s), a5 = _mm256_dpbusd_avx_epi32(a5, u, s);
        a6 = _mm256_dpbusd_avx_epi32(a6, u, s), a7 = _mm256_dpbusd_avx_epi32(a7, u, s);
        a8 = _mm256_dpbusd_avx_epi32(a8, u, s), a9 = _mm256_dpbusd_avx_epi32(a9, u, s);
        a10 = _mm256_dpbusd_avx_epi32(a10, u, s), a11 = _mm256_dpbusd_avx_epi32(a11, u, s);
    }
    a0 = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
                          _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7)));
    a0 = _mm256_add_epi32(a0, _mm256_add_epi32(_mm256_add_epi32(a8, a9), _mm256_add_epi32(a10, a11)));
    *sink += (float)_mm256_extract_epi32(a0, 0);
    return (double)iters * 12 * 32 * 2;
}

__attribute__((target("avx2"))) static double int8_avx2(uint64_t iters, float *sink) {
    /* u8 x s8 -> s16 pairs (vpmaddubsw), s16 pairs -> s32 (vpmaddwd), add.
     * Only the add carries a dependency; the opaque asm keeps the compiler
     * from hoisting the loop-invariant multiplies. */
    __m256i u = _mm256_set1_epi8(3);
    const __m256i s0 = _mm256_set1_epi8(-2), s1 = _mm256_set1_epi8(5), s2 = _mm256_set1_epi8(-7),
                  s3 = _mm256_set1_epi8(1), ones = _mm256_set1_epi16(1);
    __m256i a0 = _mm256_set1_epi32(0), a1 = _mm256_set1_epi32(1), a2 = _mm256_set1_epi32(2),
            a3 = _mm256_set1_epi32(3);
    for (uint64_t i = 0; i < iters; i++) {
        __asm__ volatile("" : "+x"(u));
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s0), ones));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s1), ones));
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s2), ones));
        a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s3), ones));
    }
    a0 = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
    *sink += (float)_mm256_extract_epi32(a0, 0);
    return (double)iters * 4 * 32 * 2;
}
#endif

#if defined(__aarch64__)
/* Accumulators as named variables, not an array: an array stays on the
 * stack and the loop would time store-to-load forwarding. */
#define LFP_16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define LFP_8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

static double fp32_neon(uint64_t iters, float *sink) {
    /* fmla accumulates into its destination: a += x*y (tiny, never
     * overflows) keeps one instruction per step. */
    const float32x4_t x = vdupq_n_f32(1e-4f), y = vdupq_n_f32(1e-4f);
    /* distinct starting values, or the compiler merges identical chains */
#define DECL(k) float32x4_t a##k = vdupq_n_f32(0.5f + 0.01f * (k));
    LFP_16(DECL)
#undef DECL
    for (uint64_t i = 0; i < iters; i++) {
#define STEP(k) a##k = vfmaq_f32(a##k, x, y);
        LFP_16(STEP)
#undef STEP
    }
#define SUM(k) t = vaddq_f32(t, a##k);
    float32x4_t t = vdupq_n_f32(0);
    LFP_16(SUM)
#undef SUM
    *sink += vaddvq_f32(t);
    return (double)iters * 16 * 4 * 2;
}

__attribute__((target("arch=armv8.2-a+dotprod"))) static double int8_sdot(uint64_t iters, float *sink) {
    const int8x16_t u = vdupq_n_s8(3), s = vdupq_n_s8(-2);
#define DECL(k) int32x4_t a##k = vdupq_n_s32(k);
    LFP_16(DECL)
#undef DECL
    for (uint64_t i = 0; i < iters; i++) {
#define STEP(k) a##k = vdotq_s32(a##k, u, s);
        LFP_16(STEP)
#undef STEP
    }
    int32x4_t t = vdupq_n_s32(0);
#define SUM(k) t = vaddq_s32(t, a##k);
    LFP_16(SUM)
#undef SUM
    *sink += (float)vaddvq_s32(t);
    return (double)iters * 16 * 16 * 2;
}

static double int8_neon(uint64_t iters, float *sink) {
    int8x8_t u = vdup_n_s8(3);
    const int8x8_t s = vdup_n_s8(-2);
#define DECL(k) int32x4_t a##k = vdupq_n_s32(k);
    LFP_8(DECL)
#undef DECL
    for (uint64_t i = 0; i < iters; i++) {
        /* opaque input, so the loop-invariant product is not hoisted */
        __asm__ volatile("" : "+w"(u));
        int16x8_t p = vmull_s8(u, s);
#define STEP(k) a##k = vpadalq_s16(a##k, p);
        LFP_8(STEP)
#undef STEP
    }
    int32x4_t t = vdupq_n_s32(0);
#define SUM(k) t = vaddq_s32(t, a##k);
    LFP_8(SUM)
#undef SUM
    *sink += (float)vaddvq_s32(t);
    /* one 8-lane multiply feeds 8 accumulations: 8 MACs counted per add */
    return (double)iters * 8 * 8 * 2;
}
#endif

static double fp32_scalar(uint64_t iters, float *sink) {
    float a[8] = {0.50f, 0.51f, 0.52f, 0.53f, 0.54f, 0.55f, 0.56f, 0.57f};
    for (uint64_t i = 0; i < iters; i++)
        for (int k = 0; k < 8; k++)
            a[k] = a[k] * 0.999f + 0.001f;
    *sink += a[0] + a[7];
    return (double)iters * 8 * 2;
}

static double int8_scalar(uint64_t iters, float *sink) {
    uint32_t a[8] = {0};
    int32_t u = 3, s = -2;
    for (uint64_t i = 0; i < iters; i++) {
        /* Opaque input: without it the compiler sums the loop in closed form. */
        __asm__ volatile("" : "+r"(u));
        for (int k = 0; k < 8; k++)
            a[k] += (uint32_t)((u + k) * s);
    }
    *sink += (float)(a[0] + a[7]);
    return (double)iters * 8 * 2;
}

/* ---- running them ----------------------------------------------------------- */

typedef struct cjob {
    kernel_fn fn;
    uint64_t iters;
    double ops[MAX_THREADS];
    float sink[MAX_THREADS][16];
} cjob;

static void cjob_run(void *arg, int tid, int nt) {
    (void)nt;
    cjob *j = arg;
    j->ops[tid] = j->fn(j->iters, &j->sink[tid][0]);
}

/* Ops/s of fn on `active` threads: calibrate to ~target seconds, best of reps. */
static double measure(lfp_team *team, int active, cjob *j, kernel_fn fn, double target, int reps) {
    j->fn = fn;
    j->iters = 1 << 12;
    double t = 0;
    /* Grow until a run is long enough to time reliably, then scale. */
    while ((t = lfp_team_run(team, 1, NULL, cjob_run, j, 1)) < 2e-3 && j->iters < (1ull << 40))
        j->iters *= 4;
    double per_iter = t / (double)j->iters;
    j->iters = (uint64_t)(target / (per_iter > 0 ? per_iter : 1e-9));
    if (j->iters < 1)
        j->iters = 1;
    double best = lfp_team_run(team, active, NULL, cjob_run, j, reps);
    double ops = 0;
    for (int i = 0; i < active; i++)
        ops += j->ops[i];
    return best > 0 ? ops / best : 0;
}

int lf_probe_compute(int nthreads, bool quick, const lf_isa *features, lf_compute *out,
                     lf_error *err) {
    memset(out, 0, sizeof *out);
    double t_start = lf_now_s();
    int cpus[MAX_THREADS];
    int avail = lfp_affinity_cpus(cpus, MAX_THREADS);
    int T = nthreads > 0 ? nthreads : avail;
    if (T > MAX_THREADS)
        T = MAX_THREADS;

    kernel_fn fp32 = fp32_scalar, int8 = int8_scalar;
    const char *fp32_name = "scalar", *int8_name = "scalar";
    lf_isa isa;
    if (features)
        isa = *features;
    else
        lf_isa_detect(&isa);
#if defined(__x86_64__)
    if (isa.avx512f)
        fp32 = fp32_avx512, fp32_name = "avx512 fma";
    else if (isa.avx2 && isa.fma)
        fp32 = fp32_avx2, fp32_name = "avx2 fma";
    if (isa.avx512vnni)
        int8 = int8_avx512vnni, int8_name = "avx512 vnni vpdpbusd";
    else if (isa.avxvnni)
        int8 = int8_avxvnni, int8_name = "avx-vnni vpdpbusd";
    else if (isa.avx2)
        int8 = int8_avx2, int8_name = "avx2 maddubs+madd";
#elif defined(__aarch64__)
    if (isa.neon)
        fp32 = fp32_neon, fp32_name = "neon fmla";
    if (isa.dotprod)
        int8 = int8_sdot, int8_name = "neon sdot";
    else if (isa.neon)
        int8 = int8_neon, int8_name = "neon smull+sadalp";
#endif
    (void)isa;

    cjob *j = calloc(1, sizeof *j);
    if (!j)
        return lf_error_set(err, LF_ENOMEM, "compute: out of memory");
    lfp_team *team = NULL;
    int rc = lfp_team_start(&team, T, err);
    if (rc == 0) {
        lfp_team_set_budget(team, quick ? 0.1 : 0.4);
        double target = quick ? 0.01 : 0.04;
        int reps = quick ? 2 : 5;
        out->fp32_gflops_core = measure(team, 1, j, fp32, target, reps) / 1e9;
        out->fp32_gflops_all = T == 1 ? out->fp32_gflops_core : measure(team, T, j, fp32, target, reps) / 1e9;
        out->int8_gops_core = measure(team, 1, j, int8, target, reps) / 1e9;
        out->int8_gops_all = T == 1 ? out->int8_gops_core : measure(team, T, j, int8, target, reps) / 1e9;
        out->measured = true;
        out->threads = T;
        LFP_SET(out->fp32_method, "%s", fp32_name);
        LFP_SET(out->int8_method, "%s", int8_name);
    }
    lfp_team_stop(team);
    free(j);
    out->seconds = lf_now_s() - t_start;
    return rc;
}
