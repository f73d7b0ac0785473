/*
 * The A/B gate's judging code (lf_compare_paired) under simulated machine
 * drift, deterministically: a seeded lf_rng stands in for the machine.
 * Each trial runs two builds in ABBA order over n pairs; every invocation
 * yields K repetitions. The machine's speed drifts linearly by 10% over the
 * whole trial and steps down by 15% halfway (a neighbour's job starting),
 * on top of 2% log-normal noise per repetition and 5% of repetitions hit
 * by a 30% stall. A/A trials must stay quiet (at most 1% false alarms of
 * 1000) and a real 10% slowdown must be caught in at least 95% of 1000:
 * at the default 6 pairs with 3, 4 or 5 repetitions per invocation, and at
 * 4 and 5 pairs with the runner's 5 (3 pairs: false alarms only). The independent-samples rule is checked at the same sizes
 * for contrast: without pairing the drift makes it cry wolf.
 */
#include "bench/bench.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define TRIALS 1000
#define MAXP 8
#define MAXK 5

typedef struct sim {
    double a[MAXP][MAXK], b[MAXP][MAXK];
    lf_ab_pair pairs[MAXP];
} sim;

/* Machine speed factor at invocation pos of total (the drift model). */
static double machine(int pos, int total) {
    double linear = 1 - 0.10 * pos / (double)(total - 1);
    return pos >= total / 2 ? linear * 0.85 : linear;
}

static double rep_value(lf_rng *rng, double speed) {
    double v = speed * exp(0.02 * lf_rng_normal(rng));
    if (lf_rng_uniform(rng) < 0.05)
        v /= 1.3;   /* a stall: preempted, page faults */
    return v;
}

/* One trial: n pairs in ABBA order, K repetitions each, B at speed
 * `slow` times A's (1 = A/A). Fills s->pairs. */
static void simulate(sim *s, lf_rng *rng, int n, int k, double slow) {
    int total = 2 * n;
    for (int pos = 0; pos < total; pos++) {
        int j = pos / 2;
        bool a_first = j % 2 == 0;
        bool is_a = (pos % 2 == 0) == a_first;
        double speed = 100 * machine(pos, total) * (is_a ? 1 : slow);
        for (int r = 0; r < k; r++)
            (is_a ? s->a[j] : s->b[j])[r] = rep_value(rng, speed);
    }
    for (int j = 0; j < n; j++)
        s->pairs[j] = (lf_ab_pair){s->a[j], s->b[j], k, k, j % 2 == 1};
}

/* Verdict counts over TRIALS trials. */
static void run_trials(int n, int k, double slow, uint64_t seed, int *alarms, int *regressions) {
    lf_compare_opts o = LF_COMPARE_OPTS_INIT;
    lf_rng rng;
    lf_rng_seed(&rng, seed);
    sim s;
    *alarms = *regressions = 0;
    for (int t = 0; t < TRIALS; t++) {
        simulate(&s, &rng, n, k, slow);
        lf_compare_row row;
        memset(&row, 0, sizeof row);
        lf_compare_paired(s.pairs, n, LF_UNIT_TPS, &o, &row);
        *alarms += row.verdict == LF_VERDICT_REGRESSION || row.verdict == LF_VERDICT_IMPROVEMENT;
        *regressions += row.verdict == LF_VERDICT_REGRESSION;
    }
}

static void check(int n, int k, uint64_t seed, bool need_power) {
    int fa, hit, dummy;
    run_trials(n, k, 1.0, seed, &fa, &dummy);
    run_trials(n, k, 0.90, seed ^ 0x5a5a5a5aull, &dummy, &hit);
    print_message("A/B %d pairs x %d reps: false alarms %d/%d, 10%% slowdown caught %d/%d\n", n, k, fa,
                  TRIALS, hit, TRIALS);
    assert_true(fa <= TRIALS / 100);
    if (need_power)
        assert_true(hit >= TRIALS * 95 / 100);
}

/* The default: 6 pairs, with 3, 4 or 5 repetitions per invocation. */
static void test_ab_default_pairs(void **state) {
    (void)state;
    for (int k = 3; k <= 5; k++)
        check(6, k, 0xab00 + (uint64_t)k, true);
}

/* Fewer pairs at the runner's repetition floor (5, bench.h section 4):
 * 4 and 5 pairs keep both targets. 3 pairs keep the false-alarm bound but
 * not the power (about 86% with 5 repetitions: a t with 4 degrees of freedom), which is why
 * `compare --pairs` starts at 4. */
static void test_ab_few_pairs(void **state) {
    (void)state;
    check(4, 5, 0xcd04, true);
    check(5, 5, 0xcd05, true);
    check(3, 5, 0xcd03, false);
    check(3, 3, 0xcd33, false);
}

/* The same drift judged as two independent runs (all of A's repetitions
 * against all of B's, the stored-baseline path): the step and the slope
 * land on one side and it raises false alarms. The pairing is what makes
 * A/B immune; this keeps the comparison honest. */
static void test_unpaired_is_not_drift_immune(void **state) {
    (void)state;
    lf_compare_opts o = LF_COMPARE_OPTS_INIT;
    lf_rng rng;
    lf_rng_seed(&rng, 0xef01);
    int alarms = 0;
    double a[MAXP * MAXK], b[MAXP * MAXK];
    for (int t = 0; t < 200; t++) {
        /* Baseline run first, candidate run after it, both of 5 reps x 6:
         * the candidate lands on the slow half of the machine. */
        for (int i = 0; i < 30; i++)
            a[i] = rep_value(&rng, 100 * machine(i, 60));
        for (int i = 0; i < 30; i++)
            b[i] = rep_value(&rng, 100 * machine(30 + i, 60));
        lf_compare_row row;
        memset(&row, 0, sizeof row);
        lf_compare_samples(a, 30, b, 30, LF_UNIT_TPS, &o, &rng, &row);
        alarms += row.verdict == LF_VERDICT_REGRESSION;
    }
    print_message("unpaired runs under the same drift: %d/200 false regressions\n", alarms);
    assert_true(alarms > 100);
}

/* A step between the two halves of one pair (odd n puts it there) moves
 * one pair only; the median ignores it. */
static void test_ab_step_inside_a_pair(void **state) {
    (void)state;
    double a[3][3] = {{100, 101, 99}, {85, 86, 84}, {100, 99, 101}};
    double b[3][3] = {{100, 99, 101}, {100, 101, 99}, {99, 100, 101}};
    lf_ab_pair p[3];
    for (int j = 0; j < 3; j++)
        p[j] = (lf_ab_pair){a[j], b[j], 3, 3, j % 2 == 1};
    lf_compare_opts o = LF_COMPARE_OPTS_INIT;
    lf_compare_row row;
    memset(&row, 0, sizeof row);
    lf_compare_paired(p, 3, LF_UNIT_TPS, &o, &row);
    assert_int_equal(row.verdict, LF_VERDICT_SAME);
    assert_true(fabs(row.ratio - 1) < 0.02);
    assert_string_equal(row.method, "paired-abba");
    /* ms tests: a longer time is slower (on a steady machine: a dip in
     * both builds' middle pair is two large steps of five, which 3 pairs
     * cannot tell from noise). */
    for (int r = 0; r < 3; r++)
        a[1][r] = a[0][r];
    for (int j = 0; j < 3; j++)
        for (int r = 0; r < 3; r++)
            b[j][r] = a[j][r] * 1.5;
    memset(&row, 0, sizeof row);
    lf_compare_paired(p, 3, LF_UNIT_MS, &o, &row);
    assert_int_equal(row.verdict, LF_VERDICT_REGRESSION);
    assert_true(fabs(row.ratio - 1 / 1.5) < 1e-9);
    /* One pair is not a comparison. */
    memset(&row, 0, sizeof row);
    lf_compare_paired(p, 1, LF_UNIT_MS, &o, &row);
    assert_int_equal(row.verdict, LF_VERDICT_UNTESTED);
    assert_non_null(strstr(row.reason, "at least 2"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ab_default_pairs),
        cmocka_unit_test(test_ab_few_pairs),
        cmocka_unit_test(test_unpaired_is_not_drift_immune),
        cmocka_unit_test(test_ab_step_inside_a_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
