/*
 * Statistics tests: the basic estimators against hand-computed values, the
 * distribution-free median CI against the binomial, Mann-Whitney U against
 * textbook values and brute-force enumeration, and - on generated samples
 * with known distributions and fixed seeds - the three properties the
 * regression gate promises: A/A comparisons stay quiet, a 10% slowdown is
 * caught, and the bootstrap CI of the ratio covers the true ratio at about
 * its nominal rate. The measured rates are printed for the report.
 */
#include "bench/bench.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TRIALS 1000

typedef enum { NOISE_LOGNORMAL, NOISE_NORMAL } noise_kind;

/* n samples of a speed with the given median and relative noise. */
static void gen(lf_rng *rng, noise_kind k, double median, double rel, double *x, int n) {
    for (int i = 0; i < n; i++)
        x[i] = k == NOISE_LOGNORMAL ? median * exp(rel * lf_rng_normal(rng))
                                    : median * (1 + rel * lf_rng_normal(rng));
}

/* ---- basic estimators --------------------------------------------------------- */

static void test_basic(void **state) {
    (void)state;
    const double x[] = {4, 1, 3, 2, 10};
    assert_float_equal(lf_stats_mean(x, 5), 4.0, 1e-12);
    /* deviations 0,-3,-1,-2,6: ss = 50, / 4 = 12.5 */
    assert_float_equal(lf_stats_stddev(x, 5), sqrt(12.5), 1e-12);
    assert_float_equal(lf_stats_median(x, 5), 3.0, 0);
    assert_float_equal(lf_stats_median(x, 4), 2.5, 0);   /* {4,1,3,2} */
    /* type 7: h = (n-1)p = 4*0.25 = 1 -> 2nd smallest = 2; p=0.1: h=0.4 -> 1 + 0.4 */
    assert_float_equal(lf_stats_quantile(x, 5, 0.25), 2.0, 1e-12);
    assert_float_equal(lf_stats_quantile(x, 5, 0.1), 1.4, 1e-12);
    assert_float_equal(lf_stats_quantile(x, 5, 1.0), 10.0, 0);
    assert_true(isnan(lf_stats_median(x, 0)));
    assert_true(isnan(lf_stats_stddev(x, 1)));
    assert_true(isnan(lf_stats_quantile(x, 5, 1.5)));
}

static void test_rng(void **state) {
    (void)state;
    lf_rng a, b;
    lf_rng_seed(&a, 42);
    lf_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        assert_true(lf_rng_next(&a) == lf_rng_next(&b));
    /* below(n) is uniform: chi-square over 10 cells, 100000 draws. */
    int cells[10] = {0};
    for (int i = 0; i < 100000; i++)
        cells[lf_rng_below(&a, 10)]++;
    double chi = 0;
    for (int i = 0; i < 10; i++)
        chi += (cells[i] - 10000.0) * (cells[i] - 10000.0) / 10000.0;
    assert_true(chi < 27.9);   /* 99.9th percentile of chi2(9) */
    /* normal(): mean 0, variance 1 within sampling error of 100000 draws */
    double s = 0, ss = 0;
    for (int i = 0; i < 100000; i++) {
        double z = lf_rng_normal(&a);
        s += z;
        ss += z * z;
    }
    assert_true(fabs(s / 100000) < 0.015);
    assert_true(fabs(ss / 100000 - 1) < 0.02);
}

/* ---- median CI ---------------------------------------------------------------- */

static void test_median_ci_ranks(void **state) {
    (void)state;
    double x[10];
    for (int i = 0; i < 10; i++)
        x[i] = 10 - i;   /* 10..1, unsorted on purpose */
    lf_stats_ci ci;
    assert_int_equal(lf_stats_median_ci(x, 10, 0.95, NULL, &ci), 0);
    /* n = 10: P(B <= 1) = 11/1024 <= 0.025 < P(B <= 2) = 56/1024, so
     * ranks 2 and 9, coverage 1 - 22/1024. */
    assert_int_equal(ci.method, LF_CI_ORDER_STAT);
    assert_int_equal(ci.lo_rank, 2);
    assert_int_equal(ci.hi_rank, 9);
    assert_float_equal(ci.lo, 2, 0);
    assert_float_equal(ci.hi, 9, 0);
    assert_float_equal(ci.coverage, 1 - 22.0 / 1024, 1e-12);
    /* n = 6 is the smallest with a 95% interval: the range, 1 - 2/64. */
    assert_int_equal(lf_stats_median_ci(x, 6, 0.95, NULL, &ci), 0);
    assert_int_equal(ci.method, LF_CI_ORDER_STAT);
    assert_int_equal(ci.lo_rank, 1);
    assert_float_equal(ci.coverage, 1 - 2.0 / 64, 1e-12);
    /* n = 5 falls back to the bootstrap, inside the sample range. */
    assert_int_equal(lf_stats_median_ci(x, 5, 0.95, NULL, &ci), 0);
    assert_int_equal(ci.method, LF_CI_BOOTSTRAP);
    assert_true(ci.lo >= 6 && ci.hi <= 10 && ci.lo <= 8 && ci.hi >= 8);
    /* n = 1: no interval. */
    assert_int_equal(lf_stats_median_ci(x, 1, 0.95, NULL, &ci), 0);
    assert_int_equal(ci.method, LF_CI_NONE);
    assert_true(isnan(ci.lo));
    /* Large n: ranks near n/2 -+ 1.96 sqrt(n)/2 (normal approximation). */
    double *big = malloc(1000 * sizeof *big);
    for (int i = 0; i < 1000; i++)
        big[i] = i;
    assert_int_equal(lf_stats_median_ci(big, 1000, 0.95, NULL, &ci), 0);
    assert_true(abs(ci.lo_rank - 469) <= 1);
    assert_int_equal(ci.lo_rank + ci.hi_rank, 1001);
    free(big);
    assert_int_equal(lf_stats_median_ci(x, 10, 1.5, NULL, &ci), LF_EINVAL);
}

/* Empirical coverage on a skewed distribution (lognormal, median exp(mu)
 * known): distribution-free means it holds here too. Expected 0.979 for
 * n = 10; over 1000 trials the standard error is 0.0045. */
static void test_median_ci_coverage(void **state) {
    (void)state;
    lf_rng rng;
    lf_rng_seed(&rng, 7);
    int covered = 0;
    double x[10];
    for (int t = 0; t < TRIALS; t++) {
        for (int i = 0; i < 10; i++)
            x[i] = 50 * exp(0.2 * lf_rng_normal(&rng));
        lf_stats_ci ci;
        lf_stats_median_ci(x, 10, 0.95, NULL, &ci);
        covered += ci.lo <= 50 && 50 <= ci.hi;
    }
    printf("median CI coverage (lognormal, n=10, nominal >= 0.95, exact 0.979): %.3f\n",
           covered / (double)TRIALS);
    assert_true(covered >= 960);
}

static void test_precise_enough(void **state) {
    (void)state;
    double tight[10], wide[10];
    lf_rng rng;
    lf_rng_seed(&rng, 3);
    for (int i = 0; i < 10; i++) {
        tight[i] = 100 * (1 + 0.002 * lf_rng_normal(&rng));
        wide[i] = 100 * (1 + 0.2 * lf_rng_normal(&rng));
    }
    assert_true(lf_stats_precise_enough(tight, 10, 0.03, 3));
    assert_false(lf_stats_precise_enough(wide, 10, 0.03, 3));
    assert_false(lf_stats_precise_enough(tight, 10, 0.03, 11));   /* min_n not reached */
    assert_false(lf_stats_precise_enough(tight, 1, 0.03, 1));
    /* The stopping rule's verdict is exactly the interval test. */
    lf_stats_ci ci;
    lf_stats_median_ci(wide, 10, 0.95, NULL, &ci);
    double m = lf_stats_median(wide, 10);
    double rel = fmax(m - ci.lo, ci.hi - m) / m;
    assert_true(lf_stats_precise_enough(wide, 10, rel * 1.0001, 3));
    assert_false(lf_stats_precise_enough(wide, 10, rel * 0.9999, 3));
    /* Three identical samples are precise (bootstrap fallback, zero width). */
    const double same[3] = {5, 5, 5};
    assert_true(lf_stats_precise_enough(same, 3, 0.01, 3));
}

/* ---- Mann-Whitney U ------------------------------------------------------------ */

static void test_mwu_closed_form(void **state) {
    (void)state;
    /* Complete separation: U = 0, only 1 of C(m+n, m) arrangements is as
     * extreme on each side, so p = 2 / C(m+n, m). */
    const double a[] = {1, 2, 3, 4, 5}, b[] = {6, 7, 8, 9, 10};
    lf_mwu r;
    assert_int_equal(lf_stats_mann_whitney(a, 3, b, 3, &r), 0);
    assert_true(r.exact);
    assert_float_equal(r.u, 0, 0);
    assert_float_equal(r.p, 2.0 / 20, 1e-12);
    lf_stats_mann_whitney(a, 4, b, 4, &r);
    assert_float_equal(r.p, 2.0 / 70, 1e-12);
    lf_stats_mann_whitney(a, 5, b, 5, &r);
    assert_float_equal(r.p, 2.0 / 252, 1e-12);
    lf_stats_mann_whitney(b, 5, a, 5, &r);
    assert_float_equal(r.u, 25, 0);
    assert_float_equal(r.p, 2.0 / 252, 1e-12);
    /* Identical samples of one value each side: no evidence. */
    const double one[] = {1};
    lf_stats_mann_whitney(one, 1, one, 1, &r);
    assert_float_equal(r.p, 1.0, 0);
    assert_int_equal(lf_stats_mann_whitney(a, 0, b, 3, &r), LF_EINVAL);
}

/* The example of R's wilcox.test documentation (Hollander & Wolfe):
 * W = 35, one-sided p = 0.1272 ("greater"), so two-sided 0.2544. */
static void test_mwu_textbook(void **state) {
    (void)state;
    const double x[] = {0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
    const double y[] = {1.15, 0.88, 0.90, 0.74, 1.21};
    lf_mwu r;
    assert_int_equal(lf_stats_mann_whitney(x, 10, y, 5, &r), 0);
    assert_true(r.exact);
    assert_float_equal(r.u, 35, 0);
    assert_float_equal(r.p, 0.2544122544, 1e-9);
}

/* Ties force the normal approximation: a = {1,2,2,3,4}, b = {2,3,5,6,7,8}.
 * By hand: U = 4.5, mu = 15, tie groups {2:3, 3:2} give
 * var = 30/12 * (12 - (24 + 6) / 110) = 29.3181818, z = (4.5 - 15 + 0.5) /
 * sqrt(var) = -1.8468494, p = erfc(|z| / sqrt 2) = 0.0647690. */
static void test_mwu_ties(void **state) {
    (void)state;
    const double a[] = {1, 2, 2, 3, 4}, b[] = {2, 3, 5, 6, 7, 8};
    lf_mwu r;
    assert_int_equal(lf_stats_mann_whitney(a, 5, b, 6, &r), 0);
    assert_false(r.exact);
    assert_true(r.ties);
    assert_float_equal(r.u, 4.5, 1e-12);
    assert_float_equal(r.z, -1.846849402, 1e-8);
    assert_float_equal(r.p, 0.06476896970, 1e-9);
    /* All values equal: p = 1. */
    const double c[] = {3, 3, 3};
    lf_stats_mann_whitney(c, 3, c, 3, &r);
    assert_float_equal(r.p, 1, 0);
}

/* Independent check of the exact distribution: enumerate every way of
 * choosing which of the N pooled ranks belong to a. */
static double brute_p(int m, int n, double u_obs) {
    int N = m + n;
    long le = 0, ge = 0, total = 0;
    for (unsigned mask = 0; mask < (1u << N); mask++) {
        if (__builtin_popcount(mask) != m)
            continue;
        /* U = sum over a-positions of the number of b's below it. */
        int u = 0, bs = 0;
        for (int i = 0; i < N; i++) {
            if (mask & (1u << i))
                u += bs;
            else
                bs++;
        }
        total++;
        le += u <= u_obs;
        ge += u >= u_obs;
    }
    double p = 2.0 * (le < ge ? le : ge) / total;
    return p > 1 ? 1 : p;
}

static void test_mwu_exact_vs_enumeration(void **state) {
    (void)state;
    lf_rng rng;
    lf_rng_seed(&rng, 11);
    for (int trial = 0; trial < 60; trial++) {
        int m = 1 + (int)lf_rng_below(&rng, 8), n = 1 + (int)lf_rng_below(&rng, 8);
        double a[8], b[8];
        for (int i = 0; i < m; i++)
            a[i] = lf_rng_uniform(&rng) + 0.3;   /* shifted: varied U */
        for (int j = 0; j < n; j++)
            b[j] = lf_rng_uniform(&rng);
        lf_mwu r;
        lf_stats_mann_whitney(a, m, b, n, &r);
        assert_true(r.exact);
        assert_float_equal(r.p, brute_p(m, n, r.u), 1e-12);
    }
    /* The largest exact size still gives a proper distribution: for two
     * interleaved samples of 49 the p-value is large and <= 1, and the
     * complete separation is tiny but positive. */
    double a[49], b[49];
    for (int i = 0; i < 49; i++) {
        a[i] = 2 * i;
        b[i] = 2 * i + 1;
    }
    lf_mwu r;
    lf_stats_mann_whitney(a, 49, b, 49, &r);
    assert_true(r.exact && r.p > 0.8 && r.p <= 1);
    for (int i = 0; i < 49; i++)
        b[i] = 1000 + i;
    lf_stats_mann_whitney(a, 49, b, 49, &r);
    assert_true(r.p > 0 && r.p < 1e-20);
    /* 50 per side switches to the normal approximation, which agrees with
     * the exact p for a moderate effect. */
    double c[50], d[50];
    for (int i = 0; i < 50; i++) {
        c[i] = lf_rng_normal(&rng);
        d[i] = lf_rng_normal(&rng) + 0.5;
    }
    lf_mwu ex, ap;
    lf_stats_mann_whitney(c, 49, d, 49, &ex);
    lf_stats_mann_whitney(c, 50, d, 50, &ap);
    assert_true(ex.exact && !ap.exact);
    assert_true(fabs(log10(ex.p) - log10(ap.p)) < 0.5);
}

/* The real size of the exact test at alpha 0.01 for 10 vs 10: the share of
 * the C(20,10) equally likely rank arrangements whose p-value is < 0.01,
 * found by enumeration; then the observed rejection rate of 20000 A/A
 * trials must match it within 4 binomial standard errors. This pins the
 * raw false-alarm rate far tighter than 1000 trials can. */
static void test_mwu_size(void **state) {
    (void)state;
    enum { M = 10, N = 10 };
    static long count[M * N + 1];
    memset(count, 0, sizeof count);
    long total = 0;
    for (unsigned mask = 0; mask < (1u << (M + N)); mask++) {
        if (__builtin_popcount(mask) != M)
            continue;
        int u = 0, bs = 0;
        for (int i = 0; i < M + N; i++) {
            if (mask & (1u << i))
                u += bs;
            else
                bs++;
        }
        count[u]++;
        total++;
    }
    double size = 0;
    for (int u = 0; u <= M * N; u++) {
        long le = 0, ge = 0;
        for (int v = 0; v <= M * N; v++) {
            le += v <= u ? count[v] : 0;
            ge += v >= u ? count[v] : 0;
        }
        if (2.0 * (le < ge ? le : ge) / total < 0.01)
            size += (double)count[u] / total;
    }
    lf_rng g;
    lf_rng_seed(&g, 99);
    int rej = 0, T = 20000;
    double a[M], b[N];
    for (int t = 0; t < T; t++) {
        gen(&g, NOISE_LOGNORMAL, 100, 0.03, a, M);
        gen(&g, NOISE_LOGNORMAL, 100, 0.03, b, N);
        lf_mwu r;
        lf_stats_mann_whitney(a, M, b, N, &r);
        rej += r.p < 0.01;
    }
    double rate = rej / (double)T, se = sqrt(size * (1 - size) / T);
    printf("MWU 10 vs 10 at alpha 0.01: exact size %.4f, A/A rejection rate over %d trials %.4f\n",
           size, T, rate);
    assert_true(size <= 0.01);
    assert_true(fabs(rate - size) < 4 * se);
}

/* ---- ratio CI ------------------------------------------------------------------- */

static void test_ratio_ci_basic(void **state) {
    (void)state;
    const double num[] = {9, 10, 11}, den[] = {4, 5, 6, 100};
    lf_rng r1, r2;
    lf_rng_seed(&r1, 5);
    lf_rng_seed(&r2, 5);
    double q, lo, hi, q2, lo2, hi2;
    assert_int_equal(lf_stats_ratio_ci(num, 3, den, 4, 0.95, 500, &r1, &q, &lo, &hi), 0);
    assert_float_equal(q, 10.0 / 5.5, 1e-12);
    assert_true(lo <= q && q <= hi);
    /* Same seed, same interval. */
    lf_stats_ratio_ci(num, 3, den, 4, 0.95, 500, &r2, &q2, &lo2, &hi2);
    assert_true(lo == lo2 && hi == hi2);
    const double zero[] = {0, 0};
    assert_int_equal(lf_stats_ratio_ci(num, 3, zero, 2, 0.95, 500, &r1, &q, &lo, &hi), LF_EINVAL);
}

/* ---- the three acceptance properties ---------------------------------------------- */

/* Runs TRIALS comparisons of base (median 100) vs cand (median 100 *
 * speed) in tokens/s, or the equivalent times in ms when unit is MS; counts
 * regressions by the gate's rule and raw MWU rejections. */
static void trial_rates(uint64_t seed, noise_kind k, lf_unit unit, double speed, int n,
                        double noise, int *regressions, int *raw_rejections) {
    lf_rng gen_rng, boot_rng;
    lf_rng_seed(&gen_rng, seed);
    lf_rng_seed(&boot_rng, seed + 1);
    lf_compare_opts o = LF_COMPARE_OPTS_INIT;
    o.n_boot = 200;   /* the verdict uses the point ratio and p, not the CI */
    double base[64], cand[64];
    *regressions = *raw_rejections = 0;
    for (int t = 0; t < TRIALS; t++) {
        if (unit == LF_UNIT_TPS) {
            gen(&gen_rng, k, 100, noise, base, n);
            gen(&gen_rng, k, 100 * speed, noise, cand, n);
        } else {
            gen(&gen_rng, k, 10, noise, base, n);
            gen(&gen_rng, k, 10 / speed, noise, cand, n);
        }
        lf_compare_row row;
        memset(&row, 0, sizeof row);
        lf_compare_samples(base, n, cand, n, unit, &o, &boot_rng, &row);
        *regressions += row.verdict == LF_VERDICT_REGRESSION;
        *raw_rejections += row.p < o.alpha;
    }
}

/* A/A: both sides from one distribution. The gate must fire in <= 1% of
 * trials. The raw MWU rejection rate is about alpha by construction (the
 * exact test is slightly conservative); it is printed, and bounded at 2%
 * (alpha plus more than 3 binomial standard errors of 1000 trials). */
static void test_aa_false_alarms(void **state) {
    (void)state;
    const struct { noise_kind k; lf_unit u; const char *what; } cases[] = {
        {NOISE_LOGNORMAL, LF_UNIT_TPS, "lognormal tokens/s"},
        {NOISE_NORMAL, LF_UNIT_TPS, "normal tokens/s"},
        {NOISE_LOGNORMAL, LF_UNIT_MS, "lognormal ms"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int reg, raw;
        trial_rates(1000 + c, cases[c].k, cases[c].u, 1.0, 10, 0.03, &reg, &raw);
        printf("A/A %-20s n=10 noise 3%% alpha 0.01: gate false alarms %.1f%%, raw MWU %.1f%%\n",
               cases[c].what, 100.0 * reg / TRIALS, 100.0 * raw / TRIALS);
        assert_true(reg <= TRIALS / 100);
        assert_true(raw <= TRIALS / 50);
    }
    /* Larger noise stresses the threshold half of the rule: with 8% noise
     * the point ratio leaves +-5% often, significance must still hold it. */
    int reg, raw;
    trial_rates(2000, NOISE_LOGNORMAL, LF_UNIT_TPS, 1.0, 10, 0.08, &reg, &raw);
    printf("A/A lognormal tokens/s   n=10 noise 8%% alpha 0.01: gate false alarms %.1f%%, raw MWU %.1f%%\n",
           100.0 * reg / TRIALS, 100.0 * raw / TRIALS);
    assert_true(reg <= TRIALS / 100);
}

/* A 10% slowdown with 3% noise and 10 samples per side is caught >= 95%. */
static void test_power(void **state) {
    (void)state;
    const struct { noise_kind k; lf_unit u; const char *what; } cases[] = {
        {NOISE_LOGNORMAL, LF_UNIT_TPS, "lognormal tokens/s"},
        {NOISE_NORMAL, LF_UNIT_TPS, "normal tokens/s"},
        {NOISE_LOGNORMAL, LF_UNIT_MS, "lognormal ms"},
        {NOISE_NORMAL, LF_UNIT_MS, "normal ms"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int reg, raw;
        trial_rates(3000 + c, cases[c].k, cases[c].u, 0.90, 10, 0.03, &reg, &raw);
        printf("10%% slowdown %-20s n=10 noise 3%%: caught %.1f%% (MWU alone %.1f%%)\n",
               cases[c].what, 100.0 * reg / TRIALS, 100.0 * raw / TRIALS);
        assert_true(reg >= TRIALS * 95 / 100);
    }
    /* And a 10% speed-up is an improvement, never a regression. */
    lf_rng g, b;
    lf_rng_seed(&g, 4000);
    lf_rng_seed(&b, 4001);
    lf_compare_opts o = LF_COMPARE_OPTS_INIT;
    o.n_boot = 200;
    int improved = 0, regressed = 0;
    double base[10], cand[10];
    for (int t = 0; t < TRIALS; t++) {
        gen(&g, NOISE_LOGNORMAL, 100, 0.03, base, 10);
        gen(&g, NOISE_LOGNORMAL, 110, 0.03, cand, 10);
        lf_compare_row row;
        memset(&row, 0, sizeof row);
        lf_compare_samples(base, 10, cand, 10, LF_UNIT_TPS, &o, &b, &row);
        improved += row.verdict == LF_VERDICT_IMPROVEMENT;
        regressed += row.verdict == LF_VERDICT_REGRESSION;
    }
    printf("10%% speed-up lognormal n=10: reported as improvement %.1f%%\n",
           100.0 * improved / TRIALS);
    assert_int_equal(regressed, 0);
    assert_true(improved >= TRIALS * 90 / 100);
}

/* Coverage of the 95% bootstrap CI of the ratio of medians over 1000
 * trials with the true ratio known (0.9, medians exact by construction).
 * Bound 0.90-0.98: an exactly nominal interval lands in 0.93-0.97 (3
 * binomial standard errors of 0.0069 over 1000 trials), and the percentile
 * bootstrap of a median from 10-30 samples is not exactly nominal - a
 * resampled median can only take a few sample values, which can push the
 * coverage either way (here it comes out slightly conservative, 0.965-
 * 0.975). The bounds allow that and still fail an interval that is
 * clearly too narrow (a gate that cries wolf) or too wide to mean much. */
static void test_ratio_coverage(void **state) {
    (void)state;
    const struct { noise_kind k; int n; const char *what; } cases[] = {
        {NOISE_LOGNORMAL, 10, "lognormal"},
        {NOISE_NORMAL, 10, "normal"},
        {NOISE_LOGNORMAL, 30, "lognormal"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lf_rng g, b;
        lf_rng_seed(&g, 5000 + c);
        lf_rng_seed(&b, 6000 + c);
        int n = cases[c].n, covered = 0;
        double base[32], cand[32], width = 0;
        for (int t = 0; t < TRIALS; t++) {
            gen(&g, cases[c].k, 100, 0.03, base, n);
            gen(&g, cases[c].k, 90, 0.03, cand, n);
            double q, lo, hi;
            /* The default 2000 resamples for the headline case; 1000 for
             * the others keeps the suite fast and moves coverage < 0.5%. */
            lf_stats_ratio_ci(cand, n, base, n, 0.95, c == 0 ? 2000 : 1000, &b, &q, &lo, &hi);
            covered += lo <= 0.9 && 0.9 <= hi;
            width += (hi - lo) / q;
        }
        double cov = covered / (double)TRIALS;
        printf("ratio CI coverage %-9s n=%d (nominal 0.95): %.3f, mean relative width %.3f\n",
               cases[c].what, n, cov, width / TRIALS);
        assert_true(cov >= 0.90 && cov <= 0.98);
    }
}


/* The rank test's floor: 2 / C(na+nb, na), checked against the exact
 * test itself on fully separated samples. */
static void test_rank_floor(void **state) {
    (void)state;
    assert_true(fabs(lf_stats_mwu_min_p(3, 3) - 0.1) < 1e-12);
    assert_true(fabs(lf_stats_mwu_min_p(4, 4) - 2.0 / 70) < 1e-12);
    assert_true(fabs(lf_stats_mwu_min_p(5, 5) - 2.0 / 252) < 1e-12);
    assert_int_equal(lf_stats_mwu_min_n(0.01), 5);
    assert_int_equal(lf_stats_mwu_min_n(0.05), 4);
    assert_true(fabs(lf_stats_signrank_min_p(8) - 2.0 / 256) < 1e-15);
    for (int n = 2; n <= 7; n++) {
        double a[8], b[8];
        for (int i = 0; i < n; i++) {
            a[i] = 10 + i;
            b[i] = 100 + i;
        }
        lf_mwu m;
        assert_int_equal(lf_stats_mann_whitney(a, n, b, n, &m), 0);
        assert_true(m.exact);
        assert_true(fabs(m.p - lf_stats_mwu_min_p(n, n)) < 1e-12);
    }
}

/* Distribution functions against tabulated values (any statistics table):
 * t(0.975; 1) = 12.7062, t(0.975; 10) = 2.22814, t(0.995; 2) = 9.92484,
 * z(0.975) = 1.959964, P(T <= 2 | df 5) = 0.949030. */
static void test_distributions(void **state) {
    (void)state;
    assert_true(fabs(lf_stats_normal_quantile(0.975) - 1.959964) < 1e-6);
    assert_true(fabs(lf_stats_normal_quantile(0.05) + 1.644854) < 1e-6);
    assert_true(fabs(lf_stats_t_quantile(0.975, 1) - 12.7062) < 1e-4);
    assert_true(fabs(lf_stats_t_quantile(0.975, 10) - 2.22814) < 1e-5);
    assert_true(fabs(lf_stats_t_quantile(0.995, 2) - 9.92484) < 1e-5);
    assert_true(fabs(lf_stats_t_cdf(2.0, 5) - 0.949030) < 1e-6);
    assert_true(fabs(lf_stats_t_cdf(-2.0, 5) - 0.050970) < 1e-6);
    assert_true(fabs(lf_stats_t_cdf(0, 3) - 0.5) < 1e-12);
    /* Large df tends to the normal. */
    assert_true(fabs(lf_stats_t_quantile(0.975, 1e6) - 1.959964) < 1e-4);
    assert_true(isnan(lf_stats_t_cdf(1, 0)));
}

/* Welch on logs: a hand computation. log a = {0, 0.1, 0.2}, log b = {1, 1.1,
 * 1.2}: equal variances 0.01, t = -1 / sqrt(0.01/3 * 2) = -12.247, df 4,
 * two-sided p = 2.53e-4. */
static void test_welch_log(void **state) {
    (void)state;
    double a[3] = {1, exp(0.1), exp(0.2)}, b[3] = {exp(1), exp(1.1), exp(1.2)};
    double p;
    assert_int_equal(lf_stats_welch_log(a, 3, b, 3, &p), 0);
    assert_true(fabs(p - 2 * lf_stats_t_cdf(-12.247449, 4)) < 1e-7);
    assert_true(p > 2.4e-4 && p < 2.7e-4);
    double z[2] = {1, 0};
    assert_int_equal(lf_stats_welch_log(z, 2, b, 3, &p), LF_EINVAL);
    assert_true(fabs(lf_stats_log_sd(a, 3) - 0.1) < 1e-12);
}

/* Detectable slowdown and the n needed: consistent with each other, and
 * never below the rank floor. */
static void test_detectable(void **state) {
    (void)state;
    double md = lf_stats_min_detectable(0.02, 10, 10, 0.01, 0.95);
    double k = lf_stats_t_quantile(0.995, 18) + lf_stats_normal_quantile(0.95);
    assert_true(fabs(md - (1 - exp(-k * 0.02 * sqrt(0.2)))) < 1e-12);
    assert_true(lf_stats_min_detectable(0.02, 20, 20, 0.01, 0.95) < md);
    int n = lf_stats_n_needed(0.03, 0.05, 0.01, 0.95, 100);
    assert_true(lf_stats_min_detectable(0.03, n, n, 0.01, 0.95) <= 0.05);
    assert_true(lf_stats_min_detectable(0.03, n - 1, n - 1, 0.01, 0.95) > 0.05);
    assert_int_equal(lf_stats_n_needed(0.0001, 0.05, 0.01, 0.95, 100), 5);   /* the floor */
    assert_int_equal(lf_stats_n_needed(NAN, 0.05, 0.01, 0.95, 100), 5);
    assert_int_equal(lf_stats_n_needed(0.5, 0.05, 0.01, 0.95, 20), 20);      /* capped */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_median_ci_ranks),
        cmocka_unit_test(test_median_ci_coverage),
        cmocka_unit_test(test_precise_enough),
        cmocka_unit_test(test_mwu_closed_form),
        cmocka_unit_test(test_mwu_textbook),
        cmocka_unit_test(test_mwu_ties),
        cmocka_unit_test(test_mwu_exact_vs_enumeration),
        cmocka_unit_test(test_mwu_size),
        cmocka_unit_test(test_ratio_ci_basic),
        cmocka_unit_test(test_aa_false_alarms),
        cmocka_unit_test(test_power),
        cmocka_unit_test(test_ratio_coverage),
        cmocka_unit_test(test_rank_floor),
        cmocka_unit_test(test_distributions),
        cmocka_unit_test(test_welch_log),
        cmocka_unit_test(test_detectable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
