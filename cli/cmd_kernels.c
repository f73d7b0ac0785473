/*
 * `localfit kernels` — the matrix-kernel microbenchmark: for every weight
 * type × shape × activation count n × ISA × thread count, the median time
 * of lf_matmul, the weight bytes streamed per second, the arithmetic rate
 * (2·rows·cols·n per call) and how close that is to the roof this machine
 * measured: read bandwidth for matrix-vector (n = 1), the int8 dot peak
 * (or FP32 peak for float weights) for matrix-matrix.
 *
 * The weight matrix is replicated until the copies exceed four times the
 * last-level cache and the copies are used in turn, so n = 1 really
 * streams from memory as decoding does; weights are those of synthetic
 * models (lf_synth_weights: random quants, finite fp16 scales), so this
 * file knows no block layout (speed does not depend on the values, NaNs
 * and denormals are kept out). Shapes are COLSxROWS in GGUF order (ne0 x ne1): 4096x14336 is an
 * FFN up projection (14336 rows of 4096), 14336x4096 the down projection.
 */
#include "catalog/catalog.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "common/rng.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "probes/probes.h"

#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ITEMS 32

static void usage(FILE *f) {
    fprintf(f,
            "usage: localfit kernels [--types LIST] [--shapes LIST] [--n LIST] [--isa LIST]\n"
            "                        [--threads LIST] [--model NAME] [--time S] [--fixed-roof]\n"
            "                        [--stored] [--json]\n\n"
            "Benchmark the matrix kernels: median time per product, GB/s of weights\n"
            "streamed, GFLOPS (2*rows*cols*n / t) and the fraction of the measured roof\n"
            "(read bandwidth for n = 1, int8 dot peak - FP32 peak for float weights -\n"
            "for n > 1).\n\n"
            "  --types LIST    weight types (default q4_0,q8_0,q4_K,q6_K,f16)\n"
            "  --shapes LIST   COLSxROWS in GGUF order, ne0 x ne1\n"
            "                  (default 4096x4096,4096x14336,14336x4096)\n"
            "  --n LIST        activation rows per product (default 1,8,128,512)\n"
            "  --isa LIST      scalar, avx2, avx512, neon (default: the best here)\n"
            "  --threads LIST  thread counts (default: all usable CPUs)\n"
            "  --model NAME    also the matrix shapes of a catalog model\n"
            "  --time S        time budget per measurement, seconds (default 1)\n"
            "  --fixed-roof    measure the roofs once per thread count instead of around\n"
            "                  every product (faster, less robust to drift)\n"
            "  --stored        keep the weights as stored in GGUF files instead of the\n"
            "                  interleaved layout models are loaded into (layout column:\n"
            "                  il = interleaved, where the ISA has kernels for the type)\n"
            "  --json          JSON (schema localfit.kernels/1) instead of a table\n");
}

/* Splits a comma list into at most MAX_ITEMS pointers into buf. */
static int split_list(char *buf, char **items) {
    int n = 0;
    for (char *tok = strtok(buf, ","); tok && n < MAX_ITEMS; tok = strtok(NULL, ","))
        if (*tok)
            items[n++] = tok;
    return n;
}

typedef struct shape { int64_t cols, rows; } shape;

static int usable_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Weights of type t, rows × cols: values ~N(0, 0.5), close to the spread
 * of uniform [-1, 1) so that float weights rarely become half denormals. */
#define WEIGHT_SIGMA 0.5f
#define WEIGHT_SEED 0x9E3779B97F4A7C15ULL

/* Weights in 2 MiB-aligned memory with transparent huge pages requested
 * (before first touch), as the probes' bandwidth arrays are, so both sides
 * of the roof fraction see the same page size. */
static void *alloc_huge(size_t bytes) {
    size_t huge = (size_t)2 << 20;
    size_t size = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, size);
#ifdef MADV_HUGEPAGE
    if (p)
        (void)madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

/* ---- roofs ------------------------------------------------------------------
 * From the probes module: read bandwidth (lf_probe_bandwidth) and the
 * int8 / FP32 peaks (lf_probe_compute) of the same thread count. On a
 * shared machine both drift with what else runs, so unless --fixed-roof is
 * given the row's roof is measured again (quick mode) right before and
 * right after each product and the higher of the two is used: a
 * conservative fraction under the conditions the product really ran in. */
typedef struct roofs {
    double read_gbs, int8_gops, fp32_gflops;
    bool fixed;
} roofs;

static int probe_read_gbs(int threads, bool quick, double *out, lf_error *err) {
    lf_bandwidth bw;
    int rc = lf_probe_bandwidth(threads, quick, &bw, err);
    if (rc < 0)
        return rc;
    *out = bw.measured ? bw.read_gbs : 0;
    return 0;
}

/* The int8 / FP32 peaks with the instructions of kernel level isa's set
 * (which it makes the active one; LOCALFIT_ISA's modifiers apply). */
static int probe_peaks(int threads, bool quick, lf_isa_level isa, lf_compute *cp, lf_error *err) {
    int rc = lf_kernels_isa() == isa ? 0 : lf_kernels_init(isa, err);
    if (rc < 0)
        return rc;
    lf_isa features;
    lf_kernels_features(&features);
    return lf_probe_compute(threads, quick, &features, cp, err);
}

/* The roof of one product (n = 1: read GB/s; else int8 GOPS or FP32
 * GFLOPS for float weights, with level isa's instructions), measured now
 * with the pool's thread count. */
static int probe_roof(int threads, int64_t n, bool is_float, lf_isa_level isa, double *out,
                      lf_error *err) {
    if (n == 1)
        return probe_read_gbs(threads, true, out, err);
    lf_compute cp;
    int rc = probe_peaks(threads, true, isa, &cp, err);
    if (rc < 0)
        return rc;
    *out = !cp.measured ? 0 : is_float ? cp.fp32_gflops_all : cp.int8_gops_all;
    return 0;
}

/* ---- measurement ----------------------------------------------------------- */

typedef struct result {
    lf_type type;
    shape sh;
    int64_t n;
    lf_isa_level isa;
    int threads;
    int reps;
    bool il;                    /* weights in the interleaved layout */
    double median_s;
    double gbs, gflops, roof;   /* roof < 0: unknown */
    double peak;                /* the roof's value: GB/s (n = 1) or GOPS/GFLOPS */
} result;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}


static int measure(lf_type t, shape sh, int64_t n, lf_isa_level isa, bool stored, lf_pool *pool,
                   double budget, const roofs *rf, result *out, lf_error *err) {
    lf_mat w = {.type = t, .rows = sh.rows, .cols = sh.cols,
                .row_bytes = lf_row_size(t, sh.cols)};
    if (w.row_bytes == 0)
        return lf_error_set(err, LF_EINVAL, "%s: %lld columns is not a multiple of the block size %d",
                            lf_type_name(t), (long long)sh.cols, lf_type_traits_get(t)->block_size);
    size_t wbytes = w.row_bytes * (size_t)w.rows;
    /* Enough copies to exceed 4 x the LLC per thread: VMs may report one L3
     * while each vCPU sits on its own die with its own. */
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    size_t llc = (l3 > 0 ? (size_t)l3 : (size_t)32 << 20) * (size_t)lf_pool_size(pool);
    int ncopies = (int)((4 * llc + wbytes - 1) / wbytes);
    if (ncopies < 2)
        ncopies = 2;
    size_t stride = (wbytes + 4095) / 4096 * 4096;
    char *wmem = alloc_huge(stride * (size_t)ncopies);
    float *x = malloc(sizeof(float) * (size_t)(n * sh.cols));
    float *y = malloc(sizeof(float) * (size_t)(n * sh.rows));
    size_t wsz = (lf_matmul_work_size(&w, n) + 63) / 64 * 64;
    void *work = aligned_alloc(64, wsz);
    double *times = malloc(sizeof(double) * 1000);
    int rc = 0;
    if (!wmem || !x || !y || !work || !times) {
        rc = lf_error_set(err, LF_ENOMEM, "kernels: cannot allocate %zu bytes of weights",
                          stride * (size_t)ncopies);
        goto done;
    }
    if ((rc = lf_synth_weights(t, wmem, w.rows, w.cols, WEIGHT_SIGMA, WEIGHT_SEED, err)) < 0)
        goto done;
    lf_rng s;
    lf_rng_seed(&s, 12345);
    for (int64_t i = 0; i < n * sh.cols; i++)
        x[i] = (float)((int64_t)(lf_rng_next(&s) >> 40) - (1 << 23)) / (float)(1 << 23);
    if ((rc = lf_kernels_init(isa, err)) < 0)
        goto done;
    /* the layout models load into for these kernels, unless --stored */
    w.data = wmem;
    if (!stored && lf_mat_can_interleave(&w) && (rc = lf_mat_interleave(&w, wmem, err)) < 0)
        goto done;
    for (int c = 1; c < ncopies; c++)
        memcpy(wmem + (size_t)c * stride, wmem, wbytes);
    int copy = 0, reps = 0;
    /* warm-up: page in every copy once, fault in the work buffer */
    for (int c = 0; c < ncopies; c++) {
        w.data = wmem + (size_t)c * stride;
        lf_matmul(pool, &w, x, n, y, work);
        if (n > 1 && c >= 1)
            break;
    }
    bool is_float = lf_type_is_float(t);
    double fixed_peak = n == 1 ? rf->read_gbs : is_float ? rf->fp32_gflops : rf->int8_gops;
    double before = fixed_peak, after = fixed_peak;
    if (!rf->fixed && (rc = probe_roof(lf_pool_size(pool), n, is_float, isa, &before, err)) < 0)
        goto done;
    double total = 0;
    while (reps < 1000 && (reps < 5 || total < budget) && !(reps >= 3 && total > 3 * budget)) {
        w.data = wmem + (size_t)copy * stride;
        copy = (copy + 1) % ncopies;
        uint64_t t0 = lf_now_ns();
        lf_matmul(pool, &w, x, n, y, work);
        double dt = (double)(lf_now_ns() - t0) * 1e-9;
        times[reps++] = dt;
        total += dt;
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    double med = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
    *out = (result){.type = t, .sh = sh, .n = n, .isa = isa, .threads = lf_pool_size(pool),
                    .reps = reps, .il = w.interleaved, .median_s = med};
    out->gbs = (double)wbytes / med / 1e9;
    out->gflops = 2.0 * (double)sh.rows * (double)sh.cols * (double)n / med / 1e9;
    if (!rf->fixed && (rc = probe_roof(lf_pool_size(pool), n, is_float, isa, &after, err)) < 0)
        goto done;
    double peak = before > after ? before : after;
    out->roof = peak > 0 ? (n == 1 ? out->gbs : out->gflops) / peak : -1;
    out->peak = peak;
done:
    free(wmem);
    free(x);
    free(y);
    free(work);
    free(times);
    return rc;
}

/* Adds the distinct weight-matrix shapes of catalog model name to shapes. */
static int model_shapes(const char *name, shape *shapes, int *nshapes, lf_error *err) {
    lf_catalog *cat;
    int rc = lf_catalog_load(&cat, lf_cli_datadir(), err);
    if (rc < 0)
        return rc;
    const lf_catalog_model *m;
    if ((rc = lf_catalog_match(cat, name, &m, err)) < 0) {
        lf_catalog_free(cat);
        return rc;
    }
    int nt = lf_catalog_n_tensors(m);
    for (int i = 0; i < nt; i++) {
        lf_catalog_tensor ct;
        if (lf_catalog_tensor_at(m, i, &ct) < 0 || ct.ne1 <= 1)
            continue;
        /* one block is representative; token_embd is a lookup, not a product */
        if (ct.layer > 0 || !strcmp(ct.name, "token_embd.weight"))
            continue;
        bool dup = false;
        for (int k = 0; k < *nshapes; k++)
            dup |= shapes[k].cols == ct.ne0 && shapes[k].rows == ct.ne1;
        if (!dup && *nshapes < MAX_ITEMS)
            shapes[(*nshapes)++] = (shape){ct.ne0, ct.ne1};
    }
    lf_catalog_free(cat);
    return 0;
}

/* The command line, parsed and checked. */
typedef struct kopts {
    lf_type types[MAX_ITEMS];
    int ntypes;
    shape shapes[MAX_ITEMS];
    int nshapes;
    int64_t nvals[MAX_ITEMS];
    int nn;
    lf_isa_level isas[LF_ISA_COUNT];
    int nisa;
    int threads[MAX_ITEMS];
    int nthr;
    const char *model;
    double budget;          /* seconds per measurement */
    bool json, fixed_roof, stored;
} kopts;

/* The raw comma lists of the options, split by parse_lists. */
typedef struct klists {
    char types[512], shapes[512], n[256], isa[128], thr[128];
} klists;

/* Options into o (scalars) and l (lists). Returns -1 to go on, or the exit
 * status to return (--help, usage errors). */
static int parse_options(int argc, char **argv, kopts *o, klists *l) {
    static const struct option opts[] = {
        {"types", required_argument, NULL, 't'}, {"shapes", required_argument, NULL, 's'},
        {"n", required_argument, NULL, 'n'},     {"isa", required_argument, NULL, 'i'},
        {"threads", required_argument, NULL, 'j'}, {"model", required_argument, NULL, 'm'},
        {"time", required_argument, NULL, 'T'},  {"json", no_argument, NULL, 'J'},
        {"fixed-roof", no_argument, NULL, 'F'},
        {"stored", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': lf_strlcpy(l->types, optarg, sizeof l->types); break;
        case 's': lf_strlcpy(l->shapes, optarg, sizeof l->shapes); break;
        case 'n': lf_strlcpy(l->n, optarg, sizeof l->n); break;
        case 'i': lf_strlcpy(l->isa, optarg, sizeof l->isa); break;
        case 'j': lf_strlcpy(l->thr, optarg, sizeof l->thr); break;
        case 'm': o->model = optarg; break;
        case 'T': {
            char *end;
            o->budget = strtod(optarg, &end);
            if (*end || !(o->budget > 0) || o->budget > 600)
                return lf_cli_usage_error("kernels", "--time wants seconds in (0, 600], not '%s'", optarg);
            break;
        }
        case 'J': o->json = true; break;
        case 'F': o->fixed_roof = true; break;
        case 'L': o->stored = true; break;
        case 'h': usage(stdout); return LF_EXIT_OK;
        default: return lf_cli_bad_option("kernels", argv, opts);
        }
    }
    if (optind < argc)
        return lf_cli_usage_error("kernels", "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* Weight types, shapes and n values of l into o. Same return as
 * parse_options. */
static int parse_work_lists(klists *l, kopts *o) {
    char *items[MAX_ITEMS];
    o->ntypes = split_list(l->types, items);
    for (int i = 0; i < o->ntypes; i++) {
        if (lf_type_parse(items[i], &o->types[i]) < 0 || !lf_type_is_weight(o->types[i]))
            return lf_cli_usage_error("kernels", "unknown or unsupported weight type '%s'", items[i]);
    }
    o->nshapes = split_list(l->shapes, items);
    for (int i = 0; i < o->nshapes; i++) {
        long long a, b;
        char tail;
        if (sscanf(items[i], "%lldx%lld%c", &a, &b, &tail) != 2 || a <= 0 || b <= 0 ||
            a > (1 << 20) || b > (1 << 20))
            return lf_cli_usage_error("kernels", "shape '%s' is not COLSxROWS", items[i]);
        o->shapes[i] = (shape){a, b};
    }
    o->nn = split_list(l->n, items);
    for (int i = 0; i < o->nn; i++) {
        char *end;
        long v = strtol(items[i], &end, 10);
        if (*end || v < 1 || v > 65536)
            return lf_cli_usage_error("kernels", "--n value '%s' is not in 1..65536", items[i]);
        o->nvals[i] = v;
    }
    return -1;
}

/* ISAs and thread counts of l into o (defaults: the active ISA, every
 * usable CPU). Same return as parse_options. */
static int parse_machine_lists(klists *l, kopts *o) {
    char *items[MAX_ITEMS];
    lf_isa isa;
    lf_isa_detect(&isa);
    o->nisa = 0;
    if (l->isa[0]) {
        int k = split_list(l->isa, items);
        for (int i = 0; i < k && o->nisa < LF_ISA_COUNT; i++) {
            if (lf_isa_level_parse(items[i], &o->isas[o->nisa]) < 0)
                return lf_cli_usage_error("kernels", "unknown ISA '%s' (scalar, avx2, avx512, neon)", items[i]);
            if (!lf_isa_supported(&isa, o->isas[o->nisa])) {
                lf_error err;
                lf_error_set(&err, LF_EUNSUPP, "ISA %s cannot run on this CPU or build", items[i]);
                return lf_cli_fail(&err);
            }
            o->nisa++;
        }
    } else {
        o->isas[o->nisa++] = lf_kernels_isa();
    }
    o->nthr = 0;
    if (l->thr[0]) {
        int k = split_list(l->thr, items);
        for (int i = 0; i < k; i++) {
            char *end;
            long v = strtol(items[i], &end, 10);
            if (*end || v < 1 || v > 1024)
                return lf_cli_usage_error("kernels", "--threads value '%s' is not in 1..1024", items[i]);
            o->threads[o->nthr++] = (int)v;
        }
    } else {
        o->threads[o->nthr++] = usable_cpus();
    }
    return -1;
}

/* One result as a JSON object (after a comma unless first) or a table row. */
static void print_result(const result *r, bool json, bool first) {
    char sh[32];
    snprintf(sh, sizeof sh, "%lldx%lld", (long long)r->sh.cols, (long long)r->sh.rows);
    bool is_float = lf_type_is_float(r->type);
    if (json) {
        printf("%s\n  {\"type\": \"%s\", \"cols\": %lld, \"rows\": %lld, \"n\": %lld, "
               "\"isa\": \"%s\", \"layout\": \"%s\", \"threads\": %d, \"reps\": %d, "
               "\"median_s\": %.9f, \"gbs\": %.3f, \"gflops\": %.3f, \"roof_fraction\": ",
               first ? "" : ",", lf_type_name(r->type), (long long)r->sh.cols,
               (long long)r->sh.rows, (long long)r->n, lf_isa_level_name(r->isa),
               r->il ? "interleaved" : "stored", r->threads, r->reps, r->median_s, r->gbs, r->gflops);
        if (r->roof >= 0)
            printf("%.4f, \"roof\": \"%s\", \"roof_value\": %.3f}", r->roof,
                   r->n == 1 ? "read_gbs" : is_float ? "fp32_gflops" : "int8_gops", r->peak);
        else
            printf("null}");
    } else {
        char roof[16] = "-", of[32] = "";
        if (r->roof >= 0) {
            snprintf(roof, sizeof roof, "%.2f", r->roof);
            snprintf(of, sizeof of, "%.1f %s", r->peak,
                     r->n == 1 ? "GB/s read" : is_float ? "GFLOPS fp32" : "GOPS int8");
        }
        printf("%-7s %-12s %5lld %-7s %-6s %3d %10.3f %8.2f %9.1f %6s  %s\n",
               lf_type_name(r->type), sh, (long long)r->n, lf_isa_level_name(r->isa),
               r->il ? "il" : "stored", r->threads, r->median_s * 1e3, r->gbs, r->gflops, roof, of);
    }
    fflush(stdout);
}

/* Every ISA × shape × type × n with nthreads threads, printed as measured;
 * *first tracks the JSON separator. */
static int run_thread_count(const kopts *o, int nthreads, bool *first, lf_error *err) {
    lf_pool *pool = lf_pool_create(nthreads, true);
    if (!pool)
        return lf_error_set(err, LF_ENOMEM, "kernels: cannot start %d threads", nthreads);
    roofs rf = {.fixed = o->fixed_roof};
    int rc = probe_read_gbs(nthreads, false, &rf.read_gbs, err);
    for (int ii = 0; ii < o->nisa && rc == 0; ii++) {
        /* each ISA's products are held to the peaks of its own instructions */
        lf_compute cp;
        if ((rc = probe_peaks(nthreads, false, o->isas[ii], &cp, err)) < 0)
            break;
        rf.int8_gops = cp.measured ? cp.int8_gops_all : 0;
        rf.fp32_gflops = cp.measured ? cp.fp32_gflops_all : 0;
        fprintf(stderr, "localfit kernels: %d threads, %s: read %.1f GB/s, int8 %.0f GOPS, fp32 %.0f GFLOPS\n",
                nthreads, lf_kernels_name(), rf.read_gbs, rf.int8_gops, rf.fp32_gflops);
        for (int si = 0; si < o->nshapes && rc == 0; si++)
            for (int ty = 0; ty < o->ntypes && rc == 0; ty++)
                for (int ni = 0; ni < o->nn && rc == 0; ni++) {
                    result r = {0};
                    rc = measure(o->types[ty], o->shapes[si], o->nvals[ni], o->isas[ii], o->stored,
                                 pool, o->budget, &rf, &r, err);
                    if (rc == 0) {
                        print_result(&r, o->json, *first);
                        *first = false;
                    }
                }
    }
    lf_pool_free(pool);
    return rc;
}

int cmd_kernels(int argc, char **argv) {
    kopts o = {.budget = 1.0};
    klists l = {.types = "q4_0,q8_0,q4_K,q6_K,f16",
                .shapes = "4096x4096,4096x14336,14336x4096",
                .n = "1,8,128,512"};
    int ex = parse_options(argc, argv, &o, &l);
    if (ex < 0)
        ex = parse_work_lists(&l, &o);
    if (ex < 0)
        ex = parse_machine_lists(&l, &o);
    if (ex >= 0)
        return ex;
    lf_error err = {0};
    if (o.model && model_shapes(o.model, o.shapes, &o.nshapes, &err) < 0)
        return lf_cli_fail(&err);

    lf_isa_level orig = lf_kernels_isa();
    if (o.json)
        printf("{\"schema\": \"localfit.kernels/1\", \"results\": [");
    else
        printf("%-7s %-12s %5s %-7s %-6s %3s %10s %8s %9s %6s  %s\n", "type", "shape", "n", "isa",
               "layout", "thr", "median_ms", "GB/s", "GFLOPS", "roof", "of");
    bool first = true;
    int rc = 0;
    for (int ti = 0; ti < o.nthr && rc == 0; ti++)
        rc = run_thread_count(&o, o.threads[ti], &first, &err);
    if (o.json)
        printf("\n]}\n");
    lf_kernels_init(orig, NULL);
    return rc < 0 ? lf_cli_fail(&err) : LF_EXIT_OK;
}
