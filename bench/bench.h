/*
 * bench — measuring and judging speed. This header has sections:
 *   1. Random numbers  — a seeded generator the caller owns (no global RNG)
 *   2. Statistics      — median, mean, stddev, quantiles, the 95% CI of the
 *                        median, the stopping rule, ratio of medians with a
 *                        bootstrap CI, the Mann-Whitney U test
 *   3. Regression compare — matching tests of two runs and deciding, per
 *                        test, regression / improvement / no change; markdown,
 *                        JSON and JUnit XML reports
 *   4. The runner       — the benchmark matrix (suite files and llama-bench
 *                        style flags), running it with interleaved
 *                        repetitions, storing every sample, and the final
 *                        table / JSON / JSONL / CSV / markdown output
 *   5. The device profile — this machine now, probed once for every command
 *                        (stored figures reused, measured once, stored)
 *
 * Usage (statistics):
 *     double t[32]; int n = 0;                 // tokens/s of each repetition
 *     do t[n++] = run_once();
 *     while (n < 32 && !lf_stats_precise_enough(t, n, 0.03, 3));
 *     lf_stats_summary s;
 *     lf_stats_summarize(t, n, &s);            // s.median, s.ci_low, s.ci_high
 *
 * Usage (regression gate):
 *     lf_run_full base, cand;                  // lf_store_run_load
 *     lf_compare_opts o = LF_COMPARE_OPTS_INIT; // 5% threshold, alpha 0.01
 *     lf_compare_report rep;
 *     lf_compare_runs(&base, &cand, &o, &rep, &err);
 *     lf_compare_write_md(&rep, stdout);
 *     int status = rep.n_regressions ? 1 : 0;
 *     lf_compare_report_free(&rep);
 *
 * Usage (runner):
 *     lf_bench_matrix m;
 *     lf_bench_matrix_init(&m);                           // defaults
 *     if (lf_suite_load(&m, "quick", datadir, &err) < 0 ||  // or a file
 *         lf_bench_matrix_parse_flag(&m, "-t", "1-2", &err) < 0) die(err.msg);
 *     lf_bench_opts o;
 *     lf_bench_opts_init(&o);
 *     o.store = st; o.device = &dev; o.suite_name = "quick";
 *     o.output = LF_BENCH_OUT_TABLE; o.out = stdout;
 *     lf_run run;
 *     int rc = lf_bench_run(&m, &o, &run, &err);  // LF_EINTR: stored as interrupted
 *     lf_bench_matrix_free(&m);
 */
#ifndef LF_BENCH_H
#define LF_BENCH_H

#include "common/common.h"
#include "common/rng.h"
#include "engines/engines.h"
#include "model/model.h"
#include "probes/probes.h"
#include "store/store.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* ======================================================================
 * 1. Random numbers: xoshiro256** seeded through splitmix64. The state is
 * the caller's, so results are reproducible from the seed and independent
 * of anything else running.
 * ==================================================================== */

/* The generator is common/rng.h (lf_rng). */

/* ======================================================================
 * 2. Statistics. Inputs are read only; functions that need order sort a
 * private copy. Values with n too small for them are NAN.
 * ==================================================================== */

double lf_stats_mean(const double *x, int n);       /* NAN if n < 1 */
double lf_stats_stddev(const double *x, int n);     /* sample (n - 1); NAN if n < 2 */
double lf_stats_median(const double *x, int n);     /* NAN if n < 1 or out of memory */
/* Quantile p in [0, 1] with linear interpolation between order statistics
 * (Hyndman-Fan type 7, R's default). `sorted` must be ascending. */
double lf_stats_quantile_sorted(const double *sorted, int n, double p);
double lf_stats_quantile(const double *x, int n, double p);

typedef enum lf_ci_method {
    LF_CI_NONE = 0,       /* n < 2: no interval */
    LF_CI_ORDER_STAT,     /* distribution-free, from the binomial */
    LF_CI_BOOTSTRAP,      /* percentile bootstrap (small n fallback) */
} lf_ci_method;

typedef struct lf_stats_ci {
    double lo, hi;        /* NAN with LF_CI_NONE */
    double coverage;      /* exact coverage for ORDER_STAT (>= conf); the
                             nominal conf for BOOTSTRAP */
    lf_ci_method method;
    int lo_rank, hi_rank; /* 1-based order statistics used (ORDER_STAT) */
} lf_stats_ci;

/* Confidence interval of the median at level conf (e.g. 0.95).
 *
 * Distribution-free: the number of samples below the true median is
 * Binomial(n, 1/2), so [x_(k), x_(n+1-k)] covers it with probability
 * 1 - 2 P(B <= k-1); k is the largest rank keeping that >= conf. This
 * needs no assumption about the shape of the timing distribution (skewed,
 * heavy right tail: the usual for benchmarks), and is conservative:
 * its real coverage is reported in out->coverage (0.979 for n = 10).
 *
 * Small n: such a k exists only when 2^(1-n) <= 1 - conf (n >= 6 for 95%).
 * Below that the interval is the percentile bootstrap of the median (2000
 * resamples, rng; NULL uses a fixed seed so results are reproducible).
 * Its real coverage is below nominal at these sizes (the bootstrap median
 * can only take sample values: for n = 3 the interval is about the sample
 * range, which covers the median 75% of the time); it is reported so the
 * stopping rule has something to work with, and flagged by the method.
 * Returns 0, LF_EINVAL (conf not in (0, 1)), LF_ENOMEM. */
int lf_stats_median_ci(const double *x, int n, double conf, lf_rng *rng,
                       lf_stats_ci *out);

typedef struct lf_stats_summary {
    int n;
    double median, mean, stddev, min, max;
    lf_stats_ci ci;       /* 95% CI of the median */
} lf_stats_summary;

/* All of the above for one sample set (95% CI, fixed-seed fallback).
 * Returns 0 or LF_ENOMEM; n == 0 gives NANs. */
int lf_stats_summarize(const double *x, int n, lf_stats_summary *out);
/* The summary into a stored result's median/mean/stddev/ci_low/ci_high/
 * n_samples. Has the lf_summarize_fn signature (store/store.h) so imports
 * can use it. */
void lf_stats_fill_result(const double *x, int n, lf_result *r);

/* The runner's stopping rule: true when n >= min_n and the 95% CI of the
 * median lies within +-target_rel_width of the median (0.03: the interval
 * is inside [0.97 m, 1.03 m]). False for n < 2 or a zero median. */
bool lf_stats_precise_enough(const double *samples, int n, double target_rel_width, int min_n);

/* median(num) / median(den) with a percentile-bootstrap CI at level conf:
 * each side resampled independently n_boot times (>= 100; 2000 is a good
 * default) from the caller's rng. Returns 0, LF_EINVAL (empty side, conf
 * out of range, a non-positive median in den), LF_ENOMEM. */
int lf_stats_ratio_ci(const double *num, int n_num, const double *den, int n_den,
                      double conf, int n_boot, lf_rng *rng,
                      double *ratio, double *lo, double *hi);

typedef struct lf_mwu {
    double u;             /* U of the first sample: pairs a > b, ties count 1/2 */
    double z;             /* normal score (0 when exact) */
    double p;             /* two-sided p-value */
    bool exact;           /* from the exact null distribution */
    bool ties;            /* ties were present (forces the normal approximation) */
} lf_mwu;

/* Mann-Whitney U (Wilcoxon rank-sum) test, two-sided: do a and b come
 * from the same distribution? Exact (all C(na+nb, na) rank arrangements
 * counted through the Gaussian binomial coefficient) when both samples have
 * fewer than 50 values and there are no ties; otherwise the normal
 * approximation with the tie-corrected variance and a continuity
 * correction. Returns 0, LF_EINVAL (an empty side), LF_ENOMEM. */
int lf_stats_mann_whitney(const double *a, int na, const double *b, int nb, lf_mwu *out);

/* Power. An exact rank test has a floor: with na and nb samples the most
 * extreme arrangement has p = 2 / C(na+nb, na) (0.10 for 3 + 3, 0.029 for
 * 4 + 4, 0.0079 for 5 + 5), so below some n no difference, however large,
 * is significant. lf_stats_mwu_min_n is the smallest equal n per side whose
 * floor is <= alpha (5 for 0.01); the signed-rank floor for n pairs is
 * 2 / 2^n (8 pairs for 0.01). */
double lf_stats_mwu_min_p(int na, int nb);
int lf_stats_mwu_min_n(double alpha);
double lf_stats_signrank_min_p(int n);

/* Distribution functions (inverses by bisection; NAN outside the domain). */
double lf_stats_normal_cdf(double x);
double lf_stats_normal_quantile(double p);
double lf_stats_t_cdf(double t, double df);          /* Student's t, df > 0 */
double lf_stats_t_quantile(double p, double df);
/* Sample standard deviation of log(x): the relative noise of a sample set
 * (0.02 = about 2%). NAN for n < 2 or a value <= 0. */
double lf_stats_log_sd(const double *x, int n);
/* Welch's t-test on log values, two-sided p into *p. The log makes a ratio
 * a difference, and timings are closer to log-normal than normal. Used
 * only where the rank test cannot reach alpha (compare.c). Returns 0 or
 * LF_EINVAL (fewer than 2 on a side, a value <= 0). */
int lf_stats_welch_log(const double *a, int na, const double *b, int nb, double *p);
/* The smallest relative slowdown (0.07 = 7%) that two sample sets of na
 * and nb values with relative noise log_sd detect with probability power
 * at two-sided level alpha: 1 - exp(-(t(1-alpha/2, na+nb-2) + z(power)) *
 * log_sd * sqrt(1/na + 1/nb)). NAN when it cannot be computed. */
double lf_stats_min_detectable(double log_sd, int na, int nb, double alpha, double power);
/* The repetitions per side a test needs so that (1) the exact rank test
 * can reach alpha and (2) a slowdown of threshold is detected with
 * probability power at noise log_sd (NAN: only (1)); capped at n_max. */
int lf_stats_n_needed(double log_sd, double threshold, double alpha, double power, int n_max);

/* ======================================================================
 * 3. Regression compare.
 *
 * Tests of two runs match on kind, model (name), quant, adapter
 * description / count / rank / mode, threads, n_prompt, n_gen, n_depth, KV
 * type, backend, config and engine (localfit's own results never match
 * llama.cpp's). For each matching pair:
 *   speed ratio = candidate / baseline in "speed" terms: for tokens/s
 *     median(cand) / median(base); for ms median(base) / median(cand). So
 *     < 1 is always slower, > 1 faster. Bootstrap CI of that ratio.
 *   p = Mann-Whitney U on the raw samples.
 *   regression  = p < alpha AND ratio < 1 - threshold
 *   improvement = p < alpha AND ratio > 1 + threshold
 * Requiring both keeps a noisy A/A comparison quiet (significance alone
 * fires at rate alpha per test, and a suite has many tests) and ignores
 * real but tiny changes nobody should fail a build for.
 *
 * Small samples. Where the rank test's floor (lf_stats_mwu_min_p) is above
 * alpha (3 + 3 samples: 0.10), it cannot judge. Then Welch's t-test on
 * log values decides, and only when the two sample sets do not overlap
 * at all: a large, clean slowdown (2x at n = 3) is still a regression.
 * Anything else at that size is `inconclusive`, with the reason ("n=3+3:
 * smallest possible rank p is 0.10"), never `same`.
 *
 * Power. Each compared row carries the smallest slowdown its samples could
 * have detected (lf_stats_min_detectable at the pooled noise, power 0.95);
 * the markdown report prints it per run.
 *
 * Machine speed. Results carry the read bandwidth they were judged
 * against (roof_gbs). The report states when the two runs' roofs differ by
 * more than the threshold ("the machine was 18% slower in the candidate
 * run"); with normalize = LF_NORM_ROOF every sample is divided by its own
 * run's roof first (tokens/s per GB/s), which cancels a uniformly slower
 * machine for memory-bound tests.
 *
 * Paired A/B (lf_compare_paired): two builds run alternately on the same
 * machine, in ABBA order (A B, B A, A B, ...), so slow drift and a step
 * change hit both equally. Each pair j gives d_j = log(speed_B / speed_A)
 * from the medians of the two invocations' samples. The estimate is the
 * median of d_j (one pair straddling a step change cannot move it). Its
 * noise is the spread of all 2n - 1 steps between consecutive invocations
 * in run order, each with the estimated effect taken out (A->B: +d, B->A:
 * -d, A->A and B->B: 0): the root mean square of the smallest 80% of them,
 * rescaled to a normal sd, so the step where the machine changed is left
 * out but a noisy half of the run is not; the within-invocation noise
 * pooled over all invocations is a floor. The test
 * is t on median / standard error (1.2533 sd / sqrt(n)), df = 2n - 2.
 * The A/B command divides alpha by the number of tests (Bonferroni), so
 * alpha bounds a false alarm anywhere in the suite, not per test. The rule is the same: significant AND beyond
 * the threshold. tests/bench/test_ab.c simulates a 10% linear drift plus a
 * 15% step: at 3-6 pairs false alarms stay under 1% and a 10% slowdown is
 * caught over 95% of the time.
 * ==================================================================== */

typedef enum lf_verdict {
    LF_VERDICT_SAME = 0,          /* compared: no significant change beyond threshold */
    LF_VERDICT_REGRESSION,
    LF_VERDICT_IMPROVEMENT,
    LF_VERDICT_UNTESTED,          /* fewer than 2 samples on a side: medians only */
    LF_VERDICT_ONLY_BASELINE,     /* the candidate did not run this test */
    LF_VERDICT_ONLY_CANDIDATE,    /* new test */
    LF_VERDICT_INCONCLUSIVE,      /* too few samples for the test to reach alpha,
                                     and no clean large change: row.reason says why */
    LF_VERDICT_COUNT
} lf_verdict;
const char *lf_verdict_name(lf_verdict v);   /* "same", "regression", ... */

typedef struct lf_compare_opts {
    double threshold;     /* relative: 0.05 = 5% */
    double alpha;         /* significance level of the MWU test */
    double conf;          /* level of the ratio CI */
    int n_boot;           /* bootstrap resamples */
    uint64_t seed;        /* for the bootstrap: same inputs, same report */
    int normalize;        /* lf_compare_norm: judge raw speed or speed per roof */
    double power;         /* for the detectable-slowdown figures (0.95) */
} lf_compare_opts;
typedef enum lf_compare_norm {
    LF_NORM_NONE = 0,
    LF_NORM_ROOF,         /* samples / the result's roof_gbs (where both runs have one) */
} lf_compare_norm;
#define LF_COMPARE_OPTS_INIT {0.05, 0.01, 0.95, 2000, 0x6c6f63616c666974ull, LF_NORM_NONE, 0.95}

typedef struct lf_compare_row {
    lf_result test;               /* the candidate's result (the baseline's if only there) */
    char name[256];               /* "tg128 stories260K Q4_0 t4" */
    int n_base, n_cand;           /* samples */
    double base_median, cand_median;   /* in the test's unit */
    double ratio, ratio_lo, ratio_hi;  /* speed ratio and its CI; NAN if unknown */
    double p;                     /* NAN if untested */
    bool exact;                   /* p from the exact distribution */
    lf_verdict verdict;
    char method[24];              /* "mwu-exact", "mwu-normal", "welch-log", "paired-abba" */
    char reason[96];              /* why inconclusive / untested; "" otherwise */
    double noise;                 /* pooled relative noise (log sd); NAN */
    double min_detect;            /* smallest slowdown detectable (0.07 = 7%); NAN */
    bool normalized;              /* judged per roof (LF_NORM_ROOF and both roofs known) */
} lf_compare_row;

typedef struct lf_compare_report {
    lf_run baseline, candidate;
    lf_compare_opts opts;
    lf_compare_row *rows;         /* candidate's order, then baseline-only tests */
    int n_rows;
    int n_regressions, n_improvements, n_same, n_untested, n_unmatched;
    int n_inconclusive;
    bool paired;                  /* A/B mode: rows from lf_compare_paired */
    int n_pairs;                  /* A/B: ABBA pairs run */
    double alpha_per_test;        /* A/B: opts.alpha / tests judged (Bonferroni: alpha
                                     holds for the whole suite) */
    /* Machine speed: the median over matched tests of the candidate's
     * roof_gbs over the baseline's (NAN when no matched test has both). */
    double roof_ratio;
    double base_roof_gbs, cand_roof_gbs;   /* medians over the matched tests */
} lf_compare_report;

/* One ABBA pair of an A/B comparison: the samples of one invocation of
 * each build for one test. */
typedef struct lf_ab_pair {
    const double *a, *b;          /* A = baseline build, B = candidate build */
    int na, nb;
    bool b_first;                 /* B ran first in this pair (odd pairs of ABBA) */
} lf_ab_pair;

/* The paired decision (section rule above) for one test over n pairs.
 * Fills row's numbers, method and verdict, not its test/name. Rows with
 * fewer than 2 pairs are untested. */
void lf_compare_paired(const lf_ab_pair *pairs, int n, lf_unit unit, const lf_compare_opts *o,
                       lf_compare_row *row);
/* Counts row's verdict into rep's totals. */
void lf_compare_count(lf_compare_report *rep, const lf_compare_row *row);
/* Whether anything was judged: some row regression, improvement or same. */
bool lf_compare_judged_any(const lf_compare_report *rep);

/* The decision for one test from its raw samples (what lf_compare_runs
 * does per pair; exposed for tests and the runner). Fills row's numbers and
 * verdict, not its test/name. rng drives the bootstrap. */
void lf_compare_samples(const double *base, int nb, const double *cand, int nc, lf_unit unit,
                        const lf_compare_opts *o, lf_rng *rng, lf_compare_row *row);
/* Whether two results are the same test (the match key above). */
bool lf_compare_same_test(const lf_result *a, const lf_result *b);
/* Human name of a test, e.g. "pp512 Llama-3.1-8B Q4_K_M t8 d4096 kv=q8_0". */
void lf_compare_test_name(const lf_result *r, char *buf, size_t size);

/* Compares every test of cand against base. out is owned by the caller
 * (lf_compare_report_free). Returns 0, LF_EINVAL (bad options), LF_ENOMEM. */
int lf_compare_runs(const lf_run_full *base, const lf_run_full *cand,
                    const lf_compare_opts *o, lf_compare_report *out, lf_error *err);
void lf_compare_report_free(lf_compare_report *rep);

/* Reports. Names from files are escaped for each format (markdown table
 * cells, XML attributes/text). Return 0 or LF_EIO on a write error. */
int lf_compare_write_md(const lf_compare_report *rep, FILE *out);
int lf_compare_write_json(const lf_compare_report *rep, FILE *out);
int lf_compare_write_junit(const lf_compare_report *rep, FILE *out);

/* ======================================================================
 * 4. The runner.
 *
 * A matrix is one or more parts (the [sections] of a suite file; one part
 * when there are none), each a cross product
 *     models x quants x adapters x threads x KV types x depths x tests,
 * where a test is pp (per n_prompt), tg (per n_gen), ttft (per n_prompt),
 * adapter_load / adapter_swap (per adapter set) or model_load (per model).
 * Identical tests from several parts run once.
 *
 * Running (lf_bench_run):
 *  1. Plan: every model is resolved (a shape defined in the matrix, a GGUF
 *     path, else a catalog name) and every test listed, before anything is
 *     loaded. A configuration whose weights + KV caches (+ merged adapter
 *     copies) exceed the device's usable memory is refused here, with the
 *     sizes in the message (GGUF files: right after mapping, before any
 *     context is allocated), unless opts.force.
 *  2. Models run one at a time (one "group" per ISA x model x quant): the
 *     model is synthesized (catalog names and shapes, in the target mix) or
 *     loaded, then every test of the group runs round-robin, one repetition
 *     each per pass, so drift (heat, a neighbour process) spreads over all
 *     of them instead of favouring the first. Each test gets `warmup`
 *     untimed runs on its first turn; it is finished when it has reps_max
 *     samples; or when the 95% CI of the median is within +-target_ci
 *     (lf_stats_precise_enough) and it has the n the regression gate
 *     needs to see a 5% slowdown at the noise observed so far
 *     (lf_stats_n_needed, alpha 0.01, power 0.95); or when its time budget
 *     is spent and it has the n at which the exact rank test can reach
 *     alpha at all (5; lf_stats_mwu_min_n). Every one of these is at least
 *     reps_min and at most reps_max: `--reps 3-3` still stops at 3, and
 *     compare then says what 3 samples cannot show. A finished test is stored at once (result +
 *     samples in one transaction) and reported.
 *     With passes = P > 1 the groups are visited P times over, the model
 *     loaded again each time: in visit p (of 0..P-1) a test runs until it
 *     has (p+1)/P of reps_max, or of the floor and the budget; only the
 *     last visit applies the stopping rules above. A slow spell of a shared
 *     machine (seconds long) then lands on every configuration a little
 *     instead of on one entirely, so their ratios, which recommend learns
 *     from, hold. extra.pass_reps lists the repetitions of each visit. With
 *     the llama.cpp engine (paired turns within one visit) P is 1.
 *  3. ISAs (matrix isa list) run one after the other, each with its own
 *     model loads: a model may be laid out for the ISA it was loaded under.
 *  4. Timed regions hold only the clock reads and the evaluation calls:
 *     tokens, contexts, adapters and the KV cache prefix (the depth) are
 *     prepared before the first clock read; nothing allocates, logs or makes
 *     a system call (other than what the engine does) between the two reads.
 *     The cost of an empty timed region is measured at start and reported
 *     against the shortest tg repetition (lf_bench_summary.harness_frac).
 *  5. Interruption (*opts.interrupted set, e.g. by SIGINT): the repetition
 *     under way finishes, nothing else starts, the run is finished as
 *     interrupted with every result already stored, LF_EINTR is returned.
 *
 * Per result: median/mean/stddev/CI of the samples (tokens/s for pp and
 * tg, ms for the others); bytes_per_token = weight bytes (+ runtime adapter
 * bytes) per token (prompt batches amortize one weight read over the batch)
 * + the KV cache read at that depth (tg: the mean over the generated
 * tokens); roofline_frac = tokens/s x bytes_per_token / read bandwidth for
 * that thread count (the roofs measured in the run when the matrix says
 * roofs = yes, else the device profile's); peak_rss = VmHWM after the test
 * (reset per model through /proc/self/clear_refs where allowed: "rss_scope"
 * in extra); joules_per_token from the RAPL package counters
 * (/sys/class/powercap/intel-rapl:N/energy_uj) else NAN and energy_note
 * says why. pp and tg also fill weight_bytes, kv_bytes, n_params (the
 * matrix-product parameters), flops_per_token, roof_gbs, peak_gops and
 * compute_frac (pp: 2 x params x tokens/s / the int8 peak for quantized
 * mixes, the FP32 peak for F16/F32). extra (JSON, for display only) carries
 * model_bytes, kv_alloc_bytes, adapter_bytes, roof_source, harness_ns,
 * source ("synth" / "gguf") and the like.
 * ==================================================================== */

#define LF_BENCH_SCHEMA "localfit.bench/1"

/* A growable list of ints (values, types, mixes, ISA levels). */
/* The most tests one run may plan: a larger matrix is refused before
 * anything is built (it would take days and gigabytes). */
#define LF_BENCH_MAX_TESTS 100000

typedef struct lf_bench_list {
    int *v;
    int n;
} lf_bench_list;

/* A model shape defined in a suite (`shape.NAME = ...`) or by --shape:
 * synthesized like a catalog model. */
typedef struct lf_bench_shape {
    char name[64];
    lf_model_params hp;          /* checked (lf_model_params_check) */
} lf_bench_shape;

/* One adapter configuration: "none", "rRANK[xK][:runtime|:merged]"
 * (K synthesized adapters of rank RANK) or "FILE.gguf[:runtime|:merged]". */
typedef struct lf_bench_adapter {
    char spec[256];              /* as written, canonical: "r16", "r8x2:merged" */
    int n;                       /* adapters applied together; 0 = none */
    int rank;                    /* synthesized rank; 0 for a file */
    char path[512];              /* adapter file; "" when synthesized */
    lf_adapter_mode mode;        /* NONE, RUNTIME (default) or MERGED */
} lf_bench_adapter;

/* One cross product (a suite section). */
typedef struct lf_bench_part {
    char name[64];               /* section name; "" for a suite without sections */
    char **models;               /* catalog name (prefix ok), shape name or GGUF path */
    int n_models;
    lf_bench_list quants;        /* lf_mix; ignored for GGUF files (their own types) */
    lf_bench_adapter *adapters;
    int n_adapters;
    lf_bench_list threads;       /* >= 1; 0 = all usable threads; -N = N..all usable */
    lf_bench_list n_prompt;      /* tokens, for pp and ttft */
    lf_bench_list n_gen;         /* tokens, for tg */
    lf_bench_list depth;         /* tokens already in the KV cache */
    lf_bench_list kv;            /* lf_type: F16, Q8_0, F32 */
    unsigned tests;              /* bit (1u << lf_test_kind) per test */
} lf_bench_part;

typedef struct lf_bench_matrix {
    char name[64];               /* suite name ("quick", file stem) */
    char description[256];
    lf_bench_part *parts;        /* >= 1 after lf_bench_matrix_init */
    int n_parts;
    lf_bench_shape *shapes;
    int n_shapes;
    lf_bench_list isa;           /* lf_isa_level, run in order; empty = the active one */
    int reps_min, reps_max;      /* samples per test */
    double target_ci;            /* relative half-width of the median's 95% CI */
    double budget_s;             /* seconds per test, once reps_min are done */
    int warmup;                  /* untimed runs per test (and per visit, see passes) */
    int passes;                  /* visits of every group, each test taking its share */
    uint64_t seed;               /* tokens, synthetic weights and adapters */
    bool roofs;                  /* measure bandwidth / compute peaks in the run */
    bool pin;                    /* pin worker threads (default on) */
    char lora_targets[8][16];    /* tensors synthesized adapters adapt */
    int n_lora_targets;
    unsigned given_;             /* private: keys a flag has replaced */
} lf_bench_matrix;

/* Defaults: one part with no models, quants Q4_K_M, adapters none, threads
 * all, n_prompt 512, n_gen 128, depth 0, KV f16, tests pp+tg; reps 3-20,
 * target 3%, budget 10 s, warm-up 1, passes 1, seed 1, roofs off, pinned, adapters on
 * attn_q/attn_k/attn_v/attn_output/ffn_gate/ffn_up/ffn_down. */
void lf_bench_matrix_init(lf_bench_matrix *m);
/* Frees everything m owns and leaves it zeroed; NULL ok. */
void lf_bench_matrix_free(lf_bench_matrix *m);

/* Suite files: plain text, one `key = value[, value ...]` per line, `#`
 * starts a comment, `[name]` starts a part (keys before the first section
 * are defaults every section starts from; a file without sections is one
 * part). Keys: name, description, models, quants, adapters, threads,
 * n_prompt, n_gen, depth, kv, tests, isa, reps, target_ci, budget, warmup,
 * seed, roofs, pin, lora_targets, shape.NAME (datasets/suites/README.md
 * has the grammar). A key set twice in one section, an unknown key or a bad
 * value is LF_EFORMAT with "FILE:LINE: " and what is wrong.
 *
 * lf_suite_load: name_or_path is a built-in suite name (datadir/suites/
 * NAME.conf) or a file path (anything with a '/' or ending in .conf).
 * Loads onto m (lf_bench_matrix_init first): its keys replace m's values.
 * LF_ENOTFOUND names the file (and the built-in suites for a bad name). */
int lf_suite_load(lf_bench_matrix *m, const char *name_or_path, const char *datadir,
                  lf_error *err);
/* The built-in suite names (datadir/suites/NAME.conf, at most max, each
 * under 64 bytes), sorted; the count, or -1 when the directory cannot be
 * opened. */
int lf_suite_names(const char *datadir, char names[][64], int max);
/* The same from memory: text of len bytes (NUL bytes are an error), file
 * named `file` in messages. Never reads anything else. */
int lf_suite_parse(lf_bench_matrix *m, const char *file, const char *text, size_t len,
                   lf_error *err);

/* One command-line flag: flag is a CLI spelling ("-p", "--n-prompt") or a
 * suite key ("n_prompt"); value its argument (NULL for yes/no switches).
 * Lists take commas and ranges as llama-bench does: "128,512", "1-4",
 * "1-8+2" (step), "1-16*2" (factor). The first flag for a key replaces the
 * suite's list in every part; repeating the flag appends. LF_EUSAGE for an
 * unknown flag, LF_EINVAL for a bad value (the message names the flag). */
int lf_bench_matrix_parse_flag(lf_bench_matrix *m, const char *flag, const char *value,
                               lf_error *err);

/* Parses a quant name: a mix ("Q4_K_M", case-insensitive) or llama.cpp's
 * short form of one ("Q4_K" = Q4_K_M, "Q5_K" = Q5_K_M, "Q3_K" = Q3_K_M).
 * LF_EINVAL otherwise. */
int lf_bench_quant_parse(const char *s, lf_mix *out);
/* Parses one adapter spec (grammar above) into *out. LF_EINVAL naming it. */
int lf_bench_adapter_parse(const char *s, lf_bench_adapter *out, lf_error *err);

typedef enum lf_bench_format {
    LF_BENCH_OUT_TABLE = 0,      /* aligned text table (+ thread / ISA tables) */
    LF_BENCH_OUT_JSON,           /* one "localfit.bench/1" document */
    LF_BENCH_OUT_JSONL,          /* one result object per line */
    LF_BENCH_OUT_CSV,            /* header + one line per result */
    LF_BENCH_OUT_MD,             /* markdown tables */
    LF_BENCH_OUT_SQL,            /* CREATE TABLE + one INSERT per result, as llama-bench -o sql */
    LF_BENCH_OUT_NONE,
} lf_bench_format;

typedef enum lf_bench_progress_mode {
    LF_BENCH_PROGRESS_AUTO = 0,  /* live table when err_out is a TTY (and TERM is
                                    not "dumb"), else plain lines */
    LF_BENCH_PROGRESS_LIVE,
    LF_BENCH_PROGRESS_PLAIN,
    LF_BENCH_PROGRESS_NONE,
} lf_bench_progress_mode;

/* What lf_bench_run measured about itself. */
typedef struct lf_bench_summary {
    double wall_s;               /* whole run */
    double harness_ns;           /* median cost of an empty timed region */
    double shortest_tg_ns;       /* shortest tg repetition (NAN without tg) */
    double harness_frac;         /* harness_ns / shortest_tg_ns */
    int n_results, n_planned;
    int n_skipped;               /* tests dropped (too big with skip_too_big, bad adapter) */
    double read_gbs;             /* bandwidth used for roofline_frac, all threads; NAN */
    double int8_gops, fp32_gflops;   /* compute peaks used, all threads; NAN */
    int n_roof_samples;          /* in-run roof measurements (roofs = yes) */
    bool interrupted;
    char engine_note[512];       /* why llama.cpp results are missing, "" if none */
} lf_bench_summary;

typedef struct lf_bench_opts {
    lf_store *store;             /* NULL: store nothing */
    const lf_device *device;     /* limits (memory check, "all" threads) and the
                                    bandwidth / compute roofs; NULL: a quick probe */
    const char *datadir;         /* catalog; NULL: $LOCALFIT_DATADIR or "datasets" */
    const char *label;           /* run label, NULL none */
    const char *suite_name;      /* NULL: the matrix's name */
    const char *git_commit, *git_branch;   /* overrides of the detected values */
    const char *sysroot;         /* root for powercap files; NULL: $LOCALFIT_SYSROOT or / */
    bool quiet;                  /* no progress, no warnings */
    lf_bench_progress_mode progress;
    FILE *err_out;               /* progress and warnings; NULL: stderr */
    lf_bench_format output;      /* final results on `out` */
    FILE *out;                   /* NULL: no final output */
    volatile sig_atomic_t *interrupted;   /* polled between repetitions; may be NULL */
    bool force;                  /* run configurations that do not fit memory */
    bool skip_too_big;           /* drop (with a warning) instead of failing */
    bool dry_run;                /* plan and check memory only: nothing runs or is
                                    stored; summary.n_planned says how many tests */
    /* Called after each result is stored (and for each result when store is
     * NULL), outside any timed region. The callback may set *interrupted. */
    void (*on_result)(const lf_result *r, const double *samples, int n, void *user);
    /* Called on each finished result before it is stored, kept or reported
     * (outside any timed region): it may rename the model, model_path and
     * quant (`sweep` measures temporary quantized files and stores them
     * under the original's name). NULL: results keep the runner's names. */
    void (*relabel)(lf_result *r, void *user);
    void *user;                  /* passed to on_result and relabel */
    lf_run_full *results;        /* if not NULL: receives the run and every result
                                    with its samples (lf_run_full_free it) */
    lf_bench_summary *summary;   /* if not NULL: filled */
    /* Also measure with llama.cpp (`bench --engine localfit,llama.cpp`): each
     * pp / tg / pg test without adapters gets one llama-bench repetition
     * right after each of localfit's, in the groups of the first ISA, and a
     * second result with engine "llama.cpp" when it finishes. A failure
     * (missing binary, failed run, unreadable output) is reported on
     * err_out, leaves localfit's results as they are, and is named in
     * summary.engine_note. NULL: localfit alone. */
    const lf_engine_llama *llama;
} lf_bench_opts;

void lf_bench_opts_init(lf_bench_opts *o);   /* zeroes; table output, auto progress */

/* Runs m (see the top of this section). run_out (may be NULL) receives the
 * stored run record (id 0 when not stored). Returns 0; LF_EINTR when
 * interrupted (the run is stored as interrupted); LF_ETOOBIG when a
 * configuration does not fit (nothing was run); LF_ENOTFOUND / LF_EINVAL
 * for a model or adapter that cannot be resolved (nothing was run);
 * LF_EUNSUPP for an ISA this CPU lacks; other codes from loading,
 * evaluating or the store (the run is then finished as interrupted). */
int lf_bench_run(const lf_bench_matrix *m, const lf_bench_opts *opts, lf_run *run_out,
                 lf_error *err);

/* The final output of a finished run (what lf_bench_run writes to
 * opts.out): rf as lf_bench_run or lf_store_run_load left it; summary may
 * be NULL. Returns 0, LF_EIO on a write error, LF_ENOMEM. */
int lf_bench_write(const lf_run_full *rf, const lf_bench_summary *summary, lf_bench_format fmt,
                   FILE *out, lf_error *err);
/* "table", "json", "jsonl", "csv", "md" (also "markdown"), "sql", "none";
 * LF_EINVAL otherwise. */
int lf_bench_format_parse(const char *s, lf_bench_format *out);

/* ======================================================================
 * 5. The current device profile (device.c): the one place that probes
 * this machine for the commands. It is here because bench is the lowest
 * layer with both the probes and the store; recommend and reports only
 * read profiles (given to them, or stored).
 *
 *     lf_device_opts o;
 *     lf_device_opts_init(&o);
 *     o.mode = LF_DEVICE_STORED; o.store = true;
 *     lf_device *dev = malloc(sizeof *dev); char note[256];
 *     if (lf_device_current(st, &o, dev, note, sizeof note, &err) < 0) die(err.msg);
 * ==================================================================== */

typedef enum lf_device_mode {
    LF_DEVICE_QUICK = 0,   /* identity, limits, GPUs; no microbenchmark */
    LF_DEVICE_LIMITS,      /* quick, without GPU library: only the limits matter */
    LF_DEVICE_STORED,      /* quick + the bandwidth / compute figures of st's profile
                              of this device id; what it lacks is measured now */
    LF_DEVICE_MEASURE,     /* quick + bandwidth and compute measured now */
    LF_DEVICE_FULL,        /* the full probe (lf_probe_device defaults) */
} lf_device_mode;

typedef struct lf_device_opts {
    lf_device_mode mode;
    bool store;            /* put a profile measured now into st (skipped when st
                              is NULL or read-only) */
    bool quick_compute;    /* shorter compute-peak runs (interactive commands) */
    bool best_effort;      /* a failed measurement leaves that figure unmeasured
                              (note says why) instead of failing the call */
    FILE *log;             /* "NAME: measuring ..." before measuring; NULL silent */
    const char *log_name;  /* NAME above; NULL "localfit" */
} lf_device_opts;

void lf_device_opts_init(lf_device_opts *o);   /* zeroes; mode QUICK */

/* This machine's profile into *out (caller-allocated, fully overwritten).
 * st may be NULL (nothing reused or stored); o NULL is QUICK. note (may be
 * NULL) says where the figures came from. Returns 0; the probe's errors;
 * a measurement's errors (unless best_effort); the store's errors when
 * storing. Not thread-safe against other probes (they pin threads). */
int lf_device_current(lf_store *st, const lf_device_opts *o, lf_device *out, char *note,
                      size_t note_size, lf_error *err);

/* Puts d into st under its id (JSON profile). 0 with nothing done when st
 * is NULL or d has no id; LF_ENOMEM or the store's errors. */
int lf_device_store(lf_store *st, const lf_device *d, lf_error *err);

/* Noise: a bandwidth measured now that differs from the device's stored
 * figure by more than LF_DEVICE_NOISE_FRAC says the machine is busy (or
 * its memory changed), so speeds measured now are not typical of it. */
#define LF_DEVICE_NOISE_FRAC 0.25
/* The device's stored read bandwidth, all threads, GB/s: the median of its
 * stored profile's figure and the roofs its stored pp/tg results were
 * judged against; 0 when the store holds none (st NULL, unknown id). */
double lf_device_stored_bandwidth(lf_store *st, const char *device_id);
/* When now_gbs differs from ref_gbs (> 0) by more than LF_DEVICE_NOISE_FRAC
 * of ref_gbs, a one-line warning into msg ("read bandwidth now 2.1 GB/s is
 * 42% below this device's stored median 3.6 GB/s: ...") and true; else
 * false with msg "". */
bool lf_device_noise(double now_gbs, double ref_gbs, char *msg, size_t size);

/* ---- a model file's quant label (quant_label.c) ---------------------------- */

/* The quantization a loaded model is named by in results (bench and sweep
 * share this one rule): the mix its general.file_type records, else the
 * weight type holding the most bytes summed over all tensors (a Q4_0 file
 * whose largest single tensor is a Q8_0 embedding is Q4_0). label (size
 * bytes) gets the upper-case name ("Q4_0", "Q4_K_M"); *mix (may be NULL)
 * the mix, LF_MIX_COUNT when no mix is named that. Returns the type
 * holding the most bytes (what decides the float or integer compute roof). */
lf_type lf_bench_quant_label(const lf_model *m, char *label, size_t size, lf_mix *mix);
/* Whether m, quantized to mix, holds no matrix of the mix's own type (the
 * type its attention query gets where every block fits): on rows that are
 * not a multiple of 256 elements the K-quant levels fall back to other
 * types (Q6_K becomes Q8_0, Q2_K becomes IQ4_NL), so two levels are one
 * file in all but name. became (may be NULL) gets the upper-case name of
 * the type holding most of the matrices' bytes. */
bool lf_bench_mix_collapsed(const lf_model *m, lf_mix mix, char *became, size_t size);

#endif /* LF_BENCH_H */
