/*
 * bench_mv_kquants: the decode (matrix-vector) kernels of the interleaved
 * K-quant layouts against a plain streaming read of the same bytes, read
 * the way a decoded token reads them. Built with the tests, never run by
 * ctest (it measures wall time); rerun it by hand:
 *
 *     build-rel/tests/kernels/bench_mv_kquants [--isa avx512,avx2]
 *         [--types q4_K,q5_K,q6_K] [--threads 2] [--reps 41] [--mib 1024]
 *         [--hot]
 *
 * Cases (GGUF order, COLSxROWS):
 *   dense 2048x5632   one matrix split between the threads in 16-row units;
 *   moe   2048x1024   8 expert slices picked from 64 (a gate/up tensor of
 *                     OLMoE-1B-7B: 2048 columns, 1024 rows per expert);
 *   moe   1024x2048   the same for the down tensor (1024 columns).
 * --hot instead multiplies one 2048x256 matrix again and again from the
 * caches: the kernels' compute ceiling.
 * Expert slices are split as model/forward.c's decode splits them: all
 * chosen slices' 16-row units laid end to end, one contiguous share per
 * thread (lf_split_range; the decode's work stealing moves units between
 * shares only when a thread falls behind), so a thread starts cold at each
 * of its slices.
 *
 * Copies of the tensors fill --mib MiB (huge pages asked for) and every
 * repetition uses the next copy and fresh random experts, so both sides
 * stream from memory. Kernel and read repetitions alternate, so drift and
 * neighbours hit both alike; the figures are medians, `frac` is the
 * median read time / the median kernel time (1.00 = the kernel streams as
 * fast as a read) and `pairs` the median of each repetition's read time /
 * kernel time (robust to slow drift).
 */
#include "kt.h"

#include <getopt.h>
#include <stdbool.h>
#include <sys/mman.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define MAX_SLICES 8
#define N_EXPERT 64

/* ---- the streaming read ---------------------------------------------------- */

/* Sum of the bytes [p, p + n) read as floats; n a multiple of 64. The
 * probes' read loop (probes/bandwidth.c), over an arbitrary range. */
#if defined(__x86_64__)
__attribute__((target("avx512f"))) static float read512(const uint8_t *p, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 256 <= n; i += 256) {
        s0 = _mm512_add_ps(s0, _mm512_loadu_ps(p + i));
        s1 = _mm512_add_ps(s1, _mm512_loadu_ps(p + i + 64));
        s2 = _mm512_add_ps(s2, _mm512_loadu_ps(p + i + 128));
        s3 = _mm512_add_ps(s3, _mm512_loadu_ps(p + i + 192));
    }
    for (; i < n; i += 64)
        s0 = _mm512_add_ps(s0, _mm512_loadu_ps(p + i));
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
#endif

static float read_plain(const uint8_t *p, size_t n) {
    uint64_t s[8] = {0};
    for (size_t i = 0; i < n; i += 64)
        for (int k = 0; k < 8; k++) {
            uint64_t v;
            memcpy(&v, p + i + 8 * k, 8);
            s[k] ^= v;
        }
    return (float)(s[0] ^ s[1] ^ s[2] ^ s[3] ^ s[4] ^ s[5] ^ s[6] ^ s[7]);
}

static float read_bytes(const uint8_t *p, size_t n) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f"))
        return read512(p, n);
#endif
    return read_plain(p, n);
}

/* ---- one job: the chosen slices, split between threads ------------------- */

typedef struct job {
    const uint8_t *slice[MAX_SLICES];   /* first byte of each slice */
    int nslices;
    int64_t rows, cols;                 /* of one slice */
    size_t row_bytes;
    lf_mv_fn mv;                        /* NULL: the streaming read */
    const void *act;                    /* the Q8_K activation row */
    float *y;                           /* [nslices][rows] */
    float sink[64];                     /* read results, per thread (x16 apart) */
} job;

static void job_worker(void *arg, int ith, int nth) {
    job *j = arg;
    const int64_t units = (j->rows + 15) / 16, total = units * j->nslices;
    int64_t lo, hi;
    lf_split_range(total, ith, nth, &lo, &hi);
    float acc = 0;
    for (int k = 0; k < j->nslices && lo < hi; k++) {
        int64_t u0 = lo > k * units ? lo - k * units : 0, u1 = hi - k * units;
        if (u1 > units)
            u1 = units;
        if (u0 >= u1)
            continue;
        const int64_t r0 = u0 * 16, r1 = u1 * 16 < j->rows ? u1 * 16 : j->rows;
        if (!j->mv) {
            acc += read_bytes(j->slice[k] + (size_t)r0 * j->row_bytes, (size_t)(r1 - r0) * j->row_bytes);
            continue;
        }
        for (int64_t r = r0; r < r1; r += LF_MV_MAX_ROWS)
            j->mv((int)j->cols, j->y + (size_t)k * (size_t)j->rows + r,
                  j->slice[k] + (size_t)r * j->row_bytes, j->row_bytes, j->act, LF_MV_MAX_ROWS);
    }
    if (ith < 4)
        j->sink[16 * ith] += acc;
}

/* ---- one case ---------------------------------------------------------------- */

typedef struct bcase {
    const char *name;
    int64_t cols, rows;   /* of one matrix / one expert */
    int nexpert;          /* 0: dense */
} bcase;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Fills one tensor (rows·nexpert of cols) interleaved at mem, then copies
 * it to fill `bytes`; returns the number of copies (0: does not fit). */
static int fill_copies(lf_type t, const bcase *c, uint8_t *mem, size_t bytes, size_t *stride) {
    const int64_t rows = c->rows * (c->nexpert ? c->nexpert : 1);
    const size_t rb = lf_row_size(t, c->cols), tb = rb * (size_t)rows;
    *stride = (tb + 4095) / 4096 * 4096;
    if (*stride > bytes)
        return 0;
    kt_rng rng = {0x9E3779B97F4A7C15ull};
    uint8_t *src = malloc(4 * rb);
    if (!src)
        return 0;
    for (int64_t r = 0; r < rows; r += 4) {
        kt_fill_weights(&rng, t, src, 4, (int)c->cols);
        lf_il_desc_get(t)->interleave(mem + (size_t)r * rb, src, rb, c->cols);
    }
    free(src);
    int n = (int)(bytes / *stride);
    for (int i = 1; i < n; i++)
        memcpy(mem + (size_t)i * *stride, mem, tb);
    return n;
}

static void run_case(lf_pool *pool, lf_type t, const bcase *c, uint8_t *mem, size_t bytes, int reps,
                     bool hot) {
    size_t stride;
    const int ncopies = hot ? 3 : fill_copies(t, c, mem, bytes, &stride);
    if (hot)
        fill_copies(t, c, mem, (size_t)3 << 20, &stride);
    const lf_mv_fn mv = lf_kernel_set_active()->mv_il[t];
    if (ncopies < 3 || !mv) {
        printf("%-5s %-5s %-10s  skipped (%s)\n", lf_type_name(t), c->nexpert ? "moe" : "dense", "",
               mv ? "--mib too small" : "no interleaved kernel in this set");
        return;
    }
    kt_rng rng = {12345};
    uint8_t *act = kt_alloc(lf_row_size(LF_TYPE_Q8_K, c->cols));
    kt_fill_act(&rng, LF_TYPE_Q8_K, act, (int)c->cols);
    job j = {.nslices = c->nexpert ? MAX_SLICES : 1, .rows = c->rows, .cols = c->cols,
             .row_bytes = lf_row_size(t, c->cols), .act = act};
    j.y = kt_alloc(sizeof(float) * (size_t)j.nslices * (size_t)c->rows);
    double *tk = malloc(sizeof(double) * (size_t)reps), *tr = malloc(sizeof(double) * (size_t)reps);
    double *pr = malloc(sizeof(double) * (size_t)reps);   /* paired read / kernel */
    const size_t slice_bytes = j.row_bytes * (size_t)c->rows;
    int copy = 0;
    for (int i = -2; i < reps; i++) {          /* two warm-up rounds */
        for (int side = 0; side < 2; side++) {
            const uint8_t *base = mem + (hot ? 0 : (size_t)copy * stride);
            copy = (copy + 1) % ncopies;
            for (int k = 0; k < j.nslices; k++) {
                int e = 0;
                if (c->nexpert) {   /* distinct experts, as the router picks */
                    bool dup;
                    do {
                        e = kt_int(&rng, 0, c->nexpert - 1);
                        dup = false;
                        for (int m = 0; m < k; m++)
                            dup |= j.slice[m] == base + (size_t)e * slice_bytes;
                    } while (dup);
                }
                j.slice[k] = base + (size_t)e * slice_bytes;
            }
            j.mv = side == 0 ? mv : NULL;
            uint64_t t0 = lf_now_ns();
            lf_pool_run(pool, job_worker, &j);
            double dt = (double)(lf_now_ns() - t0) * 1e-9;
            if (i >= 0)
                (side == 0 ? tk : tr)[i] = dt;
        }
    }
    const double bytes_per = (double)slice_bytes * j.nslices;
    for (int i = 0; i < reps; i++)
        pr[i] = tr[i] / tk[i];
    const double mp = median(pr, reps), mk = median(tk, reps), mr = median(tr, reps);
    char shape[32];
    snprintf(shape, sizeof shape, "%lldx%lld", (long long)c->cols, (long long)c->rows);
    printf("%-5s %-5s %-10s %7s %3d %8.1f %9.1f %8.2f %8.2f %6.2f %6.2f\n", lf_type_name(t),
           c->nexpert ? "moe" : "dense", shape, lf_isa_level_name(lf_kernels_isa()), lf_pool_size(pool),
           bytes_per / 1024.0, mk * 1e6, bytes_per / mk / 1e9, bytes_per / mr / 1e9, mr / mk, mp);
    fflush(stdout);
    free(tk);
    free(tr);
    free(pr);
    free(j.y);
    free(act);
}

/* ---- command line -------------------------------------------------------------- */

static int split(char *s, char **out, int max) {
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
        out[n++] = tok;
    return n;
}

int main(int argc, char **argv) {
    char types[128] = "q4_K,q5_K,q6_K", isas[64] = "avx512,avx2";
    int threads = 2, reps = 41;
    bool hot = false;
    long mib = 1024;
    static const struct option opts[] = {
        {"types", required_argument, NULL, 't'}, {"isa", required_argument, NULL, 'i'},
        {"threads", required_argument, NULL, 'j'}, {"reps", required_argument, NULL, 'r'},
        {"mib", required_argument, NULL, 'm'},   {"hot", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 't': snprintf(types, sizeof types, "%s", optarg); break;
        case 'i': snprintf(isas, sizeof isas, "%s", optarg); break;
        case 'j': threads = atoi(optarg); break;
        case 'r': reps = atoi(optarg); break;
        case 'm': mib = atol(optarg); break;
        case 'h': hot = true; break;
        default:
            fprintf(stderr, "usage: %s [--types LIST] [--isa LIST] [--threads N] [--reps N] [--mib M]\n",
                    argv[0]);
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || reps < 1 || reps > 10000 || mib < 64) {
        fprintf(stderr, "%s: --threads 1..64, --reps 1..10000, --mib >= 64\n", argv[0]);
        return 2;
    }
    const size_t bytes = (size_t)mib << 20, huge = (size_t)2 << 20;
    uint8_t *mem = aligned_alloc(huge, (bytes + huge - 1) / huge * huge);
    if (!mem) {
        fprintf(stderr, "%s: cannot allocate %ld MiB\n", argv[0], mib);
        return 1;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(mem, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE);
#endif
    lf_pool *pool = lf_pool_create(threads, true);
    static const bcase cases[] = {
        {"dense", 2048, 5632, 0}, {"gate/up", 2048, 1024, N_EXPERT}, {"down", 1024, 2048, N_EXPERT},
    };
    /* --hot: one small matrix read again and again from the core's L2,
     * the kernel's compute ceiling (per thread: 256 rows / threads) */
    static const bcase hot_case = {"hot", 2048, 256, 0};
    printf("%-5s %-5s %-10s %7s %3s %8s %9s %8s %8s %6s %6s\n", "type", "case", "shape", "isa", "thr",
           "KiB", "kernel_us", "GB/s", "read", "frac", "pairs");
    char *il[8], *tl[8];
    const int nisa = split(isas, il, 8), nt = split(types, tl, 8);
    int rc = 0;
    for (int a = 0; a < nisa && rc == 0; a++) {
        lf_isa_level lv;
        lf_error err = {0};
        if (lf_isa_level_parse(il[a], &lv) < 0 || lf_kernels_init(lv, &err) < 0) {
            fprintf(stderr, "%s: ISA '%s' cannot run here\n", argv[0], il[a]);
            rc = 1;
            break;
        }
        for (int k = 0; k < nt; k++) {
            lf_type t;
            if (lf_type_parse(tl[k], &t) < 0) {
                fprintf(stderr, "%s: unknown type '%s'\n", argv[0], tl[k]);
                rc = 1;
                break;
            }
            if (hot)
                run_case(pool, t, &hot_case, mem, bytes, reps, true);
            else
                for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
                    run_case(pool, t, &cases[c], mem, bytes, reps, false);
        }
    }
    lf_pool_free(pool);
    free(mem);
    return rc;
}
