/*
 * Thread pool for the kernels: a fixed set of persistent workers that run
 * one job at a time, each job being fn(arg, ith, nth) once for every ith,
 * the caller running ith 0. The forward pass runs several jobs per layer, so
 * the hand-off must cost microseconds, not a syscall: workers spin on a
 * generation counter for a while after each job and only then sleep on a
 * condition variable; the caller likewise spins for completion before it
 * sleeps. Sleeping and waking use the Dekker pattern (store own flag,
 * then read the other side's) with sequentially consistent atomics, the
 * flag stores being read-modify-writes (a full fence on every target; a
 * plain release store followed by an acquire load lost wake-ups under
 * qemu-aarch64, whose translation does not order the two), so a
 * wake-up can never be lost.
 *
 * On a machine shared with other work a worker is often off its CPU when
 * a job is published, for a whole scheduler slice (milliseconds, where a
 * decode job lasts 50-500 us). So a worker's share is claimed, not
 * assigned: whoever claims share ith first for this job, the worker or the
 * caller once its own share is done, runs it. The caller thus never waits
 * for a thread that has not started, only for shares already under way;
 * jobs that let threads take over each other's work (lf_steal) leave a
 * late worker nothing to do at all.
 *
 * Invariants:
 *  1. gen only changes in lf_pool_run (and lf_pool_free), by the caller,
 *     after fn/arg are written; a worker reads fn/arg only after claiming
 *     a share of the generation it saw.
 *  2. Before job g is published every share's claim word holds g - 1;
 *     claiming is the one compare-exchange g - 1 -> g, so each share of a
 *     job runs exactly once and a stale claim (for an older g) fails.
 *  3. lf_pool_run returns only when every share of its job is claimed and
 *     every share claimed by a worker is done, so fn/arg are never
 *     rewritten while a worker still uses them.
 *  4. A thread sleeps only with its counter (nsleep / caller_sleeping) set
 *     under the mutex, and re-checks the condition after setting it.
 */
#include "kernels/internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ volatile("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

/* Spin iterations (of a pause, ~20-140 cycles depending on the core)
 * before sleeping: a fraction of a millisecond, far longer than the gap
 * between consecutive jobs of a forward pass, short enough that an idle
 * pool soon stops burning CPU.
 * Every LF_POOL_YIELD_EVERY iterations a spinner yields its CPU, so when
 * threads outnumber free cores (a loaded machine, more threads than CPUs)
 * the thread being waited for gets to run instead of losing a whole time
 * slice to the spinner. */
#define LF_POOL_SPIN 20000
#define LF_POOL_YIELD_EVERY 256

static inline void spin_pause(int k) {
    if ((k + 1) % LF_POOL_YIELD_EVERY == 0)
        sched_yield();
    else
        cpu_relax();
}

typedef struct lf_worker {
    struct lf_pool *pool;
    int ith;
    int cpu;                  /* CPU to pin to, or -1 */
    pthread_t thread;
    void *scratch;            /* lf_pool_scratch, owned by this worker */
    size_t scratch_size;
    /* the last job generation whose share ith was claimed (invariant 2),
     * and the last one whose share this worker finished; own cache lines,
     * written once per job by the worker and read by the spinning caller */
    _Alignas(64) atomic_uint claim;
    atomic_uint done;
} lf_worker;

struct lf_pool {
    int n;                    /* threads including the caller */
    lf_worker *workers;       /* n - 1 entries */
    lf_pool_fn fn;
    void *arg;
    _Alignas(64) atomic_uint gen;
    _Alignas(64) atomic_int nsleep;
    atomic_int caller_sleeping;
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    int spin;                 /* spin iterations before sleeping */
};

void lf_split_range(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    if (nth < 1)
        nth = 1;
    int64_t base = n / nth, rem = n % nth;
    *lo = ith * base + (ith < rem ? ith : rem);
    *hi = *lo + base + (ith < rem ? 1 : 0);
}

/* A part's [lo, hi) packed in one word, so that its owner (taking from the
 * front) and a thief (taking from the back) agree through one
 * compare-exchange. */
static inline uint64_t part_pack(int64_t lo, int64_t hi) {
    return (uint64_t)lo | (uint64_t)hi << 32;
}
static inline int64_t part_lo(uint64_t r) { return (int64_t)(r & 0xffffffffu); }
static inline int64_t part_hi(uint64_t r) { return (int64_t)(r >> 32); }

void lf_steal_init(lf_steal *s, int64_t total, int nth, int64_t min_units) {
    s->parts = nth < 1 ? 1 : nth > LF_STEAL_MAX ? LF_STEAL_MAX : nth;
    s->min_units = min_units < 1 ? 1 : min_units;
    for (int i = 0; i < s->parts; i++) {
        int64_t lo, hi;
        lf_split_range(total, i, s->parts, &lo, &hi);
        atomic_init(&s->part[i].r, part_pack(lo, hi));
    }
}

/* Takes up to want units from the front (own part) or the back (a
 * victim's) of part p; false when it is empty. */
static bool part_take(lf_steal *s, int p, bool front, int64_t want, int64_t *lo, int64_t *hi) {
    _Atomic uint64_t *r = &s->part[p].r;
    uint64_t cur = atomic_load_explicit(r, memory_order_relaxed);
    for (;;) {
        const int64_t a = part_lo(cur), b = part_hi(cur);
        if (a >= b)
            return false;
        int64_t n = want;
        if (!front) {
            n = (b - a + 1) / 2;   /* half of what is left, at least a chunk */
            n = n < s->min_units ? s->min_units : n;
        }
        n = n < b - a ? n : b - a;
        const uint64_t next = front ? part_pack(a + n, b) : part_pack(a, b - n);
        if (atomic_compare_exchange_weak_explicit(r, &cur, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *lo = front ? a : b - n;
            *hi = front ? a + n : b;
            return true;
        }
    }
}

bool lf_steal_next(lf_steal *s, int ith, int64_t *lo, int64_t *hi) {
    const int own = ith % s->parts;
    if (part_take(s, own, true, s->min_units, lo, hi))
        return true;
    /* own part done: take from the back of the part with most left */
    for (;;) {
        int victim = -1;
        int64_t most = 0;
        for (int i = 0; i < s->parts; i++) {
            const uint64_t r = atomic_load_explicit(&s->part[i].r, memory_order_relaxed);
            if (part_hi(r) - part_lo(r) > most) {
                most = part_hi(r) - part_lo(r);
                victim = i;
            }
        }
        if (victim < 0)
            return false;
        if (part_take(s, victim, false, 0, lo, hi))
            return true;
    }
}

static void pin_self(int cpu) {
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /* Failure (restricted container) only costs performance. */
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* Claims share ith of job g: true for the one thread that moves its claim
 * word from g - 1 to g (invariant 2). */
static bool claim_share(lf_worker *w, unsigned g) {
    unsigned expect = g - 1;
    return atomic_compare_exchange_strong(&w->claim, &expect, g);
}

static void *worker_main(void *p) {
    lf_worker *w = p;
    lf_pool *pool = w->pool;
    pin_self(w->cpu);
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&pool->gen, memory_order_acquire);
        for (int k = 0; g == seen && k < pool->spin; k++) {
            spin_pause(k);
            g = atomic_load_explicit(&pool->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&pool->mu);
            atomic_fetch_add(&pool->nsleep, 1);
            while ((g = atomic_load(&pool->gen)) == seen)
                pthread_cond_wait(&pool->cv_work, &pool->mu);
            atomic_fetch_sub(&pool->nsleep, 1);
            pthread_mutex_unlock(&pool->mu);
        }
        seen = g;
        if (atomic_load_explicit(&pool->stop, memory_order_acquire))
            break;
        if (!claim_share(w, g))
            continue;                     /* late: the caller ran this share */
        pool->fn(pool->arg, w->ith, pool->n);
        atomic_exchange(&w->done, g);     /* RMW: see the Dekker note above */
        if (atomic_load(&pool->caller_sleeping)) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->cv_done);
            pthread_mutex_unlock(&pool->mu);
        }
    }
    return NULL;
}

/* The i-th CPU (wrapping) of the calling thread's affinity mask, or -1. */
static int nth_allowed_cpu(const cpu_set_t *mask, int i) {
    int count = CPU_COUNT(mask);
    if (count <= 0)
        return -1;
    i %= count;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, mask) && i-- == 0)
            return c;
    return -1;
}

lf_pool *lf_pool_create(int nthreads, bool pin) {
    if (nthreads < 1)
        return NULL;
    lf_pool *pool = aligned_alloc(64, (sizeof *pool + 63) / 64 * 64);
    if (!pool)
        return NULL;
    memset(pool, 0, sizeof *pool);
    pool->n = nthreads;
    atomic_init(&pool->gen, 0);
    atomic_init(&pool->nsleep, 0);
    atomic_init(&pool->caller_sleeping, 0);
    atomic_init(&pool->stop, false);
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv_work, NULL);
    pthread_cond_init(&pool->cv_done, NULL);

    cpu_set_t mask;
    bool got_mask = pthread_getaffinity_np(pthread_self(), sizeof mask, &mask) == 0;
    bool have_mask = pin && got_mask;
    /* More threads than CPUs: a spinning thread would only hold the CPU
     * that the thread it waits for needs, so hand off by sleeping alone. */
    pool->spin = got_mask && nthreads > CPU_COUNT(&mask) ? 0 : LF_POOL_SPIN;
    /* The caller (thread 0) is left unpinned: with workers bound to CPUs
     * 1..n-1 of the mask the scheduler keeps it on the CPU left over. Were
     * it pinned, a second pool created while this one lives (the bench
     * interleaves thread counts) would read the narrowed mask and put all
     * its workers on the caller's one CPU. */
    if (nthreads > 1) {
        const size_t wbytes = ((size_t)nthreads - 1) * sizeof *pool->workers;
        pool->workers = aligned_alloc(64, wbytes);   /* sizeof: a multiple of 64 */
        if (!pool->workers) {
            pool->n = 1;
            lf_pool_free(pool);
            return NULL;
        }
        memset(pool->workers, 0, wbytes);
        for (int i = 0; i < nthreads - 1; i++) {
            atomic_init(&pool->workers[i].claim, 0);
            atomic_init(&pool->workers[i].done, 0);
        }
    }
    for (int i = 1; i < nthreads; i++) {
        lf_worker *w = &pool->workers[i - 1];
        w->pool = pool;
        w->ith = i;
        w->cpu = have_mask ? nth_allowed_cpu(&mask, i) : -1;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            pool->n = i;   /* only threads 1..i-1 exist */
            lf_pool_free(pool);
            return NULL;
        }
    }
    return pool;
}

void lf_pool_free(lf_pool *pool) {
    if (!pool)
        return;
    atomic_store(&pool->stop, true);
    atomic_fetch_add(&pool->gen, 1);
    pthread_mutex_lock(&pool->mu);
    pthread_cond_broadcast(&pool->cv_work);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++) {
        pthread_join(pool->workers[i - 1].thread, NULL);
        free(pool->workers[i - 1].scratch);
    }
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv_work);
    pthread_cond_destroy(&pool->cv_done);
    free(pool->workers);
    free(pool);
}

void *lf_pool_scratch(lf_pool *pool, int ith, size_t size) {
    if (!pool || ith <= 0 || ith >= pool->n)
        return NULL;
    lf_worker *w = &pool->workers[ith - 1];
    if (w->scratch_size < size) {
        size_t sz = (size + 63) / 64 * 64;
        void *p = aligned_alloc(64, sz);
        if (!p)
            return NULL;
        free(w->scratch);
        w->scratch = p;
        w->scratch_size = sz;
    }
    return w->scratch;
}

int lf_pool_size(const lf_pool *pool) { return pool ? pool->n : 1; }

/* Waits until worker w has finished its share of job g. */
static void wait_done(lf_pool *pool, lf_worker *w, unsigned g) {
    for (int k = 0; k < pool->spin; k++) {
        if (atomic_load_explicit(&w->done, memory_order_acquire) == g)
            return;
        spin_pause(k);
    }
    pthread_mutex_lock(&pool->mu);
    atomic_exchange(&pool->caller_sleeping, 1);
    while (atomic_load(&w->done) != g)
        pthread_cond_wait(&pool->cv_done, &pool->mu);
    atomic_store(&pool->caller_sleeping, 0);
    pthread_mutex_unlock(&pool->mu);
}

void lf_pool_run(lf_pool *pool, lf_pool_fn fn, void *arg) {
    if (!pool || pool->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    const unsigned g = atomic_fetch_add(&pool->gen, 1) + 1;   /* publishes fn, arg */
    if (atomic_load(&pool->nsleep) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->cv_work);
        pthread_mutex_unlock(&pool->mu);
    }
    fn(arg, 0, pool->n);
    /* Shares no worker has started yet run here; only then wait for the
     * ones under way, so a worker that started late but before the caller
     * got to its share costs no more than that share. */
    for (int i = 1; i < pool->n; i++) {
        lf_worker *w = &pool->workers[i - 1];
        if (claim_share(w, g)) {
            fn(arg, i, pool->n);
            atomic_store_explicit(&w->done, g, memory_order_relaxed);
        }
    }
    for (int i = 1; i < pool->n; i++)
        wait_done(pool, &pool->workers[i - 1], g);
}
