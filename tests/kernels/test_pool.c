/*
 * Thread pool: every job runs exactly once per ith with the right nth,
 * many times in a row (the spinning hand-off, and jobs so short that the
 * caller claims shares of workers that have not started) and after the
 * workers have gone to sleep (the sleeping hand-off); lf_split_range covers
 * [0, n) exactly with near-equal parts; lf_steal hands out every unit
 * exactly once, whichever shares run, in whatever order, or never start;
 * per-thread scratch is usable and stable; pinned and unpinned pools
 * behave the same.
 */
#include "kernels/internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

static void test_split_range(void **state) {
    (void)state;
    for (int64_t n = 0; n < 50; n++)
        for (int nth = 1; nth <= 9; nth++) {
            int64_t expect_lo = 0;
            for (int ith = 0; ith < nth; ith++) {
                int64_t lo, hi;
                lf_split_range(n, ith, nth, &lo, &hi);
                assert_int_equal(lo, expect_lo);
                assert_true(hi >= lo);
                /* parts differ by at most one */
                assert_true(hi - lo == n / nth || hi - lo == n / nth + 1);
                expect_lo = hi;
            }
            assert_int_equal(expect_lo, n);
        }
}

typedef struct count_job {
    int64_t n;                 /* elements to cover this run */
    _Atomic int *hits;         /* per element */
    _Atomic int calls[8];      /* per ith */
    _Atomic int bad_nth;
    int expect_nth;
} count_job;

static void count_fn(void *arg, int ith, int nth) {
    count_job *j = arg;
    if (nth != j->expect_nth || ith < 0 || ith >= nth)
        atomic_fetch_add(&j->bad_nth, 1);
    else
        atomic_fetch_add(&j->calls[ith], 1);
    int64_t lo, hi;
    lf_split_range(j->n, ith, nth, &lo, &hi);
    for (int64_t i = lo; i < hi; i++)
        atomic_fetch_add(&j->hits[i], 1);
}

static void run_many(lf_pool *pool, int runs) {
    int nth = lf_pool_size(pool);
    enum { MAXN = 257 };
    _Atomic int *hits = calloc(MAXN, sizeof *hits);
    assert_non_null(hits);
    count_job j = {.hits = hits, .expect_nth = nth};
    for (int r = 0; r < runs; r++) {
        j.n = (r * 37) % MAXN;   /* uneven splits, including n < nth and 0 */
        lf_pool_run(pool, count_fn, &j);
        for (int64_t i = 0; i < j.n; i++) {
            if (atomic_load(&hits[i]) != 1)
                fail_msg("run %d, %d threads: element %lld covered %d times", r, nth,
                         (long long)i, atomic_load(&hits[i]));
            atomic_store(&hits[i], 0);
        }
    }
    assert_int_equal(atomic_load(&j.bad_nth), 0);
    for (int i = 0; i < nth; i++)
        assert_int_equal(atomic_load(&j.calls[i]), runs);
    free(hits);
}

static void test_pool_many_jobs(void **state) {
    (void)state;
    for (int nth = 1; nth <= 4; nth++)
        for (int pin = 0; pin <= 1; pin++) {
            lf_pool *pool = lf_pool_create(nth, pin);
            assert_non_null(pool);
            assert_int_equal(lf_pool_size(pool), nth);
            run_many(pool, 500);
            lf_pool_free(pool);
        }
    /* NULL pool: the caller runs the job alone */
    count_job j = {.n = 10, .expect_nth = 1};
    _Atomic int hits[10] = {0};
    j.hits = hits;
    lf_pool_run(NULL, count_fn, &j);
    assert_int_equal(atomic_load(&j.calls[0]), 1);
    assert_int_equal(lf_pool_size(NULL), 1);
}

/* Jobs separated by pauses long enough that the workers stop spinning and
 * sleep: the wake-up path must not lose a job. */
static void test_pool_after_sleep(void **state) {
    (void)state;
    lf_pool *pool = lf_pool_create(3, false);
    assert_non_null(pool);
    for (int i = 0; i < 5; i++) {
        struct timespec ts = {0, 30 * 1000 * 1000};
        nanosleep(&ts, NULL);
        run_many(pool, 3);
    }
    lf_pool_free(pool);
}

typedef struct scratch_job {
    lf_pool *pool;
    void *ptr[8];
    _Atomic int bad;
} scratch_job;

static void scratch_fn(void *arg, int ith, int nth) {
    scratch_job *j = arg;
    (void)nth;
    void *p = lf_pool_scratch(j->pool, ith, 1000);
    if (ith == 0) {
        if (p)
            atomic_fetch_add(&j->bad, 1);   /* the caller brings its own */
        return;
    }
    if (!p || ((uintptr_t)p & 63)) {
        atomic_fetch_add(&j->bad, 1);
        return;
    }
    if (j->ptr[ith] && j->ptr[ith] != p)
        atomic_fetch_add(&j->bad, 1);   /* same size: same buffer */
    j->ptr[ith] = p;
    memset(p, ith, 1000);
}

static void test_pool_scratch(void **state) {
    (void)state;
    lf_pool *pool = lf_pool_create(4, false);
    assert_non_null(pool);
    scratch_job j = {.pool = pool};
    for (int r = 0; r < 10; r++)
        lf_pool_run(pool, scratch_fn, &j);
    assert_int_equal(atomic_load(&j.bad), 0);
    for (int i = 1; i < 4; i++)
        for (int k = 0; k < 1000; k++)
            assert_int_equal(((unsigned char *)j.ptr[i])[k], i);
    assert_null(lf_pool_scratch(NULL, 1, 10));
    lf_pool_free(pool);
}

/* ---- lf_steal: every unit handed out exactly once ----------------------- */

/* Drives one split from a single thread, the shares calling in the order
 * `order` picks (0: share 0 alone, as if every other thread never started;
 * 1: round robin; 2: pseudo-random), and checks what lf_steal promises:
 * each unit exactly once, a share's own part from its front in steps of
 * at most min_units, and false only when nothing is left. */
static void steal_drive(int64_t total, int nth, int64_t min_units, int order, int *hits) {
    lf_steal s;
    lf_steal_init(&s, total, nth, min_units);
    const int parts = nth < LF_STEAL_MAX ? nth : LF_STEAL_MAX;
    int64_t own_next[LF_STEAL_MAX];
    for (int p = 0; p < parts; p++) {
        int64_t hi;
        lf_split_range(total, p, parts, &own_next[p], &hi);
    }
    memset(hits, 0, (size_t)total * sizeof *hits);
    bool done[64] = {false};
    int ndone = 0;
    uint32_t rng = 12345u + (uint32_t)total * 7u + (uint32_t)nth;
    for (int step = 0; ndone < nth; step++) {
        int ith;
        if (order == 0)
            ith = 0;
        else if (order == 1)
            ith = step % nth;
        else {
            rng = rng * 1664525u + 1013904223u;
            ith = (int)((rng >> 8) % (uint32_t)nth);
        }
        if (done[ith])
            continue;
        int64_t lo, hi;
        if (!lf_steal_next(&s, ith, &lo, &hi)) {
            /* false means nothing is left for anyone */
            for (int64_t i = 0; i < total; i++)
                if (hits[i] != 1)
                    fail_msg("total %lld nth %d: share %d stopped with unit %lld covered %d times",
                             (long long)total, nth, ith, (long long)i, hits[i]);
            if (order == 0)
                return;
            done[ith] = true;
            ndone++;
            continue;
        }
        assert_true(lo >= 0 && lo < hi && hi <= total);
        const int own = ith % parts;
        if (lo == own_next[own]) {                  /* from the front of its own part */
            assert_true(hi - lo <= min_units);
            own_next[own] = hi;
        }
        for (int64_t i = lo; i < hi; i++)
            if (++hits[i] != 1)
                fail_msg("total %lld nth %d min %lld order %d: unit %lld handed out twice",
                         (long long)total, nth, (long long)min_units, order, (long long)i);
    }
}

static void test_steal_exactly_once(void **state) {
    (void)state;
    static const int64_t totals[] = {0, 1, 2, 3, 7, 16, 31, 64, 100, 161, 1000, 4097};
    static const int nths[] = {1, 2, 3, 4, 5, 8, 33, 40};   /* 33, 40 > LF_STEAL_MAX */
    static int hits[4097];
    for (size_t t = 0; t < sizeof totals / sizeof totals[0]; t++)
        for (size_t n = 0; n < sizeof nths / sizeof nths[0]; n++)
            for (int64_t mu = 1; mu <= 9; mu += 4)
                for (int order = 0; order < 3; order++)
                    steal_drive(totals[t], nths[n], mu, order, hits);
}

/* A share whose part is done takes from the back of the fullest other
 * part, half of what is left, so a thread that never starts costs the
 * others a few chunks, not a wait. */
static void test_steal_takes_half_from_back(void **state) {
    (void)state;
    lf_steal s;
    lf_steal_init(&s, 100, 2, 4);   /* parts [0, 50) and [50, 100) */
    int64_t lo, hi;
    for (int i = 0; i < 13; i++)    /* share 0: its own part, 4 units at a time */
        assert_true(lf_steal_next(&s, 0, &lo, &hi));
    assert_int_equal(lo, 48);
    assert_int_equal(hi, 50);
    assert_true(lf_steal_next(&s, 0, &lo, &hi));   /* share 1 never came: steal */
    assert_int_equal(lo, 75);
    assert_int_equal(hi, 100);
    assert_true(lf_steal_next(&s, 1, &lo, &hi));   /* share 1 starts late: its front */
    assert_int_equal(lo, 50);
    assert_int_equal(hi, 54);
    assert_true(lf_steal_next(&s, 0, &lo, &hi));   /* [54, 75) left: the back 11 */
    assert_int_equal(lo, 64);
    assert_int_equal(hi, 75);
}

typedef struct steal_job {
    lf_steal s;
    _Atomic int *hits;
    _Atomic int dup;
    int64_t delay_ith;          /* this share spins before it starts */
} steal_job;

static void steal_fn(void *arg, int ith, int nth) {
    steal_job *j = arg;
    (void)nth;
    if (ith == j->delay_ith)
        for (volatile int k = 0; k < 20000; k++)
            ;
    int64_t lo, hi;
    while (lf_steal_next(&j->s, ith, &lo, &hi))
        for (int64_t i = lo; i < hi; i++)
            if (atomic_fetch_add(&j->hits[i], 1) != 0)
                atomic_fetch_add(&j->dup, 1);
}

/* The same from the pool's threads at once, one of them starting late. */
static void test_steal_in_pool(void **state) {
    (void)state;
    enum { MAXN = 3001 };
    _Atomic int *hits = calloc(MAXN, sizeof *hits);
    assert_non_null(hits);
    steal_job *j = aligned_alloc(64, (sizeof *j + 63) / 64 * 64);
    assert_non_null(j);
    for (int nth = 2; nth <= 4; nth++) {
        lf_pool *pool = lf_pool_create(nth, false);
        assert_non_null(pool);
        for (int r = 0; r < 300; r++) {
            const int64_t total = (r * 131) % MAXN;
            lf_steal_init(&j->s, total, nth, 1 + r % 5);
            j->hits = hits;
            atomic_store(&j->dup, 0);
            j->delay_ith = r % nth;
            lf_pool_run(pool, steal_fn, j);
            assert_int_equal(atomic_load(&j->dup), 0);
            for (int64_t i = 0; i < total; i++) {
                if (atomic_load(&hits[i]) != 1)
                    fail_msg("%d threads, run %d: unit %lld covered %d times", nth, r,
                             (long long)i, atomic_load(&hits[i]));
                atomic_store(&hits[i], 0);
            }
        }
        lf_pool_free(pool);
    }
    free(j);
    free(hits);
}

/* Many tiny jobs back to back: the caller often finishes its share before
 * a worker has seen the job and claims that worker's share; each share
 * must still run exactly once, and a worker arriving late must not run a
 * share of a job that is over or a newer job's share twice. */
static void test_pool_claim_race(void **state) {
    (void)state;
    for (int nth = 2; nth <= 4; nth++) {
        lf_pool *pool = lf_pool_create(nth, false);
        assert_non_null(pool);
        run_many(pool, 20000);
        lf_pool_free(pool);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_range),
        cmocka_unit_test(test_pool_many_jobs),
        cmocka_unit_test(test_pool_after_sleep),
        cmocka_unit_test(test_pool_scratch),
        cmocka_unit_test(test_pool_claim_race),
        cmocka_unit_test(test_steal_exactly_once),
        cmocka_unit_test(test_steal_takes_half_from_back),
        cmocka_unit_test(test_steal_in_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
